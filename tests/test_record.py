"""`skyviewer record` for real: EGL rendering, libx264 through PyAV, Pillow, OpenEXR, on the tiny
untrained package (test_package_fixtures). Sizes and frame counts are tiny; every file written is
decoded back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import test_package_fixtures as fixtures
from PIL import Image
from test_render import SUN_DIR, quadrant_sky, sky_from, sky_with_sun

from skyviewer.cli import build_parser, main
from skyviewer.errors import UserError
from skyviewer.record.commands import config_from_args
from skyviewer.record.config import RecordConfig
from skyviewer.record.recorder import record
from skyviewer.record.spherical import read_spherical
from skyviewer.render.camera import Camera
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.dome import DomeRenderer, DomeSettings, DomeView
from skyviewer.render.files import read_exr
from skyviewer.render.projections import CubeFaceCamera, PanoramaCamera, Projection
from skyviewer.render.reference import render_dome, view_rays
from skyviewer.render.targets import OffscreenTarget
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkyTimeline
from skyviewer.runtime.weather import PRESETS, Weather, WeatherSetting
from skyviewer.sky.projection import cube_face_directions

snapshots, package_dir, layered_dir = fixtures.snapshots, fixtures.package_dir, fixtures.layered_dir


@pytest.fixture(scope="module")
def model(package_dir):
    return SkyModel(package_dir, providers="cpu")


def config(tmp_path: Path, name: str = "clip.mp4", **kw) -> RecordConfig:
    defaults = dict(out=tmp_path / name, size=(96, 48), frames=6, fps=10.0, sky_seconds_per_frame=30.0)
    return RecordConfig(**{**defaults, **kw})


def decode(path: Path) -> tuple[av.video.stream.VideoStream, np.ndarray]:
    """(stream facts, frames (T, H, W, 3) uint8) of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = (stream.codec_context.name, stream.codec_context.pix_fmt, stream.width, stream.height)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return facts, frames


# ----------------------------------------------------------------------------- the dome's projections


@pytest.fixture(scope="module")
def ctx():
    context = create_offscreen_context()
    yield context
    release_context(context)


@pytest.mark.parametrize(
    "projection, size", [(Projection.EQUIRECT, (256, 128)), (Projection.FISHEYE, (128, 128))]
)
def test_panoramas_match_the_numpy_reference(ctx, projection, size):
    sky = sky_from(sky_with_sun)
    dome = DomeRenderer(ctx, 128, DomeSettings(dither=False), projection=projection)
    target = OffscreenTarget(ctx, size)
    dome.push_frame(sky)
    params = dome.render(
        target.framebuffer, DomeView(PanoramaCamera(), key_nits=3000.0, sun_direction=SUN_DIR)
    )
    display, ref = target.read_display(), render_dome(sky, sky, params, size, projection)[0]
    assert np.abs(display.astype(int) - ref.astype(int)).max() <= 2
    assert target.read_radiance().max() > 1e8  # the sun disc is in the panorama


def test_equirect_orientation_north_at_the_centre_east_to_the_right(ctx):
    dome = DomeRenderer(ctx, 128, DomeSettings(dither=False), projection=Projection.EQUIRECT)
    target = OffscreenTarget(ctx, (256, 128))
    dome.push_frame(sky_from(quadrant_sky))
    dome.render(target.framebuffer, DomeView(PanoramaCamera(), key_nits=3000.0))
    row = target.read_display()[50]  # a little above the horizon (row 64)
    # u = 0.5 north (red), 0.75 east (green), 0 / 1 south (blue), 0.25 west (grey)
    assert [int(np.argmax(row[c])) for c in (128, 192, 2, 253)] == [0, 1, 2, 2]


def test_cube_face_cameras_look_along_the_gl_faces(ctx):
    dome = DomeRenderer(ctx, 16, projection=Projection.PERSPECTIVE)
    target = OffscreenTarget(ctx, (32, 32))
    dome.push_frame(np.ones((16, 16, 3), np.float16))
    for face in range(6):
        params = dome.render(target.framebuffer, DomeView(CubeFaceCamera(face), key_nits=1.0))
        rays, _ = view_rays(params, (32, 32), Projection.PERSPECTIVE)
        np.testing.assert_allclose(rays, cube_face_directions(32, face, np.float64), atol=1e-6)


# ----------------------------------------------------------------------------- outputs


def test_mp4_decodes_as_h264_yuv420p_with_the_exact_frame_count(tmp_path, model):
    result = record(config(tmp_path, frames=7), model)
    assert result.complete and result.path == tmp_path / "clip.mp4" and result.frames == 7
    facts, frames = decode(result.path)
    assert facts == ("h264", "yuv420p", 96, 48) and len(frames) == 7
    assert not (tmp_path / "clip.partial.mp4").exists()


def test_frames_change_over_time(tmp_path, model):
    result = record(config(tmp_path, format="png", name="seq", frames=5, sky_seconds_per_frame=120.0), model)
    first, last = (np.asarray(Image.open(result.path / f"frame_{i:06d}.png"), int) for i in (0, 4))
    assert np.abs(first - last).mean() > 2.0  # more than the +-1 LSB dither


def test_same_seed_same_frames_other_seed_differs(tmp_path, model):
    runs = [
        decode(record(config(tmp_path, name=f"run{i}.mp4", seed=seed), model).path)[1]
        for i, seed in enumerate((5, 5, 6))
    ]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_same_frames_under_cpu_load_whatever_the_heap_holds(tmp_path, package_dir):
    """Three recordings in fresh processes while busy loops load every core, each with glibc
    filling its heap with a different byte (MALLOC_PERTURB_): the heap garbage that load and
    thread timing vary. x264's AVX-512 macroblock-tree kernels read such garbage at widths that
    are not a multiple of 128 px (96 here), which made the frames differ by up to 16/255."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        outs = []
        for i, perturb in enumerate(("", "77", "200")):
            out = tmp_path / f"run{i}.mp4"
            command = [sys.executable, "-m", "skyviewer", "record", str(package_dir), "--out", str(out),
                       "--size", "96x48", "--frames", "6", "--fps", "10", "--seed", "3",
                       "--providers", "cpu", "--quiet"]  # fmt: skip
            env = {**os.environ, "MALLOC_PERTURB_": perturb}
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
            outs.append(out)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    first, *others = (decode(out)[1].astype(int) for out in outs)
    assert [int(np.abs(first - other).max()) for other in others] == [0, 0]


def test_equirect_has_no_seam_at_the_wrap_and_carries_360_metadata(tmp_path, model):
    kw = dict(view="equirect", size=(128, 64), frames=3)
    png = record(config(tmp_path, name="pano", format="png", **kw), model).path
    image = np.asarray(Image.open(png / "frame_000002.png"), int)[:28]  # above the horizon band
    wrap = np.abs(image[:, 0] - image[:, -1]).max(axis=-1)  # column 0 and W-1 are neighbours
    steps = np.abs(np.diff(image, axis=1)).max(axis=-1)
    assert wrap.max() <= max(3, steps.max())
    assert wrap.mean() <= 2 * steps.mean() + 1

    mp4 = record(config(tmp_path, name="pano.mp4", **kw), model).path
    assert read_spherical(mp4) == {"v1_projection": "equirectangular", "v2_projection": "equirectangular"}
    facts, frames = decode(mp4)  # still a valid MP4 after the boxes went in
    assert facts[2:] == (128, 64) and len(frames) == 3


def test_cube_writes_six_faces_per_frame_in_gl_order(tmp_path, model):
    out = record(
        config(tmp_path, name="cube", view="cube", format="png", size=(32, 32), frames=2), model
    ).path
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"frame_{i:06d}_{f}.png" for i in range(2) for f in ("px", "nx", "py", "ny", "pz", "nz")
    )
    assert Image.open(out / "frame_000000_py.png").size == (32, 32)


def test_gif_and_fisheye(tmp_path, model):
    out = record(
        config(tmp_path, name="dome.gif", format="gif", view="fisheye", size=(48, 48), frames=4), model
    ).path
    with Image.open(out) as gif:
        assert (gif.n_frames, gif.size) == (4, (48, 48))


def test_exr_round_trips_the_renderers_linear_radiance(tmp_path, model, ctx):
    cfg = config(tmp_path, name="hdr", format="exr", frames=1)
    exr = read_exr(record(cfg, model).path / "frame_000000.exr")
    # The same sky rendered directly: radiance does not depend on exposure.
    clock = SunClock(cfg.latitude_deg, cfg.longitude_deg, cfg.start_unix_time)
    timeline = SkyTimeline(model, clock, cfg.seed, Weather.for_model(model, cfg.seed))  # auto weather
    sample = timeline.at(0.0)
    dome, target = DomeRenderer(ctx, model.resolution), OffscreenTarget(ctx, cfg.size)
    dome.push_frame(sample.previous.radiance)
    dome.push_frame(sample.next.radiance)
    camera = Camera(cfg.yaw_at(0), cfg.pitch_deg, cfg.fov_y_deg)  # the recorder's camera at frame 0
    view = DomeView(camera, 1.0, tuple(sample.sun_dir), sample.blend)
    dome.render(target.framebuffer, view)
    expected = target.read_radiance()
    assert exr.dtype == np.float32 and exr.shape == (48, 96, 3)
    assert np.array_equal(exr, expected) and exr.max() > 0


def test_weather_flags_reach_the_model(tmp_path, layered_dir):
    """Format 3: --weather and the pins set the conditions of every frame; the wind acts from the
    first step (the start sky does not depend on it)."""
    argv = [
        "record",
        str(layered_dir),
        "--out",
        str(tmp_path / "w"),
        "--format",
        "png",
        "--weather",
        "cloudy",
    ]
    argv += ["--wind-speed", "15", "--wind-towards", "200", "--cirrus-cover", "0.7"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg.weather == WeatherSetting("cloudy", None, 0.7, 15.0, 200.0)
    cfg = replace(cfg, size=(64, 32), frames=2, sky_seconds_per_frame=20.0, pitch_deg=60.0)
    model = SkyModel(layered_dir, providers="cpu")
    windy = record(cfg, model).path
    expected = {**PRESETS["cloudy"], "cirrus_cover": 0.7, "wind_speed": 15.0, "wind_towards": 200.0}
    assert {k: float(v[0]) for k, v in model.conditions().items() if k != "sun_dir"} == pytest.approx(
        expected
    )
    calm = record(
        replace(cfg, out=tmp_path / "calm", weather=replace(cfg.weather, wind_speed=0.0)), model
    ).path
    frames = [
        [np.asarray(Image.open(p / f"frame_00000{i}.png"), int) for i in range(2)] for p in (windy, calm)
    ]
    assert np.array_equal(frames[0][0], frames[1][0])  # the same start sky
    assert np.abs(frames[0][1] - frames[1][1]).mean() > 0.5  # the wind moved the clouds


# ----------------------------------------------------------------------------- interruption


def _record_command(package_dir: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "skyviewer", "record", str(package_dir), "--out", str(out),
            "--size", "64x32", "--frames", "100000", "--fps", "10", "--keyframe-seconds", "0.4",
            "--preset", "ultrafast", "--providers", "cpu", "--quiet"]  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_recording_is_playable_and_named_partial(tmp_path, package_dir, sig):
    out = tmp_path / "long.mp4"
    partial = tmp_path / "long.partial.mp4"
    proc = subprocess.Popen(_record_command(package_dir, out), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (partial.exists() and partial.read_bytes().count(b"moof") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, "recording did not start"
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, _ = proc.communicate(timeout=30)
    assert not out.exists() and partial.exists()
    facts, frames = decode(partial)
    assert facts == ("h264", "yuv420p", 64, 32) and len(frames) >= 8
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert f"interrupted: wrote {len(frames)} frames to {partial}" in stdout


# ----------------------------------------------------------------------------- errors up front


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(size=(95, 48)), "even width and height"),
        (dict(view="equirect", size=(96, 96)), "2:1"),
        (dict(view="cube", size=(32, 32)), "png or exr"),
    ],
)
def test_bad_options_fail_before_anything_is_written(tmp_path, model, kw, message):
    with pytest.raises(UserError, match=message):
        record(config(tmp_path, **kw), model)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_full_destination_fails_up_front(tmp_path, model, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        record(config(tmp_path, name="a_file/clip.mp4"), model)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="cannot write in"):
            record(config(locked, name="clip.mp4"), model)
    monkeypatch.setattr("shutil.disk_usage", lambda path: _Usage())
    with pytest.raises(UserError, match="MB free"):
        record(config(tmp_path, name="big.mp4", size=(1920, 1080), frames=1000), model)
    (tmp_path / "exists.mp4").write_bytes(b"keep")
    with pytest.raises(UserError, match="--overwrite"):
        record(config(tmp_path, name="exists.mp4"), model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "exists.mp4"] + (
        ["locked"] if os.geteuid() != 0 else []
    )


def test_a_write_that_fails_on_the_writer_thread_stops_the_recording(tmp_path, model):
    """Frames are written on a thread one frame behind the renderer: a failure there (here a
    file takes the place of a PNG sequence's folder) is raised to the caller, naming the path,
    and the output is never given its final name."""
    cfg = config(tmp_path, name="frames", format="png", frames=20)

    def replace_folder_by_a_file(frames: int) -> None:
        if frames == 2:
            shutil.rmtree(tmp_path / "frames.partial")
            (tmp_path / "frames.partial").write_text("not a folder")

    with pytest.raises(OSError, match=r"frames\.partial"):  # which OSError depends on the timing
        record(cfg, model, progress=replace_folder_by_a_file)
    assert not (tmp_path / "frames").exists()


class _Usage:
    total = used = free = 1_000_000


def test_cli_records_and_explains_a_missing_default_package(tmp_path, package_dir, capsys, monkeypatch):
    out = tmp_path / "cli.mp4"
    args = ["record", str(package_dir), "--out", str(out), "--size", "64x32", "--frames", "3", "--quiet"]
    assert main(args) == 0
    assert "wrote 3 frames" in capsys.readouterr().out and decode(out)[1].shape[0] == 3
    monkeypatch.setattr("skyviewer.runtime.package.search_dirs", lambda: [tmp_path / "no-models"])
    assert main(["record", "--out", str(tmp_path / "x.mp4"), "--sweep-hours", "24"]) == 2
    assert "no default sky package is installed" in capsys.readouterr().err


def test_sim_recording_draws_skysim_at_the_asked_fisheye_size(tmp_path):
    """--sim --sim-px: SkySim's own fisheye side. Seen through the same 128 px fisheye view, a 64 px
    SkySim carries more fine detail than a 16 px one magnified."""

    def fine_detail(px: int) -> float:
        out = tmp_path / f"sim{px}"
        args = ["record", "--sim", "--sim-px", str(px), "--out", str(out), "--format", "png", "--quiet"]
        args += ["--view", "fisheye", "--size", "128x128", "--frames", "1", "--weather", "cloudy"]
        assert main(args) == 0
        (frame,) = sorted(out.glob("*.png"))
        luma = np.asarray(Image.open(frame).convert("L"), np.float64)[32:96, 32:96]
        return float(np.abs(np.diff(luma, axis=0)).mean() + np.abs(np.diff(luma, axis=1)).mean())

    assert fine_detail(64) > 1.5 * fine_detail(16)
