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

/* ---- datasets --------------------------------------------------------------------------- */

/* Images (8-bit, C x H x W) with integer labels, held in memory. */
typedef struct zf_dataset zf_dataset;

/* An IDX pair (MNIST / Fashion-MNIST format), gzipped or raw: images (N, rows, cols) of
 * unsigned bytes and labels (N). Every header field and size is checked. */
zf_status zf_dataset_open_idx(zf_dataset **out, const char *images, const char *labels,
                              zf_error *err);
void zf_dataset_free(zf_dataset *d);
int zf_dataset_count(const zf_dataset *d);
zf_shape zf_dataset_shape(const zf_dataset *d);
int zf_dataset_classes(const zf_dataset *d); /* 1 + the largest label */
/* Image i: (c, h, w) bytes (owned by the dataset) and its label. */
const uint8_t *zf_dataset_image(const zf_dataset *d, int i, int *label);

/* ---- checkpoints ------------------------------------------------------------------------- */

/* Write the net's parameters with PyTorch names and layouts, plus metadata (model text, ...).
 * `extra` adds more metadata (key, value pairs, NULL-terminated; may be NULL). */
zf_status zf_checkpoint_save(const zf_net *net, const char *path, const char *const *extra,
                             zf_error *err);
/* Load parameters; names, shapes, dtypes and sizes are checked against the model, and every
 * mismatch is named in the message. */
zf_status zf_checkpoint_load(zf_net *net, const char *path, zf_error *err);

#ifdef __cplusplus
}
#endif
#endif
