/* test-regressions.c - what the fuzzers found, kept as plain tests (so the
 * sanitizer run of the suite replays them on every CI): SAM config JSONs
 * whose sizes overflowed, and the fitted-model file with one flaw at a time
 * (fuzz/corpus/model-file, written by fuzz/gen-model-corpus.c), each refused
 * with its own status and message, the sound files loading; eval result
 * records a resumed run must not trust. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz-model-clip.h"
#include "check.h"
#include "detect/detector_internal.h"
#include "eval/result_json.h"

/* A file of the fuzz corpora, from ANOMEM_SOURCE (the source tree). */
static const char *corpus_path(const char *rel) {
    static char buf[8192];
    const char *src = getenv("ANOMEM_SOURCE");
    snprintf(buf, sizeof buf, "%s/fuzz/corpus/%s", src ? src : ".", rel);
    return buf;
}

static void test_sam_configs(void) {
    static const struct {
        const char *file, *words;
    } cases[] = {
        /* 4 * width overflowed int32 (UBSan, found by fuzz-sam-config) */
        {"regress-mlp-default-overflow.json",
         "regress-mlp-default-overflow.json: SAM encoder config: width 768168122 is not 1..16384"},
        /* width * mlp_ratio overflowed the float-to-int conversion */
        {"regress-mlp-ratio-overflow.json", "width 2147483647 is not 1..16384"},
        /* 2^32 + 2 decoder heads were read as 2 */
        {"regress-heads-int64.json",
         "regress-heads-int64.json: SAM decoder sizes out of range (dim 16, heads 0"},
    };
    char weights[4096];
    snprintf(weights, sizeof weights, "%s",
             check_shared_path("vectors/sam-tiny/model.safetensors"));
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "sam-config/%s", cases[i].file);
        am_sam_params p = am_sam_default_params();
        p.config_path = corpus_path(rel);
        am_error err = {0};
        am_sam *sam = NULL;
        am_status st = am_sam_load(weights, &p, &sam, &err);
        CHECK(st != AM_OK && !sam && strstr(err.message, cases[i].words), "%s: %s: %s",
              cases[i].file, am_status_string(st), err.message);
        am_sam_free(sam);
    }
}

static void test_model_files(void) {
    static const struct {
        const char *file;
        am_status status;
        const char *words;
    } cases[] = {
        {"fitted.model", AM_OK, ""},
        {"coreset.model", AM_OK, ""},
        {"banks-empty.model", AM_OK, ""},
        {"version-2.model", AM_ERR_UNSUPPORTED, "version 2"},
        {"not-a-model.model", AM_ERR_FORMAT, "not an anomem model"},
        {"params-partial.model", AM_ERR_FORMAT, "missing"},
        {"other-clip.model", AM_ERR_MISMATCH, "random:8"},
        {"other-sam.model", AM_ERR_MISMATCH, "SAM"},
        {"text-too-wide.model", AM_ERR_FORMAT, "text.normal"},
        {"nan-in-bank.model", AM_ERR_FORMAT, "non-finite"},
        /* found by fuzz-model-file's checks: NaN text embeddings were taken */
        {"nan-in-text.model", AM_ERR_FORMAT, "non-finite"},
        {"bank-missing.model", AM_ERR_FORMAT, "bank.global.image"},
    };
    am_error err = {0};
    am_clip *clip = NULL;
    CHECK_OK(fuzz_model_clip(&clip, &err));
    for (size_t i = 0; clip && i < sizeof cases / sizeof *cases; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "model-file/%s", cases[i].file);
        memset(&err, 0, sizeof err);
        am_detector *det = NULL;
        am_status st = am_detector_load(corpus_path(rel), clip, NULL, &det, &err);
        CHECK(st == cases[i].status && (st == AM_OK) == (det != NULL) &&
                  strstr(err.message, cases[i].words),
              "%s: %s: %s", cases[i].file, am_status_string(st), err.message);
        am_detector_free(det);
    }
    am_clip_free(clip);
}

static void test_eval_results(void) {
    static const struct {
        const char *file;
        int taken;
    } cases[] = {
        {"0-bars.json", 1},
        {"2-bars.json", 1},
        {"undefined-empty-curve.json", 1},
        {"count-not-number.json", 0},
        {"curve-lengths-differ.json", 0},
        /* 2.2e238 in a curve became inf as a float and was dropped when the
         * record was written again (found by fuzz-eval-result) */
        {"regress-curve-beyond-float.json", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "eval-result/%s", cases[i].file);
        json_t *o = json_load_file(corpus_path(rel), 0, NULL);
        am_eval_result r;
        memset(&r, 0, sizeof r);
        CHECK(o && am_eval_result_from_json(o, &r) == cases[i].taken, "%s: taken %d", cases[i].file,
              !cases[i].taken);
        json_decref(o);
    }
}

int main(void) {
    test_sam_configs();
    test_model_files();
    test_eval_results();
    return check_summary();
}
