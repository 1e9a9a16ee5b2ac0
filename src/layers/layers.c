/* The closed set of layer kinds, and the window geometry conv and pooling share. */
#include "layer.h"

#include <string.h>

static const layer_ops *const all_ops[ZF_LAYER_KIND_COUNT] = {
    [ZF_LAYER_CONV] = &zf_conv_ops,       [ZF_LAYER_RELU] = &zf_relu_ops,
    [ZF_LAYER_MAXPOOL] = &zf_maxpool_ops, [ZF_LAYER_LRN] = &zf_lrn_ops,
    [ZF_LAYER_FC] = &zf_fc_ops,           [ZF_LAYER_DROPOUT] = &zf_dropout_ops,
    [ZF_LAYER_SOFTMAX] = &zf_softmax_ops,
};

const layer_ops *zf_layer_ops(zf_layer_kind kind) {
    ZF_ASSERT(kind >= 0 && kind < ZF_LAYER_KIND_COUNT);
    return all_ops[kind];
}

const layer_ops *zf_layer_ops_by_name(const char *section) {
    for (int k = 0; k < ZF_LAYER_KIND_COUNT; k++)
        if (!strcmp(all_ops[k]->name, section)) return all_ops[k];
    return NULL;
}

const char *zf_layer_kind_name(zf_layer_kind k) {
    return k >= 0 && k < ZF_LAYER_KIND_COUNT ? all_ops[k]->name : "?";
}

/* Output size of a sliding window. Ceil mode as PyTorch (and Caffe): round up, but the last
 * window must start inside the input or its left padding. Returns < 1 when nothing fits. */
int zf_window_out(int in, int k, int stride, int pad, int ceil_mode) {
    int span = in + 2 * pad - k;
    if (span < 0) return 0;
    int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

int zf_pool_out(int in, int k, int stride, int pad, int pad_end, int ceil_mode) {
    /* the end padding beyond `pad` counts as input the windows may reach ... */
    int out = zf_window_out(in + pad_end, k, stride, pad, ceil_mode);
    /* ... but, as in PyTorch and onnxruntime, the last window starts inside the input or the
     * padding before it, never in the padding after it */
    if (ceil_mode && out > 1 && (out - 1) * stride >= in + pad) out--;
    return out;
}

/* Receptive-field figures held within +-2^30 (beyond any real input; they cannot wrap). */
static int rf_clamp(int64_t v) {
    return v > (1 << 30) ? (1 << 30) : v < -(1 << 30) ? -(1 << 30) : (int)v;
}

/* Unit j of the output sees input pixels [offset + j*stride, offset + j*stride + size - 1]. */
void zf_rf_window(layer *l, int k, int s, int p) {
    l->rf_offset = rf_clamp(l->rf_offset - (int64_t)p * l->rf_stride);
    l->rf_size = rf_clamp(l->rf_size + (int64_t)(k - 1) * l->rf_stride);
    l->rf_stride = rf_clamp((int64_t)l->rf_stride * s);
}
