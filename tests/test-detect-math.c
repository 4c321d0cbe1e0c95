/* test-detect-math.c - the method's equations on small hand-computed inputs:
 * harmonic aggregation (Eq. 2), text scores, Eqs. 1 and 3, the Eq. 4
 * distance, Eqs. 6-9 fusion, the random cap and the coreset. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "detect/augment.h"
#include "detect/maps.h"
#include "detect/memory_bank.h"

static void test_harmonic(void) {
    am_error err = {0};
    /* 2 windows over 3 patches: window 0 = {0, 1}, window 1 = {1, 2} */
    const int32_t patches[] = {0, 1, 1, 2};
    const float scores[] = {0.5f, 0.25f};
    float map[3];
    CHECK_OK(am_map_harmonic(patches, 2, 2, scores, 3, map, &err));
    CHECK_NEAR(map[0], 0.5, 1e-7);
    /* patch 1: 2 / (1/0.5 + 1/0.25) = 2 / 6 */
    CHECK_NEAR(map[1], 2.0 / 6.0, 1e-7);
    CHECK_NEAR(map[2], 0.25, 1e-7);
    /* a zero score zeroes its patches; an uncovered patch is 0 */
    const float zero[] = {0.0f, 0.25f};
    float map4[4];
    CHECK_OK(am_map_harmonic(patches, 2, 2, zero, 4, map4, &err));
    CHECK(map4[0] == 0 && map4[1] == 0 && map4[3] == 0, "zero score / uncovered");
    CHECK_NEAR(map4[2], 0.25, 1e-7);
}

static void test_text_score(void) {
    const float tn[2] = {1, 0}, ta[2] = {0, 1}, e[2] = {3, 4}; /* cos 0.6 and 0.8 */
    float s = am_text_anomaly_score(e, tn, ta, 2, 0.07f);
    double expect = exp(0.8 / 0.07) / (exp(0.6 / 0.07) + exp(0.8 / 0.07));
    CHECK_NEAR(s, expect, 1e-6);
}

static void test_scores(void) {
    const float singles[] = {0.2f, 0.7f, 0.4f};
    CHECK_NEAR(am_score_zero_shot(0.3f, singles, 3), 0.3 + 0.7, 1e-7); /* Eq. 1 */
    CHECK_NEAR(am_score_zero_shot(0.3f, singles, 0), 0.6, 1e-7);       /* no objects */
    /* Eqs. 7-8: (0.3 + 1.5) + (0.7 + 2.0) */
    CHECK_NEAR(am_score_few_shot(0.3f, 1.5f, singles, 3, 2.0f), 4.5, 1e-6);
    /* Eq. 3 and Eq. 9 are A * (a x + b y) */
    const float x[2] = {1, 2}, y[2] = {10, 20};
    float out[2];
    am_map_blend(x, 1.8f, y, 0.2f, 2, out);
    am_map_scale(out, 2.0f, 2);
    CHECK_NEAR(out[0], 2.0 * (1.8 + 2.0), 1e-5);
    CHECK_NEAR(out[1], 2.0 * (3.6 + 4.0), 1e-5);
    am_map_blend(x, 0.55f, y, 0.45f, 2, out);
    CHECK_NEAR(out[1], 0.55 * 2 + 0.45 * 20, 1e-5);
    am_map_add_scaled(x, 6.0f, 2, out); /* Eq. 6's image-scale term */
    CHECK_NEAR(out[1], 0.55 * 2 + 0.45 * 20 + 12, 1e-5);
    CHECK_NEAR(am_map_max(y, 2), 20, 0);
}

static void test_distance(void) {
    am_error err = {0};
    am_bank bank = {0};
    const float rows[] = {1, 0, 0, 0, 2, 0}; /* normalised to e1, e2 */
    CHECK_OK(am_bank_append(&bank, rows, 2, 3, 1, &err));
    CHECK_NEAR(bank.rows[4], 1.0, 1e-7);
    am_bank_index *ix = NULL;
    CHECK_OK(am_bank_index_create(&bank, AM_PRECISION_F32, &ix, &err));
    const float q[] = {1, 1, 0, 0, 0, 5, -1, 0, 0};
    float d[3];
    CHECK_OK(am_bank_index_distance(ix, q, 3, d, &err));
    CHECK_NEAR(d[0], (1 - 1 / sqrt(2.0)) / 2, 1e-6); /* Eq. 4: min (1 - cos) / 2 */
    CHECK_NEAR(d[1], 0.5, 1e-6);                      /* orthogonal to both */
    CHECK_NEAR(d[2], 0.5, 1e-6); /* opposite e1 (1.0), orthogonal to e2 (0.5): min */
    am_bank_index_free(ix);
    am_bank_free(&bank);
}

static void test_random_cap(void) {
    am_error err = {0};
    am_bank a = {0}, b = {0};
    float rows[1000 * 2];
    for (int i = 0; i < 1000; i++) {
        rows[2 * i] = (float)i + 1;
        rows[2 * i + 1] = 1;
    }
    CHECK_OK(am_bank_append(&a, rows, 1000, 2, 1, &err));
    CHECK_OK(am_bank_append(&b, rows, 1000, 2, 1, &err));
    CHECK_OK(am_bank_subsample_random(&a, 137, 42, &err));
    CHECK_OK(am_bank_subsample_random(&b, 137, 42, &err));
    CHECK(a.count == 137, "exact count %lld", (long long)a.count);
    CHECK(memcmp(a.rows, b.rows, sizeof(float) * 137 * 2) == 0, "seeded: same subset");
    am_bank_free(&b);
    CHECK_OK(am_bank_append(&b, rows, 1000, 2, 1, &err));
    CHECK_OK(am_bank_subsample_random(&b, 137, 43, &err));
    CHECK(memcmp(a.rows, b.rows, sizeof(float) * 137 * 2) != 0, "another seed: another subset");
    am_bank_free(&a);
    am_bank_free(&b);
}

/* The row index i of an offered row (i + 1, 1), read back after normalisation. */
static int offered_index(const float *row) {
    return (int)lrintf(row[0] / row[1]) - 1;
}

static void offer_all(am_bank *bank, const float *rows, int64_t keep, uint64_t seed,
                      am_bank_budget *budget) {
    am_error err = {0};
    am_bank_start(bank, seed);
    budget->used_bytes = 0;
    for (int i = 0; i < 1000; i += 7) /* in pieces, as crops arrive */
        CHECK_OK(am_bank_offer(bank, rows + 2 * i, i + 7 <= 1000 ? 7 : 1000 - i, 2, keep, budget,
                               &err));
}

static void test_reservoir(void) {
    float rows[1000 * 2];
    for (int i = 0; i < 1000; i++) {
        rows[2 * i] = (float)i + 1;
        rows[2 * i + 1] = 1;
    }
    am_bank_budget budget = {.limit_bytes = 1 << 20};
    am_bank a = {0}, b = {0};
    offer_all(&a, rows, 137, 42, &budget);
    CHECK(a.count == 137 && a.seen == 1000 && a.capacity_rows == 137, "reservoir of 137 of %lld",
          (long long)a.seen);
    CHECK(budget.used_bytes == 137 * 2 * (int64_t)sizeof(float), "charged %lld bytes",
          (long long)budget.used_bytes);
    int seen_row[1000] = {0}, valid = 1;
    for (int64_t r = 0; r < a.count; r++) {
        int i = offered_index(a.rows + 2 * r);
        valid &= i >= 0 && i < 1000 && !seen_row[i]++;
    }
    CHECK(valid, "kept rows are distinct offered rows");
    offer_all(&b, rows, 137, 42, &budget);
    CHECK(memcmp(a.rows, b.rows, sizeof(float) * 137 * 2) == 0, "seeded: same sample");
    offer_all(&b, rows, 137, 43, &budget);
    CHECK(memcmp(a.rows, b.rows, sizeof(float) * 137 * 2) != 0, "another seed: another sample");
    /* uniform: over 2000 seeds the first and the last row are each kept
     * 2000 * 137 / 1000 = 274 times on average (standard deviation 15) */
    int first = 0, last = 0;
    for (uint64_t seed = 0; seed < 2000; seed++) {
        offer_all(&b, rows, 137, seed, &budget);
        for (int64_t r = 0; r < b.count; r++) {
            int i = offered_index(b.rows + 2 * r);
            first += i == 0;
            last += i == 999;
        }
    }
    CHECK(first > 214 && first < 334 && last > 214 && last < 334,
          "first row kept %d times, last %d (expected 274)", first, last);
    am_bank_free(&a);
    am_bank_free(&b);
}

static void test_budget(void) {
    float rows[1100 * 2];
    for (int i = 0; i < 1100; i++) rows[2 * i] = rows[2 * i + 1] = 1;
    am_error err = {0};
    am_bank bank = {0};
    am_bank_budget budget = {.limit_bytes = 1024 * 2 * sizeof(float)}; /* 1024 rows */
    am_bank_start(&bank, 1);
    CHECK_OK(am_bank_offer(&bank, rows, 1000, 2, INT64_MAX, &budget, &err));
    CHECK(bank.capacity_rows == 1024 && budget.used_bytes == budget.limit_bytes,
          "grown to the budget, %lld rows", (long long)bank.capacity_rows);
    CHECK(am_bank_offer(&bank, rows, 100, 2, INT64_MAX, &budget, &err) == AM_ERR_LIMIT &&
              strstr(err.message, "memory budget") && strstr(err.message, "1000 embeddings in one part"),
          "over the budget: %s", err.message);
    CHECK(bank.count == 1000 && bank.seen == 1000, "bank unchanged by the refused offer");
    CHECK_OK(am_bank_offer(&bank, rows, 24, 2, INT64_MAX, &budget, &err));
    CHECK(bank.count == 1024, "what fits still fits");
    am_bank_free(&bank);
}

static void test_coreset(void) {
    am_error err = {0};
    am_bank bank = {0};
    /* points on a line (dim 1 after normalisation would collapse: use 2-d
     * vectors of distinct directions) */
    const float rows[] = {1, 0, 0.995f, 0.0998f, 0, 1, 0.98f, 0.199f, -1, 0.01f};
    CHECK_OK(am_bank_append(&bank, rows, 5, 2, 1, &err));
    int64_t idx[3];
    CHECK_OK(am_bank_coreset_indices(&bank, 3, 7, idx, &err));
    /* whatever the seeded first pick, the next is the farthest point from it */
    const float *first = bank.rows + idx[0] * 2;
    double best = -1;
    int64_t far = -1;
    for (int64_t i = 0; i < 5; i++) {
        double dx = bank.rows[i * 2] - first[0], dy = bank.rows[i * 2 + 1] - first[1];
        if (dx * dx + dy * dy > best) {
            best = dx * dx + dy * dy;
            far = i;
        }
    }
    CHECK(idx[1] == far, "second pick %lld is the farthest %lld", (long long)idx[1],
          (long long)far);
    CHECK(idx[0] != idx[1] && idx[1] != idx[2] && idx[0] != idx[2], "distinct picks");
    CHECK_OK(am_bank_subsample_coreset(&bank, 3, 7, &err));
    CHECK(bank.count == 3, "coreset keeps 3");
    am_bank_free(&bank);
}

static void test_gaussian(void) {
    am_error err = {0};
    float map[9 * 9] = {0}, scratch[9 * 9];
    map[4 * 9 + 4] = 1.0f; /* an impulse in the middle */
    CHECK_OK(am_map_gaussian(map, 9, 9, 1.0f, scratch, &err));
    double sum = 0;
    for (int i = 0; i < 81; i++) sum += map[i];
    CHECK_NEAR(sum, 1.0, 1e-5);                      /* mass kept (away from borders) */
    CHECK_NEAR(map[4 * 9 + 3], map[4 * 9 + 5], 1e-7); /* symmetric */
    CHECK_NEAR(map[3 * 9 + 4], map[4 * 9 + 3], 1e-7);
    /* 1-D weights exp(-x^2/2) normalised over -3..3: centre = w0^2 */
    double w = 0;
    for (int i = -3; i <= 3; i++) w += exp(-0.5 * i * i);
    CHECK_NEAR(map[4 * 9 + 4], 1.0 / (w * w), 1e-6);
}

static void test_augment(void) {
    am_error err = {0};
    am_image img = {0}, out = {0};
    CHECK_OK(am_image_alloc(3, 2, &img, &err));
    for (int i = 0; i < 18; i++) img.data[i] = (uint8_t)(i * 10);
    CHECK_OK(am_augment_apply(&img, (am_augment){AM_AUGMENT_HFLIP, 0}, &out, &err));
    CHECK(memcmp(out.data, img.data + 6, 3) == 0, "hflip: first pixel = last of the row");
    am_image_free(&out);
    CHECK_OK(am_augment_apply(&img, (am_augment){AM_AUGMENT_ROTATE, 0}, &out, &err));
    CHECK(memcmp(out.data, img.data, 18) == 0, "rotation by 0 is the identity");
    am_image_free(&out);
    /* shift right by one column (1/3 of the width): column 0 repeats the border */
    CHECK_OK(am_augment_apply(&img, (am_augment){AM_AUGMENT_SHIFT_X, 1.0f / 3}, &out, &err));
    CHECK(memcmp(out.data, img.data, 3) == 0 && memcmp(out.data + 3, img.data, 3) == 0,
          "shift x: border replicated, content moved");
    am_image_free(&out);
    am_augment list[16];
    CHECK(am_augment_list(AM_AUG_ALL, 10, 0.05f, list) == 9, "all augmentations: 9 views");
    am_image_free(&img);
}

int main(void) {
    test_gaussian();
    test_augment();
    test_harmonic();
    test_text_score();
    test_scores();
    test_distance();
    test_random_cap();
    test_reservoir();
    test_budget();
    test_coreset();
    return check_summary();
}
