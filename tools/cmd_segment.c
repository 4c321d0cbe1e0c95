/* cmd_segment.c - `anomem segment`: the object decomposition alone (SAM's
 * generator with --sam, else the classical segmenter, then the selection
 * rules): <stem>.objects.json and <stem>.objects.png with the boxes drawn. */
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_models.h"
#include "segment_sam_raw.h"

static void help(void) {
    printf("usage: anomem segment [--sam FILE] IMAGE... --out DIR\n\n"
           "Splits each image into objects (SAM's automatic mask generator, or the classical\n"
           "segmenter for plain backgrounds without --sam) and keeps the objects the detector\n"
           "would use.  Writes DIR/<name>.objects.json and DIR/<name>.objects.png; with --sam\n"
           "also every generated mask: DIR/<name>.masks.json and the label image\n"
           "DIR/<name>.masks.png.\n\n"
           "  --sam FILE  --sam-config FILE  --precision f32|bf16  --threads N\n"
           "  --param NAME=VALUE   selection parameters (max_objects, max_object_fraction,\n"
           "                       min_object_fraction, nested_fraction, crop_grow)\n%s",
           segment_sam_help);
}

/* Draws a 2-pixel red rectangle outline. */
static void draw_box(am_image *img, const am_object_box *b) {
    for (int t = 0; t < 2; t++)
        for (int32_t y = b->y - t; y <= b->y + b->h - 1 + t; y++)
            for (int32_t x = b->x - t; x <= b->x + b->w - 1 + t; x++) {
                int edge = y == b->y - t || y == b->y + b->h - 1 + t || x == b->x - t ||
                           x == b->x + b->w - 1 + t;
                if (!edge || x < 0 || y < 0 || x >= img->width || y >= img->height) continue;
                uint8_t *p = img->data + ((size_t)y * img->width + x) * 3;
                p[0] = 255;
                p[1] = 0;
                p[2] = 0;
            }
}

static am_status segment_one(am_sam *sam, const am_amg_params *amg, const cli_models *m,
                             const char *path, const char *out, am_error *err) {
    const am_detector_params *params = &m->detector;
    am_image img = {0};
    am_object_box *boxes = NULL;
    int32_t n = 0;
    char stem[1024], buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    snprintf(stem, sizeof stem, "%s", basename(buf));
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    am_status st = am_image_read(path, m->max_pixels, &img, err);
    if (st == AM_OK && sam) { /* one generator run: raw masks, then the selection */
        am_sam_masks masks = {0};
        st = am_sam_generate(sam, &img, amg, &masks, err);
        if (st == AM_OK && segment_sam_write_records(out, stem, &img, &masks, err) != AM_OK)
            st = err->code;
        if (st == AM_OK) st = am_objects_from_sam_masks(&masks, params, &boxes, &n, err);
        am_sam_masks_free(&masks);
    } else if (st == AM_OK) {
        st = am_detect_objects(NULL, &img, params, &boxes, &n, err);
    }
    if (st == AM_OK) {
        json_t *objs = json_array();
        for (int32_t i = 0; i < n; i++) {
            json_array_append_new(objs, json_pack("{s:[iiii],s:I}", "bbox", boxes[i].x,
                                                  boxes[i].y, boxes[i].w, boxes[i].h, "area",
                                                  (json_int_t)boxes[i].area));
            draw_box(&img, &boxes[i]);
        }
        json_t *root = json_pack("{s:s,s:o}", "image", path, "objects", objs);
        char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(root);
        snprintf(buf, sizeof buf, "%s/%s.objects.json", out, stem);
        st = text ? am_write_file(buf, text, strlen(text), err) : AM_ERR_NOMEM;
        free(text);
        snprintf(buf, sizeof buf, "%s/%s.objects.png", out, stem);
        if (st == AM_OK) st = am_image_write_png(buf, &img, err);
        if (st == AM_OK) printf("%s: %d objects\n", path, (int)n);
    }
    am_boxes_free(boxes);
    am_image_free(&img);
    return st;
}

int cmd_segment(int argc, char **argv) {
    cli_models m;
    cli_models_init(&m);
    m.clip = "unused"; /* segment needs no CLIP */
    am_amg_params amg = am_amg_default_params();
    const char *out = NULL;
    int n = 0;
    char **images = calloc((size_t)argc, sizeof *images);
    if (!images) return 1;
    for (int i = 1; i < argc; i++) {
        int r = cli_models_parse(&m, "segment", argc, argv, &i);
        if (r == 0) r = segment_sam_parse_flag(&amg, argc, argv, &i);
        if (r < 0) goto usage;
        if (r > 0) continue;
        if (strcmp(argv[i], "--help") == 0) {
            help();
            free(images);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0) {
            if (!(out = cli_flag_value("segment", argc, argv, &i))) goto usage;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            cli_usage("segment", "unknown flag '%s'", argv[i]);
            goto usage;
        } else {
            images[n++] = argv[i];
        }
    }
    if (!out || n == 0) {
        cli_usage("segment", "needs images and --out DIR");
        goto usage;
    }
    am_error err = {0};
    am_sam *sam = NULL;
    am_status st = AM_OK;
    st = am_make_dirs(out, &err);
    const char *sam_path = m.sam ? m.sam : getenv("ANOMEM_SAM");
    cli_set_threads(m.threads);
    if (st == AM_OK && sam_path && sam_path[0]) {
        am_sam_params sp = am_sam_default_params();
        sp.precision = m.precision;
        sp.threads = m.threads;
        sp.config_path = m.sam_config;
        st = am_sam_load(sam_path, &sp, &sam, &err);
    }
    for (int i = 0; st == AM_OK && i < n; i++) st = segment_one(sam, &amg, &m, images[i], out, &err);
    am_sam_free(sam);
    free(images);
    return st == AM_OK ? 0 : cli_fail(&err);
usage:
    free(images);
    return 2;
}
