/* ReLU, and its three downward rules composed from the backend's two primitives (the
 * rectifier and the forward mask): gradient, DeconvNet rectification, guided. */
#include "layer.h"

static const key_spec relu_keys[] = {{NULL, 0, 0, 0, 0, 0, 0, NULL, 0}};

static zf_status relu_plan(layer *l, zf_error *err) {
    (void)err;
    l->out = l->in;
    return ZF_OK;
}

static void relu_set_batch(layer *l, int n, void *ctx) {
    (void)l, (void)n, (void)ctx;
}

static size_t relu_no_bytes(layer *l, const zf_backend *be) {
    (void)l, (void)be;
    return 0;
}

static act_shape shape_of(const layer *l, const layer_ctx *c) {
    return (act_shape){c->n, l->out.c, l->out.h, l->out.w};
}

static void relu_forward(layer *l, const layer_ctx *c, const float *x) {
    c->be->relu_forward(shape_of(l, c), l->y, x);
}

static void relu_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                          const float *x) {
    (void)x;
    if (!dx) return;
    act_shape n = shape_of(l, c);
    switch (rule) {
    case ZF_RULE_GRADIENT: /* dy where the unit was on */
        c->be->relu_mask(n, dx, dy, l->y);
        break;
    case ZF_RULE_DECONVNET: /* ZF §2.1: the reconstruction itself is rectified */
        c->be->relu_forward(n, dx, dy);
        break;
    case ZF_RULE_GUIDED: /* Springenberg et al.: both */
        c->be->relu_forward(n, dx, dy);
        c->be->relu_mask(n, dx, dx, l->y);
        break;
    }
}

const layer_ops zf_relu_ops = {
    .kind = ZF_LAYER_RELU,
    .name = "relu",
    .keys = relu_keys,
    .plan = relu_plan,
    .set_batch = relu_set_batch,
    .aux_bytes = relu_no_bytes,
    .workspace = relu_no_bytes,
    .forward = relu_forward,
    .backward = relu_backward,
};
