"""World models and planners on states that are not positions (notebook 09 plans in a latent space):
the sizes come from the data and the weights, and the position-only initialisations refuse them clearly."""

import pytest
import torch

from gbp_utils import world_model as wm
from gbp_utils.planners import GBPConfig, make_planner
from gbp_utils.sampling import CEMConfig


class _Transitions:
    """Anything with ``transitions()`` trains a world model: here 8-D states moved by 2-D actions."""

    def __init__(self, n=400, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.s = torch.randn(n, 8, generator=g)
        self.a = 0.5 * torch.rand(n, 2, generator=g) - 0.25
        mix = torch.randn(2, 8, generator=torch.Generator().manual_seed(99))
        self.s_next = self.s + self.a @ mix

    def transitions(self):
        return self.s, self.a, self.s_next


def test_a_latent_world_model_trains_saves_and_loads(tmp_path):
    data = _Transitions()
    result = wm.train_world_model(data, _Transitions(100, 1), wm.WorldModelConfig(hidden=16, n_blocks=1),
                                  wm.TrainConfig(epochs=3), progress=False)
    model = result.model
    assert (model.state_dim, model.action_dim) == (8, 2) and model(data.s[:5], data.a[:5]).shape == (5, 8)
    path = tmp_path / "latent.pt"
    wm.save_world_model(result, path, {"model": model.config})
    loaded = wm.load_world_model(path).model
    assert (loaded.state_dim, loaded.action_dim) == (8, 2)
    torch.testing.assert_close(loaded(data.s[:5], data.a[:5]), model(data.s[:5], data.a[:5]))
    with pytest.raises(ValueError, match="state_dim must be an integer >= 1"):
        wm.WorldModel(state_dim=0)


def test_planners_plan_latent_states_with_position_free_initialisations():
    torch.manual_seed(0)
    model = wm.WorldModel(wm.WorldModelConfig(hidden=16, n_blocks=1), state_dim=8).eval()
    starts, goals = torch.randn(3, 8), torch.randn(3, 8)
    for config in (GBPConfig(init="gaussian", restarts=2, iterations=5), CEMConfig(init="zeros", population=10,
                                                                                   elites=2, iterations=2)):
        plan = make_planner(model, config, 0.5)(starts, goals, 4)
        assert plan.actions.shape == (3, 4, 2) and plan.predicted_states.shape == (3, 5, 8)
        assert plan.actions.abs().max() <= 0.5
        warm = make_planner(model, config, 0.5)(starts, goals, 4, warm_start=plan.actions)
        assert warm.actions.shape == (3, 4, 2)
    for config in (GBPConfig(), CEMConfig()):  # waypoints: moves between positions
        with pytest.raises(ValueError, match="init='waypoints' plans through positions, but the states have 8"):
            make_planner(model, config, 0.5)(starts, goals, 4)
