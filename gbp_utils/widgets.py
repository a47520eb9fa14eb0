"""Interactive demos with live figures.

Every widget is an ``Explorer``: controls, one persistent figure whose artists are moved in place on
each update (with ipympl, a live canvas in the notebook; outside a kernel, an off-screen Agg figure)
and a one-line readout of the numbers. Each explorer wraps a plain function (``show_task``,
``explore_plan``, ...) that returns a dict of numbers and, with ``draw=True``, draws the same picture as
an ordinary static figure. Tests drive an explorer as a reader would: ``controls(ui)[name].value = ...``,
a click on the arena (``ui.click(x, y)``), then ``ui.result``. ``snapshot(ui)`` leaves a static image of
the live figure in the cell's output for readers without a kernel (GitHub, nbviewer).

Direct manipulation: in the task, planner, push, round, epsilon, CEM and pessimism explorers a click on the arena
moves the start there (shift-click, or "click sets: goal", moves the goal); the sliders follow the
click, so they stay the one source of truth. The planner explorer also has an iteration slider that
steps through the optimiser's iterations of the plan shown, redrawn from a cached trace (no re-planning).

Widgets only draw: what they show is computed by ``analysis`` (one planned task, pushes, landscapes)
and scored with ``evaluation``'s metrics, exactly as the notebooks compute the same numbers in bulk.
"""
from __future__ import annotations

import contextlib
import dataclasses
import html
import io
import json
import math
import os
import traceback

import ipywidgets as W
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from . import analysis, pessimism
from .control import OPEN_LOOP, Execution, Episodes
from .data import DataConfig, generate
from .ensemble import PessimismPresets
from .env import TaskSet, WallConfig, WallEnv
from .planners import GBPConfig, planning_cost
from .plotting import MODEL_STYLE, PALETTE, REAL_STYLE, WALL_COLOR, draw_arena, draw_frame
from .sampling import CEMConfig
from .world_model import rollout


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


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _invalid_task(env: WallEnv, start: torch.Tensor, goal: torch.Tensor | None) -> tuple[dict, dict] | None:
    """None if start (1, S) and goal (1, S; None for a push) are in free space; else the widgets'
    "invalid" (result, drawing): the message, shown over the arena with the start (and goal)."""
    points = start if goal is None else torch.cat([start, goal])
    if env.is_free(points).all():
        return None
    which = "start" if not env.is_free(start).all() else "goal"
    message = f"The {which} is inside the wall: move it into free space."
    drawing = {"start": start[0], "goal": None if goal is None else goal[0], "title": message}
    return {"valid": False, "message": message}, drawing


def _task(wall: WallConfig, start_x, start_y, goal_x, goal_y):
    """Slider values -> (start (1, S), goal (1, S), None), or (.., .., the "invalid" (result, drawing))
    if either lies inside the wall (see ``_invalid_task``)."""
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    goal = torch.tensor([[goal_x, goal_y]], dtype=torch.float32)
    return start, goal, _invalid_task(WallEnv(wall), start, goal)


def _verdict(outcome: dict) -> str:
    return "reaches the goal" if outcome["success"] else f"misses by {outcome['final_distance']:.2f}"


def _show_static(view_class, drawing: dict, draw: bool, **view_args) -> None:
    """What a plain ``show_*`` function draws with ``draw=True``: the explorer's picture as an ordinary
    (static, inline) matplotlib figure."""
    if draw:
        fig = plt.figure(figsize=view_class.figsize)
        view_class(fig, **view_args).update(drawing)
        plt.show()


# --------------------------------------------------------------------------------------------
# Live figures and the Explorer widget
# --------------------------------------------------------------------------------------------
def _in_kernel() -> bool:
    """True inside a Jupyter kernel (notebook, nbval, voila), False in a plain Python process."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _import_ipympl():
    """ipympl's (Canvas, FigureManager), or None without ipympl. Importing ipympl switches pyplot to
    its backend (its ``__init__`` calls ``matplotlib.use``): the kernel's own backend (inline) is put
    back at once, so only the explorers' figures are live and every other figure stays a static image.
    Done once, when this module is imported in a kernel (before a notebook has drawn anything)."""
    import matplotlib

    backend = matplotlib.get_backend()
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError:
        return None
    finally:
        if matplotlib.get_backend() != backend:
            plt.switch_backend(backend)
    return Canvas, FigureManager


_IPYMPL = _import_ipympl() if _in_kernel() else None


# Text in the live figures is rasterised without FreeType's hinting: hinting each glyph again at every redraw
# is a good part of drawing these text-heavy figures (about 15 ms of the pessimism explorer's 70 ms draw), and
# at their sizes the letters look the same. Layout and drawing both use it (``Explorer`` builds its view under it).
_LIVE_TEXT = {"text.hinting": "no_hinting"}


class _LiveFigureArtist(Figure):
    """A ``Figure`` that draws its text with ``_LIVE_TEXT`` (however it is drawn: ipympl, PNG, ``savefig``)."""

    def draw(self, renderer):
        with matplotlib.rc_context(_LIVE_TEXT):
            super().draw(renderer)


class LiveFigure:
    """One persistent matplotlib figure and what shows it.

    In a kernel with ipympl: ``widget`` is ipympl's canvas (a live figure in the page that receives mouse
    clicks); in a kernel without ipympl: an ``ipywidgets.Image`` refreshed with a PNG after each update
    (no clicks); in a plain Python process (tests, benchmarks): ``widget`` is None and the figure is an
    off-screen Agg figure that whoever reads it draws (``figure.canvas.draw()``).
    ``redraw()`` asks for one redraw; ``redraws`` counts the requests.
    """

    def __init__(self, figsize):
        self.figure = _LiveFigureArtist(figsize=figsize)
        self.widget = None
        self.mode = "headless"
        self.redraws = 0
        if _in_kernel():
            if _IPYMPL is None:
                FigureCanvasAgg(self.figure)
                self.widget, self.mode = W.Image(format="png"), "image"
            else:
                Canvas, FigureManager = _IPYMPL
                canvas = Canvas(self.figure)
                FigureManager(canvas, 0)  # ipympl's message handling needs a manager; not registered with pyplot
                canvas.toolbar_visible = canvas.header_visible = canvas.footer_visible = canvas.resizable = False
                self.widget, self.mode = canvas, "ipympl"
        else:
            FigureCanvasAgg(self.figure)

    def redraw(self) -> None:
        """Ask for one redraw (ipympl draws when the page asks for the new image)."""
        self.redraws += 1
        if self.mode == "ipympl":
            self.figure.canvas.draw_idle()
        elif self.mode == "image":
            self.widget.value = self.png()

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _snap(slider, value: float) -> float:
    """``value`` rounded to the slider's step and clipped to its range."""
    v = round(float(value) / slider.step) * slider.step
    return round(min(max(v, slider.min), slider.max), 10)


def _summary(result: dict) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, (list, tuple)):
            return "(" + ", ".join(fmt(x) for x in v) + ")"
        return str(v)
    return " · ".join(f"{k} {fmt(v)}" for k, v in result.items())


class Explorer(W.VBox):
    """Controls, a live figure and a readout around ``compute``.

    ``compute(**control values, **fixed) -> (result dict, drawing dict)`` runs on every change of a
    control (``controls``: name -> widget); ``view`` (a class with a ``figsize``; ``view(figure,
    **view_args)``, by default ``view_args = {"wall": fixed["wall"]}``) builds the figure's artists once
    and ``view.update(drawing, **display values)`` moves them. ``display`` controls (name -> widget)
    only change what is drawn from the last drawing, without calling ``compute`` (the planner's
    iteration slider); ``after(explorer)`` may adjust them after each compute. ``click``: None, "start"
    (a click on one of ``view.click_axes`` moves start_x/start_y there) or "task" (start, and the goal
    on shift-click or with the "click sets" toggle on "goal").

    ``result`` is the last result; ``controls`` the compute controls by name (``widgets.controls``);
    ``figure`` the persistent figure; each update redraws it once.
    """

    def __init__(self, compute, view, controls: dict, fixed: dict | None = None, *, display: dict | None = None,
                 after=None, click: str | None = None, view_args: dict | None = None):
        if click not in (None, "start", "task"):
            raise ValueError(f"click must be None, 'start' or 'task'; got {click!r}")
        self.compute, self.fixed, self.after, self.click_mode = compute, dict(fixed or {}), after, click
        self.controls, self.display_controls = dict(controls), dict(display or {})
        self.live = LiveFigure(view.figsize)
        self.figure = self.live.figure
        # Titles at the top of their axes (y = 1), where matplotlib's automatic placement puts them in these
        # figures (nothing is drawn above an axes) -- but only after measuring every tick label at every draw,
        # a quarter of a redraw.
        with matplotlib.rc_context({"axes.titley": 1.0, **_LIVE_TEXT}):
            self.view = view(self.figure, **(view_args if view_args is not None else {"wall": self.fixed["wall"]}))
        self.result, self.drawing = None, None
        self.updates = 0
        self._holding, self._dirty, self._quiet = False, False, False
        self.click_target = None
        if click == "task":
            self.click_target = W.ToggleButtons(options=["start", "goal"], value="start", description="click sets",
                                                style={"button_width": "60px"}).add_class("gbp-click-target")
        if click is not None:
            self.figure.canvas.mpl_connect("button_press_event", self._on_click)
        for w in self.controls.values():
            w.observe(self._on_control, "value")
        for w in self.display_controls.values():
            w.observe(self._on_display, "value")
        self.readout = W.HTML().add_class("gbp-readout")
        self.out = W.Output()
        boxed = [*self.controls.values(), *self.display_controls.values()]
        if self.click_target is not None:
            boxed.append(self.click_target)
        panel = W.Box(boxed, layout=W.Layout(display="flex", flex_flow="row wrap")).add_class("gbp-controls")
        shown = [panel] + ([self.live.widget] if self.live.widget is not None else []) + [self.readout, self.out]
        super().__init__(shown)
        self.add_class("gbp-explorer")
        self._arena_boxes = self._click_boxes()
        self.update()

    # ---- updates ----
    def kwargs(self) -> dict:
        """The compute controls' values by name."""
        return {name: w.value for name, w in self.controls.items()}

    def update(self) -> None:
        """Run ``compute`` with the controls' values and redraw the figure once."""
        try:
            result, drawing = self.compute(**self.kwargs(), **self.fixed)
            self.result, self.drawing = result, drawing
            self.updates += 1
            if self.after is not None:
                self._quiet = True
                try:
                    self.after(self)
                finally:
                    self._quiet = False
            self._show()
        except Exception:
            self._report()

    def _show(self) -> None:
        self.view.update(self.drawing, **{name: w.value for name, w in self.display_controls.items()})
        caption = getattr(self.view, "caption", "")
        self.readout.value = (f"<div class='gbp-readout-text' data-arena='{html.escape(json.dumps(self._arena_boxes))}'>"
                              f"{html.escape(_summary(self.result))}{html.escape(caption)}</div>")
        if self.out.outputs:
            self.out.clear_output()
        self.live.redraw()

    def _report(self) -> None:
        """An exception in a callback: in a kernel, its traceback in the widget's output area (as
        ``ipywidgets.interactive`` does); in a plain process, raised."""
        if not _in_kernel():
            raise
        with self.out:
            self.out.clear_output()
            traceback.print_exc()

    def _on_control(self, change) -> None:
        if self._holding:
            self._dirty = True
        else:
            self.update()

    def _on_display(self, change) -> None:
        if self._holding or self._quiet or self.drawing is None:
            return
        try:
            self._show()
        except Exception:
            self._report()

    @contextlib.contextmanager
    def hold_updates(self):
        """Change several controls, then update once (if any compute control changed)."""
        self._holding, self._dirty = True, False
        try:
            yield self
        finally:
            self._holding = False
            if self._dirty:
                self._dirty = False
                self.update()

    # ---- direct manipulation ----
    def place(self, which: str, x: float, y: float) -> None:
        """Move the ``which`` ("start" or "goal") sliders to (x, y), rounded to their step: one update."""
        if which not in ("start", "goal") or f"{which}_x" not in self.controls:
            raise ValueError(f"this explorer cannot place {which!r}")
        sx, sy = self.controls[f"{which}_x"], self.controls[f"{which}_y"]
        with self.hold_updates():
            sx.value = _snap(sx, x)
            sy.value = _snap(sy, y)

    def click(self, x: float, y: float, shift: bool = False) -> dict:
        """A click at data coordinates (x, y) of the (first) arena, as the mouse would do it; returns the result."""
        if self.click_mode is None:
            raise ValueError("this explorer does not take clicks")
        from matplotlib.backend_bases import MouseEvent

        ax = self.view.click_axes[0]
        px, py = ax.transData.transform((x, y))
        MouseEvent("button_press_event", self.figure.canvas, px, py, button=1,
                   modifiers=["shift"] if shift else None)._process()
        return self.result

    def _on_click(self, event) -> None:
        if event.inaxes not in self.view.click_axes or event.xdata is None or event.button != 1:
            return
        try:
            shift = "shift" in (getattr(event, "modifiers", None) or ()) or "shift" in (event.key or "")
            goal = self.click_mode == "task" and (shift or self.click_target.value == "goal")
            self.place("goal" if goal else "start", event.xdata, event.ydata)
        except Exception:
            self._report()

    def _click_boxes(self) -> list:
        """Where the clickable axes are, for the browser test: [x0, y0, width, height] as fractions of the
        figure (from its bottom left) and [xmin, xmax, ymin, ymax] in data coordinates, per axes."""
        boxes = []
        for ax in getattr(self.view, "click_axes", ()):
            ax.apply_aspect()
            boxes.append([round(v, 5) for v in (*ax.get_position().bounds, *ax.get_xlim(), *ax.get_ylim())])
        return boxes


def controls(ui: Explorer) -> dict:
    """The value controls of an explorer by their keyword name (the plain function's arguments)."""
    if not isinstance(ui, Explorer):
        raise TypeError(f"controls needs a widgets.Explorer; got {type(ui).__name__}")
    return dict(ui.controls)


def _in_voila() -> bool:
    """True in a kernel that voila started (it sets VOILA_KERNEL_ID, and VOILA_SERVER_URL for its kernels)."""
    return "VOILA_KERNEL_ID" in os.environ or "VOILA_SERVER_URL" in os.environ


def snapshot(ui: Explorer) -> dict:
    """Show the widget's current state (its defaults, right after it is built) as a static PNG image in
    the cell's output, and return its result. A notebook rendered without a kernel (GitHub, nbviewer)
    shows no live widget; this image shows what the widget shows. In a voila app, which shows the live
    widget itself, no static copy is added."""
    from IPython.display import Image, display

    if not isinstance(ui, Explorer):
        raise TypeError(f"snapshot needs a widgets.Explorer; got {type(ui).__name__}")
    if not _in_voila():
        display(Image(data=ui.live.png(), format="png"))
    return ui.result


# --------------------------------------------------------------------------------------------
# Figure parts whose artists are made once and then moved
# --------------------------------------------------------------------------------------------
class _ArenaPanel:
    """An arena axes with a start (circle), a goal (star and its success radius) and named paths
    (``paths``: name -> (kind "real"/"model", colour, legend label)); ``task``/``path``/``title`` move them."""

    def __init__(self, ax, wall: WallConfig, paths: dict, goal: bool = True, legend: str | None = "best",
                 markers: bool = True, arena: bool = True):
        self.ax = ax
        if arena:
            draw_arena(ax, wall)
        self.lines = {}
        for name, (kind, color, label) in paths.items():
            style = REAL_STYLE if kind == "real" else MODEL_STYLE
            self.lines[name], = ax.plot([], [], color=color, label=label, zorder=4, marker="." if markers else None,
                                        markersize=4, **style)
        self.start, = ax.plot([], [], "o", color=PALETTE["blue"], markersize=7, zorder=5, label="start")
        self.goal = self.radius = None
        if goal:
            self.goal, = ax.plot([], [], "*", color=PALETTE["red"], markersize=13, zorder=5, label="goal")
            self.radius = ax.add_patch(Circle((0.0, 0.0), wall.success_radius, color=PALETTE["red"], alpha=0.15, zorder=1,
                                              visible=False))
        if legend:
            ax.legend(loc=legend, fontsize=7, framealpha=0.6)

    def task(self, start, goal=None) -> None:
        s = _np(start)
        self.start.set_data([s[0]], [s[1]])
        if self.goal is not None:
            if goal is None:
                self.goal.set_data([], [])
                self.radius.set_visible(False)
            else:
                g = _np(goal)
                self.goal.set_data([g[0]], [g[1]])
                self.radius.set_center((float(g[0]), float(g[1])))
                self.radius.set_visible(True)

    def path(self, name: str, states=None) -> None:
        """Show ``states`` (T+1, S) as path ``name``; None hides it."""
        xy = np.empty((0, 2)) if states is None else _np(states)
        self.lines[name].set_data(xy[:, 0], xy[:, 1])

    def paths(self, drawing: dict) -> None:
        """Every path from the drawing (missing ones hidden) and the task."""
        self.task(drawing["start"], drawing.get("goal"))
        for name in self.lines:
            self.path(name, drawing.get(name))

    def title(self, text: str) -> None:
        self.ax.set_title(text, fontsize=9)

    def relabel(self, name: str, label: str) -> None:
        """Rename path ``name`` in the legend (its entries are the paths in order, then start and goal)."""
        self.lines[name].set_label(label)
        self.ax.get_legend().get_texts()[list(self.lines).index(name)].set_text(label)


def _leave_room_for_titles(fig, lines: int = 2, w_pad: float | None = None) -> None:
    """``tight_layout`` for titles of up to ``lines`` lines, set later by ``update``. ``w_pad``: the gap between
    panels in font sizes (``tight_layout``'s; more where a colour bar's label faces the next panel's)."""
    placeholders = [ax.get_title() for ax in fig.axes]
    for ax in fig.axes:
        ax.set_title("\n".join(["placeholder"] * lines), fontsize=9)
    fig.tight_layout(w_pad=w_pad)
    for ax, title in zip(fig.axes, placeholders):
        ax.set_title(title)


class _Image:
    """A heat-map over the arena (imshow) with its colour bar, made once; ``set`` moves the data."""

    def __init__(self, fig, ax, wall: WallConfig, cmap: str, label: str):
        h = wall.half_size
        self.im = ax.imshow(np.zeros((2, 2)), origin="lower", extent=[-h, h, -h, h], cmap=cmap, vmin=0, vmax=1,
                            interpolation="nearest")
        self.colorbar = fig.colorbar(self.im, ax=ax, shrink=0.8, label=label)

    def set(self, grid_xy=None, values=None, vmax: float | None = None) -> None:
        """Show ``values`` (R, R) over ``grid_xy`` (R, R, S) with colours up to ``vmax``; None hides it."""
        if values is None:
            self.im.set_visible(False)
            return
        xy, c = _np(grid_xy), _np(values)
        self.im.set_data(c)
        self.im.set_extent([xy[0, 0, 0], xy[0, -1, 0], xy[0, 0, 1], xy[-1, 0, 1]])
        self.im.set_clim(0, vmax if vmax is not None else float(np.nanmax(c)))
        self.im.set_visible(True)


# --------------------------------------------------------------------------------------------
# Notebook 01: place start and goal, compare the oracle with the straight line
# --------------------------------------------------------------------------------------------
class _TaskView:
    figsize = (4.5, 4.5)

    def __init__(self, fig, wall: WallConfig):
        ax = fig.add_subplot()
        self.arena = _ArenaPanel(ax, wall, {"oracle": ("real", PALETTE["green"], "oracle"),
                                            "straight line": ("real", PALETTE["orange"], "straight line")}, legend="best")
        self.click_axes = (ax,)

    def update(self, drawing: dict) -> None:
        self.arena.paths(drawing)
        self.arena.title(drawing["title"])


def _task_data(start_x, start_y, goal_x, goal_y, wall: WallConfig) -> tuple[dict, dict]:
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y)
    if invalid:
        return invalid
    runs, outcome = analysis.compare_controllers(start, goal, wall)
    out = {"valid": True, **outcome}
    title = (f"oracle {'reaches' if out['oracle_success'] else 'misses'} the goal; "
             f"straight line {'reaches' if out['straight_success'] else 'misses'}")
    return out, {"start": start[0], "goal": goal[0], "oracle": runs["oracle"].states[0],
                 "straight line": runs["straight line"].states[0], "title": title}


def show_task(start_x: float, start_y: float, goal_x: float, goal_y: float,
              wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Run the oracle and the straight-line controller on one task (``analysis.compare_controllers``);
    draw both; return the outcome."""
    wall = wall or WallConfig()
    out, drawing = _task_data(start_x, start_y, goal_x, goal_y, wall)
    _show_static(_TaskView, drawing, draw, wall=wall)
    return out


def task_explorer(wall: WallConfig | None = None) -> Explorer:
    """Sliders for start and goal (or click the arena: start; shift-click: goal); redraws the oracle path
    and the straight-line attempt."""
    wall = wall or WallConfig()
    return Explorer(_task_data, _TaskView, _task_sliders(wall, (-3.5, -3.0), (3.5, 3.0)),
                    {"wall": wall}, click="task")


# --------------------------------------------------------------------------------------------
# Notebook 02: how the data-generating knobs change where the data lives
# --------------------------------------------------------------------------------------------
class _CoverageView:
    """``plotting.coverage_heatmap``'s picture (log10(1 + count) of states per cell), made once."""
    figsize = (5, 4.2)

    def __init__(self, fig, wall: WallConfig, bins: int = 50):
        ax = fig.add_subplot()
        self.ax, self.wall, self.bins = ax, wall, bins
        self.image = _Image(fig, ax, wall, "mako", "log10(1 + count)")
        for x0, x1, y0, y1 in wall.wall_boxes():
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white", linewidth=1.2))
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])

    def update(self, drawing: dict) -> None:
        h = self.wall.half_size
        xy = _np(drawing["states"]).reshape(-1, 2)
        edges = np.linspace(-h, h, self.bins + 1)
        counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=[edges, edges])
        centres = (edges[:-1] + edges[1:]) / 2
        grid = np.stack(np.meshgrid(centres, centres), -1)
        self.image.set(grid, np.log10(1 + counts.T))
        self.image.im.set_extent([-h, h, -h, h])
        self.ax.set_title(drawing["title"])


def _data_data(kind: str, noise_std: float, persistence: float, n_episodes: int, wall: WallConfig):
    ds = generate(DataConfig(kind=kind, n_episodes=int(n_episodes), noise_std=noise_std,
                             persistence=persistence, wall=wall))
    out = analysis.contact_statistics(ds, wall)
    return out, {"states": ds.states, "title": f"{kind}: {100 * out['wall_contact_fraction']:.1f}% of states touch the wall"}


def explore_data(kind: str = "expert", noise_std: float = 0.15, persistence: float = 0.8,
                 n_episodes: int = 200, wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Generate a small dataset with the given knobs; draw its coverage; return its
    ``analysis.contact_statistics`` (noise_std: expert action noise as a fraction of ``wall.max_step``)."""
    wall = wall or WallConfig()
    out, drawing = _data_data(kind, noise_std, persistence, n_episodes, wall)
    _show_static(_CoverageView, drawing, draw, wall=wall)
    return out


def data_explorer(wall: WallConfig | None = None) -> Explorer:
    """Knobs of the expert (noise) and the random walk (persistence) with a live coverage map."""
    wall = wall or WallConfig()
    return Explorer(_data_data, _CoverageView,
                    {"kind": W.ToggleButtons(options=["expert", "play"], value="expert"),
                     "noise_std": _slider(0.15, 0.0, 1.0, 0.05, "expert noise"),
                     "persistence": _slider(0.8, 0.0, 0.95, 0.05, "persistence"),
                     "n_episodes": _int_slider(200, 20, 1000, 20, "episodes")}, {"wall": wall})


# --------------------------------------------------------------------------------------------
# Notebook 03: the model's view versus reality for a straight push
# --------------------------------------------------------------------------------------------
def _push_panel(ax, wall: WallConfig, model_label: str) -> _ArenaPanel:
    return _ArenaPanel(ax, wall, {"real": ("real", "black", "real"), "model": ("model", PALETTE["purple"], model_label)},
                       goal=False, legend="upper left")


class _PushView:
    figsize = (4.5, 4.5)

    def __init__(self, fig, wall: WallConfig):
        ax = fig.add_subplot()
        self.arena = _push_panel(ax, wall, "world model")
        self.click_axes = (ax,)

    def update(self, drawing: dict) -> None:
        self.arena.paths(drawing)
        self.arena.title(drawing["title"])


def _push_data(world_model, start_x, start_y, angle_deg, n_steps, wall: WallConfig):
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    invalid = _invalid_task(WallEnv(wall), start, None)
    if invalid:
        return invalid
    pushed = analysis.push(world_model, start[0], angle_deg, n_steps, wall)
    out = {"valid": True, **{k: pushed[k] for k in ("real_final", "model_final", "final_error", "model_passes_wall")}}
    return out, {"start": start[0], "real": pushed["real"], "model": pushed["model"],
                 "title": f"{int(n_steps)} steps: model ends {out['final_error']:.2f} away from reality"}


def compare_push(world_model, start_x: float, start_y: float, angle_deg: float, n_steps: int,
                 wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Push from (start_x, start_y) at full speed in direction ``angle_deg`` for ``n_steps`` steps, in
    the real world and in the model (``analysis.push``); draw both; return where each ended and the gap."""
    wall = wall or WallConfig()
    out, drawing = _push_data(world_model, start_x, start_y, angle_deg, n_steps, wall)
    _show_static(_PushView, drawing, draw, wall=wall)
    return out


def push_explorer(world_model, wall: WallConfig | None = None) -> Explorer:
    """Sliders for a start (or click the arena), a push direction and a number of steps; model (dashed)
    vs reality (solid)."""
    wall = wall or WallConfig()
    return Explorer(_push_data, _PushView, _push_sliders(wall, (-3.0, 3.0), 0.0, 12),
                    {"world_model": world_model, "wall": wall}, click="start")


# --------------------------------------------------------------------------------------------
# Notebook 04: re-plan one task with GBP, watch the plan meet reality, step through its iterations
# --------------------------------------------------------------------------------------------
def _iterations(world_model, config: GBPConfig, plan, start, goal, wall: WallConfig) -> dict:
    """The plan GBP keeps after each iteration, from the first plan's trace: kept (I+1,) the iterate
    kept after i iterations (the best model cost so far; after the last one, the returned plan),
    model (I+1, H+1, S) its predicted path, real (I+1, H+1, S) the same actions executed open-loop,
    model_cost and real_cost (I+1,) their final distances to the goal."""
    trace = plan.trace[:, 0].cpu()  # (I+1, H, A)
    n = trace.shape[0]
    device = next(world_model.parameters()).device
    starts, goals = start.expand(n, -1), goal.expand(n, -1)
    with torch.no_grad():
        costs = planning_cost(rollout(world_model, starts.to(device), trace.to(device)), goals.to(device),
                              config.cost, config.discount).cpu()
    costs = torch.where(torch.isfinite(costs), costs, torch.full_like(costs, math.inf))
    # the iterate the planner returned; from there on it is the one kept (exact, whatever rounding says)
    final = int((trace - plan.actions[0].cpu()).abs().flatten(1).amax(1).argmin())
    kept, best = [], 0
    for i in range(n):
        best = final if i >= final else (i if costs[i] < costs[best] else best)
        kept.append(best)
    actions = trace[kept]
    actions[final:] = plan.actions[0].cpu()
    with torch.no_grad():
        model = rollout(world_model, starts.to(device), actions.to(device)).cpu()
    real = WallEnv(wall).rollout(starts, actions)
    return {"kept": kept, "actions": actions, "model": model, "real": real,
            "model_cost": (model[:, -1] - goals).norm(dim=-1), "real_cost": (real[:, -1] - goals).norm(dim=-1)}


class _PlanView:
    """Left: the arena with reality (the executed episode), the model's path of the plan kept at the
    shown iteration and the same actions in reality. Right: model and real final distance of the kept
    plan per iteration, the shown iteration marked."""
    figsize = (9.0, 4.2)

    def __init__(self, fig, wall: WallConfig):
        ax, cost_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
        self.arena = _ArenaPanel(ax, wall, {"reality": ("real", "black", "reality"),
                                            "plan real": ("real", PALETTE["orange"], "plan at iteration, in reality"),
                                            "plan model": ("model", PALETTE["purple"], "model: plan at iteration")})
        self.arena.lines["plan real"].set(linewidth=1.0, alpha=0.8)
        self.cost_ax, self.wall = cost_ax, wall
        self.model_cost, = cost_ax.plot([], [], color=PALETTE["purple"], label="model's predicted final distance")
        self.real_cost, = cost_ax.plot([], [], color=PALETTE["orange"], label="real final distance")
        self.marker = cost_ax.axvline(0, color="gray", linewidth=1)
        cost_ax.axhline(wall.success_radius, color="gray", linestyle=":", label="success radius")
        cost_ax.set(xlabel="GBP iteration", ylabel="final distance of the kept plan", yscale="log")
        cost_ax.legend(fontsize=7, loc="best", framealpha=0.6)
        _leave_room_for_titles(fig)
        self.click_axes = (ax,)
        self.caption = ""

    def update(self, drawing: dict, iteration: int | None = None) -> None:
        self.arena.paths(drawing)
        it = drawing.get("iterations")
        self.caption = ""
        if it is None:  # no trace (a plain ``explore_plan(draw=True)`` call), or the start or goal is in the wall
            for line in (self.model_cost, self.real_cost):
                line.set_data([], [])
            self.marker.set_visible(False)
            self.cost_ax.set_title("")
            self.arena.title(drawing["title"])
            return
        n = len(it["kept"])
        i = n - 1 if iteration is None else min(max(int(iteration), 0), n - 1)
        self.arena.path("plan model", it["model"][i])
        self.arena.path("plan real", it["real"][i])
        xs = np.arange(n)
        floor = 1e-3  # log axis: a perfect plan stays visible
        self.model_cost.set_data(xs, np.maximum(_np(it["model_cost"]), floor))
        self.real_cost.set_data(xs, np.maximum(_np(it["real_cost"]), floor))
        self.marker.set_xdata([i, i])
        self.marker.set_visible(True)
        self.cost_ax.set_xlim(-0.5, max(n - 0.5, 1))
        top = max(float(it["real_cost"].max()), float(it["model_cost"].max()), self.wall.success_radius)
        self.cost_ax.set_ylim(floor * 0.8, top * 1.5)
        self.cost_ax.set_title(f"iteration {i} of {n - 1}: the model predicts {float(it['model_cost'][i]):.2f}, "
                               f"reality {float(it['real_cost'][i]):.2f}", fontsize=9)
        self.arena.title(drawing["title"])
        self.caption = f" · shown: iteration {i} (kept iterate {it['kept'][i]})"


def _plan_data(world_model, start_x, start_y, goal_x, goal_y, log10_lr, iterations, horizon, restarts,
               execution: Execution, gbp: GBPConfig, wall: WallConfig, trace: bool = False):
    if not isinstance(execution, Execution):
        raise TypeError(f"execution must be a control.Execution (OPEN_LOOP or presets().mpc); got {execution!r}")
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y)
    if invalid:
        return invalid
    config = dataclasses.replace(gbp, iterations=int(iterations), lr=10.0 ** float(log10_lr), restarts=int(restarts))
    if trace:
        ep, plan, outcome = analysis.plan_one(world_model, config, start, goal, wall, execution, horizon=int(horizon),
                                              trace=True)  # the same plan, plus its iterations
    else:  # exactly the non-widget code path
        ep, plan, outcome = analysis.plan_one(world_model, config, start, goal, wall, execution, horizon=int(horizon))
    out = {"valid": True, **outcome}
    open_loop = execution.mode == "open-loop"
    title = (f"{'open-loop' if open_loop else 'MPC'}: reality {_verdict(out)}\n(model cost {out['model_cost']:.3f}; "
             f"{out['wm_evals'] / 1e3:.0f}k model evals, {out['seconds']:.2f} s)")
    drawing = {"start": start[0], "goal": goal[0], "reality": ep.states[0].cpu(), "title": title, "plan": plan}
    if trace:
        drawing["iterations"] = _iterations(world_model, config, plan, start, goal, wall)
    else:  # no trace: the first plan as the model sees it
        drawing["plan model"] = ep.first_plan_states[0].cpu()
        drawing["plan real"] = WallEnv(wall).rollout(start, plan.actions.cpu())[0]
    return out, drawing


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
    wall = wall or WallConfig()
    out, drawing = _plan_data(world_model, start_x, start_y, goal_x, goal_y, log10_lr, iterations, horizon,
                              restarts, execution, gbp, wall, trace=draw)
    _show_static(_PlanView, drawing, draw, wall=wall)
    return out


def _follow_iterations(ui: Explorer) -> None:
    """After a new plan: the iteration slider spans its iterations and shows the last (the plan executed)."""
    slider = ui.display_controls["iteration"]
    it = ui.drawing.get("iterations")
    last = 0 if it is None else len(it["kept"]) - 1
    slider.max = max(last, 1)
    slider.value = last
    slider.disabled = it is None


def planner_explorer(world_model, gbp: GBPConfig, mpc: Execution, wall: WallConfig | None = None) -> Explorer:
    """Controls for one task (sliders, or click the arena: start; shift-click: goal) and the GBP knobs
    (learning rate, iterations, horizon, restarts, open-loop or ``mpc``); each change re-plans and redraws
    model (dashed) versus reality (solid). The "show iteration" slider steps through the optimiser's
    iterations of the (first) plan without re-planning. The sliders start at ``gbp``'s learning rate,
    iterations and restarts, and ``gbp`` gives every other setting (``presets().gbp_explorer``: the
    series' GBP with a budget light enough to answer at once)."""
    wall = wall or WallConfig()
    log10_lr = round(math.log10(gbp.lr), 1)
    if not -3.0 <= log10_lr <= 0.0 or not 0 <= gbp.iterations <= 300 or not 1 <= gbp.restarts <= 16:
        raise ValueError(f"planner_explorer's sliders cover lr in [1e-3, 1], iterations in [0, 300] and restarts in "
                         f"[1, 16]; got {gbp.lr}, {gbp.iterations}, {gbp.restarts}")
    sliders = {**_task_sliders(wall, (-3.0, 3.0), (3.0, 2.0)),
               "log10_lr": W.FloatSlider(value=log10_lr, min=-3.0, max=0.0, step=0.1, description="log10 lr",
                                         continuous_update=False, readout_format=".1f"),
               "iterations": _int_slider(gbp.iterations, 0, 300, 5, "iterations"),
               "horizon": _int_slider(wall.max_steps, 5, 2 * wall.max_steps, 1, "horizon"),
               "restarts": _int_slider(gbp.restarts, 1, 16, 1, "restarts"),
               "execution": W.ToggleButtons(options=[("open-loop", OPEN_LOOP), ("MPC", mpc)], value=OPEN_LOOP,
                                            description="execution")}
    iteration = W.IntSlider(value=gbp.iterations, min=0, max=300, description="show iteration",
                            continuous_update=True, style={"description_width": "initial"})
    return Explorer(_plan_data, _PlanView, sliders,
                    {"world_model": world_model, "gbp": gbp, "wall": wall, "trace": True},
                    display={"iteration": iteration}, after=_follow_iterations, click="task")


# --------------------------------------------------------------------------------------------
# Notebook 05: the model's wall, round by round of online finetuning
# --------------------------------------------------------------------------------------------
class _RoundView:
    figsize = (9.6, 4.4)

    def __init__(self, fig, wall: WallConfig):
        ax_map, ax_push = fig.subplots(1, 2)
        self.map = _Image(fig, ax_map, wall, "magma", "|model end - real end|")
        self.map_panel = _ArenaPanel(ax_map, wall, {"leaks": ("real", PALETTE["cyan"], "model passes the wall")},
                                     goal=False, legend=None)
        leaks = self.map_panel.lines["leaks"]
        leaks.set(linestyle="none", marker=".", markersize=3, zorder=6)
        self.map_panel.start.set(markeredgecolor="white", zorder=7)
        ax_map.legend(handles=[leaks], loc="lower left", fontsize=7)
        self.push = _push_panel(ax_push, wall, "model")
        self.wall = wall
        self.click_axes = (ax_push, ax_map)

    def update(self, drawing: dict) -> None:
        self.map.set(drawing.get("grid_xy"), drawing.get("error"), drawing.get("vmax"))
        self.map_panel.paths(drawing)
        self.map_panel.title(drawing.get("map_title", drawing["title"]))
        self.push.paths(drawing)
        self.push.title(drawing["title"])
        self.push.relabel("model", drawing.get("model_label", "model"))


def _round_data(snapshots, round, start_x, start_y, angle_deg, n_steps, wall: WallConfig, resolution: int):
    r = int(round)
    if not 0 <= r < len(snapshots):
        raise ValueError(f"round must be in [0, {len(snapshots) - 1}]; got {r}")
    start = torch.tensor([[start_x, start_y]], dtype=torch.float32)
    invalid = _invalid_task(WallEnv(wall), start, None)
    if invalid:
        return invalid
    pushed = analysis.push(snapshots[r], start[0], angle_deg, n_steps, wall)
    pm = analysis.push_map(snapshots[r], angle_deg, n_steps, wall, resolution)
    out = {"valid": True, "round": r,
           **{k: pushed[k] for k in ("real_final", "model_final", "final_error", "model_passes_wall")},
           **{k: pm[k] for k in ("leak_fraction", "blocked_error", "free_error", "n_blocked")}}
    n = int(n_steps)
    return out, {"start": start[0], "real": pushed["real"], "model": pushed["model"], "model_label": f"model, round {r}",
                 "grid_xy": pm["grid_xy"], "error": pm["error"], "vmax": wall.max_step * n * math.sqrt(2),
                 "leaks": pm["grid_xy"][pm["leaks"]],
                 "map_title": f"round {r}: model error of a {n}-step push\n"
                              f"(lets {100 * out['leak_fraction']:.0f}% of blocked pushes through the wall)",
                 "title": f"one push: the model ends {out['final_error']:.2f} away from reality"}


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
    out, drawing = _round_data(snapshots, round, start_x, start_y, angle_deg, n_steps, wall, resolution)
    _show_static(_RoundView, drawing, draw, wall=wall)
    return out


def online_round_explorer(snapshots, wall: WallConfig | None = None, start=(-2.0, 3.0), angle_deg: float = 0.0,
                          n_steps: int = 6) -> Explorer:
    """A round slider over ``snapshots`` (index 0 = the model before finetuning, r = after round r) with
    sliders for a push (start, direction, steps; or click either arena to move the start); redraws
    ``show_round``'s picture."""
    wall = wall or WallConfig()
    if len(snapshots) < 1:
        raise ValueError("online_round_explorer needs at least one model")
    return Explorer(_round_data, _RoundView,
                    {"round": _int_slider(0, 0, len(snapshots) - 1, 1, "round"),
                     **_push_sliders(wall, start, angle_deg, n_steps)},
                    {"snapshots": list(snapshots), "wall": wall, "resolution": 41}, click="start")


# --------------------------------------------------------------------------------------------
# Notebook 06: the landscape and a plan as the adversarial budget epsilon grows
# --------------------------------------------------------------------------------------------
class _LandscapeView:
    """Left: a cost landscape over the arena (``plotting.plot_landscape``'s picture, with its success
    contour) and the task; right: the plan in the arena, reality (solid) and model (dashed)."""
    figsize = (9.6, 4.4)

    def __init__(self, fig, wall: WallConfig, model_color: str = PALETTE["purple"], width_ratios=(1, 1)):
        ax_map, ax_plan = fig.subplots(1, 2, gridspec_kw={"width_ratios": list(width_ratios)})
        self.map = _Image(fig, ax_map, wall, "viridis", "predicted final distance")
        self.map_panel = _ArenaPanel(ax_map, wall, {}, legend=None)
        self.plan = _ArenaPanel(ax_plan, wall, {"reality": ("real", "black", "reality"),
                                                "model": ("model", model_color, "model: plan")})
        self.wall, self.contour = wall, None
        self.click_axes = (ax_plan, ax_map)

    def update(self, drawing: dict) -> None:
        self.map.set(drawing.get("grid_xy"), drawing.get("cost"), drawing.get("vmax"))
        if self.contour is not None:  # a contour cannot be moved: it is the one artist drawn anew
            self.contour.remove()
            self.contour = None
        c = drawing.get("cost")
        r = self.wall.success_radius
        if c is not None and (c <= r).any() and (c > r).any():
            xy = _np(drawing["grid_xy"])
            self.contour = self.map_panel.ax.contour(xy[..., 0], xy[..., 1], _np(c), levels=[r], colors="white",
                                                     linewidths=1.0)
        self.map_panel.paths(drawing)
        self.map_panel.title(drawing.get("map_title", drawing["title"]))
        self.plan.paths(drawing)
        self.plan.title(drawing["title"])


def _epsilon_data(models: dict, eps, start_x, start_y, goal_x, goal_y, gbp: GBPConfig, wall: WallConfig,
                  resolution: int):
    key = float(eps)
    if key not in models:
        raise ValueError(f"eps must be one of {sorted(models)}; got {eps}")
    model = models[key]
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y)
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
    return out, {"start": start[0], "goal": goal[0], "grid_xy": grid, "cost": model_cost,
                 "vmax": float(real_cost.max()), "reality": ep.states[0].cpu(), "model": ep.first_plan_states[0].cpu(),
                 "map_title": f"model landscape, eps = {key:g}\n(roughness {out['roughness']:.2f}; "
                              f"real {out['real_roughness']:.2f})",
                 "title": f"open-loop GBP: reality {_verdict(out)}"}


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
    out, drawing = _epsilon_data(models, eps, start_x, start_y, goal_x, goal_y, gbp, wall, resolution)
    _show_static(_LandscapeView, drawing, draw, wall=wall)
    return out


def epsilon_explorer(models: dict, gbp: GBPConfig, wall: WallConfig | None = None,
                     start=(-3.0, 3.0), goal=(3.0, 2.0)) -> Explorer:
    """An eps slider over ``models`` ({eps: finetuned model}) plus start/goal sliders (or click either
    arena: start; shift-click: goal); redraws ``show_epsilon``'s picture (landscape slice and open-loop
    ``gbp`` plan)."""
    wall = wall or WallConfig()
    if not models:
        raise ValueError("epsilon_explorer needs at least one model, e.g. {0.0: base_model}")
    options = sorted(float(e) for e in models)
    return Explorer(_epsilon_data, _LandscapeView,
                    {"eps": W.SelectionSlider(options=options, value=options[0], description="epsilon",
                                              continuous_update=False),
                     **_task_sliders(wall, start, goal)},
                    {"models": {float(k): v for k, v in models.items()}, "gbp": gbp, "wall": wall, "resolution": 31},
                    click="task")


# --------------------------------------------------------------------------------------------
# Notebook 07: CEM's population and iterations
# --------------------------------------------------------------------------------------------
class _CEMView:
    figsize = (9.0, 4.2)

    def __init__(self, fig, wall: WallConfig):
        ax, cost_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
        self.arena = _ArenaPanel(ax, wall, {"reality": ("real", "black", "reality"),
                                            "model": ("model", PALETTE["green"], "model")})
        self.history, = cost_ax.plot([], [], marker="o", color=PALETTE["green"])
        cost_ax.axhline(wall.success_radius, color="gray", linestyle=":", label="success radius")
        cost_ax.set(xlabel="CEM round", ylabel="best predicted final distance", yscale="log",
                    title="what the model promises")
        cost_ax.legend(fontsize=8)
        self.cost_ax, self.wall = cost_ax, wall
        _leave_room_for_titles(fig)
        self.click_axes = (ax,)

    def update(self, drawing: dict) -> None:
        self.arena.paths(drawing)
        self.arena.title(drawing["title"])
        self.arena.relabel("model", drawing.get("model_label", "model"))
        history = drawing.get("history")
        if history is None:
            self.history.set_data([], [])
            return
        h = np.maximum(_np(history), 1e-4)  # log axis: a perfect plan stays visible
        self.history.set_data(np.arange(len(h)), h)
        self.cost_ax.set_xlim(-0.5, max(len(h) - 0.5, 1))
        self.cost_ax.set_ylim(min(h.min(), self.wall.success_radius) * 0.7, max(h.max(), self.wall.success_radius) * 1.4)


def _cem_data(models: dict, model: str, population, iterations, start_x, start_y, goal_x, goal_y, cem: CEMConfig,
              wall: WallConfig):
    if model not in models:
        raise ValueError(f"model must be one of {list(models)}; got {model!r}")
    population, iterations = int(population), int(iterations)
    if population < 2 or iterations < 0:
        raise ValueError(f"population must be >= 2 and iterations >= 0; got {population}, {iterations}")
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y)
    if invalid:
        return invalid
    config = dataclasses.replace(cem, population=population, elites=max(1, population // 10), iterations=iterations)
    ep, plan, outcome = analysis.plan_one(models[model], config, start, goal, wall, OPEN_LOOP)
    out = {"valid": True, "success": outcome["success"], "final_distance": outcome["final_distance"],
           "model_cost": float(plan.cost[0]),  # the best sequence's cost, as CEM ranked it
           "wm_evals": outcome["wm_evals"], "seconds": outcome["seconds"]}
    return out, {"start": start[0], "goal": goal[0], "reality": ep.states[0].cpu(),
                 "model": plan.predicted_states[0].cpu(), "model_label": f"model ({model})",
                 "history": plan.cost_history[:, 0].cpu(),
                 "title": f"CEM {population} x {iterations}: reality {_verdict(out)}\n"
                          f"({out['wm_evals'] / 1e3:.0f}k model evals, {out['seconds']:.2f} s)"}


def show_cem(models: dict, model: str, population: int, iterations: int, start_x: float, start_y: float,
             goal_x: float, goal_y: float, cem: CEMConfig, wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Plan one task open-loop with CEM (``cem`` with the sliders' population and iterations, elites =
    10% of the population) through ``models[model]`` and execute it for real (``analysis.plan_one``);
    draws the best plan as the model sees it (dashed), reality (solid), and the best model cost per round.

    Returns a dict: valid, success, final_distance (real), model_cost (the plan's predicted final
    distance), wm_evals (model step evaluations per task) and seconds.
    """
    wall = wall or WallConfig()
    out, drawing = _cem_data(models, model, population, iterations, start_x, start_y, goal_x, goal_y, cem, wall)
    _show_static(_CEMView, drawing, draw, wall=wall)
    return out


def cem_explorer(models: dict, cem: CEMConfig, wall: WallConfig | None = None, start=(-3.0, 3.0), goal=(3.0, 2.0)
                 ) -> Explorer:
    """A model chooser, population and iterations sliders (starting at ``cem``'s) and start/goal
    sliders (or click the arena: start; shift-click: goal); redraws ``show_cem``'s picture."""
    wall = wall or WallConfig()
    if not models:
        raise ValueError("cem_explorer needs at least one model, e.g. {'true dynamics': TrueDynamicsModel()}")
    names = list(models)
    return Explorer(_cem_data, _CEMView,
                    {"model": W.Dropdown(options=names, value=names[0], description="model"),
                     "population": _int_slider(cem.population, 10, 1000, 10, "population"),
                     "iterations": _int_slider(cem.iterations, 0, 30, 1, "iterations"),
                     **_task_sliders(wall, start, goal)},
                    {"models": dict(models), "cem": cem, "wall": wall}, click="task")


# --------------------------------------------------------------------------------------------
# Notebook 08: browse the final evaluation's runs task by task
# --------------------------------------------------------------------------------------------
class _ResultView:
    figsize = (4.5, 4.5)

    def __init__(self, fig, wall: WallConfig):
        self.arena = _ArenaPanel(fig.add_subplot(), wall, {"reality": ("real", "black", "reality"),
                                                           "model": ("model", PALETTE["purple"], "model: first plan")},
                                 markers=False)
        self.arena.lines["reality"].set(marker=".")

    def update(self, drawing: dict) -> None:
        self.arena.paths(drawing)
        self.arena.title(drawing["title"])


def _result_data(runs: dict, tasks: TaskSet, run: str, task: int, wall: WallConfig):
    if run not in runs:
        raise ValueError(f"run must be one of {list(runs)}; got {run!r}")
    i = int(task)
    if not 0 <= i < len(tasks):
        raise ValueError(f"task must be in [0, {len(tasks) - 1}]; got {task}")
    ep: Episodes = runs[run]
    out = {"run": run, "task": i, **analysis.episode_outcome(ep, tasks, i, wall)}
    verdict = "success" if out["success"] else f"miss by {out['final_distance']:.2f}"
    return out, {"start": tasks.starts[i].cpu(), "goal": tasks.goals[i].cpu(), "reality": ep.states[i].cpu(),
                 "model": None if ep.first_plan_states is None else ep.first_plan_states[i].cpu(),
                 "title": f"{run}\ntask {i}: {verdict} (run: {100 * out['run_success_rate']:.0f}%)"}


def show_result(runs: dict, tasks: TaskSet, run: str, task: int, wall: WallConfig | None = None,
                draw: bool = True) -> dict:
    """One evaluated task of one run (``runs``: {name: control.Episodes} on ``tasks``): the executed
    path (solid) and the model's first plan (dashed, if the planner had a model).

    Returns a dict: run, task and ``analysis.episode_outcome`` (success, final_distance, touched_wall,
    run_success_rate).
    """
    wall = wall or WallConfig()
    out, drawing = _result_data(runs, tasks, run, task, wall)
    _show_static(_ResultView, drawing, draw, wall=wall)
    return out


def results_explorer(runs: dict, tasks: TaskSet, wall: WallConfig | None = None) -> Explorer:
    """A run chooser and a task slider over already evaluated runs; redraws ``show_result``'s picture
    (no planning)."""
    if not runs:
        raise ValueError("results_explorer needs at least one run")
    wall = wall or WallConfig()
    names = list(runs)
    return Explorer(_result_data, _ResultView,
                    {"run": W.Dropdown(options=names, value=names[0], description="run", layout=W.Layout(width="420px")),
                     "task": _int_slider(0, 0, len(tasks) - 1, 1, "task")},
                    {"runs": dict(runs), "tasks": tasks, "wall": wall})


# --------------------------------------------------------------------------------------------
# Notebook 11: the disagreement penalty beta
# --------------------------------------------------------------------------------------------
class _PessimismView:
    """Left: the ensemble's disagreement field with the plan (model, dashed) and reality (solid). Right: step by
    step along the plan, the members' disagreement and how far the model's path has drifted from reality's."""
    figsize = (9.6, 4.4)

    def __init__(self, fig, wall: WallConfig):
        ax, step_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        self.map = _Image(fig, ax, wall, "magma", "disagreement (arena units)")
        self.arena = _ArenaPanel(ax, wall, {"reality": ("real", PALETTE["green"], "reality"),
                                            "model": ("model", PALETTE["cyan"], "model: plan")}, legend="lower left")
        self.step_ax = step_ax
        self.disagreement, = step_ax.plot([], [], color=PALETTE["purple"], marker=".", label="members' disagreement")
        self.error, = step_ax.plot([], [], color=PALETTE["orange"], marker=".", label="model's path vs reality's")
        step_ax.set(xlabel="step of the plan", ylabel="arena units", yscale="log")
        step_ax.legend(fontsize=7, loc="upper left", framealpha=0.6)
        _leave_room_for_titles(fig, w_pad=3.0)  # tight_layout places the colour bar's label flush against the next panel
        self.click_axes = (ax,)

    def update(self, drawing: dict) -> None:
        self.map.set(drawing.get("grid_xy"), drawing.get("field"), drawing.get("vmax"))
        self.arena.paths(drawing)
        self.arena.title(drawing["title"])
        d, e = drawing.get("step_disagreement"), drawing.get("step_error")
        if d is None:
            self.disagreement.set_data([], [])
            self.error.set_data([], [])
            self.step_ax.set_title("")
            return
        floor = 1e-4  # log axis: an exact zero stays visible
        xs = np.arange(len(d))
        self.disagreement.set_data(xs, np.maximum(_np(d), floor))
        self.error.set_data(xs, np.maximum(_np(e), floor))
        self.step_ax.set_xlim(-0.5, max(len(d) - 0.5, 1))
        self.step_ax.set_ylim(floor * 0.8, max(float(np.max(_np(d))), float(np.max(_np(e))), 1e-2) * 2)
        self.step_ax.set_title(drawing["step_title"], fontsize=9)


def _pessimism_data(ensemble, beta, planner, start_x, start_y, goal_x, goal_y, configs: dict, wall: WallConfig,
                    field: tuple):
    if planner not in configs:
        raise ValueError(f"planner must be one of {sorted(configs)}; got {planner!r}")
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y)
    if invalid:
        return invalid
    model = ensemble.with_beta(float(beta))
    ep, plan, outcome = analysis.plan_one(model, configs[planner], start, goal, wall, OPEN_LOOP)
    device = ensemble.inp_0_weight.device
    with torch.no_grad():  # open loop: reality ran the plan's actions, so the two paths line up step by step
        states, actions = plan.predicted_states.to(device), plan.actions.to(device)
        step_d = ensemble.disagreement(states[0, :-1], actions[0]).cpu()
        step_e = (plan.predicted_states[0, 1:].cpu() - ep.states[0, 1:].cpu()).norm(dim=-1)
    out = {"valid": True, "beta": float(beta), "planner": planner, "success": outcome["success"],
           "final_distance": outcome["final_distance"], "model_final_distance": outcome["model_final_distance"],
           "plan_disagreement": float(step_d.sum()), "plan_drift": float(step_e[-1]),
           "wm_evals": outcome["wm_evals"]}
    title = (f"{planner}, beta = {float(beta):g}: reality {_verdict(out)}\n(the model believes "
             f"{out['model_final_distance']:.2f}; {out['wm_evals'] / 1e3:.0f}k member evals)")
    step_title = (f"disagreement summed along the plan {out['plan_disagreement']:.2f}\n"
                  f"model vs reality at the end {out['plan_drift']:.2f}")
    grid, values = field
    return out, {"start": start[0], "goal": goal[0], "reality": ep.states[0].cpu(), "model": ep.first_plan_states[0].cpu(),
                 "grid_xy": grid, "field": values, "vmax": float(np.nanquantile(_np(values), 0.98)),
                 "title": title, "step_title": step_title, "step_disagreement": step_d, "step_error": step_e}


def show_pessimism(ensemble, beta: float, planner: str, start_x: float, start_y: float, goal_x: float, goal_y: float,
                   configs: dict, wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Plan one task open loop through ``ensemble`` (``ensemble.EnsembleWorldModel``) with disagreement
    penalty ``beta`` and the planner ``configs[planner]`` (e.g. {"GBP": ..., "CEM": ...}), execute it, and
    draw the plan and reality over the ensemble's disagreement field (``pessimism.disagreement_field``), with the
    disagreement along the plan and the distance between the model's path and reality's, step by step.

    Returns a dict: valid, beta, planner, success, final_distance (real), model_final_distance (what the
    ensemble believes), plan_disagreement (the members' disagreement summed over the plan's steps: what the
    penalty charges, over beta), plan_drift (the model's final state vs reality's), wm_evals (member
    evaluations). A start or
    goal inside the wall gives {"valid": False, "message": ...}.
    """
    wall = wall or WallConfig()
    field = pessimism.disagreement_field(ensemble, wall)
    out, drawing = _pessimism_data(ensemble, beta, planner, start_x, start_y, goal_x, goal_y, configs, wall, field)
    _show_static(_PessimismView, drawing, draw, wall=wall)
    return out


# The slider's stops: notebook 11's full tune grid, so that every beta it chose (up to 300) and the
# over-pessimism beyond it (1000) can be seen.
BETA_OPTIONS = PessimismPresets().beta_grid


def pessimism_explorer(ensemble, configs: dict, wall: WallConfig | None = None, start=(-3.5, 3.5),
                       goal=(2.5, 2.0), betas=BETA_OPTIONS) -> Explorer:
    """A beta slider (``betas``), a planner toggle over ``configs`` ({name: planner config}; light budgets keep
    it instant) and start/goal sliders (or click the arena: start; shift-click: goal); redraws
    ``show_pessimism``'s picture. The disagreement field is computed once."""
    wall = wall or WallConfig()
    if not configs:
        raise ValueError("pessimism_explorer needs at least one planner config, e.g. {'GBP': presets().pessimism.widget_gbp}")
    options = tuple(float(b) for b in betas)
    if not options or any(not (b >= 0) for b in options):
        raise ValueError(f"betas must be numbers >= 0; got {betas!r}")
    return Explorer(_pessimism_data, _PessimismView,
                    {"beta": W.SelectionSlider(options=options, value=options[0], description="beta",
                                               continuous_update=False),
                     "planner": W.ToggleButtons(options=list(configs), value=next(iter(configs)), description="planner"),
                     **_task_sliders(wall, start, goal)},
                    {"ensemble": ensemble, "configs": dict(configs), "wall": wall,
                     "field": pessimism.disagreement_field(ensemble, wall)},
                    click="task")


# --------------------------------------------------------------------------------------------
# Notebook 10: one plan in a harder world
# --------------------------------------------------------------------------------------------
class _WorldView:
    """Left: the task's arena with its own walls, the plan as the model sees it (dashed) and reality (solid).
    Right: step by step, how far the model's path has drifted from reality's."""
    figsize = (9.6, 4.4)

    def __init__(self, fig, wall: WallConfig):
        ax, step_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        draw_frame(ax, wall.half_size)  # the walls are the task's: drawn on each update
        self.ax, self.walls = ax, []
        self.arena = _ArenaPanel(ax, wall, {"reality": ("real", PALETTE["green"], "reality"),
                                            "model": ("model", PALETTE["cyan"], "model: plan")}, legend="lower left",
                                 arena=False)
        self.step_ax = step_ax
        self.error, = step_ax.plot([], [], color=PALETTE["orange"], marker=".", label="model's path vs reality's")
        step_ax.set(xlabel="step of the plan", ylabel="arena units", yscale="log")
        step_ax.legend(fontsize=7, loc="upper left", framealpha=0.6)
        _leave_room_for_titles(fig)
        self.click_axes = ()

    def update(self, drawing: dict) -> None:
        for patch in self.walls:
            patch.remove()
        self.walls = [self.ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color=WALL_COLOR, zorder=3))
                      for x0, x1, y0, y1 in drawing["walls"]]
        self.arena.paths(drawing)
        self.arena.title(drawing["title"])
        floor = 1e-4
        e = np.maximum(_np(drawing["step_error"]), floor)
        self.error.set_data(np.arange(1, len(e) + 1), e)
        self.step_ax.set_xlim(0.5, max(len(e) + 0.5, 1.5))
        self.step_ax.set_ylim(floor * 0.8, max(float(e.max()), 1e-2) * 2)
        self.step_ax.set_title(drawing["step_title"], fontsize=9)


def _world_data(world, model, planner, task, worlds: dict, models: dict, tasks: dict, configs: dict,
                wall: WallConfig):
    for name, options in (("world", worlds), ("model", models.get(world, {})), ("planner", configs.get(world, {}))):
        value = {"world": world, "model": model, "planner": planner}[name]
        if value not in options:
            raise ValueError(f"{name} must be one of {sorted(options)}; got {value!r}")
    w, wm, ts = worlds[world], models[world][model], tasks[world]
    if not 0 <= task < len(ts):
        raise ValueError(f"task must be in [0, {len(ts) - 1}]; got {task}")
    from .control import execute
    from .evaluation import model_evals
    from .planners import make_planner
    one = TaskSet(ts.starts[task:task + 1], ts.goals[task:task + 1], ts.split, ts.seed)
    ep = execute(w.env, make_planner(wm, configs[world][planner], w.action_bound, w.moves_positions), one, OPEN_LOOP)
    real, promised = ep.states[0].cpu(), ep.first_plan_states[0].cpu()
    goal = w.positions(one.goals[0].cpu())
    out = {"world": world, "model": model, "planner": planner, "task": int(task),
           "success": bool(w.success(real[-1:], one.goals.cpu())[0]),
           "final_distance": float((w.positions(real[-1]) - goal).norm()),
           "model_final_distance": float((w.positions(promised[-1]) - goal).norm()),
           "wm_evals": model_evals(float(ep.wm_forward[0]), float(ep.wm_backward[0]))}
    step_error = (w.positions(promised[1:]) - w.positions(real[1:])).norm(dim=-1)
    out["plan_drift"] = float(step_error[-1])
    title = (f"{world}, {model} model, {planner}: reality {_verdict(out)}\n(the model believes "
             f"{out['model_final_distance']:.2f})")
    step_title = f"model vs reality at the end: {out['plan_drift']:.2f}"
    return out, {"start": real[0, :2], "goal": goal, "reality": real[:, :2], "model": promised[:, :2],
                 "walls": w.wall_boxes(one.starts[0]), "title": title, "step_title": step_title,
                 "step_error": step_error}


def _world_inputs(worlds: dict, models: dict, tasks: dict, configs: dict) -> None:
    if not worlds:
        raise ValueError("world_explorer needs at least one world, e.g. harder.worlds(presets())")
    for what, given in (("models", models), ("tasks", tasks), ("configs", configs)):
        missing = sorted(set(worlds) - set(given))
        if missing:
            raise ValueError(f"{what} has nothing for the world(s) {missing}: give one entry per world")
    kinds = [list(models[w]) for w in worlds]
    if any(k != kinds[0] for k in kinds) or not kinds[0]:
        raise ValueError("every world needs the same model kinds, e.g. {'base': ..., 'online + adversarial': ...}")
    planners = [list(configs[w]) for w in worlds]
    if any(p != planners[0] for p in planners) or not planners[0]:
        raise ValueError("every world needs the same planner names, e.g. {'GBP': ..., 'CEM': ...}")


def world_explorer(worlds: dict, models: dict, tasks: dict, configs: dict, wall: WallConfig | None = None
                   ) -> Explorer:
    """Toggles for the world (``worlds``: {name: worlds.World}), the model kind (``models``: {world: {kind:
    model}}) and the planner (``configs``: {world: {name: planner config}}, light budgets keep it instant), and a
    slider over the world's tasks (``tasks``: {world: TaskSet}); redraws ``show_world``'s picture."""
    wall = wall or WallConfig()
    _world_inputs(worlds, models, tasks, configs)
    first = next(iter(worlds))
    n = min(len(t) for t in tasks.values())
    return Explorer(_world_data, _WorldView,
                    {"world": W.ToggleButtons(options=list(worlds), value=first, description="world"),
                     "model": W.ToggleButtons(options=list(models[first]), description="model"),
                     "planner": W.ToggleButtons(options=list(configs[first]), description="planner"),
                     "task": W.IntSlider(value=0, min=0, max=n - 1, description="task", continuous_update=False)},
                    {"worlds": dict(worlds), "models": dict(models), "tasks": dict(tasks), "configs": dict(configs),
                     "wall": wall})


def show_world(world: str, model: str, planner: str, task: int, worlds: dict, models: dict, tasks: dict, configs: dict,
               wall: WallConfig | None = None, draw: bool = True) -> dict:
    """Plan task ``task`` of world ``world`` open loop through ``models[world][model]`` with
    ``configs[world][planner]``, execute it in the world, and draw both paths among the task's own walls, with
    the distance between the model's path and reality's step by step.

    Returns a dict: world, model, planner, task, success, final_distance (real, to the goal's position),
    model_final_distance (what the model believes), plan_drift (the model's final position vs reality's),
    wm_evals (``evaluation.model_evals``).
    """
    wall = wall or WallConfig()
    _world_inputs(worlds, models, tasks, configs)
    out, drawing = _world_data(world, model, planner, task, worlds, models, tasks, configs, wall)
    _show_static(_WorldView, drawing, draw, wall=wall)
    return out


# --------------------------------------------------------------------------------------------
# Notebook 09: what the pixel observations look like
# --------------------------------------------------------------------------------------------
class _ObservationView:
    """The picture (agent blue, goal red, walls grey) and the two channels the models see."""
    figsize = (10.5, 3.8)

    def __init__(self, fig, wall: WallConfig):
        axes = fig.subplots(1, 3)
        h = wall.half_size
        self.images = []
        for ax, title, cmap in zip(axes, ("observation and goal", "channel 0: scene", "channel 1: agent"),
                                   (None, "gray_r", "Blues")):
            self.images.append(ax.imshow(np.zeros((2, 2, 3)) if cmap is None else np.zeros((2, 2)),
                                         extent=[-h, h, -h, h], cmap=cmap, vmin=0, vmax=1, interpolation="nearest"))
            ax.set_title(title, fontsize=9)
        self.axes = axes
        self.marker, = axes[0].plot([], [], "+", color="black", markersize=10, label="state")
        axes[0].legend(loc="lower left", fontsize=7)
        _leave_room_for_titles(fig, lines=1)
        self.click_axes = (axes[0],)

    def update(self, drawing: dict) -> None:
        if "picture" not in drawing:  # an invalid task: only the message
            self.axes[0].set_title(drawing["title"], fontsize=9)
            return
        self.images[0].set_data(_np(drawing["picture"]))
        self.images[1].set_data(_np(drawing["scene"]))
        self.images[2].set_data(_np(drawing["agent"]))
        for ax, title in zip(self.axes[1:], ("channel 0: scene", "channel 1: agent")):
            ax.set_title(title, fontsize=9)
        s = _np(drawing["start"])
        self.marker.set_data([s[0]], [s[1]])
        self.axes[0].set_title(drawing["title"], fontsize=9)


def _observation_data(start_x, start_y, goal_x, goal_y, size, wall: WallConfig):
    from . import pixels
    start, goal, invalid = _task(wall, start_x, start_y, goal_x, goal_y)
    if invalid:
        return invalid
    cfg = pixels.RenderConfig(size=int(size))
    obs, goal_obs = pixels.render(start, wall, cfg), pixels.render(goal, wall, cfg)
    centre = pixels.blob_centre(obs, wall)[0]
    out = {"valid": True, "size": int(size), "pixel_width": 2 * wall.half_size / int(size),
           "blob_centre_error": float((centre - start[0]).norm())}
    title = f"{int(size)} x {int(size)} px; the blob's centre is {out['blob_centre_error']:.3f} from the state"
    return out, {"start": start[0], "picture": pixels.rgb(obs, goal_obs)[0], "scene": obs[0, 0], "agent": obs[0, 1],
                 "title": title}


def show_observation(start_x: float, start_y: float, goal_x: float, goal_y: float, size: int = 64,
                     wall: WallConfig | None = None, draw: bool = True) -> dict:
    """The observation of the agent at (start_x, start_y) as ``pixels.render`` draws it at ``size`` pixels, with
    the goal's blob (the goal image's agent) in red, and the two channels. Returns a dict: valid, size,
    pixel_width (arena units), blob_centre_error (how far the blob's centre, read back with
    ``pixels.blob_centre``, is from the state). A start or goal in the wall gives {"valid": False, ...}."""
    wall = wall or WallConfig()
    out, drawing = _observation_data(start_x, start_y, goal_x, goal_y, size, wall)
    _show_static(_ObservationView, drawing, draw, wall=wall)
    return out


def observation_explorer(wall: WallConfig | None = None, size: int = 64) -> Explorer:
    """Start and goal sliders (or click the picture: start; shift-click: goal) and the image size; redraws
    ``show_observation``'s picture."""
    wall = wall or WallConfig()
    return Explorer(_observation_data, _ObservationView,
                    {**_task_sliders(wall, (-3.0, 3.0), (3.0, 2.0)),
                     "size": W.SelectionSlider(options=[16, 32, 64, 96], value=size, description="pixels",
                                               continuous_update=False)},
                    {"wall": wall}, click="task")
