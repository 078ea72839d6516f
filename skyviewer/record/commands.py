"""`skyviewer record`: sky timelapses as MP4, GIF, PNG or EXR; camera, 360 equirect, fisheye
dome or cube-map faces; headless (EGL) and deterministic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skyviewer.errors import UserError
from skyviewer.models import DEFAULT_PACKAGE
from skyviewer.runtime.weather import checked_pins


def register(subparsers) -> None:
    from skyviewer.record.config import FORMATS, VIEWS, RecordConfig
    from skyviewer.runtime.options import add_sky_options

    p = subparsers.add_parser(
        "record",
        help="record a sky timelapse (mp4, gif, png or exr; camera, 360 equirect, fisheye, cube)",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("package", nargs="?", default=DEFAULT_PACKAGE, help="sky package name or path")
    p.add_argument(
        "--out", "-o", required=True, type=Path, help="output file (.mp4, .gif) or folder (png, exr)"
    )
    p.add_argument("--format", choices=FORMATS, help="default: from the --out suffix (.mp4, .gif)")
    p.add_argument("--view", choices=VIEWS, default="camera", help="what each frame shows")
    p.add_argument(
        "--size",
        help="WIDTHxHEIGHT (default: 1920x1080 camera, 2048x1024 equirect, 1024x1024 "
        "fisheye, 512x512 per cube face)",
    )
    length = p.add_argument_group("length and time")
    length.add_argument("--frames", type=int, help="number of frames (default: 10 s of video)")
    length.add_argument("--duration", type=float, help="video seconds (frames = duration x fps)")
    length.add_argument("--fps", type=float, default=30.0, help="video frames per second")
    length.add_argument("--sky-seconds-per-frame", type=float, default=10.0, help="sky time between frames")
    length.add_argument(
        "--sweep-hours",
        type=float,
        help="span this many hours of sky time over the "
        "whole recording (24: a day-long sweep of the sun); sets --sky-seconds-per-frame",
    )
    sky = p.add_argument_group("sky")
    sky.add_argument("--seed", type=int, default=0, help="same seed and options, same frames")
    sky.add_argument("--exposure", type=float, help="EV on top of auto-exposure (default: the viewer's +1.5)")
    sky.add_argument(
        "--exposure-seconds", type=float, default=0.1, help="auto-exposure time constant (video s)"
    )
    add_sky_options(p)
    cam = p.add_argument_group("camera view")
    cam.add_argument("--yaw", type=float, default=180.0, help="view azimuth (deg from north towards east)")
    cam.add_argument("--pitch", type=float, default=20.0, help="view elevation (deg)")
    cam.add_argument("--fov", type=float, default=70.0, help="vertical field of view (deg)")
    cam.add_argument("--pan", type=float, default=0.0, help="pan speed, deg per video second (+ turns east)")
    enc = p.add_argument_group("mp4 encoding")
    enc.add_argument("--crf", type=int, default=18, help="x264 quality (lower is better and larger)")
    enc.add_argument("--preset", default=RecordConfig.preset, help="x264 speed preset")
    enc.add_argument("--keyframe-seconds", type=float, default=1.0, help="keyframe and fragment interval")
    p.add_argument("--scene", action="store_true", help="draw the look-dev scene lit by the sky")
    p.add_argument("--sim", action="store_true", help="record the SkySim simulator instead of a package")
    p.add_argument(
        "--sim-px",
        type=int,
        default=256,
        help="with --sim: SkySim's fisheye side in pixels (1024 to compare with a format-3 package's "
        "1,024 px decode; ~4x the time per frame of 256)",
    )
    p.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto, cpu, cuda, tensorrt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_record)


def config_from_args(args: argparse.Namespace):
    """RecordConfig of the command line (raises UserError for contradictory options)."""
    from skyviewer.record.config import DEFAULT_SIZES, RecordConfig
    from skyviewer.render.targets import parse_size
    from skyviewer.runtime.options import sky_from_args

    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in ("mp4", "gif") and args.format is None:
        raise UserError(
            f"--out {args.out}: say --format (png, exr) for an image sequence, or end it in .mp4/.gif"
        )
    if args.frames is not None and args.duration is not None:
        raise UserError("give --frames or --duration, not both")
    frames = args.frames if args.frames is not None else round((args.duration or 10.0) * args.fps)
    sky_seconds = args.sky_seconds_per_frame
    if args.sweep_hours is not None:
        sky_seconds = args.sweep_hours * 3600.0 / max(frames, 1)
    return RecordConfig(
        out=args.out, format=fmt, view=args.view,
        size=parse_size(args.size) if args.size else DEFAULT_SIZES[args.view],
        frames=frames, fps=args.fps, sky_seconds_per_frame=sky_seconds, seed=args.seed,
        **sky_from_args(args),
        yaw_deg=args.yaw, pitch_deg=args.pitch, fov_y_deg=args.fov, pan_deg_per_second=args.pan,
        exposure_stops=args.exposure, exposure_seconds=args.exposure_seconds,
        crf=args.crf, preset=args.preset, keyframe_seconds=args.keyframe_seconds, overwrite=args.overwrite,
        scene=args.scene,
    )  # fmt: skip


def sim_model(config, resolution: int):
    """SkySim at the recording's place and start time, one sim frame per video frame; the weather's
    pins set its clouds and wind, which stay fixed (SkySim has no weather of its own)."""
    from datetime import datetime, timezone

    from skyviewer.data.skysim import SimConfig
    from skyviewer.record.sim_model import SimSkyModel

    start = datetime.fromtimestamp(config.start_unix_time, timezone.utc).isoformat()
    pins = config.weather.pins()
    weather = {
        "cloud_cover": pins.get("cloud_cover", SimConfig.cloud_cover),
        "cirrus_cover": pins.get("cirrus_cover", SimConfig.cirrus_cover),
        "wind_speed_mps": pins.get("wind_speed", SimConfig.wind_speed_mps),
        "wind_towards_deg": pins.get("wind_towards", SimConfig.wind_towards_deg),
    }
    try:
        sim = SimConfig(
            resolution=resolution,
            latitude_deg=config.latitude_deg,
            longitude_deg=config.longitude_deg,
            start_utc=start,
            step_seconds=config.sky_seconds_per_frame or 10.0,
            **weather,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return SimSkyModel(sim)


def load_model(package: str, providers: str):
    """The SkyModel of a package; a clear message when the default package is not installed."""
    from skyviewer.runtime.model import SkyModel
    from skyviewer.runtime.package import PackageError, search_dirs

    try:
        return SkyModel(package, providers=providers)
    except PackageError as exc:
        if package == DEFAULT_PACKAGE and "no such package" in str(exc):
            where = ", ".join(str(d) for d in search_dirs())
            raise UserError(
                f"no default sky package is installed (looked in {where}); pass a package "
                "path or name: skyviewer record models/mysky --out sky.mp4"
            ) from None
        raise


def run_record(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from skyviewer.record.recorder import record

    config = config_from_args(args)
    config.check()  # option errors before the model loads
    if args.sim and args.package != DEFAULT_PACKAGE:
        raise UserError("give a PACKAGE or --sim, not both")
    model = sim_model(config, args.sim_px) if args.sim else load_model(args.package, args.providers)
    if not args.sim:
        try:
            _, notes = checked_pins(model, config.weather)
        except ValueError as exc:
            raise UserError(f"{args.package}: {exc}") from None
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    with tqdm(total=config.frames, unit="frame", disable=args.quiet, file=sys.stderr) as bar:
        try:
            result = record(config, model, progress=lambda n: bar.update(n - bar.n))
        except OSError as exc:  # a full disk or a vanished folder mid-recording
            raise UserError(
                f"{config.out}: {exc.strerror or exc}; the frames so far are in the .partial output"
            ) from None
    if not result.complete:
        print(f"interrupted: wrote {result.frames} frames to {result.path}")
        return 130
    fps = result.frames / max(result.seconds, 1e-9)
    print(
        f"wrote {result.frames} frames ({config.size[0]}x{config.size[1]} {config.view}, "
        f"{result.frames / config.fps:.1f} s of video, {config.sky_seconds / 3600:.2f} h of sky) "
        f"to {result.path} in {result.seconds:.1f} s ({fps:.1f} frames/s)"
    )
    return 0
