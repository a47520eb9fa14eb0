"""Benchmark: how long each notebook widget takes to answer a control change.

    python benchmarks/bench_widgets.py [--updates 20] [--fast] [--readme README.md]

For every widget of the series (built exactly as its notebook builds it, from the full-mode presets and
the models cached in data/) this moves one control back and forth ``--updates`` times and times each
update from the control change to the redrawn figure: the widget's callback (planning, execution,
analysis), moving the artists of its persistent figure, then drawing that figure (Agg, as ipympl draws
it in the kernel) and encoding it as PNG (what ipympl sends to the page). Outside a kernel the
explorers' figures are off-screen Agg figures, drawn here explicitly. Besides the controls it times a
click on the arena (``Explorer.place``: both start sliders, one update) and the planner's iteration
slider (a redraw from the cached trace, no planning). It prints one row per widget and control: the
median and the 95th percentile in milliseconds, and whether the median meets the series' target
(200 ms; 800 ms for MPC updates).

One torch thread, as in the notebooks (``gbp_utils.setup``). ``--readme`` also writes the table, with the
date, the machine's CPU count and its load average, between the README's widget-bench markers.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["MPLBACKEND"] = "Agg"

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import gbp_utils  # noqa: E402
from gbp_utils import experiments, final_evaluation, finetuning, harder, pessimism, results, widgets  # noqa: E402
from gbp_utils.env import TrueDynamicsModel  # noqa: E402
from gbp_utils.finetuning import AdversarialConfig  # noqa: E402

TARGET_MS, MPC_TARGET_MS = 200.0, 800.0
BENCH_BEGIN, BENCH_END = "<!-- widget-bench:begin -->", "<!-- widget-bench:end -->"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=20, help="timed updates per control (default 20, at least 20)")
    p.add_argument("--fast", action="store_true", help="fast-mode presets and models (default follows GBP_FAST)")
    p.add_argument("--readme", type=Path, default=None,
                   help="also write the table between <!-- widget-bench:begin --> and <!-- widget-bench:end --> of this file")
    args = p.parse_args(argv)
    if args.updates < 20:
        p.error("--updates must be >= 20 (the median and 95th percentile need them)")
    return args


def _render(ui) -> None:
    """What the page gets after an update: the live figure drawn (once) and encoded as PNG."""
    canvas = ui.figure.canvas
    canvas.draw()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(io.BytesIO(), format="png")


def _setter(ui, name: str):
    """How to apply a value: a compute control by name, "click" (a click on the arena moving the start
    to a point: ``Explorer.place``) or "iteration" (the planner's display-only iteration slider)."""
    if name == "click":
        return lambda point: ui.place("start", *point)
    if name in ui.display_controls:
        return lambda value: setattr(ui.display_controls[name], "value", value)
    control = widgets.controls(ui)[name]
    return lambda value: setattr(control, "value", value)


def time_updates(ui, name: str, values: list, n: int) -> list[float]:
    """Apply ``values`` in turn, n times (``_setter``); the seconds of each update, redrawn figure included.
    Each update must redraw the figure exactly once."""
    apply = _setter(ui, name)
    seconds = []
    apply(values[-1])  # start from a known state; the first timed change is a real change
    _render(ui)
    for i in range(n):
        redraws = ui.live.redraws
        t0 = time.perf_counter()
        apply(values[i % len(values)])
        _render(ui)
        seconds.append(time.perf_counter() - t0)
        assert ui.live.redraws == redraws + 1, f"{name}: one update must redraw the figure once"
    return seconds


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main(argv=None) -> int:
    args = parse_args(argv)
    gbp_utils.setup(0)
    P = gbp_utils.presets(True if args.fast else None)
    wall = P.wall
    t0 = time.perf_counter()
    models = final_evaluation.factorial_models(P, 0, names=["base", "online + adversarial"])
    base = models["base"]
    snapshots = [base] + list(finetuning.get_online_model(P, progress=False).snapshots)
    eps_models = {eps: base if eps == 0 else finetuning.get_adversarial_model(P, None, AdversarialConfig(eps, eps),
                                                                              progress=False).model
                  for eps in P.eps_grid}
    cem_models = {"baseline": base, "online + adversarial": models["online + adversarial"],  # as notebook 07
                  "true dynamics": TrueDynamicsModel(wall)}
    tasks = P.eval_tasks(P.tasks.final)
    runs = {f"{m}, GBP MPC": experiments.run(model, P.gbp, tasks, P.mpc, wall) for m, model in models.items()}
    print(f"{'fast' if args.fast or gbp_utils.fast_mode() else 'full'}-mode presets; models and runs loaded in "
          f"{time.perf_counter() - t0:.1f} s; {args.updates} updates per control\n")

    plan_ui = widgets.planner_explorer(base, P.gbp_explorer, P.mpc, wall)  # as notebook 04
    ensemble = pessimism.ensemble_model(P, 0, "base", max(P.pessimism.members_grid))  # as notebook 11
    pess_configs = {"GBP": P.pessimism.widget_gbp, "CEM": P.pessimism.widget_cem}
    pess_ui = widgets.pessimism_explorer(ensemble, pess_configs, wall)
    task_ui = widgets.task_explorer(wall)
    worlds = harder.worlds(P)  # as notebook 10: two model kinds, light GBP and CEM, 30 development tasks per world
    inw = {n: P.in_world(w) for n, w in worlds.items()}
    world_ui = widgets.world_explorer(
        worlds, {n: {k: m for k, m in harder.world_models(P, n, 0).items() if k in ("base", "online + adversarial")}
                 for n in worlds},
        {n: q.eval_tasks()[:30] for n, q in inw.items()},
        {n: {"GBP": q.gbp_explorer, "CEM": q.pessimism.widget_cem} for n, q in inw.items()}, wall)
    obs_ui = widgets.observation_explorer(wall, size=P.pixels.encoder.image.size)  # as notebook 09
    cases = [  # (notebook, widget, ui, control, values, target)
        ("01", "task explorer", task_ui, "goal_x", [3.5, 3.0], TARGET_MS),
        ("01", "task explorer", task_ui, "click", [(-3.0, -2.0), (-3.5, -3.0)], TARGET_MS),
        ("02", "data explorer", widgets.data_explorer(wall), "noise_std", [0.15, 0.3], TARGET_MS),
        ("03", "push explorer", widgets.push_explorer(base, wall), "angle_deg", [0.0, 10.0], TARGET_MS),
        ("04", "planner explorer, open-loop", plan_ui, "goal_y", [2.0, 1.5], TARGET_MS),
        ("04", "planner explorer, open-loop", plan_ui, "click", [(-3.0, 2.5), (-3.0, 3.0)], TARGET_MS),
        ("04", "planner explorer, open-loop", plan_ui, "iteration", [0, 30], TARGET_MS),
        ("05", "online round explorer", widgets.online_round_explorer(snapshots, wall), "round",
         [0, len(snapshots) - 1], TARGET_MS),
        ("06", "epsilon explorer", widgets.epsilon_explorer(eps_models, P.gbp_explorer, wall), "eps",
         [min(eps_models), max(eps_models)], TARGET_MS),
        ("07", "CEM explorer", widgets.cem_explorer(cem_models, P.cem, wall), "goal_x", [3.0, 2.5], TARGET_MS),
        ("08", "results explorer", widgets.results_explorer(runs, tasks, wall), "task", [0, 1], TARGET_MS),
        ("09", "observation explorer", obs_ui, "size", [32, 64], TARGET_MS),
        ("09", "observation explorer", obs_ui, "click", [(-3.0, -2.0), (-3.5, 3.0)], TARGET_MS),
        ("10", "world explorer, GBP", world_ui, "task", [0, 1], TARGET_MS),
        ("10", "world explorer, GBP", world_ui, "world", ["momentum", "two walls"], TARGET_MS),
        ("11", "pessimism explorer, GBP", pess_ui, "beta", [widgets.BETA_OPTIONS[0], widgets.BETA_OPTIONS[-1]],
         TARGET_MS),
        ("11", "pessimism explorer, GBP", pess_ui, "click", [(-3.0, 2.5), (-3.0, 3.0)], TARGET_MS),
    ]
    rows = []
    for nb, widget, ui, control, values, target in cases:
        rows.append((nb, widget, control, time_updates(ui, control, values, args.updates), target))
    widgets.controls(plan_ui)["execution"].value = P.mpc
    rows.append(("04", f"planner explorer, {P.mpc.label}", "goal_y",
                 time_updates(plan_ui, "goal_y", [2.0, 1.5], args.updates), MPC_TARGET_MS))
    widgets.controls(world_ui)["planner"].value = "CEM"
    rows.append(("10", "world explorer, CEM", "task", time_updates(world_ui, "task", [0, 1], args.updates), TARGET_MS))
    widgets.controls(pess_ui)["planner"].value = "CEM"
    rows.append(("11", "pessimism explorer, CEM", "beta",
                 time_updates(pess_ui, "beta", [widgets.BETA_OPTIONS[0], widgets.BETA_OPTIONS[-1]], args.updates),
                 TARGET_MS))

    header = f"{'nb':<4}{'widget':<34}{'control':<11}{'median ms':>10}{'p95 ms':>9}{'target':>8}  meets"
    print(header)
    print("-" * len(header))
    failures = 0
    markdown = ["| nb | widget | control | median ms | p95 ms | target ms | meets |", "|---|---|---|---|---|---|---|"]
    for nb, widget, control, seconds, target in rows:
        median, p95 = 1e3 * statistics.median(seconds), 1e3 * percentile(seconds, 0.95)
        ok = median <= target
        failures += not ok
        print(f"{nb:<4}{widget:<34}{control:<11}{median:>10.0f}{p95:>9.0f}{target:>8.0f}  {'yes' if ok else 'NO'}")
        markdown.append(f"| {nb} | {widget} | {control} | {median:.0f} | {p95:.0f} | {target:.0f} | {'yes' if ok else 'no'} |")
    summary = f"{len(rows) - failures} of {len(rows)} widget updates meet their median target"
    print(f"\n{summary}")
    if args.readme is not None:
        load = os.getloadavg()[0]
        table = (f"Measured on {date.today().isoformat()} by `python benchmarks/bench_widgets.py` ({args.updates} updates per "
                 f"control, full-mode presets, one torch thread) on a {os.cpu_count()}-CPU machine with load average "
                 f"{load:.1f} at the end: {summary}.\n\n" + "\n".join(markdown))
        args.readme.write_text(results.render_readme(args.readme.read_text(), table, BENCH_BEGIN, BENCH_END))
        print(f"wrote the table into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
