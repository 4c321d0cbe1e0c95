/* sam_config.h - SAM's config JSON (the key names of the sam-tiny vectors'
 * config.json): telling it from other JSON, the encoder sizes it sets and
 * the decoder sizes it must agree with. */
#ifndef AM_SAM_SAM_CONFIG_H
#define AM_SAM_SAM_CONFIG_H

#include <jansson.h>

#include "anomem.h"
#include "sam/sam_decoder.h"
#include "sam/sam_encoder.h"

/* Reads the config JSON at path (*out is NULL on failure; release with
 * json_decref). */
am_status sam_config_load(const char *path, json_t **out, am_error *err);

/* 1 if j names a SAM configuration key. */
int sam_config_is_sam(const json_t *j);

/* Overrides cfg (inferred from the weights) with the encoder members of the
 * config JSON root, named `path` in messages.  The sizes are only known to
 * be non-negative: sam_encoder_config_finish checks them. */
am_status sam_config_apply_encoder(const json_t *root, const char *path, sam_encoder_config *cfg,
                                   am_error *err);

/* Takes the decoder head count from the config JSON j (named config_path)
 * and checks that every decoder size it names agrees with cfg, inferred from
 * the weights named weights_path.  check_config of sam_decoder.c checks the
 * head count when the decoder is built. */
am_status sam_config_apply_decoder(const json_t *j, const char *config_path,
                                   const char *weights_path, sam_decoder_config *cfg,
                                   am_error *err);

#endif
