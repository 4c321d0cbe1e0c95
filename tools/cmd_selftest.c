/* cmd_selftest.c - `anomem selftest DIR...`: recognises what each reference
 * vector folder holds and runs its checks; ends with "N passed, M failed". */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "selftest.h"

/* Each kind: does the folder hold it, and the runner that checks it. */
typedef struct {
    const char *kind;
    int (*recognise)(const char *dir);
    void (*run)(const char *dir, selftest_tally *tally);
} selftest_kind;

static const selftest_kind kinds[] = {
    {"metrics", selftest_metrics_recognise, selftest_metrics_run},
    {"clip", selftest_clip_recognise, selftest_clip_run},
    {"sam", selftest_sam_recognise, selftest_sam_run},
    {NULL, NULL, NULL},
};

void selftest_report(selftest_tally *t, const char *name, double max_abs_err, double tolerance,
                     int pass) {
    printf("%-4s %-40s max abs err %.3g (tol %.3g)\n", pass ? "ok" : "FAIL", name, max_abs_err,
           tolerance);
    if (pass) t->passed++;
    else t->failed++;
}

void selftest_report_error(selftest_tally *t, const char *name, const am_error *err) {
    printf("FAIL %-40s %s\n", name, err->message);
    t->failed++;
}

am_weights *selftest_open_cases(const char *dir, selftest_tally *t) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.safetensors", dir);
    am_error err = {0};
    am_weights *cases = NULL;
    if (am_weights_open(path, &cases, &err) != AM_OK) {
        selftest_report_error(t, "cases.safetensors", &err);
        return NULL;
    }
    return cases;
}

int cmd_selftest(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: anomem selftest DIR...\n\nChecks anomem against reference vector folders "
               "(CLIP, SAM, metrics), e.g. ../shared/vectors/clip-tiny.\n");
        return 0;
    }
    if (argc < 2) return cli_usage("selftest", "expected at least one vector folder");
    selftest_tally tally = {0, 0};
    for (int i = 1; i < argc; i++) {
        const selftest_kind *k = NULL;
        for (size_t j = 0; kinds[j].kind; j++)
            if (kinds[j].recognise(argv[i])) k = &kinds[j];
        if (!k) {
            printf("FAIL %s: not a reference vector folder anomem knows\n", argv[i]);
            tally.failed++;
            continue;
        }
        printf("# %s (%s)\n", argv[i], k->kind);
        k->run(argv[i], &tally);
    }
    printf("%d passed, %d failed\n", tally.passed, tally.failed);
    return tally.failed ? 1 : 0;
}
