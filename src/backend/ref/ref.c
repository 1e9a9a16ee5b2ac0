/* The `ref` backend: plain-C kernels in dense NCHW, the oracle every other backend is tested
 * against. Activations are plain NCHW, so the edge conversions are copies. */
#include "ref.h"

#define REAL     float
#define FN(name) name##_f32
#include "kernels.inc"

size_t zf_ref_conv_workspace_elems(const conv_desc *d) {
    return (size_t)(d->c_in / d->groups) * d->k * d->k * d->h_out * d->w_out;
}

static size_t act_bytes(int n, int c, int h, int w) {
    return sizeof(float) * (size_t)n * c * h * w;
}

static size_t act_elems(int n, int c, int h, int w) {
    return (size_t)n * c * h * w;
}

static size_t count_of(act_shape s) {
    return act_elems(s.n, s.c, s.h, s.w);
}

static void relu_forward(act_shape s, float *y, const float *x) {
    zf_ref_relu_forward_f32(count_of(s), y, x);
}
static void relu_mask(act_shape s, float *dx, const float *dy, const float *y) {
    zf_ref_relu_mask_f32(count_of(s), dx, dy, y);
}
static void mul(act_shape s, float *y, const float *x, const float *mask) {
    zf_ref_mul_f32(count_of(s), y, x, mask);
}

static void copy_nchw(float *dst, const float *src, int n, int c, int h, int w) {
    memcpy(dst, src, act_bytes(n, c, h, w));
}

/* Adapters from the backend table's signatures to the kernels (no state, no context). */
static size_t conv_workspace(conv_desc *d) {
    return sizeof(float) * zf_ref_conv_workspace_elems(d);
}
static void conv_forward(conv_desc *d, float *y, const float *x, const float *w, const float *b,
                         void *ws) {
    zf_ref_conv_forward_f32(d, y, x, w, b, ws);
}
static void conv_backward_data(conv_desc *d, float *dx, const float *dy, const float *w, void *ws) {
    zf_ref_conv_backward_data_f32(d, dx, dy, w, ws);
}
static void conv_backward_weights(conv_desc *d, float *dw, float *db, const float *dy,
                                  const float *x, void *ws) {
    zf_ref_conv_backward_weights_f32(d, dw, db, dy, x, ws);
}
static size_t pool_aux_bytes(pool_desc *d) {
    return sizeof(int32_t) * (size_t)d->n * d->c * d->h_out * d->w_out;
}
static size_t pool_workspace(pool_desc *d) {
    (void)d;
    return 0;
}
static void pool_forward(pool_desc *d, float *y, void *sw, const float *x, void *ws) {
    (void)ws;
    zf_ref_pool_forward_f32(d, y, sw, x);
}
static void pool_backward(pool_desc *d, float *dx, const float *dy, const void *sw, void *ws) {
    (void)ws;
    zf_ref_pool_backward_f32(d, dx, dy, sw);
}
static size_t lrn_aux_bytes(lrn_desc *d) {
    return sizeof(float) * (size_t)d->n * d->c * d->h * d->w;
}
static size_t lrn_workspace(lrn_desc *d) {
    (void)d;
    return 0;
}
static void lrn_forward(lrn_desc *d, float *y, void *scale, const float *x, void *ws) {
    (void)ws;
    zf_ref_lrn_forward_f32(d, y, scale, x);
}
static void lrn_backward(lrn_desc *d, float *dx, const float *dy, const float *x, const void *scale,
                         void *ws) {
    (void)ws;
    zf_ref_lrn_backward_f32(d, dx, dy, x, scale);
}
static size_t fc_workspace(fc_desc *d) {
    (void)d;
    return 0;
}
static void fc_forward(fc_desc *d, float *y, const float *x, const float *w, const float *b,
                       void *ws) {
    (void)ws;
    zf_ref_fc_forward_f32(d, y, x, w, b);
}
static void fc_backward_data(fc_desc *d, float *dx, const float *dy, const float *w, void *ws) {
    (void)ws;
    zf_ref_fc_backward_data_f32(d, dx, dy, w);
}
static void fc_backward_weights(fc_desc *d, float *dw, float *db, const float *dy, const float *x,
                                void *ws) {
    (void)ws;
    zf_ref_fc_backward_weights_f32(d, dw, db, dy, x);
}

static const zf_backend ref_backend = {
    .name = "ref",
    .act_bytes = act_bytes,
    .act_elems = act_elems,
    .to_nchw = copy_nchw,
    .from_nchw = copy_nchw,
    .conv_workspace = conv_workspace,
    .conv_forward = conv_forward,
    .conv_backward_data = conv_backward_data,
    .conv_backward_weights = conv_backward_weights,
    .pool_aux_bytes = pool_aux_bytes,
    .pool_workspace = pool_workspace,
    .pool_forward = pool_forward,
    .pool_backward = pool_backward,
    .lrn_aux_bytes = lrn_aux_bytes,
    .lrn_workspace = lrn_workspace,
    .lrn_forward = lrn_forward,
    .lrn_backward = lrn_backward,
    .relu_forward = relu_forward,
    .relu_mask = relu_mask,
    .fc_workspace = fc_workspace,
    .fc_forward = fc_forward,
    .fc_backward_data = fc_backward_data,
    .fc_backward_weights = fc_backward_weights,
    .mul = mul,
    .softmax_forward = zf_ref_softmax_forward_f32,
    .softmax_backward = zf_ref_softmax_backward_f32,
};

const zf_backend *zf_backend_ref(void) {
    return &ref_backend;
}
