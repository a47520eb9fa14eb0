"""Tests for gbp_utils.reproduce on small throw-away notebooks."""

import os
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gbp_utils import reproduce

GOOD_SOURCE = [
    "import os, sys\nprint('fast flag:', os.environ.get('GBP_FAST', 'unset'))",
    "print('interpreter:', sys.executable)\nprint('cwd:', os.getcwd())",
    # an interactive widget, as every notebook of the series has (nbclient must not choke on it)
    "import ipywidgets as W\nW.interactive(lambda x: print('x =', x), x=W.IntSlider(value=3))",
    "6 * 7",
]


def _write_notebook(path, sources):
    """Write a notebook with a title cell followed by one code cell per source."""
    nb = new_notebook(cells=[new_markdown_cell("# Test notebook")])
    nb.cells += [new_code_cell(source) for source in sources]
    nb.metadata["widgets"] = {"stale": True}
    nbformat.write(nb, path)
    return path


def _stdout(nb):
    """All stream text printed by the notebook's code cells."""
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.fixture
def good_notebook(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    return _write_notebook(notebooks / "01_good.ipynb", GOOD_SOURCE)


@pytest.fixture
def bad_notebook(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    # Cell index 0 is markdown, so the failing code cell has index 2.
    return _write_notebook(
        notebooks / "02_bad.ipynb", ["x = 1", "raise ValueError('boom')", "print('unreachable')"]
    )


def test_fast_mode_writes_copy_and_leaves_source(good_notebook, tmp_path):
    original = good_notebook.read_bytes()
    out_dir = tmp_path / "build" / "fast"

    times = reproduce.run_notebooks([good_notebook], fast=True, out_dir=out_dir)

    assert [name for name, _ in times] == ["01_good.ipynb"]
    assert good_notebook.read_bytes() == original
    executed = nbformat.read(out_dir / "01_good.ipynb", as_version=4)
    text = _stdout(executed)
    assert "fast flag: 1" in text
    assert f"interpreter: {sys.executable}" in text
    assert f"cwd: {good_notebook.parent}" in text


def test_fast_mode_requires_out_dir(good_notebook):
    with pytest.raises(ValueError, match="out_dir"):
        reproduce.run_notebooks([good_notebook], fast=True)


def test_full_mode_rewrites_in_place(good_notebook):
    reproduce.run_notebooks([good_notebook], fast=False)

    executed = nbformat.read(good_notebook, as_version=4)
    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == [1, 2, 3, 4]
    assert "widgets" not in executed.metadata
    assert "fast flag: unset" in _stdout(executed)
    assert code_cells[-1].outputs[0]["data"]["text/plain"] == "42"


def test_failing_cell_is_reported_and_source_kept(bad_notebook, tmp_path, capsys):
    original = bad_notebook.read_bytes()

    exit_code = reproduce.main(
        ["--notebooks-dir", str(bad_notebook.parent), "--build-dir", str(tmp_path / "build")]
    )

    assert exit_code == 1
    message = capsys.readouterr().err
    assert "02_bad.ipynb" in message
    assert "cell index 2" in message
    assert "raise ValueError('boom')" in message
    assert "ValueError: boom" in message
    assert bad_notebook.read_bytes() == original


def test_discover_notebooks_sorted_and_filtered(tmp_path):
    for name in ["03_c.ipynb", "A1_appendix.ipynb", "01_a.ipynb", "02_b.ipynb", "notes.ipynb", "lecture_demo.ipynb"]:
        _write_notebook(tmp_path / name, [])

    assert [p.name for p in reproduce.discover_notebooks(tmp_path)] == [
        "01_a.ipynb",
        "02_b.ipynb",
        "03_c.ipynb",
        "A1_appendix.ipynb",
    ]
    assert [p.name for p in reproduce.discover_notebooks(tmp_path, {"A1"})] == ["A1_appendix.ipynb"]
    only = reproduce.discover_notebooks(tmp_path, {"01", "03"})
    assert [p.name for p in only] == ["01_a.ipynb", "03_c.ipynb"]
    with pytest.raises(ValueError, match="04"):
        reproduce.discover_notebooks(tmp_path, {"04"})


def test_format_times_has_total():
    table = reproduce.format_times([("01_a.ipynb", 1.5), ("02_b.ipynb", 2.0)])
    assert table.splitlines()[-1].split() == ["total", "3.5"]


# --------------------------------------------------------------------------------------------
# parallel runs (--jobs 2)
# --------------------------------------------------------------------------------------------
def _marker_source(folder, name, wait_for=None, timeout=120.0, absent=None, linger=0.0, needs=None):
    """A cell that coordinates with other notebooks through marker files in ``folder``, without relying on
    how fast anything runs: it writes ``<name>.started``; if ``needs`` is given, fails unless
    ``<needs>.done`` already exists (that notebook finished first); if ``wait_for`` is given, polls until
    ``<wait_for>.started`` exists and fails after ``timeout`` seconds (the other notebook never ran at the
    same time); if ``absent`` is given, fails if ``<absent>.started`` appears within ``linger`` seconds;
    finally writes ``<name>.done``."""
    return f"""import pathlib, time
folder = pathlib.Path({str(folder)!r})
(folder / "{name}.started").write_text("")
if {needs!r} is not None and not (folder / "{needs}.done").exists():
    raise RuntimeError("{name} started before {needs} finished")
if {wait_for!r} is not None:
    deadline = time.monotonic() + {timeout}
    while not (folder / "{wait_for}.started").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("{wait_for} did not start while {name} was running")
        time.sleep(0.05)
if {absent!r} is not None:
    deadline = time.monotonic() + {linger}
    while time.monotonic() < deadline:
        if (folder / "{absent}.started").exists():
            raise RuntimeError("{absent} started while {name} was still running")
        time.sleep(0.05)
(folder / "{name}.done").write_text("")
"""


def _markers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_schedule_order_follows_prerequisites_among_the_notebooks_run(tmp_path):
    paths = [tmp_path / f"{p}_x.ipynb" for p in ("02", "03", "06", "07", "08")]
    needs = reproduce.schedule_order(paths)
    by = {p.name[:2]: p for p in paths}
    assert needs[by["02"]] == set() and needs[by["03"]] == {by["02"]}
    assert needs[by["07"]] == {by["06"]} and needs[by["08"]] == {by["06"]}
    # a prerequisite that is not being run is not waited for
    assert reproduce.schedule_order(paths[2:])[by["06"]] == set()


def test_parallel_run_overlaps_independent_notebooks_and_waits_for_prerequisites(tmp_path, monkeypatch):
    """01 and 02 meet at a barrier: each marks that it started, then waits (at most 120 s) for the other's
    mark, so both can only finish if they ran side by side, however slow the machine. 03 needs 02: it
    fails unless 02 had finished when it started (and 02 fails if 03 starts within 3 s of its end)."""
    notebooks, markers = tmp_path / "notebooks", tmp_path / "markers"
    notebooks.mkdir()
    markers.mkdir()
    sources = {"01": _marker_source(markers, "01", wait_for="02"),
               "02": _marker_source(markers, "02", wait_for="01", absent="03", linger=3.0),
               "03": _marker_source(markers, "03", needs="02")}
    paths = [_write_notebook(notebooks / f"{p}_{p}.ipynb", [source]) for p, source in sources.items()]
    monkeypatch.setattr(reproduce, "PREREQUISITES", {"03": ("02",)})

    times = reproduce.run_notebooks(paths, fast=True, out_dir=tmp_path / "out", jobs=2)

    assert [name for name, _ in times] == ["01_01.ipynb", "02_02.ipynb", "03_03.ipynb"]
    assert _markers(markers) == [f"{p}.{what}" for p in ("01", "02", "03") for what in ("done", "started")]
    assert all((tmp_path / "out" / p.name).exists() for p in paths)


def test_the_barrier_fails_when_the_notebooks_run_one_after_the_other(tmp_path):
    """The check above can fail: with one job, 01 waits for 02 in vain (here for 1 s) and the run stops."""
    notebooks, markers = tmp_path / "notebooks", tmp_path / "markers"
    notebooks.mkdir()
    markers.mkdir()
    paths = [_write_notebook(notebooks / "01_a.ipynb", [_marker_source(markers, "01", wait_for="02", timeout=1.0)]),
             _write_notebook(notebooks / "02_b.ipynb", [_marker_source(markers, "02", wait_for="01", timeout=1.0)])]

    with pytest.raises(reproduce.NotebookExecutionError) as info:
        reproduce.run_notebooks(paths, fast=True, out_dir=tmp_path / "out", jobs=1)

    assert (info.value.notebook, info.value.ename) == ("01_a.ipynb", "TimeoutError")
    assert _markers(markers) == ["01.started"], "02 must not have started"


def test_parallel_failure_is_reported_and_its_dependents_never_start(tmp_path, monkeypatch):
    notebooks, markers = tmp_path / "notebooks", tmp_path / "markers"
    notebooks.mkdir()
    markers.mkdir()
    _write_notebook(notebooks / "01_fine.ipynb", [_marker_source(markers, "01")])
    _write_notebook(notebooks / "02_bad.ipynb", ["x = 1", "raise ValueError('boom')"])
    _write_notebook(notebooks / "03_after.ipynb", [_marker_source(markers, "03")])
    monkeypatch.setattr(reproduce, "PREREQUISITES", {"03": ("02",)})
    paths = reproduce.discover_notebooks(notebooks)

    with pytest.raises(reproduce.NotebookExecutionError) as info:
        reproduce.run_notebooks(paths, fast=True, out_dir=tmp_path / "out", jobs=2)

    err = info.value
    assert (err.notebook, err.cell_index, err.ename, err.evalue) == ("02_bad.ipynb", 2, "ValueError", "boom")
    assert "raise ValueError('boom')" in err.details
    assert _markers(markers) == ["01.done", "01.started"], "01 ran to its end, 03 never started"
    assert not (tmp_path / "out" / "03_after.ipynb").exists()
    assert not (tmp_path / "out" / "02_bad.ipynb").exists()


def test_jobs_must_be_positive(good_notebook, tmp_path):
    with pytest.raises(ValueError, match="jobs must be >= 1; got 0"):
        reproduce.run_notebooks([good_notebook], fast=True, out_dir=tmp_path, jobs=0)


# --------------------------------------------------------------------------------------------
# Cache jobs: notebook 08's training seeds computed beside the notebooks
# --------------------------------------------------------------------------------------------
def test_cache_jobs_are_one_per_training_seed_of_notebook_08(tmp_path):
    import gbp_utils

    paths = [tmp_path / f"{p}_x.ipynb" for p in ("03", "06", "08")]
    for fast in (True, False):
        jobs = reproduce.cache_jobs(paths, fast)
        assert [j.seed for j in jobs] == list(gbp_utils.presets(fast).seeds) and {j.notebook for j in jobs} == {"08"}
    assert reproduce.cache_jobs(paths[:2], False) == []
    assert reproduce.CacheJob("08", 2).name == "08 cache, seed 2"


def test_schedule_order_puts_the_cache_jobs_before_their_notebook(tmp_path):
    paths = [tmp_path / f"{p}_x.ipynb" for p in ("03", "06", "08")]
    by = {p.name[:2]: p for p in paths}
    jobs = [reproduce.CacheJob("08", s) for s in (0, 1, 2)]
    needs = reproduce.schedule_order(paths, jobs)
    assert needs[by["08"]] == {by["06"], *jobs}
    assert needs[jobs[0]] == {by["06"]}, "seed 0 loads the models of the notebooks before 08"
    assert needs[jobs[1]] == set() and needs[jobs[2]] == set(), "other seeds need nothing: they start at once"
    assert reproduce.schedule_order(paths[2:], jobs)[jobs[0]] == set(), "06 is not being run: nothing to wait for"


def test_run_cache_job_fills_the_cache_with_the_kernels_environment(monkeypatch):
    from gbp_utils import final_evaluation

    seen = {}

    def fake_prefill(presets, seed):
        seen.update(seed=seed, fast=os.environ.get("GBP_FAST"), threads=os.environ.get("OMP_NUM_THREADS"),
                    n_seeds=len(presets.seeds))

    monkeypatch.setattr(os, "environ", dict(os.environ))  # the job edits the environment: work on a copy
    monkeypatch.setattr(final_evaluation, "prefill", fake_prefill)
    assert reproduce.run_cache_job(reproduce.CacheJob("08", 1), fast=True) >= 0
    assert seen == {"seed": 1, "fast": "1", "threads": "1", "n_seeds": len(__import__("gbp_utils").presets(True).seeds)}
    monkeypatch.setattr(final_evaluation, "prefill", lambda presets, seed: 1 / 0)
    with pytest.raises(reproduce.CacheJobError, match=r"08 cache, seed 1 failed with ZeroDivisionError"):
        reproduce.run_cache_job(reproduce.CacheJob("08", 1), fast=False)
    assert "GBP_FAST" not in os.environ, "a full-mode job clears the fast flag"


def test_notebook_11_cache_jobs_wait_for_seed_0_which_chooses_the_settings(tmp_path, monkeypatch):
    import gbp_utils
    from gbp_utils import pessimism

    paths = [tmp_path / f"{p}_x.ipynb" for p in ("03", "06", "08", "11")]
    by = {p.name[:2]: p for p in paths}
    jobs = reproduce.cache_jobs(paths, fast=False)
    assert {(j.notebook, j.seed) for j in jobs} == {(n, s) for n in ("08", "11") for s in gbp_utils.presets(False).seeds}
    needs = reproduce.schedule_order(paths, jobs)
    first = reproduce.CacheJob("11", 0)
    assert needs[first] == {by["06"]}
    assert needs[reproduce.CacheJob("11", 1)] == {first} == needs[reproduce.CacheJob("11", 2)]
    assert needs[reproduce.CacheJob("08", 1)] == set()  # 08's seeds still start at once
    assert needs[by["11"]] == {by["06"], *[j for j in jobs if j.notebook == "11"]}
    seen = {}
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.setattr(pessimism, "prefill", lambda presets, seed: seen.update(seed=seed))
    reproduce.run_cache_job(reproduce.CacheJob("11", 2), fast=True)
    assert seen == {"seed": 2}
    with pytest.raises(ValueError, match="no cache job for notebook '05'"):
        reproduce._prefill("05")


def test_kernels_import_the_package_of_the_repository_they_run(monkeypatch):
    """A rebuild from a second clone must not import (and write the figures and README of) another tree."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/somewhere/else", ""]))
    env = reproduce._kernel_environment(fast=False)
    parts = env["PYTHONPATH"].split(os.pathsep)
    assert parts == [str(reproduce.REPO_ROOT), "/somewhere/else"]
    assert (reproduce.REPO_ROOT / "gbp_utils" / "__init__.py").exists()
    monkeypatch.delenv("PYTHONPATH")
    assert reproduce._kernel_environment(fast=True)["PYTHONPATH"] == str(reproduce.REPO_ROOT)


def test_notebook_10_cache_jobs_start_at_once_and_the_notebook_waits_for_08(tmp_path, monkeypatch):
    import gbp_utils
    from gbp_utils import harder

    paths = [tmp_path / f"{p}_x.ipynb" for p in ("06", "08", "10")]
    by = {p.name[:2]: p for p in paths}
    jobs = reproduce.cache_jobs(paths, fast=False)
    assert {(j.notebook, j.seed) for j in jobs} == {(n, s) for n in ("08", "10") for s in gbp_utils.presets(False).seeds}
    needs = reproduce.schedule_order(paths, jobs)
    assert all(needs[reproduce.CacheJob("10", s)] == set() for s in gbp_utils.presets(False).seeds)
    assert needs[by["10"]] == {by["08"], *[j for j in jobs if j.notebook == "10"]}
    seen = {}
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.setattr(harder, "prefill", lambda presets, seed: seen.update(seed=seed, world=presets.world))
    reproduce.run_cache_job(reproduce.CacheJob("10", 1), fast=True)
    assert seen == {"seed": 1, "world": None}


def test_notebook_09_cache_jobs_run_in_parts_that_wait_for_what_they_load(tmp_path, monkeypatch):
    import gbp_utils
    from gbp_utils import vision

    paths = [tmp_path / f"{p}_x.ipynb" for p in ("06", "08", "09")]
    by = {p.name[:2]: p for p in paths}
    jobs = reproduce.cache_jobs(paths, fast=False)
    seeds = gbp_utils.presets(False).seeds
    assert {(j.notebook, j.seed, j.part) for j in jobs} == (
        {("08", s, None) for s in seeds} | {("09", s, part) for s in seeds for part in ("pixels", "states")}
        | {("09", seeds[0], "encoder"), ("09", seeds[0], "development")}), "encoder, development: first seed only"
    needs = reproduce.schedule_order(paths, jobs)
    encoder = reproduce.CacheJob("09", 0, "encoder")
    for s in seeds[1:]:
        assert needs[reproduce.CacheJob("09", s, "states")] == {reproduce.CacheJob("08", s)}
        assert needs[reproduce.CacheJob("09", s, "pixels")] == {encoder}, "the pixel pipeline needs no state model"
    assert needs[reproduce.CacheJob("09", 0, "states")] == {by["08"], reproduce.CacheJob("08", 0)}
    assert needs[encoder] == {by["08"]}
    assert needs[reproduce.CacheJob("09", 0, "pixels")] == {by["08"], encoder}
    assert needs[reproduce.CacheJob("09", 0, "development")] == {by["08"], reproduce.CacheJob("09", 0, "pixels")}
    assert needs[by["09"]] == {by["08"], *[j for j in jobs if j.notebook == "09"]}
    assert reproduce.CacheJob("09", 1, "states").name == "09 cache, seed 1 (states)"
    ours = sorted((j for j in jobs if j.notebook == "09"), key=reproduce._order)  # the long pixel parts first
    assert [(j.part, j.seed) for j in ours] == ([("encoder", seeds[0])] + [("pixels", s) for s in seeds]
                                                + [("development", seeds[0])] + [("states", s) for s in seeds])
    # without 08's jobs (or the encoder's) among those run, 09's jobs of other seeds wait for nothing
    alone, pixels = reproduce.CacheJob("09", 1, "states"), reproduce.CacheJob("09", 1, "pixels")
    assert reproduce.schedule_order(paths[2:], [alone, pixels]) == {paths[2]: {alone, pixels}, alone: set(),
                                                                    pixels: set()}
    assert set(vision.PARTS) == set(reproduce.JOB_PARTS["09"])
    assert set(vision.FIRST_SEED_PARTS) == {part for notebook, part in reproduce.FIRST_SEED_PARTS if notebook == "09"}
    seen = {}
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.setattr(vision, "prefill", lambda presets, seed, part: seen.update(
        seed=seed, part=part, size=presets.pixels.encoder.image.size))
    reproduce.run_cache_job(reproduce.CacheJob("09", 2, "pixels"), fast=True)
    assert seen == {"seed": 2, "part": "pixels", "size": 32}
