"""Scaled rendering (render/upscale.py): the dynamic render scale against simulated draw times, and
the scaled dome on headless EGL (Mesa llvmpipe) against the dome drawn at full resolution."""

import numpy as np
import pytest

from skyviewer.render.camera import Camera
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.dome import DomeRenderer, DomeSettings, DomeView
from skyviewer.render.shaders import ShaderLibrary
from skyviewer.render.targets import OffscreenTarget
from skyviewer.render.upscale import DynamicScale, DynamicScaleConfig, ScaledRender, render_dome

BUDGET = 1 / 60


def run(controller: DynamicScale, cost, seconds: float) -> list[float]:
    """Feed the controller `seconds` of frames whose draw time is cost(scale); the scales used."""
    scales, spent = [], 0.0
    while spent < seconds:
        draw = cost(controller.scale)
        scales.append(controller.scale)
        controller.update(draw)
        spent += max(draw, BUDGET)
    return scales


@pytest.mark.parametrize("fixed_ms, per_pixel_ms", [(3.0, 30.0), (4.0, 55.0), (1.0, 15.0)])
def test_dynamic_scale_settles_on_the_largest_scale_that_holds_the_frame_rate(fixed_ms, per_pixel_ms):
    """Draw time = fixed + per pixel x scale^2 (the upscale and HUD, then the dome's pixels)."""

    def cost(scale):
        return (fixed_ms + per_pixel_ms * scale**2) / 1000

    controller = DynamicScale(0.75)
    scales = run(controller, cost, 20.0)
    settled = scales[len(scales) // 2 :]
    assert len(set(settled)) == 1, "no oscillation once settled"
    scale = settled[0]
    assert cost(scale) <= BUDGET or scale == controller.config.min_scale
    one_up = scale + controller.config.step
    assert one_up > controller.config.max_scale or cost(one_up) > controller.config.headroom * BUDGET


def test_dynamic_scale_stays_within_its_bounds_and_on_its_steps():
    config = DynamicScaleConfig(min_scale=0.5, max_scale=1.0, step=0.05)
    slow = DynamicScale(0.77, config)
    assert slow.scale == 0.75  # down to a step
    assert run(slow, lambda s: 1.0, 10.0)[-1] == 0.5
    fast = DynamicScale(0.5, config)
    assert run(fast, lambda s: 0.001, 10.0)[-1] == 1.0
    assert all(round(s / 0.05, 6).is_integer() for s in run(DynamicScale(0.75), lambda s: 0.03 * s, 5.0))


def test_one_slow_frame_in_a_window_does_not_halve_the_scale():
    """A model frame's upload is one long frame among ~30: the window's mean decides."""
    controller = DynamicScale(0.75)
    draws = [0.030] + [0.010] * 29
    for draw in draws:
        controller.update(draw)
    assert controller.scale >= 0.75


@pytest.fixture(scope="module")
def ctx():
    ctx = create_offscreen_context()
    yield ctx
    release_context(ctx)


def test_scaled_dome_resembles_the_full_one_and_follows_a_scale_change(ctx):
    n, size = 64, (320, 180)
    u = np.linspace(0, 1, n)
    sky = (np.stack([2000 + 3000 * u[None, :] + 0 * u[:, None]] * 3, axis=-1) * [1, 1.5, 2.5]).astype(
        np.float16
    )
    dome = DomeRenderer(ctx, n, DomeSettings(dither=False))
    dome.push_frame(sky)
    full, out = OffscreenTarget(ctx, size, hdr=False), OffscreenTarget(ctx, size, hdr=False)
    view = DomeView(Camera(180, 30, 70), key_nits=3000.0)
    render_dome(dome, full.framebuffer, view, None)
    scaled = ScaledRender(ctx, ShaderLibrary(ctx), 0.5)
    render_dome(dome, out.framebuffer, view, scaled)
    assert scaled.target(out.framebuffer).size == (160, 90)
    diff = np.abs(out.read_display().astype(int) - full.read_display().astype(int))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 6
    scaled.scale = 0.75
    render_dome(dome, out.framebuffer, view, scaled)
    assert scaled.target(out.framebuffer).size == (240, 135)
    for obj in (dome, full, out, scaled):
        obj.release()
