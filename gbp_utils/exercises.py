"""Checks for the graded exercises of notebooks 03-11: each runs the student's function on a small,
fixed case and compares it with the package's own implementation.

A check raises (``AssertionError`` with a message that says what differs, or whatever the student's
code raises, e.g. ``NotImplementedError`` from an untouched scaffold) unless the answer matches; on
success it prints one line. Every case is tiny (a few CPU milliseconds to about a second), so the checks
run the same in fast and full mode. tests/test_exercises.py proves each check fails on the scaffold.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from . import analysis, data, env, finetuning, planners, sampling, stats
from . import world_model as wm


def _close(name: str, got, expected, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    got = torch.as_tensor(got, dtype=torch.float64) if not isinstance(got, torch.Tensor) else got.double()
    expected = torch.as_tensor(expected, dtype=torch.float64) if not isinstance(expected, torch.Tensor) \
        else expected.double()
    assert tuple(got.shape) == tuple(expected.shape), \
        f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    err = (got - expected).abs().max().item() if got.numel() else 0.0
    assert torch.allclose(got, expected, atol=atol, rtol=rtol), \
        f"{name}: largest difference from the package {err:.3g} (tolerance {atol:g})"


def _passed(what: str) -> None:
    print(f"✓ {what} matches the package on a small case")


def small_model(seed: int = 0) -> wm.WorldModel:
    """A small untrained world model with non-trivial normalisation buffers (so forgetting one shows)."""
    torch.manual_seed(seed)
    model = wm.WorldModel(wm.WorldModelConfig(hidden=16, n_blocks=1))
    gen = torch.Generator().manual_seed(seed)
    for name in ("state", "action", "delta"):
        getattr(model, f"{name}_mean").copy_(torch.randn(2, generator=gen))
        getattr(model, f"{name}_std").copy_(0.5 + torch.rand(2, generator=gen))
    return model


def _batch(n: int = 7, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    s = 3 * torch.randn(n, 2, generator=gen)
    a = 0.5 * torch.rand(n, 2, generator=gen) - 0.25
    s_next = s + a + 0.05 * torch.randn(n, 2, generator=gen)
    return s, a, s_next


# --------------------------------------------------------------------------------------------
# 03 · the world model
# --------------------------------------------------------------------------------------------
def check_residual_step(residual_step) -> None:
    """``residual_step(model, states, actions) -> next_states`` equals ``model(states, actions)``."""
    model = small_model()
    s, a, _ = _batch()
    with torch.no_grad():
        _close("residual_step", residual_step(model, s, a), model(s, a))
    _passed("residual_step")


def check_delta_loss(delta_loss) -> None:
    """``delta_loss(model, states, actions, next_states)`` equals ``world_model.next_state_loss``."""
    model = small_model()
    s, a, s_next = _batch()
    with torch.no_grad():
        _close("delta_loss", delta_loss(model, s, a, s_next), wm.next_state_loss(model, s, a, s_next))
    _passed("delta_loss")


def check_rollout(rollout_fn) -> None:
    """``rollout_fn(model, starts, actions) -> (B, H+1, S)`` equals ``world_model.rollout`` and carries
    the gradient to the actions."""
    model = small_model()
    s, _, _ = _batch(3)
    actions = (0.3 * torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(2))).requires_grad_(True)
    got = rollout_fn(model, s, actions)
    _close("rollout", got.detach(), wm.rollout(model, s, actions).detach())
    assert got.requires_grad, "the rollout must stay differentiable: no .detach() or torch.no_grad() inside"
    (g,) = torch.autograd.grad(got[:, -1].sum(), actions)
    (g_ref,) = torch.autograd.grad(wm.rollout(model, s, actions)[:, -1].sum(), actions)
    _close("gradient of the final state w.r.t. the actions", g, g_ref)
    _passed("rollout")


# --------------------------------------------------------------------------------------------
# 04 · gradient-based planning
# --------------------------------------------------------------------------------------------
def check_plan_cost(plan_cost) -> None:
    """``plan_cost(model, u, starts, goals, bound) -> (B,)``: the smoothed final distance of the rollout of
    a = bound * tanh(u), equal to ``planning_cost(rollout(model, starts, bound * tanh(u)), goals)``."""
    model = small_model()
    s, _, _ = _batch(4)
    goals = s.flip(0)
    u = 2 * torch.randn(4, 6, 2, generator=torch.Generator().manual_seed(3))
    expected = planners.planning_cost(wm.rollout(model, s, 0.5 * torch.tanh(u)), goals)
    _close("plan_cost", plan_cost(model, u, s, goals, 0.5), expected.detach())
    _passed("plan_cost")


def check_gbp(gbp) -> None:
    """``gbp(model, starts, goals, horizon, restarts, iterations, lr, init_std, seed, bound)`` returns
    (actions (B, H, A), cost (B,)) equal to ``planners.GBPPlanner`` with Gaussian initialisation."""
    model = small_model()
    s, _, _ = _batch(3)
    goals = s.flip(0) + 1.0
    kw = dict(restarts=3, iterations=12, lr=0.1, init_std=0.3, seed=4)
    config = planners.GBPConfig(init="gaussian", **kw)
    ref = planners.GBPPlanner(model, config, 0.5)(s, goals, 6)
    actions, cost = gbp(model, s, goals, 6, bound=0.5, **kw)
    _close("cost of the chosen plans", torch.as_tensor(cost).detach(), ref.cost, atol=1e-4)
    _close("chosen actions", torch.as_tensor(actions).detach(), ref.actions, atol=1e-4)
    _passed("gbp (restarts, tanh, Adam, best iterate and best restart)")


# --------------------------------------------------------------------------------------------
# 05 · online (DAgger) finetuning
# --------------------------------------------------------------------------------------------
def check_mixing_weights(weights_fn) -> None:
    """``weights_fn(n_expert, n_planner, planner_share) -> (n_expert + n_planner,)`` equals
    ``finetuning.mixing_weights``."""
    for n_e, n_p, share in ((90, 10, 0.5), (30, 70, 0.2), (5, 5, 0.9)):
        _close(f"weights for {n_e} expert, {n_p} planner transitions, share {share}",
               weights_fn(n_e, n_p, share), finetuning.mixing_weights(n_e, n_p, share), atol=1e-7)
    _passed("mixing weights")


def _dagger_case():
    wall = env.WallConfig()
    expert = data.generate_expert_data(data.DataConfig(kind="expert", n_episodes=8, wall=wall))
    base = small_model()
    base.fit_normaliser(*expert.transitions())
    train = wm.TrainConfig(epochs=1, batch_size=64, seed=5)
    gbp = planners.GBPConfig(restarts=1, iterations=4, warm_iterations=1)
    return wall, expert, base, train, gbp


def check_dagger_round(dagger_round) -> None:
    """``dagger_round(model, expert_train, collected, real_env, planner_config, tasks, train_config,
    planner_share) -> (model, collected)`` equals the first round of ``finetuning.online_finetune``."""
    wall, expert, base, train, gbp = _dagger_case()
    online = finetuning.OnlineConfig(rounds=1, tasks_per_round=6, epochs_per_round=1, lr=1e-3, planner_share=0.5)
    ref_model, ref_collected = finetuning.online_finetune(base, expert, env.WallEnv(wall), gbp, online, train,
                                                          progress=False)
    tasks = env.sample_tasks(online.tasks_per_round, 1000 * (online.seed + 1), "train", wall)
    round_train = dataclasses.replace(train, epochs=online.epochs_per_round, lr=online.lr)
    model, collected = dagger_round(copy.deepcopy(base), expert, [], env.WallEnv(wall), gbp, tasks, round_train,
                                    online.planner_share)
    assert len(collected) == 1, f"after one round from an empty list, collected should hold 1 dataset; got {len(collected)}"
    _close("collected states", collected[0].states, ref_collected[0].states)
    for (name, p), p_ref in zip(model.named_parameters(), ref_model.parameters()):
        _close(f"refit parameter {name}", p.detach(), p_ref.detach(), atol=1e-5)
    _passed("dagger_round (plan, execute, aggregate, refit)")


# --------------------------------------------------------------------------------------------
# 06 · adversarial finetuning
# --------------------------------------------------------------------------------------------
def check_adversarial_loss(adversarial_loss) -> None:
    """``adversarial_loss(model, s, a, d_s, d_a, s_next)`` equals the loss ``finetuning.AdversarialLoss``
    trains on: the normalised next-state error at the perturbed inputs, against the clean target."""
    model = small_model()
    s, a, s_next = _batch()
    gen = torch.Generator().manual_seed(6)
    d_s, d_a = 0.1 * torch.randn(s.shape, generator=gen), 0.02 * torch.randn(a.shape, generator=gen)
    with torch.no_grad():
        expected = finetuning.AdversarialLoss()._loss(model, s, a, d_s, d_a, s_next)
        _close("adversarial_loss", adversarial_loss(model, s, a, d_s, d_a, s_next), expected)
    _passed("adversarial_loss")


def check_perturbation(perturbation) -> None:
    """``perturbation(model, s, a, s_next, eps_s, eps_a, steps, step)`` equals
    ``AdversarialLoss.perturbation`` for FGSM (steps=1, step=1.25) and PGD-3 (steps=3, step=2.5/3), from
    the same random state of torch's global generator."""
    model = small_model()
    s, a, s_next = _batch(32)
    for factor, steps in ((0.05, 1), (0.2, 3)):
        cfg = finetuning.AdversarialConfig(state_factor=factor, action_factor=factor, steps=steps)
        ref = finetuning.AdversarialLoss(cfg)
        torch.manual_seed(7)
        d_ref = ref.perturbation(model, s, a, s_next)
        step = cfg.fgsm_step if steps == 1 else cfg.pgd_step / steps
        torch.manual_seed(7)
        d = perturbation(model, s, a, s_next, ref.eps_s, ref.eps_a, steps, step)
        label = "FGSM" if steps == 1 else f"PGD-{steps}"
        assert (d[0].abs() <= ref.eps_s + 1e-6).all() and (d[1].abs() <= ref.eps_a + 1e-6).all(), \
            f"{label}: the perturbation leaves its box [-eps, eps] (clamp after every step)"
        _close(f"{label} state perturbation", d[0].detach(), d_ref[0])
        _close(f"{label} action perturbation", d[1].detach(), d_ref[1])
    _passed("perturbation (FGSM and PGD-3, random start, signed steps, clamp)")


# --------------------------------------------------------------------------------------------
# 07 · sampling planners
# --------------------------------------------------------------------------------------------
def _sampling_case(n: int = 20):
    gen = torch.Generator().manual_seed(8)
    mean = 0.2 * torch.randn(2, 5, 2, generator=gen)  # (B, H, A)
    std = 0.1 + 0.1 * torch.rand(2, 5, 2, generator=gen)
    candidates = mean[:, None] + std[:, None] * torch.randn(2, n, 5, 2, generator=gen)  # (B, N, H, A)
    cost = torch.rand(2, n, generator=gen) * 3
    return mean, std, candidates, cost


def check_cem_update(cem_update) -> None:
    """``cem_update(mean, std, candidates, cost, elites, smoothing, min_std) -> (mean, std)`` equals
    ``sampling.CEMPlanner``'s refit."""
    mean, std, candidates, cost = _sampling_case()
    config = sampling.CEMConfig(population=20, elites=4, smoothing=0.1, min_std=0.12)
    ref_mean, ref_std = sampling.CEMPlanner(env.TrueDynamicsModel(), config, 0.5)._update(mean, std, candidates, cost)
    got_mean, got_std = cem_update(mean, std, candidates, cost, config.elites, config.smoothing, config.min_std)
    _close("new mean", got_mean, ref_mean)
    _close("new std", got_std, ref_std)
    _passed("cem_update")


def check_mppi_weights(mppi_weights) -> None:
    """``mppi_weights(cost, temperature) -> (B, N)`` gives the weights of ``sampling.MPPIPlanner``'s
    update (compared through the new mean they produce) and sums to one per task."""
    mean, std, candidates, cost = _sampling_case()
    cost = cost.clone()
    cost[1, 3] = float("inf")  # a diverged sample must get weight 0
    for temperature in (0.1, 1.0):
        config = sampling.MPPIConfig(population=20, temperature=temperature)
        ref_mean, _ = sampling.MPPIPlanner(env.TrueDynamicsModel(), config, 0.5)._update(mean, std, candidates, cost)
        w = mppi_weights(cost, temperature)
        _close(f"weights sum (temperature {temperature})", w.sum(1), torch.ones(2))
        _close(f"mean from your weights (temperature {temperature})", (w[:, :, None, None] * candidates).sum(1),
               ref_mean)
    _passed("mppi_weights")


# --------------------------------------------------------------------------------------------
# 08 · evaluation
# --------------------------------------------------------------------------------------------
def check_paired_bootstrap(paired_bootstrap) -> None:
    """``paired_bootstrap(success_a, success_b, n_boot, seed) -> (difference, low, high)`` equals
    ``stats.paired_bootstrap``."""
    rng = np.random.default_rng(9)
    a = (rng.random(60) < 0.7).astype(float)
    b = np.where(rng.random(60) < 0.8, a, 1 - a)  # paired: mostly the same tasks succeed
    got = paired_bootstrap(a, b, 2000, 3)
    _close("(difference, low, high)", torch.tensor(got, dtype=torch.float64),
           torch.tensor(stats.paired_bootstrap(a, b, 2000, 3), dtype=torch.float64), atol=1e-9)
    _passed("paired_bootstrap")


def check_gap_ratio(gap_ratio) -> None:
    """``gap_ratio(model, expert_val, visited) -> float``: mean one-step error on the visited transitions
    over the mean on held-out expert transitions, as ``evaluation.evaluate`` reports it."""
    model = small_model()
    gen = torch.Generator().manual_seed(10)
    expert_val = data.Dataset(torch.randn(4, 6, 2, generator=gen), 0.3 * torch.randn(4, 5, 2, generator=gen))
    visited = data.Dataset(2 * torch.randn(3, 6, 2, generator=gen), 0.3 * torch.randn(3, 5, 2, generator=gen))
    expected = wm.one_step_error(model, visited).mean() / wm.reference_error(model, expert_val)
    with torch.no_grad():
        _close("gap ratio", torch.as_tensor(gap_ratio(model, expert_val, visited)), expected)
    _passed("gap_ratio")


def check_false_valley(false_valley) -> None:
    """``false_valley(model_cost, real_cost, radius) -> bool`` agrees with ``analysis.false_valley`` on a
    set of small landscapes (with and without a false valley)."""
    gen = torch.Generator().manual_seed(11)
    for i in range(40):
        model_cost, real_cost = torch.rand(5, 5, generator=gen), torch.rand(5, 5, generator=gen)
        radius = 0.05 + 0.1 * (i % 4)
        expected = analysis.false_valley(model_cost, real_cost, radius)
        got = false_valley(model_cost, real_cost, radius)
        assert bool(got) == expected, f"landscape {i} (radius {radius:.2f}): you say {bool(got)}, the package {expected}"
    _passed("false_valley")


CHECKS = {name: fn for name, fn in globals().items() if name.startswith("check_")}


# --------------------------------------------------------------------------------------------
# 11 · pessimism through an ensemble
# --------------------------------------------------------------------------------------------
def _ensemble_case(beta: float = 0.7):
    from .ensemble import EnsembleWorldModel
    return EnsembleWorldModel.from_models([small_model(seed) for seed in range(3)], beta=beta)


def check_disagreement(disagreement) -> None:
    """``disagreement(predictions) -> (B,)``: the root-mean-square distance of M members' predictions
    (M, B, S) to their mean equals ``ensemble.spread``; zero when the members agree."""
    from .ensemble import spread
    ens = _ensemble_case()
    s, a, _ = _batch()
    pred = ens.member_predictions(s, a).detach()
    _close("disagreement of three members", disagreement(pred), spread(pred))
    same = pred[:1].expand(3, -1, -1)
    _close("disagreement of identical members", disagreement(same), torch.zeros(pred.shape[1]), atol=1e-5)
    _passed("disagreement")


def check_pessimistic_cost(pessimistic_cost) -> None:
    """``pessimistic_cost(ensemble, starts, actions, goals, beta) -> (B,)``: the final distance of the mean
    rollout to the goal plus beta times the disagreement summed over the steps, as ``planners.model_cost``
    computes it for ``ensemble.with_beta(beta)`` (and with the gradient it has)."""
    ens = _ensemble_case(beta=0.0)
    gen = torch.Generator().manual_seed(3)
    starts = 2 * torch.randn(4, 2, generator=gen)
    goals = 2 * torch.randn(4, 2, generator=gen)
    actions = (0.5 * torch.rand(4, 6, 2, generator=gen) - 0.25).requires_grad_(True)
    for beta in (0.0, 0.7):
        got = pessimistic_cost(ens, starts, actions, goals, beta)
        _, expected = planners.model_cost(ens.with_beta(beta), starts, actions, goals)
        _close(f"cost at beta = {beta}", got.detach(), expected.detach())
    g_got, = torch.autograd.grad(pessimistic_cost(ens, starts, actions, goals, 0.7).sum(), actions)
    g_exp, = torch.autograd.grad(planners.model_cost(ens.with_beta(0.7), starts, actions, goals)[1].sum(), actions)
    _close("gradient of the cost with respect to the actions", g_got, g_exp, atol=1e-4, rtol=1e-3)
    _passed("pessimistic cost")


def check_matched_budget(matched_budget) -> None:
    """``matched_budget(config, members) -> config``: a single-model planner config with the world-model
    evaluations of ``config`` planned through an ensemble of ``members`` (``pessimism.scaled_planner``)."""
    from .pessimism import scaled_planner
    for config in (planners.GBPConfig(restarts=3, iterations=20), sampling.CEMConfig(population=50, elites=5)):
        for members in (1, 4):
            got, expected = matched_budget(config, members), scaled_planner(config, members)
            assert got == expected, f"matched_budget({type(config).__name__}, {members}) gave {got}, expected {expected}"
    _passed("matched budget")


# --------------------------------------------------------------------------------------------
# 10 · harder worlds
# --------------------------------------------------------------------------------------------
def check_momentum_step(momentum_step) -> None:
    """``momentum_step(states (B, 4), actions (B, 2), max_accel, damping, max_speed) -> (B, 4)``: one step of
    the momentum world away from every wall — damp the velocity, add the acceleration (clipped to
    ``max_accel`` per component), clip the new velocity to ``max_speed`` per component, and move by it — as
    ``momentum.MomentumEnv.step`` computes it."""
    from .momentum import MomentumConfig, MomentumEnv
    gen = torch.Generator().manual_seed(4)
    p = torch.stack([-4.0 + 2.0 * torch.rand(64, generator=gen), -3.0 + 6.0 * torch.rand(64, generator=gen)], -1)
    v = 0.5 * (2 * torch.rand(64, 2, generator=gen) - 1)
    a = 0.4 * (2 * torch.rand(64, 2, generator=gen) - 1)  # half of them beyond the bound
    for cfg in (MomentumConfig(max_accel=0.2, damping=0.05), MomentumConfig(max_accel=0.1, damping=0.3, max_speed=0.3)):
        world = MomentumEnv(env.WallConfig(), cfg)
        states = torch.cat([p, v.clamp(-world.max_speed, world.max_speed)], -1)
        got = momentum_step(states, a, cfg.max_accel, cfg.damping, world.max_speed)
        _close(f"next states (max_accel {cfg.max_accel}, damping {cfg.damping}, max_speed {world.max_speed})", got,
               world.step(states, a))
    _passed("momentum step")


def check_layout_state(layout_state) -> None:
    """``layout_state(positions (B, 2), door_low (B, W), door_high (B, W)) -> (B, 2 + 2W)``: the position
    followed by each wall's door centre and width (wall by wall), what the layout worlds' states carry
    (``worlds.World.sample_tasks``; ``layouts.Layouts.features``)."""
    from .layouts import LayoutConfig, sample_layouts
    gen = torch.Generator().manual_seed(5)
    for config in (LayoutConfig(), LayoutConfig(door_center=(-2.5, 2.5), second_wall_x=2.5)):
        lay = sample_layouts(6, 3, config, env.WallConfig(), "train")
        positions = 4 * (2 * torch.rand(6, 2, generator=gen) - 1)
        expected = torch.cat([positions, lay.features()], -1)
        _close(f"layout states with {lay.door_low.shape[1]} wall(s)", layout_state(positions, lay.door_low, lay.door_high),
               expected)
    _passed("layout state")


def check_door_blocked(door_blocked) -> None:
    """``door_blocked(starts (B, 2), goals (B, 2), wall_x, thickness, door_low (B,), door_high (B,)) -> (B,)
    bool``: does the straight segment from start to goal pass through the solid part of a wall of
    ``thickness`` centred at ``wall_x`` whose door spans [door_low, door_high]? As
    ``layouts.segment_blocked`` decides it for one-wall layouts."""
    from .layouts import LayoutConfig, sample_layouts, segment_blocked
    wall = env.WallConfig()
    lay = sample_layouts(400, 8, LayoutConfig(), wall, "train")
    gen = torch.Generator().manual_seed(6)
    starts = torch.stack([-4.5 + 4.0 * torch.rand(400, generator=gen), -4.5 + 9 * torch.rand(400, generator=gen)], -1)
    goals = torch.stack([-2.0 + 6.5 * torch.rand(400, generator=gen), -4.5 + 9 * torch.rand(400, generator=gen)], -1)
    expected = segment_blocked(starts, goals, lay, wall.half_size)
    got = torch.as_tensor(door_blocked(starts, goals, wall.wall_x, wall.wall_thickness, lay.door_low[:, 0],
                                       lay.door_high[:, 0]))
    assert got.shape == expected.shape, f"door_blocked returned shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    wrong = (got.bool() != expected).nonzero()[:, 0]
    if len(wrong):
        i = int(wrong[0])
        raise AssertionError(f"door_blocked is wrong on {len(wrong)} of 400 segments, e.g. {starts[i].tolist()} -> "
                             f"{goals[i].tolist()} with the door at [{lay.door_low[i, 0]:.2f}, {lay.door_high[i, 0]:.2f}]: "
                             f"got {bool(got[i])}, expected {bool(expected[i])}")
    _passed("door test")


# --------------------------------------------------------------------------------------------
# 09 · planning from pixels
# --------------------------------------------------------------------------------------------
def check_spatial_softmax(spatial_softmax) -> None:
    """``spatial_softmax(logits (B, K, H, W)) -> (B, 2K)``: per map, a softmax over its pixels and the expected
    (x, y) of the pixels under it, in image coordinates ([-1, 1], x to the right, y up: row 0 is the top),
    ordered x1, y1, x2, y2, ... -- as ``latent.spatial_softmax``."""
    from .latent import spatial_softmax as reference
    gen = torch.Generator().manual_seed(9)
    logits = 3 * torch.randn(5, 3, 8, 8, generator=gen)
    _close("keypoints of random maps", spatial_softmax(logits), reference(logits))
    peaked = torch.full((1, 1, 8, 8), -30.0)
    peaked[0, 0, 0, 7] = 30.0  # one hot pixel: the top-right corner
    _close("keypoint of a map that is hot in its top-right pixel", spatial_softmax(peaked), torch.tensor([[1.0, 1.0]]),
           atol=1e-4)
    _passed("spatial softmax")


def check_latent_transitions(latent_transitions) -> None:
    """``latent_transitions(latents (E, T+1, D), actions (E, T, A)) -> (z (N, D), a (N, A), z_next (N, D))`` with
    N = E T: every step of every episode as one training example for the latent world model, episode by
    episode -- as ``latent.LatentTransitions.transitions``."""
    from .latent import LatentTransitions
    gen = torch.Generator().manual_seed(10)
    z, a = torch.randn(4, 6, 8, generator=gen), torch.randn(4, 5, 2, generator=gen)
    got = latent_transitions(z, a)
    assert isinstance(got, (tuple, list)) and len(got) == 3, "return the three tensors (z, a, z_next)"
    for name, g, e in zip(("z", "a", "z_next"), got, LatentTransitions(z, a).transitions()):
        _close(name, g, e)
    _passed("latent transitions")


def check_linear_probe(linear_probe) -> None:
    """``linear_probe(latents (N, D), states (N, 2)) -> weight (D + 1, 2)``: the least-squares fit of positions
    from latents with a bias (the bias row last), so [latents, 1] @ weight reads positions off latents -- as
    ``latent.position_probe``."""
    from .latent import position_probe
    gen = torch.Generator().manual_seed(11)
    z = torch.randn(200, 6, generator=gen)
    states = z[:, :2] * 2.0 - z[:, 2:4] + 0.7 + 0.01 * torch.randn(200, 2, generator=gen)
    _close("probe weights", linear_probe(z, states), position_probe(z, states).weight, atol=1e-4)
    _passed("linear probe")
