/* weights_internal.h - the tensor index shared by the weight-file readers.
 * A reader validates its format and calls am_weights_add for every tensor,
 * with a pointer into the mapped file that it has bounds-checked. */
#ifndef AM_IO_WEIGHTS_INTERNAL_H
#define AM_IO_WEIGHTS_INTERNAL_H

#include "anomem.h"

/* Bounds shared by the readers. */
#define AM_WEIGHTS_MAX_TENSORS 1000000
#define AM_WEIGHTS_MAX_NAME 4096
#define AM_WEIGHTS_MAX_NUMEL ((int64_t)1 << 40)

/* Adds a tensor.  `strides` (in elements) may be NULL for row-major
 * contiguous; `data` points at element [0,...,0].  The caller has checked that
 * every element addressed by shape and strides lies inside the file.  The name
 * is copied. */
am_status am_weights_add(am_weights *w, const char *name, am_dtype dtype, int32_t ndim,
                         const int64_t *shape, const int64_t *strides, const void *data,
                         am_error *err);

/* Records one `__metadata__` entry (both strings copied). */
am_status am_weights_add_metadata(am_weights *w, const char *key, const char *value,
                                  am_error *err);

/* Number of elements of a shape, or -1 when it exceeds AM_WEIGHTS_MAX_NUMEL or a
 * dimension is negative. */
int64_t am_shape_numel(int32_t ndim, const int64_t *shape);

/* The format readers: they parse buf[0..size) and fill w.  Messages do not
 * name the file; am_weights_open prefixes it. */
am_status am_safetensors_read(am_weights *w, const unsigned char *buf, size_t size,
                              am_error *err);
am_status am_torchzip_read(am_weights *w, const unsigned char *buf, size_t size, am_error *err);

#endif
