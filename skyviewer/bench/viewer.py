"""Viewer benchmark sections of `skyviewer bench` ('render', 'model') and `--soak`.

Registered into skyviewer.bench's SECTIONS when that package imports this module. torch is imported
only inside the 'model' section (its eager baseline) and when a package has to be built from
untrained nets: bench is a development tool, not part of the runtime.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import math
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from skyviewer.bench import Row, frames_per_second, section

DISPLAY_SIZES = ((1280, 720), (1920, 1080))
SKY_SIZES = (64, 128, 256)
DEMANDED_STEPS_PER_S = 20
"""Model steps per wall second the viewer is asked for in the 'model' section with a format-2
package (its CPU target). A format-3 package is asked for what the viewer's default sky rate needs
(x60 at 20 s steps: 3 steps/s): each of its steps decodes a 1,024 px frame."""
RENDER_SCALES = (1.0, 0.75)
"""Full-resolution dome, and the scaled dome the viewer uses on software GL (render/upscale.py)."""
NO_TWIN_FORMAT_3 = (
    "format 3: bench/twin.py rebuilds format-2 start/step nets; a format-3 step is weightless arithmetic"
    " and its cost is the decoders'"
)
BENCH_START = 1_718_985_600.0  # 2024-06-21 16:00 UTC, sun up at the default place


def bench_package(args: argparse.Namespace) -> tuple[Path, str]:
    """(package path, where it came from): --package, else a package exported from the cpu
    preset's untrained nets into a temp dir (same graph and size as a trained one, not its look)."""
    if args.package:
        return Path(args.package), f"package {args.package}"
    from skyviewer.export.package import PackageInfo, export_package
    from skyviewer.train.config import preset
    from skyviewer.train.onnx_export import build_generator
    from skyviewer.train.run import save_snapshot

    root = Path(tempfile.mkdtemp(prefix="skyviewer-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # the package lives as long as the run
    snapshots = []
    for model in ("start", "step"):
        cfg = preset(model, "cpu")
        run = root / f"00000-{model}-cpu"
        run.mkdir(parents=True)
        snapshots.append(save_snapshot(run, cfg, 0, build_generator(cfg).state_dict()))
    info = PackageInfo(name="bench", licence="CC0-1.0", step_seconds=30.0, training_data="none (untrained)")
    export_package(snapshots, root / "bench", info, fp16=False, make_zip=False)
    return root / "bench", "untrained cpu-preset nets exported to a temp dir (no trained default yet)"


def _smooth_sky(n: int, seed: int) -> np.ndarray:
    """A plausible (N, N, 3) float16 sky in nits for render timing: blue gradient + soft blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    blobs = sum(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.01) for cx, cy in rng.random((6, 2)))
    sky = np.stack([2000 + 8000 * blobs, 3500 + 8000 * blobs, 6000 + 7000 * blobs], axis=-1)
    return sky.astype(np.float16)


@section("render")
def bench_render(args: argparse.Namespace) -> list[Row]:
    """Display frames/s of dome + HUD, offscreen EGL, a new sky frame uploaded every 6th frame
    (10 steps/s at 60 fps), glFinish after each frame as a buffer swap would."""
    from skyviewer.app.hud import TextOverlay
    from skyviewer.render.context import create_offscreen_context, release_context
    from skyviewer.render.dome import DomeRenderer
    from skyviewer.render.shaders import ShaderLibrary
    from skyviewer.render.targets import OffscreenTarget
    from skyviewer.render.upscale import ScaledRender

    ctx = create_offscreen_context()
    shaders, rows = ShaderLibrary(ctx), []
    skies = {n: [_smooth_sky(n, s) for s in range(2)] for n in SKY_SIZES}
    for size in DISPLAY_SIZES:
        target = OffscreenTarget(ctx, size, hdr=False)
        hud = TextOverlay(ctx, shaders, size_px=round(size[1] / 42))
        for n, scale in itertools.product(SKY_SIZES, RENDER_SCALES):
            dome = DomeRenderer(ctx, n, shaders=shaders)
            scaled = ScaledRender(ctx, shaders, scale) if scale < 1 else None
            fps, frames = _display_fps(ctx, target.framebuffer, dome, hud, skies[n], scaled, args.seconds)
            name = f"display {size[0]}x{size[1]} sky {n} scale {scale:g}"
            rows.append(
                {"name": name, "value": round(fps, 1), "unit": "frames/s"}
                | {"frames": frames, "gl": ctx.info["GL_RENDERER"]}
            )
            dome.release()
            if scaled is not None:
                scaled.release()
        hud.release()
        target.release()
    release_context(ctx)
    return rows


def _display_fps(ctx, framebuffer, dome, hud, skies, scaled, seconds: float) -> tuple[float, int]:
    from skyviewer.app.hud import TextLine
    from skyviewer.render.camera import Camera
    from skyviewer.render.context import finish
    from skyviewer.render.dome import DomeView
    from skyviewer.render.upscale import render_dome

    def frame(k: int) -> None:
        if k % 6 == 0:
            dome.push_frame(skies[k // 6 % 2])
        view = DomeView(Camera(180, 20, 70), key_nits=3000.0, blend=k % 6 / 6, frame_index=k)
        render_dome(dome, framebuffer, view, scaled)  # as the viewer draws it
        hud.panel(8, 8, [TextLine(f"frame {k}"), TextLine("display fps / step ms / steps/s")])
        hud.draw(framebuffer)
        finish(ctx)

    return frames_per_second(frame, seconds, 10)


@section("model")
def bench_model(args: argparse.Namespace) -> list[Row]:
    """ONNX Runtime times of one package on each provider available (the CPU, and the GPU provider
    "auto" picks, if any; or only --providers): format 2, the step that also draws the frame; format 3,
    the step, each decoder alone and step + decode at each decoder's resolution. Then the package's
    step in torch eager, and the viewer offscreen at 1280x720 asked for more steps than it can give."""
    from skyviewer.runtime.model import SkyModel

    path, source = bench_package(args)
    print(f"model: {source}")
    model = SkyModel(path, providers=args.providers)
    timed = _layered_rows if model.layered else _step_rows
    rows = [row for provider in bench_providers(args.providers) for row in timed(model, provider, args)]
    rows += _torch_step(model, args.seconds)
    viewers = SkyModel(path, providers=args.providers, spinning=False)  # as the viewer loads it
    return rows + _viewer_rows(viewers, args.seconds)


def bench_providers(request: str) -> list[str]:
    """ONNX Runtime providers to time on: "auto" gives the CPU plus the GPU provider SkyModel would
    pick (if one is usable here); anything else gives only the provider it names."""
    from skyviewer.runtime.providers import CPU, is_gpu, resolve_providers

    best = resolve_providers(request)[0]
    return [CPU, best] if request == "auto" and is_gpu(best) else [best]


def _host_rate(package, provider: str, seconds: float, min_steps: int, resolution: int | None = None) -> Row:
    """step_encoded() through SkyModel, as hosts run it: {'value': ms per step, 'steps': n}."""
    from skyviewer.runtime.model import SkyModel

    model = SkyModel(package, providers=[provider], resolution=resolution)
    model.reset(seed=0)
    rate, steps = frames_per_second(lambda k: model.step_encoded(), seconds, min_steps)
    return {"value": round(1000 / rate, 3), "unit": "ms/step", "steps": steps}


def _step_rows(model, provider: str, args: argparse.Namespace) -> list[Row]:
    """Format 2: the step (state and frame in one graph)."""
    name = f"step {model.resolution}px ONNX Runtime {provider.removesuffix('ExecutionProvider')}"
    return [{"name": name, **_host_rate(model.package, provider, args.seconds, 20)}]


def _layered_rows(model, provider: str, args: argparse.Namespace) -> list[Row]:
    """Format 3: the step graph alone and each decoder alone (inputs and output bound on the device,
    so no transfers), then step + decode at each decoder's resolution through SkyModel."""
    where, package = f"ONNX Runtime {provider.removesuffix('ExecutionProvider')}", model.package
    inputs = _graph_inputs(package)
    state = [t["shape"] for t in package.manifest["models"]["step"]["inputs"] if t["role"] == "state"]
    rows = [{"name": f"step {where}", **_graph_ms(package, "step", provider, inputs, args.seconds, 20)}]
    rows[0] |= {"unit": "ms/step", "state_values": sum(math.prod(shape) for shape in state)}
    for px, name in sorted(model.decoders().items()):
        decode = _graph_ms(package, name, provider, inputs, args.seconds, 3)
        rows.append({"name": f"decode {px}px {where}", **decode, "unit": "ms/frame"})
        rows.append(
            {"name": f"step+decode {px}px {where}", **_host_rate(package, provider, args.seconds, 3, px)}
        )
    return rows + _frame_rows(package, provider, args.seconds)


FRAME_VARIANTS = ((True, True), (False, True), (True, False))
"""(CUDA graphs, CUDA-GL interop) of the GPU frame rows: the host's path, then each part off."""


def _frame_rows(package, provider: str, seconds: float) -> list[Row]:
    """The frame on screen on the CPU (the host copy); on a GPU, as each variant."""
    from skyviewer.runtime.providers import is_gpu

    variants = FRAME_VARIANTS if is_gpu(provider) else FRAME_VARIANTS[:1]
    return [_frame_row(package, provider, seconds, graphs, interop) for graphs, interop in variants]


def _frame_row(package, provider: str, seconds: float, cuda_graphs: bool, interop: bool) -> Row:
    """A new model frame on screen, all in the host's thread: step, decode at the resolution SkyModel
    picks on `provider` (the largest on a GPU), radiance into the dome's texture (written there by
    CUDA where interop can run and is asked for, else through the host) and one 1280x720 dome
    draw, finished."""
    from skyviewer.render.camera import Camera
    from skyviewer.render.context import create_offscreen_context, finish, release_context
    from skyviewer.render.cuda_gl import interop_blocker
    from skyviewer.render.dome import DomeRenderer, DomeView
    from skyviewer.render.targets import OffscreenTarget
    from skyviewer.runtime.model import SkyModel

    model = SkyModel(package, providers=[provider], cuda_graphs=cuda_graphs)
    model.reset(seed=0)
    ctx = create_offscreen_context()
    target = OffscreenTarget(ctx, (1280, 720), hdr=False)
    view = DomeView(Camera(180, 20, 70), key_nits=3000.0, blend=1.0, frame_index=0)
    blocker = interop_blocker(model.device, ctx) if interop else "interop off"
    upload = "CUDA-GL interop" if blocker is None else f"host copy: {blocker}"
    dome = DomeRenderer(ctx, model.resolution, gpu_frames=blocker is None)

    def frame(k: int) -> None:
        encoded = model.step_encoded()
        if blocker is None:
            dome.push_device(lambda pointer: model.decode_into(encoded, pointer))
        else:
            dome.push_frame(model.decode(encoded))
        dome.render(target.framebuffer, view)
        finish(ctx)

    frame(0)  # warm-up: shader compile, texture allocation, graph capture
    frame(1)
    rate, frames = frames_per_second(frame, seconds, 3)
    where = f"ONNX Runtime {provider.removesuffix('ExecutionProvider')}, {ctx.info['GL_RENDERER']}"
    dome.release()
    target.release()
    release_context(ctx)
    name = f"step+decode+upload+dome {model.resolution}px {where}"
    if model.device == "cuda":
        name += f" (graphs: {model.graph_capture}; {upload})"
    return {"name": name, "value": round(1000 / rate, 3), "unit": "ms/frame", "frames": frames}


def _graph_inputs(package) -> dict[str, np.ndarray]:
    """Inputs for every graph of a package, by name: latents and noise N(0, 1), conditions at their
    defaults, and the recurrent state as the start model makes it (seed 0)."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    models = package.manifest["models"]
    defaults = {c["name"]: c["default"] for c in package.manifest["conditions"]}
    values = {}
    for t in (t for spec in models.values() for t in spec["inputs"]):
        if t["role"] == "condition":
            values[t["name"]] = np.asarray(defaults[t["condition"]], np.float32).reshape(t["shape"])
        elif t["role"] in ("latent", "noise"):
            values[t["name"]] = rng.standard_normal(t["shape"], np.float32)
    start = ort.InferenceSession(
        package.files[package.model_file("start")], providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in start.get_outputs()]
    made = dict(zip(names, start.run(None, _feed(start, values)), strict=True))
    for r in models["step"]["recurrence"]:
        shape = next(t["shape"] for t in models["step"]["inputs"] if t["name"] == r["input"])
        initial = r["initial"]
        fill = isinstance(initial, (int, float))
        values[r["input"]] = (
            np.full(shape, initial, np.float32) if fill else made[initial.removeprefix("start:")]
        )
    return values


def _feed(session, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {i.name: values[i.name] for i in session.get_inputs()}


def _graph_ms(package, model: str, provider: str, values: dict, seconds: float, min_runs: int) -> Row:
    """One graph's ms per run, its inputs uploaded once and its outputs left on the device."""
    import onnxruntime as ort

    from skyviewer.runtime.model import session_options
    from skyviewer.runtime.providers import is_gpu, session_providers

    data = package.files[package.model_file(model)]
    session = ort.InferenceSession(data, session_options(), providers=session_providers([provider]))
    device = "cuda" if is_gpu(provider) else "cpu"
    binding = session.io_binding()
    for name, value in _feed(session, values).items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, device, 0))
    for t in package.manifest["models"][model]["outputs"]:  # allocated once, as hosts double-buffer them
        empty = ort.OrtValue.ortvalue_from_shape_and_type(t["shape"], np.float32, device, 0)
        binding.bind_ortvalue_output(t["name"], empty)
    session.run_with_iobinding(binding)  # warm-up: first-run allocations and kernel choices
    rate, runs = frames_per_second(lambda k: session.run_with_iobinding(binding), seconds, min_runs)
    return {"value": round(1000 / rate, 3), "unit": "ms/run", "runs": runs, "model": model}


def _torch_step(model, seconds: float) -> list[Row]:
    """Eager torch step time of the package's step net, rebuilt from the package (bench/twin.py)."""
    import torch

    from skyviewer.bench.twin import NoTwin, torch_twin

    if model.layered:
        return [{"name": "step torch eager", "value": "n/a", "unit": "", "why": NO_TWIN_FORMAT_3}]
    try:
        net, inputs, source = torch_twin(model.package, "step")
    except NoTwin as exc:
        return [{"name": "step torch eager", "value": "n/a", "unit": "", "why": str(exc)}]
    args = tuple(inputs.values())  # in forward() order; the names are the ONNX graph's
    with torch.inference_mode():
        net(*args)
        rate, steps = frames_per_second(lambda k: net(*args), seconds, 20)
    name = f"step {model.resolution}px torch eager CPU ({torch.get_num_threads()} threads)"
    return [{"name": name, "value": round(1000 / rate, 3), "unit": "ms/step", "steps": steps, "net": source}]


LOOK_DEV_VIEWS = {"default view": None, "looking down": -30.0}
"""The look-dev rows' camera pitches: the viewer's own (the scene fills the lower quarter of the
frame), and one where the scene fills the whole frame (its worst case on a software rasteriser)."""


def _viewer_rows(model, seconds: float) -> list[Row]:
    """The viewer while stepping, without and with the look-dev scene."""
    rows = _steps_while_rendering(model, seconds)
    for view, pitch in LOOK_DEV_VIEWS.items():
        label = f", look-dev scene, {view}"
        rows += _steps_while_rendering(model, seconds, scene=True, pitch=pitch, label=label)
    return rows


def _steps_while_rendering(
    model, seconds: float, scene: bool = False, pitch: float | None = None, label: str = ""
) -> list[Row]:
    """Display fps and sustained model steps/s of the real viewer (worker thread + dome + HUD),
    with the look-dev scene when asked, the camera at `pitch` (None: the viewer's default)."""
    from skyviewer.app.runners import OffscreenRun, run_offscreen
    from skyviewer.app.viewer import SkyViewer, ViewerConfig

    # Sky time asks for the CPU target's rate: flat out, the worker thread would take a core from
    # the renderer and neither figure would say what a viewer gets.
    demanded = ViewerConfig.sky_rate / model.step_seconds if model.layered else DEMANDED_STEPS_PER_S
    config = ViewerConfig(sky_rate=model.step_seconds * demanded, start_unix_time=BENCH_START)
    if pitch is not None:
        config = replace(config, camera=replace(config.camera, pitch_deg=pitch))
    config = replace(config, scene=scene)
    frames = max(60, round(60 * seconds))

    starts: list[float] = []  # when each frame with a sky began: the mean display rate over the run

    class TimedViewer(SkyViewer):
        def on_render(self, clock: float, frame_time: float) -> None:
            if self.sample is not None:
                starts.append(time.perf_counter())
            super().on_render(clock, frame_time)

    t0 = time.perf_counter()
    viewer = run_offscreen(
        lambda ctx, framebuffer: TimedViewer(ctx, model, framebuffer, config),
        (1280, 720),
        OffscreenRun(frames=frames, fps=None),
    )
    elapsed = time.perf_counter() - t0
    stats = viewer.worker.stats()
    fps = (len(starts) - 1) / (starts[-1] - starts[0])  # the HUD's figure averages the last few
    scale = viewer.scaled.scale if viewer.scaled else 1.0
    return [
        {"name": f"viewer 1280x720 display{label}", "value": round(fps, 1), "unit": "frames/s"}
        | {"render_scale": scale, "dynamic": viewer.dynamic_scale is not None},
        {
            "name": f"viewer steps while rendering ({demanded:g} asked){label}",
            "value": round(stats.steps_per_s, 1),
            "unit": "steps/s",
        }
        | {"step_ms": round(stats.step_ms, 2), "frames": frames, "wall_s": round(elapsed, 1)},
    ]


def rss_mib() -> float:
    """Resident set size of this process (VmRSS in /proc/self/status), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def run_soak(args: argparse.Namespace) -> int:
    """Step the model args.soak_steps times through the viewer's SkyTimeline, uploading every
    frame to an offscreen dome; report RSS at start and end and any NaN/Inf frame."""
    from skyviewer.render.context import create_offscreen_context, release_context
    from skyviewer.render.dome import DomeRenderer
    from skyviewer.runtime.model import SkyModel
    from skyviewer.runtime.sun import SunClock
    from skyviewer.runtime.timeline import SkyTimeline

    path, source = bench_package(args)
    print(f"soak: {source}, {args.soak_steps} steps")
    model = SkyModel(path, providers=args.providers)
    ctx = create_offscreen_context()
    dome = DomeRenderer(ctx, model.resolution)
    timeline = SkyTimeline(model, SunClock(46.8, -71.2, BENCH_START), seed=0)
    bad, start_mib, t0 = 0, rss_mib(), time.perf_counter()
    for k in range(1, args.soak_steps + 1):
        frame = timeline.at(k * timeline.step_seconds).previous.radiance
        bad += not np.isfinite(frame).all()
        dome.push_frame(frame)
        if k % 10_000 == 0:
            print(f"  {k} steps, RSS {rss_mib():.1f} MiB, {bad} non-finite frames")
    end_mib, elapsed = rss_mib(), time.perf_counter() - t0
    dome.release()
    release_context(ctx)
    print(
        f"soak: {args.soak_steps} steps in {elapsed:.1f} s ({args.soak_steps / elapsed:.0f} steps/s), "
        f"RSS start {start_mib:.1f} MiB, end {end_mib:.1f} MiB ({end_mib - start_mib:+.1f}), "
        f"NaN/Inf frames: {bad}"
    )
    return 1 if bad else 0
