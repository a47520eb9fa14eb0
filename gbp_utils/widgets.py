"""Interactive demos. Each UI is ``ipywidgets.interactive`` around a plain function that draws and
returns a dict of numbers, so tests can drive the controls (``ui.children[i].value = ...``) and
check ``ui.result``.
"""
from __future__ import annotations

import dataclasses
import math
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from .data import DataConfig, generate
from .env import (TaskSet, WallConfig, WallEnv, far_from_door, straight_line_blocked, success,
                  touching_wall)
from .plotting import coverage_heatmap, draw_arena, draw_task, draw_trajectory
from .policies import oracle_policy, run_policy, shortest_path, straight_line_policy
from .control import run_mpc, run_open_loop
from .planners import GBPConfig, GBPPlanner, planning_cost
from .world_model import rollout


def _slider(value, lo, hi, step, description):
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=False, readout_format=".2f")


def _task_sliders(config: WallConfig, start, goal) -> dict:
    """The start_x, start_y, goal_x, goal_y sliders of every task widget, over the whole arena."""
    h = config.half_size
    return {"start_x": _slider(start[0], -h, h, 0.05, "start x"), "start_y": _slider(start[1], -h, h, 0.05, "start y"),
            "goal_x": _slider(goal[0], -h, h, 0.05, "goal x"), "goal_y": _slider(goal[1], -h, h, 0.05, "goal y")}


def _invalid_task(env: WallEnv, start: torch.Tensor, goal: torch.Tensor, draw: bool) -> dict | None:
    """None if start (1, S) and goal (1, S) are in free space; else the widgets' "invalid" result,
    after drawing the arena with the message."""
    if env.is_free(torch.cat([start, goal])).all():
        return None
    which = "start" if not env.is_free(start).all() else "goal"
    message = f"The {which} is inside the wall: move it into free space."
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, env.config, title=message)
        draw_task(ax, start[0], goal[0], env.config)
        plt.show()
    return {"valid": False, "message": message}


def _task(env: WallEnv, start_x, start_y, goal_x, goal_y, draw: bool):
    """Slider values -> (start (1, S), goal (1, S), None), or (.., .., the "invalid" result) if either
    lies inside the wall (see ``_invalid_task``)."""
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    goal = torch.tensor([[goal_x, goal_y]], dtype=torch.float32)
    return start, goal, _invalid_task(env, start, goal, draw)


def controls(ui: W.interactive) -> dict:
    """The value controls of an interactive UI by their keyword name."""
    return {w._kwarg: w for w in ui.kwargs_widgets}


# --------------------------------------------------------------------------------------------
# Notebook 01: place start and goal, compare the oracle with the straight line
# --------------------------------------------------------------------------------------------
def show_task(start_x: float, start_y: float, goal_x: float, goal_y: float,
              config: WallConfig | None = None, draw: bool = True) -> dict:
    """Run the oracle and the straight-line controller on one task; draw both; return the outcome."""
    cfg = config or WallConfig()
    env = WallEnv(cfg)
    start, goal, invalid = _task(env, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    task = TaskSet(start, goal, "eval", -1)
    oracle = run_policy(env, oracle_policy(cfg), task)
    straight = run_policy(env, straight_line_policy(cfg), task)
    _, length = shortest_path(start, goal, cfg)
    out = {
        "valid": True,
        "straight_blocked": bool(straight_line_blocked(start, goal, cfg)[0]),
        "oracle_success": bool(success(oracle.final_states, goal, cfg)[0]),
        "straight_success": bool(success(straight.final_states, goal, cfg)[0]),
        "shortest_path_length": float(length[0]),
        "straight_ends_at_wall": bool(touching_wall(straight.final_states, cfg)[0]),
    }
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, cfg)
        draw_task(ax, start[0], goal[0], cfg)
        draw_trajectory(ax, oracle.states[0], "real", color="tab:green", label="oracle", markers=True)
        draw_trajectory(ax, straight.states[0], "real", color="tab:orange", label="straight line", markers=True)
        ax.set_title(f"oracle {'reaches' if out['oracle_success'] else 'misses'} the goal; "
                     f"straight line {'reaches' if out['straight_success'] else 'misses'}", fontsize=9)
        ax.legend(loc="best", fontsize=8)
        plt.show()
    return out


def task_explorer(config: WallConfig | None = None) -> W.interactive:
    """Sliders for start and goal; redraws the oracle path and the straight-line attempt."""
    cfg = config or WallConfig()
    return W.interactive(show_task, **_task_sliders(cfg, (-3.5, -3.0), (3.5, 3.0)),
                         config=W.fixed(cfg), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 02: how the data-generating knobs change where the data lives
# --------------------------------------------------------------------------------------------
def explore_data(kind: str = "expert", noise_std: float = 0.15, persistence: float = 0.8,
                 n_episodes: int = 200, config: WallConfig | None = None, draw: bool = True) -> dict:
    """Generate a small dataset with the given knobs; draw its coverage; return contact statistics.

    ``wall_contact_fraction``: share of visited states touching a wall face;
    ``far_contact_fraction``: share touching it more than 1 unit away from the door.
    """
    cfg = config or WallConfig()
    ds = generate(DataConfig(kind=kind, n_episodes=int(n_episodes), noise_std=noise_std,
                             persistence=persistence, wall=cfg))
    states = ds.states.reshape(-1, 2)
    touch = touching_wall(states, cfg)
    away = far_from_door(states, cfg)
    out = {"n_transitions": len(ds), "wall_contact_fraction": touch.float().mean().item(),
           "far_contact_fraction": (touch & away).float().mean().item()}
    if ds.goals is not None:
        out["success_rate"] = success(ds.states[:, -1], ds.goals, cfg).float().mean().item()
    if draw:
        fig, ax = plt.subplots(figsize=(5, 4.2))
        coverage_heatmap(ax, states, cfg, title=f"{kind}: {100 * out['wall_contact_fraction']:.1f}% of states "
                                                  f"touch the wall")
        plt.show()
    return out


def data_explorer(config: WallConfig | None = None) -> W.interactive:
    """Knobs of the expert (noise) and the random walk (persistence) with a live coverage map."""
    cfg = config or WallConfig()
    return W.interactive(explore_data, kind=W.ToggleButtons(options=["expert", "play"], value="expert"),
                         noise_std=_slider(0.15, 0.0, 1.0, 0.05, "expert noise"),
                         persistence=_slider(0.8, 0.0, 0.95, 0.05, "persistence"),
                         n_episodes=W.IntSlider(value=200, min=20, max=1000, step=20, description="episodes",
                                                continuous_update=False),
                         config=W.fixed(cfg), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 03: the model's view versus reality for a straight push
# --------------------------------------------------------------------------------------------
def compare_push(world_model, start_x: float, start_y: float, angle_deg: float, n_steps: int,
                 config: WallConfig | None = None, draw: bool = True) -> dict:
    """Push from (start_x, start_y) at full speed in direction ``angle_deg`` for ``n_steps`` steps,
    in the real world and in the model; draw both; return where each ended and the gap."""
    cfg = config or WallConfig()
    env = WallEnv(cfg)
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    if not env.is_free(start).all():
        return {"valid": False, "message": "The start is inside the wall: move it into free space."}
    n = int(n_steps)
    actions = _push_action(angle_deg, cfg).expand(1, n, 2)
    real = env.rollout(start, actions)[0]
    device = next(world_model.parameters()).device
    with torch.no_grad():
        model = rollout(world_model, start.to(device), actions.to(device))[0].cpu()
    model_sides = torch.sign(model[:, 0] - cfg.wall_x)
    real_sides = torch.sign(real[:, 0] - cfg.wall_x)
    out = {"valid": True, "real_final": real[-1].tolist(), "model_final": model[-1].tolist(),
           "final_error": float((model[-1] - real[-1]).norm()),
           "model_passes_wall": bool((model_sides != model_sides[0]).any() and (real_sides == real_sides[0]).all())}
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, cfg)
        draw_trajectory(ax, real, "real", color="black", label="real", markers=True)
        draw_trajectory(ax, model, "model", color="tab:purple", label="world model", markers=True)
        ax.set_title(f"{n} steps: model ends {out['final_error']:.2f} away from reality", fontsize=9)
        ax.legend(loc="upper left", fontsize=8)
        plt.show()
    return out


def push_explorer(world_model, config: WallConfig | None = None) -> W.interactive:
    """Sliders for a start, a push direction and a number of steps; model (dashed) vs reality (solid)."""
    cfg = config or WallConfig()
    h = cfg.half_size
    return W.interactive(compare_push, world_model=W.fixed(world_model),
                         start_x=_slider(-3.0, -h, h, 0.05, "start x"),
                         start_y=_slider(3.0, -h, h, 0.05, "start y"),
                         angle_deg=_slider(0.0, -180.0, 180.0, 5.0, "angle (deg)"),
                         n_steps=W.IntSlider(value=12, min=1, max=cfg.max_steps, description="steps",
                                             continuous_update=False),
                         config=W.fixed(cfg), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 04: re-plan one task with GBP and watch the plan meet reality
# --------------------------------------------------------------------------------------------
PLAN_MODES = ("open-loop", "MPC")


def explore_plan(world_model, start_x: float, start_y: float, goal_x: float, goal_y: float,
                 log10_lr: float = -1.0, iterations: int = 60, horizon: int = 30, restarts: int = 8,
                 mode: str = "open-loop", config: WallConfig | None = None, draw: bool = True,
                 replan_every: int = 3) -> dict:
    """Plan one task with GBP through ``world_model`` and execute it in the real world.

    ``horizon`` is the episode's step budget: open-loop plans ``horizon`` actions once and runs them
    all; "MPC" plans to the end of the budget, runs ``replan_every`` actions, and replans from the
    real state (warm-started, ``GBPConfig.warm_iterations`` steps). Draws the model's first plan
    (dashed) and the real path (solid).

    Returns a dict: valid; success; final_distance (real); model_cost (the first plan's model cost,
    what the optimiser achieved); model_final_distance (where the model believes the *executed*
    actions end, measured to the goal); model_vs_real (that belief versus the real final state);
    touched_wall / stuck_at_wall (any contact during the episode / the final state on a wall face);
    n_plans, n_steps, wm_evals (forward + 2 x backward model steps) and seconds (planning and execution).
    A start or goal inside the wall gives {"valid": False, "message": ...}.
    """
    if mode not in PLAN_MODES:
        raise ValueError(f"mode must be one of {PLAN_MODES}; got {mode!r}")
    cfg = config or WallConfig()
    env = WallEnv(cfg)
    device = next(world_model.parameters()).device
    start, goal, invalid = _task(env, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    H = int(horizon)
    planner = GBPPlanner(world_model, GBPConfig(iterations=int(iterations), lr=10.0 ** float(log10_lr),
                                                restarts=int(restarts)), cfg.max_step)
    task = TaskSet(start.to(device), goal.to(device), "eval", -1)
    t0 = time.perf_counter()
    if mode == "open-loop":
        ep = run_open_loop(env, planner, task, horizon=H)
    else:  # the budget is the horizon; the planner always plans to its end
        ep = run_mpc(WallEnv(dataclasses.replace(cfg, max_steps=H)), planner, task, replan_every=int(replan_every))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        believed = rollout(world_model, task.starts, ep.actions.to(device))[:, -1]
    real = ep.states[0].cpu()
    first_plan = ep.first_plan[0].cpu()
    final, believed = real[-1], believed[0].cpu()
    out = {
        "valid": True,
        "success": bool(success(final[None], goal, cfg)[0]),
        "final_distance": float((final - goal[0]).norm()),
        "model_cost": float(planning_cost(first_plan[None], goal)[0]),
        "model_final_distance": float((believed - goal[0]).norm()),
        "model_vs_real": float((believed - final).norm()),
        "touched_wall": bool(touching_wall(real, cfg).any()),
        "stuck_at_wall": bool(touching_wall(final[None], cfg)[0]),
        "n_plans": int(ep.n_plans),
        "n_steps": int(ep.actions.shape[1]),
        "wm_evals": float(ep.wm_forward[0] + 2 * ep.wm_backward[0]),
        "seconds": seconds,
    }
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, cfg)
        draw_task(ax, start[0], goal[0], cfg)
        draw_trajectory(ax, real, "real", color="black", label="reality", markers=True)
        draw_trajectory(ax, first_plan, "model", color="tab:purple",
                        label="model: plan" if mode == "open-loop" else "model: first plan", markers=True)
        verdict = "reaches the goal" if out["success"] else f"misses by {out['final_distance']:.2f}"
        ax.set_title(f"{mode}: reality {verdict}\n(model cost {out['model_cost']:.3f}; "
                     f"{out['wm_evals'] / 1e3:.0f}k model evals, {seconds:.2f} s)", fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
        plt.show()
    return out


def planner_explorer(world_model, config: WallConfig | None = None) -> W.interactive:
    """Controls for one task and the GBP knobs (learning rate, iterations, horizon, restarts, open-loop
    or MPC); each change re-plans and redraws model (dashed) versus reality (solid)."""
    cfg = config or WallConfig()
    int_slider = lambda v, lo, hi, step, d: W.IntSlider(value=v, min=lo, max=hi, step=step, description=d,  # noqa: E731
                                                        continuous_update=False)
    return W.interactive(explore_plan, world_model=W.fixed(world_model),
                         **_task_sliders(cfg, (-3.0, 3.0), (3.0, 2.0)),
                         log10_lr=W.FloatSlider(value=-1.0, min=-3.0, max=0.0, step=0.1, description="log10 lr",
                                                continuous_update=False, readout_format=".1f"),
                         iterations=int_slider(60, 0, 300, 10, "iterations"),
                         horizon=int_slider(cfg.max_steps, 5, 2 * cfg.max_steps, 1, "horizon"),
                         restarts=int_slider(8, 1, 16, 1, "restarts"),
                         mode=W.ToggleButtons(options=list(PLAN_MODES), value="open-loop"),
                         config=W.fixed(cfg), draw=W.fixed(True), replan_every=W.fixed(3))


# --------------------------------------------------------------------------------------------
# Notebook 05: the model's wall, round by round of online finetuning
# --------------------------------------------------------------------------------------------
def _push_action(angle_deg: float, config: WallConfig) -> torch.Tensor:
    """The fastest move in direction ``angle_deg`` (degrees, 0 = +x): (A,)."""
    direction = torch.tensor([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    return config.max_step * direction / direction.abs().max()


@torch.no_grad()
def push_map(world_model, angle_deg: float = 0.0, n_steps: int = 4, config: WallConfig | None = None,
             resolution: int = 41) -> dict:
    """Push from every point of a grid over the arena at full speed in direction ``angle_deg`` for
    ``n_steps`` steps, in the real world and in the model, and compare where the pushes end.

    Returns a dict with grid_xy (R, R, S); error (R, R): ||model end - real end|| (nan inside the wall);
    blocked (R, R) bool: the real push touches a wall face (the arena border does not count, so pushes
    stopped only by the border are "unblocked"); leaks (R, R) bool: blocked, and the model's
    push ends on the other side of the wall than the real one (the model lets the agent through);
    leak_fraction (share of blocked starts that leak), wall_error / free_error (mean error over blocked /
    unblocked starts) and n_blocked.
    """
    cfg = config or WallConfig()
    env = WallEnv(cfg)
    h = cfg.half_size
    axis = torch.linspace(-h, h, resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([gx, gy], -1)
    pts = grid.reshape(-1, 2)
    free = env.is_free(pts)
    starts = pts[free]
    n = int(n_steps)
    actions = _push_action(angle_deg, cfg).expand(len(starts), n, 2)
    real = env.rollout(starts, actions)  # (N, n+1, S)
    device = next(world_model.parameters()).device
    model = rollout(world_model, starts.to(device), actions.to(device))[:, -1].cpu()
    err = (model - real[:, -1]).norm(dim=-1)
    blocked = touching_wall(real[:, 1:], cfg).any(1)
    side = lambda x: torch.sign(x[:, 0] - cfg.wall_x)  # noqa: E731
    leaks = blocked & (side(model) != side(real[:, -1]))

    def to_grid(values, fill):
        out = torch.full((pts.shape[0],), fill, dtype=values.dtype)
        out[free] = values
        return out.reshape(resolution, resolution)

    nb = int(blocked.sum())
    return {"grid_xy": grid, "error": to_grid(err, math.nan), "blocked": to_grid(blocked, False),
            "leaks": to_grid(leaks, False), "n_blocked": nb,
            "leak_fraction": float(leaks.sum()) / nb if nb else math.nan,
            "wall_error": float(err[blocked].mean()) if nb else math.nan,
            "free_error": float(err[~blocked].mean()) if nb < len(err) else math.nan}


def show_round(snapshots, round: int, start_x: float, start_y: float, angle_deg: float = 0.0, n_steps: int = 4,
               config: WallConfig | None = None, draw: bool = True, resolution: int = 41) -> dict:
    """The wall as seen by the model after ``round`` rounds of finetuning (``snapshots[0]`` = the model
    before finetuning): a map of where full-speed pushes in direction ``angle_deg`` go wrong
    (``push_map``), and one push from (start_x, start_y), model (dashed) versus reality (solid).

    Returns a dict: valid, round; for the one push: real_final, model_final, final_error and
    model_passes_wall (the model crosses the wall, reality does not); for the map: leak_fraction,
    wall_error, free_error, n_blocked. A start inside the wall gives {"valid": False, "message": ...}.
    """
    cfg = config or WallConfig()
    r = int(round)
    if not 0 <= r < len(snapshots):
        raise ValueError(f"round must be in [0, {len(snapshots) - 1}]; got {r}")
    out = compare_push(snapshots[r], start_x, start_y, angle_deg, n_steps, cfg, draw=False)
    if not out["valid"]:
        if draw:
            fig, ax = plt.subplots(figsize=(4.5, 4.5))
            draw_arena(ax, cfg, title=out["message"])
            plt.show()
        return out
    pm = push_map(snapshots[r], angle_deg, n_steps, cfg, resolution)
    out = {"valid": True, "round": r, **out,
           **{k: pm[k] for k in ("leak_fraction", "wall_error", "free_error", "n_blocked")}}
    if draw:
        from .plotting import plot_landscape
        n = int(n_steps)
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.4))
        im = plot_landscape(axes[0], pm["grid_xy"], pm["error"], cfg, vmax=cfg.max_step * n * math.sqrt(2),
                            cmap="magma", success_contour=False,
                            title=f"round {r}: model error of a {n}-step push\n"
                                  f"(lets {100 * out['leak_fraction']:.0f}% of blocked pushes through the wall)")
        axes[0].title.set_fontsize(9)
        leak_xy = pm["grid_xy"][pm["leaks"]]
        axes[0].plot(leak_xy[:, 0], leak_xy[:, 1], ".", color="tab:cyan", markersize=3, zorder=6,
                     label="model passes the wall")
        axes[0].plot(start_x, start_y, "o", color="tab:blue", markeredgecolor="white", markersize=7, zorder=7)
        axes[0].legend(loc="lower left", fontsize=7)
        fig.colorbar(im, ax=axes[0], shrink=0.8, label="|model end - real end|")
        # the one push
        env = WallEnv(cfg)
        start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
        actions = _push_action(angle_deg, cfg).expand(1, n, 2)
        real = env.rollout(start, actions)[0]
        device = next(snapshots[r].parameters()).device
        with torch.no_grad():
            model = rollout(snapshots[r], start.to(device), actions.to(device))[0].cpu()
        draw_arena(axes[1], cfg)
        draw_trajectory(axes[1], real, "real", color="black", label="real", markers=True)
        draw_trajectory(axes[1], model, "model", color="tab:purple", label=f"model, round {r}", markers=True)
        axes[1].set_title(f"one push: the model ends {out['final_error']:.2f} away from reality", fontsize=9)
        axes[1].legend(loc="upper left", fontsize=8)
        plt.show()
    return out


def online_round_explorer(snapshots, config: WallConfig | None = None, start=(-2.0, 3.0), angle_deg: float = 0.0,
                          n_steps: int = 6) -> W.interactive:
    """A round slider over ``snapshots`` (index 0 = the model before finetuning, r = after round r) with
    sliders for a push (start, direction, steps); redraws ``show_round``."""
    cfg = config or WallConfig()
    if len(snapshots) < 1:
        raise ValueError("online_round_explorer needs at least one model")
    h = cfg.half_size
    return W.interactive(show_round, snapshots=W.fixed(list(snapshots)),
                         round=W.IntSlider(value=0, min=0, max=len(snapshots) - 1, description="round",
                                           continuous_update=False),
                         start_x=_slider(start[0], -h, h, 0.05, "start x"),
                         start_y=_slider(start[1], -h, h, 0.05, "start y"),
                         angle_deg=_slider(angle_deg, -180.0, 180.0, 5.0, "angle (deg)"),
                         n_steps=W.IntSlider(value=n_steps, min=1, max=cfg.max_steps, description="steps",
                                             continuous_update=False),
                         config=W.fixed(cfg), draw=W.fixed(True), resolution=W.fixed(41))


# --------------------------------------------------------------------------------------------
# Notebook 06: the landscape and a plan as the adversarial budget epsilon grows
# --------------------------------------------------------------------------------------------
def show_epsilon(models: dict, eps: float, start_x: float, start_y: float, goal_x: float, goal_y: float,
                 config: WallConfig | None = None, gbp: GBPConfig | None = None, draw: bool = True,
                 resolution: int = 31) -> dict:
    """The planning-cost landscape (the two-leg waypoint slice of notebook 04) of the model finetuned
    with budget ``eps`` (a key of ``models``; 0 = no adversarial finetuning), and its open-loop GBP
    plan for the task, model (dashed) versus reality (solid).

    Returns a dict: valid, eps, roughness (``evaluation.roughness`` of the model's slice),
    real_roughness (the same for the real landscape), success, final_distance (real),
    model_final_distance (where the model believes the plan ends), false_valley (the model's best
    waypoint promises success but really fails). A start or goal in the wall gives {"valid": False, ...}.
    """
    from .evaluation import false_valley, landscape, roughness
    cfg = config or WallConfig()
    key = float(eps)
    if key not in models:
        raise ValueError(f"eps must be one of {sorted(models)}; got {eps}")
    model = models[key]
    env = WallEnv(cfg)
    start, goal, invalid = _task(env, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    H = cfg.max_steps
    grid, model_cost = landscape(start[0], goal[0], cfg, H, model, resolution)
    _, real_cost = landscape(start[0], goal[0], cfg, H, None, resolution)
    device = next(model.parameters()).device
    task = TaskSet(start.to(device), goal.to(device), "eval", -1)
    ep = run_open_loop(env, GBPPlanner(model, gbp or GBPConfig(), cfg.max_step), task)
    final = ep.states[0, -1].cpu()
    out = {"valid": True, "eps": key,
           "roughness": roughness(grid, model_cost), "real_roughness": roughness(grid, real_cost),
           "success": bool(success(final[None], goal, cfg)[0]),
           "final_distance": float((final - goal[0]).norm()),
           "model_final_distance": float((ep.first_plan[0, -1].cpu() - goal[0]).norm()),
           "false_valley": false_valley(model_cost, real_cost, cfg.success_radius)}
    if draw:
        from .plotting import plot_landscape
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.4))
        vmax = float(real_cost.max())
        im = plot_landscape(axes[0], grid, model_cost, cfg, start=start[0], goal=goal[0], vmax=vmax,
                            title=f"model landscape, eps = {key:g}\n(roughness {out['roughness']:.2f}; "
                                  f"real {out['real_roughness']:.2f})")
        axes[0].title.set_fontsize(9)
        fig.colorbar(im, ax=axes[0], shrink=0.8, label="predicted final distance")
        draw_arena(axes[1], cfg)
        draw_task(axes[1], start[0], goal[0], cfg)
        draw_trajectory(axes[1], ep.states[0].cpu(), "real", color="black", label="reality", markers=True)
        draw_trajectory(axes[1], ep.first_plan[0].cpu(), "model", color="tab:purple", label="model: plan",
                        markers=True)
        verdict = "reaches the goal" if out["success"] else f"misses by {out['final_distance']:.2f}"
        axes[1].set_title(f"open-loop GBP: reality {verdict}", fontsize=9)
        axes[1].legend(loc="lower left", fontsize=8)
        plt.show()
    return out


def epsilon_explorer(models: dict, config: WallConfig | None = None, gbp: GBPConfig | None = None,
                     start=(-3.0, 3.0), goal=(3.0, 2.0)) -> W.interactive:
    """An eps slider over ``models`` ({eps: finetuned model}) plus start/goal sliders; redraws
    ``show_epsilon`` (landscape slice and open-loop plan)."""
    cfg = config or WallConfig()
    if not models:
        raise ValueError("epsilon_explorer needs at least one model, e.g. {0.0: base_model}")
    options = sorted(float(e) for e in models)
    return W.interactive(show_epsilon, models=W.fixed({float(k): v for k, v in models.items()}),
                         eps=W.SelectionSlider(options=options, value=options[0], description="epsilon",
                                               continuous_update=False),
                         **_task_sliders(cfg, start, goal),
                         config=W.fixed(cfg), gbp=W.fixed(gbp), draw=W.fixed(True), resolution=W.fixed(31))


# --------------------------------------------------------------------------------------------
# Notebook 07: CEM's population and iterations
# --------------------------------------------------------------------------------------------
def show_cem(models: dict, model: str, population: int, iterations: int, start_x: float, start_y: float,
             goal_x: float, goal_y: float, config: WallConfig | None = None, draw: bool = True) -> dict:
    """Plan one task open-loop with CEM (``sampling.CEMConfig`` defaults, elites = 10% of the
    population) through ``models[model]`` and execute it for real; draws the best plan as the model
    sees it (dashed), reality (solid), and the best model cost per CEM round.

    Returns a dict: valid, success, final_distance (real), model_cost (the plan's predicted final
    distance), wm_evals (model step evaluations per task) and seconds.
    """
    from .sampling import CEMConfig, CEMPlanner
    cfg = config or WallConfig()
    if model not in models:
        raise ValueError(f"model must be one of {list(models)}; got {model!r}")
    population, iterations = int(population), int(iterations)
    if population < 2 or iterations < 0:
        raise ValueError(f"population must be >= 2 and iterations >= 0; got {population}, {iterations}")
    env = WallEnv(cfg)
    start, goal, invalid = _task(env, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    world_model = models[model]
    device = next(world_model.parameters()).device
    planner = CEMPlanner(world_model, CEMConfig(population=population, elites=max(1, population // 10),
                                                iterations=iterations), cfg.max_step)
    task = TaskSet(start.to(device), goal.to(device), "eval", -1)
    t0 = time.perf_counter()
    plan = planner(task.starts, task.goals, cfg.max_steps)
    seconds = time.perf_counter() - t0
    real = env.rollout(start, plan.actions.cpu())[0]
    final = real[-1]
    out = {"valid": True, "success": bool(success(final[None], goal, cfg)[0]),
           "final_distance": float((final - goal[0]).norm()), "model_cost": float(plan.cost[0]),
           "wm_evals": float(plan.wm_forward + 2 * plan.wm_backward), "seconds": seconds}
    if draw:
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
        draw_arena(axes[0], cfg)
        draw_task(axes[0], start[0], goal[0], cfg)
        draw_trajectory(axes[0], real, "real", color="black", label="reality", markers=True)
        draw_trajectory(axes[0], plan.predicted_states[0].cpu(), "model", color="tab:green",
                        label=f"model ({model})", markers=True)
        verdict = "reaches the goal" if out["success"] else f"misses by {out['final_distance']:.2f}"
        axes[0].set_title(f"CEM {population} x {iterations}: reality {verdict}\n"
                          f"({out['wm_evals'] / 1e3:.0f}k model evals, {seconds:.2f} s)", fontsize=9)
        axes[0].legend(loc="lower left", fontsize=8)
        axes[1].plot(range(len(plan.cost_history)), plan.cost_history[:, 0].cpu(), marker="o", color="tab:green")
        axes[1].axhline(cfg.success_radius, color="gray", linestyle=":", label="success radius")
        axes[1].set(xlabel="CEM round", ylabel="best predicted final distance", yscale="log",
                    title="what the model promises")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        plt.show()
    return out


def cem_explorer(models: dict, config: WallConfig | None = None, start=(-3.0, 3.0), goal=(3.0, 2.0)
                 ) -> W.interactive:
    """A model chooser, population and iterations sliders and start/goal sliders; redraws ``show_cem``."""
    cfg = config or WallConfig()
    if not models:
        raise ValueError("cem_explorer needs at least one model, e.g. {'true dynamics': TrueDynamicsModel()}")
    names = list(models)
    return W.interactive(show_cem, models=W.fixed(dict(models)),
                         model=W.Dropdown(options=names, value=names[0], description="model"),
                         population=W.IntSlider(value=300, min=10, max=1000, step=10, description="population",
                                                continuous_update=False),
                         iterations=W.IntSlider(value=10, min=0, max=30, description="iterations",
                                                continuous_update=False),
                         **_task_sliders(cfg, start, goal),
                         config=W.fixed(cfg), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 08: browse the final evaluation's runs task by task
# --------------------------------------------------------------------------------------------
def show_result(runs: dict, tasks: TaskSet, run: str, task: int, config: WallConfig | None = None,
                draw: bool = True) -> dict:
    """One evaluated task of one run (``runs``: {name: control.Episodes} on ``tasks``): the executed
    path (solid) and the model's first plan (dashed, if the planner had a model).

    Returns a dict: run, task, success, final_distance, touched_wall, and run_success_rate (the whole
    run's success, for context).
    """
    cfg = config or WallConfig()
    if run not in runs:
        raise ValueError(f"run must be one of {list(runs)}; got {run!r}")
    i = int(task)
    if not 0 <= i < len(tasks):
        raise ValueError(f"task must be in [0, {len(tasks) - 1}]; got {task}")
    ep = runs[run]
    states = ep.states[i].cpu()
    goal = tasks.goals[i].cpu()
    ok = success(ep.states[:, -1].cpu(), tasks.goals.cpu(), cfg)
    out = {"run": run, "task": i, "success": bool(ok[i]), "final_distance": float((states[-1] - goal).norm()),
           "touched_wall": bool(touching_wall(states, cfg).any()), "run_success_rate": float(ok.float().mean())}
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, cfg)
        draw_task(ax, tasks.starts[i].cpu(), goal, cfg)
        draw_trajectory(ax, states, "real", color="black", label="reality", markers=True)
        if ep.first_plan is not None:
            draw_trajectory(ax, ep.first_plan[i].cpu(), "model", color="tab:purple", label="model: first plan")
        verdict = "success" if out["success"] else f"miss by {out['final_distance']:.2f}"
        ax.set_title(f"{run}\ntask {i}: {verdict} (run: {100 * out['run_success_rate']:.0f}%)", fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
        plt.show()
    return out


def results_explorer(runs: dict, tasks: TaskSet, config: WallConfig | None = None) -> W.interactive:
    """A run chooser and a task slider over already evaluated runs; redraws ``show_result`` (no planning)."""
    if not runs:
        raise ValueError("results_explorer needs at least one run")
    names = list(runs)
    return W.interactive(show_result, runs=W.fixed(dict(runs)), tasks=W.fixed(tasks),
                         run=W.Dropdown(options=names, value=names[0], description="run",
                                        layout=W.Layout(width="420px")),
                         task=W.IntSlider(value=0, min=0, max=len(tasks) - 1, description="task",
                                          continuous_update=False),
                         config=W.fixed(config or WallConfig()), draw=W.fixed(True))
