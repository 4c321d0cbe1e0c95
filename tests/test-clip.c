/* test-clip.c - the CLIP model against ../shared/vectors/clip-tiny: image,
 * window and text embeddings from both weight files (open_clip's values,
 * within 1e-4; about 1e-6 expected), window index construction, the Pillow
 * resize and the normalisation; then the same model cut to 1 and grown to 3
 * layers against a naive double-precision forward written from the README
 * (no skipped work, one sequence at a time), which checks the first/last
 * block shortcuts, the text prefix sharing and the batching; random models;
 * errors for files that are not a CLIP. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/alloc.h"
#include "image/resize.h"
#include "nn/layers.h"
#include "io/safetensors_write.h"

#define TOL 1e-4

static am_weights *cases;

static const float *case_f32(const char *name) {
    am_error err = {0};
    const float *p = NULL;
    CHECK_OK(am_weights_get_f32(cases, name, &p, &err));
    return p;
}

static const void *case_raw(const char *name) {
    am_error err = {0};
    const void *p = NULL;
    size_t nbytes = 0;
    CHECK_OK(am_weights_get_raw(cases, name, &p, &nbytes, &err));
    return p;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN counts as the worst */
    }
    return m;
}

/* ------------------------------------------------------------------------ */
/* Windows, resize, preprocessing                                            */
/* ------------------------------------------------------------------------ */

static void test_windows(void) {
    am_error err = {0};
    int32_t *p = NULL, count = 0;
    CHECK_OK(am_clip_make_windows(4, 2, 1, &p, &count, &err));
    CHECK(count == 9, "%d", (int)count);
    const int32_t *ref2 = case_raw("win2.index");
    CHECK(p && ref2 && memcmp(p, ref2, 36 * sizeof(int32_t)) == 0, "win2.index differs");
    am_free(p);
    CHECK_OK(am_clip_make_windows(4, 3, 1, &p, &count, &err));
    CHECK(count == 4, "%d", (int)count);
    const int32_t *ref3 = case_raw("win3.index");
    CHECK(p && ref3 && memcmp(p, ref3, 36 * sizeof(int32_t)) == 0, "win3.index differs");
    am_free(p);
    CHECK_OK(am_clip_make_windows(15, 2, 1, &p, &count, &err));
    CHECK(count == 196 && p[0] == 0 && p[3] == 16 && p[195 * 4] == 13 * 15 + 13, "15/2");
    am_free(p);
    CHECK_OK(am_clip_make_windows(15, 3, 1, &p, &count, &err));
    CHECK(count == 169 && p[168 * 9 + 8] == 14 * 15 + 14, "15/3");
    am_free(p);
    /* Stride 2 over 5: tops 0, 2 -> 2 x 2 windows; window 3 starts at patch 2*5+2. */
    CHECK_OK(am_clip_make_windows(5, 2, 2, &p, &count, &err));
    CHECK(count == 4 && p[3 * 4] == 12 && p[3 * 4 + 3] == 18, "stride 2");
    am_free(p);
    CHECK_OK(am_clip_make_windows(4, 4, 1, &p, &count, &err));
    CHECK(count == 1 && p[15] == 15, "whole grid");
    am_free(p);
    CHECK(am_clip_make_windows(4, 5, 1, &p, &count, &err) == AM_ERR_ARGUMENT && !p, "too big");
    CHECK(am_clip_make_windows(4, 2, 0, &p, &count, &err) == AM_ERR_ARGUMENT, "stride 0");
    CHECK(am_clip_make_windows(0, 1, 1, &p, &count, &err) == AM_ERR_ARGUMENT, "grid 0");
}

static void test_resize(void) {
    am_error err = {0};
    const uint8_t *raw = case_raw("pre.raw");
    const uint8_t *want = case_raw("pre.resized_u8"), *hwant = case_raw("pre.hpass_u8");
    if (!raw || !want || !hwant) return;
    uint8_t out[64 * 64 * 3], hout[97 * 64 * 3], vout[64 * 64 * 3];
    CHECK_OK(am_resize_u8(raw, 131, 97, 3, out, 64, 64, AM_RESAMPLE_BICUBIC, &err));
    CHECK(memcmp(out, want, sizeof out) == 0, "pre.resized_u8 differs");
    CHECK_OK(am_resize_u8(raw, 131, 97, 3, hout, 64, 97, AM_RESAMPLE_BICUBIC, &err));
    CHECK(memcmp(hout, hwant, sizeof hout) == 0, "pre.hpass_u8 differs");
    CHECK_OK(am_resize_u8(hwant, 64, 97, 3, vout, 64, 64, AM_RESAMPLE_BICUBIC, &err));
    CHECK(memcmp(vout, want, sizeof vout) == 0, "vertical pass differs");
}

static void test_preprocess(am_clip *clip) {
    am_error err = {0};
    const uint8_t *raw = case_raw("pre.raw");
    const float *want = case_f32("pre.resized");
    if (!raw || !want) return;
    am_image img = {.width = 131, .height = 97, .data = (uint8_t *)raw};
    float out[3 * 64 * 64];
    CHECK_OK(am_clip_preprocess(clip, &img, out, &err));
    double d = max_abs_diff(out, want, 3 * 64 * 64);
    printf("pre.resized max abs err %.3g\n", d);
    CHECK(d <= 1e-6, "pre.resized %.3g", d);
    am_image empty = {0};
    CHECK(am_clip_preprocess(clip, &empty, out, &err) == AM_ERR_ARGUMENT, "empty image");
}

/* ------------------------------------------------------------------------ */
/* Parity with open_clip                                                     */
/* ------------------------------------------------------------------------ */

static void check_close(const char *what, const char *file, const float *got, const float *want,
                        int64_t n, double tol) {
    double d = max_abs_diff(got, want, n);
    printf("%-28s %-18s max abs err %.3g\n", what, file, d);
    CHECK(d <= tol, "%s (%s): %.3g > %.3g", what, file, d, tol);
}

static void test_parity(const char *file) {
    am_error err = {0};
    am_clip *clip = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", check_shared_path("vectors/clip-tiny/"));
    strncat(path, file, sizeof path - strlen(path) - 1);
    CHECK_OK(am_clip_load(path, NULL, &clip, &err));
    if (!clip) return;
    am_clip_info info = am_clip_get_info(clip);
    CHECK(info.image_size == 64 && info.patch_size == 16 && info.grid == 4 &&
              info.vision_width == 64 && info.vision_layers == 2 && info.vision_heads == 2 &&
              info.embed_dim == 32 && info.text_width == 32 && info.text_layers == 2 &&
              info.text_heads == 2 && info.context_length == 77 && info.vocab_size == 49408,
          "sizes");
    const char *id = am_clip_identity(clip);
    CHECK(id && strchr(id, ':') && strncmp(id, "random", 6) != 0, "identity %s", id);
    const float *images = case_f32("image.input");
    const int32_t *i2 = case_raw("win2.index"), *i3 = case_raw("win3.index");
    if (!images || !i2 || !i3) {
        am_clip_free(clip);
        return;
    }
    am_clip_windows sets[2] = {{9, 4, i2}, {4, 9, i3}};
    float wemb[2 * 13 * 32], iemb[2 * 32], tok[2 * 16 * 64], tokp[2 * 16 * 32];
    /* Everything in one batch. */
    CHECK_OK(am_clip_encode_images(clip, images, 2, sets, 2, wemb, iemb, tok, tokp, &err));
    check_close("image.embed", file, iemb, case_f32("image.embed"), 64, TOL);
    check_close("image.tokens_preproj", file, tok, case_f32("image.tokens_preproj"), 2048, TOL);
    check_close("image.tokens", file, tokp, case_f32("image.tokens"), 1024, TOL);
    float w2[2 * 9 * 32], w3[2 * 4 * 32];
    for (int b = 0; b < 2; b++) {
        memcpy(w2 + b * 288, wemb + b * 13 * 32, 288 * sizeof(float));
        memcpy(w3 + b * 128, wemb + b * 13 * 32 + 288, 128 * sizeof(float));
    }
    check_close("win2.embed", file, w2, case_f32("win2.embed"), 576, TOL);
    check_close("win3.embed", file, w3, case_f32("win3.embed"), 256, TOL);
    /* One set alone, nothing else: the same numbers. */
    float w3b[2 * 4 * 32];
    CHECK_OK(am_clip_encode_images(clip, images, 2, &sets[1], 1, w3b, NULL, NULL, NULL, &err));
    check_close("win3.embed (alone)", file, w3b, case_f32("win3.embed"), 256, TOL);
    /* A window over the whole grid is the image embedding. */
    int32_t all[16];
    for (int i = 0; i < 16; i++) all[i] = i;
    am_clip_windows whole = {1, 16, all};
    float wall[2 * 32];
    CHECK_OK(am_clip_encode_images(clip, images, 2, &whole, 1, wall, NULL, NULL, NULL, &err));
    check_close("whole-grid window", file, wall, case_f32("image.embed"), 64, TOL);
    /* 90 images (two batches of sequences): each the same as alone. */
    const int many = 90;
    float *imgs = malloc(sizeof(float) * many * 3 * 64 * 64);
    float *wm = malloc(sizeof(float) * many * 13 * 32), *im = malloc(sizeof(float) * many * 32);
    for (int i = 0; i < many; i++)
        memcpy(imgs + (int64_t)i * 3 * 4096, images + (i % 2) * 3 * 4096, 3 * 4096 * sizeof(float));
    CHECK_OK(am_clip_encode_images(clip, imgs, many, sets, 2, wm, im, NULL, NULL, &err));
    double dm = 0;
    for (int i = 0; i < many; i++) {
        double a = max_abs_diff(wm + (int64_t)i * 13 * 32, wemb + (i % 2) * 13 * 32, 13 * 32);
        double b = max_abs_diff(im + (int64_t)i * 32, iemb + (i % 2) * 32, 32);
        dm = fmax(dm, fmax(a, b));
    }
    CHECK(dm <= 1e-6, "90-image batch differs from 2-image batch by %.3g", dm);
    free(imgs);
    free(wm);
    free(im);
    /* Text. */
    const int32_t *tokens = case_raw("text.tokens");
    float temb[16 * 32];
    CHECK_OK(am_clip_encode_text(clip, tokens, 16, temb, &err));
    check_close("text.embed", file, temb, case_f32("text.embed"), 16 * 32, TOL);
    /* Rows in another order, and a repeated row: the same embeddings. */
    int32_t shuffled[20 * 77];
    for (int r = 0; r < 20; r++) memcpy(shuffled + r * 77, tokens + ((r * 7) % 16) * 77, 77 * 4);
    float semb[20 * 32];
    CHECK_OK(am_clip_encode_text(clip, shuffled, 20, semb, &err));
    double ds = 0;
    for (int r = 0; r < 20; r++)
        ds = fmax(ds, max_abs_diff(semb + r * 32, temb + ((r * 7) % 16) * 32, 32));
    CHECK(ds <= 1e-6, "shuffled text rows differ by %.3g", ds);
    /* Bad input. */
    int32_t bad[77] = {49406, 49408, 0};
    CHECK(am_clip_encode_text(clip, bad, 1, temb, &err) == AM_ERR_ARGUMENT, "token out of range");
    int32_t badp[4] = {0, 1, 2, 16};
    am_clip_windows bw = {1, 4, badp};
    CHECK(am_clip_encode_images(clip, images, 1, &bw, 1, wall, NULL, NULL, NULL, &err) ==
              AM_ERR_ARGUMENT,
          "patch out of range");
    if (strstr(file, ".safetensors")) test_preprocess(clip);
    am_clip_free(clip);
}

/* The tokenizer through the model: tokens.json prompts -> text.tokens. */
static void test_tokenize(void) {
    am_error err = {0};
    am_clip *clip = NULL;
    CHECK_OK(am_clip_load(check_shared_path("vectors/clip-tiny/model.safetensors"), NULL, &clip,
                          &err));
    json_error_t jerr;
    json_t *root = json_load_file(check_shared_path("vectors/clip-tiny/tokens.json"), 0, &jerr);
    CHECK(root != NULL, "tokens.json: %s", jerr.text);
    const int32_t *want = case_raw("text.tokens");
    if (!clip || !root || !want) {
        json_decref(root);
        am_clip_free(clip);
        return;
    }
    const json_t *prompts = json_object_get(root, "prompts");
    CHECK(json_array_size(prompts) == 16, "16 prompts");
    int exact = 0;
    for (size_t i = 0; i < json_array_size(prompts) && i < 16; i++) {
        int32_t got[77];
        am_status st = am_clip_tokenize(clip, json_string_value(json_array_get(prompts, i)), got,
                                        &err);
        CHECK(st == AM_OK, "tokenize %zu: %s", i, err.message);
        if (st == AM_OK && memcmp(got, want + i * 77, sizeof got) == 0) exact++;
    }
    printf("tokenize: %d of 16 prompts exact\n", exact);
    CHECK(exact == 16, "%d of 16 prompts tokenized exactly", exact);
    json_decref(root);
    am_clip_free(clip);
}

/* ------------------------------------------------------------------------ */
/* A naive double-precision CLIP from the README, over any number of layers  */
/* ------------------------------------------------------------------------ */

typedef struct {
    am_weights *w;
    char vis[64], txt[64]; /* block name prefixes: "visual.transformer" ... */
    int layers;
    const int *map; /* block i of the model is block map[i] of the file */
    int vheads, theads;
    int quick_gelu; /* x sigmoid(1.702 x) instead of the erf GELU */
} naive_model;

static const float *nw(const naive_model *m, const char *fmt, int block) {
    char name[256];
    snprintf(name, sizeof name, fmt, block);
    const float *p = NULL;
    am_error err = {0};
    if (am_weights_get_f32(m->w, name, &p, &err) != AM_OK) {
        fprintf(stderr, "naive: %s\n", err.message);
        exit(1);
    }
    return p;
}

static void naive_ln(double *x, int n, int w, const float *g, const float *b) {
    for (int r = 0; r < n; r++) {
        double *xr = x + (int64_t)r * w, mean = 0, var = 0;
        for (int c = 0; c < w; c++) mean += xr[c];
        mean /= w;
        for (int c = 0; c < w; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= w;
        for (int c = 0; c < w; c++) xr[c] = (xr[c] - mean) / sqrt(var + 1e-5) * g[c] + b[c];
    }
}

/* y[n][o] = x[n][i] W^T + b with W [o][i]. */
static void naive_lin(const double *x, int n, int in, const float *W, const float *b, int out,
                      double *y) {
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++) s += x[(int64_t)r * in + k] * W[(int64_t)o * in + k];
            y[(int64_t)r * out + o] = s;
        }
}

/* One block on x [n][w] in place (tower prefix `base`, file block `fb`). */
static void naive_block(const naive_model *m, const char *base, int fb, double *x, int n, int w,
                        int heads, int causal) {
    char f[128];
#define T(s) (snprintf(f, sizeof f, "%s.resblocks.%%d.%s", base, s), nw(m, f, fb))
    double *h = malloc(sizeof(double) * n * w), *qkv = malloc(sizeof(double) * n * 3 * w);
    double *att = malloc(sizeof(double) * n * w), *o = malloc(sizeof(double) * n * w);
    double *mid = malloc(sizeof(double) * n * 4 * w), *s = malloc(sizeof(double) * n);
    memcpy(h, x, sizeof(double) * n * w);
    naive_ln(h, n, w, T("ln_1.weight"), T("ln_1.bias"));
    naive_lin(h, n, w, T("attn.in_proj_weight"), T("attn.in_proj_bias"), 3 * w, qkv);
    const int hd = w / heads;
    for (int hh = 0; hh < heads; hh++)
        for (int i = 0; i < n; i++) {
            int lim = causal ? i + 1 : n;
            double mx = -1e300, sum = 0;
            for (int j = 0; j < lim; j++) {
                double d = 0;
                for (int c = 0; c < hd; c++)
                    d += qkv[(int64_t)i * 3 * w + hh * hd + c] *
                         qkv[(int64_t)j * 3 * w + w + hh * hd + c];
                s[j] = d / sqrt((double)hd);
                if (s[j] > mx) mx = s[j];
            }
            for (int j = 0; j < lim; j++) sum += (s[j] = exp(s[j] - mx));
            for (int c = 0; c < hd; c++) {
                double a = 0;
                for (int j = 0; j < lim; j++) a += s[j] * qkv[(int64_t)j * 3 * w + 2 * w + hh * hd + c];
                att[(int64_t)i * w + hh * hd + c] = a / sum;
            }
        }
    naive_lin(att, n, w, T("attn.out_proj.weight"), T("attn.out_proj.bias"), w, o);
    for (int64_t i = 0; i < (int64_t)n * w; i++) x[i] += o[i];
    memcpy(h, x, sizeof(double) * n * w);
    naive_ln(h, n, w, T("ln_2.weight"), T("ln_2.bias"));
    naive_lin(h, n, w, T("mlp.c_fc.weight"), T("mlp.c_fc.bias"), 4 * w, mid);
    for (int64_t i = 0; i < (int64_t)n * 4 * w; i++)
        mid[i] = m->quick_gelu ? mid[i] / (1 + exp(-1.702 * mid[i]))
                               : 0.5 * mid[i] * (1 + erf(mid[i] / sqrt(2.0)));
    naive_lin(mid, n, 4 * w, T("mlp.c_proj.weight"), T("mlp.c_proj.bias"), w, o);
    for (int64_t i = 0; i < (int64_t)n * w; i++) x[i] += o[i];
#undef T
    free(h), free(qkv), free(att), free(o), free(mid), free(s);
}

/* Embedding of one sequence of the tiny geometry (64x64, patch 16, width 64,
 * embed 32): class token + patches[0..k) (k = 16 and patches NULL: the full
 * image, whose ln_post'ed tokens go to tokens_out if not NULL). */
static void naive_vision(const naive_model *m, const float *img, const int32_t *patches, int k,
                         float *embed, float *tokens_out) {
    const int w = 64, n = 1 + k;
    double *x = malloc(sizeof(double) * n * w);
    const float *conv = nw(m, "visual.conv1.weight", 0), *pos = nw(m, "visual.positional_embedding", 0);
    const float *cls = nw(m, "visual.class_embedding", 0);
    for (int c = 0; c < w; c++) x[c] = cls[c] + pos[c];
    for (int t = 0; t < k; t++) {
        int p = patches ? patches[t] : t, py = p / 4, px = p % 4;
        for (int o = 0; o < w; o++) {
            double s = 0;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < 16; ky++)
                    for (int kx = 0; kx < 16; kx++)
                        s += conv[((o * 3 + ch) * 16 + ky) * 16 + kx] *
                             img[(ch * 64 + py * 16 + ky) * 64 + px * 16 + kx];
            x[(1 + t) * w + o] = s + pos[(1 + p) * w + o];
        }
    }
    naive_ln(x, n, w, nw(m, "visual.ln_pre.weight", 0), nw(m, "visual.ln_pre.bias", 0));
    for (int b = 0; b < m->layers; b++) naive_block(m, m->vis, m->map[b], x, n, w, m->vheads, 0);
    naive_ln(x, n, w, nw(m, "visual.ln_post.weight", 0), nw(m, "visual.ln_post.bias", 0));
    const float *proj = nw(m, "visual.proj", 0);
    for (int e = 0; e < 32; e++) {
        double s = 0;
        for (int c = 0; c < w; c++) s += x[c] * proj[c * 32 + e];
        embed[e] = (float)s;
    }
    if (tokens_out)
        for (int i = 0; i < k * w; i++) tokens_out[i] = (float)x[w + i];
    free(x);
}

static void naive_text(const naive_model *m, const int32_t *tokens, float *embed) {
    const int w = 32;
    int eot = 0;
    for (int i = 0; i < 77; i++)
        if (tokens[i] > tokens[eot]) eot = i;
    const int n = eot + 1;
    double *x = malloc(sizeof(double) * n * w);
    const float *te = nw(m, "token_embedding.weight", 0), *pos = nw(m, "positional_embedding", 0);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < w; c++) x[i * w + c] = te[(int64_t)tokens[i] * w + c] + pos[i * w + c];
    for (int b = 0; b < m->layers; b++) naive_block(m, m->txt, m->map[b], x, n, w, m->theads, 1);
    naive_ln(x + eot * w, 1, w, nw(m, "ln_final.weight", 0), nw(m, "ln_final.bias", 0));
    const float *proj = nw(m, "text_projection", 0);
    for (int e = 0; e < 32; e++) {
        double s = 0;
        for (int c = 0; c < w; c++) s += x[eot * w + c] * proj[c * 32 + e];
        embed[e] = (float)s;
    }
    free(x);
}

/* How a variant of the tiny model is written. */
typedef struct {
    const int *map; /* block i := file block map[i] */
    int layers;
    const char *prefix; /* before every tensor name ("module.") */
    int hf_config;      /* open_clip_config.json {"model_cfg": ...} instead of config.json */
    int quick_gelu;
} variant;

/* Writes the tiny model as the variant says into folder dir. */
static int write_variant(am_weights *src, const char *dir, const variant *v) {
    const int *map = v->map, layers = v->layers;
    am_error err = {0};
    mkdir(dir, 0700);
    int64_t count = am_weights_count(src);
    am_tensor_out *out = calloc((size_t)count * 4, sizeof *out);
    char (*names)[160] = calloc((size_t)count * 4, sizeof *names);
    int n = 0;
    for (int64_t i = 0; i < count; i++) {
        const am_tensor_info *t = am_weights_at(src, i);
        const float *data = NULL;
        if (t->dtype != AM_DTYPE_F32 || am_weights_get_f32(src, t->name, &data, &err) != AM_OK)
            continue;
        const char *rb = strstr(t->name, "resblocks.");
        if (!rb) {
            snprintf(names[n], sizeof names[n], "%s%s", v->prefix, t->name);
            out[n] = (am_tensor_out){.name = names[n], .dtype = AM_DTYPE_F32, .ndim = t->ndim,
                                     .data = data};
            memcpy(out[n].shape, t->shape, sizeof t->shape);
            n++;
            continue;
        }
        int fb = atoi(rb + 10);
        const char *rest = strchr(rb + 10, '.');
        for (int b = 0; b < layers; b++) {
            if (map[b] != fb) continue;
            snprintf(names[n], sizeof names[n], "%s%.*sresblocks.%d%s", v->prefix,
                     (int)(rb - t->name), t->name, b, rest);
            out[n] = (am_tensor_out){.name = names[n], .dtype = AM_DTYPE_F32, .ndim = t->ndim,
                                     .data = data};
            memcpy(out[n].shape, t->shape, sizeof t->shape);
            n++;
        }
    }
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    am_status st = am_safetensors_write(path, out, n, NULL, 0, &err);
    CHECK(st == AM_OK, "write %s: %s", path, err.message);
    snprintf(path, sizeof path, "%s/%s", dir, v->hf_config ? "open_clip_config.json" : "config.json");
    FILE *f = fopen(path, "w");
    fprintf(f, "%s{\"embed_dim\": 32, \"quick_gelu\": %s, \"vision_cfg\": {\"image_size\": 64, "
               "\"layers\": %d, \"width\": 64, \"head_width\": 32, \"patch_size\": 16}, "
               "\"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": 32, "
               "\"heads\": 2, \"layers\": %d}}%s\n",
            v->hf_config ? "{\"model_cfg\": " : "", v->quick_gelu ? "true" : "false", layers, layers,
            v->hf_config ? ", \"preprocess_cfg\": {}}" : "");
    fclose(f);
    free(out);
    free(names);
    return st == AM_OK;
}

/* A model variant against the naive forward: windows of three sets plus the
 * full forward in one batch, and text. */
static void test_against_naive(am_weights *src, const char *tmp, const variant *v) {
    char dir[512], path[600];
    const int layers = v->layers;
    snprintf(dir, sizeof dir, "%s/L%d", tmp, layers);
    if (!write_variant(src, dir, v)) return;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    am_error err = {0};
    am_clip *clip = NULL;
    CHECK_OK(am_clip_load(path, NULL, &clip, &err));
    if (!clip) return;
    CHECK(am_clip_get_info(clip).vision_layers == layers, "layers");
    naive_model m = {.w = src, .vis = "visual.transformer", .txt = "transformer",
                     .layers = layers, .map = v->map, .vheads = 2, .theads = 2,
                     .quick_gelu = v->quick_gelu};
    const float *images = case_f32("image.input");
    /* Sets: 2x2 stride 2 (4 windows), 1x1 (16), and a scattered 3-patch set. */
    int32_t *p22 = NULL, *p11 = NULL, c22, c11;
    CHECK_OK(am_clip_make_windows(4, 2, 2, &p22, &c22, &err));
    CHECK_OK(am_clip_make_windows(4, 1, 1, &p11, &c11, &err));
    const int32_t odd[6] = {15, 0, 6, 3, 3, 12};
    am_clip_windows sets[3] = {{c22, 4, p22}, {c11, 1, p11}, {2, 3, odd}};
    const int nw_ = c22 + c11 + 2;
    float *wemb = malloc(sizeof(float) * 2 * nw_ * 32), iemb[64], tok[2 * 16 * 64];
    CHECK_OK(am_clip_encode_images(clip, images, 2, sets, 3, wemb, iemb, tok, NULL, &err));
    double dw = 0, di = 0, dt = 0;
    for (int b = 0; b < 2; b++) {
        const float *img = images + b * 3 * 4096;
        int k = 0;
        for (int s = 0; s < 3; s++)
            for (int wi = 0; wi < sets[s].count; wi++, k++) {
                float ref[32];
                naive_vision(&m, img, sets[s].patches + wi * sets[s].size, sets[s].size, ref, NULL);
                dw = fmax(dw, max_abs_diff(wemb + (b * nw_ + k) * 32, ref, 32));
            }
        float ref[32], rtok[16 * 64];
        naive_vision(&m, img, NULL, 16, ref, rtok);
        di = fmax(di, max_abs_diff(iemb + b * 32, ref, 32));
        dt = fmax(dt, max_abs_diff(tok + b * 16 * 64, rtok, 16 * 64));
    }
    printf("%d layers%s vs naive: windows %.3g, image %.3g, tokens %.3g\n", layers,
           v->quick_gelu ? " (QuickGELU)" : "", dw, di, dt);
    CHECK(dw <= TOL && di <= TOL && dt <= TOL, "%d layers: %.3g %.3g %.3g", layers, dw, di, dt);
    /* Text: the 16 prompts plus rows sharing prefixes with each other. */
    const int32_t *tokens = case_raw("text.tokens");
    int32_t rows[20 * 77];
    memcpy(rows, tokens, 16 * 77 * sizeof(int32_t));
    for (int r = 16; r < 20; r++) {
        memcpy(rows + r * 77, tokens + (r - 16) * 77, 77 * sizeof(int32_t));
        int eot = 0;
        while (rows[r * 77 + eot] != 49407) eot++;
        if (eot > 2) rows[r * 77 + eot - 1] = 320 + r; /* same prefix, another last word */
    }
    rows[19 * 77 + 3] = 49407; /* a row whose first end token is not its last nonzero */
    float temb[20 * 32];
    CHECK_OK(am_clip_encode_text(clip, rows, 20, temb, &err));
    double dx = 0;
    for (int r = 0; r < 20; r++) {
        float ref[32];
        naive_text(&m, rows + r * 77, ref);
        dx = fmax(dx, max_abs_diff(temb + r * 32, ref, 32));
    }
    printf("%d layers vs naive: text %.3g\n", layers, dx);
    CHECK(dx <= TOL, "%d layers text: %.3g", layers, dx);
    free(wemb);
    am_free(p22);
    am_free(p11);
    am_clip_free(clip);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s", dir, v->hf_config ? "open_clip_config.json" : "config.json");
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* The layers (nn/layers.h) on their own                                     */
/* ------------------------------------------------------------------------ */

static void test_elementwise(void) {
    double worst = 0;
    for (int i = -500000; i <= 500000; i++) {
        float x = i * 1e-5f;
        worst = fmax(worst, fabs((double)am_erf(x) - erf((double)x)));
    }
    for (float x = 5.0f; x < 30.0f; x += 0.37f) worst = fmax(worst, fabs(am_erf(x) - 1.0));
    printf("erf max abs err %.3g\n", worst);
    CHECK(worst < 1.5e-7, "erf error %.3g", worst);
    /* GELU: the vector path gives the bits of the scalar formula; exact GELU
     * within float rounding. */
    enum { N = 100003 };
    float *g = malloc(sizeof(float) * N), *e = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) g[i] = e[i] = (float)((i - N / 2) * 2.3e-4);
    am_gelu_erf(g, N, 0);
    int same = 1;
    double gerr = 0;
    for (int i = 0; i < N; i++) {
        float v = e[i], want = v * 0.5f * (1.0f + am_erf(v * 0.70710678118654752f));
        same &= memcmp(&want, &g[i], sizeof want) == 0;
        gerr = fmax(gerr, fabs(g[i] - 0.5 * v * (1 + erf(v / sqrt(2.0)))));
    }
    CHECK(same, "GELU vector and scalar paths differ");
    CHECK(gerr < 3e-6, "GELU error %.3g", gerr);
    for (int i = 0; i < N; i++) e[i] = (float)((i - N / 2) * 1.7e-3);
    memcpy(g, e, sizeof(float) * N);
    am_exp_inplace(g, N);
    double xerr = 0;
    for (int i = 0; i < N; i++) xerr = fmax(xerr, fabs(g[i] / exp((double)e[i]) - 1));
    CHECK(xerr < 3e-7, "exp relative error %.3g", xerr);
    /* Softmax rows (ld > n), including a row with a huge spread. */
    float sm[2][8] = {{1, 2, 3, 4, 5, -1, 0, 0}, {-100, 50, 0, 50, 3, 99, 0, 0}};
    am_softmax_rows(&sm[0][0], 8, 2, 6, 1);
    double serr = 0;
    const double in[2][6] = {{1, 2, 3, 4, 5, -1}, {-100, 50, 0, 50, 3, 99}};
    for (int r = 0; r < 2; r++) {
        double mx = -1e300, sum = 0;
        for (int i = 0; i < 6; i++) mx = fmax(mx, in[r][i]);
        for (int i = 0; i < 6; i++) sum += exp(in[r][i] - mx);
        for (int i = 0; i < 6; i++) serr = fmax(serr, fabs(sm[r][i] - exp(in[r][i] - mx) / sum));
    }
    CHECK(serr < 1e-7 && sm[0][6] == 0 && sm[1][7] == 0, "softmax error %.3g", serr);
    free(g);
    free(e);
}

/* The hook of the attention test: a distance penalty and a record of calls. */
static void attn_hook(void *ctx, int64_t seq, int32_t head, int32_t query, float *scores,
                      int32_t n) {
    __atomic_fetch_add((int *)ctx, 1, __ATOMIC_RELAXED); /* pairs run on several threads */
    for (int32_t t = 0; t < n; t++) scores[t] -= 0.05f * (float)abs(query - t) + 0.01f * head;
}

/* Naive double attention of one sequence/head/query for the test below. */
static void attn_naive(const float *q, const float *k, const float *v, int64_t ld, int hd,
                       int h, int64_t qrow, const int32_t *kvrows, int nkv, int visible, int hooked,
                       int query, double scale, double *out) {
    double s[256], mx = -1e300, sum = 0;
    for (int t = 0; t < visible; t++) {
        double d = 0;
        for (int c = 0; c < hd; c++) d += (double)q[qrow * ld + h * hd + c] * k[kvrows[t] * ld + h * hd + c];
        s[t] = d * scale - (hooked ? 0.05 * abs(query - t) + 0.01 * h : 0);
        mx = fmax(mx, s[t]);
    }
    for (int t = 0; t < visible; t++) sum += (s[t] = exp(s[t] - mx));
    for (int c = 0; c < hd; c++) {
        double a = 0;
        for (int t = 0; t < visible; t++) a += s[t] * v[kvrows[t] * ld + h * hd + c];
        out[c] = a / sum;
    }
    (void)nkv;
}

static void test_attention(int hd) {
    am_error err = {0};
    const int heads = 3, w = heads * hd, rows = 120;
    float *q = malloc(sizeof(float) * rows * w), *k = malloc(sizeof(float) * rows * w);
    float *v = malloc(sizeof(float) * rows * w), *out = calloc((size_t)rows * w, sizeof(float));
    for (int i = 0; i < rows * w; i++) {
        q[i] = (float)sin(i * 0.731) * 1.5f;
        k[i] = (float)cos(i * 0.377);
        v[i] = (float)sin(i * 0.119 + 1);
    }
    int32_t idx5[5] = {7, 3, 90, 3, 11}, qidx[3] = {2, 60, 61}, kv70[70];
    for (int i = 0; i < 70; i++) kv70[i] = 119 - i;
    /* short with index lists; long causal contiguous (n_q < n_kv); long with
     * index lists; short causal. */
    am_attn_seq seqs[4] = {
        {.q_index = idx5, .kv_index = idx5, .n_q = 5, .n_kv = 5, .out_row = 0},
        {.q_row = 30, .kv_row = 10, .n_q = 20, .n_kv = 50, .causal = 1, .out_row = 5},
        {.q_index = qidx, .kv_index = kv70, .n_q = 3, .n_kv = 70, .out_row = 25},
        {.q_row = 100, .kv_row = 100, .n_q = 9, .n_kv = 9, .causal = 1, .out_row = 28},
    };
    for (int hooked = 0; hooked < 2; hooked++) {
        int calls = 0;
        am_attn_desc d = {.q = q, .k = k, .v = v, .ldq = w, .ldk = w, .ldv = w, .out = out,
                          .ldo = w, .heads = heads, .head_dim = hd,
                          .scale = 1.0f / sqrtf((float)hd), .hook = hooked ? attn_hook : NULL,
                          .hook_ctx = &calls};
        CHECK_OK(am_attention(&d, seqs, 4, 2, &err));
        /* Once per (sequence, head, query). */
        if (hooked) CHECK(calls == heads * (5 + 20 + 3 + 9), "hook called %d times", calls);
        double worst = 0;
        for (int si = 0; si < 4; si++) {
            const am_attn_seq *sq = &seqs[si];
            for (int j = 0; j < sq->n_q; j++) {
                int32_t kvrows[128];
                for (int t = 0; t < sq->n_kv; t++)
                    kvrows[t] = sq->kv_index ? sq->kv_index[t] : (int32_t)sq->kv_row + t;
                const int64_t qrow = sq->q_index ? sq->q_index[j] : sq->q_row + j;
                const int visible = sq->causal ? sq->n_kv - sq->n_q + j + 1 : sq->n_kv;
                for (int h = 0; h < heads; h++) {
                    double ref[128];
                    attn_naive(q, k, v, w, hd, h, qrow, kvrows, sq->n_kv, visible, hooked, j,
                               1.0 / sqrt((double)hd), ref);
                    for (int c = 0; c < hd; c++)
                        worst = fmax(worst, fabs(out[(sq->out_row + j) * w + h * hd + c] - ref[c]));
                }
            }
        }
        printf("attention head_dim %d%s max abs err %.3g\n", hd, hooked ? " (hook)" : "", worst);
        CHECK(worst < 2e-6, "attention head_dim %d hook %d: %.3g", hd, hooked, worst);
    }
    /* Work: causal 20 queries over 50 keys see 31..50 keys each. */
    CHECK(am_attention_macs(&seqs[1], 1, 1, 1) == 2 * (50 * 51 / 2 - 30 * 31 / 2), "macs %lld",
          (long long)am_attention_macs(&seqs[1], 1, 1, 1));
    free(q), free(k), free(v), free(out);
}

/* ------------------------------------------------------------------------ */
/* Random models, errors                                                     */
/* ------------------------------------------------------------------------ */

static void test_random(void) {
    am_error err = {0};
    am_clip_info info = {.image_size = 48, .patch_size = 16, .grid = 3, .vision_width = 64,
                         .vision_layers = 3, .vision_heads = 4, .embed_dim = 24,
                         .text_width = 48, .text_layers = 2, .text_heads = 3,
                         .context_length = 16, .vocab_size = 49408};
    am_clip *a = NULL, *b = NULL;
    am_clip_params p1 = am_clip_default_params(), p2 = am_clip_default_params();
    p2.threads = 1;
    CHECK_OK(am_clip_create_random(7, &info, &p1, &a, &err));
    CHECK_OK(am_clip_create_random(7, &info, &p2, &b, &err));
    if (!a || !b) {
        am_clip_free(a);
        am_clip_free(b);
        return;
    }
    CHECK(strncmp(am_clip_identity(a), "random:7", 8) == 0, "%s", am_clip_identity(a));
    float img[3 * 48 * 48];
    for (int i = 0; i < 3 * 48 * 48; i++) img[i] = (float)sin(i * 0.37);
    int32_t *p = NULL, count;
    CHECK_OK(am_clip_make_windows(3, 2, 1, &p, &count, &err));
    am_clip_windows set = {count, 4, p};
    float ea[4 * 24], eb[4 * 24], ia[24], ib[24];
    CHECK_OK(am_clip_encode_images(a, img, 1, &set, 1, ea, ia, NULL, NULL, &err));
    CHECK_OK(am_clip_encode_images(b, img, 1, &set, 1, eb, ib, NULL, NULL, &err));
    CHECK(memcmp(ea, eb, sizeof ea) == 0 && memcmp(ia, ib, sizeof ia) == 0,
          "same seed, other thread count: other bytes");
    double norm = 0;
    for (int i = 0; i < 24; i++) norm += ia[i] * ia[i];
    CHECK(norm > 1e-3 && isfinite(norm), "random embedding norm %g", norm);
    int32_t toks[16] = {49406, 320, 1125, 539, 49407};
    float ta[24], tb[24];
    CHECK_OK(am_clip_encode_text(a, toks, 1, ta, &err));
    CHECK_OK(am_clip_encode_text(b, toks, 1, tb, &err));
    CHECK(memcmp(ta, tb, sizeof ta) == 0, "text differs across thread counts");
    am_free(p);
    am_clip_free(a);
    am_clip_free(b);
    /* Another seed: other weights. */
    CHECK_OK(am_clip_create_random(8, &info, NULL, &a, &err));
    if (a) {
        CHECK_OK(am_clip_encode_images(a, img, 1, NULL, 0, NULL, ib, NULL, NULL, &err));
        CHECK(memcmp(ia, ib, sizeof ia) != 0, "seed ignored");
        am_clip_free(a);
    }
    info.vision_heads = 5; /* 64 is not a multiple of 5 */
    CHECK(am_clip_create_random(1, &info, NULL, &a, &err) == AM_ERR_MODEL, "bad heads");
    info.vision_heads = 4;
    info.grid = 4; /* 48 != 4 * 16 */
    CHECK(am_clip_create_random(1, &info, NULL, &a, &err) == AM_ERR_MODEL, "bad grid");
}

static void test_errors(void) {
    am_error err = {0};
    am_clip *clip = NULL;
    am_status st = am_clip_load(check_shared_path("vectors/sam-tiny/model.safetensors"), NULL,
                                &clip, &err);
    CHECK(st == AM_ERR_MODEL && strstr(err.message, "visual.class_embedding"), "SAM file: %s",
          err.message);
    st = am_clip_load(check_shared_path("vectors/clip-tiny/cases.safetensors"), NULL, &clip, &err);
    CHECK(st == AM_ERR_MODEL, "cases file: %s", err.message);
    st = am_clip_load(check_shared_path("vectors/clip-tiny/nonexistent.pt"), NULL, &clip, &err);
    CHECK(st == AM_ERR_IO && clip == NULL, "missing file: %s", err.message);
    /* A config that disagrees with the weights. */
    char tmp[] = "/tmp/anomem-clip-XXXXXX";
    if (!mkdtemp(tmp)) return;
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/c.json", tmp);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "{\"embed_dim\": 32, \"vision_cfg\": {\"layers\": 3, \"head_width\": 32}, "
               "\"text_cfg\": {\"heads\": 2}}");
    fclose(f);
    am_clip_params p = am_clip_default_params();
    p.config_path = cfg;
    st = am_clip_load(check_shared_path("vectors/clip-tiny/model.safetensors"), &p, &clip, &err);
    CHECK(st == AM_ERR_MODEL && strstr(err.message, "layers"), "config mismatch: %s",
          err.message);
    f = fopen(cfg, "w");
    fprintf(f, "{\"embed_dim\": 32, \"vision_cfg\": {\"head_width\": 32, \"ls_init_value\": 0.1}, "
               "\"text_cfg\": {\"heads\": 2}}");
    fclose(f);
    st = am_clip_load(check_shared_path("vectors/clip-tiny/model.safetensors"), &p, &clip, &err);
    CHECK(st == AM_ERR_UNSUPPORTED, "layer scale: %s", err.message);
    unlink(cfg);
    rmdir(tmp);
}

/* bf16 (when the backend is built): close to f32 by cosine. */
static void test_bf16(void) {
    am_error err = {0};
    am_clip *f = NULL, *h = NULL;
    am_clip_params p = am_clip_default_params();
    p.precision = AM_PRECISION_BF16;
    const char *path = check_shared_path("vectors/clip-tiny/model.safetensors");
    am_status st = am_clip_load(path, &p, &h, &err);
    if (st == AM_ERR_UNSUPPORTED) {
        printf("bf16: not available (%s)\n", err.message);
        return;
    }
    CHECK(st == AM_OK, "bf16 load: %s", err.message);
    CHECK_OK(am_clip_load(path, NULL, &f, &err));
    if (!f || !h) {
        am_clip_free(f);
        am_clip_free(h);
        return;
    }
    const float *images = case_f32("image.input");
    const int32_t *i2 = case_raw("win2.index");
    am_clip_windows set = {9, 4, i2};
    float a[2 * 9 * 32], b[2 * 9 * 32];
    CHECK_OK(am_clip_encode_images(f, images, 2, &set, 1, a, NULL, NULL, NULL, &err));
    CHECK_OK(am_clip_encode_images(h, images, 2, &set, 1, b, NULL, NULL, NULL, &err));
    double worst = 1;
    for (int r = 0; r < 18; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int c = 0; c < 32; c++) {
            ab += a[r * 32 + c] * b[r * 32 + c];
            aa += a[r * 32 + c] * a[r * 32 + c];
            bb += b[r * 32 + c] * b[r * 32 + c];
        }
        worst = fmin(worst, ab / sqrt(aa * bb));
    }
    printf("bf16 vs f32 window cosine min %.6f\n", worst);
    CHECK(worst >= 0.999, "bf16 cosine %.6f", worst);
    am_clip_free(f);
    am_clip_free(h);
}

int main(void) {
    am_error err = {0};
    CHECK_OK(am_weights_open(check_shared_path("vectors/clip-tiny/cases.safetensors"), &cases,
                             &err));
    if (!cases) return check_summary();
    test_windows();
    test_resize();
    test_elementwise();
    test_attention(64);
    test_attention(24);
    test_parity("model.safetensors");
    test_parity("model.pt");
    test_tokenize();
    am_weights *src = NULL;
    CHECK_OK(am_weights_open(check_shared_path("vectors/clip-tiny/model.safetensors"), &src, &err));
    char tmp[] = "/tmp/anomem-clip-XXXXXX";
    if (src && mkdtemp(tmp)) {
        const int one[1] = {0}, three[3] = {0, 1, 0}, two[2] = {0, 1};
        const variant v2 = {two, 2, "", 0, 0}, v1 = {one, 1, "", 0, 1},
                      v3 = {three, 3, "module.", 1, 0};
        test_against_naive(src, tmp, &v2);
        test_against_naive(src, tmp, &v1); /* and QuickGELU */
        test_against_naive(src, tmp, &v3); /* under module., HF-style open_clip_config.json */
        rmdir(tmp);
    }
    am_weights_close(src);
    test_random();
    test_errors();
    test_bf16();
    am_weights_close(cases);
    return check_summary();
}
