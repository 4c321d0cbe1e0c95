/* predict.c - scoring one image: decomposition, one CLIP batch over all
 * crops, patch maps from text (zero-shot, Eqs. 1-3) or from the memory banks
 * (few-shot, Eqs. 4-9), upsampled and pasted onto the image canvas. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "detect/detector_internal.h"
#include "detect/maps.h"
#include "image/resize_f32.h"

/* Patch-level maps of one crop (each grid x grid). */
typedef struct {
    float text_score;         /* A of the crop's class token */
    float *text_small, *text_mid;
    float *dist[N_PARTS];     /* few-shot: against the crop's bank kind */
} crop_maps;

/* Text scores of every window of a crop, aggregated per patch (Eq. 2). */
static am_status text_maps(const am_detector *det, const crop_features *f, int32_t c,
                           crop_maps *m, am_error *err) {
    const int32_t dim = det->info.embed_dim;
    const int32_t ns = det->windows[0].count, nm = det->windows[1].count;
    const float *w = f->windows + (size_t)c * (ns + nm) * dim;
    float *scores = am_alloc((size_t)(ns + nm), sizeof(float), err);
    if (!scores) return AM_ERR_NOMEM;
    for (int32_t i = 0; i < ns + nm; i++)
        scores[i] = am_text_anomaly_score(w + (size_t)i * dim, det->text_normal,
                                          det->text_anomalous, dim, det->params.temperature);
    am_status st = am_map_harmonic(det->windows[0].patches, ns, det->windows[0].size, scores,
                                   det->n_patches, m->text_small, err);
    if (st == AM_OK)
        st = am_map_harmonic(det->windows[1].patches, nm, det->windows[1].size, scores + ns,
                             det->n_patches, m->text_mid, err);
    m->text_score = am_text_anomaly_score(f->cls + (size_t)c * dim, det->text_normal,
                                          det->text_anomalous, dim, det->params.temperature);
    am_free(scores);
    return st;
}

/* Distances of the windows and patch tokens of crops c0 .. c1-1 to one kind
 * of bank, each part one batched search; maps[c - c0] receive the patch maps. */
static am_status memory_maps(am_detector *det, const crop_features *f, int32_t c0, int32_t c1,
                             int bank, crop_maps *maps, am_error *err) {
    const int32_t dim = det->info.embed_dim, width = det->info.vision_width;
    const int32_t ns = det->windows[0].count, nm = det->windows[1].count, np = det->n_patches;
    const int32_t nc = c1 - c0;
    float *q = am_alloc((size_t)nc * (ns > nm ? ns : nm), (size_t)dim * sizeof(float), err);
    float *d = am_alloc((size_t)nc * (size_t)(ns + nm + np), sizeof(float), err);
    am_status st = q && d ? AM_OK : AM_ERR_NOMEM;
    float *ds = d, *dm = d + (size_t)nc * ns, *di = dm + (size_t)nc * nm;
    /* the crops' small windows side by side, then their middle windows */
    for (int part = 0; st == AM_OK && part < 2; part++) {
        int32_t count = part ? nm : ns, offset = part ? ns : 0;
        for (int32_t c = 0; c < nc; c++)
            memcpy(q + (size_t)c * count * dim,
                   f->windows + ((size_t)(c0 + c) * (ns + nm) + offset) * dim,
                   sizeof(float) * (size_t)count * dim);
        st = am_bank_index_distance(det->index[bank][part ? PART_MID : PART_SMALL], q,
                                    (int64_t)nc * count, part ? dm : ds, err);
    }
    if (st == AM_OK) /* patch tokens of consecutive crops are contiguous */
        st = am_bank_index_distance(det->index[bank][PART_IMAGE],
                                    f->tokens + (size_t)c0 * np * width, (int64_t)nc * np, di,
                                    err);
    for (int32_t c = 0; st == AM_OK && c < nc; c++) {
        crop_maps *m = &maps[c];
        memcpy(m->dist[PART_IMAGE], di + (size_t)c * np, sizeof(float) * np);
        st = am_map_harmonic(det->windows[0].patches, ns, det->windows[0].size,
                             ds + (size_t)c * ns, np, m->dist[PART_SMALL], err);
        if (st == AM_OK)
            st = am_map_harmonic(det->windows[1].patches, nm, det->windows[1].size,
                                 dm + (size_t)c * nm, np, m->dist[PART_MID], err);
    }
    am_free(q);
    am_free(d);
    return st;
}

/* Weighted sum of a crop's three distance maps at patch level (the weights
 * commute with the bilinear upsampling). */
static void combine_parts(const crop_maps *m, int32_t np, float ws, float wm, float wi,
                          float *out) {
    am_map_blend(m->dist[PART_SMALL], ws, m->dist[PART_MID], wm, np, out);
    am_map_add_scaled(m->dist[PART_IMAGE], wi, np, out);
}

/* Canvas of the whole image's map overwritten, inside the object squares,
 * by the objects' maps (max where squares overlap). */
static am_status compose_objects(const am_detector *det, const am_decomposition *dec,
                                 float *const *patch_maps, float *canvas, int32_t w, int32_t h,
                                 float *layer, int keep_base, am_error *err) {
    const int32_t g = det->info.grid;
    const int64_t npx = (int64_t)w * h;
    am_status st = AM_OK;
    if (keep_base) st = am_resize_f32_bilinear(patch_maps[0], g, g, canvas, w, h, err);
    else memset(canvas, 0, sizeof(float) * (size_t)npx);
    for (int64_t i = 0; i < npx; i++) layer[i] = -1.0f;
    for (int32_t j = 0; st == AM_OK && j < dec->n; j++)
        st = am_object_paste_max(layer, w, h, patch_maps[j + 1], g, g, dec->squares[j], NULL, err);
    for (int64_t i = 0; i < npx; i++)
        if (layer[i] >= 0) canvas[i] = layer[i];
    return st;
}

static am_status fuse(am_detector *det, const am_decomposition *dec, crop_maps *maps, int32_t n,
                      float *map, int32_t w, int32_t h, float *score, am_error *err) {
    const am_detector_params *p = &det->params;
    const int32_t np = det->n_patches, g = det->info.grid;
    const int64_t npx = (int64_t)w * h;
    float *a = am_alloc((size_t)n, sizeof(float), err);
    float *patch = am_alloc((size_t)n * np, sizeof(float), err);
    float **pm = calloc((size_t)n, sizeof *pm);
    float *buf1 = am_alloc((size_t)npx, sizeof(float), err);
    float *buf2 = am_alloc((size_t)npx, sizeof(float), err);
    am_status st = a && patch && pm && buf1 && buf2 ? AM_OK : AM_ERR_NOMEM;
    if (st != AM_OK) goto done;
    for (int32_t c = 0; c < n; c++) {
        a[c] = maps[c].text_score;
        pm[c] = patch + (size_t)c * np;
    }
    if (!det->fitted) { /* zero-shot, Eqs. 1 and 3 */
        for (int32_t c = 0; c < n; c++) memcpy(pm[c], maps[c].text_small, sizeof(float) * np);
        st = compose_objects(det, dec, pm, map, w, h, buf2, 1, err);
        for (int32_t c = 0; st == AM_OK && c < n; c++)
            memcpy(pm[c], maps[c].text_mid, sizeof(float) * np);
        if (st == AM_OK) st = compose_objects(det, dec, pm, buf1, w, h, buf2, 1, err);
        if (st != AM_OK) goto done;
        am_map_blend(map, p->zs_small_weight, buf1, p->zs_mid_weight, npx, map);
        *score = am_score_zero_shot(a[0], a + 1, n - 1);
    } else { /* few-shot, Eqs. 6-9; maps[0].dist holds the global distances */
        combine_parts(&maps[0], np, p->global_small_weight, p->global_mid_weight,
                      p->global_image_weight, pm[0]);
        st = am_resize_f32_bilinear(pm[0], g, g, map, w, h, err); /* S_global */
        if (st != AM_OK) goto done;
        if (dec->n == 0) { /* the image is its own single object */
            combine_parts(&maps[n], np, p->indiv_small_weight, p->indiv_mid_weight,
                          p->indiv_image_weight, pm[0]);
            st = am_resize_f32_bilinear(pm[0], g, g, buf1, w, h, err);
        } else {
            for (int32_t c = 1; c < n; c++)
                combine_parts(&maps[c], np, p->indiv_small_weight, p->indiv_mid_weight,
                              p->indiv_image_weight, pm[c]);
            st = compose_objects(det, dec, pm, buf1, w, h, buf2, 0, err); /* S_indiv */
        }
        if (st != AM_OK) goto done;
        float max_global = am_map_max(map, npx), max_indiv = am_map_max(buf1, npx);
        *score = am_score_few_shot(a[0], max_global, a + 1, n - 1, max_indiv);
        am_map_blend(map, p->global_weight, buf1, p->indiv_weight, npx, map);
    }
    am_map_scale(map, *score, npx);
    if (p->smooth_sigma > 0) st = am_map_gaussian(map, w, h, p->smooth_sigma, buf1, err);
done:
    am_free(a);
    am_free(patch);
    free(pm);
    am_free(buf1);
    am_free(buf2);
    return st;
}

void am_prediction_free(am_prediction *pred) {
    am_free(pred->map);
    free(pred->objects);
    memset(pred, 0, sizeof *pred);
}

am_status am_detector_predict(am_detector *det, const am_image *image, am_prediction *out,
                              am_error *err) {
    memset(out, 0, sizeof *out);
    if (!image || !image->data || image->width <= 0 || image->height <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "predict: empty image");
    am_decomposition dec = {0};
    crop_features f = {0};
    am_status st = am_decompose(det->sam, image, &det->params, &dec, err);
    if (st == AM_OK) st = am_encode_crops(det, image, &dec, &f, err);
    if (st != AM_OK) {
        am_decomposition_free(&dec);
        return st;
    }
    const int32_t n = f.n, np = det->n_patches;
    /* one extra slot: the whole image against the individual banks when the
     * scene has no objects */
    crop_maps *maps = calloc((size_t)n + 1, sizeof *maps);
    float *store = am_calloc((size_t)(n + 1) * (2 + N_PARTS), (size_t)np * sizeof(float), err);
    if (!maps || !store) st = AM_ERR_NOMEM;
    for (int32_t c = 0; st == AM_OK && c <= n; c++) {
        float *base = store + (size_t)c * (2 + N_PARTS) * np;
        maps[c].text_small = base;
        maps[c].text_mid = base + np;
        for (int part = 0; part < N_PARTS; part++) maps[c].dist[part] = base + (2 + part) * np;
    }
    for (int32_t c = 0; st == AM_OK && c < n; c++) st = text_maps(det, &f, c, &maps[c], err);
    /* the whole image against the global banks, the objects (or, without
     * objects, the image itself) against the individual banks */
    if (st == AM_OK && det->fitted) st = memory_maps(det, &f, 0, 1, BANK_GLOBAL, &maps[0], err);
    if (st == AM_OK && det->fitted)
        st = n > 1 ? memory_maps(det, &f, 1, n, BANK_INDIV, &maps[1], err)
                   : memory_maps(det, &f, 0, 1, BANK_INDIV, &maps[n], err);
    if (st == AM_OK) {
        out->width = image->width;
        out->height = image->height;
        out->map = am_alloc((size_t)image->width * image->height, sizeof(float), err);
        if (!out->map) st = AM_ERR_NOMEM;
    }
    if (st == AM_OK)
        st = fuse(det, &dec, maps, n, out->map, image->width, image->height, &out->score, err);
    if (st == AM_OK && dec.n > 0) {
        out->objects = malloc(sizeof *out->objects * (size_t)dec.n);
        if (!out->objects) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
        else memcpy(out->objects, dec.boxes, sizeof *out->objects * (size_t)dec.n);
        out->n_objects = dec.n;
    }
    free(maps);
    am_free(store);
    am_crop_features_free(&f);
    am_decomposition_free(&dec);
    if (st != AM_OK) am_prediction_free(out);
    return st;
}
