"""The final evaluation (notebook 08): every world model x planner x training seed on the held-out
tasks, written to ``data/results/final_evaluation.csv``, aggregated over seeds, and rendered into the
README's results table.

    python -m gbp_utils.results            # rewrite the README table from the CSV
    python -m gbp_utils.results --check    # exit 1 if the README table differs from the CSV
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import cache, experiments
from .control import run_controller
from .env import WallEnv, sample_tasks
from .evaluation import EvalReport, evaluate, wilson_interval
from .finetuning import get_adversarial_model, get_online_model
from .policies import expert_policy, straight_line_policy
from .world_model import get_world_model, one_step_error, training_split

COLUMNS = ["model", "planner", "seed", "n_tasks", "successes", "success_rate", "ci_low", "ci_high",
           "mean_final_distance", "wm_error_ratio", "wm_evals_per_task", "wall_s_per_task"]
MODELS = ("baseline", "online", "adversarial", "online + adversarial", "online + adversarial, +play")
REFERENCE = "reference"  # the model column of reference rows (no world model)
README_BEGIN, README_END = "<!-- results-table:begin -->", "<!-- results-table:end -->"


def results_dir() -> Path:
    path = cache.data_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def csv_path() -> Path:
    return results_dir() / "final_evaluation.csv"


@dataclass(frozen=True)
class FinalConfig:
    """What notebook 08 evaluates. ``planners`` maps a planner name to (config, execution)."""

    seeds: tuple = (0, 1, 2)
    n_tasks: int = 300
    planners: dict = field(default_factory=dict)
    true_dynamics: tuple | None = None  # (config, execution) of the planner on the real dynamics

    def __post_init__(self):
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty; got {self.seeds}")
        if self.n_tasks < 1:
            raise ValueError(f"n_tasks must be >= 1; got {self.n_tasks}")
        for name, spec in self.planners.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], experiments.Execution)):
                raise ValueError(f"planners[{name!r}] must be (planner config, experiments.Execution); got {spec!r}")


def final_models(presets, seed: int, device=None, progress: bool = False) -> dict:
    """The five world models of one training seed: {name: model}. The first four are trained on expert
    data; the fifth ("+play") starts from a model trained on expert + play data (notebook 06). Seed s
    retrains the base model (initialisation and train/validation split) and reseeds the online rounds'
    training tasks."""
    P = presets
    tc = dataclasses.replace(P.train, seed=seed)
    online = dataclasses.replace(P.online, seed=seed)
    base = get_world_model([P.expert_data], P.model, tc, device=device, progress=progress).model
    return {
        "baseline": base,
        "online": get_online_model(P, online, P.gbp, device=device, progress=progress, train_config=tc).model,
        "adversarial": get_adversarial_model(P, None, P.adversarial_only, device=device, progress=progress,
                                             base_train=tc).model,
        "online + adversarial": get_online_model(P, online, P.gbp, device=device, progress=progress,
                                                 adversarial=P.adversarial, train_config=tc).model,
        # the best variant of notebook 06: the same loop from a base model trained on expert + play data
        "online + adversarial, +play": get_online_model(P, online, P.gbp, device=device, progress=progress,
                                                        adversarial=P.adversarial, train_config=tc,
                                                        data_configs=[P.expert_data, P.play_data]).model,
    }


def _row(model: str, planner: str, seed: int, r: EvalReport) -> dict:
    # every column after (model, planner, seed) is the EvalReport field of the same name
    return {"model": model, "planner": planner, "seed": seed, **{c: getattr(r, c) for c in COLUMNS[3:]}}


def run_final_evaluation(presets, config: FinalConfig, device=None, progress: bool = True):
    """Evaluate every model x planner x seed (cached runs), plus the reference rows. Returns a
    pandas DataFrame with ``COLUMNS`` and writes it to ``csv_path()`` atomically."""
    import pandas as pd
    from tqdm.auto import tqdm

    P = presets
    wall = P.wall
    tasks = sample_tasks(P.n_eval_tasks, P.eval_seed, "eval", wall, device=device)[:config.n_tasks]
    rows = []
    jobs = [(seed, m, p) for seed in config.seeds for m in MODELS for p in config.planners]
    bar = tqdm(total=len(jobs), desc="final evaluation", disable=not progress)
    for seed in config.seeds:
        models = final_models(P, seed, device)
        # the reference error uses the expert episodes this seed held out (the same split as its training)
        _, expert_val = training_split([P.expert_data], dataclasses.replace(P.train, seed=seed))
        for m in MODELS:
            ref = one_step_error(models[m], expert_val).mean().item()
            for pname, (pcfg, execution) in config.planners.items():
                ep = experiments.run(models[m], pcfg, tasks, execution, wall)
                rows.append(_row(m, pname, seed, evaluate(f"{m}, {pname}", ep, tasks, wall, models[m], ref)))
                bar.update()
    bar.close()
    if config.true_dynamics is not None:
        from .sampling import TrueDynamicsModel
        pcfg, execution = config.true_dynamics
        ep = experiments.run(TrueDynamicsModel(wall), pcfg, tasks, execution, wall)
        rows.append(_row(REFERENCE, "true-dynamics planner", 0, evaluate("true dynamics", ep, tasks, wall)))
    env = WallEnv(wall)
    for name, policy in (("scripted expert", expert_policy(wall, generator=torch.Generator().manual_seed(0))),
                         ("straight line", straight_line_policy(wall))):
        rows.append(_row(REFERENCE, name, 0, evaluate(name, run_controller(env, policy, tasks), tasks, wall)))
    df = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(df, csv_path())
    return df


def write_csv(df, path: Path) -> None:
    """Write atomically: a reader never sees half a table."""
    cache.atomic_write(path, lambda f: df.to_csv(f, index=False, float_format="%.6g"), mode="w")


def load_results(path: Path | None = None):
    """Read the CSV and check its columns; a clear error if it is missing or malformed."""
    import pandas as pd
    path = Path(path or csv_path())
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run notebook 08 (python -m gbp_utils.reproduce --only 08)")
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise cache.DataFileError(f"{path} lacks columns {missing}; re-run notebook 08 to regenerate it")
    return df


def aggregate(df):
    """One row per (model, planner): seeds; successes and tasks pooled over seeds with the pooled
    95% Wilson interval; mean and standard deviation of the per-seed success rates; mean final
    distance, gap ratio, world-model evaluations and wall time per task averaged over seeds."""
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
                    "wall_s_per_task": float(g.wall_s_per_task.mean())})
    return pd.DataFrame(out)


def _get(agg, model: str, planner: str):
    rows = agg[(agg.model == model) & (agg.planner == planner)]
    if len(rows) != 1:
        raise KeyError(f"no aggregated row for model {model!r}, planner {planner!r}")
    return rows.iloc[0]


def claims(agg, gbp_planners=None, cem_planners=None, finetuned=MODELS[1:]):
    """The paper's claims checked against the aggregated results. Returns a DataFrame with columns
    claim, evidence (numbers), holds (bool). ``gbp_planners`` / ``cem_planners`` default to every
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
                            f"{100 * best.wall_s_per_task / cem_base.wall_s_per_task:.0f}% of its wall time; "
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


def _readme_with_table(readme: Path, csv: Path | None) -> tuple[str, str, str]:
    """(the README's text, the same text with its results table regenerated from the CSV, the table)."""
    text = readme.read_text()
    table = readme_table(aggregate(load_results(csv)))
    return text, render_readme(text, table), table


def update_readme(readme: Path | None = None, csv: Path | None = None) -> bool:
    """Rewrite the README's results table from the CSV; True if the README changed."""
    readme = Path(readme or Path(__file__).resolve().parents[1] / "README.md")
    text, new, _ = _readme_with_table(readme, csv)
    if new != text:
        readme.write_text(new)
    return new != text


def _fmt(x: float, spec: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def readme_table(agg) -> str:
    """The aggregated results as a Markdown table (the README's results section)."""
    lines = ["| model | planner | success % [95% CI] | seeds × tasks | final dist. | gap ratio | "
             "model evals / task | wall ms / task |",
             "|---|---|---|---|---|---|---|---|"]
    for r in agg.itertuples():
        lines.append(f"| {r.model} | {r.planner} | {100 * r.success_rate:.1f} [{100 * r.ci_low:.1f}, "
                     f"{100 * r.ci_high:.1f}] | {r.seeds} × {r.n_tasks // r.seeds} | {r.mean_final_distance:.2f} | "
                     f"{_fmt(r.wm_error_ratio, '.1f')} | {_fmt(r.wm_evals_per_task, ',.0f')} | "
                     f"{1e3 * r.wall_s_per_task:.1f} |")
    return "\n".join(lines)


def render_readme(text: str, table: str) -> str:
    """``text`` with the part between the results-table markers replaced by ``table``."""
    if README_BEGIN not in text or README_END not in text or text.index(README_BEGIN) > text.index(README_END):
        raise ValueError(f"the README needs the markers {README_BEGIN} and then {README_END} around its results table")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the README table matches the CSV")
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parents[1] / "README.md")
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args(argv)
    text, new, table = _readme_with_table(args.readme, args.csv)
    if args.check:
        if new != text:
            print(f"{args.readme} results table differs from the CSV: run python -m gbp_utils.results", file=sys.stderr)
            return 1
        print("README results table matches the CSV")
        return 0
    args.readme.write_text(new)
    print(f"wrote the results table ({len(table.splitlines()) - 2} rows) into {args.readme}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
