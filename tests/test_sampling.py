"""Tests for gbp_utils.sampling: the CEM, MPPI and GD+CEM planners and their configs.

Most tests plan through free space without walls (s' = s + a, ``helpers.FreeSpace``), where the
optimum is known; the wall tests plan on the real environment through ``env.TrueDynamicsModel``.
"""

import math
import warnings

import pytest
from helpers import FreeSpace, NaNRightOf, Recording, reachable_tasks
import torch

from gbp_utils.control import run_mpc, run_open_loop
from gbp_utils.env import TaskSet, TrueDynamicsModel, WallConfig, WallEnv, sample_tasks, straight_line_blocked, success
from gbp_utils.planners import Plan, make_planner, planning_cost
from gbp_utils.sampling import (PLANNERS, CEMConfig, CEMPlanner, GDCEMConfig, GDCEMPlanner, MPPIConfig, MPPIPlanner)
from gbp_utils.world_model import WorldModel, WorldModelConfig, rollout

BOUND = 0.5

# Small settings per planner, so every test runs in well under a second.
SMALL = {
    "cem": (CEMPlanner, dict(population=40, elites=8, iterations=4)),
    "mppi": (MPPIPlanner, dict(population=40, iterations=4)),
    "gdcem": (GDCEMPlanner, dict(population=16, elites=4, iterations=3, grad_steps=2)),
}
CONFIGS = {"cem": CEMConfig, "mppi": MPPIConfig, "gdcem": GDCEMConfig}
KINDS = list(SMALL)


def small_planner(kind, model=None, bound=BOUND, **overrides):
    cls, kw = SMALL[kind]
    return cls(model or FreeSpace(), CONFIGS[kind](**{**kw, **overrides}), action_bound=bound)


# --------------------------------------------------------------------------------------------
# Config and input checks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs, match", [
    (CEMConfig, dict(population=1), r"population must be an integer >= 2 .*; got 1"),
    (CEMConfig, dict(population=2.5, elites=1), r"population must be an integer >= 2 .*; got 2.5"),
    (MPPIConfig, dict(iterations=-1), r"iterations must be an integer >= 0; got -1"),
    (CEMConfig, dict(warm_iterations=-2), r"warm_iterations must be None or an integer >= 0; got -2"),
    (MPPIConfig, dict(cost="sum"), r"cost must be one of \('final', 'all'\); got 'sum'"),
    (CEMConfig, dict(discount=0.0), r"discount must be in \(0, 1\]; got 0.0"),
    (CEMConfig, dict(discount=1.5), r"discount must be in \(0, 1\]; got 1.5"),
    (CEMConfig, dict(seed=-1), r"seed must be an integer >= 0; got -1"),
    (MPPIConfig, dict(init="gaussian"), r"init must be one of \('waypoints', 'zeros'\); got 'gaussian'"),
    (CEMConfig, dict(init_spread=-1.0), r"init_spread must be a finite number >= 0; got -1.0"),
    (CEMConfig, dict(elites=0), r"elites must be an integer in \[1, population\] = \[1, 300\]; got 0"),
    (CEMConfig, dict(population=20, elites=21), r"elites must be .* = \[1, 20\]; got 21"),
    (CEMConfig, dict(smoothing=1.0), r"smoothing must be in \[0, 1\) .*; got 1.0"),
    (CEMConfig, dict(init_std=0.0), r"init_std must be a finite number > 0; got 0.0"),
    (CEMConfig, dict(min_std=-0.1), r"min_std must be a finite number >= 0; got -0.1"),
    (CEMConfig, dict(min_std=math.nan), r"min_std must be a finite number >= 0; got nan"),
    (MPPIConfig, dict(temperature=0.0), r"temperature must be a finite number > 0; got 0.0"),
    (MPPIConfig, dict(noise_std=math.inf), r"noise_std must be a finite number > 0; got inf"),
    (GDCEMConfig, dict(grad_steps=-1), r"grad_steps must be an integer >= 0; got -1"),
    (GDCEMConfig, dict(lr=0.0), r"lr must be a finite number > 0; got 0.0"),
    (GDCEMConfig, dict(optimizer="sgd"), r"optimizer must be one of \('adam', 'gd'\); got 'sgd'"),
    (GDCEMConfig, dict(elites=0), r"elites must be"),  # inherited checks still run
])
def test_bad_config_is_rejected_naming_field_value_and_range(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


BAD_CALLS = {  # planner, starts (3, 2), goals (3, 2) -> the call that must fail, and its message
    "horizon 0": (lambda p, s, g: p(s, g, 0), "horizon must be >= 1; got 0"),
    "goals short": (lambda p, s, g: p(s, g[:2], 5), r"starts and goals must both be \(B, S\)"),
    "no batch dim": (lambda p, s, g: p(s[0], g[0], 5), r"starts and goals must both be \(B, S\)"),
    "warm too short": (lambda p, s, g: p(s, g, 5, warm_start=torch.zeros(3, 4, 2)),
                       r"warm_start must be \(B, H, A\) = \(3, 5, 2\); got \(3, 4, 2\)"),
    "warm no batch": (lambda p, s, g: p(s, g, 5, warm_start=torch.zeros(5, 2)),
                      r"warm_start must be \(B, H, A\) = \(3, 5, 2\); got \(5, 2\)"),
    "bound 0": (lambda p, s, g: type(p)(FreeSpace(), p.config, action_bound=0.0),
                r"action_bound must be a finite number > 0 \(the environment's wall.max_step\); got 0.0"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_planner_inputs_are_rejected_with_a_clear_message(kind, case):
    call, match = BAD_CALLS[case]
    with pytest.raises(ValueError, match=match):
        call(small_planner(kind), *reachable_tasks(3, 0))


def test_each_planner_takes_only_its_own_config_and_none_means_the_default():
    with pytest.raises(TypeError, match="CEMPlanner needs a CEMConfig; got MPPIConfig"):
        CEMPlanner(FreeSpace(), MPPIConfig(), BOUND)
    with pytest.raises(TypeError, match="GDCEMPlanner needs a GDCEMConfig; got CEMConfig"):
        GDCEMPlanner(FreeSpace(), CEMConfig(), BOUND)
    for kind, cls in PLANNERS.items():
        assert cls(FreeSpace(), None, BOUND).config == cls.config_class(), kind


# --------------------------------------------------------------------------------------------
# Plan fields, bounds, elitism
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bound", [0.5, 0.2])
def test_plan_fields_have_the_documented_shapes_and_respect_the_bound(kind, bound):
    B, H = 4, 6
    s, g = reachable_tasks(B, 1, reach=4.0)
    g = g * 3  # mostly unreachable: the best plans push against the bound
    model = FreeSpace()
    planner = small_planner(kind, model, bound=bound)
    plan = planner(s, g, H, trace=True)
    I = planner.config.iterations
    assert isinstance(plan, Plan)
    assert plan.actions.shape == (B, H, 2) and plan.predicted_states.shape == (B, H + 1, 2)
    assert plan.cost.shape == (B,) and plan.cost_history.shape == (I + 1, B)
    assert plan.trace.shape == (I + 1, B, H, 2)
    assert plan.diverged.shape == (B,) and plan.diverged.dtype == torch.bool and not plan.diverged.any()
    assert plan.seconds > 0
    assert plan.actions.abs().max() <= bound and plan.trace.abs().max() <= bound
    assert not plan.actions.requires_grad and not plan.predicted_states.requires_grad
    torch.testing.assert_close(plan.predicted_states, rollout(model, s, plan.actions))
    torch.testing.assert_close(plan.cost, planning_cost(plan.predicted_states, g), atol=1e-5, rtol=1e-5)
    # Elitism: the best cost so far never increases and ends at the returned cost.
    assert (plan.cost_history.diff(dim=0) <= 0).all()
    torch.testing.assert_close(plan.cost_history[-1], plan.cost)
    assert planner(s, g, H).trace is None


@pytest.mark.parametrize("kind", ["cem", "mppi"])
def test_more_iterations_never_hurt_with_the_same_seed(kind):
    """The first k rounds are identical for any I >= k, and the longer run also scores every mean
    the shorter run returns, so its best cost is at least as good on every task."""
    s, g = reachable_tasks(6, 2, reach=3.0)
    costs = [small_planner(kind, iterations=i, seed=3, init="zeros")(s, g, 8).cost for i in (0, 1, 3, 6)]
    for fewer, more in zip(costs, costs[1:]):
        assert (more <= fewer).all()
    assert (costs[-1] < costs[0]).any()


def test_zero_iterations_return_the_straight_line_mean():
    s, g = reachable_tasks(3, 3, reach=2.0)
    plan = small_planner("cem", iterations=0)(s, g, 8)
    torch.testing.assert_close(plan.actions, ((g - s) / 8)[:, None].expand(3, 8, 2))
    assert plan.cost.max() < 1e-3 and plan.cost_history.shape == (1, 3)
    zeros = small_planner("cem", iterations=0, init="zeros")(s, g, 8)
    assert torch.equal(zeros.actions, torch.zeros(3, 8, 2))


def test_horizon_one_plans_a_single_step():
    s, g = reachable_tasks(4, 4, reach=0.4)
    for kind in KINDS:
        plan = small_planner(kind)(s, g, 1)
        assert plan.actions.shape == (4, 1, 2) and plan.cost.max() < 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_planners_reach_reachable_goals_in_free_space(kind):
    s, g = reachable_tasks(12, 5, reach=2.5)  # the straight line over 10 steps needs |a| <= 0.25
    # From "stand still" the search must do the work; without the waypoint spread a wide first
    # Gaussian explores (init_std 0.1 is tuned for "waypoints" and moves too slowly from zeros).
    std = dict(noise_std=0.5) if kind == "mppi" else dict(init_std=0.5)
    plan = small_planner(kind, init="zeros", **std)(s, g, 10)
    assert plan.cost.max() < 0.3, f"worst final distance {plan.cost.max():.3f}"


def test_gradient_steps_improve_on_plain_cem_with_the_same_samples():
    s, g = reachable_tasks(12, 6, reach=2.5)
    kw = dict(population=16, elites=4, iterations=3, init="zeros", seed=1)
    cem = CEMPlanner(FreeSpace(), CEMConfig(**kw), BOUND)(s, g, 10)
    hybrid = GDCEMPlanner(FreeSpace(), GDCEMConfig(grad_steps=5, lr=0.1, **kw), BOUND)(s, g, 10)
    plain = GDCEMPlanner(FreeSpace(), GDCEMConfig(grad_steps=0, **kw), BOUND)(s, g, 10)
    torch.testing.assert_close(plain.actions, cem.actions)  # zero gradient steps is CEM
    assert hybrid.cost.mean() < 0.5 * cem.cost.mean()


# --------------------------------------------------------------------------------------------
# The update rules
# --------------------------------------------------------------------------------------------
def _scored_candidates():
    g = torch.Generator().manual_seed(7)
    candidates = torch.rand(2, 5, 3, 2, generator=g) - 0.5
    cost = torch.tensor([[3.0, 1.0, 2.0, math.inf, 5.0], [0.5, 4.0, 0.2, 0.3, math.inf]])
    return candidates, cost, torch.zeros(2, 3, 2), torch.ones(2, 3, 2)


def test_cem_update_refits_to_the_elites_with_smoothing_and_a_std_floor():
    candidates, cost, mean, std = _scored_candidates()
    cem = CEMPlanner(FreeSpace(), CEMConfig(population=5, elites=2, smoothing=0.25, min_std=0.3), BOUND)
    new_mean, new_std = cem._update(mean, std, candidates, cost)
    elites = torch.stack([candidates[0, [1, 2]], candidates[1, [2, 3]]])  # two cheapest per task
    torch.testing.assert_close(new_mean, 0.25 * mean + 0.75 * elites.mean(1))
    expected_std = (0.25 * std + 0.75 * elites.std(1, unbiased=False)).clamp(min=0.3)
    torch.testing.assert_close(new_std, expected_std)
    one = CEMPlanner(FreeSpace(), CEMConfig(population=5, elites=1, smoothing=0.0, min_std=0.05), BOUND)
    best_mean, floor_std = one._update(mean, std, candidates, cost)
    torch.testing.assert_close(best_mean, candidates[[0, 1], [1, 2]])
    assert torch.equal(floor_std, torch.full_like(std, 0.05))


def test_mppi_update_is_a_softmax_weighted_mean_that_ignores_infinite_costs():
    candidates, cost, mean, std = _scored_candidates()
    lam = 0.7
    mppi = MPPIPlanner(FreeSpace(), MPPIConfig(temperature=lam), BOUND)
    new_mean, new_std = mppi._update(mean, std, candidates, cost)
    w = torch.exp(-(cost - cost.min(1, keepdim=True).values) / lam)  # exp(-inf) = 0
    expected = (w[:, :, None, None] * candidates).sum(1) / w.sum(1)[:, None, None]
    torch.testing.assert_close(new_mean, expected)
    assert new_std is std  # MPPI never changes its noise
    greedy, _ = MPPIPlanner(FreeSpace(), MPPIConfig(temperature=1e-6), BOUND)._update(mean, std, candidates, cost)
    torch.testing.assert_close(greedy, candidates[[0, 1], [1, 2]])
    # A task without any finite cost keeps its mean instead of turning NaN.
    all_inf = torch.full_like(cost, math.inf)
    kept, _ = MPPIPlanner(FreeSpace(), MPPIConfig(), BOUND)._update(mean + 0.1, std, candidates, all_inf)
    torch.testing.assert_close(kept, mean + 0.1)


# --------------------------------------------------------------------------------------------
# Warm starts, determinism, batch independence
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_warm_start_is_the_initial_mean_and_uses_warm_iterations(kind):
    B, H = 4, 8
    s, g = reachable_tasks(B, 7, reach=3.0)
    optimal = ((g - s) / H)[:, None].expand(B, H, 2).contiguous()
    planner = small_planner(kind, warm_iterations=0)
    plan = planner(s, g, H, warm_start=optimal)
    torch.testing.assert_close(plan.actions, optimal)
    assert plan.cost_history.shape == (1, B) and plan.cost.max() < 1e-3
    # Out-of-bound warm starts are clipped; warm_iterations=None runs the full iterations.
    full = small_planner(kind)(s, g, H, warm_start=torch.full((B, H, 2), 9.0), trace=True)
    assert full.cost_history.shape[0] == planner.config.iterations + 1
    assert torch.equal(full.trace[0], torch.full((B, H, 2), BOUND))


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_plan_different_seed_different_plan(kind):
    s, g = reachable_tasks(4, 8, reach=4.0)
    a = small_planner(kind, seed=5, init="zeros")(s, g, 6)
    b = small_planner(kind, seed=5, init="zeros")(s, g, 6)
    c = small_planner(kind, seed=6, init="zeros")(s, g, 6)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.cost, b.cost)
    assert not torch.allclose(a.actions, c.actions)


@pytest.mark.parametrize("kind", KINDS)
def test_a_tasks_plan_does_not_depend_on_the_rest_of_the_batch(kind):
    s, g = reachable_tasks(5, 9, reach=4.5)
    g[3] += 10.0  # an unreachable goal in the batch must not change the others
    planner = small_planner(kind)
    together = planner(s, g, 8)
    for i in (0, 4):
        alone = planner(s[i:i + 1], g[i:i + 1], 8)
        torch.testing.assert_close(alone.actions[0], together.actions[i], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(alone.cost_history[:, 0], together.cost_history[:, i], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["cem", "mppi"])
@pytest.mark.parametrize("rows", [1, 7, 40])
def test_scoring_in_chunks_of_tasks_gives_the_same_costs(kind, rows, monkeypatch):
    """On a CPU candidates are scored a few tasks at a time (SCORE_ROWS rollouts): every rollout is independent, so
    the costs must not change beyond float rounding (a BLAS may sum a row's products in another order for another
    batch size, so bit-for-bit equality holds on some CPUs only)."""
    from gbp_utils import sampling
    from helpers import tiny_world_model

    s, g = reachable_tasks(9, 11, reach=4.5)
    model = tiny_world_model(3, hidden=16)
    extra = {"elites": 2} if kind == "cem" else {}
    planner = small_planner(kind, model, population=6, iterations=3, **extra)
    candidates = 0.4 * (2 * torch.rand(9, 6, 7, 2, generator=torch.Generator().manual_seed(0)) - 1)
    whole = planner._score(candidates, s, g)
    monkeypatch.setattr(sampling, "SCORE_ROWS", rows)  # 1 and 7: one task per chunk; 40: 6 tasks per chunk
    chunked = planner._score(candidates, s, g)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(planner._score(candidates.flip(1), s, g), whole)  # the check can fail
    counted = Recording()
    sampling_planner = small_planner(kind, counted, population=6, iterations=1, **extra)
    sampling_planner(s, g, 3)
    per = max(1, rows // 6)
    assert counted.calls[0][0].shape[0] == 6 * min(per, 9), "the first chunk holds as many whole tasks as allowed"


# --------------------------------------------------------------------------------------------
# Compute accounting
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, I, N, H", [
    ("cem", 3, 6, 5), ("cem", 0, 4, 3), ("mppi", 2, 5, 4), ("gdcem", 2, 5, 4), ("gdcem", 0, 3, 2),
])
@pytest.mark.parametrize("warm", [False, True])
def test_compute_accounting_matches_the_model_evaluations_actually_made(kind, I, N, H, warm):
    B = 3
    s, g = reachable_tasks(B, 10)
    model = Recording()
    G = 2 if kind == "gdcem" else 0
    extra = {"cem": dict(elites=2), "mppi": {}, "gdcem": dict(elites=2, grad_steps=G)}[kind]
    planner = small_planner(kind, model, population=N, iterations=I, warm_iterations=1, **extra)
    plan = planner(s, g, H, warm_start=torch.zeros(B, H, 2) if warm else None)
    it = 1 if warm else I
    # The documented formulas (_model_calls): G = 0 is CEM's and MPPI's.
    assert plan.wm_forward == (it * N * (G + 1) + 1) * H + H
    assert plan.wm_backward == it * N * G * H
    # Independently counted: rows per model call summed, divided by the number of tasks.
    assert sum(c[0].shape[0] for c in model.calls) == B * plan.wm_forward
    assert model.backward_rows == B * plan.wm_backward


def test_returned_plan_is_the_best_of_all_sequences_the_model_scored():
    B, H, N, I = 3, 5, 6, 3
    s, g = reachable_tasks(B, 11, reach=3.0)
    model = Recording()
    plan = small_planner("cem", model, population=N, iterations=I, elites=2)(s, g, H)
    calls = model.calls[:-H]  # the last H calls re-roll the returned plan
    best = torch.full((B,), math.inf)
    for r in range(0, len(calls), H):
        n = calls[r][0].shape[0] // B
        final = calls[r + H - 1][2].reshape(B, n, 2)
        best = torch.minimum(best, ((final - g[:, None]).pow(2).sum(-1) + 1e-8).sqrt().min(1).values)
    torch.testing.assert_close(plan.cost, best)


# --------------------------------------------------------------------------------------------
# The world model is never modified; divergence
# --------------------------------------------------------------------------------------------
def _parameter_state(model):
    return {n: (p.detach().clone(), p.requires_grad, p.grad) for n, p in model.named_parameters()}


def test_gdcem_gives_world_model_parameters_no_grad_and_keeps_their_flags():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(hidden=16, n_blocks=1))
    model.out.requires_grad_(False)  # partly frozen: planning must leave every flag as it was
    before = _parameter_state(model)
    plan = small_planner("gdcem", model)(*reachable_tasks(3, 12), 4)
    assert plan.wm_backward > 0
    after = _parameter_state(model)
    for name, (value, flag, grad) in before.items():
        assert torch.equal(after[name][0], value) and after[name][1] == flag, name
        assert grad is None and after[name][2] is None, name


def test_gdcem_plans_under_no_grad_and_through_a_frozen_model():
    model = FreeSpace().requires_grad_(False)
    s, g = reachable_tasks(4, 13, reach=2.0)
    with torch.no_grad():
        plan = small_planner("gdcem", model, init="zeros", grad_steps=10, lr=0.1)(s, g, 8)
    assert plan.cost.max() < 0.2 and model.dummy.grad is None


def test_gdcem_refuses_a_model_without_gradients():
    s, g = reachable_tasks(2, 14)
    with pytest.raises(ValueError, match="GD\\+CEM needs a world model that is differentiable in its actions"):
        small_planner("gdcem", TrueDynamicsModel())(s, g, 4)


@pytest.mark.parametrize("kind, name", [("cem", "CEM"), ("mppi", "MPPI"), ("gdcem", r"GD\+CEM")])
def test_non_finite_model_output_is_flagged_per_task_and_warned(kind, name):
    # Tasks 1 and 3 can reach x > 3, where the model returns NaN; tasks 0 and 2 cannot in 4 steps.
    s = torch.tensor([[-4.0, 0.0], [2.0, 0.0], [-4.0, 2.0], [2.0, -1.0]])
    g = torch.tensor([[-3.5, 0.5], [3.6, 0.0], [-3.0, 1.5], [3.6, -1.0]])
    with pytest.warns(UserWarning, match=rf"{name}: non-finite model cost on 2 of 4 tasks"):
        plan = small_planner(kind, NaNRightOf(3.0))(s, g, 4)
    assert plan.diverged.tolist() == [False, True, False, True]
    for field in (plan.actions, plan.cost, plan.predicted_states, plan.cost_history):
        assert torch.isfinite(field).all()
    assert (plan.predicted_states[[1, 3], :, 0] <= 3.0).all()  # the best finite sequence is kept
    assert (plan.cost[[0, 2]] < 0.1).all()


def test_a_model_that_is_nan_everywhere_gives_finite_actions_and_an_infinite_cost():
    class AlwaysNaN(FreeSpace):
        def forward(self, s, a):
            return super().forward(s, a) * math.nan

    s, g = reachable_tasks(2, 15)
    for kind in ("cem", "mppi"):
        with pytest.warns(UserWarning, match="non-finite model cost on 2 of 2 tasks"):
            plan = small_planner(kind, AlwaysNaN())(s, g, 4)
        assert plan.diverged.all() and torch.isinf(plan.cost).all()
        assert torch.isfinite(plan.actions).all() and plan.actions.abs().max() <= BOUND


def test_no_warning_without_divergence():
    s, g = reachable_tasks(3, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kind in KINDS:
            assert not small_planner(kind)(s, g, 4).diverged.any()


# --------------------------------------------------------------------------------------------
# Planning on the true dynamics
# --------------------------------------------------------------------------------------------
def test_cem_on_the_true_dynamics_reaches_goals_whose_straight_line_is_free():
    g = torch.Generator().manual_seed(17)
    n = 16
    starts = torch.stack([torch.rand(n, generator=g) * 3 - 4.5, torch.rand(n, generator=g) * 8 - 4], -1)
    goals = (starts + (torch.rand(n, 2, generator=g) * 2 - 1) * 3).clamp(-4.5, 4.5)
    goals[:, 0] = goals[:, 0].clamp(max=-0.8)  # both on the left of the wall
    assert not straight_line_blocked(starts, goals).any()
    env = WallEnv()
    planner = CEMPlanner(TrueDynamicsModel(env.wall), CEMConfig(population=60, elites=10, iterations=4), BOUND)
    plan = planner(starts, goals, 8)  # 8 steps: up to 6 are needed, little slack
    final = env.rollout(starts, plan.actions)[:, -1]
    dist = (final - goals).norm(dim=-1)
    assert dist.max() < env.wall.success_radius, f"worst real final distance {dist.max():.3f}"
    torch.testing.assert_close(final, plan.predicted_states[:, -1])  # the model is the truth


def test_cem_open_loop_on_the_true_dynamics_finds_the_door():
    """Every task crosses the wall; most straight lines are blocked. Full-mode CEM settings."""
    config = WallConfig()
    env = WallEnv(config)
    tasks = sample_tasks(30, 0, "eval", config)
    assert straight_line_blocked(tasks.starts, tasks.goals, config).float().mean() > 0.5
    episodes = run_open_loop(env, CEMPlanner(TrueDynamicsModel(config), CEMConfig(), config.max_step), tasks)
    rate = success(episodes.final_states, tasks.goals, config).float().mean().item()
    assert rate >= 0.9, f"open-loop CEM on the true dynamics: {rate:.0%}"
    assert episodes.wm_forward[0] == (10 * 300 + 1) * 30 + 30


@pytest.mark.parametrize("planner_config", [
    CEMConfig(population=100, iterations=3, warm_iterations=1),
    MPPIConfig(population=100, iterations=3, warm_iterations=1),
])
def test_cheap_mpc_on_the_true_dynamics_is_a_strong_ceiling(planner_config):
    config = WallConfig()
    tasks = sample_tasks(30, 1, "eval", config)
    planner = make_planner(TrueDynamicsModel(config), planner_config, config.max_step)
    kind = type(planner).__name__
    episodes = run_mpc(WallEnv(config), planner, tasks, replan_every=3)
    rate = success(episodes.final_states, tasks.goals, config).float().mean().item()
    assert rate >= 0.9, f"{kind} MPC on the true dynamics: {rate:.0%}"
    assert episodes.n_plans == 10 and not episodes.diverged.any()


def test_true_dynamics_plans_are_batch_independent_too():
    tasks: TaskSet = sample_tasks(5, 2, "eval")
    planner = CEMPlanner(TrueDynamicsModel(), CEMConfig(population=30, elites=5, iterations=2), BOUND)
    together = planner(tasks.starts, tasks.goals, 12)
    alone = planner(tasks.starts[:1], tasks.goals[:1], 12)
    torch.testing.assert_close(alone.actions[0], together.actions[0])
