/* Linear probes (ZF Table 7): how linearly separable each layer's features make another set.
 * Per fold, the chosen layers' outputs (after their ReLU; conv maps pooled to a grid) for the
 * drawn training images and the test images, then one classifier of each kind per layer with
 * its regularisation chosen on held-out training images. */
#include "learn.h"

#include <math.h>
#include <string.h>

#define NKINDS 2

static const double svm_c_grid[] = {1e-4, 1e-3, 1e-2, 1e-1, 1};
static const double softmax_wd_grid[] = {1e-5, 1e-4, 1e-3, 1e-2, 1e-1};

void zf_probe_defaults(zf_probe_options *o) {
    *o = (zf_probe_options){.svm = 1,
                            .softmax = 1,
                            .pool = ZF_POOL_MAX,
                            .grid = 4,
                            .per_class = 30,
                            .folds = 5,
                            .holdout = 0.2,
                            .seed = 1};
}

void zf_probe_result_free(zf_probe_result *r) {
    free(r->layers), free(r->dims), free(r->accuracy), free(r->reg), free(r->mean), free(r->std);
    memset(r, 0, sizeof *r);
}

typedef struct probe_run {
    const zf_probe_options *o;
    zf_target g; /* the net, its preparation, the probed set */
    int nl, *layers;
    zf_shape *shapes;   /* (nl) the layers' outputs */
    float **test_feats; /* (nl) (ntest, dims[k]) */
} probe_run;

static int pooled(const probe_run *t, int k) {
    return t->shapes[k].h * t->shapes[k].w > 1 && t->o->pool != ZF_POOL_NONE;
}

static int feature_dim(const probe_run *t, int k) {
    zf_shape s = t->shapes[k];
    return pooled(t, k) ? s.c * t->o->grid * t->o->grid : s.c * s.h * s.w;
}

/* every conv and fc layer below the last layer with weights */
static zf_status choose_layers(probe_run *t, zf_error *err) {
    int nl = zf_net_num_layers(t->g.net), last = -1;
    t->layers = malloc(sizeof(int) * nl);
    t->shapes = malloc(sizeof(zf_shape) * nl);
    if (!t->layers || !t->shapes) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (t->o->layers) {
        zf_status st = zf_net_parse_layers(t->g.net, t->o->layers, 0, t->layers, &t->nl, err);
        if (st) return st;
    } else {
        for (int i = 0; i < nl; i++) {
            zf_layer_info li;
            zf_net_layer_info(t->g.net, i, &li);
            if (li.kind == ZF_LAYER_CONV || li.kind == ZF_LAYER_FC) last = i;
        }
        for (int i = 0; i < last; i++) {
            zf_layer_info li;
            zf_net_layer_info(t->g.net, i, &li);
            if (li.kind == ZF_LAYER_CONV || li.kind == ZF_LAYER_FC) t->layers[t->nl++] = i;
        }
    }
    if (t->nl > 64)
        return zf_fail(err, ZF_ERR_RANGE, "%d layers to probe; at most 64 at a time", t->nl);
    for (int k = 0; k < t->nl; k++) {
        zf_layer_info li;
        zf_net_layer_info(t->g.net, zf_after_relu(t->g.net, t->layers[k]), &li);
        t->shapes[k] = li.out;
    }
    return t->nl ? ZF_OK : zf_fail(err, ZF_ERR_ARG, "no layers to probe");
}

static zf_status check_options(const zf_probe_options *o, zf_error *err) {
    if (!o->checkpoint || !o->train || !o->test)
        return zf_fail(err, ZF_ERR_ARG, "probe needs a checkpoint, a training and a test set");
    if (!o->svm && !o->softmax) return zf_fail(err, ZF_ERR_ARG, "probe needs a classifier");
    if (o->folds < 1 || o->folds > 1000)
        return zf_fail(err, ZF_ERR_RANGE, "folds must be 1..1000, not %d", o->folds);
    if (o->per_class < 0 || o->test_per_class < 0)
        return zf_fail(err, ZF_ERR_RANGE, "images per class must be >= 0 (0: all)");
    if (o->pool < ZF_POOL_NONE || o->pool > ZF_POOL_AVG || o->grid < 1 || o->grid > 64)
        return zf_fail(err, ZF_ERR_RANGE, "the pooling grid must be 1..64, not %d", o->grid);
    if (!(o->holdout >= 0 && o->holdout < 1))
        return zf_fail(err, ZF_ERR_RANGE, "the held-out share must be in [0, 1), not %g",
                       o->holdout);
    if ((o->svm_c && o->nsvm_c < 1) || (o->softmax_wd && o->nsoftmax_wd < 1))
        return zf_fail(err, ZF_ERR_ARG, "an empty regularisation grid");
    return ZF_OK;
}

static zf_status open_probe(probe_run *t, zf_error *err) {
    const zf_probe_options *o = t->o;
    zf_status st = zf_target_open(&t->g, o->checkpoint, o->train, o->test, o->test_per_class,
                                  o->threads, o->precision, o->seed, &o->cb, err);
    return st ? st : choose_layers(t, err);
}

static void close_probe(probe_run *t) {
    for (int k = 0; t->test_feats && k < t->nl; k++) free(t->test_feats[k]);
    free(t->test_feats);
    zf_target_close(&t->g);
    free(t->layers), free(t->shapes);
}

/* The chosen layers' (pooled) features of dataset items idx: out[k] (n, dim_k), malloc'd. */
static zf_status probe_features(probe_run *t, const zf_dataset *d, const int *idx, int n,
                                float **out, zf_error *err) {
    enum { CH = 128 };
    zf_shape in = zf_net_input_shape(t->g.net);
    float *x = malloc(sizeof(float) * CH * in.c * in.h * in.w), *raw[64] = {0};
    zf_status st = x ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < t->nl; k++) {
        zf_shape s = t->shapes[k];
        out[k] = malloc(sizeof(float) * (size_t)(n ? n : 1) * feature_dim(t, k));
        raw[k] = malloc(sizeof(float) * CH * s.c * s.h * s.w);
        if (!out[k] || !raw[k]) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory for features");
    }
    for (int i0 = 0; !st && i0 < n; i0 += CH) {
        int m = n - i0 < CH ? n - i0 : CH;
        zf_images im;
        if ((st = zf_images_read(d, idx + i0, m, &im, err))) break;
        zf_examples ex = {.images = &im, .prep = &t->g.prep, .pad = t->g.prep.pad, .n = m};
        zf_examples_inputs(&ex, 0, m, in, x);
        st = zf_features(t->g.net, x, m, t->layers, t->nl, 64, raw, err);
        for (int k = 0; !st && k < t->nl; k++)
            zf_pool_maps(raw[k], m, t->shapes[k], pooled(t, k) ? t->o->pool : ZF_POOL_NONE,
                         t->o->grid, out[k] + (size_t)i0 * feature_dim(t, k));
        zf_images_free(&im);
        zf_progress(&t->o->cb, "features", i0 + m, n, NULL);
    }
    zf_progress(&t->o->cb, NULL, 0, 0, NULL);
    for (int k = 0; k < t->nl; k++) free(raw[k]);
    free(x);
    return st;
}

/* Train on rows tr (n) and score on rows te (m). */
static zf_status fit_score(zf_classifier kind, const float *tr, const int *ty, int n,
                           const float *te, const int *tey, int m, int dim, int classes, double reg,
                           uint64_t seed, int threads, double *acc, zf_error *err) {
    zf_linear *lin;
    int *pred = malloc(sizeof(int) * (size_t)(m ? m : 1));
    zf_status st =
        pred ? zf_linear_train(kind, tr, ty, n, dim, classes, reg, seed, threads, &lin, err)
             : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        st = zf_linear_predict(lin, te, m, pred, err);
        zf_linear_free(lin);
    }
    if (!st) *acc = zf_per_class_accuracy(pred, tey, m, classes, NULL);
    free(pred);
    return st;
}

/* The fold's rows split into fit and held-out parts: the first ceil(share) of each class
 * (the draw is random already) held out. */
static int split_holdout(const int *y, int n, int classes, double share, int *held) {
    int nheld = 0;
    for (int k = 0; k < classes; k++) {
        int have = 0, taken = 0;
        for (int i = 0; i < n; i++) have += y[i] == k;
        int want = have < 2 ? 0 : (int)ceil(share * have);
        if (want >= have) want = have - 1;
        for (int i = 0; i < n; i++)
            if (y[i] == k) held[i] = taken < want ? (taken++, 1) : 0;
        nheld += taken;
    }
    return nheld;
}

typedef struct rows {
    const float *x;
    const int *y;
    int n, dim;
} rows;

static const double *reg_grid(const zf_probe_options *o, zf_classifier kind, int *n) {
    if (kind == ZF_CLASSIFIER_SVM) {
        *n = o->svm_c ? o->nsvm_c : (int)(sizeof svm_c_grid / sizeof *svm_c_grid);
        return o->svm_c ? o->svm_c : svm_c_grid;
    }
    *n = o->softmax_wd ? o->nsoftmax_wd : (int)(sizeof softmax_wd_grid / sizeof *softmax_wd_grid);
    return o->softmax_wd ? o->softmax_wd : softmax_wd_grid;
}

/* The grid's value scoring best on the held-out rows (the first on ties). */
static zf_status choose_reg(const probe_run *t, zf_classifier kind, rows tr, uint64_t seed,
                            double *best, zf_error *err) {
    int ng;
    const double *grid = reg_grid(t->o, kind, &ng);
    *best = grid[ng / 2];
    int *held = malloc(sizeof(int) * (size_t)tr.n), *fy = malloc(sizeof(int) * (size_t)tr.n);
    float *fx = malloc(sizeof(float) * (size_t)tr.n * tr.dim);
    zf_status st = held && fy && fx ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    int nh = st ? 0 : split_holdout(tr.y, tr.n, t->g.classes, t->o->holdout, held), nf = 0;
    if (!st && nh > 0 && t->o->holdout > 0) {
        /* fit rows first, then the held-out ones */
        for (int pass = 0, at = 0; pass < 2; pass++)
            for (int i = 0; i < tr.n; i++)
                if (held[i] == pass) {
                    memcpy(fx + (size_t)at * tr.dim, tr.x + (size_t)i * tr.dim,
                           sizeof(float) * tr.dim);
                    fy[at++] = tr.y[i];
                    nf += !pass;
                }
        double best_acc = -1;
        for (int g = 0; !st && g < ng; g++) {
            double acc;
            st = fit_score(kind, fx, fy, nf, fx + (size_t)nf * tr.dim, fy + nf, nh, tr.dim,
                           t->g.classes, grid[g], seed, t->o->threads, &acc, err);
            if (!st && acc > best_acc) best_acc = acc, *best = grid[g];
        }
    }
    free(held), free(fy), free(fx);
    return st;
}

static zf_status probe_layer(const probe_run *t, int k, int f, rows tr, uint64_t seed,
                             zf_probe_result *r, zf_error *err) {
    zf_status st = ZF_OK;
    for (int kind = 0; !st && kind < NKINDS; kind++) {
        if (!(kind == ZF_CLASSIFIER_SVM ? t->o->svm : t->o->softmax)) continue;
        size_t at = ((size_t)kind * t->nl + k) * t->o->folds + f;
        st = choose_reg(t, (zf_classifier)kind, tr, seed, &r->reg[at], err);
        if (!st)
            st = fit_score((zf_classifier)kind, tr.x, tr.y, tr.n, t->test_feats[k], t->g.test_y,
                           t->g.ntest, tr.dim, t->g.classes, r->reg[at], seed, t->o->threads,
                           &r->accuracy[at], err);
    }
    return st;
}

static zf_status probe_fold(probe_run *t, int f, zf_probe_result *r, zf_error *err) {
    uint64_t seed = zf_mix64(t->o->seed, (uint64_t)f);
    int *idx = NULL, n = 0, *y = NULL;
    float *feats[64] = {0};
    double t0 = zf_now();
    zf_status st = zf_draw_per_class(t->g.train, t->o->per_class, seed, &idx, &n, err);
    if (!st) st = probe_features(t, t->g.train, idx, n, feats, err);
    r->feature_seconds += zf_now() - t0;
    if (!st && !(y = malloc(sizeof(int) * (size_t)n)))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < n; i++) y[i] = zf_dataset_label(t->g.train, idx[i]);
    for (int k = 0; !st && k < t->nl; k++) {
        rows tr = {feats[k], y, n, feature_dim(t, k)};
        st = probe_layer(t, k, f, tr, seed, r, err);
        zf_progress(&t->o->cb, "classifiers", k + 1, t->nl, NULL);
    }
    zf_progress(&t->o->cb, NULL, 0, 0, NULL);
    r->train_images = n;
    for (int k = 0; k < t->nl; k++) free(feats[k]);
    free(idx), free(y);
    return st;
}

static zf_status alloc_result(const probe_run *t, zf_probe_result *r, zf_error *err) {
    size_t cells = (size_t)NKINDS * t->nl * t->o->folds;
    r->nlayers = t->nl, r->folds = t->o->folds, r->classes = t->g.classes;
    r->test_images = t->g.ntest;
    r->layers = malloc(sizeof(int) * t->nl), r->dims = malloc(sizeof(int) * t->nl);
    r->accuracy = malloc(sizeof(double) * cells), r->reg = malloc(sizeof(double) * cells);
    r->mean = malloc(sizeof(double) * NKINDS * t->nl),
    r->std = malloc(sizeof(double) * NKINDS * t->nl);
    if (!r->layers || !r->dims || !r->accuracy || !r->reg || !r->mean || !r->std)
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cells; i++) r->accuracy[i] = r->reg[i] = NAN;
    for (int k = 0; k < t->nl; k++) r->layers[k] = t->layers[k], r->dims[k] = feature_dim(t, k);
    return ZF_OK;
}

zf_status zf_probe(const zf_probe_options *o, zf_probe_result *r, zf_error *err) {
    memset(r, 0, sizeof *r);
    zf_status st = check_options(o, err);
    if (st) return st;
    double t0 = zf_now();
    probe_run t = {.o = o};
    st = open_probe(&t, err);
    if (!st) st = alloc_result(&t, r, err);
    if (!st && !(t.test_feats = calloc((size_t)t.nl, sizeof(float *))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = probe_features(&t, t.g.test, t.g.test_idx, t.g.ntest, t.test_feats, err);
    r->feature_seconds = zf_now() - t0;
    for (int f = 0; !st && f < o->folds; f++) {
        st = probe_fold(&t, f, r, err);
        if (!st) zf_notice(&o->cb, ZF_NOTICE_INFO, "fold %d/%d done", f + 1, o->folds);
    }
    for (int i = 0; !st && i < NKINDS * t.nl; i++)
        zf_mean_std(r->accuracy + (size_t)i * o->folds, o->folds, &r->mean[i], &r->std[i]);
    close_probe(&t);
    if (st) {
        zf_probe_result_free(r);
        return st;
    }
    r->seconds = zf_now() - t0;
    return ZF_OK;
}
