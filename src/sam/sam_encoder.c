/* sam_encoder.c - the Segment Anything image encoder: configuration (standard
 * variants, inference from the weights, completion after the config JSON of
 * sam_config.c), loading or random weights, pre-processing and the forward
 * pass (patch embedding, transformer blocks, neck), following
 * segment-anything's ImageEncoderViT. */
#include "sam/sam_encoder.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"
#include "image/resize.h"
#include "nn/linear.h"
#include "sam/sam_config.h"
#include "sam/sam_attention.h"
#include "sam/sam_simd.h"

#define LN_EPS 1e-6f
#define MAX_GRID 256
#define MAX_DIM 16384
#define PREFIX "image_encoder."

typedef struct {
    int global;
    int32_t L; /* side of the attention square: window or grid */
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b;
    const float *qkv_b, *rel_h, *rel_w;
    am_linear *qkv, *proj, *lin1, *lin2;
} block;

struct sam_encoder {
    sam_encoder_config cfg;
    am_precision precision;
    block *blocks;
    am_linear *patch, *neck_conv1, *neck_conv2;
    const float *pos_embed, *neck_ln1_w, *neck_ln1_b, *neck_ln2_w, *neck_ln2_b;
    float **owned; /* random weights that must outlive the layers */
    int32_t n_owned, cap_owned;
    /* Activations, allocated once. */
    float *x;    /* [T][C] tokens */
    float *xn;   /* [T][C] normalised tokens */
    float *qkv;  /* [T][3C] */
    float *attn; /* [T][C] */
    float *tmp;  /* [T][max(C, out)] */
    float *big;  /* [T][max(mlp, 9*out, 3*P*P)]: MLP hidden, im2col buffers */
    sam_attn_workspace *ws;
    sam_encoder_trace_fn trace;
    void *trace_user;
};

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

static void set_defaults(sam_encoder_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->image_size = 1024;
    cfg->patch_size = 16;
    cfg->grid = 64;
    cfg->window_size = 14;
    cfg->out_chans = 256;
    const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
    memcpy(cfg->pixel_mean, mean, sizeof mean);
    memcpy(cfg->pixel_std, std, sizeof std);
}

am_status sam_encoder_config_for_variant(const char *variant, sam_encoder_config *cfg,
                                         am_error *err) {
    static const struct {
        const char *name;
        int32_t dim, depth, heads, global[4];
    } variants[] = {
        {"vit_b", 768, 12, 12, {2, 5, 8, 11}},
        {"vit_l", 1024, 24, 16, {5, 11, 17, 23}},
        {"vit_h", 1280, 32, 16, {7, 15, 23, 31}},
    };
    for (size_t i = 0; variant && i < sizeof variants / sizeof variants[0]; i++) {
        if (strcmp(variant, variants[i].name) != 0) continue;
        set_defaults(cfg);
        cfg->embed_dim = variants[i].dim;
        cfg->depth = variants[i].depth;
        cfg->heads = variants[i].heads;
        cfg->mlp_dim = 4 * variants[i].dim;
        cfg->n_global = 4;
        memcpy(cfg->global_index, variants[i].global, sizeof variants[i].global);
        return AM_OK;
    }
    return am_error_set(err, AM_ERR_ARGUMENT,
                        "unknown SAM variant '%s' (expected vit_b, vit_l or vit_h)",
                        variant ? variant : "(null)");
}

static int is_global(const sam_encoder_config *cfg, int32_t i) {
    for (int32_t g = 0; g < cfg->n_global; g++)
        if (cfg->global_index[g] == i) return 1;
    return 0;
}

/* Checks that a config describes a model this code can run. */
static am_status validate_config(const sam_encoder_config *c, am_error *err) {
    if (c->patch_size <= 0 || c->image_size <= 0 || c->image_size % c->patch_size != 0 ||
        c->grid != c->image_size / c->patch_size || c->grid > MAX_GRID)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM encoder config: image size %d, patch %d, grid %d do not fit "
                            "(image = patch * grid, grid <= %d)",
                            (int)c->image_size, (int)c->patch_size, (int)c->grid, MAX_GRID);
    if (c->embed_dim <= 0 || c->embed_dim > MAX_DIM)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM encoder config: width %d is not 1..%d",
                            (int)c->embed_dim, MAX_DIM);
    if (c->heads <= 0 || c->embed_dim % c->heads != 0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM encoder config: width %d is not a multiple of %d heads",
                            (int)c->embed_dim, (int)c->heads);
    if (c->depth <= 0 || c->depth > SAM_ENCODER_MAX_DEPTH || c->mlp_dim <= 0 ||
        c->mlp_dim > 8 * MAX_DIM || c->out_chans <= 0 || c->out_chans > MAX_DIM ||
        c->window_size <= 0 || c->window_size > MAX_GRID)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM encoder config: depth %d, MLP %d, neck %d or window %d out of "
                            "range",
                            (int)c->depth, (int)c->mlp_dim, (int)c->out_chans, (int)c->window_size);
    if (c->n_global < 0 || c->n_global > 8)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM encoder config: %d global blocks (at most 8)", (int)c->n_global);
    for (int32_t g = 0; g < c->n_global; g++) {
        if (c->global_index[g] < 0 || c->global_index[g] >= c->depth)
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "SAM encoder config: global block %d outside depth %d",
                                (int)c->global_index[g], (int)c->depth);
        for (int32_t h = 0; h < g; h++)
            if (c->global_index[h] == c->global_index[g])
                return am_error_set(err, AM_ERR_ARGUMENT,
                                    "SAM encoder config: global block %d listed twice",
                                    (int)c->global_index[g]);
    }
    for (int k = 0; k < 3; k++)
        if (!(c->pixel_std[k] > 0.0f) || !isfinite(c->pixel_mean[k]))
            return am_error_set(err, AM_ERR_ARGUMENT, "SAM encoder config: invalid pixel mean/std");
    return AM_OK;
}

/* The tensor `image_encoder.<name>`, or NULL. */
static const am_tensor_info *find(am_weights *w, const char *name) {
    char full[256];
    snprintf(full, sizeof full, PREFIX "%s", name);
    return am_weights_find(w, full);
}

am_status sam_encoder_config_finish(sam_encoder_config *cfg, am_error *err) {
    if (cfg->heads == 0)
        return am_error_set(err, AM_ERR_MODEL,
                            "SAM image encoder of width %d: the head count cannot be inferred "
                            "(give a config JSON with encoder_num_heads)",
                            (int)cfg->embed_dim);
    /* a config JSON may give any int32 width: the check refuses those above MAX_DIM */
    if (cfg->mlp_dim == 0 && cfg->embed_dim <= MAX_DIM) cfg->mlp_dim = 4 * cfg->embed_dim;
    return validate_config(cfg, err);
}

/* Infers the sizes from the tensors, as described in the header. */
static am_status infer_config(am_weights *w, sam_encoder_config *cfg, am_error *err) {
    set_defaults(cfg);
    const am_tensor_info *pe = find(w, "patch_embed.proj.weight");
    const am_tensor_info *pos = find(w, "pos_embed");
    if (!pe || pe->ndim != 4 || pe->shape[1] != 3 || pe->shape[2] != pe->shape[3] ||
        pe->shape[0] <= 0 || pe->shape[0] > MAX_DIM || pe->shape[2] <= 0 || pe->shape[2] > 1024)
        return am_error_set(err, AM_ERR_MODEL,
                            "no SAM image encoder: " PREFIX
                            "patch_embed.proj.weight [C,3,P,P] missing or malformed");
    cfg->embed_dim = (int32_t)pe->shape[0];
    cfg->patch_size = (int32_t)pe->shape[2];
    if (!pos || pos->ndim != 4 || pos->shape[0] != 1 || pos->shape[1] != pos->shape[2] ||
        pos->shape[3] != cfg->embed_dim || pos->shape[1] <= 0 || pos->shape[1] > MAX_GRID)
        return am_error_set(err, AM_ERR_MODEL, PREFIX "pos_embed [1,G,G,C] missing or malformed");
    cfg->grid = (int32_t)pos->shape[1];
    cfg->image_size = cfg->grid * cfg->patch_size;
    char name[128];
    int32_t depth = 0;
    for (; depth <= SAM_ENCODER_MAX_DEPTH; depth++) {
        snprintf(name, sizeof name, "blocks.%d.norm1.weight", (int)depth);
        if (!find(w, name)) break;
    }
    if (depth == 0 || depth > SAM_ENCODER_MAX_DEPTH)
        return am_error_set(err, AM_ERR_MODEL, "SAM image encoder with %d blocks", (int)depth);
    cfg->depth = depth;
    int32_t window = 0, hd = 0;
    cfg->n_global = 0;
    for (int32_t i = 0; i < depth; i++) {
        snprintf(name, sizeof name, "blocks.%d.attn.rel_pos_h", (int)i);
        const am_tensor_info *t = find(w, name);
        if (!t || t->ndim != 2 || t->shape[1] <= 0 || t->shape[0] % 2 == 0)
            return am_error_set(err, AM_ERR_MODEL, PREFIX "%s [2L-1,hd] missing or malformed",
                                name);
        if (hd == 0) hd = (int32_t)t->shape[1];
        if (t->shape[0] == 2 * cfg->grid - 1) {
            if (cfg->n_global == 8)
                return am_error_set(err, AM_ERR_UNSUPPORTED,
                                    "SAM image encoder with more than 8 global blocks");
            cfg->global_index[cfg->n_global++] = i;
        } else {
            int32_t wi = (int32_t)(t->shape[0] + 1) / 2;
            if (window != 0 && wi != window)
                return am_error_set(err, AM_ERR_MODEL,
                                    "SAM image encoder: windows of %d and %d tokens", (int)window,
                                    (int)wi);
            window = wi;
        }
    }
    cfg->window_size = window ? window : cfg->grid;
    if (cfg->embed_dim == 768)
        cfg->heads = 12;
    else if (cfg->embed_dim == 1024 || cfg->embed_dim == 1280)
        cfg->heads = 16;
    else if (hd > 0 && cfg->embed_dim % hd == 0)
        cfg->heads = cfg->embed_dim / hd; /* the rel-pos tables have head_dim columns */
    const am_tensor_info *l1 = find(w, "blocks.0.mlp.lin1.weight");
    if (l1 && l1->ndim == 2 && l1->shape[0] > 0 && l1->shape[0] <= 8 * MAX_DIM)
        cfg->mlp_dim = (int32_t)l1->shape[0];
    const am_tensor_info *n0 = find(w, "neck.0.weight");
    if (n0 && n0->ndim == 4 && n0->shape[0] > 0 && n0->shape[0] <= MAX_DIM)
        cfg->out_chans = (int32_t)n0->shape[0];
    return AM_OK;
}

/* ------------------------------------------------------------------------ */
/* Weights                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum { INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_NORMAL } init_kind;

/* Where the tensors come from: a weight file, or a seeded generator. */
typedef struct {
    am_weights *w; /* NULL: random */
    am_rng rng;
    sam_encoder *enc;
} source;

/* Tensor image_encoder.<name> of the given shape: from the file (shape-checked),
 * or a new random buffer owned by the encoder (init: uniform in +-scale, ones,
 * zeros, or normal with std scale). */
static am_status tensor(source *s, const char *name, int32_t ndim, const int64_t *shape,
                        init_kind init, float scale, const float **out, am_error *err) {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; i++)
        n *= shape[i];
    if (s->w) {
        const am_tensor_info *t = find(s->w, name);
        if (!t) return am_error_set(err, AM_ERR_MODEL, "tensor " PREFIX "%s missing", name);
        int ok = t->ndim == ndim;
        for (int32_t i = 0; ok && i < ndim; i++)
            ok = t->shape[i] == shape[i];
        if (!ok) {
            char want[128] = "", *p = want;
            for (int32_t i = 0; i < ndim; i++)
                p += snprintf(p, sizeof want - (size_t)(p - want), "%s%lld", i ? "," : "",
                              (long long)shape[i]);
            return am_error_set(err, AM_ERR_MODEL,
                                "tensor " PREFIX "%s has the wrong shape (expected [%s])", name,
                                want);
        }
        am_status st = am_weights_get_f32(s->w, t->name, out, err);
        if (st != AM_OK) return st;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite((*out)[i]))
                return am_error_set(err, AM_ERR_MODEL, "tensor " PREFIX "%s is not finite", name);
        return AM_OK;
    }
    sam_encoder *e = s->enc;
    if (e->n_owned == e->cap_owned) {
        int32_t cap = e->cap_owned ? 2 * e->cap_owned : 64;
        float **grown = realloc(e->owned, (size_t)cap * sizeof *grown);
        if (!grown) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        e->owned = grown;
        e->cap_owned = cap;
    }
    float *buf = am_alloc((size_t)n, sizeof(float), err);
    if (!buf) return AM_ERR_NOMEM;
    e->owned[e->n_owned++] = buf;
    for (int64_t i = 0; i < n; i++) {
        switch (init) {
        case INIT_UNIFORM:
            buf[i] = (2.0f * am_rng_uniform(&s->rng) - 1.0f) * scale;
            break;
        case INIT_ONES:
            buf[i] = 1.0f;
            break;
        case INIT_ZEROS:
            buf[i] = 0.0f;
            break;
        case INIT_NORMAL:
            buf[i] = am_rng_normal(&s->rng) * scale;
            break;
        }
    }
    *out = buf;
    return AM_OK;
}

/* Releases the last random buffer once a bf16 layer has its own copy. */
static void drop_last_random(source *s, const float *buf) {
    sam_encoder *e = s->enc;
    if (s->w || e->n_owned == 0 || e->owned[e->n_owned - 1] != buf) return;
    am_free(e->owned[--e->n_owned]);
}

/* A linear layer from <name>.weight [out][in] (any trailing 1-dims in `wshape`)
 * and, if bias_out is not NULL, <name>.bias (returned there too). */
static am_status linear(source *s, const char *name, int32_t ndim, const int64_t *wshape,
                        const float **bias_out, am_linear **out, am_error *err) {
    char wn[160], bn[160];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    int64_t in = 1;
    for (int32_t i = 1; i < ndim; i++)
        in *= wshape[i];
    const float bound = 1.0f / sqrtf((float)in);
    const float *b = NULL, *wt = NULL;
    am_status st;
    if (bias_out && (st = tensor(s, bn, 1, wshape, INIT_UNIFORM, bound, &b, err)) != AM_OK)
        return st;
    if ((st = tensor(s, wn, ndim, wshape, INIT_UNIFORM, bound, &wt, err)) != AM_OK) return st;
    if ((st = am_linear_create(wt, b, wshape[0], in, s->enc->precision, out, err)) != AM_OK)
        return st;
    if (s->enc->precision == AM_PRECISION_BF16) drop_last_random(s, wt);
    if (bias_out) *bias_out = b;
    return AM_OK;
}

static am_status load_block(source *s, int32_t i, block *b, am_error *err) {
    const sam_encoder_config *c = &s->enc->cfg;
    const int64_t C = c->embed_dim, M = c->mlp_dim, hd = c->embed_dim / c->heads;
    b->global = is_global(c, i);
    b->L = b->global ? c->grid : c->window_size;
    char n[128];
    const int64_t vec[1] = {C};
    const int64_t rel[2] = {2 * b->L - 1, hd};
    const int64_t qkv[2] = {3 * C, C}, proj[2] = {C, C}, lin1[2] = {M, C}, lin2[2] = {C, M};
    const float *bias;
    am_status st;
#define BLOCK_NAME(suffix) (snprintf(n, sizeof n, "blocks.%d." suffix, (int)i), n)
    if ((st = tensor(s, BLOCK_NAME("norm1.weight"), 1, vec, INIT_ONES, 0, &b->norm1_w, err)) ||
        (st = tensor(s, BLOCK_NAME("norm1.bias"), 1, vec, INIT_ZEROS, 0, &b->norm1_b, err)) ||
        (st = tensor(s, BLOCK_NAME("norm2.weight"), 1, vec, INIT_ONES, 0, &b->norm2_w, err)) ||
        (st = tensor(s, BLOCK_NAME("norm2.bias"), 1, vec, INIT_ZEROS, 0, &b->norm2_b, err)) ||
        (st =
             tensor(s, BLOCK_NAME("attn.rel_pos_h"), 2, rel, INIT_NORMAL, 0.02f, &b->rel_h, err)) ||
        (st =
             tensor(s, BLOCK_NAME("attn.rel_pos_w"), 2, rel, INIT_NORMAL, 0.02f, &b->rel_w, err)) ||
        (st = linear(s, BLOCK_NAME("attn.qkv"), 2, qkv, &b->qkv_b, &b->qkv, err)) ||
        (st = linear(s, BLOCK_NAME("attn.proj"), 2, proj, &bias, &b->proj, err)) ||
        (st = linear(s, BLOCK_NAME("mlp.lin1"), 2, lin1, &bias, &b->lin1, err)) ||
        (st = linear(s, BLOCK_NAME("mlp.lin2"), 2, lin2, &bias, &b->lin2, err)))
        return st;
#undef BLOCK_NAME
    return AM_OK;
}

static am_status alloc_buffers(sam_encoder *e, am_error *err) {
    const sam_encoder_config *c = &e->cfg;
    const size_t T = (size_t)c->grid * (size_t)c->grid, C = (size_t)c->embed_dim;
    size_t big = (size_t)c->mlp_dim;
    if ((size_t)c->out_chans * 9 > big) big = (size_t)c->out_chans * 9;
    if ((size_t)c->patch_size * c->patch_size * 3 > big)
        big = (size_t)c->patch_size * c->patch_size * 3;
    const size_t wide = C > (size_t)c->out_chans ? C : (size_t)c->out_chans;
    if (!(e->x = am_alloc(T * C, sizeof(float), err)) ||
        !(e->xn = am_alloc(T * C, sizeof(float), err)) ||
        !(e->qkv = am_alloc(T * 3 * C, sizeof(float), err)) ||
        !(e->attn = am_alloc(T * C, sizeof(float), err)) ||
        !(e->tmp = am_alloc(T * wide, sizeof(float), err)) ||
        !(e->big = am_alloc(T * big, sizeof(float), err)))
        return AM_ERR_NOMEM;
    int32_t max_window = 0;
    for (int32_t i = 0; i < c->depth; i++)
        if (!is_global(c, i)) max_window = c->window_size;
    return sam_attn_workspace_create(c->grid, c->embed_dim, c->heads, max_window, e->precision,
                                     omp_get_max_threads(), &e->ws, err);
}

/* Builds the encoder from a validated config and a tensor source. */
static am_status build(source *s, const sam_encoder_config *cfg, am_precision precision,
                       sam_encoder **out, am_error *err) {
    *out = NULL;
    if (precision != AM_PRECISION_F32 && precision != AM_PRECISION_BF16)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM encoder: unknown precision %d",
                            (int)precision);
    am_status st = validate_config(cfg, err);
    if (st != AM_OK) return st;
    sam_encoder *e = calloc(1, sizeof *e);
    if (!e) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    e->cfg = *cfg;
    e->precision = precision;
    s->enc = e;
    const int64_t C = cfg->embed_dim, G = cfg->grid, P = cfg->patch_size, O = cfg->out_chans;
    const int64_t patch_shape[4] = {C, 3, P, P}, pos_shape[4] = {1, G, G, C};
    const float *bias;
    const int64_t neck1[4] = {O, C, 1, 1}, neck2[4] = {O, O, 3, 3}, vec[1] = {O};
    e->blocks = calloc((size_t)cfg->depth, sizeof *e->blocks);
    if (!e->blocks) {
        st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = linear(s, "patch_embed.proj", 4, patch_shape, &bias, &e->patch, err)) ||
        (st = tensor(s, "pos_embed", 4, pos_shape, INIT_NORMAL, 0.02f, &e->pos_embed, err)))
        goto fail;
    for (int32_t i = 0; i < cfg->depth; i++)
        if ((st = load_block(s, i, &e->blocks[i], err))) goto fail;
    if ((st = linear(s, "neck.0", 4, neck1, NULL, &e->neck_conv1, err)) ||
        (st = tensor(s, "neck.1.weight", 1, vec, INIT_ONES, 0, &e->neck_ln1_w, err)) ||
        (st = tensor(s, "neck.1.bias", 1, vec, INIT_ZEROS, 0, &e->neck_ln1_b, err)) ||
        (st = linear(s, "neck.2", 4, neck2, NULL, &e->neck_conv2, err)) ||
        (st = tensor(s, "neck.3.weight", 1, vec, INIT_ONES, 0, &e->neck_ln2_w, err)) ||
        (st = tensor(s, "neck.3.bias", 1, vec, INIT_ZEROS, 0, &e->neck_ln2_b, err)) ||
        (st = alloc_buffers(e, err)))
        goto fail;
    *out = e;
    return AM_OK;
fail:
    sam_encoder_free(e);
    return st;
}

am_status sam_encoder_load(am_weights *w, const char *config_path, am_precision precision,
                           sam_encoder **out, am_error *err) {
    *out = NULL;
    if (!w) return am_error_set(err, AM_ERR_ARGUMENT, "sam_encoder_load: no weights");
    sam_encoder_config cfg;
    am_status st = infer_config(w, &cfg, err);
    if (st == AM_OK && config_path) {
        json_t *j;
        st = sam_config_load(config_path, &j, err);
        if (st == AM_OK) st = sam_config_apply_encoder(j, config_path, &cfg, err);
        json_decref(j);
    }
    if (st == AM_OK && (st = sam_encoder_config_finish(&cfg, err)) != AM_OK && config_path)
        am_error_prefix(err, "%s: ", config_path);
    if (st == AM_OK) {
        source s = {.w = w};
        st = build(&s, &cfg, precision, out, err);
    }
    if (st != AM_OK) am_error_prefix(err, "%s: ", am_weights_path(w));
    return st;
}

am_status sam_encoder_create_random(const sam_encoder_config *cfg, uint64_t seed,
                                    am_precision precision, sam_encoder **out, am_error *err) {
    *out = NULL;
    if (!cfg) return am_error_set(err, AM_ERR_ARGUMENT, "sam_encoder_create_random: no config");
    source s = {.w = NULL};
    am_rng_seed(&s.rng, seed);
    return build(&s, cfg, precision, out, err);
}

double sam_encoder_gflop(const sam_encoder_config *c) {
    const double C = c->embed_dim, G = c->grid, T = G * G, M = c->mlp_dim, O = c->out_chans;
    const double P = c->patch_size, w = c->window_size, nw = ceil(G / w), Tp = nw * w * nw * w;
    double f = 2 * T * C * 3 * P * P + 2 * T * C * O + 2 * T * 9 * O * O;
    for (int32_t i = 0; i < c->depth; i++) {
        const double n = is_global(c, i) ? T : Tp; /* tokens through qkv and proj */
        const double att = is_global(c, i) ? 4 * T * T * C : 4 * nw * nw * w * w * w * w * C;
        const double rel = is_global(c, i) ? 4 * T * G * C : 4 * Tp * w * C;
        f += 2 * n * C * 4 * C + att + rel + 4 * T * C * M;
    }
    return f / 1e9;
}

const sam_encoder_config *sam_encoder_get_config(const sam_encoder *enc) {
    return &enc->cfg;
}

void sam_encoder_set_trace(sam_encoder *enc, sam_encoder_trace_fn fn, void *user) {
    enc->trace = fn;
    enc->trace_user = user;
}

void sam_encoder_free(sam_encoder *e) {
    if (!e) return;
    if (e->blocks)
        for (int32_t i = 0; i < e->cfg.depth; i++) {
            am_linear_free(e->blocks[i].qkv);
            am_linear_free(e->blocks[i].proj);
            am_linear_free(e->blocks[i].lin1);
            am_linear_free(e->blocks[i].lin2);
        }
    free(e->blocks);
    am_linear_free(e->patch);
    am_linear_free(e->neck_conv1);
    am_linear_free(e->neck_conv2);
    for (int32_t i = 0; i < e->n_owned; i++)
        am_free(e->owned[i]);
    free(e->owned);
    am_free(e->x);
    am_free(e->xn);
    am_free(e->qkv);
    am_free(e->attn);
    am_free(e->tmp);
    am_free(e->big);
    sam_attn_workspace_free(e->ws);
    free(e);
}

/* ------------------------------------------------------------------------ */
/* Pre-processing                                                            */
/* ------------------------------------------------------------------------ */

am_status sam_encoder_preprocess(const sam_encoder *enc, const am_image *image, float *input,
                                 int32_t *input_h, int32_t *input_w, am_error *err) {
    const int32_t S = enc->cfg.image_size;
    if (!image || !image->data || image->width <= 0 || image->height <= 0 || !input)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM pre-processing: empty image");
    const int32_t H = image->height, W = image->width;
    const double scale = (double)S / (double)(H > W ? H : W);
    const int32_t nh = (int32_t)(H * scale + 0.5), nw = (int32_t)(W * scale + 0.5);
    if (nh <= 0 || nw <= 0 || nh > S || nw > S)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM pre-processing: a %dx%d image resizes to %dx%d", (int)W, (int)H,
                            (int)nw, (int)nh);
    uint8_t *resized = am_alloc((size_t)nh * (size_t)nw, 3, err);
    if (!resized) return AM_ERR_NOMEM;
    am_status st = am_resize_u8(image->data, W, H, 3, resized, nw, nh, AM_RESAMPLE_BILINEAR, err);
    if (st != AM_OK) {
        am_free(resized);
        return st;
    }
    for (int c = 0; c < 3; c++) {
        const float mean = enc->cfg.pixel_mean[c], std = enc->cfg.pixel_std[c];
        float *plane = input + (size_t)c * S * S;
        for (int32_t y = 0; y < S; y++) {
            float *row = plane + (size_t)y * S;
            if (y >= nh) {
                memset(row, 0, (size_t)S * sizeof(float));
                continue;
            }
            const uint8_t *src = resized + (size_t)y * nw * 3 + c;
            for (int32_t x = 0; x < nw; x++)
                row[x] = ((float)src[(size_t)x * 3] - mean) / std;
            for (int32_t x = nw; x < S; x++)
                row[x] = 0.0f;
        }
    }
    am_free(resized);
    *input_h = nh;
    *input_w = nw;
    return AM_OK;
}

/* ------------------------------------------------------------------------ */
/* Forward pass                                                              */
/* ------------------------------------------------------------------------ */

/* y[r] = LayerNorm(x[r]) * w + b over C channels, eps 1e-6, for every row. */
static void layer_norm(const float *x, float *y, int64_t rows, int32_t C, const float *w,
                       const float *b) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int32_t i = 0; i < C; i++)
            sum += xr[i];
        const float mean = sum / (float)C;
        float var = 0.0f;
#pragma omp simd reduction(+ : var)
        for (int32_t i = 0; i < C; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        const float rstd = 1.0f / sqrtf(var / (float)C + LN_EPS);
#pragma omp simd
        for (int32_t i = 0; i < C; i++)
            yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
    }
}

/* x += y over n floats. */
static void add_inplace(float *x, const float *y, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++)
        x[i] += y[i];
}

static void gelu(float *x, int64_t n) {
    const int64_t chunk = 16384;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i += chunk)
        sam_gelu_inplace(x + i, n - i < chunk ? n - i : chunk);
}

static void trace(sam_encoder *e, const char *name, const float *data, int64_t n) {
    if (e->trace) e->trace(e->trace_user, name, data, n);
}

/* The neck: conv1x1, LayerNorm2d, conv3x3 (pad 1), LayerNorm2d; out is [O][G][G]. */
static am_status neck(sam_encoder *e, float *out, am_error *err) {
    const int32_t G = e->cfg.grid, C = e->cfg.embed_dim, O = e->cfg.out_chans;
    const int64_t T = (int64_t)G * G;
    float *a = e->tmp, *col = e->big;
    am_status st = am_linear_forward(e->neck_conv1, e->x, C, T, a, O, err);
    if (st != AM_OK) return st;
    layer_norm(a, a, T, O, e->neck_ln1_w, e->neck_ln1_b);
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T; t++) {
        const int32_t y = (int32_t)(t / G), x = (int32_t)(t % G);
        float *row = col + t * 9 * O;
        for (int32_t c = 0; c < O; c++)
            for (int32_t ky = 0; ky < 3; ky++)
                for (int32_t kx = 0; kx < 3; kx++) {
                    const int32_t sy = y + ky - 1, sx = x + kx - 1;
                    row[c * 9 + ky * 3 + kx] = sy >= 0 && sy < G && sx >= 0 && sx < G
                                                   ? a[((int64_t)sy * G + sx) * O + c]
                                                   : 0.0f;
                }
    }
    if ((st = am_linear_forward(e->neck_conv2, col, 9 * O, T, a, O, err)) != AM_OK) return st;
    layer_norm(a, a, T, O, e->neck_ln2_w, e->neck_ln2_b);
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < O; c++)
        for (int64_t t = 0; t < T; t++)
            out[(int64_t)c * T + t] = a[t * O + c];
    return AM_OK;
}

am_status sam_encoder_forward(sam_encoder *e, const float *input, float *embedding, am_error *err) {
    if (!input || !embedding)
        return am_error_set(err, AM_ERR_ARGUMENT, "sam_encoder_forward: NULL buffer");
    const sam_encoder_config *c = &e->cfg;
    const int32_t G = c->grid, C = c->embed_dim, P = c->patch_size, S = c->image_size;
    const int32_t M = c->mlp_dim, K = 3 * P * P;
    const int64_t T = (int64_t)G * G;
    am_status st;
    if (sam_attn_workspace_threads(e->ws) != omp_get_max_threads()) {
        int32_t max_window = 0;
        for (int32_t i = 0; i < c->depth; i++)
            if (!e->blocks[i].global) max_window = c->window_size;
        sam_attn_workspace *ws = NULL;
        if ((st = sam_attn_workspace_create(G, C, c->heads, max_window, e->precision,
                                            omp_get_max_threads(), &ws, err)) != AM_OK)
            return st;
        sam_attn_workspace_free(e->ws);
        e->ws = ws;
    }
    /* Patch embedding: im2col of the 16x16 patches, then one GEMM. */
    float *col = e->big;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T; t++) {
        const int32_t py = (int32_t)(t / G), px = (int32_t)(t % G);
        for (int32_t ch = 0; ch < 3; ch++)
            for (int32_t ky = 0; ky < P; ky++)
                memcpy(col + t * K + (ch * P + ky) * P,
                       input + ((int64_t)ch * S + (int64_t)py * P + ky) * S + (int64_t)px * P,
                       (size_t)P * sizeof(float));
    }
    if ((st = am_linear_forward(e->patch, col, K, T, e->x, C, err)) != AM_OK) return st;
    trace(e, "enc.patch", e->x, T * C);
    add_inplace(e->x, e->pos_embed, T * C);
    trace(e, "enc.pos_embed_added", e->x, T * C);
    for (int32_t i = 0; i < c->depth; i++) {
        const block *b = &e->blocks[i];
        layer_norm(e->x, e->xn, T, C, b->norm1_w, b->norm1_b);
        if ((st = am_linear_forward(b->qkv, e->xn, C, T, e->qkv, 3 * C, err)) != AM_OK) return st;
        const sam_attn_params ap = {
            b->global ? 0 : c->window_size, e->qkv, b->qkv_b, b->rel_h, b->rel_w, e->attn};
        sam_attn_forward(e->ws, &ap);
        if ((st = am_linear_forward(b->proj, e->attn, C, T, e->tmp, C, err)) != AM_OK) return st;
        add_inplace(e->x, e->tmp, T * C);
        layer_norm(e->x, e->xn, T, C, b->norm2_w, b->norm2_b);
        if ((st = am_linear_forward(b->lin1, e->xn, C, T, e->big, M, err)) != AM_OK) return st;
        gelu(e->big, T * M);
        if ((st = am_linear_forward(b->lin2, e->big, M, T, e->tmp, C, err)) != AM_OK) return st;
        add_inplace(e->x, e->tmp, T * C);
        if (e->trace) {
            char name[32];
            snprintf(name, sizeof name, "enc.block%d", (int)i);
            trace(e, name, e->x, T * C);
        }
    }
    return neck(e, embedding, err);
}
