"""The graded exercises of notebooks 03-11: every check fails on the scaffold and passes on the solution.

Each exercise is a code cell tagged "solution" (the answer between ### BEGIN/END SOLUTION markers) followed
by a cell tagged "check". For every exercise this runs, in a fresh namespace holding the notebook's imports
and its earlier solutions, the student-edition scaffold and then the solution, each followed by the check:
the first must raise, the second must not. The checks build their own small cases, so no notebook is
executed here (a few seconds in all).
"""

import ast

import nbformat
import pytest
import torch

from gbp_utils import course, exercises, stats

NOTEBOOKS = course.numbered_notebooks()


def _imports(nb) -> str:
    """Every top-level import statement of the notebook's code cells, plus its parameters cell."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "parameters" in cell.metadata.get("tags", []):
            lines.append(cell.source)
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        lines += [ast.get_source_segment(cell.source, node) for node in tree.body
                  if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


def _exercises(path):
    """[(solution source, check source)] of one notebook, in order."""
    cells = nbformat.read(path, as_version=4).cells
    pairs = []
    for i, cell in enumerate(cells):
        if "solution" in cell.metadata.get("tags", []):
            assert i + 1 < len(cells) and "check" in cells[i + 1].metadata.get("tags", []), \
                f"{path.name}: the solution cell {i} must be followed by a cell tagged 'check'"
            pairs.append((cell.source, cells[i + 1].source))
    return pairs


CASES = [(path, k) for path in NOTEBOOKS for k in range(len(_exercises(path)))]


def test_enough_graded_exercises():
    counts = {path.name[:2]: len(_exercises(path)) for path in NOTEBOOKS}
    assert sum(counts.values()) >= 14, counts
    assert all(counts[n] >= 2 for n in ("03", "04", "05", "06", "07", "08")), counts


@pytest.mark.parametrize("path, k", CASES, ids=[f"{p.stem[:2]}-ex{k + 1}" for p, k in CASES])
def test_check_fails_on_scaffold_and_passes_on_solution(path, k, monkeypatch):
    monkeypatch.setenv("GBP_FAST", "1")
    nb = nbformat.read(path, as_version=4)
    pairs = _exercises(path)
    namespace = {}
    exec(_imports(nb), namespace)
    for solution, _ in pairs[:k]:  # later exercises may build on earlier answers
        exec(solution, namespace)
    solution, check = pairs[k]
    scaffold_ns = dict(namespace)
    with pytest.raises(Exception):
        exec(course.scaffold(solution), scaffold_ns)
        exec(check, scaffold_ns)
    exec(solution, namespace)
    exec(check, namespace)


# --------------------------------------------------------------------------------------------
# Wrong answers (not only empty ones) fail
# --------------------------------------------------------------------------------------------
def test_residual_step_without_skip_connection_fails():
    def no_skip(model, states, actions):
        delta = model.predict_normalised_delta(model.normalise_inputs(states, actions))
        return model.delta_mean + model.delta_std * delta

    with pytest.raises(AssertionError, match="residual_step"):
        exercises.check_residual_step(no_skip)


def test_cem_update_with_the_most_expensive_elites_fails():
    def worst(mean, std, candidates, cost, elites, smoothing, min_std):
        idx = cost.topk(elites, dim=1, largest=True).indices
        elite = candidates[torch.arange(len(cost))[:, None], idx]
        return (smoothing * mean + (1 - smoothing) * elite.mean(1),
                (smoothing * std + (1 - smoothing) * elite.std(1, unbiased=False)).clamp(min=min_std))

    with pytest.raises(AssertionError, match="new mean"):
        exercises.check_cem_update(worst)


def test_perturbation_without_clamp_fails():
    def unclamped(model, s, a, s_next, eps_s, eps_a, steps, step):
        d_s = (2 * torch.rand_like(s) - 1) * eps_s
        d_a = (2 * torch.rand_like(a) - 1) * eps_a
        for _ in range(steps):
            d_s.requires_grad_(True)
            d_a.requires_grad_(True)
            loss = ((model(s + d_s, a + d_a) - s_next) / model.delta_std).pow(2).mean()
            g_s, g_a = torch.autograd.grad(loss, [d_s, d_a])
            d_s, d_a = (d_s + step * eps_s * g_s.sign()).detach(), (d_a + step * eps_a * g_a.sign()).detach()
        return d_s, d_a

    with pytest.raises(AssertionError, match="box"):
        exercises.check_perturbation(unclamped)


def test_unpaired_bootstrap_fails():
    import numpy as np

    def unpaired(a, b, n_boot, seed):
        rng = np.random.default_rng(seed)
        a, b = np.asarray(a, float), np.asarray(b, float)
        da = a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(1)
        db = b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(1)
        low, high = np.quantile(da - db, [0.025, 0.975])
        return a.mean() - b.mean(), low, high

    with pytest.raises(AssertionError):
        exercises.check_paired_bootstrap(unpaired)


# --------------------------------------------------------------------------------------------
# stats.paired_bootstrap
# --------------------------------------------------------------------------------------------
def test_paired_bootstrap_identical_methods_give_a_zero_interval():
    a = [1, 0, 1, 1, 0, 1]
    assert stats.paired_bootstrap(a, a, 500, 0) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_is_narrower_than_unpaired_for_correlated_outcomes():
    import numpy as np
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.6).astype(float)
    b = a.copy()
    flip = rng.random(400) < 0.05
    b[flip] = 1 - b[flip]
    diff, low, high = stats.paired_bootstrap(a, b, 4000, 1)
    assert low <= diff <= high
    unpaired_half_width = 1.96 * np.sqrt(a.mean() * (1 - a.mean()) / 400 + b.mean() * (1 - b.mean()) / 400)
    assert (high - low) / 2 < 0.5 * unpaired_half_width


def test_paired_bootstrap_rejects_unpaired_shapes():
    with pytest.raises(ValueError, match="same tasks"):
        stats.paired_bootstrap([1, 0, 1], [1, 0])


# --- notebook 11's checks, with a correct answer written here and typical wrong ones ---------------
def _disagreement(pred):
    return (pred - pred.mean(0)).pow(2).sum(-1).mean(0).sqrt()


def _pessimistic_cost(ensemble, starts, actions, goals, beta):
    s, penalty = starts, torch.zeros(starts.shape[0])
    for t in range(actions.shape[1]):
        pred = ensemble.member_predictions(s, actions[:, t])
        penalty = penalty + (pred - pred.mean(0)).pow(2).sum(-1).mean(0).add(1e-12).sqrt()
        s = pred.mean(0)
    return ((s - goals).pow(2).sum(-1) + 1e-8).sqrt() + beta * penalty


def test_notebook_11_checks_pass_correct_answers():
    import dataclasses
    exercises.check_disagreement(_disagreement)
    exercises.check_pessimistic_cost(_pessimistic_cost)

    def matched(config, members):
        if hasattr(config, "restarts"):
            return dataclasses.replace(config, restarts=config.restarts * members)
        return dataclasses.replace(config, population=config.population * members, elites=config.elites * members)

    exercises.check_matched_budget(matched)


def test_disagreement_with_the_unbiased_std_fails():
    with pytest.raises(AssertionError, match="three members"):
        exercises.check_disagreement(lambda pred: pred.std(0).norm(dim=-1))  # sample std: divides by M - 1


def test_pessimistic_cost_without_the_penalty_or_through_member_zero_fails():
    with pytest.raises(AssertionError, match="beta = 0.7"):
        exercises.check_pessimistic_cost(lambda e, s, a, g, beta: _pessimistic_cost(e, s, a, g, 0.0))

    def member_zero(ensemble, starts, actions, goals, beta):  # rolls one member, not the mean
        s = starts
        for t in range(actions.shape[1]):
            s = ensemble.member_predictions(s, actions[:, t])[0]
        return ((s - goals).pow(2).sum(-1) + 1e-8).sqrt()

    with pytest.raises(AssertionError, match="beta = 0.0"):
        exercises.check_pessimistic_cost(member_zero)


def test_matched_budget_by_iterations_fails():
    import dataclasses
    with pytest.raises(AssertionError, match="matched_budget"):
        exercises.check_matched_budget(lambda c, m: dataclasses.replace(c, iterations=c.iterations * m))


# --------------------------------------------------------------------------------------------
# Notebook 10: harder worlds
# --------------------------------------------------------------------------------------------
def _momentum_step(states, actions, max_accel, damping, max_speed):
    p, v = states[:, :2], states[:, 2:]
    v = ((1 - damping) * v + actions.clamp(-max_accel, max_accel)).clamp(-max_speed, max_speed)
    return torch.cat([p + v, v], -1)


def _layout_state(positions, door_low, door_high):
    centre, width = (door_low + door_high) / 2, door_high - door_low
    return torch.cat([positions, torch.stack([centre, width], -1).flatten(1)], -1)


def _door_blocked(starts, goals, wall_x, thickness, door_low, door_high):
    x0, x1 = wall_x - thickness / 2, wall_x + thickness / 2
    dx = goals[:, 0] - starts[:, 0]
    safe = torch.where(dx == 0, torch.ones_like(dx), dx)
    t0, t1 = ((x0 - starts[:, 0]) / safe).clamp(0, 1), ((x1 - starts[:, 0]) / safe).clamp(0, 1)
    lo_t, hi_t = torch.minimum(t0, t1), torch.maximum(t0, t1)
    reaches = (torch.maximum(starts[:, 0], goals[:, 0]) > x0) & (torch.minimum(starts[:, 0], goals[:, 0]) < x1)
    y_a = starts[:, 1] + lo_t * (goals[:, 1] - starts[:, 1])
    y_b = starts[:, 1] + hi_t * (goals[:, 1] - starts[:, 1])
    inside_door = (torch.minimum(y_a, y_b) >= door_low) & (torch.maximum(y_a, y_b) <= door_high)
    return reaches & ~inside_door


def test_notebook_10_checks_pass_correct_answers():
    exercises.check_momentum_step(_momentum_step)
    exercises.check_layout_state(_layout_state)
    exercises.check_door_blocked(_door_blocked)


@pytest.mark.parametrize("wrong", [
    lambda s, a, m, d, v: _momentum_step(s, a, m, 0.0, v),  # no damping
    lambda s, a, m, d, v: torch.cat([s[:, :2] + s[:, 2:], _momentum_step(s, a, m, d, v)[:, 2:]], -1),  # moves by the old velocity
    lambda s, a, m, d, v: _momentum_step(s, a, float("inf"), d, v),  # the acceleration unclipped
], ids=["no-damping", "old-velocity", "unclipped"])
def test_momentum_step_mistakes_fail(wrong):
    with pytest.raises(AssertionError, match="next states"):
        exercises.check_momentum_step(wrong)


def test_layout_state_mistakes_fail():
    with pytest.raises(AssertionError, match="layout states with 1 wall"):
        exercises.check_layout_state(lambda p, lo, hi: torch.cat([p, torch.stack([lo, hi], -1).flatten(1)], -1))
    with pytest.raises(AssertionError, match="layout states with 2 wall"):  # centres of all walls, then widths
        exercises.check_layout_state(lambda p, lo, hi: torch.cat([p, (lo + hi) / 2, hi - lo], -1))


def test_door_blocked_mistakes_fail():
    def centre_line_only(starts, goals, wall_x, thickness, lo, hi):  # ignores the wall's thickness
        return _door_blocked(starts, goals, wall_x, 0.0, lo, hi)

    with pytest.raises(AssertionError, match="door_blocked is wrong on"):
        exercises.check_door_blocked(centre_line_only)
    with pytest.raises(AssertionError, match="door_blocked is wrong on"):  # the fixed door of notebooks 01-08
        exercises.check_door_blocked(lambda s, g, x, t, lo, hi: _door_blocked(s, g, x, t, torch.full_like(lo, -0.75),
                                                                              torch.full_like(hi, 0.75)))


# --------------------------------------------------------------------------------------------
# Notebook 09: planning from pixels
# --------------------------------------------------------------------------------------------
def _spatial_softmax(logits):
    B, K, H, W = logits.shape
    axis = torch.linspace(-1, 1, W)
    weights = torch.softmax(logits.reshape(B, K, H * W), -1).reshape(B, K, H, W)
    x = (weights.sum(2) * axis).sum(-1)  # columns: left to right
    y = (weights.sum(3) * axis.flip(0)).sum(-1)  # rows: top to bottom, y up
    return torch.stack([x, y], -1).reshape(B, 2 * K)


def _latent_transitions(z, a):
    return z[:, :-1].reshape(-1, z.shape[-1]), a.reshape(-1, a.shape[-1]), z[:, 1:].reshape(-1, z.shape[-1])


def _linear_probe(z, states):
    X = torch.cat([z, torch.ones(len(z), 1)], -1).double()
    return torch.linalg.lstsq(X, states.double()).solution.float()


def test_notebook_09_checks_pass_correct_answers():
    exercises.check_spatial_softmax(_spatial_softmax)
    exercises.check_latent_transitions(_latent_transitions)
    exercises.check_linear_probe(_linear_probe)


@pytest.mark.parametrize("wrong", [
    lambda l: _spatial_softmax(l)[:, [i ^ 1 for i in range(l.shape[1] * 2)]],  # (y, x) instead of (x, y)
    lambda l: _spatial_softmax(-l.flip(2)) * torch.tensor([1.0, -1.0]).repeat(l.shape[1]),  # y down, min instead of max
    lambda l: _spatial_softmax(l.flip(2)),  # row 0 at the bottom
], ids=["swapped", "negated", "y-down"])
def test_spatial_softmax_mistakes_fail(wrong):
    with pytest.raises(AssertionError, match="keypoint"):
        exercises.check_spatial_softmax(wrong)


def test_latent_transitions_and_probe_mistakes_fail():
    with pytest.raises(AssertionError, match="z_next"):  # the next latent shifted by one episode, not one step
        exercises.check_latent_transitions(lambda z, a: (*_latent_transitions(z, a)[:2],
                                                         z[:, :-1].reshape(-1, z.shape[-1]).roll(-1, 0)))
    with pytest.raises(AssertionError, match="shape"):  # left unflattened: (E, T, D) instead of (E T, D)
        exercises.check_latent_transitions(lambda z, a: (z[:, :-1], a, z[:, 1:]))
    with pytest.raises(AssertionError, match="probe weights"):  # no bias
        exercises.check_linear_probe(lambda z, s: torch.cat([torch.linalg.lstsq(z, s).solution, torch.zeros(1, 2)]))
