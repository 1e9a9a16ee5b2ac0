/* zfnet transfer: ZF §5.2 (Tables 4-6, Fig. 9) for any checkpoint and target set (zf_transfer):
 * a new classifier on frozen layers, fine-tuning or the same net from scratch, on N images per
 * class over K folds, scored by mean per-class accuracy; --curve repeats it over several N,
 * pretrained against scratch, as SVG and CSV. */
#include "draw.h"
#include "output.h"

#include <stdlib.h>
#include <string.h>

static const cli_command transfer_cmd = {
    "transfer",
    "--weights W [--train SPEC --test SPEC] [--per-class N] [--folds K]\n"
    "                      [--freeze LAYER | --finetune | --scratch] [--curve N1,N2,...] [-o DIR]\n"
    "                      [--save OUT.safetensors] [training options]",
    "Trains a pretrained net on another dataset with few images per class and scores it as\n"
    "the paper does (ZF 5.2): each of K folds (5) draws N images per class (10) from the\n"
    "training split at random, trains, and measures the mean per-class accuracy on the test\n"
    "split (every image, or the first M per class with --test-per-class); the result is the\n"
    "mean +- the standard deviation over the folds. SPECs as in 'zfnet train --help'\n"
    "(digits, digits:test); the images are prepared with the checkpoint's data mean and scale.\n"
    "  default     layers up to --freeze stay as trained and the layers above are trained with\n"
    "              a new classifier; the default freezes everything below the last fc (the\n"
    "              paper's 'layers 1-7 frozen + new softmax'). LAYER is a name or a number n,\n"
    "              the paper's layer n (the n-th conv or fc layer with its ReLU, pooling, LRN\n"
    "              and dropout). The frozen layers' outputs are computed once per image and\n"
    "              the rest trains on them (--no-cache: every step through the whole net).\n"
    "  --finetune  every layer trained from the checkpoint, the pretrained ones at\n"
    "              --base-lr-scale (0.1) times the rate; random crops (the checkpoint's pad)\n"
    "  --scratch   the same net re-initialised and trained on the target images alone (the\n"
    "              paper's 'non-pretrained' rows); random crops\n"
    "--curve runs the default (or --finetune) and --scratch at each N of the list (ZF Fig. 9):\n"
    "DIR (zfnet-transfer) gets curve.svg, curve.csv and transfer.json; without it\n"
    "transfer.json holds the run. Training: S steps (500) of B examples (64), SGD with\n"
    "momentum 0.9, weight decay 5e-4, rate 0.01 divided by 10 after half and three quarters\n"
    "of the steps. Fine-tune and scratch train on random crops (--crop-pad, --flip); the\n"
    "frozen way on centre views. --no-cache runs in inference mode (no dropout).\n"};

typedef struct transfer_job {
    zf_transfer_options o;
    const char *curve, *dir, *mode;
    int scratch, finetune, no_cache, flip_given, scale_given;
    int ns, n[64];
    char pretrained[96]; /* the curve's other line */
} transfer_job;

static int parse(transfer_job *j, int argc, char **argv) {
    zf_transfer_options *o = &j->o;
    const cli_opt own[] = {
        {"weights", CLI_STR, &o->checkpoint, "W", "the pretrained checkpoint", .required = 1},
        {"train", CLI_STR, &o->train, "SPEC", "the target's training split (digits)"},
        {"test", CLI_STR, &o->test, "SPEC", "the target's test split (digits:test)"},
        {"per-class", CLI_INT, &o->per_class, "N", "training images per class (10; 0: all)", 0,
         1 << 24},
        {"folds", CLI_INT, &o->folds, "K", "draws of N per class (5)", 1, 1000},
        {"test-per-class", CLI_INT, &o->test_per_class, "M",
         "score on up to the first M test images per class (0: all)", 0, 1 << 24},
        {"freeze", CLI_STR, &o->freeze, "LAYER", "the last frozen layer (below the last fc)"},
        {"finetune", CLI_FLAG, &j->finetune, NULL, "train every layer from the checkpoint"},
        {"scratch", CLI_FLAG, &j->scratch, NULL, "re-initialise every layer"},
        {"curve", CLI_STR, &j->curve, "N1,N2,...", "pretrained vs scratch at each N (Fig. 9)"},
        {"no-cache", CLI_FLAG, &j->no_cache, NULL, "frozen layers computed at every step"},
        CLI_OUTPUT(&j->dir, "where transfer.json (and the curve) go (zfnet-transfer)"),
        {"save", CLI_STR, &o->save, "OUT", "the first fold's net as a checkpoint"},
        {NULL, CLI_HEADING, NULL, NULL, "training:"},
        {"steps", CLI_INT, &o->steps, "S", "SGD steps per fold (500)", 1, 1 << 24},
        CLI_BATCH(&o->batch, "examples per step (64)"),
        {"lr", CLI_DOUBLE, &o->lr, "R", "learning rate (0.01)", 1e-9, 100},
        {"momentum", CLI_DOUBLE, &o->momentum, "M", "(0.9)", 0, 0.999},
        {"weight-decay", CLI_DOUBLE, &o->weight_decay, "D", "(5e-4)", 0, 1},
        {"base-lr-scale", CLI_DOUBLE, &o->base_lr_scale, "F",
         "--finetune: the pretrained layers' rate factor (0.1)", 0, 10, .given = &j->scale_given},
        {"crop-pad", CLI_INT, &o->crop_pad, "P", "random crops' padding (the checkpoint's)", 0, 64},
        {"flip", CLI_FLAG, &o->flip, NULL, "mirror half of the random crops",
         .given = &j->flip_given},
        {"seed", CLI_U64, &o->seed, "S", "the draws, the order and initialisation (1)"},
        CLI_THREADS(&o->threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&transfer_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (j->scratch + j->finetune > 1)
        return cli_usage_error("transfer", "--scratch and --finetune exclude each other");
    if (o->freeze && (j->scratch || j->finetune))
        return cli_usage_error("transfer", "--freeze goes with neither --scratch nor --finetune");
    if (j->no_cache && (j->scratch || j->finetune))
        return cli_usage_error("transfer", "--no-cache is for frozen layers: not with --scratch "
                                           "or --finetune");
    if (j->scale_given && !j->finetune)
        return cli_usage_error("transfer", "--base-lr-scale goes with --finetune");
    if (j->flip_given && !j->scratch && !j->finetune && !j->curve)
        return cli_usage_error("transfer", "--flip is for random crops: --scratch, --finetune "
                                           "or --curve");
    if (j->curve && (j->scratch || o->save))
        return cli_usage_error("transfer", "--curve runs --scratch itself; no --scratch or "
                                           "--save with it");
    o->mode = j->scratch    ? ZF_TRANSFER_SCRATCH
              : j->finetune ? ZF_TRANSFER_FINETUNE
                            : ZF_TRANSFER_FROZEN;
    o->cache = !j->no_cache;
    if (j->curve && cli_parse_int_list("--curve", j->curve, 1, 1 << 24, j->n, 64, &j->ns)) return 2;
    if (j->curve && !j->ns) return cli_usage_error("transfer", "--curve names no N");
    return -1;
}

static const char *mode_name(zf_transfer_mode m) {
    return m == ZF_TRANSFER_SCRATCH ? "scratch" : m == ZF_TRANSFER_FINETUNE ? "finetune" : "frozen";
}

static json_t *result_json(const zf_transfer_options *o, const zf_transfer_result *r) {
    json_t *acc = json_array(), *pc = json_array();
    for (int f = 0; f < r->folds; f++) {
        json_array_append_new(acc, json_num(r->accuracy[f]));
        json_t *row = json_array();
        for (int k = 0; k < r->classes; k++) {
            double a = r->class_accuracy[(size_t)f * r->classes + k];
            json_array_append_new(row, json_num(a));
        }
        json_array_append_new(pc, row);
    }
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:f, s:f}", "mode",
                     mode_name(o->mode), "per_class", o->per_class, "folds", r->folds,
                     "train_images", r->train_images, "test_images", r->test_images,
                     "frozen_through", r->freeze, "accuracy", acc, "class_accuracy", pc, "mean",
                     json_num(r->mean), "std", json_num(r->std), "seconds", r->seconds,
                     "feature_seconds", r->feature_seconds);
}

static int run_one(const zf_transfer_options *o, zf_transfer_result *r) {
    zf_error err;
    if (zf_transfer(o, r, &err)) return cli_fail(&err);
    printf("%s, %d per class: mean per-class accuracy %.2f%% +- %.2f over %d fold%s (%d training, "
           "%d test images; %.1f s)\n",
           mode_name(o->mode), o->per_class, 100 * r->mean, 100 * r->std, r->folds,
           r->folds > 1 ? "s" : "", r->train_images, r->test_images, r->seconds);
    return 0;
}

static int write_curve(const transfer_job *j, const zf_transfer_result *r, const char *dir) {
    char path[4200];
    int n = j->ns;
    double x[64], y[128];
    char *buf = NULL, *cbuf = NULL;
    size_t len = 0, clen = 0;
    FILE *c = open_memstream(&cbuf, &clen);
    if (!c) return cli_error("out of memory");
    fprintf(c, "per_class,%s mean,%s std,scratch mean,scratch std\n", j->pretrained, j->pretrained);
    for (int i = 0; i < n; i++) {
        x[i] = j->n[i];
        y[i] = 100 * r[2 * i].mean, y[n + i] = 100 * r[2 * i + 1].mean;
        fprintf(c, "%d,%.4f,%.4f,%.4f,%.4f\n", j->n[i], 100 * r[2 * i].mean, 100 * r[2 * i].std,
                100 * r[2 * i + 1].mean, 100 * r[2 * i + 1].std);
    }
    fclose(c);
    FILE *f = open_memstream(&buf, &len);
    if (!f) return free(cbuf), cli_error("out of memory");
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='420' height='330' "
               "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n");
    svg_panel(f, 60, 40, 320, 220, "mean per-class accuracy (%)", "training images per class", n, x,
              2, y);
    for (int s = 0; s < 2; s++) {
        uint8_t col[3];
        vis_category(s, col);
        fprintf(f, "<text x='%d' y='310' font-size='12' fill='#%02x%02x%02x'>", 40 + 200 * s,
                col[0], col[1], col[2]);
        svg_text(f, s ? "from scratch" : j->pretrained);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    snprintf(path, sizeof path, "%s/curve.svg", dir);
    int rc = svg_save(f, &buf, path);
    zf_error err;
    snprintf(path, sizeof path, "%s/curve.csv", dir);
    if (!rc && zf_write_file(path, cbuf, clen, &err)) rc = cli_error("%s", err.msg);
    free(cbuf);
    return rc;
}

static int run_curve(transfer_job *j, json_t *runs) {
    zf_transfer_result *r = calloc((size_t)2 * j->ns, sizeof *r);
    int rc = r ? 0 : cli_error("out of memory");
    for (int i = 0; !rc && i < 2 * j->ns; i++) {
        zf_transfer_options o = j->o;
        o.per_class = j->n[i / 2];
        if (i % 2) o.mode = ZF_TRANSFER_SCRATCH, o.freeze = NULL;
        if (!(rc = run_one(&o, &r[i]))) json_array_append_new(runs, result_json(&o, &r[i]));
    }
    if (!rc) {
        printf("\n%-10s %22s %22s\n", "per class", j->pretrained, "from scratch");
        for (int i = 0; i < j->ns; i++)
            printf("%-10d %14.2f%% +- %4.2f %14.2f%% +- %4.2f\n", j->n[i], 100 * r[2 * i].mean,
                   100 * r[2 * i].std, 100 * r[2 * i + 1].mean, 100 * r[2 * i + 1].std);
        rc = write_curve(j, r, j->dir);
    }
    for (int i = 0; r && i < 2 * j->ns; i++) zf_transfer_result_free(&r[i]);
    free(r);
    return rc;
}

int cmd_transfer(int argc, char **argv) {
    transfer_job j = {.dir = "zfnet-transfer"};
    zf_transfer_defaults(&j.o);
    j.o.train = "digits", j.o.test = "digits:test", j.o.per_class = 10;
    int rc = parse(&j, argc, argv);
    if (rc >= 0) return rc;
    j.o.precision = cli_precision;
    j.o.cb = cli_callbacks(stdout);
    if (make_dir(j.dir)) return 1;
    json_t *runs = json_array();
    if (j.ns) {
        snprintf(j.pretrained, sizeof j.pretrained, "%s%s%s",
                 j.o.mode == ZF_TRANSFER_FINETUNE ? "fine-tuned" : "pretrained",
                 j.o.freeze ? ", frozen to " : "", j.o.freeze ? j.o.freeze : "");
        rc = run_curve(&j, runs);
    } else {
        zf_transfer_result r;
        if (!(rc = run_one(&j.o, &r))) {
            json_array_append_new(runs, result_json(&j.o, &r));
            zf_transfer_result_free(&r);
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/transfer.json", j.dir);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:I, s:o}", "weights",
                            j.o.checkpoint, "train", j.o.train, "test", j.o.test, "steps",
                            j.o.steps, "batch", j.o.batch, "lr", j.o.lr, "weight_decay",
                            j.o.weight_decay, "seed", (json_int_t)j.o.seed, "runs", runs);
    if (!rc) rc = write_json(path, doc);
    json_decref(doc);
    if (!rc) printf("wrote %s\n", path);
    return rc;
}
