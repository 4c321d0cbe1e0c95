/* fit.c - few-shot fitting: every augmentation of every reference image is
 * decomposed and encoded like a test image; whole-image crops feed the global
 * banks, object crops the individual banks; then each part is capped. */
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "detect/augment.h"
#include "detect/detector_internal.h"

/* Random subsampling keeps a reservoir of memory_capacity rows while fitting;
 * a coreset needs every row until the end. */
static int64_t reservoir_rows(const am_detector_params *p) {
    return p->subsample == AM_SUBSAMPLE_RANDOM ? p->memory_capacity : INT64_MAX;
}

/* Offers one crop's small windows, middle windows and patch tokens. */
static am_status append_crop(am_detector *det, const crop_features *f, int32_t crop,
                             am_bank *banks, am_bank_budget *budget, am_error *err) {
    const int32_t dim = det->info.embed_dim, width = det->info.vision_width;
    const int32_t ns = det->windows[0].count, nm = det->windows[1].count;
    const int64_t keep = reservoir_rows(&det->params);
    const float *w = f->windows + (size_t)crop * (ns + nm) * dim;
    am_status st = am_bank_offer(&banks[PART_SMALL], w, ns, dim, keep, budget, err);
    if (st == AM_OK)
        st = am_bank_offer(&banks[PART_MID], w + (size_t)ns * dim, nm, dim, keep, budget, err);
    if (st == AM_OK)
        st = am_bank_offer(&banks[PART_IMAGE], f->tokens + (size_t)crop * det->n_patches * width,
                           det->n_patches, width, keep, budget, err);
    return st;
}

static am_status add_reference(am_detector *det, const am_image *image, am_bank_budget *budget,
                               am_error *err) {
    am_decomposition dec = {0};
    crop_features f = {0};
    am_status st = am_decompose(det->sam, image, &det->params, &dec, err);
    if (st == AM_OK) st = am_encode_crops(det, image, &dec, &f, err);
    if (st == AM_OK) st = append_crop(det, &f, 0, det->banks[BANK_GLOBAL], budget, err);
    /* a scene without objects is its own single object */
    if (st == AM_OK && dec.n == 0)
        st = append_crop(det, &f, 0, det->banks[BANK_INDIV], budget, err);
    for (int32_t j = 0; st == AM_OK && j < dec.n; j++)
        st = append_crop(det, &f, j + 1, det->banks[BANK_INDIV], budget, err);
    am_crop_features_free(&f);
    am_decomposition_free(&dec);
    return st;
}

static uint64_t part_seed(const am_detector_params *p, int bank, int part) {
    return p->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(bank * N_PARTS + part + 1));
}

/* Cuts each part to memory_capacity rows, or memory_ratio of the rows seen. */
static am_status cap_banks(am_detector *det, am_error *err) {
    const am_detector_params *p = &det->params;
    for (int b = 0; b < N_BANKS; b++)
        for (int part = 0; part < N_PARTS; part++) {
            am_bank *bank = &det->banks[b][part];
            int64_t keep = p->memory_capacity;
            if (p->memory_ratio > 0) {
                int64_t r = (int64_t)(p->memory_ratio * (double)bank->seen + 0.5);
                if (r < 1) r = 1;
                if (r < keep) keep = r;
            }
            uint64_t seed = part_seed(p, b, part);
            am_status st = p->subsample == AM_SUBSAMPLE_CORESET
                               ? am_bank_subsample_coreset(bank, keep, seed, err)
                               : am_bank_subsample_random(bank, keep, seed, err);
            if (st != AM_OK) return st;
        }
    return AM_OK;
}

am_status am_detector_fit_begin(am_detector *det, am_error *err) {
    (void)err;
    for (int b = 0; b < N_BANKS; b++)
        for (int part = 0; part < N_PARTS; part++) {
            am_bank_index_free(det->index[b][part]);
            det->index[b][part] = NULL;
            am_bank_start(&det->banks[b][part], part_seed(&det->params, b, part));
        }
    det->fitted = 0;
    det->fit_added = 0;
    det->fit_budget = (am_bank_budget){.limit_bytes = det->params.memory_budget_mb << 20};
    return AM_OK;
}

am_status am_detector_fit_add(am_detector *det, const am_image *reference, am_error *err) {
    if (det->fit_added < 0)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "fit: add a reference after am_detector_fit_begin");
    am_augment augs[16];
    int32_t n_augs = am_augment_list(det->params.augmentations, det->params.rotate_degrees,
                                     det->params.translate_fraction, augs);
    am_status st = AM_OK;
    for (int32_t a = 0; st == AM_OK && a < n_augs; a++) {
        am_image view = {0};
        st = am_augment_apply(reference, augs[a], &view, err);
        if (st == AM_OK) st = add_reference(det, &view, &det->fit_budget, err);
        am_image_free(&view);
    }
    det->fit_added = st == AM_OK ? det->fit_added + 1 : -1;
    return st;
}

am_status am_detector_fit_end(am_detector *det, am_error *err) {
    if (det->fit_added < 1)
        return am_error_set(err, AM_ERR_ARGUMENT, det->fit_added < 0
                                                      ? "fit: no fit in progress (begin again)"
                                                      : "fit needs at least one reference image");
    det->fit_added = -1;
    am_status st = cap_banks(det, err);
    if (st == AM_OK) st = am_detector_build_index(det, err);
    if (st == AM_OK) det->fitted = 1;
    return st;
}

am_status am_detector_fit(am_detector *det, const am_image *references, int32_t k,
                          am_error *err) {
    if (k < 1) return am_error_set(err, AM_ERR_ARGUMENT, "fit needs at least one reference image");
    am_status st = am_detector_fit_begin(det, err);
    for (int32_t i = 0; st == AM_OK && i < k; i++) st = am_detector_fit_add(det, &references[i], err);
    if (st == AM_OK) st = am_detector_fit_end(det, err);
    return st;
}
