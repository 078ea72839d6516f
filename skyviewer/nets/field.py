"""The cloud field both models share, and the renderer that turns it into a sky.

SkySim, like most procedural skies, draws its clouds from a noise field: where the noise
rises above a threshold set by the cover there is cloud, and the field's drift and slow
change are the clouds' motion and growth. Both learned models keep that structure:

    field  = CloudField(white noise)                  a unit-variance Gaussian field, learned spectrum
    sky    = CloudRenderer(field, sun, cover)          learned: threshold, shape, light, colour
    mask   = sigmoid(sharpness (field_0 - t(cover)))   the renderer's cue: where the cover says cloud

The start model is exactly this (white noise in, sky out, trained as a GAN). The step model
carries the field in its recurrent state and moves it on (nets/step.py). The renderer is
where sharp cloud edges come from, every frame afresh: the field itself is smooth, so moving
it never has to preserve fine detail -- the thing a frame-to-frame model cannot do for
thousands of steps (docs/training.md, "why a field").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import (
    COND_DIM,
    GEOMETRY_CHANNELS,
    LRELU_SLOPE,
    SkyBackground,
    SkyGeometry,
    broadcast,
    init_weights,
)

KERNEL_INIT_SIGMA_PX = 3.0
"""Gaussian width (pixels at the training resolution) of the field kernels at initialisation."""
LOGISTIC_PROBIT = 1.702
"""logit(p) / 1.702 approximates the standard normal quantile to 0.01 in p (Bowling et al. 2009);
ONNX opset 15 has no erfinv, and the renderer learns what the approximation leaves."""
COVER_LIMIT = 0.01
"""Cloud cover is clamped to [COVER_LIMIT, 1 - COVER_LIMIT] before its quantile (finite threshold)."""
MASK_INIT_SHARPNESS = 4.0
"""Initial slope of the cover mask per unit of field: the edge spans ~0.5 sigma of the field."""


class CloudField(nn.Module):
    """White noise (B, C, N + k - 1, N + k - 1) -> Gaussian field (B, C, N, N), each channel the
    valid convolution of its noise with a learned k x k kernel divided by the kernel's L2 norm.

    The division makes every pixel exactly unit variance whatever the kernel (for white input
    Var = sum K^2), and the valid convolution keeps that true at the borders too; the kernel
    learns only the field's spatial spectrum -- how big and how stretched the clouds are."""

    def __init__(self, channels: int, kernel_px: int, resolution: int):
        super().__init__()
        if kernel_px % 2 == 0:
            raise ValueError(f"field kernel size must be odd, got {kernel_px}")
        self.channels, self.kernel_px, self.resolution = channels, kernel_px, resolution
        r = torch.arange(kernel_px, dtype=torch.float32) - kernel_px // 2
        sigma = KERNEL_INIT_SIGMA_PX * resolution / 64
        gauss = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
        self.kernel = nn.Parameter(gauss.expand(channels, 1, -1, -1).clone())

    def noise_shape(self, batch: int) -> tuple[int, int, int, int]:
        side = self.resolution + self.kernel_px - 1
        return (batch, self.channels, side, side)

    def forward(self, white: torch.Tensor) -> torch.Tensor:
        norm = self.kernel.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        return F.conv2d(white, self.kernel / norm, groups=self.channels)  # (B, C, N, N)


class CloudRenderer(nn.Module):
    """Field (B, C, N, N) + sun direction + cover -> encoded sky (B, 3, N, N) in [-1, 1].

    A few 3x3 convs read the field with the sky geometry and the conditions and draw the clouds'
    colour as a change of the `SkyBackground`'s logits (the conditional median sky, trained by L1),
    so the colours are right before the clouds are; the last channel gates the solar disc (a cloud
    in front of the sun closes it). The receptive field is a few pixels: enough for the lit side
    and the dark base of a cloud, too little to invent structure the field does not have.

    Beside the field the convs read a cover mask, sigmoid(sharpness (field_0 - t)) with t the
    field's (1 - cover) quantile: channel 0 is a unit Gaussian at every pixel, so the mask covers
    `cover` of the sky with hard-edged blobs, as SkySim's clouds are thresholded noise. Without it
    the cpu preset drew a soft mottle whose amount followed the cover only loosely (run 00021, fbf651f);
    the threshold's scale and offset and the edge's sharpness are learned."""

    def __init__(self, geometry: SkyGeometry, field_channels: int, width: int, layers: int):
        super().__init__()
        self.geometry = geometry
        self.background = SkyBackground(geometry)
        self.threshold_affine = nn.Parameter(torch.tensor([1.0, 0.0]))  # t = a * quantile + b
        self.log_sharpness = nn.Parameter(torch.tensor(math.log(MASK_INIT_SHARPNESS)))
        convs: list[nn.Module] = []
        c = field_channels + 1 + GEOMETRY_CHANNELS + COND_DIM
        for _ in range(layers):
            convs += [nn.Conv2d(c, width, 3, padding=1), nn.LeakyReLU(LRELU_SLOPE)]
            c = width
        self.body = nn.Sequential(*convs)
        self.to_rgb = nn.Conv2d(c, 4, 1)  # colour change over the background (3) + the sun's gate logit (1)
        init_weights(self.body)
        nn.init.zeros_(self.to_rgb.weight)  # starts as the background: the right colours, no clouds
        nn.init.zeros_(self.to_rgb.bias)

    def cover_mask(self, field: torch.Tensor, cloud_cover: torch.Tensor) -> torch.Tensor:
        """(B, 1, N, N) in (0, 1): ~1 where field channel 0 is above its (1 - cover) quantile."""
        cover = cloud_cover.clamp(COVER_LIMIT, 1.0 - COVER_LIMIT)
        quantile = torch.log((1.0 - cover) / cover) / LOGISTIC_PROBIT  # (B, 1)
        threshold = self.threshold_affine[0] * quantile + self.threshold_affine[1]
        return torch.sigmoid(self.log_sharpness.exp() * (field[:, :1] - threshold[:, :, None, None]))

    def forward(self, field: torch.Tensor, sun_dir: torch.Tensor, cloud_cover: torch.Tensor) -> torch.Tensor:
        geo = self.geometry
        maps = geo.maps(sun_dir)  # (B, GEOMETRY_CHANNELS, N, N)
        cond = broadcast(torch.cat([sun_dir, cloud_cover], dim=1), maps)  # (B, COND_DIM, N, N)
        inputs = torch.cat([field, self.cover_mask(field, cloud_cover), maps, cond], dim=1)
        out = self.to_rgb(self.body(inputs))  # (B, 4, N, N)
        # The background learns from its L1 alone (GanTask.background_loss): the adversarial gradient
        # reaches only the clouds. With it, the critics pulled the whole sky to magenta and black.
        background = self.background.logits(sun_dir, cloud_cover).detach()
        sky = torch.tanh(background + out[:, :3])
        return geo.apply_mask(geo.composite_sun(sky, sun_dir, out[:, 3:]))


class CloudSky(nn.Module):
    """What both models are built on: the sky geometry at one resolution, a `CloudField` and a
    `CloudRenderer` (state-dict keys field.*, renderer.*: the step can take over the start's)."""

    def __init__(
        self,
        resolution: int,
        field_channels: int,
        field_kernel_px: int,
        render_width: int,
        render_layers: int,
    ):
        super().__init__()
        self.resolution = resolution
        self.geometry = SkyGeometry(resolution)
        self.field = CloudField(field_channels, field_kernel_px, resolution)
        self.renderer = CloudRenderer(self.geometry, field_channels, render_width, render_layers)

    @property
    def background(self) -> SkyBackground:
        return self.renderer.background

    def render(
        self, cloud_noise: torch.Tensor, sun_dir: torch.Tensor, cloud_cover: torch.Tensor
    ) -> torch.Tensor:
        """The sky (B, 3, N, N) of the clouds drawn from white noise (B, C, N + k - 1, N + k - 1)."""
        return self.renderer(self.field(cloud_noise), sun_dir, cloud_cover)
