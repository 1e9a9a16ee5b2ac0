/* zfnet's engine: versions, errors, memory, models, the net and its signal passes,
 * safetensors, checkpoints and the data they record, images, datasets and the batch loader.
 * The analyses built on it are in zfnet/analysis.h; #include <zfnet/zfnet.h> gives both.
 * The conventions every function here follows are in docs/api.md. */
#ifndef ZFNET_CORE_H
#define ZFNET_CORE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers; zf_version() gives the library's, which may be newer within
 * one major version (the SONAME, libzfnet.so.MAJOR). */
#define ZF_VERSION_MAJOR 1
#define ZF_VERSION_MINOR 0
#define ZF_VERSION_PATCH 0
#define ZF_VERSION       "1.0.0"

/* Every public function is marked ZF_API: the library is built with hidden visibility, so
 * these are the only symbols libzfnet.so exports. */
#if defined(__GNUC__) || defined(__clang__)
#define ZF_API __attribute__((visibility("default")))
#else
#define ZF_API
#endif

/* ---- status and errors ------------------------------------------------------------------- */

typedef enum zf_status {
    ZF_OK = 0,
    ZF_ERR_IO,        /* a file could not be opened, read or written */
    ZF_ERR_PARSE,     /* model text or a file header is malformed */
    ZF_ERR_FORMAT,    /* a file is not what it claims to be (not safetensors, truncated, ...) */
    ZF_ERR_SHAPE,     /* tensor names, shapes or dtypes do not match the model */
    ZF_ERR_RANGE,     /* a value is out of its allowed range (a label, an option) */
    ZF_ERR_ARG,       /* a bad argument to a library call */
    ZF_ERR_NOMEM,     /* memory could not be allocated */
    ZF_ERR_STATE,     /* a call made in the wrong state (backward before forward, ...) */
    ZF_ERR_CANCELLED, /* a caller's callback asked a long call to stop */
    ZF_ERR_DIVERGED   /* training produced a NaN or an Inf (loss, gradient or weights) */
} zf_status;

/* Caller-owned error record: every call that can fail takes one (it may be NULL) and, on
 * failure, writes a one-line message naming the file, line or tensor and the problem. */
typedef struct zf_error {
    zf_status status;
    char msg[1024];
} zf_error;

/* "ok", "i/o error", "parse error", ... */
ZF_API const char *zf_status_name(zf_status s);

/* The library's version, "MAJOR.MINOR.PATCH" (ZF_VERSION is the headers'). */
ZF_API const char *zf_version(void);

/* Free what the library allocated and handed over as a plain array or buffer (the paths of
 * zf_run_snapshots, the draws of zf_draw_per_class, the bytes of zf_png_encode, ...): each
 * such output says "free with zf_free". Objects and result structs have their own
 * zf_X_free. NULL is ignored. */
ZF_API void zf_free(void *p);

/* ---- models --------------------------------------------------------------------------------- */

typedef enum zf_layer_kind {
    ZF_LAYER_CONV,
    ZF_LAYER_RELU,
    ZF_LAYER_MAXPOOL,
    ZF_LAYER_LRN,
    ZF_LAYER_FC,
    ZF_LAYER_DROPOUT,
    ZF_LAYER_SOFTMAX,
    ZF_LAYER_KIND_COUNT
} zf_layer_kind;

/* A parsed, validated model description (layers and their settings, no weights). */
typedef struct zf_model zf_model;

/* Command-line style overrides applied at load time; zero fields mean "as in the file". */
typedef struct zf_model_overrides {
    int classes;                 /* the [net] classes value (the last fc's outputs) */
    int channels, height, width; /* the input shape */
} zf_model_overrides;

/* `name` is a preset name (zfnet, zfnet-b, alexnet, alexnet-g2, zfnet-mini) or a path to a
 * model file (docs/model-format.md); `ov` may be NULL. */
ZF_API zf_status zf_model_load(const char *name, const zf_model_overrides *ov, zf_model **out,
                               zf_error *err);
/* Parse model text; `filename` is used in messages. */
ZF_API zf_status zf_model_parse(const char *text, const char *filename,
                                const zf_model_overrides *ov, zf_model **out, zf_error *err);
ZF_API void zf_model_free(zf_model *m);
/* The model as canonical text (every key written out, overrides applied); owned by the model. */
ZF_API const char *zf_model_text(const zf_model *m);
/* The [net] name (or the file's name when it has none). */
ZF_API const char *zf_model_name(const zf_model *m);
/* The model for messages, with the file it was read from when there is one: "model 'mini'
 * (run/best.safetensors)", "model 'zfnet'" for a preset; into buf (cap bytes), which it
 * returns. */
ZF_API const char *zf_model_describe(const zf_model *m, char *buf, size_t cap);
/* The preset names, NULL-terminated. */
ZF_API const char *const *zf_model_presets(void);
/* A variant of m: `edits`, separated by ';' or newlines, each "remove LAYER[,LAYER...]" (the
 * layer and the ReLU, LRN and dropout layers right after it: removing fc7 removes relu7 and
 * drop7 too) or "LAYER.KEY=VALUE" (a setting as model files write it; "net.KEY" for the [net]
 * section). The result is parsed and checked as a model file is; unknown layers fail naming
 * them. */
ZF_API zf_status zf_model_edit(const zf_model *m, const char *edits, zf_model **out, zf_error *err);
/* The section name of a layer kind in model files: "conv", "relu", "maxpool", ... */
ZF_API const char *zf_layer_kind_name(zf_layer_kind k);

/* ---- the net ---------------------------------------------------------------------------- */

typedef struct zf_net zf_net;

typedef enum zf_backend_kind {
    ZF_BACKEND_DNNL = 0, /* oneDNN primitives, blocked layouts: the CPU default */
    ZF_BACKEND_REF       /* plain C, NCHW: the oracle */
} zf_backend_kind;

/* The arithmetic of convolutions and fully connected layers (docs/precision.md). */
typedef enum zf_precision {
    ZF_PRECISION_FP32 = 0, /* float32 throughout */
    ZF_PRECISION_BF16,     /* bfloat16 products summed in float32, activations with a spatial
                            * extent held in bfloat16; weights, their gradients, softmax and
                            * loss in float32. Needs the dnnl backend and AVX512-BF16 */
    ZF_PRECISION_AUTO      /* bf16 where both are there, fp32 otherwise */
} zf_precision;

typedef struct zf_net_options {
    zf_backend_kind backend; /* (ZF_BACKEND_DNNL) */
    int threads;             /* compute threads; 0: OMP_NUM_THREADS or all cores (0) */
    uint64_t seed;           /* dropout masks (0) */
    uint64_t max_params;     /* refuse a model with more parameters (2^32, the most allowed) */
    zf_precision precision;  /* (ZF_PRECISION_FP32) */
} zf_net_options;

/* The defaults above. */
ZF_API void zf_net_defaults(zf_net_options *o);

typedef enum zf_mode { ZF_MODE_INFER = 0, ZF_MODE_TRAIN = 1 } zf_mode;

/* How a signal travels down the net (ZF §2.1). Only ReLU and LRN differ between rules. */
typedef enum zf_rule {
    ZF_RULE_GRADIENT = 0, /* true backprop */
    ZF_RULE_DECONVNET,    /* ZF's DeconvNet: ReLU rectifies the signal */
    ZF_RULE_GUIDED        /* guided backprop: both ReLU masks */
} zf_rule;

/* What LRN does to a signal travelling down, chosen with the rule. */
typedef enum zf_lrn_rule {
    ZF_LRN_DEFAULT = 0, /* the rule's own: identity for DECONVNET (the paper's probe), the true
                           gradient for GRADIENT and GUIDED (as Springenberg et al. and
                           Captum's GuidedBackprop) */
    ZF_LRN_IDENTITY,    /* the signal passes LRN unchanged */
    ZF_LRN_GRADIENT     /* LRN's true gradient */
} zf_lrn_rule;

/* "deconvnet", "guided", "gradient" <-> the rule; parsing fails with ZF_ERR_ARG naming the
 * word and the choices. */
ZF_API zf_status zf_rule_parse(const char *name, zf_rule *out, zf_error *err);
ZF_API const char *zf_rule_name(zf_rule rule);
/* "default", "identity", "gradient" <-> the LRN choice. */
ZF_API zf_status zf_lrn_rule_parse(const char *name, zf_lrn_rule *out, zf_error *err);
ZF_API const char *zf_lrn_rule_name(zf_lrn_rule lrn);
/* ZF_LRN_DEFAULT resolved for `rule` (ZF_LRN_IDENTITY or ZF_LRN_GRADIENT); others as given. */
ZF_API zf_lrn_rule zf_lrn_rule_for(zf_rule rule, zf_lrn_rule lrn);

typedef struct zf_shape {
    int c, h, w;
} zf_shape;

typedef struct zf_layer_info {
    const char *name;
    zf_layer_kind kind;
    zf_shape in, out;
    size_t params;
    uint64_t macs;           /* multiply-adds per image, forward */
    int rf_size;             /* receptive field (pixels, along one side) of one output unit */
    int rf_stride;           /* distance in pixels between neighbouring output units */
    int rf_offset;           /* input row of output row 0's receptive field start (may be < 0) */
    int kernel, stride, pad; /* window geometry of conv and maxpool layers (else 0) */
    int line;                /* line in the model file */
} zf_layer_info;

typedef struct zf_param_info {
    char name[64]; /* PyTorch's name: conv1.weight, fc6.bias, ... */
    int ndim;
    int64_t shape[4];
    size_t offset; /* in floats, into the flat parameter / gradient block */
    size_t count;
    int layer;
    int is_bias;
} zf_param_info;

/* Plan every layer of `m` for its input shape and allocate the parameter and gradient blocks
 * (the net keeps its own copy of the model); `opt` NULL: zf_net_defaults. */
ZF_API zf_status zf_net_create(const zf_model *m, const zf_net_options *opt, zf_net **out,
                               zf_error *err);
ZF_API void zf_net_free(zf_net *net);
ZF_API const zf_model *zf_net_model(const zf_net *net);

ZF_API int zf_net_num_layers(const zf_net *net);
ZF_API zf_status zf_net_layer_info(const zf_net *net, int i, zf_layer_info *out);
ZF_API int zf_net_find_layer(const zf_net *net, const char *name); /* -1 when absent */
ZF_API zf_shape zf_net_input_shape(const zf_net *net);
ZF_API int zf_net_classes(const zf_net *net); /* outputs of the last fc layer, or 0 */

/* Parameters: one flat float block (and a gradient block of the same layout), in parameter
 * order: conv1.weight, conv1.bias, ... */
ZF_API size_t zf_net_num_params(const zf_net *net);
ZF_API int zf_net_num_param_tensors(const zf_net *net);
ZF_API zf_status zf_net_param_info(const zf_net *net, int i, zf_param_info *out);
ZF_API int zf_net_find_param(const zf_net *net, const char *name); /* -1 when absent */
ZF_API float *zf_net_params(zf_net *net);
ZF_API float *zf_net_grads(zf_net *net);

typedef enum zf_init_scheme {
    ZF_INIT_GAUSSIAN = 0, /* N(0, std^2); ZF §3: std 1e-2 */
    ZF_INIT_HE,           /* N(0, 2/fan_in) */
    ZF_INIT_XAVIER        /* U(+-sqrt(6/(fan_in+fan_out))) */
} zf_init_scheme;

typedef struct zf_init_options {
    zf_init_scheme scheme; /* (ZF_INIT_GAUSSIAN) */
    double std;            /* ZF_INIT_GAUSSIAN's standard deviation (0.01, ZF section 3) */
    double bias;           /* constant bias value (0) */
    uint64_t seed;         /* (1) */
} zf_init_options;

/* The defaults above. */
ZF_API void zf_init_defaults(zf_init_options *o);

/* "gaussian", "he", "xavier" <-> the scheme. */
ZF_API zf_status zf_init_scheme_parse(const char *name, zf_init_scheme *out, zf_error *err);
ZF_API const char *zf_init_scheme_name(zf_init_scheme s);
/* `opt` NULL: zf_init_defaults. */
ZF_API void zf_net_init_params(zf_net *net, const zf_init_options *opt);

/* Size the activation arena for batches up to n images. Kernels never allocate after this. */
ZF_API zf_status zf_net_reserve(zf_net *net, int n, zf_error *err);
/* x: (n, c, h, w) dense NCHW with the model's input shape; n <= reserved batch. */
ZF_API zf_status zf_net_set_input(zf_net *net, const float *x, int n, zf_error *err);
/* labels: (n); each in [0, classes). Needed by zf_net_loss and backward from the loss. */
ZF_API zf_status zf_net_set_labels(zf_net *net, const int64_t *labels, int n, zf_error *err);
/* Run layers 0..upto (inclusive; -1 = all). */
ZF_API zf_status zf_net_forward(zf_net *net, zf_mode mode, int upto, zf_error *err);
/* Mean cross-entropy over the batch (after a forward that reached the softmax). */
ZF_API zf_status zf_net_loss(zf_net *net, double *loss, zf_error *err);
/* Copy layer i's output, dense NCHW (n, c, h, w), into dst. */
ZF_API zf_status zf_net_read_output(const zf_net *net, int layer, float *dst, zf_error *err);
/* Zero the gradient block. */
ZF_API void zf_net_zero_grads(zf_net *net);
/* True backprop from the loss (mean cross-entropy): accumulates parameter gradients into the
 * gradient block (+dL/dw) and leaves dL/dx readable with zf_net_read_input_grad. */
ZF_API zf_status zf_net_backward(zf_net *net, zf_error *err);
/* Send `signal` (dense NCHW, layer `from`'s output shape) down through layers from..0 by
 * `rule`, LRN by `lrn`; parameter gradients are accumulated only for ZF_RULE_GRADIENT. The
 * result (the projection, or dL/dx) is readable with zf_net_read_input_grad. */
ZF_API zf_status zf_net_signal_down(zf_net *net, int from, zf_rule rule, zf_lrn_rule lrn,
                                    const float *signal, zf_error *err);
ZF_API zf_status zf_net_read_input_grad(const zf_net *net, float *dst, zf_error *err);
/* The same through layers from..to only (to <= from); zf_net_read_signal then gives the signal
 * at layer `to`'s input (layer to-1's output shape): e.g. a class score's gradient with
 * respect to a conv layer's output, for Grad-CAM. */
ZF_API zf_status zf_net_signal_down_to(zf_net *net, int from, int to, zf_rule rule, zf_lrn_rule lrn,
                                       const float *signal, zf_error *err);
ZF_API zf_status zf_net_read_signal(const zf_net *net, float *dst, zf_error *err);
/* Training memory plan (call before zf_net_reserve): a ReLU right after a conv or fc layer
 * overwrites that layer's output instead of keeping its own copy. Backprop does not need the
 * pre-activation values, so this only makes those layers' outputs unreadable. */
ZF_API void zf_net_set_inplace_relu(zf_net *net, int on);
/* Whether downward passes compute the signal at the input (default on; training turns it off
 * and saves the first layer's backward-data pass). */
ZF_API void zf_net_set_input_grad(zf_net *net, int on);

/* SGD with momentum and weight decay over the flat blocks, PyTorch's convention:
 * v = momentum v + (g + weight_decay w);  w -= lr v. The momentum block is allocated (zeroed)
 * on first use. */
ZF_API zf_status zf_net_sgd_step(zf_net *net, float lr, float momentum, float weight_decay,
                                 zf_error *err);
/* Layer `layer`'s parameters step at scale * lr (1 for every layer until set): 0 freezes
 * them (no step, no weight decay, their momentum kept); fine-tuning gives pretrained layers
 * a smaller rate. */
ZF_API zf_status zf_net_set_lr_scale(zf_net *net, int layer, float scale, zf_error *err);
/* ZF section 3: every conv filter whose RMS exceeds `radius` is rescaled to it; returns how
 * many were. */
ZF_API int zf_net_renormalize_filters(zf_net *net, double radius);
/* Reseed the net's dropout stream (training runs reseed per step for exact resumes). */
ZF_API void zf_net_reseed(zf_net *net, uint64_t seed);
/* Data-parallel parts: this net's batch is rows row0 .. row0 + n - 1 of a global batch of
 * `total` rows (total 0: the batch is the whole). The loss and its gradient are divided by
 * total, so the parts' gradients summed are the global batch's, and dropout draws each row's
 * mask from the step's seed and the row's global index, as the whole batch would. */
ZF_API void zf_net_set_batch_part(zf_net *net, int row0, int total);
/* Called during zf_net_backward after layer `layer`'s parameter gradients are final (layers
 * from the top down): where a data-parallel run starts reducing them. NULL: none. */
typedef void (*zf_backward_hook)(void *ctx, int layer);
ZF_API void zf_net_set_backward_hook(zf_net *net, zf_backward_hook fn, void *ctx);

/* Per-layer wall time, accumulated over forward and downward passes while profiling is on. */
ZF_API void zf_net_set_profiling(zf_net *net, int on);
ZF_API void zf_net_reset_times(zf_net *net);
ZF_API void zf_net_layer_times(const zf_net *net, int i, double *forward_ms, double *backward_ms);
/* "dnnl" or "ref" */
ZF_API const char *zf_net_backend_name(const zf_net *net);
/* "dnnl" or "ref" <-> the backend. */
ZF_API zf_status zf_backend_parse(const char *name, zf_backend_kind *out, zf_error *err);
/* The precision the net computes in: fp32 or bf16 (auto resolved at creation). */
ZF_API zf_precision zf_net_precision(const zf_net *net);
/* "fp32", "bf16" or "auto" <-> the precision. */
ZF_API zf_status zf_precision_parse(const char *name, zf_precision *out, zf_error *err);
ZF_API const char *zf_precision_name(zf_precision p);
/* Whether this CPU runs bfloat16 natively (AVX512-BF16, and oneDNN willing to use it: its
 * DNNL_MAX_CPU_ISA can forbid it); if not, `why` (may be NULL) says what is missing. */
ZF_API int zf_cpu_has_bf16(char *why, size_t size);
/* Round to the nearest bfloat16, ties to even; NaN stays NaN (quiet), infinities stay. */
ZF_API uint16_t zf_bf16_from_f32(float x);
ZF_API float zf_f32_from_bf16(uint16_t b);

/* Layer indices from a list of names ("conv1,pool2"); "all-conv" or NULL: every conv layer.
 * `out` holds at least zf_net_num_layers entries. With feature_maps set, fc and softmax layers
 * are refused (they have no feature maps to look at). */
ZF_API zf_status zf_net_parse_layers(const zf_net *net, const char *list, int feature_maps,
                                     int *out, int *n, zf_error *err);

/* ---- safetensors --------------------------------------------------------------------------- */

typedef enum zf_dtype {
    ZF_DTYPE_F32 = 0,
    ZF_DTYPE_F64,
    ZF_DTYPE_F16,
    ZF_DTYPE_BF16,
    ZF_DTYPE_I64,
    ZF_DTYPE_I32,
    ZF_DTYPE_I16,
    ZF_DTYPE_I8,
    ZF_DTYPE_U8,
    ZF_DTYPE_BOOL,
    ZF_DTYPE_COUNT
} zf_dtype;

/* "F32", "I64", ... as safetensors writes them. */
ZF_API const char *zf_dtype_name(zf_dtype t);

#define ZF_ST_MAX_DIMS 8

typedef struct zf_st_tensor {
    char *name;
    zf_dtype dtype;
    int ndim;
    int64_t shape[ZF_ST_MAX_DIMS];
    const void *data; /* into the mapped file (reading) or the caller's memory (writing) */
    size_t nbytes;
} zf_st_tensor;

/* A safetensors file opened read-only (memory-mapped); the header is fully validated. */
typedef struct zf_st_file zf_st_file;

ZF_API zf_status zf_st_open(const char *path, zf_st_file **out, zf_error *err);
ZF_API void zf_st_free(zf_st_file *f);
ZF_API const char *zf_st_path(const zf_st_file *f);
ZF_API int zf_st_count(const zf_st_file *f);
ZF_API const zf_st_tensor *zf_st_get(const zf_st_file *f, int i);
ZF_API const zf_st_tensor *zf_st_find(const zf_st_file *f, const char *name);
/* Metadata value for key, or NULL. */
ZF_API const char *zf_st_meta(const zf_st_file *f, const char *key);
/* The F32 tensor `name` whose shape is `want` (want[0] <= 0: any first dimension); on failure
 * NULL, and err says what is missing or different ("tensor 'input' has shape [2,1,32,32],
 * expected [N,1,28,28]"). */
ZF_API const zf_st_tensor *zf_st_need_f32(const zf_st_file *f, const char *name, int ndim,
                                          const int64_t *want, zf_error *err);

/* Writing: collect tensors (pointers to caller memory, not copied) and metadata, then write
 * atomically (a temporary file beside `path`, fsync, rename). */
typedef struct zf_st_writer zf_st_writer;

/* A new writer; add tensors (names and shapes are copied, data is not: it must live until
 * save) and metadata strings, then save once. */
ZF_API zf_status zf_st_writer_create(zf_st_writer **out, zf_error *err);
ZF_API void zf_st_writer_free(zf_st_writer *w);
ZF_API zf_status zf_st_writer_add(zf_st_writer *w, const char *name, zf_dtype dtype, int ndim,
                                  const int64_t *shape, const void *data, zf_error *err);
ZF_API zf_status zf_st_writer_meta(zf_st_writer *w, const char *key, const char *value,
                                   zf_error *err);
ZF_API zf_status zf_st_writer_save(zf_st_writer *w, const char *path, zf_error *err);
/* The same file's bytes in memory instead (to send it): *out (free with zf_free), *len. */
ZF_API zf_status zf_st_writer_bytes(zf_st_writer *w, uint8_t **out, size_t *len, zf_error *err);

/* A whole buffer into `path`, atomically: the old file or the whole new one, never a part. */
ZF_API zf_status zf_write_file(const char *path, const void *data, size_t len, zf_error *err);
/* A file opened to read: a regular file only (a FIFO, a device or a folder is refused at once
 * with "PATH: not a regular file", never waited on). NULL with err set (err may be NULL). */
ZF_API FILE *zf_fopen_read(const char *path, zf_error *err);
/* Remove the temporary files of the atomic writes in progress (async-signal-safe: for a
 * SIGINT/SIGTERM handler that then ends the process; the targets keep their old contents). */
ZF_API void zf_remove_partial_files(void);

/* ---- images ------------------------------------------------------------------------------- */

/* 8-bit interleaved pixels (h, w, c), c = 1 (gray), 3 (RGB) or 4 (RGBA, output only). */
typedef struct zf_image {
    int w, h, c;
    uint8_t *px; /* the library's: free with zf_image_free */
} zf_image;

/* The pixels freed, the image emptied (an empty one is left as it is). */
ZF_API void zf_image_free(zf_image *im);

/* JPEG or PNG, told apart by their first bytes; min_short > 0 lets a JPEG decode at a reduced
 * DCT scale whose short side is still >= min_short. CMYK, gray, palette, 16-bit and alpha
 * inputs all come out as gray or RGB. `name` is used in messages. */
ZF_API zf_status zf_image_decode(const uint8_t *buf, size_t len, int min_short, const char *name,
                                 zf_image *out, zf_error *err);
/* File -> decode -> short side `size` (antialiased bilinear, PIL's filter) -> centre square ->
 * (channels, size, size) bytes; gray <-> RGB converted (RGB -> gray by ITU-R 601 luma). */
ZF_API zf_status zf_image_load(const char *path, int size, int channels, uint8_t *dst,
                               zf_error *err);
/* An RGB or gray image as PNG bytes: *out (free with zf_free), *len of them. */
ZF_API zf_status zf_png_encode(const zf_image *im, uint8_t **out, size_t *len, zf_error *err);

/* ---- datasets ----------------------------------------------------------------------------- */

/* Labelled images of one size (c, h, w), 8-bit. In-memory sets (IDX, CIFAR) and decoded ones
 * (image folders, shards) read the same way; zf_dataset_read is safe from many threads. */
typedef struct zf_dataset zf_dataset;

typedef struct zf_dataset_options {
    int size;        /* folders: short side resized to this, centre square; shards: the size
                        they must hold; 0: folders 256, shards as packed (0) */
    int channels;    /* folders: 3 (RGB) or 1 (gray); shards: what they must hold; 0: folders
                        3, shards as packed (0) */
    int stop_on_bad; /* folders: a file that is not a readable image fails the open (0) */
} zf_dataset_options;

/* The defaults above. */
ZF_API void zf_dataset_defaults(zf_dataset_options *o);

/* Open by what `spec` names:
 *   fashion-mnist | fashion-mnist:test     Debian's dataset-fashion-mnist (train / test split)
 *   digits | digits:test                   OpenCV's 5,000 handwritten digits (opencv-doc's
 *                                          examples/data/digits.png, or $ZFNET_DIGITS): 28x28,
 *                                          the left 50 columns train, the right 50 test
 *   IMAGES.gz[,LABELS.gz]                  an IDX pair; LABELS defaults to IMAGES with
 *                                          "images-idx3" replaced by "labels-idx1"
 *   A.bin[,B.bin,...]                      CIFAR-10 or CIFAR-100 binary batches
 *   DIR                                    an image folder: DIR/<class>/<JPEG or PNG files>
 *   FILE (a zfnet shard)                   written by zfnet pack, recognised by its magic
 * `o` NULL: zf_dataset_defaults. */
ZF_API zf_status zf_dataset_open(const char *spec, const zf_dataset_options *o, zf_dataset **out,
                                 zf_error *err);
/* An IDX images file and its labels (each gzipped or raw). */
ZF_API zf_status zf_dataset_open_idx(const char *images, const char *labels, zf_dataset **out,
                                     zf_error *err);
ZF_API void zf_dataset_free(zf_dataset *d);
ZF_API int zf_dataset_count(const zf_dataset *d);
ZF_API zf_shape zf_dataset_shape(const zf_dataset *d);
ZF_API int zf_dataset_classes(const zf_dataset *d);                   /* 1 + the largest label */
ZF_API const char *zf_dataset_class_name(const zf_dataset *d, int k); /* NULL: the set has none */
ZF_API int zf_dataset_label(const zf_dataset *d, int i);
/* Image i as (c, h, w) bytes into dst. Decoding sets fail with the file named. */
ZF_API zf_status zf_dataset_read(const zf_dataset *d, int i, uint8_t *dst, zf_error *err);
/* A name for item i (its file, or "SOURCE#i") for reports. */
ZF_API void zf_dataset_item_name(const zf_dataset *d, int i, char *buf, size_t cap);
/* Files left out when the set was opened (not images, unreadable headers), with the reason. */
ZF_API int zf_dataset_num_skipped(const zf_dataset *d);
ZF_API const char *zf_dataset_skipped(const zf_dataset *d, int i);
/* What the set is, for logs: "IDX ...", "image folder ...". */
ZF_API const char *zf_dataset_description(const zf_dataset *d);
/* Per-pixel mean over the set (c, h, w), in pixel units, from up to `limit` images (0: all;
 * an even spread otherwise), decoded on `threads` threads. */
ZF_API zf_status zf_dataset_mean(const zf_dataset *d, int limit, int threads, float *mean,
                                 zf_error *err);

/* zfnet pack: an image folder into one shard file: each image decoded, its short side resized
 * to `size` (aspect kept) and re-encoded (JPEG at `quality`, or PNG when lossless). Files that
 * fail are passed to on_bad and left out, or stop the pack (stop_on_bad; no file is left). */
typedef struct zf_pack_options {
    int size;                                         /* short side (256) */
    int channels;                                     /* 3 or 1 (3) */
    int quality;                                      /* JPEG quality, 1..100 (90) */
    int lossless;                                     /* PNG instead of JPEG (0) */
    int threads;                                      /* encoding threads (2) */
    int stop_on_bad;                                  /* (0) */
    void (*on_bad)(void *ctx, const char *msg);       /* (NULL) */
    void (*progress)(void *ctx, int done, int total); /* (NULL) */
    void *ctx;
    int *packed; /* out, optional: images written (NULL) */
} zf_pack_options;

/* The defaults above. */
ZF_API void zf_pack_defaults(zf_pack_options *o);

/* Pack `folder` into the shard `out` (written atomically); `o` NULL: zf_pack_defaults. */
ZF_API zf_status zf_pack(const char *folder, const char *out, const zf_pack_options *o,
                         zf_error *err);

/* ---- loading batches ------------------------------------------------------------------------ */

typedef enum zf_crop {
    ZF_CROP_CENTER = 0, /* one view: the centre */
    ZF_CROP_RANDOM = 1, /* one view: a random position (+ random mirror when flip) */
    ZF_CROP_TEN = 2     /* ten views: 4 corners + centre, each also mirrored (ZF 5.1) */
} zf_crop;

typedef struct zf_loader_options {
    int batch;         /* images per batch (ten-crop batches hold 10x as many inputs) (64) */
    int height, width; /* the net's input; crops are taken from the padded dataset image
                          (no default: set them) */
    int pad;           /* the source is padded by this many mean-valued pixels per side (0) */
    zf_crop crop;      /* (ZF_CROP_CENTER) */
    int flip;          /* ZF_CROP_RANDOM: mirror half of the images (0) */
    int shuffle;       /* a seeded permutation per epoch (0) */
    int drop_last;     /* skip a last partial batch (0) */
    float scale;       /* input = (pixel - mean) * scale (1) */
    const float *mean; /* (c, h, w) of the dataset in pixel units, or NULL (zero) (NULL) */
    uint64_t seed;     /* (1) */
    int threads;       /* decoding threads; they prefetch ahead of the consumer (2) */
    int stop_on_bad;   /* a file that fails to decode stops the loader instead of being
                          replaced (0) */
    /* Data-parallel parts (1: the whole): each global batch of batch * parts images is split
     * in parts; this loader gives rows part * batch .. part * batch + batch - 1 of each, with the
     * order, crops and mirrors one loader of batch * parts images would give them. (1, 0) */
    int parts, part;
} zf_loader_options;

/* The defaults above. */
ZF_API void zf_loader_defaults(zf_loader_options *o);

typedef struct zf_loader zf_loader;

/* `o` NULL: zf_loader_defaults. */
ZF_API zf_status zf_loader_create(const zf_dataset *d, const zf_loader_options *o, zf_loader **out,
                                  zf_error *err);
ZF_API void zf_loader_free(zf_loader *l);
ZF_API int zf_loader_batches(const zf_loader *l); /* per epoch */
/* Start (or restart) an epoch at batch `first` (resume); what each image gets (order, crop,
 * mirror) depends only on the seed, the epoch and its position. */
ZF_API void zf_loader_start(zf_loader *l, int epoch, int first);
/* The next batch: x (n * views, c, height, width) and labels (n); n = 0 at the end of the
 * epoch. Pointers stay valid until the next call. */
ZF_API zf_status zf_loader_next(zf_loader *l, const float **x, const int64_t **labels, int *n,
                                zf_error *err);
ZF_API double zf_loader_wait_seconds(const zf_loader *l); /* consumer time spent waiting */
/* The epoch position (index in the epoch's order) of the last batch's first image; -1: none. */
ZF_API int zf_loader_position(const zf_loader *l);
/* Files that failed to decode and were replaced (reported once each). */
ZF_API int zf_loader_num_bad(const zf_loader *l);
ZF_API const char *zf_loader_bad(const zf_loader *l, int i);

/* A hash of two words for seeding: the loader's and trainer's per-(seed, epoch, position)
 * streams, and the folds of transfer and probes (fold f's seed is zf_mix64(seed, f)). */
ZF_API uint64_t zf_mix64(uint64_t a, uint64_t b);

/* ---- checkpoints and the data preparation they record ----------------------------------- */

/* Keys of a checkpoint's __metadata__ and its extra tensors (docs/checkpoints.md). */
#define ZF_META_FORMAT        "format"        /* "zfnet-checkpoint-1" */
#define ZF_META_VERSION       "zfnet_version" /* the library that wrote it */
#define ZF_META_MODEL_NAME    "model_name"    /* the [net] name */
#define ZF_META_MODEL         "model"         /* the canonical model text */
#define ZF_META_EPOCH         "epoch"         /* training epochs done when written */
#define ZF_META_TEST_ACCURACY "test_accuracy" /* top-1 on the test set then (0..1; -1: none) */
#define ZF_META_INPUT_SCALE   "input_scale"   /* input = (pixel - mean) * input_scale */
#define ZF_META_CROP_PAD      "crop_pad"      /* crops from the image padded by this much */
#define ZF_META_DATA_SHAPE    "data_shape"    /* CxHxW of the dataset images */
#define ZF_META_CLASS_NAMES   "class_names"   /* JSON array of strings ([]: none) */
#define ZF_TENSOR_DATA_MEAN   "data.mean"     /* F32 (c, h, w), pixel units */
#define ZF_TENSOR_MOMENTUM    "momentum."     /* prefix: SGD momentum per parameter */

/* How inputs are made from dataset images: what a checkpoint written by training records. */
typedef struct zf_data_prep {
    float *mean;        /* (shape) per-pixel mean of the training images, or NULL (none) */
    zf_shape shape;     /* the dataset images the mean belongs to */
    float scale;        /* input = (pixel - mean) * scale (1/255 when not recorded) */
    int pad;            /* training crops came from the image padded by this much */
    int classes;        /* entries in class_names */
    char **class_names; /* (classes) or NULL */
    char *source;       /* the checkpoint it was read from, for messages (or NULL) */
} zf_data_prep;

/* The preparation recorded in a checkpoint (everything optional: a file from zfnet init has
 * no mean). Free with zf_data_prep_free. */
ZF_API zf_status zf_data_prep_load(const char *path, zf_data_prep *p, zf_error *err);
ZF_API void zf_data_prep_free(zf_data_prep *p);
/* ZF_OK when the preparation has a data mean; otherwise an error naming the checkpoint (its
 * weights came from zfnet init, not training). */
ZF_API zf_status zf_data_prep_need_mean(const zf_data_prep *p, zf_error *err);
/* Class k's name, or NULL. */
ZF_API const char *zf_data_prep_class_name(const zf_data_prep *p, int k);
/* The net input (in) for the centre view of a dataset image `img` (src: its shape), as the
 * evaluation loader makes it: the mean subtracted (a mean of another shape than src is an
 * error; none: nothing subtracted), scaled, the centre crop of the mean-padded image. */
ZF_API zf_status zf_data_prep_input(const zf_data_prep *p, zf_shape src, const uint8_t *img,
                                    zf_shape in, float *x, zf_error *err);
/* Back to pixels: x (c, h, w) is the window at (y0, x0) of a centre-view net input of shape
 * in (the whole input: 0, 0, in.h, in.w); out (c, h, w) = x / scale + mean, rounded and
 * clipped. */
ZF_API void zf_data_prep_pixels(const zf_data_prep *p, zf_shape in, const float *x, int y0, int x0,
                                int h, int w, uint8_t *out);
/* An image file (JPEG/PNG) as the net input: resized to the training data's size (the input's
 * when there is no mean), then zf_data_prep_input. */
ZF_API zf_status zf_data_prep_image(const zf_data_prep *p, const char *path, zf_shape in, float *x,
                                    zf_error *err);
/* The same from the bytes of a JPEG or PNG (an upload); `name` is used in messages. */
ZF_API zf_status zf_data_prep_image_data(const zf_data_prep *p, const uint8_t *buf, size_t len,
                                         const char *name, zf_shape in, float *x, zf_error *err);
/* Open a dataset as the checkpoint's training data was read (folders and shards at its size
 * and channels). */
ZF_API zf_status zf_data_prep_open(const zf_data_prep *p, const char *spec, zf_dataset **out,
                                   zf_error *err);

/* What a checkpoint can carry beyond the parameters. */
typedef struct zf_checkpoint_data {
    const zf_data_prep *prep; /* data.mean, input_scale, crop_pad, data_shape, class_names */
    int epoch;                /* > 0: also "epoch" and "test_accuracy" */
    double test_accuracy;
    int momentum;            /* also the SGD momentum as "momentum.<name>" (for resuming) */
    const char *const *meta; /* more key, value pairs, NULL-terminated; may be NULL */
} zf_checkpoint_data;

/* Write the net's parameters with PyTorch names and layouts, plus the model text and `d`
 * (may be NULL), atomically. */
ZF_API zf_status zf_checkpoint_write(const zf_net *net, const char *path,
                                     const zf_checkpoint_data *d, zf_error *err);
/* Load parameters; names, shapes, dtypes and sizes are checked against the model, and every
 * mismatch is named in the message. */
ZF_API zf_status zf_checkpoint_load(zf_net *net, const char *path, zf_error *err);
/* Parameters and the momentum written with .momentum = 1. */
ZF_API zf_status zf_checkpoint_load_state(zf_net *net, const char *path, zf_error *err);
/* The net a checkpoint describes (its model text), with its weights, and (prep non-NULL) its
 * data preparation. */
ZF_API zf_status zf_checkpoint_open(const char *path, const zf_net_options *no, zf_net **net,
                                    zf_data_prep *prep, zf_error *err);

/* ---- ONNX (docs/onnx.md) --------------------------------------------------------------- */

/* Write the net as an ONNX graph of opset `opset` (7..17; 0: 13): one node per layer named as
 * the layer, the parameters as initializers with PyTorch's names, and prep's data preparation
 * (may be NULL) as metadata; atomically. */
ZF_API zf_status zf_onnx_export(const zf_net *net, const zf_data_prep *prep, int opset,
                                const char *path, zf_error *err);
/* An ONNX graph (opsets 7..17) of the ops zfnet computes, as a net (created with `no`, may be
 * NULL) holding its weights, and (prep non-NULL) the data preparation an exported file records
 * (none: an empty one). Anything else is refused, naming the node, its op type and why. */
ZF_API zf_status zf_onnx_import(const char *path, const zf_net_options *no, zf_net **net,
                                zf_data_prep *prep, zf_error *err);

#ifdef __cplusplus
}
#endif
#endif
