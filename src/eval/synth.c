/* synth.c - a small synthetic inspection set made from a seed: scenes of a
 * few products on a plain background, with scratches, missing pieces, stains
 * and wrong colours as defects, and their ground-truth masks.  It needs no
 * download: the demo and the end-to-end tests run on it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"

static const char *const kind_names[] = {"pills", "washers", "bars"};
static const char *const defect_names[] = {"scratch", "missing", "stain", "colour"};
#define N_KINDS 3
#define N_DEFECTS 4

typedef struct {
    float cx, cy, r, angle;
} placement;

/* Inside test of product `kind` at placement p for pixel centre (x, y). */
static int inside(int kind, const placement *p, float x, float y) {
    float dx = x - p->cx, dy = y - p->cy;
    float u = dx * cosf(p->angle) + dy * sinf(p->angle);
    float v = -dx * sinf(p->angle) + dy * cosf(p->angle);
    switch (kind) {
    case 0: /* capsule: an ellipse */
        return (u * u) / (p->r * p->r) + (v * v) / (0.45f * p->r * 0.45f * p->r) <= 1;
    case 1: { /* washer: a ring */
        float d = sqrtf(dx * dx + dy * dy);
        return d <= p->r && d >= 0.45f * p->r;
    }
    default: /* bar: a rounded rectangle */
        return fabsf(u) <= p->r && fabsf(v) <= 0.3f * p->r;
    }
}

static void product_colour(int kind, uint8_t rgb[3]) {
    static const uint8_t colours[N_KINDS][3] = {{200, 60, 50}, {150, 150, 160}, {60, 110, 190}};
    memcpy(rgb, colours[kind], 3);
}

/* Renders one scene; defect >= 0 damages object 0 and marks the mask. */
static void render(int kind, int defect, am_rng *rng, int32_t size, uint8_t *rgb,
                   uint8_t *mask) {
    const uint8_t bg[3] = {235, 232, 225};
    placement pl[3];
    int n = 3;
    for (int i = 0; i < n; i++) {
        /* three slots across the image, jittered */
        pl[i].cx = size * (0.2f + 0.3f * i) + (am_rng_uniform(rng) - 0.5f) * size * 0.04f;
        pl[i].cy = size * 0.5f + (am_rng_uniform(rng) - 0.5f) * size * 0.3f;
        pl[i].r = size * (0.11f + 0.02f * am_rng_uniform(rng));
        pl[i].angle = (am_rng_uniform(rng) - 0.5f) * 0.6f + 1.5708f * (kind == 0 ? 1 : 0);
    }
    uint8_t base[3], wrong[3] = {60, 170, 70};
    product_colour(kind, base);
    /* defect geometry on object 0's body: an anchor point for stains and
     * bites (on the ring of a washer, towards an end of a pill or bar) */
    float sa = am_rng_uniform(rng) * 6.2832f, sx = pl[0].cx, sy = pl[0].cy;
    float side = am_rng_uniform(rng) < 0.5f ? -1.0f : 1.0f;
    float ax, ay;
    if (kind == 1) {
        ax = pl[0].cx + cosf(sa) * pl[0].r * 0.72f;
        ay = pl[0].cy + sinf(sa) * pl[0].r * 0.72f;
    } else {
        ax = pl[0].cx + side * cosf(pl[0].angle) * pl[0].r * 0.55f;
        ay = pl[0].cy + side * sinf(pl[0].angle) * pl[0].r * 0.55f;
    }
    /* a missing piece: a chunk cut out of a washer's ring, a hole punched
     * through a pill or a bar (their boxes, and so their crops, keep their
     * size) */
    const float bite_r2 = pl[0].r * pl[0].r * (kind == 1 ? 0.16f : 0.08f);
    const float stain_r2 = pl[0].r * pl[0].r * (kind == 1 ? 0.05f : 0.06f);
    float bx = ax, by = ay;
    if (kind != 1) {
        bx = pl[0].cx + side * cosf(pl[0].angle) * pl[0].r * 0.3f;
        by = pl[0].cy + side * sinf(pl[0].angle) * pl[0].r * 0.3f;
    }
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++) {
            float fx = x + 0.5f, fy = y + 0.5f;
            const uint8_t *c = bg;
            uint8_t shaded[3];
            int on = -1;
            for (int i = 0; i < n && on < 0; i++)
                if (inside(kind, &pl[i], fx, fy)) on = i;
            uint8_t defect_px = 0;
            if (on >= 0) {
                float shade = 0.9f + 0.1f * (fy - pl[on].cy) / pl[on].r;
                const uint8_t *col = base;
                if (on == 0 && defect == 3) {
                    col = wrong;
                    defect_px = 1;
                }
                for (int k = 0; k < 3; k++) {
                    float v = col[k] * shade;
                    shaded[k] = (uint8_t)(v > 255 ? 255 : v);
                }
                c = shaded;
                if (on == 0 && defect == 0) { /* a dark line through the object */
                    float d = fabsf((fx - sx) * sinf(sa) - (fy - sy) * cosf(sa));
                    if (d < size * 0.008f + 0.5f) {
                        static const uint8_t dark[3] = {30, 30, 30};
                        c = dark;
                        defect_px = 1;
                    }
                }
                if (on == 0 && defect == 1) { /* a bite out of the object */
                    if ((fx - bx) * (fx - bx) + (fy - by) * (fy - by) < bite_r2) {
                        c = bg;
                        defect_px = 1;
                    }
                }
                if (on == 0 && defect == 2) { /* a brown stain */
                    float dx = fx - ax, dy = fy - ay;
                    if (dx * dx + dy * dy < stain_r2) {
                        static const uint8_t brown[3] = {110, 80, 30};
                        c = brown;
                        defect_px = 1;
                    }
                }
            }
            /* mild sensor noise, seeded */
            for (int k = 0; k < 3; k++) {
                int v = c[k] + (int)((am_rng_uniform(rng) - 0.5f) * 6);
                rgb[((size_t)y * size + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
            if (mask) mask[(size_t)y * size + x] = defect_px ? 255 : 0;
        }
}

am_status am_synth_write(const char *root, uint64_t seed, int32_t n_train, int32_t n_good_test,
                         int32_t n_per_defect, int32_t size, am_error *err) {
    if (n_train < 1 || n_good_test < 0 || n_per_defect < 0 || size < 64 || size > 4096)
        return am_error_set(err, AM_ERR_ARGUMENT, "synthetic set: invalid counts or size");
    am_image img;
    am_status st = am_image_alloc(size, size, &img, err);
    if (st != AM_OK) return st;
    uint8_t *mask = am_alloc((size_t)size * size, 1, err);
    if (!mask) {
        am_image_free(&img);
        return AM_ERR_NOMEM;
    }
    char path[4096];
    for (int kind = 0; st == AM_OK && kind < N_KINDS; kind++) {
        am_rng rng;
        am_rng_seed(&rng, seed * 1000003u + (uint64_t)kind);
        const char *k = kind_names[kind];
        snprintf(path, sizeof path, "%s/%s/train/good", root, k);
        if ((st = am_make_dirs(path, err)) != AM_OK) break;
        for (int i = 0; st == AM_OK && i < n_train; i++) {
            render(kind, -1, &rng, size, img.data, NULL);
            snprintf(path, sizeof path, "%s/%s/train/good/%03d.png", root, k, i);
            st = am_image_write_png(path, &img, err);
        }
        snprintf(path, sizeof path, "%s/%s/test/good", root, k);
        if (st == AM_OK) st = am_make_dirs(path, err);
        for (int i = 0; st == AM_OK && i < n_good_test; i++) {
            render(kind, -1, &rng, size, img.data, NULL);
            snprintf(path, sizeof path, "%s/%s/test/good/%03d.png", root, k, i);
            st = am_image_write_png(path, &img, err);
        }
        for (int d = 0; st == AM_OK && d < N_DEFECTS; d++) {
            snprintf(path, sizeof path, "%s/%s/test/%s", root, k, defect_names[d]);
            if ((st = am_make_dirs(path, err)) != AM_OK) break;
            snprintf(path, sizeof path, "%s/%s/ground_truth/%s", root, k, defect_names[d]);
            if ((st = am_make_dirs(path, err)) != AM_OK) break;
            for (int i = 0; st == AM_OK && i < n_per_defect; i++) {
                render(kind, d, &rng, size, img.data, mask);
                snprintf(path, sizeof path, "%s/%s/test/%s/%03d.png", root, k, defect_names[d], i);
                st = am_image_write_png(path, &img, err);
                snprintf(path, sizeof path, "%s/%s/ground_truth/%s/%03d_mask.png", root, k,
                         defect_names[d], i);
                if (st == AM_OK) st = am_image_write_gray_png(path, mask, size, size, 8, err);
            }
        }
    }
    am_free(mask);
    am_image_free(&img);
    return st;
}
