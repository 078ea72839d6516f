"""SkyViewer: the viewer as an app class, independent of the window system.

moderngl-window habit: the host calls `on_render(time, frame_time)` once per displayed frame,
with time passed in explicitly (a glfw window passes its clock, the offscreen runner a fixed
step), and forwards input to `on_key(name)`, `on_mouse_drag(dx, dy)` and `on_scroll(dy)`.
The viewer draws the dome and the HUD into `framebuffer`; model steps happen on a SkyWorker
thread, and the render path only uploads and draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter

import moderngl
import numpy as np

from skyviewer.app.feed import SkyFeed
from skyviewer.app.hud import TextLine, TextOverlay
from skyviewer.app.weather import WeatherControl
from skyviewer.app.worker import SkyWorker
from skyviewer.render.camera import Camera
from skyviewer.render.context import finish
from skyviewer.render.dome import DomeRenderer, DomeSettings, DomeView
from skyviewer.render.exposure import AutoExposure
from skyviewer.render.files import write_exr, write_png
from skyviewer.render.shaders import ShaderLibrary
from skyviewer.render.targets import read_display
from skyviewer.render.upscale import DynamicScale, ScaledRender, auto_render_scale, render_dome, software_gl
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.start import DEFAULT_START
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkySample
from skyviewer.runtime.weather import WeatherSetting

RED = (1.0, 0.35, 0.3, 1.0)
GREY = (0.75, 0.8, 0.85, 1.0)

KEYS = (  # (key name as glfw spells it after KEY_, label, action, help text)
    ("SPACE", "space", "pause", "pause / resume sky time"),
    ("PERIOD", ".", "faster", "sky time 2x faster"),
    ("COMMA", ",", "slower", "sky time 2x slower"),
    ("R", "R", "reseed", "new sky (next seed)"),
    ("EQUAL", "=", "brighter", "exposure +0.5 EV"),
    ("MINUS", "-", "darker", "exposure -0.5 EV"),
    ("A", "A", "auto_exposure", "auto exposure on / off (off holds the key)"),
    ("RIGHT_BRACKET", "]", "later", "time of day +1 h (new sky)"),
    ("LEFT_BRACKET", "[", "earlier", "time of day -1 h (new sky)"),
    ("C", "C", "more_cloud", "cloud cover +0.1 (pins it; if the package has it)"),
    ("X", "X", "less_cloud", "cloud cover -0.1"),
    ("UP", "up", "more_wind", "wind speed +2 m/s (pins it; if the package has wind)"),
    ("DOWN", "down", "less_wind", "wind speed -2 m/s"),
    ("RIGHT", "right", "wind_right", "wind direction +15 deg (clockwise)"),
    ("LEFT", "left", "wind_left", "wind direction -15 deg"),
    ("P", "P", "preset", "next weather preset (clear, fair, cloudy, overcast, windy)"),
    ("W", "W", "weather", "weather free (drifts) / pinned at what is shown"),
    ("F", "F", "fullscreen", "fullscreen on / off"),
    ("S", "S", "screenshot", "PNG of the view + EXR of the HDR sky"),
    ("L", "L", "scene", "look-dev scene (spheres and ground lit by the sky) on / off"),
    ("TAB", "tab", "hud", "HUD on / off"),
    ("H", "H", "help", "this help"),
    ("ESCAPE", "esc", "quit", "quit"),
)
"""Every key the viewer handles; the help overlay and docs/viewer.md list the same."""


@dataclass
class ViewerConfig:
    """What the viewer starts with (the command-line options)."""

    sky_rate: float = 60.0
    """Sky seconds per wall second (60: a sky minute per second)."""
    seed: int = 0
    """Seed of the first sky; R moves to the next."""
    latitude_deg: float = DEFAULT_START.latitude_deg
    """Observer latitude, north positive (drives the sun)."""
    longitude_deg: float = DEFAULT_START.longitude_deg
    """Observer longitude, east positive."""
    start_unix_time: float = DEFAULT_START.unix_time()
    """UTC time of the first frame, POSIX seconds (default: the recorder's daytime start too)."""
    weather: WeatherSetting = WeatherSetting()
    """Weather preset or auto, and pinned conditions (runtime/weather.py; shared with the recorder)."""
    camera: Camera = Camera(yaw_deg=180.0, pitch_deg=20.0, fov_y_deg=70.0)
    """Initial view: towards the south, a little above the horizon."""
    screenshot_dir: Path = Path("screenshots")
    """Where S writes screenshots."""
    hud: bool = True
    """Show the HUD (TAB toggles)."""
    lookahead: int = 2
    """Model frames the worker keeps ready beyond the one being shown."""
    scene: bool = False
    """Show the look-dev scene lit by the sky (L toggles; render/scene.py)."""
    render_scale: float | None = None
    """Dome resolution as a fraction of the window's (the HUD stays full resolution); None: auto,
    1 on a GPU; on a software rasteriser such as llvmpipe, dynamic from 0.75, between 0.5 and 1,
    to hold 60 fps (render/upscale.py DynamicScale)."""


HUD_FIGURES_EVERY_S = 0.25
"""The HUD's running figures (fps, step time, the sky's clock) refresh this often, as frame counters
do: between refreshes the panel is unchanged and its layout is reused (app/hud.py), instead of
laying out ~200 glyphs in Python every frame. Every state change (a key, an error) shows at once."""


class SkyViewer:
    """The sky dome fed by a SkyModel on a worker thread, with a HUD; see the module docstring."""

    def __init__(
        self,
        ctx: moderngl.Context,
        model: SkyModel,
        framebuffer: moderngl.Framebuffer,
        config: ViewerConfig | None = None,
        upload_path: str = "host copy",
    ) -> None:
        """upload_path: how frames reach the GL texture, for the HUD (see app.interop)."""
        config = config or ViewerConfig()
        self.ctx, self.model, self.framebuffer, self.config = ctx, model, framebuffer, config
        self.upload_path = upload_path
        shaders = ShaderLibrary(ctx)
        self.dome = DomeRenderer(ctx, model.resolution, DomeSettings(), shaders)
        self.hud = TextOverlay(ctx, shaders, size_px=max(13, round(framebuffer.size[1] / 42)))
        scale = config.render_scale or auto_render_scale(ctx)
        dynamic = config.render_scale is None and software_gl(ctx)
        self.dynamic_scale = DynamicScale(scale) if dynamic else None
        self.scaled = ScaledRender(ctx, shaders, scale) if scale < 1 or dynamic else None
        self.camera = config.camera
        self.sky_rate = config.sky_rate
        self.seed = config.seed
        self.paused, self.hud_visible, self.help_visible = False, config.hud, False
        self.auto_exposure, self.auto = True, AutoExposure()
        self.weather = WeatherControl(model.manifest["conditions"], config.weather)
        clock = SunClock(config.latitude_deg, config.longitude_deg, config.start_unix_time)
        self.worker = SkyWorker(model, clock, config.seed, self.weather.pins, lookahead=config.lookahead)
        self.weather.worker = self.worker
        self.shaders = shaders
        self.lighting, self.scene = None, None
        self.feed = SkyFeed(self.worker, self._upload)
        if config.scene:
            self._do_scene()
        self.sample: SkySample | None = None
        self.frame_index = 0
        self.fps = 0.0
        self._figures: tuple[float, float, float, float, float] | None = None  # (at, ...) for the HUD
        self.quit_requested = self.fullscreen_requested = False
        self.last_screenshot: tuple[Path, Path] | None = None
        self._screenshot_to: Path | None = None
        self.worker.start()

    # ------------------------------------------------------------ state the HUD shows

    @property
    def error(self) -> str | None:
        """The worker's current model error, if any (also on the HUD)."""
        return self.worker.stats().error

    @property
    def package_name(self) -> str:
        return self.model.manifest["name"]

    # ------------------------------------------------------------ per frame

    def on_render(self, time: float, frame_time: float) -> None:
        """Draw one frame: `time` the host's clock (s), `frame_time` the seconds since the last."""
        drawing_since = perf_counter()
        if frame_time > 0:
            self.fps = 1 / frame_time if not self.fps else 0.9 * self.fps + 0.1 / frame_time
        self.sample = self.feed.update(0.0 if self.paused else frame_time * self.sky_rate)
        if self.sample is None:
            self.framebuffer.use()
            self.framebuffer.clear(0.02, 0.02, 0.03, 1.0)
        else:
            view = self._view(self.sample, frame_time)
            render_dome(self.dome, self.framebuffer, view, self.scaled, self.scene, self.lighting)
        if self.hud_visible:
            self._queue_hud(time)
        if self.help_visible:
            self._queue_help()
        self.hud.draw(self.framebuffer)
        if self.dynamic_scale is not None and self.sample is not None:
            finish(self.ctx)  # the draw time, as a software rasteriser spends it (its swap waits anyway)
            self.scaled.scale = self.dynamic_scale.update(perf_counter() - drawing_since)
        self.frame_index += 1
        if self._screenshot_to is not None:
            self.screenshot(self._screenshot_to)
            self._screenshot_to = None

    def _view(self, sample: SkySample, frame_time: float) -> DomeView:
        if self.auto_exposure or self.auto.key_nits is None:
            key = self.auto.update(self.dome.scene_key_nits(sample.blend), frame_time)
        else:
            key = self.auto.key_nits
        return DomeView(
            self.camera,
            key_nits=key,
            sun_direction=tuple(float(v) for v in sample.sun_dir),
            blend=sample.blend,
            frame_index=self.frame_index,
        )

    # ------------------------------------------------------------ input

    def on_key(self, name: str) -> bool:
        """Handle a key by its glfw name (KEYS); False if the viewer does not use it."""
        action = next((a for k, _, a, _ in KEYS if k == name), None)
        if action is None:
            return False
        getattr(self, f"_do_{action}")()
        return True

    def on_mouse_drag(self, dx: float, dy: float) -> None:
        """Mouse look: dx, dy in pixels; a drag across the window height turns by the FOV."""
        deg_per_px = self.camera.fov_y_deg / self.framebuffer.size[1]
        pitch = min(max(self.camera.pitch_deg + dy * deg_per_px, -89.9), 89.9)
        yaw = (self.camera.yaw_deg - dx * deg_per_px) % 360
        self.camera = replace(self.camera, yaw_deg=yaw, pitch_deg=pitch)

    def on_scroll(self, dy: float) -> None:
        """Zoom: each scroll notch narrows (dy > 0) or widens the field of view by 10%."""
        fov = self.camera.fov_y_deg * 0.9 ** float(dy)
        self.camera = replace(self.camera, fov_y_deg=min(max(fov, 5.0), 150.0))

    def _upload(self, frame) -> None:
        """A new model frame: to the dome's texture, and its lighting baked when the scene shows."""
        self.dome.push_frame(frame.radiance)
        if self.lighting is not None:
            self.lighting.push(self.dome.sky.next, frame.sun_dir)

    def _do_scene(self):
        from skyviewer.render.lighting import SkyLighting
        from skyviewer.render.scene import LookDevScene

        if self.scene is not None:
            self.scene.release()
            self.lighting.release()
            self.scene = self.lighting = None
            return
        self.lighting = SkyLighting(self.ctx, self.model.resolution, shaders=self.shaders)
        self.scene = LookDevScene(self.ctx, self.shaders)
        if self.feed.pair is not None:  # both frames on the GPU already: bake them
            for frame, texture in zip(self.feed.pair, (self.dome.sky.prev, self.dome.sky.next), strict=True):
                self.lighting.push(texture, frame.sun_dir)

    def _do_pause(self):
        self.paused = not self.paused

    def _do_faster(self):
        self.sky_rate *= 2

    def _do_slower(self):
        self.sky_rate /= 2

    def _do_reseed(self):
        self.seed += 1
        self._restart(0.0)

    def _do_brighter(self):
        self._exposure(+0.5)

    def _do_darker(self):
        self._exposure(-0.5)

    def _do_auto_exposure(self):
        self.auto_exposure = not self.auto_exposure

    def _do_later(self):
        self._restart(+3600.0)

    def _do_earlier(self):
        self._restart(-3600.0)

    def _do_more_cloud(self):
        self.weather.nudge("cloud_cover", +0.1, self.weather_shown())

    def _do_less_cloud(self):
        self.weather.nudge("cloud_cover", -0.1, self.weather_shown())

    def _do_more_wind(self):
        self.weather.nudge("wind_speed", +2.0, self.weather_shown())

    def _do_less_wind(self):
        self.weather.nudge("wind_speed", -2.0, self.weather_shown())

    def _do_wind_right(self):
        self.weather.nudge("wind_towards", +15.0, self.weather_shown())

    def _do_wind_left(self):
        self.weather.nudge("wind_towards", -15.0, self.weather_shown())

    def _do_preset(self):
        self.weather.next_preset()

    def _do_weather(self):
        self.weather.toggle(self.weather_shown())

    def _do_fullscreen(self):
        self.fullscreen_requested = not self.fullscreen_requested

    def _do_screenshot(self):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        name = f"{self.package_name}-{stamp}-{self.frame_index}.png"
        self._screenshot_to = self.config.screenshot_dir / name

    def _do_hud(self):
        self.hud_visible = not self.hud_visible

    def _do_help(self):
        self.help_visible = not self.help_visible

    def _do_quit(self):
        self.quit_requested = True

    def _exposure(self, stops: float) -> None:
        ev = self.dome.settings.exposure_stops + stops
        self.dome.settings = replace(self.dome.settings, exposure_stops=ev)

    def weather_shown(self) -> dict[str, float]:
        """The conditions of the newer frame on screen (cloud_cover, wind_speed, ...)."""
        return self.sample.next.conditions if self.sample else {}

    def _restart(self, jump_seconds: float) -> None:
        """A new timeline from the time on screen (+ jump): time only runs forward in one."""
        now = self.sample.unix_time if self.sample else self.config.start_unix_time
        clock = SunClock(self.config.latitude_deg, self.config.longitude_deg, now + jump_seconds)
        self.worker.restart(clock, self.seed)

    # ------------------------------------------------------------ output

    def screenshot(self, png_path: Path) -> tuple[Path, Path]:
        """Write what is on screen now as PNG, and the raw HDR fisheye sky frame (the two model
        frames blended as displayed, nits) as EXR next to it; returns both paths."""
        png_path = Path(png_path)
        write_png(png_path, read_display(self.framebuffer))
        exr_path = png_path.with_suffix(".exr")
        if self.sample is not None:
            write_exr(exr_path, self.sky_radiance())
        self.last_screenshot = (png_path, exr_path)
        return self.last_screenshot

    def sky_radiance(self) -> np.ndarray:
        """The fisheye sky on screen, float32 (N, N, 3) nits: both frames blended as displayed."""
        s = self.sample
        prev, nxt = (f.radiance.astype(np.float32) for f in (s.previous, s.next))
        return prev + (nxt - prev) * np.float32(s.blend)

    def close(self) -> None:
        self.worker.stop()
        self.dome.release()
        self.hud.release()
        if self.scene is not None:
            self._do_scene()  # releases it
        if self.scaled is not None:
            self.scaled.release()

    # ------------------------------------------------------------ HUD

    def _running_figures(self, clock: float) -> tuple[float, float, float, float]:
        """(display fps, step ms, steps/s, the sky's unix time) as the HUD shows them: refreshed
        every HUD_FIGURES_EVERY_S of the host's clock, so that in between the panel is the same."""
        held = self._figures
        if held is None or not 0.0 <= clock - held[0] < HUD_FIGURES_EVERY_S:
            stats = self.worker.stats()
            unix = self.sample.unix_time if self.sample else self.config.start_unix_time
            self._figures = held = (clock, self.fps, stats.step_ms, stats.steps_per_s, unix)
        return held[1:]

    def _queue_hud(self, clock: float) -> None:
        stats = self.worker.stats()
        provider = stats.provider.removesuffix("ExecutionProvider")
        fps, step_ms, steps_per_s, unix = self._running_figures(clock)
        lines = [
            TextLine(f"skyviewer  {self.package_name}" + ("   [paused]" if self.paused else "")),
            TextLine(
                f"display {fps:.1f} fps   step {step_ms:.1f} ms   "
                f"{steps_per_s:.1f} steps/s   {provider}, {self.upload_path}"
                + (f"   dome x{self.scaled.scale:g}" if self.scaled else "")
            ),
            TextLine(self._sky_line(unix), GREY),
            TextLine(self.weather.hud_line(self.weather_shown()), GREY),
        ]
        if stats.error:
            lines.append(TextLine(f"model error: {stats.error}"[:120], RED))
            lines.append(TextLine("showing the last good sky; retrying", RED))
        elif self.sample is None:
            lines.append(TextLine("starting the sky...", GREY))
        self.hud.panel(8, 8, lines)

    def _sky_line(self, unix: float) -> str:
        utc = datetime.fromtimestamp(unix, timezone.utc)
        solar = datetime.fromtimestamp(unix + self.config.longitude_deg * 240.0, timezone.utc)
        ev = self.dome.settings.exposure_stops
        exposure = f"EV {ev:+.1f} {'auto' if self.auto_exposure else 'held'}"
        return (
            f"sky {utc:%Y-%m-%d %H:%M} UTC (solar {solar:%H:%M})   x{self.sky_rate:g}   "
            f"seed {self.seed}   {exposure}   H: help"
        )

    def _queue_help(self) -> None:
        lines = [TextLine(f"{label}\t{text}") for _, label, _, text in KEYS]
        lines += [TextLine("drag\tlook around"), TextLine("scroll\tzoom")]
        w, h = self.framebuffer.size
        width, height = self.hud.measure(lines)
        self.hud.panel(max(8.0, (w - width) / 2), max(8.0, (h - height) / 2), lines)
