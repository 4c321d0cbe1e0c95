/* sam_amg.c - SamAutomaticMaskGenerator, step by step as notes/sam.md 5
 * describes it, with every rounding rule of the official code.
 *
 * Per crop: encode the crop; decode the grid points in batches; filter on
 * the predicted IoU before anything is upscaled (only prompts with a
 * surviving mask are upscaled, and only those masks); upscale the survivors
 * to the crop (in parallel), compute the stability score, binarise, box,
 * drop masks near a crop edge; NMS within the crop.  Then NMS across crops,
 * the optional small-region clean-up, and the records.  A candidate keeps
 * only the part of its mask inside its box until the records are built. */
#include "sam/sam_amg.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "sam/sam_model.h"
#include "sam/sam_postprocess.h"

#define EDGE_TOLERANCE 20
#define MAX_CROP_LAYERS 4
#define MAX_BATCH 1024

am_amg_params am_amg_default_params(void) {
    am_amg_params p = {
        .points_per_side = 32,
        .points_per_batch = 64,
        .pred_iou_thresh = 0.88,
        .stability_score_thresh = 0.95,
        .stability_score_offset = 1.0,
        .box_nms_thresh = 0.7,
        .crop_n_layers = 0,
        .crop_nms_thresh = 0.7,
        .crop_overlap_ratio = 512.0 / 1500.0,
        .crop_n_points_downscale_factor = 1,
        .point_grids = NULL,
        .point_grid_sizes = NULL,
        .min_mask_region_area = 0,
    };
    return p;
}

void am_sam_masks_free(am_sam_masks *masks) {
    if (!masks) return;
    for (int32_t i = 0; i < masks->count; i++) free(masks->masks[i].mask);
    free(masks->masks);
    memset(masks, 0, sizeof *masks);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

void sam_amg_point_grid(int32_t n, double *xy) {
    const double offset = 1.0 / (2.0 * n);
    const double start = offset, stop = 1.0 - offset;
    const double step = n > 1 ? (stop - start) / (double)(n - 1) : 0.0;
    for (int32_t i = 0; i < n; i++) {
        double vi = (double)i * step;
        vi += start;
        if (n > 1 && i == n - 1) vi = stop;
        for (int32_t j = 0; j < n; j++) {
            double vj = (double)j * step;
            vj += start;
            if (n > 1 && j == n - 1) vj = stop;
            xy[2 * ((int64_t)i * n + j)] = vj;
            xy[2 * ((int64_t)i * n + j) + 1] = vi;
        }
    }
}

int32_t sam_amg_crop_count(int32_t n_layers) {
    int32_t n = 1;
    for (int32_t l = 1; l <= n_layers; l++) n += 1 << (2 * l);
    return n;
}

/* ceil((overlap (n - 1) + len) / n) as Python computes it. */
static int32_t crop_len(int32_t len, int32_t n, int32_t overlap) {
    return (int32_t)ceil((double)((int64_t)overlap * (n - 1) + len) / (double)n);
}

void sam_amg_crop_boxes(int32_t width, int32_t height, int32_t n_layers, double overlap_ratio,
                        int32_t *boxes, int32_t *layers) {
    int32_t k = 0;
    boxes[0] = 0;
    boxes[1] = 0;
    boxes[2] = width;
    boxes[3] = height;
    layers[k++] = 0;
    const int32_t short_side = width < height ? width : height;
    for (int32_t l = 0; l < n_layers; l++) {
        const int32_t m = 1 << (l + 1);
        const int32_t overlap = (int32_t)(overlap_ratio * short_side * (2.0 / m));
        const int32_t cw = crop_len(width, m, overlap), ch = crop_len(height, m, overlap);
        for (int32_t a = 0; a < m; a++)
            for (int32_t b = 0; b < m; b++) {
                const int32_t x0 = (cw - overlap) * a, y0 = (ch - overlap) * b;
                int32_t *box = boxes + 4 * k;
                box[0] = x0;
                box[1] = y0;
                box[2] = x0 + cw < width ? x0 + cw : width;
                box[3] = y0 + ch < height ? y0 + ch : height;
                layers[k++] = l + 1;
            }
    }
}

float sam_amg_stability(const float *logits, int64_t n, double offset) {
    const float hi = (float)(0.0 + offset), lo = (float)(0.0 - offset);
    int64_t inter = 0, uni = 0;
#pragma omp simd reduction(+ : inter, uni)
    for (int64_t i = 0; i < n; i++) {
        inter += logits[i] > hi;
        uni += logits[i] > lo;
    }
    return (float)inter / (float)uni;
}

void sam_amg_mask_box(const uint8_t *mask, int32_t width, int32_t height, int64_t stride,
                      int32_t box[4]) {
    int32_t x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (int32_t y = 0; y < height; y++) {
        const uint8_t *row = mask + y * stride;
        int32_t first = -1, last = -1;
        for (int32_t x = 0; x < width; x++)
            if (row[x]) {
                if (first < 0) first = x;
                last = x;
            }
        if (first < 0) continue;
        if (y0 == height) y0 = y;
        y1 = y;
        x0 = first < x0 ? first : x0;
        x1 = last > x1 ? last : x1;
    }
    if (x1 < 0) {
        box[0] = box[1] = box[2] = box[3] = 0;
        return;
    }
    box[0] = x0;
    box[1] = y0;
    box[2] = x1;
    box[3] = y1;
}

int sam_amg_near_crop_edge(const int32_t box[4], const int32_t crop[4], int32_t width,
                           int32_t height) {
    const int64_t image[4] = {0, 0, width, height};
    for (int k = 0; k < 4; k++) {
        const int64_t b = (int64_t)box[k] + (k % 2 == 0 ? crop[0] : crop[1]);
        const int64_t dc = b - crop[k], di = b - image[k];
        const int near_crop = dc <= EDGE_TOLERANCE && dc >= -EDGE_TOLERANCE;
        const int near_image = di <= EDGE_TOLERANCE && di >= -EDGE_TOLERANCE;
        if (near_crop && !near_image) return 1;
    }
    return 0;
}

/* Sort key of the NMS: descending score (NaN first, as torch sorts it),
 * ties in index order (a stable sort). */
typedef struct {
    float score;
    int32_t index;
} scored;

static int by_score_desc(const void *pa, const void *pb) {
    const scored *a = pa, *b = pb;
    const int na = isnan(a->score), nb = isnan(b->score);
    if (na != nb) return na ? -1 : 1;
    if (!na && a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

am_status sam_amg_nms(const float *boxes, const float *scores, int32_t n, double thresh,
                      int32_t *keep, int32_t *n_keep, am_error *err) {
    *n_keep = 0;
    if (n <= 0) return AM_OK;
    scored *order = am_alloc((size_t)n, sizeof *order, err);
    float *areas = order ? am_alloc((size_t)n, sizeof *areas, err) : NULL;
    uint8_t *suppressed = areas ? am_calloc((size_t)n, 1, err) : NULL;
    if (!suppressed) {
        am_free(order);
        am_free(areas);
        return AM_ERR_NOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        order[i] = (scored){scores[i], i};
        const float *b = boxes + 4 * (int64_t)i;
        areas[i] = (b[2] - b[0]) * (b[3] - b[1]);
    }
    qsort(order, (size_t)n, sizeof *order, by_score_desc);
    int32_t k = 0;
    for (int32_t a = 0; a < n; a++) {
        const int32_t i = order[a].index;
        if (suppressed[i]) continue;
        keep[k++] = i;
        const float *bi = boxes + 4 * (int64_t)i;
        for (int32_t c = a + 1; c < n; c++) {
            const int32_t j = order[c].index;
            if (suppressed[j]) continue;
            const float *bj = boxes + 4 * (int64_t)j;
            const float xx1 = bi[0] > bj[0] ? bi[0] : bj[0];
            const float yy1 = bi[1] > bj[1] ? bi[1] : bj[1];
            const float xx2 = bi[2] < bj[2] ? bi[2] : bj[2];
            const float yy2 = bi[3] < bj[3] ? bi[3] : bj[3];
            const float w = xx2 - xx1 > 0.0f ? xx2 - xx1 : 0.0f;
            const float h = yy2 - yy1 > 0.0f ? yy2 - yy1 : 0.0f;
            const float inter = w * h;
            const float ovr = inter / (areas[i] + areas[j] - inter);
            if ((double)ovr > thresh) suppressed[j] = 1;
        }
    }
    *n_keep = k;
    am_free(order);
    am_free(areas);
    am_free(suppressed);
    return AM_OK;
}

/* 8-connected components of the nonzero pixels of fg [h][w]: labels (0 for
 * background, components 1..n in OpenCV's order: by the first 2x2 block,
 * in block raster order, that holds a pixel of the component), sizes[1..n]. */
static am_status components(const uint8_t *fg, int32_t w, int32_t h, int32_t *labels,
                            int32_t *n_out, int64_t **sizes_out, am_error *err) {
    const int64_t npix = (int64_t)w * h;
    int32_t *stack = am_alloc((size_t)npix, sizeof *stack, err);
    int64_t *first = stack ? am_alloc((size_t)npix + 1, sizeof *first, err) : NULL;
    if (!first) {
        am_free(stack);
        return AM_ERR_NOMEM;
    }
    memset(labels, 0, (size_t)npix * sizeof *labels);
    const int64_t bw = (w + 1) / 2;
    int32_t n = 0;
    for (int64_t p = 0; p < npix; p++) {
        if (!fg[p] || labels[p]) continue;
        const int32_t id = ++n;
        int64_t top = 0, key = INT64_MAX;
        stack[top++] = (int32_t)p;
        labels[p] = id;
        while (top) {
            const int64_t q = stack[--top];
            const int32_t y = (int32_t)(q / w), x = (int32_t)(q % w);
            const int64_t k = (int64_t)(y / 2) * bw + x / 2;
            key = k < key ? k : key;
            for (int32_t dy = -1; dy <= 1; dy++)
                for (int32_t dx = -1; dx <= 1; dx++) {
                    const int32_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    const int64_t r = (int64_t)yy * w + xx;
                    if (fg[r] && !labels[r]) {
                        labels[r] = id;
                        stack[top++] = (int32_t)r;
                    }
                }
        }
        first[id] = key;
    }
    /* renumber by the first block */
    int32_t *order = am_alloc((size_t)n + 1, sizeof *order, err);
    int32_t *rank = order ? am_alloc((size_t)n + 1, sizeof *rank, err) : NULL;
    int64_t *sizes = rank ? am_calloc((size_t)n + 1, sizeof *sizes, err) : NULL;
    if (!sizes) {
        am_free(stack);
        am_free(first);
        am_free(order);
        am_free(rank);
        return AM_ERR_NOMEM;
    }
    for (int32_t i = 0; i < n; i++) order[i] = i + 1;
    /* insertion by key: components are few; keys are distinct (one per block) */
    for (int32_t i = 1; i < n; i++) {
        const int32_t v = order[i];
        int32_t j = i - 1;
        while (j >= 0 && first[order[j]] > first[v]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    for (int32_t i = 0; i < n; i++) rank[order[i]] = i + 1;
    for (int64_t p = 0; p < npix; p++)
        if (labels[p]) {
            labels[p] = rank[labels[p]];
            sizes[labels[p]]++;
        }
    am_free(stack);
    am_free(first);
    am_free(order);
    am_free(rank);
    *n_out = n;
    *sizes_out = sizes;
    return AM_OK;
}

am_status sam_amg_remove_small_regions(uint8_t *mask, int32_t width, int32_t height,
                                       int64_t area, int holes, int *changed, am_error *err) {
    *changed = 0;
    const int64_t npix = (int64_t)width * height;
    uint8_t *fg = am_alloc((size_t)npix, 1, err);
    int32_t *labels = fg ? am_alloc((size_t)npix, sizeof *labels, err) : NULL;
    if (!labels) {
        am_free(fg);
        return AM_ERR_NOMEM;
    }
    for (int64_t p = 0; p < npix; p++) fg[p] = holes ? !mask[p] : mask[p] != 0;
    int32_t n = 0;
    int64_t *sizes = NULL;
    am_status st = components(fg, width, height, labels, &n, &sizes, err);
    uint8_t *fill = st == AM_OK ? am_calloc((size_t)n + 1, 1, err) : NULL;
    if (st == AM_OK && !fill) st = AM_ERR_NOMEM;
    if (st == AM_OK) {
        int any_small = 0;
        for (int32_t i = 1; i <= n; i++) {
            fill[i] = sizes[i] < area;
            any_small |= fill[i];
        }
        if (any_small) {
            *changed = 1;
            if (holes) {
                for (int64_t p = 0; p < npix; p++)
                    if (labels[p] && fill[labels[p]]) mask[p] = 1;
            } else {
                int32_t kept = 0, largest = 0;
                for (int32_t i = 1; i <= n; i++) {
                    kept += !fill[i];
                    if (!largest || sizes[i] > sizes[largest]) largest = i;
                }
                for (int64_t p = 0; p < npix; p++) {
                    const int32_t l = labels[p];
                    mask[p] = l && (kept ? !fill[l] : l == largest);
                }
            }
        }
    }
    am_free(fill);
    am_free(sizes);
    am_free(fg);
    am_free(labels);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The generator                                                             */
/* ------------------------------------------------------------------------ */

/* A mask that passed the filters: its box (inclusive; crop coordinates until
 * its crop is done, then image coordinates) and the pixels inside the box. */
typedef struct {
    int32_t box[4];
    float iou, stability;
    double point[2];
    int32_t crop[4]; /* x0, y0, x1, y1 */
    uint8_t *bits;   /* (box[2]-box[0]+1) x (box[3]-box[1]+1); NULL when empty */
    int64_t area;
} candidate;

typedef struct {
    candidate *items;
    int32_t count, cap;
} cand_list;

static void cand_list_free(cand_list *l) {
    for (int32_t i = 0; i < l->count; i++) free(l->items[i].bits);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static am_status cand_push(cand_list *l, const candidate *c, am_error *err) {
    if (l->count == l->cap) {
        const int32_t cap = l->cap ? 2 * l->cap : 256;
        candidate *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = *c;
    return AM_OK;
}

/* Keeps only the candidates listed in keep (in that order), freeing the rest. */
static am_status cand_select(cand_list *l, const int32_t *keep, int32_t n_keep, am_error *err) {
    candidate *items = malloc((size_t)(n_keep ? n_keep : 1) * sizeof *items);
    uint8_t *used = calloc((size_t)l->count + 1, 1);
    if (!items || !used) {
        free(items);
        free(used);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < n_keep; i++) {
        items[i] = l->items[keep[i]];
        used[keep[i]] = 1;
    }
    for (int32_t i = 0; i < l->count; i++)
        if (!used[i]) free(l->items[i].bits);
    free(l->items);
    free(used);
    l->items = items;
    l->count = n_keep;
    l->cap = n_keep ? n_keep : 1;
    return AM_OK;
}

/* NMS over the list's boxes (as float32) with the given scores. */
static am_status cand_nms(cand_list *l, const float *scores, double thresh, am_error *err) {
    if (l->count == 0) return AM_OK;
    float *boxes = am_alloc((size_t)l->count * 4, sizeof *boxes, err);
    int32_t *keep = boxes ? am_alloc((size_t)l->count, sizeof *keep, err) : NULL;
    if (!keep) {
        am_free(boxes);
        return AM_ERR_NOMEM;
    }
    for (int32_t i = 0; i < l->count; i++)
        for (int k = 0; k < 4; k++) boxes[4 * i + k] = (float)l->items[i].box[k];
    int32_t n_keep = 0;
    am_status st = sam_amg_nms(boxes, scores, l->count, thresh, keep, &n_keep, err);
    if (st == AM_OK) st = cand_select(l, keep, n_keep, err);
    am_free(boxes);
    am_free(keep);
    return st;
}

/* Checks the parameters and builds the point grid of every crop layer. */
static am_status make_grids(const am_amg_params *p, double **grids, int32_t *sizes,
                            am_error *err) {
    const int own = p->points_per_side > 0;
    if (own == (p->point_grids != NULL))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM generator: give exactly one of points_per_side (%d) and "
                            "point_grids",
                            (int)p->points_per_side);
    if (!own && !p->point_grid_sizes)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM generator: point_grids without sizes");
    for (int32_t l = 0; l <= p->crop_n_layers; l++) {
        int32_t n;
        if (own) {
            const double div = pow((double)p->crop_n_points_downscale_factor, (double)l);
            const int32_t side = (int32_t)((double)p->points_per_side / div);
            if (side < 1 || side > 1024)
                return am_error_set(err, AM_ERR_ARGUMENT,
                                    "SAM generator: crop layer %d would have %d points per side",
                                    (int)l, (int)side);
            n = side * side;
        } else {
            n = p->point_grid_sizes[l];
            if (n < 0 || n > 1048576 || (n > 0 && !p->point_grids[l]))
                return am_error_set(err, AM_ERR_ARGUMENT,
                                    "SAM generator: point grid %d has %d points", (int)l, (int)n);
        }
        grids[l] = am_alloc((size_t)(n ? n : 1) * 2, sizeof(double), err);
        if (!grids[l]) return AM_ERR_NOMEM;
        sizes[l] = n;
        if (own) {
            sam_amg_point_grid((int32_t)sqrt((double)n), grids[l]);
        } else {
            for (int32_t i = 0; i < 2 * n; i++) {
                const double v = p->point_grids[l][i];
                if (!isfinite(v))
                    return am_error_set(err, AM_ERR_ARGUMENT,
                                        "SAM generator: point grid %d has a non-finite value",
                                        (int)l);
                grids[l][i] = v;
            }
        }
    }
    return AM_OK;
}

static am_status check_params(const am_amg_params *p, const am_image *image, am_error *err) {
    if (!image || !image->data || image->width < 1 || image->height < 1)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM generator: empty image");
    const double t[] = {p->pred_iou_thresh, p->stability_score_thresh,
                        p->stability_score_offset, p->box_nms_thresh, p->crop_nms_thresh,
                        p->crop_overlap_ratio};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!isfinite(t[i]))
            return am_error_set(err, AM_ERR_ARGUMENT, "SAM generator: a threshold is not finite");
    if (p->points_per_batch < 1 || p->points_per_batch > MAX_BATCH)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM generator: points_per_batch %d (1..%d)",
                            (int)p->points_per_batch, MAX_BATCH);
    if (p->crop_n_layers < 0 || p->crop_n_layers > MAX_CROP_LAYERS)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM generator: crop_n_layers %d (0..%d)",
                            (int)p->crop_n_layers, MAX_CROP_LAYERS);
    if (p->crop_n_points_downscale_factor < 1 || p->crop_n_points_downscale_factor > 1024)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM generator: crop_n_points_downscale_factor %d",
                            (int)p->crop_n_points_downscale_factor);
    if (p->crop_overlap_ratio < 0.0 || p->crop_overlap_ratio >= 1.0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "SAM generator: crop_overlap_ratio %g (0 <= ratio < 1)",
                            p->crop_overlap_ratio);
    if (p->min_mask_region_area < 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "SAM generator: min_mask_region_area %lld",
                            (long long)p->min_mask_region_area);
    return AM_OK;
}

/* What the upscaling of one surviving (or observed) candidate produces. */
typedef struct {
    int32_t prompt, token;
    int keep; /* passed the IoU filter */
    float stability;
    int pass; /* passed every filter: c is filled */
    candidate c;
} upscaled;

/* State of one crop's decoding. */
typedef struct {
    am_sam *sam;
    const am_amg_params *p;
    const sam_amg_observer *obs;
    int32_t crop_index;
    int32_t crop[4];
    int32_t cw, ch;       /* crop size */
    int32_t S, in_h, in_w; /* model frame */
    int32_t width, height; /* image size */
} crop_ctx;

/* Upscales one candidate's low-res logits to the crop and applies the
 * stability filter, binarisation, box and crop-edge filter. */
static int upscale_one(const crop_ctx *cx, const float *lowres, int32_t L, float *logits,
                       float *scratch, upscaled *u) {
    sam_postprocess_logits(lowres, L, cx->S, cx->in_h, cx->in_w, cx->ch, cx->cw, logits,
                           scratch);
    const int64_t npix = (int64_t)cx->cw * cx->ch;
    u->stability = sam_amg_stability(logits, npix, cx->p->stability_score_offset);
    u->pass = 0;
    if (!u->keep) return 0;
    if (cx->p->stability_score_thresh > 0.0 &&
        !(u->stability >= (float)cx->p->stability_score_thresh))
        return 0;
    int32_t x0 = cx->cw, y0 = cx->ch, x1 = -1, y1 = -1;
    int64_t area = 0;
    for (int32_t y = 0; y < cx->ch; y++) {
        const float *row = logits + (int64_t)y * cx->cw;
        int32_t first = -1, last = -1;
        for (int32_t x = 0; x < cx->cw; x++)
            if (row[x] > 0.0f) {
                if (first < 0) first = x;
                last = x;
                area++;
            }
        if (first < 0) continue;
        if (y0 == cx->ch) y0 = y;
        y1 = y;
        x0 = first < x0 ? first : x0;
        x1 = last > x1 ? last : x1;
    }
    candidate *c = &u->c;
    memset(c, 0, sizeof *c);
    if (x1 < 0) {
        c->box[0] = c->box[1] = c->box[2] = c->box[3] = 0;
    } else {
        c->box[0] = x0;
        c->box[1] = y0;
        c->box[2] = x1;
        c->box[3] = y1;
    }
    if (sam_amg_near_crop_edge(c->box, cx->crop, cx->width, cx->height)) return 0;
    c->area = area;
    if (area) {
        const int32_t bw = x1 - x0 + 1, bh = y1 - y0 + 1;
        c->bits = malloc((size_t)bw * bh);
        if (!c->bits) return -1;
        for (int32_t y = 0; y < bh; y++) {
            const float *row = logits + (int64_t)(y0 + y) * cx->cw + x0;
            for (int32_t x = 0; x < bw; x++) c->bits[(int64_t)y * bw + x] = row[x] > 0.0f;
        }
    }
    u->pass = 1;
    return 0;
}

/* Decodes the crop's points in batches and collects what passes. */
static am_status decode_crop(crop_ctx *cx, const double *grid, int32_t n_points,
                             cand_list *out, am_error *err) {
    sam_decoder *dec = sam_model_decoder(cx->sam);
    const sam_decoder_config *dc = sam_decoder_get_config(dec);
    const int32_t D = dc->embed_dim, M = dc->num_mask_tokens, L = sam_decoder_lowres_size(dec);
    const int32_t B = cx->p->points_per_batch, per = M - 1;
    const int threads = omp_get_max_threads();
    const int64_t npix = (int64_t)cx->cw * cx->ch;
    const int64_t pp = sam_postprocess_scratch_floats(L, cx->S, cx->in_h, cx->in_w, cx->ch, cx->cw);
    float *sparse = am_alloc((size_t)B * 2 * D, sizeof *sparse, err);
    float *iou = sparse ? am_alloc((size_t)B * M, sizeof *iou, err) : NULL;
    double *points = iou ? am_alloc((size_t)B * 2, sizeof *points, err) : NULL;
    upscaled *ups = points ? am_alloc((size_t)B * per, sizeof *ups, err) : NULL;
    float *lowres = ups ? am_alloc((size_t)B * per * L * L, sizeof *lowres, err) : NULL;
    float *work = lowres ? am_alloc((size_t)threads * (npix + pp), sizeof *work, err) : NULL;
    am_status st = work ? AM_OK : AM_ERR_NOMEM;
    const float iou_thresh = (float)cx->p->pred_iou_thresh;
    for (int32_t b0 = 0; st == AM_OK && b0 < n_points; b0 += B) {
        const int32_t nb = n_points - b0 < B ? n_points - b0 : B;
        for (int32_t i = 0; st == AM_OK && i < nb; i++) {
            const double x = grid[2 * (int64_t)(b0 + i)] * cx->cw;
            const double y = grid[2 * (int64_t)(b0 + i) + 1] * cx->ch;
            points[2 * i] = x;
            points[2 * i + 1] = y;
            const float uv[2] = {(float)((x * ((double)cx->in_w / cx->cw) + 0.5) / cx->S),
                                 (float)((y * ((double)cx->in_h / cx->ch) + 0.5) / cx->S)};
            const int32_t one = 1;
            int32_t ns = 0;
            st = sam_decoder_embed_sparse(dec, uv, &one, 1, NULL, sparse + (int64_t)i * 2 * D,
                                          &ns, err);
        }
        const uint32_t multimask = ((1u << M) - 1u) & ~1u;
        if (st == AM_OK) st = sam_decoder_run(dec, sparse, nb, 2, NULL, multimask, iou, NULL, err);
        /* the IoU filter, then the low-res masks of what must be upscaled */
        int32_t nu = 0;
        for (int32_t i = 0; st == AM_OK && i < nb; i++) {
            uint32_t bits = 0;
            const int32_t first = nu;
            for (int32_t t = 1; t < M; t++) {
                const int keep = !(cx->p->pred_iou_thresh > 0.0) || iou[i * M + t] > iou_thresh;
                if (!keep && !cx->obs) continue;
                ups[nu++] = (upscaled){.prompt = i, .token = t, .keep = keep};
                bits |= 1u << t;
            }
            if (bits)
                st = sam_decoder_masks(dec, i, bits, lowres + (int64_t)first * L * L, err);
        }
        if (st != AM_OK) break;
        int failed = 0;
#pragma omp parallel for schedule(dynamic)
        for (int32_t k = 0; k < nu; k++) {
            float *w = work + (int64_t)omp_get_thread_num() * (npix + pp);
            if (upscale_one(cx, lowres + (int64_t)k * L * L, L, w, w + npix, &ups[k]) != 0) {
#pragma omp atomic write
                failed = 1;
            }
        }
        for (int32_t k = 0; k < nu; k++) {
            upscaled *u = &ups[k];
            const double *pt = points + 2 * u->prompt;
            if (cx->obs)
                cx->obs->candidate(cx->obs->user, cx->crop_index, pt, iou[u->prompt * M + u->token],
                                   lowres + (int64_t)k * L * L, u->stability);
            if (!u->pass) continue;
            if (failed || st != AM_OK) {
                free(u->c.bits);
                continue;
            }
            u->c.iou = iou[u->prompt * M + u->token];
            u->c.stability = u->stability;
            u->c.point[0] = pt[0];
            u->c.point[1] = pt[1];
            memcpy(u->c.crop, cx->crop, sizeof u->c.crop);
            st = cand_push(out, &u->c, err);
            if (st != AM_OK) free(u->c.bits);
        }
        if (failed && st == AM_OK) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    am_free(sparse);
    am_free(iou);
    am_free(points);
    am_free(ups);
    am_free(lowres);
    am_free(work);
    return st;
}

/* One crop: encode it, decode its grid, NMS within the crop, shift to
 * image coordinates, append to `all`. */
static am_status process_crop(am_sam *sam, const am_image *image, const am_amg_params *p,
                              const sam_amg_observer *obs, int32_t index, const int32_t crop[4],
                              const double *grid, int32_t n_points, cand_list *all,
                              am_error *err) {
    crop_ctx cx = {.sam = sam, .p = p, .obs = obs, .crop_index = index,
                   .cw = crop[2] - crop[0], .ch = crop[3] - crop[1],
                   .width = image->width, .height = image->height};
    memcpy(cx.crop, crop, sizeof cx.crop);
    am_image sub = *image;
    uint8_t *copy = NULL;
    if (cx.cw != image->width || cx.ch != image->height) {
        copy = am_alloc((size_t)cx.cw * cx.ch, 3, err);
        if (!copy) return AM_ERR_NOMEM;
        for (int32_t y = 0; y < cx.ch; y++)
            memcpy(copy + (int64_t)y * cx.cw * 3,
                   image->data + ((int64_t)(crop[1] + y) * image->width + crop[0]) * 3,
                   (size_t)cx.cw * 3);
        sub = (am_image){.width = cx.cw, .height = cx.ch, .data = copy};
    }
    am_status st = am_sam_set_image(sam, &sub, err);
    am_free(copy);
    if (st != AM_OK) return st;
    sam_model_frame(sam, &cx.S, &cx.in_h, &cx.in_w);
    cand_list here = {0};
    st = decode_crop(&cx, grid, n_points, &here, err);
    float *scores = st == AM_OK ? am_alloc((size_t)(here.count + 1), sizeof *scores, err) : NULL;
    if (st == AM_OK && !scores) st = AM_ERR_NOMEM;
    if (st == AM_OK) {
        for (int32_t i = 0; i < here.count; i++) scores[i] = here.items[i].iou;
        st = cand_nms(&here, scores, p->box_nms_thresh, err);
    }
    am_free(scores);
    for (int32_t i = 0; st == AM_OK && i < here.count; i++) {
        candidate c = here.items[i];
        c.box[0] += crop[0];
        c.box[1] += crop[1];
        c.box[2] += crop[0];
        c.box[3] += crop[1];
        c.point[0] += crop[0];
        c.point[1] += crop[1];
        st = cand_push(all, &c, err);
        if (st == AM_OK) here.items[i].bits = NULL;
    }
    cand_list_free(&here);
    return st;
}

/* The full-image mask of a candidate into m (width x height, zeroed here). */
static void paint(const candidate *c, uint8_t *m, int32_t width, int32_t height) {
    memset(m, 0, (size_t)width * height);
    if (!c->bits) return;
    const int32_t bw = c->box[2] - c->box[0] + 1, bh = c->box[3] - c->box[1] + 1;
    for (int32_t y = 0; y < bh; y++)
        memcpy(m + (int64_t)(c->box[1] + y) * width + c->box[0], c->bits + (int64_t)y * bw,
               (size_t)bw);
}

/* The small-region clean-up over full masks; reorders and filters. */
static am_status clean_small_regions(cand_list *l, uint8_t **masks, const am_amg_params *p,
                                     int32_t width, int32_t height, am_error *err) {
    const int32_t n = l->count;
    float *scores = am_alloc((size_t)n, sizeof *scores, err);
    float *boxes = scores ? am_alloc((size_t)n * 4, sizeof *boxes, err) : NULL;
    int32_t *keep = boxes ? am_alloc((size_t)n, sizeof *keep, err) : NULL;
    am_status st = keep ? AM_OK : AM_ERR_NOMEM;
    for (int32_t i = 0; st == AM_OK && i < n; i++) {
        int c1 = 0, c2 = 0;
        st = sam_amg_remove_small_regions(masks[i], width, height, p->min_mask_region_area, 1,
                                          &c1, err);
        if (st == AM_OK)
            st = sam_amg_remove_small_regions(masks[i], width, height,
                                              p->min_mask_region_area, 0, &c2, err);
        scores[i] = c1 || c2 ? 0.0f : 1.0f;
        int32_t box[4];
        sam_amg_mask_box(masks[i], width, height, width, box);
        for (int k = 0; k < 4; k++) boxes[4 * i + k] = (float)box[k];
        if (scores[i] == 0.0f) memcpy(l->items[i].box, box, sizeof box);
    }
    int32_t n_keep = 0;
    const double thresh =
        p->box_nms_thresh > p->crop_nms_thresh ? p->box_nms_thresh : p->crop_nms_thresh;
    if (st == AM_OK) st = sam_amg_nms(boxes, scores, n, thresh, keep, &n_keep, err);
    if (st == AM_OK) {
        /* reorder the masks alongside the candidates, freeing the suppressed */
        uint8_t **kept = malloc((size_t)(n_keep ? n_keep : 1) * sizeof *kept);
        uint8_t *used = calloc((size_t)n + 1, 1);
        if (!kept || !used) {
            st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
        } else {
            for (int32_t i = 0; i < n_keep; i++) {
                kept[i] = masks[keep[i]];
                used[keep[i]] = 1;
            }
            for (int32_t i = 0; i < n; i++)
                if (!used[i]) free(masks[i]);
            for (int32_t i = 0; i < n; i++) masks[i] = i < n_keep ? kept[i] : NULL;
            st = cand_select(l, keep, n_keep, err);
        }
        free(kept);
        free(used);
    }
    am_free(scores);
    am_free(boxes);
    am_free(keep);
    return st;
}

am_status sam_amg_generate(am_sam *sam, const am_image *image, const am_amg_params *params,
                           const sam_amg_observer *observer, am_sam_masks *out, am_error *err) {
    memset(out, 0, sizeof *out);
    const am_amg_params *p = params;
    am_status st = check_params(p, image, err);
    if (st != AM_OK) return st;
    double *grids[MAX_CROP_LAYERS + 1] = {0};
    int32_t sizes[MAX_CROP_LAYERS + 1] = {0};
    const int32_t W = image->width, H = image->height;
    const int32_t n_crops = sam_amg_crop_count(p->crop_n_layers);
    int32_t *boxes = NULL, *layers = NULL;
    cand_list all = {0};
    uint8_t **masks = NULL;
    st = make_grids(p, grids, sizes, err);
    if (st == AM_OK) {
        boxes = am_alloc((size_t)n_crops * 4, sizeof *boxes, err);
        layers = boxes ? am_alloc((size_t)n_crops, sizeof *layers, err) : NULL;
        if (!layers) st = AM_ERR_NOMEM;
    }
    if (st == AM_OK) sam_amg_crop_boxes(W, H, p->crop_n_layers, p->crop_overlap_ratio, boxes,
                                        layers);
    for (int32_t c = 0; st == AM_OK && c < n_crops; c++) {
        const int32_t *box = boxes + 4 * c;
        if (box[2] <= box[0] || box[3] <= box[1]) continue;
        st = process_crop(sam, image, p, observer, c, box, grids[layers[c]], sizes[layers[c]],
                          &all, err);
    }
    if (st == AM_OK && n_crops > 1 && all.count > 0) {
        float *scores = am_alloc((size_t)all.count, sizeof *scores, err);
        if (!scores) st = AM_ERR_NOMEM;
        for (int32_t i = 0; st == AM_OK && i < all.count; i++) {
            const int32_t *cb = all.items[i].crop;
            scores[i] = 1.0f / (float)((int64_t)(cb[2] - cb[0]) * (cb[3] - cb[1]));
        }
        if (st == AM_OK) st = cand_nms(&all, scores, p->crop_nms_thresh, err);
        am_free(scores);
    }
    if (st == AM_OK && all.count > 0) {
        masks = calloc((size_t)all.count, sizeof *masks);
        if (!masks) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; st == AM_OK && i < all.count; i++) {
            masks[i] = malloc((size_t)W * H);
            if (!masks[i]) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
            else paint(&all.items[i], masks[i], W, H);
        }
    }
    const int32_t n_before = all.count;
    if (st == AM_OK && p->min_mask_region_area > 0 && all.count > 0)
        st = clean_small_regions(&all, masks, p, W, H, err);
    if (st == AM_OK && all.count > 0) {
        out->masks = calloc((size_t)all.count, sizeof *out->masks);
        if (!out->masks) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    if (st == AM_OK) {
        out->width = W;
        out->height = H;
        for (int32_t i = 0; i < all.count; i++) {
            const candidate *c = &all.items[i];
            am_sam_mask *r = &out->masks[i];
            r->mask = masks[i];
            masks[i] = NULL;
            int64_t area = 0;
            for (int64_t q = 0; q < (int64_t)W * H; q++) area += r->mask[q];
            r->area = area;
            r->bbox[0] = c->box[0];
            r->bbox[1] = c->box[1];
            r->bbox[2] = c->box[2] - c->box[0];
            r->bbox[3] = c->box[3] - c->box[1];
            r->predicted_iou = c->iou;
            r->point[0] = c->point[0];
            r->point[1] = c->point[1];
            r->stability_score = c->stability;
            r->crop_box[0] = c->crop[0];
            r->crop_box[1] = c->crop[1];
            r->crop_box[2] = c->crop[2] - c->crop[0];
            r->crop_box[3] = c->crop[3] - c->crop[1];
            out->count = i + 1;
        }
    }
    if (masks)
        for (int32_t i = 0; i < n_before; i++) free(masks[i]);
    free(masks);
    cand_list_free(&all);
    for (int32_t l = 0; l <= MAX_CROP_LAYERS; l++) am_free(grids[l]);
    am_free(boxes);
    am_free(layers);
    if (st != AM_OK) am_sam_masks_free(out);
    return st;
}

am_status am_sam_generate(am_sam *sam, const am_image *image, const am_amg_params *params,
                          am_sam_masks *out, am_error *err) {
    const am_amg_params defaults = am_amg_default_params();
    return sam_amg_generate(sam, image, params ? params : &defaults, NULL, out, err);
}
