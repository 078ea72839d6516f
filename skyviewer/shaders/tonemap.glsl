// Display transform, step for step as skyviewer/sky/tonemap.py (tests compare the two):
// exposure (done by the caller: x * exposure_scale), Stephen Hill's ACES RRT+ODT fit, sRGB.

// Hill's matrices written row by row as in tonemap.py: `v * mat3(rows)` computes M * v.
const mat3 ACES_INPUT_ROWS = mat3(
    0.59719, 0.35458, 0.04823,
    0.07600, 0.90834, 0.01566,
    0.02840, 0.13383, 0.83777);
const mat3 ACES_OUTPUT_ROWS = mat3(
    1.60475, -0.53108, -0.07367,
    -0.10208, 1.10813, -0.00605,
    -0.00327, -0.07276, 1.07602);

vec3 rrt_odt_fit(vec3 v) {
    vec3 a = v * (v + 0.0245786) - 0.000090537;
    vec3 b = v * (0.983729 * v + 0.4329510) + 0.238081;
    return a / b;
}

// Exposed linear RGB -> display-linear RGB in [0, 1].
vec3 aces_filmic(vec3 x) {
    vec3 v = rrt_odt_fit(x * ACES_INPUT_ROWS);
    return clamp(v * ACES_OUTPUT_ROWS, 0.0, 1.0);
}

// Display-linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1).
vec3 srgb_encode(vec3 x) {
    x = clamp(x, 0.0, 1.0);
    vec3 curve = 1.055 * pow(x, vec3(1.0 / 2.4)) - 0.055;
    return mix(curve, 12.92 * x, lessThanEqual(x, vec3(0.0031308)));
}

// Triangular-PDF noise in (-1, 1) per pixel and frame: the sum of two uniform variates.
// Added to the sRGB value at +-1 LSB it turns 8-bit banding into invisible, unbiased noise.
uint pcg_hash(uint v) {
    uint state = v * 747796405u + 2891336453u;
    uint word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

float triangular_noise(uvec2 pixel, uint frame) {
    uint h1 = pcg_hash(pixel.x + pcg_hash(pixel.y + pcg_hash(frame)));
    uint h2 = pcg_hash(h1);
    return (float(h1 >> 8u) + float(h2 >> 8u)) / 16777216.0 - 1.0;
}
