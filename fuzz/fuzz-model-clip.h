/* fuzz-model-clip.h - the tiny seeded random CLIP that fuzz-model-file loads
 * model files for and fuzz/gen-model-corpus.c fits its seeds with: a model
 * file names the CLIP it was fitted with, so both must make the same one. */
#ifndef AM_FUZZ_MODEL_CLIP_H
#define AM_FUZZ_MODEL_CLIP_H

#include <stddef.h>

#include "anomem.h"

#define FUZZ_MODEL_CLIP_SEED 7

/* A 4 x 4 grid of 4-pixel patches, 8 wide, one block per tower (the
 * tokenizer's vocabulary and context are the real ones). */
static am_status fuzz_model_clip(am_clip **out, am_error *err) {
    const am_clip_info info = {.image_size = 16,
                               .patch_size = 4,
                               .grid = 4,
                               .vision_width = 8,
                               .vision_layers = 1,
                               .vision_heads = 2,
                               .embed_dim = 8,
                               .text_width = 8,
                               .text_layers = 1,
                               .text_heads = 2,
                               .context_length = 77,
                               .vocab_size = 49408};
    am_clip_params p = am_clip_default_params();
    p.threads = 1;
    return am_clip_create_random(FUZZ_MODEL_CLIP_SEED, &info, &p, out, err);
}

#endif
