/* augment.c - flips, rotations and shifts of RGB images. */
#include "detect/augment.h"

#include <math.h>
#include <string.h>

int32_t am_augment_list(uint32_t flags, float rotate_degrees, float translate_fraction,
                        am_augment *list) {
    int32_t n = 0;
    if (flags & AM_AUG_IDENTITY) list[n++] = (am_augment){AM_AUGMENT_IDENTITY, 0};
    if (flags & AM_AUG_HFLIP) list[n++] = (am_augment){AM_AUGMENT_HFLIP, 0};
    if (flags & AM_AUG_VFLIP) list[n++] = (am_augment){AM_AUGMENT_VFLIP, 0};
    if (flags & AM_AUG_ROTATE_POS) list[n++] = (am_augment){AM_AUGMENT_ROTATE, rotate_degrees};
    if (flags & AM_AUG_ROTATE_NEG) list[n++] = (am_augment){AM_AUGMENT_ROTATE, -rotate_degrees};
    if (flags & AM_AUG_TRANSLATE) {
        list[n++] = (am_augment){AM_AUGMENT_SHIFT_X, translate_fraction};
        list[n++] = (am_augment){AM_AUGMENT_SHIFT_X, -translate_fraction};
        list[n++] = (am_augment){AM_AUGMENT_SHIFT_Y, translate_fraction};
        list[n++] = (am_augment){AM_AUGMENT_SHIFT_Y, -translate_fraction};
    }
    return n;
}

static int32_t clampi(int32_t v, int32_t hi) {
    return v < 0 ? 0 : v > hi ? hi : v;
}

/* Bilinear sample at (x, y) with the border replicated. */
static void sample_bilinear(const am_image *im, float x, float y, uint8_t *px) {
    float fx = floorf(x), fy = floorf(y);
    int32_t x0 = (int32_t)fx, y0 = (int32_t)fy;
    float ax = x - fx, ay = y - fy;
    int32_t xa = clampi(x0, im->width - 1), xb = clampi(x0 + 1, im->width - 1);
    int32_t ya = clampi(y0, im->height - 1), yb = clampi(y0 + 1, im->height - 1);
    for (int c = 0; c < 3; c++) {
        float p00 = im->data[((size_t)ya * im->width + xa) * 3 + c];
        float p01 = im->data[((size_t)ya * im->width + xb) * 3 + c];
        float p10 = im->data[((size_t)yb * im->width + xa) * 3 + c];
        float p11 = im->data[((size_t)yb * im->width + xb) * 3 + c];
        float v = (p00 * (1 - ax) + p01 * ax) * (1 - ay) + (p10 * (1 - ax) + p11 * ax) * ay;
        px[c] = (uint8_t)(v + 0.5f);
    }
}

am_status am_augment_apply(const am_image *src, am_augment aug, am_image *out, am_error *err) {
    am_status st = am_image_alloc(src->width, src->height, out, err);
    if (st != AM_OK) return st;
    const int32_t w = src->width, h = src->height;
    const double rad = aug.amount * 3.14159265358979323846 / 180.0;
    const float cs = (float)cos(rad), sn = (float)sin(rad);
    const float cx = (w - 1) * 0.5f, cy = (h - 1) * 0.5f;
    const int32_t dx = (int32_t)lroundf(aug.amount * w), dy = (int32_t)lroundf(aug.amount * h);
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            uint8_t *px = out->data + ((size_t)y * w + x) * 3;
            int32_t sx = x, sy = y;
            switch (aug.kind) {
            case AM_AUGMENT_IDENTITY: break;
            case AM_AUGMENT_HFLIP: sx = w - 1 - x; break;
            case AM_AUGMENT_VFLIP: sy = h - 1 - y; break;
            case AM_AUGMENT_SHIFT_X: sx = clampi(x - dx, w - 1); break;
            case AM_AUGMENT_SHIFT_Y: sy = clampi(y - dy, h - 1); break;
            case AM_AUGMENT_ROTATE: {
                /* inverse map: rotate the output position back by the angle
                 * (image y points down, so counter-clockwise on screen) */
                float ux = x - cx, uy = y - cy;
                sample_bilinear(src, cx + cs * ux - sn * uy, cy + sn * ux + cs * uy, px);
                continue;
            }
            }
            memcpy(px, src->data + ((size_t)sy * w + sx) * 3, 3);
        }
    return AM_OK;
}
