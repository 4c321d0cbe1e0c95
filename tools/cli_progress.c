/* cli_progress.c - progress reporting for long commands. */
#include "cli_progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void cli_progress_start(cli_progress *p, const char *label, int total) {
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start_ms = now_ms();
    p->tty = isatty(2);
}

void cli_progress_step(cli_progress *p, const char *item) {
    p->done++;
    double elapsed = (now_ms() - p->start_ms) / 1000.0;
    double eta = p->done ? elapsed / p->done * (p->total - p->done) : 0;
    if (p->tty) {
        int width = 30, fill = p->total ? width * p->done / p->total : width;
        fprintf(stderr, "\r%s [", p->label);
        for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
        fprintf(stderr, "] %d/%d  %.0fs, ETA %.0fs ", p->done, p->total, elapsed, eta);
    } else {
        fprintf(stderr, "%s %d/%d %s (%.1fs, ETA %.0fs)\n", p->label, p->done, p->total,
                item ? item : "", elapsed, eta);
    }
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->tty) fputc('\n', stderr);
}
