"""`skyviewer bench --only lighting`: the image-based lighting update per sky frame (reduce, SH,
readback, cube map and its GGX mips: render/lighting.py) at several frame sizes. The viewer with
the look-dev scene lit by it is timed in the 'model' section, while the model steps.

Each size reports three figures of the same updates: the wall time of push() + finish + reading
the newest lighting (what a frame waits for), the time push() alone takes to return (its Python
and driver calls: what a GPU host pays on the CPU), and the GPU's own time from a GL timer query
(GL_TIME_ELAPSED; software GL reports what its driver measures, which need not be the work)."""

from __future__ import annotations

import argparse
import time

from skyviewer.bench import Row, frames_per_second, section
from skyviewer.bench.viewer import _smooth_sky

FRAME_SIZES = (64, 256, 1024)
GPU_FRAME_SIZES = (2048,)
"""Timed on hardware GL only: a GPU host's default decodes 2,048 px frames."""


@section("lighting")
def bench_lighting(args: argparse.Namespace) -> list[Row]:
    from skyviewer.render.context import create_offscreen_context, release_context
    from skyviewer.render.upscale import software_gl

    ctx = create_offscreen_context()
    rows = []
    for n in FRAME_SIZES + (() if software_gl(ctx) else GPU_FRAME_SIZES):
        rows += _time_updates(ctx, n, args.seconds)
    release_context(ctx)
    return rows


def _time_updates(ctx, n: int, seconds: float) -> list[Row]:
    """Rows of the three timings (ms per update) of SkyLighting at frame size n."""
    from skyviewer.render.context import finish
    from skyviewer.render.lighting import SkyLighting
    from skyviewer.render.textures import SkyTextures

    textures = SkyTextures(ctx, n)
    textures.push(_smooth_sky(n, 0))
    lighting, query, sun = SkyLighting(ctx, n), ctx.query(time=True), (0.3, 0.8, 0.52)
    times: dict[str, list[float]] = {"update": [], "push": [], "gpu": []}

    def update(k: int) -> None:
        start = time.perf_counter()
        with query:
            lighting.push(textures.next, sun)
        submitted = time.perf_counter()
        finish(ctx)
        lighting.newest  # noqa: B018 (the SH read back and summed: part of the update)
        times["update"].append(time.perf_counter() - start)
        times["push"].append(submitted - start)
        times["gpu"].append(query.elapsed * 1e-9)  # after the finish: no wait

    update(0)  # compile and allocate
    for samples in times.values():
        samples.clear()
    _, frames = frames_per_second(update, seconds, 10)
    lighting.release()
    textures.release()
    common = {"unit": "ms/frame", "frames": frames, "gl": ctx.info["GL_RENDERER"]}
    names = {
        "update": f"lighting update sky {n}",
        "push": f"lighting push alone (no finish) sky {n}",
        "gpu": f"lighting GPU timer query sky {n}",
    }
    return [
        {"name": names[key], "value": round(1000 * sum(t) / len(t), 3), **common} for key, t in times.items()
    ]
