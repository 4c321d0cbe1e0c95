/* cmd_fit.c - `anomem fit`: builds a few-shot model from good images and
 * saves it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_models.h"
#include "cli_progress.h"

static void help(void) {
    printf("usage: anomem fit --clip FILE [--sam FILE] --object NAME --shots IMAGE... --out "
           "MODEL\n\nFits a few-shot model from good (normal) images.\n\n%s",
           cli_models_help);
}

int cmd_fit(int argc, char **argv) {
    cli_models m;
    cli_models_init(&m);
    const char *out = NULL;
    const char **shots = calloc((size_t)argc, sizeof *shots);
    int n_shots = 0;
    if (!shots) return 1;
    for (int i = 1; i < argc; i++) {
        int r = cli_models_parse(&m, "fit", argc, argv, &i);
        if (r < 0) goto usage;
        if (r > 0) continue;
        if (strcmp(argv[i], "--help") == 0) {
            help();
            free(shots);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0) {
            if (!(out = cli_flag_value("fit", argc, argv, &i))) goto usage;
        } else if (strcmp(argv[i], "--shots") == 0) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) shots[n_shots++] = argv[++i];
        } else {
            cli_usage("fit", "unknown argument '%s'", argv[i]);
            goto usage;
        }
    }
    if (!out || n_shots == 0) {
        cli_usage("fit", "needs --shots IMAGE... and --out MODEL");
        goto usage;
    }
    am_error err = {0};
    am_clip *clip = NULL;
    am_sam *sam = NULL;
    am_detector *det = NULL;
    am_image image = {0};
    /* every image is checked before the models load; the fit then reads
     * them again one at a time, so memory holds one image, not all */
    am_status st = AM_OK;
    for (int i = 0; st == AM_OK && i < n_shots; i++) {
        st = am_image_read(shots[i], m.max_pixels, &image, &err);
        am_image_free(&image);
    }
    if (st == AM_OK) st = cli_models_load(&m, &clip, &sam, &err);
    if (st == AM_OK)
        st = am_detector_create(clip, sam, m.object ? m.object : "object", &m.detector, &det,
                                &err);
    if (st == AM_OK) st = am_detector_fit_begin(det, &err);
    cli_progress progress;
    cli_progress_start(&progress, "fit", n_shots);
    for (int i = 0; st == AM_OK && i < n_shots; i++) {
        st = am_image_read(shots[i], m.max_pixels, &image, &err);
        if (st == AM_OK) st = am_detector_fit_add(det, &image, &err);
        am_image_free(&image);
        if (st == AM_OK) cli_progress_step(&progress, shots[i]);
    }
    cli_progress_end(&progress);
    if (st == AM_OK) st = am_detector_fit_end(det, &err);
    if (st == AM_OK) st = am_detector_save(det, out, &err);
    if (st == AM_OK) {
        int64_t kept, seen;
        am_detector_bank_counts(det, &kept, &seen);
        printf("fitted %s from %d images -> %s\n", m.object ? m.object : "object", n_shots, out);
        printf("memory banks: %lld embeddings", (long long)kept);
        if (kept < seen && m.detector.memory_ratio > 0)
            printf(" kept of %lld seen (memory ratio %g, at most %lld per bank part)",
                   (long long)seen, m.detector.memory_ratio,
                   (long long)m.detector.memory_capacity);
        else if (kept < seen)
            printf(" kept of %lld seen (at most %lld per bank part)", (long long)seen,
                   (long long)m.detector.memory_capacity);
        printf("\n");
    }
    free(shots);
    am_detector_free(det);
    am_sam_free(sam);
    am_clip_free(clip);
    return st == AM_OK ? 0 : cli_fail(&err);
usage:
    free(shots);
    return 2;
}
