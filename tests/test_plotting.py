"""Tests for gbp_utils.plotting: success_bars and plot_success_vs_compute (what they draw, read back from
the axes)."""

import math

from matplotlib.container import BarContainer, ErrorbarContainer
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from gbp_utils.evaluation import EvalReport
from gbp_utils.plotting import plot_success_vs_compute, success_bars
from gbp_utils.stats import wilson_interval


# --------------------------------------------------------------------------------------------
# plotting.success_bars and plot_success_vs_compute
# --------------------------------------------------------------------------------------------
def report(name, successes, n=50):
    lo, hi = wilson_interval(successes, n)
    return EvalReport(name=name, n_tasks=n, successes=successes, success_rate=successes / n, ci_low=lo, ci_high=hi,
                      mean_final_distance=1.0, stuck_at_wall=0.0, wm_error=math.nan, wm_error_ratio=math.nan,
                      wm_forward_per_task=0.0, wm_backward_per_task=0.0, wm_evals_per_task=0.0,
                      seconds_per_task=0.0, n_diverged=0)


def test_success_bars_draws_one_bar_container_per_series():
    table = {"baseline": {"open-loop": report("a", 10), "MPC": report("b", 20)},
             "online": {"open-loop": report("c", 30), "MPC": report("d", 40), "CEM": report("e", 50)}}
    fig, ax = plt.subplots()
    assert success_bars(ax, table, title="t") is ax
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in bars] == ["open-loop", "MPC", "CEM"]
    assert [len(c) for c in bars] == [2, 2, 1], "a series only gets bars in the groups that hold it"
    heights = [[round(p.get_height(), 6) for p in c] for c in bars]
    assert heights == [[20.0, 60.0], [40.0, 80.0], [100.0]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["baseline", "online"]
    assert [t.get_text() for t in ax.texts] == ["20", "60", "40", "80", "100"]
    assert ax.get_ylim() == (0, 100) and ax.get_title() == "t"
    _, ax2 = plt.subplots()
    success_bars(ax2, table, annotate=False)
    assert not ax2.texts


@pytest.mark.parametrize("table", [{}, {"baseline": {}}])
def test_success_bars_rejects_an_empty_table(table):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="at least one group with one report"):
        success_bars(ax, table)


def curve_frame():
    rows = []
    for model in ("baseline", "online"):
        for family, evals in (("GBP", (1e3, 5e3)), ("CEM", (1e4, 1e5))):
            for budget, e in zip(("small", "large"), evals):
                rate = 0.5 if budget == "small" else 0.7
                rows.append({"model": model, "family": family, "budget": budget, "execution": "open-loop",
                             "success_rate": rate, "ci_low": rate - 0.1, "ci_high": rate + 0.1,
                             "wm_evals_per_task": e, "seconds_per_task": e * 1e-6})
    return pd.DataFrame(rows)


def test_plot_success_vs_compute_draws_one_line_per_model_family_and_execution():
    curve = curve_frame()
    fig, axes = plt.subplots(1, 2)
    assert plot_success_vs_compute(axes, curve) is axes
    for ax, column in zip(axes, ("wm_evals_per_task", "seconds_per_task")):
        lines = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(lines) == 4 and ax.get_xscale() == "log"
        for c, (_, g) in zip(lines, curve.groupby(["model", "family", "execution"], sort=False)):
            data_line = c.lines[0]
            assert list(data_line.get_xdata()) == list(g[column])
            assert list(data_line.get_ydata()) == pytest.approx(list(100 * g.success_rate))
            assert data_line.get_linestyle() == ("-" if g.family.iloc[0] == "GBP" else "--")
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert labels == ["GBP open-loop, baseline", "CEM open-loop, baseline", "GBP open-loop, online",
                      "CEM open-loop, online"]


@pytest.mark.parametrize("n_axes", [1, 3])
def test_plot_success_vs_compute_needs_two_axes(n_axes):
    _, axes = plt.subplots(1, n_axes, squeeze=False)
    with pytest.raises(ValueError, match="needs two axes"):
        plot_success_vs_compute(list(axes[0]), curve_frame())


# --------------------------------------------------------------------------------------------
# The series' palette and the two concept diagrams
# --------------------------------------------------------------------------------------------
def test_palette_is_the_colourblind_palette_and_the_default_cycle():
    import matplotlib as mpl
    import seaborn as sns

    import gbp_utils
    from gbp_utils.plotting import PALETTE

    assert list(PALETTE.values()) == sns.color_palette("colorblind", 10).as_hex()
    gbp_utils.setup()
    cycle = [mpl.colors.to_hex(c["color"]) for c in mpl.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == [PALETTE["blue"], PALETTE["orange"], PALETTE["green"]]


def test_plotting_module_uses_only_the_palette():
    from pathlib import Path

    import gbp_utils.plotting
    assert '"tab:' not in Path(gbp_utils.plotting.__file__).read_text()


def test_concept_diagrams_draw_on_the_given_axes():
    from gbp_utils.plotting import draw_planning_loop, draw_unrolled_graph

    for draw, expected in ((draw_unrolled_graph, "c(\\hat s_H, g)"), (draw_planning_loop, "execute in the")):
        fig, ax = plt.subplots()
        assert draw(ax) is ax
        texts = " ".join(t.get_text() for t in ax.texts)
        assert expected in texts and len(ax.patches) >= 4


def test_draw_world_draws_the_walls_of_the_state():
    import torch

    from gbp_utils.env import WallConfig
    from gbp_utils.layouts import LayoutConfig
    from gbp_utils.momentum import MomentumConfig
    from gbp_utils.plotting import draw_world
    from gbp_utils.worlds import World
    two = World(layouts=LayoutConfig(second_wall_x=2.5))
    fig, (a, b) = plt.subplots(1, 2)
    draw_world(a, two, torch.tensor([-3.0, 0.0, 1.0, 1.0, -2.0, 0.5]), title="two walls")
    pieces = sorted((p.get_x(), p.get_y(), p.get_height()) for p in a.patches[1:])
    assert len(pieces) == 4 and a.get_title() == "two walls"
    assert pieces[0][1] + pieces[0][2] == pytest.approx(0.5) and pieces[1][1] == pytest.approx(1.5)  # door 1: [0.5, 1.5]
    assert pieces[2][1] + pieces[2][2] == pytest.approx(-2.25) and pieces[3][1] == pytest.approx(-1.75)  # door 2
    draw_world(b, World(momentum=MomentumConfig()), torch.zeros(4))
    assert len(b.patches) == 1 + len(WallConfig().wall_boxes())
    plt.close(fig)
