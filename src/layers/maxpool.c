/* Max pooling, floor or ceil output arithmetic; forward always records the switches (the argmax
 * of each window), which both the gradient and the DeconvNet unpooling route through. */
#include "layer.h"

#include <stddef.h>

static const char *const pool_modes[] = {"floor", "ceil", NULL};

#define K(f) offsetof(layer_def, p.pool.f)
static const key_spec pool_keys[] = {
    {"size", KEY_INT, K(size), 1, 1, 1024, 0, NULL, 0},
    {"stride", KEY_INT, K(stride), 1, 1, 1024, 0, NULL, 0},
    {"pad", KEY_INT, K(pad), 0, 0, 1024, 0, NULL, 0},
    {"mode", KEY_ENUM, K(ceil_mode), 0, 0, 1, 0, pool_modes, 0},
    {"pad_end", KEY_INT, K(pad_end), 0, -1024, 1024, 0, NULL, 1},
    {NULL, 0, 0, 0, 0, 0, 0, NULL, 0},
};

static zf_status pool_plan(layer *l, zf_error *err) {
    const pool_params *p = &l->def->p.pool;
    if (2 * p->pad > p->size)
        return zf_fail(err, ZF_ERR_SHAPE, "[maxpool] %s: pad=%d is more than half of size=%d",
                       l->def->name, p->pad, p->size);
    if (p->pad + p->pad_end < 0 || p->pad + p->pad_end >= p->size)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "[maxpool] %s: pad_end=%d makes the end padding %d: it must be in [0, %d]",
                       l->def->name, p->pad_end, p->pad + p->pad_end, p->size - 1);
    int ho = zf_pool_out(l->in.h, p->size, p->stride, p->pad, p->pad_end, p->ceil_mode);
    int wo = zf_pool_out(l->in.w, p->size, p->stride, p->pad, p->pad_end, p->ceil_mode);
    if (ho < 1 || wo < 1)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "[maxpool] %s: a %dx%d window does not fit its %dx%d input", l->def->name,
                       p->size, p->size, l->in.h, l->in.w);
    l->out = (zf_shape){l->in.c, ho, wo};
    zf_rf_window(l, p->size, p->stride, p->pad);
    return ZF_OK;
}

static void pool_set_batch(layer *l, int n, void *ctx) {
    const pool_params *p = &l->def->p.pool;
    l->d.pool = (pool_desc){.op = {.ctx = ctx},
                            .n = n,
                            .c = l->in.c,
                            .h = l->in.h,
                            .w = l->in.w,
                            .h_out = l->out.h,
                            .w_out = l->out.w,
                            .k = p->size,
                            .stride = p->stride,
                            .pad = p->pad};
}

static size_t pool_aux_bytes(layer *l, const zf_backend *be) {
    return be->pool_aux_bytes(&l->d.pool);
}

static size_t pool_workspace(layer *l, const zf_backend *be) {
    return be->pool_workspace(&l->d.pool);
}

static void pool_forward(layer *l, const layer_ctx *c, const float *x) {
    c->be->pool_forward(&l->d.pool, l->y, l->aux, x, c->ws);
}

static void pool_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                          const float *x) {
    (void)rule, (void)x;
    if (dx) c->be->pool_backward(&l->d.pool, dx, dy, l->aux, c->ws);
}

const layer_ops zf_maxpool_ops = {
    .kind = ZF_LAYER_MAXPOOL,
    .name = "maxpool",
    .keys = pool_keys,
    .plan = pool_plan,
    .set_batch = pool_set_batch,
    .aux_bytes = pool_aux_bytes,
    .workspace = pool_workspace,
    .forward = pool_forward,
    .backward = pool_backward,
};
