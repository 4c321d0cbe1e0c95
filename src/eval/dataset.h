/* dataset.h - the internals of the dataset loaders shared by dataset*.c:
 * the dataset structure, the problem list, folder listing, and the VisA
 * split-file parser (exposed for its fuzz target and tests). */
#ifndef AM_EVAL_DATASET_H
#define AM_EVAL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

/* Bounds on a split file: bytes, bytes of one record, records. */
#define AM_VISA_CSV_MAX_BYTES ((size_t)256 << 20)
#define AM_VISA_CSV_MAX_RECORD 65536
#define AM_VISA_CSV_MAX_ROWS 2000000

/* One data row of a VisA split file: the five columns the loader uses
 * (unquoted fields trimmed of blanks), and the line the record starts on. */
typedef struct {
    const char *object, *split, *label, *image, *mask;
    int64_t line;
} am_visa_row;

typedef struct {
    am_visa_row *rows;
    int64_t count;
    char *storage; /* the field text the rows point into */
} am_visa_table;

/*
 * Parses a VisA split file (`split_csv/1cls.csv`): CSV with a header naming
 * the columns object, split, label, image, mask in any order (others are
 * ignored), RFC 4180 quoting, LF / CRLF / CR line ends, an optional UTF-8 BOM,
 * empty lines skipped.  Every data row must have the header's field count.
 * `label` names the data in messages ("<label>:<line>: ...").
 */
am_status am_visa_csv_parse(const char *data, size_t size, const char *label, am_visa_table *out,
                            am_error *err);

void am_visa_table_free(am_visa_table *table);

/* Largest number of images in one category, and of entries in one folder. */
#define AM_DATASET_MAX_ITEMS 10000000
#define AM_DATASET_MAX_DIR_ENTRIES 10000000

/* The problems found while listing a dataset: the first ones as text, all
 * of them counted; the status of the first decides the error code. */
#define AM_PROBLEMS_TEXT 420
typedef struct {
    char text[AM_PROBLEMS_TEXT];
    size_t len;
    int64_t count, shown;
    am_status code;
} am_problems;

void am_problems_add(am_problems *p, am_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct {
    am_dataset_item *items;
    int32_t count, cap;
} am_item_list;

typedef struct {
    char *name;
    am_item_list train, test;
    int32_t has_masks;
    int32_t shared_train; /* the training list is the test list's good/ images */
} am_dataset_category;

struct am_dataset {
    am_dataset_layout layout;
    char *root; /* without trailing slashes */
    am_dataset_category *cats;
    int32_t n_cats, cap_cats;
};

/* Adds a category with a copy of `name`; NULL on failure (err set). */
am_dataset_category *am_dataset_add_category(am_dataset *ds, const char *name, am_error *err);

/* Appends an image listed by its path relative to the root; mask_rel may be
 * NULL.  Copies every string. */
am_status am_dataset_add_item(const am_dataset *ds, am_item_list *list, const char *rel,
                              const char *mask_rel, const char *defect, uint8_t label,
                              am_error *err);

/* Does ROOT/rel exist as a folder / a regular file? */
int am_dataset_is_dir(const am_dataset *ds, const char *rel);
int am_dataset_is_file(const am_dataset *ds, const char *rel);

/* Is the name a PNG or JPEG file name (any case)?  Is it a BMP/TIFF/WebP/GIF? */
int am_dataset_is_image_name(const char *name);
int am_dataset_is_unsupported_image_name(const char *name);

/*
 * The sorted names in folder ROOT/rel: sub-folders (want_dirs) or image files
 * (PNG/JPEG; BMP/TIFF/WebP/GIF files are reported as problems).  Hidden names
 * are skipped.  A missing folder is a problem (count 0), not an error; errors
 * are for memory and limits.  Free with am_dataset_free_names.
 */
am_status am_dataset_list(const am_dataset *ds, const char *rel, int want_dirs, char ***names,
                          int32_t *count, am_problems *problems, am_error *err);
void am_dataset_free_names(char **names, int32_t count);

/* The layouts: each adds the selected categories (all when n_names is 0)
 * and their images; problems with the data go to `problems`. */
am_status am_dataset_scan_mvtec(am_dataset *ds, const char *const *names, int32_t n_names,
                                am_problems *problems, am_error *err);
am_status am_dataset_scan_visa(am_dataset *ds, const char *const *names, int32_t n_names,
                               am_problems *problems, am_error *err);
am_status am_dataset_scan_folder(am_dataset *ds, const char *const *names, int32_t n_names,
                                 am_problems *problems, am_error *err);

#endif
