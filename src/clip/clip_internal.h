/* clip_internal.h - the am_clip object shared by the CLIP sources: the
 * prepared layers of both towers, where their weights live, and the scratch
 * buffers kept alive between calls. */
#ifndef AM_CLIP_INTERNAL_H
#define AM_CLIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "anomem.h"
#include "clip/bpe.h"
#include "nn/layers.h"
#include "nn/linear.h"

#define AM_CLIP_LN_EPS 1e-5f

/* One pre-norm residual block: x += Attn(LN1(x)); x += MLP(LN2(x)). */
typedef struct {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    am_linear *qkv;    /* in_proj: [3w][w], rows q, k, v */
    am_linear *q, *kv; /* the same split into [w][w] and [2w][w] (last block only) */
    am_linear *out;    /* out_proj [w][w] */
    am_linear *fc;     /* c_fc [hidden][w] */
    am_linear *proj;   /* c_proj [w][hidden] */
} clip_block;

typedef struct {
    int32_t width, layers, heads, hidden;
    clip_block *blocks; /* layers of them */
} clip_tower;

/* A float buffer that only grows. */
typedef struct {
    float *data;
    size_t capacity; /* in floats */
} clip_buf;

/* An int32 buffer that only grows. */
typedef struct {
    int32_t *data;
    size_t capacity;
} clip_ibuf;

struct am_clip {
    am_clip_info info;
    am_precision precision;
    int32_t threads;
    int quick_gelu; /* activation x * sigmoid(1.702 x) instead of the exact GELU */
    char identity[160];
    am_weights *weights; /* the state dict (loaded models); weights point into it */
    float *owned;        /* all weights of a random model */
    am_bpe *bpe;

    /* vision tower */
    am_linear *patch_embed; /* conv1 as [width][3 * patch * patch] */
    const float *class_embedding, *vision_pos, *ln_pre_w, *ln_pre_b, *ln_post_w, *ln_post_b;
    am_linear *vision_proj; /* x @ visual.proj */
    clip_tower vision;

    /* text tower */
    const float *token_embedding, *text_pos, *ln_final_w, *ln_final_b;
    am_linear *text_proj; /* x @ text_projection */
    clip_tower text;

    /* scratch, reused across calls */
    clip_buf x, n, a, b;                  /* per sequence row: residual, normed, attention, wide */
    clip_buf base_h, base_n, base_b;      /* per patch row (vision block 0) */
    clip_ibuf rows;                       /* row index lists */
    am_attn_seq *seqs;                    /* attention sequences */
    size_t seqs_capacity;

    double last_flops; /* multiply-adds x 2 of the last encode call */
};

/* A buffer of at least n floats (contents not kept when it grows). */
float *am_clip_buf(clip_buf *b, size_t n, am_error *err);
int32_t *am_clip_ibuf(clip_ibuf *b, size_t n, am_error *err);

/* Room for n attention sequences in clip->seqs. */
am_attn_seq *am_clip_seqs(am_clip *clip, size_t n, am_error *err);

/*
 * The blocks use clip->n, clip->a and clip->b as scratch, which the caller has
 * grown to rows x width (n, a) and rows x max(3 width, hidden) (b) floats, and
 * add their work to clip->last_flops.
 *
 * The residual add that ends a block (x += MLP output) is left pending: on
 * return clip->n holds the MLP output, and the next block (pending = 1) or the
 * caller's final norm adds it, fused with its LayerNorm (am_add_layernorm).
 *
 * am_clip_block_full runs block `b` of a tower over all rows of x [rows][w];
 * seqs describe the attention over rows of x (query, key/value and output
 * rows are rows of x).
 */
am_status am_clip_block_full(am_clip *clip, const clip_tower *tower, int32_t b, float *x,
                             int64_t rows, const am_attn_seq *seqs, int64_t n_seqs, int pending,
                             am_error *err);

/* The last block, computed only for the nq rows qrows[] of x whose output is
 * read: keys and values come from every row, queries only from those rows.
 * seqs name key/value rows of x and query/output rows 0..nq-1 of the compact
 * set.  *result (clip->a) receives the nq rows [nq][w], their residual add
 * (of clip->n) pending. */
am_status am_clip_block_last(am_clip *clip, const clip_tower *tower, int32_t b, float *x,
                             int64_t rows, const am_attn_seq *seqs, int64_t n_seqs,
                             const int32_t *qrows, int64_t nq, int pending, float **result,
                             am_error *err);

/* The MLP half of a block on `rows` rows of x: n = MLP(LN2(x)), its add to x
 * pending. */
am_status am_clip_block_mlp(am_clip *clip, const clip_tower *tower, int32_t b, float *x,
                            int64_t rows, am_error *err);

/* y = linear(x) over rows, counting its multiply-adds. */
am_status am_clip_linear(am_clip *clip, const am_linear *l, const float *x, int64_t ldx,
                         int64_t rows, float *y, int64_t ldy, am_error *err);

/* Work of the last encode call in floating-point operations (multiply-adds x 2
 * of linear layers and attention actually computed). */
double am_clip_last_flops(const am_clip *clip);

#endif
