"""Tests for gbp_utils.finetuning: the adversarial loss (FGSM / PGD perturbations inside the eps box),
adversarial finetuning, the online (DAgger) loop, OnlineConfig, and the cached finetuned models and their keys."""
import dataclasses

import pytest
from helpers import tiny_world_model
import torch

import gbp_utils
from gbp_utils import cache, finetuning
from gbp_utils.control import OPEN_LOOP, Execution
from gbp_utils.data import DataConfig, generate
from gbp_utils.env import WallConfig, WallEnv
from gbp_utils.finetuning import (AdversarialConfig, AdversarialLoss, OnlineConfig, adversarial_finetune,
                                  mixing_weights, online_finetune)
from gbp_utils.planners import GBPConfig
from gbp_utils.world_model import TrainConfig, WorldModel, next_state_loss, train_world_model


@pytest.fixture(scope="module")
def expert():
    return generate(DataConfig(kind="expert", n_episodes=60))


@pytest.fixture(scope="module")
def model(expert):
    return train_world_model(expert, None, train_config=TrainConfig(epochs=3), progress=False).model


class RecordingLoss(AdversarialLoss):
    """Records the perturbations the adversarial loss trains on."""

    def _loss(self, model, s, a, d_s, d_a, s_next):
        self.last = (d_s.detach().clone(), d_a.detach().clone())
        return super()._loss(model, s, a, d_s, d_a, s_next)


def transitions(n=64, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = scale * (torch.rand(n, 2, generator=g) * 8 - 4)
    a = torch.rand(n, 2, generator=g) - 0.5
    return s, a, s + a


@pytest.mark.parametrize("steps", [1, 2, 3])  # FGSM, PGD-2 and PGD-3
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


def test_fgsm_increases_the_loss_over_the_clean_loss(model, expert):
    s, a, s_next = expert.transitions()
    clean = next_state_loss(model, s, a, s_next).item()
    adv = AdversarialLoss(AdversarialConfig(state_factor=0.05, action_factor=0.05))(model, s, a, s_next).item()
    assert adv > clean


def test_fgsm_moves_most_coordinates_to_the_box_corners(model, expert):
    """One step of 1.25 eps from a start in [-eps, eps] ends clamped at +-eps unless the gradient is 0."""
    s, a, s_next = expert.transitions()
    loss = RecordingLoss(AdversarialConfig(state_factor=0.05, action_factor=0.05, steps=1))
    loss(model, s, a, s_next)
    d_s, _ = loss.last
    at_corner = ((d_s.abs() - loss.eps_s).abs() < 1e-6).float().mean()
    assert at_corner > 0.5


def test_adversarial_finetune_returns_a_new_model_and_keeps_the_original(model, expert):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = adversarial_finetune(model, expert, AdversarialConfig(), TrainConfig(epochs=1), progress=False)
    assert out.model is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(out.model.delta_std, model.delta_std)  # normaliser kept


def test_bad_adversarial_configs_raise():
    with pytest.raises(ValueError, match="steps"):
        AdversarialConfig(steps=0)
    with pytest.raises(ValueError, match="state_factor"):
        AdversarialConfig(state_factor=-1)


def test_mixing_weights_give_the_planner_share():
    w = mixing_weights(300, 100, 0.25)
    assert w.shape == (400,)
    assert w[300:].sum().item() == pytest.approx(0.25) and w.sum().item() == pytest.approx(1.0)
    draws = torch.multinomial(w, 20000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert (draws >= 300).float().mean().item() == pytest.approx(0.25, abs=0.02)


def test_weights_of_the_wrong_length_raise(expert):
    with pytest.raises(ValueError, match="one entry per transition"):
        train_world_model(expert, None, train_config=TrainConfig(epochs=1), weights=torch.ones(3), progress=False)


def test_online_finetune_collects_real_transitions_and_lowers_their_error(model, expert):
    cfg = WallConfig()
    env = WallEnv(cfg)
    rounds = []
    gbp = GBPConfig(iterations=10, warm_iterations=3, restarts=2)
    online = OnlineConfig(rounds=2, tasks_per_round=20, executions=(OPEN_LOOP, Execution("mpc", 3)), epochs_per_round=4)
    tuned, collected = online_finetune(model, expert, env, gbp, online, TrainConfig(),
                                       callback=lambda r, m, c: rounds.append(r), progress=False)
    assert rounds == [0, 1] and len(collected) == 2
    for ds in collected:  # 20 open-loop + 20 MPC episodes of the full budget
        assert ds.states.shape == (40, cfg.max_steps + 1, 2)
        # collected transitions are the real dynamics
        s, a, s_next = ds.transitions()
        assert torch.allclose(env.step(s, a), s_next)
    s, a, s_next = collected[0].transitions()
    assert next_state_loss(tuned, s, a, s_next) < next_state_loss(model, s, a, s_next)
    assert isinstance(tuned, WorldModel) and tuned is not model


@pytest.mark.parametrize("executions", [(), ("open-loop",), "open-loop", (OPEN_LOOP, "mpc"), (None,)])
def test_online_config_rejects_anything_but_executions(executions):
    with pytest.raises(ValueError, match=r"executions must be a non-empty tuple of control.Execution, e.g. "
                                         r"\(OPEN_LOOP,\)"):
        OnlineConfig(executions=executions)


def test_online_config_keeps_its_executions_as_a_tuple_and_checks_the_other_fields():
    mpc = Execution("mpc", 3)
    assert OnlineConfig(executions=[OPEN_LOOP, mpc]).executions == (OPEN_LOOP, mpc)  # a list becomes a tuple
    with pytest.raises(ValueError, match="planner_share"):
        OnlineConfig(planner_share=1.0)
    with pytest.raises(ValueError, match="rounds, tasks_per_round and epochs_per_round must be >= 1"):
        OnlineConfig(rounds=0)


def test_cached_online_model_keeps_one_snapshot_per_round_and_loads_without_retraining(monkeypatch):
    P = gbp_utils.presets(fast=True)
    online = OnlineConfig(rounds=2, tasks_per_round=10, epochs_per_round=1)
    gbp = GBPConfig(iterations=5, warm_iterations=2, restarts=2)
    first = finetuning.get_online_model(P, online, gbp, progress=False)
    # one open-loop episode of the full budget per task and round (the default executions)
    assert len(first.snapshots) == 2 and first.history["collected_transitions"] == [10 * P.wall.max_steps] * 2
    monkeypatch.setattr(finetuning, "online_finetune", lambda *a, **k: pytest.fail("retrained a cached model"))
    again = finetuning.get_online_model(P, online, gbp, progress=False)
    x = torch.randn(5, 2), torch.randn(5, 2)
    assert torch.equal(again.model(*x), first.model(*x))
    assert torch.equal(again.snapshots[0](*x), first.snapshots[0](*x))


def test_cached_adversarial_model_differs_from_its_base():
    P = gbp_utils.presets(fast=True)
    adv = finetuning.get_adversarial_model(P, finetune=TrainConfig(epochs=1, lr=1e-3), progress=False)
    base = gbp_utils.get_world_model([P.expert_data], P.model, P.train, progress=False).model
    x = torch.randn(5, 2), torch.randn(5, 2)
    assert not torch.equal(adv.model(*x), base(*x))


def test_online_finetune_with_adversarial_fits_every_round_with_the_adversarial_loss(model, expert, monkeypatch):
    calls = []

    class CountingLoss(AdversarialLoss):
        def __call__(self, *args):
            calls.append(self.config)
            return super().__call__(*args)

    monkeypatch.setattr(finetuning, "AdversarialLoss", CountingLoss)
    cfg = WallConfig()
    adv = AdversarialConfig(state_factor=0.03, steps=2)
    online_finetune(model, expert, WallEnv(cfg), GBPConfig(iterations=3, warm_iterations=1, restarts=1),
                    OnlineConfig(rounds=2, tasks_per_round=5, executions=(OPEN_LOOP,), epochs_per_round=1),
                    TrainConfig(batch_size=4096), progress=False, adversarial=adv)
    assert len(calls) == 2 and all(c is adv for c in calls)  # one full-batch epoch per round


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
                                base_train=seed1)
    finetuning.get_adversarial_model(P, progress=False)
    finetuning.get_adversarial_model(P, progress=False, base_train=seed1)
    (_, plain), (_, mixed), (_, adv0), (_, adv1) = cache_keys
    assert "adversarial" not in plain, "older caches of plain online models keep their names"
    assert plain["train"] == P.train and plain["base_data"] == [P.expert_data]
    assert (plain["online"], plain["gbp"], plain["model"]) == (P.online, P.gbp, P.model)  # defaults: the presets
    assert mixed["adversarial"] == adv and mixed["train"] == seed1
    assert mixed["base_data"] == [P.expert_data, P.play_data]
    assert adv0["adversarial"] == P.adversarial_only and adv1["adversarial"] == P.adversarial_only
    assert adv0["train"] == P.train and adv0["finetune"] == P.adversarial_finetune
    assert adv1["train"] == seed1 and adv1["finetune"] == dataclasses.replace(P.adversarial_finetune, seed=1)
    assert cache.config_hash(adv0) != cache.config_hash(adv1)


@pytest.mark.parametrize("world", ["momentum", "two walls"])
def test_online_finetune_in_a_harder_world_collects_its_real_transitions(world):
    from gbp_utils.layouts import LayoutConfig
    from gbp_utils.momentum import MomentumConfig
    from gbp_utils.worlds import World
    w = {"momentum": World(momentum=MomentumConfig()),
         "two walls": World(layouts=LayoutConfig(second_wall_x=2.5, door_center=(-2.5, 2.5)))}[world]
    data = w.expert_data(60, 0)
    base = train_world_model(data, None, train_config=TrainConfig(epochs=3), progress=False).model
    gbp = GBPConfig(iterations=10, warm_iterations=3, restarts=2, init="gaussian" if world == "momentum" else "waypoints")
    online = OnlineConfig(rounds=1, tasks_per_round=16, epochs_per_round=4)
    tuned, collected = online_finetune(base, data, w, gbp, online, TrainConfig(), progress=False)
    ds = collected[0]
    assert ds.states.shape == (16, w.wall.max_steps + 1, w.state_dim)
    s, a, s_next = ds.transitions()
    assert torch.equal(w.env.step(s, a), s_next)  # the world's own dynamics
    assert torch.equal(ds.states[:, 0], w.sample_tasks(16, 1000, "train").starts)  # its training tasks, round 0
    assert next_state_loss(tuned, s, a, s_next) < next_state_loss(base, s, a, s_next)


def test_skip_constant_leaves_coordinates_that_never_change_unperturbed():
    """A layout state's door features never change: perturbed, each costs (eps / 1e-6)^2 in the normalised loss
    and swamps it; skip_constant leaves them alone and the loss keeps the scale of the moving coordinates."""
    from gbp_utils.layouts import LayoutConfig
    from gbp_utils.worlds import World
    w = World(layouts=LayoutConfig())
    data = w.expert_data(40, 0)
    model = train_world_model(data, None, train_config=TrainConfig(epochs=2), progress=False).model
    assert (model.delta_std[2:] < finetuning.CONSTANT_SPREAD).all() and (model.delta_std[:2] > 0.1).all()
    s, a, s_next = data.transitions()
    losses = {}
    for skip in (False, True):
        torch.manual_seed(0)
        loss = AdversarialLoss(AdversarialConfig(0.02, 0.02), skip_constant=skip)
        d_s, d_a = loss.perturbation(model, s[:256], a[:256], s_next[:256])
        assert (d_s[:, :2].abs() > 0).any() and (d_a.abs() > 0).any()
        assert (d_s[:, 2:] == 0).all() == skip
        torch.manual_seed(0)
        losses[skip] = loss(model, s[:256], a[:256], s_next[:256]).item()
        torch.manual_seed(0)
        terms = loss.terms(model, s[:256], a[:256], s_next[:256])
        assert terms.shape == (4,) and terms.mean().item() == pytest.approx(losses[skip], rel=1e-5)
        assert (terms[2:].min() > 1e6 * terms[:2].max()) != skip  # the door features swamp the positions
    assert losses[False] > 1e6 and losses[True] < 10, losses
    with pytest.raises(ValueError, match="skip_constant changes the adversarial loss: give an adversarial config"):
        finetuning.get_online_model(gbp_utils.presets(fast=True), skip_constant=True, progress=False)


def test_the_repair_is_keyed_apart_from_the_recipe(cache_keys):
    P = gbp_utils.presets(fast=True)
    finetuning.get_online_model(P, progress=False, adversarial=P.adversarial)
    finetuning.get_online_model(P, progress=False, adversarial=P.adversarial, skip_constant=True)
    (_, recipe), (_, repair) = cache_keys
    assert "skip_constant" not in recipe, "the recipe's cached models keep their names"
    assert repair == {**recipe, "skip_constant": True}
