/* result_json.h - one category's evaluation result as JSON, and back. */
#ifndef AM_EVAL_RESULT_JSON_H
#define AM_EVAL_RESULT_JSON_H

#include <jansson.h>

#include "anomem.h"

/* The result's metrics and curves (undefined metrics as "undefined"). */
json_t *am_eval_result_to_json(const am_eval_result *r);

/* Reads back what am_eval_result_to_json wrote (all but the name); 0 when
 * any member is missing or of another type, so a damaged file is never
 * taken for a finished category. */
int am_eval_result_from_json(json_t *o, am_eval_result *r);

#endif
