/* anomem.c - the command-line tool: dispatches to one subcommand. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "list the tensors of a weight file"},
    {"fit", cmd_fit, "fit a few-shot model from good images"},
    {"predict", cmd_predict, "score images: scores, anomaly maps, overlays"},
    {"eval", cmd_eval, "evaluate on a dataset: metrics and an HTML report"},
    {"demo", cmd_demo, "run the detector on a built-in synthetic set"},
    {"synth", cmd_synth, "write the synthetic inspection set"},
    {"segment", cmd_segment, "split images into objects (SAM or classical)"},
    {"selftest", cmd_selftest, "check against reference vector folders"},
    {"bench", cmd_bench, "benchmarks: per-stage timings and GFLOP/s"},
};

int cli_fail(const am_error *err) {
    fprintf(stderr, "anomem: %s\n", err->message);
    return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "anomem %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'anomem %s --help')\n", cmd);
    return 2;
}

static void usage(FILE *out) {
    fprintf(out, "anomem %s - few-shot and zero-shot anomaly detection\n\nusage: anomem COMMAND "
                 "[ARGS...]\n\ncommands:\n", ANOMEM_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* results appear as they come, also in logs */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("anomem %s\n", ANOMEM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "anomem: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
