/* clip_config.c - parsing an open_clip model config JSON: the sizes it gives
 * (checked against the weights by clip_model.c) and the tower options that
 * change the computation in ways this code does not implement. */
#include "clip/clip_config.h"

#include <jansson.h>
#include <string.h>

#include "core/error.h"

/* An integer member of a JSON object: 0 when absent, -1 when not an integer. */
static int32_t json_int(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (json_is_array(v) && json_array_size(v) == 2 &&
        json_equal(json_array_get(v, 0), json_array_get(v, 1)))
        v = json_array_get(v, 0); /* a square [h, w] size */
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x > 0 && x <= CLIP_MAX_VOCAB ? (int32_t)x : -1;
}

/* Refuses options of open_clip configs that change the computation in ways
 * this code does not implement. */
static am_status check_options(const clip_config *c, const json_t *cfg, const char *tower,
                               am_error *err) {
    static const char *const must_be_null[] = {"ls_init_value", "timm_model_name", "hf_model_name",
                                               "act_kwargs", "norm_kwargs"};
    static const char *const must_be_false[] = {"attentional_pool", "no_ln_pre", "embed_cls",
                                                "no_causal_mask", "proj_bias"};
    for (size_t i = 0; i < sizeof must_be_null / sizeof *must_be_null; i++) {
        const json_t *v = json_object_get(cfg, must_be_null[i]);
        if (v && !json_is_null(v))
            return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: %s.%s is not supported", c->path,
                                tower, must_be_null[i]);
    }
    for (size_t i = 0; i < sizeof must_be_false / sizeof *must_be_false; i++) {
        const json_t *v = json_object_get(cfg, must_be_false[i]);
        if (v && !json_is_false(v) && !json_is_null(v))
            return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: %s.%s is not supported", c->path,
                                tower, must_be_false[i]);
    }
    const json_t *pool = json_object_get(cfg, "pool_type");
    const char *want = strcmp(tower, "vision_cfg") == 0 ? "tok" : "argmax";
    if (pool && !json_is_null(pool) &&
        (!json_is_string(pool) || strcmp(json_string_value(pool), want) != 0))
        return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: %s.pool_type must be \"%s\"", c->path,
                            tower, want);
    const json_t *pos = json_object_get(cfg, "pos_embed_type");
    if (pos && !json_is_null(pos) &&
        (!json_is_string(pos) || strcmp(json_string_value(pos), "learnable") != 0))
        return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: %s.pos_embed_type must be \"learnable\"",
                            c->path, tower);
    return AM_OK;
}

am_status clip_config_parse(const char *text, size_t len, const char *name, clip_config *c,
                            int *recognised, am_error *err) {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return am_error_set(err, AM_ERR_FORMAT, "%s: line %d: %s", name, jerr.line, jerr.text);
    memset(c, 0, sizeof *c);
    c->path = name;
    const json_t *m = json_object_get(root, "model_cfg");
    if (!json_is_object(m)) m = root;
    const json_t *v = json_object_get(m, "vision_cfg"), *t = json_object_get(m, "text_cfg");
    *recognised = json_is_object(m) && json_is_object(v) && json_is_object(t);
    if (!*recognised) {
        json_decref(root);
        return AM_OK;
    }
    c->embed_dim = json_int(m, "embed_dim");
    c->image_size = json_int(v, "image_size");
    c->patch_size = json_int(v, "patch_size");
    c->vision_width = json_int(v, "width");
    c->vision_layers = json_int(v, "layers");
    c->head_width = json_int(v, "head_width");
    c->text_width = json_int(t, "width");
    c->text_layers = json_int(t, "layers");
    c->text_heads = json_int(t, "heads");
    c->context_length = json_int(t, "context_length");
    c->vocab_size = json_int(t, "vocab_size");
    const json_t *q = json_object_get(m, "quick_gelu");
    c->quick_gelu = q && json_is_true(q);
    am_status st = check_options(c, v, "vision_cfg", err);
    if (st == AM_OK) st = check_options(c, t, "text_cfg", err);
    const int32_t all[] = {c->embed_dim,     c->image_size,     c->patch_size, c->vision_width,
                           c->vision_layers, c->head_width,     c->text_width, c->text_layers,
                           c->text_heads,    c->context_length, c->vocab_size};
    for (size_t i = 0; st == AM_OK && i < sizeof all / sizeof *all; i++)
        if (all[i] < 0)
            st = am_error_set(err, AM_ERR_FORMAT,
                              "%s: a size is not a positive integer (or a square pair)", name);
    json_decref(root);
    return st;
}
