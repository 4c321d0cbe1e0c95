/* image_codec.h - the PNG and JPEG codecs behind am_image_read/decode/write:
 * each decodes a whole in-memory file to 8-bit RGB or encodes rows to a FILE.
 * The libraries' errors are caught (setjmp/longjmp) and turned into am_error;
 * nothing is ever printed. */
#ifndef AM_IMAGE_CODEC_H
#define AM_IMAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "anomem.h"

/* Decodes a PNG held in data[0..size) into out (allocated here, 8-bit RGB).
 * Palette and gray are expanded, alpha and tRNS dropped, 16-bit samples keep
 * their high byte (as Pillow does), gamma and colour profiles are ignored.
 * Width x height above max_pixels (> 0) fails with AM_ERR_LIMIT before any
 * pixel buffer is allocated.  `label` names the data in messages. */
am_status am_png_decode(const uint8_t *data, size_t size, const char *label, int64_t max_pixels,
                        am_image *out, am_error *err);

/* The same for a baseline, progressive or arithmetic-coded 8-bit JPEG:
 * YCbCr/RGB and gray come out as RGB; CMYK and YCCK are converted to RGB as
 * Pillow does (inverted CMYK when an Adobe marker is present).  Truncated or
 * corrupt entropy data is an error, not a gray-filled image. */
am_status am_jpeg_decode(const uint8_t *data, size_t size, const char *label,
                         int64_t max_pixels, am_image *out, am_error *err);

/* Encodes width x height samples to fp as a PNG: channels 1 (gray) or 3
 * (RGB), bits 8 (uint8_t samples) or 16 (uint16_t samples, native order).
 * Fixed compression settings and no time or text chunks, so the bytes depend
 * on the pixels alone.  `path` names the output in messages. */
am_status am_png_encode(FILE *fp, const char *path, const void *samples, int32_t width,
                        int32_t height, int32_t channels, int32_t bits, am_error *err);

#endif
