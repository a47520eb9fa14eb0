"""The momentum world of notebook 10: physics, contact, energy and its expert."""

import pytest
import torch

from gbp_utils.env import WallConfig, WallEnv, sample_tasks, success
from gbp_utils.momentum import MomentumConfig, MomentumEnv, kinetic_energy, momentum_expert


def _env(**kw):
    return MomentumEnv(WallConfig(), MomentumConfig(**kw))


def test_free_motion_is_damped_accelerated_and_speed_limited():
    env = _env(max_accel=0.2, damping=0.1)
    s = torch.tensor([[-3.0, 2.0, 0.1, 0.0]])
    nxt = env.step(s, torch.tensor([[0.3, -0.1]]))  # the x acceleration is clipped to 0.2
    torch.testing.assert_close(nxt, torch.tensor([[-3.0 + 0.29, 2.0 - 0.1, 0.29, -0.1]]))
    fast = torch.tensor([[-4.0, -4.0, 0.5, 0.5]])
    assert env.step(fast, torch.tensor([[0.2, 0.2]]))[0, 2:].max() <= env.max_speed  # the speed limit
    coast = env.rollout(torch.tensor([[-4.0, 0.0, 0.4, 0.0]]), torch.zeros(1, 5, 2))
    torch.testing.assert_close(coast[0, 1:, 2], 0.4 * 0.9 ** torch.arange(1, 6, dtype=torch.float32))


def test_the_wall_stops_the_agent_and_zeroes_only_the_normal_velocity():
    env = _env(damping=0.0)
    wall = env.wall
    s = torch.tensor([[wall.wall_left - 0.1, 3.0, 0.5, 0.2]])  # flying into the upper wall piece's left face
    nxt = env.step(s, torch.zeros(1, 2))
    face = torch.tensor(wall.wall_left)  # in float32, as the state
    assert nxt[0, 0] == face and float(nxt[0, 2]) == 0.0  # on the face, x velocity gone
    assert float(nxt[0, 3]) == pytest.approx(0.2)  # the tangential velocity stays: it slides next step
    slide = env.step(nxt, torch.zeros(1, 2))
    assert slide[0, 0] == face and float(slide[0, 1]) == pytest.approx(float(nxt[0, 1]) + 0.2)
    border = env.step(torch.tensor([[4.9, 0.0, 0.3, 0.0]]), torch.zeros(1, 2))
    assert float(border[0, 0]) == wall.half_size and float(border[0, 2]) == 0.0


def test_fuzzing_never_enters_the_wall_and_contact_never_adds_energy():
    env = _env()
    g = torch.Generator().manual_seed(0)
    s = env.at_rest(sample_tasks(512, 1, "train", env.wall).starts)
    s[:, 2:] = (2 * torch.rand(512, 2, generator=g) - 1) * env.max_speed
    points = WallEnv(env.wall)
    for _ in range(60):
        a = (2 * torch.rand(512, 2, generator=g) - 1) * 0.4  # beyond the bound: clipped
        v_free = ((1 - env.momentum.damping) * s[:, 2:] + env.clip_actions(a)).clamp(-env.max_speed, env.max_speed)
        nxt = env.step(s, a)
        assert points.is_free(nxt[:, :2]).all()
        assert (kinetic_energy(nxt) <= 0.5 * v_free.pow(2).sum(-1) + 1e-7).all()  # contact only removes energy
        moved = nxt[:, :2] - s[:, :2]
        assert (moved.abs() <= env.max_speed + 1e-6).all()
        s = nxt


def test_the_momentum_expert_solves_most_tasks_and_brakes():
    wall = WallConfig()
    env = _env()
    tasks = sample_tasks(200, 2, "eval", wall)
    policy = momentum_expert(wall, env.momentum, noise_std=0.0)
    s = env.at_rest(tasks.starts)
    for _ in range(wall.max_steps):  # the point world's step budget is enough at these accelerations
        s = env.step(s, policy(s, tasks.goals))
    ok = success(s[:, :2], tasks.goals, wall)
    assert ok.float().mean() > 0.95
    assert kinetic_energy(s[ok]).max() < 0.02  # arrived and (nearly) stopped


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="damping must be in"):
        MomentumConfig(damping=1.0)
    with pytest.raises(ValueError, match="max_accel must be > 0"):
        MomentumConfig(max_accel=0.0)
    env = _env()
    with pytest.raises(ValueError, match=r"states must be \(B, 4\)"):
        env.step(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"actions must be \(B, 2\)"):
        env.step(torch.zeros(3, 4) + torch.tensor([-3.0, 0, 0, 0]), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="inside the wall"):
        env.step(torch.tensor([[0.0, 3.0, 0.0, 0.0]]), torch.zeros(1, 2))
