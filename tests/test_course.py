"""The two editions of the notebooks and their launch badges.

* notebooks/student/ is exactly what ``python -m gbp_utils.course`` makes from the instructor notebooks;
* every solution cell has markers, every check cell follows a solution, and the instructor edition has no
  error output;
* the README and every numbered notebook carry Colab and Binder badges built from the one repository name
  in pyproject.toml, and every notebook's first code cell is the Colab setup cell made from it too;
* every numbered notebook ends with References and links to the next one.
"""

import re
from pathlib import Path

import nbformat
import pytest

from gbp_utils import course

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = course.numbered_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def test_numbered_notebooks_are_01_to_08_then_appendices_from_09():
    prefixes = [p.name[:2] for p in NOTEBOOKS]
    assert prefixes[:8] == [f"{i:02d}" for i in range(1, 9)]
    assert all(int(p) >= 9 for p in prefixes[8:]) and prefixes == sorted(prefixes)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_is_in_sync(path):
    target = course.STUDENT / path.name
    assert target.exists(), f"{target} is missing: run python -m gbp_utils.course"
    assert target.read_text() == course.student_text(path), \
        f"{target.name} is out of date: run python -m gbp_utils.course"


def test_student_folder_holds_only_editions_of_numbered_notebooks():
    assert sorted(p.name for p in course.STUDENT.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_has_no_solutions_and_no_outputs(path):
    nb = nbformat.read(course.STUDENT / path.name, as_version=4)
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        assert course.BEGIN not in cell.source and course.END not in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        tags = cell.metadata.get("tags", [])
        if "check" in tags:
            assert "raises-exception" in tags


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_instructor_edition_structure(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    counts = [c.execution_count for c in cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "execution counts must run 1, 2, ... (a full in-order run)"
    for i, cell in enumerate(cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], f"cell {i} has an error output"
        if "solution" in tags:
            assert course.BEGIN in cell.source and course.END in cell.source
            assert "check" in cells[i + 1].metadata.get("tags", [])
        if "check" in tags:
            assert "solution" in cells[i - 1].metadata.get("tags", [])
    assert cells[-1].source.startswith("## References"), "each notebook ends with a References section"
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1


def test_scaffold_replaces_each_marked_region_at_its_indentation():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    assert course.scaffold(source) == f"def f(x):\n    y = 1\n    {course.SCAFFOLD}\n"
    assert not course.raises_at_top_level(course.scaffold(source))
    top = "### BEGIN SOLUTION\nz = 2\n### END SOLUTION"
    assert course.raises_at_top_level(course.scaffold(top))
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        course.scaffold("x = 1")
    with pytest.raises(ValueError, match="unbalanced"):
        course.scaffold("### BEGIN SOLUTION\nx = 1\n")


def test_repository_comes_from_pyproject():
    import tomllib
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    assert url == f"https://github.com/{course.repository()}"


def _badge_repos(text):
    colab = re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/([\w./-]+\.ipynb)", text)
    binder = re.findall(r"mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/HEAD\?labpath=([\w.%-]+)", text)
    return colab, binder


def test_readme_badges_use_the_repository():
    readme = (ROOT / "README.md").read_text()
    colab, binder = _badge_repos(readme)
    assert colab and binder, "README needs an Open in Colab and a Launch Binder badge"
    assert {r for r, _ in colab + binder} == {course.repository()}
    assert course.badges("notebooks/01_environment.ipynb", shown_in="README.md") in readme


def test_badge_images_never_come_from_the_network():
    """Badges must not make a page load an image from the network (the browser test runs offline, and
    copies only the notebooks): in notebooks the images are data URIs of docs/badges/*.png, in the README
    those files."""
    readme = (ROOT / "README.md").read_text()
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme.split("\n## ")[0]):
        assert (ROOT / image).is_file(), image
    for path in [*NOTEBOOKS, *(course.STUDENT / p.name for p in NOTEBOOKS), *course.NOTEBOOKS.glob("A[0-9]_*.ipynb")]:
        cell = nbformat.read(path, as_version=4).cells[0]
        images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", cell.source)
        assert images == [course.badge_data_uri(name) for name in course.BADGE_IMAGES], f"{path.name}: {images}"
        assert "attachments" not in cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
@pytest.mark.parametrize("edition", ["instructor", "student"])
def test_notebook_badges_and_colab_cell_use_the_repository(path, edition):
    file = path if edition == "instructor" else course.STUDENT / path.name
    nb = nbformat.read(file, as_version=4)
    first = nb.cells[0]
    assert "badges" in first.metadata.get("tags", [])
    relative = file.relative_to(ROOT).as_posix()
    assert first.source == course.badges(relative)
    colab, binder = _badge_repos(first.source)
    assert colab == [(course.repository(), relative)] and len(binder) == 1
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == course.colab_cell() and "colab-setup" in code[0].metadata.get("tags", [])
    assert course.repository() in code[0].source


@pytest.mark.parametrize("path", NOTEBOOKS[:-1], ids=IDS[:-1])
def test_next_links_to_the_following_notebook(path):
    following = NOTEBOOKS[NOTEBOOKS.index(path) + 1].name
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert re.search(rf"\*\*Next:\*\* \[[^\]]+\]\({re.escape(following)}\)", text), f"no Next link to {following}"


def test_teaching_guide_workload_table_is_current():
    text = (ROOT / "docs" / "teaching.md").read_text()
    table = text.split("<!-- workload-table:begin -->\n")[1].split("\n<!-- workload-table:end -->")[0]
    paths = NOTEBOOKS + sorted(course.NOTEBOOKS.glob("A[0-9]_*.ipynb"))
    assert table == course.workload_table(paths), "run python -m gbp_utils.course --minutes and paste the table"


def test_readme_links_the_teaching_guide_and_both_editions():
    readme = (ROOT / "README.md").read_text()
    assert "docs/teaching.md" in readme and "notebooks/student" in readme


@pytest.mark.parametrize("path", NOTEBOOKS + [course.STUDENT / p.name for p in NOTEBOOKS]
                         + sorted(course.NOTEBOOKS.glob("A[0-9]_*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_relative_links_resolve(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    for target in re.findall(r"\]\((?!https?:|#|mailto:|attachment:|data:)([^)\s]+)\)", text):
        assert (path.parent / target.split("#")[0]).exists(), f"{path.name}: broken link {target}"


def test_readme_exercise_count_is_the_real_one():
    count = sum("solution" in c.metadata.get("tags", []) for p in NOTEBOOKS for c in nbformat.read(p, 4).cells)
    match = re.search(r"graded exercises \((\d+) in all", (ROOT / "README.md").read_text())
    assert match and int(match.group(1)) == count


def test_teaching_guide_total_hours_is_the_sum_of_the_table():
    minutes = sum(course.workload(p)["minutes"] for p in NOTEBOOKS)
    assert f"add up to {minutes} minutes (about {round(minutes / 60)} hours)" in \
        (ROOT / "docs" / "teaching.md").read_text().replace("\n", " ")
