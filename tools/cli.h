/* Shared pieces of the zfnet command line: argument helpers, model options, messages. */
#ifndef ZF_CLI_H
#define ZF_CLI_H

#include "zfnet/zfnet.h"

#include <stdio.h>

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
int cmd_top9(int argc, char **argv);
int cmd_filters(int argc, char **argv);
int cmd_evolution(int argc, char **argv);

/* Print "zfnet: <msg>" on stderr; returns the exit code for it (1). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus a hint to --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_u64(const char *opt, const char *s, uint64_t *out);
int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
/* "CxHxW", "HxW" or "N" (square); fills the overrides. */
int cli_parse_input_size(const char *s, zf_model_overrides *ov);
/* The model overrides shared by every command: 'c' (--classes N) and 's' (--input-size S).
 * Returns 0 when applied, 2 (the usage exit code) after printing an error. */
int cli_model_option(int ch, const char *arg, zf_model_overrides *ov);
/* Load a preset or model file with overrides and build its net; on failure prints the error
 * and returns 1. */
int cli_open_net(const char *model, const zf_model_overrides *ov, const zf_net_options *no,
                 zf_net **out);
/* "[2,3,224,224]"; a first dimension <= 0 is written as N (any batch) */
void cli_shape_text(char *buf, size_t cap, int ndim, const int64_t *shape);
/* An F32 tensor of f with the given shape (want[0] <= 0: any batch); prints why not. */
const zf_st_tensor *cli_need_tensor(const zf_st_file *f, const char *name, int ndim,
                                    const int64_t *want, int *ok);
/* "dnnl" or "ref" */
int cli_parse_backend(const char *s, zf_backend_kind *out);

#endif
