/* Correspondence (ZF section 4.1, Fig. 8, Table 1): the same part masked in several images of
 * one kind. If the net relates the parts implicitly, masking them changes each image's
 * features the same way: eps_i = f(x_i) - f(masked x_i) agree in sign across images, and
 * Delta (the mean Hamming distance between the signs) is lower than for random masks. */
#include "analysis.h"

#include <math.h>
#include <string.h>

static zf_status check(const zf_net *net, const float *x, int n, const zf_rect *rects, int nl,
                       const int *layers, zf_error *err) {
    zf_shape in = zf_net_input_shape(net);
    if (n < 2 || !x) return zf_fail(err, ZF_ERR_ARG, "correspondence: %d images (at least 2)", n);
    if (nl < 1) return zf_fail(err, ZF_ERR_ARG, "correspondence: no layers chosen");
    for (int k = 0; k < nl; k++)
        if (layers[k] < 0 || layers[k] >= zf_net_num_layers(net))
            return zf_fail(err, ZF_ERR_ARG, "correspondence: no layer %d", layers[k]);
    for (int i = 0; rects && i < n; i++) {
        const zf_rect *r = &rects[i];
        if (r->x0 < 0 || r->y0 < 0 || r->x1 > in.w || r->y1 > in.h || r->x0 >= r->x1 ||
            r->y0 >= r->y1)
            return zf_fail(err, ZF_ERR_RANGE,
                           "correspondence: image %d's rectangle %d,%d,%d,%d is not inside the "
                           "%dx%d input (x0 < x1 <= %d, y0 < y1 <= %d)",
                           i, r->x0, r->y0, r->x1, r->y1, in.w, in.h, in.w, in.h);
    }
    return ZF_OK;
}

static int sgn(float v) {
    return (v > 0) - (v < 0);
}

/* Delta of one layer: eps (n, f) */
static double delta_of(const float *f0, const float *f1, int n, size_t f, signed char *sg) {
    for (size_t i = 0; i < (size_t)n * f; i++) sg[i] = (signed char)sgn(f0[i] - f1[i]);
    double h = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const signed char *a = sg + f * i, *b = sg + f * j;
            size_t d = 0;
            for (size_t k = 0; k < f; k++) d += a[k] != b[k];
            h += 2.0 * (double)d; /* (i, j) and (j, i) */
        }
    return h / ((double)n * (n - 1) * (double)f);
}

/* x (n) and the masked copies after them: their features, then Delta per layer */
static zf_status deltas(zf_net *net, const float *xx, int n, const int *layers, int nl,
                        double *delta, zf_error *err) {
    float **feat = calloc((size_t)nl, sizeof(float *));
    size_t *fs = malloc(sizeof(size_t) * nl), most = 0;
    zf_status st = feat && fs ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < nl; k++) {
        zf_layer_info li;
        zf_net_layer_info(net, zf_after_relu(net, layers[k]), &li);
        fs[k] = (size_t)li.out.c * li.out.h * li.out.w;
        most = fs[k] > most ? fs[k] : most;
        if (!(feat[k] = malloc(sizeof(float) * fs[k] * 2 * n)))
            st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    signed char *sg = st ? NULL : malloc(most * n);
    if (!st && !sg) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    /* the originals and the masked copies in batches of the same sizes: features the mask
     * cannot reach come out bit-identical (sign 0) */
    float **masked = st ? NULL : calloc((size_t)nl, sizeof(float *));
    if (!st && !masked) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < nl; k++) masked[k] = feat[k] + fs[k] * n;
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    if (!st) st = zf_features(net, xx, n, layers, nl, 32, feat, err);
    if (!st) st = zf_features(net, xx + per * n, n, layers, nl, 32, masked, err);
    free(masked);
    for (int k = 0; !st && k < nl; k++)
        delta[k] = delta_of(feat[k], feat[k] + fs[k] * n, n, fs[k], sg);
    for (int k = 0; feat && k < nl; k++) free(feat[k]);
    free(feat), free(fs), free(sg);
    return st;
}

/* xx (2n, in): the images, then each masked by its rectangle */
static void mask_all(zf_shape in, const float *x, int n, const zf_rect *rects, const float *fill,
                     float *xx) {
    size_t per = (size_t)in.c * in.h * in.w, plane = (size_t)in.h * in.w;
    memcpy(xx, x, sizeof(float) * per * n);
    memcpy(xx + per * n, x, sizeof(float) * per * n);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < in.c; c++)
            for (int y = rects[i].y0; y < rects[i].y1; y++)
                for (int q = rects[i].x0; q < rects[i].x1; q++) {
                    size_t o = c * plane + (size_t)y * in.w + q;
                    xx[per * (n + i) + o] = fill ? fill[o] : 0;
                }
}

zf_status zf_correspondence(zf_net *net, const float *x, int n, const zf_rect *rects,
                            const float *fill, const int *layers, int nl, double *delta,
                            zf_error *err) {
    zf_status st = check(net, x, n, rects, nl, layers, err);
    if (st) return st;
    if (!rects) return zf_fail(err, ZF_ERR_ARG, "correspondence: no rectangles");
    zf_shape in = zf_net_input_shape(net);
    float *xx = malloc(sizeof(float) * in.c * in.h * in.w * 2 * (size_t)n);
    if (!xx) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    mask_all(in, x, n, rects, fill, xx);
    st = deltas(net, xx, n, layers, nl, delta, err);
    free(xx);
    return st;
}

zf_status zf_correspondence_random(zf_net *net, const float *x, int n, int w, int h,
                                   const float *fill, const int *layers, int nl, int repeats,
                                   uint64_t seed, double *mean, double *std, zf_error *err) {
    zf_shape in = zf_net_input_shape(net);
    zf_status st = check(net, x, n, NULL, nl, layers, err);
    if (!st && (w < 1 || h < 1 || w > in.w || h > in.h || repeats < 1))
        st = zf_fail(err, ZF_ERR_RANGE,
                     "correspondence: random %dx%d masks, %d repeats (the input is %dx%d)", w, h,
                     repeats, in.w, in.h);
    if (st) return st;
    zf_rect *r = malloc(sizeof *r * n);
    double *d = malloc(sizeof(double) * nl * repeats);
    if (!r || !d) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    uint64_t state = seed;
    for (int t = 0; !st && t < repeats; t++) {
        for (int i = 0; i < n; i++) {
            int y = (int)(zf_splitmix64(&state) % (uint64_t)(in.h - h + 1));
            int q = (int)(zf_splitmix64(&state) % (uint64_t)(in.w - w + 1));
            r[i] = (zf_rect){q, y, q + w, y + h};
        }
        st = zf_correspondence(net, x, n, r, fill, layers, nl, d + (size_t)nl * t, err);
    }
    for (int k = 0; !st && k < nl; k++) {
        double m = 0, v = 0;
        for (int t = 0; t < repeats; t++) m += d[(size_t)nl * t + k] / repeats;
        for (int t = 0; t < repeats; t++) v += pow(d[(size_t)nl * t + k] - m, 2);
        mean[k] = m, std[k] = repeats > 1 ? sqrt(v / (repeats - 1)) : 0;
    }
    free(r), free(d);
    return st;
}
