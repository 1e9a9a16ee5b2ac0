/* Gradient checks: one forward/backward pass of a whole net on random data (loss and times),
 * and each layer built alone, its backward pass against central differences of <dy, f(x)>
 * along random directions (the input and the parameters). A whole-net float difference is
 * dominated by ReLU and max-pool kinks; one layer with inputs drawn away from them is not. */
#include "analysis.h"

#include <math.h>
#include <string.h>

/* gaussian vector with the given scale */
static void randn(float *v, size_t n, double scale, unsigned *state) {
    for (size_t i = 0; i < n; i++) {
        double u1 = (rand_r(state) + 1.0) / ((double)RAND_MAX + 2.0);
        double u2 = (rand_r(state) + 1.0) / ((double)RAND_MAX + 2.0);
        v[i] = (float)(scale * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

zf_status zf_check_net(zf_net *net, int n, uint64_t seed, unsigned *state, double *loss,
                       double *forward_ms, double *backward_ms, zf_error *err) {
    int classes = zf_net_classes(net);
    zf_shape is = zf_net_input_shape(net);
    size_t nin = (size_t)n * is.c * is.h * is.w;
    float *x = malloc(sizeof(float) * nin);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    zf_status st = x && labels ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_net_reserve(net, n, err);
    if (!st) {
        zf_init_options io;
        zf_init_defaults(&io);
        io.scheme = ZF_INIT_HE;
        io.seed = seed;
        zf_net_init_params(net, &io);
        randn(x, nin, 1.0, state);
        for (int i = 0; i < n; i++) labels[i] = rand_r(state) % (classes ? classes : 1);
        *loss = NAN;
        double t0 = zf_now();
        if (!(st = zf_net_set_input(net, x, n, err)) &&
            !(st = zf_net_set_labels(net, labels, n, err)) &&
            !(st = zf_net_forward(net, ZF_MODE_INFER, -1, err)))
            st = zf_net_loss(net, loss, err);
        double t1 = zf_now();
        zf_net_zero_grads(net);
        if (!st) st = zf_net_backward(net, err);
        *forward_ms = 1e3 * (t1 - t0), *backward_ms = 1e3 * (zf_now() - t1);
    }
    free(x), free(labels);
    return st;
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

static zf_status one_layer_net(const zf_net *net, int i, int n, zf_net **one, zf_error *err) {
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    char *text = layer_text(net, i);
    zf_model *m = NULL;
    zf_error e = {0};
    *one = NULL;
    zf_status st = text ? ZF_OK : zf_fail(&e, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_model_parse(text, "layer", NULL, &m, &e);
    if (!st) st = zf_net_create(m, NULL, one, &e);
    if (!st) st = zf_net_reserve(*one, n, &e);
    free(text);
    zf_model_free(m);
    if (st) {
        zf_net_free(*one);
        *one = NULL;
        return zf_fail(err, st, "layer %s: %s", li.name, e.msg);
    }
    return ZF_OK;
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

/* Inputs drawn away from the kinks: ReLU inputs away from 0; for pooling, a k x k window holds
 * each (row mod k, col mod k) class once, so the k*k classes get distinct, well-separated
 * levels (shuffled per plane) and no window has a near-tie. Returns the step to use, too small
 * to cross them. */
static double draw_input(const zf_layer_info *li, float *x, size_t nx, unsigned *state) {
    randn(x, nx, 1.0, state);
    if (li->kind == ZF_LAYER_RELU)
        for (size_t k = 0; k < nx; k++) x[k] += x[k] < 0 ? -0.1f : 0.1f;
    if (li->kind != ZF_LAYER_MAXPOOL) return 1e-2;
    int k = li->kernel, levels = k * k;
    double spacing = 4.0 / levels;
    float *lv = malloc(sizeof(float) * (size_t)levels);
    size_t plane = (size_t)li->in.h * li->in.w;
    for (size_t p = 0; lv && p < nx / plane; p++) {
        for (int l = 0; l < levels; l++) lv[l] = (float)(-2.0 + spacing * l);
        for (int l = levels - 1; l > 0; l--) { /* Fisher-Yates */
            int j = rand_r(state) % (l + 1);
            float t = lv[l];
            lv[l] = lv[j], lv[j] = t;
        }
        for (int r = 0; r < li->in.h; r++)
            for (int c = 0; c < li->in.w; c++)
                x[p * plane + (size_t)r * li->in.w + c] = lv[(r % k) * k + c % k];
    }
    free(lv);
    return spacing / 40;
}

typedef struct fd_bufs {
    float *x, *xs, *dy, *y, *dx, *v, *p0, *gp;
    size_t nx, ny, np;
} fd_bufs;

/* the analytic directional derivative against central differences: input (what 0) or
 * parameters (what 1) */
static double compare(zf_net *one, fd_bufs *b, int n, int what, double h, unsigned *state) {
    size_t cnt = what ? b->np : b->nx;
    const float *g = what ? b->gp : b->dx, *base = what ? b->p0 : b->x;
    float *target = what ? zf_net_params(one) : b->xs;
    randn(b->v, cnt, 1.0, state);
    double an = 0, f[2];
    for (size_t k = 0; k < cnt; k++) an += (double)g[k] * b->v[k];
    for (int side = 0; side < 2; side++) {
        for (size_t k = 0; k < cnt; k++) target[k] = base[k] + (float)(side ? -h : h) * b->v[k];
        f[side] = probe(one, what ? b->x : b->xs, n, b->dy, b->ny, b->y);
    }
    memcpy(zf_net_params(one), b->p0, sizeof(float) * b->np);
    double fd = (f[0] - f[1]) / (2 * h);
    return fabs(fd - an) / (fabs(an) + 1e-12);
}

zf_status zf_check_layer(const zf_net *net, int i, int n, unsigned *state, double rel[2],
                         zf_error *err) {
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    zf_net *one;
    zf_status st = one_layer_net(net, i, n, &one, err);
    if (st) return st;
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = ZF_INIT_HE;
    io.bias = 0.1;
    io.seed = *state;
    zf_net_init_params(one, &io);
    fd_bufs b = {.nx = (size_t)n * li.in.c * li.in.h * li.in.w,
                 .ny = (size_t)n * li.out.c * li.out.h * li.out.w,
                 .np = zf_net_num_params(one)};
    size_t big = b.nx > b.np ? b.nx : b.np, np1 = b.np ? b.np : 1;
    b.x = malloc(sizeof(float) * b.nx), b.xs = malloc(sizeof(float) * b.nx);
    b.dy = malloc(sizeof(float) * b.ny), b.y = malloc(sizeof(float) * b.ny);
    b.dx = malloc(sizeof(float) * b.nx), b.v = malloc(sizeof(float) * (big ? big : 1));
    b.p0 = malloc(sizeof(float) * np1), b.gp = malloc(sizeof(float) * np1);
    rel[0] = rel[1] = 0;
    if (!b.x || !b.xs || !b.dy || !b.y || !b.dx || !b.v || !b.p0 || !b.gp)
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        double h = draw_input(&li, b.x, b.nx, state);
        randn(b.dy, b.ny, 1.0, state);
        probe(one, b.x, n, b.dy, b.ny, b.y);
        zf_net_zero_grads(one);
        zf_net_signal_down(one, 0, ZF_RULE_GRADIENT, ZF_LRN_DEFAULT, b.dy, NULL);
        zf_net_read_input_grad(one, b.dx, NULL);
        memcpy(b.gp, zf_net_grads(one), sizeof(float) * b.np);
        memcpy(b.p0, zf_net_params(one), sizeof(float) * b.np);
        for (int what = 0; what < (b.np ? 2 : 1); what++)
            rel[what] = compare(one, &b, n, what, h, state);
    }
    free(b.x), free(b.xs), free(b.dy), free(b.y), free(b.dx), free(b.v), free(b.p0), free(b.gp);
    zf_net_free(one);
    return st;
}
