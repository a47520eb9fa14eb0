"""Tests for gbp_utils.gym_env.WallDoorEnv, the gymnasium wrapper of one wall-door episode."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from gbp_utils.env import WallConfig, sample_tasks
from gbp_utils.gym_env import WallDoorEnv
from gbp_utils.policies import oracle_policy

ENV_ID = "GbpTestWallDoor-v0"


@pytest.fixture
def env():
    e = WallDoorEnv()
    yield e
    e.close()


@pytest.fixture
def registered():
    """Register the env for the duration of one test (so check_env can use its spec)."""
    gym.register(ENV_ID, entry_point=WallDoorEnv)
    yield ENV_ID
    gym.registry.pop(ENV_ID, None)


def oracle_action(obs: np.ndarray, cfg=WallConfig()) -> np.ndarray:
    t = torch.as_tensor(obs)[None]
    return oracle_policy(cfg)(t[:, :2], t[:, 2:])[0].numpy()


def test_check_env_passes_without_warnings(registered):
    """check_env on the unwrapped env of gym.make: made through a spec, so the render and close checks
    run too (a bare WallDoorEnv() passes as well but gymnasium then warns it cannot test render modes)."""
    made = gym.make(registered)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(made.unwrapped)
    assert [str(w.message) for w in caught] == []
    made.close()


def test_check_env_passes_on_a_bare_instance():
    check_env(WallDoorEnv(WallConfig(max_steps=10), split="tune"), skip_render_check=True)


def test_spaces_match_the_config():
    cfg = WallConfig(half_size=3.0, max_step=0.25)
    e = WallDoorEnv(cfg)
    assert e.wall is cfg
    assert e.observation_space.shape == (4,) and e.observation_space.dtype == np.float32
    assert np.all(e.observation_space.low == -3.0) and np.all(e.observation_space.high == 3.0)
    assert np.all(e.action_space.low == -0.25) and np.all(e.action_space.high == 0.25)


def test_reset_with_a_seed_is_deterministic(env):
    obs1, info1 = env.reset(seed=123)
    obs2, info2 = env.reset(seed=123)
    np.testing.assert_array_equal(obs1, obs2)
    assert info1 == info2
    assert obs1.dtype == np.float32 and obs1.shape == (4,) and env.observation_space.contains(obs1)
    assert info1["distance"] == pytest.approx(float(np.linalg.norm(obs1[:2] - obs1[2:])), rel=1e-6)
    # A fresh instance with the same seed gives the same task; other seeds give others.
    np.testing.assert_array_equal(WallDoorEnv().reset(seed=123)[0], obs1)
    others = {tuple(env.reset(seed=s)[0]) for s in range(20)}
    assert len(others) == 20
    # Unseeded resets continue the seeded stream: reproducible sequences.
    env.reset(seed=7)
    seq_a = [env.reset()[0] for _ in range(3)]
    env.reset(seed=7)
    seq_b = [env.reset()[0] for _ in range(3)]
    np.testing.assert_array_equal(seq_a, seq_b)
    assert not np.array_equal(seq_a[0], seq_a[1])


def test_reset_draws_proper_tasks_from_its_split():
    for split in ("train", "eval"):
        e = WallDoorEnv(split=split)
        for seed in range(30):
            obs, _ = e.reset(seed=seed)
            start, goal = obs[:2], obs[2:]
            assert np.sign(start[0]) == -np.sign(goal[0])  # opposite sides of the wall at x = 0
            assert np.all(np.abs(obs) <= 4.75 + 1e-6)


def test_reset_with_options_start_and_goal(env):
    obs, info = env.reset(seed=0, options={"start": [-3.0, 2.0], "goal": (4.0, -1.0)})
    np.testing.assert_allclose(obs, [-3.0, 2.0, 4.0, -1.0])
    assert info["distance"] == pytest.approx(float(np.hypot(7.0, 3.0)), rel=1e-6)
    # numpy / torch inputs of shape (2,) or (1, 2) work too.
    obs, _ = env.reset(options={"start": np.array([[0.0, 0.0]]), "goal": torch.tensor([1.0, 1.0])})
    np.testing.assert_allclose(obs, [0.0, 0.0, 1.0, 1.0])


def test_the_oracle_reaches_the_goal_and_terminates(env):
    obs, _ = env.reset(options={"start": [-3.0, 3.0], "goal": [3.0, 3.0]})
    rewards = []
    for step in range(env.wall.max_steps):
        obs, reward, terminated, truncated, info = env.step(oracle_action(obs))
        rewards.append(reward)
        assert env.observation_space.contains(obs)
        if terminated:
            break
    assert terminated and not truncated and info["success"]
    assert info["distance"] <= env.wall.success_radius
    assert reward == pytest.approx(-info["distance"])
    assert step + 1 < env.wall.max_steps
    assert rewards[-1] > rewards[0]


def test_the_oracle_succeeds_on_seeded_eval_resets():
    e = WallDoorEnv()
    successes = 0
    for seed in range(30):
        obs, _ = e.reset(seed=seed)
        for _ in range(e.wall.max_steps):
            obs, _, terminated, truncated, _ = e.step(oracle_action(obs))
            if terminated or truncated:
                break
        successes += terminated
    assert successes == 30


def test_truncation_at_max_steps():
    cfg = WallConfig(max_steps=5)
    e = WallDoorEnv(cfg)
    obs, _ = e.reset(options={"start": [-3.0, 3.0], "goal": [3.0, 3.0]})
    flags = [e.step(np.zeros(2, dtype=np.float32))[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]


def test_step_pushes_into_the_wall_and_clips_actions(env):
    env.reset(options={"start": [-0.4, 3.0], "goal": [3.0, 3.0]})
    obs, reward, *_ = env.step(np.array([5.0, 0.0], dtype=np.float32))  # clipped to 0.5, stops on face
    np.testing.assert_allclose(obs[:2], [-0.2, 3.0], atol=1e-6)
    assert reward == pytest.approx(-3.2, abs=1e-5)


def test_step_before_reset_raises(env):
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(np.zeros(2))


@pytest.mark.parametrize("options, match", [
    ({"start": [0.0, 3.0], "goal": [3.0, 3.0]}, "must lie in free space"),  # start inside the wall
    ({"start": [-3.0, 3.0], "goal": [0.1, -2.0]}, "must lie in free space"),  # goal inside the wall
    ({"start": [-6.0, 0.0], "goal": [3.0, 3.0]}, "must lie in free space"),  # outside the arena
    ({"start": [float("nan"), 0.0], "goal": [3.0, 3.0]}, "'start' must be two finite numbers"),
])
def test_bad_option_positions_raise(env, options, match):
    with pytest.raises(ValueError, match=match):
        env.reset(options=options)


def test_bad_split_raises_on_reset():
    with pytest.raises(ValueError, match="split must be one of"):
        WallDoorEnv(split="dev").reset(seed=0)


@pytest.mark.parametrize("options", [{"start": [-3.0, 2.0]}, {"goal": [3.0, 2.0]}, {"strat": [-3.0, 2.0]}])
def test_incomplete_or_unknown_options_raise(env, options):
    with pytest.raises(ValueError, match="start"):
        env.reset(seed=0, options=options)


def test_wrong_shaped_option_raises_a_clear_value_error(env):
    with pytest.raises(ValueError, match="start"):
        env.reset(options={"start": [-3.0, 2.0, 1.0], "goal": [3.0, 2.0]})


def test_gym_make_wraps_it_for_the_rl_ecosystem(registered):
    e = gym.make(registered, max_episode_steps=3)
    obs, _ = e.reset(seed=1)
    tasks_obs = WallDoorEnv().reset(seed=1)[0]
    np.testing.assert_array_equal(obs, tasks_obs)
    done = [e.step(e.action_space.sample())[3] for _ in range(3)]
    assert done[-1] is True
    e.close()


def test_sampled_tasks_match_the_batched_sampler():
    """reset(seed) draws one task from sample_tasks with a seed taken from np_random."""
    e = WallDoorEnv(split="tune")
    obs, _ = e.reset(seed=5)
    rng = np.random.default_rng(5)
    task = sample_tasks(1, int(rng.integers(2**31 - 1)), "tune")
    np.testing.assert_array_equal(obs, np.concatenate([task.starts[0].numpy(), task.goals[0].numpy()]))
