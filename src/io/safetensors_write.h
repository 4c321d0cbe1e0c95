/* safetensors_write.h - writing a safetensors file (float32 / int32 tensors
 * plus string metadata), atomically.  Used for fitted model files. */
#ifndef AM_IO_SAFETENSORS_WRITE_H
#define AM_IO_SAFETENSORS_WRITE_H

#include <stdint.h>

#include "anomem.h"

typedef struct {
    const char *name;
    am_dtype dtype; /* AM_DTYPE_F32 or AM_DTYPE_I32 */
    int32_t ndim;
    int64_t shape[AM_MAX_DIMS];
    const void *data; /* little-endian on every machine anomem builds for */
} am_tensor_out;

typedef struct {
    const char *key;
    const char *value;
} am_metadata_out;

/* Writes the tensors in the order given (offsets aligned to 8 bytes through
 * header padding) and the metadata to `path` via a temporary file. */
am_status am_safetensors_write(const char *path, const am_tensor_out *tensors, int32_t n,
                               const am_metadata_out *metadata, int32_t n_metadata,
                               am_error *err);

#endif
