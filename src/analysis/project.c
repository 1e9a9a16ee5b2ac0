/* Projections of feature maps (or single activations) of any layer down to the pixels with the
 * DeconvNet rule (ZF section 2.1), guided backprop or the gradient, and Grad-CAM maps. */
#include "analysis.h"

#include <math.h>
#include <string.h>

static zf_status check_selection(const zf_net *net, int layer, const zf_project_options *o,
                                 zf_error *err) {
    zf_layer_info li;
    if (zf_net_layer_info(net, layer, &li))
        return zf_fail(err, ZF_ERR_ARG, "no layer %d (the net has %d)", layer,
                       zf_net_num_layers(net));
    if (o->select != ZF_SELECT_STRONGEST && (o->map < 0 || o->map >= li.out.c))
        return zf_fail(err, ZF_ERR_RANGE, "map %d: layer '%s' has %d maps (0..%d)", o->map, li.name,
                       li.out.c, li.out.c - 1);
    if (o->select == ZF_SELECT_UNIT &&
        (o->y < 0 || o->x < 0 || o->y >= li.out.h || o->x >= li.out.w))
        return zf_fail(err, ZF_ERR_RANGE, "unit %d,%d,%d: layer '%s' is %dx%d (y 0..%d, x 0..%d)",
                       o->map, o->y, o->x, li.name, li.out.h, li.out.w, li.out.h - 1, li.out.w - 1);
    return ZF_OK;
}

/* The signal for input i: its activations a (c, h, w) kept only where o selects. */
static void select_signal(const zf_project_options *o, const zf_layer_info *li, const float *a,
                          float *s, int *map, float *value) {
    size_t plane = (size_t)li->out.h * li->out.w, lper = plane * li->out.c;
    int k = o->map;
    if (o->select == ZF_SELECT_STRONGEST) {
        size_t best = 0;
        for (size_t p = 1; p < lper; p++)
            if (a[p] > a[best]) best = p;
        k = (int)(best / plane);
    }
    *map = k;
    if (o->select == ZF_SELECT_UNIT) {
        size_t p = (size_t)k * plane + (size_t)o->y * li->out.w + o->x;
        s[p] = a[p], *value = a[p];
    } else {
        float m = -INFINITY;
        for (size_t p = 0; p < plane; p++)
            s[k * plane + p] = a[k * plane + p], m = fmaxf(m, a[k * plane + p]);
        *value = m;
    }
}

void zf_project_defaults(zf_project_options *o) {
    *o = (zf_project_options){.rule = ZF_RULE_DECONVNET,
                              .lrn = ZF_LRN_DEFAULT,
                              .select = ZF_SELECT_STRONGEST,
                              .batch = 16};
}

zf_status zf_project(zf_net *net, int layer, const float *x, int n, const zf_project_options *o,
                     float *proj, int *maps, float *values, zf_error *err) {
    zf_project_options def;
    zf_project_defaults(&def);
    if (!o) o = &def;
    zf_status st = zf_net_fp32(net, &net, err); /* projections run in float32 */
    if (!st) st = check_selection(net, layer, o, err);
    if (st) return st;
    zf_layer_info li;
    zf_net_layer_info(net, layer, &li);
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w, lper = (size_t)li.out.c * li.out.h * li.out.w;
    int b = o->batch > 0 && o->batch < n ? o->batch : n;
    float *act = malloc(sizeof(float) * lper * b), *sig = malloc(sizeof(float) * lper * b);
    if (!act || !sig) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) zf_net_set_input_grad(net, 1);
    if (!st) st = zf_net_reserve(net, b, err);
    for (int i0 = 0; !st && i0 < n; i0 += b) {
        int m = n - i0 < b ? n - i0 : b;
        if ((st = zf_net_set_input(net, x + per * i0, m, err)) ||
            (st = zf_net_forward(net, ZF_MODE_INFER, layer, err)) ||
            (st = zf_net_read_output(net, layer, act, err)))
            break;
        memset(sig, 0, sizeof(float) * lper * m);
        for (int i = 0; i < m; i++) {
            int k;
            float v;
            select_signal(o, &li, act + lper * i, sig + lper * i, &k, &v);
            if (maps) maps[i0 + i] = k;
            if (values) values[i0 + i] = v;
        }
        if (!(st = zf_net_signal_down(net, layer, o->rule, o->lrn, sig, err)))
            st = zf_net_read_input_grad(net, proj + per * i0, err);
    }
    free(act), free(sig);
    return st;
}

/* ---- Grad-CAM -------------------------------------------------------------------------- */

/* the layer producing class scores: the last one, or the one before a final softmax */
static int score_layer(const zf_net *net) {
    int last = zf_net_num_layers(net) - 1;
    zf_layer_info ll;
    zf_net_layer_info(net, last, &ll);
    return ll.kind == ZF_LAYER_SOFTMAX ? last - 1 : last;
}

zf_status zf_gradcam_layer(const zf_net *net, int layer, int *at, zf_error *err) {
    zf_layer_info li;
    if (zf_net_layer_info(net, layer, &li))
        return zf_fail(err, ZF_ERR_ARG, "no layer %d (the net has %d)", layer,
                       zf_net_num_layers(net));
    *at = layer;
    if (layer + 1 < zf_net_num_layers(net)) { /* A after the ReLU, as usual */
        zf_layer_info next;
        zf_net_layer_info(net, layer + 1, &next);
        if (next.kind == ZF_LAYER_RELU) *at = layer + 1;
    }
    if (*at >= score_layer(net) || li.out.h * li.out.w < 1)
        return zf_fail(err, ZF_ERR_ARG, "Grad-CAM: '%s' must be a layer below the class scores",
                       li.name);
    return ZF_OK;
}

/* cam (h, w) of the input = bilinear (align_corners false) upsampling of relu(camd) (ho, wo) */
static void upsample(float *out, zf_shape in, const double *camd, int ho, int wo) {
    for (int y = 0; y < in.h; y++)
        for (int x = 0; x < in.w; x++) {
            double fy = (y + 0.5) * ho / in.h - 0.5, fx = (x + 0.5) * wo / in.w - 0.5;
            fy = fmax(0, fmin(ho - 1, fy)), fx = fmax(0, fmin(wo - 1, fx));
            int y0 = (int)fy, x0 = (int)fx, y1 = y0 + (y0 + 1 < ho), x1 = x0 + (x0 + 1 < wo);
            double dy = fy - y0, dx = fx - x0;
            double v =
                (1 - dy) *
                    ((1 - dx) * fmax(0, camd[y0 * wo + x0]) + dx * fmax(0, camd[y0 * wo + x1])) +
                dy * ((1 - dx) * fmax(0, camd[y1 * wo + x0]) + dx * fmax(0, camd[y1 * wo + x1]));
            out[(size_t)y * in.w + x] = (float)v;
        }
}

/* cam = relu(sum_k mean(grad_k) A_k) for one input, upsampled into out; camd: (plane) scratch */
static void one_cam(const zf_layer_info *li, zf_shape in, const float *a, const float *g,
                    double *camd, float *out) {
    size_t plane = (size_t)li->out.h * li->out.w;
    memset(camd, 0, sizeof(double) * plane);
    for (int c = 0; c < li->out.c; c++) {
        double w = 0;
        for (size_t p = 0; p < plane; p++) w += g[c * plane + p];
        w /= (double)plane;
        for (size_t p = 0; p < plane; p++) camd[p] += w * a[c * plane + p];
    }
    upsample(out, in, camd, li->out.h, li->out.w);
}

typedef struct cam_bufs {
    float *act, *grad, *prob, *sig;
    double *camd;
} cam_bufs;

/* One batch of m inputs already set: the score's gradient at A, then the maps. */
static zf_status cam_batch(zf_net *net, int at, int klass, int m, cam_bufs *b, float *cam,
                           int *classes, float *probs, zf_error *err) {
    zf_layer_info li;
    zf_net_layer_info(net, at, &li);
    zf_shape in = zf_net_input_shape(net);
    int nc = zf_net_classes(net), sl = score_layer(net);
    size_t lper = (size_t)li.out.c * li.out.h * li.out.w;
    zf_status st;
    if ((st = zf_net_forward(net, ZF_MODE_INFER, -1, err)) ||
        (st = zf_net_read_output(net, at, b->act, err)) ||
        (st = zf_net_read_output(net, zf_net_num_layers(net) - 1, b->prob, err)))
        return st;
    memset(b->sig, 0, sizeof(float) * (size_t)m * nc);
    for (int i = 0; i < m; i++) {
        int k = klass;
        if (k < 0)
            for (int c = k = 0; c < nc; c++)
                if (b->prob[(size_t)i * nc + c] > b->prob[(size_t)i * nc + k]) k = c;
        if (classes) classes[i] = k;
        if (probs) probs[i] = b->prob[(size_t)i * nc + k];
        b->sig[(size_t)i * nc + k] = 1; /* d score_k / d logits */
    }
    if ((st = zf_net_signal_down_to(net, sl, at + 1, ZF_RULE_GRADIENT, ZF_LRN_DEFAULT, b->sig,
                                    err)) ||
        (st = zf_net_read_signal(net, b->grad, err)))
        return st;
    for (int i = 0; i < m; i++)
        one_cam(&li, in, b->act + lper * i, b->grad + lper * i, b->camd,
                cam + (size_t)in.h * in.w * i);
    return ZF_OK;
}

zf_status zf_gradcam(zf_net *net, int layer, int klass, const float *x, int n, int batch,
                     float *cam, int *classes, float *probs, zf_error *err) {
    int at;
    zf_status st = zf_net_fp32(net, &net, err); /* the gradients run in float32 */
    if (!st) st = zf_gradcam_layer(net, layer, &at, err);
    if (st) return st;
    int nc = zf_net_classes(net);
    if (klass >= nc)
        return zf_fail(err, ZF_ERR_RANGE, "class %d: the model has %d classes", klass, nc);
    zf_layer_info li;
    zf_net_layer_info(net, at, &li);
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w, lper = (size_t)li.out.c * li.out.h * li.out.w;
    int b = batch > 0 && batch < n ? batch : n;
    cam_bufs bufs = {malloc(sizeof(float) * lper * b), malloc(sizeof(float) * lper * b),
                     malloc(sizeof(float) * (size_t)nc * b), malloc(sizeof(float) * (size_t)nc * b),
                     malloc(sizeof(double) * (size_t)li.out.h * li.out.w)};
    if (!bufs.act || !bufs.grad || !bufs.prob || !bufs.sig || !bufs.camd)
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_net_reserve(net, b, err);
    for (int i0 = 0; !st && i0 < n; i0 += b) {
        int m = n - i0 < b ? n - i0 : b;
        if (!(st = zf_net_set_input(net, x + per * i0, m, err)))
            st = cam_batch(net, at, klass, m, &bufs, cam + (size_t)in.h * in.w * i0,
                           classes ? classes + i0 : NULL, probs ? probs + i0 : NULL, err);
    }
    free(bufs.act), free(bufs.grad), free(bufs.prob), free(bufs.sig), free(bufs.camd);
    return st;
}
