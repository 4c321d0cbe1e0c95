/* prompts.h - WinCLIP's compositional prompt ensemble and the readable object
 * names of the MVTec AD and VisA categories. */
#ifndef AM_DETECT_PROMPTS_H
#define AM_DETECT_PROMPTS_H

#include <stddef.h>

#include "anomem.h"

#define AM_PROMPT_TEMPLATES 21
#define AM_PROMPT_NORMAL_STATES 7
#define AM_PROMPT_ANOMALOUS_STATES 4

/* Writes sentence i of the ensemble for `object` into buf: sentences
 * 0 .. 7*21-1 are normal, the next 4*21 anomalous; state-major, template
 * minor (as anomalib builds them).  Returns 1 if normal, 0 if anomalous. */
int am_prompt_sentence(const char *object, int index, char *buf, size_t size);

/* Total number of sentences (231). */
int am_prompt_count(void);

#endif
