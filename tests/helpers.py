"""Test helpers shared by several test files (fixtures live in conftest.py)."""
import matplotlib.pyplot as plt
import torch
from torch import nn

from gbp_utils.widgets import controls

_PENDING = object()


class FreeSpace(nn.Module):
    """True dynamics without walls: s' = s + gain * a. The dummy parameter lets
    ``next(model.parameters())`` work and lets tests check that planning never touches parameters."""

    def __init__(self, gain: float = 1.0):
        super().__init__()
        self.gain = gain
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, s, a):
        return s + self.gain * a + 0 * self.dummy


def drive(ui, **values):
    """Set controls by keyword (each change re-runs the callback, as in a notebook) and return the
    UI's result. ipywidgets swallows exceptions raised in the callback (it only logs them), so a
    stale result is detected with a sentinel set before the last change."""
    plt.close("all")  # keep only the figures of this call
    c = controls(ui)
    changed = [name for name, value in values.items() if c[name].value != value]
    for i, name in enumerate(changed):
        if i == len(changed) - 1:
            ui.result = _PENDING
        c[name].value = values[name]
        assert c[name].value == values[name], f"{name} did not accept {values[name]!r}"
    if not changed:
        ui.result = _PENDING
        ui.update()
    assert ui.result is not _PENDING, "the callback raised; see the logged exception"
    return ui.result
