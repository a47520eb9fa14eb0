"""Tests for gbp_utils.experiments: fingerprint and the cached runs behind notebooks 05-08 (run,
run_reference, evaluate_model, compute_curve).

Runs plan a handful of tasks with a tiny CEM on the true dynamics (``env.TrueDynamicsModel``) or
a tiny GBP through a small random world model, so every test takes well under a second.
"""

import dataclasses
import math

import pytest
from helpers import FreeSpace, tiny_world_model
import torch

from gbp_utils import cache, experiments
from gbp_utils.control import OPEN_LOOP, Episodes, Execution
from gbp_utils.env import TrueDynamicsModel, WallConfig, sample_tasks, success
from gbp_utils.evaluation import EvalReport, evaluate
from gbp_utils.experiments import compute_curve, evaluate_model, fingerprint
from gbp_utils.planners import GBPConfig
from gbp_utils.policies import expert_policy, oracle_policy, straight_line_policy
from gbp_utils.sampling import CEMConfig

WALL = WallConfig()
CEM = CEMConfig(population=20, elites=4, iterations=2)
GBP = GBPConfig(restarts=2, iterations=5, warm_iterations=2)
EPISODE_FIELDS = ("states", "actions", "first_plan_states", "wm_forward", "wm_backward", "diverged")


@pytest.fixture(scope="module")
def tasks():
    return sample_tasks(4, 0, "eval", WALL)


@pytest.fixture(scope="module")
def true_model():
    return TrueDynamicsModel(WALL)


class Count:
    def __init__(self):
        self.calls = 0


@pytest.fixture
def computed(monkeypatch):
    """{"open-loop" / "mpc" / "reference": Count} of the runs ``experiments`` actually computes (through
    ``control.execute`` and ``control.run_controller``) rather than loads."""
    counters = {"open-loop": Count(), "mpc": Count(), "reference": Count()}
    execute, run_controller = experiments.execute, experiments.run_controller

    def counting_execute(env, planner, tasks, execution, *args, **kwargs):
        counters[execution.mode].calls += 1
        return execute(env, planner, tasks, execution, *args, **kwargs)

    def counting_run_controller(*args, **kwargs):
        counters["reference"].calls += 1
        return run_controller(*args, **kwargs)

    monkeypatch.setattr(experiments, "execute", counting_execute)
    monkeypatch.setattr(experiments, "run_controller", counting_run_controller)
    return counters


def cached_files(folder):
    return sorted(folder.glob("episodes-*.pt")) if folder.exists() else []


def assert_same_episodes(a: Episodes, b: Episodes):
    for name in EPISODE_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or torch.equal(x, y), name
    assert (a.seconds, a.n_plans) == (b.seconds, b.n_plans)


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
    assert not torch.equal(real.first_plan_states, imagined.first_plan_states)


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
        with pytest.raises(TypeError, match=rf"execution must be a control.Execution .*; got {bad!r}"):
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
    assert not torch.equal(ep_a.first_plan_states, ep_b.first_plan_states)
    H = WALL.max_steps
    assert (ep_a.wm_forward == (GBP.iterations + 1) * GBP.restarts * H + H).all()
    assert (ep_a.wm_backward == GBP.iterations * GBP.restarts * H).all()


# --------------------------------------------------------------------------------------------
# run_reference: cached like run
# --------------------------------------------------------------------------------------------
def test_run_reference_is_cached_with_the_seconds_it_measured(tasks, computed, data_dir):
    first = experiments.run_reference("oracle", oracle_policy(WALL), tasks, WALL)
    assert computed["reference"].calls == 1 and len(cached_files(data_dir)) == 1
    assert first.first_plan_states is None and first.n_plans == 0 and (first.wm_forward == 0).all()
    assert success(first.final_states, tasks.goals, WALL).all()
    second = experiments.run_reference("oracle", oracle_policy(WALL), tasks, WALL)
    assert computed["reference"].calls == 1, "the second run must come from the cache"
    assert_same_episodes(first, second)  # seconds included: those of the run that computed it
    # The file is found again by name, settings and tasks, even from a fresh policy object.
    path, = cached_files(data_dir)
    assert experiments.run_reference("oracle", None, tasks, WALL).seconds == first.seconds
    assert computed["reference"].calls == 1 and cached_files(data_dir) == [path]


def test_run_reference_name_settings_and_tasks_key_the_file(tasks, computed, data_dir):
    expert = lambda seed: expert_policy(WALL, 0.15, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    a = experiments.run_reference("expert", expert(0), tasks, WALL, {"seed": 0})
    b = experiments.run_reference("expert", expert(1), tasks, WALL, {"seed": 1})
    experiments.run_reference("straight line", straight_line_policy(WALL), tasks, WALL)
    experiments.run_reference("straight line", straight_line_policy(WALL), tasks[:3], WALL)
    assert computed["reference"].calls == 4 and len(cached_files(data_dir)) == 4
    assert not torch.equal(a.states, b.states)
    unsaved = experiments.run_reference("expert", expert(0), tasks, WALL, {"seed": 0}, use_cache=False)
    assert torch.equal(unsaved.states, a.states) and computed["reference"].calls == 5
    assert len(cached_files(data_dir)) == 4


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
    # Without a reference error the gap ratio is undefined.
    no_ref = evaluate_model("perfect", true_model, CEM, tasks, WALL, None, (OPEN_LOOP,))
    assert math.isnan(no_ref["open-loop"].wm_error_ratio) and computed["open-loop"].calls == 1


CURVE_COLUMNS = ["model", "family", "budget", "execution", "success_rate", "ci_low", "ci_high",
                 "wm_evals_per_task", "seconds_per_task"]


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
    assert (curve.seconds_per_task > 0).all()
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
