/* dataset.c - the dataset object: opening (layout detection, scanning,
 * sorting, checking every file before any compute), accessors, the k-shot
 * draw, and the helpers the layout scanners share. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"
#include "eval/dataset.h"

#define MAX_PATH 4096

static const char *const mvtec_categories[] = {
    "bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper"};
static const char *const visa_categories[] = {
    "candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1",
    "macaroni2", "pcb1", "pcb2", "pcb3", "pcb4", "pipe_fryum"};

const char *am_dataset_layout_name(am_dataset_layout layout) {
    switch (layout) {
    case AM_DATASET_AUTO: return "auto";
    case AM_DATASET_MVTEC: return "mvtec";
    case AM_DATASET_VISA: return "visa";
    case AM_DATASET_FOLDER: return "folder";
    }
    return "unknown";
}

am_status am_dataset_layout_from_name(const char *name, am_dataset_layout *layout,
                                      am_error *err) {
    static const struct {
        const char *name;
        am_dataset_layout layout;
    } names[] = {{"auto", AM_DATASET_AUTO},     {"mvtec", AM_DATASET_MVTEC},
                 {"mvtec_ad", AM_DATASET_MVTEC}, {"visa", AM_DATASET_VISA},
                 {"folder", AM_DATASET_FOLDER}};
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *layout = names[i].layout;
            return AM_OK;
        }
    }
    return am_error_set(err, AM_ERR_ARGUMENT,
                        "unknown dataset layout '%s' (expected mvtec, visa, folder or auto)",
                        name ? name : "(null)");
}

const char *const *am_dataset_known_categories(am_dataset_layout layout, int32_t *count) {
    if (layout == AM_DATASET_MVTEC) {
        *count = (int32_t)(sizeof mvtec_categories / sizeof *mvtec_categories);
        return mvtec_categories;
    }
    if (layout == AM_DATASET_VISA) {
        *count = (int32_t)(sizeof visa_categories / sizeof *visa_categories);
        return visa_categories;
    }
    *count = 0;
    return NULL;
}

/* ---- problems ---------------------------------------------------------- */

void am_problems_add(am_problems *p, am_status code, const char *fmt, ...) {
    char line[AM_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->count == 0) p->code = code;
    p->count++;
    size_t n = strlen(line), sep = p->len ? 2 : 0;
    if (p->len + sep + n + 1 > sizeof p->text) return;
    memcpy(p->text + p->len, "; ", sep);
    memcpy(p->text + p->len + sep, line, n + 1);
    p->len += sep + n;
    p->shown++;
}

/* ---- paths and folders ------------------------------------------------- */

/* ROOT/rel into buf; 0 when it does not fit. */
static int full_path(const am_dataset *ds, const char *rel, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s/%s", ds->root, rel);
    return n > 0 && (size_t)n < size;
}

int am_dataset_is_dir(const am_dataset *ds, const char *rel) {
    char path[MAX_PATH];
    struct stat st;
    return full_path(ds, rel, path, sizeof path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int am_dataset_is_file(const am_dataset *ds, const char *rel) {
    char path[MAX_PATH];
    struct stat st;
    return full_path(ds, rel, path, sizeof path) && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Does the file name end with one of the extensions (any case)? */
static int has_extension(const char *name, const char *const *exts, size_t n) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || strchr(dot, '/')) return 0;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0) return 1;
    return 0;
}

int am_dataset_is_image_name(const char *name) {
    static const char *const exts[] = {"png", "jpg", "jpeg"};
    return has_extension(name, exts, sizeof exts / sizeof *exts);
}

int am_dataset_is_unsupported_image_name(const char *name) {
    static const char *const exts[] = {"bmp", "tif", "tiff", "webp", "gif"};
    return has_extension(name, exts, sizeof exts / sizeof *exts);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void am_dataset_free_names(char **names, int32_t count) {
    for (int32_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

am_status am_dataset_list(const am_dataset *ds, const char *rel, int want_dirs, char ***names,
                          int32_t *count, am_problems *problems, am_error *err) {
    *names = NULL;
    *count = 0;
    char dir[MAX_PATH];
    if (!full_path(ds, rel, dir, sizeof dir)) {
        am_problems_add(problems, AM_ERR_LIMIT, "path too long: %s", rel);
        return AM_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            am_problems_add(problems, AM_ERR_NOT_FOUND, "missing folder %s", rel);
        else
            am_problems_add(problems, AM_ERR_IO, "cannot read folder %s: %s", rel,
                            strerror(errno));
        return AM_OK;
    }
    char **list = NULL;
    int32_t n = 0, cap = 0;
    am_status st = AM_OK;
    struct dirent *e;
    while (st == AM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[MAX_PATH];
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            stat(path, &sb) != 0)
            continue;
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) continue;
        if (!want_dirs && !am_dataset_is_image_name(e->d_name)) {
            if (am_dataset_is_unsupported_image_name(e->d_name))
                am_problems_add(problems, AM_ERR_UNSUPPORTED,
                                "%s/%s: not PNG or JPEG (convert it)", rel, e->d_name);
            continue;
        }
        if (n >= AM_DATASET_MAX_DIR_ENTRIES) {
            st = am_error_set(err, AM_ERR_LIMIT, "%s: more than %d entries", dir,
                              AM_DATASET_MAX_DIR_ENTRIES);
            break;
        }
        if (n == cap) {
            int32_t ncap = cap ? cap * 2 : 64;
            char **p = realloc(list, (size_t)ncap * sizeof *p);
            if (!p) {
                st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
                break;
            }
            list = p;
            cap = ncap;
        }
        if (!(list[n] = am_strdup(e->d_name, err))) st = AM_ERR_NOMEM;
        else n++;
    }
    closedir(d);
    if (st != AM_OK) {
        am_dataset_free_names(list, n);
        return st;
    }
    if (n > 1) qsort(list, (size_t)n, sizeof *list, compare_names);
    *names = list;
    *count = n;
    return AM_OK;
}

/* ---- building ---------------------------------------------------------- */

am_dataset_category *am_dataset_add_category(am_dataset *ds, const char *name, am_error *err) {
    if (ds->n_cats == ds->cap_cats) {
        int32_t ncap = ds->cap_cats ? ds->cap_cats * 2 : 16;
        am_dataset_category *p = realloc(ds->cats, (size_t)ncap * sizeof *p);
        if (!p) {
            am_error_set(err, AM_ERR_NOMEM, "out of memory");
            return NULL;
        }
        ds->cats = p;
        ds->cap_cats = ncap;
    }
    am_dataset_category *c = &ds->cats[ds->n_cats];
    memset(c, 0, sizeof *c);
    if (!(c->name = am_strdup(name, err))) return NULL;
    ds->n_cats++;
    return c;
}

/* ROOT/rel as a new malloc'd string. */
static char *join_root(const am_dataset *ds, const char *rel, am_error *err) {
    size_t a = strlen(ds->root), b = strlen(rel);
    char *s = malloc(a + b + 2);
    if (!s) {
        am_error_set(err, AM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, ds->root, a);
    s[a] = '/';
    memcpy(s + a + 1, rel, b + 1);
    return s;
}

am_status am_dataset_add_item(const am_dataset *ds, am_item_list *list, const char *rel,
                              const char *mask_rel, const char *defect, uint8_t label,
                              am_error *err) {
    if (list->count >= AM_DATASET_MAX_ITEMS)
        return am_error_set(err, AM_ERR_LIMIT, "%s: more than %d images in one category",
                            ds->root, AM_DATASET_MAX_ITEMS);
    if (list->count == list->cap) {
        int32_t ncap = list->cap ? list->cap * 2 : 64;
        am_dataset_item *p = realloc(list->items, (size_t)ncap * sizeof *p);
        if (!p) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
        list->items = p;
        list->cap = ncap;
    }
    am_dataset_item it = {.label = label, .train_index = -1};
    char *path = join_root(ds, rel, err);
    char *mask = mask_rel ? join_root(ds, mask_rel, err) : NULL;
    char *def = am_strdup(defect, err);
    if (!path || (mask_rel && !mask) || !def) {
        free(path);
        free(mask);
        free(def);
        return AM_ERR_NOMEM;
    }
    it.path = path;
    it.name = path + strlen(ds->root) + 1;
    it.mask = mask;
    it.defect = def;
    list->items[list->count++] = it;
    return AM_OK;
}

static void free_items(am_item_list *list) {
    for (int32_t i = 0; i < list->count; i++) {
        free((char *)list->items[i].path);
        free((char *)list->items[i].mask);
        free((char *)list->items[i].defect);
    }
    free(list->items);
}

void am_dataset_free(am_dataset *ds) {
    if (!ds) return;
    for (int32_t c = 0; c < ds->n_cats; c++) {
        free(ds->cats[c].name);
        free_items(&ds->cats[c].train);
        free_items(&ds->cats[c].test);
    }
    free(ds->cats);
    free(ds->root);
    free(ds);
}

/* ---- ordering and checks ----------------------------------------------- */

static int compare_items(const void *a, const void *b) {
    return strcmp(((const am_dataset_item *)a)->name, ((const am_dataset_item *)b)->name);
}

/* Sorts both lists, links shared training images, and reports images listed
 * twice or as both training and test image. */
static void order_category(am_dataset_category *c, am_problems *problems) {
    am_item_list *tr = &c->train, *te = &c->test;
    if (tr->count > 1) qsort(tr->items, (size_t)tr->count, sizeof *tr->items, compare_items);
    if (te->count > 1) qsort(te->items, (size_t)te->count, sizeof *te->items, compare_items);
    for (int32_t i = 1; i < tr->count; i++)
        if (strcmp(tr->items[i - 1].name, tr->items[i].name) == 0)
            am_problems_add(problems, AM_ERR_FORMAT, "%s: training image listed twice",
                            tr->items[i].name);
    for (int32_t i = 1; i < te->count; i++)
        if (strcmp(te->items[i - 1].name, te->items[i].name) == 0)
            am_problems_add(problems, AM_ERR_FORMAT, "%s: test image listed twice",
                            te->items[i].name);
    int32_t i = 0, j = 0;
    while (i < tr->count && j < te->count) {
        int cmp = strcmp(tr->items[i].name, te->items[j].name);
        if (cmp < 0) {
            i++;
        } else if (cmp > 0) {
            j++;
        } else {
            if (c->shared_train) te->items[j].train_index = i;
            else
                am_problems_add(problems, AM_ERR_FORMAT, "%s: both a training and a test image",
                                te->items[j].name);
            i++;
            j++;
        }
    }
}

/* Reports a listed file that is missing or not a regular file. */
static void check_file(const char *path, const char *name, const char *what,
                       am_problems *problems) {
    struct stat st;
    if (stat(path, &st) != 0)
        am_problems_add(problems, AM_ERR_NOT_FOUND, "missing %s %s", what, name);
    else if (!S_ISREG(st.st_mode))
        am_problems_add(problems, AM_ERR_NOT_FOUND, "%s %s is not a regular file", what, name);
    else if (!am_dataset_is_image_name(path))
        am_problems_add(problems, AM_ERR_UNSUPPORTED, "%s %s is not a PNG or JPEG file", what,
                        name);
}

/* Every image and mask of a category must be a regular PNG/JPEG file. */
static void check_category(const am_dataset *ds, const am_dataset_category *c,
                           am_problems *problems) {
    const size_t skip = strlen(ds->root) + 1;
    for (int32_t i = 0; i < c->train.count; i++)
        if (!c->shared_train) check_file(c->train.items[i].path, c->train.items[i].name,
                                         "image", problems);
    for (int32_t i = 0; i < c->test.count; i++) {
        const am_dataset_item *it = &c->test.items[i];
        check_file(it->path, it->name, "image", problems);
        if (it->mask) check_file(it->mask, it->mask + skip, "mask", problems);
    }
    if (c->test.count == 0)
        am_problems_add(problems, AM_ERR_NOT_FOUND, "category %s has no test images", c->name);
}

/* Picks the layout from what ROOT holds. */
static am_status detect_layout(const am_dataset *ds, am_dataset_layout *layout, am_error *err) {
    if (am_dataset_is_file(ds, "split_csv/1cls.csv")) {
        *layout = AM_DATASET_VISA;
        return AM_OK;
    }
    if (am_dataset_is_dir(ds, "good")) {
        *layout = AM_DATASET_FOLDER;
        return AM_OK;
    }
    if (am_dataset_is_dir(ds, "test") && am_dataset_is_dir(ds, "train")) {
        *layout = AM_DATASET_MVTEC;
        return AM_OK;
    }
    am_problems ignored = {0};
    char **subs;
    int32_t n;
    am_status st = am_dataset_list(ds, ".", 1, &subs, &n, &ignored, err);
    if (st != AM_OK) return st;
    *layout = AM_DATASET_AUTO;
    char rel[MAX_PATH];
    for (int32_t i = 0; i < n && *layout == AM_DATASET_AUTO; i++) {
        snprintf(rel, sizeof rel, "%s/test", subs[i]);
        if (am_dataset_is_dir(ds, rel)) *layout = AM_DATASET_MVTEC;
        snprintf(rel, sizeof rel, "%s/good", subs[i]);
        if (am_dataset_is_dir(ds, rel)) *layout = AM_DATASET_FOLDER;
    }
    am_dataset_free_names(subs, n);
    if (*layout == AM_DATASET_AUTO)
        return am_error_set(err, AM_ERR_FORMAT,
                            "%s: cannot tell the dataset layout: expected split_csv/1cls.csv "
                            "(VisA), <category>/train/good + <category>/test (MVTec AD), or good/ "
                            "and defect folders (folder layout)",
                            ds->root);
    return AM_OK;
}

/* Category names must be plain, distinct folder names. */
static am_status check_names(const char *const *names, int32_t n, am_error *err) {
    if (n < 0 || (n > 0 && !names))
        return am_error_set(err, AM_ERR_ARGUMENT, "invalid category list");
    for (int32_t i = 0; i < n; i++) {
        const char *s = names[i];
        if (!s || !*s || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
            return am_error_set(err, AM_ERR_ARGUMENT, "invalid category name '%s'",
                                s ? s : "(null)");
        for (int32_t j = 0; j < i; j++)
            if (strcmp(names[j], s) == 0)
                return am_error_set(err, AM_ERR_ARGUMENT, "category '%s' selected twice", s);
    }
    return AM_OK;
}

am_status am_dataset_open(const char *root, am_dataset_layout layout,
                          const char *const *categories, int32_t n_categories, am_dataset **out,
                          am_error *err) {
    *out = NULL;
    if (!root || !*root) return am_error_set(err, AM_ERR_ARGUMENT, "no dataset root given");
    if (strlen(root) >= MAX_PATH - 256)
        return am_error_set(err, AM_ERR_LIMIT, "dataset root path too long");
    struct stat sb;
    if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return am_error_set(err, AM_ERR_NOT_FOUND, "%s: not a folder", root);
    am_status st = check_names(categories, n_categories, err);
    if (st != AM_OK) return st;
    am_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    if (!(ds->root = am_strdup(root, err))) {
        free(ds);
        return AM_ERR_NOMEM;
    }
    for (size_t n = strlen(ds->root); n > 1 && ds->root[n - 1] == '/'; n--) ds->root[n - 1] = 0;
    if (layout == AM_DATASET_AUTO) st = detect_layout(ds, &layout, err);
    ds->layout = layout;
    am_problems problems = {0};
    if (st == AM_OK) {
        if (layout == AM_DATASET_MVTEC)
            st = am_dataset_scan_mvtec(ds, categories, n_categories, &problems, err);
        else if (layout == AM_DATASET_VISA)
            st = am_dataset_scan_visa(ds, categories, n_categories, &problems, err);
        else if (layout == AM_DATASET_FOLDER)
            st = am_dataset_scan_folder(ds, categories, n_categories, &problems, err);
        else st = am_error_set(err, AM_ERR_ARGUMENT, "unknown dataset layout %d", (int)layout);
    }
    if (st == AM_OK && ds->n_cats == 0 && problems.count == 0)
        am_problems_add(&problems, AM_ERR_NOT_FOUND, "no categories found");
    for (int32_t c = 0; st == AM_OK && c < ds->n_cats; c++) {
        order_category(&ds->cats[c], &problems);
        check_category(ds, &ds->cats[c], &problems);
    }
    if (st == AM_OK && problems.count > 0) {
        int64_t more = problems.count - problems.shown;
        if (more > 0)
            st = am_error_set(err, problems.code, "%s (%s layout): %lld problems: %s; and %lld more",
                              ds->root, am_dataset_layout_name(layout),
                              (long long)problems.count, problems.text, (long long)more);
        else
            st = am_error_set(err, problems.code, "%s (%s layout): %lld problem%s: %s", ds->root,
                              am_dataset_layout_name(layout), (long long)problems.count,
                              problems.count > 1 ? "s" : "", problems.text);
    }
    if (st != AM_OK) {
        am_dataset_free(ds);
        return st;
    }
    *out = ds;
    return AM_OK;
}

/* ---- accessors --------------------------------------------------------- */

am_dataset_layout am_dataset_get_layout(const am_dataset *ds) {
    return ds->layout;
}

const char *am_dataset_root(const am_dataset *ds) {
    return ds->root;
}

int32_t am_dataset_category_count(const am_dataset *ds) {
    return ds->n_cats;
}

static const am_dataset_category *category_at(const am_dataset *ds, int32_t c) {
    return c >= 0 && c < ds->n_cats ? &ds->cats[c] : NULL;
}

const char *am_dataset_category_name(const am_dataset *ds, int32_t c) {
    const am_dataset_category *cat = category_at(ds, c);
    return cat ? cat->name : NULL;
}

int32_t am_dataset_train_count(const am_dataset *ds, int32_t c) {
    const am_dataset_category *cat = category_at(ds, c);
    return cat ? cat->train.count : 0;
}

const am_dataset_item *am_dataset_train_item(const am_dataset *ds, int32_t c, int32_t i) {
    const am_dataset_category *cat = category_at(ds, c);
    return cat && i >= 0 && i < cat->train.count ? &cat->train.items[i] : NULL;
}

int32_t am_dataset_test_count(const am_dataset *ds, int32_t c) {
    const am_dataset_category *cat = category_at(ds, c);
    return cat ? cat->test.count : 0;
}

const am_dataset_item *am_dataset_test_item(const am_dataset *ds, int32_t c, int32_t i) {
    const am_dataset_category *cat = category_at(ds, c);
    return cat && i >= 0 && i < cat->test.count ? &cat->test.items[i] : NULL;
}

int32_t am_dataset_has_masks(const am_dataset *ds, int32_t c) {
    const am_dataset_category *cat = category_at(ds, c);
    return cat ? cat->has_masks : 0;
}

static int compare_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

am_status am_dataset_select_shots(const am_dataset *ds, int32_t c, int32_t k, uint64_t seed,
                                  int32_t *indices, am_error *err) {
    const am_dataset_category *cat = category_at(ds, c);
    if (!cat) return am_error_set(err, AM_ERR_ARGUMENT, "no category %d", c);
    const int32_t n = cat->train.count;
    if (k < 1 || k > n)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "%s: cannot draw %d shots from %d normal training images", cat->name,
                            k, n);
    int32_t *pool = am_alloc((size_t)n, sizeof *pool, err);
    if (!pool) return AM_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++) pool[i] = i;
    am_rng rng;
    am_rng_seed(&rng, seed);
    for (int32_t i = 0; i < k; i++) {
        int32_t j = i + (int32_t)am_rng_below(&rng, (uint64_t)(n - i));
        int32_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    memcpy(indices, pool, (size_t)k * sizeof *indices);
    am_free(pool);
    qsort(indices, (size_t)k, sizeof *indices, compare_i32);
    return AM_OK;
}
