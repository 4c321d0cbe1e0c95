/* evaluate.c - evaluation over a dataset: per category, fit (k-shot) or go
 * zero-shot, predict every test image, compute the metrics at a fixed
 * evaluation size, and write metrics.json / .csv / .md, scores.csv and the
 * HTML report.  A finished category leaves <out>/<category>/result.json;
 * a rerun reads it instead of recomputing (resume after an interruption). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/text.h"
#include "detect/detector_internal.h"
#include "eval/report.h"
#include "eval/result_json.h"
#include "image/image_codec.h"
#include "image/resize.h"
#include "image/resize_f32.h"
#include "io/file.h"

am_eval_params am_eval_default_params(void) {
    am_eval_params p;
    memset(&p, 0, sizeof p);
    p.shots = 4;
    p.eval_size = 256;
    p.max_figures = 24;
    p.fpr_limit = AM_AUPRO_DEFAULT_FPR_LIMIT;
    return p;
}

static am_status write_json(const char *path, json_t *o, am_error *err) {
    char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!text) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    am_status st = am_write_file(path, text, strlen(text), err);
    free(text);
    return st;
}

/* The ground-truth mask of an item at the evaluation size (nearest
 * neighbour, nonzero = defect), or all zeros without a mask file. */
static am_status load_mask(const am_dataset_item *item, int32_t size, int64_t max_pixels,
                           uint8_t *out, am_error *err) {
    memset(out, 0, (size_t)size * size);
    if (!item->mask) return AM_OK;
    uint8_t *m = NULL;
    int32_t w, h;
    am_status st = am_image_read_gray(item->mask, max_pixels, &m, &w, &h, err);
    if (st != AM_OK) return st;
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++) {
            int32_t sx = (int32_t)(((int64_t)x * 2 + 1) * w / (2 * size));
            int32_t sy = (int32_t)(((int64_t)y * 2 + 1) * h / (2 * size));
            out[(size_t)y * size + x] = m[(size_t)sy * w + sx] ? 1 : 0;
        }
    free(m);
    return AM_OK;
}

/* Thumbnail PNG bytes -> base64, through a temporary file in `dir`. */
/* The image as a PNG in base64, encoded in memory. */
static char *png_base64(const am_image *img, am_error *err) {
    char *bytes = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&bytes, &n);
    if (!fp) {
        am_error_set(err, AM_ERR_NOMEM, "out of memory for a report figure");
        return NULL;
    }
    am_status st = am_png_encode(fp, "report figure", img->data, img->width, img->height, 3, 8,
                                 err);
    if (fclose(fp) != 0 && st == AM_OK)
        st = am_error_set(err, AM_ERR_NOMEM, "out of memory for a report figure");
    char *b64 = st == AM_OK ? am_base64_encode((const unsigned char *)bytes, n) : NULL;
    free(bytes);
    return b64;
}

/* Which test images the report shows: anomalous ones with the lowest
 * scores and normal ones with the highest, alternating, worst first. */
static int32_t pick_figures(const float *scores, const uint8_t *labels, int32_t n, int32_t max,
                            int32_t *picked) {
    int32_t count = 0;
    uint8_t *used = calloc((size_t)n, 1);
    if (!used) return 0;
    while (count < max && count < n) {
        int want = count % 2 == 0; /* anomalous first */
        int32_t best = -1;
        for (int pass = 0; pass < 2 && best < 0; pass++, want = !want)
            for (int32_t i = 0; i < n; i++) {
                if (used[i] || labels[i] != want) continue;
                if (best < 0 || (want ? scores[i] < scores[best] : scores[i] > scores[best]))
                    best = i;
            }
        if (best < 0) break;
        used[best] = 1;
        picked[count++] = best;
    }
    free(used);
    return count;
}

/* Thumbnails (image, mask, overlay) of the picked test images. */
static am_status make_figures(const am_dataset *ds, int32_t cat, const char *dir,
                              const float *scores, const uint8_t *labels, float *const *maps,
                              const uint8_t *masks, int32_t size, const am_eval_params *ep,
                              am_report_category *rc, am_error *err) {
    const int32_t max = ep->max_figures;
    const int32_t n = am_dataset_test_count(ds, cat), t = 128;
    int32_t *picked = calloc((size_t)(n > 0 ? n : 1), sizeof *picked);
    rc->figures = calloc((size_t)(max > 0 ? max : 1), sizeof *rc->figures);
    if (!picked || !rc->figures) {
        free(picked);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    int32_t count = pick_figures(scores, labels, n, max, picked);
    float vmax = 0;
    for (int32_t i = 0; i < n; i++)
        for (int64_t p = 0; p < (int64_t)size * size; p++)
            if (maps[i][p] > vmax) vmax = maps[i][p];
    am_status st = AM_OK;
    float *small = am_alloc((size_t)t * t, sizeof(float), err);
    if (!small) st = AM_ERR_NOMEM;
    for (int32_t k = 0; st == AM_OK && k < count; k++) {
        int32_t i = picked[k];
        const am_dataset_item *item = am_dataset_test_item(ds, cat, i);
        am_image img = {0}, thumb = {0}, mthumb = {0};
        st = am_image_read(item->path, ep->max_pixels, &img, err);
        if (st == AM_OK) st = am_image_alloc(t, t, &thumb, err);
        if (st == AM_OK)
            st = am_resize_u8(img.data, img.width, img.height, 3, thumb.data, t, t,
                              AM_RESAMPLE_BILINEAR, err);
        if (st == AM_OK) st = am_resize_f32_bilinear(maps[i], size, size, small, t, t, err);
        am_report_figure *f = &rc->figures[k];
        f->name = item->name;
        f->label = labels[i];
        f->score = scores[i];
        if (st == AM_OK) f->image_b64 = png_base64(&thumb, err);
        if (st == AM_OK && labels[i] && item->mask &&
            (st = am_image_alloc(t, t, &mthumb, err)) == AM_OK) {
            const uint8_t *m = masks + (size_t)i * size * size;
            for (int32_t y = 0; y < t; y++)
                for (int32_t x = 0; x < t; x++)
                    memset(mthumb.data + ((size_t)y * t + x) * 3,
                           m[(size_t)(y * size / t) * size + x * size / t] ? 255 : 0, 3);
            f->mask_b64 = png_base64(&mthumb, err);
        }
        am_image overlay = {0};
        if (st == AM_OK && (st = am_map_overlay(&thumb, small, vmax, &overlay, err)) == AM_OK)
            f->overlay_b64 = png_base64(&overlay, err);
        am_image_free(&overlay);
        if (st == AM_OK && (!f->image_b64 || !f->overlay_b64)) st = AM_ERR_NOMEM;
        rc->n_figures = k + 1;
        am_image_free(&img);
        am_image_free(&thumb);
        am_image_free(&mthumb);
    }
    am_free(small);
    free(picked);
    return st;
}

/* Fits (or not) a detector for one category and scores its test images. */
static am_status run_category(const am_dataset *ds, int32_t cat, am_clip *clip, am_sam *sam,
                              const am_detector_params *dp, const am_eval_params *ep,
                              am_eval_progress progress, void *user, const char *dir,
                              am_eval_result *res, am_report_category *rc, am_error *err) {
    const char *name = am_dataset_category_name(ds, cat);
    const int32_t n = am_dataset_test_count(ds, cat), size = ep->eval_size;
    const char *object = ep->object ? ep->object : am_category_object_name(name);
    am_detector *det = NULL;
    am_status st = am_detector_create(clip, sam, object, dp, &det, err);
    int32_t *shots = NULL;
    uint8_t *skip = calloc((size_t)(n > 0 ? n : 1), 1);
    if (st == AM_OK && !skip) st = AM_ERR_NOMEM;
    if (st == AM_OK && ep->shots > 0) {
        shots = calloc((size_t)ep->shots, sizeof *shots);
        am_image *refs = calloc((size_t)ep->shots, sizeof *refs);
        st = shots && refs ? am_dataset_select_shots(ds, cat, ep->shots, ep->seed, shots, err)
                           : AM_ERR_NOMEM;
        for (int32_t i = 0; st == AM_OK && i < ep->shots; i++)
            st = am_image_read(am_dataset_train_item(ds, cat, shots[i])->path, ep->max_pixels,
                               &refs[i], err);
        if (st == AM_OK) st = am_detector_fit(det, refs, ep->shots, err);
        for (int32_t i = 0; refs && i < ep->shots; i++) am_image_free(&refs[i]);
        free(refs);
        /* references drawn from the test list (folder layout) are not tested */
        for (int32_t i = 0; st == AM_OK && i < n; i++) {
            int32_t ti = am_dataset_test_item(ds, cat, i)->train_index;
            for (int32_t s = 0; ti >= 0 && s < ep->shots; s++)
                if (shots[s] == ti) skip[i] = 1;
        }
    }
    float *scores = calloc((size_t)(n > 0 ? n : 1), sizeof *scores);
    uint8_t *labels = calloc((size_t)(n > 0 ? n : 1), 1);
    float **maps = calloc((size_t)(n > 0 ? n : 1), sizeof *maps);
    uint8_t *masks = am_calloc((size_t)(n > 0 ? n : 1), (size_t)size * size, err);
    const uint8_t **mask_ptrs = calloc((size_t)(n > 0 ? n : 1), sizeof *mask_ptrs);
    if (st == AM_OK && !(scores && labels && maps && masks && mask_ptrs)) st = AM_ERR_NOMEM;
    int32_t m = 0; /* images scored */
    am_text csv = {0};
    am_text_printf(&csv, "category,image,defect,label,score\n");
    for (int32_t i = 0; st == AM_OK && i < n; i++) {
        if (skip[i]) continue;
        if (ep->stop && *ep->stop) {
            st = am_error_set(err, AM_ERR_INTERRUPTED, "interrupted");
            break;
        }
        const am_dataset_item *item = am_dataset_test_item(ds, cat, i);
        am_image img = {0};
        am_prediction pred = {0};
        st = am_image_read(item->path, ep->max_pixels, &img, err);
        if (st == AM_OK) st = am_detector_predict(det, &img, &pred, err);
        if (st == AM_OK) {
            maps[m] = am_alloc((size_t)size * size, sizeof(float), err);
            st = maps[m] ? am_resize_f32_bilinear(pred.map, pred.width, pred.height, maps[m],
                                                  size, size, err)
                         : AM_ERR_NOMEM;
        }
        if (st == AM_OK) st = load_mask(item, size, ep->max_pixels, masks + (size_t)m * size * size, err);
        if (st == AM_OK) {
            scores[m] = pred.score;
            labels[m] = item->label;
            mask_ptrs[m] = masks + (size_t)m * size * size;
            am_text_printf(&csv, "%s,\"%s\",%s,%d,%.9g\n", name, item->name, item->defect,
                           item->label, pred.score);
            m++;
        }
        am_prediction_free(&pred);
        am_image_free(&img);
        if (progress) progress(user, name, i + 1, n);
    }
    res->name = name;
    if (st == AM_OK) st = am_metrics_image(scores, labels, m, &res->image, err);
    if (st == AM_OK) {
        if (am_dataset_has_masks(ds, cat)) {
            st = am_metrics_pixel((const float *const *)maps, mask_ptrs, m, size, size,
                                  ep->fpr_limit, &res->pixel, err);
        } else {
            memset(&res->pixel, 0, sizeof res->pixel);
            res->pixel.auroc = res->pixel.ap = res->pixel.f1max = res->pixel.aupro = NAN;
            res->pixel.undefined =
                AM_METRIC_AUROC | AM_METRIC_AP | AM_METRIC_F1MAX | AM_METRIC_AUPRO;
        }
    }
    char path[4096];
    if (st == AM_OK)
        st = make_figures(ds, cat, dir, scores, labels, maps, masks, size, ep, rc, err);
    snprintf(path, sizeof path, "%s/scores.csv", dir);
    if (st == AM_OK && csv.failed) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    if (st == AM_OK) st = am_write_file(path, csv.data, csv.len, err);
    for (int32_t i = 0; maps && i < m; i++) am_free(maps[i]);
    free(maps);
    am_free(masks);
    free(mask_ptrs);
    free(scores);
    free(labels);
    free(shots);
    free(skip);
    am_text_free(&csv);
    am_detector_free(det);
    return st;
}

/* Stores the figures' base64 in the category's result file so a resumed run
 * can still draw them; reads them back. */
static json_t *figures_json(const am_report_category *rc) {
    json_t *a = json_array();
    for (int32_t i = 0; i < rc->n_figures; i++) {
        const am_report_figure *f = &rc->figures[i];
        json_array_append_new(a, json_pack("{s:s,s:i,s:f,s:s,s:s?,s:s}", "name", f->name,
                                           "label", f->label, "score", (double)f->score, "image",
                                           f->image_b64, "mask", f->mask_b64, "overlay",
                                           f->overlay_b64));
    }
    return a;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static void figures_from_json(json_t *a, am_report_category *rc, json_t *keep) {
    size_t n = json_array_size(a);
    rc->figures = calloc(n ? n : 1, sizeof *rc->figures);
    if (!rc->figures) return;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(a, i);
        am_report_figure *r = &rc->figures[rc->n_figures];
        const char *name = json_string_value(json_object_get(f, "name"));
        r->image_b64 = dup_or_null(json_string_value(json_object_get(f, "image")));
        r->overlay_b64 = dup_or_null(json_string_value(json_object_get(f, "overlay")));
        r->mask_b64 = dup_or_null(json_string_value(json_object_get(f, "mask")));
        if (!name || !r->image_b64 || !r->overlay_b64) {
            free(r->image_b64);
            free(r->overlay_b64);
            free(r->mask_b64);
            continue;
        }
        json_array_append(keep, json_object_get(f, "name")); /* keeps `name` alive */
        r->name = name;
        r->label = (int)json_integer_value(json_object_get(f, "label"));
        r->score = (float)json_number_value(json_object_get(f, "score"));
        rc->n_figures++;
    }
}

static void free_figures(am_report_category *rc) {
    for (int32_t i = 0; i < rc->n_figures; i++) {
        free(rc->figures[i].image_b64);
        free(rc->figures[i].mask_b64);
        free(rc->figures[i].overlay_b64);
    }
    free(rc->figures);
    rc->figures = NULL;
    rc->n_figures = 0;
}

static void put_mean(json_t *mean, const char *key, const am_eval_result *r, int32_t n,
                     size_t offset, uint32_t bit, int pixel) {
    double s = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *base = pixel ? (const char *)&r[i].pixel : (const char *)&r[i].image;
        uint32_t undef = pixel ? r[i].pixel.undefined : r[i].image.undefined;
        double v = *(const double *)(base + offset);
        if (!(undef & bit) && isfinite(v)) {
            s += v;
            k++;
        }
    }
    json_object_set_new(mean, key, k ? json_real(s / k) : json_string("undefined"));
}

/* metrics.json, metrics.csv, metrics.md, scores.csv and report.html. */
static am_status write_summary(const char *out, const am_eval_result *r, int32_t n,
                               json_t *settings, am_report_category *rc, am_error *err) {
    char path[4096];
    json_t *cats = json_array(), *mean = json_object();
    for (int32_t i = 0; i < n; i++) json_array_append_new(cats, am_eval_result_to_json(&r[i]));
    put_mean(mean, "image_auroc", r, n, offsetof(am_image_metrics, auroc), AM_METRIC_AUROC, 0);
    put_mean(mean, "image_ap", r, n, offsetof(am_image_metrics, ap), AM_METRIC_AP, 0);
    put_mean(mean, "image_f1max", r, n, offsetof(am_image_metrics, f1max), AM_METRIC_F1MAX, 0);
    put_mean(mean, "pixel_auroc", r, n, offsetof(am_pixel_metrics, auroc), AM_METRIC_AUROC, 1);
    put_mean(mean, "pixel_ap", r, n, offsetof(am_pixel_metrics, ap), AM_METRIC_AP, 1);
    put_mean(mean, "pixel_f1max", r, n, offsetof(am_pixel_metrics, f1max), AM_METRIC_F1MAX, 1);
    put_mean(mean, "aupro", r, n, offsetof(am_pixel_metrics, aupro), AM_METRIC_AUPRO, 1);
    json_t *root = json_pack("{s:O,s:o,s:o}", "settings", settings, "categories", cats, "mean",
                             mean);
    snprintf(path, sizeof path, "%s/metrics.json", out);
    am_status st = write_json(path, root, err);
    /* csv and markdown tables, from the same numbers */
    am_text csv = {0}, md = {0}, all = {0};
    am_text_printf(&csv, "category,image_auroc,image_ap,image_f1max,pixel_auroc,pixel_ap,"
                         "pixel_f1max,aupro\n");
    am_text_printf(&md, "| category | image AUROC | image AP | image F1-max | pixel AUROC | "
                        "pixel AP | pixel F1-max | AUPRO |\n|---|---|---|---|---|---|---|---|\n");
    for (int32_t i = 0; i <= n; i++) {
        const char *name = i < n ? r[i].name : "mean";
        json_t *o = i < n ? json_array_get(cats, (size_t)i) : mean;
        const char *keys[7][2] = {{"image", "auroc"}, {"image", "ap"}, {"image", "f1max"},
                                  {"pixel", "auroc"}, {"pixel", "ap"}, {"pixel", "f1max"},
                                  {"pixel", "aupro"}};
        const char *mkeys[7] = {"image_auroc", "image_ap",    "image_f1max", "pixel_auroc",
                                "pixel_ap",    "pixel_f1max", "aupro"};
        am_text_printf(&csv, "%s", name);
        am_text_printf(&md, "| %s", name);
        for (int k = 0; k < 7; k++) {
            json_t *v = i < n ? json_object_get(json_object_get(o, keys[k][0]), keys[k][1])
                              : json_object_get(o, mkeys[k]);
            if (json_is_number(v)) {
                am_text_printf(&csv, ",%.6f", json_number_value(v));
                am_text_printf(&md, " | %.1f", 100.0 * json_number_value(v));
            } else {
                am_text_printf(&csv, ",undefined");
                am_text_printf(&md, " | undefined");
            }
        }
        am_text_printf(&csv, "\n");
        am_text_printf(&md, " |\n");
    }
    /* all categories' scores in one file */
    am_text_printf(&all, "category,image,defect,label,score\n");
    for (int32_t i = 0; st == AM_OK && i < n; i++) {
        char *part;
        size_t plen;
        snprintf(path, sizeof path, "%s/%s/scores.csv", out, r[i].name);
        st = am_file_read_all(path, (size_t)1 << 30, &part, &plen, err);
        if (st != AM_OK) break;
        const char *body = strchr(part, '\n');
        body = body ? body + 1 : part + plen;
        am_text_append(&all, body, plen - (size_t)(body - part));
        am_free(part);
    }
    if (st == AM_OK && (csv.failed || md.failed || all.failed))
        st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    if (st == AM_OK) st = am_write_file(path, csv.data, csv.len, err);
    snprintf(path, sizeof path, "%s/metrics.md", out);
    if (st == AM_OK) st = am_write_file(path, md.data, md.len, err);
    snprintf(path, sizeof path, "%s/scores.csv", out);
    if (st == AM_OK) st = am_write_file(path, all.data, all.len, err);
    am_text_free(&csv);
    am_text_free(&md);
    am_text_free(&all);
    if (st == AM_OK) {
        char *line = json_dumps(settings, JSON_COMPACT | JSON_PRESERVE_ORDER);
        am_report rep = {line ? line : "", n, rc};
        for (int32_t i = 0; i < n; i++) {
            rc[i].name = r[i].name;
            rc[i].image = r[i].image;
            rc[i].pixel = r[i].pixel;
        }
        snprintf(path, sizeof path, "%s/report.html", out);
        st = am_report_write_html(path, &rep, err);
        free(line);
    }
    json_decref(root);
    return st;
}

am_status am_eval_run(const am_dataset *ds, am_clip *clip, am_sam *sam,
                      const am_detector_params *dp, const am_eval_params *ep,
                      am_eval_progress progress, void *user, am_eval_result **results,
                      int32_t *n_results, am_error *err) {
    *results = NULL;
    *n_results = 0;
    if (!ep->out_dir || ep->shots < 0 || ep->eval_size < 16 || ep->eval_size > 4096 ||
        !(ep->fpr_limit > 0 && ep->fpr_limit <= 1))
        return am_error_set(err, AM_ERR_ARGUMENT, "evaluation: invalid output, shots or size");
    const int32_t n = am_dataset_category_count(ds);
    for (int32_t c = 0; c < n; c++)
        if (ep->shots > am_dataset_train_count(ds, c))
            return am_error_set(err, AM_ERR_ARGUMENT, "%s: %d shots asked, %d training images",
                                am_dataset_category_name(ds, c), (int)ep->shots,
                                (int)am_dataset_train_count(ds, c));
    am_status st = am_make_dirs(ep->out_dir, err);
    if (st != AM_OK) return st;
    am_remove_stale_temps(ep->out_dir);
    char *params = am_detector_params_to_json(dp);
    json_t *settings = json_pack(
        "{s:s,s:s,s:i,s:s,s:i,s:f,s:s,s:s,s:s?,s:o}", "root", am_dataset_root(ds), "layout",
        am_dataset_layout_name(am_dataset_get_layout(ds)), "shots", ep->shots, "seed_text", "",
        "eval_size", ep->eval_size, "aupro_fpr_limit", ep->fpr_limit, "clip",
        am_clip_identity(clip), "sam", sam ? am_sam_identity(sam) : "classical segmenter",
        "backbone", ep->backbone, "detector", json_loads(params ? params : "{}", 0, NULL));
    free(params);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)ep->seed);
    json_object_del(settings, "seed_text");
    json_object_set_new(settings, "seed", json_string(seed));
    char *settings_text = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
    am_eval_result *res = calloc((size_t)(n > 0 ? n : 1), sizeof *res);
    am_report_category *rc = calloc((size_t)(n > 0 ? n : 1), sizeof *rc);
    json_t *keep = json_array();
    if (!res || !rc || !settings_text) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    for (int32_t c = 0; st == AM_OK && c < n; c++) {
        const char *name = am_dataset_category_name(ds, c);
        char dir[2048], path[4096];
        snprintf(dir, sizeof dir, "%s/%s", ep->out_dir, name);
        snprintf(path, sizeof path, "%s/result.json", dir);
        if ((st = am_make_dirs(dir, err)) != AM_OK) break;
        am_remove_stale_temps(dir);
        json_t *done = json_load_file(path, 0, NULL);
        json_t *ds_settings = json_object_get(done, "settings");
        char *done_text = ds_settings ? json_dumps(ds_settings, JSON_COMPACT | JSON_SORT_KEYS)
                                      : NULL;
        if (done_text && strcmp(done_text, settings_text) == 0 &&
            am_eval_result_from_json(json_object_get(done, "result"), &res[c])) { /* resume */
            res[c].name = name;
            figures_from_json(json_object_get(done, "figures"), &rc[c], keep);
            json_array_append(keep, done);
            if (progress) progress(user, name, am_dataset_test_count(ds, c),
                                   am_dataset_test_count(ds, c));
        } else {
            memset(&res[c], 0, sizeof res[c]); /* a partly read result.json is not kept */
            st = run_category(ds, c, clip, sam, dp, ep, progress, user, dir, &res[c], &rc[c],
                              err);
            if (st == AM_OK) {
                json_t *o = json_pack("{s:O,s:o,s:o}", "settings", settings, "result",
                                      am_eval_result_to_json(&res[c]), "figures", figures_json(&rc[c]));
                st = write_json(path, o, err);
                json_decref(o);
            }
        }
        free(done_text);
        json_decref(done);
    }
    if (st == AM_OK) st = write_summary(ep->out_dir, res, n, settings, rc, err);
    for (int32_t c = 0; rc && c < n; c++) free_figures(&rc[c]);
    free(rc);
    json_decref(keep);
    json_decref(settings);
    free(settings_text);
    if (st != AM_OK) {
        free(res);
        return st;
    }
    *results = res;
    *n_results = n;
    return AM_OK;
}
