"""Notebook 10's study: do the series' findings survive harder worlds?

In each world of ``HarderPresets`` (momentum; a door drawn per task; a second wall with a door of its own) the
series' pipeline runs unchanged through ``Presets.in_world``: the same data sizes and seeds, the same world
model, training and finetuning, and notebook 08's tuned planners (Adam-GBP and CEM, open loop and MPC). The
factorial is notebook 08's expert-data half — base, adversarial, online, online + adversarial — for each
training seed, on the world's own sealed test tasks, with two references: CEM with MPC planning through the
world's true dynamics (the planner's ceiling) and the world's oracle. The point world's numbers for the same
models and planners come from notebook 08's table (``point_world_rows``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import experiments
from . import final_evaluation as FE
from .env import TrueDynamicsModel, WallConfig
from .evaluation import evaluate
from .layouts import LayoutConfig
from .momentum import MomentumConfig
from .world_model import reference_error, training_split
from .worlds import World

KINDS, FAMILIES = FE.APPENDIX_KINDS, FE.APPENDIX_FAMILIES  # notebook 08's expert-data models; Adam-GBP and CEM
COLUMNS = ["world"] + FE.COLUMNS
OUTCOME_COLUMNS = ["world"] + FE.OUTCOME_COLUMNS
CEILING = "true-dynamics CEM MPC"  # the planner column of the ceiling rows (model column: FE.REFERENCE)
ORACLE = "oracle"


@dataclass(frozen=True)
class HarderPresets:
    """Notebook 10's worlds (each the series' arena and wall with one option)."""

    momentum: MomentumConfig = field(default_factory=MomentumConfig)
    layouts: LayoutConfig = field(default_factory=LayoutConfig)
    two_walls: LayoutConfig = field(default_factory=lambda: LayoutConfig(door_center=(-2.5, 2.5), second_wall_x=2.5))

    def __post_init__(self):
        if self.layouts.second_wall_x is not None:
            raise ValueError("HarderPresets.layouts is the one-wall world: leave its second_wall_x None")
        if self.two_walls.second_wall_x is None:
            raise ValueError("HarderPresets.two_walls needs a second_wall_x")

    def worlds(self, wall: WallConfig) -> dict:
        """{"momentum", "layouts", "two walls": World} in the arena ``wall``."""
        ws = (World(wall, momentum=self.momentum), World(wall, layouts=self.layouts), World(wall, layouts=self.two_walls))
        return {w.name: w for w in ws}


def worlds(presets) -> dict:
    """The worlds of notebook 10 for ``presets`` ({name: World})."""
    return presets.harder.worlds(presets.wall)


def world_presets(presets, name: str):
    """``presets`` in world ``name`` (``Presets.in_world``)."""
    ws = worlds(presets)
    if name not in ws:
        raise ValueError(f"world must be one of {sorted(ws)}; got {name!r}")
    return presets.in_world(ws[name])


def study_planners(presets) -> dict:
    """{"Adam open-loop": (config, execution), ...}: notebook 08's tuned planners of ``FAMILIES``, open loop and
    MPC (with ``presets.in_world``'s inits where actions are accelerations)."""
    return FE.factorial_planners(presets, FAMILIES)


def world_models(presets, name: str, seed: int, kinds=KINDS, device=None, progress: bool = False) -> dict:
    """{kind: model} of training seed ``seed`` in world ``name`` (notebook 08's recipe, cached in data/)."""
    return FE.factorial_models(world_presets(presets, name), seed, names=list(kinds), device=device, progress=progress)


def results_path(folder=None) -> Path:
    return FE.results_file("harder_worlds.csv", folder)


def outcomes_path(folder=None) -> Path:
    return FE.results_file("harder_worlds_outcomes.csv.gz", folder)


def run_study(presets, names=None, seeds=None, split: str = "test", n_tasks: int | None = None, kinds=KINDS,
              device=None, progress: bool = True, write: bool = True, references: bool = True):
    """Every kind x planner x training seed in every world ``names`` (default all) on the first ``n_tasks``
    tasks of ``split`` ("test": the sealed tasks, once, after everything is frozen), plus (``references``) the
    ceiling and the oracle per world. Returns (results with ``COLUMNS``, per-task outcomes with
    ``OUTCOME_COLUMNS``); with ``write``, both are written atomically to ``results_path()`` and
    ``outcomes_path()``."""
    from tqdm.auto import tqdm
    if split not in ("test", "eval"):
        raise ValueError(f"split must be 'test' (the final comparison) or 'eval' (development); got {split!r}")
    names = list(names or worlds(presets))
    seeds = tuple(presets.seeds if seeds is None else seeds)
    rows, outcomes = [], []
    bar = tqdm(total=len(names) * (len(seeds) * len(kinds) * len(study_planners(presets)) + 2 * references),
               desc="harder worlds", disable=not progress)

    def add(world_name, model, planner, seed, ep, tasks, world, report):
        rows.append({"world": world_name, **FE._row(model, planner, seed, tasks.split, report)})
        outcomes.extend({"world": world_name, **o} for o in FE._outcomes(model, planner, seed, ep, tasks, world))
        bar.update()

    for name in names:
        Q = world_presets(presets, name)
        world, planners = Q.world, study_planners(Q)  # the world's inits
        n = n_tasks or (Q.tasks.test if split == "test" else Q.tasks.eval)
        tasks = (Q.test_tasks if split == "test" else Q.eval_tasks)(n, device=device)
        for seed in seeds:
            S = Q.for_seed(seed)
            models = world_models(presets, name, seed, kinds, device)
            _, expert_val = training_split([S.expert_data], S.train)
            for kind in kinds:
                ref = reference_error(models[kind], expert_val)
                for planner, (config, execution) in planners.items():
                    ep = experiments.run(models[kind], FE.planner_for_seed(config, seed), tasks, execution, world)
                    add(name, kind, planner, seed, ep, tasks, world,
                        evaluate(f"{name}: {kind}, {planner}", ep, tasks, world, models[kind], ref))
        if not references:
            continue
        truth = TrueDynamicsModel(env=world.env)
        ep = experiments.run(truth, Q.final_planners["CEM"], tasks, Q.mpc, world)
        add(name, FE.REFERENCE, CEILING, 0, ep, tasks, world, evaluate(f"{name}: {CEILING}", ep, tasks, world))
        ep = experiments.run_reference(ORACLE, world.oracle(), tasks, world)
        add(name, FE.REFERENCE, ORACLE, 0, ep, tasks, world, evaluate(f"{name}: {ORACLE}", ep, tasks, world))
    bar.close()
    return FE.study_tables(rows, outcomes, COLUMNS, OUTCOME_COLUMNS, (results_path(), outcomes_path()) if write else None)


def prefill(presets, seed: int, device=None, progress: bool = False) -> int:
    """Compute training seed ``seed``'s models and test runs of every world into the cache, writing no results
    (``reproduce``'s cache jobs for notebook 10). Returns the number of runs."""
    df, _ = run_study(presets, seeds=(seed,), device=device, progress=progress, write=False,
                      references=seed == presets.seeds[0])  # the references are the same for every seed: one job
    return len(df)


def load_results(path=None):
    return FE._load_table(path or results_path(), COLUMNS)


def load_outcomes(path=None):
    return FE._load_table(path or outcomes_path(), OUTCOME_COLUMNS)


def point_world_rows(results=None, outcomes=None, kinds=KINDS, planners=None):
    """Notebook 08's rows (and per-task outcomes) of the same models and planners, with world "point":
    (results, outcomes) shaped like ``run_study``'s."""
    results = FE.load_results() if results is None else results
    outcomes = FE.load_outcomes() if outcomes is None else outcomes
    planners = set(planners or [f"{f} {e}" for f in FAMILIES for e in ("open-loop", "MPC")])
    keep = lambda d: d[d.model.isin(list(kinds)) & d.planner.isin(list(planners))]  # noqa: E731
    return keep(results).assign(world="point")[COLUMNS], keep(outcomes).assign(world="point")[OUTCOME_COLUMNS]


# --------------------------------------------------------------------------------------------
# Which conclusions hold in which world
# --------------------------------------------------------------------------------------------
REMEDIES = ("online", "adversarial", "online + adversarial")


def study_claims(planners) -> list[dict]:
    """The series' conclusions as paired claims within one world (``stats.paired_claims``): each remedy beats
    the base model, per planner; and with MPC, CEM against Adam-GBP on the base and the online + adversarial
    model."""
    claims = [{"claim": f"{remedy} beats base ({planner})", "a": (remedy, planner), "b": ("base", planner)}
              for planner in planners for remedy in REMEDIES]
    claims += [{"claim": f"CEM beats Adam-GBP ({kind}, MPC)", "a": (kind, "CEM MPC"), "b": (kind, "Adam MPC")}
               for kind in ("base", "online + adversarial")]
    return claims


def world_verdicts(outcomes, n_boot: int = 4000):
    """``study_claims`` decided in every world of ``outcomes`` (``run_study``'s, with ``point_world_rows``'s
    for the point world): claim, world, the two rates, the paired difference with its interval, verdict."""
    import pandas as pd

    from .stats import paired_claims
    frames = []
    for world, g in outcomes.groupby("world", sort=False):
        planners = [p for p in g.planner.unique() if p.split()[0] in FAMILIES]
        v = paired_claims(g, study_claims(planners), n_boot=n_boot)
        frames.append(v.assign(world=world))
    return pd.concat(frames, ignore_index=True)[["claim", "world", "rate_a", "rate_b", "difference", "low", "high",
                                                  "verdict"]]


def side_by_side(outcomes, n_boot: int = 4000):
    """Success per kind x planner (rows) and world (columns): the rate and its crossed-bootstrap interval over
    seeds and tasks (``stats.crossed_summary``), one (rate, low, high) column triple per world."""
    import pandas as pd

    from .stats import crossed_summary
    parts = []
    for world, g in outcomes.groupby("world", sort=False):
        s = crossed_summary(g[g.model.isin(list(KINDS))], n_boot=n_boot).set_index(["model", "planner"])
        parts.append(s[["success_rate", "low", "high"]].rename(columns=lambda c: f"{world} {c}"))
    return pd.concat(parts, axis=1)
