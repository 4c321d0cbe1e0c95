/* error.h - filling an am_error: the one way library code reports a failure. */
#ifndef AM_CORE_ERROR_H
#define AM_CORE_ERROR_H

#include "anomem.h"

/* Sets err (if not NULL) to `code` and a printf-style message; returns `code`
 * so that callers can write `return am_error_set(err, AM_ERR_IO, ...)`. */
am_status am_error_set(am_error *err, am_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with a printf-style context ("file.pt: ") in place. */
void am_error_prefix(am_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
