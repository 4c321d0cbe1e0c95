/* test-detect-e2e.c - the detector end to end on a synthetic set the test
 * generates (three products per scene, scratches, missing pieces, stains,
 * wrong colours, with masks) and a seeded random-weight CLIP of the real
 * layout at 240 px (narrow, so it runs in seconds):
 * few-shot with 2 references must rank defective images above good ones
 * (image AUROC >= 0.9) and put the map's mass on the defects (pixel AUROC >=
 * 0.85); zero-shot runs end to end (shapes, finiteness, determinism); a saved
 * and reloaded model gives byte-identical results; the same seed gives the
 * same model file twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/file.h"

static am_clip *random_clip(void) {
    am_error err = {0};
    am_clip_info info = {0};
    info.image_size = 240;
    info.patch_size = 16;
    info.grid = 15;
    info.vision_width = 64;
    info.vision_layers = 2;
    info.vision_heads = 2;
    info.embed_dim = 32;
    info.text_width = 32;
    info.text_layers = 1;
    info.text_heads = 2;
    info.context_length = 77;
    info.vocab_size = 49408;
    am_clip_params p = am_clip_default_params();
    am_clip *clip = NULL;
    CHECK_OK(am_clip_create_random(3, &info, &p, &clip, &err));
    return clip;
}

/* Scores every test image of one category; fills scores, labels, maps and
 * masks at 64 x 64 for the metrics. */
static void score_category(am_detector *det, const am_dataset *ds, int32_t cat, float *scores,
                           uint8_t *labels, float **maps, uint8_t **masks, int32_t *n) {
    am_error err = {0};
    const int32_t size = 64;
    *n = am_dataset_test_count(ds, cat);
    for (int32_t i = 0; i < *n; i++) {
        const am_dataset_item *item = am_dataset_test_item(ds, cat, i);
        am_image img = {0};
        am_prediction pred = {0};
        CHECK_OK(am_image_read(item->path, 0, &img, &err));
        CHECK_OK(am_detector_predict(det, &img, &pred, &err));
        scores[i] = pred.score;
        labels[i] = item->label;
        maps[i] = malloc(sizeof(float) * size * size);
        masks[i] = calloc(size * size, 1);
        /* nearest sampling of the map and the mask at the evaluation size */
        uint8_t *m = NULL;
        int32_t mw = 0, mh = 0;
        if (item->mask) CHECK_OK(am_image_read_gray(item->mask, 0, &m, &mw, &mh, &err));
        for (int32_t y = 0; y < size; y++)
            for (int32_t x = 0; x < size; x++) {
                int32_t sx = (2 * x + 1) * pred.width / (2 * size);
                int32_t sy = (2 * y + 1) * pred.height / (2 * size);
                maps[i][y * size + x] = pred.map[sy * pred.width + sx];
                if (m) masks[i][y * size + x] = m[sy * mw + sx] ? 1 : 0;
            }
        free(m);
        am_prediction_free(&pred);
        am_image_free(&img);
    }
}

static void test_few_shot(am_clip *clip, const am_dataset *ds) {
    am_error err = {0};
    for (int32_t cat = 0; cat < am_dataset_category_count(ds); cat++) {
        am_detector_params p = am_detector_default_params();
        p.augmentations = AM_AUG_IDENTITY | AM_AUG_HFLIP;
        am_detector *det = NULL;
        CHECK_OK(am_detector_create(clip, NULL, "object", &p, &det, &err));
        int32_t shots[2];
        CHECK_OK(am_dataset_select_shots(ds, cat, 2, 0, shots, &err));
        am_image refs[2] = {{0}};
        for (int k = 0; k < 2; k++)
            CHECK_OK(am_image_read(am_dataset_train_item(ds, cat, shots[k])->path, 0, &refs[k],
                                   &err));
        CHECK_OK(am_detector_fit(det, refs, 2, &err));
        float scores[64];
        uint8_t labels[64];
        float *maps[64];
        uint8_t *masks[64];
        int32_t n = 0;
        score_category(det, ds, cat, scores, labels, maps, masks, &n);
        am_image_metrics im;
        am_pixel_metrics pm;
        CHECK_OK(am_metrics_image(scores, labels, n, &im, &err));
        CHECK_OK(am_metrics_pixel((const float *const *)maps, (const uint8_t *const *)masks, n, 64,
                                  64, 0.3, &pm, &err));
        for (int32_t i = 0; getenv("E2E_DEBUG") && i < n; i++) printf("  %d %.4f\n", labels[i], scores[i]);
        printf("%s: image AUROC %.3f, pixel AUROC %.3f, AUPRO %.3f\n",
               am_dataset_category_name(ds, cat), im.auroc, pm.auroc, pm.aupro);
        CHECK(im.auroc >= 0.9, "%s image AUROC %.3f", am_dataset_category_name(ds, cat), im.auroc);
        CHECK(pm.auroc >= 0.85, "%s pixel AUROC %.3f", am_dataset_category_name(ds, cat),
              pm.auroc);
        for (int32_t i = 0; i < n; i++) {
            free(maps[i]);
            free(masks[i]);
        }
        am_image_free(&refs[0]);
        am_image_free(&refs[1]);
        am_detector_free(det);
    }
}

static void test_zero_shot(am_clip *clip, const am_dataset *ds) {
    am_error err = {0};
    am_detector_params p = am_detector_default_params();
    am_detector *det = NULL;
    CHECK_OK(am_detector_create(clip, NULL, "pill", &p, &det, &err));
    CHECK(!am_detector_is_fitted(det), "zero-shot detector is not fitted");
    const am_dataset_item *item = am_dataset_test_item(ds, 0, am_dataset_test_count(ds, 0) - 1);
    am_image img = {0};
    am_prediction a = {0}, b = {0};
    CHECK_OK(am_image_read(item->path, 0, &img, &err));
    CHECK_OK(am_detector_predict(det, &img, &a, &err));
    CHECK_OK(am_detector_predict(det, &img, &b, &err));
    CHECK(a.width == img.width && a.height == img.height, "map size");
    CHECK(a.n_objects == 3, "three objects found, got %d", (int)a.n_objects);
    int finite = isfinite(a.score);
    for (int64_t i = 0; i < (int64_t)a.width * a.height; i++) finite &= isfinite(a.map[i]);
    CHECK(finite, "finite score and map");
    CHECK(a.score == b.score &&
              memcmp(a.map, b.map, sizeof(float) * (size_t)a.width * a.height) == 0,
          "deterministic");
    am_prediction_free(&a);
    am_prediction_free(&b);
    am_image_free(&img);
    am_detector_free(det);
}

static void test_model_file(am_clip *clip, const am_dataset *ds, const char *tmp) {
    am_error err = {0};
    am_detector_params p = am_detector_default_params();
    p.augmentations = AM_AUG_IDENTITY | AM_AUG_VFLIP;
    p.memory_capacity = 500; /* exercises the seeded cap */
    am_image ref = {0}, img = {0};
    CHECK_OK(am_image_read(am_dataset_train_item(ds, 1, 0)->path, 0, &ref, &err));
    CHECK_OK(am_image_read(am_dataset_test_item(ds, 1, am_dataset_test_count(ds, 1) - 1)->path,
                           0, &img, &err));
    char path1[4200], path2[4200];
    snprintf(path1, sizeof path1, "%s/a.anomem", tmp);
    snprintf(path2, sizeof path2, "%s/b.anomem", tmp);
    am_detector *d1 = NULL, *d2 = NULL, *loaded = NULL;
    CHECK_OK(am_detector_create(clip, NULL, "washer", &p, &d1, &err));
    CHECK_OK(am_detector_fit(d1, &ref, 1, &err));
    CHECK_OK(am_detector_save(d1, path1, &err));
    /* the same fit one reference at a time; the calls out of order refused */
    CHECK_OK(am_detector_create(clip, NULL, "washer", &p, &d2, &err));
    CHECK(am_detector_fit_add(d2, &ref, &err) == AM_ERR_ARGUMENT, "add before begin");
    CHECK_OK(am_detector_fit_begin(d2, &err));
    CHECK(am_detector_fit_end(d2, &err) == AM_ERR_ARGUMENT && strstr(err.message, "at least one"),
          "end without a reference: %s", err.message);
    CHECK_OK(am_detector_fit_begin(d2, &err));
    CHECK_OK(am_detector_fit_add(d2, &ref, &err));
    CHECK_OK(am_detector_fit_end(d2, &err));
    CHECK(am_detector_fit_end(d2, &err) == AM_ERR_ARGUMENT, "end twice");
    CHECK(am_detector_is_fitted(d2), "fitted after end");
    int64_t kept = 0, seen = 0;
    am_detector_bank_counts(d2, &kept, &seen);
    CHECK(kept > 0 && kept <= 6 * 500 && seen >= kept, "bank counts: %lld kept of %lld",
          (long long)kept, (long long)seen);
    CHECK_OK(am_detector_save(d2, path2, &err));
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(am_file_read_all(path1, (size_t)1 << 30, &a, &na, &err));
    CHECK_OK(am_file_read_all(path2, (size_t)1 << 30, &b, &nb, &err));
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0,
          "same seed, same model bytes (whole fit and one at a time)");
    am_free(a);
    am_free(b);
    CHECK_OK(am_detector_load(path1, clip, NULL, &loaded, &err));
    am_prediction x = {0}, y = {0};
    CHECK_OK(am_detector_predict(d1, &img, &x, &err));
    CHECK_OK(am_detector_predict(loaded, &img, &y, &err));
    CHECK(x.map && y.map && x.score == y.score &&
              memcmp(x.map, y.map, sizeof(float) * (size_t)x.width * x.height) == 0,
          "saved and reloaded model: identical score and map");
    /* another CLIP is refused */
    am_clip *other = NULL;
    am_clip_params cp = am_clip_default_params();
    am_clip_info info = am_clip_get_info(clip);
    CHECK_OK(am_clip_create_random(4, &info, &cp, &other, &err));
    am_detector *bad = NULL;
    CHECK(am_detector_load(path1, other, NULL, &bad, &err) == AM_ERR_MISMATCH,
          "other CLIP refused");
    CHECK(strstr(err.message, "another CLIP") != NULL, "message: %s", err.message);
    am_clip_free(other);
    am_prediction_free(&x);
    am_prediction_free(&y);
    am_detector_free(d1);
    am_detector_free(d2);
    am_detector_free(loaded);
    am_image_free(&ref);
    am_image_free(&img);
}

int main(void) {
    am_error err = {0};
    char tmp[] = "/tmp/anomem-e2e-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char root[4200];
    snprintf(root, sizeof root, "%s/data", tmp);
    CHECK_OK(am_synth_write(root, 11, 3, 3, 2, 192, &err));
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open(root, AM_DATASET_MVTEC, NULL, 0, &ds, &err));
    am_clip *clip = random_clip();
    if (ds && clip) {
        test_few_shot(clip, ds);
        test_zero_shot(clip, ds);
        test_model_file(clip, ds, tmp);
    }
    am_clip_free(clip);
    am_dataset_free(ds);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "cleanup");
    return check_summary();
}
