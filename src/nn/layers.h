/* layers.h - the transformer building blocks other than GEMMs, on row-major
 * float32 matrices: LayerNorm (alone or fused with a residual add), exact
 * (erf) GELU, a vectorisable exp, softmax, and a direct multi-head attention
 * kernel for many sequences at once.  Each takes a thread count and runs its rows in an OpenMP
 * loop of that many threads (0: OpenMP's default); none calls BLAS, so none
 * may be called from inside an OpenMP parallel region of the caller. */
#ifndef AM_NN_LAYERS_H
#define AM_NN_LAYERS_H

#include <stdint.h>

#include "anomem.h"

/* y[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta over `dim` values, for
 * r < rows; rows of x are ldx floats apart, of y ldy.  y may equal x. */
void am_layernorm(const float *x, int64_t ldx, int64_t rows, int64_t dim, const float *gamma,
                  const float *beta, float eps, float *y, int64_t ldy, int32_t threads);

/* x[r] += y[r], then out[r] = LayerNorm(x[r]), in one pass over each row (a
 * residual add fused with the next norm); out may equal y. */
void am_add_layernorm(float *x, int64_t ldx, const float *y, int64_t ldy, int64_t rows,
                      int64_t dim, const float *gamma, const float *beta, float eps, float *out,
                      int64_t ldo, int32_t threads);

/* erf(x) to about 1 ulp (|error| < 1e-7), vectorisable. */
float am_erf(float x);

/* x = x * 0.5 * (1 + erf(x / sqrt(2))) on n contiguous values (torch's exact GELU). */
void am_gelu_erf(float *x, int64_t n, int32_t threads);

/* x = x * sigmoid(1.702 x) on n contiguous values (OpenAI CLIP's QuickGELU). */
void am_gelu_quick(float *x, int64_t n, int32_t threads);

/* e^x on n contiguous values in place, relative error < 2e-7 (inputs below -87
 * give about 1e-38 instead of less). */
void am_exp_inplace(float *x, int64_t n);

/* Softmax of each of `rows` rows of n values (rows ld floats apart), in place. */
void am_softmax_rows(float *x, int64_t ld, int64_t rows, int64_t n, int32_t threads);

/*
 * Multi-head scaled dot-product attention over many independent sequences.
 *
 * Head h of row r of a matrix is the head_dim values starting at column
 * h * head_dim (so q, k, v may point into one packed QKV matrix at column
 * offsets 0, width, 2*width).  Each sequence names its query rows and its
 * key/value rows either as a contiguous run (first row) or by an index list,
 * and writes n_q output rows starting at out_row.  For every head:
 *   scores[j][t] = (q_j * scale) . k_t  for the keys query j sees;
 *   the hook (if any) may edit them;     p = softmax(scores[j]);
 *   out_j = sum_t p_t v_t.
 */
typedef struct {
    int64_t q_row;          /* first query row, when q_index is NULL */
    const int32_t *q_index; /* else the n_q query rows */
    int64_t kv_row;         /* first key/value row, when kv_index is NULL */
    const int32_t *kv_index; /* else the n_kv key/value rows */
    int64_t out_row;        /* outputs go to rows out_row .. out_row + n_q - 1 */
    int32_t n_q, n_kv;
    int32_t causal; /* nonzero: the queries are the last n_q positions of the sequence and
                       query j sees keys 0 .. n_kv - n_q + j only */
} am_attn_seq;

/* Called for query j of head `head` of sequence `seq` with the scaled scores
 * of its n_visible keys (all n_kv unless causal), before the softmax (e.g. to
 * add relative position terms). */
typedef void (*am_attn_score_hook)(void *ctx, int64_t seq, int32_t head, int32_t query,
                                   float *scores, int32_t n_visible);

typedef struct {
    const float *q, *k, *v;
    int64_t ldq, ldk, ldv;
    float *out;
    int64_t ldo;
    int32_t heads, head_dim;
    float scale; /* usually 1 / sqrt(head_dim) */
    am_attn_score_hook hook;
    void *hook_ctx;
} am_attn_desc;

/* Runs every (sequence, head) pair in one OpenMP loop with per-thread scratch.
 * The result of each pair does not depend on the thread count.  Fails only
 * when the scratch cannot be allocated or an argument is out of range. */
am_status am_attention(const am_attn_desc *desc, const am_attn_seq *seqs, int64_t n_seqs,
                       int32_t threads, am_error *err);

/* Multiply-adds of am_attention for these sequences (scores and weighted sum). */
int64_t am_attention_macs(const am_attn_seq *seqs, int64_t n_seqs, int32_t heads,
                          int32_t head_dim);

#endif
