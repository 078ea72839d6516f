#version 330 core
// The look-dev scene from its cache (render/scene.py): the linear radiance and coverage of the
// scene lit by each of the two baked frames, drawn for this camera at this size, mixed by the
// dome's blend as the dome mixes the frames, then exposed, tone-mapped and dithered as lookdev.frag
// does. A held camera pays this instead of the scene's shading.

#include "uniforms.glsl"
#include "lookdev_display.glsl"

uniform sampler2D scene_prev;  // the scene lit by the previous frame (RGBA32F: nits, coverage)
uniform sampler2D scene_next;  // ... by the newest

layout(location = 0) out vec4 out_display;
layout(location = 1) out vec4 out_radiance;

void main() {
    ivec2 texel = ivec2(gl_FragCoord.xy);
    vec4 scene = mix(texelFetch(scene_prev, texel, 0), texelFetch(scene_next, texel, 0), blend);
    out_display = scene_display(scene.rgb, scene.a);
    out_radiance = scene;
}
