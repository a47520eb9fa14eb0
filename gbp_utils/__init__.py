"""gbp_utils: the shared code of the gradient-based-planning tutorial series.

Notebooks narrate and call into this package; every piece of logic lives here, one module per idea:
env (the wall-door world), policies (oracle, expert), data, world_model, plotting, widgets.
"""
from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .cache import fast_mode
from .data import DataConfig, Dataset, get_dataset
from .env import WallConfig, WallEnv, sample_tasks
from .finetuning import AdversarialConfig, OnlineConfig
from .planners import GBPConfig
from .sampling import CEMConfig
from .world_model import TrainConfig, WorldModel, WorldModelConfig, get_world_model

__version__ = "0.1.0"


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
    gbp: GBPConfig  # the GBP planner of notebooks 04-08 (notebook 04's defaults)
    replan_every: int  # MPC replans every this many steps (chosen on tune tasks in notebook 04)
    online: OnlineConfig  # the online (DAgger) finetuning of notebook 05, reused by 06-08
    adversarial: AdversarialConfig  # online + adversarial: the budget of every online round (notebook 06)
    adversarial_only: AdversarialConfig  # adversarial finetuning alone, expert data (chosen on tune tasks in 06)
    n_tune_tasks: int  # "tune"-split tasks on which settings are chosen (never the eval tasks)
    cem: CEMConfig  # the CEM of notebooks 07-08 (population 300, 30 elites, 10 rounds; 3 rounds on MPC replans)
    gbp_lite: GBPConfig  # a cheap GBP (few restarts and iterations) for the compute comparison of 07-08
    gbp_heavy: GBPConfig  # GBP-heavy MPC of notebook 08: more restarts ...
    heavy_replan_every: int  # ... and replanning every this many steps (both chosen on tune tasks in 08)
    eval_seed: int = 0


def presets(fast: bool | None = None) -> Presets:
    """Full-mode sizes produce the published numbers; fast mode shrinks them for CI."""
    fast = fast_mode() if fast is None else fast
    wall = WallConfig()
    expert = DataConfig(kind="expert", n_episodes=1000, wall=wall)
    play = DataConfig(kind="play", n_episodes=1000, wall=wall)
    train = TrainConfig()
    # Online: open-loop execution and 30 epochs at lr 3e-3 per round were chosen on tune tasks (notebook 05).
    online = OnlineConfig(execution="open-loop", epochs_per_round=30, lr=3e-3)
    # Chosen on tune tasks (notebook 06): 0.05 in the online loop, 0.02 for adversarial finetuning alone.
    adversarial = AdversarialConfig(state_factor=0.05, action_factor=0.05)
    adversarial_only = AdversarialConfig(state_factor=0.02, action_factor=0.02)
    gbp = GBPConfig()
    gbp_lite = GBPConfig(restarts=2, iterations=50, warm_iterations=10)
    cem = CEMConfig(warm_iterations=3)  # MPC replans start from the shifted plan: fewer rounds, like GBP
    if fast:
        cem = CEMConfig(population=60, elites=6, iterations=4)
        gbp_lite = GBPConfig(restarts=1, iterations=20, warm_iterations=5)
        gbp = GBPConfig(restarts=2, iterations=40, warm_iterations=10)  # CI: exercises the code, not the numbers
        expert, play, train = expert.tiny(), play.tiny(), train.tiny()
        # Two short rounds; the tiny datasets give few gradient steps per epoch, so a higher learning rate.
        online = OnlineConfig(rounds=2, tasks_per_round=50, epochs_per_round=30, lr=1e-2, execution="open-loop")
    # GBP-heavy, chosen on tune tasks in notebook 08 from restarts {1, 2} x gbp.restarts x replanning
    # interval {1, 2, 3}: twice the restarts, replanning every step.
    gbp_heavy, heavy_replan_every = dataclasses.replace(gbp, restarts=2 * gbp.restarts), 1
    return Presets(wall=wall, expert_data=expert, play_data=play, model=WorldModelConfig(), train=train,
                   n_eval_tasks=40 if fast else 300, gbp=gbp, replan_every=3, online=online,
                   adversarial=adversarial, adversarial_only=adversarial_only, n_tune_tasks=40 if fast else 200,
                   cem=cem, gbp_lite=gbp_lite, gbp_heavy=gbp_heavy, heavy_replan_every=heavy_replan_every)


__all__ = ["fast_mode", "setup", "presets", "Presets", "WallConfig", "WallEnv", "sample_tasks",
           "DataConfig", "Dataset", "get_dataset", "TrainConfig", "WorldModel", "WorldModelConfig",
           "get_world_model", "GBPConfig", "OnlineConfig", "AdversarialConfig"]
