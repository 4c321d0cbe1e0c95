/* fuzz-model-params.c - libFuzzer target for the fitted-model file's
 * parameter record: any bytes must parse into parameters that then pass or
 * fail the range check cleanly, and what parses must survive a round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detector_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    am_detector_params p;
    am_error err = {0};
    if (am_detector_params_from_json(text, &p, &err) == AM_OK) {
        if (am_detector_params_check(&p, 15, &err) == AM_OK) {
            char *again = am_detector_params_to_json(&p);
            am_detector_params q;
            if (!again || am_detector_params_from_json(again, &q, &err) != AM_OK) abort();
            char *third = am_detector_params_to_json(&q);
            if (!third || strcmp(again, third) != 0) abort(); /* stable round trip */
            free(again);
            free(third);
        }
    } else if (!err.message[0]) {
        abort(); /* a failure always says why */
    }
    free(text);
    return 0;
}
