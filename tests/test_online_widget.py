"""Tests for the round explorer of notebook 05 (gbp_utils.widgets.online_round_explorer / show_round /
push_map), driven through the controls of the ipywidgets UI as a reader would."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from helpers import FreeSpace, drive
from torch import nn

from gbp_utils.data import DataConfig, concat, generate
from gbp_utils.env import WallConfig, WallEnv
from gbp_utils.widgets import controls, online_round_explorer, push_map, show_round
from gbp_utils.world_model import TrainConfig, WorldModelConfig, train_world_model

CFG = WallConfig()
H_ARENA = CFG.half_size
RESULT_KEYS = {"valid", "round", "real_final", "model_final", "final_error", "model_passes_wall", "leak_fraction",
               "wall_error", "free_error", "n_blocked"}
# Every test sets all of these, so tests do not depend on each other's order.
DEFAULT = dict(round=0, start_x=-2.0, start_y=3.0, angle_deg=0.0, n_steps=6)


class TrueDynamics(nn.Module):
    """The real environment as a "world model": a perfect model leaks nowhere."""

    def __init__(self, config):
        super().__init__()
        self.env = WallEnv(config)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, s, a):
        return self.env.step(s, a) + 0 * self.dummy


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
    return [m0, m1, TrueDynamics(CFG)]


@pytest.fixture(scope="module")
def ui(snapshots):
    return online_round_explorer(snapshots, CFG)


def assert_valid(r, round_):
    assert set(r) == RESULT_KEYS and r["valid"] is True and r["round"] == round_
    assert isinstance(r["model_passes_wall"], bool)
    assert 0.0 <= r["leak_fraction"] <= 1.0 and r["n_blocked"] > 0
    for key in ("final_error", "wall_error", "free_error"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] >= 0, key
    assert len(r["real_final"]) == len(r["model_final"]) == 2
    assert r["final_error"] == pytest.approx(math.dist(r["real_final"], r["model_final"]), abs=1e-3)


# --------------------------------------------------------------------------------------------
def test_default_ui_shows_round_0(ui, snapshots):
    r = ui.result  # computed when the UI is built
    assert_valid(r, 0)
    c = controls(ui)
    assert {"round", "start_x", "start_y", "angle_deg", "n_steps"} <= set(c)
    assert (c["round"].min, c["round"].max) == (0, len(snapshots) - 1)


def test_moving_the_round_slider_redraws_with_that_model(ui):
    results = []
    for round_ in (0, 1, 2):
        r = drive(ui, **{**DEFAULT, "round": round_})
        assert_valid(r, round_)
        assert plt.get_fignums(), "nothing was drawn"
        results.append(r)
    # the same push is scored against the same reality; only the model changes
    assert all(r["real_final"] == results[0]["real_final"] for r in results)
    assert results[0]["leak_fraction"] > 0.5, "a model that never saw the wall lets most blocked pushes through"
    assert results[1]["leak_fraction"] < results[0]["leak_fraction"], "wall data shrink the leaks"
    assert results[2]["leak_fraction"] == 0.0 and results[2]["final_error"] == pytest.approx(0.0, abs=1e-6)


def test_every_slider_at_its_extremes(ui, snapshots):
    sliders = {name: w for name, w in controls(ui).items() if hasattr(w, "min")}
    assert set(sliders) == {"round", "start_x", "start_y", "angle_deg", "n_steps"}
    assert (sliders["start_x"].min, sliders["start_x"].max) == (-H_ARENA, H_ARENA)
    assert (sliders["angle_deg"].min, sliders["angle_deg"].max) == (-180.0, 180.0)
    assert (sliders["n_steps"].min, sliders["n_steps"].max) == (1, CFG.max_steps)
    seen = 0
    for name, w in sliders.items():
        for value in (w.min, w.max):
            settings = {**DEFAULT, name: value}
            r = drive(ui, **settings)
            assert_valid(r, settings["round"])
            seen += 1
    assert seen == 10
    # corners of the arena and the longest push, on the last (perfect) model
    for x, y in ((-H_ARENA, -H_ARENA), (H_ARENA, H_ARENA), (-H_ARENA, H_ARENA)):
        r = drive(ui, **{**DEFAULT, "round": len(snapshots) - 1, "start_x": x, "start_y": y,
                         "n_steps": CFG.max_steps})
        assert_valid(r, len(snapshots) - 1)
        assert all(abs(v) <= H_ARENA + 1e-5 for v in r["real_final"])


@pytest.mark.parametrize("start", [(0.0, 3.0), (0.1, -4.0)])
def test_start_inside_the_wall_is_rejected(ui, start):
    r = drive(ui, **{**DEFAULT, "start_x": start[0], "start_y": start[1]})
    assert r["valid"] is False and "inside the wall" in r["message"]
    assert plt.get_fignums(), "the message should be drawn"
    assert drive(ui, **DEFAULT)["valid"] is True  # moving back into free space recovers


def test_push_toward_the_wall_in_the_base_model_passes_through(snapshots):
    r = show_round(snapshots, 0, -1.0, 3.0, 0.0, 6, CFG, draw=False)
    assert r["valid"] and r["real_final"][0] == pytest.approx(CFG.wall_left)  # stopped on the wall face
    assert r["model_passes_wall"] is True and r["final_error"] > 1.0


def test_push_map_of_the_true_dynamics_is_exact_and_free_space_leaks():
    true = push_map(TrueDynamics(CFG), 0.0, 6, CFG, resolution=21)
    err = true["error"]
    assert err.shape == (21, 21) and true["grid_xy"].shape == (21, 21, 2)
    assert torch.isnan(err).any(), "grid points inside the wall have no value"
    assert torch.nan_to_num(err).abs().max() < 1e-5 and true["leak_fraction"] == 0.0
    free = push_map(FreeSpace(), 0.0, 6, CFG, resolution=21)
    assert free["leak_fraction"] > 0.5 and free["wall_error"] > free["free_error"]
    assert (free["leaks"] <= free["blocked"]).all(), "only blocked pushes can leak"
    assert free["n_blocked"] == true["n_blocked"] == int(true["blocked"].sum())


def test_draw_false_draws_nothing_and_bad_round_is_rejected(snapshots):
    plt.close("all")
    r = show_round(snapshots, 1, -2.0, 3.0, 45.0, 4, CFG, draw=False)
    assert_valid(r, 1)
    assert not plt.get_fignums()
    for bad in (-1, len(snapshots)):
        with pytest.raises(ValueError, match="round must be in"):
            show_round(snapshots, bad, -2.0, 3.0, 0.0, 4, CFG, draw=False)
    with pytest.raises(ValueError, match="at least one model"):
        online_round_explorer([], CFG)
