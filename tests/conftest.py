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
