/* pickle.h - a pickle reader for PyTorch checkpoints that never executes
 * anything: the protocol 2-5 opcodes torch.save emits, a whitelist of globals
 * (OrderedDict, the tensor/parameter rebuild functions, the storage types),
 * and torch's persistent ids for storages.  The result is a graph of plain
 * objects (numbers, strings, tuples, lists, dicts, storages, tensors). */
#ifndef AM_IO_PICKLE_H
#define AM_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "anomem.h"

/* Bounds on what a pickle may build. */
#define AM_PICKLE_MAX_STACK ((int64_t)1 << 20)
#define AM_PICKLE_MAX_MARKS 1024 /* nesting of MARK ... TUPLE/LIST/DICT/SETITEMS */
#define AM_PICKLE_MAX_MEMO ((int64_t)1 << 20)
#define AM_PICKLE_MAX_OBJECTS ((int64_t)1 << 22)
#define AM_PICKLE_MAX_STRING ((uint64_t)16 << 20)

typedef enum {
    AM_PY_NONE,
    AM_PY_BOOL,
    AM_PY_INT,
    AM_PY_FLOAT,
    AM_PY_STR,
    AM_PY_BYTES,
    AM_PY_TUPLE,
    AM_PY_LIST,
    AM_PY_DICT,    /* dict or collections.OrderedDict */
    AM_PY_GLOBAL,  /* one of the whitelisted callables or classes */
    AM_PY_STORAGE, /* a torch storage: archive/data/<key> */
    AM_PY_TENSOR
} am_py_kind;

typedef enum {
    AM_PY_GLOBAL_ORDERED_DICT,
    AM_PY_GLOBAL_REBUILD_TENSOR_V2,
    AM_PY_GLOBAL_REBUILD_PARAMETER,
    AM_PY_GLOBAL_REBUILD_PARAMETER_WITH_STATE,
    AM_PY_GLOBAL_STORAGE_TYPE /* torch.FloatStorage etc.; the dtype says which */
} am_py_global;

typedef struct am_py_object am_py_object;

/* A tensor as _rebuild_tensor_v2 describes it: a view of a storage. */
typedef struct {
    const am_py_object *storage; /* kind AM_PY_STORAGE */
    int64_t offset;              /* in elements */
    int32_t ndim;
    int64_t shape[AM_MAX_DIMS];
    int64_t stride[AM_MAX_DIMS]; /* in elements, >= 0 */
} am_py_tensor;

struct am_py_object {
    am_py_kind kind;
    int64_t id; /* 0 .. am_pickle_object_count() - 1, in creation order */
    union {
        int64_t integer; /* BOOL (0 or 1), INT */
        double real;     /* FLOAT */
        struct {
            char *data; /* NUL-terminated copy; may hold NUL bytes too */
            size_t size;
        } str; /* STR, BYTES */
        struct {
            am_py_object **items;
            int64_t count, capacity;
        } seq; /* TUPLE, LIST; DICT holds key, value, key, value ... in stored order */
        struct {
            am_py_global which;
            am_dtype dtype; /* for AM_PY_GLOBAL_STORAGE_TYPE */
        } global;
        struct {
            am_dtype dtype;
            const char *key; /* the storage's name in the archive's data/ folder */
            int64_t numel;   /* elements of dtype */
        } storage;
        am_py_tensor *tensor;
    } u;
};

typedef struct am_pickle am_pickle;

/*
 * Runs the pickle buf[0..size) up to its STOP opcode and returns the object
 * it built in *root, owned by *out.  Unknown opcodes, globals outside the
 * whitelist, malformed arguments and exceeded bounds are errors naming the
 * opcode or global and the byte offset.
 */
am_status am_pickle_load(const unsigned char *buf, size_t size, am_pickle **out,
                         const am_py_object **root, am_error *err);

/* Number of objects built (ids run from 0 to this - 1). */
int64_t am_pickle_object_count(const am_pickle *pickle);

void am_pickle_free(am_pickle *pickle);

/* A short name for an object kind ("dict", "tensor", ...), for messages. */
const char *am_pickle_kind_name(am_py_kind kind);

#endif
