/* resize_f32.c - torch-compatible bilinear resizing of float maps. */
#include "image/resize_f32.h"

#include "core/alloc.h"
#include "core/error.h"

/* Source index pair and weights of one output coordinate, computed in float
 * as ATen's CPU kernel does (scale = in / out). */
typedef struct {
    int32_t i0, i1;
    float w0, w1;
} lerp_tap;

static lerp_tap lerp_tap_at(int32_t out_index, int32_t in, int32_t out) {
    float scale = (float)in / (float)out;
    float src = scale * ((float)out_index + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int32_t i0 = (int32_t)src;
    if (i0 > in - 1) i0 = in - 1;
    lerp_tap t;
    t.i0 = i0;
    t.i1 = i0 < in - 1 ? i0 + 1 : i0;
    t.w1 = src - (float)i0;
    t.w0 = 1.0f - t.w1;
    return t;
}

am_status am_resize_f32_bilinear_window(const float *src, int32_t sw, int32_t sh, int32_t dw,
                                        int32_t dh, int32_t rx, int32_t ry, int32_t rw,
                                        int32_t rh, float *dst, am_error *err) {
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || rw <= 0 || rh <= 0 || rx < 0 || ry < 0 ||
        rx > dw - rw || ry > dh - rh)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "bilinear resize %d x %d -> %d x %d: bad window %d,%d %d x %d", sw, sh,
                            dw, dh, rx, ry, rw, rh);
    lerp_tap *cols = am_alloc((size_t)rw, sizeof *cols, err);
    if (!cols) return AM_ERR_NOMEM;
    for (int32_t x = 0; x < rw; x++) cols[x] = lerp_tap_at(rx + x, sw, dw);
    for (int32_t y = 0; y < rh; y++) {
        lerp_tap r = lerp_tap_at(ry + y, sh, dh);
        const float *a = src + (size_t)r.i0 * (size_t)sw;
        const float *b = src + (size_t)r.i1 * (size_t)sw;
        float *o = dst + (size_t)y * (size_t)rw;
        for (int32_t x = 0; x < rw; x++) {
            lerp_tap c = cols[x];
            o[x] = r.w0 * (c.w0 * a[c.i0] + c.w1 * a[c.i1]) +
                   r.w1 * (c.w0 * b[c.i0] + c.w1 * b[c.i1]);
        }
    }
    am_free(cols);
    return AM_OK;
}

am_status am_resize_f32_bilinear(const float *src, int32_t sw, int32_t sh, float *dst, int32_t dw,
                                 int32_t dh, am_error *err) {
    return am_resize_f32_bilinear_window(src, sw, sh, dw, dh, 0, 0, dw, dh, dst, err);
}
