"""Interactive demos. Each UI is ``ipywidgets.interactive`` around a plain function that draws and
returns a dict of numbers, so tests can drive the controls (``controls(ui)[name].value = ...``) and
check ``ui.result``.

Widgets only draw: what they show is computed by ``analysis`` (one planned task, pushes, landscapes)
and scored with ``evaluation``'s metrics, exactly as the notebooks compute the same numbers in bulk.
"""
from __future__ import annotations

import dataclasses
import math

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from . import analysis
from .control import OPEN_LOOP, Execution, Episodes
from .data import DataConfig, generate
from .env import TaskSet, WallConfig, WallEnv
from .planners import GBPConfig
from .plotting import coverage_heatmap, draw_arena, draw_task, draw_trajectory, plot_landscape
from .sampling import CEMConfig


def _slider(value, lo, hi, step, description):
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=False, readout_format=".2f")


def _int_slider(value, lo, hi, step, description):
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=description, continuous_update=False)


def _task_sliders(wall: WallConfig, start, goal) -> dict:
    """The start_x, start_y, goal_x, goal_y sliders of every task widget, over the whole arena."""
    h = wall.half_size
    return {"start_x": _slider(start[0], -h, h, 0.05, "start x"), "start_y": _slider(start[1], -h, h, 0.05, "start y"),
            "goal_x": _slider(goal[0], -h, h, 0.05, "goal x"), "goal_y": _slider(goal[1], -h, h, 0.05, "goal y")}


def _push_sliders(wall: WallConfig, start, angle_deg: float, n_steps: int) -> dict:
    """The start_x, start_y, angle_deg and n_steps sliders of the push widgets."""
    h = wall.half_size
    return {"start_x": _slider(start[0], -h, h, 0.05, "start x"), "start_y": _slider(start[1], -h, h, 0.05, "start y"),
            "angle_deg": _slider(angle_deg, -180.0, 180.0, 5.0, "angle (deg)"),
            "n_steps": _int_slider(n_steps, 1, wall.max_steps, 1, "steps")}


def _invalid_task(env: WallEnv, start: torch.Tensor, goal: torch.Tensor | None, draw: bool) -> dict | None:
    """None if start (1, S) and goal (1, S; None for a push) are in free space; else the widgets'
    "invalid" result, after drawing the arena with the message."""
    points = start if goal is None else torch.cat([start, goal])
    if env.is_free(points).all():
        return None
    which = "start" if not env.is_free(start).all() else "goal"
    message = f"The {which} is inside the wall: move it into free space."
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, env.wall, title=message)
        if goal is not None:
            draw_task(ax, start[0], goal[0], env.wall)
        plt.show()
    return {"valid": False, "message": message}


def _task(wall: WallConfig, start_x, start_y, goal_x, goal_y, draw: bool):
    """Slider values -> (start (1, S), goal (1, S), None), or (.., .., the "invalid" result) if either
    lies inside the wall (see ``_invalid_task``)."""
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    goal = torch.tensor([[goal_x, goal_y]], dtype=torch.float32)
    return start, goal, _invalid_task(WallEnv(wall), start, goal, draw)


def _verdict(outcome: dict) -> str:
    return "reaches the goal" if outcome["success"] else f"misses by {outcome['final_distance']:.2f}"


def controls(ui: W.interactive) -> dict:
    """The value controls of an interactive UI by their keyword name."""
    return {w._kwarg: w for w in ui.kwargs_widgets}


def snapshot(ui: W.interactive) -> dict:
    """Draw the widget's current state (its defaults, right after it is built) as an ordinary figure in
    the cell's output, and return its result. A notebook rendered without a kernel (GitHub, nbviewer)
    shows no live widget; this figure shows what the widget shows."""
    return ui.f(**{w._kwarg: w.get_interact_value() for w in ui.kwargs_widgets})


# --------------------------------------------------------------------------------------------
# Notebook 01: place start and goal, compare the oracle with the straight line
# --------------------------------------------------------------------------------------------
def show_task(start_x: float, start_y: float, goal_x: float, goal_y: float,
              wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Run the oracle and the straight-line controller on one task (``analysis.compare_controllers``);
    draw both; return the outcome."""
    wall = wall or WallConfig()
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    runs, outcome = analysis.compare_controllers(start, goal, wall)
    out = {"valid": True, **outcome}
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, wall)
        draw_task(ax, start[0], goal[0], wall)
        draw_trajectory(ax, runs["oracle"].states[0], "real", color="tab:green", label="oracle", markers=True)
        draw_trajectory(ax, runs["straight line"].states[0], "real", color="tab:orange", label="straight line",
                        markers=True)
        ax.set_title(f"oracle {'reaches' if out['oracle_success'] else 'misses'} the goal; "
                     f"straight line {'reaches' if out['straight_success'] else 'misses'}", fontsize=9)
        ax.legend(loc="best", fontsize=8)
        plt.show()
    return out


def task_explorer(wall: WallConfig | None = None) -> W.interactive:
    """Sliders for start and goal; redraws the oracle path and the straight-line attempt."""
    wall = wall or WallConfig()
    return W.interactive(show_task, **_task_sliders(wall, (-3.5, -3.0), (3.5, 3.0)),
                         wall=W.fixed(wall), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 02: how the data-generating knobs change where the data lives
# --------------------------------------------------------------------------------------------
def explore_data(kind: str = "expert", noise_std: float = 0.15, persistence: float = 0.8,
                 n_episodes: int = 200, wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Generate a small dataset with the given knobs; draw its coverage; return its
    ``analysis.contact_statistics`` (noise_std: expert action noise as a fraction of ``wall.max_step``)."""
    wall = wall or WallConfig()
    ds = generate(DataConfig(kind=kind, n_episodes=int(n_episodes), noise_std=noise_std,
                             persistence=persistence, wall=wall))
    out = analysis.contact_statistics(ds, wall)
    if draw:
        fig, ax = plt.subplots(figsize=(5, 4.2))
        coverage_heatmap(ax, ds.states.reshape(-1, 2), wall,
                         title=f"{kind}: {100 * out['wall_contact_fraction']:.1f}% of states touch the wall")
        plt.show()
    return out


def data_explorer(wall: WallConfig | None = None) -> W.interactive:
    """Knobs of the expert (noise) and the random walk (persistence) with a live coverage map."""
    wall = wall or WallConfig()
    return W.interactive(explore_data, kind=W.ToggleButtons(options=["expert", "play"], value="expert"),
                         noise_std=_slider(0.15, 0.0, 1.0, 0.05, "expert noise"),
                         persistence=_slider(0.8, 0.0, 0.95, 0.05, "persistence"),
                         n_episodes=_int_slider(200, 20, 1000, 20, "episodes"),
                         wall=W.fixed(wall), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 03: the model's view versus reality for a straight push
# --------------------------------------------------------------------------------------------
def _draw_push(ax, pushed: dict, wall: WallConfig, model_label: str) -> None:
    draw_arena(ax, wall)
    draw_trajectory(ax, pushed["real"], "real", color="black", label="real", markers=True)
    draw_trajectory(ax, pushed["model"], "model", color="tab:purple", label=model_label, markers=True)


def compare_push(world_model, start_x: float, start_y: float, angle_deg: float, n_steps: int,
                 wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Push from (start_x, start_y) at full speed in direction ``angle_deg`` for ``n_steps`` steps, in
    the real world and in the model (``analysis.push``); draw both; return where each ended and the gap."""
    wall = wall or WallConfig()
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    invalid = _invalid_task(WallEnv(wall), start, None, draw)
    if invalid:
        return invalid
    pushed = analysis.push(world_model, start[0], angle_deg, n_steps, wall)
    out = {"valid": True, **{k: pushed[k] for k in ("real_final", "model_final", "final_error", "model_passes_wall")}}
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        _draw_push(ax, pushed, wall, "world model")
        ax.set_title(f"{int(n_steps)} steps: model ends {out['final_error']:.2f} away from reality", fontsize=9)
        ax.legend(loc="upper left", fontsize=8)
        plt.show()
    return out


def push_explorer(world_model, wall: WallConfig | None = None) -> W.interactive:
    """Sliders for a start, a push direction and a number of steps; model (dashed) vs reality (solid)."""
    wall = wall or WallConfig()
    return W.interactive(compare_push, world_model=W.fixed(world_model), **_push_sliders(wall, (-3.0, 3.0), 0.0, 12),
                         wall=W.fixed(wall), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 04: re-plan one task with GBP and watch the plan meet reality
# --------------------------------------------------------------------------------------------
def explore_plan(world_model, start_x: float, start_y: float, goal_x: float, goal_y: float,
                 log10_lr: float, iterations: int, horizon: int, restarts: int, execution: Execution,
                 gbp: GBPConfig, wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Plan one task with GBP (``gbp`` with the sliders' learning rate, iterations and restarts)
    through ``world_model`` and execute it in the real world (``analysis.plan_one``).

    ``horizon`` is the episode's step budget: open-loop plans ``horizon`` actions once and runs them
    all; MPC (``execution``) plans to the end of the budget, runs ``execution.replan_every`` actions,
    and replans from the real state (warm-started, ``gbp.warm_iterations`` steps). Draws the model's
    first plan (dashed) and the real path (solid).

    Returns a dict: valid and ``analysis.plan_one``'s outcome. A start or goal inside the wall gives
    {"valid": False, "message": ...}.
    """
    if not isinstance(execution, Execution):
        raise TypeError(f"execution must be a control.Execution (OPEN_LOOP or presets().mpc); got {execution!r}")
    wall = wall or WallConfig()
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    config = dataclasses.replace(gbp, iterations=int(iterations), lr=10.0 ** float(log10_lr), restarts=int(restarts))
    ep, _, outcome = analysis.plan_one(world_model, config, start, goal, wall, execution, horizon=int(horizon))
    out = {"valid": True, **outcome}
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, wall)
        draw_task(ax, start[0], goal[0], wall)
        draw_trajectory(ax, ep.states[0].cpu(), "real", color="black", label="reality", markers=True)
        open_loop = execution.mode == "open-loop"
        draw_trajectory(ax, ep.first_plan_states[0].cpu(), "model", color="tab:purple",
                        label="model: plan" if open_loop else "model: first plan", markers=True)
        ax.set_title(f"{'open-loop' if open_loop else 'MPC'}: reality {_verdict(out)}\n(model cost "
                     f"{out['model_cost']:.3f}; {out['wm_evals'] / 1e3:.0f}k model evals, {out['seconds']:.2f} s)",
                     fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
        plt.show()
    return out


def planner_explorer(world_model, gbp: GBPConfig, mpc: Execution, wall: WallConfig | None = None) -> W.interactive:
    """Controls for one task and the GBP knobs (learning rate, iterations, horizon, restarts, open-loop
    or ``mpc``); each change re-plans and redraws model (dashed) versus reality (solid). ``gbp`` gives
    every other setting (``presets().gbp``)."""
    wall = wall or WallConfig()
    return W.interactive(explore_plan, world_model=W.fixed(world_model),
                         **_task_sliders(wall, (-3.0, 3.0), (3.0, 2.0)),
                         log10_lr=W.FloatSlider(value=-1.0, min=-3.0, max=0.0, step=0.1, description="log10 lr",
                                                continuous_update=False, readout_format=".1f"),
                         iterations=_int_slider(60, 0, 300, 10, "iterations"),
                         horizon=_int_slider(wall.max_steps, 5, 2 * wall.max_steps, 1, "horizon"),
                         restarts=_int_slider(8, 1, 16, 1, "restarts"),
                         execution=W.ToggleButtons(options=[("open-loop", OPEN_LOOP), ("MPC", mpc)], value=OPEN_LOOP,
                                                   description="execution"),
                         gbp=W.fixed(gbp), wall=W.fixed(wall), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 05: the model's wall, round by round of online finetuning
# --------------------------------------------------------------------------------------------
def show_round(snapshots, round: int, start_x: float, start_y: float, angle_deg: float = 0.0, n_steps: int = 4,
               wall: WallConfig | None = None, draw: bool = True, resolution: int = 41) -> dict:
    """The wall as seen by the model after ``round`` rounds of finetuning (``snapshots[0]`` = the model
    before finetuning): a map of where full-speed pushes in direction ``angle_deg`` go wrong
    (``analysis.push_map``), and one push from (start_x, start_y), model (dashed) versus reality (solid).

    Returns a dict: valid, round; for the one push: real_final, model_final, final_error and
    model_passes_wall (the model crosses the wall, reality does not); for the map: leak_fraction,
    blocked_error, free_error, n_blocked. A start inside the wall gives {"valid": False, "message": ...}.
    """
    wall = wall or WallConfig()
    r = int(round)
    if not 0 <= r < len(snapshots):
        raise ValueError(f"round must be in [0, {len(snapshots) - 1}]; got {r}")
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    invalid = _invalid_task(WallEnv(wall), start, None, draw)
    if invalid:
        return invalid
    pushed = analysis.push(snapshots[r], start[0], angle_deg, n_steps, wall)
    pm = analysis.push_map(snapshots[r], angle_deg, n_steps, wall, resolution)
    out = {"valid": True, "round": r,
           **{k: pushed[k] for k in ("real_final", "model_final", "final_error", "model_passes_wall")},
           **{k: pm[k] for k in ("leak_fraction", "blocked_error", "free_error", "n_blocked")}}
    if draw:
        n = int(n_steps)
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.4))
        im = plot_landscape(axes[0], pm["grid_xy"], pm["error"], wall, vmax=wall.max_step * n * math.sqrt(2),
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
        _draw_push(axes[1], pushed, wall, f"model, round {r}")
        axes[1].set_title(f"one push: the model ends {out['final_error']:.2f} away from reality", fontsize=9)
        axes[1].legend(loc="upper left", fontsize=8)
        plt.show()
    return out


def online_round_explorer(snapshots, wall: WallConfig | None = None, start=(-2.0, 3.0), angle_deg: float = 0.0,
                          n_steps: int = 6) -> W.interactive:
    """A round slider over ``snapshots`` (index 0 = the model before finetuning, r = after round r) with
    sliders for a push (start, direction, steps); redraws ``show_round``."""
    wall = wall or WallConfig()
    if len(snapshots) < 1:
        raise ValueError("online_round_explorer needs at least one model")
    return W.interactive(show_round, snapshots=W.fixed(list(snapshots)),
                         round=_int_slider(0, 0, len(snapshots) - 1, 1, "round"),
                         **_push_sliders(wall, start, angle_deg, n_steps),
                         wall=W.fixed(wall), draw=W.fixed(True), resolution=W.fixed(41))


# --------------------------------------------------------------------------------------------
# Notebook 06: the landscape and a plan as the adversarial budget epsilon grows
# --------------------------------------------------------------------------------------------
def show_epsilon(models: dict, eps: float, start_x: float, start_y: float, goal_x: float, goal_y: float,
                 gbp: GBPConfig, wall: WallConfig | None = None, draw: bool = True, resolution: int = 31) -> dict:
    """The planning-cost landscape (``analysis.landscape``, the two-leg waypoint slice of notebook 04)
    of the model finetuned with budget ``eps`` (a key of ``models``; 0 = no adversarial finetuning),
    and its open-loop ``gbp`` plan for the task, model (dashed) versus reality (solid).

    Returns a dict: valid, eps, roughness (``analysis.roughness`` of the model's slice),
    real_roughness (the same for the real landscape), success, final_distance (real),
    model_final_distance (where the model believes the plan ends), false_valley (the model's best
    waypoint promises success but really fails). A start or goal in the wall gives {"valid": False, ...}.
    """
    wall = wall or WallConfig()
    key = float(eps)
    if key not in models:
        raise ValueError(f"eps must be one of {sorted(models)}; got {eps}")
    model = models[key]
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    H = wall.max_steps
    grid, model_cost = analysis.landscape(start[0], goal[0], wall, H, model, resolution)
    _, real_cost = analysis.landscape(start[0], goal[0], wall, H, None, resolution)
    ep, plan, outcome = analysis.plan_one(model, gbp, start, goal, wall, OPEN_LOOP)
    out = {"valid": True, "eps": key,
           "roughness": analysis.roughness(grid, model_cost), "real_roughness": analysis.roughness(grid, real_cost),
           "success": outcome["success"], "final_distance": outcome["final_distance"],
           "model_final_distance": outcome["model_final_distance"],
           "false_valley": analysis.false_valley(model_cost, real_cost, wall.success_radius)}
    if draw:
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.4))
        vmax = float(real_cost.max())
        im = plot_landscape(axes[0], grid, model_cost, wall, start=start[0], goal=goal[0], vmax=vmax,
                            title=f"model landscape, eps = {key:g}\n(roughness {out['roughness']:.2f}; "
                                  f"real {out['real_roughness']:.2f})")
        axes[0].title.set_fontsize(9)
        fig.colorbar(im, ax=axes[0], shrink=0.8, label="predicted final distance")
        draw_arena(axes[1], wall)
        draw_task(axes[1], start[0], goal[0], wall)
        draw_trajectory(axes[1], ep.states[0].cpu(), "real", color="black", label="reality", markers=True)
        draw_trajectory(axes[1], ep.first_plan_states[0].cpu(), "model", color="tab:purple", label="model: plan",
                        markers=True)
        axes[1].set_title(f"open-loop GBP: reality {_verdict(out)}", fontsize=9)
        axes[1].legend(loc="lower left", fontsize=8)
        plt.show()
    return out


def epsilon_explorer(models: dict, gbp: GBPConfig, wall: WallConfig | None = None,
                     start=(-3.0, 3.0), goal=(3.0, 2.0)) -> W.interactive:
    """An eps slider over ``models`` ({eps: finetuned model}) plus start/goal sliders; redraws
    ``show_epsilon`` (landscape slice and open-loop ``gbp`` plan)."""
    wall = wall or WallConfig()
    if not models:
        raise ValueError("epsilon_explorer needs at least one model, e.g. {0.0: base_model}")
    options = sorted(float(e) for e in models)
    return W.interactive(show_epsilon, models=W.fixed({float(k): v for k, v in models.items()}),
                         eps=W.SelectionSlider(options=options, value=options[0], description="epsilon",
                                               continuous_update=False),
                         **_task_sliders(wall, start, goal),
                         gbp=W.fixed(gbp), wall=W.fixed(wall), draw=W.fixed(True), resolution=W.fixed(31))


# --------------------------------------------------------------------------------------------
# Notebook 07: CEM's population and iterations
# --------------------------------------------------------------------------------------------
def show_cem(models: dict, model: str, population: int, iterations: int, start_x: float, start_y: float,
             goal_x: float, goal_y: float, cem: CEMConfig, wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Plan one task open-loop with CEM (``cem`` with the sliders' population and iterations, elites =
    10% of the population) through ``models[model]`` and execute it for real (``analysis.plan_one``);
    draws the best plan as the model sees it (dashed), reality (solid), and the best model cost per round.

    Returns a dict: valid, success, final_distance (real), model_cost (the plan's predicted final
    distance), wm_evals (model step evaluations per task) and seconds.
    """
    wall = wall or WallConfig()
    if model not in models:
        raise ValueError(f"model must be one of {list(models)}; got {model!r}")
    population, iterations = int(population), int(iterations)
    if population < 2 or iterations < 0:
        raise ValueError(f"population must be >= 2 and iterations >= 0; got {population}, {iterations}")
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y, draw)
    if invalid:
        return invalid
    config = dataclasses.replace(cem, population=population, elites=max(1, population // 10), iterations=iterations)
    ep, plan, outcome = analysis.plan_one(models[model], config, start, goal, wall, OPEN_LOOP)
    out = {"valid": True, "success": outcome["success"], "final_distance": outcome["final_distance"],
           "model_cost": float(plan.cost[0]),  # the best sequence's cost, as CEM ranked it
           "wm_evals": outcome["wm_evals"], "seconds": outcome["seconds"]}
    if draw:
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
        draw_arena(axes[0], wall)
        draw_task(axes[0], start[0], goal[0], wall)
        draw_trajectory(axes[0], ep.states[0].cpu(), "real", color="black", label="reality", markers=True)
        draw_trajectory(axes[0], plan.predicted_states[0].cpu(), "model", color="tab:green",
                        label=f"model ({model})", markers=True)
        axes[0].set_title(f"CEM {population} x {iterations}: reality {_verdict(out)}\n"
                          f"({out['wm_evals'] / 1e3:.0f}k model evals, {out['seconds']:.2f} s)", fontsize=9)
        axes[0].legend(loc="lower left", fontsize=8)
        axes[1].plot(range(len(plan.cost_history)), plan.cost_history[:, 0].cpu(), marker="o", color="tab:green")
        axes[1].axhline(wall.success_radius, color="gray", linestyle=":", label="success radius")
        axes[1].set(xlabel="CEM round", ylabel="best predicted final distance", yscale="log",
                    title="what the model promises")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        plt.show()
    return out


def cem_explorer(models: dict, cem: CEMConfig, wall: WallConfig | None = None, start=(-3.0, 3.0), goal=(3.0, 2.0)
                 ) -> W.interactive:
    """A model chooser, population and iterations sliders (starting at ``cem``'s) and start/goal
    sliders; redraws ``show_cem``."""
    wall = wall or WallConfig()
    if not models:
        raise ValueError("cem_explorer needs at least one model, e.g. {'true dynamics': TrueDynamicsModel()}")
    names = list(models)
    return W.interactive(show_cem, models=W.fixed(dict(models)),
                         model=W.Dropdown(options=names, value=names[0], description="model"),
                         population=_int_slider(cem.population, 10, 1000, 10, "population"),
                         iterations=_int_slider(cem.iterations, 0, 30, 1, "iterations"),
                         **_task_sliders(wall, start, goal),
                         cem=W.fixed(cem), wall=W.fixed(wall), draw=W.fixed(True))


# --------------------------------------------------------------------------------------------
# Notebook 08: browse the final evaluation's runs task by task
# --------------------------------------------------------------------------------------------
def show_result(runs: dict, tasks: TaskSet, run: str, task: int, wall: WallConfig | None = None,
                draw: bool = True) -> dict:
    """One evaluated task of one run (``runs``: {name: control.Episodes} on ``tasks``): the executed
    path (solid) and the model's first plan (dashed, if the planner had a model).

    Returns a dict: run, task and ``analysis.episode_outcome`` (success, final_distance, touched_wall,
    run_success_rate).
    """
    wall = wall or WallConfig()
    if run not in runs:
        raise ValueError(f"run must be one of {list(runs)}; got {run!r}")
    i = int(task)
    if not 0 <= i < len(tasks):
        raise ValueError(f"task must be in [0, {len(tasks) - 1}]; got {task}")
    ep: Episodes = runs[run]
    out = {"run": run, "task": i, **analysis.episode_outcome(ep, tasks, i, wall)}
    if draw:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        draw_arena(ax, wall)
        draw_task(ax, tasks.starts[i].cpu(), tasks.goals[i].cpu(), wall)
        draw_trajectory(ax, ep.states[i].cpu(), "real", color="black", label="reality", markers=True)
        if ep.first_plan_states is not None:
            draw_trajectory(ax, ep.first_plan_states[i].cpu(), "model", color="tab:purple", label="model: first plan")
        verdict = "success" if out["success"] else f"miss by {out['final_distance']:.2f}"
        ax.set_title(f"{run}\ntask {i}: {verdict} (run: {100 * out['run_success_rate']:.0f}%)", fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
        plt.show()
    return out


def results_explorer(runs: dict, tasks: TaskSet, wall: WallConfig | None = None) -> W.interactive:
    """A run chooser and a task slider over already evaluated runs; redraws ``show_result`` (no planning)."""
    if not runs:
        raise ValueError("results_explorer needs at least one run")
    names = list(runs)
    return W.interactive(show_result, runs=W.fixed(dict(runs)), tasks=W.fixed(tasks),
                         run=W.Dropdown(options=names, value=names[0], description="run",
                                        layout=W.Layout(width="420px")),
                         task=_int_slider(0, 0, len(tasks) - 1, 1, "task"),
                         wall=W.fixed(wall or WallConfig()), draw=W.fixed(True))
