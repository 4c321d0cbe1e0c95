/* selftest.h - the checks of `anomem selftest`, one runner per kind of
 * reference vector folder (selftest_clip.c, selftest_sam.c, selftest_metrics.c). */
#ifndef AM_TOOLS_SELFTEST_H
#define AM_TOOLS_SELFTEST_H

#include "anomem.h"

typedef struct {
    int passed, failed;
} selftest_tally;

/* Prints one check line ("ok name max abs err E (tol T)") and counts it. */
void selftest_report(selftest_tally *t, const char *name, double max_abs_err, double tolerance,
                     int pass);

/* Prints a check that could not run and counts it as failed. */
void selftest_report_error(selftest_tally *t, const char *name, const am_error *err);

/* Opens <dir>/cases.safetensors; on failure reports it as a failed check
 * and returns NULL. */
am_weights *selftest_open_cases(const char *dir, selftest_tally *t);

/* ANOMEM_SELFTEST_KINDS: each kind declares recognise + run here. */

/* selftest_metrics.c: config.json {"kind": "metrics"} + cases.safetensors. */
int selftest_metrics_recognise(const char *dir);
void selftest_metrics_run(const char *dir, selftest_tally *t);

/* selftest_clip.c: a CLIP state dict (model.safetensors / model.pt with
 * visual.* and token_embedding.*) + cases.safetensors. */
int selftest_clip_recognise(const char *dir);
void selftest_clip_run(const char *dir, selftest_tally *t);

/* selftest_sam.c: a SAM state dict (model.safetensors / model.pt with
 * image_encoder.* and mask_decoder.*) + cases.safetensors. */
int selftest_sam_recognise(const char *dir);
void selftest_sam_run(const char *dir, selftest_tally *t);

#endif
