// One triangle that covers the viewport, generated from gl_VertexID (no vertex buffer):
// vertices (-1,-1), (3,-1), (-1,3). The clip-space xy doubles as normalised device coords.
vec2 fullscreen_position(int vertex_id) {
    return vec2(float((vertex_id & 1) << 2) - 1.0, float((vertex_id & 2) << 1) - 1.0);
}
