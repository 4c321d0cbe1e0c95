/* map_output.c - anomaly maps as files: a 16-bit PNG whose scale factor
 * recovers the float values, and a colour overlay on the image. */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"

am_status am_map_write_png16(const char *path, const float *map, int32_t width, int32_t height,
                             double *scale, am_error *err) {
    const int64_t n = (int64_t)width * height;
    float mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(map[i]) && map[i] > mx) mx = map[i];
    double s = mx > 0 ? (double)mx / 65535.0 : 1.0;
    uint16_t *px = am_alloc((size_t)n, sizeof *px, err);
    if (!px) return AM_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        double v = isfinite(map[i]) && map[i] > 0 ? map[i] / s : 0.0;
        px[i] = (uint16_t)(v > 65535.0 ? 65535 : lround(v));
    }
    am_status st = am_image_write_gray_png(path, px, width, height, 16, err);
    am_free(px);
    if (st == AM_OK && scale) *scale = s;
    return st;
}

/* A perceptual-ish blue-to-red ramp ("jet"-like), t in [0, 1]. */
static void colour_ramp(float t, float rgb[3]) {
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    rgb[0] = fminf(fmaxf(1.5f - fabsf(4 * t - 3), 0), 1);
    rgb[1] = fminf(fmaxf(1.5f - fabsf(4 * t - 2), 0), 1);
    rgb[2] = fminf(fmaxf(1.5f - fabsf(4 * t - 1), 0), 1);
}

am_status am_map_overlay(const am_image *image, const float *map, float vmax, am_image *out,
                         am_error *err) {
    const int64_t n = (int64_t)image->width * image->height;
    if (vmax <= 0)
        for (int64_t i = 0; i < n; i++)
            if (isfinite(map[i]) && map[i] > vmax) vmax = map[i];
    if (vmax <= 0) vmax = 1;
    am_status st = am_image_alloc(image->width, image->height, out, err);
    if (st != AM_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        float t = isfinite(map[i]) ? map[i] / vmax : 0, rgb[3];
        colour_ramp(t, rgb);
        float alpha = 0.5f;
        for (int c = 0; c < 3; c++) {
            float v = (1 - alpha) * image->data[i * 3 + c] + alpha * 255.0f * rgb[c];
            out->data[i * 3 + c] = (uint8_t)(v + 0.5f);
        }
    }
    return AM_OK;
}

am_status am_map_write_overlay(const char *path, const am_image *image, const float *map,
                               float vmax, am_error *err) {
    am_image out;
    am_status st = am_map_overlay(image, map, vmax, &out, err);
    if (st != AM_OK) return st;
    st = am_image_write_png(path, &out, err);
    am_image_free(&out);
    return st;
}
