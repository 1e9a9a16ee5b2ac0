/* Internal structures shared by the model parser, the layers, the net and the backends. */
#ifndef ZF_INTERNAL_H
#define ZF_INTERNAL_H

#include "zfnet/zfnet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Always-on invariant check: internal bugs abort with file:line (never compiled out). */
#define ZF_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) zf_assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)
_Noreturn void zf_assert_fail(const char *what, const char *file, int line);

/* Write a message into err (if non-NULL) and return status. */
zf_status zf_fail(zf_error *err, zf_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Seconds on a monotonic clock. */
double zf_now(void);

/* splitmix64's next value (advances *state): seeds and seeded shuffles. */
uint64_t zf_splitmix64(uint64_t *state);
/* Bytes per element of a safetensors dtype. */
size_t zf_dtype_size(zf_dtype t);

/* What a model may ask for: values per image at any layer (the kernels index them with int),
 * and parameters in all (zf_net_options.max_params may lower it). */
#define ZF_MAX_VALUES 2147483647ull
#define ZF_MAX_PARAMS (1ull << 32)

/* a * b, or UINT64_MAX when it does not fit */
static inline uint64_t zf_mul_sat(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static inline int zf_shape_equal(zf_shape a, zf_shape b) {
    return a.c == b.c && a.h == b.h && a.w == b.w;
}

/* ---- files ------------------------------------------------------------------------------ */

/* zf_fopen_read's file descriptor (zfnet.h). -1 with err set. */
int zf_open_read(const char *path, zf_error *err);

/* Atomic writes: the data goes to a temporary file beside `path`, is synced and renamed over
 * it, so readers see the old file or the whole new one. A failed write leaves no file. */
typedef struct zf_atomic {
    int fd, failed; /* failed: the first errno seen while writing */
    int slot;       /* in the table zf_remove_partial_files empties */
    char *tmp;
    const char *path;
} zf_atomic;

zf_status zf_atomic_begin(zf_atomic *a, const char *path, zf_error *err);
void zf_atomic_write(zf_atomic *a, const void *data, size_t n); /* errors reported at commit */
zf_status zf_atomic_commit(zf_atomic *a, zf_error *err);
void zf_atomic_abort(zf_atomic *a);
/* "[2,3,224,224]"; with any_first, a first dimension <= 0 is written as N (any batch). */
void zf_shape_text(char *buf, size_t cap, int ndim, const int64_t *shape, int any_first);
/* A whole file into a malloc'd buffer. */
zf_status zf_read_file(const char *path, uint8_t **data, size_t *len, zf_error *err);

/* class_names (a JSON array of strings, or NULL: none) into p; errors name path. */
zf_status zf_data_prep_read_names(zf_data_prep *p, const char *json, const char *path,
                                  zf_error *err);

/* The preparation fits the net: a finite mean of 1 or 3 square channels that covers its input
 * (with the crop padding), as many class names as classes; errors name path. */
zf_status zf_data_prep_check(const zf_data_prep *p, const zf_net *net, const char *path,
                             zf_error *err);

/* ---- net internals the checkpoint code shares ------------------------------------------- */

float *zf_net_momentum(zf_net *net); /* NULL before the first step */
/* The momentum buffer, allocated (zeroed) if there is none yet (to restore it); NULL when out
 * of memory. */
float *zf_net_momentum_alloc(zf_net *net);
/* The backend and thread count the net was created with (nets built beside it use them). */
zf_net_options zf_net_options_of(const zf_net *net);
/* Use another net's parameter block (laid out as this net's; it must outlive this net) instead
 * of its own: nets built over a slice of a bigger net's layers share its weights. */
void zf_net_borrow_params(zf_net *net, float *params);
/* The net itself when it computes in float32; for a bf16 net, a float32 net over the same
 * model and the same (borrowed, current) weights, made at the first call and freed with the
 * net: where the downward passes of the visualisations run (docs/precision.md). */
zf_status zf_net_fp32(zf_net *net, zf_net **out, zf_error *err);
/* The first parameter tensor whose values (grads: gradients) hold a NaN or an Inf; -1: none. */
int zf_net_first_nonfinite(const zf_net *net, int grads);

/* ---- layer settings (what the model file says) ------------------------------------------ */

typedef struct conv_params {
    int filters, size, stride, pad, groups, bias;
} conv_params;

typedef struct pool_params {
    int size, stride, pad, ceil_mode;
    int pad_end; /* more padding at the bottom and right than `pad` (may be < 0) */
} pool_params;

typedef struct lrn_params {
    int size;
    double alpha, beta, k;
    int alpha_per_size; /* 1: alpha/n (PyTorch, Caffe); 0: alpha as is (cuda-convnet, ccv) */
} lrn_params;

typedef struct fc_params {
    int outputs, bias;
} fc_params;

typedef struct dropout_params {
    double p;
} dropout_params;

/* A model's limits, the same for model files and ONNX imports: its layers, and the bytes of a
 * layer's (or the net's) name with its NUL. */
#define ZF_MAX_LAYERS 256
#define ZF_NAME_MAX   32
/* The rule for a name, as messages state it, and its check: 1 on a valid name. */
#define ZF_NAME_RULE "1-31 letters, digits, '_', '-' or '.'"
int zf_name_valid(const char *name);

typedef struct layer_def {
    zf_layer_kind kind;
    char name[ZF_NAME_MAX];
    int line;
    union {
        conv_params conv;
        pool_params pool;
        lrn_params lrn;
        fc_params fc;
        dropout_params dropout;
    } p;
} layer_def;

struct zf_model {
    char name[64];
    char filename[256];
    zf_shape input;
    int classes;
    int nlayers;
    layer_def *layers;
    char *text; /* canonical text */
};

/* ---- op descriptors: what a backend needs to run one op for one batch size ------------- */

/* First member of every descriptor: the backend's context (engine, stream) and its per-op
 * state (primitives, reorder buffers), created by the backend on first use and freed by the
 * net through zf_backend.state_free when the batch size changes or the net is freed. */
typedef struct op_common {
    void *ctx;
    void *state;
} op_common;

typedef struct conv_desc {
    op_common op;
    int n, c_in, h, w;       /* input */
    int c_out, h_out, w_out; /* output */
    int k, stride, pad, groups, bias;
} conv_desc;

typedef struct pool_desc {
    op_common op;
    int n, c, h, w, h_out, w_out;
    int k, stride, pad;
} pool_desc;

typedef struct lrn_desc {
    op_common op;
    int n, c, h, w;
    int size;
    double alpha, beta, k; /* alpha already divided by size when the convention says so */
} lrn_desc;

typedef struct fc_desc {
    op_common op;
    int n, c, h, w; /* input shape (in = c*h*w) */
    int in, out, bias;
} fc_desc;

/* An activation's shape, for the elementwise hooks (its element type may depend on it). */
typedef struct act_shape {
    int n, c, h, w;
} act_shape;

/* ---- the backend: an op-level table. Layers call it, never a library directly. ----------
 * Activations are `float *` buffers in the backend's own layout and element type for a given
 * (n, c, h, w) (the bf16 backend holds some in bfloat16 behind the pointer); act_bytes says how
 * big, act_elems how many elements (padding included), to_nchw/from_nchw convert to and from
 * plain float NCHW at the edges. Parameters are always in
 * PyTorch's layout (the flat block). `ws` is the net's one shared workspace, sized from the
 * *_workspace hooks; per-layer state that outlives a call (pooling switches, LRN scales) lives
 * in the layer's aux buffer, sized from the *_aux_bytes hooks. */
typedef struct zf_backend {
    const char *name;
    void *(*ctx_create)(void); /* may be NULL: no context */
    void (*ctx_free)(void *ctx);
    void (*state_free)(void *state); /* may be NULL: ops keep no state */

    size_t (*act_bytes)(int n, int c, int h, int w);
    size_t (*act_elems)(int n, int c, int h, int w);
    void (*to_nchw)(float *dst, const float *src, int n, int c, int h, int w);
    void (*from_nchw)(float *dst, const float *src, int n, int c, int h, int w);

    size_t (*conv_workspace)(conv_desc *d);
    void (*conv_forward)(conv_desc *d, float *y, const float *x, const float *w, const float *b,
                         void *ws);
    void (*conv_backward_data)(conv_desc *d, float *dx, const float *dy, const float *w, void *ws);
    /* accumulates: dw += ..., db += ... (db may be NULL) */
    void (*conv_backward_weights)(conv_desc *d, float *dw, float *db, const float *dy,
                                  const float *x, void *ws);

    /* switches: the backend's record of each window's argmax */
    size_t (*pool_aux_bytes)(pool_desc *d);
    size_t (*pool_workspace)(pool_desc *d);
    void (*pool_forward)(pool_desc *d, float *y, void *switches, const float *x, void *ws);
    void (*pool_backward)(pool_desc *d, float *dx, const float *dy, const void *switches, void *ws);

    /* scale: what the backward pass needs from the forward (k + alpha * sum of squares) */
    size_t (*lrn_aux_bytes)(lrn_desc *d);
    size_t (*lrn_workspace)(lrn_desc *d);
    void (*lrn_forward)(lrn_desc *d, float *y, void *scale, const float *x, void *ws);
    void (*lrn_backward)(lrn_desc *d, float *dx, const float *dy, const float *x, const void *scale,
                         void *ws);

    /* y = max(x, 0) */
    void (*relu_forward)(act_shape s, float *y, const float *x);
    /* dx = dy where y > 0, else 0 (y: the forward output); dx may be dy. The signal rules are
     * composed from these two in the ReLU layer. */
    void (*relu_mask)(act_shape s, float *dx, const float *dy, const float *y);

    size_t (*fc_workspace)(fc_desc *d);
    void (*fc_forward)(fc_desc *d, float *y, const float *x, const float *w, const float *b,
                       void *ws);
    void (*fc_backward_data)(fc_desc *d, float *dx, const float *dy, const float *w, void *ws);
    void (*fc_backward_weights)(fc_desc *d, float *dw, float *db, const float *dy, const float *x,
                                void *ws);

    /* y = x * mask elementwise; the mask is float, act_elems of them, in the layout's order */
    void (*mul)(act_shape s, float *y, const float *x, const float *mask);
    /* rows: (n, classes), plain layout */
    void (*softmax_forward)(int n, int classes, float *p, const float *x);
    /* dx = p * (dy - sum(dy * p)) per row */
    void (*softmax_backward)(int n, int classes, float *dx, const float *dy, const float *p);
} zf_backend;

const zf_backend *zf_backend_ref(void);
const zf_backend *zf_backend_dnnl(void);
/* dnnl computing in bfloat16 (ZF_PRECISION_BF16) */
const zf_backend *zf_backend_dnnl_bf16(void);

/* ---- random numbers: xoshiro256** seeded by splitmix64 ---------------------------------- */

typedef struct zf_rng {
    uint64_t s[4];
} zf_rng;

void zf_rng_seed(zf_rng *r, uint64_t seed);
uint64_t zf_rng_next(zf_rng *r);
double zf_rng_uniform(zf_rng *r); /* [0, 1) */
double zf_rng_normal(zf_rng *r);

/* ---- model text helpers ----------------------------------------------------------------- */

const char *zf_preset_text(const char *name); /* NULL if not a preset */

#endif
