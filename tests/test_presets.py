"""Tests for the package entry points in gbp_utils/__init__.py: ``presets`` (the one source of sizes and
settings), ``TaskCounts`` and ``setup``."""

import dataclasses
import random

import numpy as np
import pytest
from helpers import FreeSpace
import torch

from gbp_utils import OPEN_LOOP, TaskCounts, presets, setup
from gbp_utils.env import sample_tasks
from gbp_utils.planners import GBPConfig, make_planner
from gbp_utils.sampling import CEMConfig


@pytest.fixture(scope="module")
def full():
    return presets(fast=False)


@pytest.fixture(scope="module")
def fast():
    return presets(fast=True)


# --------------------------------------------------------------------------------------------
# Fast mode is the full presets shrunk by each config's tiny()
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["expert_data", "play_data", "train", "tasks", "online", "gbp", "gbp_lite",
                                   "cem", "mppi", "gdcem"])
def test_every_fast_config_is_the_full_configs_tiny(full, fast, field):
    assert getattr(fast, field) == getattr(full, field).tiny()


def test_fast_planners_keep_every_setting_but_their_size(full, fast):
    assert fast.cem.warm_iterations == full.cem.warm_iterations == 3
    for name in ("lr", "optimizer", "cost", "discount", "init", "init_spread", "init_std", "noise_std", "seed"):
        assert getattr(fast.gbp, name) == getattr(full.gbp, name), name
    for name in ("smoothing", "init_std", "min_std", "init", "init_spread"):
        assert getattr(fast.cem, name) == getattr(full.cem, name), name
    assert fast.online.epochs_per_round == full.online.epochs_per_round
    assert fast.online.executions == full.online.executions == (OPEN_LOOP, full.mpc)  # chosen in 05, section 1
    cost = lambda g: g.restarts * g.iterations  # noqa: E731
    assert cost(fast.gbp) < cost(full.gbp) and cost(fast.gbp_lite) < cost(full.gbp_lite)
    assert fast.cem.population * fast.cem.iterations < full.cem.population * full.cem.iterations
    assert fast.online.rounds * fast.online.tasks_per_round < full.online.rounds * full.online.tasks_per_round


def test_tiny_task_counts_are_smaller_in_every_count_they_change():
    counts, tiny = TaskCounts(), TaskCounts().tiny()
    changed = [f.name for f in dataclasses.fields(TaskCounts) if getattr(tiny, f.name) != getattr(counts, f.name)]
    assert changed, "tiny() must shrink something"
    for name in changed:
        assert 0 < getattr(tiny, name) < getattr(counts, name), name
    # the held-out and tune counts are among them, and the final table still fits in the eval tasks
    assert {"eval", "tune", "final"} <= set(changed)
    assert tiny.final <= tiny.eval and counts.final <= counts.eval
    assert tiny.landscape <= tiny.tune and tiny.compute_curve <= tiny.tune


def test_presets_follow_gbp_fast(monkeypatch, full, fast):
    monkeypatch.setenv("GBP_FAST", "1")
    assert presets() == fast
    monkeypatch.setenv("GBP_FAST", "0")
    assert presets() == full


# --------------------------------------------------------------------------------------------
# Executions, tasks and the settings chosen in the notebooks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [False, True])
def test_executions(mode):
    P = presets(fast=mode)
    assert P.open_loop == OPEN_LOOP
    assert (P.mpc.mode, P.mpc.replan_every, P.mpc.label) == ("mpc", 3, "MPC/3")
    assert P.mpc.replan_every in P.replan_grid


@pytest.mark.parametrize("mode", [False, True])
def test_eval_and_tune_tasks_are_prefixes_of_one_draw(mode):
    P = presets(fast=mode)
    every = P.eval_tasks()
    assert len(every) == P.tasks.eval and (every.split, every.seed) == ("eval", P.eval_seed)
    expected = sample_tasks(P.tasks.eval, P.eval_seed, "eval", P.wall)
    assert torch.equal(every.starts, expected.starts) and torch.equal(every.goals, expected.goals)
    for n in (1, P.tasks.final, P.tasks.eval):
        first = P.eval_tasks(n)
        assert len(first) == n
        assert torch.equal(first.starts, every.starts[:n]) and torch.equal(first.goals, every.goals[:n])
    tune = P.tune_tasks()
    assert len(tune) == P.tasks.tune and tune.split == "tune"
    assert torch.equal(P.tune_tasks(P.tasks.landscape).starts, tune.starts[:P.tasks.landscape])
    assert P.eval_tasks(3, device="cpu").starts.device == torch.device("cpu")
    test = P.test_tasks()
    assert len(test) == P.tasks.test and (test.split, test.seed) == ("test", 0)
    assert torch.equal(P.test_tasks(5).goals, test.goals[:5])
    assert not {tuple(r) for r in test.starts.tolist()} & {tuple(r) for r in every.starts.tolist()}


@pytest.mark.parametrize("mode", [False, True])
def test_settings_relations_chosen_in_the_notebooks(mode):
    P = presets(fast=mode)
    # the final table's planners (chosen by tuning in notebook 08) start from the textbook settings
    assert {k: type(v) for k, v in P.final_planners.items()} == {"GD": type(P.gbp), "Adam": type(P.gbp), "CEM": type(P.cem)}
    assert P.final_planners["Adam"] == dataclasses.replace(P.gbp, lr=P.final_planners["Adam"].lr)
    assert P.final_planners["GD"].optimizer == "gd" and P.gd.optimizer == "gd"
    assert dataclasses.replace(P.final_planners["CEM"], elites=P.cem.elites) == P.cem
    # the budget sweep: heavy = twice the restarts, replanning every step; lite = 2 x 50 (fast: its tiny())
    adam = P.final_planners["Adam"]
    heavy, every1 = P.final_budgets["Adam", "heavy"]
    assert heavy == dataclasses.replace(adam, restarts=2 * adam.restarts) and every1.replan_every == 1
    lite, every3 = P.final_budgets["Adam", "lite"]
    assert lite.restarts * lite.iterations < adam.restarts * adam.iterations and every3 == P.mpc
    for size in ("lite", "heavy"):
        cem, _ = P.final_budgets["CEM", size]
        assert dataclasses.replace(cem, population=P.cem.population, elites=P.final_planners["CEM"].elites) == \
            P.final_planners["CEM"]
    assert P.gbp_lite.restarts * P.gbp_lite.iterations < P.gbp.restarts * P.gbp.iterations
    # the widgets' GBP: the preset GBP with fewer iterations, nothing else changed
    assert P.gbp_explorer == dataclasses.replace(P.gbp, iterations=P.gbp_explorer.iterations,
                                                 warm_iterations=P.gbp_explorer.warm_iterations)
    assert P.gbp_explorer.iterations < P.gbp.iterations and P.gbp_explorer.warm_iterations <= P.gbp.warm_iterations
    # every adversarial budget is a positive point of the full sweep's grid, states and actions alike (notebook 06
    # chooses each per data regime on tune tasks)
    for cfg in (P.adversarial_only, P.adversarial_only_play, P.adversarial, P.adversarial_play):
        assert cfg.state_factor == cfg.action_factor > 0 and cfg.state_factor in presets(fast=False).eps_grid
    # adversarial finetuning alone trains like the base model but for its own epochs and learning rate
    assert dataclasses.replace(P.adversarial_finetune, epochs=P.train.epochs, lr=P.train.lr) == P.train
    assert 0.0 in P.eps_grid
    assert {P.adversarial.state_factor, P.adversarial_play.state_factor} <= set(presets(fast=True).eps_grid), \
        "fast mode: 06's online + adversarial table trains the models the presets name"
    # the sampling planners share CEM's budget; GD+CEM a quarter of its population
    assert (P.mppi.population, P.mppi.iterations) == (P.cem.population, P.cem.iterations)
    assert P.gdcem.population == max(10, P.cem.population // 4)


@pytest.mark.parametrize("mode", [False, True])
def test_compute_budgets_are_planner_configs_of_their_family(mode):
    P = presets(fast=mode)
    assert {family for family, _ in P.compute_budgets} == {"GBP", "CEM"}
    assert P.gbp in P.compute_budgets.values() and P.cem in P.compute_budgets.values()
    for (family, label), config in P.compute_budgets.items():
        assert isinstance(config, GBPConfig if family == "GBP" else CEMConfig), (family, label)
        make_planner(FreeSpace(), config, P.wall.max_step)  # every budget builds a planner


# --------------------------------------------------------------------------------------------
# setup
# --------------------------------------------------------------------------------------------
def test_setup_seeds_every_generator_uses_one_thread_and_picks_a_device():
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    device = setup(seed=7, device="cpu")
    first = draws()
    assert setup(seed=7) in (torch.device("cpu"), torch.device("cuda"))
    assert draws() == first
    setup(seed=8)
    assert draws() != first
    assert device == torch.device("cpu") and torch.get_num_threads() == 1


@pytest.mark.parametrize("mode", [False, True])
def test_a_training_seed_redraws_every_random_choice_and_keeps_the_tasks(mode):
    P = presets(fast=mode)
    assert P.for_seed(0) == P
    Q = P.for_seed(2)
    seeded = {"expert_data", "play_data", "train", "online", "gbp", "gd", "gbp_lite", "gbp_explorer", "cem",
              "mppi", "gdcem", "adversarial_finetune"}
    for name in seeded:
        assert getattr(Q, name).seed == getattr(P, name).seed + 2, name
        assert dataclasses.replace(getattr(Q, name), seed=getattr(P, name).seed) == getattr(P, name), name
    assert all(Q.compute_budgets[k].seed == v.seed + 2 for k, v in P.compute_budgets.items())
    assert all(Q.final_planners[k].seed == v.seed + 2 for k, v in P.final_planners.items())
    assert all(Q.final_budgets[k][0].seed == v[0].seed + 2 and Q.final_budgets[k][1] == v[1]
               for k, v in P.final_budgets.items())
    # everything else, including the tasks every seed is evaluated on, is unchanged
    others = [f.name for f in dataclasses.fields(P)
              if f.name not in seeded | {"compute_budgets", "final_planners", "final_budgets"}]
    assert all(getattr(Q, name) == getattr(P, name) for name in others)
    assert torch.equal(Q.eval_tasks().starts, P.eval_tasks().starts) and torch.equal(Q.test_tasks().goals,
                                                                                    P.test_tasks().goals)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        P.for_seed(-1)
