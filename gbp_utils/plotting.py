"""Drawing helpers: arena, wall and door, tasks, trajectories (real solid, model-predicted dashed),
and seaborn coverage heat-maps of where data lives.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.patches import Rectangle

from .env import WallConfig

WALL_COLOR = "0.25"
REAL_STYLE = dict(linestyle="-", linewidth=1.8)
MODEL_STYLE = dict(linestyle="--", linewidth=1.5)


def figures_dir() -> Path:
    """figures/ for full runs; build/fast/figures/ in fast mode, so CI never overwrites published figures."""
    from . import fast_mode

    root = Path(__file__).resolve().parents[1]
    path = root / "build" / "fast" / "figures" if fast_mode() else root / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def savefig(fig, name: str) -> Path:
    """Save ``fig`` as figures/<name>.png (150 dpi) and return the path."""
    path = figures_dir() / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def draw_arena(ax, config: WallConfig | None = None, title: str | None = None):
    """Arena border, the two wall pieces and the door gap, with equal aspect."""
    cfg = config or WallConfig()
    h = cfg.half_size
    ax.add_patch(Rectangle((-h, -h), 2 * h, 2 * h, fill=False, edgecolor="black", linewidth=1.5))
    for x0, x1, y0, y1 in cfg.wall_boxes():
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color=WALL_COLOR, zorder=3))
    ax.set_xlim(-h - 0.2, h + 0.2)
    ax.set_ylim(-h - 0.2, h + 0.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def draw_task(ax, start, goal, config: WallConfig | None = None, label: bool = True):
    """Start as a circle, goal as a star with its success radius."""
    cfg = config or WallConfig()
    s, g = _np(start), _np(goal)
    ax.plot(*s, "o", color="tab:blue", markersize=7, zorder=5, label="start" if label else None)
    ax.plot(*g, "*", color="tab:red", markersize=13, zorder=5, label="goal" if label else None)
    ax.add_patch(plt.Circle(g, cfg.success_radius, color="tab:red", alpha=0.15, zorder=1))


def draw_trajectory(ax, states, kind: str = "real", color=None, label: str | None = None, markers=False):
    """A path of states (T+1, S): ``kind="real"`` solid, ``kind="model"`` dashed."""
    if kind not in ("real", "model"):
        raise ValueError(f"kind must be 'real' or 'model'; got {kind!r}")
    xy = _np(states)
    style = REAL_STYLE if kind == "real" else MODEL_STYLE
    ax.plot(xy[:, 0], xy[:, 1], color=color, label=label, zorder=4,
            marker="." if markers else None, markersize=4, **style)


def coverage_heatmap(ax, states, config: WallConfig | None = None, bins: int = 50, title=None,
                     cbar: bool = True):
    """Seaborn heat-map of log10(1 + count) of states over the arena, with the wall outlined."""
    cfg = config or WallConfig()
    xy = _np(states).reshape(-1, 2)
    h = cfg.half_size
    edges = np.linspace(-h, h, bins + 1)
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=[edges, edges])
    sns.heatmap(np.log10(1 + counts.T)[::-1], ax=ax, cmap="mako", cbar=cbar, square=True,
                xticklabels=False, yticklabels=False, cbar_kws={"label": "log10(1 + count)"} if cbar else None)
    # Wall outline in heat-map cell coordinates (row 0 is the top of the arena).
    to_col = lambda x: (x + h) / (2 * h) * bins  # noqa: E731
    to_row = lambda y: (h - y) / (2 * h) * bins  # noqa: E731
    for x0, x1, y0, y1 in cfg.wall_boxes():
        ax.add_patch(Rectangle((to_col(x0), to_row(y1)), to_col(x1) - to_col(x0), to_row(y0) - to_row(y1),
                               fill=False, edgecolor="white", linewidth=1.2))
    if title:
        ax.set_title(title)
    return counts
