/* cli_progress.h - a progress bar with ETA on a terminal, plain log lines
 * otherwise (stderr). */
#ifndef AM_TOOLS_CLI_PROGRESS_H
#define AM_TOOLS_CLI_PROGRESS_H

typedef struct {
    const char *label;
    int total, done;
    double start_ms;
    int tty;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, int total);

/* Marks one more item done; `item` names it in log lines. */
void cli_progress_step(cli_progress *p, const char *item);

void cli_progress_end(cli_progress *p);

#endif
