/* test-weights-corrupt.c - the weights readers on bad input: every reference
 * file truncated at many lengths and with bytes flipped, and a corpus of
 * hand-made broken safetensors files, zips and pickles, each of which must
 * fail with its specific status and message (and never crash or leak: the
 * suite also runs under AddressSanitizer + UndefinedBehaviorSanitizer).
 * Inputs are opened from exact-size heap copies so that any read past the
 * end is caught by the sanitizer. */
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anomem.h"
#include "check.h"
#include "io/file.h"
#include "io/zip.h"
#include "weights-builder.h"

/* Opens data[0..n) as an in-memory weight file; on success reads every
 * tensor (raw and, for floats, float32) so that bad offsets would show. */
static am_status open_and_touch(const unsigned char *data, size_t n, const char *label,
                                am_error *err) {
    am_weights *w = NULL;
    memset(err, 0, sizeof *err);
    am_status st = am_weights_open_memory(data, n, label, &w, err);
    if (st != AM_OK) return st;
    for (int64_t i = 0; i < am_weights_count(w); i++) {
        const am_tensor_info *t = am_weights_at(w, i);
        const void *raw;
        size_t nbytes;
        const float *f;
        volatile unsigned char sink = 0;
        if (am_weights_get_raw(w, t->name, &raw, &nbytes, err) == AM_OK && nbytes)
            sink ^= ((const unsigned char *)raw)[0] ^ ((const unsigned char *)raw)[nbytes - 1];
        if (t->dtype <= AM_DTYPE_BF16 && am_weights_get_f32(w, t->name, &f, err) == AM_OK &&
            t->numel)
            sink ^= (unsigned char)(f[t->numel - 1] != 0);
        (void)sink;
    }
    am_weights_close(w);
    return AM_OK;
}

/* An exact-size copy of data[0..n), opened. */
static am_status open_copy(const void *data, size_t n, const char *label, am_error *err) {
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy) abort();
    if (n) memcpy(copy, data, n);
    am_status st = open_and_touch(copy, n, label, err);
    free(copy);
    return st;
}

/* The message names the label and holds every one of the NULL-ended words. */
static int message_has(const am_error *err, const char *label, ...) {
    if (strncmp(err->message, label, strlen(label)) != 0) return 0;
    va_list ap;
    va_start(ap, label);
    int ok = 1;
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
        if (!strstr(err->message, w)) ok = 0;
    va_end(ap);
    return ok;
}

/* data[0..n) must fail with `code` and a message holding word1 (and word2). */
static void expect_error(const char *label, const void *data, size_t n, am_status code,
                         const char *word1, const char *word2) {
    am_error err;
    am_status st = open_copy(data, n, label, &err);
    CHECK(st == code && message_has(&err, label, word1, word2, (const char *)NULL),
          "%s: got %s '%s', want %s with '%s'%s%s", label, am_status_string(st), err.message,
          am_status_string(code), word1, word2 ? " and " : "", word2 ? word2 : "");
}

/* ---- truncation and flipped bytes of the reference files ----------------- */

static unsigned char *load(const char *rel, size_t *size) {
    am_error err = {0};
    char *data = NULL;
    CHECK_OK(am_file_read_all(check_shared_path(rel), (size_t)1 << 30, &data, size, &err));
    return (unsigned char *)data;
}

/* The lengths to cut at: every one below 200, and 200 spread over the rest. */
static size_t cut_at(size_t i, size_t size) {
    return i < 200 ? i : 200 + (size - 201) * (i - 200) / 199;
}

static void test_truncated(const char *rel, int is_zip, size_t header_end) {
    size_t size = 0;
    unsigned char *data = load(rel, &size);
    if (!data) return;
    int bad = 0;
    for (size_t i = 0; i < 400; i++) {
        size_t n = cut_at(i, size);
        if (n >= size) continue;
        am_error err;
        am_status st = open_copy(data, n, "cut", &err);
        int ok;
        if (n == 0)
            ok = st == AM_ERR_FORMAT && message_has(&err, "cut", "empty file", NULL);
        else if (n < 9 && !(is_zip && n >= 4))
            ok = st == AM_ERR_FORMAT && message_has(&err, "cut", "not a weight file", NULL);
        else if (is_zip)
            ok = st == AM_ERR_FORMAT &&
                 message_has(&err, "cut", "no zip end-of-central-directory", "truncated", NULL);
        else if (n < header_end)
            ok = st == AM_ERR_FORMAT && message_has(&err, "cut", "does not fit", NULL);
        else
            ok = st == AM_ERR_FORMAT && message_has(&err, "cut", "data_offsets", "out of", NULL);
        if (!ok && bad++ < 5)
            CHECK(0, "%s cut at %zu: %s '%s'", rel, n, am_status_string(st), err.message);
    }
    CHECK(bad == 0, "%s: %d truncations gave the wrong error", rel, bad);
    free(data);
}

/* Flips byte `pos` with `mask`, opens, restores; the result must be success
 * or a format/limit/unsupported error whose message names the file.  For a
 * safetensors header the error must say what is wrong. */
static int flip_one(unsigned char *data, size_t size, size_t pos, unsigned mask, int st_header) {
    data[pos] ^= (unsigned char)mask;
    am_error err;
    am_status st = open_and_touch(data, size, "flip", &err);
    data[pos] ^= (unsigned char)mask;
    if (st == AM_OK) return 1;
    if (st != AM_ERR_FORMAT && st != AM_ERR_LIMIT && st != AM_ERR_UNSUPPORTED) return 0;
    if (!message_has(&err, "flip: ", NULL)) return 0;
    if (!st_header) return 1;
    static const char *const words[] = {
        "JSON",         "dtype",        "shape",  "data_offsets",  "overlap",
        "bytes stored", "__metadata__", "header", "not an object", "duplicate"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(err.message, words[i])) return 1;
    return 0;
}

/* Flips bytes of data[from..to): all of the first 512, then about 500 more
 * spread at an odd stride; the masks take turns.  Counts failures in *bad. */
static void flip_region(const char *rel, unsigned char *data, size_t size, size_t from, size_t to,
                        const unsigned *masks, int nmasks, int st_header, int *bad, long *tried) {
    size_t dense = from + 512 < to ? from + 512 : to;
    size_t stride = to > dense ? ((to - dense) / 500) | 1 : 1;
    long k = 0;
    for (size_t p = from; p < to; p += p < dense ? 1 : stride, k++, (*tried)++) {
        unsigned mask = masks[k % nmasks];
        if (!flip_one(data, size, p, mask, st_header) && (*bad)++ < 5)
            CHECK(0, "%s: flip 0x%02x at %zu", rel, mask, p);
    }
}

static void test_flipped(const char *rel, int is_zip) {
    size_t size = 0;
    unsigned char *data = load(rel, &size);
    if (!data) return;
    unsigned char *copy = malloc(size);
    if (!copy) abort();
    memcpy(copy, data, size);
    free(data);
    int bad = 0;
    long tried = 0;
    const unsigned masks[2] = {0x01, 0x80}, ff = 0xff;
    if (is_zip) {
        /* the pickle, the local headers before each entry, the central directory */
        am_error err = {0};
        am_zip *zip = NULL;
        CHECK_OK(am_zip_open(copy, size, &zip, &err));
        size_t cd_start = 0;
        for (int64_t i = 0; zip && i < am_zip_count(zip); i++) {
            const am_zip_entry *e = am_zip_at(zip, i);
            size_t at = (size_t)(e->data - copy);
            if (at + e->size > cd_start) cd_start = at + (size_t)e->size;
            if (strstr(e->name, "data.pkl"))
                flip_region(rel, copy, size, at, at + (size_t)e->size, masks, 2, 0, &bad, &tried);
            else if (i < 6)
                flip_region(rel, copy, size, at > 100 ? at - 100 : 0, at, &ff, 1, 0, &bad, &tried);
        }
        flip_region(rel, copy, size, cd_start, size, &ff, 1, 0, &bad, &tried);
        am_zip_close(zip);
    } else {
        uint64_t header_len = 0;
        for (int i = 7; i >= 0; i--)
            header_len = header_len << 8 | copy[i];
        size_t header_end = 8 + (size_t)header_len;
        flip_region(rel, copy, size, 0, header_end < size ? header_end : size, masks, 2, 1, &bad,
                    &tried);
    }
    /* the data bytes: 200 spread positions */
    for (size_t i = 0; i < 200; i++, tried++) {
        size_t p = (size - 1) * i / 199;
        if (!flip_one(copy, size, p, 0x55, !is_zip && p < 8) && bad++ < 5)
            CHECK(0, "%s: flip at %zu", rel, p);
    }
    CHECK(bad == 0, "%s: %d of %ld flipped bytes gave a wrong result", rel, bad, tried);
    free(copy);
}

/* ---- safetensors ---------------------------------------------------------- */

static void st_case(const char *label, const char *json, size_t data_size, am_status code,
                    const char *w1, const char *w2) {
    unsigned char data[256] = {0};
    wb_buf b = wb_safetensors(json, data, data_size);
    expect_error(label, b.data, b.size, code, w1, w2);
    wb_free(&b);
}

static void test_safetensors_cases(void) {
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    expect_error("huge.safetensors", huge, sizeof huge, AM_ERR_FORMAT, "limit 100 MB", NULL);
    unsigned char over[16] = {0x00, 0x00, 0x00, 0x0d, 0, 0, 0, 0, '{', '}'}; /* 208 MiB */
    expect_error("over.safetensors", over, sizeof over, AM_ERR_FORMAT, "limit 100 MB", NULL);
    unsigned char past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    expect_error("past.safetensors", past, sizeof past, AM_ERR_FORMAT, "does not fit", NULL);
    st_case("badjson", "{\"a\": {\"dtype\": ", 0, AM_ERR_FORMAT, "bad JSON", NULL);
    st_case("array", "[1, 2]", 0, AM_ERR_FORMAT, "not a JSON object", NULL);
    st_case("range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
            AM_ERR_FORMAT, "'a'", "out of the 8 data bytes");
    st_case("backwards", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
            AM_ERR_FORMAT, "data_offsets [8, 4)", NULL);
    st_case("overlap",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            16, AM_ERR_FORMAT, "overlap", "'a'");
    st_case("size", "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
            AM_ERR_FORMAT, "8 bytes stored", "F16 3 elements need 6");
    st_case("duplicate",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8, AM_ERR_FORMAT, "bad JSON", "duplicate");
    st_case("dtype", "{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            AM_ERR_FORMAT, "'a'", "unknown dtype");
    st_case("negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
            AM_ERR_FORMAT, "'a'", "non-size");
    st_case("ndim",
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
            AM_ERR_FORMAT, "'a'", "at most 8");
    st_case("bigshape",
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[1099511627776,1099511627776],"
            "\"data_offsets\":[0,1]}}",
            1, AM_ERR_LIMIT, "'a'", "shape too large");
    st_case("meta", "{\"__metadata__\":{\"k\":3}}", 0, AM_ERR_FORMAT, "__metadata__ 'k'", NULL);
    st_case("entry", "{\"a\":[1]}", 0, AM_ERR_FORMAT, "'a'", "not an object");
    st_case("offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
            AM_ERR_FORMAT, "'a'", "data_offsets is not");
}

/* ---- pickles inside a torch archive --------------------------------------- */

static const float storage0[16] = {0};

/* The archive around a pickle: storages "0" (16 floats) and "1" (1 float). */
static wb_buf wrap(const wb_buf *pk) {
    wb_storage s[2] = {{"0", storage0, sizeof storage0}, {"1", storage0, 4}};
    return wb_torch(pk, s, 2);
}

static void pk_case(const char *label, const wb_buf *pk, am_status code, const char *w1,
                    const char *w2) {
    wb_buf z = wrap(pk);
    expect_error(label, z.data, z.size, code, w1, w2);
    wb_free(&z);
}

/* PROTO 2 into an empty buffer. */
static void pk_start(wb_buf *b) {
    b->size = 0;
    pk_op(b, 0x80);
    pk_op(b, 2);
}

/* {'t': <tensor>} with the given storage view, then STOP. */
static void pk_one_tensor(wb_buf *b, const char *type, const char *key, int64_t snumel,
                          int64_t offset, int ndim, const int64_t *shape, const int64_t *stride) {
    pk_start(b);
    pk_op(b, '}');
    pk_str(b, "t");
    pk_tensor(b, type, key, snumel, offset, ndim, shape, stride);
    pk_op(b, 's');
    pk_op(b, '.');
}

static void test_pickle_cases(void) {
    wb_buf b = {0};
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, 0xff);
    pk_case("opcode", &b, AM_ERR_FORMAT, "unknown opcode 0xff", "at byte 3");
    pk_start(&b);
    pk_op(&b, 'i');
    pk_case("inst", &b, AM_ERR_UNSUPPORTED, "opcode INST (0x69)", "at byte 2");
    pk_start(&b);
    for (int i = 0; i < 100000; i++)
        pk_op(&b, '(');
    pk_case("nesting", &b, AM_ERR_LIMIT, "MARKs nested deeper", NULL);
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, 'h');
    wb_u8(&b, 5);
    pk_op(&b, '.');
    pk_case("memo-get", &b, AM_ERR_FORMAT, "memo index 5", "never stored");
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, 'r');
    wb_le(&b, 0xffffffffu, 4);
    pk_op(&b, '.');
    pk_case("memo-put", &b, AM_ERR_LIMIT, "memo index 4294967295", "limit");
    pk_start(&b);
    pk_global(&b, "os", "system");
    pk_case("global", &b, AM_ERR_UNSUPPORTED, "global 'os.system'", "not allowed");
    pk_start(&b);
    pk_str_form(&b, "builtins", 1);
    pk_str_form(&b, "eval", 1);
    pk_op(&b, 0x93);
    pk_case("stack-global", &b, AM_ERR_UNSUPPORTED, "global 'builtins.eval'", "not allowed");
    pk_start(&b);
    pk_global(&b, "torch", "ComplexFloatStorage");
    pk_case("complex", &b, AM_ERR_UNSUPPORTED, "'torch.ComplexFloatStorage'", NULL);
    pk_start(&b);
    pk_op(&b, 'R');
    pk_case("underflow", &b, AM_ERR_FORMAT, "stack underflow", "byte 2");
    pk_start(&b);
    pk_op(&b, '}');
    pk_case("no-stop", &b, AM_ERR_FORMAT, "without a STOP", NULL);
    pk_start(&b);
    pk_op(&b, 'X');
    wb_le(&b, 1000, 4);
    pk_op(&b, 'a');
    pk_case("string-past-end", &b, AM_ERR_FORMAT, "runs past the end", "byte 2");
    pk_start(&b);
    pk_op(&b, 0x8d);
    wb_le(&b, (uint64_t)1 << 40, 8);
    pk_case("string-huge", &b, AM_ERR_LIMIT, "string of 1099511627776 bytes", NULL);
    pk_start(&b);
    pk_op(&b, 0x80);
    pk_op(&b, 6);
    pk_case("protocol", &b, AM_ERR_UNSUPPORTED, "protocol other than 2-5", NULL);
    pk_start(&b);
    pk_op(&b, 0x8a);
    wb_u8(&b, 9);
    pk_case("long", &b, AM_ERR_LIMIT, "64 bits", NULL);
    pk_start(&b);
    pk_op(&b, ']');
    pk_op(&b, ')');
    pk_op(&b, 'b');
    pk_case("build", &b, AM_ERR_UNSUPPORTED, "BUILD", NULL);
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, 'N');
    pk_op(&b, 'a');
    pk_case("append", &b, AM_ERR_FORMAT, "APPEND to a non-list", NULL);
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_op(&b, 'N');
    pk_op(&b, 'u');
    pk_case("setitems", &b, AM_ERR_FORMAT, "odd number", NULL);
    pk_start(&b);
    pk_global(&b, "torch", "FloatStorage");
    pk_op(&b, ')');
    pk_op(&b, 'R');
    pk_case("call-storage", &b, AM_ERR_UNSUPPORTED, "storage type called", NULL);
    pk_start(&b);
    pk_op(&b, '(');
    pk_str(&b, "file");
    pk_str(&b, "x");
    pk_op(&b, 't');
    pk_op(&b, 'Q');
    pk_case("persid", &b, AM_ERR_UNSUPPORTED, "persistent id", NULL);
    pk_start(&b);
    pk_op(&b, ']');
    pk_op(&b, '.');
    pk_case("root-list", &b, AM_ERR_UNSUPPORTED, "holds a list, not a dict", NULL);
    pk_start(&b);
    for (int i = 0; i < 1100000; i++)
        pk_op(&b, 'N');
    pk_case("stack", &b, AM_ERR_LIMIT, "stack deeper", NULL);
    pk_start(&b);
    for (int i = 0; i < 4200000; i++) {
        pk_op(&b, 'N');
        pk_op(&b, '0');
    }
    pk_case("objects", &b, AM_ERR_LIMIT, "more than 4194304 objects", NULL);

    /* nesting of dicts: 100 levels deep */
    pk_start(&b);
    for (int i = 0; i < 100; i++) {
        pk_op(&b, '}');
        pk_str(&b, "k");
    }
    pk_op(&b, '}');
    for (int i = 0; i < 100; i++)
        pk_op(&b, 's');
    pk_op(&b, '.');
    pk_case("deep-dicts", &b, AM_ERR_LIMIT, "nested deeper than 64", NULL);

    /* a dict holding itself (through the memo) and a tensor: no endless walk */
    int64_t one[1] = {1}, unit[1] = {1};
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, 'q');
    wb_u8(&b, 0);
    pk_op(&b, '(');
    pk_str(&b, "self");
    pk_op(&b, 'h');
    wb_u8(&b, 0);
    pk_str(&b, "w");
    pk_tensor(&b, "FloatStorage", "1", 1, 0, 1, one, unit);
    pk_op(&b, 'u');
    pk_op(&b, '.');
    {
        wb_buf z = wrap(&b);
        am_error err;
        CHECK(open_copy(z.data, z.size, "cycle", &err) == AM_OK, "cycle: %s", err.message);
        wb_free(&z);
    }

    /* tensors that do not fit their storages */
    int64_t s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pk_one_tensor(&b, "FloatStorage", "0", 16, 0, 9, s9, s9);
    pk_case("ndim", &b, AM_ERR_LIMIT, "9 dimensions", NULL);
    int64_t sh[2] = {4, 4}, st[2] = {4, 1}, st_neg[2] = {4, -1}, st_big[2] = {5, 1};
    pk_one_tensor(&b, "FloatStorage", "0", 16, 0, 2, sh, st_neg);
    pk_case("stride", &b, AM_ERR_FORMAT, "stride holds a negative", NULL);
    pk_one_tensor(&b, "FloatStorage", "0", 16, 1, 2, sh, st);
    pk_case("offset", &b, AM_ERR_FORMAT, "'t'", "reaches past the 16 elements");
    pk_one_tensor(&b, "FloatStorage", "0", 16, 0, 2, sh, st_big);
    pk_case("strides-past", &b, AM_ERR_FORMAT, "'t'", "reaches past");
    int64_t sh_h[2] = {(int64_t)1 << 40, 2}, st_h[2] = {(int64_t)1 << 40, 1};
    pk_one_tensor(&b, "FloatStorage", "0", 16, 0, 2, sh_h, st_h);
    pk_case("stride-overflow", &b, AM_ERR_LIMIT, "'t'", "huge shape");
    int64_t sh_o[2] = {3, 2}, st_o[2] = {(int64_t)1 << 62, 1};
    pk_one_tensor(&b, "FloatStorage", "0", 16, 0, 2, sh_o, st_o);
    pk_case("stride-product", &b, AM_ERR_FORMAT, "'t'", "reaches past");
    pk_one_tensor(&b, "FloatStorage", "7", 16, 0, 2, sh, st);
    pk_case("missing", &b, AM_ERR_FORMAT, "'archive/data/7' is not in the archive", NULL);
    pk_one_tensor(&b, "DoubleStorage", "0", 16, 0, 2, sh, st);
    pk_case("storage-size", &b, AM_ERR_FORMAT, "holds 64 bytes", "F64 elements need 128");
    int64_t many[1] = {(int64_t)1 << 25}, zero[1] = {0};
    pk_one_tensor(&b, "FloatStorage", "1", 1, 0, 1, many, zero);
    pk_case("broadcast", &b, AM_ERR_LIMIT, "'t'", "repeat storage elements");
    int64_t empty[2] = {0, 4};
    pk_one_tensor(&b, "FloatStorage", "0", 16, 17, 2, empty, st);
    pk_case("empty-offset", &b, AM_ERR_FORMAT, "offset 17 past", NULL);

    /* the same name twice in one dict */
    pk_start(&b);
    pk_op(&b, '}');
    pk_op(&b, '(');
    for (int i = 0; i < 2; i++) {
        pk_str(&b, "w");
        pk_tensor(&b, "FloatStorage", "1", 1, 0, 1, one, unit);
    }
    pk_op(&b, 'u');
    pk_op(&b, '.');
    pk_case("dup-name", &b, AM_ERR_FORMAT, "duplicate tensor name 'w'", NULL);
    wb_free(&b);
}

/* ---- zip archives ------------------------------------------------------------ */

/* Overwrites len bytes of b at pos with the little-endian value v. */
static void poke(wb_buf *b, size_t pos, uint64_t v, int len) {
    for (int i = 0; i < len; i++)
        b->data[pos + (size_t)i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the n-th occurrence of a 4-byte signature, or 0. */
static size_t find_sig(const wb_buf *b, uint32_t sig, int n) {
    for (size_t p = 0; p + 4 <= b->size; p++)
        if ((b->data[p] | b->data[p + 1] << 8 | b->data[p + 2] << 16 |
             (uint32_t)b->data[p + 3] << 24) == sig &&
            n-- == 0)
            return p;
    return 0;
}

static wb_buf small_pt(void) {
    wb_buf pk = {0};
    int64_t sh[1] = {16}, st[1] = {1};
    pk_one_tensor(&pk, "FloatStorage", "0", 16, 0, 1, sh, st);
    wb_buf z = wrap(&pk);
    wb_free(&pk);
    return z;
}

static void test_zip_cases(void) {
    float v[4] = {1, 2, 3, 4};
    wb_buf pk = {0};
    int64_t sh[1] = {4}, st[1] = {1};
    pk_one_tensor(&pk, "FloatStorage", "0", 4, 0, 1, sh, st);

    wb_entry e[2] = {{"archive/data.pkl", pk.data, pk.size, 0}, {"archive/data/0", v, 16, 8}};
    wb_buf z = wb_zip(e, 2, 0, NULL);
    expect_error("deflate.pt", z.data, z.size, AM_ERR_UNSUPPORTED, "'archive/data/0' is compressed",
                 "deflate");
    wb_free(&z);

    e[1].method = 0;
    z = wb_zip(e, 2, 0, NULL);
    {
        am_error err;
        CHECK(open_copy(z.data, z.size, "good.pt", &err) == AM_OK, "good.pt: %s", err.message);
    }
    size_t c1 = find_sig(&z, 0x02014b50u, 1);
    poke(&z, c1 + 8, 1, 2);
    expect_error("encrypted.pt", z.data, z.size, AM_ERR_UNSUPPORTED, "'archive/data/0'",
                 "encrypted");
    poke(&z, c1 + 8, 0x0800, 2);
    poke(&z, c1 + 20, 15, 4);
    expect_error("sizes.pt", z.data, z.size, AM_ERR_FORMAT, "sizes differ", NULL);
    poke(&z, c1 + 20, 16, 4);
    poke(&z, c1 + 42, 3, 4);
    expect_error("local.pt", z.data, z.size, AM_ERR_FORMAT, "no local header at byte 3", NULL);
    poke(&z, c1 + 42, 0, 4); /* entry 1 now points at entry 0's local header */
    expect_error("mismatch.pt", z.data, z.size, AM_ERR_FORMAT, "disagrees", NULL);
    wb_free(&z);

    z = wb_zip(e, 2, 0, NULL);
    c1 = find_sig(&z, 0x02014b50u, 1);
    poke(&z, c1 + 20, 1u << 30, 4);
    poke(&z, c1 + 24, 1u << 30, 4);
    expect_error("past-end.pt", z.data, z.size, AM_ERR_FORMAT, "run past the end", NULL);
    wb_free(&z);

    z = wb_zip(e, 2, 0, NULL);
    size_t eocd = find_sig(&z, 0x06054b50u, 0);
    poke(&z, eocd + 16, 1u << 31, 4);
    expect_error("cd-offset.pt", z.data, z.size, AM_ERR_FORMAT, "lies outside the file", NULL);
    wb_free(&z);
    z = wb_zip(e, 2, 0, NULL);
    poke(&z, eocd + 10, 60000, 2);
    expect_error("count.pt", z.data, z.size, AM_ERR_FORMAT, "claims 60000 entries", NULL);
    poke(&z, eocd + 10, 2, 2);
    poke(&z, eocd + 4, 1, 2);
    expect_error("disk.pt", z.data, z.size, AM_ERR_UNSUPPORTED, "multi-disk", NULL);
    wb_free(&z);

    z = wb_zip(e, 2, 1, NULL);
    size_t rec = find_sig(&z, 0x06064b50u, 0);
    poke(&z, rec + 32, (uint64_t)1 << 40, 8);
    expect_error("zip64-count.pt", z.data, z.size, AM_ERR_LIMIT, "1099511627776 entries", NULL);
    wb_free(&z);
    z = wb_zip(e, 2, 1, NULL);
    size_t loc = find_sig(&z, 0x07064b50u, 0);
    poke(&z, loc + 8, 5, 8);
    expect_error("zip64-locator.pt", z.data, z.size, AM_ERR_FORMAT, "zip64 locator", NULL);
    wb_free(&z);
    z = wb_zip(e, 2, 1, NULL);
    c1 = find_sig(&z, 0x02014b50u, 1);
    poke(&z, c1 + 46 + strlen("archive/data/0") + 2, 8, 2); /* zip64 field of 8 bytes, not 24 */
    expect_error("zip64-extra.pt", z.data, z.size, AM_ERR_FORMAT, "zip64 extra field too short",
                 NULL);
    poke(&z, c1 + 46 + strlen("archive/data/0"), 0x5555, 2); /* no zip64 field at all */
    expect_error("zip64-none.pt", z.data, z.size, AM_ERR_FORMAT, "without a zip64 extra", NULL);
    wb_free(&z);

    /* two entries of one name */
    wb_entry dup[3] = {e[0], e[1], e[1]};
    z = wb_zip(dup, 3, 0, NULL);
    expect_error("dup.pt", z.data, z.size, AM_ERR_FORMAT, "'archive/data/0' appears twice", NULL);
    wb_free(&z);

    /* archives that are not plain torch.save checkpoints */
    wb_entry nopkl[1] = {{"archive/data/0", v, 16, 0}};
    z = wb_zip(nopkl, 1, 0, NULL);
    expect_error("nopkl.pt", z.data, z.size, AM_ERR_FORMAT, "data.pkl", "not a PyTorch");
    wb_free(&z);
    wb_entry two[3] = {e[0], {"other/data.pkl", pk.data, pk.size, 0}, e[1]};
    z = wb_zip(two, 3, 0, NULL);
    expect_error("two.pt", z.data, z.size, AM_ERR_FORMAT, "two pickles", NULL);
    wb_free(&z);
    wb_entry ts[3] = {e[0], e[1], {"archive/constants.pkl", pk.data, pk.size, 0}};
    z = wb_zip(ts, 3, 0, NULL);
    expect_error("script.pt", z.data, z.size, AM_ERR_UNSUPPORTED, "TorchScript", NULL);
    wb_free(&z);
    wb_entry be[3] = {e[0], e[1], {"archive/byteorder", "big", 3, 0}};
    z = wb_zip(be, 3, 0, NULL);
    expect_error("big.pt", z.data, z.size, AM_ERR_UNSUPPORTED, "big-endian", NULL);
    wb_free(&z);
    wb_free(&pk);

    z = small_pt();
    poke(&z, z.size - 22, 0x06054b51u, 4);
    expect_error("no-eocd.pt", z.data, z.size, AM_ERR_FORMAT, "end-of-central-directory", NULL);
    wb_free(&z);
}

/* ---- inputs the fuzzers found ------------------------------------------------ */

static void test_fuzz_regressions(void) {
    /* a header without tensors sorted a NULL index (UBSan: qsort(NULL, 0)) */
    unsigned char no_tensors[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    am_error err;
    CHECK(open_copy(no_tensors, sizeof no_tensors, "no-tensors", &err) == AM_OK, "%s", err.message);
}

/* ---- files ------------------------------------------------------------------ */

static void test_files(void) {
    const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                    0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    expect_error("legacy.pt", legacy, sizeof legacy, AM_ERR_UNSUPPORTED, "legacy", NULL);
    expect_error("tiny", "abcde", 5, AM_ERR_FORMAT, "5 bytes is not a weight file", NULL);
    expect_error("empty", "", 0, AM_ERR_FORMAT, "empty file", NULL);

    char dir[] = "/tmp/anomem-corrupt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/empty.pt", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (f) fclose(f);
    am_error err = {0};
    am_weights *w = NULL;
    CHECK(am_weights_open(path, &w, &err) == AM_ERR_FORMAT &&
              message_has(&err, path, "empty file", NULL),
          "empty file: %s", err.message);
    CHECK(am_weights_open(dir, &w, &err) == AM_ERR_IO && strstr(err.message, "directory"),
          "directory: %s", err.message);
    snprintf(path, sizeof path, "%s/missing.pt", dir);
    CHECK(am_weights_open(path, &w, &err) == AM_ERR_IO && strstr(err.message, "missing.pt"),
          "missing: %s", err.message);
    CHECK(w == NULL, "no object after a failure");
    snprintf(path, sizeof path, "%s/empty.pt", dir);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_files();
    test_safetensors_cases();
    test_pickle_cases();
    test_zip_cases();
    test_fuzz_regressions();
    test_truncated("vectors/clip-tiny/model.safetensors", 0, 8 + 6472);
    test_truncated("vectors/sam-tiny/model.safetensors", 0, 8 + 23320);
    test_truncated("vectors/clip-tiny/model.pt", 1, 0);
    test_truncated("vectors/sam-tiny/model.pt", 1, 0);
    test_flipped("vectors/clip-tiny/model.safetensors", 0);
    test_flipped("vectors/sam-tiny/model.safetensors", 0);
    test_flipped("vectors/clip-tiny/model.pt", 1);
    test_flipped("vectors/sam-tiny/model.pt", 1);
    return check_summary();
}
