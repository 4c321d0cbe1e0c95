/* sam_encoder.h - the Segment Anything image encoder (ViT with windowed and
 * global attention, decomposed relative positions, conv neck) and its image
 * pre-processing, as the official segment-anything code computes them. */
#ifndef AM_SAM_SAM_ENCODER_H
#define AM_SAM_SAM_ENCODER_H

#include <stdint.h>

#include "anomem.h"

/* The most transformer blocks an encoder may have. */
#define SAM_ENCODER_MAX_DEPTH 256

/* Sizes of an image encoder. */
typedef struct {
    int32_t image_size;  /* 1024 (128 tiny) */
    int32_t patch_size;  /* 16 */
    int32_t grid;        /* image_size / patch_size */
    int32_t embed_dim;   /* 768 / 1024 / 1280 (32 tiny) */
    int32_t depth;       /* 12 / 24 / 32 */
    int32_t heads;       /* 12 / 16 / 16 */
    int32_t mlp_dim;     /* 4 * embed_dim */
    int32_t window_size; /* 14 (4 tiny) */
    int32_t out_chans;   /* 256 (16 tiny) */
    int32_t n_global;    /* 4 */
    int32_t global_index[8];
    float pixel_mean[3], pixel_std[3];
} sam_encoder_config;

typedef struct sam_encoder sam_encoder;

/* The standard variants: "vit_b", "vit_l", "vit_h"; AM_ERR_ARGUMENT otherwise. */
am_status sam_encoder_config_for_variant(const char *variant, sam_encoder_config *cfg,
                                         am_error *err);

/* Infers the config from `image_encoder.*` tensors (embed dim from patch_embed, depth from the
   block count, global blocks from rel_pos table lengths (2*grid-1 vs 2*window-1), heads: 12 for
   768, 16 for 1024/1280, else from config JSON `encoder_num_heads`), overridden by the config
   JSON file when config_path is not NULL (the tiny vectors' config.json key names).  The
   weights must stay open while the encoder lives (f32 weights are used in place). */
am_status sam_encoder_load(am_weights *w, const char *config_path, am_precision precision,
                           sam_encoder **out, am_error *err);

/* Completes a config inferred from the weights and overridden by a config
   JSON (the head count must be known by now; the MLP width defaults to 4 x
   embed_dim) and checks that it describes a model this code can run. */
am_status sam_encoder_config_finish(sam_encoder_config *cfg, am_error *err);

/* An encoder of the given sizes with seeded random weights (for benchmarks and tests). */
am_status sam_encoder_create_random(const sam_encoder_config *cfg, uint64_t seed,
                                    am_precision precision, sam_encoder **out, am_error *err);

const sam_encoder_config *sam_encoder_get_config(const sam_encoder *enc);

/* Resize-longest-side (Pillow BILINEAR), normalise, pad: input is [3][S][S];
   input_h/input_w = the resized size. */
am_status sam_encoder_preprocess(const sam_encoder *enc, const am_image *image, float *input,
                                 int32_t *input_h, int32_t *input_w, am_error *err);

/* embedding is [out_chans][grid][grid] (channels first, like enc.embed). */
am_status sam_encoder_forward(sam_encoder *enc, const float *input, float *embedding,
                              am_error *err);

/* Optional observer for tests: called with (name, data, element count) for enc.patch,
   enc.pos_embed_added, enc.block<i> (channels last [grid][grid][C]); NULL to disable. */
typedef void (*sam_encoder_trace_fn)(void *user, const char *name, const float *data, int64_t n);
void sam_encoder_set_trace(sam_encoder *enc, sam_encoder_trace_fn fn, void *user);

void sam_encoder_free(sam_encoder *enc);

/* GFLOP of one forward pass as the official code computes it (2 per multiply-add, matmuls and
   convolutions only, window padding tokens included): 972.1 for vit_b, 2985.7 for vit_l, 5961.1
   for vit_h.  For GFLOP/s figures. */
double sam_encoder_gflop(const sam_encoder_config *cfg);

#endif
