/* bpe.h - the CLIP byte-pair-encoding tokenizer (open_clip's SimpleTokenizer):
 * its vocabulary, read from bpe_simple_vocab_16e6.txt.gz or the copy built
 * into the library, and text -> token ids.  An am_bpe is immutable once
 * created: any number of threads may call am_bpe_encode on one at once. */
#ifndef AM_CLIP_BPE_H
#define AM_CLIP_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

#define AM_BPE_VOCAB_SIZE 49408
#define AM_BPE_MERGES 48894                       /* lines 2 .. 48895 of the merge file */
#define AM_BPE_START 49406                        /* <start_of_text> */
#define AM_BPE_END 49407                          /* <end_of_text> */
#define AM_BPE_MAX_TEXT ((size_t)1 << 20)         /* bytes of text am_bpe_encode takes */
#define AM_BPE_MAX_VOCAB_BYTES ((size_t)16 << 20) /* decompressed vocabulary file */

typedef struct am_bpe am_bpe;

/* The gzip'd vocabulary assembled into the library (src/clip/bpe_vocab.S). */
extern const unsigned char am_bpe_vocab_gz[];
extern const unsigned char am_bpe_vocab_gz_end[];

/* From the vocabulary built into the library. */
am_status am_bpe_create(am_bpe **out, am_error *err);

/* From a bpe_simple_vocab_16e6.txt.gz-format file. */
am_status am_bpe_create_from_file(const char *gz_path, am_bpe **out, am_error *err);

/* From gzip bytes in memory (label names it in messages).  Only the text up
 * to line 48895 is decompressed and checked: the tokenizer reads no further. */
am_status am_bpe_create_from_memory(const void *gz, size_t size, const char *label, am_bpe **out,
                                    am_error *err);

/* From the decompressed text of the merge file (UTF-8: a header line, then
 * one "left right" merge a line; lines after 48895 are ignored). */
am_status am_bpe_create_from_text(const char *text, size_t size, const char *label, am_bpe **out,
                                  am_error *err);

void am_bpe_free(am_bpe *bpe);

/* text -> exactly context_length ids: 49406, BPE ids, 49407, zero padding; text longer than
   context_length-2 BPE tokens is cut to context_length ids with the last set to 49407.
   Text must be NUL-terminated and at most AM_BPE_MAX_TEXT bytes; bytes that are not
   UTF-8 are tokenized as themselves; context_length must be at least 2. */
am_status am_bpe_encode(const am_bpe *bpe, const char *text, int32_t context_length,
                        int32_t *tokens, am_error *err);

#endif
