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

/* `anomem bench gemm`: sgemm and bf16 GEMM ceilings through am_linear. */
int bench_gemm(int argc, char **argv);

/* Per-image detector cost (bench_detect.c). */
int bench_detect(int argc, char **argv);

/* `anomem bench clip`: image, windows and text of one crop, f32 and bf16. */
int bench_clip(int argc, char **argv);

/* `anomem bench sam`: SAM encoder, decoder for 64 prompts, default generator
 * (vit_b, vit_h; f32, bf16). */
int bench_sam(int argc, char **argv);

#endif
