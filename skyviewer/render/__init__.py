"""The dome renderer (moderngl, GLSL in shaders/): no torch here, see docs/rendering.md."""
