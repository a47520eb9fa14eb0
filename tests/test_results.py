"""Tests for gbp_utils.results: the README's results table rendered from the final evaluation's CSV
(readme_table, render_readme, update_readme) and the ``python -m gbp_utils.results`` CLI."""

import re

import numpy as np
import pytest

from helpers import result_outcomes

from gbp_utils import results
from gbp_utils.final_evaluation import write_csv
from gbp_utils.results import README_BEGIN, README_END, readme_table, render_readme, update_readme
from gbp_utils.stats import aggregate, crossed_bootstrap, crossed_summary


def table(df):
    return readme_table(aggregate(df), crossed_summary(result_outcomes(df)))


# --------------------------------------------------------------------------------------------
# README table
# --------------------------------------------------------------------------------------------
def test_readme_table_has_a_header_and_one_formatted_line_per_row(results_df):
    agg = aggregate(results_df)
    lines = table(results_df).splitlines()
    assert len(lines) == 2 + len(agg)
    assert lines[0].startswith("| model | planner | success % [95% CI over seeds and tasks] | per-seed % (min–max) |")
    assert set(lines[1]) <= set("|-") and lines[0].count("|") == lines[1].count("|") == lines[2].count("|") == 10
    # baseline: seeds with 30 and 45 of the same 100 tasks; the interval covers seeds and tasks
    y = np.array([[1.0] * 30 + [0.0] * 70, [1.0] * 45 + [0.0] * 55])
    c = crossed_bootstrap(y)
    assert lines[2] == (f"| baseline | GBP MPC | 37.5 [{100 * c['low']:.1f}, {100 * c['high']:.1f}] | 30.0–45.0 | 2 × 100 | "
                        f"1.50 | 3.0 | 2,000 | 20.0 |")
    # A reference row (one seed) has no per-seed range and no gap ratio: dashes, never "nan".
    assert lines[4].startswith("| reference | scripted expert | 97.0 [")
    assert lines[4].endswith("| – | 1 × 100 | 0.20 | – | 0 | 1.0 |")
    assert "nan" not in table(results_df).lower()


def test_readme_table_refuses_outcomes_that_disagree_with_the_csv(results_df):
    outcomes = result_outcomes(results_df)
    with pytest.raises(ValueError, match=r"'online', 'GBP MPC' disagree with the CSV"):
        readme_table(aggregate(results_df), crossed_summary(outcomes.assign(
            success=np.where((outcomes.model == "online") & (outcomes.task == 99), 1, outcomes.success))))
    with pytest.raises(ValueError, match=r"no per-task outcomes for model 'online'"):
        readme_table(aggregate(results_df), crossed_summary(outcomes[outcomes.model != "online"]))


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


def write_results(df, folder):
    csv, outcomes = folder / "results.csv", folder / "outcomes.csv.gz"
    write_csv(df, csv)
    write_csv(result_outcomes(df), outcomes)
    return csv, outcomes


def test_update_readme_rewrites_the_table_once(results_df, tmp_path):
    csv, outcomes = write_results(results_df, tmp_path)
    readme = readme_file(tmp_path / "README.md")
    assert update_readme(readme, csv, outcomes) is True
    text = readme.read_text()
    assert "| stale |" not in text and table(results_df) in text
    assert text.startswith("# Results\n") and text.endswith(f"{README_END}\nfooter\n")
    assert update_readme(readme, csv, outcomes) is False
    assert readme.read_text() == text


# --------------------------------------------------------------------------------------------
# python -m gbp_utils.results
# --------------------------------------------------------------------------------------------
def test_cli_check_fails_until_the_table_is_written(results_df, tmp_path, capsys):
    csv, outcomes = write_results(results_df, tmp_path)
    readme = readme_file(tmp_path / "README.md")
    args = ["--readme", str(readme), "--csv", str(csv), "--outcomes", str(outcomes)]
    assert results.main(["--check", *args]) == 1
    assert "results table differs from the CSV" in capsys.readouterr().err
    assert "| stale |" in readme.read_text(), "--check never writes"
    assert results.main(args) == 0
    assert "wrote the results table (3 rows)" in capsys.readouterr().out
    assert table(results_df) in readme.read_text()
    assert results.main(["--check", *args]) == 0
    assert "matches the CSV" in capsys.readouterr().out
    # A changed CSV (and its outcomes) makes the check fail again.
    write_results(results_df.assign(successes=results_df.successes - 1, success_rate=(results_df.successes - 1) / 100),
                  tmp_path)
    assert results.main(["--check", *args]) == 1


def test_cli_without_a_csv_or_outcomes_raises_the_notebook_08_hint(results_df, tmp_path):
    readme = readme_file(tmp_path / "README.md")
    with pytest.raises(FileNotFoundError, match="notebook 08"):
        results.main(["--check", "--readme", str(readme), "--csv", str(tmp_path / "none.csv")])
    csv, _ = write_results(results_df, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"none\.csv\.gz does not exist: run notebook 08"):
        results.main(["--check", "--readme", str(readme), "--csv", str(csv), "--outcomes", str(tmp_path / "none.csv.gz")])


# --------------------------------------------------------------------------------------------
# The paper's format and the verdicts
# --------------------------------------------------------------------------------------------
def _factorial_df(n_tasks=40):
    """Every factorial model x planner of both regimes on 2 seeds x n_tasks: successes chosen per pair."""
    import gbp_utils
    from gbp_utils import final_evaluation as fe
    from helpers import result_row, result_table

    planners = list(fe.factorial_planners(gbp_utils.presets(fast=True)))
    rows = [result_row(fe.factorial_name(r, f), p, seed, successes=min(n_tasks, 3 * i + 2 * j + seed + 5 * k), n_tasks=n_tasks)
            for k, r in enumerate(fe.REGIMES) for i, f in enumerate(fe.FINETUNES) for j, p in enumerate(planners)
            for seed in (0, 1)]
    return result_table(*rows)


def test_paper_markdown_lists_ours_with_intervals_beside_the_papers_numbers():
    from gbp_utils import final_evaluation as fe

    df = _factorial_df()
    summary = crossed_summary(result_outcomes(df), n_boot=200)
    md = results.paper_markdown({r: fe.paper_table(summary, r) for r in fe.REGIMES}).splitlines()
    assert md[0] == ("| data | row | GD ours % [95% CI] | GD paper % | Adam ours % [95% CI] | Adam paper % | "
                     "CEM ours % [95% CI] | CEM paper % |")
    assert len(md) == 2 + 2 * len(fe.PAPER_WALL)
    # online + MPC, expert regime: online is FINETUNES[3] (i = 3), "Adam MPC" planner j = 3 -> 15 + seed of 40
    row = next(line for line in md if line.startswith("| expert | online + MPC |"))
    adam = summary[(summary.model == "online") & (summary.planner == "Adam MPC")].iloc[0]
    assert f"| {100 * adam.success_rate:.1f} [{100 * adam.low:.1f}, {100 * adam.high:.1f}] | 80 |" in row
    assert row.endswith("| 90 |")


def test_claims_markdown_has_one_line_per_claim_and_regime_with_its_verdict():
    from gbp_utils import final_evaluation as fe
    from gbp_utils.stats import paired_claims

    out = result_outcomes(_factorial_df())
    verdicts = {r: paired_claims(out, fe.paper_claims(r) + fe.series_claims(r), n_boot=200) for r in fe.REGIMES}
    md = results.claims_markdown(verdicts).splitlines()
    assert md[0] == "| claim | data | A % | B % | A − B, points [95% CI] | verdict |"
    assert len(md) == 2 + sum(len(v) for v in verdicts.values())
    mpc = next(line for line in md if line.startswith("| MPC improves Adam-GBP over open loop (base model) | expert |"))
    # base (i = 0): Adam MPC (j = 3) 6 + seed of 40, Adam open-loop (j = 2) 4 + seed -> +5.0 points
    v = verdicts["expert"].set_index("claim").loc["MPC improves Adam-GBP over open loop (base model)"]
    assert mpc.endswith(f"| 16.2 | 11.2 | +5.0 [{100 * v.low:+.1f}, {100 * v.high:+.1f}] | {v.verdict} |")


def test_update_readme_fills_the_paper_and_claims_blocks_and_check_sees_a_stale_one(tmp_path):
    df = _factorial_df()
    csv, out = tmp_path / "r.csv", tmp_path / "o.csv.gz"
    write_csv(df, csv)
    write_csv(result_outcomes(df), out)
    readme = tmp_path / "README.md"
    readme.write_text(f"{results.PAPER_BEGIN}\n{results.PAPER_END}\n{results.CLAIMS_BEGIN}\n{results.CLAIMS_END}\n"
                      f"{README_BEGIN}\n{README_END}\n")
    assert update_readme(readme, csv, out) and not update_readme(readme, csv, out)
    text = readme.read_text()
    assert "| expert + play | adversarial + MPC |" in text and "| online finetuning improves Adam-GBP (MPC) | expert |" in text
    assert results.main(["--check", "--readme", str(readme), "--csv", str(csv), "--outcomes", str(out)]) == 0
    readme.write_text(text.replace("| supported |", "| undecided |", 1))
    assert results.main(["--check", "--readme", str(readme), "--csv", str(csv), "--outcomes", str(out)]) == 1


def test_budget_markdown_and_the_readme_block_come_from_the_budget_table(tmp_path):
    from gbp_utils import final_evaluation as fe
    from test_final_evaluation import _budget_df

    df = _budget_df()
    out = result_outcomes(df)
    table = fe.budget_table(out, crossed_summary(out), aggregate(df))
    md = results.budget_markdown(table).splitlines()
    assert md[0].startswith("| data | model | budget | model evals / task, Adam · CEM |") and len(md) == 2 + len(table)
    # base, lite: Adam 10 + seed, CEM 20 + seed of 40 tasks per seed
    assert md[2].startswith("| expert | base | lite | 10,000 · 11,000 | 26.2 [") and md[2].endswith("| not supported |")
    assert "| 51.2 [" in md[2] and "| -25.0 [" in md[2]
    csv, outcomes = tmp_path / "r.csv", tmp_path / "o.csv.gz"
    write_csv(df, csv)
    write_csv(out, outcomes)
    readme = tmp_path / "README.md"
    readme.write_text(f"{results.BUDGET_BEGIN}\n{results.BUDGET_END}\n{README_BEGIN}\n{README_END}\n")
    assert update_readme(readme, csv, outcomes) and results.budget_markdown(table) in readme.read_text()
    assert results.main(["--check", "--readme", str(readme), "--csv", str(csv), "--outcomes", str(outcomes)]) == 0
