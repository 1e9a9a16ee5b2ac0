/* Inverted dropout: in training each unit is kept with probability 1-p and scaled by 1/(1-p),
 * the mask drawn per row from the net's seeded generator and the row's global index; in inference
 * it is the identity. */
#include "layer.h"

#include <stddef.h>
#include <string.h>

#define K(f) offsetof(layer_def, p.dropout.f)
static const key_spec dropout_keys[] = {
    {"p", KEY_DOUBLE, K(p), 0, 0, 0.999, 0.5, NULL, 0},
    {NULL, 0, 0, 0, 0, 0, 0, NULL, 0},
};

static zf_status dropout_plan(layer *l, zf_error *err) {
    (void)err;
    l->out = l->in;
    return ZF_OK;
}

static void dropout_set_batch(layer *l, int n, void *ctx) {
    (void)ctx;
    l->d.fc = (fc_desc){.n = n}; /* only the batch size matters here */
}

/* the mask, float, in the backend's layout of the output */
static size_t dropout_aux_bytes(layer *l, const zf_backend *be) {
    return sizeof(float) * be->act_elems(l->d.fc.n, l->out.c, l->out.h, l->out.w);
}

static size_t dropout_workspace(layer *l, const zf_backend *be) {
    (void)l, (void)be;
    return 0;
}

static act_shape shape_of(const layer *l, const layer_ctx *c) {
    return (act_shape){c->n, l->out.c, l->out.h, l->out.w};
}

static size_t bytes_of(const layer *l, const layer_ctx *c) {
    return c->be->act_bytes(c->n, l->out.c, l->out.h, l->out.w);
}

static void dropout_forward(layer *l, const layer_ctx *c, const float *x) {
    if (c->mode != ZF_MODE_TRAIN || l->def->p.dropout.p == 0) {
        memcpy(l->y, x, bytes_of(l, c));
        return;
    }
    double p = l->def->p.dropout.p;
    float keep = (float)(1.0 / (1.0 - p));
    float *mask = l->aux;
    /* each row's mask from (the step's draw, its global row): a batch split over processes
     * draws what the whole batch draws */
    uint64_t base = zf_rng_next(c->rng);
    size_t per = c->be->act_elems(c->n, l->out.c, l->out.h, l->out.w) / (size_t)c->n;
    for (int r = 0; r < c->n; r++) {
        zf_rng rr;
        zf_rng_seed(&rr, zf_mix64(base, (uint64_t)(c->row0 + r)));
        float *m = mask + per * (size_t)r;
        for (size_t i = 0; i < per; i++) m[i] = zf_rng_uniform(&rr) >= p ? keep : 0.0f;
    }
    c->be->mul(shape_of(l, c), l->y, x, mask);
}

static void dropout_backward(layer *l, const layer_ctx *c, zf_rule rule, float *dx, const float *dy,
                             const float *x) {
    (void)rule, (void)x;
    if (!dx) return;
    if (c->mode != ZF_MODE_TRAIN || l->def->p.dropout.p == 0)
        memcpy(dx, dy, bytes_of(l, c));
    else
        c->be->mul(shape_of(l, c), dx, dy, l->aux);
}

const layer_ops zf_dropout_ops = {
    .kind = ZF_LAYER_DROPOUT,
    .name = "dropout",
    .keys = dropout_keys,
    .plan = dropout_plan,
    .set_batch = dropout_set_batch,
    .aux_bytes = dropout_aux_bytes,
    .workspace = dropout_workspace,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
