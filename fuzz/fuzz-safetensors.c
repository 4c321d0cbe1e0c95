/* fuzz-safetensors.c - libFuzzer target: any buffer as a weight file through
 * am_weights_open_memory (safetensors header first; zip files reach the
 * PyTorch reader too), then every tensor read raw and as float32. */
#include <stddef.h>
#include <stdint.h>

#include "anomem.h"
#include "fuzz-weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_error err;
    am_weights *w = NULL;
    if (am_weights_open_memory(data, size, "fuzz", &w, &err) != AM_OK) return 0;
    fuzz_read_all_tensors(w);
    am_weights_close(w);
    return 0;
}
