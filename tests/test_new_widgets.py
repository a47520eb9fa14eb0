"""Tests for the explorers of notebooks 06-08 (gbp_utils.widgets: epsilon_explorer / show_epsilon,
cem_explorer / show_cem, results_explorer / show_result), driven through their controls as a reader
would, and for the other additions those notebooks use: evaluation.roughness and slice_statistics,
AdversarialLoss.perturbation, the new presets, the fast-mode data folder, and the plots
plotting.success_bars and plotting.plot_success_vs_compute."""

import dataclasses
import math
from pathlib import Path

from matplotlib.container import BarContainer, ErrorbarContainer
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from helpers import FreeSpace, drive, tiny_world_model
import torch

import gbp_utils
from gbp_utils import cache, finetuning
from gbp_utils.control import run_controller, run_open_loop
from gbp_utils.env import WallConfig, WallEnv, sample_tasks, straight_line_blocked
from gbp_utils.evaluation import EvalReport, evaluate, landscape, roughness, slice_statistics, wilson_interval
from gbp_utils.finetuning import AdversarialConfig, AdversarialLoss, OnlineConfig
from gbp_utils.planners import GBPConfig
from gbp_utils.plotting import plot_success_vs_compute, success_bars
from gbp_utils.policies import oracle_policy, straight_line_policy
from gbp_utils.sampling import CEMConfig, CEMPlanner, TrueDynamicsModel
from gbp_utils.widgets import (cem_explorer, controls, epsilon_explorer, results_explorer, show_cem, show_epsilon,
                               show_result)

CFG = WallConfig()
H = CFG.max_steps
FREE_TASK = dict(start_x=-3.0, start_y=3.0, goal_x=-1.5, goal_y=-1.0)  # both left of the wall, line is free
WALL_TASK = dict(start_x=-3.0, start_y=3.0, goal_x=3.0, goal_y=2.0)  # the line hits the wall above the door


# --------------------------------------------------------------------------------------------
# epsilon_explorer / show_epsilon (notebook 06)
# --------------------------------------------------------------------------------------------
EPS_KEYS = {"valid", "eps", "roughness", "real_roughness", "success", "final_distance", "model_final_distance",
            "false_valley"}
CHEAP_GBP = GBPConfig(restarts=2, iterations=50)


@pytest.fixture(scope="module")
def eps_models():
    """eps 0.0: a small random world model; eps 0.1: free space (s' = s + a), exact wherever no wall is hit."""
    return {0.0: tiny_world_model(0), 0.1: FreeSpace()}


@pytest.fixture(scope="module")
def eps_ui(eps_models):
    return epsilon_explorer(eps_models, CFG, CHEAP_GBP)


def assert_valid_eps(r, eps):
    assert set(r) == EPS_KEYS and r["valid"] is True and r["eps"] == eps
    assert isinstance(r["success"], bool) and isinstance(r["false_valley"], bool)
    for key in ("roughness", "real_roughness", "final_distance", "model_final_distance"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] >= 0, key
    assert r["success"] == (r["final_distance"] <= CFG.success_radius)


def test_epsilon_slider_extremes_switch_the_model(eps_ui):
    c = controls(eps_ui)
    assert list(c["eps"].options) == [0.0, 0.1] and c["eps"].value == 0.0
    assert_valid_eps(eps_ui.result, 0.0)
    free = drive(eps_ui, eps=0.1, **FREE_TASK)
    assert_valid_eps(free, 0.1)
    assert plt.get_fignums(), "nothing was drawn"
    random = drive(eps_ui, eps=0.0, **FREE_TASK)
    assert_valid_eps(random, 0.0)
    # The real landscape belongs to the task, not to the model.
    assert random["real_roughness"] == free["real_roughness"]
    # Free space is exact on this task: GBP's plan ends where the model says, at the goal.
    assert free["model_final_distance"] < 0.1 and free["success"]
    assert free["final_distance"] == pytest.approx(free["model_final_distance"], abs=1e-3)


def test_epsilon_explorer_rejects_a_start_or_goal_in_the_wall(eps_ui):
    r = drive(eps_ui, eps=0.1, **{**FREE_TASK, "start_x": 0.0})
    assert r == {"valid": False, "message": "The start is inside the wall: move it into free space."}
    assert plt.get_fignums(), "the message should be drawn"
    r = drive(eps_ui, eps=0.1, **{**FREE_TASK, "goal_x": 0.1, "goal_y": 3.0})
    assert r["valid"] is False and "goal is inside the wall" in r["message"]
    assert drive(eps_ui, eps=0.1, **FREE_TASK)["valid"] is True


def test_free_space_model_is_smooth_but_hides_the_wall(eps_models):
    """Through the wall the free-space model promises the goal, but reality stops at the wall."""
    plt.close("all")
    r = show_epsilon(eps_models, 0.1, **WALL_TASK, config=CFG, gbp=CHEAP_GBP, draw=False)
    assert not plt.get_fignums()
    assert_valid_eps(r, 0.1)
    assert r["model_final_distance"] < 0.1 and not r["success"] and r["final_distance"] > 1.0
    assert r["roughness"] < r["real_roughness"], "a wall-less landscape is smoother than the real one"


def test_show_epsilon_rejects_an_unknown_eps_and_an_empty_dict(eps_models):
    with pytest.raises(ValueError, match=r"eps must be one of \[0.0, 0.1\]; got 0.2"):
        show_epsilon(eps_models, 0.2, **FREE_TASK, draw=False)
    with pytest.raises(ValueError, match="at least one model"):
        epsilon_explorer({})


# --------------------------------------------------------------------------------------------
# cem_explorer / show_cem (notebook 07)
# --------------------------------------------------------------------------------------------
CEM_KEYS = {"valid", "success", "final_distance", "model_cost", "wm_evals", "seconds"}


@pytest.fixture(scope="module")
def cem_models():
    return {"true dynamics": TrueDynamicsModel(CFG), "free space": FreeSpace()}


@pytest.fixture(scope="module")
def cem_ui(cem_models):
    return cem_explorer(cem_models, CFG)


def assert_valid_cem(r, population, iterations):
    assert set(r) == CEM_KEYS and r["valid"] is True and isinstance(r["success"], bool)
    assert r["wm_evals"] == (iterations * population + 1) * H + H  # CEM never differentiates
    assert r["seconds"] > 0 and r["model_cost"] >= 0 and r["final_distance"] >= 0


def test_cem_explorer_default_finds_the_door_with_the_true_dynamics(cem_ui):
    c = controls(cem_ui)
    assert list(c["model"].options) == ["true dynamics", "free space"]
    assert (c["population"].value, c["iterations"].value) == (300, 10)
    r = cem_ui.result
    assert_valid_cem(r, 300, 10)
    assert r["success"], "the default task crosses the wall; 300 x 10 CEM on the true dynamics gets through"
    assert r["model_cost"] == pytest.approx(r["final_distance"], abs=1e-3), "the model is reality"


@pytest.mark.parametrize("name, values", [
    ("population", (10, 1000)),
    ("iterations", (0, 30)),
])
def test_cem_slider_extremes_on_a_free_task(cem_ui, name, values):
    c = controls(cem_ui)
    assert (c[name].min, c[name].max) == values
    for value in values:
        settings = {"model": "true dynamics", "population": 10, "iterations": 2, **FREE_TASK, name: value}
        r = drive(cem_ui, **settings)
        assert_valid_cem(r, settings["population"], settings["iterations"])
        # The straight line is a candidate of every CEM run, and here it is free.
        assert r["success"] and r["final_distance"] < CFG.success_radius
        assert r["model_cost"] == pytest.approx(r["final_distance"], abs=1e-3)


def test_cem_through_a_wall_less_model_promises_what_reality_does_not_deliver(cem_ui):
    r = drive(cem_ui, model="free space", population=10, iterations=2, **WALL_TASK)
    assert_valid_cem(r, 10, 2)
    assert r["model_cost"] < CFG.success_radius and not r["success"] and r["final_distance"] > 1.0
    r = drive(cem_ui, model="free space", **{**WALL_TASK, "start_x": 0.0})
    assert r["valid"] is False and "start is inside the wall" in r["message"]


def test_show_cem_rejects_bad_arguments(cem_models):
    with pytest.raises(ValueError, match=r"model must be one of \['true dynamics', 'free space'\]; got 'nope'"):
        show_cem(cem_models, "nope", 10, 2, **FREE_TASK, draw=False)
    with pytest.raises(ValueError, match="population must be >= 2 and iterations >= 0; got 1, 2"):
        show_cem(cem_models, "free space", 1, 2, **FREE_TASK, draw=False)
    with pytest.raises(ValueError, match="got 10, -1"):
        show_cem(cem_models, "free space", 10, -1, **FREE_TASK, draw=False)
    with pytest.raises(ValueError, match="at least one model"):
        cem_explorer({})


# --------------------------------------------------------------------------------------------
# results_explorer / show_result (notebook 08)
# --------------------------------------------------------------------------------------------
RESULT_KEYS = {"run", "task", "success", "final_distance", "touched_wall", "run_success_rate"}


@pytest.fixture(scope="module")
def result_tasks():
    return sample_tasks(6, 0, "eval", CFG)


@pytest.fixture(scope="module")
def runs(result_tasks):
    env = WallEnv(CFG)
    cem = CEMPlanner(TrueDynamicsModel(CFG), CEMConfig(population=20, elites=4, iterations=2), CFG.max_step)
    return {"oracle": run_controller(env, oracle_policy(CFG), result_tasks),
            "straight line": run_controller(env, straight_line_policy(CFG), result_tasks),
            "CEM": run_open_loop(env, cem, result_tasks)}


@pytest.fixture(scope="module")
def results_ui(runs, result_tasks):
    return results_explorer(runs, result_tasks, CFG)


def test_results_explorer_task_slider_extremes_with_the_oracle(results_ui, result_tasks):
    c = controls(results_ui)
    assert list(c["run"].options) == ["oracle", "straight line", "CEM"]
    assert (c["task"].min, c["task"].max) == (0, len(result_tasks) - 1)
    for task in (0, len(result_tasks) - 1):
        r = drive(results_ui, run="oracle", task=task)
        assert set(r) == RESULT_KEYS and (r["run"], r["task"]) == ("oracle", task)
        assert r["success"] is True and r["final_distance"] <= CFG.success_radius
        assert r["run_success_rate"] == 1.0
        assert plt.get_fignums(), "nothing was drawn"


def test_results_explorer_scores_the_straight_line_like_evaluate(results_ui, runs, result_tasks):
    report = evaluate("straight line", runs["straight line"], result_tasks, CFG)
    assert report.success_rate < 1.0, "some of these tasks must be blocked by the wall"
    blocked = straight_line_blocked(result_tasks.starts, result_tasks.goals, CFG)
    for i in range(len(result_tasks)):
        r = drive(results_ui, run="straight line", task=i)
        assert r["run_success_rate"] == pytest.approx(report.success_rate)
        final = runs["straight line"].states[i, -1]
        assert r["final_distance"] == pytest.approx(float((final - result_tasks.goals[i]).norm()), abs=1e-6)
        if blocked[i]:
            assert r["success"] is False and r["touched_wall"] is True


def test_a_planner_run_also_draws_its_first_plan(runs, result_tasks):
    lines = {}
    for name in ("oracle", "CEM"):
        plt.close("all")
        show_result(runs, result_tasks, name, 1, CFG)
        lines[name] = len(plt.gcf().axes[0].get_lines())
    assert lines["CEM"] > lines["oracle"], "the model's first plan is missing"


def test_show_result_rejects_a_bad_run_or_task(runs, result_tasks):
    with pytest.raises(ValueError, match=r"run must be one of \['oracle', 'straight line', 'CEM'\]; got 'MPPI'"):
        show_result(runs, result_tasks, "MPPI", 0, draw=False)
    for bad in (-1, len(result_tasks)):
        with pytest.raises(ValueError, match=rf"task must be in \[0, 5\]; got {bad}"):
            show_result(runs, result_tasks, "oracle", bad, draw=False)
    with pytest.raises(ValueError, match="at least one run"):
        results_explorer({}, result_tasks)


# --------------------------------------------------------------------------------------------
# evaluation.roughness and slice_statistics
# --------------------------------------------------------------------------------------------
def grid(resolution=21, half=5.0):
    axis = torch.linspace(-half, half, resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx, gy], -1)


def test_a_smooth_bowl_is_less_rough_than_the_bowl_with_a_cliff():
    g = grid()
    x, y = g[..., 0], g[..., 1]
    bowl = x ** 2 + 0.5 * y ** 2
    cliff = bowl + 10.0 * (x > 1.2)
    assert roughness(g, cliff) > 1.5 * roughness(g, bowl)
    # The gradient of x^2 + y^2 / 2 is (2x, y): it varies by 2 per unit along x and by 1 along y, so the
    # mean over both directions is 1.5 (a little less: the one-sided differences at the border).
    assert roughness(g, bowl) == pytest.approx(1.5, rel=0.1)
    fine = grid(81)
    assert roughness(fine, fine[..., 0] ** 2 + 0.5 * fine[..., 1] ** 2) == pytest.approx(1.5, rel=0.02)
    assert roughness(g, 3 * bowl) == pytest.approx(3 * roughness(g, bowl))
    assert roughness(g, 2 * x - y + 4) == pytest.approx(0.0, abs=1e-9), "a plane has a constant gradient"


@pytest.mark.parametrize("grid_xy, cost", [
    (torch.zeros(5, 5), torch.zeros(5, 5)),  # grid without its (x, y) dimension
    (torch.zeros(5, 5, 2), torch.zeros(5, 4)),  # cost does not match the grid
    (torch.zeros(5, 5, 2), torch.zeros(25)),
    (torch.zeros(2, 2, 2), torch.zeros(2, 2)),  # too small for a second difference
])
def test_roughness_rejects_bad_shapes(grid_xy, cost):
    with pytest.raises(ValueError, match=r"need grid_xy \(R, R, 2\) and cost \(R, R\) with R >= 3"):
        roughness(grid_xy, cost)


def test_roughness_of_a_real_landscape_matches_slice_statistics():
    tasks = sample_tasks(2, 0, "eval", CFG)
    models = {"true": TrueDynamicsModel(CFG), "free": FreeSpace(), "random": tiny_world_model(0)}
    stats = slice_statistics(tasks, CFG, H, models, resolution=11)
    assert isinstance(stats, pd.DataFrame) and stats.index.name == "model"
    assert list(stats.index) == list(models) and list(stats.columns) == ["roughness", "real roughness", "false valley"]
    real = [roughness(*landscape(tasks.starts[i], tasks.goals[i], CFG, H, None, 11)) for i in range(2)]
    assert (stats["real roughness"] == sum(real) / 2).all()
    # A perfect model has the real landscape, and never a false valley.
    assert stats.loc["true", "roughness"] == pytest.approx(stats.loc["true", "real roughness"])
    assert stats.loc["true", "false valley"] == 0.0
    assert stats["false valley"].isin([0.0, 0.5, 1.0]).all()
    assert stats.loc["free", "roughness"] < stats.loc["free", "real roughness"]


# --------------------------------------------------------------------------------------------
# AdversarialLoss.perturbation
# --------------------------------------------------------------------------------------------
def transitions(n=64, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = scale * (torch.rand(n, 2, generator=g) * 8 - 4)
    a = torch.rand(n, 2, generator=g) - 0.5
    return s, a, s + a


@pytest.mark.parametrize("steps", [1, 3])  # FGSM and PGD-3
def test_perturbations_stay_in_the_box_whose_eps_is_fixed_by_the_first_batch(steps):
    model = tiny_world_model(0)
    loss = AdversarialLoss(AdversarialConfig(state_factor=0.05, action_factor=0.1, steps=steps))
    s, a, s_next = transitions()
    d_s, d_a = loss.perturbation(model, s, a, s_next)
    eps_s, eps_a = 0.05 * s.std(0), 0.1 * a.std(0)
    torch.testing.assert_close(loss.eps_s, eps_s)
    torch.testing.assert_close(loss.eps_a, eps_a)
    assert d_s.shape == s.shape and d_a.shape == a.shape
    assert not d_s.requires_grad and not d_a.requires_grad
    assert (d_s.abs() <= eps_s + 1e-7).all() and (d_a.abs() <= eps_a + 1e-7).all()
    assert (d_s.abs() > 0.5 * eps_s).float().mean() > 0.5, "the ascent should push most coordinates outwards"
    # A batch with a three times larger spread keeps the first eps (and its box).
    s2, a2, s2_next = transitions(scale=3.0, seed=1)
    d_s2, d_a2 = loss.perturbation(model, s2, a2, s2_next)
    torch.testing.assert_close(loss.eps_s, eps_s)
    assert (d_s2.abs() <= eps_s + 1e-7).all() and (d_a2.abs() <= eps_a + 1e-7).all()
    assert all(p.grad is None for p in model.parameters()), "finding the perturbation must not touch the weights"


def test_the_loss_trains_on_exactly_the_perturbation():
    model = tiny_world_model(1)
    s, a, s_next = transitions()
    loss = AdversarialLoss(AdversarialConfig(state_factor=0.05, action_factor=0.05, steps=2))
    torch.manual_seed(3)
    d_s, d_a = loss.perturbation(model, s, a, s_next)
    torch.manual_seed(3)  # the same random start
    value = loss(model, s, a, s_next)
    torch.testing.assert_close(value, ((model(s + d_s, a + d_a) - s_next) / model.delta_std).pow(2).mean())
    no_state = AdversarialLoss(AdversarialConfig(state_factor=0.0, action_factor=0.05))
    d_s, d_a = no_state.perturbation(model, s, a, s_next)
    assert (d_s == 0).all() and (d_a != 0).any()


# --------------------------------------------------------------------------------------------
# presets, the fast-mode data folder and the cache keys of the finetuned models
# --------------------------------------------------------------------------------------------
def test_full_mode_presets_hold_the_settings_chosen_in_notebooks_04_to_07():
    P = gbp_utils.presets(fast=False)
    assert P.online == OnlineConfig(execution="open-loop", epochs_per_round=30, lr=3e-3)
    assert P.gbp == GBPConfig() and P.replan_every == 3
    assert P.adversarial == AdversarialConfig(state_factor=0.05, action_factor=0.05)
    assert P.adversarial_only.state_factor < P.adversarial.state_factor
    assert P.adversarial_only.action_factor < P.adversarial.action_factor
    assert isinstance(P.cem, CEMConfig) and P.n_tune_tasks == 200 and P.n_eval_tasks == 300
    assert P.gbp_lite.restarts * P.gbp_lite.iterations < P.gbp.restarts * P.gbp.iterations
    # GBP-heavy (notebook 08): GBP with twice the restarts, replanning every step
    assert P.gbp_heavy == GBPConfig(restarts=2 * P.gbp.restarts) and P.heavy_replan_every == 1


def test_fast_presets_are_cheaper_and_follow_gbp_fast(monkeypatch):
    full, fast = gbp_utils.presets(fast=False), gbp_utils.presets(fast=True)
    cost = lambda g: g.restarts * g.iterations  # noqa: E731
    assert cost(fast.gbp) < cost(full.gbp) and cost(fast.gbp_lite) < cost(full.gbp_lite)
    assert fast.cem.population * fast.cem.iterations < full.cem.population * full.cem.iterations
    assert fast.online.rounds * fast.online.tasks_per_round < full.online.rounds * full.online.tasks_per_round
    assert fast.n_tune_tasks < full.n_tune_tasks and fast.n_eval_tasks < full.n_eval_tasks
    assert fast.adversarial_only.state_factor < fast.adversarial.state_factor
    # notebook 08's tune grid doubles the preset GBP's restarts in both modes
    for P in (full, fast):
        assert P.gbp_heavy == dataclasses.replace(P.gbp, restarts=2 * P.gbp.restarts)
    monkeypatch.setenv("GBP_FAST", "1")
    assert gbp_utils.presets() == fast
    monkeypatch.setenv("GBP_FAST", "0")
    assert gbp_utils.presets() == full


REPO = Path(gbp_utils.__file__).resolve().parents[1]
FAST_DATA = REPO / "build" / "fast" / "data"  # build/ is git-ignored


@pytest.mark.parametrize("fast, expected", [("1", FAST_DATA), ("yes", FAST_DATA), ("0", REPO / "data"),
                                            ("false", REPO / "data"), (None, REPO / "data")])
def test_data_dir_without_gbp_data_dir_depends_on_fast_mode(monkeypatch, fast, expected):
    monkeypatch.delenv("GBP_DATA_DIR")
    if fast is None:
        monkeypatch.delenv("GBP_FAST", raising=False)
    else:
        monkeypatch.setenv("GBP_FAST", fast)
    path = cache.data_dir()
    assert path == expected and path.is_dir()


def test_gbp_data_dir_wins_over_fast_mode(monkeypatch, data_dir):
    monkeypatch.setenv("GBP_FAST", "1")
    assert cache.data_dir() == data_dir


@pytest.fixture
def cache_keys(monkeypatch):
    """The config each cached finetuned model is keyed by (nothing is trained)."""
    keys = []

    def record(name, config, build, device=None):
        keys.append((name, config))

    monkeypatch.setattr(finetuning, "cached_model", record)
    return keys


def test_finetuned_models_are_keyed_by_the_base_training_and_the_adversarial_budget(cache_keys):
    P = gbp_utils.presets(fast=True)
    seed1 = dataclasses.replace(P.train, seed=1)
    adv = AdversarialConfig(state_factor=0.05)
    finetuning.get_online_model(P, progress=False)
    finetuning.get_online_model(P, progress=False, adversarial=adv, data_configs=[P.expert_data, P.play_data],
                                train_config=seed1)
    finetuning.get_adversarial_model(P, progress=False)
    finetuning.get_adversarial_model(P, progress=False, base_train=seed1)
    (_, plain), (_, mixed), (_, adv0), (_, adv1) = cache_keys
    assert "adversarial" not in plain, "older caches of plain online models keep their names"
    assert plain["train"] == P.train and plain["base_data"] == [P.expert_data]
    assert mixed["adversarial"] == adv and mixed["train"] == seed1
    assert mixed["base_data"] == [P.expert_data, P.play_data]
    assert adv0["train"] == P.train and adv0["finetune"] == dataclasses.replace(P.train, epochs=10, lr=1e-3)
    assert adv1["train"] == seed1 and adv1["finetune"] == dataclasses.replace(seed1, epochs=10, lr=1e-3)
    assert cache.config_hash(adv0) != cache.config_hash(adv1)


# --------------------------------------------------------------------------------------------
# plotting.success_bars and plot_success_vs_compute
# --------------------------------------------------------------------------------------------
def report(name, successes, n=50):
    lo, hi = wilson_interval(successes, n)
    return EvalReport(name=name, n_tasks=n, successes=successes, success_rate=successes / n, ci_low=lo, ci_high=hi,
                      mean_final_distance=1.0, stuck_at_wall=0.0, wm_error=math.nan, wm_error_ratio=math.nan,
                      wm_forward_per_task=0.0, wm_backward_per_task=0.0, wm_evals_per_task=0.0,
                      wall_s_per_task=0.0, n_diverged=0)


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
                             "wm_evals_per_task": e, "wall_s_per_task": e * 1e-6})
    return pd.DataFrame(rows)


def test_plot_success_vs_compute_draws_one_line_per_model_family_and_execution():
    curve = curve_frame()
    fig, axes = plt.subplots(1, 2)
    assert plot_success_vs_compute(axes, curve) is axes
    for ax, column in zip(axes, ("wm_evals_per_task", "wall_s_per_task")):
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
