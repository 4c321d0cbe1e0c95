/* bench_gemm.c - `anomem bench gemm`: the GEMM ceilings of this machine
 * through am_linear, float32 (OpenBLAS sgemm) and bf16 (oneDNN matmul), for
 * the shapes of CLIP ViT-B-16-plus-240's linear layers over one crop's tokens
 * and a big square, or for one shape given on the command line. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "core/rng.h"
#include "nn/linear.h"
#include "nn/linear_bf16.h"

/* OpenBLAS's own thread count (its cblas.h is private to the library target). */
void openblas_set_num_threads(int num_threads);

typedef struct {
    long long m, n, k;
} shape;

/* One crop of ViT-B-16-plus-240 is about 2900 tokens of width 896: qkv
 * (896 -> 2688), MLP up (896 -> 3584), attention out (896 -> 896), MLP down
 * (3584 -> 896); then a big square. */
static const shape default_shapes[] = {
    {2900, 2688, 896}, {2900, 3584, 896}, {2900, 896, 896}, {2900, 896, 3584}, {4096, 4096, 4096},
};

typedef struct {
    double median_ms, best_ms;
} timing;

/* Times `runs` forward passes of a layer (after one untimed warm-up). */
static int time_layer(const am_linear *l, const float *x, const shape *s, float *y, int runs,
                      timing *t) {
    am_error err = {0};
    double *ms = malloc(sizeof(double) * (size_t)runs);
    if (!ms) return 1;
    if (am_linear_forward(l, x, s->k, s->m, y, s->n, &err) != AM_OK) {
        free(ms);
        return cli_fail(&err);
    }
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now_ms();
        if (am_linear_forward(l, x, s->k, s->m, y, s->n, &err) != AM_OK) {
            free(ms);
            return cli_fail(&err);
        }
        ms[r] = bench_now_ms() - t0;
    }
    t->median_ms = bench_median(ms, (size_t)runs);
    t->best_ms = ms[0]; /* sorted by bench_median */
    free(ms);
    return 0;
}

/* Runs both precisions on one shape; fills the timings and the name of the
 * bf16 implementation oneDNN chose. */
static int bench_shape(const shape *s, int runs, timing *f32, timing *bf16, char *impl,
                       size_t impl_size) {
    am_error err = {0};
    size_t nx = (size_t)(s->m * s->k), nw = (size_t)(s->n * s->k), ny = (size_t)(s->m * s->n);
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *y = malloc(ny * sizeof(float));
    int rc = 1;
    if (!x || !w || !y) {
        fprintf(stderr, "anomem: out of memory for %lld x %lld x %lld\n", s->m, s->n, s->k);
        goto done;
    }
    am_rng rng;
    am_rng_seed(&rng, 42);
    for (size_t i = 0; i < nx; i++) x[i] = am_rng_normal(&rng);
    for (size_t i = 0; i < nw; i++) w[i] = 0.05f * am_rng_normal(&rng);

    am_linear *l = NULL;
    if (am_linear_create(w, NULL, s->n, s->k, AM_PRECISION_F32, &l, &err) != AM_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    rc = time_layer(l, x, s, y, runs, f32);
    am_linear_free(l);
    if (rc) goto done;

    /* The implementation name lives on the bf16 layer below am_linear. */
    am_linear_bf16 *probe = NULL;
    if (am_linear_bf16_create(w, 0, NULL, s->n, s->k, &probe, &err) != AM_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    snprintf(impl, impl_size, "%s", am_linear_bf16_impl_name(probe));
    am_linear_bf16_free(probe);

    if (am_linear_create(w, NULL, s->n, s->k, AM_PRECISION_BF16, &l, &err) != AM_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    rc = time_layer(l, x, s, y, runs, bf16);
    am_linear_free(l);
done:
    free(x);
    free(w);
    free(y);
    return rc;
}

/* Parses a positive integer option value in [1, max]; 0 when invalid. */
static long long parse_count(const char *text, long long max) {
    char *end;
    long long v = strtoll(text, &end, 10);
    return *text && !*end && v >= 1 && v <= max ? v : 0;
}

static void print_usage(void) {
    printf("usage: anomem bench gemm [--m M --n N --k K] [--threads T] [--runs R] [--json]\n\n"
           "Times y[M][N] = x[M][K] W^T through am_linear (no bias): float32 (OpenBLAS sgemm)\n"
           "and bf16 (oneDNN matmul, including the rounding of x to bf16).  Without a shape,\n"
           "runs CLIP ViT-B-16-plus-240's layer shapes over one crop (M = 2900 tokens) and\n"
           "4096^3.  Prints the median and best of R runs (default 5) after a warm-up.\n"
           "--threads sets the OpenMP and OpenBLAS thread counts (default: OpenMP's).\n");
}

int bench_gemm(int argc, char **argv) {
    shape one = {0, 0, 0};
    int threads = 0, runs = 5, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            print_usage();
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (i + 1 >= argc) return cli_usage("bench gemm", "option '%s' needs a value", a);
        const char *v = argv[++i];
        long long *dim = strcmp(a, "--m") == 0   ? &one.m
                         : strcmp(a, "--n") == 0 ? &one.n
                         : strcmp(a, "--k") == 0 ? &one.k
                                                 : NULL;
        if (dim) {
            if (!(*dim = parse_count(v, 1 << 16)))
                return cli_usage("bench gemm", "%s must be in 1..65536, not '%s'", a, v);
        } else if (strcmp(a, "--threads") == 0) {
            if (!(threads = (int)parse_count(v, 1024)))
                return cli_usage("bench gemm", "--threads must be in 1..1024, not '%s'", v);
        } else if (strcmp(a, "--runs") == 0) {
            if (!(runs = (int)parse_count(v, 1000)))
                return cli_usage("bench gemm", "--runs must be in 1..1000, not '%s'", v);
        } else {
            return cli_usage("bench gemm", "unknown option '%s'", a);
        }
    }
    int given = (one.m > 0) + (one.n > 0) + (one.k > 0);
    if (given != 0 && given != 3)
        return cli_usage("bench gemm", "give all of --m, --n and --k, or none");
    if (threads) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    threads = omp_get_max_threads();
    const shape *shapes = given ? &one : default_shapes;
    size_t count = given ? 1 : sizeof default_shapes / sizeof *default_shapes;

    if (json)
        printf("{\"threads\": %d, \"runs\": %d, \"results\": [", threads, runs);
    else
        printf("gemm through am_linear, %d threads, median (best) of %d runs\n"
               "%6s %6s %6s | %9s %9s %9s | %9s %9s %9s | %s\n",
               threads, runs, "M", "N", "K", "sgemm ms", "GFLOP/s", "(best)", "bf16 ms",
               "GFLOP/s", "(best)", "bf16 implementation");
    for (size_t i = 0; i < count; i++) {
        const shape *s = &shapes[i];
        timing f32, bf16;
        char impl[128];
        int rc = bench_shape(s, runs, &f32, &bf16, impl, sizeof impl);
        if (rc) {
            if (json) printf("]}\n");
            return rc;
        }
        double gflop = 2.0 * (double)s->m * (double)s->n * (double)s->k / 1e9;
        if (json)
            printf("%s\n  {\"m\": %lld, \"n\": %lld, \"k\": %lld, \"sgemm_ms\": %.3f, "
                   "\"sgemm_best_ms\": %.3f, \"sgemm_gflops\": %.1f, \"sgemm_best_gflops\": "
                   "%.1f, \"bf16_ms\": %.3f, \"bf16_best_ms\": %.3f, \"bf16_gflops\": %.1f, "
                   "\"bf16_best_gflops\": %.1f, \"bf16_impl\": \"%s\"}",
                   i ? "," : "", s->m, s->n, s->k, f32.median_ms, f32.best_ms,
                   gflop / f32.median_ms * 1e3, gflop / f32.best_ms * 1e3, bf16.median_ms,
                   bf16.best_ms, gflop / bf16.median_ms * 1e3, gflop / bf16.best_ms * 1e3, impl);
        else
            printf("%6lld %6lld %6lld | %9.2f %9.1f %9.1f | %9.2f %9.1f %9.1f | %s\n", s->m,
                   s->n, s->k, f32.median_ms, gflop / f32.median_ms * 1e3,
                   gflop / f32.best_ms * 1e3, bf16.median_ms, gflop / bf16.median_ms * 1e3,
                   gflop / bf16.best_ms * 1e3, impl);
        fflush(stdout);
    }
    if (json)
        printf("\n], \"peak_rss_mb\": %.1f}\n", bench_peak_rss_mb());
    else
        printf("peak RSS %.1f MiB\n", bench_peak_rss_mb());
    return 0;
}
