"""A ``gymnasium.Env`` for single episodes of the wall-door world, so the task plugs into the RL
ecosystem (wrappers, vector envs, env checkers). The batched environments do the physics: ``WallEnv`` (the
series' point world), ``momentum.MomentumEnv`` (option ``momentum``) or ``layouts.LayoutEnv`` (option
``layouts``: a door, and optionally a second wall, drawn per episode).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from .env import STATE_DIM, WallConfig, WallEnv, sample_tasks
from .layouts import LayoutConfig, LayoutEnv, Layouts, sample_layout_tasks
from .momentum import MomentumConfig, MomentumEnv


class WallDoorEnv(gym.Env):
    """One episode of the wall-door world.

    Observation: [x, y, goal_x, goal_y] in the point world. With ``momentum`` the agent's velocity follows its
    position, [x, y, vx, vy, goal_x, goal_y], and every episode starts at rest. With ``layouts`` each wall's
    door centre and width follow, [..., centre_1, width_1(, centre_2, width_2)]: the agent observes its
    layout. Action: the point world's displacement (dx, dy) in [-max_step, max_step]^2, or with ``momentum``
    an acceleration in [-max_accel, max_accel]^2; larger actions are clipped.

    Reward: minus the distance to the goal after the step. The episode terminates on reaching the goal
    (distance <= success_radius; with momentum the agent need not have stopped) and is truncated after
    ``max_steps`` steps. ``reset(seed=k)`` draws the task (and its layout) from the given split's seeded
    sampler, so seeds are reproducible and evaluation seeds never produce training tasks. ``reset(options=
    {"start": (x, y), "goal": (x, y)})`` sets the task instead (with ``layouts`` also ``"doors"``: one
    (centre, width) per wall).
    """

    metadata = {"render_modes": []}

    def __init__(self, wall: WallConfig | None = None, split: str = "eval", momentum: MomentumConfig | None = None,
                 layouts: LayoutConfig | None = None):
        if momentum is not None and not isinstance(momentum, MomentumConfig):
            raise TypeError(f"momentum must be a MomentumConfig or None; got {type(momentum).__name__}")
        if layouts is not None and not isinstance(layouts, LayoutConfig):
            raise TypeError(f"layouts must be a LayoutConfig or None; got {type(layouts).__name__}")
        if momentum is not None and layouts is not None:
            raise ValueError("momentum and layouts are separate worlds (notebook 10 studies each on its own); "
                             "pass one of them")
        self.wall = wall or WallConfig()
        self.split = split
        self.momentum, self.layouts = momentum, layouts
        h = self.wall.half_size
        if momentum is not None:
            self._env = MomentumEnv(self.wall, momentum)
            v, a = self._env.max_speed, momentum.max_accel
            low = np.array([-h, -h, -v, -v, -h, -h], dtype=np.float32)
        else:
            self._env = LayoutEnv(self.wall) if layouts is not None else WallEnv(self.wall)
            a = self.wall.max_step
            low = np.full(2 * STATE_DIM, -h, dtype=np.float32)
        high = -low
        if layouts is not None:
            walls = 1 + (layouts.second_wall_x is not None)
            low = np.concatenate([low, np.tile(np.array([-h, 0.0], dtype=np.float32), walls)])
            high = np.concatenate([high, np.tile(np.array([h, 2 * h], dtype=np.float32), walls)])
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(-a, a, shape=(2,), dtype=np.float32)
        self._state = self._goal = self._layout = None
        self._t = 0

    @property
    def layout(self) -> Layouts | None:
        """This episode's layout (``layouts.Layouts`` of one task), or None in the fixed world."""
        return self._layout

    def _obs(self) -> np.ndarray:
        parts = [self._state[0], self._goal[0]] + ([self._layout.features()[0]] if self._layout is not None else [])
        return torch.cat(parts).numpy().astype(np.float32)

    def _distance(self) -> float:
        return float((self._state[:, :STATE_DIM] - self._goal).norm())

    @staticmethod
    def _numbers(name: str, value, shape: tuple, what: str) -> torch.Tensor:
        try:
            x = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            x = np.full(0, np.nan, dtype=np.float32)
        if x.size != int(np.prod(shape)) or not np.isfinite(x).all():
            raise ValueError(f"reset option {name!r} must be {what}; got {value!r}")
        return torch.as_tensor(x).reshape(shape)

    def _free(self, positions: torch.Tensor, layout: Layouts | None) -> torch.Tensor:
        if layout is None:
            return WallEnv(self.wall).is_free(positions)
        n = len(positions)
        return self._env.is_free(positions, Layouts(layout.wall_x, layout.door_low.expand(n, -1),
                                                    layout.door_high.expand(n, -1), layout.thickness))

    def _layout_from(self, doors: torch.Tensor) -> Layouts:
        walls = [self.wall.wall_x] + ([self.layouts.second_wall_x] if self.layouts.second_wall_x is not None else [])
        centre, width = doors[:, 0], doors[:, 1]
        h = self.wall.half_size
        if (width <= 0).any() or ((centre - width / 2) < -h).any() or ((centre + width / 2) > h).any():
            raise ValueError(f"reset option 'doors' must give each door a width > 0 inside the arena (|y| <= {h}); "
                             f"got (centre, width) = {doors.tolist()}")
        return Layouts(torch.tensor(walls, dtype=torch.float32), (centre - width / 2)[None], (centre + width / 2)[None],
                       self.wall.wall_thickness)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            keys = {"start", "goal"} | ({"doors"} if self.layouts is not None else set())
            if set(options) != keys:
                raise ValueError(f"reset options must give exactly {sorted(keys)}; got keys {sorted(options)}")
            start, goal = (self._numbers(name, options[name], (1, STATE_DIM), "two finite numbers (x, y)")
                           for name in ("start", "goal"))
            layout = None
            if self.layouts is not None:
                walls = 1 + (self.layouts.second_wall_x is not None)
                doors = self._numbers("doors", options["doors"], (walls, 2),
                                      f"{walls} (centre, width) pair(s) of finite numbers, one per wall")
                layout = self._layout_from(doors)
            if not self._free(torch.cat([start, goal]), layout).all():
                raise ValueError("options start and goal must lie in free space (inside the arena, not in a wall)")
        else:
            task_seed = int(self.np_random.integers(2**31 - 1))
            layout = None
            if self.layouts is not None:
                task, layout = sample_layout_tasks(1, task_seed, self.split, self.layouts, self.wall)
            else:
                task = sample_tasks(1, task_seed, self.split, self.wall)
            start, goal = task.starts, task.goals
        if self.momentum is not None:
            start = MomentumEnv.at_rest(start)
        self._state, self._goal, self._layout, self._t = start, goal, layout, 0
        return self._obs(), {"distance": self._distance()}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        a = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(1, 2)
        self._state = (self._env.step(self._state, a, self._layout) if self.layouts is not None
                       else self._env.step(self._state, a))
        self._t += 1
        dist = self._distance()
        terminated = dist <= self.wall.success_radius
        truncated = self._t >= self.wall.max_steps and not terminated
        return self._obs(), -dist, terminated, truncated, {"distance": dist, "success": terminated}
