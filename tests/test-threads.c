/* test-threads.c - two detectors used from two threads at once give the same
 * bytes as the same work done one after the other: the library keeps no
 * hidden global state. */
#include <pthread.h>
#include <string.h>

#include "check.h"

typedef struct {
    const char *clip_path;
    const char *object;
    am_image ref, test;
    float score;
    float *map;
    int64_t n;
    am_status status;
} job;

/* Loads its own CLIP, fits a detector on one image, scores another. */
static void *run_job(void *arg) {
    job *j = arg;
    am_error err = {0};
    am_clip_params cp = am_clip_default_params();
    am_clip *clip = NULL;
    am_detector *det = NULL;
    am_detector_params p = am_detector_default_params();
    p.augmentations = AM_AUG_IDENTITY | AM_AUG_HFLIP;
    am_prediction pred = {0};
    j->status = am_clip_load(j->clip_path, &cp, &clip, &err);
    if (j->status == AM_OK) j->status = am_detector_create(clip, NULL, j->object, &p, &det, &err);
    if (j->status == AM_OK) j->status = am_detector_fit(det, &j->ref, 1, &err);
    if (j->status == AM_OK) j->status = am_detector_predict(det, &j->test, &pred, &err);
    if (j->status == AM_OK) {
        j->score = pred.score;
        j->n = (int64_t)pred.width * pred.height;
        j->map = malloc(sizeof(float) * (size_t)j->n);
        memcpy(j->map, pred.map, sizeof(float) * (size_t)j->n);
    }
    am_prediction_free(&pred);
    am_detector_free(det);
    am_clip_free(clip);
    return NULL;
}

int main(void) {
    am_error err = {0};
    char tmp[] = "/tmp/anomem-threads-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char root[4200], path[4300];
    snprintf(root, sizeof root, "%s/data", tmp);
    CHECK_OK(am_synth_write(root, 9, 1, 1, 1, 128, &err));
    const char *kinds[2] = {"pills", "washers"};
    char clip_path[4200]; /* check_shared_path's buffer is not for threads */
    snprintf(clip_path, sizeof clip_path, "%s", check_shared_path("vectors/clip-tiny/model.safetensors"));
    job seq[2], par[2];
    for (int k = 0; k < 2; k++) {
        memset(&seq[k], 0, sizeof seq[k]);
        seq[k].object = kinds[k];
        seq[k].clip_path = clip_path;
        snprintf(path, sizeof path, "%s/%s/train/good/000.png", root, kinds[k]);
        CHECK_OK(am_image_read(path, 0, &seq[k].ref, &err));
        snprintf(path, sizeof path, "%s/%s/test/stain/000.png", root, kinds[k]);
        CHECK_OK(am_image_read(path, 0, &seq[k].test, &err));
        par[k] = seq[k];
    }
    for (int k = 0; k < 2; k++) run_job(&seq[k]);
    pthread_t t[2];
    for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, run_job, &par[k]);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < 2; k++) {
        CHECK(seq[k].status == AM_OK && par[k].status == AM_OK, "both runs succeed");
        CHECK(seq[k].score == par[k].score, "%s: same score %.9g vs %.9g", kinds[k],
              seq[k].score, par[k].score);
        CHECK(seq[k].map && par[k].map && seq[k].n == par[k].n &&
                  memcmp(seq[k].map, par[k].map, sizeof(float) * (size_t)seq[k].n) == 0,
              "%s: same map bytes", kinds[k]);
        free(seq[k].map);
        free(par[k].map);
        am_image_free(&seq[k].ref);
        am_image_free(&seq[k].test);
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "cleanup");
    return check_summary();
}
