/* segment_classical.h - the classical object segmenter, used in place of
 * SAM when no SAM weights are given: good for objects on a plain background.
 *
 * On a copy of the image shrunk to `work_size` (longest side, Pillow
 * bilinear):
 *  1. background colour = per-channel median of a band along the border;
 *  2. colour distance of every pixel to it, with the luma difference dY
 *     down-weighted (shading, shadows and illumination gradients are mostly
 *     luma): d = sqrt(luma_weight dY^2 + (dB - dY)^2 + (dR - dY)^2);
 *     foreground = d above Otsu's threshold of the histogram of d (at least
 *     `min_threshold`);
 *  3. opening (and, if asked, closing) with discs, via distance transforms;
 *  4. holes (background not connected to the image border) filled;
 *  5. 8-connected components; a component made of thick parts joined by
 *     narrow necks (touching objects) is split among the parts;
 *  6. small fragments next to a much larger object join it;
 *  7. masks scaled back to the image (nearest), then the selection rules
 *     of am_objects_select.
 * On the VisA photographs (about 1500 x 1000) this finds 4 candles, 4
 * macaroni, 18-22 capsules and the single cashew, chewing gum, fryum, PCB or
 * pipe fryum of every sample image, in about 0.1 s per image. */
#ifndef AM_DETECT_SEGMENT_CLASSICAL_H
#define AM_DETECT_SEGMENT_CLASSICAL_H

#include <stdint.h>

#include "anomem.h"
#include "detect/objects.h"

typedef struct {
    int32_t work_size;         /* 512: longest side of the working copy (never enlarged) */
    double border_fraction;    /* 0.02: border band width, fraction of the shorter side */
    double luma_weight;        /* 0.4: weight of the squared luma difference against the
                                  chroma differences (shading and shadows count less) */
    double min_threshold;      /* 40: least colour distance (0..442) that is foreground */
    double open_fraction;      /* 0.004: opening disc radius, fraction of the longest side
                                  (removes specks and hairline bridges) */
    double close_fraction;     /* 0: closing disc radius, fraction of the longest side (off:
                                  it joins touching objects) */
    double split_fraction;     /* 0.02: neck-split seed radius r, fraction of the longest
                                  side: parts thicker than 2r joined by a neck thinner
                                  than 2r become separate objects (0: no splitting) */
    double merge_gap;          /* 0.1: a fragment whose box is within merge_gap * sqrt(area)
                                  of the box of an object (overlapping boxes: 0) ... */
    double merge_area_ratio;   /* 0.25: ... at least 1/ratio times its area joins it */
    am_object_params select;   /* selection rules, am_object_default_params() */
} am_segment_params;

am_segment_params am_segment_default_params(void);

/* Finds the objects of `image` and appends the selected ones to `out`
 * (initialised by the caller with am_mask_list_init(out, image->width,
 * image->height) and empty), largest first. */
am_status am_segment_classical(const am_image *image, const am_segment_params *params,
                               am_mask_list *out, am_error *err);

#endif
