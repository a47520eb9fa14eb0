"""Tests for gbp_utils.evaluation: evaluate / EvalReport on hand-made and real episodes, model_evals,
reports_frame and format_report."""

import math

import pandas as pd
import pytest
from helpers import FreeSpace
import torch

from gbp_utils.control import Episodes, run_controller
from gbp_utils.env import TaskSet, WallConfig, WallEnv, sample_tasks, straight_line_blocked
from gbp_utils.evaluation import EvalReport, evaluate, format_report, model_evals, reports_frame
from gbp_utils.policies import oracle_policy, straight_line_policy
from gbp_utils.stats import wilson_interval

CFG = WallConfig()


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
    assert r.seconds_per_task == pytest.approx(2.0 / 5)
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


def test_model_evals_counts_a_backward_step_as_two_forward_steps():
    assert model_evals(30, 3) == 36 and model_evals(0.0, 0.0) == 0.0
    torch.testing.assert_close(model_evals(torch.tensor([1.0, 2.0]), torch.tensor([10.0, 0.0])),
                               torch.tensor([21.0, 2.0]))


def test_reports_frame_has_one_row_per_report_indexed_by_name():
    ep, tasks = handmade_episodes()
    reports = [evaluate("a", ep, tasks, CFG), evaluate("b", ep, tasks, CFG, world_model=FreeSpace())]
    frame = reports_frame(reports)
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == ["a", "b"] and frame.index.name == "name"
    assert list(frame.columns) == [k for k in reports[0].as_dict() if k != "name"]
    assert frame.loc["b", "wm_error"] == pytest.approx(reports[1].wm_error)
    assert math.isnan(frame.loc["a", "wm_error"])


def test_format_report_shows_the_numbers():
    ep, tasks = handmade_episodes()
    text = format_report(evaluate("hand", ep, tasks, CFG, world_model=FreeSpace(), reference_error=0.0125))
    assert text.startswith("hand: success 40.0% [")
    assert "(2/5)" in text and "model error x2.0" in text and "36 model evals/task" in text and "400.0 ms/task" in text
