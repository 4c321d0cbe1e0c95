/* safetensors_write.c - serialise tensors to the safetensors format. */
#include "io/safetensors_write.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/file.h"
#include "io/weights_internal.h"

/* The header as JSON text, each tensor at the running offset. */
static char *build_header(const am_tensor_out *t, int32_t n, const am_metadata_out *meta,
                          int32_t n_meta, am_error *err) {
    json_t *root = json_object();
    if (n_meta > 0) {
        json_t *m = json_object();
        for (int32_t i = 0; i < n_meta; i++)
            json_object_set_new(m, meta[i].key, json_string(meta[i].value));
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t offset = 0;
    for (int32_t i = 0; i < n; i++) {
        json_t *d = json_object(), *shape = json_array();
        int64_t numel = am_shape_numel(t[i].ndim, t[i].shape);
        for (int32_t k = 0; k < t[i].ndim; k++)
            json_array_append_new(shape, json_integer(t[i].shape[k]));
        uint64_t bytes = (uint64_t)numel * am_dtype_size(t[i].dtype);
        json_object_set_new(d, "dtype", json_string(am_dtype_name(t[i].dtype)));
        json_object_set_new(d, "shape", shape);
        json_object_set_new(d, "data_offsets",
                            json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + bytes)));
        json_object_set_new(root, t[i].name, d);
        offset += bytes;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) am_error_set(err, AM_ERR_NOMEM, "out of memory");
    return text;
}

am_status am_safetensors_write(const char *path, const am_tensor_out *tensors, int32_t n,
                               const am_metadata_out *metadata, int32_t n_metadata,
                               am_error *err) {
    char *header = build_header(tensors, n, metadata, n_metadata, err);
    if (!header) return AM_ERR_NOMEM;
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) & ~(size_t)7; /* data starts 8-aligned */
    am_atomic_file f;
    am_status st = am_atomic_open(&f, path, err);
    if (st != AM_OK) {
        free(header);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f.fp) == 8 && fwrite(header, 1, hlen, f.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f.fp) != EOF;
    for (int32_t i = 0; ok && i < n; i++) {
        size_t bytes = (size_t)am_shape_numel(tensors[i].ndim, tensors[i].shape) *
                       am_dtype_size(tensors[i].dtype);
        ok = bytes == 0 || fwrite(tensors[i].data, 1, bytes, f.fp) == bytes;
    }
    free(header);
    if (!ok) {
        am_atomic_abort(&f);
        return am_error_set(err, AM_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return am_atomic_commit(&f, err);
}
