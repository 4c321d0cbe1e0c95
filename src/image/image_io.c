/* image_io.c - the public image functions: reading PNG/JPEG files and
 * buffers (the format told by the first bytes, never the file name) into
 * RGB or one gray channel, and writing PNGs atomically.
 *
 * Conventions, as Pillow's Image.open(...).convert("RGB"): alpha is dropped
 * (not composited), 16-bit samples keep their high byte, gamma and ICC
 * profiles are ignored, and the EXIF orientation tag is ignored too (pixels
 * come out in stored order). */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/image_codec.h"
#include "io/file.h"

static int starts_with(const uint8_t *data, size_t size, const char *magic, size_t n) {
    return size >= n && memcmp(data, magic, n) == 0;
}

/* A name for a file that is neither PNG nor JPEG, if its first bytes tell. */
static const char *other_format(const uint8_t *data, size_t size) {
    if (starts_with(data, size, "GIF8", 4)) return "GIF";
    if (starts_with(data, size, "BM", 2)) return "BMP";
    if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4)) return "TIFF";
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return "WebP";
    return NULL;
}

am_status am_image_decode(const void *data, size_t size, const char *label, int64_t max_pixels,
                          am_image *out, am_error *err) {
    memset(out, 0, sizeof *out);
    if (!label) label = "image";
    if (max_pixels < 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "%s: negative pixel limit %lld", label,
                            (long long)max_pixels);
    if (max_pixels == 0) max_pixels = AM_IMAGE_DEFAULT_MAX_PIXELS;
    if (!data && size) return am_error_set(err, AM_ERR_ARGUMENT, "%s: no data", label);
    const uint8_t *bytes = data;
    if (starts_with(bytes, size, "\x89PNG\r\n\x1a\n", 8))
        return am_png_decode(bytes, size, label, max_pixels, out, err);
    if (starts_with(bytes, size, "\xff\xd8\xff", 3))
        return am_jpeg_decode(bytes, size, label, max_pixels, out, err);
    const char *other = other_format(bytes, size);
    if (other)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "%s: %s images are not read (PNG or JPEG only)",
                            label, other);
    if (size == 0) return am_error_set(err, AM_ERR_FORMAT, "%s: empty file", label);
    return am_error_set(err, AM_ERR_FORMAT, "%s: neither a PNG nor a JPEG file", label);
}

am_status am_image_read(const char *path, int64_t max_pixels, am_image *out, am_error *err) {
    memset(out, 0, sizeof *out);
    am_mapped_file file;
    am_status st = am_file_map(path, &file, err);
    if (st != AM_OK) return st;
    st = am_image_decode(file.data, file.size, path, max_pixels, out, err);
    am_file_unmap(&file);
    return st;
}

am_status am_image_alloc(int32_t width, int32_t height, am_image *out, am_error *err) {
    memset(out, 0, sizeof *out);
    if (width <= 0 || height <= 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "image size %d x %d is not positive", width,
                            height);
    out->data = am_alloc((size_t)width * (size_t)height, 3, err);
    if (!out->data) return err ? err->code : AM_ERR_NOMEM;
    out->width = width;
    out->height = height;
    return AM_OK;
}

void am_image_free(am_image *image) {
    if (!image) return;
    am_free(image->data);
    memset(image, 0, sizeof *image);
}

/* Writes samples as a PNG through a temporary file renamed into place. */
static am_status write_png_atomic(const char *path, const void *samples, int32_t width,
                                  int32_t height, int32_t channels, int32_t bits, am_error *err) {
    am_atomic_file f;
    am_status st = am_atomic_open(&f, path, err);
    if (st != AM_OK) return st;
    st = am_png_encode(f.fp, path, samples, width, height, channels, bits, err);
    if (st != AM_OK) {
        am_atomic_abort(&f);
        return st;
    }
    return am_atomic_commit(&f, err);
}

am_status am_image_write_png(const char *path, const am_image *image, am_error *err) {
    if (!image || !image->data)
        return am_error_set(err, AM_ERR_ARGUMENT, "%s: no image to write", path);
    return write_png_atomic(path, image->data, image->width, image->height, 3, 8, err);
}

am_status am_image_write_gray_png(const char *path, const void *values, int32_t width,
                                  int32_t height, int32_t bits, am_error *err) {
    if (!values) return am_error_set(err, AM_ERR_ARGUMENT, "%s: no samples to write", path);
    return write_png_atomic(path, values, width, height, 1, bits, err);
}

am_status am_image_read_gray(const char *path, int64_t max_pixels, uint8_t **values,
                             int32_t *width, int32_t *height, am_error *err) {
    *values = NULL;
    *width = *height = 0;
    am_image rgb;
    am_status st = am_image_read(path, max_pixels, &rgb, err);
    if (st != AM_OK) return st;
    size_t n = (size_t)rgb.width * (size_t)rgb.height;
    uint8_t *gray = am_alloc(n, 1, err);
    if (!gray) {
        am_image_free(&rgb);
        return AM_ERR_NOMEM;
    }
    /* Pillow's RGB -> L (ITU-R 601-2 luma in 16-bit fixed point); a gray
     * image expanded to RGB comes back unchanged. */
    const uint8_t *p = rgb.data;
    for (size_t i = 0; i < n; i++, p += 3)
        gray[i] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
    *width = rgb.width;
    *height = rgb.height;
    am_image_free(&rgb);
    *values = gray;
    return AM_OK;
}
