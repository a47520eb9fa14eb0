"""Notebook 10's study: the series' presets in the harder worlds (``Presets.in_world``, ``worlds.WorldDataConfig``)
and the study over worlds x models x planners with its ceiling and oracle (``harder``)."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import fake_outcomes, micro_presets

import gbp_utils
from gbp_utils import data as D
from gbp_utils import final_evaluation as FE
from gbp_utils import harder
from gbp_utils.layouts import LayoutConfig
from gbp_utils.momentum import MomentumConfig
from gbp_utils.worlds import World, WorldDataConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def micro():
    """Models of every kind in every world and a study in seconds (``helpers.micro_presets``)."""
    return micro_presets(seeds=(0, 1))


def test_in_world_keeps_every_setting_and_moves_data_tasks_and_inits():
    P = gbp_utils.presets(fast=False)
    ws = harder.worlds(P)
    assert list(ws) == ["momentum", "layouts", "two walls"]
    M, L = P.in_world(ws["momentum"]), P.in_world(ws["layouts"])
    for Q, w in ((M, ws["momentum"]), (L, ws["layouts"])):
        assert Q.world is w and P.world is None
        assert isinstance(Q.expert_data, WorldDataConfig) and Q.expert_data.world is w
        assert dataclasses.replace(Q.expert_data) != P.expert_data
        assert {f: getattr(Q.expert_data, f) for f in ("n_episodes", "seed", "noise_std")} == \
            {f: getattr(P.expert_data, f) for f in ("n_episodes", "seed", "noise_std")}
        assert (Q.model, Q.train, Q.online, Q.adversarial_only, Q.seeds) == (P.model, P.train, P.online,
                                                                               P.adversarial_only, P.seeds)
        t = Q.test_tasks(5)
        assert t.starts.shape == (5, w.state_dim) and torch.equal(t.starts, w.sample_tasks(P.tasks.test, 0, "test").starts[:5])
    # accelerations cannot follow waypoint moves: momentum plans start from noise / standing still
    assert (M.gbp.init, M.final_planners["Adam"].init, M.final_planners["CEM"].init) == ("gaussian", "gaussian", "zeros")
    assert dataclasses.replace(M.final_planners["CEM"], init="waypoints") == P.final_planners["CEM"]
    assert all(spec[0].init in ("gaussian", "zeros") for spec in M.final_budgets.values())
    assert (M.pessimism.widget_cem.init, M.gbp_explorer.init) == ("zeros", "gaussian")  # the widgets' planners too
    assert M.online == P.online and M.wall is P.wall  # nothing else changes
    assert L.final_planners == P.final_planners and L.gbp == P.gbp  # layout actions are moves: unchanged
    S = M.for_seed(2)
    assert S.world is M.world and S.expert_data.seed == P.expert_data.seed + 2 and isinstance(S.expert_data, WorldDataConfig)
    with pytest.raises(ValueError, match="already live in the momentum world"):
        M.in_world(ws["layouts"])
    with pytest.raises(TypeError, match="takes a worlds.World"):
        P.in_world("momentum")
    with pytest.raises(ValueError, match="world must be one of"):
        harder.world_presets(P, "ice")


def test_world_data_configs_cache_apart_and_say_what_they_are():
    w = World(layouts=LayoutConfig())
    point = D.DataConfig(n_episodes=20, seed=4)
    cfg = WorldDataConfig.of(point, w)
    assert D.dataset_path(cfg) != D.dataset_path(point)
    ds = D.get_dataset(cfg)
    assert ds.states.shape == (20, 31, 4) and torch.equal(ds.states, w.expert_data(20, 4).states)
    assert torch.equal(D.get_dataset(cfg).states, ds.states)  # cached
    with pytest.raises(ValueError, match="pass its worlds.WorldDataConfig"):
        D.load_dataset(D.dataset_path(cfg))
    with pytest.raises(ValueError, match="must be its world's wall"):
        WorldDataConfig(world=w, wall=dataclasses.replace(w.wall, door_width=1.0))
    play = D.get_dataset(WorldDataConfig.of(dataclasses.replace(point, kind="play"), World(momentum=MomentumConfig())))
    assert play.goals is None and play.states.shape == (20, 31, 4) and (play.states[:, 0, 2:] == 0).all()


def test_world_models_learn_each_worlds_state(micro):
    for name, dim in (("momentum", 4), ("two walls", 6)):
        models = harder.world_models(micro, name, 0, kinds=("base", "online"))
        assert [m.state_dim for m in models.values()] == [dim, dim]
        again = harder.world_models(micro, name, 0, kinds=("base",))["base"]
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), models["base"].state_dict().values()))


def test_the_study_runs_every_world_model_and_planner_and_writes_its_tables(micro):
    df, out = harder.run_study(micro, names=["momentum", "layouts"], seeds=(0,), n_tasks=6, kinds=("base",),
                               progress=False)
    assert list(df.columns) == harder.COLUMNS and list(out.columns) == harder.OUTCOME_COLUMNS
    learned = df[df.model == "base"]
    assert sorted(learned.planner.unique()) == sorted(harder.study_planners(micro))
    assert len(learned) == 2 * 4 and len(df) == 2 * (4 + 2) and len(out) == 6 * len(df)
    refs = df[df.model == FE.REFERENCE].set_index(["world", "planner"])
    assert (refs.xs(harder.ORACLE, level="planner").success_rate == 1.0).all()  # the oracle solves every task
    assert (refs.wm_evals_per_task.xs(harder.ORACLE, level="planner") == 0).all()
    assert (learned.wm_evals_per_task > 0).all()
    agg = out.groupby(["world", "model", "planner"]).success.mean()
    assert all(abs(agg[(r.world, r.model, r.planner)] - r.success_rate) < 1e-9 for r in df.itertuples())
    assert harder.load_results().shape == df.shape and harder.load_outcomes().shape == out.shape
    only, _ = harder.run_study(micro, names=["momentum"], seeds=(1,), n_tasks=6, kinds=("base",), progress=False,
                               write=False, references=False)  # what a cache job of a later seed computes
    assert set(only.model) == {"base"} and set(only.seed) == {1}
    with pytest.raises(ValueError, match="split must be 'test'"):
        harder.run_study(micro, split="tune", progress=False)


def test_point_world_rows_are_notebook_08s_same_models_and_planners():
    results = FE.load_results(ROOT / "data" / "results" / "final_evaluation.csv")
    outcomes = FE.load_outcomes(ROOT / "data" / "results" / "final_outcomes.csv.gz")
    rows, outs = harder.point_world_rows(results, outcomes)
    assert list(rows.columns) == harder.COLUMNS and set(rows.world) == {"point"}
    assert len(rows) == len(harder.KINDS) * 4 * 3  # kinds x (Adam, CEM) x (open loop, MPC) x seeds
    assert set(rows.model) == set(harder.KINDS)
    assert len(outs) == len(rows) * 300
    pd.testing.assert_frame_equal(
        rows.drop(columns="world").reset_index(drop=True),
        results[results.model.isin(harder.KINDS) & results.planner.isin(rows.planner.unique())].reset_index(drop=True))


def test_harder_presets_check_their_worlds():
    with pytest.raises(ValueError, match="one-wall world"):
        harder.HarderPresets(layouts=LayoutConfig(second_wall_x=2.0))
    with pytest.raises(ValueError, match="needs a second_wall_x"):
        harder.HarderPresets(two_walls=LayoutConfig())


# --------------------------------------------------------------------------------------------
# The world explorer (notebook 10's widget)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def explorer_inputs(micro):
    from gbp_utils.env import TrueDynamicsModel
    ws = harder.worlds(micro)
    models = {n: {"base": harder.world_models(micro, n, 0, kinds=("base",))["base"],
                  "true dynamics": TrueDynamicsModel(env=w.env)} for n, w in ws.items()}
    tasks = {n: micro.in_world(w).eval_tasks(6) for n, w in ws.items()}
    configs = {n: {"CEM": micro.in_world(w).final_planners["CEM"]} for n, w in ws.items()}
    return ws, models, tasks, configs


def test_world_explorer_follows_its_controls_and_draws_each_tasks_walls(explorer_inputs):
    from helpers import drive

    from gbp_utils import widgets
    ws, models, tasks, configs = explorer_inputs
    ui = widgets.world_explorer(ws, models, tasks, configs)
    seen = {}
    for world in ws:
        for task in (0, 3):
            r = drive(ui, world=world, task=task, model="base")
            assert (r["world"], r["task"], r["model"]) == (world, task, "base")
            direct = widgets.show_world(world, "base", "CEM", task, ws, models, tasks, configs, draw=False)
            assert direct == r  # the plain function is the widget's callback
            start = tasks[world].starts[task]
            assert ui.drawing["start"].tolist() == start[:2].tolist()
            walls = sorted(ui.drawing["walls"])
            if world == "momentum":
                assert walls == sorted(tuple(b) for b in ws[world].wall.wall_boxes())
            else:  # the task's own doors: the gap in the first wall is this task's door
                lay = ws[world].layouts_of(start[None])
                x0 = ws[world].wall.wall_x - ws[world].wall.wall_thickness / 2
                below, above = sorted((b for b in walls if abs(b[0] - x0) < 1e-6), key=lambda b: b[2])
                assert (below[3], above[2]) == pytest.approx((float(lay.door_low[0, 0]), float(lay.door_high[0, 0])))
                assert len(walls) == 2 * ws[world].n_walls
            seen[(world, task)] = r["final_distance"]
    assert len(set(seen.values())) == len(seen)  # every world and task is its own plan
    truth = drive(ui, world="layouts", task=2, model="true dynamics")
    assert truth["model_final_distance"] == pytest.approx(truth["final_distance"], abs=1e-5)  # no gap on the truth
    assert truth["plan_drift"] == pytest.approx(0.0, abs=1e-5)


def test_world_explorer_rejects_inconsistent_inputs(explorer_inputs):
    from gbp_utils import widgets
    ws, models, tasks, configs = explorer_inputs
    with pytest.raises(ValueError, match=r"tasks has nothing for the world\(s\) \['two walls'\]"):
        widgets.world_explorer(ws, models, {k: v for k, v in tasks.items() if k != "two walls"}, configs)
    with pytest.raises(ValueError, match="same model kinds"):
        widgets.world_explorer(ws, {**models, "layouts": {"base": models["layouts"]["base"]}}, tasks, configs)
    with pytest.raises(ValueError, match="planner must be one of"):
        widgets.show_world("layouts", "base", "GBP", 0, ws, models, tasks, configs, draw=False)
    with pytest.raises(ValueError, match=r"task must be in \[0, 5\]"):
        widgets.show_world("layouts", "base", "CEM", 6, ws, models, tasks, configs, draw=False)


def _fake_outcomes(rates: dict, worlds=("point", "momentum"), n_tasks=200, seeds=(0, 1, 2)):
    """Per-task outcomes with the given success rate per (world, model, planner) (default 0.3)."""
    return fake_outcomes(rates, worlds, "world", n_tasks, seeds)


def test_world_verdicts_decide_each_conclusion_within_its_world():
    out = _fake_outcomes({("point", "online", "Adam MPC"): 0.8, ("momentum", "online", "Adam MPC"): 0.1,
                          ("momentum", "online + adversarial", "CEM MPC"): 0.9})
    v = harder.world_verdicts(out, n_boot=500).set_index(["claim", "world"])
    assert len(v) == 2 * (3 * 4 + 2)
    assert v.loc[("online beats base (Adam MPC)", "point")].verdict == "supported"
    assert v.loc[("online beats base (Adam MPC)", "momentum")].verdict == "not supported"
    assert v.loc[("CEM beats Adam-GBP (online + adversarial, MPC)", "momentum")].verdict == "supported"
    assert v.loc[("adversarial beats base (CEM open-loop)", "point")].verdict == "undecided"  # equal rates
    assert v.loc[("online beats base (Adam MPC)", "point")].difference == pytest.approx(0.5, abs=0.06)
    # without the online + adversarial model: its claims go, and CEM meets Adam-GBP on the online model
    three = [c["claim"] for c in harder.study_claims(["Adam MPC", "CEM MPC"], ("base", "adversarial", "online"))]
    assert three == ["online beats base (Adam MPC)", "adversarial beats base (Adam MPC)",
                     "online beats base (CEM MPC)", "adversarial beats base (CEM MPC)",
                     "CEM beats Adam-GBP (base, MPC)", "CEM beats Adam-GBP (online, MPC)"]
    with pytest.raises(ValueError, match="lack \\['online'\\]"):
        harder.study_claims(["Adam MPC"], ("base", "adversarial"))


def test_side_by_side_has_one_rate_and_interval_per_world():
    out = _fake_outcomes({("momentum", "base", "CEM MPC"): 0.9})
    t = harder.side_by_side(out, n_boot=300)
    assert list(t.columns) == [f"{w} {c}" for w in ("point", "momentum") for c in ("success_rate", "low", "high")]
    assert len(t) == 16
    r = t.loc[("base", "CEM MPC")]
    assert r["momentum success_rate"] == pytest.approx(0.9, abs=0.04) and r["momentum low"] < 0.9 < r["momentum high"]
    assert r["point success_rate"] == pytest.approx(0.3, abs=0.05)


def test_the_readme_section_is_generated_from_the_study():
    from gbp_utils import results
    out = _fake_outcomes({("momentum", "online", "Adam MPC"): 0.9})
    md = results.harder_markdown(harder.side_by_side(out, n_boot=200), harder.world_verdicts(out, n_boot=200))
    lines = md.splitlines()
    assert lines[0] == "| model | planner | point % [95% CI] | momentum % [95% CI] |"
    assert len([line for line in lines if line.startswith("| online | Adam MPC |")]) == 1
    row = next(line for line in lines if line.startswith("| online beats base (Adam MPC) |"))
    assert row.split(" | ")[2].startswith("supported (+")
    text = f"intro\n{results.HARDER_BEGIN}\nold\n{results.HARDER_END}\nafter"
    assert results.render_readme(text, md, results.HARDER_BEGIN, results.HARDER_END).count("| online | Adam MPC |") == 1


def test_compute_table_reports_each_planners_cost_and_the_references_per_world():
    from gbp_utils import results as R
    rows = []
    for world, scale in (("point", 1.0), ("momentum", 2.0)):
        for kind in harder.KINDS:
            for planner, evals in (("Adam MPC", 1000), ("CEM MPC", 500)):
                for seed in (0, 1, 2):
                    rows.append({"world": world, "model": kind, "planner": planner, "seed": seed,
                                 "wm_evals_per_task": scale * evals + seed, "seconds_per_task": 0.01 * scale,
                                 "success_rate": 0.5})
    rows.append({"world": "momentum", "model": FE.REFERENCE, "planner": harder.CEILING, "seed": 0,
                 "wm_evals_per_task": 0, "seconds_per_task": 0.2, "success_rate": 0.9})
    rows.append({"world": "momentum", "model": FE.REFERENCE, "planner": harder.ORACLE, "seed": 0,
                 "wm_evals_per_task": 0, "seconds_per_task": 0.0, "success_rate": 1.0})
    t = harder.compute_table(pd.DataFrame(rows))
    assert t.loc["Adam MPC", ("point", "evals")] == 1001 and t.loc["Adam MPC", ("momentum", "evals")] == 2001
    assert t.loc["CEM MPC", ("momentum", "ms")] == pytest.approx(20.0)
    assert t.loc[harder.CEILING, ("momentum", "success")] == 0.9 and t.loc[harder.ORACLE, ("momentum", "success")] == 1.0
    assert ("point", "success") not in t.columns  # no reference rows given for the point world
    out = _fake_outcomes({})
    md = R.harder_markdown(harder.side_by_side(out, n_boot=100), harder.world_verdicts(out, n_boot=100), t)
    assert "| Adam MPC | 1,001 · 10 | 2,001 · 20 |" in md.splitlines()
    assert f"| {harder.CEILING} | – | 90.0% |" in md.splitlines()
    with pytest.raises(ValueError, match=r"no columns for the world\(s\) \['momentum'\]"):
        R.harder_markdown(harder.side_by_side(out, n_boot=100), harder.world_verdicts(out, n_boot=100),
                          harder.compute_table(pd.DataFrame(rows[:len(rows) // 2 - 1])))


def test_point_world_references_are_notebook_08s_ceiling():
    results = FE.load_results(ROOT / "data" / "results" / "final_evaluation.csv")
    ref = harder.point_world_references(results)
    assert list(ref.columns) == harder.COLUMNS and list(ref.planner) == [harder.CEILING] and set(ref.world) == {"point"}
    assert ref.success_rate.item() == results[results.planner == "true-dynamics planner"].success_rate.item()


def test_door_reading_tells_a_model_that_reads_the_door_from_one_that_does_not():
    from gbp_utils.env import TrueDynamicsModel
    for world in (World(layouts=LayoutConfig()), World(layouts=LayoutConfig(second_wall_x=2.5, door_center=(-2.5, 2.5)))):
        states = world.sample_tasks(40, 0).starts
        truth = harder.door_reading(TrueDynamicsModel(env=world.env), world, states)
        assert truth["door_passes"] == truth["wall_blocks"] == truth["both_right"] == 1.0
        assert truth["reality_both_right"] == 1.0  # the probe's own check
        ghost = harder.door_reading(lambda s, a: torch.cat([s[:, :2] + a, s[:, 2:]], -1), world, states)
        assert (ghost["door_passes"], ghost["wall_blocks"], ghost["both_right"]) == (1.0, 0.0, 0.0)  # walks through walls
        wall = harder.door_reading(lambda s, a: s, world, states)
        assert (wall["door_passes"], wall["wall_blocks"]) == (0.0, 1.0)  # never moves: a wall everywhere
    with pytest.raises(ValueError, match="door_reading needs a layout world"):
        harder.door_reading(None, World(momentum=MomentumConfig()), torch.zeros(3, 4))


def test_failure_modes_split_failures_into_false_promises_and_unpromised_ones():
    from types import SimpleNamespace

    from gbp_utils.env import TaskSet
    world = World(layouts=LayoutConfig())
    tasks = world.sample_tasks(4, 0)
    goals, starts = tasks.goals, tasks.starts
    real = torch.stack([goals[0], starts[1], starts[2], goals[3]])   # success, fail, fail, success
    plan = torch.stack([goals[0], goals[1], starts[2], starts[3]])   # promised, promised, not, not
    ep = SimpleNamespace(states=torch.stack([starts, real], 1), first_plan_states=torch.stack([starts, plan], 1),
                         final_states=real)
    f = harder.failure_modes(ep, TaskSet(starts, goals, "eval", 0), world)
    assert (f["success"], f["promised"], f["false_promise"], f["unpromised"]) == (0.5, 0.5, 0.25, 0.25)
    with pytest.raises(ValueError, match="needs a planner's episodes"):
        harder.failure_modes(SimpleNamespace(states=ep.states, first_plan_states=None), tasks, world)
