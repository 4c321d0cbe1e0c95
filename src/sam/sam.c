/* sam.c - the public SAM model (am_sam): loading from a state dict or random
 * weights, its identity, and the predictor (SamPredictor.set_image and
 * predict with return_logits=True) over the encoder and decoder modules. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "io/file.h"
#include "sam/sam_config.h"
#include "sam/sam_model.h"
#include "sam/sam_postprocess.h"

#define MAX_PROMPT_POINTS 62 /* + 2 box corners: the decoder's 64 sparse tokens */

struct am_sam {
    am_weights *weights; /* NULL for random weights */
    sam_encoder *enc;
    sam_decoder *dec;
    int32_t threads;
    char identity[128];
    /* the image set last */
    int32_t has_image, width, height, input_h, input_w;
    float *input;     /* [3][S][S] */
    float *embedding; /* [D][G][G] */
};

am_sam_params am_sam_default_params(void) {
    am_sam_params p = {.precision = AM_PRECISION_F32, .threads = 0, .config_path = NULL};
    return p;
}

/* Validates the parameters and allocates the model shell. */
static am_status new_sam(const am_sam_params *params, am_sam **out, am_error *err) {
    *out = NULL;
    if (params->precision != AM_PRECISION_F32 && params->precision != AM_PRECISION_BF16)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM: unknown precision %d",
                            (int)params->precision);
    if (params->threads < 0 || params->threads > 4096)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM: %d threads", (int)params->threads);
    am_sam *sam = calloc(1, sizeof *sam);
    if (!sam) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    sam->threads = params->threads;
    *out = sam;
    return AM_OK;
}

/* Sets the calling thread's OpenMP thread count when the model has one. */
static void apply_threads(const am_sam *sam) {
    if (sam->threads > 0) omp_set_num_threads(sam->threads);
}

/* Allocates the per-image buffers once the encoder is known. */
static am_status alloc_image_buffers(am_sam *sam, am_error *err) {
    const sam_encoder_config *c = sam_encoder_get_config(sam->enc);
    const int64_t S = c->image_size, G = c->grid;
    sam->input = am_alloc((size_t)(3 * S * S), sizeof(float), err);
    sam->embedding = sam->input ? am_alloc((size_t)(c->out_chans * G * G), sizeof(float), err)
                                : NULL;
    if (!sam->embedding) return AM_ERR_NOMEM;
    if (c->out_chans != sam_decoder_get_config(sam->dec)->embed_dim)
        return am_error_set(err, AM_ERR_MODEL,
                            "SAM: the image encoder gives %d channels, the decoder takes %d",
                            (int)c->out_chans, (int)sam_decoder_get_config(sam->dec)->embed_dim);
    return AM_OK;
}

/* 1 if the JSON file at path names a SAM configuration key. */
static int is_sam_config(const char *path) {
    json_t *j = json_load_file(path, 0, NULL);
    if (!j) return 0;
    const int yes = sam_config_is_sam(j);
    json_decref(j);
    return yes;
}

am_status am_sam_load(const char *path, const am_sam_params *params, am_sam **out,
                      am_error *err) {
    const am_sam_params defaults = am_sam_default_params();
    if (!params) params = &defaults;
    am_sam *sam;
    am_status st = new_sam(params, &sam, err);
    if (st != AM_OK) return st;
    *out = NULL;
    char beside[4096];
    const char *config = params->config_path;
    if (!config) {
        const char *slash = strrchr(path, '/');
        const int dir_len = slash ? (int)(slash - path) : 1;
        snprintf(beside, sizeof beside, "%.*s/config.json", dir_len, slash ? path : ".");
        FILE *f = fopen(beside, "r");
        if (f) {
            fclose(f);
            if (is_sam_config(beside)) config = beside;
        }
    }
    apply_threads(sam);
    st = am_weights_open(path, &sam->weights, err);
    if (st == AM_OK) st = sam_encoder_load(sam->weights, config, params->precision, &sam->enc, err);
    if (st == AM_OK) {
        const sam_encoder_config *c = sam_encoder_get_config(sam->enc);
        st = sam_decoder_load(sam->weights, config, c->grid, c->image_size, params->precision,
                              &sam->dec, err);
    }
    if (st == AM_OK) st = alloc_image_buffers(sam, err);
    if (st == AM_OK) st = am_file_identity(path, sam->identity, sizeof sam->identity, err);
    if (st != AM_OK) {
        am_sam_free(sam);
        return st;
    }
    *out = sam;
    return AM_OK;
}

am_status am_sam_create_random(const char *variant, uint64_t seed, const am_sam_params *params,
                               am_sam **out, am_error *err) {
    const am_sam_params defaults = am_sam_default_params();
    if (!params) params = &defaults;
    am_sam *sam;
    am_status st = new_sam(params, &sam, err);
    if (st != AM_OK) return st;
    *out = NULL;
    sam_encoder_config ec;
    apply_threads(sam);
    st = sam_encoder_config_for_variant(variant ? variant : "", &ec, err);
    if (st == AM_OK) st = sam_encoder_create_random(&ec, seed, params->precision, &sam->enc, err);
    if (st == AM_OK) {
        const sam_decoder_config dc = sam_decoder_config_default(ec.grid, ec.image_size);
        /* a seed stream of its own for the decoder */
        st = sam_decoder_create_random(&dc, seed ^ 0x9e3779b97f4a7c15ull, params->precision,
                                       &sam->dec, err);
    }
    if (st == AM_OK) st = alloc_image_buffers(sam, err);
    if (st != AM_OK) {
        am_sam_free(sam);
        return st;
    }
    snprintf(sam->identity, sizeof sam->identity, "random:%s:%llu", variant,
             (unsigned long long)seed);
    *out = sam;
    return AM_OK;
}

void am_sam_free(am_sam *sam) {
    if (!sam) return;
    sam_encoder_free(sam->enc);
    sam_decoder_free(sam->dec);
    am_weights_close(sam->weights);
    am_free(sam->input);
    am_free(sam->embedding);
    free(sam);
}

am_sam_info am_sam_get_info(const am_sam *sam) {
    const sam_encoder_config *e = sam_encoder_get_config(sam->enc);
    const sam_decoder_config *d = sam_decoder_get_config(sam->dec);
    am_sam_info info = {.image_size = e->image_size, .grid = e->grid,
                        .encoder_width = e->embed_dim, .encoder_depth = e->depth,
                        .embed_dim = d->embed_dim, .lowres_size = sam_decoder_lowres_size(sam->dec),
                        .mask_tokens = d->num_mask_tokens};
    return info;
}

const char *am_sam_identity(const am_sam *sam) {
    return sam->identity;
}

sam_encoder *sam_model_encoder(am_sam *sam) {
    return sam->enc;
}

sam_decoder *sam_model_decoder(am_sam *sam) {
    return sam->dec;
}

void sam_model_frame(const am_sam *sam, int32_t *input_size, int32_t *input_h,
                     int32_t *input_w) {
    *input_size = sam_encoder_get_config(sam->enc)->image_size;
    *input_h = sam->input_h;
    *input_w = sam->input_w;
}

const float *sam_model_input(const am_sam *sam) {
    return sam->has_image ? sam->input : NULL;
}

const float *sam_model_embedding(const am_sam *sam) {
    return sam->has_image ? sam->embedding : NULL;
}

am_status am_sam_set_image(am_sam *sam, const am_image *image, am_error *err) {
    sam->has_image = 0;
    if (!image || !image->data || image->width < 1 || image->height < 1)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM: empty image");
    apply_threads(sam);
    int32_t h = 0, w = 0;
    am_status st = sam_encoder_preprocess(sam->enc, image, sam->input, &h, &w, err);
    if (st == AM_OK) st = sam_encoder_forward(sam->enc, sam->input, sam->embedding, err);
    if (st == AM_OK) st = sam_decoder_set_image(sam->dec, sam->embedding, err);
    if (st != AM_OK) return st;
    sam->width = image->width;
    sam->height = image->height;
    sam->input_h = h;
    sam->input_w = w;
    sam->has_image = 1;
    return AM_OK;
}

void am_sam_prediction_free(am_sam_prediction *pred) {
    if (!pred) return;
    free(pred->logits);
    free(pred->iou);
    free(pred->lowres);
    memset(pred, 0, sizeof *pred);
}

/* A prompt coordinate in image pixels to the normalised input frame as
 * SamPredictor.predict does it: x * (new / old) in double, to float32, then
 * + 0.5 and / S in float32. */
static float to_uv(float v, int32_t new_side, int32_t old_side, int32_t S) {
    const float scaled = (float)((double)v * ((double)new_side / (double)old_side));
    return (scaled + 0.5f) / (float)S;
}

am_status am_sam_predict(am_sam *sam, const am_sam_prompt *prompt, int32_t multimask,
                         am_sam_prediction *out, am_error *err) {
    memset(out, 0, sizeof *out);
    if (!sam->has_image)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM: predict before set_image");
    const am_sam_prompt none = {0};
    if (!prompt) prompt = &none;
    const int32_t n = prompt->n_points;
    if (n < 0 || n > MAX_PROMPT_POINTS || (n > 0 && (!prompt->points || !prompt->labels)))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM prompt: %d points (0..%d, with coordinates and labels)", (int)n,
                            MAX_PROMPT_POINTS);
    for (int32_t i = 0; i < 2 * n; i++)
        if (!isfinite(prompt->points[i]))
            return am_error_set(err, AM_ERR_ARGUMENT, "SAM prompt: point %d is not finite",
                                (int)(i / 2));
    for (int32_t i = 0; prompt->box && i < 4; i++)
        if (!isfinite(prompt->box[i]))
            return am_error_set(err, AM_ERR_ARGUMENT, "SAM prompt: the box is not finite");
    apply_threads(sam);
    const int32_t S = sam_encoder_get_config(sam->enc)->image_size;
    const sam_decoder_config *dc = sam_decoder_get_config(sam->dec);
    const int32_t D = dc->embed_dim, M = dc->num_mask_tokens, L = sam_decoder_lowres_size(sam->dec);
    float uv[2 * MAX_PROMPT_POINTS], box_uv[4];
    for (int32_t i = 0; i < n; i++) {
        uv[2 * i] = to_uv(prompt->points[2 * i], sam->input_w, sam->width, S);
        uv[2 * i + 1] = to_uv(prompt->points[2 * i + 1], sam->input_h, sam->height, S);
    }
    if (prompt->box)
        for (int32_t k = 0; k < 2; k++) {
            box_uv[2 * k] = to_uv(prompt->box[2 * k], sam->input_w, sam->width, S);
            box_uv[2 * k + 1] = to_uv(prompt->box[2 * k + 1], sam->input_h, sam->height, S);
        }
    const int64_t N = (int64_t)dc->grid * dc->grid;
    float *sparse = am_alloc((size_t)(MAX_PROMPT_POINTS + 2) * D, sizeof *sparse, err);
    float *dense = sparse && prompt->mask_input ? am_alloc((size_t)(D * N), sizeof *dense, err)
                                                : NULL;
    float *iou = sparse ? am_alloc((size_t)M, sizeof *iou, err) : NULL;
    am_status st = sparse && iou && (dense || !prompt->mask_input) ? AM_OK : AM_ERR_NOMEM;
    int32_t ns = 0;
    if (st == AM_OK)
        st = sam_decoder_embed_sparse(sam->dec, uv, prompt->labels, n,
                                      prompt->box ? box_uv : NULL, sparse, &ns, err);
    if (st == AM_OK && prompt->mask_input)
        st = sam_decoder_embed_dense(sam->dec, prompt->mask_input, dense, err);
    const uint32_t bits = multimask ? ((1u << M) - 1u) & ~1u : 1u;
    if (st == AM_OK) st = sam_decoder_run(sam->dec, sparse, 1, ns, dense, bits, iou, NULL, err);
    const int32_t count = multimask ? M - 1 : 1;
    const int64_t HW = (int64_t)sam->width * sam->height;
    if (st == AM_OK) {
        out->logits = malloc((size_t)(count * HW) * sizeof *out->logits);
        out->iou = malloc((size_t)count * sizeof *out->iou);
        out->lowres = malloc((size_t)count * L * L * sizeof *out->lowres);
        if (!out->logits || !out->iou || !out->lowres)
            st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    if (st == AM_OK) st = sam_decoder_masks(sam->dec, 0, bits, out->lowres, err);
    float *scratch = NULL;
    if (st == AM_OK) {
        scratch = am_alloc((size_t)sam_postprocess_scratch_floats(L, S, sam->input_h,
                                                                  sam->input_w, sam->height,
                                                                  sam->width),
                           sizeof *scratch, err);
        if (!scratch) st = AM_ERR_NOMEM;
    }
    if (st == AM_OK) {
        for (int32_t t = 0; t < count; t++) {
            out->iou[t] = iou[multimask ? t + 1 : 0];
            sam_postprocess_logits(out->lowres + (int64_t)t * L * L, L, S, sam->input_h,
                                   sam->input_w, sam->height, sam->width, out->logits + t * HW,
                                   scratch);
        }
        out->count = count;
        out->width = sam->width;
        out->height = sam->height;
        out->lowres_size = L;
    }
    am_free(scratch);
    am_free(sparse);
    am_free(dense);
    am_free(iou);
    if (st != AM_OK) am_sam_prediction_free(out);
    return st;
}
