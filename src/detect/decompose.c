/* decompose.c - the detector's object decomposition: masks from SAM's
 * generator or the classical segmenter, the selection rules, square crops. */
#include "detect/decompose.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/segment_classical.h"

void am_decomposition_free(am_decomposition *d) {
    free(d->boxes);
    free(d->squares);
    memset(d, 0, sizeof *d);
}

static am_object_params object_params(const am_detector_params *p) {
    am_object_params op = am_object_default_params();
    op.max_area_fraction = p->max_object_fraction;
    op.min_area_fraction = p->min_object_fraction;
    op.max_inside_fraction = p->nested_fraction;
    op.max_objects = p->max_objects;
    op.grow = p->crop_grow;
    return op;
}

/* SAM's masks, before selection. */
static am_status add_sam_masks(const am_sam_masks *masks, am_mask_list *list, am_error *err) {
    am_status st = AM_OK;
    for (int32_t i = 0; st == AM_OK && i < masks->count; i++)
        st = am_mask_list_add(list, masks->masks[i].mask, err);
    return st;
}

/* The selected objects of a mask list as boxes and squares. */
static am_status fill_decomposition(const am_mask_list *list, double grow, am_decomposition *out,
                                    am_error *err) {
    if (list->count == 0) return AM_OK;
    out->boxes = calloc((size_t)list->count, sizeof *out->boxes);
    out->squares = calloc((size_t)list->count, sizeof *out->squares);
    if (!out->boxes || !out->squares) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    for (int32_t j = 0; j < list->count; j++) {
        const am_mask *m = &list->items[j];
        out->boxes[j] = (am_object_box){m->bbox.x, m->bbox.y, m->bbox.w, m->bbox.h, m->area};
        out->squares[j] = am_object_square(m->bbox, grow);
        out->n = j + 1;
    }
    return AM_OK;
}

am_status am_objects_from_sam_masks(const am_sam_masks *masks, const am_detector_params *params,
                                    am_object_box **boxes, int32_t *n_boxes, am_error *err) {
    *boxes = NULL;
    *n_boxes = 0;
    am_object_params op = object_params(params);
    am_mask_list list;
    am_mask_list_init(&list, masks->width, masks->height);
    am_decomposition d = {0};
    am_status st = add_sam_masks(masks, &list, err);
    if (st == AM_OK) st = am_objects_select(&list, &op, err);
    if (st == AM_OK) st = fill_decomposition(&list, op.grow, &d, err);
    am_mask_list_free(&list);
    free(d.squares);
    if (st != AM_OK) {
        free(d.boxes);
        return st;
    }
    *boxes = d.boxes;
    *n_boxes = d.n;
    return AM_OK;
}

am_status am_decompose(am_sam *sam, const am_image *image, const am_detector_params *params,
                       am_decomposition *out, am_error *err) {
    memset(out, 0, sizeof *out);
    if (!params->use_objects || params->max_objects == 0) return AM_OK;
    am_object_params op = object_params(params);
    am_mask_list list;
    am_mask_list_init(&list, image->width, image->height);
    am_status st;
    if (sam) {
        am_amg_params ap = am_amg_default_params();
        am_sam_masks masks = {0};
        st = am_sam_generate(sam, image, &ap, &masks, err);
        if (st == AM_OK) st = add_sam_masks(&masks, &list, err);
        am_sam_masks_free(&masks);
        if (st == AM_OK) st = am_objects_select(&list, &op, err);
    } else {
        am_segment_params sp = am_segment_default_params();
        sp.select = op;
        st = am_segment_classical(image, &sp, &list, err);
    }
    if (st == AM_OK) st = fill_decomposition(&list, op.grow, out, err);
    am_mask_list_free(&list);
    if (st != AM_OK) am_decomposition_free(out);
    return st;
}

am_status am_detect_objects(am_sam *sam, const am_image *image, const am_detector_params *params,
                            am_object_box **boxes, int32_t *n_boxes, am_error *err) {
    am_decomposition d;
    am_status st = am_decompose(sam, image, params, &d, err);
    if (st != AM_OK) return st;
    *boxes = d.boxes;
    *n_boxes = d.n;
    free(d.squares);
    return AM_OK;
}

void am_boxes_free(am_object_box *boxes) {
    free(boxes);
}
