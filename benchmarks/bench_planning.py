"""Benchmark: batched versus per-task gradient-based planning, and MPC, on the held-out tasks.

    python benchmarks/bench_planning.py [--tasks 300] [--loop-tasks 20] [--fast]

Loads the preset world model (``gbp_utils.presets``; trained and cached in data/ on first use),
pins torch to one thread, and times in one run:

  * GBP open loop, batched: every task planned in ONE planner call, then executed; the same for the
    cheap GBP (``presets().gbp_lite``) and for CEM (``presets().cem``);
  * GBP open loop, looped: a Python loop planning one task per call, on the first ``--loop-tasks``
    tasks (extrapolated per task: per-task cost does not depend on how many are looped);
  * GBP MPC (``presets().mpc``) on the whole batch;
  * CEM open loop (``presets().cem`` and the budget sweep's heavy CEM population) scoring its samples in
    chunks of a few tasks (``sampling.SCORE_ROWS``, the default) and in one batch: the same plans, bit for
    bit, at different speeds.

It prints one row per method: tasks, total seconds, ms per task, tasks per second, world-model
evaluations per task (forward + 2 x backward step evaluations, as in ``evaluation.EvalReport``),
success rate, and the speedup of each method over the looped planner.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402

import gbp_utils  # noqa: E402
from gbp_utils.control import Episodes, Execution, execute, run_open_loop  # noqa: E402
from gbp_utils.env import WallEnv, success  # noqa: E402
from gbp_utils.evaluation import model_evals  # noqa: E402
from gbp_utils import sampling  # noqa: E402
from gbp_utils.planners import make_planner  # noqa: E402
from gbp_utils.world_model import checkpoint_path, get_world_model  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=None,
                   help="held-out tasks for the batched runs (default: the preset's tasks.eval)")
    p.add_argument("--loop-tasks", type=int, default=20,
                   help="tasks planned one at a time in the looped run (default 20)")
    p.add_argument("--replan-every", type=int, default=None,
                   help="MPC: actions executed per plan (default: presets().mpc.replan_every)")
    p.add_argument("--fast", action="store_true",
                   help="use the fast-mode presets (smaller data, shorter training); default follows GBP_FAST")
    p.add_argument("--seed", type=int, default=0, help="planner seed")
    args = p.parse_args(argv)
    if args.tasks is not None and args.tasks < 1:
        p.error("--tasks must be >= 1")
    if args.replan_every is not None and args.replan_every < 1:
        p.error("--replan-every must be >= 1")
    if args.loop_tasks < 1:
        p.error("--loop-tasks must be >= 1")
    return args


def row(name: str, n: int, seconds: float, evals_per_task: float, success_rate: float) -> dict:
    return {"method": name, "tasks": n, "seconds": seconds, "ms_per_task": 1e3 * seconds / n,
            "tasks_per_s": n / seconds, "wm_evals_per_task": evals_per_task, "success": success_rate}


def evals_per_task(ep: Episodes) -> float:
    return float(model_evals(ep.wm_forward.float().mean(), ep.wm_backward.float().mean()))


def print_table(rows: list[dict], reference: str) -> None:
    ref_ms = next(r["ms_per_task"] for r in rows if r["method"] == reference)
    header = (f"{'method':<28}{'tasks':>7}{'total s':>10}{'ms/task':>10}{'tasks/s':>10}"
              f"{'WM evals/task':>15}{'success':>9}{'speedup':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['method']:<28}{r['tasks']:>7d}{r['seconds']:>10.2f}{r['ms_per_task']:>10.1f}"
              f"{r['tasks_per_s']:>10.1f}{r['wm_evals_per_task']:>15,.0f}{100 * r['success']:>8.1f}%"
              f"{ref_ms / r['ms_per_task']:>8.1f}x")


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    P = gbp_utils.presets(True if args.fast else None)
    n = args.tasks or P.tasks.eval
    n_loop = min(args.loop_tasks, n)

    path = checkpoint_path([P.expert_data], P.model, P.train)
    cached = path.exists()
    t0 = time.perf_counter()
    model = get_world_model([P.expert_data], P.model, P.train, progress=False).model
    model.eval()
    print(f"world model: {path.name} ({'loaded' if cached else 'trained and cached'} in "
          f"{time.perf_counter() - t0:.1f} s; {'fast' if P.train.epochs < 40 else 'full'} presets)")

    env = WallEnv(P.wall)
    tasks = P.eval_tasks(n) if n <= P.tasks.eval else gbp_utils.sample_tasks(n, P.eval_seed, "eval", P.wall)
    cfg = dataclasses.replace(P.gbp, seed=args.seed)
    planner = make_planner(model, cfg, P.wall.max_step)
    mpc = Execution("mpc", args.replan_every) if args.replan_every else P.mpc
    H = P.wall.max_steps
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; {n} held-out tasks, horizon {H}; "
          f"GBP {cfg.optimizer} lr {cfg.lr}, {cfg.iterations} iterations ({cfg.warm_iterations} warm), "
          f"{cfg.restarts} restarts")

    # Warm-up (first-call allocations, lazy init) so no method pays it.
    planner(tasks.starts[:2], tasks.goals[:2], 4)

    rows = []

    # Batched open loop: GBP, the cheap GBP of notebooks 07-08 and CEM (same compute accounting)
    batched = None
    for name, planner_ in (("GBP open loop, batched", planner),
                           ("GBP-lite open loop, batched", make_planner(model, P.gbp_lite, P.wall.max_step)),
                           ("CEM open loop, batched", make_planner(model, P.cem, P.wall.max_step))):
        t0 = time.perf_counter()
        ep = run_open_loop(env, planner_, tasks)
        seconds = time.perf_counter() - t0
        batched = batched or ep
        rows.append(row(name, n, seconds, evals_per_task(ep),
                        success(ep.final_states, tasks.goals, P.wall).float().mean().item()))

    sub = type(tasks)(tasks.starts[:n_loop], tasks.goals[:n_loop], tasks.split, tasks.seed)
    finals, evals = [], []
    t0 = time.perf_counter()
    for i in range(n_loop):
        one = type(tasks)(sub.starts[i:i + 1], sub.goals[i:i + 1], tasks.split, tasks.seed)
        ep = run_open_loop(env, planner, one)
        finals.append(ep.final_states)
        evals.append(evals_per_task(ep))
    seconds = time.perf_counter() - t0
    looped_success = success(torch.cat(finals), sub.goals, P.wall).float().mean().item()
    rows.append(row("GBP open loop, looped", n_loop, seconds, sum(evals) / n_loop, looped_success))

    t0 = time.perf_counter()
    mpc_run = execute(env, planner, tasks, mpc)
    seconds = time.perf_counter() - t0
    rows.append(row(f"GBP MPC (replan {mpc.replan_every}), batched", n, seconds, evals_per_task(mpc_run),
                    success(mpc_run.final_states, tasks.goals, P.wall).float().mean().item()))

    # CEM scoring: chunks of a few tasks (default) against one batch of every task x sample
    chunked_rows = sampling.SCORE_ROWS
    heavy_cem = P.final_budgets["CEM", "heavy"][0]
    ratios = []
    for label, cem_cfg in ((f"CEM {P.cem.population}", P.cem), (f"CEM {heavy_cem.population}", heavy_cem)):
        plans = {}
        for how, rows_per_chunk in (("chunked", chunked_rows), ("one batch", 10 ** 12)):
            sampling.SCORE_ROWS = rows_per_chunk
            t0 = time.perf_counter()
            ep = run_open_loop(env, make_planner(model, cem_cfg, P.wall.max_step), tasks)
            rows.append(row(f"{label} open loop, {how}", n, time.perf_counter() - t0, evals_per_task(ep),
                            success(ep.final_states, tasks.goals, P.wall).float().mean().item()))
            plans[how] = ep.actions
        sampling.SCORE_ROWS = chunked_rows
        ratios.append((label, rows[-1]["ms_per_task"] / rows[-2]["ms_per_task"],
                       torch.equal(plans["chunked"], plans["one batch"])))

    print()
    print_table(rows, reference="GBP open loop, looped")
    speedup = rows[3]["ms_per_task"] / rows[0]["ms_per_task"]
    same = success(batched.final_states[:n_loop], sub.goals, P.wall).float().mean().item()
    print(f"\nbatched vs looped open-loop planning: {speedup:.1f}x faster per task "
          f"(looped run: first {n_loop} tasks, extrapolated per task).")
    print(f"On those {n_loop} tasks: batched success {100 * same:.1f}%, looped {100 * looped_success:.1f}% "
          "(restarts are shared by all tasks, so a task gets the same plan alone or in a batch).")
    for label, ratio, same_plans in ratios:
        print(f"{label}: scoring in chunks of {chunked_rows} rollouts is {ratio:.1f}x faster than one batch; "
              f"plans {'identical bit for bit' if same_plans else 'differ (this BLAS rounds a row differently for another batch size, which can flip near-tied elites)'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
