"""`skyviewer bench --only lighting`: the image-based lighting update per sky frame (reduce, SH,
readback, cube map and its GGX mips: render/lighting.py) at several frame sizes, and the display
rate of dome + look-dev scene + HUD at 1280x720 with a frame (and its lighting) every 6th frame."""

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
    rows.append(_scene_fps(ctx, args.seconds))
    release_context(ctx)
    return rows


def _scene_fps(ctx, seconds: float) -> Row:
    from skyviewer.app.hud import TextLine, TextOverlay
    from skyviewer.render.camera import Camera
    from skyviewer.render.context import finish
    from skyviewer.render.dome import DomeRenderer, DomeView
    from skyviewer.render.lighting import SkyLighting
    from skyviewer.render.scene import LookDevScene
    from skyviewer.render.shaders import ShaderLibrary
    from skyviewer.render.targets import OffscreenTarget
    from skyviewer.render.upscale import AUTO_SCALE_SOFTWARE, ScaledRender, auto_render_scale, render_dome

    shaders, n, size = ShaderLibrary(ctx), 64, (1280, 720)
    skies = [_smooth_sky(n, s) for s in range(2)]
    target = OffscreenTarget(ctx, size, hdr=False)
    dome, lighting, scene = (
        DomeRenderer(ctx, n, shaders=shaders),
        SkyLighting(ctx, n, shaders=shaders),
        LookDevScene(ctx, shaders),
    )
    scale = auto_render_scale(ctx)
    scaled = ScaledRender(ctx, shaders, scale) if scale < 1 else None
    hud = TextOverlay(ctx, shaders, size_px=round(size[1] / 42))

    def frame(k: int) -> None:
        if k % 6 == 0:  # a new model frame: upload and bake its lighting, as the viewer does
            dome.push_frame(skies[k // 6 % 2])
            lighting.push(dome.sky.next, (0.3, 0.8, 0.52))
        view = DomeView(
            Camera(180, 8, 70),
            key_nits=3000.0,
            sun_direction=(0.3, 0.8, 0.52),
            blend=k % 6 / 6,
            frame_index=k,
        )
        render_dome(dome, target.framebuffer, view, scaled, scene, lighting)
        hud.panel(8, 8, [TextLine(f"frame {k}")])
        hud.draw(target.framebuffer)
        finish(ctx)

    frame(0)
    fps, frames = frames_per_second(frame, seconds, 30)
    for obj in (dome, lighting, scene, hud, target, *([scaled] if scaled else [])):
        obj.release()
    name = f"display 1280x720 + look-dev scene, sky {n}, lighting every 6th frame"
    return {"name": name, "value": round(fps, 1),
            "unit": "frames/s", "frames": frames, "dome_scale": scale if scale < 1 else 1.0,
            "software_scale": AUTO_SCALE_SOFTWARE}  # fmt: skip
