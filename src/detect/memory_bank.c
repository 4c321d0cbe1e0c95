/* memory_bank.c - embedding banks: append, cap, and nearest-neighbour search
 * as blocked GEMMs with a row-wise maximum. */
#include "detect/memory_bank.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/linear.h"

/* Rows of the bank per GEMM block, and queries per call: bounds the scratch
 * to BLOCK_QUERIES x BANK_BLOCK floats (64 MiB). */
#define BANK_BLOCK 8192
#define BLOCK_QUERIES 2048

void am_normalise(float *v, int64_t dim) {
    double s = 0;
    for (int64_t i = 0; i < dim; i++) s += (double)v[i] * v[i];
    if (s <= 0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (int64_t i = 0; i < dim; i++) v[i] *= inv;
}

/* Grows the allocation to hold at least `need` rows, doubling up to at most
 * `most` rows; the bytes added are charged to `budget` when there is one. */
static am_status grow(am_bank *bank, int64_t need, int64_t most, am_bank_budget *budget,
                      am_error *err) {
    if (need <= bank->capacity_rows) return AM_OK;
    const int64_t row_bytes = bank->dim * (int64_t)sizeof(float);
    int64_t cap = bank->capacity_rows ? bank->capacity_rows : 1024;
    while (cap < need) cap *= 2;
    if (cap > most) cap = most;
    if (budget) {
        int64_t room = (budget->limit_bytes - budget->used_bytes) / row_bytes + bank->capacity_rows;
        if (cap > room) cap = room;
        if (cap < need)
            return am_error_set(err, AM_ERR_LIMIT,
                                "the memory banks need more than the memory budget of %lld MiB "
                                "(%lld embeddings in one part so far); lower memory_capacity, "
                                "subsample at random instead of by coreset, fit fewer images, or "
                                "raise memory_budget_mb (--memory-budget)",
                                (long long)(budget->limit_bytes >> 20),
                                (long long)bank->count);
    }
    float *grown = am_alloc((size_t)cap, (size_t)row_bytes, err);
    if (!grown) return AM_ERR_NOMEM;
    if (bank->count) memcpy(grown, bank->rows, (size_t)(bank->count * row_bytes));
    am_free(bank->rows);
    if (budget) budget->used_bytes += (cap - bank->capacity_rows) * row_bytes;
    bank->rows = grown;
    bank->capacity_rows = cap;
    return AM_OK;
}

static am_status check_dim(am_bank *bank, int64_t dim, am_error *err) {
    if (bank->dim == 0) bank->dim = dim;
    if (bank->dim != dim)
        return am_error_set(err, AM_ERR_ARGUMENT, "bank of %lld-d embeddings given %lld-d rows",
                            (long long)bank->dim, (long long)dim);
    return AM_OK;
}

am_status am_bank_append(am_bank *bank, const float *rows, int64_t n, int64_t dim, int normalise,
                         am_error *err) {
    if (n <= 0) return AM_OK;
    am_status st = check_dim(bank, dim, err);
    if (st == AM_OK) st = grow(bank, bank->count + n, INT64_MAX, NULL, err);
    if (st != AM_OK) return st;
    float *dst = bank->rows + bank->count * dim;
    memcpy(dst, rows, (size_t)(n * dim) * sizeof(float));
    if (normalise)
        for (int64_t i = 0; i < n; i++) am_normalise(dst + i * dim, dim);
    bank->count += n;
    return AM_OK;
}

void am_bank_start(am_bank *bank, uint64_t seed) {
    am_bank_free(bank);
    am_rng_seed(&bank->rng, seed);
}

am_status am_bank_offer(am_bank *bank, const float *rows, int64_t n, int64_t dim, int64_t keep,
                        am_bank_budget *budget, am_error *err) {
    if (n <= 0) return AM_OK;
    am_status st = check_dim(bank, dim, err);
    int64_t need = bank->count + n < keep ? bank->count + n : keep;
    if (st == AM_OK) st = grow(bank, need, keep, budget, err);
    if (st != AM_OK) return st;
    for (int64_t i = 0; i < n; i++, bank->seen++) {
        int64_t slot = bank->count;
        if (bank->count < keep) bank->count++;
        else if ((slot = (int64_t)am_rng_below(&bank->rng, (uint64_t)bank->seen + 1)) >= keep)
            continue;
        float *dst = bank->rows + slot * dim;
        memcpy(dst, rows + i * dim, (size_t)dim * sizeof(float));
        am_normalise(dst, dim);
    }
    return AM_OK;
}

void am_bank_free(am_bank *bank) {
    am_free(bank->rows);
    memset(bank, 0, sizeof *bank);
}

/* Keeps the rows whose flag is set, in order. */
static void compact(am_bank *bank, const uint8_t *keep) {
    int64_t out = 0;
    for (int64_t i = 0; i < bank->count; i++) {
        if (!keep[i]) continue;
        if (out != i)
            memmove(bank->rows + out * bank->dim, bank->rows + i * bank->dim,
                    (size_t)bank->dim * sizeof(float));
        out++;
    }
    bank->count = out;
}

am_status am_bank_subsample_random(am_bank *bank, int64_t keep, uint64_t seed, am_error *err) {
    if (bank->count <= keep) return AM_OK;
    int64_t *perm = am_alloc((size_t)bank->count, sizeof *perm, err);
    uint8_t *flags = am_calloc((size_t)bank->count, 1, err);
    if (!perm || !flags) {
        am_free(perm);
        am_free(flags);
        return AM_ERR_NOMEM;
    }
    am_rng rng;
    am_rng_seed(&rng, seed);
    for (int64_t i = 0; i < bank->count; i++) perm[i] = i;
    /* partial Fisher-Yates: the first `keep` entries become a uniform sample */
    for (int64_t i = 0; i < keep; i++) {
        int64_t j = i + (int64_t)am_rng_below(&rng, (uint64_t)(bank->count - i));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        flags[perm[i]] = 1;
    }
    compact(bank, flags);
    am_free(perm);
    am_free(flags);
    return AM_OK;
}

am_status am_bank_coreset_indices(const am_bank *bank, int64_t keep, uint64_t seed,
                                  int64_t *idx, am_error *err) {
    const int64_t n = bank->count, dim = bank->dim;
    if (keep > n) keep = n;
    if (keep <= 0) return AM_OK;
    int64_t pdim = dim < 128 ? dim : 128;
    float *proj = NULL, *mat = NULL, *mind = NULL;
    const float *points = bank->rows;
    am_rng rng;
    am_rng_seed(&rng, seed);
    if (pdim < dim) {
        mat = am_alloc((size_t)(pdim * dim), sizeof(float), err);
        proj = am_alloc((size_t)(n * pdim), sizeof(float), err);
        if (!mat || !proj) goto nomem;
        for (int64_t i = 0; i < pdim * dim; i++) mat[i] = am_rng_normal(&rng) / sqrtf((float)pdim);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)pdim,
                    (blasint)dim, 1.0f, bank->rows, (blasint)dim, mat, (blasint)dim, 0.0f, proj,
                    (blasint)pdim);
        points = proj;
    }
    mind = am_alloc((size_t)n, sizeof(float), err);
    if (!mind) goto nomem;
    for (int64_t i = 0; i < n; i++) mind[i] = INFINITY;
    int64_t current = (int64_t)am_rng_below(&rng, (uint64_t)n);
    for (int64_t k = 0; k < keep; k++) {
        idx[k] = current;
        const float *c = points + current * pdim;
        int64_t best = 0;
        float best_d = -1;
        for (int64_t i = 0; i < n; i++) {
            const float *p = points + i * pdim;
            float d = 0;
            for (int64_t j = 0; j < pdim; j++) d += (p[j] - c[j]) * (p[j] - c[j]);
            if (d < mind[i]) mind[i] = d;
            if (mind[i] > best_d) {
                best_d = mind[i];
                best = i;
            }
        }
        current = best;
    }
    am_free(mat);
    am_free(proj);
    am_free(mind);
    return AM_OK;
nomem:
    am_free(mat);
    am_free(proj);
    am_free(mind);
    return AM_ERR_NOMEM;
}

am_status am_bank_subsample_coreset(am_bank *bank, int64_t keep, uint64_t seed, am_error *err) {
    if (bank->count <= keep) return AM_OK;
    int64_t *idx = am_alloc((size_t)keep, sizeof *idx, err);
    uint8_t *flags = am_calloc((size_t)bank->count, 1, err);
    am_status st = idx && flags ? am_bank_coreset_indices(bank, keep, seed, idx, err) : AM_ERR_NOMEM;
    if (st == AM_OK) {
        for (int64_t k = 0; k < keep; k++) flags[idx[k]] = 1;
        compact(bank, flags);
    }
    am_free(idx);
    am_free(flags);
    return st;
}

struct am_bank_index {
    int64_t dim;
    int32_t n_blocks;
    am_linear **blocks;
    float *scratch;  /* BLOCK_QUERIES x (rows of the widest block) similarities */
    float *queries;  /* BLOCK_QUERIES x dim normalised queries */
};

am_status am_bank_index_create(const am_bank *bank, am_precision precision,
                               am_bank_index **out, am_error *err) {
    *out = NULL;
    am_bank_index *ix = calloc(1, sizeof *ix);
    if (!ix) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    ix->dim = bank->dim;
    ix->n_blocks = (int32_t)((bank->count + BANK_BLOCK - 1) / BANK_BLOCK);
    ix->blocks = calloc((size_t)ix->n_blocks + 1, sizeof *ix->blocks);
    if (!ix->blocks) goto nomem;
    for (int32_t b = 0; b < ix->n_blocks; b++) {
        int64_t first = (int64_t)b * BANK_BLOCK;
        int64_t rows = bank->count - first < BANK_BLOCK ? bank->count - first : BANK_BLOCK;
        am_status st = am_linear_create(bank->rows + first * bank->dim, NULL, rows, bank->dim,
                                        precision, &ix->blocks[b], err);
        if (st != AM_OK) {
            am_bank_index_free(ix);
            return st;
        }
    }
    if (ix->n_blocks) {
        int64_t widest = bank->count < BANK_BLOCK ? bank->count : BANK_BLOCK;
        ix->scratch = am_alloc((size_t)BLOCK_QUERIES * (size_t)widest, sizeof(float), err);
        ix->queries = am_alloc((size_t)BLOCK_QUERIES * (size_t)bank->dim, sizeof(float), err);
        if (!ix->scratch || !ix->queries) goto nomem;
    }
    *out = ix;
    return AM_OK;
nomem:
    am_bank_index_free(ix);
    return am_error_set(err, AM_ERR_NOMEM, "out of memory for the memory-bank index");
}

void am_bank_index_free(am_bank_index *ix) {
    if (!ix) return;
    for (int32_t b = 0; ix->blocks && b < ix->n_blocks; b++) am_linear_free(ix->blocks[b]);
    free(ix->blocks);
    am_free(ix->scratch);
    am_free(ix->queries);
    free(ix);
}

am_status am_bank_index_distance(am_bank_index *ix, const float *queries, int64_t n, float *dist,
                                 am_error *err) {
    if (ix->n_blocks == 0) {
        for (int64_t i = 0; i < n; i++) dist[i] = 0.0f;
        return AM_OK;
    }
    const int64_t dim = ix->dim;
    for (int64_t q0 = 0; q0 < n; q0 += BLOCK_QUERIES) {
        int64_t nq = n - q0 < BLOCK_QUERIES ? n - q0 : BLOCK_QUERIES;
        memcpy(ix->queries, queries + q0 * dim, (size_t)(nq * dim) * sizeof(float));
        float best[BLOCK_QUERIES];
        for (int64_t i = 0; i < nq; i++) {
            am_normalise(ix->queries + i * dim, dim);
            best[i] = -INFINITY;
        }
        for (int32_t b = 0; b < ix->n_blocks; b++) {
            int64_t rows = am_linear_out_features(ix->blocks[b]);
            am_status st = am_linear_forward(ix->blocks[b], ix->queries, dim, nq, ix->scratch,
                                             rows, err);
            if (st != AM_OK) return st;
            for (int64_t i = 0; i < nq; i++) {
                const float *s = ix->scratch + i * rows;
                float m = best[i];
                for (int64_t r = 0; r < rows; r++) m = s[r] > m ? s[r] : m;
                best[i] = m;
            }
        }
        for (int64_t i = 0; i < nq; i++) {
            float d = (1.0f - best[i]) * 0.5f;
            dist[q0 + i] = d < 0 ? 0 : d;
        }
    }
    return AM_OK;
}
