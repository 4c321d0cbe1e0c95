/* alloc.c - checked, aligned allocation. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void *am_alloc(size_t count, size_t size, am_error *err) {
    if (size != 0 && count > AM_ALLOC_LIMIT / size) {
        am_error_set(err, AM_ERR_LIMIT, "allocation of %zu x %zu bytes exceeds the limit", count,
                     size);
        return NULL;
    }
    size_t bytes = count * size;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) am_error_set(err, AM_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *am_calloc(size_t count, size_t size, am_error *err) {
    void *p = am_alloc(count, size, err);
    if (p) memset(p, 0, count * size);
    return p;
}

void am_free(void *p) {
    free(p);
}

void *am_scratch(void *old, size_t *capacity, size_t count, size_t size, am_error *err) {
    if (old && count <= *capacity) return old;
    void *p = am_alloc(count, size, err);
    if (!p) return NULL;
    am_free(old);
    *capacity = count;
    return p;
}

char *am_strdup(const char *s, am_error *err) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) {
        am_error_set(err, AM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, s, n);
    return p;
}
