/* segment_classical.c - objects on a plain background by colour distance to
 * the border colour, Otsu's threshold, disc morphology, hole filling,
 * connected components, neck splitting and fragment merging (see
 * segment_classical.h for the steps). */
#include "detect/segment_classical.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"

#define DISTANCE_BINS 443 /* colour distances rounded, larger ones counted in the last bin */
#define FAR 1e20          /* "no such pixel" in squared distance transforms */

am_segment_params am_segment_default_params(void) {
    am_segment_params p = {
        .work_size = 512,
        .border_fraction = 0.02,
        .luma_weight = 0.4,
        .min_threshold = 40.0,
        .open_fraction = 0.004,
        .close_fraction = 0.0,
        .split_fraction = 0.02,
        .merge_gap = 0.1,
        .merge_area_ratio = 0.25,
        .select = am_object_default_params(),
    };
    return p;
}

/* Per-channel median of the pixels within `band` of the border. */
static void border_median(const uint8_t *rgb, int32_t w, int32_t h, int32_t band,
                          uint8_t colour[3]) {
    int64_t hist[3][256];
    memset(hist, 0, sizeof hist);
    int64_t n = 0;
    for (int32_t y = 0; y < h; y++) {
        int whole_row = y < band || y >= h - band;
        for (int32_t x = 0; x < w; x++) {
            if (!whole_row && x >= band && x < w - band) x = w - band;
            const uint8_t *p = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            for (int c = 0; c < 3; c++) hist[c][p[c]]++;
            n++;
        }
    }
    for (int c = 0; c < 3; c++) {
        int64_t seen = 0;
        int v = 0;
        while (v < 255 && (seen += hist[c][v]) * 2 < n) v++;
        colour[c] = (uint8_t)v;
    }
}

/* Otsu's threshold of a histogram: the bin t maximising the between-class
 * variance of {<= t} and {> t} (the first such bin on ties). */
static int32_t otsu_threshold(const int64_t *hist, int32_t bins) {
    double total = 0.0, sum = 0.0;
    for (int32_t i = 0; i < bins; i++) {
        total += (double)hist[i];
        sum += (double)i * (double)hist[i];
    }
    double w0 = 0.0, sum0 = 0.0, best = -1.0;
    int32_t best_t = 0;
    for (int32_t t = 0; t < bins - 1; t++) {
        w0 += (double)hist[t];
        sum0 += (double)t * (double)hist[t];
        double w1 = total - w0;
        if (w0 <= 0.0 || w1 <= 0.0) continue;
        double m0 = sum0 / w0, m1 = (sum - sum0) / w1;
        double between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (between > best) {
            best = between;
            best_t = t;
        }
    }
    return best_t;
}

/* Felzenszwalb-Huttenlocher 1-D squared distance transform of f[0..n) into
 * d; v (n ints) and z (n + 1 doubles) are scratch. */
static void distance_1d(const double *f, int32_t n, double *d, int32_t *v, double *z) {
    int32_t k = 0;
    v[0] = 0;
    z[0] = -FAR;
    z[1] = FAR;
    for (int32_t q = 1; q < n; q++) {
        /* |s| <= FAR / 2, so z[0] = -FAR stops the walk back */
        double s = ((f[q] + (double)q * q) - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * (q - v[k]));
        while (s <= z[k]) {
            k--;
            s = ((f[q] + (double)q * q) - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * (q - v[k]));
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = FAR;
    }
    k = 0;
    for (int32_t q = 0; q < n; q++) {
        while (z[k + 1] < q) k++;
        double dq = (double)(q - v[k]);
        d[q] = dq * dq + f[v[k]];
    }
}

/* Scratch for the distance transforms of one w x h image. */
typedef struct {
    double *dist; /* w * h squared distances */
    double *f, *d, *z;
    int32_t *v;
} distance_scratch;

/* Squared Euclidean distance from every pixel to the nearest pixel whose
 * mask value equals `target` (FAR-ish when there is none). */
static void distance_transform(const uint8_t *mask, int32_t w, int32_t h, uint8_t target,
                               distance_scratch *s) {
    for (int32_t x = 0; x < w; x++) {
        for (int32_t y = 0; y < h; y++)
            s->f[y] = mask[(size_t)y * (size_t)w + (size_t)x] == target ? 0.0 : FAR;
        distance_1d(s->f, h, s->d, s->v, s->z);
        for (int32_t y = 0; y < h; y++) s->dist[(size_t)y * (size_t)w + (size_t)x] = s->d[y];
    }
    for (int32_t y = 0; y < h; y++) {
        double *row = s->dist + (size_t)y * (size_t)w;
        memcpy(s->f, row, (size_t)w * sizeof(double));
        distance_1d(s->f, w, row, s->v, s->z);
    }
}

/* Erosion (value 0 spreads) or dilation (value 1 spreads) of a 0/1 mask by
 * a disc of radius r, in place.  Pixels outside the image count as neither. */
static void morph_disc(uint8_t *mask, int32_t w, int32_t h, double r, uint8_t spread,
                       distance_scratch *s) {
    if (r < 1.0) return;
    distance_transform(mask, w, h, spread, s);
    double r2 = r * r;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        if (s->dist[i] <= r2) mask[i] = spread;
}

/* Sets to 1 every 0-pixel not 4-connected to the image border through
 * 0-pixels.  `queue` holds w * h indices. */
static void fill_holes(uint8_t *mask, int32_t w, int32_t h, int32_t *queue) {
    size_t n = (size_t)w * (size_t)h;
    int32_t head = 0, tail = 0;
    /* 2 marks background reached from the border. */
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            if (y != 0 && y != h - 1 && x != 0 && x != w - 1) continue;
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            if (mask[i] == 0) {
                mask[i] = 2;
                queue[tail++] = (int32_t)i;
            }
        }
    while (head < tail) {
        int32_t i = queue[head++];
        int32_t x = i % w, y = i / w;
        int32_t nb[4] = {x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, y > 0 ? i - w : -1,
                         y < h - 1 ? i + w : -1};
        for (int k = 0; k < 4; k++)
            if (nb[k] >= 0 && mask[nb[k]] == 0) {
                mask[nb[k]] = 2;
                queue[tail++] = nb[k];
            }
    }
    for (size_t i = 0; i < n; i++) mask[i] = mask[i] != 2;
}

/* Labels the 8-connected components of the nonzero pixels 1, 2, ... (0
 * elsewhere) and returns how many there are.  `queue` holds w * h indices. */
static int32_t label_components(const uint8_t *mask, int32_t w, int32_t h, int32_t *labels,
                                int32_t *queue) {
    size_t n = (size_t)w * (size_t)h;
    memset(labels, 0, n * sizeof *labels);
    int32_t found = 0;
    for (size_t start = 0; start < n; start++) {
        if (!mask[start] || labels[start]) continue;
        int32_t id = ++found;
        int32_t head = 0, tail = 0;
        labels[start] = id;
        queue[tail++] = (int32_t)start;
        while (head < tail) {
            int32_t i = queue[head++];
            int32_t x = i % w, y = i / w;
            for (int32_t yy = y > 0 ? y - 1 : 0; yy <= y + 1 && yy < h; yy++)
                for (int32_t xx = x > 0 ? x - 1 : 0; xx <= x + 1 && xx < w; xx++) {
                    int32_t j = yy * w + xx;
                    if (mask[j] && !labels[j]) {
                        labels[j] = id;
                        queue[tail++] = j;
                    }
                }
        }
    }
    return found;
}

/* Box and pixel count of every label 1 .. count (index 0 unused); a label
 * with no pixels gets area 0. */
static void region_stats(const int32_t *labels, int32_t w, int32_t h, int32_t count, am_box *boxes,
                         int64_t *areas) {
    for (int32_t id = 0; id <= count; id++) {
        boxes[id] = (am_box){w, h, -1, -1}; /* x0, y0, x1, y1 while scanning */
        areas[id] = 0;
    }
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            int32_t id = labels[(size_t)y * (size_t)w + (size_t)x];
            if (!id) continue;
            am_box *b = &boxes[id];
            if (x < b->x) b->x = x;
            if (x > b->w) b->w = x;
            if (y < b->y) b->y = y;
            if (y > b->h) b->h = y;
            areas[id]++;
        }
    for (int32_t id = 0; id <= count; id++)
        if (areas[id]) {
            boxes[id].w = boxes[id].w - boxes[id].x + 1;
            boxes[id].h = boxes[id].h - boxes[id].y + 1;
        }
}

/* Work buffers of one segmentation at the working resolution. */
typedef struct {
    int32_t w, h;
    uint8_t *fg;      /* 0/1 foreground */
    uint8_t *seeds;   /* 0/1 neck-split seeds */
    int32_t *labels;  /* component of each pixel */
    int32_t *seed_id; /* seed component, then the split assignment, of each pixel */
    int32_t *queue;
    distance_scratch ds;
} work_buffers;

/*
 * Splits components made of several thick parts joined by narrow necks
 * (touching objects): the pixels farther than r from the background form
 * seeds; seeds smaller than SEED_MIN_RATIO of the largest seed of their
 * component are ignored; a component with two or more seeds is shared out
 * among them by a breadth-first flood from all seeds at once (8-connected,
 * inside the component).  Thin objects (no seed) and objects with one seed
 * stay whole.  Returns the new label count.
 */
#define SEED_MIN_RATIO 0.2
static am_status split_necks(work_buffers *wb, double r, int32_t *count, am_error *err) {
    int32_t w = wb->w, h = wb->h;
    size_t n = (size_t)w * (size_t)h;
    if (r < 1.0 || *count == 0) return AM_OK;
    distance_transform(wb->fg, w, h, 0, &wb->ds);
    double r2 = r * r;
    for (size_t i = 0; i < n; i++) wb->seeds[i] = wb->fg[i] && wb->ds.dist[i] > r2;
    int32_t nseeds = label_components(wb->seeds, w, h, wb->seed_id, wb->queue);
    if (nseeds < 2) return AM_OK;
    int64_t *seed_area = am_calloc((size_t)nseeds + 1, sizeof *seed_area, err);
    int32_t *seed_comp = am_calloc((size_t)nseeds + 1, sizeof *seed_comp, err);
    int64_t *comp_max = am_calloc((size_t)*count + 1, sizeof *comp_max, err);
    int32_t *comp_seeds = am_calloc((size_t)*count + 1, sizeof *comp_seeds, err);
    int32_t *new_id = am_calloc((size_t)nseeds + 1, sizeof *new_id, err);
    am_status st = AM_OK;
    if (!seed_area || !seed_comp || !comp_max || !comp_seeds || !new_id) {
        st = AM_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t s = wb->seed_id[i];
        if (!s) continue;
        seed_area[s]++;
        seed_comp[s] = wb->labels[i];
    }
    for (int32_t s = 1; s <= nseeds; s++)
        if (seed_area[s] > comp_max[seed_comp[s]]) comp_max[seed_comp[s]] = seed_area[s];
    for (int32_t s = 1; s <= nseeds; s++)
        if ((double)seed_area[s] >= SEED_MIN_RATIO * (double)comp_max[seed_comp[s]])
            comp_seeds[seed_comp[s]]++;
    int32_t next = *count;
    for (int32_t s = 1; s <= nseeds; s++)
        if (comp_seeds[seed_comp[s]] >= 2 &&
            (double)seed_area[s] >= SEED_MIN_RATIO * (double)comp_max[seed_comp[s]])
            new_id[s] = ++next;
    if (next == *count) goto done;
    /* Flood: seed_id now holds each pixel's new label (0: not yet reached). */
    int32_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++) {
        wb->seed_id[i] = new_id[wb->seed_id[i]];
        if (wb->seed_id[i]) wb->queue[tail++] = (int32_t)i;
    }
    while (head < tail) {
        int32_t i = wb->queue[head++];
        int32_t x = i % w, y = i / w;
        for (int32_t yy = y > 0 ? y - 1 : 0; yy <= y + 1 && yy < h; yy++)
            for (int32_t xx = x > 0 ? x - 1 : 0; xx <= x + 1 && xx < w; xx++) {
                int32_t j = yy * w + xx;
                if (!wb->seed_id[j] && wb->labels[j] == wb->labels[i] &&
                    comp_seeds[wb->labels[j]] >= 2) {
                    wb->seed_id[j] = wb->seed_id[i];
                    wb->queue[tail++] = j;
                }
            }
    }
    for (size_t i = 0; i < n; i++)
        if (wb->seed_id[i]) wb->labels[i] = wb->seed_id[i];
    *count = next;
done:
    am_free(seed_area);
    am_free(seed_comp);
    am_free(comp_max);
    am_free(comp_seeds);
    am_free(new_id);
    return st;
}

/* Label order for merging: larger area first, then smaller id. */
typedef struct {
    int64_t area;
    int32_t id;
} label_rank;

static int compare_label_rank(const void *pa, const void *pb) {
    const label_rank *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Empty rows or columns between two boxes (the larger of the two): 0 when
 * they touch or overlap. */
static int64_t box_gap(am_box a, am_box b) {
    int64_t gx = (int64_t)b.x - (a.x + a.w), gx2 = (int64_t)a.x - (b.x + b.w);
    int64_t gy = (int64_t)b.y - (a.y + a.h), gy2 = (int64_t)a.y - (b.y + b.h);
    int64_t g = gx > gx2 ? gx : gx2;
    int64_t h = gy > gy2 ? gy : gy2;
    if (h > g) g = h;
    return g > 0 ? g : 0;
}

/*
 * Merges fragments into the object they belong to: walking labels largest
 * first, a label whose area is at most `ratio` of a larger surviving label's
 * and whose box is within gap * sqrt(that label's area) pixels of that
 * label's box (0: touching or overlapping) joins the largest such label
 * (pins and LEDs of a board, glints at the end of a capsule).  Labels below
 * `min_area` (specks the selection drops anyway) take no part.  Boxes and
 * areas are updated; labels are rewritten.
 */
static am_status merge_fragments(work_buffers *wb, int32_t count, am_box *boxes, int64_t *areas,
                                 double gap, double ratio, double min_area, am_error *err) {
    label_rank *order = am_alloc((size_t)count, sizeof *order, err);
    int32_t *root = am_alloc((size_t)count + 1, sizeof *root, err);
    if (!order || !root) {
        am_free(order);
        am_free(root);
        return AM_ERR_NOMEM;
    }
    for (int32_t id = 1; id <= count; id++) {
        order[id - 1] = (label_rank){areas[id], id};
        root[id] = id;
    }
    root[0] = 0;
    qsort(order, (size_t)count, sizeof *order, compare_label_rank);
    int changed = 0;
    for (int32_t k = 0; k < count && (double)order[k].area >= min_area; k++) {
        int32_t c = order[k].id;
        if (!areas[c]) continue;
        for (int32_t j = 0; j < k; j++) {
            int32_t big = order[j].id;
            if (root[big] != big || !areas[big]) continue;
            if ((double)order[k].area > ratio * (double)areas[big]) break;
            if ((double)box_gap(boxes[c], boxes[big]) > gap * sqrt((double)areas[big])) continue;
            root[c] = big;
            am_box a = boxes[big], b = boxes[c];
            int32_t x0 = a.x < b.x ? a.x : b.x, y0 = a.y < b.y ? a.y : b.y;
            int32_t x1 = a.x + a.w > b.x + b.w ? a.x + a.w : b.x + b.w;
            int32_t y1 = a.y + a.h > b.y + b.h ? a.y + a.h : b.y + b.h;
            boxes[big] = (am_box){x0, y0, x1 - x0, y1 - y0};
            areas[big] += areas[c];
            areas[c] = 0;
            changed = 1;
            break;
        }
    }
    if (changed) {
        size_t n = (size_t)wb->w * (size_t)wb->h;
        for (size_t i = 0; i < n; i++) wb->labels[i] = root[wb->labels[i]];
    }
    am_free(order);
    am_free(root);
    return AM_OK;
}

/* Adds label `id` (work-resolution box `box`) to `out` at full resolution:
 * full pixel X maps to work pixel xs[X] (nearest). */
static am_status add_component(am_mask_list *out, const int32_t *labels, int32_t ww, int32_t id,
                               am_box box, const int32_t *xs, int32_t W, const int32_t *ys,
                               int32_t H, uint8_t *scratch, am_error *err) {
    int32_t X0 = 0, Y0 = 0;
    while (X0 < W && xs[X0] < box.x) X0++;
    while (Y0 < H && ys[Y0] < box.y) Y0++;
    int32_t X1 = X0, Y1 = Y0;
    while (X1 < W && xs[X1] < box.x + box.w) X1++;
    while (Y1 < H && ys[Y1] < box.y + box.h) Y1++;
    if (X1 <= X0 || Y1 <= Y0) return AM_OK;
    am_box full = {X0, Y0, X1 - X0, Y1 - Y0};
    for (int32_t Y = Y0; Y < Y1; Y++) {
        const int32_t *row = labels + (size_t)ys[Y] * (size_t)ww;
        uint8_t *dst = scratch + (size_t)(Y - Y0) * (size_t)full.w;
        for (int32_t X = X0; X < X1; X++) dst[X - X0] = row[xs[X]] == id;
    }
    return am_mask_list_add_boxed(out, full, scratch, err);
}

/* Foreground of the working image: colour distance to the border colour
 * above Otsu's threshold (at least params->min_threshold).  The distance
 * weighs luma by params->luma_weight so shading and shadows count less
 * than a change of hue. */
static void find_foreground(const uint8_t *rgb, work_buffers *wb, const am_segment_params *params) {
    int32_t w = wb->w, h = wb->h;
    size_t n = (size_t)w * (size_t)h;
    int32_t band = (int32_t)lround(params->border_fraction * (w < h ? w : h));
    if (band < 1) band = 1;
    uint8_t bg[3];
    border_median(rgb, w, h, band, bg);
    int64_t hist[DISTANCE_BINS] = {0};
    double lw = params->luma_weight;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = rgb + i * 3;
        double dr = p[0] - bg[0], dg = p[1] - bg[1], db = p[2] - bg[2];
        double dy = 0.299 * dr + 0.587 * dg + 0.114 * db;
        double du = db - dy, dv = dr - dy;
        int32_t d = (int32_t)lround(sqrt(lw * dy * dy + du * du + dv * dv));
        if (d > DISTANCE_BINS - 1) d = DISTANCE_BINS - 1;
        wb->labels[i] = d;
        hist[d]++;
    }
    double threshold = otsu_threshold(hist, DISTANCE_BINS);
    if (threshold < params->min_threshold) threshold = params->min_threshold;
    for (size_t i = 0; i < n; i++) wb->fg[i] = wb->labels[i] > threshold;
}

am_status am_segment_classical(const am_image *image, const am_segment_params *params,
                               am_mask_list *out, am_error *err) {
    if (!image || !image->data || image->width <= 0 || image->height <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "segment: no image");
    if (params->work_size < 8 || !(params->border_fraction > 0.0 && params->border_fraction < 0.5) ||
        !(params->luma_weight >= 0.0) || !(params->min_threshold >= 0.0) ||
        !(params->open_fraction >= 0.0) || !(params->close_fraction >= 0.0) ||
        !(params->split_fraction >= 0.0) || !(params->merge_gap >= 0.0) ||
        !(params->merge_area_ratio >= 0.0))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "segment: work size must be >= 8, border fraction in (0, 0.5), "
                            "the other parameters >= 0");
    if (out->width != image->width || out->height != image->height)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "segment: mask list is for %d x %d, image is %d x %d", out->width,
                            out->height, image->width, image->height);
    int32_t W = image->width, H = image->height;
    int32_t longest = W > H ? W : H;
    int32_t ww = W, wh = H;
    if (longest > params->work_size) {
        ww = (int32_t)((int64_t)W * params->work_size / longest);
        wh = (int32_t)((int64_t)H * params->work_size / longest);
        if (ww < 1) ww = 1;
        if (wh < 1) wh = 1;
    }
    size_t n = (size_t)ww * (size_t)wh;
    int32_t wlong = ww > wh ? ww : wh;
    am_status st = AM_OK;
    uint8_t *small = NULL, *scratch = NULL;
    int32_t *xs = NULL, *ys = NULL;
    am_box *boxes = NULL;
    int64_t *areas = NULL;
    work_buffers wb = {.w = ww, .h = wh};
    small = am_alloc(n, 3, err);
    wb.fg = am_alloc(n, 1, err);
    wb.seeds = am_alloc(n, 1, err);
    wb.labels = am_alloc(n, sizeof(int32_t), err);
    wb.seed_id = am_alloc(n, sizeof(int32_t), err);
    wb.queue = am_alloc(n, sizeof(int32_t), err);
    wb.ds.dist = am_alloc(n, sizeof(double), err);
    wb.ds.f = am_alloc((size_t)wlong, sizeof(double), err);
    wb.ds.d = am_alloc((size_t)wlong, sizeof(double), err);
    wb.ds.z = am_alloc((size_t)wlong + 1, sizeof(double), err);
    wb.ds.v = am_alloc((size_t)wlong, sizeof(int32_t), err);
    xs = am_alloc((size_t)W, sizeof *xs, err);
    ys = am_alloc((size_t)H, sizeof *ys, err);
    if (!small || !wb.fg || !wb.seeds || !wb.labels || !wb.seed_id || !wb.queue || !wb.ds.dist ||
        !wb.ds.f || !wb.ds.d || !wb.ds.z || !wb.ds.v || !xs || !ys) {
        st = AM_ERR_NOMEM;
        goto done;
    }
    if (ww == W && wh == H)
        memcpy(small, image->data, n * 3);
    else if ((st = am_resize_u8(image->data, W, H, 3, small, ww, wh, AM_RESAMPLE_BILINEAR, err)) !=
             AM_OK)
        goto done;

    find_foreground(small, &wb, params);
    double r_open = params->open_fraction * wlong, r_close = params->close_fraction * wlong;
    morph_disc(wb.fg, ww, wh, r_open, 0, &wb.ds);
    morph_disc(wb.fg, ww, wh, r_open, 1, &wb.ds);
    morph_disc(wb.fg, ww, wh, r_close, 1, &wb.ds);
    morph_disc(wb.fg, ww, wh, r_close, 0, &wb.ds);
    fill_holes(wb.fg, ww, wh, wb.queue);

    int32_t count = label_components(wb.fg, ww, wh, wb.labels, wb.queue);
    if ((st = split_necks(&wb, params->split_fraction * wlong, &count, err)) != AM_OK) goto done;
    boxes = am_alloc((size_t)count + 1, sizeof *boxes, err);
    areas = am_alloc((size_t)count + 1, sizeof *areas, err);
    if (!boxes || !areas) {
        st = AM_ERR_NOMEM;
        goto done;
    }
    region_stats(wb.labels, ww, wh, count, boxes, areas);
    /* Specks far below the selection's minimum are not worth merging or
     * scaling up. */
    double min_work_area = params->select.min_area_fraction * (double)n * 0.5;
    if (count > 0 &&
        (st = merge_fragments(&wb, count, boxes, areas, params->merge_gap,
                              params->merge_area_ratio, min_work_area, err)) != AM_OK)
        goto done;

    for (int32_t X = 0; X < W; X++) xs[X] = (int32_t)(((int64_t)2 * X + 1) * ww / (2 * (int64_t)W));
    for (int32_t Y = 0; Y < H; Y++) ys[Y] = (int32_t)(((int64_t)2 * Y + 1) * wh / (2 * (int64_t)H));
    scratch = am_alloc((size_t)W * (size_t)H, 1, err);
    if (!scratch) {
        st = AM_ERR_NOMEM;
        goto done;
    }
    for (int32_t id = 1; id <= count; id++) {
        if (!areas[id] || (double)areas[id] < min_work_area) continue;
        st = add_component(out, wb.labels, ww, id, boxes[id], xs, W, ys, H, scratch, err);
        if (st != AM_OK) goto done;
    }
    st = am_objects_select(out, &params->select, err);

done:
    am_free(small);
    am_free(scratch);
    am_free(xs);
    am_free(ys);
    am_free(boxes);
    am_free(areas);
    am_free(wb.fg);
    am_free(wb.seeds);
    am_free(wb.labels);
    am_free(wb.seed_id);
    am_free(wb.queue);
    am_free(wb.ds.dist);
    am_free(wb.ds.f);
    am_free(wb.ds.d);
    am_free(wb.ds.z);
    am_free(wb.ds.v);
    if (st != AM_OK) am_mask_list_free(out);
    return st;
}
