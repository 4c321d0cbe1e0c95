/* crops.c - the crops of one image (the image itself, then each object's
 * square) preprocessed and encoded by CLIP in a single batch. */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "detect/detector_internal.h"

void am_crop_features_free(crop_features *f) {
    am_free(f->windows);
    am_free(f->cls);
    am_free(f->tokens);
    memset(f, 0, sizeof *f);
}

am_status am_encode_crops(am_detector *det, const am_image *image, const am_decomposition *dec,
                          crop_features *out, am_error *err) {
    memset(out, 0, sizeof *out);
    const am_clip_info *in = &det->info;
    const int32_t n = 1 + dec->n, s = in->image_size;
    const size_t crop_floats = (size_t)3 * s * s;
    const int32_t n_windows = det->windows[0].count + det->windows[1].count;
    float *pixels = am_alloc((size_t)n, crop_floats * sizeof(float), err);
    out->windows = am_alloc((size_t)n * n_windows, (size_t)in->embed_dim * sizeof(float), err);
    out->cls = am_alloc((size_t)n, (size_t)in->embed_dim * sizeof(float), err);
    out->tokens =
        am_alloc((size_t)n * det->n_patches, (size_t)in->vision_width * sizeof(float), err);
    am_status st = pixels && out->windows && out->cls && out->tokens ? AM_OK : AM_ERR_NOMEM;
    if (st == AM_OK) st = am_clip_preprocess(det->clip, image, pixels, err);
    for (int32_t j = 0; st == AM_OK && j < dec->n; j++) {
        am_image crop = {0};
        st = am_object_crop(image, dec->squares[j], s, &crop, err);
        if (st == AM_OK)
            st = am_clip_preprocess(det->clip, &crop, pixels + (size_t)(j + 1) * crop_floats, err);
        am_image_free(&crop);
    }
    if (st == AM_OK)
        st = am_clip_encode_images(det->clip, pixels, n, det->windows, 2, out->windows, out->cls,
                                   out->tokens, NULL, err);
    am_free(pixels);
    if (st != AM_OK) {
        am_crop_features_free(out);
        return st;
    }
    out->n = n;
    return AM_OK;
}
