"""`skyviewer bench --only lighting`: the image-based lighting update per sky frame (reduce, SH,
readback, cube map and its GGX mips: render/lighting.py) at several frame sizes. The viewer with
the look-dev scene lit by it is timed in the 'model' section, while the model steps."""

from __future__ import annotations

import argparse

from skyviewer.bench import Row, frames_per_second, section
from skyviewer.bench.viewer import _smooth_sky

FRAME_SIZES = (64, 256, 1024)
GPU_FRAME_SIZES = (2048,)
"""Timed on hardware GL only: a GPU host's default decodes 2,048 px frames."""


@section("lighting")
def bench_lighting(args: argparse.Namespace) -> list[Row]:
    from skyviewer.render.context import create_offscreen_context, finish, release_context
    from skyviewer.render.lighting import SkyLighting
    from skyviewer.render.textures import SkyTextures
    from skyviewer.render.upscale import software_gl

    ctx = create_offscreen_context()
    rows, sun = [], (0.3, 0.8, 0.52)
    for n in FRAME_SIZES + (() if software_gl(ctx) else GPU_FRAME_SIZES):
        textures = SkyTextures(ctx, n)
        textures.push(_smooth_sky(n, 0))
        lighting = SkyLighting(ctx, n)

        def update(k: int, lighting=lighting, texture=textures.next) -> None:
            lighting.push(texture, sun)
            finish(ctx)

        update(0)  # compile and allocate
        rate, frames = frames_per_second(update, args.seconds, 10)
        rows.append({"name": f"lighting update sky {n}", "value": round(1000 / rate, 2), "unit": "ms/frame",
                     "frames": frames, "gl": ctx.info["GL_RENDERER"]})  # fmt: skip
        lighting.release()
        textures.release()
    release_context(ctx)
    return rows
