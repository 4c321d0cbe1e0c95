/* layers.c - LayerNorm, GELU, exp/softmax, residual adds and direct
 * multi-head attention on float32 rows (see layers.h). */
#include "nn/layers.h"

#include <math.h>
#include <omp.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

/* The OpenMP team size for a thread count (0: OpenMP's default). */
static int team(int32_t threads) {
    return threads > 0 ? threads : omp_get_max_threads();
}

/* LayerNorm of one row of dim values (y may equal x). */
static void layernorm_row(const float *xr, int64_t dim, const float *gamma, const float *beta,
                          float eps, float *yr) {
    /* 16 independent partial sums: vectorised, and more accurate than one. */
    float part[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= dim; i += 16)
        for (int j = 0; j < 16; j++) part[j] += xr[i + j];
    float sum = 0.0f;
    for (; i < dim; i++) sum += xr[i];
    for (int j = 0; j < 16; j++) sum += part[j];
    const float mean = sum / (float)dim;
    float vpart[16] = {0};
    i = 0;
    for (; i + 16 <= dim; i += 16)
        for (int j = 0; j < 16; j++) {
            float d = xr[i + j] - mean;
            vpart[j] += d * d;
        }
    float var = 0.0f;
    for (; i < dim; i++) var += (xr[i] - mean) * (xr[i] - mean);
    for (int j = 0; j < 16; j++) var += vpart[j];
    const float rstd = 1.0f / sqrtf(var / (float)dim + eps);
    for (i = 0; i < dim; i++) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
}

void am_layernorm(const float *x, int64_t ldx, int64_t rows, int64_t dim, const float *gamma,
                  const float *beta, float eps, float *y, int64_t ldy, int32_t threads) {
#pragma omp parallel for num_threads(team(threads)) schedule(static) if (rows * dim > 32768)
    for (int64_t r = 0; r < rows; r++)
        layernorm_row(x + r * ldx, dim, gamma, beta, eps, y + r * ldy);
}

void am_add_layernorm(float *x, int64_t ldx, const float *y, int64_t ldy, int64_t rows,
                      int64_t dim, const float *gamma, const float *beta, float eps, float *out,
                      int64_t ldo, int32_t threads) {
#pragma omp parallel for num_threads(team(threads)) schedule(static) if (rows * dim > 32768)
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * ldx;
        const float *yr = y + r * ldy;
        for (int64_t i = 0; i < dim; i++) xr[i] += yr[i];
        layernorm_row(xr, dim, gamma, beta, eps, out + r * ldo);
    }
}

/* Taylor coefficients of erf, degree 0..7, around (i + 0.5) / 4 for the 16
 * intervals [i/4, (i+1)/4) of [0, 4): a_0 = erf(c), a_k = (2/sqrt(pi))
 * (-1)^(k-1) H_(k-1)(c) exp(-c^2) / k! with H the physicists' Hermite
 * polynomials.  The truncation error is below 3e-8 on every interval; beyond
 * 4, erf rounds to 1 in float. */
static const float erf_coeffs[8][16] = {
    {1.403162048e-01f, 4.041169094e-01f, 6.232408822e-01f, 7.840750611e-01f, 8.883882317e-01f,
     9.481700728e-01f, 9.784437332e-01f, 9.919900577e-01f, 9.973459706e-01f, 9.992170618e-01f,
     9.997946243e-01f, 9.999521452e-01f, 9.999901033e-01f, 9.999981847e-01f, 9.999997049e-01f,
     9.999999575e-01f},
    {1.110885270e+00f, 9.803528095e-01f, 7.634995358e-01f, 5.247450453e-01f, 3.182739585e-01f,
     1.703597737e-01f, 8.047225902e-02f, 3.354582842e-02f, 1.234082061e-02f, 4.006477862e-03f,
     1.147875126e-03f, 2.902282829e-04f, 6.475868323e-05f, 1.275174080e-05f, 2.215920285e-06f,
     3.398223818e-07f},
    {-1.388606587e-01f, -3.676323036e-01f, -4.771872099e-01f, -4.591519146e-01f,
     -3.580582033e-01f, -2.342446888e-01f, -1.307674209e-01f, -6.289842830e-02f,
     -2.622424381e-02f, -9.515384921e-03f, -3.013172205e-03f, -8.344063132e-04f,
     -2.023708851e-04f, -4.303712520e-05f, -8.032711032e-06f, -1.316811729e-06f},
    {-3.587233683e-01f, -2.348761940e-01f, -5.567184115e-02f, 9.292360177e-02f, 1.624523330e-01f,
     1.579377069e-01f, 1.148406196e-01f, 6.744109256e-02f, 3.303740519e-02f, 1.373053351e-02f,
     4.890426318e-03f, 1.502536006e-03f, 4.000197829e-04f, 9.258295143e-05f, 1.867374490e-05f,
     3.288489507e-06f},
    {6.870709675e-02f, 1.665833876e-01f, 1.764598536e-01f, 1.123965624e-01f, 2.797329713e-02f,
     -3.050061052e-02f, -4.971886316e-02f, -4.225988151e-02f, -2.636082841e-02f,
     -1.313321356e-02f, -5.414293807e-03f, -1.881760071e-03f, -5.575739491e-04f,
     -1.418880221e-04f, -3.116859228e-05f, -5.932511177e-06f},
    {1.041816557e-01f, 4.547535005e-02f, -2.741341107e-02f, -6.721587738e-02f, -6.132368361e-02f,
     -3.060597627e-02f, -2.134924841e-03f, 1.146258336e-02f, 1.249548259e-02f, 8.357392834e-03f,
     4.217880602e-03f, 1.713263280e-03f, 5.769615015e-04f, 1.637739445e-04f, 3.959233534e-05f,
     8.208845472e-06f},
    {-2.266279479e-02f, -5.010665544e-02f, -4.134483367e-02f, -1.036778575e-02f,
     1.553683545e-02f, 2.216123526e-02f, 1.441478113e-02f, 4.105187133e-03f, -1.821412593e-03f,
     -3.114079043e-03f, -2.246833845e-03f, -1.140074624e-03f, -4.523151776e-04f,
     -1.464088816e-04f, -3.952911393e-05f, -9.021089087e-06f},
    {-2.399577058e-02f, -5.458894073e-03f, 1.391000865e-02f, 1.859572677e-02f, 9.606894226e-03f,
     -1.419062361e-03f, -6.184261515e-03f, -4.928393908e-03f, -1.869257257e-03f,
     1.232696284e-04f, 6.808680974e-04f, 5.285700414e-04f, 2.664810511e-04f, 1.021861967e-04f,
     3.151412149e-05f, 8.033147330e-06f},
};

float am_erf(float x) {
    float a = fabsf(x);
    float c = a < 3.9999998f ? a : 3.9999998f;
    int i = (int)(c * 4.0f);
    float t = c - ((float)i + 0.5f) * 0.25f;
    float p = erf_coeffs[7][i];
    for (int k = 6; k >= 0; k--) p = fmaf(p, t, erf_coeffs[k][i]);
    p = a < 4.0f ? p : 1.0f;
    return x < 0.0f ? -p : p;
}

static inline float gelu_one(float v) {
    return v * 0.5f * (1.0f + am_erf(v * 0.70710678118654752f));
}

#if defined(__AVX512F__)
/* GELU of x[0..n) with n a multiple of 16: the same operations as gelu_one
 * (so the same bits), 16 lanes at a time, the interval's coefficients picked
 * from registers by permutes instead of table loads. */
static void gelu_avx512(float *x, int64_t n) {
    __m512 c[8];
    for (int k = 0; k < 8; k++) c[k] = _mm512_loadu_ps(erf_coeffs[k]);
    const __m512 rsqrt2 = _mm512_set1_ps(0.70710678118654752f), half = _mm512_set1_ps(0.5f),
                 one = _mm512_set1_ps(1.0f), four = _mm512_set1_ps(4.0f),
                 top = _mm512_set1_ps(3.9999998f), quarter = _mm512_set1_ps(0.25f),
                 eighth = _mm512_set1_ps(0.125f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 z = _mm512_mul_ps(v, rsqrt2);
        const __m512 a = _mm512_abs_ps(z);
        const __m512 cl = _mm512_min_ps(a, top);
        const __m512i idx = _mm512_cvttps_epi32(_mm512_mul_ps(cl, four));
        const __m512 t = _mm512_sub_ps(cl, _mm512_fmadd_ps(_mm512_cvtepi32_ps(idx), quarter, eighth));
        __m512 p = _mm512_permutexvar_ps(idx, c[7]);
        for (int k = 6; k >= 0; k--) p = _mm512_fmadd_ps(p, t, _mm512_permutexvar_ps(idx, c[k]));
        p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, four, _CMP_LT_OQ), one, p);
        const __m512 e = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(p), _mm512_and_si512(_mm512_castps_si512(z), sign)));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(v, half), _mm512_add_ps(one, e)));
    }
}
#endif

/* GELU of one contiguous run. */
static void gelu_run(float *x, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    i = n & ~(int64_t)15;
    gelu_avx512(x, i);
#endif
    for (; i < n; i++) x[i] = gelu_one(x[i]);
}

void am_gelu_erf(float *x, int64_t n, int32_t threads) {
    const int64_t block = 16384;
    const int64_t blocks = (n + block - 1) / block;
#pragma omp parallel for num_threads(team(threads)) schedule(static) if (blocks > 4)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t lo = b * block;
        gelu_run(x + lo, n - lo < block ? n - lo : block);
    }
}

/* e^x for one value by 2^n e^r, |r| <= ln2/2, with the degree-7 Taylor
 * polynomial of e^r (truncation error 5e-9 relative). */
static inline float exp_one(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = rintf(x * 1.44269504088896341f);
    float r = fmaf(n, -0.693145751953125f, x);
    r = fmaf(n, -1.42860682030941723e-6f, r);
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t e = (int32_t)n + 127;
    uint32_t bits = (uint32_t)e << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

void am_exp_inplace(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = exp_one(x[i]);
}

void am_gelu_quick(float *x, int64_t n, int32_t threads) {
#pragma omp parallel for num_threads(team(threads)) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v / (1.0f + exp_one(-1.702f * v));
    }
}

/* Softmax of one row of n values in place: max, exp(x - max), times 1/sum. */
static void softmax_row(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = exp_one(x[i] - mx);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void am_softmax_rows(float *x, int64_t ld, int64_t rows, int64_t n, int32_t threads) {
#pragma omp parallel for num_threads(team(threads)) schedule(static) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) softmax_row(x + r * ld, n);
}

/* Row i of a sequence's query or key/value rows. */
static inline int64_t seq_row(int64_t first, const int32_t *index, int64_t i) {
    return index ? index[i] : first + i;
}

/* a . b over n values. */
static inline float dot(const float *a, const float *b, int32_t n) {
#if defined(__AVX512F__)
    if (n >= 16 && (n & 15) == 0) {
        __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b));
        for (int32_t i = 16; i < n; i += 16)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
        return _mm512_reduce_add_ps(acc);
    }
#endif
    float s = 0.0f;
    for (int32_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Sequences up to this many keys take one dot product per (query, key);
 * longer ones transpose the keys so that scores vectorise over keys. */
#define SHORT_KV 32
/* Queries of a long sequence handled together (register blocking). */
#define QBLOCK 8

/* Per-thread scratch of the attention kernel: keys transposed [head_dim][ldk]
 * (ldk = n_kv rounded up to 16), scores [QBLOCK][ldk], scaled queries
 * [QBLOCK][head_dim]. */
typedef struct {
    float *kt, *s, *qs;
    int64_t ldk;
} attn_scratch;

/* Scores, hook and softmax of query j (scaled query in qs) over `visible`
 * keys into s; masked-out entries up to ldk are left at 0. */
static void finish_scores(const am_attn_desc *d, int64_t seq, int32_t h, int32_t j, float *s,
                          int32_t visible, int64_t ldk) {
    if (d->hook) d->hook(d->hook_ctx, seq, h, j, s, visible);
    softmax_row(s, visible);
    for (int64_t t = visible; t < ldk; t++) s[t] = 0.0f;
}

#if defined(__AVX512F__)
/* Queries j0 .. j0+nq-1 (nq <= QBLOCK) of a long sequence, head_dim a
 * multiple of 16: scores as an 8 x 16 register tile over the transposed
 * keys, then the weighted sum of values as an 8 x 16 tile per 16 columns. */
static void attend_block_avx512(const am_attn_desc *d, const am_attn_seq *sq, int64_t seq,
                                int32_t h, int32_t j0, int32_t nq, const attn_scratch *sc) {
    const int32_t hd = d->head_dim, nkv = sq->n_kv;
    const int64_t col = (int64_t)h * hd, ldk = sc->ldk;
    int32_t visible[QBLOCK], most = 0;
    for (int32_t q = 0; q < QBLOCK; q++) {
        float *qs = sc->qs + (int64_t)q * hd;
        if (q < nq) {
            const float *qr = d->q + seq_row(sq->q_row, sq->q_index, j0 + q) * d->ldq + col;
            for (int32_t c = 0; c < hd; c++) qs[c] = qr[c] * d->scale;
            visible[q] = sq->causal ? nkv - sq->n_q + j0 + q + 1 : nkv;
        } else {
            for (int32_t c = 0; c < hd; c++) qs[c] = 0.0f;
            visible[q] = 0;
        }
        if (visible[q] > most) most = visible[q];
    }
    for (int64_t t0 = 0; t0 < most; t0 += 16) {
        __m512 acc[QBLOCK];
        for (int q = 0; q < QBLOCK; q++) acc[q] = _mm512_setzero_ps();
        for (int32_t c = 0; c < hd; c++) {
            const __m512 k = _mm512_loadu_ps(sc->kt + (int64_t)c * ldk + t0);
            for (int q = 0; q < QBLOCK; q++)
                acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(sc->qs[(int64_t)q * hd + c]), k, acc[q]);
        }
        for (int q = 0; q < QBLOCK; q++) _mm512_storeu_ps(sc->s + (int64_t)q * ldk + t0, acc[q]);
    }
    for (int32_t q = 0; q < nq; q++)
        finish_scores(d, seq, h, j0 + q, sc->s + (int64_t)q * ldk, visible[q], ldk);
    for (int32_t q = nq; q < QBLOCK; q++)
        for (int64_t t = 0; t < ldk; t++) sc->s[(int64_t)q * ldk + t] = 0.0f;
    for (int32_t c0 = 0; c0 < hd; c0 += 16) {
        __m512 acc[QBLOCK];
        for (int q = 0; q < QBLOCK; q++) acc[q] = _mm512_setzero_ps();
        for (int32_t t = 0; t < most; t++) {
            const float *vr = d->v + seq_row(sq->kv_row, sq->kv_index, t) * d->ldv + col + c0;
            const __m512 v = _mm512_loadu_ps(vr);
            for (int q = 0; q < QBLOCK; q++)
                acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(sc->s[(int64_t)q * ldk + t]), v, acc[q]);
        }
        for (int32_t q = 0; q < nq; q++)
            _mm512_storeu_ps(d->out + (sq->out_row + j0 + q) * d->ldo + col + c0, acc[q]);
    }
}
#endif

/* One (sequence, head) pair. */
static void attend_one(const am_attn_desc *d, const am_attn_seq *sq, int64_t seq, int32_t h,
                       const attn_scratch *sc) {
    const int32_t hd = d->head_dim, nkv = sq->n_kv;
    const int64_t col = (int64_t)h * hd, ldk = sc->ldk;
    float *s = sc->s, *qs = sc->qs;
    if (nkv <= SHORT_KV) {
        for (int32_t j = 0; j < sq->n_q; j++) {
            const float *qr = d->q + seq_row(sq->q_row, sq->q_index, j) * d->ldq + col;
            float *o = d->out + (sq->out_row + j) * d->ldo + col;
            const int32_t visible = sq->causal ? nkv - sq->n_q + j + 1 : nkv;
            for (int32_t c = 0; c < hd; c++) qs[c] = qr[c] * d->scale;
            for (int32_t t = 0; t < visible; t++)
                s[t] = dot(qs, d->k + seq_row(sq->kv_row, sq->kv_index, t) * d->ldk + col, hd);
            finish_scores(d, seq, h, j, s, visible, visible);
            for (int32_t c = 0; c < hd; c++) o[c] = 0.0f;
            for (int32_t t = 0; t < visible; t++) {
                const float p = s[t];
                const float *vr = d->v + seq_row(sq->kv_row, sq->kv_index, t) * d->ldv + col;
                for (int32_t c = 0; c < hd; c++) o[c] += p * vr[c];
            }
        }
        return;
    }
    for (int32_t t = 0; t < nkv; t++) {
        const float *kr = d->k + seq_row(sq->kv_row, sq->kv_index, t) * d->ldk + col;
        for (int32_t c = 0; c < hd; c++) sc->kt[(int64_t)c * ldk + t] = kr[c];
    }
    for (int64_t t = nkv; t < ldk; t++)
        for (int32_t c = 0; c < hd; c++) sc->kt[(int64_t)c * ldk + t] = 0.0f;
#if defined(__AVX512F__)
    if (hd % 16 == 0) {
        for (int32_t j0 = 0; j0 < sq->n_q; j0 += QBLOCK)
            attend_block_avx512(d, sq, seq, h, j0,
                                sq->n_q - j0 < QBLOCK ? sq->n_q - j0 : QBLOCK, sc);
        return;
    }
#endif
    for (int32_t j = 0; j < sq->n_q; j++) {
        const float *qr = d->q + seq_row(sq->q_row, sq->q_index, j) * d->ldq + col;
        float *o = d->out + (sq->out_row + j) * d->ldo + col;
        const int32_t visible = sq->causal ? nkv - sq->n_q + j + 1 : nkv;
        for (int32_t c = 0; c < hd; c++) qs[c] = qr[c] * d->scale;
        for (int32_t t = 0; t < visible; t++) s[t] = 0.0f;
        for (int32_t c = 0; c < hd; c++) {
            const float qc = qs[c];
            const float *row = sc->kt + (int64_t)c * ldk;
            for (int32_t t = 0; t < visible; t++) s[t] += qc * row[t];
        }
        finish_scores(d, seq, h, j, s, visible, visible);
        for (int32_t c = 0; c < hd; c++) o[c] = 0.0f;
        for (int32_t t = 0; t < visible; t++) {
            const float p = s[t];
            const float *vr = d->v + seq_row(sq->kv_row, sq->kv_index, t) * d->ldv + col;
            for (int32_t c = 0; c < hd; c++) o[c] += p * vr[c];
        }
    }
}

am_status am_attention(const am_attn_desc *d, const am_attn_seq *seqs, int64_t n_seqs,
                       int32_t threads, am_error *err) {
    if (d->heads <= 0 || d->head_dim <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "attention with %d heads of %d values",
                            (int)d->heads, (int)d->head_dim);
    int32_t max_kv = 0;
    for (int64_t i = 0; i < n_seqs; i++) {
        const am_attn_seq *s = &seqs[i];
        if (s->n_q < 0 || s->n_kv <= 0 || (s->causal && s->n_q > s->n_kv))
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "attention sequence %lld: %d queries over %d keys",
                                (long long)i, (int)s->n_q, (int)s->n_kv);
        if (s->n_kv > max_kv) max_kv = s->n_kv;
    }
    if (n_seqs == 0) return AM_OK;
    const int nt = team(threads);
    /* Per thread: an attn_scratch, each part padded to 64 bytes. */
    const int64_t ldk = ((int64_t)max_kv + 15) & ~(int64_t)15;
    const size_t kt_size = (size_t)d->head_dim * (size_t)ldk, s_size = QBLOCK * (size_t)ldk;
    const size_t qs_size = ((size_t)QBLOCK * (size_t)d->head_dim + 15) & ~(size_t)15;
    const size_t per = kt_size + s_size + qs_size;
    float *scratch = am_alloc((size_t)nt * per, sizeof(float), err);
    if (!scratch) return AM_ERR_NOMEM;
    const int64_t pairs = n_seqs * d->heads;
    /* Small problems on one thread: waking a team costs more than it saves. */
    const int parallel = am_attention_macs(seqs, n_seqs, d->heads, d->head_dim) > 262144;
#pragma omp parallel num_threads(nt) if (parallel)
    {
        float *mine = scratch + (size_t)omp_get_thread_num() * per;
        const attn_scratch sc = {.kt = mine, .s = mine + kt_size, .qs = mine + kt_size + s_size,
                                 .ldk = ldk};
#pragma omp for schedule(dynamic, 4)
        for (int64_t p = 0; p < pairs; p++) {
            const int64_t i = p / d->heads;
            attend_one(d, &seqs[i], i, (int32_t)(p % d->heads), &sc);
        }
    }
    am_free(scratch);
    return AM_OK;
}

int64_t am_attention_macs(const am_attn_seq *seqs, int64_t n_seqs, int32_t heads,
                          int32_t head_dim) {
    int64_t macs = 0;
    for (int64_t i = 0; i < n_seqs; i++) {
        const am_attn_seq *s = &seqs[i];
        int64_t pairs = s->causal ? (int64_t)s->n_q * (2 * s->n_kv - s->n_q + 1) / 2
                                  : (int64_t)s->n_q * s->n_kv;
        macs += 2 * pairs * head_dim;
    }
    return macs * heads;
}
