/* sam_model.h - what sam.c (the public am_sam) shares inside the library and
 * with the tools' parity checks: its encoder and decoder, and the state of
 * the image set last. */
#ifndef AM_SAM_SAM_MODEL_H
#define AM_SAM_SAM_MODEL_H

#include <stdint.h>

#include "anomem.h"
#include "sam/sam_decoder.h"
#include "sam/sam_encoder.h"

sam_encoder *sam_model_encoder(am_sam *sam);
sam_decoder *sam_model_decoder(am_sam *sam);

/* The frame of the image set last: the padded input side S and the resized
 * size (input_h, input_w) inside it. */
void sam_model_frame(const am_sam *sam, int32_t *input_size, int32_t *input_h,
                     int32_t *input_w);

/* The preprocessed input [3][S][S] and the image embedding [D][G][G] of the
 * image set last (NULL before any). */
const float *sam_model_input(const am_sam *sam);
const float *sam_model_embedding(const am_sam *sam);

#endif
