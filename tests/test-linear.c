/* test-linear.c - the GEMM backend (am_linear): float32 (OpenBLAS) and bf16
 * (oneDNN) against a naive double reference, over odd shapes, strided rows,
 * both weight storages, with and without bias; the bf16 fallbacks of CPUs
 * without avx512_bf16; the per-row-count primitive cache; threads.
 *
 * Tolerances, per output element, scaled by s = sum_k |x_k w_k| + |b| (the
 * natural scale of a dot product's rounding error, which cancellation does
 * not shrink):
 *   f32:  |y - ref| <= 1e-5 s  (float32 sums of K <= 896 terms: about
 *         sqrt(K) 2^-24 s ~ 2e-6 s in practice).
 *   bf16, against the reference of the bf16-ROUNDED inputs (rounded here by
 *         an independent implementation): |y - ref~| <= 1e-5 s.  Products of
 *         bf16 values are exact in float32, so only the float32 sums differ;
 *         this catches a wrong rounding (truncation errs by up to 2^-8 per
 *         factor), a wrong layout or a wrong stride.
 *   bf16, against the float32 reference: |y - ref| <= (2^-7 + 2^-16 + 1e-5) s,
 *         the rigorous bound of rounding both factors to 8 significant bits
 *         (|x~ w~ - x w| <= (2u + u^2)|x w| with unit roundoff u = 2^-8),
 *         plus the float32 sums. */
#include <fenv.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/rng.h"
#include "nn/linear.h"
#include "nn/linear_bf16.h"

#define SENTINEL 12345.0f

/* A problem: x [m][k], W [n][k] (and W^T [k][n]), b [n], and the double
 * references without bias: exact inputs, bf16-rounded inputs, and scales. */
typedef struct {
    int64_t m, k, n;
    float *x, *w, *wt, *b;
    double *ref, *ref_bf16, *scale;
} problem;

/* f rounded to 8 significant bits, ties to even, in double arithmetic (an
 * implementation independent of the library's bit manipulation). */
static float bf16_reference(float f) {
    if (f == 0.0f || !isfinite(f)) return f;
    int e;
    frexp(f, &e);                      /* f = m 2^e, 0.5 <= |m| < 1 */
    double ulp = ldexp(1.0, e - 8);    /* 8 significant bits */
    return (float)(nearbyint(f / ulp) * ulp); /* default mode: nearest, ties to even */
}

static void problem_init(problem *p, int64_t m, int64_t k, int64_t n, uint64_t seed) {
    am_rng rng;
    am_rng_seed(&rng, seed);
    p->m = m, p->k = k, p->n = n;
    p->x = malloc(sizeof(float) * m * k);
    p->w = malloc(sizeof(float) * n * k);
    p->wt = malloc(sizeof(float) * n * k);
    p->b = malloc(sizeof(float) * n);
    p->ref = malloc(sizeof(double) * m * n);
    p->ref_bf16 = malloc(sizeof(double) * m * n);
    p->scale = malloc(sizeof(double) * m * n);
    for (int64_t i = 0; i < m * k; i++) p->x[i] = am_rng_normal(&rng);
    for (int64_t i = 0; i < n * k; i++) p->w[i] = 0.05f * am_rng_normal(&rng);
    for (int64_t i = 0; i < n; i++) p->b[i] = am_rng_normal(&rng);
    for (int64_t o = 0; o < n; o++)
        for (int64_t i = 0; i < k; i++) p->wt[i * n + o] = p->w[o * k + i];
    float *xr = malloc(sizeof(float) * m * k), *wr = malloc(sizeof(float) * n * k);
    for (int64_t i = 0; i < m * k; i++) xr[i] = bf16_reference(p->x[i]);
    for (int64_t i = 0; i < n * k; i++) wr[i] = bf16_reference(p->w[i]);
    for (int64_t r = 0; r < m; r++)
        for (int64_t o = 0; o < n; o++) {
            double s = 0, sr = 0, a = 0;
            for (int64_t i = 0; i < k; i++) {
                double xw = (double)p->x[r * k + i] * p->w[o * k + i];
                s += xw;
                a += fabs(xw);
                sr += (double)xr[r * k + i] * wr[o * k + i];
            }
            p->ref[r * n + o] = s;
            p->ref_bf16[r * n + o] = sr;
            p->scale[r * n + o] = a;
        }
    free(xr);
    free(wr);
}

static void problem_free(problem *p) {
    free(p->x), free(p->w), free(p->wt), free(p->b);
    free(p->ref), free(p->ref_bf16), free(p->scale);
}

/* Largest |y - ref| / (tol * scale) over rows < rows (<= 1 passes); NaN or a
 * changed gap column (ldy > n) counts as a failure. */
static double worst_ratio(const problem *p, const float *y, int64_t ldy, int64_t rows,
                          const double *ref, int with_bias, double tol) {
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t o = 0; o < p->n; o++) {
            double b = with_bias ? p->b[o] : 0.0;
            double want = ref[r * p->n + o] + b;
            double bound = tol * (p->scale[r * p->n + o] + fabs(b)) + 1e-30;
            double ratio = fabs(y[r * ldy + o] - want) / bound;
            if (!(ratio <= worst)) worst = isnan(ratio) ? INFINITY : ratio;
        }
        for (int64_t o = p->n; o < ldy; o++)
            if (y[r * ldy + o] != SENTINEL) worst = INFINITY;
    }
    return worst;
}

/* Runs one variant of p through am_linear and checks it; returns failures. */
static void check_variant(const problem *p, am_precision prec, int transposed, int with_bias,
                          int strided) {
    am_error err = {0};
    int64_t ldx = strided ? p->k + 3 : p->k, ldy = strided ? p->n + 5 : p->n;
    float *x = malloc(sizeof(float) * p->m * ldx), *y = malloc(sizeof(float) * p->m * ldy);
    for (int64_t i = 0; i < p->m * ldx; i++) x[i] = -SENTINEL;
    for (int64_t i = 0; i < p->m * ldy; i++) y[i] = SENTINEL;
    for (int64_t r = 0; r < p->m; r++)
        memcpy(x + r * ldx, p->x + r * p->k, sizeof(float) * p->k);
    const float *b = with_bias ? p->b : NULL;
    am_linear *l = NULL;
    if (transposed)
        CHECK_OK(am_linear_create_transposed(p->wt, b, p->n, p->k, prec, &l, &err));
    else
        CHECK_OK(am_linear_create(p->w, b, p->n, p->k, prec, &l, &err));
    if (l) {
        CHECK_OK(am_linear_forward(l, x, ldx, p->m, y, ldy, &err));
        char what[128];
        snprintf(what, sizeof what, "%s M=%lld K=%lld N=%lld%s%s%s",
                 prec == AM_PRECISION_F32 ? "f32" : "bf16", (long long)p->m, (long long)p->k,
                 (long long)p->n, transposed ? " transposed" : "", with_bias ? " bias" : "",
                 strided ? " strided" : "");
        if (prec == AM_PRECISION_F32) {
            double r = worst_ratio(p, y, ldy, p->m, p->ref, with_bias, 1e-5);
            CHECK(r <= 1.0, "%s: error %.3g of the 1e-5 bound", what, r);
        } else {
            double r1 = worst_ratio(p, y, ldy, p->m, p->ref_bf16, with_bias, 1e-5);
            double r2 =
                worst_ratio(p, y, ldy, p->m, p->ref, with_bias, 1.0 / 128 + 1.0 / 65536 + 1e-5);
            CHECK(r1 <= 1.0, "%s: error %.3g of the 1e-5 bound vs bf16 inputs", what, r1);
            CHECK(r2 <= 1.0, "%s: error %.3g of the 2^-7 bound vs f32", what, r2);
        }
        am_linear_free(l);
    }
    free(x);
    free(y);
}

/* All 16 variants (precision, storage, bias, strides) of one shape. */
static void check_shape(int64_t m, int64_t k, int64_t n) {
    problem p;
    problem_init(&p, m, k, n, (uint64_t)(m * 1000003 + k * 1009 + n));
    for (int v = 0; v < 16; v++)
        check_variant(&p, v & 1 ? AM_PRECISION_BF16 : AM_PRECISION_F32, (v >> 1) & 1,
                      (v >> 2) & 1, (v >> 3) & 1);
    problem_free(&p);
}

/* In a child process (so the parent's oneDNN is untouched), caps oneDNN's
 * ISA as a CPU without avx512_bf16 (avx512_core: oneDNN emulates bf16) or
 * without avx512 (avx2: no oneDNN bf16 matmul, our sgemm fallback) would,
 * and checks the bf16 layers still give the right numbers.  Must run before
 * the parent starts any OpenMP or oneDNN work. */
static void check_isa_fallback(dnnl_cpu_isa_t isa, const char *name, const problem *probs,
                               int nprobs) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (dnnl_set_max_cpu_isa(isa) != dnnl_success) _exit(100);
        int failed_before = check_failed;
        am_error err = {0};
        am_linear_bf16 *l = NULL;
        CHECK_OK(am_linear_bf16_create(probs[0].w, 0, NULL, probs[0].n, probs[0].k, &l, &err));
        if (l) {
            printf("  max ISA %s: bf16 implementation %s\n", name, am_linear_bf16_impl_name(l));
            CHECK(strstr(am_linear_bf16_impl_name(l), "avx512_core_bf16") == NULL,
                  "ISA cap %s ignored", name);
            am_linear_bf16_free(l);
        }
        for (int i = 0; i < nprobs; i++)
            for (int v = 0; v < 8; v++)
                check_variant(&probs[i], AM_PRECISION_BF16, v & 1, (v >> 1) & 1, (v >> 2) & 1);
        fflush(NULL);
        _exit(check_failed - failed_before > 99 ? 99 : check_failed - failed_before);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait for ISA %s", name);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "bf16 with oneDNN capped at %s: child status %d", name, status);
}

/* One layer called with row counts 1..12 and back (more counts than the
 * primitive cache holds), each checked. */
static void check_row_counts(void) {
    problem p;
    problem_init(&p, 12, 17, 5, 7);
    am_error err = {0};
    am_linear *l = NULL;
    CHECK_OK(am_linear_create(p.w, p.b, p.n, p.k, AM_PRECISION_BF16, &l, &err));
    if (!l) return;
    float y[12 * 5];
    double worst = 0;
    for (int pass = 0; pass < 24; pass++) {
        int64_t rows = pass < 12 ? pass + 1 : 24 - pass;
        for (int i = 0; i < 12 * 5; i++) y[i] = SENTINEL;
        CHECK_OK(am_linear_forward(l, p.x, p.k, rows, y, p.n, &err));
        double r = worst_ratio(&p, y, p.n, rows, p.ref_bf16, 1, 1e-5);
        if (r > worst) worst = r;
        for (int64_t i = rows * p.n; i < 12 * 5; i++)
            if (y[i] != SENTINEL) worst = INFINITY;
    }
    CHECK(worst <= 1.0, "row counts 1..12..1: error %.3g of the bound", worst);
    CHECK_OK(am_linear_forward(l, p.x, p.k, 0, y, p.n, &err));
    am_linear_free(l);
    problem_free(&p);
}

/* Same inputs, same bytes: twice on one layer, and on a second layer. */
static void check_deterministic(void) {
    problem p;
    problem_init(&p, 300, 896, 64, 11);
    am_error err = {0};
    size_t bytes = sizeof(float) * 300 * 64;
    float *y1 = malloc(bytes), *y2 = malloc(bytes), *y3 = malloc(bytes);
    am_linear *a = NULL, *b = NULL;
    CHECK_OK(am_linear_create(p.w, p.b, p.n, p.k, AM_PRECISION_BF16, &a, &err));
    CHECK_OK(am_linear_create(p.w, p.b, p.n, p.k, AM_PRECISION_BF16, &b, &err));
    if (a && b) {
        CHECK_OK(am_linear_forward(a, p.x, p.k, 300, y1, 64, &err));
        CHECK_OK(am_linear_forward(a, p.x, p.k, 300, y2, 64, &err));
        CHECK_OK(am_linear_forward(b, p.x, p.k, 300, y3, 64, &err));
        CHECK(memcmp(y1, y2, bytes) == 0, "bf16 layer not deterministic across calls");
        CHECK(memcmp(y1, y3, bytes) == 0, "bf16 layers of the same weights differ");
    }
    am_linear_free(a);
    am_linear_free(b);
    free(y1), free(y2), free(y3);
    problem_free(&p);
}

typedef struct {
    const am_linear *layer;
    const problem *p;
    const float *expect;
    int mismatches, errors;
} thread_job;

/* Runs a layer 8 times, comparing with the single-threaded result. */
static void *thread_main(void *arg) {
    thread_job *j = arg;
    size_t bytes = sizeof(float) * j->p->m * j->p->n;
    float *y = malloc(bytes);
    for (int i = 0; i < 8; i++) {
        am_error err = {0};
        if (am_linear_forward(j->layer, j->p->x, j->p->k, j->p->m, y, j->p->n, &err) != AM_OK)
            j->errors++;
        else if (memcmp(y, j->expect, bytes) != 0)
            j->mismatches++;
    }
    free(y);
    return NULL;
}

/* Two threads on two layers of different shapes, then two threads on one
 * layer: results equal the single-threaded ones. */
static void check_threads(void) {
    problem p[2];
    problem_init(&p[0], 100, 896, 128, 21);
    problem_init(&p[1], 37, 200, 300, 22);
    am_error err = {0};
    am_linear *l[2] = {NULL, NULL};
    float *expect[2];
    for (int i = 0; i < 2; i++) {
        CHECK_OK(am_linear_create(p[i].w, p[i].b, p[i].n, p[i].k, AM_PRECISION_BF16, &l[i], &err));
        expect[i] = malloc(sizeof(float) * p[i].m * p[i].n);
        if (l[i]) CHECK_OK(am_linear_forward(l[i], p[i].x, p[i].k, p[i].m, expect[i], p[i].n, &err));
    }
    if (l[0] && l[1]) {
        for (int shared = 0; shared < 2; shared++) {
            thread_job jobs[2];
            pthread_t t[2];
            for (int i = 0; i < 2; i++) {
                int which = shared ? 0 : i;
                jobs[i] = (thread_job){l[which], &p[which], expect[which], 0, 0};
                CHECK(pthread_create(&t[i], NULL, thread_main, &jobs[i]) == 0, "pthread_create");
            }
            for (int i = 0; i < 2; i++) {
                pthread_join(t[i], NULL);
                CHECK(jobs[i].errors == 0 && jobs[i].mismatches == 0,
                      "%s layer, thread %d: %d errors, %d mismatches",
                      shared ? "shared" : "own", i, jobs[i].errors, jobs[i].mismatches);
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        am_linear_free(l[i]);
        free(expect[i]);
        problem_free(&p[i]);
    }
}

/* Bad arguments are refused with AM_ERR_ARGUMENT, not a crash. */
static void check_arguments(void) {
    float w[6] = {1, 2, 3, 4, 5, 6}, x[3] = {1, 1, 1}, y[2];
    am_error err = {0};
    am_linear *l = NULL;
    CHECK(am_linear_create(w, NULL, 0, 3, AM_PRECISION_BF16, &l, &err) == AM_ERR_ARGUMENT,
          "zero outputs accepted");
    CHECK(l == NULL, "layer returned on error");
    CHECK_OK(am_linear_create(w, NULL, 2, 3, AM_PRECISION_BF16, &l, &err));
    if (!l) return;
    CHECK(am_linear_forward(l, x, 2, 1, y, 2, &err) == AM_ERR_ARGUMENT, "ldx < K accepted");
    CHECK(am_linear_forward(l, x, 3, 1, y, 1, &err) == AM_ERR_ARGUMENT, "ldy < N accepted");
    CHECK_OK(am_linear_forward(l, x, 3, 1, y, 2, &err));
    CHECK(y[0] == 6.0f && y[1] == 15.0f, "2x3 layer: %g %g", y[0], y[1]);
    am_linear_free(l);
}

int main(void) {
    /* The ISA-capped children first, while this process has no threads. */
    problem fb[2];
    problem_init(&fb[0], 7, 896, 2688, 31);
    problem_init(&fb[1], 300, 17, 5, 32);
    check_isa_fallback(dnnl_cpu_isa_avx512_core, "avx512_core", fb, 2);
    check_isa_fallback(dnnl_cpu_isa_avx2, "avx2", fb, 2);
    problem_free(&fb[0]);
    problem_free(&fb[1]);

    am_error err = {0};
    am_linear_bf16 *probe = NULL;
    float w[4] = {1, 2, 3, 4};
    CHECK_OK(am_linear_bf16_create(w, 0, NULL, 2, 2, &probe, &err));
    if (probe) {
        const char *impl = am_linear_bf16_impl_name(probe);
        printf("  bf16 implementation: %s\n", impl);
        if (__builtin_cpu_supports("avx512bf16"))
            CHECK(strcmp(impl, "brg:avx512_core_bf16") == 0,
                  "CPU has avx512_bf16 but oneDNN chose %s", impl);
        am_linear_bf16_free(probe);
    }

    static const int64_t ms[] = {1, 7, 300}, ks[] = {17, 896}, ns[] = {5, 2688};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++) check_shape(ms[a], ks[b], ns[c]);
    check_row_counts();
    check_deterministic();
    check_threads();
    check_arguments();
    return check_summary();
}
