"""gbp_utils: the shared code of the gradient-based-planning tutorial series.

Notebooks narrate and call into this package; every piece of logic lives here, one module per idea:
env (the wall-door world), policies (oracle, expert), data, world_model, plotting, widgets.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .data import DataConfig, Dataset, get_dataset
from .env import WallConfig, WallEnv, sample_tasks
from .world_model import TrainConfig, WorldModel, WorldModelConfig, get_world_model

__version__ = "0.1.0"


def fast_mode() -> bool:
    """True when the environment variable GBP_FAST is set to something other than 0/false/empty."""
    return os.environ.get("GBP_FAST", "").strip().lower() not in ("", "0", "false", "no")


def setup(seed: int = 0, threads: int = 1, device: str | None = None) -> torch.device:
    """Call once at the top of every notebook: one torch thread, seeded RNGs, plot style, device.

    One thread matters: on small CPUs torch's default thread pool made a tiny-MLP notebook ~30x
    slower inside Jupyter. Returns the device to use ("cuda" if available unless ``device`` is given).
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        import seaborn as sns
        sns.set_theme(style="white", context="notebook")
    except ImportError:  # plotting is optional for scripts
        pass
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@dataclass(frozen=True)
class Presets:
    """The sizes every notebook shares, so all of them use (and cache) the same data and models."""

    wall: WallConfig
    expert_data: DataConfig
    play_data: DataConfig
    model: WorldModelConfig
    train: TrainConfig
    n_eval_tasks: int
    eval_seed: int = 0


def presets(fast: bool | None = None) -> Presets:
    """Full-mode sizes produce the published numbers; fast mode shrinks them for CI."""
    fast = fast_mode() if fast is None else fast
    wall = WallConfig()
    expert = DataConfig(kind="expert", n_episodes=1000, wall=wall)
    play = DataConfig(kind="play", n_episodes=1000, wall=wall)
    train = TrainConfig()
    if fast:
        expert, play, train = expert.tiny(), play.tiny(), train.tiny()
    return Presets(wall=wall, expert_data=expert, play_data=play, model=WorldModelConfig(), train=train,
                   n_eval_tasks=100 if fast else 300)


__all__ = ["fast_mode", "setup", "presets", "Presets", "WallConfig", "WallEnv", "sample_tasks",
           "DataConfig", "Dataset", "get_dataset", "TrainConfig", "WorldModel", "WorldModelConfig",
           "get_world_model"]
