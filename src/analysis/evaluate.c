/* Evaluation: a net's softmax over a dataset (centre view or the paper's ten crops), top-1 and
 * top-5 accuracy, the confusion matrix, and ensembles of checkpoints (ZF Table 2's protocol:
 * softmax averaged over models and crops). */
#include "analysis.h"

#include <string.h>

/* one batch's softmax rows (n * views, classes) averaged per image into probs */
static void add_views(float *probs, const float *rows, int n, int views, int classes) {
    for (int i = 0; i < n; i++)
        for (int v = 0; v < views; v++)
            for (int k = 0; k < classes; k++)
                probs[(size_t)i * classes + k] +=
                    rows[((size_t)i * views + v) * classes + k] / views;
}

void zf_eval_defaults(zf_eval_options *o) {
    *o = (zf_eval_options){
        .crop = ZF_CROP_CENTER, .batch = 64, .loader_threads = 2, .parts = 1, .part = 0};
}

zf_status zf_eval_accumulate(zf_net *net, const zf_data_prep *p, const zf_dataset *d,
                             const zf_eval_options *o, float *probs, zf_error *err) {
    zf_eval_options def;
    zf_eval_defaults(&def);
    if (!o) o = &def;
    int classes = zf_net_classes(net), views = o->crop == ZF_CROP_TEN ? 10 : 1;
    if (o->batch < 1 || o->batch > 4096)
        return zf_fail(err, ZF_ERR_RANGE, "evaluation batch %d: must be 1..4096", o->batch);
    int last = zf_net_num_layers(net) - 1, batch = o->batch;
    zf_status st = zf_check_prepared(net, p, d, err);
    if (st) return st;
    zf_loader_options lo = zf_views(net, p, o->crop, batch, o->loader_threads);
    lo.parts = o->parts, lo.part = o->part;
    zf_loader *l = NULL;
    if ((st = zf_net_reserve(net, batch * views, err)) || (st = zf_loader_create(d, &lo, &l, err)))
        return st;
    float *rows = malloc(sizeof(float) * (size_t)batch * views * classes);
    if (!rows) {
        zf_loader_free(l);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    zf_loader_start(l, 0, 0);
    int done = 0, reported = 0;
    for (;;) {
        const float *x;
        const int64_t *labels;
        int n;
        if ((st = zf_check_cancel(&o->cb, "evaluation", err))) break;
        if ((st = zf_loader_next(l, &x, &labels, &n, err)) || !n) break;
        if ((st = zf_net_set_input(net, x, n * views, err)) ||
            (st = zf_net_forward(net, ZF_MODE_INFER, -1, err)) ||
            (st = zf_net_read_output(net, last, rows, err)))
            break;
        add_views(probs + (size_t)zf_loader_position(l) * classes, rows, n, views, classes);
        done += n;
        int all = zf_dataset_count(d), shown = done * (o->parts > 1 ? o->parts : 1); /* about */
        zf_progress(&o->cb, "evaluating", shown < all ? shown : all, all, NULL);
    }
    zf_progress(&o->cb, NULL, 0, 0, NULL);
    zf_notice_replaced(&o->cb, l, &reported);
    free(rows);
    zf_loader_free(l);
    return st;
}

void zf_eval_score(const float *probs, const zf_dataset *d, int classes, double *top1, double *top5,
                   int64_t *confusion) {
    long c1 = 0, c5 = 0;
    int n = zf_dataset_count(d);
    for (int i = 0; i < n; i++) {
        const float *a = probs + (size_t)i * classes;
        int label = zf_dataset_label(d, i), best = 0, above = 0;
        for (int k = 0; k < classes; k++) {
            if (a[k] > a[best]) best = k;
            if (label < classes && (a[k] > a[label] || (a[k] == a[label] && k < label))) above++;
        }
        c1 += best == label;
        c5 += label < classes && above < 5;
        if (confusion && label < classes) confusion[(size_t)label * classes + best]++;
    }
    *top1 = n ? (double)c1 / n : 0;
    *top5 = n ? (double)c5 / n : 0;
}

void zf_eval_result_free(zf_eval_result *r) {
    if (!r) return;
    free(r->probs), free(r->confusion), free(r->description);
    zf_data_prep_free(&r->prep);
    memset(r, 0, sizeof *r);
}

/* The first model fixes the dataset (opened as its training data) and the class count. */
static zf_status first_model(zf_eval_result *r, const char *data, const zf_net *net,
                             const zf_eval_options *o, zf_dataset **d, zf_error *err) {
    zf_status st = zf_open_prepared(&r->prep, data, &o->cb, d, err);
    if (st) return st;
    r->classes = zf_net_classes(net);
    r->images = zf_dataset_count(*d);
    r->probs = calloc((size_t)r->images * r->classes, sizeof(float));
    r->confusion = calloc((size_t)r->classes * r->classes, sizeof(int64_t));
    r->description = strdup(zf_dataset_description(*d));
    if (!r->probs || !r->confusion || !r->description)
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

static zf_status eval_member(zf_eval_result *r, const char *path, const char *first, zf_dataset **d,
                             const char *data, const zf_eval_options *o, zf_error *err) {
    zf_net *net;
    zf_data_prep p;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = o->threads, no.precision = o->precision;
    zf_status st = zf_checkpoint_open(path, &no, &net, &p, err);
    if (st) return st;
    if (!(st = zf_data_prep_need_mean(&p, err)) && !*d) {
        r->prep = p;
        memset(&p, 0, sizeof p);
        st = first_model(r, data, net, o, d, err);
    }
    if (!st && zf_net_classes(net) != r->classes)
        st = zf_fail(err, ZF_ERR_SHAPE, "%s has %d classes, %s has %d: not one ensemble", path,
                     zf_net_classes(net), first, r->classes);
    if (!st && zf_dataset_classes(*d) > r->classes)
        st = zf_fail(err, ZF_ERR_RANGE, "%s has labels up to %d; the model knows %d classes",
                     zf_dataset_description(*d), zf_dataset_classes(*d) - 1, r->classes);
    double t0 = zf_now();
    const zf_data_prep *use = r->models ? &p : &r->prep;
    if (!st) st = zf_eval_accumulate(net, use, *d, o, r->probs, err);
    if (!st) zf_notice(&o->cb, ZF_NOTICE_INFO, "%s: %.1f s", path, zf_now() - t0);
    zf_net_free(net);
    zf_data_prep_free(&p);
    return st;
}

zf_status zf_evaluate(const char *const *checkpoints, int n, const char *data,
                      const zf_eval_options *o, zf_eval_result *r, zf_error *err) {
    zf_eval_options def;
    zf_eval_defaults(&def);
    if (!o) o = &def;
    memset(r, 0, sizeof *r);
    if (n < 1) return zf_fail(err, ZF_ERR_ARG, "no checkpoints to evaluate");
    zf_dataset *d = NULL;
    zf_status st = ZF_OK;
    for (int i = 0; !st && i < n; i++) {
        st = eval_member(r, checkpoints[i], checkpoints[0], &d, data, o, err);
        if (!st) r->models++;
    }
    if (!st) {
        zf_eval_score(r->probs, d, r->classes, &r->top1, &r->top5, r->confusion);
        /* the sum over models as their average (scored before: a division can merge near
         * ties) */
        for (size_t i = 0; r->models > 1 && i < (size_t)r->images * r->classes; i++)
            r->probs[i] /= (float)r->models;
    }
    zf_dataset_free(d);
    if (st) zf_eval_result_free(r);
    return st;
}
