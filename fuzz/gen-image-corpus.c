/* gen-image-corpus.c - writes the seed corpus of fuzz-image
 * (fuzz/corpus/image/): tiny PNGs of every colour type and bit depth
 * (palette with tRNS, Adam7) and JPEGs (gray, baseline, progressive,
 * arithmetic, Adobe CMYK) made with libpng and libjpeg (the encoders of
 * tests/image-encode.h).  Not part of the build; regenerate with
 *   cc -std=c11 -D_GNU_SOURCE fuzz/gen-image-corpus.c -lpng -ljpeg -o /tmp/gen-image-corpus &&
 *   /tmp/gen-image-corpus fuzz/corpus/image
 */
#include "../tests/image-encode.h"

static const char *root;

static void save(const char *name, buffer b) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, name);
    if (buffer_save(&b, path)) {
        perror(path);
        exit(1);
    }
}

static buffer png(int w, int h, int color_type, int depth, int interlace, const uint8_t *rows,
                  size_t row_bytes) {
    static const png_color palette[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 9, 9}};
    static const uint8_t trans[2] = {0, 100};
    int indexed = color_type == PNG_COLOR_TYPE_PALETTE;
    return make_png(w, h, color_type, depth, interlace, rows, row_bytes,
                    indexed ? palette : NULL, 4, indexed ? trans : NULL, 2);
}

/* A w x h JPEG of 1, 3 or 4 (CMYK, Adobe marker) components. */
static buffer jpeg(int w, int h, int components, int coding) {
    uint8_t pixels[16 * 16 * 4];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * components; x++)
            pixels[y * w * components + x] = (uint8_t)(x * 17 + y * 29);
    return make_jpeg_coded(w, h, components, pixels, 1, coding);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_FOLDER\n", argv[0]);
        return 2;
    }
    root = argv[1];
    uint8_t pixels[8 * 8 * 8];
    for (int i = 0; i < (int)sizeof pixels; i++) pixels[i] = (uint8_t)(i * 37 + (i >> 3));
    save("gray1.png", png(8, 8, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, pixels, 1));
    save("gray8.png", png(8, 8, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, pixels, 8));
    save("gray16.png", png(8, 8, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, pixels, 16));
    save("graya.png", png(8, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, pixels, 16));
    save("palette2.png", png(8, 8, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, pixels, 2));
    save("rgb8-adam7.png", png(8, 8, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, pixels, 24));
    save("rgba16.png", png(4, 4, PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE, pixels, 32));
    save("gray.jpg", jpeg(8, 8, 1, JPEG_BASELINE));
    save("rgb.jpg", jpeg(16, 8, 3, JPEG_BASELINE));
    save("rgb-progressive.jpg", jpeg(16, 16, 3, JPEG_PROGRESSIVE));
    save("rgb-arith.jpg", jpeg(8, 8, 3, JPEG_ARITHMETIC));
    save("cmyk-adobe.jpg", jpeg(8, 8, 4, JPEG_BASELINE));
    return 0;
}
