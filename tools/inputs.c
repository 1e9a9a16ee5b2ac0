/* What the per-image commands (deconv, occlusion, invariance, correspondence) share: the net
 * from a checkpoint (or a model with optional weights) and the inputs from a safetensors file,
 * image files or dataset items, prepared as the checkpoint's training data was. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cli_open_weights(const char *model, const char *weights, int threads, zf_net **net,
                     zf_data_prep *prep) {
    zf_error err;
    zf_net_options no;
    cli_net_defaults(&no, threads);
    *prep = (zf_data_prep){.scale = 1.0f / 255};
    if (!weights && !model) return cli_error("--weights (or --model) is needed");
    if (weights && !model)
        return zf_checkpoint_open(weights, &no, net, prep, &err) ? cli_fail(&err) : 0;
    if (cli_open_net(model, NULL, &no, net)) return 1;
    if (weights && zf_checkpoint_load(*net, weights, &err)) return cli_error("%s", err.msg);
    if (weights && zf_data_prep_load(weights, prep, NULL))
        *prep = (zf_data_prep){.scale = 1.0f / 255};
    return 0;
}

static int grow(cli_inputs *in, int n, size_t per) {
    in->x = malloc(sizeof(float) * per * (size_t)(n ? n : 1));
    in->names = calloc((size_t)(n ? n : 1), sizeof(char *));
    in->labels = malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; in->labels && i < n; i++) in->labels[i] = -1;
    return in->x && in->names && in->labels ? 0 : cli_error("out of memory");
}

/* the 'labels' tensor (I64, [n]) of an input file, when it has one */
static void file_labels(const zf_st_file *f, cli_inputs *in) {
    const zf_st_tensor *t = zf_st_find(f, "labels");
    if (!t || t->dtype != ZF_DTYPE_I64 || t->ndim != 1 || t->shape[0] != in->n) return;
    for (int i = 0; i < in->n; i++) {
        int64_t v = ((const int64_t *)t->data)[i];
        in->labels[i] = v >= 0 && v < (1 << 30) ? (int)v : -1;
    }
}

static int load_file(zf_shape s, const char *path, cli_inputs *in) {
    zf_st_file *f;
    zf_error err;
    if (zf_st_open(path, &f, &err)) return cli_error("%s", err.msg);
    int64_t want[4] = {0, s.c, s.h, s.w};
    const zf_st_tensor *t = zf_st_need_f32(f, "input", 4, want, &err);
    int rc = t ? grow(in, (int)t->shape[0], (size_t)s.c * s.h * s.w) : cli_error("%s", err.msg);
    if (!rc) {
        in->n = (int)t->shape[0];
        memcpy(in->x, t->data, t->nbytes);
        file_labels(f, in);
    }
    for (int i = 0; !rc && i < in->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "input%d", i);
        if (!(in->names[i] = strdup(name))) rc = cli_error("out of memory");
    }
    zf_st_free(f);
    return rc;
}

int cli_load_inputs(const zf_net *net, const zf_data_prep *prep, char **args, int nargs,
                    cli_inputs *in) {
    zf_shape s = zf_net_input_shape(net);
    size_t per = (size_t)s.c * s.h * s.w, l0 = strlen(args[0]);
    *in = (cli_inputs){0};
    if (nargs == 1 && l0 > 12 && !strcmp(args[0] + l0 - 12, ".safetensors"))
        return load_file(s, args[0], in);
    if (grow(in, nargs, per)) return 1;
    for (int a = 0; a < nargs; a++) {
        zf_error err;
        if (zf_data_prep_image(prep, args[a], s, in->x + per * in->n, &err))
            return cli_error("%s", err.msg);
        const char *base = strrchr(args[a], '/');
        base = base ? base + 1 : args[a];
        char *name = strdup(base), *dot = name ? strrchr(name, '.') : NULL;
        if (dot && dot != name) *dot = 0;
        if (!name) return cli_error("out of memory");
        in->names[in->n++] = name;
    }
    return 0;
}

/* "3,17,40" into items (at most cap); the count, or -1 after printing why */
static int parse_items(const char *list, int count, int *items, int cap) {
    int n = 0;
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < 0 || v >= count || n == cap)
            return cli_error("--items '%s': expected up to %d indices in 0..%d, comma-separated",
                             list, cap, count - 1),
                   -1;
        items[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!n) return cli_error("--items '%s': no indices", list), -1;
    return n;
}

int cli_load_items(const zf_net *net, const zf_data_prep *prep, const char *spec, const char *list,
                   cli_inputs *in) {
    zf_dataset *d;
    zf_error err;
    *in = (cli_inputs){0};
    if (zf_data_prep_open(prep, spec, &d, &err)) return cli_fail(&err);
    zf_shape s = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    size_t per = (size_t)s.c * s.h * s.w;
    int cap = 1024, *items = malloc(sizeof(int) * cap);
    uint8_t *img = malloc((size_t)ds.c * ds.h * ds.w);
    int n = items && img ? parse_items(list, zf_dataset_count(d), items, cap) : -1;
    int rc = n < 0 ? 1 : grow(in, n, per);
    for (int i = 0; !rc && i < n; i++) {
        char name[64];
        if (zf_dataset_read(d, items[i], img, &err) ||
            zf_data_prep_input(prep, ds, img, s, in->x + per * i, &err)) {
            rc = cli_error("%s", err.msg);
            break;
        }
        in->labels[i] = zf_dataset_label(d, items[i]);
        snprintf(name, sizeof name, "item%d", items[i]);
        if (!(in->names[i] = strdup(name))) rc = cli_error("out of memory");
        in->n = i + 1;
    }
    free(items), free(img);
    zf_dataset_free(d);
    return rc;
}

int cli_choose_classes(const cli_inputs *in, const char *c, int *classes) {
    int all = 1;
    for (int i = 0; i < in->n; i++) all &= in->labels[i] >= 0;
    for (int i = 0; i < in->n; i++) {
        if (!c ? all : !strcmp(c, "true")) {
            if (in->labels[i] < 0)
                return cli_error("--class true: %s has no label (inputs from --data, or an "
                                 "input file with 'labels')",
                                 in->names[i]);
            classes[i] = in->labels[i];
        } else if (!c || !strcmp(c, "pred"))
            classes[i] = -1;
        else {
            long v;
            if (cli_parse_int_value("--class", c, 0, 1 << 20, &v)) return 2;
            classes[i] = (int)v;
        }
    }
    return 0;
}

int cli_parse_fill(const char *opt, const char *arg, void *target) {
    double *fill = target;
    char *end;
    if (!strcmp(arg, "mean")) return *fill = -1, 0;
    if (!strcmp(arg, "gray") || !strcmp(arg, "grey")) return *fill = 128, 0;
    if (!strcmp(arg, "zero")) return *fill = 0, 0;
    *fill = strtod(arg, &end);
    if (end == arg || *end || !(*fill >= 0 && *fill <= 255))
        return cli_error("%s: '%s' is not mean, gray, zero or a grey level 0..255", opt, arg), 2;
    return 0;
}

int cli_set_labels(cli_inputs *in, const zf_data_prep *prep, const char *list) {
    char *copy = strdup(list), *save = NULL;
    int n = 0, rc = copy ? 0 : cli_error("out of memory");
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; !rc && t;
         t = strtok_r(NULL, ",", &save), n++) {
        char *end;
        long v = strtol(t, &end, 10);
        if (end == t || *end)
            for (v = prep->classes - 1; v >= 0 && strcmp(prep->class_names[v], t); v--) {
            }
        if (v < 0 || n >= in->n)
            rc = v < 0 ? cli_error("--labels: '%s' is neither a class index nor a class name of "
                                   "the checkpoint",
                                   t)
                       : cli_error("--labels: more labels than the %d inputs", in->n);
        else
            in->labels[n] = (int)v;
    }
    if (!rc && n != in->n) rc = cli_error("--labels: %d labels for %d inputs", n, in->n);
    free(copy);
    return rc;
}

int cli_open_inputs(const char *cmd, const cli_input_args *a, char **argv, int npos, zf_net **net,
                    zf_data_prep *prep, cli_inputs *in) {
    const char *opt = a->input_opt ? a->input_opt : "--input";
    *in = (cli_inputs){0};
    if (!a->input && npos)
        return cli_usage_error(cmd, "unexpected argument '%s' (inputs follow %s)", argv[1], opt);
    if (!a->input == !a->data || !a->data != !a->items || (!a->weights && !a->model))
        return cli_usage_error(cmd,
                               "--weights (or --model) and either %s or --data with --items "
                               "are needed",
                               opt);
    argv[0] = (char *)a->input; /* the inputs: the option's value, then the arguments after it */
    int rc = cli_open_weights(a->model, a->weights, a->threads, net, prep);
    if (!rc)
        rc = a->input ? cli_load_inputs(*net, prep, argv, npos + 1, in)
                      : cli_load_items(*net, prep, a->data, a->items, in);
    if (!rc && a->labels) rc = cli_set_labels(in, prep, a->labels);
    return rc;
}

int cli_feature_layers(const zf_net *net, const char *cmd, const char *list, int top_conv,
                       int out[64], int *n) {
    zf_error err;
    int all[1024], nl = zf_net_num_layers(net);
    *n = 0;
    if (nl > 1024) return cli_error("%s: too many layers", cmd);
    if (list) {
        if (zf_net_parse_layers(net, list, 0, all, n, &err)) return cli_fail(&err);
    } else {
        int conv = -1, fc[2] = {-1, -1};
        for (int i = 0; i < nl; i++) {
            zf_layer_info li;
            zf_net_layer_info(net, i, &li);
            if (li.kind == ZF_LAYER_CONV && (top_conv || conv < 0)) conv = i;
            if (li.kind == ZF_LAYER_FC) fc[0] = fc[1], fc[1] = i;
        }
        if (conv >= 0) all[(*n)++] = conv;
        if (fc[0] >= 0) all[(*n)++] = fc[0];
    }
    if (*n < 1 || *n > 64) return cli_error("%s: choose 1..64 layers with --layers", cmd);
    memcpy(out, all, sizeof(int) * *n);
    return 0;
}

void cli_inputs_free(cli_inputs *in) {
    for (int i = 0; in->names && i < in->n; i++) free(in->names[i]);
    free(in->names), free(in->x), free(in->labels);
    *in = (cli_inputs){0};
}
