/* linear_bf16.c - oneDNN bf16 matmul (being written). */
#include "nn/linear_bf16.h"

#include "core/error.h"

am_status am_linear_bf16_create(const float *weight, int transposed, const float *bias,
                                int64_t out_features, int64_t in_features, am_linear_bf16 **out,
                                am_error *err) {
    *out = NULL;
    return am_error_set(err, AM_ERR_UNSUPPORTED, "bf16 not built yet");
}

void am_linear_bf16_free(am_linear_bf16 *layer) {
    (void)layer;
}

am_status am_linear_bf16_forward(const am_linear_bf16 *layer, const float *x, int64_t ldx,
                                 int64_t rows, float *y, int64_t ldy, am_error *err) {
    return am_error_set(err, AM_ERR_UNSUPPORTED, "bf16 not built yet");
}
