/* bpe_vocab.S - the CLIP BPE merge list, data/bpe_simple_vocab_16e6.txt.gz
 * (MIT, OpenAI; see data/README.md), assembled into the library so that the
 * tokenizer needs no file at run time: am_bpe_vocab_gz .. am_bpe_vocab_gz_end.
 * CMake puts data/ on this file's include path, which .incbin searches. */
    .section .rodata
    .balign 16
    .globl am_bpe_vocab_gz
    .type am_bpe_vocab_gz, @object
am_bpe_vocab_gz:
    .incbin "bpe_simple_vocab_16e6.txt.gz"
    .globl am_bpe_vocab_gz_end
    .type am_bpe_vocab_gz_end, @object
am_bpe_vocab_gz_end:
    .byte 0
    .size am_bpe_vocab_gz, am_bpe_vocab_gz_end - am_bpe_vocab_gz
    .size am_bpe_vocab_gz_end, 1

/* The stack stays non-executable. */
    .section .note.GNU-stack, "", @progbits
