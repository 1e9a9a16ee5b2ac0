/* The zfnet command line: one table-driven option parser (from which --help is printed too),
 * the option groups commands share, messages, and the callbacks that show the library's
 * progress. Commands parse, call libzfnet, draw pictures and write files; nothing else. */
#ifndef ZF_CLI_H
#define ZF_CLI_H

#include "zfnet/zfnet.h"

#include <stdio.h>

/* ---- options ------------------------------------------------------------------------------ */

typedef enum cli_kind {
    CLI_END = 0, /* ends a table */
    CLI_HEADING, /* not an option: `help` is a heading in --help */
    CLI_FLAG,    /* no value: *(int *)target = 1 (0 with .off); or parse(opt, NULL, target) */
    CLI_STR,     /* *(const char **)target = the value */
    CLI_INT,     /* *(int *)target, in [lo, hi] */
    CLI_U64,     /* *(uint64_t *)target */
    CLI_DOUBLE,  /* *(double *)target, in [lo, hi] */
    CLI_CALL     /* parse(opt, value, target) */
} cli_kind;

typedef struct cli_opt {
    const char *name; /* the long name without "--" */
    cli_kind kind;
    void *target;
    const char *arg;  /* the value's name in --help ("N") */
    const char *help; /* one or more lines ('\n') */
    double lo, hi;    /* CLI_INT, CLI_DOUBLE bounds */
    char alias;       /* a one-letter form ('o' for -o), or 0 */
    int required;
    int off;    /* CLI_FLAG: store 0 */
    int *given; /* set to 1 when the option appears */
    /* CLI_CALL: 0 when taken; else the exit code, after printing why */
    int (*parse)(const char *opt, const char *arg, void *target);
    const char *choices; /* the words the value may be ("deconvnet guided gradient"), for the
                            man pages and completion; NULL: any */
} cli_opt;

typedef struct cli_command {
    const char *name;  /* "eval" */
    const char *usage; /* what follows "usage: zfnet eval " */
    const char *about; /* paragraphs for --help */
    /* positional arguments: between min_args and max_args (-1: no limit), or the usage error
     * `args` ("expected one MODEL"); none allowed when both are 0 */
    int min_args, max_args;
    const char *args;
} cli_command;

/* Parse argv (argv[0]: the command) against two option tables (`extra` may be NULL; each ends
 * with a CLI_END entry): the command's own and a shared group. Options may come before or
 * after positional arguments, as --name value, --name=value or -o value; "--" ends the
 * options. The positional arguments are checked against the command's counts and moved to
 * argv[1..*npos]. Returns -1 to go on; otherwise the exit code: 0 after --help, 2 after a usage
 * error (printed, one line). */
int cli_parse(const cli_command *cmd, const cli_opt *own, const cli_opt *extra, int argc,
              char **argv, int *npos);

/* Shared option groups, declared once. */
#define CLI_THREADS(t)                                                                             \
    {                                                                                              \
        "threads", CLI_INT, (t), "T", "compute threads (default: OMP_NUM_THREADS or all cores)",   \
            1, 1024                                                                                \
    }
/* --precision: one setting for every net the command makes (a process-wide choice, like the
 * thread count); cli_net_defaults applies it. */
extern zf_precision cli_precision;
#define CLI_PRECISION                                                                              \
    {                                                                                              \
        "precision", CLI_CALL, &cli_precision, "P",                                                \
            "fp32 (default), bf16 (bfloat16 products: CPUs with AVX512-BF16)\n"                    \
            "or auto (bf16 where the CPU has it)",                                                 \
            .parse = cli_parse_precision, .choices = "fp32 bf16 auto"                              \
    }
/* zf_net_defaults with threads and --precision */
void cli_net_defaults(zf_net_options *no, int threads);
#define CLI_OUTPUT(t, what)                                                                        \
    { "output", CLI_STR, (t), "DIR", what, .alias = 'o' }
#define CLI_BATCH(t, what)                                                                         \
    { "batch", CLI_INT, (t), "N", what, 1, 4096 }
#define CLI_WEIGHTS(t, what)                                                                       \
    { "weights", CLI_STR, (t), "W", what }
/* --layers, --maps, --random, --seed (top9, evolution) */
typedef struct map_choice {
    const char *layers, *maps;
    int nrandom;
    uint64_t seed;
} map_choice;

/* The model overrides (--classes N, --input-size CxHxW into ov) as a table of 3 entries. */
void cli_group_overrides(cli_opt g[3], zf_model_overrides *ov);
/* cli_parse with the model overrides after `own`. */
int cli_parse_overrides(const cli_command *cmd, const cli_opt *own, zf_model_overrides *ov,
                        int argc, char **argv, int *npos);
/* A command on one MODEL argument (summary, init, check): `own` and the model overrides
 * parsed, MODEL opened as a net. Returns -1 to go on (*net set), else the exit code. */
int cli_model_command(const cli_command *cmd, const cli_opt *own, int argc, char **argv,
                      zf_net **net);
/* cli_parse with the map choice (--layers, --maps, --random, --seed into mc) after `own`. */
int cli_parse_maps(const cli_command *cmd, const cli_opt *own, map_choice *mc,
                   const char *layers_help, const char *random_help, int argc, char **argv,
                   int *npos);

int cli_parse_classes(const char *opt, const char *arg, void *ov);
int cli_parse_input_size(const char *opt, const char *arg, void *ov);
int cli_parse_random(const char *opt, const char *arg, void *mc);
int cli_parse_backend(const char *opt, const char *arg, void *backend);
/* --precision: also refuses bf16 where the CPU lacks it, and says once what auto chose */
int cli_parse_precision(const char *opt, const char *arg, void *precision);
int cli_parse_rule(const char *opt, const char *arg, void *rule);
int cli_parse_lrn(const char *opt, const char *arg, void *lrn);
int cli_parse_int_value(const char *opt, const char *s, long lo, long hi, long *out);
/* "A,B,C" -> out[0..*n), each in [lo, hi], at most cap; 0, or 2 after printing why. */
int cli_parse_int_list(const char *opt, const char *arg, long lo, long hi, int *out, int cap,
                       int *n);

/* 1234567 as "1,234,567" into buf (32 bytes); returns buf */
const char *cli_commas(char *buf, unsigned long long v);

/* ---- documentation from the option tables (tools/cli_doc.c) -------------------------------- */

typedef enum cli_doc_mode {
    CLI_DOC_NONE = 0,
    CLI_DOC_MAN,       /* cli_parse writes the command's man page (roff) */
    CLI_DOC_COMPLETION /* cli_parse writes the command's entries of the bash completion */
} cli_doc_mode;

/* While a mode is set, cli_parse writes the command's page or entries to `out` and returns 0
 * instead of parsing; `summary` is the command's one line (its NAME in the man page). */
void cli_doc_set(cli_doc_mode mode, FILE *out, const char *summary);
int cli_doc_active(void);
int cli_doc_emit(const cli_command *cmd, const cli_opt *const *groups);
/* roff helpers for zfnet(1): the .TH and NAME lines, and paragraphs of text */
void cli_man_header(FILE *f, const char *page, const char *summary);
void cli_roff_paragraphs(FILE *f, const char *text);

/* ---- messages ----------------------------------------------------------------------------- */

/* "zfnet: <msg>" on stderr; returns 1 (the exit code for it). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: "zfnet CMD: <msg> (see 'zfnet CMD --help')"; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A library error: its message; returns 1 (when a callback of ours stopped the call, it has
 * said why already: nothing more is printed). */
int cli_fail(const zf_error *err);

/* ---- showing the library's progress and notices -------------------------------------------- */

/* Progress bars on a terminal (stderr; nothing otherwise); notices: skipped files on stderr,
 * each replaced file once per process, INFO lines to `info` (stdout or stderr; NULL: none). */
zf_callbacks cli_callbacks(FILE *info);
double cli_now(void);
/* An output file can be written there: not a folder, its folder exists and is writable.
 * 0, or the error printed (checked before long work, so that it fails at once). */
int cli_check_output(const char *path);

/* The command line being run ("zfnet top9 --weights W ..."; each word quoted for the shell where
 * needed), set from argv by main and by the demo for each of its steps; the files written record
 * it. */
void cli_set_command(int argc, char *const *argv);
const char *cli_command_line(void);

/* ---- commands ------------------------------------------------------------------------------ */

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_cmd;

int cmd_summary(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_deconv(int argc, char **argv);
int cmd_occlusion(int argc, char **argv);
int cmd_invariance(int argc, char **argv);
int cmd_correspondence(int argc, char **argv);
int cmd_transfer(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_top9(int argc, char **argv);
int cmd_filters(int argc, char **argv);
int cmd_evolution(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* The net's model for messages: "model 'NAME' (FILE)" (zf_model_describe), in a buffer that
 * the next call reuses. */
const char *cli_model(const zf_net *net);
/* Open a preset or model file with overrides as a net; prints the error and returns 1. */
int cli_open_net(const char *model, const zf_model_overrides *ov, const zf_net_options *no,
                 zf_net **out);

/* ---- inputs of the per-image commands --------------------------------------------------- */

typedef struct cli_inputs {
    int n;
    float *x;     /* (n, net input) */
    char **names; /* (n) file names without extension, "input3", "item17" */
    int *labels;  /* (n) the true class, -1 when unknown */
} cli_inputs;

/* The net and its data preparation: --weights alone (a checkpoint with its model text), or
 * --model with optional --weights. Prints the error and returns 1. */
int cli_open_weights(const char *model, const char *weights, int threads, zf_net **net,
                     zf_data_prep *prep);
/* One safetensors file's 'input' (N x C x H x W; 'labels' I64 when present) or image files. */
int cli_load_inputs(const zf_net *net, const zf_data_prep *prep, char **args, int nargs,
                    cli_inputs *in);
/* Items of a dataset (a list "3,17,40"), as the checkpoint's training data, with labels. */
int cli_load_items(const zf_net *net, const zf_data_prep *prep, const char *spec, const char *list,
                   cli_inputs *in);
/* --labels L: the inputs' true classes, comma-separated indices or class names (one per
 * input). Prints the error and returns 1. */
int cli_set_labels(cli_inputs *in, const zf_data_prep *prep, const char *list);
/* --class C: "true" (the labels; the default when every input has one), "pred" (-1: the
 * prediction) or a class index, into classes (n). Prints the error and returns non-zero. */
int cli_choose_classes(const cli_inputs *in, const char *c, int *classes);
/* --fill: mean (-1), gray (128), zero (0) or a grey level V into *(double *)target. */
int cli_parse_fill(const char *opt, const char *arg, void *target);
void cli_inputs_free(cli_inputs *in);

/* Feature layers: --layers (a list), or the paper's defaults: the first conv layer (top_conv:
 * the last) and the fc layer before the last. out holds up to 64. Prints the error and
 * returns 1. */
int cli_feature_layers(const zf_net *net, const char *cmd, const char *list, int top_conv,
                       int out[64], int *n);

/* What the per-image commands' option tables fill. */
typedef struct cli_input_args {
    const char *weights, *model;
    const char *input;     /* the first input file (more follow as arguments) */
    const char *input_opt; /* its option's name ("--input", the default, or "--images") */
    const char *data, *items, *labels;
    int threads;
} cli_input_args;

/* After cli_parse: the usage checks (inputs from a file or images, or dataset items; weights or
 * a model), the net and its data preparation, the inputs, --labels. argv[1..npos] are the
 * arguments after the first input. Returns 0, or the exit code after printing why. */
int cli_open_inputs(const char *cmd, const cli_input_args *a, char **argv, int npos, zf_net **net,
                    zf_data_prep *prep, cli_inputs *in);

/* ---- the demo and the report ----------------------------------------------------------- */

/* The demo's views of a trained model (weights `best`) on `data`, each into a folder of the run
 * folder `out` (eval/, filters/, top9/, evolution/, occlusion/, invariance/, and with
 * `correspondence` the T-shirt parts of Fashion-MNIST in correspondence/); with `missing`, only
 * those whose files are not there yet. demo_report: zfnet report on `out`. */
int demo_views(const char *out, const char *best, const char *data, uint64_t seed, int threads,
               int missing, int correspondence);
int demo_report(const char *out, int threads);

#endif
