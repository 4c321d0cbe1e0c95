/* sam_postprocess.c - bilinear upscaling of mask logits exactly as
 * notes/sam.md 3.5 describes PyTorch's interpolate(mode="bilinear",
 * align_corners=False): per axis s = (float)in / out, source coordinate
 * max((o + 0.5) s - 0.5, 0) in float32, i0 = (int)src, i1 = min(i0 + 1,
 * in - 1), l = src - i0; an axis whose size does not change is copied. */
#include "sam/sam_postprocess.h"

#include <stdlib.h>
#include <string.h>

/* The two source indices and weights of one output index. */
typedef struct {
    int32_t i0, i1;
    float l0, l1;
} tap;

/* Taps of the first `count` outputs of an axis resized from `in` to `out`. */
static void axis_taps(int32_t in, int32_t out, int32_t count, tap *t) {
    const float s = (float)in / (float)out;
    for (int32_t o = 0; o < count; o++) {
        if (in == out) {
            t[o] = (tap){o, o, 1.0f, 0.0f};
            continue;
        }
        float src = s * ((float)o + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
        const int32_t i0 = (int32_t)src;
        const int32_t i1 = i0 < in - 1 ? i0 + 1 : i0;
        float l1 = src - (float)i0;
        l1 = l1 < 0.0f ? 0.0f : (l1 > 1.0f ? 1.0f : l1);
        t[o] = (tap){i0, i1, 1.0f - l1, l1};
    }
}

/* Resizes src [sh][sw] to the top-left oh_keep x ow_keep part of an
 * oh x ow resize, into dst [oh_keep][ow_keep]; rows is scratch of
 * sh * ow_keep floats, taps of ow_keep + oh_keep entries. */
static void resize(const float *src, int32_t sh, int32_t sw, int32_t oh, int32_t ow,
                   int32_t oh_keep, int32_t ow_keep, float *dst, float *rows, tap *taps) {
    if (sh == oh && sw == ow) {
        for (int32_t y = 0; y < oh_keep; y++)
            memcpy(dst + (int64_t)y * ow_keep, src + (int64_t)y * sw,
                   (size_t)ow_keep * sizeof *dst);
        return;
    }
    tap *tx = taps, *ty = taps + ow_keep;
    axis_taps(sw, ow, ow_keep, tx);
    axis_taps(sh, oh, oh_keep, ty);
    /* only the source rows some output row reads */
    int32_t last = 0;
    for (int32_t y = 0; y < oh_keep; y++) last = ty[y].i1 > last ? ty[y].i1 : last;
    for (int32_t r = 0; r <= last; r++) {
        const float *a = src + (int64_t)r * sw;
        float *o = rows + (int64_t)r * ow_keep;
        for (int32_t x = 0; x < ow_keep; x++)
            o[x] = a[tx[x].i0] * tx[x].l0 + a[tx[x].i1] * tx[x].l1;
    }
    for (int32_t y = 0; y < oh_keep; y++) {
        const float *r0 = rows + (int64_t)ty[y].i0 * ow_keep;
        const float *r1 = rows + (int64_t)ty[y].i1 * ow_keep;
        const float l0 = ty[y].l0, l1 = ty[y].l1;
        float *o = dst + (int64_t)y * ow_keep;
        for (int32_t x = 0; x < ow_keep; x++) o[x] = r0[x] * l0 + r1[x] * l1;
    }
}

int64_t sam_postprocess_scratch_floats(int32_t lowres, int32_t input_size, int32_t input_h,
                                       int32_t input_w, int32_t height, int32_t width) {
    const int64_t rows1 = (int64_t)lowres * input_w;
    const int64_t mid = (int64_t)input_h * input_w;
    const int64_t rows2 = (int64_t)input_h * width;
    const int64_t taps = 2 * (int64_t)(input_size > height ? input_size : height) +
                         2 * (int64_t)(input_size > width ? input_size : width);
    const int64_t tap_floats = taps * (int64_t)(sizeof(tap) / sizeof(float));
    return mid + (rows1 > rows2 ? rows1 : rows2) + tap_floats;
}

void sam_postprocess_logits(const float *lowres, int32_t lowres_size, int32_t input_size,
                            int32_t input_h, int32_t input_w, int32_t height, int32_t width,
                            float *out, float *scratch) {
    float *mid = scratch;
    float *rows = mid + (int64_t)input_h * input_w;
    const int64_t rows1 = (int64_t)lowres_size * input_w, rows2 = (int64_t)input_h * width;
    tap *taps = (tap *)(rows + (rows1 > rows2 ? rows1 : rows2));
    resize(lowres, lowres_size, lowres_size, input_size, input_size, input_h, input_w, mid, rows,
           taps);
    resize(mid, input_h, input_w, height, width, height, width, out, rows, taps);
}
