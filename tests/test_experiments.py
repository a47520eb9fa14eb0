"""Tests for gbp_utils.experiments: Execution, fingerprint, make_planner and the cached runs behind
notebooks 05-08 (run, evaluate_model, compute_curve).

Runs plan a handful of tasks with a tiny CEM on the true dynamics (``sampling.TrueDynamicsModel``) or
a tiny GBP through a small random world model, so every test takes well under a second.
"""

import dataclasses

import pytest
from helpers import FreeSpace, tiny_world_model
import torch

from gbp_utils import cache, experiments
from gbp_utils.control import Episodes
from gbp_utils.env import WallConfig, sample_tasks, success
from gbp_utils.evaluation import EvalReport, evaluate
from gbp_utils.experiments import MPC, OPEN_LOOP, Execution, compute_curve, evaluate_model, fingerprint, make_planner
from gbp_utils.planners import GBPConfig, GBPPlanner
from gbp_utils.sampling import (CEMConfig, CEMPlanner, GDCEMConfig, GDCEMPlanner, MPPIConfig, MPPIPlanner,
                                TrueDynamicsModel)

WALL = WallConfig()
CEM = CEMConfig(population=20, elites=4, iterations=2)
GBP = GBPConfig(restarts=2, iterations=5, warm_iterations=2)
EPISODE_FIELDS = ("states", "actions", "first_plan", "wm_forward", "wm_backward", "diverged")


@pytest.fixture(scope="module")
def tasks():
    return sample_tasks(4, 0, "eval", WALL)


@pytest.fixture(scope="module")
def true_model():
    return TrueDynamicsModel(WALL)


class Counter:
    """Wraps an execution function of ``experiments`` and counts how often the runs are computed."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


@pytest.fixture
def computed(monkeypatch):
    """{mode: Counter} of the open-loop and MPC executions that ``experiments.run`` calls."""
    counters = {"open-loop": Counter(experiments.run_open_loop), "mpc": Counter(experiments.run_mpc)}
    monkeypatch.setattr(experiments, "run_open_loop", counters["open-loop"])
    monkeypatch.setattr(experiments, "run_mpc", counters["mpc"])
    return counters


def cached_files(folder):
    return sorted(folder.glob("episodes-*.pt")) if folder.exists() else []


def assert_same_episodes(a: Episodes, b: Episodes):
    for name in EPISODE_FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.seconds, a.n_plans) == (b.seconds, b.n_plans)


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------
def test_execution_rejects_a_bad_mode_and_replan_every_naming_the_value():
    with pytest.raises(ValueError, match=r"Execution.mode must be one of \('open-loop', 'mpc'\); got 'closed-loop'"):
        Execution("closed-loop")
    with pytest.raises(ValueError, match="Execution.replan_every must be >= 1; got 0"):
        Execution("mpc", 0)


def test_execution_labels():
    assert OPEN_LOOP.label == "open-loop" and Execution("open-loop", 7).label == "open-loop"
    assert MPC.label == "MPC/3" and (MPC.mode, MPC.replan_every) == ("mpc", 3)
    assert Execution("mpc", 1).label == "MPC/1" and Execution("mpc", 10).label == "MPC/10"


# --------------------------------------------------------------------------------------------
# fingerprint
# --------------------------------------------------------------------------------------------
def test_fingerprint_is_equal_for_identical_weights_and_changes_with_any_weight():
    a, b = tiny_world_model(0), tiny_world_model(1)
    fa = fingerprint(a)
    assert len(fa) == 12 and int(fa, 16) >= 0
    assert fingerprint(b) != fa
    b.load_state_dict(a.state_dict())
    assert fingerprint(b) == fa, "bit-identical weights, different objects"
    with torch.no_grad():
        b.out.bias[0] += 1e-6
    assert fingerprint(b) != fa
    with torch.no_grad():
        b.out.bias[0] = a.out.bias[0]
        b.delta_std[1] = 2.0  # buffers count too
    assert fingerprint(b) != fa


def test_fingerprint_of_tensors_depends_on_values_dtype_shape_and_order():
    x = torch.arange(6.0).reshape(2, 3)
    y = torch.ones(3)
    assert fingerprint(x) == fingerprint(x.clone())
    assert fingerprint(x.T) == fingerprint(x.T.contiguous()), "memory layout must not matter"
    different = [x + 1, x.double(), x.reshape(3, 2), x.flatten()]
    prints = {fingerprint(t) for t in different}
    assert len(prints) == len(different) and fingerprint(x) not in prints
    assert fingerprint(x, y) == fingerprint(x.clone(), y.clone())
    assert fingerprint(x, y) != fingerprint(y, x)
    assert fingerprint(x, y) != fingerprint(x)


# --------------------------------------------------------------------------------------------
# make_planner
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, planner_cls", [
    (GBPConfig(), GBPPlanner),
    (CEMConfig(), CEMPlanner),
    (GDCEMConfig(), GDCEMPlanner),  # a GDCEMConfig is a CEMConfig too: it must not get a plain CEMPlanner
    (MPPIConfig(), MPPIPlanner),
])
def test_make_planner_picks_the_planner_of_the_config(config, planner_cls):
    model = FreeSpace()
    planner = make_planner(model, config, 0.3)
    assert type(planner) is planner_cls
    assert planner.config is config and planner.action_bound == 0.3


@pytest.mark.parametrize("config, name", [({"iterations": 10}, "dict"), (None, "NoneType"), ("cem", "str")])
def test_make_planner_rejects_other_types_naming_them(config, name):
    with pytest.raises(TypeError, match=rf"planner_config must be a GBPConfig, .*; got {name}$"):
        make_planner(FreeSpace(), config, 0.5)


# --------------------------------------------------------------------------------------------
# run: cached in data/
# --------------------------------------------------------------------------------------------
def test_second_run_loads_identical_episodes_from_the_cache(true_model, tasks, computed, data_dir):
    first = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    assert computed["open-loop"].calls == 1 and len(cached_files(data_dir)) == 1
    second = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    assert computed["open-loop"].calls == 1, "the second run must come from the cache"
    assert len(cached_files(data_dir)) == 1
    assert_same_episodes(first, second)
    # The cached run is a real CEM run: the planner's compute and one plan per task.
    assert first.states.shape == (4, WALL.max_steps + 1, 2) and first.n_plans == 1
    expected_forward = (CEM.iterations * CEM.population + 1) * WALL.max_steps + WALL.max_steps
    assert (first.wm_forward == expected_forward).all() and (first.wm_backward == 0).all()


def test_a_new_model_config_execution_or_task_set_is_a_new_run(true_model, tasks, computed, data_dir):
    experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    variants = [
        (true_model, dataclasses.replace(CEM, seed=1), tasks, OPEN_LOOP),
        (true_model, CEMConfig(population=20, elites=4, iterations=3), tasks, OPEN_LOOP),
        (true_model, CEM, tasks[:3], OPEN_LOOP),
        (true_model, CEM, sample_tasks(4, 1, "eval", WALL), OPEN_LOOP),
        (true_model, CEM, dataclasses.replace(tasks, goals=tasks.goals.flip(0)), OPEN_LOOP),  # same starts
        (true_model, CEM, tasks, Execution("mpc", 10)),
        (true_model, CEM, tasks, Execution("mpc", 15)),
        (tiny_world_model(0), CEM, tasks, OPEN_LOOP),
    ]
    for i, (model, cfg, task_set, execution) in enumerate(variants, start=2):
        ep = experiments.run(model, cfg, task_set, execution, WALL)
        assert len(cached_files(data_dir)) == i, f"variant {i - 2} reused another run's file"
        assert ep.states.shape[0] == len(task_set)
    assert computed["open-loop"].calls == 7 and computed["mpc"].calls == 2
    # Every variant is now cached.
    for model, cfg, task_set, execution in variants:
        experiments.run(model, cfg, task_set, execution, WALL)
    assert computed["open-loop"].calls == 7 and computed["mpc"].calls == 2


def test_models_with_equal_weights_but_different_dynamics_get_different_runs(true_model, tasks, computed):
    free = FreeSpace()  # no walls; its state_dict equals TrueDynamicsModel's: {"dummy": tensor(0.)}
    assert fingerprint(free) == fingerprint(true_model)
    real = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    imagined = experiments.run(free, CEM, tasks, OPEN_LOOP, WALL)
    assert computed["open-loop"].calls == 2, "the free-space run was loaded from the true-dynamics run's file"
    assert not torch.equal(real.first_plan, imagined.first_plan)


def test_mpc_run_replans_and_is_cached(true_model, tasks, computed):
    ex = Execution("mpc", 10)
    first = experiments.run(true_model, CEM, tasks, ex, WALL)
    second = experiments.run(true_model, CEM, tasks, ex, WALL)
    assert computed["mpc"].calls == 1 and computed["open-loop"].calls == 0
    assert first.n_plans == 3  # 30 steps, replanning every 10
    assert_same_episodes(first, second)


def test_use_cache_false_computes_every_time_and_writes_nothing(true_model, tasks, computed, data_dir):
    a = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL, use_cache=False)
    b = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL, use_cache=False)
    assert computed["open-loop"].calls == 2
    assert not data_dir.exists() or not any(data_dir.iterdir())
    assert torch.equal(a.states, b.states), "CEM is seeded: the same run twice gives the same episodes"


@pytest.mark.parametrize("content", [b"not a torch file", b""])
def test_a_corrupt_cache_file_is_regenerated_with_a_warning(true_model, tasks, computed, data_dir, content):
    first = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    path, = cached_files(data_dir)
    path.write_bytes(content)
    with pytest.warns(UserWarning, match=rf"Regenerating {path.name}: .*corrupt"):
        again = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    assert computed["open-loop"].calls == 2
    assert torch.equal(again.states, first.states)
    experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)  # the rewritten file is valid
    assert computed["open-loop"].calls == 2


def test_a_cache_file_with_missing_tasks_is_regenerated(true_model, tasks, computed, data_dir):
    experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    path, = cached_files(data_dir)
    payload = torch.load(path, weights_only=True)
    payload["states"] = payload["states"][:2]  # truncated: only 2 of the 4 tasks
    cache.atomic_save(payload, path)
    with pytest.warns(UserWarning, match="lack 'states' for 4 tasks"):
        ep = experiments.run(true_model, CEM, tasks, OPEN_LOOP, WALL)
    assert ep.states.shape[0] == 4 and computed["open-loop"].calls == 2


def test_run_rejects_an_execution_that_is_not_an_execution(true_model, tasks, computed):
    for bad in ("mpc", "open-loop", 3):
        with pytest.raises(TypeError, match=rf"execution must be an experiments.Execution .*; got {bad!r}"):
            experiments.run(true_model, CEM, tasks, bad, WALL)
    assert computed["open-loop"].calls == computed["mpc"].calls == 0


def test_gbp_run_through_a_world_model_is_cached_per_model(tasks, computed, data_dir):
    a, b = tiny_world_model(0), tiny_world_model(1)
    ep_a = experiments.run(a, GBP, tasks, OPEN_LOOP, WALL)
    # Same weights, another object: the cache key follows the weights.
    experiments.run(tiny_world_model(0), GBP, tasks, OPEN_LOOP, WALL)
    assert computed["open-loop"].calls == 1
    ep_b = experiments.run(b, GBP, tasks, OPEN_LOOP, WALL)
    assert computed["open-loop"].calls == 2 and len(cached_files(data_dir)) == 2
    assert not torch.equal(ep_a.first_plan, ep_b.first_plan)
    H = WALL.max_steps
    assert (ep_a.wm_forward == (GBP.iterations + 1) * GBP.restarts * H + H).all()
    assert (ep_a.wm_backward == GBP.iterations * GBP.restarts * H).all()


# --------------------------------------------------------------------------------------------
# evaluate_model and compute_curve
# --------------------------------------------------------------------------------------------
def test_evaluate_model_returns_one_named_report_per_execution(true_model, tasks, computed):
    ex = Execution("mpc", 10)
    reports = evaluate_model("perfect", true_model, CEM, tasks, WALL, reference_error=0.1,
                             executions=(OPEN_LOOP, ex))
    assert list(reports) == ["open-loop", "MPC/10"]
    for label, r in reports.items():
        assert isinstance(r, EvalReport) and r.name == f"perfect, {label}" and r.n_tasks == len(tasks)
        assert r.wm_error == pytest.approx(0.0, abs=1e-6), "the true dynamics have no one-step error"
        assert r.wm_error_ratio == pytest.approx(0.0, abs=1e-5)
    # The reports score the (cached) runs.
    ep = experiments.run(true_model, CEM, tasks, ex, WALL)
    assert reports["MPC/10"].successes == int(success(ep.final_states, tasks.goals, WALL).sum())
    assert computed["open-loop"].calls == computed["mpc"].calls == 1
    # The defaults: open-loop and MPC every 3 steps.
    assert list(evaluate_model("perfect", true_model, CEM, tasks[:2], WALL)) == ["open-loop", "MPC/3"]


CURVE_COLUMNS = ["model", "family", "budget", "execution", "success_rate", "ci_low", "ci_high",
                 "wm_evals_per_task", "wall_s_per_task"]


def test_compute_curve_has_one_row_per_model_planner_and_execution(tasks):
    models = {"free space": FreeSpace(), "random": tiny_world_model(0)}
    planners = {("GBP", "2x5"): GBP, ("CEM", "20x2"): CEM}
    executions = (OPEN_LOOP, Execution("mpc", 10))
    curve = compute_curve(models, planners, tasks[:2], WALL, executions)
    assert list(curve.columns) == CURVE_COLUMNS
    assert len(curve) == 2 * 2 * 2
    keys = list(zip(curve.model, curve.family, curve.budget, curve.execution))
    assert keys == [(m, f, b, e.label) for m in models for (f, b) in planners for e in executions]
    assert ((curve.ci_low <= curve.success_rate) & (curve.success_rate <= curve.ci_high)).all()
    assert (curve.wall_s_per_task > 0).all()
    H = WALL.max_steps
    open_loop = curve[curve.execution == "open-loop"].set_index(["model", "family"]).wm_evals_per_task
    I, K = GBP.iterations, GBP.restarts
    for m in models:  # backward steps count twice
        assert open_loop[(m, "GBP")] == (I + 1) * K * H + H + 2 * I * K * H
        assert open_loop[(m, "CEM")] == (CEM.iterations * CEM.population + 1) * H + H
    # A row is the evaluation of the cached run of that combination.
    ep = experiments.run(models["random"], CEM, tasks[:2], OPEN_LOOP, WALL)
    row = curve[(curve.model == "random") & (curve.family == "CEM") & (curve.execution == "open-loop")].iloc[0]
    assert row.success_rate == evaluate("x", ep, tasks[:2], WALL).success_rate


def test_compute_curve_defaults_to_open_loop(true_model, tasks):
    curve = compute_curve({"true": true_model}, {("CEM", "a"): CEM, ("CEM", "b"): dataclasses.replace(CEM, seed=3)},
                          tasks, WALL)
    assert list(curve.execution) == ["open-loop", "open-loop"] and list(curve.budget) == ["a", "b"]
