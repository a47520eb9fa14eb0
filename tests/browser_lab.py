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

# Page-side helpers, installed once the notebook panel exists. window.__gbp holds the panel, counts
# the kernel's transitions to "idle" (every message the kernel handles, a widget's comm message
# included, ends with one) and knows how to read outputs.
_INSTALL_JS = """
() => {
    const app = window.jupyterapp;
    const panel = app && app.shell.currentWidget;
    if (!panel || !panel.sessionContext || !panel.content || !panel.content.model) return false;
    if (window.__gbp && window.__gbp.panel === panel) return true;
    const gbp = {panel, idle: 0};
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
        const pattern = /Traceback \\(most recent call last\\)|^\\s*[A-Za-z_][\\w.]*(Error|Exception)\\b.*:/m;
        document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .forEach(node => {
                const text = node.innerText || '';
                if (pattern.test(text)) found.push(`rendered traceback: ${text.trim().slice(-600)}`);
            });
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
    // What the output area of an interactive shows: its text and every image, hashed.
    gbp.signature = (interact) => {
        const out = interact.querySelector(':scope > .widget-output');
        if (!out) return '';
        const parts = [out.innerText || ''];
        out.querySelectorAll('img').forEach(img => parts.push(img.getAttribute('src') || ''));
        const text = parts.join('\\n');
        if (!text.trim()) return '';
        let h1 = 5381, h2 = 52711;
        for (let i = 0; i < text.length; i++) {
            const c = text.charCodeAt(i);
            h1 = (Math.imul(h1, 33) ^ c) >>> 0;
            h2 = (Math.imul(h2, 31) + c) >>> 0;
        }
        return `${text.length}:${h1.toString(16)}:${h2.toString(16)}`;
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
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}; "
                                   f"log:\n{self.log_path.read_text()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s; "
                                       f"log:\n{self.log_path.read_text()[-3000:]}") from None
                time.sleep(0.25)  # poll interval while the server starts

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
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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

    def __init__(self, page):
        self.errors: list[str] = []
        self.ignored: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught exception: {exc}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        text = f"console error: {message.text} (at {location.get('url', '?')})"
        if any(re.search(pattern, text) for pattern, _ in IGNORED_CONSOLE_ERRORS):
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


class _Checker:
    """One open notebook: change controls and check what follows."""

    def __init__(self, page, js_errors: _JSErrors, timeouts: Timeouts, log: list[str]):
        self.page, self.js_errors, self.t, self.log = page, js_errors, timeouts, log

    def change(self, w: int, interact, control) -> bool:
        """Change ``control`` of interactive widget number ``w``; wait until the kernel has handled it;
        assert no error output and no JavaScript error; return whether the widget's output changed."""
        page, t = self.page, self.t
        kind, operate = _operation(control)
        label = _control_label(control)
        before = page.evaluate("(el) => window.__gbp.signature(el)", interact)
        idle = {}
        started = time.monotonic()

        def mark():  # the kernel's idle count just before the action that changes the value
            idle["n"] = page.evaluate("() => window.__gbp.idle")

        old, new = operate(page, control, mark)
        what = f"widget {w}, {kind} {label!r}: {old} -> {new}"
        _wait_for_kernel(page, "(n) => window.__gbp.idle > n && window.__gbp.status() === 'idle'",
                         f"the kernel to finish handling the change of {what}", t.change, arg=idle["n"])
        # The kernel is idle, so every output of the callback has reached the page; give it time to render.
        try:
            page.wait_for_function("([el, before]) => window.__gbp.signature(el) !== before",
                                   arg=[interact, before], timeout=t.redraw, polling=100)
            changed = True
        except PlaywrightTimeout:
            changed = False
        _check_outputs(page, self.js_errors, f"after {what}")
        self.log.append(f"{what}: output {'changed' if changed else 'UNCHANGED'} ({time.monotonic() - started:.1f} s)")
        return changed

    def check_widget(self, w: int, interact) -> None:
        """Every control once. Sliders first; a slider that leaves the output unchanged (a knob that only
        matters in another mode, e.g. the random walk's persistence while the expert is selected) is
        moved again after each toggle or dropdown change and must change the output in one of those
        states. Toggles and dropdowns must change the output at once."""
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


def check_notebook(browser, lab: LabServer, notebook: str, screenshot: Path | None = None,
                   timeouts: Timeouts | None = None, min_widgets: int = 1) -> list[str]:
    """Open ``notebook`` (a file under ``lab.root``) in JupyterLab, run all cells, then change every
    control of every interactive widget (``_Checker.check_widget``); after each change assert that no
    output is an error and that the page logged no JavaScript error, and that the widget's output
    changed. Save a screenshot of the whole notebook to ``screenshot`` if given. Returns one line per
    step; the AssertionError of a failed check ends with the steps done before it. Kernels are shut
    down on the way out, pass or fail."""
    t = timeouts or Timeouts()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    js_errors = _JSErrors(page)
    log: list[str] = []
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
            elif "widget-interact" in classes.split():
                interacts.append(view)
            elif view.query_selector(_INPUTS):
                raise AssertionError(f"a widget with controls that is not ipywidgets.interactive: {classes}")
            else:
                log.append(f"display-only widget (no controls), not operated: {classes}")
        assert len(interacts) >= min_widgets, \
            f"{notebook}: {len(interacts)} interactive widgets, expected at least {min_widgets}"

        checker = _Checker(page, js_errors, t, log)
        for w, interact in enumerate(interacts, 1):
            checker.check_widget(w, interact)

        _check_outputs(page, js_errors, "at the end")
        if screenshot is not None:
            started = time.monotonic()
            where = _screenshot_whole_notebook(page, screenshot)
            log.append(f"screenshot {screenshot}: {where} ({time.monotonic() - started:.1f} s)")
        if js_errors.ignored:
            log.append("ignored console errors: " + "; ".join(js_errors.ignored))
        return log
    except AssertionError as exc:
        raise AssertionError(f"{notebook}: {exc}\n-- steps done before:\n" + "\n".join(log)) from None
    finally:
        context.close()
        lab.shutdown_kernels()


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
    boxes = [view.bounding_box() for view in page.query_selector_all(".jp-Notebook .widget-interact")]
    where = ", ".join(f"y {b['y']:.0f}-{b['y'] + b['height']:.0f}" for b in boxes if b)
    cropped = " (cropped: the notebook is taller)" if height > visible + 2 else ""
    return f"{page.viewport_size['height']} px tall{cropped}; interactive widgets at {where}"
