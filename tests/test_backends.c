/* Backend parity: the dnnl backend against the ref oracle on every layer shape of zfnet,
 * alexnet (both tower variants) and zfnet-mini (1x28x28 and 3x32x32): every layer's output,
 * the loss, every parameter gradient, the input gradient, and projections with all three
 * rules; and dnnl with 1 thread against dnnl with 2. Relative error max|a-b| / max|b|. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zfnet/zfnet.h"

static int failures;

static void compare(const char *model, const char *what, const float *got, const float *want,
                    size_t n, double tol) {
    double scale = 0, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++)
        if (fabs((double)got[i] - want[i]) > worst) worst = fabs((double)got[i] - want[i]), wi = i;
    double rel = scale > 0 ? worst / scale : worst;
    if (rel > tol || isnan(rel)) {
        print_error("%s %s: relative error %.3e > %.0e at index %zu: %.9g vs %.9g\n", model, what,
                    rel, tol, wi, got[wi], want[wi]);
        failures++;
    }
}

static zf_net *make(const char *model, const zf_model_overrides *ov, zf_backend_kind be,
                    int threads, int n) {
    zf_model *m;
    zf_net *net;
    zf_error err;
    assert_int_equal(zf_model_load(model, ov, &m, &err), ZF_OK);
    zf_net_options o;
    zf_net_defaults(&o);
    o.backend = be;
    o.threads = threads;
    o.seed = 9;
    assert_int_equal(zf_net_create(m, &o, &net, &err), ZF_OK);
    zf_model_free(m);
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = ZF_INIT_HE;
    io.bias = 0.05;
    io.seed = 4;
    zf_net_init_params(net, &io);
    assert_int_equal(zf_net_reserve(net, n, &err), ZF_OK);
    return net;
}

static size_t out_count(const zf_net *net, int i, int n) {
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    return (size_t)n * li.out.c * li.out.h * li.out.w;
}

/* run a forward/backward pass and the projections on `a` and `b`, comparing everything */
static void parity(const char *model, zf_net *a, zf_net *b, int n, zf_mode mode,
                   const char *const *project, double tol) {
    zf_shape is = zf_net_input_shape(a);
    size_t nin = (size_t)n * is.c * is.h * is.w;
    float *x = malloc(sizeof(float) * nin), *ga = malloc(sizeof(float) * nin);
    float *gb = malloc(sizeof(float) * nin);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    unsigned seed = 3;
    for (size_t i = 0; i < nin; i++) x[i] = (float)rand_r(&seed) / RAND_MAX * 2 - 1;
    for (int i = 0; i < n; i++) labels[i] = rand_r(&seed) % zf_net_classes(a);
    zf_net *nets[2] = {a, b};
    double loss[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(zf_net_set_input(nets[k], x, n, NULL), ZF_OK);
        assert_int_equal(zf_net_set_labels(nets[k], labels, n, NULL), ZF_OK);
        assert_int_equal(zf_net_forward(nets[k], mode, -1, NULL), ZF_OK);
        assert_int_equal(zf_net_loss(nets[k], &loss[k], NULL), ZF_OK);
        zf_net_zero_grads(nets[k]);
        assert_int_equal(zf_net_backward(nets[k], NULL), ZF_OK);
    }
    char what[96];
    for (int i = 0; i < zf_net_num_layers(a); i++) {
        size_t cnt = out_count(a, i, n);
        float *ya = malloc(sizeof(float) * cnt), *yb = malloc(sizeof(float) * cnt);
        zf_net_read_output(a, i, ya, NULL);
        zf_net_read_output(b, i, yb, NULL);
        zf_layer_info li;
        zf_net_layer_info(a, i, &li);
        snprintf(what, sizeof what, "output %s", li.name);
        compare(model, what, ya, yb, cnt, tol);
        free(ya), free(yb);
    }
    float la = (float)loss[0], lb = (float)loss[1];
    compare(model, "loss", &la, &lb, 1, tol);
    zf_net_read_input_grad(a, ga, NULL);
    zf_net_read_input_grad(b, gb, NULL);
    compare(model, "grad.input", ga, gb, nin, tol);
    for (int t = 0; t < zf_net_num_param_tensors(a); t++) {
        zf_param_info p;
        zf_net_param_info(a, t, &p);
        snprintf(what, sizeof what, "grad.%s", p.name);
        compare(model, what, zf_net_grads(a) + p.offset, zf_net_grads(b) + p.offset, p.count, tol);
    }
    /* projections: each image's strongest feature map at the layer, sent down */
    for (int j = 0; project && project[j]; j++) {
        int l = zf_net_find_layer(a, project[j]);
        assert_true(l >= 0);
        size_t cnt = out_count(a, l, n), per = cnt / (size_t)n;
        zf_layer_info li;
        zf_net_layer_info(a, l, &li);
        size_t plane = (size_t)li.out.h * li.out.w;
        float *act = malloc(sizeof(float) * cnt), *sig = calloc(cnt, sizeof(float));
        zf_net_read_output(b, l, act, NULL);
        for (int i = 0; i < n; i++) {
            const float *ai = act + (size_t)i * per;
            size_t best = 0;
            for (size_t k = 0; k < per; k++)
                if (ai[k] > ai[best]) best = k;
            size_t map = best / plane;
            memcpy(sig + (size_t)i * per + map * plane, ai + map * plane, sizeof(float) * plane);
        }
        zf_rule rules[3] = {ZF_RULE_DECONVNET, ZF_RULE_GUIDED, ZF_RULE_GRADIENT};
        const char *names[3] = {"deconvnet", "guided", "gradient"};
        for (int r = 0; r < 3; r++) {
            assert_int_equal(zf_net_signal_down(a, l, rules[r], ZF_LRN_DEFAULT, sig, NULL), ZF_OK);
            assert_int_equal(zf_net_signal_down(b, l, rules[r], ZF_LRN_DEFAULT, sig, NULL), ZF_OK);
            zf_net_read_input_grad(a, ga, NULL);
            zf_net_read_input_grad(b, gb, NULL);
            snprintf(what, sizeof what, "projection %s from %s", names[r], project[j]);
            compare(model, what, ga, gb, nin, tol);
        }
        free(act), free(sig);
    }
    free(x), free(ga), free(gb), free(labels);
}

static void check_model(const char *model, const zf_model_overrides *ov, int n,
                        const char *const *project) {
    zf_net *ref = make(model, ov, ZF_BACKEND_REF, 0, n);
    zf_net *fast = make(model, ov, ZF_BACKEND_DNNL, 0, n);
    parity(model, fast, ref, n, ZF_MODE_INFER, project, 1e-4);
    zf_net_free(ref);
    zf_net_free(fast);
}

static void test_zfnet(void **state) {
    (void)state;
    const char *proj[] = {"pool2", "conv5", NULL};
    check_model("zfnet", NULL, 2, proj);
    assert_int_equal(failures, 0);
}

static void test_alexnet(void **state) {
    (void)state;
    const char *proj[] = {"norm2", NULL};
    check_model("alexnet", NULL, 2, proj);
    check_model("alexnet-g2", NULL, 2, proj);
    assert_int_equal(failures, 0);
}

static void test_zfnet_mini(void **state) {
    (void)state;
    const char *proj[] = {"conv1", "relu1", "pool1", "norm1", "conv2", "pool2", "norm2", "conv3",
                          "conv4", "conv5", "relu5", "pool5", "fc6",   "fc7",   "fc8",   NULL};
    check_model("zfnet-mini", NULL, 3, proj);
    zf_model_overrides rgb = {.channels = 3, .height = 32, .width = 32, .classes = 100};
    check_model("zfnet-mini", &rgb, 2, proj);
    /* training mode: dropout masks come from the same seeded stream in both backends */
    zf_net *ref = make("zfnet-mini", NULL, ZF_BACKEND_REF, 0, 4);
    zf_net *fast = make("zfnet-mini", NULL, ZF_BACKEND_DNNL, 0, 4);
    parity("zfnet-mini (train)", fast, ref, 4, ZF_MODE_TRAIN, NULL, 1e-4);
    zf_net_free(ref), zf_net_free(fast);
    assert_int_equal(failures, 0);
}

static void test_threads(void **state) {
    (void)state;
    const char *proj[] = {"conv5", NULL};
    zf_net *one = make("zfnet", NULL, ZF_BACKEND_DNNL, 1, 2);
    zf_net *two = make("zfnet", NULL, ZF_BACKEND_DNNL, 2, 2);
    parity("zfnet (1 vs 2 threads)", one, two, 2, ZF_MODE_INFER, proj, 1e-4);
    zf_net_free(one), zf_net_free(two);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zfnet_mini),
        cmocka_unit_test(test_zfnet),
        cmocka_unit_test(test_alexnet),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
