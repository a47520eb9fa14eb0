"""Every claim in a notebook follows from its data.

Two scans of the committed (instructor) notebooks in notebooks/, with their full-mode outputs:

(a) **No numeric success targets.** An ``assert`` may not compare a success rate (or its interval, or a
    success count) with a numeric constant: ``r.success_rate < 0.6``, ``after.rate > before.rate + 0.1``
    and ``r.ci_low > 0.9`` all fail. Allowed: comparing rates and intervals with each other
    (``a.ci_high < b.ci_low``), sign checks against 0 (the interval of a paired difference excluding 0;
    ``0 <= r.ci_low``) and the upper bound 1 (``r.ci_high <= 1``), which hold by construction. Anything
    else needs an entry in ``ALLOWED_ASSERTS`` with its reason.
(b) **Every result number in prose is backed.** Each percentage, decimal number or multiplier ("2.5×")
    in a markdown cell must appear in an output of the notebook (stream, text/plain, text/markdown) or
    in an ``assert`` of the code cells next to it. Math (``$...$``), inline code, links, figure numbers and
    the References section are not scanned; numbers that are not results (a confidence level, a
    hyper-parameter, a number quoted from the paper) go in ``ALLOWED_NUMBERS`` with their reason.

``REWRITING`` names the notebooks that are being rewritten in this change; their scans are xfailed
until they are done, then the entry is removed.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))  # instructor editions only (not notebooks/student/)

# Being rewritten in this change (a sealed test split and the factorial); empty this set when they are done.
REWRITING = set()

# (a) Asserts on a success rate against a constant that are checks by construction, not targets:
# {notebook stem: {source of the comparison (whitespace-normalised): reason}}. Keep it short.
ALLOWED_ASSERTS: dict[str, dict[str, str]] = {
    "01_environment": {"rate >= 0.99 > rate_less": "example 3 defines T_min as the smallest budget with >= 99% oracle "
                                                   "success; the assert re-checks that definition with fresh runs"},
}

# (b) Numbers in prose that are not results of the notebook: {notebook stem or "*": {number: reason}}.
ALLOWED_NUMBERS: dict[str, dict[str, str]] = {
    "*": {"95%": "the confidence level of every interval in the series"},
    "02_expert_data": {"0.95": "the play data's persistence slider value in a Try prompt (a setting)"},
    "03_world_model": {"1.0": "the normalised loss of predicting the average move (a definition)"},
    "08_final_evaluation": {"2.5%": "the lower quantile of a 95% percentile interval (exercise 1's definition)",
                            "97.5%": "the upper quantile of a 95% percentile interval (exercise 1's definition)"},
}

# ---------------------------------------------------------------------------------------------------
# (a) asserts
# ---------------------------------------------------------------------------------------------------
_RATE_WORDS = {"success", "successes", "succeeded", "rate", "rates", "ok", "ci_low", "ci_high"}
_NOT_RATES = {"learning_rate", "lr", "success_radius"}  # a step size and a distance, not success rates


def _words(name: str) -> set[str]:
    """The name and its parts between underscores and other separators ("ok_after" -> ok, after)."""
    name = name.lower()
    return set() if name in _NOT_RATES else set(re.split(r"[^a-z0-9]+", name)) | {name}


def _mentions_rate(node: ast.AST) -> bool:
    """Does the expression read a success rate, its interval or a success count (by the names it uses:
    attributes, variables and string keys such as ``["success"]``)?"""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            name = sub.attr
        elif isinstance(sub, ast.Name):
            name = sub.id
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and len(sub.value) < 40:
            name = sub.value
        else:
            continue
        if _words(name) & _RATE_WORDS:
            return True
    return False


def _constants(node: ast.AST) -> list[float]:
    """Numeric constants of an expression at the level of its arithmetic (``x + 0.1``, ``2 * x``,
    ``(0.8 if FAST else 0.98)``), not inside calls or subscripts (``iloc[-1]``, ``round(x, 3)``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return [float(node.value)]
    if isinstance(node, ast.UnaryOp):
        return [-c if isinstance(node.op, ast.USub) else c for c in _constants(node.operand)]
    if isinstance(node, ast.BinOp):
        return _constants(node.left) + _constants(node.right)
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


_ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _by_construction(left: ast.AST, op: ast.cmpop, right: ast.AST) -> bool:
    """0 anywhere (a sign check), or the upper bound 1 of a rate (``rate <= 1``, ``1 >= rate``)."""
    consts = _constants(left) + _constants(right)
    if all(c == 0 for c in consts):
        return True
    upper = (isinstance(op, ast.LtE) and _constants(right) == [1.0] and not _constants(left)) or \
            (isinstance(op, ast.GtE) and _constants(left) == [1.0] and not _constants(right))
    return upper


def _code(source: str) -> str:
    """A code cell's source with IPython magics and shell lines blanked, so that ``ast`` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def threshold_asserts(nb, allowed: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(cell index, comparison source) of every assert comparing a success rate with a numeric constant."""
    allowed = allowed or {}
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = _code(cell.source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            found.append((i, "cell does not parse; cannot check its asserts"))
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assert):
                continue
            for cmp in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
                operands = [cmp.left, *cmp.comparators]
                for left, op, right in zip(operands, cmp.ops, operands[1:]):
                    if not isinstance(op, _ORDER) or not (_mentions_rate(left) or _mentions_rate(right)):
                        continue
                    if not (_constants(left) or _constants(right)) or _by_construction(left, op, right):
                        continue
                    text = " ".join(ast.get_source_segment(source, cmp).split())
                    if text not in allowed:
                        found.append((i, text))
    return found


# ---------------------------------------------------------------------------------------------------
# (b) numbers in prose
# ---------------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?(%|×)|×\s?(\d+(?:\.\d+)?)(?![\w.])|(?<![\w.])(\d+\.\d+)(?![\w.])")
_SKIP = [re.compile(p, re.DOTALL) for p in (
    r"\$\$.*?\$\$", r"\$[^$\n]+\$",  # math
    r"`[^`\n]*`",  # inline code
    r"\]\([^)]*\)", r"<[^>\n]*>", r"https?://\S+",  # link targets, html tags, urls
    r"(?i)\b(?:figure|fig\.|section|§|notebook|table|arxiv:?)\s*\d+(?:\.\d+)*",  # references to parts
)]


def prose_numbers(markdown: str) -> list[str]:
    """The result-like numbers of a markdown cell, as written ("58.3%", "0.76", "2.5×")."""
    for pattern in _SKIP:
        markdown = pattern.sub(" ", markdown)
    out = []
    for m in _NUMBER.finditer(markdown):
        if m.group(1):
            out.append(m.group(1) + m.group(2))
        elif m.group(3):
            out.append("×" + m.group(3))
        else:
            out.append(m.group(4))
    return out


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            parts += [data.get(k, "") for k in ("text/plain", "text/markdown")]
    return "\n".join(parts)


def _asserts_text(cell) -> str:
    try:
        tree = ast.parse(_code(cell.source))
    except SyntaxError:
        return ""
    return "\n".join(ast.get_source_segment(_code(cell.source), n) for n in ast.walk(tree) if isinstance(n, ast.Assert))


def _forms(number: str) -> list[str]:
    """How a prose number may be printed. A decimal as written; a whole-number percentage with its sign
    ("4%"); a percentage also as a fraction ("77.0%": 0.770 or 0.77); a whole-number multiplier with an
    x or × on either side ("7×": 7x, x7)."""
    value = number.strip("%×")
    whole = "." not in value
    if number.endswith("%"):
        decimals = 0 if whole else len(value.split(".")[1])
        forms = [value + "%" if whole else value, f"{float(value) / 100:.{decimals + 2}f}"]
        if not whole:
            forms.append(f"{float(value) / 100:.{decimals + 1}f}")
        return forms
    if "×" in number and whole:
        return [f"{value}x", f"x{value}", f"{value}×", f"×{value}"]
    return [value]


def _appears(form: str, text: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(form)}(?!\.?\d)", text) is not None


def unsupported_numbers(nb, allowed: dict[str, str] | None = None, neighbours: int = 2) -> list[tuple[int, str]]:
    """(cell index, number) of every prose number found neither in an output of the notebook nor in an
    assert of the ``neighbours`` code cells before and after it."""
    allowed = allowed or {}
    outputs = "\n".join(_output_text(c) for c in nb.cells if c.cell_type == "code")
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or "badges" in cell.metadata.get("tags", []):
            continue
        if re.match(r"\s*#+\s*References", cell.source):
            continue
        before = [j for j in code_cells if j < i][-neighbours:]
        after = [j for j in code_cells if j > i][:neighbours]
        nearby = "\n".join(_asserts_text(nb.cells[j]) for j in before + after)
        for number in prose_numbers(cell.source):
            if number in allowed:
                continue
            if not any(_appears(f, outputs) or _appears(f, nearby) for f in _forms(number)):
                found.append((i, number))
    return found


# ---------------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------------
def _params():
    for path in NOTEBOOKS:
        marks = [pytest.mark.xfail(reason="being rewritten in this change", strict=False)] \
            if path.stem in REWRITING else []
        yield pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", list(_params()))
def test_no_numeric_success_targets(path):
    nb = nbformat.read(path, as_version=4)
    bad = threshold_asserts(nb, ALLOWED_ASSERTS.get(path.stem))
    assert not bad, f"{path.name}: asserts compare a success rate with a constant (compare intervals instead):\n" + \
        "\n".join(f"  cell {i}: {text}" for i, text in bad)


@pytest.mark.parametrize("path", list(_params()))
def test_prose_numbers_come_from_outputs(path):
    nb = nbformat.read(path, as_version=4)
    bad = unsupported_numbers(nb, {**ALLOWED_NUMBERS["*"], **ALLOWED_NUMBERS.get(path.stem, {})})
    assert not bad, f"{path.name}: numbers in markdown found in no output and no nearby assert:\n" + \
        "\n".join(f"  cell {i}: {n}" for i, n in bad)


def test_allow_lists_name_existing_notebooks():
    stems = {p.stem for p in NOTEBOOKS}
    assert set(ALLOWED_ASSERTS) <= stems and set(ALLOWED_NUMBERS) - {"*"} <= stems and REWRITING <= stems


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def test_the_scans_catch_a_bad_notebook():
    printed = nbformat.v4.new_code_cell("print(f'success 58.3%, gap x2.5')")
    printed.outputs = [nbformat.v4.new_output("stream", text="success 58.3%, gap x2.5\n")]
    nb = _notebook([
        printed,
        nbformat.v4.new_code_cell("assert rep.success_rate > 0.9\n"
                                  "assert after.success_rate > before.success_rate + 0.1\n"
                                  "assert (0.8 if FAST else 0.98) <= ceiling['mpc'].ci_low\n"
                                  "assert again_ok.float().mean() < 0.5\n"
                                  "assert r['success'] >= 1\n"
                                  "assert 0 <= r.ci_low <= r.success_rate <= r.ci_high <= 1\n"
                                  "assert a.ci_high < b.ci_low and d['low'] > 0\n"
                                  "assert gap['one_step_ratio'] > 5 and rates.iloc[-1] > rates.iloc[0]\n"
                                  "assert ratio < 0.2 * base_ratio\n"),
        nbformat.v4.new_markdown_cell("Success rose to 58.3% (2.5× less gap), not 91.2%; the model error fell to "
                                      "0.0199 and 7×. Figure 5.2, $10^{-3}$, `lr=0.003`, a 95% interval, and "
                                      "[a link](https://arxiv.org/abs/2512.09929)."),
    ])
    assert [text for _, text in threshold_asserts(nb)] == [
        "rep.success_rate > 0.9", "after.success_rate > before.success_rate + 0.1",
        "(0.8 if FAST else 0.98) <= ceiling['mpc'].ci_low", "again_ok.float().mean() < 0.5", "r['success'] >= 1"]
    assert threshold_asserts(nb, {"rep.success_rate > 0.9": "by construction"})[0][1] != "rep.success_rate > 0.9"
    assert unsupported_numbers(nb, ALLOWED_NUMBERS["*"]) == [(2, "91.2%"), (2, "0.0199"), (2, "7×")]
    # a number checked by an assert beside the prose is backed
    nb.cells.append(nbformat.v4.new_code_cell("assert abs(err - 0.0199) < 1e-4 and 91.2 > 7"))
    assert unsupported_numbers(nb, ALLOWED_NUMBERS["*"]) == [(2, "7×")]


def test_prose_number_forms():
    assert prose_numbers("77.0% and 0.76, ×12.6, 2.5×, 300 tasks, 1,000 steps, v0.11.2") == \
        ["77.0%", "0.76", "×12.6", "2.5×"]
    assert _forms("77.0%") == ["77.0", "0.770", "0.77"] and _forms("4%") == ["4%", "0.04"]
    assert _forms("7×") == ["7x", "x7", "7×", "×7"] and _forms("0.0199") == ["0.0199"]
    assert not _appears("0.77", "rate 0.770") and _appears("0.770", "rate 0.770") and not _appears("4%", "14%")
