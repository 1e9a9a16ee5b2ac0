/* Model files: parsed from text and through the file reader; a parsed model is planned as a
 * net (parameter and size limits), and a small one runs forward and down on the reference
 * kernels. */
#include "fuzz.h"

#include "zfnet/zfnet.h"

#include <string.h>

static void run_small(zf_net *net) {
    uint64_t macs = 0;
    size_t values = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        macs += li.macs;
        size_t v = (size_t)li.out.c * li.out.h * li.out.w;
        if (v > values) values = v;
    }
    zf_shape in = zf_net_input_shape(net);
    size_t n = (size_t)in.c * in.h * in.w;
    if (macs > 2000000 || values > 100000 || n > 100000) return;
    zf_error err;
    float *x = calloc(n, sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(i % 7) - 3;
    if (!zf_net_reserve(net, 1, &err) && !zf_net_set_input(net, x, 1, &err) &&
        !zf_net_forward(net, ZF_MODE_INFER, -1, &err)) {
        int last = zf_net_num_layers(net) - 1;
        zf_layer_info li;
        zf_net_layer_info(net, last, &li);
        size_t m = (size_t)li.out.c * li.out.h * li.out.w;
        float *sig = calloc(m, sizeof *sig);
        sig[0] = 1;
        zf_net_signal_down(net, last, ZF_RULE_DECONVNET, ZF_LRN_DEFAULT, sig, &err);
        free(sig);
    }
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    zf_model *m = NULL;
    zf_error err;
    if (!zf_model_parse(text, "fuzz.cfg", NULL, &m, &err)) {
        zf_net_options o;
        zf_net_defaults(&o);
        o.backend = ZF_BACKEND_REF;
        o.threads = 1;
        o.max_params = 1 << 20;
        zf_net *net;
        if (!zf_net_create(m, &o, &net, &err)) {
            run_small(net);
            zf_net_free(net);
        }
        zf_model *edited;
        if (!zf_model_edit(m, "remove conv2", &edited, &err)) zf_model_free(edited);
        zf_model_free(m);
    }
    free(text);
    if (!zf_model_load(fuzz_file(0, data, size), NULL, &m, &err)) zf_model_free(m);
    return 0;
}
