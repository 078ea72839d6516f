#version 330 core
// HUD text and panels: quads given in window pixels (origin top left, y down), coloured per
// vertex, textured from the glyph atlas (panels use its solid white texel).

uniform vec2 viewport;  // framebuffer size in pixels

in vec2 in_position;    // pixels, top left origin
in vec2 in_uv;          // glyph atlas coordinates
in vec4 in_color;       // straight (not premultiplied) RGBA

out vec2 uv;
out vec4 color;

void main() {
    vec2 ndc = in_position / viewport * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);
    uv = in_uv;
    color = in_color;
}
