/* selftest_sam.c - `anomem selftest` for a SAM reference folder (a state dict
 * model.safetensors / model.pt with image_encoder.* and mask_decoder.*, and
 * cases.safetensors, as ../shared/vectors/sam-tiny): with every weight file
 * present it checks the pre-processing (exact), the encoder's traced stages
 * and embedding, the dense positional encoding, every predictor case found
 * in the file (sparse tokens, low-res and image-size logits, IoU, binary
 * masks), and the generator with the folder's amg_params (every candidate,
 * then count, order, boxes, areas, points, masks, IoU and stability). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomem.h"
#include "sam/sam_amg.h"
#include "sam/sam_model.h"
#include "selftest.h"

#define PRE_TOL 1e-6
#define ENC_TOL 1e-4
#define PE_TOL 1e-5
#define LOGIT_TOL 1e-3
#define IOU_TOL 1e-4
#define FLIP_MARGIN 1e-4
#define AMG_PIXEL_MARGIN 1e-3
#define AMG_SCORE_TOL 1e-5
#define CAND_STABILITY_TOL 1e-3 /* a few pixels next to logit +-1 */

static const char *const model_files[] = {"model.safetensors", "model.pt"};

/* Does the weight file hold a SAM state dict? */
static int is_sam_file(const char *path) {
    if (access(path, R_OK) != 0) return 0;
    am_error err = {0};
    am_weights *w = NULL;
    if (am_weights_open(path, &w, &err) != AM_OK) return 0;
    const int yes = am_weights_find(w, "image_encoder.patch_embed.proj.weight") &&
                    am_weights_find(w, "mask_decoder.iou_token.weight");
    am_weights_close(w);
    return yes;
}

int selftest_sam_recognise(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.safetensors", dir);
    if (access(path, R_OK) != 0) return 0;
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, model_files[i]);
        if (is_sam_file(path)) return 1;
    }
    return 0;
}

/* Case tensor `name` if it has this dtype and element count (n < 0: any). */
static const void *case_data(am_weights *c, const char *name, am_dtype dtype, int64_t n) {
    const am_tensor_info *t = am_weights_find(c, name);
    if (!t || t->dtype != dtype || (n >= 0 && t->numel != n)) return NULL;
    const void *p = NULL;
    am_error err = {0};
    return am_weights_get_raw(c, name, &p, NULL, &err) == AM_OK ? p : NULL;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* Compares got (n floats) with case tensor `name` when present. */
static void compare(selftest_tally *t, am_weights *c, const char *label, const char *name,
                    const float *got, int64_t n, double tol) {
    if (!am_weights_find(c, name)) return;
    char line[256];
    snprintf(line, sizeof line, "%s %s", label, name);
    const float *want = case_data(c, name, AM_DTYPE_F32, n);
    if (!want) {
        am_error e = {AM_ERR_FORMAT, ""};
        snprintf(e.message, sizeof e.message, "reference is not F32 of %lld values", (long long)n);
        selftest_report_error(t, line, &e);
        return;
    }
    const double d = max_abs_diff(got, want, n);
    selftest_report(t, line, d, tol, d <= tol);
}

/* The encoder's traced stages, compared as they come. */
typedef struct {
    selftest_tally *t;
    am_weights *cases;
    const char *label;
} trace_ctx;

static void on_trace(void *user, const char *name, const float *data, int64_t n) {
    trace_ctx *tc = user;
    compare(tc->t, tc->cases, tc->label, name, data, n, ENC_TOL);
}

/* The predictor's prompt normalisation (as am_sam_predict does it), for the
 * sparse-token check. */
static float to_uv(float v, int32_t new_side, int32_t old_side, int32_t S) {
    const float scaled = (float)((double)v * ((double)new_side / (double)old_side));
    return (scaled + 0.5f) / (float)S;
}

/* One predictor case pred.<k>.*; returns 0 when the case does not exist. */
static int run_case(selftest_tally *t, am_weights *c, am_sam *sam, const char *label, int k,
                    int32_t W, int32_t H) {
    char name[128];
    snprintf(name, sizeof name, "pred.%d.iou", k);
    const am_tensor_info *ti = am_weights_find(c, name);
    if (!ti) return 0;
    char what[160];
    snprintf(what, sizeof what, "%s pred.%d", label, k);
    const am_sam_info info = am_sam_get_info(sam);
    const int32_t L = info.lowres_size;
    am_sam_prompt prompt = {0};
    snprintf(name, sizeof name, "pred.%d.labels", k);
    const am_tensor_info *tl = am_weights_find(c, name);
    if (tl) {
        prompt.n_points = (int32_t)tl->numel;
        prompt.labels = case_data(c, name, AM_DTYPE_I32, tl->numel);
        snprintf(name, sizeof name, "pred.%d.points", k);
        prompt.points = case_data(c, name, AM_DTYPE_F32, 2 * tl->numel);
    }
    snprintf(name, sizeof name, "pred.%d.box", k);
    prompt.box = case_data(c, name, AM_DTYPE_F32, 4);
    snprintf(name, sizeof name, "pred.%d.mask_input", k);
    if (am_weights_find(c, name)) {
        prompt.mask_input = case_data(c, name, AM_DTYPE_F32, (int64_t)L * L);
        if (!prompt.mask_input) {
            am_error e = {AM_ERR_FORMAT, "mask_input is not F32 of the low-res size"};
            selftest_report_error(t, what, &e);
            return 1;
        }
    }
    snprintf(name, sizeof name, "pred.%d.multimask", k);
    const uint8_t *mm = case_data(c, name, AM_DTYPE_U8, 1);
    const int32_t multimask = mm ? mm[0] != 0 : ti->numel > 1;
    if (prompt.n_points && (!prompt.labels || !prompt.points)) {
        am_error e = {AM_ERR_FORMAT, "points or labels of an unexpected type"};
        selftest_report_error(t, what, &e);
        return 1;
    }
    /* sparse tokens */
    snprintf(name, sizeof name, "pred.%d.sparse", k);
    if (am_weights_find(c, name)) {
        int32_t S, in_h, in_w;
        sam_model_frame(sam, &S, &in_h, &in_w);
        float uv[128], box_uv[4];
        const int32_t np = prompt.n_points < 62 ? prompt.n_points : 62;
        for (int32_t i = 0; i < np; i++) {
            uv[2 * i] = to_uv(prompt.points[2 * i], in_w, W, S);
            uv[2 * i + 1] = to_uv(prompt.points[2 * i + 1], in_h, H, S);
        }
        for (int32_t i = 0; prompt.box && i < 2; i++) {
            box_uv[2 * i] = to_uv(prompt.box[2 * i], in_w, W, S);
            box_uv[2 * i + 1] = to_uv(prompt.box[2 * i + 1], in_h, H, S);
        }
        float *sparse = malloc(sizeof(float) * 64 * info.embed_dim);
        int32_t ns = 0;
        am_error err = {0};
        if (sparse && sam_decoder_embed_sparse(sam_model_decoder(sam), uv, prompt.labels, np,
                                               prompt.box ? box_uv : NULL, sparse, &ns,
                                               &err) == AM_OK)
            compare(t, c, label, name, sparse, (int64_t)ns * info.embed_dim, PE_TOL);
        else
            selftest_report_error(t, name, &err);
        free(sparse);
    }
    am_sam_prediction pred;
    am_error err = {0};
    if (am_sam_predict(sam, &prompt, multimask, &pred, &err) != AM_OK) {
        selftest_report_error(t, what, &err);
        return 1;
    }
    const int64_t HW = (int64_t)W * H;
    snprintf(name, sizeof name, "pred.%d.lowres", k);
    compare(t, c, label, name, pred.lowres, (int64_t)pred.count * L * L, LOGIT_TOL);
    snprintf(name, sizeof name, "pred.%d.iou", k);
    compare(t, c, label, name, pred.iou, pred.count, IOU_TOL);
    snprintf(name, sizeof name, "pred.%d.masks_logits", k);
    compare(t, c, label, name, pred.logits, pred.count * HW, LOGIT_TOL);
    const float *ref = case_data(c, name, AM_DTYPE_F32, pred.count * HW);
    if (ref) {
        int64_t flips = 0;
        double worst = 0.0;
        for (int64_t i = 0; i < pred.count * HW; i++)
            if ((pred.logits[i] > 0.0f) != (ref[i] > 0.0f)) {
                const double a = fabs(ref[i]);
                if (a >= FLIP_MARGIN) flips++;
                worst = a > worst ? a : worst;
            }
        snprintf(what, sizeof what, "%s pred.%d binary mask (|ref| of flipped pixels)", label, k);
        selftest_report(t, what, worst, FLIP_MARGIN, flips == 0);
    }
    am_sam_prediction_free(&pred);
    return 1;
}

/* Reads the generator parameters from the metadata JSON `amg_params`. */
static int amg_params_from(am_weights *c, am_amg_params *p) {
    const char *s = am_weights_metadata(c, "amg_params");
    if (!s) return 0;
    json_t *j = json_loads(s, 0, NULL);
    if (!j) return 0;
    *p = am_amg_default_params();
    const json_t *v;
    if ((v = json_object_get(j, "points_per_side")) && json_is_integer(v))
        p->points_per_side = (int32_t)json_integer_value(v);
    if ((v = json_object_get(j, "points_per_batch")) && json_is_integer(v))
        p->points_per_batch = (int32_t)json_integer_value(v);
    if ((v = json_object_get(j, "crop_n_layers")) && json_is_integer(v))
        p->crop_n_layers = (int32_t)json_integer_value(v);
    if ((v = json_object_get(j, "crop_n_points_downscale_factor")) && json_is_integer(v))
        p->crop_n_points_downscale_factor = (int32_t)json_integer_value(v);
    if ((v = json_object_get(j, "min_mask_region_area")) && json_is_integer(v))
        p->min_mask_region_area = json_integer_value(v);
    const struct {
        const char *key;
        double *dst;
    } reals[] = {
        {"pred_iou_thresh", &p->pred_iou_thresh},
        {"stability_score_thresh", &p->stability_score_thresh},
        {"stability_score_offset", &p->stability_score_offset},
        {"box_nms_thresh", &p->box_nms_thresh},
        {"crop_nms_thresh", &p->crop_nms_thresh},
        {"crop_overlap_ratio", &p->crop_overlap_ratio},
    };
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        if ((v = json_object_get(j, reals[i].key)) && json_is_number(v))
            *reals[i].dst = json_number_value(v);
    const int grids = (v = json_object_get(j, "point_grids")) && !json_is_null(v);
    json_decref(j);
    return !grids; /* explicit point grids are not in this format */
}

/* Candidates seen by the observer, compared with amg.cand.* of crop 0. */
typedef struct {
    am_weights *c;
    const am_amg_params *p;
    int32_t n, L;
    double lowres, iou, point, stability;
    int32_t decisions_bad;
} cand_check;

static void on_candidate(void *user, int32_t crop, const double point[2], float iou,
                         const float *lowres, float stability) {
    cand_check *cc = user;
    const int32_t i = cc->n++;
    const am_tensor_info *ti = am_weights_find(cc->c, "amg.cand.iou");
    if (crop != 0 || !ti || i >= ti->numel) return;
    const int64_t n = ti->numel, LL = (int64_t)cc->L * cc->L;
    const float *pts = case_data(cc->c, "amg.cand.points", AM_DTYPE_F32, 2 * n);
    const float *ious = case_data(cc->c, "amg.cand.iou", AM_DTYPE_F32, n);
    const float *lr = case_data(cc->c, "amg.cand.lowres", AM_DTYPE_F32, n * LL);
    const float *st = case_data(cc->c, "amg.cand.stability", AM_DTYPE_F32, n);
    if (pts) cc->point = fmax(cc->point, fabs(point[0] - pts[2 * i]) + fabs(point[1] - pts[2 * i + 1]));
    if (ious) cc->iou = fmax(cc->iou, fabs(iou - ious[i]));
    if (lr) cc->lowres = fmax(cc->lowres, max_abs_diff(lowres, lr + i * LL, LL));
    /* the filter decisions must agree; a stability may differ by a pixel next
     * to logit +-1 (the reference's margins hold for the survivors only) */
    const uint8_t *ki = case_data(cc->c, "amg.cand.keep_iou", AM_DTYPE_U8, n);
    const uint8_t *ks = case_data(cc->c, "amg.cand.keep_stability", AM_DTYPE_U8, n);
    if (ki && (!(cc->p->pred_iou_thresh > 0.0) || iou > (float)cc->p->pred_iou_thresh) != ki[i])
        cc->decisions_bad++;
    if (ks && (!(cc->p->stability_score_thresh > 0.0) ||
               stability >= (float)cc->p->stability_score_thresh) != ks[i])
        cc->decisions_bad++;
    if (st && isnan(st[i]) != isnan(stability)) cc->decisions_bad++;
    if (st && !isnan(st[i])) cc->stability = fmax(cc->stability, fabs(stability - st[i]));
}

/* The generator against amg.*. */
static void run_amg(selftest_tally *t, am_weights *c, am_sam *sam, const char *label,
                    const am_image *img) {
    if (!am_weights_find(c, "amg.area")) return;
    char what[160];
    am_amg_params p;
    if (!amg_params_from(c, &p)) {
        am_error e = {AM_ERR_FORMAT, "metadata amg_params missing, unreadable or with point grids"};
        snprintf(what, sizeof what, "%s amg", label);
        selftest_report_error(t, what, &e);
        return;
    }
    cand_check cc = {.c = c, .p = &p, .L = am_sam_get_info(sam).lowres_size};
    sam_amg_observer obs = {on_candidate, &cc};
    am_sam_masks out;
    am_error err = {0};
    if (sam_amg_generate(sam, img, &p, &obs, &out, &err) != AM_OK) {
        snprintf(what, sizeof what, "%s amg", label);
        selftest_report_error(t, what, &err);
        return;
    }
    const am_tensor_info *tc = am_weights_find(c, "amg.cand.iou");
    if (tc) {
        snprintf(what, sizeof what, "%s amg.cand count", label);
        selftest_report(t, what, fabs((double)cc.n - tc->numel), 0, cc.n == tc->numel);
        snprintf(what, sizeof what, "%s amg.cand.points", label);
        selftest_report(t, what, cc.point, 0, cc.point == 0.0);
        snprintf(what, sizeof what, "%s amg.cand.lowres", label);
        selftest_report(t, what, cc.lowres, LOGIT_TOL, cc.lowres <= LOGIT_TOL);
        snprintf(what, sizeof what, "%s amg.cand.iou", label);
        selftest_report(t, what, cc.iou, IOU_TOL, cc.iou <= IOU_TOL);
        snprintf(what, sizeof what, "%s amg.cand.stability", label);
        selftest_report(t, what, cc.stability, CAND_STABILITY_TOL,
                        cc.stability <= CAND_STABILITY_TOL);
        snprintf(what, sizeof what, "%s amg.cand filter decisions (mismatches)", label);
        selftest_report(t, what, cc.decisions_bad, 0, cc.decisions_bad == 0);
    }
    const int64_t M = am_weights_find(c, "amg.area")->numel;
    const int64_t HW = (int64_t)img->width * img->height;
    const int32_t *area = case_data(c, "amg.area", AM_DTYPE_I32, M);
    const int32_t *bbox = case_data(c, "amg.bbox", AM_DTYPE_I32, 4 * M);
    const int32_t *crop = case_data(c, "amg.crop_box", AM_DTYPE_I32, 4 * M);
    const float *pts = case_data(c, "amg.points", AM_DTYPE_F32, 2 * M);
    const float *iou = case_data(c, "amg.iou", AM_DTYPE_F32, M);
    const float *stab = case_data(c, "amg.stability", AM_DTYPE_F32, M);
    const uint8_t *masks = case_data(c, "amg.masks", AM_DTYPE_U8, M * HW);
    const float *logits = case_data(c, "amg.logits", AM_DTYPE_F32, M * HW);
    snprintf(what, sizeof what, "%s amg count", label);
    selftest_report(t, what, fabs((double)out.count - M), 0, out.count == M);
    if (!area || !bbox || !crop || !pts || !iou || !stab || !masks) {
        am_error e = {AM_ERR_FORMAT, "amg.* tensors of unexpected types or sizes"};
        snprintf(what, sizeof what, "%s amg", label);
        selftest_report_error(t, what, &e);
        am_sam_masks_free(&out);
        return;
    }
    int64_t record_bad = 0, pixel_bad = 0;
    double worst_iou = 0, worst_stab = 0, worst_near = 0;
    for (int32_t i = 0; i < out.count && i < M; i++) {
        const am_sam_mask *r = &out.masks[i];
        int same = r->area == area[i] && r->point[0] == pts[2 * i] && r->point[1] == pts[2 * i + 1];
        for (int k = 0; k < 4; k++) same &= r->bbox[k] == bbox[4 * i + k] && r->crop_box[k] == crop[4 * i + k];
        record_bad += !same;
        worst_iou = fmax(worst_iou, fabs(r->predicted_iou - iou[i]));
        worst_stab = fmax(worst_stab, fabs(r->stability_score - stab[i]));
        for (int64_t q = 0; q < HW; q++)
            if (r->mask[q] != masks[i * HW + q]) {
                const double a = logits ? fabs(logits[i * HW + q]) : INFINITY;
                if (a < AMG_PIXEL_MARGIN) worst_near = fmax(worst_near, a);
                else pixel_bad++;
            }
    }
    snprintf(what, sizeof what, "%s amg order, boxes, areas, points (mismatches)", label);
    selftest_report(t, what, (double)record_bad, 0, record_bad == 0 && out.count == M);
    snprintf(what, sizeof what, "%s amg masks (pixels off away from 0)", label);
    selftest_report(t, what, (double)pixel_bad, 0, pixel_bad == 0);
    snprintf(what, sizeof what, "%s amg.iou", label);
    selftest_report(t, what, worst_iou, AMG_SCORE_TOL, worst_iou <= AMG_SCORE_TOL);
    snprintf(what, sizeof what, "%s amg.stability", label);
    selftest_report(t, what, worst_stab, AMG_SCORE_TOL, worst_stab <= AMG_SCORE_TOL);
    am_sam_masks_free(&out);
}

/* Every check with one weight file. */
static void run_model(const char *dir, const char *file, am_weights *c, selftest_tally *t) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    am_error err = {0};
    am_sam *sam = NULL;
    if (am_sam_load(path, NULL, &sam, &err) != AM_OK) {
        selftest_report_error(t, file, &err);
        return;
    }
    const am_tensor_info *ti = am_weights_find(c, "pre.image");
    const uint8_t *pixels = ti && ti->ndim == 3 && ti->shape[2] == 3
                                ? case_data(c, "pre.image", AM_DTYPE_U8, ti->numel)
                                : NULL;
    if (!pixels || ti->shape[0] < 1 || ti->shape[1] < 1 || ti->shape[0] > 65536 ||
        ti->shape[1] > 65536) {
        am_error e = {AM_ERR_FORMAT, "pre.image is not a U8 [H, W, 3] image"};
        selftest_report_error(t, file, &e);
        am_sam_free(sam);
        return;
    }
    am_image img = {.width = (int32_t)ti->shape[1], .height = (int32_t)ti->shape[0],
                    .data = (uint8_t *)pixels};
    trace_ctx tc = {t, c, file};
    sam_encoder_set_trace(sam_model_encoder(sam), on_trace, &tc);
    if (am_sam_set_image(sam, &img, &err) != AM_OK) {
        selftest_report_error(t, file, &err);
        am_sam_free(sam);
        return;
    }
    sam_encoder_set_trace(sam_model_encoder(sam), NULL, NULL);
    const am_sam_info info = am_sam_get_info(sam);
    const int64_t S = info.image_size, G = info.grid;
    compare(t, c, file, "pre.input", sam_model_input(sam), 3 * S * S, PRE_TOL);
    const int32_t *size = case_data(c, "pre.input_size", AM_DTYPE_I32, 2);
    if (size) {
        int32_t s, h, w;
        sam_model_frame(sam, &s, &h, &w);
        char what[160];
        snprintf(what, sizeof what, "%s pre.input_size", file);
        selftest_report(t, what, fabs((double)(h - size[0])) + fabs((double)(w - size[1])), 0,
                        h == size[0] && w == size[1]);
    }
    compare(t, c, file, "enc.embed", sam_model_embedding(sam), info.embed_dim * G * G, ENC_TOL);
    compare(t, c, file, "dec.image_pe", sam_decoder_dense_pe(sam_model_decoder(sam)),
            info.embed_dim * G * G, PE_TOL);
    /* the predictor cases: those the metadata lists, else pred.0, pred.1, ... */
    json_t *cases = am_weights_metadata(c, "cases") ? json_loads(am_weights_metadata(c, "cases"), 0, NULL) : NULL;
    if (json_is_array(cases)) {
        for (size_t i = 0; i < json_array_size(cases); i++) {
            const json_t *k = json_object_get(json_array_get(cases, i), "k");
            if (json_is_integer(k) && !run_case(t, c, sam, file, (int)json_integer_value(k),
                                                img.width, img.height)) {
                am_error e = {AM_ERR_FORMAT, ""};
                snprintf(e.message, sizeof e.message, "case %d listed but absent",
                         (int)json_integer_value(k));
                selftest_report_error(t, file, &e);
            }
        }
    } else {
        for (int k = 0; run_case(t, c, sam, file, k, img.width, img.height); k++) {}
    }
    json_decref(cases);
    run_amg(t, c, sam, file, &img);
    am_sam_free(sam);
}

void selftest_sam_run(const char *dir, selftest_tally *t) {
    am_weights *c = selftest_open_cases(dir, t);
    if (!c) return;
    char path[4096];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, model_files[i]);
        if (access(path, R_OK) == 0) run_model(dir, model_files[i], c, t);
    }
    am_weights_close(c);
}
