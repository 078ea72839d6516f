"""The dome renderer (moderngl, GLSL in skyviewer/shaders/): no torch here, see docs/rendering.md."""
