/* zfnet check: one forward/backward pass on random data, then each layer's backward pass against
 * central differences (zf_check_net, zf_check_layer). */
#include "cli.h"

static const cli_command check_cmd = {
    "check",
    "MODEL [--batch N] [--seed S] [--classes N] [--input-size CxHxW]",
    "Builds MODEL with He-initialised weights and times a forward pass and the backward pass\n"
    "from the loss on a random batch. Then checks each layer on its own: its backward pass\n"
    "(input and parameter gradients of <dy, f(x)> for a random dy) against central\n"
    "differences along a random direction, with ReLU inputs drawn away from 0 and pooling\n"
    "inputs without near-ties. Exits non-zero if any layer disagrees by 2% or more.\n",
    1,
    1,
    "expected one MODEL"};

int cmd_check(int argc, char **argv) {
    int batch = 2;
    uint64_t seed = 1;
    const cli_opt own[] = {CLI_BATCH(&batch, "images in the random batch (2)"),
                           {"seed", CLI_U64, &seed, "S", "random seed (1)"},
                           {0}};
    zf_net *net;
    int rc = cli_model_command(&check_cmd, own, argc, argv, &net);
    if (rc >= 0) return rc;
    zf_error err;
    unsigned state = (unsigned)seed;
    double loss, fwd_ms, bwd_ms;
    if (zf_check_net(net, batch, seed, &state, &loss, &fwd_ms, &bwd_ms, &err)) {
        zf_net_free(net);
        return cli_error("%s", err.msg);
    }
    printf("model %s, batch %d: loss %.6f, forward %.1f ms, backward %.1f ms\n"
           "each layer's backward against central differences (relative error, limit 2%%):\n",
           zf_model_name(zf_net_model(net)), batch, loss, fwd_ms, bwd_ms);
    int bad = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        double rel[2];
        if (zf_check_layer(net, i, batch, &state, rel, &err)) {
            bad |= cli_error("%s", err.msg);
            continue;
        }
        int fail = !(rel[0] < 0.02 && rel[1] < 0.02);
        printf("  %-8s %-8s d/d(input) rel err %.1e", li.name, zf_layer_kind_name(li.kind), rel[0]);
        if (li.params) printf("   d/d(params) rel err %.1e", rel[1]);
        printf("  %s\n", fail ? "FAILED" : "ok");
        bad |= fail;
    }
    printf(bad ? "check FAILED\n" : "check passed\n");
    zf_net_free(net);
    return bad;
}
