/* file.c - file mapping, atomic writes, folders, and weight-file identities. */
#include "io/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

am_status am_file_map(const char *path, am_mapped_file *out, am_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return am_error_set(err, AM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return am_error_set(err, AM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return am_error_set(err, AM_ERR_IO, "%s: is a directory, not a file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return am_error_set(err, AM_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        out->data = (const unsigned char *)"";
        return AM_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return am_error_set(err, AM_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    out->mapped = 1;
    return AM_OK;
}

void am_file_unmap(am_mapped_file *file) {
    if (file->mapped) munmap((void *)file->data, file->size);
    memset(file, 0, sizeof *file);
}

am_status am_file_read_all(const char *path, size_t limit, char **data, size_t *size,
                           am_error *err) {
    *data = NULL;
    am_mapped_file m;
    am_status st = am_file_map(path, &m, err);
    if (st != AM_OK) return st;
    if (m.size > limit) {
        am_file_unmap(&m);
        return am_error_set(err, AM_ERR_LIMIT, "%s: file of %zu bytes is larger than %zu bytes",
                            path, m.size, limit);
    }
    char *buf = am_alloc(m.size + 1, 1, err);
    if (!buf) {
        am_file_unmap(&m);
        return AM_ERR_NOMEM;
    }
    memcpy(buf, m.data, m.size);
    buf[m.size] = 0;
    if (size) *size = m.size;
    am_file_unmap(&m);
    *data = buf;
    return AM_OK;
}

am_status am_atomic_open(am_atomic_file *f, const char *path, am_error *err) {
    static atomic_uint counter;
    memset(f, 0, sizeof *f);
    size_t n = strlen(path) + 48;
    f->final_path = am_strdup(path, err);
    f->temp_path = malloc(n);
    if (!f->final_path || !f->temp_path) {
        am_atomic_abort(f);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    /* hidden beside the final file: <dir>/.<name>.tmp.<pid>.<n> */
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(f->temp_path, n, "%.*s.%s.tmp.%ld.%u", dir_len, path, path + dir_len,
             (long)getpid(), atomic_fetch_add(&counter, 1));
    f->fp = fopen(f->temp_path, "wb");
    if (!f->fp) {
        am_status st =
            am_error_set(err, AM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        am_atomic_abort(f);
        return st;
    }
    return AM_OK;
}

am_status am_atomic_commit(am_atomic_file *f, am_error *err) {
    int failed = ferror(f->fp) != 0;
    failed |= fflush(f->fp) != 0;
    failed |= fsync(fileno(f->fp)) != 0;
    failed |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (failed || rename(f->temp_path, f->final_path) != 0) {
        am_status st = am_error_set(err, AM_ERR_IO, "%s: cannot write: %s", f->final_path,
                                    strerror(errno));
        am_atomic_abort(f);
        return st;
    }
    free(f->temp_path);
    free(f->final_path);
    memset(f, 0, sizeof *f);
    return AM_OK;
}

void am_atomic_abort(am_atomic_file *f) {
    if (f->fp) fclose(f->fp);
    if (f->temp_path) unlink(f->temp_path);
    free(f->temp_path);
    free(f->final_path);
    memset(f, 0, sizeof *f);
}

/* The writer's process id when `name` is .<file>.tmp.<pid>.<n>, else 0. */
static long temp_owner(const char *name) {
    if (name[0] != '.') return 0;
    const char *mark = NULL;
    for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp.")) mark = p;
    if (!mark) return 0;
    char *end;
    errno = 0;
    long pid = strtol(mark + 5, &end, 10);
    if (errno || pid <= 0 || end == mark + 5 || *end != '.' || !end[1]) return 0;
    const char *n = end + 1;
    while (*n >= '0' && *n <= '9') n++;
    return *n ? 0 : pid;
}

void am_remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = temp_owner(e->d_name);
        if (!pid || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path)
            unlink(path);
    }
    closedir(d);
}

am_status am_write_file_atomic(const char *path, const void *data, size_t size, am_error *err) {
    am_atomic_file f;
    am_status st = am_atomic_open(&f, path, err);
    if (st != AM_OK) return st;
    if (size && fwrite(data, 1, size, f.fp) != size) {
        am_atomic_abort(&f);
        return am_error_set(err, AM_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return am_atomic_commit(&f, err);
}

am_status am_write_file(const char *path, const void *data, size_t size, am_error *err) {
    return am_write_file_atomic(path, data, size, err);
}

am_status am_make_dirs(const char *path, am_error *err) {
    char buf[4096];
    if (!path[0] || strlen(path) >= sizeof buf)
        return am_error_set(err, AM_ERR_ARGUMENT, "folder path empty or too long");
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(buf, 0777);
        *p = '/';
    }
    struct stat st;
    if (mkdir(buf, 0777) != 0 && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
        return am_error_set(err, AM_ERR_IO, "%s: cannot create the folder: %s", path,
                            strerror(errno));
    return AM_OK;
}

/* A 64-bit hash of a whole file, read in large blocks: four lanes of 64-bit
 * multiply-rotate over 32-byte stripes, then the tail and the length. */
static am_status hash_file(const char *path, uint64_t *size_out, uint64_t *hash_out,
                           am_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return am_error_set(err, AM_ERR_IO, "%s: %s", path, strerror(errno));
    const size_t block = (size_t)4 << 20;
    uint64_t *buf = am_alloc(block / 8 + 4, 8, err);
    if (!buf) {
        fclose(f);
        return AM_ERR_NOMEM;
    }
    const uint64_t p1 = 0x9E3779B185EBCA87ull, p2 = 0xC2B2AE3D27D4EB4Full;
    uint64_t lane[4] = {p1 + p2, p2, 0, (uint64_t)0 - p1};
    uint64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, block, f)) > 0) {
        total += got;
        size_t words = got / 8;
        if (got % 8) { /* the tail: zero-padded last word (only at the end of the file) */
            uint64_t tail = 0;
            memcpy(&tail, (unsigned char *)buf + words * 8, got % 8);
            buf[words++] = tail;
        }
        while (words % 4) buf[words++] = 0;
        for (size_t i = 0; i < words; i += 4)
            for (int k = 0; k < 4; k++) {
                uint64_t x = lane[k] + buf[i + k] * p2;
                lane[k] = ((x << 31) | (x >> 33)) * p1;
            }
        if (got < block) break;
    }
    int failed = ferror(f);
    fclose(f);
    am_free(buf);
    if (failed) return am_error_set(err, AM_ERR_IO, "%s: read error", path);
    uint64_t h = total * p1;
    for (int k = 0; k < 4; k++) {
        h ^= lane[k] * p2;
        h = ((h << 27) | (h >> 37)) * p1 + 0x85EBCA77C2B2AE63ull;
    }
    h ^= h >> 33;
    h *= p2;
    h ^= h >> 29;
    *size_out = total;
    *hash_out = h;
    return AM_OK;
}

am_status am_file_identity(const char *path, char *out, size_t size, am_error *err) {
    uint64_t bytes = 0, hash = 0;
    am_status st = hash_file(path, &bytes, &hash, err);
    if (st == AM_OK)
        snprintf(out, size, "%llu:%016llx", (unsigned long long)bytes, (unsigned long long)hash);
    return st;
}
