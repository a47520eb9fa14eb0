"""Interactive tweaking proven in a real browser.

JupyterLab runs on 127.0.0.1 (free port, random token) over temporary copies of notebooks/ (outputs
cleared; the committed notebooks are never opened by the server), with GBP_FAST=1, one thread and no
MPLBACKEND, so the kernels import the repository's gbp_utils (installed editable), use the fast-mode
cache and draw figures inline. Headless Chromium (Debian's package, driven by Playwright) opens each
notebook, runs all cells and moves every control of every widget with the mouse; after each change
the widget's output must change, no output may be an error and the page may log no JavaScript error
(``browser_lab.check_notebook``). One screenshot of the whole notebook per notebook goes to
build/browser/. Notebooks run one at a time; kernels are shut down between them.

Every widget of the series is a ``widgets.Explorer`` with a live (ipympl) figure: its output is the
figure's pixels (its readout line is not enough: the figure itself must be redrawn), and in the explorers that take clicks the checker also clicks the
arena (start; goal by shift-click and with the "click sets" toggle) and asserts that the output and
the start/goal sliders follow. The lecture demo (notebooks/demo_planner.ipynb) is checked as a voila
app: one slider, one click.

The first tests check the checker itself on tiny generated notebooks: it passes a working widget
(every kind of control) and fails a widget whose callback raises, one whose output does not change,
one whose output logs a JavaScript error, and an explorer whose click handler does nothing or raises.

Needs Debian's Chromium at /usr/bin/chromium (Playwright's own browser download is not used) and the
test extra's playwright and jupyterlab; without them the tests skip and say why.
"""
import os
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (it is in the test extra: "
                                                  "pip install -e '.[test]')")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (it is in the test extra: "
                                         "pip install -e '.[test]')")

import browser_lab  # noqa: E402  (imported after the skips: it imports playwright)
from browser_lab import LabServer, check_notebook, prepare_notebook  # noqa: E402
from nbformat.v4 import new_code_cell, new_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "build" / "browser"
# The environment pytest started with: read at import, before any test's monkeypatching (conftest
# points GBP_DATA_DIR at a per-test folder; the notebooks must use the fast-mode cache instead).
_ENV = dict(os.environ)

_GOOD = """\
import ipywidgets as W
import matplotlib.pyplot as plt

def show(n, scale, mode, colour, level):
    print(f"n={n} scale={scale:.2f} mode={mode} colour={colour} level={level}")
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(n + 2), [scale * i for i in range(n + 2)], color=colour)
    ax.set_title(f"{mode}, level {level}")
    plt.show()

W.interactive(show, n=W.IntSlider(value=3, min=0, max=10, continuous_update=False),
              scale=W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, continuous_update=False),
              mode=W.ToggleButtons(options=["lines", "steps"]),
              colour=W.Dropdown(options=["tab:blue", "tab:red", "tab:green"]),
              level=W.SelectionSlider(options=["low", "mid", "high"], continuous_update=False))
"""
_RAISES = """\
import ipywidgets as W

def show(x):
    if x != 0:
        raise RuntimeError("broken widget callback")
    print("x =", x)

W.interactive(show, x=W.IntSlider(value=0, min=0, max=10, continuous_update=False))
"""
_UNCHANGED = """\
import ipywidgets as W

W.interactive(lambda x: print("always the same"), x=W.IntSlider(value=0, min=0, max=10, continuous_update=False))
"""
_JS_ERROR = """\
import ipywidgets as W
from IPython.display import Javascript, display

def show(x):
    print("x =", x)
    if x != 0:
        display(Javascript("console.error('broken widget view')"))

W.interactive(show, x=W.IntSlider(value=0, min=0, max=10, continuous_update=False))
"""
# An explorer whose click handler is broken: it does nothing, or it raises.
_CLICK_NOOP = """\
from gbp_utils import widgets

ui = widgets.task_explorer()
ui.place = lambda which, x, y: None
ui
"""
_CLICK_RAISES = """\
from gbp_utils import widgets

def place(which, x, y):
    raise RuntimeError("broken click handler")

ui = widgets.task_explorer()
ui.place = place
ui
"""
GENERATED = {"checker_good.ipynb": _GOOD, "checker_raises.ipynb": _RAISES, "checker_unchanged.ipynb": _UNCHANGED,
             "checker_js_error.ipynb": _JS_ERROR, "checker_click_noop.ipynb": _CLICK_NOOP,
             "checker_click_raises.ipynb": _CLICK_RAISES}


def _server_env() -> dict:
    env = {k: v for k, v in _ENV.items() if k != "MPLBACKEND"}  # unset: figures render inline
    env.update(GBP_FAST="1", OMP_NUM_THREADS="1")
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("browser")
    root = work / "notebooks"
    root.mkdir()
    for path in NOTEBOOKS:
        prepare_notebook(path, root)
    for name, source in GENERATED.items():
        nb = new_notebook(cells=[new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        prepare_notebook(nb, root, name)
    server = LabServer(root=root, work=work / "jupyter", env=_server_env(),
                       log_path=SCREENSHOTS / "jupyterlab.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if browser_lab.find_chromium() is None:
        pytest.skip(f"no Chromium at {browser_lab.CHROMIUM}: install Debian's package 'chromium' "
                    "(as root: apt-get update && apt-get install -y chromium; .ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(browser_lab.CHROMIUM),
                                              args=browser_lab.CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def test_checker_passes_a_working_widget(browser, lab):
    log = check_notebook(browser, lab, "checker_good.ipynb")
    changes = [line for line in log if ": output changed" in line]
    assert [line.split(",")[1].split(":")[0].strip() for line in changes] == [
        "slider 'n'", "slider 'scale'", "slider 'level'", "toggle 'mode'", "dropdown 'colour'"]


@pytest.mark.parametrize("notebook, message", [
    ("checker_raises.ipynb", r"error output after widget 1, slider 'x'(.|\n)*broken widget callback"),
    ("checker_unchanged.ipynb", r"widget 1: the output did not change after moving \['x'\]"),
    ("checker_js_error.ipynb", r"JavaScript errors after widget 1, slider 'x'(.|\n)*broken widget view"),
    ("checker_click_noop.ipynb", r"widget 1: the output did not change after a click on the arena"),
    ("checker_click_raises.ipynb", r"error output after widget 1, click 'arena -> start'(.|\n)*broken click handler"),
], ids=["callback raises", "output does not change", "javascript error", "click changes nothing",
        "click handler raises"])
def test_checker_fails_on_a_broken_widget(browser, lab, notebook, message):
    with pytest.raises(AssertionError, match=message):
        check_notebook(browser, lab, notebook)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_every_widget_responds_in_the_browser(browser, lab, notebook):
    log = check_notebook(browser, lab, notebook.name, screenshot=SCREENSHOTS / f"{notebook.stem}.png")
    print(f"{notebook.name}:", *log, sep="\n  ")


def test_lecture_demo_in_voila(browser, tmp_path):
    """notebooks/demo_planner.ipynb as a voila app (no code cells): one slider moved, one click on the
    arena; the output must change each time, with no error output and no JavaScript error."""
    pytest.importorskip("voila", reason="voila is not installed (it is a dependency: pip install -e .)")
    root = tmp_path / "demo"
    root.mkdir()
    name = prepare_notebook(ROOT / "notebooks" / "demo_planner.ipynb", root)
    server = browser_lab.VoilaServer(root / name, _server_env(), SCREENSHOTS / "voila.log").start()
    try:
        log = browser_lab.check_voila(browser, server, screenshot=SCREENSHOTS / "demo_planner_voila.png")
    finally:
        server.stop()
    print(*log, sep="\n  ")
