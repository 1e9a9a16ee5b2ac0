/* zfnet: one command line over libzfnet, with git-style subcommands. */
#include "cli.h"
#include "output.h"

#include <errno.h>
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
    {"serve", "a local page to look inside a model: pick an image, see projections", cmd_serve},
    {"data", "describe a dataset; dump its decoded images", cmd_data},
    {"pack", "an image folder into one shard file for training", cmd_pack},
    {"bench", "images/s, GFLOP/s, memory and per-layer times of inference or training", cmd_bench},
    {"completion", "the bash completion script (source <(zfnet completion bash))", cmd_completion},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

/* ---- completion and man pages: the commands' own option tables, written out -------------- */

/* every command's part, each written by the command's cli_parse in documentation mode */
static void each_command(cli_doc_mode mode, FILE *out) {
    for (int i = 0; i < NCOMMANDS; i++) {
        char *args[] = {(char *)commands[i].name, NULL};
        cli_doc_set(mode, out, commands[i].summary);
        commands[i].run(1, args);
    }
    cli_doc_set(CLI_DOC_NONE, NULL, NULL);
}

static const cli_command completion_cmd = {
    "completion",
    "[bash]",
    "Writes the bash completion script for zfnet to standard output: commands, each command's\n"
    "options, and the values of options that take words (--rule, --transform, --model, ...).\n"
    "Generated from the same option tables as --help. Use it for this shell with\n"
    "\n"
    "  source <(zfnet completion bash)\n"
    "\n"
    "or install it as /usr/share/bash-completion/completions/zfnet (the Debian package does).\n",
    0,
    1,
    "expected at most one shell (bash)"};

int cmd_completion(int argc, char **argv) {
    int npos, rc = cli_parse(&completion_cmd, NULL, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (npos && strcmp(argv[1], "bash"))
        return cli_usage_error("completion", "'%s': only bash is supported", argv[1]);
    FILE *f = stdout;
    fputs(
        "# bash completion for zfnet, written by 'zfnet completion bash' from its option\n"
        "# tables (the same as --help)\n_zfnet() {\n"
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
        "    local opts='' values=''\n"
        "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n        COMPREPLY=($(compgen -W '--help --version",
        f);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, " %s", commands[i].name);
    fputs("' -- \"$cur\"))\n        return\n    fi\n    case ${COMP_WORDS[1]} in\n", f);
    each_command(CLI_DOC_COMPLETION, f);
    fputs("    esac\n    case $values in\n"
          "    '@file' | '@number') return ;; # readline's file names (-o default)\n"
          "    '@model') COMPREPLY=($(compgen -W '",
          f);
    for (const char *const *p = zf_model_presets(); *p; p++) fprintf(f, " %s", *p);
    fputs("' -- \"$cur\")); return ;;\n"
          "    ?*) COMPREPLY=($(compgen -W \"$values\" -- \"$cur\")); return ;;\n    esac\n"
          "    [[ $cur == -* ]] && COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n}\n"
          "complete -o bashdefault -o default -F _zfnet zfnet\n",
          f);
    return 0;
}

/* zfnet(1): the commands, models, exit status and environment */
static void main_page(FILE *f) {
    cli_man_header(f, "zfnet", "train ZFNet/AlexNet-style CNNs and see inside them");
    fputs(".SH SYNOPSIS\n.B zfnet\n\\fICOMMAND\\fR [\\fIoptions\\fR]\n.br\n.B zfnet\n"
          "\\fICOMMAND\\fR \\fB\\-\\-help\\fR\n.br\n.B zfnet \\-\\-version\n.SH DESCRIPTION\n",
          f);
    cli_roff_paragraphs(
        f, "zfnet is a C implementation of Zeiler and Fergus, \"Visualizing and Understanding\n"
           "Convolutional Networks\" (ZFNet, 2013): it trains ZFNet/AlexNet-style networks and\n"
           "shows what they learned (DeconvNet projections, top-9 activations, feature evolution,\n"
           "occlusion, invariance, correspondence, transfer and probes). Each command is a thin\n"
           "layer over libzfnet; each has its own page, zfnet-COMMAND(1).\n");
    fputs(".SH COMMANDS\n", f);
    for (int i = 0; i < NCOMMANDS; i++) {
        fprintf(f, ".TP\n.BR zfnet\\-%s (1)\n", commands[i].name);
        cli_roff_paragraphs(f, commands[i].summary);
    }
    fputs(".SH MODELS\nA model is a preset (", f);
    for (const char *const *p = zf_model_presets(); *p; p++)
        fprintf(f, "%s%s", p == zf_model_presets() ? "" : ", ", *p);
    fputs(") or a model file; the presets' files are in /usr/share/zfnet/models.\n"
          ".SH EXIT STATUS\n0 on success; 1 when the work failed (one line on standard error "
          "names the file, line or value); 2 for a usage error.\n"
          ".SH ENVIRONMENT\n.TP\n.B OMP_NUM_THREADS\ncompute threads when --threads is not "
          "given (default: all cores)\n.TP\n.B ZFNET_DIGITS\nOpenCV's digits.png, for the "
          "dataset 'digits'\n.SH SEE ALSO\nThe documentation in /usr/share/doc/zfnet and "
          "docs/ of the source: docs/api.md for the C library.\n",
          f);
}

/* zfnet --man-pages DIR (run by the build): zfnet.1 and zfnet-COMMAND.1 for every command */
static int man_pages(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/zfnet.1", dir);
    FILE *f = fopen(path, "w");
    if (!f) return cli_error("%s: %s", path, strerror(errno));
    main_page(f);
    int rc = fclose(f) ? cli_error("%s: %s", path, strerror(errno)) : 0;
    for (int i = 0; !rc && i < NCOMMANDS; i++) {
        snprintf(path, sizeof path, "%s/zfnet-%s.1", dir, commands[i].name);
        if (!(f = fopen(path, "w"))) return cli_error("%s: %s", path, strerror(errno));
        char *args[] = {(char *)commands[i].name, NULL};
        cli_doc_set(CLI_DOC_MAN, f, commands[i].summary);
        commands[i].run(1, args);
        cli_doc_set(CLI_DOC_NONE, NULL, NULL);
        rc = fclose(f) ? cli_error("%s: %s", path, strerror(errno)) : 0;
    }
    return rc;
}

static void usage(FILE *out) {
    fprintf(out, "usage: zfnet <command> [options]   (zfnet <command> --help for details;\n"
                 "       zfnet --version; man zfnet-<command> where the package is installed)\n\n"
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
        printf("zfnet %s (libzfnet %s)\n", ZF_VERSION, zf_version());
        return 0;
    }
    if (!strcmp(name, "--man-pages")) /* for the build: not in --help */
        return argc == 3 ? man_pages(argv[2]) : cli_usage_error("--man-pages", "expected a DIR");
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
