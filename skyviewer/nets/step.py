"""Model 2, the step: (last frame, recurrent state, fresh noise, conditions) -> (next frame, next state).

An encoder reads the last frame with the sky geometry and the sun at both the current and
the next frame time (so it knows how far the sun moves this step) down to a bottleneck; a
ConvGRU there (the LSTM idea made convolutional) carries what a single frame cannot show
(where clouds are heading, how they are growing); fresh noise at the bottleneck lets each
rollout take its own path instead of averaging to a blur.

The frame is split into the background the conditions alone decide (`SkyBackground`: the
gradient, the sun's glow, the dusk) and the clouds' deviation from it. The deviation is
carried along the flow and faded, and blended a little towards clouds the decoder draws from
the state:
    carried = fade(warp(frame - bg(sun), flow))                     clouds carried, whole pixels copied
    next    = bg(sun_next) + carried + g_new (drawn - bg(sun_next) - carried)
    next    = composite_sun(clamp(next), sun_next)                  the solar disc behind a learned gate
so clouds move with the flow while the sky's gradient and glow stay where the sun puts them,
new clouds come from the drawn field where the state opens g_new (the upwind horizon, where
clear sky would otherwise flow in), and sky entering from below the horizon is background
(the deviation is 0 there), not smeared rim pixels.

No rollout can blow up, whatever the weights: the fade's gain lies in [0, 1] at every
frequency (see COARSE_KERNEL_TAPS), the warp copies pixels (never blurs, never sharpens), the
blend is convex, the result is clamped to the encoding's [-1, 1], and the decoder sees the
frame only through the bottleneck (N / 2**levels), so no path leads from a frame's fine detail
into the next frame except the copy. And nothing accumulates: the background depends on the
conditions only, so the deviation taken against it is the frame's own, every step.

Measured on the way here (cpu preset, docs/training.md): a residual decoded with full-resolution
skips learned to sharpen its own input (rainbow noise within 100 steps); warping the whole frame
moved the sky's gradient with the clouds and dragged rim pixels in as streaks; a background
drawn from the state changed every step, and each change stayed in the carried deviation for
good (black and white blotches within 10 steps).

The flow starts at zero and the blend small: an untrained model almost repeats its input, so
early rollouts are stable and training adds the motion. The state starts as zeros
(`initial_state`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import (
    ConvGRU,
    SkyBackground,
    SkyGeometry,
    broadcast,
    channels_at,
    conv_act,
    init_weights,
    warp,
)

IN_CHANNELS = 3 + 3 + 2 + 2 + 1  # frame, view directions, sun maps now and next, cloud cover
MAP_CHANNELS = 3 + 2 + 1  # decoder conditions: view directions, sun maps at the next time, cloud cover
CLOUD_FADE = 0.01
"""Fade of the carried clouds' coarse band per step, a constant: a cloud left alone dissolves
with a half-life of ~70 steps (23 sky minutes at 20 s), fine detail is never faded.

Why not learned: the rollout's L1 against one real future rewards the mean of all futures, and
fading is the cheapest way to it. Every learned fade was pushed as far as it could go (cpu
preset, measured): one blend gate went to 0.26 (clouds gone within 8 steps), capped at 0.15 it
sat at the cap; learned coarse and detail fades went to 0.2 and to their caps (0.05, 0.02),
and the clouds were gone within 10 steps. SkySim clouds change little in one 20 s step."""
NEW_GATE_MAX = 0.03
"""Largest blend towards the drawn clouds in one step (learned below it): new clouds build up
over >= 30 steps, and the carried detail is never traded wholesale for the smoother drawn field."""
NEW_GATE_INIT = 0.01
"""Blend towards the drawn clouds at initialisation."""
COARSE_KERNEL_TAPS = 9
"""Binomial low-pass picking the coarse band the fade acts on (periods above ~8 px). Its
frequency response H = cos^8(pi f) is never negative, so the fade's gain 1 - CLOUD_FADE H lies
in [0, 1] at every frequency: nothing is amplified."""


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
        self.background = SkyBackground(self.geometry)
        self.motion = nn.Conv2d(state_channels, 3, 3, padding=1)  # flow (2) + the new clouds' gate logit
        ups, c = [], state_channels
        for i in reversed(range(levels)):  # coarse to fine; conditions, not the frame, at each level
            ups.append(conv_act(c + MAP_CHANNELS, widths[i], norm=True))
            c = widths[i]
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(c + MAP_CHANNELS, 4, 3, padding=1)  # drawn colour (3) + sun gate logit (1)
        init_weights(self.stem, self.down, self.gru, self.up)
        for conv in (self.motion, self.head):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        with torch.no_grad():
            self.motion.bias[2] = torch.logit(torch.tensor(NEW_GATE_INIT / NEW_GATE_MAX))
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
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """frame (B, 3, N, N) encoded; state (B, S, n, n); noise (B, Z, n, n) ~ N(0, 1);
        sun_dir, sun_dir_next (B, 3) at this and the next frame's time; cloud_cover (B, 1).
        Returns next frame (B, 3, N, N) and next state (B, S, n, n), n = N / 2**levels."""
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
        drawn = geo.apply_mask(torch.tanh(out[:, :3]))  # clouds and all, -1 below the horizon
        # The background learns from its own L1 only (train.gan.background_loss). Through the step
        # it gets no gradient: the rollout losses pushed it off to the clamp (L1 1.2 after 100 steps),
        # where fading towards it was a cheap way to move colours, as the drawn sky did before.
        background = self.background(sun_dir, cloud_cover).detach()
        background_next = self.background(sun_dir_next, cloud_cover).detach()
        flow, offset, new = self.motion_fields(state, noise)
        carried = self.fade(warp(frame - background, flow, offset))
        deviation = carried + new * (drawn - background_next - carried)
        next_frame = (background_next + deviation).clamp(-1.0, 1.0)
        next_frame = geo.apply_mask(geo.composite_sun(next_frame, sun_dir_next, out[:, 3:]))
        return next_frame, state

    def motion_fields(self, state: torch.Tensor, noise: torch.Tensor) -> tuple:
        """Flow (B, 2, N, N) in pixels, the warp's shared sub-pixel offset (B, 2) and the blend
        towards the drawn clouds (B, 1, N, N), decoded from the state at the bottleneck and
        upsampled bilinearly (smooth fields: the copied texture does not tear)."""
        coarse = F.interpolate(self.motion(state), scale_factor=float(2**self.levels), mode="bilinear")
        flow = self.max_flow_px * torch.tanh(coarse[:, :2])
        # Uniform in [-0.5, 0.5) per axis, from two of this step's noise values (sigmoid(1.702 z)
        # is the normal CDF within 0.01).
        offset = torch.sigmoid(1.702 * noise[:, 0, 0, :2]) - 0.5
        return flow, offset, NEW_GATE_MAX * torch.sigmoid(coarse[:, 2:])

    def fade(self, deviation: torch.Tensor) -> torch.Tensor:
        """deviation - CLOUD_FADE * lowpass(deviation), (B, 3, N, N): the coarse band fades, the
        fine detail stays."""
        # Zero padding is exact: below the horizon the deviation is 0 (both sides are -1).
        coarse = F.conv2d(deviation, self.coarse_kernel, padding=COARSE_KERNEL_TAPS // 2, groups=3)
        return deviation - CLOUD_FADE * coarse
