/* test-objects.c - object selection rules on hand-built masks, the square
 * crop box and its border fill, paste-back onto the canvas, and the
 * torch-compatible bilinear float resize, against hand-computed values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anomem.h"
#include "check.h"
#include "detect/objects.h"
#include "image/resize.h"
#include "image/resize_f32.h"

enum { IW = 100, IH = 100 };

/* Adds a filled rectangle mask to the list (full-image form). */
static void add_rect(am_mask_list *list, int32_t x, int32_t y, int32_t w, int32_t h) {
    am_error err = {0};
    uint8_t *m = calloc((size_t)list->width * list->height, 1);
    for (int32_t j = y; j < y + h; j++)
        for (int32_t i = x; i < x + w; i++) m[(size_t)j * list->width + i] = 255;
    CHECK_OK(am_mask_list_add(list, m, &err));
    free(m);
}

/* Index of the kept mask with this box, or -1. */
static int find_box(const am_mask_list *list, int32_t x, int32_t y, int32_t w, int32_t h) {
    for (int32_t i = 0; i < list->count; i++) {
        am_box b = list->items[i].bbox;
        if (b.x == x && b.y == y && b.w == w && b.h == h) return i;
    }
    return -1;
}

static void test_mask_list(void) {
    am_error err = {0};
    am_mask_list list;
    am_mask_list_init(&list, IW, IH);
    uint8_t *m = calloc(IW * IH, 1);
    m[10 * IW + 20] = 1;
    m[12 * IW + 25] = 7;
    CHECK_OK(am_mask_list_add(&list, m, &err));
    CHECK(list.count == 1, "count %d", list.count);
    am_mask *k = &list.items[0];
    CHECK(k->bbox.x == 20 && k->bbox.y == 10 && k->bbox.w == 6 && k->bbox.h == 3 && k->area == 2,
          "tight box %d,%d %dx%d area %lld", k->bbox.x, k->bbox.y, k->bbox.w, k->bbox.h,
          (long long)k->area);
    CHECK(k->mask[0] == 1 && k->mask[2 * 6 + 5] == 1 && k->mask[1] == 0, "mask cut to its box");
    memset(m, 0, IW * IH);
    CHECK_OK(am_mask_list_add(&list, m, &err));
    CHECK(list.count == 1, "empty mask not added");
    am_box outside = {95, 0, 10, 10};
    CHECK(am_mask_list_add_boxed(&list, outside, m, &err) == AM_ERR_ARGUMENT, "box outside");
    am_mask_list_free(&list);
    CHECK(list.count == 0 && list.items == NULL && list.width == IW, "freed");
    free(m);
}

static void test_selection(void) {
    am_error err = {0};
    am_mask_list list;
    am_mask_list_init(&list, IW, IH);
    add_rect(&list, 0, 0, 60, 90);   /* 5400 > 50 % of 10000: background */
    add_rect(&list, 0, 0, 50, 100);  /* exactly 50 %: kept */
    add_rect(&list, 60, 0, 2, 2);    /* 4 < 0.05 % (5 px): speck */
    add_rect(&list, 60, 10, 5, 1);   /* exactly 5 px: kept */
    add_rect(&list, 10, 10, 20, 20); /* inside the 50 % mask: a part, dropped */
    add_rect(&list, 40, 50, 20, 10); /* half inside (100 of 200): kept */
    add_rect(&list, 70, 70, 20, 20); /* 400 */
    add_rect(&list, 80, 82, 10, 10); /* 80 of 100 inside the 400 one: dropped */
    add_rect(&list, 71, 50, 10, 21); /* 210 px, one row of 10 inside the 400 one: kept */
    add_rect(&list, 85, 20, 10, 10); /* 100, same area as ... */
    add_rect(&list, 75, 20, 10, 10); /* ... this one: same y, smaller x first */
    add_rect(&list, 75, 5, 10, 10);  /* ... and this one: smaller y first */
    am_object_params p = am_object_default_params();
    CHECK(p.max_area_fraction == 0.5 && p.min_area_fraction == 0.0005 &&
              p.max_inside_fraction == 0.8 && p.max_objects == 32 && p.grow == 0.1,
          "paper defaults");
    CHECK_OK(am_objects_select(&list, &p, &err));
    CHECK(list.count == 8, "kept %d", list.count);
    /* order: area descending, then y, then x */
    const am_box want[8] = {{0, 0, 50, 100}, {70, 70, 20, 20}, {71, 50, 10, 21}, {40, 50, 20, 10},
                            {75, 5, 10, 10}, {75, 20, 10, 10}, {85, 20, 10, 10}, {60, 10, 5, 1}};
    for (int i = 0; i < 8 && i < list.count; i++) {
        am_box b = list.items[i].bbox;
        CHECK(b.x == want[i].x && b.y == want[i].y && b.w == want[i].w && b.h == want[i].h,
              "rank %d: %d,%d %dx%d", i, b.x, b.y, b.w, b.h);
    }
    CHECK(find_box(&list, 10, 10, 20, 20) < 0 && find_box(&list, 80, 82, 10, 10) < 0,
          "parts dropped");
    am_mask_list_free(&list);

    /* 79 of 100 inside: kept (the rule is >= 80 %) */
    am_mask_list_init(&list, IW, IH);
    add_rect(&list, 0, 0, 40, 40);
    uint8_t *m = calloc(IW * IH, 1);
    for (int i = 0; i < 100; i++) {
        int inside = i < 79;
        m[(size_t)(inside ? 30 + i / 10 : 50 + i / 10) * IW + (inside ? i % 10 : 60 + i % 10)] = 1;
    }
    CHECK_OK(am_mask_list_add(&list, m, &err));
    CHECK_OK(am_objects_select(&list, &p, &err));
    CHECK(list.count == 2, "79 %% inside kept: %d", list.count);
    am_mask_list_free(&list);
    /* 80 of 100 inside: dropped */
    am_mask_list_init(&list, IW, IH);
    add_rect(&list, 0, 0, 40, 40);
    memset(m, 0, IW * IH);
    for (int i = 0; i < 100; i++) {
        int inside = i < 80;
        m[(size_t)(inside ? 30 + i / 10 : 50 + i / 10) * IW + (inside ? i % 10 : 60 + i % 10)] = 1;
    }
    CHECK_OK(am_mask_list_add(&list, m, &err));
    CHECK_OK(am_objects_select(&list, &p, &err));
    CHECK(list.count == 1, "80 %% inside dropped: %d", list.count);
    am_mask_list_free(&list);

    /* equal area and box: the order of addition decides */
    am_mask_list_init(&list, IW, IH);
    for (int parity = 1; parity >= 0; parity--) {
        memset(m, 0, IW * IH);
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 10; x++) m[(20 + y) * IW + 20 + x] = (x + y) % 2 == parity;
        CHECK_OK(am_mask_list_add(&list, m, &err));
    }
    CHECK_OK(am_objects_select(&list, &p, &err));
    CHECK(list.count == 2 && list.items[0].mask[0] == 0 && list.items[1].mask[0] == 1,
          "ties in order of addition");
    am_mask_list_free(&list);
    free(m);

    /* the cap: 40 disjoint masks of growing size, the 32 largest kept */
    am_mask_list_init(&list, IW, IH);
    for (int i = 0; i < 40; i++) add_rect(&list, (i % 10) * 10, (i / 10) * 10, 3 + i % 5, 2 + i / 5);
    CHECK_OK(am_objects_select(&list, &p, &err));
    CHECK(list.count == 32, "cap: %d", list.count);
    int sorted = 1;
    for (int i = 1; i < list.count; i++) sorted &= list.items[i - 1].area >= list.items[i].area;
    CHECK(sorted, "largest first");
    /* exactly the 32 largest areas */
    int64_t areas[40];
    for (int i = 0; i < 40; i++) areas[i] = (int64_t)(3 + i % 5) * (2 + i / 5);
    for (int i = 0; i < 40; i++) /* selection sort, descending */
        for (int j = i + 1; j < 40; j++)
            if (areas[j] > areas[i]) {
                int64_t t = areas[i];
                areas[i] = areas[j];
                areas[j] = t;
            }
    int same = list.count == 32;
    for (int i = 0; same && i < 32; i++) same = list.items[i].area == areas[i];
    CHECK(same, "kept the 32 largest");
    am_mask_list_free(&list);
    am_object_params bad = p;
    bad.max_objects = -1;
    CHECK(am_objects_select(&list, &bad, &err) == AM_ERR_ARGUMENT, "bad params");
}

static void test_square(void) {
    am_box b = {10, 20, 20, 10};
    am_square s = am_object_square(b, 0.1);
    CHECK(s.size == 22 && s.x == 9 && s.y == 14, "square %d,%d %d", s.x, s.y, s.size);
    b = (am_box){0, 0, 10, 10}; /* 11 px square around centre 5: x = floor(-0.5) = -1 */
    s = am_object_square(b, 0.1);
    CHECK(s.size == 11 && s.x == -1 && s.y == -1, "edge square %d,%d %d", s.x, s.y, s.size);
    b = (am_box){5, 7, 1, 1};
    s = am_object_square(b, 0.1);
    CHECK(s.size == 1 && s.x == 5 && s.y == 7, "1 px square %d,%d %d", s.x, s.y, s.size);
    b = (am_box){100, 50, 40, 80}; /* side 88, centre (120, 90) */
    s = am_object_square(b, 0.1);
    CHECK(s.size == 88 && s.x == 76 && s.y == 46, "tall square %d,%d %d", s.x, s.y, s.size);
}

static void test_crop(void) {
    am_error err = {0};
    am_image im;
    CHECK_OK(am_image_alloc(4, 3, &im, &err));
    for (int i = 0; i < 12; i++) {
        im.data[3 * i] = (uint8_t)(10 * i);
        im.data[3 * i + 1] = (uint8_t)(200 - i);
        im.data[3 * i + 2] = (uint8_t)i;
    }
    /* a 6 x 6 square from (-2, -1): outside pixels take the nearest edge pixel */
    am_square sq = {-2, -1, 6};
    am_image crop;
    CHECK_OK(am_object_crop(&im, sq, 0, &crop, &err));
    CHECK(crop.width == 6 && crop.height == 6, "crop %dx%d", crop.width, crop.height);
    int ok = 1;
    for (int v = 0; v < 6; v++)
        for (int u = 0; u < 6; u++) {
            int x = u - 2, y = v - 1;
            x = x < 0 ? 0 : x > 3 ? 3 : x;
            y = y < 0 ? 0 : y > 2 ? 2 : y;
            ok &= memcmp(crop.data + (v * 6 + u) * 3, im.data + (y * 4 + x) * 3, 3) == 0;
        }
    CHECK(ok, "border replicated");
    CHECK(crop.data[0] == 0 && crop.data[(5 * 6 + 5) * 3] == 110, "corners %d %d", crop.data[0],
          crop.data[(5 * 6 + 5) * 3]);
    /* resized to 3 x 3 with Pillow bicubic: the same as resizing the square ourselves */
    am_image small;
    CHECK_OK(am_object_crop(&im, sq, 3, &small, &err));
    uint8_t want[27];
    CHECK_OK(am_resize_u8(crop.data, 6, 6, 3, want, 3, 3, AM_RESAMPLE_BICUBIC, &err));
    CHECK(small.width == 3 && memcmp(small.data, want, 27) == 0, "bicubic resize of the square");
    am_image_free(&small);
    am_image_free(&crop);
    /* a constant image stays constant whatever the square */
    memset(im.data, 77, 36);
    CHECK_OK(am_object_crop(&im, (am_square){-50, 40, 30}, 8, &crop, &err));
    ok = crop.width == 8;
    for (int i = 0; ok && i < 8 * 8 * 3; i++) ok = crop.data[i] == 77;
    CHECK(ok, "far outside: all border colour");
    am_image_free(&crop);
    CHECK(am_object_crop(&im, (am_square){0, 0, 0}, 8, &crop, &err) == AM_ERR_ARGUMENT, "empty");
    am_image_free(&im);
}

/* 2 x 2 -> 4 x 4 with half-pixel centres: each axis maps to
 * [a, .75a + .25b, .25a + .75b, b]. */
static const float up4[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                              2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};

static void test_resize_f32(void) {
    am_error err = {0};
    const float src[4] = {1, 2, 3, 4};
    float dst[16];
    CHECK_OK(am_resize_f32_bilinear(src, 2, 2, dst, 4, 4, &err));
    for (int i = 0; i < 16; i++) CHECK_NEAR(dst[i], up4[i], 1e-6);
    /* 4 -> 2: samples at 0.5 and 2.5, the means of pairs */
    const float row[4] = {1, 3, 10, 20};
    float half[2];
    CHECK_OK(am_resize_f32_bilinear(row, 4, 1, half, 2, 1, &err));
    CHECK_NEAR(half[0], 2.0, 1e-6);
    CHECK_NEAR(half[1], 15.0, 1e-6);
    /* 3 -> 5: output 1 samples 0.6 * 1.5 - 0.5 = 0.4; output 4 samples 2.2 -> clamped to 2 */
    const float three[3] = {0, 10, 20};
    float five[5];
    CHECK_OK(am_resize_f32_bilinear(three, 3, 1, five, 5, 1, &err));
    CHECK_NEAR(five[0], 0.0, 1e-6);
    CHECK_NEAR(five[1], 4.0, 1e-5);
    CHECK_NEAR(five[2], 10.0, 1e-5);
    CHECK_NEAR(five[3], 16.0, 1e-5);
    CHECK_NEAR(five[4], 20.0, 1e-6);
    /* same size: a copy */
    float same[4];
    CHECK_OK(am_resize_f32_bilinear(src, 2, 2, same, 2, 2, &err));
    CHECK(memcmp(same, src, sizeof same) == 0, "identity");
    /* a window equals the same part of the whole */
    float win[6];
    CHECK_OK(am_resize_f32_bilinear_window(src, 2, 2, 4, 4, 1, 2, 3, 2, win, &err));
    int ok = 1;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) ok &= win[y * 3 + x] == up4[(y + 2) * 4 + x + 1];
    CHECK(ok, "window");
    CHECK(am_resize_f32_bilinear_window(src, 2, 2, 4, 4, 2, 0, 3, 1, win, &err) == AM_ERR_ARGUMENT,
          "window past the edge");
}

static void test_paste(void) {
    am_error err = {0};
    enum { W = 10, H = 8 };
    float canvas[W * H] = {0};
    canvas[3 * W + 1] = 5.0f; /* an existing larger value survives (max) */
    const float map[4] = {1, 2, 3, 4};
    am_square sq = {-1, 2, 4}; /* covers x -1..2, y 2..5 */
    CHECK_OK(am_object_paste_max(canvas, W, H, map, 2, 2, sq, NULL, &err));
    int ok = 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float want = 0.0f;
            if (x <= 2 && y >= 2 && y <= 5) want = up4[(y - 2) * 4 + (x + 1)];
            if (x == 1 && y == 3) want = 5.0f;
            if (canvas[y * W + x] != want) {
                ok = 0;
                fprintf(stderr, "canvas(%d,%d) = %g, want %g\n", x, y, canvas[y * W + x], want);
            }
        }
    CHECK(ok, "pasted at the right pixels");
    CHECK_NEAR(canvas[2 * W + 0], 1.25, 1e-6);
    CHECK_NEAR(canvas[5 * W + 2], 4.0, 1e-6);

    /* a square hanging off the bottom-right corner */
    float c2[W * H] = {0};
    CHECK_OK(am_object_paste_max(c2, W, H, map, 2, 2, (am_square){8, 6, 4}, NULL, &err));
    CHECK_NEAR(c2[6 * W + 8], 1.0, 1e-6);
    CHECK_NEAR(c2[7 * W + 9], 1.75, 1e-6);
    CHECK_NEAR(c2[5 * W + 9], 0.0, 0);
    /* entirely outside: nothing */
    float c3[W * H] = {0};
    CHECK_OK(am_object_paste_max(c3, W, H, map, 2, 2, (am_square){20, 0, 4}, NULL, &err));
    ok = 1;
    for (int i = 0; i < W * H; i++) ok &= c3[i] == 0.0f;
    CHECK(ok, "outside the canvas: unchanged");

    /* inside a mask only: the mask covers (0,2) and (2,5) */
    am_mask_list list;
    am_mask_list_init(&list, W, H);
    uint8_t m[W * H] = {0};
    m[2 * W + 0] = 1;
    m[5 * W + 2] = 1;
    CHECK_OK(am_mask_list_add(&list, m, &err));
    float c4[W * H] = {0};
    CHECK_OK(am_object_paste_max(c4, W, H, map, 2, 2, sq, &list.items[0], &err));
    int nonzero = 0;
    for (int i = 0; i < W * H; i++) nonzero += c4[i] != 0.0f;
    CHECK(nonzero == 2, "mask paste touched %d pixels", nonzero);
    CHECK_NEAR(c4[2 * W + 0], 1.25, 1e-6);
    CHECK_NEAR(c4[5 * W + 2], 4.0, 1e-6);
    am_mask_list_free(&list);

    /* a 15 x 15 constant map onto a square: constant where pasted */
    float pm[225];
    for (int i = 0; i < 225; i++) pm[i] = 0.5f;
    float c5[W * H];
    for (int i = 0; i < W * H; i++) c5[i] = -1.0f;
    CHECK_OK(am_object_paste_max(c5, W, H, pm, 15, 15, (am_square){3, 1, 5}, NULL, &err));
    ok = 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = x >= 3 && x < 8 && y >= 1 && y < 6;
            ok &= fabsf(c5[y * W + x] - (in ? 0.5f : -1.0f)) <= 1e-6f;
        }
    CHECK(ok, "15x15 map onto a 5 px square");
    CHECK(am_object_paste_max(c5, W, H, pm, 0, 15, sq, NULL, &err) == AM_ERR_ARGUMENT, "bad map");
}

int main(void) {
    test_mask_list();
    test_selection();
    test_square();
    test_crop();
    test_resize_f32();
    test_paste();
    return check_summary();
}
