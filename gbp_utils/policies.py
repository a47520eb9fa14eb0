"""Hand-written controllers for the wall-door world: the shortest-path oracle, the noisy expert
that produces the training data, a straight-line controller, and a random walk for play data.

A policy is a plain function ``policy(states (B, S), goals (B, S)) -> actions (B, A)``;
``data.run_policy`` executes one in the real environment for a whole batch of tasks.
"""
from __future__ import annotations

import torch

from .env import WallConfig, straight_line_blocked

# Waypoints at the door corners sit this far inside the door opening, so a path that grazes a
# corner never clips the wall through rounding.
CORNER_INSET = 0.05


def _walk_polyline(states: torch.Tensor, waypoints: torch.Tensor, wall: WallConfig, blocked=None) -> torch.Tensor:
    """Action that walks along states -> waypoints[:, 0] -> waypoints[:, 1] -> ... as far as one
    step allows. The step limit is per component (an L-infinity ball), so L-inf lengths are spent.

    A step is executed as one straight move, so it may only run past a waypoint (cut the corner)
    when that straight move is collision-free; otherwise it stops at the first waypoint.

    Args:
        states: (B, S); waypoints: (B, K, S). Returns actions (B, A), each |component| <= max_step.
        blocked: ``blocked(a, b) -> (B,)`` whether segments a -> b hit a wall (default:
            ``env.straight_line_blocked`` with ``wall``; ``layouts`` passes its per-task walls).
    """
    max_step = wall.max_step
    pos = states.clone()
    budget = torch.full_like(states[:, 0], max_step)
    first_leg = None
    for k in range(waypoints.shape[1]):
        seg = waypoints[:, k] - pos  # (B, S)
        need = seg.abs().amax(-1)
        frac = torch.where(need > 0, (budget / need.clamp(min=1e-12)).clamp(max=1.0), torch.zeros_like(need))
        pos = pos + frac[:, None] * seg
        budget = budget - frac * need
        if first_leg is None:
            first_leg = pos.clone()
    cuts_wall = straight_line_blocked(states, pos, wall) if blocked is None else blocked(states, pos)
    pos = torch.where(cuts_wall[:, None], first_leg, pos)
    return (pos - states).clamp(-max_step, max_step)


def shortest_path(states: torch.Tensor, goals: torch.Tensor, wall: WallConfig | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Shortest (Euclidean) collision-free path from each state to its goal.

    The path is straight if nothing blocks it, else it bends at (slightly inset) door corners:
    a visibility graph over {state, 4 corners, goal} solved by batched Floyd-Warshall.

    Returns:
        waypoints: (B, 5, S), the path after the state, padded with the goal;
        length: (B,) path length.
    """
    wall = wall or WallConfig()
    B = states.shape[0]
    e = CORNER_INSET
    corners = states.new_tensor([
        [wall.wall_left, wall.door_low + e], [wall.wall_left, wall.door_high - e],
        [wall.wall_right, wall.door_low + e], [wall.wall_right, wall.door_high - e],
    ])
    nodes = torch.cat([states[:, None], corners.expand(B, 4, 2), goals[:, None]], 1)  # (B, 6, S)
    n = nodes.shape[1]
    a = nodes[:, :, None].expand(B, n, n, 2).reshape(-1, 2)
    b = nodes[:, None, :].expand(B, n, n, 2).reshape(-1, 2)
    return visibility_path(nodes, straight_line_blocked(a, b, wall).reshape(B, n, n))


def visibility_path(nodes: torch.Tensor, blocked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shortest paths over a visibility graph, batched over tasks: nodes (B, n, 2) -- node 0 the state, node n-1
    the goal -- and blocked (B, n, n), the segments i -> j that pass through a wall. Returns (the path's nodes
    after the state, (B, n-1, 2), padded with the goal; its length (B,), inf if the goal cannot be reached)."""
    B, n, _ = nodes.shape
    dist = (nodes[:, :, None] - nodes[:, None, :]).norm(dim=-1)
    dist = dist.masked_fill(blocked, float("inf"))
    hop = torch.arange(n, device=nodes.device).expand(B, n, n).clone()  # next node on i -> j
    for k in range(n):  # Floyd-Warshall, batched over tasks
        via = dist[:, :, k:k + 1] + dist[:, k:k + 1, :]
        better = via < dist
        dist = torch.where(better, via, dist)
        hop = torch.where(better, hop[:, :, k:k + 1].expand(B, n, n), hop)
    # Follow next hops from node 0 (the state) to node n-1 (the goal).
    rows = torch.arange(B, device=nodes.device)
    idx = torch.zeros(B, dtype=torch.long, device=nodes.device)
    path = []
    for _ in range(n - 1):
        idx = hop[rows, idx, n - 1]
        path.append(nodes[rows, idx])
    return torch.stack(path, 1), dist[:, 0, n - 1]


def oracle_policy(wall: WallConfig | None = None):
    """Walk the shortest path at full speed (re-planned from the current state every step)."""
    wall = wall or WallConfig()

    def policy(states, goals):
        waypoints, _ = shortest_path(states, goals, wall)
        return _walk_polyline(states, waypoints, wall)

    return policy


def expert_policy(wall: WallConfig | None = None, noise_std: float = 0.15, approach: float = 0.3,
                  generator: torch.Generator | None = None):
    """A scripted, door-aware demonstrator with Gaussian action noise.

    Unlike the oracle it does not hug the door corners: if the goal is not in plain sight it heads
    for a point ``approach`` in front of the door centre, crosses through the middle of the door to
    the point ``approach`` behind it, then goes to the goal. ``noise_std`` is a fraction of
    ``max_step``; noise is what makes it brush the wall near the door now and then.
    """
    wall = wall or WallConfig()
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0; got {noise_std}")

    def policy(states, goals):
        B = states.shape[0]
        dc = wall.door_center
        goal_side = torch.sign(goals[:, 0] - wall.wall_x)
        # Door points in the order they are visited when coming from the far side.
        entry = torch.stack([wall.wall_x - goal_side * (wall.wall_thickness / 2 + approach),
                             torch.full_like(goal_side, dc)], -1)
        exit_ = torch.stack([wall.wall_x + goal_side * (wall.wall_thickness / 2 + approach),
                             torch.full_like(goal_side, dc)], -1)
        g = goals
        # Which leg of the route is the agent on? Along the goal's side axis: u < 0 before the door.
        u = (states[:, 0] - wall.wall_x) * goal_side
        in_corridor = (states[:, 1] - dc).abs() < wall.door_width / 2 - CORNER_INSET
        clear = ~straight_line_blocked(states, goals, wall)
        near_entry = (states - entry).abs().amax(-1) < 0.25
        cross = (in_corridor & (u > -(wall.wall_thickness / 2 + approach) - 0.25)) | near_entry
        route_far = torch.stack([entry, exit_, g], 1)
        route_cross = torch.stack([exit_, g, g], 1)
        route_clear = torch.stack([g, g, g], 1)
        route = torch.where(clear[:, None, None], route_clear,
                            torch.where(cross[:, None, None], route_cross, route_far))
        actions = _walk_polyline(states, route, wall)
        noise = torch.randn(B, 2, generator=generator, device=states.device) if generator is not None \
            else torch.randn(B, 2, device=states.device)
        return actions + noise_std * wall.max_step * noise

    return policy


def straight_line_policy(wall: WallConfig | None = None):
    """Head straight for the goal, ignoring the wall (the naive reference controller)."""
    wall = wall or WallConfig()

    def policy(states, goals):
        return _walk_polyline(states, goals[:, None], wall)

    return policy
