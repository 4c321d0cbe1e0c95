/* test-bpe.c - the CLIP BPE tokenizer: the 16 prompts of clip-tiny's
 * tokens.json give exactly the ids of `text.tokens` in cases.safetensors;
 * hand-checked edge cases (cleaning, pre-tokenisation, truncation, bad bytes,
 * non-ASCII letters); malformed vocabularies are errors naming the line; one
 * tokenizer is shared by two threads; and the load / 231-sentence timings. */
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "anomem.h"
#include "check.h"
#include "clip/bpe.h"
#include "detect/prompts.h"

#define CTX 77

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Tokenizes `text` and checks the ids against want[0..n) then zeros. */
static void check_ids(const am_bpe *bpe, const char *text, const int32_t *want, int n) {
    am_error err = {0};
    int32_t got[CTX];
    CHECK_OK(am_bpe_encode(bpe, text, CTX, got, &err));
    int first_bad = -1;
    for (int i = 0; i < CTX && first_bad < 0; i++)
        if (got[i] != (i < n ? want[i] : 0)) first_bad = i;
    CHECK(first_bad < 0, "'%s': id %d is %d, want %d", text, first_bad,
          first_bad >= 0 ? got[first_bad] : 0,
          first_bad >= 0 && first_bad < n ? want[first_bad] : 0);
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (int)(sizeof((const int32_t[]){__VA_ARGS__}) / 4)

/* The 16 prompts of tokens.json against text.tokens [16][77]. */
static void test_reference(const am_bpe *bpe) {
    char path[4096];
    snprintf(path, sizeof path, "%s", check_shared_path("vectors/clip-tiny/tokens.json"));
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    am_error err = {0};
    am_weights *w = NULL;
    CHECK_OK(am_weights_open(check_shared_path("vectors/clip-tiny/cases.safetensors"), &w, &err));
    if (!root || !w) {
        json_decref(root);
        am_weights_close(w);
        return;
    }
    const am_tensor_info *t = am_weights_find(w, "text.tokens");
    CHECK(t && t->dtype == AM_DTYPE_I32 && t->ndim == 2 && t->shape[1] == CTX,
          "text.tokens is not I32 [N][77]");
    const void *raw = NULL;
    size_t nbytes = 0;
    CHECK_OK(am_weights_get_raw(w, "text.tokens", &raw, &nbytes, &err));
    json_t *prompts = json_object_get(root, "prompts");
    json_t *ids = json_object_get(root, "token_ids");
    CHECK(json_array_size(prompts) == 16 && t && t->shape[0] == 16, "16 prompts expected");
    if (t && raw && t->dtype == AM_DTYPE_I32 && t->shape[1] == CTX &&
        json_array_size(prompts) == (size_t)t->shape[0] && nbytes == (size_t)t->numel * 4) {
        const int32_t *want = raw;
        int rows_ok = 0;
        for (size_t i = 0; i < json_array_size(prompts); i++) {
            const char *text = json_string_value(json_array_get(prompts, i));
            int32_t got[CTX];
            CHECK_OK(am_bpe_encode(bpe, text, CTX, got, &err));
            int same = memcmp(got, want + i * CTX, sizeof got) == 0;
            CHECK(same, "prompt %zu '%.60s' differs from text.tokens", i, text);
            /* tokens.json lists the same ids without the padding. */
            json_t *row = json_array_get(ids, i);
            int json_same = json_array_size(row) <= CTX;
            for (size_t k = 0; k < json_array_size(row) && json_same; k++)
                json_same = json_integer_value(json_array_get(row, k)) == got[k];
            CHECK(json_same, "prompt %zu differs from tokens.json", i);
            rows_ok += same && json_same;
        }
        printf("reference prompts: %d of %zu rows exact\n", rows_ok, json_array_size(prompts));
    }
    json_decref(root);
    am_weights_close(w);
}

/*
 * Edge cases.  Expected ids were worked out by hand from the merge list
 * (byte characters: printable bytes 33-126 are ids 0-93, 161-172 are 94-105,
 * 174-255 are 106-187, the other 68 bytes 188-255 in increasing order; +256
 * with "</w>"; merge on line L of the file makes id 510 + L), e.g. "! ?</w>"
 * is line 5494 -> 6004, "' t</w>" line 203 -> 713, "d on</w>" line 337 ->
 * 847, ".. .</w>" line 168 -> 678; ids of whole words were taken from the
 * reference rows of tokens.json where they occur there ("a" 320, "photo"
 * 1125, "café" 15304, "zürich" 89 6522 4021, "it's" 585 568).  Every case was
 * also cross-checked against an independent Python implementation of the
 * README's algorithm (html.unescape, regex's \p classes, str.lower).
 */
static void test_edge_cases(const am_bpe *bpe) {
    check_ids(bpe, "", IDS(49406, 49407));
    check_ids(bpe, "   \t\n  ", IDS(49406, 49407));
    /* &amp; -> "&" alone: byte 38 -> id 5, with </w> 261. */
    check_ids(bpe, "&amp;", IDS(49406, 261, 49407));
    /* Unescaped twice: &amp;lt; -> &lt; -> "<" (byte 60 -> 27 + 256). */
    check_ids(bpe, "&amp;lt;", IDS(49406, 283, 49407));
    /* "<b>": "<" and ">" are runs of "other", "b" a letter run. */
    check_ids(bpe, "&lt;b&gt;", IDS(49406, 283, 321, 285, 49407));
    /* &#39; is an apostrophe, which then forms the contraction 's (568). */
    check_ids(bpe, "&#39;s", IDS(49406, 568, 49407));
    /* &hellip; -> U+2026 = E2 80 A6, one merged symbol (959). */
    check_ids(bpe, "&hellip;", IDS(49406, 959, 49407));
    /* Legacy entity without ';' (&copy -> U+00A9), then four single digits. */
    check_ids(bpe, "&copy 2024", IDS(49406, 5811, 273, 271, 273, 275, 49407));
    /* Legacy prefix: &notit; -> "¬" + "it;" (¬ = C2 AC: 126, 105 + 256);
     * then "it" 585 and ";" 282. */
    check_ids(bpe, "x&notit;", IDS(49406, 343, 126, 361, 585, 282, 49407));
    /* HTML 5 names: &fjlig; is "fj" (46447); &nvlt; is "<" + U+20D2, one
     * "other" piece 3C E2 83 92: "<" 27, E2 83 merged (2805), 0x92 188 + 52
     * + 256 = 496. */
    check_ids(bpe, "&fjlig;", IDS(49406, 46447, 49407));
    check_ids(bpe, "&nvlt;", IDS(49406, 27, 2805, 496, 49407));
    check_ids(bpe, "A PHOTO", IDS(49406, 320, 1125, 49407));
    /* Digits are single pieces: "1</w>" 272, "2</w>" 273, "3</w>" 274. */
    check_ids(bpe, "123", IDS(49406, 272, 273, 274, 49407));
    check_ids(bpe, "!?", IDS(49406, 6004, 49407));
    /* "hello" 3306; punctuation runs "!!!" 995 and "..." 678. */
    check_ids(bpe, "hello!!! ...", IDS(49406, 3306, 995, 678, 49407));
    /* don't -> "don" 847 + contraction "'t" 713; upper case the same. */
    check_ids(bpe, "don't", IDS(49406, 847, 713, 49407));
    check_ids(bpe, "DON'T", IDS(49406, 847, 713, 49407));
    check_ids(bpe, "it's", IDS(49406, 585, 568, 49407));
    /* Invalid UTF-8: byte 0x80 stays a byte (an "other" piece: non-printable
     * byte 0x80 is id 188 + 34, with </w> 478) between "a" 320 and "b" 321;
     * a lone 0xFF is printable byte 255: 187 + 256 = 443. */
    check_ids(bpe, "a\200b", IDS(49406, 320, 478, 321, 49407));
    check_ids(bpe, "\xff", IDS(49406, 443, 49407));
    /* A cut-off sequence E2 82: two bad bytes, one "other" piece: printable
     * 0xE2 is 106 + 52 = 158, non-printable 0x82 is 188 + 36 (+256: 480). */
    check_ids(bpe, "\xe2\x82", IDS(49406, 158, 480, 49407));
    /* Latin-1 upper case lowers to "café zürich". */
    check_ids(bpe, "CAF\xc3\x89 Z\xc3\x9cRICH", IDS(49406, 15304, 89, 6522, 4021, 49407));
    /* Greek: the sigmas of ΟΔΥΣΣΕΥΣ lower to σ σ ... ς (final sigma):
     * σ = CF 83 -> 139 225, ς = CF 82 -> 139 and 224 + 256. */
    check_ids(bpe, "\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3",
              IDS(49406, 138, 123, 138, 112, 139, 227, 139, 225, 139, 225, 138, 113, 139, 227, 139,
                  480, 49407));
    /* İ lowers to "i" + U+0307 (a mark: an "other" piece CC 87 -> 16384). */
    check_ids(bpe, "\xc4\xb0", IDS(49406, 328, 16384, 49407));
    /* Cyrillic and CJK letters run together into one piece each. */
    check_ids(bpe, "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0",
              IDS(49406, 38018, 13506, 23669, 27152, 39813, 27080, 49407));
    check_ids(bpe, "\xe6\x9d\xb1\xe4\xba\xac", IDS(49406, 48338, 21078, 361, 49407));
    /* ½ is a number (\p{N}) of its own. */
    check_ids(bpe, "\xc2\xbd", IDS(49406, 33613, 49407));
    /* The special strings inside a prompt. */
    check_ids(bpe, "<start_of_text>x", IDS(49406, 49406, 343, 49407));
    check_ids(bpe, "<end_of_text>", IDS(49406, 49407, 49407));
    /* Repeated letters: "aaaaaaa" -> "aaaa" 6727 + "aaa</w>" 9583. */
    check_ids(bpe, "aaaaaaa", IDS(49406, 6727, 9583, 49407));
    check_ids(bpe, "transistors", IDS(49406, 32236, 7178, 49407));
}

/* Truncation: more than 75 BPE tokens keep the first 75 and end with 49407. */
static void test_truncation(const am_bpe *bpe) {
    am_error err = {0};
    char text[1024] = "";
    for (int i = 0; i < 200; i++)
        strcat(text, "a ");
    int32_t got[CTX];
    CHECK_OK(am_bpe_encode(bpe, text, CTX, got, &err));
    int ok = got[0] == 49406 && got[76] == 49407;
    for (int i = 1; i < 76; i++)
        ok &= got[i] == 320;
    CHECK(ok, "200 x 'a' is not 49406, 75 x 320, 49407 (last %d)", got[76]);
    /* Exactly 75 tokens fit without cutting; 76 are cut to the same length. */
    text[0] = 0;
    for (int i = 0; i < 75; i++)
        strcat(text, "a ");
    CHECK_OK(am_bpe_encode(bpe, text, CTX, got, &err));
    CHECK(got[75] == 320 && got[76] == 49407, "75 tokens: %d %d", got[75], got[76]);
    /* Other context lengths. */
    int32_t small[3];
    CHECK_OK(am_bpe_encode(bpe, "a photo", 3, small, &err));
    CHECK(small[0] == 49406 && small[1] == 320 && small[2] == 49407, "context 3: %d %d %d",
          small[0], small[1], small[2]);
    CHECK_OK(am_bpe_encode(bpe, "a photo", 2, small, &err));
    CHECK(small[0] == 49406 && small[1] == 49407, "context 2: %d %d", small[0], small[1]);
    CHECK(am_bpe_encode(bpe, "a", 1, small, &err) == AM_ERR_ARGUMENT, "context 1 accepted");
    /* The largest text is taken (and cut); one byte more is refused. */
    char *big = malloc(AM_BPE_MAX_TEXT + 2);
    if (!big) return;
    memset(big, 'x', AM_BPE_MAX_TEXT);
    for (size_t i = 1; i < AM_BPE_MAX_TEXT; i += 2)
        big[i] = ' ';
    big[AM_BPE_MAX_TEXT] = 0;
    double t0 = now_ms();
    CHECK_OK(am_bpe_encode(bpe, big, CTX, got, &err));
    double t1 = now_ms();
    CHECK(got[1] == 343 && got[76] == 49407, "1 MiB text: %d ... %d", got[1], got[76]);
    /* One 1 MiB word: the heap-based BPE stays fast. */
    memset(big, 'a', AM_BPE_MAX_TEXT);
    double t2 = now_ms();
    CHECK_OK(am_bpe_encode(bpe, big, CTX, got, &err));
    double t3 = now_ms();
    /* Long runs of 'a' merge into "aaaaaaaa" (23126), the longest such symbol. */
    CHECK(got[1] == 23126 && got[75] == 23126 && got[76] == 49407, "1 MiB word: %d ... %d", got[1],
          got[76]);
    printf("1 MiB of words: %.1f ms; one 1 MiB word: %.1f ms\n", t1 - t0, t3 - t2);
    big[AM_BPE_MAX_TEXT] = 'a';
    big[AM_BPE_MAX_TEXT + 1] = 0;
    CHECK(am_bpe_encode(bpe, big, CTX, got, &err) == AM_ERR_LIMIT, "over-long text accepted");
    free(big);
}

/* The decompressed merge list of the shared copy, or NULL. */
static char *read_vocab_text(size_t *size) {
    gzFile f = gzopen(check_shared_path("vectors/clip/bpe_simple_vocab_16e6.txt.gz"), "rb");
    if (!f) return NULL;
    size_t cap = 4 << 20;
    char *buf = malloc(cap);
    int n = buf ? gzread(f, buf, (unsigned)cap) : -1;
    gzclose(f);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    *size = (size_t)n;
    return buf;
}

/* Offset of the start of line `line` (1-based) in text. */
static size_t line_start(const char *text, size_t size, int line) {
    size_t pos = 0;
    for (int l = 1; l < line && pos < size; pos++)
        if (text[pos] == '\n') l++;
    return pos;
}

/* A vocabulary built from `text` fails with `code` and a message holding `needle`. */
static void check_bad_vocab(const char *text, size_t size, am_status code, const char *needle) {
    am_error err = {0};
    am_bpe *bpe = NULL;
    am_status st = am_bpe_create_from_text(text, size, "test.txt", &bpe, &err);
    CHECK(st == code && !bpe && strstr(err.message, needle), "want %s with '%s', got %s: %s",
          am_status_string(code), needle, am_status_string(st), err.message);
    am_bpe_free(bpe);
}

/* The file, memory and text constructors agree; bad vocabularies are refused. */
static void test_vocabulary(const am_bpe *builtin) {
    am_error err = {0};
    am_bpe *from_file = NULL;
    const char *gz = check_shared_path("vectors/clip/bpe_simple_vocab_16e6.txt.gz");
    CHECK_OK(am_bpe_create_from_file(gz, &from_file, &err));
    if (from_file) {
        const char *text = "a close-up photo of a metal_nut with a scratch, bent lead & broken";
        int32_t a[CTX], b[CTX];
        CHECK_OK(am_bpe_encode(builtin, text, CTX, a, &err));
        CHECK_OK(am_bpe_encode(from_file, text, CTX, b, &err));
        CHECK(memcmp(a, b, sizeof a) == 0, "file and built-in vocabularies differ");
    }
    am_bpe_free(from_file);
    am_bpe *none = NULL;
    CHECK(am_bpe_create_from_file("/nonexistent/vocab.txt.gz", &none, &err) == AM_ERR_IO &&
              strstr(err.message, "/nonexistent/vocab.txt.gz"),
          "missing file: %s", err.message);
    CHECK(am_bpe_create_from_memory("hello", 5, "mem", &none, &err) == AM_ERR_FORMAT &&
              strstr(err.message, "mem: not a gzip file"),
          "not gzip: %s", err.message);
    /* 100 kB of the 1.3 MB .gz end before line 48895 (the first 525 kB of text). */
    CHECK(am_bpe_create_from_memory(am_bpe_vocab_gz, 100000, "cut", &none, &err) == AM_ERR_FORMAT &&
              strstr(err.message, "cut: truncated gzip data"),
          "truncated gzip: %s", err.message);
    unsigned char flipped[64];
    memcpy(flipped, am_bpe_vocab_gz, sizeof flipped);
    flipped[40] ^= 0x55;
    CHECK(am_bpe_create_from_memory(flipped, sizeof flipped, "flip", &none, &err) == AM_ERR_FORMAT,
          "corrupt gzip: %s", err.message);

    size_t size = 0;
    char *text = read_vocab_text(&size);
    CHECK(text != NULL, "cannot read the shared vocabulary");
    if (!text) return;
    am_bpe *t = NULL;
    CHECK_OK(am_bpe_create_from_text(text, size, "text", &t, &err));
    am_bpe_free(t);
    /* Only lines 1..48895 are needed. */
    size_t needed = line_start(text, size, 48896);
    CHECK_OK(am_bpe_create_from_text(text, needed, "text", &t, &err));
    am_bpe_free(t);
    /* Cut after "jeky " on line 48895 ("jeky ll</w>"): no right symbol. */
    check_bad_vocab(text, needed - 7, AM_ERR_FORMAT, "line 48895: not a merge");
    check_bad_vocab(text, line_start(text, size, 1000), AM_ERR_FORMAT, "ends after line 999");
    check_bad_vocab("i n\nt h\n", 8, AM_ERR_FORMAT, "line 1");
    char *copy = malloc(size);
    if (copy) {
        size_t l100 = line_start(text, size, 100);
        memcpy(copy, text, size);
        copy[l100 + 1] = 'x'; /* "x" replaces the space: one symbol */
        check_bad_vocab(copy, size, AM_ERR_FORMAT, "line 100: not a merge");
        memcpy(copy, text, size);
        copy[l100] = ' '; /* leading space: empty first symbol */
        check_bad_vocab(copy, size, AM_ERR_FORMAT, "line 100: not a merge");
        memcpy(copy, text, size);
        copy[line_start(text, size, 7)] = '\t';
        check_bad_vocab(copy, size, AM_ERR_FORMAT, "line 7: not a merge");
        memcpy(copy, text, size);
        copy[line_start(text, size, 5)] = (char)0xC3; /* C3 then an ASCII byte */
        check_bad_vocab(copy, size, AM_ERR_FORMAT, "line 5: not UTF-8");
        memcpy(copy, text, size);
        copy[line_start(text, size, 20) - 1] = 'q'; /* lines 19 and 20 joined */
        check_bad_vocab(copy, size, AM_ERR_FORMAT, "line 19: not a merge");
        free(copy);
    }
    free(text);
}

typedef struct {
    const am_bpe *bpe;
    int ok;
} thread_arg;

/* Encodes the same prompts many times; ok when every result is the same. */
static void *encode_many(void *p) {
    thread_arg *a = p;
    am_error err = {0};
    int32_t first[CTX], got[CTX];
    a->ok = am_bpe_encode(a->bpe, "a photo of the damaged capsules for visual inspection.", CTX,
                          first, &err) == AM_OK;
    for (int i = 0; i < 2000 && a->ok; i++)
        a->ok = am_bpe_encode(a->bpe,
                              i % 2 ? "a photo of the damaged capsules for visual "
                                      "inspection."
                                    : "zipper WITHOUT defect",
                              CTX, got, &err) == AM_OK &&
                (i % 2 == 0 || memcmp(got, first, sizeof got) == 0);
    return NULL;
}

static void test_threads(const am_bpe *bpe) {
    pthread_t t[2];
    thread_arg a[2] = {{bpe, 0}, {bpe, 0}};
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, encode_many, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(a[0].ok && a[1].ok, "concurrent encodes differ");
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Load time and the 231 WinCLIP sentences (DESIGN 2.2: 21 templates x 11
 * states), median of repeats; printed, not asserted (timings are noisy). */
static void test_timing(void) {
    enum { NS = 11, NT = 21, REPEATS = 15 };
    static char sentences[NS * NT][160];
    for (int i = 0; i < NS * NT; i++)
        am_prompt_sentence("printed circuit board", i, sentences[i], sizeof sentences[0]);
    am_error err = {0};
    double load[5], enc[REPEATS];
    am_bpe *bpe = NULL;
    for (int r = 0; r < 5; r++) {
        am_bpe_free(bpe);
        double t0 = now_ms();
        CHECK_OK(am_bpe_create(&bpe, &err));
        load[r] = now_ms() - t0;
    }
    if (!bpe) return;
    static int32_t tokens[NS * NT][CTX];
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now_ms();
        for (int i = 0; i < NS * NT; i++)
            CHECK_OK(am_bpe_encode(bpe, sentences[i], CTX, tokens[i], &err));
        enc[r] = now_ms() - t0;
    }
    CHECK(tokens[NT + 11][1] == 320 && tokens[NT + 11][2] == 1125,
          "'a photo of a flawless ...' starts %d %d", tokens[NT + 11][1], tokens[NT + 11][2]);
    qsort(load, 5, sizeof *load, compare_doubles);
    qsort(enc, REPEATS, sizeof *enc, compare_doubles);
    printf("timing: load built-in vocabulary %.1f ms (median of 5, min %.1f); "
           "231 WinCLIP sentences %.3f ms (median of %d, min %.3f)\n",
           load[2], load[0], enc[REPEATS / 2], REPEATS, enc[0]);
    am_bpe_free(bpe);
}

int main(void) {
    am_error err = {0};
    am_bpe *bpe = NULL;
    CHECK_OK(am_bpe_create(&bpe, &err));
    if (bpe) {
        test_reference(bpe);
        test_edge_cases(bpe);
        test_truncation(bpe);
        test_vocabulary(bpe);
        test_threads(bpe);
    }
    am_bpe_free(bpe);
    test_timing();
    return check_summary();
}
