/* cmd_bench.c - `anomem bench WHAT`: benchmarks (not tests) printing median
 * times and GFLOP/s; each WHAT lives in its own bench_*.c. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} benches[] = {
    {"gemm", bench_gemm, "sgemm (OpenBLAS) and bf16 (oneDNN) GFLOP/s via am_linear"},
    {"clip", bench_clip, "CLIP image, windows and text of one crop (f32, bf16)"},
    {"sam", bench_sam, "SAM encoder, decoder (64 prompts) and generator (f32, bf16)"},
    {"detect", bench_detect, "per-image cost of few-shot prediction (crops, search)"},
    {NULL, NULL, NULL},
};

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        printf("usage: anomem bench WHAT [OPTIONS]\n\n");
        for (size_t i = 0; benches[i].name; i++)
            printf("  %-8s %s\n", benches[i].name, benches[i].summary);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; benches[i].name; i++)
        if (strcmp(argv[1], benches[i].name) == 0) return benches[i].run(argc - 1, argv + 1);
    return cli_usage("bench", "unknown benchmark '%s'", argv[1]);
}
