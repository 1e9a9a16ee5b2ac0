/* zfnet init: freshly initialised weights for a model, as a checkpoint. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char *help =
    "usage: zfnet init MODEL -o W.safetensors [--seed S] [--init gaussian|he|xavier]\n"
    "                  [--std X] [--bias B] [--classes N] [--input-size CxHxW]\n\n"
    "Write initial weights. Default as the paper (ZF section 3): Gaussian weights with\n"
    "std 0.01, biases 0.\n\n"
    "  -o, --output FILE   the safetensors file to write (atomically)\n"
    "  --seed S            random seed (default 1)\n"
    "  --init SCHEME       gaussian (default), he (N(0, 2/fan_in)), xavier (uniform)\n"
    "  --std X             standard deviation for gaussian (default 0.01)\n"
    "  --bias B            constant bias value (default 0)\n"
    "  --classes N, --input-size SIZE   model overrides, as in 'zfnet summary'\n";

int cmd_init(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"init", required_argument, 0, 'i'},
                                         {"std", required_argument, 0, 'd'},
                                         {"bias", required_argument, 0, 'b'},
                                         {"classes", required_argument, 0, 'c'},
                                         {"input-size", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    zf_model_overrides ov = {0};
    zf_init_options io = {.scheme = ZF_INIT_GAUSSIAN, .std = 0.01, .bias = 0, .seed = 1};
    const char *out = NULL;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 'S':
            if (cli_parse_u64("--seed", optarg, &io.seed)) return 2;
            break;
        case 'i':
            if (!strcmp(optarg, "gaussian"))
                io.scheme = ZF_INIT_GAUSSIAN;
            else if (!strcmp(optarg, "he"))
                io.scheme = ZF_INIT_HE;
            else if (!strcmp(optarg, "xavier"))
                io.scheme = ZF_INIT_XAVIER;
            else
                return cli_usage_error("init", "--init: '%s' is not gaussian, he or xavier",
                                       optarg);
            break;
        case 'd':
            if (cli_parse_double("--std", optarg, 1e-12, 1e3, &io.std)) return 2;
            break;
        case 'b':
            if (cli_parse_double("--bias", optarg, -1e3, 1e3, &io.bias)) return 2;
            break;
        case 'c':
        case 's':
            if (cli_model_option(ch, optarg, &ov)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("init", "bad option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("init", "expected one MODEL");
    if (!out) return cli_usage_error("init", "missing -o FILE");
    zf_error err;
    zf_net *net;
    if (cli_open_net(argv[optind], &ov, NULL, &net)) return 1;
    zf_net_init_params(net, &io);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)io.seed);
    const char *scheme = io.scheme == ZF_INIT_HE       ? "he"
                         : io.scheme == ZF_INIT_XAVIER ? "xavier"
                                                       : "gaussian";
    const char *extra[] = {"init", scheme, "seed", seed, NULL};
    zf_status st = zf_checkpoint_save(net, out, extra, &err);
    size_t n = zf_net_num_params(net);
    zf_net_free(net);
    if (st) return cli_error("%s", err.msg);
    fprintf(stderr, "wrote %s: %zu parameters (%s, seed %s)\n", out, n, scheme, seed);
    return 0;
}
