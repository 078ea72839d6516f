"""The look-dev scene over the dome (render/scene.py, shaders/lookdev.*) on headless EGL (Mesa
llvmpipe): each drawn only in the rows where it shows, with the same frame as drawing both
everywhere; and the rows themselves against every pixel's view ray."""

import math

import numpy as np
import pytest

from skyviewer.data.skysim import SimConfig, SkySim
from skyviewer.render import scene as scene_module
from skyviewer.render.camera import Camera
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.dome import DomeRenderer, DomeSettings, DomeView
from skyviewer.render.lighting import SkyLighting
from skyviewer.render.projections import CubeFaceCamera, PanoramaCamera, Projection, rays_at, rows_seeing
from skyviewer.render.scene import GROUND_OPAQUE_SINE, LookDevScene, render_with_scene
from skyviewer.render.targets import OffscreenTarget

SIZE = (320, 180)
MAGENTA = (1.0, 0.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def ctx():
    ctx = create_offscreen_context()
    yield ctx
    release_context(ctx)


@pytest.fixture(scope="module")
def noon():
    """A fair-weather SkySim frame at noon, 64 px, and its sun direction."""
    sim = SkySim(SimConfig(resolution=64, cloud_cover=0.3, start_utc="2024-06-21T11:30:00Z"), seed=0)
    image, meta = sim.frame(0)
    return image.astype(np.float16), tuple(meta["sun_dir"])


def pixel_elevations(camera, projection, size) -> np.ndarray:
    """ray.y of every pixel centre, rows in GL order (row 0 at the bottom)."""
    width, height = size
    u, v = np.meshgrid((np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height)
    return rays_at(projection, camera.ray_basis(width / height), u, v)[::-1, :, 1]


CAMERAS = {
    "default view": (Camera(180, 20, 70), Projection.PERSPECTIVE),
    "looking down": (Camera(30, -60, 70), Projection.PERSPECTIVE),
    "straight down": (Camera(0, -89.9, 60), Projection.PERSPECTIVE),
    "up, wide": (Camera(90, 60, 150), Projection.PERSPECTIVE),
    **{f"cube face {f}": (CubeFaceCamera(f), Projection.PERSPECTIVE) for f in range(6)},
    "equirect": (PanoramaCamera(), Projection.EQUIRECT),
    "fisheye": (PanoramaCamera(), Projection.FISHEYE),
}


@pytest.mark.parametrize("name", CAMERAS)
@pytest.mark.parametrize("min_sine, max_sine", [(-1.0, 0.0), (-GROUND_OPAQUE_SINE, 1.0), (0.5, 1.0)])
def test_rows_seeing_hold_every_pixel_whose_ray_qualifies_and_little_else(name, min_sine, max_sine):
    camera, projection = CAMERAS[name]
    size = (64, 48) if projection != Projection.EQUIRECT else (96, 48)
    y = pixel_elevations(camera, projection, size)
    wanted = np.flatnonzero(((y >= min_sine) & (y <= max_sine)).any(axis=1))
    first, count = rows_seeing(camera, projection, size, min_sine, max_sine)
    if wanted.size == 0:
        assert count == 0
        return
    assert first <= wanted[0] and wanted[-1] < first + count, (first, count, wanted)
    assert wanted[0] - first <= 1 and first + count - 1 - wanted[-1] <= 1  # one row of margin


@pytest.mark.parametrize(
    "camera, projection",
    [
        (Camera(180, 20, 70), Projection.PERSPECTIVE),
        (Camera(180, -30, 70), Projection.PERSPECTIVE),
        (Camera(180, 0.5, 40), Projection.PERSPECTIVE),
        (PanoramaCamera(), Projection.EQUIRECT),
    ],
    ids=["default view", "looking down", "at the horizon", "equirect"],
)
def test_scissored_dome_and_scene_give_the_frame_of_drawing_both_everywhere(
    ctx, noon, monkeypatch, camera, projection
):
    """Over a magenta frame, so a row the dome skipped and the scene did not cover would show."""
    sky, sun = noon
    dome = DomeRenderer(ctx, 64, DomeSettings(dither=False), projection=projection)
    lighting, scene = SkyLighting(ctx, 64), LookDevScene(ctx, projection=projection)
    dome.push_frame(sky)
    lighting.push(dome.sky.next, sun)
    target = OffscreenTarget(ctx, SIZE if projection == Projection.PERSPECTIVE else (320, 160), hdr=False)
    view = DomeView(camera, key_nits=3000.0, sun_direction=sun)

    def frame():
        target.framebuffer.use()
        target.framebuffer.clear(*MAGENTA)
        render_with_scene(dome, target.framebuffer, view, scene, lighting)
        return target.read_display().astype(int)

    scissored = frame()
    width, height = target.size
    monkeypatch.setattr(scene_module, "rows_seeing", lambda *args, **kwargs: (0, height))
    everywhere = frame()
    for obj in (dome, lighting, scene, target):
        obj.release()
    assert np.abs(scissored - everywhere).max() <= 1
    assert not (scissored == [255, 0, 255]).all(axis=-1).any()
    y = pixel_elevations(camera, projection, (width, height))[::-1]  # top-down, as the image
    ground = (y < -0.2).any() and scissored[y < -0.2].std() > 5  # checkered ground shows
    assert ground or not (y < -0.2).any()


def test_scene_rows_leave_the_dome_where_the_ground_is_not_opaque():
    """The dome's rows under the scene reach down to the ground's opaque distance."""
    assert GROUND_OPAQUE_SINE == pytest.approx(math.sin(math.atan2(1.5, 100.0)))
    camera = Camera(180, 5, 60)
    first, count = rows_seeing(camera, Projection.PERSPECTIVE, SIZE, min_sine=-GROUND_OPAQUE_SINE)
    y = pixel_elevations(camera, Projection.PERSPECTIVE, SIZE)
    assert first > 0 and first + count == SIZE[1]  # the bottom rows are opaque ground: skipped
    assert (y[first - 1] < -GROUND_OPAQUE_SINE).all() and (y[first + 1] >= -GROUND_OPAQUE_SINE).any()


def test_a_held_camera_shows_the_scene_from_its_cache_as_shading_it_would(ctx):
    """The cache (the scene lit by each baked frame, mixed by the blend) against shading the scene
    with the blended lighting, for noon skies of three cloud covers in turn: the same pixels at
    blends 0 and 1; between, the same but where the shadows' softness is mixed rather than
    interpolated (not linear in the sun's visibility). A new bake replaces the older one held."""
    skies = [
        SkySim(SimConfig(resolution=64, cloud_cover=c, start_utc="2024-06-21T11:30:00Z"), seed=2).frame(0)
        for c in (0.2, 0.9, 0.5)
    ]
    dome = DomeRenderer(ctx, 64, DomeSettings(dither=False))
    lighting, cached = SkyLighting(ctx, 64), LookDevScene(ctx)
    target = OffscreenTarget(ctx, SIZE, hdr=True)

    def frame(scene, view):
        render_with_scene(dome, target.framebuffer, view, scene, lighting)
        return target.read_display().astype(int), target.read_radiance()

    for k, (image, meta) in enumerate(skies):
        dome.push_frame(image.astype(np.float16))
        lighting.push(dome.sky.next, meta["sun_dir"])
        for blend in (0.0, 0.5, 1.0) if k else ():
            view = DomeView(Camera(180, -30, 70), 3000.0, tuple(meta["sun_dir"]), blend=blend)
            frame(cached, view)  # the camera arrives: shaded
            display, radiance = frame(cached, view)  # held: from the cache
            shaded = LookDevScene(ctx)
            want_display, want_radiance = frame(shaded, view)
            shaded.release()
            off = np.abs(display - want_display).max(axis=-1)
            if blend in (0.0, 1.0):
                assert off.max() <= 1
                assert radiance == pytest.approx(want_radiance, rel=1e-3, abs=1e-3)
            else:
                assert (off > 1).mean() < 0.01
            assert all(cached.cache.slot_of(light) is not None for light in lighting.pair)
    for obj in (dome, lighting, cached, target):
        obj.release()
