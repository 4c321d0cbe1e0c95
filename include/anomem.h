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
 * CMYK JPEG) into 8-bit RGB, as Pillow's open().convert("RGB"): the format
 * is told by the first bytes, not the name; alpha is dropped (not
 * composited); 16-bit samples keep their high byte; gamma, ICC profiles and
 * the EXIF orientation are ignored.  Truncated or corrupt files fail with
 * AM_ERR_FORMAT.  Images above `max_pixels` (0: AM_IMAGE_DEFAULT_MAX_PIXELS)
 * are refused with AM_ERR_LIMIT before their pixels are allocated. */
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
 * images are converted to luma as Pillow's convert("L") (palette images by
 * their colours, not their indices); release `values` with am_free. */
am_status am_image_read_gray(const char *path, int64_t max_pixels, uint8_t **values,
                             int32_t *width, int32_t *height, am_error *err);

/* Writes `size` bytes to `path` atomically (a temporary file beside it, then
 * rename): readers never see a partial file. */
am_status am_write_file(const char *path, const void *data, size_t size, am_error *err);

/* Creates a folder and any missing parents (like mkdir -p); an existing
 * folder is fine, an existing file of that name is an error. */
am_status am_make_dirs(const char *path, am_error *err);

/* ANOMEM_SECTION_IMAGE_API */

/* ------------------------------------------------------------------------ */
/* CLIP (OpenCLIP ViT, vision and text towers)                               */
/* ------------------------------------------------------------------------ */

typedef struct am_clip am_clip;
typedef struct am_sam am_sam; /* Segment Anything: see the SAM section */

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

/* The windows of size x size patches over a grid x grid patch grid, moved by
 * `stride` patches: *count windows enumerated row-major by their top-left
 * patch, each listing its size*size row-major patch indices (row * grid +
 * col), as am_clip_windows.patches wants them.  Release *patches with am_free. */
am_status am_clip_make_windows(int32_t grid, int32_t size, int32_t stride, int32_t **patches,
                               int32_t *count, am_error *err);

/* Releases memory that the library allocated and handed to the caller. */
void am_free(void *p);

/* ANOMEM_SECTION_CLIP_API */

/* ------------------------------------------------------------------------ */
/* SAM (Segment Anything: image encoder, prompt encoder, mask decoder, and   */
/* the automatic mask generator), as the official segment-anything computes */
/* ------------------------------------------------------------------------ */

typedef struct {
    am_precision precision;  /* bf16: the large GEMMs (encoder, upscaling); sums stay f32 */
    int32_t threads;         /* 0: OpenMP's default; else set for the calling thread */
    const char *config_path; /* config JSON (the vector folders' key names); NULL: a
                                config.json beside the weights if it describes a SAM */
} am_sam_params;

am_sam_params am_sam_default_params(void);

/* Sizes of a loaded model. */
typedef struct {
    int32_t image_size;    /* padded input side S: 1024 */
    int32_t grid;          /* embedding side G = S / 16: 64 */
    int32_t encoder_width; /* 768 vit_b, 1024 vit_l, 1280 vit_h */
    int32_t encoder_depth; /* 12 / 24 / 32 */
    int32_t embed_dim;     /* prompt and decoder width: 256 */
    int32_t lowres_size;   /* side of low-resolution masks and mask inputs: 4 G = 256 */
    int32_t mask_tokens;   /* 4: token 0 single-mask output, 1..3 multimask */
} am_sam_info;

/* Loads a SAM state dict (sam_vit_{b,l,h}_*.pth, or the same in
 * safetensors): sizes inferred from the tensors; a file that is not a SAM
 * fails with AM_ERR_MODEL naming what is missing. */
am_status am_sam_load(const char *path, const am_sam_params *params, am_sam **out,
                      am_error *err);

/* The real architecture of "vit_b", "vit_l" or "vit_h" with seeded random
 * weights (for benchmarks and tests: its masks mean nothing). */
am_status am_sam_create_random(const char *variant, uint64_t seed, const am_sam_params *params,
                               am_sam **out, am_error *err);

void am_sam_free(am_sam *sam);

am_sam_info am_sam_get_info(const am_sam *sam);

/* "<file size>:<hash hex>" of the weight file, or "random:<variant>:<seed>". */
const char *am_sam_identity(const am_sam *sam);

/* Encodes an image for am_sam_predict (SamPredictor.set_image: resize the
 * long side to S with Pillow's bilinear, normalise, pad, run the encoder). */
am_status am_sam_set_image(am_sam *sam, const am_image *image, am_error *err);

/* A prompt in pixels of the image given to am_sam_set_image. */
typedef struct {
    const float *points;     /* [n_points][2] (x = column, y = row), or NULL */
    const int32_t *labels;   /* [n_points]: 1 foreground, 0 background, -1 ignored */
    int32_t n_points;
    const float *box;        /* [4] x0, y0, x1, y1, or NULL */
    const float *mask_input; /* [lowres_size][lowres_size] logits (an earlier
                                prediction's lowres), or NULL */
} am_sam_prompt;

/* Masks of one prompt; free with am_sam_prediction_free. */
typedef struct {
    int32_t count;         /* 3 with multimask (tokens 1..3), else 1 (token 0) */
    int32_t width, height; /* of the image */
    int32_t lowres_size;
    float *logits; /* [count][height][width]: the mask is logit > 0 */
    float *iou;    /* [count] predicted IoU */
    float *lowres; /* [count][lowres_size][lowres_size] decoder logits */
} am_sam_prediction;

/* SamPredictor.predict(..., return_logits=True) on the image set last. */
am_status am_sam_predict(am_sam *sam, const am_sam_prompt *prompt, int32_t multimask,
                         am_sam_prediction *out, am_error *err);

void am_sam_prediction_free(am_sam_prediction *pred);

/* The automatic mask generator's parameters (SamAutomaticMaskGenerator's,
 * same names and defaults).  Thresholds are doubles as in Python; the IoU
 * and stability filters compare in float32, the box NMS in double. */
typedef struct {
    int32_t points_per_side;        /* 32; 0 when point_grids is given */
    int32_t points_per_batch;       /* 64 (speed and memory only) */
    double pred_iou_thresh;         /* 0.88; filter only if > 0 */
    double stability_score_thresh;  /* 0.95; filter only if > 0 */
    double stability_score_offset;  /* 1.0 */
    double box_nms_thresh;          /* 0.7 */
    int32_t crop_n_layers;          /* 0 */
    double crop_nms_thresh;         /* 0.7 */
    double crop_overlap_ratio;      /* 512 / 1500 */
    int32_t crop_n_points_downscale_factor; /* 1 */
    const double *const *point_grids; /* NULL, or crop_n_layers + 1 grids of (x, y) in [0, 1] */
    const int32_t *point_grid_sizes;  /* points of each grid */
    int64_t min_mask_region_area;     /* 0; > 0 removes smaller holes and islands */
} am_amg_params;

am_amg_params am_amg_default_params(void);

/* One generated mask, as the official record. */
typedef struct {
    uint8_t *mask;          /* height * width, 1 inside */
    int64_t area;           /* pixels inside */
    int32_t bbox[4];        /* x, y, w, h with w = x1 - x0, h = y1 - y0 (inclusive corners) */
    float predicted_iou;
    double point[2];        /* the prompt point (x, y) in image pixels */
    float stability_score;
    int32_t crop_box[4];    /* x, y, w, h of the crop it came from */
} am_sam_mask;

/* The generator's masks in output order; free with am_sam_masks_free. */
typedef struct {
    int32_t count;
    int32_t width, height;
    am_sam_mask *masks;
} am_sam_masks;

/* SamAutomaticMaskGenerator.generate(image): point grid, per-crop encoding
 * and batched decoding, IoU and stability filters, box NMS, cross-crop NMS,
 * small-region clean-up.  Replaces the image of am_sam_set_image. */
am_status am_sam_generate(am_sam *sam, const am_image *image, const am_amg_params *params,
                          am_sam_masks *out, am_error *err);

void am_sam_masks_free(am_sam_masks *masks);

/* ANOMEM_SECTION_SAM_API */

/* ------------------------------------------------------------------------ */
/* The detector: zero-shot and few-shot multi-scale memory comparison        */
/* ------------------------------------------------------------------------ */

/* Augmentations of the few-shot references (bit flags). */
enum {
    AM_AUG_IDENTITY = 1 << 0,
    AM_AUG_HFLIP = 1 << 1,
    AM_AUG_VFLIP = 1 << 2,
    AM_AUG_ROTATE_POS = 1 << 3,   /* + rotate_degrees */
    AM_AUG_ROTATE_NEG = 1 << 4,   /* - rotate_degrees */
    AM_AUG_TRANSLATE = 1 << 5,    /* four shifts of +-translate_fraction in x and y */
    AM_AUG_ALL = (1 << 6) - 1
};

typedef enum {
    AM_SUBSAMPLE_RANDOM = 0, /* seeded random subset (the paper) */
    AM_SUBSAMPLE_CORESET = 1 /* greedy k-center coreset (PatchCore) */
} am_subsample;

/* Every choice of the method, with the paper's values as defaults. */
typedef struct {
    /* windows (in patches) and their stride */
    int32_t small_window;  /* 2 */
    int32_t mid_window;    /* 3 */
    int32_t window_stride; /* 1 */
    float temperature;     /* 0.07: softmax temperature of text scores */
    /* zero-shot map (Eq. 3) */
    float zs_small_weight; /* 1.8 */
    float zs_mid_weight;   /* 0.2 */
    /* few-shot maps (Eq. 6) and fusion (Eq. 9) */
    float global_small_weight, global_mid_weight, global_image_weight; /* 1, 1, 1 */
    float indiv_small_weight, indiv_mid_weight, indiv_image_weight;    /* 1.5, 0.5, 6 */
    float global_weight; /* 0.55 */
    float indiv_weight;  /* 0.45 */
    /* memory */
    int64_t memory_capacity; /* 100000 embeddings per bank part */
    am_subsample subsample;  /* AM_SUBSAMPLE_RANDOM */
    float memory_ratio;      /* coreset: keep this fraction (0: capacity only) */
    int64_t memory_budget_mb; /* 4096: all banks together while fitting; a run
                                 that needs more stops with AM_ERR_LIMIT (not
                                 stored in model files) */
    uint32_t augmentations;  /* AM_AUG_ALL */
    float rotate_degrees;    /* 10 */
    float translate_fraction; /* 0.05 */
    uint64_t seed;           /* 0 */
    /* object decomposition (DESIGN 2.3) */
    int32_t use_objects;       /* 1 */
    int32_t max_objects;       /* 32 */
    float max_object_fraction; /* 0.5 */
    float min_object_fraction; /* 0.0005 */
    float nested_fraction;     /* 0.8 */
    float crop_grow;           /* 0.1 */
    /* output */
    float smooth_sigma; /* 0: Gaussian smoothing of the final map off */
    am_precision search_precision; /* memory-bank search GEMMs: AM_PRECISION_F32 */
} am_detector_params;

am_detector_params am_detector_default_params(void);

/* Sets one parameter by its field name ("seed", "indiv_image_weight", ...;
 * subsample takes "random" or "coreset") from text, validating the number. */
am_status am_detector_params_set(am_detector_params *params, const char *name,
                                 const char *value, am_error *err);

typedef struct am_detector am_detector;

/*
 * A detector over a CLIP model and, optionally, a SAM model (NULL: the
 * classical segmenter splits scenes).  Both stay owned by the caller and must
 * outlive the detector.  `object_name` is the noun of the text prompts
 * ("candle"); the text embeddings are computed here.
 */
am_status am_detector_create(am_clip *clip, am_sam *sam, const char *object_name,
                             const am_detector_params *params, am_detector **out,
                             am_error *err);

void am_detector_free(am_detector *det);

/* Builds the memory banks from k normal reference images (few-shot).  Without
 * a fit the detector is zero-shot. */
am_status am_detector_fit(am_detector *det, const am_image *references, int32_t k,
                          am_error *err);

/* The same one reference at a time, so only one image need be in memory:
 * begin empties the banks, add encodes one image (every augmentation), end
 * caps the banks and builds the search index.  am_detector_fit is begin, an
 * add per image, end; both give the same banks.  A failed add leaves the fit
 * unfinished: begin again. */
am_status am_detector_fit_begin(am_detector *det, am_error *err);
am_status am_detector_fit_add(am_detector *det, const am_image *reference, am_error *err);
am_status am_detector_fit_end(am_detector *det, am_error *err);

/* 1 after a successful fit (or load of a fitted model). */
int32_t am_detector_is_fitted(const am_detector *det);

/* How many embeddings the memory banks hold, all six parts together, and how
 * many the last fit offered them (kept < seen: capped to memory_capacity or
 * memory_ratio; seen is 0 for a loaded model). */
void am_detector_bank_counts(const am_detector *det, int64_t *kept, int64_t *seen);

/* One object found in an image: its box (x, y, w, h) in pixels and area. */
typedef struct {
    int32_t x, y, w, h;
    int64_t area;
} am_object_box;

/* The result for one image. */
typedef struct {
    float score;          /* A(x) */
    int32_t width, height; /* of the map = of the image */
    float *map;           /* width * height anomaly map S(x), row-major */
    int32_t n_objects;
    am_object_box *objects;
} am_prediction;

/* Scores an image: decomposition, one CLIP batch over all crops and windows,
 * text and memory comparison, fusion. */
am_status am_detector_predict(am_detector *det, const am_image *image, am_prediction *out,
                              am_error *err);

void am_prediction_free(am_prediction *pred);

/* Saves the fitted detector (parameters, object name, text embeddings, memory
 * banks, CLIP and SAM identities) atomically to `path`. */
am_status am_detector_save(const am_detector *det, const char *path, am_error *err);

/* Loads a fitted model file for the given CLIP (and SAM, may be NULL); a CLIP
 * (or SAM) other than the one it was fitted with is refused (AM_ERR_MISMATCH). */
am_status am_detector_load(const char *path, am_clip *clip, am_sam *sam, am_detector **out,
                           am_error *err);

/* What a model file says without loading the models: object name, CLIP and
 * SAM identities (empty when none).  Strings are copied into the buffers. */
am_status am_detector_peek(const char *path, char *object_name, size_t object_size,
                           char *clip_identity, size_t clip_size, char *sam_identity,
                           size_t sam_size, am_error *err);

/* The readable object name of a known MVTec AD or VisA category ("pcb1" ->
 * "printed circuit board"), or the category itself. */
const char *am_category_object_name(const char *category);

/* Splits an image into objects as the detector would (SAM if given, else the
 * classical segmenter, then the selection rules); boxes largest first.
 * Free *boxes with am_boxes_free. */
am_status am_detect_objects(am_sam *sam, const am_image *image, const am_detector_params *params,
                            am_object_box **boxes, int32_t *n_boxes, am_error *err);
void am_boxes_free(am_object_box *boxes);

/* The selection rules applied to masks the SAM generator made (as
 * am_detect_objects does with SAM): boxes largest first. */
am_status am_objects_from_sam_masks(const am_sam_masks *masks, const am_detector_params *params,
                                    am_object_box **boxes, int32_t *n_boxes, am_error *err);

/* Writes an anomaly map as a 16-bit gray PNG: pixel = round(value / scale),
 * with scale = max(map) / 65535 (1 when the map is all zero) returned in
 * *scale so that value = pixel * scale recovers the map. */
am_status am_map_write_png16(const char *path, const float *map, int32_t width, int32_t height,
                             double *scale, am_error *err);

/* Writes a colour overlay: the image blended with a colour-mapped anomaly map
 * (values from 0 to vmax; vmax <= 0: the map's own maximum). */
am_status am_map_write_overlay(const char *path, const am_image *image, const float *map,
                               float vmax, am_error *err);

/* ANOMEM_SECTION_DETECT_API */

/* ------------------------------------------------------------------------ */
/* Evaluation metrics                                                        */
/* ------------------------------------------------------------------------ */

/*
 * Every value equals scikit-learn 1.2's on the same scores (roc_auc_score,
 * average_precision_score, the maximum of 2PR/(P+R) over the thresholds of
 * precision_recall_curve), ties entering together at one threshold.  AUPRO is
 * the exact curve of the MVTec AD evaluation: every distinct score is a
 * threshold, ground-truth regions are 8-connected per image, PRO is the mean
 * over regions of the fraction of the region at or above the threshold, FPR is
 * over normal pixels; PRO d(FPR) is integrated with the trapezoid rule from 0 to
 * the FPR limit (interpolated linearly there) and divided by the limit.
 * Scores are sorted once (radix); the working memory is at most 8 bytes per
 * normal and 16 per anomalous pixel on top of the caller's maps.
 *
 * Labels that leave a metric undefined (one class only, no pixels, no
 * ground-truth region) are not an error: the value is NaN and its bit is set
 * in `undefined`.  A score that is NaN or infinite is an error.
 */

/* Bits of `undefined`. */
#define AM_METRIC_AUROC 1u
#define AM_METRIC_AP 2u
#define AM_METRIC_F1MAX 4u
#define AM_METRIC_AUPRO 8u

/* A curve for plotting, downsampled so that consecutive points are at least
 * a (growing) distance apart in x or y; the first and last points are exact. */
#define AM_CURVE_MAX_POINTS 256
typedef struct {
    int32_t n;
    float x[AM_CURVE_MAX_POINTS];
    float y[AM_CURVE_MAX_POINTS];
} am_curve;

typedef struct {
    double auroc, ap, f1max;
    float f1_threshold;  /* lowest score counted anomalous at F1-max */
    uint32_t undefined;  /* AM_METRIC_* bits of the NaN values */
    int64_t n_normal, n_anomalous;
    am_curve roc;        /* x = FPR, y = TPR, from (0, 0) */
    am_curve pr;         /* x = recall, y = precision */
} am_image_metrics;

/* Image-level metrics of n scores; labels are 0 (normal) or 1 (anomalous). */
am_status am_metrics_image(const float *scores, const uint8_t *labels, int64_t n,
                           am_image_metrics *out, am_error *err);

typedef struct {
    double auroc, ap, f1max, aupro;
    float f1_threshold; /* lowest score counted anomalous at F1-max */
    uint32_t undefined; /* AM_METRIC_* bits of the NaN values */
    double fpr_limit;
    int64_t n_normal, n_anomalous; /* pixels */
    int64_t n_regions;             /* 8-connected ground-truth regions */
    am_curve roc, pr;
    am_curve pro;                  /* x = FPR (0 .. fpr_limit), y = PRO */
} am_pixel_metrics;

#define AM_AUPRO_DEFAULT_FPR_LIMIT 0.3

/*
 * Pixel-level metrics over n_images anomaly maps and ground-truth masks, all
 * width x height (row-major): maps[i] are float scores, masks[i] nonzero for
 * defect pixels, or NULL for an image without defects.  fpr_limit in (0, 1]
 * bounds the AUPRO integral.
 */
am_status am_metrics_pixel(const float *const *maps, const uint8_t *const *masks,
                           int32_t n_images, int32_t width, int32_t height, double fpr_limit,
                           am_pixel_metrics *out, am_error *err);

/* Writes a synthetic inspection set in the MVTec AD layout under `root`
 * (categories "pills", "washers", "bars": three products on a plain
 * background; defects scratch, missing, stain, colour with masks), size x size
 * pixels, fully determined by `seed`. */
am_status am_synth_write(const char *root, uint64_t seed, int32_t n_train, int32_t n_good_test,
                         int32_t n_per_defect, int32_t size, am_error *err);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A dataset is a list of categories, each with its normal training images
 * (the pool k-shot references are drawn from) and its test images with label,
 * defect type and ground-truth mask.  Layouts:
 *
 *   MVTec AD  ROOT/<cat>/train/good/NNN.png, ROOT/<cat>/test/<defect>/NNN.png,
 *             ROOT/<cat>/ground_truth/<defect>/NNN_mask.png ("good" is
 *             normal and has no mask; every other image needs its mask).
 *             Without train/good the category has no training images (zero-
 *             shot only).  ROOT may also be one category folder itself.
 *   VisA      ROOT/split_csv/1cls.csv (object,split,label,image,mask; paths
 *             relative to ROOT; label normal/anomaly; the mask column empty for
 *             normal images, required for anomalies).  Defect type: "anomaly".
 *   folder    ROOT/good/ (normal) and any other sub-folders (anomalous, the
 *             folder name is the defect type); optional ROOT/masks/ holding
 *             masks/<defect>/<stem>.png or masks/<stem>.png (also
 *             <stem>_mask.png; PNG or JPEG): when masks/ exists every anomalous
 *             image needs one.  Training images: ROOT/train/good/ or ROOT/train/
 *             if present; otherwise the good/ images, which then stay in the
 *             test list with train_index set: leave out those drawn as shots.
 *             ROOT may also hold several such folders, one per category.
 *
 * Images are PNG or JPEG (.png .jpg .jpeg, any case); hidden files and other
 * files are ignored, except BMP/TIFF/WebP/GIF images, which are refused.
 * Every list is sorted by path (byte order), so the order and the k-shot draw
 * are the same on every machine.  Normal images have defect type "good".
 * am_dataset_open checks that every listed image and mask is a regular file
 * before returning and reports all problems in one message (the first few by
 * path, then a count).
 */
typedef enum {
    AM_DATASET_AUTO = 0, /* detect: split_csv/1cls.csv, good/, or <cat>/test */
    AM_DATASET_MVTEC,
    AM_DATASET_VISA,
    AM_DATASET_FOLDER
} am_dataset_layout;

/* "auto", "mvtec", "visa", "folder". */
const char *am_dataset_layout_name(am_dataset_layout layout);

/* The layout called `name` (as above; "mvtec_ad" too), AM_ERR_ARGUMENT otherwise. */
am_status am_dataset_layout_from_name(const char *name, am_dataset_layout *layout,
                                      am_error *err);

/* The benchmark's own category list (MVTec AD: 15, VisA: 12), or NULL. */
const char *const *am_dataset_known_categories(am_dataset_layout layout, int32_t *count);

/* One image of a dataset. */
typedef struct {
    const char *path;    /* the file: ROOT joined with its listed path */
    const char *name;    /* its path relative to ROOT, for reports */
    const char *mask;    /* ground-truth mask file, or NULL (normal, or no masks) */
    const char *defect;  /* "good" for normal images, else the defect type */
    uint8_t label;       /* 0 normal, 1 anomalous */
    int32_t train_index; /* test images: >= 0 when the image is also training image
                            train_index (folder layout without train/), else -1 */
} am_dataset_item;

typedef struct am_dataset am_dataset;

/*
 * Lists and checks a dataset.  layout AM_DATASET_AUTO detects it.  categories
 * (n_categories of them) selects and orders categories; NULL or 0 selects all
 * that ROOT holds, in name order.  When ROOT is itself one category (a
 * folder-layout set, or one MVTec AD category folder) it is named after ROOT's
 * last path component, or by the single name given (the object name that
 * zero-shot prompts use).
 */
am_status am_dataset_open(const char *root, am_dataset_layout layout,
                          const char *const *categories, int32_t n_categories, am_dataset **out,
                          am_error *err);

void am_dataset_free(am_dataset *dataset);

am_dataset_layout am_dataset_get_layout(const am_dataset *dataset);
const char *am_dataset_root(const am_dataset *dataset);
int32_t am_dataset_category_count(const am_dataset *dataset);
const char *am_dataset_category_name(const am_dataset *dataset, int32_t category);

int32_t am_dataset_train_count(const am_dataset *dataset, int32_t category);
const am_dataset_item *am_dataset_train_item(const am_dataset *dataset, int32_t category,
                                             int32_t index);
int32_t am_dataset_test_count(const am_dataset *dataset, int32_t category);
const am_dataset_item *am_dataset_test_item(const am_dataset *dataset, int32_t category,
                                            int32_t index);

/* 1 when every anomalous test image of the category has a mask (pixel
 * metrics are defined), else 0. */
int32_t am_dataset_has_masks(const am_dataset *dataset, int32_t category);

/*
 * Draws k distinct training images of a category for k-shot references,
 * uniformly with the seeded generator (a partial Fisher-Yates shuffle of the
 * sorted training list), and writes their indices ascending to indices[k].
 */
am_status am_dataset_select_shots(const am_dataset *dataset, int32_t category, int32_t k,
                                  uint64_t seed, int32_t *indices, am_error *err);

/* ------------------------------------------------------------------------ */
/* Evaluation runs                                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *out_dir;      /* where metrics.json, report.html, ... go */
    int32_t shots;            /* k references per category; 0: zero-shot (default 4) */
    uint64_t seed;            /* draws the k references (default 0) */
    int32_t eval_size;        /* maps and masks are compared at this square size (256) */
    double fpr_limit;         /* AUPRO integration limit (0.3) */
    const char *object;       /* prompt noun for every category; NULL: from the category */
    int32_t max_figures;      /* test images shown per category in the report (24) */
    const char *backbone;     /* a description of the models for the report, or NULL */
    const volatile int *stop; /* set to nonzero (e.g. from SIGINT) to stop at the next image */
    int64_t max_pixels;       /* images above are refused (0: AM_IMAGE_DEFAULT_MAX_PIXELS) */
} am_eval_params;

am_eval_params am_eval_default_params(void);

/* The metrics of one category. */
typedef struct {
    const char *name;
    am_image_metrics image;
    am_pixel_metrics pixel; /* all undefined when the category has no masks */
} am_eval_result;

/* Called after every test image: category, images done, images in it. */
typedef void (*am_eval_progress)(void *user, const char *category, int32_t done,
                                 int32_t total);

/*
 * Evaluates every category of `dataset`: fits a detector from `shots`
 * references drawn with `seed` (or zero-shot), scores the test images, and
 * writes into out_dir: metrics.json (per category and mean, with the settings
 * and model identities), metrics.csv, metrics.md, scores.csv, report.html, and
 * per category <category>/result.json and scores.csv.  A category whose
 * result.json holds the same settings is read, not recomputed.  Every file is
 * written atomically.  *results (free()) holds the metrics per category.
 */
am_status am_eval_run(const am_dataset *dataset, am_clip *clip, am_sam *sam,
                      const am_detector_params *detector, const am_eval_params *params,
                      am_eval_progress progress, void *user, am_eval_result **results,
                      int32_t *n_results, am_error *err);

/* ANOMEM_SECTION_EVAL_API */

#ifdef __cplusplus
}
#endif

#endif /* ANOMEM_H */
