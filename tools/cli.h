/* cli.h - what the subcommands of the anomem tool share: each is a function
 * taking (argc, argv) after the subcommand name, returning the exit status. */
#ifndef AM_TOOLS_CLI_H
#define AM_TOOLS_CLI_H

#include "anomem.h"

int cmd_info(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_segment(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_synth(int argc, char **argv);

/* Prints "anomem: <message>" to stderr and returns 1. */
int cli_fail(const am_error *err);

/* The value of a flag at argv[*i + 1] (advancing *i), or NULL after a usage
 * error for `command`. */
const char *cli_flag_value(const char *command, int argc, char **argv, int *i);

/* Prints a usage error for `command` and returns 2. */
int cli_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
