"""The dome renderer, for real on headless EGL (Mesa llvmpipe): rendered pixels against the
numpy reference (skyviewer.render.reference) and against the sky conventions directly."""

import ctypes
import math
from dataclasses import fields, replace

import numpy as np
import pytest
from display import run_windowed

from skyviewer.errors import UserError
from skyviewer.render import context as render_context
from skyviewer.render import dome as dome_module
from skyviewer.render.camera import Camera
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.dome import DomeParams, DomeRenderer, DomeSettings, DomeView, block_layout
from skyviewer.render.exposure import AutoExposure, AutoExposureConfig, key_nits_at
from skyviewer.render.reference import render_dome
from skyviewer.render.targets import OffscreenTarget
from skyviewer.sky.projection import (
    angles_from_direction,
    direction_from_angles,
    fisheye_directions,
    fisheye_mask,
)
from skyviewer.sky.radiance import ENCODING, to_storage
from skyviewer.sky.tonemap import auto_key_nits, to_uint8, tonemap

N = 128
SIZE = (320, 180)
NO_DITHER = DomeSettings(dither=False)
SUN_DIR = tuple(direction_from_angles(math.radians(50.0), math.radians(120.0)))


def sky_from(fn, n=N) -> np.ndarray:
    """A canonical sky image (n, n, 3) float16 from fn(directions (..., 3)) -> nits (..., 3)."""
    d, mask = fisheye_directions(n, np.float64)
    return to_storage(np.where(mask[..., None], fn(d), 0.0))


def smooth_sky(d):
    """Blue sky, brighter at the horizon, varying with azimuth (smooth across +-180 degrees)."""
    glow = 1.0 + 0.5 * d[..., 0:1] - 0.3 * d[..., 2:3]
    return np.array([2000.0, 3500.0, 6000.0]) * glow * (1.6 - 0.8 * d[..., 1:2])


def sky_with_sun(d, sun=SUN_DIR):
    """smooth_sky plus the clamped solar disc where the sun is (what sky images carry): the
    texels within 0.75 texel of the sun, so at least one texel centre is always inside."""
    sky = smooth_sky(d)
    sky[d @ np.asarray(sun) > math.cos(0.75 * math.pi / N)] = ENCODING.x_max
    return sky


def quadrant_sky(d):
    """Red towards north, green east, blue south, grey west (by azimuth quadrant)."""
    _, azimuth = angles_from_direction(d)
    quadrant = np.round(azimuth / (math.pi / 2)).astype(int) % 4  # 0 N, 1 E, 2 S, 3 W
    colours = np.array([[6000, 300, 300], [300, 6000, 300], [300, 300, 6000], [2000, 2000, 2000]], float)
    return colours[quadrant]


@pytest.fixture(scope="module")
def ctx():
    context = create_offscreen_context()
    yield context
    release_context(context)


@pytest.fixture(scope="module")
def target(ctx):
    t = OffscreenTarget(ctx, SIZE)
    yield t
    t.release()


@pytest.fixture
def renderer(ctx):
    r = DomeRenderer(ctx, N, NO_DITHER)
    yield r
    r.release()


def draw(renderer, target, camera, *, key=3000.0, sun=(0.0, -1.0, 0.0), **view):
    """Render one view; returns (display uint8, radiance float32, params)."""
    params = renderer.render(target.framebuffer, DomeView(camera, key_nits=key, sun_direction=sun, **view))
    return target.read_display(), target.read_radiance(), params


def pixel_of(camera, direction):
    col, row = camera.project(direction, *SIZE)
    return int(row), int(col)


KNOWN_VIEWS = {  # name: (camera, direction expected near the image centre)
    "zenith": Camera(0, 90, 60),
    "north horizon": Camera(0, 0, 60),
    "east horizon": Camera(90, 0, 60),
    "south horizon": Camera(180, 0, 60),
    "west horizon": Camera(270, 0, 60),
    "45 deg north-east": Camera(45, 45, 60),
}


@pytest.mark.parametrize("name", KNOWN_VIEWS)
def test_render_matches_reference_at_known_directions(renderer, target, name):
    camera = KNOWN_VIEWS[name]
    sky = sky_from(sky_with_sun)
    renderer.push_frame(sky)
    display, radiance, params = draw(renderer, target, camera, sun=SUN_DIR)
    ref_display, ref_radiance = render_dome(sky, sky, params, SIZE)
    diff = np.abs(display.astype(int) - ref_display.astype(int))
    # The view direction itself (a hair above the horizon for the horizon views)...
    direction = camera.axes()[2] + np.array([0.0, 0.02, 0.0])
    row, col = pixel_of(camera, direction / np.linalg.norm(direction))
    assert diff[row, col].max() <= 2, (name, display[row, col], ref_display[row, col])
    # ...and every pixel of the frame.
    assert diff.max() <= 2, name
    np.testing.assert_allclose(radiance, ref_radiance, rtol=2e-3, atol=1e-2)


@pytest.mark.parametrize("name", ["zenith", "45 deg north-east"])
def test_pixels_show_the_sky_image_at_their_direction(renderer, target, name):
    # Independent of the reference: the pixel looking along d shows the tone-mapped sky at d.
    camera = KNOWN_VIEWS[name]
    renderer.push_frame(sky_from(smooth_sky))
    display, _, _ = draw(renderer, target, camera)
    d = camera.rays(*SIZE)[SIZE[1] // 2, SIZE[0] // 2]
    expected = to_uint8(tonemap(smooth_sky(d), key_nits=3000.0, exposure_stops=NO_DITHER.exposure_stops))
    assert np.abs(display[SIZE[1] // 2, SIZE[0] // 2].astype(int) - expected).max() <= 2


def test_orientation_north_east_not_mirrored(renderer, target):
    renderer.push_frame(sky_from(quadrant_sky))
    centre = (SIZE[1] // 2 - 20, SIZE[0] // 2)  # a little above the horizon
    for yaw, channel in [(0, 0), (90, 1), (180, 2)]:
        display, _, _ = draw(renderer, target, Camera(yaw, 0, 60))
        assert np.argmax(display[centre]) == channel, yaw
    # Facing north-east, north (red) is on the left and east (green) on the right.
    display, _, _ = draw(renderer, target, Camera(45, 5, 60))
    left, right = display[60, 40].astype(int), display[60, 280].astype(int)
    assert left[0] > left[1] + 50 and right[1] > right[0] + 50
    # Looking up with yaw 0 (head tilted back from north): south at the top, east on the right.
    display, _, _ = draw(renderer, target, Camera(0, 90, 100))
    assert np.argmax(display[10, 160]) == 2 and np.argmax(display[170, 160]) == 0
    assert np.argmax(display[90, 300]) == 1


def neighbour_steps(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = image.astype(int)
    return np.abs(np.diff(img, axis=1)).max(axis=2), np.abs(np.diff(img, axis=0)).max(axis=2)


@pytest.mark.parametrize("camera", [Camera(180, 20, 90), Camera(0, 90, 90)], ids=["azimuth wrap", "zenith"])
def test_no_discontinuity_at_azimuth_wrap_or_zenith(renderer, target, camera):
    def swirl(d):  # varies strongly with azimuth, smooth everywhere on the sphere
        return smooth_sky(d) * (1.5 + 0.5 * d[..., 0:1] / np.maximum(np.hypot(d[..., 0:1], d[..., 2:3]), 0.3))

    renderer.push_frame(sky_from(swirl))
    display, _, _ = draw(renderer, target, camera)
    dx, dy = neighbour_steps(display[:120])  # above the horizon band
    centre = slice(SIZE[0] // 2 - 6, SIZE[0] // 2 + 6)  # the wrap (south) and zenith are at the centre
    assert dx[:, centre].max() <= 3 and dy[:, centre].max() <= 3
    assert dx.max() <= 3 and dy.max() <= 3


def test_horizon_fades_into_ground_without_a_cut(renderer, target):
    renderer.push_frame(sky_from(smooth_sky))
    display, radiance, _ = draw(renderer, target, Camera(0, -10, 60))
    green = display[:, 160, 1].astype(int)  # sky at the top, ground at the bottom
    # The fall from sky to ground is spread over the haze band (8 deg = 24 px), not a cut.
    assert np.abs(np.diff(green)).max() <= 0.1 * (green.max() - green.min())
    # Far below the horizon: the uniform ground, 0.3 x the mean horizon radiance.
    assert np.ptp(radiance[-5:, :, 1]) < 1e-3 * radiance[-5:, :, 1].max()


def test_blend_interpolates_linearly(renderer, target):
    a, b = sky_from(smooth_sky), sky_from(lambda d: 0.3 * quadrant_sky(d) + 0.5 * smooth_sky(d))
    renderer.push_frame(a)
    renderer.push_frame(b)
    camera = Camera(30, 20, 90)
    (_, rad0, _), (_, rad1, _), (_, rad_half, _) = (
        draw(renderer, target, camera, blend=t) for t in (0, 1, 0.5)
    )
    renderer.push_frame(a)  # now prev = b, next = a
    _, rad_a, _ = draw(renderer, target, camera, blend=1.0)
    np.testing.assert_allclose(rad0, rad_a, rtol=1e-5)
    np.testing.assert_allclose(rad_half, (rad0 + rad1) / 2, rtol=1e-4, atol=1e-3)
    assert np.abs(rad1 - rad0).max() > 1000


def test_sun_disc_at_the_sun_direction_with_its_angular_radius(renderer, target):
    renderer.push_frame(sky_from(sky_with_sun))
    yaw, pitch = 120.0, 40.0  # SUN_DIR: azimuth 120, elevation 40
    camera = Camera(yaw + 0.3, pitch - 0.2, 8.0)
    display, radiance, params = draw(renderer, target, camera, sun=SUN_DIR)
    green = display[..., 1].astype(int)
    sky_level = int(np.median(green))
    disc = green > (sky_level + 255) / 2  # pixels at least half covered
    rows, cols = np.nonzero(disc)
    col, row = camera.project(SUN_DIR, *SIZE)
    assert abs(cols.mean() + 0.5 - col) < 0.3 and abs(rows.mean() + 0.5 - row) < 0.3
    radius_px = math.sqrt(disc.sum() / math.pi)
    assert radius_px == pytest.approx(params.sun_radius / params.pixel_angle, rel=0.05)
    # Crisp and anti-aliased: partly covered pixels form a ring about one pixel wide.
    edge = (green > sky_level + 8) & (green < 250)
    assert 0 < edge.sum() <= 2 * 2 * math.pi * radius_px
    assert radiance[int(row), int(col)].max() > 1e9
    # A cloud over the sun (no clamped disc in the image): no disc.
    renderer.push_frame(sky_from(smooth_sky))
    _, radiance, _ = draw(renderer, target, camera, sun=SUN_DIR, blend=1.0)
    assert radiance.max() < 20000.0


def test_exposure_one_stop_doubles_radiance_before_the_curve(ctx, target):
    sky = sky_from(smooth_sky)
    renderers = [DomeRenderer(ctx, N, replace(NO_DITHER, exposure_stops=s)) for s in (0.0, 1.0)]
    camera = Camera(200, 30, 70)
    try:
        for r in renderers:
            r.push_frame(sky)
        base, _, p0 = draw(renderers[0], target, camera, key=4000.0)
        brighter, _, p1 = draw(renderers[1], target, camera, key=4000.0)
        half_key, _, _ = draw(renderers[0], target, camera, key=2000.0)
    finally:
        for r in renderers:
            r.release()
    assert p1.exposure_scale == pytest.approx(2 * p0.exposure_scale)
    np.testing.assert_array_equal(brighter, half_key)
    assert np.abs(brighter.astype(int) - render_dome(sky, sky, p1, SIZE)[0]).max() <= 2
    assert brighter.mean() > base.mean() + 20


def test_auto_exposure_key_matches_numpy_and_adapts_over_time(renderer):
    sky = sky_from(smooth_sky)
    renderer.push_frame(sky)
    expected = auto_key_nits(sky.astype(np.float64), fisheye_mask(N))
    assert renderer.scene_key_nits(0.0) == pytest.approx(expected, rel=1e-4)
    renderer.push_frame(to_storage(sky.astype(np.float32) * 4))
    assert renderer.scene_key_nits(0.5) == pytest.approx(2 * expected, rel=1e-3)  # geometric blend
    auto = AutoExposure()
    assert auto.update(1000.0, 0.0) == pytest.approx(1000.0)  # the first frame snaps
    up = auto.update(2000.0, 0.1)
    assert 1000.0 < up < 2000.0
    for _ in range(100):
        auto.update(2000.0, 0.1)
    assert auto.key_nits == pytest.approx(2000.0, rel=1e-3)
    down_auto = AutoExposure()
    down_auto.update(2000.0, 0.0)
    assert 2000.0 / down_auto.update(1000.0, 0.1) < up / 1000.0  # darkening adapts more slowly


@pytest.mark.parametrize("n", [100, 72])
def test_the_meter_reduces_any_frame_size_and_each_push_keeps_its_key(ctx, n):
    """The meter pads its tiles to a power of two for its mip chain (13 and 9 tiles here), the
    padding counting as nothing; the older frame's key, read at the next push, is still its own."""
    dome = DomeRenderer(ctx, n)
    sky = to_storage(np.exp(np.random.default_rng(n).normal(7.0, 1.5, (n, n, 3))))
    bright = to_storage(sky.astype(np.float32) * 25.0)
    for frame in (bright, sky):
        dome.push_frame(frame)
    keys = [auto_key_nits(frame.astype(np.float64), fisheye_mask(n)) for frame in (bright, sky)]
    assert dome.scene_key_nits(0.0) == pytest.approx(keys[0], rel=1e-5)
    assert dome.scene_key_nits(1.0) == pytest.approx(keys[1], rel=1e-5) and keys[0] > 10 * keys[1]
    dome.release()


def test_auto_exposure_is_bounded_so_night_stays_dark_and_manual_exposure_is_free(ctx, renderer, target):
    day = sky_from(smooth_sky).astype(np.float32)
    day_key = auto_key_nits(day, fisheye_mask(N))
    camera, config = Camera(180, 20, 70), AutoExposureConfig()
    floor = key_nits_at(config.min_ev100)
    shown = {}
    for name, key in (("night", 0.004), ("twilight", floor / 2)):
        for _ in range(2):  # both of the dome's frames
            renderer.push_frame(to_storage(day * (key / day_key)))
        measured = renderer.scene_key_nits(0.0)
        assert measured == pytest.approx(key, rel=1e-2)
        bounded = AutoExposure().update(measured, 0.0)
        assert bounded == pytest.approx(floor)  # auto-exposure stops at EV100 min_ev100
        shown[name] = draw(renderer, target, camera, key=bounded)[0]
        unbounded = AutoExposure(replace(config, min_ev100=-30.0)).update(measured, 0.0)
        shown[f"{name}, unbounded"] = draw(renderer, target, camera, key=unbounded)[0]
    brighter = DomeRenderer(ctx, N, replace(NO_DITHER, exposure_stops=NO_DITHER.exposure_stops + 9))
    try:
        brighter.push_frame(to_storage(day * (0.004 / day_key)))
        shown["night, +9 EV by hand"] = draw(brighter, target, camera, key=floor)[0]
    finally:
        brighter.release()
    mean = {name: float(image.mean()) for name, image in shown.items()}
    assert shown["night"].max() <= 2, mean  # black, 9 stops under the floor
    assert mean["night, unbounded"] > 100, mean  # what an unbounded meter makes of it: grey day
    assert 10 < mean["twilight"] < mean["twilight, unbounded"] - 20, mean  # dimmer, not gone
    assert mean["night, +9 EV by hand"] > 50, mean  # compensation is not clamped
    assert AutoExposure().update(day_key, 0.0) == pytest.approx(day_key)  # daylight is untouched


def test_dither_is_at_most_one_lsb_and_changes_per_frame(ctx, renderer, target):
    sky = sky_from(smooth_sky)
    renderer.push_frame(sky)
    clean, _, _ = draw(renderer, target, Camera(0, 30, 70))
    dithered = DomeRenderer(ctx, N, DomeSettings(dither=True))
    try:
        dithered.push_frame(sky)
        frames = [draw(dithered, target, Camera(0, 30, 70), frame_index=k)[0].astype(int) for k in (0, 1)]
    finally:
        dithered.release()
    noise = frames[0] - clean
    assert np.abs(noise).max() <= 1 and 0.2 < np.mean(noise != 0) < 0.8
    assert abs(noise.mean()) < 0.05
    assert np.any(frames[0] != frames[1])


def test_not_blank_and_new_frames_show(renderer, target):
    renderer.push_frame(sky_from(smooth_sky))
    first, _, _ = draw(renderer, target, Camera(0, 30, 90))
    assert first.std() > 5
    renderer.push_frame(sky_from(quadrant_sky))
    second, _, _ = draw(renderer, target, Camera(0, 30, 90), blend=1.0)
    assert np.abs(second.astype(int) - first).mean() > 10


def test_finish_waits_for_the_gl_through_ctypes_which_releases_the_gil(ctx, target):
    """The viewer's model worker runs while the GL draws only if the wait releases the GIL:
    a ctypes.CDLL function does, moderngl's ctx.finish() does not (docs/viewer.md)."""
    gl = render_context.gl_library()
    assert gl is not None
    for wait in (gl.glFinish, gl.glClientWaitSync):  # finish() and Fence.wait()
        assert not wait._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # PyDLL's flag: it would hold the GIL
    target.framebuffer.use()
    ctx.clear(0.25, 0.5, 0.75, 1.0)
    render_context.finish(ctx)
    pixel = np.frombuffer(target.framebuffer.read(viewport=(0, 0, 1, 1), components=3), np.uint8)
    assert pixel.tolist() == [64, 128, 191]


def test_sky_textures_reject_bad_frames(renderer):
    with pytest.raises(UserError, match="float16"):
        renderer.push_frame(np.zeros((N, N, 3), np.float32))
    with pytest.raises(UserError, match=r"\(128, 128, 3\)"):
        renderer.push_frame(np.zeros((N, N + 1, 3), np.float16))


def test_uniform_block_layout_matches_gl_and_params(renderer):
    layout = block_layout()
    assert [name for name, _, _ in layout] == [f.name for f in fields(DomeParams)]
    assert renderer.program["DomeParams"].size == 112


def test_missing_gl_gives_an_install_hint(monkeypatch):
    def no_egl(**kwargs):
        raise RuntimeError("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(render_context.moderngl, "create_standalone_context", no_egl)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UserError, match="apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri.*xvfb-run"):
        create_offscreen_context()


WINDOW_SCRIPT = """
import glfw, moderngl, numpy as np
from skyviewer.render.camera import Camera
from skyviewer.render.dome import DomeRenderer, DomeView
from skyviewer.render.targets import window_target
assert glfw.init()
glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3); glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
window = glfw.create_window(64, 48, "t", None, None)
glfw.make_context_current(window)
ctx = moderngl.create_context()
r = DomeRenderer(ctx, 32)
r.push_frame(np.full((32, 32, 3), 3000, np.float16))
fbo = window_target(ctx)
r.render(fbo, DomeView(Camera(0, 30, 60), key_nits=3000.0))
pixels = np.frombuffer(fbo.read(components=3), np.uint8)
print("MEAN", pixels.mean(), "TORCH", "torch" in __import__("sys").modules)
"""


def test_renders_into_a_window_default_framebuffer_without_torch():
    result = run_windowed(WINDOW_SCRIPT)
    mean, torch_loaded = result.stdout.split()[1], result.stdout.split()[3]
    assert float(mean) > 20 and torch_loaded == "False"


SPLIT_VIEWS = {  # name: (camera, sun elevation deg, sky size)
    "sun in the middle": (Camera(120, 40, 60), 40.0, N),
    "sun at the frame's edge": (Camera(150, 40, 60), 40.0, N),
    "sun low, 64 px sky": (Camera(120, 10, 60), 2 * 3.0 * 180 / 64 + 0.5, 64),
    "sun grazing the horizon": (Camera(120, 0, 60), 0.2, N),
    "sun behind": (Camera(300, 20, 60), 40.0, N),
    "narrow view on the sun": (Camera(120.3, 39.8, 8), 40.0, N),
}


@pytest.mark.parametrize("name", SPLIT_VIEWS)
def test_drawing_away_from_the_sun_and_then_its_box_gives_the_full_shaders_pixels(
    ctx, target, monkeypatch, name
):
    """DomeRenderer draws the frame without the sun's terms and then the sun's box with them:
    the same frame as the full shader everywhere (sun_box None)."""
    camera, elevation, n = SPLIT_VIEWS[name]
    sun = tuple(direction_from_angles(math.radians(90.0 - elevation), math.radians(120.0)))
    renderer = DomeRenderer(ctx, n, NO_DITHER)
    renderer.push_frame(sky_from(lambda d: sky_with_sun(d, sun), n))
    split_display, split_radiance, _ = draw(renderer, target, camera, sun=sun)
    monkeypatch.setattr(dome_module, "sun_box", lambda *args: None)
    display, radiance, _ = draw(renderer, target, camera, sun=sun)
    renderer.release()
    assert np.abs(split_display.astype(int) - display.astype(int)).max() <= 1, name
    np.testing.assert_allclose(split_radiance, radiance, rtol=1e-5, atol=1e-3)
    assert radiance.max() > 1e7 or name in ("sun behind", "sun grazing the horizon"), name
