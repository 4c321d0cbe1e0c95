/* clip_text.c - the text tower: token + positional embedding, causal blocks,
 * ln_final, the end-of-text row @ text_projection; and tokenizing.
 *
 * Work that cannot change the result is skipped.  With the causal mask, the
 * state of position p depends only on tokens 0..p, so
 *  - positions after a prompt's end-of-text token (the pooled row) are not
 *    computed at all;
 *  - prompts are sorted and their token prefixes merged into a trie: each
 *    distinct prefix is one row ("node"), computed once however many prompts
 *    share it (WinCLIP's sentences share their template's opening words);
 *  - in the last block only the pooled rows get a query, attention output,
 *    projection and MLP. */
#include <stdlib.h>
#include <string.h>

#include "clip/clip_internal.h"
#include "core/alloc.h"
#include "core/error.h"

/* Trie rows per batch before the prompts are split. */
#define CHUNK_NODES 8192

am_status am_clip_tokenize(const am_clip *clip, const char *text, int32_t *tokens,
                           am_error *err) {
    if (!text) return am_error_set(err, AM_ERR_ARGUMENT, "CLIP tokenize: no text");
    return am_bpe_encode(clip->bpe, text, clip->info.context_length, tokens, err);
}

/* Sorting prompts by their token path (ties by row, so the order is fixed). */
typedef struct {
    const int32_t *tokens;
    const int32_t *eot;
    int32_t ctx;
} sort_ctx;

static int compare_paths(const void *pa, const void *pb, void *arg) {
    const sort_ctx *c = arg;
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    const int32_t *ta = c->tokens + (int64_t)a * c->ctx, *tb = c->tokens + (int64_t)b * c->ctx;
    const int32_t la = c->eot[a] + 1, lb = c->eot[b] + 1;
    for (int32_t i = 0; i < la && i < lb; i++)
        if (ta[i] != tb[i]) return ta[i] < tb[i] ? -1 : 1;
    if (la != lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Encodes the prompts order[0..count) (rows of tokens) into embed rows. */
static am_status encode_chunk(am_clip *clip, const int32_t *tokens, const int32_t *eot,
                              const int32_t *order, int32_t count, int64_t nodes, float *embed,
                              am_error *err) {
    const clip_tower *t = &clip->text;
    const int32_t ctx = clip->info.context_length;
    const int64_t w = t->width, e = clip->info.embed_dim;
    const int64_t wide = 3 * w > t->hidden ? 3 * w : t->hidden;
    int64_t path_len = 0;
    for (int32_t i = 0; i < count; i++) path_len += eot[order[i]] + 1;
    float *x = am_clip_buf(&clip->x, (size_t)(nodes * w), err);
    float *n = am_clip_buf(&clip->n, (size_t)(nodes * w), err);
    float *a = am_clip_buf(&clip->a, (size_t)(nodes * w), err);
    float *b = am_clip_buf(&clip->b, (size_t)(nodes * (wide > e ? wide : e)), err);
    /* ints: paths, node -> compact query, per prompt: path offset, lcp, query. */
    int32_t *ints = am_clip_ibuf(&clip->rows, (size_t)(path_len + nodes + 4 * (int64_t)count),
                                 err);
    am_attn_seq *seqs = am_clip_seqs(clip, (size_t)count, err);
    if (!x || !n || !a || !b || !ints || !seqs) return AM_ERR_NOMEM;
    int32_t *paths = ints, *node_q = paths + path_len, *path_at = node_q + nodes,
            *lcp = path_at + count, *prompt_q = lcp + count, *qrows = prompt_q + count;
    /* The trie: node ids in creation order; path of prompt i = its nodes. */
    int32_t next = 0;
    int64_t off = 0;
    for (int32_t i = 0; i < count; i++) {
        const int32_t r = order[i], len = eot[r] + 1;
        const int32_t *tr = tokens + (int64_t)r * ctx;
        int32_t l = 0;
        if (i > 0) {
            const int32_t p = order[i - 1], plen = eot[p] + 1;
            const int32_t *tp = tokens + (int64_t)p * ctx;
            while (l < len && l < plen && tr[l] == tp[l]) l++;
        }
        int32_t *path = paths + off;
        path_at[i] = (int32_t)off;
        lcp[i] = l;
        if (l > 0) memcpy(path, paths + path_at[i - 1], (size_t)l * sizeof(int32_t));
        for (int32_t pos = l; pos < len; pos++) {
            const int32_t node = next++;
            path[pos] = node;
            const float *te = clip->token_embedding + (int64_t)tr[pos] * w;
            const float *pe = clip->text_pos + (int64_t)pos * w;
            float *xr = x + (int64_t)node * w;
            for (int64_t c = 0; c < w; c++) xr[c] = te[c] + pe[c];
        }
        off += len;
    }
    /* Every block but the last: each prompt's new nodes query its whole path. */
    int64_t ns = 0;
    for (int32_t i = 0; i < count; i++) {
        const int32_t len = eot[order[i]] + 1;
        if (lcp[i] == len) continue;
        seqs[ns++] = (am_attn_seq){.q_row = paths[path_at[i] + lcp[i]],
                                   .out_row = paths[path_at[i] + lcp[i]],
                                   .kv_index = paths + path_at[i], .n_q = len - lcp[i],
                                   .n_kv = len, .causal = 1};
    }
    am_status st;
    for (int32_t bi = 0; bi + 1 < t->layers; bi++)
        if ((st = am_clip_block_full(clip, t, bi, x, nodes, seqs, ns, bi > 0, err)) != AM_OK)
            return st;
    /* The last block: one query per distinct pooled node. */
    for (int64_t v = 0; v < nodes; v++) node_q[v] = -1;
    int32_t nq = 0;
    ns = 0;
    for (int32_t i = 0; i < count; i++) {
        const int32_t len = eot[order[i]] + 1, pooled = paths[path_at[i] + len - 1];
        if (node_q[pooled] < 0) {
            node_q[pooled] = nq;
            qrows[nq] = pooled;
            seqs[ns++] = (am_attn_seq){.q_row = nq, .out_row = nq, .kv_index = paths + path_at[i],
                                       .n_q = 1, .n_kv = len};
            nq++;
        }
        prompt_q[i] = node_q[pooled];
    }
    float *out;
    st = am_clip_block_last(clip, t, t->layers - 1, x, nodes, seqs, ns, qrows, nq, t->layers > 1,
                            &out, err);
    if (st != AM_OK) return st;
    am_add_layernorm(out, w, n, w, nq, w, clip->ln_final_w, clip->ln_final_b, AM_CLIP_LN_EPS, n,
                     w, clip->threads);
    if ((st = am_clip_linear(clip, clip->text_proj, n, w, nq, b, e, err)) != AM_OK) return st;
    for (int32_t i = 0; i < count; i++)
        memcpy(embed + (int64_t)order[i] * e, b + (int64_t)prompt_q[i] * e,
               (size_t)e * sizeof(float));
    return AM_OK;
}

am_status am_clip_encode_text(am_clip *clip, const int32_t *tokens, int32_t n, float *embed,
                              am_error *err) {
    clip->last_flops = 0.0;
    const int32_t ctx = clip->info.context_length, vocab = clip->info.vocab_size;
    if (n < 0 || (n > 0 && (!tokens || !embed)))
        return am_error_set(err, AM_ERR_ARGUMENT, "CLIP encode text: %d rows", (int)n);
    if (n == 0) return AM_OK;
    int32_t *eot = am_alloc((size_t)n * 2, sizeof(int32_t), err);
    if (!eot) return AM_ERR_NOMEM;
    int32_t *order = eot + n;
    /* Pool at the first largest id (the end-of-text token), as argmax does. */
    for (int32_t r = 0; r < n; r++) {
        const int32_t *tr = tokens + (int64_t)r * ctx;
        int32_t best = 0;
        for (int32_t p = 0; p < ctx; p++) {
            if (tr[p] < 0 || tr[p] >= vocab) {
                am_free(eot);
                return am_error_set(err, AM_ERR_ARGUMENT,
                                    "CLIP encode text: row %d position %d: token %d outside the "
                                    "vocabulary of %d", (int)r, (int)p, (int)tr[p], (int)vocab);
            }
            if (tr[p] > tr[best]) best = p;
        }
        eot[r] = best;
        order[r] = r;
    }
    sort_ctx sc = {.tokens = tokens, .eot = eot, .ctx = ctx};
    qsort_r(order, (size_t)n, sizeof *order, compare_paths, &sc);
    /* Chunks of consecutive sorted prompts with at most CHUNK_NODES new nodes. */
    am_status st = AM_OK;
    int32_t first = 0;
    int64_t nodes = 0;
    for (int32_t i = 0; i <= n && st == AM_OK; i++) {
        int64_t add = 0;
        if (i < n) {
            const int32_t r = order[i], len = eot[r] + 1;
            int32_t l = 0;
            if (i > first) {
                const int32_t p = order[i - 1], plen = eot[p] + 1;
                const int32_t *tr = tokens + (int64_t)r * ctx, *tp = tokens + (int64_t)p * ctx;
                while (l < len && l < plen && tr[l] == tp[l]) l++;
            }
            add = len - l;
        }
        if (i == n || (i > first && nodes + add > CHUNK_NODES)) {
            st = encode_chunk(clip, tokens, eot, order + first, i - first, nodes, embed, err);
            first = i;
            nodes = 0;
            if (i < n) add = eot[order[i]] + 1;
        }
        nodes += add;
    }
    am_free(eot);
    return st;
}
