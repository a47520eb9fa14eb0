"""A real JupyterLab driven by a real (headless) Chromium, for tests/test_browser.py.

``LabServer`` starts JupyterLab on 127.0.0.1 with a random token and its own throw-away config,
settings, workspaces and runtime folders; ``check_notebook`` is the one checking function: it opens a
notebook in a fresh browser context, runs all its cells, moves every control of every
``ipywidgets.interactive`` (slider drags and toggle-button clicks with the mouse, dropdown
selections) and asserts, after each change, that no output shows an error, that the page logged no
JavaScript error and that the widget's output changed. It raises ``AssertionError`` saying what went
wrong. Every wait is for a condition (kernel idle, cells executed, output changed); the timeouts only
bound them.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package "chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Console messages of type "error" that are not errors of the page under test. Each entry is
# (regular expression, why it is safe to ignore); everything else fails the check. Empty: with the
# news feed, update check and extension manager turned off, JupyterLab 4 on this setup logs no error
# at all (its "warning" and "debug" messages are not errors and are not checked).
IGNORED_CONSOLE_ERRORS: list[tuple[str, str]] = []
# The same for the voila app: its page template links Font Awesome from a CDN, which a machine
# without internet access (CI, this test's sandbox) cannot load; the widgets do not use it.
VOILA_IGNORED_CONSOLE_ERRORS = IGNORED_CONSOLE_ERRORS + [
    (r"Failed to load resource: net::ERR_NAME_NOT_RESOLVED \(at https://cdn\.jsdelivr\.net/npm/@fortawesome/",
     "voila's template loads Font Awesome from a CDN; offline it cannot"),
]
# Voila loads every installed JupyterLab extension unless told otherwise; Notebook 7's lab extension
# (installed with jupyter) fails to load in voila 0.5 and logs an error, and the app does not need it.
VOILA_DISABLED_EXTENSIONS = ["@jupyter-notebook/lab-extension"]

# Page-side helpers, installed once the notebook panel exists. window.__gbp holds the panel, counts
# the kernel's transitions to "idle" (every message the kernel handles, a widget's comm message
# included, ends with one) and knows how to read outputs.
_PAGE_JS = """
(gbp) => {
    const hash = (text) => {
        let h1 = 5381, h2 = 52711;
        for (let i = 0; i < text.length; i++) {
            const c = text.charCodeAt(i);
            h1 = (Math.imul(h1, 33) ^ c) >>> 0;
            h2 = (Math.imul(h2, 31) + c) >>> 0;
        }
        return `${text.length}:${h1.toString(16)}:${h2.toString(16)}`;
    };
    // What a widget shows. An ipywidgets.interactive: the text and every image of its output area.
    // A gbp_utils.widgets.Explorer: the pixels of its live (ipympl) figure and its output area (where
    // a callback's traceback goes). Its readout line is left out on purpose: it changes before the
    // figure is redrawn, and the figure is what must change.
    gbp.signature = (view) => {
        const parts = [];
        if (view.classList.contains('gbp-explorer')) {
            view.querySelectorAll('canvas').forEach(c => parts.push(c.width ? c.toDataURL() : ''));
            view.querySelectorAll('.widget-output').forEach(o => parts.push(o.innerText || ''));
        } else {
            const out = view.querySelector(':scope > .widget-output');
            if (!out) return '';
            parts.push(out.innerText || '');
            out.querySelectorAll('img').forEach(img => parts.push(img.getAttribute('src') || ''));
        }
        const text = parts.join('\\n');
        return text.trim() ? hash(text) : '';
    };
    // An explorer's live figure has been drawn (its canvas is no longer transparent).
    gbp.drawn = (view) => {
        const c = view.querySelector('canvas');
        if (!c || !c.width || !c.height) return false;
        return c.getContext('2d').getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data[3] > 0;
    };
    gbp.renderedErrors = () => {
        const found = [];
        const pattern = /Traceback \\(most recent call last\\)|^\\s*[A-Za-z_][\\w.]*(Error|Exception)\\b.*:/m;
        document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .forEach(node => {
                const text = node.innerText || '';
                if (pattern.test(text)) found.push(`rendered traceback: ${text.trim().slice(-600)}`);
            });
        return found;
    };
    return gbp;
}
"""

_INSTALL_JS = """
() => {
    const app = window.jupyterapp;
    const panel = app && app.shell.currentWidget;
    if (!panel || !panel.sessionContext || !panel.content || !panel.content.model) return false;
    if (window.__gbp && window.__gbp.panel === panel) return true;
    const gbp = (""" + _PAGE_JS.strip() + """)({panel, idle: 0});
    panel.sessionContext.statusChanged.connect((_, status) => { if (status === 'idle') gbp.idle += 1; });
    gbp.status = () => {
        const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
        return kernel ? kernel.status : 'no kernel';
    };
    gbp.codeCells = () => {
        const cells = panel.content.model.cells, out = [];
        for (let i = 0; i < cells.length; i++) {
            const cell = cells.get(i);
            if (cell.type === 'code' && cell.sharedModel.getSource().trim()) out.push([i, cell]);
        }
        return out;
    };
    // Error outputs: of cells (from the notebook model) and anywhere on the page, widget outputs
    // included (JupyterLab renders a traceback with the stderr MIME type).
    gbp.errors = () => {
        const found = [];
        for (const [i, cell] of gbp.codeCells()) {
            for (let j = 0; j < cell.outputs.length; j++) {
                const output = cell.outputs.get(j);
                if (output.type === 'error') {
                    const raw = output.toJSON();
                    found.push(`cell ${i}: ${raw.ename}: ${raw.evalue}`);
                }
            }
        }
        found.push(...gbp.renderedErrors());
        document.querySelectorAll('.jp-OutputArea-output:not([data-mime-type])').forEach(node => {
            if (!node.querySelector(':scope > .lm-Widget') && /Error displaying widget/.test(node.textContent))
                found.push(`widget not displayed: ${node.textContent.trim()}`);
        });
        return found;
    };
    gbp.pending = () => gbp.codeCells().filter(([i, cell]) => cell.executionCount === null).length;
    gbp.widgetOutputs = () => {
        let n = 0;
        for (const [i, cell] of gbp.codeCells()) {
            for (let j = 0; j < cell.outputs.length; j++) {
                if (cell.outputs.get(j).data['""" + WIDGET_VIEW + """']) n += 1;
            }
        }
        return n;
    };
    // The element that scrolls the notebook (JupyterLab 4: the windowed list's outer node).
    gbp.scroller = () => panel.content.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
    window.__gbp = gbp;
    return true;
}
"""


def find_chromium() -> Path | None:
    """Debian's Chromium binary, if installed."""
    return CHROMIUM if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_notebook(source: Path | nbformat.NotebookNode, folder: Path, name: str | None = None) -> str:
    """Write a copy of ``source`` (a path or a notebook) into ``folder`` with every output, execution
    count and saved widget state removed; return the copy's file name."""
    nb = nbformat.read(source, as_version=4) if isinstance(source, (str, Path)) else source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    name = name or Path(source).name
    nbformat.write(nb, folder / name)
    return name


def _wait_for_server(process: subprocess.Popen, log_path: Path, probe, what: str, timeout: float) -> None:
    """Poll ``probe()`` until it stops raising URLError/ConnectionError; fail if ``process`` exits or
    ``timeout`` seconds pass (the process is then stopped), quoting the end of its log."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}; log:\n{log_path.read_text()[-3000:]}")
        try:
            probe()
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                _stop(process)
                raise RuntimeError(f"{what} did not answer within {timeout:.0f} s; "
                                   f"log:\n{log_path.read_text()[-3000:]}") from None
            time.sleep(0.25)  # poll interval while the server starts


def _stop(process: subprocess.Popen | None) -> None:
    """Terminate a server we started (kill it if it does not exit within 30 s)."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class LabServer:
    """JupyterLab serving ``root`` on 127.0.0.1:<free port> with a random token. ``env`` is the
    environment of the server and so of its kernels."""

    root: Path
    work: Path
    env: dict
    log_path: Path
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str, workspace: str) -> str:
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    def _configure(self) -> dict:
        """Throw-away Jupyter folders; page config and setting defaults that keep dialogs away."""
        folders = {name: self.work / name for name in ("config", "data", "runtime", "settings", "workspaces",
                                                       "ipython")}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        labconfig = folders["config"] / "labconfig"
        labconfig.mkdir(exist_ok=True)
        # exposeAppInBrowser: window.jupyterapp, to run all cells and follow the kernel's status.
        # buildCheck/buildAvailable: no "build recommended" dialog.
        (labconfig / "page_config.json").write_text(json.dumps(
            {"exposeAppInBrowser": True, "buildCheck": False, "buildAvailable": False}))
        (labconfig / "default_setting_overrides.json").write_text(json.dumps({
            # no "Would you like to receive official Jupyter news?" toast, no update check
            "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
            # every cell in the DOM (no virtual scrolling), so outputs can be checked and photographed
            # and no blank space after the last cell, so the notebook's height is its content's
            "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none", "scrollPastEnd": False},
            # nothing is written back, not even to the temporary copies
            "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
        }))
        return {"JUPYTER_CONFIG_DIR": str(folders["config"]), "JUPYTER_DATA_DIR": str(folders["data"]),
                "JUPYTER_RUNTIME_DIR": str(folders["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(folders["settings"]),
                "JUPYTERLAB_WORKSPACES_DIR": str(folders["workspaces"]), "IPYTHONDIR": str(folders["ipython"])}

    def start(self, timeout: float = 120.0) -> LabServer:
        env = {**self.env, **self._configure()}
        self.port = _free_port()
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.terminals_enabled=False", "--ServerApp.allow_root=True",
               "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url="]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.process = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        _wait_for_server(self.process, self.log_path, lambda: self.api("GET", "/api/status"), "JupyterLab", timeout)
        return self

    def api(self, method: str, path: str):
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, timeout: float = 60.0) -> None:
        """Delete every session (which shuts its kernel down) and wait until no kernel runs."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")
        deadline = time.monotonic() + timeout
        while self.api("GET", "/api/kernels"):
            if time.monotonic() > deadline:
                raise RuntimeError("kernels still running after shutdown")
            time.sleep(0.25)

    def stop(self) -> None:
        _stop(self.process)


# --------------------------------------------------------------------------------------------
# The checker
# --------------------------------------------------------------------------------------------
@dataclass
class Timeouts:
    """Milliseconds. Every wait is for a condition; these only bound how long it may take."""

    page: float = 120_000  # the lab loads and the kernel is ready
    run_all: float = 600_000  # every cell has run (the slowest notebook takes about 90 s)
    render: float = 60_000  # widget views appear with their first output
    change: float = 300_000  # the kernel has handled one change (callback included)
    redraw: float = 10_000  # once the kernel is idle again, the new output is on the page


class _JSErrors:
    """Uncaught exceptions and console errors of a page, minus IGNORED_CONSOLE_ERRORS."""

    def __init__(self, page, ignore: list[tuple[str, str]] = IGNORED_CONSOLE_ERRORS):
        self.errors: list[str] = []
        self.ignored: list[str] = []
        self.ignore = ignore
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught exception: {exc}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        text = f"console error: {message.text} (at {location.get('url', '?')})"
        if any(re.search(pattern, text) for pattern, _ in self.ignore):
            self.ignored.append(text)
        else:
            self.errors.append(text)

    def check(self, when: str) -> None:
        assert not self.errors, f"JavaScript errors {when}:\n" + "\n".join(self.errors)


def _wait(page, expression: str, what: str, timeout: float, arg=None, polling: float = 100) -> None:
    """Wait until ``expression`` (a JavaScript function of ``arg``) is truthy; a timeout fails the check."""
    try:
        page.wait_for_function(expression, arg=arg, timeout=timeout, polling=polling)
    except PlaywrightTimeout as exc:
        raise AssertionError(f"timed out after {timeout / 1000:.0f} s waiting for {what} ({exc})") from None


def _wait_for_kernel(page, expression: str, what: str, timeout: float, arg=None, polling: float = 100) -> None:
    """``_wait`` for a condition on the kernel; fails at once if the kernel dies."""
    _wait(page, f"(arg) => window.__gbp.status() === 'dead' || ({expression})(arg)", what, timeout, arg, polling)
    assert page.evaluate("() => window.__gbp.status()") != "dead", f"the kernel died while waiting for {what}"


def _check_outputs(page, js_errors: _JSErrors, when: str) -> None:
    errors = page.evaluate("() => window.__gbp.errors()")
    assert not errors, f"error output {when}:\n" + "\n".join(errors)
    js_errors.check(when)


def _control_label(control) -> str:
    label = control.query_selector(":scope > .widget-label")
    text = label.inner_text().strip() if label else ""
    return text or control.get_attribute("class")


def _slider_value(control) -> str:
    readout = control.query_selector(".widget-readout")
    handle = control.query_selector(".noUi-handle")
    return f"{readout.inner_text().strip() if readout else ''}|{handle.get_attribute('aria-valuenow')}"


def _drag_slider(page, control, mark) -> tuple[str, str]:
    """Drag the slider's handle with the mouse toward the middle of its range, farther each time the
    value does not change (a slider over few options needs a longer drag); return (old, new) value.
    The widget uses continuous_update=False: the value reaches the kernel when the mouse is released."""
    handle, base = control.query_selector(".noUi-handle"), control.query_selector(".noUi-base")
    assert handle and base, f"slider {_control_label(control)!r} has no noUiSlider handle"
    before = _slider_value(control)
    for distance in (0.1, 0.25, 0.5, 1.0):
        handle.scroll_into_view_if_needed()
        h, b = handle.bounding_box(), base.bounding_box()
        x, y = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
        fraction = (x - b["x"]) / b["width"]
        target = min(max(fraction + (distance if fraction <= 0.5 else -distance), 0.0), 1.0)
        mark()
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(b["x"] + target * b["width"], y, steps=8)
        page.mouse.up()
        after = _slider_value(control)
        if after != before:
            return before, after
    raise AssertionError(f"dragging slider {_control_label(control)!r} with the mouse did not change its value")


def _click_toggle(control, mark) -> tuple[str, str]:
    """Click the first toggle button that is not selected."""
    buttons = control.query_selector_all(".widget-toggle-button")
    active = [b for b in buttons if "mod-active" in (b.get_attribute("class") or "").split()]
    other = [b for b in buttons if b not in active]
    assert other, f"toggle buttons {_control_label(control)!r} offer no other choice"
    before = active[0].inner_text().strip() if active else ""
    mark()
    other[0].click()
    assert "mod-active" in (other[0].get_attribute("class") or "").split(), "the clicked toggle button is not active"
    return before, other[0].inner_text().strip()


def _select_dropdown(control, mark) -> tuple[str, str]:
    """Select the next option of the dropdown."""
    select = control.query_selector("select")
    options = select.query_selector_all("option")
    assert len(options) > 1, f"dropdown {_control_label(control)!r} offers no other choice"
    current = select.evaluate("s => s.selectedIndex")
    choice = (current + 1) % len(options)
    select.scroll_into_view_if_needed()
    mark()
    select.select_option(index=choice)
    assert select.evaluate("s => s.selectedIndex") == choice, f"dropdown {_control_label(control)!r} did not change"
    return options[current].inner_text().strip(), options[choice].inner_text().strip()


# class of a control's element -> (kind, how to change it); selectors change the meaning of the sliders
_OPERATIONS = {"widget-slider": ("slider", _drag_slider),
               "widget-toggle-buttons": ("toggle", lambda page, control, mark: _click_toggle(control, mark)),
               "widget-dropdown": ("dropdown", lambda page, control, mark: _select_dropdown(control, mark))}
_INPUTS = "input, select, textarea, button, .noUi-handle"


def _operation(control):
    classes = (control.get_attribute("class") or "").split()
    for cls, operation in _OPERATIONS.items():
        if cls in classes:
            return operation
    raise AssertionError(f"a control this check cannot operate, with classes {classes}: "
                         f"teach tests/browser_lab.py how to change it")


# Free points of the default arena for clicks: two candidates each, the farther from where the
# start (goal) already is is clicked.
CLICK_POINTS = {"start": [(-3.5, -3.5), (-2.5, 1.5)], "goal": [(3.5, -3.5), (2.5, 1.5)]}


def _named_slider(interact, name: str):
    """The slider of an explorer whose label is ``name`` (e.g. "start x"), or None."""
    for control in interact.query_selector_all(".gbp-controls > .widget-slider"):
        if _control_label(control) == name:
            return control
    return None


def _slider_number(control) -> float:
    return float(control.query_selector(".widget-readout").inner_text().strip().replace("\u2212", "-"))


class _Checker:
    """One open page (a notebook in JupyterLab, or a voila app): change controls, click figures and
    check what follows. ``kernel``: the page can tell when the kernel is idle (JupyterLab); without it
    (voila) the check waits for the output to change, up to ``Timeouts.change``."""

    def __init__(self, page, js_errors: _JSErrors, timeouts: Timeouts, log: list[str], kernel: bool = True):
        self.page, self.js_errors, self.t, self.log, self.kernel = page, js_errors, timeouts, log, kernel

    def _act(self, w: int, interact, kind: str, label: str, operate) -> bool:
        """Do ``operate(page, mark) -> (old, new)`` on widget number ``w``; wait until the kernel has
        handled it; assert no error output and no JavaScript error; return whether the output changed."""
        page, t = self.page, self.t
        before = page.evaluate("(el) => window.__gbp.signature(el)", interact)
        idle = {}
        started = time.monotonic()

        def mark():  # the kernel's idle count just before the action that changes the value
            if self.kernel:
                idle["n"] = page.evaluate("() => window.__gbp.idle")

        old, new = operate(page, mark)
        what = f"widget {w}, {kind} {label!r}: {old} -> {new}"
        if self.kernel:
            _wait_for_kernel(page, "(n) => window.__gbp.idle > n && window.__gbp.status() === 'idle'",
                             f"the kernel to finish handling the change of {what}", t.change, arg=idle["n"])
        # The kernel is idle, so every output of the callback has reached the page; give it time to render
        # (the live figure is drawn when the page asks for it, after the callback).
        try:
            page.wait_for_function("([el, before]) => window.__gbp.signature(el) !== before",
                                   arg=[interact, before], timeout=t.redraw if self.kernel else t.change,
                                   polling=100)
            changed = True
        except PlaywrightTimeout:
            changed = False
        _check_outputs(page, self.js_errors, f"after {what}")
        self.log.append(f"{what}: output {'changed' if changed else 'UNCHANGED'} ({time.monotonic() - started:.1f} s)")
        return changed

    def change(self, w: int, interact, control) -> bool:
        """Change ``control`` of widget number ``w`` (``_act``)."""
        kind, operate = _operation(control)
        return self._act(w, interact, kind, _control_label(control), lambda page, mark: operate(page, control, mark))

    def click(self, w: int, interact, which: str, how: str = "click") -> None:
        """Click the live figure of explorer ``w`` at a free point of its (first) arena to move the
        ``which`` ("start" or "goal"; ``how``: "click", "shift-click", or "toggle": a click with the
        "click sets" toggle on "goal"); assert the output changed and the {which} x / y sliders moved
        to the point (to their step)."""
        page = self.page
        boxes = json.loads(interact.query_selector(".gbp-readout-text").get_attribute("data-arena") or "[]")
        assert boxes, f"widget {w}: the explorer says it has no clickable axes"
        (x0, y0, width, height, xmin, xmax, ymin, ymax) = boxes[0]
        canvas = interact.query_selector("canvas")
        assert canvas, f"widget {w}: no live figure (canvas) to click"
        sx, sy = _named_slider(interact, f"{which} x"), _named_slider(interact, f"{which} y")
        assert sx and sy, f"widget {w}: no {which} x / {which} y sliders"
        current = (_slider_number(sx), _slider_number(sy))
        target = max(CLICK_POINTS[which], key=lambda p: math.dist(p, current))
        if how == "toggle":
            toggle = interact.query_selector(".gbp-click-target")
            assert toggle, f"widget {w}: no 'click sets' toggle"
            [b for b in toggle.query_selector_all(".widget-toggle-button") if b.inner_text().strip() == "goal"][0].click()

        def operate(page, mark):
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            px = box["x"] + (x0 + (target[0] - xmin) / (xmax - xmin) * width) * box["width"]
            py = box["y"] + (1 - (y0 + (target[1] - ymin) / (ymax - ymin) * height)) * box["height"]
            mark()
            if how == "shift-click":
                page.keyboard.down("Shift")
            page.mouse.click(px, py)
            if how == "shift-click":
                page.keyboard.up("Shift")
            return current, target

        changed = self._act(w, interact, how, f"arena -> {which}", operate)
        if how == "toggle":
            [b for b in interact.query_selector_all(".gbp-click-target .widget-toggle-button")
             if b.inner_text().strip() == "start"][0].click()
        assert changed, f"widget {w}: the output did not change after a {how} on the arena (to move the {which})"
        moved = (_slider_number(sx), _slider_number(sy))
        # within one slider step (0.05): the click lands on a pixel, about 0.02 arena units wide
        assert max(abs(moved[0] - target[0]), abs(moved[1] - target[1])) < 0.051, \
            f"widget {w}: after a {how} at {target} the {which} sliders show {moved}"

    def check_widget(self, w: int, interact) -> None:
        """Every control once. Sliders first; a slider that leaves the output unchanged (a knob that only
        matters in another mode, e.g. the random walk's persistence while the expert is selected) is
        moved again after each toggle or dropdown change and must change the output in one of those
        states. Toggles and dropdowns must change the output at once. An explorer whose figure takes
        clicks is then clicked: the start (and the goal, by shift-click and with the toggle) must move."""
        explorer = "gbp-explorer" in (interact.get_attribute("class") or "").split()
        if explorer:
            controls = [c for c in interact.query_selector_all(".gbp-controls > *")
                        if "gbp-click-target" not in (c.get_attribute("class") or "").split()]
        else:
            children = interact.query_selector_all(":scope > *")
            controls = [c for c in children if "widget-output" not in (c.get_attribute("class") or "").split()]
            assert len(children) - len(controls) == 1, f"widget {w}: expected one output area"
        assert controls, f"widget {w} has no controls"
        sliders = [c for c in controls if _operation(c)[0] == "slider"]
        selectors = [c for c in controls if c not in sliders]
        pending = [c for c in sliders if not self.change(w, interact, c)]
        for selector in selectors:
            assert self.change(w, interact, selector), \
                f"widget {w}: the output did not change after changing {_control_label(selector)!r}"
            pending = [c for c in pending if not self.change(w, interact, c)]
        assert not pending, (f"widget {w}: the output did not change after moving "
                             f"{[_control_label(c) for c in pending]}"
                             + (" (in every state of the other controls tried)" if selectors else ""))
        if explorer and self.clickable(interact):
            self.click(w, interact, "start")
            if interact.query_selector(".gbp-click-target"):
                self.click(w, interact, "goal", "shift-click")
                self.click(w, interact, "goal", "toggle")

    @staticmethod
    def clickable(interact) -> bool:
        readout = interact.query_selector(".gbp-readout-text")
        return bool(readout and json.loads(readout.get_attribute("data-arena") or "[]"))


def _new_page(browser, height: int, ignore: list[tuple[str, str]] = IGNORED_CONSOLE_ERRORS):
    """A fresh browser context 1280 px wide and its page, with its JavaScript errors recorded (but those
    matching ``ignore``) and an empty log: (context, page, js_errors, log)."""
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    return context, page, _JSErrors(page, ignore), []


def check_notebook(browser, lab: LabServer, notebook: str, screenshot: Path | None = None,
                   timeouts: Timeouts | None = None, min_widgets: int = 1) -> list[str]:
    """Open ``notebook`` (a file under ``lab.root``) in JupyterLab, run all cells, then change every
    control of every interactive widget (``_Checker.check_widget``); after each change assert that no
    output is an error and that the page logged no JavaScript error, and that the widget's output
    changed. Save a screenshot of the whole notebook to ``screenshot`` if given. Returns one line per
    step; the AssertionError of a failed check ends with the steps done before it. Kernels are shut
    down on the way out, pass or fail."""
    t = timeouts or Timeouts()
    context, page, js_errors, log = _new_page(browser, 900)
    try:
        page.goto(lab.url(notebook, f"gbp-{secrets.token_hex(4)}"), timeout=t.page)
        _wait(page, _INSTALL_JS, "JupyterLab to show the notebook", t.page)
        _wait_for_kernel(page, "() => window.__gbp.status() === 'idle'", "the kernel to start", t.page)
        js_errors.check("while the notebook opened")

        started = time.monotonic()
        # Not awaited here (the command's promise settles when the last cell has run): the wait below
        # bounds it.
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        _wait_for_kernel(page, "() => window.__gbp.status() === 'idle' && "
                               "(window.__gbp.pending() === 0 || window.__gbp.errors().length > 0)",
                         "every code cell to run", t.run_all, polling=250)
        _check_outputs(page, js_errors, "after running all cells")
        log.append(f"ran all cells in {time.monotonic() - started:.1f} s")

        # The widget outputs of the cells (ipywidgets' renderer is the output renderer without a
        # data-mime-type), each settled: showing a view (an interactive with its first output), hidden
        # (its widget was closed, e.g. a finished progress bar with leave=False) or showing a message.
        n_outputs = page.evaluate("() => window.__gbp.widgetOutputs()")
        outputs = (".jp-Notebook .jp-Cell-outputArea > .jp-OutputArea-child > "
                   ".jp-OutputArea-output:not([data-mime-type])")
        _wait(page,
            """([selector, n]) => {
                const outputs = [...document.querySelectorAll(selector)];
                return outputs.length === n && outputs.every(o => {
                    if (o.classList.contains('lm-mod-hidden')) return true;
                    const view = o.querySelector(':scope > .lm-Widget');
                    if (!view) return o.textContent.trim() !== '';
                    if (view.classList.contains('gbp-explorer'))
                        return window.__gbp.signature(view) !== '' && window.__gbp.drawn(view);
                    return !view.classList.contains('widget-interact') || window.__gbp.signature(view) !== '';
                });
            }""", f"the {n_outputs} widget outputs to render", t.render, arg=[outputs, n_outputs])
        interacts = []
        for output in page.query_selector_all(outputs):
            view = output.query_selector(":scope > .lm-Widget")
            classes = view.get_attribute("class") if view else ""
            if "lm-mod-hidden" in output.get_attribute("class").split():
                log.append("closed widget (hidden by JupyterLab), not operated")
            elif view is None:
                raise AssertionError(f"a widget output shows no widget: {output.inner_text().strip()!r}")
            elif {"widget-interact", "gbp-explorer"} & set(classes.split()):
                interacts.append(view)
            elif view.query_selector(_INPUTS):
                raise AssertionError(f"a widget with controls that is neither ipywidgets.interactive nor a "
                                     f"widgets.Explorer: {classes}")
            else:
                log.append(f"display-only widget (no controls), not operated: {classes}")
        assert len(interacts) >= min_widgets, \
            f"{notebook}: {len(interacts)} interactive widgets, expected at least {min_widgets}"

        checker = _Checker(page, js_errors, t, log)
        for w, interact in enumerate(interacts, 1):
            checker.check_widget(w, interact)

        return _finish(page, js_errors, log, screenshot, _screenshot_whole_notebook)
    except AssertionError as exc:
        raise AssertionError(f"{notebook}: {exc}\n-- steps done before:\n" + "\n".join(log)) from None
    finally:
        context.close()
        lab.shutdown_kernels()


def _finish(page, js_errors: _JSErrors, log: list[str], screenshot: Path | None, photograph) -> list[str]:
    """The end of every check: no error output and no JavaScript error; the screenshot
    (``photograph(page, path)`` says what it shows); the console errors ignored. Returns the log."""
    _check_outputs(page, js_errors, "at the end")
    if screenshot is not None:
        started = time.monotonic()
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        where = photograph(page, screenshot)
        log.append(f"screenshot {screenshot}: {where} ({time.monotonic() - started:.1f} s)")
    if js_errors.ignored:
        log.append("ignored console errors: " + "; ".join(js_errors.ignored))
    return log


def _screenshot_page(page, path: Path) -> str:
    page.screenshot(path=str(path), full_page=True)
    return "the whole page"


def _screenshot_whole_notebook(page, path: Path, max_height: int = 30_000) -> str:
    """JupyterLab scrolls inside the notebook panel, so a "full page" screenshot of the normal window
    shows one screen of it: make the window as tall as the notebook first (up to ``max_height``
    pixels), then take it. Returns where the interactive widgets are in the picture."""
    measure = """() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(() => {
        const s = window.__gbp.scroller();
        resolve([window.innerHeight - s.clientHeight, s.clientHeight, s.scrollHeight]);
    })))"""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    for _ in range(5):  # the notebook's height depends on the window's, through the layout: settle it
        extra, visible, height = page.evaluate(measure)
        target = min(extra + height + 20, max_height)
        if height <= visible + 2 or page.viewport_size["height"] >= target:
            break
        page.set_viewport_size({"width": 1280, "height": int(target)})
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    boxes = [view.bounding_box() for view in page.query_selector_all(".jp-Notebook .widget-interact, "
                                                                    ".jp-Notebook .gbp-explorer")]
    where = ", ".join(f"y {b['y']:.0f}-{b['y'] + b['height']:.0f}" for b in boxes if b)
    cropped = " (cropped: the notebook is taller)" if height > visible + 2 else ""
    return f"{page.viewport_size['height']} px tall{cropped}; interactive widgets at {where}"


# --------------------------------------------------------------------------------------------
# Voila: a notebook as an app without code cells (the lecture demo)
# --------------------------------------------------------------------------------------------
@dataclass
class VoilaServer:
    """``voila <notebook> --no-browser`` on 127.0.0.1:<free port>, with ``env`` for it and its kernel."""

    notebook: Path
    env: dict
    log_path: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 120.0) -> VoilaServer:
        self.port = _free_port()
        cmd = [sys.executable, "-m", "voila", str(self.notebook), "--no-browser", "--Voila.ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               *[f"--VoilaConfiguration.extension_denylist={name}" for name in VOILA_DISABLED_EXTENSIONS]]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(cmd, env=self.env, cwd=self.notebook.parent, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # up once the port accepts connections (opening the app itself would start a kernel)
        probe = lambda: socket.create_connection(("127.0.0.1", self.port), timeout=5).close()  # noqa: E731
        _wait_for_server(self.process, self.log_path, probe, "voila", timeout)
        return self

    def stop(self) -> None:
        _stop(self.process)


def check_voila(browser, server: VoilaServer, screenshot: Path | None = None,
                timeouts: Timeouts | None = None) -> list[str]:
    """Open the voila app, wait for its explorer's live figure, move one slider and click the arena
    (the start must follow); after each, the output must change, no output may be an error and the
    page may log no JavaScript error. No code cell may be shown."""
    t = timeouts or Timeouts()
    context, page, js_errors, log = _new_page(browser, 1000, VOILA_IGNORED_CONSOLE_ERRORS)
    try:
        started = time.monotonic()
        page.goto(server.url, timeout=t.page)
        page.evaluate("() => { const gbp = (" + _PAGE_JS.strip() + ")({}); gbp.errors = gbp.renderedErrors; "
                      "window.__gbp = gbp; }")
        _wait(page, "() => { const v = document.querySelector('.gbp-explorer'); "
                    "return v && window.__gbp.drawn(v) && window.__gbp.signature(v) !== ''; }",
              "the app's explorer and its live figure", t.page, polling=250)
        sources = [cell.source for cell in nbformat.read(server.notebook, as_version=4).cells
                   if cell.cell_type == "code"]
        shown = page.inner_text("body")  # the text a reader sees (hidden elements excluded)
        assert not any(line.strip() and line.strip() in shown for source in sources for line in source.splitlines()
                       if len(line.strip()) > 20), "voila shows code"
        errors = page.evaluate("() => window.__gbp.renderedErrors()")
        assert not errors, "error output while the app loaded:\n" + "\n".join(errors)
        js_errors.check("while the app loaded")
        log.append(f"app ready in {time.monotonic() - started:.1f} s")
        view = page.query_selector(".gbp-explorer")
        checker = _Checker(page, js_errors, t, log, kernel=False)
        slider = _named_slider(view, "goal y")
        assert slider, "the app's explorer has no 'goal y' slider"
        assert checker.change(1, view, slider), "the app's output did not change after moving 'goal y'"
        checker.click(1, view, "start")
        return _finish(page, js_errors, log, screenshot, _screenshot_page)
    except AssertionError as exc:
        raise AssertionError(f"voila {server.notebook.name}: {exc}\n-- steps done before:\n" + "\n".join(log)) from None
    finally:
        context.close()
