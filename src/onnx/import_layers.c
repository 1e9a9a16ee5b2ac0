/* What each node on the chain becomes: Conv, MaxPool, LRN, Relu, Dropout, Softmax, Flatten,
 * Reshape, Gemm and MatMul (+ Add) as layers of the model text, their weights kept. */
#include "../layers/layer.h"
#include "import.h"

#include <math.h>
#include <stdarg.h>

static void emit(importer *im, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(im->text + im->len, im->cap - im->len, fmt, ap);
        va_end(ap);
        if (k >= 0 && im->len + (size_t)k < im->cap) {
            im->len += (size_t)k;
            return;
        }
        char *t = im->failed ? NULL : realloc(im->text, im->cap * 2 + (size_t)k + 64);
        if (!t) return (void)(im->failed = 1);
        im->text = t, im->cap = im->cap * 2 + (size_t)k + 64;
    }
}

/* A list attribute of 2-D windows: (h, w) values, or pads (h0, w0, h1, w1). 0: absent (out
 * keeps `def`); -1: another length. */
static int attr_2d(const Onnx__NodeProto *n, const char *name, int64_t *out, int count,
                   int64_t def) {
    for (int i = 0; i < count; i++) out[i] = def;
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    if (!a) return 0;
    if ((int)a->n_ints != count) return -1;
    for (int i = 0; i < count; i++) out[i] = a->ints[i];
    return 1;
}

/* A name for the layer a node becomes: the node's own when it is a valid, unused layer name,
 * else PREFIX + a count (conv1, relu2, ...). */
static const char *layer_name(importer *im, const Onnx__NodeProto *n, zf_layer_kind kind,
                              const char *prefix) {
    char cand[ZF_NAME_MAX];
    const char *s = n && n->name ? n->name : "";
    int ok = zf_name_valid(s) && im->nlayers < ZF_MAX_LAYERS;
    for (int i = 0; ok && i < im->nlayers; i++) ok = strcmp(im->names[i], s);
    snprintf(cand, sizeof cand, "%s", ok ? s : "");
    while (!ok) {
        snprintf(cand, sizeof cand, "%s%d", prefix, ++im->counter[kind]);
        ok = 1;
        for (int i = 0; ok && i < im->nlayers; i++) ok = strcmp(im->names[i], cand);
    }
    int i = im->nlayers < ZF_MAX_LAYERS ? im->nlayers : ZF_MAX_LAYERS - 1;
    snprintf(im->names[i], sizeof im->names[i], "%s", cand);
    im->nlayers++;
    return im->names[i];
}

/* Keep a parameter under its zfnet name; the data is the importer's now. */
static zf_status keep_weight(importer *im, const char *lname, const char *what, float *data,
                             size_t count) {
    if (im->nw == MAX_WEIGHTS) {
        free(data);
        return onnx_refuse(im, NULL, "more than %d parameter tensors", MAX_WEIGHTS);
    }
    weight *w = &im->w[im->nw++];
    snprintf(w->name, sizeof w->name, "%s.%s", lname, what);
    w->data = data, w->count = count;
    return ZF_OK;
}

/* ---- windows: Conv and MaxPool ------------------------------------------------------------ */

/* SAME padding along one axis: (begin, end) */
static void same_pads(int in, int k, int s, int upper, int64_t *b, int64_t *e) {
    int out = (in + s - 1) / s, total = (out - 1) * s + k - in;
    if (total < 0) total = 0;
    *b = upper ? total / 2 : total - total / 2;
    *e = total - *b;
}

/* A square window: kernel k (kernel_shape, else k0 from the weight), stride, padding before
 * (pb) and after (pe) the input, the same along height and width. */
static zf_status window(importer *im, const Onnx__NodeProto *n, int64_t k0, int *k, int *s, int *pb,
                        int *pe) {
    int64_t ks[2], st[2], dil[2], pads[4];
    int have_k = attr_2d(n, "kernel_shape", ks, 2, k0);
    if (have_k < 0 || attr_2d(n, "strides", st, 2, 1) < 0 ||
        attr_2d(n, "dilations", dil, 2, 1) < 0 || attr_2d(n, "pads", pads, 4, 0) < 0 ||
        im->rank != 4)
        return onnx_refuse(im, n,
                           "a window over a %d-D input or of other than 2 sides: zfnet reads "
                           "2-D windows over N x C x H x W",
                           im->rank);
    if (!have_k && k0 <= 0) return onnx_refuse(im, n, "no kernel_shape");
    if (ks[0] != ks[1] || ks[0] < 1 || ks[0] > 1024)
        return onnx_refuse(im, n, "kernel %lldx%lld: zfnet's windows are square, 1 to 1024",
                           (long long)ks[0], (long long)ks[1]);
    if (st[0] != st[1] || st[0] < 1 || st[0] > 1024)
        return onnx_refuse(im, n, "strides %lld,%lld: zfnet's strides are equal, 1 to 1024",
                           (long long)st[0], (long long)st[1]);
    if (dil[0] != 1 || dil[1] != 1)
        return onnx_refuse(im, n, "dilations %lld,%lld: only 1 is read", (long long)dil[0],
                           (long long)dil[1]);
    if (onnx_attr_is(n, "auto_pad", "VALID"))
        pads[0] = pads[1] = pads[2] = pads[3] = 0;
    else if (onnx_attr_is(n, "auto_pad", "SAME_UPPER") ||
             onnx_attr_is(n, "auto_pad", "SAME_LOWER")) {
        int upper = onnx_attr_is(n, "auto_pad", "SAME_UPPER");
        same_pads(im->shape.h, (int)ks[0], (int)st[0], upper, &pads[0], &pads[2]);
        same_pads(im->shape.w, (int)ks[0], (int)st[0], upper, &pads[1], &pads[3]);
    } else if (!onnx_attr_is(n, "auto_pad", "NOTSET"))
        return onnx_refuse(im, n, "auto_pad is not NOTSET, VALID, SAME_UPPER or SAME_LOWER");
    if (pads[0] != pads[1] || pads[2] != pads[3])
        return onnx_refuse(im, n, "pads [%lld,%lld,%lld,%lld] differ between height and width",
                           (long long)pads[0], (long long)pads[1], (long long)pads[2],
                           (long long)pads[3]);
    if (pads[0] < 0 || pads[2] < 0 || pads[0] > 1024 || pads[2] > 1024)
        return onnx_refuse(im, n, "pads %lld,%lld are outside [0, 1024]", (long long)pads[0],
                           (long long)pads[2]);
    *k = (int)ks[0], *s = (int)st[0], *pb = (int)pads[0], *pe = (int)pads[2];
    return ZF_OK;
}

/* the map a window op leaves (begin padding pb, end padding pe) */
static zf_status window_out(importer *im, const Onnx__NodeProto *n, int k, int s, int pb, int pe,
                            int ceil_mode) {
    int h = zf_pool_out(im->shape.h, k, s, pb, pe - pb, ceil_mode);
    int w = zf_pool_out(im->shape.w, k, s, pb, pe - pb, ceil_mode);
    if (h < 1 || w < 1)
        return onnx_refuse(im, n, "a %dx%d window does not fit its %dx%d input", k, k, im->shape.h,
                           im->shape.w);
    im->shape.h = h, im->shape.w = w;
    return ZF_OK;
}

static zf_status conv(importer *im, const Onnx__NodeProto *n) {
    const Onnx__TensorProto *w = n->n_input > 1 ? onnx_constant(im, n->input[1]) : NULL;
    if (!w)
        return onnx_refuse(im, n, "its weight '%s' is neither an initializer nor a Constant",
                           n->n_input > 1 ? n->input[1] : "");
    int64_t g = onnx_attr_i(n, "group", 1), ks[2];
    if (onnx_tensor_count(w) < 1 || w->n_dims != 4)
        return onnx_refuse(im, n, "weight '%s' is not a 4-D tensor of at most 2^31 values",
                           w->name ? w->name : "");
    if (attr_2d(n, "kernel_shape", ks, 2, w->dims[2]) > 0 &&
        (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return onnx_refuse(im, n, "kernel_shape %lldx%lld differs from its weight's %lldx%lld",
                           (long long)ks[0], (long long)ks[1], (long long)w->dims[2],
                           (long long)w->dims[3]);
    if (w->n_dims != 4 || w->dims[2] != w->dims[3] || g < 1 || g > (1 << 20) || w->dims[0] % g ||
        w->dims[1] * g != im->shape.c)
        return onnx_refuse(im, n,
                           "weight '%s' of %zu dims does not fit a %d-channel input in %lld "
                           "group(s)",
                           w->name ? w->name : "", w->n_dims, im->shape.c, (long long)g);
    int k, s, pb, pe;
    zf_status st = window(im, n, w->dims[2], &k, &s, &pb, &pe);
    if (st) return st;
    if (pb != pe)
        return onnx_refuse(im, n,
                           "pads %d before and %d after: zfnet's convolutions pad both sides "
                           "alike",
                           pb, pe);
    const Onnx__TensorProto *b =
        n->n_input > 2 && *n->input[2] ? onnx_constant(im, n->input[2]) : NULL;
    if (n->n_input > 2 && *n->input[2] && !b)
        return onnx_refuse(im, n, "its bias '%s' is neither an initializer nor a Constant",
                           n->input[2]);
    int64_t cw = 0, cb = 0;
    float *wd = onnx_tensor_floats(im, n, "weight", w, &cw), *bd = NULL;
    if (!wd || (b && !(bd = onnx_tensor_floats(im, n, "bias", b, &cb))))
        return free(wd), ZF_ERR_FORMAT;
    if (b && cb != w->dims[0]) {
        free(wd), free(bd);
        return onnx_refuse(im, n, "bias of %lld values for %lld filters", (long long)cb,
                           (long long)w->dims[0]);
    }
    const char *name = layer_name(im, n, ZF_LAYER_CONV, "conv");
    emit(im, "\n[conv]\nname=%s\nfilters=%lld\nsize=%d\nstride=%d\npad=%d\ngroups=%lld\nbias=%d\n",
         name, (long long)w->dims[0], k, s, pb, (long long)g, b != NULL);
    im->shape.c = (int)w->dims[0];
    st = keep_weight(im, name, "weight", wd, (size_t)cw);
    if (!st && bd)
        st = keep_weight(im, name, "bias", bd, (size_t)cb);
    else if (st)
        free(bd);
    return st ? st : window_out(im, n, k, s, pb, pb, 0);
}

static zf_status maxpool(importer *im, const Onnx__NodeProto *n) {
    if (n->n_output > 1 && *n->output[1])
        return onnx_refuse(im, n,
                           "its Indices output is not read (zfnet keeps the switches itself)");
    if (onnx_attr_i(n, "storage_order", 0))
        return onnx_refuse(im, n, "storage_order 1 is not read");
    int k, s, pb, pe, ceil_mode = (int)onnx_attr_i(n, "ceil_mode", 0);
    if (!onnx_attr(n, "kernel_shape")) return onnx_refuse(im, n, "no kernel_shape");
    zf_status st = window(im, n, 0, &k, &s, &pb, &pe);
    if (st) return st;
    if (2 * pb > k || pe >= k)
        return onnx_refuse(im, n,
                           "pads %d, %d with a %d window: zfnet pads at most half the window "
                           "before and less than the window after",
                           pb, pe, k);
    if (ceil_mode != 0 && ceil_mode != 1) return onnx_refuse(im, n, "ceil_mode %d", ceil_mode);
    const char *name = layer_name(im, n, ZF_LAYER_MAXPOOL, "pool");
    emit(im, "\n[maxpool]\nname=%s\nsize=%d\nstride=%d\npad=%d\nmode=%s\n", name, k, s, pb,
         ceil_mode ? "ceil" : "floor");
    if (pe != pb) emit(im, "pad_end=%d\n", pe - pb);
    return window_out(im, n, k, s, pb, pe, ceil_mode);
}

/* ---- per-position and vector ops ------------------------------------------------------------ */

zf_status onnx_lrn_layer(importer *im, const Onnx__NodeProto *n, int64_t size, double alpha,
                         double beta, double bias, int absolute) {
    if (im->rank != 4)
        return onnx_refuse(im, n, "a %d-D input: LRN runs over N x C x H x W", im->rank);
    if (size < 1 || size > 1024 || size % 2 == 0)
        return onnx_refuse(im, n, "size %lld: zfnet's LRN windows are odd (centred), 1 to 1023",
                           (long long)size);
    if (!(bias >= 1e-12 && bias <= 1e9) || !(alpha >= 0 && alpha <= 1e9) ||
        !(beta >= 0 && beta <= 1e3))
        return onnx_refuse(im, n,
                           "alpha %g, beta %g, bias %g: outside [0, 1e9], [0, 1000], "
                           "[1e-12, 1e9]",
                           alpha, beta, bias);
    const char *name = layer_name(im, n, ZF_LAYER_LRN, "norm");
    emit(im, "\n[lrn]\nname=%s\nsize=%lld\nalpha=%.17g\nbeta=%.17g\nk=%.17g\nalpha_mode=%s\n", name,
         (long long)size, alpha, beta, bias, absolute ? "absolute" : "per_size");
    return ZF_OK;
}

/* ONNX's LRN divides alpha by size; a node zfnet wrote from alpha_mode=absolute says so. */
static zf_status lrn(importer *im, const Onnx__NodeProto *n) {
    int64_t size = onnx_attr_i(n, "size", 0);
    const Onnx__AttributeProto *a = onnx_attr(n, "alpha");
    double alpha = onnx_attr_f(n, "alpha", 1e-4);
    int absolute = n->doc_string && !strcmp(n->doc_string, ZF_ONNX_LRN_ABSOLUTE) && size > 0;
    if (absolute) alpha = a && a->has_f ? onnx_float_value(a->f / (float)size) : alpha / size;
    return onnx_lrn_layer(im, n, size, alpha, onnx_attr_f(n, "beta", 0.75),
                          onnx_attr_f(n, "bias", 1.0), absolute);
}

static zf_status relu(importer *im, const Onnx__NodeProto *n) {
    emit(im, "\n[relu]\nname=%s\n", layer_name(im, n, ZF_LAYER_RELU, "relu"));
    return ZF_OK;
}

/* Dropout at inference: the ratio (an attribute before opset 12, an input from it); a mask
 * output or a training_mode that is not a constant false is refused. */
static zf_status dropout(importer *im, const Onnx__NodeProto *n) {
    int first, graph_out = 0;
    for (size_t i = 0; n->n_output > 1 && i < im->g->n_output; i++)
        graph_out |= onnx_tensor_is(im->g->output[i]->name, n->output[1]);
    if (n->n_output > 1 && *n->output[1] &&
        (graph_out || onnx_readers(im, n->output[1], 0, &first)))
        return onnx_refuse(im, n, "its mask output is used: zfnet's dropout has none");
    double p = onnx_attr_f(n, "ratio", 0.5);
    if (im->opset >= 12 && n->n_input > 1 && *n->input[1] &&
        isnan(p = onnx_scalar(im, n->input[1])))
        return onnx_refuse(im, n, "its ratio '%s' is not a float constant", n->input[1]);
    if (n->n_input > 2 && *n->input[2]) {
        const Onnx__TensorProto *t = onnx_constant(im, n->input[2]);
        if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ||
            onnx_tensor_count(t) != 1 ||
            (t->has_raw_data ? t->raw_data.len != 1 || t->raw_data.data[0]
                             : t->n_int32_data != 1 || t->int32_data[0]))
            return onnx_refuse(im, n,
                               "training_mode is not a constant false: zfnet imports "
                               "inference graphs");
    }
    if (!(p >= 0 && p <= 0.999)) return onnx_refuse(im, n, "ratio %g is outside [0, 0.999]", p);
    emit(im, "\n[dropout]\nname=%s\np=%.17g\n", layer_name(im, n, ZF_LAYER_DROPOUT, "drop"), p);
    return ZF_OK;
}

/* Softmax over the vector an fc made: axis 1 of an N x K tensor (or of N x K x 1 x 1). */
static zf_status softmax(importer *im, const Onnx__NodeProto *n) {
    int64_t axis = onnx_attr_i(n, "axis", im->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += im->rank;
    int vector = im->rank == 2 || (im->shape.h == 1 && im->shape.w == 1);
    if (axis != 1 || !vector || (im->rank == 2 && im->shape.h * im->shape.w != 1))
        return onnx_refuse(im, n,
                           "axis %lld of a %d-D tensor: zfnet's softmax is over the vector an "
                           "fc layer makes",
                           (long long)axis, im->rank);
    emit(im, "\n[softmax]\nname=%s\n", layer_name(im, n, ZF_LAYER_SOFTMAX, "prob"));
    im->softmax_seen = 1;
    return ZF_OK;
}

/* Flatten from axis 1: zfnet's fc reads its input flattened, so no layer is needed. */
static zf_status flatten(importer *im, const Onnx__NodeProto *n) {
    int64_t given = onnx_attr_i(n, "axis", 1), axis = given < 0 ? given + im->rank : given;
    if (axis != 1)
        return onnx_refuse(im, n,
                           "axis %lld of a %d-D tensor: only the flattening of each image "
                           "(axis 1) is read",
                           (long long)given, im->rank);
    im->rank = 2;
    return ZF_OK;
}

/* Reshape: only the flattening before an fc layer is read, its shape evaluated (a constant,
 * or Shape/Gather/Unsqueeze/Concat of the chain's tensor as PyTorch writes x.view(x.size(0),
 * -1)). */
static zf_status reshape(importer *im, const Onnx__NodeProto *n) {
    int64_t t[IMAX];
    int c = -1;
    const Onnx__AttributeProto *sa = onnx_attr(n, "shape"); /* before opset 5 */
    if (n->n_input > 1)
        c = onnx_eval_ints(im, n->input[1], t, 0);
    else if (sa && sa->n_ints <= IMAX)
        for (c = 0; c < (int)sa->n_ints; c++) t[c] = sa->ints[c];
    int64_t chw = (int64_t)im->shape.c * im->shape.h * im->shape.w;
    int first = c == 2 && (t[0] == BATCH || t[0] == 0 || (t[0] == -1 && t[1] == chw) ||
                           (im->batch > 0 && t[0] == im->batch));
    if (first && (t[1] == -1 || t[1] == chw)) {
        im->rank = 2;
        return ZF_OK;
    }
    char shape[128] = "";
    for (int i = 0; i < c; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", i ? "," : "",
                 t[i] == BATCH ? -1ll : (long long)t[i]);
    if (c < 0) return onnx_refuse(im, n, "its shape is not a constant zfnet can evaluate");
    return onnx_refuse(im, n,
                       "shape [%s] of a %d-value image: only the flattening before an fc "
                       "layer ([N, -1]) is read",
                       shape, (int)chw);
}

/* ---- Gemm, MatMul (+ Add) ------------------------------------------------------------------ */

/* An fc layer from weight wd (outputs x inputs, PyTorch's layout) and bias bd (or NULL). */
static zf_status fc_layer(importer *im, const Onnx__NodeProto *n, float *wd, float *bd,
                          int64_t outputs) {
    const char *name = layer_name(im, n, ZF_LAYER_FC, "fc");
    emit(im, "\n[fc]\nname=%s\noutputs=%lld\nbias=%d\n", name, (long long)outputs, bd != NULL);
    int64_t in = (int64_t)im->shape.c * im->shape.h * im->shape.w;
    zf_status st = keep_weight(im, name, "weight", wd, (size_t)(outputs * in));
    if (!st && bd)
        st = keep_weight(im, name, "bias", bd, (size_t)outputs);
    else if (st)
        free(bd);
    im->shape = (zf_shape){(int)outputs, 1, 1}, im->rank = 2, im->classes = (int)outputs;
    return st;
}

/* B (K x N, or N x K with transB) as PyTorch's N x K weight, scaled by alpha */
static float *fc_weight(importer *im, const Onnx__NodeProto *n, const Onnx__TensorProto *b,
                        int trans, double alpha, int64_t *outputs) {
    int64_t in = (int64_t)im->shape.c * im->shape.h * im->shape.w, count = 0;
    if (im->rank != 2)
        return onnx_refuse(im, n, "its input is %d-D: a Flatten or Reshape must come before it",
                           im->rank),
               NULL;
    if (!b || b->n_dims != 2 || b->dims[trans ? 1 : 0] != in)
        return onnx_refuse(im, n, "its weight is not a constant matrix with %lld inputs",
                           (long long)in),
               NULL;
    float *src = onnx_tensor_floats(im, n, "weight", b, &count), *w = NULL;
    int64_t out = b->dims[trans ? 0 : 1];
    if (src && out > (1 << 24))
        onnx_refuse(im, n, "%lld outputs: more than 2^24", (long long)out);
    else if (src && (w = malloc(sizeof(float) * (size_t)count)))
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++)
                w[o * in + i] = (float)(alpha * (trans ? src[o * in + i] : src[i * out + o]));
    else if (src)
        zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    free(src);
    *outputs = out;
    return w;
}

/* a bias of `outputs` values, or one broadcast; scaled by beta */
static float *fc_bias(importer *im, const Onnx__NodeProto *n, const char *name, int64_t outputs,
                      double beta) {
    const Onnx__TensorProto *c = onnx_constant(im, name);
    int64_t count = 0;
    if (!c) return onnx_refuse(im, n, "its bias '%s' is not a constant", name), NULL;
    int vector = c->n_dims <= 1 || (c->n_dims == 2 && c->dims[0] == 1);
    float *v = onnx_tensor_floats(im, n, "bias", c, &count), *b = NULL;
    if (v && (!vector || (count != outputs && count != 1)))
        onnx_refuse(im, n, "bias '%s' of %lld values in %zu dims: one value per output is read",
                    name, (long long)count, c->n_dims);
    else if (v && (b = malloc(sizeof(float) * (size_t)outputs)))
        for (int64_t o = 0; o < outputs; o++) b[o] = (float)(beta * v[count == 1 ? 0 : o]);
    else if (v)
        zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    free(v);
    return b;
}

static zf_status gemm(importer *im, const Onnx__NodeProto *n) {
    if (onnx_attr_i(n, "transA", 0)) return onnx_refuse(im, n, "transA=1 is not read");
    if (n->n_input < 2) return onnx_refuse(im, n, "no weight input");
    int64_t out = 0;
    float *w = fc_weight(im, n, onnx_constant(im, n->input[1]), (int)onnx_attr_i(n, "transB", 0),
                         onnx_attr_f(n, "alpha", 1.0), &out);
    if (!w) return ZF_ERR_FORMAT;
    float *b = NULL;
    if (n->n_input > 2 && *n->input[2] &&
        !(b = fc_bias(im, n, n->input[2], out, onnx_attr_f(n, "beta", 1.0))))
        return free(w), ZF_ERR_FORMAT;
    return fc_layer(im, n, w, b, out);
}

/* MatMul by a constant K x N matrix, with the Add of a constant bias after it when there is one
 * (how some exporters write an fc layer). */
static zf_status matmul(importer *im, const Onnx__NodeProto *n) {
    if (n->n_input != 2) return onnx_refuse(im, n, "%zu inputs", n->n_input);
    int64_t out = 0;
    float *w = fc_weight(im, n, onnx_constant(im, n->input[1]), 0, 1.0, &out), *b = NULL;
    if (!w) return ZF_ERR_FORMAT;
    int add;
    const Onnx__NodeProto *a = NULL;
    if (n->n_output && onnx_readers(im, n->output[0], 0, &add) == 1 &&
        !strcmp(onnx_op_of(im->g->node[add]), "Add") && im->g->node[add]->n_input == 2) {
        a = im->g->node[add];
        const char *other = onnx_tensor_is(a->input[0], n->output[0]) ? a->input[1] : a->input[0];
        if (onnx_constant(im, other) && !(b = fc_bias(im, a, other, out, 1.0)))
            return free(w), ZF_ERR_FORMAT;
        if (!b) a = NULL;
    }
    zf_status st = fc_layer(im, n, w, b, out);
    if (!st && a) {
        im->visited[add] = 1;
        onnx_advance(im, a);
    }
    return st;
}

/* ---- the table ------------------------------------------------------------------------------ */

static zf_status identity(importer *im, const Onnx__NodeProto *n) {
    (void)im, (void)n;
    return ZF_OK;
}

zf_status onnx_read_node(importer *im, const Onnx__NodeProto *n) {
    static const struct {
        const char *op;
        zf_status (*read)(importer *, const Onnx__NodeProto *);
    } ops[] = {{"Conv", conv},       {"Relu", relu},        {"MaxPool", maxpool},
               {"LRN", lrn},         {"Gemm", gemm},        {"MatMul", matmul},
               {"Flatten", flatten}, {"Reshape", reshape},  {"Dropout", dropout},
               {"Softmax", softmax}, {"Identity", identity}};
    const char *op = onnx_op_of(n);
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        if (!strcmp(op, ops[k].op)) return ops[k].read(im, n);
    return onnx_refuse(im, n,
                       "%s is not an op zfnet computes (Conv, Relu, MaxPool, LRN, Gemm, "
                       "MatMul + Add, Flatten, Reshape, Dropout, Softmax, Identity)",
                       op);
}
