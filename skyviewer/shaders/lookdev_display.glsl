// The look-dev scene's display value (lookdev.frag, lookdev_composite.frag): the dome's exposure,
// ACES, sRGB and dither, with the scene's coverage as alpha (it blends over the dome).
// Needs uniforms.glsl.

#include "tonemap.glsl"

vec4 scene_display(vec3 radiance, float alpha) {
    vec3 display = aces_filmic(radiance * exposure_scale);
    vec3 noise = vec3(dither_lsb / 255.0 * triangular_noise(uvec2(gl_FragCoord.xy), uint(frame_index)));
    return vec4(srgb_encode(display) + noise, alpha);
}
