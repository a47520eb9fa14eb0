"""Notebook 09's study: the spatial-softmax encoder, online finetuning of a pixel world model, the pixel planners,
tuning, sealed tasks of their own, the study's tables and its verdicts."""

import dataclasses

import pandas as pd
import pytest
import torch
from helpers import fake_outcomes, micro_presets

import gbp_utils
from gbp_utils import latent, vision
from gbp_utils.control import OPEN_LOOP
from gbp_utils.data import Dataset
from gbp_utils.env import WallConfig, WallEnv, sample_tasks
from gbp_utils.finetuning import OnlineConfig, online_finetune
from gbp_utils.pixels import RenderConfig, render
from gbp_utils.planners import GBPConfig
from gbp_utils.world_model import WorldModel, WorldModelConfig

PLANNERS = ("Adam open-loop", "Adam MPC", "CEM open-loop", "CEM MPC")

SPATIAL = latent.EncoderConfig(encoder="spatial", latent_dim=4, keypoints=2, channels=(8,), stride=2,
                               intensity_prior=10.0, image=RenderConfig(size=16, blob_sigma=0.6))


def _image_coords(states, wall):
    """Arena positions in the encoder's image coordinates ([-1, 1], y up)."""
    return states / wall.half_size


def test_spatial_encoder_returns_keypoints_that_start_on_the_agent():
    wall = WallConfig()
    torch.manual_seed(0)
    states = sample_tasks(50, 3, "eval", wall).starts
    model = latent.ConvAutoEncoder(SPATIAL).eval()
    with torch.no_grad():
        z = model.encode(render(states, wall, SPATIAL.image))
    assert z.shape == (50, 4) and z.abs().max() <= 1
    points = z.reshape(50, 2, 2)
    target = _image_coords(states, wall)[:, None]
    # the intensity prior puts every keypoint near the agent's blob before any training ...
    assert (points - target).norm(dim=-1).mean() < 0.15
    # ... and without it an untrained keypoint sits anywhere (near the image's centre, on average)
    blind = latent.ConvAutoEncoder(dataclasses.replace(SPATIAL, intensity_prior=0.0)).eval()
    blind.load_state_dict(model.state_dict())
    with torch.no_grad():
        far = blind.encode(render(states, wall, SPATIAL.image)).reshape(50, 2, 2)
    assert (far - target).norm(dim=-1).mean() > 3 * (points - target).norm(dim=-1).mean()
    assert model.decode(z).shape == (50, 2, 16, 16)


def test_encoder_config_names_what_is_wrong():
    with pytest.raises(ValueError, match=r"latent_dim must be 2 \* keypoints = 8; got 6"):
        latent.EncoderConfig(encoder="spatial", latent_dim=6, keypoints=4)
    with pytest.raises(ValueError, match="encoder must be 'conv' or 'spatial'; got 'vit'"):
        latent.EncoderConfig(encoder="vit")
    with pytest.raises(ValueError, match=r"image side \(30\) must be divisible by stride \(4\)"):
        latent.EncoderConfig(encoder="spatial", stride=4, image=RenderConfig(size=30))
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        latent.EncoderConfig(stride=0)
    with pytest.raises(ValueError, match="intensity_prior must be >= 0"):
        latent.EncoderConfig(intensity_prior=-1.0)


def test_latent_transitions_count_and_concatenate_like_datasets():
    a = latent.LatentTransitions(torch.zeros(3, 6, 4), torch.ones(3, 5, 2))
    b = latent.LatentTransitions(torch.ones(2, 6, 4), torch.zeros(2, 5, 2))
    both = latent.LatentTransitions.concat(a, b)
    assert len(a) == 15 and len(both) == 25 and both.latents.shape == (5, 6, 4)
    s, act, s_next = both.transitions()
    assert s.shape == (25, 4) and act[:15].eq(1).all() and act[15:].eq(0).all()


def test_online_finetuning_refits_a_pixel_models_latent_model_on_encoded_real_episodes():
    wall = WallConfig()
    torch.manual_seed(0)
    ae = latent.ConvAutoEncoder(SPATIAL).eval()
    g = torch.Generator().manual_seed(1)
    starts = sample_tasks(12, 1, "train", wall).starts
    actions = 0.4 * (2 * torch.rand(12, wall.max_steps, 2, generator=g) - 1)
    env = WallEnv(wall)
    states = [starts]
    for t in range(wall.max_steps):
        states.append(env.step(states[-1], actions[:, t]))
    expert = latent.LatentTransitions.from_dataset(ae, Dataset(torch.stack(states, 1), actions), wall)
    lm = WorldModel(WorldModelConfig(hidden=8, n_blocks=1), state_dim=4)
    model = latent.PixelWorldModel(ae, lm, wall)
    encoder_before = {k: v.clone() for k, v in ae.state_dict().items()}
    rounds = []
    tuned, collected = online_finetune(
        model, expert, env, GBPConfig(init="gaussian", restarts=1, iterations=2, warm_iterations=1),
        OnlineConfig(rounds=2, tasks_per_round=3, executions=(OPEN_LOOP,), epochs_per_round=1), progress=False,
        callback=lambda r, m, c: rounds.append(m))
    assert isinstance(tuned, latent.PixelWorldModel) and len(rounds) == 2 and len(collected) == 2
    assert collected[0].states.shape == (3, wall.max_steps + 1, 2)  # the real episodes, in states
    assert all(torch.equal(v, encoder_before[k]) for k, v in tuned.autoencoder.state_dict().items())  # frozen
    assert not all(torch.equal(p, q) for p, q in zip(tuned.latent_model.parameters(), lm.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(model.latent_model.parameters(), lm.parameters()))  # a copy
    with pytest.raises(TypeError, match="give expert_train as latent.LatentTransitions"):
        online_finetune(model, Dataset(torch.stack(states, 1), actions), env, GBPConfig(init="gaussian"),
                        OnlineConfig(rounds=1, tasks_per_round=2), progress=False)


def test_pixel_presets_planners_and_sealed_tasks():
    P, F = gbp_utils.presets(fast=False), gbp_utils.presets(fast=True)
    assert P.pixels.encoder.image.size == 64 and F.pixels.encoder.image.size == 32
    assert P.pixels.encoder.latent_dim == 2 * P.pixels.encoder.keypoints
    assert (F.pixels.adam_lr, F.pixels.cem_init_std) == (P.pixels.adam_lr, P.pixels.cem_init_std)
    assert P.pixels.adam_lr in P.pixels.adam_lrs and P.pixels.cem_init_std in P.pixels.cem_init_stds
    planners = vision.pixel_planners(P)
    assert list(planners) == ["Adam open-loop", "Adam MPC", "CEM open-loop", "CEM MPC"]
    adam, cem = planners["Adam MPC"][0], planners["CEM open-loop"][0]
    assert (adam.init, adam.lr, adam.restarts) == ("gaussian", P.pixels.adam_lr, P.final_planners["Adam"].restarts)
    assert (cem.init, cem.init_std, cem.population) == ("zeros", P.pixels.cem_init_std,
                                                        P.final_planners["CEM"].population)
    assert planners["CEM MPC"][1] == P.mpc and planners["Adam open-loop"][1] == P.open_loop
    assert vision.pixel_planners(P, adam_lr=0.3)["Adam open-loop"][0].lr == 0.3
    # notebook 09's sealed tasks are a stream no other notebook draws
    own, series = vision.test_tasks(P), P.test_tasks()
    assert len(own) == P.pixels.test_tasks and own.split == "test"
    assert torch.cdist(own.starts, series.starts).min() > 1e-4
    assert vision.online_config(P).executions == (P.mpc,) and vision.online_config(P).tasks_per_round == 150
    assert vision.collection_planner(P).init == "gaussian"


@pytest.fixture
def micro():
    """Micro presets with a 16-pixel spatial encoder fitted on a few hundred images."""
    P = micro_presets(seeds=(0,))
    pix = dataclasses.replace(P.pixels, encoder=dataclasses.replace(SPATIAL, latent_dim=8, keypoints=4),
                              encoder_train=latent.EncoderTrainConfig(n_images=300, epochs=1, batch_size=64),
                              online_tasks=3, tune_tasks=4, test_tasks=4, eval_tasks=3, adam_lrs=(0.1, 1.0),
                              cem_init_stds=(0.2, 0.5))
    return dataclasses.replace(P, pixels=pix)


def test_pixel_models_are_cached_and_keep_one_frozen_encoder(micro, data_dir):
    models = vision.pixel_models(micro, 0)
    assert list(models) == list(vision.KINDS)
    ae = models["base"].autoencoder
    assert all(m.autoencoder is ae for m in models.values())
    fingerprints = {k: gbp_utils.experiments.fingerprint(m.latent_model) for k, m in models.items()}
    assert len(set(fingerprints.values())) == 3  # three different latent models
    again = vision.pixel_models(micro, 0, ("online",))
    assert gbp_utils.experiments.fingerprint(again["online"].latent_model) == fingerprints["online"]
    names = sorted(p.name.split("-")[0] for p in data_dir.glob("*.pt"))
    assert names.count("pixel_online") == 1 and names.count("latents") == 1 and names.count("encoder") == 1
    train, val = vision.expert_latents(micro, 0)
    assert train.latents.shape[-1] == 8 and len(train) > len(val) > 0
    assert vision.latent_error(models["base"], val) > 0
    fitted, report = vision.probe(micro, n=100)
    assert report["r2"] > 0.9 and report["mean_error"] < 0.5  # the keypoints sit on the agent
    blind = latent.ConvAutoEncoder(dataclasses.replace(micro.pixels.encoder, intensity_prior=0.0)).eval()
    assert vision.probe(micro, n=100, autoencoder=blind)[1]["mean_error"] > report["mean_error"]  # the one given
    states = torch.tensor([[-3.0, 2.0], [3.0, -1.0]])
    read = fitted(latent.encode_states(ae, states, micro.wall))
    assert (read - states).norm(dim=-1).max() < 0.5
    with pytest.raises(ValueError, match="kinds must be among"):
        vision.pixel_models(micro, 0, ("play",))


def test_tuning_chooses_the_best_value_per_family_with_ties_to_the_smaller(micro, monkeypatch):
    df = vision.tune(micro)
    assert list(df.family) == ["Adam", "Adam", "CEM", "CEM"] and df.groupby("family").chosen.sum().eq(1).all()
    for family, g in df.groupby("family"):
        best = g[g.success_rate == g.success_rate.max()].value.min()
        assert g[g.chosen].value.item() == best
    assert (df.wm_evals_per_task > 0).all()


def test_the_study_runs_pixels_and_states_on_the_same_tasks_and_writes_its_tables(micro, data_dir):
    df, out = vision.run_study(micro, split="eval", kinds=("base", "online"), progress=False)
    assert set(df.observation) == {"pixels", "states"} and list(df.columns) == vision.COLUMNS
    learned = df[df.model != "reference"]
    assert len(learned) == 2 * 2 * 4 and (learned.n_tasks == 3).all() and (df.split == "eval").all()
    assert df[df.model == "reference"].planner.tolist() == [vision.CEILING]
    assert len(out) == 3 * len(df) and set(out.task) == {0, 1, 2}
    assert vision.results_path().exists() and vision.outcomes_path().exists()
    assert len(vision.load_results()) == len(df) and len(vision.load_outcomes()) == len(out)
    pix = learned[learned.observation == "pixels"]
    assert pix.wm_error_ratio.notna().all() and (pix.wm_evals_per_task > 0).all()
    compute = vision.compute_table(df)
    assert list(compute.columns) == [("pixels", "evals"), ("pixels", "ms"), ("states", "evals"), ("states", "ms"),
                                     ("states", "success")]
    assert compute.loc["Adam MPC", ("pixels", "evals")] == pix[pix.planner == "Adam MPC"].wm_evals_per_task.median()
    assert compute.loc[vision.CEILING, ("states", "success")] == df[df.planner == vision.CEILING].success_rate.item()
    with pytest.raises(ValueError, match="split must be 'test'"):
        vision.run_study(micro, split="tune")
    with pytest.raises(ValueError, match="observations must be among"):
        vision.run_study(micro, observations=("sound",))


def test_prefill_parts_split_the_pixel_pipeline_the_development_runs_and_the_state_runs(micro, monkeypatch):
    """reproduce runs notebook 09's cache job of a seed in parts: "pixels", "states" (for the first seed with the
    ceiling) and, for the first seed only, "development" (the tuning and development runs the notebook makes)."""
    calls = []
    monkeypatch.setattr(vision, "tune", lambda presets, device=None: calls.append("tune"))
    monkeypatch.setattr(vision, "planner_ablation", lambda presets, seed, device=None: calls.append(("ablation", seed)))
    monkeypatch.setattr(vision, "encoder", lambda presets, device=None: calls.append("encoder"))

    def study(presets, seeds, observations=vision.OBSERVATIONS, references=True, split="test", **kw):
        calls.append((split, seeds, tuple(observations), references))
        return [None] * len(observations), None
    monkeypatch.setattr(vision, "run_study", study)
    first, other = micro.seeds[0], 7
    assert vision.prefill(micro, first, part="pixels") == 1
    assert vision.prefill(micro, first, part="states") == 1
    assert vision.prefill(micro, other, part="pixels") == 1
    assert calls == [("test", (0,), ("pixels",), False), ("test", (0,), ("states",), True),
                     ("test", (7,), ("pixels",), False)]
    calls.clear()
    assert vision.prefill(micro, first, part="development") == 0
    assert calls == ["tune", ("eval", (0,), ("pixels",), True), ("ablation", 0)]
    calls.clear()
    assert vision.prefill(micro, first, part="encoder") == 0 and calls == ["encoder"]
    calls.clear()
    assert vision.prefill(micro, first) == 2 and vision.prefill(micro, other) == 2  # every part of the seed
    assert calls == ["encoder", ("test", (0,), ("pixels", "states"), True), "tune", ("eval", (0,), ("pixels",), True),
                     ("ablation", 0), ("test", (7,), ("pixels", "states"), False)]
    with pytest.raises(ValueError, match="part must be one of"):
        vision.prefill(micro, first, part="images")
    for part in ("development", "encoder"):
        with pytest.raises(ValueError, match=f"the {part} part runs for the first training seed"):
            vision.prefill(micro, other, part=part)


def _fake_outcomes(rates: dict, n_tasks=150, seeds=(0, 1, 2)):
    return fake_outcomes(rates, vision.OBSERVATIONS, "observation", n_tasks, seeds, kinds=vision.KINDS)


def test_verdicts_are_decided_within_each_observation_and_across_them():
    out = _fake_outcomes({("pixels", "online", "CEM MPC"): 0.8, ("states", "online", "CEM MPC"): 0.95,
                          ("states", "base", "Adam MPC"): 0.1})
    v = vision.verdicts(out, n_boot=500).set_index(["claim", "observation"])
    assert v.loc[("online beats base (CEM MPC)", "pixels")].verdict == "supported"
    assert v.loc[("online beats base (Adam MPC)", "pixels")].verdict == "undecided"
    assert set(v.index.get_level_values("claim")) == {
        *(f"{k} beats base ({p})" for k in ("online", "adversarial") for p in PLANNERS),
        "CEM beats Adam-GBP (base, MPC)", "CEM beats Adam-GBP (online, MPC)"}  # no online + adversarial model
    c = vision.observation_claims(out, n_boot=500).set_index("claim")
    assert len(c) == len(vision.KINDS) * len(PLANNERS) == 12
    assert c.loc["states beat pixels (online, CEM MPC)"].verdict == "supported"
    assert c.loc["states beat pixels (base, Adam MPC)"].verdict == "not supported"
    assert c.loc["states beat pixels (online, CEM MPC)"].difference == pytest.approx(0.15, abs=0.05)
    t = vision.side_by_side(out, n_boot=300)
    assert list(t.columns) == [f"{o} {c}" for o in ("pixels", "states") for c in ("success_rate", "low", "high")]


def test_the_readme_section_is_generated_from_the_study():
    from gbp_utils import results
    out = _fake_outcomes({("pixels", "online", "Adam MPC"): 0.9})
    rows = out.groupby(["observation", "model", "planner", "seed"], as_index=False).success.mean()
    rows = rows.assign(wm_evals_per_task=1000.0, seconds_per_task=0.01)
    md = results.pixels_markdown(vision.side_by_side(out, n_boot=200), vision.verdicts(out, n_boot=200),
                                 vision.observation_claims(out, n_boot=200), vision.compute_table(rows))
    lines = md.splitlines()
    assert lines[0] == "| model | planner | pixels % [95% CI] | states % [95% CI] |"
    row = next(line for line in lines if line.startswith("| online beats base (Adam MPC) |"))
    assert row.split(" | ")[1].startswith("supported (+")
    across = next(line for line in lines if line.startswith("| online, Adam MPC |"))
    assert across.endswith("| not supported |") and "| 92." in across  # pixels at 0.9 by construction
    assert any(line.startswith("| Adam MPC | 1,000 · 10 |") for line in lines)


def test_planner_ablation_plans_pixels_and_states_from_the_same_start(micro):
    df = vision.planner_ablation(micro, 0, kinds=("base",), lrs=(0.03, 1.0), n_tasks=3)
    assert list(df.columns) == ["observation", "model", "planner", "start", "setting", "success_rate",
                                "wm_evals_per_task"]
    same = df[df.start != "waypoints"]
    assert sorted(zip(same.observation, same.planner, same.setting)) == sorted(
        (o, f, s) for o in ("pixels", "states") for f, s in (("Adam", "lr 0.03"), ("Adam", "lr 1"),
                                                              ("CEM", f"init_std {micro.pixels.cem_init_std:g}")))
    assert set(same[same.planner == "CEM"].start) == {"standing still"}
    way = df[df.start == "waypoints"]
    assert sorted(way.planner) == ["Adam", "CEM"] and set(way.observation) == {"states"}
    assert way[way.planner == "Adam"].setting.item() == f"lr {micro.final_planners['Adam'].lr:g}"
    assert df.success_rate.between(0, 1).all() and (df.wm_evals_per_task > 0).all()
    default = vision.planner_ablation(micro, 0, kinds=("base",), n_tasks=3)
    lrs = {micro.final_planners["Adam"].lr, micro.pixels.adam_lr}
    assert set(default[default.planner == "Adam"].setting) == {f"lr {lr:g}" for lr in lrs}


def test_precision_reads_each_latent_models_error_as_positions_beside_the_state_models(micro):
    """vision.precision: per kind, the latent model's one-step error on held-out expert transitions read as
    positions through the probe, notebook 08's state model's error, and their ratio."""
    models = vision.pixel_models(micro, 0, ("base", "online"))
    probe_map, _ = vision.probe(micro, n=100)
    table = vision.precision(micro, 0, models, probe_map)
    assert list(table.index) == ["base", "online"]
    assert list(table.columns) == ["pixels: error read as positions", "states: error (notebook 08's model)",
                                   "pixels / states"]
    assert (table.iloc[:, :2] > 0).all().all()
    assert (table["pixels / states"] - table.iloc[:, 0] / table.iloc[:, 1]).abs().max() < 1e-12
    # the read-out of the base model's prediction, computed here by hand
    _, val = vision.expert_latents(micro, 0)
    z, a, z_next = val.transitions()
    with torch.no_grad():
        by_hand = (probe_map(models["base"].latent_model(z, a)) - probe_map(z_next)).norm(dim=-1).mean().item()
    assert table.loc["base"].iloc[0] == pytest.approx(by_hand, rel=1e-5)
    state = gbp_utils.final_evaluation.factorial_models(micro, 0, names=["base"])["base"]
    _, state_val = gbp_utils.world_model.training_split([micro.for_seed(0).expert_data], micro.for_seed(0).train)
    assert table.loc["base"].iloc[1] == pytest.approx(gbp_utils.world_model.reference_error(state, state_val))
