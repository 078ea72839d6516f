"""Model 1, the start sky: latent vector + conditions -> canonical-fisheye HDR sky (encoded).

DCGAN lineage: a mapping MLP, a learned 4x4 seed, then bilinear-upsample + conv blocks
doubling the resolution up to N. Two modernisations: pixel norm instead of batch norm (no
batch dependence, so the EMA generator and batch-1 inference behave like training), and
the sky geometry (view directions, angle to the sun) plus cloud cover fed to every block,
so the sun glow is placed by the condition rather than memorised per position; the solar
disc itself is composited at the conditioned direction behind a learned gate (clouds close it).

The conv stack draws only what the conditions do not decide: its output is added to the
logits of a `SkyBackground` (the conditional median sky, trained by L1 beside the GAN loss),
and starts at zero, so the first samples are already the right gradient and colour and the
adversarial game spends itself on the clouds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import (
    COND_DIM,
    GEOMETRY_CHANNELS,
    LRELU_SLOPE,
    PixelNorm,
    SkyBackground,
    SkyGeometry,
    broadcast,
    channels_at,
    conv_act,
    init_weights,
)

MAP_CHANNELS = GEOMETRY_CHANNELS + 1  # + cloud cover


class UpBlock(nn.Module):
    """x2 bilinear upsample, then two 3x3 convs that also see the condition maps (pooled to size)."""

    def __init__(self, cin: int, cout: int, maps_pool: int):
        super().__init__()
        self.maps_pool = maps_pool  # full-resolution maps are this many times larger than the block
        self.conv0 = conv_act(cin + MAP_CHANNELS, cout, norm=True)
        self.conv1 = conv_act(cout, cout, norm=True)

    def forward(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        # Bilinear, not nearest: nearest-upsampled random features are blocky at every scale, and the
        # first samples were a lattice of coloured blocks (StyleGAN filters its upsampling likewise).
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)  # (B, C, 2H, 2W)
        if self.maps_pool > 1:
            maps = F.avg_pool2d(maps, self.maps_pool)
        return self.conv1(self.conv0(torch.cat([x, maps], dim=1)))


class StartGenerator(nn.Module):
    def __init__(self, resolution: int, latent_dim: int, channel_base: int, max_channels: int):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.latent_dim = resolution, latent_dim
        self.geometry = SkyGeometry(resolution)
        self.mapping = nn.Sequential(
            nn.Linear(latent_dim + COND_DIM, latent_dim),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Linear(latent_dim, latent_dim),
            nn.LeakyReLU(LRELU_SLOPE),
        )
        c = channels_at(4, channel_base, max_channels)
        self.seed = nn.Linear(latent_dim, c * 16)
        self.seed_norm = PixelNorm()
        blocks, res = [], 4
        while res < resolution:
            c_out = channels_at(res * 2, channel_base, max_channels)
            blocks.append(UpBlock(c, c_out, resolution // (res * 2)))
            c, res = c_out, res * 2
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.Conv2d(c, 4, 1)  # colour over the background (3) + the sun disc's gate logit (1)
        init_weights(self)
        nn.init.zeros_(self.to_rgb.weight)
        self.background = SkyBackground(self.geometry)

    def forward(self, z: torch.Tensor, sun_dir: torch.Tensor, cloud_cover: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim), sun_dir (B, 3), cloud_cover (B, 1) -> encoded sky (B, 3, N, N) in [-1, 1]."""
        w = self.mapping(torch.cat([z, sun_dir, cloud_cover], dim=1))  # (B, latent_dim)
        x = self.seed_norm(self.seed(w).reshape(z.shape[0], -1, 4, 4))  # (B, C, 4, 4)
        geo = self.geometry.maps(sun_dir)
        full_maps = torch.cat([geo, broadcast(cloud_cover, geo)], dim=1)  # (B, MAP_CHANNELS, N, N)
        for block in self.blocks:
            x = block(x, full_maps)  # (B, C', 2H, 2W)
        out = self.to_rgb(x)  # (B, 4, N, N)
        sky = torch.tanh(self.background.logits(sun_dir, cloud_cover) + out[:, :3])
        sky = self.geometry.composite_sun(sky, sun_dir, out[:, 3:])
        return self.geometry.apply_mask(sky)  # (B, 3, N, N)
