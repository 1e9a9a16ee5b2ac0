/* zfnet train and zfnet demo: the library's training run (zf_train) behind two front doors;
 * the per-epoch lines and curves.svg are drawn here. */
#include "draw.h"
#include "output.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- options --------------------------------------------------------------------------------- */

static int parse_steps(const char *opt, const char *arg, void *target) {
    zf_train_options *c = target;
    c->lr_plateau = 0;
    return cli_parse_int_list(opt, arg, 1, 1000000, c->lr_steps, 32, &c->nlr_steps);
}

/* a flag: the plateau schedule replaces the steps */
static int parse_plateau(const char *opt, const char *arg, void *target) {
    (void)opt, (void)arg;
    zf_train_options *c = target;
    c->lr_plateau = 1, c->nlr_steps = 0;
    return 0;
}

static int parse_snapshots(const char *opt, const char *arg, void *target) {
    zf_train_options *c = target;
    return cli_parse_int_list(opt, arg, 1, 1000000, c->snapshots, 64, &c->nsnapshots);
}

static int parse_init(const char *opt, const char *arg, void *target) {
    zf_train_options *c = target;
    zf_error err;
    if (!strncmp(arg, "gaussian", 8) && arg[8] == ':') {
        char *end;
        double std = strtod(arg + 9, &end);
        if (*end || !(std >= 1e-9 && std <= 10))
            return cli_error("%s gaussian:STD: '%s' is not a number in [1e-09, 10]", opt, arg + 9),
                   2;
        c->init = ZF_INIT_GAUSSIAN, c->init_std = std;
        return 0;
    }
    if (zf_init_scheme_parse(arg, &c->init, &err))
        return cli_error("%s: '%s' is not he, xavier or gaussian[:STD]", opt, arg), 2;
    if (c->init == ZF_INIT_GAUSSIAN) c->init_std = 0.01;
    return 0;
}

static int parse_diverge(const char *opt, const char *arg, void *target) {
    zf_train_options *c = target;
    if (strcmp(arg, "stop") && strcmp(arg, "lower"))
        return cli_error("%s: '%s' is not stop or lower", opt, arg), 2;
    c->lower_on_diverge = !strcmp(arg, "lower");
    return 0;
}

enum { NTRAIN_OPTS = 31 };

/* zf_train_options as options (NTRAIN_OPTS entries with the end) */
static void train_options(cli_opt *t, zf_train_options *c) {
    const cli_opt opts[] = {
        {NULL, CLI_HEADING, NULL, NULL, "data:"},
        {"train", CLI_STR, &c->train, "SPEC", "training set (fashion-mnist)"},
        {"test", CLI_STR, &c->test, "SPEC",
         "evaluated after every epoch (fashion-mnist:test; 'none' skips)\n"
         "SPEC: fashion-mnist[:test], digits[:test] (OpenCV's digits),\n"
         "IMAGES.gz[,LABELS.gz] (IDX),\n"
         "A.bin[,B.bin...] (CIFAR-10/100), an image folder DIR/<class>/*,\n"
         "or a shard from 'zfnet pack'"},
        {"data-size", CLI_INT, &c->data_size, "S",
         "folders: short side resized to S, centre S x S kept (256)", 8, 8192},
        {"mean-images", CLI_INT, &c->mean_images, "N",
         "images averaged for the per-pixel mean (0: all; 0)", 0, 1 << 30},
        {"stop-on-bad", CLI_FLAG, &c->stop_on_bad, NULL,
         "a file that is not a readable image stops the run (default:\n"
         "reported by name and skipped)"},
        {"loader-threads", CLI_INT, &c->loader_threads, "T",
         "decoding threads ahead of the compute (2)", 1, 256},
        {NULL, CLI_HEADING, NULL, NULL, "model:"},
        {"model", CLI_STR, &c->model, "M", "preset or model file (zfnet-mini)"},
        {"init", CLI_CALL, c, "I", "he, xavier or gaussian[:STD] initialisation (he)",
         .parse = parse_init, .choices = "he xavier gaussian"},
        {NULL, CLI_HEADING, NULL, NULL, "recipe:"},
        {"epochs", CLI_INT, &c->epochs, "N", "epochs (30)", 1, 100000},
        {"batch", CLI_INT, &c->batch, "N",
         "images per step (128); under mpirun, per process: the step is N x np", 1, 4096},
        {"lr", CLI_DOUBLE, &c->lr, "X", "learning rate (0.05)", 0, 10},
        {"momentum", CLI_DOUBLE, &c->momentum, "X", "SGD momentum (0.9)", 0, 0.9999},
        {"weight-decay", CLI_DOUBLE, &c->weight_decay, "X", "weight decay (0.0005)", 0, 1},
        {"lr-steps", CLI_CALL, c, "E1,E2", "divide the rate by 10 after these epochs (20,26)",
         .parse = parse_steps},
        {"lr-plateau", CLI_FLAG, c, NULL,
         "instead: divide by 10 when test accuracy has not improved for\n"
         "--patience epochs, as the paper did with validation error",
         .parse = parse_plateau},
        {"patience", CLI_INT, &c->patience, "N", "--lr-plateau: epochs without improvement (2)", 1,
         1000},
        {"renorm", CLI_DOUBLE, &c->renorm, "R",
         "rescale conv filters whose RMS exceeds R after each step (ZF sec. 3;\n"
         "0.1 in the paper, whose inputs were in pixel units; 0 = off) (0)",
         0, 1e6},
        {"crop-pad", CLI_INT, &c->crop_pad, "P",
         "training crops: random positions in the image padded by P (2)", 0, 256},
        {"no-flip", CLI_FLAG, &c->flip, NULL, "no random horizontal mirroring", .off = 1},
        {"input-scale", CLI_DOUBLE, &c->input_scale, "X",
         "input = (pixel - mean) * X (0.00392157 = 1/255)", 1e-9, 1e9},
        {"seed", CLI_U64, &c->seed, "S",
         "random seed: weights, order, crops, mirrors, dropout (1)"},
        {"on-diverge", CLI_CALL, c, "stop|lower",
         "a NaN or Inf in the loss, a gradient or the weights: stop, naming\n"
         "the step, the tensor and the last good state (stop), or go back to\n"
         "that state with a tenth of the rate, up to 3 times (lower)",
         .parse = parse_diverge, .choices = "stop lower"},
        CLI_THREADS(&c->threads),
        CLI_PRECISION,
        {NULL, CLI_HEADING, NULL, NULL, "run folder:"},
        {"snapshot-epochs", CLI_CALL, c, "E1,E2,...",
         "also keep epoch-E.safetensors for these epochs", .parse = parse_snapshots},
        {"state-every", CLI_DOUBLE, &c->state_every, "SECONDS",
         "save the resumable state mid-epoch this often (300)", 0, 1e9},
        {0}};
    _Static_assert(sizeof opts / sizeof opts[0] == NTRAIN_OPTS, "NTRAIN_OPTS");
    memcpy(t, opts, sizeof opts);
}

/* train and demo: their own options, the model overrides and the training options. */
static int parse(const cli_command *cmd, int argc, char **argv, zf_train_options *c,
                 int *epochs_given, int *precision_given, int mpi_opts) {
    cli_opt own[] = {
        {"resume", CLI_FLAG, &c->resume, NULL,
         "continue the run in DIR exactly where it stopped (its saved options\n"
         "are used; --epochs may extend it, --precision change it; under mpirun,\n"
         "with any number of processes that divides the run's batch)"},
        {"overwrite", CLI_FLAG, &c->overwrite, NULL, "start again even if DIR holds a run"},
        CLI_OUTPUT(&c->out, "the run folder (train: zfnet-run, demo: zfnet-demo)"),
        {NULL, CLI_HEADING, NULL, NULL, "under mpirun (docs/distributed.md):"},
        {"bucket-mb", CLI_DOUBLE, &c->bucket_mb, "MB",
         "gradients are summed over the processes in buckets of MB (25)", 0.001, 4096},
        {"no-overlap", CLI_FLAG, &c->no_overlap, NULL,
         "sum them after the backward pass, not during it (for measuring)"},
        {0}};
    if (!mpi_opts) own[3] = (cli_opt){0};
    cli_opt tg[NTRAIN_OPTS + 3]; /* the training options, then the model overrides */
    train_options(tg, c);
    for (int i = 0; tg[i].kind; i++)
        if (tg[i].name && !strcmp(tg[i].name, "epochs"))
            tg[i].given = epochs_given;
        else if (tg[i].name && !strcmp(tg[i].name, "precision"))
            tg[i].given = precision_given;
    tg[NTRAIN_OPTS - 1] =
        (cli_opt){NULL, CLI_HEADING, NULL, NULL,
                  "model overrides (default: channels and classes from the data):"};
    cli_group_overrides(tg + NTRAIN_OPTS, &c->overrides);
    int npos, rc = cli_parse(cmd, own, tg, argc, argv, &npos);
    if (rc >= 0) return rc;
    c->precision = cli_precision;
    if (c->resume && c->overwrite)
        return cli_usage_error(cmd->name, "--resume and --overwrite exclude each other");
    return -1;
}

/* ---- the run's lines ------------------------------------------------------------------------- */

typedef struct run_view {
    char curves[4200], title[200];
} run_view;

static void on_start(void *ctx, const zf_train_info *i) {
    run_view *v = ctx;
    printf("model %s: input %dx%dx%d, %d classes, %zu parameters%s; %s: %d images", i->model_name,
           i->input.c, i->input.h, i->input.w, i->classes, i->params,
           i->precision == ZF_PRECISION_BF16 ? ", in bf16" : "", i->train_description,
           i->train_images);
    if (i->test_images >= 0) printf("; test: %d images", i->test_images);
    printf("\n");
    if (i->resumed)
        printf("resuming %s after epoch %d, batch %d\n", i->out, i->epoch_done, i->next_batch);
    snprintf(v->curves, sizeof v->curves, "%s/curves.svg", i->out);
    snprintf(v->title, sizeof v->title, "%s on %.120s", i->model_name, i->train_spec);
}

static int on_epoch(void *ctx, const zf_epoch_report *r) {
    run_view *v = ctx;
    printf("epoch %2d/%d  lr %.4g  loss %.4f", r->epoch, r->epochs, r->lr, r->loss);
    if (r->has_test) printf("  test %.2f%%", 100 * r->top1);
    printf("  %.0f img/s  data wait %.1f s", r->img_per_s, r->data_wait_s);
    if (r->renorm) printf("  renorm fired %ld", r->renorm_fired);
    printf("  %.0f s\n", r->elapsed_s);
    if (r->lr_dropped)
        printf("test accuracy has not improved for %d epochs: learning rate now %g\n", r->patience,
               r->next_lr);
    return svg_curves(v->curves, v->title, r->n, r->hist_epoch, r->hist_loss, r->hist_acc);
}

/* SIGINT / SIGTERM: the run saves its state after the current step and ends; a second one
 * ends the process at once. */
static volatile int stop_signal;

static void on_stop_signal(int sig) {
    if (stop_signal) { /* the second: at once, without half-written files */
        zf_remove_partial_files();
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_signal = sig;
}

/* Under mpirun, rank 0: what the gradient sums cost */
static void print_dist(const zf_train_result *r, int ranks) {
    if (!r->steps) return;
    printf("%d processes: gradients (%.1f MB) summed in %d bucket%s; per step %.1f ms backward, "
           "then %.1f ms waiting for the sums\n",
           ranks, r->grad_bytes / 1e6, r->buckets, r->buckets > 1 ? "s" : "",
           1e3 * r->backward_s / r->steps, 1e3 * r->allreduce_wait_s / r->steps);
}

/* Under mpirun: the failure worth showing (the lowest failing rank's; a rank's own, unknown to
 * the others, is shown and ends the job); then leave the job. */
static int dist_end(zf_dist *d, zf_status st, const zf_train_result *r, const zf_error *err,
                    int rc) {
    int rank = zf_dist_rank(d);
    if (st && err->status != ZF_ERR_CANCELLED && (r->error_rank < 0 || r->error_rank == rank)) {
        if (rank)
            cli_error("rank %d of %d: %s", rank, zf_dist_size(d), err->msg);
        else
            cli_error("%s", err->msg);
    }
    fflush(stdout), fflush(stderr);
    zf_dist_finish(d, st && r->error_rank < 0);
    return rc;
}

/* Train (the callbacks print the lines); the final lines; 0 or the exit code. The demo (not
 * `distributed`) refuses to run under mpirun. */
static int train(zf_train_options *c, int distributed) {
    zf_error err;
    zf_dist *dist;
    if (zf_dist_init(&dist, &err)) return cli_fail(&err);
    if (dist && !distributed) {
        if (!zf_dist_rank(dist))
            cli_error("the demo runs as one process: for data-parallel training, mpirun -np N "
                      "zfnet train");
        zf_dist_finish(dist, 0);
        return 2;
    }
    c->dist = dist;
    run_view view;
    c->cb = cli_callbacks(stdout);
    c->on_start = on_start, c->on_epoch = on_epoch, c->ctx = &view;
    c->stop = &stop_signal;
    void (*old_int)(int) = signal(SIGINT, on_stop_signal);
    void (*old_term)(int) = signal(SIGTERM, on_stop_signal);
    zf_train_result r;
    zf_status st = zf_train(c, &r, &err);
    signal(SIGINT, old_int), signal(SIGTERM, old_term);
    int rc = st ? stop_signal ? 128 + stop_signal : 1 : 0;
    if (dist) {
        if (!st && !zf_dist_rank(dist)) print_dist(&r, zf_dist_size(dist));
        if (st || zf_dist_rank(dist)) return dist_end(dist, st, &r, &err, rc);
    }
    if (st && stop_signal) return cli_error("%s", err.msg), rc;
    if (st) return cli_fail(&err);
    if (!r.trained && r.has_test) printf("%s: all %d epochs done\n", c->out, r.epochs);
    if (r.has_test) printf("test accuracy: %.2f%%\n", 100 * r.test_accuracy);
    if (r.has_test) printf("best: %.2f%% after epoch %d\n", 100 * r.best_accuracy, r.best_epoch);
    printf("run folder %s: last.safetensors%s, state.safetensors, metrics.jsonl, curves.svg\n",
           c->out, r.has_test ? ", best.safetensors" : "");
    return dist ? dist_end(dist, ZF_OK, &r, &err, 0) : 0;
}

static const cli_command train_cmd = {
    "train", "[options] [-o DIR] [--resume | --overwrite]",
    "Trains a model with SGD (momentum, weight decay) on a dataset, evaluating it on a test set\n"
    "after every epoch. Inputs are (pixel - per-pixel mean) * input-scale, cropped at random\n"
    "from the mean-padded image and mirrored. DIR (zfnet-run) gets last.safetensors,\n"
    "best.safetensors, epoch-N.safetensors snapshots, state.safetensors (everything needed to\n"
    "resume), metrics.jsonl and curves.svg. --resume continues the run in DIR exactly where it\n"
    "stopped (its saved options are used; --epochs may extend it, --precision change it).\n"};

/* Resuming without --precision: the precision the run was trained in (its saved
 * configuration's; float32 for a state from before bf16; unchanged for one that cannot be
 * read, which the resume itself then reports). */
static void run_precision(zf_train_options *c) {
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c->out);
    zf_st_file *f;
    if (zf_st_open(path, &f, NULL)) return;
    const char *cfg = zf_st_meta(f, "train_config");
    json_t *o = cfg ? json_loads(cfg, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(o, "precision"));
    if (o && !name) c->precision = ZF_PRECISION_FP32;
    if (name) zf_precision_parse(name, &c->precision, NULL);
    json_decref(o);
    zf_st_free(f);
}

int cmd_train(int argc, char **argv) {
    zf_train_options c;
    zf_train_defaults(&c);
    int epochs_given = 0, precision_given = 0;
    int rc = parse(&train_cmd, argc, argv, &c, &epochs_given, &precision_given, 1);
    if (rc >= 0) return rc;
    if (c.resume && !epochs_given) c.epochs = 0; /* only an --epochs given now changes it */
    if (c.resume && !precision_given) run_precision(&c);
    return train(&c, 1);
}

static const cli_command demo_cmd = {
    "demo", "[-o DIR] [--overwrite] [training options]",
    "The embedded default: trains zfnet-mini on Debian's Fashion-MNIST\n"
    "(/usr/share/datasets/fashion-mnist, package dataset-fashion-mnist) with the demo recipe,\n"
    "evaluates it on the 10,000 test images and prints 'test accuracy: NN.NN%'. Its run goes to\n"
    "DIR (zfnet-demo). Run again, it continues an interrupted run, or only re-evaluates a\n"
    "finished one; --overwrite trains from scratch.\n\n"
    "demo recipe: 30 epochs, batch 128, lr 0.05 (/10 after epochs 20 and 26), momentum 0.9,\n"
    "weight decay 5e-4, crops from the image padded by 2, mirroring, seed 1; snapshots at\n"
    "epochs 1, 2, 5, 10, 20, 30; in bfloat16 where the CPU has AVX512-BF16 (the demo's\n"
    "--precision is auto: as accurate as fp32 and 1.5x faster, docs/precision.md). Then, for\n"
    "the best checkpoint, it runs what a user would type: zfnet eval with the centre and the\n"
    "ten crops (DIR/eval), the layer-1 filters (DIR/filters), the top-9 activations of 8\n"
    "random maps of every conv layer (DIR/top9) and their evolution over the snapshots\n"
    "(DIR/evolution), as zfnet filters / top9 / evolution; and the paper's experiments, as\n"
    "zfnet occlusion / invariance / correspondence: occlusion maps of two test images per\n"
    "class (a black square, DIR/occlusion), invariance curves of one per class under\n"
    "translation, scaling and rotation (DIR/invariance), and correspondence of sleeves and\n"
    "collar over five T-shirts (DIR/correspondence). It ends with zfnet report:\n"
    "DIR/report/index.html, one page with all of it.\n"};

/* what the paper looks at, for the model just trained, and the report */
static int visualise(const zf_train_options *c) {
    const char *data = c->test && strcmp(c->test, "none") ? c->test : c->train;
    char best[4200];
    snprintf(best, sizeof best, "%s/best.safetensors", c->out);
    if (access(best, F_OK)) snprintf(best, sizeof best, "%s/last.safetensors", c->out);
    int rc = demo_views(c->out, best, data, c->seed, c->threads, 0, 1);
    return rc ? rc : demo_report(c->out, c->threads);
}

int cmd_demo(int argc, char **argv) {
    zf_train_options c;
    zf_train_defaults(&c);
    c.out = "zfnet-demo";
    const int snaps[] = {1, 2, 5, 10, 20, 30};
    for (int k = 0; k < 6; k++) c.snapshots[c.nsnapshots++] = snaps[k];
    int epochs_given = 0, precision_given = 0;
    int rc = parse(&demo_cmd, argc, argv, &c, &epochs_given, &precision_given, 0);
    if (rc >= 0) return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c.out);
    struct stat sb; /* a run there is continued (or only evaluated); train says what is wrong */
    c.resume = !c.overwrite && !lstat(path, &sb);
    if (!precision_given) c.precision = ZF_PRECISION_AUTO; /* the demo's: docs/precision.md */
    if (c.resume && !precision_given) run_precision(&c);
    cli_precision = c.precision; /* its analyses compute alike */
    double t0 = cli_now();
    if ((rc = train(&c, 0)) || (rc = visualise(&c))) return rc;
    printf("\ndemo finished in %.0f s; the report: %s/report/index.html\n", cli_now() - t0, c.out);
    printf("to look inside it in the browser: zfnet serve %s\n", c.out);
    return 0;
}

/* ---- zfnet ablate ------------------------------------------------------------------------- */

static const cli_command ablate_cmd = {
    "ablate", "--variants FILE [training options] [-o DIR]",
    "Table 3 of the paper for any base model: each variant in FILE is the base model (--model,\n"
    "zfnet-mini) with some layers removed or resized, trained with the same recipe, data and\n"
    "seed (the training options, as 'zfnet train') into DIR/NAME (zfnet-ablate), then scored\n"
    "with its last checkpoint: top-1 error on the training set (centre crops), top-1 and top-5\n"
    "error on the test set, parameters, training time and the median epoch's time (steadier on\n"
    "a shared machine). FILE has one variant per line, '#' comments:\n"
    "  base:                                   # the base model unchanged\n"
    "  no-3-4: remove conv3,conv4              # a layer goes with its ReLU, LRN, dropout\n"
    "  fc-512: fc6.outputs=512; fc7.outputs=512   # any setting, as model files write it\n"
    "Every variant is checked before any trains. Run again, it skips finished variants (their\n"
    "DIR/NAME/variant.json) and resumes an interrupted one. DIR gets ablation.csv and\n"
    "ablation.json with the whole table (\"rows\") and the command that made it.\n"};

/* "12.34%", or "n/a" (no test set) */
static const char *pct(double v, char *buf) {
    if (v < 0) return "n/a";
    snprintf(buf, 16, "%.2f%%", 100 * v);
    return buf;
}

static int on_variant(void *ctx, const zf_ablation_row *row, int i, int n) {
    (void)ctx;
    char a[16], b[16], c[16];
    printf("== variant %d/%d %s:%s train top-1 error %s, test top-1 %s, top-5 %s, %.0f s\n\n",
           i + 1, n, row->name, row->reused ? " (finished earlier)" : "", pct(row->train_top1, a),
           pct(row->test_top1, b), pct(row->test_top5, c), row->seconds);
    return 0;
}

static json_t *row_json(const zf_ablation_row *r) {
    return json_pack("{s:s, s:I, s:f, s:o, s:o, s:f, s:f, s:i}", "variant", r->name, "params",
                     (json_int_t)r->params, "train_top1_error", r->train_top1, "test_top1_error",
                     r->test_top1 < 0 ? json_null() : json_real(r->test_top1), "test_top5_error",
                     r->test_top5 < 0 ? json_null() : json_real(r->test_top5), "seconds",
                     r->seconds, "median_epoch_seconds", r->epoch_seconds, "epochs", r->epochs);
}

static int write_table(const char *dir, const zf_ablation_row *rows, int n) {
    char *buf = NULL, path[4200];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_error("out of memory");
    json_t *arr = json_array();
    fprintf(f, "variant,params,train_top1_error,test_top1_error,test_top5_error,seconds,"
               "median_epoch_seconds\n");
    printf("%-20s %10s %15s %14s %14s %8s %12s\n", "variant", "parameters", "train top-1 err",
           "test top-1 err", "test top-5 err", "time", "median epoch");
    for (int i = 0; i < n; i++) {
        const zf_ablation_row *r = &rows[i];
        char a[16], b[16], c[16];
        printf("%-20s %10zu %15s %14s %14s %6.0f s %10.1f s\n", r->name, r->params,
               pct(r->train_top1, a), pct(r->test_top1, b), pct(r->test_top5, c), r->seconds,
               r->epoch_seconds);
        fprintf(f, "%s,%zu,%.4f,", r->name, r->params, 100 * r->train_top1);
        if (r->test_top1 >= 0)
            fprintf(f, "%.4f,%.4f", 100 * r->test_top1, 100 * r->test_top5);
        else
            fprintf(f, ",");
        fprintf(f, ",%.1f,%.2f\n", r->seconds, r->epoch_seconds);
        json_array_append_new(arr, row_json(r));
    }
    fclose(f);
    zf_error err;
    snprintf(path, sizeof path, "%s/ablation.csv", dir);
    int rc = zf_write_file(path, buf, len, &err) ? cli_error("%s", err.msg) : 0;
    free(buf);
    snprintf(path, sizeof path, "%s/ablation.json", dir);
    json_t *doc = json_pack("{s:o}", "rows", arr);
    if (!rc) rc = write_json(path, doc);
    json_decref(doc);
    if (!rc) printf("wrote %s/ablation.csv and ablation.json\n", dir);
    return rc;
}

int cmd_ablate(int argc, char **argv) {
    zf_ablation_options a;
    zf_ablation_defaults(&a);
    zf_train_options *c = &a.train;
    c->out = "zfnet-ablate";
    const char *file = NULL;
    cli_opt own[] = {
        {"variants", CLI_STR, &file, "FILE", "the variants, one per line", .required = 1},
        CLI_OUTPUT(&c->out, "one run folder per variant, and the table (zfnet-ablate)"),
        {0}};
    cli_opt tg[NTRAIN_OPTS + 3];
    train_options(tg, c);
    tg[NTRAIN_OPTS - 1] = (cli_opt){NULL, CLI_HEADING, NULL, NULL, "model overrides:"};
    cli_group_overrides(tg + NTRAIN_OPTS, &c->overrides);
    int npos, rc = cli_parse(&ablate_cmd, own, tg, argc, argv, &npos);
    if (rc >= 0) return rc;
    c->precision = cli_precision;
    zf_variant *v;
    zf_error err;
    if (zf_variants_load(file, &v, &a.nvariants, &err)) return cli_fail(&err);
    a.variants = v;
    run_view view;
    c->cb = cli_callbacks(stdout);
    c->on_start = on_start, c->on_epoch = on_epoch, c->ctx = &view;
    a.on_variant = on_variant;
    zf_ablation_row *rows = calloc((size_t)a.nvariants, sizeof *rows);
    if (!rows)
        rc = cli_error("out of memory");
    else if (zf_ablate(&a, rows, &err))
        rc = cli_fail(&err);
    else
        rc = write_table(c->out, rows, a.nvariants);
    free(rows);
    zf_variants_free(v, a.nvariants);
    return rc;
}
