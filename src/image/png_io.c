/* png_io.c - PNG decoding from memory and encoding to a FILE with libpng,
 * with libpng's errors caught by longjmp and its warnings silenced. */
#include <png.h>
#include <setjmp.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/image_codec.h"

/* State shared with libpng's callbacks: where a failure jumps to and what it
 * said, and the input buffer being read. */
typedef struct {
    jmp_buf jump;
    volatile am_status status; /* reported for a failure */
    char message[200];
    const uint8_t *data;
    size_t size;
    size_t pos;
} png_context;

static void png_on_error(png_structp png, png_const_charp message) {
    png_context *ctx = png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", message);
    longjmp(ctx->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/* libpng's read callback over the in-memory file; running past its end is
 * an error (a truncated file). */
static void png_read_memory(png_structp png, png_bytep dst, size_t n) {
    png_context *ctx = png_get_io_ptr(png);
    if (n > ctx->size - ctx->pos) png_error(png, "file is truncated");
    memcpy(dst, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

am_status am_png_decode(const uint8_t *data, size_t size, const char *label, int64_t max_pixels,
                        am_image *out, am_error *err) {
    memset(out, 0, sizeof *out);
    /* The size from IHDR, before libpng reads (and allocates for) the chunks
     * up to the image data; checked again from what libpng parsed. */
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 |
                     (uint32_t)data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 |
                     (uint32_t)data[22] << 8 | data[23];
        /* larger than 2^31 - 1 is invalid: libpng reports it below */
        if (w <= 0x7fffffffu && h <= 0x7fffffffu && (int64_t)w * (int64_t)h > max_pixels)
            return am_error_set(err, AM_ERR_LIMIT,
                                "%s: PNG of %u x %u pixels is larger than the limit of %lld pixels",
                                label, (unsigned)w, (unsigned)h, (long long)max_pixels);
    }
    png_context ctx = {.status = AM_ERR_FORMAT, .data = data, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error,
                                             png_on_warning);
    if (!png) return am_error_set(err, AM_ERR_NOMEM, "%s: out of memory", label);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return am_error_set(err, AM_ERR_NOMEM, "%s: out of memory", label);
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(ctx.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        am_free(pixels);
        am_free(rows);
        if (ctx.status == AM_ERR_NOMEM)
            return am_error_set(err, AM_ERR_NOMEM, "%s: %s", label, ctx.message);
        return am_error_set(err, AM_ERR_FORMAT, "%s: corrupt PNG: %s", label, ctx.message);
    }
    png_set_read_fn(png, &ctx, png_read_memory);
    /* Our own pixel limit decides; libpng's default 1e6 x 1e6 would not. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    if ((int64_t)width * (int64_t)height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return am_error_set(err, AM_ERR_LIMIT,
                            "%s: PNG of %u x %u pixels is larger than the limit of %lld pixels",
                            label, (unsigned)width, (unsigned)height, (long long)max_pixels);
    }
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)width * 3)
        png_error(png, "unexpected layout after conversion to 8-bit RGB");
    am_error alloc_err;
    pixels = am_alloc((size_t)width * height, 3, &alloc_err);
    rows = am_alloc(height, sizeof(png_bytep), &alloc_err);
    if (!pixels || !rows) {
        ctx.status = AM_ERR_NOMEM;
        png_error(png, "out of memory for the pixels");
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    am_free(rows);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->data = pixels;
    return AM_OK;
}

am_status am_png_encode(FILE *fp, const char *path, const void *samples, int32_t width,
                        int32_t height, int32_t channels, int32_t bits, am_error *err) {
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) || (bits != 8 && bits != 16))
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "%s: cannot write a PNG of %d x %d pixels, %d channels, %d bits", path,
                            width, height, channels, bits);
    png_context ctx = {.status = AM_ERR_IO};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error,
                                              png_on_warning);
    if (!png) return am_error_set(err, AM_ERR_NOMEM, "%s: out of memory", path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return am_error_set(err, AM_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t row_samples = (size_t)width * (size_t)channels;
    uint8_t *volatile row = NULL;
    if (setjmp(ctx.jump)) {
        png_destroy_write_struct(&png, &info);
        am_free(row);
        return am_error_set(err, ctx.status, "%s: cannot write PNG: %s", path, ctx.message);
    }
    png_init_io(png, fp);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bits,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (bits == 8) {
        const uint8_t *p = samples;
        for (int32_t y = 0; y < height; y++) png_write_row(png, p + (size_t)y * row_samples);
    } else {
        am_error alloc_err;
        row = am_alloc(row_samples, 2, &alloc_err);
        if (!row) {
            ctx.status = AM_ERR_NOMEM;
            png_error(png, "out of memory for a row");
        }
        const uint16_t *p = samples;
        for (int32_t y = 0; y < height; y++) {
            const uint16_t *src = p + (size_t)y * row_samples;
            for (size_t i = 0; i < row_samples; i++) {
                row[2 * i] = (uint8_t)(src[i] >> 8);
                row[2 * i + 1] = (uint8_t)(src[i] & 0xff);
            }
            png_write_row(png, row);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    am_free(row);
    return AM_OK;
}
