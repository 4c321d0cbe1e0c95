/* rng.h - a small seeded random generator (xoshiro256**, seeded through
 * splitmix64): the same seed gives the same numbers on every machine. */
#ifndef AM_CORE_RNG_H
#define AM_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} am_rng;

void am_rng_seed(am_rng *rng, uint64_t seed);
uint64_t am_rng_next(am_rng *rng);

/* Uniform in [0, 1) with 24 random bits (exact in float). */
float am_rng_uniform(am_rng *rng);

/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t am_rng_below(am_rng *rng, uint64_t n);

/* Standard normal (Box-Muller in double, rounded to float). */
float am_rng_normal(am_rng *rng);

#endif
