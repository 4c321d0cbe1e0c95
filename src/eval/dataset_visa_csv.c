/* dataset_visa_csv.c - the VisA split-file parser: RFC 4180 CSV records
 * (quotes, doubled quotes, CRLF/LF/CR, BOM, blank lines) into rows of the
 * five columns the loader needs, with every size bounded. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "eval/dataset.h"

#define MAX_FIELDS 64

/* A growable byte buffer. */
typedef struct {
    char *data;
    size_t len, cap;
} byte_buf;

static int buf_reserve(byte_buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return 0;
    b->data = p;
    b->cap = cap;
    return 1;
}

/* The reader's position and the fields of the current record, each
 * NUL-terminated in `text` at offsets `start`. */
typedef struct {
    const char *p, *end;
    int64_t line;
    const char *label;
    byte_buf text;
    size_t start[MAX_FIELDS];
    int nfields;
    int quoted_any;
} csv_reader;

static int is_blank(char c) {
    return c == ' ' || c == '\t';
}

static am_status put_char(csv_reader *r, char c, int64_t record_line, am_error *err) {
    if (r->text.len >= AM_VISA_CSV_MAX_RECORD)
        return am_error_set(err, AM_ERR_LIMIT, "%s:%lld: record longer than %d bytes", r->label,
                            (long long)record_line, AM_VISA_CSV_MAX_RECORD);
    if (!buf_reserve(&r->text, 1)) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    r->text.data[r->text.len++] = c;
    return AM_OK;
}

/* Reads a quoted field body after its opening quote. */
static am_status read_quoted(csv_reader *r, int64_t record_line, am_error *err) {
    for (;;) {
        if (r->p >= r->end)
            return am_error_set(err, AM_ERR_FORMAT, "%s:%lld: a quoted field is not closed",
                                r->label, (long long)record_line);
        char c = *r->p++;
        if (c == '"') {
            if (r->p < r->end && *r->p == '"') r->p++;
            else return AM_OK;
        } else if (c == '\0') {
            return am_error_set(err, AM_ERR_FORMAT, "%s:%lld: NUL byte", r->label,
                                (long long)r->line);
        } else if (c == '\n' || (c == '\r' && !(r->p < r->end && *r->p == '\n'))) {
            r->line++;
        }
        am_status st = put_char(r, c, record_line, err);
        if (st != AM_OK) return st;
    }
}

/* Reads an unquoted field up to ',' or a line end, trimming trailing blanks. */
static am_status read_plain(csv_reader *r, int64_t record_line, am_error *err) {
    size_t keep = r->text.len;
    while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
        char c = *r->p++;
        if (c == '"')
            return am_error_set(err, AM_ERR_FORMAT, "%s:%lld: a quote inside an unquoted field",
                                r->label, (long long)record_line);
        if (c == '\0')
            return am_error_set(err, AM_ERR_FORMAT, "%s:%lld: NUL byte", r->label,
                                (long long)record_line);
        am_status st = put_char(r, c, record_line, err);
        if (st != AM_OK) return st;
        if (!is_blank(c)) keep = r->text.len;
    }
    r->text.len = keep;
    return AM_OK;
}

/* Reads one record; *got is 0 at the end of the data. */
static am_status read_record(csv_reader *r, int *got, am_error *err) {
    r->text.len = 0;
    r->nfields = 0;
    r->quoted_any = 0;
    *got = 0;
    if (r->p >= r->end) return AM_OK;
    const int64_t record_line = r->line;
    for (;;) {
        if (r->nfields >= MAX_FIELDS)
            return am_error_set(err, AM_ERR_LIMIT, "%s:%lld: more than %d fields", r->label,
                                (long long)record_line, MAX_FIELDS);
        r->start[r->nfields++] = r->text.len;
        while (r->p < r->end && is_blank(*r->p)) r->p++;
        am_status st;
        if (r->p < r->end && *r->p == '"') {
            r->p++;
            r->quoted_any = 1;
            st = read_quoted(r, record_line, err);
            while (st == AM_OK && r->p < r->end && is_blank(*r->p)) r->p++;
            if (st == AM_OK && r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
                st = am_error_set(err, AM_ERR_FORMAT,
                                  "%s:%lld: unexpected text after a closing quote", r->label,
                                  (long long)record_line);
        } else {
            st = read_plain(r, record_line, err);
        }
        if (st == AM_OK) st = put_char(r, '\0', record_line, err);
        if (st != AM_OK) return st;
        if (r->p >= r->end) break;
        char c = *r->p++;
        if (c == ',') continue;
        if (c == '\r' && r->p < r->end && *r->p == '\n') r->p++;
        r->line++;
        break;
    }
    *got = 1;
    return AM_OK;
}

/* Is the current record an empty line? */
static int record_is_blank(const csv_reader *r) {
    return r->nfields == 1 && !r->quoted_any && r->text.data[0] == '\0';
}

static const char *const columns[5] = {"object", "split", "label", "image", "mask"};

/* Finds the five columns in the header record. */
static am_status read_header(csv_reader *r, int col[5], int64_t line, am_error *err) {
    for (int c = 0; c < 5; c++) col[c] = -1;
    for (int f = 0; f < r->nfields; f++) {
        const char *name = r->text.data + r->start[f];
        for (int c = 0; c < 5; c++) {
            if (strcasecmp(name, columns[c]) != 0) continue;
            if (col[c] >= 0)
                return am_error_set(err, AM_ERR_FORMAT, "%s:%lld: column '%s' appears twice",
                                    r->label, (long long)line, columns[c]);
            col[c] = f;
        }
    }
    for (int c = 0; c < 5; c++)
        if (col[c] < 0)
            return am_error_set(err, AM_ERR_FORMAT,
                                "%s:%lld: the header has no column '%s' (expected "
                                "object,split,label,image,mask)",
                                r->label, (long long)line, columns[c]);
    return AM_OK;
}

/* A row while parsing: offsets into the storage, which may move. */
typedef struct {
    size_t off[5];
    int64_t line;
} row_offsets;

/* Appends the five columns of the current record to the storage. */
static am_status keep_row(csv_reader *r, const int col[5], byte_buf *store, row_offsets *row,
                          am_error *err) {
    for (int c = 0; c < 5; c++) {
        const char *s = r->text.data + r->start[col[c]];
        size_t n = strlen(s) + 1;
        if (!buf_reserve(store, n)) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        row->off[c] = store->len;
        memcpy(store->data + store->len, s, n);
        store->len += n;
    }
    return AM_OK;
}

am_status am_visa_csv_parse(const char *data, size_t size, const char *label, am_visa_table *out,
                            am_error *err) {
    memset(out, 0, sizeof *out);
    if (size > AM_VISA_CSV_MAX_BYTES)
        return am_error_set(err, AM_ERR_LIMIT, "%s: %zu bytes is larger than the %zu allowed",
                            label, size, AM_VISA_CSV_MAX_BYTES);
    csv_reader r = {.p = data, .end = data + size, .line = 1, .label = label};
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) r.p += 3;
    byte_buf store = {0};
    row_offsets *rows = NULL;
    int64_t count = 0, cap = 0;
    int col[5], have_header = 0, header_fields = 0;
    am_status st = AM_OK;
    for (;;) {
        int64_t line = r.line;
        int got;
        st = read_record(&r, &got, err);
        if (st != AM_OK || !got) break;
        if (record_is_blank(&r)) continue;
        if (!have_header) {
            st = read_header(&r, col, line, err);
            if (st != AM_OK) break;
            have_header = 1;
            header_fields = r.nfields;
            continue;
        }
        if (r.nfields != header_fields) {
            st = am_error_set(err, AM_ERR_FORMAT, "%s:%lld: %d fields where the header has %d",
                              label, (long long)line, r.nfields, header_fields);
            break;
        }
        if (count >= AM_VISA_CSV_MAX_ROWS) {
            st = am_error_set(err, AM_ERR_LIMIT, "%s:%lld: more than %d rows", label,
                              (long long)line, AM_VISA_CSV_MAX_ROWS);
            break;
        }
        if (count == cap) {
            int64_t ncap = cap ? cap * 2 : 1024;
            row_offsets *p = realloc(rows, (size_t)ncap * sizeof *p);
            if (!p) {
                st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
                break;
            }
            rows = p;
            cap = ncap;
        }
        rows[count].line = line;
        st = keep_row(&r, col, &store, &rows[count], err);
        if (st != AM_OK) break;
        count++;
    }
    if (st == AM_OK && !have_header)
        st = am_error_set(err, AM_ERR_FORMAT, "%s: empty split file (no header)", label);
    if (st == AM_OK && count > 0) {
        out->rows = malloc((size_t)count * sizeof *out->rows);
        if (!out->rows) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    if (st == AM_OK) {
        out->storage = store.data;
        store.data = NULL;
        for (int64_t i = 0; i < count; i++) {
            const char *base = out->storage;
            out->rows[i] = (am_visa_row){base + rows[i].off[0], base + rows[i].off[1],
                                         base + rows[i].off[2], base + rows[i].off[3],
                                         base + rows[i].off[4], rows[i].line};
        }
        out->count = count;
    }
    free(rows);
    free(store.data);
    free(r.text.data);
    if (st != AM_OK) am_visa_table_free(out);
    return st;
}

void am_visa_table_free(am_visa_table *table) {
    free(table->rows);
    free(table->storage);
    memset(table, 0, sizeof *table);
}
