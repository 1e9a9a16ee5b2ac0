/* Reference kernels: values derived by hand, central differences in double, the adjoint
 * identity of conv backward-data, and max pooling's switch routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dnnl/bf16.h"
#include "backend/ref/ref.h"
#include "layers/layer.h"

static uint64_t rng_state = 12345;
static double urand(void) { /* [0, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}
static void fill(double *v, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * urand();
}
static double dotd(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Compare arrays; on failure print the worst index, both values and the tolerance. */
static void expect_close(const char *what, const double *got, const double *want, size_t n,
                         double tol) {
    double scale = 0, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (d > worst) worst = d, wi = i;
    }
    double rel = scale > 0 ? worst / scale : worst;
    if (rel > tol) {
        print_error("%s: relative error %.3e > %.1e at index %zu: got %.12g, want %.12g\n", what,
                    rel, tol, wi, got[wi], want[wi]);
        fail();
    }
}

/* ---- hand-derived values ---------------------------------------------------------------- */

static void test_conv_all_ones(void **state) {
    (void)state;
    /* 3 x 13 x 13 ones, 11x11 ones filter, pad 5: interior 363 = 3*11*11, the corner sees a
     * 6x6 patch (3*36 = 108), the middle of the top edge 6x11 (3*66 = 198). */
    conv_desc d = {.n = 1,
                   .c_in = 3,
                   .h = 13,
                   .w = 13,
                   .c_out = 1,
                   .h_out = 13,
                   .w_out = 13,
                   .k = 11,
                   .stride = 1,
                   .pad = 5,
                   .groups = 1,
                   .bias = 1};
    double x[3 * 13 * 13], w[3 * 11 * 11], b[1] = {0.5}, y[13 * 13];
    for (size_t i = 0; i < 3 * 13 * 13; i++) x[i] = 1;
    for (size_t i = 0; i < 3 * 11 * 11; i++) w[i] = 1;
    double *ws = malloc(sizeof(double) * zf_ref_conv_workspace_elems(&d));
    zf_ref_conv_forward_f64(&d, y, x, w, b, ws);
    assert_true(y[6 * 13 + 6] == 363.5);
    assert_true(y[0] == 108.5);
    assert_true(y[6] == 198.5);
    assert_true(y[12 * 13 + 12] == 108.5);
    free(ws);
}

static void test_window_sizes(void **state) {
    (void)state;
    /* ZFNet (SPEC 1): 110 -> 55, 26 -> 13, 13 -> 6 need ceil; floor gives 54 and 12 */
    assert_int_equal(zf_window_out(110, 3, 2, 0, 1), 55);
    assert_int_equal(zf_window_out(110, 3, 2, 0, 0), 54);
    assert_int_equal(zf_window_out(26, 3, 2, 0, 1), 13);
    assert_int_equal(zf_window_out(26, 3, 2, 0, 0), 12);
    assert_int_equal(zf_window_out(13, 3, 2, 0, 1), 6);
    assert_int_equal(zf_window_out(13, 3, 2, 0, 0), 6);
    assert_int_equal(zf_window_out(224, 7, 2, 1, 0), 110); /* conv1 */
    assert_int_equal(zf_window_out(55, 5, 2, 0, 0), 26);   /* conv2 */
    /* the last window must start inside the input or left padding (PyTorch, Caffe):
     * 5 wide, k2 s2 p1: ceil((5+2-2)/2)+1 = 4, but window 3 would start at 6-1 = 5: 3 */
    assert_int_equal(zf_window_out(5, 2, 2, 1, 1), 3);
    assert_int_equal(zf_window_out(2, 3, 1, 0, 0), 0); /* does not fit */
}

static void test_pool_ceil_clipped(void **state) {
    (void)state;
    /* 4x4 ramp 0..15, 3x3 stride 2, ceil: 2x2 out; the last windows are clipped to 2 wide */
    pool_desc d = {.n = 1, .c = 1, .h = 4, .w = 4, .h_out = 2, .w_out = 2, .k = 3, .stride = 2};
    double x[16], y[4];
    int32_t sw[4];
    for (int i = 0; i < 16; i++) x[i] = i;
    zf_ref_pool_forward_f64(&d, y, sw, x);
    double want[4] = {10, 11, 14, 15};
    int32_t want_sw[4] = {10, 11, 14, 15};
    for (int i = 0; i < 4; i++) {
        assert_true(y[i] == want[i]);
        assert_int_equal(sw[i], want_sw[i]);
    }
}

static void test_pool_overlap_adds(void **state) {
    (void)state;
    /* 5x5 with a single peak at the centre: all four overlapping 3x3/2 windows pick it, and
     * on the way down their signals add up at that pixel (ZF 2.1 unpooling) */
    pool_desc d = {.n = 1, .c = 1, .h = 5, .w = 5, .h_out = 2, .w_out = 2, .k = 3, .stride = 2};
    double x[25] = {0}, y[4], dy[4] = {1, 2, 3, 4}, dx[25];
    int32_t sw[4];
    x[12] = 100;
    zf_ref_pool_forward_f64(&d, y, sw, x);
    for (int i = 0; i < 4; i++) assert_int_equal(sw[i], 12);
    zf_ref_pool_backward_f64(&d, dx, dy, sw);
    for (int i = 0; i < 25; i++) assert_true(dx[i] == (i == 12 ? 10.0 : 0.0));
    /* ties: the first maximum in scan order wins, as in PyTorch */
    double t[25];
    for (int i = 0; i < 25; i++) t[i] = 1;
    zf_ref_pool_forward_f64(&d, y, sw, t);
    assert_int_equal(sw[0], 0);
    assert_int_equal(sw[3], 12);
}

static void test_lrn_conventions(void **state) {
    (void)state;
    /* x = (1, 2, 3) over channels, size 3, alpha 0.3, beta 0.5, k 1:
     * per_size (alpha/n = 0.1): scale = 1 + 0.1 * (1+4), 1 + 0.1 * 14, 1 + 0.1 * (4+9)
     * absolute (alpha = 0.3):   scale = 1 + 0.3 * 5,     1 + 0.3 * 14, 1 + 0.3 * 13 */
    double x[3] = {1, 2, 3}, y[3], s[3];
    lrn_desc d = {.n = 1, .c = 3, .h = 1, .w = 1, .size = 3, .alpha = 0.3 / 3, .beta = 0.5, .k = 1};
    zf_ref_lrn_forward_f64(&d, y, s, x);
    double want[3] = {1 / sqrt(1.5), 2 / sqrt(2.4), 3 / sqrt(2.3)};
    expect_close("lrn alpha/n", y, want, 3, 1e-15);
    d.alpha = 0.3;
    zf_ref_lrn_forward_f64(&d, y, s, x);
    double want2[3] = {1 / sqrt(2.5), 2 / sqrt(5.2), 3 / sqrt(4.9)};
    expect_close("lrn alpha", y, want2, 3, 1e-15);
    /* even size 2: the window is [c-1, c] (PyTorch pads size/2 before, (size-1)/2 after) */
    d.size = 2, d.alpha = 1;
    zf_ref_lrn_forward_f64(&d, y, s, x);
    double want3[3] = {1 / sqrt(2), 2 / sqrt(6), 3 / sqrt(14)};
    expect_close("lrn size 2", y, want3, 3, 1e-15);
}

/* The three signal rules as the ReLU layer composes them from the backend's rectifier and
 * mask (ZF §2.1), in place (dx = dy) as well. */
static void test_relu_rules(void **state) {
    (void)state;
    float y[4] = {0, 2, 0, 3}; /* forward outputs: mask (0, 1, 0, 1) */
    float dy[4] = {5, -1, -2, 4};
    const float want[3][4] = {
        {0, -1, 0, 4}, /* gradient: the forward mask */
        {5, 0, 0, 4},  /* deconvnet: the signal is rectified, the forward mask ignored */
        {0, 0, 0, 4},  /* guided: both */
    };
    const zf_rule rules[3] = {ZF_RULE_GRADIENT, ZF_RULE_DECONVNET, ZF_RULE_GUIDED};
    layer l = {.out = {4, 1, 1}, .y = y};
    layer_ctx c = {.be = zf_backend_ref(), .n = 1};
    for (int r = 0; r < 3; r++) {
        float dx[4], inplace[4];
        memcpy(inplace, dy, sizeof dy);
        zf_relu_ops.backward(&l, &c, rules[r], dx, dy, NULL);
        zf_relu_ops.backward(&l, &c, rules[r], inplace, inplace, NULL);
        for (int i = 0; i < 4; i++) {
            if (dx[i] != want[r][i] || inplace[i] != want[r][i])
                fail_msg("%s: element %d: %g (in place %g), expected %g", zf_rule_name(rules[r]), i,
                         dx[i], inplace[i], want[r][i]);
        }
    }
}

/* ---- central differences in double ------------------------------------------------------- */

typedef struct conv_case {
    int n, c_in, h, w, c_out, k, stride, pad, groups;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 3, 9, 9, 4, 3, 1, 1, 1}, {1, 4, 11, 10, 6, 5, 2, 0, 2}, {2, 2, 8, 8, 3, 7, 2, 1, 1},
    {1, 6, 7, 7, 6, 3, 2, 2, 3}, {2, 3, 12, 12, 4, 4, 3, 1, 1},
};

static void conv_fill_desc(conv_desc *d, const conv_case *c) {
    *d = (conv_desc){.n = c->n,
                     .c_in = c->c_in,
                     .h = c->h,
                     .w = c->w,
                     .c_out = c->c_out,
                     .k = c->k,
                     .stride = c->stride,
                     .pad = c->pad,
                     .groups = c->groups,
                     .bias = 1};
    d->h_out = zf_window_out(c->h, c->k, c->stride, c->pad, 0);
    d->w_out = zf_window_out(c->w, c->k, c->stride, c->pad, 0);
}

/* L = <dy, conv(x; w, b)> */
static double conv_loss(const conv_desc *d, const double *x, const double *w, const double *b,
                        const double *dy, double *y, double *ws) {
    zf_ref_conv_forward_f64(d, y, x, w, b, ws);
    return dotd(y, dy, (size_t)d->n * d->c_out * d->h_out * d->w_out);
}

static void fd_check(const char *what, double *v, size_t n, const double *analytic,
                     double (*loss)(void *), void *ctx) {
    double *num = malloc(sizeof(double) * n);
    const double h = 1e-5;
    for (size_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + h;
        double lp = loss(ctx);
        v[i] = keep - h;
        double lm = loss(ctx);
        v[i] = keep;
        num[i] = (lp - lm) / (2 * h);
    }
    expect_close(what, analytic, num, n, 1e-7);
    free(num);
}

typedef struct conv_ctx {
    conv_desc d;
    double *x, *w, *b, *dy, *y, *ws;
} conv_ctx;

static double conv_ctx_loss(void *p) {
    conv_ctx *c = p;
    return conv_loss(&c->d, c->x, c->w, c->b, c->dy, c->y, c->ws);
}

static void test_conv_gradients(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
        conv_ctx c;
        conv_fill_desc(&c.d, &conv_cases[t]);
        const conv_desc *d = &c.d;
        size_t nx = (size_t)d->n * d->c_in * d->h * d->w;
        size_t nw = (size_t)d->c_out * (d->c_in / d->groups) * d->k * d->k;
        size_t ny = (size_t)d->n * d->c_out * d->h_out * d->w_out;
        c.x = malloc(sizeof(double) * nx), c.w = malloc(sizeof(double) * nw);
        c.b = malloc(sizeof(double) * d->c_out), c.dy = malloc(sizeof(double) * ny);
        c.y = malloc(sizeof(double) * ny);
        c.ws = malloc(sizeof(double) * zf_ref_conv_workspace_elems(d));
        double *dx = malloc(sizeof(double) * nx), *dw = calloc(nw, sizeof(double));
        double *db = calloc((size_t)d->c_out, sizeof(double));
        fill(c.x, nx, -1, 1), fill(c.w, nw, -1, 1), fill(c.b, (size_t)d->c_out, -1, 1);
        fill(c.dy, ny, -1, 1);
        zf_ref_conv_backward_data_f64(d, dx, c.dy, c.w, c.ws);
        zf_ref_conv_backward_weights_f64(d, dw, db, c.dy, c.x, c.ws);
        char what[64];
        snprintf(what, sizeof what, "conv case %zu dx", t);
        fd_check(what, c.x, nx, dx, conv_ctx_loss, &c);
        snprintf(what, sizeof what, "conv case %zu dw", t);
        fd_check(what, c.w, nw, dw, conv_ctx_loss, &c);
        snprintf(what, sizeof what, "conv case %zu db", t);
        fd_check(what, c.b, (size_t)d->c_out, db, conv_ctx_loss, &c);

        /* adjoint: <conv(x), y> = <x, conv^T(y)> with no bias (the DeconvNet filter step) */
        zf_ref_conv_forward_f64(d, c.y, c.x, c.w, NULL, c.ws);
        double lhs = dotd(c.y, c.dy, ny), rhs = dotd(c.x, dx, nx);
        if (fabs(lhs - rhs) > 1e-12 * fmax(1, fabs(lhs))) {
            print_error("adjoint case %zu: <conv x, y> = %.17g but <x, conv^T y> = %.17g\n", t, lhs,
                        rhs);
            fail();
        }
        free(c.x), free(c.w), free(c.b), free(c.dy), free(c.y), free(c.ws);
        free(dx), free(dw), free(db);
    }
}

typedef struct pool_ctx {
    pool_desc d;
    double *x, *dy, *y;
    int32_t *sw;
} pool_ctx;

static double pool_ctx_loss(void *p) {
    pool_ctx *c = p;
    zf_ref_pool_forward_f64(&c->d, c->y, c->sw, c->x);
    return dotd(c->y, c->dy, (size_t)c->d.n * c->d.c * c->d.h_out * c->d.w_out);
}

static void test_pool_gradients(void **state) {
    (void)state;
    int cfg[][5] = {
        {9, 3, 2, 0, 1}, {9, 3, 2, 0, 0}, {10, 3, 2, 0, 1}, {8, 2, 2, 1, 1}, {7, 3, 1, 1, 0}};
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        pool_ctx c;
        int hw = cfg[t][0];
        c.d = (pool_desc){.n = 2,
                          .c = 3,
                          .h = hw,
                          .w = hw,
                          .k = cfg[t][1],
                          .stride = cfg[t][2],
                          .pad = cfg[t][3]};
        c.d.h_out = c.d.w_out = zf_window_out(hw, c.d.k, c.d.stride, c.d.pad, cfg[t][4]);
        size_t nx = (size_t)2 * 3 * hw * hw, ny = (size_t)2 * 3 * c.d.h_out * c.d.w_out;
        c.x = malloc(sizeof(double) * nx), c.dy = malloc(sizeof(double) * ny);
        c.y = malloc(sizeof(double) * ny), c.sw = malloc(sizeof(int32_t) * ny);
        double *dx = malloc(sizeof(double) * nx);
        /* distinct values (a shuffled ramp): no ties within h of each other */
        for (size_t i = 0; i < nx; i++) c.x[i] = (double)i / (double)nx;
        for (size_t i = nx - 1; i > 0; i--) {
            size_t j = (size_t)(urand() * (double)(i + 1));
            double tmp = c.x[i];
            c.x[i] = c.x[j], c.x[j] = tmp;
        }
        fill(c.dy, ny, -1, 1);
        zf_ref_pool_forward_f64(&c.d, c.y, c.sw, c.x);
        zf_ref_pool_backward_f64(&c.d, dx, c.dy, c.sw);
        char what[64];
        snprintf(what, sizeof what, "maxpool case %zu dx", t);
        fd_check(what, c.x, nx, dx, pool_ctx_loss, &c);
        free(c.x), free(c.dy), free(c.y), free(c.sw), free(dx);
    }
}

typedef struct lrn_ctx {
    lrn_desc d;
    double *x, *dy, *y, *s;
} lrn_ctx;

static double lrn_ctx_loss(void *p) {
    lrn_ctx *c = p;
    zf_ref_lrn_forward_f64(&c->d, c->y, c->s, c->x);
    return dotd(c->y, c->dy, (size_t)c->d.n * c->d.c * c->d.h * c->d.w);
}

static void test_lrn_gradients(void **state) {
    (void)state;
    /* sizes 5 and 2 (asymmetric window); large alpha so the normalisation matters */
    int sizes[] = {5, 2, 3};
    double alphas[] = {0.5, 0.2, 1e-4}, ks[] = {2, 1, 2};
    for (int t = 0; t < 3; t++) {
        lrn_ctx c;
        c.d = (lrn_desc){.n = 2,
                         .c = 7,
                         .h = 3,
                         .w = 4,
                         .size = sizes[t],
                         .alpha = alphas[t],
                         .beta = 0.75,
                         .k = ks[t]};
        size_t n = (size_t)2 * 7 * 3 * 4;
        c.x = malloc(sizeof(double) * n), c.dy = malloc(sizeof(double) * n);
        c.y = malloc(sizeof(double) * n), c.s = malloc(sizeof(double) * n);
        double *dx = malloc(sizeof(double) * n);
        fill(c.x, n, -3, 3), fill(c.dy, n, -1, 1);
        zf_ref_lrn_forward_f64(&c.d, c.y, c.s, c.x);
        zf_ref_lrn_backward_f64(&c.d, dx, c.dy, c.x, c.s);
        char what[64];
        snprintf(what, sizeof what, "lrn size %d dx", sizes[t]);
        fd_check(what, c.x, n, dx, lrn_ctx_loss, &c);
        free(c.x), free(c.dy), free(c.y), free(c.s), free(dx);
    }
}

typedef struct fc_ctx {
    fc_desc d;
    double *x, *w, *b, *dy, *y;
} fc_ctx;

static double fc_ctx_loss(void *p) {
    fc_ctx *c = p;
    zf_ref_fc_forward_f64(&c->d, c->y, c->x, c->w, c->b);
    return dotd(c->y, c->dy, (size_t)c->d.n * c->d.out);
}

static void test_fc_gradients(void **state) {
    (void)state;
    fc_ctx c = {.d = {.n = 3, .in = 37, .out = 11, .bias = 1}};
    size_t nx = 3 * 37, nw = 11 * 37, ny = 3 * 11;
    c.x = malloc(sizeof(double) * nx), c.w = malloc(sizeof(double) * nw);
    c.b = malloc(sizeof(double) * 11), c.dy = malloc(sizeof(double) * ny);
    c.y = malloc(sizeof(double) * ny);
    double *dx = malloc(sizeof(double) * nx), *dw = calloc(nw, sizeof(double));
    double *db = calloc(11, sizeof(double));
    fill(c.x, nx, -1, 1), fill(c.w, nw, -1, 1), fill(c.b, 11, -1, 1), fill(c.dy, ny, -1, 1);
    zf_ref_fc_backward_data_f64(&c.d, dx, c.dy, c.w);
    zf_ref_fc_backward_weights_f64(&c.d, dw, db, c.dy, c.x);
    fd_check("fc dx", c.x, nx, dx, fc_ctx_loss, &c);
    fd_check("fc dw", c.w, nw, dw, fc_ctx_loss, &c);
    fd_check("fc db", c.b, 11, db, fc_ctx_loss, &c);
    free(c.x), free(c.w), free(c.b), free(c.dy), free(c.y), free(dx), free(dw), free(db);
}

typedef struct sm_ctx {
    int n, k;
    double *x, *dy, *p;
} sm_ctx;

static double sm_ctx_loss(void *q) {
    sm_ctx *c = q;
    zf_ref_softmax_forward_f64(c->n, c->k, c->p, c->x);
    return dotd(c->p, c->dy, (size_t)c->n * c->k);
}

static void test_softmax_gradients(void **state) {
    (void)state;
    sm_ctx c = {.n = 3, .k = 6};
    size_t n = 18;
    c.x = malloc(sizeof(double) * n), c.dy = malloc(sizeof(double) * n);
    c.p = malloc(sizeof(double) * n);
    double *dx = malloc(sizeof(double) * n);
    fill(c.x, n, -4, 4), fill(c.dy, n, -1, 1);
    zf_ref_softmax_forward_f64(c.n, c.k, c.p, c.x);
    for (int i = 0; i < c.n; i++) {
        double s = 0;
        for (int j = 0; j < c.k; j++) s += c.p[i * c.k + j];
        assert_true(fabs(s - 1) < 1e-14);
    }
    zf_ref_softmax_backward_f64(c.n, c.k, dx, c.dy, c.p);
    fd_check("softmax dx", c.x, n, dx, sm_ctx_loss, &c);
    free(c.x), free(c.dy), free(c.p), free(dx);
}

/* the float kernels (the backend) agree with the double ones */
static void test_float_matches_double(void **state) {
    (void)state;
    conv_desc d;
    conv_fill_desc(&d, &conv_cases[1]);
    size_t nx = (size_t)d.n * d.c_in * d.h * d.w;
    size_t nw = (size_t)d.c_out * (d.c_in / d.groups) * d.k * d.k;
    size_t ny = (size_t)d.n * d.c_out * d.h_out * d.w_out;
    double *x = malloc(sizeof(double) * nx), *w = malloc(sizeof(double) * nw);
    double *y = malloc(sizeof(double) * ny), *yf64 = malloc(sizeof(double) * ny);
    float *xf = malloc(sizeof(float) * nx), *wf = malloc(sizeof(float) * nw);
    float *yf = malloc(sizeof(float) * ny);
    double *ws = malloc(sizeof(double) * zf_ref_conv_workspace_elems(&d));
    fill(x, nx, -1, 1), fill(w, nw, -1, 1);
    for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i], x[i] = xf[i];
    for (size_t i = 0; i < nw; i++) wf[i] = (float)w[i], w[i] = wf[i];
    zf_ref_conv_forward_f64(&d, y, x, w, NULL, ws);
    zf_ref_conv_forward_f32(&d, yf, xf, wf, NULL, ws);
    for (size_t i = 0; i < ny; i++) yf64[i] = yf[i];
    expect_close("conv float vs double", yf64, y, ny, 1e-6);
    free(x), free(w), free(y), free(yf64), free(xf), free(wf), free(yf), free(ws);
}

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* float -> bfloat16 rounds to nearest, ties to even, on hand-picked bit patterns; NaN stays a
 * (quiet) NaN even when only its low bits are set; the backend's layout conversion agrees. */
static void test_bf16_rounding(void **state) {
    (void)state;
    static const uint32_t cases[][2] = {
        {0x3f800000, 0x3f80}, /* 1 */
        {0x3f807fff, 0x3f80}, /* just below half an ulp: down */
        {0x3f808000, 0x3f80}, /* a tie, 0x3f80 even: down */
        {0x3f808001, 0x3f81}, /* just above: up */
        {0x3f818000, 0x3f82}, /* a tie, 0x3f81 odd: up to even */
        {0xbfc00000, 0xbfc0}, /* -1.5 */
        {0xbf818000, 0xbf82}, /* a negative tie */
        {0x7f7f7fff, 0x7f7f}, /* the largest finite bf16 */
        {0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to infinity */
        {0x7f800000, 0x7f80}, /* inf */
        {0xff800000, 0xff80}, /* -inf */
        {0x7fc00000, 0x7fc0}, /* quiet NaN */
        {0x7f800001, 0x7fc0}, /* NaN with a low payload: not rounded to inf */
        {0xffc00001, 0xffc0}, /* negative NaN */
        {0x00000000, 0x0000}, /* 0 */
        {0x80000000, 0x8000}, /* -0 */
        {0x00008000, 0x0000}, /* subnormal tie, even: down */
        {0x00018000, 0x0002}, /* subnormal tie, odd: up */
        {0x00400000, 0x0040}, /* a subnormal bf16 holds exactly */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = zf_bf16_from_f32(float_of(cases[i][0]));
        if (got != cases[i][1])
            fail_msg("bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i][0], got, cases[i][1]);
        uint32_t back = bits_of(zf_f32_from_bf16(got));
        assert_int_equal(back, (uint32_t)got << 16);
    }
    if (!zf_cpu_has_bf16(NULL, 0)) {
        print_message("bf16 layout conversion: skipped (no AVX512-BF16 here)\n");
        return;
    }
    enum { N = 4096 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    uint16_t *b = malloc(sizeof(uint16_t) * N);
    for (int i = 0; i < N; i++) /* ties, their neighbours, NaNs, infinities, random floats */
        x[i] = float_of(i % 4 == 0   ? (uint32_t)(urand() * 4294967296.0) | 0x8000u
                        : i % 4 == 1 ? (uint32_t)(urand() * 4294967296.0) & ~0xffffu
                        : i % 4 == 2 ? cases[i / 4 % 19][0]
                                     : (uint32_t)(urand() * 4294967296.0));
    zf_bf16_from_nchw(b, x, 1, N / 64, 8, 8, 0);
    for (int i = 0; i < N; i++)
        if (b[i] != zf_bf16_from_f32(x[i]))
            fail_msg("layout conversion of 0x%08x: 0x%04x, want 0x%04x", bits_of(x[i]), b[i],
                     zf_bf16_from_f32(x[i]));
    zf_bf16_to_nchw(y, b, 1, N / 64, 8, 8, 0);
    for (int i = 0; i < N; i++) assert_int_equal(bits_of(y[i]), (uint32_t)b[i] << 16);
    free(x), free(y), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_rounding),        cmocka_unit_test(test_conv_all_ones),
        cmocka_unit_test(test_window_sizes),         cmocka_unit_test(test_pool_ceil_clipped),
        cmocka_unit_test(test_pool_overlap_adds),    cmocka_unit_test(test_lrn_conventions),
        cmocka_unit_test(test_relu_rules),           cmocka_unit_test(test_conv_gradients),
        cmocka_unit_test(test_pool_gradients),       cmocka_unit_test(test_lrn_gradients),
        cmocka_unit_test(test_fc_gradients),         cmocka_unit_test(test_softmax_gradients),
        cmocka_unit_test(test_float_matches_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
