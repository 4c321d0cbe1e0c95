/* segment_sam_raw.h - `anomem segment --sam`'s raw output: the generator's
 * flags and the writing of its masks (records JSON and a label PNG). */
#ifndef AM_TOOLS_SEGMENT_SAM_RAW_H
#define AM_TOOLS_SEGMENT_SAM_RAW_H

#include "anomem.h"

/* If argv[*i] is one of the generator flags (--points-per-side N,
 * --points-per-batch N, --pred-iou-thresh X, --stability-score-thresh X,
 * --stability-score-offset X, --box-nms-thresh X, --crop-n-layers N,
 * --crop-nms-thresh X, --crop-overlap-ratio X,
 * --crop-n-points-downscale-factor N, --min-mask-region-area N), sets it in
 * p, consumes its value and returns 1; returns 0 for another flag; -1 after
 * printing a usage error for `anomem segment`. */
int segment_sam_parse_flag(am_amg_params *p, int argc, char **argv, int *i);

/* Help text of those flags. */
extern const char segment_sam_help[];

/* Writes <out_dir>/<stem>.masks.json (image size and one record per mask:
 * label, area, bbox, predicted_iou, point_coords, stability_score, crop_box)
 * and <out_dir>/<stem>.masks.png, a label image (0 = no mask, i + 1 = mask
 * i; earlier masks win where masks overlap; 8-bit up to 255 masks, 16-bit
 * beyond), both atomically.  Returns an am_status. */
int segment_sam_write_records(const char *out_dir, const char *stem, const am_image *img,
                              const am_sam_masks *masks, am_error *err);

#endif
