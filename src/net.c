/* The net: plans every layer once, owns three flat blocks (parameters, gradients, and the
 * activation arena for a batch size) plus one shared workspace, and runs forward, backward
 * from the loss, and the downward signal passes (gradient, DeconvNet, guided). */
#include "internal.h"
#include "layers/layer.h"

#include <math.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct zf_net {
    zf_model *model; /* own copy */
    const zf_backend *be;
    void *be_ctx;
    int nlayers;
    layer *layers;
    size_t nparams;
    float *params, *grads;
    int nptensors;
    zf_param_info *ptensors;

    int reserved, n;
    void *arena;
    float *input;  /* (n, c, h, w) backend layout */
    float *sig[2]; /* ping-pong buffers for a signal travelling down */
    float *probs;  /* (n, classes) scratch for the loss */
    void *ws;
    size_t ws_cap;
    int64_t *labels;
    int have_labels;
    int forward_upto; /* last layer computed for the current input, -1: none */
    zf_mode mode;
    int input_grad;            /* index into sig holding the last downward result, -1: none */
    int signal_at, signal_buf; /* the last downward pass ended at this layer's input, in sig[] */
    zf_rng rng;
    int no_input_grad;
    float *momentum;
    int profiling;
    double *times; /* (nlayers, 2): forward, backward seconds */
    int threads;   /* 0: OpenMP's default */
    int inplace_relu;
    int borrowed;    /* params belong to another net */
    float *lr_scale; /* (nlayers) the rate's factor per layer, NULL: all 1 */
    int row0, total; /* rows row0.. of a global batch of total (0: this batch is all) */
    zf_backward_hook hook;
    void *hook_ctx;
    zf_net *fp32; /* a bf16 net's float32 twin over its weights (zf_net_fp32), NULL: none yet */
};

/* The net's thread count, set before each piece of work (OpenMP's is per process). */
static void use_threads(const zf_net *net) {
#ifdef _OPENMP
    if (net->threads > 0) omp_set_num_threads(net->threads);
#else
    (void)net;
#endif
}

static void *alloc_floats(size_t n) {
    /* calloc: pages are mapped lazily and zeroed, and big blocks come straight from mmap */
    return calloc(n ? n : 1, sizeof(float));
}

static size_t align64(size_t b) {
    return (b + 63) & ~(size_t)63;
}

static zf_model *model_copy(const zf_model *src) {
    zf_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    *m = *src;
    m->layers = malloc(sizeof *m->layers * (size_t)(src->nlayers ? src->nlayers : 1));
    m->text = strdup(src->text);
    if (!m->layers || !m->text) {
        zf_model_free(m);
        return NULL;
    }
    memcpy(m->layers, src->layers, sizeof *m->layers * (size_t)src->nlayers);
    return m;
}

/* A layer's output per image and the parameters so far, against what the kernels index (int)
 * and what memory can hold; nothing is allocated before this has passed for every layer. */
static zf_status check_sizes(zf_net *net, const layer *l, uint64_t max_params, char msg[256]) {
    uint64_t limit = max_params < ZF_MAX_PARAMS ? max_params : ZF_MAX_PARAMS;
    uint64_t per_image = (uint64_t)l->out.c * (uint64_t)l->out.h * (uint64_t)l->out.w;
    if (per_image > ZF_MAX_VALUES) {
        snprintf(msg, 256,
                 "[%s] %s: its output holds %llu values per image (%dx%dx%d), more than %llu",
                 zf_layer_kind_name(l->def->kind), l->def->name, (unsigned long long)per_image,
                 l->out.c, l->out.h, l->out.w, (unsigned long long)ZF_MAX_VALUES);
        return ZF_ERR_RANGE;
    }
    if (l->nweights > limit || l->nbias > limit || net->nparams + l->nweights + l->nbias > limit) {
        snprintf(msg, 256, "[%s] %s: the model would hold more than %llu parameters",
                 zf_layer_kind_name(l->def->kind), l->def->name, (unsigned long long)limit);
        return ZF_ERR_RANGE;
    }
    return ZF_OK;
}

/* Layer i's weight and bias tensors, placed at the end of the parameter block. */
static void add_params(zf_net *net, layer *l, int i) {
    if (l->nweights) {
        zf_param_info *p = &net->ptensors[net->nptensors++];
        snprintf(p->name, sizeof p->name, "%s.weight", l->def->name);
        p->ndim = l->wndim;
        memcpy(p->shape, l->wshape, sizeof p->shape);
        p->offset = l->w_off = net->nparams;
        p->count = l->nweights;
        p->layer = i;
        net->nparams += l->nweights;
    }
    if (l->nbias) {
        zf_param_info *p = &net->ptensors[net->nptensors++];
        snprintf(p->name, sizeof p->name, "%s.bias", l->def->name);
        p->ndim = 1;
        p->shape[0] = (int64_t)l->nbias;
        p->offset = l->b_off = net->nparams;
        p->count = l->nbias;
        p->layer = i;
        p->is_bias = 1;
        net->nparams += l->nbias;
    }
}

void zf_net_defaults(zf_net_options *o) {
    *o = (zf_net_options){.backend = ZF_BACKEND_DNNL,
                          .seed = 0,
                          .max_params = ZF_MAX_PARAMS,
                          .precision = ZF_PRECISION_FP32};
}

/* The backend for the options, once they are checked: auto resolved, bf16 refused where it
   cannot run. */
static zf_status pick_backend(const zf_net_options *o, const zf_backend **be, zf_error *err) {
    if (o->threads < 0 || o->threads > 1024 ||
        (o->backend != ZF_BACKEND_DNNL && o->backend != ZF_BACKEND_REF) ||
        (o->precision != ZF_PRECISION_FP32 && o->precision != ZF_PRECISION_BF16 &&
         o->precision != ZF_PRECISION_AUTO))
        return zf_fail(err, ZF_ERR_ARG,
                       "net options: backend %d, threads %d or precision %d out of range",
                       (int)o->backend, o->threads, (int)o->precision);
    if (o->backend == ZF_BACKEND_REF) {
        if (o->precision == ZF_PRECISION_BF16)
            return zf_fail(err, ZF_ERR_ARG, "precision bf16 needs the dnnl backend, not ref");
        *be = zf_backend_ref();
        return ZF_OK;
    }
    char why[200];
    int bf16 = o->precision != ZF_PRECISION_FP32 && zf_cpu_has_bf16(why, sizeof why);
    if (o->precision == ZF_PRECISION_BF16 && !bf16)
        return zf_fail(err, ZF_ERR_ARG, "precision bf16: %s; use fp32 or auto", why);
    *be = bf16 ? zf_backend_dnnl_bf16() : zf_backend_dnnl();
    return ZF_OK;
}

zf_status zf_net_create(const zf_model *model, const zf_net_options *opt, zf_net **out,
                        zf_error *err) {
    *out = NULL;
    zf_net_options o;
    if (opt)
        o = *opt;
    else
        zf_net_defaults(&o);
    const zf_backend *be = NULL;
    zf_status bst = pick_backend(&o, &be, err);
    if (bst) return bst;
    zf_net *net = calloc(1, sizeof *net);
    if (!net) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    net->forward_upto = -1;
    net->input_grad = -1, net->signal_at = -1;
    net->be = be;
    if (net->be->ctx_create && !(net->be_ctx = net->be->ctx_create())) {
        const char *name = net->be->name;
        free(net);
        return zf_fail(err, ZF_ERR_NOMEM, "cannot start the %s backend", name);
    }
    zf_rng_seed(&net->rng, o.seed);
    net->threads = o.threads;
    use_threads(net);
    net->model = model_copy(model);
    net->nlayers = model->nlayers;
    net->layers = calloc((size_t)model->nlayers, sizeof *net->layers);
    net->ptensors = calloc(2 * (size_t)model->nlayers, sizeof *net->ptensors);
    net->times = calloc(2 * (size_t)model->nlayers, sizeof *net->times);
    if (!net->model || !net->layers || !net->ptensors || !net->times) {
        zf_net_free(net);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    zf_shape in = model->input;
    uint64_t in_values = (uint64_t)in.c * (uint64_t)in.h * (uint64_t)in.w;
    if (in_values > ZF_MAX_VALUES) {
        zf_net_free(net);
        return zf_fail(err, ZF_ERR_RANGE,
                       "%s: its %dx%dx%d input holds %llu values per image, more than %llu",
                       model->filename, in.c, in.h, in.w, (unsigned long long)in_values,
                       (unsigned long long)ZF_MAX_VALUES);
    }
    int rf_size = 1, rf_stride = 1, rf_offset = 0;
    for (int i = 0; i < net->nlayers; i++) {
        layer *l = &net->layers[i];
        l->def = &net->model->layers[i];
        l->ops = zf_layer_ops(l->def->kind);
        l->in = in;
        l->rf_size = rf_size, l->rf_stride = rf_stride, l->rf_offset = rf_offset;
        zf_error lerr;
        zf_status st = l->ops->plan(l, &lerr);
        if (st) {
            zf_fail(err, st, "%s:%d: %s (input %dx%dx%d)", model->filename, l->def->line, lerr.msg,
                    in.c, in.h, in.w);
            zf_net_free(net);
            return st;
        }
        if ((st = check_sizes(net, l, o.max_params, lerr.msg))) {
            zf_fail(err, st, "%s:%d: %s", model->filename, l->def->line, lerr.msg);
            zf_net_free(net);
            return st;
        }
        rf_size = l->rf_size, rf_stride = l->rf_stride, rf_offset = l->rf_offset;
        in = l->out;
        add_params(net, l, i);
    }
    net->params = alloc_floats(net->nparams);
    net->grads = alloc_floats(net->nparams);
    if (!net->params || !net->grads) {
        size_t n = net->nparams;
        zf_net_free(net);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %zu parameters", n);
    }
    *out = net;
    return ZF_OK;
}

static void free_states(zf_net *net) {
    if (!net->be->state_free) return;
    for (int i = 0; net->layers && i < net->nlayers; i++) {
        op_common *op = (op_common *)&net->layers[i].d; /* every descriptor starts with it */
        if (op->state) net->be->state_free(op->state);
        op->state = NULL;
    }
}

void zf_net_free(zf_net *net) {
    if (!net) return;
    zf_net_free(net->fp32);
    free_states(net);
    if (net->be_ctx) net->be->ctx_free(net->be_ctx);
    zf_model_free(net->model);
    free(net->layers);
    free(net->ptensors);
    if (!net->borrowed) free(net->params);
    free(net->grads);
    free(net->momentum);
    free(net->lr_scale);
    free(net->times);
    free(net->arena);
    free(net->ws);
    free(net->labels);
    free(net);
}

const zf_model *zf_net_model(const zf_net *net) {
    return net->model;
}

int zf_net_num_layers(const zf_net *net) {
    return net->nlayers;
}

zf_status zf_net_layer_info(const zf_net *net, int i, zf_layer_info *out) {
    if (i < 0 || i >= net->nlayers) return ZF_ERR_ARG;
    const layer *l = &net->layers[i];
    *out = (zf_layer_info){.name = l->def->name,
                           .kind = l->def->kind,
                           .in = l->in,
                           .out = l->out,
                           .params = l->nweights + l->nbias,
                           .macs = l->macs,
                           .rf_size = l->rf_size,
                           .rf_stride = l->rf_stride,
                           .rf_offset = l->rf_offset,
                           .line = l->def->line};
    if (l->def->kind == ZF_LAYER_CONV) {
        const conv_params *c = &l->def->p.conv;
        out->kernel = c->size, out->stride = c->stride, out->pad = c->pad;
    } else if (l->def->kind == ZF_LAYER_MAXPOOL) {
        const pool_params *c = &l->def->p.pool;
        out->kernel = c->size, out->stride = c->stride, out->pad = c->pad;
    }
    return ZF_OK;
}

int zf_net_find_layer(const zf_net *net, const char *name) {
    for (int i = 0; i < net->nlayers; i++)
        if (!strcmp(net->layers[i].def->name, name)) return i;
    return -1;
}

zf_shape zf_net_input_shape(const zf_net *net) {
    return net->model->input;
}

int zf_net_classes(const zf_net *net) {
    for (int i = net->nlayers - 1; i >= 0; i--)
        if (net->layers[i].def->kind == ZF_LAYER_FC) return net->layers[i].out.c;
    return 0;
}

size_t zf_net_num_params(const zf_net *net) {
    return net->nparams;
}

int zf_net_num_param_tensors(const zf_net *net) {
    return net->nptensors;
}

zf_status zf_net_param_info(const zf_net *net, int i, zf_param_info *out) {
    if (i < 0 || i >= net->nptensors) return ZF_ERR_ARG;
    *out = net->ptensors[i];
    return ZF_OK;
}

int zf_net_find_param(const zf_net *net, const char *name) {
    for (int i = 0; i < net->nptensors; i++)
        if (!strcmp(net->ptensors[i].name, name)) return i;
    return -1;
}

float *zf_net_params(zf_net *net) {
    return net->params;
}

float *zf_net_grads(zf_net *net) {
    return net->grads;
}

void zf_net_zero_grads(zf_net *net) {
    memset(net->grads, 0, sizeof(float) * net->nparams);
}

void zf_net_set_inplace_relu(zf_net *net, int on) {
    net->inplace_relu = on;
}

/* the ReLU at i works in place over the output of the conv or fc layer before it */
static int relu_in_place(const zf_net *net, int i) {
    const layer *l = &net->layers[i];
    if (!net->inplace_relu || i == 0 || l->def->kind != ZF_LAYER_RELU) return 0;
    zf_layer_kind prev = net->layers[i - 1].def->kind;
    return prev == ZF_LAYER_CONV || prev == ZF_LAYER_FC;
}

void zf_net_set_input_grad(zf_net *net, int on) {
    net->no_input_grad = !on;
}

const char *zf_net_backend_name(const zf_net *net) {
    return net->be->name;
}

void zf_net_borrow_params(zf_net *net, float *params) {
    if (!net->borrowed) free(net->params);
    net->params = params, net->borrowed = 1;
}

zf_net_options zf_net_options_of(const zf_net *net) {
    zf_net_options o;
    zf_net_defaults(&o);
    o.backend = net->be == zf_backend_ref() ? ZF_BACKEND_REF : ZF_BACKEND_DNNL;
    o.threads = net->threads;
    o.precision = zf_net_precision(net);
    return o;
}

zf_precision zf_net_precision(const zf_net *net) {
    return net->be == zf_backend_dnnl_bf16() ? ZF_PRECISION_BF16 : ZF_PRECISION_FP32;
}

zf_status zf_net_fp32(zf_net *net, zf_net **out, zf_error *err) {
    *out = net;
    if (zf_net_precision(net) == ZF_PRECISION_FP32) return ZF_OK;
    if (!net->fp32) {
        zf_net_options o = zf_net_options_of(net);
        o.precision = ZF_PRECISION_FP32;
        zf_status st = zf_net_create(net->model, &o, &net->fp32, err);
        if (st) return st;
        free(net->fp32->grads); /* it only sends signals down: no weight gradients summed */
        net->fp32->grads = NULL;
    }
    zf_net_borrow_params(net->fp32, net->params); /* the parent's current block, always */
    *out = net->fp32;
    return ZF_OK;
}

void zf_net_set_profiling(zf_net *net, int on) {
    net->profiling = on;
}

void zf_net_reset_times(zf_net *net) {
    memset(net->times, 0, sizeof(double) * 2 * (size_t)net->nlayers);
}

void zf_net_layer_times(const zf_net *net, int i, double *forward_ms, double *backward_ms) {
    ZF_ASSERT(i >= 0 && i < net->nlayers);
    *forward_ms = 1e3 * net->times[2 * i];
    *backward_ms = 1e3 * net->times[2 * i + 1];
}

int zf_net_first_nonfinite(const zf_net *net, int grads) {
    const float *v = grads ? net->grads : net->params;
    for (int i = 0; i < net->nptensors; i++) {
        const zf_param_info *p = &net->ptensors[i];
        const float *x = v + p->offset;
        uint32_t bad = 0; /* an all-ones exponent: Inf or NaN (bit tests vectorise) */
        for (size_t k = 0; k < p->count; k++) {
            uint32_t b;
            memcpy(&b, x + k, sizeof b);
            bad |= (b & 0x7f800000u) == 0x7f800000u;
        }
        if (bad) return i;
    }
    return -1;
}

float *zf_net_momentum(zf_net *net) {
    return net->momentum;
}

float *zf_net_momentum_alloc(zf_net *net) {
    if (!net->momentum) net->momentum = alloc_floats(net->nparams);
    return net->momentum;
}

void zf_net_reseed(zf_net *net, uint64_t seed) {
    zf_rng_seed(&net->rng, seed);
}

void zf_net_set_batch_part(zf_net *net, int row0, int total) {
    net->row0 = row0 > 0 ? row0 : 0, net->total = total > 0 ? total : 0;
}

void zf_net_set_backward_hook(zf_net *net, zf_backward_hook fn, void *ctx) {
    net->hook = fn, net->hook_ctx = ctx;
}

/* the loss's denominator: the global batch when this is a part of one */
static int loss_rows(const zf_net *net) {
    return net->total ? net->total : net->n;
}

static void sgd_span(float *restrict w, float *restrict v, const float *restrict g, size_t n,
                     float lr, float momentum, float weight_decay) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        v[i] = momentum * v[i] + (g[i] + weight_decay * w[i]);
        w[i] -= lr * v[i];
    }
}

zf_status zf_net_sgd_step(zf_net *net, float lr, float momentum, float weight_decay,
                          zf_error *err) {
    if (!net->momentum && !(net->momentum = alloc_floats(net->nparams)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for the momentum of %zu parameters",
                       net->nparams);
    if (!net->lr_scale) {
        sgd_span(net->params, net->momentum, net->grads, net->nparams, lr, momentum, weight_decay);
        return ZF_OK;
    }
    for (int t = 0; t < net->nptensors; t++) {
        const zf_param_info *p = &net->ptensors[t];
        float scale = net->lr_scale[p->layer];
        if (scale != 0)
            sgd_span(net->params + p->offset, net->momentum + p->offset, net->grads + p->offset,
                     p->count, lr * scale, momentum, weight_decay);
    }
    return ZF_OK;
}

zf_status zf_net_set_lr_scale(zf_net *net, int li, float scale, zf_error *err) {
    if (li < 0 || li >= net->nlayers)
        return zf_fail(err, ZF_ERR_ARG, "no layer %d (the net has %d)", li, net->nlayers);
    if (!(scale >= 0) || !isfinite(scale))
        return zf_fail(err, ZF_ERR_RANGE, "a learning-rate factor must be >= 0, not %g",
                       (double)scale);
    if (!net->lr_scale) {
        if (!(net->lr_scale = malloc(sizeof(float) * (size_t)net->nlayers)))
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        for (int i = 0; i < net->nlayers; i++) net->lr_scale[i] = 1;
    }
    net->lr_scale[li] = scale;
    return ZF_OK;
}

void zf_init_defaults(zf_init_options *o) {
    /* ZF §3: weights initialised to 1e-2, biases to 0 */
    *o = (zf_init_options){.scheme = ZF_INIT_GAUSSIAN, .std = 0.01, .bias = 0, .seed = 1};
}

void zf_net_init_params(zf_net *net, const zf_init_options *opt) {
    zf_init_options o;
    if (opt)
        o = *opt;
    else
        zf_init_defaults(&o);
    double std = o.std;
    zf_rng rng;
    zf_rng_seed(&rng, o.seed);
    for (int t = 0; t < net->nptensors; t++) {
        const zf_param_info *p = &net->ptensors[t];
        float *v = net->params + p->offset;
        if (p->is_bias) {
            for (size_t i = 0; i < p->count; i++) v[i] = (float)o.bias;
            continue;
        }
        double fan_in = (double)p->count / (double)p->shape[0];
        double fan_out = (double)p->count / (double)p->shape[1];
        switch (o.scheme) {
        case ZF_INIT_GAUSSIAN:
            for (size_t i = 0; i < p->count; i++) v[i] = (float)(std * zf_rng_normal(&rng));
            break;
        case ZF_INIT_HE:
            for (size_t i = 0; i < p->count; i++)
                v[i] = (float)(sqrt(2.0 / fan_in) * zf_rng_normal(&rng));
            break;
        case ZF_INIT_XAVIER: {
            double a = sqrt(6.0 / (fan_in + fan_out));
            for (size_t i = 0; i < p->count; i++)
                v[i] = (float)(a * (2.0 * zf_rng_uniform(&rng) - 1.0));
            break;
        }
        }
    }
}

static size_t act_bytes(const zf_net *net, int n, zf_shape s) {
    return net->be->act_bytes(n, s.c, s.h, s.w);
}

/* Fill every layer's descriptors for batch n (the backend's old per-op state is dropped) and
 * return the workspace they need. If the arena is already reserved, check the per-layer state
 * fits in it (it shrinks with the batch). */
static size_t set_batch(zf_net *net, int n) {
    use_threads(net); /* backends may size their primitives by it */
    free_states(net);
    for (int i = 0; i < net->nlayers; i++)
        net->layers[i].ops->set_batch(&net->layers[i], n, net->be_ctx);
    net->n = n;
    size_t ws = 0;
    for (int i = 0; i < net->nlayers; i++) {
        layer *l = &net->layers[i];
        if (net->reserved) ZF_ASSERT(l->ops->aux_bytes(l, net->be) <= l->aux_cap);
        size_t w = l->ops->workspace(l, net->be);
        if (w > ws) ws = w;
    }
    return ws;
}

/* The workspace grows when a batch size needs more (a backend's scratchpad does not always
 * shrink with the batch); it is reallocated only then, never per step. */
static zf_status grow_workspace(zf_net *net, size_t bytes, zf_error *err) {
    if (bytes <= net->ws_cap && net->ws) return ZF_OK;
    void *ws = NULL;
    if (posix_memalign(&ws, 64, align64(bytes ? bytes : 64)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for a %.1f MiB workspace",
                       (double)bytes / (1 << 20));
    free(net->ws);
    net->ws = ws;
    net->ws_cap = bytes;
    return ZF_OK;
}

static zf_status too_big(const zf_net *net, int n, double bytes, double ram, zf_error *err) {
    return zf_fail(err, ZF_ERR_NOMEM,
                   "a batch of %d for model '%s' needs %.1f GiB of activations, more than this "
                   "machine's %.1f GiB of memory",
                   n, net->model->name, bytes / (1 << 30), ram / (1 << 30));
}

zf_status zf_net_reserve(zf_net *net, int n, zf_error *err) {
    if (n < 1) return zf_fail(err, ZF_ERR_ARG, "batch size %d must be at least 1", n);
    if (n <= net->reserved) return ZF_OK;
    double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE), acts = 0;
    for (int i = -1; i < net->nlayers; i++) /* before any buffer for this batch is made */
        acts += (double)act_bytes(net, n, i < 0 ? net->model->input : net->layers[i].out);
    if (ram > 0 && acts > ram) return too_big(net, n, acts, ram, err);
    int old = net->reserved;
    net->reserved = 0; /* no size checks against the old arena */
    size_t ws = set_batch(net, n);
    size_t maxact = act_bytes(net, n, net->model->input), total = 0;
    for (int i = 0; i < net->nlayers; i++) {
        layer *l = &net->layers[i];
        size_t b = act_bytes(net, n, l->out);
        if (b > maxact) maxact = b;
        l->aux_cap = l->ops->aux_bytes(l, net->be);
        total += (relu_in_place(net, i) ? 0 : align64(b)) + align64(l->aux_cap);
    }
    int classes = net->layers[net->nlayers - 1].out.c;
    total += align64(act_bytes(net, n, net->model->input)) + 2 * align64(maxact) +
             align64(sizeof(float) * (size_t)n * classes);
    char *arena = NULL;
    if (ram > 0 && (double)total + (double)ws > ram) { /* refused, not left to the OOM killer */
        if (old) set_batch(net, old), net->reserved = old;
        return too_big(net, n, (double)total + (double)ws, ram, err);
    }
    int64_t *labels = calloc((size_t)n, sizeof *labels);
    if (!labels || grow_workspace(net, ws, NULL) ||
        posix_memalign((void **)&arena, 64, total ? total : 64)) {
        free(labels);
        if (old) { /* keep the old, smaller arena working */
            set_batch(net, old);
            net->reserved = old;
        }
        return zf_fail(err, ZF_ERR_NOMEM,
                       "out of memory: a batch of %d for model '%s' needs %.1f MiB of activations",
                       n, net->model->name, (double)total / (1 << 20));
    }
    free(net->arena);
    free(net->labels);
    net->arena = arena;
    net->labels = labels;
    char *p = arena;
    net->input = (float *)p, p += align64(act_bytes(net, n, net->model->input));
    for (int i = 0; i < net->nlayers; i++) {
        layer *l = &net->layers[i];
        l->overwritten = i + 1 < net->nlayers && relu_in_place(net, i + 1);
        if (relu_in_place(net, i))
            l->y = net->layers[i - 1].y;
        else
            l->y = (float *)p, p += align64(act_bytes(net, n, l->out));
        l->aux = l->aux_cap ? p : NULL, p += align64(l->aux_cap);
    }
    net->sig[0] = (float *)p, p += align64(maxact);
    net->sig[1] = (float *)p, p += align64(maxact);
    net->probs = (float *)p, p += align64(sizeof(float) * (size_t)n * classes);
    net->reserved = n;
    net->forward_upto = -1;
    net->input_grad = -1, net->signal_at = -1;
    net->have_labels = 0;
    return ZF_OK;
}

zf_status zf_net_set_input(zf_net *net, const float *x, int n, zf_error *err) {
    if (n < 1 || n > net->reserved)
        return zf_fail(err, ZF_ERR_ARG, "batch of %d images but the net is reserved for %d", n,
                       net->reserved);
    if (n != net->n) {
        zf_status st = grow_workspace(net, set_batch(net, n), err);
        if (st) return st;
    }
    zf_shape s = net->model->input;
    net->be->from_nchw(net->input, x, n, s.c, s.h, s.w);
    net->forward_upto = -1;
    net->input_grad = -1, net->signal_at = -1;
    net->have_labels = 0;
    return ZF_OK;
}

zf_status zf_net_set_labels(zf_net *net, const int64_t *labels, int n, zf_error *err) {
    if (n != net->n || !net->reserved)
        return zf_fail(err, ZF_ERR_ARG, "%d labels for a batch of %d images", n, net->n);
    int classes = zf_net_classes(net);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return zf_fail(err, ZF_ERR_RANGE, "label %lld of image %d is out of range [0, %d)",
                           (long long)labels[i], i, classes);
    memcpy(net->labels, labels, sizeof *labels * (size_t)n);
    net->have_labels = 1;
    return ZF_OK;
}

static layer_ctx make_ctx(zf_net *net) {
    return (layer_ctx){.be = net->be,
                       .ws = net->ws,
                       .n = net->n,
                       .mode = net->mode,
                       .rng = &net->rng,
                       .row0 = net->row0,
                       .params = net->params,
                       .grads = net->grads};
}

static const float *layer_input(const zf_net *net, int i) {
    return i ? net->layers[i - 1].y : net->input;
}

zf_status zf_net_forward(zf_net *net, zf_mode mode, int upto, zf_error *err) {
    if (!net->reserved || !net->n)
        return zf_fail(err, ZF_ERR_STATE, "forward before any input was set");
    if (upto < 0 || upto >= net->nlayers) upto = net->nlayers - 1;
    net->mode = mode;
    use_threads(net);
    layer_ctx c = make_ctx(net);
    for (int i = 0; i <= upto; i++) {
        double t0 = net->profiling ? zf_now() : 0;
        net->layers[i].ops->forward(&net->layers[i], &c, layer_input(net, i));
        if (net->profiling) net->times[2 * i] += zf_now() - t0;
    }
    net->forward_upto = upto;
    net->input_grad = -1, net->signal_at = -1;
    return ZF_OK;
}

static zf_status need_softmax(const zf_net *net, zf_error *err) {
    const layer *last = &net->layers[net->nlayers - 1];
    char desc[512];
    if (last->def->kind != ZF_LAYER_SOFTMAX)
        return zf_fail(err, ZF_ERR_STATE, "%s has no softmax layer: no loss to compute",
                       zf_model_describe(net->model, desc, sizeof desc));
    if (net->forward_upto != net->nlayers - 1)
        return zf_fail(err, ZF_ERR_STATE, "the loss needs a forward pass through every layer");
    if (!net->have_labels) return zf_fail(err, ZF_ERR_STATE, "the loss needs labels");
    return ZF_OK;
}

zf_status zf_net_loss(zf_net *net, double *loss, zf_error *err) {
    zf_status st = need_softmax(net, err);
    if (st) return st;
    const layer *last = &net->layers[net->nlayers - 1];
    int classes = last->out.c;
    net->be->to_nchw(net->probs, last->y, net->n, classes, 1, 1);
    double s = 0;
    for (int i = 0; i < net->n; i++) {
        double p = net->probs[(size_t)i * classes + net->labels[i]];
        s -= log(p > 1e-38 ? p : 1e-38);
    }
    *loss = s / loss_rows(net);
    return ZF_OK;
}

/* Layers from..to (to >= 0) backwards with `rule` and the LRN choice, starting from the signal
 * in sig[cur]; the signal ends at the input of layer `to`. Parameter gradients are gated here,
 * for every layer: only the true gradient accumulates them. */
static void run_down(zf_net *net, int from, int to, zf_rule rule, zf_lrn_rule lrn, int cur) {
    use_threads(net);
    layer_ctx c = make_ctx(net);
    if (rule != ZF_RULE_GRADIENT) c.grads = NULL;
    c.lrn_gradient = zf_lrn_rule_for(rule, lrn) == ZF_LRN_GRADIENT;
    for (int i = from; i >= to; i--) {
        layer *l = &net->layers[i];
        double t0 = net->profiling ? zf_now() : 0;
        float *dx = i == 0 && net->no_input_grad ? NULL : net->sig[1 - cur];
        l->ops->backward(l, &c, rule, dx, net->sig[cur], layer_input(net, i));
        if (net->profiling) net->times[2 * i + 1] += zf_now() - t0;
        if (c.grads && net->hook) net->hook(net->hook_ctx, i);
        cur = 1 - cur;
    }
    net->signal_at = to, net->signal_buf = cur;
    net->input_grad = to > 0 || net->no_input_grad ? -1 : cur;
}

zf_status zf_net_backward(zf_net *net, zf_error *err) {
    zf_status st = need_softmax(net, err);
    if (st) return st;
    const layer *last = &net->layers[net->nlayers - 1];
    int n = net->n, classes = last->out.c;
    /* d(mean cross-entropy)/d(logits) = (p - onehot) / n (n: the global batch's rows) */
    float *g = net->probs;
    net->be->to_nchw(g, last->y, n, classes, 1, 1);
    for (int i = 0; i < n; i++) {
        float *gi = g + (size_t)i * classes;
        gi[net->labels[i]] -= 1.0f;
        for (int j = 0; j < classes; j++) gi[j] /= (float)loss_rows(net);
    }
    net->be->from_nchw(net->sig[0], g, n, classes, 1, 1);
    if (net->nlayers >= 2)
        run_down(net, net->nlayers - 2, 0, ZF_RULE_GRADIENT, ZF_LRN_GRADIENT, 0);
    else
        net->input_grad = 0;
    return ZF_OK;
}

zf_status zf_net_signal_down(zf_net *net, int from, zf_rule rule, zf_lrn_rule lrn,
                             const float *signal, zf_error *err) {
    return zf_net_signal_down_to(net, from, 0, rule, lrn, signal, err);
}

zf_status zf_net_signal_down_to(zf_net *net, int from, int to, zf_rule rule, zf_lrn_rule lrn,
                                const float *signal, zf_error *err) {
    if (rule < ZF_RULE_GRADIENT || rule > ZF_RULE_GUIDED || lrn < ZF_LRN_DEFAULT ||
        lrn > ZF_LRN_GRADIENT)
        return zf_fail(err, ZF_ERR_ARG, "no signal rule %d with LRN choice %d", (int)rule,
                       (int)lrn);
    if (from < 0 || from >= net->nlayers || to < 0 || to > from)
        return zf_fail(err, ZF_ERR_ARG, "no layers %d..%d (the net has %d)", from, to,
                       net->nlayers);
    if (net->forward_upto < from)
        return zf_fail(err, ZF_ERR_STATE, "signal from layer '%s' before a forward pass reached it",
                       net->layers[from].def->name);
    zf_shape s = net->layers[from].out;
    net->be->from_nchw(net->sig[0], signal, net->n, s.c, s.h, s.w);
    run_down(net, from, to, rule, lrn, 0);
    return ZF_OK;
}

zf_status zf_net_read_signal(const zf_net *net, float *dst, zf_error *err) {
    if (net->signal_at < 0) return zf_fail(err, ZF_ERR_STATE, "no downward pass has been made");
    if (net->signal_at == 0 && net->no_input_grad)
        return zf_fail(err, ZF_ERR_STATE, "the input gradient is turned off");
    zf_shape s = net->layers[net->signal_at].in;
    net->be->to_nchw(dst, net->sig[net->signal_buf], net->n, s.c, s.h, s.w);
    return ZF_OK;
}

zf_status zf_net_read_output(const zf_net *net, int i, float *dst, zf_error *err) {
    if (i < 0 || i >= net->nlayers)
        return zf_fail(err, ZF_ERR_ARG, "no layer %d (the net has %d)", i, net->nlayers);
    if (net->forward_upto < i)
        return zf_fail(err, ZF_ERR_STATE, "layer '%s' has not been computed",
                       net->layers[i].def->name);
    if (net->layers[i].overwritten && net->forward_upto > i)
        return zf_fail(err, ZF_ERR_STATE,
                       "layer '%s': its output was overwritten by '%s' in place (training memory "
                       "plan)",
                       net->layers[i].def->name, net->layers[i + 1].def->name);
    zf_shape s = net->layers[i].out;
    net->be->to_nchw(dst, net->layers[i].y, net->n, s.c, s.h, s.w);
    return ZF_OK;
}

zf_status zf_net_read_input_grad(const zf_net *net, float *dst, zf_error *err) {
    if (net->input_grad < 0)
        return zf_fail(err, ZF_ERR_STATE, "no downward pass has reached the input");
    zf_shape s = net->model->input;
    net->be->to_nchw(dst, net->sig[net->input_grad], net->n, s.c, s.h, s.w);
    return ZF_OK;
}
