/* sam_postprocess.h - SAM's mask post-processing (Sam.postprocess_masks):
 * low-resolution logits bilinearly upscaled to the padded model input,
 * cropped to the resized image, and resized to the original image, with
 * PyTorch's bilinear rules (align_corners=False, no antialias, float32). */
#ifndef AM_SAM_SAM_POSTPROCESS_H
#define AM_SAM_SAM_POSTPROCESS_H

#include <stdint.h>

/* Floats of scratch that sam_postprocess_logits needs for these sizes. */
int64_t sam_postprocess_scratch_floats(int32_t lowres, int32_t input_size, int32_t input_h,
                                       int32_t input_w, int32_t height, int32_t width);

/*
 * Upscales one low-resolution logit map [lowres][lowres] to out
 * [height][width]: to input_size x input_size, cropped to the top-left
 * input_h x input_w (only that part is computed), then to height x width.
 * Each bilinear pass is separable in PyTorch's order: along rows first, then
 * between the two source rows, out = a[i0] (1 - l) + a[i1] l per axis.
 */
void sam_postprocess_logits(const float *lowres, int32_t lowres_size, int32_t input_size,
                            int32_t input_h, int32_t input_w, int32_t height, int32_t width,
                            float *out, float *scratch);

#endif
