/* fuzz-clip-config.c - libFuzzer target for the open_clip model config
 * reader: any bytes must parse or fail with a message, and what parses must
 * hold only sizes the CLIP loader can take (0, or 1..CLIP_MAX_VOCAB: it
 * divides by head_width and text_heads when they are not 0).
 * Seeds: fuzz/corpus/clip-config (open_clip configs, plain and HF-style). */
#include <stdint.h>
#include <stdlib.h>

#include "clip/clip_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char name[] = "fuzz";
    am_error err = {0};
    clip_config c;
    int recognised = -1;
    if (clip_config_parse((const char *)data, size, name, &c, &recognised, &err) != AM_OK) {
        if (!err.message[0]) abort(); /* a failure always says why */
        return 0;
    }
    if (c.path != name || (recognised != 0 && recognised != 1) ||
        (c.quick_gelu != 0 && c.quick_gelu != 1))
        abort();
    const int32_t all[] = {c.embed_dim,     c.image_size,     c.patch_size, c.vision_width,
                           c.vision_layers, c.head_width,     c.text_width, c.text_layers,
                           c.text_heads,    c.context_length, c.vocab_size};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i] < 0 || all[i] > CLIP_MAX_VOCAB || (!recognised && all[i] != 0)) abort();
    return 0;
}
