/* zfnet summary: the model's layers, shapes, parameters, cost and receptive fields. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char *help =
    "usage: zfnet summary MODEL [--classes N] [--input-size CxHxW]\n\n"
    "Per layer: output shape, parameters, multiply-adds per image, receptive-field size and\n"
    "stride (in input pixels); then totals.\n\n"
    "  MODEL               a preset (zfnet, zfnet-b, alexnet, alexnet-g2, zfnet-mini) or a file\n"
    "  --classes N         override the number of classes (the last fc's outputs)\n"
    "  --input-size SIZE   override the input: CxHxW, HxW or N (square)\n";

/* 1234567 -> "1,234,567" */
static const char *commas(char *buf, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v), j = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = tmp[i];
    }
    buf[j] = 0;
    return buf;
}

static void shape_text(char *buf, size_t cap, zf_shape s, int flat) {
    if (flat)
        snprintf(buf, cap, "%d", s.c);
    else
        snprintf(buf, cap, "%dx%dx%d", s.c, s.h, s.w);
}

int cmd_summary(int argc, char **argv) {
    static const struct option opts[] = {{"classes", required_argument, 0, 'c'},
                                         {"input-size", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    zf_model_overrides ov = {0};
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
        case 's':
            if (cli_model_option(ch, optarg, &ov)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("summary", "bad option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("summary", "expected one MODEL");
    zf_net *net;
    if (cli_open_net(argv[optind], &ov, NULL, &net)) return 1;
    zf_shape in = zf_net_input_shape(net);
    printf("model %s: input %dx%dx%d, %d classes, %d layers\n\n", zf_model_name(zf_net_model(net)),
           in.c, in.h, in.w, zf_net_classes(net), zf_net_num_layers(net));
    printf("%-8s %-8s %-12s %14s %16s %6s %6s\n", "layer", "kind", "output", "params", "MACs", "RF",
           "stride");
    unsigned long long params = 0, macs = 0;
    int flat = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        flat |= li.kind == ZF_LAYER_FC;
        char shape[48], p[32], mc[32];
        shape_text(shape, sizeof shape, li.out, flat);
        printf("%-8s %-8s %-12s %14s %16s %6d %6d\n", li.name, zf_layer_kind_name(li.kind), shape,
               li.params ? commas(p, li.params) : "-", li.macs ? commas(mc, li.macs) : "-",
               li.rf_size, li.rf_stride);
        params += li.params;
        macs += li.macs;
    }
    char p[32], mc[32];
    printf("\ntotal: %s parameters (%.1f MiB as F32), %s multiply-adds per image (forward)\n",
           commas(p, params), (double)params * 4 / (1 << 20), commas(mc, macs));
    zf_net_free(net);
    return 0;
}
