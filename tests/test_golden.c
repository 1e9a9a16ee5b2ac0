/* Every layer kind against PyTorch golden tensors (tests/torch/golden_layers.py): forward
 * output, and the backward pass (input and parameter gradients) for a given upstream signal. */
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

static const char *golden_path;

static const zf_st_tensor *need(const zf_st_file *f, const char *c, const char *what) {
    char name[160];
    if (snprintf(name, sizeof name, "%s.%s", c, what) >= (int)sizeof name) fail();
    const zf_st_tensor *t = zf_st_find(f, name);
    if (!t) {
        print_error("golden file has no tensor '%s'\n", name);
        fail();
    }
    return t;
}

/* relative error max|a-b| / max|b|; print the worst index on failure */
static int compare(const char *c, const char *what, const float *got, const zf_st_tensor *want,
                   double tol) {
    size_t n = want->nbytes / 4;
    const float *w = want->data;
    double scale = 0, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(w[i]));
    for (size_t i = 0; i < n; i++)
        if (fabs((double)got[i] - w[i]) > worst) worst = fabs((double)got[i] - w[i]), wi = i;
    double rel = scale > 0 ? worst / scale : worst;
    if (rel > tol) {
        print_error("%s %s: relative error %.3e > %.0e at index %zu: zfnet %.9g, torch %.9g\n", c,
                    what, rel, tol, wi, got[wi], w[wi]);
        return 1;
    }
    return 0;
}

static void test_golden_layers(void **state) {
    (void)state;
    zf_st_file *f;
    zf_error err;
    if (zf_st_open(golden_path, &f, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    char *cases = strdup(zf_st_meta(f, "cases")), *save = NULL;
    int failures = 0, count = 0;
    for (char *c = strtok_r(cases, ",", &save); c; c = strtok_r(NULL, ",", &save), count++) {
        char key[160];
        if (snprintf(key, sizeof key, "%s.cfg", c) >= (int)sizeof key) fail();
        zf_model *m;
        zf_net *net;
        assert_int_equal(zf_model_parse(zf_st_meta(f, key), key, NULL, &m, &err), ZF_OK);
        assert_int_equal(zf_net_create(m, NULL, &net, &err), ZF_OK);
        zf_model_free(m);
        const zf_st_tensor *x = need(f, c, "input");
        int n = (int)x->shape[0];
        for (int i = 0; i < zf_net_num_param_tensors(net); i++) {
            zf_param_info p;
            zf_net_param_info(net, i, &p);
            const zf_st_tensor *t = need(f, c, p.name);
            assert_int_equal(t->nbytes, 4 * p.count);
            memcpy(zf_net_params(net) + p.offset, t->data, t->nbytes);
        }
        assert_int_equal(zf_net_reserve(net, n, &err), ZF_OK);
        assert_int_equal(zf_net_set_input(net, x->data, n, &err), ZF_OK);
        assert_int_equal(zf_net_forward(net, ZF_MODE_INFER, -1, &err), ZF_OK);
        const zf_st_tensor *y = need(f, c, "output"), *dy = need(f, c, "signal");
        float *buf = malloc(y->nbytes > x->nbytes ? y->nbytes : x->nbytes);
        zf_net_read_output(net, 0, buf, NULL);
        failures += compare(c, "output", buf, y, 1e-5);
        zf_net_zero_grads(net);
        assert_int_equal(
            zf_net_signal_down(net, 0, ZF_RULE_GRADIENT, ZF_LRN_DEFAULT, dy->data, &err), ZF_OK);
        zf_net_read_input_grad(net, buf, NULL);
        failures += compare(c, "grad.input", buf, need(f, c, "grad.input"), 1e-5);
        for (int i = 0; i < zf_net_num_param_tensors(net); i++) {
            zf_param_info p;
            zf_net_param_info(net, i, &p);
            if (snprintf(key, sizeof key, "grad.%s", p.name) >= (int)sizeof key) fail();
            failures += compare(c, key, zf_net_grads(net) + p.offset, need(f, c, key), 1e-5);
        }
        free(buf);
        zf_net_free(net);
    }
    free(cases);
    zf_st_free(f);
    print_message("%d golden layer cases checked\n", count);
    assert_true(count >= 20);
    assert_int_equal(failures, 0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_golden GOLDEN.safetensors\n");
        return 2;
    }
    golden_path = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_golden_layers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
