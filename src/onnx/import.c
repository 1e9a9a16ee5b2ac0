/* An ONNX graph as a zfnet net: the chain from the image input to the output is walked node by
 * node and each node becomes a layer of a model text (parsed as any model file is); the
 * weights come from the initializers (or Constant nodes). What zfnet cannot compute exactly is
 * refused, naming the node, its op type and why (docs/onnx.md lists what is read). */
#include "import.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define MAX_NODES 4096

zf_status onnx_refuse(importer *im, const Onnx__NodeProto *n, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!n) return zf_fail(im->err, ZF_ERR_FORMAT, "%s: %s", im->path, why);
    return zf_fail(im->err, ZF_ERR_FORMAT, "%s: node '%s' (%s): %s", im->path,
                   n->name && *n->name ? n->name : "(no name)", onnx_op_of(n), why);
}

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

int64_t onnx_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_i ? a->i : def;
}

double onnx_attr_f(const Onnx__NodeProto *n, const char *name, double def) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_f ? onnx_float_value(a->f) : def;
}

int onnx_attr_is(const Onnx__NodeProto *n, const char *name, const char *value) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    const char *v = "NOTSET";
    size_t len = 6;
    if (a && a->has_s) v = (const char *)a->s.data, len = a->s.len;
    return len == strlen(value) && !memcmp(v, value, len);
}

/* the writers' order: by tensor name */
static int by_name(const void *a, const void *b) {
    return strcmp(((const struct written *)a)->name, ((const struct written *)b)->name);
}

int onnx_producer(const importer *im, const char *name) {
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
            return onnx_refuse(im, nd, "%zu inputs and %zu outputs: more than 256", nd->n_input,
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
            return onnx_refuse(im, im->g->node[im->writers[i].node],
                               "it writes '%s', which another node writes too",
                               im->writers[i].name);
    return ZF_OK;
}

const Onnx__TensorProto *onnx_constant(importer *im, const char *name) {
    if (!name || !*name) return NULL;
    for (size_t i = 0; i < im->g->n_initializer; i++)
        if (onnx_tensor_is(im->g->initializer[i]->name, name)) return im->g->initializer[i];
    int p = onnx_producer(im, name);
    if (p < 0 || strcmp(onnx_op_of(im->g->node[p]), "Constant")) return NULL;
    const Onnx__AttributeProto *v = onnx_attr(im->g->node[p], "value");
    if (v && v->t) im->visited[p] = 1;
    return v ? v->t : NULL;
}

int64_t onnx_tensor_count(const Onnx__TensorProto *t) {
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > (1ll << 31)) return -1;
        n *= t->dims[i];
        if (n > (1ll << 31)) return -1;
    }
    return n;
}

float *onnx_tensor_floats(importer *im, const Onnx__NodeProto *n, const char *what,
                          const Onnx__TensorProto *t, int64_t *count) {
    const char *name = t->name ? t->name : "";
    int64_t c = onnx_tensor_count(t);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return onnx_refuse(im, n, "%s '%s' is stored in an external file: not read", what, name),
               NULL;
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return onnx_refuse(im, n, "%s '%s' has data type %d: float32 (1) is needed", what, name,
                           t->data_type),
               NULL;
    if (c < 0) return onnx_refuse(im, n, "%s '%s' has a negative or huge shape", what, name), NULL;
    size_t have = t->has_raw_data ? t->raw_data.len : t->n_float_data * sizeof(float);
    if (have != (size_t)c * sizeof(float))
        return onnx_refuse(im, n, "%s '%s' holds %zu bytes of data; its shape needs %lld", what,
                           name, have, (long long)c * 4),
               NULL;
    float *d = malloc(have ? have : 1);
    if (!d) return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory"), NULL;
    if (have)
        memcpy(d, t->has_raw_data ? (const void *)t->raw_data.data : (const void *)t->float_data,
               have);
    *count = c;
    return d;
}

double onnx_scalar(importer *im, const char *name) {
    const Onnx__TensorProto *t = onnx_constant(im, name);
    zf_error quiet;
    zf_error *keep = im->err;
    im->err = &quiet;
    int64_t c = 0;
    float *v = t ? onnx_tensor_floats(im, NULL, "", t, &c) : NULL;
    im->err = keep;
    double x = v && c == 1 ? onnx_float_value(v[0]) : NAN;
    free(v);
    return x;
}

int onnx_readers(const importer *im, const char *t, int skip_shape, int *first) {
    int count = 0;
    *first = -1;
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        if (im->visited[i] || (skip_shape && !strcmp(onnx_op_of(n), "Shape"))) continue;
        for (size_t k = 0; k < n->n_input; k++)
            if (onnx_tensor_is(n->input[k], t)) {
                if (*first < 0) *first = (int)i;
                count++;
                break;
            }
    }
    return count;
}

/* ---- the walk ------------------------------------------------------------------------------ */

/* Node i, the chain's next, as a layer (refused unless it is of the standard domain, comes before
 * any Softmax and reads the chain's tensor as its first input); the chain moves to its output. */
static zf_status step(importer *im, int i) {
    const Onnx__NodeProto *n = im->g->node[i];
    const char *before = im->cur;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return onnx_refuse(im, n, "an op of domain '%s': not read", n->domain);
    if (im->softmax_seen)
        return onnx_refuse(im, n, "it follows the Softmax: zfnet's softmax is last");
    if (!n->n_input || !onnx_tensor_is(n->input[0], im->cur) || !n->n_output || !*n->output[0])
        return onnx_refuse(im, n, "it reads '%s' other than as its first input, or writes nothing",
                           im->cur);
    im->visited[i] = 1;
    zf_status st = onnx_read_node(im, n);
    if (!st && im->cur == before) onnx_advance(im, n);
    return st;
}

/* From the image input along the chain of nodes to the end. */
static zf_status walk(importer *im) {
    for (;;) {
        int square = -1, main = -1, count = 0;
        for (size_t i = 0; i < im->g->n_node; i++) {
            const Onnx__NodeProto *n = im->g->node[i];
            int reads = 0;
            for (size_t k = 0; k < n->n_input; k++) reads |= onnx_tensor_is(n->input[k], im->cur);
            if (!reads || !strcmp(onnx_op_of(n), "Shape")) continue;
            if (im->visited[i])
                return onnx_refuse(im, n,
                                   "it is reached twice from the input: the graph has a cycle");
            if (!strcmp(onnx_op_of(n), "Mul") && n->n_input == 2 &&
                onnx_tensor_is(n->input[0], n->input[1]))
                square = (int)i;
            else
                main = main < 0 ? (int)i : main, count++;
        }
        zf_status st = ZF_OK;
        if (im->nlayers >= ZF_MAX_LAYERS - 1 && (square >= 0 || count))
            return onnx_refuse(im, im->g->node[square >= 0 ? square : main],
                               "more than %d layers: zfnet's models hold at most %d",
                               ZF_MAX_LAYERS - 1, ZF_MAX_LAYERS);
        if (square >= 0)
            st = onnx_torch_lrn(im, square);
        else if (count > 1)
            return onnx_refuse(im, im->g->node[main],
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
            int p = onnx_producer(im, t);
            if (p >= (int)i)
                return onnx_refuse(im, n,
                                   "it reads '%s', written by node '%s' after it: the graph has "
                                   "a cycle or is not in topological order",
                                   t, im->g->node[p]->name ? im->g->node[p]->name : "");
            int known = p >= 0;
            for (size_t j = 0; !known && j < im->g->n_initializer; j++)
                known = onnx_tensor_is(im->g->initializer[j]->name, t);
            for (size_t j = 0; !known && j < im->g->n_input; j++)
                known = onnx_tensor_is(im->g->input[j]->name, t);
            if (!known)
                return onnx_refuse(im, n,
                                   "its input '%s' is written by no node and is neither an "
                                   "initializer nor a graph input",
                                   t);
        }
    }
    return ZF_OK;
}

static int is_initializer(const importer *im, const char *name) {
    for (size_t j = 0; j < im->g->n_initializer; j++)
        if (onnx_tensor_is(im->g->initializer[j]->name, name)) return 1;
    return 0;
}

/* The one graph input that is not an initializer: float, N x ... with 1 to 3 known dims. */
static zf_status image_input(importer *im) {
    const Onnx__ValueInfoProto *in = NULL;
    int count = 0;
    for (size_t i = 0; i < im->g->n_input; i++)
        if (!is_initializer(im, im->g->input[i]->name)) in = im->g->input[i], count++;
    if (count != 1)
        return onnx_refuse(im, NULL,
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
        return onnx_refuse(im, NULL, "input '%s' is not a float tensor of 2 to 4 dims",
                           in->name ? in->name : "");
    int64_t d[4] = {0, 1, 1, 1};
    for (size_t i = 0; i < s->n_dim; i++) {
        int known = s->dim[i]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d[i] = known ? s->dim[i]->dim_value : 0;
        if (i && (!known || d[i] < 1 || d[i] > 65536))
            return onnx_refuse(im, NULL, "input '%s': dimension %zu is not a number in [1, 65536]",
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
        return onnx_refuse(im, NULL, "the graph has %zu outputs: zfnet reads graphs with one",
                           im->g->n_output);
    if (!onnx_tensor_is(im->g->output[0]->name, im->cur))
        return onnx_refuse(im, NULL,
                           "the chain of nodes from the input ends at '%s', not at the "
                           "graph's output '%s'",
                           im->cur, im->g->output[0]->name ? im->g->output[0]->name : "");
    for (size_t i = 0; i < im->g->n_node; i++)
        if (!im->visited[i] && strcmp(onnx_op_of(im->g->node[i]), "Constant"))
            return onnx_refuse(im, im->g->node[i],
                               "it is not on the chain from the input to the "
                               "output");
    if (!im->nlayers)
        return onnx_refuse(im, NULL,
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
    zf_status st = zf_model_parse(text, im->path, NULL, &m, &pe);
    free(text);
    if (!st) st = zf_net_create(m, no, net, &pe);
    zf_model_free(m);
    if (st) return zf_fail(im->err, st, "%s: the imported net: %s", im->path, pe.msg);
    for (int i = 0; i < zf_net_num_param_tensors(*net); i++) {
        zf_param_info p;
        zf_net_param_info(*net, i, &p);
        const weight *w = NULL;
        for (int k = 0; k < im->nw && !w; k++)
            if (!strcmp(im->w[k].name, p.name)) w = &im->w[k];
        if (!w || w->count != p.count) {
            st = onnx_refuse(im, NULL, "parameter %s holds %zu values where the layer needs %zu",
                             p.name, w ? w->count : 0, p.count);
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
        return onnx_refuse(im, NULL, "metadata %s '%s' is not a number in [1e-9, 1e9]",
                           ZF_ONNX_META_SCALE, scale);
    p->scale = (float)x;
    long v = pad ? strtol(pad, &end, 10) : 0;
    if (pad && (end == pad || *end || v < 0 || v > 256))
        return onnx_refuse(im, NULL, "metadata %s '%s' is not a whole number in [0, 256]",
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
        return onnx_refuse(im, NULL, "metadata %s does not hold a float image of shape '%s'",
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
        st = onnx_refuse(im, NULL, "no graph");
    else if (!st && (im->opset < ZF_ONNX_OPSET_MIN || im->opset > ZF_ONNX_OPSET_MAX))
        st = onnx_refuse(im, NULL, "opset %d: zfnet reads opsets %d to %d", im->opset,
                         ZF_ONNX_OPSET_MIN, ZF_ONNX_OPSET_MAX);
    else if (!st && (m->graph->n_node > MAX_NODES || m->graph->n_initializer > MAX_NODES))
        st = onnx_refuse(im, NULL, "%zu nodes and %zu initializers: more than %d", m->graph->n_node,
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
