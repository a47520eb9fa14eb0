"""Pessimistic planning through an ensemble of world models (appendix notebook 11).

A planner exploits a learned model exactly where the model is wrong, and the model is wrong where
the data never went. Models trained with different seeds on different bootstrap resamples of the
same data agree where the data are dense and disagree where they are not, so their *disagreement*
is a signal of "off the data" that costs no new data at all (PETS, MOPO, MOReL). Planning through
the ensemble's mean prediction and adding ``beta`` times the summed disagreement to the cost steers
plans away from the states the train-test gap lives in.

* ``EnsembleWorldModel``: M members of one architecture, evaluated together in batched matrix
  products; ``forward`` is the members' mean next state (the rollout propagates the mean);
  ``disagreement`` is the members' spread around it, in arena units.
* Planners (``planners.GBPPlanner``, every ``sampling`` planner) ask a world model for
  ``penalised_rollout(starts, actions) -> (states, penalty)`` when it has one and add the penalty to
  the planning cost (``planners.model_cost``); they multiply their world-model evaluation counts by
  ``evaluations_per_step`` (an ensemble step costs M member evaluations: compute comparisons must
  charge all of them).
* ``get_member`` trains (or loads) member m of an ensemble: its own seed and its own bootstrap
  resample of the training episodes, cached one member per file, so an ensemble of 5 reuses the
  first 3 members of an ensemble of 3.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .data import DataConfig, Dataset
from .planners import GBPConfig
from .sampling import CEMConfig
from .world_model import (_ACTIVATIONS, _FUSED_ACTIVATIONS, TrainConfig, TrainResult, WorldModel, WorldModelConfig, cached_model,
                          train_world_model, training_split)

MEMBER_SEED_STRIDE = 1000
"""Member m of an ensemble whose training config has seed s trains with seed s + 1000 m (so member 0
of an ensemble without bootstrap is the series' single model with that seed, bit for bit)."""


@dataclass(frozen=True)
class EnsembleSpec:
    """What an ``EnsembleWorldModel`` is, beyond its weights: its size, the members' architecture and
    the disagreement penalty its planners pay. Part of every cached run's key (``experiments.run``),
    so runs with different ``beta`` never share a cache file."""

    members: int
    model: WorldModelConfig
    beta: float = 0.0

    def __post_init__(self):
        if isinstance(self.members, bool) or not isinstance(self.members, int) or self.members < 1:
            raise ValueError(f"members must be an integer >= 1; got {self.members!r}")
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or not (
                math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0 (0 plans through the mean without a penalty); "
                             f"got {self.beta!r}")


class _FusedEnsembleRollout(torch.autograd.Function):
    """``EnsembleWorldModel._penalised_rollout`` (with the summed disagreement, before beta) as one autograd
    node: the forward runs without recording a graph and keeps each step's pre-activations, the backward
    walks the steps in reverse by hand, all members at once in batched products. The members' weights get
    no gradient: this is for planning. What autograd would compute, up to float rounding (a test checks)."""

    @staticmethod
    def forward(ctx, starts, actions, model):
        act, _ = _FUSED_ACTIVATIONS[type(model._act)]
        layers = [(w.transpose(1, 2), b[:, None]) for w, b in model._layers()]
        w_out_t, b_out = model.out_weight.transpose(1, 2), model.out_bias[:, None]
        s_mean, s_std = model.state_mean[:, None], model.state_std[:, None]
        a_mean, a_std = model.action_mean[:, None], model.action_std[:, None]
        d_mean, d_std = model.delta_mean[:, None], model.delta_std[:, None]
        M = model.members
        s, states, total, saved = starts, [starts], starts.new_zeros(starts.shape[0]), []
        with torch.no_grad():
            # every step's normalised actions at once (M, B, H, A): the same numbers as step by step
            x_actions = (actions[None] - a_mean[:, None]) / a_std[:, None]
            for t in range(actions.shape[1]):
                x = torch.cat([(s - s_mean) / s_std, x_actions[:, :, t]], -1)
                zs, hs = [], []
                h = None
                for i, (w_t, b) in enumerate(layers):
                    z = torch.baddbmm(b, x if i == 0 else h, w_t)
                    a = act(z)
                    h = a if i == 0 else h + a
                    zs.append(z)
                    hs.append(a)
                p = s + d_mean + d_std * torch.baddbmm(b_out, h, w_out_t)  # (M, B, S)
                s = p.mean(0)
                dev = p - s
                root = (dev.pow(2).sum(-1).mean(0) + 1e-12).sqrt()  # (B,)
                total = total + (root - 1e-6)
                states.append(s)
                saved.append((zs, hs, dev, root))
        ctx.saved, ctx.model, ctx.M = saved, model, M
        return torch.stack(states, 1), total

    @staticmethod
    def backward(ctx, grad_states, grad_total):
        model, M = ctx.model, ctx.M
        _, act_backward = _FUSED_ACTIVATIONS[type(model._act)]
        weights = [w for w, _ in model._layers()]
        w_out, s_std, a_std, d_std = model.out_weight, model.state_std[:, None], model.action_std[:, None], model.delta_std[:, None]
        S = grad_states.shape[-1]
        H = len(ctx.saved)
        g = grad_states[:, H]  # dL/ds_H
        grad_actions = [None] * H
        for t in range(H - 1, -1, -1):
            zs, hs, dev, root = ctx.saved[t]
            # p_m feeds the mean (weight 1/M) and the spread: d root / d p_m = (p_m - mean) / (M root)
            gp = g[None] / M + (grad_total / root)[None, :, None] * dev / M  # (M, B, S)
            gh = torch.bmm(gp * d_std, w_out)  # (M, B, hidden)
            for w, z, h in zip(weights[:0:-1], zs[:0:-1], hs[:0:-1]):  # the blocks, last first
                gh = gh + torch.bmm(act_backward(gh, z, h), w)
            gx = torch.bmm(act_backward(gh, zs[0], hs[0]), weights[0])  # (M, B, S + A)
            grad_actions[t] = (gx[..., S:] / a_std).sum(0)
            g = grad_states[:, t] + gp.sum(0) + (gx[..., :S] / s_std).sum(0)
        return g, torch.stack(grad_actions, 1), None


def spread(predictions: torch.Tensor) -> torch.Tensor:
    """(M, ..., S) member predictions -> (...) their root-mean-square distance to the members' mean,
    sqrt(1/M sum_m ||p_m - mean||^2), in the units of the predictions (arena units here).

    Exactly 0 when all members agree; its gradient exists there (it is 0), so a planner can
    differentiate it everywhere."""
    var = (predictions - predictions.mean(0)).pow(2).sum(-1).mean(0)
    return (var + 1e-12).sqrt() - 1e-6


class EnsembleWorldModel(nn.Module):
    """M world models of one architecture evaluated as one: ``model(s, a)`` is their mean next state.

    Built from trained ``WorldModel`` s (``from_models``); their weights are stacked into (M, ...)
    tensors so one step of all members is a handful of batched matrix products. The weights are
    frozen (``requires_grad`` False): this is a model to plan through, not to train — train the
    members, then stack them.

    ``beta`` (in ``spec``) is the disagreement penalty: ``penalised_rollout`` returns
    beta * sum_t disagreement(s_t, a_t) per plan, which planners add to their cost. ``with_beta``
    gives the same members with another penalty (no copy of the weights).
    """

    differentiable = True  # planners backpropagate through the batched members

    def __init__(self, stacked: dict, spec: EnsembleSpec):
        super().__init__()
        self.spec = spec
        self._act = _ACTIVATIONS[spec.model.activation]()
        for name, value in stacked.items():
            self.register_parameter(name.replace(".", "_"), nn.Parameter(value.detach().clone(), requires_grad=False))

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_models(cls, models, beta: float = 0.0) -> "EnsembleWorldModel":
        """Stack trained ``WorldModel`` s (all of one architecture) into an ensemble."""
        models = list(models)
        if not models:
            raise ValueError("an ensemble needs at least one member; got an empty list of models")
        bad = [i for i, m in enumerate(models) if type(m) is not WorldModel]
        if bad:
            raise TypeError(f"ensemble members must be plain WorldModels; members {bad} are "
                            f"{sorted({type(models[i]).__name__ for i in bad})}")
        config = models[0].config
        differ = [i for i, m in enumerate(models) if m.config != config]
        if differ:
            raise ValueError(f"ensemble members must share one architecture; members {differ} differ from "
                             f"member 0's {config}")
        states = [m.state_dict() for m in models]
        stacked = {k: torch.stack([sd[k] for sd in states]) for k in states[0]}
        return cls(stacked, EnsembleSpec(len(models), config, beta))

    def with_beta(self, beta: float) -> "EnsembleWorldModel":
        """The same members (shared tensors, no copy) planning with disagreement penalty ``beta``."""
        other = EnsembleWorldModel.__new__(EnsembleWorldModel)
        nn.Module.__init__(other)
        other.spec = dataclasses.replace(self.spec, beta=beta)
        other._act = self._act
        for name, p in self.named_parameters():
            other.register_parameter(name, p)
        return other.train(self.training)

    def member(self, m: int) -> WorldModel:
        """Member m as a standalone ``WorldModel`` (a copy of its weights)."""
        if not 0 <= m < self.members:
            raise IndexError(f"member index must be in [0, {self.members}); got {m}")
        model = WorldModel(self.spec.model)
        model.load_state_dict({k: getattr(self, k.replace(".", "_"))[m] for k in model.state_dict()})
        return model.eval().to(self.inp_0_weight.device)

    # -- what planners and evaluations read ------------------------------------------------
    @property
    def members(self) -> int:
        return self.spec.members

    @property
    def beta(self) -> float:
        return self.spec.beta

    @property
    def config(self) -> EnsembleSpec:
        """The spec, under the name ``experiments.model_identity`` reads."""
        return self.spec

    @property
    def evaluations_per_step(self) -> int:
        """World-model evaluations one ensemble step costs: one per member."""
        return self.spec.members

    # -- the members, batched ----------------------------------------------------------------
    def member_predictions(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """states (B, S) or (M, B, S), actions (B, A) -> (M, B, S): every member's next state.

        Member m's row equals ``self.member(m)(states, actions)`` up to float rounding (batched
        products may sum in another order)."""
        if actions.ndim != 2 or states.shape[-2:] != (actions.shape[0], self.state_mean.shape[-1]):
            raise ValueError(f"member_predictions needs states (B, S) or (M, B, S) and actions (B, A); got "
                             f"{tuple(states.shape)} and {tuple(actions.shape)}")
        act = self._act
        x = torch.cat([(states - self.state_mean[:, None]) / self.state_std[:, None],
                       ((actions - self.action_mean[:, None]) / self.action_std[:, None])], -1)
        h = act(torch.baddbmm(self.inp_0_bias[:, None], x, self.inp_0_weight.transpose(1, 2)))
        for i in range(self.spec.model.n_blocks):
            w, b = getattr(self, f"blocks_{i}_0_weight"), getattr(self, f"blocks_{i}_0_bias")
            h = h + act(torch.baddbmm(b[:, None], h, w.transpose(1, 2)))
        delta = torch.baddbmm(self.out_bias[:, None], h, self.out_weight.transpose(1, 2))
        return states + self.delta_mean[:, None] + self.delta_std[:, None] * delta

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """states (..., S), actions (..., A) -> the members' mean next state (..., S)."""
        lead = states.shape[:-1]
        pred = self.member_predictions(states.reshape(-1, states.shape[-1]), actions.reshape(-1, actions.shape[-1]))
        return pred.mean(0).reshape(*lead, -1)

    def disagreement(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """states (..., S), actions (..., A) -> (...) the members' spread (``spread``), arena units."""
        lead = states.shape[:-1]
        pred = self.member_predictions(states.reshape(-1, states.shape[-1]), actions.reshape(-1, actions.shape[-1]))
        return spread(pred).reshape(lead)

    def penalised_rollout(self, starts: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll the mean model and sum the disagreement along the way.

        Args: starts (B, S), actions (B, H, A).
        Returns: states (B, H+1, S) with states[:, 0] = starts (the same states ``world_model.rollout``
            gives), and the penalty (B,) = beta * sum_{t<H} disagreement(s_t, a_t); zeros when beta is 0.
            Differentiable w.r.t. ``starts`` and ``actions`` (a planner's gradient goes through
            ``_FusedEnsembleRollout``: the same numbers up to float rounding, several times faster for the
            few rows of one task).
        """
        if actions.ndim != 3 or starts.ndim != 2 or actions.shape[0] != starts.shape[0]:
            raise ValueError(f"rollout needs starts (B, S) and actions (B, H, A); got {tuple(starts.shape)} "
                             f"and {tuple(actions.shape)}")
        if (torch.is_grad_enabled() and (actions.requires_grad or starts.requires_grad)
                and type(self._act) in _FUSED_ACTIVATIONS):
            states, total = _FusedEnsembleRollout.apply(starts, actions, self)
            return states, self.spec.beta * total
        return self._penalised_rollout(starts, actions)

    def _penalised_rollout(self, starts: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``penalised_rollout`` step by step with autograd (the reference the fused version is tested against)."""
        s, states, penalty = starts, [starts], starts.new_zeros(starts.shape[0])
        for t in range(actions.shape[1]):
            pred = self.member_predictions(s, actions[:, t])
            if self.spec.beta > 0:
                penalty = penalty + spread(pred)
            s = pred.mean(0)
            states.append(s)
        return torch.stack(states, 1), self.spec.beta * penalty

    def _layers(self) -> list:
        """[(weight (M, out, in), bias (M, out))] of the input layer and each block, in order."""
        return [(self.inp_0_weight, self.inp_0_bias)] + [
            (getattr(self, f"blocks_{i}_0_weight"), getattr(self, f"blocks_{i}_0_bias"))
            for i in range(self.spec.model.n_blocks)]

    def extra_repr(self) -> str:
        return f"members={self.members}, beta={self.beta}, hidden={self.spec.model.hidden}"


@dataclass(frozen=True)
class PessimismPresets:
    """Notebook 11's settings: the ensemble sizes and penalties tried on ``tune_tasks`` tune tasks, the
    development tasks of its over-pessimism sweep, and the light CEM and GBP of its beta widget."""

    members_grid: tuple = (2, 3, 5)
    beta_grid: tuple = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
    tune_tasks: int = 100
    dev_tasks: int = 100
    widget_cem: CEMConfig = field(default_factory=lambda: CEMConfig(population=100, elites=10, iterations=5))
    # The widget's GBP: ``presets()`` sets it to ``gbp_explorer`` with 10 iterations instead of 15 — every step
    # through the ensemble costs M member evaluations, and the widget must answer within 200 ms.
    widget_gbp: GBPConfig | None = None

    def __post_init__(self):
        if not self.members_grid or any(isinstance(m, bool) or not isinstance(m, int) or m < 1
                                        for m in self.members_grid):
            raise ValueError(f"members_grid must hold integers >= 1; got {self.members_grid!r}")
        if not self.beta_grid or any(not (b >= 0) for b in self.beta_grid):
            raise ValueError(f"beta_grid must hold numbers >= 0; got {self.beta_grid!r}")
        if self.tune_tasks < 1 or self.dev_tasks < 1:
            raise ValueError(f"tune_tasks and dev_tasks must be >= 1; got {self.tune_tasks}, {self.dev_tasks}")

    def tiny(self) -> "PessimismPresets":
        """For fast mode (CI): one ensemble size, two penalties, a few tasks, a tiny widget CEM."""
        return dataclasses.replace(self, members_grid=(2,), beta_grid=(0.0, 1.0), tune_tasks=10, dev_tasks=10,
                                   widget_cem=self.widget_cem.tiny())



# --------------------------------------------------------------------------------------------
# Members: training and caching
# --------------------------------------------------------------------------------------------
def bootstrap(train: Dataset, seed: int) -> Dataset:
    """A bootstrap resample of ``train``'s episodes: as many episodes as it has, drawn with
    replacement (whole episodes, so no transition's neighbours leak between resamples)."""
    E = train.n_episodes
    idx = torch.randint(0, E, (E,), generator=torch.Generator().manual_seed(seed))
    return train[idx]


def member_train_config(train_config: TrainConfig, m: int) -> TrainConfig:
    """Member m's training: the ensemble's config with seed s + ``MEMBER_SEED_STRIDE`` * m."""
    if isinstance(m, bool) or not isinstance(m, int) or m < 0:
        raise ValueError(f"member index must be an integer >= 0; got {m!r}")
    return dataclasses.replace(train_config, seed=train_config.seed + MEMBER_SEED_STRIDE * m)


def member_data(data_configs: list[DataConfig], train_config: TrainConfig, m: int, use_bootstrap: bool = True
                ) -> tuple[Dataset, Dataset]:
    """(train, validation) of member m: the ensemble's split (by ``train_config``'s seed, the same for
    every member, so all members are validated on the same held-out episodes and none of them trains
    on those), then, with ``use_bootstrap``, member m's bootstrap resample of the training part."""
    train, val = training_split(data_configs, train_config)
    if use_bootstrap:
        train = bootstrap(train, member_train_config(train_config, m).seed)
    return train, val


def member_config(data_configs: list[DataConfig], model_config: WorldModelConfig, train_config: TrainConfig, m: int,
                  use_bootstrap: bool = True) -> dict:
    """What identifies member m (its cache key, and the base of its finetuned versions' keys)."""
    return {"data": list(data_configs), "model": model_config, "train": train_config, "member": m,
            "bootstrap": bool(use_bootstrap)}


def get_member(data_configs: list[DataConfig], m: int, model_config: WorldModelConfig | None = None,
               train_config: TrainConfig | None = None, use_bootstrap: bool = True, device=None,
               progress: bool = True) -> TrainResult:
    """Member m of the ensemble trained on ``data_configs``: loaded from data/ when cached, else trained."""
    mc, tc = model_config or WorldModelConfig(), train_config or TrainConfig()
    member_train_config(tc, m)  # checks m
    config = member_config(data_configs, mc, tc, m, use_bootstrap)

    def build() -> TrainResult:
        train, val = member_data(data_configs, tc, m, use_bootstrap)
        return train_world_model(train, val, mc, member_train_config(tc, m), device=device, progress=progress)

    return cached_model("member", config, build, device)


def get_ensemble(data_configs: list[DataConfig], members: int, model_config: WorldModelConfig | None = None,
                 train_config: TrainConfig | None = None, use_bootstrap: bool = True, beta: float = 0.0,
                 device=None, progress: bool = True) -> EnsembleWorldModel:
    """The ensemble of members 0..M-1 (``get_member``), stacked, planning with penalty ``beta``."""
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be an integer >= 1; got {members!r}")
    results = [get_member(data_configs, m, model_config, train_config, use_bootstrap, device, progress)
               for m in range(members)]
    return EnsembleWorldModel.from_models([r.model for r in results], beta).to(device)
