"""Model 2, the step: (last frame, recurrent state, fresh noise, conditions) -> (next frame, next state).

A U-Net whose bottleneck is a ConvGRU (the LSTM idea made convolutional): the encoder
reads the last frame with the sky geometry and the sun at both the current and the next
frame time (so it knows how far the sun moves this step), the GRU carries what a single
frame cannot show (where clouds are heading, how they are growing), and fresh noise at
the bottleneck lets each rollout take its own path instead of averaging to a blur.

The decoder predicts motion plus a correction, not pixels:
    next = clamp(warp(frame, flow) + residual, -1, 1)
Warping moves cloud texture without resampling it through the network (a nearest-pixel
warp: sharp after any number of steps, see blocks.warp); the residual, low-passed so it
cannot add pixel-level noise, makes clouds grow, dissolve and the sun glow move. The head
is zero-initialised, so an untrained model is the identity: rollouts start stable and
training adds the motion. The state starts as zeros (`initial_state`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import ConvGRU, SkyGeometry, broadcast, channels_at, conv_act, init_weights, warp

IN_CHANNELS = 3 + 3 + 2 + 2 + 1  # frame, view directions, sun maps now and next, cloud cover


class StepModel(nn.Module):
    def __init__(
        self,
        resolution: int,
        levels: int,
        state_channels: int,
        noise_channels: int,
        channel_base: int,
        max_channels: int,
        max_flow_px: float,
    ):
        super().__init__()
        if resolution % (2**levels):
            raise ValueError(f"resolution {resolution} is not divisible by 2**levels = {2**levels}")
        self.resolution, self.levels = resolution, levels
        self.state_channels, self.noise_channels = state_channels, noise_channels
        self.max_flow_px = max_flow_px
        self.geometry = SkyGeometry(resolution)
        widths = [channels_at(resolution >> i, channel_base, max_channels) for i in range(levels + 1)]
        self.stem = conv_act(IN_CHANNELS, widths[0], norm=True)
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1), nn.LeakyReLU(0.2))
            for i in range(levels)
        )
        self.gru = ConvGRU(widths[-1] + noise_channels, state_channels)
        ups, c = [], state_channels
        for i in reversed(range(levels)):  # coarse to fine, each level sees the encoder's skip
            ups.append(conv_act(c + widths[i], widths[i], norm=True))
            c = widths[i]
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(c, 5, 3, padding=1)  # flow (2) + residual (3)
        init_weights(self)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # Fixed 3x3 binomial low-pass for the residual (depthwise; not a weight, not in checkpoints).
        binomial = torch.tensor([1.0, 2.0, 1.0])
        kernel = (binomial[:, None] * binomial[None, :] / 16).expand(3, 1, 3, 3).contiguous()
        self.register_buffer("residual_blur", kernel, persistent=False)

    def state_shape(self, batch: int) -> tuple[int, int, int, int]:
        """Shape of the recurrent state (and of the noise, with noise_channels) at the bottleneck."""
        n = self.resolution >> self.levels
        return (batch, self.state_channels, n, n)

    def noise_shape(self, batch: int) -> tuple[int, int, int, int]:
        n = self.resolution >> self.levels
        return (batch, self.noise_channels, n, n)

    def initial_state(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(self.state_shape(batch), device=device)

    def forward(
        self,
        frame: torch.Tensor,
        state: torch.Tensor,
        noise: torch.Tensor,
        sun_dir: torch.Tensor,
        sun_dir_next: torch.Tensor,
        cloud_cover: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """frame (B, 3, N, N) encoded; state (B, S, n, n); noise (B, Z, n, n) ~ N(0, 1);
        sun_dir, sun_dir_next (B, 3) at this and the next frame's time; cloud_cover (B, 1).
        Returns next frame (B, 3, N, N) and next state (B, S, n, n), n = N / 2**levels."""
        geo = self.geometry
        x = torch.cat(
            [
                frame,
                geo.dirs.expand(frame.shape[0], -1, -1, -1),
                geo.sun_maps(sun_dir),
                geo.sun_maps(sun_dir_next),
                broadcast(cloud_cover, frame),
            ],
            dim=1,
        )  # (B, IN_CHANNELS, N, N)
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))  # (B, C_i, N / 2**i, N / 2**i)
        state = self.gru(torch.cat([skips.pop(), noise], dim=1), state)  # (B, S, n, n)
        h = state
        for up in self.up:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = up(torch.cat([h, skips.pop()], dim=1))
        out = self.head(h)  # (B, 5, N, N)
        flow = self.max_flow_px * torch.tanh(out[:, :2])
        # The residual is low-passed (the binomial filter removes the Nyquist band entirely): pixel
        # detail only ever comes from the warp, which copies it. A full-band residual learned to
        # sharpen its own input, and 100 steps on the frames were checkerboard noise.
        residual = F.conv2d(out[:, 2:], self.residual_blur, padding=1, groups=3)  # (B, 3, N, N)
        next_frame = warp(frame, flow) + residual
        return geo.apply_mask(clamp_passing_gradient(next_frame)), state


def clamp_passing_gradient(x: torch.Tensor) -> torch.Tensor:
    """Clamp to the encoding's [-1, 1]; while training the gradient passes through (straight-through).

    A plain clamp has zero gradient where it bites, so a rollout that drifted to white (+1) or
    black (-1) could not be pulled back by any loss: saturation became an absorbing state
    (measured: 10 000-step rollouts of an early model stuck at +-1 within 100 steps)."""
    clamped = x.clamp(-1.0, 1.0)
    if not x.requires_grad:  # inference and export: the clamp alone
        return clamped
    return x + (clamped - x).detach()
