#version 330 core
// Lighting bake, the cube passes of render/lighting.py (lighting_cube.frag with LAYERED 1): the
// fullscreen triangle once per cube face, each to the layer of that face, so one draw fills a
// whole mip level attached layered (+X .. -Z) with no copies. PREFILTER 0 (level 0) also hands
// on the ground radiance, as lighting.vert does, computed once per draw.

#include "sky_projection.glsl"
#include "lighting_env.glsl"

#ifndef PREFILTER
#define PREFILTER 0
#endif

layout(triangles) in;
layout(triangle_strip, max_vertices = 18) out;

flat out int g_face;

#if !PREFILTER
uniform sampler2D env;  // the reduced clean sky (lighting_reduce.frag)
flat out vec3 v_ground;
#endif

void main() {
#if !PREFILTER
    vec3 ground = ground_albedo * horizon_mean(env);
#endif
    for (int face = 0; face < 6; ++face) {
        for (int i = 0; i < 3; ++i) {
            gl_Position = gl_in[i].gl_Position;
            gl_Layer = face;
            g_face = face;
#if !PREFILTER
            v_ground = ground;
#endif
            EmitVertex();
        }
        EndPrimitive();
    }
}
