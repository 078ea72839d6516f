#version 330 core
// The glyph atlas holds coverage in its single channel; the colour's alpha scales it.
// Writes the display output only (location 0): the HUD is never part of the sky's radiance.

uniform sampler2D atlas;

in vec2 uv;
in vec4 color;

layout(location = 0) out vec4 out_display;

void main() {
    out_display = vec4(color.rgb, color.a * texture(atlas, uv).r);
}
