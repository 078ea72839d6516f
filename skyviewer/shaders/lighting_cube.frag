#version 330 core
// Lighting bake, passes 3+: the radiance cube map. LAYERED 1 (render/lighting.py): drawn straight
// into a whole mip level, one layer per face, lighting_cube.geom naming each fragment's face;
// LAYERED 0 (the engines' passes): a row of six faces (+X .. -Z), each then copied into the
// cube's mip level. PREFILTER 0: level 0, the environment
// itself (the mirror reflection). PREFILTER 1: a rougher level, the GGX lobe of its roughness
// around each texel's direction (N = V = R, as engines' split-sum prefiltering), importance
// sampled from the unfiltered cube's box mips (filtered importance sampling, Krivanek & Colbert
// 2008), so few samples give no speckles.

#include "sky_projection.glsl"
#include "lighting_env.glsl"

#ifndef PREFILTER
#define PREFILTER 0
#endif
#ifndef LAYERED
#define LAYERED 0
#endif

uniform int face_size;  // texels per face side at this level
#if LAYERED
flat in int g_face;     // the face of this fragment's layer
#endif

layout(location = 0) out vec4 out_radiance;
#if LAYERED && !PREFILTER
layout(location = 1) out vec4 out_unfiltered;  // level 0 again, of the cube whose box mips PREFILTER samples
#endif

#if PREFILTER
uniform samplerCube radiance;     // the unfiltered environment cube, with box mips
uniform float roughness;          // perceptual roughness of this level (alpha = roughness^2)
uniform float texel_solid_angle;  // solid angle of one texel of `radiance` at level 0

const int SAMPLES = 16;

vec2 hammersley(int i) {
    uint bits = uint(i);
    bits = (bits << 16u) | (bits >> 16u);
    bits = ((bits & 0x55555555u) << 1u) | ((bits & 0xAAAAAAAAu) >> 1u);
    bits = ((bits & 0x33333333u) << 2u) | ((bits & 0xCCCCCCCCu) >> 2u);
    bits = ((bits & 0x0F0F0F0Fu) << 4u) | ((bits & 0xF0F0F0F0u) >> 4u);
    bits = ((bits & 0x00FF00FFu) << 8u) | ((bits & 0xFF00FF00u) >> 8u);
    return vec2(float(i) / float(SAMPLES), float(bits) * 2.3283064365386963e-10);
}

vec3 prefilter_ggx(vec3 n) {
    float a2 = roughness * roughness * roughness * roughness;
    vec3 tx = normalize(cross(abs(n.y) < 0.999 ? vec3(0.0, 1.0, 0.0) : vec3(1.0, 0.0, 0.0), n));
    vec3 ty = cross(n, tx);
    vec3 sum = vec3(0.0);
    float weight = 0.0;
    for (int i = 0; i < SAMPLES; ++i) {
        vec2 xi = hammersley(i);
        float cos_h = sqrt((1.0 - xi.y) / (1.0 + (a2 - 1.0) * xi.y));
        float sin_h = sqrt(1.0 - cos_h * cos_h);
        float phi = 4.0 * HALF_PI * xi.x;
        vec3 h = (tx * cos(phi) + ty * sin(phi)) * sin_h + n * cos_h;
        vec3 l = 2.0 * dot(n, h) * h - n;
        float n_dot_l = dot(n, l);
        if (n_dot_l > 0.0) {
            float q = (a2 - 1.0) * cos_h * cos_h + 1.0;
            float pdf = a2 / (PI * q * q) / 4.0;  // D(h) n.h / (4 v.h) with v = n
            float lod = 0.5 * log2(1.0 / (float(SAMPLES) * pdf * texel_solid_angle)) + 1.0;
            sum += textureLod(radiance, l, max(lod, 0.0)).rgb * n_dot_l;
            weight += n_dot_l;
        }
    }
    return sum / max(weight, 1e-6);
}
#else
uniform sampler2D env;
flat in vec3 v_ground;
#endif

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
#if LAYERED
    int face = g_face;
    ivec2 texel = p;
#else
    int face = p.x / face_size;
    ivec2 texel = ivec2(p.x - face * face_size, p.y);
#endif
    vec2 st = (vec2(texel) + 0.5) / float(face_size);
    vec3 d = cube_face_direction(face, st);
#if PREFILTER
    out_radiance = vec4(prefilter_ggx(d), 1.0);
#else
    out_radiance = vec4(environment_radiance(env, d, v_ground), 1.0);
#if LAYERED
    out_unfiltered = out_radiance;
#endif
#endif
}
