/* file.h - reading files by mapping them, writing files atomically, making
 * folders, and the identity (size + hash) of weight files.  Writes go
 * through a temporary name in the same folder, then rename. */
#ifndef AM_IO_FILE_H
#define AM_IO_FILE_H

#include <stdio.h>
#include <stddef.h>

#include "anomem.h"

/* A read-only view of a whole file. */
typedef struct {
    const unsigned char *data;
    size_t size;
    int mapped; /* 1 when data is an mmap, 0 when malloc'd (empty files) */
} am_mapped_file;

/* Maps `path` read-only.  Missing files, folders and unreadable files are
 * errors naming the path.  An empty file maps to size 0. */
am_status am_file_map(const char *path, am_mapped_file *out, am_error *err);
void am_file_unmap(am_mapped_file *file);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer of at most
 * `limit` bytes. */
am_status am_file_read_all(const char *path, size_t limit, char **data, size_t *size,
                           am_error *err);

/* An output file being written under a temporary name. */
typedef struct {
    FILE *fp;
    char *final_path;
    char *temp_path;
} am_atomic_file;

/* Creates the hidden .<name>.tmp.<pid>.<n> beside `path` for writing. */
am_status am_atomic_open(am_atomic_file *f, const char *path, am_error *err);

/* Flushes, syncs and renames onto the final path; on any write error removes
 * the temporary file and reports it. */
am_status am_atomic_commit(am_atomic_file *f, am_error *err);

/* Removes the temporary file (after a failure). */
void am_atomic_abort(am_atomic_file *f);

/* Removes the temporary files a killed writer left in `dir` (not its
 * subfolders): names .<file>.tmp.<pid>.<n> whose process no longer runs.
 * A folder that cannot be read is left alone. */
void am_remove_stale_temps(const char *dir);

/* Writes `size` bytes to `path` atomically. */
am_status am_write_file_atomic(const char *path, const void *data, size_t size, am_error *err);

/* The identity of a weight file: "<size>:<64-bit hash hex>" of its bytes
 * (read in 4 MiB blocks: ~1 s for a 2.5 GB file), into out. */
am_status am_file_identity(const char *path, char *out, size_t size, am_error *err);

#endif
