/* A net as an ONNX graph: one node per layer, named as the layer and writing a tensor of the
 * same name; the parameters as initializers with PyTorch's names and layouts; the data
 * preparation as metadata (docs/onnx.md). */
#include "onnx.h"

#include <jansson.h>
#include <string.h>

typedef struct exporter {
    onnx_arena a;
    Onnx__GraphProto *g;
    size_t node_cap, init_cap;
    int opset;
    zf_net *net;
    const char *cur; /* the tensor the next node reads */
    int rank;        /* its rank: 4 (N, C, H, W) or 2 (N, K) */
    zf_status st;    /* the first layer that cannot be written */
    zf_error *err;
} exporter;

/* A layer ONNX cannot express as zfnet computes it: the export stops with this message. */
static void cannot(exporter *e, const layer_def *d, const char *why) {
    if (!e->st) e->st = zf_fail(e->err, ZF_ERR_ARG, "layer '%s': %s; not exported", d->name, why);
}

static Onnx__AttributeProto *attr(exporter *e, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
    Onnx__AttributeProto *at = onnx_alloc(&e->a, sizeof *at);
    Onnx__AttributeProto **list =
        onnx_alloc(&e->a, (n->n_attribute + 1) * sizeof *list); /* small: copied each time */
    if (!at || !list) return NULL;
    onnx__attribute_proto__init(at);
    at->name = onnx_strdup(&e->a, name);
    at->has_type = 1, at->type = type;
    if (n->n_attribute) memcpy(list, n->attribute, n->n_attribute * sizeof *list);
    list[n->n_attribute++] = at;
    n->attribute = list;
    return at;
}

static void attr_int(exporter *e, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *at = attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (at) at->has_i = 1, at->i = v;
}

static void attr_float(exporter *e, Onnx__NodeProto *n, const char *name, double v) {
    Onnx__AttributeProto *at = attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (at) at->has_f = 1, at->f = (float)v;
}

/* kernel_shape, strides: (v, v); pads: (begin, begin, end, end) */
static void attr_ints(exporter *e, Onnx__NodeProto *n, const char *name, int64_t v, int64_t end) {
    Onnx__AttributeProto *at = attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int count = strcmp(name, "pads") ? 2 : 4;
    int64_t *ints = onnx_alloc(&e->a, 4 * sizeof *ints);
    if (!at || !ints) return;
    ints[0] = ints[1] = v, ints[2] = ints[3] = end;
    at->n_ints = (size_t)count, at->ints = ints;
}

/* A node op(inputs) -> output named `name`, appended to the graph. */
static Onnx__NodeProto *node(exporter *e, const char *op, const char *name, const char *in0,
                             const char *in1, const char *in2) {
    Onnx__NodeProto *n = onnx_alloc(&e->a, sizeof *n);
    char **in = onnx_alloc(&e->a, 3 * sizeof *in), **out = onnx_alloc(&e->a, sizeof *out);
    if (!n || !in || !out) return NULL;
    onnx__node_proto__init(n);
    const char *ins[3] = {in0, in1, in2};
    for (int i = 0; i < 3 && ins[i]; i++) in[n->n_input++] = onnx_strdup(&e->a, ins[i]);
    out[0] = onnx_strdup(&e->a, name);
    n->input = in, n->n_output = 1, n->output = out;
    n->name = onnx_strdup(&e->a, name), n->op_type = onnx_strdup(&e->a, op);
    e->g->node[e->g->n_node++] = n;
    e->cur = out[0];
    return n;
}

/* An initializer: float data (not copied: it must outlive the packing) of the given shape. */
static void initializer(exporter *e, const char *name, const float *data, int ndim,
                        const int64_t *shape) {
    Onnx__TensorProto *t = onnx_alloc(&e->a, sizeof *t);
    int64_t *dims = onnx_alloc(&e->a, (size_t)(ndim ? ndim : 1) * sizeof *dims);
    if (!t || !dims) return;
    onnx__tensor_proto__init(t);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) dims[i] = shape[i], count *= (size_t)shape[i];
    t->n_dims = (size_t)ndim, t->dims = dims;
    t->has_data_type = 1, t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->name = onnx_strdup(&e->a, name);
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float), t->raw_data.data = (uint8_t *)data;
    e->g->initializer[e->g->n_initializer++] = t;
}

/* The layer's parameters as initializers; their names in out[0] (weight) and out[1] (bias). */
static void params(exporter *e, int layer, const char *out[2]) {
    out[0] = out[1] = NULL;
    for (int i = 0; i < zf_net_num_param_tensors(e->net); i++) {
        zf_param_info p;
        zf_net_param_info(e->net, i, &p);
        if (p.layer != layer) continue;
        initializer(e, p.name, zf_net_params(e->net) + p.offset, p.ndim, p.shape);
        if (!e->a.failed) out[p.is_bias] = e->g->initializer[e->g->n_initializer - 1]->name;
    }
}

static void conv_node(exporter *e, const layer_def *d, int layer) {
    const conv_params *p = &d->p.conv;
    const char *w[2];
    params(e, layer, w);
    Onnx__NodeProto *n = node(e, "Conv", d->name, e->cur, w[0], w[1]);
    if (!n) return;
    attr_ints(e, n, "kernel_shape", p->size, 0);
    attr_ints(e, n, "strides", p->stride, 0);
    attr_ints(e, n, "pads", p->pad, p->pad);
    attr_ints(e, n, "dilations", 1, 0);
    attr_int(e, n, "group", p->groups);
}

/* Max pooling: ceil_mode from opset 10; before it, the end padding that gives the same output
 * (windows clipped at the end are the same as windows over -inf padding). */
static void pool_node(exporter *e, const layer_def *d, const zf_layer_info *li) {
    const pool_params *p = &d->p.pool;
    Onnx__NodeProto *n = node(e, "MaxPool", d->name, e->cur, NULL, NULL);
    if (!n) return;
    int end_h = p->pad + p->pad_end, end_w = end_h, ceil_mode = p->ceil_mode && e->opset >= 10;
    if (p->ceil_mode && !ceil_mode) {
        int need_h = (li->out.h - 1) * p->stride + p->size - li->in.h - p->pad;
        int need_w = (li->out.w - 1) * p->stride + p->size - li->in.w - p->pad;
        end_h = need_h > end_h ? need_h : end_h, end_w = need_w > end_w ? need_w : end_w;
    }
    attr_ints(e, n, "kernel_shape", p->size, 0);
    attr_ints(e, n, "strides", p->stride, 0);
    Onnx__AttributeProto *pads = attr(e, n, "pads", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *v = onnx_alloc(&e->a, 4 * sizeof *v);
    if (!pads || !v) return;
    v[0] = v[1] = p->pad, v[2] = end_h, v[3] = end_w;
    pads->n_ints = 4, pads->ints = v;
    if (ceil_mode) attr_int(e, n, "ceil_mode", 1);
}

static void lrn_node(exporter *e, const layer_def *d) {
    const lrn_params *p = &d->p.lrn;
    if (p->size % 2 == 0)
        return cannot(e, d, "an even LRN size: ONNX's window for it is one channel off zfnet's");
    Onnx__NodeProto *n = node(e, "LRN", d->name, e->cur, NULL, NULL);
    if (!n) return;
    attr_int(e, n, "size", p->size);
    attr_float(e, n, "alpha", p->alpha_per_size ? p->alpha : p->alpha * p->size);
    attr_float(e, n, "beta", p->beta);
    attr_float(e, n, "bias", p->k);
    if (!p->alpha_per_size) n->doc_string = onnx_strdup(&e->a, ZF_ONNX_LRN_ABSOLUTE);
}

/* fc: a Flatten first when the tensor is 4-D; Gemm with transB (PyTorch's (out, in) weight).
 * Before opset 11 Gemm needs a C: a zero bias. */
static void fc_node(exporter *e, const layer_def *d, int layer, const zf_layer_info *li) {
    if (e->rank == 4) {
        char flat[80];
        snprintf(flat, sizeof flat, "%s.flatten", d->name);
        Onnx__NodeProto *f = node(e, "Flatten", flat, e->cur, NULL, NULL);
        if (f) attr_int(e, f, "axis", 1);
        e->rank = 2;
    }
    const char *w[2];
    params(e, layer, w);
    if (!w[1] && e->opset < 11) {
        char name[80];
        snprintf(name, sizeof name, "%s.zero_bias", d->name);
        float *zero = onnx_alloc(&e->a, sizeof(float) * (size_t)li->out.c);
        int64_t shape[1] = {li->out.c};
        if (zero) initializer(e, name, zero, 1, shape);
        w[1] = e->a.failed ? NULL : e->g->initializer[e->g->n_initializer - 1]->name;
    }
    Onnx__NodeProto *n = node(e, "Gemm", d->name, e->cur, w[0], w[1]);
    if (n) attr_int(e, n, "transB", 1);
}

/* Dropout (the identity at inference): its ratio an attribute before opset 12, then an
 * input. */
static void dropout_node(exporter *e, const layer_def *d) {
    if (e->opset < 12) {
        Onnx__NodeProto *n = node(e, "Dropout", d->name, e->cur, NULL, NULL);
        if (n) attr_float(e, n, "ratio", d->p.dropout.p);
        return;
    }
    char name[80];
    snprintf(name, sizeof name, "%s.ratio", d->name);
    float *ratio = onnx_alloc(&e->a, sizeof *ratio);
    if (!ratio) return;
    *ratio = (float)d->p.dropout.p;
    initializer(e, name, ratio, 0, NULL);
    if (!e->a.failed)
        node(e, "Dropout", d->name, e->cur, e->g->initializer[e->g->n_initializer - 1]->name, NULL);
}

static void layer_node(exporter *e, int i) {
    const layer_def *d = &zf_net_model(e->net)->layers[i];
    zf_layer_info li;
    zf_net_layer_info(e->net, i, &li);
    int spatial =
        d->kind == ZF_LAYER_CONV || d->kind == ZF_LAYER_MAXPOOL || d->kind == ZF_LAYER_LRN;
    if (spatial && e->rank == 2)
        return cannot(e, d,
                      "a window layer after an fc layer (ONNX's needs an N x C x H x W "
                      "tensor)");
    switch (d->kind) {
    case ZF_LAYER_CONV:
        conv_node(e, d, i);
        break;
    case ZF_LAYER_RELU:
        node(e, "Relu", d->name, e->cur, NULL, NULL);
        break;
    case ZF_LAYER_MAXPOOL:
        pool_node(e, d, &li);
        break;
    case ZF_LAYER_LRN:
        lrn_node(e, d);
        break;
    case ZF_LAYER_FC:
        fc_node(e, d, i, &li);
        break;
    case ZF_LAYER_DROPOUT:
        dropout_node(e, d);
        break;
    default: { /* softmax: over the vector an fc made */
        Onnx__NodeProto *n = node(e, "Softmax", d->name, e->cur, NULL, NULL);
        if (n) attr_int(e, n, "axis", 1);
    }
    }
}

/* A float tensor's ValueInfo: (N, c, h, w) or, rank 2, (N, c); N is symbolic. */
static Onnx__ValueInfoProto *value_info(exporter *e, const char *name, int rank, zf_shape s) {
    Onnx__ValueInfoProto *v = onnx_alloc(&e->a, sizeof *v);
    Onnx__TypeProto *t = onnx_alloc(&e->a, sizeof *t);
    Onnx__TypeProto__Tensor *tt = onnx_alloc(&e->a, sizeof *tt);
    Onnx__TensorShapeProto *sh = onnx_alloc(&e->a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = onnx_alloc(&e->a, 4 * sizeof *dims);
    if (!v || !t || !tt || !sh || !dims) return NULL;
    onnx__value_info_proto__init(v), onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt), onnx__tensor_shape_proto__init(sh);
    int64_t extent[4] = {0, s.c, s.h, s.w};
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = onnx_alloc(&e->a, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0)
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM,
            d->dim_param = onnx_strdup(&e->a, "N");
        else
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE,
            d->dim_value = extent[i];
        dims[i] = d;
    }
    sh->n_dim = (size_t)rank, sh->dim = dims;
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, t->tensor_type = tt;
    v->name = onnx_strdup(&e->a, name), v->type = t;
    return v;
}

/* metadata_props: the model text and the data preparation */
static void metadata(exporter *e, Onnx__ModelProto *m, const zf_data_prep *p) {
    char *kv[12] = {ZF_ONNX_META_MODEL, (char *)zf_model_text(zf_net_model(e->net))};
    int n = 2;
    char scale[32], pad[16], shape[64], *mean = NULL, *names = NULL;
    if (p) {
        snprintf(scale, sizeof scale, "%.9g", p->scale);
        snprintf(pad, sizeof pad, "%d", p->pad);
        kv[n++] = ZF_ONNX_META_SCALE, kv[n++] = scale, kv[n++] = ZF_ONNX_META_CROP_PAD;
        kv[n++] = pad;
        json_t *a = json_array();
        for (int k = 0; p->class_names && k < p->classes; k++)
            json_array_append_new(a, json_string(p->class_names[k] ? p->class_names[k] : "?"));
        names = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        if (names) kv[n++] = ZF_ONNX_META_CLASS_NAMES, kv[n++] = names;
    }
    if (p && p->mean) {
        snprintf(shape, sizeof shape, "%dx%dx%d", p->shape.c, p->shape.h, p->shape.w);
        mean = onnx_base64(p->mean, sizeof(float) * (size_t)p->shape.c * p->shape.h * p->shape.w);
        kv[n++] = ZF_ONNX_META_SHAPE, kv[n++] = shape, kv[n++] = ZF_ONNX_META_MEAN;
        kv[n++] = mean ? mean : "";
        e->a.failed |= !mean;
    }
    m->metadata_props = onnx_alloc(&e->a, (size_t)n / 2 * sizeof *m->metadata_props);
    for (int i = 0; m->metadata_props && i < n; i += 2) {
        Onnx__StringStringEntryProto *s = onnx_alloc(&e->a, sizeof *s);
        if (!s) break;
        onnx__string_string_entry_proto__init(s);
        s->key = onnx_strdup(&e->a, kv[i]), s->value = onnx_strdup(&e->a, kv[i + 1]);
        m->metadata_props[m->n_metadata_props++] = s;
    }
    free(mean), free(names);
}

/* the IR version each opset came with; at least 4, the first where initializers need not be
 * listed among the graph inputs */
static int64_t ir_version(int opset) {
    static const int64_t ir[ZF_ONNX_OPSET_MAX + 1] = {[7] = 4, 4, 4, 5, 6, 7, 7, 7, 8, 8, 8};
    return ir[opset];
}

static Onnx__ModelProto *build(exporter *e, const zf_data_prep *prep) {
    Onnx__ModelProto *m = onnx_alloc(&e->a, sizeof *m);
    Onnx__OperatorSetIdProto *os = onnx_alloc(&e->a, sizeof *os);
    Onnx__OperatorSetIdProto **osl = onnx_alloc(&e->a, sizeof *osl);
    Onnx__GraphProto *g = e->g = onnx_alloc(&e->a, sizeof *g);
    int nl = zf_net_num_layers(e->net);
    e->node_cap = (size_t)nl * 2, e->init_cap = (size_t)nl * 2;
    if (!m || !os || !osl || !g) return NULL;
    onnx__model_proto__init(m), onnx__operator_set_id_proto__init(os);
    onnx__graph_proto__init(g);
    g->node = onnx_alloc(&e->a, e->node_cap * sizeof *g->node);
    g->initializer = onnx_alloc(&e->a, e->init_cap * sizeof *g->initializer);
    g->input = onnx_alloc(&e->a, sizeof *g->input);
    g->output = onnx_alloc(&e->a, sizeof *g->output);
    if (e->a.failed) return NULL;
    g->name = onnx_strdup(&e->a, zf_model_name(zf_net_model(e->net)));
    g->input[g->n_input++] = value_info(e, "input", 4, zf_net_input_shape(e->net));
    e->cur = "input", e->rank = 4;
    for (int i = 0; i < nl && !e->a.failed && !e->st; i++) layer_node(e, i);
    zf_layer_info last;
    zf_net_layer_info(e->net, nl - 1, &last);
    g->output[g->n_output++] = value_info(e, e->cur, e->rank, last.out);
    os->domain = onnx_strdup(&e->a, ""), os->has_version = 1, os->version = e->opset;
    osl[0] = os, m->n_opset_import = 1, m->opset_import = osl;
    m->has_ir_version = 1, m->ir_version = ir_version(e->opset);
    m->producer_name = onnx_strdup(&e->a, "zfnet");
    m->producer_version = onnx_strdup(&e->a, ZF_VERSION);
    m->graph = g;
    metadata(e, m, prep);
    return e->a.failed ? NULL : m;
}

/* Every tensor name once: the input, node outputs and initializers (a layer named "input" or
 * "conv1.weight" would otherwise make two tensors of one name, an invalid graph). */
static void unique_names(exporter *e) {
    const Onnx__GraphProto *g = e->g;
    size_t n = g->n_node + g->n_initializer + 1, k = 0;
    const char **names = malloc(n * sizeof *names);
    if (!names) return (void)(e->a.failed = 1);
    names[k++] = "input";
    for (size_t i = 0; i < g->n_node; i++) names[k++] = g->node[i]->output[0];
    for (size_t i = 0; i < g->n_initializer; i++) names[k++] = g->initializer[i]->name;
    for (size_t i = 0; i < k && !e->st; i++)
        for (size_t j = i + 1; j < k && !e->st; j++)
            if (!strcmp(names[i], names[j]))
                e->st = zf_fail(e->err, ZF_ERR_ARG,
                                "the graph would hold two tensors named '%s' (a layer's name is "
                                "also the input's or a parameter's); rename the layer",
                                names[i]);
    free(names);
}

zf_status zf_onnx_export(const zf_net *net, const zf_data_prep *prep, int opset, const char *path,
                         zf_error *err) {
    if (!opset) opset = ZF_ONNX_OPSET_DEFAULT;
    if (opset < ZF_ONNX_OPSET_MIN || opset > ZF_ONNX_OPSET_MAX)
        return zf_fail(err, ZF_ERR_RANGE, "opset %d: zfnet writes opsets %d to %d", opset,
                       ZF_ONNX_OPSET_MIN, ZF_ONNX_OPSET_MAX);
    exporter e = {.opset = opset, .net = (zf_net *)net, .err = err}; /* parameters: read only */
    Onnx__ModelProto *m = build(&e, prep);
    if (m && !e.st) unique_names(&e);
    if (e.st || e.a.failed) m = NULL;
    size_t len = m ? onnx__model_proto__get_packed_size(m) : 0;
    uint8_t *buf = m ? malloc(len ? len : 1) : NULL;
    zf_status st = e.st ? e.st : buf ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        onnx__model_proto__pack(m, buf);
        st = zf_write_file(path, buf, len, err);
    }
    free(buf);
    onnx_arena_free(&e.a);
    return st;
}
