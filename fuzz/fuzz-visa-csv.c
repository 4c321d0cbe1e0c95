/* fuzz-visa-csv.c - libFuzzer target for the VisA split-file parser: any
 * bytes must parse or fail cleanly, and every parsed field must be a
 * NUL-terminated string inside the table's storage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    am_visa_table t;
    am_error err = {0};
    if (am_visa_csv_parse((const char *)data, size, "fuzz.csv", &t, &err) != AM_OK) {
        if (t.rows || t.count || !err.message[0] || !memchr(err.message, 0, sizeof err.message))
            abort();
        return 0;
    }
    size_t total = 0;
    for (int64_t i = 0; i < t.count; i++) {
        const am_visa_row *r = &t.rows[i];
        const char *fields[5] = {r->object, r->split, r->label, r->image, r->mask};
        for (int f = 0; f < 5; f++) total += strlen(fields[f]);
        if (r->line < 1 || (i > 0 && r->line <= t.rows[i - 1].line)) abort();
    }
    if (total > size) abort();
    am_visa_table_free(&t);
    return 0;
}
