"""Model 2, the step: (last frame, recurrent state, fresh noise, conditions) -> (next frame, next state).

An encoder reads the last frame with the sky geometry and the sun at both the current and
the next frame time (so it knows how far the sun moves this step) down to a bottleneck; a
ConvGRU there (the LSTM idea made convolutional) carries what a single frame cannot show
(where clouds are heading, how they are growing); fresh noise at the bottleneck lets each
rollout take its own path instead of averaging to a blur.

The next frame is built so that no rollout can blow up, whatever the weights:
    moved = warp(frame, flow)                  clouds carried along, whole pixels copied
    next  = moved + gate * (target - moved)    a convex blend towards a freshly drawn sky
    next  = composite_sun(next, sun_next)      the solar disc behind a learned gate
Every term stays inside the encoding's [-1, 1]. The warp copies pixels (never blurs, never
sharpens); the target is drawn by a decoder that sees the frame only through the bottleneck
(N / 2**levels) and the full-resolution geometry and sun maps, so no path leads from a
frame's fine detail back into the next frame except the copy. An earlier design added a
residual decoded with full-resolution skips: it learned to sharpen its own input and 100
steps on the frames were rainbow noise. Flow and gate come from the bottleneck, upsampled
smoothly, so the copied texture does not tear and the blend leaves no seams.

The flow starts at zero and the gate nearly closed (GATE_INIT): an untrained model almost
repeats its input, so early rollouts are stable and training adds the motion. The state
starts as zeros (`initial_state`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import ConvGRU, SkyGeometry, broadcast, channels_at, conv_act, init_weights, warp

IN_CHANNELS = 3 + 3 + 2 + 2 + 1  # frame, view directions, sun maps now and next, cloud cover
MAP_CHANNELS = 3 + 2 + 1  # decoder conditions: view directions, sun maps at the next time, cloud cover
GATE_INIT = 0.02
"""Share of the drawn target in the next frame at initialisation (the gate's bias is its logit)."""


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
        self.motion = nn.Conv2d(state_channels, 3, 3, padding=1)  # flow (2) + gate logit (1), coarse
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
        moved, gate = self.move(frame, state, noise)
        maps = torch.cat([geo.maps(sun_dir_next), cover], dim=1)  # (B, MAP_CHANNELS, N, N)
        h = state
        for i, up in enumerate(self.up):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = up(torch.cat([h, F.avg_pool2d(maps, 2 ** (self.levels - 1 - i))], dim=1))
        out = self.head(torch.cat([h, maps], dim=1))  # (B, 4, N, N)
        sky = moved + gate * (torch.tanh(out[:, :3]) - moved)
        return geo.apply_mask(geo.composite_sun(sky, sun_dir_next, out[:, 3:])), state

    def move(self, frame: torch.Tensor, state: torch.Tensor, noise: torch.Tensor) -> tuple:
        """The frame carried along the flow and the blend gate, both decoded from the state at the
        bottleneck and upsampled bilinearly (smooth fields). Returns (B, 3, N, N), (B, 1, N, N)."""
        coarse = F.interpolate(self.motion(state), scale_factor=float(2**self.levels), mode="bilinear")
        flow = self.max_flow_px * torch.tanh(coarse[:, :2])  # (B, 2, N, N) pixels
        # The warp's shared sub-pixel offset, uniform in [-0.5, 0.5) per axis, from two of this
        # step's noise values (sigmoid(1.702 z) is the normal CDF within 0.01).
        offset = torch.sigmoid(1.702 * noise[:, 0, 0, :2]) - 0.5  # (B, 2)
        return warp(frame, flow, offset), torch.sigmoid(coarse[:, 2:])
