/* Invariance (ZF section 4.3, Fig. 5): how far the feature vectors of chosen layers move, and
 * what the class probability does, as an image is shifted, scaled or rotated. The transform
 * works on the image as pixels (the uncovered part takes the data mean), which is then
 * prepared again as the net's input. */
#include "analysis.h"

#include <math.h>
#include <string.h>

static const char *const transform_names[] = {"translate", "scale", "rotate"};

zf_status zf_transform_parse(const char *name, zf_transform *out, zf_error *err) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, transform_names[k])) return *out = (zf_transform)k, ZF_OK;
    return zf_fail(err, ZF_ERR_ARG, "transform '%s': translate, scale or rotate", name);
}

const char *zf_transform_name(zf_transform t) {
    return (unsigned)t < 3 ? transform_names[t] : "?";
}

/* where output pixel (x, y) comes from, in src's index coordinates */
static void source_point(zf_transform t, double v, zf_shape s, int x, int y, double *fx,
                         double *fy) {
    double cx = s.w / 2.0, cy = s.h / 2.0, px = x + 0.5 - cx, py = y + 0.5 - cy, sx = px, sy = py;
    if (t == ZF_TRANSFORM_TRANSLATE) sy = py - v;
    if (t == ZF_TRANSFORM_SCALE) sx = px / v, sy = py / v;
    if (t == ZF_TRANSFORM_ROTATE) { /* counter-clockwise on screen (y down) */
        double a = v * M_PI / 180, c = cos(a), sn = sin(a);
        sx = c * px - sn * py, sy = sn * px + c * py;
    }
    *fx = sx + cx - 0.5, *fy = sy + cy - 0.5;
}

void zf_transform_image(zf_transform t, double v, zf_shape s, const float *src, const float *fill,
                        float *dst) {
    size_t plane = (size_t)s.h * s.w;
    const double eps = 1e-9;
    for (int y = 0; y < s.h; y++)
        for (int x = 0; x < s.w; x++) {
            double fx, fy;
            source_point(t, v, s, x, y, &fx, &fy);
            size_t o = (size_t)y * s.w + x;
            if (fx < -eps || fy < -eps || fx > s.w - 1 + eps || fy > s.h - 1 + eps) {
                for (int c = 0; c < s.c; c++) dst[c * plane + o] = fill ? fill[c * plane + o] : 0;
                continue;
            }
            int x0 = (int)floor(fx < 0 ? 0 : fx), y0 = (int)floor(fy < 0 ? 0 : fy);
            x0 = x0 > s.w - 2 ? (s.w > 1 ? s.w - 2 : 0) : x0;
            y0 = y0 > s.h - 2 ? (s.h > 1 ? s.h - 2 : 0) : y0;
            int x1 = s.w > 1 ? x0 + 1 : x0, y1 = s.h > 1 ? y0 + 1 : y0;
            double ax = fmin(1, fmax(0, fx - x0)), ay = fmin(1, fmax(0, fy - y0));
            for (int c = 0; c < s.c; c++) {
                const float *p = src + c * plane;
                double top = (1 - ax) * p[y0 * s.w + x0] + ax * p[y0 * s.w + x1];
                double bot = (1 - ax) * p[y1 * s.w + x0] + ax * p[y1 * s.w + x1];
                dst[c * plane + o] = (float)((1 - ay) * top + ay * bot);
            }
        }
}

double zf_line_r2(const double *u, const double *d, int n) {
    if (n < 3) return 1;
    double mu = 0, md = 0, suu = 0, sud = 0, sdd = 0;
    for (int i = 0; i < n; i++) mu += u[i] / n, md += d[i] / n;
    for (int i = 0; i < n; i++)
        suu += (u[i] - mu) * (u[i] - mu), sud += (u[i] - mu) * (d[i] - md),
            sdd += (d[i] - md) * (d[i] - md);
    if (sdd <= 0) return 1;
    if (suu <= 0) return 0;
    return sud * sud / (suu * sdd);
}

/* the distance from the identity of value v: for rotation the angle to a multiple of 360 */
static double from_identity(zf_transform t, double v) {
    if (t == ZF_TRANSFORM_SCALE) return fabs(v - 1);
    if (t == ZF_TRANSFORM_TRANSLATE) return fabs(v);
    double a = fmod(fabs(v), 360);
    return a > 180 ? 360 - a : a;
}

zf_status zf_invariance_summarize(const zf_invariance_result *r, int n, zf_transform t, double *r2,
                                  double *drop_from, double *drop_to, zf_error *err) {
    int st = n > 0 ? r[0].steps : 0;
    double *u = malloc(sizeof(double) * n * st + 1), *d = malloc(sizeof(double) * n * st + 1);
    if (!u || !d) return free(u), free(d), zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < (n > 0 ? r[0].nlayers : 0); k++) {
        for (int i = 0; i < n; i++)
            for (int s = 0; s < st; s++) {
                u[i * st + s] = from_identity(t, r[i].values[s]);
                d[i * st + s] = r[i].distance[(size_t)k * st + s];
            }
        r2[k] = zf_line_r2(u, d, n * st);
    }
    *drop_from = *drop_to = 0;
    for (int i = 0; i < n; i++)
        *drop_from += (r[i].base_prob - r[i].prob[0]) / n,
            *drop_to += (r[i].base_prob - r[i].prob[st - 1]) / n;
    free(u), free(d);
    return ZF_OK;
}

void zf_invariance_result_free(zf_invariance_result *r) {
    if (!r) return;
    free(r->values), free(r->distance), free(r->prob), free(r->label);
    r->values = r->distance = NULL, r->prob = NULL, r->label = NULL;
}

typedef struct inv_bufs {
    float *mean_px;  /* (in) the mean as pixels in the input's geometry */
    float *px, *tpx; /* (in) */
    float *xs;       /* (steps + 1, in): the original, then each transformed input */
    float **feat;    /* (nl + 1) of (steps + 1, features); the last: the probabilities */
    int *layers;     /* (nl + 1) */
    size_t *fsize;
} inv_bufs;

static void bufs_free(inv_bufs *b, int nl) {
    for (int k = 0; b->feat && k <= nl; k++) free(b->feat[k]);
    free(b->feat), free(b->layers), free(b->fsize), free(b->mean_px), free(b->px), free(b->tpx);
    free(b->xs);
}

static zf_status bufs_alloc(zf_net *net, const zf_data_prep *p, const zf_invariance_options *o,
                            inv_bufs *b, zf_error *err) {
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w, rows = (size_t)o->steps + 1;
    int nl = o->nlayers, last = zf_net_num_layers(net) - 1;
    *b = (inv_bufs){.mean_px = malloc(sizeof(float) * per),
                    .px = malloc(sizeof(float) * per),
                    .tpx = malloc(sizeof(float) * per),
                    .xs = malloc(sizeof(float) * per * rows),
                    .feat = calloc((size_t)nl + 1, sizeof(float *)),
                    .layers = malloc(sizeof(int) * (nl + 1)),
                    .fsize = malloc(sizeof(size_t) * (nl + 1))};
    if (!b->mean_px || !b->px || !b->tpx || !b->xs || !b->feat || !b->layers || !b->fsize)
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; k <= nl; k++) {
        b->layers[k] = k < nl ? o->layers[k] : last;
        zf_layer_info li;
        zf_net_layer_info(net, zf_after_relu(net, b->layers[k]), &li);
        b->fsize[k] = (size_t)li.out.c * li.out.h * li.out.w;
        if (!(b->feat[k] = malloc(sizeof(float) * b->fsize[k] * rows)))
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    zf_status st = zf_occlusion_fill(p, in, 0, b->mean_px, err); /* (0 - mean) * scale */
    float scale = p && p->scale > 0 ? p->scale : 1.0f / 255;
    for (size_t i = 0; !st && i < per; i++)
        b->mean_px[i] = p && p->mean ? -b->mean_px[i] / scale : 0;
    return st;
}

static zf_status result_alloc(const zf_invariance_options *o, zf_invariance_result *r,
                              zf_error *err) {
    *r = (zf_invariance_result){.steps = o->steps, .nlayers = o->nlayers};
    r->values = malloc(sizeof(double) * o->steps);
    r->distance = malloc(sizeof(double) * o->steps * o->nlayers);
    r->prob = malloc(sizeof(float) * o->steps), r->label = malloc(sizeof(int) * o->steps);
    if (!r->values || !r->distance || !r->prob || !r->label)
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int s = 0; s < o->steps; s++)
        r->values[s] = o->steps > 1 ? o->from + (o->to - o->from) * s / (o->steps - 1) : o->from;
    return ZF_OK;
}

/* One image: its transformed copies, their features, the distances and probabilities. */
static zf_status one_image(zf_net *net, const zf_data_prep *p, const float *x, int klass,
                           const zf_invariance_options *o, inv_bufs *b, zf_invariance_result *r,
                           float *inputs, zf_error *err) {
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    float scale = p && p->scale > 0 ? p->scale : 1.0f / 255;
    int nl = o->nlayers, classes = zf_net_classes(net);
    zf_status st = result_alloc(o, r, err);
    if (st) return st;
    for (size_t i = 0; i < per; i++) b->px[i] = x[i] / scale + b->mean_px[i];
    memcpy(b->xs, x, sizeof(float) * per);
    for (int s = 0; s < o->steps; s++) {
        float *xt = b->xs + per * (s + 1);
        zf_transform_image(o->transform, r->values[s], in, b->px, b->mean_px, b->tpx);
        for (size_t i = 0; i < per; i++) xt[i] = (b->tpx[i] - b->mean_px[i]) * scale;
        if (inputs) memcpy(inputs + per * s, xt, sizeof(float) * per);
    }
    st = zf_features(net, b->xs, o->steps + 1, b->layers, nl + 1, o->batch, b->feat, err);
    if (st) return st;
    float *pr = b->feat[nl];
    zf_softmax_rows(net, pr, o->steps + 1, classes);
    int pred = 0;
    for (int c = 1; c < classes; c++) pred = pr[c] > pr[pred] ? c : pred;
    r->klass = klass >= 0 ? klass : pred;
    r->base_prob = pr[r->klass];
    for (int s = 0; s < o->steps; s++) {
        const float *q = pr + (size_t)classes * (s + 1);
        int best = 0;
        for (int c = 1; c < classes; c++) best = q[c] > q[best] ? c : best;
        r->prob[s] = q[r->klass], r->label[s] = best;
        for (int k = 0; k < nl; k++) {
            const float *f0 = b->feat[k], *f = b->feat[k] + b->fsize[k] * (s + 1);
            double d = 0;
            for (size_t i = 0; i < b->fsize[k]; i++) d += ((double)f[i] - f0[i]) * (f[i] - f0[i]);
            r->distance[(size_t)k * o->steps + s] = sqrt(d);
        }
    }
    return ZF_OK;
}

static zf_status check_options(const zf_net *net, const zf_invariance_options *o, zf_error *err) {
    if (!o) return zf_fail(err, ZF_ERR_ARG, "invariance: no options");
    if (o->batch < 1 || o->batch > 4096)
        return zf_fail(err, ZF_ERR_RANGE, "invariance batch %d: must be 1..4096", o->batch);
    if (o->steps < 1 || o->steps > 100000)
        return zf_fail(err, ZF_ERR_RANGE, "invariance: %d steps (1..100000)", o->steps);
    if (o->nlayers < 1) return zf_fail(err, ZF_ERR_ARG, "invariance: no layers chosen");
    if (o->transform == ZF_TRANSFORM_SCALE && (o->from <= 0 || o->to <= 0))
        return zf_fail(err, ZF_ERR_RANGE, "invariance: scale factors %g..%g must be positive",
                       o->from, o->to);
    if (!isfinite(o->from) || !isfinite(o->to) || (unsigned)o->transform > 2)
        return zf_fail(err, ZF_ERR_ARG, "invariance: bad transform or range");
    /* beyond these the picture is empty or the same again: a typo, not an experiment */
    zf_shape in = zf_net_input_shape(net);
    double lo = o->transform == ZF_TRANSFORM_SCALE    ? 0.01
                : o->transform == ZF_TRANSFORM_ROTATE ? -3600
                                                      : -(double)in.h,
           hi = o->transform == ZF_TRANSFORM_SCALE    ? 100
                : o->transform == ZF_TRANSFORM_ROTATE ? 3600
                                                      : (double)in.h;
    if (o->from < lo || o->to > hi || o->to < lo || o->from > hi)
        return zf_fail(err, ZF_ERR_RANGE, "invariance: range %g..%g is outside [%g, %g] for %s",
                       o->from, o->to, lo, hi,
                       o->transform == ZF_TRANSFORM_SCALE    ? "scaling"
                       : o->transform == ZF_TRANSFORM_ROTATE ? "rotation (degrees)"
                                                             : "translation (input pixels)");
    if (zf_net_classes(net) < 1)
        return zf_fail(err, ZF_ERR_ARG, "invariance: the model has no classes");
    for (int k = 0; k < o->nlayers; k++)
        if (o->layers[k] < 0 || o->layers[k] >= zf_net_num_layers(net))
            return zf_fail(err, ZF_ERR_ARG, "invariance: no layer %d", o->layers[k]);
    return ZF_OK;
}

void zf_invariance_defaults(zf_invariance_options *o) {
    *o = (zf_invariance_options){
        .transform = ZF_TRANSFORM_ROTATE, .from = 0, .to = 360, .steps = 17, .batch = 32};
}

zf_status zf_invariance(zf_net *net, const zf_data_prep *p, const float *x, int n,
                        const int *classes, const zf_invariance_options *o, zf_invariance_result *r,
                        float *inputs, zf_error *err) {
    memset(r, 0, sizeof *r * (size_t)(n > 0 ? n : 0));
    zf_status st = check_options(net, o, err);
    if (st) return st;
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    inv_bufs b;
    st = bufs_alloc(net, p, o, &b, err);
    for (int i = 0; !st && i < n; i++) {
        int k = classes ? classes[i] : -1;
        if (k >= zf_net_classes(net))
            st = zf_fail(err, ZF_ERR_RANGE, "class %d: the model has %d classes", k,
                         zf_net_classes(net));
        if (!st)
            st = one_image(net, p, x + per * i, k, o, &b, &r[i],
                           inputs ? inputs + per * o->steps * i : NULL, err);
        zf_progress(&o->cb, "invariance", i + 1, n, NULL);
    }
    zf_progress(&o->cb, NULL, n, n, NULL);
    bufs_free(&b, o->nlayers);
    for (int i = 0; st && i < n; i++) zf_invariance_result_free(&r[i]);
    return st;
}
