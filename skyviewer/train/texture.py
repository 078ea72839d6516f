"""Sliced Wasserstein texture loss: the eval's SWD (eval/swd.py), differentiable, for training.

The eval compares the distributions of 7x7 neighbourhoods on each level of a Laplacian
pyramid (Karras et al. 2018). Minimising that distance directly is a texture-synthesis loss
(Heitz et al. 2021, "A Sliced Wasserstein Loss for Neural Texture Synthesis", on VGG features;
here on the pyramid, so it is cheap and measures what the eval measures): project both
descriptor sets on random unit directions, sort, and take the mean squared difference of the
sorted values. Unlike a critic it has no game to lose: it cannot reward an artefact the
data lacks, and it is stable from the first step on the two CPU cores.

The sky is not a stationary texture: what a neighbourhood looks like depends on where it is
(the horizon, the sun) and under which conditions. Each descriptor carries those as extra
values (`where` maps), identical in the two sets for the same pixel positions, so matching
the joint distributions matches the conditional ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)
PATCH = 7
"""Descriptor side on the band-pass levels (pixels), as in the eval."""
LOWPASS_PATCH = 3
"""Descriptor side on the low-pass residual (a few pixels wide at the coarsest level)."""


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable binomial blur of (B, C, H, W) with reflected borders."""
    c = x.shape[1]
    k = torch.tensor(BINOMIAL_5, dtype=x.dtype, device=x.device) / 16.0
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect"), k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(F.pad(x, (0, 0, 2, 2), mode="reflect"), k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(B, C, H, W) -> band-pass levels (finest first) and the low-pass residual last."""
    out = []
    for _ in range(levels - 1):
        low = _blur(x)[:, :, ::2, ::2]
        up = torch.zeros_like(x)
        up[:, :, ::2, ::2] = low
        out.append(x - 4.0 * _blur(up))
        x = low
    return [*out, x]


def sliced_wasserstein(fake: torch.Tensor, real: torch.Tensor, projections: int) -> torch.Tensor:
    """Mean squared difference of the sorted projections of descriptor sets fake, real (N, D) on
    `projections` random unit directions: the sliced Wasserstein-2 distance, squared. Gradients
    flow into fake only (real is data)."""
    directions = F.normalize(torch.randn(fake.shape[1], projections, device=fake.device), dim=0)
    pf, pr = (fake @ directions).T, (real.detach() @ directions).T  # (projections, N)
    if pf.device.type == "cpu":  # numpy's vectorised sorts are ~6x faster than torch's on the CPU
        order = torch.from_numpy(np.argsort(pf.detach().numpy(), axis=1))
        target = torch.from_numpy(np.sort(pr.numpy(), axis=1))
    else:
        order, target = torch.argsort(pf.detach(), dim=1), torch.sort(pr, dim=1).values
    return (pf.gather(1, order) - target).square().mean()


def _descriptors(level: torch.Tensor, where: torch.Tensor, size: int, centres: torch.Tensor) -> torch.Tensor:
    """Descriptors (N, size^2 C + E) of level (B, C, H, W): the size x size neighbourhoods around
    centres (N,) (flat indices into B x H x W), each with the `where` values (B, E, H, W) there.
    Gathered at the centres only: unfolding every neighbourhood of a 64 px patch costs 50x more."""
    b, c, h, w = level.shape
    r = size // 2
    offsets = torch.arange(-r, r + 1, device=level.device)
    around = (offsets[:, None] * w + offsets[None, :]).flatten()  # (size^2,)
    pixels = level.permute(0, 2, 3, 1).reshape(b * h * w, c)
    patches = pixels[centres[:, None] + around].flatten(1)  # (N, size^2 C)
    return torch.cat([patches, where.permute(0, 2, 3, 1).reshape(b * h * w, -1)[centres]], dim=1)


CHROMA_GAIN = 4.0
OPPONENT = (
    (1 / 3, 1 / 3, 1 / 3),
    (CHROMA_GAIN, 0.0, -CHROMA_GAIN),
    (-CHROMA_GAIN / 2, CHROMA_GAIN, -CHROMA_GAIN / 2),
)
"""RGB -> luma, red - blue, green - magenta, the colour differences amplified by CHROMA_GAIN. In the
log encoding a blue sky and a white cloud differ by ~0.03 between channels against a spread of ~0.13
in each: per RGB channel, a random projection barely sees colour (the loss did not change with the
clouds' saturation). A fixed gain, not a per-channel normalisation: the data's colour differences
are nearly zero in places (overcast, fine bands), and dividing by them blew the loss up."""


def _opponent(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> opponent channels (OPPONENT)."""
    return torch.einsum("oc,bchw->bohw", torch.tensor(OPPONENT, dtype=x.dtype, device=x.device), x)


def texture_loss(
    fake: torch.Tensor,
    real: torch.Tensor,
    where: torch.Tensor,
    levels: int,
    descriptors: int,
    projections: int,
) -> torch.Tensor:
    """Sum over Laplacian levels of the sliced Wasserstein distance between fake and real
    neighbourhoods (B, 3, H, W each, RGB, the same pixel places under the same conditions; compared
    in OPPONENT channels), plus the same distance between the images' single pixels: their
    colours. In 150-value neighbourhoods a random direction barely sees the mean colour, so
    without that term the colours drift.

    where: (B, E, H, W) values each descriptor carries (see the module doc), scaled to unit std
    (times the caller's weight) and area-averaged to every level. Descriptors are centred above
    the horizon (real > -1 in every channel), up to `descriptors` per level, drawn at the same
    places in both sets. Each level is normalised by the real level's luma std, so fine bands
    (small values) count as much as coarse ones."""
    inside = (real > -0.999).all(dim=1, keepdim=True).float()
    fake, real = _opponent(fake), _opponent(real)
    where = where / where.std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-3)  # unit std, like the pixels
    pairs = zip(laplacian_pyramid(fake, levels), laplacian_pyramid(real, levels), strict=True)
    terms = [
        _level_distance(
            f, r, where, inside, LOWPASS_PATCH if i == levels - 1 else PATCH, descriptors, projections
        )
        for i, (f, r) in enumerate(pairs)
    ]
    return sum(terms) + _level_distance(fake, real, where, inside, 1, descriptors, projections)


def _level_distance(
    fake: torch.Tensor,
    real: torch.Tensor,
    where: torch.Tensor,
    inside: torch.Tensor,
    size: int,
    descriptors: int,
    projections: int,
) -> torch.Tensor:
    """Sliced Wasserstein distance of one level's size x size descriptors (see texture_loss)."""
    scale = real[:, :1].detach().std().clamp(min=1e-3)  # the luma's: colour keeps its OPPONENT gain
    w = F.adaptive_avg_pool2d(where, real.shape[-2:])
    r = size // 2
    # Centres whose whole neighbourhood lies above the horizon and inside the image.
    ok = F.max_pool2d(1.0 - F.adaptive_avg_pool2d(inside, real.shape[-2:]), size, 1, r) < 1e-3
    margin = torch.zeros_like(ok)
    margin[:, :, r : real.shape[2] - r, r : real.shape[3] - r] = True
    valid = torch.nonzero((ok & margin).flatten()).squeeze(1)
    if len(valid) < 2:
        return fake.new_zeros(())
    centres = valid[torch.randperm(len(valid), device=valid.device)[:descriptors]]
    a = _descriptors(fake / scale, w, size, centres)
    b = _descriptors(real / scale, w, size, centres)
    return sliced_wasserstein(a, b, projections)
