"""Notebook 09's encoder: shapes, training that lowers the reconstruction error, caching, latent transitions
for the world model and a linear position probe."""

import dataclasses

import pytest
import torch

from gbp_utils import latent
from gbp_utils.data import Dataset
from gbp_utils.env import WallConfig, sample_tasks
from gbp_utils.pixels import RenderConfig, render
from gbp_utils.world_model import TrainConfig, WorldModel, WorldModelConfig, train_world_model

SMALL = latent.EncoderConfig(latent_dim=4, channels=(8, 16), image=RenderConfig(size=16, blob_sigma=0.6))
QUICK = latent.EncoderTrainConfig(n_images=2000, epochs=6, batch_size=64, lr=1e-2)


def test_autoencoder_shapes_and_errors():
    model = latent.ConvAutoEncoder(SMALL)
    images = render(torch.zeros(3, 2), WallConfig(), SMALL.image)
    z = model.encode(images)
    assert z.shape == (3, 4) and model.decode(z).shape == images.shape
    with pytest.raises(ValueError, match=r"encode needs images \(B, 2, 16, 16\)"):
        model.encode(torch.zeros(3, 2, 32, 32))
    with pytest.raises(ValueError, match="must be divisible by 2 \\*\\* 3"):
        latent.EncoderConfig(channels=(4, 8, 16), image=RenderConfig(size=20))
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 1"):
        latent.EncoderConfig(latent_dim=0)


def test_training_lowers_the_error_and_is_cached(data_dir):
    wall = WallConfig()
    untrained = latent.ConvAutoEncoder(SMALL)
    held_out = sample_tasks(100, 5, "eval", wall).starts
    before = latent.reconstruction_loss(untrained, held_out, wall)
    model, history = latent.get_autoencoder(wall, SMALL, QUICK, progress=False)
    after = latent.reconstruction_loss(model, held_out, wall)
    assert after < 0.5 * before and len(history["val_loss"]) == QUICK.epochs and history["train_seconds"] > 0
    files = list(data_dir.glob("encoder-*.pt"))
    assert len(files) == 1
    again, _ = latent.get_autoencoder(wall, SMALL, QUICK, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    # latents feed the series' world model; a linear probe reads positions back
    z = latent.encode_states(model, held_out, wall)
    assert z.shape == (100, 4)
    probe = latent.position_probe(z[:70], held_out[:70])
    report = latent.probe_report(probe, z[70:], held_out[70:])
    assert report["r2"] > 0.5, report  # after a few hundred images the latent already knows where the agent is


def test_latent_transitions_train_a_world_model():
    wall = WallConfig()
    model = latent.ConvAutoEncoder(SMALL).eval()
    g = torch.Generator().manual_seed(0)
    starts = sample_tasks(20, 1, "train", wall).starts
    actions = 0.3 * (2 * torch.rand(20, 5, 2, generator=g) - 1)
    states = torch.cat([starts[:, None], starts[:, None] + actions.cumsum(1)], 1)
    lt = latent.LatentTransitions.from_dataset(model, Dataset(states, actions), wall)
    s, a, s_next = lt.transitions()
    assert s.shape == (100, 4) and a.shape == (100, 2) and s_next.shape == (100, 4)
    wm = train_world_model(lt, None, WorldModelConfig(hidden=8, n_blocks=1), TrainConfig(epochs=1), progress=False).model
    assert wm.state_dim == 4 and wm(s, a).shape == (100, 4)
    with pytest.raises(ValueError, match=r"latents must be \(E, T\+1, D\)"):
        latent.LatentTransitions(torch.zeros(2, 5, 4), torch.zeros(2, 5, 2))


def _small_pixel_model(wall: WallConfig) -> latent.PixelWorldModel:
    """An untrained 16-pixel encoder and a small latent model (4-D latents), the same every call."""
    torch.manual_seed(0)
    ae = latent.ConvAutoEncoder(SMALL).eval()
    lm = WorldModel(WorldModelConfig(hidden=8, n_blocks=1), state_dim=4).eval()
    return latent.PixelWorldModel(ae, lm, wall)


def test_a_pixel_world_model_runs_through_the_series_control_and_evaluation(data_dir):
    from gbp_utils import experiments
    from gbp_utils.control import OPEN_LOOP, Execution
    from gbp_utils.evaluation import evaluate
    from gbp_utils.planners import GBPConfig
    from gbp_utils.sampling import CEMConfig
    wall = WallConfig()
    model = _small_pixel_model(wall)
    lm = model.latent_model
    tasks = sample_tasks(3, 0, "eval", wall)
    for config, execution in ((GBPConfig(init="gaussian", restarts=2, iterations=3), OPEN_LOOP),
                              (CEMConfig(init="zeros", population=8, elites=2, iterations=2), Execution("mpc", replan_every=10))):
        ep = experiments.run(model, config, tasks, execution, wall)
        assert ep.states.shape == (3, wall.max_steps + 1, 2) and ep.first_plan_states.shape[-1] == 4
        report = evaluate("pixels", ep, tasks, wall, model, reference_error=1.0)
        assert report.wm_error >= 0 and report.wm_error_ratio == report.wm_error
    assert len(list(data_dir.glob("episodes-*.pt"))) == 2  # cached like any run
    z = model.encode(tasks.starts)
    expect = (lm(z, torch.zeros(3, 2)) - model.encode(tasks.starts)).norm(dim=-1)
    torch.testing.assert_close(model.transition_error(tasks.starts, torch.zeros(3, 2), tasks.starts), expect)


def test_a_latent_planner_encodes_the_goal_images_once_and_plans_as_if_it_encoded_them_every_time():
    from gbp_utils.control import run_mpc
    from gbp_utils.env import WallEnv
    from gbp_utils.planners import GBPConfig
    wall = WallConfig()
    model = _small_pixel_model(wall)
    tasks = sample_tasks(20, 0, "eval", wall)
    encoded, encode = [], model.encode
    model.encode = lambda states: (encoded.append(states.clone()), encode(states))[1]
    config = GBPConfig(init="gaussian", restarts=2, iterations=3)
    planner = model.make_planner(config, wall.max_step)
    ep = run_mpc(WallEnv(wall), planner, tasks, replan_every=10)
    assert ep.n_plans == 3 and len(encoded) == 4  # the starts of each plan, the goals once
    assert sum(torch.equal(x, tasks.goals) for x in encoded) == 1
    # a new planner at every plan encodes the goals every time: the same episodes, bit for bit
    again = run_mpc(WallEnv(wall), lambda *args, **kw: model.make_planner(config, wall.max_step)(*args, **kw),
                    tasks, replan_every=10)
    assert len(encoded) == 4 + 6
    assert torch.equal(again.states, ep.states) and torch.equal(again.actions, ep.actions)
    other = tasks.goals.flip(0)  # other goals (or the same goals changed in place) are encoded again
    planner(tasks.starts, other, 5)
    assert torch.equal(encoded[-1], other)
    other.add_(0.5)
    planner(tasks.starts, other, 5)
    assert torch.equal(encoded[-1], other) and len(encoded) == 10 + 4
    planner(tasks.starts[:5], other[:5], 5)  # fewer goals (a prefix of the last ones): encoded again
    assert torch.equal(encoded[-1], other[:5]) and len(encoded) == 14 + 2


def test_a_pixel_models_transition_errors_are_cached_by_weights_and_transitions(data_dir, monkeypatch):
    wall = WallConfig()
    model = _small_pixel_model(wall)
    s = sample_tasks(6, 0, "eval", wall).starts
    a = torch.full((6, 2), 0.2)
    first = model.transition_error(s, a, s + a)
    torch.testing.assert_close(first, model.transition_error(s, a, s + a, use_cache=False))
    assert len(list(data_dir.glob("errors-*.pt"))) == 1
    monkeypatch.setattr(model, "encode", lambda x: (_ for _ in ()).throw(AssertionError("encoded again")))
    assert torch.equal(model.transition_error(s, a, s + a), first)  # loaded, not recomputed
    with pytest.raises(AssertionError, match="encoded again"):  # other transitions: computed
        model.transition_error(s, -a, s - a)
