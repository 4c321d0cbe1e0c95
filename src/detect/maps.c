/* maps.c - text scores, harmonic window aggregation, score and map fusion. */
#include "detect/maps.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

float am_text_anomaly_score(const float *e, const float *t_normal, const float *t_anomalous,
                            int32_t dim, float temperature) {
    double ee = 0, en = 0, ea = 0;
    for (int32_t i = 0; i < dim; i++) {
        ee += (double)e[i] * e[i];
        en += (double)e[i] * t_normal[i];
        ea += (double)e[i] * t_anomalous[i];
    }
    double norm = ee > 0 ? sqrt(ee) : 1.0;
    double cn = en / norm, ca = ea / norm;
    /* softmax of two: p1 = 1 / (1 + exp((c0 - c1) / T)) */
    return (float)(1.0 / (1.0 + exp((cn - ca) / temperature)));
}

am_status am_map_harmonic(const int32_t *patches, int32_t count, int32_t size,
                          const float *scores, int32_t n_patches, float *map, am_error *err) {
    double *inv = calloc((size_t)n_patches, sizeof *inv);
    int32_t *hits = calloc((size_t)n_patches, sizeof *hits);
    uint8_t *zero = calloc((size_t)n_patches, 1);
    if (!inv || !hits || !zero) {
        free(inv);
        free(hits);
        free(zero);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    for (int32_t w = 0; w < count; w++)
        for (int32_t j = 0; j < size; j++) {
            int32_t p = patches[(int64_t)w * size + j];
            hits[p]++;
            if (scores[w] <= 0) zero[p] = 1;
            else inv[p] += 1.0 / scores[w];
        }
    for (int32_t p = 0; p < n_patches; p++)
        map[p] = hits[p] == 0 || zero[p] ? 0.0f : (float)(hits[p] / inv[p]);
    free(inv);
    free(hits);
    free(zero);
    return AM_OK;
}

void am_map_blend(const float *x, float a, const float *y, float b, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = a * x[i] + b * y[i];
}

void am_map_add_scaled(const float *x, float a, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] += a * x[i];
}

void am_map_scale(float *out, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] *= a;
}

float am_map_max(const float *x, int64_t n) {
    if (n <= 0) return 0.0f;
    float m = x[0];
    for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

float am_score_zero_shot(float a_multi, const float *a_single, int32_t n_objects) {
    float best = n_objects > 0 ? am_map_max(a_single, n_objects) : a_multi;
    return a_multi + best;
}

float am_score_few_shot(float a_multi, float max_global, const float *a_single,
                        int32_t n_objects, float max_indiv) {
    float best = n_objects > 0 ? am_map_max(a_single, n_objects) : a_multi;
    return (a_multi + max_global) + (best + max_indiv);
}

/* One 1-D pass of the Gaussian over n_lines lines of len samples: sample i of
 * line l is at l * line_step + i * step; borders replicated. */
static void blur_pass(const float *src, float *dst, int32_t n_lines, int32_t len,
                      int64_t line_step, int64_t step, const float *k, int32_t r) {
    for (int32_t l = 0; l < n_lines; l++)
        for (int32_t i = 0; i < len; i++) {
            float s = 0;
            for (int32_t j = -r; j <= r; j++) {
                int32_t t = i + j < 0 ? 0 : i + j >= len ? len - 1 : i + j;
                s += k[j + r] * src[l * line_step + t * step];
            }
            dst[l * line_step + i * step] = s;
        }
}

am_status am_map_gaussian(float *map, int32_t w, int32_t h, float sigma, float *scratch,
                          am_error *err) {
    if (sigma <= 0) return AM_OK;
    int32_t r = (int32_t)ceilf(3.0f * sigma);
    float *k = malloc(sizeof(float) * (size_t)(2 * r + 1));
    if (!k) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    double sum = 0;
    for (int32_t i = -r; i <= r; i++) sum += k[i + r] = expf(-0.5f * i * i / (sigma * sigma));
    for (int32_t i = 0; i <= 2 * r; i++) k[i] = (float)(k[i] / sum);
    blur_pass(map, scratch, h, w, w, 1, k, r);
    blur_pass(scratch, map, w, h, 1, w, k, r);
    free(k);
    return AM_OK;
}
