#version 330 core
// Look-dev scene: a fullscreen triangle; the fragment stage ray-traces the scene per pixel.

#include "fullscreen.glsl"

out vec2 v_ndc;

void main() {
    vec2 p = fullscreen_position(gl_VertexID);
    v_ndc = p;
    gl_Position = vec4(p, 0.0, 1.0);
}
