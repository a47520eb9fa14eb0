"""The harder worlds of appendix notebook 10, behind one interface the rest of the package can plan in.

A ``World`` is the series' arena with one option switched on (or none: the point world of notebooks 01-08):

* ``momentum`` (``momentum.MomentumConfig``): the state is (x, y, vx, vy) and an action is a bounded
  acceleration; tasks start at rest and their goals are (gx, gy, 0, 0), so a plan scored on the whole final
  state must also arrive slowly;
* ``layouts`` (``layouts.LayoutConfig``): every task draws its own door (and optionally a second wall with a
  door of its own) and the state carries it: (x, y, centre_1, width_1[, centre_2, width_2]). The door
  features never change within an episode, and a task's goal carries the same features, so a plan's
  distance to the goal is a distance between positions. ``LayoutStateEnv`` moves each agent against the
  walls its own state describes.

Everything a planner or a training loop needs from the world is here: ``env`` (``step``, ``rollout``,
``clip_actions``, ``is_free``, ``wall``, like ``env.WallEnv``), ``state_dim`` and ``action_bound``, task
sampling per split, the expert and play data, and success measured on positions only.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import torch

from .data import DataConfig, Dataset, random_walk, run_policy
from .env import (
    ACTION_DIM,
    STATE_DIM,
    TaskSet,
    WallConfig,
    WallEnv,
    sample_tasks,
    touching_wall,
    within_box,
)
from .layouts import (
    LayoutConfig,
    LayoutEnv,
    Layouts,
    oracle_policy,
    sample_layout_tasks,
    sample_layouts,
    segment_blocked,
    shortest_path,
)
from .momentum import MOMENTUM_STATE_DIM, MomentumConfig, MomentumEnv, momentum_expert
from .policies import _walk_polyline

_PLAY_STREAM = 20_000  # play data's generator offset (the point world's play data uses 10_000)


# --------------------------------------------------------------------------------------------
# Layouts carried in the state
# --------------------------------------------------------------------------------------------
def layout_walls(wall: WallConfig, config: LayoutConfig) -> torch.Tensor:
    """(W,) the walls' x positions: the series' wall, then the optional second one."""
    xs = [wall.wall_x] + ([config.second_wall_x] if config.second_wall_x is not None else [])
    return torch.tensor(xs, dtype=torch.float32)


def layouts_from_states(states: torch.Tensor, wall: WallConfig, config: LayoutConfig) -> Layouts:
    """The ``Layouts`` that (B, 2 + 2W) layout states describe (their door centres and widths)."""
    walls = layout_walls(wall, config)
    W = len(walls)
    if states.ndim != 2 or states.shape[-1] != STATE_DIM + 2 * W:
        raise ValueError(f"layout states must be (B, {STATE_DIM + 2 * W}) = (x, y, then each wall's door centre and "
                         f"width); got {tuple(states.shape)}")
    f = states[:, STATE_DIM:].reshape(-1, W, 2)
    centre, width = f[..., 0], f[..., 1]
    return Layouts(walls.to(states.device), centre - width / 2, centre + width / 2, wall.wall_thickness)


class LayoutStateEnv:
    """``layouts.LayoutEnv`` on states that carry their own layout: ``step(states (B, 2 + 2W), actions (B, 2))``
    moves each position against the walls its state describes and keeps the door features."""

    def __init__(self, wall: WallConfig, config: LayoutConfig):
        self.wall, self.config = wall, config
        self.points = LayoutEnv(wall)

    def clip_actions(self, actions: torch.Tensor) -> torch.Tensor:
        return self.points.clip_actions(actions)

    def is_free(self, states: torch.Tensor) -> torch.Tensor:
        return self.points.is_free(states[:, :STATE_DIM], layouts_from_states(states, self.wall, self.config))

    @torch.no_grad()
    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        lay = layouts_from_states(states, self.wall, self.config)
        moved = self.points.step(states[:, :STATE_DIM].contiguous(), actions, lay)
        return torch.cat([moved, states[:, STATE_DIM:]], -1)

    @torch.no_grad()
    def rollout(self, starts: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """starts (B, S), actions (B, H, 2) -> states (B, H+1, S)."""
        states = [starts]
        for t in range(actions.shape[1]):
            states.append(self.step(states[-1], self.clip_actions(actions[:, t])))
        return torch.stack(states, 1)


# --------------------------------------------------------------------------------------------
# Worlds
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    """The arena ``wall`` with at most one option: ``momentum`` or ``layouts`` (neither: the point world)."""

    wall: WallConfig = dataclasses.field(default_factory=WallConfig)
    momentum: MomentumConfig | None = None
    layouts: LayoutConfig | None = None

    def __post_init__(self):
        if not isinstance(self.wall, WallConfig):
            raise TypeError(f"wall must be a WallConfig; got {type(self.wall).__name__}")
        if self.momentum is not None and not isinstance(self.momentum, MomentumConfig):
            raise TypeError(f"momentum must be a MomentumConfig or None; got {type(self.momentum).__name__}")
        if self.layouts is not None and not isinstance(self.layouts, LayoutConfig):
            raise TypeError(f"layouts must be a LayoutConfig or None; got {type(self.layouts).__name__}")
        if self.momentum is not None and self.layouts is not None:
            raise ValueError("a World has at most one option: momentum or layouts (notebook 10 studies each alone)")

    @classmethod
    def of(cls, where) -> "World":
        """``where`` as a World: a World as it is, the point world's ``WallConfig`` as ``World(wall)`` (whose
        success, distances and wall contact are the series' own)."""
        if isinstance(where, World):
            return where
        if isinstance(where, WallConfig):
            return cls(where)
        raise TypeError(f"expected a WallConfig (the point world) or a worlds.World; got {type(where).__name__}")

    @property
    def name(self) -> str:
        """"point", "momentum", "layouts" or "two walls"."""
        if self.momentum is not None:
            return "momentum"
        if self.layouts is not None:
            return "two walls" if self.layouts.second_wall_x is not None else "layouts"
        return "point"

    @property
    def n_walls(self) -> int:
        return len(layout_walls(self.wall, self.layouts)) if self.layouts is not None else 1

    @property
    def state_dim(self) -> int:
        if self.momentum is not None:
            return MOMENTUM_STATE_DIM
        return STATE_DIM + (2 * self.n_walls if self.layouts is not None else 0)

    @property
    def action_dim(self) -> int:
        return ACTION_DIM

    @property
    def action_bound(self) -> float:
        """The largest action component: the step length, or with momentum the acceleration."""
        return self.momentum.max_accel if self.momentum is not None else self.wall.max_step

    @functools.cached_property
    def env(self):
        """The batched dynamics: ``WallEnv``, ``MomentumEnv`` or ``LayoutStateEnv`` (stateless; built once)."""
        if self.momentum is not None:
            return MomentumEnv(self.wall, self.momentum)
        if self.layouts is not None:
            return LayoutStateEnv(self.wall, self.layouts)
        return WallEnv(self.wall)

    @property
    def moves_positions(self) -> bool:
        """True if an action is a displacement of the state's (x, y) (the point and layout worlds), so that
        waypoint initialisations can plan in those two coordinates; False with momentum (accelerations)."""
        return self.momentum is None

    def touching_wall(self, states: torch.Tensor, tol: float = 1e-3) -> torch.Tensor:
        """(B,) bool: the position is within ``tol`` of a solid face of the state's own walls (door edges count,
        the arena border does not)."""
        if self.layouts is None:
            return touching_wall(self.positions(states), self.wall, tol)
        h = self.wall.half_size
        x0, x1, y0, y1 = self.layouts_of(states).boxes(h).to(states).unbind(-1)  # (B, 2W) each
        return within_box(states[:, None, 0], states[:, None, 1], x0, x1, y0.clamp(min=-h), y1.clamp(max=h), tol).any(-1)

    def wall_boxes(self, state: torch.Tensor) -> list:
        """The solid wall pieces [x0, x1, y0, y1] inside the arena that a state (S,) of this world lives among:
        the fixed wall, or the walls its own door features describe."""
        if self.layouts is None:
            return [tuple(b) for b in self.wall.wall_boxes()]
        h = self.wall.half_size
        boxes = self.layouts_of(state.reshape(1, -1).cpu()).boxes(h)[0]
        return [(float(x0), float(x1), max(float(y0), -h), min(float(y1), h)) for x0, x1, y0, y1 in boxes]

    @staticmethod
    def positions(states: torch.Tensor) -> torch.Tensor:
        """(..., S) -> (..., 2): where the agent is (every world's state starts with x, y)."""
        return states[..., :STATE_DIM]

    def success(self, final_states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the final position is within the success radius of the goal's."""
        return (self.positions(final_states) - self.positions(goals)).norm(dim=-1) <= self.wall.success_radius

    def layouts_of(self, states: torch.Tensor) -> Layouts:
        if self.layouts is None:
            raise ValueError(f"the {self.name} world has no per-task layouts")
        return layouts_from_states(states, self.wall, self.layouts)

    def _with_layout(self, positions: torch.Tensor, lay: Layouts) -> torch.Tensor:
        return torch.cat([positions, lay.features().to(positions)], -1)

    # ---- tasks ------------------------------------------------------------------------------
    def sample_tasks(self, n: int, seed: int, split: str = "eval", device=None) -> TaskSet:
        """``n`` tasks of ``split`` as full states: the point world's tasks (momentum: at rest, goals with zero
        velocity), or ``layouts.sample_layout_tasks`` with each task's layout appended to start and goal."""
        if self.layouts is not None:
            tasks, lay = sample_layout_tasks(n, seed, split, self.layouts, self.wall)
            starts, goals = self._with_layout(tasks.starts, lay), self._with_layout(tasks.goals, lay)
        else:
            tasks = sample_tasks(n, seed, split, self.wall)
            starts, goals = tasks.starts, tasks.goals
            if self.momentum is not None:
                starts, goals = MomentumEnv.at_rest(starts), MomentumEnv.at_rest(goals)
        return TaskSet(starts.to(device), goals.to(device), split, int(seed))

    # ---- reference controllers ---------------------------------------------------------------
    def expert(self, noise_std: float = 0.15, generator: torch.Generator | None = None):
        """The world's noisy demonstrator ``policy(states, goals) -> actions``: the point world's expert; with
        momentum ``momentum.momentum_expert`` (it tracks that expert's steps as velocities); with layouts the
        shortest path through the middle of each task's doors, plus the same Gaussian noise
        (``noise_std`` x max_step)."""
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0; got {noise_std}")
        if self.momentum is not None:
            inner = momentum_expert(self.wall, self.momentum, noise_std, generator)
            return lambda states, goals: inner(states, self.positions(goals))
        if self.layouts is None:
            from .policies import expert_policy
            return expert_policy(self.wall, noise_std, generator=generator)
        wall = self.wall

        def policy(states, goals):
            lay = self.layouts_of(states)
            p, g = self.positions(states), self.positions(goals)
            waypoints, _ = shortest_path(p, g, lay, wall.half_size, inset=math.inf)
            a = _walk_polyline(p, waypoints, wall, blocked=lambda x, y: segment_blocked(x, y, lay, wall.half_size))
            noise = torch.randn(a.shape, generator=generator) if generator is not None else torch.randn(a.shape)
            return a + noise_std * wall.max_step * noise.to(a)

        return policy

    def oracle(self):
        """The noiseless reference that reaches every sampled task: the point world's oracle, the noiseless
        momentum expert, or the per-task shortest path hugging the door corners (``layouts.oracle_policy``)."""
        if self.momentum is not None:
            return self.expert(0.0)
        if self.layouts is None:
            from .policies import oracle_policy as point_oracle
            return point_oracle(self.wall)

        def policy(states, goals):
            return oracle_policy(self.layouts_of(states), self.wall)(self.positions(states), self.positions(goals))

        return policy

    # ---- data ---------------------------------------------------------------------------------
    def expert_data(self, n_episodes: int, seed: int, noise_std: float = 0.15, episode_len: int | None = None
                    ) -> Dataset:
        """Noisy expert episodes on *train* tasks (the point world's: ``data.generate_expert_data``)."""
        tasks = self.sample_tasks(n_episodes, seed, "train")
        gen = torch.Generator().manual_seed(seed)
        return run_policy(self.env, self.expert(noise_std, gen), tasks, episode_len)

    def free_states(self, n: int, generator: torch.Generator, split: str = "train") -> torch.Tensor:
        """(n, S) states uniform over free space: positions (with momentum at rest; with layouts each in a
        layout of its own, drawn from ``split``'s layout stream)."""
        h = self.wall.half_size
        lay = sample_layouts(n, int(torch.randint(2**31 - 1, (1,), generator=generator)), self.layouts, self.wall,
                             split) if self.layouts is not None else None
        positions, todo = torch.empty(n, STATE_DIM), torch.ones(n, dtype=torch.bool)
        while todo.any():  # rejection sampling, slot by slot (each slot has its own layout)
            cand = (torch.rand(n, STATE_DIM, generator=generator) * 2 - 1) * h
            free = WallEnv(self.wall).is_free(cand) if lay is None else LayoutEnv(self.wall).is_free(cand, lay)
            take = todo & free
            positions[take] = cand[take]
            todo &= ~take
        if self.momentum is not None:
            return MomentumEnv.at_rest(positions)
        return self._with_layout(positions, lay) if lay is not None else positions

    def play_data(self, n_episodes: int, seed: int, persistence: float = 0.8, episode_len: int = 30) -> Dataset:
        """Random-walk play: persistent random actions from uniform free starts (at rest; in random layouts),
        a_t = rho a_{t-1} + sqrt(1 - rho^2) * bound * xi_t, clipped; they often run into walls."""
        if not 0 <= persistence < 1:
            raise ValueError(f"persistence must be in [0, 1); got {persistence}")
        gen = torch.Generator().manual_seed(_PLAY_STREAM + seed)
        return random_walk(self.env, self.free_states(n_episodes, gen), self.action_bound, persistence, episode_len, gen)


@dataclass(frozen=True)
class WorldDataConfig(DataConfig):
    """A ``data.DataConfig`` of one of notebook 10's worlds: the same fields (``wall`` must be the world's) plus
    the ``world``; ``data.get_dataset`` caches it like any dataset and it generates itself (``World.expert_data``
    or ``World.play_data``)."""

    world: World = dataclasses.field(default_factory=World)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.world, World):
            raise TypeError(f"world must be a worlds.World; got {type(self.world).__name__}")
        if self.wall != self.world.wall:
            raise ValueError("a WorldDataConfig's wall must be its world's wall (use WorldDataConfig.of)")

    @classmethod
    def of(cls, config: DataConfig, world: World) -> "WorldDataConfig":
        """``config``'s sizes, seed and noise in ``world``."""
        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(DataConfig)}
        return cls(**{**fields, "wall": world.wall}, world=world)

    def generate(self) -> Dataset:
        if self.kind == "expert":
            return self.world.expert_data(self.n_episodes, self.seed, self.noise_std, self.episode_len)
        return self.world.play_data(self.n_episodes, self.seed, self.persistence, self.episode_len)
