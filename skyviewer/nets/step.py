"""Model 2, the step: (last frame, recurrent state, fresh noise, conditions) -> (next frame, next state).

An encoder reads the last frame with the sky geometry and the sun at both the current and
the next frame time (so it knows how far the sun moves this step) down to a bottleneck; a
ConvGRU there (the LSTM idea made convolutional) carries what a single frame cannot show
(where clouds are heading, how they are growing); fresh noise at the bottleneck lets each
rollout take its own path instead of averaging to a blur.

The next frame is the sky the decoder draws plus the last frame's deviation from it, carried
along the flow and faded:
    sky  = tanh(decoder(state, geometry, sun_next, cover))     the drawn sky, a smooth field
    next = sky + fade(warp(frame - sky, flow))                 clouds carried, whole pixels copied
    next = composite_sun(clamp(next), sun_next)                the solar disc behind a learned gate
so clouds move with the flow while the sky's gradient and glow stay where the sun puts them,
and sky entering from the horizon is the drawn sky (the deviation is 0 below the horizon), not
smeared rim pixels. No rollout can blow up, whatever the weights: the fade's gain lies in
[0, 1] at every frequency (see COARSE_KERNEL_TAPS), the warp copies pixels (never blurs,
never sharpens), the result is clamped to the encoding's [-1, 1], and the decoder sees the
frame only through the bottleneck (N / 2**levels), so no path leads from a frame's fine
detail into the next frame except the copy.

Measured on the way here (cpu preset): a residual decoded with full-resolution skips,
`next = clamp(warp(frame, flow) + residual)`, learned to sharpen its own input, and 100 steps
on the frames were rainbow noise; warping the whole frame moved the sky's gradient with the
clouds and dragged rim pixels in as streaks.

The flow starts at zero and the fades at GATE_INIT: an untrained model almost repeats its
input, so early rollouts are stable and training adds the motion. The state starts as zeros
(`initial_state`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import ConvGRU, SkyGeometry, broadcast, channels_at, conv_act, init_weights, warp

IN_CHANNELS = 3 + 3 + 2 + 2 + 1  # frame, view directions, sun maps now and next, cloud cover
MAP_CHANNELS = 3 + 2 + 1  # decoder conditions: view directions, sun maps at the next time, cloud cover
GATE_INIT = 0.02
"""Fade per step of both bands at initialisation."""
DETAIL_GATE_MAX = 0.05
"""Largest fade of the fine detail in one step. With one fade for all frequencies, training
found it cheaper to fix colours (and fake motion) by cross-fading a quarter of every frame
towards the smooth drawn sky than to move the clouds (measured: 0.26 after 500 steps, clouds
gone within 8 steps); capped at 0.15 it sat at the cap, blurring. Real clouds change little in
one step, so a small cap costs nothing and keeps the copied detail alive; the coarse band
(colours, where clouds are) fades freely."""
COARSE_KERNEL_TAPS = 9
"""Binomial low-pass splitting the fade into coarse and detail bands (periods above ~8 px are
coarse). Its frequency response H = cos^8(pi f) is never negative, so the fade's gain
1 - g_coarse H - g_detail (1 - H) lies in [0, 1] at every frequency: nothing is amplified."""


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
        self.motion = nn.Conv2d(state_channels, 4, 3, padding=1)  # flow (2) + gate logits (coarse, detail)
        ups, c = [], state_channels
        for i in reversed(range(levels)):  # coarse to fine; conditions, not the frame, at each level
            ups.append(conv_act(c + MAP_CHANNELS, widths[i], norm=True))
            c = widths[i]
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(c + MAP_CHANNELS, 4, 3, padding=1)  # target colour (3) + sun gate logit (1)
        init_weights(self)
        for conv in (self.motion, self.head):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        with torch.no_grad():
            self.motion.bias[2] = torch.logit(torch.tensor(GATE_INIT))
            self.motion.bias[3] = torch.logit(torch.tensor(GATE_INIT / DETAIL_GATE_MAX))
        taps = torch.tensor(
            [math.comb(COARSE_KERNEL_TAPS - 1, k) for k in range(COARSE_KERNEL_TAPS)], dtype=torch.float32
        )
        kernel = taps[:, None] * taps[None, :] / taps.sum() ** 2
        self.register_buffer("coarse_kernel", kernel.expand(3, 1, -1, -1).contiguous(), persistent=False)

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
        with_sky: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """frame (B, 3, N, N) encoded; state (B, S, n, n); noise (B, Z, n, n) ~ N(0, 1);
        sun_dir, sun_dir_next (B, 3) at this and the next frame's time; cloud_cover (B, 1).
        Returns next frame (B, 3, N, N) and next state (B, S, n, n), n = N / 2**levels, and
        with_sky (training) the drawn sky (B, 3, N, N) as a third output."""
        geo = self.geometry
        cover = broadcast(cloud_cover, frame)
        x = torch.cat(
            [
                frame,
                geo.dirs.expand(frame.shape[0], -1, -1, -1),
                geo.sun_maps(sun_dir),
                geo.sun_maps(sun_dir_next),
                cover,
            ],
            dim=1,
        )  # (B, IN_CHANNELS, N, N)
        h = self.stem(x)
        for down in self.down:
            h = down(h)  # (B, C_i, N / 2**i, N / 2**i)
        state = self.gru(torch.cat([h, noise], dim=1), state)  # (B, S, n, n)
        maps = torch.cat([geo.maps(sun_dir_next), cover], dim=1)  # (B, MAP_CHANNELS, N, N)
        h = state
        for i, up in enumerate(self.up):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = up(torch.cat([h, F.avg_pool2d(maps, 2 ** (self.levels - 1 - i))], dim=1))
        out = self.head(torch.cat([h, maps], dim=1))  # (B, 4, N, N)
        sky = geo.apply_mask(torch.tanh(out[:, :3]))  # the drawn sky, -1 below the horizon
        flow, offset, gates = self.motion_fields(state, noise)
        carried = self.fade(warp(frame - sky, flow, offset), gates)
        next_frame = geo.composite_sun((sky + carried).clamp(-1.0, 1.0), sun_dir_next, out[:, 3:])
        next_frame = geo.apply_mask(next_frame)
        return (next_frame, state, sky) if with_sky else (next_frame, state)

    def motion_fields(self, state: torch.Tensor, noise: torch.Tensor) -> tuple:
        """Flow (B, 2, N, N) in pixels, the warp's shared sub-pixel offset (B, 2) and the fade
        gates (B, 2, N, N: coarse, detail), decoded from the state at the bottleneck and
        upsampled bilinearly (smooth fields: the copied texture does not tear)."""
        coarse = F.interpolate(self.motion(state), scale_factor=float(2**self.levels), mode="bilinear")
        flow = self.max_flow_px * torch.tanh(coarse[:, :2])
        # Uniform in [-0.5, 0.5) per axis, from two of this step's noise values (sigmoid(1.702 z)
        # is the normal CDF within 0.01).
        offset = torch.sigmoid(1.702 * noise[:, 0, 0, :2]) - 0.5
        gates = torch.sigmoid(coarse[:, 2:]) * torch.tensor([1.0, DETAIL_GATE_MAX]).view(1, 2, 1, 1)
        return flow, offset, gates

    def fade(self, deviation: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """deviation * (1 - g_coarse H - g_detail (1 - H)), H the binomial low-pass: the coarse
        band (where clouds are, their colour) fades as far as g_coarse says, the fine detail at
        most by DETAIL_GATE_MAX per step. (B, 3, N, N), gates (B, 2, N, N)."""
        # Zero padding is exact: below the horizon the deviation is 0 (both sides are -1).
        coarse = F.conv2d(deviation, self.coarse_kernel, padding=COARSE_KERNEL_TAPS // 2, groups=3)
        g_coarse, g_detail = gates[:, :1], gates[:, 1:]
        return (1.0 - g_detail) * deviation - (g_coarse - g_detail) * coarse
