"""From pixels to a latent space to plan in (appendix notebook 09).

The paper plans in the feature space of a frozen, pretrained image encoder (DINOv2): the world model
predicts the next feature vector from the current one and the action, and GBP drives the predicted
features toward the goal image's features. Nothing may download weights here, so the series trains its
own small encoder, honestly and *before* any dynamics are learnt:

* ``ConvAutoEncoder``: a convolutional encoder images (B, 2, R, R) -> latents (B, D) and a keypoint decoder
  back (the latent says where K points are; their heat maps are painted into an image),
  trained to reconstruct ``pixels.render`` images of states drawn uniformly over the free arena (a
  generic visual encoder: it has seen the agent everywhere, but never a single move — the dynamics, and
  so the train-test gap, are the world model's business, as with a pretrained encoder).
* ``encode_states`` turns states into latents (render, encode, in chunks); a world model of latents is
  the series' ``world_model.WorldModel`` with ``state_dim`` = D, trained on ``LatentTransitions``.
* ``position_probe``: a linear read-out latent -> position fitted by least squares, reported on held-out
  states — what the latent encodes (and how the notebook draws latent plans in the arena).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from . import cache
from .data import Dataset, sample_free_states
from .env import WallConfig
from .pixels import RenderConfig, render


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of the image autoencoder: stride-2 4x4 convolutions halve the image per layer down to a
    linear latent; the decoder maps the latent to K keypoints, draws their heat maps and paints them."""

    latent_dim: int = 8  # D
    channels: tuple = (16, 32, 64)  # conv widths; the image side must be divisible by 2 ** len(channels)
    decoder_hidden: int = 32  # width of the decoder's convolutions
    keypoints: int = 4  # K points the decoder draws
    heat_pixels: float = 1.5  # width (std) of each keypoint's heat map, in pixels
    image: RenderConfig = field(default_factory=RenderConfig)
    # "conv": the convolutions above end in a linear layer to the latent. "spatial": a spatial-softmax encoder --
    # 3 x 3 convolutions (the first with ``stride``) end in K feature maps, each turned by a softmax over its
    # pixels into the expected (x, y) of a keypoint: the latent is the K points (latent_dim = 2 K), positions in
    # the image by construction. ``intensity_prior`` adds the agent channel's intensity (max-pooled to the maps'
    # resolution) times this number to every map's logits, so the keypoints start on the agent, not at random.
    encoder: str = "conv"
    stride: int = 1
    intensity_prior: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if isinstance(self.latent_dim, bool) or not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be an integer >= 1; got {self.latent_dim!r}")
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"channels must be a non-empty tuple of integers >= 1; got {self.channels!r}")
        if self.encoder not in ("conv", "spatial"):
            raise ValueError(f"encoder must be 'conv' or 'spatial'; got {self.encoder!r}")
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise ValueError(f"stride must be an integer >= 1; got {self.stride!r}")
        if not self.intensity_prior >= 0:
            raise ValueError(f"intensity_prior must be >= 0; got {self.intensity_prior!r}")
        if self.encoder == "spatial":
            if self.latent_dim != 2 * self.keypoints:
                raise ValueError(f"a spatial encoder's latent is its keypoints' (x, y): latent_dim must be 2 * keypoints "
                                 f"= {2 * self.keypoints}; got {self.latent_dim}")
            if self.image.size % self.stride:
                raise ValueError(f"the image side ({self.image.size}) must be divisible by stride ({self.stride})")
        elif self.image.size % (2 ** len(self.channels)):
            raise ValueError(f"the image side ({self.image.size}) must be divisible by 2 ** {len(self.channels)} "
                             f"(one halving per conv layer); change image.size or the number of channels")


@dataclass(frozen=True)
class EncoderTrainConfig:
    """How the autoencoder is fitted: ``reconstruction_objective`` on images of uniformly drawn free states."""

    n_images: int = 20000
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    val_fraction: float = 0.1
    seed: int = 0

    def tiny(self) -> "EncoderTrainConfig":
        return EncoderTrainConfig(n_images=min(self.n_images, 2000), epochs=min(self.epochs, 3),
                                  batch_size=self.batch_size, lr=self.lr, val_fraction=self.val_fraction, seed=self.seed)


def image_grid(side: int, device=None) -> torch.Tensor:
    """(side * side, 2) the (x, y) of every pixel of a side x side map in image coordinates: [-1, 1], x to the
    right, y up (row 0 is the top), pixels in row-major order."""
    axis = torch.linspace(-1, 1, side, device=device)
    gy, gx = torch.meshgrid(-axis, axis, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)


def spatial_softmax(logits: torch.Tensor, grid: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K, H, W) feature maps -> (B, 2 K) keypoints: a softmax over each map's pixels, then the expected
    (x, y) of ``image_grid`` under it (x1, y1, x2, y2, ...). Square maps."""
    B, K, H, W = logits.shape
    if H != W:
        raise ValueError(f"spatial_softmax needs square maps; got {H} x {W}")
    grid = image_grid(H, logits.device) if grid is None else grid
    weights = torch.softmax(logits.flatten(2), -1)  # (B, K, H W)
    return (weights @ grid.to(weights)).flatten(1)


class SpatialSoftmaxEncoder(nn.Module):
    """images (B, 2, R, R) -> (B, 2 K): K keypoints, each the softmax-weighted mean pixel position of one feature
    map, in the image's coordinates ([-1, 1], x to the right, y up; the decoder's convention)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.stride, self.prior = cfg.stride, cfg.intensity_prior
        layers, c_in = [], 2
        for i, c_out in enumerate(cfg.channels):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=cfg.stride if i == 0 else 1, padding=1), nn.SiLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Conv2d(c_in, cfg.keypoints, 1))
        self.register_buffer("grid", image_grid(cfg.image.size // cfg.stride))  # (H W, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.features(images)  # (B, K, H, W)
        if self.prior:
            agent = images[:, 1:2]
            if self.stride > 1:
                agent = nn.functional.max_pool2d(agent, self.stride)
            logits = logits + self.prior * agent
        return spatial_softmax(logits, self.grid)  # (B, 2 K): x1, y1, x2, y2, ...


class ConvAutoEncoder(nn.Module):
    """``encode``: images (B, 2, R, R) -> (B, D); ``decode``: (B, D) -> images (B, 2, R, R) (unbounded: clamp to
    [0, 1] to look at them). The encoder is ``EncoderConfig.encoder``'s: convolutions and a linear layer, or a
    ``SpatialSoftmaxEncoder``."""

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        self.config = cfg = config or EncoderConfig()
        if cfg.encoder == "spatial":
            self.encoder = SpatialSoftmaxEncoder(cfg)
        else:
            widths = (2,) + cfg.channels
            side = cfg.image.size // 2 ** len(cfg.channels)  # after the convolutions
            enc = []
            for c_in, c_out in zip(widths, widths[1:]):
                enc += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
            self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(cfg.channels[-1] * side ** 2, cfg.latent_dim))
        # Keypoint decoder: the latent says where K points are; each is drawn as a Gaussian heat map and small
        # convolutions paint the picture from the maps. Trap: a transposed-convolution or coordinate-MLP decoder
        # settles on "draw the wall, no agent" -- a small blob at a continuous position is a sharp function of
        # the pixel's coordinates, easy to draw from a heat map and hard to learn from scratch.
        R, hidden, K = cfg.image.size, cfg.decoder_hidden, cfg.keypoints
        self.register_buffer("coords", image_grid(R).reshape(R, R, 2))  # row 0 is the top, as in pixels.render
        self.heat_sigma = 2.0 / R * cfg.heat_pixels
        self.to_keypoints = nn.Linear(cfg.latent_dim, 2 * K)
        self.decoder = nn.Sequential(nn.Conv2d(K, hidden, 3, padding=1), nn.SiLU(), nn.Conv2d(hidden, 2, 3, padding=1))
        # what every image shares (the walls of a fixed layout) is learnt once, as an image of its own
        self.background = nn.Parameter(torch.zeros(1, 2, R, R))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        R = self.config.image.size
        if images.ndim != 4 or tuple(images.shape[1:]) != (2, R, R):
            raise ValueError(f"encode needs images (B, 2, {R}, {R}) (pixels.render with this encoder's image config); "
                             f"got {tuple(images.shape)}")
        return self.encoder(images)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        B = latents.shape[0]
        points = 1.1 * torch.tanh(self.to_keypoints(latents)).reshape(B, -1, 1, 1, 2)  # (B, K, 1, 1, 2)
        maps = torch.exp(-(self.coords - points).pow(2).sum(-1) / (2 * self.heat_sigma ** 2))  # (B, K, R, R)
        return self.background + self.decoder(maps)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


@torch.no_grad()
def encode_states(autoencoder: ConvAutoEncoder, states: torch.Tensor, wall: WallConfig, chunk: int = 1024
                  ) -> torch.Tensor:
    """(..., 2) states -> (..., D) latents: rendered with the encoder's image config and encoded, a chunk at
    a time (a batch of 64 x 64 images is large)."""
    lead = states.shape[:-1]
    flat = states.reshape(-1, states.shape[-1])
    device = next(autoencoder.parameters()).device
    out = [autoencoder.encode(render(flat[i:i + chunk].to(device), wall, autoencoder.config.image))
           for i in range(0, flat.shape[0], chunk)]
    return torch.cat(out).reshape(*lead, -1)


@dataclass
class LatentTransitions:
    """Episodes in latent space: latents (E, T+1, D) and the actions (E, T, A) that moved the real states.
    ``transitions()`` flattens them like ``data.Dataset`` does, so ``world_model.train_world_model`` fits a
    latent world model to them unchanged."""

    latents: torch.Tensor
    actions: torch.Tensor

    def __post_init__(self):
        if self.latents.ndim != 3 or self.actions.ndim != 3 or self.latents.shape[:2] != (
                self.actions.shape[0], self.actions.shape[1] + 1):
            raise ValueError(f"latents must be (E, T+1, D) and actions (E, T, A); got {tuple(self.latents.shape)} "
                             f"and {tuple(self.actions.shape)}")

    def __len__(self) -> int:
        """Number of transitions (as ``data.Dataset``)."""
        return self.actions.shape[0] * self.actions.shape[1]

    @classmethod
    def concat(cls, *parts: "LatentTransitions") -> "LatentTransitions":
        """Episodes of equal length from several parts stacked into one (as ``data.concat``)."""
        return cls(torch.cat([p.latents for p in parts]), torch.cat([p.actions for p in parts]))

    def transitions(self):
        D, A = self.latents.shape[-1], self.actions.shape[-1]
        return (self.latents[:, :-1].reshape(-1, D), self.actions.reshape(-1, A), self.latents[:, 1:].reshape(-1, D))

    @classmethod
    def from_dataset(cls, autoencoder: ConvAutoEncoder, ds: Dataset, wall: WallConfig) -> "LatentTransitions":
        return cls(encode_states(autoencoder, ds.states, wall), ds.actions)


# --------------------------------------------------------------------------------------------
# Training (cached)
# --------------------------------------------------------------------------------------------
def reconstruction_objective(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """The autoencoder's loss: each channel's mean squared error relative to that channel's mean squared
    intensity, averaged over channels. Trap: a plain pixel MSE is dominated by the wall (thousands of
    pixels) and an autoencoder can reach a low one by drawing the wall and no agent at all (the blob covers
    a few pixels); relative errors make forgetting the agent as costly as forgetting the wall."""
    err = (reconstruction - images).pow(2).mean((0, 2, 3))
    energy = images.pow(2).mean((0, 2, 3))
    return (err / (energy + 1e-6)).mean()


def train_autoencoder(wall: WallConfig, config: EncoderConfig | None = None,
                      train_config: EncoderTrainConfig | None = None, device=None, progress: bool = True
                      ) -> tuple[ConvAutoEncoder, dict]:
    """Fit a ``ConvAutoEncoder`` by Adam on ``reconstruction_objective`` for images of uniformly drawn free states
    (``data.sample_free_states``), rendered on the fly; the epoch with the lowest validation loss is kept.
    Returns (the model, history with train_loss and val_loss per epoch)."""
    cfg, tc = config or EncoderConfig(), train_config or EncoderTrainConfig()
    gen = torch.Generator().manual_seed(tc.seed)
    states = sample_free_states(tc.n_images, gen, wall)
    n_val = max(1, int(round(tc.val_fraction * len(states))))
    train_states, val_states = states[n_val:].to(device), states[:n_val].to(device)
    torch.manual_seed(tc.seed)
    model = ConvAutoEncoder(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tc.epochs)
    history = {"train_loss": [], "val_loss": []}
    best, best_state = float("inf"), None
    for _ in tqdm(range(tc.epochs), desc="training autoencoder", disable=not progress, leave=False):
        model.train()
        order = torch.randperm(len(train_states), generator=gen).to(train_states.device)
        total = 0.0
        for i in range(0, len(order), tc.batch_size):
            images = render(train_states[order[i:i + tc.batch_size]], wall, cfg.image)
            loss = reconstruction_objective(model(images), images)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * images.shape[0]
        sched.step()
        history["train_loss"].append(total / len(order))
        history["val_loss"].append(reconstruction_loss(model, val_states, wall))
        if history["val_loss"][-1] < best:
            best = history["val_loss"][-1]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval(), history


@torch.no_grad()
def reconstruction_loss(model: ConvAutoEncoder, states: torch.Tensor, wall: WallConfig, chunk: int = 512) -> float:
    """``reconstruction_objective`` over the images of ``states`` (averaged over chunks of ``chunk``)."""
    model.eval()
    total = 0.0
    for i in range(0, len(states), chunk):
        images = render(states[i:i + chunk], wall, model.config.image)
        total += reconstruction_objective(model(images), images).item() * images.shape[0]
    return total / len(states)


def get_autoencoder(wall: WallConfig, config: EncoderConfig | None = None,
                    train_config: EncoderTrainConfig | None = None, device=None, progress: bool = True
                    ) -> tuple[ConvAutoEncoder, dict]:
    """``train_autoencoder``'s result, loaded from data/encoder-<hash>.pt when cached (validated: the weights
    fit the stored architecture and are finite), else trained and saved atomically with its wall time."""
    cfg, tc = config or EncoderConfig(), train_config or EncoderTrainConfig()
    key = {"wall": wall, "encoder": cfg, "train": tc}
    path = cache.data_dir() / f"encoder-{cache.config_hash(key)}.pt"

    def create() -> dict:
        start = time.perf_counter()
        model, history = train_autoencoder(wall, cfg, tc, device=device, progress=progress)
        history["train_seconds"] = time.perf_counter() - start
        return {"state_dict": model.state_dict(), "history": history}

    def restore(payload: dict) -> ConvAutoEncoder:
        model = ConvAutoEncoder(cfg)
        try:
            model.load_state_dict(payload["state_dict"])
        except (RuntimeError, KeyError) as exc:
            raise cache.DataFileError(f"{path}: weights do not fit the encoder's architecture ({exc})") from exc
        if not all(torch.isfinite(p).all() for p in model.state_dict().values()):
            raise cache.DataFileError(f"{path}: non-finite weights")
        return model

    payload = cache.load_or_create(path, "encoder", key, create, validate=restore)
    return restore(payload).eval().to(device), payload["history"]


# --------------------------------------------------------------------------------------------
# What the latent encodes
# --------------------------------------------------------------------------------------------
@dataclass
class PositionProbe:
    """A linear read-out position = [latent, 1] @ weight, fitted by least squares."""

    weight: torch.Tensor  # (D + 1, 2)

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(*latents.shape[:-1], 1, dtype=latents.dtype, device=latents.device)
        return torch.cat([latents, ones], -1) @ self.weight.to(latents)


def position_probe(latents: torch.Tensor, states: torch.Tensor) -> PositionProbe:
    """Fit a ``PositionProbe`` on (N, D) latents of (N, 2) states."""
    ones = torch.ones(latents.shape[0], 1, dtype=latents.dtype)
    X = torch.cat([latents.cpu(), ones], -1).double()
    weight = torch.linalg.lstsq(X, states.cpu().double()).solution
    return PositionProbe(weight.float())


def probe_report(probe: PositionProbe, latents: torch.Tensor, states: torch.Tensor) -> dict:
    """How well ``probe`` reads positions off held-out latents: r2 (per coordinate, mean) and the mean
    Euclidean error in arena units."""
    pred = probe(latents.cpu())
    err = (pred - states.cpu()).norm(dim=-1)
    ss_res = (pred - states.cpu()).pow(2).sum(0)
    ss_tot = (states.cpu() - states.cpu().mean(0)).pow(2).sum(0)
    return {"r2": float((1 - ss_res / ss_tot).mean()), "mean_error": float(err.mean())}


# --------------------------------------------------------------------------------------------
# Planning from pixels
# --------------------------------------------------------------------------------------------
class PixelWorldModel(nn.Module):
    """The paper's setting in one module: observations are images of the states (``pixels.render``), the
    frozen ``autoencoder`` encodes them, and ``latent_model`` (a ``world_model.WorldModel`` of latents)
    predicts the next latent from the latent and the action. Planners plan in latent space toward the goal
    image's latent (``make_planner``), while the control loop, the cached runs and the evaluation keep
    working with real states: the planner only ever sees the states' images.

    ``forward(states, actions)`` is the predicted next latent; ``transition_error`` the latent error
    ||f(E(x_s), a) - E(x_s')||, so a run's gap ratio (``evaluation.evaluate``) compares latent errors where
    the planner went with latent errors on expert data."""

    differentiable = True

    def __init__(self, autoencoder: ConvAutoEncoder, latent_model, wall: WallConfig):
        super().__init__()
        self.autoencoder, self.latent_model, self.wall = autoencoder.eval(), latent_model.eval(), wall
        for p in self.autoencoder.parameters():
            p.requires_grad_(False)
        self.config = {"encoder": autoencoder.config, "latent_model": latent_model.config, "wall": wall}

    def encode(self, states: torch.Tensor) -> torch.Tensor:
        """(..., 2) states -> (..., D) latents of their images."""
        return encode_states(self.autoencoder, states, self.wall)

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.latent_model(self.encode(states), actions)

    @torch.no_grad()
    def transition_error(self, states, actions, next_states, use_cache: bool = True) -> torch.Tensor:
        """(N,) latent errors ||f(E(x_s), a) - E(x_s')||. Encoding thousands of images costs seconds, and every
        evaluation of a cached run asks again for the same transitions: with ``use_cache`` the errors are kept in
        data/errors-<hash>.pt, keyed by the model's weights and the transitions' values."""
        def compute() -> dict:
            # an episode's next states are mostly its states one step on: encode each distinct state once
            unique, index = torch.unique(torch.cat([states, next_states]), dim=0, return_inverse=True)
            z = self.encode(unique)[index]
            err = (self.latent_model(z[:len(states)], actions) - z[len(states):]).norm(dim=-1)
            return {"errors": err.cpu()}

        if not use_cache:
            return compute()["errors"].to(states.device)
        from .experiments import fingerprint
        key = {"model": fingerprint(self), "transitions": fingerprint(states, actions, next_states)}
        path = cache.data_dir() / f"errors-{cache.config_hash(key)}.pt"

        def validate(payload: dict) -> None:
            e = payload.get("errors")
            if e is None or tuple(e.shape) != (states.shape[0],):
                raise cache.DataFileError(f"{path.name}: the errors do not match the {states.shape[0]} transitions")

        return cache.load_or_create(path, "errors", key, compute, validate)["errors"].to(states.device)

    def make_planner(self, config, action_bound: float) -> "LatentPlanner":
        return LatentPlanner(self, config, action_bound)


class LatentPlanner:
    """``planner(starts, goals, horizon, warm_start=None) -> Plan`` for ``control.execute``: encodes the
    images of the starts and of the goals, plans in latent space with ``planners.make_planner(latent_model,
    config, action_bound)`` and returns that plan (actions are real moves; ``predicted_states`` are latents).

    The goal images are encoded once: MPC replans toward the same goals every few steps, and an agent given a
    goal image encodes it when it gets it (the same batch encodes to the same latents, so the plans are those
    of encoding it every time). The start images are encoded at every plan. The encoder's passes are not
    counted as world-model evaluations; their seconds are part of the run's."""

    def __init__(self, model: PixelWorldModel, config, action_bound: float):
        from .planners import make_planner
        self.model = model
        self.inner = make_planner(model.latent_model, config, action_bound)
        self._goals = self._z_goals = None  # the last goals planned toward, and their latents

    def __call__(self, starts, goals, horizon, warm_start=None, trace=False):
        with torch.no_grad():
            z_start = self.model.encode(starts)
            known = self._goals  # torch.equal is False for another shape; it needs both on one device
            if known is None or known.device != goals.device or not torch.equal(known, goals):
                self._goals, self._z_goals = goals.clone(), self.model.encode(goals)
        return self.inner(z_start, self._z_goals, horizon, warm_start=warm_start, trace=trace)
