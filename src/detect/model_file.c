/* model_file.c - the fitted model file: a safetensors file (little-endian,
 * validated by the same reader as weight files) holding the text embeddings
 * and the six memory-bank parts, with metadata for the format version, the
 * object name, every parameter (JSON) and the CLIP / SAM identities. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "detect/detector_internal.h"
#include "io/safetensors_write.h"

#define MODEL_FORMAT "anomem-model"
#define MODEL_VERSION "1"

static const char *const part_names[N_BANKS][N_PARTS] = {
    {"bank.global.small", "bank.global.mid", "bank.global.image"},
    {"bank.indiv.small", "bank.indiv.mid", "bank.indiv.image"},
};

static const char *sam_identity(const am_sam *sam) {
    return sam ? am_sam_identity(sam) : "";
}

am_status am_detector_save(const am_detector *det, const char *path, am_error *err) {
    if (!det->fitted)
        return am_error_set(err, AM_ERR_ARGUMENT, "%s: only a fitted detector can be saved", path);
    am_tensor_out t[2 + N_BANKS * N_PARTS];
    int32_t n = 0;
    const int32_t dim = det->info.embed_dim;
    t[n++] = (am_tensor_out){"text.normal", AM_DTYPE_F32, 1, {dim}, det->text_normal};
    t[n++] = (am_tensor_out){"text.anomalous", AM_DTYPE_F32, 1, {dim}, det->text_anomalous};
    for (int b = 0; b < N_BANKS; b++)
        for (int p = 0; p < N_PARTS; p++) {
            const am_bank *bank = &det->banks[b][p];
            int64_t width = p == PART_IMAGE ? det->info.vision_width : dim;
            t[n++] = (am_tensor_out){part_names[b][p], AM_DTYPE_F32, 2, {bank->count, width},
                                     bank->rows};
        }
    char *params = am_detector_params_to_json(&det->params);
    if (!params) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    const am_metadata_out meta[] = {
        {"format", MODEL_FORMAT},
        {"version", MODEL_VERSION},
        {"anomem", ANOMEM_VERSION},
        {"object", det->object},
        {"params", params},
        {"clip", am_clip_identity(det->clip)},
        {"sam", sam_identity(det->sam)},
    };
    am_status st = am_safetensors_write(path, t, n, meta, (int32_t)(sizeof meta / sizeof *meta),
                                        err);
    free(params);
    return st;
}

/* Checks that open weights are a model file of this version. */
static am_status check_model(am_weights *w, am_error *err) {
    const char *path = am_weights_path(w);
    const char *format = am_weights_metadata(w, "format");
    const char *version = am_weights_metadata(w, "version");
    if (!format || strcmp(format, MODEL_FORMAT) != 0)
        return am_error_set(err, AM_ERR_FORMAT, "%s: not an anomem model file", path);
    if (!version || strcmp(version, MODEL_VERSION) != 0)
        return am_error_set(err, AM_ERR_UNSUPPORTED,
                            "%s: model file version %s (this anomem reads version %s)", path,
                            version ? version : "?", MODEL_VERSION);
    return AM_OK;
}

static void copy_string(char *dst, size_t size, const char *src) {
    if (size) snprintf(dst, size, "%s", src ? src : "");
}

am_status am_detector_peek_weights(am_weights *w, char *object_name, size_t object_size,
                                   char *clip_identity, size_t clip_size, char *sam_identity_out,
                                   size_t sam_size, am_error *err) {
    am_status st = check_model(w, err);
    if (st != AM_OK) return st;
    copy_string(object_name, object_size, am_weights_metadata(w, "object"));
    copy_string(clip_identity, clip_size, am_weights_metadata(w, "clip"));
    copy_string(sam_identity_out, sam_size, am_weights_metadata(w, "sam"));
    return AM_OK;
}

am_status am_detector_peek(const char *path, char *object_name, size_t object_size,
                           char *clip_identity, size_t clip_size, char *sam_identity_out,
                           size_t sam_size, am_error *err) {
    am_weights *w;
    am_status st = am_weights_open(path, &w, err);
    if (st != AM_OK) return st;
    st = am_detector_peek_weights(w, object_name, object_size, clip_identity, clip_size,
                                  sam_identity_out, sam_size, err);
    am_weights_close(w);
    return st;
}

static int all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Reads one [rows][width] float tensor of the file into a bank. */
static am_status load_part(am_weights *w, const char *path, const char *name, int64_t width,
                           am_bank *bank, am_error *err) {
    const am_tensor_info *t = am_weights_find(w, name);
    if (!t || t->dtype != AM_DTYPE_F32 || t->ndim != 2 || t->shape[1] != width)
        return am_error_set(err, AM_ERR_FORMAT, "%s: '%s' missing or not F32 [n, %lld]", path,
                            name, (long long)width);
    const float *data;
    am_status st = am_weights_get_f32(w, name, &data, err);
    if (st != AM_OK) return st;
    if (!all_finite(data, t->numel))
        return am_error_set(err, AM_ERR_FORMAT, "%s: '%s' holds a non-finite value", path, name);
    return am_bank_append(bank, data, t->shape[0], width, 0, err);
}

am_status am_detector_load_weights(am_weights *w, am_clip *clip, am_sam *sam, am_detector **out,
                                   am_error *err) {
    *out = NULL;
    const char *path = am_weights_path(w);
    am_status st = check_model(w, err);
    if (st != AM_OK) return st;
    const char *clip_id = am_weights_metadata(w, "clip"), *sam_id = am_weights_metadata(w, "sam");
    const char *object = am_weights_metadata(w, "object"), *pjson = am_weights_metadata(w, "params");
    am_clip_info info = am_clip_get_info(clip);
    am_detector_params params;
    am_detector *det = NULL;
    float *text = NULL;
    if (!clip_id || !sam_id || !object || !pjson) {
        st = am_error_set(err, AM_ERR_FORMAT, "%s: metadata incomplete", path);
    } else if (strcmp(clip_id, am_clip_identity(clip)) != 0) {
        st = am_error_set(err, AM_ERR_MISMATCH,
                          "%s was fitted with another CLIP model (%s), not the one given (%s)",
                          path, clip_id, am_clip_identity(clip));
    } else if (strcmp(sam_id, sam_identity(sam)) != 0) {
        st = am_error_set(err, AM_ERR_MISMATCH,
                          "%s was fitted with %s%s, not with %s%s", path,
                          sam_id[0] ? "SAM " : "the classical segmenter", sam_id,
                          sam ? "SAM " : "the classical segmenter", sam_identity(sam));
    } else {
        st = am_detector_params_from_json(pjson, &params, err);
        if (st != AM_OK) am_error_prefix(err, "%s: ", path);
    }
    if (st == AM_OK) {
        text = am_alloc(2, (size_t)info.embed_dim * sizeof(float), err);
        const char *names[2] = {"text.normal", "text.anomalous"};
        for (int i = 0; text && st == AM_OK && i < 2; i++) {
            const am_tensor_info *t = am_weights_find(w, names[i]);
            const float *data;
            if (!t || t->dtype != AM_DTYPE_F32 || t->ndim != 1 || t->shape[0] != info.embed_dim)
                st = am_error_set(err, AM_ERR_FORMAT, "%s: '%s' missing or not F32 [%d]", path,
                                  names[i], (int)info.embed_dim);
            else if ((st = am_weights_get_f32(w, names[i], &data, err)) == AM_OK &&
                     !all_finite(data, info.embed_dim))
                st = am_error_set(err, AM_ERR_FORMAT, "%s: '%s' holds a non-finite value", path,
                                  names[i]);
            if (st == AM_OK)
                memcpy(text + i * info.embed_dim, data, sizeof(float) * (size_t)info.embed_dim);
        }
        if (!text) st = AM_ERR_NOMEM;
    }
    if (st == AM_OK) st = am_detector_new(clip, sam, object, &params, text, &det, err);
    for (int b = 0; st == AM_OK && b < N_BANKS; b++)
        for (int p = 0; st == AM_OK && p < N_PARTS; p++)
            st = load_part(w, path, part_names[b][p],
                           p == PART_IMAGE ? info.vision_width : info.embed_dim,
                           &det->banks[b][p], err);
    if (st == AM_OK) st = am_detector_build_index(det, err);
    am_free(text);
    if (st != AM_OK) {
        am_detector_free(det);
        return st;
    }
    det->fitted = 1;
    *out = det;
    return AM_OK;
}

am_status am_detector_load(const char *path, am_clip *clip, am_sam *sam, am_detector **out,
                           am_error *err) {
    *out = NULL;
    am_weights *w;
    am_status st = am_weights_open(path, &w, err);
    if (st != AM_OK) return st;
    st = am_detector_load_weights(w, clip, sam, out, err);
    am_weights_close(w);
    return st;
}
