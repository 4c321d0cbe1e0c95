/* fuzz-safetensors.c - libFuzzer target: any buffer as a weight file through
 * am_weights_open_memory (safetensors header first; zip files reach the
 * PyTorch reader too), then every tensor read raw and as float32. */
#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_error err;
    am_weights *w = NULL;
    if (am_weights_open_memory(data, size, "fuzz", &w, &err) != AM_OK) return 0;
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
    am_weights_close(w);
    return 0;
}
