/* torchzip.c - PyTorch zip checkpoints (torch.save >= 1.6): the zip
 * directory, the <prefix>/data.pkl pickle, and the walk that finds the
 * tensors in the dicts it builds and checks each against its storage entry
 * <prefix>/data/<key>.
 *
 * Where the tensors are: every dict (or OrderedDict) reachable from the root
 * through dict values is visited depth-first in stored order, each dict once;
 * a dict "holds tensors" when some value is a tensor.  Tensors keep the key
 * they have in the dict that holds them ({'state_dict': {'visual.proj': T}}
 * gives 'visual.proj').  When several dicts hold tensors, a dict whose names
 * collide with names of a dict visited earlier gets its key path prefixed to
 * all its names ({'model': {'w': T}, 'ema': {'w': T}} gives 'w' and 'ema.w'),
 * so the first state dict always keeps its names as stored.  Keys are strings
 * or integers (written in decimal); entries with other keys, and values that
 * are neither tensors nor dicts (numbers, strings, lists, tuples), are
 * ignored.
 *
 * A tensor may address fewer elements than it has (stride 0, as
 * torch.expand makes): its copy is bigger than the file.  The elements such
 * tensors add beyond their storages are bounded in total by
 * MAX_EXPANDED_ELEMENTS, so that a small file cannot demand huge copies. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/pickle.h"
#include "io/weights_internal.h"
#include "io/zip.h"

#define MAX_DICT_DEPTH 64
#define MAX_PREFIX 256
#define MAX_EXPANDED_ELEMENTS ((int64_t)1 << 24)

/* A dict that holds tensors, and its key path from the root. */
typedef struct {
    const am_py_object *dict;
    char *path; /* keys joined with '.'; "" for the root */
    int prefixed;
} tensor_dict;

typedef struct {
    tensor_dict *dicts;
    int64_t count, capacity;
    unsigned char *visited; /* by object id */
    am_error *err;
} walk_state;

/* One tensor's key and the index of the dict that holds it, for collisions. */
typedef struct {
    const am_py_object *key;
    int64_t dict;
} name_ref;

/* The text of a dict key: a string without NUL bytes, or an integer written
 * into buf; NULL for keys of any other kind. */
static const char *key_text(const am_py_object *key, char *buf, size_t size) {
    if (key->kind == AM_PY_STR && strlen(key->u.str.data) == key->u.str.size)
        return key->u.str.data;
    if (key->kind == AM_PY_INT) {
        snprintf(buf, size, "%" PRId64, key->u.integer);
        return buf;
    }
    return NULL;
}

/* *out = "path.key", or "key" when path is empty; malloc'd. */
static am_status join_path(const char *path, const char *key, char **out, am_error *err) {
    size_t pl = strlen(path), kl = strlen(key);
    *out = NULL;
    if (pl + kl + 1 > AM_WEIGHTS_MAX_NAME)
        return am_error_set(err, AM_ERR_LIMIT, "name '%.64s...' longer than %d bytes",
                            pl ? path : key, AM_WEIGHTS_MAX_NAME);
    char *s = malloc(pl + kl + 2);
    if (!s) return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    if (pl) {
        memcpy(s, path, pl);
        s[pl] = '.';
        memcpy(s + pl + 1, key, kl + 1);
    } else {
        memcpy(s, key, kl + 1);
    }
    *out = s;
    return AM_OK;
}

/* Depth-first walk over dicts: records each dict that holds tensors (before
 * its children) with a copy of its path. */
static am_status collect(walk_state *ws, const am_py_object *dict, const char *path, int depth) {
    if (depth > MAX_DICT_DEPTH)
        return am_error_set(ws->err, AM_ERR_LIMIT, "dicts nested deeper than %d levels",
                            MAX_DICT_DEPTH);
    if (ws->visited[dict->id]) return AM_OK;
    ws->visited[dict->id] = 1;
    int64_t n = dict->u.seq.count / 2;
    am_py_object *const *kv = dict->u.seq.items;
    char num[32];
    for (int64_t i = 0; i < n; i++) {
        if (kv[2 * i + 1]->kind == AM_PY_TENSOR && key_text(kv[2 * i], num, sizeof num)) {
            if (ws->count == ws->capacity) {
                int64_t cap = ws->capacity ? ws->capacity * 2 : 8;
                tensor_dict *d = realloc(ws->dicts, (size_t)cap * sizeof *d);
                if (!d) return am_error_set(ws->err, AM_ERR_NOMEM, "out of memory");
                ws->dicts = d;
                ws->capacity = cap;
            }
            char *copy;
            am_status st = join_path("", path, &copy, ws->err);
            if (st != AM_OK) return st;
            ws->dicts[ws->count++] = (tensor_dict){dict, copy, 0};
            break;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        const char *key = key_text(kv[2 * i], num, sizeof num);
        if (kv[2 * i + 1]->kind != AM_PY_DICT || !key) continue;
        char *child;
        am_status st = join_path(path, key, &child, ws->err);
        if (st != AM_OK) return st;
        st = collect(ws, kv[2 * i + 1], child, depth + 1);
        free(child);
        if (st != AM_OK) return st;
    }
    return AM_OK;
}

static int compare_names(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    char nx[32], ny[32];
    int c = strcmp(key_text(x->key, nx, sizeof nx), key_text(y->key, ny, sizeof ny));
    if (c) return c;
    return x->dict < y->dict ? -1 : x->dict > y->dict;
}

/* Marks as prefixed every tensor dict that shares a name with an earlier one. */
static am_status mark_collisions(walk_state *ws) {
    if (ws->count < 2) return AM_OK;
    int64_t total = 0;
    for (int64_t d = 0; d < ws->count; d++)
        total += ws->dicts[d].dict->u.seq.count / 2;
    name_ref *refs = calloc((size_t)total + 1, sizeof *refs);
    if (!refs) return am_error_set(ws->err, AM_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    char num[32];
    for (int64_t d = 0; d < ws->count; d++) {
        const am_py_object *dict = ws->dicts[d].dict;
        for (int64_t i = 0; i + 1 < dict->u.seq.count; i += 2) {
            const am_py_object *key = dict->u.seq.items[i];
            if (dict->u.seq.items[i + 1]->kind == AM_PY_TENSOR && key_text(key, num, sizeof num))
                refs[n++] = (name_ref){key, d};
        }
    }
    qsort(refs, (size_t)n, sizeof *refs, compare_names);
    char na[32], nb[32];
    for (int64_t i = 1; i < n; i++)
        if (refs[i].dict != refs[i - 1].dict &&
            strcmp(key_text(refs[i].key, na, sizeof na),
                   key_text(refs[i - 1].key, nb, sizeof nb)) == 0)
            ws->dicts[refs[i].dict].prefixed = 1;
    free(refs);
    return AM_OK;
}

/* Checks that every element the tensor addresses lies in its storage entry
 * and adds it to the index; *expanded counts elements beyond storages. */
static am_status add_tensor(am_weights *w, const am_zip *zip, const char *prefix, const char *name,
                            const am_py_tensor *t, int64_t *expanded, am_error *err) {
    const am_py_object *s = t->storage;
    am_dtype dtype = s->u.storage.dtype;
    size_t es = am_dtype_size(dtype);
    char entry_name[MAX_PREFIX + 300];
    snprintf(entry_name, sizeof entry_name, "%s/data/%s", prefix, s->u.storage.key);
    const am_zip_entry *e = am_zip_find(zip, entry_name);
    if (!e)
        return am_error_set(err, AM_ERR_FORMAT, "tensor '%s': storage '%s' is not in the archive",
                            name, entry_name);
    int64_t snumel = s->u.storage.numel;
    if (snumel > AM_WEIGHTS_MAX_NUMEL)
        return am_error_set(err, AM_ERR_LIMIT, "tensor '%s': storage of %" PRId64 " elements", name,
                            snumel);
    if (e->size != (uint64_t)snumel * es)
        return am_error_set(err, AM_ERR_FORMAT,
                            "tensor '%s': storage '%s' holds %" PRIu64 " bytes, but %" PRId64
                            " %s elements need %" PRIu64,
                            name, entry_name, e->size, snumel, am_dtype_name(dtype),
                            (uint64_t)snumel * es);
    int64_t numel = am_shape_numel(t->ndim, t->shape);
    if (numel < 0) return am_error_set(err, AM_ERR_LIMIT, "tensor '%s' has a huge shape", name);
    if (numel > 0) {
        /* the last element addressed: offset + sum (shape - 1) * stride */
        int64_t last = t->offset;
        int ok = last < snumel;
        for (int32_t d = 0; d < t->ndim && ok; d++) {
            int64_t remaining = snumel - 1 - last;
            if (t->stride[d] > 0 && t->shape[d] - 1 > remaining / t->stride[d])
                ok = 0;
            else
                last += (t->shape[d] - 1) * t->stride[d];
        }
        if (!ok)
            return am_error_set(err, AM_ERR_FORMAT,
                                "tensor '%s': offset %" PRId64 " with its shape and strides "
                                "reaches past the %" PRId64 " elements of storage '%s'",
                                name, t->offset, snumel, entry_name);
        if (numel > snumel) {
            *expanded += numel;
            if (*expanded > MAX_EXPANDED_ELEMENTS)
                return am_error_set(err, AM_ERR_LIMIT,
                                    "tensor '%s': tensors that repeat storage elements (stride "
                                    "0) add more than %" PRId64 " elements in all",
                                    name, MAX_EXPANDED_ELEMENTS);
        }
    } else if (t->offset > snumel) {
        return am_error_set(err, AM_ERR_FORMAT,
                            "tensor '%s': offset %" PRId64 " past the %" PRId64
                            " elements of storage '%s'",
                            name, t->offset, snumel, entry_name);
    }
    return am_weights_add(w, name, dtype, t->ndim, t->shape, t->stride,
                          e->data + (size_t)t->offset * es, err);
}

/* Adds the tensors of every tensor dict, with names per the rule above. */
static am_status add_all(am_weights *w, const am_zip *zip, const char *prefix, const walk_state *ws,
                         am_error *err) {
    char num[32];
    int64_t expanded = 0;
    for (int64_t d = 0; d < ws->count; d++) {
        const tensor_dict *td = &ws->dicts[d];
        for (int64_t i = 0; i + 1 < td->dict->u.seq.count; i += 2) {
            const am_py_object *value = td->dict->u.seq.items[i + 1];
            const char *key = key_text(td->dict->u.seq.items[i], num, sizeof num);
            if (value->kind != AM_PY_TENSOR || !key) continue;
            char *name;
            am_status st = join_path(td->prefixed ? td->path : "", key, &name, err);
            if (st != AM_OK) return st;
            st = add_tensor(w, zip, prefix, name, value->u.tensor, &expanded, err);
            free(name);
            if (st != AM_OK) return st;
        }
    }
    return AM_OK;
}

/* Finds the one <prefix>/data.pkl entry and copies <prefix> out. */
static am_status find_pickle(const am_zip *zip, const am_zip_entry **pkl, char *prefix,
                             am_error *err) {
    *pkl = NULL;
    for (int64_t i = 0; i < am_zip_count(zip); i++) {
        const am_zip_entry *e = am_zip_at(zip, i);
        const char *slash = strchr(e->name, '/');
        if (!slash || strcmp(slash, "/data.pkl") != 0 || slash == e->name) continue;
        if (*pkl)
            return am_error_set(err, AM_ERR_FORMAT, "two pickles in the archive: '%s' and '%s'",
                                (*pkl)->name, e->name);
        if ((size_t)(slash - e->name) >= MAX_PREFIX)
            return am_error_set(err, AM_ERR_LIMIT, "archive folder name longer than %d bytes",
                                MAX_PREFIX - 1);
        *pkl = e;
        memcpy(prefix, e->name, (size_t)(slash - e->name));
        prefix[slash - e->name] = 0;
    }
    if (!*pkl)
        return am_error_set(err, AM_ERR_FORMAT,
                            "a zip file without <name>/data.pkl: not a PyTorch checkpoint");
    char name[MAX_PREFIX + 32];
    snprintf(name, sizeof name, "%s/constants.pkl", prefix);
    if (am_zip_find(zip, name))
        return am_error_set(err, AM_ERR_UNSUPPORTED,
                            "a TorchScript archive (torch.jit.save); save the model's state_dict "
                            "with torch.save instead");
    snprintf(name, sizeof name, "%s/byteorder", prefix);
    const am_zip_entry *order = am_zip_find(zip, name);
    if (order && !(order->size == 6 && memcmp(order->data, "little", 6) == 0))
        return am_error_set(err, AM_ERR_UNSUPPORTED,
                            "'%s' does not say 'little': big-endian checkpoints are not read",
                            name);
    return AM_OK;
}

am_status am_torchzip_read(am_weights *w, const unsigned char *buf, size_t size, am_error *err) {
    am_zip *zip = NULL;
    am_pickle *pickle = NULL;
    const am_py_object *root = NULL;
    const am_zip_entry *pkl;
    char prefix[MAX_PREFIX];
    walk_state ws = {.err = err};
    am_status st = am_zip_open(buf, size, &zip, err);
    if (st == AM_OK) st = find_pickle(zip, &pkl, prefix, err);
    if (st == AM_OK) {
        st = am_pickle_load(pkl->data, (size_t)pkl->size, &pickle, &root, err);
        if (st != AM_OK) am_error_prefix(err, "%s: ", pkl->name);
    }
    if (st == AM_OK && root->kind != AM_PY_DICT)
        st = am_error_set(err, AM_ERR_UNSUPPORTED,
                          "%s holds a %s, not a dict of tensors (a state dict)", pkl->name,
                          am_pickle_kind_name(root->kind));
    if (st == AM_OK) {
        ws.visited = calloc((size_t)am_pickle_object_count(pickle), 1);
        if (!ws.visited) st = am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    if (st == AM_OK) st = collect(&ws, root, "", 0);
    if (st == AM_OK) st = mark_collisions(&ws);
    if (st == AM_OK) st = add_all(w, zip, prefix, &ws, err);
    for (int64_t i = 0; i < ws.count; i++)
        free(ws.dicts[i].path);
    free(ws.dicts);
    free(ws.visited);
    am_pickle_free(pickle);
    am_zip_close(zip);
    return st;
}
