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

/* ANOMEM_SELFTEST_KINDS: each kind declares recognise + run here. */

#endif
