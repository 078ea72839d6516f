// Pixel -> view ray. The viewer and the engine samples use the perspective camera; the recorder
// also renders whole-sky masters by compiling the dome with VIEW_PROJECTION defined
// (ShaderLibrary defines, render/projections.py):
//   0 perspective: cam_forward + ndc.x * cam_right + ndc.y * cam_up. Cube-map faces are 90-degree
//     perspective views whose basis is the OpenGL face's axes.
//   1 equirect: the full sphere, W = 2H, u = 0.5 north, u growing towards east, v = 0 zenith.
//   2 fisheye: the canonical sky image itself (zenith at the centre, horizon on the inscribed
//     circle, north up, east left: a fulldome master); outside the circle the equidistant mapping
//     continues below the horizon.
// Same maths as skyviewer.sky.projection (equirect_uv_to_direction, fisheye_uv_to_direction).
// Needs uniforms.glsl and sky_projection.glsl (HALF_PI).

#ifndef VIEW_PROJECTION
#define VIEW_PROJECTION 0
#endif

// ndc: normalised device coordinates of the pixel centre (x right, y up, both in [-1, 1]).
vec3 view_ray(vec2 ndc) {
#if VIEW_PROJECTION == 1
    float zenith = (1.0 - ndc.y) * HALF_PI;  // v * pi with v = (1 - ndc.y) / 2
    float azimuth = ndc.x * 2.0 * HALF_PI;   // (u - 0.5) * 2 pi with u = (ndc.x + 1) / 2
    return vec3(sin(zenith) * sin(azimuth), cos(zenith), -sin(zenith) * cos(azimuth));
#elif VIEW_PROJECTION == 2
    float r = length(ndc);                   // 1 on the horizon circle
    float zenith = r * HALF_PI;
    float k = r > 1e-7 ? sin(zenith) / r : HALF_PI;  // sin(zenith) / r -> pi / 2 at the zenith
    return vec3(-ndc.x * k, cos(zenith), -ndc.y * k);
#else
    return normalize(cam_forward + ndc.x * cam_right + ndc.y * cam_up);
#endif
}

// Angular size (rad) of the pixel looking along `ray`, for the sun disc's anti-aliasing. A
// perspective image's shrinks off-axis (~cos of the angle); the panoramas' rows are pixel_angle
// apart everywhere.
float view_footprint(vec3 ray) {
#if VIEW_PROJECTION == 0
    return pixel_angle * dot(ray, cam_forward);
#else
    return pixel_angle;
#endif
}
