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

/* Reads a PNG or JPEG file (8/16-bit, gray, gray+alpha, RGB, RGBA, palette,
 * CMYK JPEG) into 8-bit RGB (alpha dropped, 16-bit scaled).  Images above
 * `max_pixels` (0: AM_IMAGE_DEFAULT_MAX_PIXELS) are refused with AM_ERR_LIMIT. */
#define AM_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)100000000)
am_status am_image_read(const char *path, int64_t max_pixels, am_image *out, am_error *err);

/* The same from an encoded buffer; `label` names it in messages. */
am_status am_image_decode(const void *data, size_t size, const char *label, int64_t max_pixels,
                          am_image *out, am_error *err);

/* Allocates an uninitialised width x height RGB image. */
am_status am_image_alloc(int32_t width, int32_t height, am_image *out, am_error *err);

void am_image_free(am_image *image);

/* Writes an 8-bit RGB PNG atomically. */
am_status am_image_write_png(const char *path, const am_image *image, am_error *err);

/* Writes a one-channel 8-bit (bits = 8) or 16-bit (bits = 16) PNG atomically;
 * `values` holds width*height samples (uint8_t or uint16_t). */
am_status am_image_write_gray_png(const char *path, const void *values, int32_t width,
                                  int32_t height, int32_t bits, am_error *err);

/* Reads a PNG or JPEG as one 8-bit channel (masks: nonzero = defect); colour
 * images are converted to luma. */
am_status am_image_read_gray(const char *path, int64_t max_pixels, uint8_t **values,
                             int32_t *width, int32_t *height, am_error *err);

/* ANOMEM_SECTION_IMAGE_API */

/* ------------------------------------------------------------------------ */
/* CLIP (OpenCLIP ViT, vision and text towers)                               */
/* ------------------------------------------------------------------------ */

typedef struct am_clip am_clip;

typedef struct {
    am_precision precision;
    int32_t threads;         /* 0: OpenMP's default */
    const char *config_path; /* open_clip model-config JSON; NULL: config.json or
                                open_clip_config.json beside the weights, else inferred */
} am_clip_params;

am_clip_params am_clip_default_params(void);

/* Sizes of a loaded model, all inferred from the weights (or its config). */
typedef struct {
    int32_t image_size;     /* 240 for ViT-B-16-plus-240 */
    int32_t patch_size;     /* 16 */
    int32_t grid;           /* image_size / patch_size: 15 */
    int32_t vision_width;   /* 896 */
    int32_t vision_layers;  /* 12 */
    int32_t vision_heads;   /* 14 */
    int32_t embed_dim;      /* 640 */
    int32_t text_width;     /* 640 */
    int32_t text_layers;    /* 12 */
    int32_t text_heads;     /* 10 */
    int32_t context_length; /* 77 */
    int32_t vocab_size;     /* 49408 */
} am_clip_info;

/* Loads an OpenCLIP model from a state dict (.pt, .bin, .safetensors,
 * optionally under a 'state_dict' key).  A file that is not a CLIP of this
 * family fails with AM_ERR_MODEL naming what is missing. */
am_status am_clip_load(const char *path, const am_clip_params *params, am_clip **out,
                       am_error *err);

/* A seeded random-weight model of the given sizes (info = NULL: the real
 * ViT-B-16-plus-240 architecture).  Its embeddings mean nothing; its local
 * structure is what the demo and tests rely on. */
am_status am_clip_create_random(uint64_t seed, const am_clip_info *info,
                                const am_clip_params *params, am_clip **out, am_error *err);

void am_clip_free(am_clip *clip);

am_clip_info am_clip_get_info(const am_clip *clip);

/* A stable identity of the weights: "<file size>:<hash hex>" of the file, or
 * "random:<seed>" for a random model. */
const char *am_clip_identity(const am_clip *clip);

/* Resizes an RGB image to the model's square input (Pillow bicubic, squash)
 * and normalises with the CLIP mean/std: out is [3][S][S]. */
am_status am_clip_preprocess(const am_clip *clip, const am_image *image, float *out,
                             am_error *err);

/* A set of windows: `count` windows of `size` patches each; patches[w*size + j]
 * is the row-major patch index (0 .. grid*grid-1) of patch j of window w. */
typedef struct {
    int32_t count;
    int32_t size;
    const int32_t *patches;
} am_clip_windows;

/*
 * Encodes n preprocessed images ([n][3][S][S]) in one batch: every window of
 * every set of every image, and the full forward when image_embed or
 * patch_tokens is asked for.  Outputs (any may be NULL):
 *   window_embed  [n][total windows over the sets, in order][embed_dim]
 *   image_embed   [n][embed_dim]        class token after ln_post, @ proj
 *   patch_tokens  [n][grid*grid][vision_width]  after ln_post, not projected
 *   patch_tokens_proj [n][grid*grid][embed_dim]
 * None is normalised.
 */
am_status am_clip_encode_images(am_clip *clip, const float *images, int32_t n,
                                const am_clip_windows *sets, int32_t n_sets, float *window_embed,
                                float *image_embed, float *patch_tokens,
                                float *patch_tokens_proj, am_error *err);

/* Tokenizes text with the CLIP BPE (vocabulary built into the library) into
 * context_length ids: 49406, BPE ids, 49407, zeros; long text is cut and keeps
 * 49407 last. */
am_status am_clip_tokenize(const am_clip *clip, const char *text, int32_t *tokens,
                           am_error *err);

/* Text embeddings of n token rows ([n][context_length]) into [n][embed_dim],
 * pooled at each row's end-of-text token, not normalised. */
am_status am_clip_encode_text(am_clip *clip, const int32_t *tokens, int32_t n, float *embed,
                              am_error *err);

/* ANOMEM_SECTION_CLIP_API */

/* ANOMEM_SECTION_SAM_API */

/* ANOMEM_SECTION_DETECT_API */

/* ANOMEM_SECTION_EVAL_API */

#ifdef __cplusplus
}
#endif

#endif /* ANOMEM_H */
