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

static void copy_nchw(float *dst, const float *src, int n, int c, int h, int w) {
    memcpy(dst, src, act_bytes(n, c, h, w));
}

static size_t conv_workspace(const conv_desc *d) {
    return sizeof(float) * zf_ref_conv_workspace_elems(d);
}

static const zf_backend ref_backend = {
    .name = "ref",
    .act_bytes = act_bytes,
    .to_nchw = copy_nchw,
    .from_nchw = copy_nchw,
    .conv_workspace = conv_workspace,
    .conv_forward = zf_ref_conv_forward_f32,
    .conv_backward_data = zf_ref_conv_backward_data_f32,
    .conv_backward_weights = zf_ref_conv_backward_weights_f32,
    .pool_forward = zf_ref_pool_forward_f32,
    .pool_backward = zf_ref_pool_backward_f32,
    .lrn_forward = zf_ref_lrn_forward_f32,
    .lrn_backward = zf_ref_lrn_backward_f32,
    .relu_forward = zf_ref_relu_forward_f32,
    .relu_backward = zf_ref_relu_backward_f32,
    .fc_forward = zf_ref_fc_forward_f32,
    .fc_backward_data = zf_ref_fc_backward_data_f32,
    .fc_backward_weights = zf_ref_fc_backward_weights_f32,
    .mul = zf_ref_mul_f32,
    .softmax_forward = zf_ref_softmax_forward_f32,
    .softmax_backward = zf_ref_softmax_backward_f32,
};

const zf_backend *zf_backend_ref(void) {
    return &ref_backend;
}
