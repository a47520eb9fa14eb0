"""Re-execute the tutorial notebooks from top to bottom.

Usage (from the repository root)::

    python -m gbp_utils.reproduce                # full run, rewrites notebooks/ in place
    python -m gbp_utils.reproduce --fast         # quick run, copies go to build/fast/
    python -m gbp_utils.reproduce --only 01,03   # a subset, by prefix (01..08, the appendices 10, 11, A1)
    python -m gbp_utils.reproduce --jobs 1       # one notebook at a time (default: one per CPU, at most 2)

Notebooks named ``NN_*.ipynb`` (and appendices ``A<k>_*.ipynb``, last) are run in sorted order
(``--jobs 1``), each in a fresh kernel that uses *this* Python interpreter (whatever kernelspecs are
installed), with the notebook's own folder as working directory so that
relative paths such as ``../data`` resolve the same way as in Jupyter.

``--fast`` sets ``GBP_FAST=1`` for the kernel (the notebooks shrink their
workloads) and writes the executed copies under ``<build-dir>/fast/``, never
over the published notebooks. A full run removes ``GBP_FAST`` and replaces
each published notebook atomically, only once it has run without error.

With ``--jobs 2`` (the default on a machine with two or more CPUs) two
kernels run side by side, each with one torch thread. A notebook starts only
once the notebooks that produce the cached data it loads (``PREREQUISITES``)
have finished; it would run correctly without them, but it would rebuild the
same data at the same time. Notebook 08's final evaluation (models and runs of
every training seed) is computed by *cache jobs*, one per seed, that run in the
same pool beside the notebooks (seeds other than 0 need nothing from the earlier
notebooks, so they start at once); 08 then finds every run cached. Notebook 10's
harder worlds have cache jobs too (they need nothing from the other notebooks),
and so has notebook 11's pessimism study, whose seed-0 job first chooses the
ensemble size and penalty on tune tasks; its other seeds' jobs wait for it.
Notebook 09's pixels study runs in smaller parts (``JOB_PARTS``): for seed 0 the
image encoder (which every seed's pixel pipeline waits for: while it trains, the
other worker runs 08's state models on 09's tasks), per seed its pixel pipeline
and 08's state models on 09's tasks (after 08's job of that seed), and for seed 0
the notebook's tuning and development runs (after that seed's pixel part), so
that little is left for the notebook to run on one core.

Rebuilding ``data/`` from nothing: point ``GBP_DATA_DIR`` at an empty folder
(or empty ``data/``) and run the full series, e.g.
``GBP_DATA_DIR=/tmp/empty python -m gbp_utils.reproduce --jobs 2``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import nbformat
from ipykernel.kernelspec import get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm import tqdm

from .cache import atomic_write

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAME = re.compile(r"^(\d{2}|A\d)_.+\.ipynb$")  # the numbered notebooks and the appendices (A1_...)
FULL_TIMEOUT = 1800
"""Per-cell timeout in seconds for a full run."""
FAST_TIMEOUT = 600
"""Per-cell timeout in seconds for a ``--fast`` run."""
PREREQUISITES = {"A1": ("02",), "03": ("02",), "04": ("03",), "05": ("03",), "06": ("03",), "07": ("06",), "08": ("06",),
                 "09": ("08",), "10": ("08",), "11": ("06",)}
"""Notebook prefix -> the prefixes whose cached data (datasets, models) it loads. Only used to order
parallel runs (``jobs > 1``); every notebook also runs on its own, regenerating what is missing.
05 and 06 are left free to overlap: 06 loads 05's online model, so with an empty data/ both would
train it at once (correct, only duplicate work: a few seconds in fast mode)."""


CACHE_JOBS = ("08", "09", "10", "11")
"""Prefixes of the notebooks whose runs cache jobs compute, one job per training seed of ``presets().seeds``:
08's final evaluation (``final_evaluation.prefill``), 09's pixels study (``vision.prefill``), 10's harder worlds
(``harder.prefill``) and 11's pessimism study (``pessimism.prefill``)."""
CACHE_JOB_PREREQUISITES = {"10": ()}
"""Cache jobs that need less than their notebook: 10's jobs train their own worlds' models from nothing (the
notebook itself reads 08's table for the point world's column)."""
JOB_PARTS = {"09": ("encoder", "pixels", "development", "states")}
"""Notebooks whose cache job of one seed is split in parts that run as separate jobs (``prefill(presets, seed,
part=...)``): 09's image encoder (the first seed only), its pixel pipeline (latent models, their sealed runs), what
the notebook runs on tune and development tasks (the first seed only) and notebook 08's state models on 09's
sealed tasks. Smaller jobs keep both workers busy: three equal seed jobs on two workers leave one idle for a third
of the time, and work left to the notebook runs on one core."""
FIRST_SEED_PARTS = {("09", "encoder"), ("09", "development")}
"""Parts that only the first training seed has (one encoder for every seed; the notebook's development runs use
the first seed)."""
FIRST_SEED_JOBS = {("09", "pixels"): (("09", "encoder"),)}
"""Cache jobs (notebook, part) of every seed that load what a part of the first seed makes (09's pixel parts load
its encoder): they wait for it, and meanwhile a worker runs what is ready instead of waiting on a file lock."""
SAME_SEED_JOBS = {("09", "states"): (("08", None),), ("09", "development"): (("09", "pixels"),)}
"""Cache jobs (notebook, part) that load what other jobs of the same training seed make: 09's state part loads
notebook 08's state models (08's job of that seed), 09's development part the latent models of 09's pixel part."""
CHOOSING_SEED_FIRST = ("11",)
"""Notebooks whose seed-0 cache job chooses settings (on tune tasks) that the other seeds' jobs use: those
jobs wait for it."""


def _prefill(notebook: str):
    """The function a cache job of ``notebook`` runs: ``prefill(presets, seed)``."""
    if notebook == "08":
        from .final_evaluation import prefill
    elif notebook == "09":
        from .vision import prefill
    elif notebook == "10":
        from .harder import prefill
    elif notebook == "11":
        from .pessimism import prefill
    else:
        raise ValueError(f"no cache job for notebook {notebook!r}; CACHE_JOBS are {CACHE_JOBS}")
    return prefill


@dataclass(frozen=True)
class CacheJob:
    """Fill data/ with training seed ``seed``'s models and runs of notebook ``notebook``'s evaluation
    (``final_evaluation.prefill`` for 08, ``pessimism.prefill`` for 11) in a worker process, so that the
    notebook finds them cached."""

    notebook: str
    seed: int
    part: str | None = None

    @property
    def name(self) -> str:
        return f"{self.notebook} cache, seed {self.seed}" + (f" ({self.part})" if self.part else "")


class CacheJobError(RuntimeError):
    """A cache job failed; the message names the job and the error."""


def run_cache_job(job: CacheJob, fast: bool) -> float:
    """Run ``job`` in this (worker) process with the kernels' environment (one thread, fast flag); returns
    its wall time in seconds. Raises :class:`CacheJobError` naming the job if it fails."""
    environment = _kernel_environment(fast)
    os.environ.update(environment)
    if "GBP_FAST" not in environment:
        os.environ.pop("GBP_FAST", None)
    start = time.perf_counter()
    try:
        import gbp_utils

        gbp_utils.setup(0)
        parts = {} if job.part is None else {"part": job.part}
        _prefill(job.notebook)(gbp_utils.presets(fast), job.seed, **parts)
    except Exception as err:
        raise CacheJobError(f"{job.name} failed with {type(err).__name__}: {err}") from err
    return time.perf_counter() - start


def cache_jobs(paths: list[Path], fast: bool) -> list[CacheJob]:
    """The cache jobs of the notebooks among ``paths`` (``CACHE_JOBS``), one per training seed (and part, for the
    notebooks of ``JOB_PARTS``)."""
    prefixes = {_prefix(path) for path in paths}
    wanted = [p for p in CACHE_JOBS if p in prefixes]
    if not wanted:
        return []
    import gbp_utils

    seeds = gbp_utils.presets(fast).seeds
    return [CacheJob(p, seed, part) for p in wanted for seed in seeds for part in JOB_PARTS.get(p, (None,))
            if seed == seeds[0] or (p, part) not in FIRST_SEED_PARTS]


class NotebookExecutionError(RuntimeError):
    """A notebook cell failed, timed out or killed its kernel.

    Attributes name the notebook file, the failing cell (its 0-based index in
    the notebook and the first line of its source) and the error raised.
    """

    def __init__(
        self, notebook: str, cell_index: int, first_line: str, ename: str, evalue: str,
        details: str = "",
    ) -> None:
        self.notebook = notebook
        self.cell_index = cell_index
        self.first_line = first_line
        self.ename = ename
        self.evalue = evalue
        self.details = details  # the cell's traceback as nbclient reported it
        super().__init__(
            f"{notebook}: cell index {cell_index} failed "
            f"(first line: {first_line!r}) with {ename}: {evalue}"
        )

    def __reduce__(self):
        # survive the trip back from a worker process of a parallel run
        return (type(self), (self.notebook, self.cell_index, self.first_line, self.ename,
                             self.evalue, self.details))


class _CurrentInterpreterSpecs(KernelSpecManager):
    """Resolve any kernel name to ipykernel running on ``sys.executable``."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir="", **get_kernel_dict())


class _CurrentInterpreterKernelManager(AsyncKernelManager):
    """Kernel manager whose kernels always run in the calling environment."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("kernel_spec_manager", _CurrentInterpreterSpecs())
        super().__init__(**kwargs)


def discover_notebooks(notebooks_dir: Path, only: set[str] | None = None) -> list[Path]:
    """Return the ``NN_*.ipynb`` notebooks and ``A<k>_*.ipynb`` appendices of ``notebooks_dir`` in sorted
    order (appendices last).

    ``only`` restricts the result to the given prefixes ("01", "A1"); asking for
    a prefix that matches no notebook is an error.
    """
    found = sorted(
        path for path in Path(notebooks_dir).glob("*.ipynb") if NOTEBOOK_NAME.match(path.name)
    )
    if only is not None:
        prefixes = {NOTEBOOK_NAME.match(path.name).group(1) for path in found}
        missing = sorted(only - prefixes)
        if missing:
            raise ValueError(f"no notebook with prefix {', '.join(missing)} in {notebooks_dir}")
        found = [path for path in found if NOTEBOOK_NAME.match(path.name).group(1) in only]
    if not found:
        raise ValueError(f"no NN_*.ipynb notebooks found in {notebooks_dir}")
    return found


def _kernel_environment(fast: bool) -> dict[str, str]:
    """Environment for the kernel process: single-threaded, fast flag set or cleared, and this repository
    first on ``PYTHONPATH``. Trap: a kernel started in notebooks/ imports whatever ``gbp_utils`` is installed;
    from a second clone (a rebuild, a CI checkout) that is another working tree, whose figures/ and README
    the notebooks would then rewrite. With the repository first, a run uses and writes its own tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    # Without MPLBACKEND, ipykernel selects the inline backend, so figures are
    # embedded in the executed notebook (an inherited "Agg" would drop them).
    env.pop("MPLBACKEND", None)
    if fast:
        env["GBP_FAST"] = "1"
    else:
        env.pop("GBP_FAST", None)
    return env


def _clear_outputs(nb: nbformat.NotebookNode) -> None:
    """Drop previous results so that nothing stale survives a re-run."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def _write_atomically(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` through a temporary file and ``os.replace`` (``cache.atomic_write``)."""
    atomic_write(path, lambda f: nbformat.write(nb, f), mode="w")


def execute_notebook(source: Path, destination: Path, fast: bool, timeout: int) -> float:
    """Run ``source`` in a fresh kernel and write the result to ``destination``.

    Returns the wall time in seconds. On failure raises
    :class:`NotebookExecutionError` and writes nothing.
    """
    nb = nbformat.read(source, as_version=4)
    _clear_outputs(nb)
    current = {"index": 0}
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=_CurrentInterpreterKernelManager,
        resources={"metadata": {"path": str(source.parent)}},
        record_timing=False,
        # nbclient 0.11 raises KeyError on ipywidgets.interactive outputs when widget state is
        # not stored; store it while running and drop it before writing (see below).
        store_widget_state=True,
        on_cell_start=lambda cell, cell_index: current.update(index=cell_index),
    )
    start = time.perf_counter()
    try:
        client.execute(env=_kernel_environment(fast))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        cell = nb.cells[current["index"]]
        lines = cell.source.strip().splitlines()
        ename = getattr(err, "ename", type(err).__name__)
        evalue = getattr(err, "evalue", (str(err).strip().splitlines() or [""])[0])
        raise NotebookExecutionError(
            source.name, current["index"], lines[0] if lines else "", ename, evalue, str(err)
        ) from err
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)  # published notebooks carry no widget state
    _write_atomically(nb, destination)
    return seconds


def run_notebooks(
    paths: list[Path],
    fast: bool,
    out_dir: Path | None = None,
    timeout: int | None = None,
    jobs: int = 1,
) -> list[tuple[str, float]]:
    """Execute ``paths`` and return ``(file name, seconds)`` per notebook, in the order of ``paths``
    (with ``jobs > 1``, followed by ``(name, seconds)`` of each cache job, see ``cache_jobs``).

    Executed notebooks go to ``out_dir`` (same file names) or, when it is
    ``None``, back over the sources; a fast run must name an ``out_dir`` so
    that it never replaces the published notebooks. ``timeout`` is per cell
    and defaults to :data:`FAST_TIMEOUT` or :data:`FULL_TIMEOUT`. ``jobs`` is
    how many notebooks run at once (see :data:`PREREQUISITES`); ``jobs=1`` runs
    them in order. The first failure raises :class:`NotebookExecutionError`
    (with ``jobs > 1`` once the notebooks already running have finished; no
    further notebook is started).
    """
    if fast and out_dir is None:
        raise ValueError("a fast run needs out_dir: it must not overwrite the notebooks")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got {jobs}")
    if timeout is None:
        timeout = FAST_TIMEOUT if fast else FULL_TIMEOUT
    paths = [Path(path) for path in paths]
    destination = {path: path if out_dir is None else Path(out_dir) / path.name for path in paths}
    seconds: dict[Path, float] = {}
    bar = tqdm(total=len(paths), desc="notebooks", unit="nb")
    if jobs == 1:
        for path in paths:
            seconds[path] = execute_notebook(path, destination[path], fast, timeout)
            tqdm.write(f"{path.name}: {seconds[path]:.1f} s")
            bar.update()
    else:
        _run_parallel(paths, destination, fast, timeout, jobs, seconds, bar)
    bar.close()
    return [(path.name, seconds[path]) for path in paths] + [(job.name, t) for job, t in seconds.items()
                                                             if isinstance(job, CacheJob)]


def _prefix(path: Path) -> str:
    match = NOTEBOOK_NAME.match(path.name)
    return match.group(1) if match else path.name


def schedule_order(paths: list[Path], jobs: list[CacheJob] = ()) -> dict:
    """For each notebook (and cache job), the notebooks and cache jobs among ``paths`` and ``jobs`` that
    must finish before it starts: a notebook waits for its ``PREREQUISITES`` and its own cache jobs; a
    cache job of seed 0 waits for its notebook's prerequisites (it loads their models), other seeds for
    nothing — or, for the notebooks of ``CHOOSING_SEED_FIRST``, for their notebook's seed-0 job; and a job (part)
    of ``SAME_SEED_JOBS`` also for the other notebook's job of its seed, and one of ``FIRST_SEED_JOBS`` for that
    part of the first seed."""
    by_prefix = {_prefix(path): path for path in paths}
    needs = {path: {by_prefix[p] for p in PREREQUISITES.get(_prefix(path), ()) if p in by_prefix}
             for path in paths}
    prerequisites = {path: set(deps) for path, deps in needs.items()}  # before the notebooks' own jobs join them
    for job in jobs:
        if job.seed != 0:
            needs[job] = set()
        elif job.notebook in CACHE_JOB_PREREQUISITES:
            needs[job] = {by_prefix[p] for p in CACHE_JOB_PREREQUISITES[job.notebook] if p in by_prefix}
        else:
            needs[job] = set(prerequisites.get(by_prefix.get(job.notebook), set()))
        first = CacheJob(job.notebook, 0)
        if job.notebook in CHOOSING_SEED_FIRST and job.seed != 0 and first in jobs:
            needs[job].add(first)
        for loads, seed in ((SAME_SEED_JOBS, job.seed), (FIRST_SEED_JOBS, 0)):
            for notebook, part in loads.get((job.notebook, job.part), ()):
                if CacheJob(notebook, seed, part) in jobs:
                    needs[job].add(CacheJob(notebook, seed, part))
        if job.notebook in by_prefix:
            needs[by_prefix[job.notebook]].add(job)
    return needs


def _order(item) -> tuple:
    """Which of the items that may start goes first (after those others wait for): notebooks by name; cache jobs
    by notebook, then part in ``JOB_PARTS`` order (09's long pixel parts first), then seed."""
    if isinstance(item, CacheJob):
        parts = JOB_PARTS.get(item.notebook, (None,))
        return item.notebook, parts.index(item.part) if item.part in parts else 0, item.seed
    return (item.name,)


def _run_parallel(paths, destination, fast, timeout, jobs, seconds, bar) -> None:
    extra = cache_jobs(paths, fast)
    needs = schedule_order(paths, extra)
    # Among the items that may start, those that others wait for go first, then cache jobs (long), then by name.
    waiters = {item: sum(item in deps for deps in needs.values()) for item in needs}
    pending, running, failure = list(paths) + extra, {}, None
    bar.total += len(extra)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        while running or (pending and failure is None):
            ready = [p for p in pending if needs[p] <= seconds.keys()] if failure is None else []
            for item in sorted(ready, key=lambda p: (-waiters[p], not isinstance(p, CacheJob), _order(p)))[:jobs - len(running)]:
                pending.remove(item)
                running[pool.submit(run_cache_job, item, fast) if isinstance(item, CacheJob)
                        else pool.submit(execute_notebook, item, destination[item], fast, timeout)] = item
            if not running:
                raise RuntimeError(f"PREREQUISITES form a cycle among {[p.name for p in pending]}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                try:
                    seconds[item] = future.result()
                except (NotebookExecutionError, CacheJobError) as err:
                    failure = failure or err
                    continue
                tqdm.write(f"{item.name}: {seconds[item]:.1f} s")
                bar.update()
    if failure is not None:
        raise failure


def format_times(times: list[tuple[str, float]]) -> str:
    """Render per-notebook wall times and their total as a text table."""
    width = max([len("total")] + [len(name) for name, _ in times])
    rows = [f"{'notebook':<{width}}  {'seconds':>9}"]
    rows += [f"{name:<{width}}  {seconds:>9.1f}" for name, seconds in times]
    rows.append(f"{'total':<{width}}  {sum(s for _, s in times):>9.1f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m gbp_utils.reproduce",
        description="Re-execute the tutorial notebooks in order.",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="set GBP_FAST=1 and write executed copies to BUILD_DIR/fast/",
    )
    parser.add_argument(
        "--only",
        help="comma-separated prefixes to run, e.g. 01,03 or A1 (default: all)",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=REPO_ROOT / "build",
        help="output folder for --fast runs (default: build/ in the repository)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="notebooks run at once, each in its own single-threaded kernel (default: %(default)s)",
    )
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=REPO_ROOT / "notebooks",
        help="folder holding the NN_*.ipynb notebooks and A<k>_*.ipynb appendices (default: notebooks/)",
    )
    args = parser.parse_args(argv)

    only = {prefix.strip() for prefix in args.only.split(",")} if args.only else None
    try:
        paths = discover_notebooks(args.notebooks_dir, only)
    except ValueError as err:
        parser.error(str(err))

    out_dir = args.build_dir / "fast" if args.fast else None
    mode = "fast" if args.fast else "full"
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    print(f"Running {len(paths)} notebook(s) in {mode} mode, {args.jobs} at a time", flush=True)
    start = time.perf_counter()
    try:
        times = run_notebooks(paths, fast=args.fast, out_dir=out_dir, jobs=args.jobs)
    except CacheJobError as err:
        print(f"\nFAILED: {err}", file=sys.stderr)
        return 1
    except NotebookExecutionError as err:
        print(f"\n{err.details or err.__cause__}", file=sys.stderr)
        print(f"\nFAILED: {err}", file=sys.stderr)
        if args.fast:
            print("No executed copy was written for this notebook.", file=sys.stderr)
        else:
            print(f"{err.notebook} was left unchanged.", file=sys.stderr)
        return 1
    print()
    print(format_times(times))
    print(f"wall clock: {time.perf_counter() - start:.1f} s with {args.jobs} notebook(s) at a time")
    if out_dir is not None:
        print(f"\nExecuted copies written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
