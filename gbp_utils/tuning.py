"""Choosing planner settings on tune tasks, with the same budget for every planner family.

A planner's settings are tuned by one pass of coordinate search: starting from a default config, each
``Knob`` in turn tries its candidate values on top of the best config found so far and keeps the best
(ties keep the config already held, so a default is only replaced by a strictly better value). Every
family (Adam-GBP, GD-GBP, CEM; ``presets()`` holds their knobs) gets the same number of candidate
values, and every candidate is scored the same way: mean success, open loop, on the tune tasks, over
the world models given (``experiments.run``, cached). Nothing here looks at development or test tasks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from . import experiments
from .control import OPEN_LOOP, Execution
from .env import TaskSet, WallConfig, success
from .evaluation import model_evals


TIE = 1e-6  # scores closer than this count as equal (a rate's step is 1 / tasks, far larger)


@dataclass(frozen=True)
class Knob:
    """One setting to tune: ``name`` (shown in the table) and its candidate ``values``, each a dict of
    config fields applied together (so one knob can move several fields, e.g. restarts and iterations
    at a fixed product), and optionally a ``labels`` tuple naming each value for the table."""

    name: str
    values: tuple
    labels: tuple | None = None

    def __post_init__(self):
        ok = lambda v: callable(v) or (isinstance(v, dict) and v)  # noqa: E731
        if not self.values or not all(ok(v) for v in self.values):
            raise ValueError(f"knob {self.name!r}: values must be a non-empty tuple of non-empty dicts of config "
                             f"fields (or functions of the held config returning one); got {self.values!r}")
        if self.labels is not None and len(self.labels) != len(self.values):
            raise ValueError(f"knob {self.name!r}: {len(self.labels)} labels for {len(self.values)} values")
        if self.labels is None and any(callable(v) for v in self.values):
            raise ValueError(f"knob {self.name!r}: values given as functions need labels")

    def fields(self, i: int, held) -> dict:
        """The config fields of value i on top of the ``held`` config."""
        v = self.values[i]
        return v(held) if callable(v) else v

    def label(self, i: int) -> str:
        if self.labels is not None:
            return str(self.labels[i])
        return ", ".join(f"{k}={v}" for k, v in self.values[i].items())

    def tiny(self) -> "Knob":
        """Fast mode (CI): the first two values only."""
        return dataclasses.replace(self, values=self.values[:2], labels=None if self.labels is None else self.labels[:2])


@dataclass(frozen=True)
class FractionOf:
    """A knob value that depends on the held config: ``field`` = ``fraction`` x the held ``of`` (at least 1),
    e.g. CEM's elites as a fraction of whatever population is held."""

    field: str
    of: str
    fraction: float

    def __call__(self, held) -> dict:
        return {self.field: max(1, round(self.fraction * getattr(held, self.of)))}


def split_knob(name: str, base, first: str, second: str, factors=(0.5, 1, 2), extra=None) -> Knob:
    """Trade two integer fields at a fixed product (the same compute): ``first`` scaled by each factor,
    ``second`` = product // first (e.g. restarts x iterations, population x iterations). ``extra``: a
    function (first value) -> more fields to set with them (e.g. elites as a fraction of the population)."""
    a, b = getattr(base, first), getattr(base, second)
    values, labels = [], []
    for f in factors:
        x = max(1, round(a * f))
        fields = {first: x, second: max(1, (a * b) // x), **(extra(x) if extra else {})}
        values.append(fields)
        labels.append(f"{x} x {fields[second]}")
    return Knob(name, tuple(values), tuple(labels))


@dataclass
class TuningResult:
    """``chosen``: the config the search ended with. ``rows``: one dict per candidate tried, in order:
    knob, value (its label), score, wm_evals (model evaluations per task, mean over models), kept (it
    became the config held after its knob), plus the per-model scores under ``scores``."""

    chosen: object
    rows: list = field(default_factory=list)

    @property
    def n_candidates(self) -> int:
        return len(self.rows)

    def frame(self):
        """The rows as a pandas DataFrame, for display in a notebook."""
        import pandas as pd
        return pd.DataFrame([{k: v for k, v in r.items() if k != "scores"} for r in self.rows])


def coordinate_search(start, knobs, score) -> TuningResult:
    """One pass over ``knobs``: for each, score every value applied (``dataclasses.replace``) to the config
    held so far, and hold the best one if it beats the held config's score (ties keep the held config;
    among equal candidates the first wins). ``score(config)`` returns a dict with at least "score"
    (higher is better); its other keys are copied into the rows."""
    if not knobs:
        raise ValueError("coordinate_search needs at least one Knob")
    held, held_score, rows = start, None, []
    for knob in knobs:
        tried = []
        for i in range(len(knob.values)):
            fields = knob.fields(i, held)
            try:
                config = dataclasses.replace(held, **fields)
            except TypeError as e:
                raise ValueError(f"knob {knob.name!r}: {fields} are not fields of {type(held).__name__}") from e
            result = score(config)
            rows.append({"knob": knob.name, "value": knob.label(i), **result, "kept": False})
            tried.append((config, result["score"], rows[-1]))
            if config == held:
                held_score = result["score"]
        # scores within TIE of each other are equal (float32 rates of the same counts differ in the last
        # bits): the first of the best wins, and a tie keeps the held config
        top = max(t[1] for t in tried)
        best_config, best_score, _ = next(t for t in tried if t[1] >= top - TIE)
        if held_score is None or best_score > held_score + TIE:
            held, held_score = best_config, best_score
        for config, _, row in tried:
            row["kept"] = config == held
    return TuningResult(held, rows)


def tune_planner(models: dict, start, knobs, tasks: TaskSet, wall: WallConfig,
                 execution: Execution = OPEN_LOOP) -> TuningResult:
    """``coordinate_search`` of a planner config on ``tasks`` (tune tasks): each candidate's score is its
    success rate averaged over ``models`` ({name: world model}), every run cached by
    ``experiments.run``."""
    if tasks.split != "tune":
        raise ValueError(f"settings are chosen on tune tasks only; got tasks of the {tasks.split!r} split")
    if not models:
        raise ValueError("tune_planner needs at least one world model")

    def score(config) -> dict:
        rates, evals = {}, []
        for name, model in models.items():
            ep = experiments.run(model, config, tasks, execution, wall)
            rates[name] = float(success(ep.final_states, tasks.goals, wall).float().mean())
            evals.append(float(model_evals(ep.wm_forward.float(), ep.wm_backward.float()).mean()))
        return {"score": sum(rates.values()) / len(rates), "wm_evals": sum(evals) / len(evals), "scores": rates}

    return coordinate_search(start, knobs, score)


def tuning_models(presets, device=None, progress: bool = False) -> dict:
    """The world models settings are tuned on: the base model trained on expert data and the one trained
    on expert + play data (training seed 0). Neither saw a planner, so no planner setting shaped them."""
    from .world_model import get_world_model

    P = presets
    return {"expert": get_world_model([P.expert_data], P.model, P.train, device=device, progress=progress).model,
            "expert + play": get_world_model([P.expert_data, P.play_data], P.model, P.train, device=device,
                                             progress=progress).model}
