/* The net API: reading outputs by name, partial forward passes, state errors, labels, and
 * inverted, seeded dropout in training mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "zfnet/zfnet.h"

static const char *drop_model = "[net]\nchannels=1\nheight=1\nwidth=1\nclasses=4\n"
                                "[fc]\nname=fc\noutputs=4000\n"
                                "[dropout]\nname=drop\np=0.25\n"
                                "[fc]\nname=out\noutputs=classes\n"
                                "[softmax]\nname=prob\n";

static zf_net *build(const char *text, uint64_t seed, int n) {
    zf_model *m;
    zf_net *net;
    zf_error err;
    assert_int_equal(zf_model_parse(text, "t.cfg", NULL, &m, &err), ZF_OK);
    zf_net_options o;
    zf_net_defaults(&o);
    o.seed = seed;
    assert_int_equal(zf_net_create(m, &o, &net, &err), ZF_OK);
    zf_model_free(m);
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = ZF_INIT_GAUSSIAN;
    io.std = 0.1;
    io.bias = 1.0;
    io.seed = 3;
    zf_net_init_params(net, &io);
    assert_int_equal(zf_net_reserve(net, n, &err), ZF_OK);
    return net;
}

static void test_dropout(void **state) {
    (void)state;
    float x[2] = {0.5f, -0.25f};
    zf_net *a = build(drop_model, 42, 2), *b = build(drop_model, 42, 2);
    zf_net *c = build(drop_model, 43, 2);
    int fc = zf_net_find_layer(a, "fc"), drop = zf_net_find_layer(a, "drop");
    float *in = malloc(sizeof(float) * 8000), *out = malloc(sizeof(float) * 8000);
    float *out_b = malloc(sizeof(float) * 8000), *out_c = malloc(sizeof(float) * 8000);
    zf_net *nets[3] = {a, b, c};
    float *outs[3] = {out, out_b, out_c};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(zf_net_set_input(nets[k], x, 2, NULL), ZF_OK);
        assert_int_equal(zf_net_forward(nets[k], ZF_MODE_TRAIN, drop, NULL), ZF_OK);
        zf_net_read_output(nets[k], drop, outs[k], NULL);
    }
    zf_net_read_output(a, fc, in, NULL);
    int zeros = 0;
    for (int i = 0; i < 8000; i++) {
        if (out[i] == 0 && in[i] != 0)
            zeros++;
        else /* kept units are scaled by 1/(1-p) */
            assert_true(fabsf(out[i] - in[i] / 0.75f) <= 1e-6f * fabsf(in[i]) + 1e-7f);
    }
    /* 8000 draws at p = 0.25: 2000 expected, sd 39 */
    assert_in_range(zeros, 2000 - 200, 2000 + 200);
    assert_memory_equal(out, out_b, sizeof(float) * 8000); /* same seed, same mask */
    assert_memory_not_equal(out, out_c, sizeof(float) * 8000);

    /* the backward pass uses the same mask; inference is the identity */
    float *sig = malloc(sizeof(float) * 8000), *dx = malloc(sizeof(float) * 2);
    for (int i = 0; i < 8000; i++) sig[i] = 1;
    zf_net_zero_grads(a);
    assert_int_equal(zf_net_signal_down(a, drop, ZF_RULE_GRADIENT, ZF_LRN_DEFAULT, sig, NULL),
                     ZF_OK);
    /* d/dx of sum(mask * (w x + b)) = sum over units of mask_i * w_i, per image */
    zf_net_read_input_grad(a, dx, NULL);
    const float *w = zf_net_params(a);
    double want = 0;
    for (int i = 0; i < 4000; i++) want += (out[i] != 0 ? 1 / 0.75 : 0) * w[i];
    assert_true(fabs(dx[0] - want) < 1e-4 * fabs(want) + 1e-5);
    assert_int_equal(zf_net_forward(a, ZF_MODE_INFER, drop, NULL), ZF_OK);
    zf_net_read_output(a, drop, out, NULL);
    assert_memory_equal(out, in, sizeof(float) * 8000);
    free(in), free(out), free(out_b), free(out_c), free(sig), free(dx);
    zf_net_free(a), zf_net_free(b), zf_net_free(c);
}

static void test_states_and_labels(void **state) {
    (void)state;
    zf_net *net = build(drop_model, 1, 2);
    zf_error err;
    float x[2] = {1, 2}, buf[8];
    double loss;
    int64_t bad[2] = {0, 4}, good[2] = {3, 0};
    assert_int_equal(zf_net_set_input(net, x, 3, &err), ZF_ERR_ARG); /* more than reserved */
    assert_int_equal(zf_net_set_input(net, x, 2, &err), ZF_OK);
    assert_int_equal(zf_net_read_output(net, 0, buf, &err), ZF_ERR_STATE);
    assert_string_equal(err.msg, "layer 'fc' has not been computed");
    assert_int_equal(zf_net_set_labels(net, bad, 2, &err), ZF_ERR_RANGE);
    assert_string_equal(err.msg, "label 4 of image 1 is out of range [0, 4)");
    assert_int_equal(zf_net_set_labels(net, good, 2, &err), ZF_OK);
    assert_int_equal(zf_net_forward(net, ZF_MODE_INFER, 1, &err), ZF_OK);
    assert_int_equal(zf_net_loss(net, &loss, &err), ZF_ERR_STATE);
    assert_int_equal(zf_net_forward(net, ZF_MODE_INFER, -1, &err), ZF_OK);
    assert_int_equal(zf_net_loss(net, &loss, &err), ZF_OK);
    zf_net_read_output(net, zf_net_find_layer(net, "prob"), buf, NULL);
    assert_true(fabs(loss - 0.5 * (-log(buf[3]) - log(buf[4]))) < 1e-6);
    assert_int_equal(zf_net_find_layer(net, "nope"), -1);
    assert_int_equal(zf_net_backward(net, &err), ZF_OK);
    assert_int_equal(zf_net_read_input_grad(net, buf, &err), ZF_OK);
    /* a new input invalidates the old results */
    assert_int_equal(zf_net_set_input(net, x, 1, &err), ZF_OK);
    assert_int_equal(zf_net_read_input_grad(net, buf, &err), ZF_ERR_STATE);
    assert_int_equal(zf_net_backward(net, &err), ZF_ERR_STATE);
    zf_net_free(net);
}

/* the training memory plan (ReLU in place over conv/fc outputs) gives the same gradients */
static void test_inplace_relu(void **state) {
    (void)state;
    zf_net *nets[2];
    zf_error err;
    for (int k = 0; k < 2; k++) {
        zf_model *m;
        assert_int_equal(zf_model_load("zfnet-mini", NULL, &m, &err), ZF_OK);
        assert_int_equal(zf_net_create(m, NULL, &nets[k], &err), ZF_OK);
        zf_model_free(m);
        zf_net_set_inplace_relu(nets[k], k);
        zf_init_options io;
        zf_init_defaults(&io);
        io.scheme = ZF_INIT_HE;
        io.seed = 2;
        zf_net_init_params(nets[k], &io);
        assert_int_equal(zf_net_reserve(nets[k], 3, &err), ZF_OK);
    }
    float x[3 * 28 * 28];
    int64_t labels[3] = {1, 5, 9};
    for (int i = 0; i < 3 * 28 * 28; i++) x[i] = (float)((i * 7919) % 101) / 50.0f - 1;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(zf_net_set_input(nets[k], x, 3, &err), ZF_OK);
        assert_int_equal(zf_net_set_labels(nets[k], labels, 3, &err), ZF_OK);
        assert_int_equal(zf_net_forward(nets[k], ZF_MODE_TRAIN, -1, &err), ZF_OK);
        zf_net_zero_grads(nets[k]);
        assert_int_equal(zf_net_backward(nets[k], &err), ZF_OK);
    }
    assert_memory_equal(zf_net_grads(nets[0]), zf_net_grads(nets[1]),
                        sizeof(float) * zf_net_num_params(nets[0]));
    float buf[32 * 28 * 28 * 3];
    assert_int_equal(zf_net_read_output(nets[1], zf_net_find_layer(nets[1], "conv1"), buf, &err),
                     ZF_ERR_STATE);
    assert_string_equal(err.msg, "layer 'conv1': its output was overwritten by 'relu1' in place "
                                 "(training memory plan)");
    assert_int_equal(zf_net_read_output(nets[1], zf_net_find_layer(nets[1], "relu1"), buf, &err),
                     ZF_OK);
    zf_net_free(nets[0]), zf_net_free(nets[1]);
}

/* A batch split in parts (zf_net_set_batch_part, as data-parallel ranks run it): each part's
 * dropout masks are the whole batch's rows, its loss and gradients sum to the whole's, and the
 * backward hook sees every layer from the top down. */
static int hook_calls[16], nhook;
static void on_layer(void *ctx, int layer) {
    (void)ctx;
    if (nhook < 16) hook_calls[nhook++] = layer;
}

static void test_batch_parts(void **state) {
    (void)state;
    enum { N = 4 };
    float x[N] = {0.5f, -1, 2, 0.25f};
    int64_t labels[N] = {0, 3, 1, 2};
    zf_net *whole = build(drop_model, 9, N),
           *part[2] = {build(drop_model, 9, 2), build(drop_model, 9, 2)};
    zf_error err;
    double loss, lp[2];
    assert_int_equal(zf_net_set_input(whole, x, N, &err), ZF_OK);
    assert_int_equal(zf_net_set_labels(whole, labels, N, &err), ZF_OK);
    assert_int_equal(zf_net_forward(whole, ZF_MODE_TRAIN, -1, &err), ZF_OK);
    assert_int_equal(zf_net_loss(whole, &loss, &err), ZF_OK);
    zf_net_zero_grads(whole);
    assert_int_equal(zf_net_backward(whole, &err), ZF_OK);
    int drop = zf_net_find_layer(whole, "drop");
    float *dw = malloc(sizeof(float) * N * 4000), *dp = malloc(sizeof(float) * 2 * 4000);
    zf_net_read_output(whole, drop, dw, NULL);
    size_t np = zf_net_num_params(whole);
    for (int k = 0; k < 2; k++) {
        zf_net_set_batch_part(part[k], 2 * k, N);
        zf_net_set_backward_hook(part[k], on_layer, NULL);
        nhook = 0;
        assert_int_equal(zf_net_set_input(part[k], x + 2 * k, 2, &err), ZF_OK);
        assert_int_equal(zf_net_set_labels(part[k], labels + 2 * k, 2, &err), ZF_OK);
        assert_int_equal(zf_net_forward(part[k], ZF_MODE_TRAIN, -1, &err), ZF_OK);
        assert_int_equal(zf_net_loss(part[k], &lp[k], &err), ZF_OK);
        zf_net_zero_grads(part[k]);
        assert_int_equal(zf_net_backward(part[k], &err), ZF_OK);
        zf_net_read_output(part[k], drop, dp, NULL);
        assert_memory_equal(dp, dw + 2 * k * 4000, sizeof(float) * 2 * 4000); /* its rows */
        assert_int_equal(nhook, 3); /* out, drop, fc: below the softmax, from the top down */
        assert_int_equal(hook_calls[0], 2), assert_int_equal(hook_calls[2], 0);
    }
    assert_true(fabs(lp[0] + lp[1] - loss) < 1e-6 * fabs(loss));
    const float *g = zf_net_grads(whole), *g0 = zf_net_grads(part[0]), *g1 = zf_net_grads(part[1]);
    double worst = 0;
    for (size_t i = 0; i < np; i++) {
        double d = fabs((double)g0[i] + g1[i] - g[i]);
        worst = d > worst ? d : worst;
    }
    assert_true(worst < 1e-6); /* float32 summation in another order */
    free(dw), free(dp);
    zf_net_free(whole), zf_net_free(part[0]), zf_net_free(part[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_parts),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_states_and_labels),
        cmocka_unit_test(test_inplace_relu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
