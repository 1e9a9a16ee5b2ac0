/* Training runs: the loop (SGD with momentum and weight decay, step or plateau schedule, the
 * paper's filter renormalisation), its run folder (state for resuming, last / best /
 * snapshot checkpoints, metrics.jsonl, curves.svg) and the options train and demo share.
 *
 * Exact resumes: the loader's batches depend only on (seed, epoch, position), dropout is
 * reseeded from (seed, step) before every step, and state.safetensors holds the weights, the
 * momentum and every counter; a run resumed from any saved state computes what the
 * uninterrupted run computes from there. */
#include "trainer.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STATE_FORMAT "zfnet-train-state-1"

enum {
    O_MODEL = 256,
    O_TRAIN,
    O_TEST,
    O_EPOCHS,
    O_BATCH,
    O_LR,
    O_MOMENTUM,
    O_WD,
    O_STEPS,
    O_PLATEAU,
    O_PATIENCE,
    O_RENORM,
    O_PAD,
    O_NOFLIP,
    O_SCALE,
    O_INIT,
    O_SEED,
    O_THREADS,
    O_LOADERS,
    O_SNAP,
    O_STATE_EVERY,
    O_DATA_SIZE,
    O_MEAN_IMAGES,
    O_STOP_BAD
};

const struct option train_options[] = {{"model", required_argument, 0, O_MODEL},
                                       {"train", required_argument, 0, O_TRAIN},
                                       {"test", required_argument, 0, O_TEST},
                                       {"epochs", required_argument, 0, O_EPOCHS},
                                       {"batch", required_argument, 0, O_BATCH},
                                       {"lr", required_argument, 0, O_LR},
                                       {"momentum", required_argument, 0, O_MOMENTUM},
                                       {"weight-decay", required_argument, 0, O_WD},
                                       {"lr-steps", required_argument, 0, O_STEPS},
                                       {"lr-plateau", no_argument, 0, O_PLATEAU},
                                       {"patience", required_argument, 0, O_PATIENCE},
                                       {"renorm", required_argument, 0, O_RENORM},
                                       {"crop-pad", required_argument, 0, O_PAD},
                                       {"no-flip", no_argument, 0, O_NOFLIP},
                                       {"input-scale", required_argument, 0, O_SCALE},
                                       {"init", required_argument, 0, O_INIT},
                                       {"seed", required_argument, 0, O_SEED},
                                       {"threads", required_argument, 0, O_THREADS},
                                       {"loader-threads", required_argument, 0, O_LOADERS},
                                       {"snapshot-epochs", required_argument, 0, O_SNAP},
                                       {"state-every", required_argument, 0, O_STATE_EVERY},
                                       {"data-size", required_argument, 0, O_DATA_SIZE},
                                       {"mean-images", required_argument, 0, O_MEAN_IMAGES},
                                       {"stop-on-bad", no_argument, 0, O_STOP_BAD},
                                       {"classes", required_argument, 0, 'c'},
                                       {"input-size", required_argument, 0, 's'},
                                       {0, 0, 0, 0}};

const char train_options_help[] =
    "data:\n"
    "  --train SPEC          training set (fashion-mnist)\n"
    "  --test SPEC           evaluated after every epoch (fashion-mnist:test; 'none' skips)\n"
    "                        SPEC: fashion-mnist[:test], IMAGES.gz[,LABELS.gz] (IDX),\n"
    "                        A.bin[,B.bin...] (CIFAR-10/100), an image folder DIR/<class>/*,\n"
    "                        or a shard from 'zfnet pack'\n"
    "  --data-size S         folders: short side resized to S, centre S x S kept (256)\n"
    "  --mean-images N       images averaged for the per-pixel mean (0: all; 0)\n"
    "  --stop-on-bad         a file that is not a readable image stops the run (default:\n"
    "                        reported by name and skipped)\n"
    "  --loader-threads T    decoding threads ahead of the compute (2)\n"
    "model:\n"
    "  --model M             preset or model file (zfnet-mini)\n"
    "  --classes N, --input-size CxHxW   override the model's (default: from the data)\n"
    "  --init he|xavier|gaussian[:STD]   initialisation (he)\n"
    "recipe:\n"
    "  --epochs N (30)  --batch N (128)  --lr X (0.05)  --momentum X (0.9)\n"
    "  --weight-decay X (0.0005)\n"
    "  --lr-steps E1,E2   divide the rate by 10 after these epochs (20,26)\n"
    "  --lr-plateau       instead: divide by 10 when test accuracy has not improved for\n"
    "                     --patience epochs (2), as the paper did with validation error\n"
    "  --renorm R         rescale conv filters whose RMS exceeds R after each step (ZF sec. 3;\n"
    "                     0.1 in the paper, whose inputs were in pixel units; 0 = off) (0)\n"
    "  --crop-pad P       training crops: random positions in the image padded by P (2)\n"
    "  --no-flip          no random horizontal mirroring\n"
    "  --input-scale X    input = (pixel - mean) * X (0.00392157 = 1/255)\n"
    "  --seed S (1)  --threads T (all cores)\n"
    "run folder:\n"
    "  --snapshot-epochs E1,E2,...   also keep epoch-E.safetensors for these epochs\n"
    "  --state-every SECONDS         save the resumable state mid-epoch this often (300)\n";

void train_defaults(train_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "zfnet-mini");
    snprintf(c->train, sizeof c->train, "fashion-mnist");
    snprintf(c->test, sizeof c->test, "fashion-mnist:test");
    snprintf(c->out, sizeof c->out, "zfnet-run");
    c->epochs = 30, c->batch = 128, c->pad = 2, c->flip = 1;
    c->nsteps = 2, c->steps[0] = 20, c->steps[1] = 26;
    c->patience = 2;
    c->lr = 0.05, c->momentum = 0.9, c->wd = 5e-4, c->renorm = 0, c->scale = 1.0 / 255;
    c->state_every = 300;
    c->init = ZF_INIT_HE;
    c->seed = 1;
    c->loaders = 2;
}

static int parse_list(const char *opt, const char *arg, int *out, int cap, int *n) {
    char *list = strdup(arg), *save = NULL;
    long v;
    *n = 0;
    if (!list) return cli_error("out of memory"), 2;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == cap) {
            free(list);
            return cli_error("%s: at most %d values", opt, cap), 2;
        }
        if (cli_parse_int(opt, t, 1, 1000000, &v)) {
            free(list);
            return 2;
        }
        out[(*n)++] = (int)v;
    }
    free(list);
    return 0;
}

static int copy_arg(char *dst, size_t cap, const char *opt, const char *arg) {
    if (strlen(arg) >= cap) return cli_error("%s: too long", opt), 2;
    memcpy(dst, arg, strlen(arg) + 1);
    return 0;
}

int train_option(train_cfg *c, int ch, const char *arg) {
    long v;
    switch (ch) {
    case O_MODEL:
        return copy_arg(c->model, sizeof c->model, "--model", arg);
    case O_TRAIN:
        return copy_arg(c->train, sizeof c->train, "--train", arg);
    case O_TEST:
        return copy_arg(c->test, sizeof c->test, "--test", arg);
    case O_EPOCHS:
        if (cli_parse_int("--epochs", arg, 1, 100000, &v)) return 2;
        c->epochs = (int)v;
        return 0;
    case O_BATCH:
        if (cli_parse_int("--batch", arg, 1, 4096, &v)) return 2;
        c->batch = (int)v;
        return 0;
    case O_LR:
        return cli_parse_double("--lr", arg, 0, 10, &c->lr) ? 2 : 0;
    case O_MOMENTUM:
        return cli_parse_double("--momentum", arg, 0, 0.9999, &c->momentum) ? 2 : 0;
    case O_WD:
        return cli_parse_double("--weight-decay", arg, 0, 1, &c->wd) ? 2 : 0;
    case O_STEPS:
        c->plateau = 0;
        return parse_list("--lr-steps", arg, c->steps, 32, &c->nsteps);
    case O_PLATEAU:
        c->plateau = 1, c->nsteps = 0;
        return 0;
    case O_PATIENCE:
        if (cli_parse_int("--patience", arg, 1, 1000, &v)) return 2;
        c->patience = (int)v;
        return 0;
    case O_RENORM:
        return cli_parse_double("--renorm", arg, 0, 1e6, &c->renorm) ? 2 : 0;
    case O_PAD:
        if (cli_parse_int("--crop-pad", arg, 0, 256, &v)) return 2;
        c->pad = (int)v;
        return 0;
    case O_NOFLIP:
        c->flip = 0;
        return 0;
    case O_SCALE:
        return cli_parse_double("--input-scale", arg, 1e-9, 1e9, &c->scale) ? 2 : 0;
    case O_INIT: {
        if (!strcmp(arg, "he"))
            c->init = ZF_INIT_HE;
        else if (!strcmp(arg, "xavier"))
            c->init = ZF_INIT_XAVIER;
        else if (!strncmp(arg, "gaussian", 8) && (!arg[8] || arg[8] == ':')) {
            c->init = ZF_INIT_GAUSSIAN, c->init_std = 0.01;
            if (arg[8] && cli_parse_double("--init gaussian:STD", arg + 9, 1e-9, 10, &c->init_std))
                return 2;
        } else
            return cli_error("--init: '%s' is not he, xavier or gaussian[:STD]", arg), 2;
        return 0;
    }
    case O_SEED:
        return cli_parse_u64("--seed", arg, &c->seed) ? 2 : 0;
    case O_THREADS:
        if (cli_parse_int("--threads", arg, 1, 1024, &v)) return 2;
        c->threads = (int)v;
        return 0;
    case O_LOADERS:
        if (cli_parse_int("--loader-threads", arg, 1, 256, &v)) return 2;
        c->loaders = (int)v;
        return 0;
    case O_SNAP:
        return parse_list("--snapshot-epochs", arg, c->snap, 64, &c->nsnap);
    case O_STATE_EVERY:
        return cli_parse_double("--state-every", arg, 0, 1e9, &c->state_every) ? 2 : 0;
    case O_DATA_SIZE:
        if (cli_parse_int("--data-size", arg, 8, 8192, &v)) return 2;
        c->data_size = (int)v;
        return 0;
    case O_MEAN_IMAGES:
        if (cli_parse_int("--mean-images", arg, 0, 1 << 30, &v)) return 2;
        c->mean_images = (int)v;
        return 0;
    case O_STOP_BAD:
        c->stop_on_bad = 1;
        return 0;
    case 'c':
    case 's':
        return cli_model_option(ch, arg, &c->ov);
    default:
        return -1;
    }
}

/* ---- the configuration as JSON (kept in the state for resuming) --------------------------- */

static json_t *int_array(const int *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static char *cfg_to_json(const train_cfg *c) {
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:b, s:i, s:f, s:f, "
        "s:f, s:f, s:f, s:i, s:f, s:s, s:i, s:i, s:i}",
        "model", c->model, "train", c->train, "test", c->test, "classes", c->ov.classes, "channels",
        c->ov.channels, "height", c->ov.height, "width", c->ov.width, "epochs", c->epochs, "batch",
        c->batch, "crop_pad", c->pad, "flip", c->flip, "lr_steps", int_array(c->steps, c->nsteps),
        "snapshot_epochs", int_array(c->snap, c->nsnap), "lr_plateau", c->plateau, "patience",
        c->patience, "lr", c->lr, "momentum", c->momentum, "weight_decay", c->wd, "renorm",
        c->renorm, "input_scale", c->scale, "init", c->init, "init_std", c->init_std, "seed", "",
        "data_size", c->data_size, "mean_images", c->mean_images, "stop_on_bad", c->stop_on_bad);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    json_object_set_new(o, "seed", json_string(seed)); /* 64 bits, exactly */
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

static int cfg_from_json(train_cfg *c, const char *text, const char *path) {
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    const char *model, *tr, *te, *seed;
    int flip, plateau;
    if (!o ||
        json_unpack(o,
                    "{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:i, s:F, s:F, "
                    "s:F, s:F, s:F, s:i, s:F, s:s, s:i, s:i, s:i}",
                    "model", &model, "train", &tr, "test", &te, "classes", &c->ov.classes,
                    "channels", &c->ov.channels, "height", &c->ov.height, "width", &c->ov.width,
                    "epochs", &c->epochs, "batch", &c->batch, "crop_pad", &c->pad, "flip", &flip,
                    "lr_plateau", &plateau, "patience", &c->patience, "lr", &c->lr, "momentum",
                    &c->momentum, "weight_decay", &c->wd, "renorm", &c->renorm, "input_scale",
                    &c->scale, "init", &c->init, "init_std", &c->init_std, "seed", &seed,
                    "data_size", &c->data_size, "mean_images", &c->mean_images, "stop_on_bad",
                    &c->stop_on_bad) ||
        get_list(o, "lr_steps", c->steps, 32, &c->nsteps) ||
        get_list(o, "snapshot_epochs", c->snap, 64, &c->nsnap) ||
        strlen(model) >= sizeof c->model || strlen(tr) >= sizeof c->train ||
        strlen(te) >= sizeof c->test) {
        json_decref(o);
        return cli_error("%s: its training configuration is unreadable", path);
    }
    snprintf(c->model, sizeof c->model, "%s", model);
    snprintf(c->train, sizeof c->train, "%s", tr);
    snprintf(c->test, sizeof c->test, "%s", te);
    c->flip = flip, c->plateau = plateau;
    c->seed = strtoull(seed, NULL, 10);
    json_decref(o);
    return 0;
}

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct run_state {
    int epoch_done, next_batch; /* where to continue */
    double lr, best, plateau_best, loss_sum, elapsed;
    int plateau_wait, loss_batches, best_epoch;
    long renorm_fired;
} run_state;

typedef struct history {
    int n, cap;
    double *epoch, *loss, *acc;
} history;

static int history_add(history *h, double e, double loss, double acc) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        double *a = realloc(h->epoch, sizeof(double) * cap),
               *b = a ? realloc(h->loss, sizeof(double) * cap) : NULL,
               *c = b ? realloc(h->acc, sizeof(double) * cap) : NULL;
        if (a) h->epoch = a;
        if (b) h->loss = b;
        if (!c) return -1;
        h->acc = c, h->cap = cap;
    }
    h->epoch[h->n] = e, h->loss[h->n] = loss, h->acc[h->n] = acc, h->n++;
    return 0;
}

/* metrics.jsonl on resume: keep the epochs the state covers (a later line came from work
 * the resume redoes), and refill the curves from them. */
static int reload_metrics(const char *path, int upto, history *h) {
    FILE *f = fopen(path, "r");
    char *keep = NULL, line[4096];
    size_t klen = 0;
    FILE *k = open_memstream(&keep, &klen);
    if (!k) {
        if (f) fclose(f);
        return cli_error("out of memory");
    }
    while (f && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *e = json_object_get(o, "epoch");
        if (json_is_integer(e) && json_integer_value(e) <= upto) {
            fputs(line, k);
            history_add(h, (double)json_integer_value(e),
                        json_number_value(json_object_get(o, "train_loss")),
                        100 * json_number_value(json_object_get(o, "test_accuracy")));
        }
        json_decref(o);
    }
    if (f) fclose(f);
    fclose(k);
    zf_error err;
    int rc = zf_write_file(path, keep ? keep : "", klen, &err) ? cli_error("%s", err.msg) : 0;
    free(keep);
    return rc;
}

typedef struct trainer {
    train_cfg *c;
    zf_net *net;
    data_prep prep;
    run_state rs;
    char path[4200];
} trainer;

static int save_weights(trainer *t, const char *name, int epoch, double acc) {
    char ep[32], accs[32], scale[32], pad[16], shape[64];
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(accs, sizeof accs, "%.6f", acc);
    snprintf(scale, sizeof scale, "%.9g", t->prep.scale);
    snprintf(pad, sizeof pad, "%d", t->prep.pad);
    snprintf(shape, sizeof shape, "%dx%dx%d", t->prep.shape.c, t->prep.shape.h, t->prep.shape.w);
    char *names = data_prep_names_json(&t->prep);
    const char *meta[] = {"epoch",       ep,    "test_accuracy", accs,
                          "input_scale", scale, "crop_pad",      pad,
                          "data_shape",  shape, "class_names",   names ? names : "[]",
                          NULL};
    zf_checkpoint_data d = {.meta = meta, .mean = t->prep.mean, .mean_shape = t->prep.shape};
    snprintf(t->path, sizeof t->path, "%s/%s", t->c->out, name);
    zf_error err;
    int rc = zf_checkpoint_write(t->net, t->path, &d, &err) ? cli_error("%s", err.msg) : 0;
    free(names);
    return rc;
}

static int save_state(trainer *t) {
    const run_state *r = &t->rs;
    char *cfg = cfg_to_json(t->c), *names = data_prep_names_json(&t->prep);
    char nums[11][40];
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
    const char *meta[] = {"train_state",
                          STATE_FORMAT,
                          "train_config",
                          cfg ? cfg : "{}",
                          "class_names",
                          names ? names : "[]",
                          "epoch_done",
                          nums[0],
                          "next_batch",
                          nums[1],
                          "lr",
                          nums[2],
                          "best",
                          nums[3],
                          "plateau_best",
                          nums[4],
                          "plateau_wait",
                          nums[5],
                          "loss_sum",
                          nums[6],
                          "loss_batches",
                          nums[7],
                          "renorm_fired",
                          nums[8],
                          "elapsed",
                          nums[9],
                          "best_epoch",
                          nums[10],
                          NULL};
    zf_checkpoint_data d = {
        .meta = meta, .mean = t->prep.mean, .mean_shape = t->prep.shape, .momentum = 1};
    snprintf(t->path, sizeof t->path, "%s/state.safetensors", t->c->out);
    zf_error err;
    int rc = zf_checkpoint_write(t->net, t->path, &d, &err) ? cli_error("%s", err.msg) : 0;
    free(cfg), free(names);
    return rc;
}

static int load_state(train_cfg *c, run_state *r) {
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c->out);
    zf_error err;
    zf_st_file *f;
    if (zf_st_open(&f, path, &err))
        return cli_error("%s (nothing to resume in %s)", err.msg, c->out);
    const char *fmt = zf_st_meta(f, "train_state"), *cfg = zf_st_meta(f, "train_config");
    int rc = 0, epochs = c->epochs, threads = c->threads, loaders = c->loaders;
    if (!fmt || strcmp(fmt, STATE_FORMAT) || !cfg)
        rc = cli_error("%s: not a zfnet training state", path);
    else
        rc = cfg_from_json(c, cfg, path);
    const char *keys[] = {"epoch_done",   "next_batch",   "lr",        "best",
                          "plateau_best", "plateau_wait", "loss_sum",  "loss_batches",
                          "renorm_fired", "elapsed",      "best_epoch"};
    double v[11];
    for (int k = 0; !rc && k < 11; k++) {
        const char *s = zf_st_meta(f, keys[k]);
        char *end;
        v[k] = s ? strtod(s, &end) : 0;
        if (!s || *end) rc = cli_error("%s: metadata '%s' is missing or malformed", path, keys[k]);
    }
    if (!rc) {
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
        if (epochs > 0) c->epochs = epochs; /* a resumed run may be extended */
        c->threads = threads, c->loaders = loaders;
    }
    zf_st_close(f);
    return rc;
}

static double lr_at(const train_cfg *c, int epoch) {
    double lr = c->lr;
    for (int k = 0; k < c->nsteps; k++)
        if (c->steps[k] < epoch) lr /= 10;
    return lr;
}

static int open_data(const train_cfg *c, const char *spec, zf_dataset **d) {
    zf_dataset_options o = {
        .size = c->data_size, .channels = c->ov.channels, .stop_on_bad = c->stop_on_bad};
    zf_error err;
    if (zf_dataset_open(d, spec, &o, &err)) return cli_error("%s", err.msg);
    for (int k = 0; k < zf_dataset_num_skipped(*d); k++)
        fprintf(stderr, "zfnet: skipped: %s\n", zf_dataset_skipped(*d, k));
    return 0;
}

/* The model for the data: channels and classes from the training set; the input size from
 * the model unless the images are too small to crop it, then from the images. */
static int open_net(const train_cfg *c, const zf_dataset *d, zf_net **net) {
    zf_shape s = zf_dataset_shape(d);
    zf_model_overrides ov = c->ov;
    if (!ov.channels) ov.channels = s.c;
    if (!ov.classes) ov.classes = zf_dataset_classes(d);
    zf_net_options no = {.threads = c->threads, .seed = c->seed};
    if (cli_open_net(c->model, &ov, &no, net)) return 1;
    zf_shape in = zf_net_input_shape(*net);
    if (!c->ov.height && (in.h > s.h + 2 * c->pad || in.w > s.w + 2 * c->pad)) {
        zf_net_free(*net);
        ov.height = s.h, ov.width = s.w;
        if (cli_open_net(c->model, &ov, &no, net)) return 1;
    }
    return 0;
}

int train_run(train_cfg *c, int resume, int overwrite, double *final_acc) {
    trainer t = {.c = c};
    run_state *r = &t.rs;
    zf_dataset *tr = NULL, *te = NULL;
    zf_loader *loader = NULL;
    history h = {0};
    FILE *metrics = NULL;
    float *acc = NULL;
    int rc = 1;
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c->out);
    struct stat sb;
    if (!resume && !overwrite && !stat(path, &sb)) {
        return cli_error("%s already holds a training run; continue it with --resume, or start "
                         "again with --overwrite (or choose another -o)",
                         c->out);
    }
    if (resume && load_state(c, r)) return 1;
    if (open_data(c, c->train, &tr)) goto done;
    if (strcmp(c->test, "none") && open_data(c, c->test, &te)) goto done;
    if (open_net(c, tr, &t.net)) goto done;
    zf_shape in = zf_net_input_shape(t.net), ds = zf_dataset_shape(tr);
    if (te && (zf_dataset_shape(te).c != ds.c || zf_dataset_shape(te).h != ds.h ||
               zf_dataset_shape(te).w != ds.w)) {
        zf_shape ts = zf_dataset_shape(te);
        cli_error("the test set's images are %dx%dx%d, the training set's %dx%dx%d", ts.c, ts.h,
                  ts.w, ds.c, ds.h, ds.w);
        goto done;
    }
    zf_error err;
    zf_net_set_inplace_relu(t.net, 1);
    zf_net_set_input_grad(t.net, 0);
    if (zf_net_reserve(t.net, c->batch, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    t.prep = (data_prep){
        .shape = ds, .scale = (float)c->scale, .pad = c->pad, .classes = zf_net_classes(t.net)};
    if (zf_dataset_class_name(tr, 0) &&
        (t.prep.names = calloc((size_t)t.prep.classes, sizeof(char *))))
        for (int k = 0; k < t.prep.classes; k++) {
            const char *n = zf_dataset_class_name(tr, k);
            t.prep.names[k] = strdup(n ? n : "?");
        }
    if (!(t.prep.mean = malloc(sizeof(float) * (size_t)ds.c * ds.h * ds.w))) {
        cli_error("out of memory");
        goto done;
    }
    if (mkdir(c->out, 0755) && errno != EEXIST) {
        cli_error("%s: cannot create: %s", c->out, strerror(errno));
        goto done;
    }
    printf("model %s: input %dx%dx%d, %d classes, %zu parameters; %s: %d images",
           zf_model_name(zf_net_model(t.net)), in.c, in.h, in.w, zf_net_classes(t.net),
           zf_net_num_params(t.net), zf_dataset_description(tr), zf_dataset_count(tr));
    if (te) printf("; test: %d images", zf_dataset_count(te));
    printf("\n");
    if (resume) {
        if (zf_checkpoint_load_state(t.net, path, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        zf_st_file *f;
        const zf_st_tensor *m = NULL;
        if (!zf_st_open(&f, path, &err)) {
            m = zf_st_find(f, "data.mean");
            if (m && m->nbytes == sizeof(float) * (size_t)ds.c * ds.h * ds.w)
                memcpy(t.prep.mean, m->data, m->nbytes);
            else
                m = NULL;
            zf_st_close(f);
        }
        if (!m) {
            cli_error("%s: its data.mean does not match the training images", path);
            goto done;
        }
        printf("resuming %s after epoch %d, batch %d\n", c->out, r->epoch_done, r->next_batch);
    } else {
        zf_init_options io = {
            .scheme = (zf_init_scheme)c->init, .std = c->init_std, .seed = c->seed};
        zf_net_init_params(t.net, &io);
        double t0 = now_s();
        if (zf_dataset_mean(tr, c->mean_images, c->loaders, t.prep.mean, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        if (now_s() - t0 > 1) printf("per-pixel mean: %.1f s\n", now_s() - t0);
        *r = (run_state){.lr = lr_at(c, 1), .best = -1, .plateau_best = -1};
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", c->out);
    if (resume ? reload_metrics(path, r->epoch_done, &h)
               : zf_write_file(path, "", 0, &err) != ZF_OK && cli_error("%s", err.msg))
        goto done;
    if (!(metrics = fopen(path, "a"))) {
        cli_error("%s: cannot append: %s", path, strerror(errno));
        goto done;
    }
    zf_loader_options lo = {.batch = c->batch,
                            .height = in.h,
                            .width = in.w,
                            .pad = c->pad,
                            .crop = ZF_CROP_RANDOM,
                            .flip = c->flip,
                            .shuffle = 1,
                            .drop_last = 1,
                            .scale = (float)c->scale,
                            .mean = t.prep.mean,
                            .seed = c->seed,
                            .threads = c->loaders,
                            .stop_on_bad = c->stop_on_bad};
    if (zf_loader_create(&loader, tr, &lo, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    int nb = zf_loader_batches(loader), classes = zf_net_classes(t.net);
    if (te && !(acc = malloc(sizeof(float) * (size_t)zf_dataset_count(te) * classes))) {
        cli_error("out of memory");
        goto done;
    }
    if (nb == 0) {
        cli_error("%s: %d images make no batch of %d", zf_dataset_description(tr),
                  zf_dataset_count(tr), c->batch);
        goto done;
    }
    double run_t0 = now_s() - r->elapsed, last_state = now_s(), last_acc = -1;
    int reported_bad = 0;
    for (int epoch = r->epoch_done + 1; epoch <= c->epochs; epoch++) {
        if (!c->plateau) r->lr = lr_at(c, epoch);
        int first = r->next_batch;
        zf_loader_start(loader, epoch, first);
        double t0 = now_s(), wait0 = zf_loader_wait_seconds(loader);
        int renorm_epoch = 0;
        progress pg;
        progress_start(&pg);
        for (int b = first; b < nb; b++) {
            const float *x;
            const int64_t *labels;
            int n;
            double loss;
            zf_net_reseed(t.net, zf_mix64(c->seed, (uint64_t)(epoch - 1) * nb + b));
            if (zf_loader_next(loader, &x, &labels, &n, &err) ||
                zf_net_set_input(t.net, x, n, &err) || zf_net_set_labels(t.net, labels, n, &err) ||
                zf_net_forward(t.net, ZF_MODE_TRAIN, -1, &err) || zf_net_loss(t.net, &loss, &err)) {
                progress_end(&pg);
                cli_error("%s", err.msg);
                goto done;
            }
            zf_net_zero_grads(t.net);
            if (zf_net_backward(t.net, &err) ||
                zf_net_sgd_step(t.net, (float)r->lr, (float)c->momentum, (float)c->wd, &err)) {
                progress_end(&pg);
                cli_error("%s", err.msg);
                goto done;
            }
            if (!isfinite(loss)) {
                progress_end(&pg);
                cli_error("the loss became %g at epoch %d, batch %d: lower --lr (now %g)", loss,
                          epoch, b, r->lr);
                goto done;
            }
            if (c->renorm > 0) renorm_epoch += zf_net_renormalize_filters(t.net, c->renorm);
            r->loss_sum += loss, r->loss_batches++;
            for (; reported_bad < zf_loader_num_bad(loader); reported_bad++)
                report_bad(zf_loader_bad(loader, reported_bad));
            char extra[96];
            double el = now_s() - t0;
            snprintf(extra, sizeof extra, "loss %.4f  %.0f img/s", r->loss_sum / r->loss_batches,
                     el > 0 ? (b + 1 - first) * (double)c->batch / el : 0);
            char label[48];
            snprintf(label, sizeof label, "epoch %d/%d", epoch, c->epochs);
            progress_show(&pg, label, b + 1, nb, extra);
            if (c->state_every > 0 && now_s() - last_state >= c->state_every && b + 1 < nb) {
                r->renorm_fired += renorm_epoch, renorm_epoch = 0;
                r->next_batch = b + 1, r->elapsed = now_s() - run_t0;
                if (save_state(&t)) goto done;
                last_state = now_s();
            }
        }
        progress_end(&pg);
        r->renorm_fired += renorm_epoch;
        double train_s = now_s() - t0, wait = zf_loader_wait_seconds(loader) - wait0;
        double loss = r->loss_sum / (r->loss_batches ? r->loss_batches : 1), top1 = NAN, top5;
        if (te) {
            memset(acc, 0, sizeof(float) * (size_t)zf_dataset_count(te) * classes);
            if (eval_accumulate(t.net, te, &t.prep, ZF_CROP_CENTER, c->batch, c->loaders, acc, 1))
                goto done;
            eval_score(acc, te, classes, &top1, &top5, NULL);
            if (zf_net_reserve(t.net, c->batch, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
        double img_s = (nb - first) * (double)c->batch / train_s;
        printf("epoch %2d/%d  lr %.4g  loss %.4f", epoch, c->epochs, r->lr, loss);
        if (te) printf("  test %.2f%%", 100 * top1);
        printf("  %.0f img/s  data wait %.1f s", img_s, wait);
        if (c->renorm > 0) printf("  renorm fired %ld", r->renorm_fired);
        printf("  %.0f s\n", now_s() - run_t0);
        fflush(stdout);
        fprintf(metrics,
                "{\"epoch\": %d, \"lr\": %g, \"train_loss\": %.6f, \"test_accuracy\": %.6f, "
                "\"test_top5\": %.6f, \"img_per_s\": %.1f, \"data_wait_s\": %.2f, "
                "\"renorm_fired\": %ld, \"elapsed_s\": %.1f}\n",
                epoch, r->lr, loss, te ? top1 : -1, te ? top5 : -1, img_s, wait, r->renorm_fired,
                now_s() - run_t0);
        fflush(metrics);
        history_add(&h, epoch, loss, te ? 100 * top1 : NAN);
        last_acc = te ? top1 : -1;
        if (save_weights(&t, "last.safetensors", epoch, last_acc)) goto done;
        if (te && top1 > r->best) {
            r->best = top1, r->best_epoch = epoch;
            if (save_weights(&t, "best.safetensors", epoch, top1)) goto done;
        }
        for (int k = 0; k < c->nsnap; k++)
            if (c->snap[k] == epoch) {
                char name[64];
                snprintf(name, sizeof name, "epoch-%d.safetensors", epoch);
                if (save_weights(&t, name, epoch, last_acc)) goto done;
            }
        if (c->plateau && te) { /* ZF: /10 when the held-out error stops improving */
            if (top1 > r->plateau_best + 1e-4)
                r->plateau_best = top1, r->plateau_wait = 0;
            else if (++r->plateau_wait >= c->patience) {
                r->lr /= 10, r->plateau_wait = 0;
                printf("test accuracy has not improved for %d epochs: learning rate now %g\n",
                       c->patience, r->lr);
            }
        }
        snprintf(path, sizeof path, "%s/curves.svg", c->out);
        char title[200];
        snprintf(title, sizeof title, "%s on %.120s", zf_model_name(zf_net_model(t.net)), c->train);
        if (svg_curves(path, title, h.n, h.epoch, h.loss, h.acc)) goto done;
        r->epoch_done = epoch, r->next_batch = 0, r->loss_sum = 0, r->loss_batches = 0;
        r->elapsed = now_s() - run_t0;
        if (save_state(&t)) goto done;
        last_state = now_s();
    }
    if (last_acc < 0 && te && r->epoch_done >= c->epochs) { /* nothing left to train: evaluate */
        memset(acc, 0, sizeof(float) * (size_t)zf_dataset_count(te) * classes);
        if (eval_accumulate(t.net, te, &t.prep, ZF_CROP_CENTER, c->batch, c->loaders, acc, 1))
            goto done;
        double top5;
        eval_score(acc, te, classes, &last_acc, &top5, NULL);
        printf("%s: all %d epochs done\n", c->out, c->epochs);
    }
    if (te) printf("test accuracy: %.2f%%\n", 100 * last_acc);
    if (te) printf("best: %.2f%% after epoch %d\n", 100 * r->best, r->best_epoch);
    printf("run folder %s: last%s.safetensors, state.safetensors, metrics.jsonl, curves.svg\n",
           c->out, te ? ", best" : "");
    if (final_acc) *final_acc = last_acc;
    rc = 0;
done:
    if (metrics) fclose(metrics);
    free(acc), free(h.epoch), free(h.loss), free(h.acc);
    zf_loader_free(loader);
    data_prep_free(&t.prep);
    zf_net_free(t.net);
    zf_dataset_free(tr), zf_dataset_free(te);
    return rc;
}
