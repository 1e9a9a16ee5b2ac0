/* The numbers behind ZF Fig. 6: per-filter RMS, dead filters, the radial frequency profile of
 * a conv layer's filters, and how much high-frequency (aliasing) energy the next layer's
 * feature maps carry. */
#include "analysis.h"

#include <math.h>
#include <string.h>

/* |DFT|^2 of an n x n real image (separable, naive: n is small) added into pw. */
static void power2d(const double *img, int n, double *pw, double *re, double *im) {
    for (int y = 0; y < n; y++) /* rows */
        for (int u = 0; u < n; u++) {
            double r = 0, i = 0;
            for (int x = 0; x < n; x++) {
                double a = -2 * M_PI * u * x / n;
                r += img[y * n + x] * cos(a), i += img[y * n + x] * sin(a);
            }
            re[y * n + u] = r, im[y * n + u] = i;
        }
    for (int u = 0; u < n; u++) /* columns */
        for (int v = 0; v < n; v++) {
            double r = 0, i = 0;
            for (int y = 0; y < n; y++) {
                double a = -2 * M_PI * v * y / n, c = cos(a), s = sin(a);
                r += re[y * n + u] * c - im[y * n + u] * s;
                i += re[y * n + u] * s + im[y * n + u] * c;
            }
            pw[v * n + u] += r * r + i * i;
        }
}

/* radial frequency (cycles per sample) of bin (v, u) */
static double radius(int v, int u, int n) {
    double fv = (v <= n / 2 ? v : v - n) / (double)n, fu = (u <= n / 2 ? u : u - n) / (double)n;
    return sqrt(fv * fv + fu * fu);
}

static int band(double f) {
    return f < 0.125 ? 0 : f < 0.25 ? 1 : 2;
}

static int pow2_at_least(int v) {
    int n = 1;
    while (n < v) n *= 2;
    return n;
}

void zf_filter_stats_free(zf_filter_stats *s) {
    if (!s) return;
    free(s->rms), free(s->dead);
    memset(s, 0, sizeof *s);
}

/* Filter f's power spectrum (N x N, summed over channels) into its band shares, its peak's
 * band and the radial profile (all averaged over the F filters). */
static void filter_spectrum(zf_filter_stats *s, const float *w, int f, int N, double *buf) {
    int C = s->channels, K = s->size, F = s->filters;
    size_t per = (size_t)C * K * K;
    double *g = buf, *pw = buf + N * N, *re = buf + 2 * N * N, *im = buf + 3 * N * N;
    memset(pw, 0, sizeof(double) * N * N);
    for (int c = 0; c < C; c++) {
        memset(g, 0, sizeof(double) * N * N);
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) g[y * N + x] = w[f * per + ((size_t)c * K + y) * K + x];
        power2d(g, N, pw, re, im);
    }
    double total = 0, b[3] = {0}, best = -1;
    int peak = 0;
    for (int v = 0; v < N; v++)
        for (int u = 0; u < N; u++) {
            double r = radius(v, u, N), e = pw[v * N + u];
            total += e, b[band(r)] += e;
            if (e > best) best = e, peak = band(r);
        }
    for (int v = 0; v < N && total > 0; v++)
        for (int u = 0; u < N; u++) {
            int bin = (int)(radius(v, u, N) / 0.05);
            s->radial[bin < 15 ? bin : 15] += pw[v * N + u] / total / F;
        }
    for (int k = 0; k < 3; k++) s->band[k] += total > 0 ? b[k] / total / F : 0;
    s->peaks[peak]++;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* RMS per filter, its min / median / max, and the dead filters (RMS < 10% of the median) */
static zf_status rms_and_dead(zf_filter_stats *s, const float *w, zf_error *err) {
    int F = s->filters;
    size_t per = (size_t)s->channels * s->size * s->size;
    double *sorted = malloc(sizeof(double) * F);
    s->dead = malloc(sizeof(int) * F);
    if (!sorted || !s->dead) {
        free(sorted);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    for (int f = 0; f < F; f++) {
        double ss = 0;
        for (size_t q = 0; q < per; q++) ss += (double)w[f * per + q] * w[f * per + q];
        sorted[f] = s->rms[f] = sqrt(ss / (double)per);
    }
    qsort(sorted, (size_t)F, sizeof(double), cmp_double);
    s->rms_min = sorted[0], s->rms_median = sorted[F / 2], s->rms_max = sorted[F - 1];
    for (int f = 0; f < F; f++)
        if (s->rms[f] < 0.1 * s->rms_median) s->dead[s->ndead++] = f;
    free(sorted);
    return ZF_OK;
}

static int first_conv(const zf_net *net, int after) {
    for (int i = after + 1; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        if (li.kind == ZF_LAYER_CONV) return i;
    }
    return -1;
}

zf_status zf_filter_stats_compute(const zf_net *cnet, int layer, zf_filter_stats *s,
                                  zf_error *err) {
    zf_net *net = (zf_net *)cnet; /* parameters are only read */
    memset(s, 0, sizeof *s);
    int at = layer < 0 ? first_conv(net, -1) : layer;
    zf_layer_info li;
    char desc[512];
    if (at < 0 || zf_net_layer_info(net, at, &li) || li.kind != ZF_LAYER_CONV)
        return zf_fail(err, ZF_ERR_ARG, "%s: not a conv layer of %s",
                       at >= 0 && !zf_net_layer_info(net, at, &li) ? li.name : "(first conv)",
                       zf_model_describe(zf_net_model(net), desc, sizeof desc));
    zf_param_info pi;
    char pname[80];
    snprintf(pname, sizeof pname, "%s.weight", li.name);
    zf_net_param_info(net, zf_net_find_param(net, pname), &pi);
    *s = (zf_filter_stats){.layer = at,
                           .filters = (int)pi.shape[0],
                           .channels = (int)pi.shape[1],
                           .size = (int)pi.shape[2],
                           .stride = li.rf_stride};
    int N = pow2_at_least(s->size < 16 ? 32 : 2 * s->size);
    const float *w = zf_net_params(net) + pi.offset;
    double *buf = calloc((size_t)N * N * 4, sizeof(double));
    s->rms = malloc(sizeof(double) * s->filters);
    zf_status st =
        buf && s->rms ? rms_and_dead(s, w, err) : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int f = 0; !st && f < s->filters; f++) filter_spectrum(s, w, f, N, buf);
    free(buf);
    if (st) zf_filter_stats_free(s);
    return st;
}

/* The high-frequency and total energy of one image's maps act (c, h, w) on an N x N grid. */
static void map_energy(const float *act, const zf_layer_info *li, int N, double *buf, double *hi,
                       double *all) {
    size_t plane = (size_t)li->out.h * li->out.w;
    for (int c = 0; c < li->out.c; c++) {
        double *g = buf, *pw = buf + N * N, *re = buf + 2 * N * N, *im = buf + 3 * N * N;
        double mean = 0;
        for (size_t q = 0; q < plane; q++) mean += act[c * plane + q];
        mean /= (double)plane;
        memset(g, 0, sizeof(double) * N * N * 2);
        for (int y = 0; y < li->out.h; y++) /* the map's variation: its mean removed */
            for (int xx = 0; xx < li->out.w; xx++)
                g[y * N + xx] = act[c * plane + (size_t)y * li->out.w + xx] - mean;
        power2d(g, N, pw, re, im);
        for (int v = 0; v < N; v++)
            for (int u = 0; u < N; u++) {
                *all += pw[v * N + u];
                if (radius(v, u, N) >= 0.25) *hi += pw[v * N + u];
            }
    }
}

zf_status zf_aliasing(zf_net *net, const zf_data_prep *p, const zf_dataset *d, int after,
                      int maps_layer, int images, int *at, double *share, zf_error *err) {
    *at = maps_layer >= 0 ? maps_layer : first_conv(net, after);
    zf_layer_info li;
    if (*at < 0 || zf_net_layer_info(net, *at, &li))
        return zf_fail(err, ZF_ERR_ARG, "no conv layer after layer %d for the aliasing measure",
                       after);
    zf_status st = zf_check_prepared(net, p, d, err);
    if (st) return st;
    zf_shape in = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    int n = images < zf_dataset_count(d) ? images : zf_dataset_count(d);
    int N = pow2_at_least(li.out.h > li.out.w ? li.out.h : li.out.w);
    size_t plane = (size_t)li.out.h * li.out.w, per = (size_t)in.c * in.h * in.w;
    float *x = malloc(sizeof(float) * per), *act = malloc(sizeof(float) * plane * li.out.c);
    uint8_t *img = malloc((size_t)ds.c * ds.h * ds.w);
    double *buf = calloc((size_t)N * N * 4, sizeof(double)), hi = 0, all = 0;
    if (!x || !act || !img || !buf) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_net_reserve(net, 1, err);
    for (int i = 0; !st && i < n; i++) {
        int k = (int)((int64_t)i * zf_dataset_count(d) / n);
        if ((st = zf_dataset_read(d, k, img, err)) ||
            (st = zf_data_prep_input(p, ds, img, in, x, err)) ||
            (st = zf_net_set_input(net, x, 1, err)) ||
            (st = zf_net_forward(net, ZF_MODE_INFER, *at, err)) ||
            (st = zf_net_read_output(net, *at, act, err)))
            break;
        map_energy(act, &li, N, buf, &hi, &all);
    }
    *share = all > 0 ? hi / all : 0;
    free(x), free(act), free(img), free(buf);
    return st;
}
