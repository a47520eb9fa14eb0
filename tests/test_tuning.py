"""Tests for gbp_utils.tuning: knobs, one pass of coordinate search (order, ties, bookkeeping), tuning a
planner on tune tasks through cached runs, and the presets' equal-budget grids."""

import dataclasses

import pytest
from helpers import FreeSpace
import torch

from gbp_utils import presets
from gbp_utils.env import WallConfig, sample_tasks, success
from gbp_utils.planners import GBPConfig
from gbp_utils.sampling import CEMConfig
from gbp_utils.tuning import FractionOf, Knob, coordinate_search, split_knob, tune_planner

CFG = WallConfig()


@dataclasses.dataclass(frozen=True)
class Point:
    x: int = 0
    y: int = 0


def peak_score(config) -> dict:
    """Highest at x = 2, y = 1; y's best does not depend on x."""
    return {"score": -(config.x - 2) ** 2 - (config.y - 1) ** 2}


def test_coordinate_search_walks_each_knob_once_from_the_held_config():
    knobs = (Knob("x", ({"x": 0}, {"x": 1}, {"x": 2})), Knob("y", ({"y": 0}, {"y": 1}, {"y": 2})))
    result = coordinate_search(Point(), knobs, peak_score)
    assert result.chosen == Point(2, 1) and result.n_candidates == 6
    assert [(r["knob"], r["value"], r["kept"]) for r in result.rows] == [
        ("x", "x=0", False), ("x", "x=1", False), ("x", "x=2", True),
        ("y", "y=0", False), ("y", "y=1", True), ("y", "y=2", False)]
    assert result.rows[4]["score"] == 0  # y is scored on top of the chosen x
    assert list(result.frame().columns) == ["knob", "value", "score", "kept"]


def test_ties_keep_the_held_config_and_a_missing_default_is_replaced():
    flat = lambda config: {"score": 1.0}  # noqa: E731
    knobs = (Knob("x", ({"x": 5}, {"x": 0}, {"x": 7})),)
    assert coordinate_search(Point(), knobs, flat).chosen == Point(0, 0)  # held config scored: it stays
    assert coordinate_search(Point(x=9), knobs, flat).chosen == Point(5, 0)  # not a candidate: the first best
    # success rates are float32 means: the same total count split differently over two models averages
    # to a number that differs in the last bits, e.g. 8 + 200 and 9 + 199 successes of 200: still a tie
    rate = lambda k: float(torch.tensor(k / 200, dtype=torch.float32))  # noqa: E731
    almost = lambda config: {"score": (rate(9) + rate(199)) / 2 if config.x == 5 else (rate(8) + rate(200)) / 2}  # noqa: E731
    assert (rate(9) + rate(199)) / 2 > (rate(8) + rate(200)) / 2
    assert coordinate_search(Point(x=0), knobs, almost).chosen == Point(0, 0)


def test_knob_values_may_depend_on_the_held_config_and_bad_knobs_are_rejected():
    half = Knob("y = x // 2", (lambda held: {"y": held.x // 2},), ("half of x",))
    result = coordinate_search(Point(x=4), (half,), peak_score)
    assert result.chosen == Point(4, 2) and result.rows[0]["value"] == "half of x"
    elites = FractionOf("elites", "population", 0.05)
    assert elites(CEMConfig(population=1000, elites=100)) == {"elites": 50} and elites(CEMConfig(population=10, elites=1)) == {"elites": 1}
    assert elites == FractionOf("elites", "population", 0.05)  # presets built twice compare equal
    with pytest.raises(ValueError, match="need labels"):
        Knob("f", (lambda held: {"x": 1},))
    with pytest.raises(ValueError, match="non-empty tuple of non-empty dicts"):
        Knob("empty", ())
    with pytest.raises(ValueError, match="2 labels for 1 values"):
        Knob("x", ({"x": 1},), ("a", "b"))
    with pytest.raises(ValueError, match=r"\{'z': 1\} are not fields of Point"):
        coordinate_search(Point(), (Knob("z", ({"z": 1},)),), peak_score)
    with pytest.raises(ValueError, match="at least one Knob"):
        coordinate_search(Point(), (), peak_score)


def test_split_knob_keeps_the_product_and_sets_extra_fields():
    knob = split_knob("pop x it", CEMConfig(population=300, iterations=10, elites=30), "population", "iterations",
                      factors=(1 / 3, 1, 10 / 3), extra=lambda n: {"elites": n // 10})
    assert [knob.fields(i, None) for i in range(3)] == [
        {"population": 100, "iterations": 30, "elites": 10}, {"population": 300, "iterations": 10, "elites": 30},
        {"population": 1000, "iterations": 3, "elites": 100}]
    assert [knob.label(i) for i in range(3)] == ["100 x 30", "300 x 10", "1000 x 3"]


def test_tune_planner_scores_mean_success_over_models_on_tune_tasks_only(data_dir):
    tasks = sample_tasks(6, 1, "tune", CFG)
    models = {"free space": FreeSpace(), "slow free space": FreeSpace(gain=0.5)}
    knobs = (Knob("iterations", ({"iterations": 0}, {"iterations": 15})),)
    result = tune_planner(models, GBPConfig(restarts=2, iterations=0, warm_iterations=1), knobs, tasks, CFG)
    for row in result.rows:
        assert set(row["scores"]) == set(models)
        assert row["score"] == pytest.approx(sum(row["scores"].values()) / 2)
        assert 0.0 <= row["score"] <= 1.0 and row["wm_evals"] > 0
    assert result.rows[1]["wm_evals"] > result.rows[0]["wm_evals"]
    from gbp_utils import experiments
    from gbp_utils.control import OPEN_LOOP
    again = experiments.run(models["free space"], result.chosen, tasks, OPEN_LOOP, CFG)  # the cached run
    kept = next(r for r in result.rows if r["kept"])
    assert kept["scores"]["free space"] == pytest.approx(success(again.final_states, tasks.goals, CFG).float().mean().item())
    with pytest.raises(ValueError, match="tune tasks only; got tasks of the 'eval' split"):
        tune_planner(models, GBPConfig(), knobs, sample_tasks(3, 0, "eval", CFG), CFG)


@pytest.mark.parametrize("fast", [False, True])
def test_every_planner_family_gets_the_same_tuning_budget(fast):
    P = presets(fast)
    budgets = {family: [len(k.values) for k in knobs] for family, (_, knobs) in P.tuning.items()}
    assert set(budgets) == {"Adam-GBP", "GD-GBP", "CEM"}
    assert len({sum(b) for b in budgets.values()}) == 1 and len({len(b) for b in budgets.values()}) == 1
    start, knobs = P.tuning["Adam-GBP"]
    assert start == P.gbp and P.tuning["CEM"][0] == P.cem and P.tuning["GD-GBP"][0].optimizer == "gd"
    for family, (start, knobs) in P.tuning.items():
        for knob in knobs:  # every value is a valid config of the family
            for i in range(len(knob.values)):
                dataclasses.replace(start, **knob.fields(i, start))
    noise = next(k for k in P.tuning["Adam-GBP"][1] if k.name.startswith("noise_std"))
    assert {"noise_std": 0.003} in noise.values  # the paper's value is among the candidates
