"""Tests for gbp_utils.world_model: architecture, rollout, training quality, checkpoints, caching."""

import copy
import dataclasses
import re

import pytest
import torch

from gbp_utils import cache
from gbp_utils.cache import DataFileError
from gbp_utils.data import DataConfig, concat, dataset_path, generate, get_dataset, save_dataset
from gbp_utils.world_model import (
    TrainConfig,
    TrainResult,
    WorldModel,
    WorldModelConfig,
    cached_model,
    checkpoint_path,
    get_world_model,
    load_world_model,
    multi_step_error,
    normalised_loss,
    one_step_error,
    reference_error,
    rollout,
    rollout_for_planning,
    save_world_model,
    train_world_model,
    training_split,
)

# Measured on this venv (1 thread): mean one-step validation error 0.0029-0.0043 arena units over
# six data/training seeds (200 expert episodes, 15 epochs). The threshold leaves a ~5x margin.
VAL_ERROR_THRESHOLD = 0.02
# Measured: mean one-step error on play data ~0.17-0.19, i.e. ~50x the expert validation error.
PLAY_RATIO = 5.0


@pytest.fixture(scope="module")
def expert_split():
    ds = generate(DataConfig(kind="expert", n_episodes=200))
    return ds.split(0.1, seed=0)


@pytest.fixture(scope="module")
def trained(expert_split):
    train, val = expert_split
    return train_world_model(train, val, train_config=TrainConfig(epochs=15), progress=False)


@pytest.fixture(scope="module")
def play_data():
    return generate(DataConfig(kind="play", n_episodes=200))


# A cached-model setup small enough to train in well under a second.
TINY_DATA = [DataConfig(kind="expert", n_episodes=20), DataConfig(kind="play", n_episodes=20)]
TINY_MODEL = WorldModelConfig(hidden=16, n_blocks=1)
TINY_TRAIN = TrainConfig(epochs=2)


# --------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lead", [(7,), (3, 5), (2, 3, 4)])
def test_forward_shapes(lead):
    model = WorldModel()
    out = model(torch.randn(*lead, 2), torch.randn(*lead, 2))
    assert out.shape == (*lead, 2) and out.dtype == torch.float32


def test_residual_form_with_a_zero_output_layer():
    """With the output layer zeroed the MLP contributes nothing: s' = s + delta_mean exactly."""
    model = WorldModel(WorldModelConfig(hidden=8, n_blocks=3, activation="tanh"))
    gen = torch.Generator().manual_seed(0)
    s, a = torch.randn(100, 2, generator=gen), torch.randn(100, 2, generator=gen)
    model.fit_normaliser(s, a, s + 0.3 * a + torch.tensor([0.1, -0.2]))
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
    torch.testing.assert_close(model(s, a), s + model.delta_mean)
    assert not torch.allclose(model.delta_mean, torch.zeros(2))


def test_output_bias_is_scaled_by_delta_std():
    model = WorldModel(WorldModelConfig(hidden=8))
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.copy_(torch.tensor([1.0, -2.0]))
        model.delta_mean.copy_(torch.tensor([0.5, 0.5]))
        model.delta_std.copy_(torch.tensor([0.1, 0.2]))
    s = torch.zeros(3, 2)
    torch.testing.assert_close(model(s, torch.randn(3, 2)), torch.tensor([[0.6, 0.1]]).expand(3, 2))


def test_fit_normaliser_sets_the_statistics_as_buffers():
    gen = torch.Generator().manual_seed(0)
    s, a = torch.randn(500, 2, generator=gen) * 3 + 1, torch.randn(500, 2, generator=gen) * 0.2
    model = WorldModel()
    model.fit_normaliser(s, a, s + a)
    torch.testing.assert_close(model.state_mean, s.mean(0))
    torch.testing.assert_close(model.action_std, a.std(0))
    torch.testing.assert_close(model.delta_mean, a.mean(0))
    names = dict(model.named_buffers())
    assert {"state_mean", "state_std", "action_mean", "action_std", "delta_mean", "delta_std"} <= set(names)
    assert not any(n.endswith(("_mean", "_std")) for n, _ in model.named_parameters())
    # A constant input gets a floor on its std, never a division by zero.
    model.fit_normaliser(torch.ones(10, 2), a[:10], torch.ones(10, 2))
    assert (model.state_std > 0).all() and torch.isfinite(model(s, a)).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="sigmoid"), r"activation must be one of \['gelu', 'relu', 'silu', 'tanh'\]"),
    (dict(hidden=0), "hidden must be >= 1"),
    (dict(n_blocks=-1), "n_blocks >= 0"),
])
def test_invalid_model_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WorldModelConfig(**kwargs)


# --------------------------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------------------------
def test_rollout_shape_and_consistency_with_single_steps():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(hidden=16))
    starts, actions = torch.randn(4, 2), torch.randn(4, 6, 2)
    states = rollout(model, starts, actions)
    assert states.shape == (4, 7, 2)
    assert torch.equal(states[:, 0], starts)
    s = starts
    for t in range(6):
        s = model(s, actions[:, t])
        torch.testing.assert_close(states[:, t + 1], s)
    assert rollout(model, starts, actions[:, :0]).shape == (4, 1, 2)


def test_rollout_gradient_flows_to_every_action():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(hidden=16))
    actions = torch.zeros(3, 5, 2, requires_grad=True)
    final = rollout(model, torch.randn(3, 2), actions)[:, -1]
    final.pow(2).sum().backward()
    assert actions.grad is not None and torch.isfinite(actions.grad).all()
    assert (actions.grad.abs().sum(-1) > 0).all(), "some step of the horizon gets no gradient"


def test_rollout_rejects_bad_shapes():
    model = WorldModel()
    with pytest.raises(ValueError, match=r"starts \(B, S\) and actions \(B, H, A\); got \(3, 2\) and \(3, 2\)"):
        rollout(model, torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="rollout needs"):
        rollout(model, torch.zeros(3, 2), torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="rollout needs"):
        rollout(model, torch.zeros(2), torch.zeros(1, 4, 2))


def _spread_normaliser(model: WorldModel) -> WorldModel:
    """Non-trivial normaliser statistics, so every buffer takes part in the comparison."""
    with torch.no_grad():
        for name in ("state", "action", "delta"):
            getattr(model, f"{name}_mean").normal_()
            getattr(model, f"{name}_std").uniform_(0.3, 2.0)
    return model


@pytest.mark.parametrize("activation", ["silu", "tanh", "relu", "gelu"])
@pytest.mark.parametrize("n_blocks", [0, 1, 3])
@pytest.mark.parametrize("cost", ["final", "all"])
def test_rollout_for_planning_matches_autograd_bit_for_bit(activation, n_blocks, cost):
    from gbp_utils.planners import planning_cost

    torch.manual_seed(0)
    model = _spread_normaliser(WorldModel(WorldModelConfig(hidden=16, n_blocks=n_blocks, activation=activation)))
    starts, u, goals = torch.randn(5, 2, requires_grad=True), torch.randn(5, 9, 2, requires_grad=True), torch.randn(5, 2)
    results = []
    for fn in (rollout, rollout_for_planning):
        states = fn(model, starts, 0.3 * torch.tanh(u))
        grads = torch.autograd.grad(planning_cost(states, goals, cost).sum(), (starts, u))
        results.append((states.detach(), *grads))
    for name, a, b in zip(("states", "grad starts", "grad actions"), *results):
        assert torch.equal(a, b), f"{name} differ by up to {(a - b).abs().max().item():.3g}"
    # without a graph, rollout runs the same steps without Module calls: the same states, bit for bit
    with torch.no_grad():
        fast = rollout(model, starts, 0.3 * torch.tanh(u))
    assert torch.equal(fast, results[0][0])


def test_rollout_for_planning_gives_no_gradient_to_the_model_and_falls_back_for_other_models():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(hidden=16))
    actions = torch.randn(2, 4, 2, requires_grad=True)
    rollout_for_planning(model, torch.randn(2, 2), actions)[:, -1].sum().backward()
    assert actions.grad is not None and all(p.grad is None for p in model.parameters())

    class Shifted(WorldModel):  # a subclass may change forward(): it gets the plain rollout
        def forward(self, states, actions):
            return super().forward(states, actions) + 1.0

    shifted = Shifted(WorldModelConfig(hidden=16))
    shifted.load_state_dict(model.state_dict())
    starts, plan = torch.randn(2, 2), torch.randn(2, 4, 2, requires_grad=True)
    assert torch.equal(rollout_for_planning(shifted, starts, plan), rollout(shifted, starts, plan))
    with pytest.raises(ValueError, match="rollout needs"):
        rollout_for_planning(model, torch.zeros(3, 2), torch.zeros(3, 2, requires_grad=True))


# --------------------------------------------------------------------------------------------
# Training quality
# --------------------------------------------------------------------------------------------
def test_one_step_validation_error_below_0_02_arena_units(trained, expert_split):
    """200 expert episodes, 15 epochs: mean one-step error on held-out episodes < 0.02."""
    _, val = expert_split
    err = one_step_error(trained.model, val)
    assert err.shape == (len(val),)
    assert err.mean().item() < VAL_ERROR_THRESHOLD, f"mean one-step error {err.mean().item():.4f}"


def test_error_on_play_data_is_much_larger_than_on_expert_validation(trained, expert_split, play_data):
    _, val = expert_split
    e_val = one_step_error(trained.model, val).mean().item()
    e_play = one_step_error(trained.model, play_data).mean().item()
    assert e_play > PLAY_RATIO * e_val, f"play {e_play:.4f} vs expert val {e_val:.4f}"


def test_training_history_and_best_model_selection(trained, expert_split):
    h = trained.history
    assert len(h["train_loss"]) == len(h["val_loss"]) == 15
    assert h["train_loss"][-1] < 0.2 * h["train_loss"][0]
    # The returned model is the one with the lowest validation loss.
    assert normalised_loss(trained.model, expert_split[1]) == pytest.approx(min(h["val_loss"]), rel=1e-5)
    assert not trained.model.training


def test_multi_step_error_shape_and_growth(trained, expert_split):
    _, val = expert_split
    err = multi_step_error(trained.model, val)
    assert err.shape == (val.n_episodes, val.actions.shape[1])
    assert multi_step_error(trained.model, val, horizon=5).shape == (val.n_episodes, 5)
    # Open-loop errors accumulate: late steps are worse on average than the first one.
    assert err[:, -5:].mean() > err[:, 0].mean()


def test_training_is_reproducible_and_without_validation_returns_the_last_model(expert_split):
    train, _ = expert_split
    small = train[torch.arange(40)]
    cfg = TrainConfig(epochs=2, seed=3)
    a = train_world_model(small, None, TINY_MODEL, cfg, progress=False)
    b = train_world_model(small, None, TINY_MODEL, cfg, progress=False)
    for (n, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(p, q), n
    assert a.history["val_loss"] == [] and len(a.history["train_loss"]) == 2


def test_finetuning_keeps_the_normaliser(trained, play_data):
    model = copy.deepcopy(trained.model)
    before = model.state_mean.clone()
    out = train_world_model(play_data[torch.arange(20)], None, model=model,
                            train_config=TrainConfig(epochs=1), progress=False)
    assert out.model is model and torch.equal(model.state_mean, before)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def _config():
    return {"data": TINY_DATA, "model": WorldModelConfig(), "train": TrainConfig(epochs=15)}


def test_checkpoint_round_trip_gives_identical_predictions(trained, expert_split, data_dir):
    path = data_dir / "wm.pt"
    save_world_model(trained, path, _config())
    loaded = load_world_model(path, _config())
    assert isinstance(loaded, TrainResult) and loaded.history == trained.history
    s, a, _ = expert_split[1].transitions()
    assert torch.equal(loaded.model(s, a), trained.model(s, a))
    assert not loaded.model.training
    assert [p.name for p in data_dir.iterdir()] == ["wm.pt"]  # no temp files left


def test_checkpoint_with_another_architecture_round_trips(data_dir):
    cfg = WorldModelConfig(hidden=8, n_blocks=0, activation="relu")
    result = TrainResult(WorldModel(cfg), {"train_loss": [1.0]})
    path = data_dir / "wm.pt"
    save_world_model(result, path, {"data": [], "model": cfg, "train": TrainConfig()})
    loaded = load_world_model(path)
    assert loaded.model.config == cfg
    x = torch.randn(5, 2)
    assert torch.equal(loaded.model(x, x), result.model(x, x))


def test_corrupt_checkpoint_raises_never_random_weights(trained, data_dir):
    path = data_dir / "wm.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00garbage\xff" * 50)
    with pytest.raises(DataFileError, match=re.escape(str(path)) + ".*corrupt"):
        load_world_model(path, _config())
    save_world_model(trained, path, _config())
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(DataFileError):
        load_world_model(path, _config())


def test_checkpoint_with_nan_weights_raises(trained, data_dir):
    path = data_dir / "wm.pt"
    save_world_model(trained, path, _config())
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["out.bias"][0] = float("nan")
    cache.atomic_save(payload, path)
    with pytest.raises(DataFileError, match="out.bias has non-finite values"):
        load_world_model(path, _config())


def test_checkpoint_whose_weights_do_not_fit_raises(trained, data_dir):
    path = data_dir / "wm.pt"
    config = {**_config(), "model": WorldModelConfig(hidden=32)}
    save_world_model(trained, path, config)  # 64-wide weights, 32-wide stored architecture
    with pytest.raises(DataFileError, match="weights do not fit the stored architecture"):
        load_world_model(path, config)


def test_checkpoint_kind_and_config_are_checked(trained, expert_split, data_dir):
    path = data_dir / "wm.pt"
    save_world_model(trained, path, _config())
    with pytest.raises(DataFileError, match="different config"):
        load_world_model(path, {**_config(), "train": TrainConfig(epochs=16)})
    with pytest.raises(FileNotFoundError):
        load_world_model(data_dir / "missing.pt")
    cfg = DataConfig(kind="expert", n_episodes=180)
    ds_path = save_dataset(expert_split[0], cfg)
    with pytest.raises(DataFileError, match="holds a 'dataset', expected a 'world_model'"):
        load_world_model(ds_path)


# --------------------------------------------------------------------------------------------
# get_world_model: the cache
# --------------------------------------------------------------------------------------------
def test_get_world_model_trains_once_then_loads(data_dir, monkeypatch):
    first = get_world_model(TINY_DATA, TINY_MODEL, TINY_TRAIN, progress=False)
    path = checkpoint_path(TINY_DATA, TINY_MODEL, TINY_TRAIN)
    assert path.parent == data_dir and path.exists()
    assert "train_seconds" in first.history
    # Its datasets were cached in the same folder.
    for c in TINY_DATA:
        assert dataset_path(c).exists()
    mtime = path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("get_world_model retrained although a valid checkpoint exists")

    monkeypatch.setattr("gbp_utils.world_model.train_world_model", no_training)
    second = get_world_model(TINY_DATA, TINY_MODEL, TINY_TRAIN, progress=False)
    assert path.stat().st_mtime_ns == mtime
    x = torch.randn(10, 2)
    assert torch.equal(second.model(x, x), first.model(x, x))
    assert second.history == first.history


def test_get_world_model_key_depends_on_all_configs(data_dir):
    base = checkpoint_path(TINY_DATA, TINY_MODEL, TINY_TRAIN)
    assert base.name.startswith("world_model-")
    assert checkpoint_path(TINY_DATA[:1], TINY_MODEL, TINY_TRAIN) != base
    assert checkpoint_path(TINY_DATA, dataclasses.replace(TINY_MODEL, hidden=17), TINY_TRAIN) != base
    assert checkpoint_path(TINY_DATA, TINY_MODEL, dataclasses.replace(TINY_TRAIN, lr=1e-3)) != base


# --------------------------------------------------------------------------------------------
# cached_model, training_split, reference_error
# --------------------------------------------------------------------------------------------
class Builder:
    """A ``build() -> TrainResult`` for cached_model that counts its calls."""

    def __init__(self, seed=0):
        self.calls, self.seed = 0, seed

    def __call__(self):
        self.calls += 1
        torch.manual_seed(self.seed)
        return TrainResult(WorldModel(TINY_MODEL), {"train_loss": [1.0]}, [WorldModel(TINY_MODEL)])


def test_cached_model_builds_once_then_loads_model_history_and_snapshots(data_dir):
    build = Builder()
    first = cached_model("thing", {"model": TINY_MODEL, "k": 1}, build)
    again = cached_model("thing", {"model": TINY_MODEL, "k": 1}, build)
    assert build.calls == 1
    assert again.history["train_loss"] == [1.0] and again.history["train_seconds"] >= 0
    x = torch.randn(4, 2)
    assert torch.equal(again.model(x, x), first.model(x, x))
    assert len(again.snapshots) == 1 and torch.equal(again.snapshots[0](x, x), first.snapshots[0](x, x))
    cached_model("thing", {"model": TINY_MODEL, "k": 2}, build)  # another config is another file
    assert build.calls == 2 and len(list(data_dir.glob("thing-*.pt"))) == 2


@pytest.mark.parametrize("spoil", ["garbage", "nan weights"])
def test_cached_model_regenerates_a_corrupt_file_with_a_warning_naming_it(data_dir, spoil):
    build = Builder()
    cached_model("thing", {"model": TINY_MODEL, "k": 1}, build)
    path, = data_dir.glob("thing-*.pt")
    if spoil == "garbage":
        path.write_bytes(b"not a checkpoint")
    else:
        payload = torch.load(path, weights_only=True)
        payload["state_dict"]["out.bias"][0] = float("nan")
        cache.atomic_save(payload, path)
    reason = "corrupt" if spoil == "garbage" else "out.bias has non-finite values"
    with pytest.warns(UserWarning, match=rf"Regenerating {re.escape(path.name)}: .*{reason}"):
        result = cached_model("thing", {"model": TINY_MODEL, "k": 1}, build)
    assert build.calls == 2 and torch.isfinite(result.model.out.bias).all()
    loaded = load_world_model(path, {"model": TINY_MODEL, "k": 1})  # the rewritten file is valid
    x = torch.randn(10, 2)
    assert torch.equal(loaded.model(x, x), result.model(x, x))


def test_training_split_pools_the_datasets_and_splits_like_the_trainer(data_dir):
    tc = TrainConfig(val_fraction=0.25, seed=3)
    train, val = training_split(TINY_DATA, tc)
    pooled = concat(*[get_dataset(c) for c in TINY_DATA])
    expected_train, expected_val = pooled.split(0.25, 3)
    assert torch.equal(train.states, expected_train.states) and torch.equal(val.states, expected_val.states)
    assert train.n_episodes + val.n_episodes == 40 and val.n_episodes == 10
    one_train, one_val = training_split(TINY_DATA[:1], tc)  # one dataset keeps its goals
    assert one_train.goals is not None and one_val.n_episodes == 5


def test_reference_error_is_the_mean_one_step_error(trained, expert_split):
    _, val = expert_split
    assert reference_error(trained.model, val) == pytest.approx(one_step_error(trained.model, val).mean().item())
    assert reference_error(trained.model, val) < VAL_ERROR_THRESHOLD

