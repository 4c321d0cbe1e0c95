/* cmd_demo.c - `anomem demo`: makes a synthetic inspection set and evaluates
 * it few-shot and zero-shot, needing no download. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_eval.h"
#include "cli_models.h"

static void help(void) {
    printf("usage: anomem demo [--out DIR] [--clip FILE] [--sam FILE] [options]\n\n"
           "Generates a synthetic inspection set (three products, scratches, missing pieces,\n"
           "stains, wrong colours, with masks) in DIR/data, then evaluates it few-shot (2 shots)\n"
           "and zero-shot into DIR/few-shot and DIR/zero-shot (default DIR: demo-out).\n"
           "Without --clip or $ANOMEM_CLIP it uses a seeded random-weight CLIP architecture.\n"
           "Defaults: bf16, augmentations identity + horizontal flip.\n\n%s",
           cli_models_help);
}

int cmd_demo(int argc, char **argv) {
    cli_models m;
    cli_models_init(&m);
    const char *out = "demo-out";
    for (int i = 1; i < argc; i++) {
        int r = cli_models_parse(&m, "demo", argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (strcmp(argv[i], "--help") == 0) {
            help();
            return 0;
        } else if (strcmp(argv[i], "--out") == 0) {
            if (!(out = cli_flag_value("demo", argc, argv, &i))) return 2;
        } else {
            return cli_usage("demo", "unknown argument '%s'", argv[i]);
        }
    }
    int real = m.clip || getenv("ANOMEM_CLIP");
    if (!real) m.clip = "random:0";
    /* the demo runs in bf16 with two augmentations so that it takes minutes,
     * not tens of minutes, on two cores */
    if (!m.precision_given) m.precision = AM_PRECISION_BF16;
    if (!m.detector.augmentations || m.detector.augmentations == AM_AUG_ALL)
        m.detector.augmentations = AM_AUG_IDENTITY | AM_AUG_HFLIP;
    char data[4096], few[4096], zero[4096];
    snprintf(data, sizeof data, "%s/data", out);
    snprintf(few, sizeof few, "%s/few-shot", out);
    snprintf(zero, sizeof zero, "%s/zero-shot", out);
    am_error err = {0};
    printf("anomem demo: synthetic set in %s\n", data);
    if (am_synth_write(data, 7, 4, 3, 1, 224, &err) != AM_OK) return cli_fail(&err);
    if (!real)
        printf("backbone: a seeded random-weight model of the ViT-B-16-plus-240 architecture "
               "(no weights found).\nIts few-shot maps still find gross defects; its zero-shot "
               "numbers mean nothing.\nFor the real model: scripts/get-weights.sh, then "
               "anomem demo --clip FILE [--sam FILE] or set ANOMEM_CLIP / ANOMEM_SAM.\n\n");
    am_eval_params ep = am_eval_default_params();
    ep.out_dir = few;
    ep.shots = 2;
    ep.max_figures = 12;
    printf("== few-shot (2 good images per product)\n");
    int rc = cli_eval_run(&m, data, "mvtec", NULL, 0, &ep);
    if (rc != 0) return rc;
    ep.out_dir = zero;
    ep.shots = 0;
    printf("\n== zero-shot (text prompts only)\n");
    return cli_eval_run(&m, data, "mvtec", NULL, 0, &ep);
}
