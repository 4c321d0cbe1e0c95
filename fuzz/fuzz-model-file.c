/* fuzz-model-file.c - libFuzzer target for the fitted-model file: any bytes
 * as a model file (am_weights_open_memory, then am_detector_peek's and
 * am_detector_load's reading of it) for the tiny random CLIP of
 * fuzz-model-clip.h, made once.  A failure must say why; a detector that
 * loads must be fitted, hold banks of the CLIP's widths with finite values
 * and finite text embeddings, and is then freed.
 * Seeds: fuzz/corpus/model-file (fuzz/gen-model-corpus.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detector_internal.h"
#include "fuzz-model-clip.h"

static am_clip *clip;

static int all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Aborts unless det is a fitted detector for clip with sound banks. */
static void check_detector(const am_detector *det) {
    const am_clip_info info = am_clip_get_info(clip);
    if (!det->fitted || memcmp(&det->info, &info, sizeof info) != 0 ||
        !all_finite(det->text_normal, info.embed_dim) ||
        !all_finite(det->text_anomalous, info.embed_dim))
        abort();
    for (int b = 0; b < N_BANKS; b++)
        for (int p = 0; p < N_PARTS; p++) {
            const am_bank *bank = &det->banks[b][p];
            const int64_t width = p == PART_IMAGE ? info.vision_width : info.embed_dim;
            if (bank->count < 0 || (bank->count > 0 && bank->dim != width) ||
                !all_finite(bank->rows, bank->count * width) || !det->index[b][p])
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_error err = {0};
    if (!clip && fuzz_model_clip(&clip, &err) != AM_OK) abort();
    am_weights *w = NULL;
    if (am_weights_open_memory(data, size, "fuzz", &w, &err) != AM_OK) {
        if (!err.message[0]) abort();
        return 0;
    }
    char object[16], clip_id[16], sam_id[4]; /* short: names are cut to fit */
    memset(&err, 0, sizeof err);
    if (am_detector_peek_weights(w, object, sizeof object, clip_id, sizeof clip_id, sam_id,
                                 sizeof sam_id, &err) != AM_OK &&
        !err.message[0])
        abort();
    memset(&err, 0, sizeof err);
    am_detector *det = NULL;
    if (am_detector_load_weights(w, clip, NULL, &det, &err) == AM_OK) {
        check_detector(det);
        am_detector_free(det);
    } else if (!err.message[0] || det) {
        abort();
    }
    am_weights_close(w);
    return 0;
}
