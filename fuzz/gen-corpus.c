/* gen-corpus.c - writes the seed corpora of the weights fuzz targets
 * (fuzz/corpus/{safetensors,zip,pickle}/) with the test builder, so that the
 * seeds are small and reproducible.  Not part of the build; regenerate with
 *   cc -std=c11 -Itests fuzz/gen-corpus.c -o /tmp/gen-corpus && /tmp/gen-corpus fuzz/corpus
 */
#include <sys/stat.h>

#include "weights-builder.h"

static const char *root;

static void save(const char *dir, const char *name, const wb_buf *b) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->size, f) != b->size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A protocol-2 state dict {'w': F32 [4,4], 'h': F16 [2,2] transposed,
 * 'b': BF16 [3] at offset 1, 's': I64 0-d}; storages "0" (64 B) and "1" (256 B). */
static wb_buf state_dict(int nested) {
    wb_buf b = {0};
    pk_op(&b, 0x80);
    pk_op(&b, 2);
    if (nested) {
        pk_op(&b, '}');
        pk_op(&b, '(');
        pk_str(&b, "epoch");
        pk_int(&b, 3);
        pk_str(&b, "state_dict");
    }
    pk_dict_begin(&b);
    int64_t s44[2] = {4, 4}, st44[2] = {4, 1}, s22[2] = {2, 2}, st22[2] = {1, 2}, s3[1] = {3},
            st1[1] = {1};
    pk_str(&b, "w");
    pk_tensor(&b, "FloatStorage", "0", 16, 0, 2, s44, st44);
    pk_str(&b, "h");
    pk_tensor(&b, "HalfStorage", "1", 128, 4, 2, s22, st22);
    pk_str(&b, "b");
    pk_tensor(&b, "BFloat16Storage", "1", 128, 1, 1, s3, st1);
    pk_str(&b, "s");
    pk_tensor(&b, "LongStorage", "0", 8, 7, 0, NULL, NULL);
    pk_dict_end(&b);
    if (nested) pk_op(&b, 'u');
    pk_op(&b, '.');
    return b;
}

/* The same tensors in protocol 4 form: FRAME, SHORT_BINUNICODE, MEMOIZE,
 * STACK_GLOBAL, BINGET. */
static wb_buf protocol4(void) {
    wb_buf b = {0};
    pk_op(&b, 0x80);
    pk_op(&b, 4);
    pk_op(&b, 0x95);
    wb_le(&b, 0, 8);
    pk_str_form(&b, "collections", 1);
    pk_op(&b, 0x94);
    pk_str_form(&b, "OrderedDict", 1);
    pk_op(&b, 0x94);
    pk_op(&b, 0x93);
    pk_op(&b, 0x94);
    pk_op(&b, ')');
    pk_op(&b, 'R');
    pk_op(&b, 0x94);
    pk_str_form(&b, "w", 1);
    pk_str_form(&b, "torch._utils", 1);
    pk_str_form(&b, "_rebuild_tensor_v2", 1);
    pk_op(&b, 0x93);
    pk_op(&b, '(');
    pk_op(&b, '(');
    pk_str_form(&b, "storage", 1);
    pk_str_form(&b, "torch", 1);
    pk_str_form(&b, "FloatStorage", 1);
    pk_op(&b, 0x93);
    pk_str_form(&b, "0", 1);
    pk_str_form(&b, "cpu", 1);
    pk_int(&b, 16);
    pk_op(&b, 't');
    pk_op(&b, 'Q');
    pk_op(&b, 0x94);
    pk_int(&b, 0);
    pk_int(&b, 16);
    pk_op(&b, 0x85); /* TUPLE1: size */
    pk_int(&b, 1);
    pk_op(&b, 0x85); /* TUPLE1: stride */
    pk_op(&b, 0x89);
    pk_op(&b, 'h');
    wb_u8(&b, 2);
    pk_op(&b, ')');
    pk_op(&b, 'R');
    pk_op(&b, 't');
    pk_op(&b, 'R');
    pk_op(&b, 's');
    pk_op(&b, '.');
    uint64_t flen = b.size - 11;
    for (int i = 0; i < 8; i++)
        b.data[3 + i] = (unsigned char)(flen >> (8 * i));
    return b;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen-corpus DIR\n");
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    static unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);

    wb_buf st = wb_safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                               "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                               "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[32,36]},"
                               "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[40,48]},"
                               "\"e\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[48,48]},"
                               "\"__metadata__\":{\"format\":\"pt\"}}",
                               bytes, 48);
    save("safetensors", "four-dtypes.safetensors", &st);
    wb_free(&st);
    st = wb_safetensors("{\"x\":{\"dtype\":\"F64\",\"shape\":[1,1,2],\"data_offsets\":[0,16]}}",
                        bytes, 16);
    save("safetensors", "f64.safetensors", &st);
    wb_free(&st);
    st = wb_safetensors("{}", bytes, 0);
    save("safetensors", "empty-header.safetensors", &st);
    wb_free(&st);

    wb_storage s[2] = {{"0", bytes, 64}, {"1", bytes, 256}};
    for (int nested = 0; nested < 2; nested++) {
        wb_buf pk = state_dict(nested);
        save("pickle", nested ? "nested.pkl" : "state-dict.pkl", &pk);
        wb_buf z = wb_torch(&pk, s, 2);
        save("zip", nested ? "nested.pt" : "state-dict.pt", &z);
        wb_free(&z);
        wb_free(&pk);
    }
    wb_buf p4 = protocol4();
    save("pickle", "protocol4.pkl", &p4);
    wb_entry e[3] = {{"m/data.pkl", p4.data, p4.size, 0},
                     {"m/data/0", bytes, 64, 0},
                     {"m/version", "3\n", 2, 0}};
    wb_buf z = wb_zip(e, 3, 1, "comment");
    save("zip", "zip64.pt", &z);
    wb_free(&z);
    wb_free(&p4);
    return 0;
}
