#version 330 core
// Fullscreen triangle for image-space passes (the luminance reduction, the upscale).

#include "fullscreen.glsl"

void main() {
    gl_Position = vec4(fullscreen_position(gl_VertexID), 0.0, 1.0);
}
