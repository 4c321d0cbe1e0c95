/* fuzz-pickle.c - libFuzzer target: any buffer as a pickle (am_pickle_load);
 * a pickle that loads is then wrapped in a torch.save-like archive with
 * storages "0" (64 bytes) and "1" (256 bytes) and read as a checkpoint, so
 * the tensor walk and the storage bounds checks are fuzzed too. */
#include <stddef.h>
#include <stdint.h>

#include "../tests/weights-builder.h"
#include "anomem.h"
#include "fuzz-weights.h"
#include "io/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_error err;
    am_pickle *p = NULL;
    const am_py_object *root;
    if (am_pickle_load(data, size, &p, &root, &err) != AM_OK) return 0;
    am_pickle_free(p);
    static const unsigned char storage[256];
    wb_buf pk = {0};
    wb_put(&pk, data, size);
    wb_storage s[2] = {{"0", storage, 64}, {"1", storage, 256}};
    wb_buf z = wb_torch(&pk, s, 2);
    am_weights *w = NULL;
    if (am_weights_open_memory(z.data, z.size, "fuzz", &w, &err) == AM_OK) {
        fuzz_read_all_tensors(w);
        am_weights_close(w);
    }
    wb_free(&z);
    wb_free(&pk);
    return 0;
}
