"""RecordConfig: everything one recording depends on (with the package and the seed, it fixes
every frame), and the checks that can fail before anything is written."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from skyviewer.errors import UserError
from skyviewer.runtime.start import DEFAULT_START
from skyviewer.runtime.weather import WeatherSetting

VIEWS = ("camera", "equirect", "fisheye", "cube")
"""camera: a perspective view; equirect: 2:1 full-sphere 360 panorama; fisheye: the canonical
sky image (a fulldome master); cube: the six OpenGL cube-map faces (for engines)."""
FORMATS = ("mp4", "gif", "png", "exr")
"""mp4: H.264 yuv420p video; gif: animated GIF; png: 8-bit image sequence; exr: float32 linear
radiance (nits) image sequence for compositing."""
VIDEO_FORMATS = ("mp4", "gif")
DEFAULT_SIZES = {
    "camera": (1920, 1080),
    "equirect": (2048, 1024),
    "fisheye": (1024, 1024),
    "cube": (512, 512),
}
MAX_SIDE = 8192


@dataclass(frozen=True)
class RecordConfig:
    """One recording: output, view, length, sky time and conditions."""

    out: Path
    """Output file (mp4, gif) or folder (png, exr sequences)."""
    format: str = "mp4"
    """One of FORMATS."""
    view: str = "camera"
    """One of VIEWS."""
    size: tuple[int, int] = (1920, 1080)
    """(width, height) in pixels of the image (of each face for cube)."""
    frames: int = 240
    """Number of frames to write."""
    fps: float = 30.0
    """Frames per second of video time (playback rate; also the exposure adaptation step)."""
    sky_seconds_per_frame: float = 10.0
    """Sky time between consecutive frames: 10 at 30 fps plays the sky 300x faster than life."""
    seed: int = 0
    """Seed of the start sky and of every step's noise: the same seed gives the same frames."""
    start_unix_time: float = DEFAULT_START.unix_time()
    """UTC time of frame 0 (POSIX seconds); the sun follows it, frame i is at start + i * sky s/frame."""
    latitude_deg: float = DEFAULT_START.latitude_deg
    """Observer latitude (sun position), degrees north."""
    longitude_deg: float = DEFAULT_START.longitude_deg
    """Observer longitude (sun position), degrees east."""
    weather: WeatherSetting = WeatherSetting()
    """Weather preset or auto, and pinned conditions (runtime/weather.py; shared with the viewer);
    the free weather is seeded by `seed`, so it too repeats."""
    yaw_deg: float = 180.0
    """camera view: azimuth of the view axis at frame 0, from north towards east."""
    pitch_deg: float = 20.0
    """camera view: elevation of the view axis above the horizon."""
    fov_y_deg: float = 70.0
    """camera view: vertical field of view."""
    pan_deg_per_second: float = 0.0
    """camera view: yaw change per second of video time (a slow pan; positive turns east)."""
    exposure_stops: float | None = None
    """Exposure compensation (EV) on top of auto-exposure; None keeps the renderer's default."""
    exposure_seconds: float = 0.1
    """Auto-exposure time constant in video seconds, brightening and darkening alike. Short,
    unlike the viewer's eye-like 0.4 s / 1.5 s: in a timelapse a video second is hours of sky,
    and a slow exposure would leave the hours after sunrise white; it still smooths flicker."""
    crf: int = 18
    """mp4: x264 constant rate factor (0 lossless .. 51 worst; 18 looks transparent)."""
    preset: str = "veryfast"
    """mp4: x264 speed preset (ultrafast .. veryslow): slower is usually smaller at the same quality.
    On sky timelapses veryfast matched medium (43.3 vs 43.4 dB PSNR at crf 18, a smaller file)
    at 1.25-1.5x the speed (docs/recording.md), so it is the default; with it the writer also
    turns down two searches a slowly drifting sky does not need (writers.SKY_X264_TUNING)."""
    keyframe_seconds: float = 1.0
    """mp4: keyframe (and fragment) interval: a killed recording loses at most this much video."""
    overwrite: bool = False
    """Replace an existing output instead of refusing."""
    scene: bool = False
    """Draw the look-dev scene lit by the sky (render/scene.py) over the sky."""

    @property
    def sky_seconds(self) -> float:
        """Sky time the whole recording spans."""
        return self.frames * self.sky_seconds_per_frame

    def check(self) -> None:
        """Raise UserError for any option that cannot work, before anything is rendered."""
        width, height = self.size
        problems = [
            (self.format in FORMATS, f"--format must be one of {', '.join(FORMATS)}"),
            (self.view in VIEWS, f"--view must be one of {', '.join(VIEWS)}"),
            (self.frames >= 1, "--frames must be at least 1"),
            (0 < self.fps <= 240, "--fps must be in (0, 240]"),
            (self.sky_seconds_per_frame >= 0, "--sky-seconds-per-frame must be >= 0"),
            (
                16 <= min(width, height) and max(width, height) <= MAX_SIDE,
                f"--size: sides in [16, {MAX_SIDE}]",
            ),
            (0 < self.fov_y_deg < 180, "--fov must be in (0, 180)"),
            (-90 <= self.latitude_deg <= 90, "--lat must be in [-90, 90]"),
            (0 <= self.crf <= 51, "--crf must be in [0, 51]"),
            (self.keyframe_seconds > 0, "--keyframe-seconds must be > 0"),
            (self.exposure_seconds > 0, "--exposure-seconds must be > 0"),
        ]
        for ok, message in problems:
            if not ok:
                raise UserError(message)
        try:
            self.weather.pins()
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if self.format == "mp4" and (width % 2 or height % 2):
            raise UserError(f"--size {width}x{height}: H.264 yuv420p needs even width and height")
        if self.view == "equirect" and width != 2 * height:
            raise UserError(
                f"--size {width}x{height}: an equirect panorama is 2:1 (e.g. {2 * height}x{height})"
            )
        if self.view in ("fisheye", "cube") and width != height:
            raise UserError(f"--size {width}x{height}: the {self.view} view is square")
        if self.view == "cube" and self.format in VIDEO_FORMATS:
            raise UserError("--view cube writes six images per frame: use --format png or exr")

    def yaw_at(self, frame_index: int) -> float:
        """Camera yaw of a frame (the pan runs in video time)."""
        return math.fmod(self.yaw_deg + self.pan_deg_per_second * frame_index / self.fps, 360.0)
