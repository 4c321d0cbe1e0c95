/* weights-builder.h - builds small weight files in memory for the weights
 * tests and the fuzz seed generator: a growable byte buffer, pickle opcodes
 * as torch.save emits them, a stored-zip writer laid out like torch.save's
 * (64-byte aligned data, optional zip64 records), and a safetensors writer.
 * Header-only; every function is static inline. */
#ifndef AM_TESTS_WEIGHTS_BUILDER_H
#define AM_TESTS_WEIGHTS_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable byte buffer; aborts on out-of-memory (test code only). */
typedef struct {
    unsigned char *data;
    size_t size, capacity;
} wb_buf;

static inline void wb_put(wb_buf *b, const void *p, size_t n) {
    if (b->size + n > b->capacity) {
        size_t cap = b->capacity ? b->capacity : 256;
        while (cap < b->size + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) abort();
        b->data = d;
        b->capacity = cap;
    }
    if (n) memcpy(b->data + b->size, p, n);
    b->size += n;
}

static inline void wb_u8(wb_buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    wb_put(b, &c, 1);
}

static inline void wb_le(wb_buf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        wb_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static inline void wb_free(wb_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- pickle ------------------------------------------------------------ */

static inline void pk_op(wb_buf *b, unsigned op) {
    wb_u8(b, op);
}

/* BINUNICODE (or SHORT_BINUNICODE when short_form). */
static inline void pk_str_form(wb_buf *b, const char *s, int short_form) {
    size_t n = strlen(s);
    if (short_form && n < 256) {
        pk_op(b, 0x8c);
        wb_u8(b, (unsigned)n);
    } else {
        pk_op(b, 'X');
        wb_le(b, n, 4);
    }
    wb_put(b, s, n);
}

static inline void pk_str(wb_buf *b, const char *s) {
    pk_str_form(b, s, 0);
}

/* The smallest of BININT1, BININT2, BININT, LONG1 that holds v. */
static inline void pk_int(wb_buf *b, int64_t v) {
    if (v >= 0 && v < 256) {
        pk_op(b, 'K');
        wb_u8(b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        pk_op(b, 'M');
        wb_le(b, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pk_op(b, 'J');
        wb_le(b, (uint64_t)v, 4);
    } else {
        pk_op(b, 0x8a);
        wb_u8(b, 8);
        wb_le(b, (uint64_t)v, 8);
    }
}

static inline void pk_global(wb_buf *b, const char *module, const char *name) {
    pk_op(b, 'c');
    wb_put(b, module, strlen(module));
    wb_u8(b, '\n');
    wb_put(b, name, strlen(name));
    wb_u8(b, '\n');
}

/* collections.OrderedDict() then MARK, ready for key/value pairs. */
static inline void pk_dict_begin(wb_buf *b) {
    pk_global(b, "collections", "OrderedDict");
    pk_op(b, ')');
    pk_op(b, 'R');
    pk_op(b, '(');
}

static inline void pk_dict_end(wb_buf *b) {
    pk_op(b, 'u'); /* SETITEMS */
}

/* A tuple of n ints. */
static inline void pk_int_tuple(wb_buf *b, int n, const int64_t *v) {
    pk_op(b, '(');
    for (int i = 0; i < n; i++)
        pk_int(b, v[i]);
    pk_op(b, 't');
}

/* _rebuild_tensor_v2(('storage', torch.<storage_type>, key, 'cpu', numel),
 * offset, shape, stride, False, OrderedDict()) as torch.save writes it. */
static inline void pk_tensor(wb_buf *b, const char *storage_type, const char *key,
                             int64_t storage_numel, int64_t offset, int ndim, const int64_t *shape,
                             const int64_t *stride) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    pk_op(b, '(');
    pk_op(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", storage_type);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, storage_numel);
    pk_op(b, 't');
    pk_op(b, 'Q'); /* BINPERSID */
    pk_int(b, offset);
    pk_int_tuple(b, ndim, shape);
    pk_int_tuple(b, ndim, stride);
    pk_op(b, 0x89); /* NEWFALSE */
    pk_global(b, "collections", "OrderedDict");
    pk_op(b, ')');
    pk_op(b, 'R');
    pk_op(b, 't');
    pk_op(b, 'R');
}

/* A contiguous tensor over the whole storage `key`. */
static inline void pk_tensor_c(wb_buf *b, const char *storage_type, const char *key, int ndim,
                               const int64_t *shape) {
    int64_t stride[8], n = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = n;
        n *= shape[i];
    }
    pk_tensor(b, storage_type, key, n, 0, ndim, shape, stride);
}

/* ---- zip ---------------------------------------------------------------- */

static inline uint32_t wb_crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

typedef struct {
    const char *name;
    const void *data;
    size_t size;
    unsigned method; /* 0 = stored; anything else is only written into the headers */
} wb_entry;

/* A zip of the entries, laid out like torch.save's: local headers with an
 * "FB" padding extra field so that data starts on 64 bytes.  zip64 = 1 writes
 * the zip64 extra fields, record and locator (with 0xFFFF.. in the classic
 * fields); `comment` (may be NULL) goes at the end. */
static inline wb_buf wb_zip(const wb_entry *entries, int n, int zip64, const char *comment) {
    wb_buf z = {0};
    uint64_t *offsets = calloc((size_t)n + 1, sizeof *offsets);
    if (!offsets) abort();
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(entries[i].name);
        offsets[i] = z.size;
        size_t pad = (64 - (z.size + 30 + nl + 4) % 64) % 64;
        wb_le(&z, 0x04034b50u, 4);
        wb_le(&z, 20, 2);
        wb_le(&z, 0x0800, 2);
        wb_le(&z, entries[i].method, 2);
        wb_le(&z, 0, 4);
        wb_le(&z, wb_crc32(entries[i].data, entries[i].size), 4);
        wb_le(&z, entries[i].size, 4);
        wb_le(&z, entries[i].size, 4);
        wb_le(&z, nl, 2);
        wb_le(&z, 4 + pad, 2);
        wb_put(&z, entries[i].name, nl);
        wb_le(&z, 0x4246, 2); /* "FB" */
        wb_le(&z, pad, 2);
        for (size_t k = 0; k < pad; k++)
            wb_u8(&z, 'Z');
        wb_put(&z, entries[i].data, entries[i].size);
    }
    uint64_t cd = z.size;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(entries[i].name);
        uint32_t big = 0xffffffffu;
        wb_le(&z, 0x02014b50u, 4);
        wb_le(&z, 0x031e, 2);
        wb_le(&z, 45, 2);
        wb_le(&z, 0x0800, 2);
        wb_le(&z, entries[i].method, 2);
        wb_le(&z, 0, 4);
        wb_le(&z, wb_crc32(entries[i].data, entries[i].size), 4);
        wb_le(&z, zip64 ? big : entries[i].size, 4);
        wb_le(&z, zip64 ? big : entries[i].size, 4);
        wb_le(&z, nl, 2);
        wb_le(&z, zip64 ? 28 : 0, 2);
        wb_le(&z, 0, 2);
        wb_le(&z, 0, 2);
        wb_le(&z, 0, 2);
        wb_le(&z, 0, 4);
        wb_le(&z, zip64 ? big : offsets[i], 4);
        wb_put(&z, entries[i].name, nl);
        if (zip64) {
            wb_le(&z, 1, 2);
            wb_le(&z, 24, 2);
            wb_le(&z, entries[i].size, 8);
            wb_le(&z, entries[i].size, 8);
            wb_le(&z, offsets[i], 8);
        }
    }
    uint64_t cd_size = z.size - cd;
    if (zip64) {
        uint64_t rec = z.size;
        wb_le(&z, 0x06064b50u, 4);
        wb_le(&z, 44, 8);
        wb_le(&z, 0x031e, 2);
        wb_le(&z, 45, 2);
        wb_le(&z, 0, 4);
        wb_le(&z, 0, 4);
        wb_le(&z, (uint64_t)n, 8);
        wb_le(&z, (uint64_t)n, 8);
        wb_le(&z, cd_size, 8);
        wb_le(&z, cd, 8);
        wb_le(&z, 0x07064b50u, 4);
        wb_le(&z, 0, 4);
        wb_le(&z, rec, 8);
        wb_le(&z, 1, 4);
    }
    size_t cl = comment ? strlen(comment) : 0;
    wb_le(&z, 0x06054b50u, 4);
    wb_le(&z, 0, 2);
    wb_le(&z, 0, 2);
    wb_le(&z, zip64 ? 0xffff : (uint64_t)n, 2);
    wb_le(&z, zip64 ? 0xffff : (uint64_t)n, 2);
    wb_le(&z, zip64 ? 0xffffffffu : cd_size, 4);
    wb_le(&z, zip64 ? 0xffffffffu : cd, 4);
    wb_le(&z, cl, 2);
    wb_put(&z, comment, cl);
    free(offsets);
    return z;
}

/* A storage: its key ("0", "1", ...) and bytes. */
typedef struct {
    const char *key;
    const void *data;
    size_t size;
} wb_storage;

/* A torch.save-like archive: archive/data.pkl, archive/byteorder,
 * archive/data/<key> for every storage, archive/version. */
static inline wb_buf wb_torch(const wb_buf *pickle, const wb_storage *storages, int n) {
    wb_entry e[64];
    char names[64][64];
    int k = 0;
    e[k++] = (wb_entry){"archive/data.pkl", pickle->data, pickle->size, 0};
    e[k++] = (wb_entry){"archive/byteorder", "little", 6, 0};
    for (int i = 0; i < n && k < 63; i++) {
        snprintf(names[i], sizeof names[i], "archive/data/%s", storages[i].key);
        e[k++] = (wb_entry){names[i], storages[i].data, storages[i].size, 0};
    }
    e[k++] = (wb_entry){"archive/version", "3\n", 2, 0};
    return wb_zip(e, k, 0, NULL);
}

/* ---- safetensors --------------------------------------------------------- */

/* A safetensors file: the JSON header padded with spaces to 8 bytes, then data. */
static inline wb_buf wb_safetensors(const char *json, const void *data, size_t size) {
    wb_buf b = {0};
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    wb_le(&b, padded, 8);
    wb_put(&b, json, n);
    for (size_t i = n; i < padded; i++)
        wb_u8(&b, ' ');
    wb_put(&b, data, size);
    return b;
}

#endif
