"""Tests for gbp_utils.gym_env.WallDoorEnv, the gymnasium wrapper of one wall-door episode."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from gbp_utils import layouts as L
from gbp_utils.env import WallConfig, sample_tasks
from gbp_utils.gym_env import WallDoorEnv
from gbp_utils.momentum import MomentumConfig, momentum_expert
from gbp_utils.policies import oracle_policy

ENV_ID = "GbpTestWallDoor-v0"
TWO_WALLS = L.LayoutConfig(second_wall_x=2.5, door_center=(-2.5, 2.5))


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


@pytest.mark.parametrize("kwargs", ["point world", "momentum", "layouts", "two walls"])
def test_check_env_passes_without_warnings(registered, kwargs):
    """check_env on the unwrapped env of gym.make, for the point world and each harder world of notebook 10:
    made through a spec, so the render and close checks run too (a bare WallDoorEnv() passes as well but
    gymnasium then warns it cannot test render modes)."""
    kwargs = {"point world": {}, "momentum": {"momentum": MomentumConfig()}, "layouts": {"layouts": L.LayoutConfig()},
              "two walls": {"layouts": TWO_WALLS}}[kwargs]
    made = gym.make(registered, **kwargs)
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


# --------------------------------------------------------------------------------------------
# The harder worlds of notebook 10: momentum and per-episode layouts
# --------------------------------------------------------------------------------------------


def test_momentum_observes_velocity_starts_at_rest_and_keeps_moving():
    m = MomentumConfig(max_accel=0.2, damping=0.1)
    e = WallDoorEnv(momentum=m)
    assert e.observation_space.shape == (6,) and np.all(e.action_space.high == 0.2)
    obs, _ = e.reset(options={"start": [-3.0, 1.0], "goal": [3.0, 1.0]})
    np.testing.assert_allclose(obs, [-3.0, 1.0, 0.0, 0.0, 3.0, 1.0])
    obs, *_ = e.step(np.array([1.0, 0.0], dtype=np.float32))  # clipped to 0.2
    np.testing.assert_allclose(obs[:4], [-2.8, 1.0, 0.2, 0.0], atol=1e-6)
    obs, *_ = e.step(np.zeros(2, dtype=np.float32))  # coasts: damped, not stopped
    np.testing.assert_allclose(obs[:4], [-2.8 + 0.18, 1.0, 0.18, 0.0], atol=1e-6)


def test_momentum_stops_at_the_wall_and_zeroes_the_normal_velocity():
    e = WallDoorEnv(momentum=MomentumConfig(max_accel=0.5, damping=0.0))
    e.reset(options={"start": [-0.5, 3.0], "goal": [3.0, 3.0]})
    obs, *_ = e.step(np.array([0.5, 0.3], dtype=np.float32))
    np.testing.assert_allclose(obs[0], -0.2, atol=1e-6)  # on the wall's left face
    assert obs[2] == 0.0 and obs[3] == pytest.approx(0.3)  # into the face: zeroed; along it: kept


def successes(e: WallDoorEnv, act, seeds) -> int:
    """Episodes of ``e`` (reset with each seed) that ``act(obs, env) -> action`` brings to the goal."""
    count = 0
    for seed in seeds:
        obs, _ = e.reset(seed=seed)
        for _ in range(e.wall.max_steps):
            obs, _, terminated, truncated, info = e.step(act(torch.as_tensor(obs)[None], e))
            if terminated or truncated:
                break
        count += info["success"]
    return count


def test_the_momentum_expert_succeeds_through_the_wrapper():
    e = WallDoorEnv(momentum=MomentumConfig(), split="tune")
    policy = momentum_expert(e.wall, e.momentum, noise_std=0.0)
    assert successes(e, lambda t, _: policy(t[:, :4], t[:, 4:6])[0].numpy(), range(20)) == 20


def test_layouts_observe_the_doors_and_reset_matches_the_batched_sampler():
    e = WallDoorEnv(layouts=TWO_WALLS, split="tune")
    assert e.observation_space.shape == (8,)
    obs, _ = e.reset(seed=11)
    rng = np.random.default_rng(11)
    tasks, lay = L.sample_layout_tasks(1, int(rng.integers(2**31 - 1)), "tune", TWO_WALLS, e.wall)
    np.testing.assert_array_equal(obs, np.concatenate([tasks.starts[0], tasks.goals[0], lay.features()[0]]))
    np.testing.assert_allclose(e.layout.door_low, lay.door_low, atol=1e-6)  # carried as centre and width
    assert len({tuple(e.reset(seed=s)[0][4:]) for s in range(10)}) == 10  # a new layout per episode


@pytest.mark.parametrize("config", [L.LayoutConfig(), TWO_WALLS], ids=["one-wall", "two-walls"])
def test_the_layout_oracle_succeeds_on_seeded_resets(config):
    e = WallDoorEnv(layouts=config)
    assert successes(e, lambda t, env: L.oracle_policy(env.layout, env.wall)(t[:, :2], t[:, 2:4])[0].numpy(),
                     range(20)) == 20


def test_layout_options_set_the_doors_and_the_wall_follows_them():
    e = WallDoorEnv(layouts=L.LayoutConfig())
    obs, _ = e.reset(options={"start": [-0.5, 3.0], "goal": [3.0, 3.0], "doors": [[3.0, 1.0]]})
    np.testing.assert_allclose(obs, [-0.5, 3.0, 3.0, 3.0, 3.0, 1.0])
    obs, *_ = e.step(np.array([0.5, 0.0], dtype=np.float32))  # y = 3 is this episode's door: no wall
    np.testing.assert_allclose(obs[:2], [0.0, 3.0], atol=1e-6)
    e.reset(options={"start": [-0.5, 0.0], "goal": [3.0, 3.0], "doors": [[3.0, 1.0]]})
    obs, *_ = e.step(np.array([0.5, 0.0], dtype=np.float32))  # y = 0, the fixed world's door, is solid here
    np.testing.assert_allclose(obs[:2], [-0.2, 0.0], atol=1e-6)


@pytest.mark.parametrize("options, match", [
    ({"start": [-3.0, 2.0], "goal": [3.0, 2.0]}, r"exactly \['doors', 'goal', 'start'\]"),
    ({"start": [-3.0, 2.0], "goal": [3.0, 2.0], "doors": [0.0]}, "'doors' must be 1 \\(centre, width\\) pair"),
    ({"start": [-3.0, 2.0], "goal": [3.0, 2.0], "doors": [[0.0, -1.0]]}, "width > 0 inside the arena"),
    ({"start": [-3.0, 2.0], "goal": [3.0, 2.0], "doors": [[4.8, 1.0]]}, "width > 0 inside the arena"),
    ({"start": [0.0, 0.0], "goal": [3.0, 2.0], "doors": [[3.0, 1.0]]}, "must lie in free space"),  # in this wall
])
def test_bad_layout_options_raise_and_leave_the_episode_alone(options, match):
    e = WallDoorEnv(layouts=L.LayoutConfig())
    before, _ = e.reset(seed=3)
    with pytest.raises(ValueError, match=match):
        e.reset(options=options)
    np.testing.assert_array_equal(e._obs(), before)


def test_momentum_and_layouts_together_or_wrong_types_raise():
    with pytest.raises(ValueError, match="at most one option: momentum or layouts"):
        WallDoorEnv(momentum=MomentumConfig(), layouts=L.LayoutConfig())
    with pytest.raises(TypeError, match="momentum must be a MomentumConfig"):
        WallDoorEnv(momentum=0.2)
    with pytest.raises(TypeError, match="layouts must be a LayoutConfig"):
        WallDoorEnv(layouts={"second_wall_x": 2.0})
