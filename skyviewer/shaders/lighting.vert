#version 330 core
// Lighting bake passes that read the reduced environment: a fullscreen triangle, and the ground
// radiance (the same for every texel) computed once per vertex instead of per texel.

#include "fullscreen.glsl"
#include "sky_projection.glsl"
#include "lighting_env.glsl"

uniform sampler2D env;  // the reduced clean sky (lighting_reduce.frag)

flat out vec3 v_ground;

void main() {
    gl_Position = vec4(fullscreen_position(gl_VertexID), 0.0, 1.0);
    v_ground = ground_albedo * horizon_mean(env);
}
