"""Tests for gbp_utils.planners: GBPPlanner, GBPConfig, planning_cost, two_leg_actions, repeat_rows, the
action-bound check every planner shares, and make_planner (the one builder of every planner).

Most tests plan through a *known* differentiable model, free space without walls (s' = s + a), so
the optimum is known: any goal within ``bound * H`` per coordinate is reachable exactly.
"""

import itertools
import math
import re
import warnings

import pytest
from helpers import FreeSpace, NaNRightOf, Recording, reachable_tasks
import torch

from gbp_utils.env import TrueDynamicsModel
from gbp_utils.planners import (GBPConfig, GBPPlanner, Plan, make_planner, planning_cost, repeat_rows,
                                two_leg_actions)
from gbp_utils.sampling import (CEMConfig, CEMPlanner, GDCEMConfig, GDCEMPlanner, MPPIConfig, MPPIPlanner,
                                SamplingConfig)
from gbp_utils.world_model import WorldModel, WorldModelConfig, rollout

BOUND = 0.5


class Mud(FreeSpace):
    """Free space with a smooth patch of mud at the origin where the agent barely moves."""

    def forward(self, s, a):
        speed = 1 - 0.95 * torch.exp(-(s ** 2).sum(-1, keepdim=True) / 0.8)
        return s + speed * a + 0 * self.dummy


def greedy_rollout(starts, goals, horizon, bound=BOUND):
    """The optimal free-space rollout for every t at once: move each coordinate towards the goal
    as far as the box bound allows (the reachable set after t steps is a box around the start)."""
    states = [starts]
    for _ in range(horizon):
        states.append(states[-1] + (goals - states[-1]).clamp(-bound, bound))
    return torch.stack(states, 1)


# --------------------------------------------------------------------------------------------
# planning_cost, repeat_rows, two_leg_actions
# --------------------------------------------------------------------------------------------
def test_final_cost_is_the_distance_of_the_last_state():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(5, 7, 2, generator=g)
    goals = torch.randn(5, 2, generator=g)
    expected = (pred[:, -1] - goals).norm(dim=-1)
    torch.testing.assert_close(planning_cost(pred, goals, "final"), expected, atol=1e-6, rtol=1e-6)
    # Only the last state matters.
    moved = pred.clone()
    moved[:, :-1] += 10.0
    torch.testing.assert_close(planning_cost(moved, goals, "final"), expected, atol=1e-6, rtol=1e-6)


def test_cost_is_smoothed_at_the_goal_so_its_gradient_exists():
    goals = torch.tensor([[1.0, -2.0]])
    pred = goals[:, None].repeat(1, 4, 1).requires_grad_(True)
    c = planning_cost(pred, goals, "final")
    assert c.item() == pytest.approx(1e-4, rel=1e-3)  # sqrt(1e-8)
    c.sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().max() == 0


@pytest.mark.parametrize("discount", [0.2, 0.8, 1.0])
def test_all_cost_weights_sum_to_one_and_emphasise_the_end(discount):
    H = 6
    goals = torch.zeros(1, 2)
    # Every predicted state at distance 3 -> the weighted average is 3 (weights sum to 1).
    pred = torch.tensor([3.0, 0.0]).expand(1, H + 1, 2).clone()
    assert planning_cost(pred, goals, "all", discount).item() == pytest.approx(3.0, rel=1e-5)
    # Read off each weight: only state t is away from the goal (distance 1).
    weights = []
    for t in range(1, H + 1):
        p = torch.zeros(1, H + 1, 2)
        p[0, t, 0] = 1.0
        weights.append(planning_cost(p, goals, "all", discount).item())
    weights = torch.tensor(weights)
    expected = discount ** torch.arange(H - 1, -1, -1, dtype=torch.float32)
    torch.testing.assert_close(weights, expected / expected.sum(), atol=1e-4, rtol=1e-4)
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-3)
    if discount < 1:
        assert (weights.diff() > 0).all(), "later states must weigh more"
        assert weights.argmax().item() == H - 1
    # The start state s_0 is not part of the cost.
    p = torch.zeros(1, H + 1, 2)
    p[0, 0] = 100.0
    assert planning_cost(p, goals, "all", discount).item() == pytest.approx(1e-4, rel=1e-2)


def test_repeat_rows_repeats_rows_restart_major():
    x = torch.arange(6.0).reshape(3, 2)
    r = repeat_rows(x, 4)
    assert r.shape == (12, 2)
    torch.testing.assert_close(r.reshape(3, 4, 2), x[:, None].expand(3, 4, 2))


@pytest.mark.parametrize("H", [2, 7, 10])
def test_two_leg_actions_reach_the_waypoint_then_the_goal(H):
    g = torch.Generator().manual_seed(H)
    s, w, goal = (torch.randn(5, 2, generator=g) for _ in range(3))
    a = two_leg_actions(w, s, goal, H)
    assert a.shape == (5, H, 2)
    states = s[:, None] + torch.cat([torch.zeros(5, 1, 2), a.cumsum(1)], 1)
    torch.testing.assert_close(states[:, H // 2], w, atol=1e-5, rtol=0)
    torch.testing.assert_close(states[:, H], goal, atol=1e-5, rtol=0)
    # Constant velocity on each leg.
    torch.testing.assert_close(a[:, : H // 2], a[:, :1].expand(-1, H // 2, -1))
    torch.testing.assert_close(a[:, H // 2:], a[:, -1:].expand(-1, H - H // 2, -1))


# --------------------------------------------------------------------------------------------
# GBPConfig / GBPPlanner input checks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="sgd"), "optimizer must be one of"),
    (dict(cost="sum"), "cost must be one of"),
    (dict(init="zeros"), "init must be one of"),
    (dict(restarts=0), "restarts >= 1"),
    (dict(iterations=-1), "iterations"),
    (dict(lr=0.0), "lr must be a positive finite"),
    (dict(lr=math.inf), "lr must be a positive finite"),
    (dict(discount=0.0), "discount must be in"),
    (dict(discount=1.5), "discount must be in"),
])
def test_bad_config_is_rejected_with_a_clear_message(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GBPConfig(**kwargs)


def test_bad_planner_inputs_are_rejected_with_a_clear_message():
    planner = GBPPlanner(FreeSpace(), GBPConfig(iterations=2, restarts=2), BOUND)
    s, g = reachable_tasks(3, 0)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        planner(s, g, 0)
    with pytest.raises(ValueError, match=r"starts and goals must both be \(B, S\)"):
        planner(s, g[:2], 5)
    with pytest.raises(ValueError, match=r"starts and goals must both be \(B, S\)"):
        planner(s[0], g[0], 5)
    with pytest.raises(ValueError, match=r"warm_start must be \(B, H, A\) = \(3, 5, 2\); got \(3, 4, 2\)"):
        planner(s, g, 5, warm_start=torch.zeros(3, 4, 2))
    with pytest.raises(ValueError, match=r"warm_start must be \(B, H, A\)"):
        planner(s, g, 5, warm_start=torch.zeros(5, 2))


def test_config_none_means_the_default_config():
    assert GBPPlanner(FreeSpace(), None, BOUND).config == GBPConfig()


# --------------------------------------------------------------------------------------------
# Every planner needs the action bound (the environment's wall.max_step)
# --------------------------------------------------------------------------------------------
PLANNER_CLASSES = [(GBPPlanner, GBPConfig), (CEMPlanner, CEMConfig), (MPPIPlanner, MPPIConfig),
                   (GDCEMPlanner, GDCEMConfig)]


@pytest.mark.parametrize("cls, config_cls", PLANNER_CLASSES)
@pytest.mark.parametrize("bound", [None, 0, 0.0, -0.5, math.nan, math.inf, True, "0.5"])
def test_every_planner_rejects_a_missing_or_bad_action_bound_naming_wall_max_step(cls, config_cls, bound):
    with pytest.raises(ValueError, match=r"action_bound must be a finite number > 0 \(the environment's "
                                         rf"wall\.max_step\); got {re.escape(repr(bound))}"):
        cls(FreeSpace(), config_cls(), bound)
    with pytest.raises(ValueError, match=r"wall\.max_step"):
        make_planner(FreeSpace(), config_cls(), bound)


@pytest.mark.parametrize("cls, config_cls", PLANNER_CLASSES)
def test_the_action_bound_cannot_be_left_out(cls, config_cls):
    with pytest.raises(TypeError, match="action_bound"):
        cls(FreeSpace(), config_cls())
    with pytest.raises(TypeError, match="action_bound"):
        make_planner(FreeSpace(), config_cls())
    assert cls(FreeSpace(), config_cls(), 2).action_bound == 2  # an int bound is fine


# --------------------------------------------------------------------------------------------
# make_planner
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, planner_cls", [
    (GBPConfig(restarts=3), GBPPlanner),
    (CEMConfig(population=40), CEMPlanner),
    (MPPIConfig(population=40), MPPIPlanner),
    (GDCEMConfig(population=40), GDCEMPlanner),  # a GDCEMConfig is a CEMConfig too: GD+CEM must win
])
def test_make_planner_picks_the_planner_of_the_config(config, planner_cls):
    planner = make_planner(FreeSpace(), config, 0.3)
    assert type(planner) is planner_cls
    assert planner.config is config and planner.action_bound == 0.3
    s, g = reachable_tasks(2, 0)
    assert planner(s, g, 3).actions.abs().max() <= 0.3


@pytest.mark.parametrize("config, name", [({"iterations": 10}, "dict"), (None, "NoneType"), ("cem", "str"),
                                          (SamplingConfig(), "SamplingConfig")])
def test_make_planner_rejects_other_types_naming_them(config, name):
    with pytest.raises(TypeError, match=rf"config must be a GBPConfig, CEMConfig, MPPIConfig or GDCEMConfig; "
                                        rf"got {name}$"):
        make_planner(FreeSpace(), config, 0.5)


# --------------------------------------------------------------------------------------------
# GBP needs a differentiable model
# --------------------------------------------------------------------------------------------
def test_gbp_refuses_the_true_dynamics_up_front_and_points_to_cem(monkeypatch):
    steps = []
    monkeypatch.setattr(TrueDynamicsModel, "forward", lambda self, s, a: steps.append(s) or s)
    for build in (lambda m: GBPPlanner(m, GBPConfig(), BOUND), lambda m: make_planner(m, GBPConfig(), BOUND)):
        with pytest.raises(TypeError, match=r"GBP needs a world model that is differentiable in its actions; "
                                            r"TrueDynamicsModel is not.*CEM"):
            build(TrueDynamicsModel())
    assert steps == [], "the refusal must come before any planning (no model step)"
    # the sampling planners take it
    assert type(make_planner(TrueDynamicsModel(), CEMConfig(), BOUND)) is CEMPlanner


def test_gbp_probes_a_model_without_a_differentiable_flag():
    class Detached(FreeSpace):
        def forward(self, s, a):
            return super().forward(s, a).detach()

    with pytest.raises(TypeError, match="Detached is not"):
        GBPPlanner(Detached(), None, BOUND)
    GBPPlanner(FreeSpace(), None, BOUND)  # a differentiable model passes the probe


# --------------------------------------------------------------------------------------------
# Plan fields, action bound, consistency
# --------------------------------------------------------------------------------------------
def test_plan_fields_have_the_documented_shapes_and_agree_with_each_other():
    B, H, I, K = 4, 6, 5, 3
    s, g = reachable_tasks(B, 1)
    model = FreeSpace()
    plan = GBPPlanner(model, GBPConfig(iterations=I, restarts=K), BOUND)(s, g, H, trace=True)
    assert isinstance(plan, Plan)
    assert plan.actions.shape == (B, H, 2)
    assert plan.predicted_states.shape == (B, H + 1, 2)
    assert plan.cost.shape == (B,)
    assert plan.cost_history.shape == (I + 1, B)
    assert plan.diverged.shape == (B,) and plan.diverged.dtype == torch.bool and not plan.diverged.any()
    assert plan.trace.shape == (I + 1, B, H, 2)
    assert plan.seconds > 0
    assert not plan.actions.requires_grad and not plan.predicted_states.requires_grad
    # predicted_states is the model's rollout of the returned actions, and cost is its cost.
    torch.testing.assert_close(plan.predicted_states, rollout(model, s, plan.actions))
    torch.testing.assert_close(plan.cost, planning_cost(plan.predicted_states, g), atol=1e-5, rtol=1e-5)
    # cost_history is the best-so-far cost: non-increasing, ending at the returned cost.
    assert (plan.cost_history.diff(dim=0) <= 1e-7).all()
    torch.testing.assert_close(plan.cost_history[-1], plan.cost)
    # The returned actions are one of the iterates of the chosen restart.
    gap = (plan.trace - plan.actions[None]).abs().flatten(2).amax(-1).amin(0)
    assert (gap < 1e-6).all()
    assert GBPPlanner(model, GBPConfig(iterations=I, restarts=K), BOUND)(s, g, H).trace is None


@pytest.mark.parametrize("optimizer", ["adam", "gd"])
@pytest.mark.parametrize("bound", [0.5, 0.2])
def test_actions_respect_the_bound_even_for_a_huge_learning_rate(optimizer, bound):
    s, g = reachable_tasks(8, 2, reach=4.0)
    g = g * 3  # mostly unreachable: gradients keep pushing against the bound
    cfg = GBPConfig(iterations=20, lr=1e6, optimizer=optimizer, restarts=3)
    plan = GBPPlanner(FreeSpace(), cfg, action_bound=bound)(s, g, 5, trace=True)
    assert torch.isfinite(plan.actions).all()
    assert plan.actions.abs().max() <= bound
    assert plan.trace.abs().max() <= bound
    assert not plan.diverged.any()


def test_horizon_one_works_with_waypoint_init():
    s, g = reachable_tasks(4, 3, reach=0.4)
    plan = GBPPlanner(FreeSpace(), GBPConfig(iterations=60, restarts=2), BOUND)(s, g, 1)
    assert plan.actions.shape == (4, 1, 2)
    assert (plan.cost < 0.05).all()


# --------------------------------------------------------------------------------------------
# Planning quality on a known model
# --------------------------------------------------------------------------------------------
# lr chosen per optimiser: Adam's steps are ~lr in u regardless of the gradient size; plain GD on
# the (non-smooth) distance keeps a step of ~lr * H * bound^2 near the goal, so it needs a small lr.
LRS = {"adam": 0.1, "gd": 0.02}


@pytest.mark.parametrize("optimizer, init, cost",
                         list(itertools.product(["adam", "gd"], ["waypoints", "gaussian"], ["final", "all"])))
def test_planner_reaches_reachable_goals_in_free_space(optimizer, init, cost):
    H = 10
    s, g = reachable_tasks(24, 4, reach=2.0)  # reachable in 4 of the 10 steps
    cfg = GBPConfig(iterations=150, lr=LRS[optimizer], optimizer=optimizer, init=init, cost=cost,
                    discount=0.2, restarts=4, seed=1)
    model = FreeSpace()
    plan = GBPPlanner(model, cfg, BOUND)(s, g, H)
    final_dist = (plan.predicted_states[:, -1] - g).norm(dim=-1)
    # The model is the truth here: executing the plan in free space lands where the model says.
    torch.testing.assert_close(plan.predicted_states[:, -1], s + plan.actions.sum(1), atol=1e-5, rtol=0)
    assert final_dist.max() < 0.05, f"worst final distance {final_dist.max():.3f}"
    if cost == "final":
        assert plan.cost.max() < 0.05
    else:
        # The greedy rollout is optimal for every t at once, so its cost is the minimum.
        optimum = planning_cost(greedy_rollout(s, g, H), g, "all", 0.2)
        excess = plan.cost - optimum
        assert excess.min() > -1e-4, "better than the optimum: the cost or the bound is wrong"
        assert excess.max() < 0.15, f"worst excess over the optimal 'all' cost {excess.max():.3f}"


def test_planning_improves_on_the_initial_plans():
    s, g = reachable_tasks(16, 5, reach=2.0)
    plan = GBPPlanner(FreeSpace(), GBPConfig(iterations=50, init="gaussian", restarts=2), BOUND)(s, g, 8)
    assert (plan.cost_history[-1] < 0.5 * plan.cost_history[0]).all()


# --------------------------------------------------------------------------------------------
# Restarts
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("iterations", [0, 4])
def test_returned_plan_is_the_best_iterate_over_all_restarts(iterations):
    """Record every rollout the planner makes and recompute the minimum independently."""
    B, H, K = 5, 6, 4
    s, g = reachable_tasks(B, 6, reach=3.0)
    model = Recording()
    plan = GBPPlanner(model, GBPConfig(iterations=iterations, restarts=K, lr=0.05), BOUND)(s, g, H)
    rollouts = len(model.calls) // H - 1  # the last H calls re-roll the chosen plan for B rows
    assert rollouts == iterations + 1
    best_cost = torch.full((B,), math.inf)
    best_actions = torch.zeros(B, H, 2)
    for r in range(rollouts):
        calls = model.calls[r * H:(r + 1) * H]
        final = calls[-1][2].reshape(B, K, 2)
        cost = ((final - g[:, None]).pow(2).sum(-1) + 1e-8).sqrt()  # (B, K)
        actions = torch.stack([c[1] for c in calls], 1).reshape(B, K, H, 2)
        c_min, k_min = cost.min(1)
        better = c_min < best_cost
        best_cost = torch.where(better, c_min, best_cost)
        best_actions[better] = actions[torch.arange(B), k_min][better]
    torch.testing.assert_close(plan.cost, best_cost, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(plan.actions, best_actions, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("iterations", [0, 30])
def test_more_restarts_never_hurt_and_help_around_an_obstacle(iterations):
    # init_std=0: restart 0 is the deterministic straight line in both runs, so the K-restart run
    # contains the 1-restart run and must be at least as good on every task.
    s = torch.tensor([[-2.5, 0.0], [-3.0, 3.0], [1.0, -3.5], [-2.0, 0.3]])
    g = torch.tensor([[2.5, 0.0], [-1.0, 4.0], [3.0, -2.0], [2.0, -0.3]])
    model = Mud()
    kw = dict(iterations=iterations, init_std=0.0, lr=0.05, seed=3)
    one = GBPPlanner(model, GBPConfig(restarts=1, **kw), BOUND)(s, g, 16)
    many = GBPPlanner(model, GBPConfig(restarts=16, **kw), BOUND)(s, g, 16)
    assert (many.cost <= one.cost + 1e-6).all()
    # The straight line through the mud (tasks 0 and 3) is far worse than going around it.
    assert one.cost[0] > 1.0 and many.cost[0] < 0.5 * one.cost[0]
    assert many.cost[3] < 0.5 * one.cost[3]


# --------------------------------------------------------------------------------------------
# Warm starts
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("restarts", [1, 8])
def test_warm_start_with_zero_iterations_returns_the_optimal_warm_plan(restarts):
    B, H = 6, 8
    s, g = reachable_tasks(B, 7, reach=3.0)
    optimal = ((g - s) / H)[:, None].expand(B, H, 2).contiguous()  # |a| <= 3/8 < bound: inside
    assert optimal.abs().max() < 0.999 * BOUND
    cfg = GBPConfig(iterations=50, warm_iterations=0, restarts=restarts)
    plan = GBPPlanner(FreeSpace(), cfg, BOUND)(s, g, H, warm_start=optimal)
    torch.testing.assert_close(plan.actions, optimal, atol=1e-5, rtol=0)
    assert plan.cost_history.shape == (1, B)
    assert plan.cost.max() < 1e-3


def test_warm_start_at_the_bound_is_pulled_inside_by_the_atanh_clamp():
    s, g = torch.zeros(1, 2), torch.full((1, 2), 10.0)
    warm = torch.full((1, 4, 2), BOUND)
    plan = GBPPlanner(FreeSpace(), GBPConfig(warm_iterations=0, restarts=1), BOUND)(s, g, 4, warm_start=warm)
    torch.testing.assert_close(plan.actions, torch.full((1, 4, 2), 0.999 * BOUND), atol=1e-6, rtol=0)


def test_warm_start_uses_warm_iterations():
    s, g = reachable_tasks(2, 8)
    cfg = GBPConfig(iterations=11, warm_iterations=3, restarts=2)
    cold = GBPPlanner(FreeSpace(), cfg, BOUND)(s, g, 5)
    warm = GBPPlanner(FreeSpace(), cfg, BOUND)(s, g, 5, warm_start=torch.zeros(2, 5, 2))
    assert cold.cost_history.shape[0] == 12 and warm.cost_history.shape[0] == 4


# --------------------------------------------------------------------------------------------
# The world model is never modified
# --------------------------------------------------------------------------------------------
def test_world_model_parameters_get_no_grad_and_flags_are_unchanged():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(hidden=16, n_blocks=1))
    for p in model.out.parameters():
        p.requires_grad_(False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    s, g = reachable_tasks(3, 9)
    GBPPlanner(model, GBPConfig(iterations=5, restarts=2), BOUND)(s, g, 4)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_planning_works_through_a_fully_frozen_model():
    model = FreeSpace()
    model.requires_grad_(False)
    s, g = reachable_tasks(4, 10, reach=2.0)
    plan = GBPPlanner(model, GBPConfig(iterations=60, init="gaussian", restarts=2), BOUND)(s, g, 8)
    assert plan.cost.max() < 0.05
    assert not model.dummy.requires_grad and model.dummy.grad is None


# --------------------------------------------------------------------------------------------
# Compute accounting
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("iterations, warm_iterations, K, H, warm", [
    (7, 2, 3, 5, False), (7, 2, 3, 5, True), (0, 0, 2, 4, False), (4, 1, 1, 1, False),
])
def test_compute_accounting_matches_the_model_evaluations_actually_made(iterations, warm_iterations, K, H, warm):
    B = 3
    s, g = reachable_tasks(B, 11)
    model = Recording()
    cfg = GBPConfig(iterations=iterations, warm_iterations=warm_iterations, restarts=K)
    plan = GBPPlanner(model, cfg, BOUND)(s, g, H, warm_start=torch.zeros(B, H, 2) if warm else None)
    it = warm_iterations if warm else iterations
    assert plan.wm_forward == (it + 1) * K * H + H
    assert plan.wm_backward == it * K * H
    # Independently counted (rows per call summed, divided by the number of tasks).
    assert sum(c[0].shape[0] for c in model.calls) == B * plan.wm_forward
    assert model.backward_rows == B * plan.wm_backward


# --------------------------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------------------------
def test_divergence_is_flagged_per_task_and_the_plan_stays_finite():
    model = NaNRightOf(3.0)
    # Tasks 1 and 3 pull the plan into x > 3 where the model returns NaN; tasks 0 and 2 cannot
    # get there within 4 steps (x <= -4 + 4 * 0.5 = -2).
    s = torch.tensor([[-4.0, 0.0], [2.0, 0.0], [-4.0, 2.0], [2.0, -1.0]])
    g = torch.tensor([[-3.5, 0.5], [3.6, 0.0], [-3.0, 1.5], [3.6, -1.0]])
    cfg = GBPConfig(iterations=40, init="gaussian", restarts=3, lr=0.1)
    with pytest.warns(UserWarning, match=r"GBP diverged \(non-finite cost\) on 2 of 4 tasks"):
        plan = GBPPlanner(model, cfg, BOUND)(s, g, 4)
    assert plan.diverged.tolist() == [False, True, False, True]
    for field in (plan.actions, plan.cost, plan.predicted_states, plan.cost_history):
        assert torch.isfinite(field).all()
    # The diverged tasks keep their best finite iterate: it stays at x <= 3, so >= 0.6 from the goal.
    assert (plan.predicted_states[[1, 3], :, 0] <= 3.0).all()
    assert (plan.cost[[1, 3]] >= 0.6 - 1e-4).all()
    assert (plan.cost[[1, 3]] < 1.0).all(), "the planner should still get close to the NaN region"
    # NaN in some rows never leaks into the other tasks.
    assert (plan.cost[[0, 2]] < 0.05).all()


def test_no_warning_without_divergence():
    s, g = reachable_tasks(3, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = GBPPlanner(FreeSpace(), GBPConfig(iterations=3, restarts=2), BOUND)(s, g, 4)
    assert not plan.diverged.any()


def test_a_model_that_is_nan_everywhere_gives_finite_actions_and_no_nan_cost():
    class AlwaysNaN(FreeSpace):
        def forward(self, s, a):
            return super().forward(s, a) * math.nan

    s, g = reachable_tasks(2, 13)
    with pytest.warns(UserWarning, match="GBP diverged"):
        plan = GBPPlanner(AlwaysNaN(), GBPConfig(iterations=3, restarts=2), BOUND)(s, g, 4)
    assert plan.diverged.all()
    assert torch.isfinite(plan.actions).all() and plan.actions.abs().max() <= BOUND
    assert not torch.isnan(plan.cost).any()  # no finite iterate exists: the cost is +inf, never NaN


# --------------------------------------------------------------------------------------------
# Determinism and batch independence
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["waypoints", "gaussian"])
def test_same_seed_same_plan_different_seed_different_plan(init):
    s, g = reachable_tasks(4, 14)
    cfg = GBPConfig(iterations=10, restarts=3, init=init, noise_std=0.01, seed=5)
    a = GBPPlanner(FreeSpace(), cfg, BOUND)(s, g, 6)
    b = GBPPlanner(FreeSpace(), cfg, BOUND)(s, g, 6)
    c = GBPPlanner(FreeSpace(), GBPConfig(iterations=10, restarts=3, init=init, noise_std=0.01, seed=6), BOUND)(s, g, 6)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.cost, b.cost)
    assert not torch.allclose(a.actions, c.actions)


@pytest.mark.parametrize("optimizer", ["adam", "gd"])
def test_optimisation_is_independent_across_the_batch(optimizer):
    """With a deterministic initialisation (one restart on the straight line, no noise) planning the
    tasks together gives the same plans as planning them one at a time: Adam and GD are elementwise."""
    B, H = 6, 8
    s, g = reachable_tasks(B, 15, reach=3.5)
    g[0] += 10.0  # an unreachable goal in the batch must not change the others
    cfg = GBPConfig(iterations=40, restarts=1, init_std=0.0, optimizer=optimizer,
                    lr=LRS[optimizer], init="waypoints")
    planner = GBPPlanner(FreeSpace(), cfg, BOUND)
    together = planner(s, g, H)
    for i in range(B):
        alone = planner(s[i:i + 1], g[i:i + 1], H)
        torch.testing.assert_close(alone.actions[0], together.actions[i], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(alone.cost[0], together.cost[i], atol=1e-5, rtol=1e-5)


def test_a_tasks_plan_does_not_depend_on_the_rest_of_the_batch():
    B, H = 4, 10
    s, g = reachable_tasks(B, 16, reach=4.5)
    planner = GBPPlanner(FreeSpace(), GBPConfig(iterations=20, restarts=4), BOUND)
    together = planner(s, g, H)
    for i in range(B):
        alone = planner(s[i:i + 1], g[i:i + 1], H)
        torch.testing.assert_close(alone.actions[0], together.actions[i], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.1), ("adam", 0.003), ("gd", 0.3)])
def test_the_planners_optimiser_step_is_torch_optim_bit_for_bit(optimizer, lr):
    from gbp_utils.planners import _Step

    gen = torch.Generator().manual_seed(0)
    ours = torch.randn(4, 3, 5, 2, generator=gen)
    theirs = ours.clone().requires_grad_(True)
    step = _Step(ours, optimizer, lr)
    opt = torch.optim.Adam([theirs], lr=lr) if optimizer == "adam" else torch.optim.SGD([theirs], lr=lr)
    for _ in range(300):
        grad = torch.randn(ours.shape, generator=gen) * torch.rand((), generator=gen) * 3
        step(grad)
        theirs.grad = grad
        opt.step()
        assert torch.equal(ours, theirs.detach())
