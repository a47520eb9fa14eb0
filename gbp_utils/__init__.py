"""gbp_utils: the shared code of the gradient-based-planning tutorial series.

Notebooks narrate and call into this package; every piece of logic lives here, one module per idea:

* ``env``: the wall-door world (batched exact dynamics, tasks, ``TrueDynamicsModel``); ``gym_env``: its
  Gymnasium wrapper;
* ``policies``: the shortest-path oracle, the noisy expert, the straight line; ``data``: running a
  policy, expert and play datasets (``Dataset``), cached;
* ``world_model``: the residual MLP, its trainer, rollouts, errors, cached checkpoints and
  ``training_split``;
* ``planners``: gradient-based planning and ``make_planner`` (the one way to build any planner);
  ``sampling``: CEM, MPPI, GD+CEM;
* ``control``: ``Execution`` and executing plans open-loop or with MPC; ``experiments``: cached runs;
  ``tuning``: choosing planner settings on tune tasks with an equal budget per planner family;
* ``evaluation``: scoring runs; ``analysis``: gap, landscapes, pushes, one planned task;
  ``stats``: intervals over tasks and seeds, paired differences, aggregation over seeds;
* ``finetuning``: online (DAgger) and adversarial finetuning, cached models;
* ``final_evaluation``: notebook 08's table; ``results``: the README table;
* ``ensemble``: ensembles of world models, their disagreement and the penalty planners pay for it;
  ``pessimism``: notebook 11's study of pessimistic planning (members, matched compute, tuning, test runs);
* ``pixels``: top-down images of the world (batched, differentiable renderer) for planning from pixels;
  ``latent``: an image autoencoder trained on them (convolutional or spatial-softmax), latent transitions, a
  linear position probe and world models that plan in latent space; ``vision``: notebook 09's study (the
  encoder, the four models from pixels, tuning, pixels vs states on sealed tasks);
* ``momentum``: a harder world (position and velocity, accelerations, contact that stops the normal motion)
  and its expert; ``layouts``: worlds whose doors (and an optional second wall) change per task, with
  per-task physics, oracle and task sampling; ``worlds``: either option behind one interface (``World``: its
  env, state size, action bound, tasks, expert, oracle, play data, success on positions); ``harder``: notebook
  10's study of the series' models and planners in those worlds (``Presets.in_world``);
* ``plotting`` and ``widgets``: figures (one colour-blind-safe ``PALETTE``, two concept diagrams) and
  interactive demos; ``cache``: files under data/; ``reproduce``: re-execute the notebooks;
* ``exercises``: the checks of the graded exercises; ``course``: the student edition of the notebooks
  (``python -m gbp_utils.course``).

Every size and setting the notebooks use comes from ``presets()``.
"""
from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .cache import fast_mode
from .control import OPEN_LOOP, Execution
from .data import DataConfig, Dataset, get_dataset
from .ensemble import PessimismPresets
from .env import TaskSet, WallConfig, WallEnv, sample_tasks
from .finetuning import AdversarialConfig, OnlineConfig
from .planners import GBPConfig
from .sampling import CEMConfig, GDCEMConfig, MPPIConfig
from .world_model import TrainConfig, WorldModel, WorldModelConfig, get_world_model, training_split
from .harder import HarderPresets
from .vision import PixelPresets
from .worlds import World, WorldDataConfig

__version__ = "0.1.0"


def setup(seed: int = 0, threads: int = 1, device: str | None = None) -> torch.device:
    """Call once at the top of every notebook: one torch thread, seeded RNGs, plot style, device.

    One thread matters: on small CPUs torch's default thread pool made a tiny-MLP notebook ~30x
    slower inside Jupyter. Returns the device to use ("cuda" if available unless ``device`` is given).
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        import seaborn as sns
        sns.set_theme(style="white", context="notebook", palette="colorblind")  # = plotting.PALETTE
    except ImportError:  # plotting is optional for scripts
        pass
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@dataclass(frozen=True)
class TaskCounts:
    """How many tasks each use draws. Held-out development tasks are ``sample_tasks(eval, eval_seed,
    "eval")`` (or their first ``n``), tune tasks ``sample_tasks(tune, 0, "tune")``, sealed test tasks
    ``sample_tasks(test, 0, "test")``: the same everywhere."""

    eval: int = 300  # held-out development tasks of notebooks 04-07
    test: int = 300  # sealed test tasks: the final table only, once every setting is frozen
    final: int = 300  # the first held-out tasks of the final table (notebook 08)
    tune: int = 200  # "tune"-split tasks on which settings are chosen (06, 08; 07's compute curve: a prefix)
    replan_tune: int = 60  # tune tasks (drawn on their own) on which 04 chooses MPC's replanning interval
    round_curve: int = 100  # the first held-out tasks on which 05 evaluates every online round
    compute_curve: int = 100  # the first tune tasks of 07's success-vs-compute curves
    hand_round: int = 50  # training tasks of 05's hand-written online round
    demo: int = 5  # tune tasks of 04's hand-written GBP loop
    exercise: int = 40  # tune tasks of 04's exercises
    landscape: int = 40  # the first tune tasks of 06's landscape statistics
    env_stats: int = 1000  # held-out tasks of 01's statistics
    expert_check: int = 1000  # training tasks on which 02 scores the expert
    push_demo: int = 50  # held-out tasks among which 03 picks a blocked one
    cem_demo: int = 8  # tune tasks among which 07 picks a blocked one
    retry: int = 20  # 04's MPC failures re-planned from where they ended
    cem_exercise: int = 20  # the first held-out tasks of 07's elites exercise

    def tiny(self) -> "TaskCounts":
        """Fewer tasks for fast mode (CI): enough for the notebooks' checks, not for their numbers."""
        return dataclasses.replace(self, eval=20, test=20, final=20, tune=20, replan_tune=20, round_curve=20,
                                   compute_curve=20, hand_round=16, exercise=20, landscape=10)


@dataclass(frozen=True)
class Presets:
    """The sizes and settings every notebook shares, so all of them use (and cache) the same data, models
    and runs. Each setting that was chosen on tune tasks names the notebook (and section) that chose it."""

    wall: WallConfig
    expert_data: DataConfig
    play_data: DataConfig
    model: WorldModelConfig
    train: TrainConfig
    tasks: TaskCounts
    seeds: tuple  # training seeds of the final evaluation (notebook 08)
    # How plans meet the world (``control.Execution``); the values and where they were chosen: ``presets()``.
    open_loop: Execution
    mpc: Execution
    replan_grid: tuple  # the replanning intervals notebook 04 compares
    # Planners
    gbp: GBPConfig  # the GBP planner of notebooks 04-07 and of the online rounds (notebook 04's textbook defaults)
    gd: GBPConfig  # GBP with plain gradient descent, otherwise as ``gbp``: where GD's tuning starts (08, section 2)
    gbp_lite: GBPConfig  # a cheap GBP (few restarts and iterations) for the compute comparison of 07
    # The widgets' GBP (04, 06): ``gbp`` with 15 iterations (10 when warm-started), so one task re-plans in
    # well under 0.1 s; on tune tasks the lesson is the same as at ``gbp``'s budget (``analysis.budget_lesson``, 04).
    gbp_explorer: GBPConfig
    cem: CEMConfig  # the CEM of notebook 07 (population 300, 30 elites, 10 rounds; 3 on MPC replans); 08 tunes it
    mppi: MPPIConfig  # notebook 07's MPPI, at CEM's population and rounds
    gdcem: GDCEMConfig  # notebook 07's GD+CEM, a quarter of CEM's population (each sample also takes gradient steps)
    compute_budgets: dict  # notebook 07's success-vs-compute curve: {(family, label): planner config}
    # Tuning on tune tasks (``tuning.tune_planner``): {family: (start config, knobs)}, the same number of
    # candidate values for every family; open loop, mean success over the planner-free models of
    # ``tuning.tuning_models``.
    tuning: dict
    # The planners of the final table (notebook 08): {"GD", "Adam", "CEM": config}, each the config that
    # ``tuning`` chose for its family on tune tasks (the committed tables of notebook 08, section 2).
    # Notebooks 04-07 teach with ``gbp`` and ``cem``, the untuned textbook settings.
    final_planners: dict
    # The final table's budget sweep (notebook 08, section 6): {(family, "lite" | "heavy"): (config, Execution)}
    # around the standard budget (``final_planners`` with ``mpc``). GBP-lite: 2 restarts x 50 iterations;
    # GBP-heavy: twice the restarts, replanning every step; CEM's population is scaled to match each one's
    # world-model evaluations per task (the other CEM settings as chosen).
    final_budgets: dict
    # Finetuning
    online: OnlineConfig  # the online (DAgger) finetuning of notebook 05, reused by 06-08
    adversarial: AdversarialConfig  # online + adversarial, expert data: the budget of every online round (06, section 7)
    adversarial_play: AdversarialConfig  # online + adversarial on expert + play data (chosen in the same table)
    adversarial_only: AdversarialConfig  # adversarial finetuning alone, expert data (chosen on tune tasks in 06, section 2)
    adversarial_only_play: AdversarialConfig  # the same on expert + play data (chosen in the same table)
    adversarial_finetune: TrainConfig  # how adversarial finetuning alone trains (10 epochs at lr 1e-3)
    eps_grid: tuple  # the budgets (factor x per-dimension std) notebook 06 sweeps on tune tasks
    sweep_episodes: int  # episodes per dataset in notebook 02's expert-noise sweep
    eval_seed: int = 0
    # Notebook 11: the ensemble sizes and disagreement penalties it tries on tune tasks (``pessimism.tune``)
    pessimism: PessimismPresets = dataclasses.field(default_factory=PessimismPresets)
    # Notebook 10: its worlds (momentum; a door per task; a second wall), and the world these presets live in
    # (``in_world``; None: the point world of notebooks 01-08)
    harder: HarderPresets = dataclasses.field(default_factory=HarderPresets)
    pixels: PixelPresets = dataclasses.field(default_factory=PixelPresets)  # notebook 09 (``vision``)
    world: World | None = None

    def in_world(self, world: World) -> "Presets":
        """These presets in one of notebook 10's worlds: the same sizes, seeds, models, training, finetuning and
        tuned planners, with the expert and play data generated in ``world`` (``worlds.WorldDataConfig``) and
        the tasks drawn there. Where actions are accelerations (momentum) plans cannot start from waypoints (moves
        between positions), so GBP starts from white noise and the sampling planners from standing still, each
        with its tuned spread otherwise."""
        if not isinstance(world, World):
            raise TypeError(f"in_world takes a worlds.World; got {type(world).__name__}")
        if self.world is not None:
            raise ValueError(f"these presets already live in the {self.world.name} world")
        if world.wall != self.wall:
            raise ValueError("the world's wall must be these presets' wall")

        def adapt(value):
            if world.moves_positions:
                return value
            if isinstance(value, GBPConfig) and value.init == "waypoints":
                return dataclasses.replace(value, init="gaussian")
            if isinstance(value, CEMConfig) and value.init == "waypoints":  # MPPI and GD+CEM are CEMConfigs too
                return dataclasses.replace(value, init="zeros")
            if isinstance(value, dict):
                return {k: adapt(v) for k, v in value.items()}
            if isinstance(value, tuple):
                return tuple(adapt(v) for v in value)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):  # e.g. the pessimism widget's CEM
                new = {f.name: adapt(getattr(value, f.name)) for f in dataclasses.fields(value)}
                changed = {k: v for k, v in new.items() if v is not getattr(value, k)}
                return dataclasses.replace(value, **changed) if changed else value
            return value

        changed = {f.name: adapt(getattr(self, f.name)) for f in dataclasses.fields(self)
                   if f.name not in ("tuning", "world", "expert_data", "play_data")}
        return dataclasses.replace(self, **changed, world=world,
                                   expert_data=WorldDataConfig.of(self.expert_data, world),
                                   play_data=WorldDataConfig.of(self.play_data, world))

    def _tasks(self, n: int, seed: int, split: str, device) -> TaskSet:
        return World.of(self.world or self.wall).sample_tasks(n, seed, split, device=device)

    def eval_tasks(self, n: int | None = None, device=None) -> TaskSet:
        """The first ``n`` (default: all ``tasks.eval``) held-out tasks, the same in every notebook."""
        return self._tasks(self.tasks.eval, self.eval_seed, "eval", device)[:n or self.tasks.eval]

    def for_seed(self, seed: int) -> "Presets":
        """The presets of training seed ``seed``: every random choice of the pipeline is drawn anew, i.e.
        every config with a ``seed`` field (the expert and play datasets, the model's initialisation and
        validation split, the online rounds' training tasks, every planner's restarts and samples) has
        ``seed`` added to its own. Tasks to evaluate on stay the same for every seed (``eval_seed`` and
        the splits are not configs). ``for_seed(0)`` equals these presets."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {seed!r}")

        def reseed(value):
            if dataclasses.is_dataclass(value) and not isinstance(value, type) and hasattr(value, "seed"):
                return dataclasses.replace(value, seed=value.seed + seed)
            if isinstance(value, dict):
                return {k: reseed(v) for k, v in value.items()}
            if isinstance(value, tuple) and any(dataclasses.is_dataclass(v) for v in value):  # (config, execution)
                return tuple(reseed(v) for v in value)
            return value

        return dataclasses.replace(self, **{f.name: reseed(getattr(self, f.name)) for f in dataclasses.fields(self)
                                           if f.name != "tuning"})

    def test_tasks(self, n: int | None = None, device=None) -> TaskSet:
        """The first ``n`` (default: all ``tasks.test``) sealed test tasks. Only the final table evaluates
        on them, after every setting is frozen; nothing is tuned, chosen or asserted on them."""
        return self._tasks(self.tasks.test, 0, "test", device)[:n or self.tasks.test]

    def tune_tasks(self, n: int | None = None, device=None) -> TaskSet:
        """The first ``n`` (default: all ``tasks.tune``) tune tasks, on which settings are chosen."""
        return self._tasks(self.tasks.tune, 0, "tune", device)[:n or self.tasks.tune]


def _tuning_grids(gbp: GBPConfig, gd_lr: float, cem: CEMConfig, fast: bool) -> dict:
    """Each planner family's start config and knobs: 4 knobs x 3 values each (2 in fast mode)."""
    from .tuning import FractionOf, Knob, split_knob

    init = Knob("initialisation", ({"init": "gaussian"}, {"init": "waypoints", "init_spread": 2.5},
                                   {"init": "waypoints", "init_spread": 5.0}),
                ("white noise", "waypoints, spread 2.5", "waypoints, spread 5"))
    noise = Knob("noise_std (pre-tanh)", ({"noise_std": 0.0}, {"noise_std": 0.003}, {"noise_std": 0.03}))
    split = split_knob("restarts x iterations", gbp, "restarts", "iterations")
    gd = dataclasses.replace(gbp, optimizer="gd", lr=gd_lr)
    cem_split = split_knob("population x iterations", cem, "population", "iterations", factors=(1 / 3, 1, 10 / 3),
                           extra=lambda n: {"elites": max(1, n // 10)})
    elites = Knob("elites (fraction of the population)",
                  tuple(FractionOf("elites", "population", f) for f in (0.05, 0.1, 0.2)),
                  ("5%", "10%", "20%"))
    grids = {
        "Adam-GBP": (gbp, (Knob("lr (pre-tanh)", ({"lr": 0.01}, {"lr": 0.03}, {"lr": 0.1})), split, init, noise)),
        "GD-GBP": (gd, (Knob("lr (pre-tanh)", ({"lr": 0.1}, {"lr": 0.3}, {"lr": 1.0})), split, init, noise)),
        "CEM": (cem, (cem_split, elites,
                      Knob("init_spread (arena units)", ({"init_spread": 0.0}, {"init_spread": 2.5}, {"init_spread": 5.0})),
                      Knob("init_std (action units)", ({"init_std": 0.05}, {"init_std": 0.1}, {"init_std": 0.2})))),
    }
    if fast:
        grids = {k: (start, tuple(knob.tiny() for knob in knobs)) for k, (start, knobs) in grids.items()}
    return grids


def _final_budgets(planners: dict, horizon: int, fast: bool) -> dict:
    """The lite and heavy budgets of the final table's Adam-GBP and CEM at matched world-model evaluations.

    Per task, a GBP plan from scratch costs 3 x restarts x iterations x horizon evaluations (a forward and
    a backward step, the backward counted twice) and a CEM plan population x iterations x horizon; MPC
    replans warm-started on the shrinking remaining horizon. CEM-lite's population is CEM's scaled by
    GBP-lite's evaluations over CEM's (MPC every 3 steps), CEM-heavy's by GBP-heavy's (MPC every step).
    """
    adam, cem = planners["Adam"], planners["CEM"]
    lite = dataclasses.replace(adam, restarts=2, iterations=50, warm_iterations=10)
    heavy = dataclasses.replace(adam, restarts=2 * adam.restarts)
    if fast:
        lite = lite.tiny()
    every3, every1 = Execution("mpc", replan_every=3), Execution("mpc", replan_every=1)

    def evals(cfg, ex):  # world-model evaluations per task of an MPC run (see the docstring)
        rest = sum(range(horizon - ex.replan_every, 0, -ex.replan_every))  # remaining horizons of the replans
        if isinstance(cfg, GBPConfig):
            return 3 * cfg.restarts * (cfg.iterations * horizon + cfg.warm_iterations * rest)
        return cfg.population * (cfg.iterations * horizon + cfg.warm_iterations * rest)

    def matched(gbp, ex):  # CEM with its population scaled to the evaluations of ``gbp`` under ``ex``
        population = max(10, round(cem.population * evals(gbp, ex) / evals(cem, ex)))
        return dataclasses.replace(cem, population=population, elites=max(2, round(cem.elites * population / cem.population)))

    return {("Adam", "lite"): (lite, every3), ("Adam", "heavy"): (heavy, every1),
            ("CEM", "lite"): (matched(lite, every3), every3), ("CEM", "heavy"): (matched(heavy, every1), every1)}


def presets(fast: bool | None = None) -> Presets:
    """Full-mode sizes produce the published numbers; fast mode (``GBP_FAST=1``) shrinks each config
    with its ``tiny()`` for CI, keeping every other field."""
    fast = fast_mode() if fast is None else fast
    wall = WallConfig()
    expert = DataConfig(kind="expert", n_episodes=1000, wall=wall)
    play = DataConfig(kind="play", n_episodes=1000, wall=wall)
    train = TrainConfig()
    tasks = TaskCounts()
    mpc = Execution("mpc", replan_every=3)  # MPC replans every 3 steps: chosen from replan_grid on tune tasks (04, §7)
    # Online: collecting with open-loop and MPC execution, 30 epochs at lr 3e-3 per round: chosen on tune tasks
    # from the package defaults (open loop, 10 epochs at 1e-3) in notebook 05, section 1.
    online = OnlineConfig(executions=(OPEN_LOOP, mpc), epochs_per_round=30, lr=3e-3)
    gbp = GBPConfig()
    gbp_lite = GBPConfig(restarts=2, iterations=50, warm_iterations=10)
    cem = CEMConfig(warm_iterations=3)  # MPC replans start from the shifted plan: fewer rounds, like GBP
    budgets = {("GBP", "1x25"): GBPConfig(restarts=1, iterations=25, warm_iterations=5),
               ("GBP", "2x50"): gbp_lite,
               ("GBP", "4x100"): GBPConfig(restarts=4, iterations=100, warm_iterations=25),
               ("GBP", "8x150"): gbp,
               ("CEM", "50x5"): CEMConfig(population=50, elites=5, iterations=5),
               ("CEM", "100x10"): CEMConfig(population=100, elites=10, iterations=10),
               ("CEM", "300x10"): cem,
               ("CEM", "1000x10"): CEMConfig(population=1000, elites=100, iterations=10)}
    if fast:
        expert, play, train, tasks, online = expert.tiny(), play.tiny(), train.tiny(), tasks.tiny(), online.tiny()
        gbp, gbp_lite, cem = gbp.tiny(), gbp_lite.tiny(), cem.tiny()
        budgets = {("GBP", "lite"): gbp_lite, ("GBP", "standard"): gbp,
                   ("CEM", "small"): cem.tiny(), ("CEM", "standard"): cem}
    mppi = MPPIConfig(population=cem.population, iterations=cem.iterations)
    gd_lr = 0.3  # GD's step size in pre-tanh units (Adam's 0.1 moves u about as far; GD needs a larger one)
    tuning = _tuning_grids(gbp, gd_lr, cem, fast)
    final_planners = {"GD": dataclasses.replace(gbp, optimizer="gd", lr=0.3, init="gaussian", noise_std=0.03),
                      "Adam": dataclasses.replace(gbp, lr=0.03),
                      "CEM": dataclasses.replace(cem, elites=max(1, round(0.05 * cem.population)))}
    final_budgets = _final_budgets(final_planners, wall.max_steps, fast)  # horizon: the episode's step budget
    gdcem = GDCEMConfig(population=max(10, cem.population // 4), elites=max(1, cem.elites // 4),
                        iterations=cem.iterations, grad_steps=3)
    gbp_explorer = dataclasses.replace(gbp, iterations=min(15, gbp.iterations), warm_iterations=min(10, gbp.warm_iterations))
    pessimism = PessimismPresets(widget_gbp=dataclasses.replace(gbp_explorer, iterations=min(10, gbp_explorer.iterations)))
    return Presets(
        wall=wall, expert_data=expert, play_data=play, model=WorldModelConfig(), train=train, tasks=tasks,
        seeds=(0,) if fast else (0, 1, 2),
        open_loop=OPEN_LOOP,
        mpc=mpc,
        replan_grid=(3, 5, 10),
        gbp=gbp, gd=dataclasses.replace(gbp, optimizer="gd", lr=gd_lr), gbp_lite=gbp_lite,
        gbp_explorer=gbp_explorer,
        cem=cem, mppi=mppi, gdcem=gdcem, compute_budgets=budgets, tuning=tuning,
        final_planners=final_planners, final_budgets=final_budgets,
        online=online,
        # Each chosen per data regime on tune tasks in notebook 06: adversarial finetuning alone in section 2
        # (expert 0.02, expert + play 0.1), the online + adversarial loop in section 7 (0.02 in both regimes).
        adversarial=AdversarialConfig(state_factor=0.02, action_factor=0.02),
        adversarial_play=AdversarialConfig(state_factor=0.02, action_factor=0.02),
        adversarial_only=AdversarialConfig(state_factor=0.02, action_factor=0.02),
        adversarial_only_play=AdversarialConfig(state_factor=0.1, action_factor=0.1),
        adversarial_finetune=dataclasses.replace(train, epochs=10, lr=1e-3),
        # fast mode keeps 0.02, the online + adversarial budget: 06's table then trains the model 06-08 reuse
        eps_grid=(0.0, 0.02, 0.2) if fast else (0.0, 0.02, 0.05, 0.1, 0.2),
        sweep_episodes=100 if fast else 400,
        pessimism=pessimism.tiny() if fast else pessimism,
        pixels=PixelPresets().tiny() if fast else PixelPresets(),
    )


__all__ = ["fast_mode", "setup", "presets", "Presets", "TaskCounts", "WallConfig", "WallEnv", "TaskSet",
           "sample_tasks", "Execution", "OPEN_LOOP", "DataConfig", "Dataset", "get_dataset", "TrainConfig",
           "WorldModel", "WorldModelConfig", "get_world_model", "training_split", "GBPConfig", "CEMConfig",
           "MPPIConfig", "GDCEMConfig", "OnlineConfig", "AdversarialConfig"]
