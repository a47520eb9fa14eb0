"""Honest evaluation: success with 95% Wilson intervals, final distance, wall-stuck failures,
world-model error where the planner actually went (the train-test gap), compute per task,
and the planning-cost landscape over a fixed 2-D slice of action space.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .control import Episodes
from .data import Dataset
from .env import TaskSet, WallConfig, WallEnv, success, touching_wall
from .planners import planning_cost, two_leg_actions
from .world_model import multi_step_error, one_step_error, rollout


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


@dataclass
class EvalReport:
    """One planner/model pair on one task set. Compute columns are per task."""

    name: str
    n_tasks: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_final_distance: float
    stuck_at_wall: float  # fraction of *failures* whose final state presses against a wall face
    wm_error: float  # mean one-step model error along the executed transitions (nan without a model)
    wm_error_ratio: float  # wm_error / model error on held-out expert transitions (nan if not given)
    wm_forward_per_task: float
    wm_backward_per_task: float
    wm_evals_per_task: float  # forward + 2 x backward: a backward step costs about two forwards
    wall_s_per_task: float
    n_diverged: int

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(name: str, episodes: Episodes, tasks: TaskSet, config: WallConfig,
             world_model: torch.nn.Module | None = None, reference_error: float | None = None) -> EvalReport:
    """Score executed episodes. ``reference_error``: the model's mean one-step error on held-out
    expert transitions, so that ``wm_error_ratio`` measures the train-test gap of this planner."""
    final = episodes.final_states
    ok = success(final, tasks.goals, config)
    n, k = len(tasks), int(ok.sum())
    lo, hi = wilson_interval(k, n)
    failures = ~ok
    stuck = touching_wall(final, config) & failures
    wm_error = float(one_step_error(world_model, episodes.as_dataset()).mean()) if world_model is not None else math.nan
    ratio = wm_error / reference_error if reference_error else math.nan
    fwd = float(episodes.wm_forward.float().mean())
    bwd = float(episodes.wm_backward.float().mean())
    return EvalReport(
        name=name, n_tasks=n, successes=k, success_rate=k / n, ci_low=lo, ci_high=hi,
        mean_final_distance=float((final - tasks.goals).norm(dim=-1).mean()),
        stuck_at_wall=float(stuck.sum()) / max(1, int(failures.sum())),
        wm_error=wm_error, wm_error_ratio=ratio,
        wm_forward_per_task=fwd, wm_backward_per_task=bwd, wm_evals_per_task=fwd + 2 * bwd,
        wall_s_per_task=episodes.seconds / n, n_diverged=int(episodes.diverged.sum()),
    )


def reports_frame(reports: list[EvalReport]):
    """A pandas DataFrame, one row per report, for display in notebooks."""
    import pandas as pd
    return pd.DataFrame([r.as_dict() for r in reports]).set_index("name")


def format_report(r: EvalReport) -> str:
    return (f"{r.name}: success {100 * r.success_rate:.1f}% [{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}] "
            f"({r.successes}/{r.n_tasks}), final dist {r.mean_final_distance:.2f}, "
            f"stuck at wall {100 * r.stuck_at_wall:.0f}% of failures, "
            f"model error x{r.wm_error_ratio:.1f}, {r.wm_evals_per_task:.0f} model evals/task, "
            f"{1e3 * r.wall_s_per_task:.1f} ms/task")


# --------------------------------------------------------------------------------------------
# The train-test gap: model error on expert data versus on what the planner visited
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def gap_report(world_model: torch.nn.Module, expert_val: Dataset, episodes: Episodes,
               horizon: int | None = None) -> dict:
    """One-step and multi-step model error on held-out expert episodes vs planner-visited episodes.

    Returns a dict with one_step_expert, one_step_planner (means), one_step_ratio, and per-step
    multi-step curves (H,) multi_step_expert and multi_step_planner with their ratio.
    """
    visited = episodes.as_dataset()
    H = min(horizon or visited.actions.shape[1], visited.actions.shape[1], expert_val.actions.shape[1])
    e_exp = one_step_error(world_model, expert_val).mean().item()
    e_plan = one_step_error(world_model, visited).mean().item()
    m_exp = multi_step_error(world_model, expert_val, H).mean(0)
    m_plan = multi_step_error(world_model, visited, H).mean(0)
    return {"one_step_expert": e_exp, "one_step_planner": e_plan, "one_step_ratio": e_plan / e_exp,
            "multi_step_expert": m_exp, "multi_step_planner": m_plan, "multi_step_ratio": m_plan / m_exp}


# --------------------------------------------------------------------------------------------
# The planning-cost landscape over a fixed 2-D slice of action space
# --------------------------------------------------------------------------------------------
def project_to_slice(actions: torch.Tensor, start: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Least-squares slice coordinates of action sequences (N, H, A) -> waypoints (N, S).

    Minimising sum_t ||a_t - a_t(w)||^2 gives w = ((s + sum_{t<H1} a_t)/H1 + (g - sum_{t>=H1} a_t)/H2)
    / (1/H1 + 1/H2): a weighted average of where the first half ends and where the second must start.
    """
    H = actions.shape[1]
    h1, h2 = H // 2, H - H // 2
    reach = start + actions[:, :h1].sum(1)
    need = goal - actions[:, h1:].sum(1)
    return (reach / h1 + need / h2) / (1 / h1 + 1 / h2)


@torch.no_grad()
def landscape(start: torch.Tensor, goal: torch.Tensor, config: WallConfig, horizon: int,
              world_model: torch.nn.Module | None = None, resolution: int = 41, cost: str = "final",
              discount: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """Planning cost over a grid of waypoints covering the arena: the 2-D slice of action space
    spanned by ``planners.two_leg_actions`` (go to the waypoint, then to the goal).

    With ``world_model`` the cost is the model's prediction (what GBP descends); without it, the
    real environment's (what actually happens). Returns (grid_xy (R, R, S), cost (R, R)).
    """
    h = config.half_size
    axis = torch.linspace(-h, h, resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    w = torch.stack([gx, gy], -1).reshape(-1, 2)
    N = w.shape[0]
    actions = two_leg_actions(w, start.cpu().expand(N, -1), goal.cpu().expand(N, -1), horizon).clamp(-config.max_step, config.max_step)
    starts = start.cpu().expand(N, -1)
    if world_model is not None:
        device = next(world_model.parameters()).device
        pred = rollout(world_model, starts.to(device), actions.to(device)).cpu()
    else:
        pred = WallEnv(config).rollout(starts, actions)
    c = planning_cost(pred, goal.cpu().expand(N, -1), cost, discount)
    return w.reshape(resolution, resolution, 2), c.reshape(resolution, resolution)


def roughness(grid_xy: torch.Tensor, cost: torch.Tensor) -> float:
    """Mean gradient-norm variation of a landscape over a regular grid (R, R, 2) -> cost (R, R).

    The gradient field of the cost is taken by central finite differences; its variation between
    neighbouring grid points, ||grad c(w) - grad c(w')|| / |w - w'|, is averaged over all neighbour pairs
    in x and y. A smooth bowl has a small, nearly constant value; cliffs and narrow false valleys give
    large values. Units: cost per (slice unit)^2, so compare landscapes of the same slice only.
    """
    if grid_xy.ndim != 3 or cost.shape != grid_xy.shape[:2] or min(cost.shape) < 3:
        raise ValueError(f"need grid_xy (R, R, 2) and cost (R, R) with R >= 3; got {tuple(grid_xy.shape)}, "
                         f"{tuple(cost.shape)}")
    hx = float(grid_xy[0, 1, 0] - grid_xy[0, 0, 0])
    hy = float(grid_xy[1, 0, 1] - grid_xy[0, 0, 1])
    gy, gx = torch.gradient(cost.double(), spacing=(hy, hx))
    g = torch.stack([gx, gy], -1)  # (R, R, 2)
    along_x = (g[:, 1:] - g[:, :-1]).norm(dim=-1) / abs(hx)
    along_y = (g[1:] - g[:-1]).norm(dim=-1) / abs(hy)
    return float(torch.cat([along_x.flatten(), along_y.flatten()]).mean())


def false_valley(model_cost: torch.Tensor, real_cost: torch.Tensor, radius: float) -> bool:
    """True if the model's best point of a landscape promises success (model cost <= radius) where
    reality fails (real cost > radius): a valley that is not there. Both costs on the same grid."""
    best = model_cost.flatten().argmin()
    return bool(model_cost.flatten()[best] <= radius and real_cost.flatten()[best] > radius)


def slice_statistics(tasks: TaskSet, config: WallConfig, horizon: int, models: dict, resolution: int = 31):
    """Landscape statistics of several models over the waypoint slices of many tasks.

    For each model (``{name: world_model}``): mean ``roughness`` of its slice, the mean roughness of the
    real slices of the same tasks (``real roughness``, identical for every row), and ``false valley``:
    the share of tasks whose model-best waypoint promises success (model cost <= success radius) but
    fails in reality. Returns a pandas DataFrame indexed by model name.
    """
    import pandas as pd
    real = [landscape(tasks.starts[i].cpu(), tasks.goals[i].cpu(), config, horizon, None, resolution)
            for i in range(len(tasks))]
    real_rough = sum(roughness(g, c) for g, c in real) / len(real)
    rows = []
    for name, model in models.items():
        rough, valleys = 0.0, 0
        for i, (grid, real_cost) in enumerate(real):
            _, cost = landscape(tasks.starts[i].cpu(), tasks.goals[i].cpu(), config, horizon, model, resolution)
            rough += roughness(grid, cost)
            valleys += false_valley(cost, real_cost, config.success_radius)
        rows.append({"model": name, "roughness": rough / len(real), "real roughness": real_rough,
                     "false valley": valleys / len(real)})
    return pd.DataFrame(rows).set_index("model")
