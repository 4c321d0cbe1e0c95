/* bpe_text.h - the text side of the CLIP tokenizer: cleaning a prompt the way
 * open_clip does before BPE (HTML unescape twice, white space collapsed and
 * trimmed, lower case) and splitting it into pieces with its pre-tokenisation
 * pattern, all on arrays of code points. */
#ifndef AM_CLIP_BPE_TEXT_H
#define AM_CLIP_BPE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that are not valid UTF-8 become the pseudo code points
 * AM_BPE_RAW_BYTE + byte: "other" characters that encode back to the byte. */
#define AM_BPE_RAW_BYTE 0x110000u

/* Kinds of piece am_bpe_next_piece finds. */
enum { AM_BPE_PIECE_TEXT = 0, AM_BPE_PIECE_START = 1, AM_BPE_PIECE_END = 2 };

/*
 * Cleans `size` bytes of UTF-8 text into code points: decodes (bad bytes
 * become AM_BPE_RAW_BYTE + byte), unescapes HTML character references twice,
 * trims white space, collapses white-space runs into one space, and
 * lower-cases.  `work` and `out` must each hold `size` + 1 code points; the
 * cleaned text is written to `out` and its length returned.
 */
size_t am_bpe_clean_text(const char *text, size_t size, uint32_t *work, uint32_t *out);

/*
 * Finds the next piece of cleaned text `cps` (n code points) at or after
 * *pos: the literal <start_of_text> / <end_of_text>, a contraction ('s 't 're
 * 've 'm 'll 'd), a run of letters, one number, or a run of other characters.
 * Sets [*begin, *end) and advances *pos past it; returns the piece's kind, or
 * -1 when no piece is left.
 */
int am_bpe_next_piece(const uint32_t *cps, size_t n, size_t *pos, size_t *begin, size_t *end);

/* Length (1..4) of the valid UTF-8 sequence at s[0] (n bytes available),
 * with its code point in *cp; 0 when s[0] starts none (strict: no overlong
 * forms, surrogates or values above U+10FFFF). */
size_t am_bpe_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* UTF-8 bytes of code point cp (a raw-byte pseudo code point gives its byte)
 * into out (4 bytes of room); returns how many. */
size_t am_bpe_encode_utf8(uint32_t cp, unsigned char *out);

#endif
