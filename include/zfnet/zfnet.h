/* zfnet: a C library for training ZFNet/AlexNet-style CNNs and looking inside them
 * (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", 2013). */
#ifndef ZFNET_ZFNET_H
#define ZFNET_ZFNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZF_VERSION "0.1.0"

/* ---- status and errors ------------------------------------------------------------------- */

typedef enum zf_status {
    ZF_OK = 0,
    ZF_ERR_IO,     /* a file could not be opened, read or written */
    ZF_ERR_PARSE,  /* model text or a file header is malformed */
    ZF_ERR_FORMAT, /* a file is not what it claims to be (not safetensors, truncated, ...) */
    ZF_ERR_SHAPE,  /* tensor names, shapes or dtypes do not match the model */
    ZF_ERR_RANGE,  /* a value is out of its allowed range (a label, an option) */
    ZF_ERR_ARG,    /* a bad argument to a library call */
    ZF_ERR_NOMEM,  /* memory could not be allocated */
    ZF_ERR_STATE   /* a call made in the wrong state (backward before forward, ...) */
} zf_status;

/* Caller-owned error record: every call that can fail takes one (it may be NULL) and, on
 * failure, writes a one-line message naming the file, line or tensor and the problem. */
typedef struct zf_error {
    zf_status status;
    char msg[1024];
} zf_error;

const char *zf_status_name(zf_status s);

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
 * model file. */
zf_status zf_model_load(zf_model **out, const char *name, const zf_model_overrides *ov,
                        zf_error *err);
/* Parse model text; `filename` is used in messages. */
zf_status zf_model_parse(zf_model **out, const char *text, const char *filename,
                         const zf_model_overrides *ov, zf_error *err);
void zf_model_free(zf_model *m);
/* The model as canonical text (every key written out, overrides applied); owned by the model. */
const char *zf_model_text(const zf_model *m);
const char *zf_model_name(const zf_model *m);
/* The preset names, NULL-terminated. */
const char *const *zf_model_presets(void);
const char *zf_layer_kind_name(zf_layer_kind k);

/* ---- the net ---------------------------------------------------------------------------- */

typedef struct zf_net zf_net;

typedef enum zf_backend_kind {
    ZF_BACKEND_DNNL = 0, /* oneDNN primitives, blocked layouts: the CPU default */
    ZF_BACKEND_REF       /* plain C, NCHW: the oracle */
} zf_backend_kind;

typedef struct zf_net_options {
    zf_backend_kind backend;
    int threads;   /* 0: OMP_NUM_THREADS or all cores */
    uint64_t seed; /* dropout masks */
} zf_net_options;

typedef enum zf_mode { ZF_MODE_INFER = 0, ZF_MODE_TRAIN = 1 } zf_mode;

/* How a signal travels down the net (ZF §2.1). Only ReLU and LRN differ between rules. */
typedef enum zf_rule {
    ZF_RULE_GRADIENT = 0, /* true backprop */
    ZF_RULE_DECONVNET,    /* ReLU rectifies the signal; LRN passes it unchanged */
    ZF_RULE_GUIDED        /* guided backprop: both ReLU masks; LRN passes it unchanged */
} zf_rule;

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

zf_status zf_net_create(zf_net **out, const zf_model *m, const zf_net_options *opt, zf_error *err);
void zf_net_free(zf_net *net);
const zf_model *zf_net_model(const zf_net *net);

int zf_net_num_layers(const zf_net *net);
zf_status zf_net_layer_info(const zf_net *net, int i, zf_layer_info *out);
int zf_net_find_layer(const zf_net *net, const char *name); /* -1 when absent */
zf_shape zf_net_input_shape(const zf_net *net);
int zf_net_classes(const zf_net *net); /* outputs of the last layer with outputs, or 0 */

/* Parameters: one flat float block (and a gradient block of the same layout). */
size_t zf_net_num_params(const zf_net *net);
int zf_net_num_param_tensors(const zf_net *net);
zf_status zf_net_param_info(const zf_net *net, int i, zf_param_info *out);
int zf_net_find_param(const zf_net *net, const char *name);
float *zf_net_params(zf_net *net);
float *zf_net_grads(zf_net *net);

typedef enum zf_init_scheme {
    ZF_INIT_GAUSSIAN = 0, /* N(0, std^2); ZF §3: std 1e-2 */
    ZF_INIT_HE,           /* N(0, 2/fan_in) */
    ZF_INIT_XAVIER        /* U(+-sqrt(6/(fan_in+fan_out))) */
} zf_init_scheme;

typedef struct zf_init_options {
    zf_init_scheme scheme;
    double std;  /* for ZF_INIT_GAUSSIAN; 0 means 0.01 */
    double bias; /* constant bias value */
    uint64_t seed;
} zf_init_options;

void zf_net_init_params(zf_net *net, const zf_init_options *opt);

/* Size the activation arena for batches up to n images. Kernels never allocate after this. */
zf_status zf_net_reserve(zf_net *net, int n, zf_error *err);
/* x: (n, c, h, w) dense NCHW with the model's input shape; n <= reserved batch. */
zf_status zf_net_set_input(zf_net *net, const float *x, int n, zf_error *err);
/* labels: (n); each in [0, classes). Needed by zf_net_loss and backward from the loss. */
zf_status zf_net_set_labels(zf_net *net, const int64_t *labels, int n, zf_error *err);
/* Run layers 0..upto (inclusive; -1 = all). */
zf_status zf_net_forward(zf_net *net, zf_mode mode, int upto, zf_error *err);
/* Mean cross-entropy over the batch (after a forward that reached the softmax). */
zf_status zf_net_loss(zf_net *net, double *loss, zf_error *err);
/* Copy layer i's output, dense NCHW (n, c, h, w), into dst. */
zf_status zf_net_read_output(const zf_net *net, int layer, float *dst, zf_error *err);
/* Zero the gradient block. */
void zf_net_zero_grads(zf_net *net);
/* True backprop from the loss (mean cross-entropy): accumulates parameter gradients into the
 * gradient block (+dL/dw) and leaves dL/dx readable with zf_net_read_input_grad. */
zf_status zf_net_backward(zf_net *net, zf_error *err);
/* Send `signal` (dense NCHW, layer `from`'s output shape) down through layers from..0 by
 * `rule`; parameter gradients are accumulated only for ZF_RULE_GRADIENT. The result (the
 * projection, or dL/dx) is readable with zf_net_read_input_grad. */
zf_status zf_net_signal_down(zf_net *net, int from, zf_rule rule, const float *signal,
                             zf_error *err);
zf_status zf_net_read_input_grad(const zf_net *net, float *dst, zf_error *err);
/* The same through layers from..to only (to <= from); zf_net_read_signal then gives the signal
 * at layer `to`'s input (layer to-1's output shape): e.g. a class score's gradient with
 * respect to a conv layer's output, for Grad-CAM. */
zf_status zf_net_signal_down_to(zf_net *net, int from, int to, zf_rule rule, const float *signal,
                                zf_error *err);
zf_status zf_net_read_signal(const zf_net *net, float *dst, zf_error *err);
/* LRN in the DECONVNET/GUIDED rules: identity (default, ZF) or its true gradient. */
void zf_net_set_lrn_true_gradient(zf_net *net, int on);
/* Training memory plan (call before zf_net_reserve): a ReLU right after a conv or fc layer
 * overwrites that layer's output instead of keeping its own copy. Backprop does not need the
 * pre-activation values, so this only makes those layers' outputs unreadable. */
void zf_net_set_inplace_relu(zf_net *net, int on);
/* Whether downward passes compute the signal at the input (default on; training turns it off
 * and saves the first layer's backward-data pass). */
void zf_net_set_input_grad(zf_net *net, int on);

/* SGD with momentum and weight decay over the flat blocks, PyTorch's convention:
 * v = momentum v + (g + weight_decay w);  w -= lr v. The momentum block is allocated (zeroed)
 * on first use. */
zf_status zf_net_sgd_step(zf_net *net, float lr, float momentum, float weight_decay, zf_error *err);
float *zf_net_momentum(zf_net *net); /* NULL before the first step */
/* The momentum buffer, allocated (zeroed) if there is none yet (to restore it); NULL when out
 * of memory. */
float *zf_net_momentum_alloc(zf_net *net);

/* Per-layer wall time, accumulated over forward and downward passes while profiling is on. */
void zf_net_set_profiling(zf_net *net, int on);
void zf_net_reset_times(zf_net *net);
void zf_net_layer_times(const zf_net *net, int i, double *forward_ms, double *backward_ms);
const char *zf_net_backend_name(const zf_net *net);

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

const char *zf_dtype_name(zf_dtype t);
size_t zf_dtype_size(zf_dtype t);

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

zf_status zf_st_open(zf_st_file **out, const char *path, zf_error *err);
void zf_st_close(zf_st_file *f);
const char *zf_st_path(const zf_st_file *f);
int zf_st_count(const zf_st_file *f);
const zf_st_tensor *zf_st_get(const zf_st_file *f, int i);
const zf_st_tensor *zf_st_find(const zf_st_file *f, const char *name);
/* Metadata value for key, or NULL. */
const char *zf_st_meta(const zf_st_file *f, const char *key);

/* Writing: collect tensors (pointers to caller memory, not copied) and metadata, then write
 * atomically (a temporary file beside `path`, fsync, rename). */
typedef struct zf_st_writer zf_st_writer;

zf_st_writer *zf_st_writer_new(void);
void zf_st_writer_free(zf_st_writer *w);
zf_status zf_st_writer_add(zf_st_writer *w, const char *name, zf_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, zf_error *err);
zf_status zf_st_writer_meta(zf_st_writer *w, const char *key, const char *value, zf_error *err);
zf_status zf_st_writer_save(zf_st_writer *w, const char *path, zf_error *err);

/* ---- files -------------------------------------------------------------------------------- */

/* Atomic writes: the data goes to a temporary file beside `path`, is synced and renamed over
 * it, so readers see the old file or the whole new one. A failed write leaves no file. */
typedef struct zf_atomic {
    int fd, failed; /* failed: the first errno seen while writing */
    char *tmp;
    const char *path;
} zf_atomic;

zf_status zf_atomic_begin(zf_atomic *a, const char *path, zf_error *err);
void zf_atomic_write(zf_atomic *a, const void *data, size_t n); /* errors reported at commit */
zf_status zf_atomic_commit(zf_atomic *a, zf_error *err);
void zf_atomic_abort(zf_atomic *a);
zf_status zf_write_file(const char *path, const void *data, size_t len, zf_error *err);

/* ---- images ------------------------------------------------------------------------------- */

/* 8-bit interleaved pixels (h, w, c), c = 1 (gray), 3 (RGB) or 4 (RGBA, output only). */
typedef struct zf_image {
    int w, h, c;
    uint8_t *px; /* malloc'd; free() it */
} zf_image;

/* JPEG or PNG, told apart by their first bytes; min_short > 0 lets a JPEG decode at a reduced
 * DCT scale whose short side is still >= min_short. CMYK, gray, palette, 16-bit and alpha
 * inputs all come out as gray or RGB. `name` is used in messages. */
zf_status zf_image_decode(const uint8_t *buf, size_t len, int min_short, zf_image *out,
                          const char *name, zf_error *err);
/* Antialiased bilinear resize (PIL's filter) to w x h. */
zf_status zf_image_resize(const zf_image *in, int w, int h, zf_image *out, zf_error *err);
/* Resize in place so the short side is `side` (aspect kept). */
zf_status zf_image_short_side(zf_image *im, int side, zf_error *err);
/* The centre size x size square as (channels, size, size) bytes; gray <-> RGB converted
 * (RGB -> gray by ITU-R 601 luma). */
void zf_image_crop_chw(const zf_image *im, int size, int channels, uint8_t *dst);
/* File or memory -> decode -> short side `size` -> centre square -> (channels, size, size). */
zf_status zf_image_load(const char *path, int size, int channels, uint8_t *dst, zf_error *err);
zf_status zf_image_load_mem(const uint8_t *buf, size_t len, int size, int channels, uint8_t *dst,
                            const char *name, zf_error *err);
zf_status zf_png_encode(const zf_image *im, uint8_t **out, size_t *len, zf_error *err);
zf_status zf_jpeg_encode(const zf_image *im, int quality, uint8_t **out, size_t *len,
                         zf_error *err);
/* A whole file into a malloc'd buffer. */
zf_status zf_read_file(const char *path, uint8_t **data, size_t *len, zf_error *err);

/* ---- datasets ----------------------------------------------------------------------------- */

/* Labelled images of one size (c, h, w), 8-bit. In-memory sets (IDX, CIFAR) and decoded ones
 * (image folders, shards) read the same way; zf_dataset_read is safe from many threads. */
typedef struct zf_dataset zf_dataset;

typedef struct zf_dataset_options {
    int size;        /* folders and shards: short side resized to this, centre square (256) */
    int channels;    /* folders and shards: 3 (RGB, default) or 1 (gray) */
    int stop_on_bad; /* folders: a file that is not a readable image fails the open */
} zf_dataset_options;

/* Open by what `spec` names:
 *   fashion-mnist | fashion-mnist:test     Debian's dataset-fashion-mnist (train / test split)
 *   IMAGES.gz[,LABELS.gz]                  an IDX pair; LABELS defaults to IMAGES with
 *                                          "images-idx3" replaced by "labels-idx1"
 *   A.bin[,B.bin,...]                      CIFAR-10 or CIFAR-100 binary batches
 *   DIR                                    an image folder: DIR/<class>/<JPEG or PNG files>
 *   FILE (a zfnet shard)                   written by zfnet pack, recognised by its magic */
zf_status zf_dataset_open(zf_dataset **out, const char *spec, const zf_dataset_options *o,
                          zf_error *err);
zf_status zf_dataset_open_idx(zf_dataset **out, const char *images, const char *labels,
                              zf_error *err);
void zf_dataset_free(zf_dataset *d);
int zf_dataset_count(const zf_dataset *d);
zf_shape zf_dataset_shape(const zf_dataset *d);
int zf_dataset_classes(const zf_dataset *d);
const char *zf_dataset_class_name(const zf_dataset *d, int k); /* NULL when the set has none */
int zf_dataset_label(const zf_dataset *d, int i);
/* Image i as (c, h, w) bytes into dst. Decoding sets fail with the file named. */
zf_status zf_dataset_read(const zf_dataset *d, int i, uint8_t *dst, zf_error *err);
/* A name for item i (its file, or "SOURCE#i") for reports. */
void zf_dataset_item_name(const zf_dataset *d, int i, char *buf, size_t cap);
/* Files left out when the set was opened (not images, unreadable headers), with the reason. */
int zf_dataset_num_skipped(const zf_dataset *d);
const char *zf_dataset_skipped(const zf_dataset *d, int i);
/* What the set is, for logs: "IDX ...", "image folder ...". */
const char *zf_dataset_description(const zf_dataset *d);

/* zfnet pack: an image folder into one shard file: each image decoded, its short side resized
 * to `size` (aspect kept) and re-encoded (JPEG at `quality`, or PNG when lossless). Files that
 * fail are passed to on_bad and left out, or stop the pack (stop_on_bad; no file is left). */
typedef struct zf_pack_options {
    int size;     /* 256 */
    int channels; /* 3 */
    int quality;  /* 90 */
    int lossless;
    int threads; /* 2 */
    int stop_on_bad;
    void (*on_bad)(void *ctx, const char *msg);
    void (*progress)(void *ctx, int done, int total);
    void *ctx;
    int *packed; /* out, optional: images written */
} zf_pack_options;

zf_status zf_pack(const char *folder, const char *out, const zf_pack_options *o, zf_error *err);

/* ---- loading batches ------------------------------------------------------------------------ */

typedef enum zf_crop {
    ZF_CROP_CENTER = 0, /* one view: the centre */
    ZF_CROP_RANDOM = 1, /* one view: a random position (+ random mirror when flip) */
    ZF_CROP_TEN = 2     /* ten views: 4 corners + centre, each also mirrored (ZF 5.1) */
} zf_crop;

typedef struct zf_loader_options {
    int batch;         /* images per batch (ten-crop batches hold 10x as many inputs) */
    int height, width; /* the net's input; crops are taken from the padded dataset image */
    int pad;           /* the source is padded by this many mean-valued pixels per side */
    zf_crop crop;
    int flip;          /* ZF_CROP_RANDOM: mirror half of the images */
    int shuffle;       /* a seeded permutation per epoch */
    int drop_last;     /* skip a last partial batch */
    float scale;       /* input = (pixel - mean) * scale */
    const float *mean; /* (c, h, w) of the dataset in pixel units, or NULL (zero) */
    uint64_t seed;
    int threads;     /* decoding threads (default 2); they prefetch ahead of the consumer */
    int stop_on_bad; /* a file that fails to decode stops the loader instead of being replaced */
} zf_loader_options;

typedef struct zf_loader zf_loader;

zf_status zf_loader_create(zf_loader **out, const zf_dataset *d, const zf_loader_options *o,
                           zf_error *err);
void zf_loader_free(zf_loader *l);
int zf_loader_batches(const zf_loader *l); /* per epoch */
/* Start (or restart) an epoch at batch `first` (resume); what each image gets (order, crop,
 * mirror) depends only on the seed, the epoch and its position. */
void zf_loader_start(zf_loader *l, int epoch, int first);
/* The next batch: x (n * views, c, height, width) and labels (n); n = 0 at the end of the
 * epoch. Pointers stay valid until the next call. */
zf_status zf_loader_next(zf_loader *l, const float **x, const int64_t **labels, int *n,
                         zf_error *err);
double zf_loader_wait_seconds(const zf_loader *l); /* consumer time spent waiting, total */
/* Files that failed to decode and were replaced (reported once each). */
int zf_loader_num_bad(const zf_loader *l);
const char *zf_loader_bad(const zf_loader *l, int i);

/* Per-pixel mean over the set (c, h, w), in pixel units, from up to `limit` images (0: all;
 * a seeded even spread otherwise). */
zf_status zf_dataset_mean(const zf_dataset *d, int limit, int threads, float *mean, zf_error *err);
/* ZF section 3: every conv filter whose RMS exceeds `radius` is rescaled to it; returns how
 * many were. */
int zf_net_renormalize_filters(zf_net *net, double radius);
/* Reseed the net's dropout stream (training runs reseed per step for exact resumes). */
void zf_net_reseed(zf_net *net, uint64_t seed);
/* Hashes for seeding: splitmix64's next value (advances *state), and a mix of two words (the
 * loader's and trainer's per-(seed, epoch, position) streams). */
uint64_t zf_splitmix64(uint64_t *state);
uint64_t zf_mix64(uint64_t a, uint64_t b);

/* ---- checkpoints ------------------------------------------------------------------------- */

/* Write the net's parameters with PyTorch names and layouts, plus metadata (model text, ...).
 * `extra` adds more metadata (key, value pairs, NULL-terminated; may be NULL). */
zf_status zf_checkpoint_save(const zf_net *net, const char *path, const char *const *extra,
                             zf_error *err);
/* What a checkpoint can carry beyond the parameters. */
typedef struct zf_checkpoint_data {
    const char *const *meta; /* key, value pairs, NULL-terminated; may be NULL */
    const float *mean;       /* the data's per-pixel mean, stored as "data.mean"; may be NULL */
    zf_shape mean_shape;
    int momentum; /* also store the SGD momentum as "momentum.<name>" (for resuming) */
} zf_checkpoint_data;

zf_status zf_checkpoint_write(const zf_net *net, const char *path, const zf_checkpoint_data *d,
                              zf_error *err);
/* Load parameters; names, shapes, dtypes and sizes are checked against the model, and every
 * mismatch is named in the message. */
zf_status zf_checkpoint_load(zf_net *net, const char *path, zf_error *err);
/* Parameters and the momentum written with .momentum = 1. */
zf_status zf_checkpoint_load_state(zf_net *net, const char *path, zf_error *err);

#ifdef __cplusplus
}
#endif
#endif
