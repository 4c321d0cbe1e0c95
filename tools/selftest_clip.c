/* selftest_clip.c - `anomem selftest` for a CLIP reference folder (a state
 * dict model.safetensors / model.pt and cases.safetensors, as
 * ../shared/vectors/clip-tiny): runs every case whose inputs are present, with
 * every weight file present, and prints one line per check. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomem.h"
#include "image/resize.h"
#include "selftest.h"

#define EMBED_TOL 1e-4
#define PRE_TOL 1e-6

static const char *const model_files[] = {"model.safetensors", "model.pt"};

/* Does the weight file hold a CLIP state dict (visual.* and token_embedding.*,
 * under any prefix)? */
static int is_clip_file(const char *path) {
    if (access(path, R_OK) != 0) return 0;
    am_error err = {0};
    am_weights *w = NULL;
    if (am_weights_open(path, &w, &err) != AM_OK) return 0;
    int vis = 0, tok = 0;
    for (int64_t i = 0; i < am_weights_count(w); i++) {
        const char *name = am_weights_at(w, i)->name;
        vis |= strstr(name, "visual.class_embedding") != NULL;
        tok |= strstr(name, "token_embedding.weight") != NULL;
    }
    am_weights_close(w);
    return vis && tok;
}

int selftest_clip_recognise(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.safetensors", dir);
    if (access(path, R_OK) != 0) return 0;
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, model_files[i]);
        if (is_clip_file(path)) return 1;
    }
    return 0;
}

/* A case tensor of the given dtype and rank with its shape, or NULL. */
static const am_tensor_info *case_tensor(am_weights *c, const char *name, am_dtype dtype,
                                         int32_t ndim) {
    const am_tensor_info *t = am_weights_find(c, name);
    return t && t->dtype == dtype && t->ndim == ndim ? t : NULL;
}

static const void *raw(am_weights *c, const char *name) {
    const void *p = NULL;
    size_t n;
    am_error err = {0};
    return am_weights_get_raw(c, name, &p, &n, &err) == AM_OK ? p : NULL;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* Compares got with case tensor `name` (float32 of n values) if present. */
static void compare(selftest_tally *t, am_weights *c, const char *label, const char *name,
                    const float *got, int64_t n, double tol) {
    const am_tensor_info *ti = am_weights_find(c, name);
    if (!ti) return;
    char line[256];
    snprintf(line, sizeof line, "%s %s", label, name);
    if (ti->dtype != AM_DTYPE_F32 || ti->numel != n) {
        am_error e = {AM_ERR_FORMAT, ""};
        snprintf(e.message, sizeof e.message, "expected %lld float32 values, the case has %lld",
                 (long long)n, (long long)ti->numel);
        selftest_report_error(t, line, &e);
        return;
    }
    double d = max_abs_diff(got, raw(c, name), n);
    selftest_report(t, line, d, tol, d <= tol);
}

/* pre.*: the Pillow resize (both passes exact) and the normalisation. */
static void run_pre(selftest_tally *t, am_weights *c, const am_clip *clip) {
    const am_tensor_info *rt = case_tensor(c, "pre.raw", AM_DTYPE_U8, 3);
    if (!rt || rt->shape[2] != 3) return;
    const int32_t h = (int32_t)rt->shape[0], w = (int32_t)rt->shape[1];
    const uint8_t *src = raw(c, "pre.raw");
    am_error err = {0};
    const am_tensor_info *ht = case_tensor(c, "pre.hpass_u8", AM_DTYPE_U8, 3);
    if (ht && ht->shape[0] == h && ht->shape[2] == 3) {
        const int32_t ow = (int32_t)ht->shape[1];
        uint8_t *out = malloc((size_t)h * ow * 3);
        if (am_resize_u8(src, w, h, 3, out, ow, h, AM_RESAMPLE_BICUBIC, &err) != AM_OK) {
            selftest_report_error(t, "pre.hpass_u8", &err);
        } else {
            const uint8_t *want = raw(c, "pre.hpass_u8");
            int worst = 0;
            for (int64_t i = 0; i < (int64_t)h * ow * 3; i++)
                if (abs(out[i] - want[i]) > worst) worst = abs(out[i] - want[i]);
            selftest_report(t, "pre.hpass_u8", worst, 0, worst == 0);
        }
        free(out);
    }
    const am_tensor_info *ut = case_tensor(c, "pre.resized_u8", AM_DTYPE_U8, 3);
    if (ut && ut->shape[2] == 3) {
        const int32_t oh = (int32_t)ut->shape[0], ow = (int32_t)ut->shape[1];
        uint8_t *out = malloc((size_t)oh * ow * 3);
        if (am_resize_u8(src, w, h, 3, out, ow, oh, AM_RESAMPLE_BICUBIC, &err) != AM_OK) {
            selftest_report_error(t, "pre.resized_u8", &err);
        } else {
            const uint8_t *want = raw(c, "pre.resized_u8");
            int worst = 0;
            for (int64_t i = 0; i < (int64_t)oh * ow * 3; i++)
                if (abs(out[i] - want[i]) > worst) worst = abs(out[i] - want[i]);
            selftest_report(t, "pre.resized_u8", worst, 0, worst == 0);
        }
        free(out);
    }
    const am_tensor_info *ft = case_tensor(c, "pre.resized", AM_DTYPE_F32, 3);
    const int64_t s = am_clip_get_info(clip).image_size;
    if (ft && ft->shape[0] == 3 && ft->shape[1] == s && ft->shape[2] == s) {
        float *out = malloc(sizeof(float) * 3 * s * s);
        am_image img = {.width = w, .height = h, .data = (uint8_t *)src};
        if (am_clip_preprocess(clip, &img, out, &err) != AM_OK) {
            selftest_report_error(t, "pre.resized", &err);
        } else {
            double d = max_abs_diff(out, raw(c, "pre.resized"), 3 * s * s);
            selftest_report(t, "pre.resized", d, PRE_TOL, d <= PRE_TOL);
        }
        free(out);
    }
}

/* tokens.json prompts through the tokenizer: ids equal to text.tokens. */
static void run_tokenize(selftest_tally *t, am_weights *c, const char *dir, const am_clip *clip) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokens.json", dir);
    const am_tensor_info *tt = case_tensor(c, "text.tokens", AM_DTYPE_I32, 2);
    const int32_t ctx = am_clip_get_info(clip).context_length;
    if (access(path, R_OK) != 0 || !tt || tt->shape[1] != ctx) return;
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    const json_t *prompts = root ? json_object_get(root, "prompts") : NULL;
    if (!json_is_array(prompts) || (int64_t)json_array_size(prompts) != tt->shape[0]) {
        am_error e = {AM_ERR_FORMAT, ""};
        snprintf(e.message, sizeof e.message, "%.400s: no \"prompts\" array of %lld strings", path,
                 (long long)tt->shape[0]);
        selftest_report_error(t, "tokenize", &e);
        json_decref(root);
        return;
    }
    const int32_t *want = raw(c, "text.tokens");
    int32_t *got = malloc(sizeof(int32_t) * ctx);
    int64_t wrong = 0;
    for (size_t i = 0; i < json_array_size(prompts); i++) {
        am_error err = {0};
        const char *text = json_string_value(json_array_get(prompts, i));
        char name[64];
        snprintf(name, sizeof name, "tokenize prompt %zu", i);
        if (!text) {
            am_error e = {AM_ERR_FORMAT, "not a string"};
            selftest_report_error(t, name, &e);
            continue;
        }
        if (am_clip_tokenize(clip, text, got, &err) != AM_OK) {
            selftest_report_error(t, name, &err);
            continue;
        }
        int64_t bad = 0;
        for (int32_t k = 0; k < ctx; k++) bad += got[k] != want[i * ctx + k];
        wrong += bad;
    }
    char line[64];
    snprintf(line, sizeof line, "tokenize %zu prompts (wrong ids)", json_array_size(prompts));
    selftest_report(t, line, (double)wrong, 0, wrong == 0);
    free(got);
    json_decref(root);
}

/* Every model case with one weight file. */
static void run_model(selftest_tally *t, am_weights *c, const char *dir, const char *file,
                      int first) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    am_error err = {0};
    am_clip *clip = NULL;
    if (am_clip_load(path, NULL, &clip, &err) != AM_OK) {
        selftest_report_error(t, file, &err);
        return;
    }
    const am_clip_info in = am_clip_get_info(clip);
    const int64_t s = in.image_size, np = (int64_t)in.grid * in.grid, e = in.embed_dim,
                  w = in.vision_width;
    if (first) {
        run_pre(t, c, clip);
        run_tokenize(t, c, dir, clip);
    }
    /* image.* and win*.* */
    const am_tensor_info *it = case_tensor(c, "image.input", AM_DTYPE_F32, 4);
    if (it && it->shape[1] == 3 && it->shape[2] == s && it->shape[3] == s) {
        const int32_t b = (int32_t)it->shape[0];
        const float *images = raw(c, "image.input");
        float *iemb = malloc(sizeof(float) * b * e), *tok = malloc(sizeof(float) * b * np * w);
        float *tokp = malloc(sizeof(float) * b * np * e);
        if (am_clip_encode_images(clip, images, b, NULL, 0, NULL, iemb, tok, tokp, &err) != AM_OK) {
            selftest_report_error(t, file, &err);
        } else {
            compare(t, c, file, "image.embed", iemb, b * e, EMBED_TOL);
            compare(t, c, file, "image.tokens_preproj", tok, b * np * w, EMBED_TOL);
            compare(t, c, file, "image.tokens", tokp, b * np * e, EMBED_TOL);
        }
        free(iemb), free(tok), free(tokp);
        /* Window sets named winK.index [count][K*K] with winK.embed [b][count][e]. */
        for (int64_t i = 0; i < am_weights_count(c); i++) {
            const char *name = am_weights_at(c, i)->name;
            size_t nl = strlen(name);
            if (strncmp(name, "win", 3) != 0 || nl < 10 || strcmp(name + nl - 6, ".index") != 0)
                continue;
            char base[128], ename[160];
            snprintf(base, sizeof base, "%.*s", (int)(nl - 6), name);
            snprintf(ename, sizeof ename, "%s.embed", base);
            const am_tensor_info *xt = case_tensor(c, name, AM_DTYPE_I32, 2);
            if (!xt || !am_weights_find(c, ename)) continue;
            const int32_t count = (int32_t)xt->shape[0], size = (int32_t)xt->shape[1];
            const int32_t *index = raw(c, name);
            /* The stored index is the stride-1 construction of its size. */
            int32_t k = (int32_t)lround(sqrt((double)size)), *mine = NULL, mc = 0;
            if (k * k == size && am_clip_make_windows(in.grid, k, 1, &mine, &mc, &err) == AM_OK) {
                int64_t bad = mc == count ? 0 : 1;
                for (int64_t j = 0; !bad && j < (int64_t)count * size; j++) bad += mine[j] != index[j];
                char line[200];
                snprintf(line, sizeof line, "%s construction (wrong ids)", name);
                selftest_report(t, line, (double)bad, 0, bad == 0);
                am_free(mine);
            }
            am_clip_windows set = {count, size, index};
            float *wemb = malloc(sizeof(float) * b * count * e);
            if (am_clip_encode_images(clip, images, b, &set, 1, wemb, NULL, NULL, NULL, &err) !=
                AM_OK)
                selftest_report_error(t, ename, &err);
            else
                compare(t, c, file, ename, wemb, (int64_t)b * count * e, EMBED_TOL);
            free(wemb);
        }
    }
    /* text.* */
    const am_tensor_info *tt = case_tensor(c, "text.tokens", AM_DTYPE_I32, 2);
    if (tt && tt->shape[1] == in.context_length && am_weights_find(c, "text.embed")) {
        const int32_t n = (int32_t)tt->shape[0];
        float *temb = malloc(sizeof(float) * n * e);
        if (am_clip_encode_text(clip, raw(c, "text.tokens"), n, temb, &err) != AM_OK)
            selftest_report_error(t, "text.embed", &err);
        else
            compare(t, c, file, "text.embed", temb, (int64_t)n * e, EMBED_TOL);
        free(temb);
    }
    am_clip_free(clip);
}

void selftest_clip_run(const char *dir, selftest_tally *t) {
    am_weights *c = selftest_open_cases(dir, t);
    if (!c) return;
    char path[4096];
    int first = 1;
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, model_files[i]);
        if (access(path, R_OK) != 0) continue;
        run_model(t, c, dir, model_files[i], first);
        first = 0;
    }
    am_weights_close(c);
}
