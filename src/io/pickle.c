/* pickle.c - the pickle virtual machine subset of pickle.h: a stack, a mark
 * stack and a memo, over which each opcode builds plain objects.  Nothing is
 * imported or called: GLOBAL and STACK_GLOBAL resolve names against a fixed
 * whitelist, and REDUCE / NEWOBJ / BUILD / BINPERSID interpret only those. */
#include "io/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define CHUNK_OBJECTS 4096
#define MAX_GLOBAL_NAME 256

struct am_pickle {
    am_py_object **chunks; /* CHUNK_OBJECTS objects each; pointers stay valid */
    int64_t nchunks, chunk_capacity;
    int64_t count;
};

/* The machine's state while one pickle runs. */
typedef struct {
    am_pickle *p;
    const unsigned char *buf;
    size_t size, pos;
    size_t op_pos; /* byte offset of the opcode being run, for messages */
    am_py_object **stack;
    int64_t sp, stack_capacity;
    int64_t *marks; /* stack heights at each open MARK */
    int64_t nmarks;
    am_py_object **memo;
    int64_t memo_capacity, memo_defined;
    am_status last; /* why the last new_object returned NULL */
    am_error *err;
} vm;

static const struct {
    const char *module, *name;
    am_py_global which;
    am_dtype dtype;
} allowed_globals[] = {
    {"collections", "OrderedDict", AM_PY_GLOBAL_ORDERED_DICT, AM_DTYPE_F32},
    {"torch._utils", "_rebuild_tensor_v2", AM_PY_GLOBAL_REBUILD_TENSOR_V2, AM_DTYPE_F32},
    {"torch._utils", "_rebuild_parameter", AM_PY_GLOBAL_REBUILD_PARAMETER, AM_DTYPE_F32},
    {"torch._utils", "_rebuild_parameter_with_state", AM_PY_GLOBAL_REBUILD_PARAMETER_WITH_STATE,
     AM_DTYPE_F32},
    {"torch", "FloatStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_F32},
    {"torch", "HalfStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_F16},
    {"torch", "BFloat16Storage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_BF16},
    {"torch", "DoubleStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_F64},
    {"torch", "LongStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_I64},
    {"torch", "IntStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_I32},
    {"torch", "ShortStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_I16},
    {"torch", "CharStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_I8},
    {"torch", "ByteStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_U8},
    {"torch", "BoolStorage", AM_PY_GLOBAL_STORAGE_TYPE, AM_DTYPE_BOOL},
};

/* Opcodes of the pickle format this reader does not run, named in errors. */
static const struct {
    unsigned char code;
    const char *name;
} unsupported_opcodes[] = {
    {'I', "INT"},        {'L', "LONG"},        {'S', "STRING"},       {'V', "UNICODE"},
    {'F', "FLOAT"},      {'p', "PUT"},         {'g', "GET"},          {'P', "PERSID"},
    {'i', "INST"},       {'o', "OBJ"},         {0x82, "EXT1"},        {0x83, "EXT2"},
    {0x84, "EXT4"},      {0x8f, "EMPTY_SET"},  {0x90, "ADDITEMS"},    {0x91, "FROZENSET"},
    {0x92, "NEWOBJ_EX"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
};

const char *am_pickle_kind_name(am_py_kind kind) {
    static const char *const names[] = {"None",  "bool", "int",  "float",  "str",     "bytes",
                                        "tuple", "list", "dict", "global", "storage", "tensor"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                   */
/* ------------------------------------------------------------------------ */

static am_status fail(vm *m, am_status code, const char *what) {
    return am_error_set(m->err, code, "pickle: %s at byte %zu (opcode 0x%02x)", what, m->op_pos,
                        m->op_pos < m->size ? m->buf[m->op_pos] : 0);
}

/* A new zeroed object of `kind`, or NULL with the error set. */
static am_py_object *new_object(vm *m, am_py_kind kind) {
    am_pickle *p = m->p;
    if (p->count >= AM_PICKLE_MAX_OBJECTS) {
        m->last = am_error_set(m->err, AM_ERR_LIMIT, "pickle: more than %lld objects (at byte %zu)",
                               (long long)AM_PICKLE_MAX_OBJECTS, m->op_pos);
        return NULL;
    }
    if (p->count == p->nchunks * CHUNK_OBJECTS) {
        if (p->nchunks == p->chunk_capacity) {
            int64_t cap = p->chunk_capacity ? p->chunk_capacity * 2 : 8;
            am_py_object **c = realloc(p->chunks, (size_t)cap * sizeof *c);
            if (!c) goto nomem;
            p->chunks = c;
            p->chunk_capacity = cap;
        }
        p->chunks[p->nchunks] = malloc(CHUNK_OBJECTS * sizeof(am_py_object));
        if (!p->chunks[p->nchunks]) goto nomem;
        p->nchunks++;
    }
    am_py_object *o = &p->chunks[p->count / CHUNK_OBJECTS][p->count % CHUNK_OBJECTS];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->id = p->count++;
    return o;
nomem:
    m->last = am_error_set(m->err, AM_ERR_NOMEM, "out of memory");
    return NULL;
}

/* Appends `item` to a tuple, list or dict's item array. */
static am_status seq_append(vm *m, am_py_object *seq, am_py_object *item) {
    if (seq->u.seq.count == seq->u.seq.capacity) {
        int64_t cap = seq->u.seq.capacity ? seq->u.seq.capacity * 2 : 4;
        am_py_object **items = realloc(seq->u.seq.items, (size_t)cap * sizeof *items);
        if (!items) return am_error_set(m->err, AM_ERR_NOMEM, "out of memory");
        seq->u.seq.items = items;
        seq->u.seq.capacity = cap;
    }
    seq->u.seq.items[seq->u.seq.count++] = item;
    return AM_OK;
}

int64_t am_pickle_object_count(const am_pickle *p) {
    return p->count;
}

void am_pickle_free(am_pickle *p) {
    if (!p) return;
    for (int64_t i = 0; i < p->count; i++) {
        am_py_object *o = &p->chunks[i / CHUNK_OBJECTS][i % CHUNK_OBJECTS];
        if (o->kind == AM_PY_STR || o->kind == AM_PY_BYTES)
            free(o->u.str.data);
        else if (o->kind == AM_PY_TUPLE || o->kind == AM_PY_LIST || o->kind == AM_PY_DICT)
            free(o->u.seq.items);
        else if (o->kind == AM_PY_TENSOR)
            free(o->u.tensor);
    }
    for (int64_t i = 0; i < p->nchunks; i++)
        free(p->chunks[i]);
    free(p->chunks);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* Stack, marks, memo, input                                                 */
/* ------------------------------------------------------------------------ */

static int64_t stack_base(const vm *m) {
    return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static am_status push(vm *m, am_py_object *o) {
    if (!o) return m->last;
    if (m->sp == m->stack_capacity) {
        if (m->sp >= AM_PICKLE_MAX_STACK)
            return fail(m, AM_ERR_LIMIT, "stack deeper than the limit");
        int64_t cap = m->stack_capacity ? m->stack_capacity * 2 : 64;
        am_py_object **s = realloc(m->stack, (size_t)cap * sizeof *s);
        if (!s) return am_error_set(m->err, AM_ERR_NOMEM, "out of memory");
        m->stack = s;
        m->stack_capacity = cap;
    }
    m->stack[m->sp++] = o;
    return AM_OK;
}

static am_status pop(vm *m, am_py_object **o) {
    if (m->sp <= stack_base(m)) return fail(m, AM_ERR_FORMAT, "stack underflow");
    *o = m->stack[--m->sp];
    return AM_OK;
}

static am_status top(vm *m, am_py_object **o) {
    if (m->sp <= stack_base(m)) return fail(m, AM_ERR_FORMAT, "stack underflow");
    *o = m->stack[m->sp - 1];
    return AM_OK;
}

/* Closes the innermost MARK: the items above it are stack[*start .. sp). */
static am_status pop_mark(vm *m, int64_t *start) {
    if (m->nmarks == 0) return fail(m, AM_ERR_FORMAT, "no MARK to close");
    *start = m->marks[--m->nmarks];
    return AM_OK;
}

/* Points *p at the next n input bytes and consumes them. */
static am_status take(vm *m, uint64_t n, const unsigned char **p) {
    if (n > m->size - m->pos)
        return fail(m, AM_ERR_FORMAT, "argument runs past the end (truncated?)");
    *p = m->buf + m->pos;
    m->pos += (size_t)n;
    return AM_OK;
}

/* Reads an n-byte little-endian unsigned integer argument (n <= 8). */
static am_status take_uint(vm *m, int n, uint64_t *v) {
    const unsigned char *p = NULL;
    am_status st = take(m, (uint64_t)n, &p);
    if (st != AM_OK) return st;
    *v = 0;
    for (int i = n - 1; i >= 0; i--)
        *v = *v << 8 | p[i];
    return AM_OK;
}

static am_status memo_put(vm *m, uint64_t index) {
    am_py_object *o = NULL;
    am_status st = top(m, &o);
    if (st != AM_OK) return st;
    if (index >= (uint64_t)AM_PICKLE_MAX_MEMO)
        return am_error_set(m->err, AM_ERR_LIMIT,
                            "pickle: memo index %llu at byte %zu is beyond the limit of %lld",
                            (unsigned long long)index, m->op_pos, (long long)AM_PICKLE_MAX_MEMO);
    if ((int64_t)index >= m->memo_capacity) {
        int64_t cap = m->memo_capacity ? m->memo_capacity : 64;
        while (cap <= (int64_t)index)
            cap *= 2;
        am_py_object **memo = realloc(m->memo, (size_t)cap * sizeof *memo);
        if (!memo) return am_error_set(m->err, AM_ERR_NOMEM, "out of memory");
        memset(memo + m->memo_capacity, 0, (size_t)(cap - m->memo_capacity) * sizeof *memo);
        m->memo = memo;
        m->memo_capacity = cap;
    }
    if (!m->memo[index]) m->memo_defined++;
    m->memo[index] = o;
    return AM_OK;
}

static am_status memo_get(vm *m, uint64_t index) {
    if (index >= (uint64_t)m->memo_capacity || !m->memo[index])
        return am_error_set(m->err, AM_ERR_FORMAT,
                            "pickle: memo index %llu read at byte %zu was never stored",
                            (unsigned long long)index, m->op_pos);
    return push(m, m->memo[index]);
}

/* ------------------------------------------------------------------------ */
/* Opcodes that build values                                                 */
/* ------------------------------------------------------------------------ */

static am_status push_int(vm *m, am_py_kind kind, int64_t v) {
    am_py_object *o = new_object(m, kind);
    if (o) o->u.integer = v;
    return push(m, o);
}

/* A string or bytes object of `len` bytes read from the input. */
static am_status push_string(vm *m, am_py_kind kind, uint64_t len) {
    if (len > AM_PICKLE_MAX_STRING)
        return am_error_set(
            m->err, AM_ERR_LIMIT, "pickle: string of %llu bytes at byte %zu (limit %llu)",
            (unsigned long long)len, m->op_pos, (unsigned long long)AM_PICKLE_MAX_STRING);
    const unsigned char *p = NULL;
    am_status st = take(m, len, &p);
    if (st != AM_OK) return st;
    am_py_object *o = new_object(m, kind);
    if (!o) return m->last;
    o->u.str.data = malloc((size_t)len + 1);
    if (!o->u.str.data) return am_error_set(m->err, AM_ERR_NOMEM, "out of memory");
    memcpy(o->u.str.data, p, (size_t)len);
    o->u.str.data[len] = 0;
    o->u.str.size = (size_t)len;
    return push(m, o);
}

/* LONG1 / LONG4: a little-endian two's-complement integer of n bytes. */
static am_status push_long(vm *m, uint64_t n) {
    if (n > 8) return fail(m, AM_ERR_LIMIT, "integer wider than 64 bits");
    const unsigned char *p = NULL;
    am_status st = take(m, n, &p);
    if (st != AM_OK) return st;
    uint64_t v = 0;
    for (uint64_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
    return push_int(m, AM_PY_INT, (int64_t)v);
}

static am_status push_float(vm *m) {
    const unsigned char *p = NULL;
    am_status st = take(m, 8, &p);
    if (st != AM_OK) return st;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | p[i]; /* big-endian */
    am_py_object *o = new_object(m, AM_PY_FLOAT);
    if (o) memcpy(&o->u.real, &bits, sizeof bits);
    return push(m, o);
}

/* A tuple of the top n items (n >= 0), or of the items above the mark. */
static am_status build_tuple(vm *m, int64_t start) {
    am_py_object *t = new_object(m, AM_PY_TUPLE);
    if (!t) return m->last;
    for (int64_t i = start; i < m->sp; i++) {
        am_status st = seq_append(m, t, m->stack[i]);
        if (st != AM_OK) return st;
    }
    m->sp = start;
    return push(m, t);
}

static am_status tuple_n(vm *m, int64_t n) {
    if (m->sp - stack_base(m) < n) return fail(m, AM_ERR_FORMAT, "stack underflow");
    return build_tuple(m, m->sp - n);
}

/* APPEND / APPENDS: the items from `start` go into the list below them. */
static am_status append_items(vm *m, int64_t start) {
    if (start <= stack_base(m)) return fail(m, AM_ERR_FORMAT, "stack underflow");
    am_py_object *list = m->stack[start - 1];
    if (list->kind != AM_PY_LIST) return fail(m, AM_ERR_FORMAT, "APPEND to a non-list");
    for (int64_t i = start; i < m->sp; i++) {
        am_status st = seq_append(m, list, m->stack[i]);
        if (st != AM_OK) return st;
    }
    m->sp = start;
    return AM_OK;
}

/* SETITEM / SETITEMS: key/value pairs from `start` go into the dict below. */
static am_status set_items(vm *m, int64_t start) {
    if (start <= stack_base(m)) return fail(m, AM_ERR_FORMAT, "stack underflow");
    if ((m->sp - start) % 2) return fail(m, AM_ERR_FORMAT, "odd number of dict items");
    am_py_object *dict = m->stack[start - 1];
    if (dict->kind != AM_PY_DICT) return fail(m, AM_ERR_FORMAT, "SETITEM on a non-dict");
    for (int64_t i = start; i < m->sp; i++) {
        am_status st = seq_append(m, dict, m->stack[i]);
        if (st != AM_OK) return st;
    }
    m->sp = start;
    return AM_OK;
}

/* Resolves module.name against the whitelist and pushes the global. */
static am_status push_global(vm *m, const char *module, size_t mlen, const char *name,
                             size_t nlen) {
    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        if (strlen(allowed_globals[i].module) == mlen &&
            memcmp(allowed_globals[i].module, module, mlen) == 0 &&
            strlen(allowed_globals[i].name) == nlen &&
            memcmp(allowed_globals[i].name, name, nlen) == 0) {
            am_py_object *o = new_object(m, AM_PY_GLOBAL);
            if (o) {
                o->u.global.which = allowed_globals[i].which;
                o->u.global.dtype = allowed_globals[i].dtype;
            }
            return push(m, o);
        }
    }
    int ml = mlen > MAX_GLOBAL_NAME ? MAX_GLOBAL_NAME : (int)mlen;
    int nl = nlen > MAX_GLOBAL_NAME ? MAX_GLOBAL_NAME : (int)nlen;
    return am_error_set(m->err, AM_ERR_UNSUPPORTED,
                        "pickle: global '%.*s.%.*s' at byte %zu is not allowed (the reader "
                        "builds only dicts, tensors and storages and never runs code)",
                        ml, module, nl, name, m->op_pos);
}

/* GLOBAL: "module\nname\n" in the input. */
static am_status op_global(vm *m) {
    const char *text = (const char *)m->buf + m->pos;
    size_t avail = m->size - m->pos;
    const char *nl1 = memchr(text, '\n', avail);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', avail - (size_t)(nl1 + 1 - text)) : NULL;
    if (!nl2) return fail(m, AM_ERR_FORMAT, "GLOBAL without two newline-ended names");
    m->pos += (size_t)(nl2 + 1 - text);
    return push_global(m, text, (size_t)(nl1 - text), nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

static am_status op_stack_global(vm *m) {
    am_py_object *name = NULL, *module = NULL;
    am_status st = pop(m, &name);
    if (st == AM_OK) st = pop(m, &module);
    if (st != AM_OK) return st;
    if (name->kind != AM_PY_STR || module->kind != AM_PY_STR)
        return fail(m, AM_ERR_FORMAT, "STACK_GLOBAL on non-strings");
    return push_global(m, module->u.str.data, module->u.str.size, name->u.str.data,
                       name->u.str.size);
}

/* ------------------------------------------------------------------------ */
/* Calls: REDUCE, NEWOBJ, BUILD, BINPERSID                                   */
/* ------------------------------------------------------------------------ */

/* Reads a tuple of at most AM_MAX_DIMS non-negative ints into out[]. */
static am_status int_tuple(vm *m, const am_py_object *t, int64_t *out, int32_t *n,
                           const char *what) {
    if (t->kind != AM_PY_TUPLE) {
        char msg[96];
        snprintf(msg, sizeof msg, "tensor %s is not a tuple", what);
        return fail(m, AM_ERR_FORMAT, msg);
    }
    if (t->u.seq.count > AM_MAX_DIMS)
        return am_error_set(m->err, AM_ERR_LIMIT,
                            "pickle: tensor of %lld dimensions at byte %zu (at most %d)",
                            (long long)t->u.seq.count, m->op_pos, AM_MAX_DIMS);
    for (int64_t i = 0; i < t->u.seq.count; i++) {
        const am_py_object *v = t->u.seq.items[i];
        if (v->kind != AM_PY_INT || v->u.integer < 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "tensor %s holds a negative or non-integer value", what);
            return fail(m, AM_ERR_FORMAT, msg);
        }
        out[i] = v->u.integer;
    }
    *n = (int32_t)t->u.seq.count;
    return AM_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static am_status rebuild_tensor(vm *m, const am_py_object *args) {
    int64_t n = args->u.seq.count;
    am_py_object **a = args->u.seq.items;
    if (n != 6 && n != 7)
        return fail(m, AM_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments");
    if (a[0]->kind != AM_PY_STORAGE)
        return fail(m, AM_ERR_FORMAT, "_rebuild_tensor_v2 of something not a storage");
    if (a[1]->kind != AM_PY_INT || a[1]->u.integer < 0)
        return fail(m, AM_ERR_FORMAT, "tensor storage offset is not a non-negative integer");
    am_py_tensor *t = calloc(1, sizeof *t);
    if (!t) return am_error_set(m->err, AM_ERR_NOMEM, "out of memory");
    int32_t nstride = 0;
    am_status st = int_tuple(m, a[2], t->shape, &t->ndim, "size");
    if (st == AM_OK) st = int_tuple(m, a[3], t->stride, &nstride, "stride");
    if (st == AM_OK && nstride != t->ndim)
        st = fail(m, AM_ERR_FORMAT, "tensor size and stride differ in length");
    am_py_object *o = st == AM_OK ? new_object(m, AM_PY_TENSOR) : NULL;
    if (!o) {
        free(t);
        return st != AM_OK ? st : (m->last);
    }
    t->storage = a[0];
    t->offset = a[1]->u.integer;
    o->u.tensor = t;
    return push(m, o);
}

static am_status op_reduce(vm *m) {
    am_py_object *args = NULL, *fn = NULL;
    am_status st = pop(m, &args);
    if (st == AM_OK) st = pop(m, &fn);
    if (st != AM_OK) return st;
    if (fn->kind != AM_PY_GLOBAL) return fail(m, AM_ERR_FORMAT, "REDUCE of a non-callable");
    if (args->kind != AM_PY_TUPLE) return fail(m, AM_ERR_FORMAT, "REDUCE arguments not a tuple");
    int64_t n = args->u.seq.count;
    switch (fn->u.global.which) {
    case AM_PY_GLOBAL_ORDERED_DICT:
        if (n != 0) return fail(m, AM_ERR_UNSUPPORTED, "OrderedDict called with arguments");
        return push(m, new_object(m, AM_PY_DICT));
    case AM_PY_GLOBAL_REBUILD_TENSOR_V2:
        return rebuild_tensor(m, args);
    case AM_PY_GLOBAL_REBUILD_PARAMETER:
    case AM_PY_GLOBAL_REBUILD_PARAMETER_WITH_STATE:
        if (n != (fn->u.global.which == AM_PY_GLOBAL_REBUILD_PARAMETER ? 3 : 4) ||
            args->u.seq.items[0]->kind != AM_PY_TENSOR)
            return fail(m, AM_ERR_FORMAT, "_rebuild_parameter with bad arguments");
        return push(m, args->u.seq.items[0]);
    case AM_PY_GLOBAL_STORAGE_TYPE:
        break;
    }
    return fail(m, AM_ERR_UNSUPPORTED, "a storage type called as a function");
}

/* NEWOBJ: cls.__new__(cls, *args); only OrderedDict with no arguments. */
static am_status op_newobj(vm *m) {
    am_py_object *args = NULL, *cls = NULL;
    am_status st = pop(m, &args);
    if (st == AM_OK) st = pop(m, &cls);
    if (st != AM_OK) return st;
    if (cls->kind != AM_PY_GLOBAL || cls->u.global.which != AM_PY_GLOBAL_ORDERED_DICT ||
        args->kind != AM_PY_TUPLE || args->u.seq.count != 0)
        return fail(m, AM_ERR_UNSUPPORTED, "NEWOBJ of something other than OrderedDict()");
    return push(m, new_object(m, AM_PY_DICT));
}

/* BUILD: sets an object's state.  The state of dicts (a state dict's
 * _metadata) and tensors carries no weights and is dropped. */
static am_status op_build(vm *m) {
    am_py_object *state = NULL, *obj = NULL;
    am_status st = pop(m, &state);
    if (st == AM_OK) st = top(m, &obj);
    if (st != AM_OK) return st;
    if (obj->kind != AM_PY_DICT && obj->kind != AM_PY_TENSOR)
        return fail(m, AM_ERR_UNSUPPORTED, "BUILD on an object that is not a dict or tensor");
    return AM_OK;
}

/* BINPERSID: ('storage', StorageType, key, location, numel) -> a storage. */
static am_status op_binpersid(vm *m) {
    am_py_object *pid = NULL;
    am_status st = pop(m, &pid);
    if (st != AM_OK) return st;
    if (pid->kind != AM_PY_TUPLE || pid->u.seq.count != 5)
        return fail(m, AM_ERR_UNSUPPORTED,
                    "persistent id is not ('storage', type, key, location, numel)");
    am_py_object **a = pid->u.seq.items;
    if (a[0]->kind != AM_PY_STR || strcmp(a[0]->u.str.data, "storage") != 0)
        return fail(m, AM_ERR_UNSUPPORTED,
                    "persistent id is not ('storage', type, key, location, numel)");
    if (a[1]->kind != AM_PY_GLOBAL || a[1]->u.global.which != AM_PY_GLOBAL_STORAGE_TYPE)
        return fail(m, AM_ERR_FORMAT, "storage type is not a torch storage class");
    if (a[2]->kind != AM_PY_STR || a[2]->u.str.size == 0 || a[2]->u.str.size > 256 ||
        strlen(a[2]->u.str.data) != a[2]->u.str.size || strchr(a[2]->u.str.data, '/'))
        return fail(m, AM_ERR_FORMAT, "storage key is not a plain name");
    if (a[3]->kind != AM_PY_STR) return fail(m, AM_ERR_FORMAT, "storage location not a string");
    if (a[4]->kind != AM_PY_INT || a[4]->u.integer < 0)
        return fail(m, AM_ERR_FORMAT, "storage size is not a non-negative integer");
    am_py_object *o = new_object(m, AM_PY_STORAGE);
    if (o) {
        o->u.storage.dtype = a[1]->u.global.dtype;
        o->u.storage.key = a[2]->u.str.data;
        o->u.storage.numel = a[4]->u.integer;
    }
    return push(m, o);
}

/* ------------------------------------------------------------------------ */
/* The machine                                                               */
/* ------------------------------------------------------------------------ */

static am_status unknown_opcode(vm *m, unsigned char op) {
    for (size_t i = 0; i < sizeof unsupported_opcodes / sizeof unsupported_opcodes[0]; i++)
        if (unsupported_opcodes[i].code == op)
            return am_error_set(m->err, AM_ERR_UNSUPPORTED,
                                "pickle: opcode %s (0x%02x) at byte %zu is not supported",
                                unsupported_opcodes[i].name, op, m->op_pos);
    return am_error_set(m->err, AM_ERR_FORMAT, "pickle: unknown opcode 0x%02x at byte %zu", op,
                        m->op_pos);
}

/* Runs one opcode; sets *done at STOP with the result in *result. */
static am_status step(vm *m, int *done, am_py_object **result) {
    m->op_pos = m->pos;
    unsigned char op = m->buf[m->pos++];
    uint64_t v = 0;
    int64_t start = 0;
    am_py_object *o = NULL;
    am_status st;
    switch (op) {
    case 0x80: /* PROTO */
        if ((st = take_uint(m, 1, &v)) != AM_OK) return st;
        if (v < 2 || v > 5) return fail(m, AM_ERR_UNSUPPORTED, "protocol other than 2-5");
        return AM_OK;
    case 0x95: /* FRAME: a length hint, no content */
        if ((st = take_uint(m, 8, &v)) != AM_OK) return st;
        if (v > m->size - m->pos) return fail(m, AM_ERR_FORMAT, "frame runs past the end");
        return AM_OK;
    case '.': /* STOP */
        if ((st = pop(m, result)) != AM_OK) return st;
        *done = 1;
        return AM_OK;
    case '(': /* MARK */
        if (m->nmarks >= AM_PICKLE_MAX_MARKS)
            return fail(m, AM_ERR_LIMIT, "MARKs nested deeper than the limit");
        m->marks[m->nmarks++] = m->sp;
        return AM_OK;
    case '0': /* POP */
        if (m->sp > stack_base(m)) {
            m->sp--;
            return AM_OK;
        }
        return pop_mark(m, &start);
    case '1': /* POP_MARK */
        if ((st = pop_mark(m, &start)) != AM_OK) return st;
        m->sp = start;
        return AM_OK;
    case '2': /* DUP */
        if ((st = top(m, &o)) != AM_OK) return st;
        return push(m, o);
    case 'N':
        return push(m, new_object(m, AM_PY_NONE));
    case 0x88:
        return push_int(m, AM_PY_BOOL, 1); /* NEWTRUE */
    case 0x89:
        return push_int(m, AM_PY_BOOL, 0); /* NEWFALSE */
    case 'J':                              /* BININT */
        if ((st = take_uint(m, 4, &v)) != AM_OK) return st;
        return push_int(m, AM_PY_INT, (int32_t)(uint32_t)v);
    case 'K': /* BININT1 */
    case 'M': /* BININT2 */
        if ((st = take_uint(m, op == 'K' ? 1 : 2, &v)) != AM_OK) return st;
        return push_int(m, AM_PY_INT, (int64_t)v);
    case 0x8a: /* LONG1 */
    case 0x8b: /* LONG4 */
        if ((st = take_uint(m, op == 0x8a ? 1 : 4, &v)) != AM_OK) return st;
        return push_long(m, v);
    case 'G':
        return push_float(m); /* BINFLOAT */
    case 0x8c:                /* SHORT_BINUNICODE */
    case 'U':                 /* SHORT_BINSTRING */
    case 'C':                 /* SHORT_BINBYTES */
        if ((st = take_uint(m, 1, &v)) != AM_OK) return st;
        return push_string(m, op == 'C' ? AM_PY_BYTES : AM_PY_STR, v);
    case 'X': /* BINUNICODE */
    case 'B': /* BINBYTES */
        if ((st = take_uint(m, 4, &v)) != AM_OK) return st;
        return push_string(m, op == 'B' ? AM_PY_BYTES : AM_PY_STR, v);
    case 'T': /* BINSTRING: signed 4-byte length */
        if ((st = take_uint(m, 4, &v)) != AM_OK) return st;
        if (v & 0x80000000u) return fail(m, AM_ERR_FORMAT, "negative string length");
        return push_string(m, AM_PY_STR, v);
    case 0x8d: /* BINUNICODE8 */
    case 0x8e: /* BINBYTES8 */
        if ((st = take_uint(m, 8, &v)) != AM_OK) return st;
        return push_string(m, op == 0x8e ? AM_PY_BYTES : AM_PY_STR, v);
    case ')':
        return build_tuple(m, m->sp); /* EMPTY_TUPLE */
    case 0x85:
        return tuple_n(m, 1); /* TUPLE1 */
    case 0x86:
        return tuple_n(m, 2); /* TUPLE2 */
    case 0x87:
        return tuple_n(m, 3); /* TUPLE3 */
    case 't':                 /* TUPLE */
        if ((st = pop_mark(m, &start)) != AM_OK) return st;
        return build_tuple(m, start);
    case ']':
        return push(m, new_object(m, AM_PY_LIST)); /* EMPTY_LIST */
    case '}':
        return push(m, new_object(m, AM_PY_DICT)); /* EMPTY_DICT */
    case 'l':                                      /* LIST */
    case 'd':                                      /* DICT */
        if ((st = pop_mark(m, &start)) != AM_OK) return st;
        if ((st = push(m, new_object(m, op == 'l' ? AM_PY_LIST : AM_PY_DICT))) != AM_OK) return st;
        /* the new container sits at the top; move it below its items */
        o = m->stack[m->sp - 1];
        memmove(m->stack + start + 1, m->stack + start,
                (size_t)(m->sp - 1 - start) * sizeof *m->stack);
        m->stack[start] = o;
        return op == 'l' ? append_items(m, start + 1) : set_items(m, start + 1);
    case 'a': /* APPEND */
        if (m->sp <= stack_base(m)) return fail(m, AM_ERR_FORMAT, "stack underflow");
        return append_items(m, m->sp - 1);
    case 'e': /* APPENDS */
        if ((st = pop_mark(m, &start)) != AM_OK) return st;
        return append_items(m, start);
    case 's': /* SETITEM */
        if (m->sp - stack_base(m) < 2) return fail(m, AM_ERR_FORMAT, "stack underflow");
        return set_items(m, m->sp - 2);
    case 'u': /* SETITEMS */
        if ((st = pop_mark(m, &start)) != AM_OK) return st;
        return set_items(m, start);
    case 'q': /* BINPUT */
    case 'r': /* LONG_BINPUT */
        if ((st = take_uint(m, op == 'q' ? 1 : 4, &v)) != AM_OK) return st;
        return memo_put(m, v);
    case 0x94:
        return memo_put(m, (uint64_t)m->memo_defined); /* MEMOIZE */
    case 'h':                                          /* BINGET */
    case 'j':                                          /* LONG_BINGET */
        if ((st = take_uint(m, op == 'h' ? 1 : 4, &v)) != AM_OK) return st;
        return memo_get(m, v);
    case 'c':
        return op_global(m); /* GLOBAL */
    case 0x93:
        return op_stack_global(m); /* STACK_GLOBAL */
    case 'R':
        return op_reduce(m); /* REDUCE */
    case 0x81:
        return op_newobj(m); /* NEWOBJ */
    case 'b':
        return op_build(m); /* BUILD */
    case 'Q':
        return op_binpersid(m); /* BINPERSID */
    default:
        return unknown_opcode(m, op);
    }
}

am_status am_pickle_load(const unsigned char *buf, size_t size, am_pickle **out,
                         const am_py_object **root, am_error *err) {
    *out = NULL;
    *root = NULL;
    vm m = {.buf = buf, .size = size, .err = err};
    m.p = calloc(1, sizeof *m.p);
    m.marks = malloc(AM_PICKLE_MAX_MARKS * sizeof *m.marks);
    if (!m.p || !m.marks) {
        free(m.p);
        free(m.marks);
        return am_error_set(err, AM_ERR_NOMEM, "out of memory");
    }
    am_status st = AM_OK;
    int done = 0;
    am_py_object *result = NULL;
    while (st == AM_OK && !done) {
        if (m.pos >= m.size) {
            st =
                am_error_set(err, AM_ERR_FORMAT,
                             "pickle: ends at byte %zu without a STOP opcode (truncated?)", m.size);
            break;
        }
        st = step(&m, &done, &result);
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (st != AM_OK) {
        am_pickle_free(m.p);
        return st;
    }
    *out = m.p;
    *root = result;
    return AM_OK;
}
