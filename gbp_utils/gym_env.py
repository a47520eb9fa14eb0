"""A ``gymnasium.Env`` for single episodes of the wall-door world, so the task plugs into the RL
ecosystem (wrappers, vector envs, env checkers). The batched ``WallEnv`` does the physics.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from .env import WallConfig, WallEnv, sample_tasks


class WallDoorEnv(gym.Env):
    """Observation: [x, y, goal_x, goal_y]. Action: displacement (dx, dy) in [-max_step, max_step]^2.

    Reward: minus the distance to the goal after the step. The episode terminates on reaching the
    goal (distance <= success_radius) and is truncated after ``max_steps`` steps.
    ``reset(seed=k)`` draws the task from the given split's seeded sampler, so seeds are reproducible
    and evaluation seeds never produce training tasks.
    """

    metadata = {"render_modes": []}

    def __init__(self, wall: WallConfig | None = None, split: str = "eval"):
        self.wall = wall or WallConfig()
        self.split = split
        self._env = WallEnv(self.wall)
        h, m = self.wall.half_size, self.wall.max_step
        self.observation_space = spaces.Box(-h, h, shape=(4,), dtype=np.float32)
        self.action_space = spaces.Box(-m, m, shape=(2,), dtype=np.float32)
        self._state = self._goal = None
        self._t = 0

    def _obs(self) -> np.ndarray:
        return torch.cat([self._state[0], self._goal[0]]).numpy().astype(np.float32)

    def _distance(self) -> float:
        return float((self._state - self._goal).norm())

    @staticmethod
    def _position(name: str, value) -> torch.Tensor:
        x = np.asarray(value, dtype=np.float32)
        if x.size != 2 or not np.isfinite(x).all():
            raise ValueError(f"reset option {name!r} must be two finite numbers (x, y); got {value!r}")
        return torch.as_tensor(x).reshape(1, 2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            if set(options) != {"start", "goal"}:
                raise ValueError(f"reset options must give both 'start' and 'goal' (and nothing else); got keys "
                                 f"{sorted(options)}")
            start, goal = (self._position(name, options[name]) for name in ("start", "goal"))
            if not self._env.is_free(torch.cat([start, goal])).all():
                raise ValueError("options start and goal must lie in free space (inside the arena, not in the wall)")
        else:
            task_seed = int(self.np_random.integers(2**31 - 1))
            task = sample_tasks(1, task_seed, self.split, self.wall)
            start, goal = task.starts, task.goals
        self._state, self._goal, self._t = start, goal, 0
        return self._obs(), {"distance": self._distance()}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        a = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(1, 2)
        self._state = self._env.step(self._state, a)
        self._t += 1
        dist = self._distance()
        terminated = dist <= self.wall.success_radius
        truncated = self._t >= self.wall.max_steps and not terminated
        return self._obs(), -dist, terminated, truncated, {"distance": dist, "success": terminated}
