/* clip_block.c - the pre-norm transformer block shared by CLIP's vision and
 * text towers, in its two forms: over every row, and (last block) only for
 * the rows whose output is read, with keys and values from every row. */
#include <math.h>
#include <string.h>

#include "clip/clip_internal.h"
#include "core/alloc.h"
#include "core/error.h"

float *am_clip_buf(clip_buf *b, size_t n, am_error *err) {
    float *p = am_scratch(b->data, &b->capacity, n, sizeof(float), err);
    if (p) b->data = p;
    return p;
}

int32_t *am_clip_ibuf(clip_ibuf *b, size_t n, am_error *err) {
    int32_t *p = am_scratch(b->data, &b->capacity, n, sizeof(int32_t), err);
    if (p) b->data = p;
    return p;
}

am_attn_seq *am_clip_seqs(am_clip *clip, size_t n, am_error *err) {
    am_attn_seq *p = am_scratch(clip->seqs, &clip->seqs_capacity, n, sizeof(am_attn_seq), err);
    if (p) clip->seqs = p;
    return p;
}

double am_clip_last_flops(const am_clip *clip) {
    return clip->last_flops;
}

am_status am_clip_linear(am_clip *clip, const am_linear *l, const float *x, int64_t ldx,
                         int64_t rows, float *y, int64_t ldy, am_error *err) {
    clip->last_flops +=
        2.0 * (double)rows * (double)am_linear_in_features(l) * (double)am_linear_out_features(l);
    return am_linear_forward(l, x, ldx, rows, y, ldy, err);
}

/* Attention of one block: q, k, v rows as the sequences say, into out. */
static am_status attend(am_clip *clip, const clip_tower *t, const float *q, int64_t ldq,
                        const float *k, const float *v, int64_t ldkv, float *out,
                        const am_attn_seq *seqs, int64_t n_seqs, am_error *err) {
    const int32_t hd = t->width / t->heads;
    am_attn_desc d = {.q = q, .k = k, .v = v, .ldq = ldq, .ldk = ldkv, .ldv = ldkv,
                      .out = out, .ldo = t->width, .heads = t->heads, .head_dim = hd,
                      .scale = 1.0f / sqrtf((float)hd)};
    clip->last_flops += 2.0 * (double)am_attention_macs(seqs, n_seqs, t->heads, hd);
    return am_attention(&d, seqs, n_seqs, clip->threads, err);
}

/* n = LN1(x), after x += n when the previous block's residual is pending. */
static void norm1(am_clip *clip, const clip_block *blk, int64_t w, float *x, int64_t rows,
                  int pending) {
    float *n = clip->n.data;
    if (pending)
        am_add_layernorm(x, w, n, w, rows, w, blk->ln1_w, blk->ln1_b, AM_CLIP_LN_EPS, n, w,
                         clip->threads);
    else
        am_layernorm(x, w, rows, w, blk->ln1_w, blk->ln1_b, AM_CLIP_LN_EPS, n, w, clip->threads);
}

/* The MLP from n = LN2(x): n = c_proj(GELU(c_fc(n))), x += n left pending. */
static am_status mlp_normed(am_clip *clip, const clip_tower *t, const clip_block *blk,
                            int64_t rows, am_error *err) {
    const int64_t w = t->width, h = t->hidden;
    float *n = clip->n.data, *b = clip->b.data;
    am_status st;
    if ((st = am_clip_linear(clip, blk->fc, n, w, rows, b, h, err)) != AM_OK) return st;
    if (clip->quick_gelu) am_gelu_quick(b, rows * h, clip->threads);
    else am_gelu_erf(b, rows * h, clip->threads);
    return am_clip_linear(clip, blk->proj, b, h, rows, n, w, err);
}

am_status am_clip_block_mlp(am_clip *clip, const clip_tower *t, int32_t bi, float *x,
                            int64_t rows, am_error *err) {
    const clip_block *blk = &t->blocks[bi];
    const int64_t w = t->width;
    am_layernorm(x, w, rows, w, blk->ln2_w, blk->ln2_b, AM_CLIP_LN_EPS, clip->n.data, w,
                 clip->threads);
    return mlp_normed(clip, t, blk, rows, err);
}

am_status am_clip_block_full(am_clip *clip, const clip_tower *t, int32_t bi, float *x,
                             int64_t rows, const am_attn_seq *seqs, int64_t n_seqs, int pending,
                             am_error *err) {
    const clip_block *blk = &t->blocks[bi];
    const int64_t w = t->width;
    float *n = clip->n.data, *a = clip->a.data, *b = clip->b.data;
    am_status st;
    norm1(clip, blk, w, x, rows, pending);
    if ((st = am_clip_linear(clip, blk->qkv, n, w, rows, b, 3 * w, err)) != AM_OK) return st;
    if ((st = attend(clip, t, b, 3 * w, b + w, b + 2 * w, 3 * w, a, seqs, n_seqs, err)) != AM_OK)
        return st;
    if ((st = am_clip_linear(clip, blk->out, a, w, rows, n, w, err)) != AM_OK) return st;
    am_add_layernorm(x, w, n, w, rows, w, blk->ln2_w, blk->ln2_b, AM_CLIP_LN_EPS, n, w,
                     clip->threads);
    return mlp_normed(clip, t, blk, rows, err);
}

am_status am_clip_block_last(am_clip *clip, const clip_tower *t, int32_t bi, float *x,
                             int64_t rows, const am_attn_seq *seqs, int64_t n_seqs,
                             const int32_t *qrows, int64_t nq, int pending, float **result,
                             am_error *err) {
    const clip_block *blk = &t->blocks[bi];
    const int64_t w = t->width;
    float *n = clip->n.data, *a = clip->a.data, *b = clip->b.data;
    am_status st;
    norm1(clip, blk, w, x, rows, pending);
    if ((st = am_clip_linear(clip, blk->kv, n, w, rows, b, 2 * w, err)) != AM_OK) return st;
    for (int64_t j = 0; j < nq; j++)
        memcpy(a + j * w, n + (int64_t)qrows[j] * w, (size_t)w * sizeof(float));
    if ((st = am_clip_linear(clip, blk->q, a, w, nq, n, w, err)) != AM_OK) return st;
    if ((st = attend(clip, t, n, w, b, b + w, 2 * w, a, seqs, n_seqs, err)) != AM_OK) return st;
    if ((st = am_clip_linear(clip, blk->out, a, w, nq, n, w, err)) != AM_OK) return st;
    for (int64_t j = 0; j < nq; j++) {
        const float *xr = x + (int64_t)qrows[j] * w, *nr = n + j * w;
        float *ar = a + j * w;
        for (int64_t i = 0; i < w; i++) ar[i] = xr[i] + nr[i];
    }
    if ((st = am_clip_block_mlp(clip, t, bi, a, nq, err)) != AM_OK) return st;
    *result = a;
    return AM_OK;
}
