"""Tests for gbp_utils.policies: oracle, expert, straight line and shortest paths (run through
``data.run_policy``, tested in test_data)."""

import pytest
import torch

from gbp_utils.data import run_policy
from gbp_utils.env import TaskSet, WallConfig, WallEnv, sample_tasks, straight_line_blocked, success
from gbp_utils.policies import CORNER_INSET, expert_policy, oracle_policy, shortest_path, straight_line_policy

CFG = WallConfig()


@pytest.fixture(scope="module")
def env():
    return WallEnv(CFG)


@pytest.fixture(scope="module")
def eval_tasks():
    return sample_tasks(1000, 0, "eval", CFG)


@pytest.fixture(scope="module")
def oracle_runs(env, eval_tasks):
    return run_policy(env, oracle_policy(CFG), eval_tasks)


def success_rate(traj, tasks) -> float:
    return success(traj.final_states, tasks.goals, CFG).float().mean().item()


def door_crossing_length(starts, goals, door_lo, door_hi, n=121):
    """Independent reference: the shortest path between opposite sides must cross the wall's
    x-range through the door; minimise |s - (x_near, y1)| + |(x_near, y1) - (x_far, y2)| +
    |(x_far, y2) - g| over y1, y2 on a grid of the door (float64)."""
    s, g = starts.double(), goals.double()
    ys = torch.linspace(door_lo, door_hi, n, dtype=torch.float64)
    left = s[:, 0] < CFG.wall_x
    x_near = torch.where(left, CFG.wall_left, CFG.wall_right).double()[:, None, None]
    x_far = torch.where(left, CFG.wall_right, CFG.wall_left).double()[:, None, None]
    y1, y2 = ys[None, :, None], ys[None, None, :]
    total = (torch.hypot(x_near - s[:, 0, None, None], y1 - s[:, 1, None, None])
             + torch.hypot(x_far - x_near, y2 - y1)
             + torch.hypot(g[:, 0, None, None] - x_far, g[:, 1, None, None] - y2))
    return total.amin((1, 2))


# --------------------------------------------------------------------------------------------
# Success rates on 1000 seeded evaluation tasks
# --------------------------------------------------------------------------------------------
def test_oracle_reaches_at_least_99_percent_of_eval_goals(oracle_runs, eval_tasks):
    rate = success_rate(oracle_runs, eval_tasks)
    assert rate >= 0.99, f"oracle success {rate:.3f}"


def test_expert_reaches_at_least_95_percent_of_eval_goals(env, eval_tasks):
    gen = torch.Generator().manual_seed(0)
    traj = run_policy(env, expert_policy(CFG, generator=gen), eval_tasks)
    rate = success_rate(traj, eval_tasks)
    assert rate >= 0.95, f"expert success {rate:.3f}"


def test_straight_line_controller_mostly_fails(env, eval_tasks):
    traj = run_policy(env, straight_line_policy(CFG), eval_tasks)
    rate = success_rate(traj, eval_tasks)
    assert rate < 0.5, f"straight-line success {rate:.3f}"
    # It succeeds exactly where nothing blocks the line, and stalls on the wall where it is blocked.
    blocked = straight_line_blocked(eval_tasks.starts, eval_tasks.goals, CFG)
    reached = success(traj.final_states, eval_tasks.goals, CFG)
    assert reached[~blocked].all()
    assert not reached[blocked].any()


def test_oracle_actions_are_within_bounds_and_paths_stay_free(env, oracle_runs, eval_tasks):
    policy = oracle_policy(CFG)
    raw = policy(eval_tasks.starts, eval_tasks.goals)
    assert raw.shape == (1000, 2)
    assert (raw.abs() <= CFG.max_step + 1e-6).all()
    assert (oracle_runs.actions.abs() <= CFG.max_step + 1e-6).all()
    assert env.is_free(oracle_runs.states.reshape(-1, 2)).all()


def test_oracle_never_runs_into_the_wall(oracle_runs):
    """Every oracle step is planned collision-free: the executed displacement equals the action."""
    executed = oracle_runs.states[:, 1:] - oracle_runs.states[:, :-1]
    torch.testing.assert_close(executed, oracle_runs.actions, atol=1e-5, rtol=0)


def test_oracle_moves_at_full_speed_on_straight_legs(env):
    """With the goal in plain sight and far away, each step spends the whole L-inf budget."""
    starts = torch.tensor([[-4.0, -4.0], [-4.0, 0.1], [3.0, 3.0]])
    goals = torch.tensor([[-1.0, 4.0], [4.0, -0.1], [4.5, -3.0]])
    traj = run_policy(env, oracle_policy(CFG), TaskSet(starts, goals, "eval", -1), max_steps=4)
    torch.testing.assert_close(traj.actions.abs().amax(-1), torch.full((3, 4), CFG.max_step))


# --------------------------------------------------------------------------------------------
# Shortest paths
# --------------------------------------------------------------------------------------------
def test_shortest_path_is_never_shorter_than_the_straight_distance(eval_tasks):
    waypoints, length = shortest_path(eval_tasks.starts, eval_tasks.goals, CFG)
    straight = (eval_tasks.goals - eval_tasks.starts).norm(dim=-1)
    assert waypoints.shape == (1000, 5, 2) and length.shape == (1000,)
    assert (length >= straight - 1e-4).all()
    assert torch.allclose(waypoints[:, -1], eval_tasks.goals)
    blocked = straight_line_blocked(eval_tasks.starts, eval_tasks.goals, CFG)
    assert (length[blocked] >= straight[blocked]).all()
    assert (length[blocked] - straight[blocked]).mean() > 0.1


def test_shortest_path_equals_the_straight_distance_when_unblocked():
    gen = torch.Generator().manual_seed(0)
    # Both points left of the wall (a half-plane, so nothing can block) ...
    a = torch.rand(300, 2, generator=gen) * torch.tensor([4.8, 10.0]) + torch.tensor([-5.0, -5.0])
    b = torch.rand(300, 2, generator=gen) * torch.tensor([4.8, 10.0]) + torch.tensor([-5.0, -5.0])
    # ... and lines straight through the door's middle.
    c = torch.stack([torch.full((100,), -3.0), torch.rand(100, generator=gen) * 0.4 - 0.2], -1)
    d = torch.stack([torch.full((100,), 3.0), torch.rand(100, generator=gen) * 0.4 - 0.2], -1)
    starts, goals = torch.cat([a, c]), torch.cat([b, d])
    waypoints, length = shortest_path(starts, goals, CFG)
    torch.testing.assert_close(length, (goals - starts).norm(dim=-1), atol=1e-5, rtol=0)
    # The path is the goal itself, repeated as padding.
    torch.testing.assert_close(waypoints, goals[:, None].expand(-1, 5, -1))


def test_shortest_path_length_matches_an_independent_door_crossing_reference(eval_tasks):
    tasks = eval_tasks[torch.arange(200)]
    _, length = shortest_path(tasks.starts, tasks.goals, CFG)
    length = length.double()
    inset = door_crossing_length(tasks.starts, tasks.goals, CFG.door_low + CORNER_INSET,
                                 CFG.door_high - CORNER_INSET)
    full = door_crossing_length(tasks.starts, tasks.goals, CFG.door_low, CFG.door_high)
    # The oracle's path bends at inset corners: equal to the inset-door optimum ...
    torch.testing.assert_close(length, inset, atol=0.01, rtol=0)
    # ... and no path can beat the optimum through the full door.
    assert (length >= full - 0.01).all()


def test_shortest_path_around_a_corner_reference_case():
    start, goal = torch.tensor([[-3.0, 3.0]]), torch.tensor([[3.0, 3.0]])
    waypoints, length = shortest_path(start, goal, CFG)
    top = CFG.door_high - CORNER_INSET
    corner_l, corner_r = torch.tensor([CFG.wall_left, top]), torch.tensor([CFG.wall_right, top])
    torch.testing.assert_close(waypoints[0, 0], corner_l)
    torch.testing.assert_close(waypoints[0, 1], corner_r)
    expected = 2 * (start[0] - corner_l).norm() + CFG.wall_thickness
    assert length.item() == pytest.approx(expected.item(), abs=1e-5)


# --------------------------------------------------------------------------------------------
# Expert
# --------------------------------------------------------------------------------------------
def test_expert_is_reproducible_with_a_generator_and_noise_free_at_zero(env):
    tasks = sample_tasks(50, 3, "train", CFG)
    run = lambda seed: run_policy(  # noqa: E731
        env, expert_policy(CFG, generator=torch.Generator().manual_seed(seed)), tasks)
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a.states, b.states)
    assert not torch.equal(a.states, c.states)
    clean1 = run_policy(env, expert_policy(CFG, noise_std=0.0), tasks)
    clean2 = run_policy(env, expert_policy(CFG, noise_std=0.0), tasks)
    assert torch.equal(clean1.states, clean2.states)
    assert success(clean1.final_states, tasks.goals, CFG).all()


def test_expert_rejects_negative_noise():
    with pytest.raises(ValueError, match="noise_std must be >= 0; got -0.1"):
        expert_policy(CFG, noise_std=-0.1)


def test_policies_work_with_a_custom_geometry():
    cfg = WallConfig(wall_x=1.0, door_center=-2.0, door_width=1.0, max_steps=40)
    env = WallEnv(cfg)
    tasks = sample_tasks(300, 0, "eval", cfg)
    oracle = run_policy(env, oracle_policy(cfg), tasks)
    assert success(oracle.final_states, tasks.goals, cfg).float().mean().item() >= 0.99
    expert = run_policy(env, expert_policy(cfg, generator=torch.Generator().manual_seed(0)), tasks)
    assert success(expert.final_states, tasks.goals, cfg).float().mean().item() >= 0.9


def test_visibility_path_goes_around_blocked_segments_and_reports_unreachable_goals():
    """policies.visibility_path (both worlds' shortest_path use it): node 0 the state, the last node the goal."""
    from gbp_utils.policies import visibility_path
    nodes = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [3.0, 1.0], [2.0, 0.0]]]).repeat(2, 1, 1)
    blocked = torch.zeros(2, 4, 4, dtype=torch.bool)
    blocked[:, 0, 3] = blocked[:, 3, 0] = True  # the straight segment is blocked in both tasks
    blocked[:, 0, 2] = blocked[:, 2, 0] = True
    blocked[1, :, 1] = blocked[1, 1, :] = True  # task 1: node 1 is unusable too -> unreachable
    path, length = visibility_path(nodes, blocked)
    assert path.shape == (2, 3, 2)
    assert torch.equal(path[0], torch.tensor([[1.0, 1.0], [2.0, 0.0], [2.0, 0.0]]))  # via node 1, padded with the goal
    assert length[0].item() == pytest.approx(2 * 2 ** 0.5)
    assert length[1].item() == float("inf")
