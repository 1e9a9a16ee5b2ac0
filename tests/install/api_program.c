/* A program built against an installed zfnet (pkg-config --cflags --libs zfnet): it uses the
 * public API only. zfnet-mini, He-initialised, saved with a data preparation and opened again;
 * one DeconvNet projection through zf_project and the same by hand through the net's signal
 * pass must agree exactly; an error comes back as a message. Exits 1 on any mismatch. */
#include <zfnet/zfnet.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const zf_error *err) {
    fprintf(stderr, "api_program: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 1;
}

/* the strongest map of layer l for one input, projected by hand */
static int by_hand(zf_net *net, int l, const float *x, float *proj, zf_error *err) {
    zf_layer_info li;
    zf_net_layer_info(net, l, &li);
    size_t n = (size_t)li.out.c * li.out.h * li.out.w, plane = (size_t)li.out.h * li.out.w;
    float *a = malloc(sizeof(float) * n), *s = calloc(n, sizeof(float));
    int rc = !a || !s || zf_net_reserve(net, 1, err) || zf_net_set_input(net, x, 1, err) ||
             zf_net_forward(net, ZF_MODE_INFER, l, err) || zf_net_read_output(net, l, a, err);
    if (!rc) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (a[i] > a[best]) best = i;
        size_t k = best / plane;
        memcpy(s + k * plane, a + k * plane, sizeof(float) * plane);
        rc = zf_net_signal_down(net, l, ZF_RULE_DECONVNET, ZF_LRN_DEFAULT, s, err) ||
             zf_net_read_input_grad(net, proj, err);
    }
    free(a), free(s);
    return rc;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[4096];
    snprintf(path, sizeof path, "%s/api.safetensors", dir);
    zf_error err;
    zf_model *m;
    zf_net *net, *again;
    if (strcmp(zf_version(), ZF_VERSION) || ZF_VERSION_MAJOR != 1)
        return fail("the library's version is not the headers'", NULL);
    if (zf_model_load("zfnet-mini", NULL, &m, &err) || zf_net_create(m, NULL, &net, &err))
        return fail("zfnet-mini", &err);
    zf_model_free(m);
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = ZF_INIT_HE;
    io.seed = 7;
    zf_net_init_params(net, &io);
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    float *mean = calloc(per, sizeof(float)), *x = malloc(sizeof(float) * per);
    float *p1 = malloc(sizeof(float) * per), *p2 = malloc(sizeof(float) * per);
    for (size_t i = 0; i < per; i++) x[i] = (float)sin(0.37 * (double)i), mean[i] = 100;
    zf_data_prep prep = {.mean = mean, .shape = in, .scale = 1.0f / 255, .pad = 2};
    zf_checkpoint_data d = {.prep = &prep, .epoch = 1, .test_accuracy = 0.5};
    if (zf_checkpoint_write(net, path, &d, &err)) return fail("write", &err);
    zf_data_prep back;
    if (zf_checkpoint_open(path, NULL, &again, &back, &err)) return fail("open", &err);
    if (memcmp(zf_net_params(net), zf_net_params(again), sizeof(float) * zf_net_num_params(net)) ||
        !back.mean || back.mean[5] != 100 || back.pad != 2 || zf_checkpoint_epoch(path) != 1)
        return fail("the checkpoint read back differs", NULL);
    int l = zf_net_find_layer(again, "conv3"), map;
    float value;
    zf_project_options po;
    zf_project_defaults(&po);
    if (zf_project(again, l, x, 1, &po, p1, &map, &value, &err)) return fail("zf_project", &err);
    if (by_hand(again, l, x, p2, &err)) return fail("by hand", &err);
    if (memcmp(p1, p2, sizeof(float) * per))
        return fail("zf_project differs from the net's pass", NULL);
    zf_rule r;
    if (zf_rule_parse("guided", &r, &err) || strcmp(zf_rule_name(r), "guided"))
        return fail("rule names", &err);
    if (!zf_rule_parse("magic", &r, &err) || !strstr(err.msg, "'magic'"))
        return fail("a bad rule name is refused", NULL);
    printf("api_program: zfnet %s, %zu parameters, conv3 map %d projected (max %.4g): ok\n",
           ZF_VERSION, zf_net_num_params(again), map, value);
    zf_data_prep_free(&back);
    zf_net_free(net), zf_net_free(again);
    free(mean), free(x), free(p1), free(p2);
    return 0;
}
