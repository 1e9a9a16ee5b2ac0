/* zfnet summary (a model's layers, shapes, parameters, cost and receptive fields) and zfnet init
 * (freshly initialised weights as a checkpoint). */
#include "cli.h"

#include <string.h>

static const cli_command summary_cmd = {
    "summary",
    "MODEL [--classes N] [--input-size CxHxW]",
    "Per layer: output shape, parameters, multiply-adds per image, receptive-field size and\n"
    "stride (in input pixels); then totals. MODEL is a preset (zfnet, zfnet-b, alexnet,\n"
    "alexnet-g2, zfnet-mini) or a model file (docs/model-format.md).\n",
    1,
    1,
    "expected one MODEL"};

static void print_layers(const zf_net *net) {
    printf("%-8s %-8s %-12s %14s %16s %6s %6s\n", "layer", "kind", "output", "params", "MACs", "RF",
           "stride");
    unsigned long long params = 0, macs = 0;
    int flat = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        flat |= li.kind == ZF_LAYER_FC;
        char shape[48], p[32], mc[32];
        if (flat)
            snprintf(shape, sizeof shape, "%d", li.out.c);
        else
            snprintf(shape, sizeof shape, "%dx%dx%d", li.out.c, li.out.h, li.out.w);
        printf("%-8s %-8s %-12s %14s %16s %6d %6d\n", li.name, zf_layer_kind_name(li.kind), shape,
               li.params ? cli_commas(p, li.params) : "-", li.macs ? cli_commas(mc, li.macs) : "-",
               li.rf_size, li.rf_stride);
        params += li.params;
        macs += li.macs;
    }
    char p[32], mc[32];
    printf("\ntotal: %s parameters (%.1f MiB as F32), %s multiply-adds per image (forward)\n",
           cli_commas(p, params), (double)params * 4 / (1 << 20), cli_commas(mc, macs));
}

int cmd_summary(int argc, char **argv) {
    zf_net *net;
    int rc = cli_model_command(&summary_cmd, NULL, argc, argv, &net);
    if (rc >= 0) return rc;
    zf_shape in = zf_net_input_shape(net);
    printf("model %s: input %dx%dx%d, %d classes, %d layers\n\n", zf_model_name(zf_net_model(net)),
           in.c, in.h, in.w, zf_net_classes(net), zf_net_num_layers(net));
    print_layers(net);
    zf_net_free(net);
    return 0;
}

static const cli_command init_cmd = {
    "init",
    "MODEL -o W.safetensors [--seed S] [--init gaussian|he|xavier] [--std X] [--bias B]",
    "Writes initial weights (atomically). By default as the paper (ZF section 3): Gaussian\n"
    "weights with std 0.01, biases 0.\n",
    1,
    1,
    "expected one MODEL"};

static int parse_init(const char *opt, const char *arg, void *target) {
    zf_error err;
    if (!zf_init_scheme_parse(arg, target, &err)) return 0;
    cli_error("%s: %s", opt, err.msg);
    return 2;
}

int cmd_init(int argc, char **argv) {
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = ZF_INIT_GAUSSIAN;
    io.std = 0.01;
    io.bias = 0;
    io.seed = 1;
    const char *out = NULL;
    const cli_opt own[] = {
        {"output", CLI_STR, &out, "FILE", "the safetensors file to write", .alias = 'o',
         .required = 1},
        {"seed", CLI_U64, &io.seed, "S", "random seed (1)"},
        {"init", CLI_CALL, &io.scheme, "SCHEME",
         "gaussian (default), he (N(0, 2/fan_in)), xavier (uniform)", .parse = parse_init,
         .choices = "gaussian he xavier"},
        {"std", CLI_DOUBLE, &io.std, "X", "standard deviation for gaussian (0.01)", 1e-12, 1e3},
        {"bias", CLI_DOUBLE, &io.bias, "B", "constant bias value (0)", -1e3, 1e3},
        {0}};
    zf_net *net;
    int rc = cli_model_command(&init_cmd, own, argc, argv, &net);
    if (rc >= 0) return rc;
    zf_error err;
    zf_net_init_params(net, &io);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)io.seed);
    const char *scheme = zf_init_scheme_name(io.scheme);
    const char *meta[] = {"init", scheme, "seed", seed, NULL};
    zf_checkpoint_data d = {.meta = meta};
    zf_status st = zf_checkpoint_write(net, out, &d, &err);
    size_t n = zf_net_num_params(net);
    zf_net_free(net);
    if (st) return cli_error("%s", err.msg);
    fprintf(stderr, "wrote %s: %zu parameters (%s, seed %s)\n", out, n, scheme, seed);
    return 0;
}
