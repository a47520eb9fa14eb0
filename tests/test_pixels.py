"""The renderer of notebook 09: the agent's blob is where the state says, the wall where the config says."""

import pytest
import torch

from gbp_utils import pixels
from gbp_utils.env import WallConfig, WallEnv, sample_tasks
from gbp_utils.pixels import RenderConfig, blob_centre, render


def test_blob_is_where_the_state_says():
    wall = WallConfig()
    states = sample_tasks(200, 3, "eval", wall).starts  # free space, away from the border
    images = render(states, wall)
    assert images.shape == (200, 2, 64, 64) and images.dtype == torch.float32
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    inner = (states.abs() < wall.half_size - 4 * 0.25).all(1)  # the blob is cut off at the border: 4 sigma away
    assert inner.sum() > 100
    torch.testing.assert_close(blob_centre(images[inner], wall), states[inner], atol=0.01, rtol=0)
    border = blob_centre(images[~inner], wall) - states[~inner]
    assert (border.abs() < 0.1).all()  # near the border the centre is pulled inwards, a little
    # the brightest agent pixel is the pixel that contains the state
    R, h = 64, wall.half_size
    flat = images[:, 1].flatten(1).argmax(1)
    row, col = flat // R, flat % R
    expect_col = ((states[:, 0] + h) / (2 * h) * R).floor().long().clamp(0, R - 1)
    expect_row = ((h - states[:, 1]) / (2 * h) * R).floor().long().clamp(0, R - 1)
    assert torch.equal(col, expect_col) and torch.equal(row, expect_row)


def test_wall_channel_covers_the_wall_and_nothing_else():
    wall = WallConfig()
    cfg = RenderConfig(size=50, supersample=5)
    walls = pixels.scene(wall, cfg)
    xs, ys = pixels.pixel_centres(wall, 50)
    Y, X = torch.meshgrid(ys, xs, indexing="ij")
    inside = WallEnv(wall).in_wall(torch.stack([X, Y], -1))
    assert (walls[inside] > 0.5).all()  # pixel centres inside the wall are mostly wall
    assert float(walls[~inside & (X.abs() > 0.5)].max()) == 0.0  # far from it: nothing
    # total coverage = the wall's area in pixels (0.4 wide, 10 - 1.5 tall, pixels 0.2 x 0.2)
    assert float(walls.sum()) == pytest.approx(0.4 * 8.5 / 0.04, rel=0.02)
    door = (Y.abs() < 0.5) & (X.abs() < 0.1)
    assert float(walls[door].max()) == 0.0  # the door is open


def test_render_is_batched_differentiable_and_moves_with_the_state():
    wall = WallConfig()
    s = torch.tensor([[-2.0, 1.0], [3.0, -2.5]], requires_grad=True)
    images = render(s, wall)
    torch.testing.assert_close(images[1:], render(s[1:].detach(), wall))  # batch-independent
    g, = torch.autograd.grad(blob_centre(images, wall)[:, 0].sum(), s)
    torch.testing.assert_close(g, torch.tensor([[1.0, 0.0], [1.0, 0.0]]), atol=0.02, rtol=0)
    moved = render(s.detach() + torch.tensor([0.5, 0.0]), wall)
    assert not torch.equal(moved[:, 1], images[:, 1].detach()) and torch.equal(moved[:, 0], images[:, 0].detach())


def test_rgb_pictures_and_errors():
    wall = WallConfig()
    obs, goal = render(torch.tensor([[-3.0, 3.0]]), wall), render(torch.tensor([[3.0, 2.0]]), wall)
    pic = pixels.rgb(obs, goal)
    assert pic.shape == (1, 64, 64, 3) and 0 <= float(pic.min()) and float(pic.max()) <= 1
    r, c = 0, 0  # a corner: plain white background
    assert torch.allclose(pic[0, r, c], torch.ones(3))
    with pytest.raises(ValueError, match=r"render needs states of shape \(B, 2\)"):
        render(torch.zeros(3, 3), wall)
    with pytest.raises(ValueError, match="size must be an integer >= 4"):
        RenderConfig(size=2)
    with pytest.raises(ValueError, match="blob_sigma must be > 0"):
        RenderConfig(blob_sigma=0.0)


def test_observation_widget():
    from gbp_utils import widgets
    ui = widgets.observation_explorer()
    c = widgets.controls(ui)
    assert ui.result["valid"] and ui.result["size"] == 64 and ui.result["blob_centre_error"] < 0.02
    c["size"].value = 16
    assert ui.result["size"] == 16 and ui.result["pixel_width"] == pytest.approx(10 / 16)
    before = ui.result
    ui.click(-2.0, -1.0)
    assert widgets.controls(ui)["start_x"].value == -2.0 and ui.result is not before
    c["start_x"].value = 0.0
    c["start_y"].value = 3.0  # inside the wall
    assert ui.result == {"valid": False, "message": "The start is inside the wall: move it into free space."}
    assert widgets.show_observation(-3.0, 3.0, 3.0, 2.0, draw=False)["valid"]
