/* The library's choices by name (signal rules, LRN choices, initialisations, backends), lists
 * of layers by name, and the clock: what command lines, files and bindings share. */
#include "internal.h"

#include <string.h>
#include <time.h>

double zf_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The index of `name` in names (count n), or -1. */
static int find_name(const char *const *names, int n, const char *name) {
    for (int i = 0; name && i < n; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

static const char *const rule_names[] = {"gradient", "deconvnet", "guided"};
static const char *const lrn_names[] = {"default", "identity", "gradient"};
static const char *const init_names[] = {"gaussian", "he", "xavier"};
static const char *const backend_names[] = {"dnnl", "ref"};
static const char *const precision_names[] = {"fp32", "bf16", "auto"};

/* name's index among names (n of them) into *out, or an error listing the choices */
static zf_status parse_choice(const char *const *names, int n, const char *choices,
                              const char *name, int *out, zf_error *err) {
    int i = find_name(names, n, name);
    if (i < 0) return zf_fail(err, ZF_ERR_ARG, "'%s' is not %s", name ? name : "", choices);
    *out = i;
    return ZF_OK;
}

/* A choice's parser and name: typed wrappers of parse_choice and the names table. */
#define CHOICE(type, parse, name, names, n, choices)                                               \
    zf_status parse(const char *s, type *out, zf_error *err) {                                     \
        int i = 0;                                                                                 \
        zf_status st = parse_choice(names, n, choices, s, &i, err);                                \
        if (!st) *out = (type)i;                                                                   \
        return st;                                                                                 \
    }                                                                                              \
    const char *name(type v) {                                                                     \
        return v >= 0 && (int)v < n ? names[v] : "?";                                              \
    }

CHOICE(zf_rule, zf_rule_parse, zf_rule_name, rule_names, 3, "deconvnet, guided or gradient")
CHOICE(zf_lrn_rule, zf_lrn_rule_parse, zf_lrn_rule_name, lrn_names, 3,
       "identity, gradient or default")
CHOICE(zf_init_scheme, zf_init_scheme_parse, zf_init_scheme_name, init_names, 3,
       "gaussian, he or xavier")
CHOICE(zf_precision, zf_precision_parse, zf_precision_name, precision_names, 3,
       "fp32, bf16 or auto")

zf_status zf_backend_parse(const char *name, zf_backend_kind *out, zf_error *err) {
    int i = 0;
    zf_status st = parse_choice(backend_names, 2, "dnnl or ref", name, &i, err);
    if (!st) *out = (zf_backend_kind)i;
    return st;
}

zf_lrn_rule zf_lrn_rule_for(zf_rule rule, zf_lrn_rule lrn) {
    if (lrn != ZF_LRN_DEFAULT) return lrn;
    /* ZF §2.1 probes with LRN as identity; guided backprop and the gradient use LRN's own
     * gradient, as Springenberg et al. and Captum do */
    return rule == ZF_RULE_DECONVNET ? ZF_LRN_IDENTITY : ZF_LRN_GRADIENT;
}

/* a layer with feature maps to look at: not an fc or softmax layer */
static int has_maps(const zf_net *net, int i) {
    zf_layer_info li;
    zf_net_layer_info(net, i, &li);
    return li.out.h * li.out.w >= 1 && li.kind != ZF_LAYER_FC && li.kind != ZF_LAYER_SOFTMAX;
}

zf_status zf_net_parse_layers(const zf_net *net, const char *list, int feature_maps, int *out,
                              int *n, zf_error *err) {
    int nl = zf_net_num_layers(net);
    *n = 0;
    if (!list || !strcmp(list, "all-conv")) {
        for (int i = 0; i < nl; i++) {
            zf_layer_info li;
            zf_net_layer_info(net, i, &li);
            if (li.kind == ZF_LAYER_CONV) out[(*n)++] = i;
        }
        return ZF_OK;
    }
    char mname[512];
    zf_model_describe(zf_net_model(net), mname, sizeof mname);
    for (const char *t = list; *t;) {
        size_t len = strcspn(t, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), t);
        int i = len < 63 ? zf_net_find_layer(net, name) : -1;
        if (i < 0) return zf_fail(err, ZF_ERR_ARG, "no layer '%s' in %s", name, mname);
        if (feature_maps && !has_maps(net, i))
            return zf_fail(err, ZF_ERR_ARG,
                           "layer '%s' has no feature maps (pick a conv, relu, pool or lrn layer)",
                           name);
        if (*n < nl) out[(*n)++] = i;
        t += len + (t[len] == ',');
    }
    return ZF_OK;
}
