/* cmd_predict.c - `anomem predict`: scores images with a fitted model (or
 * zero-shot) and writes scores.csv, results.json, 16-bit anomaly maps and
 * colour overlays. */
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_models.h"
#include "cli_progress.h"
#include "core/error.h"
#include "core/text.h"

static void help(void) {
    printf("usage: anomem predict --model MODEL [--clip FILE] [--sam FILE] IMAGE... --out DIR\n"
           "       anomem predict --zero-shot --clip FILE [--sam FILE] --object NAME IMAGE... "
           "--out DIR\n\n"
           "Writes DIR/scores.csv, DIR/results.json, DIR/maps/<name>.png (16-bit: value = pixel "
           "x map_scale)\nand DIR/overlays/<name>.png.\n\n%s",
           cli_models_help);
}

/* The file name stem of a path ("a/b/img.png" -> "img"), made unique among
 * the images of this run by a numeric suffix. */
static void unique_stem(char *const *paths, int index, char *stem, size_t size) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", paths[index]);
    const char *base = basename(buf);
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    int dup = 0;
    for (int j = 0; j < index; j++) {
        char other[4096];
        snprintf(other, sizeof other, "%s", paths[j]);
        const char *ob = basename(other);
        const char *od = strrchr(ob, '.');
        int olen = od && od != ob ? (int)(od - ob) : (int)strlen(ob);
        if (olen == len && strncmp(ob, base, (size_t)len) == 0) dup++;
    }
    if (dup) snprintf(stem, size, "%.*s-%d", len, base, dup);
    else snprintf(stem, size, "%.*s", len, base);
}

/* Loads the detector: a model file (its CLIP/SAM from flags, or the ones it
 * names) or a zero-shot detector. */
static am_status load_detector(cli_models *m, const char *model, am_clip **clip, am_sam **sam,
                               am_detector **det, am_error *err) {
    char object[256] = "object", clip_id[256], sam_id[256];
    if (model) {
        am_status st = am_detector_peek(model, object, sizeof object, clip_id, sizeof clip_id,
                                        sam_id, sizeof sam_id, err);
        if (st != AM_OK) return st;
        if (!m->clip && !getenv("ANOMEM_CLIP") && strncmp(clip_id, "random:", 7) == 0)
            m->clip = strcpy(m->clip_storage, clip_id);
    }
    am_status st = cli_models_load(m, clip, sam, err);
    if (st != AM_OK) return st;
    if (model) return am_detector_load(model, *clip, *sam, det, err);
    return am_detector_create(*clip, *sam, m->object ? m->object : object, &m->detector, det, err);
}

static am_status write_outputs(const char *dir, char *const *images, int n, const float *scores,
                               const double *scales, json_t *results, am_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/scores.csv", dir);
    am_text csv = {0};
    am_text_printf(&csv, "image,score,map,map_scale,overlay\n");
    for (int i = 0; i < n; i++) {
        char stem[1024];
        unique_stem(images, i, stem, sizeof stem);
        am_text_printf(&csv, "\"%s\",%.9g,maps/%s.png,%.9g,overlays/%s.png\n", images[i],
                       scores[i], stem, scales[i], stem);
    }
    am_status st = csv.failed ? am_error_set(err, AM_ERR_NOMEM, "out of memory")
                              : am_write_file(path, csv.data, csv.len, err);
    am_text_free(&csv);
    if (st != AM_OK) return st;
    char *text = json_dumps(results, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    if (!text) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/results.json", dir);
    st = am_write_file(path, text, strlen(text), err);
    free(text);
    return st;
}

int cmd_predict(int argc, char **argv) {
    cli_models m;
    cli_models_init(&m);
    const char *model = NULL, *out = NULL;
    int zero_shot = 0, n = 0;
    char **images = calloc((size_t)argc, sizeof *images);
    if (!images) return 1;
    for (int i = 1; i < argc; i++) {
        int r = cli_models_parse(&m, "predict", argc, argv, &i);
        if (r < 0) goto usage;
        if (r > 0) continue;
        if (strcmp(argv[i], "--help") == 0) {
            help();
            free(images);
            return 0;
        } else if (strcmp(argv[i], "--model") == 0) {
            if (!(model = cli_flag_value("predict", argc, argv, &i))) goto usage;
        } else if (strcmp(argv[i], "--out") == 0) {
            if (!(out = cli_flag_value("predict", argc, argv, &i))) goto usage;
        } else if (strcmp(argv[i], "--zero-shot") == 0) {
            zero_shot = 1;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            cli_usage("predict", "unknown flag '%s'", argv[i]);
            goto usage;
        } else {
            images[n++] = argv[i];
        }
    }
    if (!out || n == 0 || (!model) == (!zero_shot)) {
        cli_usage("predict", "needs --model MODEL or --zero-shot, images, and --out DIR");
        goto usage;
    }
    am_error err = {0};
    am_clip *clip = NULL;
    am_sam *sam = NULL;
    am_detector *det = NULL;
    float *scores = calloc((size_t)n, sizeof *scores);
    double *scales = calloc((size_t)n, sizeof *scales);
    json_t *results = json_array();
    am_status st = scores && scales ? AM_OK : AM_ERR_NOMEM;
    char path[4096];
    if (st == AM_OK) st = am_make_dirs(out, &err);
    snprintf(path, sizeof path, "%s/maps", out);
    if (st == AM_OK) st = am_make_dirs(path, &err);
    snprintf(path, sizeof path, "%s/overlays", out);
    if (st == AM_OK) st = am_make_dirs(path, &err);
    if (st == AM_OK) st = load_detector(&m, model, &clip, &sam, &det, &err);
    cli_progress progress;
    cli_progress_start(&progress, "predict", n);
    for (int i = 0; st == AM_OK && i < n; i++) {
        am_image img = {0};
        am_prediction pred = {0};
        char stem[1024];
        unique_stem(images, i, stem, sizeof stem);
        st = am_image_read(images[i], m.max_pixels, &img, &err);
        if (st == AM_OK) st = am_detector_predict(det, &img, &pred, &err);
        snprintf(path, sizeof path, "%s/maps/%s.png", out, stem);
        if (st == AM_OK) st = am_map_write_png16(path, pred.map, pred.width, pred.height,
                                                 &scales[i], &err);
        snprintf(path, sizeof path, "%s/overlays/%s.png", out, stem);
        if (st == AM_OK) st = am_map_write_overlay(path, &img, pred.map, 0, &err);
        if (st == AM_OK) {
            scores[i] = pred.score;
            json_t *boxes = json_array();
            for (int32_t j = 0; j < pred.n_objects; j++)
                json_array_append_new(boxes, json_pack("{s:[iiii],s:I}", "bbox",
                                                       pred.objects[j].x, pred.objects[j].y,
                                                       pred.objects[j].w, pred.objects[j].h,
                                                       "area", (json_int_t)pred.objects[j].area));
            char map_rel[1100], ov_rel[1100];
            snprintf(map_rel, sizeof map_rel, "maps/%s.png", stem);
            snprintf(ov_rel, sizeof ov_rel, "overlays/%s.png", stem);
            json_array_append_new(results,
                                  json_pack("{s:s,s:f,s:o,s:s,s:f,s:s}", "image", images[i],
                                            "score", (double)pred.score, "objects", boxes, "map",
                                            map_rel, "map_scale", scales[i], "overlay", ov_rel));
        }
        am_prediction_free(&pred);
        am_image_free(&img);
        cli_progress_step(&progress, images[i]);
    }
    cli_progress_end(&progress);
    if (st == AM_OK) st = write_outputs(out, images, n, scores, scales, results, &err);
    if (st == AM_OK) printf("scored %d images -> %s/scores.csv\n", n, out);
    json_decref(results);
    free(scores);
    free(scales);
    free(images);
    am_detector_free(det);
    am_sam_free(sam);
    am_clip_free(clip);
    return st == AM_OK ? 0 : cli_fail(&err);
usage:
    free(images);
    return 2;
}
