/* Linear classifiers on feature rows: multinomial logistic regression trained by the net's own
 * SGD (an fc + softmax net over the rows) and liblinear's linear SVM (scikit-learn's
 * LinearSVC); adaptive max/average pooling of feature maps. */
#include "learn.h"

#include <linear.h>
#include <math.h>
#include <string.h>

struct zf_linear {
    zf_classifier kind;
    int dim, classes;
    float *mu, *inv_sd; /* (dim) the standardisation */
    zf_net *net;        /* SOFTMAX */
    struct model *svm;  /* SVM */
};

static const char *const classifier_names[] = {"softmax", "svm"};
static const char *const pool_names[] = {"none", "max", "avg"};

zf_status zf_classifier_parse(const char *name, zf_classifier *out, zf_error *err) {
    for (int k = 0; k < 2; k++)
        if (!strcmp(name, classifier_names[k])) {
            *out = (zf_classifier)k;
            return ZF_OK;
        }
    return zf_fail(err, ZF_ERR_ARG, "unknown classifier '%s' (softmax or svm)", name);
}

const char *zf_classifier_name(zf_classifier c) {
    return c >= 0 && c <= ZF_CLASSIFIER_SVM ? classifier_names[c] : "?";
}

zf_status zf_pool_parse(const char *name, zf_pool *out, zf_error *err) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, pool_names[k])) {
            *out = (zf_pool)k;
            return ZF_OK;
        }
    return zf_fail(err, ZF_ERR_ARG, "unknown pooling '%s' (none, max or avg)", name);
}

const char *zf_pool_name(zf_pool p) {
    return p >= 0 && p <= ZF_POOL_AVG ? pool_names[p] : "?";
}

void zf_pool_maps(const float *x, int n, zf_shape s, zf_pool pool, int grid, float *out) {
    size_t per = (size_t)s.c * s.h * s.w;
    if (pool == ZF_POOL_NONE) {
        memcpy(out, x, sizeof(float) * per * n);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < s.c; c++) {
            const float *m = x + per * i + (size_t)c * s.h * s.w;
            for (int gy = 0; gy < grid; gy++)
                for (int gx = 0; gx < grid; gx++) {
                    int y0 = gy * s.h / grid, y1 = ((gy + 1) * s.h + grid - 1) / grid;
                    int x0 = gx * s.w / grid, x1 = ((gx + 1) * s.w + grid - 1) / grid;
                    double acc = pool == ZF_POOL_MAX ? -INFINITY : 0;
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) {
                            double v = m[(size_t)y * s.w + xx];
                            acc = pool == ZF_POOL_MAX ? fmax(acc, v) : acc + v;
                        }
                    if (pool == ZF_POOL_AVG) acc /= (double)(y1 - y0) * (x1 - x0);
                    out[(((size_t)i * s.c + c) * grid + gy) * grid + gx] = (float)acc;
                }
        }
}

void zf_linear_free(zf_linear *m) {
    if (!m) return;
    free(m->mu);
    free(m->inv_sd);
    zf_net_free(m->net);
    if (m->svm) free_and_destroy_model(&m->svm);
    free(m);
}

static void standardise_fit(zf_linear *m, const float *x, int n) {
    for (int j = 0; j < m->dim; j++) {
        double s = 0, q = 0;
        for (int i = 0; i < n; i++) s += x[(size_t)i * m->dim + j];
        double mu = s / n;
        for (int i = 0; i < n; i++) {
            double d = x[(size_t)i * m->dim + j] - mu;
            q += d * d;
        }
        double sd = sqrt(q / n);
        m->mu[j] = (float)mu;
        /* below float32's resolution of the values: constant but for rounding */
        m->inv_sd[j] = sd > 1e-6 * fmax(1, fabs(mu)) ? (float)(1 / sd) : 0;
    }
}

static void standardise(const zf_linear *m, const float *x, int n, float *out) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m->dim; j++) {
            size_t k = (size_t)i * m->dim + j;
            out[k] = (x[k] - m->mu[j]) * m->inv_sd[j];
        }
}

static void quiet(const char *s) {
    (void)s;
}

/* liblinear's coordinate descent visits the examples in an order drawn with C's rand(): it is
 * seeded (srand) before each training so that results repeat; a caller's own use of rand()
 * sees the reseeding. */
static zf_status train_svm(zf_linear *m, const float *z, const int *y, int n, double c,
                           uint64_t seed, zf_error *err) {
    int dim = m->dim;
    struct feature_node *nodes = malloc(sizeof *nodes * (size_t)n * (dim + 2));
    struct feature_node **rows = malloc(sizeof *rows * (size_t)n);
    double *labels = malloc(sizeof(double) * (size_t)n);
    if (!nodes || !rows || !labels) {
        free(nodes), free(rows), free(labels);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %d x %d SVM features", n, dim);
    }
    for (int i = 0; i < n; i++) {
        struct feature_node *r = rows[i] = nodes + (size_t)i * (dim + 2);
        int k = 0;
        for (int j = 0; j < dim; j++)
            if (z[(size_t)i * dim + j] != 0)
                r[k++] = (struct feature_node){j + 1, z[(size_t)i * dim + j]};
        r[k++] = (struct feature_node){dim + 1, 1.0}; /* the bias feature */
        r[k] = (struct feature_node){-1, 0};
        labels[i] = y[i];
    }
    struct problem prob = {.l = n, .n = dim + 1, .y = labels, .x = rows, .bias = 1};
    struct parameter par = {.solver_type = L2R_L2LOSS_SVC_DUAL, .eps = 1e-4, .C = c};
#if LIBLINEAR_VERSION >= 240
    par.regularize_bias = 1; /* as 2.3 (and LinearSVC) do */
#endif
    const char *why = check_parameter(&prob, &par);
    zf_status st = ZF_OK;
    if (why) {
        st = zf_fail(err, ZF_ERR_ARG, "liblinear: %s", why);
    } else {
        set_print_string_function(quiet);
        srand((unsigned)(seed ^ seed >> 32));
        if (!(m->svm = train(&prob, &par))) st = zf_fail(err, ZF_ERR_NOMEM, "liblinear failed");
    }
    free(nodes), free(rows), free(labels);
    return st;
}

static zf_status train_softmax(zf_linear *m, const float *z, const int *y, int n, double wd,
                               uint64_t seed, int threads, zf_error *err) {
    char text[256];
    snprintf(text, sizeof text,
             "[net]\nname=linear\nchannels=%d\nheight=1\nwidth=1\nclasses=%d\n[fc]\nname=fc\n"
             "outputs=%d\n[softmax]\nname=prob\n",
             m->dim, m->classes, m->classes);
    zf_model *model;
    zf_status st = zf_model_parse(text, "softmax classifier", NULL, &model, err);
    if (st) return st;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = threads;
    no.seed = seed;
    st = zf_net_create(model, &no, &m->net, err);
    zf_model_free(model);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    if (!st && !labels) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        zf_init_options io;
        zf_init_defaults(&io);
        io.scheme = ZF_INIT_GAUSSIAN;
        io.std = 0.01;
        io.seed = zf_stream(seed, SEED_INIT, 0);
        zf_net_init_params(m->net, &io);
        for (int i = 0; i < n; i++) labels[i] = y[i];
        zf_examples ex = {.feats = z, .dim = m->dim, .labels = labels, .n = n};
        zf_sgd sg = {.steps = 500,
                     .batch = 64,
                     .lr = 0.01,
                     .momentum = 0.9,
                     .weight_decay = wd,
                     .seed = seed};
        st = zf_sgd_train(m->net, &ex, &sg, ZF_MODE_TRAIN, NULL, err);
    }
    free(labels);
    return st;
}

zf_status zf_linear_train(zf_classifier kind, const float *x, const int *y, int n, int dim,
                          int classes, double reg, uint64_t seed, int threads, zf_linear **out,
                          zf_error *err) {
    *out = NULL;
    if (n < 1 || dim < 1 || classes < 1 || !(reg >= 0) || kind < 0 || kind > ZF_CLASSIFIER_SVM)
        return zf_fail(err, ZF_ERR_ARG,
                       "a linear classifier needs rows, features, classes and "
                       "a regularisation >= 0");
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return zf_fail(err, ZF_ERR_RANGE, "label %d of row %d is not in 0..%d", y[i], i,
                           classes - 1);
    zf_linear *m = calloc(1, sizeof *m);
    float *z = malloc(sizeof(float) * (size_t)n * dim);
    if (m) m->mu = malloc(sizeof(float) * dim), m->inv_sd = malloc(sizeof(float) * dim);
    if (!m || !z || !m->mu || !m->inv_sd) {
        zf_linear_free(m), free(z);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %d x %d features", n, dim);
    }
    m->kind = kind, m->dim = dim, m->classes = classes;
    standardise_fit(m, x, n);
    standardise(m, x, n, z);
    zf_status st = kind == ZF_CLASSIFIER_SVM ? train_svm(m, z, y, n, reg, seed, err)
                                             : train_softmax(m, z, y, n, reg, seed, threads, err);
    free(z);
    if (st) {
        zf_linear_free(m);
        return st;
    }
    *out = m;
    return ZF_OK;
}

static void predict_svm(const zf_linear *m, const float *z, int n, int *pred,
                        struct feature_node *r) {
    for (int i = 0; i < n; i++) {
        int k = 0;
        for (int j = 0; j < m->dim; j++)
            if (z[(size_t)i * m->dim + j] != 0)
                r[k++] = (struct feature_node){j + 1, z[(size_t)i * m->dim + j]};
        r[k++] = (struct feature_node){m->dim + 1, 1.0};
        r[k] = (struct feature_node){-1, 0};
        pred[i] = (int)predict(m->svm, r);
    }
}

zf_status zf_linear_predict(const zf_linear *m, const float *x, int n, int *pred, zf_error *err) {
    float *z = malloc(sizeof(float) * (size_t)(n ? n : 1) * m->dim);
    struct feature_node *r = malloc(sizeof *r * (size_t)(m->dim + 2));
    zf_status st = z && r ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        standardise(m, x, n, z);
        if (m->kind == ZF_CLASSIFIER_SVM) {
            predict_svm(m, z, n, pred, r);
        } else {
            zf_examples ex = {.feats = z, .dim = m->dim, .n = n};
            st = zf_predict(m->net, &ex, pred, err);
        }
    }
    free(z), free(r);
    return st;
}
