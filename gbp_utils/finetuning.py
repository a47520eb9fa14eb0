"""Close the train-test gap by finetuning the world model: online (DAgger-style) on the planner's
own experience in the real environment, and adversarially on worst-case input perturbations.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch

from .control import OPEN_LOOP, Execution, execute
from .data import DataConfig, Dataset, concat
from .env import TaskSet, WallEnv
from .planners import GBPConfig, make_planner
from .world_model import (TrainConfig, TrainResult, WorldModel, cached_model, get_world_model, next_state_loss,
                          train_world_model, training_split)
from .worlds import World, WorldDataConfig


# --------------------------------------------------------------------------------------------
# Adversarial world modelling
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdversarialConfig:
    """min_theta E[ max_{|d_s| <= eps_s, |d_a| <= eps_a} || f(s + d_s, a + d_a) - s' ||^2 ]."""

    state_factor: float = 0.02  # eps_s = state_factor * std of states (per dimension)
    action_factor: float = 0.02  # eps_a = action_factor * std of actions (per dimension)
    steps: int = 1  # 1: FGSM with random start (the paper's recipe); k > 1: PGD-k
    fgsm_step: float = 1.25  # FGSM step size in units of eps
    pgd_step: float = 2.5  # PGD: total step budget in units of eps, split over the k steps

    def __post_init__(self):
        if self.state_factor < 0 or self.action_factor < 0:
            raise ValueError("state_factor and action_factor must be >= 0")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1 (1 = FGSM); got {self.steps}")


CONSTANT_SPREAD = 1e-5  # a state coordinate whose one-step change spreads less than this never changes


class AdversarialLoss:
    """A ``batch_loss`` for ``train_world_model``: the next-state loss at adversarially perturbed
    inputs, against the clean targets. eps is fixed from the first minibatch's std (the paper found
    that stable; re-estimating per batch gave no consistent gain). A fresh perturbation every batch.
    """

    def __init__(self, config: AdversarialConfig | None = None, skip_constant: bool = False):
        """``skip_constant``: leave unperturbed the state coordinates that never change within an episode (their
        one-step change has no spread: the door features of notebook 10's layout worlds). The loss divides each
        coordinate's error by the spread of its one-step change, floored at 1e-6 for a constant one; a perturbed
        constant coordinate, carried into the prediction by the residual connection, then costs ~(eps / 1e-6)^2
        and swamps every other term."""
        self.config = config or AdversarialConfig()
        self.skip_constant = skip_constant
        self.eps_s = self.eps_a = None

    def _loss(self, model: WorldModel, s, a, d_s, d_a, s_next):
        # The paper's objective on the full prediction: || f(s + d_s, a + d_a) - s' ||^2, normalised.
        pred = model(s + d_s, a + d_a)
        return ((pred - s_next) / model.delta_std).pow(2).mean()

    def perturbation(self, model: WorldModel, s, a, s_next) -> tuple[torch.Tensor, torch.Tensor]:
        """The worst-case input perturbations (d_s, d_a) for a batch, each inside its box [-eps, eps]."""
        cfg = self.config
        if self.eps_s is None:  # fixed from the first minibatch
            self.eps_s = cfg.state_factor * s.std(0)
            if self.skip_constant:
                self.eps_s = self.eps_s * (model.delta_std > CONSTANT_SPREAD)
            self.eps_a = cfg.action_factor * a.std(0)
        eps_s, eps_a = self.eps_s, self.eps_a
        # ALGO LOGIC: random start, then k signed-gradient ascent steps on the loss, projected to the box.
        d_s = (2 * torch.rand_like(s) - 1) * eps_s
        d_a = (2 * torch.rand_like(a) - 1) * eps_a
        step = cfg.fgsm_step if cfg.steps == 1 else cfg.pgd_step / cfg.steps
        for _ in range(cfg.steps):
            d_s.requires_grad_(True)
            d_a.requires_grad_(True)
            g_s, g_a = torch.autograd.grad(self._loss(model, s, a, d_s, d_a, s_next), [d_s, d_a])
            with torch.no_grad():
                d_s = torch.maximum(torch.minimum(d_s + step * eps_s * g_s.sign(), eps_s), -eps_s)
                d_a = torch.maximum(torch.minimum(d_a + step * eps_a * g_a.sign(), eps_a), -eps_a)
        return d_s.detach(), d_a.detach()

    @torch.no_grad()
    def decompose(self, model: WorldModel, s, a, s_next, d_s, d_a) -> dict:
        """Where the adversarial loss comes from, for perturbations (d_s, d_a) of a batch: "clean" (the loss at
        the data), "adversarial" (at the perturbed inputs) and "pass-through": the loss if the model's predicted
        *change* ignored the perturbation, f(s, a) + d_s. A residual model's prediction carries d_s into
        s + d_s + ..., and the target is the clean s', so a state perturbation raises the loss even for a model
        that is perfectly flat in its inputs; only "adversarial" above "pass-through" measures the model's own
        sensitivity."""
        norm = lambda pred: ((pred - s_next) / model.delta_std).pow(2).mean().item()  # noqa: E731
        return {"clean": norm(model(s, a)), "adversarial": norm(model(s + d_s, a + d_a)),
                "pass-through": norm(model(s, a) + d_s)}

    def terms(self, model: WorldModel, s, a, s_next) -> torch.Tensor:
        """(S,) what each state coordinate contributes to the loss of a batch (its mean normalised squared error
        at a perturbation drawn as in training): the loss is their mean."""
        d_s, d_a = self.perturbation(model, s, a, s_next)
        with torch.no_grad():
            return ((model(s + d_s, a + d_a) - s_next) / model.delta_std).pow(2).mean(0)

    def __call__(self, model: WorldModel, s, a, s_next) -> torch.Tensor:
        d_s, d_a = self.perturbation(model, s, a, s_next)
        # Train on the perturbed inputs only (no clean/adversarial mix), against the clean target.
        return self._loss(model, s, a, d_s, d_a, s_next)


def adversarial_finetune(model: WorldModel, train: Dataset, config: AdversarialConfig | None = None,
                         finetune: TrainConfig | None = None, device=None, progress: bool = True
                         ) -> TrainResult:
    """Finetune a copy of ``model`` with the adversarial loss (the normaliser is kept). The model
    after the last epoch is returned: selecting by clean validation loss would undo the point."""
    return train_world_model(train, None, train_config=finetune, model=copy.deepcopy(model), device=device,
                             progress=progress, batch_loss=AdversarialLoss(config))


# --------------------------------------------------------------------------------------------
# Online world modelling (DAgger-style)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnlineConfig:
    """Rounds of: plan on training tasks, execute for real, keep the transitions, finetune."""

    rounds: int = 4
    tasks_per_round: int = 300  # training tasks (split "train"), fresh every round
    executions: tuple = (OPEN_LOOP,)  # how plans are executed to collect data: control.Execution(s), each
    # collecting its own episodes every round
    planner_share: float = 0.5  # fraction of each epoch's samples drawn from planner data (rest: expert)
    epochs_per_round: int = 10
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        executions = tuple(self.executions)
        if not executions or not all(isinstance(e, Execution) for e in executions):
            raise ValueError(f"executions must be a non-empty tuple of control.Execution, e.g. (OPEN_LOOP,) or "
                             f"(OPEN_LOOP, presets().mpc); got {self.executions!r}")
        object.__setattr__(self, "executions", executions)
        if not 0 < self.planner_share < 1:
            raise ValueError(f"planner_share must be in (0, 1); got {self.planner_share}")
        if self.rounds < 1 or self.tasks_per_round < 1 or self.epochs_per_round < 1:
            raise ValueError("rounds, tasks_per_round and epochs_per_round must be >= 1")

    def tiny(self) -> "OnlineConfig":
        """Two rounds of 50 tasks for fast mode (CI). The tiny datasets give few gradient steps per
        epoch, so the learning rate is raised to 1e-2; every other field is kept."""
        return dataclasses.replace(self, rounds=min(self.rounds, 2), tasks_per_round=min(self.tasks_per_round, 50),
                                   lr=max(self.lr, 1e-2))


def mixing_weights(n_expert: int, n_planner: int, planner_share: float) -> torch.Tensor:
    """Per-transition sampling weights so that planner data make up ``planner_share`` of samples."""
    return torch.cat([torch.full((n_expert,), (1 - planner_share) / n_expert),
                      torch.full((n_planner,), planner_share / n_planner)])


def online_finetune(model: WorldModel, expert_train: Dataset, env: WallEnv | World, planner_config,
                    config: OnlineConfig | None = None, base_train: TrainConfig | None = None,
                    callback=None, device=None, progress: bool = True,
                    adversarial: AdversarialConfig | None = None, skip_constant: bool = False
                    ) -> tuple[WorldModel, list[Dataset]]:
    """DAgger-style finetuning of a copy of ``model``.

    Args:
        model: a ``WorldModel``, or a ``latent.PixelWorldModel`` (notebook 09): its planner plans in latent
            space from the images of the states, and each round refits its latent model on the latents of the
            real episodes (encoder frozen); ``expert_train`` is then ``latent.LatentTransitions``.
        env: the point world's ``WallEnv``, or a ``worlds.World`` (its training tasks, dynamics and action
            bound; notebook 10).
        planner_config: the planner that collects the data each round (``planners.make_planner``),
            e.g. ``presets().gbp``, with the environment's action bound.
        base_train: the base model's training config; each round fits with its batch size and weight
            decay, ``config.epochs_per_round`` epochs at ``config.lr``, seeded ``base_train.seed + round``.
        callback: optional ``callback(round, model, collected)`` after each round (for evaluation).
        adversarial: if given, every round fits with the adversarial loss (online + adversarial).
        skip_constant: the adversarial loss leaves unperturbed the state coordinates that never change
            (``AdversarialLoss``).
    Returns:
        the finetuned model and the planner datasets collected in each round.
    """
    from .latent import LatentTransitions, PixelWorldModel
    cfg = config or OnlineConfig()
    tc = dataclasses.replace(base_train or TrainConfig(), epochs=cfg.epochs_per_round, lr=cfg.lr)
    model = copy.deepcopy(model)
    world, real = (env, env.env) if isinstance(env, World) else (World(env.wall), env)  # tasks, bound; the dynamics
    pixels = isinstance(model, PixelWorldModel)
    if pixels and not isinstance(expert_train, LatentTransitions):
        raise TypeError("a PixelWorldModel is finetuned in its latent space: give expert_train as "
                        "latent.LatentTransitions (the expert episodes' latents)")
    stack = LatentTransitions.concat if pixels else concat
    collected: list[Dataset] = []
    fitted = []  # what the model fits: the collected episodes, or (pixels) their latents, encoded once
    for r in range(cfg.rounds):
        # 1) plan with the current model on fresh training tasks
        tasks: TaskSet = world.sample_tasks(cfg.tasks_per_round, 1000 * (cfg.seed + 1) + r, "train", device=device)
        planner = make_planner(model, planner_config, world.action_bound, world.moves_positions)
        # 2) execute the plans in the real environment, 3) keep what happened
        runs = [execute(real, planner, tasks, execution) for execution in cfg.executions]
        collected.append(concat(*[run.as_dataset() for run in runs]))
        fitted.append(LatentTransitions.from_dataset(model.autoencoder, collected[-1], model.wall) if pixels
                      else collected[-1])
        # 4) fit on expert + all planner data so far, mixed by planner_share (pixels: the latent model, on latents;
        # the encoder stays frozen)
        planner_data = stack(*fitted)
        data = stack(expert_train, planner_data)
        weights = mixing_weights(len(expert_train), len(planner_data), cfg.planner_share)
        loss = AdversarialLoss(adversarial, skip_constant) if adversarial is not None else next_state_loss
        fit = train_world_model(data, None, train_config=dataclasses.replace(tc, seed=tc.seed + r),
                                model=model.latent_model if pixels else model, device=device, progress=progress,
                                weights=weights, batch_loss=loss).model
        model = PixelWorldModel(model.autoencoder, fit, model.wall) if pixels else fit
        if callback is not None:
            callback(r, model, collected)
    return model, collected


# --------------------------------------------------------------------------------------------
# Cached finetuned models (so later notebooks load them instead of re-running the finetuning)
# --------------------------------------------------------------------------------------------
def get_online_model(presets, online: OnlineConfig | None = None, gbp: GBPConfig | None = None,
                     device=None, progress: bool = True, adversarial: AdversarialConfig | None = None,
                     data_configs: list[DataConfig] | None = None, base_train: TrainConfig | None = None,
                     skip_constant: bool = False) -> TrainResult:
    """The base model of ``presets`` after online finetuning with a GBP planner; one snapshot per
    round in ``.snapshots``. Loaded from data/ when cached for exactly these configs.

    online, gbp: the loop and its planner (default ``presets.online`` and ``presets.gbp``).
    adversarial: fit every round with the adversarial loss (online + adversarial); skip_constant: leave the
        state coordinates that never change unperturbed (``AdversarialLoss``; notebook 10's repair).
    data_configs: the base model's data (default: the expert data only); the same episodes are the
        "expert" side of the mix. base_train: the base model's training (default ``presets.train``;
        change its seed for another training seed).
    """
    P = presets
    online, gbp = online or P.online, gbp or P.gbp
    data_configs = list(data_configs or [P.expert_data])
    tc = base_train or P.train
    config = {"base_data": data_configs, "model": P.model, "train": tc, "online": online, "gbp": gbp}
    if adversarial is not None:  # keys only when used, so older caches keep their names
        config["adversarial"] = adversarial
    if skip_constant:
        if adversarial is None:
            raise ValueError("skip_constant changes the adversarial loss: give an adversarial config too")
        config["skip_constant"] = True

    def build() -> TrainResult:
        base = get_world_model(data_configs, P.model, tc, device=device, progress=progress).model
        expert_train, _ = training_split(data_configs, tc)
        snapshots = []
        world = next((c.world for c in data_configs if isinstance(c, WorldDataConfig)), None)  # notebook 10
        model, collected = online_finetune(
            base, expert_train, world or WallEnv(P.wall), gbp, online, tc,
            callback=lambda r, m, c: snapshots.append(copy.deepcopy(m)), device=device, progress=progress,
            adversarial=adversarial, skip_constant=skip_constant)
        return TrainResult(model, {"collected_transitions": [len(c) for c in collected]}, snapshots)

    return cached_model("online", config, build, device)


def get_adversarial_model(presets, data_configs: list[DataConfig] | None = None,
                          adversarial: AdversarialConfig | None = None, finetune: TrainConfig | None = None,
                          device=None, progress: bool = True, base_train: TrainConfig | None = None
                          ) -> TrainResult:
    """The model trained on ``data_configs`` (default: the expert data), then adversarially finetuned
    on the same training episodes. Loaded from data/ when cached for exactly these configs.

    adversarial: the budget (default ``presets.adversarial_only``); finetune: the finetuning run
    (default ``presets.adversarial_finetune`` with the base model's seed); base_train: the base
    model's training (default ``presets.train``; change its seed for another training seed).
    """
    P = presets
    data_configs = list(data_configs or [P.expert_data])
    adversarial = adversarial or P.adversarial_only
    base_tc = base_train or P.train
    tc = finetune or dataclasses.replace(P.adversarial_finetune, seed=base_tc.seed)
    config = {"base_data": data_configs, "model": P.model, "train": base_tc, "adversarial": adversarial,
              "finetune": tc}

    def build() -> TrainResult:
        base = get_world_model(data_configs, P.model, base_tc, device=device, progress=progress).model
        train, _ = training_split(data_configs, base_tc)
        return adversarial_finetune(base, train, adversarial, tc, device=device, progress=progress)

    return cached_model("adversarial", config, build, device)
