/* What the analyses share: reporting through the caller's callbacks (progress, notices,
 * skipped and replaced files), and the loader for a net's prepared views. */
#include "analysis.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void zf_progress(const zf_callbacks *cb, const char *label, long done, long total,
                 const char *extra) {
    if (cb && cb->progress) cb->progress(cb->ctx, label, done, total, extra);
}

zf_status zf_check_cancel(const zf_callbacks *cb, const char *what, zf_error *err) {
    if (cb && cb->cancelled && cb->cancelled(cb->ctx))
        return zf_fail(err, ZF_ERR_CANCELLED, "%s: cancelled", what);
    return ZF_OK;
}

void zf_notice(const zf_callbacks *cb, zf_notice_kind kind, const char *fmt, ...) {
    if (!cb || !cb->notice) return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cb->notice(cb->ctx, kind, msg);
}

void zf_notice_skipped(const zf_callbacks *cb, const zf_dataset *d) {
    for (int k = 0; k < zf_dataset_num_skipped(d); k++)
        zf_notice(cb, ZF_NOTICE_SKIPPED, "%s", zf_dataset_skipped(d, k));
}

void zf_notice_replaced(const zf_callbacks *cb, const zf_loader *l, int *reported) {
    for (; *reported < zf_loader_num_bad(l); (*reported)++)
        zf_notice(cb, ZF_NOTICE_REPLACED, "%s", zf_loader_bad(l, *reported));
}

zf_status zf_open_prepared(const zf_data_prep *p, const char *spec, const zf_callbacks *cb,
                           zf_dataset **out, zf_error *err) {
    zf_status st = zf_data_prep_open(p, spec, out, err);
    if (!st) zf_notice_skipped(cb, *out);
    return st;
}

zf_status zf_check_prepared(const zf_net *net, const zf_data_prep *p, const zf_dataset *d,
                            zf_error *err) {
    zf_shape in = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    if (ds.c != in.c)
        return zf_fail(err, ZF_ERR_SHAPE, "%s has %d channel(s); the model takes %d",
                       zf_dataset_description(d), ds.c, in.c);
    if (p->mean && !zf_shape_equal(p->shape, ds))
        return zf_fail(err, ZF_ERR_SHAPE,
                       "the checkpoint's data mean is %dx%dx%d but %s holds %dx%dx%d images",
                       p->shape.c, p->shape.h, p->shape.w, zf_dataset_description(d), ds.c, ds.h,
                       ds.w);
    return ZF_OK;
}

zf_loader_options zf_views(const zf_net *net, const zf_data_prep *p, zf_crop crop, int batch,
                           int threads) {
    zf_shape in = zf_net_input_shape(net);
    zf_loader_options o;
    zf_loader_defaults(&o);
    o.batch = batch, o.height = in.h, o.width = in.w, o.pad = p->pad, o.crop = crop;
    o.scale = p->scale, o.mean = p->mean, o.seed = 0, o.threads = threads;
    return o;
}

int zf_after_relu(const zf_net *net, int layer) {
    zf_layer_info next;
    if (layer + 1 < zf_net_num_layers(net) && zf_net_layer_info(net, layer + 1, &next) == ZF_OK &&
        next.kind == ZF_LAYER_RELU)
        return layer + 1;
    return layer;
}

zf_status zf_features(zf_net *net, const float *x, int n, const int *layers, int nl, int batch,
                      float **out, zf_error *err) {
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    int b = batch > 0 && batch < n ? batch : n, top = 0;
    for (int k = 0; k < nl; k++)
        top = zf_after_relu(net, layers[k]) > top ? zf_after_relu(net, layers[k]) : top;
    zf_status st = zf_net_reserve(net, b, err);
    for (int i0 = 0; !st && i0 < n; i0 += b) {
        int m = n - i0 < b ? n - i0 : b;
        if ((st = zf_net_set_input(net, x + per * i0, m, err)) ||
            (st = zf_net_forward(net, ZF_MODE_INFER, top, err)))
            break;
        for (int k = 0; !st && k < nl; k++) {
            zf_layer_info li;
            zf_net_layer_info(net, zf_after_relu(net, layers[k]), &li);
            size_t f = (size_t)li.out.c * li.out.h * li.out.w;
            st = zf_net_read_output(net, zf_after_relu(net, layers[k]), out[k] + f * i0, err);
        }
    }
    return st;
}

void zf_softmax_rows(const zf_net *net, float *p, int m, int classes) {
    zf_layer_info ll;
    zf_net_layer_info(net, zf_net_num_layers(net) - 1, &ll);
    if (ll.kind == ZF_LAYER_SOFTMAX) return;
    for (int i = 0; i < m; i++) {
        float *r = p + (size_t)i * classes, mx = r[0];
        double s = 0;
        for (int c = 1; c < classes; c++) mx = r[c] > mx ? r[c] : mx;
        for (int c = 0; c < classes; c++) s += exp((double)r[c] - mx);
        for (int c = 0; c < classes; c++) r[c] = (float)(exp((double)r[c] - mx) / s);
    }
}

zf_status zf_net_slice(zf_net *parent, int first, int last, zf_shape in, int window, zf_net **out,
                       zf_error *err) {
    const zf_model *pm = zf_net_model(parent);
    zf_model *m = calloc(1, sizeof *m);
    int nl = last - first + 1;
    if (!m || !(m->layers = malloc(sizeof *m->layers * nl)) || !(m->text = strdup(""))) {
        zf_model_free(m);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    memcpy(m->layers, pm->layers + first, sizeof *m->layers * nl);
    m->nlayers = nl, m->input = in, m->classes = pm->classes;
    snprintf(m->name, sizeof m->name, "%s", pm->name);
    memcpy(m->filename, pm->filename, sizeof m->filename);
    for (int i = 0; window && i < nl; i++) {
        layer_def *d = &m->layers[i];
        if (d->kind == ZF_LAYER_CONV) d->p.conv.pad = 0;
        if (d->kind == ZF_LAYER_MAXPOOL)
            d->p.pool.pad = 0, d->p.pool.ceil_mode = 0, d->p.pool.pad_end = 0;
    }
    zf_net_options no = zf_net_options_of(parent);
    zf_status st = zf_net_create(m, &no, out, err);
    zf_model_free(m);
    if (st) return st;
    zf_net *sub = *out; /* its parameters are a slice of the parent's block, in the same order */
    if (zf_net_num_param_tensors(sub)) {
        zf_param_info pi, pp;
        zf_net_param_info(sub, 0, &pi);
        zf_net_param_info(parent, zf_net_find_param(parent, pi.name), &pp);
        size_t base = pp.offset;
        zf_net_param_info(sub, zf_net_num_param_tensors(sub) - 1, &pi);
        zf_net_param_info(parent, zf_net_find_param(parent, pi.name), &pp);
        ZF_ASSERT(pp.offset == base + pi.offset && pp.count == pi.count);
        zf_net_borrow_params(sub, zf_net_params(parent) + base);
    }
    return ZF_OK;
}

int zf_net_stage_end(const zf_net *net, int n) {
    int seen = 0, nl = zf_net_num_layers(net);
    for (int i = 0; i < nl; i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        if (li.kind == ZF_LAYER_CONV || li.kind == ZF_LAYER_FC) seen++;
        if (seen != n) continue;
        for (int j = i + 1; j < nl; j++) {
            zf_net_layer_info(net, j, &li);
            if (li.kind == ZF_LAYER_CONV || li.kind == ZF_LAYER_FC || li.kind == ZF_LAYER_SOFTMAX)
                return j - 1;
        }
        return nl - 1;
    }
    return -1;
}

zf_status zf_net_parse_stage(const zf_net *net, const char *what, int *layer, zf_error *err) {
    char *end;
    long n = strtol(what, &end, 10);
    if (end != what && !*end) {
        int stages = 0;
        while (zf_net_stage_end(net, stages + 1) >= 0) stages++;
        if (n < 1 || n > stages)
            return zf_fail(err, ZF_ERR_RANGE,
                           "layer %ld is beyond the net: model '%s' has layers 1..%d (conv and fc)",
                           n, zf_model_name(zf_net_model(net)), stages);
        *layer = zf_net_stage_end(net, (int)n);
        return ZF_OK;
    }
    if ((*layer = zf_net_find_layer(net, what)) < 0)
        return zf_fail(err, ZF_ERR_ARG,
                       "model '%s' has no layer '%s' (a layer name, or a number 1..: the paper's "
                       "layer n)",
                       zf_model_name(zf_net_model(net)), what);
    return ZF_OK;
}
