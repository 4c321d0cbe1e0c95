/* alloc.h - checked allocation: every allocation that input sizes drive goes
 * through here, so an absurd size becomes an error instead of a crash. */
#ifndef AM_CORE_ALLOC_H
#define AM_CORE_ALLOC_H

#include <stddef.h>

#include "anomem.h"

/* Largest single allocation the library makes (16 GiB). */
#define AM_ALLOC_LIMIT ((size_t)16 << 30)

/* 64-byte aligned, uninitialised; NULL with err set on failure or overflow of
 * count * size.  Release with am_free. */
void *am_alloc(size_t count, size_t size, am_error *err);

/* As am_alloc, zero-filled. */
void *am_calloc(size_t count, size_t size, am_error *err);

void am_free(void *p);

/* A scratch buffer that only grows: returns `old` when it holds `count`
 * elements of `size` bytes (*capacity counts elements), else frees it and
 * returns a new uninitialised one, updating *capacity.  On failure returns
 * NULL with err set, and `old` stays valid. */
void *am_scratch(void *old, size_t *capacity, size_t count, size_t size, am_error *err);

/* A malloc'd copy of s (NULL with err set on failure). */
char *am_strdup(const char *s, am_error *err);

#endif
