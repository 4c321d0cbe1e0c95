/* report.h - writing the evaluation's HTML report. */
#ifndef AM_EVAL_REPORT_H
#define AM_EVAL_REPORT_H

#include <stddef.h>

#include "anomem.h"

/* One test image in the report's grid, its pictures as base64 PNG. */
typedef struct {
    const char *name;
    int label;
    float score;
    char *image_b64, *mask_b64 /* NULL for good images */, *overlay_b64;
} am_report_figure;

typedef struct {
    const char *name;
    am_image_metrics image;
    am_pixel_metrics pixel;
    int32_t n_figures;
    am_report_figure *figures; /* worst misses first */
} am_report_category;

typedef struct {
    const char *settings; /* one line: backbone, shots, seed, ... */
    int32_t n_categories;
    am_report_category *categories;
} am_report;

/* Writes the self-contained page atomically. */
am_status am_report_write_html(const char *path, const am_report *report, am_error *err);

/* Base64 of n bytes (malloc'd, NUL-terminated), or NULL when out of memory. */
char *am_base64_encode(const unsigned char *data, size_t n);

#endif
