/* Fully connected: y = x w^T + b with the input flattened (c*h*w); w (out, in) as PyTorch. */
#include "layer.h"

#include <stddef.h>

#define K(f) offsetof(layer_def, p.fc.f)
static const key_spec fc_keys[] = {
    /* outputs may also be the word `classes`: the [net] classes value (stored as -1) */
    {"outputs", KEY_INT, K(outputs), 1, 1, 1 << 24, 0, NULL, 0},
    {"bias", KEY_BOOL, K(bias), 0, 0, 1, 1, NULL, 0},
    {NULL, 0, 0, 0, 0, 0, 0, NULL, 0},
};

static zf_status fc_plan(layer *l, zf_error *err) {
    const fc_params *p = &l->def->p.fc;
    if (p->outputs < 1)
        return zf_fail(err, ZF_ERR_SHAPE, "[fc] %s: outputs=%d must be at least 1", l->def->name,
                       p->outputs);
    uint64_t in = (uint64_t)l->in.c * l->in.h * l->in.w; /* at most ZF_MAX_VALUES */
    l->out = (zf_shape){p->outputs, 1, 1};
    l->nweights = (size_t)p->outputs * in;
    l->nbias = p->bias ? (size_t)p->outputs : 0;
    l->wndim = 2;
    l->wshape[0] = p->outputs, l->wshape[1] = (int64_t)in;
    l->macs = zf_mul_sat((uint64_t)p->outputs, in);
    /* a window over the whole input map */
    zf_rf_window(l, l->in.h > l->in.w ? l->in.h : l->in.w, 1, 0);
    return ZF_OK;
}

static void fc_set_batch(layer *l, int n, void *ctx) {
    l->d.fc = (fc_desc){.op = {.ctx = ctx},
                        .n = n,
                        .c = l->in.c,
                        .h = l->in.h,
                        .w = l->in.w,
                        .in = l->in.c * l->in.h * l->in.w,
                        .out = l->out.c,
                        .bias = l->def->p.fc.bias};
}

static size_t fc_aux_bytes(layer *l, const zf_backend *be) {
    (void)l, (void)be;
    return 0;
}

static size_t fc_workspace(layer *l, const zf_backend *be) {
    return be->fc_workspace(&l->d.fc);
}

static void fc_forward(layer *l, const layer_ctx *c, const float *x) {
    const float *b = l->nbias ? c->params + l->b_off : NULL;
    c->be->fc_forward(&l->d.fc, l->y, x, c->params + l->w_off, b, c->ws);
}

static void fc_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                        const float *x) {
    (void)rule;
    if (c->grads) {
        float *db = l->nbias ? c->grads + l->b_off : NULL;
        c->be->fc_backward_weights(&l->d.fc, c->grads + l->w_off, db, dy, x, c->ws);
    }
    if (dx) c->be->fc_backward_data(&l->d.fc, dx, dy, c->params + l->w_off, c->ws);
}

const layer_ops zf_fc_ops = {
    .kind = ZF_LAYER_FC,
    .name = "fc",
    .keys = fc_keys,
    .plan = fc_plan,
    .set_batch = fc_set_batch,
    .aux_bytes = fc_aux_bytes,
    .workspace = fc_workspace,
    .forward = fc_forward,
    .backward = fc_backward,
};
