"""Tests for gbp_utils.control: Execution, execute, run_open_loop, run_mpc, run_controller and Episodes."""

import math
import re

import pytest
from helpers import FreeSpace
import torch

from gbp_utils.control import OPEN_LOOP, Episodes, Execution, execute, run_controller, run_mpc, run_open_loop
from gbp_utils.env import TaskSet, WallConfig, WallEnv, sample_tasks, success, touching_wall
from gbp_utils.planners import GBPConfig, GBPPlanner, Plan
from gbp_utils.policies import oracle_policy

BOUND = WallConfig().max_step


class Spy:
    """Wraps a planner and records every call (horizon, warm start) and every returned plan."""

    def __init__(self, planner):
        self.planner = planner
        self.calls, self.plans = [], []

    def __call__(self, starts, goals, horizon, warm_start=None):
        plan = self.planner(starts, goals, horizon, warm_start=warm_start)
        self.calls.append((starts.clone(), horizon, None if warm_start is None else warm_start.clone()))
        self.plans.append(plan)
        return plan


def left_side_tasks(n: int, seed: int, reach: float = 2.5) -> TaskSet:
    """Start and goal both in the open left half, away from the wall and the border: free space."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.stack([torch.rand(n, generator=g) * 2.5 - 4.0, torch.rand(n, generator=g) * 6 - 3], -1)
    goals = starts + (torch.rand(n, 2, generator=g) * 2 - 1) * reach
    goals[:, 0] = goals[:, 0].clamp(-4.5, -0.8)
    return TaskSet(starts, goals, "eval", seed)


# Gaussian restarts: FreeSpace ignores the wall, so waypoint restarts could route plans through it.
SMALL = GBPConfig(iterations=60, warm_iterations=10, restarts=2, lr=0.1, init="gaussian")


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------
def test_open_loop_execution_never_replans():
    assert OPEN_LOOP == Execution("open-loop") and OPEN_LOOP.replan_every is None
    for k in (1, 3, 0):
        with pytest.raises(ValueError, match=rf"open-loop execution never replans: leave replan_every None "
                                             rf"\(got {k}\)"):
            Execution("open-loop", k)


@pytest.mark.parametrize("k", [None, 0, -1, 2.5, "3", True])
def test_mpc_execution_needs_a_positive_integer_replanning_interval(k):
    with pytest.raises(ValueError, match=rf"Execution\('mpc', replan_every=k\) needs an integer k >= 1; "
                                         rf"got {re.escape(repr(k))}"):
        Execution("mpc", k)


def test_execution_rejects_an_unknown_mode_naming_it():
    with pytest.raises(ValueError, match=r"Execution.mode must be one of \('open-loop', 'mpc'\); got 'closed-loop'"):
        Execution("closed-loop")


def test_execution_labels_and_equality():
    assert OPEN_LOOP.label == "open-loop"
    assert [Execution("mpc", k).label for k in (1, 3, 10)] == ["MPC/1", "MPC/3", "MPC/10"]
    assert Execution("mpc", 3) == Execution("mpc", replan_every=3) != Execution("mpc", 4)
    assert len({OPEN_LOOP, Execution("mpc", 3), Execution("mpc", 3)}) == 2  # hashable: usable as keys


def assert_same_episodes(a: Episodes, b: Episodes):
    for name in ("states", "actions", "first_plan_states", "wm_forward", "wm_backward", "diverged"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.n_plans == b.n_plans


@pytest.mark.parametrize("execution", [OPEN_LOOP, Execution("mpc", 1), Execution("mpc", 4)])
@pytest.mark.parametrize("horizon", [None, 6])
def test_execute_dispatches_to_run_open_loop_or_run_mpc(execution, horizon):
    env = WallEnv(WallConfig(max_steps=8))
    tasks = sample_tasks(3, 0, "eval")
    planner = GBPPlanner(FreeSpace(), GBPConfig(iterations=5, warm_iterations=2, restarts=2), BOUND)
    ep = execute(env, planner, tasks, execution, horizon)
    if execution.mode == "open-loop":
        expected = run_open_loop(env, planner, tasks, horizon)
    else:
        expected = run_mpc(env, planner, tasks, execution.replan_every, horizon)
    assert_same_episodes(ep, expected)
    assert ep.n_plans == (1 if execution.mode == "open-loop" else math.ceil(8 / execution.replan_every))


@pytest.mark.parametrize("bad", ["mpc", "open-loop", 3, None])
def test_execute_rejects_anything_but_an_execution(bad):
    with pytest.raises(TypeError, match=rf"execution must be a control.Execution.*; got {re.escape(repr(bad))}"):
        execute(WallEnv(), GBPPlanner(FreeSpace(), SMALL, BOUND), left_side_tasks(2, 0), bad)


# --------------------------------------------------------------------------------------------
# Open loop
# --------------------------------------------------------------------------------------------
def test_open_loop_executes_exactly_the_planned_actions():
    env = WallEnv()
    tasks = sample_tasks(12, 0, "eval")  # goals across the wall: free-space plans hit it
    spy = Spy(GBPPlanner(FreeSpace(), GBPConfig(iterations=20, restarts=2), BOUND))
    ep = run_open_loop(env, spy, tasks)
    assert len(spy.calls) == 1 and spy.calls[0][1] == env.wall.max_steps and spy.calls[0][2] is None
    plan = spy.plans[0]
    T = env.wall.max_steps
    s, states = tasks.starts, [tasks.starts]
    for t in range(T):
        s = env.step(s, plan.actions[:, t])
        states.append(s)
    assert isinstance(ep, Episodes)
    assert torch.equal(ep.states, torch.stack(states, 1))
    assert torch.equal(ep.actions, env.clip_actions(plan.actions))
    assert torch.equal(ep.first_plan_states, plan.predicted_states)
    assert torch.equal(ep.final_states, ep.states[:, -1])
    assert ep.wm_forward.shape == (12,) and (ep.wm_forward == plan.wm_forward).all()
    assert (ep.wm_backward == plan.wm_backward).all()
    assert torch.equal(ep.diverged, plan.diverged) and ep.n_plans == 1
    # The wall stopped at least one of these plans: reality differs from the free-space prediction.
    assert touching_wall(ep.states).any()
    assert not torch.allclose(ep.final_states, plan.predicted_states[:, -1])


def test_open_loop_with_a_short_horizon_runs_that_many_steps():
    env = WallEnv()
    tasks = left_side_tasks(5, 1, reach=1.5)
    ep = run_open_loop(env, GBPPlanner(FreeSpace(), SMALL, BOUND), tasks, horizon=6)
    assert ep.states.shape == (5, 7, 2) and ep.actions.shape == (5, 6, 2)
    assert ep.first_plan_states.shape == (5, 7, 2)
    assert success(ep.final_states, tasks.goals).all()  # free space, exact model


def test_episodes_as_dataset_holds_the_executed_transitions():
    env = WallEnv()
    tasks = left_side_tasks(4, 2)
    ep = run_open_loop(env, GBPPlanner(FreeSpace(), SMALL, BOUND), tasks, horizon=5)
    ds = ep.as_dataset()
    s, a, s_next = ds.transitions()
    assert s.shape == (20, 2)
    torch.testing.assert_close(env.step(s, a), s_next)


# --------------------------------------------------------------------------------------------
# MPC
# --------------------------------------------------------------------------------------------
def test_mpc_with_the_true_model_reaches_goals_in_free_space():
    env = WallEnv(WallConfig(max_steps=12))
    tasks = left_side_tasks(16, 3)
    ep = run_mpc(env, GBPPlanner(FreeSpace(), SMALL, BOUND), tasks, replan_every=3)
    dist = (ep.final_states - tasks.goals).norm(dim=-1)
    assert dist.max() < 0.1, f"worst final distance {dist.max():.3f}"
    assert not ep.diverged.any()


def test_mpc_corrects_a_biased_model_where_open_loop_misses():
    """The model thinks actions move the agent 30% less than they do. Open loop overshoots by
    ~0.43 of the distance; replanning from the state actually reached closes the loop."""
    env = WallEnv(WallConfig(max_steps=12))
    g = torch.Generator().manual_seed(4)
    n = 12
    starts = torch.stack([torch.rand(n, generator=g) * 0.7 - 4.2, torch.rand(n, generator=g) * 4 - 2], -1)
    goals = starts + torch.stack([torch.full((n,), 2.0), torch.rand(n, generator=g) * 2 - 1], -1)
    tasks = TaskSet(starts, goals, "eval", 4)  # the overshoot stays in free space (x < -0.6, |y| < 3.5)
    planner = GBPPlanner(FreeSpace(gain=0.7), SMALL, BOUND)
    open_loop = run_open_loop(env, planner, tasks)
    mpc = run_mpc(env, planner, tasks, replan_every=1)
    assert not success(open_loop.final_states, tasks.goals).any()
    assert (open_loop.final_states - tasks.goals).norm(dim=-1).min() > 0.7
    assert success(mpc.final_states, tasks.goals).all()


def expected_schedule(T: int, k: int, horizon: int | None):
    """(t, H, executed) for every planning round of receding-horizon control."""
    out, t = [], 0
    while t < T:
        H = min(horizon or T, T - t)
        out.append((t, H, min(k, T - t)))
        t += min(k, T - t)
    return out


@pytest.mark.parametrize("replan_every", [1, 3, 7])
def test_mpc_runs_the_whole_budget_and_counts_plans_and_compute(replan_every):
    T, B = 10, 3
    env = WallEnv(WallConfig(max_steps=T))
    tasks = left_side_tasks(B, 5)
    cfg = GBPConfig(iterations=6, warm_iterations=2, restarts=2)
    spy = Spy(GBPPlanner(FreeSpace(), cfg, BOUND))
    ep = run_mpc(env, spy, tasks, replan_every=replan_every)
    assert ep.states.shape == (B, T + 1, 2) and ep.actions.shape == (B, T, 2)
    assert ep.n_plans == math.ceil(T / replan_every) == len(spy.plans)
    schedule = expected_schedule(T, replan_every, None)
    assert [c[1] for c in spy.calls] == [H for _, H, _ in schedule]
    # First plan from scratch, later ones warm-started from the previous plan's unexecuted tail.
    assert spy.calls[0][2] is None
    for i in range(1, len(schedule)):
        prev, k = spy.plans[i - 1], schedule[i - 1][2]
        torch.testing.assert_close(spy.calls[i][2], prev.actions[:, k:])
    # Each plan starts where the agent really is, and its first k actions are what was executed.
    for (t, H, k), call, plan in zip(schedule, spy.calls, spy.plans):
        assert torch.equal(call[0], ep.states[:, t])
        assert torch.equal(ep.actions[:, t:t + k], env.clip_actions(plan.actions[:, :k]))
    # Compute is accumulated over all plans, per task.
    expected_fwd = sum(p.wm_forward for p in spy.plans)
    expected_bwd = sum(p.wm_backward for p in spy.plans)
    assert expected_fwd == sum((6 + 1) * 2 * H + H if i == 0 else (2 + 1) * 2 * H + H
                               for i, (_, H, _) in enumerate(schedule))
    assert (ep.wm_forward == expected_fwd).all() and (ep.wm_backward == expected_bwd).all()
    assert torch.equal(ep.first_plan_states, spy.plans[0].predicted_states)
    assert ep.seconds > 0
    # The executed states are the real environment's.
    for t in range(T):
        assert torch.equal(ep.states[:, t + 1], env.step(ep.states[:, t], ep.actions[:, t]))


def test_mpc_with_a_fixed_horizon_shorter_than_the_budget_pads_the_warm_start():
    T, B, H, k = 10, 4, 4, 3
    env = WallEnv(WallConfig(max_steps=T))
    tasks = left_side_tasks(B, 6, reach=1.5)
    spy = Spy(GBPPlanner(FreeSpace(), GBPConfig(iterations=30, warm_iterations=5, restarts=2), BOUND))
    ep = run_mpc(env, spy, tasks, replan_every=k, horizon=H)
    assert ep.states.shape == (B, T + 1, 2) and ep.n_plans == 4
    assert [c[1] for c in spy.calls] == [4, 4, 4, 1]  # the last round only has one step left
    # Rounds 1 and 2: the 1-action tail is padded to 4 with zero actions ("stay").
    for i in (1, 2):
        tail = spy.plans[i - 1].actions[:, k:]
        assert tail.shape[1] == 1
        torch.testing.assert_close(spy.calls[i][2], torch.cat([tail, torch.zeros(B, H - 1, 2)], 1))
    # Round 3: the horizon shrinks to the one remaining step, the tail is cut.
    torch.testing.assert_close(spy.calls[3][2], spy.plans[2].actions[:, k:k + 1])
    assert success(ep.final_states, tasks.goals).all()


def test_mpc_rejects_replan_every_below_one():
    env = WallEnv()
    with pytest.raises(ValueError, match="replan_every must be >= 1; got 0"):
        run_mpc(env, GBPPlanner(FreeSpace(), SMALL, BOUND), left_side_tasks(2, 7), replan_every=0)


def test_mpc_with_replan_every_longer_than_the_horizon_runs_or_says_why():
    T = 10
    env = WallEnv(WallConfig(max_steps=T))
    tasks = left_side_tasks(3, 8)
    planner = GBPPlanner(FreeSpace(), GBPConfig(iterations=5, warm_iterations=2, restarts=2), BOUND)
    try:
        ep = run_mpc(env, planner, tasks, replan_every=3, horizon=2)
    except ValueError as exc:  # a clear refusal is acceptable
        assert "horizon" in str(exc) and "replan_every" in str(exc)
    else:
        assert ep.states.shape == (3, T + 1, 2)


def test_mpc_accumulates_divergence_flags():
    class Diverges:
        """A stub planner: task 1 diverges on the second plan only."""

        def __init__(self):
            self.n = 0

        def __call__(self, starts, goals, horizon, warm_start=None):
            B = starts.shape[0]
            self.n += 1
            diverged = torch.zeros(B, dtype=torch.bool)
            if self.n == 2:
                diverged[1] = True
            return Plan(torch.zeros(B, horizon, 2), starts[:, None].expand(B, horizon + 1, 2), torch.zeros(B),
                        torch.zeros(1, B), wm_forward=horizon, wm_backward=0, seconds=0.0, diverged=diverged)

    env = WallEnv(WallConfig(max_steps=6))
    ep = run_mpc(env, Diverges(), left_side_tasks(3, 9), replan_every=2)
    assert ep.diverged.tolist() == [False, True, False]
    assert (ep.wm_forward == 6 + 4 + 2).all() and (ep.wm_backward == 0).all()


# --------------------------------------------------------------------------------------------
# Reference controllers
# --------------------------------------------------------------------------------------------
def test_run_controller_with_the_oracle_succeeds_with_zero_model_compute():
    env = WallEnv()
    tasks = sample_tasks(200, 0, "eval")
    ep = run_controller(env, oracle_policy(env.wall), tasks)
    rate = success(ep.final_states, tasks.goals).float().mean().item()
    assert rate >= 0.99, f"oracle success {rate:.3f}"
    assert ep.states.shape == (200, env.wall.max_steps + 1, 2)
    assert ep.actions.shape == (200, env.wall.max_steps, 2)
    assert ep.first_plan_states is None and ep.n_plans == 0
    assert (ep.wm_forward == 0).all() and (ep.wm_backward == 0).all()
    assert not ep.diverged.any()
