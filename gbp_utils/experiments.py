"""Cached experiment runs: (world model, planner config, execution mode, tasks) -> Episodes.

Planning 300 tasks with MPC costs about a minute on two CPU cores, and notebooks 05-08 evaluate the same
model/planner pairs again and again. ``run`` stores every run's executed episodes (with the compute it
measured when it ran) in data/, keyed by a fingerprint of the model's weights, the planner config, the
execution mode and the exact tasks, so a later notebook (or a re-run) reuses them; anything that
changes any of those inputs changes the key, so a stale result is never reused.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from . import cache
from .control import Episodes, run_mpc, run_open_loop
from .env import TaskSet, WallConfig, WallEnv
from .planners import GBPConfig, GBPPlanner

_MODES = ("open-loop", "mpc")


@dataclass(frozen=True)
class Execution:
    """How plans meet the real world: "open-loop" (plan once) or "mpc" (replan every k steps)."""

    mode: str = "open-loop"
    replan_every: int = 3  # MPC only

    def __post_init__(self):
        if self.mode not in _MODES:
            raise ValueError(f"Execution.mode must be one of {_MODES}; got {self.mode!r}")
        if self.replan_every < 1:
            raise ValueError(f"Execution.replan_every must be >= 1; got {self.replan_every}")

    @property
    def label(self) -> str:
        return "open-loop" if self.mode == "open-loop" else f"MPC/{self.replan_every}"


OPEN_LOOP = Execution("open-loop")
MPC = Execution("mpc", 3)


def fingerprint(*tensors_or_modules) -> str:
    """12 hex characters identifying the exact values (and dtypes/shapes) of tensors or a module's
    parameters and buffers. Two models with bit-identical weights get the same fingerprint."""
    h = hashlib.sha256()
    for obj in tensors_or_modules:
        items = (sorted(obj.state_dict().items()) if isinstance(obj, torch.nn.Module) else [("", obj)])
        for name, t in items:
            t = t.detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()[:12]


def model_identity(world_model) -> dict:
    """What a model's weights do not say: its class and its config (a WorldModel's architecture and
    activation; the true dynamics' WallConfig). Part of every run's cache key, next to the weights."""
    config = getattr(world_model, "config", None)
    if config is None and hasattr(world_model, "env"):
        config = getattr(world_model.env, "config", None)
    return {"model_class": type(world_model).__qualname__, "model_config": config}


def make_planner(world_model, planner_config, action_bound: float):
    """The planner object for a config: GBPConfig -> GBPPlanner; CEM/MPPI/GD+CEM configs -> theirs."""
    if isinstance(planner_config, GBPConfig):
        return GBPPlanner(world_model, planner_config, action_bound)
    from . import sampling  # imported lazily: sampling planners are optional for GBP-only notebooks
    by_config = {cls.config_class: cls for cls in sampling.PLANNERS.values()}
    # the most specific config class wins: a GDCEMConfig is a CEMConfig too
    for config_cls in type(planner_config).__mro__:
        if config_cls in by_config:
            return by_config[config_cls](world_model, planner_config, action_bound)
    raise TypeError(f"planner_config must be a GBPConfig, CEMConfig, MPPIConfig or GDCEMConfig; "
                    f"got {type(planner_config).__name__}")


def _payload(ep: Episodes) -> dict:
    return {"states": ep.states.cpu(), "actions": ep.actions.cpu(),
            "first_plan": None if ep.first_plan is None else ep.first_plan.cpu(),
            "wm_forward": ep.wm_forward.cpu(), "wm_backward": ep.wm_backward.cpu(),
            "seconds": float(ep.seconds), "diverged": ep.diverged.cpu(), "n_plans": int(ep.n_plans)}


def _validate(payload: dict, n: int) -> None:
    for key in ("states", "actions", "wm_forward", "wm_backward", "diverged"):
        if key not in payload or payload[key].shape[0] != n:
            raise cache.DataFileError(f"cached episodes lack {key!r} for {n} tasks; delete the file")


def run(world_model, planner_config, tasks: TaskSet, execution: Execution, wall: WallConfig,
        use_cache: bool = True) -> Episodes:
    """Plan and execute every task (batched), or load the identical run from data/.

    ``seconds`` in the returned Episodes is the wall time measured when the run was computed.
    """
    if not isinstance(execution, Execution):
        raise TypeError(f"execution must be an experiments.Execution (e.g. experiments.MPC); got {execution!r}")
    env = WallEnv(wall)
    planner = make_planner(world_model, planner_config, wall.max_step)

    def compute() -> dict:
        if execution.mode == "open-loop":
            return _payload(run_open_loop(env, planner, tasks))
        return _payload(run_mpc(env, planner, tasks, replan_every=execution.replan_every))

    if use_cache:
        config = {"model": fingerprint(world_model), **model_identity(world_model),
                  "planner": type(planner_config).__name__,
                  "planner_config": planner_config, "execution": execution, "wall": wall,
                  "tasks": fingerprint(tasks.starts, tasks.goals)}
        path = cache.data_dir() / f"episodes-{cache.config_hash(config)}.pt"
        payload = cache.load_or_create(path, "episodes", config, compute, lambda p: _validate(p, len(tasks)))
    else:
        payload = compute()
    device = tasks.starts.device
    first = payload["first_plan"]
    return Episodes(payload["states"].to(device), payload["actions"].to(device),
                    None if first is None else first.to(device), payload["wm_forward"], payload["wm_backward"],
                    payload["seconds"], payload["diverged"].to(device), payload["n_plans"])


def evaluate_model(name: str, world_model, planner_config, tasks: TaskSet, wall: WallConfig,
                   reference_error: float | None = None, executions=(OPEN_LOOP, MPC), use_cache: bool = True
                   ) -> dict:
    """Run (or load) one model/planner pair under each execution mode and score it.

    Returns {execution label: evaluation.EvalReport} with report names "<name>, <label>".
    ``reference_error`` is the model's own one-step error on held-out expert transitions, so the
    reports' wm_error_ratio is its train-test gap.
    """
    from .evaluation import evaluate
    out = {}
    for ex in executions:
        episodes = run(world_model, planner_config, tasks, ex, wall, use_cache)
        out[ex.label] = evaluate(f"{name}, {ex.label}", episodes, tasks, wall, world_model, reference_error)
    return out


def compute_curve(models: dict, planners: dict, tasks: TaskSet, wall: WallConfig, executions=(OPEN_LOOP,)):
    """Success against compute: every model x planner budget x execution mode on ``tasks``.

    Args:
        models: {model name: world model}.
        planners: {(family, budget label): planner config}, e.g. {("CEM", "300x10"): CEMConfig(...)}.
    Returns a pandas DataFrame, one row per run: model, family, budget, execution, success_rate,
    ci_low, ci_high, wm_evals_per_task, wall_s_per_task.
    """
    import pandas as pd
    rows = []
    for mname, model in models.items():
        for (family, budget), pcfg in planners.items():
            reports = evaluate_model(f"{mname} {family} {budget}", model, pcfg, tasks, wall, executions=executions)
            for label, r in reports.items():
                rows.append({"model": mname, "family": family, "budget": budget, "execution": label,
                             "success_rate": r.success_rate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                             "wm_evals_per_task": r.wm_evals_per_task, "wall_s_per_task": r.wall_s_per_task})
    return pd.DataFrame(rows)
