/* sam_decoder.c - SAM's prompt encoder and mask decoder (notes/sam.md 3.3,
 * 3.4), batched over prompts, with the exact rewrites of notes/sam.md 6.
 *
 * Layouts: image tokens are rows of D floats, row-major over the G x G grid
 * (x = y * G + col); a batch of B prompts has T = 1 + M + Ns tokens each,
 * stored as B*T rows.  Inside the cross attentions, per-(token, head) rows are
 * ordered t * H + h.
 *
 * The reassociated cross attentions (blocks after the first, and the final
 * one), per head h with dh = Di / H and s = 1/sqrt(dh):
 *   token-to-image: logits(t, x) = (s Wk_h^T q_t) . kin_x (the dropped term
 *     s q_t . bk_h is constant along the softmax); output_t =
 *     Wv_h (sum_x a keys_x) + bv_h.
 *   image-to-token: logits(x, t) = kin_x . (s Wq_h^T k_t) + s bq_h . k_t;
 *     output_x = sum_{t,h} a (Wout_h v_t) + bout.
 * where kin = keys + key_pe (kept beside keys for every prompt).  Block 0's
 * image side is the same for every prompt and is projected once per image
 * (or once per dense mask input).  The logits are GEMMs; the rest of an
 * image-to-token attention (softmax, output, residual, LayerNorm, kin) is
 * one fused pass per image row, in register blocks of 8 rows. */
#include "sam/sam_decoder.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/linear.h"
#include "sam/sam_config.h"
#include "sam/sam_simd.h"

#define MAX_MLP_LAYERS 8
#define MAX_MASK_TOKENS 16
#define MAX_DEPTH 16
#define LN_EPS 1e-5f
#define LN2D_EPS 1e-6f
#define I2T_ROWS 8    /* rows of the attention kernels' register block */
#define T2I_BLOCK 64  /* image rows per online-softmax step */

typedef struct {
    const float *w, *b;
} norm_params;

/* One attention module: raw weights (for the reassociated forms) and f32
 * layers over token rows. */
typedef struct {
    int32_t inner;
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    am_linear *q, *k, *v, *o;
} attention;

typedef struct {
    attention self_attn, t2i, i2t;
    norm_params norm[4];
    am_linear *lin1, *lin2;
} block;

/* An MLP with ReLU after every layer but the last. */
typedef struct {
    int32_t n;
    am_linear *layer[MAX_MLP_LAYERS];
} mlp;

/* The prompt-independent image side of block 0: keys, keys + pe, and the
 * three projections of them that block 0 needs. */
typedef struct {
    float *keys, *kin; /* [N][D] */
    float *k, *v, *q;  /* [N][Di]: t2i k (of kin), t2i v (of keys), i2t q (of kin) */
} image_side;

/* One thread's scratch for the per-prompt image-side work (a thread
 * decodes whole prompts), for T*H (head, token) rows of D columns; nc is
 * logit_cols(T*H). */
typedef struct {
    float *u;       /* [TH][D]: U or W' rows, ordered h * T + t */
    float *wt;      /* [D][nc]: their transpose */
    float *z;       /* [TH][D]: Z rows, or the weighted sums S */
    float *cst;     /* [nc] */
    float *kh;      /* [Di][T]: block 0's scaled key projections, per head */
    float *a;       /* [T2I_BLOCK][nc]: logits and probabilities */
    float *rows;    /* [T2I_BLOCK][D] */
    float *pt;      /* [nc][T2I_BLOCK] */
    float *m, *sum; /* [nc] */
    float *zero;    /* [nc] zeros */
} scratch;

/* Scratch kept across calls, sized for b prompts of t tokens and n_scr
 * threads. */
typedef struct {
    int32_t b, t, n_scr;
    scratch *scr;
    float *q, *qpe, *x, *y;  /* [B*T][D] */
    float *sa;               /* self-attention q, k, v, output: 4 x [B*T][D] */
    float *h;                /* 2 x [B*T][widest token layer] */
    int64_t h_half;          /* offset of the second half of h */
    float *qt, *kt, *vt, *o; /* [B*T][Di] */
    float *keys;             /* [B][N][D] */
    float *lg;               /* block 0's token-to-image logits [B*T][N] */
    float *hyper;            /* [B][M][up2] */
    float *y1, *y2;          /* [N][4 up1], [4N][4 up2] */
    int32_t run_b;           /* prompts of the last run (0: none) */
    uint32_t run_tokens;     /* mask tokens it decoded */
} workspace;

struct sam_decoder {
    sam_decoder_config cfg;
    am_precision precision;
    float **owned;
    int32_t n_owned, cap_owned;
    /* prompt encoder */
    const float *gauss; /* [2][D/2] */
    const float *point_embed[4], *not_a_point, *no_mask;
    const float *md_w[3], *md_b[3];
    norm_params md_norm[2];
    /* mask decoder */
    const float *iou_token, *mask_tokens;
    block blocks[MAX_DEPTH];
    attention final_attn;
    norm_params norm_final;
    am_linear *img_k0, *img_v0, *img_q0; /* block 0's image-side projections */
    am_linear *up_lin1, *up_lin2;        /* the transposed convs as linears */
    norm_params up_norm;
    mlp hyper[MAX_MASK_TOKENS];
    mlp iou_head;
    /* derived */
    float *dense_pe; /* [D][G][G] */
    float *pe_tok;   /* [N][D] */
    /* image */
    int32_t has_image;
    float *image; /* [N][D] */
    image_side nomask, masked;
    workspace ws;
};

/* ------------------------------------------------------------------------ */
/* Small numeric kernels                                                     */
/* ------------------------------------------------------------------------ */

/* Row stride of the in-kernel logits of th (token, head) columns: th
 * rounded up to 16. */
static int32_t logit_cols(int32_t th) {
    return (th + 15) / 16 * 16;
}

/* e^x of n floats in place. */
static void exp_inplace(float *x, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, sam_exp16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(x + i, m, sam_exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
#else
    for (; i < n; i++) x[i] = expf(x[i]);
#endif
}

/* Softmax of each of `rows` rows of n floats (contiguous) in place. */
static void softmax_rows(float *x, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static) if (rows * n >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        float *p = x + r * n;
        float mx = p[0];
        for (int64_t i = 1; i < n; i++) mx = p[i] > mx ? p[i] : mx;
        for (int64_t i = 0; i < n; i++) p[i] -= mx;
        exp_inplace(p, n);
        float sum = 0.0f;
        for (int64_t i = 0; i < n; i++) sum += p[i];
        const float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; i++) p[i] *= inv;
    }
}

/* LayerNorm of one row of n floats into y (y may be x), biased variance. */
static void layer_norm_row(const float *x, float *y, int32_t n, const float *w, const float *b,
                           float eps) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int32_t i = 0; i < n; i++) s += x[i];
    const float mean = s / (float)n;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int32_t i = 0; i < n; i++) {
        const float d = x[i] - mean;
        v += d * d;
    }
    const float rstd = 1.0f / sqrtf(v / (float)n + eps);
#pragma omp simd
    for (int32_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

/* LayerNorm over each of `rows` rows of n floats, in place. */
static void layer_norm_rows(float *x, int64_t rows, int32_t n, const norm_params *p, float eps) {
#pragma omp parallel for schedule(static) if (rows * n >= 65536)
    for (int64_t r = 0; r < rows; r++) layer_norm_row(x + r * n, x + r * n, n, p->w, p->b, eps);
}

/* y = a + b, n floats. */
static void add_into(float *y, const float *a, const float *b, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= 262144)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* Runs an MLP over `rows` rows of x (ldx) into y (ldy); t0/t1 are scratch
 * of rows * widest-layer floats. */
static am_status mlp_forward(const mlp *m, const float *x, int64_t ldx, int64_t rows, float *y,
                             int64_t ldy, float *t0, float *t1, am_error *err) {
    const float *in = x;
    int64_t ld = ldx;
    for (int32_t i = 0; i < m->n; i++) {
        const int64_t nout = am_linear_out_features(m->layer[i]);
        const int last = i == m->n - 1;
        float *out = last ? y : (i % 2 ? t1 : t0);
        const int64_t ldo = last ? ldy : nout;
        am_status st = am_linear_forward(m->layer[i], in, ld, rows, out, ldo, err);
        if (st != AM_OK) return st;
        if (!last)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < nout; c++)
                    out[r * ldo + c] = out[r * ldo + c] > 0.0f ? out[r * ldo + c] : 0.0f;
        in = out;
        ld = ldo;
    }
    return AM_OK;
}

/* The random-Fourier encoding of one normalised point (u, v) into out [2F]:
 * sin then cos of 2 pi ((2u - 1, 2v - 1) @ G), in float32 as PyTorch does. */
static void pe_encode(const float *gauss, int32_t f, float u, float v, float *out) {
    const float cx = 2.0f * u - 1.0f, cy = 2.0f * v - 1.0f;
    const float two_pi = (float)(2.0 * M_PI);
    for (int32_t j = 0; j < f; j++) {
        const float a = cx * gauss[j] + cy * gauss[f + j];
        const float g = two_pi * a;
        out[j] = sinf(g);
        out[f + j] = cosf(g);
    }
}

/* ------------------------------------------------------------------------ */
/* Weights: from a file or random                                            */
/* ------------------------------------------------------------------------ */

typedef enum { INIT_UNIFORM, INIT_NORMAL, INIT_ONES, INIT_ZEROS } init_kind;

/* Where tensors come from: the weight file (w) or a seeded generator. */
typedef struct {
    am_weights *w;
    am_rng rng;
    sam_decoder *dec;
    am_error *err;
    am_status status;
} source;

/* Keeps p to be freed with the decoder; frees it and fails if the list
 * cannot grow. */
static am_status own(sam_decoder *dec, float *p, am_error *err) {
    if (dec->n_owned == dec->cap_owned) {
        const int32_t cap = dec->cap_owned ? dec->cap_owned * 2 : 64;
        float **grown = realloc(dec->owned, (size_t)cap * sizeof *grown);
        if (!grown) {
            am_free(p);
            return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        }
        dec->owned = grown;
        dec->cap_owned = cap;
    }
    dec->owned[dec->n_owned++] = p;
    return AM_OK;
}

/* An owned zeroed buffer of n floats, or NULL with err set. */
static float *owned_floats(sam_decoder *dec, int64_t n, am_error *err) {
    float *p = am_calloc((size_t)n, sizeof(float), err);
    if (!p || own(dec, p, err) != AM_OK) return NULL;
    return p;
}

/* The tensor named by fmt with the given shape: checked in the file, or
 * created (uniform in +-bound, normal times bound, ones, zeros).  After a
 * failure every later call returns NULL and s->status keeps the first error. */
static const float *fetch(source *s, init_kind kind, float bound, int32_t ndim,
                          const int64_t *dims, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static const float *fetch(source *s, init_kind kind, float bound, int32_t ndim,
                          const int64_t *dims, const char *fmt, ...) {
    if (s->status != AM_OK) return NULL;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t numel = 1;
    for (int32_t i = 0; i < ndim; i++) numel *= dims[i];
    if (s->w) {
        const am_tensor_info *t = am_weights_find(s->w, name);
        int ok = t && t->ndim == ndim;
        for (int32_t i = 0; ok && i < ndim; i++) ok = t->shape[i] == dims[i];
        if (!ok) {
            char want[128] = "";
            for (int32_t i = 0; i < ndim; i++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld",
                         i ? ", " : "", (long long)dims[i]);
            s->status = am_error_set(s->err, AM_ERR_MODEL,
                                     "%s: tensor '%s' %s (expected shape [%s])",
                                     am_weights_path(s->w), name, t ? "has another shape" : "is missing",
                                     want);
            return NULL;
        }
        const float *data;
        s->status = am_weights_get_f32(s->w, name, &data, s->err);
        return s->status == AM_OK ? data : NULL;
    }
    float *p = owned_floats(s->dec, numel, s->err);
    if (!p) {
        s->status = AM_ERR_NOMEM;
        return NULL;
    }
    for (int64_t i = 0; i < numel; i++) {
        switch (kind) {
        case INIT_UNIFORM: p[i] = (2.0f * am_rng_uniform(&s->rng) - 1.0f) * bound; break;
        case INIT_NORMAL: p[i] = am_rng_normal(&s->rng) * bound; break;
        case INIT_ONES: p[i] = 1.0f; break;
        case INIT_ZEROS: p[i] = 0.0f; break;
        }
    }
    return p;
}

/* Weight [out][in] and bias [out] of a linear layer `prefix`. */
static void fetch_linear(source *s, const char *prefix, int64_t out, int64_t in, const float **w,
                         const float **b) {
    const float bound = 1.0f / sqrtf((float)in);
    *w = fetch(s, INIT_UNIFORM, bound, 2, (int64_t[]){out, in}, "%s.weight", prefix);
    *b = fetch(s, INIT_UNIFORM, bound, 1, (int64_t[]){out}, "%s.bias", prefix);
}

static void fetch_norm(source *s, const char *prefix, int64_t n, norm_params *p) {
    p->w = fetch(s, INIT_ONES, 0, 1, (int64_t[]){n}, "%s.weight", prefix);
    p->b = fetch(s, INIT_ZEROS, 0, 1, (int64_t[]){n}, "%s.bias", prefix);
}

/* A f32 linear layer over fetched weights. */
static am_linear *make_linear(source *s, const float *w, const float *b, int64_t out, int64_t in,
                              am_precision precision) {
    if (s->status != AM_OK) return NULL;
    am_linear *l = NULL;
    s->status = am_linear_create(w, b, out, in, precision, &l, s->err);
    return l;
}

static void fetch_attention(source *s, const char *prefix, int32_t dim, int32_t inner,
                            attention *a) {
    char name[256];
    a->inner = inner;
    snprintf(name, sizeof name, "%s.q_proj", prefix);
    fetch_linear(s, name, inner, dim, &a->wq, &a->bq);
    snprintf(name, sizeof name, "%s.k_proj", prefix);
    fetch_linear(s, name, inner, dim, &a->wk, &a->bk);
    snprintf(name, sizeof name, "%s.v_proj", prefix);
    fetch_linear(s, name, inner, dim, &a->wv, &a->bv);
    snprintf(name, sizeof name, "%s.out_proj", prefix);
    fetch_linear(s, name, dim, inner, &a->wo, &a->bo);
    a->q = make_linear(s, a->wq, a->bq, inner, dim, AM_PRECISION_F32);
    a->k = make_linear(s, a->wk, a->bk, inner, dim, AM_PRECISION_F32);
    a->v = make_linear(s, a->wv, a->bv, inner, dim, AM_PRECISION_F32);
    a->o = make_linear(s, a->wo, a->bo, dim, inner, AM_PRECISION_F32);
}

static void free_attention(attention *a) {
    am_linear_free(a->q);
    am_linear_free(a->k);
    am_linear_free(a->v);
    am_linear_free(a->o);
}

/* An MLP `prefix`.layers.i of n layers: in -> hidden ... -> out. */
static void fetch_mlp(source *s, const char *prefix, int32_t n, int32_t in, int32_t hidden,
                      int32_t out, mlp *m) {
    m->n = n;
    for (int32_t i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s.layers.%d", prefix, i);
        const int32_t ni = i == 0 ? in : hidden, no = i == n - 1 ? out : hidden;
        const float *w, *b;
        fetch_linear(s, name, no, ni, &w, &b);
        m->layer[i] = make_linear(s, w, b, no, ni, AM_PRECISION_F32);
    }
}

static void free_mlp(mlp *m) {
    for (int32_t i = 0; i < m->n; i++) am_linear_free(m->layer[i]);
}

/* A ConvTranspose2d 2x2/2 (weight [in][out][2][2], bias [out]) as a linear
 * layer from `in` channels to the 4 sub-pixels' outputs, column k*out + c
 * for sub-pixel k = ky*2 + kx. */
static am_linear *make_upscale(source *s, const float *w, const float *b, int32_t in,
                               int32_t out, am_precision precision) {
    if (s->status != AM_OK) return NULL;
    float *wt = owned_floats(s->dec, (int64_t)in * 4 * out, s->err);
    float *bt = wt ? owned_floats(s->dec, 4 * (int64_t)out, s->err) : NULL;
    if (!bt) {
        s->status = AM_ERR_NOMEM;
        return NULL;
    }
    for (int32_t i = 0; i < in; i++)
        for (int32_t c = 0; c < out; c++)
            for (int32_t k = 0; k < 4; k++)
                wt[(int64_t)i * 4 * out + k * out + c] = w[((int64_t)i * out + c) * 4 + k];
    for (int32_t k = 0; k < 4; k++)
        for (int32_t c = 0; c < out; c++) bt[k * out + c] = b[c];
    am_linear *l = NULL;
    s->status = am_linear_create_transposed(wt, bt, 4 * (int64_t)out, in, precision, &l, s->err);
    return l;
}

/* Fills every weight of the decoder from s, for dec->cfg. */
static void fetch_all(source *s, sam_decoder *dec) {
    const sam_decoder_config *c = &dec->cfg;
    const int32_t D = c->embed_dim, F = D / 2;
    const am_precision prec = dec->precision;
    dec->gauss = fetch(s, INIT_NORMAL, 1.0f, 2, (int64_t[]){2, F},
                       "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int32_t i = 0; i < 4; i++)
        dec->point_embed[i] = fetch(s, INIT_NORMAL, 1.0f, 2, (int64_t[]){1, D},
                                    "prompt_encoder.point_embeddings.%d.weight", i);
    dec->not_a_point = fetch(s, INIT_NORMAL, 1.0f, 2, (int64_t[]){1, D},
                             "prompt_encoder.not_a_point_embed.weight");
    dec->no_mask =
        fetch(s, INIT_NORMAL, 1.0f, 2, (int64_t[]){1, D}, "prompt_encoder.no_mask_embed.weight");
    const int64_t mh = c->mask_hidden, mic = c->mask_in_chans;
    dec->md_w[0] = fetch(s, INIT_UNIFORM, 0.5f, 4, (int64_t[]){mh, 1, 2, 2},
                         "prompt_encoder.mask_downscaling.0.weight");
    dec->md_b[0] = fetch(s, INIT_UNIFORM, 0.5f, 1, (int64_t[]){mh},
                         "prompt_encoder.mask_downscaling.0.bias");
    fetch_norm(s, "prompt_encoder.mask_downscaling.1", mh, &dec->md_norm[0]);
    const float b1 = 1.0f / sqrtf(4.0f * (float)mh);
    dec->md_w[1] = fetch(s, INIT_UNIFORM, b1, 4, (int64_t[]){mic, mh, 2, 2},
                         "prompt_encoder.mask_downscaling.3.weight");
    dec->md_b[1] = fetch(s, INIT_UNIFORM, b1, 1, (int64_t[]){mic},
                         "prompt_encoder.mask_downscaling.3.bias");
    fetch_norm(s, "prompt_encoder.mask_downscaling.4", mic, &dec->md_norm[1]);
    const float b2 = 1.0f / sqrtf((float)mic);
    dec->md_w[2] = fetch(s, INIT_UNIFORM, b2, 4, (int64_t[]){D, mic, 1, 1},
                         "prompt_encoder.mask_downscaling.6.weight");
    dec->md_b[2] = fetch(s, INIT_UNIFORM, b2, 1, (int64_t[]){D},
                         "prompt_encoder.mask_downscaling.6.bias");

    const int32_t M = c->num_mask_tokens, Di = c->cross_dim;
    dec->iou_token =
        fetch(s, INIT_NORMAL, 1.0f, 2, (int64_t[]){1, D}, "mask_decoder.iou_token.weight");
    dec->mask_tokens =
        fetch(s, INIT_NORMAL, 1.0f, 2, (int64_t[]){M, D}, "mask_decoder.mask_tokens.weight");
    for (int32_t l = 0; l < c->depth; l++) {
        block *bk = &dec->blocks[l];
        char p[256], name[300];
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d", l);
        snprintf(name, sizeof name, "%s.self_attn", p);
        fetch_attention(s, name, D, D, &bk->self_attn);
        snprintf(name, sizeof name, "%s.cross_attn_token_to_image", p);
        fetch_attention(s, name, D, Di, &bk->t2i);
        snprintf(name, sizeof name, "%s.cross_attn_image_to_token", p);
        fetch_attention(s, name, D, Di, &bk->i2t);
        for (int32_t n = 0; n < 4; n++) {
            snprintf(name, sizeof name, "%s.norm%d", p, n + 1);
            fetch_norm(s, name, D, &bk->norm[n]);
        }
        const float *w, *b;
        snprintf(name, sizeof name, "%s.mlp.lin1", p);
        fetch_linear(s, name, c->mlp_dim, D, &w, &b);
        bk->lin1 = make_linear(s, w, b, c->mlp_dim, D, AM_PRECISION_F32);
        snprintf(name, sizeof name, "%s.mlp.lin2", p);
        fetch_linear(s, name, D, c->mlp_dim, &w, &b);
        bk->lin2 = make_linear(s, w, b, D, c->mlp_dim, AM_PRECISION_F32);
    }
    fetch_attention(s, "mask_decoder.transformer.final_attn_token_to_image", D, Di,
                    &dec->final_attn);
    fetch_norm(s, "mask_decoder.transformer.norm_final_attn", D, &dec->norm_final);
    const attention *t0 = &dec->blocks[0].t2i, *i0 = &dec->blocks[0].i2t;
    dec->img_k0 = make_linear(s, t0->wk, t0->bk, Di, D, prec);
    dec->img_v0 = make_linear(s, t0->wv, t0->bv, Di, D, prec);
    dec->img_q0 = make_linear(s, i0->wq, i0->bq, Di, D, prec);

    const int32_t u1 = c->up1, u2 = c->up2;
    const float bu1 = 1.0f / sqrtf(4.0f * (float)u1), bu2 = 1.0f / sqrtf(4.0f * (float)u2);
    const float *w0 = fetch(s, INIT_UNIFORM, bu1, 4, (int64_t[]){D, u1, 2, 2},
                            "mask_decoder.output_upscaling.0.weight");
    const float *bb0 =
        fetch(s, INIT_UNIFORM, bu1, 1, (int64_t[]){u1}, "mask_decoder.output_upscaling.0.bias");
    fetch_norm(s, "mask_decoder.output_upscaling.1", u1, &dec->up_norm);
    const float *w3 = fetch(s, INIT_UNIFORM, bu2, 4, (int64_t[]){u1, u2, 2, 2},
                            "mask_decoder.output_upscaling.3.weight");
    const float *bb3 =
        fetch(s, INIT_UNIFORM, bu2, 1, (int64_t[]){u2}, "mask_decoder.output_upscaling.3.bias");
    dec->up_lin1 = make_upscale(s, w0, bb0, D, u1, prec);
    dec->up_lin2 = make_upscale(s, w3, bb3, u1, u2, prec);
    for (int32_t m = 0; m < M; m++) {
        char name[256];
        snprintf(name, sizeof name, "mask_decoder.output_hypernetworks_mlps.%d", m);
        fetch_mlp(s, name, c->hyper_depth, D, D, u2, &dec->hyper[m]);
    }
    fetch_mlp(s, "mask_decoder.iou_prediction_head", c->iou_depth, D, c->iou_hidden, M,
              &dec->iou_head);
}

/* Checks that a config describes a decoder this code can run. */
static am_status check_config(const sam_decoder_config *c, am_error *err) {
    const int ok = c->embed_dim >= 2 && c->embed_dim <= 4096 && c->embed_dim % 2 == 0 &&
                   c->grid >= 1 && c->grid <= 256 && c->input_size >= 1 &&
                   c->input_size <= 16384 && c->mask_hidden >= 1 && c->mask_hidden <= 4096 &&
                   c->mask_in_chans >= 1 && c->mask_in_chans <= 4096 && c->depth >= 1 &&
                   c->depth <= MAX_DEPTH && c->heads >= 1 && c->heads <= 256 &&
                   c->embed_dim % c->heads == 0 && c->mlp_dim >= 1 && c->mlp_dim <= 65536 &&
                   c->cross_dim >= 1 && c->cross_dim <= 4096 && c->cross_dim % c->heads == 0 &&
                   c->num_mask_tokens >= 1 && c->num_mask_tokens <= MAX_MASK_TOKENS &&
                   c->iou_depth >= 1 && c->iou_depth <= MAX_MLP_LAYERS && c->iou_hidden >= 1 &&
                   c->iou_hidden <= 65536 && c->hyper_depth >= 1 &&
                   c->hyper_depth <= MAX_MLP_LAYERS && c->up1 >= 1 && c->up1 <= 4096 &&
                   c->up2 >= 1 && c->up2 <= 4096;
    if (!ok)
        return am_error_set(err, AM_ERR_MODEL,
                            "SAM decoder sizes out of range (dim %d, heads %d, cross dim %d, "
                            "depth %d, grid %d, mask tokens %d)",
                            c->embed_dim, c->heads, c->cross_dim, c->depth, c->grid,
                            c->num_mask_tokens);
    return AM_OK;
}

sam_decoder_config sam_decoder_config_default(int32_t grid, int32_t input_size) {
    sam_decoder_config c = {
        .embed_dim = 256, .grid = grid, .input_size = input_size, .mask_hidden = 4,
        .mask_in_chans = 16, .depth = 2, .heads = 8, .mlp_dim = 2048, .cross_dim = 128,
        .num_mask_tokens = 4, .iou_depth = 3, .iou_hidden = 256, .hyper_depth = 3,
        .up1 = 64, .up2 = 32,
    };
    return c;
}

/* Computes the dense positional encoding and its token-major copy. */
static am_status make_dense_pe(sam_decoder *dec, am_error *err) {
    const int32_t D = dec->cfg.embed_dim, G = dec->cfg.grid, N = G * G;
    dec->dense_pe = owned_floats(dec, (int64_t)D * N, err);
    dec->pe_tok = dec->dense_pe ? owned_floats(dec, (int64_t)D * N, err) : NULL;
    if (!dec->pe_tok) return AM_ERR_NOMEM;
    for (int32_t i = 0; i < G; i++)
        for (int32_t j = 0; j < G; j++) {
            const float u = ((float)(j + 1) - 0.5f) / (float)G;
            const float v = ((float)(i + 1) - 0.5f) / (float)G;
            float *t = dec->pe_tok + (int64_t)(i * G + j) * D;
            pe_encode(dec->gauss, D / 2, u, v, t);
            for (int32_t c = 0; c < D; c++) dec->dense_pe[(int64_t)c * N + i * G + j] = t[c];
        }
    return AM_OK;
}

/* Allocates the fixed per-image buffers. */
static am_status alloc_image_side(sam_decoder *dec, image_side *s, am_error *err) {
    const int64_t N = (int64_t)dec->cfg.grid * dec->cfg.grid, D = dec->cfg.embed_dim,
                  Di = dec->cfg.cross_dim;
    s->keys = owned_floats(dec, N * D, err);
    s->kin = s->keys ? owned_floats(dec, N * D, err) : NULL;
    s->k = s->kin ? owned_floats(dec, N * Di, err) : NULL;
    s->v = s->k ? owned_floats(dec, N * Di, err) : NULL;
    s->q = s->v ? owned_floats(dec, N * Di, err) : NULL;
    return s->q ? AM_OK : AM_ERR_NOMEM;
}

/* Builds a decoder from a source (file or random) for cfg, which the caller
 * has checked. */
static am_status build(source *s, const sam_decoder_config *cfg, am_precision precision,
                       sam_decoder **out, am_error *err) {
    *out = NULL;
    sam_decoder *dec = calloc(1, sizeof *dec);
    if (!dec) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    dec->cfg = *cfg;
    dec->precision = precision;
    s->dec = dec;
    s->err = err;
    s->status = AM_OK;
    fetch_all(s, dec);
    am_status st = s->status;
    if (st == AM_OK) st = make_dense_pe(dec, err);
    if (st == AM_OK) {
        const int64_t N = (int64_t)cfg->grid * cfg->grid;
        dec->image = owned_floats(dec, N * cfg->embed_dim, err);
        st = dec->image ? AM_OK : AM_ERR_NOMEM;
    }
    if (st == AM_OK) st = alloc_image_side(dec, &dec->nomask, err);
    if (st == AM_OK) st = alloc_image_side(dec, &dec->masked, err);
    if (st != AM_OK) {
        sam_decoder_free(dec);
        return st;
    }
    *out = dec;
    return AM_OK;
}

/* Shape dimension i of tensor `name`, or -1 when absent. */
static int64_t dim_of(am_weights *w, const char *name, int32_t i) {
    const am_tensor_info *t = am_weights_find(w, name);
    return t && i < t->ndim ? t->shape[i] : -1;
}

/* Number of consecutive i (from 0) for which fmt % i names a tensor. */
static int32_t count_indexed(am_weights *w, const char *fmt) {
    int32_t n = 0;
    char name[256];
    for (;;) {
        snprintf(name, sizeof name, fmt, n);
        if (!am_weights_find(w, name) || n >= 64) return n;
        n++;
    }
}

/* Infers the decoder sizes from the tensor shapes and the optional config
 * JSON (which must agree with them). */
static am_status infer_config(am_weights *w, const char *config_path, int32_t grid,
                              int32_t input_size, sam_decoder_config *c, am_error *err) {
    *c = sam_decoder_config_default(grid, input_size);
    const char *path = am_weights_path(w);
    const int64_t D = dim_of(w, "prompt_encoder.no_mask_embed.weight", 1);
    if (D <= 0)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: no tensor 'prompt_encoder.no_mask_embed.weight': not a SAM "
                            "prompt encoder",
                            path);
    if (!am_weights_find(w, "mask_decoder.iou_token.weight"))
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: no tensor 'mask_decoder.iou_token.weight': not a SAM mask decoder",
                            path);
    c->embed_dim = (int32_t)D;
    c->mask_hidden = (int32_t)dim_of(w, "prompt_encoder.mask_downscaling.0.weight", 0);
    c->mask_in_chans = (int32_t)dim_of(w, "prompt_encoder.mask_downscaling.3.weight", 0);
    c->depth = count_indexed(w, "mask_decoder.transformer.layers.%d.norm1.weight");
    c->mlp_dim = (int32_t)dim_of(w, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 0);
    c->cross_dim = (int32_t)dim_of(
        w, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight", 0);
    c->num_mask_tokens = (int32_t)dim_of(w, "mask_decoder.mask_tokens.weight", 0);
    c->iou_depth = count_indexed(w, "mask_decoder.iou_prediction_head.layers.%d.weight");
    c->iou_hidden =
        (int32_t)dim_of(w, "mask_decoder.iou_prediction_head.layers.0.weight", 0);
    c->hyper_depth =
        count_indexed(w, "mask_decoder.output_hypernetworks_mlps.0.layers.%d.weight");
    c->up1 = (int32_t)dim_of(w, "mask_decoder.output_upscaling.0.weight", 1);
    c->up2 = (int32_t)dim_of(w, "mask_decoder.output_upscaling.3.weight", 1);
    if (c->iou_depth == 1) c->iou_hidden = c->num_mask_tokens;
    if (config_path) {
        json_t *j;
        am_status st = sam_config_load(config_path, &j, err);
        if (st == AM_OK) st = sam_config_apply_decoder(j, config_path, path, c, err);
        json_decref(j);
        return st;
    }
    return AM_OK;
}

am_status sam_decoder_load(am_weights *w, const char *config_path, int32_t grid,
                           int32_t input_size, am_precision precision, sam_decoder **out,
                           am_error *err) {
    *out = NULL;
    sam_decoder_config cfg;
    am_status st = infer_config(w, config_path, grid, input_size, &cfg, err);
    if (st != AM_OK) return st;
    if ((st = check_config(&cfg, err)) != AM_OK) {
        am_error_prefix(err, "%s: ", config_path ? config_path : am_weights_path(w));
        return st;
    }
    source s = {.w = w};
    return build(&s, &cfg, precision, out, err);
}

am_status sam_decoder_create_random(const sam_decoder_config *cfg, uint64_t seed,
                                    am_precision precision, sam_decoder **out, am_error *err) {
    *out = NULL;
    am_status st = check_config(cfg, err);
    if (st != AM_OK) return st;
    source s = {.w = NULL};
    am_rng_seed(&s.rng, seed);
    return build(&s, cfg, precision, out, err);
}

static void free_workspace(workspace *ws) {
    float *bufs[] = {ws->q,  ws->qpe, ws->x,  ws->y,    ws->sa,    ws->h,  ws->qt, ws->kt,
                     ws->vt, ws->o,   ws->keys, ws->lg, ws->hyper, ws->y1, ws->y2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) am_free(bufs[i]);
    for (int32_t i = 0; ws->scr && i < ws->n_scr; i++) {
        scratch *w = &ws->scr[i];
        float *sb[] = {w->u, w->wt, w->z, w->cst, w->kh, w->a, w->rows, w->pt, w->m, w->sum,
                       w->zero};
        for (size_t k = 0; k < sizeof sb / sizeof *sb; k++) am_free(sb[k]);
    }
    free(ws->scr);
    memset(ws, 0, sizeof *ws);
}

void sam_decoder_free(sam_decoder *dec) {
    if (!dec) return;
    for (int32_t l = 0; l < MAX_DEPTH; l++) {
        block *bk = &dec->blocks[l];
        free_attention(&bk->self_attn);
        free_attention(&bk->t2i);
        free_attention(&bk->i2t);
        am_linear_free(bk->lin1);
        am_linear_free(bk->lin2);
    }
    free_attention(&dec->final_attn);
    am_linear_free(dec->img_k0);
    am_linear_free(dec->img_v0);
    am_linear_free(dec->img_q0);
    am_linear_free(dec->up_lin1);
    am_linear_free(dec->up_lin2);
    for (int32_t m = 0; m < MAX_MASK_TOKENS; m++) free_mlp(&dec->hyper[m]);
    free_mlp(&dec->iou_head);
    free_workspace(&dec->ws);
    for (int32_t i = 0; i < dec->n_owned; i++) am_free(dec->owned[i]);
    free(dec->owned);
    free(dec);
}

const sam_decoder_config *sam_decoder_get_config(const sam_decoder *dec) {
    return &dec->cfg;
}

int32_t sam_decoder_lowres_size(const sam_decoder *dec) {
    return 4 * dec->cfg.grid;
}

const float *sam_decoder_dense_pe(const sam_decoder *dec) {
    return dec->dense_pe;
}

/* ------------------------------------------------------------------------ */
/* Prompt encoder                                                            */
/* ------------------------------------------------------------------------ */

am_status sam_decoder_embed_sparse(const sam_decoder *dec, const float *uv,
                                   const int32_t *labels, int32_t n_points, const float *box_uv,
                                   float *tokens, int32_t *n_tokens, am_error *err) {
    const int32_t D = dec->cfg.embed_dim, F = D / 2;
    if (n_points < 0 || (n_points > 0 && (!uv || !labels)))
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM prompt: %d points without coordinates",
                            n_points);
    for (int32_t i = 0; i < n_points; i++)
        if (labels[i] < -1 || labels[i] > 1)
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "SAM prompt: point %d has label %d (1 positive, 0 negative, -1 "
                                "ignored)",
                                i, labels[i]);
    int32_t n = 0;
    for (int32_t i = 0; i < n_points; i++, n++) {
        float *t = tokens + (int64_t)n * D;
        if (labels[i] == -1) {
            memcpy(t, dec->not_a_point, (size_t)D * sizeof *t);
            continue;
        }
        pe_encode(dec->gauss, F, uv[2 * i], uv[2 * i + 1], t);
        const float *e = dec->point_embed[labels[i]];
        for (int32_t c = 0; c < D; c++) t[c] += e[c];
    }
    if (!box_uv) {
        if (n_points > 0) {
            memcpy(tokens + (int64_t)n * D, dec->not_a_point, (size_t)D * sizeof *tokens);
            n++;
        }
    } else {
        for (int32_t k = 0; k < 2; k++, n++) {
            float *t = tokens + (int64_t)n * D;
            pe_encode(dec->gauss, F, box_uv[2 * k], box_uv[2 * k + 1], t);
            const float *e = dec->point_embed[2 + k];
            for (int32_t c = 0; c < D; c++) t[c] += e[c];
        }
    }
    *n_tokens = n;
    return AM_OK;
}

/* LayerNorm2d over the c channels of each of n pixels of x [c][n], then
 * GELU, in place. */
static void norm2d_gelu(float *x, int32_t c, int64_t n, const norm_params *p) {
    float col[4096]; /* c <= 4096 (check_config) */
    for (int64_t i = 0; i < n; i++) {
        for (int32_t k = 0; k < c; k++) col[k] = x[k * n + i];
        layer_norm_row(col, col, c, p->w, p->b, LN2D_EPS);
        sam_gelu_inplace(col, c);
        for (int32_t k = 0; k < c; k++) x[k * n + i] = col[k];
    }
}

/* A 2x2 stride-2 convolution of x [ci][s][s] by w [co][ci][2][2] + b into
 * y [co][s/2][s/2]. */
static void conv2x2(const float *x, int32_t ci, int32_t s, const float *w, const float *b,
                    int32_t co, float *y) {
    const int32_t h = s / 2;
    for (int32_t o = 0; o < co; o++)
        for (int32_t i = 0; i < h; i++)
            for (int32_t j = 0; j < h; j++) {
                float acc = b[o];
                for (int32_t c = 0; c < ci; c++)
                    for (int32_t ky = 0; ky < 2; ky++)
                        for (int32_t kx = 0; kx < 2; kx++)
                            acc += w[((o * ci + c) * 2 + ky) * 2 + kx] *
                                   x[((int64_t)c * s + 2 * i + ky) * s + 2 * j + kx];
                y[((int64_t)o * h + i) * h + j] = acc;
            }
}

am_status sam_decoder_embed_dense(const sam_decoder *dec, const float *mask_input, float *dense,
                                  am_error *err) {
    const int32_t G = dec->cfg.grid, L = 4 * G, D = dec->cfg.embed_dim;
    const int32_t mh = dec->cfg.mask_hidden, mic = dec->cfg.mask_in_chans;
    const int64_t N = (int64_t)G * G;
    float *a = am_alloc((size_t)mh * (2 * G) * (2 * G), sizeof *a, err);
    float *b = a ? am_alloc((size_t)mic * N, sizeof *b, err) : NULL;
    if (!b) {
        am_free(a);
        return AM_ERR_NOMEM;
    }
    conv2x2(mask_input, 1, L, dec->md_w[0], dec->md_b[0], mh, a);
    norm2d_gelu(a, mh, (int64_t)(2 * G) * (2 * G), &dec->md_norm[0]);
    conv2x2(a, mh, 2 * G, dec->md_w[1], dec->md_b[1], mic, b);
    norm2d_gelu(b, mic, N, &dec->md_norm[1]);
    for (int32_t o = 0; o < D; o++)
        for (int64_t i = 0; i < N; i++) {
            float acc = dec->md_b[2][o];
            for (int32_t c = 0; c < mic; c++) acc += dec->md_w[2][o * mic + c] * b[c * N + i];
            dense[o * N + i] = acc;
        }
    am_free(a);
    am_free(b);
    return AM_OK;
}

/* ------------------------------------------------------------------------ */
/* Image side                                                                */
/* ------------------------------------------------------------------------ */

/* Block 0's image side for the image plus a dense embedding given as
 * per-channel constants (no mask: stride 0) or a [D][N] map. */
static am_status compute_image_side(sam_decoder *dec, const float *dense, int64_t dense_stride,
                                    image_side *s, am_error *err) {
    const int32_t D = dec->cfg.embed_dim, Di = dec->cfg.cross_dim;
    const int64_t N = (int64_t)dec->cfg.grid * dec->cfg.grid;
#pragma omp parallel for schedule(static)
    for (int64_t x = 0; x < N; x++)
        for (int32_t c = 0; c < D; c++) {
            const float k = dec->image[x * D + c] + (dense_stride ? dense[c * dense_stride + x] : dense[c]);
            s->keys[x * D + c] = k;
            s->kin[x * D + c] = k + dec->pe_tok[x * D + c];
        }
    am_status st = am_linear_forward(dec->img_k0, s->kin, D, N, s->k, Di, err);
    if (st == AM_OK) st = am_linear_forward(dec->img_v0, s->keys, D, N, s->v, Di, err);
    if (st == AM_OK) st = am_linear_forward(dec->img_q0, s->kin, D, N, s->q, Di, err);
    return st;
}

am_status sam_decoder_set_image(sam_decoder *dec, const float *embedding, am_error *err) {
    const int32_t D = dec->cfg.embed_dim;
    const int64_t N = (int64_t)dec->cfg.grid * dec->cfg.grid;
    dec->has_image = 0;
    dec->ws.run_b = 0;
    for (int64_t x = 0; x < N; x++)
        for (int32_t c = 0; c < D; c++) dec->image[x * D + c] = embedding[c * N + x];
    am_status st = compute_image_side(dec, dec->no_mask, 0, &dec->nomask, err);
    if (st == AM_OK) dec->has_image = 1;
    return st;
}

/* ------------------------------------------------------------------------ */
/* The two-way transformer                                                   */
/* ------------------------------------------------------------------------ */

/* Allocates one thread's scratch for nt tokens. */
static am_status alloc_scratch(const sam_decoder_config *c, int32_t nt, scratch *w,
                               am_error *err) {
    const int64_t D = c->embed_dim, TH = (int64_t)nt * c->heads, nc = logit_cols((int32_t)TH);
    struct {
        float **p;
        int64_t n;
    } want[] = {
        {&w->u, TH * D},          {&w->wt, D * nc},         {&w->z, TH * D},
        {&w->cst, nc},            {&w->kh, (int64_t)c->cross_dim * nt},
        {&w->a, T2I_BLOCK * nc},  {&w->rows, T2I_BLOCK * D}, {&w->pt, nc * T2I_BLOCK},
        {&w->m, nc},              {&w->sum, nc},            {&w->zero, nc},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        *want[i].p = am_calloc((size_t)want[i].n, sizeof(float), err);
        if (!*want[i].p) return AM_ERR_NOMEM;
    }
    return AM_OK;
}

/* Makes the workspace hold b prompts of t tokens for `threads` threads. */
static am_status reserve(sam_decoder *dec, int32_t b, int32_t t, int32_t threads,
                         am_error *err) {
    workspace *ws = &dec->ws;
    if (ws->b >= b && ws->t >= t && ws->n_scr >= threads) return AM_OK;
    const int32_t nb = ws->b > b ? ws->b : b, nt = ws->t > t ? ws->t : t;
    const int32_t nth = ws->n_scr > threads ? ws->n_scr : threads;
    free_workspace(ws);
    const sam_decoder_config *c = &dec->cfg;
    const int64_t D = c->embed_dim, Di = c->cross_dim, M = c->num_mask_tokens;
    const int64_t N = (int64_t)c->grid * c->grid, R = (int64_t)nb * nt;
    int64_t wide = c->mlp_dim > D ? c->mlp_dim : D;
    wide = c->iou_hidden > wide ? c->iou_hidden : wide;
    struct {
        float **p;
        int64_t n;
    } want[] = {
        {&ws->q, R * D},          {&ws->qpe, R * D},       {&ws->x, R * D},
        {&ws->y, R * D},          {&ws->sa, 4 * R * D},    {&ws->h, 2 * R * wide},
        {&ws->qt, R * Di},        {&ws->kt, R * Di},       {&ws->vt, R * Di},
        {&ws->o, R * Di},         {&ws->keys, nb * N * D}, {&ws->lg, R * N},
        {&ws->hyper, nb * M * c->up2},
        {&ws->y1, N * 4 * c->up1}, {&ws->y2, N * 16 * c->up2},
    };
    am_status st = AM_OK;
    for (size_t i = 0; st == AM_OK && i < sizeof want / sizeof *want; i++) {
        *want[i].p = am_alloc((size_t)want[i].n, sizeof(float), err);
        if (!*want[i].p) st = AM_ERR_NOMEM;
    }
    ws->scr = st == AM_OK ? calloc((size_t)nth, sizeof *ws->scr) : NULL;
    if (st == AM_OK && !ws->scr) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    if (ws->scr) ws->n_scr = nth;
    for (int32_t i = 0; st == AM_OK && i < nth; i++) st = alloc_scratch(c, nt, &ws->scr[i], err);
    if (st != AM_OK) {
        free_workspace(ws);
        return st;
    }
    ws->b = nb;
    ws->t = nt;
    ws->h_half = R * wide;
    return AM_OK;
}

/* Self-attention over each prompt's T tokens: out [R][D] =
 * out_proj(attn(q_proj(qk), k_proj(qk), v_proj(v))). */
static am_status self_attention(sam_decoder *dec, const attention *a, const float *qk,
                                const float *v, int32_t B, int32_t T, float *out, am_error *err) {
    workspace *ws = &dec->ws;
    const int32_t D = dec->cfg.embed_dim, H = dec->cfg.heads, W = a->inner, dh = W / H;
    const int64_t R = (int64_t)B * T;
    float *Q = ws->sa, *K = ws->sa + R * D, *V = ws->sa + 2 * R * D, *O = ws->sa + 3 * R * D;
    am_status st = am_linear_forward(a->q, qk, D, R, Q, W, err);
    if (st == AM_OK) st = am_linear_forward(a->k, qk, D, R, K, W, err);
    if (st == AM_OK) st = am_linear_forward(a->v, v, D, R, V, W, err);
    if (st != AM_OK) return st;
    const float div = (float)sqrt((double)dh);
    for (int32_t b = 0; b < B; b++)
        for (int32_t h = 0; h < H; h++)
            for (int32_t i = 0; i < T; i++) {
                float p[1 + MAX_MASK_TOKENS + 64];
                const float *qi = Q + ((int64_t)b * T + i) * W + h * dh;
                float mx = -INFINITY;
                for (int32_t j = 0; j < T; j++) {
                    const float *kj = K + ((int64_t)b * T + j) * W + h * dh;
                    float s = 0.0f;
                    for (int32_t d = 0; d < dh; d++) s += qi[d] * kj[d];
                    p[j] = s / div;
                    mx = p[j] > mx ? p[j] : mx;
                }
                float sum = 0.0f;
                for (int32_t j = 0; j < T; j++) {
                    p[j] = expf(p[j] - mx);
                    sum += p[j];
                }
                float *oi = O + ((int64_t)b * T + i) * W + h * dh;
                for (int32_t d = 0; d < dh; d++) oi[d] = 0.0f;
                for (int32_t j = 0; j < T; j++) {
                    const float w = p[j] / sum;
                    const float *vj = V + ((int64_t)b * T + j) * W + h * dh;
                    for (int32_t d = 0; d < dh; d++) oi[d] += w * vj[d];
                }
            }
    return am_linear_forward(a->o, O, W, R, out, D, err);
}


/* out[r][0..n) = bias[r] + sum_{j < nj} w[r][j] Z[j] for r < nr <= I2T_ROWS:
 * rows of w are ldw floats apart, of Z ldz, of out ldo, of bias ldb (0: one
 * vector for all rows); out may be bias.  A register block of 8 rows x 32
 * columns (then 16, then a masked rest), so that each load of Z feeds 16
 * FMAs. */
static void weighted_rows(const float *w, int32_t ldw, int32_t nr, int32_t nj, const float *Z,
                          int32_t ldz, int32_t n, const float *bias, int32_t ldb, float *out,
                          int32_t ldo) {
    int32_t c = 0;
#if defined(__AVX512F__)
    if (nr == I2T_ROWS) {
        for (; c + 32 <= n; c += 32) {
            __m512 acc[I2T_ROWS][2];
            for (int32_t r = 0; r < I2T_ROWS; r++) {
                acc[r][0] = _mm512_loadu_ps(bias + (int64_t)r * ldb + c);
                acc[r][1] = _mm512_loadu_ps(bias + (int64_t)r * ldb + c + 16);
            }
            for (int32_t j = 0; j < nj; j++) {
                const __m512 z0 = _mm512_loadu_ps(Z + (int64_t)j * ldz + c);
                const __m512 z1 = _mm512_loadu_ps(Z + (int64_t)j * ldz + c + 16);
                for (int32_t r = 0; r < I2T_ROWS; r++) {
                    const __m512 a = _mm512_set1_ps(w[r * ldw + j]);
                    acc[r][0] = _mm512_fmadd_ps(a, z0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(a, z1, acc[r][1]);
                }
            }
            for (int32_t r = 0; r < I2T_ROWS; r++) {
                _mm512_storeu_ps(out + (int64_t)r * ldo + c, acc[r][0]);
                _mm512_storeu_ps(out + (int64_t)r * ldo + c + 16, acc[r][1]);
            }
        }
        for (; c < n; c += 16) {
            const __mmask16 m = n - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - c)) - 1u);
            __m512 acc[I2T_ROWS];
            for (int32_t r = 0; r < I2T_ROWS; r++)
                acc[r] = _mm512_maskz_loadu_ps(m, bias + (int64_t)r * ldb + c);
            for (int32_t j = 0; j < nj; j++) {
                const __m512 z = _mm512_maskz_loadu_ps(m, Z + (int64_t)j * ldz + c);
                for (int32_t r = 0; r < I2T_ROWS; r++)
                    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[r * ldw + j]), z, acc[r]);
            }
            for (int32_t r = 0; r < I2T_ROWS; r++)
                _mm512_mask_storeu_ps(out + (int64_t)r * ldo + c, m, acc[r]);
        }
    }
#endif
    for (int32_t r = 0; r < nr; r++)
        for (int32_t cc = c; cc < n; cc++) {
            float acc = bias[(int64_t)r * ldb + cc];
            for (int32_t j = 0; j < nj; j++) acc += w[r * ldw + j] * Z[(int64_t)j * ldz + cc];
            out[(int64_t)r * ldo + cc] = acc;
        }
}


/* out[(h T + t)][c] = scale sum_d in[t][h dh + d] W[h dh + d][c] (t < T,
 * h < H): the per-head products of T token rows in [T][Di] with a
 * projection's weight W [Di][D] read transposed, in head-major order. */
static void head_rows(const float *in, int32_t T, int32_t Di, int32_t H, const float *W, int32_t D,
                      float scale, float *out) {
    const int32_t dh = Di / H;
    for (int32_t h = 0; h < H; h++)
        for (int32_t t = 0; t < T; t++) {
            float *o = out + (int64_t)(h * T + t) * D;
            memset(o, 0, (size_t)D * sizeof *o);
            for (int32_t d = 0; d < dh; d++) {
                const float f = scale * in[t * Di + h * dh + d];
                const float *w = W + (int64_t)(h * dh + d) * D;
#pragma omp simd
                for (int32_t c = 0; c < D; c++) o[c] += f * w[c];
            }
        }
}

/* wt[c][j] = u[j][c] for j < n, c < D (rows of wt ldt floats apart). */
static void transpose_rows(const float *u, int32_t n, int32_t D, int32_t ldt, float *wt) {
    for (int32_t j = 0; j < n; j++)
        for (int32_t c = 0; c < D; c++) wt[(int64_t)c * ldt + j] = u[(int64_t)j * D + c];
}

/* Z[(h T + t)][c] = sum_d Wo[c][h dh + d] v[t][h dh + d]: each (head,
 * token) value through its head's slice of the out projection Wo [D][Di]. */
static void head_values(const float *v, int32_t T, int32_t Di, int32_t H, const float *Wo,
                        int32_t D, float *Z) {
    const int32_t dh = Di / H;
    for (int32_t h = 0; h < H; h++)
        for (int32_t t = 0; t < T; t++) {
            const float *vv = v + t * Di + h * dh;
            float *z = Z + (int64_t)(h * T + t) * D;
            for (int32_t c = 0; c < D; c++) {
                const float *w = Wo + (int64_t)c * Di + h * dh;
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int32_t d = 0; d < dh; d++) sum += w[d] * vv[d];
                z[c] = sum;
            }
        }
}

/* o[t][h dh + d] = sum_c S[(h T + t)][c] Wv[h dh + d][c] + bv[h dh + d]:
 * the value projection applied after the attention's weighted sum. */
static void head_outputs(const float *S, int32_t T, int32_t Di, int32_t H, const float *Wv,
                         const float *bv, int32_t D, float *o) {
    const int32_t dh = Di / H;
    for (int32_t h = 0; h < H; h++)
        for (int32_t t = 0; t < T; t++) {
            const float *sr = S + (int64_t)(h * T + t) * D;
            for (int32_t d = 0; d < dh; d++) {
                const float *w = Wv + (int64_t)(h * dh + d) * D;
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int32_t c = 0; c < D; c++) sum += sr[c] * w[c];
                o[t * Di + h * dh + d] = sum + bv[h * dh + d];
            }
        }
}

/* Reassociated token-to-image attention of one prompt, single-threaded:
 * the query projections qt [tq][Di] against keys [N][D], the output before
 * out_proj into o [tq][Di].  U = s Wk_h^T q_t per (head, token); the logits
 * U . (keys + pe) and the softmax-weighted sum of keys in one pass over the
 * image rows with an online softmax (running maximum, sum and weighted sum
 * per row of U, rescaled when the maximum grows). */
static void t2i_one(const sam_decoder *dec, const attention *a, const float *qt, int32_t tq,
                    const float *keys, float *o, scratch *w) {
    const int32_t D = dec->cfg.embed_dim, H = dec->cfg.heads, Di = a->inner, dh = Di / H;
    const int64_t N = (int64_t)dec->cfg.grid * dec->cfg.grid;
    const int32_t rows = tq * H, nc = logit_cols(rows);
    const float *pe = dec->pe_tok;
    head_rows(qt, tq, Di, H, a->wk, D, (float)(1.0 / sqrt((double)dh)), w->u);
    transpose_rows(w->u, rows, D, nc, w->wt);
    float *S = w->z;
    for (int32_t j = 0; j < rows; j++) {
        w->m[j] = -INFINITY;
        w->sum[j] = 0.0f;
    }
    memset(S, 0, (size_t)rows * D * sizeof *S);
    for (int64_t x0 = 0; x0 < N; x0 += T2I_BLOCK) {
        const int32_t nr = (int32_t)(N - x0 < T2I_BLOCK ? N - x0 : T2I_BLOCK);
        const float *kb = keys + x0 * D;
        for (int64_t i = 0; i < (int64_t)nr * D; i++) w->rows[i] = kb[i] + pe[x0 * D + i];
        for (int32_t r = 0; r < nr; r += I2T_ROWS)
            weighted_rows(w->rows + (int64_t)r * D, D, nr - r < I2T_ROWS ? nr - r : I2T_ROWS, D,
                          w->wt, nc, rows, w->zero, 0, w->a + (int64_t)r * nc, nc);
        for (int32_t j = 0; j < rows; j++) {
            float bm = w->a[j];
            for (int32_t r = 1; r < nr; r++) bm = w->a[r * nc + j] > bm ? w->a[r * nc + j] : bm;
            if (bm > w->m[j]) {
                const float scale = expf(w->m[j] - bm); /* 0 on the first block */
                w->sum[j] *= scale;
                float *Sj = S + (int64_t)j * D;
#pragma omp simd
                for (int32_t c = 0; c < D; c++) Sj[c] *= scale;
                w->m[j] = bm;
            }
        }
        for (int32_t r = 0; r < nr; r++) {
            float *ar = w->a + (int64_t)r * nc;
#pragma omp simd
            for (int32_t j = 0; j < rows; j++) ar[j] -= w->m[j];
            exp_inplace(ar, rows);
        }
        for (int32_t j = 0; j < rows; j++) {
            float sum = 0.0f;
            for (int32_t r = 0; r < nr; r++) {
                w->pt[(int64_t)j * T2I_BLOCK + r] = w->a[r * nc + j];
                sum += w->a[r * nc + j];
            }
            w->sum[j] += sum;
        }
        for (int32_t j0 = 0; j0 < rows; j0 += I2T_ROWS)
            weighted_rows(w->pt + (int64_t)j0 * T2I_BLOCK, T2I_BLOCK,
                          rows - j0 < I2T_ROWS ? rows - j0 : I2T_ROWS, nr, kb, D, D,
                          S + (int64_t)j0 * D, D, S + (int64_t)j0 * D, D);
    }
    for (int32_t j = 0; j < rows; j++) {
        const float inv = 1.0f / w->sum[j];
        float *Sj = S + (int64_t)j * D;
#pragma omp simd
        for (int32_t c = 0; c < D; c++) Sj[c] *= inv;
    }
    head_outputs(S, tq, Di, H, a->wv, a->bv, D, o);
}

/* Token-to-image attention of block 0 for all R token rows at once against
 * the shared projections k, v [N][Di]: o [R][Di] before out_proj. */
static void t2i_shared(sam_decoder *dec, const attention *a, const float *qt, int64_t R,
                       const image_side *s, float *o) {
    workspace *ws = &dec->ws;
    const int32_t H = dec->cfg.heads, Di = a->inner, dh = Di / H;
    const int32_t N = dec->cfg.grid * dec->cfg.grid;
    const float scale = (float)(1.0 / sqrt((double)dh));
    for (int32_t h = 0; h < H; h++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, N, dh, scale, qt + h * dh,
                    Di, s->k + h * dh, Di, 0.0f, ws->lg, N);
        softmax_rows(ws->lg, R, N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, dh, N, 1.0f, ws->lg, N,
                    s->v + h * dh, Di, 0.0f, o + h * dh, Di);
    }
}

/* keys = row: written once and read only after the other prompts' work
 * (far beyond the caches), so with streaming stores when aligned, which
 * neither read the lines first nor evict the shared image side.  The caller
 * fences after its loop. */
static void store_row(const float *row, float *keys, int32_t D) {
    int32_t c = 0;
#if defined(__AVX512F__)
    if ((uintptr_t)keys % 64 == 0)
        for (; c + 16 <= D; c += 16) _mm512_stream_ps(keys + c, _mm512_loadu_ps(row + c));
#endif
    for (; c < D; c++) keys[c] = row[c];
}

/* Image-to-token attention of one prompt, single-threaded: the token
 * projections kt, vt [T][Di] against the image rows, into keys [N][D].
 * Block 0 (q0 given): logits q0_h . s k_t,h from the shared query
 * projection q0 [N][Di], computed per head; residual keys0 = base.  Later
 * blocks: logits (keys + pe) . W' + cst with W' = s Wq_h^T k_t and
 * cst = s bq_h . k_t; base is keys itself.  Then softmax over the tokens per
 * head, output sum_{h,t} a Z + bout with Z = Wout_h v_t, residual, LayerNorm;
 * rows in register blocks of 8, each stored once with streaming stores. */
static void i2t_one(const sam_decoder *dec, const attention *at, const norm_params *norm,
                    const float *kt, const float *vt, int32_t T, const float *q0,
                    const float *base, float *keys, scratch *w) {
    const int32_t D = dec->cfg.embed_dim, H = dec->cfg.heads, Di = at->inner, dh = Di / H;
    const int64_t N = (int64_t)dec->cfg.grid * dec->cfg.grid;
    const int32_t TH = T * H, nc = logit_cols(TH);
    const float scale = (float)(1.0 / sqrt((double)dh));
    const float *pe = dec->pe_tok;
    if (q0) {
        for (int32_t h = 0; h < H; h++)
            for (int32_t d = 0; d < dh; d++)
                for (int32_t t = 0; t < T; t++)
                    w->kh[(h * dh + d) * T + t] = scale * kt[t * Di + h * dh + d];
    } else {
        head_rows(kt, T, Di, H, at->wq, D, scale, w->u);
        transpose_rows(w->u, TH, D, nc, w->wt);
        for (int32_t h = 0; h < H; h++)
            for (int32_t t = 0; t < T; t++) {
                float sum = 0.0f;
                for (int32_t d = 0; d < dh; d++) sum += at->bq[h * dh + d] * kt[t * Di + h * dh + d];
                w->cst[h * T + t] = sum * scale;
            }
    }
    head_values(vt, T, Di, H, at->wo, D, w->z);
    for (int64_t x0 = 0; x0 < N; x0 += I2T_ROWS) {
        const int32_t nr = (int32_t)(N - x0 < I2T_ROWS ? N - x0 : I2T_ROWS);
        if (q0) {
            for (int32_t h = 0; h < H; h++)
                weighted_rows(q0 + x0 * Di + h * dh, Di, nr, dh, w->kh + (int64_t)h * dh * T, T, T,
                              w->zero, 0, w->a + h * T, nc);
            /* the residual rows, read after the FMA work: fetch them meanwhile */
            for (int64_t q = 0; q < (int64_t)nr * D; q += 16) __builtin_prefetch(base + x0 * D + q);
        } else {
            for (int32_t r = 0; r < nr; r++)
#pragma omp simd
                for (int32_t c = 0; c < D; c++)
                    w->rows[r * D + c] = base[(x0 + r) * D + c] + pe[(x0 + r) * D + c];
            weighted_rows(w->rows, D, nr, D, w->wt, nc, TH, w->cst, 0, w->a, nc);
        }
        for (int32_t r = 0; r < nr; r++) {
            float *ar = w->a + (int64_t)r * nc;
            for (int32_t h = 0; h < H; h++) {
                float *seg = ar + h * T, mx = seg[0];
                for (int32_t t = 1; t < T; t++) mx = seg[t] > mx ? seg[t] : mx;
                for (int32_t t = 0; t < T; t++) seg[t] -= mx;
            }
            exp_inplace(ar, TH);
            for (int32_t h = 0; h < H; h++) {
                float *seg = ar + h * T, sum = 0.0f;
                for (int32_t t = 0; t < T; t++) sum += seg[t];
                const float inv = 1.0f / sum;
                for (int32_t t = 0; t < T; t++) seg[t] *= inv;
            }
        }
        weighted_rows(w->a, nc, nr, TH, w->z, D, D, at->bo, 0, w->rows, D);
        for (int32_t r = 0; r < nr; r++) {
            const int64_t x = x0 + r;
            float *row = w->rows + (int64_t)r * D;
#pragma omp simd
            for (int32_t c = 0; c < D; c++) row[c] += base[x * D + c];
            layer_norm_row(row, row, D, norm->w, norm->b, LN_EPS);
            store_row(row, keys + x * D, D);
        }
    }
#if defined(__AVX512F__)
    _mm_sfence();
#endif
}

/* One two-way block over the batch. */
static am_status run_block(sam_decoder *dec, int32_t l, const image_side *s0, int32_t B,
                           int32_t T, am_error *err) {
    workspace *ws = &dec->ws;
    const block *bk = &dec->blocks[l];
    const int32_t D = dec->cfg.embed_dim, Di = dec->cfg.cross_dim;
    const int64_t R = (int64_t)B * T, N = (int64_t)dec->cfg.grid * dec->cfg.grid;
    am_status st;
    /* self-attention (block 0: no residual, no positional encoding) */
    if (l == 0) {
        st = self_attention(dec, &bk->self_attn, ws->q, ws->q, B, T, ws->q, err);
    } else {
        add_into(ws->x, ws->q, ws->qpe, R * D);
        st = self_attention(dec, &bk->self_attn, ws->x, ws->q, B, T, ws->y, err);
        if (st == AM_OK) add_into(ws->q, ws->q, ws->y, R * D);
    }
    if (st != AM_OK) return st;
    layer_norm_rows(ws->q, R, D, &bk->norm[0], LN_EPS);
    /* token-to-image */
    add_into(ws->x, ws->q, ws->qpe, R * D);
    st = am_linear_forward(bk->t2i.q, ws->x, D, R, ws->qt, Di, err);
    if (st != AM_OK) return st;
    if (l == 0) {
        t2i_shared(dec, &bk->t2i, ws->qt, R, s0, ws->o);
    } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_scr)
        for (int32_t b = 0; b < B; b++)
            t2i_one(dec, &bk->t2i, ws->qt + (int64_t)b * T * Di, T, ws->keys + b * N * D,
                    ws->o + (int64_t)b * T * Di, &ws->scr[omp_get_thread_num()]);
    }
    st = am_linear_forward(bk->t2i.o, ws->o, Di, R, ws->y, D, err);
    if (st != AM_OK) return st;
    add_into(ws->q, ws->q, ws->y, R * D);
    layer_norm_rows(ws->q, R, D, &bk->norm[1], LN_EPS);
    /* MLP */
    st = am_linear_forward(bk->lin1, ws->q, D, R, ws->h, dec->cfg.mlp_dim, err);
    if (st != AM_OK) return st;
    for (int64_t i = 0; i < R * dec->cfg.mlp_dim; i++) ws->h[i] = ws->h[i] > 0.0f ? ws->h[i] : 0.0f;
    st = am_linear_forward(bk->lin2, ws->h, dec->cfg.mlp_dim, R, ws->y, D, err);
    if (st != AM_OK) return st;
    add_into(ws->q, ws->q, ws->y, R * D);
    layer_norm_rows(ws->q, R, D, &bk->norm[2], LN_EPS);
    /* image-to-token */
    add_into(ws->x, ws->q, ws->qpe, R * D);
    st = am_linear_forward(bk->i2t.k, ws->x, D, R, ws->kt, Di, err);
    if (st == AM_OK) st = am_linear_forward(bk->i2t.v, ws->q, D, R, ws->vt, Di, err);
    if (st != AM_OK) return st;
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_scr)
    for (int32_t b = 0; b < B; b++) {
        float *keys = ws->keys + b * N * D;
        i2t_one(dec, &bk->i2t, &bk->norm[3], ws->kt + (int64_t)b * T * Di,
                ws->vt + (int64_t)b * T * Di, T, l == 0 ? s0->q : NULL, l == 0 ? s0->keys : keys,
                keys, &ws->scr[omp_get_thread_num()]);
    }
    return AM_OK;
}

am_status sam_decoder_run(sam_decoder *dec, const float *sparse, int32_t B, int32_t Ns,
                          const float *dense, uint32_t tokens, float *iou,
                          const sam_decoder_trace *trace, am_error *err) {
    const sam_decoder_config *c = &dec->cfg;
    const int32_t D = c->embed_dim, Di = c->cross_dim, M = c->num_mask_tokens;
    if (!dec->has_image)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM decoder: no image set");
    const uint32_t all = (uint32_t)((1ull << M) - 1u);
    if (tokens >> M)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM decoder: token mask 0x%x for %d tokens",
                            tokens, M);
    if (tokens == 0 || (trace && trace->tokens_out)) tokens = all;
    if (B < 1 || B > 65536 || Ns < 0 || Ns > 64)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM decoder: %d prompts of %d sparse tokens (1..65536 prompts, at "
                            "most 64 tokens)",
                            B, Ns);
    const int32_t T = 1 + M + Ns;
    const int64_t R = (int64_t)B * T, N = (int64_t)c->grid * c->grid;
    dec->ws.run_b = 0;
    am_status st = reserve(dec, B, T, omp_get_max_threads(), err);
    if (st != AM_OK) return st;
    workspace *ws = &dec->ws;
    const image_side *s0 = &dec->nomask;
    if (dense) {
        st = compute_image_side(dec, dense, N, &dec->masked, err);
        if (st != AM_OK) return st;
        s0 = &dec->masked;
    }
    for (int32_t b = 0; b < B; b++) {
        float *q = ws->q + (int64_t)b * T * D;
        memcpy(q, dec->iou_token, (size_t)D * sizeof *q);
        memcpy(q + D, dec->mask_tokens, (size_t)M * D * sizeof *q);
        if (Ns) memcpy(q + (1 + M) * D, sparse + (int64_t)b * Ns * D, (size_t)Ns * D * sizeof *q);
    }
    memcpy(ws->qpe, ws->q, (size_t)(R * D) * sizeof *ws->q);
    for (int32_t l = 0; l < c->depth; l++) {
        st = run_block(dec, l, s0, B, T, err);
        if (st != AM_OK) return st;
    }
    /* the final token-to-image attention (per token: each query only meets
     * the image) for the IoU token and the wanted mask tokens, or for every
     * token when traced; pos[m] is mask token m's row among them */
    int32_t fin[1 + MAX_MASK_TOKENS + 64], pos[MAX_MASK_TOKENS], tf = 0;
    const int every = trace && trace->tokens_out;
    for (int32_t t = 0; t < T; t++) {
        const int mask_token = t >= 1 && t <= M;
        if (mask_token) pos[t - 1] = tokens >> (t - 1) & 1u ? tf : -1;
        if (t == 0 || every || (mask_token && pos[t - 1] >= 0)) fin[tf++] = t;
    }
    const int64_t Rf = (int64_t)B * tf;
    float *qf = ws->y, *xf = ws->x;
    for (int32_t b = 0; b < B; b++)
        for (int32_t i = 0; i < tf; i++) {
            const int64_t src = ((int64_t)b * T + fin[i]) * D, dst = ((int64_t)b * tf + i) * D;
            for (int32_t k = 0; k < D; k++) {
                qf[dst + k] = ws->q[src + k];
                xf[dst + k] = ws->q[src + k] + ws->qpe[src + k];
            }
        }
    st = am_linear_forward(dec->final_attn.q, xf, D, Rf, ws->qt, Di, err);
    if (st != AM_OK) return st;
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_scr)
    for (int32_t b = 0; b < B; b++)
        t2i_one(dec, &dec->final_attn, ws->qt + (int64_t)b * tf * Di, tf, ws->keys + b * N * D,
                ws->o + (int64_t)b * tf * Di, &ws->scr[omp_get_thread_num()]);
    st = am_linear_forward(dec->final_attn.o, ws->o, Di, Rf, xf, D, err);
    if (st != AM_OK) return st;
    add_into(qf, qf, xf, Rf * D);
    layer_norm_rows(qf, Rf, D, &dec->norm_final, LN_EPS);
    if (trace && trace->tokens_out) memcpy(trace->tokens_out, qf, (size_t)(Rf * D) * sizeof *qf);
    if (trace && trace->image_out)
        memcpy(trace->image_out, ws->keys, (size_t)(B * N * D) * sizeof *ws->keys);
    /* heads: IoU from token 0, hypernetworks from tokens 1..M */
    const int64_t hid = ws->h_half;
    st = mlp_forward(&dec->iou_head, qf, (int64_t)tf * D, B, iou, M, ws->h, ws->h + hid, err);
    for (int32_t m = 0; st == AM_OK && m < M; m++)
        if (pos[m] >= 0)
            st = mlp_forward(&dec->hyper[m], qf + (int64_t)pos[m] * D, (int64_t)tf * D, B,
                             ws->hyper + (int64_t)m * c->up2, (int64_t)M * c->up2, ws->h,
                             ws->h + hid, err);
    if (st != AM_OK) return st;
    ws->run_b = B;
    ws->run_tokens = tokens;
    return AM_OK;
}

/* ------------------------------------------------------------------------ */
/* Upscaling and masks                                                       */
/* ------------------------------------------------------------------------ */

am_status sam_decoder_masks(sam_decoder *dec, int32_t prompt, uint32_t token_mask, float *out,
                            am_error *err) {
    workspace *ws = &dec->ws;
    const sam_decoder_config *c = &dec->cfg;
    const int32_t D = c->embed_dim, G = c->grid, M = c->num_mask_tokens, u1 = c->up1,
                  u2 = c->up2;
    const int64_t N = (int64_t)G * G;
    const int32_t L = 4 * G;
    if (prompt < 0 || prompt >= ws->run_b)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM decoder: prompt %d of a batch of %d",
                            prompt, ws->run_b);
    if (token_mask == 0 || token_mask >> M || (token_mask & ~ws->run_tokens))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM decoder: token mask 0x%x for %d tokens (the run decoded 0x%x)",
                            token_mask, M, ws->run_tokens);
    int32_t sel[MAX_MASK_TOKENS], ns = 0;
    for (int32_t t = 0; t < M; t++)
        if (token_mask >> t & 1u) sel[ns++] = t;
    am_status st = am_linear_forward(dec->up_lin1, ws->keys + prompt * N * D, D, N, ws->y1,
                                     4 * u1, err);
    if (st != AM_OK) return st;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < 4 * N; r++) {
        float *p = ws->y1 + r * u1;
        layer_norm_row(p, p, u1, dec->up_norm.w, dec->up_norm.b, LN2D_EPS);
        sam_gelu_inplace(p, u1);
    }
    st = am_linear_forward(dec->up_lin2, ws->y1, u1, 4 * N, ws->y2, 4 * u2, err);
    if (st != AM_OK) return st;
    const float *hyper = ws->hyper + (int64_t)prompt * M * u2;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < 4 * N; r++) {
        float *p = ws->y2 + r * 4 * u2;
        sam_gelu_inplace(p, 4 * u2);
        const int64_t x = r / 4;
        const int32_t k1 = (int32_t)(r % 4), y = (int32_t)(x / G), col = (int32_t)(x % G);
        for (int32_t k2 = 0; k2 < 4; k2++) {
            const int32_t Y = 4 * y + 2 * (k1 / 2) + k2 / 2, X = 4 * col + 2 * (k1 % 2) + k2 % 2;
            const float *v = p + k2 * u2;
            for (int32_t i = 0; i < ns; i++) {
                const float *hv = hyper + (int64_t)sel[i] * u2;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int32_t ch = 0; ch < u2; ch++) s += hv[ch] * v[ch];
                out[((int64_t)i * L + Y) * L + X] = s;
            }
        }
    }
    return AM_OK;
}
