/* test-sam-decoder.c - SAM's prompt encoder, mask decoder and mask
 * post-processing against ../shared/vectors/sam-tiny, starting from the
 * reference image embedding enc.embed (so the encoder is not involved):
 * dense positional encoding and sparse prompt tokens (<= 1e-5), dense mask
 * embeddings, the two-way transformer's outputs, all low-res masks and IoU
 * predictions of every predictor case (<= 1e-3 / 1e-4), the masks at image
 * size (<= 1e-3, binary masks differing only where |reference| < 1e-4), the
 * generator's 48 candidates decoded as one batch, and batch independence.
 * Both weight files (safetensors and torch.save) are checked. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sam/sam_decoder.h"
#include "sam/sam_postprocess.h"

static am_weights *cases;

/* Tensor `name` of the cases file as floats (NULL if absent). */
static const float *ref(const char *fmt, int k) {
    char name[128];
    snprintf(name, sizeof name, fmt, k);
    const float *p = NULL;
    am_error err = {0};
    if (!am_weights_find(cases, name) || am_weights_get_f32(cases, name, &p, &err) != AM_OK)
        return NULL;
    return p;
}

static int64_t numel(const char *fmt, int k) {
    char name[128];
    snprintf(name, sizeof name, fmt, k);
    const am_tensor_info *t = am_weights_find(cases, name);
    return t ? t->numel : 0;
}

static double max_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        m = d > m || isnan(d) ? d : m;
    }
    return m;
}

/* The predictor's prompt normalisation: x * (new_w / W) in double, to
 * float32, + 0.5 and / S in float32. */
static float predictor_uv(float v, int32_t new_side, int32_t old_side, int32_t S) {
    const float scaled = (float)((double)v * ((double)new_side / (double)old_side));
    return (scaled + 0.5f) / (float)S;
}

/* Runs every predictor case through a decoder loaded from `model`. */
static void check_model(const char *model) {
    am_error err = {0};
    am_weights *w = NULL;
    CHECK_OK(am_weights_open(check_shared_path(model), &w, &err));
    if (!w) return;
    char config[4096];
    snprintf(config, sizeof config, "%s", check_shared_path("vectors/sam-tiny/config.json"));
    sam_decoder *dec = NULL;
    CHECK_OK(sam_decoder_load(w, config, 8, 128, AM_PRECISION_F32, &dec, &err));
    if (!dec) {
        am_weights_close(w);
        return;
    }
    const sam_decoder_config *c = sam_decoder_get_config(dec);
    CHECK(c->embed_dim == 16 && c->heads == 2 && c->cross_dim == 8 && c->mlp_dim == 32 &&
              c->depth == 2 && c->num_mask_tokens == 4 && c->up1 == 4 && c->up2 == 2 &&
              c->mask_hidden == 3 && c->mask_in_chans == 12 && c->iou_hidden == 16,
          "inferred config");
    const int32_t D = 16, N = 64, L = 32, H = 100, W = 150, S = 128, nh = 85, nw = 128;
    double e = max_diff(sam_decoder_dense_pe(dec), ref("dec.image_pe", 0), D * N);
    CHECK(e <= 1e-5, "%s dec.image_pe %g", model, e);
    CHECK_OK(sam_decoder_set_image(dec, ref("enc.embed", 0), &err));

    float *scratch = malloc(sizeof(float) *
                            (size_t)sam_postprocess_scratch_floats(L, S, nh, nw, H, W));
    double worst_lowres = 0, worst_iou = 0, worst_logits = 0, worst_tokens = 0, worst_image = 0;
    double worst_sparse = 0, worst_dense = 0;
    int64_t bad_flips = 0;
    for (int k = 0; k < 10; k++) {
        const float *pts = ref("pred.%d.points", k), *box = ref("pred.%d.box", k);
        const float *mask_input = ref("pred.%d.mask_input", k);
        char name[64];
        snprintf(name, sizeof name, "pred.%d.labels", k);
        const int32_t *labels = NULL;
        if (am_weights_find(cases, name))
            am_weights_get_raw(cases, name, (const void **)&labels, NULL, &err);
        const int32_t n = (int32_t)numel("pred.%d.labels", k);
        float uv[16], box_uv[4];
        for (int32_t i = 0; i < n; i++) {
            uv[2 * i] = predictor_uv(pts[2 * i], nw, W, S);
            uv[2 * i + 1] = predictor_uv(pts[2 * i + 1], nh, H, S);
        }
        if (box)
            for (int32_t i = 0; i < 2; i++) {
                box_uv[2 * i] = predictor_uv(box[2 * i], nw, W, S);
                box_uv[2 * i + 1] = predictor_uv(box[2 * i + 1], nh, H, S);
            }
        float sparse[8 * 16];
        int32_t ns = 0;
        CHECK_OK(sam_decoder_embed_sparse(dec, uv, labels, n, box ? box_uv : NULL, sparse, &ns,
                                          &err));
        CHECK(ns * D == numel("pred.%d.sparse", k), "case %d: %d sparse tokens", k, ns);
        e = max_diff(sparse, ref("pred.%d.sparse", k), ns * D);
        worst_sparse = e > worst_sparse ? e : worst_sparse;
        float dense[16 * 64];
        if (mask_input) {
            CHECK_OK(sam_decoder_embed_dense(dec, mask_input, dense, &err));
            e = max_diff(dense, ref("pred.%d.dense", k), D * N);
            worst_dense = e > worst_dense ? e : worst_dense;
        }
        const int32_t T = 5 + ns;
        float tokens_out[13 * 16], image_out[64 * 16], iou[4], lowres[4 * 32 * 32];
        sam_decoder_trace trace = {tokens_out, image_out};
        CHECK_OK(sam_decoder_run(dec, sparse, 1, ns, mask_input ? dense : NULL, 0, iou, &trace,
                                 &err));
        CHECK_OK(sam_decoder_masks(dec, 0, 0xf, lowres, &err));
        e = max_diff(tokens_out, ref("pred.%d.tokens_out", k), T * D);
        worst_tokens = e > worst_tokens ? e : worst_tokens;
        e = max_diff(image_out, ref("pred.%d.image_out", k), N * D);
        worst_image = e > worst_image ? e : worst_image;
        e = max_diff(lowres, ref("pred.%d.lowres_all", k), 4 * L * L);
        worst_lowres = e > worst_lowres ? e : worst_lowres;
        e = max_diff(iou, ref("pred.%d.iou_all", k), 4);
        worst_iou = e > worst_iou ? e : worst_iou;
        /* image-size logits of the selected tokens */
        const int multi = numel("pred.%d.iou", k) == 3;
        const float *ml = ref("pred.%d.masks_logits", k);
        for (int t = 0; t < (multi ? 3 : 1); t++) {
            float *out = malloc(sizeof(float) * H * W);
            sam_postprocess_logits(lowres + (multi ? t + 1 : 0) * L * L, L, S, nh, nw, H, W, out,
                                   scratch);
            const float *r = ml + (int64_t)t * H * W;
            e = max_diff(out, r, H * W);
            worst_logits = e > worst_logits ? e : worst_logits;
            for (int i = 0; i < H * W; i++)
                if ((out[i] > 0) != (r[i] > 0) && fabsf(r[i]) >= 1e-4f) bad_flips++;
            free(out);
        }
    }
    printf("%s: sparse %.3g dense %.3g tokens %.3g image %.3g lowres %.3g iou %.3g logits %.3g\n",
           model, worst_sparse, worst_dense, worst_tokens, worst_image, worst_lowres, worst_iou,
           worst_logits);
    CHECK(worst_sparse <= 1e-5, "sparse %g", worst_sparse);
    CHECK(worst_dense <= 1e-4, "dense %g", worst_dense);
    CHECK(worst_tokens <= 1e-4, "tokens_out %g", worst_tokens);
    CHECK(worst_image <= 1e-4, "image_out %g", worst_image);
    CHECK(worst_lowres <= 1e-3, "lowres %g", worst_lowres);
    CHECK(worst_iou <= 1e-4, "iou %g", worst_iou);
    CHECK(worst_logits <= 1e-3, "masks_logits %g", worst_logits);
    CHECK(bad_flips == 0, "%lld mask pixels flipped away from the threshold", (long long)bad_flips);

    /* the generator's 16 grid points as one batch (multimask tokens 1..3) */
    const float *cand_pts = ref("amg.cand.points", 0), *cand_lowres = ref("amg.cand.lowres", 0);
    const float *cand_iou = ref("amg.cand.iou", 0);
    float sparse[16 * 2 * 16], iou[16 * 4], lowres[3 * 32 * 32];
    int32_t ns = 0;
    for (int p = 0; p < 16; p++) {
        const int32_t one = 1;
        const double x = cand_pts[6 * p], y = cand_pts[6 * p + 1];
        const float uv[2] = {(float)((x * ((double)nw / W) + 0.5) / S),
                             (float)((y * ((double)nh / H) + 0.5) / S)};
        CHECK_OK(sam_decoder_embed_sparse(dec, uv, &one, 1, NULL, sparse + p * 2 * D, &ns, &err));
    }
    CHECK_OK(sam_decoder_run(dec, sparse, 16, 2, NULL, 0xe, iou, NULL, &err));
    double worst_cl = 0, worst_ci = 0;
    for (int p = 0; p < 16; p++) {
        CHECK_OK(sam_decoder_masks(dec, p, 0xe, lowres, &err));
        for (int t = 0; t < 3; t++) {
            e = max_diff(lowres + t * L * L, cand_lowres + (int64_t)(3 * p + t) * L * L, L * L);
            worst_cl = e > worst_cl ? e : worst_cl;
            e = fabs(iou[p * 4 + 1 + t] - cand_iou[3 * p + t]);
            worst_ci = e > worst_ci ? e : worst_ci;
        }
    }
    printf("%s: generator batch lowres %.3g iou %.3g\n", model, worst_cl, worst_ci);
    CHECK(worst_cl <= 1e-3, "candidate lowres %g", worst_cl);
    CHECK(worst_ci <= 1e-4, "candidate iou %g", worst_ci);

    /* a prompt decodes the same alone as in a batch */
    float iou1[4], lowres1[3 * 32 * 32];
    CHECK_OK(sam_decoder_run(dec, sparse + 5 * 2 * D, 1, 2, NULL, 0xe, iou1, NULL, &err));
    CHECK_OK(sam_decoder_masks(dec, 0, 0xe, lowres1, &err));
    CHECK_OK(sam_decoder_run(dec, sparse, 16, 2, NULL, 0xe, iou, NULL, &err));
    CHECK_OK(sam_decoder_masks(dec, 5, 0xe, lowres, &err));
    e = max_diff(lowres1, lowres, 3 * L * L);
    printf("%s: batch of 16 vs alone: iou %.3g, lowres %.3g\n", model, max_diff(iou1, iou + 20, 4), e);
    CHECK(max_diff(iou1, iou + 20, 4) <= 1e-6, "batch vs single iou");
    CHECK(e <= 1e-4, "batch vs single masks %g", e);
    /* skipping mask token 0 in the final attention changes nothing else */
    float iou_all[16 * 4], lowres_all[3 * 32 * 32];
    CHECK_OK(sam_decoder_run(dec, sparse, 16, 2, NULL, 0, iou_all, NULL, &err));
    CHECK_OK(sam_decoder_masks(dec, 5, 0xe, lowres_all, &err));
    CHECK(max_diff(iou_all, iou, 16 * 4) <= 1e-6 && max_diff(lowres_all, lowres, 3 * L * L) <= 1e-4,
          "tokens 1..3 alone as with all four: iou %g, lowres %g", max_diff(iou_all, iou, 16 * 4),
          max_diff(lowres_all, lowres, 3 * L * L));
    /* bad arguments */
    CHECK_OK(sam_decoder_run(dec, sparse, 16, 2, NULL, 0xe, iou, NULL, &err));
    CHECK(sam_decoder_masks(dec, 0, 1, lowres, &err) == AM_ERR_ARGUMENT, "token 0 not decoded");
    CHECK(sam_decoder_masks(dec, 16, 2, lowres, &err) == AM_ERR_ARGUMENT, "prompt out of range");
    CHECK(sam_decoder_masks(dec, 0, 0x10, lowres, &err) == AM_ERR_ARGUMENT, "token mask");
    const int32_t bad_label = 2;
    CHECK(sam_decoder_embed_sparse(dec, sparse, &bad_label, 1, NULL, sparse, &ns, &err) ==
              AM_ERR_ARGUMENT,
          "label 2 refused");
    free(scratch);
    sam_decoder_free(dec);
    am_weights_close(w);
}

/* Loading must refuse a file that is not a SAM decoder, and a config that
 * contradicts the shapes. */
static void check_refusals(void) {
    am_error err = {0};
    am_weights *w = NULL;
    sam_decoder *dec = NULL;
    CHECK(sam_decoder_load(cases, NULL, 8, 128, AM_PRECISION_F32, &dec, &err) == AM_ERR_MODEL &&
              !dec,
          "cases file is not a decoder");
    CHECK_OK(am_weights_open(check_shared_path("vectors/sam-tiny/model.safetensors"), &w, &err));
    if (!w) return;
    /* without the config the head count is the default 8, which these widths allow */
    CHECK(sam_decoder_load(w, NULL, 8, 128, AM_PRECISION_F32, &dec, &err) == AM_OK, "%s",
          err.message);
    sam_decoder_free(dec);
    const char *bad = "/tmp/test-sam-decoder-bad-config.json";
    FILE *f = fopen(bad, "w");
    if (f) {
        fputs("{\"decoder_num_heads\": 2, \"decoder_mlp_dim\": 64}", f);
        fclose(f);
        dec = NULL;
        CHECK(sam_decoder_load(w, bad, 8, 128, AM_PRECISION_F32, &dec, &err) == AM_ERR_MODEL &&
                  !dec,
              "contradicting config refused");
        f = fopen(bad, "w");
        if (f) {
            fputs("{\"decoder_num_heads\": 3}", f);
            fclose(f);
        }
        CHECK(sam_decoder_load(w, bad, 8, 128, AM_PRECISION_F32, &dec, &err) == AM_ERR_MODEL &&
                  !dec,
              "3 heads cannot split width 16");
        remove(bad);
    }
    am_weights_close(w);
}

/* ------------------------------------------------------------------------ */
/* Real widths against a naive implementation                               */
/* ------------------------------------------------------------------------ */

/* The real decoder widths on a small grid (D 256, 8 heads, cross width 128),
 * so that the vectorised paths run, on a 16 x 16 grid so that the online
 * softmax spans several blocks per thread; MLP width 512 keeps it fast. */
enum { RD = 256, RG = 16, RN = RG * RG, RS = 256, RDI = 128, RH = 8, RMLP = 512, RM = 4,
       RMH = 4, RMIC = 16, RU1 = 64, RU2 = 32, RL = 4 * RG };

typedef struct {
    char name[256];
    int32_t ndim;
    int64_t shape[4];
    float *data;
} rtensor;

static rtensor rt[256];
static int n_rt;
static uint64_t lcg = 12345;

static float rnd(void) { /* uniform in [-1, 1) */
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg >> 40) / 8388608.0 - 1.0);
}

/* Adds a tensor of values base + scale * uniform. */
static void radd(const char *name, int32_t ndim, const int64_t *shape, float base, float scale) {
    rtensor *t = &rt[n_rt++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; i++) n *= (t->shape[i] = shape[i]);
    t->data = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) t->data[i] = base + scale * rnd();
}

static const float *rget(const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < n_rt; i++)
        if (strcmp(rt[i].name, name) == 0) return rt[i].data;
    fprintf(stderr, "no tensor %s\n", name);
    abort();
}

static void rlinear(const char *prefix, int64_t out, int64_t in) {
    char n[256];
    snprintf(n, sizeof n, "%s.weight", prefix);
    radd(n, 2, (int64_t[]){out, in}, 0.0f, 1.7f / sqrtf((float)in));
    snprintf(n, sizeof n, "%s.bias", prefix);
    radd(n, 1, (int64_t[]){out}, 0.0f, 0.1f);
}

static void rnorm(const char *prefix, int64_t n) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    radd(name, 1, (int64_t[]){n}, 1.0f, 0.2f);
    snprintf(name, sizeof name, "%s.bias", prefix);
    radd(name, 1, (int64_t[]){n}, 0.0f, 0.1f);
}

static void rattn(const char *prefix, int64_t inner) {
    char n[200];
    const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%s.%s", prefix, proj[i]);
        if (i < 3) rlinear(n, inner, RD);
        else rlinear(n, RD, inner);
    }
}

/* Every prompt_encoder.* and mask_decoder.* tensor of the real-width decoder. */
static void make_real_weights(void) {
    char n[160];
    radd("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2, (int64_t[]){2, RD / 2}, 0, 1.5f);
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "prompt_encoder.point_embeddings.%d.weight", i);
        radd(n, 2, (int64_t[]){1, RD}, 0, 1);
    }
    radd("prompt_encoder.not_a_point_embed.weight", 2, (int64_t[]){1, RD}, 0, 1);
    radd("prompt_encoder.no_mask_embed.weight", 2, (int64_t[]){1, RD}, 0, 1);
    radd("prompt_encoder.mask_downscaling.0.weight", 4, (int64_t[]){RMH, 1, 2, 2}, 0, 0.5f);
    radd("prompt_encoder.mask_downscaling.0.bias", 1, (int64_t[]){RMH}, 0, 0.1f);
    rnorm("prompt_encoder.mask_downscaling.1", RMH);
    radd("prompt_encoder.mask_downscaling.3.weight", 4, (int64_t[]){RMIC, RMH, 2, 2}, 0, 0.25f);
    radd("prompt_encoder.mask_downscaling.3.bias", 1, (int64_t[]){RMIC}, 0, 0.1f);
    rnorm("prompt_encoder.mask_downscaling.4", RMIC);
    radd("prompt_encoder.mask_downscaling.6.weight", 4, (int64_t[]){RD, RMIC, 1, 1}, 0, 0.25f);
    radd("prompt_encoder.mask_downscaling.6.bias", 1, (int64_t[]){RD}, 0, 0.1f);
    radd("mask_decoder.iou_token.weight", 2, (int64_t[]){1, RD}, 0, 1);
    radd("mask_decoder.mask_tokens.weight", 2, (int64_t[]){RM, RD}, 0, 1);
    for (int l = 0; l < 2; l++) {
        char p[128];
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d", l);
        snprintf(n, sizeof n, "%s.self_attn", p);
        rattn(n, RD);
        snprintf(n, sizeof n, "%s.cross_attn_token_to_image", p);
        rattn(n, RDI);
        snprintf(n, sizeof n, "%s.cross_attn_image_to_token", p);
        rattn(n, RDI);
        for (int k = 1; k <= 4; k++) {
            snprintf(n, sizeof n, "%s.norm%d", p, k);
            rnorm(n, RD);
        }
        snprintf(n, sizeof n, "%s.mlp.lin1", p);
        rlinear(n, RMLP, RD);
        snprintf(n, sizeof n, "%s.mlp.lin2", p);
        rlinear(n, RD, RMLP);
    }
    rattn("mask_decoder.transformer.final_attn_token_to_image", RDI);
    rnorm("mask_decoder.transformer.norm_final_attn", RD);
    radd("mask_decoder.output_upscaling.0.weight", 4, (int64_t[]){RD, RU1, 2, 2}, 0, 0.12f);
    radd("mask_decoder.output_upscaling.0.bias", 1, (int64_t[]){RU1}, 0, 0.1f);
    rnorm("mask_decoder.output_upscaling.1", RU1);
    radd("mask_decoder.output_upscaling.3.weight", 4, (int64_t[]){RU1, RU2, 2, 2}, 0, 0.12f);
    radd("mask_decoder.output_upscaling.3.bias", 1, (int64_t[]){RU2}, 0, 0.1f);
    for (int m = 0; m < RM; m++)
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "mask_decoder.output_hypernetworks_mlps.%d.layers.%d", m, k);
            rlinear(n, k == 2 ? RU2 : RD, RD);
        }
    for (int k = 0; k < 3; k++) {
        snprintf(n, sizeof n, "mask_decoder.iou_prediction_head.layers.%d", k);
        rlinear(n, k == 2 ? RM : RD, RD);
    }
}

/* The tensors as a safetensors buffer (malloc'd). */
static unsigned char *real_safetensors(size_t *size) {
    char *header = malloc(1 << 20);
    size_t hl = 0, off = 0;
    hl += (size_t)sprintf(header + hl, "{");
    for (int i = 0; i < n_rt; i++) {
        int64_t n = 1;
        hl += (size_t)sprintf(header + hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "",
                              rt[i].name);
        for (int d = 0; d < rt[i].ndim; d++) {
            hl += (size_t)sprintf(header + hl, "%s%lld", d ? "," : "", (long long)rt[i].shape[d]);
            n *= rt[i].shape[d];
        }
        hl += (size_t)sprintf(header + hl, "],\"data_offsets\":[%zu,%zu]}", off, off + 4 * (size_t)n);
        off += 4 * (size_t)n;
    }
    hl += (size_t)sprintf(header + hl, "}");
    while ((8 + hl) % 8) header[hl++] = ' ';
    unsigned char *buf = malloc(8 + hl + off);
    const uint64_t len = hl;
    memcpy(buf, &len, 8);
    memcpy(buf + 8, header, hl);
    size_t at = 8 + hl;
    for (int i = 0; i < n_rt; i++) {
        int64_t n = 1;
        for (int d = 0; d < rt[i].ndim; d++) n *= rt[i].shape[d];
        memcpy(buf + at, rt[i].data, 4 * (size_t)n);
        at += 4 * (size_t)n;
    }
    free(header);
    *size = at;
    return buf;
}

/* y[n][out] = x[n][in] W^T + b, in double. */
static void dlin(const double *x, int n, int in, const float *w, const float *b, int out,
                 double *y) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
            y[i * out + o] = s;
        }
}

static void dnorm(double *x, int n, int d, const float *w, const float *b, double eps) {
    for (int i = 0; i < n; i++) {
        double m = 0, v = 0;
        for (int k = 0; k < d; k++) m += x[i * d + k];
        m /= d;
        for (int k = 0; k < d; k++) v += (x[i * d + k] - m) * (x[i * d + k] - m);
        v /= d;
        for (int k = 0; k < d; k++) x[i * d + k] = (x[i * d + k] - m) / sqrt(v + eps) * w[k] + b[k];
    }
}

/* The official Attention module: out [nq][D]. */
static void dattn(const char *prefix, int inner, const double *q, int nq, const double *k,
                  const double *v, int nk, double *out) {
    double *Q = malloc(sizeof(double) * nq * inner), *K = malloc(sizeof(double) * nk * inner);
    double *V = malloc(sizeof(double) * nk * inner), *O = malloc(sizeof(double) * nq * inner);
    double *p = malloc(sizeof(double) * nk);
    dlin(q, nq, RD, rget("%s.q_proj.weight", prefix), rget("%s.q_proj.bias", prefix), inner, Q);
    dlin(k, nk, RD, rget("%s.k_proj.weight", prefix), rget("%s.k_proj.bias", prefix), inner, K);
    dlin(v, nk, RD, rget("%s.v_proj.weight", prefix), rget("%s.v_proj.bias", prefix), inner, V);
    const int dh = inner / RH;
    for (int h = 0; h < RH; h++)
        for (int i = 0; i < nq; i++) {
            double mx = -1e300, sum = 0;
            for (int j = 0; j < nk; j++) {
                double s = 0;
                for (int d = 0; d < dh; d++) s += Q[i * inner + h * dh + d] * K[j * inner + h * dh + d];
                p[j] = s / sqrt((double)dh);
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j < nk; j++) sum += (p[j] = exp(p[j] - mx));
            for (int d = 0; d < dh; d++) {
                double s = 0;
                for (int j = 0; j < nk; j++) s += p[j] / sum * V[j * inner + h * dh + d];
                O[i * inner + h * dh + d] = s;
            }
        }
    dlin(O, nq, inner, rget("%s.out_proj.weight", prefix), rget("%s.out_proj.bias", prefix), RD,
         out);
    free(Q);
    free(K);
    free(V);
    free(O);
    free(p);
}

static double dgelu(double x) {
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

/* The official decoder for one prompt of ns sparse tokens on embedding emb
 * [D][G][G]: iou [M] and low-res masks [M][L][L]. */
static void naive_decoder(const float *emb, const float *sparse, int ns, double *iou,
                          double *masks) {
    const int T = 1 + RM + ns;
    double *tok = malloc(sizeof(double) * T * RD), *pe_tok = malloc(sizeof(double) * T * RD);
    double *keys = malloc(sizeof(double) * RN * RD), *kpe = malloc(sizeof(double) * RN * RD);
    double *tq = malloc(sizeof(double) * T * RD), *tk = malloc(sizeof(double) * RN * RD);
    double *out = malloc(sizeof(double) * RN * RD), *hid = malloc(sizeof(double) * T * RMLP);
    const float *nm = rget("prompt_encoder.no_mask_embed.weight");
    const float *g = rget("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int c = 0; c < RD; c++) tok[c] = rget("mask_decoder.iou_token.weight")[c];
    for (int i = 0; i < RM * RD; i++) tok[RD + i] = rget("mask_decoder.mask_tokens.weight")[i];
    for (int i = 0; i < ns * RD; i++) tok[(1 + RM) * RD + i] = sparse[i];
    memcpy(pe_tok, tok, sizeof(double) * T * RD);
    for (int y = 0; y < RG; y++)
        for (int x = 0; x < RG; x++) {
            const double u = 2.0 * (x + 0.5) / RG - 1.0, v = 2.0 * (y + 0.5) / RG - 1.0;
            for (int j = 0; j < RD / 2; j++) {
                const double f = 2.0 * M_PI * (u * g[j] + v * g[RD / 2 + j]);
                kpe[(y * RG + x) * RD + j] = sin(f);
                kpe[(y * RG + x) * RD + RD / 2 + j] = cos(f);
            }
            for (int c = 0; c < RD; c++) keys[(y * RG + x) * RD + c] = emb[c * RN + y * RG + x] + nm[c];
        }
    char p[160], n[200];
    for (int l = 0; l < 2; l++) {
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d", l);
        snprintf(n, sizeof n, "%s.self_attn", p);
        if (l == 0) {
            dattn(n, RD, tok, T, tok, tok, T, tq);
            memcpy(tok, tq, sizeof(double) * T * RD);
        } else {
            double *q = malloc(sizeof(double) * T * RD);
            for (int i = 0; i < T * RD; i++) q[i] = tok[i] + pe_tok[i];
            dattn(n, RD, q, T, q, tok, T, tq);
            for (int i = 0; i < T * RD; i++) tok[i] += tq[i];
            free(q);
        }
        snprintf(n, sizeof n, "%s.norm1", p);
        dnorm(tok, T, RD, rget("%s.weight", n), rget("%s.bias", n), 1e-5);
        double *q = malloc(sizeof(double) * T * RD);
        for (int i = 0; i < T * RD; i++) q[i] = tok[i] + pe_tok[i];
        for (int i = 0; i < RN * RD; i++) tk[i] = keys[i] + kpe[i];
        snprintf(n, sizeof n, "%s.cross_attn_token_to_image", p);
        dattn(n, RDI, q, T, tk, keys, RN, tq);
        for (int i = 0; i < T * RD; i++) tok[i] += tq[i];
        snprintf(n, sizeof n, "%s.norm2", p);
        dnorm(tok, T, RD, rget("%s.weight", n), rget("%s.bias", n), 1e-5);
        snprintf(n, sizeof n, "%s.mlp.lin1", p);
        dlin(tok, T, RD, rget("%s.weight", n), rget("%s.bias", n), RMLP, hid);
        for (int i = 0; i < T * RMLP; i++) hid[i] = hid[i] > 0 ? hid[i] : 0;
        snprintf(n, sizeof n, "%s.mlp.lin2", p);
        dlin(hid, T, RMLP, rget("%s.weight", n), rget("%s.bias", n), RD, tq);
        for (int i = 0; i < T * RD; i++) tok[i] += tq[i];
        snprintf(n, sizeof n, "%s.norm3", p);
        dnorm(tok, T, RD, rget("%s.weight", n), rget("%s.bias", n), 1e-5);
        for (int i = 0; i < T * RD; i++) q[i] = tok[i] + pe_tok[i];
        snprintf(n, sizeof n, "%s.cross_attn_image_to_token", p);
        dattn(n, RDI, tk, RN, q, tok, T, out);
        for (int i = 0; i < RN * RD; i++) keys[i] += out[i];
        snprintf(n, sizeof n, "%s.norm4", p);
        dnorm(keys, RN, RD, rget("%s.weight", n), rget("%s.bias", n), 1e-5);
        free(q);
    }
    double *q = malloc(sizeof(double) * T * RD);
    for (int i = 0; i < T * RD; i++) q[i] = tok[i] + pe_tok[i];
    for (int i = 0; i < RN * RD; i++) tk[i] = keys[i] + kpe[i];
    dattn("mask_decoder.transformer.final_attn_token_to_image", RDI, q, T, tk, keys, RN, tq);
    for (int i = 0; i < T * RD; i++) tok[i] += tq[i];
    dnorm(tok, T, RD, rget("mask_decoder.transformer.norm_final_attn.weight"),
          rget("mask_decoder.transformer.norm_final_attn.bias"), 1e-5);
    /* heads */
    double h1[RD], h2[RD], hyper[RM][RU2];
    for (int m = 0; m <= RM; m++) {
        const double *in = tok + (m == 0 ? 0 : m) * RD;
        char pre[128];
        if (m == 0) snprintf(pre, sizeof pre, "mask_decoder.iou_prediction_head");
        else snprintf(pre, sizeof pre, "mask_decoder.output_hypernetworks_mlps.%d", m - 1);
        dlin(in, 1, RD, rget("%s.layers.0.weight", pre), rget("%s.layers.0.bias", pre), RD, h1);
        for (int c = 0; c < RD; c++) h1[c] = h1[c] > 0 ? h1[c] : 0;
        dlin(h1, 1, RD, rget("%s.layers.1.weight", pre), rget("%s.layers.1.bias", pre), RD, h2);
        for (int c = 0; c < RD; c++) h2[c] = h2[c] > 0 ? h2[c] : 0;
        dlin(h2, 1, RD, rget("%s.layers.2.weight", pre), rget("%s.layers.2.bias", pre),
             m == 0 ? RM : RU2, m == 0 ? iou : hyper[m - 1]);
    }
    /* upscaling */
    const int S1 = 2 * RG, S2 = 4 * RG;
    double *u1 = malloc(sizeof(double) * RU1 * S1 * S1), *u2 = malloc(sizeof(double) * RU2 * S2 * S2);
    const float *w0 = rget("mask_decoder.output_upscaling.0.weight");
    const float *b0 = rget("mask_decoder.output_upscaling.0.bias");
    const float *w3 = rget("mask_decoder.output_upscaling.3.weight");
    const float *b3 = rget("mask_decoder.output_upscaling.3.bias");
    for (int y = 0; y < S1; y++)
        for (int x = 0; x < S1; x++) {
            double col[RU1];
            for (int o = 0; o < RU1; o++) {
                double s = b0[o];
                for (int i = 0; i < RD; i++)
                    s += w0[((i * RU1 + o) * 2 + y % 2) * 2 + x % 2] * keys[((y / 2) * RG + x / 2) * RD + i];
                col[o] = s;
            }
            dnorm(col, 1, RU1, rget("mask_decoder.output_upscaling.1.weight"),
                  rget("mask_decoder.output_upscaling.1.bias"), 1e-6);
            for (int o = 0; o < RU1; o++) u1[(o * S1 + y) * S1 + x] = dgelu(col[o]);
        }
    for (int y = 0; y < S2; y++)
        for (int x = 0; x < S2; x++)
            for (int o = 0; o < RU2; o++) {
                double s = b3[o];
                for (int i = 0; i < RU1; i++)
                    s += w3[((i * RU2 + o) * 2 + y % 2) * 2 + x % 2] * u1[(i * S1 + y / 2) * S1 + x / 2];
                u2[(o * S2 + y) * S2 + x] = dgelu(s);
            }
    for (int m = 0; m < RM; m++)
        for (int px = 0; px < S2 * S2; px++) {
            double s = 0;
            for (int c = 0; c < RU2; c++) s += hyper[m][c] * u2[c * S2 * S2 + px];
            masks[m * S2 * S2 + px] = s;
        }
    free(tok); free(pe_tok); free(keys); free(kpe); free(tq); free(tk); free(out); free(hid);
    free(q); free(u1); free(u2);
}

/* The decoder at real widths (f32 and bf16) against the naive reference,
 * for a batch of two prompts: a point and a point with a box. */
static void check_real_width(void) {
    am_error err = {0};
    make_real_weights();
    size_t size;
    unsigned char *buf = real_safetensors(&size);
    am_weights *w = NULL;
    CHECK_OK(am_weights_open_memory(buf, size, "real-width decoder", &w, &err));
    float emb[RD * RN];
    for (int i = 0; i < RD * RN; i++) emb[i] = rnd();
    for (int prec = 0; w && prec < 2; prec++) {
        sam_decoder *dec = NULL;
        CHECK_OK(sam_decoder_load(w, NULL, RG, RS, prec ? AM_PRECISION_BF16 : AM_PRECISION_F32,
                                  &dec, &err));
        if (!dec) continue;
        const sam_decoder_config *c = sam_decoder_get_config(dec);
        CHECK(c->heads == 8 && c->cross_dim == RDI && c->mlp_dim == RMLP && c->up1 == RU1,
              "real-width config");
        CHECK_OK(sam_decoder_set_image(dec, emb, &err));
        float sparse[2 * 3 * RD];
        /* a batch shares its token count: two points + padding, and a point + a box */
        const float uv2[4] = {0.3f, 0.55f, 0.8f, 0.9f}, uv1[2] = {0.6f, 0.2f};
        const float box[4] = {0.1f, 0.1f, 0.7f, 0.5f};
        const int32_t labels2[2] = {1, 0}, one = 1;
        int32_t ns0 = 0, ns1 = 0;
        CHECK_OK(sam_decoder_embed_sparse(dec, uv2, labels2, 2, NULL, sparse, &ns0, &err));
        CHECK_OK(sam_decoder_embed_sparse(dec, uv1, &one, 1, box, sparse + 3 * RD, &ns1, &err));
        CHECK(ns0 == 3 && ns1 == 3, "3 sparse tokens each");
        float iou[2 * RM], lowres[RM * RL * RL];
        CHECK_OK(sam_decoder_run(dec, sparse, 2, 3, NULL, 0, iou, NULL, &err));
        double worst_iou = 0, worst_mask = 0, scale = 0;
        for (int b = 0; b < 2; b++) {
            double ref_iou[RM], ref_masks[RM * RL * RL];
            naive_decoder(emb, sparse + b * 3 * RD, 3, ref_iou, ref_masks);
            CHECK_OK(sam_decoder_masks(dec, b, 0xf, lowres, &err));
            for (int m = 0; m < RM; m++) worst_iou = fmax(worst_iou, fabs(iou[b * RM + m] - ref_iou[m]));
            for (int i = 0; i < RM * RL * RL; i++) {
                worst_mask = fmax(worst_mask, fabs(lowres[i] - ref_masks[i]));
                scale = fmax(scale, fabs(ref_masks[i]));
            }
        }
        printf("real widths (%s) vs naive double: iou %.3g, masks %.3g (|masks| up to %.3g)\n",
               prec ? "bf16" : "f32", worst_iou, worst_mask, scale);
        if (prec == 0) {
            CHECK(worst_iou <= 1e-4, "real-width iou %g", worst_iou);
            CHECK(worst_mask <= 1e-4 * (1.0 + scale), "real-width masks %g", worst_mask);
        } else {
            /* bf16 only in block 0's image projections and the upscaling: 8 significant bits */
            CHECK(worst_iou <= 0.05 && worst_mask <= 0.05 * (1.0 + scale), "bf16 iou %g masks %g",
                  worst_iou, worst_mask);
        }
        sam_decoder_free(dec);
    }
    am_weights_close(w);
    free(buf);
    for (int i = 0; i < n_rt; i++) free(rt[i].data);
}

/* A random decoder of the real size runs and is deterministic. */
static void check_random(void) {
    am_error err = {0};
    sam_decoder_config cfg = sam_decoder_config_default(4, 64);
    sam_decoder *a = NULL, *b = NULL;
    CHECK_OK(sam_decoder_create_random(&cfg, 7, AM_PRECISION_F32, &a, &err));
    CHECK_OK(sam_decoder_create_random(&cfg, 7, AM_PRECISION_F32, &b, &err));
    if (!a || !b) return;
    float *emb = malloc(sizeof(float) * 256 * 16);
    for (int i = 0; i < 256 * 16; i++) emb[i] = sinf(0.37f * (float)i);
    float tok[2 * 256], iou_a[4], iou_b[4], la[16 * 16], lb[16 * 16];
    const float uv[2] = {0.3f, 0.6f};
    const int32_t one = 1;
    int32_t ns;
    CHECK_OK(sam_decoder_embed_sparse(a, uv, &one, 1, NULL, tok, &ns, &err));
    CHECK_OK(sam_decoder_set_image(a, emb, &err));
    CHECK_OK(sam_decoder_set_image(b, emb, &err));
    CHECK_OK(sam_decoder_run(a, tok, 1, ns, NULL, 1, iou_a, NULL, &err));
    CHECK_OK(sam_decoder_run(b, tok, 1, ns, NULL, 1, iou_b, NULL, &err));
    CHECK_OK(sam_decoder_masks(a, 0, 1, la, &err));
    CHECK_OK(sam_decoder_masks(b, 0, 1, lb, &err));
    CHECK(memcmp(iou_a, iou_b, sizeof iou_a) == 0 && memcmp(la, lb, sizeof la) == 0,
          "same seed, same outputs");
    int finite = 1;
    for (int i = 0; i < 16 * 16; i++) finite &= isfinite(la[i]);
    CHECK(finite, "random decoder gives finite logits");
    free(emb);
    sam_decoder_free(a);
    sam_decoder_free(b);
}

int main(void) {
    am_error err = {0};
    CHECK_OK(am_weights_open(check_shared_path("vectors/sam-tiny/cases.safetensors"), &cases,
                             &err));
    if (!cases) return check_summary();
    check_model("vectors/sam-tiny/model.safetensors");
    check_model("vectors/sam-tiny/model.pt");
    check_refusals();
    check_random();
    check_real_width();
    am_weights_close(cases);
    return check_summary();
}
