"""Tests for gbp_utils.results on hand-made result tables: aggregation over seeds, the README table and
its markers, the CSV, FinalConfig, the paper's claims and the ``python -m gbp_utils.results`` CLI."""

import math
import re

import pandas as pd
import pytest

from gbp_utils import cache, results
from gbp_utils.evaluation import wilson_interval
from gbp_utils.experiments import MPC, OPEN_LOOP
from gbp_utils.planners import GBPConfig
from gbp_utils.results import (COLUMNS, README_BEGIN, README_END, FinalConfig, aggregate, claims, load_results,
                               readme_table, render_readme, update_readme, write_csv)

FINETUNED = ("online", "adversarial", "online + adversarial")
GBP_PLANNERS = ("GBP open-loop", "GBP MPC", "GBP-lite MPC")
CEM_PLANNERS = ("CEM open-loop", "CEM MPC")


def row(model, planner, seed, successes, n_tasks=100, final=1.0, ratio=2.0, evals=1000.0, wall_s=0.01):
    """One per-seed result row, as run_final_evaluation writes it."""
    lo, hi = wilson_interval(successes, n_tasks)
    return {"model": model, "planner": planner, "seed": seed, "n_tasks": n_tasks, "successes": successes,
            "success_rate": successes / n_tasks, "ci_low": lo, "ci_high": hi, "mean_final_distance": final,
            "wm_error_ratio": ratio, "wm_evals_per_task": evals, "wall_s_per_task": wall_s}


def table(*rows):
    return pd.DataFrame(list(rows), columns=COLUMNS)


@pytest.fixture
def df():
    """Two seeds of two (model, planner) pairs, and one reference row without a model."""
    return table(
        row("baseline", "GBP MPC", 0, 30, final=1.0, ratio=2.0, evals=1000.0, wall_s=0.010),
        row("baseline", "GBP MPC", 1, 45, final=2.0, ratio=4.0, evals=3000.0, wall_s=0.030),
        row("online", "GBP MPC", 0, 80, final=0.5, ratio=1.5, evals=2000.0, wall_s=0.020),
        row("online", "GBP MPC", 1, 90, final=0.3, ratio=1.1, evals=2000.0, wall_s=0.040),
        row("reference", "scripted expert", 0, 97, final=0.2, ratio=math.nan, evals=0.0, wall_s=0.001),
    )


# --------------------------------------------------------------------------------------------
# aggregate
# --------------------------------------------------------------------------------------------
def test_aggregate_pools_successes_over_seeds_with_the_pooled_wilson_interval(df):
    agg = aggregate(df)
    assert list(zip(agg.model, agg.planner)) == [("baseline", "GBP MPC"), ("online", "GBP MPC"),
                                                 ("reference", "scripted expert")]
    base = agg.iloc[0]
    assert (base.seeds, base.successes, base.n_tasks) == (2, 75, 200)
    assert base.success_rate == 75 / 200
    assert (base.ci_low, base.ci_high) == wilson_interval(75, 200)
    # Pooling is not averaging the per-seed intervals: the pooled interval is narrower.
    assert base.ci_high - base.ci_low < df.ci_high[:2].mean() - df.ci_low[:2].mean()
    assert base.seed_sd == pytest.approx(math.sqrt(((0.30 - 0.375) ** 2 + (0.45 - 0.375) ** 2) / 1))
    assert (base.mean_final_distance, base.wm_error_ratio, base.wm_evals_per_task) == (1.5, 3.0, 2000.0)
    assert base.wall_s_per_task == pytest.approx(0.02)
    ref = agg.iloc[2]
    assert ref.seeds == 1 and math.isnan(ref.seed_sd), "one seed has no spread"
    assert math.isnan(ref.wm_error_ratio) and (ref.ci_low, ref.ci_high) == wilson_interval(97, 100)


def test_aggregate_pools_unequal_task_counts_by_tasks_not_by_seeds():
    agg = aggregate(table(row("m", "p", 0, 10, n_tasks=10), row("m", "p", 1, 0, n_tasks=90)))
    r = agg.iloc[0]
    assert (r.successes, r.n_tasks, r.success_rate) == (10, 100, 0.1)  # not the mean rate 0.5
    assert (r.ci_low, r.ci_high) == wilson_interval(10, 100)
    assert r.seed_sd == pytest.approx(math.sqrt(0.5))


# --------------------------------------------------------------------------------------------
# README table
# --------------------------------------------------------------------------------------------
def test_readme_table_has_a_header_and_one_formatted_line_per_row(df):
    agg = aggregate(df)
    lines = readme_table(agg).splitlines()
    assert len(lines) == 2 + len(agg)
    assert lines[0].startswith("| model | planner | success % [95% CI] |") and set(lines[1]) <= set("|-")
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|") == 9
    lo, hi = wilson_interval(75, 200)
    assert lines[2] == (f"| baseline | GBP MPC | 37.5 [{100 * lo:.1f}, {100 * hi:.1f}] | 2 × 100 | 1.50 | 3.0 | "
                        f"2,000 | 20.0 |")
    # A reference row has no gap ratio: a dash, never "nan".
    assert lines[4].startswith("| reference | scripted expert | 97.0 [")
    assert lines[4].endswith("| 1 × 100 | 0.20 | – | 0 | 1.0 |")
    assert "nan" not in readme_table(agg).lower()


def test_render_readme_replaces_only_the_text_between_the_markers():
    old = f"# Title\n\nintro\n{README_BEGIN}\n| old | table |\n{README_END}\n\n## Next\nmore text\n"
    new = render_readme(old, "| new |")
    assert new == f"# Title\n\nintro\n{README_BEGIN}\n| new |\n{README_END}\n\n## Next\nmore text\n"
    assert render_readme(new, "| new |") == new, "rendering is idempotent"


@pytest.mark.parametrize("text", ["no markers at all", f"only the start {README_BEGIN}", f"only the end {README_END}"])
def test_render_readme_without_both_markers_names_them(text):
    with pytest.raises(ValueError, match=f"{re.escape(README_BEGIN)} and then {re.escape(README_END)}"):
        render_readme(text, "| t |")


def test_render_readme_with_the_markers_in_the_wrong_order_names_them():
    with pytest.raises(ValueError, match=re.escape(README_BEGIN)):
        render_readme(f"{README_END}\n| t |\n{README_BEGIN}\n", "| new |")


def readme_file(path, body="| stale |"):
    path.write_text(f"# Results\n{README_BEGIN}\n{body}\n{README_END}\nfooter\n")
    return path


def test_update_readme_rewrites_the_table_once(df, tmp_path):
    csv = tmp_path / "results.csv"
    write_csv(df, csv)
    readme = readme_file(tmp_path / "README.md")
    assert update_readme(readme, csv) is True
    text = readme.read_text()
    assert "| stale |" not in text and readme_table(aggregate(df)) in text
    assert text.startswith("# Results\n") and text.endswith(f"{README_END}\nfooter\n")
    assert update_readme(readme, csv) is False
    assert readme.read_text() == text


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------
def test_write_csv_round_trips_through_load_results(df, tmp_path):
    path = tmp_path / "deep" / "folder" / "final.csv"  # parent folders are created
    write_csv(df, path)
    write_csv(df, path)  # overwriting is fine
    back = load_results(path)
    pd.testing.assert_frame_equal(back, df, check_exact=False, rtol=1e-5, check_dtype=False)
    assert [p.name for p in path.parent.iterdir()] == ["final.csv"], "no temporary file is left behind"


def test_load_results_without_a_csv_says_to_run_notebook_08(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook 08"):
        load_results(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match=r"final_evaluation\.csv does not exist: run notebook 08"):
        load_results()  # the default path, in the test's data dir


def test_load_results_with_a_missing_column_names_it(df, tmp_path):
    path = tmp_path / "final.csv"
    df.drop(columns=["wm_evals_per_task"]).to_csv(path, index=False)
    with pytest.raises(cache.DataFileError, match=r"lacks columns \['wm_evals_per_task'\]"):
        load_results(path)


# --------------------------------------------------------------------------------------------
# FinalConfig
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=(0, 1, 0)), r"seeds must be distinct and non-empty; got \(0, 1, 0\)"),
    (dict(seeds=()), "seeds must be distinct and non-empty"),
    (dict(n_tasks=0), "n_tasks must be >= 1; got 0"),
    (dict(planners={"GBP": GBPConfig()}), r"planners\['GBP'\] must be \(planner config, experiments.Execution\)"),
    (dict(planners={"GBP": (GBPConfig(), "mpc")}), r"planners\['GBP'\] must be"),
    (dict(planners={"GBP": (GBPConfig(), MPC, 3)}), r"planners\['GBP'\] must be"),
])
def test_final_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FinalConfig(**kwargs)


def test_final_config_accepts_a_valid_plan():
    cfg = FinalConfig(seeds=(3,), n_tasks=5, planners={"GBP open-loop": (GBPConfig(), OPEN_LOOP),
                                                       "GBP MPC": (GBPConfig(), MPC)})
    assert cfg.seeds == (3,) and list(cfg.planners) == ["GBP open-loop", "GBP MPC"]
    assert FinalConfig().seeds == (0, 1, 2) and FinalConfig().n_tasks == 300


# --------------------------------------------------------------------------------------------
# claims
# --------------------------------------------------------------------------------------------
def claims_table(rates: dict, evals: dict | None = None, n_tasks: int = 300):
    """An aggregate of every model x planner claims() reads; rates[(model, planner)] or rates[planner]
    or rates[model] (checked in that order) give the success rate, evals[planner] the model evaluations."""
    evals = {**{p: 5000.0 for p in GBP_PLANNERS}, **{p: 100000.0 for p in CEM_PLANNERS}, **(evals or {})}
    rows = []
    for m in ("baseline", *FINETUNED):
        for p in GBP_PLANNERS + CEM_PLANNERS:
            rate = rates.get((m, p), rates.get(p, rates.get(m)))
            rows.append(row(m, p, 0, round(rate * n_tasks), n_tasks, evals=evals[p], wall_s=evals[p] * 1e-6))
    return aggregate(table(*rows))


HOLDING = {
    "baseline": 0.5, "online": 0.7, "adversarial": 0.8, "online + adversarial": 0.75,
    ("baseline", "CEM MPC"): 0.72, ("baseline", "CEM open-loop"): 0.6,
    **{(m, "GBP MPC"): r + 0.1 for m, r in (("baseline", 0.5), ("online", 0.7), ("adversarial", 0.8),
                                            ("online + adversarial", 0.75))},
}


def claim(frame, start):
    rows = frame[frame.claim.str.startswith(start)]
    assert len(rows) == 1, start
    return rows.iloc[0]


def test_all_four_claims_hold_on_results_that_support_them():
    out = claims(claims_table(HOLDING))
    assert list(out.columns) == ["claim", "evidence", "holds"] and len(out) == 4
    assert out.holds.tolist() == [True, True, True, True]
    first = claim(out, "finetuned GBP >= CEM on the baseline")
    # The best candidate is named: adversarial with GBP MPC (90%), at 5% of CEM's evaluations.
    assert first.evidence.startswith("adversarial, GBP MPC: 90.0% [") and "(5.0% of CEM's)" in first.evidence
    assert "CEM on baseline (CEM MPC): 72.0%" in first.evidence
    assert "baseline: +10.0 points" in claim(out, "MPC improves").evidence
    assert claim(out, "adversarial finetuning").evidence.startswith("adversarial (GBP MPC) 90.0%")


def test_claims_fail_on_results_that_contradict_them():
    rates = {
        **HOLDING,
        ("baseline", "CEM MPC"): 0.95,  # claim 1: no finetuned GBP reaches CEM on the baseline ...
        ("online", "GBP-lite MPC"): 0.99,  # ... except one that needs too many evaluations (see evals)
        ("adversarial", "GBP MPC"): 0.6,  # claim 2: adversarial (best 0.8 open-loop) < online (0.99)
        ("online + adversarial", "GBP MPC"): 0.75,  # claim 3: no MPC gain for this model
        **{(m, "CEM open-loop"): 1.0 for m in FINETUNED},  # claim 4: CEM far better on every finetuned model
    }
    out = claims(claims_table(rates, evals={"GBP-lite MPC": 10001.0}))  # 10.001% of CEM's 100000
    assert out.holds.tolist() == [False, False, False, False]
    assert "online + adversarial: +0.0 points" in claim(out, "MPC improves").evidence
    assert claim(out, "finetuned GBP matches").evidence.startswith("online: GBP (GBP-lite MPC) 99.0%")


def test_ten_percent_of_cems_evaluations_still_counts():
    rates = {**HOLDING, ("baseline", "CEM MPC"): 0.95, ("online", "GBP-lite MPC"): 0.99}
    out = claims(claims_table(rates, evals={"GBP-lite MPC": 10000.0}))
    assert claim(out, "finetuned GBP >= CEM").holds
    assert claim(out, "finetuned GBP >= CEM").evidence.startswith("online, GBP-lite MPC: 99.0%")


def test_claims_consider_every_gbp_planner_of_the_table():
    heavy = aggregate(table(*[row(m, "GBP-heavy MPC", 0, 291, 300, evals=900000.0, wall_s=0.9)
                              for m in ("baseline", *FINETUNED)]))
    out = claims(pd.concat([claims_table(HOLDING), heavy], ignore_index=True))
    # the heavy planner (97%) is now the best GBP of every model: claims 2 and 4 name it ...
    assert claim(out, "adversarial finetuning").evidence.startswith("adversarial (GBP-heavy MPC) 97.0%")
    assert claim(out, "finetuned GBP matches").evidence.startswith("online: GBP (GBP-heavy MPC) 97.0%")
    # ... but claim 1 still names a cheap planner: the heavy one costs 9x CEM's evaluations
    assert claim(out, "finetuned GBP >= CEM").evidence.startswith("adversarial, GBP MPC: 90.0%")
    only_named = claims(pd.concat([claims_table(HOLDING), heavy], ignore_index=True), gbp_planners=GBP_PLANNERS)
    assert "heavy" not in " ".join(only_named.evidence)


def test_claims_name_a_missing_row():
    agg = claims_table(HOLDING)
    agg = agg[~((agg.model == "online") & (agg.planner == "GBP MPC"))]
    with pytest.raises(KeyError, match="no aggregated row for model 'online', planner 'GBP MPC'"):
        claims(agg)


# --------------------------------------------------------------------------------------------
# python -m gbp_utils.results
# --------------------------------------------------------------------------------------------
def test_cli_check_fails_until_the_table_is_written(df, tmp_path, capsys):
    csv = tmp_path / "results.csv"
    write_csv(df, csv)
    readme = readme_file(tmp_path / "README.md")
    args = ["--readme", str(readme), "--csv", str(csv)]
    assert results.main(["--check", *args]) == 1
    assert "results table differs from the CSV" in capsys.readouterr().err
    assert "| stale |" in readme.read_text(), "--check never writes"
    assert results.main(args) == 0
    assert "wrote the results table (3 rows)" in capsys.readouterr().out
    assert readme_table(aggregate(df)) in readme.read_text()
    assert results.main(["--check", *args]) == 0
    assert "matches the CSV" in capsys.readouterr().out
    # A changed CSV makes the check fail again.
    write_csv(df.assign(successes=df.successes - 1), csv)
    assert results.main(["--check", *args]) == 1


def test_cli_without_a_csv_raises_the_notebook_08_hint(tmp_path):
    readme = readme_file(tmp_path / "README.md")
    with pytest.raises(FileNotFoundError, match="notebook 08"):
        results.main(["--check", "--readme", str(readme), "--csv", str(tmp_path / "none.csv")])
