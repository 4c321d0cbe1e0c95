/* metrics_walk.c - one pass over the distinct thresholds of sorted scores,
 * from the highest down, computing AUROC, AP, F1-max and AUPRO together, and
 * the downsampled ROC, PR and PRO curves for plots. */
#include <math.h>

#include "eval/metrics.h"

/* A curve being built: points closer than `delta` (in x or y) to the last
 * kept point are dropped; when the curve is full, delta doubles and the kept
 * points are thinned again, so any number of points fits. */
typedef struct {
    am_curve *c;
    double delta;
} curve_builder;

/* Is (x, y) at least delta away, in x or in y, from point `at` of c? */
static int far_enough(const am_curve *c, int32_t at, double x, double y, double delta) {
    return fabs(x - c->x[at]) >= delta || fabs(y - c->y[at]) >= delta;
}

/* Thins the kept points with the doubled distance, always keeping the first. */
static void curve_thin(curve_builder *b) {
    am_curve *c = b->c;
    b->delta = b->delta > 0 ? 2 * b->delta : 1.0 / AM_CURVE_MAX_POINTS;
    int32_t kept = 1;
    for (int32_t i = 1; i < c->n; i++) {
        if (far_enough(c, kept - 1, c->x[i], c->y[i], b->delta)) {
            c->x[kept] = c->x[i];
            c->y[kept] = c->y[i];
            kept++;
        }
    }
    c->n = kept;
}

/* Adds a point; `last` points are always kept (after thinning if full). */
static void curve_add(curve_builder *b, double x, double y, int last) {
    am_curve *c = b->c;
    if (c->n > 0 && !last && !far_enough(c, c->n - 1, x, y, b->delta)) return;
    while (c->n >= AM_CURVE_MAX_POINTS) curve_thin(b);
    c->x[c->n] = (float)x;
    c->y[c->n] = (float)y;
    c->n++;
}

/* Compensated (Neumaier) summation: exact enough over 10^8 terms. */
typedef struct {
    double sum, comp;
} kahan_sum;

static void kahan_add(kahan_sum *s, double v) {
    double t = s->sum + v;
    if (fabs(s->sum) >= fabs(v)) s->comp += (s->sum - t) + v;
    else s->comp += (v - t) + s->sum;
    s->sum = t;
}

static double kahan_value(const kahan_sum *s) {
    return s->sum + s->comp;
}

void am_metrics_walk(const am_rank_input *in, am_rank_result *out) {
    const int64_t P = in->n_pos, N = in->n_neg;
    const int with_pro = in->region_weight != NULL && in->n_regions > 0 && N > 0;
    memset(out, 0, sizeof *out);
    out->f1_threshold = NAN;
    curve_builder roc = {&out->roc, 0}, pr = {&out->pr, 0}, pro = {&out->pro, 0};
    curve_add(&roc, 0, 0, 0);
    if (with_pro) curve_add(&pro, 0, 0, 0);

    int64_t i = N, j = P; /* entries above index are consumed (walking down) */
    int64_t tp = 0, fp = 0;
    unsigned __int128 roc_twice = 0; /* sum of d(fp) * (tp_old + tp_new) */
    kahan_sum ap = {0, 0}, pro_sum = {0, 0}, aupro = {0, 0};
    double best_f1 = -1;
    double pro_prev = 0, fpr_prev = 0;
    int pro_done = !with_pro;
    while (i > 0 || j > 0) {
        uint32_t kn = i > 0 ? in->neg[i - 1] : 0;
        uint32_t kp = j > 0 ? (uint32_t)(in->pos[j - 1] >> 32) : 0;
        uint32_t k = (i > 0 && (j == 0 || kn >= kp)) ? kn : kp;
        int64_t dn = 0, dp = 0;
        while (i > 0 && in->neg[i - 1] == k) {
            i--;
            dn++;
        }
        while (j > 0 && (uint32_t)(in->pos[j - 1] >> 32) == k) {
            j--;
            dp++;
            if (with_pro) kahan_add(&pro_sum, in->region_weight[(uint32_t)in->pos[j]]);
        }
        roc_twice += (unsigned __int128)dn * (uint64_t)(2 * tp + dp);
        tp += dp;
        fp += dn;
        if (P > 0) {
            double precision = (double)tp / (double)(tp + fp);
            if (dp > 0) kahan_add(&ap, (double)dp / (double)P * precision);
            double f1 = 2.0 * (double)tp / (double)(tp + fp + P);
            if (f1 > best_f1) {
                best_f1 = f1;
                out->f1_threshold = am_metrics_unkey(k);
            }
            curve_add(&pr, (double)tp / (double)P, precision, i == 0 && j == 0);
        }
        curve_add(&roc, N > 0 ? (double)fp / (double)N : 0, P > 0 ? (double)tp / (double)P : 0,
                  i == 0 && j == 0);
        if (!pro_done) {
            double fpr = (double)fp / (double)N;
            double pro_now = kahan_value(&pro_sum) / (double)in->n_regions;
            if (fpr <= in->fpr_limit) {
                kahan_add(&aupro, 0.5 * (fpr - fpr_prev) * (pro_prev + pro_now));
                curve_add(&pro, fpr, pro_now, fpr == in->fpr_limit);
                pro_done = fpr == in->fpr_limit;
            } else {
                double at = pro_prev + (pro_now - pro_prev) * (in->fpr_limit - fpr_prev) /
                                           (fpr - fpr_prev);
                kahan_add(&aupro, 0.5 * (in->fpr_limit - fpr_prev) * (pro_prev + at));
                curve_add(&pro, in->fpr_limit, at, 1);
                pro_done = 1;
            }
            fpr_prev = fpr;
            pro_prev = pro_now;
        }
    }

    out->undefined = 0;
    if (P > 0 && N > 0) {
        out->auroc = (double)roc_twice / (2.0 * (double)P * (double)N);
    } else {
        out->auroc = NAN;
        out->undefined |= AM_METRIC_AUROC;
    }
    if (P > 0) {
        out->ap = kahan_value(&ap);
        out->f1max = best_f1;
    } else {
        out->ap = out->f1max = NAN;
        out->undefined |= AM_METRIC_AP | AM_METRIC_F1MAX;
    }
    if (with_pro) {
        out->aupro = kahan_value(&aupro) / in->fpr_limit;
    } else {
        out->aupro = NAN;
        out->undefined |= AM_METRIC_AUPRO;
    }
}
