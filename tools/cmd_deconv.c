/* zfnet deconv: project feature maps (or single activations) of any layer down to pixels
 * (zf_project: DeconvNet, guided backprop, gradient) or make Grad-CAM maps (zf_gradcam); the
 * input beside its projection as a picture, and the raw floats. */
#include "draw.h"
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_command deconv_cmd = {
    "deconv",
    "--weights W [--model M] --input X.safetensors | IMAGE... --layer NAME\n"
    "                    [--map K | --unit K,Y,X | --strongest] [--rule R] [--lrn L] [--class K]\n"
    "                    [--raw OUT.safetensors] [-o DIR] [--batch N] [--threads T]",
    "Runs each input up to layer NAME, keeps one feature map of that layer's output (--map K;\n"
    "--strongest, the default: the map holding the image's largest activation) or one\n"
    "activation (--unit K,Y,X), zeroes everything else, and sends it down to the pixels:\n"
    "  --rule deconvnet  (default) ZF's DeconvNet: ReLU rectifies the signal, max pooling routes\n"
    "                    it through the recorded switches (overlapping windows add up), conv\n"
    "                    applies the transposed filters without bias, LRN passes it unchanged\n"
    "  --rule guided     guided backprop: the ReLU keeps positive signal where the unit was on;\n"
    "                    LRN's true gradient (as Captum's GuidedBackprop)\n"
    "  --rule gradient   the true gradient (saliency)\n"
    "  --rule gradcam    Grad-CAM at layer NAME for class --class (default: the prediction):\n"
    "                    ReLU(sum_k mean(dScore/dA_k) A_k), upsampled to the input; A is the\n"
    "                    layer's output, after its ReLU when a ReLU follows it\n"
    "--input is the 'input' tensor of a safetensors file (N x C x H x W, as zfnet forward reads),\n"
    "or image files (JPEG/PNG), prepared as the checkpoint's training data was (centre crop).\n"
    "Pictures go to DIR (zfnet-deconv): per input, the input beside its projection; projections\n"
    "are shown scaled by the 99.5th percentile of their |values|, zero at mid-grey; Grad-CAM maps\n"
    "in viridis over the input. --raw writes the projections as 'projection' (F32, the input's\n"
    "shape) or the maps as 'gradcam' (F32, N x 1 x H x W); with --raw, pictures are drawn only\n"
    "when -o names a folder. Files are named <input>-<layer>-<rule>.png, the layer after its\n"
    "ReLU for Grad-CAM.\n",
    0, -1};

typedef struct deconv_job {
    zf_net *net;
    zf_data_prep prep;
    int layer, gradcam, klass, batch;
    const char *layer_name, *rule_name;
    zf_project_options po;
    cli_inputs in;
    float *result; /* (n, in) projections or (n, 1, h, w) maps */
    int *chosen;   /* (n) map used, or class for Grad-CAM */
    float *value;  /* (n) its activation, or the class probability */
} deconv_job;

static int parse_unit(const char *opt, const char *arg, void *target) {
    zf_project_options *po = target;
    int k, y, x, used = -1;
    if (sscanf(arg, "%d,%d,%d%n", &k, &y, &x, &used) != 3 || used != (int)strlen(arg) || k < 0 ||
        y < 0 || x < 0)
        return cli_error("%s: '%s' is not K,Y,X", opt, arg), 2;
    po->select = ZF_SELECT_UNIT, po->map = k, po->y = y, po->x = x;
    return 0;
}

static int parse_map(const char *opt, const char *arg, void *target) {
    zf_project_options *po = target;
    long v;
    if (cli_parse_int_value(opt, arg, 0, 1 << 20, &v)) return 2;
    po->select = ZF_SELECT_MAP, po->map = (int)v;
    return 0;
}

static int parse_strongest(const char *opt, const char *arg, void *target) {
    (void)opt, (void)arg;
    ((zf_project_options *)target)->select = ZF_SELECT_STRONGEST;
    return 0;
}

static int parse_method(const char *opt, const char *arg, void *target) {
    deconv_job *j = target;
    zf_error err;
    j->rule_name = arg;
    j->gradcam = !strcmp(arg, "gradcam");
    if (j->gradcam || !zf_rule_parse(arg, &j->po.rule, &err)) return 0;
    return cli_error("%s: '%s' is not deconvnet, guided, gradient or gradcam", opt, arg), 2;
}

static void print_results(const deconv_job *j) {
    for (int i = 0; i < j->in.n; i++) {
        if (j->gradcam) {
            const char *name = zf_data_prep_class_name(&j->prep, j->chosen[i]);
            printf("%s: Grad-CAM at %s for class %d%s%s (p = %.4f)\n", j->in.names[i],
                   j->layer_name, j->chosen[i], name ? " " : "", name ? name : "", j->value[i]);
        } else if (j->po.select == ZF_SELECT_UNIT)
            printf("%s: %s unit %d,%d,%d = %.5g, projected (%s)\n", j->in.names[i], j->layer_name,
                   j->po.map, j->po.y, j->po.x, j->value[i], j->rule_name);
        else
            printf("%s: %s map %d (max %.5g), projected (%s)\n", j->in.names[i], j->layer_name,
                   j->chosen[i], j->value[i], j->rule_name);
    }
}

static int write_raw(const deconv_job *j, const char *path) {
    zf_shape in = zf_net_input_shape(j->net);
    zf_error err;
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    int64_t shape[4] = {j->in.n, j->gradcam ? 1 : in.c, in.h, in.w}, cshape[1] = {j->in.n};
    int64_t *chosen64 = malloc(sizeof(int64_t) * j->in.n);
    for (int i = 0; chosen64 && i < j->in.n; i++) chosen64[i] = j->chosen[i];
    zf_lrn_rule lrn = zf_lrn_rule_for(j->po.rule, j->po.lrn);
    int rc = 0;
    if (!w || !chosen64 ||
        zf_st_writer_add(w, j->gradcam ? "gradcam" : "projection", ZF_DTYPE_F32, 4, shape,
                         j->result, &err) ||
        zf_st_writer_add(w, j->gradcam ? "class" : "map", ZF_DTYPE_I64, 1, cshape, chosen64,
                         &err) ||
        zf_st_writer_meta(w, "layer", j->layer_name, &err) ||
        zf_st_writer_meta(w, "rule", j->rule_name, &err) ||
        (!j->gradcam && zf_st_writer_meta(w, "lrn", zf_lrn_rule_name(lrn), &err)) ||
        zf_st_writer_save(w, path, &err))
        rc = cli_error("%s", w && chosen64 ? err.msg : "out of memory");
    zf_st_writer_free(w), free(chosen64);
    return rc;
}

static int write_pictures(const deconv_job *j, const char *dir) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w, p3 = (size_t)3 * in.h * in.w;
    int zoom = vis_zoom(in.w, 160), gap = 4;
    uint8_t *a = malloc(per), *b = malloc(per > p3 ? per : p3);
    int rc = a && b ? make_dir(dir) : cli_error("out of memory");
    for (int i = 0; !rc && i < j->in.n; i++) {
        canvas cv;
        if ((rc = canvas_new(&cv, 2 * in.w * zoom + gap, in.h * zoom, 255))) break;
        if (j->prep.mean)
            zf_data_prep_pixels(&j->prep, in, j->in.x + per * i, 0, 0, in.h, in.w, a);
        else
            vis_minmax(j->in.x + per * i, in.c, in.h, in.w, a);
        canvas_paste(&cv, a, in.c, in.h, in.w, 0, 0, zoom);
        if (j->gradcam)
            vis_cam(j->result + (size_t)in.h * in.w * i, a, in.c, in.h, in.w, b);
        else
            vis_signed(j->result + per * i, in.c, in.h, in.w, b);
        canvas_paste(&cv, b, j->gradcam ? 3 : in.c, in.h, in.w, in.w * zoom + gap, 0, zoom);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s-%s-%s.png", dir, j->in.names[i], j->layer_name,
                 j->rule_name);
        rc = canvas_save(&cv, path);
        canvas_free(&cv);
    }
    free(a), free(b);
    return rc;
}

/* the layer (for Grad-CAM, where its activations are taken) and the result buffers */
static int prepare(deconv_job *j) {
    zf_error err;
    if ((j->layer = zf_net_find_layer(j->net, j->layer_name)) < 0)
        return cli_error("no layer '%s' in %s", j->layer_name, cli_model(j->net));
    if (j->gradcam) {
        int at;
        if (zf_gradcam_layer(j->net, j->layer, &at, &err)) return cli_error("%s", err.msg);
        zf_layer_info li;
        zf_net_layer_info(j->net, at, &li);
        j->layer_name = li.name;
    }
    return 0;
}

static int run(deconv_job *j, char **inputs, int ninputs) {
    zf_error err;
    if (prepare(j) || cli_load_inputs(j->net, &j->prep, inputs, ninputs, &j->in)) return 1;
    zf_shape in = zf_net_input_shape(j->net);
    size_t res = j->gradcam ? (size_t)in.h * in.w : (size_t)in.c * in.h * in.w;
    j->result = malloc(sizeof(float) * res * j->in.n);
    j->chosen = malloc(sizeof(int) * j->in.n), j->value = malloc(sizeof(float) * j->in.n);
    if (!j->result || !j->chosen || !j->value) return cli_error("out of memory");
    zf_status st = j->gradcam ? zf_gradcam(j->net, j->layer, j->klass, j->in.x, j->in.n, j->batch,
                                           j->result, j->chosen, j->value, &err)
                              : zf_project(j->net, j->layer, j->in.x, j->in.n, &j->po, j->result,
                                           j->chosen, j->value, &err);
    return st ? cli_error("%s", err.msg) : 0;
}

int cmd_deconv(int argc, char **argv) {
    const char *weights = NULL, *model = NULL, *raw = NULL, *dir = "zfnet-deconv", *input = NULL;
    deconv_job j = {.klass = -1, .rule_name = "deconvnet"};
    zf_project_defaults(&j.po);
    int threads = 0;
    const cli_opt own[] = {
        CLI_WEIGHTS(&weights, "a checkpoint (its model text, weights and data preparation)"),
        {"model", CLI_STR, &model, "M", "a preset or model file (with --weights: its weights)"},
        {"input", CLI_STR, &input, "X", "X.safetensors, or image files (more follow)"},
        {"layer", CLI_STR, &j.layer_name, "NAME", "the layer to project from", .required = 1},
        {"map", CLI_CALL, &j.po, "K", "this feature map", .parse = parse_map},
        {"unit", CLI_CALL, &j.po, "K,Y,X", "this one activation", .parse = parse_unit},
        {"strongest", CLI_FLAG, &j.po, NULL, "the map with the largest activation (default)",
         .parse = parse_strongest},
        {"rule", CLI_CALL, &j, "R", "deconvnet (default), guided, gradient or gradcam",
         .parse = parse_method, .choices = "deconvnet guided gradient gradcam"},
        {"lrn", CLI_CALL, &j.po.lrn, "L",
         "LRN on the way down: identity, gradient, or default (identity for\n"
         "deconvnet, the true gradient for guided and gradient)",
         .parse = cli_parse_lrn, .choices = "default identity gradient"},
        {"class", CLI_INT, &j.klass, "K", "Grad-CAM's class (default: the prediction)", 0, 1 << 20},
        {"raw", CLI_STR, &raw, "OUT", "the projections or maps as safetensors"},
        CLI_OUTPUT(&dir, "the pictures' folder (zfnet-deconv)"),
        CLI_BATCH(&j.batch, "inputs per pass (16)"),
        CLI_THREADS(&threads),
        CLI_PRECISION,
        {0}};
    j.batch = j.po.batch;
    int npos, rc = cli_parse(&deconv_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (!input && npos)
        return cli_usage_error("deconv", "unexpected argument '%s' (inputs follow --input)",
                               argv[1]);
    if (!input || (!weights && !model))
        return cli_usage_error("deconv", "--layer, --input and --weights (or --model) are needed");
    argv[0] = (char *)input; /* the inputs: --input's value, then the arguments after it */
    j.po.batch = j.batch;
    rc = cli_open_weights(model, weights, threads, &j.net, &j.prep) || run(&j, argv, npos + 1);
    if (!rc) print_results(&j);
    if (!rc && raw) rc = write_raw(&j, raw);
    if (!rc && (!raw || strcmp(dir, "zfnet-deconv"))) {
        rc = write_pictures(&j, dir);
        if (!rc) printf("pictures in %s/\n", dir);
    }
    cli_inputs_free(&j.in);
    free(j.result), free(j.chosen), free(j.value);
    zf_data_prep_free(&j.prep);
    zf_net_free(j.net);
    return rc;
}
