/* Transfer and few-shot learning (ZF §5.2, Tables 4-6, Fig. 9): a pretrained net with a new
 * classifier trained on a few images per class of another set, scored by mean per-class
 * accuracy over folds (draws); the same net trained from scratch; fine-tuning.
 *
 * The frozen layers are computed once per image (their outputs cached); the layers above them
 * are a slice of the target net (zf_net_slice, sharing its weights) trained on the cache. */
#include "learn.h"

#include <math.h>
#include <string.h>

void zf_transfer_defaults(zf_transfer_options *o) {
    *o = (zf_transfer_options){.folds = 5,
                               .steps = 500,
                               .batch = 64,
                               .lr = 0.01,
                               .momentum = 0.9,
                               .weight_decay = 5e-4,
                               .base_lr_scale = 0.1,
                               .crop_pad = -1,
                               .cache = 1,
                               .seed = 1};
}

void zf_transfer_result_free(zf_transfer_result *r) {
    free(r->accuracy);
    free(r->class_accuracy);
    memset(r, 0, sizeof *r);
}

static zf_status check_options(const zf_transfer_options *o, zf_error *err) {
    if (!o->checkpoint || !o->train || !o->test)
        return zf_fail(err, ZF_ERR_ARG, "transfer needs a checkpoint, a training and a test set");
    if (o->mode < ZF_TRANSFER_FROZEN || o->mode > ZF_TRANSFER_SCRATCH)
        return zf_fail(err, ZF_ERR_ARG, "no transfer mode %d", (int)o->mode);
    if (o->folds < 1 || o->folds > 1000)
        return zf_fail(err, ZF_ERR_RANGE, "folds must be 1..1000, not %d", o->folds);
    if (o->per_class < 0 || o->test_per_class < 0)
        return zf_fail(err, ZF_ERR_RANGE, "images per class must be >= 0 (0: all)");
    if (o->steps < 1 || o->batch < 1)
        return zf_fail(err, ZF_ERR_RANGE, "steps and batch must be >= 1, not %d and %d", o->steps,
                       o->batch);
    if (!(o->lr > 0) || !(o->momentum >= 0) || !(o->weight_decay >= 0) || !(o->base_lr_scale >= 0))
        return zf_fail(err, ZF_ERR_RANGE,
                       "the rate must be > 0; momentum, weight decay and the base rate's factor "
                       ">= 0");
    return ZF_OK;
}

/* ---- one target net per fold ------------------------------------------------------------- */

typedef struct transfer_run {
    const zf_transfer_options *o;
    zf_target g;     /* the pretrained net, its preparation, the target set */
    zf_model *model; /* the pretrained model with the target's classes */
    int head, freeze, pad;
    float *test_feats; /* FROZEN, cached: layer `freeze`'s outputs for the test images */
    int dim;
} transfer_run;

/* The pretrained model with the last fc giving the target's classes. */
static zf_status target_model(transfer_run *t, zf_error *err) {
    const zf_model *m = zf_net_model(t->g.net);
    t->head = -1;
    for (int i = 0; i < zf_net_num_layers(t->g.net); i++) {
        zf_layer_info li;
        zf_net_layer_info(t->g.net, i, &li);
        if (li.kind == ZF_LAYER_FC) t->head = i;
    }
    if (t->head < 0)
        return zf_fail(err, ZF_ERR_ARG, "%s: model '%s' has no fc layer to replace",
                       t->o->checkpoint, zf_model_name(m));
    zf_layer_info li;
    zf_net_layer_info(t->g.net, t->head, &li);
    char edit[128];
    snprintf(edit, sizeof edit, "%s.outputs=%d; net.classes=%d", li.name, t->g.classes,
             t->g.classes);
    return zf_model_edit(m, edit, &t->model, err);
}

static zf_status choose_freeze(transfer_run *t, zf_error *err) {
    const zf_transfer_options *o = t->o;
    t->freeze = t->head - 1;
    if (o->mode != ZF_TRANSFER_FROZEN) t->freeze = -1;
    if (o->mode != ZF_TRANSFER_FROZEN) return ZF_OK;
    zf_status st = o->freeze ? zf_net_parse_stage(t->g.net, o->freeze, &t->freeze, err) : ZF_OK;
    if (st) return st;
    if (t->freeze < 0)
        return zf_fail(err, ZF_ERR_ARG,
                       "model '%s' has nothing below its classifier to freeze: use --finetune or "
                       "--scratch",
                       zf_model_name(zf_net_model(t->g.net)));
    if (t->freeze >= t->head) {
        zf_layer_info li, hi;
        zf_net_layer_info(t->g.net, t->freeze, &li);
        zf_net_layer_info(t->g.net, t->head, &hi);
        return zf_fail(err, ZF_ERR_RANGE,
                       "freezing up to '%s' leaves nothing to train: the classifier %s is layer "
                       "%d; freeze at most layer %d",
                       li.name, hi.name, t->head, t->head - 1);
    }
    return ZF_OK;
}

static zf_status open_run(transfer_run *t, zf_error *err) {
    const zf_transfer_options *o = t->o;
    zf_status st = zf_target_open(&t->g, o->checkpoint, o->train, o->test, o->test_per_class,
                                  o->threads, o->precision, o->seed, &o->cb, err);
    if (st) return st;
    t->pad = o->crop_pad >= 0 ? o->crop_pad : t->g.prep.pad;
    zf_shape s = zf_dataset_shape(t->g.train), in = zf_net_input_shape(t->g.net);
    if (s.h + 2 * t->pad < in.h || s.w + 2 * t->pad < in.w)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "%dx%d images padded by %d are smaller than the %dx%d input", s.h, s.w,
                       t->pad, in.h, in.w);
    if ((st = target_model(t, err))) return st;
    return choose_freeze(t, err);
}

static void close_run(transfer_run *t) {
    zf_target_close(&t->g);
    zf_model_free(t->model);
    free(t->test_feats);
}

/* Fold f's starting net: the pretrained weights (but the new classifier, N(0, 0.01^2)), or
 * He-initialised for SCRATCH; the rate's factors for the mode. */
static zf_status fold_net(transfer_run *t, int f, zf_net **out, zf_error *err) {
    const zf_transfer_options *o = t->o;
    zf_net_options no = zf_net_options_of(t->g.net);
    no.seed = zf_stream(zf_mix64(o->seed, (uint64_t)f), SEED_INIT, 0);
    zf_status st = zf_net_create(t->model, &no, out, err);
    if (st) return st;
    zf_net *net = *out;
    int scratch = o->mode == ZF_TRANSFER_SCRATCH;
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = scratch ? ZF_INIT_HE : ZF_INIT_GAUSSIAN;
    io.seed = no.seed;
    zf_net_init_params(net, &io);
    for (int k = 0; !scratch && k < zf_net_num_param_tensors(net); k++) {
        zf_param_info pi, ps;
        zf_net_param_info(net, k, &pi);
        int j = zf_net_find_param(t->g.net, pi.name);
        if (pi.layer == t->head || j < 0) continue;
        zf_net_param_info(t->g.net, j, &ps);
        memcpy(zf_net_params(net) + pi.offset, zf_net_params(t->g.net) + ps.offset,
               sizeof(float) * pi.count);
    }
    for (int i = 0; !st && i < t->head; i++) {
        double f0 = o->mode == ZF_TRANSFER_FROZEN     ? (i <= t->freeze ? 0 : 1)
                    : o->mode == ZF_TRANSFER_FINETUNE ? o->base_lr_scale
                                                      : 1;
        st = zf_net_set_lr_scale(net, i, (float)f0, err);
    }
    return st;
}

/* ---- a fold --------------------------------------------------------------------------- */

static zf_status save_fold(const transfer_run *t, zf_net *net, zf_error *err) {
    zf_data_prep p = t->g.prep;
    p.classes = t->g.classes;
    p.class_names = NULL;
    char **names = calloc((size_t)t->g.classes, sizeof *names);
    for (int k = 0; names && k < t->g.classes; k++)
        names[k] = (char *)zf_dataset_class_name(t->g.train, k);
    if (names && names[0]) p.class_names = names;
    zf_checkpoint_data cd = {.prep = &p};
    zf_status st = zf_checkpoint_write(net, t->o->save, &cd, err);
    free(names);
    return st;
}

/* FROZEN with the cache: the layers above `freeze` trained on its outputs. */
static zf_status fold_cached(transfer_run *t, zf_net *net, const zf_images *tr, uint64_t seed,
                             int *pred, double *feat_s, zf_error *err) {
    double t0 = zf_now();
    zf_status st = ZF_OK;
    if (!t->test_feats)
        st = zf_layer_outputs(net, t->freeze, &t->g.prep, t->pad, t->g.test, t->g.test_idx,
                              t->g.ntest, &t->test_feats, &t->dim, err);
    float *feats = NULL;
    if (!st) st = zf_images_outputs(net, t->freeze, &t->g.prep, t->pad, tr, &feats, &t->dim, err);
    *feat_s += zf_now() - t0;
    zf_net *tail = NULL;
    zf_layer_info li;
    zf_net_layer_info(net, t->freeze, &li);
    if (!st)
        st = zf_net_slice(net, t->freeze + 1, zf_net_num_layers(net) - 1, li.out, 0, &tail, err);
    zf_examples ex = {.feats = feats, .dim = t->dim, .labels = tr->labels, .n = tr->n};
    zf_sgd sg = zf_sgd_of(t->o, seed);
    if (!st) st = zf_sgd_train(tail, &ex, &sg, ZF_MODE_TRAIN, &t->o->cb, err);
    zf_examples te = {.feats = t->test_feats, .dim = t->dim, .n = t->g.ntest};
    if (!st) st = zf_predict(tail, &te, pred, err);
    zf_net_free(tail);
    free(feats);
    return st;
}

/* Through the whole net: FROZEN's reference (inference mode, frozen layers' rate 0), FINETUNE
 * and SCRATCH (random crops). */
static zf_status fold_through(transfer_run *t, zf_net *net, const zf_images *tr, uint64_t seed,
                              int *pred, zf_error *err) {
    int frozen = t->o->mode == ZF_TRANSFER_FROZEN;
    zf_examples ex = {.images = tr,
                      .prep = &t->g.prep,
                      .pad = t->pad,
                      .random = !frozen,
                      .flip = !frozen && t->o->flip,
                      .labels = tr->labels,
                      .n = tr->n};
    zf_sgd sg = zf_sgd_of(t->o, seed);
    zf_status st =
        zf_sgd_train(net, &ex, &sg, frozen ? ZF_MODE_INFER : ZF_MODE_TRAIN, &t->o->cb, err);
    if (!st)
        st = zf_predict_images(net, &t->g.prep, t->pad, t->g.test, t->g.test_idx, t->g.ntest, pred,
                               err);
    return st;
}

static zf_status run_fold(transfer_run *t, int f, zf_transfer_result *r, zf_error *err) {
    const zf_transfer_options *o = t->o;
    uint64_t seed = zf_mix64(o->seed, (uint64_t)f);
    zf_net *net = NULL;
    zf_images tr = {0};
    int *idx = NULL, n = 0, *pred = malloc(sizeof(int) * (size_t)t->g.ntest);
    zf_status st = pred ? zf_draw_per_class(t->g.train, o->per_class, seed, &idx, &n, err)
                        : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_images_read(t->g.train, idx, n, &tr, err);
    if (!st) st = fold_net(t, f, &net, err);
    if (!st && o->mode == ZF_TRANSFER_FROZEN && o->cache)
        st = fold_cached(t, net, &tr, seed, pred, &r->feature_seconds, err);
    else if (!st)
        st = fold_through(t, net, &tr, seed, pred, err);
    if (!st) {
        r->accuracy[f] = zf_per_class_accuracy(pred, t->g.test_y, t->g.ntest, t->g.classes,
                                               r->class_accuracy + (size_t)f * t->g.classes);
        r->train_images = n;
    }
    if (!st && f == 0 && o->save) st = save_fold(t, net, err);
    zf_net_free(net);
    zf_images_free(&tr);
    free(idx);
    free(pred);
    return st;
}

zf_status zf_transfer(const zf_transfer_options *o, zf_transfer_result *r, zf_error *err) {
    memset(r, 0, sizeof *r);
    zf_status st = check_options(o, err);
    if (st) return st;
    double t0 = zf_now();
    transfer_run t = {.o = o};
    st = open_run(&t, err);
    if (!st) {
        r->folds = o->folds, r->classes = t.g.classes, r->freeze = t.freeze;
        r->test_images = t.g.ntest;
        r->accuracy = calloc((size_t)o->folds, sizeof *r->accuracy);
        r->class_accuracy = calloc((size_t)o->folds * t.g.classes, sizeof *r->class_accuracy);
        if (!r->accuracy || !r->class_accuracy) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    for (int f = 0; !st && f < o->folds; f++) {
        st = run_fold(&t, f, r, err);
        if (!st)
            zf_notice(&o->cb, ZF_NOTICE_INFO, "fold %d/%d: %.2f%% mean per-class accuracy", f + 1,
                      o->folds, 100 * r->accuracy[f]);
    }
    close_run(&t);
    if (st) {
        zf_transfer_result_free(r);
        return st;
    }
    zf_mean_std(r->accuracy, r->folds, &r->mean, &r->std);
    r->seconds = zf_now() - t0;
    return ZF_OK;
}
