/* cmd_synth.c - `anomem synth`: writes the synthetic inspection set (MVTec
 * AD layout) that the demo and the tests use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_synth(int argc, char **argv) {
    const char *out = NULL;
    long values[5] = {0, 4, 3, 1, 224}; /* seed, train, good, per defect, size */
    const char *names[5] = {"--seed", "--train", "--good", "--per-defect", "--size"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: anomem synth --out DIR [--seed 0] [--train 4] [--good 3] "
                   "[--per-defect 1] [--size 224]\n\nWrites a synthetic inspection set in the "
                   "MVTec AD layout: products pills, washers, bars;\ndefects scratch, missing, "
                   "stain, colour, with ground-truth masks.\n");
            return 0;
        }
        if (strcmp(argv[i], "--out") == 0) {
            if (!(out = cli_flag_value("synth", argc, argv, &i))) return 2;
            continue;
        }
        int k = 0;
        while (k < 5 && strcmp(argv[i], names[k]) != 0) k++;
        if (k == 5) return cli_usage("synth", "unknown argument '%s'", argv[i]);
        const char *v = cli_flag_value("synth", argc, argv, &i);
        if (!v) return 2;
        char *end;
        values[k] = strtol(v, &end, 10);
        if (*end || values[k] < 0 || values[k] > 100000)
            return cli_usage("synth", "%s: '%s' is not a valid number", names[k], v);
    }
    if (!out) return cli_usage("synth", "needs --out DIR");
    am_error err = {0};
    if (am_synth_write(out, (uint64_t)values[0], (int32_t)values[1], (int32_t)values[2],
                       (int32_t)values[3], (int32_t)values[4], &err) != AM_OK)
        return cli_fail(&err);
    printf("synthetic set written to %s\n", out);
    return 0;
}
