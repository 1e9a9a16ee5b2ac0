/* zfnet train and zfnet demo: the training run of trainer.c behind two front doors. */
#include "topk.h"
#include "trainer.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum { O_RESUME = 1, O_OVERWRITE, O_HELP };

static struct option *all_options(const struct option *own, int nown) {
    int n = 0;
    while (train_options[n].name) n++;
    struct option *o = calloc((size_t)(n + nown + 1), sizeof *o);
    if (!o) return NULL;
    memcpy(o, own, sizeof *o * (size_t)nown);
    memcpy(o + nown, train_options, sizeof *o * (size_t)n);
    return o;
}

static int parse(const char *cmd, int argc, char **argv, train_cfg *c, int *resume, int *overwrite,
                 const char *help) {
    static const struct option own[] = {{"resume", no_argument, 0, O_RESUME},
                                        {"overwrite", no_argument, 0, O_OVERWRITE},
                                        {"output", required_argument, 0, 'o'},
                                        {"help", no_argument, 0, O_HELP}};
    struct option *opts = all_options(own, 4);
    if (!opts) return cli_error("out of memory");
    optind = 0;
    int ch, rc = -1;
    while (rc < 0 && (ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (ch == O_RESUME)
            *resume = 1;
        else if (ch == O_OVERWRITE)
            *overwrite = 1;
        else if (ch == 'o') {
            if (strlen(optarg) >= sizeof c->out)
                rc = cli_error("-o: too long");
            else
                snprintf(c->out, sizeof c->out, "%s", optarg);
        } else if (ch == 'h' || ch == O_HELP) {
            fputs(help, stdout);
            fputs(train_options_help, stdout);
            rc = 0;
        } else {
            int r = train_option(c, ch, optarg);
            if (r > 0) rc = r;
            if (r < 0) rc = cli_usage_error(cmd, "bad option");
        }
    }
    free(opts);
    if (rc < 0 && optind != argc)
        rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (rc < 0 && *resume && *overwrite)
        rc = cli_usage_error(cmd, "--resume and --overwrite exclude each other");
    return rc;
}

static const char train_help[] =
    "usage: zfnet train [options] [-o DIR] [--resume | --overwrite]\n\n"
    "Trains a model with SGD (momentum, weight decay) on a dataset, evaluating it on a test set\n"
    "after every epoch. Inputs are (pixel - per-pixel mean) * input-scale, cropped at random\n"
    "from the mean-padded image and mirrored. DIR (zfnet-run) gets last.safetensors,\n"
    "best.safetensors, epoch-N.safetensors snapshots, state.safetensors (everything needed to\n"
    "resume), metrics.jsonl and curves.svg. --resume continues the run in DIR exactly where it\n"
    "stopped (its saved options are used; --epochs may extend it).\n\n";

int cmd_train(int argc, char **argv) {
    train_cfg c;
    train_defaults(&c);
    int resume = 0, overwrite = 0;
    int rc = parse("train", argc, argv, &c, &resume, &overwrite, train_help);
    if (rc >= 0) return rc;
    if (resume) {
        train_cfg given = c;
        c.epochs = 0; /* only an --epochs given now overrides the saved one */
        for (int i = 1; i < argc; i++)
            if (!strncmp(argv[i], "--epochs", 8)) c.epochs = given.epochs;
    }
    return train_run(&c, resume, overwrite, NULL);
}

static const char demo_help[] =
    "usage: zfnet demo [-o DIR] [--overwrite] [training options]\n\n"
    "The embedded default: trains zfnet-mini on Debian's Fashion-MNIST\n"
    "(/usr/share/datasets/fashion-mnist, package dataset-fashion-mnist) with the demo recipe,\n"
    "evaluates it on the 10,000 test images and prints 'test accuracy: NN.NN%'. Its run goes to\n"
    "DIR (zfnet-demo). Run again, it continues an interrupted run, or only re-evaluates a\n"
    "finished one; --overwrite trains from scratch.\n\n"
    "demo recipe: 30 epochs, batch 128, lr 0.05 (/10 after epochs 20 and 26), momentum 0.9,\n"
    "weight decay 5e-4, crops from the image padded by 2, mirroring, seed 1; snapshots at\n"
    "epochs 1, 2, 5, 10, 20, 30. Then, for the best checkpoint, it writes the layer-1 filters\n"
    "(DIR/filters), the top-9 activations of 8 random maps of every conv layer (DIR/top9) and\n"
    "their evolution over the snapshots (DIR/evolution), as zfnet filters / top9 / evolution.\n\n";

int cmd_demo(int argc, char **argv) {
    train_cfg c;
    train_defaults(&c);
    snprintf(c.out, sizeof c.out, "zfnet-demo");
    const int snaps[] = {1, 2, 5, 10, 20, 30};
    for (int k = 0; k < 6; k++) c.snap[c.nsnap++] = snaps[k];
    int resume = 0, overwrite = 0;
    int rc = parse("demo", argc, argv, &c, &resume, &overwrite, demo_help);
    if (rc >= 0) return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c.out);
    FILE *f = overwrite ? NULL : fopen(path, "rb");
    if (f) fclose(f);
    double t0 = now_s();
    if (train_run(&c, f != NULL, overwrite, NULL)) return 1;
    /* what the paper looks at, for the model just trained */
    const char *data = strcmp(c.test, "none") ? c.test : c.train;
    char best[4200], dir[4200];
    snprintf(best, sizeof best, "%s/best.safetensors", c.out);
    if (!(f = fopen(best, "rb"))) snprintf(best, sizeof best, "%s/last.safetensors", c.out);
    if (f) fclose(f);
    printf("\n== layer-1 filters\n");
    snprintf(dir, sizeof dir, "%s/filters", c.out);
    if (filters_run(best, NULL, data, NULL, 64, c.threads, dir)) return 1;
    printf("\n== top-9 activations of 8 random maps per conv layer\n");
    snprintf(dir, sizeof dir, "%s/top9", c.out);
    if (top9_run(best, data, "all-conv", NULL, 8, c.seed, 9, 64, c.threads, dir)) return 1;
    printf("\n== feature evolution over the snapshots\n");
    snprintf(dir, sizeof dir, "%s/evolution", c.out);
    if (evolution_run(c.out, NULL, data, "all-conv", NULL, 8, c.seed, c.threads, dir)) return 1;
    printf("\ndemo finished in %.0f s; see %s/ (curves.svg, filters/, top9/, evolution/)\n",
           now_s() - t0, c.out);
    return 0;
}
