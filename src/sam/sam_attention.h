/* sam_attention.h - the multi-head self-attention of SAM's image encoder blocks
 * (windowed or global, with decomposed relative positions), computed tile by
 * tile so that no block ever holds all heads' score matrices at once. */
#ifndef AM_SAM_SAM_ATTENTION_H
#define AM_SAM_SAM_ATTENTION_H

#include <stdint.h>

#include "anomem.h"

/* One block's attention inputs and output.  Tokens are the G x G grid, row-major. */
typedef struct {
    int32_t window;             /* window side; 0: global attention over the whole grid */
    const float *qkv;           /* [G*G][3*dim]: q, k, v (channel j*dim + h*hd + d) */
    const float *qkv_bias;      /* [3*dim]: q, k, v of a zero token (window padding) */
    const float *rel_h, *rel_w; /* [2L-1][hd], L = window or G */
    float *out;                 /* [G*G][dim]: heads concatenated (channel h*hd + d) */
} sam_attn_params;

/* Buffers for the attention of one grid size, width and head count, for up to
 * n_threads OpenMP threads; reused across blocks and calls. */
typedef struct sam_attn_workspace sam_attn_workspace;

/* max_window is the largest window side that will be used (0 if none).  With
 * AM_PRECISION_BF16 (and a CPU build with AVX512_BF16), q k^T and p v are bf16
 * dot products with float32 sums; the relative terms and softmax stay float32. */
am_status sam_attn_workspace_create(int32_t grid, int32_t dim, int32_t heads, int32_t max_window,
                                    am_precision precision, int32_t n_threads,
                                    sam_attn_workspace **out, am_error *err);
void sam_attn_workspace_free(sam_attn_workspace *ws);

/* Threads the workspace was made for. */
int32_t sam_attn_workspace_threads(const sam_attn_workspace *ws);

/* Runs the attention of one block (softmax((q*hd^-0.5) k^T + rel) v per head,
 * with q, k, v of padding tokens taken from qkv_bias), in parallel over
 * (head, query tile) or (window, head).  Must not be called inside an OpenMP
 * parallel region.  The window must be <= max_window. */
void sam_attn_forward(sam_attn_workspace *ws, const sam_attn_params *p);

#endif
