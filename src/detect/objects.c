/* objects.c - object mask lists, the selection rules, square crops and the
 * paste-back of crop maps (see objects.h). */
#include "detect/objects.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"
#include "image/resize_f32.h"

void am_mask_list_init(am_mask_list *list, int32_t width, int32_t height) {
    memset(list, 0, sizeof *list);
    list->width = width;
    list->height = height;
}

void am_mask_list_free(am_mask_list *list) {
    for (int32_t i = 0; i < list->count; i++) am_free(list->items[i].mask);
    am_free(list->items);
    am_mask_list_init(list, list->width, list->height);
}

/* Appends a mask (taking ownership of its pixels). */
static am_status list_push(am_mask_list *list, am_mask m, am_error *err) {
    if (list->count == list->capacity) {
        if (list->capacity > INT32_MAX / 2)
            return am_error_set(err, AM_ERR_LIMIT, "too many object masks");
        int32_t cap = list->capacity ? list->capacity * 2 : 16;
        am_mask *items = am_alloc((size_t)cap, sizeof *items, err);
        if (!items) return AM_ERR_NOMEM;
        if (list->count) memcpy(items, list->items, (size_t)list->count * sizeof *items);
        am_free(list->items);
        list->items = items;
        list->capacity = cap;
    }
    list->items[list->count++] = m;
    return AM_OK;
}

am_status am_mask_list_add_boxed(am_mask_list *list, am_box box, const uint8_t *mask,
                                 am_error *err) {
    if (box.w <= 0 || box.h <= 0 || box.x < 0 || box.y < 0 || box.x > list->width - box.w ||
        box.y > list->height - box.h)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "mask box %d,%d %d x %d is not inside the %d x %d image", box.x,
                            box.y, box.w, box.h, list->width, list->height);
    int32_t x0 = box.w, y0 = box.h, x1 = -1, y1 = -1;
    int64_t area = 0;
    for (int32_t y = 0; y < box.h; y++) {
        const uint8_t *row = mask + (size_t)y * (size_t)box.w;
        for (int32_t x = 0; x < box.w; x++) {
            if (!row[x]) continue;
            area++;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            y1 = y;
        }
    }
    if (area == 0) return AM_OK;
    am_mask m = {.bbox = {box.x + x0, box.y + y0, x1 - x0 + 1, y1 - y0 + 1}, .area = area};
    m.mask = am_alloc((size_t)m.bbox.w * (size_t)m.bbox.h, 1, err);
    if (!m.mask) return AM_ERR_NOMEM;
    for (int32_t y = 0; y < m.bbox.h; y++) {
        const uint8_t *src = mask + (size_t)(y0 + y) * (size_t)box.w + x0;
        uint8_t *dst = m.mask + (size_t)y * (size_t)m.bbox.w;
        for (int32_t x = 0; x < m.bbox.w; x++) dst[x] = src[x] != 0;
    }
    am_status st = list_push(list, m, err);
    if (st != AM_OK) am_free(m.mask);
    return st;
}

am_status am_mask_list_add(am_mask_list *list, const uint8_t *mask, am_error *err) {
    if (list->width <= 0 || list->height <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "mask list of a %d x %d image", list->width,
                            list->height);
    am_box all = {0, 0, list->width, list->height};
    return am_mask_list_add_boxed(list, all, mask, err);
}

am_object_params am_object_default_params(void) {
    am_object_params p = {
        .max_area_fraction = 0.5,
        .min_area_fraction = 0.0005,
        .max_inside_fraction = 0.8,
        .max_objects = 32,
        .grow = 0.1,
    };
    return p;
}

/* Selection order: larger area first, then top-most, then left-most, then
 * the order of addition (the index stored alongside). */
typedef struct {
    am_mask m;
    int32_t index;
} ranked_mask;

static int compare_ranked(const void *pa, const void *pb) {
    const ranked_mask *a = pa, *b = pb;
    if (a->m.area != b->m.area) return a->m.area > b->m.area ? -1 : 1;
    if (a->m.bbox.y != b->m.bbox.y) return a->m.bbox.y < b->m.bbox.y ? -1 : 1;
    if (a->m.bbox.x != b->m.bbox.x) return a->m.bbox.x < b->m.bbox.x ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Pixels in both masks. */
static int64_t mask_intersection(const am_mask *a, const am_mask *b) {
    int32_t x0 = a->bbox.x > b->bbox.x ? a->bbox.x : b->bbox.x;
    int32_t y0 = a->bbox.y > b->bbox.y ? a->bbox.y : b->bbox.y;
    int32_t xa = a->bbox.x + a->bbox.w, xb = b->bbox.x + b->bbox.w;
    int32_t ya = a->bbox.y + a->bbox.h, yb = b->bbox.y + b->bbox.h;
    int32_t x1 = xa < xb ? xa : xb, y1 = ya < yb ? ya : yb;
    int64_t n = 0;
    for (int32_t y = y0; y < y1; y++) {
        const uint8_t *ra = a->mask + (size_t)(y - a->bbox.y) * a->bbox.w + (x0 - a->bbox.x);
        const uint8_t *rb = b->mask + (size_t)(y - b->bbox.y) * b->bbox.w + (x0 - b->bbox.x);
        for (int32_t x = 0; x < x1 - x0; x++) n += ra[x] & rb[x];
    }
    return n;
}

/* Area of the intersection of two boxes: an upper bound of the masks'. */
static int64_t box_overlap(am_box a, am_box b) {
    int64_t w = (int64_t)(a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w) - (a.x > b.x ? a.x : b.x);
    int64_t h = (int64_t)(a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h) - (a.y > b.y ? a.y : b.y);
    return w > 0 && h > 0 ? w * h : 0;
}

am_status am_objects_select(am_mask_list *list, const am_object_params *params, am_error *err) {
    if (!(params->max_area_fraction >= 0.0) || !(params->min_area_fraction >= 0.0) ||
        !(params->max_inside_fraction >= 0.0) || params->max_objects < 0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "object selection: fractions and the object count must be >= 0");
    if (list->count == 0) return AM_OK;
    ranked_mask *ranked = am_alloc((size_t)list->count, sizeof *ranked, err);
    if (!ranked) return AM_ERR_NOMEM;
    double image_area = (double)list->width * (double)list->height;
    int32_t n = 0;
    for (int32_t i = 0; i < list->count; i++) {
        am_mask m = list->items[i];
        double area = (double)m.area;
        if (area > params->max_area_fraction * image_area ||
            area < params->min_area_fraction * image_area) {
            am_free(m.mask);
            continue;
        }
        ranked[n].m = m;
        ranked[n].index = i;
        n++;
    }
    qsort(ranked, (size_t)n, sizeof *ranked, compare_ranked);
    int32_t kept = 0;
    for (int32_t i = 0; i < n; i++) {
        am_mask m = ranked[i].m;
        int keep = kept < params->max_objects;
        double limit = params->max_inside_fraction * (double)m.area;
        for (int32_t k = 0; keep && k < kept; k++) {
            const am_mask *big = &list->items[k];
            if ((double)box_overlap(big->bbox, m.bbox) < limit) continue;
            if ((double)mask_intersection(big, &m) >= limit) keep = 0;
        }
        if (keep)
            list->items[kept++] = m;
        else
            am_free(m.mask);
    }
    list->count = kept;
    am_free(ranked);
    return AM_OK;
}

am_square am_object_square(am_box bbox, double grow) {
    int32_t longest = bbox.w > bbox.h ? bbox.w : bbox.h;
    double side = floor((double)longest * (1.0 + grow) + 0.5);
    if (side < 1.0) side = 1.0;
    if (side > (double)INT32_MAX / 4) side = (double)INT32_MAX / 4;
    am_square sq;
    sq.size = (int32_t)side;
    /* floor((2x + w - side) / 2) in 64-bit integers */
    int64_t tx = 2 * (int64_t)bbox.x + bbox.w - sq.size;
    int64_t ty = 2 * (int64_t)bbox.y + bbox.h - sq.size;
    sq.x = (int32_t)(tx >= 0 ? tx / 2 : -((-tx + 1) / 2));
    sq.y = (int32_t)(ty >= 0 ? ty / 2 : -((-ty + 1) / 2));
    return sq;
}

static inline int32_t clamp_i32(int64_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

am_status am_object_crop(const am_image *image, am_square sq, int32_t size, am_image *out,
                         am_error *err) {
    memset(out, 0, sizeof *out);
    if (!image || !image->data || image->width <= 0 || image->height <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "object crop: no image");
    if (sq.size <= 0 || size < 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "object crop: square of side %d to %d pixels",
                            sq.size, size);
    if (size == 0) size = sq.size;
    am_image square;
    am_status st = am_image_alloc(sq.size, sq.size, &square, err);
    if (st != AM_OK) return st;
    int32_t w = image->width, h = image->height;
    for (int32_t v = 0; v < sq.size; v++) {
        int32_t y = clamp_i32((int64_t)sq.y + v, 0, h - 1);
        const uint8_t *src = image->data + (size_t)y * (size_t)w * 3;
        uint8_t *dst = square.data + (size_t)v * (size_t)sq.size * 3;
        for (int32_t u = 0; u < sq.size; u++) {
            int32_t x = clamp_i32((int64_t)sq.x + u, 0, w - 1);
            memcpy(dst + (size_t)u * 3, src + (size_t)x * 3, 3);
        }
    }
    if (size == sq.size) {
        *out = square;
        return AM_OK;
    }
    st = am_image_alloc(size, size, out, err);
    if (st == AM_OK)
        st = am_resize_u8(square.data, sq.size, sq.size, 3, out->data, size, size,
                          AM_RESAMPLE_BICUBIC, err);
    am_image_free(&square);
    if (st != AM_OK) am_image_free(out);
    return st;
}

am_status am_object_paste_max(float *canvas, int32_t width, int32_t height, const float *map,
                              int32_t map_w, int32_t map_h, am_square sq, const am_mask *mask,
                              am_error *err) {
    if (width <= 0 || height <= 0 || map_w <= 0 || map_h <= 0 || sq.size <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "paste: canvas %d x %d, map %d x %d, square side %d", width, height,
                            map_w, map_h, sq.size);
    /* The part of the square inside the canvas, in canvas coordinates. */
    int64_t x0 = sq.x > 0 ? sq.x : 0, y0 = sq.y > 0 ? sq.y : 0;
    int64_t x1 = (int64_t)sq.x + sq.size, y1 = (int64_t)sq.y + sq.size;
    if (x1 > width) x1 = width;
    if (y1 > height) y1 = height;
    if (x1 <= x0 || y1 <= y0) return AM_OK;
    int32_t rw = (int32_t)(x1 - x0), rh = (int32_t)(y1 - y0);
    float *part = am_alloc((size_t)rw * (size_t)rh, sizeof *part, err);
    if (!part) return AM_ERR_NOMEM;
    am_status st = am_resize_f32_bilinear_window(map, map_w, map_h, sq.size, sq.size,
                                                 (int32_t)(x0 - sq.x), (int32_t)(y0 - sq.y), rw,
                                                 rh, part, err);
    if (st != AM_OK) {
        am_free(part);
        return st;
    }
    for (int32_t j = 0; j < rh; j++) {
        int32_t y = (int32_t)y0 + j;
        float *row = canvas + (size_t)y * (size_t)width;
        const float *src = part + (size_t)j * (size_t)rw;
        for (int32_t i = 0; i < rw; i++) {
            int32_t x = (int32_t)x0 + i;
            if (mask) {
                int32_t mx = x - mask->bbox.x, my = y - mask->bbox.y;
                if (mx < 0 || my < 0 || mx >= mask->bbox.w || my >= mask->bbox.h ||
                    !mask->mask[(size_t)my * (size_t)mask->bbox.w + (size_t)mx])
                    continue;
            }
            if (src[i] > row[x]) row[x] = src[i];
        }
    }
    am_free(part);
    return AM_OK;
}
