/* A training run's folder: the configuration as JSON inside state.safetensors (with the
 * weights, the momentum and every counter, so a resumed run continues exactly), the weight
 * checkpoints with their data preparation, and metrics.jsonl. */
#include "train.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

/* The counters kept in the state's metadata, each with the range a run can reach and whether
 * it is a whole number (a tampered or damaged state is refused before a value is used). */
static const struct counter {
    const char *key;
    double lo, hi;
    int whole;
} counters[] = {{"epoch_done", 0, 100000, 1},
                {"next_batch", 0, 2147483647, 1},
                {"lr", 0, 10, 0},
                {"best", -1, 1, 0},
                {"plateau_best", -1, 1, 0},
                {"plateau_wait", 0, 1000, 1},
                {"loss_sum", -1e300, 1e300, 0},
                {"loss_batches", 0, 2147483647, 1},
                {"renorm_fired", 0, 1e15, 1},
                {"elapsed", 0, 1e12, 0},
                {"best_epoch", 0, 100000, 1}};
enum { NCOUNTERS = 11 };

zf_status trainer_own_strings(trainer *t, zf_error *err) {
    const char **fields[4] = {&t->c.model, &t->c.train, &t->c.test, &t->c.out};
    for (int i = 0; i < 4; i++) {
        char *copy = *fields[i] ? strdup(*fields[i]) : NULL;
        if (*fields[i] && !copy) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        free(t->owned[i]);
        t->owned[i] = copy;
        *fields[i] = copy;
    }
    return ZF_OK;
}

/* ---- the configuration as JSON ------------------------------------------------------------ */

static json_t *int_array(const int *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static char *config_json(const zf_train_options *c) {
    const zf_model_overrides *ov = &c->overrides;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:b, s:i, s:f, s:f, "
        "s:f, s:f, s:f, s:i, s:f, s:s, s:i, s:i, s:i}",
        "model", c->model, "train", c->train, "test", c->test ? c->test : "none", "classes",
        ov->classes, "channels", ov->channels, "height", ov->height, "width", ov->width, "epochs",
        c->epochs, "batch", c->batch, "crop_pad", c->crop_pad, "flip", c->flip, "lr_steps",
        int_array(c->lr_steps, c->nlr_steps), "snapshot_epochs",
        int_array(c->snapshots, c->nsnapshots), "lr_plateau", c->lr_plateau, "patience",
        c->patience, "lr", c->lr, "momentum", c->momentum, "weight_decay", c->weight_decay,
        "renorm", c->renorm, "input_scale", c->input_scale, "init", (int)c->init, "init_std",
        c->init_std, "seed", "", "data_size", c->data_size, "mean_images", c->mean_images,
        "stop_on_bad", c->stop_on_bad);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    json_object_set_new(o, "seed", json_string(seed)); /* 64 bits, exactly */
    json_object_set_new(o, "precision", json_string(zf_precision_name(c->precision)));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static int get_list(json_t *o, const char *key, int *out, int cap, int *n) {
    json_t *a = json_object_get(o, key);
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) > (size_t)cap) return -1;
    for (size_t i = 0; i < json_array_size(a); i++)
        out[(*n)++] = (int)json_integer_value(json_array_get(a, i));
    return 0;
}

/* The saved configuration into c; its strings point into o (the caller copies them). */
static int config_from_json(zf_train_options *c, json_t *o) {
    const char *seed;
    int init;
    zf_model_overrides *ov = &c->overrides;
    if (json_unpack(o,
                    "{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:i, s:F, s:F, "
                    "s:F, s:F, s:F, s:i, s:F, s:s, s:i, s:i, s:i}",
                    "model", &c->model, "train", &c->train, "test", &c->test, "classes",
                    &ov->classes, "channels", &ov->channels, "height", &ov->height, "width",
                    &ov->width, "epochs", &c->epochs, "batch", &c->batch, "crop_pad", &c->crop_pad,
                    "flip", &c->flip, "lr_plateau", &c->lr_plateau, "patience", &c->patience, "lr",
                    &c->lr, "momentum", &c->momentum, "weight_decay", &c->weight_decay, "renorm",
                    &c->renorm, "input_scale", &c->input_scale, "init", &init, "init_std",
                    &c->init_std, "seed", &seed, "data_size", &c->data_size, "mean_images",
                    &c->mean_images, "stop_on_bad", &c->stop_on_bad) ||
        get_list(o, "lr_steps", c->lr_steps, 32, &c->nlr_steps) ||
        get_list(o, "snapshot_epochs", c->snapshots, 64, &c->nsnapshots))
        return -1;
    c->init = (zf_init_scheme)init;
    json_t *prec = json_object_get(o, "precision"); /* absent before bf16: float32 */
    if (prec &&
        (!json_is_string(prec) || zf_precision_parse(json_string_value(prec), &c->precision, NULL)))
        return -1;
    char *end;
    errno = 0;
    c->seed = strtoull(seed, &end, 10);
    return !*seed || *end || *seed == '-' || errno ? -1 : 0; /* 64 bits, written exactly */
}

/* ---- state.safetensors -------------------------------------------------------------------- */

static zf_status read_counters(run_state *r, const zf_st_file *f, const char *path, zf_error *err) {
    double v[NCOUNTERS];
    for (int k = 0; k < NCOUNTERS; k++) {
        const char *s = zf_st_meta(f, counters[k].key);
        char *end;
        v[k] = s ? strtod(s, &end) : 0;
        if (!s || *end || s == end)
            return zf_fail(err, ZF_ERR_FORMAT, "%s: metadata '%s' is missing or malformed", path,
                           counters[k].key);
        const struct counter *c = &counters[k];
        if (!(v[k] >= c->lo && v[k] <= c->hi) || (c->whole && v[k] != floor(v[k])))
            return zf_fail(err, ZF_ERR_RANGE, "%s: metadata '%s' = %s is out of range [%g, %g]",
                           path, c->key, s, c->lo, c->hi);
    }
    if (v[10] > v[0])
        return zf_fail(err, ZF_ERR_RANGE, "%s: best epoch %s after the last finished epoch %s",
                       path, zf_st_meta(f, counters[10].key), zf_st_meta(f, counters[0].key));
    *r = (run_state){.epoch_done = (int)v[0],
                     .next_batch = (int)v[1],
                     .lr = v[2],
                     .best = v[3],
                     .plateau_best = v[4],
                     .plateau_wait = (int)v[5],
                     .loss_sum = v[6],
                     .loss_batches = (int)v[7],
                     .renorm_fired = (long)v[8],
                     .elapsed = v[9],
                     .best_epoch = (int)v[10]};
    return ZF_OK;
}

zf_status train_state_load(trainer *t, zf_error *err) {
    snprintf(t->path, sizeof t->path, "%s/state.safetensors", t->c.out);
    zf_st_file *f;
    zf_error e;
    if (zf_st_open(t->path, &f, &e))
        return zf_fail(err, e.status, "%s (nothing to resume in %s)", e.msg, t->c.out);
    const char *fmt = zf_st_meta(f, "train_state"), *cfg = zf_st_meta(f, "train_config");
    zf_train_options keep = t->c;
    json_t *o = cfg ? json_loads(cfg, 0, NULL) : NULL;
    zf_status st = ZF_OK;
    if (!fmt || strcmp(fmt, TRAIN_STATE_FORMAT) || !cfg)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: not a zfnet training state", t->path);
    else if (!o || config_from_json(&t->c, o))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: its training configuration is unreadable", t->path);
    if (!st) st = read_counters(&t->rs, f, t->path, err);
    if (!st) t->saved = 1, t->saved_epoch = t->rs.epoch_done, t->saved_batch = t->rs.next_batch;
    if (!st) {
        if (keep.epochs > 0) t->c.epochs = keep.epochs; /* a resumed run may be extended */
        t->c.threads = keep.threads, t->c.loader_threads = keep.loader_threads;
        t->c.precision = keep.precision;
        t->c.lower_on_diverge = keep.lower_on_diverge, t->c.stop = keep.stop;
        t->c.out = keep.out, t->c.cb = keep.cb;
        t->c.on_start = keep.on_start, t->c.on_epoch = keep.on_epoch, t->c.ctx = keep.ctx;
        t->c.dist = keep.dist, t->c.no_overlap = keep.no_overlap, t->c.bucket_mb = keep.bucket_mb;
        t->c.resume = 1, t->c.overwrite = 0;
        int ranks = t->ranks > 1 ? t->ranks : 1;
        if (t->c.batch > 0 && (t->c.batch % ranks || t->c.batch < ranks)) /* <= 0: range check */
            st = zf_fail(err, ZF_ERR_ARG,
                         "%s: the run's batch of %d does not split evenly over %d processes",
                         t->path, t->c.batch, ranks);
        else if (t->c.batch > 0)
            t->c.batch /= ranks; /* saved: the global batch, whatever the ranks were */
        if (!st) st = trainer_own_strings(t, err);
    }
    json_decref(o);
    zf_st_free(f);
    return st;
}

zf_status train_state_reload(trainer *t, zf_error *err) {
    snprintf(t->path, sizeof t->path, "%s/state.safetensors", t->c.out);
    zf_st_file *f;
    zf_status st = zf_checkpoint_load_state(t->net, t->path, err);
    if (!st) st = zf_st_open(t->path, &f, err);
    if (st) return st;
    st = read_counters(&t->rs, f, t->path, err);
    zf_st_free(f);
    return st;
}

zf_status train_state_save(trainer *t, zf_error *err) {
    const run_state *r = &t->rs;
    if (!zf_net_momentum_alloc(t->net)) /* zeros before the first step: the same step */
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for the momentum");
    if (t->rank) {
        t->saved_epoch = r->epoch_done, t->saved_batch = r->next_batch, t->saved = 1;
        return ZF_OK;
    }
    zf_train_options global = t->c;
    global.batch *= t->ranks > 1 ? t->ranks : 1;
    char *cfg = config_json(&global);
    char nums[NCOUNTERS][40];
    snprintf(nums[0], 40, "%d", r->epoch_done);
    snprintf(nums[1], 40, "%d", r->next_batch);
    snprintf(nums[2], 40, "%.17g", r->lr);
    snprintf(nums[3], 40, "%.17g", r->best);
    snprintf(nums[4], 40, "%.17g", r->plateau_best);
    snprintf(nums[5], 40, "%d", r->plateau_wait);
    snprintf(nums[6], 40, "%.17g", r->loss_sum);
    snprintf(nums[7], 40, "%d", r->loss_batches);
    snprintf(nums[8], 40, "%ld", r->renorm_fired);
    snprintf(nums[9], 40, "%.3f", r->elapsed);
    snprintf(nums[10], 40, "%d", r->best_epoch);
    const char *meta[2 * NCOUNTERS + 5] = {"train_state", TRAIN_STATE_FORMAT, "train_config",
                                           cfg ? cfg : "{}"};
    for (int k = 0; k < NCOUNTERS; k++)
        meta[4 + 2 * k] = counters[k].key, meta[5 + 2 * k] = nums[k];
    zf_checkpoint_data d = {.prep = &t->prep, .meta = meta, .momentum = 1};
    snprintf(t->path, sizeof t->path, "%s/state.safetensors", t->c.out);
    zf_status st = cfg ? zf_checkpoint_write(t->net, t->path, &d, err)
                       : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    free(cfg);
    if (!st) t->saved_epoch = r->epoch_done, t->saved_batch = r->next_batch, t->saved = 1;
    return st;
}

zf_status train_save_weights(trainer *t, const char *name, int epoch, double acc, zf_error *err) {
    if (t->rank) return ZF_OK;
    zf_checkpoint_data d = {.prep = &t->prep, .epoch = epoch, .test_accuracy = acc};
    snprintf(t->path, sizeof t->path, "%s/%s", t->c.out, name);
    return zf_checkpoint_write(t->net, t->path, &d, err);
}

/* ---- metrics.jsonl ------------------------------------------------------------------------ */

zf_status history_add(history *h, double epoch, double loss, double acc) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        double *e = realloc(h->epoch, sizeof(double) * cap);
        if (e) h->epoch = e;
        double *l = realloc(h->loss, sizeof(double) * cap);
        if (l) h->loss = l;
        double *a = realloc(h->acc, sizeof(double) * cap);
        if (a) h->acc = a;
        if (!e || !l || !a) return ZF_ERR_NOMEM;
        h->cap = cap;
    }
    h->epoch[h->n] = epoch, h->loss[h->n] = loss, h->acc[h->n] = acc;
    h->n++;
    return ZF_OK;
}

/* Keep the lines up to epoch `upto` (a resumed run redoes the later ones), in the history too. */
static zf_status reload_metrics(const char *path, int upto, history *h, zf_error *err) {
    FILE *f = zf_fopen_read(path, NULL);
    char *keep = NULL, line[4096];
    size_t klen = 0;
    FILE *k = open_memstream(&keep, &klen);
    if (!k) {
        if (f) fclose(f);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    zf_status st = ZF_OK;
    while (!st && f && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *e = json_object_get(o, "epoch");
        if (json_is_integer(e) && json_integer_value(e) <= upto) {
            fputs(line, k);
            if (history_add(h, (double)json_integer_value(e),
                            json_number_value(json_object_get(o, "train_loss")),
                            100 * json_number_value(json_object_get(o, "test_accuracy"))))
                st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        }
        json_decref(o);
    }
    if (f) fclose(f);
    fclose(k);
    if (!st) st = zf_write_file(path, keep ? keep : "", klen, err);
    free(keep);
    return st;
}

zf_status train_metrics_open(trainer *t, int resume, zf_error *err) {
    if (t->rank) return ZF_OK;
    snprintf(t->path, sizeof t->path, "%s/metrics.jsonl", t->c.out);
    zf_status st = resume ? reload_metrics(t->path, t->rs.epoch_done, &t->h, err)
                          : zf_write_file(t->path, "", 0, err);
    if (st) return st;
    if (!(t->metrics = fopen(t->path, "a")))
        return zf_fail(err, ZF_ERR_IO, "%s: cannot append: %s", t->path, strerror(errno));
    return ZF_OK;
}

zf_status train_metrics_add(trainer *t, const zf_epoch_report *r, zf_error *err) {
    if (t->rank) return ZF_OK;
    fprintf(t->metrics,
            "{\"epoch\": %d, \"lr\": %g, \"train_loss\": %.6f, \"test_accuracy\": %.6f, "
            "\"test_top5\": %.6f, \"img_per_s\": %.1f, \"data_wait_s\": %.2f, "
            "\"renorm_fired\": %ld, \"elapsed_s\": %.1f}\n",
            r->epoch, r->lr, r->loss, r->has_test ? r->top1 : -1, r->has_test ? r->top5 : -1,
            r->img_per_s, r->data_wait_s, r->renorm_fired, r->elapsed_s);
    if (fflush(t->metrics) || ferror(t->metrics))
        return zf_fail(err, ZF_ERR_IO, "%s/metrics.jsonl: write failed: %s", t->c.out,
                       strerror(errno));
    return ZF_OK;
}
