/* The layer contract: a closed set of kinds, each in its own file, behind one const ops table.
 * plan (shapes, parameters, cost, receptive field) once; forward / backward per batch. */
#ifndef ZF_LAYER_H
#define ZF_LAYER_H

#include "../internal.h"

#include <stddef.h>

/* A key a layer kind accepts in the model file. */
typedef enum key_type { KEY_INT, KEY_DOUBLE, KEY_BOOL, KEY_ENUM } key_type;

typedef struct key_spec {
    const char *name;
    key_type type;
    size_t offset; /* into layer_def.p */
    int required;
    double min, max;          /* inclusive bounds for numbers */
    double def;               /* default when not required */
    const char *const *enums; /* KEY_ENUM: names, index is the stored int */
    int quiet;                /* left out of the canonical text while at its default */
} key_spec;

typedef struct layer {
    const layer_def *def;
    const struct layer_ops *ops;
    zf_shape in, out;
    size_t nweights, nbias; /* floats */
    size_t w_off, b_off;    /* into the flat parameter block */
    int64_t wshape[4];
    int wndim;
    uint64_t macs;
    int rf_size, rf_stride, rf_offset;

    /* for the reserved batch */
    float *y;        /* output, backend layout */
    int overwritten; /* y was overwritten by the next layer in place */
    void *aux;       /* switches, LRN scale, dropout mask */
    size_t aux_cap;  /* bytes reserved for aux */
    union {
        conv_desc conv;
        pool_desc pool;
        lrn_desc lrn;
        fc_desc fc;
    } d;
} layer;

typedef struct layer_ctx {
    const zf_backend *be;
    void *ws;
    int n;
    zf_mode mode;
    zf_rng *rng;
    int row0;         /* the global row of this batch's first (data-parallel parts) */
    float *params;    /* flat parameter block */
    float *grads;     /* flat gradient block; NULL when the pass computes no parameter
                         gradients (every rule but GRADIENT): the one place that gates them */
    int lrn_gradient; /* downward: LRN's true gradient (else identity) */
} layer_ctx;

typedef struct layer_ops {
    zf_layer_kind kind;
    const char *name; /* the section name in model files: conv, relu, maxpool, ... */
    const key_spec *keys;
    /* l->in is set; fill out, parameter sizes, macs, receptive-field step, aux size. */
    zf_status (*plan)(layer *l, zf_error *err);
    /* fill l->d for batch n (ctx: the backend's context) */
    void (*set_batch)(layer *l, int n, void *ctx);
    /* bytes of per-batch state kept from forward to backward, and of scratch, for l->d */
    size_t (*aux_bytes)(layer *l, const zf_backend *be);
    size_t (*workspace)(layer *l, const zf_backend *be);
    void (*forward)(layer *l, const layer_ctx *c, const float *x);
    /* dx: signal for the layer below (NULL when not needed); dy: signal at this output.
     * Parameter gradients are accumulated when c->grads is set. */
    void (*backward)(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                     const float *x);
} layer_ops;

extern const layer_ops zf_conv_ops, zf_relu_ops, zf_maxpool_ops, zf_lrn_ops, zf_fc_ops,
    zf_dropout_ops, zf_softmax_ops;

const layer_ops *zf_layer_ops(zf_layer_kind kind);
const layer_ops *zf_layer_ops_by_name(const char *section);

/* Shared geometry for sliding windows (conv and pooling). */
int zf_window_out(int in, int k, int stride, int pad, int ceil_mode);
/* Max pooling's output: zf_window_out over the input and pad_end more rows (columns) after it */
int zf_pool_out(int in, int k, int stride, int pad, int pad_end, int ceil_mode);
/* Receptive field after a window op with kernel k, stride s, padding p; l->rf_* hold the
 * previous layer's values on entry (the net sets them before plan). */
void zf_rf_window(layer *l, int k, int s, int p);

#endif
