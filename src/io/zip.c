/* zip.c - the zip directory reader: end-of-central-directory record, zip64
 * locator and record, central-directory entries with their zip64 extra
 * fields, and the local headers that give where each entry's data starts.
 * Only stored entries are accepted; every field is bounds-checked. */
#include "io/zip.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_ZIP64_EOCD 0x06064b50u
#define SIG_ZIP64_LOCATOR 0x07064b50u

#define LOCAL_SIZE 30
#define CENTRAL_SIZE 46
#define EOCD_SIZE 22
#define ZIP64_EOCD_SIZE 56
#define ZIP64_LOCATOR_SIZE 20
#define MAX_COMMENT 65535
#define EXTRA_ZIP64 0x0001

struct am_zip {
    am_zip_entry *entries; /* directory order */
    int64_t *sorted;       /* indices into entries, by name */
    int64_t count;
};

static uint16_t rd16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* 1 when [offset, offset + length) lies inside [0, limit). */
static int in_range(uint64_t offset, uint64_t length, uint64_t limit) {
    return offset <= limit && length <= limit - offset;
}

/* The directory's location as the (zip64) end record gives it. */
typedef struct {
    uint64_t entries;
    uint64_t cd_offset, cd_size;
    uint64_t end; /* where the central directory must end: the first end record */
} directory_info;

/* Finds the end-of-central-directory record, searching back from the end of
 * the buffer for a signature whose comment reaches exactly the end. */
static am_status find_eocd(const unsigned char *buf, size_t size, size_t *pos, am_error *err) {
    if (size >= EOCD_SIZE) {
        size_t last = size - EOCD_SIZE;
        size_t first = last > MAX_COMMENT ? last - MAX_COMMENT : 0;
        for (size_t p = last + 1; p-- > first;) {
            if (rd32(buf + p) == SIG_EOCD && p + EOCD_SIZE + rd16(buf + p + 20) == size) {
                *pos = p;
                return AM_OK;
            }
        }
    }
    return am_error_set(err, AM_ERR_FORMAT,
                        "no zip end-of-central-directory record (truncated, or not a zip file)");
}

/* Reads the end record at `eocd` and, when a zip64 locator precedes it, the
 * zip64 end record it points to. */
static am_status read_end_records(const unsigned char *buf, size_t eocd, directory_info *d,
                                  am_error *err) {
    const unsigned char *e = buf + eocd;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
    d->entries = rd16(e + 10);
    d->cd_size = rd32(e + 12);
    d->cd_offset = rd32(e + 16);
    d->end = eocd;
    if (eocd < ZIP64_LOCATOR_SIZE || rd32(buf + eocd - ZIP64_LOCATOR_SIZE) != SIG_ZIP64_LOCATOR)
        return AM_OK;
    const unsigned char *loc = buf + eocd - ZIP64_LOCATOR_SIZE;
    uint64_t rec = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "multi-disk zip64 archives are not supported");
    if (!in_range(rec, ZIP64_EOCD_SIZE, eocd - ZIP64_LOCATOR_SIZE) ||
        rd32(buf + rec) != SIG_ZIP64_EOCD)
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip64 locator points at byte %llu, where no zip64 end record is",
                            (unsigned long long)rec);
    const unsigned char *z = buf + rec;
    if (rd32(z + 16) != 0 || rd32(z + 20) != 0)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "multi-disk zip64 archives are not supported");
    d->entries = rd64(z + 32);
    d->cd_size = rd64(z + 40);
    d->cd_offset = rd64(z + 48);
    d->end = rec;
    return AM_OK;
}

/* Applies the zip64 extra field of a central entry: each of the three values
 * that reads 0xFFFFFFFF in the fixed header is stored there, in order. */
static am_status read_zip64_extra(const unsigned char *extra, size_t extra_len, const char *name,
                                  uint64_t *usize, uint64_t *csize, uint64_t *local,
                                  am_error *err) {
    uint64_t *wanted[3] = {usize, csize, local};
    size_t p = 0;
    while (p + 4 <= extra_len) {
        uint16_t id = rd16(extra + p), len = rd16(extra + p + 2);
        if (len > extra_len - p - 4) break;
        if (id == EXTRA_ZIP64) {
            const unsigned char *f = extra + p + 4;
            size_t used = 0;
            for (int i = 0; i < 3; i++) {
                if (*wanted[i] != 0xFFFFFFFFu) continue;
                if (used + 8 > len)
                    return am_error_set(err, AM_ERR_FORMAT,
                                        "zip entry '%s': zip64 extra field too short", name);
                *wanted[i] = rd64(f + used);
                used += 8;
            }
            return AM_OK;
        }
        p += 4 + (size_t)len;
    }
    if (*usize == 0xFFFFFFFFu || *csize == 0xFFFFFFFFu || *local == 0xFFFFFFFFu)
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip entry '%s': zip64 sizes without a zip64 "
                            "extra field",
                            name);
    return AM_OK;
}

/* Reads one central-directory entry at buf[*pos], checks its local header,
 * and fills `out`; advances *pos past the entry. */
static am_status read_entry(const unsigned char *buf, size_t size, const directory_info *d,
                            uint64_t *pos, am_zip_entry *out, am_error *err) {
    uint64_t cd_end = d->cd_offset + d->cd_size;
    if (!in_range(*pos, CENTRAL_SIZE, cd_end) || rd32(buf + *pos) != SIG_CENTRAL)
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip central directory entry at byte %llu is malformed",
                            (unsigned long long)*pos);
    const unsigned char *c = buf + *pos;
    uint16_t flags = rd16(c + 8), method = rd16(c + 10);
    uint64_t csize = rd32(c + 20), usize = rd32(c + 24);
    size_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    uint64_t local = rd32(c + 42);
    uint64_t total = (uint64_t)CENTRAL_SIZE + name_len + extra_len + comment_len;
    if (!in_range(*pos, total, cd_end))
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip central directory entry at byte %llu runs past the directory",
                            (unsigned long long)*pos);
    if (name_len == 0 || name_len > AM_ZIP_MAX_NAME || memchr(c + CENTRAL_SIZE, 0, name_len))
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip entry at byte %llu has an empty, too long or binary name",
                            (unsigned long long)*pos);
    char *name = malloc(name_len + 1);
    if (!name) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    memcpy(name, c + CENTRAL_SIZE, name_len);
    name[name_len] = 0;
    out->name = name;
    if (flags & 1)
        return am_error_set(err, AM_ERR_UNSUPPORTED, "zip entry '%s' is encrypted", name);
    if (method != 0)
        return am_error_set(err, AM_ERR_UNSUPPORTED,
                            "zip entry '%s' is compressed (method %u%s); only stored entries are "
                            "read, as torch.save writes them (was the file re-zipped?)",
                            name, method, method == 8 ? ", deflate" : "");
    am_status st =
        read_zip64_extra(c + CENTRAL_SIZE + name_len, extra_len, name, &usize, &csize, &local, err);
    if (st != AM_OK) return st;
    if (csize != usize)
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip entry '%s' is stored but its sizes differ (%llu vs %llu)", name,
                            (unsigned long long)csize, (unsigned long long)usize);
    if (!in_range(local, LOCAL_SIZE, size) || rd32(buf + local) != SIG_LOCAL)
        return am_error_set(err, AM_ERR_FORMAT, "zip entry '%s': no local header at byte %llu",
                            name, (unsigned long long)local);
    const unsigned char *l = buf + local;
    size_t lname = rd16(l + 26), lextra = rd16(l + 28);
    uint64_t data = local + LOCAL_SIZE + lname + lextra;
    if (rd16(l + 8) != 0 || lname != name_len || !in_range(local + LOCAL_SIZE, lname, size) ||
        memcmp(l + LOCAL_SIZE, name, name_len) != 0)
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip entry '%s': local header disagrees with the central directory",
                            name);
    if (!in_range(data, csize, size))
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip entry '%s': %llu data bytes at byte %llu run past the end of the "
                            "%zu-byte file (truncated?)",
                            name, (unsigned long long)csize, (unsigned long long)data, size);
    out->data = buf + data;
    out->size = csize;
    *pos += total;
    return AM_OK;
}

/* An entry index with the table it indexes, so that the qsort comparator
 * needs no global state. */
typedef struct {
    const am_zip_entry *entries;
    int64_t index;
} sort_item;

static int compare_items(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    return strcmp(x->entries[x->index].name, y->entries[y->index].name);
}

/* Builds the by-name index and refuses duplicate names. */
static am_status build_index(am_zip *zip, am_error *err) {
    sort_item *items = calloc((size_t)zip->count + 1, sizeof *items);
    zip->sorted = calloc((size_t)zip->count + 1, sizeof *zip->sorted);
    if (!items || !zip->sorted) {
        free(items);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < zip->count; i++)
        items[i] = (sort_item){zip->entries, i};
    qsort(items, (size_t)zip->count, sizeof *items, compare_items);
    am_status st = AM_OK;
    for (int64_t i = 0; i < zip->count; i++) {
        zip->sorted[i] = items[i].index;
        if (i > 0 &&
            strcmp(zip->entries[items[i].index].name, zip->entries[items[i - 1].index].name) == 0 &&
            st == AM_OK)
            st = am_error_set(err, AM_ERR_FORMAT, "zip entry '%s' appears twice",
                              zip->entries[items[i].index].name);
    }
    free(items);
    return st;
}

am_status am_zip_open(const unsigned char *buf, size_t size, am_zip **out, am_error *err) {
    *out = NULL;
    size_t eocd = 0;
    directory_info d = {0};
    am_status st = find_eocd(buf, size, &eocd, err);
    if (st == AM_OK) st = read_end_records(buf, eocd, &d, err);
    if (st != AM_OK) return st;
    if (!in_range(d.cd_offset, d.cd_size, d.end))
        return am_error_set(err, AM_ERR_FORMAT,
                            "zip central directory (%llu bytes at byte %llu) lies outside the file",
                            (unsigned long long)d.cd_size, (unsigned long long)d.cd_offset);
    if (d.entries > (uint64_t)AM_ZIP_MAX_ENTRIES)
        return am_error_set(err, AM_ERR_LIMIT, "zip directory of %llu entries (limit %lld)",
                            (unsigned long long)d.entries, (long long)AM_ZIP_MAX_ENTRIES);
    if (d.entries > d.cd_size / CENTRAL_SIZE)
        return am_error_set(err, AM_ERR_FORMAT, "zip directory claims %llu entries in %llu bytes",
                            (unsigned long long)d.entries, (unsigned long long)d.cd_size);
    am_zip *zip = calloc(1, sizeof *zip);
    if (zip) zip->entries = calloc((size_t)d.entries + 1, sizeof *zip->entries);
    if (!zip || !zip->entries) {
        free(zip);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    uint64_t pos = d.cd_offset;
    for (uint64_t i = 0; i < d.entries && st == AM_OK; i++) {
        st = read_entry(buf, size, &d, &pos, &zip->entries[i], err);
        zip->count = (int64_t)i + 1; /* the name may be set even on failure */
    }
    if (st == AM_OK) st = build_index(zip, err);
    if (st != AM_OK) {
        am_zip_close(zip);
        return st;
    }
    *out = zip;
    return AM_OK;
}

void am_zip_close(am_zip *zip) {
    if (!zip) return;
    for (int64_t i = 0; i < zip->count; i++)
        free((char *)zip->entries[i].name);
    free(zip->entries);
    free(zip->sorted);
    free(zip);
}

int64_t am_zip_count(const am_zip *zip) {
    return zip->count;
}

const am_zip_entry *am_zip_at(const am_zip *zip, int64_t index) {
    return index >= 0 && index < zip->count ? &zip->entries[index] : NULL;
}

const am_zip_entry *am_zip_find(const am_zip *zip, const char *name) {
    int64_t lo = 0, hi = zip->count - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const am_zip_entry *e = &zip->entries[zip->sorted[mid]];
        int c = strcmp(e->name, name);
        if (c == 0) return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}
