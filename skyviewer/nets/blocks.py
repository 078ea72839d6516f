"""Small building blocks shared by the start and step models and their discriminators.

Everything a generator uses must export to ONNX opset <= 15 with static shapes and
standard ops (Unity's Inference Engine, Unreal's NNE): plain convs, average pooling,
elementwise math, GatherElements. In particular the warp below is a hand-written gather
instead of grid_sample (GridSample only exists from opset 16).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from skyviewer.sky.projection import fisheye_directions

LRELU_SLOPE = 0.2
COND_DIM = 4
"""Condition vector: sun direction (3, world unit vector, +Y up) and cloud cover (1, [0, 1])."""
SUN_DISC_RADIUS_PX = 1.0
"""Gaussian radius of the composited sun disc (SkyGeometry.composite_sun), in pixels at any resolution."""
GEOMETRY_CHANNELS = 5
"""Per-pixel maps from SkyGeometry.maps: view direction (3), cosine to the sun, sun glow."""
BACKGROUND_HIDDEN = 32
"""Width of SkyBackground's per-pixel MLP."""


def init_weights(*modules: nn.Module) -> None:
    """He-normal init for leaky-ReLU nets, zero biases. torch's default init shrinks activations
    ~2x per layer; through a dozen layers the discriminator's input gradient all but vanished."""
    for m in (m for module in modules for m in module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=LRELU_SLOPE, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def channels_at(resolution: int, channel_base: int, max_channels: int) -> int:
    """Feature width at a resolution: wider where the image is small (stylegan's rule)."""
    return max(8, min(max_channels, channel_base // resolution))


class SkyGeometry(nn.Module):
    """Constant per-pixel geometry of the canonical fisheye at one resolution, as network inputs.

    Giving the networks where each pixel looks and how far it is from the sun (CoordConv /
    CPPN style) means they need not learn the projection: the sun glow lands at the right
    pixel for any sun direction, and nothing depends on zero-padding to find the horizon.
    """

    def __init__(self, resolution: int):
        super().__init__()
        dirs, mask = fisheye_directions(resolution)
        self.resolution = resolution
        self.register_buffer(
            "dirs", torch.from_numpy(dirs).permute(2, 0, 1)[None].contiguous()
        )  # (1, 3, N, N)
        self.register_buffer("mask", torch.from_numpy(mask.astype("float32"))[None, None])  # (1, 1, N, N)

    def sun_maps(self, sun_dir: torch.Tensor) -> torch.Tensor:
        """Cosine of the angle to the sun and a narrow glow exp(32 (cos - 1)): (B, 2, N, N)."""
        cos = (self.dirs * sun_dir[:, :, None, None]).sum(dim=1, keepdim=True)  # (B, 1, N, N)
        return torch.cat([cos, torch.exp(32.0 * (cos - 1.0))], dim=1)

    def maps(self, sun_dir: torch.Tensor) -> torch.Tensor:
        """View directions and sun maps: (B, GEOMETRY_CHANNELS, N, N)."""
        return torch.cat([self.dirs.expand(sun_dir.shape[0], -1, -1, -1), self.sun_maps(sun_dir)], dim=1)

    def composite_sun(self, x: torch.Tensor, sun_dir: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
        """Blend x (B, 3, N, N) towards the clamp (+1) in a disc at the sun, as far as sigmoid(logit)
        (B, 1, N, N) opens it: a cloud in front of the sun keeps it closed, a clear sky opens it.

        The data keeps the solar disc clamped at the encoding's top (docs/conventions.md), a
        pixel or two at 64 px, which a conv stack learns late and places loosely; given as a
        gated Gaussian disc of SUN_DISC_RADIUS_PX pixels at the conditioned direction, the sun is
        exactly where the condition says from the first step of training."""
        radius = math.radians(180.0 / self.resolution) * SUN_DISC_RADIUS_PX  # the fisheye: 180 deg over N
        cos = (self.dirs * sun_dir[:, :, None, None]).sum(dim=1, keepdim=True)  # (B, 1, N, N)
        disc = torch.exp(-2.0 * (1.0 - cos) / radius**2)  # 1 - cos ~ angle^2 / 2
        return x + torch.sigmoid(logit) * disc * (1.0 - x)

    def apply_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Set pixels below the horizon to encoded -1 (zero radiance), as the data has them."""
        return x * self.mask + (self.mask - 1.0)


class SkyBackground(nn.Module):
    """The sky without its clouds' detail, from the conditions alone: a per-pixel MLP (1x1 convs,
    CPPN style) of the view direction, the angle to the sun, the sun's direction and the cloud
    cover -> encoded colour (B, 3, N, N) in [-1, 1], -1 below the horizon.

    Without state or noise it is the same sky for the same conditions, smooth by construction
    (no spatial kernel) and it moves only as the sun moves. Trained by L1 against the real
    frames it becomes their conditional median: the gradient, the glow around the sun, the
    colour of an overcast day, the dusk. Both models draw their clouds as a deviation from it,
    so the colours are right long before the adversarial game has taught any clouds (a start GAN
    without it was still murky and magenta-tinted after 4750 steps on the cpu preset)."""

    def __init__(self, geometry: SkyGeometry, hidden: int = BACKGROUND_HIDDEN):
        super().__init__()
        self.geometry = geometry
        inputs = GEOMETRY_CHANNELS + COND_DIM
        self.mlp = nn.Sequential(
            nn.Conv2d(inputs, hidden, 1),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv2d(hidden, hidden, 1),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv2d(hidden, 3, 1),
        )
        init_weights(self)
        nn.init.zeros_(self.mlp[-1].weight)  # starts at the encoding's mid-grey, not random colours

    def logits(self, sun_dir: torch.Tensor, cloud_cover: torch.Tensor) -> torch.Tensor:
        """The background before its tanh, (B, 3, N, N): the start model adds its clouds here."""
        maps = self.geometry.maps(sun_dir)  # (B, GEOMETRY_CHANNELS, N, N)
        cond = broadcast(torch.cat([sun_dir, cloud_cover], dim=1), maps)  # (B, COND_DIM, N, N)
        return self.mlp(torch.cat([maps, cond], dim=1))

    def forward(self, sun_dir: torch.Tensor, cloud_cover: torch.Tensor) -> torch.Tensor:
        return self.geometry.apply_mask(torch.tanh(self.logits(sun_dir, cloud_cover)))


def broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, K) per-sample values as constant (B, K, H, W) maps matching `like`'s spatial size."""
    return values[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


class MinibatchStd(nn.Module):
    """Append the across-group standard deviation as a feature map (ProGAN/StyleGAN2).

    A collapsed generator makes every sample in a group alike; this statistic lets the
    discriminator see it and push back.
    """

    def __init__(self, group_size: int):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.group_size, b)
        if b % g:  # odd leftover batch: fall back to one group (still a valid statistic)
            g = b
        y = x.reshape(g, -1, c, h, w)  # (G, B/G, C, H, W)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B/G,)
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)  # (B, 1, H, W)
        return torch.cat([x, y], dim=1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward nearest-pixel warp: out[y, x] = image[round(y + flow_y), round(x + flow_x)], edges clamped.

    image (B, C, H, W), flow (B, 2, H, W) with (dx, dy) in pixels. Why nearest: a step model
    moves its state thousands of times, and bilinear resampling at a fractional offset is a
    low-pass filter (a 0.3 px shift keeps 40 % of the Nyquist band), so repeated bilinear
    warps blur any texture away within tens of steps. Copying whole pixels never blurs.

    Nearest has no gradient w.r.t. the flow, so while training the bilinear warp's gradient
    stands in for it (straight-through): the value is exactly the nearest warp, the flow still
    learns. Written with floor/clamp/gather so it exports as GatherElements (opset 11).
    """
    b, c, h, w = image.shape
    ys = torch.arange(h, dtype=image.dtype, device=image.device).view(1, h, 1)
    xs = torch.arange(w, dtype=image.dtype, device=image.device).view(1, 1, w)
    x, y = xs + flow[:, 0], ys + flow[:, 1]  # (B, H, W), where each output pixel samples
    # Index arithmetic stays in float (exact below 2**24 pixels) and is cast once before the
    # gather: OpenCV's DNN and other light ONNX runtimes lack int64 Clip/Add/Mul.
    flat = image.reshape(b, c, h * w)

    def tap(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (yi * w + xi).long().reshape(b, 1, h * w).expand(b, c, h * w)
        return flat.gather(2, index).reshape(b, c, h, w)

    def nearest_index(p: torch.Tensor, size: int) -> torch.Tensor:
        return (p + 0.5).floor().clamp(0, size - 1)

    nearest = tap(nearest_index(y, h), nearest_index(x, w))
    if not (flow.requires_grad and torch.is_grad_enabled()):  # inference and export: nearest alone
        return nearest
    x, y = x.clamp(0, w - 1), y.clamp(0, h - 1)
    x0, y0 = x.floor(), y.floor()
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]  # (B, 1, H, W)
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    top = tap(y0, x0) * (1 - fx) + tap(y0, x1) * fx
    bottom = tap(y1, x0) * (1 - fx) + tap(y1, x1) * fx
    bilinear = top * (1 - fy) + bottom * fy
    return nearest + (bilinear - bilinear.detach())  # value: nearest; gradient: bilinear's
