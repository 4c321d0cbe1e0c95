/* bench_detect.c - `anomem bench detect`: the per-image cost of few-shot
 * prediction with the real ViT-B-16-plus-240 architecture (random weights
 * unless --clip): decomposition, the crop batch through CLIP, the memory-bank
 * search against full banks, and the whole predict call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "cli_models.h"
#include "core/error.h"
#include "core/rng.h"
#include "detect/detector_internal.h"

/* A plain background with `n` discs in a row: n objects for the segmenter. */
static am_status make_scene(int32_t n, am_image *img, am_error *err) {
    const int32_t w = 160 * n, h = 240;
    am_status st = am_image_alloc(w, h, img, err);
    if (st != AM_OK) return st;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            uint8_t *p = img->data + ((size_t)y * w + x) * 3;
            int32_t cx = 80 + 160 * (x / 160), dx = x - cx, dy = y - 120;
            int in = dx * dx + dy * dy < 55 * 55;
            p[0] = in ? 190 : 236;
            p[1] = in ? (uint8_t)(70 + (x + y) % 40) : 234;
            p[2] = in ? 60 : 228;
        }
    return AM_OK;
}

/* Fills every bank part with `rows` seeded random unit vectors. */
static am_status fill_banks(am_detector *det, int64_t rows, am_error *err) {
    am_rng rng;
    am_rng_seed(&rng, 1);
    for (int b = 0; b < N_BANKS; b++)
        for (int p = 0; p < N_PARTS; p++) {
            int64_t dim = p == PART_IMAGE ? det->info.vision_width : det->info.embed_dim;
            float *v = malloc(sizeof(float) * (size_t)(rows * dim));
            if (!v) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; i < rows * dim; i++) v[i] = am_rng_normal(&rng);
            am_status st = am_bank_append(&det->banks[b][p], v, rows, dim, 1, err);
            free(v);
            if (st != AM_OK) return st;
        }
    det->fitted = 1;
    return am_detector_build_index(det, err);
}

int bench_detect(int argc, char **argv) {
    cli_models m;
    cli_models_init(&m);
    int repeats = 3, objects = 4, json = 0;
    int64_t bank_rows = 100000;
    for (int i = 1; i < argc; i++) {
        int r = cli_models_parse(&m, "bench detect", argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *v;
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--repeats") == 0 || strcmp(argv[i], "--objects") == 0 ||
                 strcmp(argv[i], "--bank") == 0) {
            const char *flag = argv[i];
            if (!(v = cli_flag_value("bench detect", argc, argv, &i))) return 2;
            long k = strtol(v, NULL, 10);
            if (k < 1 || k > 10000000) return cli_usage("bench detect", "%s: bad value", flag);
            if (strcmp(flag, "--repeats") == 0) repeats = (int)k;
            else if (strcmp(flag, "--objects") == 0) objects = (int)k;
            else bank_rows = k;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: anomem bench detect [--clip FILE] [--precision f32|bf16] [--threads N]"
                   " [--objects 4] [--bank 100000] [--repeats 3] [--json]\n");
            return 0;
        } else {
            return cli_usage("bench detect", "unknown argument '%s'", argv[i]);
        }
    }
    if (!m.clip) m.clip = "random:0";
    am_error err = {0};
    am_clip *clip = NULL;
    am_sam *sam = NULL;
    am_detector *det = NULL;
    am_image img = {0};
    am_status st = cli_models_load(&m, &clip, &sam, &err);
    if (st == AM_OK) st = am_detector_create(clip, sam, "disc", &m.detector, &det, &err);
    if (st == AM_OK) st = fill_banks(det, bank_rows, &err);
    if (st == AM_OK) st = make_scene(objects, &img, &err);
    if (st != AM_OK) return cli_fail(&err);
    double t_dec[16], t_enc[16], t_search[16], t_total[16], t_single[16];
    int32_t n_crops = 0;
    if (repeats > 16) repeats = 16;
    for (int r = 0; st == AM_OK && r < repeats; r++) {
        am_decomposition dec = {0};
        crop_features f = {0};
        double t0 = bench_now_ms();
        st = am_decompose(sam, &img, &det->params, &dec, &err);
        double t1 = bench_now_ms();
        if (st == AM_OK) st = am_encode_crops(det, &img, &dec, &f, &err);
        double t2 = bench_now_ms();
        n_crops = f.n;
        /* the search alone, batched as predict does it: the image against
         * the global banks, all object crops together against the individual
         * ones */
        const int32_t ns = det->windows[0].count, nm = det->windows[1].count;
        const int32_t dim = det->info.embed_dim, np = det->n_patches;
        float *q = malloc(sizeof(float) * (size_t)f.n * (ns > nm ? ns : nm) * dim);
        float *d = malloc(sizeof(float) * (size_t)f.n * np);
        if (!q || !d) st = am_error_set(&err, AM_ERR_NOMEM, "out of memory");
        for (int b = 0; st == AM_OK && b < N_BANKS; b++) {
            int32_t c0 = b == BANK_GLOBAL ? 0 : 1, c1 = b == BANK_GLOBAL ? 1 : f.n;
            for (int part = 0; st == AM_OK && part < 2; part++) {
                int32_t count = part ? nm : ns, offset = part ? ns : 0;
                for (int32_t c = c0; c < c1; c++)
                    memcpy(q + (size_t)(c - c0) * count * dim,
                           f.windows + ((size_t)c * (ns + nm) + offset) * dim,
                           sizeof(float) * (size_t)count * dim);
                st = am_bank_index_distance(det->index[b][part ? PART_MID : PART_SMALL], q,
                                            (int64_t)(c1 - c0) * count, d, &err);
            }
            if (st == AM_OK)
                st = am_bank_index_distance(det->index[b][PART_IMAGE],
                                            f.tokens + (size_t)c0 * np * det->info.vision_width,
                                            (int64_t)(c1 - c0) * np, d, &err);
        }
        free(q);
        double t3 = bench_now_ms();
        free(d);
        am_crop_features_free(&f);
        am_decomposition_free(&dec);
        am_prediction pred = {0};
        double t4 = bench_now_ms();
        if (st == AM_OK) st = am_detector_predict(det, &img, &pred, &err);
        double t5 = bench_now_ms();
        am_prediction_free(&pred);
        /* the single-crop window batch of the CLIP bench, for the ratio */
        am_decomposition none = {0};
        double t6 = bench_now_ms();
        if (st == AM_OK) st = am_encode_crops(det, &img, &none, &f, &err);
        double t7 = bench_now_ms();
        am_crop_features_free(&f);
        t_dec[r] = t1 - t0;
        t_enc[r] = t2 - t1;
        t_search[r] = t3 - t2;
        t_total[r] = t5 - t4;
        t_single[r] = t7 - t6;
    }
    if (st != AM_OK) return cli_fail(&err);
    double dec = bench_median(t_dec, (size_t)repeats), enc = bench_median(t_enc, (size_t)repeats),
           search = bench_median(t_search, (size_t)repeats),
           total = bench_median(t_total, (size_t)repeats),
           single = bench_median(t_single, (size_t)repeats);
    int32_t windows = det->windows[0].count + det->windows[1].count;
    if (json) {
        printf("{\"crops\": %d, \"windows_per_crop\": %d, \"bank_rows\": %lld, \"decompose_ms\": "
               "%.1f, \"encode_ms\": %.1f, \"search_ms\": %.1f, \"predict_ms\": %.1f, "
               "\"single_crop_ms\": %.1f, \"ratio\": %.2f, \"peak_rss_mb\": %.0f}\n",
               n_crops, windows, (long long)bank_rows, dec, enc, search, total, single,
               total / single, bench_peak_rss_mb());
    } else {
        printf("detector, %s, %s, %d objects -> %d crops x (%d windows + 1 image)\n",
               am_clip_identity(clip), m.precision == AM_PRECISION_BF16 ? "bf16" : "f32",
               objects, n_crops, windows);
        printf("  decomposition      %9.1f ms\n", dec);
        printf("  CLIP crop batch    %9.1f ms\n", enc);
        printf("  memory search      %9.1f ms  (6 parts x %lld rows)\n", search,
               (long long)bank_rows);
        printf("  whole predict      %9.1f ms  = %.2f x the single-crop batch (%.1f ms)\n", total,
               total / single, single);
        printf("  peak memory        %9.0f MB\n", bench_peak_rss_mb());
    }
    am_image_free(&img);
    am_detector_free(det);
    am_sam_free(sam);
    am_clip_free(clip);
    return 0;
}
