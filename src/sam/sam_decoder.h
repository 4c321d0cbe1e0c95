/* sam_decoder.h - Segment Anything's prompt encoder and mask decoder (the
 * two-way transformer, output upscaling, hypernetwork MLPs and IoU head), as
 * the official segment-anything code computes them, batched over prompts.
 *
 * Use: sam_decoder_set_image() once per image embedding; then per batch of
 * prompts sam_decoder_embed_sparse() (or _dense()) for the prompt tokens,
 * sam_decoder_run() for the transformer and the IoU predictions, and
 * sam_decoder_masks() for the low-resolution masks of the prompts whose
 * masks are wanted (the upscaling is most of the per-prompt work, so a caller
 * that filters on the IoU first upscales only the survivors).
 *
 * Exact rewrites of the reference computation (notes/sam.md section 6): the
 * prompt-independent image side of block 0 (its keys and the projections of
 * them) is computed once per image; the cross attentions of later blocks are
 * reassociated per head so that no projection of the 4096 image tokens is
 * needed per prompt; the final token-to-image attention runs for the IoU and
 * mask tokens only. */
#ifndef AM_SAM_SAM_DECODER_H
#define AM_SAM_SAM_DECODER_H

#include <stdint.h>

#include "anomem.h"

/* Sizes of a prompt encoder + mask decoder. */
typedef struct {
    int32_t embed_dim;       /* D: 256 (16 tiny) */
    int32_t grid;            /* G: side of the image embedding, 64 (8 tiny) */
    int32_t input_size;      /* S: side of the padded model input, 1024 (128 tiny) */
    int32_t mask_hidden;     /* channels of the first mask-input conv: 4 (3 tiny) */
    int32_t mask_in_chans;   /* channels of the second: 16 (12 tiny) */
    int32_t depth;           /* two-way blocks: 2 */
    int32_t heads;           /* 8 (2 tiny) */
    int32_t mlp_dim;         /* 2048 (32 tiny) */
    int32_t cross_dim;       /* internal width of the cross attentions: D / 2 */
    int32_t num_mask_tokens; /* 4: token 0 single-mask, 1..3 multimask */
    int32_t iou_depth;       /* layers of the IoU head: 3 */
    int32_t iou_hidden;      /* 256 (16 tiny) */
    int32_t hyper_depth;     /* layers of each hypernetwork MLP: 3 */
    int32_t up1, up2;        /* channels after the two transposed convs: D/4, D/8 */
} sam_decoder_config;

typedef struct sam_decoder sam_decoder;

/* The decoder of the official models (the same for vit_b, vit_l and vit_h)
 * on a grid x grid embedding of an input_size model input. */
sam_decoder_config sam_decoder_config_default(int32_t grid, int32_t input_size);

/* Loads `prompt_encoder.*` and `mask_decoder.*` from w.  Sizes are inferred
 * from the shapes; the head count (not visible in any shape) is 8 unless the
 * config JSON at config_path (may be NULL; the vector folders' key names:
 * decoder_num_heads, ...) says otherwise, and every size the JSON names must
 * agree with the shapes.  grid and input_size come from the image encoder.
 * f32 weights are used in place: w must stay open while the decoder lives. */
am_status sam_decoder_load(am_weights *w, const char *config_path, int32_t grid,
                           int32_t input_size, am_precision precision, sam_decoder **out,
                           am_error *err);

/* A decoder of the given sizes with seeded random weights (PyTorch-like
 * uniform initialisation, LayerNorms at identity). */
am_status sam_decoder_create_random(const sam_decoder_config *cfg, uint64_t seed,
                                    am_precision precision, sam_decoder **out, am_error *err);

void sam_decoder_free(sam_decoder *dec);

const sam_decoder_config *sam_decoder_get_config(const sam_decoder *dec);

/* Side of the low-resolution masks and of a mask input: 4 * grid. */
int32_t sam_decoder_lowres_size(const sam_decoder *dec);

/* The dense positional encoding of the embedding grid, [D][G][G]. */
const float *sam_decoder_dense_pe(const sam_decoder *dec);

/* Takes the image embedding [D][G][G] (channels first, the encoder's
 * output) and precomputes its prompt-independent work. */
am_status sam_decoder_set_image(sam_decoder *dec, const float *embedding, am_error *err);

/*
 * Sparse prompt tokens of one prompt into tokens [n_tokens][D].  Coordinates
 * are already normalised by the model input side: uv = ((x + 0.5) / S,
 * (y + 0.5) / S) in the input frame, rounded to float32 the way the caller's
 * reference path does it.  labels: 1 positive, 0 negative, -1 not a point.
 * box_uv: the two corners (u0, v0, u1, v1) or NULL.  Without a box one
 * padding point is appended, as the official prompt encoder does.
 * n_tokens = n_points + (box ? 2 : 1); tokens must hold that many rows.
 */
am_status sam_decoder_embed_sparse(const sam_decoder *dec, const float *uv,
                                   const int32_t *labels, int32_t n_points, const float *box_uv,
                                   float *tokens, int32_t *n_tokens, am_error *err);

/* The dense prompt embedding [D][G][G] of a mask input [4G][4G] (low-res
 * logits) through the mask-downscaling convs. */
am_status sam_decoder_embed_dense(const sam_decoder *dec, const float *mask_input, float *dense,
                                  am_error *err);

/* Optional outputs of sam_decoder_run, for parity checks (any may be NULL):
 * tokens_out [B][1+M+Ns][D] after the final attention and LayerNorm (all
 * tokens are then computed); image_out [B][G*G][D] keys after the last block. */
typedef struct {
    float *tokens_out;
    float *image_out;
} sam_decoder_trace;

/*
 * Runs B prompts of Ns sparse tokens each (sparse [B][Ns][D]) through the
 * two-way transformer against the image of sam_decoder_set_image.  dense is
 * NULL (no mask input) or one [D][G][G] dense embedding shared by the batch.
 * tokens: bit t set when mask token t's mask may be asked for (0: all); the
 * final attention skips the others (exactly: each token meets only the
 * image there).  iou receives [B][M] predictions of all mask tokens.  The
 * state of every prompt is kept for sam_decoder_masks until the next run.
 */
am_status sam_decoder_run(sam_decoder *dec, const float *sparse, int32_t n_prompts,
                          int32_t n_sparse, const float *dense, uint32_t tokens, float *iou,
                          const sam_decoder_trace *trace, am_error *err);

/* Low-resolution mask logits of prompt `prompt` of the last run for the mask
 * tokens whose bit is set in token_mask (bit t: token t, 0 <= t < M; each
 * among the run's tokens), written in token order to out [popcount][4G][4G]. */
am_status sam_decoder_masks(sam_decoder *dec, int32_t prompt, uint32_t token_mask, float *out,
                            am_error *err);

#endif
