/* error.c - status strings and error messages. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *am_status_string(am_status status) {
    switch (status) {
    case AM_OK: return "ok";
    case AM_ERR_ARGUMENT: return "invalid argument";
    case AM_ERR_IO: return "input/output error";
    case AM_ERR_FORMAT: return "malformed file";
    case AM_ERR_UNSUPPORTED: return "unsupported feature";
    case AM_ERR_LIMIT: return "limit exceeded";
    case AM_ERR_NOMEM: return "out of memory";
    case AM_ERR_MODEL: return "not the expected model";
    case AM_ERR_MISMATCH: return "inputs do not match";
    case AM_ERR_NOT_FOUND: return "not found";
    case AM_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

am_status am_error_set(am_error *err, am_status code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

void am_error_prefix(am_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[AM_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    size_t plen = (size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1;
    size_t mlen = strnlen(err->message, sizeof err->message - 1);
    if (plen + mlen > sizeof err->message - 1) mlen = sizeof err->message - 1 - plen;
    memmove(err->message + plen, err->message, mlen);
    memcpy(err->message, prefix, plen);
    err->message[plen + mlen] = 0;
}
