"""Benchmark: planning through an ensemble of world models (notebook 11), in one run.

    python benchmarks/bench_ensemble.py [--members 5] [--tasks 300] [--repeats 5]

Times GBP (``presets().final_planners["Adam"]``, open loop) through an ensemble of M members of the preset
architecture with a disagreement penalty, two ways: the planners' path (``_FusedEnsembleRollout``: one
autograd node with a hand-written backward) and autograd step by step (``EnsembleWorldModel._penalised_rollout``),
on one task (what the beta widget plans, at ``presets().gbp_explorer``'s budget) and on a batch of tasks;
and, for scale, one model with M times the restarts (the matched-compute comparison) through its own fused
rollout. Timing does not depend on the weights, so the members are freshly initialised (nothing trains).
Prints seconds per call and the ratios.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import gbp_utils  # noqa: E402
from gbp_utils.ensemble import EnsembleWorldModel  # noqa: E402
from gbp_utils.pessimism import scaled_planner  # noqa: E402
from gbp_utils.planners import make_planner  # noqa: E402
from gbp_utils.world_model import WorldModel  # noqa: E402


class _Autograd(EnsembleWorldModel):
    """The same ensemble, its rollout differentiated by autograd step by step."""

    def penalised_rollout(self, starts, actions):
        return self._penalised_rollout(starts, actions)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--tasks", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    P = gbp_utils.presets(fast=False)
    torch.manual_seed(0)
    members = [WorldModel(P.model).eval() for _ in range(args.members)]
    fused = EnsembleWorldModel.from_models(members, beta=1.0)
    reference = _Autograd({name: p.data for name, p in fused.named_parameters()}, fused.spec)
    tasks = P.eval_tasks(args.tasks)
    H = P.wall.max_steps
    cases = {"one task, widget budget": (P.gbp_explorer, tasks[:1]),
             f"{args.tasks} tasks, final Adam": (P.final_planners["Adam"], tasks)}
    print(f"torch {torch.__version__}, 1 thread; ensemble of {args.members} (hidden {P.model.hidden}, "
          f"{P.model.n_blocks} blocks), horizon {H}; best of {args.repeats}")
    for label, (config, ts) in cases.items():
        repeats = args.repeats if len(ts) == 1 else max(1, args.repeats // 2)
        t_fused = best_of(lambda: make_planner(fused, config, P.wall.max_step)(ts.starts, ts.goals, H), repeats)
        t_auto = best_of(lambda: make_planner(reference, config, P.wall.max_step)(ts.starts, ts.goals, H), repeats)
        single = scaled_planner(config, args.members)
        t_single = best_of(lambda: make_planner(members[0], single, P.wall.max_step)(ts.starts, ts.goals, H), repeats)
        print(f"{label:28s} fused {t_fused:7.3f} s · autograd {t_auto:7.3f} s ({t_auto / t_fused:.1f}x slower) · "
              f"one model, {args.members}x restarts {t_single:7.3f} s (ensemble/single {t_fused / t_single:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
