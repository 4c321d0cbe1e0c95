/* clip_config.h - what an open_clip model config JSON (plain, or a HF
 * open_clip_config.json with "model_cfg") says about a CLIP: its sizes,
 * QuickGELU, and the options this code refuses. */
#ifndef AM_CLIP_CLIP_CONFIG_H
#define AM_CLIP_CLIP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

/* The largest vocabulary, and the largest size a config may give. */
#define CLIP_MAX_VOCAB 10000000

/* What an open_clip model config says (0: not given). */
typedef struct {
    const char *path; /* the name given to clip_config_parse, for messages */
    int32_t embed_dim;
    int32_t image_size, patch_size, vision_width, vision_layers, head_width;
    int32_t text_width, text_layers, text_heads, context_length, vocab_size;
    int quick_gelu;
} clip_config;

/* Parses the config JSON text[0..len) (no terminating NUL needed); `name`
 * names it in messages and is kept in c->path.  *recognised is 0 when the
 * text is JSON but no open_clip config (an error only when the caller named
 * the file).  On success every size is 0 or in 1..CLIP_MAX_VOCAB. */
am_status clip_config_parse(const char *text, size_t len, const char *name, clip_config *c,
                            int *recognised, am_error *err);

#endif
