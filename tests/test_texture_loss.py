"""The sliced Wasserstein texture loss (train/texture.py) against the eval's numpy SWD pieces."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from skyviewer.eval import swd
from skyviewer.train import texture


def test_pyramid_matches_the_eval():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    ours = texture.laplacian_pyramid(x, 3)
    theirs = swd.laplacian_pyramid(x.numpy(), 3)
    assert [t.shape for t in ours] == [t.shape for t in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert np.allclose(a.numpy(), b, atol=1e-12)


def test_descriptors_are_the_neighbourhoods_and_their_place():
    level = torch.randn(2, 3, 12, 12)
    where = torch.randn(2, 2, 12, 12)
    centres = torch.tensor(
        [0 * 144 + 5 * 12 + 7, 1 * 144 + 3 * 12 + 3]
    )  # (b, row, col) = (0, 5, 7), (1, 3, 3)
    got = texture._descriptors(level, where, 7, centres)
    for k, (b, row, col) in enumerate([(0, 5, 7), (1, 3, 3)]):
        patch = level[b, :, row - 3 : row + 4, col - 3 : col + 4].permute(1, 2, 0).flatten()
        assert torch.equal(got[k, :147], patch)
        assert torch.equal(got[k, 147:], where[b, :, row, col])


def test_loss_is_zero_for_the_same_images_and_grows_with_blur():
    torch.manual_seed(0)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    where = torch.rand(4, 2, 64, 64)
    same = texture.texture_loss(real, real, where, 3, 1024, 32)
    other = texture.texture_loss(torch.rand(4, 3, 64, 64) * 2 - 1, real, where, 3, 1024, 32)
    blurred = texture.texture_loss(F.avg_pool2d(real, 3, 1, 1), real, where, 3, 1024, 32)
    assert same.item() == 0.0
    assert other.item() < 0.1 * blurred.item()  # a new draw of the same noise is close; a blur is not


def test_descriptors_stay_above_the_horizon():
    """Pixels below the horizon (-1 in the data) never enter a descriptor: fake values there
    cannot change the loss."""
    torch.manual_seed(0)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    real[:, :, 20:] = -1.0
    where = torch.zeros(2, 1, 32, 32)
    fake = real.clone()
    fake[:, :, 24:] = 5.0  # far from any descriptor's neighbourhood: rows >= 24 only
    torch.manual_seed(1)
    a = texture.texture_loss(fake, real, where, 1, 4096, 16)
    assert a.item() == 0.0


def test_gradient_descent_sharpens_a_blurred_texture():
    torch.manual_seed(0)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    fake = F.avg_pool2d(real, 5, 1, 2).clone().requires_grad_(True)
    where = torch.zeros(2, 1, 32, 32)
    opt = torch.optim.Adam([fake], lr=0.02)
    first = None
    for _ in range(60):
        loss = texture.texture_loss(fake, real, where, 2, 1024, 32)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
