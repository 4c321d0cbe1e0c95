/* gen-image-corpus.c - writes the seed corpus of fuzz-image
 * (fuzz/corpus/image/): tiny PNGs of every colour type and bit depth
 * (palette with tRNS, Adam7) and JPEGs (gray, baseline, progressive,
 * arithmetic, Adobe CMYK) made with libpng and libjpeg.  Not part of the
 * build; regenerate with
 *   cc -std=c11 fuzz/gen-image-corpus.c -lpng -ljpeg -o /tmp/gen-image-corpus &&
 *   /tmp/gen-image-corpus fuzz/corpus/image
 */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

static const char *root;

static FILE *create(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

/* A w x h PNG whose rows are taken from `rows` (row_bytes apart). */
static void write_png(const char *name, int w, int h, int color_type, int depth, int interlace,
                      const uint8_t *rows, size_t row_bytes) {
    FILE *f = create(name);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) exit(1);
    png_init_io(png, f);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 9, 9}};
        png_byte trans[2] = {0, 100};
        png_set_PLTE(png, info, palette, 4);
        png_set_tRNS(png, info, trans, 2, NULL);
    }
    png_write_info(png, info);
    int passes = interlace ? png_set_interlace_handling(png) : 1;
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_write_row(png, rows + (size_t)y * row_bytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* A w x h JPEG of 1, 3 or 4 (CMYK, Adobe marker) components. */
static void write_jpeg(const char *name, int w, int h, int components, int progressive,
                       int arithmetic) {
    FILE *f = create(name);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    if (components == 4) jpeg_set_colorspace(&c, JCS_CMYK);
    if (progressive) jpeg_simple_progression(&c);
    c.arith_code = arithmetic ? TRUE : FALSE;
    jpeg_start_compress(&c, TRUE);
    uint8_t row[64 * 4];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * components; x++) row[x] = (uint8_t)(x * 17 + y * 29);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_FOLDER\n", argv[0]);
        return 2;
    }
    root = argv[1];
    uint8_t pixels[8 * 8 * 8];
    for (int i = 0; i < (int)sizeof pixels; i++) pixels[i] = (uint8_t)(i * 37 + (i >> 3));
    write_png("gray1.png", 8, 8, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, pixels, 1);
    write_png("gray8.png", 8, 8, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, pixels, 8);
    write_png("gray16.png", 8, 8, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, pixels, 16);
    write_png("graya.png", 8, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, pixels, 16);
    write_png("palette2.png", 8, 8, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, pixels, 2);
    write_png("rgb8-adam7.png", 8, 8, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, pixels, 24);
    write_png("rgba16.png", 4, 4, PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE, pixels, 32);
    write_jpeg("gray.jpg", 8, 8, 1, 0, 0);
    write_jpeg("rgb.jpg", 16, 8, 3, 0, 0);
    write_jpeg("rgb-progressive.jpg", 16, 16, 3, 1, 0);
    write_jpeg("rgb-arith.jpg", 8, 8, 3, 0, 1);
    write_jpeg("cmyk-adobe.jpg", 8, 8, 4, 0, 0);
    return 0;
}
