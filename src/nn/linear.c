/* linear.c - linear layers over OpenBLAS sgemm (f32) and oneDNN (bf16). */
#include "nn/linear.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "nn/linear_bf16.h"

struct am_linear {
    int64_t out_features, in_features;
    am_precision precision;
    const float *weight; /* f32: [out][in], or [in][out] when transposed */
    int transposed;
    const float *bias;
    am_linear_bf16 *bf16;
};

static am_status create(const float *weight, const float *bias, int64_t out_features,
                        int64_t in_features, am_precision precision, int transposed,
                        am_linear **out, am_error *err) {
    *out = NULL;
    if (out_features <= 0 || in_features <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "linear layer of %lld x %lld",
                            (long long)out_features, (long long)in_features);
    am_linear *l = calloc(1, sizeof *l);
    if (!l) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    l->out_features = out_features;
    l->in_features = in_features;
    l->precision = precision;
    l->weight = weight;
    l->bias = bias;
    l->transposed = transposed;
    if (precision == AM_PRECISION_BF16) {
        am_status st = am_linear_bf16_create(weight, transposed, bias, out_features, in_features,
                                             &l->bf16, err);
        if (st != AM_OK) {
            free(l);
            return st;
        }
    }
    *out = l;
    return AM_OK;
}

am_status am_linear_create(const float *weight, const float *bias, int64_t out_features,
                           int64_t in_features, am_precision precision, am_linear **out,
                           am_error *err) {
    return create(weight, bias, out_features, in_features, precision, 0, out, err);
}

am_status am_linear_create_transposed(const float *weight_t, const float *bias,
                                      int64_t out_features, int64_t in_features,
                                      am_precision precision, am_linear **out, am_error *err) {
    return create(weight_t, bias, out_features, in_features, precision, 1, out, err);
}

void am_linear_free(am_linear *l) {
    if (!l) return;
    am_linear_bf16_free(l->bf16);
    free(l);
}

int64_t am_linear_in_features(const am_linear *l) {
    return l->in_features;
}

int64_t am_linear_out_features(const am_linear *l) {
    return l->out_features;
}

am_status am_linear_forward(const am_linear *l, const float *x, int64_t ldx, int64_t rows,
                            float *y, int64_t ldy, am_error *err) {
    if (rows <= 0) return AM_OK;
    if (ldx < l->in_features || ldy < l->out_features)
        return am_error_set(err, AM_ERR_ARGUMENT, "linear layer: row strides %lld/%lld below "
                            "%lld/%lld", (long long)ldx, (long long)ldy,
                            (long long)l->in_features, (long long)l->out_features);
    if (l->bf16) return am_linear_bf16_forward(l->bf16, x, ldx, rows, y, ldy, err);
    const int64_t n = l->out_features, k = l->in_features;
    float beta = 0.0f;
    if (l->bias) {
        for (int64_t r = 0; r < rows; r++) memcpy(y + r * ldy, l->bias, (size_t)n * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, l->transposed ? CblasNoTrans : CblasTrans,
                (blasint)rows, (blasint)n, (blasint)k, 1.0f, x, (blasint)ldx, l->weight,
                (blasint)(l->transposed ? n : k), beta, y, (blasint)ldy);
    return AM_OK;
}
