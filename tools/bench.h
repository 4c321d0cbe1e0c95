/* bench.h - what the benchmarks share: a monotonic clock, medians, peak RSS. */
#ifndef AM_TOOLS_BENCH_H
#define AM_TOOLS_BENCH_H

#include <stddef.h>

/* Milliseconds from a monotonic clock. */
double bench_now_ms(void);

/* Median of n values (sorts them in place). */
double bench_median(double *values, size_t n);

/* Peak resident set size of this process in MiB. */
double bench_peak_rss_mb(void);

/* ANOMEM_BENCH_KINDS: each benchmark declares its `int bench_X(int argc, char **argv)` here. */

#endif
