"""Guards on the packaging files: pins, environment.yml drift, README commands."""

import re
import subprocess
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements():
    """Runtime plus "test" extra requirement strings from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["test"]


def _environment_pip_entries():
    """Entries of the ``- pip:`` list in environment.yml, read as plain text."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    pip_indent = len(lines[start]) - len(lines[start].lstrip())
    entries = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(line) - len(line.lstrip()) <= pip_indent:
            break
        item = line.strip()
        assert item.startswith("- "), f"unexpected line in pip section: {line!r}"
        entries.append(item[2:].split(" #")[0].strip())
    return entries


def _normalise(requirement):
    """Compare requirement strings regardless of spacing and quote style."""
    return requirement.replace(" ", "").replace('"', "'")


def _readme_block(name):
    """Non-blank lines between ``<!-- name -->`` and ``<!-- /name -->``, fences dropped."""
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    lines = [line.strip() for line in readme.read_text().splitlines()]
    opening, closing = f"<!-- {name} -->", f"<!-- /{name} -->"
    assert lines.count(opening) == 1, f"README.md needs exactly one {opening} marker"
    assert lines.count(closing) == 1, f"README.md needs exactly one {closing} marker"
    start, end = lines.index(opening), lines.index(closing)
    assert start < end, f"{opening} must come before {closing}"
    return [line for line in lines[start + 1 : end] if line and not line.startswith("```")]


def _setup_pip_steps():
    """The "pip ..." steps of the setup block; steps may be chained with "&&" on one line."""
    steps = [step.strip() for line in _readme_block("setup-command") for step in line.split("&&")]
    return [step for step in steps if step.startswith("pip ")]


def test_torch_is_pinned_exactly_and_installed_at_the_pin():
    pins = [req for req in _pyproject_requirements() if re.match(r"torch\b", req)]
    assert len(pins) == 1 and re.fullmatch(r"torch==\d+\.\d+\.\d+", pins[0]), pins
    import torch

    assert torch.__version__.split("+")[0] == pins[0].split("==")[1], "the venv does not run the pinned torch"


def test_environment_yml_matches_pyproject():
    entries = _environment_pip_entries()
    assert entries[-1] == "-e .", "environment.yml should finish by installing the package"
    from_env = sorted(_normalise(req) for req in entries[:-1])
    from_pyproject = sorted(_normalise(req) for req in _pyproject_requirements())
    assert from_env == from_pyproject


def test_environment_yml_header():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^name: gbp-tutorial$", text, re.MULTILINE)
    assert re.search(r"^\s+- python=3\.11$", text, re.MULTILINE)
    assert re.search(r"^\s+- pip$", text, re.MULTILINE)


def test_readme_has_single_test_command():
    commands = _readme_block("test-command")
    assert len(commands) == 1, f"expected one command line, found {commands}"
    assert "python -m pytest" in commands[0]


def test_readme_setup_installs_test_extra():
    pip_lines = _setup_pip_steps()
    assert pip_lines, "the setup-command block needs a 'pip install ...' line"
    assert any("[test]" in line for line in pip_lines)


def test_ci_runs_the_readme_commands():
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-commands"],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    setup = _setup_pip_steps()
    assert result.stdout.splitlines() == setup + _readme_block("test-command")


def test_readme_results_table_is_generated_from_the_committed_csv():
    """The README's results table must be exactly what ``python -m gbp_utils.results`` makes of
    data/results/final_evaluation.csv and its per-task outcomes, with one table row per model x planner."""
    from gbp_utils import results

    csv = ROOT / "data" / "results" / "final_evaluation.csv"
    assert csv.exists(), "data/results/final_evaluation.csv is missing: run notebook 08 in full mode"
    df = results.load_results(csv)
    outcomes = ROOT / "data" / "results" / "final_outcomes.csv.gz"
    assert results.main(["--check", "--csv", str(csv), "--outcomes", str(outcomes), "--readme", str(ROOT / "README.md")]) == 0
    text = (ROOT / "README.md").read_text()
    table = text.split(results.README_BEGIN)[1].split(results.README_END)[0]
    n_rows = len(df.groupby(["model", "planner"]))
    assert table.count("\n|") == n_rows + 2  # header, separator, one line per model x planner
    assert set(df.seed) >= {0, 1, 2}, "the final evaluation needs at least three training seeds"
