/* dataset_layouts.c - listing the images of the three dataset layouts
 * (MVTec AD folders, the VisA split file, a plain good/defect folder set)
 * into categories; what is wrong with the data is collected as problems. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "io/file.h"
#include "eval/dataset.h"

#define MAX_PATH 4096

/* printf into a path buffer; 0 (and a problem) when it does not fit. */
static int build_path(char *buf, am_problems *problems, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int build_path(char *buf, am_problems *problems, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, MAX_PATH, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= MAX_PATH) {
        am_problems_add(problems, AM_ERR_LIMIT, "path too long: %.80s...", buf);
        return 0;
    }
    return 1;
}

/* The file name without its last extension, into buf. */
static void file_stem(const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s", name);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
}

/* The last component of the root's real path: the name of a one-category root. */
static void root_name(const am_dataset *ds, char *buf, size_t size) {
    char real[PATH_MAX];
    const char *path = realpath(ds->root, real) ? real : ds->root;
    const char *slash = strrchr(path, '/');
    const char *last = slash && slash[1] ? slash + 1 : path;
    size_t n = strlen(last) < size - 1 ? strlen(last) : size - 1;
    memcpy(buf, last, n);
    buf[n] = 0;
    if (!buf[0] || strcmp(buf, "/") == 0) snprintf(buf, size, "dataset");
}

/* A " (MVTec AD categories: ...)" hint for a name the benchmark does not have. */
static void known_hint(am_dataset_layout layout, const char *name, char *buf, size_t size) {
    int32_t n;
    const char *const *known = am_dataset_known_categories(layout, &n);
    buf[0] = 0;
    for (int32_t i = 0; i < n; i++)
        if (strcmp(known[i], name) == 0) return;
    size_t len = (size_t)snprintf(buf, size, " (%s categories:",
                                  layout == AM_DATASET_MVTEC ? "MVTec AD" : "VisA");
    for (int32_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, " %s", known[i]);
    if (len < size) snprintf(buf + len, size - len, ")");
}

/* Adds every image of folder `rel` to a list with one label and defect type. */
static am_status add_folder(am_dataset *ds, am_item_list *list, const char *rel,
                            const char *defect, uint8_t label, am_problems *problems,
                            am_error *err) {
    char **names;
    int32_t n;
    am_status st = am_dataset_list(ds, rel, 0, &names, &n, problems, err);
    char path[MAX_PATH];
    for (int32_t i = 0; st == AM_OK && i < n; i++)
        if (build_path(path, problems, "%s/%s", rel, names[i]))
            st = am_dataset_add_item(ds, list, path, NULL, defect, label, err);
    am_dataset_free_names(names, n);
    return st;
}

/* The categories to scan: the selected names that `present` accepts (the
 * others are problems), or every sub-folder it accepts, in name order. */
static am_status pick_categories(am_dataset *ds, const char *const *names, int32_t n_names,
                                 int (*present)(const am_dataset *, const char *),
                                 const char *expected, char ***out, int32_t *count,
                                 am_problems *problems, am_error *err) {
    *out = NULL;
    *count = 0;
    char **subs;
    int32_t n;
    am_status st = am_dataset_list(ds, ".", 1, &subs, &n, problems, err);
    if (st != AM_OK) return st;
    char **picked = calloc((size_t)(n_names > 0 ? n_names : n) + 1, sizeof *picked);
    if (!picked) {
        am_dataset_free_names(subs, n);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    int32_t k = 0;
    if (n_names > 0) {
        for (int32_t i = 0; i < n_names; i++) {
            if (present(ds, names[i])) {
                picked[k++] = (char *)names[i];
                continue;
            }
            char hint[256];
            known_hint(ds->layout, names[i], hint, sizeof hint);
            am_problems_add(problems, AM_ERR_NOT_FOUND, "category '%s' not found: no %s/%s%s",
                            names[i], names[i], expected, hint);
        }
    } else {
        for (int32_t i = 0; i < n; i++)
            if (present(ds, subs[i])) picked[k++] = subs[i];
    }
    for (int32_t i = 0; i < k; i++) {
        if (!(picked[i] = strdup(picked[i]))) {
            am_dataset_free_names(picked, i);
            am_dataset_free_names(subs, n);
            return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        }
    }
    am_dataset_free_names(subs, n);
    *out = picked;
    *count = k;
    return AM_OK;
}

/* ---- MVTec AD ---------------------------------------------------------- */

static int mvtec_present(const am_dataset *ds, const char *name) {
    char rel[MAX_PATH];
    return snprintf(rel, sizeof rel, "%s/test", name) < (int)sizeof rel &&
           am_dataset_is_dir(ds, rel);
}

/* One MVTec AD category under `prefix` ("" or "<cat>/"). */
static am_status scan_mvtec_category(am_dataset *ds, const char *name, const char *prefix,
                                     am_problems *problems, am_error *err) {
    am_dataset_category *cat = am_dataset_add_category(ds, name, err);
    if (!cat) return AM_ERR_NOMEM;
    cat->has_masks = 1;
    char rel[MAX_PATH], mask[MAX_PATH], stem[MAX_PATH];
    am_status st = AM_OK;
    if (build_path(rel, problems, "%strain/good", prefix) && am_dataset_is_dir(ds, rel))
        st = add_folder(ds, &cat->train, rel, "good", 0, problems, err);
    char **defects;
    int32_t nd;
    if (st != AM_OK || !build_path(rel, problems, "%stest", prefix)) return st;
    st = am_dataset_list(ds, rel, 1, &defects, &nd, problems, err);
    for (int32_t d = 0; st == AM_OK && d < nd; d++) {
        const uint8_t label = strcmp(defects[d], "good") != 0;
        char **files;
        int32_t nf;
        if (!build_path(rel, problems, "%stest/%s", prefix, defects[d])) continue;
        st = am_dataset_list(ds, rel, 0, &files, &nf, problems, err);
        for (int32_t f = 0; st == AM_OK && f < nf; f++) {
            file_stem(files[f], stem, sizeof stem);
            if (!build_path(rel, problems, "%stest/%s/%s", prefix, defects[d], files[f]) ||
                (label && !build_path(mask, problems, "%sground_truth/%s/%s_mask.png", prefix,
                                      defects[d], stem)))
                continue;
            st = am_dataset_add_item(ds, &cat->test, rel, label ? mask : NULL, defects[d], label,
                                     err);
        }
        am_dataset_free_names(files, nf);
    }
    am_dataset_free_names(defects, nd);
    return st;
}

am_status am_dataset_scan_mvtec(am_dataset *ds, const char *const *names, int32_t n_names,
                                am_problems *problems, am_error *err) {
    if (am_dataset_is_dir(ds, "test")) {
        if (n_names > 1)
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "%s is one MVTec AD category: select at most one name", ds->root);
        char name[256];
        root_name(ds, name, sizeof name);
        return scan_mvtec_category(ds, n_names ? names[0] : name, "", problems, err);
    }
    char **picked;
    int32_t k;
    am_status st = pick_categories(ds, names, n_names, mvtec_present, "test folder", &picked,
                                   &k, problems, err);
    char prefix[MAX_PATH];
    for (int32_t i = 0; st == AM_OK && i < k; i++)
        if (build_path(prefix, problems, "%s/", picked[i]))
            st = scan_mvtec_category(ds, picked[i], prefix, problems, err);
    am_dataset_free_names(picked, k);
    return st;
}

/* ---- VisA -------------------------------------------------------------- */

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The selected categories: the named ones found in the table (the others are
 * problems), or every object of the table in name order. */
static am_status visa_categories(am_dataset *ds, const am_visa_table *t, const char *const *names,
                                 int32_t n_names, am_problems *problems, am_error *err) {
    const char **objects = malloc((size_t)(t->count + 1) * sizeof *objects);
    if (!objects) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    for (int64_t i = 0; i < t->count; i++)
        if (t->rows[i].object[0]) objects[n++] = t->rows[i].object;
    qsort(objects, (size_t)n, sizeof *objects, compare_strings);
    am_status st = AM_OK;
    if (n_names > 0) {
        for (int32_t i = 0; st == AM_OK && i < n_names; i++) {
            if (bsearch(&names[i], objects, (size_t)n, sizeof *objects, compare_strings)) {
                if (!am_dataset_add_category(ds, names[i], err)) st = AM_ERR_NOMEM;
                continue;
            }
            char hint[256];
            known_hint(AM_DATASET_VISA, names[i], hint, sizeof hint);
            am_problems_add(problems, AM_ERR_NOT_FOUND,
                            "category '%s' not found: no rows in split_csv/1cls.csv%s", names[i],
                            hint);
        }
    } else {
        for (int64_t i = 0; st == AM_OK && i < n; i++)
            if ((i == 0 || strcmp(objects[i], objects[i - 1]) != 0) &&
                !am_dataset_add_category(ds, objects[i], err))
                st = AM_ERR_NOMEM;
    }
    free(objects);
    return st;
}

/* Adds one row of the split file to its category, or reports what is wrong. */
static am_status visa_row(am_dataset *ds, am_dataset_category *cat, const am_visa_row *r,
                          am_problems *problems, am_error *err) {
    const long long line = (long long)r->line;
    const int train = strcasecmp(r->split, "train") == 0, test = strcasecmp(r->split, "test") == 0;
    const int normal = strcasecmp(r->label, "normal") == 0;
    const int anomaly = strcasecmp(r->label, "anomaly") == 0;
    if (!train && !test) {
        am_problems_add(problems, AM_ERR_FORMAT,
                        "1cls.csv:%lld: split '%.40s' is not train or test", line, r->split);
    } else if (!normal && !anomaly) {
        am_problems_add(problems, AM_ERR_FORMAT,
                        "1cls.csv:%lld: label '%.40s' is not normal or anomaly", line, r->label);
    } else if (!r->image[0] || r->image[0] == '/') {
        am_problems_add(problems, AM_ERR_FORMAT,
                        "1cls.csv:%lld: image path '%.80s' is not relative to the root", line,
                        r->image);
    } else if (r->mask[0] == '/') {
        am_problems_add(problems, AM_ERR_FORMAT,
                        "1cls.csv:%lld: mask path '%.80s' is not relative to the root", line,
                        r->mask);
    } else if (train && anomaly) {
        am_problems_add(problems, AM_ERR_FORMAT, "1cls.csv:%lld: training image %s is an anomaly",
                        line, r->image);
    } else if (normal && r->mask[0]) {
        am_problems_add(problems, AM_ERR_FORMAT, "1cls.csv:%lld: normal image %s has a mask",
                        line, r->image);
    } else if (anomaly && !r->mask[0]) {
        am_problems_add(problems, AM_ERR_NOT_FOUND,
                        "1cls.csv:%lld: anomalous image %s has no mask", line, r->image);
    } else {
        return am_dataset_add_item(ds, train ? &cat->train : &cat->test, r->image,
                                   anomaly ? r->mask : NULL, anomaly ? "anomaly" : "good",
                                   (uint8_t)anomaly, err);
    }
    return AM_OK;
}

am_status am_dataset_scan_visa(am_dataset *ds, const char *const *names, int32_t n_names,
                               am_problems *problems, am_error *err) {
    char path[MAX_PATH];
    snprintf(path, sizeof path, "%s/split_csv/1cls.csv", ds->root);
    char *text;
    size_t size;
    am_status st = am_file_read_all(path, AM_VISA_CSV_MAX_BYTES, &text, &size, err);
    if (st != AM_OK) return st;
    am_visa_table t;
    st = am_visa_csv_parse(text, size, path, &t, err);
    am_free(text);
    if (st != AM_OK) return st;
    st = visa_categories(ds, &t, names, n_names, problems, err);
    for (int64_t i = 0; st == AM_OK && i < t.count; i++) {
        const am_visa_row *r = &t.rows[i];
        if (!r->object[0])
            am_problems_add(problems, AM_ERR_FORMAT, "1cls.csv:%lld: no object name",
                            (long long)r->line);
        for (int32_t c = 0; c < ds->n_cats; c++) {
            if (strcmp(ds->cats[c].name, r->object) != 0) continue;
            ds->cats[c].has_masks = 1;
            st = visa_row(ds, &ds->cats[c], r, problems, err);
            break;
        }
    }
    am_visa_table_free(&t);
    return st;
}

/* ---- folder ------------------------------------------------------------ */

static int folder_present(const am_dataset *ds, const char *name) {
    char rel[MAX_PATH];
    return snprintf(rel, sizeof rel, "%s/good", name) < (int)sizeof rel &&
           am_dataset_is_dir(ds, rel);
}

/* The mask of an anomalous image: masks/<defect>/ before masks/, the stem
 * before <stem>_mask, PNG before JPEG; 0 when none exists. */
static int find_mask(const am_dataset *ds, const char *prefix, const char *defect,
                     const char *stem, char *out) {
    static const char *const exts[] = {"png", "PNG", "jpg", "JPG", "jpeg", "JPEG"};
    static const char *const suffixes[] = {"", "_mask"};
    for (int dir = 0; dir < 2; dir++)
        for (int s = 0; s < 2; s++)
            for (size_t e = 0; e < sizeof exts / sizeof *exts; e++) {
                int n = dir == 0 ? snprintf(out, MAX_PATH, "%smasks/%s/%s%s.%s", prefix, defect,
                                            stem, suffixes[s], exts[e])
                                 : snprintf(out, MAX_PATH, "%smasks/%s%s.%s", prefix, stem,
                                            suffixes[s], exts[e]);
                if (n > 0 && n < MAX_PATH && am_dataset_is_file(ds, out)) return 1;
            }
    return 0;
}

static int compare_masks(const void *a, const void *b) {
    const am_dataset_item *x = *(const am_dataset_item *const *)a;
    const am_dataset_item *y = *(const am_dataset_item *const *)b;
    return strcmp(x->mask, y->mask);
}

/* Reports a mask file that two anomalous images would share. */
static am_status check_shared_masks(const am_dataset *ds, const am_item_list *test,
                                    am_problems *problems, am_error *err) {
    const am_dataset_item **with = malloc((size_t)(test->count + 1) * sizeof *with);
    if (!with) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    int32_t n = 0;
    for (int32_t i = 0; i < test->count; i++)
        if (test->items[i].mask) with[n++] = &test->items[i];
    qsort(with, (size_t)n, sizeof *with, compare_masks);
    const size_t skip = strlen(ds->root) + 1;
    for (int32_t i = 1; i < n; i++)
        if (strcmp(with[i - 1]->mask, with[i]->mask) == 0)
            am_problems_add(problems, AM_ERR_FORMAT,
                            "mask %s matches both %s and %s (use masks/<defect>/)",
                            with[i]->mask + skip, with[i - 1]->name, with[i]->name);
    free(with);
    return AM_OK;
}

/* The anomalous images of one defect folder, with their masks when the
 * category has a masks/ folder. */
static am_status add_defect_folder(am_dataset *ds, am_dataset_category *cat, const char *prefix,
                                   const char *defect, am_problems *problems, am_error *err) {
    char rel[MAX_PATH], mask[MAX_PATH], stem[MAX_PATH];
    char **files;
    int32_t nf;
    if (!build_path(rel, problems, "%s%s", prefix, defect)) return AM_OK;
    am_status st = am_dataset_list(ds, rel, 0, &files, &nf, problems, err);
    for (int32_t f = 0; st == AM_OK && f < nf; f++) {
        if (!build_path(rel, problems, "%s%s/%s", prefix, defect, files[f])) continue;
        file_stem(files[f], stem, sizeof stem);
        int found = cat->has_masks && find_mask(ds, prefix, defect, stem, mask);
        if (cat->has_masks && !found)
            am_problems_add(problems, AM_ERR_NOT_FOUND,
                            "no mask for %s (looked for %smasks/%s/%s.png, %smasks/%s.png, "
                            "_mask.png, JPEG)",
                            rel, prefix, defect, stem, prefix, stem);
        st = am_dataset_add_item(ds, &cat->test, rel, found ? mask : NULL, defect, 1, err);
    }
    am_dataset_free_names(files, nf);
    return st;
}

/* One folder-layout category under `prefix` ("" or "<cat>/"). */
static am_status scan_folder_category(am_dataset *ds, const char *name, const char *prefix,
                                      am_problems *problems, am_error *err) {
    am_dataset_category *cat = am_dataset_add_category(ds, name, err);
    if (!cat) return AM_ERR_NOMEM;
    char rel[MAX_PATH];
    if (!build_path(rel, problems, "%smasks", prefix)) return AM_OK;
    cat->has_masks = am_dataset_is_dir(ds, rel);
    if (!build_path(rel, problems, "%sgood", prefix)) return AM_OK;
    am_status st = add_folder(ds, &cat->test, rel, "good", 0, problems, err);
    char **subs;
    int32_t ns;
    if (st != AM_OK) return st;
    st = am_dataset_list(ds, prefix[0] ? prefix : ".", 1, &subs, &ns, problems, err);
    for (int32_t i = 0; st == AM_OK && i < ns; i++)
        if (strcmp(subs[i], "good") != 0 && strcmp(subs[i], "train") != 0 &&
            strcmp(subs[i], "masks") != 0)
            st = add_defect_folder(ds, cat, prefix, subs[i], problems, err);
    am_dataset_free_names(subs, ns);
    if (st != AM_OK) return st;
    if (cat->has_masks) st = check_shared_masks(ds, &cat->test, problems, err);
    char train[MAX_PATH];
    if (st != AM_OK) return st;
    if (build_path(train, problems, "%strain/good", prefix) && am_dataset_is_dir(ds, train))
        return add_folder(ds, &cat->train, train, "good", 0, problems, err);
    if (build_path(train, problems, "%strain", prefix) && am_dataset_is_dir(ds, train))
        return add_folder(ds, &cat->train, train, "good", 0, problems, err);
    cat->shared_train = 1;
    for (int32_t i = 0; st == AM_OK && i < cat->test.count; i++)
        if (cat->test.items[i].label == 0)
            st = am_dataset_add_item(ds, &cat->train, cat->test.items[i].name, NULL, "good", 0,
                                     err);
    return st;
}

am_status am_dataset_scan_folder(am_dataset *ds, const char *const *names, int32_t n_names,
                                 am_problems *problems, am_error *err) {
    if (am_dataset_is_dir(ds, "good")) {
        if (n_names > 1)
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "%s is one folder-layout category: select at most one name",
                                ds->root);
        char name[256];
        root_name(ds, name, sizeof name);
        return scan_folder_category(ds, n_names ? names[0] : name, "", problems, err);
    }
    char **picked;
    int32_t k;
    am_status st = pick_categories(ds, names, n_names, folder_present, "good folder", &picked, &k,
                                   problems, err);
    char prefix[MAX_PATH];
    for (int32_t i = 0; st == AM_OK && i < k; i++)
        if (build_path(prefix, problems, "%s/", picked[i]))
            st = scan_folder_category(ds, picked[i], prefix, problems, err);
    am_dataset_free_names(picked, k);
    return st;
}
