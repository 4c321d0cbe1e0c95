/* linear_bf16.h - the bf16 path of linear layers: weights converted to bf16
 * and reordered once for oneDNN's matmul; activations converted per call;
 * accumulation and output in float32.  A layer owns its oneDNN engine, stream,
 * primitives and scratch (no process-wide state); calls on one layer are
 * serialised by its own lock.  Never call create or forward inside an OpenMP
 * parallel region (oneDNN uses the OpenMP threads). */
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

/* The oneDNN implementation chosen for the layer's matmul (for example
 * "brg:avx512_core_bf16"), or a note that oneDNN has no bf16 matmul on this
 * CPU and sgemm over bf16-rounded values is used instead. */
const char *am_linear_bf16_impl_name(const am_linear_bf16 *layer);

/* y[r] = bf16(x[r]) bf16(W)^T + b for r < rows (products of the bf16-rounded
 * values, sums in float32); rows of x are ldx >= in_features floats apart,
 * rows of y ldy >= out_features. */
am_status am_linear_bf16_forward(const am_linear_bf16 *layer, const float *x, int64_t ldx,
                                 int64_t rows, float *y, int64_t ldy, am_error *err);

#endif
