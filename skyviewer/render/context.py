"""OpenGL contexts for rendering without a visible window (tests, recording, screenshots), and
waiting for the GL without holding Python's GIL."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import moderngl

from skyviewer.errors import UserError

GL_VERSION = 330
"""The renderer needs OpenGL 3.3 core (GLSL 330)."""

BACKENDS_ENV = "SKYVIEWER_GL_BACKENDS"
"""Environment variable: comma-separated context backends to try, in order (default "egl,glfw").
Set it to "" to simulate a machine with no OpenGL at all (tests of the install hint)."""

INSTALL_HINT = (
    "no OpenGL context: install Mesa EGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) "
    "or run under a display / xvfb-run"
)


def create_offscreen_context() -> moderngl.Context:
    """A GL 3.3+ context with no visible window: headless EGL first, else a hidden glfw window.

    EGL needs no display server (CI, servers); the glfw fallback covers systems whose EGL is
    missing but which run X or Wayland. Release with release_context().
    """
    errors = []
    backends = gl_backends()
    if "egl" in backends:
        try:
            return moderngl.create_standalone_context(backend="egl", require=GL_VERSION)
        except Exception as exc:  # moderngl raises plain Exceptions from its loaders
            errors.append(f"EGL: {exc}")
    if "glfw" in backends and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        try:
            return _hidden_glfw_context()
        except Exception as exc:
            errors.append(f"glfw: {exc}")
    raise UserError(f"{INSTALL_HINT} ({'; '.join(errors) or 'no display'})")


def gl_backends() -> list[str]:
    """The context backends allowed by $SKYVIEWER_GL_BACKENDS (default: egl, then glfw)."""
    return [b.strip() for b in os.environ.get(BACKENDS_ENV, "egl,glfw").split(",") if b.strip()]


def _hidden_glfw_context() -> moderngl.Context:
    import glfw

    if not glfw.init():
        raise RuntimeError("glfw.init() failed")
    glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)
    window = glfw.create_window(16, 16, "skyviewer offscreen", None, None)
    if not window:
        raise RuntimeError("cannot create a hidden GL 3.3 core window")
    glfw.make_context_current(window)
    ctx = moderngl.create_context(require=GL_VERSION)
    ctx.extra = {"glfw_window": window}  # the window owns the context: keep it alive with it
    return ctx


def release_context(ctx: moderngl.Context) -> None:
    """Release a context from create_offscreen_context, and its hidden window if it has one."""
    window = ctx.extra.get("glfw_window") if isinstance(ctx.extra, dict) else None
    ctx.release()
    if window is not None:
        import glfw

        glfw.destroy_window(window)


def finish(ctx: moderngl.Context) -> None:
    """glFinish with Python's GIL released while the GL works.

    moderngl holds the GIL through every call, and ctx.finish() (or a read-back) lasts as long
    as the GL takes to draw what is queued: on llvmpipe, a whole 15 ms frame. The viewer's model
    worker is a Python thread, so meanwhile it could not even hand its inputs to ONNX Runtime: a
    2 ms step took 40 ms inside the viewer. ctypes releases the GIL around a foreign call, so
    glFinish through ctypes lets the worker run while the frame is drawn (8 ms per step in the
    same bench run; docs/benchmarks.md). Without a loadable GL library it is ctx.finish()."""
    gl_finish = _gl_finish()
    if gl_finish is None:
        ctx.finish()
    else:
        gl_finish()


@functools.cache
def _gl_finish():
    """glFinish of the process's GL dispatch library (glvnd's libOpenGL / libGL, or the platform's)."""
    for name in ("OpenGL", "GL", "opengl32"):
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            return ctypes.CDLL(path).glFinish
        except (OSError, AttributeError):
            continue
    return None
