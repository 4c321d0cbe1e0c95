/* fuzz-weights.h - what the weight-file fuzz targets do with a file that
 * opened: read every tensor back, raw and as float32, touching the last
 * byte so that a wrong size or offset shows up under ASan. */
#ifndef AM_FUZZ_WEIGHTS_H
#define AM_FUZZ_WEIGHTS_H

#include "anomem.h"

static void fuzz_read_all_tensors(am_weights *w) {
    am_error err;
    volatile unsigned char sink = 0;
    for (int64_t i = 0; i < am_weights_count(w); i++) {
        const am_tensor_info *t = am_weights_at(w, i);
        const void *raw;
        size_t n;
        const float *f;
        if (am_weights_get_raw(w, t->name, &raw, &n, &err) == AM_OK && n)
            sink ^= ((const unsigned char *)raw)[n - 1];
        if (am_weights_get_f32(w, t->name, &f, &err) == AM_OK && t->numel)
            sink ^= (unsigned char)(f[t->numel - 1] > 0);
    }
    (void)sink;
}

#endif
