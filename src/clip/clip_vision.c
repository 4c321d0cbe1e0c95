/* clip_vision.c - the vision tower over a batch: the full forward of each
 * image and the masked-window forwards of WinCLIP (DESIGN 2.1), all sequences
 * of a batch stacked so that every linear layer is one GEMM.
 *
 * Rows.  A "base row" is one token of one image after patch embedding, class
 * token and positional embedding (before ln_pre): 1 + grid^2 per image.  A
 * "sequence row" is one token of one sequence (a window: the class token then
 * the window's patches; or the full image): it is a base row taken into a
 * sequence.  Work that cannot change the result is skipped:
 *  - block 0: ln_pre, LN1 and the QKV projection act on each token alone, so
 *    they run once per base row and sequences gather their rows;
 *  - last block: only the class-token row of a window is read, so only it
 *    gets a query, attention output, projection and MLP (the full image keeps
 *    every row, since its patch tokens are read).  Keys and values still come
 *    from every row. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "clip/clip_internal.h"
#include "core/alloc.h"
#include "core/error.h"

/* Sequence rows per batch before it is split by image (about 200 MB of
 * scratch for ViT-B-16-plus-240). */
#define CHUNK_ROWS 8192

/* One sequence of a chunk: its rows start..start+len-1 (sequence rows), its
 * queries of the last block qstart..qstart+nq-1 (compact rows). */
typedef struct {
    int32_t start, len, qstart, nq;
} seq_span;

/* What one call encodes. */
typedef struct {
    const am_clip_windows *sets;
    int32_t n_sets;
    int64_t windows;     /* windows per image over all sets */
    int64_t window_rows; /* their sequence rows per image */
    int full;            /* the full forward is asked for */
} request;

/* Patch embedding, class token and positional embedding of `count` images
 * into base rows h [count * (1 + grid^2)][w], then ln_pre in place. */
static am_status embed_images(am_clip *clip, const float *images, int32_t count, float *h,
                              float *cols, float *emb, am_error *err) {
    const am_clip_info *in = &clip->info;
    const int32_t g = in->grid, p = in->patch_size, s = in->image_size;
    const int64_t w = in->vision_width, pp = 3 * (int64_t)p * p, np = (int64_t)g * g;
    /* im2col: row (image, patch), columns (channel, ky, kx) as conv1.weight. */
    for (int32_t i = 0; i < count; i++)
        for (int32_t py = 0; py < g; py++)
            for (int32_t px = 0; px < g; px++) {
                float *dst = cols + ((int64_t)i * np + (int64_t)py * g + px) * pp;
                for (int32_t c = 0; c < 3; c++)
                    for (int32_t ky = 0; ky < p; ky++) {
                        const float *src = images + (((int64_t)i * 3 + c) * s + (int64_t)py * p + ky) * s +
                                           (int64_t)px * p;
                        memcpy(dst + ((int64_t)c * p + ky) * p, src, (size_t)p * sizeof(float));
                    }
            }
    am_status st = am_clip_linear(clip, clip->patch_embed, cols, pp, count * np, emb, w, err);
    if (st != AM_OK) return st;
    for (int32_t i = 0; i < count; i++) {
        float *hi = h + (int64_t)i * (1 + np) * w;
        for (int64_t c = 0; c < w; c++) hi[c] = clip->class_embedding[c] + clip->vision_pos[c];
        for (int64_t t = 0; t < np; t++) {
            const float *e = emb + ((int64_t)i * np + t) * w, *pos = clip->vision_pos + (1 + t) * w;
            float *d = hi + (1 + t) * w;
            for (int64_t c = 0; c < w; c++) d[c] = e[c] + pos[c];
        }
    }
    am_layernorm(h, w, (int64_t)count * (1 + np), w, clip->ln_pre_w, clip->ln_pre_b,
                 AM_CLIP_LN_EPS, h, w, clip->threads);
    return AM_OK;
}

/* Lays out the sequences of images [0, count) of a chunk: base row index of
 * every sequence row (idx), the sequence spans, and the sequence row of every
 * last-block query (qrows).  Returns the number of sequences. */
static int64_t layout(const am_clip *clip, const request *rq, int32_t count, int32_t *idx,
                      seq_span *spans, int32_t *qrows) {
    const int32_t np = clip->info.grid * clip->info.grid;
    int64_t row = 0, q = 0, ns = 0;
    for (int32_t i = 0; i < count; i++) {
        const int32_t base = i * (1 + np);
        for (int32_t s = 0; s < rq->n_sets; s++) {
            const am_clip_windows *set = &rq->sets[s];
            for (int32_t wi = 0; wi < set->count; wi++) {
                seq_span *sp = &spans[ns++];
                sp->start = (int32_t)row;
                sp->len = 1 + set->size;
                sp->qstart = (int32_t)q;
                sp->nq = 1;
                qrows[q++] = (int32_t)row;
                idx[row++] = base;
                for (int32_t j = 0; j < set->size; j++)
                    idx[row++] = base + 1 + set->patches[(int64_t)wi * set->size + j];
            }
        }
        if (rq->full) {
            seq_span *sp = &spans[ns++];
            sp->start = (int32_t)row;
            sp->len = 1 + np;
            sp->qstart = (int32_t)q;
            sp->nq = 1 + np;
            for (int32_t t = 0; t <= np; t++) {
                qrows[q++] = (int32_t)row;
                idx[row++] = base + t;
            }
        }
    }
    return ns;
}

/* Encodes images [0, count) of a chunk into the outputs (already offset to
 * the chunk's first image). */
static am_status encode_chunk(am_clip *clip, const request *rq, const float *images,
                              int32_t count, float *window_embed, float *image_embed,
                              float *patch_tokens, float *patch_tokens_proj, am_error *err) {
    const am_clip_info *in = &clip->info;
    const clip_tower *t = &clip->vision;
    const int64_t w = t->width, e = in->embed_dim, np = (int64_t)in->grid * in->grid;
    const int64_t pp = 3 * (int64_t)in->patch_size * in->patch_size;
    const int64_t per_rows = rq->window_rows + (rq->full ? 1 + np : 0);
    const int64_t per_q = rq->windows + (rq->full ? 1 + np : 0);
    const int64_t per_seqs = rq->windows + (rq->full ? 1 : 0);
    const int64_t rows = count * per_rows, nq = count * per_q, nb = count * (1 + np);
    const int64_t wide = 3 * w > t->hidden ? 3 * w : t->hidden;
    const int64_t bwide = 3 * w > pp ? 3 * w : pp; /* QKV or im2col columns */
    /* Scratch. */
    float *x = am_clip_buf(&clip->x, (size_t)(rows * w), err);
    float *n = am_clip_buf(&clip->n, (size_t)(rows * w), err);
    float *a = am_clip_buf(&clip->a, (size_t)(rows * w), err);
    float *b = am_clip_buf(&clip->b, (size_t)(rows * (wide > e ? wide : e)), err);
    float *bh = am_clip_buf(&clip->base_h, (size_t)(nb * w), err);
    float *bn = am_clip_buf(&clip->base_n, (size_t)(nb * w), err);
    float *bb = am_clip_buf(&clip->base_b, (size_t)(nb * bwide), err);
    int32_t *ints = am_clip_ibuf(&clip->rows, (size_t)(rows + nq + 4 * count * per_seqs), err);
    am_attn_seq *seqs = am_clip_seqs(clip, (size_t)(count * per_seqs), err);
    if (!x || !n || !a || !b || !bh || !bn || !bb || !ints || !seqs) return AM_ERR_NOMEM;
    int32_t *idx = ints, *qrows = ints + rows;
    seq_span *spans = (seq_span *)(qrows + nq);
    const int64_t ns = layout(clip, rq, count, idx, spans, qrows);
    am_status st;

    /* Block 0 per base row: ln_pre, LN1, QKV. */
    if ((st = embed_images(clip, images, count, bh, bb, bn, err)) != AM_OK) return st;
    const clip_block *b0 = &t->blocks[0];
    am_layernorm(bh, w, nb, w, b0->ln1_w, b0->ln1_b, AM_CLIP_LN_EPS, bn, w, clip->threads);
    if ((st = am_clip_linear(clip, b0->qkv, bn, w, nb, bb, 3 * w, err)) != AM_OK) return st;
    const int last0 = t->layers == 1;
    for (int64_t s = 0; s < ns; s++) {
        const seq_span *sp = &spans[s];
        seqs[s] = (am_attn_seq){.q_index = idx + sp->start, .kv_index = idx + sp->start,
                                .n_q = last0 ? sp->nq : sp->len, .n_kv = sp->len,
                                .out_row = last0 ? sp->qstart : sp->start};
    }
    const int32_t hd = (int32_t)(w / t->heads);
    am_attn_desc d = {.q = bb, .k = bb + w, .v = bb + 2 * w, .ldq = 3 * w, .ldk = 3 * w,
                      .ldv = 3 * w, .out = a, .ldo = w, .heads = t->heads, .head_dim = hd,
                      .scale = 1.0f / sqrtf((float)hd)};
    clip->last_flops += 2.0 * (double)am_attention_macs(seqs, ns, t->heads, hd);
    if ((st = am_attention(&d, seqs, ns, clip->threads, err)) != AM_OK) return st;
    const int64_t out_rows = last0 ? nq : rows;
    if ((st = am_clip_linear(clip, b0->out, a, w, out_rows, n, w, err)) != AM_OK) return st;
    /* Residual from ln_pre's output of each row's base token. */
    float *res = last0 ? a : x;
    for (int64_t r = 0; r < out_rows; r++) {
        const float *hr = bh + (int64_t)idx[last0 ? qrows[r] : r] * w, *nr = n + r * w;
        float *xr = res + r * w;
        for (int64_t c = 0; c < w; c++) xr[c] = hr[c] + nr[c];
    }
    if ((st = am_clip_block_mlp(clip, t, 0, res, out_rows, err)) != AM_OK) return st;

    /* Middle blocks over every row; then the last block for the queries. */
    float *out = res;
    if (!last0) {
        for (int64_t s = 0; s < ns; s++) {
            const seq_span *sp = &spans[s];
            seqs[s] = (am_attn_seq){.q_row = sp->start, .kv_row = sp->start, .out_row = sp->start,
                                    .n_q = sp->len, .n_kv = sp->len};
        }
        for (int32_t bi = 1; bi + 1 < t->layers; bi++)
            if ((st = am_clip_block_full(clip, t, bi, x, rows, seqs, ns, 1, err)) != AM_OK)
                return st;
        for (int64_t s = 0; s < ns; s++) {
            const seq_span *sp = &spans[s];
            seqs[s] = (am_attn_seq){.q_row = sp->qstart, .kv_row = sp->start,
                                    .out_row = sp->qstart, .n_q = sp->nq, .n_kv = sp->len};
        }
        st = am_clip_block_last(clip, t, t->layers - 1, x, rows, seqs, ns, qrows, nq, 1, &out,
                                err);
        if (st != AM_OK) return st;
    }

    /* The last residual add and ln_post on the query rows, then the projection. */
    am_add_layernorm(out, w, n, w, nq, w, clip->ln_post_w, clip->ln_post_b, AM_CLIP_LN_EPS, n, w,
                     clip->threads);
    if ((st = am_clip_linear(clip, clip->vision_proj, n, w, nq, b, e, err)) != AM_OK) return st;
    for (int32_t i = 0; i < count; i++) {
        const int64_t q0 = (int64_t)i * per_q;
        if (window_embed)
            memcpy(window_embed + (int64_t)i * rq->windows * e, b + q0 * e,
                   (size_t)(rq->windows * e) * sizeof(float));
        if (!rq->full) continue;
        const int64_t qf = q0 + rq->windows;
        if (image_embed) memcpy(image_embed + i * e, b + qf * e, (size_t)e * sizeof(float));
        if (patch_tokens)
            memcpy(patch_tokens + i * np * w, n + (qf + 1) * w, (size_t)(np * w) * sizeof(float));
        if (patch_tokens_proj)
            memcpy(patch_tokens_proj + i * np * e, b + (qf + 1) * e,
                   (size_t)(np * e) * sizeof(float));
    }
    return AM_OK;
}

am_status am_clip_encode_images(am_clip *clip, const float *images, int32_t n,
                                const am_clip_windows *sets, int32_t n_sets, float *window_embed,
                                float *image_embed, float *patch_tokens,
                                float *patch_tokens_proj, am_error *err) {
    clip->last_flops = 0.0;
    const am_clip_info *in = &clip->info;
    const int32_t np = in->grid * in->grid;
    if (n < 0 || n_sets < 0 || (n > 0 && !images) || (n_sets > 0 && !sets))
        return am_error_set(err, AM_ERR_ARGUMENT, "CLIP encode: %d images, %d window sets",
                            (int)n, (int)n_sets);
    request rq = {.sets = sets, .n_sets = window_embed ? n_sets : 0,
                  .full = image_embed || patch_tokens || patch_tokens_proj};
    for (int32_t s = 0; s < rq.n_sets; s++) {
        const am_clip_windows *set = &sets[s];
        if (set->count < 0 || set->size <= 0 || set->size > np || (set->count > 0 && !set->patches))
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "CLIP encode: window set %d: %d windows of %d patches (grid %d)",
                                (int)s, (int)set->count, (int)set->size, (int)in->grid);
        for (int64_t j = 0; j < (int64_t)set->count * set->size; j++)
            if (set->patches[j] < 0 || set->patches[j] >= np)
                return am_error_set(err, AM_ERR_ARGUMENT,
                                    "CLIP encode: window set %d: patch %d outside the %dx%d grid",
                                    (int)s, (int)set->patches[j], (int)in->grid, (int)in->grid);
        rq.windows += set->count;
        rq.window_rows += (int64_t)set->count * (1 + set->size);
    }
    const int64_t per_rows = rq.window_rows + (rq.full ? 1 + np : 0);
    if (n == 0 || per_rows == 0) return AM_OK;
    if (per_rows > INT32_MAX / 4)
        return am_error_set(err, AM_ERR_LIMIT, "CLIP encode: %lld sequence rows per image",
                            (long long)per_rows);
    const int64_t s = in->image_size, e = in->embed_dim, w = in->vision_width;
    int32_t chunk = (int32_t)(CHUNK_ROWS / per_rows);
    if (chunk < 1) chunk = 1;
    for (int32_t i0 = 0; i0 < n; i0 += chunk) {
        const int32_t c = n - i0 < chunk ? n - i0 : chunk;
        am_status st = encode_chunk(
            clip, &rq, images + (int64_t)i0 * 3 * s * s, c,
            window_embed ? window_embed + (int64_t)i0 * rq.windows * e : NULL,
            image_embed ? image_embed + (int64_t)i0 * e : NULL,
            patch_tokens ? patch_tokens + (int64_t)i0 * np * w : NULL,
            patch_tokens_proj ? patch_tokens_proj + (int64_t)i0 * np * e : NULL, err);
        if (st != AM_OK) return st;
    }
    return AM_OK;
}
