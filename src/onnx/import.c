/* An ONNX graph as a zfnet net: the chain from the image input to the output is walked node by
 * node and each node becomes a layer of a model text (parsed as any model file is); the
 * weights come from the initializers (or Constant nodes). What zfnet cannot compute exactly is
 * refused, naming the node, its op type and why (docs/onnx.md lists what is read). */
#include "../layers/layer.h"
#include "onnx.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define MAX_NODES   4096
#define MAX_WEIGHTS 512
#define BATCH       INT64_MIN /* the symbolic batch dimension while evaluating shapes */
#define IMAX        16        /* integers in one evaluated shape or pads constant */

typedef struct weight {
    char name[80]; /* the zfnet parameter: LAYER.weight / LAYER.bias */
    float *data;
    size_t count;
} weight;

typedef struct importer {
    const char *path;
    const Onnx__GraphProto *g;
    int opset;
    zf_error *err;
    uint8_t *visited; /* per node */
    const char *cur;  /* the tensor the chain has reached */
    int rank;         /* its rank (2: a vector of c*h*w, 3 or 4) */
    zf_shape shape;   /* its extent per image */
    int64_t batch;    /* the input's batch dimension (0: symbolic) */
    char *text;       /* the model being written */
    size_t len, cap;
    weight w[MAX_WEIGHTS];
    int nw, nlayers, counter[ZF_LAYER_KIND_COUNT];
    char names[ZF_MAX_LAYERS][ZF_NAME_MAX];
    int classes, softmax_seen;
    int failed;      /* out of memory while writing the text */
    int evals;       /* shape evaluations so far (bounded: a hostile graph could nest them) */
    struct written { /* who writes each tensor, sorted by name */
        const char *name;
        int node;
    } * writers;
    size_t nwriters;
} importer;

static const char *op_of(const Onnx__NodeProto *n) {
    return n->op_type ? n->op_type : "?";
}

/* "FILE: node 'NAME' (OP): why" */
static zf_status refuse(importer *im, const Onnx__NodeProto *n, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!n) return zf_fail(im->err, ZF_ERR_FORMAT, "%s: %s", im->path, why);
    return zf_fail(im->err, ZF_ERR_FORMAT, "%s: node '%s' (%s): %s", im->path,
                   n->name && *n->name ? n->name : "(no name)", op_of(n), why);
}

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

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : def;
}

static double attr_f(const Onnx__NodeProto *n, const char *name, double def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_f ? onnx_float_value(a->f) : def;
}

static int attr_is(const Onnx__NodeProto *n, const char *name, const char *value) {
    const Onnx__AttributeProto *a = attr(n, name);
    const char *v = "NOTSET";
    size_t len = 6;
    if (a && a->has_s) v = (const char *)a->s.data, len = a->s.len;
    return len == strlen(value) && !memcmp(v, value, len);
}

/* A list attribute of 2-D windows: (h, w) values, or pads (h0, w0, h1, w1). 0: absent (out
 * keeps `def`); -1: another length. */
static int attr_2d(const Onnx__NodeProto *n, const char *name, int64_t *out, int count,
                   int64_t def) {
    for (int i = 0; i < count; i++) out[i] = def;
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a) return 0;
    if ((int)a->n_ints != count) return -1;
    for (int i = 0; i < count; i++) out[i] = a->ints[i];
    return 1;
}

/* the same tensor (an empty name is an absent optional input: never the same) */
static int tensor_is(const char *a, const char *b) {
    return a && b && *a && !strcmp(a, b);
}

/* The node writing `name` (-1: none) */
static int by_name(const void *a, const void *b) {
    return strcmp(((const struct written *)a)->name, ((const struct written *)b)->name);
}

static int producer(const importer *im, const char *name) {
    if (!name || !*name) return -1;
    struct written key = {name, -1};
    const struct written *w = bsearch(&key, im->writers, im->nwriters, sizeof key, by_name);
    return w ? w->node : -1;
}

/* The index of every node output; refused: a tensor written twice, nodes of over 256 inputs or
 * outputs. */
static zf_status index_writers(importer *im) {
    size_t n = 0;
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *nd = im->g->node[i];
        if (nd->n_input > 256 || nd->n_output > 256)
            return refuse(im, nd, "%zu inputs and %zu outputs: more than 256", nd->n_input,
                          nd->n_output);
        n += nd->n_output;
    }
    if (!(im->writers = malloc((n ? n : 1) * sizeof *im->writers)))
        return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < im->g->n_node; i++)
        for (size_t o = 0; o < im->g->node[i]->n_output; o++)
            if (im->g->node[i]->output[o] && *im->g->node[i]->output[o])
                im->writers[im->nwriters++] = (struct written){im->g->node[i]->output[o], (int)i};
    qsort(im->writers, im->nwriters, sizeof *im->writers, by_name);
    for (size_t i = 1; i < im->nwriters; i++)
        if (!strcmp(im->writers[i].name, im->writers[i - 1].name))
            return refuse(im, im->g->node[im->writers[i].node],
                          "it writes '%s', which another node writes too", im->writers[i].name);
    return ZF_OK;
}

/* A constant tensor: an initializer or a Constant node's value (the node is then used). */
static const Onnx__TensorProto *constant(importer *im, const char *name) {
    if (!name || !*name) return NULL;
    for (size_t i = 0; i < im->g->n_initializer; i++)
        if (tensor_is(im->g->initializer[i]->name, name)) return im->g->initializer[i];
    int p = producer(im, name);
    if (p < 0 || strcmp(op_of(im->g->node[p]), "Constant")) return NULL;
    const Onnx__AttributeProto *v = attr(im->g->node[p], "value");
    if (v && v->t) im->visited[p] = 1;
    return v ? v->t : NULL;
}

/* Elements a tensor's dims hold (-1: a negative dim or more than 2^31) */
static int64_t tensor_count(const Onnx__TensorProto *t) {
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > (1ll << 31)) return -1;
        n *= t->dims[i];
        if (n > (1ll << 31)) return -1;
    }
    return n;
}

/* A float tensor's values (malloc'd, *count of them); NULL with the error set naming `what`. */
static float *tensor_floats(importer *im, const Onnx__NodeProto *n, const char *what,
                            const Onnx__TensorProto *t, int64_t *count) {
    const char *name = t->name ? t->name : "";
    int64_t c = tensor_count(t);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return refuse(im, n, "%s '%s' is stored in an external file: not read", what, name), NULL;
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return refuse(im, n, "%s '%s' has data type %d: float32 (1) is needed", what, name,
                      t->data_type),
               NULL;
    if (c < 0) return refuse(im, n, "%s '%s' has a negative or huge shape", what, name), NULL;
    size_t have = t->has_raw_data ? t->raw_data.len : t->n_float_data * sizeof(float);
    if (have != (size_t)c * sizeof(float))
        return refuse(im, n, "%s '%s' holds %zu bytes of data; its shape needs %lld", what, name,
                      have, (long long)c * 4),
               NULL;
    float *d = malloc(have ? have : 1);
    if (!d) return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory"), NULL;
    if (have)
        memcpy(d, t->has_raw_data ? (const void *)t->raw_data.data : (const void *)t->float_data,
               have);
    *count = c;
    return d;
}

/* A float scalar constant (a Mul's, Pow's or Dropout's operand); NAN when it is not one. */
static double scalar(importer *im, const char *name) {
    const Onnx__TensorProto *t = constant(im, name);
    zf_error quiet;
    zf_error *keep = im->err;
    im->err = &quiet;
    int64_t c = 0;
    float *v = t ? tensor_floats(im, NULL, "", t, &c) : NULL;
    im->err = keep;
    double x = v && c == 1 ? onnx_float_value(v[0]) : NAN;
    free(v);
    return x;
}

/* An integer constant (a shape, axes, indices): up to IMAX values; -1 when it is not one. */
static int tensor_ints(const Onnx__TensorProto *t, int64_t *out) {
    int64_t c = t ? tensor_count(t) : -1;
    if (c < 0 || c > IMAX || !t->has_data_type) return -1;
    int wide = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if (!wide && t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32) return -1;
    size_t size = wide ? 8 : 4;
    if (t->has_raw_data) {
        if (t->raw_data.len != (size_t)c * size) return -1;
        for (int64_t i = 0; i < c; i++) {
            int64_t v64 = 0;
            int32_t v32 = 0;
            memcpy(wide ? (void *)&v64 : (void *)&v32, t->raw_data.data + i * (int64_t)size, size);
            out[i] = wide ? v64 : v32;
        }
        return (int)c;
    }
    if ((wide ? t->n_int64_data : t->n_int32_data) != (size_t)c) return -1;
    for (int64_t i = 0; i < c; i++) out[i] = wide ? t->int64_data[i] : t->int32_data[i];
    return (int)c;
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
        return refuse(im, NULL, "more than %d parameter tensors", MAX_WEIGHTS);
    }
    weight *w = &im->w[im->nw++];
    snprintf(w->name, sizeof w->name, "%s.%s", lname, what);
    w->data = data, w->count = count;
    return ZF_OK;
}

/* The node's output becomes the chain's tensor. */
static void advance(importer *im, const Onnx__NodeProto *n) {
    im->cur = n->n_output ? n->output[0] : "";
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
        return refuse(im, n,
                      "a window over a %d-D input or of other than 2 sides: zfnet reads "
                      "2-D windows over N x C x H x W",
                      im->rank);
    if (!have_k && k0 <= 0) return refuse(im, n, "no kernel_shape");
    if (ks[0] != ks[1] || ks[0] < 1 || ks[0] > 1024)
        return refuse(im, n, "kernel %lldx%lld: zfnet's windows are square, 1 to 1024",
                      (long long)ks[0], (long long)ks[1]);
    if (st[0] != st[1] || st[0] < 1 || st[0] > 1024)
        return refuse(im, n, "strides %lld,%lld: zfnet's strides are equal, 1 to 1024",
                      (long long)st[0], (long long)st[1]);
    if (dil[0] != 1 || dil[1] != 1)
        return refuse(im, n, "dilations %lld,%lld: only 1 is read", (long long)dil[0],
                      (long long)dil[1]);
    if (attr_is(n, "auto_pad", "VALID"))
        pads[0] = pads[1] = pads[2] = pads[3] = 0;
    else if (attr_is(n, "auto_pad", "SAME_UPPER") || attr_is(n, "auto_pad", "SAME_LOWER")) {
        int upper = attr_is(n, "auto_pad", "SAME_UPPER");
        same_pads(im->shape.h, (int)ks[0], (int)st[0], upper, &pads[0], &pads[2]);
        same_pads(im->shape.w, (int)ks[0], (int)st[0], upper, &pads[1], &pads[3]);
    } else if (!attr_is(n, "auto_pad", "NOTSET"))
        return refuse(im, n, "auto_pad is not NOTSET, VALID, SAME_UPPER or SAME_LOWER");
    if (pads[0] != pads[1] || pads[2] != pads[3])
        return refuse(im, n, "pads [%lld,%lld,%lld,%lld] differ between height and width",
                      (long long)pads[0], (long long)pads[1], (long long)pads[2],
                      (long long)pads[3]);
    if (pads[0] < 0 || pads[2] < 0 || pads[0] > 1024 || pads[2] > 1024)
        return refuse(im, n, "pads %lld,%lld are outside [0, 1024]", (long long)pads[0],
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
        return refuse(im, n, "a %dx%d window does not fit its %dx%d input", k, k, im->shape.h,
                      im->shape.w);
    im->shape.h = h, im->shape.w = w;
    return ZF_OK;
}

static zf_status conv(importer *im, const Onnx__NodeProto *n) {
    const Onnx__TensorProto *w = n->n_input > 1 ? constant(im, n->input[1]) : NULL;
    if (!w)
        return refuse(im, n, "its weight '%s' is neither an initializer nor a Constant",
                      n->n_input > 1 ? n->input[1] : "");
    int64_t g = attr_i(n, "group", 1), ks[2];
    if (tensor_count(w) < 1 || w->n_dims != 4)
        return refuse(im, n, "weight '%s' is not a 4-D tensor of at most 2^31 values",
                      w->name ? w->name : "");
    if (attr_2d(n, "kernel_shape", ks, 2, w->dims[2]) > 0 &&
        (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return refuse(im, n, "kernel_shape %lldx%lld differs from its weight's %lldx%lld",
                      (long long)ks[0], (long long)ks[1], (long long)w->dims[2],
                      (long long)w->dims[3]);
    if (w->n_dims != 4 || w->dims[2] != w->dims[3] || g < 1 || g > (1 << 20) || w->dims[0] % g ||
        w->dims[1] * g != im->shape.c)
        return refuse(im, n,
                      "weight '%s' of %zu dims does not fit a %d-channel input in %lld "
                      "group(s)",
                      w->name ? w->name : "", w->n_dims, im->shape.c, (long long)g);
    int k, s, pb, pe;
    zf_status st = window(im, n, w->dims[2], &k, &s, &pb, &pe);
    if (st) return st;
    if (pb != pe)
        return refuse(im, n,
                      "pads %d before and %d after: zfnet's convolutions pad both sides "
                      "alike",
                      pb, pe);
    const Onnx__TensorProto *b = n->n_input > 2 && *n->input[2] ? constant(im, n->input[2]) : NULL;
    if (n->n_input > 2 && *n->input[2] && !b)
        return refuse(im, n, "its bias '%s' is neither an initializer nor a Constant", n->input[2]);
    int64_t cw = 0, cb = 0;
    float *wd = tensor_floats(im, n, "weight", w, &cw), *bd = NULL;
    if (!wd || (b && !(bd = tensor_floats(im, n, "bias", b, &cb)))) return free(wd), ZF_ERR_FORMAT;
    if (b && cb != w->dims[0]) {
        free(wd), free(bd);
        return refuse(im, n, "bias of %lld values for %lld filters", (long long)cb,
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
        return refuse(im, n, "its Indices output is not read (zfnet keeps the switches itself)");
    if (attr_i(n, "storage_order", 0)) return refuse(im, n, "storage_order 1 is not read");
    int k, s, pb, pe, ceil_mode = (int)attr_i(n, "ceil_mode", 0);
    if (!attr(n, "kernel_shape")) return refuse(im, n, "no kernel_shape");
    zf_status st = window(im, n, 0, &k, &s, &pb, &pe);
    if (st) return st;
    if (2 * pb > k || pe >= k)
        return refuse(im, n,
                      "pads %d, %d with a %d window: zfnet pads at most half the window "
                      "before and less than the window after",
                      pb, pe, k);
    if (ceil_mode != 0 && ceil_mode != 1) return refuse(im, n, "ceil_mode %d", ceil_mode);
    const char *name = layer_name(im, n, ZF_LAYER_MAXPOOL, "pool");
    emit(im, "\n[maxpool]\nname=%s\nsize=%d\nstride=%d\npad=%d\nmode=%s\n", name, k, s, pb,
         ceil_mode ? "ceil" : "floor");
    if (pe != pb) emit(im, "pad_end=%d\n", pe - pb);
    return window_out(im, n, k, s, pb, pe, ceil_mode);
}

/* ---- per-position and vector ops ------------------------------------------------------------ */

static zf_status lrn_layer(importer *im, const Onnx__NodeProto *n, int64_t size, double alpha,
                           double beta, double bias, int absolute) {
    if (im->rank != 4) return refuse(im, n, "a %d-D input: LRN runs over N x C x H x W", im->rank);
    if (size < 1 || size > 1024 || size % 2 == 0)
        return refuse(im, n, "size %lld: zfnet's LRN windows are odd (centred), 1 to 1023",
                      (long long)size);
    if (!(bias >= 1e-12 && bias <= 1e9) || !(alpha >= 0 && alpha <= 1e9) ||
        !(beta >= 0 && beta <= 1e3))
        return refuse(im, n,
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
    int64_t size = attr_i(n, "size", 0);
    const Onnx__AttributeProto *a = attr(n, "alpha");
    double alpha = attr_f(n, "alpha", 1e-4);
    int absolute = n->doc_string && !strcmp(n->doc_string, ZF_ONNX_LRN_ABSOLUTE) && size > 0;
    if (absolute) alpha = a && a->has_f ? onnx_float_value(a->f / (float)size) : alpha / size;
    return lrn_layer(im, n, size, alpha, attr_f(n, "beta", 0.75), attr_f(n, "bias", 1.0), absolute);
}

static zf_status relu(importer *im, const Onnx__NodeProto *n) {
    emit(im, "\n[relu]\nname=%s\n", layer_name(im, n, ZF_LAYER_RELU, "relu"));
    return ZF_OK;
}

static int readers(const importer *im, const char *t, int skip_shape, int *first);

/* Dropout at inference: the ratio (an attribute before opset 12, an input from it); a mask
 * output or a training_mode that is not a constant false is refused. */
static zf_status dropout(importer *im, const Onnx__NodeProto *n) {
    int first, graph_out = 0;
    for (size_t i = 0; n->n_output > 1 && i < im->g->n_output; i++)
        graph_out |= tensor_is(im->g->output[i]->name, n->output[1]);
    if (n->n_output > 1 && *n->output[1] && (graph_out || readers(im, n->output[1], 0, &first)))
        return refuse(im, n, "its mask output is used: zfnet's dropout has none");
    double p = attr_f(n, "ratio", 0.5);
    if (im->opset >= 12 && n->n_input > 1 && *n->input[1] && isnan(p = scalar(im, n->input[1])))
        return refuse(im, n, "its ratio '%s' is not a float constant", n->input[1]);
    if (n->n_input > 2 && *n->input[2]) {
        const Onnx__TensorProto *t = constant(im, n->input[2]);
        if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__BOOL || tensor_count(t) != 1 ||
            (t->has_raw_data ? t->raw_data.len != 1 || t->raw_data.data[0]
                             : t->n_int32_data != 1 || t->int32_data[0]))
            return refuse(im, n,
                          "training_mode is not a constant false: zfnet imports "
                          "inference graphs");
    }
    if (!(p >= 0 && p <= 0.999)) return refuse(im, n, "ratio %g is outside [0, 0.999]", p);
    emit(im, "\n[dropout]\nname=%s\np=%.17g\n", layer_name(im, n, ZF_LAYER_DROPOUT, "drop"), p);
    return ZF_OK;
}

/* Softmax over the vector an fc made: axis 1 of an N x K tensor (or of N x K x 1 x 1). */
static zf_status softmax(importer *im, const Onnx__NodeProto *n) {
    int64_t axis = attr_i(n, "axis", im->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += im->rank;
    int vector = im->rank == 2 || (im->shape.h == 1 && im->shape.w == 1);
    if (axis != 1 || !vector || (im->rank == 2 && im->shape.h * im->shape.w != 1))
        return refuse(im, n,
                      "axis %lld of a %d-D tensor: zfnet's softmax is over the vector an "
                      "fc layer makes",
                      (long long)axis, im->rank);
    emit(im, "\n[softmax]\nname=%s\n", layer_name(im, n, ZF_LAYER_SOFTMAX, "prob"));
    im->softmax_seen = 1;
    return ZF_OK;
}

/* Flatten from axis 1: zfnet's fc reads its input flattened, so no layer is needed. */
static zf_status flatten(importer *im, const Onnx__NodeProto *n) {
    int64_t given = attr_i(n, "axis", 1), axis = given < 0 ? given + im->rank : given;
    if (axis != 1)
        return refuse(im, n,
                      "axis %lld of a %d-D tensor: only the flattening of each image "
                      "(axis 1) is read",
                      (long long)given, im->rank);
    im->rank = 2;
    return ZF_OK;
}

/* ---- Reshape: its shape evaluated (constants, or Shape/Gather/Unsqueeze/Concat of the chain's
 * tensor as PyTorch writes x.view(x.size(0), -1)) ------------------------------------------- */

static int eval_ints(importer *im, const char *name, int64_t *out, int depth) {
    if (++im->evals > 10000) return -1;
    int c = tensor_ints(constant(im, name), out);
    int p = c >= 0 || depth > 16 ? -1 : producer(im, name);
    if (c >= 0 || p < 0) return c;
    const Onnx__NodeProto *n = im->g->node[p];
    const char *op = op_of(n);
    int64_t a[IMAX], b[IMAX];
    if (!strcmp(op, "Shape") && n->n_input == 1 && tensor_is(n->input[0], im->cur)) {
        int64_t dims[4] = {BATCH, im->shape.c, im->shape.h, im->shape.w};
        if (im->rank == 2) dims[1] = (int64_t)im->shape.c * im->shape.h * im->shape.w;
        int64_t start = attr_i(n, "start", 0), end = attr_i(n, "end", im->rank);
        start = start < 0 ? start + im->rank : start, end = end < 0 ? end + im->rank : end;
        for (c = 0; start >= 0 && start + c < end && start + c < im->rank; c++)
            out[c] = dims[start + c];
    } else if (!strcmp(op, "Gather") && n->n_input == 2 && !attr_i(n, "axis", 0)) {
        int na = eval_ints(im, n->input[0], a, depth + 1);
        int nb = eval_ints(im, n->input[1], b, depth + 1);
        for (c = 0; na > 0 && c < nb; c++) {
            int64_t i = b[c] < 0 ? b[c] + na : b[c];
            if (i < 0 || i >= na) return -1;
            out[c] = a[i];
        }
        c = na > 0 && nb >= 0 ? c : -1;
    } else if (!strcmp(op, "Concat") && !attr_i(n, "axis", 0)) {
        c = 0;
        for (size_t i = 0; i < n->n_input && c >= 0; i++) {
            int k = eval_ints(im, n->input[i], a, depth + 1);
            if (k < 0 || c + k > IMAX) return -1;
            memcpy(out + c, a, (size_t)k * sizeof *a), c += k;
        }
    } else if ((!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Cast") ||
                !strcmp(op, "Identity")) &&
               n->n_input >= 1) {
        c = eval_ints(im, n->input[0], out, depth + 1);
    } else
        return -1;
    if (c >= 0) im->visited[p] = 1;
    return c;
}

static zf_status reshape(importer *im, const Onnx__NodeProto *n) {
    int64_t t[IMAX];
    int c = -1;
    const Onnx__AttributeProto *sa = attr(n, "shape"); /* before opset 5 */
    if (n->n_input > 1)
        c = eval_ints(im, n->input[1], t, 0);
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
    if (c < 0) return refuse(im, n, "its shape is not a constant zfnet can evaluate");
    return refuse(im, n,
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
        return refuse(im, n, "its input is %d-D: a Flatten or Reshape must come before it",
                      im->rank),
               NULL;
    if (!b || b->n_dims != 2 || b->dims[trans ? 1 : 0] != in)
        return refuse(im, n, "its weight is not a constant matrix with %lld inputs", (long long)in),
               NULL;
    float *src = tensor_floats(im, n, "weight", b, &count), *w = NULL;
    int64_t out = b->dims[trans ? 0 : 1];
    if (src && out > (1 << 24))
        refuse(im, n, "%lld outputs: more than 2^24", (long long)out);
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
    const Onnx__TensorProto *c = constant(im, name);
    int64_t count = 0;
    if (!c) return refuse(im, n, "its bias '%s' is not a constant", name), NULL;
    int vector = c->n_dims <= 1 || (c->n_dims == 2 && c->dims[0] == 1);
    float *v = tensor_floats(im, n, "bias", c, &count), *b = NULL;
    if (v && (!vector || (count != outputs && count != 1)))
        refuse(im, n, "bias '%s' of %lld values in %zu dims: one value per output is read", name,
               (long long)count, c->n_dims);
    else if (v && (b = malloc(sizeof(float) * (size_t)outputs)))
        for (int64_t o = 0; o < outputs; o++) b[o] = (float)(beta * v[count == 1 ? 0 : o]);
    else if (v)
        zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    free(v);
    return b;
}

static zf_status gemm(importer *im, const Onnx__NodeProto *n) {
    if (attr_i(n, "transA", 0)) return refuse(im, n, "transA=1 is not read");
    if (n->n_input < 2) return refuse(im, n, "no weight input");
    int64_t out = 0;
    float *w = fc_weight(im, n, constant(im, n->input[1]), (int)attr_i(n, "transB", 0),
                         attr_f(n, "alpha", 1.0), &out);
    if (!w) return ZF_ERR_FORMAT;
    float *b = NULL;
    if (n->n_input > 2 && *n->input[2] &&
        !(b = fc_bias(im, n, n->input[2], out, attr_f(n, "beta", 1.0))))
        return free(w), ZF_ERR_FORMAT;
    return fc_layer(im, n, w, b, out);
}

/* The nodes (not yet walked) that read tensor t; *count of them, the first in *first. */
static int readers(const importer *im, const char *t, int skip_shape, int *first) {
    int count = 0;
    *first = -1;
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        if (im->visited[i] || (skip_shape && !strcmp(op_of(n), "Shape"))) continue;
        for (size_t k = 0; k < n->n_input; k++)
            if (tensor_is(n->input[k], t)) {
                if (*first < 0) *first = (int)i;
                count++;
                break;
            }
    }
    return count;
}

/* MatMul by a constant K x N matrix, with the Add of a constant bias after it when there is one
 * (how some exporters write an fc layer). */
static zf_status matmul(importer *im, const Onnx__NodeProto *n) {
    if (n->n_input != 2) return refuse(im, n, "%zu inputs", n->n_input);
    int64_t out = 0;
    float *w = fc_weight(im, n, constant(im, n->input[1]), 0, 1.0, &out), *b = NULL;
    if (!w) return ZF_ERR_FORMAT;
    int add;
    const Onnx__NodeProto *a = NULL;
    if (n->n_output && readers(im, n->output[0], 0, &add) == 1 &&
        !strcmp(op_of(im->g->node[add]), "Add") && im->g->node[add]->n_input == 2) {
        a = im->g->node[add];
        const char *other = tensor_is(a->input[0], n->output[0]) ? a->input[1] : a->input[0];
        if (constant(im, other) && !(b = fc_bias(im, a, other, out, 1.0)))
            return free(w), ZF_ERR_FORMAT;
        if (!b) a = NULL;
    }
    zf_status st = fc_layer(im, n, w, b, out);
    if (!st && a) {
        im->visited[add] = 1;
        advance(im, a);
    }
    return st;
}

/* ---- PyTorch's LRN: torch.onnx.export (1.13) writes nn.LocalResponseNorm as ~40 primitive
 * nodes. Its data path is matched node by node:
 *   s = Mul(x, x) -> Unsqueeze(axis 1) -> Reshape(N, 1, C, H, -1) -> Pad(channels: size/2
 *   before, (size-1)/2 after; zeros) ... -> AveragePool(size, 1, 1) -> If(Squeeze | Identity)
 *   -> Reshape(N, C, H, W) -> Mul(alpha) -> Add(k) -> Pow(beta) -> Div(x, .)
 * with every shape and pad amount evaluated; the rest (Shape, Gather, Concat, Equal, ...) only
 * computes those shapes, pads and the If's condition. Nothing outside may read the pattern. */

/* an integer matrix (rows x cols) while evaluating Pad's amounts */
typedef struct imat {
    int64_t v[IMAX];
    int rows, cols;
} imat;

static int eval_mat(importer *im, const char *name, imat *m, uint8_t *set, int depth) {
    int n = tensor_ints(constant(im, name), m->v), p = n < 0 ? producer(im, name) : -1;
    if (n >= 0 || p < 0 || depth > 16 || ++im->evals > 10000) {
        m->rows = n, m->cols = 1;
        return n;
    }
    const Onnx__NodeProto *nd = im->g->node[p];
    const char *op = op_of(nd);
    imat a = {0}, b = {0};
    int k = nd->n_input ? eval_mat(im, nd->input[0], &a, set, depth + 1) : -1;
    if (k < 0) return -1;
    set[p] = 1, *m = a;
    if (!strcmp(op, "Cast") || (!strcmp(op, "Reshape") && nd->n_input == 2 &&
                                eval_mat(im, nd->input[1], &b, set, depth + 1) >= 1)) {
        if (!strcmp(op, "Reshape")) /* [-1, 2] or [-1] */
            m->cols = b.rows == 2 && b.v[1] > 0 && k % b.v[1] == 0 ? (int)b.v[1] : 1,
            m->rows = k / m->cols;
        return k;
    }
    if (!strcmp(op, "ConstantOfShape") && k == 1 && a.v[0] >= 0 && a.v[0] <= IMAX) {
        const Onnx__AttributeProto *v = attr(nd, "value");
        int64_t z[IMAX];
        if (v && v->t && (tensor_ints(v->t, z) != 1 || z[0])) return -1;
        memset(m->v, 0, sizeof m->v), m->rows = (int)a.v[0], m->cols = 1;
        return m->rows;
    }
    if (!strcmp(op, "Concat") && !attr_i(nd, "axis", 0) && a.cols == 1) {
        for (size_t i = 1; i < nd->n_input; i++) {
            int kb = eval_mat(im, nd->input[i], &b, set, depth + 1);
            if (kb < 0 || b.cols != 1 || m->rows + kb > IMAX) return -1;
            memcpy(m->v + m->rows, b.v, (size_t)kb * sizeof *b.v), m->rows += kb;
        }
        return m->rows;
    }
    if (!strcmp(op, "Transpose") && a.cols > 1) {
        for (int r = 0; r < a.rows; r++)
            for (int c = 0; c < a.cols; c++) m->v[c * a.rows + r] = a.v[r * a.cols + c];
        m->rows = a.cols, m->cols = a.rows;
        return k;
    }
    if (!strcmp(op, "Slice") && nd->n_input == 5) { /* all rows reversed: starts -1, steps -1 */
        int64_t st[IMAX], en[IMAX], ax[IMAX], sp[IMAX];
        if (eval_ints(im, nd->input[1], st, 0) != 1 || eval_ints(im, nd->input[2], en, 0) != 1 ||
            eval_ints(im, nd->input[3], ax, 0) != 1 || eval_ints(im, nd->input[4], sp, 0) != 1 ||
            st[0] != -1 || en[0] > -a.rows - 1 || ax[0] != 0 || sp[0] != -1)
            return -1;
        for (int r = 0; r < a.rows; r++)
            memcpy(m->v + r * a.cols, a.v + (a.rows - 1 - r) * a.cols, (size_t)a.cols * 8);
        return k;
    }
    return -1;
}

/* the one node, not a Shape, that reads t (-1: none or several) */
static int sole_reader(const importer *im, const char *t) {
    int first;
    return t && readers(im, t, 1, &first) == 1 ? first : -1;
}

/* The pattern node reading t if it is an `op` (marked in set), else NULL. */
static const Onnx__NodeProto *next_op(importer *im, const char *t, const char *op, uint8_t *set) {
    int r = sole_reader(im, t);
    if (r < 0 || strcmp(op_of(im->g->node[r]), op) || !im->g->node[r]->n_output) return NULL;
    set[r] = 1;
    return im->g->node[r];
}

/* Pad nodes along the channels of the 5-D tensor: (before, after) summed; -1: other padding */
static const char *lrn_pads(importer *im, const char *t, uint8_t *set, int64_t *before,
                            int64_t *after) {
    const Onnx__NodeProto *pad;
    int r;
    *before = *after = 0;
    while ((r = sole_reader(im, t)) >= 0 && !strcmp(op_of(im->g->node[r]), "Pad")) {
        pad = next_op(im, t, "Pad", set);
        imat m = {0};
        int ok = pad && pad->n_input >= 2 &&
                 (!attr(pad, "mode") || attr_is(pad, "mode", "constant")) &&
                 eval_mat(im, pad->input[1], &m, set, 0) == 10;
        if (ok && pad->n_input > 2 && *pad->input[2]) ok = scalar(im, pad->input[2]) == 0;
        for (int i = 0; ok && i < 10; i++) ok = i == 2 || i == 7 ? m.v[i] >= 0 : m.v[i] == 0;
        if (!ok) return NULL;
        *before += m.v[2], *after += m.v[7], t = pad->output[0];
    }
    return t;
}
/* the node writing t when it is an `op` node of two inputs, else -1 */
static int made_by(const importer *im, const char *t, const char *op) {
    int p = producer(im, t);
    return p >= 0 && !strcmp(op_of(im->g->node[p]), op) && im->g->node[p]->n_input == 2 ? p : -1;
}

/* The If torch writes after the AveragePool (its branches Squeeze or pass on `avg`), with the
 * nodes computing its condition from avg's shape; NULL: not that. */
static const Onnx__NodeProto *lrn_if(importer *im, const char *avg, uint8_t *set) {
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        const Onnx__AttributeProto *b[2] = {attr(n, "then_branch"), attr(n, "else_branch")};
        if (im->visited[i] || strcmp(op_of(n), "If") || !b[0] || !b[1] || !b[0]->g || !b[1]->g ||
            n->n_input != 1 || n->n_output != 1)
            continue;
        int ok = 1;
        for (int k = 0; k < 2; k++) { /* (Constant +) Squeeze(avg, 1) or Identity(avg) */
            const Onnx__GraphProto *g = b[k]->g;
            const Onnx__NodeProto *last = g->n_node ? g->node[g->n_node - 1] : NULL;
            ok &= g->n_node >= 1 && g->n_node <= 2 && g->n_output == 1 && last->n_output == 1 &&
                  last->n_input >= 1 && tensor_is(last->input[0], avg) &&
                  tensor_is(last->output[0], g->output[0]->name) &&
                  (!strcmp(op_of(last), "Identity") || !strcmp(op_of(last), "Squeeze")) &&
                  (g->n_node == 1 || !strcmp(op_of(g->node[0]), "Constant"));
        }
        /* the condition: Equal(Gather(Shape(avg), 1), 1) */
        int eq = producer(im, n->input[0]);
        int ga = eq < 0 ? -1 : made_by(im, im->g->node[eq]->input[0], "Gather");
        int sh = ga < 0 ? -1 : producer(im, im->g->node[ga]->input[0]);
        if (!ok || eq < 0 || strcmp(op_of(im->g->node[eq]), "Equal") || ga < 0 || sh < 0 ||
            strcmp(op_of(im->g->node[sh]), "Shape") || !tensor_is(im->g->node[sh]->input[0], avg))
            continue;
        set[i] = set[eq] = set[ga] = set[sh] = 1;
        return n;
    }
    return NULL;
}

/* Reshape(t) to the tensor x's own shape (N, C, H, W) */
static int back_to_x(importer *im, const Onnx__NodeProto *r) {
    int64_t v[IMAX];
    int n = r && r->n_input == 2 ? eval_ints(im, r->input[1], v, 0) : -1;
    return n == 4 && (v[0] == BATCH || (im->batch > 0 && v[0] == im->batch)) &&
           v[1] == im->shape.c && v[2] == im->shape.h && v[3] == im->shape.w;
}

/* Mul(alpha) -> Add(k) -> Pow(beta) -> Div(x, .) after t; the Div, or NULL */
static const Onnx__NodeProto *lrn_tail(importer *im, const char *t, uint8_t *set, double c[3]) {
    static const char *const ops[4] = {"Mul", "Add", "Pow", "Div"};
    const Onnx__NodeProto *n = NULL;
    for (int i = 0; i < 4; i++) {
        if (!(n = next_op(im, t, ops[i], set)) || n->n_input != 2) return NULL;
        if (i == 3) return tensor_is(n->input[0], im->cur) && tensor_is(n->input[1], t) ? n : NULL;
        const char *other = tensor_is(n->input[0], t) ? n->input[1] : n->input[0];
        if (i == 2 && !tensor_is(n->input[0], t)) return NULL; /* Pow(t, beta) */
        if (isnan(c[i] = scalar(im, other))) return NULL;
        t = n->output[0];
    }
    return NULL;
}

/* Nothing outside the pattern reads what its nodes write (but the Div's output). */
static int lrn_closed(const importer *im, const uint8_t *set, int div) {
    for (size_t j = 0; j < im->g->n_node; j++) {
        const Onnx__NodeProto *r = im->g->node[j];
        for (size_t k = 0; !set[j] && (int)j != div && k < r->n_input; k++) {
            int p = producer(im, r->input[k]);
            if (p >= 0 && set[p] && p != div) return 0;
        }
    }
    for (size_t i = 0; i < im->g->n_output; i++) {
        int p = producer(im, im->g->output[i]->name);
        if (p >= 0 && set[p] && p != div) return 0;
    }
    return 1;
}

/* The data path from Mul(x, x) to the AveragePool; its output tensor, or NULL. *size: the
 * window, from the AveragePool, checked against the padding. */
static const char *lrn_head(importer *im, int square, uint8_t *set, int *size) {
    const Onnx__NodeProto *u = next_op(im, im->g->node[square]->output[0], "Unsqueeze", set);
    int64_t axes[IMAX], shape[IMAX], before, after;
    const Onnx__AttributeProto *ax = u ? attr(u, "axes") : NULL;
    int na = !u                ? -1
             : ax              ? (ax->n_ints == 1 ? (axes[0] = ax->ints[0], 1) : -1)
             : u->n_input == 2 ? eval_ints(im, u->input[1], axes, 0)
                               : -1;
    const Onnx__NodeProto *r =
        na == 1 && axes[0] == 1 ? next_op(im, u->output[0], "Reshape", set) : NULL;
    int ns = r && r->n_input == 2 ? eval_ints(im, r->input[1], shape, 0) : -1;
    if (ns != 5 || shape[1] != 1 || shape[2] != im->shape.c || shape[3] != im->shape.h ||
        (shape[4] != -1 && shape[4] != im->shape.w))
        return NULL;
    const char *t = lrn_pads(im, r->output[0], set, &before, &after);
    const Onnx__NodeProto *a = t ? next_op(im, t, "AveragePool", set) : NULL;
    const Onnx__AttributeProto *k = a ? attr(a, "kernel_shape") : NULL;
    int64_t st[IMAX], pd[IMAX];
    if (!k || k->n_ints != 3 || k->ints[1] != 1 || k->ints[2] != 1 || k->ints[0] < 1 ||
        k->ints[0] > 1023 || attr_i(a, "ceil_mode", 0) || !attr_is(a, "auto_pad", "NOTSET"))
        return NULL;
    const Onnx__AttributeProto *sa = attr(a, "strides"), *pa = attr(a, "pads");
    for (size_t i = 0; sa && i < sa->n_ints && i < IMAX; i++) st[i] = sa->ints[i];
    for (size_t i = 0; pa && i < pa->n_ints && i < IMAX; i++) pd[i] = pa->ints[i];
    for (size_t i = 0; sa && i < sa->n_ints; i++)
        if (i >= IMAX || st[i] != 1) return NULL;
    for (size_t i = 0; pa && i < pa->n_ints; i++)
        if (i >= IMAX || pd[i] != 0) return NULL;
    *size = (int)k->ints[0];
    return before == *size / 2 && after == (*size - 1) / 2 ? a->output[0] : NULL;
}

static zf_status torch_lrn(importer *im, int square) {
    const Onnx__NodeProto *sq = im->g->node[square];
    uint8_t *set = calloc(im->g->n_node, 1);
    if (!set) return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    set[square] = 1;
    int size = 0;
    double c[3] = {NAN, NAN, NAN};
    const char *avg = lrn_head(im, square, set, &size);
    const Onnx__NodeProto *cond = avg ? lrn_if(im, avg, set) : NULL;
    const Onnx__NodeProto *back = cond ? next_op(im, cond->output[0], "Reshape", set) : NULL;
    const Onnx__NodeProto *div =
        back && back_to_x(im, back) ? lrn_tail(im, back->output[0], set, c) : NULL;
    int di = -1;
    for (size_t i = 0; div && i < im->g->n_node; i++)
        if (im->g->node[i] == div) di = (int)i;
    int ok = div && lrn_closed(im, set, di);
    for (size_t i = 0; ok && i < im->g->n_node; i++) im->visited[i] |= set[i];
    free(set);
    if (!ok)
        return refuse(im, sq,
                      "x*x that is not PyTorch's LRN pattern (Div(x, Pow(Add(Mul("
                      "AveragePool(Pad(x*x)), alpha), k), beta)), centred): not read");
    zf_status st = lrn_layer(im, sq, size, c[0], c[2], c[1], 0);
    if (!st) advance(im, div);
    return st;
}

/* ---- the walk ------------------------------------------------------------------------------ */

static zf_status identity(importer *im, const Onnx__NodeProto *n) {
    (void)im, (void)n;
    return ZF_OK;
}

static zf_status step(importer *im, int i) {
    const Onnx__NodeProto *n = im->g->node[i];
    const char *op = op_of(n), *before = im->cur;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return refuse(im, n, "an op of domain '%s': not read", n->domain);
    if (im->softmax_seen) return refuse(im, n, "it follows the Softmax: zfnet's softmax is last");
    if (!n->n_input || !tensor_is(n->input[0], im->cur) || !n->n_output || !*n->output[0])
        return refuse(im, n, "it reads '%s' other than as its first input, or writes nothing",
                      im->cur);
    im->visited[i] = 1;
    static const struct {
        const char *op;
        zf_status (*read)(importer *, const Onnx__NodeProto *);
    } ops[] = {{"Conv", conv},       {"Relu", relu},        {"MaxPool", maxpool},
               {"LRN", lrn},         {"Gemm", gemm},        {"MatMul", matmul},
               {"Flatten", flatten}, {"Reshape", reshape},  {"Dropout", dropout},
               {"Softmax", softmax}, {"Identity", identity}};
    zf_status st = ZF_ERR_FORMAT;
    size_t k = 0;
    while (k < sizeof ops / sizeof *ops && strcmp(op, ops[k].op)) k++;
    if (k < sizeof ops / sizeof *ops)
        st = ops[k].read(im, n);
    else
        return refuse(im, n,
                      "%s is not an op zfnet computes (Conv, Relu, MaxPool, LRN, Gemm, "
                      "MatMul + Add, Flatten, Reshape, Dropout, Softmax, Identity)",
                      op);
    if (!st && im->cur == before) advance(im, n);
    return st;
}

/* From the image input along the chain of nodes to the end. */
static zf_status walk(importer *im) {
    for (;;) {
        int square = -1, main = -1, count = 0;
        for (size_t i = 0; i < im->g->n_node; i++) {
            const Onnx__NodeProto *n = im->g->node[i];
            int reads = 0;
            for (size_t k = 0; k < n->n_input; k++) reads |= tensor_is(n->input[k], im->cur);
            if (!reads || !strcmp(op_of(n), "Shape")) continue;
            if (im->visited[i])
                return refuse(im, n, "it is reached twice from the input: the graph has a cycle");
            if (!strcmp(op_of(n), "Mul") && n->n_input == 2 && tensor_is(n->input[0], n->input[1]))
                square = (int)i;
            else
                main = main < 0 ? (int)i : main, count++;
        }
        zf_status st = ZF_OK;
        if (im->nlayers >= ZF_MAX_LAYERS - 1 && (square >= 0 || count))
            return refuse(im, im->g->node[square >= 0 ? square : main],
                          "more than %d layers: zfnet's models hold at most %d", ZF_MAX_LAYERS - 1,
                          ZF_MAX_LAYERS);
        if (square >= 0)
            st = torch_lrn(im, square);
        else if (count > 1)
            return refuse(im, im->g->node[main],
                          "tensor '%s' is read by %d nodes: zfnet reads a "
                          "chain of layers, without branches",
                          im->cur, count);
        else if (count == 1)
            st = step(im, main);
        else
            break;
        if (st) return st;
    }
    return ZF_OK;
}

/* Nodes must come in topological order (ONNX requires it): a node reading what a later node
 * writes means a cycle or a broken file. Inputs nobody writes must be initializers or the
 * graph's inputs. */
static zf_status check_order(importer *im) {
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        for (size_t k = 0; k < n->n_input; k++) {
            const char *t = n->input[k];
            if (!t || !*t) continue;
            int p = producer(im, t);
            if (p >= (int)i)
                return refuse(im, n,
                              "it reads '%s', written by node '%s' after it: the graph has "
                              "a cycle or is not in topological order",
                              t, im->g->node[p]->name ? im->g->node[p]->name : "");
            int known = p >= 0;
            for (size_t j = 0; !known && j < im->g->n_initializer; j++)
                known = tensor_is(im->g->initializer[j]->name, t);
            for (size_t j = 0; !known && j < im->g->n_input; j++)
                known = tensor_is(im->g->input[j]->name, t);
            if (!known)
                return refuse(im, n,
                              "its input '%s' is written by no node and is neither an "
                              "initializer nor a graph input",
                              t);
        }
    }
    return ZF_OK;
}

static int is_initializer(const importer *im, const char *name) {
    for (size_t j = 0; j < im->g->n_initializer; j++)
        if (tensor_is(im->g->initializer[j]->name, name)) return 1;
    return 0;
}

/* The one graph input that is not an initializer: float, N x ... with 1 to 3 known dims. */
static zf_status image_input(importer *im) {
    const Onnx__ValueInfoProto *in = NULL;
    int count = 0;
    for (size_t i = 0; i < im->g->n_input; i++)
        if (!is_initializer(im, im->g->input[i]->name)) in = im->g->input[i], count++;
    if (count != 1)
        return refuse(im, NULL,
                      "the graph has %d inputs besides its initializers: zfnet reads "
                      "graphs of one image input (move weights into initializers)",
                      count);
    const Onnx__TypeProto *t = in->type;
    const Onnx__TensorShapeProto *s =
        t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type
            ? t->tensor_type->shape
            : NULL;
    if (!s || t->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || s->n_dim < 2 ||
        s->n_dim > 4)
        return refuse(im, NULL, "input '%s' is not a float tensor of 2 to 4 dims",
                      in->name ? in->name : "");
    int64_t d[4] = {0, 1, 1, 1};
    for (size_t i = 0; i < s->n_dim; i++) {
        int known = s->dim[i]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d[i] = known ? s->dim[i]->dim_value : 0;
        if (i && (!known || d[i] < 1 || d[i] > 65536))
            return refuse(im, NULL, "input '%s': dimension %zu is not a number in [1, 65536]",
                          in->name ? in->name : "", i);
    }
    im->batch = d[0] > 0 ? d[0] : 0;
    im->cur = in->name ? in->name : "";
    im->rank = (int)s->n_dim;
    im->shape = (zf_shape){(int)d[1], (int)d[2], (int)d[3]};
    return ZF_OK;
}

/* The end: the graph's one output, every node used (Constants may be left over). */
static zf_status check_end(importer *im) {
    if (im->g->n_output != 1)
        return refuse(im, NULL, "the graph has %zu outputs: zfnet reads graphs with one",
                      im->g->n_output);
    if (!tensor_is(im->g->output[0]->name, im->cur))
        return refuse(im, NULL,
                      "the chain of nodes from the input ends at '%s', not at the "
                      "graph's output '%s'",
                      im->cur, im->g->output[0]->name ? im->g->output[0]->name : "");
    for (size_t i = 0; i < im->g->n_node; i++)
        if (!im->visited[i] && strcmp(op_of(im->g->node[i]), "Constant"))
            return refuse(im, im->g->node[i],
                          "it is not on the chain from the input to the "
                          "output");
    if (!im->nlayers)
        return refuse(im, NULL,
                      "the graph holds no node zfnet has a layer for (Conv, Relu, "
                      "MaxPool, LRN, Gemm, MatMul, Dropout, Softmax)");
    return ZF_OK;
}

/* ---- the net -------------------------------------------------------------------------------- */

static zf_status make_net(importer *im, const zf_net_options *no, zf_net **net) {
    if (im->failed) return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    const char *gname = im->g->name ? im->g->name : "";
    int named = zf_name_valid(gname);
    size_t cap = im->len + 256;
    char *text = malloc(cap);
    if (!text) return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    snprintf(text, cap, "[net]\n%s%s%schannels=%d\nheight=%d\nwidth=%d\nclasses=%d\n%s",
             named ? "name=" : "", named ? gname : "", named ? "\n" : "", im->shape.c, im->shape.h,
             im->shape.w, im->classes, im->text ? im->text : "");
    zf_model *m = NULL;
    zf_error pe;
    zf_status st = zf_model_parse(&m, text, im->path, NULL, &pe);
    free(text);
    if (!st) st = zf_net_create(net, m, no, &pe);
    zf_model_free(m);
    if (st) return zf_fail(im->err, st, "%s: the imported net: %s", im->path, pe.msg);
    for (int i = 0; i < zf_net_num_param_tensors(*net); i++) {
        zf_param_info p;
        zf_net_param_info(*net, i, &p);
        const weight *w = NULL;
        for (int k = 0; k < im->nw && !w; k++)
            if (!strcmp(im->w[k].name, p.name)) w = &im->w[k];
        if (!w || w->count != p.count) {
            st = refuse(im, NULL, "parameter %s holds %zu values where the layer needs %zu", p.name,
                        w ? w->count : 0, p.count);
            break;
        }
        memcpy(zf_net_params(*net) + p.offset, w->data, sizeof(float) * p.count);
    }
    if (st) zf_net_free(*net), *net = NULL;
    return st;
}

static const char *meta(const Onnx__ModelProto *m, const char *key) {
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && !strcmp(m->metadata_props[i]->key, key))
            return m->metadata_props[i]->value;
    return NULL;
}

/* The data preparation an exported file records (checked as a checkpoint's is when loaded). */
static zf_status read_prep(importer *im, const Onnx__ModelProto *m, zf_data_prep *p) {
    const char *scale = meta(m, ZF_ONNX_META_SCALE), *pad = meta(m, ZF_ONNX_META_CROP_PAD);
    const char *shape = meta(m, ZF_ONNX_META_SHAPE), *mean = meta(m, ZF_ONNX_META_MEAN);
    *p = (zf_data_prep){.scale = 1.0f / 255};
    char *end = NULL;
    double x = scale ? strtod(scale, &end) : 1.0 / 255;
    if (scale && (end == scale || *end || !(x >= 1e-9 && x <= 1e9)))
        return refuse(im, NULL, "metadata %s '%s' is not a number in [1e-9, 1e9]",
                      ZF_ONNX_META_SCALE, scale);
    p->scale = (float)x;
    long v = pad ? strtol(pad, &end, 10) : 0;
    if (pad && (end == pad || *end || v < 0 || v > 256))
        return refuse(im, NULL, "metadata %s '%s' is not a whole number in [0, 256]",
                      ZF_ONNX_META_CROP_PAD, pad);
    p->pad = (int)v;
    zf_status st = zf_data_prep_read_names(p, meta(m, ZF_ONNX_META_CLASS_NAMES), im->path, im->err);
    if (st || !mean) return st;
    size_t n = 0;
    int c = 0, h = 0, w = 0;
    char tail = 0;
    p->mean = (float *)onnx_unbase64(mean, &n);
    if (!shape || sscanf(shape, "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1 ||
        c > 4 || h > 65536 || w > 65536 || !p->mean || n != sizeof(float) * (size_t)c * h * w)
        return refuse(im, NULL, "metadata %s does not hold a float image of shape '%s'",
                      ZF_ONNX_META_MEAN, shape ? shape : "(none)");
    p->shape = (zf_shape){c, h, w};
    return ZF_OK;
}

zf_status zf_onnx_import(const char *path, const zf_net_options *no, zf_net **net,
                         zf_data_prep *prep, zf_error *err) {
    *net = NULL;
    if (prep) memset(prep, 0, sizeof *prep);
    Onnx__ModelProto *m = onnx_read(path, err);
    if (!m) return err ? err->status : ZF_ERR_FORMAT;
    importer *im = calloc(1, sizeof *im);
    zf_status st = im ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) *im = (importer){.path = path, .g = m->graph, .err = err, .opset = -1};
    for (size_t i = 0; !st && i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !*m->opset_import[i]->domain ||
            !strcmp(m->opset_import[i]->domain, "ai.onnx"))
            im->opset = (int)m->opset_import[i]->version;
    if (!st && !m->graph)
        st = refuse(im, NULL, "no graph");
    else if (!st && (im->opset < ZF_ONNX_OPSET_MIN || im->opset > ZF_ONNX_OPSET_MAX))
        st = refuse(im, NULL, "opset %d: zfnet reads opsets %d to %d", im->opset, ZF_ONNX_OPSET_MIN,
                    ZF_ONNX_OPSET_MAX);
    else if (!st && (m->graph->n_node > MAX_NODES || m->graph->n_initializer > MAX_NODES))
        st = refuse(im, NULL, "%zu nodes and %zu initializers: more than %d", m->graph->n_node,
                    m->graph->n_initializer, MAX_NODES);
    if (!st && !(im->visited = calloc(m->graph->n_node + 1, 1)))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st && !(im->text = calloc(im->cap = 4096, 1)))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = index_writers(im);
    if (!st) st = check_order(im);
    if (!st) st = image_input(im);
    zf_shape input = im ? im->shape : (zf_shape){0};
    if (!st) st = walk(im);
    if (!st) st = check_end(im);
    if (!st) im->shape = input, st = make_net(im, no, net);
    if (!st && prep) st = read_prep(im, m, prep);
    if (!st && prep) st = zf_data_prep_check(prep, *net, path, err);
    if (st && prep) zf_data_prep_free(prep);
    if (st && *net) zf_net_free(*net), *net = NULL;
    for (int i = 0; im && i < im->nw; i++) free(im->w[i].data);
    if (im) free(im->visited), free(im->text), free(im->writers);
    free(im);
    onnx__model_proto__free_unpacked(m, NULL);
    return st;
}
