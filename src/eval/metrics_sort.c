/* metrics_sort.c - LSD radix sorts of 32-bit keys and of (key, payload)
 * pairs: three passes of 11 bits, a pass skipped when one bucket holds all. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "eval/metrics.h"

#define DIGIT_BITS 11
#define BUCKETS (1u << DIGIT_BITS)
#define PASSES 3

/* Counts of every digit of every pass, in one read of the keys. */
static void histogram_keys(const uint32_t *keys, size_t n, size_t count[PASSES][BUCKETS]) {
    memset(count, 0, sizeof(size_t) * PASSES * BUCKETS);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = keys[i];
        count[0][k & (BUCKETS - 1)]++;
        count[1][(k >> DIGIT_BITS) & (BUCKETS - 1)]++;
        count[2][k >> (2 * DIGIT_BITS)]++;
    }
}

static void histogram_pairs(const uint64_t *pairs, size_t n, size_t count[PASSES][BUCKETS]) {
    memset(count, 0, sizeof(size_t) * PASSES * BUCKETS);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(pairs[i] >> 32);
        count[0][k & (BUCKETS - 1)]++;
        count[1][(k >> DIGIT_BITS) & (BUCKETS - 1)]++;
        count[2][k >> (2 * DIGIT_BITS)]++;
    }
}

/* Turns the counts of one pass into start offsets; 0 when one bucket holds
 * all n (the pass would not move anything). */
static int prefix_offsets(size_t *count, size_t n) {
    size_t sum = 0;
    for (uint32_t b = 0; b < BUCKETS; b++) {
        if (count[b] == n) return 0;
        size_t c = count[b];
        count[b] = sum;
        sum += c;
    }
    return 1;
}

void am_metrics_sort_keys(uint32_t *keys, uint32_t *tmp, size_t n) {
    static_assert(PASSES * DIGIT_BITS >= 32, "three digits cover 32 bits");
    size_t count[PASSES][BUCKETS];
    histogram_keys(keys, n, count);
    uint32_t *src = keys, *dst = tmp;
    for (int p = 0; p < PASSES; p++) {
        if (!prefix_offsets(count[p], n)) continue;
        int shift = p * DIGIT_BITS;
        size_t *off = count[p];
        for (size_t i = 0; i < n; i++) {
            uint32_t k = src[i];
            dst[off[(k >> shift) & (BUCKETS - 1)]++] = k;
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != keys) memcpy(keys, src, n * sizeof *keys);
}

void am_metrics_sort_pairs(uint64_t *pairs, uint64_t *tmp, size_t n) {
    size_t count[PASSES][BUCKETS];
    histogram_pairs(pairs, n, count);
    uint64_t *src = pairs, *dst = tmp;
    for (int p = 0; p < PASSES; p++) {
        if (!prefix_offsets(count[p], n)) continue;
        int shift = 32 + p * DIGIT_BITS;
        size_t *off = count[p];
        for (size_t i = 0; i < n; i++) {
            uint64_t v = src[i];
            dst[off[(v >> shift) & (BUCKETS - 1)]++] = v;
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != pairs) memcpy(pairs, src, n * sizeof *pairs);
}
