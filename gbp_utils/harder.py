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

import torch

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


REPAIRED = "online + adversarial, doors unperturbed"  # the repair of section 7 (development tasks only)


def _online_result(presets, name: str, seed: int, adversarial: bool, skip_constant: bool = False, device=None,
                   progress: bool = False):
    """The cached ``TrainResult`` (with per-round snapshots) of notebook 08's online (+ adversarial) recipe on
    expert data in world ``name`` for training seed ``seed`` -- the models ``world_models`` returns."""
    from .finetuning import get_online_model
    Q = world_presets(presets, name).for_seed(seed)
    return get_online_model(Q, Q.online, Q.gbp, adversarial=Q.adversarial if adversarial else None,
                            data_configs=[Q.expert_data], base_train=Q.train, skip_constant=skip_constant,
                            device=device, progress=progress)


def repaired_model(presets, name: str, seed: int, device=None, progress: bool = False):
    """Notebook 10's repair (section 7): online + adversarial finetuning as notebook 08's recipe, except that the
    adversarial loss leaves the state coordinates that never change -- the layout worlds' door features --
    unperturbed (``finetuning.AdversarialLoss(skip_constant=True)``). Found after the sealed test, so it is
    checked on development tasks only and is not part of the sealed comparison. Cached in data/."""
    return _online_result(presets, name, seed, adversarial=True, skip_constant=True, device=device,
                          progress=progress).model


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


def point_world_references(results=None):
    """Notebook 08's ceiling as this study's reference row: its true-dynamics planner is the same planner (the
    tuned CEM with MPC through the real dynamics). Notebook 08 ran no oracle (its scripted expert is noisy)."""
    results = FE.load_results() if results is None else results
    refs = results[(results.model == FE.REFERENCE) & (results.planner == "true-dynamics planner")]
    return refs.assign(world="point", planner=CEILING)[COLUMNS]


def compute_table(results):
    """Per planner (rows) and world (columns): model evaluations and milliseconds per task (medians over model
    kinds and seeds), and the success of the ceiling and the oracle (``run_study``'s reference rows; for the
    point world ``point_world_rows`` + ``point_world_references``). Columns: (world, "evals" | "ms" | "success")."""
    import pandas as pd
    worlds = list(dict.fromkeys(results.world))
    learned = results[results.model.isin(list(KINDS))]
    per = learned.groupby(["world", "planner"], sort=False).agg(evals=("wm_evals_per_task", "median"),
                                                                 ms=("seconds_per_task", "median"))
    per["ms"] *= 1e3
    refs = results[(results.model == FE.REFERENCE) & results.planner.isin([CEILING, ORACLE])]
    ref = refs.groupby(["world", "planner"], sort=False).agg(success=("success_rate", "mean"))
    frames = []
    for w in worlds:
        part = pd.concat([per.loc[w], ref.loc[w] if w in ref.index.get_level_values(0) else None])
        frames.append(part.set_axis(pd.MultiIndex.from_product([[w], part.columns]), axis=1))
    return pd.concat(frames, axis=1)


# --------------------------------------------------------------------------------------------
# Why: how runs fail, and whether a model reads the door
# --------------------------------------------------------------------------------------------
def failure_modes(episodes, tasks, world: World) -> dict:
    """How a run of a planner fails, from its first plan and what happened: success (real), promised (the first
    plan's predicted final *position* is within the success radius of the goal's), false_promise (promised and
    failed: the planner exploited the model's error), unpromised (failed without the model even promising
    success: the model saw no way to the goal), failed_at_wall (failed with the final position touching a wall).
    Shares of the tasks."""
    from .analysis import promise_masks
    real, promised = promise_masks(episodes, tasks, world)
    at_wall = world.touching_wall(episodes.final_states)
    share = lambda m: float(m.float().mean())  # noqa: E731
    return {"success": share(real), "promised": share(promised), "false_promise": share(promised & ~real),
            "unpromised": share(~promised & ~real), "failed_at_wall": share(~real & at_wall)}


@torch.no_grad()
def door_reading(model, world: World, layout_states: torch.Tensor, offset: float = 0.1, gap: float = 0.75) -> dict:
    """Does ``model`` read the door from the state? For every layout of ``layout_states`` (B, S) and every wall,
    the agent stands ``offset`` in front of the wall on either side and pushes straight at it (a full step):
    once at the door's centre (reality: it passes) and once ``gap`` beyond the door's nearer edge, on the solid
    part (reality: the face stops it). The model "predicts passage" when its next position is past the wall's
    centre line. Returns door_passes (share of door pushes the model lets through), wall_blocks (share of
    solid pushes it stops), both_right (share of (door, solid) pairs it gets both right) and, as a check on the
    probe, the same three for the real dynamics (1.0 each)."""
    if world.layouts is None:
        raise ValueError(f"door_reading needs a layout world; the {world.name} world has a fixed door")
    lay = world.layouts_of(layout_states)
    h, step = world.wall.half_size, world.action_bound
    rows = {"model": [], "reality": []}
    for j in range(len(lay.wall_x)):
        low, high = lay.door_low[:, j], lay.door_high[:, j]
        centre = (low + high) / 2
        # the solid spot: beyond the edge with more room to the arena's border
        up = (h - high) >= (low + h)
        solid = torch.where(up, high + gap, low - gap).clamp(-h + 0.25, h - 0.25)
        for side in (-1.0, 1.0):  # in front of the wall's left face pushing +x, or its right face pushing -x
            x = lay.wall_x[j] + side * (lay.thickness / 2 + offset)
            for y, passes in ((centre, True), (solid, False)):
                pos = torch.stack([torch.full_like(y, float(x)), y], -1)
                states = torch.cat([pos, layout_states[:, 2:]], -1)
                actions = torch.tensor([-side * step, 0.0]).expand(len(y), 2).to(states)
                for who, f in (("model", model), ("reality", world.env.step)):
                    nxt = f(states, actions)[:, 0]
                    crossed = (nxt - lay.wall_x[j]) * side < 0
                    rows[who].append((crossed.cpu(), passes))
    out = {}
    for who, pairs in rows.items():
        doors = torch.cat([c for c, p in pairs if p])
        solids = torch.cat([c for c, p in pairs if not p])
        prefix = "" if who == "model" else "reality_"
        out[prefix + "door_passes"] = float(doors.float().mean())
        out[prefix + "wall_blocks"] = float((~solids).float().mean())
        out[prefix + "both_right"] = float((doors & ~solids).float().mean())
    return out


def coordinate_names(world: World) -> list[str]:
    """Names of the state's coordinates in ``world`` (for tables)."""
    names = ["x", "y"]
    if world.momentum is not None:
        return names + ["vx", "vy"]
    if world.layouts is not None:
        for j in range(world.n_walls):
            suffix = "" if world.n_walls == 1 else f" {j + 1}"
            names += [f"door centre{suffix}", f"door width{suffix}"]
    return names


def failure_table(presets, seed: int = 0, split: str = "eval", planners=("Adam MPC", "CEM MPC"), models=None,
                  device=None):
    """``failure_modes`` of every world x model kind x planner on the tasks of ``split`` ("eval": the
    development tasks of section 4; "test": the sealed ones), from the cached runs of training seed ``seed``.
    ``models``: {world: {name: model}} to use instead of ``world_models`` (e.g. with the repaired model added).
    One row per run: world, model, planner and the shares of ``failure_modes``."""
    import pandas as pd
    if split not in ("test", "eval"):
        raise ValueError(f"split must be 'eval' or 'test'; got {split!r}")
    rows = []
    for name in (models or worlds(presets)):
        Q = world_presets(presets, name)
        tasks = (Q.test_tasks(Q.tasks.test, device=device) if split == "test"
                 else Q.eval_tasks(Q.tasks.eval, device=device))
        chosen = models[name] if models else world_models(presets, name, seed, device=device)
        configs = study_planners(Q)
        for kind, model in chosen.items():
            for planner in planners:
                config, execution = configs[planner]
                ep = experiments.run(model, FE.planner_for_seed(config, seed), tasks, execution, Q.world)
                rows.append({"world": name, "model": kind, "planner": planner, **failure_modes(ep, tasks, Q.world)})
    return pd.DataFrame(rows)


def door_reading_by_round(presets, name: str, seed: int = 0, device=None):
    """``door_reading``'s both_right after every online round, for online and online + adversarial finetuning
    in layout world ``name`` (the cached models' snapshots), on its development layouts: one row per round."""
    import pandas as pd

    Q = world_presets(presets, name)
    if Q.world.layouts is None:
        raise ValueError(f"door_reading_by_round needs a layout world; got {name!r}")
    states = Q.eval_tasks(Q.tasks.eval, device=device).starts
    out = {}
    for kind, adversarial in (("online", False), ("online + adversarial", True)):
        snaps = _online_result(presets, name, seed, adversarial, device=device).snapshots
        out[kind] = [door_reading(m, Q.world, states)["both_right"] for m in snaps]
    return pd.DataFrame(out, index=pd.RangeIndex(1, len(out["online"]) + 1, name="round"))


def adversarial_terms(presets, name: str, seed: int = 0, n: int = 4096, skip_constant: bool = False):
    """What each state coordinate contributes to the online + adversarial loss (``AdversarialLoss.terms``,
    notebook 08's budget) at the start of finetuning: the base model of world ``name`` on ``n`` of its expert
    training transitions. A pandas Series indexed by ``coordinate_names``."""
    import pandas as pd

    from .finetuning import AdversarialLoss
    Q = world_presets(presets, name)
    S = Q.for_seed(seed)
    model = world_models(presets, name, seed, kinds=("base",))["base"]
    train, _ = training_split([S.expert_data], S.train)
    s, a, s_next = train.transitions()
    pick = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))[:n]
    torch.manual_seed(seed)
    terms = AdversarialLoss(S.adversarial, skip_constant).terms(model, s[pick], a[pick], s_next[pick])
    return pd.Series(terms.cpu().numpy(), index=coordinate_names(Q.world), name="loss term")


# --------------------------------------------------------------------------------------------
# Which conclusions hold in which world
# --------------------------------------------------------------------------------------------
REMEDIES = ("online", "adversarial", "online + adversarial")


def study_claims(planners, kinds=KINDS) -> list[dict]:
    """The series' conclusions as paired claims within one world (``stats.paired_claims``): each remedy among
    ``kinds`` beats the base model, per planner; and with MPC, CEM against Adam-GBP on the base model and on the
    most finetuned of ``kinds`` (online + adversarial; without it, online)."""
    missing = [k for k in ("base", "online") if k not in kinds]
    if missing:
        raise ValueError(f"the claims compare remedies with the base model and need the kinds 'base' and 'online'; "
                         f"kinds {list(kinds)} lack {missing}")
    claims = [{"claim": f"{remedy} beats base ({planner})", "a": (remedy, planner), "b": ("base", planner)}
              for planner in planners for remedy in REMEDIES if remedy in kinds]
    finetuned = "online + adversarial" if "online + adversarial" in kinds else "online"
    claims += [{"claim": f"CEM beats Adam-GBP ({kind}, MPC)", "a": (kind, "CEM MPC"), "b": (kind, "Adam MPC")}
               for kind in ("base", finetuned)]
    return claims


def world_verdicts(outcomes, n_boot: int = 4000, by: str = "world"):
    """``study_claims`` decided in every world of ``outcomes`` (``run_study``'s, with ``point_world_rows``'s
    for the point world): claim, world, the two rates, the paired difference with its interval, verdict.
    ``by``: the column that tells the groups apart (notebook 09: "observation", pixels or states)."""
    import pandas as pd

    from .stats import paired_claims
    frames = []
    for world, g in outcomes.groupby(by, sort=False):
        planners = [p for p in g.planner.unique() if p.split()[0] in FAMILIES]
        v = paired_claims(g, study_claims(planners, [k for k in KINDS if k in set(g.model)]), n_boot=n_boot)
        frames.append(v.assign(**{by: world}))
    return pd.concat(frames, ignore_index=True)[["claim", by, "rate_a", "rate_b", "difference", "low", "high",
                                                  "verdict"]]


def side_by_side(outcomes, n_boot: int = 4000, by: str = "world"):
    """Success per kind x planner (rows) and world (columns): the rate and its crossed-bootstrap interval over
    seeds and tasks (``stats.crossed_summary``), one (rate, low, high) column triple per world (or per value of
    the column ``by``)."""
    import pandas as pd

    from .stats import crossed_summary
    parts = []
    for world, g in outcomes.groupby(by, sort=False):
        s = crossed_summary(g[g.model.isin(list(KINDS))], n_boot=n_boot).set_index(["model", "planner"])
        parts.append(s[["success_rate", "low", "high"]].rename(columns=lambda c: f"{world} {c}"))
    return pd.concat(parts, axis=1)
