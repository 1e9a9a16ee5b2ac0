/* zfnet check: one forward/backward pass on random data, checked against central differences
 * of the loss along random directions (parameters and input). */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *help =
    "usage: zfnet check MODEL [--batch N] [--seed S] [--backend dnnl|ref] [--classes N]\n"
    "                   [--input-size CxHxW]\n\n"
    "Builds MODEL with He-initialised weights and times a forward pass and the backward pass\n"
    "from the loss on a random batch. Then checks each layer on its own: its backward pass\n"
    "(input and parameter gradients of <dy, f(x)> for a random dy) against central\n"
    "differences along a random direction, with ReLU inputs drawn away from 0 and pooling\n"
    "inputs without near-ties. Exits non-zero if any layer disagrees by 2% or more.\n";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double loss_at(zf_net *net, const float *x, const int64_t *labels, int n) {
    double loss = NAN;
    zf_net_set_input(net, x, n, NULL);
    zf_net_set_labels(net, labels, n, NULL);
    zf_net_forward(net, ZF_MODE_INFER, -1, NULL);
    zf_net_loss(net, &loss, NULL);
    return loss;
}

/* gaussian vector with the given scale */
static void randn(float *v, size_t n, double scale, unsigned *state) {
    for (size_t i = 0; i < n; i++) {
        double u1 = (rand_r(state) + 1.0) / ((double)RAND_MAX + 2.0);
        double u2 = (rand_r(state) + 1.0) / ((double)RAND_MAX + 2.0);
        v[i] = (float)(scale * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

/* The model text of layer i alone, with the [net] input set to its input shape. */
static char *layer_text(const zf_net *net, int i) {
    const char *t = zf_model_text(zf_net_model(net));
    const char *sec = t;
    for (int k = -1; k < i; k++) sec = strstr(sec + 1, "\n[");
    const char *end = strstr(sec + 1, "\n[");
    size_t len = end ? (size_t)(end - sec) : strlen(sec);
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    char *out = malloc(len + 256);
    if (out)
        snprintf(out, len + 256, "[net]\nchannels=%d\nheight=%d\nwidth=%d\n%.*s", li.in.c, li.in.h,
                 li.in.w, (int)len, sec);
    return out;
}

/* <dy, f(v)>, f = the one-layer net's output */
static double probe(zf_net *one, const float *in, int n, const float *dy, size_t ny, float *y) {
    zf_net_set_input(one, in, n, NULL);
    zf_net_forward(one, ZF_MODE_INFER, -1, NULL);
    zf_net_read_output(one, 0, y, NULL);
    double s = 0;
    for (size_t i = 0; i < ny; i++) s += (double)dy[i] * y[i];
    return s;
}

/* Layer i on its own: the backward pass against central differences of <dy, f(x)> along a
 * random direction, in the input and (if any) in the parameters. Returns 1 on failure. */
static int check_layer(const zf_net *net, int i, int n, unsigned *state) {
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    char *text = layer_text(net, i);
    zf_model *m = NULL;
    zf_net *one = NULL;
    zf_error err;
    if (!text || zf_model_parse(&m, text, "layer", NULL, &err) ||
        zf_net_create(&one, m, NULL, &err) || zf_net_reserve(one, n, &err)) {
        free(text);
        zf_model_free(m);
        zf_net_free(one);
        return cli_error("layer %s: %s", li.name, err.msg);
    }
    free(text);
    zf_model_free(m);
    zf_init_options io = {.scheme = ZF_INIT_HE, .bias = 0.1, .seed = *state};
    zf_net_init_params(one, &io);
    size_t nx = (size_t)n * li.in.c * li.in.h * li.in.w,
           ny = (size_t)n * li.out.c * li.out.h * li.out.w;
    size_t np = zf_net_num_params(one), big = nx > np ? nx : np;
    float *x = malloc(sizeof(float) * nx), *xs = malloc(sizeof(float) * nx);
    float *dy = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
    float *dx = malloc(sizeof(float) * nx), *v = malloc(sizeof(float) * (big ? big : 1));
    float *p0 = malloc(sizeof(float) * (np ? np : 1)), *gp = malloc(sizeof(float) * (np ? np : 1));
    int bad = 1;
    if (!x || !xs || !dy || !y || !dx || !v || !p0 || !gp) {
        cli_error("out of memory");
        goto done;
    }
    /* inputs drawn away from the kinks: ReLU inputs away from 0, pooling windows without
     * near-ties (each plane a shuffled ramp), and a step too small to cross them */
    double h = 1e-2;
    randn(x, nx, 1.0, state);
    if (li.kind == ZF_LAYER_RELU)
        for (size_t k = 0; k < nx; k++) x[k] += x[k] < 0 ? -0.1f : 0.1f;
    if (li.kind == ZF_LAYER_MAXPOOL) {
        /* a k x k window holds each (row mod k, col mod k) class once: give the k*k classes
         * distinct, well-separated levels (shuffled per plane), so no window has a near-tie */
        int k = li.kernel, levels = k * k;
        double spacing = 4.0 / levels;
        float *lv = malloc(sizeof(float) * (size_t)levels);
        size_t plane = (size_t)li.in.h * li.in.w;
        for (size_t p = 0; lv && p < nx / plane; p++) {
            for (int l = 0; l < levels; l++) lv[l] = (float)(-2.0 + spacing * l);
            for (int l = levels - 1; l > 0; l--) { /* Fisher-Yates */
                int j = rand_r(state) % (l + 1);
                float t = lv[l];
                lv[l] = lv[j], lv[j] = t;
            }
            for (int r = 0; r < li.in.h; r++)
                for (int c = 0; c < li.in.w; c++)
                    x[p * plane + (size_t)r * li.in.w + c] = lv[(r % k) * k + c % k];
        }
        free(lv);
        h = spacing / 40;
    }
    randn(dy, ny, 1.0, state);
    probe(one, x, n, dy, ny, y);
    zf_net_zero_grads(one);
    zf_net_signal_down(one, 0, ZF_RULE_GRADIENT, dy, NULL);
    zf_net_read_input_grad(one, dx, NULL);
    memcpy(gp, zf_net_grads(one), sizeof(float) * np);
    memcpy(p0, zf_net_params(one), sizeof(float) * np);
    double rel[2] = {0, 0};
    for (int what = 0; what < (np ? 2 : 1); what++) {
        size_t cnt = what ? np : nx;
        const float *g = what ? gp : dx, *base = what ? p0 : x;
        float *target = what ? zf_net_params(one) : xs;
        randn(v, cnt, 1.0, state);
        double an = 0, f[2];
        for (size_t k = 0; k < cnt; k++) an += (double)g[k] * v[k];
        for (int side = 0; side < 2; side++) {
            for (size_t k = 0; k < cnt; k++) target[k] = base[k] + (float)(side ? -h : h) * v[k];
            f[side] = probe(one, what ? x : xs, n, dy, ny, y);
        }
        memcpy(zf_net_params(one), p0, sizeof(float) * np);
        double fd = (f[0] - f[1]) / (2 * h);
        rel[what] = fabs(fd - an) / (fabs(an) + 1e-12);
    }
    bad = !(rel[0] < 0.02 && rel[1] < 0.02);
    printf("  %-8s %-8s d/d(input) rel err %.1e", li.name, zf_layer_kind_name(li.kind), rel[0]);
    if (np) printf("   d/d(params) rel err %.1e", rel[1]);
    printf("  %s\n", bad ? "FAILED" : "ok");
done:
    free(x), free(xs), free(dy), free(y), free(dx), free(v), free(p0), free(gp);
    zf_net_free(one);
    return bad;
}

int cmd_check(int argc, char **argv) {
    static const struct option opts[] = {
        {"batch", required_argument, 0, 'b'},   {"seed", required_argument, 0, 'S'},
        {"classes", required_argument, 0, 'c'}, {"input-size", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    zf_model_overrides ov = {0};
    long batch = 2;
    uint64_t seed = 1;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 4096, &batch)) return 2;
            break;
        case 'S':
            if (cli_parse_u64("--seed", optarg, &seed)) return 2;
            break;
        case 'c':
        case 's':
            if (cli_model_option(ch, optarg, &ov)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("check", "bad option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("check", "expected one MODEL");
    zf_error err;
    zf_net *net;
    if (cli_open_net(argv[optind], &ov, NULL, &net)) return 1;
    int n = (int)batch, classes = zf_net_classes(net);
    zf_shape is = zf_net_input_shape(net);
    size_t nin = (size_t)n * is.c * is.h * is.w, np = zf_net_num_params(net);
    float *x = malloc(sizeof(float) * nin), *dx = malloc(sizeof(float) * nin);
    float *gx = malloc(sizeof(float) * nin), *xs = malloc(sizeof(float) * nin);
    float *dp = malloc(sizeof(float) * np);
    float *p0 = malloc(sizeof(float) * np), *gp = malloc(sizeof(float) * np);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    int rc = 1;
    if (!x || !dx || !gx || !xs || !dp || !p0 || !gp || !labels) {
        cli_error("out of memory");
        goto done;
    }
    if (zf_net_reserve(net, n, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    zf_init_options io = {.scheme = ZF_INIT_HE, .seed = seed};
    zf_net_init_params(net, &io);
    unsigned state = (unsigned)seed;
    randn(x, nin, 1.0, &state);
    for (int i = 0; i < n; i++) labels[i] = rand_r(&state) % (classes ? classes : 1);
    double t0 = now();
    double loss = loss_at(net, x, labels, n);
    double t1 = now();
    zf_net_zero_grads(net);
    if (zf_net_backward(net, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    double t2 = now();
    zf_net_read_input_grad(net, gx, NULL);
    memcpy(gp, zf_net_grads(net), sizeof(float) * np);
    memcpy(p0, zf_net_params(net), sizeof(float) * np);
    printf("model %s, batch %d: loss %.6f, forward %.1f ms, backward %.1f ms\n"
           "each layer's backward against central differences (relative error, limit 2%%):\n",
           zf_model_name(zf_net_model(net)), n, loss, 1e3 * (t1 - t0), 1e3 * (t2 - t1));

    int bad = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) bad |= check_layer(net, i, n, &state);
    printf(bad ? "check FAILED\n" : "check passed\n");
    rc = bad;
done:
    free(x), free(dx), free(gx), free(xs), free(dp), free(p0), free(gp), free(labels);
    zf_net_free(net);
    return rc;
}
