/* fuzz-sam-config.c - libFuzzer target for SAM's config JSON: any JSON is
 * told SAM or not, applied to the encoder sizes inferred from the tiny
 * vectors' weights (head count and MLP width left unknown, so that the JSON
 * or the defaults must give them) and completed, and checked against their
 * decoder sizes.  A failure must say why; an encoder config that passes must
 * hold sizes the encoder builder can take (its MAX_DIM 16384, grid <= 256,
 * global blocks inside the depth), and the decoder check may change nothing
 * but the head count, which must be the JSON's or one the decoder refuses.
 * Seeds: fuzz/corpus/sam-config. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sam/sam_config.h"

static sam_encoder_config tiny_encoder(void) {
    sam_encoder_config c = {.image_size = 128,
                            .patch_size = 16,
                            .grid = 8,
                            .embed_dim = 32,
                            .depth = 4,
                            .window_size = 4,
                            .out_chans = 16,
                            .n_global = 2,
                            .global_index = {1, 3},
                            .pixel_mean = {123.675f, 116.28f, 103.53f},
                            .pixel_std = {58.395f, 57.12f, 57.375f}};
    return c;
}

static sam_decoder_config tiny_decoder(void) {
    sam_decoder_config c = sam_decoder_config_default(8, 128);
    c.embed_dim = 16;
    c.mask_hidden = 3;
    c.mask_in_chans = 12;
    c.mlp_dim = 32;
    c.cross_dim = 8;
    c.iou_hidden = 16;
    c.up1 = 4;
    c.up2 = 2;
    return c;
}

/* Aborts unless c is an encoder config the builder can take. */
static void check_encoder(const sam_encoder_config *c) {
    const int32_t max_dim = 16384, max_grid = 256;
    if (c->patch_size <= 0 || c->grid <= 0 || c->grid > max_grid ||
        c->image_size != c->grid * c->patch_size || c->embed_dim <= 0 || c->embed_dim > max_dim ||
        c->heads <= 0 || c->embed_dim % c->heads != 0 || c->depth <= 0 ||
        c->depth > SAM_ENCODER_MAX_DEPTH || c->mlp_dim <= 0 || c->mlp_dim > 8 * max_dim ||
        c->out_chans <= 0 || c->out_chans > max_dim || c->window_size <= 0 ||
        c->window_size > max_grid || c->n_global < 0 || c->n_global > 8)
        abort();
    for (int32_t g = 0; g < c->n_global; g++) {
        if (c->global_index[g] < 0 || c->global_index[g] >= c->depth) abort();
        for (int32_t h = 0; h < g; h++)
            if (c->global_index[h] == c->global_index[g]) abort();
    }
    for (int k = 0; k < 3; k++)
        if (!(c->pixel_std[k] > 0.0f) || !isfinite(c->pixel_mean[k])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j) return 0;
    volatile int is_sam = sam_config_is_sam(j);
    (void)is_sam;

    am_error err = {0};
    sam_encoder_config enc = tiny_encoder();
    am_status st = sam_config_apply_encoder(j, "fuzz", &enc, &err);
    if (st == AM_OK) st = sam_encoder_config_finish(&enc, &err);
    if (st == AM_OK)
        check_encoder(&enc);
    else if (!err.message[0])
        abort(); /* a failure always says why */

    memset(&err, 0, sizeof err);
    const sam_decoder_config before = tiny_decoder();
    sam_decoder_config dec = before;
    if (sam_config_apply_decoder(j, "fuzz", "weights", &dec, &err) == AM_OK) {
        /* the head count is the JSON's, or one the decoder's check refuses */
        const json_t *heads = json_object_get(j, "decoder_num_heads");
        if (json_is_integer(heads) && dec.heads > 0 && dec.heads != json_integer_value(heads))
            abort();
        dec.heads = before.heads;
        if (memcmp(&dec, &before, sizeof dec) != 0) abort();
    } else if (!err.message[0]) {
        abort();
    }
    json_decref(j);
    return 0;
}
