/* objects.h - the objects of a scene (DESIGN §2.3): a list of object masks
 * from SAM or the classical segmenter, the selection rules that keep the
 * real objects, the square crop around each object that CLIP sees, and the
 * paste-back of a map computed on a crop onto the image canvas.
 *
 * Typical use by the detector:
 *
 *   am_mask_list objects;
 *   am_mask_list_init(&objects, image.width, image.height);
 *   for each SAM record: am_mask_list_add(&objects, record_mask, &err);
 *   am_object_params op = am_object_default_params();
 *   am_objects_select(&objects, &op, &err);           // largest first, <= 32
 *   for (j = 0; j < objects.count; j++) {
 *       am_square sq = am_object_square(objects.items[j].bbox, op.grow);
 *       am_object_crop(&image, sq, 240, &crop, &err);  // 240 x 240 RGB for CLIP
 *       ... maps of the crop (any size, e.g. 15 x 15 or 240 x 240) ...
 *       am_object_paste_max(canvas, W, H, map, mw, mh, sq, NULL, &err);
 *   }
 *
 * Coordinates are image pixels, x to the right, y down; a pixel's centre is
 * at (x + 0.5, y + 0.5). */
#ifndef AM_DETECT_OBJECTS_H
#define AM_DETECT_OBJECTS_H

#include <stdint.h>

#include "anomem.h"

/* An axis-aligned box: columns x .. x + w - 1, rows y .. y + h - 1 (w and h
 * are pixel counts; note SAM's own records use w = x1 - x0, one less). */
typedef struct {
    int32_t x, y, w, h;
} am_box;

/* One object mask, stored inside its tight bounding box: image pixel (x, y)
 * belongs to the object iff bbox contains it and
 * mask[(y - bbox.y) * bbox.w + (x - bbox.x)] is 1. */
typedef struct {
    am_box bbox;
    int64_t area;  /* pixels in the mask, >= 1 */
    uint8_t *mask; /* bbox.w * bbox.h bytes, 0 or 1, owned by the list */
} am_mask;

/* The masks of one width x height image. */
typedef struct {
    int32_t width, height;
    int32_t count;
    int32_t capacity;
    am_mask *items;
} am_mask_list;

/* An empty list for a width x height image (nothing allocated yet). */
void am_mask_list_init(am_mask_list *list, int32_t width, int32_t height);

/* Frees every mask and the list's storage; the list is left empty. */
void am_mask_list_free(am_mask_list *list);

/* Adds a copy of a full-image mask (width * height bytes, nonzero = object),
 * cut to its tight bounding box.  An all-zero mask is not added. */
am_status am_mask_list_add(am_mask_list *list, const uint8_t *mask, am_error *err);

/* Adds a copy of a mask given inside `box` (box.w * box.h bytes, nonzero =
 * object); the box must lie inside the image and is tightened to the
 * nonzero pixels.  An all-zero mask is not added. */
am_status am_mask_list_add_boxed(am_mask_list *list, am_box box, const uint8_t *mask,
                                 am_error *err);

/* The selection and crop parameters, paper defaults from
 * am_object_default_params(). */
typedef struct {
    double max_area_fraction;   /* 0.5: masks covering more of the image are background */
    double min_area_fraction;   /* 0.0005: masks covering less are specks */
    double max_inside_fraction; /* 0.8: a mask with at least this fraction of its pixels
                                   inside a larger kept mask is a part, dropped */
    int32_t max_objects;        /* 32 */
    double grow;                /* 0.1: the square's side is max(w, h) * (1 + grow) */
} am_object_params;

am_object_params am_object_default_params(void);

/*
 * Applies the selection rules in place, freeing what it drops:
 *  1. drop masks with area > max_area_fraction * W * H or
 *     area < min_area_fraction * W * H;
 *  2. sort by area, largest first; ties by bbox.y, then bbox.x, then the
 *     order they were added (so the result is deterministic);
 *  3. walking that order, drop a mask when |mask ∩ kept| >= max_inside_fraction
 *     * |mask| for some mask already kept;
 *  4. stop after max_objects kept.
 */
am_status am_objects_select(am_mask_list *list, const am_object_params *params, am_error *err);

/* A square in image pixels: columns x .. x + size - 1, rows y .. y + size - 1.
 * It may extend past the image. */
typedef struct {
    int32_t x, y, size;
} am_square;

/*
 * The square crop of an object: side = max(1, round(max(w, h) * (1 + grow))),
 * centred on the box's centre; when the centre and the side disagree in
 * parity the extra pixel goes right/down:
 *   x = floor((2 * bbox.x + bbox.w - side) / 2), likewise y.
 * Not clipped to the image: am_object_crop fills the outside.
 */
am_square am_object_square(am_box bbox, double grow);

/*
 * Cuts square `sq` from `image` at full resolution, pixels outside the
 * image taking the colour of the nearest edge pixel (coordinates clamped),
 * then resizes it to size x size with Pillow's bicubic filter into `out`
 * (allocated here; free with am_image_free).  size = 0 keeps sq.size.
 * Crop pixel (u, v) then shows image point
 *   (sq.x + (u + 0.5) * sq.size / size, sq.y + (v + 0.5) * sq.size / size).
 */
am_status am_object_crop(const am_image *image, am_square sq, int32_t size, am_image *out,
                         am_error *err);

/*
 * Pastes a map computed on an object's crop back onto the image canvas:
 * `map` (map_w x map_h floats, row-major, covering the whole square) is
 * resized bilinearly (am_resize_f32_bilinear: half-pixel centres, as torch)
 * to sq.size x sq.size, and every square pixel that falls inside the
 * width x height canvas sets canvas = max(canvas, value).  With `mask` (the
 * object's am_mask) only pixels of the mask are pasted; NULL pastes the
 * whole square (the paper's choice).  The caller initialises the canvas
 * (e.g. with zeros or with the whole image's map).
 */
am_status am_object_paste_max(float *canvas, int32_t width, int32_t height, const float *map,
                              int32_t map_w, int32_t map_h, am_square sq, const am_mask *mask,
                              am_error *err);

#endif
