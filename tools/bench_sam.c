/* bench_sam.c - `anomem bench sam`: SAM's image encoder at 1024 x 1024, the
 * prompt encoder + mask decoder for 64 single-point prompts (multimask,
 * low-res masks), and the whole automatic mask generator at its default
 * settings on a 1024-pixel synthetic image, for the real vit_b and vit_h
 * architectures (seeded random weights unless --sam gives a file), f32 and
 * bf16: median times, the encoder's GFLOP/s (multiply-adds x 2 of its linear
 * layers, attention and convolutions, padding keys included), peak memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "cli_models.h"
#include "core/error.h"
#include "sam/sam_model.h"

#define SIDE 1024
#define DECODER_PROMPTS 64

typedef struct {
    int ran;
    double encoder_ms, decoder64_ms, amg_ms, encoder_gflops, encoder_gflop;
    int32_t amg_masks;
} timings;

/* GFLOP of one encoder forward: patch embedding, per block the qkv, proj
 * and MLP linears over the G*G tokens and the attention over its keys
 * (a window's keys include its zero padding), the decomposed relative
 * positions, and the neck's two convolutions. */
static double encoder_gflop(const sam_encoder_config *c) {
    const double N = (double)c->grid * c->grid, C = c->embed_dim;
    double f = 2.0 * N * (3.0 * c->patch_size * c->patch_size) * C;
    for (int32_t b = 0; b < c->depth; b++) {
        int global = 0;
        for (int32_t g = 0; g < c->n_global; g++) global |= c->global_index[g] == b;
        const double keys = global ? N : (double)c->window_size * c->window_size;
        const double side = global ? c->grid : c->window_size;
        f += 2.0 * N * C * (3.0 * C + C + 2.0 * c->mlp_dim); /* qkv, proj, MLP */
        f += 2.0 * 2.0 * N * keys * C;                         /* q k^T and a v */
        f += 2.0 * 2.0 * N * side * C;                         /* rel_h and rel_w */
    }
    f += 2.0 * N * C * c->out_chans + 2.0 * N * c->out_chans * c->out_chans * 9.0;
    return f / 1e9;
}

/* A deterministic 1024 x 1024 scene: a textured gradient with discs and
 * rectangles of several colours. */
static int make_image(am_image *img) {
    img->width = img->height = SIDE;
    img->data = malloc((size_t)SIDE * SIDE * 3);
    if (!img->data) return -1;
    for (int32_t y = 0; y < SIDE; y++)
        for (int32_t x = 0; x < SIDE; x++) {
            uint8_t *p = img->data + ((int64_t)y * SIDE + x) * 3;
            const int t = ((x * 7 + y * 13) % 17) - 8;
            int r = 60 + x / 8 + t, g = 80 + y / 10 + t, b = 120 + t;
            for (int k = 0; k < 12; k++) {
                const int cx = 90 + (k % 4) * 250, cy = 120 + (k / 4) * 300, rad = 50 + 9 * k;
                const int in = k % 2 ? abs(x - cx) < rad && abs(y - cy) < rad / 2
                                     : (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
                if (in) {
                    r = (k * 67) % 256;
                    g = (k * 131 + 40) % 256;
                    b = (k * 29 + 90) % 256;
                }
            }
            p[0] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
            p[1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
            p[2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
        }
    return 0;
}

/* The decoder for 64 single-point prompts on an 8 x 8 grid, all three
 * multimask outputs at low resolution. */
static am_status decode64(am_sam *sam, am_error *err) {
    sam_decoder *dec = sam_model_decoder(sam);
    const int32_t D = sam_decoder_get_config(dec)->embed_dim;
    const int32_t L = sam_decoder_lowres_size(dec);
    float *sparse = malloc(sizeof(float) * DECODER_PROMPTS * 2 * D);
    float *iou = malloc(sizeof(float) * DECODER_PROMPTS * 16);
    float *lowres = malloc(sizeof(float) * 3 * L * L);
    am_status st =
        sparse && iou && lowres ? AM_OK : am_error_set(err, AM_ERR_NOMEM, "out of memory");
    for (int32_t p = 0; st == AM_OK && p < DECODER_PROMPTS; p++) {
        const float uv[2] = {((float)(p % 8) + 0.5f) / 8.0f, ((float)(p / 8) + 0.5f) / 8.0f};
        const int32_t one = 1;
        int32_t ns;
        st = sam_decoder_embed_sparse(dec, uv, &one, 1, NULL, sparse + (int64_t)p * 2 * D, &ns,
                                      err);
    }
    if (st == AM_OK)
        st = sam_decoder_run(dec, sparse, DECODER_PROMPTS, 2, NULL, 0xe, iou, NULL, err);
    for (int32_t p = 0; st == AM_OK && p < DECODER_PROMPTS; p++)
        st = sam_decoder_masks(dec, p, 0xe, lowres, err);
    free(sparse);
    free(iou);
    free(lowres);
    return st;
}

/* Times one model in one precision. */
static int run_one(const char *file, const char *variant, am_precision prec, int threads,
                   int repeats, int quiet, const am_image *img, timings *t) {
    am_error err = {0};
    am_sam_params sp = am_sam_default_params();
    sp.precision = prec;
    sp.threads = threads;
    am_sam *sam = NULL;
    double t0 = bench_now_ms();
    am_status st = file ? am_sam_load(file, &sp, &sam, &err)
                        : am_sam_create_random(variant, 0, &sp, &sam, &err);
    if (st != AM_OK) return cli_fail(&err);
    const double build_ms = bench_now_ms() - t0;
    t->encoder_gflop = encoder_gflop(sam_encoder_get_config(sam_model_encoder(sam)));
    double enc[16], dec[16];
    /* one warm-up encode (first touch of every buffer), then the repeats */
    st = am_sam_set_image(sam, img, &err);
    for (int r = 0; st == AM_OK && r < repeats; r++) {
        t0 = bench_now_ms();
        st = am_sam_set_image(sam, img, &err);
        enc[r] = bench_now_ms() - t0;
    }
    if (st == AM_OK) st = decode64(sam, &err);
    for (int r = 0; st == AM_OK && r < repeats; r++) {
        t0 = bench_now_ms();
        st = decode64(sam, &err);
        dec[r] = bench_now_ms() - t0;
    }
    am_sam_masks masks = {0};
    if (st == AM_OK) {
        t0 = bench_now_ms();
        st = am_sam_generate(sam, img, NULL, &masks, &err);
        t->amg_ms = bench_now_ms() - t0;
        t->amg_masks = masks.count;
        am_sam_masks_free(&masks);
    }
    if (st != AM_OK) {
        am_sam_free(sam);
        return cli_fail(&err);
    }
    t->encoder_ms = bench_median(enc, (size_t)repeats);
    t->decoder64_ms = bench_median(dec, (size_t)repeats);
    t->encoder_gflops = t->encoder_gflop / (t->encoder_ms / 1e3);
    t->ran = 1;
    if (!quiet) {
        printf("  model built in %.0f ms\n", build_ms);
        printf("  %-36s %9.1f ms  %7.1f GFLOP/s  (%.0f GFLOP)\n", "encoder 1024x1024",
               t->encoder_ms, t->encoder_gflops, t->encoder_gflop);
        printf("  %-36s %9.1f ms\n", "decoder, 64 prompts (low-res masks)", t->decoder64_ms);
        printf("  %-36s %9.1f ms  (%d masks)\n", "generator, default settings", t->amg_ms,
               (int)t->amg_masks);
        printf("  peak RSS so far %.0f MB\n", bench_peak_rss_mb());
    }
    am_sam_free(sam);
    return 0;
}

static void print_json_precision(const char *name, const timings *t) {
    if (!t->ran) {
        printf("\"%s\": null", name);
        return;
    }
    printf("\"%s\": {\"encoder_ms\": %.3f, \"decoder64_ms\": %.3f, \"amg_ms\": %.3f, "
           "\"encoder_gflops\": %.3f}",
           name, t->encoder_ms, t->decoder64_ms, t->amg_ms, t->encoder_gflops);
}

/* The variant name of a loaded file (by encoder width), for the JSON key. */
static const char *variant_of(const char *file, am_error *err) {
    am_sam *sam = NULL;
    if (am_sam_load(file, NULL, &sam, err) != AM_OK) return NULL;
    const int32_t w = am_sam_get_info(sam).encoder_width;
    am_sam_free(sam);
    return w == 768 ? "vit_b" : w == 1024 ? "vit_l" : w == 1280 ? "vit_h" : "custom";
}

int bench_sam(int argc, char **argv) {
    const char *file = NULL, *only_variant = NULL;
    int threads = 0, repeats = 0, json = 0, do_prec[2] = {1, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            printf("usage: anomem bench sam [--sam FILE] [--variant vit_b|vit_h] [--precision "
                   "f32|bf16]\n                        [--threads N] [--repeats R] [--json]\n\n"
                   "SAM encoder at 1024x1024, decoder for 64 prompts and the default automatic\n"
                   "mask generator on a 1024-px synthetic image; random weights unless --sam.\n"
                   "Medians of R runs after a warm-up (default 3 for vit_b, 1 for vit_h; the\n"
                   "generator runs once).\n");
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--sam") == 0 || strcmp(a, "--variant") == 0 ||
                   strcmp(a, "--precision") == 0 || strcmp(a, "--threads") == 0 ||
                   strcmp(a, "--repeats") == 0) {
            const char *v = cli_flag_value("bench sam", argc, argv, &i);
            if (!v) return 2;
            if (strcmp(a, "--sam") == 0) {
                file = v;
            } else if (strcmp(a, "--variant") == 0) {
                if (strcmp(v, "vit_b") != 0 && strcmp(v, "vit_l") != 0 && strcmp(v, "vit_h") != 0)
                    return cli_usage("bench sam", "--variant is vit_b, vit_l or vit_h");
                only_variant = v;
            } else if (strcmp(a, "--precision") == 0) {
                if (strcmp(v, "f32") != 0 && strcmp(v, "bf16") != 0)
                    return cli_usage("bench sam", "--precision is f32 or bf16");
                do_prec[0] = strcmp(v, "f32") == 0;
                do_prec[1] = !do_prec[0];
            } else {
                char *end;
                const long n = strtol(v, &end, 10);
                if (*end || n < (a[2] == 't' ? 0 : 1) || n > (a[2] == 't' ? 4096 : 15))
                    return cli_usage("bench sam", "%s: bad value '%s'", a, v);
                if (a[2] == 't') threads = (int)n;
                else repeats = (int)n;
            }
        } else {
            return cli_usage("bench sam", "unknown flag '%s'", a);
        }
    }
    if (file && only_variant)
        return cli_usage("bench sam", "--variant describes random weights; not with --sam");
    cli_set_threads(threads);
    am_image img;
    if (make_image(&img) != 0) {
        fprintf(stderr, "anomem: out of memory\n");
        return 1;
    }
    const char *names[3] = {"vit_b", "vit_h", NULL};
    int n_variants = 2;
    if (file) {
        am_error err = {0};
        names[0] = variant_of(file, &err);
        if (!names[0]) {
            free(img.data);
            return cli_fail(&err);
        }
        n_variants = 1;
    } else if (only_variant) {
        names[0] = only_variant;
        n_variants = 1;
    }
    timings t[3][2];
    memset(t, 0, sizeof t);
    static const char *prec_names[2] = {"f32", "bf16"};
    int rc = 0;
    for (int v = 0; rc == 0 && v < n_variants; v++)
        for (int p = 0; rc == 0 && p < 2; p++) {
            if (!do_prec[p]) continue;
            const int r = repeats ? repeats : strcmp(names[v], "vit_b") == 0 ? 3 : 1;
            if (!json)
                printf("%s %s (%s), %d threads (0: default), median of %d:\n",
                       file ? file : "random", names[v], prec_names[p], threads, r);
            rc = run_one(file, names[v], p ? AM_PRECISION_BF16 : AM_PRECISION_F32, threads, r,
                         json, &img, &t[v][p]);
        }
    free(img.data);
    if (rc != 0) return rc;
    if (json) {
        const char *keys[2] = {"vit_b", "vit_h"};
        int shown = 0;
        printf("{");
        for (int k = 0; k < 2; k++) {
            int idx = -1;
            for (int v = 0; v < n_variants; v++)
                if (strcmp(names[v], keys[k]) == 0) idx = v;
            printf("%s\"%s\": ", shown++ ? ", " : "", keys[k]);
            if (idx < 0) {
                printf("null");
                continue;
            }
            printf("{");
            print_json_precision("f32", &t[idx][0]);
            printf(", ");
            print_json_precision("bf16", &t[idx][1]);
            printf("}");
        }
        for (int v = 0; v < n_variants; v++)
            if (strcmp(names[v], "vit_b") != 0 && strcmp(names[v], "vit_h") != 0) {
                printf(", \"%s\": {", names[v]);
                print_json_precision("f32", &t[v][0]);
                printf(", ");
                print_json_precision("bf16", &t[v][1]);
                printf("}");
            }
        printf(", \"peak_rss_mb\": %.1f}\n", bench_peak_rss_mb());
    } else {
        printf("peak RSS %.0f MB\n", bench_peak_rss_mb());
    }
    return 0;
}
