// Order-2 real spherical harmonics (9 coefficients; Sloan's order and constants) in world axes
// (x east, y up, z south), and the irradiance they give (Ramamoorthi & Hanrahan's cosine lobe).
// Same as skyviewer/runtime/lighting.py sh_basis / sh_irradiance.

const int SH_COUNT = 9;

float sh_basis(vec3 d, int i) {
    if (i == 0) return 0.282095;
    if (i == 1) return 0.488603 * d.y;
    if (i == 2) return 0.488603 * d.z;
    if (i == 3) return 0.488603 * d.x;
    if (i == 4) return 1.092548 * d.x * d.y;
    if (i == 5) return 1.092548 * d.y * d.z;
    if (i == 6) return 0.315392 * (3.0 * d.z * d.z - 1.0);
    if (i == 7) return 1.092548 * d.x * d.z;
    return 0.546274 * (d.x * d.x - d.y * d.y);
}

// Irradiance on a surface with unit normal n from radiance coefficients c (nits).
vec3 sh_irradiance(vec3 c[9], vec3 n) {
    const float A0 = 3.14159265358979, A1 = 2.09439510239320, A2 = 0.78539816339745;
    vec3 e = A0 * 0.282095 * c[0];
    e += A1 * 0.488603 * (c[1] * n.y + c[2] * n.z + c[3] * n.x);
    e += A2 * (1.092548 * (c[4] * n.x * n.y + c[5] * n.y * n.z + c[7] * n.x * n.z)
               + 0.315392 * c[6] * (3.0 * n.z * n.z - 1.0) + 0.546274 * c[8] * (n.x * n.x - n.y * n.y));
    return e;
}
