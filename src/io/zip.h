/* zip.h - a read-only view of the directory of a zip archive held in memory,
 * as torch.save (>= 1.6) writes it: stored (uncompressed) entries, zip64 when
 * present.  Nothing is copied but the names; entry data points into the buffer. */
#ifndef AM_IO_ZIP_H
#define AM_IO_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

/* Bounds on what a directory may hold. */
#define AM_ZIP_MAX_ENTRIES ((int64_t)1 << 20)
#define AM_ZIP_MAX_NAME 4096

/* One stored entry: its name and its bytes inside the archive buffer. */
typedef struct {
    const char *name; /* NUL-terminated copy */
    const unsigned char *data;
    uint64_t size;
} am_zip_entry;

typedef struct am_zip am_zip;

/*
 * Reads the directory of the zip archive buf[0..size): the end-of-central-
 * directory record (in the last 64 KiB + 22 bytes), the zip64 locator and
 * record when present, every central-directory entry and its local header.
 * Every offset and size is checked against the buffer.  Compressed or
 * encrypted entries are AM_ERR_UNSUPPORTED naming the entry; a malformed
 * archive is AM_ERR_FORMAT.  The buffer must outlive the returned object.
 */
am_status am_zip_open(const unsigned char *buf, size_t size, am_zip **out, am_error *err);

void am_zip_close(am_zip *zip);

/* Number of entries; am_zip_at lists them in directory order. */
int64_t am_zip_count(const am_zip *zip);
const am_zip_entry *am_zip_at(const am_zip *zip, int64_t index);

/* The entry called `name` (exact match), or NULL. */
const am_zip_entry *am_zip_find(const am_zip *zip, const char *name);

#endif
