#version 330 core
// Lighting bake, pass 2: SH projection of the environment, its exact irradiance facing up, and
// the sun's visibility. Fragment (i, band), i < 9: coefficient i summed over one band of rows of
// a SH_GRID^2 grid over the whole sphere in the equidistant fisheye continued below the horizon
// (|p| = zenith angle / 90 deg, up to 2 at the nadir), each cell weighted by its solid angle
// (2 pi / SH_GRID)^2 sin(zenith) / zenith, reading the reduced sky's mip of about the grid's
// density (env_lod, so texture finer than a cell averages instead of aliasing). Fragment (9, band):
// the sun's visibility in the full-resolution frame (sun.glsl, as the dome reads it; every band
// has it, band 0 is read) and, in gba, the band's share of the cosine-weighted integral facing up,
// which Python and the engines sum and match the SH to (runtime/lighting.py match_up_irradiance).
// One row per band: 640 fragments of 64 cells each keep a GPU's threads busy.

#include "sky_projection.glsl"
#include "lighting_env.glsl"
#include "sun.glsl"
#include "sh.glsl"

uniform sampler2D env;  // the reduced clean sky
uniform sampler2D sky;  // the model frame (only for the sun's visibility)

flat in vec3 v_ground;

out vec4 out_sum;

const int SH_GRID = 64;    // keep in sync with render/lighting.py
const int SH_BANDS = 64;

void main() {
    ivec2 cell = ivec2(gl_FragCoord.xy);
    bool up_cell = cell.x == SH_COUNT;
    float cell_angle = 4.0 * HALF_PI / float(SH_GRID);
    int rows = SH_GRID / SH_BANDS;
    vec3 sum = vec3(0.0);
    for (int j = cell.y * rows; j < (cell.y + 1) * rows; ++j) {
        for (int i = 0; i < SH_GRID; ++i) {
            vec2 p = (vec2(i, j) + 0.5) * (4.0 / float(SH_GRID)) - 2.0;  // (west, south)
            float rho = length(p);
            if (rho > 2.0) continue;
            float zenith = rho * HALF_PI;
            float k = sin(zenith) / max(rho, 1e-7);
            vec3 d = vec3(-p.x * k, cos(zenith), p.y * k);
            float weight = cell_angle * cell_angle * k / HALF_PI;  // sin(zenith) / zenith
            float basis = up_cell ? max(d.y, 0.0) : sh_basis(d, cell.x);
            sum += environment_radiance(env, d, v_ground) * (weight * basis);
        }
    }
    if (up_cell) {
        float visibility = sun_direction.y > -sun_radius
            ? sun_visibility(sun_peak(sky, fisheye_uv(sun_direction))) : 0.0;
        out_sum = vec4(visibility, sum);
    } else {
        out_sum = vec4(sum, 0.0);
    }
}
