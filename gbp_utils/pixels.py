"""Top-down images of the wall-door world, for planning from pixels (appendix notebook 09).

``render(states, wall)`` draws a batch of states as images (B, 2, R, R): channel 0 is the scene (the
two wall pieces, filled by the fraction of each pixel they cover), channel 1 the agent, a Gaussian blob
centred on its position. A goal is shown the way the paper shows it, as the image of the goal state
(``render(goals, wall)``); ``rgb`` turns images into pictures to look at, with an optional goal blob.

Image convention: row 0 is the top of the arena (y = +half_size), column 0 its left (x = -half_size);
pixel (i, j) covers the square of side 2 half_size / R whose centre ``pixel_centres`` gives. Rendering
is batched, differentiable in the states and device-agnostic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .env import STATE_DIM, WallConfig


@dataclass(frozen=True)
class RenderConfig:
    """How states become images."""

    size: int = 64  # R: images are R x R pixels over the whole arena
    blob_sigma: float = 0.25  # arena units: the agent blob's standard deviation (about 1.6 px at 64 px)
    supersample: int = 4  # wall coverage is measured on a supersample x supersample grid inside each pixel

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 4:
            raise ValueError(f"size must be an integer >= 4 (pixels per side); got {self.size!r}")
        if not self.blob_sigma > 0:
            raise ValueError(f"blob_sigma must be > 0 (arena units); got {self.blob_sigma!r}")
        if isinstance(self.supersample, bool) or not isinstance(self.supersample, int) or self.supersample < 1:
            raise ValueError(f"supersample must be an integer >= 1; got {self.supersample!r}")


def pixel_centres(wall: WallConfig, size: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(xs (R,), ys (R,)): the arena coordinates of the pixel centres of each column and each row
    (ys decreasing: row 0 is the top)."""
    h = wall.half_size
    step = 2 * h / size
    centres = -h + step * (torch.arange(size, device=device, dtype=dtype) + 0.5)
    return centres, centres.flip(0)


def scene(wall: WallConfig, config: RenderConfig | None = None, device=None) -> torch.Tensor:
    """(R, R) the fraction of each pixel covered by a solid wall piece (``WallConfig.wall_boxes``)."""
    cfg = config or RenderConfig()
    R, k, h = cfg.size, cfg.supersample, wall.half_size
    sub = 2 * h / (R * k)
    fine = -h + sub * (torch.arange(R * k, device=device, dtype=torch.float32) + 0.5)
    xs, ys = fine, fine.flip(0)
    Y, X = torch.meshgrid(ys, xs, indexing="ij")
    solid = torch.zeros_like(X, dtype=torch.bool)
    for x0, x1, y0, y1 in wall.wall_boxes():
        solid |= (X > x0) & (X < x1) & (Y > y0) & (Y < y1)
    return solid.float().reshape(R, k, R, k).mean((1, 3))


def render(states: torch.Tensor, wall: WallConfig | None = None, config: RenderConfig | None = None) -> torch.Tensor:
    """(B, S) states -> (B, 2, R, R) images in [0, 1]: the scene and the agent's blob
    exp(-|p - s|^2 / (2 sigma^2)) at every pixel centre p. Differentiable in ``states``."""
    wall, cfg = wall or WallConfig(), config or RenderConfig()
    if not isinstance(states, torch.Tensor) or states.ndim != 2 or states.shape[-1] != STATE_DIM:
        shape = tuple(states.shape) if isinstance(states, torch.Tensor) else type(states).__name__
        raise ValueError(f"render needs states of shape (B, {STATE_DIM}); got {shape}")
    xs, ys = pixel_centres(wall, cfg.size, states.device, states.dtype)
    dx2 = (xs[None, :] - states[:, :1]).pow(2)  # (B, R) per column
    dy2 = (ys[None, :] - states[:, 1:2]).pow(2)  # (B, R) per row
    agent = torch.exp(-(dy2[:, :, None] + dx2[:, None, :]) / (2 * cfg.blob_sigma ** 2))  # (B, R, R)
    walls = scene(wall, cfg, states.device).to(states.dtype).expand_as(agent)
    return torch.stack([walls, agent], 1)


def blob_centre(images: torch.Tensor, wall: WallConfig | None = None) -> torch.Tensor:
    """(B, 2, R, R) images -> (B, 2): the intensity-weighted centre of the agent channel, in arena units
    (what ``render`` drew, read back; exact up to the blob's truncation at the arena's border)."""
    wall = wall or WallConfig()
    xs, ys = pixel_centres(wall, images.shape[-1], images.device, images.dtype)
    w = images[:, 1]
    total = w.sum((1, 2)).clamp(min=1e-12)
    return torch.stack([(w.sum(1) * xs).sum(1) / total, (w.sum(2) * ys).sum(1) / total], -1)


def rgb(images: torch.Tensor, goal_images: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2, R, R) images (and optional goal images) -> (B, R, R, 3) RGB pictures in [0, 1]: walls dark grey,
    the agent blue, the goal's blob red."""
    walls, agent = images[:, 0], images[:, 1]
    background = 1 - 0.75 * walls
    out = background[..., None].repeat(1, 1, 1, 3)
    blue, red = torch.tensor([0.0, 0.45, 0.70]), torch.tensor([0.84, 0.37, 0.0])
    out = out * (1 - agent[..., None]) + agent[..., None] * blue.to(out)
    if goal_images is not None:
        goal = goal_images[:, 1][..., None]
        out = out * (1 - goal) + goal * red.to(out)
    return out.clamp(0, 1)
