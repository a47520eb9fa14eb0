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
