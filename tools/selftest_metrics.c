/* selftest_metrics.c - `anomem selftest` for metric vector folders
 * (config.json {"kind": "metrics"} + cases.safetensors): recomputes the image
 * and pixel metrics from the stored labels and scores and compares every
 * expected.* value with the folder's tolerance. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selftest.h"

/* The folder's config.json, or NULL. */
static json_t *load_config(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return json_load_file(path, 0, NULL);
}

int selftest_metrics_recognise(const char *dir) {
    json_t *cfg = load_config(dir);
    if (!cfg) return 0;
    const char *kind = json_string_value(json_object_get(cfg, "kind"));
    int yes = kind && strcmp(kind, "metrics") == 0;
    json_decref(cfg);
    return yes;
}

/* Looks up tensor `name`, checks its dtype and element count, returns its bytes. */
static const void *tensor(am_weights *w, const char *name, am_dtype dtype, int64_t numel,
                          am_error *err) {
    const am_tensor_info *t = am_weights_find(w, name);
    if (!t) {
        snprintf(err->message, sizeof err->message, "%s: no tensor '%s'", am_weights_path(w),
                 name);
        return NULL;
    }
    if (t->dtype != dtype || (numel >= 0 && t->numel != numel)) {
        snprintf(err->message, sizeof err->message, "%s: tensor '%s' is %s of %lld elements",
                 am_weights_path(w), name, am_dtype_name(t->dtype), (long long)t->numel);
        return NULL;
    }
    const void *data;
    if (am_weights_get_raw(w, name, &data, NULL, err) != AM_OK) return NULL;
    return data;
}

/* Compares one computed value with expected.<name>. */
static void check_value(am_weights *w, selftest_tally *t, const char *name, double got,
                        double tol) {
    char full[128];
    snprintf(full, sizeof full, "expected.%s", name);
    am_error err = {0};
    const void *p = tensor(w, full, AM_DTYPE_F64, 1, &err);
    if (!p) {
        selftest_report_error(t, name, &err);
        return;
    }
    double want;
    memcpy(&want, p, sizeof want);
    double diff = fabs(got - want);
    selftest_report(t, name, isnan(diff) ? INFINITY : diff, tol, diff <= tol);
}

/* Reads the image arrays, computes, checks the three image values. */
static void run_image(am_weights *w, selftest_tally *t, double tol) {
    am_error err = {0};
    const am_tensor_info *ti = am_weights_find(w, "image.labels");
    int64_t n = ti ? ti->numel : 0;
    const uint8_t *labels = tensor(w, "image.labels", AM_DTYPE_U8, -1, &err);
    const float *scores = labels ? tensor(w, "image.scores", AM_DTYPE_F32, n, &err) : NULL;
    if (!scores) {
        selftest_report_error(t, "image metrics", &err);
        return;
    }
    float *aligned = malloc((size_t)n * sizeof *aligned + 1);
    am_image_metrics *m = malloc(sizeof *m);
    if (!aligned || !m) {
        snprintf(err.message, sizeof err.message, "out of memory");
        selftest_report_error(t, "image metrics", &err);
    } else {
        memcpy(aligned, scores, (size_t)n * sizeof *aligned);
        if (am_metrics_image(aligned, labels, n, m, &err) == AM_OK) {
            check_value(w, t, "image.auroc", m->auroc, tol);
            check_value(w, t, "image.ap", m->ap, tol);
            check_value(w, t, "image.f1max", m->f1max, tol);
        } else {
            selftest_report_error(t, "image metrics", &err);
        }
    }
    free(aligned);
    free(m);
}

/* Reads masks and maps [n][h][w], computes, checks the four pixel values. */
static void run_pixel(am_weights *w, selftest_tally *t, double tol, double fpr_limit) {
    am_error err = {0};
    const am_tensor_info *ti = am_weights_find(w, "pixel.masks");
    if (!ti || ti->ndim != 3 || ti->shape[0] > 100000 || ti->shape[1] > 65536 ||
        ti->shape[2] > 65536) {
        snprintf(err.message, sizeof err.message, "%s: pixel.masks missing or not [n][h][w]",
                 am_weights_path(w));
        selftest_report_error(t, "pixel metrics", &err);
        return;
    }
    const int32_t n = (int32_t)ti->shape[0], h = (int32_t)ti->shape[1], wd = (int32_t)ti->shape[2];
    const uint8_t *masks = tensor(w, "pixel.masks", AM_DTYPE_U8, ti->numel, &err);
    const float *maps = masks ? tensor(w, "pixel.maps", AM_DTYPE_F32, ti->numel, &err) : NULL;
    if (!maps) {
        selftest_report_error(t, "pixel metrics", &err);
        return;
    }
    float *aligned = malloc((size_t)ti->numel * sizeof *aligned + 1);
    const float **map_ptr = malloc((size_t)n * sizeof *map_ptr + 1);
    const uint8_t **mask_ptr = malloc((size_t)n * sizeof *mask_ptr + 1);
    am_pixel_metrics *m = malloc(sizeof *m);
    if (aligned && map_ptr && mask_ptr && m) {
        memcpy(aligned, maps, (size_t)ti->numel * sizeof *aligned);
        for (int32_t i = 0; i < n; i++) {
            map_ptr[i] = aligned + (size_t)i * h * wd;
            mask_ptr[i] = masks + (size_t)i * h * wd;
        }
        if (am_metrics_pixel(map_ptr, mask_ptr, n, wd, h, fpr_limit, m, &err) == AM_OK) {
            check_value(w, t, "pixel.auroc", m->auroc, tol);
            check_value(w, t, "pixel.ap", m->ap, tol);
            check_value(w, t, "pixel.f1max", m->f1max, tol);
            check_value(w, t, "pixel.aupro", m->aupro, tol);
        } else {
            selftest_report_error(t, "pixel metrics", &err);
        }
    } else {
        snprintf(err.message, sizeof err.message, "out of memory");
        selftest_report_error(t, "pixel metrics", &err);
    }
    free(aligned);
    free(map_ptr);
    free(mask_ptr);
    free(m);
}

void selftest_metrics_run(const char *dir, selftest_tally *t) {
    am_error err = {0};
    json_t *cfg = load_config(dir);
    double tol = cfg ? json_number_value(json_object_get(cfg, "tolerance_abs")) : 0;
    json_t *lim = cfg ? json_object_get(cfg, "aupro_fpr_limit") : NULL;
    double fpr_limit = lim ? json_number_value(lim) : AM_AUPRO_DEFAULT_FPR_LIMIT;
    json_decref(cfg);
    if (!(tol > 0)) {
        snprintf(err.message, sizeof err.message, "%s/config.json: no positive tolerance_abs", dir);
        selftest_report_error(t, "config", &err);
        return;
    }
    am_weights *w = selftest_open_cases(dir, t);
    if (!w) return;
    run_image(w, t, tol);
    run_pixel(w, t, tol, fpr_limit);
    am_weights_close(w);
}
