"""Sampling-based planners: CEM, MPPI and a CEM/gradient hybrid, plus the true dynamics as a "model".

Where GBP (``planners.GBPPlanner``) follows the gradient of the planning cost, a sampling planner
only *evaluates* it: each round it draws a population of action sequences around a per-task mean,
rolls them all through the world model, scores them with ``planners.planning_cost`` and moves the
mean towards the good ones.

* CEM (cross-entropy method): refit a diagonal Gaussian to the ``elites`` cheapest sequences.
* MPPI (model-predictive path integral): the new mean is the softmax(-cost / temperature)-weighted
  average of the sequences; the sampling std stays fixed.
* GD+CEM: CEM whose samples first take a few gradient steps through the model before ranking.

Because they never differentiate the model, CEM and MPPI also plan on the real environment:
``env.TrueDynamicsModel`` wraps ``WallEnv.step`` so that it can stand in for a world model, which
gives the ceiling a perfect model would reach. All planners are callables
``planner(starts, goals, horizon, warm_start=None) -> planners.Plan``, like ``GBPPlanner``, so
``control.execute`` runs them unchanged; ``planners.make_planner`` builds any of them from its config.

Shape letters: B tasks, N population, H horizon, S state dim, A action dim, I iterations.

Every round r = 0..I-1 evaluates N sequences per task: the current mean m_r itself and N-1 samples
around it (the mean is always a candidate, and the best sequence ever evaluated is returned, so the
returned cost never gets worse with more rounds); a final round scores the last mean m_I alone.

Trap: a Gaussian around the straight line almost never finds the door. On the wall face the agent
does not slide, so a detour needs many coordinated steps, and white noise averages them out: with
the noise alone CEM stalls at the wall face nearest the goal. So round 0 (with ``init="waypoints"``)
centres each sample on its own two-leg plan through a random waypoint, like GBP's restarts; the
elites then pick the detour through the door. Open-loop CEM on the true dynamics, 200 tuning tasks:
noise alone 83% (init_std 0.5; 63% at 0.1), waypoints + init_std 0.1 98.5%. The std must stay small
(0.5 on top of the waypoints: 89.5%) or the noise washes the detours out.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .env import ACTION_DIM
from .planners import (_COSTS, Plan, check_action_bound, check_plan_inputs, check_waypoint_init, evaluations_per_step,
                       model_cost, repeat_rows, two_leg_actions)
from .world_model import rollout

_INITS = ("waypoints", "zeros")
_OPTIMIZERS = ("adam", "gd")


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------
SCORE_ROWS = 2048
"""Rollouts per chunk when a sampling planner scores its candidates on a CPU (``_SamplingPlanner._score``)."""


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _check(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def _check_positive(name: str, value, allow_zero: bool = False) -> None:
    ok = _is_real(value) and (value >= 0 if allow_zero else value > 0)
    _check(ok, name, value, "a finite number >= 0" if allow_zero else "a finite number > 0")


@dataclass(frozen=True)
class SamplingConfig:
    """Fields shared by every sampling planner (see ``CEMConfig``, ``MPPIConfig``, ``GDCEMConfig``)."""

    population: int = 300  # N sequences evaluated per task and round, the current mean included
    iterations: int = 10  # I rounds of sample -> score -> update for a plan from scratch
    warm_iterations: int | None = None  # rounds when warm-started (MPC replans); None: = iterations
    cost: str = "final"  # as in GBPConfig: "final" distance of the last state, or "all" (weighted)
    discount: float = 0.8  # "all" cost weights proportional to discount ** (H - t)
    seed: int = 0  # the noise generator is re-seeded on every call, so a call is deterministic
    init: str = "waypoints"  # "waypoints": the initial mean is the straight line to the goal and round 0
    # spreads its samples over detours through random waypoints (see init_spread); "zeros": stand still
    init_spread: float = 5.0  # those waypoints are uniform in a square of this half-width around the
    # plan's midpoint (as in GBPConfig); 0 turns the spread off. Also used on warm-started rounds 0.

    def __post_init__(self):
        _check(_is_int(self.population) and self.population >= 2, "population", self.population,
               "an integer >= 2 (the mean plus at least one sample)")
        _check(_is_int(self.iterations) and self.iterations >= 0, "iterations", self.iterations, "an integer >= 0")
        _check(self.warm_iterations is None or (_is_int(self.warm_iterations) and self.warm_iterations >= 0),
               "warm_iterations", self.warm_iterations, "None or an integer >= 0")
        _check(self.cost in _COSTS, "cost", self.cost, f"one of {_COSTS}")
        _check(_is_real(self.discount) and 0 < self.discount <= 1, "discount", self.discount, "in (0, 1]")
        _check(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "an integer >= 0")
        _check(self.init in _INITS, "init", self.init, f"one of {_INITS}")
        _check_positive("init_spread", self.init_spread, allow_zero=True)

    def tiny(self):
        """A fifth of the population (elites, if any, scaled alike) and at most 4 rounds, for fast mode
        (CI); every other field is kept."""
        population = max(2, self.population // 5)
        changes = {"population": population, "iterations": min(self.iterations, 4)}
        if hasattr(self, "elites"):
            changes["elites"] = max(1, min(population, self.elites // 5))
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CEMConfig(SamplingConfig):
    """Cross-entropy method. Stds are in action units (arena units per step; the action bound is
    ``wall.max_step`` = 0.5), unlike GBPConfig's pre-tanh units: CEM samples the actions themselves."""

    elites: int = 30  # the best 10% of the population refit the Gaussian
    smoothing: float = 0.1  # alpha: new = alpha * old + (1 - alpha) * elite statistic (mean and std)
    init_std: float = 0.1  # action units: std of the first Gaussian; small, as round 0's waypoint spread explores
    min_std: float = 0.02  # action units: floor on the std, so the search never collapses to a point

    def __post_init__(self):
        super().__post_init__()
        _check(_is_int(self.elites) and 1 <= self.elites <= self.population, "elites", self.elites,
               f"an integer in [1, population] = [1, {self.population}]")
        _check(_is_real(self.smoothing) and 0 <= self.smoothing < 1, "smoothing", self.smoothing,
               "in [0, 1) (1 would never move the mean)")
        _check_positive("init_std", self.init_std)
        _check_positive("min_std", self.min_std, allow_zero=True)


@dataclass(frozen=True)
class MPPIConfig(SamplingConfig):
    """Model-predictive path integral: a softmax-weighted mean under fixed Gaussian noise."""

    temperature: float = 0.1  # lambda, in cost units (arena units for "final"): weight exp(-(c - c_min) / lambda)
    noise_std: float = 0.25  # action units: the fixed sampling std (half the bound wall.max_step = 0.5)

    def __post_init__(self):
        super().__post_init__()
        _check_positive("temperature", self.temperature)
        _check_positive("noise_std", self.noise_std)


@dataclass(frozen=True)
class GDCEMConfig(CEMConfig):
    """CEM whose samples take ``grad_steps`` gradient steps through the world model before ranking."""

    grad_steps: int = 3  # 0 is plain CEM
    lr: float = 0.05  # step size in action units (Adam moves each action by about lr per step)
    optimizer: str = "adam"  # "adam" or "gd"; a fresh optimiser state every round

    def __post_init__(self):
        super().__post_init__()
        _check(_is_int(self.grad_steps) and self.grad_steps >= 0, "grad_steps", self.grad_steps, "an integer >= 0")
        _check_positive("lr", self.lr)
        _check(self.optimizer in _OPTIMIZERS, "optimizer", self.optimizer, f"one of {_OPTIMIZERS}")


# --------------------------------------------------------------------------------------------
# The shared sampling loop
# --------------------------------------------------------------------------------------------
class _SamplingPlanner:
    """The loop shared by CEM, MPPI and GD+CEM; subclasses define how the Gaussian is updated.

    ``Planner(world_model, config, action_bound)``; config None means ``config_class()``;
    action_bound is the environment's ``wall.max_step``.
    Subclasses set ``name``, ``config_class`` and ``std_field`` (the config field holding the first
    round's std) and implement ``_update``; optionally ``_refine`` (change the candidates before
    scoring) together with ``_model_calls``.
    """

    name = "sampling"
    config_class = SamplingConfig
    std_field = ""

    def __init__(self, world_model: nn.Module, config: SamplingConfig | None, action_bound: float,
                 positions: bool = False):
        check_action_bound(action_bound)
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}; "
                            f"got {type(config).__name__}")
        self.world_model = world_model
        self.config = config
        self.action_bound = action_bound
        self.positions = positions  # states start with the (x, y) the actions move (``check_waypoint_init``)

    # -- hooks ---------------------------------------------------------------------------
    def _update(self, mean, std, candidates, cost):
        """(B, H, A) mean and std, (B, N, H, A) candidates, (B, N) cost (+inf where non-finite)
        -> the next mean and std."""
        raise NotImplementedError

    def _refine(self, candidates, starts, goals):
        """Hook run on every round's (B, N, H, A) candidates before they are scored."""
        return candidates

    def _model_calls(self, iterations: int, horizon: int) -> tuple[int, int]:
        """World-model step evaluations per task: I rounds of N rollouts, the final mean, and the
        rollout of the returned plan: ((I * N + 1) * H + H, 0)."""
        return (iterations * self.config.population + 1) * horizon + horizon, 0

    # -- the loop ------------------------------------------------------------------------
    def _score(self, candidates: torch.Tensor, starts: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """(B, n, H, A) -> (B, n) model cost, +inf where it is not finite (so it ranks last).

        On a CPU the tasks are scored a few at a time (about ``SCORE_ROWS`` member rollouts per chunk): every
        rollout is independent, so the costs are the same up to float rounding (bit for bit where the BLAS sums
        each row in the same order whatever the batch size -- not on every CPU), and a chunk's activations stay
        in the CPU's caches (one batch of 300 tasks x 655 samples was 4x slower)."""
        B, n, H, A = candidates.shape
        rows = n * evaluations_per_step(self.world_model)  # an ensemble evaluates each rollout once per member
        per = max(1, SCORE_ROWS // rows) if candidates.device.type == "cpu" else B  # whole tasks per chunk
        costs = []
        with torch.no_grad():
            for i in range(0, B, per):
                chunk = candidates[i:i + per]
                b = chunk.shape[0]
                _, c = model_cost(self.world_model, repeat_rows(starts[i:i + per], n), chunk.reshape(b * n, H, A),
                                  repeat_rows(goals[i:i + per], n), self.config.cost, self.config.discount)
                costs.append(c.reshape(b, n))
        cost = torch.cat(costs)
        # Trap: torch.min propagates NaN, so one NaN candidate would make the task's best cost NaN
        # (and NaN < best is False forever after); +inf simply ranks last.
        return torch.where(torch.isfinite(cost), cost, torch.full_like(cost, math.inf))

    def _initial_mean(self, starts, goals, horizon):
        """(B, H, A): the straight line to the goal (clipped), or zeros."""
        B = starts.shape[0]
        if self.config.init == "zeros":
            return starts.new_zeros(B, horizon, ACTION_DIM)
        starts, goals = starts[:, :ACTION_DIM], goals[:, :ACTION_DIM]  # the positions the actions move
        if horizon == 1:  # two_leg_actions needs two legs; with one step the line is g - s
            line = (goals - starts)[:, None]
        else:  # the midpoint as waypoint makes the two legs one straight line
            line = two_leg_actions((starts + goals) / 2, starts, goals, horizon)
        return line.clamp(-self.action_bound, self.action_bound)

    def _waypoint_offsets(self, n, horizon, A, gen, like):
        """(1, n, H, A): how each of n two-leg plans through random waypoints differs from the plan
        through the midpoint. two_leg_actions is affine in the waypoint, so the difference depends
        only on the waypoint's offset d: d / H1 on the first leg, -d / H2 on the second."""
        spread = self.config.init_spread
        d = spread * (2 * torch.rand(n, A, generator=gen, device=like.device, dtype=like.dtype) - 1)
        zeros = torch.zeros_like(d)
        return (two_leg_actions(d, zeros, zeros, horizon))[None]

    def __call__(self, starts: torch.Tensor, goals: torch.Tensor, horizon: int,
                 warm_start: torch.Tensor | None = None, trace: bool = False) -> Plan:
        """Plan ``horizon`` actions for every task of the batch at once.

        Args:
            starts, goals: (B, S).
            horizon: H, number of actions to plan.
            warm_start: optional (B, H, A) initial mean (MPC's shifted tail), clipped to the bound;
                ``warm_iterations`` rounds are then run.
            trace: also return the mean of every round, (I+1, B, H, A).
        Returns:
            ``planners.Plan`` with the best sequence ever evaluated per task. cost_history[r] is the
            best cost after round r; wm_forward / wm_backward per task as in ``_model_calls``.
        """
        cfg, bound = self.config, self.action_bound
        check_plan_inputs(starts, goals, horizon, warm_start)
        check_waypoint_init(cfg.init, starts, self.positions)
        B, S = starts.shape
        A, N = ACTION_DIM, cfg.population
        device = starts.device
        warm = warm_start is not None and cfg.warm_iterations is not None
        iterations = cfg.warm_iterations if warm else cfg.iterations
        t0 = time.perf_counter()

        mean = (self._initial_mean(starts, goals, horizon) if warm_start is None
                else warm_start.to(device=device, dtype=starts.dtype).clamp(-bound, bound))
        std = torch.full_like(mean, getattr(cfg, self.std_field))
        # The noise is shared by all tasks (shape 1 x (N-1) x ...), so a task's plan does not depend
        # on which other tasks are planned in the same batch.
        gen = torch.Generator(device=device).manual_seed(cfg.seed)
        best_cost = starts.new_full((B,), math.inf)
        best_actions = mean.clone()
        diverged = torch.zeros(B, dtype=torch.bool, device=device)
        history, means = [], []
        rows = torch.arange(B, device=device)
        for r in range(iterations + 1):
            last = r == iterations
            # 1) candidates: the mean itself, then N-1 clipped samples around it (the last round
            #    only scores the final mean)
            candidates = mean[:, None]
            if not last:
                noise = torch.randn(1, N - 1, horizon, A, generator=gen, device=device, dtype=mean.dtype)
                centre = mean[:, None]
                if r == 0 and cfg.init == "waypoints" and cfg.init_spread > 0 and horizon >= 2:
                    centre = centre + self._waypoint_offsets(N - 1, horizon, A, gen, mean)
                samples = (centre + std[:, None] * noise).clamp(-bound, bound)
                candidates = self._refine(torch.cat([candidates, samples], 1), starts, goals)
            # 2) score through the model; 3) keep the best sequence ever seen
            cost = self._score(candidates, starts, goals)  # (B, n)
            diverged |= torch.isinf(cost).any(1)  # a finite distance is never inf: inf means non-finite
            c_min, k_min = cost.min(1)
            improved = c_min < best_cost
            best_cost = torch.where(improved, c_min, best_cost)
            best_actions[improved] = candidates[rows, k_min][improved]
            history.append(best_cost.clone())
            if trace:
                means.append(mean.clone())
            if not last:  # 4) move the Gaussian
                mean, std = self._update(mean, std, candidates, cost)

        with torch.no_grad():
            pred = rollout(self.world_model, starts, best_actions)
        diverged |= ~torch.isfinite(best_cost)
        if diverged.any():
            warnings.warn(f"{self.name}: non-finite model cost on {int(diverged.sum())} of {B} tasks "
                          "(those samples were ranked last); check the world model", stacklevel=2)
        fwd, bwd = (n * evaluations_per_step(self.world_model) for n in self._model_calls(iterations, horizon))
        return Plan(actions=best_actions, predicted_states=pred, cost=best_cost,
                    cost_history=torch.stack(history), wm_forward=fwd, wm_backward=bwd,
                    seconds=time.perf_counter() - t0, diverged=diverged,
                    trace=torch.stack(means) if trace else None)


# --------------------------------------------------------------------------------------------
# CEM, MPPI, GD+CEM
# --------------------------------------------------------------------------------------------
class CEMPlanner(_SamplingPlanner):
    """Cross-entropy method: ``planner(starts, goals, horizon, warm_start=None) -> Plan``.

    Each round refits a diagonal Gaussian over the (H, A) actions to the ``elites`` cheapest
    candidates per task, smoothed towards the previous one, with the std floored at ``min_std``.
    """

    name, config_class, std_field = "CEM", CEMConfig, "init_std"

    def _update(self, mean, std, candidates, cost):
        cfg = self.config
        idx = cost.topk(cfg.elites, dim=1, largest=False).indices  # (B, E)
        elites = candidates.gather(1, idx[:, :, None, None].expand(-1, -1, *candidates.shape[2:]))
        a = cfg.smoothing
        new_mean = a * mean + (1 - a) * elites.mean(1)
        new_std = a * std + (1 - a) * elites.std(1, unbiased=False)
        return new_mean, new_std.clamp(min=cfg.min_std)


class MPPIPlanner(_SamplingPlanner):
    """MPPI: the new mean is sum_k w_k a_k with w = softmax(-(cost - min cost) / temperature) per
    task; the sampling std stays at ``noise_std``."""

    name, config_class, std_field = "MPPI", MPPIConfig, "noise_std"

    def _update(self, mean, std, candidates, cost):
        c_min = cost.min(1, keepdim=True).values
        any_finite = torch.isfinite(c_min)
        # Trap: with no finite cost, inf - inf = NaN; keep the old mean for such a task instead.
        shifted = (cost - c_min.where(any_finite, torch.zeros_like(c_min))) / self.config.temperature
        w = torch.softmax(-shifted.where(any_finite, torch.zeros_like(shifted)), dim=1)  # (B, N)
        new_mean = (w[:, :, None, None] * candidates).sum(1)
        return torch.where(any_finite[:, :, None], new_mean, mean), std


class GDCEMPlanner(CEMPlanner):
    """CEM + gradient descent: every round's candidates take ``grad_steps`` optimiser steps on the
    planning cost through the world model (w.r.t. the actions only, clamped to the bound after each
    step) before they are ranked. The mean candidate is refined too; only the final round scores the
    last mean as it is. Needs a model that is differentiable in its actions."""

    name, config_class = "GD+CEM", GDCEMConfig

    def _model_calls(self, iterations, horizon):
        """Each round adds G forward and G backward passes of N rollouts to plain CEM's count:
        ((I * N * (G + 1) + 1) * H + H, I * N * G * H)."""
        N, G = self.config.population, self.config.grad_steps
        return (iterations * N * (G + 1) + 1) * horizon + horizon, iterations * N * G * horizon

    def _refine(self, candidates, starts, goals):
        cfg, bound = self.config, self.action_bound
        B, N, H, A = candidates.shape
        x = candidates.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=cfg.lr) if cfg.optimizer == "adam" else torch.optim.SGD([x], lr=cfg.lr)
        starts_n, goals_n = repeat_rows(starts, N), repeat_rows(goals, N)
        for _ in range(cfg.grad_steps):
            with torch.enable_grad():
                _, cost = model_cost(self.world_model, starts_n, x.reshape(B * N, H, A), goals_n, cfg.cost,
                                     cfg.discount, differentiable=True)
                if not cost.requires_grad:
                    raise ValueError(f"{self.name} needs a world model that is differentiable in its actions; "
                                     "use CEMPlanner or MPPIPlanner for this model")
                # autograd.grad w.r.t. x only: the model's parameters never receive a .grad
                grad, = torch.autograd.grad(cost.where(torch.isfinite(cost), torch.zeros_like(cost)).sum(), x)
            x.grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            opt.step()
            with torch.no_grad():
                x.clamp_(-bound, bound)
        return x.detach()


PLANNERS = {"cem": CEMPlanner, "mppi": MPPIPlanner, "gdcem": GDCEMPlanner}
"""Every sampling planner by kind; each one's ``config_class`` says which config it takes."""

