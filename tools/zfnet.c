/* zfnet: one command line over libzfnet, with git-style subcommands. */
#include "cli.h"
#include "output.h"

#include <signal.h>
#include <string.h>

/* SIGINT / SIGTERM (train has its own: it saves its state first): no half-written temporary
 * file is left beside an output, then the signal's usual end. */
static void on_signal(int sig) {
    zf_remove_partial_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

static const cli_cmd commands[] = {
    {"summary", "per-layer shapes, parameters, multiply-adds and receptive fields", cmd_summary},
    {"init", "write freshly initialised weights (safetensors)", cmd_init},
    {"forward", "run a model on tensors; dump activations, loss, gradients, projections",
     cmd_forward},
    {"check", "forward/backward check of a model against finite differences", cmd_check},
    {"demo", "train zfnet-mini on Fashion-MNIST and evaluate it (the embedded default)", cmd_demo},
    {"train", "train a model (SGD; IDX, CIFAR, image folders, shards); resumable", cmd_train},
    {"eval", "top-1/top-5 error, 10 crops, ensembles, per-class accuracy, confusion", cmd_eval},
    {"predict", "top-5 classes of image files", cmd_predict},
    {"deconv", "project feature maps to pixels: DeconvNet, guided backprop, gradient, Grad-CAM",
     cmd_deconv},
    {"occlusion", "occlusion sensitivity: a square over the image, per position (ZF Fig. 7)",
     cmd_occlusion},
    {"invariance", "feature distances and class probability under shift, scale, rotation (Fig. 5)",
     cmd_invariance},
    {"correspondence", "masking the same part in several images: sign agreement (Table 1)",
     cmd_correspondence},
    {"transfer", "a pretrained net on few images per class of another set (Tables 4-5, Fig. 9)",
     cmd_transfer},
    {"ablate", "variants of a model trained alike: Table 3's layout", cmd_ablate},
    {"probe", "linear classifiers (SVM, softmax) on each layer's features (Table 7)", cmd_probe},
    {"export", "a checkpoint as an ONNX graph (runs in onnxruntime, PyTorch's tools, ...)",
     cmd_export},
    {"import", "an ONNX graph (ZFNet/AlexNet-style) as a model file and a checkpoint", cmd_import},
    {"top9", "the 9 strongest activations of feature maps over a dataset, projected (Fig. 2)",
     cmd_top9},
    {"filters", "first-layer filters: picture, RMS, dead filters, frequency profile, aliasing",
     cmd_filters},
    {"evolution", "strongest activations across training epochs, projected (Fig. 4)",
     cmd_evolution},
    {"report", "one offline HTML page with every figure and table of a run folder", cmd_report},
    {"data", "describe a dataset; dump its decoded images", cmd_data},
    {"pack", "an image folder into one shard file for training", cmd_pack},
    {"bench", "images/s, GFLOP/s, memory and per-layer times of inference or training", cmd_bench},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
    fprintf(out, "usage: zfnet <command> [options]   (zfnet <command> --help for details)\n\n"
                 "ZFNet/AlexNet-style CNNs in C: train them and see inside them.\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nmodels: a preset (");
    for (const char *const *p = zf_model_presets(); *p; p++)
        fprintf(out, "%s%s", p == zf_model_presets() ? "" : ", ", *p);
    fprintf(out, ") or a model file (docs/model-format.md)\n");
}

int main(int argc, char **argv) {
    /* progress lines reach a log as they are printed, not when the buffer fills */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (int i = 0; i < NCOMMANDS; i++)
                if (!strcmp(commands[i].name, argv[2])) {
                    char *args[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, args);
                }
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version")) {
        printf("zfnet %s\n", ZF_VERSION);
        return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name)) {
            cli_set_command(argc - 1, argv + 1);
            signal(SIGINT, on_signal), signal(SIGTERM, on_signal);
            int rc = commands[i].run(argc - 1, argv + 1);
            if (rc) unmake_dirs();
            return rc;
        }
    fprintf(stderr, "zfnet: unknown command '%s' (see 'zfnet --help')\n", name);
    return 2;
}
