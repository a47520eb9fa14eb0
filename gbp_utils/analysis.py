"""Analyses that explain the evaluation's numbers, on a model versus the real world: the train-test
gap along episodes, the planning-cost landscape over a 2-D slice of action space, and where
full-speed pushes go wrong (the model's picture of the wall). Widgets draw these; notebooks tabulate them.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time

import torch

from . import experiments
from .control import Episodes, Execution, execute
from .data import Dataset, run_policy
from .env import (TaskSet, WallConfig, WallEnv, far_from_door, straight_line_blocked, success,
                  touching_wall)
from .evaluation import model_evals
from .planners import Plan, make_planner, planning_cost, two_leg_actions
from .policies import oracle_policy, shortest_path, straight_line_policy
from .world_model import multi_step_error, one_step_error, rollout


def promise_masks(episodes: Episodes, tasks: TaskSet, wall) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, promised), (B,) bool each: did the episode succeed, and does the first plan's predicted final
    position lie within the success radius of the goal's? ``wall``: the point world's ``WallConfig`` or a
    ``worlds.World`` (success on positions, ``World.success``)."""
    from .worlds import World  # at call time: worlds builds on the modules this one does
    if episodes.first_plan_states is None:
        raise ValueError("a promise needs a planner's episodes (first_plan_states is None for a controller's run)")
    world = World.of(wall)
    return (world.success(episodes.final_states, tasks.goals),
            world.success(episodes.first_plan_states[:, -1], tasks.goals))


def promise_outcome(episodes: Episodes, tasks: TaskSet, wall) -> dict:
    """What the model promised versus what happened, over a run (``promise_masks``): success (real), promised
    (the first plan's predicted final position is within the success radius), false_promise (promised, yet the
    real episode failed), and wm_evals per task (``evaluation.model_evals``)."""
    real, promised = promise_masks(episodes, tasks, wall)
    return {"success": float(real.float().mean()), "promised": float(promised.float().mean()),
            "false_promise": float((promised & ~real).float().mean()),
            "wm_evals": float(model_evals(episodes.wm_forward.float(), episodes.wm_backward.float()).mean())}


def budget_lesson(world_model, configs: dict, tasks: TaskSet, wall: WallConfig, executions) -> list[dict]:
    """Does a lesson survive a smaller planning budget? For every {label: planner config} x execution,
    the (cached, ``experiments.run``) run's ``promise_outcome``: one row per pair with keys budget,
    execution, success, promised, false_promise, wm_evals. Used to check that the widgets' light GBP
    (``presets().gbp_explorer``) shows what the full budget shows."""
    return [{"budget": label, "execution": ex.label,
             **promise_outcome(experiments.run(world_model, config, tasks, ex, wall), tasks, wall)}
            for label, config in configs.items() for ex in executions]


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
def landscape(start: torch.Tensor, goal: torch.Tensor, wall: WallConfig, horizon: int,
              world_model: torch.nn.Module | None = None, resolution: int = 41, cost: str = "final",
              discount: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """Planning cost over a grid of waypoints covering the arena: the 2-D slice of action space
    spanned by ``planners.two_leg_actions`` (go to the waypoint, then to the goal).

    With ``world_model`` the cost is the model's prediction (what GBP descends); without it, the
    real environment's (what actually happens). Returns (grid_xy (R, R, S), cost (R, R)).
    """
    w = _waypoint_grid(wall, resolution)
    if world_model is not None:
        starts, goals, actions = _grid_task(start.cpu(), goal.cpu(), w, wall, horizon)
        device = next(world_model.parameters()).device
        pred = rollout(world_model, starts.to(device), actions.to(device)).cpu()
        c = planning_cost(pred, goals, cost, discount)
    else:  # the real landscape depends on the task alone: widgets that vary the model reuse it
        c = _real_landscape_cost(tuple(start.cpu().reshape(-1).tolist()), tuple(goal.cpu().reshape(-1).tolist()),
                                 wall, horizon, resolution, cost, discount).clone()
    return w.reshape(resolution, resolution, 2), c.reshape(resolution, resolution)


def _waypoint_grid(wall: WallConfig, resolution: int) -> torch.Tensor:
    """(R*R, 2) waypoints on a regular grid over the arena, row-major in y."""
    h = wall.half_size
    axis = torch.linspace(-h, h, resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx, gy], -1).reshape(-1, 2)


def _grid_task(start: torch.Tensor, goal: torch.Tensor, w: torch.Tensor, wall: WallConfig, horizon: int):
    """One task repeated for every waypoint: starts, goals (N, S) and the clipped two-leg actions (N, H, A)."""
    N = w.shape[0]
    starts, goals = start.reshape(1, -1).expand(N, -1), goal.reshape(1, -1).expand(N, -1)
    return starts, goals, two_leg_actions(w, starts, goals, horizon).clamp(-wall.max_step, wall.max_step)


@functools.lru_cache(maxsize=32)
def _real_landscape_cost(start: tuple, goal: tuple, wall: WallConfig, horizon: int, resolution: int, cost: str,
                         discount: float) -> torch.Tensor:
    """(R*R,) real planning cost of ``landscape``'s waypoint grid for one task; memoised (its arguments
    are plain values and the environment is deterministic), so callers must not modify the result."""
    starts, goals, actions = _grid_task(torch.tensor(start), torch.tensor(goal), _waypoint_grid(wall, resolution),
                                        wall, horizon)
    return planning_cost(WallEnv(wall).rollout(starts, actions), goals, cost, discount)


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


def slice_statistics(tasks: TaskSet, wall: WallConfig, horizon: int, models: dict, resolution: int = 31):
    """Landscape statistics of several models over the waypoint slices of many tasks.

    For each model (``{name: world_model}``): mean ``roughness`` of its slice, the mean roughness of the
    real slices of the same tasks (``real roughness``, identical for every row), and ``false valley``:
    the share of tasks whose model-best waypoint promises success (model cost <= success radius) but
    fails in reality. Returns a pandas DataFrame indexed by model name.
    """
    import pandas as pd
    real = [landscape(tasks.starts[i].cpu(), tasks.goals[i].cpu(), wall, horizon, None, resolution)
            for i in range(len(tasks))]
    real_rough = sum(roughness(g, c) for g, c in real) / len(real)
    rows = []
    for name, model in models.items():
        rough, valleys = 0.0, 0
        for i, (grid, real_cost) in enumerate(real):
            _, cost = landscape(tasks.starts[i].cpu(), tasks.goals[i].cpu(), wall, horizon, model, resolution)
            rough += roughness(grid, cost)
            valleys += false_valley(cost, real_cost, wall.success_radius)
        rows.append({"model": name, "roughness": rough / len(real), "real roughness": real_rough,
                     "false valley": valleys / len(real)})
    return pd.DataFrame(rows).set_index("model")


# --------------------------------------------------------------------------------------------
# Pushes: full-speed moves in one direction, model versus reality
# --------------------------------------------------------------------------------------------
def push_action(angle_deg: float, wall: WallConfig) -> torch.Tensor:
    """The fastest move in direction ``angle_deg`` (degrees, 0 = +x): (A,)."""
    direction = torch.tensor([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    return wall.max_step * direction / direction.abs().max()


def arena_grid(wall: WallConfig, resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A resolution x resolution grid over the arena: (grid_xy (R, R, S) with rows indexed by y, the same
    points flattened (R*R, S), and which of them lie in free space (R*R,) bool)."""
    h = wall.half_size
    axis = torch.linspace(-h, h, resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([gx, gy], -1)
    pts = grid.reshape(-1, 2)
    return grid, pts, WallEnv(wall).is_free(pts)


@torch.no_grad()
def push_map(world_model, angle_deg: float = 0.0, n_steps: int = 4, wall: WallConfig | None = None,
             resolution: int = 41) -> dict:
    """Push from every point of a grid over the arena at full speed in direction ``angle_deg`` for
    ``n_steps`` steps, in the real world and in the model, and compare where the pushes end.

    Returns a dict with grid_xy (R, R, S); error (R, R): ||model end - real end|| (nan inside the wall);
    blocked (R, R) bool: the real push touches a wall face (the arena border does not count, so pushes
    stopped only by the border are "unblocked"); leaks (R, R) bool: blocked, and the model's
    push ends on the other side of the wall than the real one (the model lets the agent through);
    leak_fraction (share of blocked starts that leak), blocked_error / free_error (mean error over blocked /
    unblocked starts) and n_blocked.
    """
    wall = wall or WallConfig()
    env = WallEnv(wall)
    grid, pts, free = arena_grid(wall, resolution)
    starts = pts[free]
    n = int(n_steps)
    actions = push_action(angle_deg, wall).expand(len(starts), n, 2)
    real = env.rollout(starts, actions)  # (N, n+1, S)
    device = next(world_model.parameters()).device
    model = rollout(world_model, starts.to(device), actions.to(device))[:, -1].cpu()
    err = (model - real[:, -1]).norm(dim=-1)
    blocked = touching_wall(real[:, 1:], wall).any(1)
    side = lambda x: torch.sign(x[:, 0] - wall.wall_x)  # noqa: E731
    leaks = blocked & (side(model) != side(real[:, -1]))

    def to_grid(values, fill):
        out = torch.full((pts.shape[0],), fill, dtype=values.dtype)
        out[free] = values
        return out.reshape(resolution, resolution)

    nb = int(blocked.sum())
    return {"grid_xy": grid, "error": to_grid(err, math.nan), "blocked": to_grid(blocked, False),
            "leaks": to_grid(leaks, False), "n_blocked": nb,
            "leak_fraction": float(leaks.sum()) / nb if nb else math.nan,
            "blocked_error": float(err[blocked].mean()) if nb else math.nan,
            "free_error": float(err[~blocked].mean()) if nb < len(err) else math.nan}


@torch.no_grad()
def push(world_model, start: torch.Tensor, angle_deg: float, n_steps: int, wall: WallConfig | None = None) -> dict:
    """One full-speed push from ``start`` (S,) in direction ``angle_deg`` for ``n_steps`` steps, in the
    real world and in the model.

    Returns a dict: real (n+1, S) and model (n+1, S) paths; real_final, model_final (lists);
    final_error (distance between the two ends); model_passes_wall (the model's path changes side of
    the wall while the real one stays on its side).
    """
    wall = wall or WallConfig()
    n = int(n_steps)
    start = start.reshape(1, -1).float()
    actions = push_action(angle_deg, wall).expand(1, n, 2)
    real = WallEnv(wall).rollout(start, actions)[0]
    device = next(world_model.parameters()).device
    model = rollout(world_model, start.to(device), actions.to(device))[0].cpu()
    model_sides = torch.sign(model[:, 0] - wall.wall_x)
    real_sides = torch.sign(real[:, 0] - wall.wall_x)
    return {"real": real, "model": model, "real_final": real[-1].tolist(), "model_final": model[-1].tolist(),
            "final_error": float((model[-1] - real[-1]).norm()),
            "model_passes_wall": bool((model_sides != model_sides[0]).any() and (real_sides == real_sides[0]).all())}


# --------------------------------------------------------------------------------------------
# One task, planned and executed (what the planner widgets show)
# --------------------------------------------------------------------------------------------
def plan_one(world_model, planner_config, start: torch.Tensor, goal: torch.Tensor, wall: WallConfig,
             execution: Execution, horizon: int | None = None, trace: bool = False) -> tuple[Episodes, Plan, dict]:
    """Plan one task with ``planners.make_planner(world_model, planner_config, wall.max_step)`` and
    execute it in the real world as ``execution`` says, exactly as ``experiments.run`` does for a batch.

    Args:
        start, goal: (S,) or (1, S). horizon: the episode's step budget (default ``wall.max_steps``);
            open-loop plans that many actions once, MPC always plans to the end of the budget.
    Returns:
        (episodes of the one task, the first Plan (with its ``trace`` of every iteration if ``trace``; the
        plan itself is the same either way), outcome). outcome: success; final_distance (real);
        model_cost (where the model predicts the first plan ends, to the goal); model_final_distance
        (where the model believes the *executed* actions end, to the goal); model_vs_real (that belief
        versus the real final state); touched_wall / stuck_at_wall (any contact during the episode / the
        final state on a wall face); n_plans, n_steps, wm_evals (``evaluation.model_evals``) and
        seconds (planning and execution).
    """
    H = int(horizon or wall.max_steps)
    env = WallEnv(dataclasses.replace(wall, max_steps=H))
    device = next(world_model.parameters()).device
    task = TaskSet(start.reshape(1, -1).float().to(device), goal.reshape(1, -1).float().to(device), "eval", -1)
    planner = make_planner(world_model, planner_config, wall.max_step)
    plans = []

    def recording(*args, **kwargs):
        plans.append(planner(*args, **kwargs, trace=trace and not plans))  # trace the first plan only
        return plans[-1]

    t0 = time.perf_counter()
    ep = execute(env, recording, task, execution)
    seconds = time.perf_counter() - t0
    if (execution.mode == "open-loop" and not hasattr(world_model, "make_planner")
            and torch.equal(ep.actions.to(device), plans[0].actions)):
        # the executed actions are the plan's: the model's belief about them is the plan's own prediction
        # (the planner rolled this model through these actions from this start, as the line below would)
        believed = plans[0].predicted_states[0, -1].cpu()
    else:
        with torch.no_grad():
            believed = rollout(world_model, task.starts, ep.actions.to(device))[0, -1].cpu()
    real = ep.states[0].cpu()
    final, g = real[-1], task.goals[0].cpu()
    outcome = {
        "success": bool(success(final[None], g[None], wall)[0]),
        "final_distance": float((final - g).norm()),
        "model_cost": float(planning_cost(ep.first_plan_states.cpu(), g[None])[0]),
        "model_final_distance": float((believed - g).norm()),
        "model_vs_real": float((believed - final).norm()),
        "touched_wall": bool(touching_wall(real, wall).any()),
        "stuck_at_wall": bool(touching_wall(final[None], wall)[0]),
        "n_plans": int(ep.n_plans),
        "n_steps": int(ep.actions.shape[1]),
        "wm_evals": float(model_evals(ep.wm_forward[0], ep.wm_backward[0])),
        "seconds": seconds,
    }
    return ep, plans[0], outcome


def episode_outcome(episodes: Episodes, tasks: TaskSet, i: int, wall: WallConfig) -> dict:
    """Task ``i`` of an evaluated run: success, final_distance, touched_wall (any contact during the
    episode), and run_success_rate (the whole run's success, for context)."""
    states = episodes.states[i].cpu()
    goal = tasks.goals[i].cpu()
    ok = success(episodes.states[:, -1].cpu(), tasks.goals.cpu(), wall)
    return {"success": bool(ok[i]), "final_distance": float((states[-1] - goal).norm()),
            "touched_wall": bool(touching_wall(states, wall).any()), "run_success_rate": float(ok.float().mean())}


def contact_statistics(ds: Dataset, wall: WallConfig) -> dict:
    """Where a dataset lives relative to the wall: n_transitions; wall_contact_fraction (share of visited
    states touching a wall face); far_contact_fraction (touching it more than 1 unit from the door);
    success_rate of goal-directed data (if the dataset has goals)."""
    states = ds.states.reshape(-1, 2)
    touch = touching_wall(states, wall)
    away = far_from_door(states, wall)
    out = {"n_transitions": len(ds), "wall_contact_fraction": touch.float().mean().item(),
           "far_contact_fraction": (touch & away).float().mean().item()}
    if ds.goals is not None:
        out["success_rate"] = success(ds.final_states, ds.goals, wall).float().mean().item()
    return out


def compare_controllers(start: torch.Tensor, goal: torch.Tensor, wall: WallConfig) -> tuple[dict, dict]:
    """The shortest-path oracle and the straight-line controller on one task (start, goal (S,)).

    Returns ({"oracle": Dataset, "straight line": Dataset}, outcome) with outcome: straight_blocked,
    oracle_success, straight_success, shortest_path_length, straight_ends_at_wall."""
    env = WallEnv(wall)
    s, g = start.reshape(1, -1).float(), goal.reshape(1, -1).float()
    task = TaskSet(s, g, "eval", -1)
    oracle = run_policy(env, oracle_policy(wall), task)
    straight = run_policy(env, straight_line_policy(wall), task)
    _, length = shortest_path(s, g, wall)
    outcome = {"straight_blocked": bool(straight_line_blocked(s, g, wall)[0]),
               "oracle_success": bool(success(oracle.final_states, g, wall)[0]),
               "straight_success": bool(success(straight.final_states, g, wall)[0]),
               "shortest_path_length": float(length[0]),
               "straight_ends_at_wall": bool(touching_wall(straight.final_states, wall)[0])}
    return {"oracle": oracle, "straight line": straight}, outcome


def matched_gap(models: dict, visited, expert_val):
    """Gap ratios on matched transitions: every model's mean one-step error on the *same* visited transitions
    (``visited``: a Dataset, e.g. one planner run's ``Episodes.as_dataset()``) over its own error on held-out
    expert transitions. Each planner's own gap ratio (``evaluation.evaluate``) is measured where *its* plans
    went, so two models' ratios also differ by which episodes their planners produced; here they do not.
    Returns a pandas DataFrame indexed by model: error on visited, error on expert, matched gap ratio."""
    import pandas as pd
    from .world_model import one_step_error, reference_error
    rows = []
    for name, model in models.items():
        err, ref = float(one_step_error(model, visited).mean()), reference_error(model, expert_val)
        rows.append({"model": name, "error on visited": err, "error on expert": ref, "matched gap ratio": err / ref})
    return pd.DataFrame(rows).set_index("model")
