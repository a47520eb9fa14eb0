"""Cached experiment runs: (world model, planner config, execution mode, tasks) -> Episodes.

Planning 300 tasks with MPC costs about a minute on two CPU cores, and notebooks 05-08 evaluate the same
model/planner pairs again and again. ``run`` stores every run's executed episodes (with the compute it
measured when it ran) in data/, keyed by a fingerprint of the model's weights, the planner config, the
execution mode and the exact tasks, so a later notebook (or a re-run) reuses them; anything that
changes any of those inputs changes the key, so a stale result is never reused.
"""
from __future__ import annotations

import hashlib

import torch

from . import cache
from .control import Episodes, Execution, execute, run_controller
from .env import TaskSet, WallConfig
from .evaluation import evaluate
from .planners import make_planner
from .worlds import World

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
        config = getattr(world_model.env, "wall", None)
    return {"model_class": type(world_model).__qualname__, "model_config": config}


def _payload(ep: Episodes) -> dict:
    # the file format keeps the key "first_plan" for Episodes.first_plan_states
    return {"states": ep.states.cpu(), "actions": ep.actions.cpu(),
            "first_plan": None if ep.first_plan_states is None else ep.first_plan_states.cpu(),
            "wm_forward": ep.wm_forward.cpu(), "wm_backward": ep.wm_backward.cpu(),
            "seconds": float(ep.seconds), "diverged": ep.diverged.cpu(), "n_plans": int(ep.n_plans)}


def _validate(payload: dict, n: int) -> None:
    for key in ("states", "actions", "wm_forward", "wm_backward", "diverged"):
        if key not in payload or payload[key].shape[0] != n:
            raise cache.DataFileError(f"cached episodes lack {key!r} for {n} tasks; delete the file")


def _episodes(payload: dict, device) -> Episodes:
    first = payload["first_plan"]
    return Episodes(payload["states"].to(device), payload["actions"].to(device),
                    None if first is None else first.to(device), payload["wm_forward"], payload["wm_backward"],
                    payload["seconds"], payload["diverged"].to(device), payload["n_plans"])


def _load_or_run(config: dict, compute, n_tasks: int) -> dict:
    """The episodes payload cached under data/episodes-<hash of config>.pt, computed if missing or bad."""
    path = cache.data_dir() / f"episodes-{cache.config_hash(config)}.pt"
    return cache.load_or_create(path, "episodes", config, compute, lambda p: _validate(p, n_tasks))


def _world(wall) -> tuple:
    """(the ``worlds.World``, its cache entry) of a ``WallConfig`` or a World: the point world is cached under
    "wall" as always, notebook 10's worlds under "world"."""
    world = World.of(wall)
    return world, ({"wall": world.wall} if world.name == "point" else {"world": world})


def run(world_model, planner_config, tasks: TaskSet, execution: Execution, wall: WallConfig,
        use_cache: bool = True) -> Episodes:
    """Plan and execute every task (batched), or load the identical run from data/. ``wall``: the point world's
    ``WallConfig``, or a ``worlds.World`` (its dynamics, action bound and state layout).

    ``seconds`` in the returned Episodes is the wall-clock time measured when the run was computed.
    """
    if not isinstance(execution, Execution):
        raise TypeError(f"execution must be a control.Execution (e.g. presets().mpc); got {execution!r}")
    world, where = _world(wall)
    env = world.env
    planner = make_planner(world_model, planner_config, world.action_bound, world.moves_positions)

    def compute() -> dict:
        return _payload(execute(env, planner, tasks, execution))

    if use_cache:
        config = {"model": fingerprint(world_model), **model_identity(world_model),
                  "planner": type(planner_config).__name__,
                  "planner_config": planner_config, "execution": execution, **where,
                  "tasks": fingerprint(tasks.starts, tasks.goals)}
        payload = _load_or_run(config, compute, len(tasks))
    else:
        payload = compute()
    return _episodes(payload, tasks.starts.device)


def run_reference(name: str, policy, tasks: TaskSet, wall: WallConfig, settings: dict | None = None,
                  use_cache: bool = True) -> Episodes:
    """A reference controller (``policies``: scripted expert, straight line, oracle) run on ``tasks``,
    cached like ``run`` under ``name`` and ``settings`` (which together must identify the policy), so
    that its measured seconds, like every planner's, stay those of the run that computed it."""
    world, where = _world(wall)

    def compute() -> dict:
        return _payload(run_controller(world.env, policy, tasks))

    if not use_cache:
        return _episodes(compute(), tasks.starts.device)
    config = {"reference": name, "settings": settings or {}, **where,
              "tasks": fingerprint(tasks.starts, tasks.goals)}
    return _episodes(_load_or_run(config, compute, len(tasks)), tasks.starts.device)


def evaluate_model(name: str, world_model, planner_config, tasks: TaskSet, wall: WallConfig,
                   reference_error: float | None, executions, use_cache: bool = True) -> dict:
    """Run (or load) one model/planner pair under each execution (``control.Execution``) and score it.

    Returns {execution label: evaluation.EvalReport} with report names "<name>, <label>".
    ``reference_error`` is the model's own one-step error on held-out expert transitions
    (``world_model.reference_error``), so the reports' wm_error_ratio is its train-test gap; None
    leaves the ratio undefined (nan), e.g. for the true dynamics.
    """
    out = {}
    for ex in executions:
        episodes = run(world_model, planner_config, tasks, ex, wall, use_cache)
        out[ex.label] = evaluate(f"{name}, {ex.label}", episodes, tasks, wall, world_model, reference_error)
    return out


def compute_curve(models: dict, planners: dict, tasks: TaskSet, wall: WallConfig, executions):
    """Success against compute: every model x planner budget x execution mode on ``tasks``.

    Args:
        models: {model name: world model}.
        planners: {(family, budget label): planner config}, e.g. {("CEM", "300x10"): CEMConfig(...)}.
    Returns a pandas DataFrame, one row per run: model, family, budget, execution, success_rate,
    ci_low, ci_high, wm_evals_per_task, seconds_per_task.
    """
    import pandas as pd
    rows = []
    for mname, model in models.items():
        for (family, budget), pcfg in planners.items():
            reports = evaluate_model(f"{mname} {family} {budget}", model, pcfg, tasks, wall, None, executions)
            for label, r in reports.items():
                rows.append({"model": mname, "family": family, "budget": budget, "execution": label,
                             "success_rate": r.success_rate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                             "wm_evals_per_task": r.wm_evals_per_task, "seconds_per_task": r.seconds_per_task})
    return pd.DataFrame(rows)
