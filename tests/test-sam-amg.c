/* test-sam-amg.c - SAM's automatic mask generator: its helpers against
 * hand-computed values (point grid, crop boxes of layers 1 and 2, stability
 * score, mask box, crop-edge filter, box NMS in float semantics with the NaN
 * case, small-region clean-up), then the whole generator on
 * ../shared/vectors/sam-tiny against the official outputs (count, order,
 * boxes, areas, points exact; masks exact except where |logit| < 1e-3; IoU
 * and stability within 1e-5; every candidate's filter decisions), and the
 * crop-layer and clean-up paths for consistency. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sam/sam_amg.h"

static void test_point_grid(void) {
    double g[32 * 32 * 2];
    sam_amg_point_grid(1, g);
    CHECK(g[0] == 0.5 && g[1] == 0.5, "n=1: (%g, %g)", g[0], g[1]);
    sam_amg_point_grid(4, g);
    const double v4[4] = {0.125, 0.375, 0.625, 0.875};
    int ok = 1;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) ok &= g[2 * (i * 4 + j)] == v4[j] && g[2 * (i * 4 + j) + 1] == v4[i];
    CHECK(ok, "n=4 grid: x inner, y outer, (2k+1)/8");
    /* 32 per side: step 0.96875 / 31 = 1/32 exactly, so point (i, j) = ((2j+1)/64, (2i+1)/64) */
    sam_amg_point_grid(32, g);
    ok = 1;
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++)
            ok &= g[2 * (i * 32 + j)] == (2 * j + 1) / 64.0 && g[2 * (i * 32 + j) + 1] == (2 * i + 1) / 64.0;
    CHECK(ok, "n=32 grid");
    /* n=3: linspace(1/6, 5/6, 3): 1/6, 1 * ((5/6 - 1/6) / 2) + 1/6, and exactly 5/6 */
    sam_amg_point_grid(3, g);
    const double start = 1.0 / 6.0, stop = 1.0 - 1.0 / 6.0;
    double mid = 1.0 * ((stop - start) / 2.0);
    mid += start;
    CHECK(g[0] == start && g[2] == mid && g[4] == stop && g[5] == start, "n=3 grid");
}

static void test_crop_boxes(void) {
    CHECK(sam_amg_crop_count(0) == 1 && sam_amg_crop_count(1) == 5 && sam_amg_crop_count(2) == 21,
          "crop counts");
    int32_t boxes[21 * 4], layers[21];
    /* 1500 x 1000, ratio 512/1500: layer 1 overlap int(341.33) = 341, crop 921 x 671, origins
     * 0, 580 and 0, 330; layer 2 overlap int(170.67) = 170, crop 503 x 378, origins 333 a and
     * 208 b; x0 outer, y0 inner; ends clipped to the image */
    sam_amg_crop_boxes(1500, 1000, 2, 512.0 / 1500.0, boxes, layers);
    const int32_t want1[5][4] = {{0, 0, 1500, 1000}, {0, 0, 921, 671}, {0, 330, 921, 1000},
                                 {580, 0, 1500, 671}, {580, 330, 1500, 1000}};
    int ok = 1;
    for (int k = 0; k < 5; k++)
        for (int c = 0; c < 4; c++) ok &= boxes[4 * k + c] == want1[k][c];
    CHECK(ok, "layer 0 and 1 boxes");
    CHECK(layers[0] == 0 && layers[1] == 1 && layers[4] == 1 && layers[5] == 2 && layers[20] == 2,
          "layers");
    const int32_t x0[4] = {0, 333, 666, 999}, y0[4] = {0, 208, 416, 624};
    const int32_t x1[4] = {503, 836, 1169, 1500}, y1[4] = {378, 586, 794, 1000};
    ok = 1;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            const int32_t *bx = boxes + 4 * (5 + a * 4 + b);
            ok &= bx[0] == x0[a] && bx[1] == y0[b] && bx[2] == x1[a] && bx[3] == y1[b];
        }
    CHECK(ok, "layer 2 boxes");
}

static void test_stability(void) {
    const float l[7] = {2.0f, 1.5f, 1.0f, 0.5f, -0.5f, -1.0f, -2.0f};
    /* > 1: 2 pixels; > -1: 5 pixels */
    CHECK(sam_amg_stability(l, 7, 1.0) == 2.0f / 5.0f, "2/5");
    const float none[2] = {-3.0f, -2.0f};
    CHECK(isnan(sam_amg_stability(none, 2, 1.0)), "0/0 is NaN");
    const float edge[3] = {0.1f, -0.1f, 0.2f};
    /* bounds rounded to float: 0.1f > 0.1f is false, -0.1f > -0.1f is false */
    CHECK(sam_amg_stability(edge, 3, 0.1) == 1.0f / 2.0f, "float bounds");
}

static void test_mask_box(void) {
    uint8_t m[5 * 6] = {0};
    int32_t box[4];
    sam_amg_mask_box(m, 6, 5, 6, box);
    CHECK(box[0] == 0 && box[1] == 0 && box[2] == 0 && box[3] == 0, "empty mask");
    m[1 * 6 + 4] = 1;
    m[3 * 6 + 2] = 1;
    m[2 * 6 + 3] = 1;
    sam_amg_mask_box(m, 6, 5, 6, box);
    CHECK(box[0] == 2 && box[1] == 1 && box[2] == 4 && box[3] == 3, "box %d %d %d %d", box[0],
          box[1], box[2], box[3]);
}

static void test_near_crop_edge(void) {
    const int32_t crop[4] = {580, 330, 1500, 1000};
    const int32_t a[4] = {0, 10, 100, 200};  /* x0 -> 580: at the crop's edge, far from 0 */
    const int32_t b[4] = {100, 100, 919, 669}; /* x1 -> 1499, y1 -> 999: image edges */
    const int32_t c[4] = {21, 21, 100, 100};   /* 21 px from the crop's edges: kept */
    const int32_t d[4] = {20, 21, 100, 100};   /* 20 px: dropped */
    CHECK(sam_amg_near_crop_edge(a, crop, 1500, 1000), "left edge of an inner crop");
    CHECK(!sam_amg_near_crop_edge(b, crop, 1500, 1000), "image edges are not crop edges");
    CHECK(!sam_amg_near_crop_edge(c, crop, 1500, 1000), "21 px away");
    CHECK(sam_amg_near_crop_edge(d, crop, 1500, 1000), "20 px away");
    const int32_t whole[4] = {0, 0, 1500, 1000};
    CHECK(!sam_amg_near_crop_edge(a, whole, 1500, 1000), "whole-image crop never drops");
}

static void test_nms(void) {
    am_error err = {0};
    int32_t keep[8], n = 0;
    /* C suppresses A (IoU 90/100 = 0.9); B stays (IoU with C 72/118, with A 81/119) */
    const float boxes[12] = {0, 0, 10, 10, 1, 1, 11, 11, 0, 0, 10, 9};
    const float scores[3] = {0.9f, 0.8f, 0.95f};
    CHECK_OK(sam_amg_nms(boxes, scores, 3, 0.7, keep, &n, &err));
    CHECK(n == 2 && keep[0] == 2 && keep[1] == 1, "kept %d: %d %d", n, keep[0], keep[1]);
    /* float IoU against a double threshold: 60/100 is 0.6f = 0.60000002 > 0.6 -> suppressed;
     * 70/100 is 0.7f = 0.69999999 < 0.7 -> kept */
    const float b6[8] = {0, 0, 10, 10, 0, 0, 10, 6};
    const float s2[2] = {0.9f, 0.8f};
    CHECK_OK(sam_amg_nms(b6, s2, 2, 0.6, keep, &n, &err));
    CHECK(n == 1 && keep[0] == 0, "IoU 0.6f > 0.6");
    const float b7[8] = {0, 0, 10, 10, 0, 0, 10, 7};
    CHECK_OK(sam_amg_nms(b7, s2, 2, 0.7, keep, &n, &err));
    CHECK(n == 2, "IoU 0.7f < 0.7");
    /* two zero-area boxes: 0 / 0 is NaN, which suppresses nothing */
    const float bz[8] = {5, 5, 5, 5, 5, 5, 5, 5};
    CHECK_OK(sam_amg_nms(bz, s2, 2, 0.7, keep, &n, &err));
    CHECK(n == 2, "NaN IoU keeps both");
    /* equal scores keep index order; identical boxes suppress the later one */
    const float bt[12] = {0, 0, 4, 4, 10, 10, 14, 14, 0, 0, 4, 4};
    const float st[3] = {0.5f, 0.5f, 0.5f};
    CHECK_OK(sam_amg_nms(bt, st, 3, 0.7, keep, &n, &err));
    CHECK(n == 2 && keep[0] == 0 && keep[1] == 1, "ties in index order");
    CHECK_OK(sam_amg_nms(bt, st, 0, 0.7, keep, &n, &err));
    CHECK(n == 0, "no boxes");
}

static void test_small_regions(void) {
    am_error err = {0};
    /* 7 x 6: a ring with a one-pixel hole, and a one-pixel island */
    const char *rows[6] = {"0000000", "0111001", "0101000", "0111000", "0000000", "0000000"};
    uint8_t m[42];
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 7; x++) m[y * 7 + x] = rows[y][x] == '1';
    int changed = 0;
    CHECK_OK(sam_amg_remove_small_regions(m, 7, 6, 2, 1, &changed, &err));
    CHECK(changed && m[2 * 7 + 2] == 1, "hole filled");
    CHECK_OK(sam_amg_remove_small_regions(m, 7, 6, 2, 0, &changed, &err));
    CHECK(changed && m[1 * 7 + 6] == 0 && m[1 * 7 + 1] == 1, "island removed, ring kept");
    CHECK_OK(sam_amg_remove_small_regions(m, 7, 6, 2, 0, &changed, &err));
    CHECK(!changed, "nothing small left");
    /* the background itself is a hole when smaller than the area */
    uint8_t full[9] = {1, 1, 1, 1, 1, 1, 1, 1, 0};
    CHECK_OK(sam_amg_remove_small_regions(full, 3, 3, 2, 1, &changed, &err));
    CHECK(changed && full[8] == 1, "small background filled");
    /* all islands small: the largest stays; on a tie the first in block order (the block
     * row holds rows 0-1, so the island starting at row 1 column 0 comes first) */
    const char *r2[4] = {"00011", "10000", "10000", "00000"};
    uint8_t t[20];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++) t[y * 5 + x] = r2[y][x] == '1';
    CHECK_OK(sam_amg_remove_small_regions(t, 5, 4, 5, 0, &changed, &err));
    CHECK(changed && t[5] == 1 && t[10] == 1 && t[3] == 0 && t[4] == 0, "tie: first block kept");
}

/* ------------------------------------------------------------------------ */
/* The generator against the reference                                      */
/* ------------------------------------------------------------------------ */

static const void *tensor(am_weights *w, const char *name) {
    const void *p = NULL;
    am_error err = {0};
    if (am_weights_get_raw(w, name, &p, NULL, &err) != AM_OK) return NULL;
    return p;
}

/* The 48 candidates the observer reports, checked against amg.cand.*. */
typedef struct {
    am_weights *cases;
    int32_t n;
    double worst_lowres, worst_iou, worst_point;
    int stability_mismatch;
} observed;

static void on_candidate(void *user, int32_t crop, const double point[2], float iou,
                         const float *lowres, float stability) {
    observed *o = user;
    const float *pts = tensor(o->cases, "amg.cand.points");
    const float *lr = tensor(o->cases, "amg.cand.lowres");
    const float *ious = tensor(o->cases, "amg.cand.iou");
    const float *stab = tensor(o->cases, "amg.cand.stability");
    const int32_t i = o->n++;
    if (crop != 0 || i >= 48 || !pts || !lr || !ious || !stab) return;
    double e = fabs(point[0] - pts[2 * i]) + fabs(point[1] - pts[2 * i + 1]);
    o->worst_point = e > o->worst_point ? e : o->worst_point;
    e = fabs(iou - ious[i]);
    o->worst_iou = e > o->worst_iou ? e : o->worst_iou;
    for (int k = 0; k < 32 * 32; k++) {
        e = fabs(lowres[k] - lr[(int64_t)i * 1024 + k]);
        o->worst_lowres = e > o->worst_lowres ? e : o->worst_lowres;
    }
    /* a pixel next to logit +-1 may cross in another build: the decisions must
     * agree, the values within a few pixels' worth */
    const uint8_t *keep_iou = tensor(o->cases, "amg.cand.keep_iou");
    const uint8_t *keep_stab = tensor(o->cases, "amg.cand.keep_stability");
    if (keep_iou && keep_stab &&
        ((iou > 0.39f) != keep_iou[i] || (stability >= 0.45f) != keep_stab[i] ||
         !(fabsf(stability - stab[i]) <= 1e-3f))) {
        o->stability_mismatch++;
        printf("candidate %d: stability %.9g, reference %.9g\n", i, stability, stab[i]);
    }
}

/* Records must describe their masks: area, box. */
static int records_consistent(const am_sam_masks *m) {
    int ok = 1;
    for (int32_t i = 0; i < m->count; i++) {
        const am_sam_mask *r = &m->masks[i];
        int64_t area = 0;
        for (int64_t q = 0; q < (int64_t)m->width * m->height; q++) area += r->mask[q];
        int32_t box[4];
        sam_amg_mask_box(r->mask, m->width, m->height, m->width, box);
        ok &= area == r->area && box[0] == r->bbox[0] && box[1] == r->bbox[1] &&
              box[2] - box[0] == r->bbox[2] && box[3] - box[1] == r->bbox[3];
    }
    return ok;
}

static void test_generator(void) {
    am_error err = {0};
    am_weights *cases = NULL;
    CHECK_OK(am_weights_open(check_shared_path("vectors/sam-tiny/cases.safetensors"), &cases,
                             &err));
    am_sam *sam = NULL;
    CHECK_OK(am_sam_load(check_shared_path("vectors/sam-tiny/model.safetensors"), NULL, &sam,
                         &err));
    if (!cases || !sam) {
        am_sam_free(sam);
        am_weights_close(cases);
        return;
    }
    const uint8_t *pixels = tensor(cases, "pre.image");
    am_image img = {.width = 150, .height = 100, .data = (uint8_t *)pixels};
    am_amg_params p = am_amg_default_params();
    p.points_per_side = 4;
    p.points_per_batch = 16;
    p.pred_iou_thresh = 0.39;
    p.stability_score_thresh = 0.45;
    observed obs = {.cases = cases};
    sam_amg_observer observer = {on_candidate, &obs};
    am_sam_masks out;
    CHECK_OK(sam_amg_generate(sam, &img, &p, &observer, &out, &err));
    printf("generator: %d candidates, lowres %.3g, iou %.3g, points %.3g, %d stability "
           "mismatches\n",
           obs.n, obs.worst_lowres, obs.worst_iou, obs.worst_point, obs.stability_mismatch);
    CHECK(obs.n == 48, "%d candidates", obs.n);
    CHECK(obs.worst_lowres <= 1e-3 && obs.worst_iou <= 1e-4 && obs.worst_point == 0.0,
          "candidates");
    CHECK(obs.stability_mismatch == 0, "candidate filter decisions and stability");
    const int32_t *bbox = tensor(cases, "amg.bbox"), *area = tensor(cases, "amg.area");
    const int32_t *crop = tensor(cases, "amg.crop_box");
    const float *iou = tensor(cases, "amg.iou"), *stab = tensor(cases, "amg.stability");
    const float *pts = tensor(cases, "amg.points"), *logits = tensor(cases, "amg.logits");
    const uint8_t *masks = tensor(cases, "amg.masks");
    const am_tensor_info *ti = am_weights_find(cases, "amg.area");
    const int32_t M = ti ? (int32_t)ti->numel : -1;
    CHECK(out.count == M, "%d masks, reference %d", out.count, M);
    double worst_iou = 0, worst_stab = 0;
    int64_t bad_pixels = 0, near_pixels = 0;
    for (int32_t i = 0; i < out.count && i < M; i++) {
        const am_sam_mask *r = &out.masks[i];
        int same = r->area == area[i];
        for (int k = 0; k < 4; k++) same &= r->bbox[k] == bbox[4 * i + k] && r->crop_box[k] == crop[4 * i + k];
        same &= r->point[0] == pts[2 * i] && r->point[1] == pts[2 * i + 1];
        CHECK(same, "mask %d: area %lld box %d %d %d %d point %g %g", i, (long long)r->area,
              r->bbox[0], r->bbox[1], r->bbox[2], r->bbox[3], r->point[0], r->point[1]);
        worst_iou = fmax(worst_iou, fabs(r->predicted_iou - iou[i]));
        worst_stab = fmax(worst_stab, fabs(r->stability_score - stab[i]));
        for (int64_t q = 0; q < 100 * 150; q++)
            if (r->mask[q] != masks[(int64_t)i * 15000 + q]) {
                if (fabsf(logits[(int64_t)i * 15000 + q]) < 1e-3f) near_pixels++;
                else bad_pixels++;
            }
    }
    printf("generator: %d masks, iou %.3g, stability %.3g, %lld differing pixels (%lld near 0)\n",
           out.count, worst_iou, worst_stab, (long long)(bad_pixels + near_pixels),
           (long long)near_pixels);
    CHECK(worst_iou <= 1e-5 && worst_stab <= 1e-5, "iou %g stability %g", worst_iou, worst_stab);
    CHECK(bad_pixels == 0, "%lld mask pixels differ away from the threshold", (long long)bad_pixels);
    CHECK(records_consistent(&out), "records describe their masks");
    am_sam_masks_free(&out);

    /* crop layers and the clean-up run and stay consistent */
    p.crop_n_layers = 1;
    p.min_mask_region_area = 30;
    CHECK_OK(am_sam_generate(sam, &img, &p, &out, &err));
    int inside = 1;
    for (int32_t i = 0; i < out.count; i++)
        inside &= out.masks[i].crop_box[0] >= 0 && out.masks[i].crop_box[2] <= 150;
    CHECK(records_consistent(&out) && inside, "crop layers + clean-up records");
    printf("generator with 1 crop layer and clean-up: %d masks\n", out.count);
    am_sam_masks_free(&out);
    /* refusals */
    p = am_amg_default_params();
    p.points_per_batch = 0;
    CHECK(am_sam_generate(sam, &img, &p, &out, &err) == AM_ERR_ARGUMENT, "batch 0 refused");
    p = am_amg_default_params();
    p.crop_n_layers = 1;
    p.crop_n_points_downscale_factor = 64;
    CHECK(am_sam_generate(sam, &img, &p, &out, &err) == AM_ERR_ARGUMENT,
          "a layer without points refused");
    am_sam_free(sam);
    am_weights_close(cases);
}

int main(void) {
    test_point_grid();
    test_crop_boxes();
    test_stability();
    test_mask_box();
    test_near_crop_edge();
    test_nms();
    test_small_regions();
    test_generator();
    return check_summary();
}
