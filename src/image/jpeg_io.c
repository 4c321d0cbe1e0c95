/* jpeg_io.c - JPEG decoding from memory with libjpeg(-turbo): errors caught
 * by longjmp, messages silenced, truncation and corrupt data made errors,
 * CMYK converted to RGB. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/image_codec.h"

/* Progressive files with more scans than this are refused: a few thousand
 * tiny scans can keep the decoder busy for minutes on a small file. */
#define JPEG_MAX_SCANS 1000

/* libjpeg's error manager extended with where a failure jumps to. */
typedef struct {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    volatile am_status status;
    int eof_ok; /* a sequential single-scan Huffman file: running out of data
                   in its entropy data also raises JWRN_HIT_MARKER, so a bare
                   end-of-file warning means only the EOI marker is missing */
    char message[JMSG_LENGTH_MAX];
} jpeg_context;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_context *ctx = (jpeg_context *)cinfo->err;
    cinfo->err->format_message(cinfo, ctx->message);
    if (cinfo->err->msg_code == JERR_BAD_PRECISION) ctx->status = AM_ERR_UNSUPPORTED;
    longjmp(ctx->jump, 1);
}

/* Warnings that mean the data is cut short or damaged are failures (libjpeg
 * would otherwise return gray or garbage pixels); the rest are ignored, and
 * so is a missing EOI marker where that can be told from missing data. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    if (((jpeg_context *)cinfo->err)->eof_ok && cinfo->err->msg_code == JWRN_JPEG_EOF) return;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC: jpeg_on_error(cinfo); break;
    default: break;
    }
}

static void jpeg_on_output(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_on_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor &&
        ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_context *ctx = (jpeg_context *)cinfo->err;
        snprintf(ctx->message, sizeof ctx->message, "more than %d scans", JPEG_MAX_SCANS);
        ctx->status = AM_ERR_LIMIT;
        longjmp(ctx->jump, 1);
    }
}

/* (a * b) / 255 rounded, as Pillow's MULDIV255. */
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* One row of CMYK (inverted when `inverted`, the Adobe convention) to RGB
 * exactly as Pillow converts a CMYK image to RGB. */
static void cmyk_row_to_rgb(const uint8_t *cmyk, int32_t width, int inverted, uint8_t *rgb) {
    for (int32_t x = 0; x < width; x++) {
        int c[4];
        for (int i = 0; i < 4; i++) c[i] = inverted ? 255 - cmyk[4 * x + i] : cmyk[4 * x + i];
        int nk = 255 - c[3];
        for (int i = 0; i < 3; i++) {
            int v = nk - muldiv255(c[i], nk);
            rgb[3 * x + i] = (uint8_t)(v < 0 ? 0 : v);
        }
    }
}

am_status am_jpeg_decode(const uint8_t *data, size_t size, const char *label,
                         int64_t max_pixels, am_image *out, am_error *err) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct cinfo;
    jpeg_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.status = AM_ERR_FORMAT;
    cinfo.err = jpeg_std_error(&ctx.pub);
    ctx.pub.error_exit = jpeg_on_error;
    ctx.pub.emit_message = jpeg_on_message;
    ctx.pub.output_message = jpeg_on_output;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile cmyk = NULL;
    if (setjmp(ctx.jump)) {
        jpeg_destroy_decompress(&cinfo);
        am_free(pixels);
        am_free(cmyk);
        if (ctx.status == AM_ERR_NOMEM)
            return am_error_set(err, AM_ERR_NOMEM, "%s: %s", label, ctx.message);
        return am_error_set(err, ctx.status, "%s: %s JPEG: %s", label,
                            ctx.status == AM_ERR_UNSUPPORTED ? "unsupported" : "corrupt",
                            ctx.message);
    }
    jpeg_create_decompress(&cinfo);
    ctx.progress.progress_monitor = jpeg_on_progress;
    cinfo.progress = &ctx.progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    int64_t width = cinfo.image_width, height = cinfo.image_height;
    if (width * height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return am_error_set(err, AM_ERR_LIMIT,
                            "%s: JPEG of %lld x %lld pixels is larger than the limit of %lld pixels",
                            label, (long long)width, (long long)height, (long long)max_pixels);
    }
    ctx.eof_ok = !cinfo.progressive_mode && !cinfo.arith_code &&
                 cinfo.comps_in_scan == cinfo.num_components;
    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if ((int64_t)cinfo.output_width != width || (int64_t)cinfo.output_height != height ||
        cinfo.output_components != (is_cmyk ? 4 : 3)) {
        snprintf(ctx.message, sizeof ctx.message, "unexpected output layout");
        longjmp(ctx.jump, 1);
    }
    am_error alloc_err;
    pixels = am_alloc((size_t)width * (size_t)height, 3, &alloc_err);
    if (is_cmyk) cmyk = am_alloc((size_t)width, 4, &alloc_err);
    if (!pixels || (is_cmyk && !cmyk)) {
        snprintf(ctx.message, sizeof ctx.message, "out of memory for the pixels");
        ctx.status = AM_ERR_NOMEM;
        longjmp(ctx.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *row = pixels + (size_t)cinfo.output_scanline * (size_t)width * 3;
        JSAMPROW target = is_cmyk ? cmyk : row;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            snprintf(ctx.message, sizeof ctx.message, "no more scanlines");
            longjmp(ctx.jump, 1);
        }
        if (is_cmyk) cmyk_row_to_rgb(cmyk, (int32_t)width, cinfo.saw_Adobe_marker, row);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    am_free(cmyk);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->data = pixels;
    return AM_OK;
}
