/* image-encode.h - test-side PNG and JPEG encoders written with libpng and
 * libjpeg directly (not anomem's writers), so tests can make every colour
 * type, bit depth and JPEG colour space anomem must read. */
#ifndef AM_TESTS_IMAGE_ENCODE_H
#define AM_TESTS_IMAGE_ENCODE_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/* A growing byte buffer, the target of the in-memory encoders below. */
typedef struct {
    uint8_t *data;
    size_t size, cap;
} buffer;

static inline void buffer_put(buffer *b, const void *p, size_t n) {
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

static inline void png_put(png_structp png, png_bytep p, size_t n) {
    buffer_put(png_get_io_ptr(png), p, n);
}

static inline void png_flush_nothing(png_structp png) { (void)png; }

/* Encodes a PNG of any colour type with libpng directly.  rows holds
 * height rows of packed samples as libpng expects them. */
static inline buffer make_png(int32_t w, int32_t h, int color_type, int bit_depth, int interlace,
                       const uint8_t *rows, size_t row_bytes, const png_color *palette,
                       int n_palette, const uint8_t *trans, int n_trans) {
    buffer b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) abort();
    png_set_write_fn(png, &b, png_put, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    if (trans) png_set_tRNS(png, info, trans, n_trans, NULL);
    png_write_info(png, info);
    png_bytep *rp = malloc(sizeof(png_bytep) * (size_t)h);
    for (int32_t y = 0; y < h; y++) rp[y] = (png_bytep)rows + (size_t)y * row_bytes;
    png_write_image(png, rp);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rp);
    return b;
}

/* Encodes a JPEG with libjpeg: components 1 (gray), 3 (RGB) or 4 (CMYK,
 * with or without the Adobe marker); coding JPEG_BASELINE, JPEG_PROGRESSIVE
 * or JPEG_ARITHMETIC. */
enum { JPEG_BASELINE, JPEG_PROGRESSIVE, JPEG_ARITHMETIC };
static inline buffer make_jpeg_coded(int32_t w, int32_t h, int components, const uint8_t *pixels,
                              int adobe, int coding) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long mem_size = 0;
    jpeg_mem_dest(&c, &mem, &mem_size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    if (components == 4) {
        jpeg_set_colorspace(&c, JCS_CMYK);
        c.write_Adobe_marker = adobe ? TRUE : FALSE;
    }
    if (coding == JPEG_PROGRESSIVE) jpeg_simple_progression(&c);
    if (coding == JPEG_ARITHMETIC) c.arith_code = TRUE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)pixels + (size_t)c.next_scanline * (size_t)w * components;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buffer b = {0};
    buffer_put(&b, mem, mem_size);
    free(mem);
    return b;
}

static inline buffer make_jpeg(int32_t w, int32_t h, int components, const uint8_t *pixels, int adobe) {
    return make_jpeg_coded(w, h, components, pixels, adobe, JPEG_BASELINE);
}

/* Writes the buffer to `path` and frees it; 0 on success. */
static inline int buffer_save(buffer *b, const char *path) {
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(b->data, 1, b->size, f) != b->size;
    if (f) bad |= fclose(f) != 0;
    free(b->data);
    b->data = NULL;
    return bad;
}

#endif
