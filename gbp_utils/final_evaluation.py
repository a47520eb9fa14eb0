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
from .env import TrueDynamicsModel, success
from .evaluation import EvalReport, evaluate
from .finetuning import AdversarialConfig, get_adversarial_model, get_online_model
from .policies import expert_policy, straight_line_policy
from .world_model import get_world_model, reference_error, training_split

COLUMNS = ["model", "planner", "seed", "split", "n_tasks", "successes", "success_rate", "ci_low", "ci_high",
           "mean_final_distance", "wm_error_ratio", "wm_evals_per_task", "seconds_per_task"]
# one row per model x planner x seed x task: what the intervals over tasks and seeds are computed from
OUTCOME_COLUMNS = ["model", "planner", "seed", "split", "task", "success", "final_distance"]
MODELS = ("baseline", "online", "adversarial", "online + adversarial", "online + adversarial, +play")
REFERENCE = "reference"  # the model column of reference rows (no world model)


def results_dir() -> Path:
    path = cache.data_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def csv_path() -> Path:
    return results_dir() / "final_evaluation.csv"


def outcomes_path() -> Path:
    return results_dir() / "final_outcomes.csv.gz"


@dataclass(frozen=True)
class FinalConfig:
    """What notebook 08 evaluates: training ``seeds`` (``presets().seeds``), the first ``n_tasks``
    held-out tasks, and ``planners``: a planner name -> (planner config, control.Execution)."""

    seeds: tuple
    n_tasks: int
    planners: dict = field(default_factory=dict)
    true_dynamics: tuple | None = None  # (config, execution) of the planner on the real dynamics

    def __post_init__(self):
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty; got {self.seeds}")
        if self.n_tasks < 1:
            raise ValueError(f"n_tasks must be >= 1; got {self.n_tasks}")
        for name, spec in self.planners.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Execution)):
                raise ValueError(f"planners[{name!r}] must be (planner config, control.Execution); got {spec!r}")


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
        "online": get_online_model(P, online, P.gbp, device=device, progress=progress, base_train=tc).model,
        "adversarial": get_adversarial_model(P, None, P.adversarial_only, device=device, progress=progress,
                                             base_train=tc).model,
        "online + adversarial": get_online_model(P, online, P.gbp, device=device, progress=progress,
                                                 adversarial=P.adversarial, base_train=tc).model,
        # the best variant of notebook 06: the same loop from a base model trained on expert + play data
        "online + adversarial, +play": get_online_model(P, online, P.gbp, device=device, progress=progress,
                                                        adversarial=P.adversarial, base_train=tc,
                                                        data_configs=[P.expert_data, P.play_data]).model,
    }


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


def factorial_models(presets, seed: int, names=None, device=None, progress: bool = False) -> dict:
    """The world models of one training seed for every regime x finetuning (or only ``names``):
    {name: model}. Everything random is drawn for this seed (``presets.for_seed(seed)``); seed 0 shares
    its cached models with ``final_models``. Each is cached in data/, so only missing ones train."""
    Q = presets.for_seed(seed)
    wanted = None if names is None else set(names)
    known = {factorial_name(r, f) for r in REGIMES for f in FINETUNES}
    if wanted is not None and not wanted <= known:
        raise ValueError(f"unknown model names {sorted(wanted - known)}; choose from {sorted(known)}")
    models = {}
    for regime in REGIMES:
        data = [Q.expert_data] if regime == "expert" else [Q.expert_data, Q.play_data]
        common = {"device": device, "progress": progress}
        build = {
            "base": lambda: get_world_model(data, Q.model, Q.train, **common).model,
            "clean finetune": lambda: get_adversarial_model(Q, data, CLEAN, base_train=Q.train, **common).model,
            "adversarial": lambda: get_adversarial_model(Q, data, Q.adversarial_only, base_train=Q.train,
                                                         **common).model,
            "online": lambda: get_online_model(Q, Q.online, Q.gbp, data_configs=data, base_train=Q.train,
                                               **common).model,
            "online + adversarial": lambda: get_online_model(Q, Q.online, Q.gbp, adversarial=Q.adversarial,
                                                             data_configs=data, base_train=Q.train, **common).model,
        }
        for finetune in FINETUNES:
            name = factorial_name(regime, finetune)
            if wanted is None or name in wanted:
                models[name] = build[finetune]()
    return models


FAMILIES = ("GD", "Adam", "CEM")  # the paper's three planners: plain gradient descent, Adam-GBP, CEM


def factorial_planners(presets) -> dict:
    """The planners of the factorial: {"GD open-loop": (config, execution), ...} for GD, Adam-GBP and
    CEM, each open loop and with MPC (``presets.mpc``)."""
    P = presets
    configs = {"GD": P.gd, "Adam": P.gbp, "CEM": P.cem}
    return {f"{family} {ex.label if ex.mode == 'open-loop' else 'MPC'}": (configs[family], ex)
            for family in FAMILIES for ex in (P.open_loop, P.mpc)}


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


def paper_claims(regime: str = "expert", margin: float = 0.05) -> list[dict]:
    """The paper's claims as paired comparisons on the factorial (for ``stats.paired_claims``), in one
    data regime. "Matches or beats" claims carry ``margin`` (at most that much worse counts as a match)."""
    m = lambda finetune: factorial_name(regime, finetune)  # noqa: E731
    return [
        {"claim": "online finetuning improves Adam-GBP (MPC)", "a": (m("online"), "Adam MPC"), "b": (m("base"), "Adam MPC")},
        {"claim": "adversarial finetuning improves Adam-GBP (MPC)", "a": (m("adversarial"), "Adam MPC"),
         "b": (m("base"), "Adam MPC")},
        {"claim": "adversarial finetuning beats a clean finetune of the same length (MPC)",
         "a": (m("adversarial"), "Adam MPC"), "b": (m("clean finetune"), "Adam MPC")},
        {"claim": "online + adversarial beats online alone (Adam-GBP, MPC)", "a": (m("online + adversarial"), "Adam MPC"),
         "b": (m("online"), "Adam MPC")},
        {"claim": "online + adversarial beats adversarial alone (Adam-GBP, MPC)",
         "a": (m("online + adversarial"), "Adam MPC"), "b": (m("adversarial"), "Adam MPC")},
        {"claim": "MPC improves Adam-GBP over open loop (base model)", "a": (m("base"), "Adam MPC"),
         "b": (m("base"), "Adam open-loop")},
        {"claim": "Adam beats plain gradient descent (base model, MPC)", "a": (m("base"), "Adam MPC"),
         "b": (m("base"), "GD MPC")},
        {"claim": "Adam-GBP on the adversarial model matches or beats CEM on the base model (MPC)",
         "a": (m("adversarial"), "Adam MPC"), "b": (m("base"), "CEM MPC"), "margin": margin},
    ]


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
    """One row per task of a run: success (0/1) and the real final distance to the goal."""
    final = (ep.final_states.cpu() - tasks.goals.cpu()).norm(dim=-1)
    ok = success(ep.final_states.cpu(), tasks.goals.cpu(), wall)
    return [{"model": model, "planner": planner, "seed": seed, "split": tasks.split, "task": i,
             "success": int(ok[i]), "final_distance": float(final[i])} for i in range(len(tasks))]


def run_final_evaluation(presets, config: FinalConfig, device=None, progress: bool = True):
    """Evaluate every model x planner x seed (cached runs), plus the reference rows. Returns a
    pandas DataFrame with ``COLUMNS`` and writes it to ``csv_path()`` atomically; the per-task outcomes
    behind it (``OUTCOME_COLUMNS``) go to ``outcomes_path()``."""
    import pandas as pd
    from tqdm.auto import tqdm

    P = presets
    wall = P.wall
    tasks = P.eval_tasks(config.n_tasks, device=device)  # the first n_tasks held-out tasks
    rows, outcomes = [], []
    jobs = [(seed, m, p) for seed in config.seeds for m in MODELS for p in config.planners]
    bar = tqdm(total=len(jobs), desc="final evaluation", disable=not progress)
    for seed in config.seeds:
        models = final_models(P, seed, device)
        # the reference error uses the expert episodes this seed held out (the same split as its training)
        _, expert_val = training_split([P.expert_data], dataclasses.replace(P.train, seed=seed))
        for m in MODELS:
            ref = reference_error(models[m], expert_val)
            for pname, (pcfg, execution) in config.planners.items():
                ep = experiments.run(models[m], pcfg, tasks, execution, wall)
                rows.append(_row(m, pname, seed, tasks.split, evaluate(f"{m}, {pname}", ep, tasks, wall, models[m], ref)))
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
    write_csv(pd.DataFrame(outcomes, columns=OUTCOME_COLUMNS), outcomes_path())
    write_csv(df, csv_path())
    return df


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
