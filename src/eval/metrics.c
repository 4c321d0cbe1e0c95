/* metrics.c - the public metric functions: validate the scores and labels,
 * split them into sorted negatives and positives (with ground-truth regions
 * for AUPRO), and hand them to the threshold walk. */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "eval/metrics.h"

/* Sorts the negatives and the positives with one scratch buffer large
 * enough for either. */
static am_status sort_both(uint32_t *neg, int64_t n_neg, uint64_t *pos, int64_t n_pos,
                           am_error *err) {
    size_t bytes = (size_t)n_neg * sizeof *neg;
    if ((size_t)n_pos * sizeof *pos > bytes) bytes = (size_t)n_pos * sizeof *pos;
    void *tmp = am_alloc(bytes ? bytes : 1, 1, err);
    if (!tmp) return AM_ERR_NOMEM;
    am_metrics_sort_keys(neg, tmp, (size_t)n_neg);
    am_metrics_sort_pairs(pos, tmp, (size_t)n_pos);
    am_free(tmp);
    return AM_OK;
}

am_status am_metrics_image(const float *scores, const uint8_t *labels, int64_t n,
                           am_image_metrics *out, am_error *err) {
    if (!out || n < 0 || (n > 0 && (!scores || !labels)))
        return am_error_set(err, AM_ERR_ARGUMENT, "image metrics: invalid arguments (n = %lld)",
                            (long long)n);
    int64_t n_pos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] > 1)
            return am_error_set(err, AM_ERR_ARGUMENT, "image metrics: label %lld is %u, not 0 or 1",
                                (long long)i, labels[i]);
        if (!isfinite(scores[i]))
            return am_error_set(err, AM_ERR_ARGUMENT, "image metrics: score %lld is not finite",
                                (long long)i);
        n_pos += labels[i];
    }
    int64_t n_neg = n - n_pos;
    uint32_t *neg = am_alloc(n_neg ? (size_t)n_neg : 1, sizeof *neg, err);
    uint64_t *pos = am_alloc(n_pos ? (size_t)n_pos : 1, sizeof *pos, err);
    am_status st = (neg && pos) ? AM_OK : AM_ERR_NOMEM;
    if (st == AM_OK) {
        int64_t a = 0, b = 0;
        for (int64_t i = 0; i < n; i++) {
            uint32_t k = am_metrics_key(scores[i]);
            if (labels[i]) pos[b++] = (uint64_t)k << 32;
            else neg[a++] = k;
        }
        st = sort_both(neg, n_neg, pos, n_pos, err);
    }
    if (st == AM_OK) {
        am_rank_input in = {neg, n_neg, pos, n_pos, NULL, 0, 1.0};
        am_rank_result *r = malloc(sizeof *r);
        if (!r) {
            st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
        } else {
            am_metrics_walk(&in, r);
            out->auroc = r->auroc;
            out->ap = r->ap;
            out->f1max = r->f1max;
            out->f1_threshold = r->f1_threshold;
            out->undefined = r->undefined & (AM_METRIC_AUROC | AM_METRIC_AP | AM_METRIC_F1MAX);
            out->n_normal = n_neg;
            out->n_anomalous = n_pos;
            out->roc = r->roc;
            out->pr = r->pr;
            free(r);
        }
    }
    am_free(neg);
    am_free(pos);
    return st;
}

/* Checks the pixel inputs and counts the defect pixels. */
static am_status check_pixels(const float *const *maps, const uint8_t *const *masks,
                              int32_t n_images, int32_t width, int32_t height, double fpr_limit,
                              int64_t *n_pos, am_error *err) {
    if (n_images < 0 || (n_images > 0 && (!maps || width <= 0 || height <= 0)))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "pixel metrics: invalid arguments (%d images of %dx%d)", n_images,
                            width, height);
    if (!(fpr_limit > 0 && fpr_limit <= 1))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "pixel metrics: the AUPRO FPR limit %g is not in (0, 1]", fpr_limit);
    if (n_images > 0 && (int64_t)width * height > INT32_MAX)
        return am_error_set(err, AM_ERR_LIMIT, "pixel metrics: maps of %dx%d are too large",
                            width, height);
    const int64_t npix = (int64_t)width * height;
    int64_t count = 0;
    for (int32_t m = 0; m < n_images; m++) {
        if (!maps[m])
            return am_error_set(err, AM_ERR_ARGUMENT, "pixel metrics: map %d is missing", m);
        for (int64_t p = 0; p < npix; p++) {
            if (!isfinite(maps[m][p]))
                return am_error_set(err, AM_ERR_ARGUMENT,
                                    "pixel metrics: map %d has a non-finite score at (%lld, %lld)",
                                    m, (long long)(p % width), (long long)(p / width));
            if (masks && masks[m] && masks[m][p]) count++;
        }
    }
    if (count > (int64_t)UINT32_MAX)
        return am_error_set(err, AM_ERR_LIMIT, "pixel metrics: %lld defect pixels are too many",
                            (long long)count);
    *n_pos = count;
    return AM_OK;
}

/* Sizes of the ground-truth regions, growing as images are labelled. */
typedef struct {
    int64_t *size;
    int64_t count, capacity;
} region_table;

static am_status regions_reserve(region_table *t, int64_t need, am_error *err) {
    if (need <= t->capacity) return AM_OK;
    int64_t cap = t->capacity ? t->capacity : 64;
    while (cap < need) cap *= 2;
    int64_t *p = realloc(t->size, (size_t)cap * sizeof *p);
    if (!p) return am_error_set(err, AM_ERR_NOMEM, "out of memory for %lld regions",
                                (long long)cap);
    t->size = p;
    t->capacity = cap;
    return AM_OK;
}

/* Fills the negative keys and the positive (key, region) pairs of every
 * pixel, labelling each mask's 8-connected regions with global indices. */
static am_status split_pixels(const float *const *maps, const uint8_t *const *masks,
                              int32_t n_images, int32_t width, int32_t height, uint32_t *neg,
                              uint64_t *pos, region_table *regions, am_error *err) {
    const int64_t npix = (int64_t)width * height;
    int32_t *labels = NULL, *stack = NULL;
    int64_t a = 0, b = 0;
    am_status st = AM_OK;
    for (int32_t m = 0; m < n_images && st == AM_OK; m++) {
        const float *map = maps[m];
        const uint8_t *mask = masks ? masks[m] : NULL;
        int any = 0;
        for (int64_t p = 0; mask && p < npix && !any; p++) any = mask[p] != 0;
        if (!any) {
            for (int64_t p = 0; p < npix; p++) neg[a++] = am_metrics_key(map[p]);
            continue;
        }
        if (!labels) {
            labels = am_alloc((size_t)npix, sizeof *labels, err);
            stack = am_alloc((size_t)npix, sizeof *stack, err);
            if (!labels || !stack) {
                st = AM_ERR_NOMEM;
                break;
            }
        }
        int64_t found = am_metrics_label_regions(mask, width, height, labels, stack);
        int64_t base = regions->count;
        st = regions_reserve(regions, base + found, err);
        if (st != AM_OK) break;
        for (int64_t r = 0; r < found; r++) regions->size[base + r] = 0;
        regions->count = base + found;
        for (int64_t p = 0; p < npix; p++) {
            uint32_t k = am_metrics_key(map[p]);
            if (mask[p]) {
                int64_t r = base + labels[p];
                regions->size[r]++;
                pos[b++] = (uint64_t)k << 32 | (uint64_t)r;
            } else {
                neg[a++] = k;
            }
        }
    }
    am_free(labels);
    am_free(stack);
    return st;
}

am_status am_metrics_pixel(const float *const *maps, const uint8_t *const *masks,
                           int32_t n_images, int32_t width, int32_t height, double fpr_limit,
                           am_pixel_metrics *out, am_error *err) {
    if (!out) return am_error_set(err, AM_ERR_ARGUMENT, "pixel metrics: no output");
    int64_t n_pos = 0;
    am_status st = check_pixels(maps, masks, n_images, width, height, fpr_limit, &n_pos, err);
    if (st != AM_OK) return st;
    const int64_t n_all = n_images > 0 ? (int64_t)n_images * width * height : 0;
    const int64_t n_neg = n_all - n_pos;
    uint32_t *neg = am_alloc(n_neg ? (size_t)n_neg : 1, sizeof *neg, err);
    uint64_t *pos = neg ? am_alloc(n_pos ? (size_t)n_pos : 1, sizeof *pos, err) : NULL;
    region_table regions = {NULL, 0, 0};
    double *weight = NULL;
    am_rank_result *r = NULL;
    if (!neg || !pos) st = AM_ERR_NOMEM;
    if (st == AM_OK)
        st = split_pixels(maps, masks, n_images, width, height, neg, pos, &regions, err);
    if (st == AM_OK) st = sort_both(neg, n_neg, pos, n_pos, err);
    if (st == AM_OK) {
        weight = am_alloc(regions.count ? (size_t)regions.count : 1, sizeof *weight, err);
        r = malloc(sizeof *r);
        if (!weight || !r) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    if (st == AM_OK) {
        for (int64_t i = 0; i < regions.count; i++) weight[i] = 1.0 / (double)regions.size[i];
        am_rank_input in = {neg, n_neg, pos, n_pos, weight, regions.count, fpr_limit};
        am_metrics_walk(&in, r);
        out->auroc = r->auroc;
        out->ap = r->ap;
        out->f1max = r->f1max;
        out->aupro = r->aupro;
        out->f1_threshold = r->f1_threshold;
        out->undefined = r->undefined;
        out->fpr_limit = fpr_limit;
        out->n_normal = n_neg;
        out->n_anomalous = n_pos;
        out->n_regions = regions.count;
        out->roc = r->roc;
        out->pr = r->pr;
        out->pro = r->pro;
    }
    free(r);
    am_free(weight);
    free(regions.size);
    am_free(neg);
    am_free(pos);
    return st;
}
