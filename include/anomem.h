/*
 * anomem.h - the public interface of libanomem.
 *
 * anomem finds defects in images of industrial products from a handful of good
 * images (few-shot) or none (zero-shot), with the multi-scale memory comparison
 * method: CLIP window embeddings compared with text prompts and with memory banks
 * of normal images, after Segment Anything has split a scene into its objects.
 * OpenCLIP and SAM run natively in C on the CPU from their official weight files.
 *
 * OVERVIEW
 *
 *   Every function that can fail returns an am_status (AM_OK is 0) and, when it
 *   fails, fills the caller's am_error with the code and a message that names
 *   the file and what was wrong.  The library never prints and never exits.
 *   Objects are opaque (am_weights, am_clip, ...), created by *_open / *_load /
 *   *_create and released by the matching *_free / *_close.  Parameters come in
 *   structs returned by value from *_default_params().  There is no global
 *   mutable state: two objects can be used from two threads at once; one object
 *   is used by one thread at a time.
 *
 * BASIC USAGE
 *
 *   am_error err = {0};
 *   am_weights *w = NULL;
 *   if (am_weights_open("model.safetensors", &w, &err) != AM_OK) {
 *       fprintf(stderr, "%s\n", err.message);
 *       return 1;
 *   }
 *   for (int64_t i = 0; i < am_weights_count(w); i++) {
 *       const am_tensor_info *t = am_weights_at(w, i);
 *       printf("%s %s\n", t->name, am_dtype_name(t->dtype));
 *   }
 *   const float *data;
 *   if (am_weights_get_f32(w, "visual.proj", &data, &err) != AM_OK) { ... }
 *   am_weights_close(w);
 */
#ifndef ANOMEM_H
#define ANOMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ANOMEM_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                   */
/* ------------------------------------------------------------------------ */

typedef enum {
    AM_OK = 0,
    AM_ERR_ARGUMENT,    /* a parameter is out of its range */
    AM_ERR_IO,          /* a file could not be opened, read or written */
    AM_ERR_FORMAT,      /* a file's contents are malformed */
    AM_ERR_UNSUPPORTED, /* well-formed, but a feature anomem does not read */
    AM_ERR_LIMIT,       /* a size or count beyond anomem's bounds */
    AM_ERR_NOMEM,       /* an allocation failed */
    AM_ERR_MODEL,       /* weights do not describe the expected model */
    AM_ERR_MISMATCH,    /* inputs that must agree do not (e.g. a model fitted with another CLIP) */
    AM_ERR_NOT_FOUND,   /* a named item does not exist */
    AM_ERR_INTERRUPTED, /* stopped on request */
} am_status;

#define AM_ERROR_MESSAGE_SIZE 512

/* The error of one failed call: its code and a message for a person. */
typedef struct {
    am_status code;
    char message[AM_ERROR_MESSAGE_SIZE];
} am_error;

/* A short constant description of a status code ("format error", ...). */
const char *am_status_string(am_status status);

/* ------------------------------------------------------------------------ */
/* Tensors in weight files                                                   */
/* ------------------------------------------------------------------------ */

typedef enum {
    AM_DTYPE_F64,
    AM_DTYPE_F32,
    AM_DTYPE_F16,
    AM_DTYPE_BF16,
    AM_DTYPE_F8_E4M3,
    AM_DTYPE_F8_E5M2,
    AM_DTYPE_I64,
    AM_DTYPE_I32,
    AM_DTYPE_I16,
    AM_DTYPE_I8,
    AM_DTYPE_U64,
    AM_DTYPE_U32,
    AM_DTYPE_U16,
    AM_DTYPE_U8,
    AM_DTYPE_BOOL,
    AM_DTYPE_COUNT
} am_dtype;

/* Name of a dtype as safetensors spells it ("F32", "BF16", ...). */
const char *am_dtype_name(am_dtype dtype);

/* Size in bytes of one element of a dtype. */
size_t am_dtype_size(am_dtype dtype);

#define AM_MAX_DIMS 8

/* What a weight file says about one tensor. */
typedef struct {
    const char *name;
    am_dtype dtype;
    int32_t ndim;
    int64_t shape[AM_MAX_DIMS];
    int64_t numel;
} am_tensor_info;

/* An open weight file: safetensors or a PyTorch zip checkpoint (torch.save). */
typedef struct am_weights am_weights;

/*
 * Opens a weight file, recognising the format from its first bytes, and
 * validates its whole index (names, dtypes, shapes, offsets).  The file is
 * mapped, not read: tensors stored as asked for are returned without a copy.
 * Tensors of a PyTorch checkpoint keep their names; a state dict nested under
 * keys such as 'state_dict' or 'model' is found and its names kept as stored.
 */
am_status am_weights_open(const char *path, am_weights **out, am_error *err);

/* The same over a buffer the caller keeps alive until am_weights_close;
 * `label` names it in messages. */
am_status am_weights_open_memory(const void *data, size_t size, const char *label,
                                 am_weights **out, am_error *err);

void am_weights_close(am_weights *weights);

/* Number of tensors; am_weights_at(i) lists them sorted by name. */
int64_t am_weights_count(const am_weights *weights);
const am_tensor_info *am_weights_at(const am_weights *weights, int64_t index);

/* The tensor called `name`, or NULL. */
const am_tensor_info *am_weights_find(const am_weights *weights, const char *name);

/* "safetensors" or "pytorch". */
const char *am_weights_format(const am_weights *weights);

/* A string of the file's metadata (safetensors `__metadata__`), or NULL. */
const char *am_weights_metadata(const am_weights *weights, const char *key);

/* Path or label the weights were opened from. */
const char *am_weights_path(const am_weights *weights);

/*
 * The data of tensor `name` as contiguous float32 in row-major order.
 * Stored F32 that is contiguous and aligned is returned in place (zero-copy);
 * F64/F16/BF16 and non-contiguous tensors are converted once and kept until
 * am_weights_close.  Integer tensors are refused (AM_ERR_MODEL).
 */
am_status am_weights_get_f32(am_weights *weights, const char *name, const float **data,
                             am_error *err);

/*
 * The stored bytes of tensor `name`, contiguous, row-major, little-endian, in
 * its own dtype (a copy is made once for non-contiguous PyTorch tensors).
 */
am_status am_weights_get_raw(am_weights *weights, const char *name, const void **data,
                             size_t *nbytes, am_error *err);

/* ------------------------------------------------------------------------ */
/* Numeric precision                                                         */
/* ------------------------------------------------------------------------ */

typedef enum {
    AM_PRECISION_F32 = 0, /* OpenBLAS sgemm */
    AM_PRECISION_BF16 = 1 /* oneDNN bf16 matmul; norms, softmax and sums stay in f32 */
} am_precision;

/* ------------------------------------------------------------------------ */
/* Images                                                                    */
/* ------------------------------------------------------------------------ */

/* An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC). */
typedef struct {
    int32_t width;
    int32_t height;
    uint8_t *data; /* width * height * 3 bytes, owned */
} am_image;

/* ANOMEM_SECTION_IMAGE_API */

/* ANOMEM_SECTION_CLIP_API */

/* ANOMEM_SECTION_SAM_API */

/* ANOMEM_SECTION_DETECT_API */

/* ANOMEM_SECTION_EVAL_API */

#ifdef __cplusplus
}
#endif

#endif /* ANOMEM_H */
