/* test-weights.c - the weights readers on good input: the PyTorch zip and the
 * safetensors files of the reference models agree bit for bit; F16/BF16/F64
 * convert to float32; strided tensors are gathered; nested dicts, parameters,
 * protocol-4 pickles, zip64 and the zip directory API work. */
#include <string.h>

#include "anomem.h"
#include "check.h"
#include "io/file.h"
#include "io/zip.h"
#include "weights-builder.h"

/* Opens an in-memory weight file, or NULL after a failed CHECK. */
static am_weights *open_mem(const wb_buf *b, const char *label) {
    am_error err = {0};
    am_weights *w = NULL;
    CHECK_OK(am_weights_open_memory(b->data, b->size, label, &w, &err));
    return w;
}

/* The float32 values of tensor `name` equal want[0..n). */
static void check_f32(am_weights *w, const char *name, const float *want, int64_t n) {
    am_error err = {0};
    const float *got = NULL;
    CHECK_OK(am_weights_get_f32(w, name, &got, &err));
    const am_tensor_info *t = am_weights_find(w, name);
    CHECK(t && t->numel == n, "%s: numel %lld, want %lld", name, t ? (long long)t->numel : -1LL,
          (long long)n);
    if (!got || !t || t->numel != n) return;
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], 4) != 0) bad++;
    CHECK(bad == 0, "%s: %d of %lld values differ (first: %g vs %g)", name, bad, (long long)n,
          got[0], want[0]);
}

/* Both files of a reference model: same names, dtypes, shapes, bytes. */
static void test_reference_pair(const char *folder, int64_t expect) {
    char pt[4096], st[4096];
    snprintf(pt, sizeof pt, "%s/vectors/%s/model.pt", check_shared_dir(), folder);
    snprintf(st, sizeof st, "%s/vectors/%s/model.safetensors", check_shared_dir(), folder);
    am_error err = {0};
    am_weights *a = NULL, *b = NULL;
    CHECK_OK(am_weights_open(pt, &a, &err));
    CHECK_OK(am_weights_open(st, &b, &err));
    if (!a || !b) {
        am_weights_close(a);
        am_weights_close(b);
        return;
    }
    CHECK(strcmp(am_weights_format(a), "pytorch") == 0, "format %s", am_weights_format(a));
    CHECK(strcmp(am_weights_format(b), "safetensors") == 0, "format %s", am_weights_format(b));
    CHECK(am_weights_count(a) == expect, "%s: %lld tensors in model.pt, want %lld", folder,
          (long long)am_weights_count(a), (long long)expect);
    CHECK(am_weights_count(b) == expect, "%s: %lld tensors in model.safetensors", folder,
          (long long)am_weights_count(b));
    int same_meta = 0, same_bytes = 0;
    for (int64_t i = 0; i < am_weights_count(a) && i < am_weights_count(b); i++) {
        const am_tensor_info *x = am_weights_at(a, i), *y = am_weights_at(b, i);
        int meta = strcmp(x->name, y->name) == 0 && x->dtype == y->dtype && x->ndim == y->ndim &&
                   x->numel == y->numel &&
                   memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) == 0;
        CHECK(meta, "%s: tensor %lld differs: %s vs %s", folder, (long long)i, x->name, y->name);
        same_meta += meta;
        const void *da = NULL, *db = NULL;
        size_t na = 0, nb = 0;
        CHECK_OK(am_weights_get_raw(a, x->name, &da, &na, &err));
        CHECK_OK(am_weights_get_raw(b, y->name, &db, &nb, &err));
        int bytes = da && db && na == nb && memcmp(da, db, na) == 0;
        CHECK(bytes, "%s: data of %s differs", folder, x->name);
        same_bytes += bytes;
    }
    CHECK(same_meta == expect && same_bytes == expect, "%s: %d/%d same, %d/%d bit-identical",
          folder, same_meta, (int)expect, same_bytes, (int)expect);
    /* stored F32, contiguous, aligned: get_f32 hands out the mapped bytes */
    const am_tensor_info *t0 = am_weights_at(a, 0);
    const void *raw = NULL;
    const float *f = NULL;
    CHECK_OK(am_weights_get_raw(a, t0->name, &raw, NULL, &err));
    CHECK_OK(am_weights_get_f32(a, t0->name, &f, &err));
    CHECK((const void *)f == raw, "%s: F32 tensor of model.pt was copied", folder);
    am_weights_close(a);
    am_weights_close(b);
}

/* Specific shapes the readers must get right, including a 0-d tensor. */
static void test_clip_shapes(void) {
    am_error err = {0};
    am_weights *w = NULL;
    CHECK_OK(am_weights_open(check_shared_path("vectors/clip-tiny/model.pt"), &w, &err));
    if (!w) return;
    const am_tensor_info *t = am_weights_find(w, "visual.conv1.weight");
    CHECK(t && t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 3 && t->shape[2] == 16 &&
              t->shape[3] == 16 && t->dtype == AM_DTYPE_F32,
          "visual.conv1.weight shape");
    t = am_weights_find(w, "logit_scale");
    CHECK(t && t->ndim == 0 && t->numel == 1, "logit_scale is 0-d");
    CHECK(am_weights_find(w, "no.such.tensor") == NULL, "lookup of a missing name");
    const float *f;
    CHECK(am_weights_get_f32(w, "no.such.tensor", &f, &err) == AM_ERR_NOT_FOUND, "not found");
    am_weights_close(w);
}

/* F16, BF16 and F64 become float32, from safetensors and from a .pt. */
static void test_conversion(void) {
    const uint16_t half[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555};
    const float half_f[6] = {1.0f,     -2.0f,          65504.0f, 5.9604644775390625e-8f,
                             INFINITY, 0.333251953125f};
    const uint16_t bf[3] = {0x3f80, 0xc040, 0x4049};
    const float bf_f[3] = {1.0f, -3.0f, 3.140625f};
    const double dbl[2] = {0.5, -1.25e-3};
    const float dbl_f[2] = {0.5f, (float)-1.25e-3};
    unsigned char data[12 + 6 + 16];
    memcpy(data, half, 12);
    memcpy(data + 12, bf, 6);
    memcpy(data + 18, dbl, 16);
    wb_buf st = wb_safetensors("{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                               "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]},"
                               "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[18,34]},"
                               "\"__metadata__\":{\"format\":\"pt\"}}",
                               data, sizeof data);
    am_weights *w = open_mem(&st, "conv.safetensors");
    if (w) {
        check_f32(w, "h", half_f, 6);
        check_f32(w, "b", bf_f, 3);
        check_f32(w, "d", dbl_f, 2);
        CHECK(am_weights_find(w, "h")->dtype == AM_DTYPE_F16, "F16 dtype kept");
        const char *meta = am_weights_metadata(w, "format");
        CHECK(meta && strcmp(meta, "pt") == 0, "metadata");
        am_weights_close(w);
    }
    wb_free(&st);

    wb_buf pk = {0};
    pk_op(&pk, 0x80);
    pk_op(&pk, 2);
    pk_dict_begin(&pk);
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2};
    pk_str(&pk, "h");
    pk_tensor_c(&pk, "HalfStorage", "0", 2, s23);
    pk_str(&pk, "b");
    pk_tensor_c(&pk, "BFloat16Storage", "1", 1, s3);
    pk_str(&pk, "d");
    pk_tensor_c(&pk, "DoubleStorage", "2", 1, s2);
    pk_dict_end(&pk);
    pk_op(&pk, '.');
    wb_storage s[3] = {{"0", half, 12}, {"1", bf, 6}, {"2", dbl, 16}};
    wb_buf pt = wb_torch(&pk, s, 3);
    w = open_mem(&pt, "conv.pt");
    if (w) {
        check_f32(w, "h", half_f, 6);
        check_f32(w, "b", bf_f, 3);
        check_f32(w, "d", dbl_f, 2);
        CHECK(am_weights_find(w, "b")->dtype == AM_DTYPE_BF16, "BF16 from BFloat16Storage");
        CHECK(am_weights_find(w, "d")->dtype == AM_DTYPE_F64, "F64 from DoubleStorage");
        am_weights_close(w);
    }
    wb_free(&pk);
    wb_free(&pt);
}

/* Every storage type maps to its dtype. */
static void test_storage_types(void) {
    static const struct {
        const char *type;
        am_dtype dtype;
    } types[] = {{"FloatStorage", AM_DTYPE_F32},     {"HalfStorage", AM_DTYPE_F16},
                 {"BFloat16Storage", AM_DTYPE_BF16}, {"DoubleStorage", AM_DTYPE_F64},
                 {"LongStorage", AM_DTYPE_I64},      {"IntStorage", AM_DTYPE_I32},
                 {"ShortStorage", AM_DTYPE_I16},     {"CharStorage", AM_DTYPE_I8},
                 {"ByteStorage", AM_DTYPE_U8},       {"BoolStorage", AM_DTYPE_BOOL}};
    unsigned char bytes[16];
    for (int i = 0; i < 16; i++)
        bytes[i] = (unsigned char)(i * 7 + 1);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        size_t es = am_dtype_size(types[k].dtype);
        int64_t shape[1] = {(int64_t)(16 / es)};
        wb_buf pk = {0};
        pk_op(&pk, 0x80);
        pk_op(&pk, 2);
        pk_dict_begin(&pk);
        pk_str(&pk, "t");
        pk_tensor_c(&pk, types[k].type, "0", 1, shape);
        pk_dict_end(&pk);
        pk_op(&pk, '.');
        wb_storage s = {"0", bytes, 16};
        wb_buf pt = wb_torch(&pk, &s, 1);
        am_weights *w = open_mem(&pt, types[k].type);
        if (w) {
            am_error err = {0};
            const am_tensor_info *t = am_weights_find(w, "t");
            CHECK(t && t->dtype == types[k].dtype && t->numel == shape[0], "%s", types[k].type);
            const void *raw = NULL;
            size_t n = 0;
            CHECK_OK(am_weights_get_raw(w, "t", &raw, &n, &err));
            CHECK(raw && n == 16 && memcmp(raw, bytes, 16) == 0, "%s bytes", types[k].type);
            const float *f;
            am_status st = am_weights_get_f32(w, "t", &f, &err);
            int is_float = types[k].dtype <= AM_DTYPE_BF16;
            CHECK((st == AM_OK) == is_float, "%s get_f32 -> %d", types[k].type, st);
            am_weights_close(w);
        }
        wb_free(&pk);
        wb_free(&pt);
    }
}

/* Storage offsets and strides: transposed, broadcast (stride 0) and offset
 * views of one storage are gathered into row-major order. */
static void test_strided(void) {
    float base[12];
    for (int i = 0; i < 12; i++)
        base[i] = (float)i;
    const uint16_t half[4] = {0x3c00, 0x4000, 0x4200, 0x4400}; /* 1 2 3 4 */
    wb_buf pk = {0};
    pk_op(&pk, 0x80);
    pk_op(&pk, 2);
    pk_dict_begin(&pk);
    int64_t sh_t[2] = {3, 2}, st_t[2] = {1, 3};
    pk_str(&pk, "transposed");
    pk_tensor(&pk, "FloatStorage", "0", 12, 1, 2, sh_t, st_t);
    int64_t sh_b[2] = {2, 3}, st_b[2] = {0, 1};
    pk_str(&pk, "broadcast");
    pk_tensor(&pk, "FloatStorage", "0", 12, 6, 2, sh_b, st_b);
    int64_t sh_v[1] = {2}, st_v[1] = {1};
    pk_str(&pk, "view");
    pk_tensor(&pk, "FloatStorage", "0", 12, 2, 1, sh_v, st_v);
    int64_t sh_h[2] = {2, 2}, st_h[2] = {1, 2};
    pk_str(&pk, "half_t");
    pk_tensor(&pk, "HalfStorage", "1", 4, 0, 2, sh_h, st_h);
    int64_t sh_e[2] = {0, 5}, st_e[2] = {5, 1};
    pk_str(&pk, "empty");
    pk_tensor(&pk, "FloatStorage", "0", 12, 12, 2, sh_e, st_e);
    pk_dict_end(&pk);
    pk_op(&pk, '.');
    wb_storage s[2] = {{"0", base, sizeof base}, {"1", half, sizeof half}};
    wb_buf pt = wb_torch(&pk, s, 2);
    am_weights *w = open_mem(&pt, "strided.pt");
    if (w) {
        am_error err = {0};
        const float t_want[6] = {1, 4, 2, 5, 3, 6};
        const float b_want[6] = {6, 7, 8, 6, 7, 8};
        const float v_want[2] = {2, 3};
        const float h_want[4] = {1, 3, 2, 4};
        check_f32(w, "transposed", t_want, 6);
        check_f32(w, "broadcast", b_want, 6);
        check_f32(w, "view", v_want, 2);
        check_f32(w, "half_t", h_want, 4);
        const void *raw = NULL;
        size_t n = 0;
        CHECK_OK(am_weights_get_raw(w, "transposed", &raw, &n, &err));
        CHECK(raw && n == 24 && memcmp(raw, t_want, 24) == 0, "raw of a transposed tensor");
        const uint16_t h_raw[4] = {0x3c00, 0x4200, 0x4000, 0x4400};
        CHECK_OK(am_weights_get_raw(w, "half_t", &raw, &n, &err));
        CHECK(raw && n == 8 && memcmp(raw, h_raw, 8) == 0, "raw of a strided F16 tensor");
        const am_tensor_info *e = am_weights_find(w, "empty");
        CHECK(e && e->numel == 0 && e->ndim == 2 && e->shape[1] == 5, "empty tensor");
        CHECK_OK(am_weights_get_raw(w, "empty", &raw, &n, &err));
        CHECK(n == 0, "empty tensor has no bytes");
        CHECK(am_weights_count(w) == 5, "5 tensors");
        const char *order[5] = {"broadcast", "empty", "half_t", "transposed", "view"};
        for (int i = 0; i < 5 && i < am_weights_count(w); i++)
            CHECK(strcmp(am_weights_at(w, i)->name, order[i]) == 0, "sorted: %s",
                  am_weights_at(w, i)->name);
        am_weights_close(w);
    }
    wb_free(&pk);
    wb_free(&pt);
}

/* Builds a .pt from a pickle body that follows PROTO 2; storages "0" (4
 * floats) and "1" (2 floats). */
static wb_buf torch_file(const wb_buf *body) {
    static const float s0[4] = {1, 2, 3, 4}, s1[2] = {5, 6};
    wb_buf pk = {0};
    pk_op(&pk, 0x80);
    pk_op(&pk, 2);
    wb_put(&pk, body->data, body->size);
    pk_op(&pk, '.');
    wb_storage s[2] = {{"0", s0, sizeof s0}, {"1", s1, sizeof s1}};
    wb_buf pt = wb_torch(&pk, s, 2);
    wb_free(&pk);
    return pt;
}

/* The names of a file, joined with spaces, equal `want`. */
static void check_names(const wb_buf *file, const char *label, const char *want) {
    am_weights *w = open_mem(file, label);
    if (!w) return;
    char got[1024] = "";
    for (int64_t i = 0; i < am_weights_count(w); i++) {
        if (i) strcat(got, " ");
        strncat(got, am_weights_at(w, i)->name, sizeof got - strlen(got) - 2);
    }
    CHECK(strcmp(got, want) == 0, "%s: names '%s', want '%s'", label, got, want);
    am_weights_close(w);
}

/* Nested dicts: the tensors are found and keep their names; a later dict
 * whose names collide gets its key path as prefix; integer keys; non-tensor
 * values ignored; parameters unwrapped. */
static void test_nested(void) {
    int64_t s4[1] = {4}, s2[1] = {2}, s22[2] = {2, 2};
    wb_buf b = {0};
    /* {'epoch': 3, 'name': 'run', 'state_dict': OrderedDict(visual.proj, logit_scale)} */
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_str(&b, "epoch");
    pk_int(&b, 3);
    pk_str(&b, "name");
    pk_str(&b, "run");
    pk_str(&b, "lr");
    pk_op(&b, 'G');
    wb_put(&b, "\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc", 8);
    pk_str(&b, "state_dict");
    pk_dict_begin(&b);
    pk_str(&b, "visual.proj");
    pk_tensor_c(&b, "FloatStorage", "0", 2, s22);
    pk_str(&b, "logit_scale");
    pk_tensor_c(&b, "FloatStorage", "1", 1, s2);
    pk_dict_end(&b);
    pk_op(&b, 'u');
    wb_buf f = torch_file(&b);
    check_names(&f, "nested.pt", "logit_scale visual.proj");
    am_weights *w = open_mem(&f, "nested.pt");
    if (w) {
        const float want[4] = {1, 2, 3, 4};
        check_f32(w, "visual.proj", want, 4);
        am_weights_close(w);
    }
    wb_free(&f);
    wb_free(&b);

    /* {'model': {'w', 'b'}, 'ema': {'w'}, 'optimizer': {'state': {0: {'exp_avg'}},
     *  'param_groups': [{'lr': 1}]}, 'extra': {'w': 7}} */
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_str(&b, "model");
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_str(&b, "w");
    pk_tensor_c(&b, "FloatStorage", "0", 1, s4);
    pk_str(&b, "b");
    pk_tensor_c(&b, "FloatStorage", "1", 1, s2);
    pk_op(&b, 'u');
    pk_str(&b, "ema");
    pk_op(&b, '}');
    pk_str(&b, "w");
    pk_tensor_c(&b, "FloatStorage", "0", 1, s4);
    pk_op(&b, 's');
    pk_str(&b, "optimizer");
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_str(&b, "state");
    pk_op(&b, '}');
    pk_int(&b, 0);
    pk_op(&b, '}');
    pk_str(&b, "exp_avg");
    pk_tensor_c(&b, "FloatStorage", "1", 1, s2);
    pk_op(&b, 's');
    pk_op(&b, 's');
    pk_str(&b, "param_groups");
    pk_op(&b, ']');
    pk_op(&b, '}');
    pk_str(&b, "lr");
    pk_int(&b, 1);
    pk_op(&b, 's');
    pk_op(&b, 'a');
    pk_op(&b, 'u');
    pk_str(&b, "extra");
    pk_op(&b, '}');
    pk_str(&b, "w");
    pk_int(&b, 7);
    pk_op(&b, 's');
    pk_op(&b, 'u');
    f = torch_file(&b);
    check_names(&f, "checkpoint.pt", "b ema.w exp_avg w");
    wb_free(&f);
    wb_free(&b);

    /* root tensors next to a sub-dict with other names; integer keys;
     * a parameter; a tensor under a tuple key (ignored) */
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_str(&b, "a");
    pk_global(&b, "torch._utils", "_rebuild_parameter");
    pk_tensor_c(&b, "FloatStorage", "0", 1, s4);
    pk_op(&b, 0x88);
    pk_dict_begin(&b);
    pk_dict_end(&b);
    pk_op(&b, 0x87); /* TUPLE3 */
    pk_op(&b, 'R');
    pk_str(&b, "layers");
    pk_op(&b, '}');
    pk_op(&b, '(');
    pk_int(&b, 0);
    pk_tensor_c(&b, "FloatStorage", "1", 1, s2);
    pk_int(&b, 1);
    pk_tensor_c(&b, "FloatStorage", "1", 1, s2);
    pk_op(&b, ')');
    pk_tensor_c(&b, "FloatStorage", "1", 1, s2);
    pk_op(&b, 'u');
    pk_op(&b, 'u');
    f = torch_file(&b);
    check_names(&f, "mixed.pt", "0 1 a");
    wb_free(&f);
    wb_free(&b);

    /* a state dict with its _metadata attribute set by BUILD, as torch writes */
    pk_dict_begin(&b);
    pk_str(&b, "w");
    pk_tensor_c(&b, "FloatStorage", "0", 1, s4);
    pk_dict_end(&b);
    pk_op(&b, '}');
    pk_str(&b, "_metadata");
    pk_dict_begin(&b);
    pk_str(&b, "");
    pk_op(&b, '}');
    pk_str(&b, "version");
    pk_int(&b, 1);
    pk_op(&b, 's');
    pk_dict_end(&b);
    pk_op(&b, 's');
    pk_op(&b, 'b');
    f = torch_file(&b);
    check_names(&f, "metadata.pt", "w");
    wb_free(&f);
    wb_free(&b);
}

/* A protocol-4 pickle: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, and a
 * storage shared by two tensors through the memo. */
static void test_protocol4(void) {
    static const float s0[4] = {1, 2, 3, 4};
    wb_buf b = {0};
    pk_op(&b, 0x80);
    pk_op(&b, 4);
    pk_op(&b, 0x95);
    wb_le(&b, 0, 8); /* frame length patched below */
    size_t frame_start = b.size;
    pk_str_form(&b, "collections", 1);
    pk_op(&b, 0x94); /* memo 0 */
    pk_str_form(&b, "OrderedDict", 1);
    pk_op(&b, 0x94); /* memo 1 */
    pk_op(&b, 0x93); /* STACK_GLOBAL */
    pk_op(&b, 0x94); /* memo 2: OrderedDict */
    pk_op(&b, ')');
    pk_op(&b, 'R');
    pk_op(&b, 0x94); /* memo 3: the dict */
    pk_op(&b, '(');
    for (int k = 0; k < 2; k++) {
        pk_str_form(&b, k ? "second" : "first", 1);
        pk_str_form(&b, "torch._utils", 1);
        pk_str_form(&b, "_rebuild_tensor_v2", 1);
        pk_op(&b, 0x93);
        pk_op(&b, '(');
        if (k == 0) {
            pk_op(&b, '(');
            pk_str_form(&b, "storage", 1);
            pk_str_form(&b, "torch", 1);
            pk_str_form(&b, "FloatStorage", 1);
            pk_op(&b, 0x93);
            pk_str_form(&b, "0", 1);
            pk_str_form(&b, "cpu", 1);
            pk_int(&b, 4);
            pk_op(&b, 't');
            pk_op(&b, 'Q');
            pk_op(&b, 'r'); /* LONG_BINPUT 1000 */
            wb_le(&b, 1000, 4);
        } else {
            pk_op(&b, 'j'); /* LONG_BINGET 1000 */
            wb_le(&b, 1000, 4);
        }
        pk_int(&b, 2 * k);
        int64_t sh[1] = {2}, st[1] = {1};
        pk_int_tuple(&b, 1, sh);
        pk_int_tuple(&b, 1, st);
        pk_op(&b, 0x89);
        pk_op(&b, 'h'); /* BINGET 2: OrderedDict */
        wb_u8(&b, 2);
        pk_op(&b, ')');
        pk_op(&b, 'R');
        pk_op(&b, 't');
        pk_op(&b, 'R');
    }
    pk_op(&b, 'u');
    pk_op(&b, '.');
    uint64_t flen = b.size - frame_start;
    for (int i = 0; i < 8; i++)
        b.data[frame_start - 8 + i] = (unsigned char)(flen >> (8 * i));
    wb_storage s = {"0", s0, sizeof s0};
    wb_buf f = wb_torch(&b, &s, 1);
    am_weights *w = open_mem(&f, "proto4.pt");
    if (w) {
        const float a[2] = {1, 2}, c[2] = {3, 4};
        check_f32(w, "first", a, 2);
        check_f32(w, "second", c, 2);
        am_weights_close(w);
    }
    wb_free(&f);
    wb_free(&b);
}

/* The zip API over a zip64 archive with a comment, and a torch archive in
 * zip64 form read through the weights API. */
static void test_zip(void) {
    am_error err = {0};
    wb_entry e[3] = {{"a/first", "hello", 5, 0}, {"a/second", "", 0, 0}, {"b", "xyz", 3, 0}};
    for (int zip64 = 0; zip64 < 2; zip64++) {
        wb_buf z = wb_zip(e, 3, zip64, zip64 ? "a comment PK\x05\x06 inside" : NULL);
        am_zip *zip = NULL;
        CHECK_OK(am_zip_open(z.data, z.size, &zip, &err));
        if (zip) {
            CHECK(am_zip_count(zip) == 3, "3 entries");
            CHECK(strcmp(am_zip_at(zip, 1)->name, "a/second") == 0, "directory order");
            const am_zip_entry *x = am_zip_find(zip, "a/first");
            CHECK(x && x->size == 5 && memcmp(x->data, "hello", 5) == 0, "a/first data");
            CHECK(x && (x->data - z.data) % 64 == 0, "data aligned as written");
            x = am_zip_find(zip, "b");
            CHECK(x && x->size == 3 && memcmp(x->data, "xyz", 3) == 0, "b data");
            x = am_zip_find(zip, "a/second");
            CHECK(x && x->size == 0, "empty entry");
            CHECK(am_zip_find(zip, "a") == NULL && am_zip_find(zip, "c") == NULL, "missing");
            am_zip_close(zip);
        }
        wb_free(&z);
    }
    /* the tiny CLIP's own zip: 64 entries, stored, data.pkl first */
    am_mapped_file m;
    CHECK_OK(am_file_map(check_shared_path("vectors/clip-tiny/model.pt"), &m, &err));
    am_zip *zip = NULL;
    if (m.data) CHECK_OK(am_zip_open(m.data, m.size, &zip, &err));
    if (zip) {
        CHECK(am_zip_count(zip) == 64, "clip-tiny zip has %lld entries",
              (long long)am_zip_count(zip));
        const am_zip_entry *p = am_zip_find(zip, "model/data.pkl");
        CHECK(p && p->size == 9775 && p->data[0] == 0x80, "model/data.pkl");
        am_zip_close(zip);
    }
    am_file_unmap(&m);

    static const float v[3] = {7, 8, 9};
    wb_buf pk = {0};
    pk_op(&pk, 0x80);
    pk_op(&pk, 2);
    pk_dict_begin(&pk);
    int64_t sh[1] = {3};
    pk_str(&pk, "v");
    pk_tensor_c(&pk, "FloatStorage", "0", 1, sh);
    pk_dict_end(&pk);
    pk_op(&pk, '.');
    wb_entry te[2] = {{"my_model/data.pkl", pk.data, pk.size, 0},
                      {"my_model/data/0", v, sizeof v, 0}};
    wb_buf z = wb_zip(te, 2, 1, "");
    am_weights *w = open_mem(&z, "zip64.pt");
    if (w) {
        check_f32(w, "v", v, 3);
        am_weights_close(w);
    }
    wb_free(&z);
    wb_free(&pk);
}

/* Files without tensors are valid and empty. */
static void test_empty(void) {
    wb_buf st = wb_safetensors("{\"__metadata__\":{}}", NULL, 0);
    am_weights *w = open_mem(&st, "empty.safetensors");
    CHECK(w && am_weights_count(w) == 0 && am_weights_at(w, 0) == NULL, "empty safetensors");
    am_weights_close(w);
    wb_free(&st);
    wb_buf pk = {0};
    pk_op(&pk, 0x80);
    pk_op(&pk, 2);
    pk_dict_begin(&pk);
    pk_dict_end(&pk);
    pk_op(&pk, '.');
    wb_buf pt = wb_torch(&pk, NULL, 0);
    w = open_mem(&pt, "empty.pt");
    CHECK(w && am_weights_count(w) == 0, "empty state dict");
    am_weights_close(w);
    wb_free(&pk);
    wb_free(&pt);
}

int main(void) {
    test_reference_pair("clip-tiny", 62);
    test_reference_pair("sam-tiny", 202);
    test_clip_shapes();
    test_conversion();
    test_storage_types();
    test_strided();
    test_nested();
    test_protocol4();
    test_zip();
    test_empty();
    return check_summary();
}
