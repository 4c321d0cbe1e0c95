/* linear_bf16.c - the bf16 linear layer on oneDNN's matmul (C API).
 *
 * At create the weights are rounded to bf16 here (round to nearest even, the
 * same on every CPU) and reordered once by oneDNN into the blocked layout its
 * matmul prefers.  Each call rounds the rows of x to bf16 into a scratch
 * buffer and runs a matmul with bf16 inputs, f32 bias and f32 output.
 *
 * oneDNN's fast kernel (brg:avx512_core_bf16 in 2.6) needs every dimension
 * known when the primitive is made (with a runtime M it falls back to
 * gemm:jit) and a dense output, so a layer keeps a small cache of primitives,
 * one per row count, and writes through a dense scratch output when ldy != N.
 *
 * Without avx512_bf16 oneDNN emulates bf16 on avx512_core; where it has no
 * bf16 matmul at all (no avx512_core) the layer computes the same products
 * with sgemm over bf16-rounded float copies.
 *
 * No process-wide state: each layer owns its oneDNN engine and stream, its
 * scratch buffers and primitive cache, guarded by a per-layer mutex, so two
 * threads may use two layers (or even one) at once.  The GEMM runs on
 * oneDNN's OpenMP threads: never call create or forward inside an OpenMP
 * parallel region. */
#include "nn/linear_bf16.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

/* Row counts whose primitive a layer keeps (least recently used evicted). */
#define PLAN_CACHE_SIZE 8

/* Rows per matmul call: bounds each layer's scratch (rows rounded to bf16,
 * dense output, oneDNN's scratchpad) whatever the caller's row count, which
 * matters because every layer of a model keeps its own (SAM vit_h bf16 peak
 * 4.7 GB -> 2.4 GB; the GEMM rate is the same at 512 rows). */
#define MATMUL_ROWS 512

/* Row count of the primitive made at create to choose the weights layout. */
#define PROBE_ROWS 256

/* Element counts below which converting rows is not worth waking threads. */
#define PARALLEL_MIN 65536

/* One cached primitive for a given row count. */
typedef struct {
    int64_t rows; /* 0: empty slot */
    uint64_t last_use;
    dnnl_primitive_t primitive;
    dnnl_memory_t src, dst, scratchpad; /* handles set at each call */
} plan;

struct am_linear_bf16 {
    int64_t n, k; /* out_features, in_features */
    int has_bias;
    int emulated; /* oneDNN has no bf16 matmul on this CPU: sgemm path */
    char impl[64];

    /* oneDNN path */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_memory_desc_t weights_md; /* the layout the matmul chose */
    dnnl_memory_t weights, bias;

    /* emulated path: bf16-rounded weights as float, in the caller's layout */
    float *weights_f32, *bias_f32;
    int transposed;

    pthread_mutex_t lock; /* guards everything below */
    uint64_t clock;
    plan plans[PLAN_CACHE_SIZE];
    void *x_buf; /* rows of x rounded to bf16 (or to float in the emulated path) */
    size_t x_cap;
    float *y_buf; /* dense output when ldy != n */
    size_t y_cap;
    void *scratchpad_buf; /* oneDNN's scratchpad (user-managed) */
    size_t scratchpad_cap;
};

/* float -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : rounded);
}

/* f rounded to the nearest bf16, as a float. */
static inline float round_bf16(float f) {
    uint32_t u = (uint32_t)to_bf16(f) << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* Rounds rows x rows of cols floats (ld floats apart) into dense bf16. */
static void convert_rows_bf16(const float *x, int64_t ld, int64_t rows, int64_t cols,
                              uint16_t *out) {
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *src = x + r * ld;
        uint16_t *dst = out + r * cols;
        for (int64_t c = 0; c < cols; c++) dst[c] = to_bf16(src[c]);
    }
}

/* As convert_rows_bf16, keeping the rounded values as floats. */
static void round_rows_bf16(const float *x, int64_t ld, int64_t rows, int64_t cols, float *out) {
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *src = x + r * ld;
        float *dst = out + r * cols;
        for (int64_t c = 0; c < cols; c++) dst[c] = round_bf16(src[c]);
    }
}

/* Copies rows x cols floats between row strides. */
static void copy_rows(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                      int64_t ldd) {
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * ldd, src + r * lds, (size_t)cols * sizeof(float));
}

/* Makes *buf hold at least `need` bytes, keeping it when it already does
 * (buffers only grow, so steady-state calls allocate nothing). */
static am_status reserve(void **buf, size_t *cap, size_t need, am_error *err) {
    if (need <= *cap) return AM_OK;
    am_free(*buf);
    *cap = 0;
    *buf = am_alloc(need, 1, err);
    if (!*buf) return err ? err->code : AM_ERR_NOMEM;
    *cap = need;
    return AM_OK;
}

/* Sets err from a failed oneDNN call made while doing `what`. */
static am_status dnnl_fail(am_error *err, const am_linear_bf16 *l, dnnl_status_t st,
                           const char *what) {
    return am_error_set(err, st == dnnl_out_of_memory ? AM_ERR_NOMEM : AM_ERR_UNSUPPORTED,
                        "bf16 linear %lld -> %lld: oneDNN %s failed: %s", (long long)l->k,
                        (long long)l->n, what, dnnl_status2str(st));
}

/* The matmul primitive descriptor for `rows` rows: src [rows][k] bf16 dense,
 * weights [k][n] bf16 in *weights_md (format `any` to let oneDNN choose),
 * bias [1][n] f32, dst [rows][n] f32 dense, scratchpad managed by us. */
static dnnl_status_t make_pd(const am_linear_bf16 *l, int64_t rows,
                             const dnnl_memory_desc_t *weights_md, dnnl_primitive_desc_t *pd) {
    dnnl_memory_desc_t src_md, bias_md, dst_md;
    dnnl_dims_t src_dims = {rows, l->k}, bias_dims = {1, l->n}, dst_dims = {rows, l->n};
    dnnl_status_t st;
    *pd = NULL;
    if ((st = dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_bf16, dnnl_ab)) ||
        (st = dnnl_memory_desc_init_by_tag(&bias_md, 2, bias_dims, dnnl_f32, dnnl_ab)) ||
        (st = dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab)))
        return st;
    dnnl_matmul_desc_t desc;
    st = dnnl_matmul_desc_init(&desc, &src_md, weights_md, l->has_bias ? &bias_md : NULL, &dst_md);
    if (st) return st;
    dnnl_primitive_attr_t attr;
    if ((st = dnnl_primitive_attr_create(&attr))) return st;
    st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!st) st = dnnl_primitive_desc_create(pd, &desc, attr, l->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Chooses the weights layout with a probe primitive, then converts W to bf16
 * and has oneDNN reorder it into that layout once.  Returns
 * dnnl_unimplemented when this CPU has no bf16 matmul. */
static dnnl_status_t prepare_weights(am_linear_bf16 *l, const float *weight, int transposed,
                                     am_error *err, am_status *alloc_status) {
    dnnl_memory_desc_t any_md, plain_md;
    dnnl_dims_t dims = {l->k, l->n};
    dnnl_status_t st;
    *alloc_status = AM_OK;
    if ((st = dnnl_memory_desc_init_by_tag(&any_md, 2, dims, dnnl_bf16, dnnl_format_tag_any)))
        return st;
    dnnl_primitive_desc_t pd;
    if ((st = make_pd(l, PROBE_ROWS, &any_md, &pd))) return st;
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(l->impl, sizeof l->impl, "%s", impl);
    l->weights_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);

    /* W [n][k] is the matmul's [k][n] weights in column-major order (ba);
     * the transposed storage [k][n] is row-major (ab). */
    uint16_t *plain = am_alloc((size_t)(l->n * l->k), sizeof *plain, err);
    if (!plain) {
        *alloc_status = err ? err->code : AM_ERR_NOMEM;
        return dnnl_out_of_memory;
    }
    if (transposed)
        convert_rows_bf16(weight, l->n, l->k, l->n, plain);
    else
        convert_rows_bf16(weight, l->k, l->n, l->k, plain);
    dnnl_memory_t plain_mem = NULL;
    dnnl_primitive_desc_t reorder_pd = NULL;
    dnnl_primitive_t reorder = NULL;
    st = dnnl_memory_desc_init_by_tag(&plain_md, 2, dims, dnnl_bf16, transposed ? dnnl_ab : dnnl_ba);
    if (!st) st = dnnl_memory_create(&plain_mem, &plain_md, l->engine, plain);
    if (!st) st = dnnl_memory_create(&l->weights, &l->weights_md, l->engine, DNNL_MEMORY_ALLOCATE);
    if (!st)
        st = dnnl_reorder_primitive_desc_create(&reorder_pd, &plain_md, l->engine, &l->weights_md,
                                                l->engine, NULL);
    if (!st) st = dnnl_primitive_create(&reorder, reorder_pd);
    if (!st) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, plain_mem}, {DNNL_ARG_TO, l->weights}};
        st = dnnl_primitive_execute(reorder, l->stream, 2, args);
        if (!st) st = dnnl_stream_wait(l->stream);
    }
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(reorder_pd);
    dnnl_memory_destroy(plain_mem);
    am_free(plain);
    return st;
}

/* Fallback where oneDNN has no bf16 matmul: bf16-rounded float weights for
 * sgemm (the products of bf16 values are exact in float, so this computes
 * what the bf16 matmul computes, up to the order of the sums). */
static am_status prepare_emulated(am_linear_bf16 *l, const float *weight, int transposed,
                                  am_error *err) {
    l->emulated = 1;
    l->transposed = transposed;
    snprintf(l->impl, sizeof l->impl, "sgemm on bf16-rounded values (no oneDNN bf16 matmul)");
    l->weights_f32 = am_alloc((size_t)(l->n * l->k), sizeof(float), err);
    if (!l->weights_f32) return err ? err->code : AM_ERR_NOMEM;
    if (transposed)
        round_rows_bf16(weight, l->n, l->k, l->n, l->weights_f32);
    else
        round_rows_bf16(weight, l->k, l->n, l->k, l->weights_f32);
    return AM_OK;
}

am_status am_linear_bf16_create(const float *weight, int transposed, const float *bias,
                                int64_t out_features, int64_t in_features, am_linear_bf16 **out,
                                am_error *err) {
    *out = NULL;
    if (out_features <= 0 || in_features <= 0 || !weight)
        return am_error_set(err, AM_ERR_ARGUMENT, "bf16 linear layer of %lld x %lld",
                            (long long)out_features, (long long)in_features);
    if (out_features > (int64_t)(AM_ALLOC_LIMIT / sizeof(float)) / in_features)
        return am_error_set(err, AM_ERR_LIMIT, "bf16 linear layer of %lld x %lld is too large",
                            (long long)out_features, (long long)in_features);
    am_linear_bf16 *l = am_calloc(1, sizeof *l, err);
    if (!l) return err ? err->code : AM_ERR_NOMEM;
    l->n = out_features;
    l->k = in_features;
    l->has_bias = bias != NULL;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        am_free(l);
        return am_error_set(err, AM_ERR_NOMEM, "bf16 linear: cannot create a mutex");
    }
    am_status result = AM_OK;
    dnnl_status_t st = dnnl_engine_create(&l->engine, dnnl_cpu, 0);
    if (!st) st = dnnl_stream_create(&l->stream, l->engine, dnnl_stream_default_flags);
    if (!st) {
        am_status alloc_status;
        st = prepare_weights(l, weight, transposed, err, &alloc_status);
        if (alloc_status != AM_OK) result = alloc_status;
    }
    if (result == AM_OK && st == dnnl_unimplemented) {
        dnnl_memory_destroy(l->weights);
        l->weights = NULL;
        result = prepare_emulated(l, weight, transposed, err);
    } else if (result == AM_OK && st != dnnl_success) {
        result = dnnl_fail(err, l, st, "weights preparation");
    }
    if (result == AM_OK && bias) {
        if (l->emulated) {
            l->bias_f32 = am_alloc((size_t)l->n, sizeof(float), err);
            if (!l->bias_f32)
                result = err ? err->code : AM_ERR_NOMEM;
            else
                memcpy(l->bias_f32, bias, (size_t)l->n * sizeof(float));
        } else {
            dnnl_memory_desc_t bias_md;
            dnnl_dims_t bias_dims = {1, l->n};
            void *data = NULL;
            st = dnnl_memory_desc_init_by_tag(&bias_md, 2, bias_dims, dnnl_f32, dnnl_ab);
            if (!st) st = dnnl_memory_create(&l->bias, &bias_md, l->engine, DNNL_MEMORY_ALLOCATE);
            if (!st) st = dnnl_memory_get_data_handle(l->bias, &data);
            if (st)
                result = dnnl_fail(err, l, st, "bias preparation");
            else
                memcpy(data, bias, (size_t)l->n * sizeof(float));
        }
    }
    if (result != AM_OK) {
        am_linear_bf16_free(l);
        return result;
    }
    *out = l;
    return AM_OK;
}

/* Releases a cached primitive and its memory objects. */
static void plan_clear(plan *p) {
    dnnl_primitive_destroy(p->primitive);
    dnnl_memory_destroy(p->src);
    dnnl_memory_destroy(p->dst);
    dnnl_memory_destroy(p->scratchpad);
    memset(p, 0, sizeof *p);
}

void am_linear_bf16_free(am_linear_bf16 *l) {
    if (!l) return;
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) plan_clear(&l->plans[i]);
    dnnl_memory_destroy(l->weights);
    dnnl_memory_destroy(l->bias);
    dnnl_stream_destroy(l->stream);
    dnnl_engine_destroy(l->engine);
    am_free(l->weights_f32);
    am_free(l->bias_f32);
    am_free(l->x_buf);
    am_free(l->y_buf);
    am_free(l->scratchpad_buf);
    pthread_mutex_destroy(&l->lock);
    am_free(l);
}

const char *am_linear_bf16_impl_name(const am_linear_bf16 *l) {
    return l->impl;
}

/* The cached primitive for `rows` rows, made (evicting the least recently
 * used) when missing.  The caller holds l->lock. */
static am_status get_plan(am_linear_bf16 *l, int64_t rows, plan **out, am_error *err) {
    plan *slot = &l->plans[0];
    l->clock++;
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        plan *p = &l->plans[i];
        if (p->rows == rows) {
            p->last_use = l->clock;
            *out = p;
            return AM_OK;
        }
        if (p->last_use < slot->last_use) slot = p;
    }
    plan_clear(slot);
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = make_pd(l, rows, &l->weights_md, &pd);
    if (st) return dnnl_fail(err, l, st, "matmul creation");
    st = dnnl_primitive_create(&slot->primitive, pd);
    if (!st)
        st = dnnl_memory_create(&slot->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                l->engine, DNNL_MEMORY_NONE);
    if (!st)
        st = dnnl_memory_create(&slot->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                l->engine, DNNL_MEMORY_NONE);
    const dnnl_memory_desc_t *scratch_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (!st && scratch_md && dnnl_memory_desc_get_size(scratch_md) > 0)
        st = dnnl_memory_create(&slot->scratchpad, scratch_md, l->engine, DNNL_MEMORY_NONE);
    dnnl_primitive_desc_destroy(pd);
    if (st) {
        plan_clear(slot);
        return dnnl_fail(err, l, st, "matmul creation");
    }
    slot->rows = rows;
    slot->last_use = l->clock;
    *out = slot;
    return AM_OK;
}

/* The oneDNN path of forward; the caller holds l->lock. */
static am_status forward_onednn(am_linear_bf16 *l, const float *x, int64_t ldx, int64_t rows,
                                float *y, int64_t ldy, am_error *err) {
    plan *p = NULL;
    am_status s = get_plan(l, rows, &p, err);
    if (s != AM_OK) return s;
    s = reserve(&l->x_buf, &l->x_cap, (size_t)(rows * l->k) * sizeof(uint16_t), err);
    if (s != AM_OK) return s;
    float *dst = y;
    if (ldy != l->n) {
        s = reserve((void **)&l->y_buf, &l->y_cap, (size_t)(rows * l->n) * sizeof(float), err);
        if (s != AM_OK) return s;
        dst = l->y_buf;
    }
    size_t scratch_bytes = 0;
    if (p->scratchpad) {
        const dnnl_memory_desc_t *md;
        dnnl_memory_get_memory_desc(p->scratchpad, &md);
        scratch_bytes = dnnl_memory_desc_get_size(md);
        s = reserve(&l->scratchpad_buf, &l->scratchpad_cap, scratch_bytes, err);
        if (s != AM_OK) return s;
    }
    convert_rows_bf16(x, ldx, rows, l->k, l->x_buf);

    dnnl_exec_arg_t args[5];
    int nargs = 0;
    dnnl_status_t st = dnnl_memory_set_data_handle(p->src, l->x_buf);
    if (!st) st = dnnl_memory_set_data_handle(p->dst, dst);
    if (!st && p->scratchpad) st = dnnl_memory_set_data_handle(p->scratchpad, l->scratchpad_buf);
    if (st) return dnnl_fail(err, l, st, "memory binding");
    args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->src};
    args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, l->weights};
    args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->dst};
    if (l->bias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, l->bias};
    if (p->scratchpad) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratchpad};
    st = dnnl_primitive_execute(p->primitive, l->stream, nargs, args);
    if (!st) st = dnnl_stream_wait(l->stream);
    if (st) return dnnl_fail(err, l, st, "matmul");
    if (dst != y) copy_rows(dst, l->n, rows, l->n, y, ldy);
    return AM_OK;
}

/* The emulated path of forward; the caller holds l->lock. */
static am_status forward_emulated(am_linear_bf16 *l, const float *x, int64_t ldx, int64_t rows,
                                  float *y, int64_t ldy, am_error *err) {
    am_status s = reserve(&l->x_buf, &l->x_cap, (size_t)(rows * l->k) * sizeof(float), err);
    if (s != AM_OK) return s;
    float *xr = l->x_buf;
    round_rows_bf16(x, ldx, rows, l->k, xr);
    float beta = 0.0f;
    if (l->bias_f32) {
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + r * ldy, l->bias_f32, (size_t)l->n * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, l->transposed ? CblasNoTrans : CblasTrans,
                (blasint)rows, (blasint)l->n, (blasint)l->k, 1.0f, xr, (blasint)l->k,
                l->weights_f32, (blasint)(l->transposed ? l->n : l->k), beta, y, (blasint)ldy);
    return AM_OK;
}

am_status am_linear_bf16_forward(const am_linear_bf16 *layer, const float *x, int64_t ldx,
                                 int64_t rows, float *y, int64_t ldy, am_error *err) {
    /* The layer is logically const: forward only touches its caches and
     * scratch buffers, under the lock. */
    am_linear_bf16 *l = (am_linear_bf16 *)layer;
    if (rows == 0) return AM_OK;
    if (rows < 0 || ldx < l->k || ldy < l->n)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "bf16 linear %lld -> %lld: %lld rows, ldx %lld, ldy %lld",
                            (long long)l->k, (long long)l->n, (long long)rows, (long long)ldx,
                            (long long)ldy);
    if (rows > (int64_t)(AM_ALLOC_LIMIT / sizeof(float)) / (l->k > l->n ? l->k : l->n))
        return am_error_set(err, AM_ERR_LIMIT, "bf16 linear: %lld rows is too many",
                            (long long)rows);
    pthread_mutex_lock(&l->lock);
    am_status s = AM_OK;
    for (int64_t r0 = 0; s == AM_OK && r0 < rows; r0 += MATMUL_ROWS) {
        const int64_t n = rows - r0 < MATMUL_ROWS ? rows - r0 : MATMUL_ROWS;
        s = l->emulated ? forward_emulated(l, x + r0 * ldx, ldx, n, y + r0 * ldy, ldy, err)
                        : forward_onednn(l, x + r0 * ldx, ldx, n, y + r0 * ldy, ldy, err);
    }
    pthread_mutex_unlock(&l->lock);
    return s;
}
