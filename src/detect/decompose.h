/* decompose.h - splitting an image into its objects for the detector: SAM's
 * generator (or the classical segmenter without SAM), the selection rules,
 * and each object's square crop (DESIGN 2.3). */
#ifndef AM_DETECT_DECOMPOSE_H
#define AM_DETECT_DECOMPOSE_H

#include <stdint.h>

#include "anomem.h"
#include "detect/objects.h"

typedef struct {
    int32_t n;
    am_object_box *boxes; /* largest first */
    am_square *squares;   /* one per box */
} am_decomposition;

/* Objects of `image` under the detector parameters (use_objects = 0 gives
 * none). */
am_status am_decompose(am_sam *sam, const am_image *image, const am_detector_params *params,
                       am_decomposition *out, am_error *err);

void am_decomposition_free(am_decomposition *d);

#endif
