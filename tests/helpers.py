"""Test helpers shared by several test files (fixtures live in conftest.py)."""
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from gbp_utils.widgets import controls

_PENDING = object()


class FreeSpace(nn.Module):
    """True dynamics without walls: s' = s + gain * a. The dummy parameter lets
    ``next(model.parameters())`` work and lets tests check that planning never touches parameters."""

    def __init__(self, gain: float = 1.0):
        super().__init__()
        self.gain = gain
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, s, a):
        return s + self.gain * a + 0 * self.dummy


def drive(ui, **values):
    """Set controls by keyword (each change re-runs the callback, as in a notebook) and return the
    UI's result. A stale result is detected with a sentinel set before the last change; the last
    change must redraw the explorer's live figure exactly once."""
    plt.close("all")  # keep only the figures of this call
    c = controls(ui)
    changed = [name for name, value in values.items() if c[name].value != value]
    for i, name in enumerate(changed):
        if i == len(changed) - 1:
            ui.result = _PENDING
            redraws = ui.live.redraws
        c[name].value = values[name]
        assert c[name].value == values[name], f"{name} did not accept {values[name]!r}"
    if not changed:
        ui.result = _PENDING
        redraws = ui.live.redraws
        ui.update()
    assert ui.result is not _PENDING, "the callback raised; see the logged exception"
    assert ui.live.redraws == redraws + 1, "one update must redraw the figure exactly once"
    return ui.result


def titles(ui) -> list[str]:
    """The titles of the explorer's live figure, after drawing it as the page would."""
    ui.figure.canvas.draw()
    return [ax.get_title() for ax in ui.figure.axes]


def text_problems(fig, gap: float = 3.0) -> list[str]:
    """What a reader sees wrong with a figure's text once drawn: a title, axis or colour-bar label, tick label or
    legend entry reaching past the figure's edge (cut off in the page), or two titles / axis labels closer than
    ``gap`` pixels (they read as one). Empty when the text is laid out well."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    edge = fig.bbox
    shown = lambda t: t.get_visible() and t.get_text().strip() != ""  # noqa: E731
    def drawn_tick_labels(axis):  # the labels of the ticks inside the view (the others are not drawn)
        lo, hi = sorted(axis.get_view_interval())
        slack = 1e-9 * (hi - lo)
        return [t for loc, t in zip(axis.get_majorticklocs(), axis.get_majorticklabels()) if lo - slack <= loc <= hi + slack]

    texts = []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *drawn_tick_labels(ax.xaxis), *drawn_tick_labels(ax.yaxis)]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    problems = []
    for t in filter(shown, texts):
        e = t.get_window_extent(renderer)
        if e.x0 < edge.x0 - 0.5 or e.x1 > edge.x1 + 0.5 or e.y0 < edge.y0 - 0.5 or e.y1 > edge.y1 + 0.5:
            problems.append(f"cut off by the figure's edge: {t.get_text()!r}")
    labels = [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if shown(t)]
    boxes = [t.get_window_extent(renderer).padded(gap / 2) for t in labels]
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if boxes[i].overlaps(boxes[j]):
                problems.append(f"{labels[i].get_text()!r} and {labels[j].get_text()!r} touch")
    return problems


def each_slider_extreme(ui, defaults: dict):
    """Drive every slider of ``ui`` (controls with a ``min``) to its minimum and its maximum, the other
    controls at ``defaults``; yield (settings, result) per run and reset the slider afterwards."""
    from gbp_utils.widgets import controls

    for name, w in controls(ui).items():
        if not hasattr(w, "min"):
            continue
        for value in (w.min, w.max):
            settings = {**defaults, name: value}
            yield settings, drive(ui, **settings)
        drive(ui, **defaults)


def tiny_world_model(seed: int = 0, hidden: int = 8):
    """A small untrained WorldModel (random weights, identity normaliser): cheap to plan through."""
    from gbp_utils.world_model import WorldModel, WorldModelConfig

    torch.manual_seed(seed)
    return WorldModel(WorldModelConfig(hidden=hidden, n_blocks=1))


class NaNRightOf(FreeSpace):
    """Free space, but the model returns NaN whenever the predicted x exceeds ``x_max``."""

    def __init__(self, x_max: float = 3.0):
        super().__init__()
        self.x_max = x_max

    def forward(self, s, a):
        nxt = super().forward(s, a)
        return torch.where(nxt[..., :1] > self.x_max, torch.full_like(nxt, math.nan), nxt)


class Recording(FreeSpace):
    """Free space that records every call (inputs and outputs) and counts backward rows. It declares
    itself differentiable, so GBPPlanner's construction-time probe adds no call to the record."""

    differentiable = True

    def __init__(self):
        super().__init__()
        self.calls = []
        self.backward_rows = 0

    def forward(self, s, a):
        out = super().forward(s, a)
        self.calls.append((s.detach().clone(), a.detach().clone(), out.detach().clone()))
        return _CountBackward.apply(out, self)


class _CountBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, owner):
        ctx.owner = owner
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        ctx.owner.backward_rows += grad.shape[0]
        return grad, None


def reachable_tasks(n: int, seed: int, reach: float = 2.0):
    """Random starts in the arena and goals within ``reach`` (L-inf) of them."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.rand(n, 2, generator=g) * 8 - 4
    goals = starts + (torch.rand(n, 2, generator=g) * 2 - 1) * reach
    return starts, goals


def result_row(model, planner, seed, successes, n_tasks=100, final=1.0, ratio=2.0, evals=1000.0, seconds=0.01):
    """One per-seed row of the final evaluation's table, as final_evaluation.run_final_evaluation writes it."""
    from gbp_utils.stats import wilson_interval

    lo, hi = wilson_interval(successes, n_tasks)
    return {"model": model, "planner": planner, "seed": seed, "split": "eval", "n_tasks": n_tasks, "successes": successes,
            "success_rate": successes / n_tasks, "ci_low": lo, "ci_high": hi, "mean_final_distance": final,
            "wm_error_ratio": ratio, "wm_evals_per_task": evals, "seconds_per_task": seconds}


def result_table(*rows):
    """Rows of ``result_row`` as the final evaluation's DataFrame (final_evaluation.COLUMNS)."""
    import pandas as pd

    from gbp_utils.final_evaluation import COLUMNS

    return pd.DataFrame(list(rows), columns=COLUMNS)



def result_outcomes(df):
    """Per-task outcomes matching a ``result_table``: in each row's run, the first ``successes`` tasks
    succeed (so a task's difficulty is shared by the seeds), every final distance is the row's mean."""
    import pandas as pd

    from gbp_utils.final_evaluation import OUTCOME_COLUMNS

    rows = [{"model": r.model, "planner": r.planner, "seed": r.seed, "split": r.split, "task": t,
             "success": int(t < r.successes), "final_distance": r.mean_final_distance}
            for r in df.itertuples() for t in range(r.n_tasks)]
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)


def micro_presets(**changes):
    """Fast presets shrunk further — tiny data, short training, one-round online finetuning and planners of a
    few iterations — so models of every kind and whole studies run in seconds; ``changes`` replace fields."""
    import dataclasses

    import gbp_utils
    from gbp_utils.control import OPEN_LOOP
    from gbp_utils.planners import GBPConfig
    from gbp_utils.sampling import CEMConfig
    P = gbp_utils.presets(fast=True)
    adam = GBPConfig(restarts=2, iterations=3, warm_iterations=1, lr=0.03)
    cem = CEMConfig(population=24, elites=4, iterations=2, warm_iterations=1)
    return dataclasses.replace(
        P, expert_data=dataclasses.replace(P.expert_data, n_episodes=30),
        train=dataclasses.replace(P.train, epochs=2),
        online=dataclasses.replace(P.online, rounds=1, tasks_per_round=3, executions=(OPEN_LOOP,), epochs_per_round=1),
        gbp=dataclasses.replace(adam, restarts=1), adversarial_finetune=dataclasses.replace(P.adversarial_finetune, epochs=1),
        final_planners={**P.final_planners, "Adam": adam, "CEM": cem}, **changes)


def fake_outcomes(rates: dict, groups, column: str = "world", n_tasks: int = 200, seeds=(0, 1, 2), kinds=None):
    """Per-task outcomes of an appendix study's model kinds (default notebook 10's four) x four planners, with the
    given success rate per (group, model, planner) (default 0.3); ``column`` names the group column ("world" in
    notebook 10, "observation" in notebook 09)."""
    import pandas as pd

    from gbp_utils import final_evaluation as FE
    rng = torch.Generator().manual_seed(0)
    rows = []
    for group in groups:
        for kind in kinds or FE.APPENDIX_KINDS:
            for planner in ("Adam open-loop", "Adam MPC", "CEM open-loop", "CEM MPC"):
                p = rates.get((group, kind, planner), 0.3)
                for seed in seeds:
                    ok = (torch.rand(n_tasks, generator=rng) < p).int().tolist()
                    rows += [{column: group, "model": kind, "planner": planner, "seed": seed, "split": "test",
                              "task": t, "success": ok[t], "final_distance": 0.0} for t in range(n_tasks)]
    return pd.DataFrame(rows, columns=[column] + FE.OUTCOME_COLUMNS)
