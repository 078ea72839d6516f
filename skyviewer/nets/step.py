"""Model 2, the step: (cloud noise, motion, fresh noise, conditions) -> (next frame, cloud noise, motion).

The sky is carried as the white noise its cloud field is drawn from (nets/field.py; the start
model's second output), not as pixels, and the field is drawn from it and rendered afresh by
the shared `CloudRenderer` every step:

    wind'   = rho wind + sqrt(1 - rho^2) wind_px n          (first step: wind_px n)  a slowly veering wind
    shift   = round(phase + wind'), phase' = phase + wind' - shift                   whole pixels this step
    noise'  = sqrt(1 - e^2) shift(noise) + e xi             (xi where the shift brought pixels in)
    frame'  = CloudRenderer(CloudField(noise'), sun', cover)

xi is fresh white noise. wind_px (the wind's spread in pixels per step) and e (the share of
the noise renewed per step, as a standard deviation) are learned; rho is fixed (WIND_PERSISTENCE).

Why the state is the noise and not the field: white noise entering at the upwind edge is
exactly white noise -- no seam -- and the field convolved from it is one coherent Gaussian field
with the learned spectrum everywhere. A field carried as such would need new field at the edge
that continues the old one; drawn independently, every step's entering strip was its own
field, and within a crossing time (N / wind steps) the clouds were stripes.

Why it runs forever: the update is variance-preserving, so the noise is unit white noise and
the field the start's distribution, at step 10 000 as at step 1, and the renderer draws sharp,
lit clouds from any such field. The shift copies whole pixels (never blurs), and the sub-pixel
remainder is carried in the motion state, so slow winds still move at their exact mean speed
and all clouds move together (no tearing).

Measured before this design (cpu preset, docs/training.md): every model that carried the frame's
pixels from step to step and learned to correct them -- a residual decoder, a flow warp plus a
learned blend towards drawn clouds, learned fades -- turned its clouds to haze or noise within
10-50 steps: the rollout's L1 against one real future rewards fading, and every learned fade
went to its limit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from skyviewer.nets.blocks import warp
from skyviewer.nets.field import CloudSky

MOTION_CHANNELS = 5
"""The motion state: wind (x, y) and sub-pixel phase (x, y) in pixels per step / pixels, and a
flag that is 0 before the first step (the wind is drawn then) and 1 after."""
WIND_PERSISTENCE = 0.999
"""rho: the wind's correlation from one step to the next; it veers and changes speed over
~1000 steps (5.5 sky hours at 20 s steps), as weather does, instead of blowing one way forever."""
EVOLUTION_MAX = 0.3
"""Upper bound of e, the field's renewal per step (learned below it)."""


class StepModel(CloudSky):
    def __init__(
        self,
        resolution: int,
        field_channels: int,
        field_kernel_px: int,
        render_width: int,
        render_layers: int,
        wind_px: float,
        evolution: float,
    ):
        if not 0.0 < evolution < EVOLUTION_MAX:
            raise ValueError(f"evolution must be in (0, {EVOLUTION_MAX}), got {evolution}")
        super().__init__(resolution, field_channels, field_kernel_px, render_width, render_layers)
        self.log_wind_px = nn.Parameter(torch.tensor(math.log(wind_px)))
        self.evolution_logit = nn.Parameter(torch.logit(torch.tensor(evolution / EVOLUTION_MAX)))

    def noise_shape(self, batch: int) -> tuple[int, int, int, int]:
        """Fresh noise per step: the cloud noise's innovation (C channels, also what enters at the
        upwind edge), and one channel whose first two values draw the wind's change."""
        b, c, h, w = self.field.noise_shape(batch)
        return (b, c + 1, h, w)

    def initial_motion(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(batch, MOTION_CHANNELS, device=device)

    def evolution(self) -> torch.Tensor:
        return EVOLUTION_MAX * torch.sigmoid(self.evolution_logit)

    def forward(
        self,
        cloud_noise: torch.Tensor,
        motion: torch.Tensor,
        noise: torch.Tensor,
        sun_dir_next: torch.Tensor,
        cloud_cover: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """cloud_noise (B, C, K, K), K = N + k - 1, the white noise of the current clouds' field;
        motion (B, MOTION_CHANNELS); noise (B, C + 1, K, K) ~ N(0, 1); sun_dir_next (B, 3) at the
        next frame's time; cloud_cover (B, 1). Returns the next frame (B, 3, N, N) encoded, the
        next cloud noise and the next motion."""
        c = self.field.channels
        motion, shift = self.next_motion(motion, noise[:, c, 0, :2])
        shifted, inside = self.shift(cloud_noise, shift)
        e, fresh = self.evolution(), noise[:, :c]
        next_noise = inside * (1 - e * e).sqrt() * shifted + (inside * e + 1 - inside) * fresh
        return self.render(next_noise, sun_dir_next, cloud_cover), next_noise, motion

    def next_motion(self, motion: torch.Tensor, draw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The motion state after one step, and this step's shift (B, 2) in whole pixels; `draw`
        (B, 2) ~ N(0, 1) moves the wind. The shift's value is whole pixels; while training its
        gradient is the wind's (straight-through), so the critics can teach the wind's speed."""
        wind, phase, started = motion[:, :2], motion[:, 2:4], motion[:, 4:]
        rho = WIND_PERSISTENCE * started  # 0 at the first step: the wind is drawn from its spread
        wind = rho * wind + (1 - rho * rho).sqrt() * self.log_wind_px.exp() * draw
        total = phase + wind
        whole = torch.floor(total + 0.5)
        shift = total + (whole - total).detach()
        return torch.cat([wind, total - whole, torch.ones_like(started)], dim=1), shift

    @staticmethod
    def shift(field: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The field (B, C, H, W) moved by shift (B, 2) = (dx, dy) whole pixels, and a mask (B, 1, H, W)
        of where the moved field lies (1) and where it came from beyond the square (0)."""
        b, _, h, w = field.shape
        flow = -shift[:, :, None, None].expand(b, 2, h, w)  # warp() samples backwards
        ys = torch.arange(h, dtype=field.dtype, device=field.device).view(1, h, 1)
        xs = torch.arange(w, dtype=field.dtype, device=field.device).view(1, 1, w)
        x, y = xs - shift[:, 0, None, None].detach(), ys - shift[:, 1, None, None].detach()  # (B, H, W)
        # Whole-pixel source coordinates, so each factor is 1 inside [0, size - 1] and 0 outside;
        # written with Clip, not comparisons, as the fp16 converter mistypes Cast-from-bool.
        inside = (x + 1).clamp(0, 1) * (w - x).clamp(0, 1) * (y + 1).clamp(0, 1) * (h - y).clamp(0, 1)
        return warp(field, flow), inside[:, None]
