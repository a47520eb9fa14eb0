"""Execute plans in the real environment: open-loop (plan once, run every action) and
receding-horizon MPC (plan, run a few actions, replan from where the agent really is).

``Execution`` names how plans meet the world, the one spelling used everywhere (presets, cached runs,
online finetuning, widgets): ``Execution("open-loop")`` or ``Execution("mpc", replan_every=k)``;
``execute(env, planner, tasks, execution)`` runs either.

A planner is any callable ``planner(starts, goals, horizon, warm_start=None) -> Plan``
(see ``planners.make_planner``); a policy is ``policy(states, goals) -> actions``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .data import Dataset, run_policy
from .env import TaskSet, WallEnv

MODES = ("open-loop", "mpc")


@dataclass(frozen=True)
class Execution:
    """How plans meet the real world.

    mode: "open-loop" (plan once, execute every action) or "mpc" (receding horizon).
    replan_every: MPC only, required there: execute this many actions of each plan, then replan from
        the state actually reached. None for open-loop.
    """

    mode: str
    replan_every: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Execution.mode must be one of {MODES}; got {self.mode!r}")
        if self.mode == "open-loop" and self.replan_every is not None:
            raise ValueError(f"open-loop execution never replans: leave replan_every None (got {self.replan_every})")
        k = self.replan_every
        if self.mode == "mpc" and not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
            raise ValueError(f"Execution('mpc', replan_every=k) needs an integer k >= 1; got {self.replan_every!r}")

    @property
    def label(self) -> str:
        """"open-loop" or "MPC/k": the name of the execution in tables and plots."""
        return "open-loop" if self.mode == "open-loop" else f"MPC/{self.replan_every}"


OPEN_LOOP = Execution("open-loop")
"""Open-loop execution (it has no setting). MPC's replanning interval lives in ``gbp_utils.presets()``."""


@dataclass
class Episodes:
    """What happened in the real environment for a batch of tasks.

    states (B, T+1, S) and actions (B, T, A) executed; first_plan_states (B, H+1, S) the states the
    model predicted for the first plan (None for policies); wm_forward / wm_backward (B,) world-model
    step evaluations spent per task; seconds: wall-clock time for the whole batch; diverged (B,)
    planner divergence flags; n_plans: how many times the batch was planned.

    ``Episodes`` is an evaluation run (compute and the model's promise included); ``data.Dataset`` is
    training data (episodes with optional goals, split and concatenated). ``as_dataset`` turns the
    former into the latter.
    """

    states: torch.Tensor
    actions: torch.Tensor
    first_plan_states: torch.Tensor | None
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
    H = horizon or env.wall.max_steps
    plan = planner(tasks.starts, tasks.goals, H)
    B = len(tasks)
    return Episodes(env.rollout(tasks.starts, plan.actions), env.clip_actions(plan.actions), plan.predicted_states,
                    torch.full((B,), float(plan.wm_forward)), torch.full((B,), float(plan.wm_backward)),
                    plan.seconds, plan.diverged, n_plans=1)


def run_mpc(env: WallEnv, planner, tasks: TaskSet, replan_every: int, horizon: int | None = None
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
    T = env.wall.max_steps
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


def execute(env: WallEnv, planner, tasks: TaskSet, execution: Execution, horizon: int | None = None
            ) -> Episodes:
    """Plan and execute every task of the batch as ``execution`` says (``run_open_loop`` or ``run_mpc``)."""
    if not isinstance(execution, Execution):
        raise TypeError(f"execution must be a control.Execution, e.g. control.OPEN_LOOP or presets().mpc; "
                        f"got {execution!r}")
    if execution.mode == "open-loop":
        return run_open_loop(env, planner, tasks, horizon)
    return run_mpc(env, planner, tasks, execution.replan_every, horizon)


def run_controller(env: WallEnv, policy, tasks: TaskSet) -> Episodes:
    """A reference policy (oracle, expert, straight line) as Episodes, with zero model compute."""
    t0 = time.perf_counter()
    traj = run_policy(env, policy, tasks)
    B = len(tasks)
    return Episodes(traj.states, traj.actions, None, torch.zeros(B), torch.zeros(B),
                    time.perf_counter() - t0, torch.zeros(B, dtype=torch.bool))
