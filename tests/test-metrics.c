/* test-metrics.c - the evaluation metrics: the two reference vector folders
 * (scikit-learn 1.2 and the exact AUPRO) through the library API, small cases
 * computed by hand, brute-force comparisons on random scores, the radix sort,
 * the curves, and degenerate inputs. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "anomem.h"
#include "check.h"
#include "core/rng.h"
#include "eval/metrics.h"

/* expected.<name> of an open vector file. */
static double expected(am_weights *w, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "expected.%s", name);
    const void *p;
    am_error err = {0};
    if (am_weights_get_raw(w, full, &p, NULL, &err) != AM_OK) {
        CHECK(0, "%s", err.message);
        return NAN;
    }
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* One vector folder: every expected value within its config's tolerance. */
static void test_vector_folder(const char *folder) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", check_shared_path(folder));
    json_t *cfg = json_load_file(path, 0, NULL);
    CHECK(cfg != NULL, "cannot read %s", path);
    if (!cfg) return;
    double tol = json_number_value(json_object_get(cfg, "tolerance_abs"));
    double limit = json_number_value(json_object_get(cfg, "aupro_fpr_limit"));
    json_decref(cfg);
    CHECK(tol == 1e-6 && limit == 0.3, "%s: tolerance %g, limit %g", folder, tol, limit);

    snprintf(path, sizeof path, "%s/cases.safetensors", check_shared_path(folder));
    am_error err = {0};
    am_weights *w = NULL;
    CHECK_OK(am_weights_open(path, &w, &err));
    if (!w) return;
    const am_tensor_info *ti = am_weights_find(w, "image.labels");
    const am_tensor_info *tm = am_weights_find(w, "pixel.masks");
    CHECK(ti && tm && tm->ndim == 3, "tensors missing in %s", path);
    if (!ti || !tm || tm->ndim != 3) {
        am_weights_close(w);
        return;
    }
    const void *labels, *masks;
    const float *scores, *maps;
    CHECK_OK(am_weights_get_raw(w, "image.labels", &labels, NULL, &err));
    CHECK_OK(am_weights_get_f32(w, "image.scores", &scores, &err));
    CHECK_OK(am_weights_get_raw(w, "pixel.masks", &masks, NULL, &err));
    CHECK_OK(am_weights_get_f32(w, "pixel.maps", &maps, &err));

    am_image_metrics im;
    CHECK_OK(am_metrics_image(scores, labels, ti->numel, &im, &err));
    CHECK_NEAR(im.auroc, expected(w, "image.auroc"), tol);
    CHECK_NEAR(im.ap, expected(w, "image.ap"), tol);
    CHECK_NEAR(im.f1max, expected(w, "image.f1max"), tol);
    CHECK(im.undefined == 0, "undefined %u", im.undefined);

    int32_t n = (int32_t)tm->shape[0], h = (int32_t)tm->shape[1], wd = (int32_t)tm->shape[2];
    const float *map_ptr[64];
    const uint8_t *mask_ptr[64];
    CHECK(n <= 64, "%d maps", n);
    for (int32_t i = 0; i < n && i < 64; i++) {
        map_ptr[i] = maps + (size_t)i * h * wd;
        mask_ptr[i] = (const uint8_t *)masks + (size_t)i * h * wd;
    }
    am_pixel_metrics *pm = malloc(sizeof *pm);
    CHECK_OK(am_metrics_pixel(map_ptr, mask_ptr, n, wd, h, limit, pm, &err));
    CHECK_NEAR(pm->auroc, expected(w, "pixel.auroc"), tol);
    CHECK_NEAR(pm->ap, expected(w, "pixel.ap"), tol);
    CHECK_NEAR(pm->f1max, expected(w, "pixel.f1max"), tol);
    CHECK_NEAR(pm->aupro, expected(w, "pixel.aupro"), tol);
    CHECK(pm->n_normal + pm->n_anomalous == (int64_t)n * h * wd, "pixel counts");
    free(pm);
    am_weights_close(w);
}

/* 4 scores with a tie between a normal and an anomalous sample.
 * Thresholds 0.9 (tp 1, fp 0), 0.5 (tp 2, fp 1), 0.2 (tp 2, fp 2):
 * AUROC = (2 + 1 + 0.5) / 4; AP = 0.5 * 1 + 0.5 * 2/3;
 * F1 = 2/3, 0.8, 2/3 -> 0.8 at 0.5.  Breaking the tie would give AP = 1. */
static void test_image_tie(void) {
    const float s[4] = {0.2f, 0.5f, 0.5f, 0.9f};
    const uint8_t l[4] = {0, 0, 1, 1};
    am_image_metrics m;
    am_error err = {0};
    CHECK_OK(am_metrics_image(s, l, 4, &m, &err));
    CHECK_NEAR(m.auroc, 0.875, 1e-12);
    CHECK_NEAR(m.ap, 0.5 + 0.5 * 2.0 / 3.0, 1e-12);
    CHECK_NEAR(m.f1max, 0.8, 1e-12);
    CHECK(m.f1_threshold == 0.5f, "f1 threshold %g", m.f1_threshold);
    CHECK(m.n_normal == 2 && m.n_anomalous == 2, "counts");
    /* ROC points: (0,0) (0,.5) (.5,1) (1,1) */
    CHECK(m.roc.n == 4, "roc has %d points", m.roc.n);
    CHECK(m.roc.x[2] == 0.5f && m.roc.y[2] == 1.0f, "roc point 2 (%g, %g)", m.roc.x[2],
          m.roc.y[2]);
    CHECK(m.roc.x[3] == 1.0f && m.roc.y[3] == 1.0f, "roc ends at (1, 1)");
    CHECK(m.pr.n == 3 && m.pr.x[0] == 0.5f && m.pr.y[0] == 1.0f, "pr starts at (0.5, 1)");

    /* -0.0 and +0.0 are one score: a tie. */
    const float z[2] = {-0.0f, 0.0f};
    const uint8_t zl[2] = {0, 1};
    CHECK_OK(am_metrics_image(z, zl, 2, &m, &err));
    CHECK_NEAR(m.auroc, 0.5, 0);
}

/*
 * A 5x5 map, two ground-truth regions: A = {(0,0), (1,1)} (one region only
 * with 8-connectivity), B = {(3,3), (3,4), (4,4)}; 20 normal pixels.
 * Scores: A 0.9 and 0.3, B all 0.8; normals one 0.85, one 0.5, five 0.3,
 * thirteen 0.
 *   threshold  FPR    PRO
 *   0.9        0      (1/2 + 0)/2 = 0.25
 *   0.85       0.05   0.25
 *   0.8        0.05   (1/2 + 1)/2 = 0.75
 *   0.5        0.10   0.75
 *   0.3        0.35   1
 * Area to 0.3: 0.05*0.25 + 0.05*0.75 + 0.2*(0.75 + 0.95)/2 (PRO at 0.3
 * interpolated: 0.75 + 0.25*0.2/0.25 = 0.95) = 0.22; AUPRO = 0.22/0.3.
 * With FPR limit 1: 0.22 + 0.05*(0.95 + 1)/2 + 0.65*1 = 0.91875.
 * Pixel AUROC: 0.9 beats 20, each 0.8 beats 19, 0.3 beats 13 and ties 5:
 * (20 + 57 + 15.5)/100.  AP: 0.2*1 + 0.6*0.8 + 0.2*5/12.
 * F1 = 2tp/(tp+fp+P): 1/3, 8/10, 10/17, 1/3 -> 0.8 at 0.8.
 */
static void test_pixel_by_hand(void) {
    float map[25];
    uint8_t mask[25] = {0};
    for (int i = 0; i < 25; i++) map[i] = 0;
    mask[0] = 1, map[0] = 0.9f;                 /* (0,0) */
    mask[6] = 1, map[6] = 0.3f;                 /* (1,1) */
    mask[18] = 1, map[18] = 0.8f;               /* (3,3) */
    mask[19] = 1, map[19] = 0.8f;               /* (3,4) */
    mask[24] = 1, map[24] = 0.8f;               /* (4,4) */
    map[2] = 0.85f;
    map[4] = 0.5f;
    map[10] = map[11] = map[12] = map[13] = map[14] = 0.3f;
    const float *maps[1] = {map};
    const uint8_t *masks[1] = {mask};
    am_pixel_metrics *m = malloc(sizeof *m);
    am_error err = {0};
    CHECK_OK(am_metrics_pixel(maps, masks, 1, 5, 5, 0.3, m, &err));
    CHECK(m->n_regions == 2, "%lld regions", (long long)m->n_regions);
    CHECK(m->n_normal == 20 && m->n_anomalous == 5, "counts");
    CHECK_NEAR(m->aupro, 0.22 / 0.3, 1e-12);
    CHECK_NEAR(m->auroc, 0.925, 1e-12);
    CHECK_NEAR(m->ap, 0.2 + 0.48 + 0.2 * 5.0 / 12.0, 1e-12);
    CHECK_NEAR(m->f1max, 0.8, 1e-12);
    CHECK(m->f1_threshold == 0.8f, "f1 threshold %g", m->f1_threshold);
    CHECK(m->undefined == 0, "undefined %u", m->undefined);
    /* PRO curve: (0,0) (0,.25) (.05,.25) (.05,.75) (.1,.75) (.3,.95) */
    CHECK(m->pro.n == 6, "pro curve has %d points", m->pro.n);
    CHECK_NEAR(m->pro.x[m->pro.n - 1], 0.3, 1e-7);
    CHECK_NEAR(m->pro.y[m->pro.n - 1], 0.95, 1e-7);

    CHECK_OK(am_metrics_pixel(maps, masks, 1, 5, 5, 1.0, m, &err));
    CHECK_NEAR(m->aupro, 0.91875, 1e-12);

    /* The same pixels as a 25x1 strip: A's pixels are no longer neighbours. */
    CHECK_OK(am_metrics_pixel(maps, masks, 1, 25, 1, 0.3, m, &err));
    CHECK(m->n_regions == 4, "strip: %lld regions", (long long)m->n_regions);
    free(m);
}

/* Degenerate labels give NaN with flags, bad inputs give errors. */
static void test_degenerate(void) {
    am_error err = {0};
    am_image_metrics m;
    const float s[3] = {0.1f, 0.2f, 0.3f};
    const uint8_t zeros[3] = {0, 0, 0}, ones[3] = {1, 1, 1}, bad[3] = {0, 2, 1};
    CHECK_OK(am_metrics_image(s, zeros, 3, &m, &err));
    CHECK(isnan(m.auroc) && isnan(m.ap) && isnan(m.f1max), "normal only: NaN");
    CHECK(m.undefined == (AM_METRIC_AUROC | AM_METRIC_AP | AM_METRIC_F1MAX), "flags %u",
          m.undefined);
    CHECK_OK(am_metrics_image(s, ones, 3, &m, &err));
    CHECK(isnan(m.auroc) && m.undefined == AM_METRIC_AUROC, "anomalous only: AUROC undefined");
    CHECK_NEAR(m.ap, 1.0, 0); /* scikit-learn: precision is 1 everywhere */
    CHECK_NEAR(m.f1max, 1.0, 0);
    CHECK_OK(am_metrics_image(NULL, NULL, 0, &m, &err));
    CHECK(m.undefined == (AM_METRIC_AUROC | AM_METRIC_AP | AM_METRIC_F1MAX), "empty: flags");
    CHECK(am_metrics_image(s, bad, 3, &m, &err) == AM_ERR_ARGUMENT, "label 2 refused");
    CHECK(strstr(err.message, "label 1") != NULL, "message: %s", err.message);
    const float nan_s[3] = {0.1f, NAN, 0.3f};
    CHECK(am_metrics_image(nan_s, zeros, 3, &m, &err) == AM_ERR_ARGUMENT, "NaN refused");
    const float inf_s[2] = {INFINITY, 0};
    CHECK(am_metrics_image(inf_s, zeros, 2, &m, &err) == AM_ERR_ARGUMENT, "inf refused");
    CHECK(am_metrics_image(s, zeros, -1, &m, &err) == AM_ERR_ARGUMENT, "n < 0 refused");

    am_pixel_metrics *pm = malloc(sizeof *pm);
    float map[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    uint8_t all[4] = {1, 1, 1, 1};
    const float *maps[2] = {map, map};
    const uint8_t *none[2] = {NULL, NULL}, *full[2] = {all, all};
    CHECK_OK(am_metrics_pixel(maps, none, 2, 2, 2, 0.3, pm, &err));
    CHECK(pm->undefined == (AM_METRIC_AUROC | AM_METRIC_AP | AM_METRIC_F1MAX | AM_METRIC_AUPRO),
          "no defects: all undefined (%u)", pm->undefined);
    CHECK(isnan(pm->aupro) && isnan(pm->auroc), "no defects: NaN");
    CHECK_OK(am_metrics_pixel(maps, NULL, 2, 2, 2, 0.3, pm, &err));
    CHECK(pm->n_normal == 8 && pm->n_regions == 0, "masks NULL: all normal");
    CHECK_OK(am_metrics_pixel(maps, full, 2, 2, 2, 0.3, pm, &err));
    CHECK(pm->undefined == (AM_METRIC_AUROC | AM_METRIC_AUPRO), "defects only: %u",
          pm->undefined);
    CHECK_OK(am_metrics_pixel(NULL, NULL, 0, 0, 0, 0.3, pm, &err));
    CHECK(pm->n_normal == 0 && pm->undefined == 15u, "no images: all undefined");
    CHECK(am_metrics_pixel(maps, none, 2, 2, 2, 0.0, pm, &err) == AM_ERR_ARGUMENT,
          "limit 0 refused");
    CHECK(am_metrics_pixel(maps, none, 2, 2, 2, 1.5, pm, &err) == AM_ERR_ARGUMENT,
          "limit 1.5 refused");
    CHECK(am_metrics_pixel(maps, none, 2, 0, 2, 0.3, pm, &err) == AM_ERR_ARGUMENT,
          "width 0 refused");
    map[3] = NAN;
    CHECK(am_metrics_pixel(maps, none, 2, 2, 2, 0.3, pm, &err) == AM_ERR_ARGUMENT,
          "NaN pixel refused");
    CHECK(strstr(err.message, "(1, 1)") != NULL, "message names the pixel: %s", err.message);
    const float *missing[2] = {map, NULL};
    map[3] = 0;
    CHECK(am_metrics_pixel(missing, none, 2, 2, 2, 0.3, pm, &err) == AM_ERR_ARGUMENT,
          "NULL map refused");
    free(pm);
}

/* The radix sorts against qsort on keys of every sign and magnitude. */
static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void test_sort(void) {
    am_rng rng;
    am_rng_seed(&rng, 42);
    enum { N = 20000 };
    uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *tmp = malloc(N * 8);
    uint64_t *p = malloc(N * sizeof *p);
    for (int i = 0; i < N; i++) {
        float v = am_rng_normal(&rng) * (float)pow(10.0, (int)am_rng_below(&rng, 20) - 10);
        if (i % 7 == 0) v = (float)(int)(v * 3); /* many ties, both zeros */
        a[i] = b[i] = am_metrics_key(v);
        p[i] = (uint64_t)a[i] << 32 | (uint32_t)i;
    }
    am_metrics_sort_keys(a, tmp, N);
    qsort(b, N, sizeof *b, cmp_u32);
    CHECK(memcmp(a, b, N * sizeof *a) == 0, "radix sort of keys equals qsort");
    am_metrics_sort_pairs(p, (uint64_t *)tmp, N);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= (uint32_t)(p[i] >> 32) == b[i];
    CHECK(ok, "radix sort of pairs orders the keys");
    for (int i = 1; i < N; i++)
        ok &= am_metrics_unkey(b[i - 1]) <= am_metrics_unkey(b[i]);
    CHECK(ok, "keys order like floats");
    free(a);
    free(b);
    free(tmp);
    free(p);
}

/* Image metrics on random tied scores against O(n^2) / per-threshold brute force. */
static void test_brute_force(void) {
    am_rng rng;
    am_rng_seed(&rng, 7);
    enum { N = 1500 };
    float *s = malloc(N * sizeof *s);
    uint8_t *l = malloc(N);
    int64_t P = 0;
    for (int i = 0; i < N; i++) {
        l[i] = am_rng_uniform(&rng) < 0.3f;
        P += l[i];
        s[i] = (float)(int)(am_rng_normal(&rng) * 8 + (l[i] ? 6 : 0)) * -0.25f;
    }
    double wins = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (l[i] && !l[j]) wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
    double auroc = wins / ((double)P * (double)(N - P));
    /* AP and F1 over every distinct score as a threshold, highest first. */
    double ap = 0, f1 = 0, prev_recall = 0;
    float t = INFINITY;
    for (;;) {
        float next = -INFINITY;
        for (int i = 0; i < N; i++)
            if (s[i] < t && s[i] > next) next = s[i];
        if (next == -INFINITY) break;
        t = next;
        int64_t tp = 0, fp = 0;
        for (int i = 0; i < N; i++)
            if (s[i] >= t) tp += l[i], fp += !l[i];
        double prec = (double)tp / (double)(tp + fp), rec = (double)tp / (double)P;
        ap += (rec - prev_recall) * prec;
        prev_recall = rec;
        if (prec + rec > 0 && 2 * prec * rec / (prec + rec) > f1) f1 = 2 * prec * rec / (prec + rec);
    }
    am_image_metrics m;
    am_error err = {0};
    CHECK_OK(am_metrics_image(s, l, N, &m, &err));
    CHECK_NEAR(m.auroc, auroc, 1e-12);
    CHECK_NEAR(m.ap, ap, 1e-12);
    CHECK_NEAR(m.f1max, f1, 1e-12);
    free(s);
    free(l);
}

/* Curves stay within AM_CURVE_MAX_POINTS with exact ends on 10^5 distinct scores. */
static void test_curves(void) {
    am_rng rng;
    am_rng_seed(&rng, 3);
    enum { N = 100000 };
    float *s = malloc(N * sizeof *s);
    uint8_t *l = malloc(N);
    for (int i = 0; i < N; i++) {
        l[i] = (i % 3) == 0;
        s[i] = am_rng_normal(&rng) + (l[i] ? 1.0f : 0.0f);
    }
    am_image_metrics m;
    am_error err = {0};
    CHECK_OK(am_metrics_image(s, l, N, &m, &err));
    CHECK(m.roc.n > 16 && m.roc.n <= AM_CURVE_MAX_POINTS, "roc %d points", m.roc.n);
    CHECK(m.pr.n > 16 && m.pr.n <= AM_CURVE_MAX_POINTS, "pr %d points", m.pr.n);
    CHECK(m.roc.x[0] == 0 && m.roc.y[0] == 0, "roc starts at 0");
    CHECK(m.roc.x[m.roc.n - 1] == 1 && m.roc.y[m.roc.n - 1] == 1, "roc ends at 1");
    CHECK(m.pr.x[m.pr.n - 1] == 1, "pr ends at recall 1");
    CHECK_NEAR(m.pr.y[m.pr.n - 1], 33334.0 / N, 1e-6); /* i % 3 == 0: 33334 anomalies */
    int mono = 1;
    for (int32_t i = 1; i < m.roc.n; i++)
        mono &= m.roc.x[i] >= m.roc.x[i - 1] && m.roc.y[i] >= m.roc.y[i - 1];
    CHECK(mono, "roc monotone");
    /* Two normals at N(0,1), anomalies at N(1,1): AUROC = Phi(1/sqrt(2)) = 0.7602 */
    CHECK_NEAR(m.auroc, 0.76025, 0.005);
    free(s);
    free(l);
}

int main(void) {
    test_vector_folder("vectors/metrics");
    test_vector_folder("vectors/metrics-ties");
    test_image_tie();
    test_pixel_by_hand();
    test_degenerate();
    test_sort();
    test_brute_force();
    test_curves();
    return check_summary();
}
