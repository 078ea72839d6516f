"""The real-time viewer: SkyViewer (app class), SkyWorker (model steps on a thread), the HUD,
and its hosts (glfw window, offscreen EGL). No torch: see docs/viewer.md."""
