/* prompts.c - the prompt ensemble (WinCLIP, as anomalib lists it) and the
 * category names. */
#include "detect/prompts.h"

#include <stdio.h>
#include <string.h>

static const char *const normal_states[AM_PROMPT_NORMAL_STATES] = {
    "%s", "flawless %s", "perfect %s", "unblemished %s",
    "%s without flaw", "%s without defect", "%s without damage",
};

static const char *const anomalous_states[AM_PROMPT_ANOMALOUS_STATES] = {
    "damaged %s", "%s with flaw", "%s with defect", "%s with damage",
};

/* WinCLIP's list, including its repeated "jpeg corrupted photo of the". */
static const char *const templates[AM_PROMPT_TEMPLATES] = {
    "a cropped photo of the %s.",
    "a close-up photo of a %s.",
    "a close-up photo of the %s.",
    "a bright photo of a %s.",
    "a bright photo of the %s.",
    "a dark photo of the %s.",
    "a dark photo of a %s.",
    "a jpeg corrupted photo of the %s.",
    "a jpeg corrupted photo of the %s.",
    "a blurry photo of the %s.",
    "a blurry photo of a %s.",
    "a photo of a %s.",
    "a photo of the %s.",
    "a photo of a small %s.",
    "a photo of the small %s.",
    "a photo of a large %s.",
    "a photo of the large %s.",
    "a photo of the %s for visual inspection.",
    "a photo of a %s for visual inspection.",
    "a photo of the %s for anomaly detection.",
    "a photo of a %s for anomaly detection.",
};

int am_prompt_count(void) {
    return (AM_PROMPT_NORMAL_STATES + AM_PROMPT_ANOMALOUS_STATES) * AM_PROMPT_TEMPLATES;
}

int am_prompt_sentence(const char *object, int index, char *buf, size_t size) {
    int normal = index < AM_PROMPT_NORMAL_STATES * AM_PROMPT_TEMPLATES;
    int local = normal ? index : index - AM_PROMPT_NORMAL_STATES * AM_PROMPT_TEMPLATES;
    const char *state = normal ? normal_states[local / AM_PROMPT_TEMPLATES]
                               : anomalous_states[local / AM_PROMPT_TEMPLATES];
    char filled[512];
    snprintf(filled, sizeof filled, state, object);
    snprintf(buf, size, templates[local % AM_PROMPT_TEMPLATES], filled);
    return normal;
}

static const struct {
    const char *category, *object;
} category_names[] = {
    /* MVTec AD */
    {"bottle", "bottle"}, {"cable", "cable"}, {"capsule", "capsule"}, {"carpet", "carpet"},
    {"grid", "grid"}, {"hazelnut", "hazelnut"}, {"leather", "leather"},
    {"metal_nut", "metal nut"}, {"pill", "pill"}, {"screw", "screw"}, {"tile", "tile"},
    {"toothbrush", "toothbrush"}, {"transistor", "transistor"}, {"wood", "wood"},
    {"zipper", "zipper"},
    /* VisA */
    {"candle", "candle"}, {"capsules", "capsules"}, {"cashew", "cashew"},
    {"chewinggum", "chewing gum"}, {"fryum", "fryum"}, {"macaroni1", "macaroni"},
    {"macaroni2", "macaroni"}, {"pcb1", "printed circuit board"},
    {"pcb2", "printed circuit board"}, {"pcb3", "printed circuit board"},
    {"pcb4", "printed circuit board"}, {"pipe_fryum", "pipe fryum"},
};

const char *am_category_object_name(const char *category) {
    for (size_t i = 0; i < sizeof category_names / sizeof *category_names; i++)
        if (strcmp(category, category_names[i].category) == 0) return category_names[i].object;
    return category;
}
