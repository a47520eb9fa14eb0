"""Tests for gbp_utils.analysis: the train-test gap report, the planning-cost landscape (its slice,
projection, roughness and false valleys), pushes and push maps, one planned task (plan_one) and the
small per-episode and per-dataset summaries."""


import pandas as pd

import pytest
from helpers import FreeSpace, tiny_world_model
import torch

from gbp_utils import experiments
from gbp_utils.analysis import (budget_lesson, compare_controllers, contact_statistics, episode_outcome, false_valley,
                                gap_report, landscape, plan_one, project_to_slice, push, push_map,
                                promise_outcome, roughness, slice_statistics)
from gbp_utils.control import OPEN_LOOP, Episodes, Execution, run_controller, run_open_loop
from gbp_utils.data import DataConfig, Dataset, get_dataset, run_policy
from gbp_utils.env import TrueDynamicsModel, WallConfig, WallEnv, sample_tasks, straight_line_blocked, success
from gbp_utils.evaluation import evaluate, model_evals
from gbp_utils.planners import GBPConfig, GBPPlanner, two_leg_actions
from gbp_utils.policies import expert_policy, straight_line_policy
from gbp_utils.sampling import CEMConfig
from gbp_utils.world_model import TrainConfig, WorldModelConfig, get_world_model, one_step_error, rollout

CFG = WallConfig()
H = CFG.max_steps


# --------------------------------------------------------------------------------------------
# The train-test gap
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A world model trained briefly on 200 expert episodes, cached in a temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBP_DATA_DIR", str(tmp_path_factory.mktemp("gap_data")))
        expert = DataConfig(kind="expert", wall=CFG).tiny()
        result = get_world_model([expert], WorldModelConfig(), TrainConfig(epochs=3), progress=False)
        held_out = get_dataset(DataConfig(kind="expert", n_episodes=60, seed=7, wall=CFG))
    return result.model, held_out


def test_gap_report_is_large_off_distribution_and_near_one_on_distribution(tiny_model):
    model, expert_val = tiny_model
    env = WallEnv(CFG)
    tasks = sample_tasks(60, 2, "eval", CFG)
    # Off-distribution: straight-line runs that press into the wall, which the expert never does.
    stuck = run_controller(env, straight_line_policy(CFG), tasks)
    gap = gap_report(model, expert_val, stuck)
    assert set(gap) == {"one_step_expert", "one_step_planner", "one_step_ratio",
                        "multi_step_expert", "multi_step_planner", "multi_step_ratio"}
    assert gap["one_step_ratio"] == pytest.approx(gap["one_step_planner"] / gap["one_step_expert"])
    assert gap["one_step_expert"] == pytest.approx(one_step_error(model, expert_val).mean().item(), rel=1e-5)
    assert gap["one_step_ratio"] > 2.0, gap["one_step_ratio"]
    H = CFG.max_steps
    assert gap["multi_step_planner"].shape == gap["multi_step_expert"].shape == (H,)
    torch.testing.assert_close(gap["multi_step_ratio"], gap["multi_step_planner"] / gap["multi_step_expert"])
    assert gap["multi_step_ratio"][-1] > 1.0
    # On-distribution: fresh expert episodes on unseen tasks look like the training data.
    gen = torch.Generator().manual_seed(3)
    expert_runs = run_policy(env, expert_policy(CFG, generator=gen), tasks)  # a data.Dataset
    same = gap_report(model, expert_val, Episodes(expert_runs.states, expert_runs.actions, None,
                                                  torch.zeros(60), torch.zeros(60), 0.0,
                                                  torch.zeros(60, dtype=torch.bool)))
    assert 0.5 < same["one_step_ratio"] < 2.0, same["one_step_ratio"]
    assert same["one_step_ratio"] < gap["one_step_ratio"]
    # A horizon cuts the multi-step curves.
    assert gap_report(model, expert_val, stuck, horizon=5)["multi_step_planner"].shape == (5,)


def test_gbp_open_loop_visits_states_the_model_was_not_trained_on(tiny_model):
    model, expert_val = tiny_model
    env = WallEnv(CFG)
    tasks = sample_tasks(40, 3, "eval", CFG)
    planner = GBPPlanner(model, GBPConfig(iterations=30, restarts=2), CFG.max_step)
    ep = run_open_loop(env, planner, tasks)
    gap = gap_report(model, expert_val, ep)
    assert gap["one_step_ratio"] > 1.0, gap["one_step_ratio"]
    r = evaluate("gbp", ep, tasks, CFG, world_model=model, reference_error=gap["one_step_expert"])
    assert r.wm_error_ratio == pytest.approx(gap["one_step_ratio"], rel=1e-4)
    assert r.wm_forward_per_task == (30 + 1) * 2 * CFG.max_steps + CFG.max_steps


# --------------------------------------------------------------------------------------------
# Landscape and slice projection
# --------------------------------------------------------------------------------------------
def cell(grid, xy):
    """Index of the grid point nearest to xy."""
    d = (grid - torch.tensor(xy)).norm(dim=-1)
    i = int(d.argmin())
    return divmod(i, grid.shape[1])


def test_landscape_shapes_and_grid():
    start, goal = torch.tensor([-3.0, 3.0]), torch.tensor([3.0, 3.0])
    grid, cost = landscape(start, goal, CFG, horizon=30, resolution=9)
    assert grid.shape == (9, 9, 2) and cost.shape == (9, 9)
    h = CFG.half_size
    torch.testing.assert_close(grid[0, 0], torch.tensor([-h, -h]))
    torch.testing.assert_close(grid[-1, -1], torch.tensor([h, h]))
    assert grid[0, 1, 0] > grid[0, 0, 0] and grid[1, 0, 1] > grid[0, 0, 1]  # x along columns, y along rows
    assert torch.isfinite(cost).all() and (cost >= 0).all()
    grid2, cost2 = landscape(start[None], goal[None], CFG, horizon=30, resolution=9, world_model=FreeSpace())
    assert grid2.shape == (9, 9, 2) and cost2.shape == (9, 9)


def test_real_landscape_is_computed_once_per_task_and_callers_get_their_own_copy(monkeypatch):
    calls = []
    rollout = WallEnv.rollout
    monkeypatch.setattr(WallEnv, "rollout", lambda self, *a: calls.append(1) or rollout(self, *a))
    start, goal = torch.tensor([-3.1, 2.9]), torch.tensor([3.3, 1.7])
    _, first = landscape(start, goal, CFG, H, None, 9)
    first[:] = -1.0  # must not leak into the memoised landscape
    _, again = landscape(start, goal, CFG, H, None, 9)
    assert len(calls) == 1 and (again >= 0).all()
    landscape(start, goal + 0.5, CFG, H, None, 9)  # another task is computed anew
    assert len(calls) == 2


def test_real_landscape_prefers_the_door_over_the_wall_on_a_blocked_task():
    start, goal = torch.tensor([-3.0, 3.0]), torch.tensor([3.0, 3.0])
    assert straight_line_blocked(start[None], goal[None], CFG).item()
    grid, cost = landscape(start, goal, CFG, horizon=30, resolution=41)
    door, through_wall = cell(grid, [0.0, 0.0]), cell(grid, [0.0, 3.0])
    assert torch.allclose(grid[door], torch.tensor([0.0, 0.0])) and torch.allclose(grid[through_wall], torch.tensor([0.0, 3.0]))
    assert cost[door] < CFG.success_radius, "going via the door centre reaches the goal"
    assert cost[through_wall] > 3.0, "going straight at the wall gets stuck on its face"
    assert cost[door] < cost[through_wall]
    # In the free-space model, both look perfect: the model does not know the wall is there.
    _, model_cost = landscape(start, goal, CFG, horizon=30, resolution=41, world_model=FreeSpace())
    assert model_cost[door] < 1e-3 and model_cost[through_wall] < 1e-3


def test_model_landscape_matches_free_space_where_the_two_legs_are_unclipped():
    start, goal = torch.tensor([-2.0, -1.0]), torch.tensor([1.5, 2.0])
    H = 20
    grid, cost = landscape(start, goal, CFG, horizon=H, resolution=21, world_model=FreeSpace(), cost="all")
    w = grid.reshape(-1, 2)
    a = two_leg_actions(w, start.expand_as(w), goal.expand_as(w), H)
    unclipped = (a.abs() <= CFG.max_step).flatten(1).all(-1).reshape(21, 21)
    assert unclipped.sum() > 20
    # "all" cost of a two-leg path in free space: computed directly from the states.
    states = torch.cat([start.expand(w.shape[0], 1, 2), start + a.clamp(-0.5, 0.5).cumsum(1)], 1)
    dist = (states[:, 1:] - goal).norm(dim=-1)
    wts = 0.8 ** torch.arange(H - 1, -1, -1, dtype=torch.float32)
    expected = (dist * wts / wts.sum()).sum(-1).reshape(21, 21)
    torch.testing.assert_close(cost, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("H", [2, 9, 30])
def test_project_to_slice_inverts_two_leg_actions(H):
    g = torch.Generator().manual_seed(H)
    n = 50
    s = torch.rand(n, 2, generator=g) * 8 - 4
    goal = torch.rand(n, 2, generator=g) * 8 - 4
    w = torch.rand(n, 2, generator=g) * 10 - 5
    torch.testing.assert_close(project_to_slice(two_leg_actions(w, s, goal, H), s, goal), w, atol=1e-4, rtol=0)


def test_project_to_slice_is_the_least_squares_waypoint():
    """For actions off the slice, the projection minimises sum_t ||a_t - a_t(w)||^2."""
    H = 8
    g = torch.Generator().manual_seed(0)
    s, goal = torch.randn(1, 2, generator=g), torch.randn(1, 2, generator=g)
    actions = torch.randn(1, H, 2, generator=g) * 0.3
    w = project_to_slice(actions, s, goal)

    def residual(wp):
        return (actions - two_leg_actions(wp, s, goal, H)).pow(2).sum()

    best = residual(w)
    for d in torch.eye(2):
        for step in (1e-2, -1e-2):
            assert residual(w + step * d) > best
# --------------------------------------------------------------------------------------------
# roughness, false_valley and slice_statistics
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


def test_false_valley_is_the_model_best_point_promising_what_reality_misses():
    real = torch.tensor([[2.0, 0.1], [3.0, 4.0]])
    assert false_valley(torch.tensor([[0.2, 1.0], [1.0, 1.0]]), real, 0.5)  # best model point: real cost 2.0
    assert not false_valley(torch.tensor([[1.0, 0.2], [1.0, 1.0]]), real, 0.5)  # there reality succeeds too
    assert not false_valley(torch.tensor([[0.8, 0.9], [1.0, 1.0]]), real, 0.5)  # the model promises nothing


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
# Pushes
# --------------------------------------------------------------------------------------------
def test_push_map_of_the_true_dynamics_is_exact_and_free_space_leaks():
    true = push_map(TrueDynamicsModel(CFG), 0.0, 6, CFG, resolution=21)
    assert {"grid_xy", "error", "blocked", "leaks", "n_blocked", "leak_fraction", "blocked_error",
            "free_error"} == set(true)
    assert "wall_error" not in true
    err = true["error"]
    assert err.shape == (21, 21) and true["grid_xy"].shape == (21, 21, 2)
    assert torch.isnan(err).any(), "grid points inside the wall have no value"
    assert torch.nan_to_num(err).abs().max() < 1e-5 and true["leak_fraction"] == 0.0
    assert true["blocked_error"] == pytest.approx(0.0, abs=1e-5) and true["free_error"] == pytest.approx(0.0, abs=1e-5)
    free = push_map(FreeSpace(), 0.0, 6, CFG, resolution=21)
    assert free["leak_fraction"] > 0.5 and free["blocked_error"] > free["free_error"]
    assert (free["leaks"] <= free["blocked"]).all(), "only blocked pushes can leak"
    assert free["n_blocked"] == true["n_blocked"] == int(true["blocked"].sum())
    blocked = free["blocked"] & ~torch.isnan(free["error"])
    assert free["blocked_error"] == pytest.approx(float(free["error"][blocked].mean()), rel=1e-5)


def test_one_push_compares_the_model_with_reality():
    start = torch.tensor([-1.0, 3.0])
    through = push(FreeSpace(), start, 0.0, 6, CFG)  # straight at the wall above the door
    assert through["real"].shape == through["model"].shape == (7, 2)
    assert through["real_final"] == pytest.approx([CFG.wall_left, 3.0])
    assert through["model_final"] == pytest.approx([2.0, 3.0])
    assert through["model_passes_wall"] is True and through["final_error"] == pytest.approx(2.2, abs=1e-5)
    exact = push(TrueDynamicsModel(CFG), start, 0.0, 6, CFG)
    assert exact["model_passes_wall"] is False and exact["final_error"] == 0.0
    # through the door both cross: the model does not pass the wall where reality does too
    door = push(FreeSpace(), torch.tensor([-1.0, 0.0]), 0.0, 6, CFG)
    assert door["model_passes_wall"] is False and door["final_error"] == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------------------------
# plan_one: one task, planned and executed like experiments.run
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("planner_config", [GBPConfig(restarts=2, iterations=8, warm_iterations=3),
                                            CEMConfig(population=12, elites=3, iterations=2, warm_iterations=1)])
@pytest.mark.parametrize("execution", [OPEN_LOOP, Execution("mpc", 7)])
def test_plan_one_executes_exactly_what_experiments_run_executes(planner_config, execution):
    model = tiny_world_model(3)
    task = sample_tasks(1, 4, "eval", CFG)
    run = experiments.run(model, planner_config, task, execution, CFG, use_cache=False)
    ep, plan, outcome = plan_one(model, planner_config, task.starts[0], task.goals[0], CFG, execution)
    assert torch.equal(ep.states, run.states) and torch.equal(ep.actions, run.actions)
    assert torch.equal(ep.first_plan_states, run.first_plan_states) and torch.equal(plan.predicted_states,
                                                                                    run.first_plan_states)
    assert outcome["n_plans"] == run.n_plans == (1 if execution.mode == "open-loop" else 5)
    assert outcome["success"] == bool(success(run.final_states, task.goals, CFG)[0])
    assert outcome["final_distance"] == pytest.approx(float((run.final_states - task.goals).norm()))
    assert outcome["wm_evals"] == pytest.approx(float(model_evals(run.wm_forward[0], run.wm_backward[0])))
    assert outcome["n_steps"] == H
    with torch.no_grad():  # what the model believes the executed actions do (open loop: the plan's own prediction)
        believed = rollout(model, task.starts, run.actions)[0, -1]
    assert outcome["model_final_distance"] == float((believed - task.goals[0]).norm())
    # with the first plan's trace: the same episode and plan, plus every iteration of the first plan
    ep_t, plan_t, outcome_t = plan_one(model, planner_config, task.starts[0], task.goals[0], CFG, execution,
                                       trace=True)
    assert torch.equal(ep_t.states, ep.states) and torch.equal(plan_t.actions, plan.actions)
    assert plan.trace is None and plan_t.trace.shape == (planner_config.iterations + 1, 1, H, 2)
    assert {k: v for k, v in outcome_t.items() if k != "seconds"} == {k: v for k, v in outcome.items() if k != "seconds"}


def test_a_wall_blind_model_promises_what_reality_misses_and_the_true_model_keeps_its_promises():
    tasks = sample_tasks(12, 5, "eval", CFG)
    blocked = straight_line_blocked(tasks.starts, tasks.goals, CFG)
    assert blocked.any() and not blocked.all()
    gbp = GBPConfig(restarts=2, iterations=30)
    blind = experiments.run(FreeSpace(), gbp, tasks, OPEN_LOOP, CFG, use_cache=False)
    out = promise_outcome(blind, tasks, CFG)
    real = success(blind.final_states, tasks.goals, CFG)
    assert out["promised"] == 1.0  # without a wall every goal is reachable in the model
    assert out["success"] == pytest.approx(real.float().mean().item())
    assert out["false_promise"] == pytest.approx(1.0 - out["success"]) and out["false_promise"] > 0
    assert out["wm_evals"] == pytest.approx(float(model_evals(blind.wm_forward, blind.wm_backward).float().mean()))
    exact = experiments.run(TrueDynamicsModel(CFG), CEMConfig(population=40, elites=4, iterations=3), tasks,
                            OPEN_LOOP, CFG, use_cache=False)
    assert promise_outcome(exact, tasks, CFG)["false_promise"] == 0.0  # open loop on the exact model
    with pytest.raises(ValueError, match="needs a planner's episodes"):
        promise_outcome(run_controller(WallEnv(CFG), straight_line_policy(CFG), tasks), tasks, CFG)


def test_budget_lesson_has_one_row_per_budget_and_execution(data_dir):
    tasks = sample_tasks(6, 5, "eval", CFG)
    configs = {"light": GBPConfig(restarts=1, iterations=5, warm_iterations=2), "heavy": GBPConfig(restarts=2, iterations=20)}
    rows = budget_lesson(FreeSpace(), configs, tasks, CFG, (OPEN_LOOP, Execution("mpc", 10)))
    assert [(r["budget"], r["execution"]) for r in rows] == [("light", "open-loop"), ("light", "MPC/10"),
                                                             ("heavy", "open-loop"), ("heavy", "MPC/10")]
    again = experiments.run(FreeSpace(), configs["heavy"], tasks, OPEN_LOOP, CFG)  # the cached run
    assert rows[2] == {"budget": "heavy", "execution": "open-loop", **promise_outcome(again, tasks, CFG)}
    assert rows[0]["wm_evals"] < rows[2]["wm_evals"]


def test_plan_one_with_a_short_horizon_runs_that_many_steps():
    ep, _, outcome = plan_one(FreeSpace(), GBPConfig(restarts=1, iterations=20), torch.tensor([-3.0, 1.0]),
                              torch.tensor([-2.0, 2.0]), CFG, OPEN_LOOP, horizon=8)
    assert ep.states.shape == (1, 9, 2) and outcome["n_steps"] == 8
    assert outcome["success"] and outcome["model_vs_real"] == pytest.approx(0.0, abs=1e-5)  # free space is exact


# --------------------------------------------------------------------------------------------
# Per-episode and per-dataset summaries
# --------------------------------------------------------------------------------------------
def test_episode_outcome_and_contact_statistics_of_the_straight_line():
    env = WallEnv(CFG)
    tasks = sample_tasks(20, 0, "eval", CFG)
    straight = run_policy(env, straight_line_policy(CFG), tasks)
    ep = run_controller(env, straight_line_policy(CFG), tasks)
    blocked = straight_line_blocked(tasks.starts, tasks.goals, CFG)
    assert blocked.any() and not blocked.all()
    rate = evaluate("s", ep, tasks, CFG).success_rate
    for i in range(len(tasks)):
        out = episode_outcome(ep, tasks, i, CFG)
        assert out["success"] is (not bool(blocked[i])) and out["run_success_rate"] == pytest.approx(rate)
        assert out["touched_wall"] is bool(blocked[i])
    stats = contact_statistics(straight, CFG)
    assert stats["n_transitions"] == 20 * H and stats["success_rate"] == pytest.approx(rate)
    assert 0 < stats["far_contact_fraction"] <= stats["wall_contact_fraction"]
    assert "success_rate" not in contact_statistics(Dataset(straight.states, straight.actions), CFG)


def test_compare_controllers_on_a_blocked_task():
    runs, out = compare_controllers(torch.tensor([-3.0, 3.0]), torch.tensor([3.0, 3.0]), CFG)
    assert set(runs) == {"oracle", "straight line"} and all(isinstance(r, Dataset) for r in runs.values())
    assert out["straight_blocked"] and out["oracle_success"] and not out["straight_success"]
    assert out["straight_ends_at_wall"] and out["shortest_path_length"] > 6.0 + 1.0
