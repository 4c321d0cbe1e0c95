/* bpe.c - the CLIP BPE vocabulary and the byte-pair encoding of text.
 *
 * The vocabulary (open_clip's SimpleTokenizer, which the clip-tiny README
 * spells out): ids 0..255 are the 256 byte characters (bytes 33-126, 161-172
 * and 174-255 map to the code point of the same value, the other 68 in
 * increasing order to U+0100, U+0101, ...; printable ones first), 256..511 the
 * same with "</w>", 512..49405 the concatenations of the 48894 merges in file
 * order, then <start_of_text> and <end_of_text>.  A merge's rank is its index.
 * Everything is kept as ids: a hash map from an adjacent pair of ids to the
 * merge's rank and the id of its concatenation.
 *
 * Encoding a piece: its UTF-8 bytes become byte characters, the last with
 * "</w>"; then, repeatedly, the adjacent pair of lowest rank is merged at all
 * its occurrences, left to right, until no pair has a rank.  A heap of
 * (rank, position) over a linked list of symbols does this in O(n log n). */
#include "clip/bpe.h"

#include <string.h>
#include <zlib.h>

#include "clip/bpe_text.h"
#include "core/alloc.h"
#include "core/error.h"
#include "io/file.h"

#define MERGE_LINES (1 + AM_BPE_MERGES) /* header + merges */
#define PAIR_SLOTS ((size_t)1 << 17)    /* > 2 x AM_BPE_MERGES, a power of two */
#define VOCAB_SLOTS ((size_t)1 << 17)   /* > 2 x AM_BPE_VOCAB_SIZE */
#define EMPTY_KEY UINT64_MAX
#define DEAD (-1)

/* One merge: the pair of ids it joins, its rank and the id it makes. */
typedef struct {
    uint64_t key; /* left id << 32 | right id, or EMPTY_KEY */
    int32_t rank, result;
} pair_slot;

struct am_bpe {
    pair_slot *pairs;   /* PAIR_SLOTS, open addressing */
    int32_t first[256]; /* id of the byte character of each byte */
    int32_t last[256];  /* the same with "</w>" (a word's last byte) */
};

static size_t hash_pair(uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (PAIR_SLOTS - 1);
}

/* The slot of pair (left, right), or -1 when it is no merge. */
static int64_t find_pair(const am_bpe *bpe, int32_t left, int32_t right) {
    const uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (size_t i = hash_pair(key);; i = (i + 1) & (PAIR_SLOTS - 1)) {
        if (bpe->pairs[i].key == key) return (int64_t)i;
        if (bpe->pairs[i].key == EMPTY_KEY) return -1;
    }
}

/* ---------------------------------------------------------------------- */
/* Building the vocabulary                                                 */
/* ---------------------------------------------------------------------- */

/* The vocabulary's strings while it is built: id -> bytes, bytes -> id. */
typedef struct {
    char *pool; /* every string, back to back */
    size_t pool_size;
    uint32_t *offset; /* AM_BPE_VOCAB_SIZE + 1 */
    int32_t *slots;   /* VOCAB_SLOTS ids, -1 empty */
} vocab_strings;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ h >> 29;
}

/* The id of string s[0..n), or -1.  Where two ids share a string the later
 * one holds it, as in the tokenizer's Python dict. */
static int32_t find_string(const vocab_strings *v, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & (VOCAB_SLOTS - 1);; i = (i + 1) & (VOCAB_SLOTS - 1)) {
        const int32_t id = v->slots[i];
        if (id < 0) return -1;
        const uint32_t b = v->offset[id], e = v->offset[id + 1];
        if (e - b == n && memcmp(v->pool + b, s, n) == 0) return id;
    }
}

/* Enters string `id` (already in the pool) into the map; a later id with
 * the same string replaces the earlier one. */
static void add_string(vocab_strings *v, int32_t id) {
    const char *s = v->pool + v->offset[id];
    const size_t n = v->offset[id + 1] - v->offset[id];
    size_t i = hash_bytes(s, n) & (VOCAB_SLOTS - 1);
    for (;; i = (i + 1) & (VOCAB_SLOTS - 1)) {
        const int32_t other = v->slots[i];
        if (other < 0) break;
        if (v->offset[other + 1] - v->offset[other] == n &&
            memcmp(v->pool + v->offset[other], s, n) == 0)
            break;
    }
    v->slots[i] = id;
}

static int printable_byte(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
}

/* The byte of each byte-character id 0..255 (printable bytes first, each
 * group in increasing order). */
static void byte_order(unsigned char byte_of_id[256]) {
    int k = 0;
    for (int printable = 1; printable >= 0; printable--)
        for (unsigned b = 0; b < 256; b++)
            if (printable_byte(b) == printable) byte_of_id[k++] = (unsigned char)b;
}

/* Code point of byte character `id` (0..255) standing for byte b: b itself
 * when printable, else U+0100 onwards in order. */
static uint32_t byte_char(int32_t id, unsigned b) {
    return printable_byte(b) ? b : 256 + (uint32_t)(id - 188);
}

/* Appends bytes to the pool (sized beforehand). */
static void pool_put(vocab_strings *v, const void *s, size_t n) {
    memcpy(v->pool + v->pool_size, s, n);
    v->pool_size += n;
}

/* A merge line's two symbols, as offsets into the text. */
typedef struct {
    size_t left, left_len, right, right_len;
} merge_line;

/* Fills the pool and the map with all AM_BPE_VOCAB_SIZE strings. */
static void fill_strings(vocab_strings *v, const char *text, const merge_line *merges,
                         const unsigned char byte_of_id[256]) {
    for (int32_t id = 0; id < 512; id++) {
        unsigned char utf8[4];
        v->offset[id] = (uint32_t)v->pool_size;
        pool_put(v, utf8, am_bpe_encode_utf8(byte_char(id & 255, byte_of_id[id & 255]), utf8));
        if (id >= 256) pool_put(v, "</w>", 4);
    }
    for (int32_t r = 0; r < AM_BPE_MERGES; r++) {
        v->offset[512 + r] = (uint32_t)v->pool_size;
        pool_put(v, text + merges[r].left, merges[r].left_len);
        pool_put(v, text + merges[r].right, merges[r].right_len);
    }
    v->offset[AM_BPE_START] = (uint32_t)v->pool_size;
    pool_put(v, "<start_of_text>", 15);
    v->offset[AM_BPE_END] = (uint32_t)v->pool_size;
    pool_put(v, "<end_of_text>", 13);
    v->offset[AM_BPE_VOCAB_SIZE] = (uint32_t)v->pool_size;
    for (int32_t id = 0; id < AM_BPE_VOCAB_SIZE; id++)
        add_string(v, id);
}

/* Enters every merge whose two symbols are in the vocabulary (others can
 * never apply); a repeated pair keeps its last rank, as the Python dict does. */
static void fill_pairs(am_bpe *bpe, const vocab_strings *v, const char *text,
                       const merge_line *merges) {
    for (size_t i = 0; i < PAIR_SLOTS; i++)
        bpe->pairs[i].key = EMPTY_KEY;
    for (int32_t r = 0; r < AM_BPE_MERGES; r++) {
        const int32_t left = find_string(v, text + merges[r].left, merges[r].left_len);
        const int32_t right = find_string(v, text + merges[r].right, merges[r].right_len);
        if (left < 0 || right < 0) continue;
        const uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
        size_t i = hash_pair(key);
        while (bpe->pairs[i].key != EMPTY_KEY && bpe->pairs[i].key != key)
            i = (i + 1) & (PAIR_SLOTS - 1);
        bpe->pairs[i].key = key;
        bpe->pairs[i].rank = r;
        bpe->pairs[i].result =
            find_string(v, v->pool + v->offset[512 + r], v->offset[513 + r] - v->offset[512 + r]);
    }
}

/* Checks the merge file's text and finds the symbols of lines 2..48895. */
static am_status parse_text(const char *text, size_t size, const char *label, merge_line *merges,
                            am_error *err) {
    size_t line = 1;
    for (size_t i = 0; i < size;) {
        uint32_t cp;
        const size_t len = am_bpe_utf8_next((const unsigned char *)text + i, size - i, &cp);
        if (len == 0)
            return am_error_set(err, AM_ERR_FORMAT, "%s: line %zu: not UTF-8 text", label, line);
        if (text[i] == '\n') line++;
        i += len;
    }
    const char *eol = memchr(text, '\n', size);
    static const char version[] = "#version";
    if (!eol || !memmem(text, (size_t)(eol - text), version, sizeof version - 1))
        return am_error_set(err, AM_ERR_FORMAT,
                            "%s: line 1: not the header of a BPE merge list (no '#version')",
                            label);
    size_t pos = (size_t)(eol - text) + 1; /* start of the next line */
    for (line = 2; line <= MERGE_LINES; line++) {
        if (pos >= size)
            return am_error_set(err, AM_ERR_FORMAT,
                                "%s: ends after line %zu; a CLIP merge list has at least %d lines",
                                label, line - 1, MERGE_LINES);
        eol = memchr(text + pos, '\n', size - pos);
        const size_t stop = eol ? (size_t)(eol - text) : size;
        size_t space = 0; /* offset of the one space, 0: none */
        int bad = 0;
        for (size_t q = pos; q < stop; q++) {
            const unsigned char c = (unsigned char)text[q];
            if (c == ' ' && !space)
                space = q;
            else if (c <= ' ' || c == 0x7F)
                bad = 1;
        }
        if (bad || !space || space == pos || space + 1 == stop)
            return am_error_set(err, AM_ERR_FORMAT,
                                "%s: line %zu: not a merge (two symbols separated by one space)",
                                label, line);
        merge_line *m = &merges[line - 2];
        m->left = pos;
        m->left_len = space - pos;
        m->right = space + 1;
        m->right_len = stop - space - 1;
        pos = stop + 1;
    }
    return AM_OK;
}

am_status am_bpe_create_from_text(const char *text, size_t size, const char *label, am_bpe **out,
                                  am_error *err) {
    *out = NULL;
    if (!label) label = "BPE vocabulary";
    if (size > AM_BPE_MAX_VOCAB_BYTES)
        return am_error_set(err, AM_ERR_LIMIT, "%s: %zu bytes of text, more than the %zu allowed",
                            label, size, AM_BPE_MAX_VOCAB_BYTES);
    merge_line *merges = am_alloc(AM_BPE_MERGES, sizeof *merges, err);
    if (!merges) return err ? err->code : AM_ERR_NOMEM;
    am_status st = parse_text(text, size, label, merges, err);
    vocab_strings v = {0};
    am_bpe *bpe = NULL;
    if (st == AM_OK) {
        v.pool = am_alloc(size + 512 * 8 + 64, 1, err);
        v.offset = am_alloc(AM_BPE_VOCAB_SIZE + 1, sizeof *v.offset, err);
        v.slots = am_alloc(VOCAB_SLOTS, sizeof *v.slots, err);
        bpe = am_calloc(1, sizeof *bpe, err);
        if (bpe) bpe->pairs = am_alloc(PAIR_SLOTS, sizeof *bpe->pairs, err);
        if (!v.pool || !v.offset || !v.slots || !bpe || !bpe->pairs) st = AM_ERR_NOMEM;
    }
    if (st == AM_OK) {
        unsigned char byte_of_id[256];
        byte_order(byte_of_id);
        memset(v.slots, 0xFF, VOCAB_SLOTS * sizeof *v.slots);
        fill_strings(&v, text, merges, byte_of_id);
        fill_pairs(bpe, &v, text, merges);
        for (int32_t id = 0; id < 256; id++) {
            const uint32_t *o = v.offset;
            bpe->first[byte_of_id[id]] = find_string(&v, v.pool + o[id], o[id + 1] - o[id]);
            bpe->last[byte_of_id[id]] =
                find_string(&v, v.pool + o[id + 256], o[id + 257] - o[id + 256]);
        }
    }
    am_free(v.pool);
    am_free(v.offset);
    am_free(v.slots);
    am_free(merges);
    if (st != AM_OK) {
        am_bpe_free(bpe);
        return st;
    }
    *out = bpe;
    return AM_OK;
}

void am_bpe_free(am_bpe *bpe) {
    if (!bpe) return;
    am_free(bpe->pairs);
    am_free(bpe);
}

/* Inflates gzip data (one or more members, as Python's gzip reads them; zero
 * padding after the last is allowed) until `lines` whole lines are out (the
 * tokenizer reads no further, so the rest is not decompressed) or the data
 * ends; at most AM_BPE_MAX_VOCAB_BYTES bytes. */
static am_status gunzip_lines(const unsigned char *gz, size_t size, const char *label, size_t lines,
                              char **out, size_t *out_size, am_error *err) {
    *out = NULL;
    if (size < 18 || gz[0] != 0x1F || gz[1] != 0x8B)
        return am_error_set(err, AM_ERR_FORMAT, "%s: not a gzip file", label);
    size_t cap = (size_t)1 << 20;
    char *buf = am_alloc(cap, 1, err);
    if (!buf) return AM_ERR_NOMEM;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        am_free(buf);
        return am_error_set(err, AM_ERR_NOMEM, "%s: cannot start zlib", label);
    }
    size_t in = 0, done = 0, scanned = 0, seen = 0; /* seen: newlines in buf[0..scanned) */
    am_status st = AM_OK;
    while (st == AM_OK) {
        if (done == cap) {
            if (cap >= AM_BPE_MAX_VOCAB_BYTES) {
                st = am_error_set(err, AM_ERR_LIMIT, "%s: more than %zu bytes before line %zu",
                                  label, AM_BPE_MAX_VOCAB_BYTES, lines);
                break;
            }
            const size_t bigger =
                cap * 2 < AM_BPE_MAX_VOCAB_BYTES ? cap * 2 : AM_BPE_MAX_VOCAB_BYTES;
            char *nb = am_alloc(bigger, 1, err);
            if (!nb) {
                st = AM_ERR_NOMEM;
                break;
            }
            memcpy(nb, buf, done);
            am_free(buf);
            buf = nb;
            cap = bigger;
        }
        /* Small steps, so that little is inflated past the last line needed;
         * zlib counts in uInt, so at most 1 GiB of input a call. */
        const size_t room = cap - done < ((size_t)64 << 10) ? cap - done : (size_t)64 << 10;
        const size_t feed = size - in < ((size_t)1 << 30) ? size - in : (size_t)1 << 30;
        zs.next_in = (unsigned char *)(uintptr_t)(gz + in);
        zs.avail_in = (uInt)feed;
        zs.next_out = (unsigned char *)buf + done;
        zs.avail_out = (uInt)room;
        const int z = inflate(&zs, Z_NO_FLUSH);
        in += feed - zs.avail_in;
        done = (size_t)((char *)zs.next_out - buf);
        while (seen < lines && scanned < done) {
            const char *nl = memchr(buf + scanned, '\n', done - scanned);
            scanned = nl ? (size_t)(nl - buf) + 1 : done;
            seen += nl != NULL;
        }
        if (seen == lines) {
            done = scanned;
            break;
        }
        if (z == Z_STREAM_END) {
            while (in < size && gz[in] == 0)
                in++;
            if (in == size) break;
            if (inflateReset(&zs) != Z_OK)
                st = am_error_set(err, AM_ERR_FORMAT, "%s: corrupt gzip data", label);
        } else if (z == Z_BUF_ERROR) { /* no progress with output room left: input ran out */
            st = am_error_set(err, AM_ERR_FORMAT, "%s: truncated gzip data", label);
        } else if (z != Z_OK) {
            st = am_error_set(err, AM_ERR_FORMAT, "%s: corrupt gzip data (%s)", label,
                              zs.msg ? zs.msg : "zlib error");
        }
    }
    inflateEnd(&zs);
    if (st != AM_OK) {
        am_free(buf);
        return st;
    }
    *out = buf;
    *out_size = done;
    return AM_OK;
}

am_status am_bpe_create_from_memory(const void *gz, size_t size, const char *label, am_bpe **out,
                                    am_error *err) {
    *out = NULL;
    if (!label) label = "BPE vocabulary";
    char *text = NULL;
    size_t text_size = 0;
    am_status st = gunzip_lines(gz, size, label, MERGE_LINES, &text, &text_size, err);
    if (st != AM_OK) return st;
    st = am_bpe_create_from_text(text, text_size, label, out, err);
    am_free(text);
    return st;
}

am_status am_bpe_create_from_file(const char *gz_path, am_bpe **out, am_error *err) {
    *out = NULL;
    am_mapped_file f;
    am_status st = am_file_map(gz_path, &f, err);
    if (st != AM_OK) return st;
    st = am_bpe_create_from_memory(f.data, f.size, gz_path, out, err);
    am_file_unmap(&f);
    return st;
}

am_status am_bpe_create(am_bpe **out, am_error *err) {
    return am_bpe_create_from_memory(am_bpe_vocab_gz,
                                     (size_t)(am_bpe_vocab_gz_end - am_bpe_vocab_gz),
                                     "built-in BPE vocabulary", out, err);
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                                */
/* ---------------------------------------------------------------------- */

/* Scratch space of one am_bpe_encode call, grown to the longest piece. */
typedef struct {
    size_t cap;                 /* bytes of piece it holds */
    unsigned char *bytes;       /* the piece's UTF-8 */
    int32_t *sym, *next, *prev; /* the symbols as a linked list over byte positions */
    uint64_t *heap;             /* rank << 32 | position; 3 x cap */
    uint32_t *batch;            /* positions of one rank; cap */
} bpe_work;

static void work_free(bpe_work *w) {
    am_free(w->bytes);
    am_free(w->sym);
    am_free(w->next);
    am_free(w->prev);
    am_free(w->heap);
    am_free(w->batch);
    memset(w, 0, sizeof *w);
}

/* Makes room for a piece of n bytes. */
static am_status work_reserve(bpe_work *w, size_t n, am_error *err) {
    if (n <= w->cap) return AM_OK;
    work_free(w);
    size_t cap = n < 256 ? 256 : n;
    w->bytes = am_alloc(cap, 1, err);
    w->sym = am_alloc(cap, sizeof *w->sym, err);
    w->next = am_alloc(cap, sizeof *w->next, err);
    w->prev = am_alloc(cap, sizeof *w->prev, err);
    w->heap = am_alloc(cap, 3 * sizeof *w->heap, err);
    w->batch = am_alloc(cap, sizeof *w->batch, err);
    if (!w->bytes || !w->sym || !w->next || !w->prev || !w->heap || !w->batch) {
        work_free(w);
        return AM_ERR_NOMEM;
    }
    w->cap = cap;
    return AM_OK;
}

static void heap_push(uint64_t *heap, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0 && heap[(i - 1) / 2] > v) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = v;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n) {
    const uint64_t top = heap[0], v = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= v) break;
        heap[i] = heap[c];
        i = c;
    }
    if (*n > 0) heap[i] = v;
    return top;
}

/* Queues the pair starting at position i when it is a merge. */
static void push_pair(const am_bpe *bpe, bpe_work *w, size_t *heap_n, int32_t i) {
    if (i < 0 || w->next[i] < 0) return;
    const int64_t slot = find_pair(bpe, w->sym[i], w->sym[w->next[i]]);
    if (slot >= 0)
        heap_push(w->heap, heap_n, (uint64_t)(uint32_t)bpe->pairs[slot].rank << 32 | (uint32_t)i);
}

/* BPE of the piece in w->bytes[0..n): appends its ids to tokens (at most
 * `room` of them) and returns how many. */
static size_t encode_piece(const am_bpe *bpe, bpe_work *w, size_t n, int32_t *tokens, size_t room) {
    for (size_t i = 0; i < n; i++) {
        w->sym[i] = i + 1 < n ? bpe->first[w->bytes[i]] : bpe->last[w->bytes[i]];
        w->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        w->prev[i] = (int32_t)i - 1;
    }
    size_t heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(bpe, w, &heap_n, (int32_t)i);
    while (heap_n > 0) {
        /* Every pair of the lowest rank, left to right, before any pair the
         * merges create (which may rank lower). */
        const uint32_t rank = (uint32_t)(w->heap[0] >> 32);
        size_t batch_n = 0;
        while (heap_n > 0 && (uint32_t)(w->heap[0] >> 32) == rank)
            w->batch[batch_n++] = (uint32_t)heap_pop(w->heap, &heap_n);
        for (size_t b = 0; b < batch_n; b++) {
            const int32_t i = (int32_t)w->batch[b];
            if (w->sym[i] == DEAD || w->next[i] < 0) continue;
            const int32_t j = w->next[i];
            const int64_t slot = find_pair(bpe, w->sym[i], w->sym[j]);
            if (slot < 0 || (uint32_t)bpe->pairs[slot].rank != rank) continue; /* stale */
            w->sym[i] = bpe->pairs[slot].result;
            w->sym[j] = DEAD;
            w->next[i] = w->next[j];
            if (w->next[j] >= 0) w->prev[w->next[j]] = i;
            push_pair(bpe, w, &heap_n, w->prev[i]);
            push_pair(bpe, w, &heap_n, i);
        }
    }
    size_t count = 0;
    for (int32_t i = 0; i >= 0 && count < room; i = w->next[i])
        tokens[count++] = w->sym[i];
    return count;
}

am_status am_bpe_encode(const am_bpe *bpe, const char *text, int32_t context_length,
                        int32_t *tokens, am_error *err) {
    if (!bpe || !text || !tokens)
        return am_error_set(err, AM_ERR_ARGUMENT, "BPE encode: missing vocabulary, text or output");
    if (context_length < 2)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "BPE encode: context length %d leaves no room for start and end",
                            (int)context_length);
    const size_t size = strnlen(text, AM_BPE_MAX_TEXT + 1);
    if (size > AM_BPE_MAX_TEXT)
        return am_error_set(err, AM_ERR_LIMIT, "BPE encode: text longer than %zu bytes",
                            AM_BPE_MAX_TEXT);
    uint32_t *work = am_alloc(size + 1, sizeof *work, err);
    uint32_t *cps = am_alloc(size + 1, sizeof *cps, err);
    bpe_work w = {0};
    am_status st = work && cps ? AM_OK : AM_ERR_NOMEM;
    const size_t room = (size_t)context_length - 2;
    size_t count = 0;
    if (st == AM_OK) {
        const size_t n = am_bpe_clean_text(text, size, work, cps);
        size_t pos = 0, begin, end;
        int kind;
        while (st == AM_OK && count < room &&
               (kind = am_bpe_next_piece(cps, n, &pos, &begin, &end)) >= 0) {
            if (kind != AM_BPE_PIECE_TEXT) {
                tokens[1 + count++] = kind == AM_BPE_PIECE_START ? AM_BPE_START : AM_BPE_END;
                continue;
            }
            size_t bytes = 0;
            for (size_t i = begin; i < end; i++) {
                unsigned char u[4];
                bytes += am_bpe_encode_utf8(cps[i], u);
            }
            if ((st = work_reserve(&w, bytes, err)) != AM_OK) break;
            bytes = 0;
            for (size_t i = begin; i < end; i++)
                bytes += am_bpe_encode_utf8(cps[i], w.bytes + bytes);
            count += encode_piece(bpe, &w, bytes, tokens + 1 + count, room - count);
        }
    }
    work_free(&w);
    am_free(work);
    am_free(cps);
    if (st != AM_OK) return st;
    tokens[0] = AM_BPE_START;
    tokens[1 + count] = AM_BPE_END;
    for (size_t i = 2 + count; i < (size_t)context_length; i++)
        tokens[i] = 0;
    return AM_OK;
}
