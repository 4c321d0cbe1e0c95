/* safetensors.c - the safetensors format: an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
 * Every offset, size and name is validated before a tensor is indexed. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/weights_internal.h"

#define SAFETENSORS_MAX_HEADER ((uint64_t)100 << 20)

typedef struct {
    uint64_t begin, end;
    const char *name;
} byte_range;

static int parse_dtype(const char *s, am_dtype *out) {
    for (int d = 0; d < AM_DTYPE_COUNT; d++)
        if (strcmp(s, am_dtype_name((am_dtype)d)) == 0) {
            *out = (am_dtype)d;
            return 1;
        }
    return 0;
}

static int compare_ranges(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Reads one tensor's header entry; fills its byte range. */
static am_status read_entry(am_weights *w, const char *name, json_t *desc,
                            const unsigned char *data, uint64_t data_size, byte_range *range,
                            am_error *err) {
    if (!json_is_object(desc))
        return am_error_set(err, AM_ERR_FORMAT, "header entry '%s' is not an object", name);
    json_t *jd = json_object_get(desc, "dtype"), *js = json_object_get(desc, "shape"),
           *jo = json_object_get(desc, "data_offsets");
    am_dtype dtype;
    if (!json_is_string(jd) || !parse_dtype(json_string_value(jd), &dtype))
        return am_error_set(err, AM_ERR_FORMAT, "tensor '%s': missing or unknown dtype", name);
    if (!json_is_array(js) || json_array_size(js) > AM_MAX_DIMS)
        return am_error_set(err, AM_ERR_FORMAT, "tensor '%s': shape is not a list of at most %d "
                            "sizes", name, AM_MAX_DIMS);
    int64_t shape[AM_MAX_DIMS];
    int32_t ndim = (int32_t)json_array_size(js);
    for (int32_t i = 0; i < ndim; i++) {
        json_t *v = json_array_get(js, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return am_error_set(err, AM_ERR_FORMAT, "tensor '%s': shape holds a non-size", name);
        shape[i] = json_integer_value(v);
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)))
        return am_error_set(err, AM_ERR_FORMAT, "tensor '%s': data_offsets is not [begin, end]",
                            name);
    json_int_t b = json_integer_value(json_array_get(jo, 0));
    json_int_t e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b || (uint64_t)e > data_size)
        return am_error_set(err, AM_ERR_FORMAT,
                            "tensor '%s': data_offsets [%lld, %lld) out of the %llu data bytes",
                            name, (long long)b, (long long)e, (unsigned long long)data_size);
    int64_t numel = am_shape_numel(ndim, shape);
    if (numel < 0)
        return am_error_set(err, AM_ERR_LIMIT, "tensor '%s': shape too large", name);
    if ((uint64_t)(e - b) != (uint64_t)numel * am_dtype_size(dtype))
        return am_error_set(err, AM_ERR_FORMAT,
                            "tensor '%s': %lld bytes stored but %s %lld elements need %llu", name,
                            (long long)(e - b), am_dtype_name(dtype), (long long)numel,
                            (unsigned long long)numel * am_dtype_size(dtype));
    range->begin = (uint64_t)b;
    range->end = (uint64_t)e;
    range->name = name;
    return am_weights_add(w, name, dtype, ndim, shape, NULL, data + b, err);
}

static am_status read_metadata(am_weights *w, json_t *meta, am_error *err) {
    if (!json_is_object(meta))
        return am_error_set(err, AM_ERR_FORMAT, "__metadata__ is not an object");
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return am_error_set(err, AM_ERR_FORMAT, "__metadata__ '%s' is not a string", key);
        am_status st = am_weights_add_metadata(w, key, json_string_value(value), err);
        if (st != AM_OK) return st;
    }
    return AM_OK;
}

am_status am_safetensors_read(am_weights *w, const unsigned char *buf, size_t size,
                              am_error *err) {
    if (size < 8) return am_error_set(err, AM_ERR_FORMAT, "truncated safetensors header");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | buf[i];
    if (header_len > SAFETENSORS_MAX_HEADER)
        return am_error_set(err, AM_ERR_FORMAT,
                            "safetensors header of %llu bytes (limit 100 MB): not a safetensors "
                            "file, or corrupt", (unsigned long long)header_len);
    if (header_len < 2 || header_len > size - 8)
        return am_error_set(err, AM_ERR_FORMAT,
                            "safetensors header of %llu bytes does not fit in the %zu-byte file "
                            "(truncated or not a safetensors file)",
                            (unsigned long long)header_len, size);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)header_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return am_error_set(err, AM_ERR_FORMAT, "bad JSON in safetensors header: %s (at byte %d)",
                            jerr.text, jerr.position);
    am_status st = AM_OK;
    byte_range *ranges = NULL;
    if (!json_is_object(root)) {
        st = am_error_set(err, AM_ERR_FORMAT, "safetensors header is not a JSON object");
        goto done;
    }
    const unsigned char *data = buf + 8 + header_len;
    uint64_t data_size = size - 8 - header_len;
    ranges = calloc(json_object_size(root) + 1, sizeof *ranges);
    if (!ranges) {
        st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t n = 0;
    const char *name;
    json_t *desc;
    json_object_foreach(root, name, desc) {
        if (strcmp(name, "__metadata__") == 0) st = read_metadata(w, desc, err);
        else st = read_entry(w, name, desc, data, data_size, &ranges[n++], err);
        if (st != AM_OK) goto done;
    }
    qsort(ranges, n, sizeof *ranges, compare_ranges);
    for (size_t i = 1; i < n; i++)
        if (ranges[i].begin < ranges[i - 1].end && ranges[i].begin != ranges[i].end &&
            ranges[i - 1].begin != ranges[i - 1].end) {
            st = am_error_set(err, AM_ERR_FORMAT, "tensors '%s' and '%s' overlap in the data",
                              ranges[i - 1].name, ranges[i].name);
            goto done;
        }
done:
    free(ranges);
    json_decref(root);
    return st;
}
