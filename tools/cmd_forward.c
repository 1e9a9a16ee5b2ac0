/* zfnet forward: run a model on a safetensors batch and write chosen activations, the loss and
 * all gradients, or a projection; how users check zfnet against other frameworks. */
#include "cli.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

static const cli_command forward_cmd = {
    "forward",
    "--model M --weights W.safetensors --input X.safetensors --output Y.safetensors\n"
    "                     [--layers all|NAME,...] [--grad] [--project LAYER [--rule R] [--lrn L]]",
    "Runs the model in inference mode (dropout is the identity) on the tensor 'input'\n"
    "(F32, N x C x H x W) of X and writes one F32 tensor per chosen layer, named as the layer\n"
    "(default: the last layer).\n"};

typedef struct fwd_args {
    const char *model, *weights, *input, *output, *layers, *project;
    int grad, lrn_gradient, rule_given, threads;
    zf_rule rule;
    zf_lrn_rule lrn;
    zf_model_overrides ov;
    zf_backend_kind backend;
} fwd_args;

typedef struct fwd_state {
    const fwd_args *a;
    zf_net *net;
    zf_st_file *in;
    zf_st_writer *out;
    float **bufs;
    int nbufs, n;
} fwd_state;

static float *keep(fwd_state *s, size_t count) {
    float *p = malloc(sizeof(float) * (count ? count : 1));
    if (p) s->bufs[s->nbufs++] = p;
    return p;
}

/* dims of layer i's output as written: (n, c, h, w), or (n, c) from the first fc on */
static int out_dims(const zf_net *net, int layer, int n, int64_t *dims) {
    int flat = 0;
    for (int i = 0; i <= layer; i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        flat |= li.kind == ZF_LAYER_FC;
    }
    zf_layer_info li;
    zf_net_layer_info(net, layer, &li);
    dims[0] = n, dims[1] = li.out.c, dims[2] = li.out.h, dims[3] = li.out.w;
    return flat ? 2 : 4;
}

/* which layers to write: chosen[i] */
static int choose_layers(const fwd_state *s, char *chosen) {
    int nl = zf_net_num_layers(s->net);
    const char *layers = s->a->layers;
    if (!layers) {
        chosen[nl - 1] = 1;
        return 0;
    }
    if (!strcmp(layers, "all")) {
        memset(chosen, 1, (size_t)nl);
        return 0;
    }
    int *idx = malloc(sizeof(int) * (size_t)nl), n = 0;
    zf_error err;
    if (!idx) return cli_error("out of memory");
    zf_status st = zf_net_parse_layers(s->net, layers, 0, idx, &n, &err);
    for (int i = 0; !st && i < n; i++) chosen[idx[i]] = 1;
    free(idx);
    return st ? cli_error("--layers: %s", err.msg) : 0;
}

/* the labels tensor (I64 or I32, shape [n]) for --grad, each in [0, classes) */
static int read_labels(fwd_state *s, int64_t **out) {
    const char *input = s->a->input, *mname = cli_model(s->net);
    const zf_st_tensor *lt = zf_st_find(s->in, "labels");
    int n = s->n, classes = zf_net_classes(s->net);
    if (!lt || (lt->dtype != ZF_DTYPE_I64 && lt->dtype != ZF_DTYPE_I32) || lt->ndim != 1 ||
        lt->shape[0] != n)
        return cli_error("%s: --grad needs a tensor 'labels' (I64 or I32) of shape [%d]%s", input,
                         n, lt ? ", found one of another dtype or shape" : "");
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    if (!labels) return cli_error("out of memory");
    for (int i = 0; i < n; i++) {
        int64_t v;
        if (lt->dtype == ZF_DTYPE_I64)
            memcpy(&v, (const char *)lt->data + 8 * (size_t)i, 8);
        else {
            int32_t v32;
            memcpy(&v32, (const char *)lt->data + 4 * (size_t)i, 4);
            v = v32;
        }
        if (v < 0 || v >= classes) {
            free(labels);
            return cli_error("%s: labels[%d] = %lld is out of range [0, %d) for %s", input, i,
                             (long long)v, classes, mname);
        }
        labels[i] = v;
    }
    *out = labels;
    return 0;
}

static int write_outputs(fwd_state *s, const char *chosen) {
    for (int i = 0; i < zf_net_num_layers(s->net); i++) {
        if (!chosen[i]) continue;
        int64_t d[4];
        int nd = out_dims(s->net, i, s->n, d);
        float *buf = keep(s, (size_t)d[0] * d[1] * d[2] * d[3]);
        zf_layer_info li;
        zf_net_layer_info(s->net, i, &li);
        zf_error err;
        if (!buf) return cli_error("out of memory");
        zf_net_read_output(s->net, i, buf, NULL);
        if (zf_st_writer_add(s->out, li.name, ZF_DTYPE_F32, nd, d, buf, &err))
            return cli_error("%s", err.msg);
    }
    return 0;
}

/* loss, grad.input and grad.<param> */
static int write_grads(fwd_state *s, const int64_t *labels) {
    zf_net *net = s->net;
    zf_shape is = zf_net_input_shape(net);
    double loss;
    zf_error err;
    zf_net_zero_grads(net);
    if (zf_net_set_labels(net, labels, s->n, &err) || zf_net_loss(net, &loss, &err) ||
        zf_net_backward(net, &err))
        return cli_error("%s: %s", s->a->input, err.msg);
    float *lv = keep(s, 1), *gi = keep(s, (size_t)s->n * is.c * is.h * is.w);
    if (!lv || !gi) return cli_error("out of memory");
    *lv = (float)loss;
    zf_net_read_input_grad(net, gi, NULL);
    int64_t d[4] = {s->n, is.c, is.h, is.w};
    zf_st_writer_add(s->out, "loss", ZF_DTYPE_F32, 0, d, lv, NULL);
    zf_st_writer_add(s->out, "grad.input", ZF_DTYPE_F32, 4, d, gi, NULL);
    const float *g = zf_net_grads(net);
    for (int t = 0; t < zf_net_num_param_tensors(net); t++) {
        zf_param_info p;
        zf_net_param_info(net, t, &p);
        char name[80];
        snprintf(name, sizeof name, "grad.%s", p.name);
        zf_st_writer_add(s->out, name, ZF_DTYPE_F32, p.ndim, p.shape, g + p.offset, NULL);
    }
    fprintf(stderr, "loss %.6f over %d images\n", loss, s->n);
    return 0;
}

static int write_projection(fwd_state *s, int layer, const zf_st_tensor *sig) {
    zf_shape is = zf_net_input_shape(s->net);
    zf_lrn_rule lrn = s->a->lrn_gradient ? ZF_LRN_GRADIENT : s->a->lrn;
    float *pr = keep(s, (size_t)s->n * is.c * is.h * is.w);
    zf_error err;
    if (!pr) return cli_error("out of memory");
    if (zf_net_signal_down(s->net, layer, s->a->rule, lrn, sig->data, &err))
        return cli_error("%s", err.msg);
    zf_net_read_input_grad(s->net, pr, NULL);
    int64_t d[4] = {s->n, is.c, is.h, is.w};
    zf_st_writer_add(s->out, "projection", ZF_DTYPE_F32, 4, d, pr, NULL);
    return 0;
}

/* 0, or the error naming the file, the tensor and the first NaN or Inf in it */
static int need_finite(const char *path, const zf_st_tensor *t) {
    const float *v = t->data; /* aligned by zf_st_open */
    for (size_t i = 0; i < t->nbytes / sizeof(float); i++)
        if (!isfinite(v[i]))
            return cli_error("%s: tensor '%s' holds %g at index %zu", path, t->name, v[i], i);
    return 0;
}

/* the input batch and, for --project, the layer and its signal */
static int read_inputs(fwd_state *s, const zf_st_tensor **x, int *proj, const zf_st_tensor **sig) {
    const fwd_args *a = s->a;
    zf_error err;
    if (zf_st_open(a->input, &s->in, &err)) return cli_error("%s", err.msg);
    zf_shape is = zf_net_input_shape(s->net);
    int64_t want[4] = {0, is.c, is.h, is.w};
    if (!(*x = zf_st_need_f32(s->in, "input", 4, want, &err))) return cli_error("%s", err.msg);
    if (need_finite(a->input, *x)) return 1;
    if ((*x)->shape[0] > 1 << 20)
        return cli_error("%s: batch of %lld is too large", a->input, (long long)(*x)->shape[0]);
    s->n = (int)(*x)->shape[0];
    *proj = -1;
    if (!a->project) return 0;
    if ((*proj = zf_net_find_layer(s->net, a->project)) < 0)
        return cli_error("--project: no layer '%s' in %s", a->project, cli_model(s->net));
    int64_t d[4];
    int nd = out_dims(s->net, *proj, s->n, d);
    if (!(*sig = zf_st_need_f32(s->in, "signal", nd, d, &err))) return cli_error("%s", err.msg);
    return need_finite(a->input, *sig);
}

static int run(fwd_state *s) {
    const fwd_args *a = s->a;
    zf_error err;
    zf_net_options no;
    cli_net_defaults(&no, a->threads);
    no.backend = a->backend;
    if (cli_open_net(a->model, &a->ov, &no, &s->net)) return 1;
    if (zf_checkpoint_load(s->net, a->weights, &err)) return cli_error("%s", err.msg);
    const zf_st_tensor *x = NULL, *sig = NULL;
    int proj = -1, nl = zf_net_num_layers(s->net), rc = 1;
    if (read_inputs(s, &x, &proj, &sig)) return 1;
    char *chosen = calloc((size_t)nl, 1);
    int64_t *labels = NULL;
    s->bufs = calloc((size_t)nl + (size_t)zf_net_num_param_tensors(s->net) + 8, sizeof *s->bufs);
    if (!chosen || !s->bufs || zf_st_writer_create(&s->out, NULL))
        cli_error("out of memory");
    else if (!choose_layers(s, chosen) && !(a->grad && read_labels(s, &labels))) {
        if (zf_net_reserve(s->net, s->n, &err) || zf_net_set_input(s->net, x->data, s->n, &err) ||
            zf_net_forward(s->net, ZF_MODE_INFER, -1, &err))
            cli_error("%s", err.msg);
        else if (!write_outputs(s, chosen) && !(a->grad && write_grads(s, labels)) &&
                 !(proj >= 0 && write_projection(s, proj, sig))) {
            zf_st_writer_meta(s->out, "model_name", zf_model_name(zf_net_model(s->net)), NULL);
            zf_st_writer_meta(s->out, "weights", a->weights, NULL);
            rc = zf_st_writer_save(s->out, a->output, &err) ? cli_error("%s", err.msg) : 0;
        }
    }
    free(labels), free(chosen);
    return rc;
}

int cmd_forward(int argc, char **argv) {
    fwd_args a = {.rule = ZF_RULE_DECONVNET};
    const cli_opt own[] = {
        {"model", CLI_STR, &a.model, "M", "preset or model file", .required = 1},
        {"weights", CLI_STR, &a.weights, "W", "its weights (safetensors)", .required = 1},
        {"input", CLI_STR, &a.input, "X", "safetensors file holding 'input'", .required = 1},
        {"output", CLI_STR, &a.output, "Y", "safetensors file to write", .alias = 'o',
         .required = 1},
        {"layers", CLI_STR, &a.layers, "L", "all, or layer names (NAME,NAME,...) to write"},
        {"grad", CLI_FLAG, &a.grad, NULL,
         "also write 'loss' (mean cross-entropy over the batch), 'grad.input'\n"
         "and 'grad.<param>' for every parameter; X must hold 'labels' (I64 or I32, N)"},
        {"project", CLI_STR, &a.project, "LAYER",
         "send X's tensor 'signal' (LAYER's output shape) down to the pixels\n"
         "and write it as 'projection' (N x C x H x W)"},
        {"rule", CLI_CALL, &a.rule, "RULE",
         "deconvnet (default: ReLU rectifies the signal), guided (guided\n"
         "backprop) or gradient (true backprop)",
         .parse = cli_parse_rule, .given = &a.rule_given, .choices = "deconvnet guided gradient"},
        {"lrn", CLI_CALL, &a.lrn, "L",
         "LRN on the way down: identity, gradient, or default (identity for\n"
         "deconvnet, the true gradient for guided and gradient)",
         .parse = cli_parse_lrn, .choices = "default identity gradient"},
        {"lrn-gradient", CLI_FLAG, &a.lrn_gradient, NULL, "the same as --lrn gradient"},
        CLI_THREADS(&a.threads),
        CLI_PRECISION,
        {"backend", CLI_CALL, &a.backend, "B", "dnnl (default) or ref (the plain-C oracle)",
         .parse = cli_parse_backend, .choices = "dnnl ref"},
        {0}};
    int npos, rc = cli_parse_overrides(&forward_cmd, own, &a.ov, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (a.rule_given && !a.project)
        return cli_usage_error("forward", "--rule needs --project LAYER");
    fwd_state s = {.a = &a};
    rc = run(&s);
    for (int i = 0; i < s.nbufs; i++) free(s.bufs[i]);
    free(s.bufs);
    zf_st_writer_free(s.out);
    zf_st_free(s.in);
    zf_net_free(s.net);
    return rc;
}
