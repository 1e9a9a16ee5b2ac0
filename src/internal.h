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

/* ---- layer settings (what the model file says) ------------------------------------------ */

typedef struct conv_params {
    int filters, size, stride, pad, groups, bias;
} conv_params;

typedef struct pool_params {
    int size, stride, pad, ceil_mode;
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

typedef struct layer_def {
    zf_layer_kind kind;
    char name[32];
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

typedef struct conv_desc {
    int n, c_in, h, w;       /* input */
    int c_out, h_out, w_out; /* output */
    int k, stride, pad, groups, bias;
} conv_desc;

typedef struct pool_desc {
    int n, c, h, w, h_out, w_out;
    int k, stride, pad;
} pool_desc;

typedef struct lrn_desc {
    int n, c, h, w;
    int size;
    double alpha, beta, k; /* alpha already divided by size when the convention says so */
} lrn_desc;

typedef struct fc_desc {
    int n, in, out, bias;
} fc_desc;

/* ---- the backend: an op-level table. Layers call it, never a library directly. ----------
 * Activations are `float *` buffers in the backend's own layout for a given (n, c, h, w);
 * act_bytes says how big, to_nchw/from_nchw convert at the edges. Parameters are always in
 * PyTorch's layout (the flat block). `ws` is the net's one shared workspace. */
typedef struct zf_backend {
    const char *name;
    size_t (*act_bytes)(int n, int c, int h, int w);
    void (*to_nchw)(float *dst, const float *src, int n, int c, int h, int w);
    void (*from_nchw)(float *dst, const float *src, int n, int c, int h, int w);

    size_t (*conv_workspace)(const conv_desc *d);
    void (*conv_forward)(const conv_desc *d, float *y, const float *x, const float *w,
                         const float *b, void *ws);
    void (*conv_backward_data)(const conv_desc *d, float *dx, const float *dy, const float *w,
                               void *ws);
    /* accumulates: dw += ..., db += ... (db may be NULL) */
    void (*conv_backward_weights)(const conv_desc *d, float *dw, float *db, const float *dy,
                                  const float *x, void *ws);

    /* switches: (n, c, h_out, w_out) index of the max within its input plane */
    void (*pool_forward)(const pool_desc *d, float *y, int32_t *switches, const float *x);
    void (*pool_backward)(const pool_desc *d, float *dx, const float *dy, const int32_t *switches);

    /* scale: (n, c, h, w) = k + alpha * sum of squares over the channel window */
    void (*lrn_forward)(const lrn_desc *d, float *y, float *scale, const float *x);
    void (*lrn_backward)(const lrn_desc *d, float *dx, const float *dy, const float *x,
                         const float *scale);

    void (*relu_forward)(size_t count, float *y, const float *x);
    /* y: the forward output (y > 0 is the forward mask) */
    void (*relu_backward)(zf_rule rule, size_t count, float *dx, const float *dy, const float *y);

    void (*fc_forward)(const fc_desc *d, float *y, const float *x, const float *w, const float *b);
    void (*fc_backward_data)(const fc_desc *d, float *dx, const float *dy, const float *w);
    void (*fc_backward_weights)(const fc_desc *d, float *dw, float *db, const float *dy,
                                const float *x);

    /* y = x * mask elementwise */
    void (*mul)(size_t count, float *y, const float *x, const float *mask);
    /* rows: (n, classes) */
    void (*softmax_forward)(int n, int classes, float *p, const float *x);
    /* dx = p * (dy - sum(dy * p)) per row */
    void (*softmax_backward)(int n, int classes, float *dx, const float *dy, const float *p);
} zf_backend;

const zf_backend *zf_backend_ref(void);

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
