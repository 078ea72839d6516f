#version 330 core
// Look-dev scene under the sky, drawn over the dome with the dome's own DomeParams (camera,
// exposure, dither): a ground plane and five spheres from rough to mirror, ray-traced per pixel
// (no meshes, no depth buffer, any of the dome's projections), lit by the sky frame's lighting
// (render/lighting.py): SH irradiance, the GGX-prefiltered radiance cube and the sun with
// analytic sphere shadows and occlusion. Rays that miss the scene are discarded (the sky shows).
// LOOKDEV_RADIANCE 1 writes only the linear radiance and coverage, lit by one baked frame, for the
// scene's cache (render/scene.py); lookdev_composite.frag shows it.

#include "uniforms.glsl"
#include "sky_projection.glsl"
#include "view_projection.glsl"
#include "sh.glsl"
#include "lookdev_display.glsl"

uniform vec3 sh[9];               // SH radiance coefficients (nits): one frame's, or the two blended
uniform vec3 sun_irradiance;      // sunlight on a surface facing it (lux), the same
uniform float sun_visibility;     // 1 clear .. 0 hidden: softens the shadows as it drops
uniform vec3 light_direction;     // towards the sun these lights are for (the view's when blended)
uniform samplerCube cube_prev;    // prefiltered radiance of the two frames
uniform samplerCube cube_next;
uniform float cube_blend;         // 0 cube_prev .. 1 cube_next
uniform float cube_levels;        // mips of the cubes: roughness = lod / (cube_levels - 1)

in vec2 v_ndc;

#if LOOKDEV_RADIANCE
layout(location = 0) out vec4 out_radiance;
#else
layout(location = 0) out vec4 out_display;
layout(location = 1) out vec4 out_radiance;
#endif

const float PI = 3.14159265358979;
// EYE_HEIGHT_M and GROUND_OPAQUE_M are defined by the host (render/scene.py), which scissors
// the dome to the rows where the ground in front of it is not opaque.
const vec3 EYE = vec3(0.0, EYE_HEIGHT_M, 0.0);
const int SPHERES = 5;
const float GROUND_FADE_M = 4.0 * GROUND_OPAQUE_M;  // the plane fades into the dome's ground by here

// Spheres in a row 6 m south of the eye (the viewer's default view), rough to mirror. Every
// roughness is on a mip level of the prefiltered cube (lod = roughness * (cube_levels - 1), with
// render/lighting.py's 5 levels): whole lods sample one level, which llvmpipe does in about half
// the time of two (the scene's reflections cost a fifth of its time there).
vec4 sphere(int i) { return vec4(1.1 * float(2 - i), 0.45, 6.0, 0.45); }  // left to right seen from the eye
vec3 sphere_albedo(int i) { return i < 3 ? vec3(0.80, 0.80, 0.78) : vec3(0.95, 0.93, 0.88); }
float sphere_roughness(int i) { return float[5](1.0, 0.5, 0.25, 0.25, 0.0)[i]; }
float sphere_metal(int i) { return i < 3 ? 0.0 : 1.0; }
const float GROUND_ROUGHNESS = 1.0;

// The ground's 1 m checkerboard (0 or 1), averaged over the pixel's footprint on the ground: the
// box filter of a square wave is a difference of its integral (a triangle wave) across the
// footprint. Point-sampled, the squares alias into moire rings a few metres out.
float checker(vec2 xz) {
    vec2 w = max(fwidth(xz), vec2(1e-4));
    vec2 a = xz - 0.5 * w, b = xz + 0.5 * w;
    vec2 square = (abs(fract(b * 0.5) - 0.5) - abs(fract(a * 0.5) - 0.5)) * 2.0 / w;  // filtered +-1
    return 0.5 - 0.5 * square.x * square.y;
}

float hit_sphere(vec3 o, vec3 d, vec4 s) {
    vec3 oc = o - s.xyz;
    float b = dot(oc, d);
    float h = b * b - dot(oc, oc) + s.w * s.w;
    return h < 0.0 ? -1.0 : -b - sqrt(h);
}

// Sunlight reaching p (1 lit, 0 shadowed) past the spheres other than `skip`: the sun's disc
// (widened as clouds scatter the beam) against each sphere's angular radius.
float sun_shadow(vec3 p, vec3 l, int skip) {
    float soft = sun_radius * (1.0 + 30.0 * (1.0 - sun_visibility));
    float lit = 1.0;
    for (int i = 0; i < SPHERES; ++i) {
        if (i == skip) continue;
        vec4 s = sphere(i);
        vec3 oc = s.xyz - p;
        float dist = length(oc);
        float apart = acos(clamp(dot(oc / dist, l), -1.0, 1.0)) - asin(min(s.w / dist, 1.0));
        lit *= smoothstep(-soft, soft, apart);
    }
    return lit;
}

// Sky light left to p (normal n) by the other spheres: each blocks ~ (n.w) (r / d)^2.
float occlusion(vec3 p, vec3 n, int skip) {
    float open = 1.0;
    for (int i = 0; i < SPHERES; ++i) {
        if (i == skip) continue;
        vec4 s = sphere(i);
        vec3 oc = s.xyz - p;
        float d2 = dot(oc, oc);
        open *= 1.0 - clamp(dot(n, oc) * inversesqrt(d2) * s.w * s.w / d2, 0.0, 1.0);
    }
    return open;
}

vec3 prefiltered(vec3 r, float roughness) {
    float lod = roughness * (cube_levels - 1.0);
    return mix(textureLod(cube_prev, r, lod).rgb, textureLod(cube_next, r, lod).rgb, cube_blend);
}

// Karis' analytic fit of the split-sum BRDF integral (scale, bias on F0).
vec2 env_brdf(float roughness, float n_dot_v) {
    vec4 r = roughness * vec4(-1.0, -0.0275, -0.572, 0.022) + vec4(1.0, 0.0425, 1.04, -0.04);
    float a004 = min(r.x * r.x, exp2(-9.28 * n_dot_v)) * r.x + r.y;
    return vec2(-1.04, 1.04) * a004 + r.zw;
}

vec3 ggx_sun(vec3 n, vec3 v, vec3 l, float roughness, vec3 f0) {
    float a = max(roughness * roughness, 0.002);  // a mirror still shows the sun as a hot spot
    vec3 h = normalize(v + l);
    float n_dot_h = max(dot(n, h), 0.0), n_dot_v = max(dot(n, v), 1e-4), n_dot_l = max(dot(n, l), 1e-4);
    float q = n_dot_h * n_dot_h * (a * a - 1.0) + 1.0;
    float d = a * a / (PI * q * q);
    float k = a / 2.0;
    float g = n_dot_v / (n_dot_v * (1.0 - k) + k) * n_dot_l / (n_dot_l * (1.0 - k) + k);
    vec3 f = f0 + (1.0 - f0) * pow(1.0 - max(dot(v, h), 0.0), 5.0);
    return d * g * f / (4.0 * n_dot_v * n_dot_l);
}

vec3 shade(vec3 p, vec3 n, vec3 v, vec3 albedo, float roughness, float metal, int self_index) {
    vec3 f0 = mix(vec3(0.04), albedo, metal);
    vec3 diffuse = albedo * (1.0 - metal) / PI;
    float n_dot_v = max(dot(n, v), 1e-4);
    float open = occlusion(p, n, self_index);
    vec2 ab = env_brdf(roughness, n_dot_v);
    vec3 color = diffuse * max(sh_irradiance(sh, n), 0.0) * open;
    color += prefiltered(reflect(-v, n), roughness) * (f0 * ab.x + ab.y) * open;
    float n_dot_l = dot(n, light_direction);
    if (n_dot_l > 0.0 && dot(sun_irradiance, vec3(1.0)) > 0.0) {
        vec3 sun = sun_irradiance * n_dot_l * sun_shadow(p, light_direction, self_index);
        color += sun * (diffuse + ggx_sun(n, v, light_direction, roughness, f0));
    }
    return color;
}

void main() {
    vec3 ray = view_ray(v_ndc);
    if (ray.y >= 0.0) discard;  // the sky: every sphere lies below the eye
    // The ground, then each sphere the ray meets nearer. The hit's values are picked as the loop
    // goes, not looked up by a per-pixel sphere number afterwards (which llvmpipe gathers lane by
    // lane); and one shade() serves both, as a software rasteriser runs both sides of a branch.
    float t = -EYE.y / ray.y;
    int self_index = -1;
    vec3 centre = vec3(0.0), albedo = vec3(0.0);
    float roughness = GROUND_ROUGHNESS, metal = 0.0;
    for (int i = 0; i < SPHERES; ++i) {
        float t_sphere = hit_sphere(EYE, ray, sphere(i));
        if (t_sphere > 0.0 && t_sphere < t) {
            t = t_sphere;
            self_index = i;
            centre = sphere(i).xyz;
            albedo = sphere_albedo(i);
            roughness = sphere_roughness(i);
            metal = sphere_metal(i);
        }
    }
    vec3 p = EYE + t * ray;
    vec3 n = vec3(0.0, 1.0, 0.0);
    float alpha = 1.0;
    if (self_index >= 0) {
        n = normalize(p - centre);
    } else {
        albedo = vec3(0.16 + 0.04 * checker(p.xz));
        alpha = 1.0 - smoothstep(GROUND_OPAQUE_M, GROUND_FADE_M, length(p.xz));
    }
    vec3 color = shade(p, n, -ray, albedo, roughness, metal, self_index);
#if !LOOKDEV_RADIANCE
    out_display = scene_display(color, alpha);
#endif
    out_radiance = vec4(color, alpha);
}
