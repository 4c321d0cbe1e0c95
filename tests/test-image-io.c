/* test-image-io.c - PNG/JPEG reading and PNG writing: round trips, every
 * PNG colour type, gray and CMYK JPEGs (made here with libpng/libjpeg),
 * corrupt and truncated files, the pixel limit, silence on stderr. */
#include <fcntl.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>

#include "anomem.h"
#include "check.h"
#include "image-encode.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* libjpeg's own decode of `data` into `space` (JCS_RGB / JCS_GRAYSCALE). */
static uint8_t *reference_jpeg_decode(const buffer *b, J_COLOR_SPACE space, int *w, int *h) {
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    d.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, b->data, b->size);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = space;
    jpeg_start_decompress(&d);
    *w = (int)d.output_width;
    *h = (int)d.output_height;
    size_t stride = (size_t)d.output_width * d.output_components;
    uint8_t *out = malloc(stride * d.output_height);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = out + (size_t)d.output_scanline * stride;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return out;
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n ? *n : 1);
    if (fread(p, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return p;
}

static void test_rgb_round_trip(void) {
    am_error err = {0};
    am_image im;
    CHECK_OK(am_image_alloc(37, 23, &im, &err));
    for (size_t i = 0; i < (size_t)37 * 23 * 3; i++) im.data[i] = (uint8_t)(i * 7 + (i >> 5));
    CHECK_OK(am_image_write_png(tmp_path("rgb.png"), &im, &err));
    CHECK_OK(am_image_write_png(tmp_path("rgb2.png"), &im, &err));
    am_image back;
    CHECK_OK(am_image_read(tmp_path("rgb.png"), 0, &back, &err));
    CHECK(back.width == 37 && back.height == 23, "size %d x %d", back.width, back.height);
    CHECK(back.data && memcmp(back.data, im.data, (size_t)37 * 23 * 3) == 0, "pixels differ");
    size_t n1 = 0, n2 = 0;
    uint8_t *b1 = read_bytes(tmp_path("rgb.png"), &n1), *b2 = read_bytes(tmp_path("rgb2.png"), &n2);
    CHECK(n1 > 0 && n1 == n2 && memcmp(b1, b2, n1) == 0, "two writes differ");
    /* no time chunk, no text chunk: deterministic bytes */
    CHECK(n1 > 0 && !memmem(b1, n1, "tIME", 4) && !memmem(b1, n1, "tEXt", 4), "extra chunks");
    free(b1);
    free(b2);
    /* the extension does not matter: a PNG named .jpg is read as PNG */
    char from[256];
    snprintf(from, sizeof from, "%s", tmp_path("rgb2.png"));
    rename(from, tmp_path("really-png.jpg"));
    am_image again;
    CHECK_OK(am_image_read(tmp_path("really-png.jpg"), 0, &again, &err));
    CHECK(again.data && memcmp(again.data, im.data, (size_t)37 * 23 * 3) == 0, "by magic");
    am_image_free(&again);
    am_image_free(&back);
    am_image_free(&im);
}

static void test_gray_round_trips(void) {
    am_error err = {0};
    enum { W = 19, H = 11 };
    uint16_t v16[W * H];
    uint8_t v8[W * H];
    for (int i = 0; i < W * H; i++) {
        v16[i] = (uint16_t)(i * 313 + 7);
        v8[i] = (uint8_t)(i * 5);
    }
    CHECK_OK(am_image_write_gray_png(tmp_path("g16.png"), v16, W, H, 16, &err));
    CHECK_OK(am_image_write_gray_png(tmp_path("g8.png"), v8, W, H, 8, &err));

    /* 16-bit values exact, read back with libpng itself */
    FILE *f = fopen(tmp_path("g16.png"), "rb");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) abort();
    png_init_io(png, f);
    png_read_info(png, info);
    CHECK(png_get_bit_depth(png, info) == 16 && png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY &&
              png_get_image_width(png, info) == W && png_get_image_height(png, info) == H,
          "16-bit gray header");
    int exact = 1;
    for (int y = 0; y < H; y++) {
        uint8_t row[W * 2];
        png_read_row(png, row, NULL);
        for (int x = 0; x < W; x++)
            exact &= ((row[2 * x] << 8) | row[2 * x + 1]) == v16[y * W + x];
    }
    CHECK(exact, "16-bit samples exact");
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);

    /* am_image_read: 16-bit samples keep their high byte; gray -> R = G = B */
    am_image rgb;
    CHECK_OK(am_image_read(tmp_path("g16.png"), 0, &rgb, &err));
    int ok = rgb.width == W && rgb.height == H;
    for (int i = 0; ok && i < W * H; i++)
        ok = rgb.data[3 * i] == (v16[i] >> 8) && rgb.data[3 * i + 1] == (v16[i] >> 8) &&
             rgb.data[3 * i + 2] == (v16[i] >> 8);
    CHECK(ok, "16-bit gray as RGB");
    am_image_free(&rgb);

    uint8_t *g = NULL;
    int32_t w = 0, h = 0;
    CHECK_OK(am_image_read_gray(tmp_path("g8.png"), 0, &g, &w, &h, &err));
    CHECK(w == W && h == H && g && memcmp(g, v8, sizeof v8) == 0, "8-bit gray round trip");
    free(g);
    g = NULL;
    CHECK_OK(am_image_read_gray(tmp_path("g16.png"), 0, &g, &w, &h, &err));
    ok = g != NULL;
    for (int i = 0; ok && i < W * H; i++) ok = g[i] == (v16[i] >> 8);
    CHECK(ok, "16-bit gray via read_gray");
    free(g);

    /* read_gray of a colour image: Pillow's luma, (19595 R + 38470 G + 7471 B + 2^15) >> 16 */
    am_image c;
    CHECK_OK(am_image_alloc(3, 1, &c, &err));
    const uint8_t px[9] = {255, 0, 0, 0, 255, 0, 10, 20, 200};
    memcpy(c.data, px, 9);
    CHECK_OK(am_image_write_png(tmp_path("c.png"), &c, &err));
    g = NULL;
    CHECK_OK(am_image_read_gray(tmp_path("c.png"), 0, &g, &w, &h, &err));
    CHECK(g && g[0] == 76 && g[1] == 150 && g[2] == 38, "luma %d %d %d", g ? g[0] : -1,
          g ? g[1] : -1, g ? g[2] : -1);
    free(g);
    am_image_free(&c);

    CHECK(am_image_write_gray_png(tmp_path("bad.png"), v8, W, H, 12, &err) == AM_ERR_ARGUMENT,
          "12 bits refused");
    CHECK(access(tmp_path("bad.png"), F_OK) != 0, "no file left after a refused write");
}

static void test_png_colour_types(void) {
    am_error err = {0};
    am_image im;
    /* RGBA 8-bit: alpha dropped, not composited */
    uint8_t rgba[2 * 2 * 4] = {10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 1, 2, 3, 4};
    buffer b = make_png(2, 2, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rgba, 8, NULL, 0, NULL, 0);
    CHECK_OK(am_image_decode(b.data, b.size, "rgba", 0, &im, &err));
    int ok = im.width == 2 && im.height == 2;
    for (int i = 0; ok && i < 4; i++)
        ok = im.data[3 * i] == rgba[4 * i] && im.data[3 * i + 1] == rgba[4 * i + 1] &&
             im.data[3 * i + 2] == rgba[4 * i + 2];
    CHECK(ok, "RGBA -> RGB");
    am_image_free(&im);
    free(b.data);

    /* gray + alpha */
    uint8_t ga[3 * 2] = {0, 255, 100, 0, 255, 7};
    b = make_png(3, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, 6, NULL, 0, NULL, 0);
    CHECK_OK(am_image_decode(b.data, b.size, "ga", 0, &im, &err));
    CHECK(im.width == 3 && im.data[0] == 0 && im.data[3] == 100 && im.data[4] == 100 &&
              im.data[8] == 255,
          "gray+alpha");
    am_image_free(&im);
    free(b.data);

    /* palette, 4-bit, with tRNS (ignored) */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}};
    uint8_t tr[3] = {0, 128, 255};
    uint8_t idx[2] = {0x01, 0x20}; /* indices 0 1 2 0 */
    b = make_png(4, 1, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, idx, 2, pal, 3, tr, 3);
    CHECK_OK(am_image_decode(b.data, b.size, "pal", 0, &im, &err));
    const uint8_t want_pal[12] = {255, 0, 0, 0, 255, 0, 1, 2, 3, 255, 0, 0};
    CHECK(im.width == 4 && memcmp(im.data, want_pal, 12) == 0, "palette");
    am_image_free(&im);
    free(b.data);

    /* 1-bit gray: 0 -> 0, 1 -> 255 */
    uint8_t bits[1] = {0xA0}; /* 1 0 1 0 */
    b = make_png(4, 1, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, bits, 1, NULL, 0, NULL, 0);
    CHECK_OK(am_image_decode(b.data, b.size, "bits", 0, &im, &err));
    CHECK(im.width == 4 && im.data[0] == 255 && im.data[3] == 0 && im.data[6] == 255 &&
              im.data[11] == 0,
          "1-bit gray");
    am_image_free(&im);
    free(b.data);

    /* 16-bit RGB, Adam7 interlaced, 9 x 7 */
    enum { W = 9, H = 7 };
    uint8_t rgb16[W * H * 6];
    for (int i = 0; i < W * H * 3; i++) {
        uint16_t v = (uint16_t)(i * 1021 + 5);
        rgb16[2 * i] = (uint8_t)(v >> 8);
        rgb16[2 * i + 1] = (uint8_t)v;
    }
    b = make_png(W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, rgb16, W * 6, NULL, 0, NULL,
                 0);
    CHECK_OK(am_image_decode(b.data, b.size, "rgb16", 0, &im, &err));
    ok = im.width == W && im.height == H;
    for (int i = 0; ok && i < W * H * 3; i++) ok = im.data[i] == rgb16[2 * i];
    CHECK(ok, "16-bit interlaced RGB keeps the high byte");
    am_image_free(&im);
    free(b.data);
}

static void test_jpeg(void) {
    am_error err = {0};
    am_image im;
    enum { W = 24, H = 16 };
    /* gray JPEG: R = G = B = libjpeg's gray decode */
    uint8_t gray[W * H];
    for (int i = 0; i < W * H; i++) gray[i] = (uint8_t)((i % W) * 10 + (i / W) * 3);
    buffer b = make_jpeg(W, H, 1, gray, 0);
    int rw, rh;
    uint8_t *ref = reference_jpeg_decode(&b, JCS_GRAYSCALE, &rw, &rh);
    CHECK_OK(am_image_decode(b.data, b.size, "gray.jpg", 0, &im, &err));
    int ok = im.width == W && im.height == H && rw == W && rh == H;
    for (int i = 0; ok && i < W * H; i++)
        ok = im.data[3 * i] == ref[i] && im.data[3 * i + 1] == ref[i] && im.data[3 * i + 2] == ref[i];
    CHECK(ok, "gray JPEG");
    am_image_free(&im);
    free(ref);
    free(b.data);

    /* colour JPEG: exactly libjpeg's RGB decode (ISLOW, fancy upsampling) */
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 37 + (i >> 3));
    b = make_jpeg(W, H, 3, rgb, 0);
    ref = reference_jpeg_decode(&b, JCS_RGB, &rw, &rh);
    CHECK_OK(am_image_decode(b.data, b.size, "rgb.jpg", 0, &im, &err));
    CHECK(im.width == W && memcmp(im.data, ref, (size_t)W * H * 3) == 0, "RGB JPEG");
    am_image_free(&im);

    /* truncated: an error, never a gray-filled image */
    for (size_t cut = 0; cut < b.size - 2; cut += b.size / 37 + 1) {
        am_status st = am_image_decode(b.data, cut, "cut.jpg", 0, &im, &err);
        CHECK(st == AM_ERR_FORMAT, "JPEG cut at %zu of %zu -> %s", cut, b.size,
              am_status_string(st));
        CHECK(im.data == NULL, "no image left on failure");
    }
    CHECK(am_image_decode(b.data, b.size - 3, "cut3.jpg", 0, &im, &err) == AM_ERR_FORMAT,
          "JPEG cut 3 bytes before its end");
    CHECK(strstr(err.message, "cut3.jpg") != NULL, "message names the file: %s", err.message);
    /* only the EOI marker missing: every pixel is there, accepted */
    CHECK_OK(am_image_decode(b.data, b.size - 2, "noeoi.jpg", 0, &im, &err));
    CHECK(im.data && memcmp(im.data, ref, (size_t)W * H * 3) == 0, "JPEG without EOI");
    am_image_free(&im);
    free(ref);
    free(b.data);

    /* progressive and arithmetic-coded: decoded as libjpeg does; every cut
     * (even of the EOI marker alone, which cannot be told from missing scans
     * or data there) is an error */
    for (int coding = JPEG_PROGRESSIVE; coding <= JPEG_ARITHMETIC; coding++) {
        b = make_jpeg_coded(W, H, 3, rgb, 0, coding);
        ref = reference_jpeg_decode(&b, JCS_RGB, &rw, &rh);
        CHECK_OK(am_image_decode(b.data, b.size, "coded.jpg", 0, &im, &err));
        CHECK(im.data && memcmp(im.data, ref, (size_t)W * H * 3) == 0, "coding %d", coding);
        am_image_free(&im);
        int accepted = 0;
        for (size_t cut = 0; cut < b.size; cut += 7)
            if (am_image_decode(b.data, cut, "cut.jpg", 0, &im, &err) == AM_OK) {
                accepted++;
                am_image_free(&im);
            }
        CHECK(accepted == 0, "coding %d: %d cut files accepted", coding, accepted);
        CHECK(am_image_decode(b.data, b.size - 2, "noeoi.jpg", 0, &im, &err) == AM_ERR_FORMAT,
              "coding %d without EOI", coding);
        free(ref);
        free(b.data);
    }

    /* CMYK: with the Adobe marker the stored values are inverted (Photoshop);
     * red = C 0 M 255 Y 255 K 0 stored as 255 0 0 255 */
    uint8_t cmyk[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        const uint8_t red_inv[4] = {255, 0, 0, 255}, blue_inv[4] = {0, 0, 255, 255};
        memcpy(cmyk + 4 * i, (i % W) < W / 2 ? red_inv : blue_inv, 4);
    }
    b = make_jpeg(W, H, 4, cmyk, 1);
    CHECK_OK(am_image_decode(b.data, b.size, "adobe.jpg", 0, &im, &err));
    if (im.data) {
        const uint8_t *l = im.data + (size_t)(5 * W + 2) * 3, *r = im.data + (size_t)(5 * W + 20) * 3;
        CHECK(l[0] >= 250 && l[1] <= 5 && l[2] <= 5, "Adobe CMYK red: %d %d %d", l[0], l[1], l[2]);
        CHECK(r[0] <= 5 && r[1] <= 5 && r[2] >= 250, "Adobe CMYK blue: %d %d %d", r[0], r[1], r[2]);
    }
    am_image_free(&im);
    free(b.data);
    /* without the marker: plain CMYK, C 0 M 255 Y 255 K 0 is red, K 255 black */
    for (int i = 0; i < W * H; i++) {
        const uint8_t red[4] = {0, 255, 255, 0}, black[4] = {0, 0, 0, 255};
        memcpy(cmyk + 4 * i, (i / W) < H / 2 ? red : black, 4);
    }
    b = make_jpeg(W, H, 4, cmyk, 0);
    CHECK_OK(am_image_decode(b.data, b.size, "cmyk.jpg", 0, &im, &err));
    if (im.data) {
        const uint8_t *t = im.data + (size_t)(2 * W + 5) * 3, *d = im.data + (size_t)(13 * W + 5) * 3;
        CHECK(t[0] >= 250 && t[1] <= 5 && t[2] <= 5, "CMYK red: %d %d %d", t[0], t[1], t[2]);
        CHECK(d[0] <= 5 && d[1] <= 5 && d[2] <= 5, "CMYK black: %d %d %d", d[0], d[1], d[2]);
    }
    am_image_free(&im);
    free(b.data);
}

/* A PNG signature + IHDR chunk (valid CRC) claiming w x h, then nothing. */
static size_t forged_png_header(uint8_t *out, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    uint8_t *c = out + 8;
    c[0] = 0, c[1] = 0, c[2] = 0, c[3] = 13;
    memcpy(c + 4, "IHDR", 4);
    uint8_t *d = c + 8;
    d[0] = (uint8_t)(w >> 24), d[1] = (uint8_t)(w >> 16), d[2] = (uint8_t)(w >> 8), d[3] = (uint8_t)w;
    d[4] = (uint8_t)(h >> 24), d[5] = (uint8_t)(h >> 16), d[6] = (uint8_t)(h >> 8), d[7] = (uint8_t)h;
    d[8] = 8, d[9] = 2, d[10] = 0, d[11] = 0, d[12] = 0;
    uint32_t crc = (uint32_t)crc32(0, c + 4, 17);
    uint8_t *k = d + 13;
    k[0] = (uint8_t)(crc >> 24), k[1] = (uint8_t)(crc >> 16), k[2] = (uint8_t)(crc >> 8), k[3] = (uint8_t)crc;
    return 8 + 8 + 13 + 4;
}

static void test_limits_and_corruption(void) {
    am_error err = {0};
    am_image im;
    /* the limit is checked from the header */
    am_image src;
    CHECK_OK(am_image_alloc(100, 100, &src, &err));
    memset(src.data, 99, 100 * 100 * 3);
    CHECK_OK(am_image_write_png(tmp_path("100.png"), &src, &err));
    CHECK(am_image_read(tmp_path("100.png"), 9999, &im, &err) == AM_ERR_LIMIT, "PNG over limit");
    CHECK(strstr(err.message, "100.png") != NULL, "message names the file: %s", err.message);
    CHECK_OK(am_image_read(tmp_path("100.png"), 10000, &im, &err));
    am_image_free(&im);
    buffer j = make_jpeg(100, 100, 3, src.data, 0);
    CHECK(am_image_decode(j.data, j.size, "j", 9999, &im, &err) == AM_ERR_LIMIT, "JPEG over limit");
    CHECK_OK(am_image_decode(j.data, j.size, "j", 10000, &im, &err));
    am_image_free(&im);
    CHECK(am_image_decode(j.data, j.size, "j", -1, &im, &err) == AM_ERR_ARGUMENT, "negative limit");
    free(j.data);
    am_image_free(&src);

    /* a header claiming 100000 x 100000 (10 gigapixels): refused before allocating */
    uint8_t forged[64];
    size_t n = forged_png_header(forged, 100000, 100000);
    CHECK(am_image_decode(forged, n, "huge", 0, &im, &err) == AM_ERR_LIMIT, "huge: %s", err.message);
    /* the same header at 10 x 10 with no image data: truncated */
    n = forged_png_header(forged, 10, 10);
    CHECK(am_image_decode(forged, n, "empty", 0, &im, &err) == AM_ERR_FORMAT, "no IDAT: %s",
          err.message);

    /* truncations and byte flips of a real PNG: errors, no crash */
    size_t size = 0;
    uint8_t *png = read_bytes(tmp_path("rgb.png"), &size);
    int bad = 0;
    for (size_t cut = 0; cut < size; cut += 3)
        if (am_image_decode(png, cut, "cut.png", 0, &im, &err) == AM_OK) bad++;
    CHECK(bad == 0, "%d truncated PNGs decoded", bad);
    int decoded = 0;
    for (size_t i = 8; i < size; i += 5) {
        uint8_t *copy = malloc(size);
        memcpy(copy, png, size);
        copy[i] ^= 0x5a;
        if (am_image_decode(copy, size, "flip.png", 0, &im, &err) == AM_OK) {
            decoded++;
            am_image_free(&im);
        }
        free(copy);
    }
    /* every flip hits a CRC-protected byte: all must fail */
    CHECK(decoded == 0, "%d corrupted PNGs decoded", decoded);
    free(png);

    CHECK(am_image_decode("hello", 5, "text", 0, &im, &err) == AM_ERR_FORMAT, "not an image");
    CHECK(am_image_decode("GIF89a....", 10, "gif", 0, &im, &err) == AM_ERR_UNSUPPORTED, "GIF");
    CHECK(am_image_decode("", 0, "empty", 0, &im, &err) == AM_ERR_FORMAT, "empty");
    CHECK(am_image_read(tmp_path("missing.png"), 0, &im, &err) == AM_ERR_IO, "missing file");
    am_image one;
    CHECK_OK(am_image_alloc(1, 1, &one, &err));
    one.data[0] = one.data[1] = one.data[2] = 0;
    CHECK(am_image_write_png("/nonexistent-dir/x.png", &one, &err) == AM_ERR_IO,
          "write into a missing folder");
    am_image_free(&one);
    CHECK(am_image_alloc(0, 5, &im, &err) == AM_ERR_ARGUMENT, "zero width");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/anomem-test-image-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    /* The libraries must say nothing: send stderr to a file meanwhile. */
    fflush(stderr);
    int saved = dup(2);
    int fd = open(tmp_path("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    int failed_before = check_failed;
    test_rgb_round_trip();
    test_gray_round_trips();
    test_png_colour_types();
    test_jpeg();
    test_limits_and_corruption();
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    size_t n = 0;
    char *said = (char *)read_bytes(tmp_path("stderr.txt"), &n);
    /* our own CHECK failures also went there: show them, then require silence otherwise */
    if (n) fwrite(said, 1, n, stderr);
    CHECK(n == 0 || check_failed > failed_before, "libraries printed %zu bytes on stderr", n);
    free(said);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
