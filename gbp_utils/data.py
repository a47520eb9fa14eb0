"""Transition data for world models: expert demonstrations and random-walk play.

Data are stored as episodes, states (E, T+1, S) and actions (E, T, A); ``transitions()`` flattens
them into (state, action, next_state) triples. Files are cached under data/ by config hash.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import cache
from .env import ACTION_DIM, STATE_DIM, TaskSet, WallConfig, WallEnv, sample_tasks
from .policies import expert_policy


@dataclass(frozen=True)
class DataConfig:
    """How a dataset is generated."""

    kind: str = "expert"  # "expert": noisy scripted demonstrations; "play": persistent random walk
    n_episodes: int = 1000
    episode_len: int = 30  # steps per episode (expert episodes run the full budget, goal reached or not)
    seed: int = 0
    noise_std: float = 0.15  # expert: std of the Gaussian action noise, as a fraction of wall.max_step
    persistence: float = 0.8  # play: correlation of successive random actions (0 = white noise)
    wall: WallConfig = field(default_factory=WallConfig)

    def __post_init__(self):
        if self.kind not in ("expert", "play"):
            raise ValueError(f"DataConfig.kind must be 'expert' or 'play'; got {self.kind!r}")
        if self.n_episodes < 1 or self.episode_len < 1:
            raise ValueError("n_episodes and episode_len must be >= 1")
        if not 0 <= self.persistence < 1:
            raise ValueError(f"persistence must be in [0, 1); got {self.persistence}")

    def tiny(self) -> "DataConfig":
        """A small version for fast mode and tests."""
        return dataclasses.replace(self, n_episodes=min(self.n_episodes, 200))


@dataclass
class Dataset:
    """Episodes of the real dynamics: states (E, T+1, S), actions (E, T, A); training data for world
    models (split by episode, concatenated, flattened into transitions). An evaluation run, with its
    compute and the model's promise, is a ``control.Episodes``; ``Episodes.as_dataset()`` converts."""

    states: torch.Tensor
    actions: torch.Tensor
    goals: torch.Tensor | None = None  # (E, S) for goal-directed episodes, None for play
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        validate_tensors(self.states, self.actions)
        if self.goals is not None and tuple(self.goals.shape) != (self.n_episodes, self.state_dim):
            raise ValueError(f"dataset goals must be (E, S) = {(self.n_episodes, self.state_dim)}; got "
                             f"{tuple(self.goals.shape)}")

    @property
    def state_dim(self) -> int:
        """S: 2 in the point world (x, y); more in the harder worlds of notebook 10 (``worlds``)."""
        return self.states.shape[-1]

    @property
    def final_states(self) -> torch.Tensor:
        """(E, S) the last state of every episode."""
        return self.states[:, -1]

    def __len__(self) -> int:
        """Number of transitions."""
        return self.actions.shape[0] * self.actions.shape[1]

    @property
    def n_episodes(self) -> int:
        return self.states.shape[0]

    def transitions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(states, actions, next_states), each (N, ·) with N = E * T."""
        s = self.states[:, :-1].reshape(-1, self.state_dim)
        a = self.actions.reshape(-1, ACTION_DIM)
        s_next = self.states[:, 1:].reshape(-1, self.state_dim)
        return s, a, s_next

    def split(self, val_fraction: float, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """Split by whole episodes (no leakage of neighbouring transitions between the parts)."""
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1); got {val_fraction}")
        E = self.n_episodes
        n_val = max(1, int(round(E * val_fraction)))
        if n_val >= E:
            raise ValueError(f"cannot split {E} episode(s) into train and validation parts")
        perm = torch.randperm(E, generator=torch.Generator().manual_seed(seed))
        return self[perm[n_val:]], self[perm[:n_val]]

    def __getitem__(self, episodes) -> "Dataset":
        """The dataset restricted to some episodes (index, slice or index tensor)."""
        goals = None if self.goals is None else self.goals[episodes]
        return Dataset(self.states[episodes], self.actions[episodes], goals, {"parent": self.meta})

    def to(self, device) -> "Dataset":
        goals = None if self.goals is None else self.goals.to(device)
        return Dataset(self.states.to(device), self.actions.to(device), goals, self.meta)


def validate_tensors(states, actions) -> None:
    """Raise ValueError naming the problem unless states (E, T+1, S) and actions (E, T, A) fit."""
    for name, x in (("states", states), ("actions", actions)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"dataset {name} must be a torch.Tensor; got {type(x).__name__}")
        if x.dtype != torch.float32:
            raise ValueError(f"dataset {name} must be float32; got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError(f"dataset {name} contains NaN or inf values")
    if states.ndim != 3 or states.shape[-1] < STATE_DIM:
        raise ValueError(f"dataset states must be (E, T+1, S) with S >= {STATE_DIM} (x, y first); got "
                         f"{tuple(states.shape)}")
    E, T1, _ = states.shape
    if tuple(actions.shape) != (E, T1 - 1, ACTION_DIM):
        raise ValueError(f"dataset actions must be (E, T, {ACTION_DIM}) = {(E, T1 - 1, ACTION_DIM)} to "
                         f"match states {tuple(states.shape)}; got {tuple(actions.shape)}")


# --------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------
def run_policy(env: WallEnv, policy, tasks: TaskSet, max_steps: int | None = None) -> Dataset:
    """Execute ``policy`` (``policies``) in the real environment for every task of the batch at once.

    Returns the episodes as a Dataset: visited states (B, T+1, S), the clipped actions that were
    applied (B, T, A) and the tasks' goals. T is ``max_steps`` or the environment's step budget.
    """
    T = env.wall.max_steps if max_steps is None else max_steps
    states = [tasks.starts]
    actions = []
    s = tasks.starts
    for _ in range(T):
        a = env.clip_actions(policy(s, tasks.goals))
        s = env.step(s, a)
        states.append(s)
        actions.append(a)
    return Dataset(torch.stack(states, 1), torch.stack(actions, 1), tasks.goals)


def generate_expert_data(config: DataConfig) -> Dataset:
    """Noisy expert episodes on *training* tasks (a seed stream disjoint from evaluation tasks)."""
    env = WallEnv(config.wall)
    tasks = sample_tasks(config.n_episodes, config.seed, "train", config.wall)
    gen = torch.Generator().manual_seed(config.seed)
    return run_policy(env, expert_policy(config.wall, config.noise_std, generator=gen), tasks, config.episode_len)


def sample_free_states(n: int, generator: torch.Generator, wall: WallConfig) -> torch.Tensor:
    """(n, S) states uniform over the free space (rejection sampling outside the wall)."""
    env = WallEnv(wall)
    h = wall.half_size
    out = torch.empty(0, STATE_DIM)
    while out.shape[0] < n:
        cand = (torch.rand(2 * n, STATE_DIM, generator=generator) * 2 - 1) * h
        out = torch.cat([out, cand[env.is_free(cand)]])
    return out[:n]


def generate_play_data(config: DataConfig) -> Dataset:
    """Random-walk play from uniform starts: persistent actions that often run into the wall.

    a_t = rho * a_{t-1} + sqrt(1 - rho^2) * max_step * xi_t (then clipped), xi ~ N(0, I).
    """
    gen = torch.Generator().manual_seed(10_000 + config.seed)  # differs from the expert's stream
    starts = sample_free_states(config.n_episodes, gen, config.wall)
    return random_walk(WallEnv(config.wall), starts, config.wall.max_step, config.persistence, config.episode_len, gen)


def random_walk(env, starts: torch.Tensor, bound: float, persistence: float, steps: int,
                generator: torch.Generator) -> Dataset:
    """Persistent random actions from ``starts`` (E, S) in ``env`` (anything with ``step`` and ``clip_actions``):
    a_0 = bound * xi_0, a_t = rho * a_{t-1} + sqrt(1 - rho^2) * bound * xi_t, each clipped when applied."""
    E, rho = starts.shape[0], persistence
    s = starts
    a = bound * torch.randn(E, ACTION_DIM, generator=generator)
    states, actions = [s], []
    for _ in range(steps):
        a = rho * a + math.sqrt(1 - rho ** 2) * bound * torch.randn(E, ACTION_DIM, generator=generator)
        a_clipped = env.clip_actions(a)
        s = env.step(s, a_clipped)
        states.append(s)
        actions.append(a_clipped)
    return Dataset(torch.stack(states, 1), torch.stack(actions, 1))


def generate(config: DataConfig) -> Dataset:
    """The dataset ``config`` describes; a config of another world (``worlds.WorldDataConfig``) generates itself."""
    own = getattr(config, "generate", None)
    if own is not None:
        return own()
    return generate_expert_data(config) if config.kind == "expert" else generate_play_data(config)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def dataset_path(config: DataConfig, folder: Path | None = None) -> Path:
    return Path(folder or cache.data_dir()) / f"{config.kind}-{cache.config_hash(config)}.pt"


def _payload(ds: Dataset) -> dict:
    return {"states": ds.states, "actions": ds.actions, "goals": ds.goals,
            "meta": {"n_episodes": ds.n_episodes, "n_transitions": len(ds)}}


def _validate_payload(payload: dict, config: DataConfig, path: Path) -> None:
    try:
        validate_tensors(payload.get("states"), payload.get("actions"))
        goals = payload.get("goals")
        if goals is not None and (not torch.isfinite(goals).all() or goals.shape != payload["states"].shape[::2]):
            raise ValueError("dataset goals must be finite with shape (E, S)")
    except ValueError as exc:
        raise cache.DataFileError(f"{path}: {exc}") from exc
    E, T = payload["actions"].shape[:2]
    if (E, T) != (config.n_episodes, config.episode_len):
        raise cache.DataFileError(f"{path} holds {E} episodes of {T} steps, its config says "
                                  f"{config.n_episodes} of {config.episode_len}")


def save_dataset(ds: Dataset, config: DataConfig, path: Path | None = None) -> Path:
    """Write ``ds`` atomically with its config and counts; returns the path."""
    path = Path(path or dataset_path(config))
    payload = _payload(ds)
    payload["meta"].update(kind="dataset", format_version=cache.FORMAT_VERSION, config=cache.as_plain(config))
    _validate_payload(payload, config, path)
    cache.atomic_save(payload, path)
    return path


def load_dataset(path: Path, config: DataConfig | None = None) -> Dataset:
    """Load and validate a dataset file; raises DataFileError naming what is wrong."""
    payload = cache.load_payload(path, "dataset", config)
    if config is None and "world" in payload["meta"]["config"]:
        raise ValueError(f"{path} holds data of one of notebook 10's worlds: pass its worlds.WorldDataConfig")
    cfg = config or DataConfig(**{**payload["meta"]["config"],
                                  "wall": WallConfig(**payload["meta"]["config"]["wall"])})
    _validate_payload(payload, cfg, path)
    return Dataset(payload["states"], payload["actions"], payload["goals"], payload["meta"])


def get_dataset(config: DataConfig, folder: Path | None = None) -> Dataset:
    """The dataset for ``config``: loaded from data/ if present and valid, else generated and saved."""
    path = dataset_path(config, folder)
    payload = cache.load_or_create(path, "dataset", config, lambda: _payload(generate(config)),
                                   lambda p: _validate_payload(p, config, path))
    return Dataset(payload["states"], payload["actions"], payload["goals"], payload["meta"])


def concat(*datasets: Dataset) -> Dataset:
    """Episodes of equal length from several datasets stacked into one (goals are dropped)."""
    return Dataset(torch.cat([d.states for d in datasets]), torch.cat([d.actions for d in datasets]))
