"""Tests for gbp_utils.results: the README's results table rendered from the final evaluation's CSV
(readme_table, render_readme, update_readme) and the ``python -m gbp_utils.results`` CLI."""

import re

import pytest

from gbp_utils import results
from gbp_utils.final_evaluation import write_csv
from gbp_utils.results import README_BEGIN, README_END, readme_table, render_readme, update_readme
from gbp_utils.stats import aggregate, wilson_interval


# --------------------------------------------------------------------------------------------
# README table
# --------------------------------------------------------------------------------------------
def test_readme_table_has_a_header_and_one_formatted_line_per_row(results_df):
    agg = aggregate(results_df)
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


def test_update_readme_rewrites_the_table_once(results_df, tmp_path):
    csv = tmp_path / "results.csv"
    write_csv(results_df, csv)
    readme = readme_file(tmp_path / "README.md")
    assert update_readme(readme, csv) is True
    text = readme.read_text()
    assert "| stale |" not in text and readme_table(aggregate(results_df)) in text
    assert text.startswith("# Results\n") and text.endswith(f"{README_END}\nfooter\n")
    assert update_readme(readme, csv) is False
    assert readme.read_text() == text


# --------------------------------------------------------------------------------------------
# python -m gbp_utils.results
# --------------------------------------------------------------------------------------------
def test_cli_check_fails_until_the_table_is_written(results_df, tmp_path, capsys):
    csv = tmp_path / "results.csv"
    write_csv(results_df, csv)
    readme = readme_file(tmp_path / "README.md")
    args = ["--readme", str(readme), "--csv", str(csv)]
    assert results.main(["--check", *args]) == 1
    assert "results table differs from the CSV" in capsys.readouterr().err
    assert "| stale |" in readme.read_text(), "--check never writes"
    assert results.main(args) == 0
    assert "wrote the results table (3 rows)" in capsys.readouterr().out
    assert readme_table(aggregate(results_df)) in readme.read_text()
    assert results.main(["--check", *args]) == 0
    assert "matches the CSV" in capsys.readouterr().out
    # A changed CSV makes the check fail again.
    write_csv(results_df.assign(successes=results_df.successes - 1), csv)
    assert results.main(["--check", *args]) == 1


def test_cli_without_a_csv_raises_the_notebook_08_hint(tmp_path):
    readme = readme_file(tmp_path / "README.md")
    with pytest.raises(FileNotFoundError, match="notebook 08"):
        results.main(["--check", "--readme", str(readme), "--csv", str(tmp_path / "none.csv")])
