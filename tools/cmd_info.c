/* cmd_info.c - `anomem info FILE`: every tensor as `name dtype [shape]`,
 * sorted by name, then the count and total bytes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_info(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: anomem info FILE\n\nLists every tensor of a safetensors or PyTorch "
               "(.pt/.pth/.bin) weight file.\n");
        return 0;
    }
    if (argc != 2) return cli_usage("info", "expected one weight file");
    am_error err = {0};
    am_weights *w;
    if (am_weights_open(argv[1], &w, &err) != AM_OK) return cli_fail(&err);
    uint64_t total = 0;
    for (int64_t i = 0; i < am_weights_count(w); i++) {
        const am_tensor_info *t = am_weights_at(w, i);
        printf("%s %s [", t->name, am_dtype_name(t->dtype));
        for (int32_t d = 0; d < t->ndim; d++) printf(d ? ", %" PRId64 : "%" PRId64, t->shape[d]);
        printf("]\n");
        total += (uint64_t)t->numel * am_dtype_size(t->dtype);
    }
    printf("%" PRId64 " tensors, %" PRIu64 " bytes (%s)\n", am_weights_count(w), total,
           am_weights_format(w));
    am_weights_close(w);
    return 0;
}
