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


def display_names() -> str:
    """The display variables that are set, e.g. "DISPLAY=:99" ("" when none is)."""
    names = ("DISPLAY", "WAYLAND_DISPLAY")
    return ", ".join(f"{name}={os.environ[name]}" for name in names if os.environ.get(name))


def init_glfw():
    """glfw, initialised; UserError saying what went wrong if it cannot be.

    GLFW reports failures through its error callback, which pyGLFW turns into a raw
    GLFWError warning; ours keeps the text instead, so a display that does not answer reads
    "could not open display :99 (DISPLAY=:99): no X server answered" and nothing else.
    """
    import glfw

    glfw.set_error_callback(_keep_glfw_error)
    if glfw.init():
        return glfw
    error = last_glfw_error() or "glfwInit failed without a reason"
    if "failed to open display" in error.lower() or "failed to connect to display" in error.lower():
        x11 = os.environ.get("DISPLAY")
        server = "X server" if x11 else "Wayland compositor"
        display = x11 or os.environ.get("WAYLAND_DISPLAY")
        raise UserError(f"could not open display {display} ({display_names()}): no {server} answered")
    raise UserError(f"glfw could not initialise ({display_names() or 'no display set'}): {error}")


_glfw_errors: list[str] = []
"""What GLFW reported through its error callback, newest last."""


def last_glfw_error() -> str | None:
    return _glfw_errors[-1] if _glfw_errors else None


def _keep_glfw_error(code: int, description: bytes | str) -> None:
    text = description.decode(errors="replace") if isinstance(description, bytes) else description
    _glfw_errors.append(text)
    del _glfw_errors[:-8]  # the last few are all a message needs


def _hidden_glfw_context() -> moderngl.Context:
    glfw = init_glfw()
    glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)
    window = glfw.create_window(16, 16, "skyviewer offscreen", None, None)
    if not window:
        raise RuntimeError(f"cannot create a hidden GL 3.3 core window: {last_glfw_error()}")
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
    gl = gl_library()
    if gl is None:
        ctx.finish()
    else:
        gl.glFinish()


class Fence:
    """A point in the GL command stream that the host can wait for without a glFinish: work
    queued after it keeps running (glFenceSync / glClientWaitSync through ctypes, so the wait
    releases the GIL as finish() does; ctx.finish() where no GL library loads)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        gl = gl_library()
        self._ctx, self._sync = ctx, None if gl is None else gl.glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0)

    def wait(self) -> None:
        """Return once the GL has done everything queued before the fence."""
        if self._sync is None:
            self._ctx.finish()
            return
        gl = gl_library()
        while gl.glClientWaitSync(self._sync, GL_SYNC_FLUSH_COMMANDS_BIT, WAIT_NS) == GL_TIMEOUT_EXPIRED:
            pass
        gl.glDeleteSync(self._sync)
        self._sync = None


GL_SYNC_GPU_COMMANDS_COMPLETE, GL_SYNC_FLUSH_COMMANDS_BIT, GL_TIMEOUT_EXPIRED = 0x9117, 0x1, 0x911B
WAIT_NS = 100_000_000


@functools.cache
def gl_library() -> ctypes.CDLL | None:
    """The process's GL dispatch library (glvnd's libOpenGL / libGL, or the platform's), for the
    entry points moderngl does not wrap, with the sync ones' C types declared; None without one.
    Its calls release the GIL (ctypes.CDLL), which is why waits go through it."""
    for name in ("OpenGL", "GL", "opengl32"):
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            gl = ctypes.CDLL(path)
            gl.glFinish, gl.glFenceSync  # noqa: B018 (must exist)
        except (OSError, AttributeError):
            continue
        gl.glFenceSync.restype = ctypes.c_void_p
        gl.glFenceSync.argtypes = [ctypes.c_uint, ctypes.c_uint]
        gl.glClientWaitSync.restype = ctypes.c_uint
        gl.glClientWaitSync.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint64]
        gl.glDeleteSync.argtypes = [ctypes.c_void_p]
        return gl
    return None
