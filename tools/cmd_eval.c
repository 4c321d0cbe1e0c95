/* cmd_eval.c - `anomem eval`: metrics over a dataset (MVTec AD, VisA or a
 * folder layout), few-shot or zero-shot, with an HTML report. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_eval.h"
#include "cli_models.h"

static volatile int stop_requested;

static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void help(void) {
    printf("usage: anomem eval --root DIR [--dataset mvtec|visa|folder|auto] [--category C]...\n"
           "                   [--shots K | --zero-shot] [--seed S] [--eval-size N] --out DIR\n"
           "                   --clip FILE [--sam FILE]\n\n"
           "Fits each category from K good training images drawn with the seed (default 4), or\n"
           "scores zero-shot, and writes metrics.json, metrics.csv, metrics.md, scores.csv and\n"
           "report.html into DIR.  A rerun resumes: finished categories are not recomputed.\n"
           "Ctrl-C stops at the next image.\n\n%s",
           cli_models_help);
}

int cmd_eval(int argc, char **argv) {
    cli_models m;
    cli_models_init(&m);
    am_eval_params ep = am_eval_default_params();
    const char *root = NULL, *layout_name = "auto";
    const char **cats = calloc((size_t)argc, sizeof *cats);
    int n_cats = 0;
    if (!cats) return 1;
    for (int i = 1; i < argc; i++) {
        int r = cli_models_parse(&m, "eval", argc, argv, &i);
        if (r < 0) goto usage;
        if (r > 0) continue;
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            help();
            free(cats);
            return 0;
        } else if (strcmp(argv[i], "--zero-shot") == 0) {
            ep.shots = 0;
        } else if (strcmp(argv[i], "--root") == 0 || strcmp(argv[i], "--dataset") == 0 ||
                   strcmp(argv[i], "--category") == 0 || strcmp(argv[i], "--out") == 0 ||
                   strcmp(argv[i], "--shots") == 0 || strcmp(argv[i], "--eval-size") == 0) {
            const char *flag = argv[i];
            if (!(v = cli_flag_value("eval", argc, argv, &i))) goto usage;
            if (strcmp(flag, "--root") == 0) root = v;
            else if (strcmp(flag, "--dataset") == 0) layout_name = v;
            else if (strcmp(flag, "--category") == 0) cats[n_cats++] = v;
            else if (strcmp(flag, "--out") == 0) ep.out_dir = v;
            else {
                char *end;
                long k = strtol(v, &end, 10);
                if (*end || k < (strcmp(flag, "--shots") == 0 ? 0 : 16) || k > 4096) {
                    cli_usage("eval", "%s: '%s' is not a valid number", flag, v);
                    goto usage;
                }
                if (strcmp(flag, "--shots") == 0) ep.shots = (int32_t)k;
                else ep.eval_size = (int32_t)k;
            }
        } else {
            cli_usage("eval", "unknown argument '%s'", argv[i]);
            goto usage;
        }
    }
    if (!root || !ep.out_dir) {
        cli_usage("eval", "needs --root DIR and --out DIR");
        goto usage;
    }
    ep.seed = m.detector.seed;
    ep.object = m.object;
    ep.stop = &stop_requested;
    signal(SIGINT, on_sigint);
    int rc = cli_eval_run(&m, root, layout_name, cats, n_cats, &ep);
    free(cats);
    return rc;
usage:
    free(cats);
    return 2;
}
