/* resize.c - Pillow-exact separable resampling of 8-bit images. */
#include "image/resize.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

#define PRECISION_BITS 22

static double bicubic_kernel(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double bilinear_kernel(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Fixed-point coefficients of one axis: for output o, inputs bounds[2o] ..
 * bounds[2o]+bounds[2o+1]-1 with weights coeffs[o*ksize ..]. */
typedef struct {
    int32_t ksize;
    int32_t *bounds;
    int32_t *coeffs;
} axis_coeffs;

static am_status make_coeffs(int32_t in, int32_t out, am_resample filter, axis_coeffs *ax,
                             am_error *err) {
    double support_unit = filter == AM_RESAMPLE_BICUBIC ? 2.0 : 1.0;
    double scale = (double)in / out;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support_unit * filterscale;
    ax->ksize = (int32_t)ceil(support) * 2 + 1;
    ax->bounds = am_alloc((size_t)out * 2, sizeof(int32_t), err);
    ax->coeffs = am_alloc((size_t)out * (size_t)ax->ksize, sizeof(int32_t), err);
    double *k = am_alloc((size_t)ax->ksize, sizeof(double), err);
    if (!ax->bounds || !ax->coeffs || !k) {
        am_free(k);
        return AM_ERR_NOMEM;
    }
    for (int32_t o = 0; o < out; o++) {
        double center = (o + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int32_t xmin = (int32_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int32_t xmax = (int32_t)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        double ww = 0.0;
        for (int32_t x = 0; x < xmax; x++) {
            double w = filter == AM_RESAMPLE_BICUBIC ? bicubic_kernel((x + xmin - center + 0.5) * ss)
                                                     : bilinear_kernel((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int32_t *kk = ax->coeffs + (size_t)o * ax->ksize;
        for (int32_t x = 0; x < ax->ksize; x++) {
            double w = x < xmax && ww != 0.0 ? k[x] / ww : 0.0;
            kk[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << PRECISION_BITS))
                          : (int32_t)(0.5 + w * (1 << PRECISION_BITS));
        }
        ax->bounds[2 * o] = xmin;
        ax->bounds[2 * o + 1] = xmax;
    }
    am_free(k);
    return AM_OK;
}

static uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* One pass along x (horizontal=1) or y over an interleaved image. */
static void resample_pass(const uint8_t *src, int32_t sw, int32_t sh, int32_t ch, uint8_t *dst,
                          int32_t dw, int32_t dh, const axis_coeffs *ax, int horizontal) {
    for (int32_t y = 0; y < dh; y++) {
        for (int32_t x = 0; x < dw; x++) {
            int32_t o = horizontal ? x : y;
            int32_t lo = ax->bounds[2 * o], n = ax->bounds[2 * o + 1];
            const int32_t *k = ax->coeffs + (size_t)o * ax->ksize;
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = 1 << (PRECISION_BITS - 1);
                for (int32_t i = 0; i < n; i++) {
                    const uint8_t *p = horizontal ? src + ((size_t)y * sw + lo + i) * ch
                                                  : src + ((size_t)(lo + i) * sw + x) * ch;
                    acc += p[c] * k[i];
                }
                dst[((size_t)y * dw + x) * ch + c] = clip8(acc);
            }
        }
    }
    (void)sh;
}

am_status am_resize_u8(const uint8_t *src, int32_t sw, int32_t sh, int32_t channels, uint8_t *dst,
                       int32_t dw, int32_t dh, am_resample filter, am_error *err) {
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || channels <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "resize from %dx%d to %dx%d: invalid size",
                            (int)sw, (int)sh, (int)dw, (int)dh);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * channels);
        return AM_OK;
    }
    axis_coeffs hx = {0}, vy = {0};
    uint8_t *mid = NULL;
    am_status st = AM_OK;
    const uint8_t *vsrc = src;
    if (sw != dw) {
        if ((st = make_coeffs(sw, dw, filter, &hx, err)) != AM_OK) goto done;
        uint8_t *hdst = dst;
        if (sh != dh) {
            mid = am_alloc((size_t)dw * sh, (size_t)channels, err);
            if (!mid) {
                st = AM_ERR_NOMEM;
                goto done;
            }
            hdst = mid;
        }
        resample_pass(src, sw, sh, channels, hdst, dw, sh, &hx, 1);
        vsrc = mid;
    }
    if (sh != dh) {
        if ((st = make_coeffs(sh, dh, filter, &vy, err)) != AM_OK) goto done;
        resample_pass(vsrc, dw, sh, channels, dst, dw, dh, &vy, 0);
    }
done:
    am_free(hx.bounds);
    am_free(hx.coeffs);
    am_free(vy.bounds);
    am_free(vy.coeffs);
    am_free(mid);
    return st;
}
