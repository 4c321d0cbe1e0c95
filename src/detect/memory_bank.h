/* memory_bank.h - a bank of L2-normalised embeddings of normal images, its
 * capacity cap (seeded random subset or greedy k-center coreset), and the
 * nearest-neighbour distance of Eq. 4: min over the bank of (1 - cos) / 2. */
#ifndef AM_DETECT_MEMORY_BANK_H
#define AM_DETECT_MEMORY_BANK_H

#include <stdint.h>

#include "anomem.h"
#include "core/rng.h"

typedef struct {
    int64_t count;
    int64_t dim;
    int64_t capacity_rows; /* allocated rows */
    float *rows;           /* count x dim, each row of unit length */
    int64_t seen;          /* rows offered with am_bank_offer */
    am_rng rng;            /* its reservoir draws */
} am_bank;

/* The bytes all banks of one fit may allocate together, and what they hold. */
typedef struct {
    int64_t limit_bytes;
    int64_t used_bytes;
} am_bank_budget;

/* Scales v[0..dim) to unit length (a zero vector stays zero); the sum of
 * squares in double. */
void am_normalise(float *v, int64_t dim);

/* Appends n rows of dim floats, normalising each when `normalise` is set (a
 * zero row stays zero); rows read back from a model file are stored as is. */
am_status am_bank_append(am_bank *bank, const float *rows, int64_t n, int64_t dim, int normalise,
                         am_error *err);

/* Empties the bank and seeds the generator of its reservoir. */
void am_bank_start(am_bank *bank, uint64_t seed);

/* Offers n rows (normalised here) to a bank that keeps a uniform random
 * sample of at most `keep` of all rows ever offered (reservoir sampling,
 * Algorithm R), so memory stays bounded however many rows arrive.  Every
 * allocation is charged to `budget`: one that would pass its limit fails
 * with AM_ERR_LIMIT and leaves the bank as it was. */
am_status am_bank_offer(am_bank *bank, const float *rows, int64_t n, int64_t dim, int64_t keep,
                        am_bank_budget *budget, am_error *err);

void am_bank_free(am_bank *bank);

/* Keeps exactly `keep` rows chosen uniformly at random with `seed` (order of
 * the kept rows preserved); nothing happens when count <= keep. */
am_status am_bank_subsample_random(am_bank *bank, int64_t keep, uint64_t seed, am_error *err);

/* Keeps `keep` rows chosen by greedy k-center selection: the first row is a
 * seeded random one, then repeatedly the row farthest (in Euclidean distance)
 * from everything chosen so far.  Distances are computed on a seeded random
 * projection to at most 128 dimensions, as PatchCore does. */
am_status am_bank_subsample_coreset(am_bank *bank, int64_t keep, uint64_t seed, am_error *err);

/* The indices greedy k-center picks (exposed for tests): idx[0..keep). */
am_status am_bank_coreset_indices(const am_bank *bank, int64_t keep, uint64_t seed,
                                  int64_t *idx, am_error *err);

/* A bank prepared for queries: split in blocks of rows, each a linear layer
 * (so the search is one GEMM per block, in f32 or bf16). */
typedef struct am_bank_index am_bank_index;

am_status am_bank_index_create(const am_bank *bank, am_precision precision,
                               am_bank_index **out, am_error *err);
void am_bank_index_free(am_bank_index *index);

/* dist[i] = min_m (1 - cos(q_i, m)) / 2 for n queries of `dim` floats (not
 * necessarily normalised; they are normalised here).  An empty bank gives 0. */
am_status am_bank_index_distance(am_bank_index *index, const float *queries, int64_t n,
                                 float *dist, am_error *err);

#endif
