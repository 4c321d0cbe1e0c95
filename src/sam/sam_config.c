/* sam_config.c - SAM's config JSON: whether a JSON is one, the encoder
 * members that override the sizes inferred from the weights, and the decoder
 * members (the head count, and sizes that must agree with the weights). */
#include "sam/sam_config.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

am_status sam_config_load(const char *path, json_t **out, am_error *err) {
    json_error_t jerr;
    *out = json_load_file(path, 0, &jerr);
    if (!*out)
        return am_error_set(err, AM_ERR_FORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    return AM_OK;
}

int sam_config_is_sam(const json_t *j) {
    static const char *keys[] = {"prompt_embed_dim", "decoder_num_heads",
                                 "encoder_global_attn_indexes", "encoder_embed_dim"};
    int yes = 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        yes |= json_object_get(j, keys[i]) != NULL;
    return yes;
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                   */
/* ------------------------------------------------------------------------ */

/* An integer member of the config JSON, if present. */
static am_status member_int(const json_t *root, const char *key, int32_t *out, const char *path,
                            am_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v) return AM_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return am_error_set(err, AM_ERR_FORMAT, "%s: '%s' is not a non-negative integer", path,
                            key);
    *out = (int32_t)json_integer_value(v);
    return AM_OK;
}

/* A [3] array of numbers of the config JSON, if present. */
static am_status member_rgb(const json_t *root, const char *key, float out[3], const char *path,
                            am_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v) return AM_OK;
    if (!json_is_array(v) || json_array_size(v) != 3)
        return am_error_set(err, AM_ERR_FORMAT, "%s: '%s' is not an array of 3 numbers", path, key);
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_number(e))
            return am_error_set(err, AM_ERR_FORMAT, "%s: '%s' is not an array of 3 numbers", path,
                                key);
        out[i] = (float)json_number_value(e);
    }
    return AM_OK;
}

typedef enum { REQUIRE_TRUE, REQUIRE_STRING, REQUIRE_NUMBER } require_kind;

/* Refuses a config JSON member that asks for something this encoder does not
 * do: it must be true, the string s_expected, or the number d_expected. */
static am_status member_require(const json_t *root, const char *key, const char *path,
                                require_kind kind, const char *s_expected, double d_expected,
                                am_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v) return AM_OK;
    int ok;
    if (kind == REQUIRE_TRUE)
        ok = json_is_true(v);
    else if (kind == REQUIRE_STRING)
        ok = json_is_string(v) && strcmp(json_string_value(v), s_expected) == 0;
    else
        ok = json_is_number(v) && fabs(json_number_value(v) - d_expected) <= 1e-12;
    if (!ok)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: unsupported value of '%s'", path, key);
    return AM_OK;
}

am_status sam_config_apply_encoder(const json_t *root, const char *path, sam_encoder_config *cfg,
                                   am_error *err) {
    if (!json_is_object(root))
        return am_error_set(err, AM_ERR_FORMAT, "%s: not a JSON object", path);
    am_status st;
    int32_t in_chans = 3;
    if ((st = member_int(root, "image_size", &cfg->image_size, path, err)) != AM_OK ||
        (st = member_int(root, "patch_size", &cfg->patch_size, path, err)) != AM_OK ||
        (st = member_int(root, "in_chans", &in_chans, path, err)) != AM_OK ||
        (st = member_int(root, "encoder_embed_dim", &cfg->embed_dim, path, err)) != AM_OK ||
        (st = member_int(root, "encoder_depth", &cfg->depth, path, err)) != AM_OK ||
        (st = member_int(root, "encoder_num_heads", &cfg->heads, path, err)) != AM_OK ||
        (st = member_int(root, "encoder_window_size", &cfg->window_size, path, err)) != AM_OK ||
        (st = member_int(root, "encoder_out_chans", &cfg->out_chans, path, err)) != AM_OK ||
        (st = member_rgb(root, "pixel_mean", cfg->pixel_mean, path, err)) != AM_OK ||
        (st = member_rgb(root, "pixel_std", cfg->pixel_std, path, err)) != AM_OK ||
        (st = member_require(root, "encoder_qkv_bias", path, REQUIRE_TRUE, NULL, 0, err)) !=
            AM_OK ||
        (st = member_require(root, "encoder_use_abs_pos", path, REQUIRE_TRUE, NULL, 0, err)) !=
            AM_OK ||
        (st = member_require(root, "encoder_use_rel_pos", path, REQUIRE_TRUE, NULL, 0, err)) !=
            AM_OK ||
        (st = member_require(root, "encoder_activation", path, REQUIRE_STRING, "gelu_erf", 0,
                             err)) != AM_OK ||
        (st = member_require(root, "encoder_layernorm_eps", path, REQUIRE_NUMBER, NULL, 1e-6,
                             err)) != AM_OK ||
        (st = member_require(root, "neck_layernorm2d_eps", path, REQUIRE_NUMBER, NULL, 1e-6,
                             err)) != AM_OK)
        return st;
    if (in_chans != 3)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: in_chans %d (only RGB)", path,
                            (int)in_chans);
    json_t *mlp = json_object_get(root, "encoder_mlp_dim");
    json_t *ratio = json_object_get(root, "encoder_mlp_ratio");
    if (mlp) {
        if ((st = member_int(root, "encoder_mlp_dim", &cfg->mlp_dim, path, err)) != AM_OK)
            return st;
    } else if (ratio) {
        if (!json_is_number(ratio) || !(json_number_value(ratio) > 0.0) ||
            json_number_value(ratio) > 64.0)
            return am_error_set(err, AM_ERR_FORMAT, "%s: invalid 'encoder_mlp_ratio'", path);
        /* embed_dim may be any int32 here: saturate, the width check refuses it later */
        const double m = cfg->embed_dim * json_number_value(ratio);
        cfg->mlp_dim = m < INT32_MAX ? (int32_t)m : INT32_MAX;
    }
    json_t *gi = json_object_get(root, "encoder_global_attn_indexes");
    if (gi) {
        if (!json_is_array(gi) || json_array_size(gi) > 8)
            return am_error_set(err, AM_ERR_FORMAT,
                                "%s: 'encoder_global_attn_indexes' is not an array of at most 8 "
                                "integers",
                                path);
        cfg->n_global = (int32_t)json_array_size(gi);
        for (int32_t g = 0; g < cfg->n_global; g++) {
            json_t *e = json_array_get(gi, (size_t)g);
            if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                json_integer_value(e) > SAM_ENCODER_MAX_DEPTH)
                return am_error_set(err, AM_ERR_FORMAT,
                                    "%s: 'encoder_global_attn_indexes' holds a bad index", path);
            cfg->global_index[g] = (int32_t)json_integer_value(e);
        }
    }
    if (cfg->patch_size > 0) cfg->grid = cfg->image_size / cfg->patch_size;
    return AM_OK;
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                   */
/* ------------------------------------------------------------------------ */

/* Integer `key` of a JSON object, or `fallback` when absent. */
static int64_t int_or(const json_t *obj, const char *key, int64_t fallback) {
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

am_status sam_config_apply_decoder(const json_t *j, const char *config_path,
                                   const char *weights_path, sam_decoder_config *c, am_error *err) {
    const int64_t heads = int_or(j, "decoder_num_heads", c->heads);
    c->heads = heads >= INT32_MIN && heads <= INT32_MAX ? (int32_t)heads : 0; /* 0: refused later */
    const struct {
        const char *key;
        int64_t have;
    } checks[] = {
        {"prompt_embed_dim", c->embed_dim},
        {"mask_in_chans", c->mask_in_chans},
        {"decoder_depth", c->depth},
        {"decoder_mlp_dim", c->mlp_dim},
        {"num_multimask_outputs", c->num_mask_tokens - 1},
        {"iou_head_depth", c->iou_depth},
        {"iou_head_hidden_dim", c->iou_hidden},
        {"decoder_cross_attn_internal_dim", c->cross_dim},
    };
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
        const int64_t v = int_or(j, checks[i].key, checks[i].have);
        if (v != checks[i].have)
            return am_error_set(err, AM_ERR_MODEL, "%s: %s is %lld but the weights in %s have %lld",
                                config_path, checks[i].key, (long long)v, weights_path,
                                (long long)checks[i].have);
    }
    const int64_t rate = int_or(j, "decoder_attention_downsample_rate", 0);
    if (rate > 0 && c->embed_dim / rate != c->cross_dim)
        return am_error_set(err, AM_ERR_MODEL,
                            "%s: decoder_attention_downsample_rate %lld does not match the "
                            "cross-attention width %d in %s",
                            config_path, (long long)rate, c->cross_dim, weights_path);
    return AM_OK;
}
