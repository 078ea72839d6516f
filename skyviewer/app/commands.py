"""`skyviewer view`: the real-time viewer (a glfw window, or offscreen with EGL).

    skyviewer view                                   # the bundled default sky, forever
    skyviewer view models/mysky --sky-rate 120 --seed 3
    skyviewer view tiny --offscreen --frames 120 --screenshot out.png

moderngl, glfw and onnxruntime are imported inside the handler; torch never is.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from skyviewer.errors import UserError
from skyviewer.models import DEFAULT_PACKAGE
from skyviewer.runtime.weather import checked_pins

NO_DEFAULT_HINT = (
    "no default sky package is installed (skyviewer/models/default is missing from this install). "
    "Make one from trained runs with `skyviewer export RUNS/START RUNS/STEP --data DATASET "
    "--out models/default` (README: Training, Sky packages), or pass a package: "
    "skyviewer view PATH_OR_NAME"
)


def register(subparsers) -> None:
    from skyviewer.runtime.options import add_sky_options

    p = subparsers.add_parser("view", help="the real-time sky viewer (window, or --offscreen)")
    p.add_argument("package", nargs="?", help="package name, folder or .zip (default: the bundled default)")
    p.add_argument("--offscreen", action="store_true", help="render headless with EGL (no window)")
    p.add_argument("--frames", type=int, help="stop after N frames (offscreen default: 120)")
    p.add_argument("--size", default="1280x720", help="window / image size WxH (default 1280x720)")
    p.add_argument("--sky-rate", type=float, default=60.0, help="sky seconds per wall second (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first sky (default 0)")
    p.add_argument("--yaw", type=float, default=180.0, help="initial view azimuth from north, degrees")
    p.add_argument("--pitch", type=float, default=20.0, help="initial view elevation, degrees")
    p.add_argument("--fov", type=float, default=70.0, help="initial vertical field of view, degrees")
    p.add_argument("--scene", action="store_true", help="show the look-dev scene lit by the sky (L toggles)")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (TAB toggles)")
    p.add_argument("--help-overlay", action="store_true", help="start with the key help shown (H toggles)")
    p.add_argument("--screenshot", type=Path, help="write the last frame here (PNG, + .exr of the HDR sky)")
    p.add_argument("--screenshot-dir", type=Path, default=Path("screenshots"), help="where S writes")
    p.add_argument(
        "--render-scale",
        type=float,
        help="dome resolution as a fraction of the window's, 0.1-1 (default: 1 on a GPU; on software GL "
        "dynamic from 0.75, between 0.5 and 1, to hold 60 fps)",
    )
    p.add_argument("--providers", default="auto", help="auto, cpu, cuda or tensorrt (default: auto)")
    place = add_sky_options(p)
    place.add_argument(
        "--start-utc", help="UTC of the first frame, e.g. 2024-06-21T16:00:00Z (instead of --date, --time)"
    )
    p.set_defaults(run=view)


def parse_utc(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--start-utc {text!r}: expected ISO 8601, e.g. 2024-06-21T16:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def load_model(package: str | None, providers: str):
    from skyviewer.runtime.model import SkyModel
    from skyviewer.runtime.package import PackageError

    try:
        # The renderer shares the cores (llvmpipe without a GPU): the model's threads sleep between
        # operators (runtime.model.session_options).
        return SkyModel(package or DEFAULT_PACKAGE, providers=providers, spinning=False)
    except PackageError as exc:
        if package is None and "no such package" in str(exc):
            raise UserError(NO_DEFAULT_HINT) from None
        raise UserError(str(exc)) from None


def view(args: argparse.Namespace) -> int:
    from skyviewer.app.interop import upload_path
    from skyviewer.app.runners import OffscreenRun, run_offscreen, run_window
    from skyviewer.app.viewer import SkyViewer, ViewerConfig
    from skyviewer.render.camera import Camera
    from skyviewer.render.targets import parse_size
    from skyviewer.runtime.options import sky_from_args

    size = parse_size(args.size)
    if args.screenshot and not args.offscreen:
        raise UserError("--screenshot needs --offscreen (in a window, press S)")
    if args.render_scale is not None and not 0.1 <= args.render_scale <= 1.0:
        raise UserError(f"--render-scale {args.render_scale}: expected a fraction in [0.1, 1]")
    if args.now and args.start_utc:
        raise UserError("give --now or --start-utc, not both")
    sky = sky_from_args(args)
    if args.start_utc:
        sky["start_unix_time"] = parse_utc(args.start_utc)
    config = ViewerConfig(
        **sky,
        sky_rate=args.sky_rate,
        seed=args.seed,
        camera=Camera(args.yaw, args.pitch, args.fov),
        screenshot_dir=args.screenshot_dir,
        hud=not args.no_hud,
        scene=args.scene,
        render_scale=args.render_scale,
    )
    model = load_model(args.package, args.providers)
    try:
        _, notes = checked_pins(model, config.weather)
    except ValueError as exc:
        raise UserError(f"{args.package or DEFAULT_PACKAGE}: {exc}") from None
    for note in notes:
        print(f"note: {note}")

    def factory(ctx, framebuffer):
        viewer = SkyViewer(ctx, model, framebuffer, config, upload_path=upload_path(model, ctx))
        viewer.help_visible = args.help_overlay
        return viewer

    if args.offscreen:
        viewer = run_offscreen(factory, size, OffscreenRun(frames=args.frames or 120), args.screenshot)
    else:
        viewer = run_window(factory, size, max_frames=args.frames)
    for path in viewer.last_screenshot or ():
        print(f"wrote {path}")
    if viewer.error:
        print(f"model error: {viewer.error}")
    return 0
