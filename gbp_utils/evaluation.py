"""Scoring executed runs: success with its 95% Wilson interval, final distance, failures stuck at the
wall, the world model's error where the planner actually went (the train-test gap) and compute per
task. The analyses that explain the numbers (landscapes, push maps, gap curves) live in ``analysis``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .control import Episodes
from .env import TaskSet, WallConfig
from .stats import wilson_interval
from .world_model import one_step_error
from .worlds import World


def model_evals(wm_forward, wm_backward):
    """World-model step evaluations in forward-pass equivalents: forward + 2 x backward (a backward
    step through the model costs about two forward steps). Works on numbers and tensors alike."""
    return wm_forward + 2 * wm_backward


@dataclass
class EvalReport:
    """One planner/model pair on one task set. Compute columns are per task."""

    name: str
    n_tasks: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_final_distance: float
    stuck_at_wall: float  # fraction of *failures* whose final state presses against a wall face
    wm_error: float  # mean one-step model error along the executed transitions (nan without a model)
    wm_error_ratio: float  # wm_error / model error on held-out expert transitions (nan if not given)
    wm_forward_per_task: float
    wm_backward_per_task: float
    wm_evals_per_task: float  # model_evals(forward, backward): a backward step costs about two forwards
    seconds_per_task: float  # wall-clock time of the whole batch / n_tasks
    n_diverged: int

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(name: str, episodes: Episodes, tasks: TaskSet, wall: WallConfig,
             world_model: torch.nn.Module | None = None, reference_error: float | None = None) -> EvalReport:
    """Score executed episodes. ``reference_error``: the model's mean one-step error on held-out
    expert transitions, so that ``wm_error_ratio`` measures the train-test gap of this planner. ``wall``: the
    point world's ``WallConfig`` or a ``worlds.World`` (success, distances and wall contact on positions)."""
    world = World.of(wall)
    final, goals = world.positions(episodes.final_states), world.positions(tasks.goals)
    ok, at_wall = world.success(final, goals), world.touching_wall(episodes.final_states)
    n, k = len(tasks), int(ok.sum())
    lo, hi = wilson_interval(k, n)
    failures = ~ok
    stuck = at_wall & failures
    wm_error = float(one_step_error(world_model, episodes.as_dataset()).mean()) if world_model is not None else math.nan
    ratio = wm_error / reference_error if reference_error else math.nan
    fwd = float(episodes.wm_forward.float().mean())
    bwd = float(episodes.wm_backward.float().mean())
    return EvalReport(
        name=name, n_tasks=n, successes=k, success_rate=k / n, ci_low=lo, ci_high=hi,
        mean_final_distance=float((final - goals).norm(dim=-1).mean()),
        stuck_at_wall=float(stuck.sum()) / max(1, int(failures.sum())),
        wm_error=wm_error, wm_error_ratio=ratio,
        wm_forward_per_task=fwd, wm_backward_per_task=bwd, wm_evals_per_task=model_evals(fwd, bwd),
        seconds_per_task=episodes.seconds / n, n_diverged=int(episodes.diverged.sum()),
    )


def reports_frame(reports: list[EvalReport]):
    """A pandas DataFrame, one row per report, for display in notebooks."""
    import pandas as pd
    return pd.DataFrame([r.as_dict() for r in reports]).set_index("name")


def format_report(r: EvalReport) -> str:
    return (f"{r.name}: success {100 * r.success_rate:.1f}% [{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}] "
            f"({r.successes}/{r.n_tasks}), final dist {r.mean_final_distance:.2f}, "
            f"stuck at wall {100 * r.stuck_at_wall:.0f}% of failures, "
            f"model error x{r.wm_error_ratio:.1f}, {r.wm_evals_per_task:.0f} model evals/task, "
            f"{1e3 * r.seconds_per_task:.1f} ms/task")
