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

from .env import STATE_DIM, WallConfig
from .layouts import LayoutConfig, Layouts
from .momentum import MomentumConfig, MomentumEnv
from .worlds import World


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
        self.world = World(wall or WallConfig(), momentum=momentum, layouts=layouts)  # checks the options
        self.wall, self.split, self.momentum, self.layouts = self.world.wall, split, momentum, layouts
        self._env = self.world.env
        h, a = self.wall.half_size, self.world.action_bound
        low = np.full(2 * STATE_DIM, -h, dtype=np.float32)  # position and goal
        high = -low
        if momentum is not None:  # the velocity after the position
            v = self._env.max_speed
            low, high = np.insert(low, 2, [-v, -v]), np.insert(high, 2, [v, v])
        if layouts is not None:  # each wall's door centre and width at the end
            low = np.concatenate([low, np.tile(np.array([-h, 0.0], dtype=np.float32), self.world.n_walls)])
            high = np.concatenate([high, np.tile(np.array([h, 2 * h], dtype=np.float32), self.world.n_walls)])
        self.observation_space = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self.action_space = spaces.Box(-a, a, shape=(2,), dtype=np.float32)
        self._state = self._goal = None  # full states of the world (layout states carry their doors)
        self._t = 0

    @property
    def layout(self) -> Layouts | None:
        """This episode's layout (``layouts.Layouts`` of one task), or None in the fixed world."""
        return None if self.layouts is None or self._state is None else self.world.layouts_of(self._state)

    def _obs(self) -> np.ndarray:
        s, g = self._state[0], self.world.positions(self._goal[0])
        parts = [s, g] if self.layouts is None else [s[:STATE_DIM], g, s[STATE_DIM:]]
        return torch.cat(parts).numpy().astype(np.float32)

    def _distance(self) -> float:
        return float((self.world.positions(self._state) - self.world.positions(self._goal)).norm())

    @staticmethod
    def _numbers(name: str, value, shape: tuple, what: str) -> torch.Tensor:
        try:
            x = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            x = np.full(0, np.nan, dtype=np.float32)
        if x.size != int(np.prod(shape)) or not np.isfinite(x).all():
            raise ValueError(f"reset option {name!r} must be {what}; got {value!r}")
        return torch.as_tensor(x).reshape(shape)

    def _task_from(self, options: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(start, goal) full states from reset options, checked."""
        keys = {"start", "goal"} | ({"doors"} if self.layouts is not None else set())
        if set(options) != keys:
            raise ValueError(f"reset options must give exactly {sorted(keys)}; got keys {sorted(options)}")
        start, goal = (self._numbers(name, options[name], (1, STATE_DIM), "two finite numbers (x, y)")
                       for name in ("start", "goal"))
        if self.layouts is not None:
            W, h = self.world.n_walls, self.wall.half_size
            doors = self._numbers("doors", options["doors"], (W, 2),
                                  f"{W} (centre, width) pair(s) of finite numbers, one per wall")
            centre, width = doors[:, 0], doors[:, 1]
            if (width <= 0).any() or ((centre - width / 2) < -h).any() or ((centre + width / 2) > h).any():
                raise ValueError(f"reset option 'doors' must give each door a width > 0 inside the arena "
                                 f"(|y| <= {h}); got (centre, width) = {doors.tolist()}")
            features = doors.reshape(1, -1)
            start, goal = torch.cat([start, features], -1), torch.cat([goal, features], -1)
        elif self.momentum is not None:
            start, goal = MomentumEnv.at_rest(start), MomentumEnv.at_rest(goal)
        if not self._env.is_free(torch.cat([start, goal])).all():
            raise ValueError("options start and goal must lie in free space (inside the arena, not in a wall)")
        return start, goal

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            start, goal = self._task_from(options)
        else:
            task = self.world.sample_tasks(1, int(self.np_random.integers(2**31 - 1)), self.split)
            start, goal = task.starts, task.goals
        self._state, self._goal, self._t = start, goal, 0
        return self._obs(), {"distance": self._distance()}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        a = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(1, 2)
        self._state = self._env.step(self._state, self._env.clip_actions(a))
        self._t += 1
        dist = self._distance()
        terminated = dist <= self.wall.success_radius
        truncated = self._t >= self.wall.max_steps and not terminated
        return self._obs(), -dist, terminated, truncated, {"distance": dist, "success": terminated}
