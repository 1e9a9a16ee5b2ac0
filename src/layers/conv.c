/* Convolution with stride, padding and groups; weights (c_out, c_in/groups, k, k) as PyTorch. */
#include "layer.h"

#include <stddef.h>

#define K(f) offsetof(layer_def, p.conv.f)
static const key_spec conv_keys[] = {
    {"filters", KEY_INT, K(filters), 1, 1, 1 << 20, 0, NULL, 0},
    {"size", KEY_INT, K(size), 1, 1, 1024, 0, NULL, 0},
    {"stride", KEY_INT, K(stride), 0, 1, 1024, 1, NULL, 0},
    {"pad", KEY_INT, K(pad), 0, 0, 1024, 0, NULL, 0},
    {"groups", KEY_INT, K(groups), 0, 1, 1 << 20, 1, NULL, 0},
    {"bias", KEY_BOOL, K(bias), 0, 0, 1, 1, NULL, 0},
    {NULL, 0, 0, 0, 0, 0, 0, NULL, 0},
};

static zf_status conv_plan(layer *l, zf_error *err) {
    const conv_params *p = &l->def->p.conv;
    if (l->in.c % p->groups || p->filters % p->groups)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "[conv] %s: groups=%d must divide both its %d input channels and its "
                       "%d filters",
                       l->def->name, p->groups, l->in.c, p->filters);
    int ho = zf_window_out(l->in.h, p->size, p->stride, p->pad, 0);
    int wo = zf_window_out(l->in.w, p->size, p->stride, p->pad, 0);
    if (ho < 1 || wo < 1)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "[conv] %s: a %dx%d kernel does not fit its %dx%d input with pad %d",
                       l->def->name, p->size, p->size, l->in.h, l->in.w, p->pad);
    l->out = (zf_shape){p->filters, ho, wo};
    uint64_t fan_in = (uint64_t)(l->in.c / p->groups) * p->size * p->size;
    l->nweights = zf_mul_sat((uint64_t)p->filters, fan_in); /* limited by the net */
    l->nbias = p->bias ? (size_t)p->filters : 0;
    l->wndim = 4;
    l->wshape[0] = p->filters, l->wshape[1] = l->in.c / p->groups;
    l->wshape[2] = l->wshape[3] = p->size;
    l->macs = zf_mul_sat((uint64_t)p->filters * ho * wo, fan_in);
    zf_rf_window(l, p->size, p->stride, p->pad);
    return ZF_OK;
}

static void conv_set_batch(layer *l, int n, void *ctx) {
    const conv_params *p = &l->def->p.conv;
    l->d.conv = (conv_desc){.op = {.ctx = ctx},
                            .n = n,
                            .c_in = l->in.c,
                            .h = l->in.h,
                            .w = l->in.w,
                            .c_out = l->out.c,
                            .h_out = l->out.h,
                            .w_out = l->out.w,
                            .k = p->size,
                            .stride = p->stride,
                            .pad = p->pad,
                            .groups = p->groups,
                            .bias = p->bias};
}

static size_t conv_aux_bytes(layer *l, const zf_backend *be) {
    (void)l, (void)be;
    return 0;
}

static size_t conv_workspace(layer *l, const zf_backend *be) {
    return be->conv_workspace(&l->d.conv);
}

static void conv_forward(layer *l, const layer_ctx *c, const float *x) {
    const float *w = c->params + l->w_off;
    const float *b = l->nbias ? c->params + l->b_off : NULL;
    c->be->conv_forward(&l->d.conv, l->y, x, w, b, c->ws);
}

/* Every rule sends the signal through the transposed filters without bias (ZF §2.1). */
static void conv_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                          const float *x) {
    (void)rule;
    if (c->grads) {
        float *db = l->nbias ? c->grads + l->b_off : NULL;
        c->be->conv_backward_weights(&l->d.conv, c->grads + l->w_off, db, dy, x, c->ws);
    }
    if (dx) c->be->conv_backward_data(&l->d.conv, dx, dy, c->params + l->w_off, c->ws);
}

const layer_ops zf_conv_ops = {
    .kind = ZF_LAYER_CONV,
    .name = "conv",
    .keys = conv_keys,
    .plan = conv_plan,
    .set_batch = conv_set_batch,
    .aux_bytes = conv_aux_bytes,
    .workspace = conv_workspace,
    .forward = conv_forward,
    .backward = conv_backward,
};
