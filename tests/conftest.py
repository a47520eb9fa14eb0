"""Shared pytest setup: headless plotting and single-threaded torch."""

import os

# Must happen before anything imports matplotlib.
os.environ["MPLBACKEND"] = "Agg"

try:
    import torch
except ImportError:
    pass
else:
    torch.set_num_threads(1)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Every test writes its cache files into its own tmp dir, never into the repo's data/, and
    leaves no figure open (with Agg, plt.show() does not close them)."""
    import matplotlib.pyplot as plt

    folder = tmp_path / "data"
    monkeypatch.setenv("GBP_DATA_DIR", str(folder))
    yield folder
    plt.close("all")


@pytest.fixture
def results_df():
    """A small final-evaluation table: two seeds of two (model, planner) pairs and one reference row."""
    import math

    from helpers import result_row, result_table

    return result_table(
        result_row("baseline", "GBP MPC", 0, 30, final=1.0, ratio=2.0, evals=1000.0, seconds=0.010),
        result_row("baseline", "GBP MPC", 1, 45, final=2.0, ratio=4.0, evals=3000.0, seconds=0.030),
        result_row("online", "GBP MPC", 0, 80, final=0.5, ratio=1.5, evals=2000.0, seconds=0.020),
        result_row("online", "GBP MPC", 1, 90, final=0.3, ratio=1.1, evals=2000.0, seconds=0.040),
        result_row("reference", "scripted expert", 0, 97, final=0.2, ratio=math.nan, evals=0.0, seconds=0.001),
    )

