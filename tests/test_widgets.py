"""Tests for gbp_utils.widgets, driven through the controls of each ipywidgets UI as a reader would:
the task, data and push explorers (notebooks 01-03), the GBP planner explorer (04), the online-round
explorer (05), the epsilon explorer (06), the CEM explorer (07) and the results explorer (08). What
they show is computed by ``analysis`` (tested in test_analysis)."""

import math

import matplotlib.pyplot as plt
import pytest
from helpers import _PENDING, FreeSpace, drive, each_slider_extreme, text_problems, tiny_world_model, titles
import torch

from gbp_utils.control import OPEN_LOOP, Execution, run_controller, run_open_loop
from gbp_utils.data import DataConfig, concat, generate
from gbp_utils.env import TrueDynamicsModel, WallConfig, WallEnv, sample_tasks, straight_line_blocked
from gbp_utils.evaluation import evaluate
from gbp_utils.planners import GBPConfig
from gbp_utils.policies import oracle_policy, straight_line_policy
from gbp_utils.sampling import CEMConfig, CEMPlanner
from gbp_utils.widgets import (cem_explorer, compare_push, controls, data_explorer, epsilon_explorer, explore_data,
                               explore_plan, online_round_explorer, planner_explorer, push_explorer,
                               observation_explorer, results_explorer, show_cem, show_epsilon, show_result,
                               show_round, show_task, snapshot, task_explorer)
from gbp_utils.world_model import TrainConfig, WorldModelConfig, rollout, train_world_model

CFG = WallConfig()
WL, WR, H = CFG.wall_left, CFG.wall_right, CFG.half_size
T = CFG.max_steps
TASK_KEYS = {"valid", "straight_blocked", "oracle_success", "straight_success", "shortest_path_length",
             "straight_ends_at_wall"}
BOOL_KEYS = TASK_KEYS - {"shortest_path_length"}
FREE_TASK = dict(start_x=-3.0, start_y=3.0, goal_x=-1.5, goal_y=-1.0)  # both left of the wall, line is free
WALL_TASK = dict(start_x=-3.0, start_y=3.0, goal_x=3.0, goal_y=2.0)  # the line hits the wall above the door


@pytest.fixture(scope="module")
def push_model():
    """A small world model trained in well under a second on expert and play data."""
    ds = concat(generate(DataConfig(kind="expert", n_episodes=100)),
                generate(DataConfig(kind="play", n_episodes=100)))
    train, val = ds.split(0.1)
    return train_world_model(train, val, WorldModelConfig(hidden=32, n_blocks=1), TrainConfig(epochs=3),
                             progress=False).model


def sliders(ui):
    return {name: w for name, w in controls(ui).items() if hasattr(w, "min")}


def assert_valid_task_result(r, start, goal):
    assert set(r) == TASK_KEYS and r["valid"] is True
    for key in BOOL_KEYS:
        assert isinstance(r[key], bool), key
    straight = math.dist(start, goal)
    assert straight - 1e-4 <= r["shortest_path_length"] < straight + 3.0


# --------------------------------------------------------------------------------------------
# task_explorer (notebook 01)
# --------------------------------------------------------------------------------------------
def test_task_explorer_default_result_is_valid():
    ui = task_explorer()
    r = ui.result
    assert_valid_task_result(r, (-3.5, -3.0), (3.5, 3.0))
    # The default diagonal passes through the door's centre: nothing blocks it.
    assert r["straight_blocked"] is False and r["oracle_success"] and r["straight_success"]
    assert r["shortest_path_length"] == pytest.approx(math.hypot(7.0, 6.0), abs=1e-4)
    assert set(controls(ui)) >= {"start_x", "start_y", "goal_x", "goal_y"}


def test_moving_a_slider_reruns_the_callback():
    ui = task_explorer()
    ui.result = _PENDING
    controls(ui)["goal_y"].value = -2.0
    assert ui.result is not _PENDING and ui.result["valid"]
    assert titles(ui) == ["oracle reaches the goal; straight line misses"]
    assert ui.view.arena.goal.get_ydata()[0] == pytest.approx(-2.0)  # the live figure moved its goal


@pytest.mark.parametrize("which, values", [
    ("start", dict(start_x=0.0, start_y=3.0)),
    ("start", dict(start_x=0.1, start_y=-4.0)),
    ("goal", dict(goal_x=0.0, goal_y=-3.0)),
])
def test_task_explorer_rejects_points_inside_the_wall(which, values):
    r = drive(task_explorer(), **values)
    assert r == {"valid": False, "message": f"The {which} is inside the wall: move it into free space."}


def test_task_explorer_blocked_task():
    r = drive(task_explorer(), start_x=-3.0, start_y=3.0, goal_x=3.0, goal_y=3.0)
    assert_valid_task_result(r, (-3.0, 3.0), (3.0, 3.0))
    assert r["straight_blocked"] is True and r["oracle_success"] is True
    assert r["straight_success"] is False and r["straight_ends_at_wall"] is True
    assert r["shortest_path_length"] > 6.0 + 1.0


def test_task_explorer_every_slider_at_its_extremes():
    defaults = {"start_x": -3.5, "start_y": -3.0, "goal_x": 3.5, "goal_y": 3.0}
    ui = task_explorer()
    assert all((w.min, w.max) == (-H, H) for w in sliders(ui).values())
    seen = 0
    for point, r in each_slider_extreme(ui, defaults):
        assert_valid_task_result(r, (point["start_x"], point["start_y"]), (point["goal_x"], point["goal_y"]))
        assert r["oracle_success"], point
        seen += 1
    assert seen == 8


@pytest.mark.parametrize("start, goal", [((-H, -H), (H, H)), ((-H, H), (H, -H)), ((H, 0.0), (-H, 0.0)),
                                         ((WL, 2.0), (WR, 2.0))])
def test_task_explorer_corners_and_faces(start, goal):
    r = drive(task_explorer(), start_x=start[0], start_y=start[1], goal_x=goal[0], goal_y=goal[1])
    assert_valid_task_result(r, start, goal)
    assert r["oracle_success"]


def test_show_task_without_drawing_draws_nothing():
    r = show_task(-3.0, 3.0, 3.0, 3.0, draw=False)
    assert r["straight_blocked"] and not plt.get_fignums()


# --------------------------------------------------------------------------------------------
# data_explorer (notebook 02)
# --------------------------------------------------------------------------------------------
def assert_sensible_data_result(r, kind, n_episodes):
    assert r["n_transitions"] == n_episodes * 30
    assert 0.0 <= r["far_contact_fraction"] <= r["wall_contact_fraction"] <= 1.0
    assert ("success_rate" in r) == (kind == "expert")
    if kind == "expert":
        assert 0.0 <= r["success_rate"] <= 1.0


def test_data_explorer_default_and_kind_toggle():
    ui = data_explorer()
    r = ui.result
    assert_sensible_data_result(r, "expert", 200)
    assert r["success_rate"] >= 0.95 and r["far_contact_fraction"] == 0.0
    assert controls(ui)["kind"].options == ("expert", "play")
    p = drive(ui, kind="play")
    assert_sensible_data_result(p, "play", 200)
    assert p["far_contact_fraction"] > 0.01
    assert p["wall_contact_fraction"] > 10 * r["wall_contact_fraction"]
    assert drive(ui, kind="expert") == r  # deterministic


def test_data_explorer_expert_noise_extremes():
    ui = data_explorer()
    noise = sliders(ui)["noise_std"]
    clean = drive(ui, kind="expert", noise_std=noise.min)
    assert noise.min == 0.0
    assert_sensible_data_result(clean, "expert", 200)
    assert clean["far_contact_fraction"] == 0.0 and clean["wall_contact_fraction"] == 0.0
    assert clean["success_rate"] == 1.0
    noisy = drive(ui, noise_std=noise.max)
    assert_sensible_data_result(noisy, "expert", 200)
    assert noisy["success_rate"] < clean["success_rate"]
    assert noisy["wall_contact_fraction"] > clean["wall_contact_fraction"]


def test_data_explorer_play_persistence_extremes():
    ui = data_explorer()
    rho = sliders(ui)["persistence"]
    white = drive(ui, kind="play", persistence=rho.min)
    smooth = drive(ui, kind="play", persistence=rho.max)
    assert rho.min == 0.0 and rho.max < 1.0
    for r in (white, smooth):
        assert_sensible_data_result(r, "play", 200)
        assert r["far_contact_fraction"] > 0.0
    assert smooth["wall_contact_fraction"] > 2 * white["wall_contact_fraction"]


def test_data_explorer_noise_does_not_affect_play_and_persistence_does_not_affect_expert():
    ui = data_explorer()
    a = drive(ui, kind="play", noise_std=0.0)
    assert drive(ui, noise_std=1.0) == a
    b = drive(ui, kind="expert", persistence=0.0)
    assert drive(ui, persistence=0.95) == b


@pytest.mark.parametrize("kind", ["expert", "play"])
def test_data_explorer_episode_slider_extremes(kind):
    ui = data_explorer()
    episodes = sliders(ui)["n_episodes"]
    for n in (episodes.min, episodes.max):
        r = drive(ui, kind=kind, n_episodes=n)
        assert_sensible_data_result(r, kind, n)
    assert (episodes.min, episodes.max) == (20, 1000)


def test_explore_data_draws_one_heatmap():
    explore_data("play", n_episodes=20)
    assert len(plt.get_fignums()) == 1
    plt.close("all")
    explore_data("play", n_episodes=20, draw=False)
    assert not plt.get_fignums()


# --------------------------------------------------------------------------------------------
# push_explorer (notebook 03)
# --------------------------------------------------------------------------------------------
def test_push_toward_the_wall_far_from_the_door_stops_on_the_face(push_model):
    ui = push_explorer(push_model)
    r = drive(ui, start_x=-3.0, start_y=3.0, angle_deg=0.0, n_steps=12)
    assert r["valid"] is True
    assert r["real_final"][0] == torch.tensor(WL).item() and r["real_final"][1] == 3.0
    assert r["final_error"] == pytest.approx(math.dist(r["real_final"], r["model_final"]), abs=1e-5)
    assert isinstance(r["model_passes_wall"], bool)
    # From the right side, pushing left (180 degrees) stops on the right face.
    r = drive(ui, start_x=3.0, angle_deg=180.0)
    assert r["real_final"][0] == torch.tensor(WR).item()
    assert r["real_final"][1] == pytest.approx(3.0, abs=1e-5)


def test_push_model_final_is_the_model_rollout(push_model):
    r = drive(push_explorer(push_model), start_x=-2.0, start_y=-3.0, angle_deg=45.0, n_steps=6)
    actions = torch.full((1, 6, 2), CFG.max_step)
    with torch.no_grad():
        expected = rollout(push_model, torch.tensor([[-2.0, -3.0]]), actions)[0, -1]
    assert r["model_final"] == pytest.approx(expected.tolist(), abs=1e-5)
    # Diagonal push: the real agent hits the face after 3.6 units (x: -2 -> -0.2) and stops there.
    assert r["real_final"] == pytest.approx([WL, -1.2], abs=1e-5)


def test_push_slider_extremes(push_model):
    ui = push_explorer(push_model)
    s = sliders(ui)
    assert (s["n_steps"].min, s["n_steps"].max) == (1, CFG.max_steps)
    assert (s["angle_deg"].min, s["angle_deg"].max) == (-180.0, 180.0)
    one = drive(ui, start_x=-3.0, start_y=3.0, angle_deg=0.0, n_steps=s["n_steps"].min)
    assert one["real_final"] == pytest.approx([-2.5, 3.0], abs=1e-6)
    full = drive(ui, n_steps=s["n_steps"].max)
    assert full["real_final"] == pytest.approx([WL, 3.0], abs=1e-6)
    for angle in (s["angle_deg"].min, s["angle_deg"].max):
        r = drive(ui, angle_deg=angle, n_steps=s["n_steps"].max)
        assert r["valid"] and r["real_final"] == pytest.approx([-H, 3.0], abs=1e-5)
        assert all(math.isfinite(v) for v in r["model_final"]) and r["final_error"] >= 0.0
    for name in ("start_x", "start_y"):
        for value in (s[name].min, s[name].max):
            r = drive(ui, **{name: value}, angle_deg=90.0, n_steps=5)
            assert r["valid"] and abs(r["real_final"][0]) <= H and abs(r["real_final"][1]) <= H


def test_push_from_inside_the_wall_is_reported(push_model):
    r = drive(push_explorer(push_model), start_x=0.0, start_y=3.0)
    assert r == {"valid": False, "message": "The start is inside the wall: move it into free space."}


def test_push_along_the_top_border_stops_on_the_face(push_model):
    r = compare_push(push_model, -3.0, H, 0.0, 12, draw=False)
    assert r["real_final"] == pytest.approx([WL, H], abs=1e-6)


# --------------------------------------------------------------------------------------------
# planner_explorer / explore_plan (notebook 04)
# --------------------------------------------------------------------------------------------
PLAN_KEYS = {"valid", "success", "final_distance", "model_cost", "model_final_distance", "model_vs_real",
             "touched_wall", "stuck_at_wall", "n_plans", "n_steps", "wm_evals", "seconds"}
# Cheap settings for driving the UI: every test sets these explicitly, so tests do not depend on order.
CHEAP_PLAN = dict(start_x=-4.0, start_y=-3.0, goal_x=-2.0, goal_y=-1.0, log10_lr=-1.0, iterations=10, horizon=10,
                  restarts=2, execution=OPEN_LOOP)
GBP = GBPConfig()  # every setting the sliders do not set (presets().gbp)
MPC = Execution("mpc", 3)


@pytest.fixture(scope="module")
def expert_model(tmp_path_factory):
    """A small expert-only world model, trained in well under a second (no cache involved)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        torch.manual_seed(0)
        train, val = generate(DataConfig(kind="expert", n_episodes=200)).split(0.1)
        return train_world_model(train, val, WorldModelConfig(hidden=32, n_blocks=1), TrainConfig(epochs=15),
                                 progress=False).model


@pytest.fixture(scope="module")
def plan_ui(expert_model):
    """One explorer shared by the tests; each test sets every control it relies on."""
    return planner_explorer(expert_model, GBP, MPC, CFG)


def expected_evals(iterations, restarts, horizon):
    """Open-loop compute: (I+1)KH + H forward steps and IKH backward steps, backward counted twice."""
    return (iterations + 1) * restarts * horizon + horizon + 2 * iterations * restarts * horizon


def assert_valid_plan(r, horizon):
    assert set(r) == PLAN_KEYS and r["valid"] is True
    for key in ("success", "touched_wall", "stuck_at_wall"):
        assert isinstance(r[key], bool), key
    for key in ("final_distance", "model_cost", "model_final_distance", "model_vs_real", "wm_evals", "seconds"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] >= 0, key
    assert r["n_steps"] == horizon
    assert r["success"] == (r["final_distance"] <= CFG.success_radius)
    # the model's belief, the real end and the goal form a triangle
    assert abs(r["final_distance"] - r["model_final_distance"]) <= r["model_vs_real"] + 1e-4


# --------------------------------------------------------------------------------------------
def test_planner_explorer_default_settings_give_a_valid_open_loop_result(expert_model):
    plan_ui = planner_explorer(expert_model, GBP, MPC, CFG)
    r = plan_ui.result  # computed when the UI is built
    assert_valid_plan(r, CFG.max_steps)
    c = controls(plan_ui)
    assert c["execution"].value == OPEN_LOOP and r["n_plans"] == 1
    assert r["wm_evals"] == expected_evals(c["iterations"].value, c["restarts"].value, c["horizon"].value)
    assert {"start_x", "start_y", "goal_x", "goal_y", "log10_lr", "iterations", "horizon", "restarts",
            "execution"} <= set(c)


def test_planner_explorer_moving_a_control_replans_and_draws(plan_ui):
    r = drive(plan_ui, **CHEAP_PLAN)
    assert_valid_plan(r, CHEAP_PLAN["horizon"])
    assert titles(plan_ui)[0].startswith("open-loop: reality reaches the goal")
    assert r["wm_evals"] == expected_evals(CHEAP_PLAN["iterations"], CHEAP_PLAN["restarts"], CHEAP_PLAN["horizon"])
    # open-loop executes the plan's own actions, so the model's belief is the plan's final distance
    assert r["model_final_distance"] == pytest.approx(r["model_cost"], abs=1e-3)


def test_planner_explorer_solves_a_short_same_side_task(plan_ui):
    """Start and goal on the same side, away from the wall: the model is right there and GBP works."""
    r = drive(plan_ui, **CHEAP_PLAN)
    assert r["success"] and not r["touched_wall"] and r["model_cost"] < CFG.success_radius


def test_execution_toggle_runs_the_given_mpc(plan_ui):
    toggle = controls(plan_ui)["execution"]
    assert toggle.options == (("open-loop", OPEN_LOOP), ("MPC", MPC)) and toggle.value == OPEN_LOOP
    open_loop = drive(plan_ui, **CHEAP_PLAN)
    mpc = drive(plan_ui, **{**CHEAP_PLAN, "execution": MPC})
    assert toggle.label == "MPC"
    assert_valid_plan(mpc, CHEAP_PLAN["horizon"])
    assert mpc["n_plans"] == math.ceil(CHEAP_PLAN["horizon"] / MPC.replan_every)
    assert mpc["wm_evals"] > open_loop["wm_evals"]
    assert mpc["model_cost"] == pytest.approx(open_loop["model_cost"])  # the first plan is the same plan
    back = drive(plan_ui, **CHEAP_PLAN)
    assert back["n_plans"] == 1 and back["final_distance"] == pytest.approx(open_loop["final_distance"])


@pytest.mark.parametrize("which, values", [
    ("start", dict(start_x=0.0, start_y=3.0)),
    ("start", dict(start_x=0.1, start_y=-4.0)),
    ("goal", dict(goal_x=0.0, goal_y=-3.0)),
])
def test_planner_explorer_rejects_points_inside_the_wall(plan_ui, which, values):
    r = drive(plan_ui, **{**CHEAP_PLAN, **values})
    assert r == {"valid": False, "message": f"The {which} is inside the wall: move it into free space."}
    assert r["message"] in titles(plan_ui), "the message should be drawn"
    assert drive(plan_ui, **CHEAP_PLAN)["valid"] is True  # moving back into free space recovers


def test_planner_explorer_every_slider_at_its_extremes(plan_ui):
    c = controls(plan_ui)
    sliders = {name: w for name, w in c.items() if hasattr(w, "min")}
    assert set(sliders) == {"start_x", "start_y", "goal_x", "goal_y", "log10_lr", "iterations", "horizon", "restarts"}
    for name in ("start_x", "start_y", "goal_x", "goal_y"):
        assert (sliders[name].min, sliders[name].max) == (-H, H)
    seen = 0
    for settings, r in each_slider_extreme(plan_ui, CHEAP_PLAN):
        assert_valid_plan(r, settings["horizon"])
        if settings["execution"] == OPEN_LOOP:
            assert r["wm_evals"] == expected_evals(settings["iterations"], settings["restarts"], settings["horizon"])
        seen += 1
    assert seen == 16
    # iterations = 0: the best initial restart is returned as is; more iterations cannot do worse in the model
    r0 = drive(plan_ui, **{**CHEAP_PLAN, "iterations": 0})
    r10 = drive(plan_ui, **CHEAP_PLAN)
    assert r10["model_cost"] <= r0["model_cost"] + 1e-6


def test_explore_plan_is_deterministic_and_matches_the_ui(plan_ui, expert_model):
    args = {**CHEAP_PLAN, "start_x": -3.0, "start_y": 3.0, "goal_x": 3.0, "goal_y": 2.0, "horizon": 30}  # blocked
    r_ui = drive(plan_ui, **args)
    a = explore_plan(expert_model, gbp=GBP, wall=CFG, draw=False, **args)
    b = explore_plan(expert_model, gbp=GBP, wall=CFG, draw=False, **args)
    for key in PLAN_KEYS - {"seconds"}:
        assert a[key] == b[key] == r_ui[key], key


def test_explore_plan_with_draw_false_draws_nothing(expert_model):
    plt.close("all")
    r = explore_plan(expert_model, **{**CHEAP_PLAN, "execution": MPC}, gbp=GBP, wall=CFG, draw=False)
    assert r["valid"] and not plt.get_fignums()
    r = explore_plan(expert_model, **{**CHEAP_PLAN, "start_x": 0.0, "start_y": 3.0}, gbp=GBP, wall=CFG, draw=False)
    assert r["valid"] is False and not plt.get_fignums()


@pytest.mark.parametrize("bad", ["MPC", "open-loop", 3])
def test_explore_plan_rejects_an_execution_that_is_not_an_execution(expert_model, bad):
    with pytest.raises(TypeError, match=r"execution must be a control.Execution \(OPEN_LOOP or presets\(\).mpc\)"):
        explore_plan(expert_model, **{**CHEAP_PLAN, "execution": bad}, gbp=GBP, wall=CFG, draw=False)


# --------------------------------------------------------------------------------------------
# online_round_explorer / show_round (notebook 05)
# --------------------------------------------------------------------------------------------
ROUND_KEYS = {"valid", "round", "real_final", "model_final", "final_error", "model_passes_wall", "leak_fraction",
              "blocked_error", "free_error", "n_blocked"}
# Every test sets all of these, so tests do not depend on each other's order.
ROUND_DEFAULT = dict(round=0, start_x=-2.0, start_y=3.0, angle_deg=0.0, n_steps=6)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """Round 0: a small expert-only model (never saw the wall). Round 1: the same architecture trained on
    expert + play data (play data hit the wall). Round 2: the true dynamics. Trained in about a second."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        torch.manual_seed(0)
        expert = generate(DataConfig(kind="expert", n_episodes=150))
        play = generate(DataConfig(kind="play", n_episodes=150))
        small, tc = WorldModelConfig(hidden=32, n_blocks=1), TrainConfig(epochs=10)
        m0 = train_world_model(expert, None, small, tc, progress=False).model
        m1 = train_world_model(concat(expert, play), None, small, tc, progress=False).model
    return [m0, m1, TrueDynamicsModel(CFG)]


@pytest.fixture(scope="module")
def round_ui(snapshots):
    return online_round_explorer(snapshots, CFG)


def assert_valid_round(r, round_):
    assert set(r) == ROUND_KEYS and r["valid"] is True and r["round"] == round_
    assert isinstance(r["model_passes_wall"], bool)
    assert 0.0 <= r["leak_fraction"] <= 1.0 and r["n_blocked"] > 0
    for key in ("final_error", "blocked_error", "free_error"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] >= 0, key
    assert len(r["real_final"]) == len(r["model_final"]) == 2
    assert r["final_error"] == pytest.approx(math.dist(r["real_final"], r["model_final"]), abs=1e-3)


# --------------------------------------------------------------------------------------------
def test_online_round_explorer_default_shows_round_0(round_ui, snapshots):
    r = round_ui.result  # computed when the UI is built
    assert_valid_round(r, 0)
    c = controls(round_ui)
    assert {"round", "start_x", "start_y", "angle_deg", "n_steps"} <= set(c)
    assert (c["round"].min, c["round"].max) == (0, len(snapshots) - 1)


def test_moving_the_round_slider_redraws_with_that_model(round_ui):
    results = []
    for round_ in (0, 1, 2):
        r = drive(round_ui, **{**ROUND_DEFAULT, "round": round_})
        assert_valid_round(r, round_)
        assert titles(round_ui)[0].startswith(f"round {round_}: model error")
        results.append(r)
    # the same push is scored against the same reality; only the model changes
    assert all(r["real_final"] == results[0]["real_final"] for r in results)
    assert results[0]["leak_fraction"] > 0.5, "a model that never saw the wall lets most blocked pushes through"
    assert results[1]["leak_fraction"] < results[0]["leak_fraction"], "wall data shrink the leaks"
    assert results[2]["leak_fraction"] == 0.0 and results[2]["final_error"] == pytest.approx(0.0, abs=1e-6)


def test_online_round_explorer_every_slider_at_its_extremes(round_ui, snapshots):
    sliders = {name: w for name, w in controls(round_ui).items() if hasattr(w, "min")}
    assert set(sliders) == {"round", "start_x", "start_y", "angle_deg", "n_steps"}
    assert (sliders["start_x"].min, sliders["start_x"].max) == (-H, H)
    assert (sliders["angle_deg"].min, sliders["angle_deg"].max) == (-180.0, 180.0)
    assert (sliders["n_steps"].min, sliders["n_steps"].max) == (1, CFG.max_steps)
    seen = 0
    for settings, r in each_slider_extreme(round_ui, ROUND_DEFAULT):
        assert_valid_round(r, settings["round"])
        seen += 1
    assert seen == 10
    # corners of the arena and the longest push, on the last (perfect) model
    for x, y in ((-H, -H), (H, H), (-H, H)):
        r = drive(round_ui, **{**ROUND_DEFAULT, "round": len(snapshots) - 1, "start_x": x, "start_y": y,
                         "n_steps": CFG.max_steps})
        assert_valid_round(r, len(snapshots) - 1)
        assert all(abs(v) <= H + 1e-5 for v in r["real_final"])


@pytest.mark.parametrize("start", [(0.0, 3.0), (0.1, -4.0)])
def test_online_round_explorer_rejects_a_start_inside_the_wall(round_ui, start):
    r = drive(round_ui, **{**ROUND_DEFAULT, "start_x": start[0], "start_y": start[1]})
    assert r["valid"] is False and "inside the wall" in r["message"]
    assert r["message"] in titles(round_ui), "the message should be drawn"
    assert drive(round_ui, **ROUND_DEFAULT)["valid"] is True  # moving back into free space recovers


def test_push_toward_the_wall_in_the_base_model_passes_through(snapshots):
    r = show_round(snapshots, 0, -1.0, 3.0, 0.0, 6, CFG, draw=False)
    assert r["valid"] and r["real_final"][0] == pytest.approx(CFG.wall_left)  # stopped on the wall face
    assert r["model_passes_wall"] is True and r["final_error"] > 1.0


def test_show_round_with_draw_false_draws_nothing_and_rejects_a_bad_round(snapshots):
    plt.close("all")
    r = show_round(snapshots, 1, -2.0, 3.0, 45.0, 4, CFG, draw=False)
    assert_valid_round(r, 1)
    assert not plt.get_fignums()
    for bad in (-1, len(snapshots)):
        with pytest.raises(ValueError, match="round must be in"):
            show_round(snapshots, bad, -2.0, 3.0, 0.0, 4, CFG, draw=False)
    with pytest.raises(ValueError, match="at least one model"):
        online_round_explorer([], CFG)


# --------------------------------------------------------------------------------------------
# epsilon_explorer / show_epsilon (notebook 06)
# --------------------------------------------------------------------------------------------
EPS_KEYS = {"valid", "eps", "roughness", "real_roughness", "success", "final_distance", "model_final_distance",
            "false_valley"}
CHEAP_GBP = GBPConfig(restarts=2, iterations=50)


@pytest.fixture(scope="module")
def eps_models():
    """eps 0.0: a small random world model; eps 0.1: free space (s' = s + a), exact wherever no wall is hit."""
    return {0.0: tiny_world_model(0), 0.1: FreeSpace()}


@pytest.fixture(scope="module")
def eps_ui(eps_models):
    return epsilon_explorer(eps_models, CHEAP_GBP, CFG)


def assert_valid_eps(r, eps):
    assert set(r) == EPS_KEYS and r["valid"] is True and r["eps"] == eps
    assert isinstance(r["success"], bool) and isinstance(r["false_valley"], bool)
    for key in ("roughness", "real_roughness", "final_distance", "model_final_distance"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] >= 0, key
    assert r["success"] == (r["final_distance"] <= CFG.success_radius)


def test_epsilon_slider_extremes_switch_the_model(eps_ui):
    c = controls(eps_ui)
    assert list(c["eps"].options) == [0.0, 0.1] and c["eps"].value == 0.0
    assert_valid_eps(eps_ui.result, 0.0)
    free = drive(eps_ui, eps=0.1, **FREE_TASK)
    assert_valid_eps(free, 0.1)
    assert titles(eps_ui)[0].startswith("model landscape, eps = 0.1")
    random = drive(eps_ui, eps=0.0, **FREE_TASK)
    assert_valid_eps(random, 0.0)
    # The real landscape belongs to the task, not to the model.
    assert random["real_roughness"] == free["real_roughness"]
    # Free space is exact on this task: GBP's plan ends where the model says, at the goal.
    assert free["model_final_distance"] < 0.1 and free["success"]
    assert free["final_distance"] == pytest.approx(free["model_final_distance"], abs=1e-3)


def test_epsilon_explorer_rejects_a_start_or_goal_in_the_wall(eps_ui):
    r = drive(eps_ui, eps=0.1, **{**FREE_TASK, "start_x": 0.0})
    assert r == {"valid": False, "message": "The start is inside the wall: move it into free space."}
    assert r["message"] in titles(eps_ui), "the message should be drawn"
    r = drive(eps_ui, eps=0.1, **{**FREE_TASK, "goal_x": 0.1, "goal_y": 3.0})
    assert r["valid"] is False and "goal is inside the wall" in r["message"]
    assert drive(eps_ui, eps=0.1, **FREE_TASK)["valid"] is True


def test_free_space_model_is_smooth_but_hides_the_wall(eps_models):
    """Through the wall the free-space model promises the goal, but reality stops at the wall."""
    plt.close("all")
    r = show_epsilon(eps_models, 0.1, **WALL_TASK, gbp=CHEAP_GBP, wall=CFG, draw=False)
    assert not plt.get_fignums()
    assert_valid_eps(r, 0.1)
    assert r["model_final_distance"] < 0.1 and not r["success"] and r["final_distance"] > 1.0
    assert r["roughness"] < r["real_roughness"], "a wall-less landscape is smoother than the real one"


def test_show_epsilon_rejects_an_unknown_eps_and_an_empty_dict(eps_models):
    with pytest.raises(ValueError, match=r"eps must be one of \[0.0, 0.1\]; got 0.2"):
        show_epsilon(eps_models, 0.2, **FREE_TASK, gbp=CHEAP_GBP, draw=False)
    with pytest.raises(ValueError, match="at least one model"):
        epsilon_explorer({}, CHEAP_GBP)


# --------------------------------------------------------------------------------------------
# cem_explorer / show_cem (notebook 07)
# --------------------------------------------------------------------------------------------
CEM = CEMConfig()  # population 300, 10 rounds (presets(fast=False).cem but for warm_iterations)
CEM_KEYS = {"valid", "success", "final_distance", "model_cost", "wm_evals", "seconds"}


@pytest.fixture(scope="module")
def cem_models():
    return {"true dynamics": TrueDynamicsModel(CFG), "free space": FreeSpace()}


@pytest.fixture(scope="module")
def cem_ui(cem_models):
    return cem_explorer(cem_models, CEM, CFG)


def assert_valid_cem(r, population, iterations):
    assert set(r) == CEM_KEYS and r["valid"] is True and isinstance(r["success"], bool)
    assert r["wm_evals"] == (iterations * population + 1) * T + T  # CEM never differentiates
    assert r["seconds"] > 0 and r["model_cost"] >= 0 and r["final_distance"] >= 0


def test_cem_explorer_default_finds_the_door_with_the_true_dynamics(cem_ui):
    c = controls(cem_ui)
    assert list(c["model"].options) == ["true dynamics", "free space"]
    assert (c["population"].value, c["iterations"].value) == (CEM.population, CEM.iterations)
    r = cem_ui.result
    assert_valid_cem(r, CEM.population, CEM.iterations)
    assert r["success"], "the default task crosses the wall; 300 x 10 CEM on the true dynamics gets through"
    assert r["model_cost"] == pytest.approx(r["final_distance"], abs=1e-3), "the model is reality"


@pytest.mark.parametrize("name, values", [
    ("population", (10, 1000)),
    ("iterations", (0, 30)),
])
def test_cem_slider_extremes_on_a_free_task(cem_ui, name, values):
    c = controls(cem_ui)
    assert (c[name].min, c[name].max) == values
    for value in values:
        settings = {"model": "true dynamics", "population": 10, "iterations": 2, **FREE_TASK, name: value}
        r = drive(cem_ui, **settings)
        assert_valid_cem(r, settings["population"], settings["iterations"])
        # The straight line is a candidate of every CEM run, and here it is free.
        assert r["success"] and r["final_distance"] < CFG.success_radius
        assert r["model_cost"] == pytest.approx(r["final_distance"], abs=1e-3)


def test_cem_through_a_wall_less_model_promises_what_reality_does_not_deliver(cem_ui):
    r = drive(cem_ui, model="free space", population=10, iterations=2, **WALL_TASK)
    assert_valid_cem(r, 10, 2)
    assert r["model_cost"] < CFG.success_radius and not r["success"] and r["final_distance"] > 1.0
    r = drive(cem_ui, model="free space", **{**WALL_TASK, "start_x": 0.0})
    assert r["valid"] is False and "start is inside the wall" in r["message"]


def test_show_cem_rejects_bad_arguments(cem_models):
    with pytest.raises(ValueError, match=r"model must be one of \['true dynamics', 'free space'\]; got 'nope'"):
        show_cem(cem_models, "nope", 10, 2, **FREE_TASK, cem=CEM, draw=False)
    with pytest.raises(ValueError, match="population must be >= 2 and iterations >= 0; got 1, 2"):
        show_cem(cem_models, "free space", 1, 2, **FREE_TASK, cem=CEM, draw=False)
    with pytest.raises(ValueError, match="got 10, -1"):
        show_cem(cem_models, "free space", 10, -1, **FREE_TASK, cem=CEM, draw=False)
    with pytest.raises(ValueError, match="at least one model"):
        cem_explorer({}, CEM)


# --------------------------------------------------------------------------------------------
# results_explorer / show_result (notebook 08)
# --------------------------------------------------------------------------------------------
RESULT_KEYS = {"run", "task", "success", "final_distance", "touched_wall", "run_success_rate"}


@pytest.fixture(scope="module")
def result_tasks():
    return sample_tasks(6, 0, "eval", CFG)


@pytest.fixture(scope="module")
def runs(result_tasks):
    env = WallEnv(CFG)
    cem = CEMPlanner(TrueDynamicsModel(CFG), CEMConfig(population=20, elites=4, iterations=2), CFG.max_step)
    return {"oracle": run_controller(env, oracle_policy(CFG), result_tasks),
            "straight line": run_controller(env, straight_line_policy(CFG), result_tasks),
            "CEM": run_open_loop(env, cem, result_tasks)}


@pytest.fixture(scope="module")
def results_ui(runs, result_tasks):
    return results_explorer(runs, result_tasks, CFG)


def test_results_explorer_task_slider_extremes_with_the_oracle(results_ui, result_tasks):
    c = controls(results_ui)
    assert list(c["run"].options) == ["oracle", "straight line", "CEM"]
    assert (c["task"].min, c["task"].max) == (0, len(result_tasks) - 1)
    for task in (0, len(result_tasks) - 1):
        r = drive(results_ui, run="oracle", task=task)
        assert set(r) == RESULT_KEYS and (r["run"], r["task"]) == ("oracle", task)
        assert r["success"] is True and r["final_distance"] <= CFG.success_radius
        assert r["run_success_rate"] == 1.0
        assert titles(results_ui) == [f"oracle\ntask {task}: success (run: 100%)"]


def test_results_explorer_scores_the_straight_line_like_evaluate(results_ui, runs, result_tasks):
    report = evaluate("straight line", runs["straight line"], result_tasks, CFG)
    assert report.success_rate < 1.0, "some of these tasks must be blocked by the wall"
    blocked = straight_line_blocked(result_tasks.starts, result_tasks.goals, CFG)
    for i in range(len(result_tasks)):
        r = drive(results_ui, run="straight line", task=i)
        assert r["run_success_rate"] == pytest.approx(report.success_rate)
        final = runs["straight line"].states[i, -1]
        assert r["final_distance"] == pytest.approx(float((final - result_tasks.goals[i]).norm()), abs=1e-6)
        if blocked[i]:
            assert r["success"] is False and r["touched_wall"] is True


def test_a_planner_run_also_draws_its_first_plan(runs, result_tasks):
    lines = {}
    for name in ("oracle", "CEM"):
        plt.close("all")
        show_result(runs, result_tasks, name, 1, CFG)
        lines[name] = len([line for line in plt.gcf().axes[0].get_lines() if len(line.get_xdata())])
    assert lines["CEM"] > lines["oracle"], "the model's first plan is missing"


def test_show_result_rejects_a_bad_run_or_task(runs, result_tasks):
    with pytest.raises(ValueError, match=r"run must be one of \['oracle', 'straight line', 'CEM'\]; got 'MPPI'"):
        show_result(runs, result_tasks, "MPPI", 0, draw=False)
    for bad in (-1, len(result_tasks)):
        with pytest.raises(ValueError, match=rf"task must be in \[0, 5\]; got {bad}"):
            show_result(runs, result_tasks, "oracle", bad, draw=False)
    with pytest.raises(ValueError, match="at least one run"):
        results_explorer({}, result_tasks)


def test_snapshot_shows_the_live_figure_as_one_static_png(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs: shown.extend(objs))
    ui = task_explorer()
    drive(ui, start_x=-4.0, goal_y=1.0)
    plt.close("all")
    r = snapshot(ui)
    assert r == ui.result and not plt.get_fignums()  # the same numbers; no pyplot figure left behind
    assert len(shown) == 1 and isinstance(shown[0], IPython.display.Image)
    assert shown[0].data[:8] == b"\x89PNG\r\n\x1a\n"
    drive(ui, start_x=0.0, start_y=3.0)  # inside the wall: the snapshot shows the message too
    assert snapshot(ui) == {"valid": False, "message": "The start is inside the wall: move it into free space."}
    assert len(shown) == 2 and shown[1].data != shown[0].data
    with pytest.raises(TypeError, match="snapshot needs a widgets.Explorer"):
        snapshot(object())
    monkeypatch.setenv("VOILA_KERNEL_ID", "k")  # a voila app shows the live widget: no static copy
    assert snapshot(ui) == ui.result and len(shown) == 2


# --------------------------------------------------------------------------------------------
# Live figures, direct manipulation (clicks on the arena) and the planner's iteration slider
# --------------------------------------------------------------------------------------------
def test_explorer_outside_a_kernel_keeps_one_off_screen_figure():
    ui = task_explorer()
    assert ui.live.mode == "headless" and ui.live.widget is None
    fig, artists = ui.figure, list(ui.view.arena.lines.values())
    drive(ui, goal_x=-1.0, goal_y=-1.0)
    drive(ui, start_x=-4.0)
    assert ui.figure is fig and list(ui.view.arena.lines.values()) == artists  # moved in place, not re-created
    assert ui.view.arena.start.get_xdata()[0] == pytest.approx(-4.0)
    oracle = ui.view.arena.lines["oracle"].get_xydata()
    assert oracle[0] == pytest.approx([-4.0, -3.0]) and oracle[-1] == pytest.approx([-1.0, -1.0], abs=0.3)
    assert '<div class=' in ui.readout.value and "oracle_success True" in ui.readout.value
    with pytest.raises(TypeError, match="controls needs a widgets.Explorer"):
        controls(object())


@pytest.mark.parametrize("x, y, expected", [(-2.012, -1.337, (-2.0, -1.35)), (3.976, 0.024, (4.0, 0.0)),
                                            (-3.0, H + 0.3, (-3.0, H))])
def test_a_click_moves_the_start_sliders_to_the_click_rounded_to_their_step(x, y, expected):
    ui = task_explorer()
    c = controls(ui)
    goal = (c["goal_x"].value, c["goal_y"].value)
    before = (ui.updates, ui.live.redraws)
    if abs(y) > H:  # beyond the arena (a click in the axes' margin): clipped to the sliders' range
        ui.place("start", x, y)
    else:
        ui.click(x, y)
    assert (c["start_x"].value, c["start_y"].value) == pytest.approx(expected)
    assert (c["goal_x"].value, c["goal_y"].value) == goal  # the goal stays
    assert (ui.updates, ui.live.redraws) == (before[0] + 1, before[1] + 1), "two sliders moved, one update"
    assert ui.result == show_task(*expected, *goal, draw=False)


def test_shift_click_or_the_toggle_moves_the_goal():
    ui = task_explorer()
    c = controls(ui)
    start = (c["start_x"].value, c["start_y"].value)
    ui.click(-1.0, -2.0, shift=True)
    assert (c["goal_x"].value, c["goal_y"].value) == (-1.0, -2.0) and (c["start_x"].value, c["start_y"].value) == start
    ui.click_target.value = "goal"
    ui.click(-2.5, -1.5)
    assert (c["goal_x"].value, c["goal_y"].value) == (-2.5, -1.5)
    ui.click_target.value = "start"
    ui.click(-3.5, 1.0)
    assert (c["start_x"].value, c["start_y"].value) == (-3.5, 1.0)


def test_a_click_inside_the_wall_shows_the_wall_message_and_recovers():
    ui = task_explorer()
    r = ui.click(0.0, 3.0)
    assert (controls(ui)["start_x"].value, controls(ui)["start_y"].value) == (0.0, 3.0)
    assert r == {"valid": False, "message": "The start is inside the wall: move it into free space."}
    assert r["message"] in titles(ui)
    assert ui.click(-3.0, 3.0)["valid"] is True


def test_clicks_outside_the_arena_axes_or_on_a_widget_without_clicks_do_nothing(push_model, runs, result_tasks):
    from matplotlib.backend_bases import MouseEvent

    ui = push_explorer(push_model)
    n = ui.updates
    MouseEvent("button_press_event", ui.figure.canvas, 1, 1, button=1)._process()  # the figure's corner
    assert ui.updates == n
    r = ui.click(-2.0, -2.0, shift=True)  # a push has no goal: shift-click moves the start too
    assert (controls(ui)["start_x"].value, controls(ui)["start_y"].value) == (-2.0, -2.0) and r["valid"]
    assert r == compare_push(push_model, -2.0, -2.0, 0.0, 12, draw=False)
    with pytest.raises(ValueError, match="does not take clicks"):
        results_explorer(runs, result_tasks, CFG).click(0.0, 0.0)
    with pytest.raises(ValueError, match="cannot place 'goal'"):
        ui.place("goal", 1.0, 1.0)


def test_clicks_on_the_round_epsilon_and_cem_explorers(round_ui, eps_ui, cem_ui, eps_models, cem_models):
    drive(round_ui, **ROUND_DEFAULT)
    r = round_ui.click(-3.0, -2.0)
    assert_valid_round(r, 0)
    assert r == show_round(round_ui.fixed["snapshots"], 0, -3.0, -2.0, 0.0, 6, CFG, draw=False)
    ax_map = round_ui.view.click_axes[1]  # the push map is an arena too
    px, py = ax_map.transData.transform((-1.0, 1.0))
    from matplotlib.backend_bases import MouseEvent

    MouseEvent("button_press_event", round_ui.figure.canvas, px, py, button=1)._process()
    assert (controls(round_ui)["start_x"].value, controls(round_ui)["start_y"].value) == (-1.0, 1.0)

    drive(eps_ui, eps=0.1, **FREE_TASK)
    r = eps_ui.click(-2.0, -2.0, shift=True)
    assert r == show_epsilon(eps_models, 0.1, -3.0, 3.0, -2.0, -2.0, CHEAP_GBP, CFG, draw=False)

    drive(cem_ui, model="true dynamics", population=10, iterations=2, **FREE_TASK)
    r = cem_ui.click(-2.5, 2.5)
    assert_valid_cem(r, 10, 2)
    assert (controls(cem_ui)["start_x"].value, controls(cem_ui)["start_y"].value) == (-2.5, 2.5)
    drive(cem_ui, model="free space")
    legend = [t.get_text() for t in cem_ui.view.arena.ax.get_legend().get_texts()]
    assert legend == ["reality", "model (free space)", "start", "goal"]


def test_the_planner_explorer_shows_the_same_outcome_as_analysis_plan_one(plan_ui, expert_model):
    from gbp_utils import analysis

    for execution in (OPEN_LOOP, MPC):
        settings = {**CHEAP_PLAN, "start_x": -3.0, "start_y": 3.0, "goal_x": 3.0, "goal_y": 2.0, "horizon": 30,
                    "execution": execution}
        r = drive(plan_ui, **settings)
        config = GBPConfig(iterations=10, lr=0.1, restarts=2)
        _, _, outcome = analysis.plan_one(expert_model, config, torch.tensor([[-3.0, 3.0]]), torch.tensor([[3.0, 2.0]]),
                                          CFG, execution, horizon=30)
        assert {k: v for k, v in r.items() if k != "seconds"} == {"valid": True, **{
            k: v for k, v in outcome.items() if k != "seconds"}}


def test_the_iteration_slider_steps_through_the_plan_without_replanning(plan_ui, expert_model):
    settings = {**CHEAP_PLAN, "start_x": -3.0, "start_y": 3.0, "goal_x": 3.0, "goal_y": 2.0, "horizon": 30,
                "iterations": 40, "restarts": 3}
    drive(plan_ui, **settings)
    it = plan_ui.display_controls["iteration"]
    assert (it.min, it.max, it.value) == (0, 40, 40), "a new plan shows its last iteration"
    plan = plan_ui.drawing["plan"]
    assert plan.trace.shape == (41, 1, 30, 2)
    view = plan_ui.view
    line = view.arena.lines["plan model"]
    # the last iteration is the plan that was returned (and executed open-loop)
    assert line.get_xydata() == pytest.approx(plan.predicted_states[0].numpy(), abs=1e-5)
    real = view.arena.lines["plan real"].get_xydata()
    assert real == pytest.approx(plan_ui.drawing["reality"].numpy(), abs=1e-5)
    updates, redraws = plan_ui.updates, plan_ui.live.redraws
    it.value = 0
    assert plan_ui.updates == updates and plan_ui.live.redraws == redraws + 1, "a redraw, not a re-plan"
    with torch.no_grad():
        initial = rollout(expert_model, torch.tensor([[-3.0, 3.0]]), plan.trace[0])[0].numpy()
    assert line.get_xydata() == pytest.approx(initial, abs=1e-5)
    assert "iteration 0 of 40" in titles(plan_ui)[1]
    kept = plan_ui.drawing["iterations"]
    assert kept["kept"][0] == 0 and kept["kept"][-1] == kept["kept"][-1]
    assert all(a <= b for a, b in zip(kept["kept"], kept["kept"][1:])), "the kept iterate only moves forward"
    assert torch.equal(kept["actions"][-1], plan.actions[0])
    costs = kept["model_cost"]
    assert all(costs[i + 1] <= costs[i] + 1e-5 for i in range(40)), "GBP keeps its best iterate"
    assert "shown: iteration 0" in plan_ui.readout.value
    # a new plan with fewer iterations resizes the slider
    drive(plan_ui, iterations=10)
    assert (it.max, it.value) == (10, 10)


def test_the_planner_explorer_traces_its_first_plan_only_and_plans_like_plan_one(expert_model):
    from gbp_utils import analysis
    from gbp_utils.planners import GBPPlanner
    from gbp_utils.widgets import _plan_data

    start, goal = torch.tensor([[-3.0, 3.0]]), torch.tensor([[3.0, 2.0]])
    config = GBPConfig(iterations=20, restarts=3)
    calls = []
    original = GBPPlanner.__call__
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GBPPlanner, "__call__", lambda self, *a, **k: calls.append(k.get("trace")) or original(self, *a, **k))
        for execution in (OPEN_LOOP, MPC):
            calls.clear()
            out, drawing = _plan_data(expert_model, -3.0, 3.0, 3.0, 2.0, math.log10(config.lr), config.iterations, 30,
                                      config.restarts, execution, config, CFG, trace=True)
            assert calls[0] is True and not any(calls[1:]), "only the first plan is traced"
            assert len(calls) == (1 if execution == OPEN_LOOP else math.ceil(30 / MPC.replan_every))
            plan = drawing["plan"]
            ep0, plan0, outcome0 = analysis.plan_one(expert_model, config, start, goal, CFG, execution, horizon=30)
            assert torch.equal(plan.actions, plan0.actions) and torch.equal(drawing["reality"], ep0.states[0])
            assert {k: v for k, v in out.items() if k not in ("seconds", "valid")} == {
                k: v for k, v in outcome0.items() if k != "seconds"}
            assert plan.trace.shape == (21, 1, 30, 2) and plan0.trace is None
            errors = (plan.trace[:, 0] - plan.actions[0]).abs().flatten(1).amax(1)
            assert float(errors.min()) < 1e-6, "the returned plan is one of the traced iterates"


def test_explore_plan_draws_the_last_iteration_statically(expert_model):
    plt.close("all")
    r = explore_plan(expert_model, **CHEAP_PLAN, gbp=GBP, wall=CFG)
    assert r["valid"] and len(plt.get_fignums()) == 1
    assert "iteration 10 of 10" in plt.gcf().axes[1].get_title()


def test_explorer_rejects_a_bad_click_mode():
    from gbp_utils.widgets import Explorer, _TaskView, _task_data

    with pytest.raises(ValueError, match="click must be None, 'start' or 'task'; got 'goal'"):
        Explorer(_task_data, _TaskView, {}, {"wall": CFG}, click="goal")


def test_planner_explorer_starts_at_the_given_gbp_budget(expert_model):
    light = GBPConfig(iterations=20, warm_iterations=10, restarts=4, lr=0.03)
    ui = planner_explorer(expert_model, light, MPC, CFG)
    c = controls(ui)
    assert (c["iterations"].value, c["restarts"].value, c["log10_lr"].value) == (20, 4, pytest.approx(-1.5))
    assert ui.display_controls["iteration"].value == 20 and ui.result["wm_evals"] > 0
    with pytest.raises(ValueError, match="iterations in \\[0, 300\\]"):
        planner_explorer(expert_model, GBPConfig(iterations=500), MPC, CFG)


def test_live_figures_keep_titles_where_automatic_placement_puts_them(plan_ui):
    """A live figure's titles are pinned at the top of their axes (matplotlib then skips measuring every tick
    label at each redraw to place them) and sit exactly where automatic placement puts them."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from gbp_utils import widgets
    for ui in (task_explorer(CFG), plan_ui):
        auto = widgets._LiveFigureArtist(figsize=ui.view.figsize)  # the live figures' text, automatic titles
        FigureCanvasAgg(auto)
        with matplotlib.rc_context(widgets._LIVE_TEXT):
            type(ui.view)(auto, wall=CFG).update(ui.drawing)
        ui.figure.canvas.draw()
        auto.canvas.draw()
        assert [ax._autotitlepos for ax in ui.figure.axes] == [False] * len(ui.figure.axes)
        assert [ax._autotitlepos for ax in auto.axes] == [True] * len(auto.axes)
        for pinned, placed in zip(ui.figure.axes, auto.axes):
            assert pinned.get_title() == placed.get_title() != ""
            assert pinned.title.get_window_extent().bounds == pytest.approx(placed.title.get_window_extent().bounds)


def test_explorer_figures_keep_their_text_inside_the_figure_and_apart(push_model, plan_ui, round_ui, eps_ui, cem_ui,
                                                                      results_ui):
    """Nothing cut off at the figure's edge (the page shows the figure as drawn), no two labels touching."""
    for ui in (task_explorer(CFG), data_explorer(CFG), push_explorer(push_model, CFG), plan_ui, round_ui, eps_ui,
               cem_ui, results_ui, observation_explorer(CFG, size=32)):
        assert text_problems(ui.figure) == [], type(ui.view).__name__


def test_live_figures_draw_their_text_unhinted_and_other_figures_keep_the_default():
    """Live figures rasterise text without hinting (cheaper at every redraw), in layout and in drawing alike;
    the setting does not leak to other figures."""
    import matplotlib
    from matplotlib.backends import backend_agg

    seen = []
    draw_text = backend_agg.RendererAgg.draw_text

    def spy(self, *args, **kwargs):
        seen.append(matplotlib.rcParams["text.hinting"])
        return draw_text(self, *args, **kwargs)

    ui = task_explorer(CFG)
    default = matplotlib.rcParams["text.hinting"]
    assert default != "no_hinting"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend_agg.RendererAgg, "draw_text", spy)
        ui.figure.canvas.draw()
        assert seen and set(seen) == {"no_hinting"}
        seen.clear()
        other = plt.figure()
        other.gca().set_title("a static figure")
        other.canvas.draw()
        assert seen and set(seen) == {default}
    assert matplotlib.rcParams["text.hinting"] == default
