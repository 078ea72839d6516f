#version 330 core
// Scaled rendering, last pass: the dome drawn at a fraction of the window's resolution is
// stretched over the whole window with bilinear filtering (the texture's LINEAR filter).

uniform sampler2D image;
uniform vec2 output_size;  // pixels of the framebuffer drawn into

out vec4 out_color;

void main() {
    out_color = texture(image, gl_FragCoord.xy / output_size);
}
