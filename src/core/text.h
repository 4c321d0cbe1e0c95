/* text.h - a growing text buffer for building files (CSV, JSON-free tables,
 * HTML) with printf-style appends; an allocation failure is remembered and
 * reported once at the end. */
#ifndef AM_CORE_TEXT_H
#define AM_CORE_TEXT_H

#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap;
    int failed; /* an append ran out of memory: the text is incomplete */
} am_text;

/* Appends printf-style text, growing the buffer as needed. */
void am_text_printf(am_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends n bytes. */
void am_text_append(am_text *t, const char *s, size_t n);

void am_text_free(am_text *t);

#endif
