/* cli_eval.c - the shared driver of `anomem eval` and `anomem demo`. */
#include "cli_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_progress.h"

typedef struct {
    cli_progress bar;
    const char *category;
} progress_state;

static void on_progress(void *user, const char *category, int32_t done, int32_t total) {
    progress_state *p = user;
    if (!p->category || strcmp(p->category, category) != 0) {
        if (p->category) cli_progress_end(&p->bar);
        cli_progress_start(&p->bar, category, total);
        p->category = category;
    }
    p->bar.done = done - 1;
    cli_progress_step(&p->bar, NULL);
}

int cli_eval_run(cli_models *m, const char *root, const char *layout_name,
                 const char *const *categories, int n_categories, am_eval_params *ep) {
    am_error err = {0};
    am_dataset_layout layout;
    am_dataset *ds = NULL;
    am_clip *clip = NULL;
    am_sam *sam = NULL;
    am_eval_result *res = NULL;
    int32_t n = 0;
    am_status st = am_dataset_layout_from_name(layout_name, &layout, &err);
    if (st == AM_OK)
        st = am_dataset_open(root, layout, n_categories ? categories : NULL, n_categories, &ds,
                             &err);
    if (st == AM_OK) st = cli_models_load(m, &clip, &sam, &err);
    ep->max_pixels = m->max_pixels;
    char backbone[600];
    if (st == AM_OK) {
        snprintf(backbone, sizeof backbone, "CLIP %s (%s), %s", am_clip_identity(clip),
                 strncmp(am_clip_identity(clip), "random", 6) == 0
                     ? "random weights: its numbers show the pipeline works, not what the real "
                       "model scores"
                     : "weights file",
                 sam ? "SAM" : "classical segmenter");
        if (!ep->backbone) ep->backbone = backbone;
        progress_state ps = {0};
        st = am_eval_run(ds, clip, sam, &m->detector, ep, on_progress, &ps, &res, &n, &err);
        if (ps.category) cli_progress_end(&ps.bar);
    }
    if (st == AM_OK) {
        char path[4096], *md = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/metrics.md", ep->out_dir);
        FILE *f = fopen(path, "rb");
        if (f) {
            md = malloc(1 << 20);
            len = md ? fread(md, 1, (1 << 20) - 1, f) : 0;
            if (md) {
                md[len] = 0;
                printf("%s", md);
            }
            fclose(f);
        }
        free(md);
        printf("%s, %s\nreport: %s/report.html\n",
               ep->shots ? "few-shot" : "zero-shot", ep->backbone, ep->out_dir);
    }
    free(res);
    am_sam_free(sam);
    am_clip_free(clip);
    am_dataset_free(ds);
    if (st == AM_ERR_INTERRUPTED) {
        fprintf(stderr, "anomem: stopped; finished categories are kept, rerun to resume\n");
        return 130;
    }
    return st == AM_OK ? 0 : cli_fail(&err);
}
