/* linear.h - the GEMM backend: a linear layer y = x W^T + b whose weights are
 * prepared once (kept as float32 for OpenBLAS sgemm, or converted to bf16 and
 * reordered for oneDNN's matmul) and applied to many rows at once. */
#ifndef AM_NN_LINEAR_H
#define AM_NN_LINEAR_H

#include <stdint.h>

#include "anomem.h"

typedef struct am_linear am_linear;

/* Prepares W [out_features][in_features] (row-major, as torch.nn.Linear stores
 * it) and optional bias [out_features].  In f32 the pointers are kept, not
 * copied: they must outlive the layer.  In bf16 the weights are converted and
 * reordered here, once. */
am_status am_linear_create(const float *weight, const float *bias, int64_t out_features,
                           int64_t in_features, am_precision precision, am_linear **out,
                           am_error *err);

/* A layer from W^T stored as [in_features][out_features] (x @ P, as CLIP's
 * projections are stored). */
am_status am_linear_create_transposed(const float *weight_t, const float *bias,
                                      int64_t out_features, int64_t in_features,
                                      am_precision precision, am_linear **out, am_error *err);

void am_linear_free(am_linear *layer);

int64_t am_linear_in_features(const am_linear *layer);
int64_t am_linear_out_features(const am_linear *layer);

/* y[r][:] = x[r][:] W^T + b for r < rows; rows of x are ldx floats apart and
 * rows of y ldy floats apart.  Must not be called inside an OpenMP parallel
 * region (the GEMM uses the threads). */
am_status am_linear_forward(const am_linear *layer, const float *x, int64_t ldx, int64_t rows,
                            float *y, int64_t ldy, am_error *err);

#endif
