/* clip_model.c - building an am_clip: from an OpenCLIP state dict (sizes
 * inferred from tensor shapes, heads and options from an open_clip
 * model-config JSON when there is one) or from a seed (random weights
 * initialised like open_clip); its identity, its sizes, and freeing it. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip/clip_config.h"
#include "clip/clip_internal.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/file.h"

/* The largest sizes accepted from a config or a random-model request. */
#define MAX_WIDTH 16384
#define MAX_LAYERS 256
#define MAX_GRID 256
#define MAX_PATCH 128
#define MAX_CONTEXT 4096
#define MAX_CONFIG_BYTES (1 << 20)

am_clip_params am_clip_default_params(void) {
    am_clip_params p = {.precision = AM_PRECISION_F32, .threads = 0, .config_path = NULL};
    return p;
}

/* The tensors of one block, wherever they live. */
typedef struct {
    const float *ln1_w, *ln1_b, *in_w, *in_b, *out_w, *out_b, *ln2_w, *ln2_b, *fc_w, *fc_b,
        *pr_w, *pr_b;
} block_src;

/* Prepares the linear layers of block i of a tower. */
static am_status build_block(clip_tower *t, int32_t i, const block_src *s, am_precision prec,
                             am_error *err) {
    clip_block *b = &t->blocks[i];
    const int64_t w = t->width, h = t->hidden;
    am_status st;
    b->ln1_w = s->ln1_w;
    b->ln1_b = s->ln1_b;
    b->ln2_w = s->ln2_w;
    b->ln2_b = s->ln2_b;
    if ((st = am_linear_create(s->in_w, s->in_b, 3 * w, w, prec, &b->qkv, err)) != AM_OK ||
        (st = am_linear_create(s->out_w, s->out_b, w, w, prec, &b->out, err)) != AM_OK ||
        (st = am_linear_create(s->fc_w, s->fc_b, h, w, prec, &b->fc, err)) != AM_OK ||
        (st = am_linear_create(s->pr_w, s->pr_b, w, h, prec, &b->proj, err)) != AM_OK)
        return st;
    if (i == t->layers - 1) {
        if ((st = am_linear_create(s->in_w, s->in_b, w, w, prec, &b->q, err)) != AM_OK ||
            (st = am_linear_create(s->in_w + w * w, s->in_b + w, 2 * w, w, prec, &b->kv, err)) !=
                AM_OK)
            return st;
    }
    return AM_OK;
}

static am_status alloc_tower(clip_tower *t, int32_t width, int32_t layers, int32_t heads,
                             int32_t hidden, am_error *err) {
    t->width = width;
    t->layers = layers;
    t->heads = heads;
    t->hidden = hidden;
    t->blocks = am_calloc((size_t)layers, sizeof(clip_block), err);
    return t->blocks ? AM_OK : AM_ERR_NOMEM;
}

static void free_tower(clip_tower *t) {
    for (int32_t i = 0; t->blocks && i < t->layers; i++) {
        clip_block *b = &t->blocks[i];
        am_linear_free(b->qkv);
        am_linear_free(b->q);
        am_linear_free(b->kv);
        am_linear_free(b->out);
        am_linear_free(b->fc);
        am_linear_free(b->proj);
    }
    am_free(t->blocks);
    t->blocks = NULL;
}

void am_clip_free(am_clip *clip) {
    if (!clip) return;
    free_tower(&clip->vision);
    free_tower(&clip->text);
    am_linear_free(clip->patch_embed);
    am_linear_free(clip->vision_proj);
    am_linear_free(clip->text_proj);
    am_bpe_free(clip->bpe);
    am_weights_close(clip->weights);
    am_free(clip->owned);
    am_free(clip->x.data);
    am_free(clip->n.data);
    am_free(clip->a.data);
    am_free(clip->b.data);
    am_free(clip->base_h.data);
    am_free(clip->base_n.data);
    am_free(clip->base_b.data);
    am_free(clip->rows.data);
    am_free(clip->seqs);
    am_free(clip);
}

am_clip_info am_clip_get_info(const am_clip *clip) {
    return clip->info;
}

const char *am_clip_identity(const am_clip *clip) {
    return clip->identity;
}

/* Checks a parameter block and copies it into the model. */
static am_status take_params(am_clip *clip, const am_clip_params *params, am_error *err) {
    am_clip_params p = params ? *params : am_clip_default_params();
    if (p.precision != AM_PRECISION_F32 && p.precision != AM_PRECISION_BF16)
        return am_error_set(err, AM_ERR_ARGUMENT, "CLIP: unknown precision %d", (int)p.precision);
    if (p.threads < 0 || p.threads > 4096)
        return am_error_set(err, AM_ERR_ARGUMENT, "CLIP: %d threads", (int)p.threads);
    clip->precision = p.precision;
    clip->threads = p.threads;
    return AM_OK;
}

/* Checks that sizes describe a model this code can run. */
static am_status check_info(const am_clip_info *i, const char *what, am_error *err) {
    if (i->patch_size <= 0 || i->patch_size > MAX_PATCH || i->grid <= 0 || i->grid > MAX_GRID ||
        i->image_size != i->grid * i->patch_size)
        return am_error_set(err, AM_ERR_MODEL, "%s: image %d with patch %d is not a grid of patches",
                            what, (int)i->image_size, (int)i->patch_size);
    const int32_t w[2] = {i->vision_width, i->text_width}, l[2] = {i->vision_layers, i->text_layers},
                  h[2] = {i->vision_heads, i->text_heads};
    for (int k = 0; k < 2; k++) {
        if (w[k] <= 0 || w[k] > MAX_WIDTH || l[k] <= 0 || l[k] > MAX_LAYERS || h[k] <= 0 ||
            w[k] % h[k] != 0)
            return am_error_set(err, AM_ERR_MODEL,
                                "%s: %s tower of width %d, %d layers, %d heads is not valid", what,
                                k ? "text" : "vision", (int)w[k], (int)l[k], (int)h[k]);
    }
    if (i->embed_dim <= 0 || i->embed_dim > MAX_WIDTH || i->context_length <= 0 ||
        i->context_length > MAX_CONTEXT || i->vocab_size <= 0 || i->vocab_size > CLIP_MAX_VOCAB)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: embedding %d, context %d, vocabulary %d out of range", what,
                            (int)i->embed_dim, (int)i->context_length, (int)i->vocab_size);
    return AM_OK;
}

/* Prepares every layer once the tensor pointers are known. */
static am_status build_layers(am_clip *clip, const float *conv1, const float *vproj,
                              const float *tproj, const block_src *vb, const block_src *tb,
                              am_error *err) {
    const am_clip_info *i = &clip->info;
    const int64_t pp = 3 * (int64_t)i->patch_size * i->patch_size;
    am_status st;
    if ((st = am_linear_create(conv1, NULL, i->vision_width, pp, clip->precision,
                               &clip->patch_embed, err)) != AM_OK ||
        (st = am_linear_create_transposed(vproj, NULL, i->embed_dim, i->vision_width,
                                          clip->precision, &clip->vision_proj, err)) != AM_OK ||
        (st = am_linear_create_transposed(tproj, NULL, i->embed_dim, i->text_width,
                                          clip->precision, &clip->text_proj, err)) != AM_OK)
        return st;
    for (int32_t k = 0; k < i->vision_layers; k++)
        if ((st = build_block(&clip->vision, k, &vb[k], clip->precision, err)) != AM_OK) return st;
    for (int32_t k = 0; k < i->text_layers; k++)
        if ((st = build_block(&clip->text, k, &tb[k], clip->precision, err)) != AM_OK) return st;
    return am_bpe_create(&clip->bpe, err);
}

/* ---------------------------------------------------------------------- */
/* Loading a state dict                                                    */
/* ---------------------------------------------------------------------- */

typedef struct {
    am_weights *w;
    const char *path;
    char prefix[256];
    am_error *err;
} loader;

/* The float32 data of tensor prefix+name, checked to have exactly the shape
 * `ndim` x dims[] (a missing tensor or another shape is AM_ERR_MODEL). */
static const float *get_tensor(loader *L, const char *name, int32_t ndim, const int64_t *dims,
                               am_status *st) {
    if (*st != AM_OK) return NULL;
    char full[512];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    const am_tensor_info *t = am_weights_find(L->w, full);
    if (!t) {
        *st = am_error_set(L->err, AM_ERR_MODEL,
                           "%s: not an OpenCLIP model of the supported family: tensor '%s' is "
                           "missing", L->path, full);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int32_t d = 0; ok && d < ndim; d++) ok = t->shape[d] == dims[d];
    if (!ok) {
        char want[128] = "", have[128] = "";
        size_t o = 0;
        for (int32_t d = 0; d < ndim && o < sizeof want; d++)
            o += (size_t)snprintf(want + o, sizeof want - o, d ? ", %lld" : "%lld",
                                  (long long)dims[d]);
        o = 0;
        for (int32_t d = 0; d < t->ndim && o < sizeof have; d++)
            o += (size_t)snprintf(have + o, sizeof have - o, d ? ", %lld" : "%lld",
                                  (long long)t->shape[d]);
        *st = am_error_set(L->err, AM_ERR_MODEL, "%s: tensor '%s' has shape [%s], expected [%s]",
                           L->path, full, have, want);
        return NULL;
    }
    const float *data = NULL;
    *st = am_weights_get_f32(L->w, full, &data, L->err);
    if (*st != AM_OK) am_error_prefix(L->err, "%s: ", L->path);
    return data;
}

static const float *get1(loader *L, const char *name, int64_t a, am_status *st) {
    const int64_t d[1] = {a};
    return get_tensor(L, name, 1, d, st);
}

static const float *get2(loader *L, const char *name, int64_t a, int64_t b, am_status *st) {
    const int64_t d[2] = {a, b};
    return get_tensor(L, name, 2, d, st);
}

/* The shape of prefix+name, or NULL with the error set when it is missing. */
static const am_tensor_info *find_tensor(loader *L, const char *name, am_status *st) {
    if (*st != AM_OK) return NULL;
    char full[512];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    const am_tensor_info *t = am_weights_find(L->w, full);
    if (!t)
        *st = am_error_set(L->err, AM_ERR_MODEL,
                           "%s: not an OpenCLIP model of the supported family: tensor '%s' is "
                           "missing", L->path, full);
    return t;
}

static int has_tensor(loader *L, const char *name) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    return am_weights_find(L->w, full) != NULL;
}

/* What a weight file without a ViT image tower holds, told by its names. */
static const char *model_family(const am_weights *w) {
    static const struct {
        const char *marker, *family;
    } known[] = {
        {"visual.attnpool.", "a ResNet CLIP (ModifiedResNet, e.g. RN50)"},
        {"visual.layer1.", "a ResNet CLIP (ModifiedResNet, e.g. RN50)"},
        {"visual.trunk.", "a CLIP with a timm image tower (e.g. ConvNeXt)"},
        {"vision_model.embeddings.", "a Hugging Face transformers CLIP (use the open_clip file)"},
        {"image_encoder.", "a Segment Anything model (give it as --sam)"},
    };
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        for (int64_t i = 0; i < am_weights_count(w); i++)
            if (strstr(am_weights_at(w, i)->name, known[k].marker)) return known[k].family;
    return "an unknown model";
}

/* Finds the key prefix of the state dict ("", "module.", "state_dict.", ...)
 * from where visual.class_embedding is. */
static am_status find_prefix(loader *L) {
    static const char key[] = "visual.class_embedding";
    const size_t kl = sizeof key - 1;
    for (int64_t i = 0; i < am_weights_count(L->w); i++) {
        const char *name = am_weights_at(L->w, i)->name;
        size_t n = strlen(name);
        if (n < kl || strcmp(name + n - kl, key) != 0) continue;
        size_t pl = n - kl;
        if (pl > 0 && name[pl - 1] != '.') continue;
        if (pl >= sizeof L->prefix) continue;
        memcpy(L->prefix, name, pl);
        L->prefix[pl] = '\0';
        return AM_OK;
    }
    return am_error_set(L->err, AM_ERR_MODEL,
                        "%s: %s, not an OpenCLIP vision transformer (anomem runs ViT CLIPs such "
                        "as ViT-B-16-plus-240): tensor 'visual.class_embedding' is missing",
                        L->path, model_family(L->w));
}

/* Parses an open_clip model config file (see clip_config_parse). */
static am_status read_config(const char *path, clip_config *c, int *recognised, am_error *err) {
    char *text = NULL;
    size_t size = 0;
    am_status st = am_file_read_all(path, MAX_CONFIG_BYTES, &text, &size, err);
    if (st != AM_OK) return st;
    st = clip_config_parse(text, size, path, c, recognised, err);
    free(text);
    return st;
}

/* The config to use: the named one, else open_clip_config.json or an open_clip
 * config.json beside the weights.  *have is 0 when there is none. */
static am_status find_config(const char *weights_path, const char *named, clip_config *c,
                             char *path_buf, size_t path_size, int *have, am_error *err) {
    *have = 0;
    if (named) {
        snprintf(path_buf, path_size, "%s", named);
        int recognised;
        am_status st = read_config(path_buf, c, &recognised, err);
        if (st != AM_OK) return st;
        if (!recognised)
            return am_error_set(err, AM_ERR_FORMAT,
                                "%s: not an open_clip model config (no vision_cfg / text_cfg)",
                                named);
        *have = 1;
        return AM_OK;
    }
    const char *slash = strrchr(weights_path, '/');
    int dir_len = slash ? (int)(slash - weights_path) : 1;
    const char *dir = slash ? weights_path : ".";
    static const char *const names[] = {"open_clip_config.json", "config.json"};
    for (size_t i = 0; i < 2; i++) {
        if (snprintf(path_buf, path_size, "%.*s/%s", dir_len, dir, names[i]) >= (int)path_size)
            continue;
        if (access(path_buf, F_OK) != 0) continue;
        int recognised;
        am_status st = read_config(path_buf, c, &recognised, err);
        if (st != AM_OK) return st;
        if (recognised) {
            *have = 1;
            return AM_OK;
        }
    }
    return AM_OK;
}

/* A config value that must agree with the weights (0: not given). */
static am_status agree(const clip_config *c, const char *key, int32_t config_value,
                       int32_t weights_value, am_error *err) {
    if (config_value == 0 || config_value == weights_value) return AM_OK;
    return am_error_set(err, AM_ERR_MODEL, "%s: %s is %d but the weights have %d", c->path, key,
                        (int)config_value, (int)weights_value);
}

/* The tensors of block i of a tower named by `base` ("visual.transformer" or
 * "transformer"), checked against width w and hidden h. */
static am_status load_block(loader *L, const char *base, int32_t i, int64_t w, int64_t h,
                            block_src *b) {
    am_status st = AM_OK;
    char n[256];
#define NAME(s) (snprintf(n, sizeof n, "%s.resblocks.%d.%s", base, (int)i, s), n)
    b->ln1_w = get1(L, NAME("ln_1.weight"), w, &st);
    b->ln1_b = get1(L, NAME("ln_1.bias"), w, &st);
    b->in_w = get2(L, NAME("attn.in_proj_weight"), 3 * w, w, &st);
    b->in_b = get1(L, NAME("attn.in_proj_bias"), 3 * w, &st);
    b->out_w = get2(L, NAME("attn.out_proj.weight"), w, w, &st);
    b->out_b = get1(L, NAME("attn.out_proj.bias"), w, &st);
    b->ln2_w = get1(L, NAME("ln_2.weight"), w, &st);
    b->ln2_b = get1(L, NAME("ln_2.bias"), w, &st);
    b->fc_w = get2(L, NAME("mlp.c_fc.weight"), h, w, &st);
    b->fc_b = get1(L, NAME("mlp.c_fc.bias"), h, &st);
    b->pr_w = get2(L, NAME("mlp.c_proj.weight"), w, h, &st);
    b->pr_b = get1(L, NAME("mlp.c_proj.bias"), w, &st);
    if (st == AM_OK && (has_tensor(L, NAME("ls_1.gamma")) || has_tensor(L, NAME("ln_attn.weight")) ||
                        has_tensor(L, NAME("attn.ln_inner.weight"))))
        st = am_error_set(L->err, AM_ERR_UNSUPPORTED,
                          "%s: %s.resblocks.%d has layer scale or extra norms (not supported)",
                          L->path, base, (int)i);
#undef NAME
    return st;
}

/* Number of blocks of a tower: resblocks.0 .. resblocks.N-1 all present. */
static int32_t count_layers(loader *L, const char *base) {
    int32_t n = 0;
    char name[256];
    while (n < MAX_LAYERS) {
        snprintf(name, sizeof name, "%s.resblocks.%d.ln_1.weight", base, (int)n);
        if (!has_tensor(L, name)) break;
        n++;
    }
    return n;
}

/* The hidden width of a tower's MLP from resblocks.0.mlp.c_fc.weight. */
static int64_t mlp_hidden(loader *L, const char *base, int64_t w, am_status *st) {
    char name[256];
    snprintf(name, sizeof name, "%s.resblocks.0.mlp.c_fc.weight", base);
    const am_tensor_info *t = find_tensor(L, name, st);
    if (!t) return 0;
    if (t->ndim != 2 || t->shape[1] != w || t->shape[0] <= 0 || t->shape[0] > 16 * MAX_WIDTH) {
        *st = am_error_set(L->err, AM_ERR_MODEL, "%s: %s%s does not match width %lld", L->path,
                           L->prefix, name, (long long)w);
        return 0;
    }
    return t->shape[0];
}

/* Reads every tensor, checks every shape, and prepares the layers. */
static am_status load_model(am_clip *clip, loader *L, const clip_config *cfg, int have_cfg) {
    am_error *err = L->err;
    am_status st = find_prefix(L);
    if (st != AM_OK) return st;
    am_clip_info *in = &clip->info;
    /* Sizes from shapes. */
    const am_tensor_info *conv = find_tensor(L, "visual.conv1.weight", &st);
    const am_tensor_info *vpos = find_tensor(L, "visual.positional_embedding", &st);
    const am_tensor_info *vproj = find_tensor(L, "visual.proj", &st);
    const am_tensor_info *tok = find_tensor(L, "token_embedding.weight", &st);
    const am_tensor_info *tpos = find_tensor(L, "positional_embedding", &st);
    if (st != AM_OK) return st;
    if (conv->ndim != 4 || conv->shape[1] != 3 || conv->shape[2] != conv->shape[3] ||
        conv->shape[0] <= 0 || conv->shape[0] > MAX_WIDTH || conv->shape[2] <= 0 ||
        conv->shape[2] > MAX_PATCH)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: %svisual.conv1.weight is not [width, 3, patch, patch]", L->path,
                            L->prefix);
    in->vision_width = (int32_t)conv->shape[0];
    in->patch_size = (int32_t)conv->shape[2];
    if (vpos->ndim != 2 || vpos->shape[1] != in->vision_width || vpos->shape[0] < 2)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: %svisual.positional_embedding is not [1 + grid^2, %d]", L->path,
                            L->prefix, (int)in->vision_width);
    int64_t g = (int64_t)llround(sqrt((double)(vpos->shape[0] - 1)));
    if (g * g != vpos->shape[0] - 1 || g > MAX_GRID)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: %svisual.positional_embedding has %lld rows, not 1 + a square",
                            L->path, L->prefix, (long long)vpos->shape[0]);
    in->grid = (int32_t)g;
    in->image_size = in->grid * in->patch_size;
    if (vproj->ndim != 2 || vproj->shape[0] != in->vision_width || vproj->shape[1] <= 0 ||
        vproj->shape[1] > MAX_WIDTH)
        return am_error_set(err, AM_ERR_MODEL, "%s: %svisual.proj is not [%d, embed_dim]",
                            L->path, L->prefix, (int)in->vision_width);
    in->embed_dim = (int32_t)vproj->shape[1];
    if (tok->ndim != 2 || tok->shape[0] <= 0 || tok->shape[0] > CLIP_MAX_VOCAB ||
        tok->shape[1] <= 0 || tok->shape[1] > MAX_WIDTH)
        return am_error_set(err, AM_ERR_MODEL, "%s: %stoken_embedding.weight is not [vocab, width]",
                            L->path, L->prefix);
    in->vocab_size = (int32_t)tok->shape[0];
    in->text_width = (int32_t)tok->shape[1];
    if (tpos->ndim != 2 || tpos->shape[1] != in->text_width || tpos->shape[0] <= 0 ||
        tpos->shape[0] > MAX_CONTEXT)
        return am_error_set(err, AM_ERR_MODEL, "%s: %spositional_embedding is not [context, %d]",
                            L->path, L->prefix, (int)in->text_width);
    in->context_length = (int32_t)tpos->shape[0];
    in->vision_layers = count_layers(L, "visual.transformer");
    in->text_layers = count_layers(L, "transformer");
    if (in->vision_layers == 0) find_tensor(L, "visual.transformer.resblocks.0.ln_1.weight", &st);
    if (in->text_layers == 0) find_tensor(L, "transformer.resblocks.0.ln_1.weight", &st);
    if (st != AM_OK) return st;
    /* Heads: open_clip's config when there is one (its defaults: head width 64,
     * 8 text heads), else width / 64. */
    int32_t head_width = have_cfg && cfg->head_width ? cfg->head_width : 64;
    in->vision_heads = in->vision_width % head_width == 0 ? in->vision_width / head_width : 0;
    if (have_cfg) in->text_heads = cfg->text_heads ? cfg->text_heads : 8;
    else in->text_heads = in->text_width % 64 == 0 ? in->text_width / 64 : 0;
    if (in->vision_heads == 0 || in->text_heads == 0 || in->text_width % in->text_heads != 0)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: cannot split widths %d / %d into heads%s", L->path,
                            (int)in->vision_width, (int)in->text_width,
                            have_cfg ? "" : " of 64 (give an open_clip model config)");
    if (have_cfg) {
        if ((st = agree(cfg, "embed_dim", cfg->embed_dim, in->embed_dim, err)) != AM_OK ||
            (st = agree(cfg, "vision_cfg.image_size", cfg->image_size, in->image_size, err)) ||
            (st = agree(cfg, "vision_cfg.patch_size", cfg->patch_size, in->patch_size, err)) ||
            (st = agree(cfg, "vision_cfg.width", cfg->vision_width, in->vision_width, err)) ||
            (st = agree(cfg, "vision_cfg.layers", cfg->vision_layers, in->vision_layers, err)) ||
            (st = agree(cfg, "text_cfg.width", cfg->text_width, in->text_width, err)) ||
            (st = agree(cfg, "text_cfg.layers", cfg->text_layers, in->text_layers, err)) ||
            (st = agree(cfg, "text_cfg.context_length", cfg->context_length, in->context_length,
                        err)) ||
            (st = agree(cfg, "text_cfg.vocab_size", cfg->vocab_size, in->vocab_size, err)))
            return st;
        clip->quick_gelu = cfg->quick_gelu;
    }
    if ((st = check_info(in, L->path, err)) != AM_OK) return st;
    if (has_tensor(L, "visual.attn_pool.query") || has_tensor(L, "text_projection.weight"))
        return am_error_set(err, AM_ERR_UNSUPPORTED,
                            "%s: attentional pooling or a linear text projection (not supported)",
                            L->path);
    /* Every tensor, shape-checked. */
    const int64_t vw = in->vision_width, tw = in->text_width, e = in->embed_dim;
    const int64_t vh = mlp_hidden(L, "visual.transformer", vw, &st);
    const int64_t th = mlp_hidden(L, "transformer", tw, &st);
    const int64_t conv_dims[4] = {vw, 3, in->patch_size, in->patch_size};
    const float *conv1 = get_tensor(L, "visual.conv1.weight", 4, conv_dims, &st);
    clip->class_embedding = get1(L, "visual.class_embedding", vw, &st);
    clip->vision_pos =
        get2(L, "visual.positional_embedding", 1 + (int64_t)in->grid * in->grid, vw, &st);
    clip->ln_pre_w = get1(L, "visual.ln_pre.weight", vw, &st);
    clip->ln_pre_b = get1(L, "visual.ln_pre.bias", vw, &st);
    clip->ln_post_w = get1(L, "visual.ln_post.weight", vw, &st);
    clip->ln_post_b = get1(L, "visual.ln_post.bias", vw, &st);
    const float *vp = get2(L, "visual.proj", vw, e, &st);
    clip->token_embedding = get2(L, "token_embedding.weight", in->vocab_size, tw, &st);
    clip->text_pos = get2(L, "positional_embedding", in->context_length, tw, &st);
    clip->ln_final_w = get1(L, "ln_final.weight", tw, &st);
    clip->ln_final_b = get1(L, "ln_final.bias", tw, &st);
    const float *tp = get2(L, "text_projection", tw, e, &st);
    if (st != AM_OK) return st;
    if ((st = alloc_tower(&clip->vision, in->vision_width, in->vision_layers, in->vision_heads,
                          (int32_t)vh, err)) != AM_OK ||
        (st = alloc_tower(&clip->text, in->text_width, in->text_layers, in->text_heads,
                          (int32_t)th, err)) != AM_OK)
        return st;
    block_src *vb = am_calloc((size_t)in->vision_layers + in->text_layers, sizeof(block_src), err);
    if (!vb) return AM_ERR_NOMEM;
    block_src *tb = vb + in->vision_layers;
    for (int32_t i = 0; st == AM_OK && i < in->vision_layers; i++)
        st = load_block(L, "visual.transformer", i, vw, vh, &vb[i]);
    for (int32_t i = 0; st == AM_OK && i < in->text_layers; i++)
        st = load_block(L, "transformer", i, tw, th, &tb[i]);
    if (st == AM_OK) st = build_layers(clip, conv1, vp, tp, vb, tb, err);
    am_free(vb);
    return st;
}

am_status am_clip_load(const char *path, const am_clip_params *params, am_clip **out,
                       am_error *err) {
    *out = NULL;
    am_clip *clip = am_calloc(1, sizeof *clip, err);
    if (!clip) return AM_ERR_NOMEM;
    am_status st = take_params(clip, params, err);
    clip_config cfg;
    char cfg_path[4096];
    int have_cfg = 0;
    if (st == AM_OK)
        st = find_config(path, params ? params->config_path : NULL, &cfg, cfg_path,
                         sizeof cfg_path, &have_cfg, err);
    if (st == AM_OK) st = am_weights_open(path, &clip->weights, err);
    if (st == AM_OK) {
        loader L = {.w = clip->weights, .path = path, .err = err};
        st = load_model(clip, &L, &cfg, have_cfg);
    }
    if (st == AM_OK) st = am_file_identity(path, clip->identity, sizeof clip->identity, err);
    if (st != AM_OK) {
        am_clip_free(clip);
        return st;
    }
    *out = clip;
    return AM_OK;
}

/* ---------------------------------------------------------------------- */
/* Random weights                                                          */
/* ---------------------------------------------------------------------- */

/* The real ViT-B-16-plus-240 sizes. */
static am_clip_info default_info(void) {
    am_clip_info i = {.image_size = 240, .patch_size = 16, .grid = 15, .vision_width = 896,
                      .vision_layers = 12, .vision_heads = 14, .embed_dim = 640,
                      .text_width = 640, .text_layers = 12, .text_heads = 10,
                      .context_length = 77, .vocab_size = 49408};
    return i;
}

/* Normal draws by the ziggurat method (Marsaglia and Tsang, 2000) with 256
 * layers of equal area v under f(x) = exp(-x^2 / 2): layer k >= 1 is the
 * rectangle of width x[k] between heights f(x[k]) and f(x[k+1]); layer 0 is
 * the base strip of width r plus the tail beyond r, as a rectangle of width
 * v / f(r).  A draw picks a layer and a point in its rectangle: it is
 * accepted at once when left of x[k+1] (about 99% of draws), else tested
 * against the curve (or, in layer 0, drawn from the tail). */
#define ZIG_LAYERS 256
#define ZIG_R 3.6541528853610088
#define ZIG_V 0.00492867323399

typedef struct {
    double x[ZIG_LAYERS + 1], f[ZIG_LAYERS + 1];
} ziggurat;

static void ziggurat_init(ziggurat *z) {
    z->x[0] = ZIG_V / exp(-0.5 * ZIG_R * ZIG_R);
    z->x[1] = ZIG_R;
    for (int k = 1; k < ZIG_LAYERS - 1; k++)
        z->x[k + 1] = sqrt(-2.0 * log(ZIG_V / z->x[k] + exp(-0.5 * z->x[k] * z->x[k])));
    z->x[ZIG_LAYERS] = 0.0;
    for (int k = 0; k <= ZIG_LAYERS; k++) z->f[k] = exp(-0.5 * z->x[k] * z->x[k]);
}

/* Uniform in (0, 1]. */
static double uniform_open(am_rng *rng) {
    return ((am_rng_next(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* One normal draw from 32 random bits (layer, sign, 23-bit position), more
 * bits from the generator only in the rare slow paths. */
static double ziggurat_normal(const ziggurat *z, uint32_t bits, am_rng *rng) {
    for (;;) {
        const int k = (int)(bits & 255);
        const double sign = bits & 256 ? -1.0 : 1.0;
        const double x = (double)(bits >> 9) * (1.0 / 8388608.0) * z->x[k];
        if (x < z->x[k + 1]) return sign * x;
        if (k == 0) {
            double a, b;
            do {
                a = -log(uniform_open(rng)) / ZIG_R;
                b = -log(uniform_open(rng));
            } while (b + b < a * a);
            return sign * (ZIG_R + a);
        }
        const double y = z->f[k] + uniform_open(rng) * (z->f[k + 1] - z->f[k]);
        if (y < exp(-0.5 * x * x)) return sign * x;
        bits = (uint32_t)(am_rng_next(rng) >> 32);
    }
}

/* Fills p[0..n) with N(mean, std) draws.  The values come in chunks of 2^16,
 * each from its own generator seeded by (seed, stream, chunk), so they do not
 * depend on the thread count. */
static void fill_normal(float *p, size_t n, float mean, float std, uint64_t seed, uint64_t stream,
                        int32_t threads) {
    ziggurat z;
    ziggurat_init(&z);
    const size_t chunk = (size_t)1 << 16;
    const int64_t chunks = (int64_t)((n + chunk - 1) / chunk);
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) \
    schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
        am_rng rng;
        am_rng_seed(&rng, seed ^ (stream * 0xD1B54A32D192ED03ull) ^
                              ((uint64_t)c * 0x8CB92BA72F3D8DD7ull));
        size_t lo = (size_t)c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        for (size_t i = lo; i < hi; i += 2) { /* two draws from each 64 random bits */
            const uint64_t bits = am_rng_next(&rng);
            p[i] = mean + std * (float)ziggurat_normal(&z, (uint32_t)bits, &rng);
            if (i + 1 < hi) p[i + 1] = mean + std * (float)ziggurat_normal(&z, (uint32_t)(bits >> 32), &rng);
        }
    }
}

static void fill_value(float *p, size_t n, float value) {
    for (size_t i = 0; i < n; i++) p[i] = value;
}

/* Hands out consecutive pieces of the random model's one allocation. */
typedef struct {
    float *next;
    uint64_t seed, stream;
    int32_t threads;
} random_arena;

static float *take_normal(random_arena *r, size_t n, float std) {
    float *p = r->next;
    r->next += (n + 15) & ~(size_t)15;
    fill_normal(p, n, 0.0f, std, r->seed, r->stream++, r->threads);
    return p;
}

static float *take_value(random_arena *r, size_t n, float value) {
    float *p = r->next;
    r->next += (n + 15) & ~(size_t)15;
    fill_value(p, n, value);
    return p;
}

/* Floats of one tower's blocks (each tensor padded to 16 floats). */
static size_t tower_floats(int64_t w, int64_t layers) {
    const size_t pad = 15;
    size_t per = 0;
    const int64_t sizes[] = {w, w, 3 * w * w, 3 * w, w * w, w, w, w, 4 * w * w, 4 * w, 4 * w * w, w};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) per += ((size_t)sizes[i] + pad) & ~pad;
    return per * (size_t)layers;
}

/* The blocks of a tower with open_clip's init_parameters: in_proj N(0, w^-1/2),
 * out_proj and c_proj N(0, w^-1/2 (2L)^-1/2), c_fc N(0, (2w)^-1/2), biases 0,
 * LayerNorm gain 1 and bias 0. */
static void random_blocks(random_arena *r, int64_t w, int32_t layers, block_src *b) {
    const float attn_std = 1.0f / sqrtf((float)w);
    const float proj_std = attn_std / sqrtf(2.0f * (float)layers);
    const float fc_std = 1.0f / sqrtf(2.0f * (float)w);
    for (int32_t i = 0; i < layers; i++) {
        b[i].ln1_w = take_value(r, (size_t)w, 1.0f);
        b[i].ln1_b = take_value(r, (size_t)w, 0.0f);
        b[i].in_w = take_normal(r, (size_t)(3 * w * w), attn_std);
        b[i].in_b = take_value(r, (size_t)(3 * w), 0.0f);
        b[i].out_w = take_normal(r, (size_t)(w * w), proj_std);
        b[i].out_b = take_value(r, (size_t)w, 0.0f);
        b[i].ln2_w = take_value(r, (size_t)w, 1.0f);
        b[i].ln2_b = take_value(r, (size_t)w, 0.0f);
        b[i].fc_w = take_normal(r, (size_t)(4 * w * w), fc_std);
        b[i].fc_b = take_value(r, (size_t)(4 * w), 0.0f);
        b[i].pr_w = take_normal(r, (size_t)(4 * w * w), proj_std);
        b[i].pr_b = take_value(r, (size_t)w, 0.0f);
    }
}

am_status am_clip_create_random(uint64_t seed, const am_clip_info *info,
                                const am_clip_params *params, am_clip **out, am_error *err) {
    *out = NULL;
    am_clip *clip = am_calloc(1, sizeof *clip, err);
    if (!clip) return AM_ERR_NOMEM;
    am_status st = take_params(clip, params, err);
    const am_clip_info def = default_info();
    clip->info = info ? *info : def;
    am_clip_info *in = &clip->info;
    if (st == AM_OK) st = check_info(in, "random CLIP", err);
    if (st != AM_OK) {
        am_clip_free(clip);
        return st;
    }
    if (memcmp(in, &def, sizeof def) == 0)
        snprintf(clip->identity, sizeof clip->identity, "random:%llu", (unsigned long long)seed);
    else
        snprintf(clip->identity, sizeof clip->identity,
                 "random:%llu:%d/%d/%dx%dh%d/%dx%dh%d/%d/%d/%d", (unsigned long long)seed,
                 (int)in->image_size, (int)in->patch_size, (int)in->vision_width,
                 (int)in->vision_layers, (int)in->vision_heads, (int)in->text_width,
                 (int)in->text_layers, (int)in->text_heads, (int)in->embed_dim,
                 (int)in->context_length, (int)in->vocab_size);
    const int64_t vw = in->vision_width, tw = in->text_width, e = in->embed_dim;
    const int64_t pp = 3 * (int64_t)in->patch_size * in->patch_size;
    const int64_t tokens = 1 + (int64_t)in->grid * in->grid;
    const int64_t sizes[] = {vw * pp, vw, tokens * vw, vw, vw, vw, vw, vw * e,
                             (int64_t)in->vocab_size * tw, (int64_t)in->context_length * tw, tw,
                             tw, tw * e};
    size_t total = tower_floats(vw, in->vision_layers) + tower_floats(tw, in->text_layers);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        total += ((size_t)sizes[i] + 15) & ~(size_t)15;
    clip->owned = am_alloc(total, sizeof(float), err);
    block_src *vb = am_calloc((size_t)in->vision_layers + in->text_layers, sizeof(block_src), err);
    if (!clip->owned || !vb ||
        (st = alloc_tower(&clip->vision, in->vision_width, in->vision_layers, in->vision_heads,
                          4 * in->vision_width, err)) != AM_OK ||
        (st = alloc_tower(&clip->text, in->text_width, in->text_layers, in->text_heads,
                          4 * in->text_width, err)) != AM_OK) {
        am_free(vb);
        am_clip_free(clip);
        return st != AM_OK ? st : AM_ERR_NOMEM;
    }
    block_src *tb = vb + in->vision_layers;
    random_arena r = {.next = clip->owned, .seed = seed, .stream = 0, .threads = clip->threads};
    const float vscale = 1.0f / sqrtf((float)vw);
    const float *conv1 = take_normal(&r, (size_t)(vw * pp), 1.0f / sqrtf(3.0f * (float)pp));
    clip->class_embedding = take_normal(&r, (size_t)vw, vscale);
    clip->vision_pos = take_normal(&r, (size_t)(tokens * vw), vscale);
    clip->ln_pre_w = take_value(&r, (size_t)vw, 1.0f);
    clip->ln_pre_b = take_value(&r, (size_t)vw, 0.0f);
    random_blocks(&r, vw, in->vision_layers, vb);
    clip->ln_post_w = take_value(&r, (size_t)vw, 1.0f);
    clip->ln_post_b = take_value(&r, (size_t)vw, 0.0f);
    const float *vp = take_normal(&r, (size_t)(vw * e), vscale);
    clip->token_embedding = take_normal(&r, (size_t)in->vocab_size * tw, 0.02f);
    clip->text_pos = take_normal(&r, (size_t)in->context_length * tw, 0.01f);
    random_blocks(&r, tw, in->text_layers, tb);
    clip->ln_final_w = take_value(&r, (size_t)tw, 1.0f);
    clip->ln_final_b = take_value(&r, (size_t)tw, 0.0f);
    const float *tp = take_normal(&r, (size_t)(tw * e), 1.0f / sqrtf((float)tw));
    st = build_layers(clip, conv1, vp, tp, vb, tb, err);
    am_free(vb);
    if (st != AM_OK) {
        am_clip_free(clip);
        return st;
    }
    *out = clip;
    return AM_OK;
}

am_status am_clip_make_windows(int32_t grid, int32_t size, int32_t stride, int32_t **patches,
                               int32_t *count, am_error *err) {
    *patches = NULL;
    *count = 0;
    if (grid <= 0 || grid > MAX_GRID || size <= 0 || size > grid || stride <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "windows of %d x %d patches, stride %d, over a %d x %d grid", (int)size,
                            (int)size, (int)stride, (int)grid, (int)grid);
    const int32_t per_side = (grid - size) / stride + 1;
    const int32_t n = per_side * per_side;
    int32_t *p = am_alloc((size_t)n * size * size, sizeof(int32_t), err);
    if (!p) return AM_ERR_NOMEM;
    int32_t *q = p;
    for (int32_t wy = 0; wy < per_side; wy++)
        for (int32_t wx = 0; wx < per_side; wx++)
            for (int32_t y = 0; y < size; y++)
                for (int32_t x = 0; x < size; x++)
                    *q++ = (wy * stride + y) * grid + wx * stride + x;
    *patches = p;
    *count = n;
    return AM_OK;
}
