/* test-segment.c - the classical segmenter: synthetic scenes (coloured
 * shapes on a plain, noisy background; touching objects; fragments; a ring)
 * and the object counts on every real VisA photograph of ../shared/data. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anomem.h"
#include "check.h"
#include "detect/segment_classical.h"

enum { W = 640, H = 480 };

/* A plain green background with +-6 of deterministic noise per channel. */
static void fill_background(am_image *im) {
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)im->width * im->height; i++) {
        const uint8_t bg[3] = {60, 110, 60};
        for (int c = 0; c < 3; c++) {
            s = s * 1664525u + 1013904223u;
            im->data[3 * i + c] = (uint8_t)(bg[c] + (int)((s >> 24) % 13) - 6);
        }
    }
}

static void put(am_image *im, int x, int y, const uint8_t rgb[3]) {
    if (x >= 0 && y >= 0 && x < im->width && y < im->height)
        memcpy(im->data + ((size_t)y * im->width + x) * 3, rgb, 3);
}

/* Filled ellipse with centre (cx, cy) and radii rx, ry, minus an inner one
 * of radius hole (0: none) - enough for discs, ellipses and rings. */
static void ellipse(am_image *im, double cx, double cy, double rx, double ry, double hole,
                    const uint8_t rgb[3]) {
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            double dx = (x + 0.5 - cx) / rx, dy = (y + 0.5 - cy) / ry;
            double r = dx * dx + dy * dy;
            double hx = (x + 0.5 - cx), hy = (y + 0.5 - cy);
            if (r <= 1.0 && hx * hx + hy * hy >= hole * hole) put(im, x, y, rgb);
        }
}

static void rect(am_image *im, int x0, int y0, int w, int h, const uint8_t rgb[3]) {
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) put(im, x, y, rgb);
}

static int near_box(am_box b, int x, int y, int w, int h, int tol) {
    return abs(b.x - x) <= tol && abs(b.y - y) <= tol && abs(b.x + b.w - (x + w)) <= tol &&
           abs(b.y + b.h - (y + h)) <= tol;
}

static void test_shapes(void) {
    am_error err = {0};
    am_image im;
    CHECK_OK(am_image_alloc(W, H, &im, &err));
    fill_background(&im);
    const uint8_t red[3] = {220, 40, 30}, blue[3] = {40, 60, 220}, yellow[3] = {230, 220, 40},
                  white[3] = {240, 240, 240};
    ellipse(&im, 150, 150, 60, 60, 0, red);    /* box 90,90 120x120 */
    rect(&im, 300, 80, 120, 80, blue);         /* 9 600 px */
    ellipse(&im, 480, 340, 90, 50, 0, yellow); /* box 390,290 180x100, ~14 100 px */
    ellipse(&im, 160, 360, 50, 50, 25, white); /* a ring: filled to a disc */
    rect(&im, 600, 20, 4, 4, white);           /* 16 px: below 0.05 % of the image */
    am_segment_params p = am_segment_default_params();
    am_mask_list list;
    am_mask_list_init(&list, W, H);
    CHECK_OK(am_segment_classical(&im, &p, &list, &err));
    CHECK(list.count == 4, "shapes: %d objects", list.count);
    if (list.count == 4) {
        CHECK(near_box(list.items[0].bbox, 390, 290, 180, 100, 3), "ellipse first");
        CHECK(near_box(list.items[1].bbox, 90, 90, 120, 120, 3), "disc second");
        CHECK(near_box(list.items[2].bbox, 300, 80, 120, 80, 3), "rectangle third");
        CHECK(near_box(list.items[3].bbox, 110, 310, 100, 100, 3), "ring fourth");
        CHECK(fabs((double)list.items[2].area - 9600.0) < 9600.0 * 0.03, "rectangle area %lld",
              (long long)list.items[2].area);
        /* the ring's hole is filled: about pi 50^2, not pi (50^2 - 25^2) */
        CHECK(fabs((double)list.items[3].area - M_PI * 2500.0) < M_PI * 2500.0 * 0.05,
              "ring area %lld", (long long)list.items[3].area);
        /* the mask is the shape: the disc's centre in, its box corner out */
        const am_mask *d = &list.items[1];
        CHECK(d->mask[(size_t)(150 - d->bbox.y) * d->bbox.w + (150 - d->bbox.x)] == 1 &&
                  d->mask[0] == 0,
              "disc mask");
    }
    /* deterministic */
    am_mask_list again;
    am_mask_list_init(&again, W, H);
    CHECK_OK(am_segment_classical(&im, &p, &again, &err));
    int same = again.count == list.count;
    for (int i = 0; same && i < list.count; i++)
        same = memcmp(&again.items[i].bbox, &list.items[i].bbox, sizeof(am_box)) == 0 &&
               again.items[i].area == list.items[i].area &&
               memcmp(again.items[i].mask, list.items[i].mask,
                      (size_t)list.items[i].bbox.w * list.items[i].bbox.h) == 0;
    CHECK(same, "same masks twice");
    am_mask_list_free(&again);
    am_mask_list_free(&list);

    /* a wrong-sized list is refused */
    am_mask_list_init(&list, W + 1, H);
    CHECK(am_segment_classical(&im, &p, &list, &err) == AM_ERR_ARGUMENT, "list size");
    am_image_free(&im);
}

static void test_touching_and_fragments(void) {
    am_error err = {0};
    am_image im;
    CHECK_OK(am_image_alloc(W, H, &im, &err));
    fill_background(&im);
    const uint8_t orange[3] = {240, 140, 30}, magenta[3] = {200, 40, 200};
    /* two discs overlapping by 2 px: a neck about 22 px wide */
    ellipse(&im, 200, 150, 60, 60, 0, orange);
    ellipse(&im, 318, 150, 60, 60, 0, orange);
    /* a board with a small part (196 px, above the 154 px minimum) 8 px beside it */
    rect(&im, 150, 300, 240, 120, magenta);
    rect(&im, 398, 340, 14, 14, magenta);
    am_segment_params p = am_segment_default_params();
    am_mask_list list;
    am_mask_list_init(&list, W, H);
    CHECK_OK(am_segment_classical(&im, &p, &list, &err));
    CHECK(list.count == 3, "touching + fragment: %d objects", list.count);
    if (list.count == 3) {
        CHECK(near_box(list.items[0].bbox, 150, 300, 262, 120, 3), "board with its part: %d,%d %dx%d",
              list.items[0].bbox.x, list.items[0].bbox.y, list.items[0].bbox.w, list.items[0].bbox.h);
        am_box a = list.items[1].bbox, b = list.items[2].bbox;
        if (a.x > b.x) {
            am_box t = a;
            a = b;
            b = t;
        }
        CHECK(abs(a.x - 140) <= 3 && abs(a.y - 90) <= 3 && abs(b.x + b.w - 378) <= 3,
              "two discs split: %d,%d %dx%d | %d,%d %dx%d", a.x, a.y, a.w, a.h, b.x, b.y, b.w, b.h);
        CHECK(abs(a.w - b.w) <= 4 && a.x + a.w <= b.x + 4, "split at the neck");
    }
    am_mask_list_free(&list);
    /* with splitting and merging off: one pair, and the part on its own */
    p.split_fraction = 0.0;
    p.merge_area_ratio = 0.0;
    am_mask_list_init(&list, W, H);
    CHECK_OK(am_segment_classical(&im, &p, &list, &err));
    CHECK(list.count == 3 && near_box(list.items[0].bbox, 150, 300, 240, 120, 3) &&
              near_box(list.items[1].bbox, 140, 90, 238, 120, 3),
          "no split/merge: %d objects", list.count);
    am_mask_list_free(&list);
    am_image_free(&im);

    /* nothing on the background; and an image smaller than the work size */
    CHECK_OK(am_image_alloc(200, 150, &im, &err));
    fill_background(&im);
    p = am_segment_default_params();
    am_mask_list_init(&list, 200, 150);
    CHECK_OK(am_segment_classical(&im, &p, &list, &err));
    CHECK(list.count == 0, "empty scene: %d objects", list.count);
    const uint8_t red[3] = {220, 40, 30};
    rect(&im, 50, 40, 30, 20, red);
    CHECK_OK(am_segment_classical(&im, &p, &list, &err));
    CHECK(list.count == 1 && near_box(list.items[0].bbox, 50, 40, 30, 20, 0) &&
              list.items[0].area == 600,
          "small image, exact box");
    am_mask_list_free(&list);
    am_image_free(&im);
}

/* The counts a person sees in the VisA photographs. */
static const struct {
    const char *category;
    int32_t min, max;
} visa_counts[] = {
    {"candle", 4, 4}, {"capsules", 18, 22}, {"cashew", 1, 1}, {"chewinggum", 1, 1},
    {"fryum", 1, 1},  {"macaroni1", 4, 4},  {"macaroni2", 4, 4}, {"pcb1", 1, 1},
    {"pcb2", 1, 1},   {"pcb3", 1, 1},       {"pcb4", 1, 1},   {"pipe_fryum", 1, 1},
};

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Segments every image in `dir`; returns how many were read. */
static int check_folder(const char *dir, const char *category, int32_t min, int32_t max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    am_segment_params p = am_segment_default_params();
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        am_error err = {0};
        am_image im;
        CHECK_OK(am_image_read(path, 0, &im, &err));
        if (im.data) {
            am_mask_list list;
            am_mask_list_init(&list, im.width, im.height);
            CHECK_OK(am_segment_classical(&im, &p, &list, &err));
            printf("%-11s %-60s %2d objects\n", category, names[i], list.count);
            CHECK(list.count >= min && list.count <= max, "%s: %d objects, want %d..%d", path,
                  list.count, min, max);
            am_mask_list_free(&list);
            am_image_free(&im);
        }
        free(names[i]);
    }
    return n;
}

static void test_visa(void) {
    char dir[4096];
    for (size_t c = 0; c < sizeof visa_counts / sizeof visa_counts[0]; c++) {
        const char *kinds[2] = {"Normal", "Anomaly"};
        for (int k = 0; k < 2; k++) {
            int len = snprintf(dir, sizeof dir, "%s/data/visa-samples/%s/Data/Images/%s",
                               check_shared_dir(), visa_counts[c].category, kinds[k]);
            CHECK(len > 0 && (size_t)len < sizeof dir, "path too long");
            int n = check_folder(dir, visa_counts[c].category, visa_counts[c].min,
                                 visa_counts[c].max);
            CHECK(n >= 1, "no %s images in %s", kinds[k], dir);
        }
    }
}

int main(void) {
    test_shapes();
    test_touching_and_fragments();
    test_visa();
    return check_summary();
}
