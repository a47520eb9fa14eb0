"""Notebook 11's study: members of every kind, matched compute, tuning choices, the test runs and their
CSV, the disagreement-vs-error map, over-pessimism statistics and the beta widget."""

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from helpers import micro_presets, text_problems, tiny_world_model
from test_ensemble import _split_member

import gbp_utils
from gbp_utils import pessimism as PS
from gbp_utils import results, stats, widgets
from gbp_utils.ensemble import EnsembleWorldModel
from gbp_utils.env import TaskSet, WallConfig
from gbp_utils.planners import GBPConfig, make_planner
from gbp_utils.sampling import CEMConfig


@pytest.fixture
def micro():
    """Members of every kind and a whole study in seconds (``helpers.micro_presets``)."""
    return micro_presets()


def test_scaled_planner_matches_an_ensembles_compute():
    model = tiny_world_model(seed=2)
    starts, goals = torch.zeros(2, 2), torch.ones(2, 2)
    M, H = 3, 6
    # the only difference: the ensemble pays M evaluations for the steps a planner takes once per plan (the
    # returned plan's rollout; CEM's final mean too)
    for config, once in ((GBPConfig(restarts=2, iterations=4, warm_iterations=1), 1),
                         (CEMConfig(population=20, elites=4, iterations=3), 2)):
        single = make_planner(model, PS.scaled_planner(config, M), 0.5)(starts, goals, H)
        ens = make_planner(EnsembleWorldModel.from_models([model] * M), config, 0.5)(starts, goals, H)
        evals = lambda p: p.wm_forward + 2 * p.wm_backward
        assert evals(ens) - evals(single) == once * (M - 1) * H
    assert PS.scaled_planner(GBPConfig(restarts=8), 5).restarts == 40
    c = PS.scaled_planner(CEMConfig(population=300, elites=15), 2)
    assert (c.population, c.elites) == (600, 30)
    with pytest.raises(ValueError, match="factor must be an integer >= 1"):
        PS.scaled_planner(GBPConfig(), 0)
    with pytest.raises(TypeError, match="GBPConfig or CEMConfig"):
        PS.scaled_planner(object(), 2)


def test_variant_names_and_the_four_variants():
    assert PS.variant_name("Adam MPC") == "Adam MPC"
    assert PS.variant_name("Adam MPC", budget=3) == "Adam MPC, 3x budget"
    assert PS.variant_name("CEM open-loop", 3) == "CEM open-loop, ensemble of 3"
    assert PS.variant_name("CEM MPC", 5, 0.3) == "CEM MPC, ensemble of 5, beta 0.3"
    with pytest.raises(ValueError, match="beta needs members >= 1"):
        PS.variant_name("Adam MPC", 0, 1.0)
    names = [v.name("Adam MPC") for v in PS.study_variants(3, 1.0)]
    assert names == ["Adam MPC", "Adam MPC, 3x budget", "Adam MPC, ensemble of 3", "Adam MPC, ensemble of 3, beta 1"]
    assert len(PS.study_variants(3, 0.0)) == 3  # beta 0: the pessimistic ensemble is the plain one


def _tune_frame(rows):
    return pd.DataFrame(rows, columns=["kind", "planner", "members", "beta", "success_rate"])


def test_choose_takes_the_best_and_breaks_ties_towards_less():
    stage1 = _tune_frame([("base", p, m, b, s) for p in ("Adam MPC", "CEM MPC") for m, b, s in
                          [(2, 0.0, 0.2), (2, 1.0, 0.4), (3, 0.0, 0.3), (3, 1.0, 0.5), (5, 0.0, 0.3), (5, 1.0, 0.5)]])
    stage2 = _tune_frame([("base", "Adam MPC", 3, 0.0, 0.3), ("base", "Adam MPC", 3, 1.0, 0.5),
                          ("base", "CEM MPC", 3, 0.0, 0.6), ("base", "CEM MPC", 3, 1.0, 0.6),
                          ("base", "CEM MPC", 2, 0.0, 0.1)])
    choice = PS.choose(stage1, stage2)
    assert choice.members == 3  # 3 and 5 tie at 0.5: the smaller ensemble
    assert choice.beta("base", "Adam") == 1.0
    assert choice.beta("base", "CEM") == 0.0  # a tie: no penalty
    with pytest.raises(KeyError):
        choice.beta("online", "Adam")


def test_rank_correlation():
    x = torch.arange(10.0)
    assert PS.rank_correlation(x, x ** 3) == pytest.approx(1.0)
    assert PS.rank_correlation(x, -x) == pytest.approx(-1.0)
    y = torch.tensor([1.0, float("nan"), 3.0, 2.0, 5.0])
    assert PS.rank_correlation(torch.arange(5.0), y) == pytest.approx(0.8)  # the nan pair is dropped
    with pytest.raises(ValueError, match="at least 3 finite pairs"):
        PS.rank_correlation(torch.ones(2), torch.ones(2))


def test_disagreement_map_of_a_known_field():
    wall = WallConfig()
    ens = EnsembleWorldModel.from_models([_split_member(+1), _split_member(-1)])
    out = PS.disagreement_vs_error(ens, wall, angle_deg=0.0, resolution=21)
    d, grid = out["disagreement"], out["grid_xy"]
    free = torch.isfinite(out["error"])
    assert torch.equal(torch.isfinite(d), free) and not free.all()  # nan inside the wall only
    torch.testing.assert_close(d[free], 0.5 * grid[..., 0][free].clamp(min=0), atol=1e-5, rtol=0)
    assert 0 <= out["top_overlap"] <= 1 and -1 <= out["rank_correlation"] <= 1
    # the members disagree most at the right border (0.5 x), never at the wall's left face the push meets
    assert out["top_disagreement_at_border"] == 1.0 and out["top_disagreement_at_face"] == 0.0
    assert 0 <= out["top_error_at_face"] <= 1 and 0 <= out["top_error_at_border"] <= 1
    grid11, field = PS.disagreement_field(ens, wall, resolution=11)  # the disputed term ignores the action
    assert field.shape == (11, 11) and float(field[5, -1]) == pytest.approx(0.5 * wall.half_size, abs=1e-4)
    assert float(field[5, 0]) == pytest.approx(0.0, abs=1e-5) and torch.isnan(field[8, 5])  # left; (0, 3): the wall


def test_door_statistics_counts_who_dared():
    wall = WallConfig()
    tasks = TaskSet(torch.tensor([[-3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0]]),
                    torch.tensor([[3.0, 3.0], [3.0, 3.0], [-1.0, -3.0]]), "eval", 0)
    through = torch.tensor([[-3.0, 3.0], [-1.0, 0.0], [1.0, 0.0], [3.0, 3.0]])  # through the door to the goal
    stuck = torch.tensor([[-3.0, 3.0], [-0.5, 3.0], [-0.5, 3.0], [-0.5, 3.0]])  # pressed against the wall
    direct = torch.tensor([[-3.0, -3.0], [-2.0, -3.0], [-1.5, -3.0], [-1.0, -3.0]])  # no wall in the way
    out = PS.door_statistics(SimpleNamespace(states=torch.stack([through, stuck, direct])), tasks, wall)
    assert out == {"n_door_tasks": 2, "dared": 0.5, "success": 0.5}


def test_members_of_every_kind(micro):
    base = [PS.member_model(micro, 0, "base", m).model for m in (0, 1)]
    adv = PS.member_model(micro, 0, "adversarial", 0).model
    online = PS.member_model(micro, 0, "online", 0)
    sd = lambda m: torch.cat([p.flatten() for p in m.state_dict().values()])
    assert not torch.equal(sd(base[0]), sd(base[1]))  # own seed, own resample
    assert not torch.equal(sd(adv), sd(base[0])) and not torch.equal(sd(online.model), sd(base[0]))
    assert online.history["collected_transitions"] == [micro.online.tasks_per_round * micro.wall.max_steps]
    again = PS.member_model(micro, 0, "adversarial", 0).model  # from the cache
    assert torch.equal(sd(again), sd(adv))
    ens = PS.ensemble_model(micro, 0, "base", 2, beta=0.5)
    assert ens.members == 2 and ens.beta == 0.5 and torch.equal(ens.member(1).inp[0].weight, base[1].inp[0].weight)
    with pytest.raises(ValueError, match="kind must be one of"):
        PS.member_model(micro, 0, "clean finetune", 0)


def test_study_writes_comparable_runs(micro, tmp_path):
    choice = PS.Choice(2, {(k, f): 0.5 for k in ("base",) for f in PS.FAMILIES})
    df, out = PS.run_study(micro, choice, seeds=(0, 1), n_tasks=3, kinds=("base",), progress=False)
    assert list(df.columns) == PS.COLUMNS
    assert len(df) == 2 * 4 * 4  # seeds x planners x variants
    assert set(df.planner) >= {"Adam MPC", "Adam MPC, 2x budget", "Adam MPC, ensemble of 2",
                               "CEM open-loop, ensemble of 2, beta 0.5"}
    loaded = PS.load_results()
    assert len(loaded) == len(df) and len(PS.load_outcomes()) == len(df) * 3
    rows = df[df.seed == 0].set_index("planner")
    for planner in PS.study_planners(micro):  # matched compute: M x the budget costs what the ensemble costs
        single, ens = rows.loc[f"{planner}, 2x budget"], rows.loc[f"{planner}, ensemble of 2"]
        # within 5% at these toy budgets (the once-per-plan rollouts weigh in); well under 1% at the real ones
        assert 0 <= ens.wm_evals_per_task - single.wm_evals_per_task <= 0.05 * ens.wm_evals_per_task
        assert (ens.members, ens.beta, ens.budget, single.budget) == (2, 0.0, 1, 2)
    verdicts = stats.paired_claims(out, PS.study_claims(micro, choice, kinds=("base",)), n_boot=200)
    assert len(verdicts) == 4 * 3 and set(verdicts.verdict) <= {"supported", "not supported", "undecided"}
    # notebook 11's bar chart: four bars per kind and planner, three where the chosen beta is 0
    summary = stats.crossed_summary(out, n_boot=200)
    bars = PS.variant_bars(summary, micro, choice, kinds=("base",))
    adam = bars["Adam MPC"]["base"]
    assert list(bars) == list(PS.study_planners(micro))
    assert list(adam) == ["single", "2x budget", "ensemble, beta 0", "ensemble, chosen beta"]
    pess = out[(out.model == "base") & (out.planner == "Adam MPC, ensemble of 2, beta 0.5")].success.mean()
    assert adam["ensemble, chosen beta"].success_rate == pytest.approx(pess)
    assert all(b.ci_low <= b.success_rate <= b.ci_high for b in adam.values())
    no_cem_penalty = PS.Choice(2, {("base", "Adam"): 0.5, ("base", "CEM"): 0.0})
    assert len(PS.variant_bars(summary, micro, no_cem_penalty, kinds=("base",))["CEM MPC"]["base"]) == 3
    with pytest.raises(ValueError, match="no row for 'base', 'Adam MPC'"):
        PS.variant_bars(summary[summary.planner != "Adam MPC"], micro, choice, kinds=("base",))
    # the README's section: the choice is read back from the CSV, one line per kind x planner
    assert PS.choice_from_results(df) == choice
    table = PS.study_table(out, df, n_boot=200)
    assert list(table.planner) == ["Adam open-loop", "Adam MPC", "CEM open-loop", "CEM MPC"]
    first = table.iloc[0]
    rate = out[(out.model == "base") & (out.planner == "Adam open-loop, ensemble of 2, beta 0.5")].success.mean()
    assert first.pessimistic == pytest.approx(rate) and first.members == 2 and first.beta == 0.5
    assert first["penalty vs budget verdict"] in {"supported", "not supported", "undecided"}
    text = results.pessimism_markdown(table)
    assert len(text.splitlines()) == 2 + 4 and "| base | Adam MPC | 2 · 0.5 |" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{results.PESSIMISM_BEGIN}\nold\n{results.PESSIMISM_END}\ny\n")
    assert results.render_readme(readme.read_text(), text, results.PESSIMISM_BEGIN, results.PESSIMISM_END).count("| base |") == 4


def test_choice_from_results_needs_one_ensemble_size():
    frame = lambda rows: pd.DataFrame(rows, columns=["model", "planner", "members", "beta"])
    with pytest.raises(ValueError, match="no ensemble rows"):
        PS.choice_from_results(frame([("base", "Adam MPC", 1, 0.0)]))
    with pytest.raises(ValueError, match=r"mix ensemble sizes \[2, 3\]"):
        PS.choice_from_results(frame([("base", "Adam MPC, ensemble of 2", 2, 0.0), ("base", "Adam MPC, ensemble of 3", 3, 0.0)]))
    c = PS.choice_from_results(frame([("base", "Adam MPC", 1, 0.0), ("base", "Adam MPC, ensemble of 3, beta 1", 3, 1.0),
                                      ("base", "CEM MPC, ensemble of 3", 3, 0.0)]))
    assert c == PS.Choice(3, {("base", "Adam"): 1.0, ("base", "CEM"): 0.0})


def test_tuning_runs_on_tune_tasks_only(micro):
    P = dataclasses.replace(micro, pessimism=gbp_utils.ensemble.PessimismPresets(members_grid=(1, 2), beta_grid=(0.0, 1.0),
                                                                                  tune_tasks=3))
    choice, stage1, stage2 = PS.tune(P, P.pessimism, kinds=("base",))
    assert len(stage1) == 2 * 2 * 2 and set(stage1.kind) == {"base"}  # MPC planners x sizes x betas
    assert set(stage2.members) == {choice.members} and choice.members in (1, 2)
    assert set(choice.betas) == {("base", "Adam"), ("base", "CEM")}


def test_pessimism_widget_steers_away_from_disagreement():
    ens = EnsembleWorldModel.from_models([_split_member(+1, c=1.0), _split_member(-1, c=1.0)])
    configs = {"GBP": GBPConfig(restarts=4, iterations=40, lr=0.1), "CEM": CEMConfig(population=60, elites=6, iterations=4)}
    ui = widgets.pessimism_explorer(ens, configs, start=(0.5, -2.0), goal=(0.5, 2.0))
    c = widgets.controls(ui)
    assert ui.result["valid"] and ui.result["beta"] == 0.0
    free = ui.result["plan_disagreement"]
    c["beta"].value = 3.0
    assert ui.result["beta"] == 3.0 and ui.result["plan_disagreement"] < 0.5 * free
    c["planner"].value = "CEM"
    assert ui.result["planner"] == "CEM" and ui.result["wm_evals"] > 0
    assert text_problems(ui.figure) == []  # the two-line step title fits; the colour bar's label clears the step panel
    c["start_x"].value = 0.0  # inside the wall
    assert ui.result == {"valid": False, "message": "The start is inside the wall: move it into free space."}
    with pytest.raises(ValueError, match="at least one planner config"):
        widgets.pessimism_explorer(ens, {})
    out = widgets.show_pessimism(ens, 1.0, "GBP", 0.5, -2.0, 0.5, 2.0, configs, draw=False)
    assert out["valid"] and out["plan_disagreement"] >= 0


def test_prefill_computes_what_the_notebook_then_loads(micro, data_dir):
    P = dataclasses.replace(micro, tasks=dataclasses.replace(micro.tasks, test=3),
                            pessimism=gbp_utils.ensemble.PessimismPresets(members_grid=(2,), beta_grid=(0.0, 1.0),
                                                                          tune_tasks=3, dev_tasks=3))
    n = PS.prefill(P, 0, kinds=("base",))
    choice = PS.tune(P, P.pessimism, ("base",))[0]
    assert n == len(PS.study_jobs(P, choice, ("base",))) > 0
    assert not PS.results_path().exists()  # a cache job writes no results
    files = set(data_dir.glob("*.pt"))
    PS.beta_sweep(P, ("base",), PS.SWEEP_PLANNER, choice.members, P.pessimism.beta_grid, 3)
    PS.run_study(P, choice, seeds=(0,), kinds=("base",), progress=False)
    assert set(data_dir.glob("*.pt")) == files  # everything the notebook runs was cached
