"""Worlds whose layout changes from task to task (appendix notebook 10).

In the series' world the door is always in the same place, so a model can memorise it. Here every task
draws its own door (centre and width) and, optionally, a second wall with a door of its own; the layout
is part of what the agent observes (``Layouts.features``), so a world model must *read* where the door is.

Everything is batched over tasks with per-task geometry: ``LayoutEnv.step`` moves each agent with the
point world's rule (a straight move that stops at the first face it touches) against its own task's walls;
``segment_blocked`` and ``shortest_path`` are the per-task versions of ``env.straight_line_blocked`` and
``policies.shortest_path`` (a visibility graph over the door corners, solved by batched Floyd-Warshall);
``sample_layout_tasks`` keeps only tasks the oracle solves within the step budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .env import STATE_DIM, TaskSet, WallConfig, finish_move
from .policies import CORNER_INSET, _walk_polyline, visibility_path

_STREAM = 7  # the layouts' own seed stream (numpy SeedSequence key), apart from the task splits'
_SPLIT_KEYS = {"train": 0, "tune": 1, "eval": 2, "test": 3}


@dataclass(frozen=True)
class LayoutConfig:
    """How layouts are drawn (arena units). The first wall stays where ``WallConfig`` puts it."""

    door_center: tuple = (-3.0, 3.0)  # uniform range of each door's centre (y)
    door_width: tuple = (1.0, 2.0)  # uniform range of each door's width
    second_wall_x: float | None = None  # x of a second vertical wall (thickness as the first); None: one wall

    def __post_init__(self):
        for name in ("door_center", "door_width"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"{name} must be a finite range (low, high) with low <= high; got {(lo, hi)}")
        if self.door_width[0] <= 0:
            raise ValueError(f"door widths must be > 0; got the range {self.door_width}")


@dataclass
class Layouts:
    """Per-task doors: ``door_low`` / ``door_high`` (B, W) for each of W walls at ``wall_x`` (W,)."""

    wall_x: torch.Tensor  # (W,)
    door_low: torch.Tensor  # (B, W)
    door_high: torch.Tensor  # (B, W)
    thickness: float

    def __len__(self) -> int:
        return self.door_low.shape[0]

    def __getitem__(self, idx) -> "Layouts":
        return Layouts(self.wall_x, self.door_low[idx], self.door_high[idx], self.thickness)

    def features(self) -> torch.Tensor:
        """(B, 2W): each wall's door centre and width, what the agent observes of its layout."""
        centre, width = (self.door_low + self.door_high) / 2, self.door_high - self.door_low
        return torch.stack([centre, width], -1).flatten(1)

    def boxes(self, half_size: float) -> torch.Tensor:
        """(B, 2W, 4) solid pieces [x0, x1, y0, y1] (below and above each door), extended past the arena
        border like ``WallConfig.collision_boxes`` so that the border is solid where a wall meets it."""
        B, W = self.door_low.shape
        x0 = (self.wall_x - self.thickness / 2).expand(B, W)
        x1 = (self.wall_x + self.thickness / 2).expand(B, W)
        below = torch.stack([x0, x1, torch.full_like(x0, -half_size - 1), self.door_low], -1)
        above = torch.stack([x0, x1, self.door_high, torch.full_like(x0, half_size + 1)], -1)
        return torch.cat([below, above], 1)

    def corners(self, inset: float | None = None) -> torch.Tensor:
        """(B, 4W, 2) the door corners, inset into each opening by ``inset`` (default ``CORNER_INSET``): the
        oracle's waypoints. ``inset=None`` hugs the corners; a large inset is clamped to the door's centre, so
        ``inset=inf`` gives each face's door centre (twice): the expert's waypoints."""
        out = []
        for w in range(self.door_low.shape[1]):
            half = (self.door_high[:, w] - self.door_low[:, w]) / 2
            e = half.clamp(max=CORNER_INSET if inset is None else inset)
            for x in (self.wall_x[w] - self.thickness / 2, self.wall_x[w] + self.thickness / 2):
                for y in (self.door_low[:, w] + e, self.door_high[:, w] - e):
                    out.append(torch.stack([torch.full_like(y, float(x)), y], -1))
        return torch.stack(out, 1)


def sample_layouts(n: int, seed: int, config: LayoutConfig, wall: WallConfig, split: str = "eval") -> Layouts:
    """``n`` layouts drawn uniformly from ``config`` (doors kept at least 0.5 inside the arena), from a seed
    stream of their own per split."""
    if split not in _SPLIT_KEYS:
        raise ValueError(f"split must be one of {sorted(_SPLIT_KEYS)}; got {split!r}")
    rng = np.random.default_rng(np.random.SeedSequence([_STREAM, _SPLIT_KEYS[split], int(seed)]))
    xs = [wall.wall_x] + ([config.second_wall_x] if config.second_wall_x is not None else [])
    h = wall.half_size
    width = rng.uniform(*config.door_width, size=(n, len(xs)))
    centre = np.clip(rng.uniform(*config.door_center, size=(n, len(xs))), -h + 0.5 + width / 2, h - 0.5 - width / 2)
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return Layouts(f(xs), f(centre - width / 2), f(centre + width / 2), wall.wall_thickness)


# --------------------------------------------------------------------------------------------
# Geometry with per-task walls
# --------------------------------------------------------------------------------------------
def _entry(p, d, boxes):
    """For segments p -> p + d (B, 2) and open boxes (B, K, 4): the first entry time in [0, 1] (2 if none),
    its axis (0 x-face, 1 y-face, -1 none) and the face's coordinate, per segment."""
    lo, hi = boxes[..., [0, 2]], boxes[..., [1, 3]]  # (B, K, 2)
    p, d = p[:, None], d[:, None]
    moving = d != 0
    safe_d = torch.where(moving, d, torch.ones_like(d))
    t1, t2 = (lo - p) / safe_d, (hi - p) / safe_d
    inside = (p > lo) & (p < hi)
    t_min = torch.where(moving, torch.minimum(t1, t2), torch.where(inside, -math.inf, math.inf))
    t_max = torch.where(moving, torch.maximum(t1, t2), torch.where(inside, math.inf, -math.inf))
    t_enter, axis = t_min.max(-1)  # (B, K)
    t_exit = t_max.min(-1).values
    hits = (t_enter < t_exit) & (t_enter < 1) & (t_exit > 0)
    t_enter = torch.where(hits, t_enter.clamp(min=0.0), torch.full_like(t_enter, 2.0))
    d_axis = d.expand_as(lo).gather(-1, axis[..., None])[..., 0]
    face = torch.where(d_axis > 0, lo.gather(-1, axis[..., None])[..., 0], hi.gather(-1, axis[..., None])[..., 0])
    first = t_enter.argmin(-1, keepdim=True)  # the earliest box per segment
    return (t_enter.gather(-1, first)[:, 0], torch.where(hits, axis, -1).gather(-1, first)[:, 0],
            face.gather(-1, first)[:, 0])


def segment_blocked(a: torch.Tensor, b: torch.Tensor, layouts: Layouts, half_size: float) -> torch.Tensor:
    """(B,) bool: the segment a -> b passes through a solid piece of its task's walls."""
    t, _, _ = _entry(a, b - a, layouts.boxes(half_size).to(a))
    return t <= 1


def in_walls(states: torch.Tensor, layouts: Layouts, half_size: float) -> torch.Tensor:
    """(B,) bool: strictly inside a solid piece of the task's walls."""
    boxes = layouts.boxes(half_size).to(states)
    x, y = states[:, None, 0], states[:, None, 1]
    return ((x > boxes[..., 0]) & (x < boxes[..., 1]) & (y > boxes[..., 2]) & (y < boxes[..., 3])).any(-1)


class LayoutEnv:
    """The point world with per-task walls: ``step(states (B, 2), actions (B, 2), layouts)``."""

    def __init__(self, wall: WallConfig | None = None):
        self.wall = wall or WallConfig()

    def clip_actions(self, actions):
        m = self.wall.max_step
        return actions.clamp(-m, m)

    def is_free(self, states, layouts: Layouts):
        h = self.wall.half_size
        return (states.abs() <= h).all(-1) & ~in_walls(states, layouts, h)

    @torch.no_grad()
    def step(self, states: torch.Tensor, actions: torch.Tensor, layouts: Layouts) -> torch.Tensor:
        if states.ndim != 2 or states.shape[-1] != STATE_DIM or actions.shape != states.shape or len(layouts) != len(states):
            raise ValueError(f"step needs states (B, {STATE_DIM}), actions (B, {STATE_DIM}) and B layouts; got "
                             f"{tuple(states.shape)}, {tuple(actions.shape)} and {len(layouts)}")
        if not self.is_free(states, layouts).all():
            raise ValueError(f"{int((~self.is_free(states, layouts)).sum())} state(s) lie inside their task's walls "
                             "or outside the arena")
        h = self.wall.half_size
        p, d = states, self.clip_actions(actions.to(states.dtype))
        t_hit, hit_axis, hit_value = _entry(p, d, layouts.boxes(h).to(p))
        t_hit = torch.where(t_hit > 1, torch.ones_like(t_hit), t_hit)
        hit_axis = torch.where(t_hit >= 1, torch.full_like(hit_axis, -1), hit_axis)
        boxes = layouts.boxes(h).to(p)
        return finish_move(p, d, h, t_hit, hit_axis, hit_value, [boxes[:, k].unbind(-1) for k in range(boxes.shape[1])])


def shortest_path(states: torch.Tensor, goals: torch.Tensor, layouts: Layouts, half_size: float,
                  inset: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task shortest collision-free path through the door corners (``Layouts.corners(inset)``):
    (waypoints (B, 4W + 1, 2) after the state, padded with the goal; length (B,), inf if the goal cannot be
    reached)."""
    corners = layouts.corners(inset).to(states)
    B, C, _ = corners.shape
    nodes = torch.cat([states[:, None], corners, goals[:, None]], 1)  # (B, n, 2)
    n = nodes.shape[1]
    a = nodes[:, :, None].expand(B, n, n, 2).reshape(-1, 2)
    b = nodes[:, None, :].expand(B, n, n, 2).reshape(-1, 2)
    rep = Layouts(layouts.wall_x, layouts.door_low.repeat_interleave(n * n, 0),
                  layouts.door_high.repeat_interleave(n * n, 0), layouts.thickness)
    return visibility_path(nodes, segment_blocked(a, b, rep, half_size).reshape(B, n, n))


def oracle_policy(layouts: Layouts, wall: WallConfig):
    """Walk the per-task shortest path at full speed, re-planned every step: ``policy(states, goals)``."""
    def policy(states, goals):
        waypoints, _ = shortest_path(states, goals, layouts, wall.half_size)
        return _walk_polyline(states, waypoints, wall, blocked=lambda a, b: segment_blocked(a, b, layouts, wall.half_size))

    return policy


def sample_layout_tasks(n: int, seed: int, split: str, config: LayoutConfig, wall: WallConfig
                        ) -> tuple[TaskSet, Layouts]:
    """``n`` tasks with their layouts: a start and a goal in different regions between the walls (and the
    border), at least ``wall.start_margin`` from every wall, kept only if the oracle's path fits the step
    budget (its L-inf length at most ``max_steps x max_step``). Draws 4n candidates per round."""
    rng = np.random.default_rng(np.random.SeedSequence([_STREAM + 1, _SPLIT_KEYS.get(split, 9), int(seed)]))
    h, m = wall.half_size - 0.25, wall.start_margin
    xs = sorted([wall.wall_x] + ([config.second_wall_x] if config.second_wall_x is not None else []))
    edges = [-h] + [e for x in xs for e in (x - wall.wall_thickness / 2 - m, x + wall.wall_thickness / 2 + m)] + [h]
    regions = [(edges[2 * i], edges[2 * i + 1]) for i in range(len(xs) + 1)]
    keep_s, keep_g, keep_lo, keep_hi = [], [], [], []
    round_ = 0
    while sum(len(s) for s in keep_s) < n:
        k = 4 * n
        lay = sample_layouts(k, seed * 1000 + round_, config, wall, split)
        r_s = rng.integers(0, len(regions), size=k)
        r_g = (r_s + rng.integers(1, len(regions), size=k)) % len(regions)
        pick = lambda r: np.stack([rng.uniform([regions[i][0] for i in r], [regions[i][1] for i in r]),  # noqa: E731
                                   rng.uniform(-h, h, size=k)], -1)
        s, g = torch.as_tensor(pick(r_s), dtype=torch.float32), torch.as_tensor(pick(r_g), dtype=torch.float32)
        waypoints, _ = shortest_path(s, g, lay, wall.half_size)
        legs = torch.cat([s[:, None], waypoints], 1).diff(dim=1).abs().amax(-1).sum(-1)
        ok = torch.isfinite(legs) & (legs <= wall.max_steps * wall.max_step)
        keep_s.append(s[ok]), keep_g.append(g[ok]), keep_lo.append(lay.door_low[ok]), keep_hi.append(lay.door_high[ok])
        round_ += 1
    tasks = TaskSet(torch.cat(keep_s)[:n], torch.cat(keep_g)[:n], split, int(seed))
    return tasks, Layouts(lay.wall_x, torch.cat(keep_lo)[:n], torch.cat(keep_hi)[:n], wall.wall_thickness)
