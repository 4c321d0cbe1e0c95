/* metrics.h - the internals of the ranking metrics shared by metrics*.c:
 * order-preserving float keys, radix sorts, 8-connected region labelling, and
 * the one walk over all distinct thresholds that yields every metric. */
#ifndef AM_EVAL_METRICS_H
#define AM_EVAL_METRICS_H

#include <stdint.h>
#include <string.h>

#include "anomem.h"

/* An unsigned key that orders like the float (-0.0 and +0.0 get one key, so
 * that equal scores tie as they do in numpy).  v must not be NaN. */
static inline uint32_t am_metrics_key(float v) {
    if (v == 0.0f) v = 0.0f;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* The float a key came from. */
static inline float am_metrics_unkey(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Sorts n keys ascending (LSD radix); tmp holds n keys of scratch. */
void am_metrics_sort_keys(uint32_t *keys, uint32_t *tmp, size_t n);

/* Sorts n (key << 32 | payload) pairs ascending by key (the payload order
 * within a key is unspecified); tmp holds n pairs of scratch. */
void am_metrics_sort_pairs(uint64_t *pairs, uint64_t *tmp, size_t n);

/*
 * Labels the 8-connected components of the nonzero pixels of a width x height
 * mask: labels[i] is -1 for a zero pixel, else the component index 0..count-1
 * in raster order of each component's first pixel.  `stack` is scratch for
 * width*height entries.  Returns the number of components.
 */
int64_t am_metrics_label_regions(const uint8_t *mask, int32_t width, int32_t height,
                                 int32_t *labels, int32_t *stack);

/* What the threshold walk ranks: negatives and positives each sorted
 * ascending; for AUPRO, each positive's payload is its region and
 * region_weight[r] = 1 / (pixels of region r). */
typedef struct {
    const uint32_t *neg;
    int64_t n_neg;
    const uint64_t *pos;
    int64_t n_pos;
    const double *region_weight; /* NULL: no AUPRO */
    int64_t n_regions;
    double fpr_limit;
} am_rank_input;

/* The metrics of one walk; values that the labels leave undefined are NaN
 * and their AM_METRIC_* bit is set in `undefined`. */
typedef struct {
    double auroc, ap, f1max, aupro;
    float f1_threshold;
    uint32_t undefined;
    am_curve roc, pr, pro;
} am_rank_result;

/* Walks every distinct score from the highest down, all samples of a tied
 * score entering together (scikit-learn's _binary_clf_curve), and computes
 * AUROC (trapezoid), AP (sum of recall steps times precision), F1-max, the
 * normalised AUPRO up to fpr_limit and the downsampled curves. */
void am_metrics_walk(const am_rank_input *in, am_rank_result *out);

#endif
