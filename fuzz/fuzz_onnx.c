/* ONNX files through zfnet import: the protobuf parse, the walk of the graph into layers, the
 * weights and the data preparation; an imported net is run forward once and exported again. */
#include "fuzz.h"

#include "zfnet/zfnet.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, data, size);
    zf_error err;
    zf_net *net;
    zf_data_prep prep;
    zf_net_options o;
    zf_net_defaults(&o);
    o.backend = ZF_BACKEND_REF;
    o.threads = 1;
    o.max_params = 1 << 22;
    if (zf_onnx_import(path, &o, &net, &prep, &err)) return 0;
    zf_shape in = zf_net_input_shape(net);
    size_t n = (size_t)in.c * in.h * in.w;
    if (n <= 1 << 16 && !zf_net_reserve(net, 1, &err)) {
        float *x = calloc(n, sizeof *x);
        if (x && !zf_net_set_input(net, x, 1, &err)) zf_net_forward(net, ZF_MODE_INFER, -1, &err);
        free(x);
    }
    zf_onnx_export(net, &prep, 13, fuzz_file(1, NULL, 0), &err);
    zf_data_prep_free(&prep);
    zf_net_free(net);
    return 0;
}
