"""Statistics of success rates: the Wilson interval of one run, the paired bootstrap interval of the
difference between two planners on the same tasks, the aggregation of the final evaluation over training
seeds, and intervals that cover both tasks and training seeds (``crossed_bootstrap``), with paired
differences and the verdicts on claims decided from them (``paired_difference``, ``verdict``,
``paired_claims``).
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
    interval that resamples tasks (pairs), so the variation the two share cancels. This is the one-seed
    case of ``paired_difference`` (the same draws), which also resamples training seeds.

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
    d = paired_difference(a, b, level, n_boot, seed)
    return d["mean"], d["low"], d["high"]


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


def _outcome_matrix(name: str, x) -> "np.ndarray":
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] < 2 or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite (seeds, tasks) array of per-task outcomes with at least 2 "
                         f"tasks (one row per training seed, the same tasks in every row); got shape {a.shape}")
    return a


def _crossed_means(y, n_boot: int, seed: int):
    """Means of ``n_boot`` crossed resamples of y (S, T): seeds and tasks each drawn with replacement,
    independently, and every drawn seed paired with every drawn task."""
    S, T = y.shape
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, T, size=(n_boot, T))  # tasks first: with one seed, the plain bootstrap over tasks
    rows = rng.integers(0, S, size=(n_boot, S))
    # mean over the S x T grid of y[rows[b]][:, cols[b]], computed without building it:
    # sum_i sum_j y[r_i, c_j] = sum_i (y[r_i] @ counts_of_columns)
    col_counts = np.zeros((n_boot, T))
    np.add.at(col_counts, (np.arange(n_boot)[:, None], cols), 1.0)
    per_seed = y @ col_counts.T  # (S, n_boot): seed s's sum over the drawn tasks
    return per_seed[rows, np.arange(n_boot)[:, None]].sum(1) / (S * T)


def crossed_bootstrap(outcomes, level: float = 0.95, n_boot: int = 4000, seed: int = 0) -> dict:
    """Mean and percentile interval of per-task outcomes (e.g. success 0/1) from S training seeds on
    the same T tasks, ``outcomes`` (S, T) (a 1-D array is one seed).

    Both sources of variation are resampled: training seeds and tasks are each drawn with replacement,
    independently, and every drawn seed is paired with every drawn task (the two-way or "pigeonhole"
    bootstrap for a crossed design). Pooling the S x T outcomes as if independent, as a Wilson interval
    on the pooled count does, ignores that the same task is hard for every seed and that seeds differ;
    this interval does not, and is slightly conservative. With one seed it is the ordinary bootstrap
    over tasks, which cannot see seed variation at all.

    Returns {"mean", "low", "high", "n_seeds", "n_tasks", "seed_means"} (seed_means: the per-seed means).
    """
    y = _outcome_matrix("outcomes", outcomes)
    if not 0 < level < 1 or n_boot < 100:
        raise ValueError(f"level must be in (0, 1) and n_boot >= 100; got {level}, {n_boot}")
    means = _crossed_means(y, n_boot, seed)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(y.mean()), "low": float(lo), "high": float(hi), "n_seeds": y.shape[0],
            "n_tasks": y.shape[1], "seed_means": [float(m) for m in y.mean(1)]}


def paired_difference(a, b, level: float = 0.95, n_boot: int = 4000, seed: int = 0) -> dict:
    """A minus B on the same seeds and tasks: ``a`` and ``b`` (S, T) per-task outcomes where row s and
    column t are the same training seed and task in both. The interval is ``crossed_bootstrap`` of the
    paired differences, so what A and B share (a hard task, a lucky seed) cancels.

    Returns crossed_bootstrap's dict for a - b, plus "verdict": ``verdict(low, high)``.
    """
    a, b = _outcome_matrix("a", a), _outcome_matrix("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must be outcomes on the same seeds and tasks; got shapes {a.shape} and {b.shape}")
    out = crossed_bootstrap(a - b, level, n_boot, seed)
    return {**out, "verdict": verdict(out["low"], out["high"])}


def verdict(low: float, high: float, margin: float = 0.0) -> str:
    """A claim from the interval [low, high] of the paired difference A - B.

    margin 0: "A beats B": "supported" if the whole interval is above 0, "not supported" if it is
    entirely at or below 0 (B is at least as good), "undecided" if it contains 0.
    margin m > 0: "A matches or beats B" (A is at most m worse): "supported" if low > -m, "not
    supported" if the whole interval is below 0, "undecided" otherwise.
    """
    if low > high:
        raise ValueError(f"low must be <= high; got {low} > {high}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    if margin == 0:
        return "supported" if low > 0 else "not supported" if high <= 0 else "undecided"
    return "supported" if low > -margin else "not supported" if high < 0 else "undecided"


def crossed_summary(outcomes, level: float = 0.95, n_boot: int = 4000, seed: int = 0):
    """Per (model, planner) of per-task outcomes (``final_evaluation.OUTCOME_COLUMNS``): the success rate,
    its ``crossed_bootstrap`` interval over training seeds and tasks, the per-seed rates' minimum and
    maximum, and the numbers of seeds and tasks. Every seed of a pair must have run the same tasks."""
    import pandas as pd
    rows = []
    for (model, planner), g in outcomes.groupby(["model", "planner"], sort=False):
        r = crossed_bootstrap(outcome_matrix(g, model, planner).to_numpy(), level, n_boot, seed)
        rows.append({"model": model, "planner": planner, "success_rate": r["mean"], "low": r["low"], "high": r["high"],
                     "seed_min": min(r["seed_means"]), "seed_max": max(r["seed_means"]), "n_seeds": r["n_seeds"],
                     "n_tasks": r["n_tasks"]})
    return pd.DataFrame(rows)


def outcome_matrix(outcomes, model: str, planner: str):
    """(seeds, tasks) success matrix of one model x planner from per-task outcomes, rows sorted by seed
    and columns by task."""
    g = outcomes[(outcomes.model == model) & (outcomes.planner == planner)]
    if g.empty:
        raise KeyError(f"no outcomes for model {model!r}, planner {planner!r}")
    y = g.pivot_table(index="seed", columns="task", values="success", aggfunc="first").sort_index()
    if y.isna().to_numpy().any() or len(y) * y.shape[1] != len(g):
        raise ValueError(f"{model!r}, {planner!r}: every seed must have exactly one outcome on each of the same tasks")
    return y.sort_index(axis=1)


def paired_claims(outcomes, claims, level: float = 0.95, n_boot: int = 4000, seed: int = 0):
    """Decide claims of the form "A beats B" (or "A matches or beats B" with a margin) from per-task
    outcomes: ``claims`` is a list of dicts with keys claim (text), a and b ((model, planner) each) and
    optionally margin (default 0). Returns a DataFrame: claim, a, b, rate_a, rate_b, difference, low,
    high (``paired_difference`` over the shared seeds and tasks), margin, verdict."""
    import pandas as pd
    rows = []
    for c in claims:
        ya, yb = outcome_matrix(outcomes, *c["a"]), outcome_matrix(outcomes, *c["b"])
        if list(ya.index) != list(yb.index) or list(ya.columns) != list(yb.columns):
            raise ValueError(f"claim {c['claim']!r}: {c['a']} and {c['b']} were not run on the same seeds and tasks")
        d = paired_difference(ya.to_numpy(), yb.to_numpy(), level, n_boot, seed)
        margin = float(c.get("margin", 0.0))
        rows.append({"claim": c["claim"], "a": " · ".join(c["a"]), "b": " · ".join(c["b"]),
                     "rate_a": float(ya.to_numpy().mean()), "rate_b": float(yb.to_numpy().mean()),
                     "difference": d["mean"], "low": d["low"], "high": d["high"], "margin": margin,
                     "verdict": verdict(d["low"], d["high"], margin)})
    return pd.DataFrame(rows)
