"""Drawing helpers: arena, wall and door, tasks, trajectories (real solid, model-predicted dashed),
seaborn coverage heat-maps of where data lives, the series' colour palette, and two concept diagrams
(the unrolled computation graph of GBP, the plan -> execute -> finetune loop).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.patches import FancyBboxPatch, Rectangle

from .env import WallConfig

# One colour-blind-safe palette for the whole series: seaborn's "colorblind" (after Okabe & Ito), by name.
# gbp_utils.setup() also makes it matplotlib's default colour cycle.
PALETTE = dict(zip(("blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "yellow", "cyan"),
                   sns.color_palette("colorblind", 10).as_hex()))
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


def draw_arena(ax, wall: WallConfig | None = None, title: str | None = None):
    """Arena border, the two wall pieces and the door gap, with equal aspect."""
    wall = wall or WallConfig()
    return draw_frame(ax, wall.half_size, wall.wall_boxes(), title)


def draw_world(ax, world, state, title: str | None = None):
    """The arena of ``world`` (a ``worlds.World``) with the walls ``state`` lives among (each layout task has its
    own door), with equal aspect: ``draw_arena`` for any world."""
    return draw_frame(ax, world.wall.half_size, world.wall_boxes(state), title)


def draw_frame(ax, half_size: float, boxes=(), title: str | None = None):
    """The arena border of half-width ``half_size``, the solid ``boxes`` [x0, x1, y0, y1] (wall pieces), equal
    aspect and no ticks: what ``draw_arena`` and ``draw_world`` draw."""
    h = half_size
    ax.add_patch(Rectangle((-h, -h), 2 * h, 2 * h, fill=False, edgecolor="black", linewidth=1.5))
    for x0, x1, y0, y1 in boxes:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color=WALL_COLOR, zorder=3))
    ax.set_xlim(-h - 0.2, h + 0.2)
    ax.set_ylim(-h - 0.2, h + 0.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def draw_task(ax, start, goal, wall: WallConfig | None = None, label: bool = True):
    """Start as a circle, goal as a star with its success radius."""
    wall = wall or WallConfig()
    s, g = _np(start), _np(goal)
    ax.plot(*s, "o", color=PALETTE["blue"], markersize=7, zorder=5, label="start" if label else None)
    ax.plot(*g, "*", color=PALETTE["red"], markersize=13, zorder=5, label="goal" if label else None)
    ax.add_patch(plt.Circle(g, wall.success_radius, color=PALETTE["red"], alpha=0.15, zorder=1))


def draw_trajectory(ax, states, kind: str = "real", color=None, label: str | None = None, markers=False):
    """A path of states (T+1, S): ``kind="real"`` solid, ``kind="model"`` dashed."""
    if kind not in ("real", "model"):
        raise ValueError(f"kind must be 'real' or 'model'; got {kind!r}")
    xy = _np(states)
    style = REAL_STYLE if kind == "real" else MODEL_STYLE
    ax.plot(xy[:, 0], xy[:, 1], color=color, label=label, zorder=4,
            marker="." if markers else None, markersize=4, **style)


def coverage_heatmap(ax, states, wall: WallConfig | None = None, bins: int = 50, title=None,
                     cbar: bool = True):
    """Seaborn heat-map of log10(1 + count) of states over the arena, with the wall outlined."""
    wall = wall or WallConfig()
    xy = _np(states).reshape(-1, 2)
    h = wall.half_size
    edges = np.linspace(-h, h, bins + 1)
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=[edges, edges])
    sns.heatmap(np.log10(1 + counts.T)[::-1], ax=ax, cmap="mako", cbar=cbar, square=True,
                xticklabels=False, yticklabels=False, cbar_kws={"label": "log10(1 + count)"} if cbar else None)
    # Wall outline in heat-map cell coordinates (row 0 is the top of the arena).
    to_col = lambda x: (x + h) / (2 * h) * bins  # noqa: E731
    to_row = lambda y: (h - y) / (2 * h) * bins  # noqa: E731
    for x0, x1, y0, y1 in wall.wall_boxes():
        ax.add_patch(Rectangle((to_col(x0), to_row(y1)), to_col(x1) - to_col(x0), to_row(y0) - to_row(y1),
                               fill=False, edgecolor="white", linewidth=1.2))
    if title:
        ax.set_title(title)
    return counts


# --------------------------------------------------------------------------------------------
# Planning (notebooks 04-08): plans versus reality, the model-error gap, the cost landscape
# --------------------------------------------------------------------------------------------
def plan_gallery(episodes, tasks, indices, wall: WallConfig | None = None, titles=None, ncols: int = 4,
                 panel_size: float = 2.6):
    """One panel per task: the model's first plan (dashed) and what really happened (solid).

    Args:
        episodes: ``control.Episodes`` with ``states`` (B, T+1, S) and ``first_plan_states`` (B, H+1, S) or None.
        tasks: the ``TaskSet`` the episodes ran on; indices: which tasks to draw.
        titles: optional list of panel titles (default: "task i").
    Returns the figure.
    """
    wall = wall or WallConfig()
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("plan_gallery needs at least one task index")
    ncols = max(1, min(ncols, len(indices)))
    nrows = -(-len(indices) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(indices):
            ax.axis("off")
            continue
        i = indices[k]
        draw_arena(ax, wall)
        draw_task(ax, tasks.starts[i], tasks.goals[i], wall, label=k == 0)
        draw_trajectory(ax, episodes.states[i], "real", color="black", label="reality" if k == 0 else None)
        if episodes.first_plan_states is not None:  # on top, so the dashes stay visible where the two agree
            draw_trajectory(ax, episodes.first_plan_states[i], "model", color=PALETTE["purple"],
                            label="model: plan" if k == 0 else None)
        ax.set_title(titles[k] if titles else f"task {i}", fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_gap(ax, gap: dict, label: str = "planner-visited", color=None, expert: bool = True,
             wall: WallConfig | None = None):
    """Per-step open-loop model error from ``evaluation.gap_report`` on a log axis.

    Draws the planner-visited curve (and, with ``expert=True``, the held-out expert curve and the
    success radius for scale). Call again with another report to add more planners to the same axes.
    """
    wall = wall or WallConfig()
    curve = _np(gap["multi_step_planner"])
    steps = np.arange(1, len(curve) + 1)
    if expert:
        ax.semilogy(steps, _np(gap["multi_step_expert"]), marker=".", color=PALETTE["blue"],
                    label="expert episodes (held-out)")
        ax.axhline(wall.success_radius, color=PALETTE["red"], linestyle=":", label="success radius")
    ax.semilogy(steps, curve, marker=".", color=color, label=label)
    ax.set(xlabel="rollout step", ylabel="mean model error (arena units)")
    ax.legend(fontsize=8)
    return ax


def plot_landscape(ax, grid_xy, cost, wall: WallConfig | None = None, path=None, title: str | None = None,
                   start=None, goal=None, vmax: float | None = None, cmap: str = "viridis",
                   success_contour: bool = True):
    """The planning cost over the 2-D waypoint slice of ``evaluation.landscape`` as a heat-map.

    Each pixel is a waypoint w; its colour is the cost of "go to w, then to the goal". The wall is
    drawn on top, the success radius as a white contour (plans inside it would succeed), and
    ``path`` (N, 2) slice coordinates of the optimiser's iterates (``evaluation.project_to_slice``)
    as a line from a circle (first iterate) to a cross (last). Returns the image, for a colour bar.
    """
    wall = wall or WallConfig()
    xy, c = _np(grid_xy), _np(cost)
    extent = [xy[0, 0, 0], xy[0, -1, 0], xy[0, 0, 1], xy[-1, 0, 1]]
    im = ax.imshow(c, origin="lower", extent=extent, cmap=cmap, vmin=0, vmax=vmax if vmax is not None else c.max(),
                   interpolation="nearest")
    if success_contour and (c <= wall.success_radius).any() and (c > wall.success_radius).any():
        ax.contour(xy[..., 0], xy[..., 1], c, levels=[wall.success_radius], colors="white", linewidths=1.0)
    draw_arena(ax, wall, title=title)
    if start is not None and goal is not None:
        draw_task(ax, start, goal, wall, label=False)
    if path is not None:
        p = _np(path)
        ax.plot(p[:, 0], p[:, 1], color=PALETTE["orange"], linewidth=2.2, marker=".", markersize=3, zorder=6,
                label="optimiser path")
        ax.plot(*p[0], "o", color=PALETTE["orange"], markersize=6, markeredgecolor="black", zorder=7)
        ax.plot(*p[-1], "X", color=PALETTE["orange"], markersize=9, markeredgecolor="black", zorder=7)
    return im


def landscape_pair(grid_xy, model_cost, real_cost, wall: WallConfig | None = None, path=None, start=None,
                   goal=None, titles=("what the model predicts", "what really happens"), panel_size: float = 4.2):
    """Side by side: the model's planning-cost landscape (with the optimiser's path) and the real one,
    on one colour scale. Inputs come from ``evaluation.landscape`` with and without the world model,
    so later notebooks can redraw the same slice for a finetuned model. Returns (fig, axes)."""
    vmax = float(max(_np(model_cost).max(), _np(real_cost).max()))
    fig, axes = plt.subplots(1, 2, figsize=(2 * panel_size + 1.0, panel_size))
    plot_landscape(axes[0], grid_xy, model_cost, wall, path=path, title=titles[0], start=start, goal=goal, vmax=vmax)
    im = plot_landscape(axes[1], grid_xy, real_cost, wall, title=titles[1], start=start, goal=goal, vmax=vmax)
    fig.colorbar(im, ax=list(axes), shrink=0.85, label="final distance to the goal")
    return fig, axes


# --------------------------------------------------------------------------------------------
# Finetuning (notebooks 05-06): success per round, plans before and after
# --------------------------------------------------------------------------------------------
def plot_success_vs_round(ax, rounds, reports, label: str | None = None, color=None, marker: str = "o",
                          offset: float = 0.0):
    """Success rate with its 95% Wilson interval (error bars) for one planner across finetuning rounds.

    Args:
        rounds: (R,) round numbers (0 = the model before finetuning); reports: one ``EvalReport`` per round.
        offset: shift on the x axis, so that several planners' error bars do not overlap.
    """
    rounds = [float(r) + offset for r in rounds]
    if len(rounds) != len(reports):
        raise ValueError(f"need one report per round; got {len(rounds)} rounds and {len(reports)} reports")
    rate = np.array([r.success_rate for r in reports])
    err = np.array([[r.success_rate - r.ci_low for r in reports], [r.ci_high - r.success_rate for r in reports]])
    ax.errorbar(rounds, 100 * rate, yerr=100 * err, marker=marker, color=color, label=label, capsize=3,
                linewidth=1.5)
    ax.set(xlabel="finetuning round", ylabel="success (%)", ylim=(0, 100))
    ax.set_xticks(sorted({round(r - offset) for r in rounds}))
    return ax


def plan_gallery_rows(runs: dict, tasks, indices, wall: WallConfig | None = None, titles: dict | None = None,
                      panel_size: float = 2.5):
    """One row per run (e.g. {"before": episodes, "after": episodes}) on the same tasks, one column per task:
    the model's first plan (dashed) and what really happened (solid).

    Args:
        runs: label -> ``control.Episodes`` on the same ``tasks``; indices: which tasks to draw.
        titles: optional label -> list of panel titles (default: "label: task i").
    Returns the figure.
    """
    wall = wall or WallConfig()
    indices = [int(i) for i in indices]
    if not indices or not runs:
        raise ValueError("plan_gallery_rows needs at least one run and one task index")
    nrows, ncols = len(runs), len(indices)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + 0.3), squeeze=False)
    for row, (label, episodes) in enumerate(runs.items()):
        for col, i in enumerate(indices):
            ax = axes[row, col]
            first = row == 0 and col == 0
            draw_arena(ax, wall)
            draw_task(ax, tasks.starts[i], tasks.goals[i], wall, label=first)
            draw_trajectory(ax, episodes.states[i], "real", color="black", label="reality" if first else None)
            if episodes.first_plan_states is not None:
                draw_trajectory(ax, episodes.first_plan_states[i], "model", color=PALETTE["purple"],
                                label="model: plan" if first else None)
            title = titles[label][col] if titles and label in titles else f"{label}: task {i}"
            ax.set_title(title, fontsize=8)
        axes[row, 0].set_ylabel(label, fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def success_bars(ax, table: dict, colors: dict | None = None, title: str | None = None, annotate: bool = True):
    """Grouped bar chart of success rates with 95% Wilson intervals.

    table: {group (x tick): {series (bar colour): EvalReport}}; every group may hold any subset of the
    series. Bars are annotated with the success percentage.
    """
    groups = list(table)
    series = list(dict.fromkeys(s for g in groups for s in table[g]))
    if not groups or not series:
        raise ValueError("success_bars needs at least one group with one report")
    palette = list(PALETTE.values()) * (1 + len(series) // len(PALETTE))
    width = 0.8 / len(series)
    for j, s in enumerate(series):
        xs, rates, err = [], [], [[], []]
        for i, g in enumerate(groups):
            r = table[g].get(s)
            if r is None:
                continue
            xs.append(i - 0.4 + (j + 0.5) * width)
            rates.append(100 * r.success_rate)
            err[0].append(100 * (r.success_rate - r.ci_low))
            err[1].append(100 * (r.ci_high - r.success_rate))
        color = (colors or {}).get(s, palette[j])
        bars = ax.bar(xs, rates, width * 0.95, yerr=err, capsize=2, color=color, label=s, error_kw={"linewidth": 1})
        if annotate:
            for b, v in zip(bars, rates):
                ax.text(b.get_x() + b.get_width() / 2, 2, f"{v:.0f}", ha="center", va="bottom", fontsize=7,
                        color="white", fontweight="bold")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set(ylabel="success (%), 95% CI", ylim=(0, 100))
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_success_vs_compute(axes, curve, colors: dict | None = None):
    """Two panels from ``experiments.compute_curve``: success (with 95% CIs) against world-model
    evaluations per task and against seconds per task, both on log axes. One line per
    (model, family, execution): solid for gradient-based families, dashed for CEM (sampling); markers are
    the budgets."""
    if len(axes) != 2:
        raise ValueError("plot_success_vs_compute needs two axes (evaluations, seconds)")
    groups = list(curve.groupby(["model", "family", "execution"], sort=False))
    palette = list(PALETTE.values()) * (1 + len(groups) // len(PALETTE))
    for i, ((model, family, execution), g) in enumerate(groups):
        color = (colors or {}).get((model, family), palette[i])
        style = "--" if family.startswith("CEM") else "-"
        marker = "o" if execution == "open-loop" else "s"
        for ax, x in zip(axes, ("wm_evals_per_task", "seconds_per_task")):
            err = 100 * np.array([g.success_rate - g.ci_low, g.ci_high - g.success_rate])
            ax.errorbar(g[x], 100 * g.success_rate, yerr=err, color=color, linestyle=style, marker=marker,
                        capsize=2, label=f"{family} {execution}, {model}")
    axes[0].set(xscale="log", xlabel="world-model step evaluations per task", ylabel="success (%)", ylim=(0, 100))
    axes[1].set(xscale="log", xlabel="wall time per task (s)", ylim=(0, 100))
    for ax in axes:
        ax.xaxis.set_minor_formatter(plt.NullFormatter())  # only decade labels: minor ones overlap
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return axes


# --------------------------------------------------------------------------------------------
# Concept diagrams
# --------------------------------------------------------------------------------------------
def _box(ax, xy, text, color, width=1.5, height=0.62):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.04",
                                facecolor=color, edgecolor="0.2", alpha=0.9, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3)


def _arrow(ax, start, end, color="0.2", text=None, offset=(0, 0.18), rad=0.0, style="-|>"):
    ax.annotate("", xy=end, xytext=start, zorder=1,
                arrowprops=dict(arrowstyle=style, color=color, lw=1.6, shrinkA=4, shrinkB=4,
                                connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text, ha="center",
                va="center", fontsize=9, color=color)


def draw_unrolled_graph(ax=None, horizon_shown: int = 3):
    """The computation graph GBP differentiates: u_t -> a_t = a_max tanh(u_t) -> one model step per t,
    s_{t+1} = s_t + f(s_t, a_t), then the cost c(s_H, g). Forward edges grey; the backward pass (red)
    multiplies the step Jacobians J_t = d s_{t+1} / d s_t on its way back to every action."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 3.6))
    xs = [1.2 + 2.1 * t for t in range(horizon_shown + 1)]
    sub = lambda t: "H-1" if t == horizon_shown - 1 else str(t)  # noqa: E731
    for t, x in enumerate(xs):
        label = "$s_0$" if t == 0 else ("$\\hat s_H$" if t == horizon_shown else f"$\\hat s_{t}$")
        _box(ax, (x, 1.0), label, PALETTE["cyan"], width=0.9)
        if t < horizon_shown:
            _box(ax, (x + 1.05, 2.75), f"$u_{{{sub(t)}}}$", PALETTE["yellow"], width=0.8, height=0.45)
            _box(ax, (x + 1.05, 2.0), f"$a_{{{sub(t)}}}$", PALETTE["orange"], width=0.8, height=0.45)
            _arrow(ax, (x + 1.05, 2.52), (x + 1.05, 2.23), text="tanh", offset=(0.35, 0.0))
            _arrow(ax, (x + 0.45, 1.0), (xs[t + 1] - 0.45, 1.0), text="$f_\\theta$", offset=(-0.35, 0.17))
            _arrow(ax, (x + 1.05, 1.77), (xs[t + 1] - 0.5, 1.2))
            _arrow(ax, (xs[t + 1] - 0.2, 0.68), (x + 0.2, 0.68), color=PALETTE["red"], rad=-0.35,
                   text=f"$J_{{{sub(t) if t else 0}}}$" if t else "", offset=(0, -0.5))
    ax.text((xs[-2] + xs[-1]) / 2, 1.45, "…", ha="center", fontsize=12, color="0.4")
    _box(ax, (xs[-1] + 2.0, 1.0), "$c(\\hat s_H, g)$", PALETTE["red"], width=1.4)
    _arrow(ax, (xs[-1] + 0.45, 1.0), (xs[-1] + 1.3, 1.0))
    ax.text((xs[0] + xs[-1]) / 2, -0.25,
            "backward: $\\partial c/\\partial u_t = \\partial c/\\partial \\hat s_H \\; J_{H-1} \\cdots J_{t+1}"
            "\\; \\partial \\hat s_{t+1}/\\partial a_t \\; \\partial a_t/\\partial u_t$,  "
            "$J_t = I + \\partial f_\\theta/\\partial s$", ha="center", fontsize=10, color=PALETTE["red"])
    ax.set(xlim=(0.4, xs[-1] + 3.0), ylim=(-0.5, 3.1))
    ax.axis("off")
    return ax


def draw_planning_loop(ax=None):
    """The online (DAgger) loop of notebook 05: plan with the model -> execute in the real world ->
    add the visited transitions to the data -> finetune the model -> plan again."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.4))
    boxes = [((0.0, 1.3), "1) plan with the\nworld model (GBP)", PALETTE["orange"]),
             ((2.4, 0.0), "2) execute in the\nreal environment", PALETTE["green"]),
             ((0.0, -1.3), "3) aggregate: expert +\nall planner data", PALETTE["cyan"]),
             ((-2.4, 0.0), "4) finetune the\nworld model", PALETTE["purple"])]
    for xy, text, color in boxes:
        _box(ax, xy, text, color, width=2.0, height=0.8)
    edges = [((1.0, 1.3), (2.4, 0.45), "actions", (0.75, 0.25)),
             ((2.4, -0.45), (1.0, -1.3), "visited transitions\n(wall contacts)", (1.0, -0.3)),
             ((-1.0, -1.3), (-2.4, -0.45), "planner_share mix", (-1.0, -0.25)),
             ((-2.4, 0.45), (-1.0, 1.3), "new $f_\\theta$", (-0.7, 0.25))]
    for start, end, text, offset in edges:
        _arrow(ax, start, end, rad=0.25, text=text, offset=offset)
    ax.text(0, 0, "one round", ha="center", va="center", fontsize=10, color="0.4")
    ax.set(xlim=(-3.7, 3.7), ylim=(-1.9, 1.9))
    ax.axis("off")
    return ax
