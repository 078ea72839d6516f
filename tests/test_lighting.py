"""Image-based lighting (render/lighting.py on headless EGL, Mesa llvmpipe) against its numpy
reference (runtime/lighting.py), and the reference against SkySim's own ground irradiance."""

import json
import math
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from skyviewer.data.skysim import SimConfig, SkySim
from skyviewer.data.skysim.atmosphere import sun_radiance
from skyviewer.data.skysim.sun import disc_coverage
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.dome import DomeSettings
from skyviewer.render.lighting import SkyLighting
from skyviewer.render.textures import SkyTextures
from skyviewer.runtime import lighting as rl
from skyviewer.sky.projection import cube_face_directions, fisheye_directions
from skyviewer.sky.radiance import ENCODING

NOON, DUSK = "2024-06-21T11:30:00Z", "2024-06-21T19:00:00Z"


def sim_frame(n, cover, utc=NOON):
    sim = SkySim(SimConfig(resolution=n, cloud_cover=cover, cirrus_cover=0.0, start_utc=utc), seed=0)
    image, meta = sim.frame(0)
    return sim, image, np.asarray(meta["sun_dir"], np.float64)


@pytest.fixture(scope="module")
def ctx():
    ctx = create_offscreen_context()
    yield ctx
    release_context(ctx)


def gpu_lighting(ctx, frame, sun, layered=None):
    textures = SkyTextures(ctx, frame.shape[0])
    textures.push(frame.astype(np.float16))
    lighting = SkyLighting(ctx, frame.shape[0], layered=layered)
    lighting.push(textures.next, sun)
    return lighting, lighting.newest, textures


@pytest.mark.parametrize("n, cover", [(64, 0.4), (256, 0.4), (256, 0.0)])
def test_gpu_sh_matches_numpy_integration_within_1_percent(ctx, n, cover):
    _, image, sun = sim_frame(n, cover)
    frame = image.astype(np.float16)
    lighting, gpu, textures = gpu_lighting(ctx, frame, sun)
    ref = rl.frame_lighting(frame, sun, max_size=None)  # every texel, float64
    scale = np.abs(ref.sh[0])  # per channel: the mean radiance's coefficient
    assert np.all(np.abs(gpu.sh - ref.sh) <= 0.01 * scale), (gpu.sh, ref.sh)
    # Irradiance on the six axis normals: within 1% of the brightest (the sky's, facing up).
    top = ref.irradiance(sun=False)
    for normal in np.vstack([np.eye(3), -np.eye(3)]):
        assert np.all(
            np.abs(gpu.irradiance(normal, sun=False) - ref.irradiance(normal, sun=False)) <= 0.01 * top
        )
    assert gpu.sun.visibility == ref.sun.visibility == 1.0
    np.testing.assert_allclose(gpu.sun.irradiance, ref.sun.irradiance, rtol=1e-9)
    lighting.release()
    textures.release()


def test_any_frame_size_gives_the_same_lighting(ctx):
    """A 1024 px frame (the 256 px one, each texel 4 x 4) lights like the 256 px one."""
    _, image, sun = sim_frame(256, 0.4)
    small = image.astype(np.float16)
    big = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    a, b = gpu_lighting(ctx, small, sun)[1], gpu_lighting(ctx, big, sun)[1]
    np.testing.assert_allclose(b.irradiance(sun=False), a.irradiance(sun=False), rtol=0.01)


def skysim_ground_irradiance(sim, image, sun):
    """SkySim's own integral of a high-resolution frame: the sky (disc pixels replaced by the
    glow around them) over the upper hemisphere with cosine, plus its sun's beam."""
    n = image.shape[0]
    flat = image.reshape(-1, 3).astype(np.float64)
    idx, coverage = disc_coverage(n, sun)
    elevation = math.degrees(math.asin(sun[1]))
    beam_radiance = sun_radiance(elevation, sim.config.turbidity).astype(np.float64)
    disc_peak = flat[idx].max()
    # The disc's beam: 1 when clamped (clear: cloud_cover 0); from the pixel's excess when not.
    beam = 1.0 if disc_peak >= ENCODING.x_max else 0.0
    ring = np.setdiff1d(np.arange(idx.min() - 4 * n, idx.max() + 4 * n), idx)
    flat[idx] = flat[ring[(ring >= 0) & (ring < n * n)]].mean(axis=0) if beam else flat[idx]
    directions, inside = fisheye_directions(n, dtype=np.float64)
    d = directions.reshape(-1, 3)[inside.ravel()]
    theta = np.arccos(np.clip(d[:, 1], -1.0, 1.0))
    weights = (math.pi / n) ** 2 * np.sinc(theta / math.pi) * d[:, 1]  # solid angle x cos, per pixel
    sky = weights @ flat[inside.ravel()]
    sun_e = beam_radiance * rl.SUN_SOLID_ANGLE_SR * beam * max(sun[1], 0.0)
    return sky + sun_e


@pytest.mark.parametrize(
    "cover, utc, rtol",
    # At dusk (sun 2.6 deg up) the sky is lopsided (a bright band at the sunset horizon): the plain
    # order-2 projection lit the ground 7.6% too bright; matched facing up it is exact there.
    [(0.0, NOON, 0.05), (1.0, NOON, 0.05), (0.5, NOON, 0.05), (0.0, DUSK, 0.05)],
)
def test_ground_irradiance_matches_skysim(ctx, cover, utc, rtol):
    sim_hi, image_hi, sun = sim_frame(512, cover, utc)
    truth = skysim_ground_irradiance(sim_hi, image_hi, sun)
    _, image, _ = sim_frame(128, cover, utc)  # what a model would produce: a lower resolution
    _, gpu, _ = gpu_lighting(ctx, image.astype(np.float16), sun)
    np.testing.assert_allclose(gpu.irradiance((0.0, 1.0, 0.0)), truth, rtol=rtol)


@pytest.mark.parametrize("layered", [False, True])
def test_cube_level_0_is_the_environment(ctx, layered):
    _, image, sun = sim_frame(128, 0.4)
    frame = image.astype(np.float16)
    lighting, _, _ = gpu_lighting(ctx, frame, sun, layered)
    faces = lighting.cube_faces(0)
    size = faces.shape[1]
    sky = rl.clean_sky(frame, sun, rl.sun_visibility(frame, sun))
    for face in range(6):
        d = cube_face_directions(size, face, np.float64)
        up = d[..., 1] > 0.05
        if not up.any():
            continue
        u, v, _ = rl.direction_to_fisheye_uv(d[up])
        expected = rl._bilinear(sky, *rl._clamp_to_radius(u, v, 1 - 3 / 128))
        assert np.median(np.abs(faces[face][up] - expected) / expected) < 0.03
    # Rougher levels are blurrier: less spread over the upward face.
    spread = [lighting.cube_faces(k)[2].std(axis=(0, 1)).mean() for k in range(lighting.config.cube_levels)]
    assert spread[0] > spread[2] > spread[-1]


def bake_two_frames(ctx, frames, layered):
    """The lighting pair and every cube level of both slots after pushing two frames, nothing read
    between the pushes."""
    textures, lighting = SkyTextures(ctx, 64), SkyLighting(ctx, 64, layered=layered)
    for image, sun in frames:
        textures.push(image.astype(np.float16))
        lighting.push(textures.next, sun)
    levels = range(lighting.config.cube_levels)
    cubes = [lighting.cube_faces(k, newest) for newest in (False, True) for k in levels]
    pair = lighting.pair
    lighting.release()
    textures.release()
    return pair, cubes


def test_layered_and_row_bakes_agree_and_each_push_keeps_its_lighting(ctx):
    """Both ways of drawing the cube levels bake the same cubes; the SH of a push read only after
    the next push is still its own."""
    frames = [sim_frame(64, 0.4)[1:], sim_frame(64, 0.0, DUSK)[1:]]
    (prev, newest), row = bake_two_frames(ctx, frames, layered=False)
    layered = bake_two_frames(ctx, frames, layered=True)[1]
    for a, b in zip(row, layered, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * a.max())
    for light, (image, sun) in zip((prev, newest), frames, strict=True):
        np.testing.assert_array_equal(light.sh, gpu_lighting(ctx, image, sun)[1].sh)


def test_blend_between_frames_and_json():
    _, image, sun = sim_frame(64, 0.4)
    a = rl.frame_lighting(image, sun)
    b = rl.frame_lighting(image * 2, sun)
    mid = rl.blend_lighting(a, b, 0.25)
    np.testing.assert_allclose(mid.sh, 1.25 * a.sh)
    record = json.loads(mid.to_json())
    assert len(record["sh_radiance_nits"]) == 9 and record["sun"]["visibility"] == a.sun.visibility


def test_settings_match_the_dome_and_runtime_needs_no_gl_or_torch():
    dome, light = asdict(DomeSettings()), asdict(rl.LightingSettings())
    assert all(dome[k] == light[k] for k in ("ground_albedo", "haze_depth_deg", "sun_fade_stops"))
    code = "import sys, skyviewer.runtime.lighting; print('torch' in sys.modules, 'moderngl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_bad_frame_is_refused():
    with pytest.raises(ValueError, match="expected"):
        rl.frame_lighting(np.zeros((8, 4, 3)), (0, 1, 0))
