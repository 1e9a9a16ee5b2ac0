/* The training run: SGD with momentum and weight decay, a step or plateau schedule, the
 * paper's filter renormalisation, evaluation after every epoch, and the run folder
 * (run_folder.c).
 *
 * Exact resumes: the loader's batches depend only on (seed, epoch, position), dropout is
 * reseeded from (seed, step) before every step, and state.safetensors holds the weights, the
 * momentum and every counter; a run resumed from any saved state computes what the
 * uninterrupted run computes from there. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

void zf_train_defaults(zf_train_options *o) {
    *o = (zf_train_options){.model = "zfnet-mini",
                            .train = "fashion-mnist",
                            .test = "fashion-mnist:test",
                            .out = "zfnet-run",
                            .epochs = 30,
                            .batch = 128,
                            .lr = 0.05,
                            .momentum = 0.9,
                            .weight_decay = 5e-4,
                            .lr_steps = {20, 26},
                            .nlr_steps = 2,
                            .patience = 2,
                            .crop_pad = 2,
                            .flip = 1,
                            .input_scale = 1.0 / 255,
                            .init = ZF_INIT_HE,
                            .seed = 1,
                            .loader_threads = 2,
                            .state_every = 300,
                            .bucket_mb = 25};
}

/* The ranges `zfnet train` accepts, applied to whatever the options came from (a caller of
 * the library, or a saved state on --resume: `where` names it). */
typedef struct range_check {
    const char *name;
    double value, lo, hi;
} range_check;

zf_status train_check_options(const zf_train_options *c, const char *where, zf_error *err) {
    const zf_model_overrides *ov = &c->overrides;
    const range_check r[] = {{"epochs", c->epochs, 1, 100000},
                             {"batch", c->batch, 1, 4096},
                             {"lr", c->lr, 0, 10},
                             {"momentum", c->momentum, 0, 0.9999},
                             {"weight_decay", c->weight_decay, 0, 1},
                             {"patience", c->patience, 1, 1000},
                             {"renorm", c->renorm, 0, 1e6},
                             {"crop_pad", c->crop_pad, 0, 256},
                             {"input_scale", c->input_scale, 1e-9, 1e9},
                             {"init", c->init, 0, ZF_INIT_XAVIER},
                             {"init_std", c->init_std, 0, 10},
                             {"data_size", c->data_size, 0, 8192},
                             {"mean_images", c->mean_images, 0, 1 << 30},
                             {"state_every", c->state_every, 0, 1e9},
                             {"classes", ov->classes, 0, 1e6},
                             {"channels", ov->channels, 0, 65536},
                             {"height", ov->height, 0, 65536},
                             {"width", ov->width, 0, 65536},
                             {"lr_steps", c->nlr_steps, 0, 32},
                             {"snapshot_epochs", c->nsnapshots, 0, 64},
                             {"flip", c->flip, 0, 1},
                             {"lr_plateau", c->lr_plateau, 0, 1},
                             {"stop_on_bad", c->stop_on_bad, 0, 1},
                             {"threads", c->threads, 0, 4096},
                             {"loader_threads", c->loader_threads, 1, 256}};
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++)
        if (!(r[k].value >= r[k].lo && r[k].value <= r[k].hi)) /* NaN fails too */
            return zf_fail(err, ZF_ERR_RANGE, "%s%s = %g is out of range [%g, %g]", where,
                           r[k].name, r[k].value, r[k].lo, r[k].hi);
    for (int k = 0; k < c->nlr_steps; k++)
        if (c->lr_steps[k] < 1 || c->lr_steps[k] > 1000000)
            return zf_fail(err, ZF_ERR_RANGE, "%slr_steps: %d is not an epoch", where,
                           c->lr_steps[k]);
    for (int k = 0; k < c->nsnapshots; k++)
        if (c->snapshots[k] < 1 || c->snapshots[k] > 1000000)
            return zf_fail(err, ZF_ERR_RANGE, "%ssnapshot_epochs: %d is not an epoch", where,
                           c->snapshots[k]);
    if (c->init == ZF_INIT_GAUSSIAN && !(c->init_std > 0))
        return zf_fail(err, ZF_ERR_RANGE, "%sinit_std = %g: the Gaussian's std must be positive",
                       where, c->init_std);
    return ZF_OK;
}

static double lr_at(const zf_train_options *c, int epoch) {
    double lr = c->lr;
    for (int k = 0; k < c->nlr_steps; k++)
        if (c->lr_steps[k] < epoch) lr /= 10;
    return lr;
}

static int has_test(const zf_train_options *c) {
    return c->test && strcmp(c->test, "none");
}

static zf_status open_data(trainer *t, const char *spec, zf_dataset **d, zf_error *err) {
    zf_dataset_options o;
    zf_dataset_defaults(&o);
    o.size = t->c.data_size, o.channels = t->c.overrides.channels;
    o.stop_on_bad = t->c.stop_on_bad;
    zf_status st = zf_dataset_open(spec, &o, d, err);
    if (!st) zf_notice_skipped(&t->c.cb, *d);
    return st;
}

static zf_status load_net(zf_net **net, const zf_train_options *c, const zf_model_overrides *ov,
                          zf_error *err) {
    zf_model *m;
    zf_status st = zf_model_load(c->model, ov, &m, err);
    if (st) return st;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = c->threads, no.seed = c->seed, no.precision = c->precision;
    st = zf_net_create(m, &no, net, err);
    zf_model_free(m);
    return st;
}

/* The model for the data: channels and classes from the training set; the input size from
 * the model unless the images are too small to crop it, then from the images. */
static zf_status open_net(trainer *t, zf_error *err) {
    const zf_train_options *c = &t->c;
    zf_shape s = zf_dataset_shape(t->tr);
    zf_model_overrides ov = c->overrides;
    if (!ov.channels) ov.channels = s.c;
    if (!ov.classes) ov.classes = zf_dataset_classes(t->tr);
    zf_status st = load_net(&t->net, c, &ov, err);
    if (st) return st;
    zf_shape in = zf_net_input_shape(t->net);
    if (!c->overrides.height && (in.h > s.h + 2 * c->crop_pad || in.w > s.w + 2 * c->crop_pad)) {
        zf_net_free(t->net);
        t->net = NULL;
        ov.height = s.h, ov.width = s.w;
        st = load_net(&t->net, c, &ov, err);
    }
    zf_layer_info last;
    if (!st && (zf_net_layer_info(t->net, zf_net_num_layers(t->net) - 1, &last) ||
                last.kind != ZF_LAYER_SOFTMAX))
        st = zf_fail(err, ZF_ERR_ARG,
                     "model '%s' does not end with a softmax layer: no loss to train",
                     zf_model_name(zf_net_model(t->net)));
    return st;
}

/* The data preparation the checkpoints record: the training set's shape, mean and names. */
static zf_status init_prep(trainer *t, zf_error *err) {
    zf_shape ds = zf_dataset_shape(t->tr);
    t->prep = (zf_data_prep){.shape = ds,
                             .scale = (float)t->c.input_scale,
                             .pad = t->c.crop_pad,
                             .classes = zf_net_classes(t->net)};
    if (zf_dataset_class_name(t->tr, 0) &&
        (t->prep.class_names = calloc((size_t)t->prep.classes, sizeof(char *))))
        for (int k = 0; k < t->prep.classes; k++) {
            const char *n = zf_dataset_class_name(t->tr, k);
            t->prep.class_names[k] = strdup(n ? n : "?");
        }
    if (!(t->prep.mean = malloc(sizeof(float) * (size_t)ds.c * ds.h * ds.w)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

static zf_status open_all(trainer *t, zf_error *err) {
    zf_status st = open_data(t, t->c.train, &t->tr, err);
    if (!st && has_test(&t->c)) st = open_data(t, t->c.test, &t->te, err);
    if (!st) st = open_net(t, err);
    if (st) return st;
    zf_shape ds = zf_dataset_shape(t->tr);
    if (t->te) {
        zf_shape ts = zf_dataset_shape(t->te);
        if (!zf_shape_equal(ts, ds))
            return zf_fail(err, ZF_ERR_SHAPE,
                           "the test set's images are %dx%dx%d, the training set's %dx%dx%d", ts.c,
                           ts.h, ts.w, ds.c, ds.h, ds.w);
    }
    zf_net_set_inplace_relu(t->net, 1);
    zf_net_set_input_grad(t->net, 0);
    if ((st = zf_net_reserve(t->net, t->c.batch, err)) || (st = init_prep(t, err))) return st;
    return ZF_OK;
}

/* The run folder can be written (or made): checked before any work. */
static zf_status out_writable(const char *out, zf_error *err) {
    struct stat sb;
    if (!stat(out, &sb)) {
        if (!S_ISDIR(sb.st_mode)) return zf_fail(err, ZF_ERR_IO, "%s: not a folder", out);
        if (access(out, W_OK | X_OK))
            return zf_fail(err, ZF_ERR_IO, "%s: cannot write there: %s", out, strerror(errno));
        return ZF_OK;
    }
    if (errno != ENOENT) return zf_fail(err, ZF_ERR_IO, "%s: %s", out, strerror(errno));
    char *copy = strdup(out);
    if (!copy) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    const char *parent = dirname(copy);
    int bad = access(parent, W_OK | X_OK);
    zf_status st = bad ? zf_fail(err, ZF_ERR_IO, "%s: cannot create it in %s: %s", out, parent,
                                 strerror(errno))
                       : ZF_OK;
    free(copy);
    return st;
}

/* The run folder, made when everything else has been checked; temporary files an interrupted
 * save left (a kill while writing) are removed. */
static zf_status make_out(trainer *t, zf_error *err) {
    if (!mkdir(t->c.out, 0755))
        t->made_out = 1;
    else if (errno != EEXIST)
        return zf_fail(err, ZF_ERR_IO, "%s: cannot create: %s", t->c.out, strerror(errno));
    DIR *d = opendir(t->c.out);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *tmp = strstr(e->d_name, ".tmp.");
        if (!tmp || strlen(tmp) != 11 ||
            (strncmp(e->d_name, "metrics.jsonl", 13) && !strstr(e->d_name, ".safetensors.tmp.")))
            continue;
        snprintf(t->path, sizeof t->path, "%s/%s", t->c.out, e->d_name);
        if (!unlink(t->path))
            zf_notice(&t->c.cb, ZF_NOTICE_WARNING, "removed %s, left by an interrupted save",
                      t->path);
    }
    if (d) closedir(d);
    return ZF_OK;
}

/* Whether the state on disk holds any training (more than the initial weights). */
static int progress_saved(const trainer *t) {
    return t->saved && (t->saved_epoch || t->saved_batch);
}

/* A run that fails before it saved any progress leaves no folder it made (one stopped on
 * request keeps it: it is resumable). */
static void unmake_out(trainer *t, zf_status st) {
    /* a write that failed (a full disk) keeps the saved state: --resume continues from it */
    if (!t->made_out || progress_saved(t) || st == ZF_ERR_CANCELLED || st == ZF_ERR_IO) return;
    const char *names[] = {"metrics.jsonl", "state.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(t->path, sizeof t->path, "%s/%s", t->c.out, names[i]);
        unlink(t->path);
    }
    rmdir(t->c.out);
}

static void announce(trainer *t) {
    if (t->ranks > 1)
        zf_notice(&t->c.cb, ZF_NOTICE_INFO,
                  "data-parallel over MPI: %d processes x batch %d = batch %d per step", t->ranks,
                  t->c.batch, t->ranks * t->c.batch);
    if (!t->c.on_start) return;
    zf_train_info info = {.model_name = zf_model_name(zf_net_model(t->net)),
                          .input = zf_net_input_shape(t->net),
                          .classes = zf_net_classes(t->net),
                          .params = zf_net_num_params(t->net),
                          .train_description = zf_dataset_description(t->tr),
                          .train_images = zf_dataset_count(t->tr),
                          .test_images = t->te ? zf_dataset_count(t->te) : -1,
                          .resumed = t->c.resume,
                          .epoch_done = t->rs.epoch_done,
                          .next_batch = t->rs.next_batch,
                          .out = t->c.out,
                          .train_spec = t->c.train,
                          .precision = zf_net_precision(t->net)};
    t->c.on_start(t->c.ctx, &info);
}

/* Resumed: the weights, momentum and data mean of the state. Fresh: initial weights and the
 * training set's per-pixel mean. */
static zf_status start_weights(trainer *t, zf_error *err) {
    const zf_train_options *c = &t->c;
    if (c->resume) {
        snprintf(t->path, sizeof t->path, "%s/state.safetensors", c->out);
        zf_status st = zf_checkpoint_load_state(t->net, t->path, err);
        zf_data_prep saved;
        if (!st) st = zf_data_prep_load(t->path, &saved, err);
        if (st) return st;
        zf_shape ds = t->prep.shape, ms = saved.shape;
        int ok = saved.mean && zf_shape_equal(ms, ds);
        if (ok) memcpy(t->prep.mean, saved.mean, sizeof(float) * (size_t)ds.c * ds.h * ds.w);
        zf_data_prep_free(&saved);
        return ok ? ZF_OK
                  : zf_fail(err, ZF_ERR_SHAPE,
                            "%s: its data.mean does not match the training images", t->path);
    }
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = c->init, io.std = c->init_std, io.seed = c->seed;
    zf_net_init_params(t->net, &io);
    t->rs = (run_state){.lr = lr_at(c, 1), .best = -1, .plateau_best = -1};
    if (t->rank) return ZF_OK; /* rank 0's weights and mean are broadcast */
    double t0 = zf_now();
    zf_status st = zf_dataset_mean(t->tr, c->mean_images, c->loader_threads, t->prep.mean, err);
    if (!st && zf_now() - t0 > 1)
        zf_notice(&c->cb, ZF_NOTICE_INFO, "per-pixel mean: %.1f s", zf_now() - t0);
    return st;
}

static zf_status make_loader(trainer *t, zf_error *err) {
    const zf_train_options *c = &t->c;
    zf_shape in = zf_net_input_shape(t->net);
    zf_loader_options lo;
    zf_loader_defaults(&lo);
    lo.batch = c->batch, lo.height = in.h, lo.width = in.w, lo.pad = c->crop_pad;
    lo.crop = ZF_CROP_RANDOM, lo.flip = c->flip, lo.shuffle = 1, lo.drop_last = 1;
    lo.scale = (float)c->input_scale, lo.mean = t->prep.mean, lo.seed = c->seed;
    lo.threads = c->loader_threads, lo.stop_on_bad = c->stop_on_bad;
    lo.parts = t->ranks, lo.part = t->rank;
    zf_status st = zf_loader_create(t->tr, &lo, &t->loader, err);
    if (st) return st;
    if (zf_loader_batches(t->loader) == 0)
        return zf_fail(err, ZF_ERR_ARG, "%s: %d images make no batch of %d%s",
                       zf_dataset_description(t->tr), zf_dataset_count(t->tr), c->batch * t->ranks,
                       t->ranks > 1 ? " (the batch x the processes)" : "");
    if (t->rs.next_batch > zf_loader_batches(t->loader))
        return zf_fail(err, ZF_ERR_RANGE,
                       "%s/state.safetensors: saved batch %d is beyond the epoch's %d batches",
                       c->out, t->rs.next_batch, zf_loader_batches(t->loader));
    if (t->te && !(t->acc = malloc(sizeof(float) * (size_t)zf_dataset_count(t->te) *
                                   zf_net_classes(t->net))))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

/* A NaN or an Inf at this step: what, where, and the last good state. */
static zf_status diverged(trainer *t, int epoch, int b, const char *what, const char *name,
                          zf_error *err) {
    char saved[4400] = "nothing is saved beyond the initial weights";
    if (progress_saved(t))
        snprintf(saved, sizeof saved, "the last good state is %s/state.safetensors (%s %d%s)",
                 t->c.out, t->saved_batch ? "epoch" : "after epoch",
                 t->saved_epoch + (t->saved_batch ? 1 : 0), t->saved_batch ? ", mid-epoch" : "");
    return zf_fail(err, ZF_ERR_DIVERGED,
                   "epoch %d, batch %d: %s%s is not finite (NaN or Inf) at learning rate %g; %s: "
                   "lower the rate (--lr) or let the run do it (--on-diverge lower)",
                   epoch, b, what, name, t->rs.lr, saved);
}

static const char *param_name(const zf_net *net, int i) {
    static _Thread_local zf_param_info p;
    zf_net_param_info(net, i, &p);
    return p.name;
}

/* One step on batch b of the epoch: forward, loss, backward, SGD, renormalisation; a NaN or
 * an Inf in the loss, a gradient or the weights ends it (ZF_ERR_DIVERGED). */
static zf_status step(trainer *t, int epoch, int b, int nb, int *renorm_fired, zf_error *err) {
    const zf_train_options *c = &t->c;
    const float *x;
    const int64_t *labels;
    int n, bad;
    double loss;
    zf_net_reseed(t->net, zf_mix64(c->seed, (uint64_t)(epoch - 1) * nb + b));
    zf_status st;
    if ((st = zf_loader_next(t->loader, &x, &labels, &n, err)) ||
        (st = zf_net_set_input(t->net, x, n, err)) ||
        (st = zf_net_set_labels(t->net, labels, n, err)) ||
        (st = zf_net_forward(t->net, ZF_MODE_TRAIN, -1, err)) ||
        (st = zf_net_loss(t->net, &loss, err)))
        return st;
    t->step_stop = c->stop && *c->stop;
    if (t->ranks == 1 && !isfinite(loss)) return diverged(t, epoch, b, "the loss", "", err);
    zf_net_zero_grads(t->net);
    if (t->red) dist_reducer_begin(t->red);
    if ((st = zf_net_backward(t->net, err))) return st;
    if (t->red) { /* the gradients, the loss and the stop requests summed over the ranks */
        dist_reducer_finish(t->red);
        double v[2] = {loss, t->step_stop};
        dist_sum_doubles(t->c.dist, v, 2);
        loss = v[0], t->step_stop = v[1];
        if (!isfinite(loss)) return diverged(t, epoch, b, "the loss", "", err);
    }
    if ((bad = zf_net_first_nonfinite(t->net, 1)) >= 0)
        return diverged(t, epoch, b, "the gradient of ", param_name(t->net, bad), err);
    if ((st = zf_net_sgd_step(t->net, (float)t->rs.lr, (float)c->momentum, (float)c->weight_decay,
                              err)))
        return st;
    if ((bad = zf_net_first_nonfinite(t->net, 0)) >= 0)
        return diverged(t, epoch, b, "the weights of ", param_name(t->net, bad), err);
    if (c->renorm > 0) *renorm_fired += zf_net_renormalize_filters(t->net, c->renorm);
    t->rs.loss_sum += loss, t->rs.loss_batches++;
    return ZF_OK;
}

/* The state in the middle of the epoch, before batch `next`. */
static zf_status save_mid_epoch(trainer *t, int next, double run_t0, int *renorm_epoch,
                                zf_error *err) {
    run_state *r = &t->rs;
    r->renorm_fired += *renorm_epoch, *renorm_epoch = 0;
    r->next_batch = next, r->elapsed = zf_now() - run_t0;
    return train_state_save(t, err);
}

/* The epoch's batches from rs.next_batch on; the state is saved mid-epoch every
 * c.state_every seconds, and when *c.stop is set (then the run ends). */
static zf_status run_batches(trainer *t, int epoch, double run_t0, double *last_state,
                             int *reported, zf_error *err) {
    const zf_train_options *c = &t->c;
    run_state *r = &t->rs;
    int nb = zf_loader_batches(t->loader), first = r->next_batch, renorm_epoch = 0;
    zf_loader_start(t->loader, epoch, first);
    double t0 = zf_now();
    char label[48], extra[96];
    snprintf(label, sizeof label, "epoch %d/%d", epoch, c->epochs);
    zf_status st = ZF_OK;
    for (int b = first; !st && b < nb; b++) {
        if ((st = step(t, epoch, b, nb, &renorm_epoch, err))) break;
        zf_notice_replaced(&c->cb, t->loader, reported);
        double el = zf_now() - t0;
        snprintf(extra, sizeof extra, "loss %.4f  %.0f img/s", r->loss_sum / r->loss_batches,
                 el > 0 ? (b + 1 - first) * (double)c->batch * t->ranks / el : 0);
        zf_progress(&c->cb, label, b + 1, nb, extra);
        if (t->step_stop) {
            zf_progress(&c->cb, NULL, 0, 0, NULL);
            if (!(st = save_mid_epoch(t, b + 1, run_t0, &renorm_epoch, err)))
                st = zf_fail(err, ZF_ERR_CANCELLED,
                             "stopped at epoch %d, batch %d of %d; the state is saved in "
                             "%s/state.safetensors: continue with --resume",
                             epoch, b + 1, nb, c->out);
            return st;
        }
        if (c->state_every > 0 && zf_now() - *last_state >= c->state_every && b + 1 < nb) {
            st = save_mid_epoch(t, b + 1, run_t0, &renorm_epoch, err);
            *last_state = zf_now();
        }
    }
    zf_progress(&c->cb, NULL, 0, 0, NULL);
    r->renorm_fired += renorm_epoch;
    return st;
}

/* Data-parallel: every rank's status (a collective: it also waits for every rank); a failure
 * anywhere fails every rank, "rank K could not <what>" where it did not fail itself. The lowest
 * failing rank (-1: none) into *first when given: only its message is worth showing. */
static zf_status agree(trainer *t, zf_status st, const char *what, int *first, zf_error *err) {
    int f;
    dist_statuses(t->c.dist, st, &f);
    if (first) *first = f;
    return f >= 0 && !st ? zf_fail(err, ZF_ERR_ARG, "rank %d could not %s", f, what) : st;
}

/* --on-diverge lower: back to the saved state with a tenth of the rate (kept in the state). */
static zf_status recover(trainer *t, int epoch, zf_status why, zf_error *err) {
    if (!t->c.lower_on_diverge || t->lowered >= 3 || !t->saved) return why;
    double lr = t->rs.lr;
    /* every rank has read the state before rank 0 writes the next one */
    zf_status st = agree(t, train_state_reload(t, err), "reload the state", NULL, err);
    if (st) return st;
    t->lowered++;
    t->c.lr /= 10, t->rs.lr /= 10;
    char at[64] = "the initial weights";
    if (t->rs.next_batch)
        snprintf(at, sizeof at, "epoch %d, batch %d", t->rs.epoch_done + 1, t->rs.next_batch);
    else if (t->rs.epoch_done)
        snprintf(at, sizeof at, "the end of epoch %d", t->rs.epoch_done);
    zf_notice(&t->c.cb, ZF_NOTICE_WARNING,
              "epoch %d: a NaN or Inf at learning rate %g; back to the state saved at %s, with "
              "the rate %g",
              epoch, lr, at, t->rs.lr);
    return train_state_save(t, err);
}

static zf_status evaluate(trainer *t, double *top1, double *top5, zf_error *err) {
    int classes = zf_net_classes(t->net);
    memset(t->acc, 0, sizeof(float) * (size_t)zf_dataset_count(t->te) * classes);
    zf_eval_options eo;
    zf_eval_defaults(&eo);
    eo.crop = ZF_CROP_CENTER;
    eo.batch = t->c.batch;
    eo.loader_threads = t->c.loader_threads;
    eo.cb = t->c.cb;
    eo.parts = t->ranks;
    eo.part = t->rank;
    zf_status st = zf_eval_accumulate(t->net, &t->prep, t->te, &eo, t->acc, err);
    if (st) return st;
    dist_sum_floats(t->c.dist, t->acc, (size_t)zf_dataset_count(t->te) * classes);
    zf_eval_score(t->acc, t->te, classes, top1, top5, NULL);
    return zf_net_reserve(t->net, t->c.batch, err);
}

/* n bytes as "512 KiB" or "3.4 MiB" */
static const char *bytes_text(char buf[32], double n) {
    if (n < 1 << 20)
        snprintf(buf, 32, "%.0f KiB", ceil(n / 1024));
    else
        snprintf(buf, 32, "%.1f MiB", n / (1 << 20));
    return buf;
}

/* The free space for what the end of an epoch writes (its checkpoints, then the state),
 * checked before the first of them: a full disk stops the run with the last state whole and
 * resumable, not with checkpoints newer than the state. Sizes from the state on disk (a
 * checkpoint is the state without the momentum), each rounded up to 4 KiB blocks. */
static zf_status check_space(trainer *t, int epoch, int checkpoints, zf_error *err) {
    struct statvfs v;
    struct stat sb;
    snprintf(t->path, sizeof t->path, "%s/state.safetensors", t->c.out);
    if (t->rank || statvfs(t->c.out, &v) || stat(t->path, &sb)) return ZF_OK; /* the writes tell */
    double state = 4096 * ceil((double)sb.st_size / 4096);
    double ckpt =
        4096 * ceil(((double)sb.st_size - 4.0 * (double)zf_net_num_params(t->net)) / 4096);
    double need = state + checkpoints * ckpt + 8192; /* and a metrics line */
    double avail = (double)v.f_bavail * (double)v.f_frsize;
    char a[32], b[32];
    if (avail < need)
        return zf_fail(err, ZF_ERR_IO,
                       "%s: %s free, but the end of epoch %d writes %s (%d checkpoint%s and the "
                       "state): free some space, then continue with --resume",
                       t->c.out, bytes_text(a, avail), epoch, bytes_text(b, need), checkpoints,
                       checkpoints == 1 ? "" : "s");
    return ZF_OK;
}

/* last / best / snapshot checkpoints for the epoch just trained */
static zf_status save_checkpoints(trainer *t, const zf_epoch_report *rep, zf_error *err) {
    double acc = rep->has_test ? rep->top1 : -1;
    zf_status st = train_save_weights(t, "last.safetensors", rep->epoch, acc, err);
    if (!st && rep->has_test && rep->top1 > t->rs.best) {
        t->rs.best = rep->top1, t->rs.best_epoch = rep->epoch;
        st = train_save_weights(t, "best.safetensors", rep->epoch, rep->top1, err);
    }
    for (int k = 0; !st && k < t->c.nsnapshots; k++)
        if (t->c.snapshots[k] == rep->epoch) {
            char name[64];
            snprintf(name, sizeof name, "epoch-%d.safetensors", rep->epoch);
            st = train_save_weights(t, name, rep->epoch, acc, err);
        }
    return st;
}

/* ZF: the rate /10 when the held-out error stops improving */
static void plateau(trainer *t, zf_epoch_report *rep) {
    run_state *r = &t->rs;
    if (!t->c.lr_plateau || !rep->has_test) return;
    if (rep->top1 > r->plateau_best + 1e-4)
        r->plateau_best = rep->top1, r->plateau_wait = 0;
    else if (++r->plateau_wait >= t->c.patience) {
        r->lr /= 10, r->plateau_wait = 0;
        rep->lr_dropped = 1, rep->next_lr = r->lr;
    }
}

/* After an epoch's batches: evaluate, report, write metrics and checkpoints, save the state. */
static zf_status end_epoch(trainer *t, int epoch, int first, double t0, double wait0, double run_t0,
                           zf_error *err) {
    run_state *r = &t->rs;
    int nb = zf_loader_batches(t->loader);
    double train_s = zf_now() - t0, wait = zf_loader_wait_seconds(t->loader) - wait0;
    zf_epoch_report rep = {.epoch = epoch,
                           .epochs = t->c.epochs,
                           .lr = r->lr,
                           .loss = r->loss_sum / (r->loss_batches ? r->loss_batches : 1),
                           .has_test = t->te != NULL,
                           .img_per_s = (nb - first) * (double)t->c.batch * t->ranks / train_s,
                           .data_wait_s = wait,
                           .renorm = t->c.renorm > 0,
                           .renorm_fired = r->renorm_fired,
                           .patience = t->c.patience};
    int checkpoints = 1 + (t->te != NULL);
    for (int k = 0; k < t->c.nsnapshots; k++) checkpoints += t->c.snapshots[k] == epoch;
    zf_status st = check_space(t, epoch, checkpoints, err);
    if (t->ranks > 1) st = agree(t, st, "find the space for the epoch's files", NULL, err);
    if (!st && t->te) st = evaluate(t, &rep.top1, &rep.top5, err);
    t->last_top1 = rep.top1;
    rep.elapsed_s = zf_now() - run_t0;
    if (!st) st = train_metrics_add(t, &rep, err);
    if (!st && history_add(&t->h, epoch, rep.loss, t->te ? 100 * rep.top1 : NAN))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = save_checkpoints(t, &rep, err);
    if (st) return st;
    plateau(t, &rep);
    rep.n = t->h.n, rep.hist_epoch = t->h.epoch, rep.hist_loss = t->h.loss;
    rep.hist_acc = t->h.acc;
    int stop = t->c.on_epoch && t->c.on_epoch(t->c.ctx, &rep);
    if (dist_any(t->c.dist, stop)) /* rank 0's answer, for every rank */
        st = zf_fail(err, ZF_ERR_CANCELLED, "training stopped after epoch %d", epoch);
    r->epoch_done = epoch, r->next_batch = 0, r->loss_sum = 0, r->loss_batches = 0;
    r->elapsed = zf_now() - run_t0;
    zf_status saved = train_state_save(t, err);
    return st ? st : saved;
}

/* Data-parallel: rank 0's weights and data mean to every rank (each resumed rank read the same
 * state); each rank's part of the batch; the gradient reducer on the backward pass. */
static zf_status start_ranks(trainer *t, zf_error *err) {
    zf_shape s = t->prep.shape;
    dist_bcast_floats(t->c.dist, zf_net_params(t->net), zf_net_num_params(t->net));
    dist_bcast_floats(t->c.dist, t->prep.mean, (size_t)s.c * s.h * s.w);
    zf_net_set_batch_part(t->net, t->rank * t->c.batch, t->ranks * t->c.batch);
    double mb = t->c.bucket_mb;
    if (!(mb >= 0.001 && mb <= 4096))
        return zf_fail(err, ZF_ERR_RANGE, "bucket_mb = %g is out of range [0.001, 4096]", mb);
    zf_status st =
        dist_reducer_new(&t->red, t->c.dist, t->net, (size_t)(mb * 1e6), !t->c.no_overlap, err);
    if (st) return st;
    void *ctx;
    zf_backward_hook hook = dist_reducer_hook(t->red, &ctx);
    zf_net_set_backward_hook(t->net, hook, ctx);
    return ZF_OK;
}

static void dist_result(const trainer *t, zf_train_result *res) {
    dist_stats ds;
    if (!t->red) return;
    dist_reducer_stats(t->red, &ds);
    res->steps = ds.steps, res->backward_s = ds.backward_s, res->allreduce_wait_s = ds.wait_s;
    res->buckets = ds.buckets, res->grad_bytes = (double)ds.bytes;
}

static zf_status train_epochs(trainer *t, zf_train_result *res, zf_error *err) {
    run_state *r = &t->rs;
    double run_t0 = zf_now() - r->elapsed, last_state = zf_now();
    int reported = 0;
    zf_status st = ZF_OK;
    for (int epoch = r->epoch_done + 1; !st && epoch <= t->c.epochs; epoch++) {
        if (!t->c.lr_plateau) r->lr = lr_at(&t->c, epoch);
        double t0 = zf_now(), wait0 = zf_loader_wait_seconds(t->loader);
        int first = r->next_batch;
        st = run_batches(t, epoch, run_t0, &last_state, &reported, err);
        if (st == ZF_ERR_DIVERGED) {
            zf_error why = *err;
            if (!(st = recover(t, epoch, st, err))) {
                epoch = r->epoch_done; /* the loop goes on from the state's epoch */
                continue;
            }
            if (st == ZF_ERR_DIVERGED) *err = why;
        }
        if (!st) st = end_epoch(t, epoch, first, t0, wait0, run_t0, err);
        last_state = zf_now();
        if (!st) res->trained++;
    }
    if (st) return st;
    double top5;
    if (t->te && res->trained) /* the accuracy after the last epoch, as evaluated then */
        res->test_accuracy = t->last_top1;
    else if (t->te && (st = evaluate(t, &res->test_accuracy, &top5, err)))
        return st; /* nothing left to train: evaluate what there is */
    return ZF_OK;
}

static void trainer_free(trainer *t) {
    if (t->metrics) fclose(t->metrics);
    free(t->acc), free(t->h.epoch), free(t->h.loss), free(t->h.acc);
    zf_loader_free(t->loader);
    dist_reducer_free(t->red);
    zf_data_prep_free(&t->prep);
    zf_net_free(t->net);
    zf_dataset_free(t->tr), zf_dataset_free(t->te);
    for (int i = 0; i < 4; i++) free(t->owned[i]);
}

zf_status zf_train(const zf_train_options *o, zf_train_result *res, zf_error *err) {
    trainer t = {.c = *o, .rank = zf_dist_rank(o->dist), .ranks = zf_dist_size(o->dist)};
    zf_train_result none;
    if (!res) res = &none;
    memset(res, 0, sizeof *res);
    res->error_rank = -1;
    if (t.rank) /* rank 0 reports */
        t.c.cb = (zf_callbacks){0}, t.c.on_start = NULL, t.c.on_epoch = NULL;
    if (!o->out || !o->model || !o->train)
        return zf_fail(err, ZF_ERR_ARG,
                       "a training run needs a model, a training set and a folder");
    zf_status st = trainer_own_strings(&t, err);
    struct stat sb;
    snprintf(t.path, sizeof t.path, "%s/state.safetensors", o->out);
    if (!st && !o->resume && !o->overwrite && !t.rank && !stat(t.path, &sb))
        st = zf_fail(err, ZF_ERR_STATE,
                     "%s already holds a training run; continue it with --resume, or start again "
                     "with --overwrite (or choose another -o)",
                     o->out);
    if (!st && !o->resume) st = train_check_options(&t.c, "option ", err);
    if (!st && o->resume) st = train_state_load(&t, err);
    if (!st && o->resume) {
        char where[4300];
        snprintf(where, sizeof where, "%s: saved option ", t.path);
        st = train_check_options(&t.c, where, err);
    }
    if (!st && !t.rank) st = out_writable(t.c.out, err);
    if (!st) st = open_all(&t, err);
    if (!st) st = start_weights(&t, err);
    if (!st) st = make_loader(&t, err);
    if (!st && !t.rank) st = make_out(&t, err);
    if (!st) announce(&t);
    if (!st) st = train_metrics_open(&t, t.c.resume, err);
    if (!st && !t.c.resume) st = train_state_save(&t, err); /* resumable from the start */
    if (t.ranks > 1 && !(st = agree(&t, st, "start", &res->error_rank, err)))
        st = start_ranks(&t, err);
    if (!st) st = train_epochs(&t, res, err);
    if (st && t.ranks > 1 && res->error_rank < 0 &&
        (st == ZF_ERR_DIVERGED || st == ZF_ERR_CANCELLED))
        res->error_rank = 0; /* found by every rank alike */
    if (st) unmake_out(&t, st);
    dist_result(&t, res);
    res->epochs = t.c.epochs, res->epochs_done = t.rs.epoch_done, res->has_test = t.te != NULL;
    res->best_accuracy = t.rs.best, res->best_epoch = t.rs.best_epoch;
    res->seconds = t.rs.elapsed;
    trainer_free(&t);
    return st;
}
