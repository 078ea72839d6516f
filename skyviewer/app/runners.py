"""Hosts for SkyViewer: a glfw window (interactive) and an offscreen EGL loop (headless)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import moderngl

from skyviewer.app.viewer import KEYS, SkyViewer
from skyviewer.errors import UserError
from skyviewer.render.context import (
    BACKENDS_ENV,
    GL_VERSION,
    INSTALL_HINT,
    create_offscreen_context,
    display_names,
    finish,
    gl_backends,
    init_glfw,
    last_glfw_error,
    release_context,
)
from skyviewer.render.targets import OffscreenTarget, window_target

ViewerFactory = Callable[[moderngl.Context, moderngl.Framebuffer], SkyViewer]
WINDOW_HINT = (
    "start the viewer under a display (e.g. xvfb-run -a skyviewer view), or render headless with "
    f"--offscreen, which needs EGL: {INSTALL_HINT}"
)


@dataclass(frozen=True)
class OffscreenRun:
    """How many frames the offscreen loop draws, and at what pace."""

    frames: int = 120
    """Frames to draw once the first sky is on screen."""
    fps: float | None = 60.0
    """Display rate it emulates: frame_time is 1/fps and frames are paced to the wall clock
    (the worker then sees real time); None draws as fast as possible with measured frame times."""
    first_sky_timeout_s: float = 120.0
    """Give up (UserError with the worker's error) if no sky arrives within this."""


def run_offscreen(
    factory: ViewerFactory, size: tuple[int, int], run: OffscreenRun, screenshot: Path | None = None
) -> SkyViewer:
    """Draw run.frames frames into an offscreen target; optionally write the last as a screenshot.
    Returns the (closed) viewer, whose state tests inspect."""
    ctx = create_offscreen_context()
    target = OffscreenTarget(ctx, size, hdr=False)
    viewer = factory(ctx, target.framebuffer)
    try:
        _wait_for_first_sky(viewer, run.first_sky_timeout_s)
        t0 = last = time.perf_counter()
        for k in range(run.frames):
            now = time.perf_counter()
            frame_time = 1.0 / run.fps if run.fps else now - last
            viewer.on_render(now - t0, frame_time)
            finish(ctx)  # what a window's buffer swap does: the frame is really drawn now
            last = now
            if run.fps:
                time.sleep(max(0.0, t0 + (k + 1) / run.fps - time.perf_counter()))
        if screenshot is not None:
            viewer.screenshot(screenshot)
    finally:
        viewer.close()
        target.release()
        release_context(ctx)
    return viewer


def _wait_for_first_sky(viewer: SkyViewer, timeout_s: float) -> None:
    """Draw 'starting' frames until the worker's first two frames are up."""
    deadline = time.perf_counter() + timeout_s
    while viewer.sample is None:
        if time.perf_counter() > deadline:
            reason = viewer.error or "the model is still starting"
            raise UserError(f"no sky after {timeout_s:.0f} s: {reason}")
        viewer.on_render(0.0, 0.0)
        time.sleep(0.01)


def run_window(factory: ViewerFactory, size: tuple[int, int], max_frames: int | None = None) -> SkyViewer:
    """Open a glfw window and run until it is closed (or ESC, or max_frames)."""
    if not display_names():
        raise UserError(f"no display for a window (DISPLAY and WAYLAND_DISPLAY are unset): {WINDOW_HINT}")
    if "glfw" not in gl_backends():
        raise UserError(
            f"a window needs glfw, which ${BACKENDS_ENV}={os.environ.get(BACKENDS_ENV)!r} leaves out: "
            "add glfw to it, or render headless with --offscreen"
        )
    try:
        glfw = init_glfw()
    except UserError as exc:
        raise UserError(f"{exc}. {WINDOW_HINT[0].upper()}{WINDOW_HINT[1:]}") from None
    try:
        window = _open_window(glfw, size)
        ctx = moderngl.create_context(require=GL_VERSION)
        viewer = factory(ctx, window_target(ctx))
        try:
            _event_loop(glfw, window, ctx, viewer, max_frames)
        finally:
            viewer.close()
        return viewer
    finally:
        glfw.terminate()


def _open_window(glfw, size: tuple[int, int]):
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)
    window = glfw.create_window(*size, "skyviewer", None, None)
    if not window:
        raise UserError(
            f"cannot open an OpenGL 3.3 core window ({last_glfw_error()}): update the GPU driver or Mesa"
        )
    glfw.make_context_current(window)
    glfw.swap_interval(1)  # vsync: the display rate is the monitor's
    return window


def _event_loop(glfw, window, ctx: moderngl.Context, viewer: SkyViewer, max_frames: int | None) -> None:
    keys = {getattr(glfw, f"KEY_{name}"): name for name, _, _, _ in KEYS}
    windowed_rect = None

    def on_key(_w, key, _scancode, action, _mods):
        if action in (glfw.PRESS, glfw.REPEAT) and key in keys:
            viewer.on_key(keys[key])

    glfw.set_key_callback(window, on_key)
    glfw.set_scroll_callback(window, lambda _w, _dx, dy: viewer.on_scroll(dy))
    cursor = glfw.get_cursor_pos(window)
    start = last = time.perf_counter()
    frames = 0
    while not glfw.window_should_close(window) and not viewer.quit_requested:
        glfw.poll_events()
        x, y = glfw.get_cursor_pos(window)
        if glfw.get_mouse_button(window, glfw.MOUSE_BUTTON_LEFT) == glfw.PRESS:
            viewer.on_mouse_drag(x - cursor[0], y - cursor[1])
        cursor = (x, y)
        if viewer.fullscreen_requested != (windowed_rect is not None):
            windowed_rect = _toggle_fullscreen(glfw, window, windowed_rect)
        width, height = glfw.get_framebuffer_size(window)
        if (width, height) != viewer.framebuffer.size and width * height > 0:
            ctx.viewport = (0, 0, width, height)
            viewer.framebuffer = window_target(ctx)
        now = time.perf_counter()
        viewer.on_render(now - start, now - last)
        last = now
        glfw.swap_buffers(window)
        frames += 1
        if max_frames is not None and frames >= max_frames:
            break


def _toggle_fullscreen(glfw, window, windowed_rect):
    """Fullscreen on the primary monitor, or back to the saved window rectangle; the new saved
    rectangle (None when windowed)."""
    if windowed_rect is None:
        rect = (*glfw.get_window_pos(window), *glfw.get_window_size(window))
        monitor = glfw.get_primary_monitor()
        mode = glfw.get_video_mode(monitor)
        glfw.set_window_monitor(window, monitor, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate)
        return rect
    glfw.set_window_monitor(window, None, *windowed_rect, 0)
    return None
