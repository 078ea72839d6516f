#version 330 core
// Sky dome, fragment stage: view ray -> canonical fisheye sample (two model frames blended)
// -> horizon haze and ground -> analytic sun -> exposure, ACES, sRGB, dither.

#include "uniforms.glsl"
#include "sky_projection.glsl"
#include "view_projection.glsl"
#include "sun.glsl"
#include "tonemap.glsl"

uniform sampler2D sky_prev;
uniform sampler2D sky_next;

in vec2 v_ndc;
flat in vec3 v_ground;
flat in vec3 v_sun_glow;
flat in float v_sun_visibility;
flat in vec2 v_sun_uv;
flat in vec3 v_sun_strength;

// SUN_ELSEWHERE 1 compiles the pass for pixels away from the sun: no disc and no blob
// replacement. A host that knows where the sun lands on screen draws the rest with this and
// only the sun's surroundings with the full shader (render/dome.py): on a software rasteriser
// that is ~15 % of the dome's time. Engines compile the full shader.
#ifndef SUN_ELSEWHERE
#define SUN_ELSEWHERE 0
#endif

layout(location = 0) out vec4 out_display;   // sRGB-encoded display value, dithered
layout(location = 1) out vec4 out_radiance;  // linear radiance (nits), for HDR screenshots

// The sky image along a ray, the two model frames blended, the clamped sun blob replaced by
// the surrounding glow (the analytic disc is drawn on top).
vec3 sky_radiance(vec3 ray) {
    int n = textureSize(sky_next, 0).x;
    vec2 uv = clamp_to_radius(fisheye_uv(ray), inner_radius(n));
    vec3 sky = mix(texture(sky_prev, uv).rgb, texture(sky_next, uv).rgb, blend);
#if SUN_ELSEWHERE
    return sky;
#else
    float texels_from_sun = length(uv - v_sun_uv) * float(n);
    float in_blob = 1.0 - smoothstep(SUN_BLOB_TEXELS - 0.5, SUN_BLOB_TEXELS + 0.5, texels_from_sun);
    return mix(sky, min(sky, v_sun_glow), in_blob * v_sun_visibility);
#endif
}

// Sky above the horizon; below it the horizon haze (same azimuth) fades into the ground over
// haze_depth, so there is neither a hard cut nor a pinch at the nadir.
vec3 scene_radiance(vec3 ray) {
    float below_horizon = asin(clamp(-ray.y, -1.0, 1.0));
    return mix(sky_radiance(ray), v_ground, smoothstep(0.0, haze_depth, below_horizon));
}

void main() {
    vec3 ray = view_ray(v_ndc);
    vec3 base = scene_radiance(ray);
    vec3 display = aces_filmic(base * exposure_scale);
    vec3 radiance = base;
#if !SUN_ELSEWHERE
    float footprint = view_footprint(ray);
    vec4 disc = sun_disc(ray, footprint, v_sun_strength);
    float above_horizon = clamp(ray.y / footprint + 0.5, 0.0, 1.0);
    float coverage = disc.a * above_horizon;
    vec3 sun = disc.rgb;

    // The disc is ~1e5 x the sky, so any coverage saturates in radiance: anti-alias after the
    // curve, by blending the tone-mapped pixel with and without the disc.
    if (coverage > 0.0) {
        display = mix(display, aces_filmic((base + sun) * exposure_scale), coverage);
    }
    radiance += sun * coverage;
#endif
    vec3 noise = vec3(dither_lsb / 255.0 * triangular_noise(uvec2(gl_FragCoord.xy), uint(frame_index)));
    out_display = vec4(srgb_encode(display) + noise, 1.0);
    out_radiance = vec4(radiance, 1.0);
}
