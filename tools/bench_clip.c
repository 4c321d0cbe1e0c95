/* bench_clip.c - `anomem bench clip`: the CLIP work of one crop, timed for
 * f32 and bf16: the full forward of one image, all 2x2 and 3x3 windows
 * (stride 1), and the 231 WinCLIP sentences; GFLOP/s counted from the work
 * actually done (multiply-adds x 2 of the linear layers and the attention,
 * after the skipped work), peak memory, and bf16-vs-f32 cosines. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "clip/clip_internal.h"
#include "core/rng.h"
#include "detect/prompts.h"

void openblas_set_num_threads(int num_threads);

#define N_SENTENCES 231 /* am_prompt_count(): 11 states x 21 templates */

typedef struct {
    double image_ms, windows_ms, text_ms;
    double image_gflops, windows_gflops, text_gflops;
    int ran;
} timings;

/* One precision: build (or load) the model, time the three workloads and keep
 * the window embeddings for the cosine. */
static int run_precision(const char *clip_path, am_precision prec, int threads, int repeats,
                         int quiet, timings *t, float **windows_out, int64_t *n_windows,
                         int32_t *embed_dim) {
    am_error err = {0};
    am_clip_params p = am_clip_default_params();
    p.precision = prec;
    p.threads = threads;
    am_clip *clip = NULL;
    double t0 = bench_now_ms();
    am_status st = clip_path ? am_clip_load(clip_path, &p, &clip, &err)
                             : am_clip_create_random(0, NULL, &p, &clip, &err);
    if (st != AM_OK) return cli_fail(&err);
    const double build_ms = bench_now_ms() - t0;
    const am_clip_info in = am_clip_get_info(clip);
    const int64_t s = in.image_size, np = (int64_t)in.grid * in.grid;
    /* A seeded N(0,1) input: the cost does not depend on pixel values. */
    float *image = malloc(sizeof(float) * 3 * s * s);
    am_rng rng;
    am_rng_seed(&rng, 1);
    for (int64_t i = 0; i < 3 * s * s; i++) image[i] = am_rng_normal(&rng);
    int32_t *p2 = NULL, *p3 = NULL, c2 = 0, c3 = 0;
    if (am_clip_make_windows(in.grid, 2, 1, &p2, &c2, &err) != AM_OK ||
        am_clip_make_windows(in.grid, 3, 1, &p3, &c3, &err) != AM_OK) {
        free(image);
        am_clip_free(clip);
        return cli_fail(&err);
    }
    am_clip_windows sets[2] = {{c2, 4, p2}, {c3, 9, p3}};
    const int64_t nw = c2 + c3;
    float *wemb = malloc(sizeof(float) * nw * in.embed_dim);
    float *iemb = malloc(sizeof(float) * in.embed_dim);
    float *tokens = malloc(sizeof(float) * np * in.vision_width);
    int32_t *ids = malloc(sizeof(int32_t) * N_SENTENCES * in.context_length);
    float *temb = malloc(sizeof(float) * N_SENTENCES * in.embed_dim);
    for (int i = 0; st == AM_OK && i < N_SENTENCES; i++) {
        char sentence[600];
        am_prompt_sentence("candle", i, sentence, sizeof sentence);
        st = am_clip_tokenize(clip, sentence, ids + (int64_t)i * in.context_length, &err);
    }
    double *ms = malloc(sizeof(double) * (size_t)repeats);
    for (int what = 0; st == AM_OK && what < 3; what++) {
        double flops = 0;
        /* One untimed call first (scratch allocation, first touch). */
        for (int r = -1; st == AM_OK && r < repeats; r++) {
            double a = bench_now_ms();
            if (what == 0)
                st = am_clip_encode_images(clip, image, 1, NULL, 0, NULL, iemb, tokens, NULL, &err);
            else if (what == 1)
                st = am_clip_encode_images(clip, image, 1, sets, 2, wemb, NULL, NULL, NULL, &err);
            else
                st = am_clip_encode_text(clip, ids, N_SENTENCES, temb, &err);
            if (r >= 0) ms[r] = bench_now_ms() - a;
            flops = am_clip_last_flops(clip);
        }
        if (st != AM_OK) break;
        double med = bench_median(ms, (size_t)repeats);
        double gf = flops / (med * 1e6);
        if (what == 0) t->image_ms = med, t->image_gflops = gf;
        else if (what == 1) t->windows_ms = med, t->windows_gflops = gf;
        else t->text_ms = med, t->text_gflops = gf;
        if (!quiet)
            printf("  %-34s %9.1f ms  %7.1f GFLOP/s  (%.1f GFLOP)\n",
                   what == 0   ? "image: full forward, 1 image"
                   : what == 1 ? "windows: 196 2x2 + 169 3x3, 1 crop"
                               : "text: 231 WinCLIP sentences",
                   med, gf, flops / 1e9);
    }
    if (!quiet && st == AM_OK)
        printf("  (model built in %.0f ms; peak RSS so far %.0f MB)\n", build_ms,
               bench_peak_rss_mb());
    t->ran = st == AM_OK;
    free(ms);
    free(image);
    free(iemb);
    free(tokens);
    free(ids);
    free(temb);
    am_free(p2);
    am_free(p3);
    am_clip_free(clip);
    if (st != AM_OK) {
        free(wemb);
        return cli_fail(&err);
    }
    *windows_out = wemb;
    *n_windows = nw;
    *embed_dim = in.embed_dim;
    return 0;
}

static void print_json_timings(const char *name, const timings *t) {
    if (!t->ran) {
        printf("\"%s\": null", name);
        return;
    }
    printf("\"%s\": {\"image_ms\": %.3f, \"windows_ms\": %.3f, \"text_ms\": %.3f, "
           "\"image_gflops\": %.3f, \"windows_gflops\": %.3f, \"text_gflops\": %.3f}",
           name, t->image_ms, t->windows_ms, t->text_ms, t->image_gflops, t->windows_gflops,
           t->text_gflops);
}

int bench_clip(int argc, char **argv) {
    const char *clip_path = NULL;
    int threads = 0, repeats = 3, json = 0, do_f32 = 1, do_bf16 = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            printf("usage: anomem bench clip [--clip FILE] [--precision f32|bf16] [--threads N] "
                   "[--repeats R] [--json]\n\n"
                   "Times the CLIP work of one crop: the full forward of one image, its 196 2x2 "
                   "+ 169 3x3\nwindows, and the 231 WinCLIP sentences; median over R repeats "
                   "(default 3) after one\nuntimed call.  Without --clip: the ViT-B-16-plus-240 "
                   "architecture with seeded random\nweights.  GFLOP/s count multiply-adds x 2 "
                   "of the linear layers and attention actually\ncomputed (skipped work not "
                   "counted).  --threads sets the OpenMP and OpenBLAS threads.\n");
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (!v) {
            return cli_usage("bench clip", "%s needs a value", a);
        } else if (strcmp(a, "--clip") == 0) {
            clip_path = v, i++;
        } else if (strcmp(a, "--precision") == 0) {
            if (strcmp(v, "f32") == 0) do_bf16 = 0;
            else if (strcmp(v, "bf16") == 0) do_f32 = 0;
            else return cli_usage("bench clip", "--precision is f32 or bf16, not '%s'", v);
            i++;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "--repeats") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1024)
                return cli_usage("bench clip", "%s must be in 1..1024, not '%s'", a, v);
            if (a[2] == 't') threads = (int)n;
            else repeats = (int)n;
            i++;
        } else {
            return cli_usage("bench clip", "unknown option '%s'", a);
        }
    }
    if (threads) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    if (!json)
        printf("CLIP %s, %d threads, median of %d\n", clip_path ? clip_path : "random ViT-B-16-plus-240",
               threads ? threads : omp_get_max_threads(), repeats);
    timings t32 = {0}, t16 = {0};
    float *w32 = NULL, *w16 = NULL;
    int64_t nw = 0;
    int32_t e = 0;
    if (do_f32) {
        if (!json) printf("f32:\n");
        int rc = run_precision(clip_path, AM_PRECISION_F32, threads, repeats, json, &t32, &w32,
                               &nw, &e);
        if (rc) return rc;
    }
    if (do_bf16) {
        if (!json) printf("bf16:\n");
        int rc = run_precision(clip_path, AM_PRECISION_BF16, threads, repeats, json, &t16, &w16,
                               &nw, &e);
        if (rc) {
            free(w32);
            return rc;
        }
    }
    double min_cos = NAN;
    if (w32 && w16) {
        min_cos = 1.0;
        for (int64_t r = 0; r < nw; r++) {
            double ab = 0, aa = 0, bb = 0;
            for (int32_t c = 0; c < e; c++) {
                double x = w32[r * e + c], y = w16[r * e + c];
                ab += x * y, aa += x * x, bb += y * y;
            }
            double cs = ab / sqrt(aa * bb);
            if (!(cs >= min_cos)) min_cos = cs;
        }
    }
    if (json) {
        printf("{");
        print_json_timings("f32", &t32);
        printf(", ");
        print_json_timings("bf16", &t16);
        if (isnan(min_cos)) printf(", \"bf16_min_cosine\": null");
        else printf(", \"bf16_min_cosine\": %.6f", min_cos);
        printf(", \"peak_rss_mb\": %.1f}\n", bench_peak_rss_mb());
    } else {
        if (!isnan(min_cos)) printf("bf16 vs f32 window embeddings: min cosine %.6f\n", min_cos);
        printf("peak RSS %.0f MB\n", bench_peak_rss_mb());
    }
    free(w32);
    free(w16);
    return 0;
}
