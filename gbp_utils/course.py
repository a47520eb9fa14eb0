"""One source, two editions: the committed notebooks are the instructor edition (solutions filled in,
outputs of a full run); ``python -m gbp_utils.course`` writes the student edition to notebooks/student/.

An exercise is a code cell tagged ``solution`` whose answer sits between nbgrader-style markers::

    def residual_step(model, states, actions):
        ### BEGIN SOLUTION
        ...the answer...
        ### END SOLUTION

Everything outside the markers is the scaffold the student sees; the marked region becomes
``raise NotImplementedError(...)`` at the same indentation. The cell after it, tagged ``check``, compares
the student's function with the package (``gbp_utils.exercises``). In the student edition every check
cell, and every solution cell whose marked region is at the top level (so the cell itself raises), is
tagged ``raises-exception`` so nbval accepts the error. Outputs, execution counts and widget state are
cleared. Cells tagged ``badges`` get links to the student notebook instead of the instructor one.

Only the numbered notebooks ``notebooks/[0-9][0-9]_*.ipynb`` have a student edition.
The GitHub owner/name used by the launch badges is read from ``[project.urls]`` in pyproject.toml.
"""
from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SCAFFOLD = 'raise NotImplementedError("Exercise: replace this line with your code")'
_SOLUTION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[ \t]*\n.*?^[ \t]*{re.escape(END)}[ \t]*$", re.M | re.S)


def numbered_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks that have two editions: notebooks/NN_*.ipynb."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def repository() -> str:
    """GitHub "owner/name" of the project, from the ``Repository`` URL in pyproject.toml's [project.urls]."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)/?", url)
    if not match:
        raise ValueError(f"[project.urls] Repository must be https://github.com/<owner>/<name>; got {url!r}")
    return match.group(1)


BADGE_IMAGES = {"open-in-colab.png": "Open in Colab", "launch-binder.png": "Launch Binder"}  # in docs/badges/


def badges(relative_path: str, repo: str | None = None, shown_in: str | None = None) -> str:
    """Markdown for the "Open in Colab" and "Launch Binder" badges of the notebook ``relative_path`` (from
    the repository root). The images are the repository's own docs/badges/*.png (scripts/draw_badges.py), so
    that opening a page never loads an image from the network: in a notebook (``shown_in`` None) inlined as
    data URIs, which travel with the notebook (JupyterLab logs an error for ``attachment:`` images while it
    renders them); in another file, e.g. ``shown_in="README.md"``, as paths relative to that file."""
    repo = repo or repository()
    if shown_in is None:
        colab_image, binder_image = (badge_data_uri(name) for name in BADGE_IMAGES)
    else:
        colab_image, binder_image = (f"{'../' * shown_in.count('/')}docs/badges/{name}" for name in BADGE_IMAGES)
    colab = f"https://colab.research.google.com/github/{repo}/blob/main/{relative_path}"
    binder = f"https://mybinder.org/v2/gh/{repo}/HEAD?labpath={quote(relative_path, safe='')}"
    return f"[![Open in Colab]({colab_image})]({colab}) [![Launch Binder]({binder_image})]({binder})"


def badge_data_uri(name: str) -> str:
    """One badge image of docs/badges/ as a data URI."""
    return "data:image/png;base64," + base64.b64encode((ROOT / "docs" / "badges" / name).read_bytes()).decode()


def badge_cell(relative_path: str) -> nbformat.NotebookNode:
    """The first cell of every notebook: its badges, tagged ``badges``."""
    cell = nbformat.v4.new_markdown_cell(badges(relative_path))
    cell.metadata["tags"] = ["badges"]
    return cell


def colab_cell(repo: str | None = None) -> str:
    """The source of every numbered notebook's first code cell: on Colab only, clone the repository (with
    its data/) and install the package with scripts/install_keep_torch.py, keeping Colab's own torch."""
    repo = repo or repository()
    name = repo.split("/")[1]
    return f'''# Google Colab only: fetch the repository (with its cached data/) and install the package, keeping
# Colab's own torch (scripts/install_keep_torch.py). Anywhere else this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess
    if not os.path.isdir("/content/{name}"):
        subprocess.run(["git", "clone", "--depth", "1", "https://github.com/{repo}", "/content/{name}"], check=True)
    subprocess.run([sys.executable, "/content/{name}/scripts/install_keep_torch.py"], check=True)
    sys.path.insert(0, "/content/{name}")  # the editable install is seen only by new interpreters
    os.chdir("/content/{name}/notebooks")'''


def scaffold(source: str) -> str:
    """A solution cell's source with every marked region replaced by a ``raise NotImplementedError``."""
    if BEGIN not in source:
        raise ValueError(f"a cell tagged 'solution' needs a '{BEGIN}' ... '{END}' region:\n{source}")
    out = _SOLUTION.sub(lambda m: f"{m.group(1)}{SCAFFOLD}", source)
    if BEGIN in out or END in out:
        raise ValueError(f"unbalanced solution markers in:\n{source}")
    return out


def raises_at_top_level(scaffold_source: str) -> bool:
    """True if running the scaffold cell itself raises (a marked region that is not indented)."""
    return any(line.startswith(SCAFFOLD) for line in scaffold_source.splitlines())


_RELATIVE_LINK = re.compile(r"\]\((?!https?:|#|mailto:|attachment:|data:)([^)\s]+)\)")


class StudentEdition(Preprocessor):
    """nbconvert preprocessor: solutions -> scaffolds, ``raises-exception`` tags, student badges."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # widget state of the instructor's run
        self.path = resources.get("student_path", "")
        return super().preprocess(nb, resources)

    @staticmethod
    def _relink(match) -> str:
        """Relative links of notebooks/ seen from notebooks/student/: the numbered notebooks have student
        editions next to them; everything else (the appendix, docs/, data/) is one folder further up."""
        target = match.group(1)
        if re.fullmatch(r"[0-9][0-9]_[\w-]+\.ipynb(#.*)?", target):
            return match.group(0)
        return f"](../{target})"

    def preprocess_cell(self, cell, resources, index):
        tags = list(cell.metadata.get("tags", []))
        if "solution" in tags:
            cell.source = scaffold(cell.source)
            if raises_at_top_level(cell.source):
                tags.append("raises-exception")
        if "check" in tags:
            tags.append("raises-exception")
        if "badges" in tags and self.path:
            cell.source = badges(self.path)
        elif cell.cell_type == "markdown":
            cell.source = _RELATIVE_LINK.sub(self._relink, cell.source)
        if tags:
            cell.metadata["tags"] = tags
        return cell, resources


def student_notebook(path: Path) -> nbformat.NotebookNode:
    """The student edition of one instructor notebook, in memory."""
    nb = nbformat.read(path, as_version=4)
    resources = {"student_path": f"notebooks/student/{path.name}"}
    nb, _ = ClearOutputPreprocessor().preprocess(nb, resources)
    nb, _ = StudentEdition().preprocess(nb, resources)
    return nb


# Student minutes per notebook, for docs/teaching.md: reading and doing, not compute time.
WORDS_PER_MINUTE = 120  # technical prose with equations
MINUTES = {"code cell": 1, "worked example": 5, "Try block": 10, "extra Try item": 3, "graded exercise": 12}


def workload(path: Path) -> dict:
    """What a student meets in a notebook (counted from its cells) and the estimated minutes to read and
    do it: words / WORDS_PER_MINUTE plus ``MINUTES`` per item, rounded to 5 minutes."""
    cells = nbformat.read(path, as_version=4).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown" and "badges" not in c.metadata.get("tags", [])]
    counts = {
        "words": sum(len(re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " x ", text, flags=re.S).split()) for text in markdown),
        "code cell": sum(c.cell_type == "code" and "colab-setup" not in c.metadata.get("tags", []) for c in cells),
        "worked example": sum(len(re.findall(r"^\*\*Example\b|^## Worked example\b", t, re.M)) for t in markdown),
        "Try block": sum(t.count("**Try:**") for t in markdown),
        "graded exercise": sum("solution" in c.metadata.get("tags", []) for c in cells),
    }
    items = sum(len(re.findall(r"^\d\. ", t, re.M)) for t in markdown if "**Try:**" in t)
    counts["extra Try item"] = max(0, items - counts["Try block"])
    minutes = counts["words"] / WORDS_PER_MINUTE + sum(MINUTES[k] * counts[k] for k in MINUTES)
    return {**counts, "minutes": 5 * round(minutes / 5)}


def workload_table(paths) -> str:
    """The markdown table of docs/teaching.md's "Student time per notebook"."""
    rows = ["| notebook | words (to 100) | code cells | worked examples | *Try* blocks (+ extra items) | graded exercises | minutes |",
            "|---|---|---|---|---|---|---|"]
    for path in paths:
        w = workload(path)
        rows.append(f"| {path.stem} | {round(w['words'], -2):,} | {w['code cell']} | {w['worked example']} | {w['Try block']} "
                    f"(+{w['extra Try item']}) | {w['graded exercise']} | {w['minutes']} |")
    return "\n".join(rows)


def student_text(path: Path) -> str:
    return nbformat.writes(student_notebook(path)) + "\n"


def write_badges() -> list[Path]:
    """Rewrite the badge cell of every instructor notebook (numbered and appendices) and the README's badge
    line from pyproject.toml's repository; return the files that changed."""
    changed = []
    for path in numbered_notebooks() + sorted(NOTEBOOKS.glob("A[0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if "badges" not in nb.cells[0].metadata.get("tags", []):
            raise ValueError(f"{path.name}: the first cell must be the badge cell (tagged 'badges')")
        cell = badge_cell(path.relative_to(ROOT).as_posix())
        if cell.source != nb.cells[0].source or "attachments" in nb.cells[0]:
            cell.id = nb.cells[0].get("id", cell.get("id"))
            nb.cells[0] = cell
            nbformat.write(nb, path)
            changed.append(path)
    readme = ROOT / "README.md"
    lines = readme.read_text().split("\n")
    line = badges("notebooks/01_environment.ipynb", shown_in="README.md")
    i = next(k for k, text in enumerate(lines) if text.startswith("[![Open in Colab]"))
    if lines[i] != line:
        lines[i] = line
        readme.write_text("\n".join(lines))
        changed.append(readme)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report student notebooks that are out of date")
    parser.add_argument("--minutes", action="store_true", help="print the student-time table of docs/teaching.md")
    parser.add_argument("--badges", action="store_true",
                        help="first rewrite the badges of the instructor notebooks and README from pyproject.toml")
    args = parser.parse_args(argv)
    if args.badges:
        for path in write_badges():
            print(f"badges: {path.relative_to(ROOT)}")
    if args.minutes:
        print(workload_table(numbered_notebooks() + sorted(NOTEBOOKS.glob("A[0-9]_*.ipynb"))))
        return 0
    STUDENT.mkdir(exist_ok=True)
    stale = []
    for path in numbered_notebooks():
        target = STUDENT / path.name
        text = student_text(path)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text)
    for target in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {target.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
