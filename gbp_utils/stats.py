"""Statistics of success rates: the Wilson interval of one run, the paired bootstrap interval of the
difference between two planners on the same tasks, the aggregation of the final evaluation over training
seeds, and the check of the paper's claims against it.
"""
from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% (z=1.96) Wilson score interval for a binomial proportion; valid at 0 and n successes."""
    if n <= 0:
        raise ValueError(f"n must be > 0; got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}]; got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the interval touches 0 or 1 exactly (rounding would miss it by 1e-16).
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def paired_bootstrap(success_a, success_b, n_boot: int = 10_000, seed: int = 0, level: float = 0.95
                     ) -> tuple[float, float, float]:
    """Difference of success rates of two methods run on the *same* tasks, with a percentile bootstrap
    interval that resamples tasks (pairs), so the variation the two share cancels.

    Args:
        success_a, success_b: (n,) per-task outcomes (0/1 or bool), task i the same in both.
        n_boot: bootstrap resamples; seed: of ``numpy.random.default_rng``; level: interval coverage.
    Returns:
        (rate_a - rate_b, low, high).
    """
    a = np.asarray(success_a, dtype=float)
    b = np.asarray(success_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"need two non-empty (n,) outcome arrays of the same tasks; got {a.shape} and {b.shape}")
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))  # (n_boot, n) resampled tasks
    diffs = a[idx].mean(1) - b[idx].mean(1)  # (n_boot,)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(a.mean() - b.mean()), float(low), float(high)


def aggregate(df):
    """One row per (model, planner): seeds; successes and tasks pooled over seeds with the pooled
    95% Wilson interval; mean and standard deviation of the per-seed success rates; mean final
    distance, gap ratio, world-model evaluations and seconds per task averaged over seeds."""
    import pandas as pd
    out = []
    for (model, planner), g in df.groupby(["model", "planner"], sort=False):
        k, n = int(g.successes.sum()), int(g.n_tasks.sum())
        lo, hi = wilson_interval(k, n)
        out.append({"model": model, "planner": planner, "seeds": len(g), "successes": k, "n_tasks": n,
                    "success_rate": k / n, "ci_low": lo, "ci_high": hi,
                    "seed_sd": float(g.success_rate.std(ddof=1)) if len(g) > 1 else math.nan,
                    "mean_final_distance": float(g.mean_final_distance.mean()),
                    "wm_error_ratio": float(g.wm_error_ratio.mean()),
                    "wm_evals_per_task": float(g.wm_evals_per_task.mean()),
                    "seconds_per_task": float(g.seconds_per_task.mean())})
    return pd.DataFrame(out)


def _get(agg, model: str, planner: str):
    rows = agg[(agg.model == model) & (agg.planner == planner)]
    if len(rows) != 1:
        raise KeyError(f"no aggregated row for model {model!r}, planner {planner!r}")
    return rows.iloc[0]


def claims(agg, finetuned, gbp_planners=None, cem_planners=None):
    """The paper's claims checked against the aggregated results. Returns a DataFrame with columns
    claim, evidence (numbers), holds (bool). ``finetuned``: the finetuned model names (e.g.
    ``final_evaluation.MODELS[1:]``); ``gbp_planners`` / ``cem_planners`` default to every
    planner of the table whose name starts with "GBP" / "CEM"; "GBP MPC" and "GBP open-loop" must be
    among them (claim 3 compares the two).

    1. GBP on a finetuned model matches or beats CEM on the baseline model with <= 10% of its
       world-model evaluations (and, separately, of its wall time);
    2. adversarial finetuning is at least as good as online finetuning (best GBP planner each);
    3. MPC improves GBP over open-loop execution, for every model;
    4. finetuned GBP matches or beats CEM on the same finetuned model (best of each).
    """
    import pandas as pd
    named = [p for p in agg.planner.unique() if isinstance(p, str)]
    gbp_planners = tuple(gbp_planners or [p for p in named if p.startswith("GBP")])
    cem_planners = tuple(cem_planners or [p for p in named if p.startswith("CEM")])
    finetuned = [m for m in finetuned if (agg.model == m).any()]  # the finetuned models that were evaluated
    pct = lambda r: f"{100 * r.success_rate:.1f}% [{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}]"  # noqa: E731
    out = []
    cem_base = max((_get(agg, "baseline", p) for p in cem_planners), key=lambda r: r.success_rate)
    cands = [(_get(agg, m, p)) for m in finetuned for p in gbp_planners]
    ok = [r for r in cands if r.success_rate >= cem_base.success_rate
          and r.wm_evals_per_task <= 0.1 * cem_base.wm_evals_per_task]
    best = max(ok or cands, key=lambda r: (r.success_rate, -r.wm_evals_per_task))
    out.append({"claim": "finetuned GBP >= CEM on the baseline model at <= 10% of its model evaluations",
                "evidence": f"{best.model}, {best.planner}: {pct(best)} with {best.wm_evals_per_task:,.0f} evals/task "
                            f"({100 * best.wm_evals_per_task / cem_base.wm_evals_per_task:.1f}% of CEM's) and "
                            f"{100 * best.seconds_per_task / cem_base.seconds_per_task:.0f}% of its wall time; "
                            f"CEM on baseline ({cem_base.planner}): {pct(cem_base)}",
                "holds": bool(ok)})
    best_of = lambda m: max((_get(agg, m, p) for p in gbp_planners), key=lambda r: r.success_rate)  # noqa: E731
    adv, onl = best_of("adversarial"), best_of("online")
    out.append({"claim": "adversarial finetuning >= online finetuning (best GBP planner of each)",
                "evidence": f"adversarial ({adv.planner}) {pct(adv)} vs online ({onl.planner}) {pct(onl)}",
                "holds": bool(adv.success_rate >= onl.success_rate)})
    gains = {m: (_get(agg, m, "GBP MPC").success_rate - _get(agg, m, "GBP open-loop").success_rate)
             for m in ("baseline", *finetuned)}
    out.append({"claim": "MPC improves GBP over open-loop execution (every model)",
                "evidence": ", ".join(f"{m}: {100 * g:+.1f} points" for m, g in gains.items()),
                "holds": bool(all(g > 0 for g in gains.values()))})
    rows = []
    for m in finetuned:
        g = best_of(m)
        c = max((_get(agg, m, p) for p in cem_planners), key=lambda r: r.success_rate)
        rows.append((m, g, c))
    m, g, c = max(rows, key=lambda t: t[1].success_rate)
    out.append({"claim": "finetuned GBP matches or beats CEM on the same finetuned model",
                "evidence": f"{m}: GBP ({g.planner}) {pct(g)} vs CEM ({c.planner}) {pct(c)}",
                "holds": bool(g.ci_high >= c.success_rate)})
    return pd.DataFrame(out)
