#version 330 core
// Sky dome, vertex stage: a fullscreen triangle (no mesh), plus the per-frame values that
// depend on the sky textures but not on the pixel, computed once per vertex instead of per pixel.

#include "uniforms.glsl"
#include "fullscreen.glsl"
#include "sky_projection.glsl"
#include "sun.glsl"

uniform sampler2D sky_prev;
uniform sampler2D sky_next;

out vec2 v_ndc;                 // normalised device coordinates, interpolated to pixel centres
flat out vec3 v_ground;         // radiance of the ground far below the horizon (nits)
flat out vec3 v_sun_glow;       // sky radiance around the sun, replaces the clamped disc
flat out float v_sun_visibility;
flat out vec2 v_sun_uv;         // the sun's fisheye uv
flat out vec3 v_sun_strength;   // the disc's mean radiance at that visibility (sun_strength)

void main() {
    vec2 p = fullscreen_position(gl_VertexID);
    v_ndc = p;
    gl_Position = vec4(p, 0.0, 1.0);

    v_ground = ground_albedo * mix(horizon_mean(sky_prev), horizon_mean(sky_next), blend);
    v_sun_glow = vec3(0.0);
    v_sun_visibility = 0.0;
    v_sun_uv = fisheye_uv(sun_direction);
    if (sun_direction.y > -sun_radius) {
        float vis_prev = sun_visibility(sun_peak(sky_prev, v_sun_uv));
        float vis_next = sun_visibility(sun_peak(sky_next, v_sun_uv));
        v_sun_visibility = mix(vis_prev, vis_next, blend);
        v_sun_glow = mix(sun_glow(sky_prev, v_sun_uv), sun_glow(sky_next, v_sun_uv), blend);
    }
    v_sun_strength = sun_strength(sun_radiance, v_sun_visibility);
}
