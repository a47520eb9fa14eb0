"""A harder world for appendix notebook 10: the same arena and wall, but the agent has momentum.

The state is position and velocity, (x, y, vx, vy); an action is an acceleration, bounded per component.
Each step the velocity is damped, accelerated and clipped to the point world's speed limit, and the agent
moves by it with the point world's swept collision (``env.WallEnv``: it stops at the first face it
touches). On contact the velocity component pointing into the face is zeroed and the tangential one kept,
so the agent can slide along the wall on the next step and kinetic energy never increases on contact.

What changes for a planner: a plan must brake before the goal and before the wall, and an action's effect
lasts — a wrong action costs several steps to undo. The controllers below extend the point world's:
``momentum_expert`` tracks the point world's noisy expert as a target velocity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .env import ACTION_DIM, STATE_DIM, WallConfig, WallEnv

MOMENTUM_STATE_DIM = 2 * STATE_DIM  # (x, y, vx, vy)


@dataclass(frozen=True)
class MomentumConfig:
    """The momentum world's physics (lengths in arena units, times in steps)."""

    max_accel: float = 0.2  # |a| per component: 2.5 steps from rest to the speed limit
    damping: float = 0.05  # fraction of the velocity lost to friction every step
    max_speed: float | None = None  # |v| per component; None: the wall config's max_step (the point world's)

    def __post_init__(self):
        for name in ("max_accel", "damping"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number; got {value!r}")
        if self.max_accel <= 0:
            raise ValueError(f"max_accel must be > 0; got {self.max_accel}")
        if not 0 <= self.damping < 1:
            raise ValueError(f"damping must be in [0, 1) (1 would stop the agent every step); got {self.damping}")
        if self.max_speed is not None and not (math.isfinite(self.max_speed) and self.max_speed > 0):
            raise ValueError(f"max_speed must be None or a finite number > 0; got {self.max_speed!r}")


class MomentumEnv:
    """Batched, device-agnostic dynamics of the momentum world: ``step(states (B, 4), actions (B, 2))``."""

    def __init__(self, wall: WallConfig | None = None, momentum: MomentumConfig | None = None):
        self.wall = wall or WallConfig()
        self.momentum = momentum or MomentumConfig()
        self.points = WallEnv(self.wall)  # the point world: free space and the swept collision

    @property
    def max_speed(self) -> float:
        return self.momentum.max_speed if self.momentum.max_speed is not None else self.wall.max_step

    def clip_actions(self, actions: torch.Tensor) -> torch.Tensor:
        m = self.momentum.max_accel
        return actions.clamp(-m, m)

    def is_free(self, states: torch.Tensor) -> torch.Tensor:
        return self.points.is_free(states[..., :STATE_DIM])

    @staticmethod
    def at_rest(positions: torch.Tensor) -> torch.Tensor:
        """(B, 2) positions -> (B, 4) states with zero velocity."""
        return torch.cat([positions, torch.zeros_like(positions)], -1)

    @torch.no_grad()
    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Damp, accelerate (clipped to ``max_accel``), clip the speed, move with collision, and zero the
        velocity into any face the agent ends on."""
        if states.ndim != 2 or states.shape[-1] != MOMENTUM_STATE_DIM:
            raise ValueError(f"states must be (B, {MOMENTUM_STATE_DIM}) = (x, y, vx, vy); got {tuple(states.shape)}")
        if actions.ndim != 2 or actions.shape != (states.shape[0], ACTION_DIM):
            raise ValueError(f"actions must be (B, {ACTION_DIM}) accelerations for B = {states.shape[0]} states; "
                             f"got {tuple(actions.shape)}")
        if not self.is_free(states).all():
            raise ValueError(f"{int((~self.is_free(states)).sum())} state(s) lie inside the wall or outside the arena")
        p, v = states[:, :STATE_DIM], states[:, STATE_DIM:]
        c = self.momentum
        v = ((1 - c.damping) * v + self.clip_actions(actions.to(states.dtype))).clamp(-self.max_speed, self.max_speed)
        p_next = self.points._step(p, v)
        return torch.cat([p_next, self._stop_into_faces(p_next, v)], -1)

    def _stop_into_faces(self, p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``v`` with the component pointing into a face the agent touches at ``p`` set to zero: the faces of
        the solid wall pieces and the arena border (the point world puts a contact exactly on the face)."""
        x, y = p[:, 0], p[:, 1]
        vx, vy = v[:, 0], v[:, 1]
        h = self.wall.half_size
        stop_x = ((x >= h) & (vx > 0)) | ((x <= -h) & (vx < 0))
        stop_y = ((y >= h) & (vy > 0)) | ((y <= -h) & (vy < 0))
        for x0, x1, y0, y1 in self.wall.collision_boxes():
            along_y = (y > y0) & (y < y1)
            along_x = (x > x0) & (x < x1)
            stop_x |= along_y & (((x == x0) & (vx > 0)) | ((x == x1) & (vx < 0)))
            stop_y |= along_x & (((y == y0) & (vy > 0)) | ((y == y1) & (vy < 0)))
        return torch.stack([torch.where(stop_x, torch.zeros_like(vx), vx), torch.where(stop_y, torch.zeros_like(vy), vy)], -1)

    @torch.no_grad()
    def rollout(self, starts: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """starts (B, 4), actions (B, H, 2) -> states (B, H+1, 4)."""
        states = [starts]
        for t in range(actions.shape[1]):
            states.append(self.step(states[-1], actions[:, t]))
        return torch.stack(states, 1)


def kinetic_energy(states: torch.Tensor) -> torch.Tensor:
    """(..., 4) -> (...): |v|^2 / 2."""
    return 0.5 * states[..., STATE_DIM:].pow(2).sum(-1)


def momentum_expert(wall: WallConfig | None = None, momentum: MomentumConfig | None = None, noise_std: float = 0.15,
                    generator: torch.Generator | None = None):
    """The point world's noisy expert as a target velocity: ``policy(states (B, 4), goals (B, 2)) -> (B, 2)``
    accelerations that steer the velocity toward the expert's next displacement (damping compensated),
    clipped to ``max_accel``. Near the goal the expert's displacements shrink, so the agent brakes."""
    from .policies import expert_policy
    wall, momentum = wall or WallConfig(), momentum or MomentumConfig()
    target = expert_policy(wall, noise_std, generator=generator)
    env = MomentumEnv(wall, momentum)

    def policy(states, goals):
        p, v = states[:, :STATE_DIM], states[:, STATE_DIM:]
        return env.clip_actions(target(p, goals) - (1 - momentum.damping) * v)

    return policy
