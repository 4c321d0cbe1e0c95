/* segment_sam_raw.c - the raw SAM output of `anomem segment --sam`: parsing
 * the generator's flags, and writing the generator's masks as records JSON
 * (the official record fields without the pixels) plus one label PNG. */
#include "segment_sam_raw.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_models.h"
#include "core/error.h"
#include "io/file.h"

const char segment_sam_help[] =
    "  --points-per-side N (32)  --points-per-batch N (64)  --pred-iou-thresh X (0.88)\n"
    "  --stability-score-thresh X (0.95)  --stability-score-offset X (1)\n"
    "  --box-nms-thresh X (0.7)  --crop-n-layers N (0)  --crop-nms-thresh X (0.7)\n"
    "  --crop-overlap-ratio X (0.3413)  --crop-n-points-downscale-factor N (1)\n"
    "  --min-mask-region-area N (0)\n";

/* An integer flag value in [lo, hi], or -1 after a usage error. */
static int parse_int(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    const long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        cli_usage("segment", "%s takes an integer in %lld..%lld, not '%s'", flag, (long long)lo,
                  (long long)hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* A finite real flag value, or -1 after a usage error. */
static int parse_real(const char *flag, const char *v, double *out) {
    char *end;
    errno = 0;
    const double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        cli_usage("segment", "%s takes a number, not '%s'", flag, v);
        return -1;
    }
    *out = x;
    return 0;
}

int segment_sam_parse_flag(am_amg_params *p, int argc, char **argv, int *i) {
    static const struct {
        const char *flag;
        size_t offset;
        int64_t lo, hi;
    } ints[] = {
        {"--points-per-side", offsetof(am_amg_params, points_per_side), 1, 1024},
        {"--points-per-batch", offsetof(am_amg_params, points_per_batch), 1, 1024},
        {"--crop-n-layers", offsetof(am_amg_params, crop_n_layers), 0, 4},
        {"--crop-n-points-downscale-factor",
         offsetof(am_amg_params, crop_n_points_downscale_factor), 1, 1024},
    };
    static const struct {
        const char *flag;
        size_t offset;
    } reals[] = {
        {"--pred-iou-thresh", offsetof(am_amg_params, pred_iou_thresh)},
        {"--stability-score-thresh", offsetof(am_amg_params, stability_score_thresh)},
        {"--stability-score-offset", offsetof(am_amg_params, stability_score_offset)},
        {"--box-nms-thresh", offsetof(am_amg_params, box_nms_thresh)},
        {"--crop-nms-thresh", offsetof(am_amg_params, crop_nms_thresh)},
        {"--crop-overlap-ratio", offsetof(am_amg_params, crop_overlap_ratio)},
    };
    const char *flag = argv[*i];
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
        if (strcmp(flag, ints[k].flag) == 0) {
            const char *v = cli_flag_value("segment", argc, argv, i);
            int64_t x;
            if (!v || parse_int(flag, v, ints[k].lo, ints[k].hi, &x) != 0) return -1;
            *(int32_t *)((char *)p + ints[k].offset) = (int32_t)x;
            return 1;
        }
    for (size_t k = 0; k < sizeof reals / sizeof *reals; k++)
        if (strcmp(flag, reals[k].flag) == 0) {
            const char *v = cli_flag_value("segment", argc, argv, i);
            double x;
            if (!v || parse_real(flag, v, &x) != 0) return -1;
            *(double *)((char *)p + reals[k].offset) = x;
            return 1;
        }
    if (strcmp(flag, "--min-mask-region-area") == 0) {
        const char *v = cli_flag_value("segment", argc, argv, i);
        int64_t x;
        if (!v || parse_int(flag, v, 0, INT64_MAX, &x) != 0) return -1;
        p->min_mask_region_area = x;
        return 1;
    }
    return 0;
}

/* A JSON array of four integers. */
static json_t *int4(const int32_t v[4]) {
    return json_pack("[iiii]", (json_int_t)v[0], (json_int_t)v[1], (json_int_t)v[2],
                     (json_int_t)v[3]);
}

/* The records JSON text (malloc'd), or NULL. */
static char *records_json(const char *stem, const am_image *img, const am_sam_masks *masks) {
    json_t *list = json_array();
    for (int32_t i = 0; list && i < masks->count; i++) {
        const am_sam_mask *m = &masks->masks[i];
        /* a NaN stability (0/0, kept only without the stability filter) is null */
        json_t *stability = isnan(m->stability_score) ? json_null()
                                                      : json_real((double)m->stability_score);
        json_t *r = json_pack("{s:i, s:I, s:o, s:f, s:[[f,f]], s:o, s:o}", "label", i + 1,
                              "area", (json_int_t)m->area, "bbox", int4(m->bbox),
                              "predicted_iou", (double)m->predicted_iou, "point_coords",
                              m->point[0], m->point[1], "stability_score", stability,
                              "crop_box", int4(m->crop_box));
        if (!r || json_array_append_new(list, r) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    char png[4096];
    snprintf(png, sizeof png, "%s.masks.png", stem);
    json_t *root = list ? json_pack("{s:i, s:i, s:s, s:o}", "width", img->width, "height",
                                    img->height, "label_png", png, "masks", list)
                        : NULL;
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(root);
    return text;
}

int segment_sam_write_records(const char *out_dir, const char *stem, const am_image *img,
                              const am_sam_masks *masks, am_error *err) {
    if (masks->count > 0 && (masks->width != img->width || masks->height != img->height))
        return am_error_set(err, AM_ERR_ARGUMENT, "%s: masks of %dx%d for an image of %dx%d",
                            stem, masks->width, masks->height, img->width, img->height);
    char path[8192];
    char *text = records_json(stem, img, masks);
    if (!text) return am_error_set(err, AM_ERR_NOMEM, "%s: cannot build the records JSON", stem);
    snprintf(path, sizeof path, "%s/%s.masks.json", out_dir, stem);
    am_status st = am_write_file_atomic(path, text, strlen(text), err);
    free(text);
    if (st != AM_OK) return st;
    const int64_t n = (int64_t)img->width * img->height;
    const int wide = masks->count > 255;
    void *labels = calloc((size_t)n, wide ? 2 : 1);
    if (!labels) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    /* paint the last mask first so that earlier (better) masks win */
    for (int32_t i = masks->count - 1; i >= 0; i--) {
        const uint8_t *m = masks->masks[i].mask;
        for (int64_t q = 0; q < n; q++)
            if (m[q]) {
                if (wide) ((uint16_t *)labels)[q] = (uint16_t)(i + 1);
                else ((uint8_t *)labels)[q] = (uint8_t)(i + 1);
            }
    }
    snprintf(path, sizeof path, "%s/%s.masks.png", out_dir, stem);
    st = am_image_write_gray_png(path, labels, img->width, img->height, wide ? 16 : 8, err);
    free(labels);
    return st;
}
