/* safetensors files and checkpoints: the header and body through zf_st_open, every tensor and
 * metadata entry read, then the file as a checkpoint (its model text planned as a net, the
 * weights and the data preparation loaded and checked against it). */
#include "fuzz.h"

#include "zfnet/zfnet.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, data, size);
    zf_error err;
    zf_st_file *f;
    if (!zf_st_open(path, &f, &err)) {
        for (int i = 0; i < zf_st_count(f); i++) {
            const zf_st_tensor *t = zf_st_get(f, i);
            if (t->nbytes) fuzz_sink += ((const uint8_t *)t->data)[t->nbytes - 1];
            (void)zf_st_find(f, t->name);
        }
        (void)zf_st_meta(f, "model");
        const int64_t want[3] = {0, 1, 28};
        (void)zf_st_need_f32(f, "data.mean", 3, want, &err);
        zf_st_free(f);
    }
    zf_net *net;
    zf_data_prep prep;
    zf_net_options o;
    zf_net_defaults(&o);
    o.backend = ZF_BACKEND_REF;
    o.threads = 1;
    o.max_params = 1 << 22;
    if (!zf_checkpoint_open(path, &o, &net, &prep, &err)) {
        zf_shape in = zf_net_input_shape(net);
        size_t n = (size_t)in.c * in.h * in.w;
        if (prep.mean && n <= 1 << 20) {
            uint8_t *img = calloc((size_t)prep.shape.c * prep.shape.h * prep.shape.w, 1);
            float *x = malloc(sizeof(float) * n);
            zf_data_prep_input(&prep, prep.shape, img, in, x, &err);
            free(img), free(x);
        }
        zf_data_prep_free(&prep);
        zf_net_free(net);
    }
    return 0;
}
