"""Execute plans in the real environment: open-loop (plan once, run every action) and
receding-horizon MPC (plan, run a few actions, replan from where the agent really is).

A planner is any callable ``planner(starts, goals, horizon, warm_start=None) -> Plan``
(see ``planners.GBPPlanner``); a policy is ``policy(states, goals) -> actions``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .data import Dataset
from .env import TaskSet, WallEnv
from .policies import run_policy


@dataclass
class Episodes:
    """What happened in the real environment for a batch of tasks.

    states (B, T+1, S) and actions (B, T, A) executed; first_plan (B, H+1, S) the model's prediction
    of the first plan (None for policies); wm_forward / wm_backward (B,) world-model step evaluations
    spent per task; seconds: wall time for the whole batch; diverged (B,) planner divergence flags.
    """

    states: torch.Tensor
    actions: torch.Tensor
    first_plan: torch.Tensor | None
    wm_forward: torch.Tensor
    wm_backward: torch.Tensor
    seconds: float
    diverged: torch.Tensor
    n_plans: int = 0

    @property
    def final_states(self) -> torch.Tensor:
        return self.states[:, -1]

    def as_dataset(self) -> Dataset:
        """The executed transitions, e.g. to measure the model's error where the planner went."""
        return Dataset(self.states.float().cpu(), self.actions.float().cpu())


def run_open_loop(env: WallEnv, planner, tasks: TaskSet, horizon: int | None = None) -> Episodes:
    """Plan ``horizon`` (default: the step budget) actions once per task, then execute them all."""
    H = horizon or env.config.max_steps
    plan = planner(tasks.starts, tasks.goals, H)
    B = len(tasks)
    return Episodes(env.rollout(tasks.starts, plan.actions), env.clip_actions(plan.actions), plan.predicted_states,
                    torch.full((B,), float(plan.wm_forward)), torch.full((B,), float(plan.wm_backward)),
                    plan.seconds, plan.diverged, n_plans=1)


def run_mpc(env: WallEnv, planner, tasks: TaskSet, replan_every: int = 1, horizon: int | None = None
            ) -> Episodes:
    """Receding-horizon control until the step budget is spent.

    Each round: 1) plan ``horizon`` steps (default: all remaining steps, so the final-state cost
    targets the end of the episode) warm-started from the previous plan's unexecuted tail;
    2) execute the first ``replan_every`` actions in the real environment; 3) replan from the state
    actually reached. With a fixed horizon the shifted tail is padded with zero actions ("stay"):
    repeating the last action instead would push a plan that has arrived past its goal.
    """
    if replan_every < 1:
        raise ValueError(f"replan_every must be >= 1; got {replan_every}")
    T = env.config.max_steps
    B = len(tasks)
    s = tasks.starts
    states, actions = [s], []
    fwd = torch.zeros(B)
    bwd = torch.zeros(B)
    diverged = torch.zeros(B, dtype=torch.bool, device=s.device)
    first_plan, warm, n_plans = None, None, 0
    t0 = time.perf_counter()
    t = 0
    while t < T:
        H = min(horizon or T, T - t)
        if warm is not None:  # 1) shifted tail, cut or padded to the new horizon
            warm = warm[:, :H] if warm.shape[1] >= H else torch.cat(
                [warm, warm.new_zeros(B, H - warm.shape[1], warm.shape[2])], 1)
        plan = planner(s, tasks.goals, H, warm_start=warm)
        n_plans += 1
        fwd += plan.wm_forward
        bwd += plan.wm_backward
        diverged |= plan.diverged
        if first_plan is None:
            first_plan = plan.predicted_states
        k = min(replan_every, H)  # never execute more actions than were planned
        for j in range(k):  # 2) execute in the real world
            a = env.clip_actions(plan.actions[:, j])
            s = env.step(s, a)
            states.append(s)
            actions.append(a)
        warm = plan.actions[:, k:] if plan.actions.shape[1] > k else None  # 3) keep the tail
        t += k
    return Episodes(torch.stack(states, 1), torch.stack(actions, 1), first_plan, fwd, bwd,
                    time.perf_counter() - t0, diverged, n_plans)


def run_controller(env: WallEnv, policy, tasks: TaskSet) -> Episodes:
    """A reference policy (oracle, expert, straight line) as Episodes, with zero model compute."""
    t0 = time.perf_counter()
    traj = run_policy(env, policy, tasks)
    B = len(tasks)
    return Episodes(traj.states, traj.actions, None, torch.zeros(B), torch.zeros(B),
                    time.perf_counter() - t0, torch.zeros(B, dtype=torch.bool))
