"""LayerSky: clouds on layers at altitude, a small recurrent state, decoded at any resolution.

The state lives where clouds do: per cloud layer (cumulus, cirrus) two white-noise grids
over a periodic tile of the layer plane (metres east/north), the phase of the cross-fade
between them, and how far the wind has carried the layer. Everything a viewer sees is
decoded from that state per pixel, at whatever resolution the host asks for:

    field_l  = K_l * (cos(pi p / 2) A_l + sin(pi p / 2) B_l)     learned spectrum, unit variance
    (x, y)   = where the pixel's view ray meets layer l           spherical shell at altitude h_l
    h        = field_c(x, y) + gain(footprint) detail(x, y)      learned detail texture, moves
                                                                 with the layer, fades with distance
    alpha    = sigmoid(s (h - t(cover))) exp(-d / L)             cumulus opacity at full resolution, faded
                                                                 by haze over the ray's distance d (learned L)
    colour   = shading MLP at 1/8 resolution (geometry, sun,     lit sides, dark bases, cirrus
               conditions, the fields and the field towards the   (faded by the same haze), the
               sun), upsampled                                    clear sky behind
    core     = a exp(k (cos(angle to the sun) - 1))            circumsolar core, per pixel (learned a, k)
    sky      = tanh(base + alpha (A + B tanh(relu(h - t))) + (1 - alpha) core)

Because the layer is projected inside the model, clouds near the horizon are smaller and
slower than overhead by construction (perspective), and they flatten radially. The step
is exact arithmetic, no network: the offset moves with the wind, the phase advances and,
when it wraps, A <- B and B <- fresh noise; the cross-fade keeps every field value unit
variance, so a rollout is stationary for any length (docs/training.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skyviewer.nets.blocks import LRELU_SLOPE, SkyBackground, SkyGeometry, init_weights
from skyviewer.nets.field import COVER_LIMIT, LOGISTIC_PROBIT
from skyviewer.sky.solar import ASTRONOMICAL_NIGHT_DEG

EARTH_RADIUS_M = 6.371e6
LAYERS = ("cumulus", "cirrus")
SHADING_FACTOR = 8
"""The shading maps are computed at 1/8 of the output resolution and upsampled (bilinear)."""
SHADING_HIDDEN = 32
"""Width of the shading MLP."""
SHADING_OUTPUTS = 5
"""Per shading pixel: cumulus brightness and saturation over the background, brightness change with
thickness (dark bases), cirrus brightness, cirrus opacity logit. Scalars, not free RGB: clouds take
their hue from the sky behind them and the light (a free RGB offset per pixel let the GAN tint whole
skies magenta and green, docs/training.md)."""
SHADING_INPUTS = 16
"""geometry (dir 3, cos to sun, glow, slant) + conditions (sun 3, cover, cirrus cover)
+ cumulus field (2) + cumulus field towards the sun + cirrus field (2)."""


@dataclass(frozen=True)
class Spectrum:
    """A power-law band of a Gaussian random field: power ~ k^-slope between two wavelengths (m),
    features `stretch` times longer east-west than north-south."""

    longest_m: float
    shortest_m: float
    slope: float
    stretch: float = 1.0


# Where training starts: the spectra of SkySim's layers (data/skysim/layers.py), so the first
# skies already have its cloud sizes and the losses refine shapes, edges and light. From noise
# at one scale (a 9-cell Gaussian) neither critics nor texture losses found the 2.5-5 km cells.
CUMULUS_SPECTRUM = Spectrum(5000.0, 312.0, 3.0)
CUMULUS_DETAIL_SPECTRUM = Spectrum(1250.0, 78.0, 2.6)
CIRRUS_SPECTRUM = Spectrum(20_000.0, 625.0, 1.6, stretch=4.0)
HAZE_INIT_M = 15_000.0
"""Distance over which haze hides the cumulus, where training starts: SkySim's at turbidity 3
(aerosol and Rayleigh extinction below the layer: 30 km at turbidity 1.8, 6.6 km at 6). Without it
the layer ran on at full contrast to the horizon, 100+ km away, and combed a band above it."""
CLOUD_INIT_BRIGHTER = 0.2
"""Initial cumulus colour over the background (encoded logits): white clouds (~+2 stops)."""
CIRRUS_LOGIT_OFFSET = 4.0
"""The cirrus opacity is sigmoid(output - 4): ~2 % where the shading says nothing."""
FIELD_CHANNELS = 2
"""Field channels per layer: channel 0 shapes the clouds, channel 1 varies their light."""
SUN_CORE_INIT = (1.0, 1000.0)
"""Where training starts for the circumsolar core A exp(k (cos - 1)) added to the sky's logits at
full resolution: amplitude A, sharpness k (e-folding at ~2.6 deg). SkySim's frames keep the sun and
its inner aureole near the encoding's clamp; from the 1/8 shading grid alone the model's brightest
pixels missed the sun by ~3 deg (a grid cell is 5.6 deg at 256 px) and sat ~0.3 stops low."""
BELOW_HORIZON_LOGIT = 1000.0
"""Subtracted from the logits below the horizon: tanh is -1.0 exactly there (float32 rounds it to -1
from -9.1), whatever the sky's logits (a few units) were."""
SUN_CORE_RISE_DEG = 1.0
"""The core fades in as the sun's centre rises from this far below the horizon to it."""


@dataclass(frozen=True)
class LayerSpec:
    """Geometry and timing of one cloud layer (SkySim's values: data/skysim/config.py)."""

    altitude_m: float
    cell_m: float
    """Side of one state-grid cell on the layer plane."""
    lifetime_s: float
    """Cross-fade period: a noise grid lives for two of these (SkySim's cloud_lifetime_s / 2)."""
    wind_scale: float
    """Layer wind as a multiple of the wind condition (cumulus 1; cirrus 2, as in SkySim)."""


CLEAR_SKY_PROBIT = 10.0
"""Threshold (field sigmas) added as a layer's cover goes from COVER_LIMIT down to 0: the
quantile map stops at COVER_LIMIT (a finite probit, ~2 % of the field still above it at the
learned scale), so without it a clear sky asked for kept a few clouds. 10 sigmas leave none,
even where the horizon's footprint softens the mask; at COVER_LIMIT and above nothing changes."""
CIRRUS_MASK_INIT_SHARPNESS = 4.0
"""Initial slope of the cirrus mask per field sigma: a soft-edged veil (the cumulus starts at 12)."""
CUMULUS = LayerSpec(altitude_m=1500.0, cell_m=400.0, lifetime_s=450.0, wind_scale=1.0)
CIRRUS = LayerSpec(altitude_m=9000.0, cell_m=1500.0, lifetime_s=900.0, wind_scale=2.0)
SPECS = (CUMULUS, CIRRUS)


def layer_hit(dirs: torch.Tensor, altitude_m: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(east_m, north_m, distance_m) where view rays dirs (..., 3, P) meet a spherical shell at
    altitude_m; rays at or below the horizon are clamped to it. The distance uses the form
    without cancellation: t = (2Rh + h^2) / (R mu + sqrt(R^2 mu^2 + 2Rh + h^2))."""
    r, h = EARTH_RADIUS_M, altitude_m
    mu = dirs[..., 1, :].clamp(0.0, 1.0)
    c = 2.0 * r * h + h * h
    t = c / (r * mu + torch.sqrt((r * mu) ** 2 + c))
    return dirs[..., 0, :] * t, -dirs[..., 2, :] * t, t


def bilinear_periodic(
    grid: torch.Tensor, u: torch.Tensor, v: torch.Tensor, shift_u: torch.Tensor, shift_v: torch.Tensor
) -> torch.Tensor:
    """Sample grid (B, C, G, G), periodic, at texel coordinates (u - shift_u, v - shift_v): (B, C, P).
    u, v (1 or B, P) are where the pixels' rays meet the layer, shift_u, shift_v (B, 1) how far the
    layer has moved, in texels. Written with floor and GatherElements (ONNX opset 11; GridSample needs
    16), and split so that the exported decoder's per-pixel work is small: u, v there depend on
    the pixel alone, so ONNX Runtime folds their whole and fractional parts at load; the shift's
    whole part rolls the small grid instead, and per pixel only a borrow remains."""
    b, c, g, _ = grid.shape
    u, v = u[:, None], v[:, None]  # (1 or B, 1, P)
    u_whole, v_whole = torch.floor(u), torch.floor(v)
    u_frac, v_frac = u - u_whole, v - v_whole  # [0, 1), per pixel
    su_whole, sv_whole = torch.floor(shift_u), torch.floor(shift_v)  # (B, 1)
    su_frac, sv_frac = (shift_u - su_whole)[:, :, None], (shift_v - sv_whole)[:, :, None]
    # The grid rolled by the shift's whole part, with one wrapped row and column on each side: the
    # tap at whole - borrow (-1 at the least) and its +1 neighbours need no wrap of their own.
    rows = _wrapped(g, sv_whole)  # (B, G + 2): row k + 1 of the rolled grid reads this row of grid
    cols = _wrapped(g, su_whole)
    rolled = grid.gather(2, rows[:, None, :, None].expand(b, c, g + 2, g))
    rolled = rolled.gather(3, cols[:, None, None, :].expand(b, c, g + 2, g + 2))
    w = g + 2
    flat = rolled.reshape(b, c, w * w)
    # Per pixel: the sample lies one texel back (back = -1) where the pixel's fraction is below the
    # shift's. A floor, not a comparison and a cast: two fewer full-resolution ops per axis.
    du, dv = u_frac - su_frac, v_frac - sv_frac  # (B, 1, P) in (-1, 1)
    u_back, v_back = torch.floor(du), torch.floor(dv)
    fu, fv = du - u_back, dv - v_back  # in [0, 1)
    u_index = torch.remainder(u_whole, g) + 1.0 + u_back
    v_index = torch.remainder(v_whole, g) + 1.0 + v_back
    index = (v_index * w + u_index).long().expand(b, c, -1)
    size = w * w - w - 1  # every index + its (row, column) offset stays inside

    def tap(offset: int) -> torch.Tensor:  # the grid pre-shifted by offset: no per-pixel add
        return flat[:, :, offset : offset + size].gather(2, index)

    v0u0, v0u1, v1u0, v1u1 = tap(0), tap(1), tap(w), tap(w + 1)
    top = v0u0 + fu * (v0u1 - v0u0)
    bottom = v1u0 + fu * (v1u1 - v1u0)
    return top + fv * (bottom - top)


def _wrapped(g: int, shift_whole: torch.Tensor) -> torch.Tensor:
    """Source indices (B, g + 2) of rows -1 .. g of a periodic axis of g cells rolled by shift_whole
    (B, 1) whole cells: row k of the rolled axis is row (k - shift) mod g of the original."""
    k = torch.arange(-1, g + 1, device=shift_whole.device, dtype=shift_whole.dtype)
    return torch.remainder(k[None, :] - shift_whole, g).long()


class LayerSkyNet(nn.Module):
    """The learned parts and the decoder. State (per batch element):

    noise_a, noise_b  (B, 2 * FIELD_CHANNELS, G, G)  white noise, cumulus channels first
    motion            (B, 6)  per layer: offset east, offset north (fractions of its tile), fade phase,
                              all in [0, 1): tile fractions keep float32 exact to ~1e-7 of a tile forever
    """

    def __init__(self, grid: int, kernel_px: int, detail_px: int, detail_period_m: float):
        super().__init__()
        self.grid, self.kernel_px = grid, kernel_px
        self.detail_period_m = detail_period_m
        kernels = [
            spectral_kernel(grid, kernel_px, spec.cell_m, spectrum)
            for spec, spectrum in ((CUMULUS, CUMULUS_SPECTRUM), (CIRRUS, CIRRUS_SPECTRUM))
        ]
        self.kernel = nn.Parameter(torch.cat([k.expand(FIELD_CHANNELS, 1, -1, -1) for k in kernels]).clone())
        # SkySim's detail: billowed (|noise|, zero mean) noise that erodes the cells' edges, at half
        # the base field's amplitude.
        billows = spectral_noise(detail_px, detail_period_m, CUMULUS_DETAIL_SPECTRUM).abs()
        self.detail = nn.Parameter((billows - billows.mean()) / billows.std())
        self.detail_gain = nn.Parameter(torch.tensor(0.5 * math.sqrt(1.0 - 2.0 / math.pi)))
        self.cover_affine = nn.Parameter(torch.tensor([1.0, 0.0]))  # threshold scale, offset
        # SkySim's cumulus is opaque ~0.2 std above its threshold (optical depth ~30 at the core).
        # Its log: Adam moves parameters by ~lr per step, and this one ranges over 1-100.
        self.log_sharpness = nn.Parameter(torch.tensor(math.log(12.0)))
        self.log_haze_m = nn.Parameter(torch.tensor(math.log(HAZE_INIT_M)))
        self.log_sun_core = nn.Parameter(torch.tensor(SUN_CORE_INIT).log())
        # The cirrus mask: threshold scale and offset on its cover's quantile, log sharpness.
        self.cirrus_mask = nn.Parameter(torch.tensor([1.0, 0.0, math.log(CIRRUS_MASK_INIT_SHARPNESS)]))
        self.shading = nn.Sequential(
            nn.Conv1d(SHADING_INPUTS, SHADING_HIDDEN, 1),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv1d(SHADING_HIDDEN, SHADING_HIDDEN, 1),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv1d(SHADING_HIDDEN, SHADING_OUTPUTS, 1),
        )
        init_weights(self.shading)
        nn.init.zeros_(self.shading[-1].weight)
        # Start from white clouds with darker thick cores over the background, and almost no cirrus:
        # from zero the GAN spent 1,000+ steps tinting the whole sky through the cirrus instead.
        with torch.no_grad():
            self.shading[-1].bias[0] = CLOUD_INIT_BRIGHTER
            self.shading[-1].bias[2] = -CLOUD_INIT_BRIGHTER
        # The background is SkyBackground's MLP, applied to direction lists (it is per pixel).
        self.background = SkyBackground(SkyGeometry(8))
        self._direction_maps: dict[int, torch.Tensor] = {}

    def directions(
        self, origins: list[tuple[int, int]], size: int, resolution: int, indices: dict | None = None
    ) -> torch.Tensor:
        """View directions (1 or B, 3, size * size) of square pixel blocks at origins (row, col) of a
        `resolution` px fisheye (origins may be -1: the shading margin). Training decodes thousands of
        patches: it slices them from a per-resolution map made once. The exported decoder computes
        its one whole-frame block from `indices` (resolution -> pixel indices, see SkyDecode) in the
        graph: a map would be MBs of constants; ONNX Runtime folds the arithmetic at load instead."""
        if indices is not None:  # the whole frame, from the decoder's index buffers (see SkyDecode)
            return pixel_dirs(indices[resolution], indices[resolution], resolution)
        if resolution not in self._direction_maps:  # indices -1 .. resolution: the shading margin
            every = torch.arange(-1, resolution + 1, dtype=torch.float32)
            grid = pixel_dirs(every, every, resolution).reshape(3, resolution + 2, resolution + 2)
            self._direction_maps[resolution] = grid.to(self.kernel.device)
        grid = self._direction_maps[resolution]
        if any(
            not (-1 <= r and r + size <= resolution + 1 and -1 <= c and c + size <= resolution + 1)
            for r, c in origins
        ):
            raise ValueError(f"pixel blocks {origins} of {size} px leave the {resolution} px frame")
        blocks = [grid[:, r + 1 : r + 1 + size, c + 1 : c + 1 + size].reshape(3, -1) for r, c in origins]
        return torch.stack(blocks)

    # ------------------------------------------------------------ state

    def state_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        noise = (batch, 2 * FIELD_CHANNELS, self.grid, self.grid)
        return {"noise_a": noise, "noise_b": noise, "motion": (batch, 3 * len(SPECS))}

    def fields(self, noise_a: torch.Tensor, noise_b: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """Unit-variance periodic fields (B, 2 * FIELD_CHANNELS, G, G) at the state's phases."""
        phase = motion[:, 2::3]  # (B, L)
        angle = (0.5 * math.pi * phase).repeat_interleave(FIELD_CHANNELS, dim=1)[:, :, None, None]
        mixed = torch.cos(angle) * noise_a + torch.sin(angle) * noise_b
        p = self.kernel_px // 2
        padded = F.pad(mixed, (p, p, p, p), mode="circular")
        norm = self.kernel.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        return F.conv2d(padded, self.kernel / norm, groups=2 * FIELD_CHANNELS)

    def step(self, noise_a, noise_b, motion, fresh, wind_mps, step_seconds: float):
        """Exact next state. wind_mps (B, 2): east, north velocity of the cumulus layer's air."""
        moves, carry = [], []
        for i, spec in enumerate(SPECS):
            travel = wind_mps * (spec.wind_scale * step_seconds / net_tile(self, spec))  # (B, 2) tiles
            offset = torch.remainder(motion[:, 3 * i : 3 * i + 2] + travel, 1.0)
            phase = motion[:, 3 * i + 2 : 3 * i + 3] + step_seconds / spec.lifetime_s
            wrapped = (phase >= 1.0).float()  # (B, 1)
            moves.append(torch.cat([offset, phase - wrapped], dim=1))
            carry.append(wrapped.expand(-1, FIELD_CHANNELS))
        w = torch.cat(carry, dim=1)[:, :, None, None]  # (B, 2C, 1, 1): 1 where a layer's fade wrapped
        wrapped = w > 0.5
        return (
            torch.where(wrapped, noise_b, noise_a),
            torch.where(wrapped, fresh, noise_b),
            torch.cat(moves, dim=1),
        )

    # ------------------------------------------------------------ decoding

    def layer_uv(self, dirs: torch.Tensor, motion: torch.Tensor, i: int, cell_m: float):
        """Texel coordinates (1 or B, P) on layer i's grid of cell_m metres where view rays dirs (1 or
        B, 3, P) meet it, how far the layer has moved (B, 1 each, texels: see bilinear_periodic),
        and the rays' distances to the layer."""
        spec = SPECS[i]
        east, north, distance = layer_hit(dirs, spec.altitude_m)
        cells = net_tile(self, spec) / cell_m
        shift_u = motion[:, 3 * i : 3 * i + 1] * cells
        shift_v = -motion[:, 3 * i + 1 : 3 * i + 2] * cells  # rows grow southwards
        return east / cell_m, -north / cell_m, shift_u, shift_v, distance

    def cumulus_height(self, fields, dirs, motion, pixel_angle: float, cover):
        """Cumulus field plus detail h (B, P), the coverage threshold (B, P), the std (1 or B, P) of
        the field a pixel's footprint averages away, and the haze transmittance (1 or B, P) between
        the observer and the layer, at full resolution."""
        u, v, su, sv, distance = self.layer_uv(dirs, motion, 0, CUMULUS.cell_m)
        base = bilinear_periodic(fields[:, :1], u, v, su, sv).flatten(1)  # (B, P): a view, not a copy
        scale = CUMULUS.cell_m / (self.detail_period_m / self.detail.shape[-1])
        texture = self.detail.expand(su.shape[0], -1, -1, -1)
        detail = bilinear_periodic(texture, u * scale, v * scale, su * scale, sv * scale).flatten(1)
        # A pixel's footprint on the layer (radially stretched near the horizon) averages structure
        # away: the detail first, the cells of the field near the horizon. What is averaged away
        # leaves the pixel partly covered, not a point sample of one cloud (no moire rings).
        footprint = distance * pixel_angle * slant(dirs, CUMULUS.altitude_m) ** 0.75
        texel_m = self.detail_period_m / self.detail.shape[-1]
        gain = self.detail_gain / torch.sqrt(1.0 + (footprint / (4.0 * texel_m)) ** 2)  # (1 or B, P)
        kept = 1.0 / torch.sqrt(1.0 + (footprint / CUMULUS.cell_m) ** 2)
        h = kept * base + gain * detail
        probit = cover_probit(cover)
        threshold = self.cover_affine[0] * probit * torch.sqrt(1.0 + gain**2) + self.cover_affine[1]
        return h, threshold, torch.sqrt(1.0 - kept**2), self.haze(dirs, distance)

    def sun_core(self, dirs: torch.Tensor, sun: torch.Tensor) -> torch.Tensor:
        """The circumsolar core (B, 1, P) at view rays dirs (1 or B, 3, P) for suns (B, 3): what the
        sky's logits gain where the cumulus does not hide it (SUN_CORE_INIT), exact at any resolution."""
        amplitude, sharpness = self.log_sun_core.exp()
        rise = math.sin(math.radians(SUN_CORE_RISE_DEG))
        up = (sun[:, 1:2] / rise + 1.0).clamp(0.0, 1.0)  # (B, 1)
        cos = torch.matmul(sun[:, None, :], dirs)  # (B, 1, P): one MatMul, not a product and a sum
        return (amplitude * up)[:, :, None] * torch.exp(sharpness * (cos - 1.0))

    def haze(self, dirs: torch.Tensor, distance: torch.Tensor | None = None) -> torch.Tensor:
        """Transmittance (1 or B, P) of the air between the observer and the cumulus layer along
        view rays dirs (1 or B, 3, P); distance: the rays' distances to the layer, if known."""
        if distance is None:
            distance = layer_hit(dirs, CUMULUS.altitude_m)[2]
        return torch.exp(-distance / self.log_haze_m.exp())

    def shading_inputs(
        self, fields, dirs, motion, sun, cover, cirrus_cover, pixel_angle: float
    ) -> torch.Tensor:
        """(B, SHADING_INPUTS, P) at the shading pixels dirs (1 or B, 3, P) of pixel_angle radians."""
        b, p = sun.shape[0], dirs.shape[-1]
        cos = (dirs * sun[:, :, None]).sum(dim=1, keepdim=True)  # (B, 1, P)
        glow = torch.exp(32.0 * (cos - 1.0))
        tilt = slant(dirs, CUMULUS.altitude_m)
        geo = torch.cat([dirs.expand(b, -1, -1), cos, glow, tilt[:, None].expand(b, 1, -1) / 10], 1)
        cond = torch.cat([sun, cover, cirrus_cover], dim=1)[:, :, None].expand(-1, -1, p)
        blurred = periodic_blur(fields)

        def sample(i: int, channels: slice, du=0.0, dv=0.0) -> torch.Tensor:
            """Layer i's fields at the pixels, blended towards their blur where a pixel's footprint
            spans cells: near the horizon a shading pixel covers many, and point samples ring."""
            spec = SPECS[i]
            u, v, su, sv, distance = self.layer_uv(dirs, motion, i, spec.cell_m)
            cells = distance * pixel_angle * slant(dirs, spec.altitude_m) ** 0.75 / spec.cell_m
            sharp = (1.0 / torch.sqrt(1.0 + cells**2))[:, None]  # (1 or B, 1, P)
            point = bilinear_periodic(fields[:, channels], u, v, su - du, sv - dv)
            smooth = bilinear_periodic(blurred[:, channels], u, v, su - du, sv - dv)
            return smooth + sharp * (point - smooth)

        cumulus = sample(0, slice(0, FIELD_CHANNELS))
        # Towards the sun, a cloud thickness away: what shadows this point (dark bases, lit sides).
        heading = torch.stack([sun[:, 0], -sun[:, 2]], dim=1)
        tan_zenith = heading.norm(dim=1, keepdim=True) / sun[:, 1:2].clamp(min=0.05)
        reach = (
            1000.0 * tan_zenith.clamp(0.3, 5.0) * heading / heading.norm(dim=1, keepdim=True).clamp(min=1e-6)
        )
        toward = sample(0, slice(0, 1), reach[:, :1] / CUMULUS.cell_m, -reach[:, 1:] / CUMULUS.cell_m)
        cirrus = sample(1, slice(FIELD_CHANNELS, 2 * FIELD_CHANNELS))
        return torch.cat([geo, cond, cumulus, toward, cirrus], dim=1)

    def forward(
        self,
        noise_a,
        noise_b,
        motion,
        sun,
        cover,
        cirrus_cover,
        resolution: int,
        blocks=None,
        block_px=0,
        indices=None,
    ):
        """Encoded sky and background (B, 3, H, W) of a `resolution` px canonical fisheye: the whole
        frame, or per batch element the block_px square at blocks[i] = (row, col) (multiples of
        SHADING_FACTOR, as are block_px and resolution). indices: see directions()."""
        f = SHADING_FACTOR
        true_sun, sun = sun, sky_lighting_sun(sun)
        origins, size = (blocks, block_px) if blocks is not None else ([(0, 0)], resolution)
        fields = self.fields(noise_a, noise_b, motion)
        # Shading pixels covering each block plus one on each side, as a global 1/f map would have them.
        # A whole frame needs no margin: upsampling clamps at its edges, which changes only the
        # shading of pixels within f / 2 of the frame's edge, below the horizon but at four points,
        # and saves the decoder a crop copy of every full-resolution map.
        margin = 1 if blocks is not None else 0
        low = size // f + 2 * margin
        sdirs = self.directions(
            [(r // f - margin, c // f - margin) for r, c in origins], low, resolution // f, indices
        )
        shading_in = self.shading_inputs(
            fields, sdirs, motion, sun, cover, cirrus_cover, math.pi * f / resolution
        )
        out = self.shading(shading_in)  # (B, SHADING_OUTPUTS, low * low)
        bg = self.background.mlp(torch.cat([shading_in[:, :5], shading_in[:, 6:10]], dim=1)[..., None])[
            ..., 0
        ]
        # A ray to the cirrus crosses the same hazy air below the cumulus as a ray to the cumulus
        # (the haze lies low), so the cirrus fades towards the horizon by the cumulus' haze term.
        # The cirrus covers its cover's quantile of its own field, as the cumulus does (a mask at the
        # shading resolution); the shading's logit sets how thick it is where it is. Without the
        # mask the shading learned a cirrus that hardly followed the cover asked for.
        scale, offset, log_sharpness = self.cirrus_mask
        threshold = (scale * cover_probit(cirrus_cover) + offset)[:, :, None]  # (B, 1, 1)
        mask = torch.sigmoid(log_sharpness.exp() * (shading_in[:, -FIELD_CHANNELS:][:, :1] - threshold))
        cirrus_alpha = mask * torch.sigmoid(out[:, 4:5] - CIRRUS_LOGIT_OFFSET) * self.haze(sdirs)[:, None]
        hue = bg - bg.mean(dim=1, keepdim=True)  # the sky's own colour, around its grey

        def upsampled(x: torch.Tensor) -> torch.Tensor:  # (B, C, low * low) -> (B, C, size, size)
            x = F.interpolate(
                x.reshape(x.shape[0], -1, low, low), scale_factor=f, mode="bilinear", align_corners=False
            )
            return x[:, :, f:-f, f:-f] if margin else x

        # Full-resolution maps: the sky behind the cumulus (3), the cumulus colour (3), its change
        # with thickness (1). Separate maps, not one sliced: a decoder pays per full-resolution copy.
        base = upsampled(bg + cirrus_alpha * out[:, 3:4])
        lit, thick = upsampled(out[:, 0:1] + out[:, 1:2] * hue), upsampled(out[:, 2:3])
        dirs = self.directions(origins, size, resolution, indices)  # (1 or B, 3, size * size)
        h, threshold, averaged, haze = self.cumulus_height(fields, dirs, motion, math.pi / resolution, cover)
        excess = (h - threshold).reshape(-1, 1, size, size)
        # The expected opacity over the averaged-away field: E sigmoid(s (x + r n)) ~ sigmoid(s x /
        # sqrt(1 + pi s^2 r^2 / 8)) (the probit-logistic approximation).
        sharpness = self.log_sharpness.exp()
        soften = torch.rsqrt(1.0 + (math.pi / 8.0) * (sharpness * averaged) ** 2).reshape(-1, 1, size, size)
        # Haze fades far clouds into the sky behind them (SkySim's aerial perspective).
        alpha = torch.sigmoid(sharpness * soften * excess) * haze.reshape(-1, 1, size, size)
        core = self.sun_core(dirs, true_sun).reshape(-1, 1, size, size)
        # A decoder pays per full-resolution value written, so the terms every channel shares are
        # summed in one channel first. Below the horizon the logits drop by BELOW_HORIZON_LOGIT, so
        # tanh gives exactly -1 there: one single-channel add instead of masking three channels.
        # `below` (1 at or below the horizon) comes from a sign, which ONNX Runtime folds at load;
        # a comparison's boolean map it left to be recomputed on every run.
        below = 1.0 - torch.relu(torch.sign(dirs[:, 1]))
        horizon = (below * -BELOW_HORIZON_LOGIT).reshape(-1, 1, size, size)
        shared = alpha * thick * torch.tanh(torch.relu(excess)) + (1.0 - alpha) * core + horizon
        sky = base + alpha * lit + shared  # = base + alpha (lit + thick tanh(relu(excess))) + ...
        return torch.tanh(sky), torch.tanh(upsampled(bg) + horizon)


def cover_probit(cover: torch.Tensor) -> torch.Tensor:
    """The field quantile (B, 1), in sigmas, above which `cover` (B, 1) of a unit-variance field
    lies (the logistic approximation, opset 15 having no erfinv), rising by CLEAR_SKY_PROBIT more
    as the cover goes from COVER_LIMIT to 0, so that no cover draws no cloud."""
    c = cover.clamp(COVER_LIMIT, 1.0 - COVER_LIMIT)
    probit = torch.log((1.0 - c) / c) / LOGISTIC_PROBIT
    return probit + CLEAR_SKY_PROBIT * (1.0 - cover / COVER_LIMIT).clamp(min=0.0)


def sky_lighting_sun(sun: torch.Tensor) -> torch.Tensor:
    """Sun directions (B, 3) as the sky sees them: a sun below astronomical night lights nothing,
    so it is the sun at ASTRONOMICAL_NIGHT_DEG in its own azimuth. Unclamped, the shading and
    background MLPs extrapolated twilight's darkening into the night (3.5 stops below SkySim's
    airglow floor at -40 deg); clamped, every night is the one sky at the end of twilight."""
    lowest = math.sin(math.radians(ASTRONOMICAL_NIGHT_DEG))
    up = sun[:, 1:2].clamp(min=lowest)
    level = torch.stack([sun[:, 0], sun[:, 2]], dim=1)
    level = level / level.norm(dim=1, keepdim=True).clamp(min=1e-6) * torch.sqrt(1.0 - up * up)
    return torch.cat([level[:, :1], up, level[:, 1:]], dim=1)


def periodic_blur(fields: torch.Tensor, cells: int = 5) -> torch.Tensor:
    """Box mean (B, C, G, G) of the periodic fields over cells x cells: what a pixel spanning that
    many cells sees of them (the layer's level of detail towards the horizon)."""
    p = cells // 2
    return F.avg_pool2d(F.pad(fields, (p, p, p, p), mode="circular"), cells, stride=1)


def spectral_amplitude(size: int, period_m: float, spectrum: Spectrum) -> torch.Tensor:
    """Amplitude (size, size // 2 + 1) of each rfft2 frequency of a periodic size x size grid
    spanning period_m: the power law inside the band, smooth Gaussian roll-offs outside it."""
    ky = torch.fft.fftfreq(size, d=period_m / size)[:, None]  # cycles per metre
    kx = torch.fft.rfftfreq(size, d=period_m / size)[None, :]
    k = torch.sqrt((kx * spectrum.stretch) ** 2 + (ky / spectrum.stretch) ** 2).clamp(min=1e-12)
    band = torch.exp(-((1.0 / (spectrum.longest_m * k)) ** 4) - (k * spectrum.shortest_m) ** 2)
    amplitude = band * k ** (-spectrum.slope / 2.0)
    amplitude[0, 0] = 0.0  # zero mean
    return amplitude


def spectral_noise(size: int, period_m: float, spectrum: Spectrum) -> torch.Tensor:
    """Periodic Gaussian noise (1, 1, size, size) with the spectrum, unit std (a fixed seed)."""
    white = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    noise = torch.fft.irfft2(
        torch.fft.rfft2(white) * spectral_amplitude(size, period_m, spectrum), s=(size, size)
    )
    return (noise / noise.std())[None, None]


def spectral_kernel(grid: int, kernel_px: int, cell_m: float, spectrum: Spectrum) -> torch.Tensor:
    """The kernel (1, 1, kernel_px, kernel_px) that turns white noise on a grid of cell_m cells into
    noise with the spectrum: the amplitude's inverse transform, centred and cropped (the decoder
    normalises it to unit gain)."""
    kernel = torch.fft.irfft2(spectral_amplitude(grid, grid * cell_m, spectrum), s=(grid, grid))
    kernel = torch.roll(kernel, (grid // 2, grid // 2), dims=(0, 1))
    lo = grid // 2 - kernel_px // 2
    return kernel[lo : lo + kernel_px, lo : lo + kernel_px][None, None]


def pixel_dirs(rows: torch.Tensor, cols: torch.Tensor, resolution: int) -> torch.Tensor:
    """View directions (1, 3, len(rows) * len(cols)) of fisheye pixel centres (rows x cols grid): the
    canonical fisheye (sky/projection.py), with the elevation taken as an angle from the horizon.
    Near the horizon cos(zenith) is a small difference of large numbers and the layer's distance
    swings by R = 6,371 km per unit of it; sin(elevation) is accurate there in any runtime."""
    dy = (2.0 * (rows + 0.5) / resolution - 1.0)[:, None].expand(-1, cols.shape[0]).reshape(-1)
    dx = (2.0 * (cols + 0.5) / resolution - 1.0)[None, :].expand(rows.shape[0], -1).reshape(-1)
    r = torch.sqrt(dx * dx + dy * dy).clamp(min=1e-6)
    elevation = (1.0 - r) * (0.5 * math.pi)
    across = torch.cos(elevation) / r  # sin(zenith) / r
    return torch.stack([-dx * across, torch.sin(elevation), dy * across])[None]


def slant(dirs: torch.Tensor, altitude_m: float) -> torch.Tensor:
    """1 / cos of the local zenith angle where rays dirs (B, 3, P) meet the layer (B, P), capped at 10."""
    _, _, t = layer_hit(dirs, altitude_m)
    mu = dirs[:, 1].clamp(0.0, 1.0)
    local = (EARTH_RADIUS_M * mu + t) / (EARTH_RADIUS_M + altitude_m)
    return 1.0 / local.clamp(min=0.1)


# ---------------------------------------------------------------- the package's three graphs


class SkyStart(nn.Module):
    """start.onnx: latents -> the first state. Offsets and phases are N(0, 1) latents mapped to
    uniform draws (logistic approximation of the normal CDF): any place in the tiles, any fade."""

    def __init__(self, net: LayerSkyNet):
        super().__init__()
        self.net = net

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor, z_motion: torch.Tensor):
        return z_a, z_b, torch.sigmoid(LOGISTIC_PROBIT * z_motion) * 0.999


class SkyStep(nn.Module):
    """step.onnx: state + fresh noise + wind -> the state step_seconds later (exact arithmetic)."""

    def __init__(self, net: LayerSkyNet, step_seconds: float):
        super().__init__()
        self.net, self.step_seconds = net, step_seconds

    def forward(self, noise_a, noise_b, motion, noise, wind_speed, wind_towards):
        towards = wind_towards * (math.pi / 180.0)
        wind = wind_speed * torch.cat([torch.sin(towards), torch.cos(towards)], dim=1)  # (1, 2) east, north
        return self.net.step(noise_a, noise_b, motion, noise, wind, self.step_seconds)


class SkyDecode(nn.Module):
    """decode.onnx: state + conditions -> the sky (1, 3, R, R) at a fixed output resolution R."""

    def __init__(self, net: LayerSkyNet, resolution: int):
        super().__init__()
        self.net, self.resolution = net, resolution
        low = resolution // SHADING_FACTOR
        self.register_buffer("full_indices", torch.arange(resolution, dtype=torch.float32))
        self.register_buffer("shading_indices", torch.arange(low, dtype=torch.float32))

    def forward(self, noise_a, noise_b, motion, sun_dir, cloud_cover, cirrus_cover):
        # Pixel indices as buffers, not aranges: the exporter stores a buffer as a small initializer,
        # while it would evaluate arange-derived geometry itself and store MBs of per-pixel constants.
        # ONNX Runtime folds the geometry from the initializers when it loads the graph.
        indices = {
            self.resolution: self.full_indices,
            self.resolution // SHADING_FACTOR: self.shading_indices,
        }
        args = (noise_a, noise_b, motion, sun_dir, cloud_cover, cirrus_cover, self.resolution)
        sky, _ = self.net(*args, indices=indices)
        return sky


def net_tile(net: LayerSkyNet, spec: LayerSpec) -> float:
    """Width (m) of a layer's periodic tile."""
    return net.grid * spec.cell_m
