/* gen-model-corpus.c - writes the seed corpus of fuzz-model-file
 * (fuzz/corpus/model-file/): detectors fitted with the tiny random CLIP of
 * fuzz-model-clip.h on two synthetic 32 x 32 images and saved by
 * am_detector_save (at most three rows per bank part), and copies of one
 * with a single flaw each.  Not part of the build; regenerate after a change
 * of the file format or of the parameters with
 *   cmake --build build --target anomem && cc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -Ifuzz \
 *     fuzz/gen-model-corpus.c build/libanomem.a -ljansson -lpng -ljpeg -lz -ldnnl \
 *     -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -fopenmp -lm \
 *     -o /tmp/gen-model-corpus && /tmp/gen-model-corpus fuzz/corpus
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-model-clip.h"
#include "io/safetensors_write.h"

static char dir[1024];

static void check(am_status st, const am_error *err) {
    if (st != AM_OK) {
        fprintf(stderr, "gen-model-corpus: %s\n", err->message);
        exit(1);
    }
}

/* A gray 32 x 32 scene with one dark square at (x, y). */
static am_image scene(int x, int y) {
    am_image img;
    am_error err = {0};
    check(am_image_alloc(32, 32, &img, &err), &err);
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++) {
            const int in = i >= y && i < y + 10 && j >= x && j < x + 10;
            uint8_t *p = img.data + 3 * (i * 32 + j);
            p[0] = in ? 40 : 200;
            p[1] = in ? 60 : 200;
            p[2] = in ? 80 : 200;
        }
    return img;
}

/* Fits a detector on two scenes and saves it as dir/name. */
static void fit_and_save(am_clip *clip, const am_detector_params *p, const char *name) {
    am_error err = {0};
    am_detector *det;
    check(am_detector_create(clip, NULL, "part", p, &det, &err), &err);
    am_image refs[2] = {scene(6, 8), scene(14, 12)};
    check(am_detector_fit(det, refs, 2, &err), &err);
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    check(am_detector_save(det, path, &err), &err);
    am_image_free(&refs[0]);
    am_image_free(&refs[1]);
    am_detector_free(det);
}

/* A model file held as its tensors and metadata, to be written back with one flaw. */
static const char *const meta_keys[] = {"format", "version", "anomem", "object",
                                        "params", "clip",    "sam"};
enum { N_META = sizeof meta_keys / sizeof *meta_keys };

typedef struct {
    am_weights *w;
    am_tensor_out t[16];
    int32_t n;
    am_metadata_out meta[N_META];
} model;

static void model_read(model *m, const char *name) {
    am_error err = {0};
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    check(am_weights_open(path, &m->w, &err), &err);
    m->n = (int32_t)am_weights_count(m->w);
    for (int32_t i = 0; i < m->n; i++) {
        const am_tensor_info *t = am_weights_at(m->w, i);
        const float *data;
        check(am_weights_get_f32(m->w, t->name, &data, &err), &err);
        m->t[i] = (am_tensor_out){t->name, AM_DTYPE_F32, t->ndim, {0}, data};
        memcpy(m->t[i].shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    }
    for (int k = 0; k < N_META; k++)
        m->meta[k] = (am_metadata_out){meta_keys[k], am_weights_metadata(m->w, meta_keys[k])};
}

static am_tensor_out *tensor(model *m, const char *name) {
    for (int32_t i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    fprintf(stderr, "gen-model-corpus: no tensor %s\n", name);
    exit(1);
}

static void set_meta(model *m, const char *key, const char *value) {
    for (int k = 0; k < N_META; k++)
        if (strcmp(meta_keys[k], key) == 0) m->meta[k].value = value;
}

static void model_write(const model *m, const char *name) {
    am_error err = {0};
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    check(am_safetensors_write(path, m->t, m->n, m->meta, N_META, &err), &err);
}

/* Writes dir/name: the valid model `from` with one edit made by `edit`. */
static void variant(const char *from, const char *name, void (*edit)(model *)) {
    model m;
    model_read(&m, from);
    edit(&m);
    model_write(&m, name);
    am_weights_close(m.w);
}

static float nan_row[8], wide_text[9];

static void version_2(model *m) {
    set_meta(m, "version", "2");
}
static void not_a_model(model *m) {
    set_meta(m, "format", "safetensors");
}
static void params_partial(model *m) {
    set_meta(m, "params", "{\"small_window\":2,\"mid_window\":3}");
}
static void other_clip(model *m) {
    set_meta(m, "clip", "random:8");
}
static void other_sam(model *m) {
    set_meta(m, "sam", "random:1");
}
static void text_too_wide(model *m) {
    am_tensor_out *t = tensor(m, "text.normal");
    t->shape[0] = 9;
    t->data = wide_text;
}
static void nan_in_bank(model *m) {
    am_tensor_out *t = tensor(m, "bank.indiv.mid");
    memcpy(nan_row, t->data, sizeof nan_row);
    nan_row[3] = NAN;
    t->shape[0] = 1;
    t->data = nan_row;
}
static void nan_in_text(model *m) {
    am_tensor_out *t = tensor(m, "text.anomalous");
    memcpy(nan_row, t->data, sizeof nan_row);
    nan_row[0] = NAN;
    t->data = nan_row;
}
static void bank_missing(model *m) {
    am_tensor_out *t = tensor(m, "bank.global.image");
    *t = m->t[m->n - 1];
    m->n--;
}
static void banks_empty(model *m) {
    for (int32_t i = 0; i < m->n; i++)
        if (strncmp(m->t[i].name, "bank.", 5) == 0) m->t[i].shape[0] = 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen-model-corpus DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/model-file", argv[1]);
    mkdir(argv[1], 0755);
    mkdir(dir, 0755);
    am_error err = {0};
    am_clip *clip;
    check(fuzz_model_clip(&clip, &err), &err);

    am_detector_params p = am_detector_default_params();
    p.memory_capacity = 2;
    p.augmentations = AM_AUG_IDENTITY;
    p.max_objects = 2;
    fit_and_save(clip, &p, "fitted.model");
    p.subsample = AM_SUBSAMPLE_CORESET;
    p.memory_capacity = 3;
    p.use_objects = 0;
    fit_and_save(clip, &p, "coreset.model");

    variant("fitted.model", "version-2.model", version_2);
    variant("fitted.model", "not-a-model.model", not_a_model);
    variant("fitted.model", "params-partial.model", params_partial);
    variant("fitted.model", "other-clip.model", other_clip);
    variant("fitted.model", "other-sam.model", other_sam);
    variant("fitted.model", "text-too-wide.model", text_too_wide);
    variant("fitted.model", "nan-in-bank.model", nan_in_bank);
    variant("fitted.model", "nan-in-text.model", nan_in_text);
    variant("fitted.model", "bank-missing.model", bank_missing);
    variant("fitted.model", "banks-empty.model", banks_empty);
    am_clip_free(clip);
    return 0;
}
