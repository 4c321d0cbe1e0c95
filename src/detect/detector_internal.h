/* detector_internal.h - the detector object, shared by its files: creation
 * and text (detector.c), crop encoding (crops.c), fitting (fit.c),
 * prediction (predict.c) and the model file (model_file.c). */
#ifndef AM_DETECT_DETECTOR_INTERNAL_H
#define AM_DETECT_DETECTOR_INTERNAL_H

#include "anomem.h"
#include "detect/decompose.h"
#include "detect/memory_bank.h"

/* Bank parts: small windows, middle windows, image-scale patch tokens. */
enum { PART_SMALL, PART_MID, PART_IMAGE, N_PARTS };
/* Bank kinds: from whole images (global) and from object crops (individual). */
enum { BANK_GLOBAL, BANK_INDIV, N_BANKS };

#define AM_OBJECT_NAME_MAX 256

struct am_detector {
    am_clip *clip;
    am_sam *sam;
    am_detector_params params;
    char object[AM_OBJECT_NAME_MAX];
    am_clip_info info;
    int32_t n_patches; /* grid * grid */
    float *text_normal, *text_anomalous; /* embed_dim, unit length */
    am_clip_windows windows[2];          /* small, middle */
    int32_t *window_patches[2];
    am_bank banks[N_BANKS][N_PARTS];
    am_bank_index *index[N_BANKS][N_PARTS];
    int32_t fitted;
    /* a fit in progress: references added so far (-1: none begun or a failed
     * add), and what the banks may allocate */
    int32_t fit_added;
    am_bank_budget fit_budget;
};

/* The CLIP outputs of a batch of crops. */
typedef struct {
    int32_t n;
    float *windows; /* n x (small + mid windows) x embed_dim */
    float *cls;     /* n x embed_dim */
    float *tokens;  /* n x patches x vision_width */
} crop_features;

/* The parameters as compact JSON (malloc'd), and back (every key required). */
char *am_detector_params_to_json(const am_detector_params *p);
am_status am_detector_params_from_json(const char *text, am_detector_params *p, am_error *err);

/* Checks every parameter's range. */
am_status am_detector_params_check(const am_detector_params *p, int32_t grid, am_error *err);

/* Crops of one image: crop 0 is the whole image, crop j+1 the square of
 * object j; all go through one CLIP batch. */
am_status am_encode_crops(am_detector *det, const am_image *image, const am_decomposition *dec,
                          crop_features *out, am_error *err);

void am_crop_features_free(crop_features *f);

/* am_detector_peek and am_detector_load on a model file already open (or a
 * buffer); am_weights_path(w) names it in messages.  The detector does not
 * keep w. */
am_status am_detector_peek_weights(am_weights *w, char *object_name, size_t object_size,
                                   char *clip_identity, size_t clip_size, char *sam_identity,
                                   size_t sam_size, am_error *err);
am_status am_detector_load_weights(am_weights *w, am_clip *clip, am_sam *sam, am_detector **out,
                                   am_error *err);

/* The overlay am_map_write_overlay writes, as an image (*out, to be freed). */
am_status am_map_overlay(const am_image *image, const float *map, float vmax, am_image *out,
                         am_error *err);

/* Builds the search indexes over the banks (after fit or load). */
am_status am_detector_build_index(am_detector *det, am_error *err);

/* Shared by create and load: a detector without banks, text from `text`
 * (2 x embed_dim: normal, anomalous) or computed when NULL. */
am_status am_detector_new(am_clip *clip, am_sam *sam, const char *object_name,
                          const am_detector_params *params, const float *text,
                          am_detector **out, am_error *err);

#endif
