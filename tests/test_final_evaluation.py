"""Tests for gbp_utils.final_evaluation (notebook 08's table): FinalConfig, the models and reference
controllers of every seed, run_final_evaluation on tiny models, and the CSV it writes."""

import dataclasses
import math

import pandas as pd
import pytest
from helpers import tiny_world_model
import torch

import gbp_utils
from gbp_utils import cache, experiments, final_evaluation
from gbp_utils.control import OPEN_LOOP, Execution
from gbp_utils.env import TrueDynamicsModel
from gbp_utils.evaluation import evaluate
from gbp_utils.final_evaluation import (COLUMNS, MODELS, OUTCOME_COLUMNS, REFERENCE, FinalConfig, csv_path,
                                        load_outcomes, load_results, outcomes_path, reference_policies,
                                        run_final_evaluation, write_csv)
from gbp_utils.planners import GBPConfig
from gbp_utils.sampling import CEMConfig
from gbp_utils.world_model import reference_error, training_split


# --------------------------------------------------------------------------------------------
# FinalConfig
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=(0, 1, 0)), r"seeds must be distinct and non-empty; got \(0, 1, 0\)"),
    (dict(seeds=()), "seeds must be distinct and non-empty"),
    (dict(n_tasks=0), "n_tasks must be >= 1; got 0"),
    (dict(planners={"GBP": GBPConfig()}), r"planners\['GBP'\] must be \(planner config, control.Execution\)"),
    (dict(models=("base",), budget_models=("base",), budget_planners={"GBP-lite": GBPConfig()}),
     r"budget_planners\['GBP-lite'\] must be \(planner config, control.Execution\)"),
    (dict(planners={"GBP": (GBPConfig(), "mpc")}), r"planners\['GBP'\] must be"),
    (dict(planners={"GBP": (GBPConfig(), Execution("mpc", 3), 3)}), r"planners\['GBP'\] must be"),
    (dict(split="tune"), r"split must be 'test' \(the final table\) or 'eval' \(development\); got 'tune'"),
    (dict(models=("base", "baseline")), r"models: unknown model names \['baseline'\]"),
    (dict(models=("base",), budget_models=("online",)), r"budget_models \('online',\) must be among models"),
    (dict(planners={"A": (GBPConfig(), OPEN_LOOP)}, budget_planners={"A": (GBPConfig(), OPEN_LOOP)}),
     r"planner names \['A'\] appear in both planners and budget_planners"),
])
def test_final_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FinalConfig(**{"seeds": (0,), "n_tasks": 5, **kwargs})


def test_final_config_needs_seeds_and_a_task_count():
    for kwargs in ({}, {"seeds": (0,)}, {"n_tasks": 5}):
        with pytest.raises(TypeError, match="seeds|n_tasks"):
            FinalConfig(**kwargs)
    cfg = FinalConfig(seeds=(3,), n_tasks=5, planners={"GBP MPC": (GBPConfig(), Execution("mpc", 3))})
    assert cfg.true_dynamics is None


# --------------------------------------------------------------------------------------------
# The models and reference controllers of the table
# --------------------------------------------------------------------------------------------
def _record_getters(monkeypatch):
    calls = []

    def record(kind):
        def get(*args, **kwargs):
            calls.append((kind, args, {k: v for k, v in kwargs.items() if k not in ("device", "progress")}))
            return type("Result", (), {"model": f"{kind} #{len(calls)}"})()
        return get

    for name in ("get_world_model", "get_online_model", "get_adversarial_model"):
        monkeypatch.setattr(final_evaluation, name, record(name))
    return calls


def test_factorial_models_cover_both_regimes_and_draw_everything_random_per_seed(monkeypatch):
    P = gbp_utils.presets(fast=True)
    calls = _record_getters(monkeypatch)
    models = final_evaluation.factorial_models(P, seed=2)
    assert list(models) == ["base", "clean finetune", "adversarial", "online", "online + adversarial",
                            "base, +play", "clean finetune, +play", "adversarial, +play", "online, +play",
                            "online + adversarial, +play"]
    Q = P.for_seed(2)
    assert Q.expert_data.seed == P.expert_data.seed + 2 and Q.gbp.seed == P.gbp.seed + 2
    for regime, data in (("expert", [Q.expert_data]), ("play", [Q.expert_data, Q.play_data])):
        base, clean, adv, online, online_adv = calls[:5] if regime == "expert" else calls[5:]
        assert base[0] == "get_world_model" and base[1] == (data, Q.model, Q.train)
        assert clean[0] == adv[0] == "get_adversarial_model"
        eps_only, eps_online = ((Q.adversarial_only, Q.adversarial) if regime == "expert"
                                else (Q.adversarial_only_play, Q.adversarial_play))  # each regime's chosen budgets
        assert clean[1][1:] == (data, final_evaluation.CLEAN) and adv[1][1:] == (data, eps_only)
        assert clean[2] == adv[2] == {"base_train": Q.train}
        for kind, args, kwargs in (online, online_adv):
            assert kind == "get_online_model" and args[1:] == (Q.online, Q.gbp)
            assert kwargs["data_configs"] == data and kwargs["base_train"] == Q.train
        assert "adversarial" not in online[2] and online_adv[2]["adversarial"] == eps_online
    assert final_evaluation.CLEAN.state_factor == final_evaluation.CLEAN.action_factor == 0.0
    calls.clear()
    assert list(final_evaluation.factorial_models(P, 0, names=["online, +play"])) == ["online, +play"]
    assert len(calls) == 1
    with pytest.raises(ValueError, match=r"unknown model names \['baseline'\]"):
        final_evaluation.factorial_models(P, 0, names=["baseline"])


def test_factorial_planners_are_gd_adam_and_cem_open_loop_and_with_mpc():
    P = gbp_utils.presets(fast=True)
    planners = final_evaluation.factorial_planners(P)
    gd, adam, cem = (P.final_planners[f] for f in ("GD", "Adam", "CEM"))
    assert planners == {"GD open-loop": (gd, P.open_loop), "GD MPC": (gd, P.mpc),
                        "Adam open-loop": (adam, P.open_loop), "Adam MPC": (adam, P.mpc),
                        "CEM open-loop": (cem, P.open_loop), "CEM MPC": (cem, P.mpc)}
    assert gd.optimizer == "gd" and adam.optimizer == "adam"


def test_final_config_is_the_whole_factorial_plus_the_budget_sweep_on_the_sealed_test_tasks():
    P = gbp_utils.presets(fast=True)
    config = final_evaluation.final_config(P)
    assert config.split == "test" and config.n_tasks == P.tasks.test and config.seeds == P.seeds
    assert config.models == MODELS and len(MODELS) == 10
    jobs = config.jobs()
    assert len(jobs) == 10 * 6 + 4 * 4
    assert {p for m, p, _ in jobs if m == "base"} == set(config.planners) | set(config.budget_planners)
    assert {p for m, p, _ in jobs if m == "online"} == set(config.planners)
    assert set(config.budget_planners) == {"Adam-lite MPC", "Adam-heavy MPC", "CEM-lite MPC", "CEM-heavy MPC"}
    assert config.true_dynamics == (P.final_planners["CEM"], P.mpc)
    factorial_only = final_evaluation.final_config(P, budget_sweep=False)
    assert len(factorial_only.jobs()) == 10 * 6 and not factorial_only.budget_planners


@pytest.mark.parametrize("size, fast", [("lite", False), ("heavy", True)])
def test_the_budget_sweeps_cem_spends_what_gbp_spends(size, fast):
    """Measured on real MPC runs (a tiny model, 2 test tasks): CEM's scaled population matches GBP's world-model
    evaluations per task within a third (the full-mode lite budget; the heavy one in fast mode, whose full size
    would take a minute here; fast mode's lite CEM is held at the population floor of 10)."""
    P = gbp_utils.presets(fast=fast)
    tasks = P.test_tasks(2)
    model = tiny_world_model(0, hidden=4)
    evals = {}
    for family in ("Adam", "CEM"):
        config, execution = P.final_budgets[family, size]
        ep = experiments.run(model, config, tasks, execution, P.wall, use_cache=False)
        evals[family] = evaluate(family, ep, tasks, P.wall).wm_evals_per_task
    assert 0.75 <= evals["CEM"] / evals["Adam"] <= 1.34, evals


def _factorial_outcomes(regime="expert"):
    """Outcomes of every factorial model x planner on 2 seeds x 40 tasks: success rates chosen per pair."""
    from helpers import result_outcomes, result_row, result_table

    rows = []
    for i, finetune in enumerate(final_evaluation.FINETUNES):
        for j, planner in enumerate(final_evaluation.factorial_planners(gbp_utils.presets(fast=True))):
            for seed in (0, 1):
                rows.append(result_row(final_evaluation.factorial_name(regime, finetune), planner, seed,
                                       successes=min(40, 4 * i + 3 * j + seed), n_tasks=40))
    return result_outcomes(result_table(*rows))


def test_paper_table_puts_ours_beside_the_papers_wall_numbers():
    from gbp_utils.stats import crossed_summary

    for regime in final_evaluation.REGIMES:
        table = final_evaluation.paper_table(crossed_summary(_factorial_outcomes(regime), n_boot=200), regime)
        assert list(table.row) == list(final_evaluation.PAPER_WALL)
        online = table[table.row == "online + MPC"].iloc[0]
        assert online.model == final_evaluation.factorial_name(regime, "online")
        # online is FINETUNES[3], "Adam MPC" the 4th planner (j = 3): successes 4*3 + 3*3 + seed of 40
        assert online.Adam == pytest.approx((21 + 22) / 80) and online["Adam low"] <= online.Adam <= online["Adam high"]
        assert (online["paper GD"], online["paper Adam"], online["paper CEM"]) == (38, 80, 90)
    with pytest.raises(KeyError, match="no row for model 'base', planner 'GD open-loop'"):
        final_evaluation.paper_table(crossed_summary(_factorial_outcomes("expert + play"), n_boot=200), "expert")


def test_paper_claims_are_paired_comparisons_within_one_data_regime():
    from gbp_utils.stats import paired_claims

    claims = final_evaluation.paper_claims("expert + play")
    assert all(c["a"][0].endswith(", +play") and c["b"][0].endswith(", +play") for c in claims)
    assert [c.get("margin", 0) for c in claims].count(0.05) == 1
    table = paired_claims(_factorial_outcomes("expert + play"), claims, n_boot=200)
    assert len(table) == len(claims) and set(table.verdict) <= {"supported", "not supported", "undecided"}
    mpc = table[table.claim.str.startswith("MPC improves")].iloc[0]
    assert mpc.difference == pytest.approx(3 / 40)  # Adam MPC is one planner after Adam open-loop: 3 more tasks


def test_reference_policies_are_reproducible_from_their_settings():
    wall = gbp_utils.presets(fast=True).wall
    first, second = reference_policies(wall), reference_policies(wall)
    assert list(first) == ["scripted expert", "straight line"]
    states, goals = torch.tensor([[-3.0, 3.0], [2.0, -1.0]]), torch.tensor([[3.0, 3.0], [-2.0, 1.0]])
    for name, (policy, settings) in first.items():
        assert torch.equal(policy(states, goals), second[name][0](states, goals)), name
        assert settings == second[name][1]


# --------------------------------------------------------------------------------------------
# run_final_evaluation on tiny models
# --------------------------------------------------------------------------------------------
def test_run_final_evaluation_scores_every_model_planner_and_seed_and_writes_the_csv(monkeypatch):
    P = gbp_utils.presets(fast=True)
    monkeypatch.setattr(final_evaluation, "factorial_models",
                        lambda presets, seed, names, device=None, progress=False: {m: tiny_world_model(seed, hidden=4)
                                                                                   for m in names})
    gbp = GBPConfig(restarts=1, iterations=2, warm_iterations=1)
    cem = CEMConfig(population=6, elites=2, iterations=1)
    config = FinalConfig(seeds=(0, 1), n_tasks=3, split="eval", models=("base", "online"),
                         planners={"GBP open-loop": (gbp, OPEN_LOOP), "CEM MPC": (cem, Execution("mpc", 15))},
                         budget_models=("online",), budget_planners={"GBP-lite MPC": (gbp, Execution("mpc", 15))},
                         true_dynamics=(cem, OPEN_LOOP))
    df = run_final_evaluation(P, config, progress=False)
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * (2 * 2 + 1) + 1 + 2
    assert list(df.model[:5]) == ["base"] * 2 + ["online"] * 3 and set(df.seed[:-3]) == {0, 1}
    assert list(df.planner[:5]) == ["GBP open-loop", "CEM MPC", "GBP open-loop", "CEM MPC", "GBP-lite MPC"]
    assert list(df.planner[-3:]) == ["true-dynamics planner", "scripted expert", "straight line"]
    assert (df.model[-3:] == REFERENCE).all() and (df.n_tasks == 3).all()
    pd.testing.assert_frame_equal(load_results(csv_path()), df, check_exact=False, rtol=1e-5, check_dtype=False)
    # the first n_tasks held-out tasks of the presets, the same tasks every notebook evaluates on
    tasks = P.eval_tasks(3)
    model = tiny_world_model(1, hidden=4)
    Q = P.for_seed(1)
    _, expert_val = training_split([Q.expert_data], Q.train)
    # loaded: the run is cached; seed 1's planner draws its own samples
    ep = experiments.run(model, dataclasses.replace(cem, seed=cem.seed + 1), tasks, Execution("mpc", 15), P.wall)
    expected = evaluate("x", ep, tasks, P.wall, model, reference_error(model, expert_val))
    row = df[(df.model == "online") & (df.planner == "CEM MPC") & (df.seed == 1)].iloc[0]
    assert row.successes == expected.successes
    assert row.wm_error_ratio == pytest.approx(expected.wm_error_ratio, rel=1e-5)
    assert row.seconds_per_task == pytest.approx(ep.seconds / 3, rel=1e-5)
    truth = experiments.run(TrueDynamicsModel(P.wall), cem, tasks, OPEN_LOOP, P.wall, use_cache=False)
    assert df.iloc[-3].successes == evaluate("t", truth, tasks, P.wall).successes
    assert math.isnan(df.iloc[-1].wm_error_ratio) and df.iloc[-1].wm_evals_per_task == 0
    assert (df.split == "eval").all()
    # the per-task outcomes behind every row
    out = load_outcomes()
    assert list(out.columns) == OUTCOME_COLUMNS and len(out) == len(df) * 3 and (out.split == "eval").all()
    per_run = out.groupby(["model", "planner", "seed"], sort=False).success.sum().reset_index()
    assert list(per_run.success) == list(df.successes) and list(per_run.model) == list(df.model)
    first = out[(out.model == "online") & (out.planner == "CEM MPC") & (out.seed == 1)]
    assert list(first.task) == [0, 1, 2]
    assert first.final_distance.to_numpy() == pytest.approx((ep.final_states - tasks.goals).norm(dim=-1).numpy(), rel=1e-5)
    written = outcomes_path().read_bytes()
    run_final_evaluation(P, config, progress=False)  # cached runs: the same files, byte for byte
    assert outcomes_path().read_bytes() == written


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------
def test_write_csv_round_trips_through_load_results(results_df, tmp_path):
    path = tmp_path / "deep" / "folder" / "final.csv"  # parent folders are created
    write_csv(results_df, path)
    write_csv(results_df, path)  # overwriting is fine
    back = load_results(path)
    pd.testing.assert_frame_equal(back, results_df, check_exact=False, rtol=1e-5, check_dtype=False)
    assert [p.name for p in path.parent.iterdir()] == ["final.csv"], "no temporary file is left behind"


def test_load_results_without_a_csv_says_to_run_notebook_08(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook 08"):
        load_results(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match=r"final_evaluation\.csv does not exist: run notebook 08"):
        load_results()  # the default path, in the test's data dir


def test_load_outcomes_without_the_file_or_with_a_missing_column_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"final_outcomes\.csv\.gz does not exist: run notebook 08"):
        load_outcomes()
    path = tmp_path / "outcomes.csv.gz"
    write_csv(pd.DataFrame({"model": ["m"], "planner": ["p"], "seed": [0], "task": [0], "success": [1]}), path)
    with pytest.raises(cache.DataFileError, match=r"lacks columns \['split', 'final_distance'\]"):
        load_outcomes(path)


def test_load_results_with_a_missing_column_names_it(results_df, tmp_path):
    path = tmp_path / "final.csv"
    results_df.drop(columns=["wm_evals_per_task"]).to_csv(path, index=False)
    with pytest.raises(cache.DataFileError, match=r"lacks columns \['wm_evals_per_task'\]"):
        load_results(path)


# --------------------------------------------------------------------------------------------
# The budget sweep: success against compute, Adam-GBP against CEM at matched evaluations
# --------------------------------------------------------------------------------------------
def _budget_df(n_tasks=40):
    """Every budget-sweep model x family x budget on 2 seeds x n_tasks: Adam gains 6 tasks per budget step,
    CEM 2; evaluations grow 10x per step, Adam and CEM matched within 10%."""
    from helpers import result_row, result_table

    rows = []
    for k, model in enumerate(final_evaluation.BUDGET_MODELS):
        for i, budget in enumerate(final_evaluation.BUDGETS):
            for family, base, step, evals in (("Adam", 10, 6, 1e4), ("CEM", 20, 2, 1.1e4)):
                for seed in (0, 1):
                    rows.append(result_row(model, final_evaluation.budget_planner_name(family, budget), seed,
                                           successes=base + step * i + k + seed, n_tasks=n_tasks,
                                           evals=evals * 10 ** i, seconds=1e-3 * 10 ** i + seed * 1e-4))
    return result_table(*rows)


def test_budget_planner_names_are_the_factorials_at_the_standard_budget():
    P = gbp_utils.presets(fast=True)
    assert final_evaluation.budget_planner_name("Adam", "standard") in final_evaluation.factorial_planners(P)
    assert final_evaluation.budget_planner_name("CEM", "standard") in final_evaluation.factorial_planners(P)
    assert {final_evaluation.budget_planner_name(f, b) for f in ("Adam", "CEM") for b in ("lite", "heavy")} == \
        set(final_evaluation.budget_planners(P))
    with pytest.raises(ValueError, match=r"family must be one of \('Adam', 'CEM'\) and budget one of"):
        final_evaluation.budget_planner_name("GD", "lite")
    with pytest.raises(ValueError, match="got 'Adam', 'huge'"):
        final_evaluation.budget_planner_name("Adam", "huge")


def test_budget_curve_has_every_model_family_and_budget_with_its_compute_and_interval():
    from gbp_utils.stats import aggregate, crossed_summary
    from helpers import result_outcomes

    df = _budget_df()
    curve = final_evaluation.budget_curve(crossed_summary(result_outcomes(df), n_boot=200), aggregate(df))
    assert len(curve) == len(final_evaluation.BUDGET_MODELS) * 2 * 3 and set(curve.execution) == {"MPC"}
    row = curve[(curve.model == "base, +play") & (curve.family == "Adam") & (curve.budget == "heavy")].iloc[0]
    assert row.planner == "Adam-heavy MPC"
    assert row.success_rate == pytest.approx((22 + 2 + 23 + 2) / 80)  # base 10 + 6 x 2 + model index 2 + seed
    assert row.wm_evals_per_task == pytest.approx(1e6) and row.seconds_per_task == pytest.approx(0.1 + 0.5e-4)
    assert (row.seed_min, row.seed_max) == (24 / 40, 25 / 40) and row.ci_low <= row.success_rate <= row.ci_high
    with pytest.raises(KeyError, match=r"no results for model 'base', planner 'Adam-lite MPC'.*budget_sweep=True"):
        partial = df[df.planner != "Adam-lite MPC"]
        final_evaluation.budget_curve(crossed_summary(result_outcomes(partial), n_boot=200), aggregate(partial))


def test_budget_table_pairs_adam_with_cem_at_each_budget():
    from gbp_utils.stats import aggregate, crossed_summary
    from helpers import result_outcomes

    df = _budget_df()
    out = result_outcomes(df)
    table = final_evaluation.budget_table(out, crossed_summary(out, n_boot=200), aggregate(df), n_boot=200)
    assert len(table) == len(final_evaluation.BUDGET_MODELS) * 3
    assert list(table.data) == ["expert"] * 6 + ["expert + play"] * 6
    # Adam: 10 + 6i, CEM: 20 + 2i (of 40, both + model index + seed): -10, -6, -2 points of 40 by budget
    assert list(table.difference[:3]) == pytest.approx([-10 / 40, -6 / 40, -2 / 40])
    assert list(table.verdict[:2]) == ["not supported"] * 2  # tasks are nested, so the intervals are tight
    heavy = table.iloc[2]
    assert heavy.budget == "heavy" and heavy["Adam evals"] == pytest.approx(1e6) and heavy["CEM evals"] == pytest.approx(1.1e6)
    assert heavy.low <= heavy.difference <= heavy.high
    claims = final_evaluation.budget_claims()
    assert [c["margin"] for c in claims] == [0.05] * len(claims)
    assert claims[0]["a"] == ("base", "Adam-lite MPC") and claims[0]["b"] == ("base", "CEM-lite MPC")


def test_budget_gain_claims_compare_each_budget_with_the_next_smaller_one():
    from gbp_utils.stats import paired_claims
    from helpers import result_outcomes

    claims = final_evaluation.budget_gain_claims(("base",))
    assert [(c["a"][1], c["b"][1]) for c in claims] == [("Adam MPC", "Adam-lite MPC"), ("Adam-heavy MPC", "Adam MPC"),
                                                        ("CEM MPC", "CEM-lite MPC"), ("CEM-heavy MPC", "CEM MPC")]
    table = paired_claims(result_outcomes(_budget_df()), claims, n_boot=200)
    # Adam gains 6 tasks of 40 per budget step, CEM 2 (nested tasks: no draw can reverse the sign, but a draw
    # can miss CEM's two extra tasks, so its gains may stay undecided)
    assert list(table.difference) == pytest.approx([6 / 40, 6 / 40, 2 / 40, 2 / 40])
    assert list(table.verdict[:2]) == ["supported"] * 2 and (table.low >= 0).all()
