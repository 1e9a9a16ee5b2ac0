/* The library in a few lines: open a model (a checkpoint written by zfnet train, or a preset with
 * fresh weights), run one input up to a layer and project its strongest feature map back to the
 * pixels with Zeiler and Fergus's DeconvNet rule.
 *
 *   cc project.c $(pkg-config --cflags --libs zfnet) -o project
 *   ./project                          # zfnet-mini, He-initialised, a synthetic input
 *   ./project run/best.safetensors     # a trained net */
#include <zfnet/zfnet.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const zf_error *err) {
    fprintf(stderr, "project: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv) {
    zf_error err;
    zf_net *net = NULL;
    if (argc > 1) { /* a checkpoint carries its model text with its weights */
        if (zf_checkpoint_open(argv[1], NULL, &net, NULL, &err)) return fail(&err);
    } else {
        zf_model *m;
        if (zf_model_load("zfnet-mini", NULL, &m, &err)) return fail(&err);
        zf_status st = zf_net_create(m, NULL, &net, &err);
        zf_model_free(m);
        if (st) return fail(&err);
        zf_init_options io;
        zf_init_defaults(&io); /* every options struct starts from its defaults */
        io.scheme = ZF_INIT_HE;
        zf_net_init_params(net, &io);
    }
    zf_shape in = zf_net_input_shape(net);
    size_t n = (size_t)in.c * in.h * in.w;
    float *x = malloc(sizeof(float) * n), *proj = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)sin(0.1 * (double)i);
    int layer = zf_net_find_layer(net, "conv3"), map;
    float value;
    zf_project_options po;
    zf_project_defaults(&po); /* DeconvNet rule, the strongest map */
    if (layer < 0 || zf_project(net, layer, x, 1, &po, proj, &map, &value, &err)) {
        free(x), free(proj), zf_net_free(net);
        return layer < 0 ? fprintf(stderr, "project: no layer conv3\n"), 1 : fail(&err);
    }
    double energy = 0;
    for (size_t i = 0; i < n; i++) energy += (double)proj[i] * proj[i];
    printf("libzfnet %s: conv3 map %d (activation %.4g) projected to %dx%dx%d pixels, "
           "energy %.4g\n",
           zf_version(), map, value, in.c, in.h, in.w, energy);
    free(x), free(proj);
    zf_net_free(net);
    return 0;
}
