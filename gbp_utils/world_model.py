"""The learned world model: a residual MLP  s_{t+1} = s_t + f_theta(s_t, a_t),  its trainer,
the differentiable multi-step rollout that planners backpropagate through, and error measures.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import cache
from .data import DataConfig, Dataset, concat, get_dataset
from .env import ACTION_DIM, STATE_DIM

_ACTIVATIONS = {"silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


@dataclass(frozen=True)
class WorldModelConfig:
    """Architecture of the world model."""

    hidden: int = 64  # width of every hidden layer (64 is as accurate as 128 here and 3x faster to plan through)
    n_blocks: int = 2  # residual blocks  h <- h + act(W h)  after the input layer
    activation: str = "silu"  # smooth activations give planners smoother gradients than relu

    def __post_init__(self):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {self.activation!r}")
        if self.hidden < 1 or self.n_blocks < 0:
            raise ValueError("hidden must be >= 1 and n_blocks >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """How the world model is fitted (next-state MSE in normalised delta units)."""

    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.1  # held out by whole episodes
    seed: int = 0

    def tiny(self) -> "TrainConfig":
        return dataclasses.replace(self, epochs=min(self.epochs, 8))


class WorldModel(nn.Module):
    """s' = s + delta_mean + delta_std * MLP((s - s_mean)/s_std, (a - a_mean)/a_std).

    The normalisation statistics are buffers fitted once from training data (``fit_normaliser``),
    so they travel with the checkpoint and are never updated by the optimiser.
    """

    differentiable = True  # planners may backpropagate through it (see planners.is_differentiable)

    def __init__(self, config: WorldModelConfig | None = None, state_dim: int = STATE_DIM, action_dim: int = ACTION_DIM):
        """``state_dim`` / ``action_dim``: the sizes of what the model reads and predicts (the arena's position
        and move by default; a latent vector for a model of pixel observations, notebook 09). They are not
        part of the config: a checkpoint's weights say them (``load_world_model`` reads them back)."""
        super().__init__()
        for name, dim in (("state_dim", state_dim), ("action_dim", action_dim)):
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {dim!r}")
        self.config = config or WorldModelConfig()
        self.state_dim, self.action_dim = state_dim, action_dim
        act = _ACTIVATIONS[self.config.activation]
        h = self.config.hidden
        self.inp = nn.Sequential(nn.Linear(state_dim + action_dim, h), act())
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(h, h), act()) for _ in range(self.config.n_blocks))
        self.out = nn.Linear(h, state_dim)
        for name, dim in (("state", state_dim), ("action", action_dim), ("delta", state_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    @torch.no_grad()
    def fit_normaliser(self, states, actions, next_states) -> None:
        """Set the input/output statistics from (N, ·) training transitions."""
        for name, x in (("state", states), ("action", actions), ("delta", next_states - states)):
            getattr(self, f"{name}_mean").copy_(x.mean(0))
            getattr(self, f"{name}_std").copy_(x.std(0).clamp(min=1e-6))

    def normalise_inputs(self, states, actions) -> torch.Tensor:
        return torch.cat([(states - self.state_mean) / self.state_std,
                          (actions - self.action_mean) / self.action_std], -1)

    def predict_normalised_delta(self, x: torch.Tensor) -> torch.Tensor:
        """The network on already-normalised inputs (B, S+A) -> normalised delta (B, S)."""
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """states (..., S), actions (..., A) -> predicted next states (..., S)."""
        delta = self.predict_normalised_delta(self.normalise_inputs(states, actions))
        return states + self.delta_mean + self.delta_std * delta

    def target_normalised_delta(self, states, next_states) -> torch.Tensor:
        return (next_states - states - self.delta_mean) / self.delta_std


def rollout(world_model: nn.Module, starts: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Unroll the model open-loop; differentiable w.r.t. ``actions`` (and the model).

    Args:
        starts: (B, S) initial states; actions: (B, H, A).
    Returns:
        states: (B, H+1, S), states[:, 0] = starts.
    """
    if actions.ndim != 3 or starts.ndim != 2 or actions.shape[0] != starts.shape[0]:
        raise ValueError(f"rollout needs starts (B, S) and actions (B, H, A); got {tuple(starts.shape)} "
                         f"and {tuple(actions.shape)}")
    if not torch.is_grad_enabled() and _fusable(world_model):  # no graph wanted: the same steps without Module calls
        return _fused_steps(world_model, starts, actions, keep=False)[0]
    states = [starts]
    s = starts
    for t in range(actions.shape[1]):
        s = world_model(s, actions[:, t])
        states.append(s)
    return torch.stack(states, 1)


# Each activation's forward and the ATen kernel autograd itself runs for its backward, so the fused
# rollout below computes bit for bit the gradient that autograd computes through ``rollout``.
_FUSED_ACTIVATIONS = {
    nn.SiLU: (torch.nn.functional.silu, lambda grad, z, h: torch.ops.aten.silu_backward.default(grad, z)),
    nn.Tanh: (torch.tanh, lambda grad, z, h: torch.ops.aten.tanh_backward.default(grad, h)),
    nn.ReLU: (torch.relu, lambda grad, z, h: torch.ops.aten.threshold_backward.default(grad, h, 0)),
    nn.GELU: (torch.nn.functional.gelu, lambda grad, z, h: torch.ops.aten.gelu_backward.default(grad, z)),
}


def _fusable(world_model) -> bool:
    """A plain ``WorldModel`` (not a subclass, which may change ``forward``) with an activation we know."""
    return type(world_model) is WorldModel and type(world_model.inp[1]) in _FUSED_ACTIVATIONS


def _fused_steps(model: WorldModel, starts: torch.Tensor, actions: torch.Tensor, keep: bool):
    """``rollout`` of a plain WorldModel written out step by step with the same operations in the same
    order as ``WorldModel.forward`` (so the same states, bit for bit), without Module calls and without
    recording a graph. Returns (states (B, H+1, S), pre, post): with ``keep``, every step's
    pre-activations and activations per layer (what the backward needs); else two empty lists."""
    act, _ = _FUSED_ACTIVATIONS[type(model.inp[1])]
    # plain locals: a Module attribute lookup costs as much as a small tensor operation here
    layers = [(layer.bias, layer.weight.t()) for layer in [model.inp[0]] + [b[0] for b in model.blocks]]
    (b_in, w_in_t), blocks = layers[0], layers[1:]
    b_out, w_out_t = model.out.bias, model.out.weight.t()
    s_mean, s_std, d_mean, d_std = model.state_mean, model.state_std, model.delta_mean, model.delta_std
    with torch.no_grad():
        x_actions = (actions - model.action_mean) / model.action_std  # (B, H, A), as forward() computes it
        s, states, pre, post = starts, [starts], [], []
        for t in range(actions.shape[1]):
            z = torch.addmm(b_in, torch.cat([(s - s_mean) / s_std, x_actions[:, t]], -1), w_in_t)
            h = act(z)
            zs, hs = [z], [h]
            for b, w_t in blocks:
                z = torch.addmm(b, h, w_t)
                a = act(z)
                zs.append(z)
                hs.append(a)
                h = h + a
            s = s + d_mean + d_std * torch.addmm(b_out, h, w_out_t)
            states.append(s)
            if keep:
                pre.append(zs)
                post.append(hs)
        return torch.stack(states, 1), pre, post


class _FusedRollout(torch.autograd.Function):
    """``rollout`` of a plain ``WorldModel`` as one autograd node: the forward loop runs without
    recording a graph, and the backward walks the steps in reverse by hand (one matrix product per
    layer and step). Same operations in the same order as autograd, so the states and the gradients
    with respect to ``starts`` and ``actions`` are identical to ``rollout``'s; it only saves autograd's
    per-operation bookkeeping, which dominates for small batches (one task in a widget). The model's
    parameters get no gradient: this is for planning, not training."""

    @staticmethod
    def forward(ctx, starts, actions, model):
        states, ctx.pre, ctx.post = _fused_steps(model, starts, actions, keep=True)
        ctx.model = model
        return states

    @staticmethod
    def backward(ctx, grad_states):
        model, pre, post = ctx.model, ctx.pre, ctx.post
        _, act_backward = _FUSED_ACTIVATIONS[type(model.inp[1])]
        weights = [model.inp[0].weight] + [block[0].weight for block in model.blocks]
        w_in, w_blocks = weights[0], weights[:0:-1]  # the blocks from the last to the first
        w_out, s_std, d_std = model.out.weight, model.state_std, model.delta_std
        S = grad_states.shape[-1]
        H = len(pre)
        g = grad_states[:, H]
        grad_x = [None] * H
        for t in range(H - 1, -1, -1):
            gh = (g * d_std).mm(w_out)
            for w, z, h in zip(w_blocks, pre[t][:0:-1], post[t][:0:-1]):
                gh = gh + act_backward(gh, z, h).mm(w)
            gx = act_backward(gh, pre[t][0], post[t][0]).mm(w_in)
            grad_x[t] = gx
            # autograd's order of accumulation: the stacked output, the residual path, the normaliser
            g = (grad_states[:, t] + g) + gx[:, :S] / s_std
        grad_actions = torch.stack(grad_x, 1)[..., S:] / model.action_std
        return g, grad_actions, None


def rollout_for_planning(world_model: nn.Module, starts: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``rollout`` for planners that differentiate the plan's cost with respect to the actions (GBP,
    GD+CEM): the same states and the same gradients w.r.t. ``starts`` and ``actions``, bit for bit, but
    for a plain ``WorldModel`` several times faster on small batches (``_FusedRollout``). The model's
    parameters receive no gradient through it. Any other model falls back to ``rollout``."""
    fused = _fusable(world_model) and torch.is_grad_enabled() and actions.requires_grad
    if not fused:
        return rollout(world_model, starts, actions)
    if actions.ndim != 3 or starts.ndim != 2 or actions.shape[0] != starts.shape[0]:
        raise ValueError(f"rollout needs starts (B, S) and actions (B, H, A); got {tuple(starts.shape)} "
                         f"and {tuple(actions.shape)}")
    return _FusedRollout.apply(starts, actions, world_model)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: WorldModel
    history: dict = field(default_factory=dict)  # lists per epoch: train_loss, val_loss (normalised MSE);
    # cached_model adds the scalar train_seconds
    snapshots: list = field(default_factory=list)  # intermediate models, e.g. one per finetuning round


def next_state_loss(model: WorldModel, states, actions, next_states) -> torch.Tensor:
    """Mean squared next-state error in the model's normalised delta units (the training loss)."""
    pred = model.predict_normalised_delta(model.normalise_inputs(states, actions))
    return (pred - model.target_normalised_delta(states, next_states)).pow(2).mean()


def train_world_model(train: Dataset, val: Dataset | None, model_config: WorldModelConfig | None = None,
                      train_config: TrainConfig | None = None, model: WorldModel | None = None,
                      device=None, progress: bool = True, batch_loss=next_state_loss,
                      weights: torch.Tensor | None = None) -> TrainResult:
    """Fit a world model by minibatch Adam on ``batch_loss`` (default: next-state MSE).

    Args:
        train, val: datasets; the model with the lowest validation loss is returned (the last one
            without validation data).
        model: continue training (finetuning) this model; its normaliser is kept.
        batch_loss: ``loss(model, states, actions, next_states)`` on a raw minibatch, e.g. an
            adversarial loss (see ``finetuning``).
        weights: optional (N,) sampling weights of the transitions; each epoch then draws N
            transitions with replacement in proportion to them (how data sources are mixed).
    """
    tc = train_config or TrainConfig()
    torch.manual_seed(tc.seed)
    s, a, s_next = train.transitions()
    if model is None:
        model = WorldModel(model_config, state_dim=s.shape[-1], action_dim=a.shape[-1])
        model.fit_normaliser(s, a, s_next)
    model = model.to(device)
    s, a, s_next = (x.to(device) for x in (s, a, s_next))
    N = s.shape[0]
    if weights is not None and tuple(weights.shape) != (N,):
        raise ValueError(f"weights must have one entry per transition, shape ({N},); got {tuple(weights.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tc.epochs)
    gen = torch.Generator().manual_seed(tc.seed)
    history = {"train_loss": [], "val_loss": []}
    best, best_state = float("inf"), None
    bar = tqdm(range(tc.epochs), desc="training world model", disable=not progress, leave=False)
    for _ in bar:
        model.train()
        order = (torch.randperm(N, generator=gen) if weights is None
                 else torch.multinomial(weights.cpu().float(), N, replacement=True, generator=gen)).to(device)
        total = 0.0
        for i in range(0, N, tc.batch_size):
            idx = order[i:i + tc.batch_size]
            loss = batch_loss(model, s[idx], a[idx], s_next[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        sched.step()
        history["train_loss"].append(total / N)
        if val is not None:
            history["val_loss"].append(normalised_loss(model, val))
            if history["val_loss"][-1] < best:
                best = history["val_loss"][-1]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(train=f"{history['train_loss'][-1]:.2e}",
                        val=f"{history['val_loss'][-1]:.2e}" if val is not None else "-")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, history)


@torch.no_grad()
def normalised_loss(model: WorldModel, ds: Dataset) -> float:
    """Mean squared error of the predicted delta in the model's normalised units."""
    model.eval()
    device = next(model.parameters()).device
    return next_state_loss(model, *(x.to(device) for x in ds.transitions())).item()


# --------------------------------------------------------------------------------------------
# Error measures (in arena units, so they can be compared across models and data)
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def one_step_error(model: nn.Module, ds: Dataset) -> torch.Tensor:
    """(N,) Euclidean error ||f(s, a) - s'|| of every transition of ``ds``. A model that predicts something
    else than states (``latent.PixelWorldModel``: latents) measures it in its own space, with its
    ``transition_error(s, a, s')``."""
    device = next(model.parameters()).device
    s, a, s_next = (x.to(device) for x in ds.transitions())
    own = getattr(model, "transition_error", None)
    if own is not None:
        return own(s, a, s_next).cpu()
    return (model(s, a) - s_next).norm(dim=-1).cpu()


def reference_error(model: nn.Module, expert_val: Dataset) -> float:
    """A model's mean one-step error on held-out expert transitions: the denominator of its gap ratio
    (``evaluation.EvalReport.wm_error_ratio``)."""
    return one_step_error(model, expert_val).mean().item()


@torch.no_grad()
def multi_step_error(model: nn.Module, ds: Dataset, horizon: int | None = None) -> torch.Tensor:
    """(E, H) open-loop error: roll the model from each episode's first state through its actions
    and compare with the real states, step by step (H = horizon or the episode length)."""
    H = horizon or ds.actions.shape[1]
    device = next(model.parameters()).device
    pred = rollout(model, ds.states[:, 0].to(device), ds.actions[:, :H].to(device))
    return (pred[:, 1:] - ds.states[:, 1:H + 1].to(device)).norm(dim=-1).cpu()


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def model_path(name: str, config: dict, folder: Path | None = None) -> Path:
    """data/<name>-<hash of config>.pt"""
    return Path(folder or cache.data_dir()) / f"{name}-{cache.config_hash(config)}.pt"


def _base_config(data_configs, model_config, train_config) -> dict:
    return {"data": list(data_configs), "model": model_config, "train": train_config}


def checkpoint_path(data_configs, model_config, train_config, folder: Path | None = None) -> Path:
    """Where ``get_world_model`` caches the model trained on these datasets with these configs."""
    return model_path("world_model", _base_config(data_configs, model_config, train_config), folder)


def _payload(result: TrainResult) -> dict:
    return {"state_dict": result.model.state_dict(), "history": result.history,
            "snapshots": [m.state_dict() for m in result.snapshots]}


def _from_payload(path: Path, payload: dict, device=None) -> TrainResult:
    """The TrainResult in a loaded payload; DataFileError if the weights do not fit or are not finite."""
    model_config = WorldModelConfig(**payload["meta"]["config"]["model"])
    model = _restore(path, model_config, payload["state_dict"], device)
    snapshots = [_restore(path, model_config, sd, device) for sd in payload.get("snapshots", [])]
    return TrainResult(model, payload["history"], snapshots)


def save_world_model(result: TrainResult, path: Path, config: dict) -> None:
    """Atomically save weights, history, snapshots and the config (which must hold the architecture
    under "model")."""
    payload = {**_payload(result), "meta": {"kind": "world_model", "format_version": cache.FORMAT_VERSION,
                                            "config": cache.as_plain(config)}}
    cache.atomic_save(payload, path)


def _restore(path: Path, model_config: WorldModelConfig, state_dict: dict, device) -> WorldModel:
    try:  # the sizes of what the model reads and predicts, from its normaliser
        dims = {"state_dim": int(state_dict["state_mean"].shape[0]), "action_dim": int(state_dict["action_mean"].shape[0])}
    except (KeyError, AttributeError, IndexError) as exc:
        raise cache.DataFileError(f"{path}: the checkpoint has no normaliser buffers ({exc})") from exc
    model = WorldModel(model_config, **dims)
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, KeyError) as exc:
        raise cache.DataFileError(f"{path}: weights do not fit the stored architecture ({exc})") from exc
    for name, p in model.state_dict().items():
        if not torch.isfinite(p).all():
            raise cache.DataFileError(f"{path}: parameter {name} has non-finite values")
    return model.eval().to(device)


def load_world_model(path: Path, config: dict | None = None, device=None) -> TrainResult:
    """Load a checkpoint; raises DataFileError (never falls back to random weights) if it is bad."""
    return _from_payload(path, cache.load_payload(path, "world_model", config), device)


def cached_model(name: str, config: dict, build, device=None) -> TrainResult:
    """Load data/<name>-<hash>.pt if it holds a valid model for ``config``; otherwise call
    ``build() -> TrainResult``, record its wall-clock time (history["train_seconds"]) and save it
    atomically (``cache.load_or_create``)."""
    path = model_path(name, config)

    def create() -> dict:
        start = time.perf_counter()
        result = build()
        result.history["train_seconds"] = time.perf_counter() - start
        return _payload(result)

    payload = cache.load_or_create(path, "world_model", config, create,
                                   validate=lambda p: _from_payload(path, p))
    return _from_payload(path, payload, device)


def training_split(data_configs: list[DataConfig], train_config: TrainConfig) -> tuple[Dataset, Dataset]:
    """(train, validation) episodes of a model trained on ``data_configs`` with ``train_config``: the
    datasets pooled, then split by episode with its val_fraction and seed. Finetuning reuses the train
    part; evaluation uses the held-out part as the model's reference data."""
    datasets = [get_dataset(c) for c in data_configs]
    pooled = datasets[0] if len(datasets) == 1 else concat(*datasets)
    return pooled.split(train_config.val_fraction, train_config.seed)


def get_world_model(data_configs: list[DataConfig], model_config: WorldModelConfig | None = None,
                    train_config: TrainConfig | None = None, device=None, progress: bool = True
                    ) -> TrainResult:
    """The world model trained on the given datasets: loaded from data/ if cached, else trained.

    Episodes of all datasets are pooled, then split into train/validation by episode.
    """
    mc, tc = model_config or WorldModelConfig(), train_config or TrainConfig()

    def build() -> TrainResult:
        train, val = training_split(data_configs, tc)
        return train_world_model(train, val, mc, tc, device=device, progress=progress)

    return cached_model("world_model", _base_config(data_configs, mc, tc), build, device)
