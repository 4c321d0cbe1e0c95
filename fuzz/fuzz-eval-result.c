/* fuzz-eval-result.c - libFuzzer target for reading back a finished
 * category's result (the "result" record of <out>/<category>/result.json,
 * trusted by a resumed eval): any JSON must be taken or refused cleanly; a
 * taken one has sound curves and counts and survives a round trip. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/result_json.h"

static void check_curve(const am_curve *c) {
    if (c->n < 0 || c->n > AM_CURVE_MAX_POINTS) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *o = json_loadb((const char *)data, size, 0, NULL);
    am_eval_result r, again;
    memset(&r, 0, sizeof r);
    memset(&again, 0, sizeof again);
    if (o && am_eval_result_from_json(o, &r)) {
        check_curve(&r.image.roc);
        check_curve(&r.image.pr);
        check_curve(&r.pixel.roc);
        check_curve(&r.pixel.pr);
        if (r.image.n_normal < 0 || r.image.n_anomalous < 0) abort();
        r.name = again.name = "fuzz";
        json_t *back = am_eval_result_to_json(&r);
        if (!back || !am_eval_result_from_json(back, &again)) abort();
        /* the same values (NaN exactly where undefined) */
        if (memcmp(&r, &again, sizeof r) != 0) abort();
        json_decref(back);
    }
    json_decref(o);
    return 0;
}
