/* detector.c - the detector object: parameters, creation with the text
 * prompt ensemble, and release. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "detect/detector_internal.h"
#include "detect/prompts.h"

/* t_normal and t_anomalous: the normalised mean of the normalised sentence
 * embeddings of each state group. */
static am_status compute_text(am_detector *det, am_error *err) {
    const int32_t n = am_prompt_count(), ctx = det->info.context_length,
                  dim = det->info.embed_dim;
    int32_t *tokens = am_alloc((size_t)n * (size_t)ctx, sizeof(int32_t), err);
    float *embed = am_alloc((size_t)n * (size_t)dim, sizeof(float), err);
    uint8_t normal[512];
    am_status st = tokens && embed ? AM_OK : AM_ERR_NOMEM;
    for (int32_t i = 0; st == AM_OK && i < n; i++) {
        char sentence[600];
        normal[i] = (uint8_t)am_prompt_sentence(det->object, i, sentence, sizeof sentence);
        st = am_clip_tokenize(det->clip, sentence, tokens + (size_t)i * ctx, err);
    }
    if (st == AM_OK) st = am_clip_encode_text(det->clip, tokens, n, embed, err);
    if (st == AM_OK) {
        memset(det->text_normal, 0, sizeof(float) * (size_t)dim);
        memset(det->text_anomalous, 0, sizeof(float) * (size_t)dim);
        for (int32_t i = 0; i < n; i++) {
            float *e = embed + (size_t)i * dim;
            am_normalise(e, dim);
            float *acc = normal[i] ? det->text_normal : det->text_anomalous;
            for (int32_t d = 0; d < dim; d++) acc[d] += e[d];
        }
        am_normalise(det->text_normal, dim);
        am_normalise(det->text_anomalous, dim);
    }
    am_free(tokens);
    am_free(embed);
    return st;
}

am_status am_detector_new(am_clip *clip, am_sam *sam, const char *object_name,
                          const am_detector_params *params, const float *text,
                          am_detector **out, am_error *err) {
    *out = NULL;
    am_clip_info info = am_clip_get_info(clip);
    am_status st = am_detector_params_check(params, info.grid, err);
    if (st != AM_OK) return st;
    if (!object_name || !object_name[0] || strlen(object_name) >= AM_OBJECT_NAME_MAX)
        return am_error_set(err, AM_ERR_ARGUMENT, "object name must be 1..%d bytes",
                            AM_OBJECT_NAME_MAX - 1);
    am_detector *det = calloc(1, sizeof *det);
    if (!det) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    det->clip = clip;
    det->sam = sam;
    det->params = *params;
    det->info = info;
    det->n_patches = info.grid * info.grid;
    det->fit_added = -1; /* no fit in progress */
    strcpy(det->object, object_name);
    det->text_normal = am_alloc((size_t)info.embed_dim, sizeof(float), err);
    det->text_anomalous = am_alloc((size_t)info.embed_dim, sizeof(float), err);
    st = det->text_normal && det->text_anomalous ? AM_OK : AM_ERR_NOMEM;
    const int32_t sizes[2] = {params->small_window, params->mid_window};
    for (int s = 0; st == AM_OK && s < 2; s++) {
        st = am_clip_make_windows(info.grid, sizes[s], params->window_stride,
                                  &det->window_patches[s], &det->windows[s].count, err);
        det->windows[s].size = sizes[s] * sizes[s];
        det->windows[s].patches = det->window_patches[s];
    }
    if (st == AM_OK) {
        if (text) {
            memcpy(det->text_normal, text, sizeof(float) * (size_t)info.embed_dim);
            memcpy(det->text_anomalous, text + info.embed_dim,
                   sizeof(float) * (size_t)info.embed_dim);
        } else {
            st = compute_text(det, err);
        }
    }
    if (st != AM_OK) {
        am_detector_free(det);
        return st;
    }
    *out = det;
    return AM_OK;
}

am_status am_detector_create(am_clip *clip, am_sam *sam, const char *object_name,
                             const am_detector_params *params, am_detector **out,
                             am_error *err) {
    return am_detector_new(clip, sam, object_name, params, NULL, out, err);
}

void am_detector_free(am_detector *det) {
    if (!det) return;
    for (int b = 0; b < N_BANKS; b++)
        for (int p = 0; p < N_PARTS; p++) {
            am_bank_index_free(det->index[b][p]);
            am_bank_free(&det->banks[b][p]);
        }
    am_free(det->window_patches[0]);
    am_free(det->window_patches[1]);
    am_free(det->text_normal);
    am_free(det->text_anomalous);
    free(det);
}

int32_t am_detector_is_fitted(const am_detector *det) {
    return det->fitted;
}

void am_detector_bank_counts(const am_detector *det, int64_t *kept, int64_t *seen) {
    *kept = *seen = 0;
    for (int b = 0; b < N_BANKS; b++)
        for (int p = 0; p < N_PARTS; p++) {
            *kept += det->banks[b][p].count;
            *seen += det->banks[b][p].seen;
        }
}

am_status am_detector_build_index(am_detector *det, am_error *err) {
    for (int b = 0; b < N_BANKS; b++)
        for (int p = 0; p < N_PARTS; p++) {
            am_bank_index_free(det->index[b][p]);
            det->index[b][p] = NULL;
            am_status st =
                am_bank_index_create(&det->banks[b][p], det->params.search_precision, &det->index[b][p], err);
            if (st != AM_OK) return st;
        }
    return AM_OK;
}
