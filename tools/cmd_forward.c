/* zfnet forward: run a model on a safetensors batch and write chosen activations, the loss and
 * all gradients, or a projection; how users check zfnet against other frameworks. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *help =
    "usage: zfnet forward --model M --weights W.safetensors --input X.safetensors\n"
    "                     --output Y.safetensors [--layers all|NAME,NAME,...] [--grad]\n"
    "                     [--project LAYER [--rule deconvnet|guided|gradient] [--lrn-gradient]]\n\n"
    "Runs the model in inference mode (dropout is the identity) on the tensor 'input'\n"
    "(F32, N x C x H x W) of X and writes one F32 tensor per chosen layer, named as the layer\n"
    "(default: the last layer).\n\n"
    "  --grad              also write 'loss' (mean cross-entropy over the batch), 'grad.input'\n"
    "                      and 'grad.<param>' for every parameter; X must hold 'labels'\n"
    "                      (I64 or I32, N)\n"
    "  --project LAYER     send X's tensor 'signal' (LAYER's output shape) down to the pixels\n"
    "                      and write it as 'projection' (N x C x H x W)\n"
    "  --rule RULE         deconvnet (default: ReLU rectifies the signal, LRN is identity),\n"
    "                      guided (guided backprop) or gradient (true backprop)\n"
    "  --lrn-gradient      with deconvnet/guided, use LRN's true gradient, not the identity\n"
    "  --classes N, --input-size SIZE   model overrides, as in 'zfnet summary'\n"
    "  --threads T         compute threads (default: OMP_NUM_THREADS or all cores)\n"
    "  --backend B         dnnl (default) or ref (the plain-C oracle)\n";

typedef struct fwd_state {
    zf_net *net;
    zf_st_file *in;
    zf_st_writer *out;
    float **bufs;
    int nbufs;
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

static int run(fwd_state *s, const char *model, const char *weights, const char *input,
               const char *output, const char *layers, int grad, const char *project, zf_rule rule,
               int lrn_gradient, const zf_model_overrides *ov, const zf_net_options *no) {
    zf_error err;
    zf_model *m;
    if (zf_model_load(&m, model, ov, &err)) return cli_error("%s", err.msg);
    zf_status st = zf_net_create(&s->net, m, no, &err);
    zf_model_free(m);
    if (st) return cli_error("%s", err.msg);
    zf_net *net = s->net;
    const char *mname = zf_model_name(zf_net_model(net));
    if (zf_checkpoint_load(net, weights, &err)) return cli_error("%s", err.msg);
    if (zf_st_open(&s->in, input, &err)) return cli_error("%s", err.msg);
    zf_shape is = zf_net_input_shape(net);
    int64_t want[4] = {0, is.c, is.h, is.w};
    int ok;
    const zf_st_tensor *x = cli_need_tensor(s->in, "input", 4, want, &ok);
    if (!ok) return 1;
    int n = (int)x->shape[0];
    if (x->shape[0] > 1 << 20)
        return cli_error("%s: batch of %lld is too large", input, (long long)x->shape[0]);

    /* which layers to write */
    int nl = zf_net_num_layers(net);
    char *chosen = calloc((size_t)nl, 1);
    s->bufs = calloc((size_t)nl + (size_t)zf_net_num_param_tensors(net) + 8, sizeof *s->bufs);
    if (!chosen || !s->bufs) {
        free(chosen);
        return cli_error("out of memory");
    }
    if (!layers)
        chosen[nl - 1] = 1;
    else if (!strcmp(layers, "all"))
        memset(chosen, 1, (size_t)nl);
    else {
        char *list = strdup(layers), *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int i = zf_net_find_layer(net, tok);
            if (i < 0) {
                cli_error("--layers: no layer '%s' in model '%s'", tok, mname);
                free(list), free(chosen);
                return 1;
            }
            chosen[i] = 1;
        }
        free(list);
    }

    int64_t *labels = NULL;
    int proj = -1;
    const zf_st_tensor *sig = NULL;
    if (project) {
        proj = zf_net_find_layer(net, project);
        if (proj < 0) {
            free(chosen);
            return cli_error("--project: no layer '%s' in model '%s'", project, mname);
        }
        int64_t d[4];
        int nd = out_dims(net, proj, n, d);
        sig = cli_need_tensor(s->in, "signal", nd, d, &ok);
        if (!ok) {
            free(chosen);
            return 1;
        }
    }
    if (grad) {
        const zf_st_tensor *lt = zf_st_find(s->in, "labels");
        if (!lt || (lt->dtype != ZF_DTYPE_I64 && lt->dtype != ZF_DTYPE_I32) || lt->ndim != 1 ||
            lt->shape[0] != n) {
            free(chosen);
            return cli_error("%s: --grad needs a tensor 'labels' (I64 or I32) of shape [%d]%s",
                             input, n, lt ? ", found one of another dtype or shape" : "");
        }
        labels = malloc(sizeof *labels * (size_t)n);
        int classes = zf_net_classes(net);
        for (int i = 0; labels && i < n; i++) {
            int64_t v;
            if (lt->dtype == ZF_DTYPE_I64)
                memcpy(&v, (const char *)lt->data + 8 * (size_t)i, 8);
            else {
                int32_t v32;
                memcpy(&v32, (const char *)lt->data + 4 * (size_t)i, 4);
                v = v32;
            }
            if (v < 0 || v >= classes) {
                free(labels), free(chosen);
                return cli_error("%s: labels[%d] = %lld is out of range [0, %d) for model '%s'",
                                 input, i, (long long)v, classes, mname);
            }
            labels[i] = v;
        }
        if (!labels) {
            free(chosen);
            return cli_error("out of memory");
        }
    }

    int rc = 1;
    if (zf_net_reserve(net, n, &err) || zf_net_set_input(net, x->data, n, &err) ||
        zf_net_forward(net, ZF_MODE_INFER, -1, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (!(s->out = zf_st_writer_new())) {
        cli_error("out of memory");
        goto done;
    }
    for (int i = 0; i < nl; i++) {
        if (!chosen[i]) continue;
        int64_t d[4];
        int nd = out_dims(net, i, n, d);
        float *buf = keep(s, (size_t)d[0] * d[1] * d[2] * d[3]);
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        if (!buf) {
            cli_error("out of memory");
            goto done;
        }
        zf_net_read_output(net, i, buf, NULL);
        if (zf_st_writer_add(s->out, li.name, ZF_DTYPE_F32, nd, d, buf, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
    }
    size_t in_count = (size_t)n * is.c * is.h * is.w;
    if (grad) {
        double loss;
        zf_net_zero_grads(net);
        if (zf_net_set_labels(net, labels, n, &err) || zf_net_loss(net, &loss, &err) ||
            zf_net_backward(net, &err)) {
            cli_error("%s: %s", input, err.msg);
            goto done;
        }
        float *lv = keep(s, 1), *gi = keep(s, in_count);
        if (!lv || !gi) {
            cli_error("out of memory");
            goto done;
        }
        *lv = (float)loss;
        zf_net_read_input_grad(net, gi, NULL);
        int64_t d[4] = {n, is.c, is.h, is.w};
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
        fprintf(stderr, "loss %.6f over %d images\n", loss, n);
    }
    if (proj >= 0) {
        zf_net_set_lrn_true_gradient(net, lrn_gradient);
        float *pr = keep(s, in_count);
        if (!pr) {
            cli_error("out of memory");
            goto done;
        }
        if (zf_net_signal_down(net, proj, rule, sig->data, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        zf_net_read_input_grad(net, pr, NULL);
        int64_t d[4] = {n, is.c, is.h, is.w};
        zf_st_writer_add(s->out, "projection", ZF_DTYPE_F32, 4, d, pr, NULL);
    }
    zf_st_writer_meta(s->out, "model_name", mname, NULL);
    zf_st_writer_meta(s->out, "weights", weights, NULL);
    if (zf_st_writer_save(s->out, output, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    rc = 0;
done:
    free(labels);
    free(chosen);
    return rc;
}

int cmd_forward(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"weights", required_argument, 0, 'w'},
                                         {"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"layers", required_argument, 0, 'l'},
                                         {"grad", no_argument, 0, 'g'},
                                         {"project", required_argument, 0, 'p'},
                                         {"rule", required_argument, 0, 'r'},
                                         {"lrn-gradient", no_argument, 0, 'L'},
                                         {"classes", required_argument, 0, 'c'},
                                         {"input-size", required_argument, 0, 's'},
                                         {"threads", required_argument, 0, 't'},
                                         {"backend", required_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *weights = NULL, *input = NULL, *output = NULL, *layers = NULL,
               *project = NULL;
    int grad = 0, lrn_gradient = 0, rule_set = 0;
    long threads = 0, v;
    zf_rule rule = ZF_RULE_DECONVNET;
    zf_model_overrides ov = {0};
    zf_net_options no = {0};
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (ch) {
        case 'B':
            if (cli_parse_backend(optarg, &no.backend)) return 2;
            break;
        case 'm':
            model = optarg;
            break;
        case 'w':
            weights = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'l':
            layers = optarg;
            break;
        case 'g':
            grad = 1;
            break;
        case 'p':
            project = optarg;
            break;
        case 'L':
            lrn_gradient = 1;
            break;
        case 'r':
            rule_set = 1;
            if (!strcmp(optarg, "deconvnet"))
                rule = ZF_RULE_DECONVNET;
            else if (!strcmp(optarg, "guided"))
                rule = ZF_RULE_GUIDED;
            else if (!strcmp(optarg, "gradient"))
                rule = ZF_RULE_GRADIENT;
            else
                return cli_usage_error("forward",
                                       "--rule: '%s' is not deconvnet, guided or gradient", optarg);
            break;
        case 'c':
            if (cli_parse_int("--classes", optarg, 1, 1000000, &v)) return 2;
            ov.classes = (int)v;
            break;
        case 's':
            if (cli_parse_input_size(optarg, &ov)) return 2;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("forward", "bad option");
        }
    }
    if (optind != argc) return cli_usage_error("forward", "unexpected argument '%s'", argv[optind]);
    if (!model || !weights || !input || !output)
        return cli_usage_error("forward", "--model, --weights, --input and --output are required");
    if (rule_set && !project) return cli_usage_error("forward", "--rule needs --project LAYER");
    fwd_state s = {0};
    no.threads = (int)threads;
    int rc =
        run(&s, model, weights, input, output, layers, grad, project, rule, lrn_gradient, &ov, &no);
    for (int i = 0; i < s.nbufs; i++) free(s.bufs[i]);
    free(s.bufs);
    zf_st_writer_free(s.out);
    zf_st_close(s.in);
    zf_net_free(s.net);
    return rc;
}
