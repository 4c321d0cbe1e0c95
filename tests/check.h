/* check.h - the tests' assertions: each CHECK counts a pass or prints the
 * failure with its location; check_summary() prints "N passed, M failed" and
 * gives the exit status. */
#ifndef AM_TESTS_CHECK_H
#define AM_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "anomem.h"

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (cond) {                                                                               \
            check_passed++;                                                                       \
        } else {                                                                                  \
            check_failed++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
        }                                                                                         \
    } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol)                                                                     \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a),        \
          (double)(b), (double)(tol))

/* An am_status call that must succeed; `err` is the am_error in scope. */
#define CHECK_OK(call)                                                                            \
    do {                                                                                          \
        am_status check_st_ = (call);                                                             \
        CHECK(check_st_ == AM_OK, "%s -> %s: %s", #call, am_status_string(check_st_),             \
              err.message);                                                                       \
    } while (0)

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Path of the shared/ folder (vectors, data), from ANOMEM_SHARED. */
static inline const char *check_shared_dir(void) {
    const char *s = getenv("ANOMEM_SHARED");
    return s ? s : "../shared";
}

/* A path under shared/ in a static buffer (one at a time). */
static inline const char *check_shared_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", check_shared_dir(), rel);
    return buf;
}

#endif
