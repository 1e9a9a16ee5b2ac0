/* Learning from a few examples (learn.h): draws, images in memory, views, SGD, predictions. */
#include "learn.h"

#include <math.h>
#include <string.h>

#define CHUNK      256 /* dataset items read at a time for predictions and cached outputs */
#define EVAL_BATCH 64

void zf_images_free(zf_images *im) {
    free(im->px);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

zf_status zf_images_read(const zf_dataset *d, const int *idx, int n, zf_images *out,
                         zf_error *err) {
    memset(out, 0, sizeof *out);
    out->s = zf_dataset_shape(d);
    size_t per = (size_t)out->s.c * out->s.h * out->s.w;
    out->px = malloc(per * (size_t)(n ? n : 1));
    out->labels = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!out->px || !out->labels) {
        zf_images_free(out);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %d images", n);
    }
    out->n = n;
    for (int i = 0; i < n; i++) {
        out->labels[i] = zf_dataset_label(d, idx[i]);
        zf_status st = zf_dataset_read(d, idx[i], out->px + per * i, err);
        if (st) {
            zf_images_free(out);
            return st;
        }
    }
    return ZF_OK;
}

/* items of class k, in dataset order: by + start[k] .. start[k + 1] */
static zf_status by_class(const zf_dataset *d, int **by, int **start, zf_error *err) {
    int n = zf_dataset_count(d), classes = zf_dataset_classes(d);
    *by = malloc(sizeof(int) * (size_t)(n ? n : 1));
    *start = calloc((size_t)classes + 2, sizeof(int));
    if (!*by || !*start) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) (*start)[zf_dataset_label(d, i) + 2]++;
    for (int k = 0; k < classes; k++) (*start)[k + 2] += (*start)[k + 1];
    for (int i = 0; i < n; i++) (*by)[(*start)[zf_dataset_label(d, i) + 1]++] = i;
    return ZF_OK;
}

static void shuffle_ints(int *v, int n, uint64_t seed) {
    zf_rng r;
    zf_rng_seed(&r, seed);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(zf_rng_next(&r) % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j], v[j] = t;
    }
}

zf_status zf_pick_per_class(const zf_dataset *d, int n, int shuffle, uint64_t seed, int **idx,
                            int *count, zf_error *err) {
    *idx = NULL, *count = 0;
    int classes = zf_dataset_classes(d), *by = NULL, *start = NULL, total = 0;
    zf_status st = by_class(d, &by, &start, err);
    for (int k = 0; !st && k < classes; k++) {
        int have = start[k + 1] - start[k];
        if (shuffle && n > have) {
            const char *name = zf_dataset_class_name(d, k);
            st = zf_fail(err, ZF_ERR_RANGE,
                         "%s: class %d%s%s%s holds %d images; %d per class asks for more",
                         zf_dataset_description(d), k, name ? " ('" : "", name ? name : "",
                         name ? "')" : "", have, n);
        }
        total += n && n < have ? n : have;
    }
    if (!st && !(*idx = malloc(sizeof(int) * (size_t)(total ? total : 1))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < classes; k++) {
        int have = start[k + 1] - start[k], take = n && n < have ? n : have;
        if (shuffle) shuffle_ints(by + start[k], have, zf_stream(seed, SEED_DRAW, (uint64_t)k));
        memcpy(*idx + *count, by + start[k], sizeof(int) * (size_t)take);
        *count += take;
    }
    free(by);
    free(start);
    return st;
}

zf_status zf_target_open(zf_target *g, const char *checkpoint, const char *train, const char *test,
                         int test_per_class, int threads, zf_precision precision, uint64_t seed,
                         const zf_callbacks *cb, zf_error *err) {
    memset(g, 0, sizeof *g);
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = threads, no.precision = precision;
    no.seed = seed;
    zf_status st = zf_checkpoint_open(checkpoint, &no, &g->net, &g->prep, err);
    if (!st) st = zf_data_prep_need_mean(&g->prep, err);
    if (!st) st = zf_open_prepared(&g->prep, train, cb, &g->train, err);
    if (!st) st = zf_open_prepared(&g->prep, test, cb, &g->test, err);
    if (!st) st = zf_check_prepared(g->net, &g->prep, g->train, err);
    if (!st) st = zf_check_prepared(g->net, &g->prep, g->test, err);
    if (st) return st;
    g->classes = zf_dataset_classes(g->train);
    if (zf_dataset_classes(g->test) > g->classes)
        return zf_fail(err, ZF_ERR_SHAPE, "%s has labels up to %d but %s only %d classes", test,
                       zf_dataset_classes(g->test) - 1, train, g->classes);
    st = zf_pick_per_class(g->test, test_per_class, 0, 0, &g->test_idx, &g->ntest, err);
    if (!st && !(g->test_y = malloc(sizeof(int) * (size_t)(g->ntest ? g->ntest : 1))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < g->ntest; i++)
        g->test_y[i] = zf_dataset_label(g->test, g->test_idx[i]);
    return st;
}

void zf_target_close(zf_target *g) {
    zf_net_free(g->net);
    zf_data_prep_free(&g->prep);
    zf_dataset_free(g->train);
    zf_dataset_free(g->test);
    free(g->test_idx);
    free(g->test_y);
    memset(g, 0, sizeof *g);
}

zf_status zf_draw_per_class(const zf_dataset *d, int n, uint64_t seed, int **idx, int *count,
                            zf_error *err) {
    if (n < 0) return zf_fail(err, ZF_ERR_RANGE, "images per class must be >= 0, not %d", n);
    return zf_pick_per_class(d, n, 1, seed, idx, count, err);
}

double zf_per_class_accuracy(const int *pred, const int *labels, int n, int classes,
                             double *per_class) {
    double sum = 0;
    int present = 0;
    for (int k = 0; k < classes; k++) {
        int total = 0, right = 0;
        for (int i = 0; i < n; i++)
            if (labels[i] == k) total++, right += pred[i] == k;
        double a = total ? (double)right / total : NAN;
        if (per_class) per_class[k] = a;
        if (total) sum += a, present++;
    }
    return present ? sum / present : NAN;
}

void zf_mean_std(const double *v, int n, double *mean, double *std) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = n ? s / n : NAN;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *std = n > 1 ? sqrt(q / (n - 1)) : 0;
}

/* ---- views and batches ------------------------------------------------------------------- */

/* Example i's input x (in): the crop at (oy, ox) of the mean-padded prepared image. */
static void image_view(const zf_examples *ex, int i, zf_shape in, int oy, int ox, int flip,
                       float *x) {
    const zf_images *im = ex->images;
    const zf_data_prep *p = ex->prep;
    zf_shape s = im->s;
    const uint8_t *img = im->px + (size_t)i * s.c * s.h * s.w;
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < in.h; y++)
            for (int xx = 0; xx < in.w; xx++) {
                int sy = y + oy - ex->pad, sx = (flip ? in.w - 1 - xx : xx) + ox - ex->pad;
                size_t k = ((size_t)c * s.h + sy) * s.w + sx;
                x[((size_t)c * in.h + y) * in.w + xx] =
                    sy < 0 || sy >= s.h || sx < 0 || sx >= s.w
                        ? 0
                        : ((float)img[k] - (p->mean ? p->mean[k] : 0)) * p->scale;
            }
}

/* Example i's input: its feature row, or a view (random ones drawn from `draw`'s seed). */
static void example_input(const zf_examples *ex, int i, zf_shape in, int random, uint64_t draw,
                          float *x) {
    if (ex->feats) {
        memcpy(x, ex->feats + (size_t)i * ex->dim, sizeof(float) * (size_t)ex->dim);
        return;
    }
    int ry = ex->images->s.h + 2 * ex->pad - in.h, rx = ex->images->s.w + 2 * ex->pad - in.w;
    int oy = ry / 2, ox = rx / 2, flip = 0;
    if (random) {
        uint64_t r = draw;
        oy = (int)(zf_splitmix64(&r) % (uint64_t)(ry + 1));
        ox = (int)(zf_splitmix64(&r) % (uint64_t)(rx + 1));
        flip = ex->flip && (zf_splitmix64(&r) & 1);
    }
    image_view(ex, i, in, oy, ox, flip, x);
}

void zf_examples_inputs(const zf_examples *ex, int i0, int n, zf_shape in, float *x) {
    size_t per = (size_t)in.c * in.h * in.w;
    for (int j = 0; j < n; j++) example_input(ex, i0 + j, in, 0, 0, x + per * j);
}

zf_sgd zf_sgd_of(const zf_transfer_options *o, uint64_t seed) {
    return (zf_sgd){.steps = o->steps,
                    .batch = o->batch,
                    .lr = o->lr,
                    .momentum = o->momentum,
                    .weight_decay = o->weight_decay,
                    .seed = seed};
}

typedef struct batcher {
    int *order, pos, pass;
    float *x;
    int64_t *y;
} batcher;

/* the next b examples of the permutation (reshuffled each pass) */
static void next_batch(batcher *bt, const zf_examples *ex, const zf_sgd *sg, zf_shape in, int b,
                       long step) {
    size_t per = (size_t)in.c * in.h * in.w;
    for (int j = 0; j < b; j++) {
        if (bt->pos == ex->n) {
            for (int i = 0; i < ex->n; i++) bt->order[i] = i;
            shuffle_ints(bt->order, ex->n, zf_stream(sg->seed, SEED_ORDER, (uint64_t)bt->pass++));
            bt->pos = 0;
        }
        int i = bt->order[bt->pos++];
        example_input(ex, i, in, ex->random, zf_stream(sg->seed, SEED_CROP, (uint64_t)step * b + j),
                      bt->x + per * j);
        bt->y[j] = ex->labels[i];
    }
}

zf_status zf_sgd_train(zf_net *net, const zf_examples *ex, const zf_sgd *sg, zf_mode mode,
                       const zf_callbacks *cb, zf_error *err) {
    int b = sg->batch < ex->n ? sg->batch : ex->n;
    zf_shape in = zf_net_input_shape(net);
    batcher bt = {.order = malloc(sizeof(int) * (size_t)ex->n), .pos = ex->n};
    bt.x = malloc(sizeof(float) * (size_t)b * in.c * in.h * in.w);
    bt.y = malloc(sizeof(int64_t) * (size_t)b);
    zf_status st = bt.order && bt.x && bt.y ? zf_net_reserve(net, b, err)
                                            : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    zf_net_set_input_grad(net, 0);
    double loss = 0;
    for (long step = 0; !st && step < sg->steps; step++) {
        double lr =
            sg->lr * (step >= sg->steps / 2 ? 0.1 : 1) * (step >= 3L * sg->steps / 4 ? 0.1 : 1);
        next_batch(&bt, ex, sg, in, b, step);
        zf_net_reseed(net, zf_stream(sg->seed, SEED_DROPOUT, (uint64_t)step));
        if ((st = zf_net_set_input(net, bt.x, b, err)) ||
            (st = zf_net_set_labels(net, bt.y, b, err)) ||
            (st = zf_net_forward(net, mode, -1, err)) || (st = zf_net_loss(net, &loss, err)))
            break;
        zf_net_zero_grads(net);
        if (!isfinite(loss) || (st = zf_net_backward(net, err)) ||
            (st = zf_net_sgd_step(net, (float)lr, (float)sg->momentum, (float)sg->weight_decay,
                                  err)) ||
            zf_net_first_nonfinite(net, 0) >= 0) {
            if (!st)
                st = zf_fail(err, ZF_ERR_DIVERGED,
                             "training step %ld: the %s became NaN or Inf at learning rate %g: "
                             "lower the rate (--lr)",
                             step + 1, isfinite(loss) ? "weights" : "loss", lr);
            break;
        }
        if (step % 25 == 24 || step == sg->steps - 1) {
            char extra[64];
            snprintf(extra, sizeof extra, "loss %.4f", loss);
            zf_progress(cb, "training", step + 1, sg->steps, extra);
        }
    }
    zf_progress(cb, NULL, 0, 0, NULL);
    zf_net_set_input_grad(net, 1);
    free(bt.order);
    free(bt.x);
    free(bt.y);
    return st;
}

zf_status zf_forward_rows(zf_net *net, int k, const zf_examples *ex, float *rows, zf_error *err) {
    if (k < 0) k = zf_net_num_layers(net) - 1;
    zf_layer_info li;
    zf_net_layer_info(net, k, &li);
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w, dim = (size_t)li.out.c * li.out.h * li.out.w;
    float *x = malloc(sizeof(float) * per * EVAL_BATCH);
    zf_status st =
        x ? zf_net_reserve(net, EVAL_BATCH, err) : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int i0 = 0; !st && i0 < ex->n; i0 += EVAL_BATCH) {
        int b = ex->n - i0 < EVAL_BATCH ? ex->n - i0 : EVAL_BATCH;
        zf_examples_inputs(ex, i0, b, in, x);
        if (!(st = zf_net_set_input(net, x, b, err)) &&
            !(st = zf_net_forward(net, ZF_MODE_INFER, k, err)))
            st = zf_net_read_output(net, k, rows + dim * i0, err);
    }
    free(x);
    return st;
}

static void argmax_rows(const float *rows, int n, int classes, int *pred) {
    for (int i = 0; i < n; i++) {
        const float *r = rows + (size_t)i * classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (r[c] > r[best]) best = c;
        pred[i] = best;
    }
}

zf_status zf_predict(zf_net *net, const zf_examples *ex, int *pred, zf_error *err) {
    int classes = zf_net_classes(net);
    float *rows = malloc(sizeof(float) * (size_t)classes * (ex->n ? ex->n : 1));
    zf_status st = rows ? zf_forward_rows(net, -1, ex, rows, err)
                        : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) argmax_rows(rows, ex->n, classes, pred);
    free(rows);
    return st;
}

zf_status zf_predict_images(zf_net *net, const zf_data_prep *p, int pad, const zf_dataset *d,
                            const int *idx, int n, int *pred, zf_error *err) {
    float *rows;
    int classes;
    zf_status st = zf_layer_outputs(net, -1, p, pad, d, idx, n, &rows, &classes, err);
    if (st) return st;
    argmax_rows(rows, n, classes, pred);
    free(rows);
    return ZF_OK;
}

static size_t output_size(const zf_net *net, int k) {
    zf_layer_info li;
    if (k < 0) k = zf_net_num_layers(net) - 1;
    zf_net_layer_info(net, k, &li);
    return (size_t)li.out.c * li.out.h * li.out.w;
}

zf_status zf_images_outputs(zf_net *net, int k, const zf_data_prep *p, int pad, const zf_images *im,
                            float **out, int *dim, zf_error *err) {
    *dim = (int)output_size(net, k);
    if (!(*out = malloc(sizeof(float) * (size_t)*dim * (im->n ? im->n : 1))))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %d x %d features", im->n, *dim);
    zf_examples ex = {.images = im, .prep = p, .pad = pad, .n = im->n};
    zf_status st = zf_forward_rows(net, k, &ex, *out, err);
    if (st) free(*out), *out = NULL;
    return st;
}

zf_status zf_layer_outputs(zf_net *net, int k, const zf_data_prep *p, int pad, const zf_dataset *d,
                           const int *idx, int n, float **out, int *dim, zf_error *err) {
    size_t m = output_size(net, k);
    *dim = (int)m;
    if (!(*out = malloc(sizeof(float) * m * (size_t)(n ? n : 1))))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %d x %zu features", n, m);
    zf_status st = ZF_OK;
    for (int i0 = 0; !st && i0 < n; i0 += CHUNK) {
        zf_images im;
        int c = n - i0 < CHUNK ? n - i0 : CHUNK;
        if ((st = zf_images_read(d, idx + i0, c, &im, err))) break;
        zf_examples ex = {.images = &im, .prep = p, .pad = pad, .n = c};
        st = zf_forward_rows(net, k, &ex, *out + m * i0, err);
        zf_images_free(&im);
    }
    if (st) free(*out), *out = NULL;
    return st;
}
