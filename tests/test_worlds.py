"""The harder worlds behind one interface (gbp_utils.worlds): tasks, reference controllers and data of the
momentum and layout worlds, and the point world reproduced exactly through the same interface."""

import pytest
import torch

from gbp_utils import data as D
from gbp_utils.data import run_policy
from gbp_utils.env import WallConfig, sample_tasks
from gbp_utils.layouts import LayoutConfig, LayoutEnv, in_walls
from gbp_utils.momentum import MomentumConfig, MomentumEnv
from gbp_utils.worlds import LayoutStateEnv, World, layouts_from_states

TWO_WALLS = LayoutConfig(second_wall_x=2.5, door_center=(-2.5, 2.5))
WORLDS = {"point": World(), "momentum": World(momentum=MomentumConfig()), "layouts": World(layouts=LayoutConfig()),
          "two walls": World(layouts=TWO_WALLS)}


def test_names_and_dimensions():
    assert {n: (w.name, w.state_dim, w.action_dim) for n, w in WORLDS.items()} == {
        "point": ("point", 2, 2), "momentum": ("momentum", 4, 2), "layouts": ("layouts", 4, 2),
        "two walls": ("two walls", 6, 2)}
    assert WORLDS["momentum"].action_bound == MomentumConfig().max_accel
    assert WORLDS["layouts"].action_bound == WallConfig().max_step


def test_the_point_world_is_the_series_world_exactly():
    w = WORLDS["point"]
    t = w.sample_tasks(40, 5, "tune")
    ref = sample_tasks(40, 5, "tune")
    assert torch.equal(t.starts, ref.starts) and torch.equal(t.goals, ref.goals)
    ours = w.expert_data(60, 3)
    theirs = D.generate_expert_data(D.DataConfig(n_episodes=60, seed=3))
    assert torch.equal(ours.states, theirs.states) and torch.equal(ours.actions, theirs.actions)


@pytest.mark.parametrize("name", ["momentum", "layouts", "two walls"])
def test_tasks_carry_the_world_in_their_states(name):
    w = WORLDS[name]
    t = w.sample_tasks(200, 1, "eval")
    assert t.starts.shape == t.goals.shape == (200, w.state_dim)
    assert w.env.is_free(t.starts).all() and w.env.is_free(t.goals).all()
    if name == "momentum":
        assert (t.starts[:, 2:] == 0).all() and (t.goals[:, 2:] == 0).all()  # from rest, to rest
        ref = sample_tasks(200, 1, "eval")
        assert torch.equal(t.starts[:, :2], ref.starts)  # the point world's positions
    else:
        assert torch.equal(t.starts[:, 2:], t.goals[:, 2:])  # a goal lives in its task's layout
        lay = layouts_from_states(t.starts, w.wall, w.layouts)
        assert len({tuple(f) for f in lay.features().tolist()}) == 200  # one layout per task
    assert not torch.equal(t.starts, w.sample_tasks(200, 1, "test").starts)  # splits draw apart


@pytest.mark.parametrize("name", list(WORLDS))
def test_oracle_and_noisy_expert_reach_held_out_goals(name):
    w = WORLDS[name]
    tasks = w.sample_tasks(150, 2, "tune")
    oracle = run_policy(w.env, w.oracle(), tasks)
    assert w.success(oracle.final_states, tasks.goals).all()
    expert = run_policy(w.env, w.expert(0.15, torch.Generator().manual_seed(0)), tasks)
    assert w.success(expert.final_states, tasks.goals).float().mean() >= 0.97


def test_success_is_measured_on_positions_only():
    w = WORLDS["momentum"]
    goals = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert w.success(torch.tensor([[1.1, 1.0, 0.5, -0.5]]), goals).all()  # there, still moving
    assert not w.success(torch.tensor([[2.0, 1.0, 0.0, 0.0]]), goals).any()


def test_layout_state_env_moves_like_layout_env_and_keeps_the_doors():
    w = WORLDS["two walls"]
    t = w.sample_tasks(300, 0, "train")
    lay = layouts_from_states(t.starts, w.wall, w.layouts)
    g = torch.Generator().manual_seed(1)
    s = t.starts
    for _ in range(20):
        a = (torch.rand(300, 2, generator=g) * 2 - 1) * 0.6
        nxt = w.env.step(s, a)
        assert torch.equal(nxt[:, :2], LayoutEnv(w.wall).step(s[:, :2].contiguous(), a, lay))
        assert torch.equal(nxt[:, 2:], t.starts[:, 2:])
        s = nxt


@pytest.mark.parametrize("name", ["momentum", "layouts", "two walls"])
def test_expert_and_play_data_stay_in_free_space(name):
    w = WORLDS[name]
    for ds in (w.expert_data(200, 4), w.play_data(200, 4)):
        assert ds.states.shape == (200, 31, w.state_dim) and ds.actions.shape == (200, 30, 2)
        assert ds.actions.abs().max() <= w.action_bound + 1e-6
        flat = ds.states.reshape(-1, w.state_dim)
        assert w.env.is_free(flat).all()
        if name == "momentum":
            assert (ds.states[:, 0, 2:] == 0).all()  # every episode starts at rest
            assert flat[:, 2:].abs().max() <= MomentumEnv(w.wall, w.momentum).max_speed + 1e-6
        else:
            assert (ds.states[:, :, 2:] == ds.states[:, :1, 2:]).all()  # doors never move within an episode
            lay = layouts_from_states(flat, w.wall, w.layouts)
            assert not in_walls(flat[:, :2], lay, w.wall.half_size).any()
    play = w.play_data(200, 4)
    moved = (play.states[:, -1, :2] - play.states[:, 0, :2]).norm(dim=-1)
    assert moved.median() > 1.0  # persistent random walks travel
    assert torch.equal(play.states, w.play_data(200, 4).states)  # seeded
    assert not torch.equal(play.states, w.play_data(200, 5).states)


def test_bad_worlds_and_states_raise():
    with pytest.raises(ValueError, match="at most one option"):
        World(momentum=MomentumConfig(), layouts=LayoutConfig())
    with pytest.raises(TypeError, match="momentum must be a MomentumConfig"):
        World(momentum=0.2)
    with pytest.raises(TypeError, match="wall must be a WallConfig"):
        World(wall={"half_size": 5})
    with pytest.raises(ValueError, match=r"layout states must be \(B, 6\)"):
        LayoutStateEnv(WallConfig(), TWO_WALLS).step(torch.zeros(3, 4), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="has no per-task layouts"):
        WORLDS["momentum"].layouts_of(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        WORLDS["layouts"].expert(-0.1)


# --------------------------------------------------------------------------------------------
# Planning and evaluating in a world
# --------------------------------------------------------------------------------------------
def _truth(world):
    from gbp_utils.env import TrueDynamicsModel
    model = TrueDynamicsModel(world.wall)
    model.env = world.env
    return model


def test_waypoint_inits_plan_in_the_positions_of_layout_states():
    from gbp_utils.planners import GBPConfig, make_planner
    from gbp_utils.sampling import CEMConfig
    w = WORLDS["layouts"]
    tasks = w.sample_tasks(30, 0, "tune")
    for config in (CEMConfig(population=60, elites=6, iterations=4),):
        with pytest.raises(ValueError, match="positions=True"):
            make_planner(_truth(w), config, w.action_bound)(tasks.starts, tasks.goals, 30)
        plan = make_planner(_truth(w), config, w.action_bound, positions=True)(tasks.starts, tasks.goals, 30)
        assert plan.actions.shape == (30, 30, 2)
    # GBP through a learned model of layout states: round 0's straight line runs from start to goal position
    from gbp_utils.world_model import WorldModel
    model = WorldModel(state_dim=4)
    straight = make_planner(model, GBPConfig(iterations=0, restarts=1, init_std=0.0), w.action_bound, positions=True)
    a = straight(tasks.starts, tasks.goals, 30).actions
    expected = ((tasks.goals[:, :2] - tasks.starts[:, :2]) / 30).clamp(-w.action_bound, w.action_bound)
    torch.testing.assert_close(a[:, 0], expected)


def test_runs_and_reports_in_a_world():
    from gbp_utils import control, evaluation, experiments
    from gbp_utils.sampling import CEMConfig
    w = WORLDS["layouts"]
    tasks = w.sample_tasks(40, 0, "tune")
    cem = CEMConfig(population=200, elites=10, iterations=6)
    ep = experiments.run(_truth(w), cem, tasks, control.OPEN_LOOP, w)
    assert ep.states.shape == (40, 31, 4) and torch.equal(ep.states[:, :, 2:], tasks.starts[:, None, 2:].expand(40, 31, 2))
    r = evaluation.evaluate("truth", ep, tasks, w)
    assert r.success_rate >= 0.75  # the true dynamics, waypoint detours through each task's own door
    assert r.mean_final_distance == pytest.approx(float((ep.final_states[:, :2] - tasks.goals[:, :2]).norm(dim=-1).mean()))
    again = experiments.run(_truth(w), cem, tasks, control.OPEN_LOOP, w)  # cached under the world
    assert again.seconds == ep.seconds and torch.equal(again.states, ep.states)
    m = WORLDS["momentum"]
    mt = m.sample_tasks(20, 0, "tune")
    ep = experiments.run(_truth(m), CEMConfig(population=200, elites=10, iterations=6, init="zeros"), mt,
                         control.OPEN_LOOP, m, use_cache=False)
    assert ep.actions.abs().max() <= m.action_bound + 1e-6 and ep.states.shape == (20, 31, 4)
    with pytest.raises(TypeError, match="a WallConfig .* or a worlds.World"):
        experiments.run(_truth(m), CEMConfig(), mt, control.OPEN_LOOP, "momentum")


def test_touching_wall_uses_each_tasks_own_walls():
    w = WORLDS["layouts"]
    # door at y in [2.5, 3.5]: (-0.2, 0) is on the left face; (-0.2, 3) faces the open door; (-3, 0) is free
    states = torch.tensor([[-0.2, 0.0, 3.0, 1.0], [-0.2, 3.0, 3.0, 1.0], [-3.0, 0.0, 3.0, 1.0], [-0.2, 2.5, 3.0, 1.0]])
    assert w.touching_wall(states).tolist() == [True, False, False, True]
    assert WORLDS["momentum"].touching_wall(torch.tensor([[-0.2, 3.0, 0.0, 0.0], [-0.2, 0.0, 0.0, 0.0]])).tolist() == \
        [True, False]
