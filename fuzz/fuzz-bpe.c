/* fuzz-bpe.c - libFuzzer target for the CLIP BPE tokenizer.  The first byte
 * picks what the rest is:
 *   0: gzip bytes for am_bpe_create_from_memory;
 *   1: merge-list text for am_bpe_create_from_text;
 *   2: patches to the real merge list (3-byte offset, 1-byte length, bytes;
 *      repeated), so that the vocabulary builder meets duplicate, missing
 *      and odd symbols past the line checks; a vocabulary that loads then
 *      encodes a few prompts;
 *   3..255: text for am_bpe_encode with the built-in vocabulary, with a
 *      context length of 2 + first byte.
 * Encoded rows must start with 49406, hold ids below 49408, contain 49407
 * and come out the same twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clip/bpe.h"

/* Checks one encoding of text; aborts on a broken row. */
static void encode_checked(const am_bpe *bpe, const char *text, int32_t ctx) {
    int32_t a[260], b[260];
    am_error err;
    if (am_bpe_encode(bpe, text, ctx, a, &err) != AM_OK) {
        if (!memchr(err.message, 0, sizeof err.message)) abort();
        return;
    }
    if (am_bpe_encode(bpe, text, ctx, b, &err) != AM_OK || memcmp(a, b, ctx * sizeof *a) != 0)
        abort();
    int end = 0;
    for (int32_t i = 0; i < ctx; i++) {
        if (a[i] < 0 || a[i] >= AM_BPE_VOCAB_SIZE) abort();
        end |= a[i] == AM_BPE_END;
    }
    if (a[0] != AM_BPE_START || !end) abort();
}

/* The built-in vocabulary's text up to line 48895 (made once). */
static const char *base_text(size_t *size) {
    static char *text;
    static size_t text_size;
    if (!text) {
        size_t cap = 4 << 20;
        text = malloc(cap);
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (!text || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) abort();
        zs.next_in = (unsigned char *)(uintptr_t)am_bpe_vocab_gz;
        zs.avail_in = (uInt)(am_bpe_vocab_gz_end - am_bpe_vocab_gz);
        zs.next_out = (unsigned char *)text;
        zs.avail_out = (uInt)cap;
        inflate(&zs, Z_FINISH);
        inflateEnd(&zs);
        size_t lines = 0;
        for (size_t i = 0; i < zs.total_out && lines < 48895; i++)
            if (text[i] == '\n') text_size = i + 1, lines++;
    }
    *size = text_size;
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    data++;
    size--;
    am_error err;
    am_bpe *bpe = NULL;
    if (mode == 0) {
        if (am_bpe_create_from_memory(data, size, "fuzz.gz", &bpe, &err) == AM_OK)
            encode_checked(bpe, "a photo of a flawless candle.", 77);
    } else if (mode == 1) {
        if (am_bpe_create_from_text((const char *)data, size, "fuzz.txt", &bpe, &err) == AM_OK)
            encode_checked(bpe, "a photo of a flawless candle.", 77);
    } else if (mode == 2) {
        size_t base_size;
        const char *base = base_text(&base_size);
        char *text = malloc(base_size);
        if (!text) abort();
        memcpy(text, base, base_size);
        size_t text_size = base_size;
        for (size_t i = 0; i + 4 <= size;) {
            size_t off =
                ((size_t)data[i] << 16 | (size_t)data[i + 1] << 8 | data[i + 2]) * 31 % base_size;
            size_t n = data[i + 3];
            i += 4;
            if (n > size - i) n = size - i;
            if (n > base_size - off) n = base_size - off;
            memcpy(text + off, data + i, n);
            i += n;
            if (n == 0) text_size = off; /* a zero-length patch cuts the text there */
        }
        if (am_bpe_create_from_text(text, text_size, "patched", &bpe, &err) == AM_OK) {
            encode_checked(bpe, "a photo of a flawless candle.", 77);
            encode_checked(bpe, "aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb !!!!!!!!!!!! 1234", 77);
            encode_checked(bpe, "<start_of_text> ΟΔΥΣΣΕΥΣ café", 20);
        }
        free(text);
    } else {
        static am_bpe *builtin;
        if (!builtin && am_bpe_create(&builtin, &err) != AM_OK) abort();
        char *text = malloc(size + 1);
        if (!text) abort();
        memcpy(text, data, size);
        text[size] = 0;
        encode_checked(builtin, text, 2 + (int32_t)mode);
        free(text);
    }
    am_bpe_free(bpe);
    return 0;
}
