/* fuzz-image.c - libFuzzer target for the image decoders: am_image_decode
 * over arbitrary bytes with a small pixel limit.  Every input must decode
 * or fail with a message; nothing may crash, leak or print.
 * Seeds: fuzz/corpus/image (tiny PNGs and JPEGs of every colour type). */
#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

#define FUZZ_MAX_PIXELS ((int64_t)1 << 18)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_error err = {0};
    am_image image;
    am_status st = am_image_decode(data, size, "fuzz", FUZZ_MAX_PIXELS, &image, &err);
    if (st == AM_OK) {
        if (!image.data || image.width <= 0 || image.height <= 0 ||
            (int64_t)image.width * image.height > FUZZ_MAX_PIXELS)
            __builtin_trap();
        /* read every pixel so that a short buffer shows up under ASan */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)image.width * (size_t)image.height * 3; i++)
            sum += image.data[i];
        (void)sum;
        am_image_free(&image);
    } else if (err.message[0] == 0 || image.data) {
        __builtin_trap();
    }
    return 0;
}
