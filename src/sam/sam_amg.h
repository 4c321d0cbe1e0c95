/* sam_amg.h - SAM's automatic mask generator (SamAutomaticMaskGenerator,
 * notes/sam.md 4-5) and its exact helpers: point grids, crop boxes, the
 * stability score, mask boxes, the crop-edge filter, torchvision's greedy box
 * NMS in its float semantics, and the small-region clean-up. */
#ifndef AM_SAM_SAM_AMG_H
#define AM_SAM_SAM_AMG_H

#include <stdint.h>

#include "anomem.h"
#include "sam/sam_decoder.h"

/* n x n points (x, y) in [0, 1] into xy [n*n][2]: linspace(1/(2n), 1 - 1/(2n),
 * n) as numpy computes it (i * step + start, the last one exactly the end),
 * rows (y) outer, columns (x) inner. */
void sam_amg_point_grid(int32_t n, double *xy);

/* Number of crops for n_layers extra layers: 1 + sum over l of 4^l. */
int32_t sam_amg_crop_count(int32_t n_layers);

/* The crop boxes [count][4] (x0, y0, x1, y1, exclusive ends) and the layer
 * of each: the whole image, then per layer l >= 1 the 2^l x 2^l crops with
 * x0 outer, y0 inner (generate_crop_boxes). */
void sam_amg_crop_boxes(int32_t width, int32_t height, int32_t n_layers, double overlap_ratio,
                        int32_t *boxes, int32_t *layers);

/* Stability score of n logits: count(logit > offset) / count(logit > -offset)
 * with the two bounds rounded to float32, divided in float32 (NaN for 0/0). */
float sam_amg_stability(const float *logits, int64_t n, double offset);

/* Box (x0, y0, x1, y1), inclusive, of the nonzero pixels of a width x height
 * mask with rows `stride` bytes apart; [0, 0, 0, 0] when empty. */
void sam_amg_mask_box(const uint8_t *mask, int32_t width, int32_t height, int64_t stride,
                      int32_t box[4]);

/* 1 if a box (x0, y0, x1, y1, in crop coordinates) lies within 20 px of an
 * edge of its crop (x0, y0, x1, y1) that is not near the same edge of the
 * width x height image. */
int sam_amg_near_crop_edge(const int32_t box[4], const int32_t crop[4], int32_t width,
                           int32_t height);

/* Greedy NMS as torchvision.ops.nms on float32 boxes [n][4]: stable sort by
 * descending score, IoU inter / (area_i + area_j - inter) in float32 with
 * area = (x1 - x0) (y1 - y0), suppression when (double)IoU > thresh (NaN never
 * suppresses).  keep receives the kept indices in order, *n_keep their count. */
am_status sam_amg_nms(const float *boxes, const float *scores, int32_t n, double thresh,
                      int32_t *keep, int32_t *n_keep, am_error *err);

/* remove_small_regions: holes (holes = 1: 8-connected components of the
 * inverted mask smaller than area are filled, the outer background too) or
 * islands (components smaller than area are removed; if all are, the largest
 * is kept, the first in OpenCV's label order on ties).  *changed is 1 when any
 * component was small, as the official code reports it. */
am_status sam_amg_remove_small_regions(uint8_t *mask, int32_t width, int32_t height,
                                       int64_t area, int holes, int *changed, am_error *err);

/* An observer of every candidate (point-major, 3 per point), for parity
 * checks: when given, all candidates are upscaled so that each one's
 * low-res logits [L][L] and stability score can be reported. */
typedef struct {
    void (*candidate)(void *user, int32_t crop, const double point[2], float iou,
                      const float *lowres, float stability);
    void *user;
} sam_amg_observer;

/* The generator with an optional observer (am_sam_generate passes NULL). */
am_status sam_amg_generate(am_sam *sam, const am_image *image, const am_amg_params *params,
                           const sam_amg_observer *observer, am_sam_masks *out, am_error *err);

#endif
