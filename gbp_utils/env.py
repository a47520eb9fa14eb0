"""The wall-door world: a 2-D point agent in a square arena split by a wall with one door.

Everything is batched torch: ``step(states, actions)`` moves B agents at once, on any device.

Shape letters used across the package: B tasks/batch, H horizon, S state dim (=2), A action dim (=2).

Physics (exact, no tunnelling):
  * an action is a displacement ``(dx, dy)``, clipped per component to ``[-max_step, max_step]``;
  * a move that would enter the wall (outside the door) or leave the arena is cut at the first
    contact point: the agent stops *on* the wall face / arena border and never goes inside;
  * there is no sliding: the part of the move after the contact is lost. An agent resting on the
    wall that pushes diagonally into it makes no progress at all, which is exactly how planners
    get stuck.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

STATE_DIM = 2
ACTION_DIM = 2

_SPLITS = {"train": 1, "tune": 2, "eval": 3, "test": 4}  # disjoint seed streams, see sample_tasks


@dataclass(frozen=True)
class WallConfig:
    """Geometry and episode rules of the wall-door world (all lengths in arena units)."""

    half_size: float = 5.0  # arena is [-half_size, half_size]^2
    wall_x: float = 0.0  # centre of the vertical wall
    wall_thickness: float = 0.4  # wall spans x in [wall_x - t/2, wall_x + t/2]
    door_center: float = 0.0  # y coordinate of the door centre
    door_width: float = 1.5  # door spans y in [door_center - w/2, door_center + w/2]
    max_step: float = 0.5  # |dx|, |dy| <= max_step per step (actions are clipped to this box)
    max_steps: int = 30  # step budget of an episode
    success_radius: float = 0.5  # success: final distance to the goal <= this
    start_margin: float = 0.5  # tasks keep this far from the wall faces and 0.25 from the border

    def __post_init__(self):
        problems = [f"{f.name} must be a finite number (got {getattr(self, f.name)})"
                    for f in dataclasses.fields(self) if not math.isfinite(getattr(self, f.name))]
        if problems:
            raise ValueError("Invalid WallConfig: " + "; ".join(problems))
        if self.half_size <= 0:
            problems.append(f"half_size must be > 0 (got {self.half_size})")
        if self.wall_thickness <= 0:
            problems.append(f"wall_thickness must be > 0 (got {self.wall_thickness})")
        if not -self.half_size < self.wall_left < self.wall_right < self.half_size:
            problems.append("the wall must lie strictly inside the arena; move wall_x or thin the wall")
        if self.door_width <= 0:
            problems.append(f"door_width must be > 0 (got {self.door_width})")
        if not -self.half_size < self.door_low < self.door_high < self.half_size:
            problems.append("the door must lie strictly inside the arena; move door_center or narrow it")
        if self.max_step <= 0 or self.max_steps < 1 or self.success_radius <= 0:
            problems.append("max_step, max_steps and success_radius must all be positive")
        if self.wall_left - self.start_margin <= -self.half_size + 0.25 or (
            self.wall_right + self.start_margin >= self.half_size - 0.25
        ):
            problems.append("start_margin leaves no room to sample tasks on one side of the wall")
        if problems:
            raise ValueError("Invalid WallConfig: " + "; ".join(problems))

    # Derived geometry (properties, never stored twice).
    @property
    def wall_left(self) -> float:
        return self.wall_x - self.wall_thickness / 2

    @property
    def wall_right(self) -> float:
        return self.wall_x + self.wall_thickness / 2

    @property
    def door_low(self) -> float:
        return self.door_center - self.door_width / 2

    @property
    def door_high(self) -> float:
        return self.door_center + self.door_width / 2

    def wall_boxes(self) -> list[tuple[float, float, float, float]]:
        """The two solid wall pieces as (x_lo, x_hi, y_lo, y_hi): below and above the door."""
        h = self.half_size
        return [
            (self.wall_left, self.wall_right, -h, self.door_low),
            (self.wall_left, self.wall_right, self.door_high, h),
        ]

    def collision_boxes(self) -> list[tuple[float, float, float, float]]:
        """``wall_boxes`` extended past the arena border, so that the border line itself is solid
        where the wall meets it (otherwise an agent sliding along the border would pass the wall)."""
        h = self.half_size
        return [(x0, x1, y0 - 1 if y0 <= -h else y0, y1 + 1 if y1 >= h else y1)
                for x0, x1, y0, y1 in self.wall_boxes()]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Input checks shared by every public entry point
# --------------------------------------------------------------------------------------------
def _check_batch(name: str, x: torch.Tensor, last_dim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, {last_dim}); got {type(x).__name__}")
    if x.ndim != 2 or x.shape[-1] != last_dim:
        raise ValueError(
            f"{name} must have shape (B, {last_dim}); got {tuple(x.shape)}. "
            f"Add a batch dimension with {name}[None] for a single agent."
        )
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(-1).sum())
        raise ValueError(f"{name} contains NaN or inf in {bad} of {x.shape[0]} rows; pass finite values")


def _as_tensor(x, device=None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if device is None else x.to(device)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


# --------------------------------------------------------------------------------------------
# Dynamics
# --------------------------------------------------------------------------------------------
class WallEnv:
    """Batched, device-agnostic dynamics of the wall-door world.

    ``env.step(states, actions)`` with states (B, S) and actions (B, A) returns next states (B, S).
    It never tracks gradients (the real world is not differentiable for the planner).
    """

    def __init__(self, wall: WallConfig | None = None):
        self.wall = wall or WallConfig()

    # -- queries -------------------------------------------------------------------------
    def in_wall(self, states: torch.Tensor) -> torch.Tensor:
        """(B,) bool: strictly inside a solid wall piece (the faces themselves are free space)."""
        x, y = states[..., 0], states[..., 1]
        inside = torch.zeros_like(x, dtype=torch.bool)
        for x0, x1, y0, y1 in self.wall.collision_boxes():
            inside |= (x > x0) & (x < x1) & (y > y0) & (y < y1)
        return inside

    def in_arena(self, states: torch.Tensor) -> torch.Tensor:
        h = self.wall.half_size
        return (states.abs() <= h).all(-1)

    def is_free(self, states: torch.Tensor) -> torch.Tensor:
        return self.in_arena(states) & ~self.in_wall(states)

    def side(self, states: torch.Tensor) -> torch.Tensor:
        """(B,) int: -1 left of the wall, +1 right of it, 0 inside the door passage."""
        x = states[..., 0]
        return torch.where(
            x <= self.wall.wall_left, -1, torch.where(x >= self.wall.wall_right, 1, 0)
        )

    def clip_actions(self, actions: torch.Tensor) -> torch.Tensor:
        m = self.wall.max_step
        return actions.clamp(-m, m)

    # -- the step ------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Move every agent by its (clipped) action, stopping at the first wall or border contact.

        Args:
            states: (B, S) current positions, each inside the arena and not inside the wall.
            actions: (B, A) displacements; clipped to [-max_step, max_step] per component.
        Returns:
            next_states: (B, S).
        """
        _check_batch("states", states, STATE_DIM)
        _check_batch("actions", actions, ACTION_DIM)
        if states.shape[0] != actions.shape[0]:
            raise ValueError(
                f"states and actions must have the same batch size; got {states.shape[0]} and {actions.shape[0]}"
            )
        if not self.is_free(states).all():
            bad = int((~self.is_free(states)).sum())
            raise ValueError(
                f"{bad} state(s) lie inside the wall or outside the arena; start agents in free space "
                "(see WallEnv.is_free)"
            )
        return self._step(states, self.clip_actions(actions.to(states.dtype)))

    @torch.no_grad()
    def rollout(self, starts: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Execute action sequences open-loop: starts (B, S), actions (B, H, A) -> states (B, H+1, S).
        The real-world twin of ``world_model.rollout``."""
        if not isinstance(actions, torch.Tensor) or actions.ndim != 3:
            raise ValueError(f"actions must have shape (B, H, {ACTION_DIM}); got "
                             f"{tuple(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__}")
        if actions.shape[1] == 0:
            _check_batch("states", starts, STATE_DIM)
            return starts[:, None].clone()
        # Check every action once; the first step checks the starts, and every later state comes out
        # of _step, free by construction, so the later steps skip step()'s checks (same states).
        _check_batch("actions", actions.reshape(-1, actions.shape[-1]), ACTION_DIM)
        states = [starts, self.step(starts, actions[:, 0])]
        for t in range(1, actions.shape[1]):
            states.append(self._step(states[-1], self.clip_actions(actions[:, t].to(starts.dtype))))
        return torch.stack(states, 1)

    def _step(self, p: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        wall = self.wall
        # 1) first contact with a solid wall piece: slab test against each open box.
        t_hit = torch.ones_like(p[:, 0])  # fraction of the move that is executed
        hit_axis = torch.full_like(p[:, 0], -1, dtype=torch.long)  # 0: x-face, 1: y-face, -1: none
        hit_value = torch.zeros_like(p[:, 0])  # coordinate of the face that was hit
        moving = d != 0
        safe_d = torch.where(moving, d, torch.ones_like(d))
        for lo, hi in _box_bounds(wall, p.dtype, p.device):  # in box order: a later box wins only if strictly closer
            t_enter, axis, face = _entry_time(p, d, lo, hi, moving, safe_d)
            closer = t_enter < t_hit
            t_hit = torch.where(closer, t_enter, t_hit)
            hit_axis = torch.where(closer, axis, hit_axis)
            hit_value = torch.where(closer, face, hit_value)
        # 2) first contact with the arena border, 3) the move, with contacts exactly on their faces
        return finish_move(p, d, wall.half_size, t_hit, hit_axis, hit_value, wall.collision_boxes())


def finish_move(p: torch.Tensor, d: torch.Tensor, h: float, t_hit, hit_axis, hit_value, boxes) -> torch.Tensor:
    """The end of a swept move p -> p + d (B, S) given the first wall contact (t_hit in [0, 1], its axis, -1
    for none, and its face coordinate, all (B,)): the arena border as a last obstacle, then the move, with
    every contact exactly on its face. ``boxes``: (x0, x1, y0, y1) per solid piece, numbers or (B,) tensors
    (per-task walls, ``layouts``)."""
    # the arena border (the arena is convex: an exit time per axis)
    for axis in range(2):
        da = d[:, axis]
        bound = torch.where(da > 0, torch.full_like(da, h), torch.full_like(da, -h))
        t_exit = torch.where(da != 0, (bound - p[:, axis]) / da.where(da != 0, torch.ones_like(da)), 2.0)
        closer = t_exit < t_hit
        t_hit = torch.where(closer, t_exit.clamp(min=0.0), t_hit)
        hit_axis = torch.where(closer, axis, hit_axis)
        hit_value = torch.where(closer, bound, hit_value)
    nxt = p + t_hit[:, None] * d
    # Trap: rounding in p + t*d can land a hair inside the wall; put the contact coordinate
    # exactly on the face so the agent is never inside.
    # (Rows with nothing to correct are left as they are: the checks below skip the corrections when no row
    # needs them -- the usual case, and what makes a step of one agent cheap -- with identical results.)
    for axis in range(2):
        on_face = hit_axis == axis
        if on_face.any():
            nxt[:, axis] = torch.where(on_face, hit_value, nxt[:, axis])
    # A move that ends exactly on a face (t = 1) is not a hit, yet p + d may round inside.
    # Put such points back on the face of the box they came from.
    for x0, x1, y0, y1 in boxes:
        x, y = nxt[:, 0], nxt[:, 1]
        inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
        if not inside.any():
            continue
        nxt[:, 0] = torch.where(inside & (p[:, 0] <= x0), x0, torch.where(inside & (p[:, 0] >= x1), x1, x))
        from_below_or_above = inside & (p[:, 0] > x0) & (p[:, 0] < x1)
        nxt[:, 1] = torch.where(from_below_or_above, torch.where(p[:, 1] <= y0, y0, y1), y)
    return nxt.clamp(-h, h)


@functools.lru_cache(maxsize=16)
def _box_bounds(wall: WallConfig, dtype: torch.dtype, device: torch.device) -> tuple:
    """Each collision box's lower and upper corner as tensors, ((x0, y0), (x1, y1)), made once per
    wall, dtype and device instead of at every step."""
    return tuple((torch.tensor([b[0], b[2]], dtype=dtype, device=device),
                  torch.tensor([b[1], b[3]], dtype=dtype, device=device)) for b in wall.collision_boxes())


def _entry_time(p: torch.Tensor, d: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, moving: torch.Tensor,
                safe_d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Time t in [0, 1] at which p + t d first enters the *open* box [lo, hi] (2 if never), its axis and
    face; ``moving`` = d != 0 and ``safe_d`` = d with 1 where it is 0 (shared by every box)."""
    t1 = (lo - p) / safe_d
    t2 = (hi - p) / safe_d
    t_min = torch.minimum(t1, t2)
    t_max = torch.maximum(t1, t2)
    # A coordinate that does not move is inside the slab for all t, or never (skipped when every one moves).
    if not moving.all():
        inside_slab = (p > lo) & (p < hi)
        t_min = torch.where(moving, t_min, torch.where(inside_slab, -math.inf, math.inf))
        t_max = torch.where(moving, t_max, torch.where(inside_slab, math.inf, -math.inf))
    t_enter, axis = t_min.max(-1)
    t_exit = t_max.min(-1).values
    hits = (t_enter < t_exit) & (t_enter < 1) & (t_exit > 0)
    t_enter = torch.where(hits, t_enter.clamp(min=0.0), torch.full_like(t_enter, 2.0))
    # The face is lo when moving in +direction along the entry axis, hi otherwise.
    d_axis = d.gather(1, axis[:, None])[:, 0]
    face = torch.where(d_axis > 0, lo[axis], hi[axis])
    return t_enter, torch.where(hits, axis, -1), face


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskSet:
    """A batch of start/goal pairs. ``starts`` and ``goals`` are (B, S) float32 tensors."""

    starts: torch.Tensor
    goals: torch.Tensor
    split: str
    seed: int

    def __len__(self) -> int:
        return self.starts.shape[0]

    def to(self, device) -> "TaskSet":
        return dataclasses.replace(self, starts=self.starts.to(device), goals=self.goals.to(device))

    def __getitem__(self, idx) -> "TaskSet":
        idx = torch.as_tensor(idx).reshape(-1) if not isinstance(idx, slice) else idx
        return dataclasses.replace(self, starts=self.starts[idx], goals=self.goals[idx])


def sample_tasks(n: int, seed: int, split: str = "eval", wall: WallConfig | None = None,
                 device=None) -> TaskSet:
    """Sample ``n`` tasks: start on one side of the wall, goal on the other (sides swap at random).

    Each split ("train", "tune", "eval", "test") draws from its own seed stream (numpy SeedSequence
    keyed by split and seed), so evaluation tasks never coincide with tasks used for data or tuning.

    Args:
        n: number of tasks.
        seed: integer seed; the same (split, seed, n, wall) always gives the same tasks.
        split: "train" for data collection / finetuning, "tune" for hyper-parameter choices,
            "eval" for the held-out development tasks the notebooks teach with, "test" for the sealed
            tasks of the final table only (evaluated once, after every setting is frozen).
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}; got {split!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    wall = wall or WallConfig()
    rng = np.random.default_rng(np.random.SeedSequence([_SPLITS[split], int(seed)]))
    h, m = wall.half_size - 0.25, wall.start_margin

    def side_points(sign: np.ndarray) -> np.ndarray:
        # |x - wall| in [margin, distance to border]; uniform over each side's free rectangle.
        left = rng.uniform(-h, wall.wall_left - m, size=n)
        right = rng.uniform(wall.wall_right + m, h, size=n)
        x = np.where(sign < 0, left, right)
        y = rng.uniform(-h, h, size=n)
        return np.stack([x, y], -1)

    start_side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    starts = side_points(start_side)
    goals = side_points(-start_side)
    to_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    return TaskSet(to_t(starts), to_t(goals), split, int(seed))


def straight_line_blocked(starts: torch.Tensor, goals: torch.Tensor, wall: WallConfig | None = None
                          ) -> torch.Tensor:
    """(B,) bool: the segment start -> goal passes through a solid wall piece."""
    wall = wall or WallConfig()
    d = goals - starts
    moving = d != 0
    safe_d = torch.where(moving, d, torch.ones_like(d))
    blocked = torch.zeros_like(starts[:, 0], dtype=torch.bool)
    for lo, hi in _box_bounds(wall, starts.dtype, starts.device):
        t_enter, _, _ = _entry_time(starts, d, lo, hi, moving, safe_d)
        blocked |= t_enter <= 1
    return blocked


def path_crosses_wall(paths: torch.Tensor, wall: WallConfig | None = None) -> torch.Tensor:
    """(B, T) bool: step t of each path (B, T+1, S), the segment paths[:, t] -> paths[:, t+1], passes
    through a solid wall piece. For imagined paths (a world model's rollout), where reality would
    have stopped the agent: ``path_crosses_wall(plan.predicted_states, wall).any(1)``."""
    if paths.ndim != 3 or paths.shape[-1] != STATE_DIM or paths.shape[1] < 2:
        raise ValueError(f"paths must be (B, T+1, {STATE_DIM}) with T >= 1; got {tuple(paths.shape)}")
    B, T1, S = paths.shape
    seg_starts = paths[:, :-1].reshape(-1, S)
    seg_ends = paths[:, 1:].reshape(-1, S)
    return straight_line_blocked(seg_starts, seg_ends, wall).reshape(B, T1 - 1)


def success(final_states: torch.Tensor, goals: torch.Tensor, wall: WallConfig | None = None
            ) -> torch.Tensor:
    """(B,) bool: the final state is within the success radius of the goal."""
    wall = wall or WallConfig()
    return (final_states - goals).norm(dim=-1) <= wall.success_radius


def touching_border(states: torch.Tensor, wall: WallConfig | None = None, tol: float = 1e-3
                    ) -> torch.Tensor:
    """(...,) bool: within ``tol`` of the arena border."""
    wall = wall or WallConfig()
    return (states.abs() >= wall.half_size - tol).any(-1)


def far_from_door(states: torch.Tensor, wall: WallConfig | None = None, margin: float = 1.0
                  ) -> torch.Tensor:
    """(...,) bool: more than ``margin`` (in y) beyond the door edges."""
    wall = wall or WallConfig()
    return (states[..., 1] - wall.door_center).abs() > wall.door_width / 2 + margin


def touching_wall(states: torch.Tensor, wall: WallConfig | None = None, tol: float = 1e-3
                  ) -> torch.Tensor:
    """(..., ) bool: within ``tol`` of a solid wall face (door edges count, the open door does not)."""
    wall = wall or WallConfig()
    x, y = states[..., 0], states[..., 1]
    near = torch.zeros_like(x, dtype=torch.bool)
    for x0, x1, y0, y1 in wall.wall_boxes():
        near |= within_box(x, y, x0, x1, y0, y1, tol)
    return near


def within_box(x, y, x0, x1, y0, y1, tol: float) -> torch.Tensor:
    """Whether points (x, y) lie within ``tol`` of the box [x0, x1] x [y0, y1] (its inside counts); every argument
    broadcasts, so boxes may be numbers or per-point tensors (``worlds.World.touching_wall``: each task's own)."""
    dx = torch.clamp(torch.maximum(x0 - x, x - x1), min=0)
    dy = torch.clamp(torch.maximum(y0 - y, y - y1), min=0)
    return torch.hypot(dx, dy) <= tol


# --------------------------------------------------------------------------------------------
# The real dynamics in a world model's shoes
# --------------------------------------------------------------------------------------------
class TrueDynamicsModel(torch.nn.Module):
    """``model(states (B, S), actions (B, A)) -> next states (B, S)`` by ``WallEnv.step``: the exact
    dynamics, walls included, for planning with a perfect model (the ceiling of any learned one).

    Not differentiable (``WallEnv.step`` runs without gradients), so it plans with the sampling
    planners (CEM, MPPI) only; ``planners.GBPPlanner`` refuses it with a message saying so.
    """

    differentiable = False

    def __init__(self, wall: WallConfig | None = None, env=None):
        """``env``: other dynamics with ``WallEnv``'s ``step`` (a ``worlds.World``'s ``env``, notebook 10)."""
        super().__init__()
        self.env = env if env is not None else WallEnv(wall)
        # A dummy parameter so that ``next(model.parameters()).device`` works like for a WorldModel.
        self.dummy = torch.nn.Parameter(torch.zeros(()), requires_grad=False)

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.env.step(states, actions)
