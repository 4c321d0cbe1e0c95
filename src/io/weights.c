/* weights.c - one index over safetensors and PyTorch zip checkpoints: open,
 * list, look up, and hand out data (zero-copy or converted to float32). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "io/file.h"
#include "io/weights_internal.h"

typedef struct {
    am_tensor_info info;
    int64_t strides[AM_MAX_DIMS];
    int contiguous;
    const unsigned char *data;
    float *as_f32;     /* conversion cache, owned */
    void *contiguous_copy; /* copy of a strided tensor, owned */
} weight_entry;

typedef struct {
    char *key;
    char *value;
} metadata_entry;

struct am_weights {
    char *path;
    const char *format;
    am_mapped_file file;
    weight_entry *entries;
    int64_t count, capacity;
    metadata_entry *metadata;
    int64_t metadata_count;
};

static const struct {
    const char *name;
    size_t size;
} dtype_table[AM_DTYPE_COUNT] = {
    [AM_DTYPE_F64] = {"F64", 8},    [AM_DTYPE_F32] = {"F32", 4},
    [AM_DTYPE_F16] = {"F16", 2},    [AM_DTYPE_BF16] = {"BF16", 2},
    [AM_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [AM_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [AM_DTYPE_I64] = {"I64", 8},    [AM_DTYPE_I32] = {"I32", 4},
    [AM_DTYPE_I16] = {"I16", 2},    [AM_DTYPE_I8] = {"I8", 1},
    [AM_DTYPE_U64] = {"U64", 8},    [AM_DTYPE_U32] = {"U32", 4},
    [AM_DTYPE_U16] = {"U16", 2},    [AM_DTYPE_U8] = {"U8", 1},
    [AM_DTYPE_BOOL] = {"BOOL", 1},
};

const char *am_dtype_name(am_dtype dtype) {
    return (unsigned)dtype < AM_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t am_dtype_size(am_dtype dtype) {
    return (unsigned)dtype < AM_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

int64_t am_shape_numel(int32_t ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] == 0) n = 0;
        else if (n > AM_WEIGHTS_MAX_NUMEL / shape[i]) return -1;
        else n *= shape[i];
    }
    return n > AM_WEIGHTS_MAX_NUMEL ? -1 : n;
}

am_status am_weights_add(am_weights *w, const char *name, am_dtype dtype, int32_t ndim,
                         const int64_t *shape, const int64_t *strides, const void *data,
                         am_error *err) {
    if (w->count >= AM_WEIGHTS_MAX_TENSORS)
        return am_error_set(err, AM_ERR_LIMIT, "more than %d tensors", AM_WEIGHTS_MAX_TENSORS);
    if (ndim < 0 || ndim > AM_MAX_DIMS)
        return am_error_set(err, AM_ERR_LIMIT, "tensor '%s' has %d dimensions (at most %d)",
                            name, (int)ndim, AM_MAX_DIMS);
    if (strlen(name) > AM_WEIGHTS_MAX_NAME)
        return am_error_set(err, AM_ERR_LIMIT, "tensor name longer than %d bytes",
                            AM_WEIGHTS_MAX_NAME);
    int64_t numel = am_shape_numel(ndim, shape);
    if (numel < 0)
        return am_error_set(err, AM_ERR_LIMIT, "tensor '%s' has an invalid or huge shape", name);
    if (w->count == w->capacity) {
        int64_t cap = w->capacity ? w->capacity * 2 : 256;
        weight_entry *e = realloc(w->entries, (size_t)cap * sizeof *e);
        if (!e) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        w->entries = e;
        w->capacity = cap;
    }
    weight_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    char *copy = am_strdup(name, err);
    if (!copy) return AM_ERR_NOMEM;
    e->info.name = copy;
    e->info.dtype = dtype;
    e->info.ndim = ndim;
    e->info.numel = numel;
    e->data = data;
    int64_t expect = 1;
    e->contiguous = 1;
    for (int32_t i = ndim - 1; i >= 0; i--) {
        e->info.shape[i] = shape[i];
        e->strides[i] = strides ? strides[i] : expect;
        if (shape[i] != 1 && e->strides[i] != expect) e->contiguous = 0;
        expect *= shape[i];
    }
    if (numel == 0) e->contiguous = 1;
    w->count++;
    return AM_OK;
}

am_status am_weights_add_metadata(am_weights *w, const char *key, const char *value,
                                  am_error *err) {
    metadata_entry *m = realloc(w->metadata, (size_t)(w->metadata_count + 1) * sizeof *m);
    if (!m) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    w->metadata = m;
    m[w->metadata_count].key = am_strdup(key, err);
    m[w->metadata_count].value = am_strdup(value, err);
    w->metadata_count++;
    if (!m[w->metadata_count - 1].key || !m[w->metadata_count - 1].value) return AM_ERR_NOMEM;
    return AM_OK;
}

static int compare_entries(const void *a, const void *b) {
    return strcmp(((const weight_entry *)a)->info.name, ((const weight_entry *)b)->info.name);
}

/* Sorts the index by name and refuses duplicate names. */
static am_status finish_index(am_weights *w, am_error *err) {
    if (w->count > 1) qsort(w->entries, (size_t)w->count, sizeof *w->entries, compare_entries);
    for (int64_t i = 1; i < w->count; i++)
        if (strcmp(w->entries[i - 1].info.name, w->entries[i].info.name) == 0)
            return am_error_set(err, AM_ERR_FORMAT, "duplicate tensor name '%s'",
                                w->entries[i].info.name);
    return AM_OK;
}

static am_status open_buffer(am_weights *w, am_error *err) {
    const unsigned char *buf = w->file.data;
    size_t size = w->file.size;
    am_status st;
    if (size == 0) {
        st = am_error_set(err, AM_ERR_FORMAT, "empty file, not a weight file");
    } else if (size >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0) {
        w->format = "pytorch";
        st = am_torchzip_read(w, buf, size, err);
    } else if (size >= 2 && buf[0] == 0x80 && buf[1] <= 5) {
        st = am_error_set(err, AM_ERR_UNSUPPORTED,
                          "a legacy (pre-1.6, non-zip) PyTorch file; re-save it with torch.save "
                          "or use the safetensors file");
    } else if (size >= 9) {
        w->format = "safetensors";
        st = am_safetensors_read(w, buf, size, err);
    } else {
        st = am_error_set(err, AM_ERR_FORMAT, "file of %zu bytes is not a weight file", size);
    }
    if (st == AM_OK) st = finish_index(w, err);
    if (st != AM_OK) am_error_prefix(err, "%s: ", w->path);
    return st;
}

static am_weights *weights_new(const char *label, am_error *err) {
    am_weights *w = calloc(1, sizeof *w);
    if (!w) {
        am_error_set(err, AM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    w->path = am_strdup(label, err);
    if (!w->path) {
        free(w);
        return NULL;
    }
    return w;
}

am_status am_weights_open(const char *path, am_weights **out, am_error *err) {
    *out = NULL;
    am_weights *w = weights_new(path, err);
    if (!w) return AM_ERR_NOMEM;
    am_status st = am_file_map(path, &w->file, err);
    if (st == AM_OK) st = open_buffer(w, err);
    if (st != AM_OK) {
        am_weights_close(w);
        return st;
    }
    *out = w;
    return AM_OK;
}

am_status am_weights_open_memory(const void *data, size_t size, const char *label,
                                 am_weights **out, am_error *err) {
    *out = NULL;
    am_weights *w = weights_new(label, err);
    if (!w) return AM_ERR_NOMEM;
    w->file.data = data;
    w->file.size = size;
    am_status st = open_buffer(w, err);
    if (st != AM_OK) {
        am_weights_close(w);
        return st;
    }
    *out = w;
    return AM_OK;
}

void am_weights_close(am_weights *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->count; i++) {
        free((char *)w->entries[i].info.name);
        am_free(w->entries[i].as_f32);
        am_free(w->entries[i].contiguous_copy);
    }
    for (int64_t i = 0; i < w->metadata_count; i++) {
        free(w->metadata[i].key);
        free(w->metadata[i].value);
    }
    free(w->metadata);
    free(w->entries);
    am_file_unmap(&w->file);
    free(w->path);
    free(w);
}

int64_t am_weights_count(const am_weights *w) {
    return w->count;
}

const am_tensor_info *am_weights_at(const am_weights *w, int64_t index) {
    return index >= 0 && index < w->count ? &w->entries[index].info : NULL;
}

static weight_entry *find_entry(const am_weights *w, const char *name) {
    int64_t lo = 0, hi = w->count - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->entries[mid].info.name, name);
        if (c == 0) return &w->entries[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const am_tensor_info *am_weights_find(const am_weights *w, const char *name) {
    weight_entry *e = find_entry(w, name);
    return e ? &e->info : NULL;
}

const char *am_weights_format(const am_weights *w) {
    return w->format;
}

const char *am_weights_path(const am_weights *w) {
    return w->path;
}

const char *am_weights_metadata(const am_weights *w, const char *key) {
    for (int64_t i = 0; i < w->metadata_count; i++)
        if (strcmp(w->metadata[i].key, key) == 0) return w->metadata[i].value;
    return NULL;
}

/* Copies a strided tensor into row-major order (element by element, any dtype). */
static void gather_contiguous(const weight_entry *e, unsigned char *dst) {
    size_t es = am_dtype_size(e->info.dtype);
    int64_t index[AM_MAX_DIMS] = {0};
    for (int64_t n = 0; n < e->info.numel; n++) {
        int64_t off = 0;
        for (int32_t d = 0; d < e->info.ndim; d++) off += index[d] * e->strides[d];
        memcpy(dst + (size_t)n * es, e->data + off * (int64_t)es, es);
        for (int32_t d = e->info.ndim - 1; d >= 0; d--) {
            if (++index[d] < e->info.shape[d]) break;
            index[d] = 0;
        }
    }
}

am_status am_weights_get_raw(am_weights *w, const char *name, const void **data, size_t *nbytes,
                             am_error *err) {
    weight_entry *e = find_entry(w, name);
    if (!e) return am_error_set(err, AM_ERR_NOT_FOUND, "%s: no tensor '%s'", w->path, name);
    size_t bytes = (size_t)e->info.numel * am_dtype_size(e->info.dtype);
    if (nbytes) *nbytes = bytes;
    if (e->contiguous) {
        *data = e->data;
        return AM_OK;
    }
    if (!e->contiguous_copy) {
        e->contiguous_copy = am_alloc(bytes, 1, err);
        if (!e->contiguous_copy) return AM_ERR_NOMEM;
        gather_contiguous(e, e->contiguous_copy);
    }
    *data = e->contiguous_copy;
    return AM_OK;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

am_status am_weights_get_f32(am_weights *w, const char *name, const float **data, am_error *err) {
    weight_entry *e = find_entry(w, name);
    if (!e) return am_error_set(err, AM_ERR_NOT_FOUND, "%s: no tensor '%s'", w->path, name);
    am_dtype dt = e->info.dtype;
    if (dt != AM_DTYPE_F32 && dt != AM_DTYPE_F64 && dt != AM_DTYPE_F16 && dt != AM_DTYPE_BF16)
        return am_error_set(err, AM_ERR_MODEL, "%s: tensor '%s' is %s, not a float tensor",
                            w->path, name, am_dtype_name(dt));
    if (e->as_f32) {
        *data = e->as_f32;
        return AM_OK;
    }
    const void *raw;
    am_status st = am_weights_get_raw(w, name, &raw, NULL, err);
    if (st != AM_OK) return st;
    if (dt == AM_DTYPE_F32 && ((uintptr_t)raw & 3) == 0) {
        *data = raw;
        return AM_OK;
    }
    float *out = am_alloc((size_t)e->info.numel ? (size_t)e->info.numel : 1, sizeof(float), err);
    if (!out) return AM_ERR_NOMEM;
    const unsigned char *src = raw;
    for (int64_t i = 0; i < e->info.numel; i++) {
        if (dt == AM_DTYPE_F32) {
            memcpy(&out[i], src + 4 * i, 4);
        } else if (dt == AM_DTYPE_F64) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            out[i] = (float)d;
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            if (dt == AM_DTYPE_F16) {
                out[i] = half_to_float(h);
            } else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&out[i], &bits, 4);
            }
        }
    }
    e->as_f32 = out;
    *data = out;
    return AM_OK;
}
