"""Per-task layouts (notebook 10): the physics matches the point world on its own layout, agents never
enter their task's walls, and every sampled task is solved by the oracle within the step budget."""

import pytest
import torch

from gbp_utils import layouts as L
from gbp_utils.env import WallConfig, WallEnv, sample_tasks, success


def _fixed(n, wall):
    """The series' own door for every task."""
    return L.Layouts(torch.tensor([wall.wall_x]), torch.full((n, 1), wall.door_low), torch.full((n, 1), wall.door_high),
                     wall.wall_thickness)


def test_the_series_layout_moves_agents_as_the_point_world_does():
    wall = WallConfig()
    env, points = L.LayoutEnv(wall), WallEnv(wall)
    g = torch.Generator().manual_seed(0)
    s = sample_tasks(400, 3, "eval", wall).starts
    lay = _fixed(400, wall)
    for _ in range(40):
        a = (2 * torch.rand(400, 2, generator=g) - 1) * 0.6
        nxt = env.step(s, a, lay)
        torch.testing.assert_close(nxt, points.step(s, a), atol=1e-6, rtol=0)
        s = points.step(s, a)
    blocked = L.segment_blocked(torch.tensor([[-3.0, 3.0], [-3.0, 0.0]]), torch.tensor([[3.0, 3.0], [3.0, 0.0]]),
                                _fixed(2, wall), wall.half_size)
    assert blocked.tolist() == [True, False]


def test_two_walls_with_random_doors_are_never_entered():
    wall = WallConfig()
    config = L.LayoutConfig(second_wall_x=2.5)
    lay = L.sample_layouts(512, 0, config, wall)
    assert lay.features().shape == (512, 4) and (lay.door_high > lay.door_low).all()
    env = L.LayoutEnv(wall)
    g = torch.Generator().manual_seed(1)
    s = (2 * torch.rand(512, 2, generator=g) - 1) * 4.9
    s = torch.where(env.is_free(s, lay)[:, None], s, torch.tensor([-4.5, 0.0]))  # starts in free space
    for _ in range(80):
        a = (2 * torch.rand(512, 2, generator=g) - 1) * 0.6
        s = env.step(s, a, lay)
        assert env.is_free(s, lay).all()


def test_every_sampled_task_is_solved_by_the_oracle():
    wall = WallConfig()
    for config in (L.LayoutConfig(), L.LayoutConfig(second_wall_x=2.5)):
        tasks, lay = L.sample_layout_tasks(150, 0, "eval", config, wall)
        assert len(tasks) == len(lay) == 150
        env = L.LayoutEnv(wall)
        assert env.is_free(tasks.starts, lay).all() and env.is_free(tasks.goals, lay).all()
        policy = L.oracle_policy(lay, wall)
        s = tasks.starts
        for _ in range(wall.max_steps):
            s = env.step(s, policy(s, tasks.goals), lay)
        assert success(s, tasks.goals, wall).all()
        again, lay2 = L.sample_layout_tasks(150, 0, "eval", config, wall)
        assert torch.equal(again.starts, tasks.starts) and torch.equal(lay2.door_low, lay.door_low)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="door_width must be a finite range"):
        L.LayoutConfig(door_width=(2.0, 1.0))
    with pytest.raises(ValueError, match="door widths must be > 0"):
        L.LayoutConfig(door_width=(0.0, 1.0))
    wall = WallConfig()
    with pytest.raises(ValueError, match="inside their task's walls"):
        L.LayoutEnv(wall).step(torch.tensor([[0.0, 4.0]]), torch.zeros(1, 2), _fixed(1, wall))
    with pytest.raises(ValueError, match="split must be one of"):
        L.sample_layouts(3, 0, L.LayoutConfig(), wall, split="dev")
