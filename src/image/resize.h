/* resize.h - Pillow's resampling (Image.resize with BICUBIC or BILINEAR),
 * reproduced bit for bit: separable passes in 22-bit fixed point, each pass
 * rounded and clipped to uint8, horizontal first. */
#ifndef AM_IMAGE_RESIZE_H
#define AM_IMAGE_RESIZE_H

#include <stdint.h>

#include "anomem.h"

typedef enum { AM_RESAMPLE_BILINEAR, AM_RESAMPLE_BICUBIC } am_resample;

/* Resizes an interleaved uint8 image of `channels` channels from sw x sh to
 * dw x dh.  A pass whose size does not change is skipped. */
am_status am_resize_u8(const uint8_t *src, int32_t sw, int32_t sh, int32_t channels, uint8_t *dst,
                       int32_t dw, int32_t dh, am_resample filter, am_error *err);

#endif
