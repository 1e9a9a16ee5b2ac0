/* Softmax over classes; with labels, the net's loss is the mean cross-entropy and the gradient
 * from the loss is (p - onehot) / n (the net computes it; this layer's backward is the
 * softmax Jacobian applied to a given signal). */
#include "layer.h"

static const key_spec softmax_keys[] = {{NULL, 0, 0, 0, 0, 0, 0, NULL, 0}};

static zf_status softmax_plan(layer *l, zf_error *err) {
    if (l->in.h != 1 || l->in.w != 1)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "[softmax] %s: needs a vector input (an fc layer before it), got %dx%dx%d",
                       l->def->name, l->in.c, l->in.h, l->in.w);
    l->out = l->in;
    return ZF_OK;
}

static void softmax_set_batch(layer *l, int n, void *ctx) {
    (void)l, (void)n, (void)ctx;
}

static size_t softmax_no_bytes(layer *l, const zf_backend *be) {
    (void)l, (void)be;
    return 0;
}

static void softmax_forward(layer *l, const layer_ctx *c, const float *x) {
    c->be->softmax_forward(c->n, l->out.c, l->y, x);
}

static void softmax_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                             const float *x) {
    (void)rule, (void)x;
    if (dx) c->be->softmax_backward(c->n, l->out.c, dx, dy, l->y);
}

const layer_ops zf_softmax_ops = {
    .kind = ZF_LAYER_SOFTMAX,
    .name = "softmax",
    .keys = softmax_keys,
    .plan = softmax_plan,
    .set_batch = softmax_set_batch,
    .aux_bytes = softmax_no_bytes,
    .workspace = softmax_no_bytes,
    .forward = softmax_forward,
    .backward = softmax_backward,
};
