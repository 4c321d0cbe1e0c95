/* resize_f32.h - bilinear resizing of one-channel float maps exactly as
 * torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
 * antialias=False): pixel centres at half-pixel offsets, source coordinates
 * clamped at 0 and at the last row/column, no low-pass filter when
 * shrinking. */
#ifndef AM_IMAGE_RESIZE_F32_H
#define AM_IMAGE_RESIZE_F32_H

#include <stdint.h>

#include "anomem.h"

/* Resizes src (sw x sh, row-major) to dst (dw x dh).  Output pixel (x, y)
 * samples the source at ((x + 0.5) * sw / dw - 0.5, (y + 0.5) * sh / dh - 0.5),
 * negative coordinates taken as 0. */
am_status am_resize_f32_bilinear(const float *src, int32_t sw, int32_t sh, float *dst, int32_t dw,
                                 int32_t dh, am_error *err);

/* The same, but computes only the rw x rh window of the dw x dh output whose
 * top-left output pixel is (rx, ry), written to dst (rw x rh, row-major).
 * The window must lie inside the output. */
am_status am_resize_f32_bilinear_window(const float *src, int32_t sw, int32_t sh, int32_t dw,
                                        int32_t dh, int32_t rx, int32_t ry, int32_t rw,
                                        int32_t rh, float *dst, am_error *err);

#endif
