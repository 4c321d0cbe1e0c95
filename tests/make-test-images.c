/* make-test-images.c - writes the colour spaces and depths an inspection
 * camera may deliver, made from one 8-bit RGB image, for the CLI tests:
 *   rgba.png    RGB + opaque alpha          rgb16.png  16-bit RGB (v * 257)
 *   gray.jpg    grayscale JPEG              cmyk.jpg   CMYK JPEG (Adobe marker)
 * Usage: make-test-images IMAGE OUTDIR */
#include <stdio.h>
#include <stdlib.h>

#include "anomem.h"
#include "image-encode.h"

static int save(buffer *b, const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int bad = buffer_save(b, path);
    if (bad) fprintf(stderr, "make-test-images: cannot write %s\n", path);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: make-test-images IMAGE OUTDIR\n");
        return 2;
    }
    am_image im;
    am_error err = {0};
    if (am_image_read(argv[1], 0, &im, &err) != AM_OK) {
        fprintf(stderr, "make-test-images: %s\n", err.message);
        return 1;
    }
    const int32_t w = im.width, h = im.height;
    const size_t n = (size_t)w * h;
    uint8_t *rgba = malloc(n * 4), *rgb16 = malloc(n * 6), *gray = malloc(n), *cmyk = malloc(n * 4);
    if (!rgba || !rgb16 || !gray || !cmyk) return 1;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = im.data + 3 * i;
        for (int c = 0; c < 3; c++) {
            rgba[4 * i + c] = p[c];
            rgb16[6 * i + 2 * c] = rgb16[6 * i + 2 * c + 1] = p[c]; /* big-endian v * 257 */
            cmyk[4 * i + c] = p[c]; /* Adobe CMYK is stored inverted: C = 255 - R */
        }
        rgba[4 * i + 3] = 255;
        cmyk[4 * i + 3] = 255; /* K = 0 */
        gray[i] = (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 32768) >> 16);
    }
    buffer b[4] = {
        make_png(w, h, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rgba, (size_t)w * 4, NULL, 0,
                 NULL, 0),
        make_png(w, h, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, rgb16, (size_t)w * 6, NULL, 0,
                 NULL, 0),
        make_jpeg(w, h, 1, gray, 0),
        make_jpeg(w, h, 4, cmyk, 1),
    };
    int bad = save(&b[0], argv[2], "rgba.png") | save(&b[1], argv[2], "rgb16.png") |
              save(&b[2], argv[2], "gray.jpg") | save(&b[3], argv[2], "cmyk.jpg");
    free(rgba);
    free(rgb16);
    free(gray);
    free(cmyk);
    am_image_free(&im);
    return bad;
}
