/* maps.h - the arithmetic of the method on small arrays: text anomaly scores,
 * harmonic aggregation of window scores into patch maps (Eq. 2), and the
 * fusions of Eqs. 1, 3, 6-9.  Pure functions, each unit-tested by hand. */
#ifndef AM_DETECT_MAPS_H
#define AM_DETECT_MAPS_H

#include <stdint.h>

#include "anomem.h"

/* softmax([cos(e,t_normal), cos(e,t_anomalous)] / temperature)[1]; the text
 * vectors are unit length, e need not be. */
float am_text_anomaly_score(const float *e, const float *t_normal, const float *t_anomalous,
                            int32_t dim, float temperature);

/* Eq. 2: map[p] = t_p / sum over the t_p windows covering patch p of
 * 1/score.  A window score of 0 makes its patches 0 (the harmonic limit);
 * patches no window covers get 0.  patches: count x size indices. */
am_status am_map_harmonic(const int32_t *patches, int32_t count, int32_t size,
                          const float *scores, int32_t n_patches, float *map, am_error *err);

/* out[i] = a * x[i] + b * y[i] */
void am_map_blend(const float *x, float a, const float *y, float b, int64_t n, float *out);

/* out[i] += a * x[i] */
void am_map_add_scaled(const float *x, float a, int64_t n, float *out);

/* out[i] *= a */
void am_map_scale(float *out, float a, int64_t n);

/* Largest value of a map (0 for n = 0). */
float am_map_max(const float *x, int64_t n);

/* Eq. 1: A(x) = A_multi(x) + max_j A_single(x_j); with no objects the image
 * itself is the single object (A_single = A_multi). */
float am_score_zero_shot(float a_multi, const float *a_single, int32_t n_objects);

/* Eqs. 7-8: A = (A_multi + max S_global) + (max_j A_single(x_j) + max S_indiv). */
float am_score_few_shot(float a_multi, float max_global, const float *a_single,
                        int32_t n_objects, float max_indiv);

/* Separable Gaussian smoothing of a w x h map in place, sigma in pixels,
 * kernel radius ceil(3 sigma), borders replicated. */
am_status am_map_gaussian(float *map, int32_t w, int32_t h, float sigma, float *scratch,
                          am_error *err);

#endif
