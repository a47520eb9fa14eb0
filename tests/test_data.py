"""Tests for gbp_utils.data: run_policy, the expert and play generators, the Dataset container and the
cached dataset files (the generic file machinery is tested in test_cache). All files go to a tmp dir."""

import dataclasses
import re
import warnings

import pytest
import torch

from gbp_utils import cache
from gbp_utils.cache import DataFileError
from gbp_utils.data import (
    DataConfig,
    Dataset,
    concat,
    dataset_path,
    generate,
    generate_expert_data,
    generate_play_data,
    get_dataset,
    load_dataset,
    run_policy,
    sample_free_states,
    save_dataset,
)
from gbp_utils.env import WallConfig, WallEnv, sample_tasks, success, touching_wall
from gbp_utils.policies import expert_policy, oracle_policy

CFG = WallConfig()
EXPERT = DataConfig(kind="expert").tiny()
PLAY = DataConfig(kind="play").tiny()


@pytest.fixture(scope="module")
def expert():
    return generate(EXPERT)


@pytest.fixture(scope="module")
def play():
    return generate(PLAY)


def far_contacts(ds: Dataset) -> int:
    """Visited states touching a wall face more than 1 unit away from the door."""
    s = ds.states.reshape(-1, 2)
    away = (s[:, 1] - CFG.door_center).abs() > CFG.door_width / 2 + 1.0
    return int((touching_wall(s, CFG) & away).sum())


def small(kind="expert", n=20, **kw) -> DataConfig:
    return DataConfig(kind=kind, n_episodes=n, **kw)


# --------------------------------------------------------------------------------------------
# run_policy
# --------------------------------------------------------------------------------------------
def test_run_policy_returns_a_dataset_of_clipped_actions_that_replays_exactly():
    env = WallEnv(CFG)
    tasks = sample_tasks(20, 0, "tune", CFG)
    gen = torch.Generator().manual_seed(0)
    noisy = expert_policy(CFG, noise_std=2.0, generator=gen)  # raw actions far beyond max_step
    traj = run_policy(env, noisy, tasks, max_steps=7)
    assert isinstance(traj, Dataset) and traj.n_episodes == 20 and len(traj) == 20 * 7
    assert traj.states.shape == (20, 8, 2) and traj.actions.shape == (20, 7, 2)
    assert torch.equal(traj.states[:, 0], tasks.starts) and torch.equal(traj.goals, tasks.goals)
    assert torch.equal(traj.final_states, traj.states[:, -1])
    # Applied actions are the clipped ones, and replaying them reproduces the states exactly.
    assert (traj.actions.abs() <= CFG.max_step).all()
    assert (traj.actions.abs() == CFG.max_step).any()
    for k in range(7):
        assert torch.equal(env.step(traj.states[:, k], traj.actions[:, k]), traj.states[:, k + 1])


def test_run_policy_defaults_to_the_episode_budget():
    cfg = WallConfig(max_steps=5)
    traj = run_policy(WallEnv(cfg), oracle_policy(cfg), sample_tasks(3, 0, wall=cfg))
    assert traj.actions.shape == (3, 5, 2)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------
def test_tiny_configs_are_small_and_otherwise_unchanged():
    assert EXPERT.n_episodes == 200 and PLAY.n_episodes == 200
    assert dataclasses.replace(EXPERT, n_episodes=1000) == DataConfig(kind="expert")
    assert small(n=50).tiny().n_episodes == 50


@pytest.mark.parametrize("which", ["expert", "play"])
def test_generated_shapes_dtypes_and_values(which, expert, play):
    ds = expert if which == "expert" else play
    E, T = 200, EXPERT.episode_len
    assert ds.states.shape == (E, T + 1, 2) and ds.actions.shape == (E, T, 2)
    assert ds.states.dtype == torch.float32 and ds.actions.dtype == torch.float32
    assert torch.isfinite(ds.states).all() and torch.isfinite(ds.actions).all()
    assert len(ds) == E * T and ds.n_episodes == E
    assert (ds.actions.abs() <= CFG.max_step).all()
    assert WallEnv(CFG).is_free(ds.states.reshape(-1, 2)).all()
    if which == "expert":
        assert ds.goals.shape == (E, 2)
    else:
        assert ds.goals is None


@pytest.mark.parametrize("which", ["expert", "play"])
def test_episodes_replay_exactly_in_the_real_environment(which, expert, play):
    ds = expert if which == "expert" else play
    env = WallEnv(CFG)
    for t in range(ds.actions.shape[1]):
        assert torch.equal(env.step(ds.states[:, t], ds.actions[:, t]), ds.states[:, t + 1])


def test_transitions_are_consistent_with_episodes(expert):
    s, a, s_next = expert.transitions()
    E, T = expert.actions.shape[:2]
    assert s.shape == a.shape == s_next.shape == (E * T, 2)
    # Within an episode, next_states of step t are the states of step t + 1.
    s_ep, sn_ep = s.reshape(E, T, 2), s_next.reshape(E, T, 2)
    assert torch.equal(sn_ep[:, :-1], s_ep[:, 1:])
    assert torch.equal(s_ep, expert.states[:, :-1]) and torch.equal(sn_ep, expert.states[:, 1:])
    assert torch.equal(a.reshape(E, T, 2), expert.actions)
    # Row k is transition (k // T, k % T).
    k = 7 * T + 4
    assert torch.equal(s[k], expert.states[7, 4]) and torch.equal(s_next[k], expert.states[7, 5])
    assert torch.equal(a[k], expert.actions[7, 4])


def test_expert_data_uses_training_tasks_and_mostly_succeeds(expert):
    tasks = sample_tasks(200, EXPERT.seed, "train", CFG)
    assert torch.equal(expert.states[:, 0], tasks.starts) and torch.equal(expert.goals, tasks.goals)
    assert success(expert.states[:, -1], expert.goals, CFG).float().mean() >= 0.95


def test_generation_is_deterministic_and_seeded():
    for kind in ("expert", "play"):
        a, b = generate(small(kind, 30)), generate(small(kind, 30))
        c = generate(small(kind, 30, seed=1))
        assert torch.equal(a.states, b.states) and torch.equal(a.actions, b.actions)
        assert not torch.equal(a.states, c.states)


def test_play_data_hits_the_wall_far_from_the_door_and_expert_data_does_not(play):
    expert300 = generate_expert_data(small("expert", 300))
    assert far_contacts(play) > 100
    assert far_contacts(expert300) == 0
    # The expert brushes the wall only near the door, and rarely.
    touching = touching_wall(expert300.states.reshape(-1, 2), CFG).float().mean().item()
    assert touching < 0.01


def test_play_persistence_controls_how_far_agents_travel():
    def mean_speed(rho):
        ds = generate_play_data(small("play", 200, persistence=rho))
        return (ds.states[:, -1] - ds.states[:, 0]).norm(dim=-1).mean().item()
    assert mean_speed(0.9) > 1.5 * mean_speed(0.0)


def test_sample_free_states_are_free_and_cover_both_sides():
    gen = torch.Generator().manual_seed(0)
    s = sample_free_states(1000, gen, CFG)
    assert s.shape == (1000, 2)
    assert WallEnv(CFG).is_free(s).all()
    assert 0.4 < (s[:, 0] < 0).float().mean().item() < 0.6


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="random"), "kind must be 'expert' or 'play'; got 'random'"),
    (dict(n_episodes=0), "n_episodes and episode_len must be >= 1"),
    (dict(episode_len=0), "n_episodes and episode_len must be >= 1"),
    (dict(persistence=1.0), r"persistence must be in \[0, 1\); got 1.0"),
    (dict(persistence=-0.1), r"persistence must be in \[0, 1\)"),
])
def test_invalid_data_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(**kwargs)


# --------------------------------------------------------------------------------------------
# Dataset container
# --------------------------------------------------------------------------------------------
def test_split_by_episode_has_no_overlap_and_covers_everything(expert):
    train, val = expert.split(0.1, seed=0)
    assert val.n_episodes == 20 and train.n_episodes == 180
    rows = lambda ds: {tuple(r) for r in ds.states.reshape(ds.n_episodes, -1).tolist()}  # noqa: E731
    assert not rows(train) & rows(val)
    assert rows(train) | rows(val) == rows(expert)
    # Goals travel with their episodes.
    both = concat(train, val)
    assert {tuple(r) for r in both.states[:, 0].tolist()} == {tuple(r) for r in expert.states[:, 0].tolist()}
    t2, v2 = expert.split(0.1, seed=0)
    assert torch.equal(v2.states, val.states) and torch.equal(v2.goals, val.goals)
    assert not torch.equal(expert.split(0.1, seed=1)[1].states, val.states)
    for part in (train, val):
        idx = [next(i for i in range(200) if torch.equal(expert.states[i], part.states[j])) for j in (0, -1)]
        assert torch.equal(part.goals[0], expert.goals[idx[0]])
        assert torch.equal(part.goals[-1], expert.goals[idx[1]])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_split_rejects_bad_fractions(expert, fraction):
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        expert.split(fraction)


def test_split_rejects_a_single_episode(expert):
    with pytest.raises(ValueError, match="cannot split 1 episode"):
        expert[[0]].split(0.5)


def test_dataset_validates_its_tensors():
    s, a = torch.zeros(3, 5, 2), torch.zeros(3, 4, 2)
    Dataset(s, a)
    with pytest.raises(ValueError, match="float32"):
        Dataset(s.double(), a)
    with pytest.raises(ValueError, match="NaN or inf"):
        Dataset(s, a.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match=r"actions must be \(E, T, 2\) = \(3, 4, 2\)"):
        Dataset(s, torch.zeros(3, 5, 2))
    with pytest.raises(ValueError, match=r"states must be \(E, T\+1, S\) with S >= 2"):
        Dataset(torch.zeros(3, 5, 1), a)
    with pytest.raises(ValueError, match=r"states must be \(E, T\+1, S\)"):
        Dataset(torch.zeros(3, 5), a)
    with pytest.raises(ValueError, match=r"goals must be \(E, S\) = \(3, 2\)"):
        Dataset(s, a, goals=torch.zeros(2, 2))
    wide = Dataset(torch.zeros(3, 5, 4), a, goals=torch.zeros(3, 4))  # the harder worlds' states (notebook 10)
    assert wide.state_dim == 4 and [x.shape[-1] for x in wide.transitions()] == [4, 2, 4]
    with pytest.raises(ValueError, match=r"goals must be \(E, S\) = \(3, 4\)"):
        Dataset(torch.zeros(3, 5, 4), a, goals=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="must be a torch.Tensor"):
        Dataset(s.numpy(), a)


def test_concat_stacks_episodes(expert, play):
    both = concat(expert, play)
    assert both.n_episodes == 400 and both.goals is None
    assert torch.equal(both.states[200:], play.states)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def test_save_load_round_trip(expert, data_dir):
    path = save_dataset(expert, EXPERT)
    assert path == dataset_path(EXPERT) and path.parent == data_dir
    assert re.fullmatch(r"expert-[0-9a-f]{12}\.pt", path.name)
    loaded = load_dataset(path, EXPERT)
    assert torch.equal(loaded.states, expert.states) and torch.equal(loaded.actions, expert.actions)
    assert torch.equal(loaded.goals, expert.goals)
    assert loaded.meta["n_transitions"] == len(expert) and loaded.meta["config"] == cache.as_plain(EXPERT)
    # Without a config, the file's own config is used.
    assert torch.equal(load_dataset(path).states, expert.states)


def test_play_round_trip_keeps_goals_none(play):
    loaded = load_dataset(save_dataset(play, PLAY), PLAY)
    assert loaded.goals is None and torch.equal(loaded.actions, play.actions)


def test_dataset_paths_depend_on_every_config_field(data_dir):
    base = dataset_path(EXPERT)
    others = {dataset_path(c) for c in [
        dataclasses.replace(EXPERT, seed=1), dataclasses.replace(EXPERT, noise_std=0.2),
        dataclasses.replace(EXPERT, wall=WallConfig(door_width=1.0)), dataclasses.replace(EXPERT, kind="play")]}
    assert base not in others and len(others) == 4
    assert dataset_path(DataConfig(kind="expert").tiny()) == base


def test_saving_twice_overwrites_in_place_without_temp_files(expert, data_dir):
    save_dataset(expert, EXPERT)
    save_dataset(expert, EXPERT)
    assert sorted(p.name for p in data_dir.iterdir()) == [dataset_path(EXPERT).name]


def test_garbage_file_raises_an_error_naming_the_file(data_dir):
    path = dataset_path(EXPERT)
    path.write_bytes(b"\x00garbage\xff" * 100)
    with pytest.raises(DataFileError, match=re.escape(str(path)) + ".*corrupt"):
        load_dataset(path, EXPERT)


def test_truncated_file_raises(expert):
    path = save_dataset(expert, EXPERT)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataFileError, match=re.escape(path.name)):
        load_dataset(path, EXPERT)


def test_missing_file_raises_file_not_found(data_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(data_dir / "nope.pt", EXPERT)


def test_loading_with_a_different_config_is_stale(expert):
    path = save_dataset(expert, EXPERT)
    with pytest.raises(DataFileError, match="different config"):
        load_dataset(path, dataclasses.replace(EXPERT, seed=1))


def test_saving_a_dataset_that_does_not_fit_its_config_is_refused(expert, data_dir):
    with pytest.raises(DataFileError, match="holds 200 episodes of 30 steps, its config says 100 of 30"):
        save_dataset(expert, dataclasses.replace(EXPERT, n_episodes=100))
    assert not any(data_dir.iterdir())


def _tamper(path, **changes):
    payload = torch.load(path, weights_only=True)
    for key, fn in changes.items():
        payload[key] = fn(payload[key])
    cache.atomic_save(payload, path)


def test_nan_states_in_the_file_raise(expert):
    path = save_dataset(expert, EXPERT)
    _tamper(path, states=lambda s: s.index_put_((torch.tensor(3), torch.tensor(4), torch.tensor(0)),
                                                torch.tensor(float("nan"))))
    with pytest.raises(DataFileError, match="states contains NaN"):
        load_dataset(path, EXPERT)


def test_wrong_dtype_or_kind_or_version_in_the_file_raise(expert):
    path = save_dataset(expert, EXPERT)
    _tamper(path, actions=lambda a: a.double())
    with pytest.raises(DataFileError, match="actions must be float32"):
        load_dataset(path, EXPERT)
    path = save_dataset(expert, EXPERT)
    _tamper(path, meta=lambda m: {**m, "kind": "world_model"})
    with pytest.raises(DataFileError, match="holds a 'world_model', expected a 'dataset'"):
        load_dataset(path, EXPERT)
    path = save_dataset(expert, EXPERT)
    _tamper(path, meta=lambda m: {**m, "format_version": 0})
    with pytest.raises(DataFileError, match="format version 0"):
        load_dataset(path, EXPERT)
    cache.atomic_save({"states": expert.states}, path)
    with pytest.raises(DataFileError, match="no metadata"):
        load_dataset(path, EXPERT)


def test_nan_goals_in_the_file_raise(expert):
    path = save_dataset(expert, EXPERT)
    _tamper(path, goals=lambda g: g.index_put_((torch.tensor(0), torch.tensor(1)), torch.tensor(float("nan"))))
    with pytest.raises(DataFileError, match=re.escape(str(path)) + ".*goals must be finite"):
        load_dataset(path, EXPERT)
    with pytest.warns(UserWarning, match="Regenerating.*goals"):
        ds = get_dataset(EXPERT)
    assert torch.isfinite(ds.goals).all() and torch.isfinite(load_dataset(path, EXPERT).goals).all()


def test_get_dataset_regenerates_a_file_with_wrong_shaped_goals(expert):
    path = save_dataset(expert, EXPERT)
    _tamper(path, goals=lambda g: g[:5])
    with pytest.raises(DataFileError, match=r"goals must be finite with shape \(E, S\)"):
        load_dataset(path, EXPERT)
    with pytest.warns(UserWarning, match="Regenerating"):
        ds = get_dataset(EXPERT)
    assert ds.goals.shape == (200, 2)


# --------------------------------------------------------------------------------------------
# get_dataset: the cache
# --------------------------------------------------------------------------------------------
def test_get_dataset_generates_saves_then_loads(data_dir, monkeypatch):
    cfg = small("play", 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing file is regenerated silently
        first = get_dataset(cfg)
    path = dataset_path(cfg)
    assert path.exists() and path.parent == data_dir
    mtime = path.stat().st_mtime_ns

    def boom(config):
        raise AssertionError("get_dataset regenerated a valid cached file")

    monkeypatch.setattr("gbp_utils.data.generate", boom)
    second = get_dataset(cfg)
    assert torch.equal(second.states, first.states) and path.stat().st_mtime_ns == mtime
    assert second.meta["config"] == cache.as_plain(cfg)


def test_get_dataset_with_an_explicit_folder(tmp_path):
    folder = tmp_path / "elsewhere"
    ds = get_dataset(small("expert", 10), folder=folder)
    assert [p.name for p in folder.iterdir()] == [dataset_path(small("expert", 10)).name]
    assert ds.n_episodes == 10


def test_get_dataset_regenerates_a_corrupt_file_with_a_warning(data_dir):
    cfg = small("expert", 30)
    path = dataset_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a torch file")
    with pytest.warns(UserWarning, match=rf"Regenerating {re.escape(path.name)}: .*corrupt"):
        ds = get_dataset(cfg)
    assert torch.equal(ds.states, generate(cfg).states)
    # The regenerated file on disk is valid and matches.
    assert torch.equal(load_dataset(path, cfg).states, ds.states)
    assert sorted(p.name for p in data_dir.iterdir()) == [path.name]


def test_get_dataset_regenerates_a_stale_file_with_a_warning(data_dir):
    cfg, other = small("play", 30), small("play", 30, seed=5)
    save_dataset(generate(other), other, dataset_path(cfg))  # right name, wrong contents
    with pytest.warns(UserWarning, match="different config"):
        ds = get_dataset(cfg)
    assert torch.equal(ds.states, generate(cfg).states)
    assert load_dataset(dataset_path(cfg), cfg).meta["config"]["seed"] == 0


def test_get_dataset_regenerates_a_file_with_nan_states(data_dir):
    cfg = small("expert", 30)
    get_dataset(cfg)
    _tamper(dataset_path(cfg), states=lambda s: s.fill_(float("nan")))
    with pytest.warns(UserWarning, match="NaN"):
        ds = get_dataset(cfg)
    assert torch.isfinite(ds.states).all()
    assert torch.isfinite(load_dataset(dataset_path(cfg), cfg).states).all()
