/* cli_eval.h - running an evaluation from the command line (eval and demo):
 * open the dataset, load the models, show progress, print the table. */
#ifndef AM_TOOLS_CLI_EVAL_H
#define AM_TOOLS_CLI_EVAL_H

#include "anomem.h"
#include "cli_models.h"

/* Returns the exit status. */
int cli_eval_run(cli_models *m, const char *root, const char *layout_name,
                 const char *const *categories, int n_categories, am_eval_params *ep);

#endif
