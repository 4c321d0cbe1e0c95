/* fuzz-zip.c - libFuzzer target: any buffer as a zip directory
 * (am_zip_open); every entry's bytes are touched and found again by name;
 * a directory that opens is then read as a PyTorch checkpoint. */
#include <stddef.h>
#include <stdint.h>

#include "anomem.h"
#include "fuzz-weights.h"
#include "io/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_error err;
    am_zip *zip = NULL;
    if (am_zip_open(data, size, &zip, &err) != AM_OK) return 0;
    volatile unsigned char sink = 0;
    for (int64_t i = 0; i < am_zip_count(zip); i++) {
        const am_zip_entry *e = am_zip_at(zip, i);
        if (e->size) sink ^= e->data[0] ^ e->data[e->size - 1];
        if (am_zip_find(zip, e->name) != e) __builtin_trap();
    }
    (void)sink;
    am_zip_close(zip);
    am_weights *w = NULL;
    if (am_weights_open_memory(data, size, "fuzz", &w, &err) == AM_OK) {
        fuzz_read_all_tensors(w);
        am_weights_close(w);
    }
    return 0;
}
