"""The ensemble world model: batched members, disagreement, the penalty planners pay, compute counts,
and how members are trained and cached."""

import dataclasses

import pytest
import torch
from helpers import tiny_world_model

from gbp_utils import ensemble
from gbp_utils.data import DataConfig
from gbp_utils.ensemble import EnsembleSpec, EnsembleWorldModel, spread
from gbp_utils.experiments import model_identity
from gbp_utils.planners import GBPConfig, make_planner, model_cost
from gbp_utils.sampling import CEMConfig
from gbp_utils.world_model import TrainConfig, WorldModel, WorldModelConfig, get_world_model, rollout, train_world_model


def _members(n=3, hidden=8):
    return [tiny_world_model(seed=i, hidden=hidden) for i in range(n)]


def _rows(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=g) * 8 - 4, torch.rand(n, 2, generator=g) - 0.5


def _split_member(sign: float, c: float = 0.5) -> WorldModel:
    """A hand-set member: s' = s + a + (sign * c * relu(s_x), 0). Two members with opposite signs agree
    left of x = 0 and disagree by c * s_x to its right: a known disagreement field."""
    model = WorldModel(WorldModelConfig(hidden=5, n_blocks=0, activation="relu"))
    with torch.no_grad():
        w = torch.zeros(5, 4)  # inputs (s_x, s_y, a_x, a_y), normaliser the identity
        w[0, 0] = 1  # relu(s_x)
        w[1, 2], w[2, 2], w[3, 3], w[4, 3] = 1, -1, 1, -1  # relu(+-a_x), relu(+-a_y)
        model.inp[0].weight.copy_(w)
        model.inp[0].bias.zero_()
        out = torch.zeros(2, 5)
        out[0, 0], out[0, 1], out[0, 2] = sign * c, 1, -1
        out[1, 3], out[1, 4] = 1, -1
        model.out.weight.copy_(out)
        model.out.bias.zero_()
    return model.eval()


def test_members_batched_equal_each_member_alone():
    members = _members()
    ens = EnsembleWorldModel.from_models(members)
    s, a = _rows(7)
    pred = ens.member_predictions(s, a)
    assert pred.shape == (3, 7, 2)
    for m, model in enumerate(members):
        torch.testing.assert_close(pred[m], model(s, a), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ens.member(m)(s, a), model(s, a))
    torch.testing.assert_close(ens(s, a), torch.stack([m(s, a) for m in members]).mean(0), rtol=1e-5, atol=1e-5)
    # (..., S) inputs keep their leading shape
    assert ens(s.reshape(7, 1, 2), a.reshape(7, 1, 2)).shape == (7, 1, 2)
    assert ens.disagreement(s, a).shape == (7,)


def test_disagreement_is_zero_for_identical_members_and_the_mean_is_the_member():
    model = tiny_world_model(seed=3)
    ens = EnsembleWorldModel.from_models([model, model, model])
    s, a = _rows(9)
    assert ens.disagreement(s, a).abs().max() < 1e-6
    torch.testing.assert_close(ens(s, a), model(s, a), rtol=1e-5, atol=1e-5)
    # different members do disagree
    assert (EnsembleWorldModel.from_models(_members()).disagreement(s, a) > 1e-3).all()


def test_spread_is_the_rms_distance_to_the_mean():
    p = torch.tensor([[[0.0, 0.0]], [[2.0, 0.0]]])  # two members, one row: mean (1, 0), both at distance 1
    assert spread(p).item() == pytest.approx(1.0, abs=1e-5)
    p = torch.tensor([[[0.0, 0.0]], [[0.0, 0.0]], [[3.0, 4.0]]])  # mean (1, 4/3); sum of sq. distances / 3
    mean = p.mean(0)
    expected = ((p - mean).pow(2).sum(-1).mean(0)).sqrt()
    assert spread(p).item() == pytest.approx(expected.item(), abs=1e-5)


def test_known_disagreement_field_and_penalty_gradient_points_away_from_it():
    ens = EnsembleWorldModel.from_models([_split_member(+1), _split_member(-1)], beta=2.0)
    s = torch.tensor([[-2.0, 0.0], [1.0, 0.0], [3.0, 1.0]])
    a = torch.zeros(3, 2)
    torch.testing.assert_close(ens.disagreement(s, a), torch.tensor([0.0, 0.5, 1.5]), atol=1e-5, rtol=0)
    torch.testing.assert_close(ens(s, a), s)  # opposite members: the mean ignores the disputed term
    # two steps from x = 1: the penalty counts the disagreement at s_0 (0.5) and at s_1 = s_0 + a_0
    starts = torch.tensor([[1.0, 0.0], [-3.0, 0.0]])
    actions = torch.tensor([[[0.4, 0.3], [0.0, 0.0]], [[0.4, 0.3], [0.0, 0.0]]], requires_grad=True)
    states, penalty = ens.penalised_rollout(starts, actions)
    torch.testing.assert_close(states[:, 1], starts + actions[:, 0].detach())
    torch.testing.assert_close(penalty.detach(), torch.tensor([2.0 * (0.5 + 0.5 * 1.4), 0.0]), atol=1e-5, rtol=0)
    grad, = torch.autograd.grad(penalty.sum(), actions)
    # descending the penalty moves the first action towards -x, where the members agree; the second
    # action's result is never scored (the penalty stops at s_{H-1}), so it gets no gradient
    assert grad[0, 0, 0] == pytest.approx(2.0 * 0.5, abs=1e-4) and abs(grad[0, 0, 1]) < 1e-6
    assert grad[0, 1].abs().max() < 1e-6
    assert grad[1].abs().max() < 1e-6  # all of the second task's path is where the members agree
    # and a step against the gradient lowers the penalty
    with torch.no_grad():
        _, after = ens.penalised_rollout(starts, actions - 0.5 * grad)
    assert after[0] < penalty[0].detach()


def test_beta_zero_has_no_penalty_and_beta_scales_it():
    ens = EnsembleWorldModel.from_models(_members())
    starts, goals = _rows(4, seed=1)
    actions = torch.rand(4, 6, 2, generator=torch.Generator().manual_seed(2)) - 0.5
    states, penalty = ens.penalised_rollout(starts, actions)
    assert torch.equal(penalty, torch.zeros(4))
    torch.testing.assert_close(states, rollout(ens, starts, actions))
    _, p1 = ens.with_beta(1.0).penalised_rollout(starts, actions)
    _, p3 = ens.with_beta(3.0).penalised_rollout(starts, actions)
    assert (p1 > 0).all()
    torch.testing.assert_close(p3, 3 * p1)
    _, c0 = model_cost(ens, starts, actions, goals)
    _, c1 = model_cost(ens.with_beta(1.0), starts, actions, goals)
    torch.testing.assert_close(c1 - c0, p1)


def test_with_beta_shares_the_members_and_changes_the_run_key():
    ens = EnsembleWorldModel.from_models(_members())
    other = ens.with_beta(0.5)
    assert other.inp_0_weight is ens.inp_0_weight and other.beta == 0.5 and ens.beta == 0.0
    assert model_identity(ens) != model_identity(other)
    assert model_identity(ens)["model_config"] == EnsembleSpec(3, ens.spec.model, 0.0)
    assert not any(p.requires_grad for p in ens.parameters())


@pytest.mark.parametrize("config", [GBPConfig(restarts=2, iterations=3, warm_iterations=1),
                                    CEMConfig(population=10, elites=2, iterations=2)], ids=["GBP", "CEM"])
def test_compute_counts_scale_with_members(config):
    model = tiny_world_model(seed=1)
    starts, goals = _rows(3, seed=4)
    plain = make_planner(model, config, 0.5)(starts, goals, 5)
    plans = {M: make_planner(EnsembleWorldModel.from_models([model] * M), config, 0.5)(starts, goals, 5)
             for M in (1, 3)}
    assert plans[1].wm_forward == plain.wm_forward and plans[1].wm_backward == plain.wm_backward
    assert plans[3].wm_forward == 3 * plain.wm_forward and plans[3].wm_backward == 3 * plain.wm_backward
    assert plain.wm_forward > 0
    # identical members plan (up to float rounding) what the single model plans
    torch.testing.assert_close(plans[3].actions, plain.actions, atol=1e-4, rtol=0)


def test_pessimistic_gbp_avoids_the_disputed_side():
    """From x = 0 to a goal straight up, the plan is free to wander in x; with a large beta, a path
    through x > 0 (where the members disagree) costs more, so the chosen plan stays left of it."""
    ens = EnsembleWorldModel.from_models([_split_member(+1, c=1.0), _split_member(-1, c=1.0)])
    starts, goals = torch.tensor([[0.5, -2.0]]), torch.tensor([[0.5, 2.0]])
    config = GBPConfig(restarts=4, iterations=60, lr=0.1)
    plans = {beta: make_planner(ens.with_beta(beta), config, 0.5)(starts, goals, 10) for beta in (0.0, 1.0)}
    mean_x = {beta: p.predicted_states[0, :-1, 0].mean().item() for beta, p in plans.items()}
    assert mean_x[0.0] > 0.2 and mean_x[1.0] < -0.2  # the penalised plan leaves the disputed side
    # and still reaches the goal in the model
    assert (plans[1.0].predicted_states[0, -1] - goals[0]).norm() < 0.3


def test_construction_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleWorldModel.from_models([])
    with pytest.raises(ValueError, match="share one architecture"):
        EnsembleWorldModel.from_models([tiny_world_model(hidden=8), tiny_world_model(hidden=6)])
    with pytest.raises(TypeError, match="plain WorldModels"):
        EnsembleWorldModel.from_models([tiny_world_model(), torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        EnsembleWorldModel.from_models(_members()).with_beta(-1.0)
    with pytest.raises(ValueError, match="beta must be"):
        EnsembleWorldModel.from_models(_members(), beta=float("nan"))
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        EnsembleSpec(0, WorldModelConfig())
    with pytest.raises(IndexError, match=r"member index must be in \[0, 3\)"):
        EnsembleWorldModel.from_models(_members()).member(3)
    with pytest.raises(ValueError, match="states .B, S. or .M, B, S. and actions"):
        EnsembleWorldModel.from_models(_members()).member_predictions(torch.zeros(4, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        ensemble.get_ensemble([DataConfig().tiny()], 0)


def test_bootstrap_resamples_whole_training_episodes():
    data = [dataclasses.replace(DataConfig(), n_episodes=40, episode_len=5)]
    tc = TrainConfig(epochs=1)
    train, val = ensemble.member_data(data, tc, 0, use_bootstrap=False)
    boot0, val0 = ensemble.member_data(data, tc, 0)
    boot1, val1 = ensemble.member_data(data, tc, 1)
    assert torch.equal(val0.states, val.states) and torch.equal(val1.states, val.states)  # one split for all
    assert boot0.n_episodes == train.n_episodes == boot1.n_episodes
    rows = {tuple(e.flatten().tolist()) for e in train.states}
    assert all(tuple(e.flatten().tolist()) in rows for e in boot0.states)  # only training episodes
    assert len({tuple(e.flatten().tolist()) for e in boot0.states}) < train.n_episodes  # with repeats
    assert not torch.equal(boot0.states, boot1.states)
    assert ensemble.member_train_config(tc, 2).seed == tc.seed + 2 * ensemble.MEMBER_SEED_STRIDE
    with pytest.raises(ValueError, match="member index must be an integer >= 0"):
        ensemble.member_train_config(tc, -1)


def test_members_are_cached_and_member_zero_without_bootstrap_is_the_single_model(data_dir):
    data = [dataclasses.replace(DataConfig(), n_episodes=60, episode_len=10)]
    mc, tc = WorldModelConfig(hidden=16, n_blocks=1), TrainConfig(epochs=3)
    single = get_world_model(data, mc, tc, progress=False).model
    plain0 = ensemble.get_member(data, 0, mc, tc, use_bootstrap=False, progress=False).model
    assert all(torch.equal(a, b) for a, b in zip(single.state_dict().values(), plain0.state_dict().values()))
    ens3 = ensemble.get_ensemble(data, 3, mc, tc, progress=False)
    files = sorted(p.name for p in data_dir.glob("member-*.pt"))
    assert len(files) == 4  # the unbootstrapped member 0 and three bootstrapped members
    ens2 = ensemble.get_ensemble(data, 2, mc, tc, beta=0.5, progress=False)
    assert sorted(p.name for p in data_dir.glob("member-*.pt")) == files  # members 0, 1 reused
    assert torch.equal(ens2.inp_0_weight, ens3.inp_0_weight[:2]) and ens2.beta == 0.5
    assert not torch.equal(ens3.inp_0_weight[0], ens3.inp_0_weight[1])


@pytest.mark.parametrize("activation", ["silu", "tanh", "relu", "gelu"])
def test_fused_rollout_matches_autograd(activation):
    """The planners' fast path (one autograd node, hand-written backward) gives autograd's states, penalty
    and gradients w.r.t. starts and actions."""
    torch.manual_seed(0)
    members = [WorldModel(WorldModelConfig(hidden=16, n_blocks=2, activation=activation)) for _ in range(3)]
    for m in members:  # non-trivial normalisers
        with torch.no_grad():
            for name in ("state", "action", "delta"):
                getattr(m, f"{name}_mean").normal_(0, 0.3)
                getattr(m, f"{name}_std").uniform_(0.5, 2.0)
    ens = EnsembleWorldModel.from_models(members, beta=0.7)
    starts, _ = _rows(4, seed=5)
    actions = torch.rand(4, 6, 2, generator=torch.Generator().manual_seed(6)) - 0.5
    w_states, w_pen = torch.randn(4, 7, 2), torch.randn(4)
    results = []
    for fused in (True, False):
        s0, a0 = starts.clone().requires_grad_(True), actions.clone().requires_grad_(True)
        states, penalty = ens.penalised_rollout(s0, a0) if fused else ens._penalised_rollout(s0, a0)
        (states * w_states).sum().add((penalty * w_pen).sum()).backward()
        results.append((states.detach(), penalty.detach(), s0.grad, a0.grad))
    for fused, reference in zip(*results):
        torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-5)
    assert results[0][3].abs().max() > 1e-3  # the gradient is not trivially zero


def test_disagreement_grows_off_the_data():
    """Members trained (own seed, own bootstrap resample) on free-space moves seen only left of x = -1
    agree there and disagree far to the right, where no member saw data."""
    from gbp_utils.data import Dataset
    g = torch.Generator().manual_seed(0)
    starts = torch.stack([-4 + 3 * torch.rand(80, generator=g), -4 + 8 * torch.rand(80, generator=g)], -1)
    actions = 0.5 * (2 * torch.rand(80, 10, 2, generator=g) - 1)
    states = torch.cat([starts[:, None], starts[:, None] + actions.cumsum(1)], 1)
    keep = (states[..., 0] < -1).all(1) & (states[..., 0] > -5).all(1)
    data = Dataset(states[keep].contiguous(), actions[keep].contiguous())
    train, val = data.split(0.1, 0)
    members = [train_world_model(ensemble.bootstrap(train, 10 + m), val, WorldModelConfig(hidden=32),
                                 TrainConfig(epochs=30, seed=m), progress=False).model for m in range(3)]
    ens = EnsembleWorldModel.from_models(members)
    s_on, a_on, _ = val.transitions()
    s_off = s_on + torch.tensor([6.0, 0.0])  # the same moves, shifted to x in (1, 4)
    on, off = ens.disagreement(s_on, a_on).mean(), ens.disagreement(s_off, a_on).mean()
    assert off > 3 * on, (float(on), float(off))
