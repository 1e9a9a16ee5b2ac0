/* Local response (contrast) normalisation across channels. alpha_mode=per_size divides alpha by
 * the window size (PyTorch, Caffe); absolute uses it as is (cuda-convnet, ccv). On the way down
 * it applies its true gradient or passes the signal unchanged, as the pass's LRN choice says. */
#include "layer.h"

#include <stddef.h>
#include <string.h>

static const char *const alpha_modes[] = {"absolute", "per_size", NULL};

#define K(f) offsetof(layer_def, p.lrn.f)
static const key_spec lrn_keys[] = {
    {"size", KEY_INT, K(size), 0, 1, 1024, 5, NULL, 0},
    {"alpha", KEY_DOUBLE, K(alpha), 0, 0, 1e9, 1e-4, NULL, 0},
    {"beta", KEY_DOUBLE, K(beta), 0, 0, 1e3, 0.75, NULL, 0},
    {"k", KEY_DOUBLE, K(k), 0, 1e-12, 1e9, 2.0, NULL, 0},
    {"alpha_mode", KEY_ENUM, K(alpha_per_size), 0, 0, 1, 1, alpha_modes, 0},
    {NULL, 0, 0, 0, 0, 0, 0, NULL, 0},
};

static zf_status lrn_plan(layer *l, zf_error *err) {
    (void)err;
    l->out = l->in;
    return ZF_OK;
}

static void lrn_set_batch(layer *l, int n, void *ctx) {
    const lrn_params *p = &l->def->p.lrn;
    l->d.lrn = (lrn_desc){.op = {.ctx = ctx},
                          .n = n,
                          .c = l->in.c,
                          .h = l->in.h,
                          .w = l->in.w,
                          .size = p->size,
                          .alpha = p->alpha_per_size ? p->alpha / p->size : p->alpha,
                          .beta = p->beta,
                          .k = p->k};
}

static size_t lrn_aux_bytes(layer *l, const zf_backend *be) {
    return be->lrn_aux_bytes(&l->d.lrn);
}

static size_t lrn_workspace(layer *l, const zf_backend *be) {
    return be->lrn_workspace(&l->d.lrn);
}

static void lrn_forward(layer *l, const layer_ctx *c, const float *x) {
    c->be->lrn_forward(&l->d.lrn, l->y, l->aux, x, c->ws);
}

static void lrn_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                         const float *x) {
    if (!dx) return;
    (void)rule; /* the pass resolved the LRN choice that travels with the rule */
    if (c->lrn_gradient)
        c->be->lrn_backward(&l->d.lrn, dx, dy, x, l->aux, c->ws);
    else /* ZF §2.1 (decided in SPEC): contrast normalisation is identity on the way down */
        memcpy(dx, dy, c->be->act_bytes(c->n, l->out.c, l->out.h, l->out.w));
}

const layer_ops zf_lrn_ops = {
    .kind = ZF_LAYER_LRN,
    .name = "lrn",
    .keys = lrn_keys,
    .plan = lrn_plan,
    .set_batch = lrn_set_batch,
    .aux_bytes = lrn_aux_bytes,
    .workspace = lrn_workspace,
    .forward = lrn_forward,
    .backward = lrn_backward,
};
