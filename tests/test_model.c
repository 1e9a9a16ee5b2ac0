/* Model files and presets: parameter counts, shapes and receptive fields checked against hand
 * computation; every parse error names file:line and the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "zfnet/zfnet.h"

static zf_net *make_net(const char *preset, const zf_model_overrides *ov) {
    zf_model *m;
    zf_net *net;
    zf_error err;
    if (zf_model_load(preset, ov, &m, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    assert_int_equal(zf_net_create(m, NULL, &net, &err), ZF_OK);
    zf_model_free(m);
    return net;
}

static size_t total_params(const zf_net *net) {
    size_t s = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        s += li.params;
    }
    assert_int_equal(s, zf_net_num_params(net));
    return s;
}

static void expect_shape(const zf_net *net, const char *name, int c, int h, int w) {
    int i = zf_net_find_layer(net, name);
    assert_true(i >= 0);
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    if (li.out.c != c || li.out.h != h || li.out.w != w) {
        print_error("%s: %dx%dx%d, want %dx%dx%d\n", name, li.out.c, li.out.h, li.out.w, c, h, w);
        fail();
    }
}

static void test_zfnet_preset(void **state) {
    (void)state;
    zf_net *net = make_net("zfnet", NULL);
    /* SPEC 1 / paper Fig. 3 */
    expect_shape(net, "conv1", 96, 110, 110);
    expect_shape(net, "pool1", 96, 55, 55);
    expect_shape(net, "norm1", 96, 55, 55);
    expect_shape(net, "conv2", 256, 26, 26);
    expect_shape(net, "pool2", 256, 13, 13);
    expect_shape(net, "conv3", 384, 13, 13);
    expect_shape(net, "conv4", 384, 13, 13);
    expect_shape(net, "conv5", 256, 13, 13);
    expect_shape(net, "pool5", 256, 6, 6);
    expect_shape(net, "fc6", 4096, 1, 1);
    expect_shape(net, "fc8", 1000, 1, 1);
    assert_int_equal(total_params(net), 62357608);
    const char *names[] = {"conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2",
                           "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5", "fc6",
                           "relu6", "drop6", "fc7",   "relu7", "drop7", "fc8"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_true(zf_net_find_layer(net, names[i]) >= 0);
    /* receptive fields by hand: r' = r + (k-1) j, j' = j s, offset' = offset - p j
     * conv1 7/2 p1: 7, 2, -1; pool1 3/2: 11, 4; conv2 5/2: 27, 8; pool2: 43, 16;
     * conv3-5 3/1 p1: 75, 107, 139 (offset -17, -33, -49); pool5 3/2: 171, 32 */
    struct {
        const char *name;
        int size, stride, offset;
    } rf[] = {{"conv1", 7, 2, -1},    {"pool1", 11, 4, -1},   {"conv2", 27, 8, -1},
              {"pool2", 43, 16, -1},  {"conv3", 75, 16, -17}, {"conv5", 139, 16, -49},
              {"pool5", 171, 32, -49}};
    for (size_t i = 0; i < sizeof rf / sizeof rf[0]; i++) {
        zf_layer_info li;
        zf_net_layer_info(net, zf_net_find_layer(net, rf[i].name), &li);
        if (li.rf_size != rf[i].size || li.rf_stride != rf[i].stride ||
            li.rf_offset != rf[i].offset) {
            print_error("%s: rf %d/%d/%d, want %d/%d/%d\n", rf[i].name, li.rf_size, li.rf_stride,
                        li.rf_offset, rf[i].size, rf[i].stride, rf[i].offset);
            fail();
        }
    }
    zf_param_info p;
    zf_net_param_info(net, zf_net_find_param(net, "conv1.weight"), &p);
    assert_int_equal(p.ndim, 4);
    assert_true(p.shape[0] == 96 && p.shape[1] == 3 && p.shape[2] == 7 && p.shape[3] == 7);
    zf_net_param_info(net, zf_net_find_param(net, "fc6.weight"), &p);
    assert_true(p.ndim == 2 && p.shape[0] == 4096 && p.shape[1] == 9216);
    zf_net_free(net);
}

static void test_other_presets(void **state) {
    (void)state;
    zf_net *net = make_net("zfnet-b", NULL);
    assert_int_equal(total_params(net), 107627624);
    zf_net_free(net);

    net = make_net("alexnet", NULL);
    expect_shape(net, "conv1", 96, 55, 55);
    expect_shape(net, "pool1", 96, 27, 27);
    expect_shape(net, "pool5", 256, 6, 6);
    /* 96*3*121+96 + 256*96*25+256 + 384*256*9+384 + 384*384*9+384 + 256*384*9+256 + fc */
    assert_int_equal(total_params(net), 62378344);
    zf_net_free(net);

    net = make_net("alexnet-g2", NULL);
    zf_param_info p;
    zf_net_param_info(net, zf_net_find_param(net, "conv2.weight"), &p);
    assert_true(p.shape[0] == 256 && p.shape[1] == 48); /* groups=2 halves the fan-in */
    zf_net_param_info(net, zf_net_find_param(net, "conv3.weight"), &p);
    assert_true(p.shape[1] == 256);
    assert_int_equal(total_params(net), 60965224); /* Caffe's bvlc_alexnet */
    zf_net_free(net);

    zf_model_overrides ov = {.classes = 10, .channels = 3, .height = 32, .width = 32};
    net = make_net("zfnet-mini", &ov);
    expect_shape(net, "pool5", 64, 4, 4);
    expect_shape(net, "fc8", 10, 1, 1);
    assert_int_equal(zf_net_classes(net), 10);
    zf_net_free(net);
    net = make_net("zfnet-mini", NULL);
    expect_shape(net, "conv1", 32, 28, 28);
    expect_shape(net, "pool5", 64, 3, 3);
    zf_net_free(net);

    ov = (zf_model_overrides){.classes = 101};
    net = make_net("zfnet", &ov);
    assert_int_equal(zf_net_classes(net), 101);
    zf_net_free(net);
}

static const char *base = "# test\n[net]\nchannels=1\nheight=8\nwidth=8\nclasses=3\n\n";

/* parse base + body (and build a net), expect failure with exactly `want` */
static void expect_error(const char *body, const char *want) {
    char text[2048];
    snprintf(text, sizeof text, "%s%s", base, body);
    zf_model *m = NULL;
    zf_net *net = NULL;
    zf_error err = {0};
    zf_status st = zf_model_parse(text, "t.cfg", NULL, &m, &err);
    if (!st) {
        st = zf_net_create(m, NULL, &net, &err);
        zf_net_free(net);
        zf_model_free(m);
    }
    if (st == ZF_OK || strcmp(err.msg, want)) {
        print_error("got '%s'\nwant '%s'\n", st ? err.msg : "(success)", want);
        fail();
    }
}

static void test_parse_errors(void **state) {
    (void)state;
    /* lines: 1 comment, 2 [net], 3-6 keys, 7 blank, 8.. body */
    expect_error("[conv]\nname=c1\nfilters=2\nsize=3\nstrde=2\n",
                 "t.cfg:12: [conv] unknown key 'strde' (did you mean 'stride'?); expected name, "
                 "filters, size, stride, pad, groups, bias");
    expect_error("[conv]\nname=c1\nsize=3\n", "t.cfg:8: [conv] c1: missing required key 'filters'");
    expect_error("[conv]\nfilters=2\nsize=3\n", "t.cfg:8: [conv] missing required key 'name'");
    expect_error("[conv]\nname=c1\nfilters=2\nsize=3\nstride=two\n",
                 "t.cfg:12: [conv] stride: 'two' is not an integer");
    expect_error("[conv]\nname=c1\nfilters=2\nsize=3\nstride=0\n",
                 "t.cfg:12: [conv] stride=0 is out of range [1, 1024]");
    expect_error("[conv]\nname=c1\nfilters=2\nsize=3\nsize=5\n",
                 "t.cfg:12: [conv] duplicate key 'size' (first on line 11)");
    expect_error("[convv]\nname=c1\n",
                 "t.cfg:8: unknown section [convv] (did you mean 'conv'?); expected net, conv, "
                 "relu, maxpool, lrn, fc, dropout or softmax");
    expect_error("[maxpool]\nname=p\nsize=3\nstride=2\nmode=round\n",
                 "t.cfg:12: [maxpool] mode: 'round' is not one of floor, ceil");
    expect_error("[conv]\nname=c1\nfilters=2\nsize=11\n",
                 "t.cfg:8: [conv] c1: a 11x11 kernel does not fit its 8x8 input with pad 0 (input "
                 "1x8x8)");
    expect_error("[relu]\nname=a\n[relu]\nname=a\n",
                 "t.cfg:11: [relu] layer name 'a' is already used on line 8");
    expect_error("[fc]\nname=f\noutputs=classes\n[softmax]\nname=p\n[relu]\nname=r\n",
                 "t.cfg:11: [softmax] p must be the last layer");
    expect_error("[conv]\nname=c1\nfilters=3\nsize=3\ngroups=2\n",
                 "t.cfg:8: [conv] c1: groups=2 must divide both its 1 input channels and its 3 "
                 "filters (input 1x8x8)");
    expect_error("[lrn]\nname=n\nalpha_mode=div\n",
                 "t.cfg:10: [lrn] alpha_mode: 'div' is not one of absolute, per_size");
    expect_error("[relu]\nname=r\njunk\n", "t.cfg:10: expected 'key=value', got 'junk'");

    zf_model *m;
    zf_error err;
    assert_int_equal(zf_model_parse("[relu]\nname=r\n", "x.cfg", NULL, &m, &err), ZF_ERR_PARSE);
    assert_string_equal(err.msg, "x.cfg:1: the file must start with a [net] section");
    assert_int_equal(
        zf_model_parse("[net]\nchannels=1\nwidth=3\n[relu]\nname=r\n", "x.cfg", NULL, &m, &err),
        ZF_ERR_PARSE);
    assert_string_equal(err.msg, "x.cfg:1: [net] missing required key 'height'");
    assert_int_equal(zf_model_load("no-such-model", NULL, &m, &err), ZF_ERR_IO);
    assert_non_null(strstr(err.msg, "no-such-model: not a preset (alexnet, alexnet-g2, zfnet, "
                                    "zfnet-b, zfnet-mini) and cannot be opened"));
}

/* canonical text parses back to the same model */
static void test_canonical_roundtrip(void **state) {
    (void)state;
    zf_model *m, *m2;
    zf_error err;
    assert_int_equal(zf_model_load("alexnet-g2", NULL, &m, &err), ZF_OK);
    assert_int_equal(zf_model_parse(zf_model_text(m), "canon.cfg", NULL, &m2, &err), ZF_OK);
    assert_string_equal(zf_model_text(m), zf_model_text(m2));
    assert_non_null(strstr(zf_model_text(m), "[lrn]\nname=norm1\nsize=5\nalpha=0.0001\nbeta=0.75\n"
                                             "k=1\nalpha_mode=per_size\n"));
    zf_model_free(m);
    zf_model_free(m2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zfnet_preset),
        cmocka_unit_test(test_other_presets),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_canonical_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
