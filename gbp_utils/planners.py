"""Plan by gradient descent on an action sequence through a differentiable world model (GBP).

The planner never touches the real environment: it only sees the world model, the start states,
the goals and the action bound. Executing plans (open-loop or MPC) lives in ``control``.
``make_planner(world_model, config, action_bound)`` is the one way to build any planner of the
series from its config (GBP here, CEM / MPPI / GD+CEM in ``sampling``).
Shape letters: B tasks, K restarts, H horizon, S state dim, A action dim.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass

import torch

from .env import ACTION_DIM
from .world_model import rollout, rollout_for_planning

_OPTIMIZERS = ("adam", "gd")
_COSTS = ("final", "all")
_INITS = ("waypoints", "gaussian")


@dataclass(frozen=True)
class GBPConfig:
    """Hyper-parameters of gradient-based planning.

    Units: GBP optimises pre-tanh actions u, with a = action_bound * tanh(u); ``lr``, ``init_std`` and
    ``noise_std`` are in those pre-tanh units (dimensionless; near u = 0 one unit of u moves the action
    by about action_bound). ``init_spread`` is in arena units.
    """

    iterations: int = 150  # optimiser steps for a plan from scratch
    warm_iterations: int = 40  # optimiser steps when warm-started (MPC replans)
    lr: float = 0.1  # step size, pre-tanh units
    optimizer: str = "adam"  # "adam" or "gd" (plain gradient descent)
    cost: str = "final"  # "final": distance of the last predicted state to the goal; "all": weighted sum
    discount: float = 0.8  # "all" cost weights: w_t proportional to discount ** (H - t), the end counts most
    restarts: int = 8  # independent initialisations per task; the best by model cost is kept
    init: str = "waypoints"  # "waypoints": random two-leg plans via a random waypoint; "gaussian": white noise
    init_spread: float = 5.0  # arena units: waypoints uniform in a square of this half-width around the midpoint
    init_std: float = 0.3  # pre-tanh units: std of the Gaussian noise on the initial actions
    noise_std: float = 0.0  # pre-tanh units: Gaussian noise added to the actions after each step (paper: 0.003)
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}; got {self.optimizer!r}")
        if self.init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}; got {self.init!r}")
        if self.cost not in _COSTS:
            raise ValueError(f"cost must be one of {_COSTS}; got {self.cost!r}")
        if self.iterations < 0 or self.warm_iterations < 0 or self.restarts < 1:
            raise ValueError("iterations and warm_iterations must be >= 0 and restarts >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number; got {self.lr}")
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1]; got {self.discount}")

    def tiny(self) -> "GBPConfig":
        """For fast mode (CI): half the restarts, half the iterations and a quarter of the warm-started
        iterations (MPC replans dominate fast-mode time); every other field is kept."""
        return dataclasses.replace(self, restarts=max(1, self.restarts // 2), iterations=max(1, self.iterations // 2),
                                   warm_iterations=max(1, self.warm_iterations // 4))


@dataclass
class Plan:
    """The result of planning a batch of tasks.

    actions: (B, H, A) best plan per task; predicted_states: (B, H+1, S) the model's rollout of it;
    cost: (B,) its model cost; cost_history: (I+1, B) best model cost over restarts at each iteration;
    wm_forward / wm_backward: world-model step evaluations per task (a backward pass through one step
    counts once in wm_backward); seconds: wall time; diverged: (B,) True where the cost or the actions
    became non-finite (the returned plan is then the best finite iterate, never NaN);
    trace: (I+1, B, H, A) actions of the finally chosen restart at every iteration, if requested.
    """

    actions: torch.Tensor
    predicted_states: torch.Tensor
    cost: torch.Tensor
    cost_history: torch.Tensor
    wm_forward: int
    wm_backward: int
    seconds: float
    diverged: torch.Tensor
    trace: torch.Tensor | None = None


def planning_cost(predicted_states: torch.Tensor, goals: torch.Tensor, cost: str = "final",
                  discount: float = 0.8) -> torch.Tensor:
    """Cost of predicted rollouts: (N, H+1, S), goals (N, S) -> (N,).

    "final": ||s_H - g||.  "all": sum_t w_t ||s_t - g|| over t = 1..H with w_t ∝ discount^(H-t).
    The distance is smoothed by 1e-8 inside the square root so its gradient exists at the goal.
    """
    dist = ((predicted_states[:, 1:] - goals[:, None]).pow(2).sum(-1) + 1e-8).sqrt()  # (N, H)
    if cost == "final":
        return dist[:, -1]
    H = dist.shape[1]
    w = discount ** torch.arange(H - 1, -1, -1, dtype=dist.dtype, device=dist.device)
    return (dist * (w / w.sum())).sum(-1)


def model_cost(world_model, starts: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor, cost: str = "final",
               discount: float = 0.8, differentiable: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll ``world_model`` from starts (N, S) through actions (N, H, A) and score the rollouts against
    goals (N, S): (predicted states (N, H+1, S), cost (N,)). Every planner scores plans through this.

    A model with a ``penalised_rollout(starts, actions) -> (states, penalty)`` method (an
    ``ensemble.EnsembleWorldModel``) rolls itself and its penalty is added to ``planning_cost``; any
    other model is rolled by ``rollout_for_planning`` (``differentiable``: the plan's gradient is
    wanted) or ``rollout``.
    """
    penalised = getattr(world_model, "penalised_rollout", None)
    if penalised is not None:
        pred, penalty = penalised(starts, actions)
        return pred, planning_cost(pred, goals, cost, discount) + penalty
    pred = (rollout_for_planning if differentiable else rollout)(world_model, starts, actions)
    return pred, planning_cost(pred, goals, cost, discount)


def evaluations_per_step(world_model) -> int:
    """World-model evaluations one model step costs: an ensemble's ``evaluations_per_step`` (one per
    member), else 1. Planners multiply their step counts by it, so compute is charged honestly."""
    return int(getattr(world_model, "evaluations_per_step", 1))


def repeat_rows(x: torch.Tensor, K: int) -> torch.Tensor:
    """(B, S) -> (B*K, S), each row repeated K times in a row (restart-major within a task); used
    for starts and goals alike."""
    return x[:, None].expand(x.shape[0], K, x.shape[1]).reshape(-1, x.shape[1])


def two_leg_actions(waypoints: torch.Tensor, starts: torch.Tensor, goals: torch.Tensor, horizon: int
                    ) -> torch.Tensor:
    """Go straight to waypoint w in the first H1 = H // 2 steps, then straight to the goal:
    a_t = (w - s) / H1 for t < H1 and (g - w) / H2 after. Affine in w; (N, S) x3 -> (N, H, A).
    Not clipped: callers clip to the action bound (far waypoints are then not fully reached).
    """
    h1 = horizon // 2
    h2 = horizon - h1
    first = ((waypoints - starts) / h1)[:, None].expand(-1, h1, -1)
    second = ((goals - waypoints) / h2)[:, None].expand(-1, h2, -1)
    return torch.cat([first, second], 1)


def check_plan_inputs(starts: torch.Tensor, goals: torch.Tensor, horizon: int,
                      warm_start: torch.Tensor | None) -> None:
    """The argument checks every planner's ``__call__`` shares, with messages that say what to pass."""
    if starts.ndim != 2 or goals.shape != starts.shape:
        raise ValueError(f"starts and goals must both be (B, S); got {tuple(starts.shape)}, {tuple(goals.shape)}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1; got {horizon}")
    B = starts.shape[0]
    if warm_start is not None and tuple(warm_start.shape) != (B, horizon, ACTION_DIM):
        raise ValueError(f"warm_start must be (B, H, A) = {(B, horizon, ACTION_DIM)}; got {tuple(warm_start.shape)}")


def check_waypoint_init(init: str, starts: torch.Tensor, positions: bool = False) -> None:
    """Waypoint initialisations draw plans in the arena (actions are moves between positions), so the
    planner's states must be positions — or, with ``positions``, start with them (the layout worlds of notebook
    10: x, y, then the doors). A planner of latent states (notebook 09) or of accelerations (the momentum
    world) needs another init."""
    if init == "waypoints" and starts.shape[-1] != ACTION_DIM and not (positions and starts.shape[-1] > ACTION_DIM):
        raise ValueError(f"init='waypoints' plans through positions, but the states have {starts.shape[-1]} dimensions "
                         f"(a latent state?); use init='gaussian' (GBP) or init='zeros' (CEM, MPPI), or positions=True "
                         f"if the states start with the (x, y) that the actions move")


def check_action_bound(action_bound) -> None:
    """Every planner's check of its action bound (pass the environment's ``wall.max_step``)."""
    if isinstance(action_bound, bool) or not isinstance(action_bound, (int, float)) or not (
            math.isfinite(action_bound) and action_bound > 0):
        raise ValueError(f"action_bound must be a finite number > 0 (the environment's wall.max_step); "
                         f"got {action_bound!r}")


def is_differentiable(world_model) -> bool:
    """True if the model's prediction carries a gradient to its actions. A model may say so itself
    with a ``differentiable`` attribute (``env.TrueDynamicsModel`` says False); otherwise one
    probe step on a zero state and action tells."""
    flag = getattr(world_model, "differentiable", None)
    if flag is not None:
        return bool(flag)
    try:
        device = next(world_model.parameters()).device
    except (AttributeError, StopIteration):
        device = torch.device("cpu")
    probe = torch.zeros(1, 2, device=device, requires_grad=True)
    with torch.enable_grad():
        try:
            out = world_model(torch.zeros(1, 2, device=device), probe)
        except Exception:  # a model that cannot take the probe is judged when it plans
            return True
    return isinstance(out, torch.Tensor) and out.requires_grad


def _to_pre_tanh(actions: torch.Tensor, bound: float) -> torch.Tensor:
    # Trap: tanh never reaches +-1, so warm starts at the bound are pulled in by a hair (exact elsewhere).
    return torch.atanh((actions / bound).clamp(-0.999, 0.999))


class _Step:
    """The update of ``torch.optim.Adam`` (defaults: betas 0.9/0.999, eps 1e-8, no weight decay) or of
    plain ``torch.optim.SGD`` for one tensor, operation for operation, so the iterates are bit-identical
    (a test checks this against torch.optim); it skips the optimiser's per-call bookkeeping, which costs
    as much as a model step when one task is planned."""

    def __init__(self, param: torch.Tensor, optimizer: str, lr: float):
        self.param, self.adam, self.lr, self.t = param, optimizer == "adam", lr, 0
        if self.adam:
            self.m = torch.zeros_like(param, memory_format=torch.preserve_format)
            self.v = torch.zeros_like(param, memory_format=torch.preserve_format)

    @torch.no_grad()
    def __call__(self, grad: torch.Tensor) -> None:
        if not self.adam:
            self.param.add_(grad, alpha=-self.lr)
            return
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        self.m.lerp_(grad, 1 - beta1)
        self.v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = float(self.t)
        denom = (self.v.sqrt() / (1 - beta2 ** step) ** 0.5).add_(eps)
        self.param.addcdiv_(self.m, denom, value=-(self.lr / (1 - beta1 ** step)))


class GBPPlanner:
    """Gradient-based planner: ``planner(starts, goals, horizon, warm_start=None) -> Plan``.

    Actions are reparameterised as a = bound * tanh(u), so every iterate respects |a| <= bound;
    the optimiser works on u. Gradients are taken with respect to u only: the world model's
    parameters are untouched and callers never need to toggle ``requires_grad``.
    """

    def __init__(self, world_model: torch.nn.Module, config: GBPConfig | None, action_bound: float,
                 positions: bool = False):
        """``config`` None means ``GBPConfig()``; ``action_bound`` is the environment's ``wall.max_step``."""
        check_action_bound(action_bound)
        if not is_differentiable(world_model):
            raise TypeError(f"GBP needs a world model that is differentiable in its actions; "
                            f"{type(world_model).__name__} is not (the true dynamics stop at the wall without "
                            "a gradient). Plan with a sampling planner instead: sampling.CEMPlanner or "
                            "sampling.MPPIPlanner (make_planner with a CEMConfig or MPPIConfig).")
        self.world_model = world_model
        self.config = config or GBPConfig()
        self.action_bound = action_bound
        self.positions = positions  # states start with the (x, y) the actions move (``check_waypoint_init``)

    def __call__(self, starts: torch.Tensor, goals: torch.Tensor, horizon: int,
                 warm_start: torch.Tensor | None = None, trace: bool = False) -> Plan:
        """Plan ``horizon`` actions for every task of the batch at once.

        Args:
            starts, goals: (B, S).
            horizon: H, number of actions to plan.
            warm_start: optional (B, H, A) actions; restart 0 starts from them (MPC's shifted tail),
                the other restarts start at random, and ``warm_iterations`` steps are taken.
            trace: also return the actions of the chosen restart at every iteration.
        """
        cfg, bound = self.config, self.action_bound
        check_plan_inputs(starts, goals, horizon, warm_start)
        check_waypoint_init(cfg.init, starts, self.positions)
        B = starts.shape[0]
        A, K = ACTION_DIM, cfg.restarts
        device = starts.device
        iterations = cfg.iterations if warm_start is None else cfg.warm_iterations
        t0 = time.perf_counter()

        # 1) initialise K restarts per task in pre-tanh space
        # The random draws are shared by all tasks (shape 1 x K x ...), so a task's plan does not
        # depend on which other tasks are planned in the same batch.
        gen = torch.Generator(device=device).manual_seed(cfg.seed)
        u = cfg.init_std * torch.randn(1, K, horizon, A, generator=gen, device=device).expand(B, K, horizon, A)
        if cfg.init == "waypoints" and horizon >= 2:
            # Trap: white-noise restarts all start near "stand still" and fall into the same basin.
            # Two-leg plans through random waypoints spread the restarts over different routes;
            # restart 0 is the straight line (its waypoint is the midpoint).
            p_starts, p_goals = starts[:, :A], goals[:, :A]  # the positions (all of a point-world state)
            mid = (p_starts + p_goals) / 2
            offsets = cfg.init_spread * (2 * torch.rand(1, K, A, generator=gen, device=device) - 1)
            offsets[:, 0] = 0
            waypoints = (mid[:, None] + offsets).reshape(B * K, A)
            legs = two_leg_actions(waypoints, repeat_rows(p_starts, K), repeat_rows(p_goals, K), horizon)
            u = u + _to_pre_tanh(legs.clamp(-bound, bound), bound).reshape(B, K, horizon, A)
        u = u.clone()
        if warm_start is not None:
            u[:, 0] = _to_pre_tanh(warm_start.to(device), bound)
        u.requires_grad_(True)
        step = _Step(u, cfg.optimizer, cfg.lr)  # torch.optim.Adam / SGD, bit for bit
        starts_k, goals_k = repeat_rows(starts, K), repeat_rows(goals, K)  # (B*K, S)

        best_cost = torch.full((B, K), math.inf, device=device)
        best_u = u.detach().clone()
        diverged = torch.zeros(B, K, dtype=torch.bool, device=device)
        history, us = [], []
        for it in range(iterations + 1):
            # 2) roll the model and score every restart; the last pass only scores
            actions = bound * torch.tanh(u)  # (B, K, H, A)
            _, cost = model_cost(self.world_model, starts_k, actions.reshape(B * K, horizon, A), goals_k,
                                 cfg.cost, cfg.discount, differentiable=True)
            cost = cost.reshape(B, K)
            # 3) keep the best finite iterate of every restart; flag non-finite ones
            with torch.no_grad():
                finite = torch.isfinite(cost) & torch.isfinite(u).flatten(2).all(-1)
                diverged |= ~finite
                improved = finite & (cost < best_cost)
                best_cost = torch.where(improved, cost, best_cost)
                best_u[improved] = u[improved]
                history.append(best_cost.min(1).values.clone())
                if trace:
                    us.append(bound * torch.tanh(u.detach()))
            if it == iterations:
                break
            # 4) gradient step on u only (the world model's parameters get no gradient)
            grad, = torch.autograd.grad(cost.where(finite, torch.zeros_like(cost)).sum(), u)
            step(grad)
            if cfg.noise_std > 0:
                with torch.no_grad():
                    u.add_(cfg.noise_std * torch.randn((1, *u.shape[1:]), generator=gen, device=device))

        # 5) the best restart per task
        k_best = best_cost.argmin(1)  # (B,)
        rows = torch.arange(B, device=device)
        with torch.no_grad():
            plan_actions = bound * torch.tanh(best_u[rows, k_best])  # (B, H, A)
            pred = rollout(self.world_model, starts, plan_actions)
        task_diverged = diverged.any(1) | ~torch.isfinite(best_cost[rows, k_best])
        if task_diverged.any():
            warnings.warn(f"GBP diverged (non-finite cost) on {int(task_diverged.sum())} of {B} tasks; "
                          "lower lr or check the world model", stacklevel=2)
        return Plan(
            actions=plan_actions.detach(),
            predicted_states=pred,
            cost=best_cost[rows, k_best],
            cost_history=torch.stack(history),
            wm_forward=((iterations + 1) * K * horizon + horizon) * evaluations_per_step(self.world_model),
            wm_backward=iterations * K * horizon * evaluations_per_step(self.world_model),
            seconds=time.perf_counter() - t0,
            diverged=task_diverged,
            trace=torch.stack([x[rows, k_best] for x in us]) if trace else None,
        )


def make_planner(world_model, config, action_bound: float, positions: bool = False):
    """The planner for a config: ``GBPConfig`` -> ``GBPPlanner``; ``sampling.CEMConfig`` /
    ``MPPIConfig`` / ``GDCEMConfig`` -> ``CEMPlanner`` / ``MPPIPlanner`` / ``GDCEMPlanner`` (the most
    specific config class wins: a GDCEMConfig is a CEMConfig too). ``action_bound``: ``wall.max_step``.
    ``positions``: the states start with the (x, y) the actions move, followed by more (``worlds``' layout
    states), so waypoint initialisations plan in those two (``check_waypoint_init``).
    A model that plans somewhere else than in its inputs' space (``latent.PixelWorldModel``: observations in,
    latents inside) builds its own planner with a ``make_planner(config, action_bound)`` method.
    """
    own = getattr(world_model, "make_planner", None)
    if own is not None:
        return own(config, action_bound)
    if isinstance(config, GBPConfig):
        return GBPPlanner(world_model, config, action_bound, positions)
    from . import sampling  # at call time: sampling builds on this module, so it cannot be imported above
    by_config = {cls.config_class: cls for cls in sampling.PLANNERS.values()}
    for config_cls in type(config).__mro__:
        if config_cls in by_config:
            return by_config[config_cls](world_model, config, action_bound, positions)
    raise TypeError(f"config must be a GBPConfig, CEMConfig, MPPIConfig or GDCEMConfig; got {type(config).__name__}")
