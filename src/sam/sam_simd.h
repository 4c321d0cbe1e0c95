/* sam_simd.h - vectorised exp and exact-erf GELU for the SAM encoder's hot
 * loops: AVX-512 where the compiler targets it, libm elsewhere. */
#ifndef AM_SAM_SAM_SIMD_H
#define AM_SAM_SAM_SIMD_H

#include <math.h>
#include <stdint.h>

#if defined(__AVX512F__)
#include <immintrin.h>

/* e^x for 16 lanes: Cody-Waite reduction by ln 2 and a degree-7 Taylor
 * polynomial (relative error ~1e-7 over the float range); x < -87.3 gives 0,
 * so that no denormal ever reaches later products. */
static inline __m512 sam_exp16(__m512 x) {
    const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
    x = _mm512_min_ps(x, _mm512_set1_ps(88.7f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(live, _mm512_scalef_ps(p, n));
}

/* GELU x * 0.5 * (1 + erf(x / sqrt 2)) for 16 lanes, erf by Abramowitz-Stegun
 * 7.1.26 (absolute error below 1.5e-7), evaluated as erfc on |z| so that the
 * negative side keeps its relative precision. */
static inline __m512 sam_gelu16(__m512 x) {
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678f));
    const __m512 az = _mm512_abs_ps(z);
    const __m512 t =
        _mm512_div_ps(_mm512_set1_ps(1.0f),
                      _mm512_fmadd_ps(az, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    const __m512 erfc_abs =
        _mm512_mul_ps(p, sam_exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), az), az)));
    const __mmask16 pos = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GE_OQ);
    const __m512 one_plus_erf = _mm512_mask_sub_ps(erfc_abs, pos, _mm512_set1_ps(2.0f), erfc_abs);
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), one_plus_erf);
}
#endif

/* GELU (exact erf form) of n floats in place. */
static inline void sam_gelu_inplace(float *x, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, sam_gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(x + i, m, sam_gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
#else
    for (; i < n; i++)
        x[i] = x[i] * 0.5f * (1.0f + erff(x[i] * 0.70710678f));
#endif
}

#endif
