/* augment.h - the augmentations of few-shot reference images: flips,
 * rotations about the centre and translations, with pixels that come from
 * outside the image taken from the nearest border pixel. */
#ifndef AM_DETECT_AUGMENT_H
#define AM_DETECT_AUGMENT_H

#include <stdint.h>

#include "anomem.h"

typedef enum {
    AM_AUGMENT_IDENTITY,
    AM_AUGMENT_HFLIP,
    AM_AUGMENT_VFLIP,
    AM_AUGMENT_ROTATE, /* by `amount` degrees, counter-clockwise */
    AM_AUGMENT_SHIFT_X, /* by amount * width pixels (rounded) */
    AM_AUGMENT_SHIFT_Y, /* by amount * height pixels (rounded) */
} am_augment_kind;

typedef struct {
    am_augment_kind kind;
    float amount;
} am_augment;

/* The augmentations a flag set (AM_AUG_*) stands for, in a fixed order;
 * returns how many were written (at most 9). */
int32_t am_augment_list(uint32_t flags, float rotate_degrees, float translate_fraction,
                        am_augment *list);

/* Applies one augmentation into a newly allocated image of the same size. */
am_status am_augment_apply(const am_image *src, am_augment aug, am_image *out, am_error *err);

#endif
