"""Tests for gbp_utils.widgets, driven through the controls of each ipywidgets UI."""

import math

import matplotlib.pyplot as plt
import pytest
from helpers import _PENDING, drive
import torch

from gbp_utils.data import DataConfig, concat, generate
from gbp_utils.env import WallConfig
from gbp_utils.widgets import (
    compare_push,
    controls,
    data_explorer,
    explore_data,
    push_explorer,
    show_task,
    task_explorer,
)
from gbp_utils.world_model import TrainConfig, WorldModelConfig, rollout, train_world_model

CFG = WallConfig()
WL, WR, H = CFG.wall_left, CFG.wall_right, CFG.half_size
TASK_KEYS = {"valid", "straight_blocked", "oracle_success", "straight_success", "shortest_path_length",
             "straight_ends_at_wall"}
BOOL_KEYS = TASK_KEYS - {"shortest_path_length"}


@pytest.fixture(scope="module")
def model():
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
    assert plt.get_fignums(), "nothing was drawn"


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
    seen = 0
    for name, w in sliders(ui).items():
        assert (w.min, w.max) == (-H, H)
        for value in (w.min, w.max):
            point = {**defaults, name: value}
            r = drive(ui, **point)
            assert_valid_task_result(r, (point["start_x"], point["start_y"]), (point["goal_x"], point["goal_y"]))
            assert r["oracle_success"], point
            seen += 1
        drive(ui, **{name: defaults[name]})
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
def test_push_toward_the_wall_far_from_the_door_stops_on_the_face(model):
    ui = push_explorer(model)
    r = drive(ui, start_x=-3.0, start_y=3.0, angle_deg=0.0, n_steps=12)
    assert r["valid"] is True
    assert r["real_final"][0] == torch.tensor(WL).item() and r["real_final"][1] == 3.0
    assert r["final_error"] == pytest.approx(math.dist(r["real_final"], r["model_final"]), abs=1e-5)
    assert isinstance(r["model_passes_wall"], bool)
    # From the right side, pushing left (180 degrees) stops on the right face.
    r = drive(ui, start_x=3.0, angle_deg=180.0)
    assert r["real_final"][0] == torch.tensor(WR).item()
    assert r["real_final"][1] == pytest.approx(3.0, abs=1e-5)


def test_push_model_final_is_the_model_rollout(model):
    r = drive(push_explorer(model), start_x=-2.0, start_y=-3.0, angle_deg=45.0, n_steps=6)
    actions = torch.full((1, 6, 2), CFG.max_step)
    with torch.no_grad():
        expected = rollout(model, torch.tensor([[-2.0, -3.0]]), actions)[0, -1]
    assert r["model_final"] == pytest.approx(expected.tolist(), abs=1e-5)
    # Diagonal push: the real agent hits the face after 3.6 units (x: -2 -> -0.2) and stops there.
    assert r["real_final"] == pytest.approx([WL, -1.2], abs=1e-5)


def test_push_slider_extremes(model):
    ui = push_explorer(model)
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


def test_push_from_inside_the_wall_is_reported(model):
    r = drive(push_explorer(model), start_x=0.0, start_y=3.0)
    assert r == {"valid": False, "message": "The start is inside the wall: move it into free space."}


def test_push_along_the_top_border_stops_on_the_face(model):
    r = compare_push(model, -3.0, H, 0.0, 12, draw=False)
    assert r["real_final"] == pytest.approx([WL, H], abs=1e-6)
