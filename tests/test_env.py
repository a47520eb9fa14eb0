"""Tests for gbp_utils.env: the exact wall-door physics, its input checks, task sampling, path checks
(straight_line_blocked, path_crosses_wall) and TrueDynamicsModel."""

import pytest
import torch

from gbp_utils.env import (
    TaskSet,
    TrueDynamicsModel,
    WallConfig,
    WallEnv,
    path_crosses_wall,
    sample_tasks,
    straight_line_blocked,
    success,
    touching_wall,
)
from gbp_utils.world_model import rollout

CFG = WallConfig()
WL, WR = CFG.wall_left, CFG.wall_right  # -0.2, 0.2
DL, DH = CFG.door_low, CFG.door_high  # -0.75, 0.75
H, M = CFG.half_size, CFG.max_step  # 5.0, 0.5


@pytest.fixture
def env():
    return WallEnv(CFG)


def assert_xy(actual: torch.Tensor, expected, atol=1e-6):
    torch.testing.assert_close(actual.double(), torch.tensor(expected, dtype=torch.float64), atol=atol, rtol=0)


def t(*rows, dtype=torch.float32):
    """A (B, 2) tensor from (x, y) rows."""
    return torch.tensor(rows, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Independent reference checks (written from the spec, not from the implementation)
# --------------------------------------------------------------------------------------------
def strictly_in_wall(s: torch.Tensor) -> torch.Tensor:
    """Inside a wall piece, bounds cast to the states' dtype. Wall faces are free space, but where the
    wall meets the arena border the border line itself is wall (else agents could slide past it)."""
    b = lambda v: torch.tensor(v, dtype=s.dtype)  # noqa: E731
    x, y = s[:, 0], s[:, 1]
    in_x = (x > b(WL)) & (x < b(WR))
    return in_x & ((y < b(DL)) | (y > b(DH)))


def outside_arena(s: torch.Tensor) -> torch.Tensor:
    return (s.abs() > torch.tensor(H, dtype=s.dtype)).any(-1)


def crosses_outside_door(p: torch.Tensor, q: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """Start and end on opposite sides of the wall, but the segment does not cross the wall's
    x-range inside the door: the y at x = wall_left and at x = wall_right must lie in the door."""
    p, q = p.double(), q.double()
    left_to_right = (p[:, 0] <= WL) & (q[:, 0] >= WR)
    right_to_left = (p[:, 0] >= WR) & (q[:, 0] <= WL)
    opposite = left_to_right | right_to_left
    dx = torch.where(opposite, q[:, 0] - p[:, 0], torch.ones_like(p[:, 0]))
    bad = torch.zeros_like(opposite)
    for x_face in (WL, WR):
        y = p[:, 1] + (x_face - p[:, 0]) / dx * (q[:, 1] - p[:, 1])
        bad |= (y < DL - tol) | (y > DH + tol)
    return opposite & bad


def off_action_segment(p, a, q, tol=1e-5) -> torch.Tensor:
    """The end is not p + t * clip(a) for some t in [0, 1] (i.e. it slid, overshot or went back)."""
    p, a, q = p.double(), a.double().clamp(-M, M), q.double()
    r = q - p
    cross = r[:, 0] * a[:, 1] - r[:, 1] * a[:, 0]
    dot = (r * a).sum(-1)
    return (cross.abs() > tol) | (dot < -tol) | (dot > (a * a).sum(-1) + tol)


SPECIAL_X = [-H, -H + 0.05, -1.0, WL - 0.5, WL - 0.05, WL, WR, WR + 0.05, WR + 0.5, 1.0, H - 0.05, H,
             0.0, -0.1, 0.1]
SPECIAL_Y = [-H, -H + 0.05, -3.0, DL - 0.05, DL, DL + 0.05, 0.0, DH - 0.05, DH, DH + 0.05, 3.0, H - 0.05, H]
ACTION_GRID = [round(0.1 * k, 1) for k in range(-10, 11)] + [0.05, -0.05, 0.25, -0.25, 0.45, -0.45]


def random_free_starts(gen: torch.Generator, n: int, dtype=torch.float32, border_lines: bool = True):
    """A mix of uniform free states, states on wall faces / door edges / the arena border, and states
    on coarse 0.05 and 0.1 grids (which put many of them exactly on faces)."""
    sx = torch.tensor(SPECIAL_X, dtype=torch.float64)
    sy = torch.tensor(SPECIAL_Y if border_lines else [y for y in SPECIAL_Y if abs(y) != H],
                      dtype=torch.float64)
    uniform = (torch.rand(n, 2, generator=gen, dtype=torch.float64) * 2 - 1) * H
    special = torch.stack([sx[torch.randint(len(sx), (n,), generator=gen)],
                           sy[torch.randint(len(sy), (n,), generator=gen)]], -1)
    mixed = torch.stack([special[:, 0], uniform[:, 1]], -1)  # on a face, anywhere along it
    grid05 = torch.round(uniform / 0.05) * 0.05
    grid1 = torch.round(uniform / 0.1) * 0.1
    s = torch.cat([uniform, special, mixed, grid05, grid1]).to(dtype)
    if not border_lines:
        s = s[s[:, 1].abs() < H]
    return s[~strictly_in_wall(s) & ~outside_arena(s)]


def random_actions(gen: torch.Generator, n: int, dtype=torch.float32):
    """Continuous actions (some over-large, to be clipped), coarse-grid actions, zero components."""
    grid = torch.tensor(ACTION_GRID, dtype=torch.float64)
    kind = torch.randint(3, (n, 1), generator=gen)
    cont = (torch.rand(n, 2, generator=gen, dtype=torch.float64) * 2 - 1) * 1.5
    coarse = grid[torch.randint(len(grid), (n, 2), generator=gen)]
    with_zero = cont * (torch.rand(n, 2, generator=gen) < 0.6)
    return torch.where(kind == 0, cont, torch.where(kind == 1, coarse, with_zero)).to(dtype)


def _violations(env, gen, dtype, border_lines, n_batches=8, batch=4000):
    """Run random batches; return human-readable descriptions of the first violations of each kind."""
    problems = []
    contacts = {"wall": 0, "border": 0, "crossings": 0, "steps": 0}
    for _ in range(n_batches):
        p = random_free_starts(gen, batch, dtype, border_lines)
        a = random_actions(gen, p.shape[0], dtype)
        q = env.step(p, a)
        assert q.shape == p.shape and q.dtype == dtype
        checks = {
            "ends inside the wall": strictly_in_wall(q),
            "ends outside the arena": outside_arena(q),
            "crosses the wall outside the door": crosses_outside_door(p, q),
            "leaves the segment start -> start + clip(action)": off_action_segment(p, a, q),
        }
        for what, bad in checks.items():
            for i in bad.nonzero()[:3, 0].tolist():
                problems.append(f"{what}: start {p[i].tolist()} action {a[i].tolist()} -> {q[i].tolist()}")
        moved_full = (q.double() - p.double() - a.double().clamp(-M, M)).abs().amax(-1) < 1e-6
        contacts["wall"] += int((touching_wall(q, CFG) & ~moved_full).sum())
        contacts["border"] += int(((q.abs() == H).any(-1) & ~moved_full).sum())
        contacts["crossings"] += int((env.side(p) * env.side(q) == -1).sum())
        contacts["steps"] += p.shape[0]
    # Guard against a vacuous test: many moves must actually be cut by the wall and the border, and
    # many must go through the door to the other side.
    for kind in ("wall", "border", "crossings"):
        assert contacts[kind] > 0.005 * contacts["steps"], contacts
    return problems


# --------------------------------------------------------------------------------------------
# Property tests (seeded loops; hypothesis is not installed in the venv)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1234, 4321])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_steps_stay_free_on_the_action_segment_and_cross_only_through_the_door(env, dtype, seed):
    """No start (incl. faces, door edges, the arena border and its top/bottom lines) and action (incl.
    0.1-grid, zeros, over-large) ends inside the wall or outside the arena, anywhere but on
    start + t * clip(action), or on the other side of the wall unless the move went through the door."""
    gen = torch.Generator().manual_seed(seed)
    problems = _violations(env, gen, dtype, border_lines=True)
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("y", [H, -H])
def test_push_along_the_border_line_stops_at_the_wall_face(env, y):
    out = env.step(t((-0.4, y)), t((0.5, 0.0)))
    assert out.tolist() == t((WL, y)).tolist()


def test_a_straight_line_along_the_border_through_the_wall_is_blocked():
    starts, goals = t((-3.0, H), (-3.0, -H)), t((3.0, H), (3.0, -H))
    assert straight_line_blocked(starts, goals).tolist() == [True, True]


def test_many_steps_of_play_never_tunnel(env):
    """A long persistent random walk of many agents (many consecutive contacts) stays consistent."""
    gen = torch.Generator().manual_seed(7)
    s = random_free_starts(gen, 500, border_lines=False)
    a = torch.zeros_like(s)
    for _ in range(60):
        a = 0.9 * a + 0.45 * torch.randn(a.shape, generator=gen)
        nxt = env.step(s, a)
        assert not strictly_in_wall(nxt).any() and not outside_arena(nxt).any()
        assert not crosses_outside_door(s, nxt).any()
        s = nxt


# --------------------------------------------------------------------------------------------
# Exact physics
# --------------------------------------------------------------------------------------------
def test_push_into_the_wall_face_stops_exactly_on_the_face(env):
    s = env.step(t((-1.0, 2.0), (1.0, -3.0)), t((0.5, 0.0), (-0.5, 0.0)))
    assert s.tolist() == t((-0.5, 2.0), (0.5, -3.0)).tolist()
    s = env.step(s, t((0.5, 0.0), (-0.5, 0.0)))
    assert s[0, 0].item() == torch.tensor(WL).item() and s[0, 1].item() == 2.0
    assert s[1, 0].item() == torch.tensor(WR).item() and s[1, 1].item() == -3.0
    # Pushing again from the face makes no progress at all.
    assert torch.equal(env.step(s, t((0.5, 0.0), (-0.5, 0.0))), s)


def test_diagonal_push_into_the_face_stops_at_contact_without_sliding(env):
    s = env.step(t((-0.3, 2.0)), t((0.5, 0.5)))
    # Contact after 1/5 of the move: x on the face, y advanced by 1/5 of dy, the rest is lost.
    assert s[0, 0].item() == torch.tensor(WL).item()
    assert s[0, 1].item() == pytest.approx(2.1, abs=1e-6)
    # A diagonal push from the face itself goes nowhere (no sliding along the face).
    assert torch.equal(env.step(s, t((0.5, 0.5))), s)
    assert torch.equal(env.step(s, t((0.5, -0.5))), s)
    # Moving away from the face or along it (dx <= 0) is free.
    assert_xy(env.step(s, t((0.0, 0.5))), [[WL, 2.6]])
    assert_xy(env.step(s, t((-0.5, 0.0))), [[WL - 0.5, 2.1]])


def test_moves_through_the_door_pass(env):
    s = t((-0.5, 0.0), (-0.3, 0.1), (0.5, -0.2))
    out = env.step(s, t((0.5, 0.0), (0.5, 0.2), (-0.5, 0.0)))
    assert_xy(out, [[0.0, 0.0], [0.2, 0.3], [0.0, -0.2]])
    out2 = env.step(out, t((0.5, 0.0), (0.5, 0.2), (-0.5, 0.0)))
    assert_xy(out2, [[0.5, 0.0], [0.7, 0.5], [-0.5, -0.2]])
    assert env.side(s).tolist() == [-1, -1, 1] and env.side(out2).tolist() == [1, 1, -1]


def test_inside_the_door_a_vertical_move_stops_at_the_door_edge(env):
    out = env.step(t((0.0, 0.5), (0.1, -0.5)), t((0.0, 0.5), (0.0, -0.5)))
    assert out.tolist() == [[0.0, DH], [pytest.approx(0.1), DL]]


def test_moving_along_a_door_edge_or_wall_face_is_free(env):
    s = t((WL, DL), (WL, 3.0), (WR, DH))
    out = env.step(s, t((0.4, 0.0), (0.0, 0.5), (0.0, -0.5)))
    assert_xy(out, [[0.2, DL], [WL, 3.5], [WR, DH - 0.5]])


def test_moves_out_of_the_arena_stop_at_the_border(env):
    s = t((4.8, 4.9), (4.8, 0.0), (-4.9, -4.7), (4.9, 4.9))
    out = env.step(s, t((0.5, 0.0), (0.5, 0.5), (-0.5, -0.1), (0.5, 0.5)))
    # Stop at the first contact: the remaining move (including its other component) is lost.
    assert_xy(out, [[H, 4.9], [H, 0.2], [-H, -4.72], [H, H]])
    assert torch.equal(env.step(out, t((0.5, 0.0), (0.5, 0.5), (-0.5, 0.0), (0.5, 0.5))), out)


def test_actions_are_clipped_per_component_to_max_step(env):
    out = env.step(t((-3.0, 0.0), (2.0, 2.0), (-3.0, 0.0)), t((2.0, -3.0), (-0.7, 0.3), (0.0, 100.0)))
    assert_xy(out, [[-2.5, -0.5], [1.5, 2.3], [-3.0, 0.5]])
    assert_xy(env.clip_actions(t((2.0, -3.0), (0.1, -0.2))), [[M, -M], [0.1, -0.2]])


def test_zero_action_stays_put_everywhere(env):
    s = t((WL, 3.0), (WR, -3.0), (0.0, DH), (H, H), (-H, 0.0), (1.0, 1.0))
    assert torch.equal(env.step(s, torch.zeros_like(s)), s)


def test_custom_geometry(env):
    cfg = WallConfig(wall_x=1.0, wall_thickness=1.0, door_center=2.0, door_width=1.0, max_step=0.3)
    e = WallEnv(cfg)
    out = e.step(t((0.3, -2.0), (0.3, 2.0)), t((1.0, 0.0), (1.0, 0.0)))
    assert_xy(out, [[0.5, -2.0], [0.6, 2.0]])


def test_batch_of_10000_in_one_call(env):
    gen = torch.Generator().manual_seed(3)
    s = (torch.rand(20000, 2, generator=gen) * 2 - 1) * H
    s = s[env.is_free(s)][:10000]
    assert s.shape == (10000, 2)
    a = (torch.rand(10000, 2, generator=gen) * 2 - 1) * 2 * M
    out = env.step(s, a)
    assert out.shape == (10000, 2)
    assert env.is_free(out).all()
    # Row i of a batched call equals a call with row i alone.
    for i in (0, 4321, 9999):
        assert torch.equal(env.step(s[i:i + 1], a[i:i + 1]), out[i:i + 1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_are_preserved(env, dtype):
    s = torch.tensor([[-1.0, 2.0], [0.5, -0.5]], dtype=dtype, device="cpu")
    a = torch.tensor([[0.3, 0.1], [-0.2, 0.4]], dtype=torch.float32, device="cpu")
    out = env.step(s, a)
    assert out.dtype == dtype
    assert out.device == torch.device("cpu")
    assert_xy(out, [[-0.7, 2.1], [0.3, -0.1]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_step_on_cuda_matches_cpu(env):
    gen = torch.Generator().manual_seed(0)
    s = random_free_starts(gen, 1000)
    a = random_actions(gen, s.shape[0])
    out = env.step(s.cuda(), a.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), env.step(s, a))


def test_step_does_not_track_gradients(env):
    s = t((-1.0, 2.0)).requires_grad_()
    a = t((0.3, 0.1)).requires_grad_()
    assert not env.step(s, a).requires_grad


def test_step_does_not_modify_its_inputs(env):
    s, a = t((-0.3, 2.0), (4.9, 4.9)), t((0.5, 0.5), (0.9, 0.9))
    s0, a0 = s.clone(), a.clone()
    env.step(s, a)
    assert torch.equal(s, s0) and torch.equal(a, a0)


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------
def test_faces_and_door_are_free_space_and_the_wall_is_not(env):
    s = t((WL, 3.0), (WR, -3.0), (0.0, DH), (0.0, DL), (0.0, 0.0), (0.0, 3.0), (0.1, -1.0), (5.0, 5.0),
          (5.01, 0.0))
    assert env.is_free(s).tolist() == [True, True, True, True, True, False, False, True, False]
    assert env.in_wall(s).tolist() == [False] * 5 + [True, True, False, False]


def test_side_and_touching_wall():
    env = WallEnv(CFG)
    s = t((-3.0, 0.0), (WL, 2.0), (0.0, 0.0), (WR, -2.0), (3.0, 1.0))
    assert env.side(s).tolist() == [-1, -1, 0, 1, 1]
    # Faces and door edges touch the wall, the open door and far points do not.
    s2 = t((WL, 2.0), (WR, -2.0), (0.0, DH), (WL, DL), (0.0, 0.0), (WL - 0.01, 2.0), (-3.0, 0.0))
    assert touching_wall(s2).tolist() == [True, True, True, True, False, False, False]


def test_straight_line_blocked_reference_cases():
    starts = t((-3.0, 3.0), (-3.0, 0.0), (-3.0, -3.0), (-3.0, 3.0), (-2.0, 2.0))
    goals = t((3.0, 3.0), (3.0, 0.0), (3.0, 3.0), (-1.0, -3.0), (2.0, -2.0))
    assert straight_line_blocked(starts, goals).tolist() == [True, False, False, False, False]


def test_path_crosses_wall_agrees_with_straight_line_blocked_per_segment():
    gen = torch.Generator().manual_seed(5)
    paths = (torch.rand(40, 7, 2, generator=gen) * 2 - 1) * H  # random polylines, many through the wall
    crosses = path_crosses_wall(paths, CFG)
    assert crosses.shape == (40, 6) and crosses.dtype == torch.bool
    for t in range(6):
        assert torch.equal(crosses[:, t], straight_line_blocked(paths[:, t], paths[:, t + 1], CFG)), t
    assert crosses.any() and not crosses.all(), "the random paths must include both kinds of segment"


def test_path_crosses_wall_flags_a_model_path_through_the_wall_but_not_through_the_door():
    """What a wall-less model imagines: straight through the wall above the door, or through the door."""
    xs = torch.linspace(-2.0, 2.0, 9)
    through_wall = torch.stack([xs, torch.full_like(xs, 3.0)], -1)
    through_door = torch.stack([xs, torch.full_like(xs, 0.2)], -1)
    crosses = path_crosses_wall(torch.stack([through_wall, through_door]), CFG)
    assert crosses[0].any() and not crosses[1].any()
    # exactly the steps that enter or span the wall's x-range [-0.2, 0.2] (x moves in steps of 0.5)
    assert crosses[0].tolist() == [False, False, False, True, True, False, False, False]
    assert crosses.any(1).tolist() == [True, False]


@pytest.mark.parametrize("bad", [torch.zeros(3, 2), torch.zeros(3, 1, 2), torch.zeros(3, 4, 3)])
def test_path_crosses_wall_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"paths must be \(B, T\+1, 2\) with T >= 1"):
        path_crosses_wall(bad, CFG)


def test_success_uses_the_success_radius():
    goals = t((1.0, 1.0), (1.0, 1.0), (1.0, 1.0))
    finals = t((1.0, 1.5), (1.0, 1.51), (1.3, 1.3))
    assert success(finals, goals).tolist() == [True, False, True]


# --------------------------------------------------------------------------------------------
# Clear errors
# --------------------------------------------------------------------------------------------
def test_start_inside_the_wall_is_rejected(env):
    with pytest.raises(ValueError, match="inside the wall"):
        env.step(t((-3.0, 0.0), (0.0, 3.0)), t((0.1, 0.0), (0.1, 0.0)))


def test_start_outside_the_arena_is_rejected(env):
    with pytest.raises(ValueError, match="outside the arena"):
        env.step(t((5.5, 0.0)), t((0.1, 0.0)))


@pytest.mark.parametrize("states, actions", [
    (torch.zeros(2), torch.zeros(1, 2)),
    (torch.zeros(1, 3), torch.zeros(1, 2)),
    (torch.zeros(1, 2, 1), torch.zeros(1, 2)),
    (torch.zeros(1, 2), torch.zeros(2)),
    (torch.zeros(1, 2), torch.zeros(1, 1)),
    (torch.zeros(1, 2), torch.zeros(1, 3, 2)),
])
def test_wrong_shapes_are_rejected(env, states, actions):
    with pytest.raises(ValueError, match=r"must have shape \(B, 2\)"):
        env.step(states, actions)


def test_wrong_shape_message_suggests_adding_a_batch_dimension(env):
    with pytest.raises(ValueError, match=r"states\[None\]"):
        env.step(torch.tensor([-1.0, 1.0]), torch.zeros(1, 2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_actions_are_rejected(env, bad):
    with pytest.raises(ValueError, match=r"actions contains NaN or inf in 1 of 2 rows"):
        env.step(t((-1.0, 1.0), (1.0, 1.0)), t((0.1, bad), (0.1, 0.1)))


def test_nan_states_are_rejected(env):
    with pytest.raises(ValueError, match="states contains NaN"):
        env.step(t((float("nan"), 1.0)), t((0.1, 0.1)))


def test_mismatched_batch_sizes_are_rejected(env):
    with pytest.raises(ValueError, match="same batch size; got 2 and 3"):
        env.step(torch.zeros(2, 2) - 1, torch.zeros(3, 2))


def test_non_tensor_input_is_rejected(env):
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        env.step([[-1.0, 1.0]], torch.zeros(1, 2))


@pytest.mark.parametrize("kwargs, message", [
    (dict(half_size=0.0), "half_size must be > 0"),
    (dict(half_size=-2.0), "half_size must be > 0"),
    (dict(wall_thickness=0.0), "wall_thickness must be > 0"),
    (dict(wall_x=4.9), "wall must lie strictly inside the arena"),
    (dict(wall_thickness=20.0), "wall must lie strictly inside the arena"),
    (dict(door_width=0.0), "door_width must be > 0"),
    (dict(door_width=-1.0), "door_width must be > 0"),
    (dict(door_center=4.8), "door must lie strictly inside the arena"),
    (dict(max_step=0.0), "max_step, max_steps and success_radius must all be positive"),
    (dict(max_steps=0), "max_step, max_steps and success_radius must all be positive"),
    (dict(success_radius=-0.1), "max_step, max_steps and success_radius must all be positive"),
    (dict(start_margin=4.6), "start_margin leaves no room"),
])
def test_invalid_wall_config_fields_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match="Invalid WallConfig: .*" + message):
        WallConfig(**kwargs)


def test_invalid_wall_config_lists_every_problem():
    with pytest.raises(ValueError, match="door_width must be > 0.*max_step, max_steps"):
        WallConfig(door_width=0.0, max_step=-1.0)


@pytest.mark.parametrize("field", ["max_step", "success_radius", "start_margin"])
def test_nan_wall_config_fields_are_rejected(field):
    with pytest.raises(ValueError, match="Invalid WallConfig"):
        WallConfig(**{field: float("nan")})


def test_wall_config_round_trips_through_to_dict():
    cfg = WallConfig(door_width=1.0, max_step=0.3)
    assert WallConfig(**cfg.to_dict()) == cfg
    assert cfg.door_low == -0.5 and cfg.door_high == 0.5
    assert cfg.wall_boxes() == [(WL, WR, -H, -0.5), (WL, WR, 0.5, H)]


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------
def test_same_seed_gives_the_same_tasks_and_another_seed_different_ones():
    a, b = sample_tasks(200, 5, "eval"), sample_tasks(200, 5, "eval")
    assert torch.equal(a.starts, b.starts) and torch.equal(a.goals, b.goals)
    c = sample_tasks(200, 6, "eval")
    assert not torch.equal(a.starts, c.starts)
    assert a.starts.dtype == torch.float32 and a.starts.shape == (200, 2) and len(a) == 200
    assert (a.split, a.seed) == ("eval", 5)


@pytest.mark.parametrize("split, other", [("eval", "train"), ("eval", "tune"), ("test", "train"), ("test", "tune"),
                                          ("test", "eval")])
def test_splits_never_share_a_task(split, other):
    ev, tr = sample_tasks(1000, 0, split), sample_tasks(1000, 0, other)
    pairs = lambda ts: {tuple(r) for r in torch.cat([ts.starts, ts.goals], 1).tolist()}  # noqa: E731
    assert not pairs(ev) & pairs(tr)
    # Not even a start is shared (continuous draws from independent streams).
    assert not {tuple(r) for r in ev.starts.tolist()} & {tuple(r) for r in tr.starts.tolist()}


@pytest.mark.parametrize("split", ["train", "tune", "eval", "test"])
def test_tasks_are_free_on_opposite_sides_and_keep_their_margins(split):
    tasks = sample_tasks(1000, 1, split)
    env = WallEnv(CFG)
    for pts in (tasks.starts, tasks.goals):
        assert env.is_free(pts).all()
        assert (pts.abs() <= H - 0.25 + 1e-6).all()
        gap = torch.where(pts[:, 0] < 0, WL - pts[:, 0], pts[:, 0] - WR)
        assert (gap >= CFG.start_margin - 1e-6).all()
    assert (env.side(tasks.starts) * env.side(tasks.goals) == -1).all()
    # Both directions occur, roughly half each.
    assert 0.4 < (tasks.starts[:, 0] < 0).float().mean().item() < 0.6


def test_most_eval_tasks_have_a_blocked_straight_line():
    tasks = sample_tasks(1000, 0, "eval")
    frac = straight_line_blocked(tasks.starts, tasks.goals).float().mean().item()
    assert frac >= 0.70, f"only {frac:.1%} of eval tasks are blocked"


def test_bad_split_and_size_are_rejected():
    with pytest.raises(ValueError, match=r"split must be one of \['eval', 'test', 'train', 'tune'\]; got 'dev'"):
        sample_tasks(10, 0, "dev")
    with pytest.raises(ValueError, match="n must be >= 1; got 0"):
        sample_tasks(0, 0)


def test_task_sampling_respects_a_custom_config_and_device():
    cfg = WallConfig(half_size=3.0, wall_x=0.5, start_margin=0.3)
    tasks = sample_tasks(300, 2, "train", cfg, device="cpu")
    env = WallEnv(cfg)
    assert tasks.starts.device == torch.device("cpu")
    assert env.is_free(tasks.starts).all() and env.is_free(tasks.goals).all()
    assert (tasks.starts.abs() <= 2.75 + 1e-6).all()
    assert (env.side(tasks.starts) * env.side(tasks.goals) == -1).all()


def test_taskset_indexing_keeps_the_batch_dimension():
    tasks = sample_tasks(10, 0)
    one = tasks[3]
    assert isinstance(one, TaskSet) and one.starts.shape == (1, 2)
    assert torch.equal(one.starts[0], tasks.starts[3])
    assert len(tasks[2:5]) == 3 and len(tasks[[0, 9]]) == 2
    assert torch.equal(tasks[[0, 9]].goals, tasks.goals[[0, 9]])
    moved = tasks.to("cpu")
    assert moved.split == tasks.split and torch.equal(moved.starts, tasks.starts)


def test_grid_coverage_of_special_points_is_meaningful():
    """Guard for the property tests: the generator really produces face, door-edge and border starts."""
    gen = torch.Generator().manual_seed(0)
    s = random_free_starts(gen, 4000)
    on = lambda col, v: (s[:, col] == torch.tensor(v, dtype=s.dtype)).sum().item()  # noqa: E731
    assert on(0, WL) > 100 and on(0, WR) > 100 and on(1, DL) > 20 and on(1, DH) > 20
    assert on(0, H) > 20 and on(0, -H) > 20 and on(1, H) > 20 and on(1, -H) > 20
    a = random_actions(gen, 4000)
    assert (a == 0).any(-1).float().mean() > 0.2
    assert (a.abs() > M).any(-1).float().mean() > 0.2


# --------------------------------------------------------------------------------------------
# The true dynamics as a world model
# --------------------------------------------------------------------------------------------
def test_true_dynamics_model_steps_the_real_environment():
    env = WallEnv()
    model = TrueDynamicsModel(env.wall)
    assert next(model.parameters()).device == torch.device("cpu")
    assert not any(p.requires_grad for p in model.parameters())
    tasks = sample_tasks(8, 0, "eval")
    actions = torch.rand(8, 12, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1  # some beyond the clip
    torch.testing.assert_close(rollout(model, tasks.starts, actions), env.rollout(tasks.starts, actions))
    custom = WallConfig(door_center=2.0)
    assert TrueDynamicsModel(custom).env.wall == custom


def test_env_rollout_equals_stepping_and_checks_its_inputs():
    env = WallEnv()
    tasks = sample_tasks(16, 3, "eval")
    actions = torch.rand(16, 20, 2, generator=torch.Generator().manual_seed(1)) * 1.5 - 0.75  # some beyond the clip
    states = env.rollout(tasks.starts, actions)
    s = tasks.starts
    for t in range(20):
        s = env.step(s, actions[:, t])
        assert torch.equal(states[:, t + 1], s), f"step {t + 1} differs from env.step"
    assert env.rollout(tasks.starts, actions[:, :0]).shape == (16, 1, 2)
    bad = actions.clone()
    bad[3, 7, 1] = float("nan")  # a late action: the rollout checks them all, not only the first
    with pytest.raises(ValueError, match="actions contains NaN or inf"):
        env.rollout(tasks.starts, bad)
    with pytest.raises(ValueError, match=r"actions must have shape \(B, H, 2\)"):
        env.rollout(tasks.starts, actions[:, 0])
    inside = torch.tensor([[(env.wall.wall_left + env.wall.wall_right) / 2, env.wall.half_size - 0.1]])
    assert not env.is_free(inside).all(), "the test point should lie in the wall, above the door"
    with pytest.raises(ValueError, match="inside the wall"):
        env.rollout(inside, actions[:1])
