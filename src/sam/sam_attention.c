/* sam_attention.c - SAM encoder attention, tiled: per (head, query tile) or
 * (window, head), the scaled scores q k^T, the decomposed relative-position
 * terms, an exact softmax and the product with v, in per-thread scratch that
 * stays in cache.  AVX-512 micro-kernels where available (with bf16 dot
 * products for q k^T and p v in bf16 mode on CPUs with AVX512_BF16), plain C
 * otherwise; OpenMP over the independent tiles (no BLAS inside them). */
#include "sam/sam_attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "sam/sam_simd.h"

#define QTILE 32     /* queries per task of a global block */
#define ROWPAD 8     /* query rows are padded to a multiple of this (the kernels' row tile) */
#define KCHUNK 256   /* keys per pass of the P.V product (keeps the slice of V in L1/L2) */
#define MAX_SIDE 256 /* largest token square side (grid or window) */

#if defined(__AVX512F__) && defined(__AVX512BF16__) && defined(__AVX512BW__) &&                    \
    defined(__AVX512VL__)
#define HAVE_BF16_KERNELS 1
#else
#define HAVE_BF16_KERNELS 0
#endif

struct sam_attn_workspace {
    int32_t grid, dim, heads, hd, hdp, max_window, n_threads;
    int bf16;           /* q k^T and p v as bf16 dot products */
    int32_t ldk_global; /* key stride of the global K^T: G*G rounded up to 16 */
    float *kt;          /* global blocks: per head [hdp][ldk_global] (f32, or bf16 pairs) */
    float *v;           /* global blocks: per head [G*G+1][hdp] (f32, or bf16 pairs) */
    float *rel_t;       /* the block's two tables transposed: 2 x [hd][rel_stride(max side)] */
    float *scratch;     /* n_threads * per_thread floats */
    size_t per_thread;
    const float **qptr;  /* n_threads * max_q query pointers */
    float **optr;        /* n_threads * max_q output pointers */
    int32_t *pos;        /* n_threads * max_q positions */
    const float **kvptr; /* n_threads * max_window^2 token pointers (window keys) */
    int32_t max_q;
};

/* The keys and values of one head over an L x L square of tokens.  In f32,
 * kt is [hd][ldk] and v [nk][hdp]; in bf16, kt holds pairs (k[t][2p], k[t][2p+1])
 * as [ceil(hd/2)][ldk] and v pairs (v[2u][d], v[2u+1][d]) as [ceil(nk/2)][hdp]. */
typedef struct {
    int32_t hd, hdp, L, nk, ldk;
    int bf16;
    const void *kt, *v;
    const float *rel_ht; /* the relative-position tables transposed: [hd][rel_stride(L)] */
    const float *rel_wt;
} keyset;

/* Per-task scratch: raw and scaled queries, q . rel-table products, scores,
 * outputs, reciprocal softmax sums; in bf16 the scaled queries and the
 * probabilities rounded to bf16. */
typedef struct {
    float *qr, *qs, *ah, *aw, *s, *o, *inv;
    uint16_t *qb, *pb;
} task_buffers;

/* Where the q/k/v rows of tokens are: a list of pointers, or a base and stride. */
typedef struct {
    const float *const *list;
    const float *base;
    size_t stride;
} token_source;

static inline const float *token(const token_source *src, int32_t t) {
    return src->list ? src->list[t] : src->base + (size_t)t * src->stride;
}

static int32_t round_up(int32_t v, int32_t m) {
    return (v + m - 1) / m * m;
}

/* Row stride of the transposed relative-position tables of side L. */
static int32_t rel_stride(int32_t L) {
    return round_up(2 * L - 1, 16);
}

/* float -> bf16 bits, round to nearest even (inputs are finite). */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline uint32_t bf16_pair(float lo, float hi) {
    return (uint32_t)to_bf16(lo) | (uint32_t)to_bf16(hi) << 16;
}

/* Floats of scratch for one task of nq queries. */
static size_t task_floats(int32_t nq, int32_t hdp, int32_t L, int32_t ldk) {
    const size_t nqp = (size_t)round_up(nq, ROWPAD);
    return nqp * ((size_t)hdp * 3 + (size_t)hdp / 2 + (size_t)rel_stride(L) * 2 + (size_t)ldk +
                  (size_t)ldk / 2) +
           nqp;
}

static task_buffers task_layout(float *base, int32_t nq, int32_t hdp, int32_t L, int32_t ldk) {
    const size_t nqp = (size_t)round_up(nq, ROWPAD), ldr = (size_t)rel_stride(L);
    task_buffers t;
    /* Every part but the last is a multiple of 16 floats long: all stay 64-byte aligned. */
    t.s = base;
    t.qr = t.s + nqp * (size_t)ldk;
    t.qs = t.qr + nqp * (size_t)hdp;
    t.o = t.qs + nqp * (size_t)hdp;
    t.ah = t.o + nqp * (size_t)hdp;
    t.aw = t.ah + nqp * ldr;
    t.pb = (uint16_t *)(t.aw + nqp * ldr);
    t.qb = (uint16_t *)(t.aw + nqp * ldr + nqp * (size_t)ldk / 2);
    t.inv = t.aw + nqp * ldr + nqp * (size_t)ldk / 2 + nqp * (size_t)hdp / 2;
    return t;
}

/* ------------------------------------------------------------------------ */
/* Micro-kernels                                                             */
/* ------------------------------------------------------------------------ */

#if defined(__AVX512F__)
/* s[8][16*nv] = q[8][0..hd) . kt[0..hd)[16*nv]: one register tile of scores. */
static inline __attribute__((always_inline)) void qk_tile(const int nv, const float *q, int32_t ldq,
                                                          const float *kt, int32_t ldk, int32_t hd,
                                                          float *s, int32_t lds) {
    __m512 acc[ROWPAD][3];
#pragma GCC unroll 8
    for (int r = 0; r < ROWPAD; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int32_t d = 0; d < hd; d++) {
        __m512 b[3];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            b[v] = _mm512_loadu_ps(kt + (size_t)d * ldk + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < ROWPAD; r++) {
            const __m512 a = _mm512_set1_ps(q[(size_t)r * ldq + d]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < ROWPAD; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            _mm512_storeu_ps(s + (size_t)r * lds + 16 * v, acc[r][v]);
}

/* o[4][16*nv] (+)= p[4][k0..k1) . v[k0..k1)[16*nv]. */
static inline __attribute__((always_inline)) void pv_tile(const int nv, const float *p, int32_t ldp,
                                                          const float *v, int32_t ldv, int32_t k0,
                                                          int32_t k1, float *o, int32_t ldo,
                                                          int first) {
    __m512 acc[4][5];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 5
        for (int c = 0; c < nv; c++)
            acc[r][c] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + (size_t)r * ldo + 16 * c);
    for (int32_t k = k0; k < k1; k++) {
        __m512 b[5];
#pragma GCC unroll 5
        for (int c = 0; c < nv; c++)
            b[c] = _mm512_loadu_ps(v + (size_t)k * ldv + 16 * c);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 a = _mm512_set1_ps(p[(size_t)r * ldp + k]);
#pragma GCC unroll 5
            for (int c = 0; c < nv; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 5
        for (int c = 0; c < nv; c++)
            _mm512_storeu_ps(o + (size_t)r * ldo + 16 * c, acc[r][c]);
}
#endif

#if HAVE_BF16_KERNELS
/* The bf16 pair at element 2p of a bf16 row, as 32 bits. */
static inline uint32_t pair_at(const uint16_t *row, int32_t p) {
    uint32_t u;
    memcpy(&u, row + 2 * p, sizeof u);
    return u;
}

/* As qk_tile with bf16 operands: q rows of bf16, kt of pairs [hp][ldk]. */
static inline __attribute__((always_inline)) void qk_tile_bf16(const int nv, const uint16_t *q,
                                                               int32_t ldq, const uint32_t *kt,
                                                               int32_t ldk, int32_t hp, float *s,
                                                               int32_t lds) {
    __m512 acc[ROWPAD][3];
#pragma GCC unroll 8
    for (int r = 0; r < ROWPAD; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int32_t p = 0; p < hp; p++) {
        __m512bh b[3];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            b[v] = (__m512bh)_mm512_loadu_si512(kt + (size_t)p * ldk + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < ROWPAD; r++) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair_at(q + (size_t)r * ldq, p));
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, b[v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < ROWPAD; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            _mm512_storeu_ps(s + (size_t)r * lds + 16 * v, acc[r][v]);
}

/* As pv_tile with bf16 operands: p rows of bf16, v of pairs [kp][ldv]. */
static inline __attribute__((always_inline)) void pv_tile_bf16(const int nv, const uint16_t *p,
                                                               int32_t ldp, const uint32_t *v,
                                                               int32_t ldv, int32_t u0, int32_t u1,
                                                               float *o, int32_t ldo, int first) {
    __m512 acc[4][5];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 5
        for (int c = 0; c < nv; c++)
            acc[r][c] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + (size_t)r * ldo + 16 * c);
    for (int32_t u = u0; u < u1; u++) {
        __m512bh b[5];
#pragma GCC unroll 5
        for (int c = 0; c < nv; c++)
            b[c] = (__m512bh)_mm512_loadu_si512(v + (size_t)u * ldv + 16 * c);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair_at(p + (size_t)r * ldp, u));
#pragma GCC unroll 5
            for (int c = 0; c < nv; c++)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], a, b[c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 5
        for (int c = 0; c < nv; c++)
            _mm512_storeu_ps(o + (size_t)r * ldo + 16 * c, acc[r][c]);
}
#endif

/* s[nqp][ldk] = q[nqp][hd] . kt[hd][ldk]; nqp a multiple of ROWPAD, ldk of 16. */
static void scores(const float *q, int32_t ldq, int32_t nqp, const float *kt, int32_t ldk,
                   int32_t hd, float *s) {
#if defined(__AVX512F__)
    int32_t j = 0;
    for (; j + 48 <= ldk; j += 48)
        for (int32_t i = 0; i < nqp; i += ROWPAD)
            qk_tile(3, q + (size_t)i * ldq, ldq, kt + j, ldk, hd, s + (size_t)i * ldk + j, ldk);
    if (ldk - j == 32)
        for (int32_t i = 0; i < nqp; i += ROWPAD)
            qk_tile(2, q + (size_t)i * ldq, ldq, kt + j, ldk, hd, s + (size_t)i * ldk + j, ldk);
    else if (ldk - j == 16)
        for (int32_t i = 0; i < nqp; i += ROWPAD)
            qk_tile(1, q + (size_t)i * ldq, ldq, kt + j, ldk, hd, s + (size_t)i * ldk + j, ldk);
#else
    for (int32_t i = 0; i < nqp; i++) {
        float *srow = s + (size_t)i * ldk;
        for (int32_t j = 0; j < ldk; j++)
            srow[j] = 0.0f;
        for (int32_t d = 0; d < hd; d++) {
            const float a = q[(size_t)i * ldq + d];
            const float *krow = kt + (size_t)d * ldk;
            for (int32_t j = 0; j < ldk; j++)
                srow[j] += a * krow[j];
        }
    }
#endif
}

/* Vectors of 16 columns of one P.V register tile, for `rest` columns left:
 * up to 4, or 5 at once for head width 80 (vit_h). */
static inline int32_t pv_width(int32_t rest) {
    return rest == 80 ? 5 : rest >= 64 ? 4 : rest / 16;
}

/* o[nqp][hdp] = p[nqp][0..nk) . v[nk][hdp]; hdp a multiple of 16. */
static void weighted_values(const float *p, int32_t ldp, int32_t nqp, const float *v, int32_t hdp,
                            int32_t nk, float *o) {
#if defined(__AVX512F__)
    for (int32_t k0 = 0; k0 < nk; k0 += KCHUNK) {
        const int32_t k1 = k0 + KCHUNK < nk ? k0 + KCHUNK : nk;
        const int first = k0 == 0;
        for (int32_t i = 0; i < nqp; i += 4) {
            const float *prow = p + (size_t)i * ldp;
            float *orow = o + (size_t)i * hdp;
            for (int32_t c = 0; c < hdp; c += 16 * pv_width(hdp - c)) {
                switch (pv_width(hdp - c)) {
                case 1:
                    pv_tile(1, prow, ldp, v + c, hdp, k0, k1, orow + c, hdp, first);
                    break;
                case 2:
                    pv_tile(2, prow, ldp, v + c, hdp, k0, k1, orow + c, hdp, first);
                    break;
                case 3:
                    pv_tile(3, prow, ldp, v + c, hdp, k0, k1, orow + c, hdp, first);
                    break;
                case 4:
                    pv_tile(4, prow, ldp, v + c, hdp, k0, k1, orow + c, hdp, first);
                    break;
                default:
                    pv_tile(5, prow, ldp, v + c, hdp, k0, k1, orow + c, hdp, first);
                    break;
                }
            }
        }
    }
#else
    for (int32_t i = 0; i < nqp; i++) {
        float *orow = o + (size_t)i * hdp;
        for (int32_t c = 0; c < hdp; c++)
            orow[c] = 0.0f;
        for (int32_t k = 0; k < nk; k++) {
            const float a = p[(size_t)i * ldp + k];
            const float *vrow = v + (size_t)k * hdp;
            for (int32_t c = 0; c < hdp; c++)
                orow[c] += a * vrow[c];
        }
    }
#endif
}

#if HAVE_BF16_KERNELS
/* scores() with bf16 q rows [nqp][ldq] and kt pairs [hp][ldk]. */
static void scores_bf16(const uint16_t *q, int32_t ldq, int32_t nqp, const uint32_t *kt,
                        int32_t ldk, int32_t hp, float *s) {
    int32_t j = 0;
    for (; j + 48 <= ldk; j += 48)
        for (int32_t i = 0; i < nqp; i += ROWPAD)
            qk_tile_bf16(3, q + (size_t)i * ldq, ldq, kt + j, ldk, hp, s + (size_t)i * ldk + j,
                         ldk);
    if (ldk - j == 32)
        for (int32_t i = 0; i < nqp; i += ROWPAD)
            qk_tile_bf16(2, q + (size_t)i * ldq, ldq, kt + j, ldk, hp, s + (size_t)i * ldk + j,
                         ldk);
    else if (ldk - j == 16)
        for (int32_t i = 0; i < nqp; i += ROWPAD)
            qk_tile_bf16(1, q + (size_t)i * ldq, ldq, kt + j, ldk, hp, s + (size_t)i * ldk + j,
                         ldk);
}

/* weighted_values() with bf16 p rows [nqp][ldp] and v pairs [nu][hdp]. */
static void weighted_values_bf16(const uint16_t *p, int32_t ldp, int32_t nqp, const uint32_t *v,
                                 int32_t hdp, int32_t nu, float *o) {
    for (int32_t u0 = 0; u0 < nu; u0 += KCHUNK / 2) {
        const int32_t u1 = u0 + KCHUNK / 2 < nu ? u0 + KCHUNK / 2 : nu;
        const int first = u0 == 0;
        for (int32_t i = 0; i < nqp; i += 4) {
            const uint16_t *prow = p + (size_t)i * ldp;
            float *orow = o + (size_t)i * hdp;
            for (int32_t c = 0; c < hdp; c += 16 * pv_width(hdp - c)) {
                switch (pv_width(hdp - c)) {
                case 1:
                    pv_tile_bf16(1, prow, ldp, v + c, hdp, u0, u1, orow + c, hdp, first);
                    break;
                case 2:
                    pv_tile_bf16(2, prow, ldp, v + c, hdp, u0, u1, orow + c, hdp, first);
                    break;
                case 3:
                    pv_tile_bf16(3, prow, ldp, v + c, hdp, u0, u1, orow + c, hdp, first);
                    break;
                case 4:
                    pv_tile_bf16(4, prow, ldp, v + c, hdp, u0, u1, orow + c, hdp, first);
                    break;
                default:
                    pv_tile_bf16(5, prow, ldp, v + c, hdp, u0, u1, orow + c, hdp, first);
                    break;
                }
            }
        }
    }
}
#endif

/* ------------------------------------------------------------------------ */
/* Softmax and one task                                                      */
/* ------------------------------------------------------------------------ */

/* Adds the relative-position terms to one row of L*L scores ((s + rh[ky]) + rw[kx],
 * PyTorch's order, with rh[ky] = ah[qy - ky + L - 1], rw[kx] = aw[qx - kx + L - 1]),
 * then computes exp(s - max) into the row (or, when pb is not NULL, rounded to
 * bf16 into pb) and returns its sum. */
static float softmax_row(float *row, int32_t L, int32_t qy, int32_t qx, const float *ah,
                         const float *aw, uint16_t *pb) {
    const int32_t nk = L * L;
    float rh[MAX_SIDE], rw[MAX_SIDE];
    for (int32_t k = 0; k < L; k++) {
        rh[k] = ah[qy - k + L - 1];
        rw[k] = aw[qx - k + L - 1];
    }
#if defined(__AVX512F__)
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int32_t ky = 0; ky < L; ky++) {
        float *r = row + (size_t)ky * L;
        const __m512 a = _mm512_set1_ps(rh[ky]);
        for (int32_t kx = 0; kx < L; kx += 16) {
            const __mmask16 m =
                L - kx >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (L - kx)) - 1u);
            __m512 x = _mm512_maskz_loadu_ps(m, r + kx);
            x = _mm512_add_ps(_mm512_add_ps(x, a), _mm512_maskz_loadu_ps(m, rw + kx));
            _mm512_mask_storeu_ps(r + kx, m, x);
            vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
        }
    }
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int32_t k = 0; k < nk; k += 16) {
        const __mmask16 m = nk - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nk - k)) - 1u);
        const __m512 e =
            _mm512_maskz_mov_ps(m, sam_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + k), mx)));
#if HAVE_BF16_KERNELS
        if (pb)
            _mm256_mask_storeu_epi16(pb + k, m, (__m256i)_mm512_cvtneps_pbh(e));
        else
#endif
            _mm512_mask_storeu_ps(row + k, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    return _mm512_reduce_add_ps(vsum);
#else
    (void)pb;
    float mx = -INFINITY;
    for (int32_t ky = 0; ky < L; ky++)
        for (int32_t kx = 0; kx < L; kx++) {
            float *x = row + (size_t)ky * L + kx;
            *x = (*x + rh[ky]) + rw[kx];
            if (*x > mx) mx = *x;
        }
    float sum = 0.0f;
    for (int32_t k = 0; k < nk; k++) {
        row[k] = expf(row[k] - mx);
        sum += row[k];
    }
    return sum;
#endif
}

/* Attention of nq queries of one head over a key set: q[i] is the raw query
 * (hd floats), pos[i] its place qy*L + qx in the square, out[i] gets hd floats. */
static void attend(const keyset *ks, int32_t nq, const float *const *q, const int32_t *pos,
                   float scale, const task_buffers *t, float *const *out) {
    const int32_t hd = ks->hd, hdp = ks->hdp, L = ks->L, ldk = ks->ldk;
    const int32_t nqp = round_up(nq, ROWPAD), ldr = rel_stride(L);
    for (int32_t i = 0; i < nqp; i++) {
        float *qr = t->qr + (size_t)i * hdp, *qs = t->qs + (size_t)i * hdp;
        uint16_t *qb = t->qb + (size_t)i * hdp;
        for (int32_t d = 0; d < hdp; d++) {
            qr[d] = i < nq && d < hd ? q[i][d] : 0.0f;
            qs[d] = qr[d] * scale;
            qb[d] = to_bf16(qs[d]);
        }
    }
    /* q . R for every table row: the relative terms of any (query, key) pair. */
    scores(t->qr, hdp, nqp, ks->rel_ht, ldr, hd, t->ah);
    scores(t->qr, hdp, nqp, ks->rel_wt, ldr, hd, t->aw);
#if HAVE_BF16_KERNELS
    if (ks->bf16) {
        const int32_t hp = (hd + 1) / 2, nu = (ks->nk + 1) / 2;
        scores_bf16(t->qb, hdp, nqp, ks->kt, ldk, hp, t->s);
        for (int32_t i = 0; i < nq; i++) {
            uint16_t *pb = t->pb + (size_t)i * ldk;
            t->inv[i] = 1.0f / softmax_row(t->s + (size_t)i * ldk, L, pos[i] / L, pos[i] % L,
                                           t->ah + (size_t)i * ldr, t->aw + (size_t)i * ldr, pb);
            if (ks->nk % 2) pb[ks->nk] = 0; /* pairs with the zero half of the last v pair */
        }
        memset(t->pb + (size_t)nq * ldk, 0, (size_t)(nqp - nq) * ldk * sizeof(uint16_t));
        weighted_values_bf16(t->pb, ldk, nqp, ks->v, hdp, nu, t->o);
    } else
#endif
    {
        scores(t->qs, hdp, nqp, ks->kt, ldk, hd, t->s);
        for (int32_t i = 0; i < nq; i++)
            t->inv[i] = 1.0f / softmax_row(t->s + (size_t)i * ldk, L, pos[i] / L, pos[i] % L,
                                           t->ah + (size_t)i * ldr, t->aw + (size_t)i * ldr, NULL);
        memset(t->s + (size_t)nq * ldk, 0, (size_t)(nqp - nq) * ldk * sizeof(float));
        weighted_values(t->s, ldk, nqp, ks->v, hdp, ks->nk, t->o);
    }
    for (int32_t i = 0; i < nq; i++) {
        const float *o = t->o + (size_t)i * hdp;
        for (int32_t d = 0; d < hd; d++)
            out[i][d] = o[d] * t->inv[i];
    }
}

/* Lays out keys and values of head h (q/k/v channel offset h*hd) for the
 * tokens t0..t1-1 of nk (t0 even), in the key set format: columns of kt
 * (zero from nk on, up to t1 <= ldk) and rows (or row pairs) of v. */
static void layout_keys(const token_source *src, int32_t dim, int32_t h, int32_t hd, int32_t hdp,
                        int bf16, int32_t t0, int32_t t1, int32_t nk, int32_t ldk, void *kt_out,
                        void *v_out) {
    const int32_t koff = dim + h * hd, voff = 2 * dim + h * hd;
    if (!bf16) {
        float *kt = kt_out, *v = v_out;
        for (int32_t t = t0; t < t1; t++) {
            const float *k = t < nk ? token(src, t) + koff : NULL;
            for (int32_t d = 0; d < hd; d++)
                kt[(size_t)d * ldk + t] = k ? k[d] : 0.0f;
            if (t >= nk) continue;
            memcpy(v + (size_t)t * hdp, token(src, t) + voff, (size_t)hd * sizeof(float));
            for (int32_t d = hd; d < hdp; d++)
                v[(size_t)t * hdp + d] = 0.0f;
        }
        return;
    }
    uint32_t *kt = kt_out, *v = v_out;
    const int32_t hp = (hd + 1) / 2;
    for (int32_t t = t0; t < t1; t++) {
        const float *k = t < nk ? token(src, t) + koff : NULL;
        for (int32_t p = 0; p < hp; p++)
            kt[(size_t)p * ldk + t] =
                k ? bf16_pair(k[2 * p], 2 * p + 1 < hd ? k[2 * p + 1] : 0.0f) : 0u;
    }
    for (int32_t u = t0 / 2; 2 * u < t1 && 2 * u < nk; u++) {
        const float *a = token(src, 2 * u) + voff;
        const float *b = 2 * u + 1 < nk ? token(src, 2 * u + 1) + voff : NULL;
        uint32_t *row = v + (size_t)u * hdp;
        for (int32_t d = 0; d < hdp; d++)
            row[d] = d < hd ? bf16_pair(a[d], b ? b[d] : 0.0f) : 0u;
    }
}

/* Transposes a relative-position table [2L-1][hd] into [hd][rel_stride(L)] (zero-padded). */
static void transpose_table(const float *table, int32_t L, int32_t hd, float *out) {
    const int32_t rows = 2 * L - 1, ldr = rel_stride(L);
    for (int32_t d = 0; d < hd; d++) {
        for (int32_t r = 0; r < rows; r++)
            out[(size_t)d * ldr + r] = table[(size_t)r * hd + d];
        for (int32_t r = rows; r < ldr; r++)
            out[(size_t)d * ldr + r] = 0.0f;
    }
}

/* ------------------------------------------------------------------------ */
/* Workspace and the two kinds of block                                      */
/* ------------------------------------------------------------------------ */

am_status sam_attn_workspace_create(int32_t grid, int32_t dim, int32_t heads, int32_t max_window,
                                    am_precision precision, int32_t n_threads,
                                    sam_attn_workspace **out, am_error *err) {
    *out = NULL;
    if (grid <= 0 || grid > MAX_SIDE || dim <= 0 || heads <= 0 || dim % heads != 0 ||
        max_window < 0 || max_window > MAX_SIDE || n_threads <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "sam attention: invalid sizes (grid %d, dim %d, heads %d, window %d)",
                            (int)grid, (int)dim, (int)heads, (int)max_window);
    sam_attn_workspace *ws = am_calloc(1, sizeof *ws, err);
    if (!ws) return AM_ERR_NOMEM;
    ws->grid = grid;
    ws->dim = dim;
    ws->heads = heads;
    ws->hd = dim / heads;
    ws->hdp = round_up(ws->hd, 16);
    ws->max_window = max_window;
    ws->n_threads = n_threads;
    ws->bf16 = HAVE_BF16_KERNELS && precision == AM_PRECISION_BF16;
    const int32_t T = grid * grid, wn = max_window * max_window;
    ws->ldk_global = round_up(T, 16);
    const size_t global_task = task_floats(QTILE < T ? QTILE : T, ws->hdp, grid, ws->ldk_global);
    size_t window_task = 0;
    if (max_window > 0) {
        const int32_t ldkw = round_up(wn, 16);
        window_task = task_floats(wn, ws->hdp, max_window, ldkw) + (size_t)ws->hdp * (size_t)ldkw +
                      (size_t)(wn + 1) * (size_t)ws->hdp;
    }
    ws->per_thread = (global_task > window_task ? global_task : window_task) + 16;
    ws->per_thread = (ws->per_thread + 15) / 16 * 16;
    ws->max_q = wn > QTILE ? wn : QTILE;
    const int32_t side = grid > max_window ? grid : max_window;
    ws->rel_t = am_alloc(2 * (size_t)ws->hd, (size_t)rel_stride(side) * sizeof(float), err);
    ws->kt =
        am_calloc((size_t)heads * (size_t)ws->hdp, (size_t)ws->ldk_global * sizeof(float), err);
    ws->v = am_calloc((size_t)heads * (size_t)(T + 1), (size_t)ws->hdp * sizeof(float), err);
    ws->scratch = am_alloc((size_t)n_threads, ws->per_thread * sizeof(float), err);
    ws->qptr = am_alloc((size_t)n_threads * (size_t)ws->max_q, sizeof *ws->qptr, err);
    ws->optr = am_alloc((size_t)n_threads * (size_t)ws->max_q, sizeof *ws->optr, err);
    ws->pos = am_alloc((size_t)n_threads * (size_t)ws->max_q, sizeof *ws->pos, err);
    ws->kvptr = wn > 0 ? am_alloc((size_t)n_threads * (size_t)wn, sizeof *ws->kvptr, err) : NULL;
    if (!ws->rel_t || !ws->kt || !ws->v || !ws->scratch || !ws->qptr || !ws->optr || !ws->pos ||
        (wn > 0 && !ws->kvptr)) {
        sam_attn_workspace_free(ws);
        return am_error_set(err, AM_ERR_NOMEM, "sam attention: out of memory");
    }
    *out = ws;
    return AM_OK;
}

void sam_attn_workspace_free(sam_attn_workspace *ws) {
    if (!ws) return;
    am_free(ws->rel_t);
    am_free(ws->kt);
    am_free(ws->v);
    am_free(ws->scratch);
    am_free(ws->qptr);
    am_free(ws->optr);
    am_free(ws->pos);
    am_free(ws->kvptr);
    am_free(ws);
}

int32_t sam_attn_workspace_threads(const sam_attn_workspace *ws) {
    return ws->n_threads;
}

static float attn_scale(int32_t hd) {
    return (float)(1.0 / sqrt((double)hd)); /* head_dim ** -0.5, applied in float32 */
}

/* Global attention: K^T and V of every head laid out once, then tasks of
 * QTILE queries of one head. */
static void forward_global(sam_attn_workspace *ws, const sam_attn_params *p) {
    const int32_t G = ws->grid, T = G * G, C = ws->dim, hd = ws->hd, hdp = ws->hdp;
    const int32_t heads = ws->heads, ldk = ws->ldk_global;
    const size_t kt_size = (size_t)hdp * ldk, v_size = (size_t)(T + 1) * hdp;
    const token_source src = {NULL, p->qkv, 3 * (size_t)C};
    const int32_t tblock = 64, nblocks = (T + tblock - 1) / tblock;
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
    for (int32_t task = 0; task < heads * nblocks; task++) {
        const int32_t h = task / nblocks, t0 = (task % nblocks) * tblock;
        const int32_t t1 = t0 + tblock < T ? t0 + tblock : T;
        layout_keys(&src, C, h, hd, hdp, ws->bf16, t0, t1, T, ldk, ws->kt + h * kt_size,
                    ws->v + h * v_size);
    }
    const int32_t qtiles = (T + QTILE - 1) / QTILE;
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_threads)
    for (int32_t task = 0; task < heads * qtiles; task++) {
        const int th = omp_get_thread_num();
        const int32_t h = task / qtiles, i0 = (task % qtiles) * QTILE;
        const int32_t nq = i0 + QTILE < T ? QTILE : T - i0;
        const float **q = ws->qptr + (size_t)th * ws->max_q;
        float **o = ws->optr + (size_t)th * ws->max_q;
        int32_t *pos = ws->pos + (size_t)th * ws->max_q;
        for (int32_t i = 0; i < nq; i++) {
            q[i] = p->qkv + (size_t)(i0 + i) * 3 * C + h * hd;
            o[i] = p->out + (size_t)(i0 + i) * C + h * hd;
            pos[i] = i0 + i;
        }
        const keyset ks = {hd,
                           hdp,
                           G,
                           T,
                           ldk,
                           ws->bf16,
                           ws->kt + h * kt_size,
                           ws->v + h * v_size,
                           ws->rel_t,
                           ws->rel_t + (size_t)hd * rel_stride(G)};
        const task_buffers tb =
            task_layout(ws->scratch + (size_t)th * ws->per_thread, nq, hdp, G, ldk);
        attend(&ks, nq, q, pos, attn_scale(hd), &tb, o);
    }
}

/* Windowed attention: the grid zero-padded to a multiple of the window and
 * cut into windows; padding tokens are keys and values (with the q/k/v of a
 * zero token, the biases) but never queries, since their outputs are cropped. */
static void forward_windows(sam_attn_workspace *ws, const sam_attn_params *p) {
    const int32_t G = ws->grid, C = ws->dim, hd = ws->hd, hdp = ws->hdp, heads = ws->heads;
    const int32_t w = p->window, nw = (G + w - 1) / w, nk = w * w, ldk = round_up(nk, 16);
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_threads)
    for (int32_t task = 0; task < nw * nw * heads; task++) {
        const int th = omp_get_thread_num();
        const int32_t win = task / heads, h = task % heads;
        const int32_t wy = win / nw, wx = win % nw;
        const float **tok = ws->kvptr + (size_t)th * ws->max_window * ws->max_window;
        const float **q = ws->qptr + (size_t)th * ws->max_q;
        float **o = ws->optr + (size_t)th * ws->max_q;
        int32_t *pos = ws->pos + (size_t)th * ws->max_q;
        int32_t nq = 0;
        for (int32_t t = 0; t < nk; t++) {
            const int32_t gy = wy * w + t / w, gx = wx * w + t % w;
            if (gy < G && gx < G) {
                tok[t] = p->qkv + ((size_t)gy * G + gx) * 3 * C;
                q[nq] = tok[t] + h * hd;
                o[nq] = p->out + ((size_t)gy * G + gx) * C + h * hd;
                pos[nq] = t;
                nq++;
            } else {
                tok[t] = p->qkv_bias;
            }
        }
        float *base = ws->scratch + (size_t)th * ws->per_thread;
        const task_buffers tb = task_layout(base, nq, hdp, w, ldk);
        float *kt = base + (task_floats(nq, hdp, w, ldk) + 15) / 16 * 16;
        float *v = kt + (size_t)hdp * ldk;
        const token_source src = {tok, NULL, 0};
        layout_keys(&src, C, h, hd, hdp, ws->bf16, 0, ldk, nk, ldk, kt, v);
        const keyset ks = {hd,       hdp, w, nk,        ldk,
                           ws->bf16, kt,  v, ws->rel_t, ws->rel_t + (size_t)hd * rel_stride(w)};
        attend(&ks, nq, q, pos, attn_scale(hd), &tb, o);
    }
}

void sam_attn_forward(sam_attn_workspace *ws, const sam_attn_params *p) {
    const int32_t L = p->window > 0 ? p->window : ws->grid;
    transpose_table(p->rel_h, L, ws->hd, ws->rel_t);
    transpose_table(p->rel_w, L, ws->hd, ws->rel_t + (size_t)ws->hd * rel_stride(L));
    if (p->window > 0)
        forward_windows(ws, p);
    else
        forward_global(ws, p);
}
