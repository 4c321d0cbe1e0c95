/* cli_models.h - the flags every model-using command shares: which CLIP and
 * SAM to load (--clip FILE|random[:SEED], --sam FILE, or the ANOMEM_CLIP /
 * ANOMEM_SAM variables), numeric precision, threads and detector parameters. */
#ifndef AM_TOOLS_CLI_MODELS_H
#define AM_TOOLS_CLI_MODELS_H

#include "anomem.h"

typedef struct {
    const char *clip;        /* path, "random" or "random:SEED"; NULL: $ANOMEM_CLIP */
    const char *sam;         /* path or NULL: $ANOMEM_SAM, else the classical segmenter */
    const char *clip_config; /* --clip-config */
    const char *sam_config;  /* --sam-config */
    am_precision precision;
    int precision_given; /* --precision was on the command line */
    int32_t threads;
    int64_t max_pixels; /* --max-pixels: images above are refused (0: 100 MP) */
    am_detector_params detector;
    const char *object; /* --object */
    char clip_storage[256]; /* backs `clip` when it comes from a model file */
} cli_models;

void cli_models_init(cli_models *m);

/* If argv[*i] is one of the shared flags, consumes it (and its value),
 * advancing *i, and returns 1; returns 0 if it is not; -1 (after printing a
 * usage error for `command`) if its value is missing or invalid. */
int cli_models_parse(cli_models *m, const char *command, int argc, char **argv, int *i);

/* Help text of the shared flags. */
extern const char cli_models_help[];

/* Loads the CLIP model (required: an error names the flag when none is
 * given) and, if any, the SAM model (*sam = NULL otherwise); sets the
 * detector's memory-bank search to the models' precision. */
am_status cli_models_load(cli_models *m, am_clip **clip, am_sam **sam, am_error *err);

/* Sets OpenMP and OpenBLAS thread counts for the process (0: default). */
void cli_set_threads(int32_t threads);


#endif
