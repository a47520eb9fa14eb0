"""Notebook 11's study: pessimistic planning through ensembles of world models, under the series' protocol.

* Members. An ensemble of a model kind ("base", "adversarial", "online", "online + adversarial"; expert
  data) is M independent runs of that kind's whole recipe: member m trains on its own bootstrap resample of
  the training episodes with its own seed (``ensemble.get_member``), then is finetuned as the single model
  of that kind is (adversarially on the same resample; online with its own DAgger loop, which plans with
  the member itself and collects on its own training tasks). Each member is cached in data/.
* Matched compute. An ensemble step costs M model evaluations, so an ensemble of M is compared with the
  single model given M times the planning budget (``scaled_planner``: M x GBP's restarts, M x CEM's
  population and elites), i.e. the same world-model evaluations per task.
* Protocol. M and the penalty beta are chosen on tune tasks (``tune``: first M on the base model with each
  planner family under MPC, then beta per model kind and family at that M); the comparison runs once on the
  sealed test tasks over the training seeds (``run_study``) and is written to ``data/results/pessimism.csv``
  with per-task outcomes beside it, so notebook 11 and the README compute the same intervals and paired
  comparisons as notebook 08.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import experiments
from . import final_evaluation as FE
from .ensemble import (MEMBER_SEED_STRIDE, EnsembleWorldModel, get_member, member_config, member_data,
                       member_train_config)
from .env import WallEnv
from .evaluation import evaluate
from .finetuning import adversarial_finetune, online_finetune
from .planners import GBPConfig
from .sampling import CEMConfig
from .world_model import TrainResult, cached_model, reference_error, training_split

KINDS, FAMILIES = FE.APPENDIX_KINDS, FE.APPENDIX_FAMILIES  # notebook 08's expert-data models; Adam-GBP and CEM
COLUMNS = FE.COLUMNS + ["members", "beta", "budget"]
OUTCOME_COLUMNS = FE.OUTCOME_COLUMNS


def results_path(folder=None) -> Path:
    return FE.results_file("pessimism.csv", folder)


def outcomes_path(folder=None) -> Path:
    return FE.results_file("pessimism_outcomes.csv.gz", folder)


# --------------------------------------------------------------------------------------------
# Members and ensembles
# --------------------------------------------------------------------------------------------
def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def member_model(presets, seed: int, kind: str, m: int, device=None, progress: bool = False) -> TrainResult:
    """Member m of training seed ``seed``'s ensemble of ``kind`` (see the module docstring), cached."""
    _check_kind(kind)
    Q = presets.for_seed(seed)
    data, tc = [Q.expert_data], Q.train
    base = get_member(data, m, Q.model, tc, device=device, progress=progress)
    if kind == "base":
        return base
    key = member_config(data, Q.model, tc, m)  # the base member's key; it holds the architecture under "model"
    train, _ = member_data(data, tc, m)
    mtc = member_train_config(tc, m)
    if kind == "adversarial":
        finetune = dataclasses.replace(Q.adversarial_finetune, seed=mtc.seed)
        config = {**key, "adversarial": Q.adversarial_only, "finetune": finetune}
        return cached_model("member_adversarial", config, lambda: adversarial_finetune(
            base.model, train, Q.adversarial_only, finetune, device=device, progress=progress), device)
    online = dataclasses.replace(Q.online, seed=Q.online.seed + MEMBER_SEED_STRIDE * m)  # its own training tasks
    adversarial = Q.adversarial if kind == "online + adversarial" else None
    config = {**key, "online": online, "gbp": Q.gbp, **({"adversarial": adversarial} if adversarial else {})}

    def build() -> TrainResult:
        model, collected = online_finetune(base.model, train, WallEnv(Q.wall), Q.gbp, online, mtc, device=device,
                                           progress=progress, adversarial=adversarial)
        return TrainResult(model, {"collected_transitions": [len(c) for c in collected]})

    return cached_model("member_online", config, build, device)


def ensemble_model(presets, seed: int, kind: str, members: int, beta: float = 0.0, device=None,
                   progress: bool = False) -> EnsembleWorldModel:
    """Members 0..M-1 of ``member_model``, stacked into an ensemble planning with penalty ``beta``."""
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be an integer >= 1; got {members!r}")
    models = [member_model(presets, seed, kind, m, device, progress).model for m in range(members)]
    return EnsembleWorldModel.from_models(models, beta).to(device)


def single_model(presets, seed: int, kind: str, device=None):
    """The single model of ``kind`` of training seed ``seed``: notebook 08's (``final_evaluation``)."""
    _check_kind(kind)
    return FE.factorial_models(presets, seed, names=[kind], device=device)[kind]


# --------------------------------------------------------------------------------------------
# Planners at matched compute
# --------------------------------------------------------------------------------------------
def study_planners(presets) -> dict:
    """{"Adam open-loop": (config, execution), "Adam MPC": ..., "CEM open-loop": ..., "CEM MPC": ...}: notebook
    08's tuned planners of ``FAMILIES``."""
    return FE.factorial_planners(presets, FAMILIES)


def scaled_planner(config, factor: int):
    """``config`` with ``factor`` times the planning budget, spent in parallel: GBP's restarts, or CEM's
    population and elites, times ``factor`` (iterations unchanged). A single model planned with it costs
    as many world-model evaluations per task as an ensemble of ``factor`` members with ``config``."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1; got {factor!r}")
    if isinstance(config, GBPConfig):
        return dataclasses.replace(config, restarts=config.restarts * factor)
    if isinstance(config, CEMConfig):
        return dataclasses.replace(config, population=config.population * factor, elites=config.elites * factor)
    raise TypeError(f"scaled_planner takes a GBPConfig or CEMConfig; got {type(config).__name__}")


def variant_name(planner: str, members: int = 0, beta: float = 0.0, budget: int = 1) -> str:
    """The planner column of a study run: "Adam MPC" (the single model), "Adam MPC, 3x budget",
    "Adam MPC, ensemble of 3", "Adam MPC, ensemble of 3, beta 0.3". ``members`` 0 means no ensemble."""
    parts = [planner]
    if budget != 1:
        parts.append(f"{budget}x budget")
    if members:
        parts.append(f"ensemble of {members}")
        if beta:
            parts.append(f"beta {beta:g}")
    elif beta:
        raise ValueError("a single model has no disagreement to penalise: beta needs members >= 1")
    return ", ".join(parts)


@dataclass(frozen=True)
class Variant:
    """One way to plan with a model kind: through the single model (``members`` 0) with ``budget`` times the
    planner's budget, or through an ensemble of ``members`` with penalty ``beta``."""

    members: int = 0
    beta: float = 0.0
    budget: int = 1

    def name(self, planner: str) -> str:
        return variant_name(planner, self.members, self.beta, self.budget)


def study_variants(members: int, beta: float) -> tuple:
    """The four variants of the test comparison at ensemble size M = ``members`` and chosen ``beta``: the single
    model (notebook 08's run), the single model with M times the budget (matched compute), the plain
    ensemble (beta 0: averaging alone) and the pessimistic ensemble (dropped if beta is 0)."""
    out = [Variant(), Variant(budget=members), Variant(members=members)]
    if beta:
        out.append(Variant(members=members, beta=beta))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------
def run_variant(presets, seed: int, kind: str, planner: str, variant: Variant, tasks, device=None):
    """Run (or load) one variant of ``kind`` x ``planner`` (a ``study_planners`` name) on ``tasks``:
    (episodes, world model)."""
    config, execution = study_planners(presets)[planner]
    config = FE.planner_for_seed(scaled_planner(config, variant.budget), seed)  # as notebook 08 plans
    model = (single_model(presets, seed, kind, device) if not variant.members
             else ensemble_model(presets, seed, kind, variant.members, variant.beta, device))
    return experiments.run(model, config, tasks, execution, presets.wall), model


@dataclass(frozen=True)
class Choice:
    """What ``tune`` chose: the ensemble size and, per (kind, family), the penalty."""

    members: int
    betas: dict = field(default_factory=dict)

    def beta(self, kind: str, family: str) -> float:
        return self.betas[(kind, family)]


def tune_rows(presets, kinds, planners, members_grid, beta_grid, n_tasks: int, seed: int = 0, device=None,
              progress: bool = False):
    """Success on the first ``n_tasks`` tune tasks of every kind x planner x ensemble size x beta (training seed
    ``seed``): a DataFrame with kind, planner, members, beta, success_rate, successes, n_tasks,
    wm_evals_per_task, seconds_per_task."""
    import pandas as pd
    from tqdm.auto import tqdm
    tasks = presets.tune_tasks(n_tasks, device=device)
    combos = [(k, p, m, b) for k in kinds for p in planners for m in members_grid for b in beta_grid]
    rows = []
    for kind, planner, members, beta in tqdm(combos, desc="tuning", disable=not progress):
        ep, model = run_variant(presets, seed, kind, planner, Variant(members, beta), tasks, device)
        r = evaluate(f"{kind}, {planner}", ep, tasks, presets.wall)
        rows.append({"kind": kind, "planner": planner, "members": members, "beta": beta,
                     "success_rate": r.success_rate, "successes": r.successes, "n_tasks": r.n_tasks,
                     "wm_evals_per_task": r.wm_evals_per_task, "seconds_per_task": r.seconds_per_task})
    return pd.DataFrame(rows)


def best(rows, key):
    """The value of ``key`` in the row of highest success; on a tie the smallest value (the cheaper
    ensemble, the milder penalty)."""
    top = rows.success_rate.max()
    return min(rows.loc[rows.success_rate == top, key])


def choose(tune_members, tune_betas) -> Choice:
    """M: the best ensemble size on ``tune_members`` (rows of the base model, each size at its best beta,
    success averaged over the planners); beta per (kind, family): the best on ``tune_betas`` at that M
    (success averaged over the family's planners)."""
    by_size = (tune_members.groupby(["members", "beta"], as_index=False).success_rate.mean()
               .groupby("members", as_index=False).success_rate.max())
    members = int(best(by_size, "members"))
    at_m = tune_betas[tune_betas.members == members].assign(family=lambda d: d.planner.str.split().str[0])
    betas = {}
    for (kind, family), rows in at_m.groupby(["kind", "family"]):
        betas[(kind, family)] = float(best(rows.groupby("beta", as_index=False).success_rate.mean(), "beta"))
    return Choice(members, betas)


def tune(presets, pessimism: PessimismPresets, kinds=KINDS, seed: int = 0, device=None, progress: bool = False):
    """Choose M and beta on tune tasks (training seed ``seed``), in two stages: every ensemble size x beta on
    the base model with each family under MPC; then every beta at the chosen M for every kind with each family
    under MPC. Returns (Choice, stage-1 rows, stage-2 rows) (``tune_rows``)."""
    mpc = [p for p in study_planners(presets) if p.endswith("MPC")]
    stage1 = tune_rows(presets, ["base"], mpc, pessimism.members_grid, pessimism.beta_grid, pessimism.tune_tasks,
                       seed, device, progress)
    members = choose(stage1, stage1).members
    stage2 = tune_rows(presets, list(kinds), mpc, [members], pessimism.beta_grid, pessimism.tune_tasks, seed,
                       device, progress)
    return choose(stage1, stage2), stage1, stage2


def study_jobs(presets, choice: Choice, kinds=KINDS) -> list:
    """(kind, planner, Variant) of every run per training seed of the test comparison."""
    return [(kind, planner, v) for kind in kinds for planner in study_planners(presets)
            for v in study_variants(choice.members, choice.beta(kind, planner.split()[0]))]


def run_study(presets, choice: Choice, seeds=None, n_tasks=None, split: str = "test", kinds=KINDS, device=None,
              progress: bool = True, write: bool = True):
    """Every ``study_jobs`` run for each training seed on the first ``n_tasks`` tasks of ``split`` ("test": the
    sealed tasks, once, after ``tune``). Returns (results with ``COLUMNS``, per-task outcomes with
    ``OUTCOME_COLUMNS``); with ``write``, both are written atomically to ``results_path()`` and
    ``outcomes_path()``."""
    from tqdm.auto import tqdm
    P = presets
    if split not in ("test", "eval"):
        raise ValueError(f"split must be 'test' (the final comparison) or 'eval' (development); got {split!r}")
    seeds = tuple(seeds or P.seeds)
    n = n_tasks or (P.tasks.test if split == "test" else P.tasks.eval)
    tasks = (P.test_tasks if split == "test" else P.eval_tasks)(n, device=device)
    jobs = study_jobs(P, choice, kinds)
    rows, outcomes = [], []
    bar = tqdm(total=len(jobs) * len(seeds), desc="pessimism study", disable=not progress)
    for seed in seeds:
        Q = P.for_seed(seed)
        _, expert_val = training_split([Q.expert_data], Q.train)
        for kind, planner, variant in jobs:
            ep, model = run_variant(P, seed, kind, planner, variant, tasks, device)
            name = variant.name(planner)
            r = evaluate(f"{kind}, {name}", ep, tasks, P.wall, model, reference_error(model, expert_val))
            rows.append({**FE._row(kind, name, seed, tasks.split, r), "members": variant.members or 1,
                         "beta": variant.beta, "budget": variant.budget})
            outcomes += FE._outcomes(kind, name, seed, ep, tasks, P.wall)
            bar.update()
    bar.close()
    return FE.study_tables(rows, outcomes, COLUMNS, OUTCOME_COLUMNS, (results_path(), outcomes_path()) if write else None)


SWEEP_KINDS = ("base", "online + adversarial")  # notebook 11's development sweep over beta (``beta_sweep``)
SWEEP_PLANNER = "Adam MPC"


def prefill(presets, seed: int, device=None, progress: bool = False, kinds=KINDS) -> int:
    """Compute what notebook 11 needs of training seed ``seed`` into the cache, writing no results: the
    tuning (seed 0's ensembles on tune tasks; cached, so every seed's job reuses it), for seed 0 the
    development sweep, and the seed's test runs. ``reproduce`` runs one per seed beside the notebooks, seeds
    other than 0 after seed 0's. Returns the number of test runs."""
    choice, _, _ = tune(presets, presets.pessimism, kinds, device=device, progress=progress)
    if seed == 0:
        beta_sweep(presets, [k for k in SWEEP_KINDS if k in kinds], SWEEP_PLANNER, choice.members,
                   presets.pessimism.beta_grid, presets.pessimism.dev_tasks, seed=0, device=device, progress=progress)
    run_study(presets, choice, seeds=(seed,), kinds=kinds, device=device, progress=progress, write=False)
    return len(study_jobs(presets, choice, kinds))


def study_claims(presets, choice: Choice, kinds=KINDS) -> list[dict]:
    """The comparisons of notebook 11 as paired claims (``stats.paired_claims``), per kind and planner: the
    pessimistic ensemble beats the single model at matched compute; it beats the plain ensemble (the penalty,
    not the averaging); the plain ensemble beats the single model at matched compute."""
    claims = []
    for kind in kinds:
        for planner in study_planners(presets):
            M, beta = choice.members, choice.beta(kind, planner.split()[0])
            single, plain = variant_name(planner, budget=M), variant_name(planner, M)
            pess = variant_name(planner, M, beta)
            if beta:
                claims += [{"claim": f"the penalty beats {M}x the budget ({kind}, {planner})", "a": (kind, pess),
                            "b": (kind, single)},
                           {"claim": f"the penalty beats the plain ensemble ({kind}, {planner})", "a": (kind, pess),
                            "b": (kind, plain)}]
            claims.append({"claim": f"the plain ensemble beats {M}x the budget ({kind}, {planner})",
                           "a": (kind, plain), "b": (kind, single)})
    return claims


VARIANT_LABELS = ("single", "Mx budget", "ensemble, beta 0", "ensemble, chosen beta")  # study_variants, in order


def variant_bars(summary, presets, choice: Choice, kinds=KINDS) -> dict:
    """The sealed test's success per planner, kind and variant, ready for ``plotting.success_bars``:
    {planner: {kind: {label: report}}} with the ``VARIANT_LABELS`` ("Mx budget" names the ensemble size) and
    reports holding success_rate, ci_low and ci_high from ``summary`` (``stats.crossed_summary`` of the study's
    outcomes). A kind whose chosen beta is 0 has no "ensemble, chosen beta" bar (it is the plain ensemble)."""
    from types import SimpleNamespace
    M = choice.members
    out = {}
    for planner in study_planners(presets):
        out[planner] = {}
        for kind in kinds:
            variants = study_variants(M, choice.beta(kind, planner.split()[0]))
            bars = {}
            for label, variant in zip(VARIANT_LABELS, variants):
                row = summary[(summary.model == kind) & (summary.planner == variant.name(planner))]
                if row.empty:
                    raise ValueError(f"summary has no row for {kind!r}, {variant.name(planner)!r}: pass the "
                                     "crossed_summary of run_study's outcomes with the same presets and choice")
                r = row.iloc[0]
                bars[label.replace("Mx", f"{M}x")] = SimpleNamespace(success_rate=float(r.success_rate),
                                                                     ci_low=float(r.low), ci_high=float(r.high))
            out[planner][kind] = bars
    return out


def load_results(path=None):
    return FE._load_table(path or results_path(), COLUMNS)


def load_outcomes(path=None):
    return FE._load_table(path or outcomes_path(), OUTCOME_COLUMNS)


@torch.no_grad()
def disagreement_field(ensemble: EnsembleWorldModel, wall, resolution: int = 41, directions: int = 8) -> tuple:
    """(grid_xy (R, R, S), field (R, R)): the ensemble's disagreement about a full-speed step from every grid
    point, averaged over ``directions`` evenly spaced directions (nan inside the wall): how unsure its
    members are about any move from there. The background of the beta widget."""
    from .analysis import arena_grid, push_action
    grid, pts, free = arena_grid(wall, resolution)
    device = ensemble.inp_0_weight.device
    n = int(free.sum())
    total = torch.zeros(n)
    for k in range(directions):
        action = push_action(360.0 * k / directions, wall).expand(n, 2)
        total += ensemble.disagreement(pts[free].to(device), action.to(device)).cpu()
    values = torch.full((pts.shape[0],), float("nan"))
    values[free] = total / directions
    return grid, values.reshape(resolution, resolution)


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of a 1-D tensor, ties broken by position (continuous fields have no exact ties)."""
    r = torch.empty_like(x)
    r[x.argsort()] = torch.arange(len(x), dtype=x.dtype)
    return r


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two equally long 1-D tensors (nan entries dropped pairwise)."""
    a, b = a.flatten().double(), b.flatten().double()
    ok = torch.isfinite(a) & torch.isfinite(b)
    if ok.sum() < 3:
        raise ValueError("rank_correlation needs at least 3 finite pairs")
    ra, rb = _ranks(a[ok]), _ranks(b[ok])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


@torch.no_grad()
def disagreement_vs_error(ensemble: EnsembleWorldModel, wall, angle_deg: float = 0.0, resolution: int = 41,
                          top: float = 0.1) -> dict:
    """Does the ensemble know where it is wrong? One full-speed step in direction ``angle_deg`` from every
    free point of a grid over the arena: the members' disagreement there (``EnsembleWorldModel.disagreement``)
    and the real one-step error of their mean (``analysis.push_map`` with one step).

    Returns grid_xy (R, R, S), disagreement and error (R, R) (nan inside the wall), their rank correlation
    over free points, and ``top_overlap``: the share of the ``top`` fraction of points with the largest error
    that are also among the ``top`` fraction with the largest disagreement (chance: ``top``); and where those
    top points lie: ``top_error_at_face`` / ``top_disagreement_at_face``, the share within one step of the wall
    face the push meets, and ``top_error_at_border`` / ``top_disagreement_at_border``, within 1 of the border."""
    from .analysis import push_action, push_map
    pm = push_map(ensemble, angle_deg, n_steps=1, wall=wall, resolution=resolution)
    grid, error = pm["grid_xy"], pm["error"]
    free = torch.isfinite(error)
    device = ensemble.inp_0_weight.device
    pts = grid[free].to(device)
    action = push_action(angle_deg, wall).to(device).expand_as(pts)
    d = torch.full_like(error, float("nan"))
    d[free] = ensemble.disagreement(pts, action).cpu()
    e, dd = error[free], d[free]
    k = max(1, int(round(top * len(e))))
    top_e, top_d = e.topk(k).indices, dd.topk(k).indices
    xy = grid[free]
    # where the worst points are: pressed against the wall's face the push meets (within one step of it), or
    # near the arena's border (within one step, the data's thin edge)
    face = wall.wall_left if math.cos(math.radians(angle_deg)) >= 0 else wall.wall_right
    at_face = (xy[:, 0] - face).abs() <= wall.max_step + 1e-6
    at_border = (xy.abs() >= wall.half_size - 1.0).any(-1)
    share = lambda idx, where: float(where[idx].float().mean())  # noqa: E731
    return {"grid_xy": grid, "disagreement": d, "error": error, "rank_correlation": rank_correlation(e, dd),
            "top_overlap": len(set(top_e.tolist()) & set(top_d.tolist())) / k, "top": top, "blocked": pm["blocked"],
            "top_error_at_face": share(top_e, at_face), "top_disagreement_at_face": share(top_d, at_face),
            "top_error_at_border": share(top_e, at_border), "top_disagreement_at_border": share(top_d, at_border)}


def door_statistics(episodes, tasks, wall) -> dict:
    """Over-pessimism, measured: among the tasks whose straight line is blocked by the wall (they need the
    door), how many runs ever reached the goal's side (``dared``) and how many succeeded; the rest stayed
    on the start's side. Returns n_door_tasks, dared and success (fractions of those tasks)."""
    from .env import WallEnv, straight_line_blocked, success
    need = straight_line_blocked(tasks.starts.cpu(), tasks.goals.cpu(), wall)
    states = episodes.states.cpu()
    side = WallEnv(wall).side
    goal_side = side(tasks.goals.cpu())
    reached = (side(states.reshape(-1, states.shape[-1])).reshape(states.shape[:-1]) == goal_side[:, None]).any(1)
    ok = success(states[:, -1], tasks.goals.cpu(), wall)
    n = int(need.sum())
    return {"n_door_tasks": n, "dared": float(reached[need].float().mean()) if n else float("nan"),
            "success": float(ok[need].float().mean()) if n else float("nan")}


def beta_sweep(presets, kinds, planner: str, members: int, betas, n_tasks: int, seed: int = 0, device=None,
               progress: bool = False):
    """Where the penalty helps and where it hurts, on the first ``n_tasks`` development (eval) tasks: the
    ensemble of ``members`` of each kind planned by ``planner`` at every beta. A DataFrame with kind, beta,
    success_rate, ci_low, ci_high, gap ratio (``evaluation.EvalReport.wm_error_ratio``: the ensemble's error
    where the plans went over its error on expert data), the door statistics (``door_statistics``) and
    compute per task."""
    import pandas as pd
    from tqdm.auto import tqdm
    Q = presets.for_seed(seed)
    _, expert_val = training_split([Q.expert_data], Q.train)
    tasks = presets.eval_tasks(n_tasks, device=device)
    rows = []
    for kind, beta in tqdm([(k, b) for k in kinds for b in betas], desc="beta sweep", disable=not progress):
        ep, model = run_variant(presets, seed, kind, planner, Variant(members, beta), tasks, device)
        r = evaluate(f"{kind}, beta {beta:g}", ep, tasks, presets.wall, model, reference_error(model, expert_val))
        rows.append({"kind": kind, "beta": beta, "success_rate": r.success_rate, "ci_low": r.ci_low,
                     "ci_high": r.ci_high, "gap_ratio": r.wm_error_ratio, **door_statistics(ep, tasks, presets.wall),
                     "wm_evals_per_task": r.wm_evals_per_task, "seconds_per_task": r.seconds_per_task})
    return pd.DataFrame(rows)


def choice_from_results(results) -> Choice:
    """The ``Choice`` a study's CSV was run with: the ensemble size of its rows and, per (kind, family), the
    penalty of its pessimistic rows (0 where the study ran none)."""
    ens = results[results.members > 1]
    if ens.empty:
        raise ValueError("the results hold no ensemble rows: run notebook 11 (python -m gbp_utils.reproduce --only 11)")
    sizes = sorted(set(int(m) for m in ens.members))
    if len(sizes) != 1:
        raise ValueError(f"the results mix ensemble sizes {sizes}; one study uses one size")
    betas = {}
    for r in results.itertuples():
        key = (r.model, r.planner.split()[0])
        betas[key] = max(betas.get(key, 0.0), float(r.beta))
    return Choice(sizes[0], betas)


def study_table(outcomes, results, n_boot: int = 4000):
    """One row per kind x planner of the study: the chosen M and beta; success rates with intervals over seeds
    and tasks (``stats.crossed_summary``) of the single model ("single"), of M x its budget ("budget"), of the
    plain ensemble ("ensemble") and of the pessimistic one ("pessimistic", = the plain one when beta is 0);
    world-model evaluations per task of the single model and of the ensemble; and the paired differences with
    verdicts: pessimistic - budget ("penalty vs budget") and ensemble - budget ("ensemble vs budget")."""
    import pandas as pd

    from .stats import aggregate, crossed_summary, paired_claims
    choice = choice_from_results(results)
    M = choice.members
    s = crossed_summary(outcomes, n_boot=n_boot).set_index(["model", "planner"])
    evals = aggregate(results).set_index(["model", "planner"]).wm_evals_per_task
    rows = []
    for (kind, family), beta in sorted(choice.betas.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1])):
        for planner in sorted({p for (k, p) in s.index if k == kind and p.split()[0] == family and "," not in p},
                              key=lambda p: (not p.endswith("open-loop"), p)):  # open loop first, then MPC
            names = {"single": planner, "budget": variant_name(planner, budget=M), "ensemble": variant_name(planner, M),
                     "pessimistic": variant_name(planner, M, beta)}
            row = {"model": kind, "planner": planner, "members": M, "beta": beta}
            for key, name in names.items():
                r = s.loc[(kind, name)]
                row.update({key: r.success_rate, f"{key} low": r.low, f"{key} high": r.high})
            row.update({"single evals": evals.loc[(kind, planner)], "ensemble evals": evals.loc[(kind, names["ensemble"])]})
            claims = [{"claim": "penalty vs budget", "a": (kind, names["pessimistic"]), "b": (kind, names["budget"])},
                      {"claim": "ensemble vs budget", "a": (kind, names["ensemble"]), "b": (kind, names["budget"])}]
            for v in paired_claims(outcomes, claims, n_boot=n_boot).itertuples():
                row.update({f"{v.claim}": v.difference, f"{v.claim} low": v.low, f"{v.claim} high": v.high,
                            f"{v.claim} verdict": v.verdict})
            rows.append(row)
    return pd.DataFrame(rows)
