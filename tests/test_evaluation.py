"""Tests for gbp_utils.evaluation: Wilson intervals, evaluate/EvalReport, the train-test gap
report, the planning-cost landscape and its inverse projection."""

import math

import pytest
from helpers import FreeSpace
import torch

from gbp_utils.control import Episodes, run_controller, run_open_loop
from gbp_utils.data import DataConfig, get_dataset
from gbp_utils.env import TaskSet, WallConfig, WallEnv, sample_tasks, straight_line_blocked
from gbp_utils.evaluation import (
    EvalReport,
    evaluate,
    format_report,
    gap_report,
    landscape,
    project_to_slice,
    wilson_interval,
)
from gbp_utils.planners import GBPConfig, GBPPlanner, two_leg_actions
from gbp_utils.policies import expert_policy, oracle_policy, run_policy, straight_line_policy
from gbp_utils.world_model import TrainConfig, WorldModelConfig, get_world_model, one_step_error

CFG = WallConfig()


# --------------------------------------------------------------------------------------------
# Wilson interval
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n, expected", [
    (50, 100, (0.4038, 0.5962)),
    (0, 10, (0.0, 0.2775)),
    (10, 10, (0.7225, 1.0)),
    (1, 10, (0.0179, 0.4042)),
    (95, 100, (0.8883, 0.9785)),
])
def test_wilson_interval_matches_known_values(k, n, expected):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(expected[0], abs=2e-4)
    assert hi == pytest.approx(expected[1], abs=2e-4)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 300])
def test_wilson_interval_is_inside_0_1_and_contains_the_estimate(n):
    for k in range(n + 1):
        lo, hi = wilson_interval(k, n)
        assert 0.0 <= lo <= hi <= 1.0
        assert lo - 1e-12 <= k / n <= hi + 1e-12
    # A lower confidence level (z = 1) never gives a wider interval.
    assert wilson_interval(n // 2, n, z=1.0)[1] <= wilson_interval(n // 2, n)[1]


@pytest.mark.parametrize("n", [6, 11, 300])
def test_wilson_interval_is_exact_at_0_and_n_successes(n):
    assert wilson_interval(0, n)[0] == 0.0
    assert wilson_interval(n, n)[1] == 1.0


def test_wilson_interval_shrinks_with_n():
    widths = [hi - lo for lo, hi in (wilson_interval(n // 2, n) for n in (10, 100, 1000))]
    assert widths[0] > widths[1] > widths[2]


@pytest.mark.parametrize("k, n, match", [
    (0, 0, "n must be > 0"), (1, -3, "n must be > 0"),
    (11, 10, r"successes must be in \[0, n=10\]"), (-1, 10, r"successes must be in \[0, n=10\]"),
])
def test_wilson_interval_rejects_bad_counts(k, n, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(k, n)


# --------------------------------------------------------------------------------------------
# evaluate on hand-made episodes
# --------------------------------------------------------------------------------------------
def straight_episode(start, actions):
    """States of s + cumulative actions (free space, exact for the FreeSpace model)."""
    a = torch.tensor(actions, dtype=torch.float32)
    s = torch.tensor(start, dtype=torch.float32)
    return torch.cat([s[None], s + a.cumsum(0)]), a


def handmade_episodes():
    """Five 4-step tasks; every transition is free-space motion except one that the wall stops.

    0: success, ends away from walls            1: success, ends *on* the wall face (goal there)
    2: failure, pressed against the wall face   3: failure, out in the open
    4: failure, pressed against the wall (the stopped transition: pushes +x, does not move)
    """
    wl = CFG.wall_left
    eps = [
        straight_episode([-3.0, 2.0], [[0.5, 0.0]] * 4),                  # ends (-1, 2)
        straight_episode([wl - 2.0, 3.0], [[0.5, 0.0]] * 4),              # ends on the face (wl, 3)
        straight_episode([wl - 2.0, -3.0], [[0.5, 0.0]] * 4),             # ends on the face (wl, -3)
        straight_episode([-4.0, -1.0], [[0.25, 0.0]] * 4),                # ends (-3, -1)
        straight_episode([wl - 1.5, 2.5], [[0.5, 0.0]] * 3 + [[0.0, 0.0]]),  # ends on the face
    ]
    states = torch.stack([e[0] for e in eps])
    actions = torch.stack([e[1] for e in eps])
    actions[4, -1] = torch.tensor([0.5, 0.0])  # pushed into the wall, did not move: model error 0.5
    goals = torch.stack([
        states[0, -1] + torch.tensor([0.3, 0.0]),
        states[1, -1] + torch.tensor([0.0, 0.4]),
        torch.tensor([3.0, -3.0]),
        torch.tensor([-1.0, -1.0]),
        torch.tensor([3.0, 2.5]),
    ])
    tasks = TaskSet(states[:, 0].clone(), goals, "eval", 0)
    ep = Episodes(states, actions, None, wm_forward=torch.tensor([10.0, 20, 30, 40, 50]),
                  wm_backward=torch.tensor([1.0, 2, 3, 4, 5]), seconds=2.0,
                  diverged=torch.tensor([False, True, False, False, True]))
    return ep, tasks


def test_handmade_episodes_are_real_wall_dynamics():
    ep, _ = handmade_episodes()
    env = WallEnv(CFG)
    for t in range(ep.actions.shape[1]):
        torch.testing.assert_close(env.step(ep.states[:, t], ep.actions[:, t]), ep.states[:, t + 1])


def test_evaluate_counts_successes_wall_stuck_failures_and_compute():
    ep, tasks = handmade_episodes()
    r = evaluate("hand", ep, tasks, CFG, world_model=FreeSpace(), reference_error=0.0125)
    assert isinstance(r, EvalReport)
    assert (r.name, r.n_tasks, r.successes) == ("hand", 5, 2)
    assert r.success_rate == pytest.approx(0.4)
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson_interval(2, 5))
    # Three failures, two of them pressed against the wall; the success on the wall face does not count.
    assert r.stuck_at_wall == pytest.approx(2 / 3)
    final_dist = (ep.final_states - tasks.goals).norm(dim=-1).mean().item()
    assert r.mean_final_distance == pytest.approx(final_dist, rel=1e-6)
    # Model error: 20 transitions, all exact for FreeSpace except the stopped one (error 0.5).
    assert r.wm_error == pytest.approx(0.5 / 20, rel=1e-5)
    assert r.wm_error_ratio == pytest.approx(2.0, rel=1e-5)
    assert r.wm_forward_per_task == pytest.approx(30.0)
    assert r.wm_backward_per_task == pytest.approx(3.0)
    assert r.wm_evals_per_task == pytest.approx(30.0 + 2 * 3.0)
    assert r.wall_s_per_task == pytest.approx(2.0 / 5)
    assert r.n_diverged == 2
    d = r.as_dict()
    assert d["successes"] == 2 and set(d) >= {"wm_evals_per_task", "stuck_at_wall", "ci_low"}
    assert "2/5" in format_report(r) and "hand" in format_report(r)


def test_evaluate_without_model_or_reference_gives_nan_errors_and_no_failures_means_zero_stuck():
    ep, tasks = handmade_episodes()
    r = evaluate("no model", ep, tasks, CFG)
    assert math.isnan(r.wm_error) and math.isnan(r.wm_error_ratio)
    r = evaluate("no reference", ep, tasks, CFG, world_model=FreeSpace())
    assert not math.isnan(r.wm_error) and math.isnan(r.wm_error_ratio)
    # Only the successful tasks: no failures at all -> 0, not a division by zero.
    keep = torch.tensor([0, 1])
    sub = Episodes(ep.states[keep], ep.actions[keep], None, ep.wm_forward[keep], ep.wm_backward[keep],
                   1.0, ep.diverged[keep])
    r = evaluate("all good", sub, TaskSet(tasks.starts[keep], tasks.goals[keep], "eval", 0), CFG)
    assert r.successes == 2 and r.stuck_at_wall == 0.0 and r.ci_high == pytest.approx(1.0)


def test_evaluate_oracle_vs_straight_line():
    env = WallEnv(CFG)
    tasks = sample_tasks(100, 1, "eval", CFG)
    oracle = evaluate("oracle", run_controller(env, oracle_policy(CFG), tasks), tasks, CFG)
    straight = evaluate("straight", run_controller(env, straight_line_policy(CFG), tasks), tasks, CFG)
    assert oracle.success_rate >= 0.99 and oracle.wm_evals_per_task == 0
    blocked = straight_line_blocked(tasks.starts, tasks.goals, CFG).float().mean().item()
    assert straight.success_rate <= 1 - blocked + 0.05
    assert straight.stuck_at_wall > 0.9


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
    expert_runs = run_policy(env, expert_policy(CFG, generator=gen), tasks)
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
    planner = GBPPlanner(model, GBPConfig(iterations=30, restarts=2))
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
