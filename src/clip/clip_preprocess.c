/* clip_preprocess.c - an RGB image to the model's input: Pillow-exact bicubic
 * resize to the square (squash, no crop), then /255 and (x - mean) / std per
 * channel in float32, as open_clip's eval transform with resize mode "squash". */
#include "clip/clip_internal.h"
#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"

/* OpenAI CLIP's normalisation constants. */
static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

am_status am_clip_preprocess(const am_clip *clip, const am_image *image, float *out,
                             am_error *err) {
    if (!image || !image->data || image->width <= 0 || image->height <= 0 || !out)
        return am_error_set(err, AM_ERR_ARGUMENT, "CLIP preprocess: empty image");
    const int32_t s = clip->info.image_size;
    uint8_t *resized = am_alloc((size_t)s * s, 3, err);
    if (!resized) return AM_ERR_NOMEM;
    am_status st = am_resize_u8(image->data, image->width, image->height, 3, resized, s, s,
                                AM_RESAMPLE_BICUBIC, err);
    if (st == AM_OK) {
        const int64_t plane = (int64_t)s * s;
        for (int64_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) {
                float v = (float)resized[i * 3 + c] / 255.0f;
                out[c * plane + i] = (v - clip_mean[c]) / clip_std[c];
            }
    }
    am_free(resized);
    return st;
}
