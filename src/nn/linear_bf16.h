/* linear_bf16.h - the bf16 path of linear layers: weights converted to bf16
 * and reordered once for oneDNN's matmul; activations converted per call;
 * accumulation and output in float32. */
#ifndef AM_NN_LINEAR_BF16_H
#define AM_NN_LINEAR_BF16_H

#include <stdint.h>

#include "anomem.h"

typedef struct am_linear_bf16 am_linear_bf16;

/* weight is [out][in] (transposed = 0) or [in][out] (transposed = 1). */
am_status am_linear_bf16_create(const float *weight, int transposed, const float *bias,
                                int64_t out_features, int64_t in_features, am_linear_bf16 **out,
                                am_error *err);
void am_linear_bf16_free(am_linear_bf16 *layer);
am_status am_linear_bf16_forward(const am_linear_bf16 *layer, const float *x, int64_t ldx,
                                 int64_t rows, float *y, int64_t ldy, am_error *err);

#endif
