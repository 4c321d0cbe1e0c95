/* test-sam-encoder.c - the SAM image encoder: Pillow bilinear resize on
 * hand-computed cases; the sam-tiny reference vectors (pre-processing exact,
 * every encoder stage within 1e-4) from model.safetensors and model.pt; window
 * padding and odd head widths against a naive double-precision reference
 * written here from the official code's definitions; config inference and
 * the refusal of malformed weights. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/rng.h"
#include "image/resize.h"
#include "sam/sam_encoder.h"

#define ENC_TOL 1e-4
/* bf16 rounds every GEMM and attention operand to 8 significant bits, so no
 * float32 tolerance applies; this bound (about 12 bf16 ulps of the outputs'
 * largest values, ~4) still fails on any layout, pairing or padding mistake,
 * which gives errors of the order of the values themselves. */
#define BF16_TOL 5e-2

/* ------------------------------------------------------------------------ */
/* Resize on hand-computed cases (sam.md section 3.1 by hand)                */
/* ------------------------------------------------------------------------ */

static void test_resize(void) {
    am_error err = {0};
    /* 4 -> 2 (scale 2, support 2): output 0 weighs inputs 0,1,2 by 3/7,3/7,1/7,
     * output 1 inputs 1,2,3 by 1/7,3/7,3/7; in 22-bit fixed point
     * (2^21 + 100*1797559 + 200*599186) >> 22 = 71 and
     * (2^21 + 100*599186 + 200*1797559 + 255*1797559) >> 22 = 209. */
    const uint8_t a[4] = {0, 100, 200, 255};
    uint8_t out[4] = {0};
    CHECK_OK(am_resize_u8(a, 4, 1, 1, out, 2, 1, AM_RESAMPLE_BILINEAR, &err));
    CHECK(out[0] == 71 && out[1] == 209, "4->2 gave %d %d, expected 71 209", out[0], out[1]);
    /* 2 -> 4 (scale 0.5, support 1): weights (1), (3/4, 1/4), (1/4, 3/4), (1). */
    const uint8_t b[2] = {10, 50};
    CHECK_OK(am_resize_u8(b, 2, 1, 1, out, 4, 1, AM_RESAMPLE_BILINEAR, &err));
    CHECK(out[0] == 10 && out[1] == 20 && out[2] == 40 && out[3] == 50,
          "2->4 gave %d %d %d %d, expected 10 20 40 50", out[0], out[1], out[2], out[3]);
    /* The same vertically (the horizontal pass is skipped). */
    CHECK_OK(am_resize_u8(b, 1, 2, 1, out, 1, 4, AM_RESAMPLE_BILINEAR, &err));
    CHECK(out[0] == 10 && out[1] == 20 && out[2] == 40 && out[3] == 50,
          "vertical 2->4 gave %d %d %d %d", out[0], out[1], out[2], out[3]);
    /* 2x2 RGB -> 1x1: weights 1/2, 1/2 per axis; each pass rounds half up to
     * uint8: rows (0+255)/2 -> 128 and 255, then (128+255)/2 -> 192. */
    const uint8_t c[12] = {0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255};
    uint8_t px[3] = {0};
    CHECK_OK(am_resize_u8(c, 2, 2, 3, px, 1, 1, AM_RESAMPLE_BILINEAR, &err));
    CHECK(px[0] == 192 && px[1] == 192 && px[2] == 192, "2x2->1x1 gave %d %d %d", px[0], px[1],
          px[2]);
    /* Same size: a copy. */
    CHECK_OK(am_resize_u8(a, 2, 2, 1, out, 2, 2, AM_RESAMPLE_BILINEAR, &err));
    CHECK(memcmp(a, out, 4) == 0, "same-size resize is not a copy");
}

/* ------------------------------------------------------------------------ */
/* sam-tiny reference vectors                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
    am_weights *cases;
    double max_err[8]; /* enc.patch, pos_embed_added, block0..3 (more blocks ignored) */
    int seen[8];
} trace_ctx;

static const char *const traced[] = {"enc.patch",  "enc.pos_embed_added", "enc.block0",
                                     "enc.block1", "enc.block2",          "enc.block3"};

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

/* Compares each traced stage with the tensor of the same name in cases. */
static void on_trace(void *user, const char *name, const float *data, int64_t n) {
    trace_ctx *t = user;
    for (size_t i = 0; i < sizeof traced / sizeof traced[0]; i++) {
        if (strcmp(name, traced[i]) != 0) continue;
        const am_tensor_info *info = am_weights_find(t->cases, name);
        const float *ref = NULL;
        am_error err = {0};
        if (!info || info->numel != n || am_weights_get_f32(t->cases, name, &ref, &err) != AM_OK) {
            t->max_err[i] = INFINITY;
        } else {
            t->max_err[i] = max_abs_diff(data, ref, n);
        }
        t->seen[i] = 1;
    }
}

static void test_tiny(const char *model_file, am_precision precision) {
    am_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s", check_shared_path("vectors/sam-tiny/cases.safetensors"));
    am_weights *cases = NULL, *w = NULL;
    CHECK_OK(am_weights_open(path, &cases, &err));
    snprintf(path, sizeof path, "%s/vectors/sam-tiny/%s", check_shared_dir(), model_file);
    CHECK_OK(am_weights_open(path, &w, &err));
    if (!cases || !w) {
        am_weights_close(cases);
        am_weights_close(w);
        return;
    }
    char config[4096];
    snprintf(config, sizeof config, "%s", check_shared_path("vectors/sam-tiny/config.json"));
    sam_encoder *enc = NULL;
    am_status st = sam_encoder_load(w, config, precision, &enc, &err);
    if (precision == AM_PRECISION_BF16 && st == AM_ERR_UNSUPPORTED) {
        printf("sam-tiny %s bf16: skipped (%s)\n", model_file, err.message);
        am_weights_close(cases);
        am_weights_close(w);
        return;
    }
    CHECK(st == AM_OK, "load %s: %s", model_file, err.message);
    if (st != AM_OK) {
        am_weights_close(cases);
        am_weights_close(w);
        return;
    }
    const sam_encoder_config *cfg = sam_encoder_get_config(enc);
    CHECK(cfg->image_size == 128 && cfg->grid == 8 && cfg->embed_dim == 32 && cfg->depth == 4 &&
              cfg->heads == 2 && cfg->mlp_dim == 128 && cfg->window_size == 4 &&
              cfg->out_chans == 16 && cfg->n_global == 2 && cfg->global_index[0] == 1 &&
              cfg->global_index[1] == 3,
          "tiny config read wrongly");

    /* Pre-processing. */
    const am_tensor_info *img_info = am_weights_find(cases, "pre.image");
    const void *raw = NULL;
    size_t nbytes = 0;
    CHECK_OK(am_weights_get_raw(cases, "pre.image", &raw, &nbytes, &err));
    am_image image = {(int32_t)img_info->shape[1], (int32_t)img_info->shape[0], (uint8_t *)raw};
    const int32_t S = cfg->image_size;
    float *input = malloc(sizeof(float) * 3 * S * S);
    float *embed = malloc(sizeof(float) * cfg->out_chans * cfg->grid * cfg->grid);
    int32_t ih = 0, iw = 0;
    CHECK_OK(sam_encoder_preprocess(enc, &image, input, &ih, &iw, &err));
    const float *ref_input = NULL;
    const void *ref_size = NULL;
    CHECK_OK(am_weights_get_f32(cases, "pre.input", &ref_input, &err));
    CHECK_OK(am_weights_get_raw(cases, "pre.input_size", &ref_size, &nbytes, &err));
    double pre_err = ref_input ? max_abs_diff(input, ref_input, 3 * S * S) : INFINITY;
    int32_t rs[2] = {-1, -1};
    if (ref_size && nbytes == sizeof rs) memcpy(rs, ref_size, sizeof rs);
    CHECK(ih == rs[0] && iw == rs[1], "input size %dx%d, expected %dx%d", ih, iw, rs[0], rs[1]);
    CHECK(pre_err < 1e-6, "pre.input max |diff| %g", pre_err);

    /* Encoder: from the reference input, so that each stage is checked alone. */
    trace_ctx tc = {.cases = cases};
    sam_encoder_set_trace(enc, on_trace, &tc);
    CHECK_OK(sam_encoder_forward(enc, ref_input ? ref_input : input, embed, &err));
    const float *ref_embed = NULL;
    CHECK_OK(am_weights_get_f32(cases, "enc.embed", &ref_embed, &err));
    double embed_err = ref_embed ? max_abs_diff(embed, ref_embed, 16 * 64) : INFINITY;
    const double tol = precision == AM_PRECISION_F32 ? ENC_TOL : BF16_TOL;
    printf("sam-tiny %s %s: pre.input %.3g", model_file,
           precision == AM_PRECISION_F32 ? "f32" : "bf16", pre_err);
    for (size_t i = 0; i < sizeof traced / sizeof traced[0]; i++) {
        printf(", %s %.3g", traced[i] + 4, tc.max_err[i]);
        CHECK(tc.seen[i], "stage %s not traced", traced[i]);
        CHECK(tc.max_err[i] <= tol, "%s max |diff| %g", traced[i], tc.max_err[i]);
    }
    printf(", embed %.3g\n", embed_err);
    CHECK(embed_err <= tol, "enc.embed max |diff| %g", embed_err);

    /* A second forward (buffers reused) gives the same bytes. */
    float *again = malloc(sizeof(float) * 16 * 64);
    sam_encoder_set_trace(enc, NULL, NULL);
    CHECK_OK(sam_encoder_forward(enc, ref_input ? ref_input : input, again, &err));
    CHECK(memcmp(again, embed, sizeof(float) * 16 * 64) == 0, "second forward differs");
    free(again);
    free(input);
    free(embed);
    sam_encoder_free(enc);
    am_weights_close(cases);
    am_weights_close(w);
}

/* ------------------------------------------------------------------------ */
/* A small safetensors writer for synthetic encoders                         */
/* ------------------------------------------------------------------------ */

#define MAX_T 256

typedef struct {
    int n;
    char name[MAX_T][128];
    int ndim[MAX_T];
    int64_t shape[MAX_T][4];
    float *data[MAX_T];
} tensor_set;

static float *add_tensor(tensor_set *ts, const char *name, int ndim, const int64_t *shape) {
    int i = ts->n++;
    snprintf(ts->name[i], sizeof ts->name[i], "image_encoder.%s", name);
    ts->ndim[i] = ndim;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (ts->shape[i][d] = shape[d]);
    ts->data[i] = calloc((size_t)n, sizeof(float));
    return ts->data[i];
}

static int64_t numel(const tensor_set *ts, int i) {
    int64_t n = 1;
    for (int d = 0; d < ts->ndim[i]; d++)
        n *= ts->shape[i][d];
    return n;
}

/* Serialises the set (minus tensor `skip`, -1 for none) as safetensors bytes. */
static unsigned char *serialise(const tensor_set *ts, int skip, size_t *size) {
    size_t cap = 65536, len = 0;
    char *hdr = malloc(cap);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    size_t off = 0;
    for (int i = 0; i < ts->n; i++) {
        if (i == skip) continue;
        size_t bytes = (size_t)numel(ts, i) * 4;
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                                len > 1 ? "," : "", ts->name[i]);
        for (int d = 0; d < ts->ndim[i]; d++)
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "",
                                    (long long)ts->shape[i][d]);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off,
                                off + bytes);
        off += bytes;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8)
        hdr[len++] = ' ';
    *size = 8 + len + off;
    unsigned char *buf = malloc(*size);
    uint64_t hl = len;
    memcpy(buf, &hl, 8);
    memcpy(buf + 8, hdr, len);
    size_t pos = 8 + len;
    for (int i = 0; i < ts->n; i++) {
        if (i == skip) continue;
        size_t bytes = (size_t)numel(ts, i) * 4;
        memcpy(buf + pos, ts->data[i], bytes);
        pos += bytes;
    }
    free(hdr);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Naive double-precision reference of ImageEncoderViT                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    int G, P, C, depth, heads, M, window, O;
    int global[8], n_global;
} small_cfg;

/* Pointers into a tensor_set, by role. */
typedef struct {
    const float *patch_w, *patch_b, *pos;
    const float *n1w[8], *n1b[8], *n2w[8], *n2b[8], *qkv_w[8], *qkv_b[8], *proj_w[8], *proj_b[8];
    const float *relh[8], *relw[8], *l1w[8], *l1b[8], *l2w[8], *l2b[8];
    const float *neck0, *ln1w, *ln1b, *neck2, *ln2w, *ln2b;
} small_weights;

static void fill_uniform(am_rng *r, float *x, int64_t n, float scale, float offset) {
    for (int64_t i = 0; i < n; i++)
        x[i] = offset + (2.0f * am_rng_uniform(r) - 1.0f) * scale;
}

static int cfg_is_global(const small_cfg *c, int i) {
    for (int g = 0; g < c->n_global; g++)
        if (c->global[g] == i) return 1;
    return 0;
}

/* Random weights of a small encoder, added to ts and recorded in sw. */
static void make_weights(const small_cfg *c, uint64_t seed, tensor_set *ts, small_weights *sw) {
    am_rng r;
    am_rng_seed(&r, seed);
    const int64_t C = c->C, P = c->P, G = c->G, M = c->M, O = c->O, hd = c->C / c->heads;
    float *t;
    int64_t s4[4], s2[2], s1[1];
#define ADD(name, nd, ...)                                                                         \
    (memcpy(nd == 4   ? s4                                                                         \
            : nd == 2 ? s2                                                                         \
                      : s1,                                                                        \
            (int64_t[]){__VA_ARGS__}, sizeof(int64_t) * nd),                                       \
     add_tensor(ts, name, nd,                                                                      \
                nd == 4   ? s4                                                                     \
                : nd == 2 ? s2                                                                     \
                          : s1))
    t = ADD("patch_embed.proj.weight", 4, C, 3, P, P);
    fill_uniform(&r, t, C * 3 * P * P, 1.0f / sqrtf(3.0f * P * P), 0), sw->patch_w = t;
    t = ADD("patch_embed.proj.bias", 1, C);
    fill_uniform(&r, t, C, 0.2f, 0), sw->patch_b = t;
    t = ADD("pos_embed", 4, 1, G, G, C);
    fill_uniform(&r, t, G * G * C, 0.5f, 0), sw->pos = t;
    char n[64];
    for (int i = 0; i < c->depth; i++) {
        const int64_t L = cfg_is_global(c, i) ? G : c->window;
#define BN(s) (snprintf(n, sizeof n, "blocks.%d." s, i), n)
        t = ADD(BN("norm1.weight"), 1, C), fill_uniform(&r, t, C, 0.3f, 1.0f), sw->n1w[i] = t;
        t = ADD(BN("norm1.bias"), 1, C), fill_uniform(&r, t, C, 0.2f, 0), sw->n1b[i] = t;
        t = ADD(BN("attn.qkv.weight"), 2, 3 * C, C);
        fill_uniform(&r, t, 3 * C * C, 1.5f / sqrtf((float)C), 0), sw->qkv_w[i] = t;
        t = ADD(BN("attn.qkv.bias"), 1, 3 * C), fill_uniform(&r, t, 3 * C, 0.5f, 0);
        sw->qkv_b[i] = t;
        t = ADD(BN("attn.proj.weight"), 2, C, C);
        fill_uniform(&r, t, C * C, 1.0f / sqrtf((float)C), 0), sw->proj_w[i] = t;
        t = ADD(BN("attn.proj.bias"), 1, C), fill_uniform(&r, t, C, 0.2f, 0), sw->proj_b[i] = t;
        t = ADD(BN("attn.rel_pos_h"), 2, 2 * L - 1, hd);
        fill_uniform(&r, t, (2 * L - 1) * hd, 0.4f, 0), sw->relh[i] = t;
        t = ADD(BN("attn.rel_pos_w"), 2, 2 * L - 1, hd);
        fill_uniform(&r, t, (2 * L - 1) * hd, 0.4f, 0), sw->relw[i] = t;
        t = ADD(BN("norm2.weight"), 1, C), fill_uniform(&r, t, C, 0.3f, 1.0f), sw->n2w[i] = t;
        t = ADD(BN("norm2.bias"), 1, C), fill_uniform(&r, t, C, 0.2f, 0), sw->n2b[i] = t;
        t = ADD(BN("mlp.lin1.weight"), 2, M, C);
        fill_uniform(&r, t, M * C, 1.0f / sqrtf((float)C), 0), sw->l1w[i] = t;
        t = ADD(BN("mlp.lin1.bias"), 1, M), fill_uniform(&r, t, M, 0.2f, 0), sw->l1b[i] = t;
        t = ADD(BN("mlp.lin2.weight"), 2, C, M);
        fill_uniform(&r, t, C * M, 1.0f / sqrtf((float)M), 0), sw->l2w[i] = t;
        t = ADD(BN("mlp.lin2.bias"), 1, C), fill_uniform(&r, t, C, 0.2f, 0), sw->l2b[i] = t;
#undef BN
    }
    t = ADD("neck.0.weight", 4, O, C, 1, 1);
    fill_uniform(&r, t, O * C, 1.0f / sqrtf((float)C), 0), sw->neck0 = t;
    t = ADD("neck.1.weight", 1, O), fill_uniform(&r, t, O, 0.3f, 1.0f), sw->ln1w = t;
    t = ADD("neck.1.bias", 1, O), fill_uniform(&r, t, O, 0.2f, 0), sw->ln1b = t;
    t = ADD("neck.2.weight", 4, O, O, 3, 3);
    fill_uniform(&r, t, O * O * 9, 1.0f / sqrtf(9.0f * O), 0), sw->neck2 = t;
    t = ADD("neck.3.weight", 1, O), fill_uniform(&r, t, O, 0.3f, 1.0f), sw->ln2w = t;
    t = ADD("neck.3.bias", 1, O), fill_uniform(&r, t, O, 0.2f, 0), sw->ln2b = t;
#undef ADD
}

/* LayerNorm over the last axis of rows x C, in place, eps 1e-6. */
static void ref_ln(double *x, int rows, int C, const float *w, const float *b) {
    for (int r = 0; r < rows; r++) {
        double *v = x + (size_t)r * C, mean = 0, var = 0;
        for (int i = 0; i < C; i++)
            mean += v[i];
        mean /= C;
        for (int i = 0; i < C; i++)
            var += (v[i] - mean) * (v[i] - mean);
        var /= C;
        for (int i = 0; i < C; i++)
            v[i] = (v[i] - mean) / sqrt(var + 1e-6) * w[i] + b[i];
    }
}

/* out[r][o] = b[o] + sum_i x[r][i] w[o][i]. */
static void ref_linear(const double *x, int rows, int in, const float *w, const float *b, int nout,
                       double *out) {
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < nout; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++)
                s += x[(size_t)r * in + i] * w[(size_t)o * in + i];
            out[(size_t)r * nout + o] = s;
        }
}

/* Attention of one block over the (already LN1-ed) grid xn [G][G][C], the way
 * segment-anything does it: zero-pad to a multiple of the window, partition,
 * qkv of every token (padding included), scores with decomposed relative
 * positions, softmax, @v, unpartition and crop, then proj. */
static void ref_attention(const small_cfg *c, const small_weights *sw, int blk, const double *xn,
                          double *out) {
    const int G = c->G, C = c->C, H = c->heads, hd = C / H;
    const int w = cfg_is_global(c, blk) ? G : c->window;
    const int Gp = (G + w - 1) / w * w, nw = Gp / w;
    double *pad = calloc((size_t)Gp * Gp * C, sizeof(double));
    for (int y = 0; y < G; y++)
        memcpy(pad + ((size_t)y * Gp) * C, xn + (size_t)y * G * C, sizeof(double) * G * C);
    double *qkv = malloc(sizeof(double) * Gp * Gp * 3 * C);
    ref_linear(pad, Gp * Gp, C, sw->qkv_w[blk], sw->qkv_b[blk], 3 * C, qkv);
    double *o = calloc((size_t)Gp * Gp * C, sizeof(double));
    double *s = malloc(sizeof(double) * w * w);
    const double scale = 1.0 / sqrt((double)hd);
    for (int wy = 0; wy < nw; wy++)
        for (int wx = 0; wx < nw; wx++)
            for (int h = 0; h < H; h++)
                for (int a = 0; a < w * w; a++) {
                    const int ay = a / w, ax = a % w;
                    const double *q =
                        qkv + ((size_t)(wy * w + ay) * Gp + wx * w + ax) * 3 * C + h * hd;
                    double mx = -INFINITY;
                    for (int b = 0; b < w * w; b++) {
                        const int by = b / w, bx = b % w;
                        const double *k =
                            qkv + ((size_t)(wy * w + by) * Gp + wx * w + bx) * 3 * C + C + h * hd;
                        const float *rh = sw->relh[blk] + (size_t)(ay - by + w - 1) * hd;
                        const float *rw = sw->relw[blk] + (size_t)(ax - bx + w - 1) * hd;
                        double dot = 0, th = 0, tw = 0;
                        for (int d = 0; d < hd; d++) {
                            dot += q[d] * k[d];
                            th += q[d] * rh[d];
                            tw += q[d] * rw[d];
                        }
                        s[b] = dot * scale + th + tw;
                        if (s[b] > mx) mx = s[b];
                    }
                    double sum = 0;
                    for (int b = 0; b < w * w; b++)
                        sum += (s[b] = exp(s[b] - mx));
                    double *dst = o + ((size_t)(wy * w + ay) * Gp + wx * w + ax) * C + h * hd;
                    for (int b = 0; b < w * w; b++) {
                        const int by = b / w, bx = b % w;
                        const double *v = qkv + ((size_t)(wy * w + by) * Gp + wx * w + bx) * 3 * C +
                                          2 * C + h * hd;
                        for (int d = 0; d < hd; d++)
                            dst[d] += s[b] / sum * v[d];
                    }
                }
    double *crop = malloc(sizeof(double) * G * G * C);
    for (int y = 0; y < G; y++)
        memcpy(crop + (size_t)y * G * C, o + (size_t)y * Gp * C, sizeof(double) * G * C);
    ref_linear(crop, G * G, C, sw->proj_w[blk], sw->proj_b[blk], C, out);
    free(pad);
    free(qkv);
    free(o);
    free(s);
    free(crop);
}

/* The whole encoder in double: blocks[i] gets block i's output [G*G][C],
 * embed the neck output [O][G][G]. */
static void ref_forward(const small_cfg *c, const small_weights *sw, const float *input,
                        double **blocks, double *embed) {
    const int G = c->G, P = c->P, C = c->C, S = G * P, T = G * G, M = c->M, O = c->O;
    double *x = malloc(sizeof(double) * T * C), *xn = malloc(sizeof(double) * T * C);
    double *y = malloc(sizeof(double) * T * C), *hid = malloc(sizeof(double) * T * M);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < C; o++) {
            double acc = sw->patch_b[o];
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < P; ky++)
                    for (int kx = 0; kx < P; kx++)
                        acc +=
                            (double)
                                input[((size_t)ch * S + (t / G) * P + ky) * S + (t % G) * P + kx] *
                            sw->patch_w[((size_t)(o * 3 + ch) * P + ky) * P + kx];
            x[(size_t)t * C + o] = acc + sw->pos[(size_t)t * C + o];
        }
    for (int i = 0; i < c->depth; i++) {
        memcpy(xn, x, sizeof(double) * T * C);
        ref_ln(xn, T, C, sw->n1w[i], sw->n1b[i]);
        ref_attention(c, sw, i, xn, y);
        for (int k = 0; k < T * C; k++)
            x[k] += y[k];
        memcpy(xn, x, sizeof(double) * T * C);
        ref_ln(xn, T, C, sw->n2w[i], sw->n2b[i]);
        ref_linear(xn, T, C, sw->l1w[i], sw->l1b[i], M, hid);
        for (int k = 0; k < T * M; k++)
            hid[k] = 0.5 * hid[k] * (1.0 + erf(hid[k] / sqrt(2.0)));
        ref_linear(hid, T, M, sw->l2w[i], sw->l2b[i], C, y);
        for (int k = 0; k < T * C; k++)
            x[k] += y[k];
        memcpy(blocks[i], x, sizeof(double) * T * C);
    }
    double *a = malloc(sizeof(double) * T * O), *b = malloc(sizeof(double) * T * O);
    ref_linear(x, T, C, sw->neck0, NULL, O, a);
    ref_ln(a, T, O, sw->ln1w, sw->ln1b);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int ch = 0; ch < O; ch++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int sy = t / G + ky - 1, sx = t % G + kx - 1;
                        if (sy < 0 || sy >= G || sx < 0 || sx >= G) continue;
                        acc += a[((size_t)sy * G + sx) * O + ch] *
                               sw->neck2[((size_t)(o * O + ch) * 3 + ky) * 3 + kx];
                    }
            b[(size_t)t * O + o] = acc;
        }
    ref_ln(b, T, O, sw->ln2w, sw->ln2b);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < O; o++)
            embed[(size_t)o * T + t] = b[(size_t)t * O + o];
    free(x), free(xn), free(y), free(hid), free(a), free(b);
}

typedef struct {
    int depth;
    int64_t n;
    double **ref;
    double max_err;
} block_trace;

static void on_block(void *user, const char *name, const float *data, int64_t n) {
    block_trace *bt = user;
    int i;
    if (sscanf(name, "enc.block%d", &i) != 1 || i < 0 || i >= bt->depth || n != bt->n) return;
    for (int64_t k = 0; k < n; k++) {
        double d = fabs(data[k] - bt->ref[i][k]);
        if (!(d <= bt->max_err)) bt->max_err = d;
    }
}

/* A synthetic encoder whose grid is not a multiple of the window, against the
 * reference above; its config is inferred from the tensors alone. */
static void test_synthetic(const small_cfg *c, uint64_t seed, const char *label,
                           am_precision precision) {
    am_error err = {0};
    tensor_set *ts = calloc(1, sizeof *ts);
    small_weights sw;
    make_weights(c, seed, ts, &sw);
    size_t size = 0;
    unsigned char *buf = serialise(ts, -1, &size);
    am_weights *w = NULL;
    sam_encoder *enc = NULL;
    CHECK_OK(am_weights_open_memory(buf, size, label, &w, &err));
    if (w) CHECK_OK(sam_encoder_load(w, NULL, precision, &enc, &err));
    if (!enc) goto done;
    const double tol = precision == AM_PRECISION_F32 ? ENC_TOL : BF16_TOL;
    const sam_encoder_config *cfg = sam_encoder_get_config(enc);
    CHECK(cfg->grid == c->G && cfg->patch_size == c->P && cfg->embed_dim == c->C &&
              cfg->heads == c->heads && cfg->depth == c->depth && cfg->mlp_dim == c->M &&
              cfg->window_size == c->window && cfg->out_chans == c->O &&
              cfg->n_global == c->n_global,
          "%s: inferred config wrong (grid %d heads %d window %d globals %d)", label,
          (int)cfg->grid, (int)cfg->heads, (int)cfg->window_size, (int)cfg->n_global);
    for (int g = 0; g < c->n_global && g < cfg->n_global; g++)
        CHECK(cfg->global_index[g] == c->global[g], "%s: global block %d", label, g);
    const int S = c->G * c->P, T = c->G * c->G;
    float *input = malloc(sizeof(float) * 3 * S * S);
    am_rng r;
    am_rng_seed(&r, seed + 1);
    fill_uniform(&r, input, 3 * S * S, 2.0f, 0);
    double **blocks = malloc(sizeof(double *) * c->depth);
    for (int i = 0; i < c->depth; i++)
        blocks[i] = malloc(sizeof(double) * T * c->C);
    double *ref_embed = malloc(sizeof(double) * c->O * T);
    ref_forward(c, &sw, input, blocks, ref_embed);
    float *embed = malloc(sizeof(float) * c->O * T);
    block_trace bt = {c->depth, (int64_t)T * c->C, blocks, 0};
    sam_encoder_set_trace(enc, on_block, &bt);
    CHECK_OK(sam_encoder_forward(enc, input, embed, &err));
    double e_err = 0;
    for (int k = 0; k < c->O * T; k++) {
        double d = fabs(embed[k] - ref_embed[k]);
        if (!(d <= e_err)) e_err = d;
    }
    printf("%s %s: blocks max |diff| %.3g, embed %.3g\n", label,
           precision == AM_PRECISION_F32 ? "f32" : "bf16", bt.max_err, e_err);
    CHECK(bt.max_err <= tol, "%s: block outputs differ by %g", label, bt.max_err);
    CHECK(e_err <= tol, "%s: embedding differs by %g", label, e_err);
    for (int i = 0; i < c->depth; i++)
        free(blocks[i]);
    free(blocks);
    free(ref_embed);
    free(embed);
    free(input);
done:
    sam_encoder_free(enc);
    am_weights_close(w);
    free(buf);
    for (int i = 0; i < ts->n; i++)
        free(ts->data[i]);
    free(ts);
}

/* Malformed weights and configs are refused with the right codes. */
static void test_refusals(void) {
    am_error err = {0};
    sam_encoder_config cfg;
    CHECK(sam_encoder_config_for_variant("vit_x", &cfg, &err) == AM_ERR_ARGUMENT,
          "unknown variant accepted");
    /* sam.md section 6: 972 GFLOP for vit_b, counted the official code's way. */
    CHECK_OK(sam_encoder_config_for_variant("vit_b", &cfg, &err));
    CHECK_NEAR(sam_encoder_gflop(&cfg), 972.08, 0.01);
    CHECK_OK(sam_encoder_config_for_variant("vit_h", &cfg, &err));
    CHECK_NEAR(sam_encoder_gflop(&cfg), 5961.08, 0.01);
    CHECK(cfg.embed_dim == 1280 && cfg.depth == 32 && cfg.heads == 16 && cfg.mlp_dim == 5120 &&
              cfg.grid == 64 && cfg.window_size == 14 && cfg.out_chans == 256 &&
              cfg.n_global == 4 && cfg.global_index[3] == 31,
          "vit_h config wrong");
    cfg.heads = 7; /* 1280 is not a multiple of 7 */
    sam_encoder *enc = NULL;
    CHECK(sam_encoder_create_random(&cfg, 1, AM_PRECISION_F32, &enc, &err) == AM_ERR_ARGUMENT,
          "bad head count accepted");
    CHECK(enc == NULL, "encoder returned on failure");

    const small_cfg c = {.G = 3,
                         .P = 2,
                         .C = 16,
                         .depth = 2,
                         .heads = 1,
                         .M = 32,
                         .window = 2,
                         .O = 8,
                         .global = {1},
                         .n_global = 1};
    tensor_set *ts = calloc(1, sizeof *ts);
    small_weights sw;
    make_weights(&c, 5, ts, &sw);
    for (int skip = 0; skip < ts->n; skip += 7) { /* a missing tensor */
        size_t size = 0;
        unsigned char *buf = serialise(ts, skip, &size);
        am_weights *w = NULL;
        CHECK_OK(am_weights_open_memory(buf, size, "missing", &w, &err));
        am_status st = w ? sam_encoder_load(w, NULL, AM_PRECISION_F32, &enc, &err) : AM_ERR_IO;
        CHECK(st == AM_ERR_MODEL && enc == NULL, "load without %s: %s", ts->name[skip],
              am_status_string(st));
        am_weights_close(w);
        free(buf);
    }
    /* A wrong shape. */
    ts->shape[ts->n - 1][0] = 7;
    size_t size = 0;
    unsigned char *buf = serialise(ts, -1, &size);
    am_weights *w = NULL;
    CHECK_OK(am_weights_open_memory(buf, size, "shape", &w, &err));
    CHECK(w && sam_encoder_load(w, NULL, AM_PRECISION_F32, &enc, &err) == AM_ERR_MODEL,
          "wrong neck.3.bias shape accepted");
    am_weights_close(w);
    free(buf);
    ts->shape[ts->n - 1][0] = 8;
    /* A config JSON that contradicts the tensors, or asks for another activation. */
    buf = serialise(ts, -1, &size);
    CHECK_OK(am_weights_open_memory(buf, size, "json", &w, &err));
    char path[] = "/tmp/test-sam-encoder-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0 && w) {
        FILE *f = fdopen(fd, "w");
        fputs("{\"encoder_num_heads\": 2, \"encoder_global_attn_indexes\": [0]}", f);
        fclose(f);
        CHECK(sam_encoder_load(w, path, AM_PRECISION_F32, &enc, &err) == AM_ERR_MODEL,
              "contradicting config accepted");
        f = fopen(path, "w");
        fputs("{\"encoder_activation\": \"relu\"}", f);
        fclose(f);
        CHECK(sam_encoder_load(w, path, AM_PRECISION_F32, &enc, &err) == AM_ERR_UNSUPPORTED,
              "relu accepted");
        f = fopen(path, "w");
        fputs("{\"encoder_num_heads\": 2", f);
        fclose(f);
        CHECK(sam_encoder_load(w, path, AM_PRECISION_F32, &enc, &err) == AM_ERR_FORMAT,
              "broken JSON accepted");
        f = fopen(path, "w");
        fputs("{\"encoder_num_heads\": 1, \"pixel_mean\": [1, 2.5, 3]}", f);
        fclose(f);
        CHECK_OK(sam_encoder_load(w, path, AM_PRECISION_F32, &enc, &err));
        CHECK(enc && sam_encoder_get_config(enc)->pixel_mean[1] == 2.5f,
              "JSON pixel mean not applied");
        sam_encoder_free(enc);
        unlink(path);
    }
    am_weights_close(w);
    free(buf);
    for (int i = 0; i < ts->n; i++)
        free(ts->data[i]);
    free(ts);
    /* Pre-processing refuses an image that resizes to nothing. */
    CHECK_OK(sam_encoder_config_for_variant("vit_b", &cfg, &err));
    cfg.image_size = 64, cfg.grid = 4, cfg.depth = 1, cfg.n_global = 1, cfg.global_index[0] = 0;
    cfg.embed_dim = 16, cfg.heads = 2, cfg.mlp_dim = 32, cfg.out_chans = 8;
    CHECK_OK(sam_encoder_create_random(&cfg, 3, AM_PRECISION_F32, &enc, &err));
    if (enc) {
        uint8_t px[200 * 3] = {0};
        am_image thin = {200, 1, px};
        float *in = malloc(sizeof(float) * 3 * 64 * 64);
        int32_t h, wd;
        CHECK(sam_encoder_preprocess(enc, &thin, in, &h, &wd, &err) == AM_ERR_ARGUMENT,
              "200x1 image accepted at size 64");
        am_image small = {100, 1, px}; /* 64 x 0.64 -> rounds to 1 row */
        CHECK_OK(sam_encoder_preprocess(enc, &small, in, &h, &wd, &err));
        CHECK(h == 1 && wd == 64, "100x1 -> %dx%d", wd, h);
        free(in);
        sam_encoder_free(enc);
    }
}

int main(void) {
    test_resize();
    test_tiny("model.safetensors", AM_PRECISION_F32);
    test_tiny("model.pt", AM_PRECISION_F32);
    test_tiny("model.safetensors", AM_PRECISION_BF16);
    /* grid 6, window 4: padded to 8, windows of 16 keys with 4 to 16 real queries. */
    const small_cfg a = {.G = 6,
                         .P = 4,
                         .C = 32,
                         .depth = 3,
                         .heads = 2,
                         .M = 64,
                         .window = 4,
                         .O = 8,
                         .global = {1},
                         .n_global = 1};
    test_synthetic(&a, 11, "grid 6 window 4", AM_PRECISION_F32);
    test_synthetic(&a, 11, "grid 6 window 4", AM_PRECISION_BF16);
    /* grid 7, window 3 (padded to 9), head width 12 (not a multiple of 16),
     * 3 heads, two global blocks. */
    const small_cfg b = {.G = 7,
                         .P = 2,
                         .C = 36,
                         .depth = 4,
                         .heads = 3,
                         .M = 80,
                         .window = 3,
                         .O = 12,
                         .global = {0, 3},
                         .n_global = 2};
    test_synthetic(&b, 12, "grid 7 window 3", AM_PRECISION_F32);
    test_synthetic(&b, 12, "grid 7 window 3", AM_PRECISION_BF16);
    /* head width 15 (odd: a half-empty bf16 pair), grid 5 padded to 6. */
    const small_cfg d = {.G = 5,
                         .P = 3,
                         .C = 30,
                         .depth = 2,
                         .heads = 2,
                         .M = 40,
                         .window = 2,
                         .O = 6,
                         .global = {1},
                         .n_global = 1};
    test_synthetic(&d, 13, "grid 5 window 2", AM_PRECISION_F32);
    test_synthetic(&d, 13, "grid 5 window 2", AM_PRECISION_BF16);
    /* head width 80 (vit_h's; the P.V tile of 5 vectors), grid 4 padded to 6. */
    const small_cfg e = {.G = 4, .P = 2, .C = 160, .depth = 2, .heads = 2, .M = 64, .window = 3,
                         .O = 8, .global = {0}, .n_global = 1};
    test_synthetic(&e, 14, "head width 80", AM_PRECISION_F32);
    test_synthetic(&e, 14, "head width 80", AM_PRECISION_BF16);
    test_refusals();
    return check_summary();
}
