"""The viewer for real: offscreen on EGL (Mesa llvmpipe), a glfw window under xvfb-run, the CLI
without torch. Tiny untrained fixture packages (16 px) keep it fast."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import test_package_fixtures as fixtures
from display import run_windowed

from skyviewer.app import viewer as viewer_module
from skyviewer.app.hud import TextLine, TextOverlay
from skyviewer.app.viewer import SkyViewer, ViewerConfig
from skyviewer.cli import build_parser, main
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.files import read_exr
from skyviewer.render.shaders import ShaderLibrary
from skyviewer.render.targets import OffscreenTarget, read_display
from skyviewer.runtime import SkyModel
from skyviewer.runtime.weather import PRESETS

snapshots, package_dir, layered_dir = fixtures.snapshots, fixtures.package_dir, fixtures.layered_dir
SIZE = (320, 180)
START = 1_718_985_600.0  # 2024-06-21 16:00 UTC: the sun is up over Quebec
HUD_REGION = (slice(0, 125), slice(0, 300))  # four lines and two error lines
SKY_REGION = (slice(130, 180), slice(0, 320))


@pytest.fixture(scope="module")
def gl():
    ctx = create_offscreen_context()
    target = OffscreenTarget(ctx, SIZE, hdr=False)
    yield ctx, target
    target.release()
    release_context(ctx)


@pytest.fixture
def make_viewer(gl, package_dir, tmp_path):
    viewers = []

    def make(model=None, **config) -> SkyViewer:
        ctx, target = gl
        config = ViewerConfig(start_unix_time=START, screenshot_dir=tmp_path, **config)
        viewer = SkyViewer(ctx, model or SkyModel(package_dir), target.framebuffer, config)
        viewers.append(viewer)
        return viewer

    yield make
    for v in viewers:
        v.close()


def pump(viewer, until=lambda v: True, frames=1, dt=1 / 60, timeout=20.0) -> float:
    """Render frames (at least `frames`, until `until(viewer)`); the longest on_render, seconds."""
    deadline, longest, k = time.perf_counter() + timeout, 0.0, 0
    while k < frames or not until(viewer):
        assert time.perf_counter() < deadline, "timed out"
        t0 = time.perf_counter()
        viewer.on_render(k * dt, dt)
        viewer.ctx.finish()  # as a buffer swap would: the frame is drawn before the next
        longest = max(longest, time.perf_counter() - t0)
        k += 1
        time.sleep(0.002)
    return longest


def has_sky(viewer) -> bool:
    return viewer.sample is not None


def image(viewer) -> np.ndarray:
    return read_display(viewer.framebuffer).astype(int)


def test_renders_a_sky_that_changes_over_sky_time(make_viewer):
    viewer = make_viewer(hud=False, sky_rate=600.0)
    pump(viewer, has_sky)
    first = image(viewer)
    assert first.std() > 5 and first.mean() > 10  # not blank
    pump(viewer, lambda v: v.sample.sky_seconds > 150)  # two and a half steps later
    assert np.abs(image(viewer) - first).mean() > 2


def test_a_slow_model_step_never_blocks_a_frame(make_viewer, package_dir):
    model = SkyModel(package_dir)
    real_step = model.step
    model.step = lambda: (time.sleep(0.3), real_step())[1]
    viewer = make_viewer(model, sky_rate=600.0)  # wants 10 steps/s, gets ~3
    pump(viewer, has_sky)
    start, t0 = viewer.frame_index, time.perf_counter()
    longest = pump(viewer, frames=60)
    rate = (viewer.frame_index - start) / (time.perf_counter() - t0)
    assert longest < 0.1 and rate > 20  # frames keep coming while steps take 300 ms
    assert viewer.worker.stats().step_ms > 250


def test_a_failing_model_step_shows_the_error_and_keeps_the_last_sky(make_viewer, package_dir):
    model = SkyModel(package_dir)
    viewer = make_viewer(model, sky_rate=60.0)
    pump(viewer, has_sky, frames=30)
    viewer.on_key("SPACE")  # paused: the sky on screen stays the same
    pump(viewer, frames=5)
    healthy = image(viewer)
    model.step = lambda: (_ for _ in ()).throw(RuntimeError("model exploded"))
    viewer.sky_rate = 1e5
    viewer.on_key("SPACE")
    pump(viewer, lambda v: v.error is not None)
    viewer.on_key("SPACE")
    pump(viewer, frames=3)
    broken = image(viewer)
    assert viewer.error == "RuntimeError: model exploded" and viewer.worker.is_alive()
    assert np.abs(broken[HUD_REGION] - healthy[HUD_REGION]).mean() > 5  # the error lines
    red = (broken[..., 0] > 180) & (broken[..., 1] < 140)
    assert red[HUD_REGION].sum() > 50
    assert broken[SKY_REGION].std() > 5  # the last good sky is still drawn


def test_keys_change_the_state_as_documented(make_viewer):
    viewer = make_viewer(sky_rate=60.0)
    pump(viewer, has_sky)
    ev = viewer.dome.settings.exposure_stops
    for key in ("SPACE", "PERIOD", "PERIOD", "COMMA", "EQUAL", "EQUAL", "MINUS", "A", "H", "TAB", "X"):
        assert viewer.on_key(key)
    assert viewer.paused and viewer.sky_rate == 120.0
    assert viewer.dome.settings.exposure_stops == pytest.approx(ev + 0.5)
    assert not viewer.auto_exposure and viewer.help_visible and not viewer.hud_visible
    shown = viewer.sample.next.conditions["cloud_cover"]
    assert viewer.weather.pins == {"cloud_cover": pytest.approx(max(shown - 0.1, 0.0), abs=1e-3)}
    assert not viewer.on_key("Q")
    seconds = viewer.sample.sky_seconds
    pump(viewer, frames=10)
    assert viewer.sample.sky_seconds == seconds  # paused
    viewer.on_key("SPACE")
    target = viewer.weather.pins["cloud_cover"]  # approached over sky minutes: 600 sky s per wall s
    pump(viewer, lambda v: abs(v.model.conditions()["cloud_cover"][0] - target) < 0.01, timeout=60)


def test_weather_keys_pin_wind_and_presets_that_the_worker_applies(make_viewer, layered_dir):
    """Format 3: the wind keys, P and W change the conditions the timeline gives the model,
    approached smoothly; the HUD line names them."""
    viewer = make_viewer(SkyModel(layered_dir, providers="cpu"), sky_rate=600.0, lookahead=1)
    pump(viewer, has_sky, timeout=120)
    shown = viewer.weather_shown()
    assert set(shown) == {"cloud_cover", "cirrus_cover", "wind_speed", "wind_towards"}
    assert viewer.weather.label() == "auto" and "weather auto" in viewer.weather.hud_line(shown)
    for key in ("UP", "UP", "RIGHT"):
        viewer.on_key(key)
    speed, towards = round(shown["wind_speed"] + 4.0, 3), round((shown["wind_towards"] + 15.0) % 360, 3)
    assert viewer.weather.pins == pytest.approx({"wind_speed": speed, "wind_towards": towards})
    viewer.on_key("P")  # the first preset: clear (the direction stays pinned)
    assert viewer.weather.label() == "clear"
    assert viewer.weather.pins == pytest.approx({**PRESETS["clear"], "wind_towards": towards})
    start = viewer.sample.sky_seconds
    pump(viewer, lambda v: v.sample.sky_seconds > start + 1800, timeout=240)  # 6 approach times
    now = viewer.model.conditions()
    assert float(now["wind_speed"][0]) == pytest.approx(PRESETS["clear"]["wind_speed"], abs=0.05)
    assert float(now["cloud_cover"][0]) == pytest.approx(0.0, abs=0.01)
    line = viewer.weather.hud_line(viewer.weather_shown())
    assert "weather clear" in line and "wind 3.0 m/s" in line and "~" not in line
    viewer.on_key("W")  # free again
    assert viewer.weather.pins == {} and viewer.weather.label() == "auto"
    viewer.on_key("W")  # pinned at what is on screen
    assert viewer.weather.pins == pytest.approx(viewer.weather_shown()) and viewer.weather.label() == "pinned"


def test_reseed_and_time_jump_start_new_skies_and_drop_stale_frames(make_viewer):
    viewer = make_viewer(sky_rate=60.0)
    pump(viewer, lambda v: has_sky(v) and v.worker.frames.qsize() + len(v.feed._pending) >= 2)
    before = viewer.sample.unix_time
    viewer.on_key("R")
    assert viewer.seed == 1 and viewer.worker.generation == 1
    pump(viewer, lambda v: v.feed.generation == 1)
    assert viewer.feed.dropped >= 1 and viewer.sample.previous.index == 0
    viewer.on_key("RIGHT_BRACKET")
    pump(viewer, lambda v: v.feed.generation == 2)
    assert viewer.sample.unix_time - before == pytest.approx(3600.0, abs=120.0)


def test_screenshot_writes_png_and_exr_of_the_hdr_sky(make_viewer, tmp_path):
    viewer = make_viewer()
    pump(viewer, has_sky)
    viewer.on_key("S")
    pump(viewer, frames=1)
    png, exr = viewer.last_screenshot
    assert png.parent == tmp_path and png.suffix == ".png" and exr.suffix == ".exr"
    assert not list(tmp_path.glob(".*.tmp"))
    from PIL import Image

    assert np.asarray(Image.open(png)).shape == (SIZE[1], SIZE[0], 3)
    np.testing.assert_array_equal(read_exr(exr), viewer.sky_radiance())
    assert viewer.sky_radiance().shape == (16, 16, 3) and viewer.sky_radiance().max() > 100


def test_no_display_and_no_egl_says_what_to_install(package_dir, monkeypatch, capsys):
    monkeypatch.setenv("SKYVIEWER_GL_BACKENDS", "")  # documented: no GL backend may be tried
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view", str(package_dir), "--offscreen", "--frames", "2"]) == 2
    assert "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri" in capsys.readouterr().err
    assert main(["view", str(package_dir)]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "xvfb-run" in err and "apt-get install libegl1" in err


def test_a_display_that_does_not_answer_is_named_without_a_raw_glfw_warning(package_dir):
    number = next(
        n
        for n in range(90, 1000)
        if not any(Path(f"/tmp/{f}").exists() for f in (f".X11-unix/X{n}", f".X{n}-lock"))
    )
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"} | {"DISPLAY": f":{number}"}
    view = [sys.executable, "-m", "skyviewer", "view", str(package_dir)]
    window = subprocess.run(view, env=env, capture_output=True, text=True, timeout=60)
    assert window.returncode == 2, window.stderr
    assert f"could not open display :{number} (DISPLAY=:{number}): no X server answered" in window.stderr
    assert "xvfb-run" in window.stderr and "--offscreen" in window.stderr
    glfw_only = {**env, "SKYVIEWER_GL_BACKENDS": "glfw"}  # the offscreen fallback's hidden window
    offscreen = subprocess.run(
        [*view, "--offscreen"], env=glfw_only, capture_output=True, text=True, timeout=60
    )
    assert offscreen.returncode == 2, offscreen.stderr
    assert f"glfw: could not open display :{number}" in offscreen.stderr
    for result in (window, offscreen):
        assert "GLFWError" not in result.stderr and "Warning" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback


def test_no_default_package_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVIEWER_PACKAGES", str(tmp_path / "none"))
    monkeypatch.setattr("skyviewer.runtime.package.BUNDLED_DIR", tmp_path / "none")  # an install without it
    assert main(["view", "--offscreen"]) == 2
    err = capsys.readouterr().err
    assert "no default sky package is installed" in err and "skyviewer export" in err


def test_viewer_and_recorder_open_on_one_shared_daytime_start(tmp_path):
    from skyviewer.record import config as record_config
    from skyviewer.record.commands import config_from_args
    from skyviewer.runtime.start import DEFAULT_START, start_from_args
    from skyviewer.sky.solar import solar_position

    assert viewer_module.DEFAULT_START is record_config.DEFAULT_START is DEFAULT_START

    def place_and_start(config):
        return config.latitude_deg, config.longitude_deg, config.start_unix_time

    parser = build_parser()
    view_args = parser.parse_args(["view"])
    record_args = parser.parse_args(["record", "--out", str(tmp_path / "x.mp4")])
    starts = {
        "view CLI": (view_args.lat, view_args.lon, start_from_args(view_args)),
        "ViewerConfig": place_and_start(ViewerConfig()),
        "record CLI": place_and_start(config_from_args(record_args)),
        "RecordConfig": place_and_start(record_config.RecordConfig(out=tmp_path / "y.mp4")),
    }
    default = (DEFAULT_START.latitude_deg, DEFAULT_START.longitude_deg, DEFAULT_START.unix_time())
    assert set(starts.values()) == {default}, starts
    elevation = float(np.atleast_1d(solar_position(*default))[0])
    assert elevation > 30.0  # a daytime sky, whatever the hour the viewer is opened at
    assert abs(start_from_args(parser.parse_args(["view", "--now"])) - time.time()) < 60


def test_viewer_and_recorder_read_the_shared_sky_options_alike(tmp_path):
    from skyviewer.record.commands import config_from_args
    from skyviewer.runtime.options import sky_from_args
    from skyviewer.runtime.start import start_time

    shared = ["--lat", "-33.9", "--lon", "18.4", "--date", "2024-12-21", "--time", "19:30"]
    shared += ["--weather", "windy", "--cirrus-cover", "0.6", "--wind-towards", "200"]
    parser = build_parser()
    view_args = parser.parse_args(["view", *shared])
    record_args = parser.parse_args(["record", "--out", str(tmp_path / "x.mp4"), *shared])
    fields = ("latitude_deg", "longitude_deg", "start_unix_time", "weather")
    view_sky = sky_from_args(view_args)
    record_config = config_from_args(record_args)
    assert view_sky == {name: getattr(record_config, name) for name in fields}
    assert view_sky["start_unix_time"] == start_time("2024-12-21", "19:30", 18.4)
    assert view_sky["weather"].pins()["wind_towards"] == 200.0
    assert view_sky["weather"].preset == "windy" and view_sky["weather"].cirrus_cover == 0.6


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from skyviewer.cli import main
code = main(sys.argv[1:])
assert sys.modules["torch"] is None
sys.exit(code)
"""


def test_cli_offscreen_screenshot_without_torch(package_dir, tmp_path):
    out = tmp_path / "view.png"
    args = ["view", str(package_dir), "--offscreen", "--frames", "20", "--size", "160x90"]
    args += ["--start-utc", "2024-06-21T16:00:00Z", "--screenshot", str(out)]
    command = [sys.executable, "-c", NO_TORCH, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and out.with_suffix(".exr").is_file()
    from PIL import Image

    pixels = np.asarray(Image.open(out)).astype(int)
    assert pixels.shape == (90, 160, 3) and pixels.std() > 5


WINDOW = """
import sys
sys.modules["torch"] = None
from pathlib import Path
from skyviewer.app.runners import run_window
from skyviewer.app.viewer import SkyViewer, ViewerConfig
from skyviewer.runtime import SkyModel
from skyviewer.runtime.weather import PRESETS

model = SkyModel(sys.argv[1])
config = ViewerConfig(start_unix_time=1_718_985_600.0, screenshot_dir=Path(sys.argv[2]))

class Scripted(SkyViewer):  # presses S once the sky has been up for 20 frames, then ESC
    shown = 0
    def on_render(self, time, frame_time):
        super().on_render(time, frame_time)
        self.shown += self.sample is not None
        if self.shown == 20:
            self.on_key("S")
        elif self.shown == 22:
            self.on_key("ESCAPE")

viewer = run_window(lambda ctx, fb: Scripted(ctx, model, fb, config), (320, 180), max_frames=100000)
print(viewer.last_screenshot[0], viewer.frame_index)
"""


def test_window_opens_renders_and_takes_a_screenshot_under_xvfb(package_dir, tmp_path):
    result = run_windowed(WINDOW, str(package_dir), str(tmp_path))
    from PIL import Image

    png = result.stdout.split()[0]
    pixels = np.asarray(Image.open(png)).astype(int)
    assert pixels.shape == (180, 320, 3) and pixels.std() > 5


def test_auto_render_scale_is_dynamic_on_software_gl_and_a_given_one_is_kept(make_viewer):
    auto = make_viewer(hud=False)
    assert auto.dynamic_scale is not None  # llvmpipe
    pump(auto, has_sky, frames=40)
    assert auto.scaled.scale == auto.dynamic_scale.scale
    assert 0.5 <= auto.scaled.scale <= 1.0
    pinned = make_viewer(hud=False, render_scale=0.8)
    pump(pinned, has_sky, frames=40)
    assert pinned.dynamic_scale is None and pinned.scaled.scale == 0.8


def test_the_hud_redraws_a_panel_as_it_was_and_a_changed_one_anew(gl):
    """Panels drawn again reuse their layout and buffer: the pixels must still follow the text."""
    ctx, target = gl
    hud = TextOverlay(ctx, ShaderLibrary(ctx))

    def drawn(text: str) -> np.ndarray:
        target.framebuffer.use()
        target.framebuffer.clear(0.2, 0.4, 0.6, 1.0)
        hud.panel(8, 8, [TextLine(text)])
        hud.draw(target.framebuffer)
        return read_display(target.framebuffer).astype(int)

    first, again = drawn("display 60.0 fps"), drawn("display 60.0 fps")
    changed, back = drawn("display 59.9 fps"), drawn("display 60.0 fps")
    hud.release()
    assert np.array_equal(first, again) and np.array_equal(first, back)
    assert np.abs(changed - first).sum() > 0
