"""The final evaluation (notebook 08): every world model x planner x training seed on the held-out
tasks, written to ``data/results/final_evaluation.csv`` (``stats`` aggregates it, ``results`` renders
it into the README).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import cache, experiments
from .control import Execution
from .env import TrueDynamicsModel
from .evaluation import EvalReport, evaluate
from .finetuning import AdversarialConfig, get_adversarial_model, get_online_model
from .policies import expert_policy, straight_line_policy
from .world_model import get_world_model, reference_error, training_split
from .worlds import World

COLUMNS = ["model", "planner", "seed", "split", "n_tasks", "successes", "success_rate", "ci_low", "ci_high",
           "mean_final_distance", "wm_error_ratio", "wm_evals_per_task", "seconds_per_task"]
# one row per model x planner x seed x task: what the intervals over tasks and seeds are computed from
OUTCOME_COLUMNS = ["model", "planner", "seed", "split", "task", "success", "final_distance"]
REFERENCE = "reference"  # the model column of reference rows (no world model)


def results_dir() -> Path:
    path = cache.data_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def csv_path() -> Path:
    return results_dir() / "final_evaluation.csv"


def outcomes_path() -> Path:
    return results_dir() / "final_outcomes.csv.gz"


def results_file(name: str, folder=None) -> Path:
    """The results file ``name`` in ``folder`` (default: ``results_dir()``, data/results/): where every study's
    CSV lives, and where the README generator reads them from beside a given final-evaluation CSV."""
    return (Path(folder) if folder is not None else results_dir()) / name


@dataclass(frozen=True)
class FinalConfig:
    """What notebook 08 evaluates: training ``seeds``, the first ``n_tasks`` tasks of ``split`` ("test":
    the sealed test tasks), the world ``models`` (``factorial_name``s), ``planners`` run on every model
    and ``budget_planners`` run only on ``budget_models`` (each a planner name -> (planner config,
    control.Execution)), and ``true_dynamics``: (config, execution) of a planner on the real dynamics."""

    seeds: tuple
    n_tasks: int
    split: str = "test"
    models: tuple = ()
    planners: dict = field(default_factory=dict)
    budget_models: tuple = ()
    budget_planners: dict = field(default_factory=dict)
    true_dynamics: tuple | None = None

    def __post_init__(self):
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty; got {self.seeds}")
        if self.n_tasks < 1:
            raise ValueError(f"n_tasks must be >= 1; got {self.n_tasks}")
        if self.split not in ("test", "eval"):
            raise ValueError(f"split must be 'test' (the final table) or 'eval' (development); got {self.split!r}")
        for what, names in (("models", self.models), ("budget_models", self.budget_models)):
            unknown = [m for m in names if m not in MODELS]
            if unknown:
                raise ValueError(f"{what}: unknown model names {unknown}; choose from {sorted(MODELS)}")
        if not set(self.budget_models) <= set(self.models):
            raise ValueError(f"budget_models {self.budget_models} must be among models {self.models}")
        for what, group in (("planners", self.planners), ("budget_planners", self.budget_planners)):
            for name, spec in group.items():
                if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Execution)):
                    raise ValueError(f"{what}[{name!r}] must be (planner config, control.Execution); got {spec!r}")
        clash = set(self.planners) & set(self.budget_planners)
        if clash:
            raise ValueError(f"planner names {sorted(clash)} appear in both planners and budget_planners")

    def jobs(self) -> list:
        """(model, planner name, (config, execution)) of every run per seed, in order."""
        out = []
        for m in self.models:
            out += [(m, name, spec) for name, spec in self.planners.items()]
            if m in self.budget_models:
                out += [(m, name, spec) for name, spec in self.budget_planners.items()]
        return out


# The factorial of the final table: two data regimes x five ways to (not) finetune.
REGIMES = ("expert", "expert + play")
FINETUNES = ("base", "clean finetune", "adversarial", "online", "online + adversarial")
CLEAN = AdversarialConfig(state_factor=0.0, action_factor=0.0)
"""A "clean finetune" is adversarial finetuning with a zero budget: the same data, epochs and learning rate,
no perturbation; the control that tells adversarial training apart from simply training longer."""


def factorial_name(regime: str, finetune: str) -> str:
    """The table's name of a model: the finetuning, with ", +play" for the expert + play regime."""
    if regime not in REGIMES or finetune not in FINETUNES:
        raise ValueError(f"regime must be one of {REGIMES} and finetune one of {FINETUNES}; got {regime!r}, {finetune!r}")
    return finetune if regime == "expert" else f"{finetune}, +play"


MODELS = tuple(factorial_name(r, f) for r in REGIMES for f in FINETUNES)  # every model of the factorial, in order


def factorial_models(presets, seed: int, names=None, device=None, progress: bool = False) -> dict:
    """The world models of one training seed for every regime x finetuning (or only ``names``):
    {name: model}. Everything random is drawn for this seed (``presets.for_seed(seed)``); seed 0's are
    the models of notebooks 03-06. Each is cached in data/, so only missing ones train."""
    Q = presets.for_seed(seed)
    wanted = None if names is None else set(names)
    if wanted is not None and not wanted <= set(MODELS):
        raise ValueError(f"unknown model names {sorted(wanted - set(MODELS))}; choose from {sorted(MODELS)}")
    models = {}
    for regime in REGIMES:
        data = [Q.expert_data] if regime == "expert" else [Q.expert_data, Q.play_data]
        adversarial_only = Q.adversarial_only if regime == "expert" else Q.adversarial_only_play
        adversarial = Q.adversarial if regime == "expert" else Q.adversarial_play
        common = {"device": device, "progress": progress}
        build = {
            "base": lambda: get_world_model(data, Q.model, Q.train, **common).model,
            "clean finetune": lambda: get_adversarial_model(Q, data, CLEAN, base_train=Q.train, **common).model,
            "adversarial": lambda: get_adversarial_model(Q, data, adversarial_only, base_train=Q.train,
                                                         **common).model,
            "online": lambda: get_online_model(Q, Q.online, Q.gbp, data_configs=data, base_train=Q.train,
                                               **common).model,
            "online + adversarial": lambda: get_online_model(Q, Q.online, Q.gbp, adversarial=adversarial,
                                                             data_configs=data, base_train=Q.train, **common).model,
        }
        for finetune in FINETUNES:
            name = factorial_name(regime, finetune)
            if wanted is None or name in wanted:
                models[name] = build[finetune]()
    return models


FAMILIES = ("GD", "Adam", "CEM")  # the paper's three planners: plain gradient descent, Adam-GBP, CEM
# What the appendix notebooks (10, 11) carry forward from the factorial: its expert-data models with a
# finetuning that changes the model (the clean finetune is a control), planned by Adam-GBP and CEM (GD is left
# out: the factorial shows Adam dominates it).
APPENDIX_KINDS = ("base", "adversarial", "online", "online + adversarial")
APPENDIX_FAMILIES = ("Adam", "CEM")


def factorial_planners(presets, families=FAMILIES) -> dict:
    """The planners of the factorial: {"GD open-loop": (config, execution), ...} for GD, Adam-GBP and
    CEM (or only ``families``, e.g. ("Adam", "CEM") in notebooks 10 and 11) with the settings chosen on tune
    tasks (``presets.final_planners``), each open loop and with MPC (``presets.mpc``)."""
    P = presets
    configs = P.final_planners
    return {f"{family} {ex.label if ex.mode == 'open-loop' else 'MPC'}": (configs[family], ex)
            for family in families for ex in (P.open_loop, P.mpc)}


# The models of the budget sweep: the base model and the best finetuned model of each data regime (online +
# adversarial in both, by the development results of notebook 06, section 8).
BUDGET_MODELS = ("base", "online + adversarial", "base, +play", "online + adversarial, +play")


def budget_planners(presets) -> dict:
    """The lite and heavy budgets of the sweep: {"Adam-lite MPC": (config, execution), ...}
    (``presets.final_budgets``); the standard budget is the factorial's "<family> MPC"."""
    return {budget_planner_name(family, size): spec for (family, size), spec in presets.final_budgets.items()}


BUDGETS = ("lite", "standard", "heavy")  # the budget sweep's sizes; "standard" is the factorial's "<family> MPC"
BUDGET_FAMILIES = ("Adam", "CEM")


def budget_planner_name(family: str, budget: str) -> str:
    """The planner column of a budget-sweep run: "Adam-lite MPC", "CEM MPC" (standard), "CEM-heavy MPC"..."""
    if family not in BUDGET_FAMILIES or budget not in BUDGETS:
        raise ValueError(f"family must be one of {BUDGET_FAMILIES} and budget one of {BUDGETS}; got {family!r}, {budget!r}")
    return f"{family} MPC" if budget == "standard" else f"{family}-{budget} MPC"


def budget_curve(summary, agg, models=BUDGET_MODELS):
    """Success against compute of the budget sweep: one row per model x family (Adam, CEM) x budget (lite,
    standard, heavy) with the success rate, its interval over seeds and tasks and the per-seed range
    (``summary``: ``stats.crossed_summary``), and world-model evaluations and seconds per task averaged over
    seeds (``agg``: ``stats.aggregate``). Columns as ``experiments.compute_curve`` (execution "MPC": the
    replanning interval is part of the budget) plus planner, seed_min and seed_max."""
    import pandas as pd
    s = summary.set_index(["model", "planner"])
    a = agg.set_index(["model", "planner"])
    rows = []
    for model in models:
        for family in BUDGET_FAMILIES:
            for budget in BUDGETS:
                planner = budget_planner_name(family, budget)
                if (model, planner) not in s.index or (model, planner) not in a.index:
                    raise KeyError(f"no results for model {model!r}, planner {planner!r}: run notebook 08 with the "
                                   f"budget sweep (final_config(presets, budget_sweep=True))")
                r, c = s.loc[(model, planner)], a.loc[(model, planner)]
                rows.append({"model": model, "family": family, "budget": budget, "execution": "MPC", "planner": planner,
                             "success_rate": r.success_rate, "ci_low": r.low, "ci_high": r.high,
                             "seed_min": r.seed_min, "seed_max": r.seed_max,
                             "wm_evals_per_task": c.wm_evals_per_task, "seconds_per_task": c.seconds_per_task})
    return pd.DataFrame(rows)


def budget_claims(models=BUDGET_MODELS, margin: float = 0.05) -> list[dict]:
    """"Adam-GBP matches or beats CEM at matched compute" on each model and budget of the sweep, as paired
    comparisons (``stats.paired_claims``; at most ``margin`` worse counts as a match)."""
    return [{"claim": f"Adam-GBP matches or beats CEM at the {budget} budget ({model})",
             "a": (model, budget_planner_name("Adam", budget)), "b": (model, budget_planner_name("CEM", budget)),
             "margin": margin} for model in models for budget in BUDGETS]


def budget_gain_claims(models=BUDGET_MODELS) -> list[dict]:
    """"More compute helps": for each family and model of the sweep, the heavy budget beats the standard one,
    and the standard one beats the lite one (paired comparisons for ``stats.paired_claims``)."""
    return [{"claim": f"{family}: the {hi} budget beats the {lo} one ({model})",
             "a": (model, budget_planner_name(family, hi)), "b": (model, budget_planner_name(family, lo))}
            for model in models for family in BUDGET_FAMILIES for lo, hi in zip(BUDGETS, BUDGETS[1:])]


def budget_table(outcomes, summary, agg, models=BUDGET_MODELS, margin: float = 0.05, n_boot: int = 4000):
    """The budget sweep at matched compute: one row per model x budget with its data regime, both families'
    world-model evaluations per task ("Adam evals", "CEM evals"), success rates with their intervals over
    seeds and tasks ("Adam", "Adam low", "Adam high", the same for CEM), the paired difference Adam - CEM on
    the same seeds and tasks ("difference", "low", "high") and the verdict on ``budget_claims``."""
    import pandas as pd

    from .stats import paired_claims
    curve = budget_curve(summary, agg, models).set_index(["model", "family", "budget"])
    claims = paired_claims(outcomes, budget_claims(models, margin), n_boot=n_boot)
    rows = []
    for (model, budget), v in zip([(m, b) for m in models for b in BUDGETS], claims.itertuples()):
        row = {"data": REGIMES[1] if model.endswith(", +play") else REGIMES[0], "model": model, "budget": budget}
        for family in BUDGET_FAMILIES:
            c = curve.loc[(model, family, budget)]
            row.update({f"{family} evals": c.wm_evals_per_task, family: c.success_rate, f"{family} low": c.ci_low,
                        f"{family} high": c.ci_high})
        rows.append({**row, "difference": v.difference, "low": v.low, "high": v.high, "verdict": v.verdict})
    return pd.DataFrame(rows)


def final_config(presets, seeds=None, n_tasks=None, split: str = "test", budget_sweep: bool = True) -> FinalConfig:
    """Notebook 08's evaluation: the whole factorial with GD, Adam-GBP and CEM open loop and with MPC, the
    budget sweep on ``BUDGET_MODELS`` (unless ``budget_sweep`` is False), and CEM-MPC on the true dynamics as
    the ceiling, on the sealed test tasks (``split``) for ``presets.seeds`` (or ``seeds``)."""
    P = presets
    n = n_tasks or (P.tasks.test if split == "test" else P.tasks.eval)
    return FinalConfig(seeds=tuple(seeds or P.seeds), n_tasks=n, split=split, models=MODELS,
                       planners=factorial_planners(P), budget_models=BUDGET_MODELS if budget_sweep else (),
                       budget_planners=budget_planners(P) if budget_sweep else {},
                       true_dynamics=(P.final_planners["CEM"], P.mpc))


# The paper's Wall results (success %, GD / Adam / CEM; 50 episodes, no intervals) by row of its table,
# and the model and execution of ours that each row corresponds to.
PAPER_WALL = {"base": (2, 10, 74), "base + MPC": (12, 80, 82), "online + MPC": (38, 80, 90),
              "adversarial": (32, 34, 30), "adversarial + MPC": (14, 94, 94)}
PAPER_ROWS = {"base": ("base", "open-loop"), "base + MPC": ("base", "MPC"), "online + MPC": ("online", "MPC"),
              "adversarial": ("adversarial", "open-loop"), "adversarial + MPC": ("adversarial", "MPC")}


def paper_table(summary, regime: str = "expert"):
    """Our results in the paper's format beside its Wall numbers: one row per row of the paper's table,
    for each family (GD, Adam, CEM) our success rate with its interval over seeds and tasks
    (``stats.crossed_summary`` of the outcomes; columns "<family>", "<family> low", "<family> high", as
    fractions) and the paper's ("paper <family>", %)."""
    import pandas as pd
    by_pair = {(r.model, r.planner): r for r in summary.itertuples()}
    rows = []
    for row, (finetune, execution) in PAPER_ROWS.items():
        model = factorial_name(regime, finetune)
        out = {"row": row, "model": model}
        for family, paper in zip(FAMILIES, PAPER_WALL[row]):
            r = by_pair.get((model, f"{family} {execution}"))
            if r is None:
                raise KeyError(f"the summary has no row for model {model!r}, planner '{family} {execution}'")
            out.update({family: r.success_rate, f"{family} low": r.low, f"{family} high": r.high,
                        f"paper {family}": paper})
        rows.append(out)
    return pd.DataFrame(rows)


def _claims(regime: str, margin: float, rows) -> list[dict]:
    """Claim dicts for ``stats.paired_claims`` from rows (text, (finetune, planner) of A, of B, "matches or
    beats"?), the models named in ``regime``; "matches or beats" claims carry ``margin``."""
    m = lambda finetune: factorial_name(regime, finetune)  # noqa: E731
    return [{"claim": text, "a": (m(a[0]), a[1]), "b": (m(b[0]), b[1]), **({"margin": margin} if matches else {})}
            for text, a, b, matches in rows]


def paper_claims(regime: str = "expert", margin: float = 0.05) -> list[dict]:
    """The paper's claims as paired comparisons on the factorial (for ``stats.paired_claims``), in one
    data regime. "Matches or beats" claims carry ``margin`` (at most that much worse counts as a match)."""
    return _claims(regime, margin, [
        ("online finetuning improves Adam-GBP (MPC)", ("online", "Adam MPC"), ("base", "Adam MPC"), False),
        ("adversarial finetuning improves Adam-GBP (MPC)", ("adversarial", "Adam MPC"), ("base", "Adam MPC"), False),
        ("adversarial finetuning beats a clean finetune of the same length (MPC)", ("adversarial", "Adam MPC"),
         ("clean finetune", "Adam MPC"), False),
        ("online + adversarial beats online alone (Adam-GBP, MPC)", ("online + adversarial", "Adam MPC"),
         ("online", "Adam MPC"), False),
        ("online + adversarial beats adversarial alone (Adam-GBP, MPC)", ("online + adversarial", "Adam MPC"),
         ("adversarial", "Adam MPC"), False),
        ("MPC improves Adam-GBP over open loop (base model)", ("base", "Adam MPC"), ("base", "Adam open-loop"), False),
        ("Adam beats plain gradient descent (base model, MPC)", ("base", "Adam MPC"), ("base", "GD MPC"), False),
        ("Adam-GBP on the adversarial model matches or beats CEM on the base model (MPC)", ("adversarial", "Adam MPC"),
         ("base", "CEM MPC"), True),
    ])


def series_claims(regime: str = "expert", margin: float = 0.05) -> list[dict]:
    """Claims the series' own notebooks made on development tasks, re-decided on the sealed test tasks in
    one data regime (for ``stats.paired_claims``)."""
    return _claims(regime, margin, [
        ("online finetuning beats adversarial finetuning (Adam-GBP, MPC)", ("online", "Adam MPC"),
         ("adversarial", "Adam MPC"), False),
        ("online + adversarial beats online alone (Adam-GBP, open loop)", ("online + adversarial", "Adam open-loop"),
         ("online", "Adam open-loop"), False),
        ("online + adversarial beats online alone (CEM, MPC)", ("online + adversarial", "CEM MPC"), ("online", "CEM MPC"),
         False),
        ("CEM beats Adam-GBP on the online + adversarial model (MPC)", ("online + adversarial", "CEM MPC"),
         ("online + adversarial", "Adam MPC"), False),
        ("Adam-GBP on the online + adversarial model matches or beats CEM on it (MPC)",
         ("online + adversarial", "Adam MPC"), ("online + adversarial", "CEM MPC"), True),
    ])


def reference_policies(wall) -> dict:
    """The reference controllers of the final table: {name: (policy, settings)}; name and settings key
    the cached run, so they must say everything that changes the policy."""
    noise_std, seed = 0.15, 0
    return {"scripted expert": (expert_policy(wall, noise_std, generator=torch.Generator().manual_seed(seed)),
                                {"noise_std": noise_std, "generator_seed": seed}),
            "straight line": (straight_line_policy(wall), {})}


def _row(model: str, planner: str, seed: int, split: str, r: EvalReport) -> dict:
    # every column after (model, planner, seed, split) is the EvalReport field of the same name
    return {"model": model, "planner": planner, "seed": seed, "split": split, **{c: getattr(r, c) for c in COLUMNS[4:]}}


def _outcomes(model: str, planner: str, seed: int, ep, tasks, wall) -> list[dict]:
    """One row per task of a run: success (0/1) and the real final distance to the goal. ``wall``: the point
    world's ``WallConfig`` or a ``worlds.World`` (success and distance on positions)."""
    world = World.of(wall)
    states, goals = world.positions(ep.final_states.cpu()), world.positions(tasks.goals.cpu())
    ok, final = world.success(states, goals), (states - goals).norm(dim=-1)
    return [{"model": model, "planner": planner, "seed": seed, "split": tasks.split, "task": i,
             "success": int(ok[i]), "final_distance": float(final[i])} for i in range(len(tasks))]


def planner_for_seed(config, seed: int):
    """A planner config of training seed ``seed``: its restarts and samples drawn anew (seed + ``seed``)."""
    return dataclasses.replace(config, seed=config.seed + seed)


def run_final_evaluation(presets, config: FinalConfig, device=None, progress: bool = True, write: bool = True):
    """Evaluate every model x planner x seed of ``config`` (each run cached in data/), plus the reference
    rows. Returns a pandas DataFrame with ``COLUMNS`` and, if ``write``, writes it to ``csv_path()``
    atomically and the per-task outcomes behind it (``OUTCOME_COLUMNS``) to ``outcomes_path()``. With
    ``write=False`` it only fills the cache (e.g. one process per seed)."""
    import pandas as pd
    from tqdm.auto import tqdm

    P = presets
    wall = P.wall
    tasks = (P.test_tasks if config.split == "test" else P.eval_tasks)(config.n_tasks, device=device)
    rows, outcomes = [], []
    jobs = config.jobs()
    bar = tqdm(total=len(jobs) * len(config.seeds), desc="final evaluation", disable=not progress)
    for seed in config.seeds:
        Q = P.for_seed(seed)
        models = factorial_models(P, seed, names=config.models, device=device)
        # the reference error uses the expert episodes this seed held out (the same split as its training)
        _, expert_val = training_split([Q.expert_data], Q.train)
        refs = {m: reference_error(model, expert_val) for m, model in models.items()}
        for m, pname, (pcfg, execution) in jobs:
            pcfg = planner_for_seed(pcfg, seed)
            ep = experiments.run(models[m], pcfg, tasks, execution, wall)
            rows.append(_row(m, pname, seed, tasks.split, evaluate(f"{m}, {pname}", ep, tasks, wall, models[m], refs[m])))
            outcomes += _outcomes(m, pname, seed, ep, tasks, wall)
            bar.update()
    bar.close()
    if config.true_dynamics is not None:
        pcfg, execution = config.true_dynamics
        ep = experiments.run(TrueDynamicsModel(wall), pcfg, tasks, execution, wall)
        rows.append(_row(REFERENCE, "true-dynamics planner", 0, tasks.split, evaluate("true dynamics", ep, tasks, wall)))
        outcomes += _outcomes(REFERENCE, "true-dynamics planner", 0, ep, tasks, wall)
    for name, (policy, settings) in reference_policies(wall).items():
        ep = experiments.run_reference(name, policy, tasks, wall, settings)  # cached, like every run
        rows.append(_row(REFERENCE, name, 0, tasks.split, evaluate(name, ep, tasks, wall)))
        outcomes += _outcomes(REFERENCE, name, 0, ep, tasks, wall)
    df = pd.DataFrame(rows, columns=COLUMNS)
    if write:
        write_csv(pd.DataFrame(outcomes, columns=OUTCOME_COLUMNS), outcomes_path())
        write_csv(df, csv_path())
    return df


def prefill(presets, seed: int, device=None, progress: bool = False) -> int:
    """Compute what notebook 08's evaluation (``final_config(presets)``) needs of training seed ``seed`` —
    its models and every run — into the cache, writing no results; ``reproduce`` runs one per seed beside
    the notebooks. Returns the number of runs."""
    config = final_config(presets, seeds=(seed,))
    config = dataclasses.replace(config, true_dynamics=None)
    run_final_evaluation(presets, config, device=device, progress=progress, write=False)
    return len(config.jobs())


def study_tables(rows: list, outcomes: list, columns: list, outcome_columns: list, paths=None):
    """(results, per-task outcomes) DataFrames of a study's rows; with ``paths`` = (results path, outcomes path)
    both are written atomically, the outcomes first (a reader of the results finds the outcomes behind them)."""
    import pandas as pd
    df, out = pd.DataFrame(rows, columns=columns), pd.DataFrame(outcomes, columns=outcome_columns)
    if paths is not None:
        write_csv(out, paths[1])
        write_csv(df, paths[0])
    return df, out


def write_csv(df, path: Path) -> None:
    """Write atomically: a reader never sees half a table. A path ending in .gz is gzip-compressed
    (reproducibly: no time stamp in the gzip header)."""
    path = Path(path)
    if path.suffix == ".gz":
        import gzip
        import io

        def write(f):
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz, \
                    io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                df.to_csv(text, index=False, float_format="%.6g")

        cache.atomic_write(path, write, mode="wb")
    else:
        cache.atomic_write(path, lambda f: df.to_csv(f, index=False, float_format="%.6g"), mode="w")


def _load_table(path: Path, columns: list[str]):
    """Read a results CSV (plain or .gz) and check its columns; a clear error if missing or malformed."""
    import pandas as pd
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run notebook 08 (python -m gbp_utils.reproduce --only 08)")
    df = pd.read_csv(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise cache.DataFileError(f"{path} lacks columns {missing}; re-run notebook 08 to regenerate it")
    return df


def load_results(path: Path | None = None):
    """The final evaluation's CSV (``COLUMNS``, one row per model x planner x seed)."""
    return _load_table(Path(path or csv_path()), COLUMNS)


def load_outcomes(path: Path | None = None):
    """The per-task outcomes behind the CSV (``OUTCOME_COLUMNS``)."""
    return _load_table(Path(path or outcomes_path()), OUTCOME_COLUMNS)
