"""Tests for the GBP planner explorer of notebook 04 (gbp_utils.widgets.planner_explorer / explore_plan),
driven through the controls of the ipywidgets UI as a reader would."""

import math

import matplotlib.pyplot as plt
import pytest
from helpers import drive
import torch

from gbp_utils.data import DataConfig, generate
from gbp_utils.env import WallConfig
from gbp_utils.widgets import PLAN_MODES, controls, explore_plan, planner_explorer
from gbp_utils.world_model import TrainConfig, WorldModelConfig, train_world_model

CFG = WallConfig()
H_ARENA = CFG.half_size
RESULT_KEYS = {"valid", "success", "final_distance", "model_cost", "model_final_distance", "model_vs_real",
               "touched_wall", "stuck_at_wall", "n_plans", "n_steps", "wm_evals", "seconds"}
# Cheap settings for driving the UI: every test sets these explicitly, so tests do not depend on order.
CHEAP = dict(start_x=-4.0, start_y=-3.0, goal_x=-2.0, goal_y=-1.0, log10_lr=-1.0, iterations=10, horizon=10,
             restarts=2, mode="open-loop")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small expert-only world model, trained in well under a second (no cache involved)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        torch.manual_seed(0)
        train, val = generate(DataConfig(kind="expert", n_episodes=200)).split(0.1)
        return train_world_model(train, val, WorldModelConfig(hidden=32, n_blocks=1), TrainConfig(epochs=15),
                                 progress=False).model


@pytest.fixture(scope="module")
def ui(model):
    """One explorer shared by the tests; each test sets every control it relies on."""
    return planner_explorer(model, CFG)


def expected_evals(iterations, restarts, horizon):
    """Open-loop compute: (I+1)KH + H forward steps and IKH backward steps, backward counted twice."""
    return (iterations + 1) * restarts * horizon + horizon + 2 * iterations * restarts * horizon


def assert_valid(r, horizon):
    assert set(r) == RESULT_KEYS and r["valid"] is True
    for key in ("success", "touched_wall", "stuck_at_wall"):
        assert isinstance(r[key], bool), key
    for key in ("final_distance", "model_cost", "model_final_distance", "model_vs_real", "wm_evals", "seconds"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] >= 0, key
    assert r["n_steps"] == horizon
    assert r["success"] == (r["final_distance"] <= CFG.success_radius)
    # the model's belief, the real end and the goal form a triangle
    assert abs(r["final_distance"] - r["model_final_distance"]) <= r["model_vs_real"] + 1e-4


# --------------------------------------------------------------------------------------------
def test_default_settings_give_a_valid_open_loop_result(model):
    ui = planner_explorer(model, CFG)
    r = ui.result  # computed when the UI is built
    assert_valid(r, CFG.max_steps)
    c = controls(ui)
    assert c["mode"].value == "open-loop" and r["n_plans"] == 1
    assert r["wm_evals"] == expected_evals(c["iterations"].value, c["restarts"].value, c["horizon"].value)
    assert {"start_x", "start_y", "goal_x", "goal_y", "log10_lr", "iterations", "horizon", "restarts",
            "mode"} <= set(c)


def test_moving_a_control_replans_and_draws(ui):
    r = drive(ui, **CHEAP)
    assert_valid(r, CHEAP["horizon"])
    assert plt.get_fignums(), "nothing was drawn"
    assert r["wm_evals"] == expected_evals(CHEAP["iterations"], CHEAP["restarts"], CHEAP["horizon"])
    # open-loop executes the plan's own actions, so the model's belief is the plan's final distance
    assert r["model_final_distance"] == pytest.approx(r["model_cost"], abs=1e-3)


def test_short_same_side_task_is_solved(ui):
    """Start and goal on the same side, away from the wall: the model is right there and GBP works."""
    r = drive(ui, **CHEAP)
    assert r["success"] and not r["touched_wall"] and r["model_cost"] < CFG.success_radius


def test_mode_toggle_runs_mpc(ui):
    assert tuple(controls(ui)["mode"].options) == PLAN_MODES
    open_loop = drive(ui, **CHEAP)
    mpc = drive(ui, **{**CHEAP, "mode": "MPC"})
    assert_valid(mpc, CHEAP["horizon"])
    assert mpc["n_plans"] == math.ceil(CHEAP["horizon"] / 3)  # replanning every 3 steps
    assert mpc["wm_evals"] > open_loop["wm_evals"]
    assert mpc["model_cost"] == pytest.approx(open_loop["model_cost"])  # the first plan is the same plan
    back = drive(ui, **CHEAP)
    assert back["n_plans"] == 1 and back["final_distance"] == pytest.approx(open_loop["final_distance"])


@pytest.mark.parametrize("which, values", [
    ("start", dict(start_x=0.0, start_y=3.0)),
    ("start", dict(start_x=0.1, start_y=-4.0)),
    ("goal", dict(goal_x=0.0, goal_y=-3.0)),
])
def test_points_inside_the_wall_are_rejected(ui, which, values):
    r = drive(ui, **{**CHEAP, **values})
    assert r == {"valid": False, "message": f"The {which} is inside the wall: move it into free space."}
    assert plt.get_fignums(), "the message should be drawn"
    assert drive(ui, **CHEAP)["valid"] is True  # moving back into free space recovers


def test_every_slider_at_its_extremes(ui):
    c = controls(ui)
    sliders = {name: w for name, w in c.items() if hasattr(w, "min")}
    assert set(sliders) == {"start_x", "start_y", "goal_x", "goal_y", "log10_lr", "iterations", "horizon", "restarts"}
    for name in ("start_x", "start_y", "goal_x", "goal_y"):
        assert (sliders[name].min, sliders[name].max) == (-H_ARENA, H_ARENA)
    seen = 0
    for name, w in sliders.items():
        for value in (w.min, w.max):
            settings = {**CHEAP, name: value}
            r = drive(ui, **settings)
            assert_valid(r, settings["horizon"])
            if name in ("iterations", "restarts", "horizon"):
                assert r["wm_evals"] == expected_evals(settings["iterations"], settings["restarts"],
                                                       settings["horizon"])
            seen += 1
    assert seen == 16
    # iterations = 0: the best initial restart is returned as is; more iterations cannot do worse in the model
    r0 = drive(ui, **{**CHEAP, "iterations": 0})
    r10 = drive(ui, **CHEAP)
    assert r10["model_cost"] <= r0["model_cost"] + 1e-6


def test_explore_plan_is_deterministic_and_matches_the_ui(ui, model):
    args = {**CHEAP, "start_x": -3.0, "start_y": 3.0, "goal_x": 3.0, "goal_y": 2.0, "horizon": 30}  # blocked
    r_ui = drive(ui, **args)
    a = explore_plan(model, config=CFG, draw=False, **args)
    b = explore_plan(model, config=CFG, draw=False, **args)
    for key in RESULT_KEYS - {"seconds"}:
        assert a[key] == b[key] == r_ui[key], key


def test_draw_false_draws_nothing(model):
    plt.close("all")
    r = explore_plan(model, **{**CHEAP, "mode": "MPC"}, config=CFG, draw=False)
    assert r["valid"] and not plt.get_fignums()
    r = explore_plan(model, **{**CHEAP, "start_x": 0.0, "start_y": 3.0}, config=CFG, draw=False)
    assert r["valid"] is False and not plt.get_fignums()


def test_bad_mode_is_rejected(model):
    with pytest.raises(ValueError, match="mode must be one of"):
        explore_plan(model, **{**CHEAP, "mode": "closed-loop"}, config=CFG, draw=False)
