"""Finetuning: the adversarial loss (FGSM / PGD perturbations inside the eps box) and the online loop."""
import pytest
import torch

from gbp_utils.data import DataConfig, generate
from gbp_utils.env import WallConfig, WallEnv
from gbp_utils.finetuning import (AdversarialConfig, AdversarialLoss, OnlineConfig, adversarial_finetune,
                                  mixing_weights, online_finetune)
from gbp_utils.planners import GBPConfig, GBPPlanner
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


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_perturbations_stay_in_the_eps_box_fixed_from_the_first_batch(model, expert, steps):
    s, a, s_next = expert.transitions()
    loss = RecordingLoss(AdversarialConfig(state_factor=0.05, action_factor=0.1, steps=steps))
    loss(model, s[:256], a[:256], s_next[:256])
    eps_s, eps_a = loss.eps_s.clone(), loss.eps_a.clone()
    assert torch.allclose(eps_s, 0.05 * s[:256].std(0)) and torch.allclose(eps_a, 0.1 * a[:256].std(0))
    loss(model, s[256:512] * 3, a[256:512], s_next[256:512])  # a different batch does not change eps
    assert torch.equal(loss.eps_s, eps_s)
    d_s, d_a = loss.last
    assert (d_s.abs() <= eps_s + 1e-7).all() and (d_a.abs() <= eps_a + 1e-7).all()


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
    planner = lambda m: GBPPlanner(m, GBPConfig(iterations=10, warm_iterations=3, restarts=2), cfg.max_step)  # noqa: E731
    tuned, collected = online_finetune(
        model, expert, env, planner, OnlineConfig(rounds=2, tasks_per_round=20, execution="both", epochs_per_round=4),
        TrainConfig(), callback=lambda r, m, c: rounds.append(r), progress=False)
    assert rounds == [0, 1] and len(collected) == 2
    for ds in collected:  # 20 open-loop + 20 MPC episodes of the full budget
        assert ds.states.shape == (40, cfg.max_steps + 1, 2)
        # collected transitions are the real dynamics
        s, a, s_next = ds.transitions()
        assert torch.allclose(env.step(s, a), s_next)
    s, a, s_next = collected[0].transitions()
    assert next_state_loss(tuned, s, a, s_next) < next_state_loss(model, s, a, s_next)
    assert isinstance(tuned, WorldModel) and tuned is not model


def test_bad_online_configs_raise():
    with pytest.raises(ValueError, match="execution"):
        OnlineConfig(execution="sometimes")
    with pytest.raises(ValueError, match="planner_share"):
        OnlineConfig(planner_share=1.0)


def test_cached_online_model_keeps_one_snapshot_per_round_and_loads_without_retraining(monkeypatch):
    import gbp_utils
    from gbp_utils import finetuning
    P = gbp_utils.presets(fast=True)
    online = OnlineConfig(rounds=2, tasks_per_round=10, epochs_per_round=1)
    gbp = GBPConfig(iterations=5, warm_iterations=2, restarts=2)
    first = finetuning.get_online_model(P, online, gbp, progress=False)
    assert len(first.snapshots) == 2 and first.history["collected_transitions"] == [600, 600]
    monkeypatch.setattr(finetuning, "online_finetune", lambda *a, **k: pytest.fail("retrained a cached model"))
    again = finetuning.get_online_model(P, online, gbp, progress=False)
    x = torch.randn(5, 2), torch.randn(5, 2)
    assert torch.equal(again.model(*x), first.model(*x))
    assert torch.equal(again.snapshots[0](*x), first.snapshots[0](*x))


def test_cached_adversarial_model_differs_from_its_base():
    import gbp_utils
    from gbp_utils import finetuning
    P = gbp_utils.presets(fast=True)
    adv = finetuning.get_adversarial_model(P, train_config=TrainConfig(epochs=1, lr=1e-3), progress=False)
    base = gbp_utils.get_world_model([P.expert_data], P.model, P.train, progress=False).model
    x = torch.randn(5, 2), torch.randn(5, 2)
    assert not torch.equal(adv.model(*x), base(*x))


def test_online_finetune_with_adversarial_fits_every_round_with_the_adversarial_loss(model, expert, monkeypatch):
    from gbp_utils import finetuning
    calls = []

    class CountingLoss(AdversarialLoss):
        def __call__(self, *args):
            calls.append(self.config)
            return super().__call__(*args)

    monkeypatch.setattr(finetuning, "AdversarialLoss", CountingLoss)
    cfg = WallConfig()
    adv = AdversarialConfig(state_factor=0.03, steps=2)
    planner = lambda m: GBPPlanner(m, GBPConfig(iterations=3, warm_iterations=1, restarts=1), cfg.max_step)  # noqa: E731
    online_finetune(model, expert, WallEnv(cfg), planner,
                    OnlineConfig(rounds=2, tasks_per_round=5, execution="open-loop", epochs_per_round=1),
                    TrainConfig(batch_size=4096), progress=False, adversarial=adv)
    assert len(calls) == 2 and all(c is adv for c in calls)  # one full-batch epoch per round
