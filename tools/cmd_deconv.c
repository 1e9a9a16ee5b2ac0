/* zfnet deconv: project feature maps (or single activations) of any layer down to pixels with
 * the DeconvNet rule (ZF section 2.1), guided backprop or the gradient, or a Grad-CAM map. */
#include "topk.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: zfnet deconv --weights W [--model M] --input X.safetensors | IMAGE... --layer NAME\n"
    "                    [--map K | --unit K,Y,X | --strongest] [--rule R] [--class K]\n"
    "                    [--raw OUT.safetensors] [-o DIR] [--batch N] [--threads T]\n\n"
    "Runs each input up to layer NAME, keeps one feature map of that layer's output (--map K;\n"
    "--strongest, the default: the map holding the image's largest activation) or one\n"
    "activation (--unit K,Y,X), zeroes everything else, and sends it down to the pixels:\n"
    "  --rule deconvnet  (default) ZF's DeconvNet: ReLU rectifies the signal, max pooling routes\n"
    "                    it through the recorded switches (overlapping windows add up), conv\n"
    "                    applies the transposed filters without bias, LRN passes it unchanged\n"
    "  --rule guided     guided backprop: the ReLU keeps positive signal where the unit was on\n"
    "  --rule gradient   the true gradient (saliency)\n"
    "  --rule gradcam    Grad-CAM at layer NAME for class --class (default: the prediction):\n"
    "                    ReLU(sum_k mean(dScore/dA_k) A_k), upsampled to the input; A is the\n"
    "                    layer's output, after its ReLU when a ReLU follows it\n"
    "--input is the 'input' tensor of a safetensors file (N x C x H x W, as zfnet forward reads),\n"
    "or image files (JPEG/PNG), prepared as the checkpoint's training data was (centre crop).\n"
    "Pictures go to DIR (zfnet-deconv): per input, the input beside its projection; projections\n"
    "are shown scaled by their largest absolute value, zero at mid-grey; Grad-CAM maps in viridis\n"
    "over the input. --raw writes the projections as 'projection' (F32, the input's shape) or\n"
    "the maps as 'gradcam' (F32, N x 1 x H x W).\n";

typedef enum { SEL_STRONGEST, SEL_MAP, SEL_UNIT } selection;

typedef struct deconv_job {
    zf_net *net;
    data_prep prep;
    int layer, score_layer, nin, batch;
    zf_rule rule;
    int gradcam, klass;
    selection sel;
    int map, uy, ux;
    float *x;      /* (nin, in) */
    char **names;  /* (nin) */
    float *result; /* (nin, in) projections or (nin, 1, h, w) maps */
    int *chosen;   /* (nin) map used, or class for Grad-CAM */
    float *value;  /* (nin) its activation, or the class probability */
} deconv_job;

static int load_inputs(deconv_job *j, char **args, int nargs) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w;
    zf_error err;
    const char *a0 = args[0];
    size_t l0 = strlen(a0);
    if (nargs == 1 && l0 > 12 && !strcmp(a0 + l0 - 12, ".safetensors")) {
        zf_st_file *f;
        if (zf_st_open(&f, a0, &err)) return cli_error("%s", err.msg);
        int64_t want[4] = {0, in.c, in.h, in.w};
        int ok;
        const zf_st_tensor *t = cli_need_tensor(f, "input", 4, want, &ok);
        if (ok) {
            j->nin = (int)t->shape[0];
            j->x = malloc(t->nbytes);
            j->names = calloc((size_t)j->nin, sizeof(char *));
            if (!j->x || !j->names) ok = 0;
            for (int i = 0; ok && i < j->nin; i++) {
                char name[32];
                snprintf(name, sizeof name, "input%d", i);
                j->names[i] = strdup(name);
            }
            if (ok) memcpy(j->x, t->data, t->nbytes);
        }
        zf_st_close(f);
        return ok ? 0 : 1;
    }
    zf_shape s = j->prep.mean ? j->prep.shape : in;
    uint8_t *im = malloc((size_t)s.c * s.h * s.w);
    j->x = malloc(sizeof(float) * per * (size_t)nargs);
    j->names = calloc((size_t)nargs, sizeof(char *));
    if (!im || !j->x || !j->names) return free(im), cli_error("out of memory");
    for (int a = 0; a < nargs; a++) {
        if (zf_image_load(args[a], s.h, s.c, im, &err)) {
            free(im);
            return cli_error("%s", err.msg);
        }
        if (s.c != in.c || s.h < in.h || s.w < in.w) {
            free(im);
            return cli_error("%s: images are prepared as %dx%dx%d; the model takes %dx%dx%d",
                             args[a], s.c, s.h, s.w, in.c, in.h, in.w);
        }
        prep_centre(im, s, &j->prep, in, j->x + per * j->nin);
        const char *base = strrchr(args[a], '/');
        base = base ? base + 1 : args[a];
        char *name = strdup(base), *dot = name ? strrchr(name, '.') : NULL;
        if (dot && dot != name) *dot = 0;
        j->names[j->nin++] = name;
    }
    free(im);
    return 0;
}

/* One batch: inputs i0..i0+n-1 into result. */
static int run_batch(deconv_job *j, int i0, int n, float *act, float *sig) {
    zf_net *net = j->net;
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    zf_layer_info li;
    zf_net_layer_info(net, j->layer, &li);
    size_t lper = (size_t)li.out.c * li.out.h * li.out.w, plane = (size_t)li.out.h * li.out.w;
    zf_error err;
    int upto = j->gradcam ? zf_net_num_layers(net) - 1 : j->layer;
    if (zf_net_set_input(net, j->x + per * i0, n, &err) ||
        zf_net_forward(net, ZF_MODE_INFER, upto, &err) ||
        zf_net_read_output(net, j->layer, act, &err))
        return cli_error("%s", err.msg);
    memset(sig, 0, sizeof(float) * (j->gradcam ? (size_t)n * zf_net_classes(net) : lper * n));
    if (j->gradcam) {
        int classes = zf_net_classes(net);
        float *prob = malloc(sizeof(float) * (size_t)n * classes),
              *grad = malloc(sizeof(float) * lper * n);
        if (!prob || !grad) return free(prob), free(grad), cli_error("out of memory");
        int rc = zf_net_read_output(net, zf_net_num_layers(net) - 1, prob, &err);
        for (int i = 0; !rc && i < n; i++) {
            int k = j->klass;
            if (k < 0)
                for (int c = k = 0; c < classes; c++)
                    if (prob[(size_t)i * classes + c] > prob[(size_t)i * classes + k]) k = c;
            j->chosen[i0 + i] = k, j->value[i0 + i] = prob[(size_t)i * classes + k];
            sig[(size_t)i * classes + k] = 1; /* d score_k / d logits */
        }
        if (!rc && (zf_net_signal_down_to(net, j->score_layer, j->layer + 1, ZF_RULE_GRADIENT, sig,
                                          &err) ||
                    zf_net_read_signal(net, grad, &err)))
            rc = cli_error("%s", err.msg);
        for (int i = 0; !rc && i < n; i++) { /* cam = relu(sum_k mean(grad_k) A_k) */
            const float *a = act + lper * i, *g = grad + lper * i;
            double *camd = calloc(plane, sizeof(double));
            if (!camd) {
                rc = cli_error("out of memory");
                break;
            }
            for (int c = 0; c < li.out.c; c++) {
                double w = 0;
                for (size_t p = 0; p < plane; p++) w += g[c * plane + p];
                w /= (double)plane;
                for (size_t p = 0; p < plane; p++) camd[p] += w * a[c * plane + p];
            }
            float *out = j->result + (size_t)in.h * in.w * (i0 + i);
            for (int y = 0; y < in.h; y++) /* bilinear, align_corners=False */
                for (int x = 0; x < in.w; x++) {
                    double fy = (y + 0.5) * li.out.h / in.h - 0.5,
                           fx = (x + 0.5) * li.out.w / in.w - 0.5;
                    fy = fmax(0, fmin(li.out.h - 1, fy)), fx = fmax(0, fmin(li.out.w - 1, fx));
                    int y0 = (int)fy, x0 = (int)fx, y1 = y0 + (y0 + 1 < li.out.h),
                        x1 = x0 + (x0 + 1 < li.out.w);
                    double dy = fy - y0, dx = fx - x0;
                    double v = (1 - dy) * ((1 - dx) * fmax(0, camd[y0 * li.out.w + x0]) +
                                           dx * fmax(0, camd[y0 * li.out.w + x1])) +
                               dy * ((1 - dx) * fmax(0, camd[y1 * li.out.w + x0]) +
                                     dx * fmax(0, camd[y1 * li.out.w + x1]));
                    out[(size_t)y * in.w + x] = (float)v;
                }
            free(camd);
        }
        free(prob), free(grad);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        const float *a = act + lper * i;
        float *s = sig + lper * i;
        int k = j->map;
        if (j->sel == SEL_STRONGEST) {
            size_t best = 0;
            for (size_t p = 1; p < lper; p++)
                if (a[p] > a[best]) best = p;
            k = (int)(best / plane);
        }
        j->chosen[i0 + i] = k;
        if (j->sel == SEL_UNIT) {
            size_t p = (size_t)k * plane + (size_t)j->uy * li.out.w + j->ux;
            s[p] = a[p], j->value[i0 + i] = a[p];
        } else {
            float m = -INFINITY;
            for (size_t p = 0; p < plane; p++)
                s[k * plane + p] = a[k * plane + p], m = fmaxf(m, a[k * plane + p]);
            j->value[i0 + i] = m;
        }
    }
    if (zf_net_signal_down(net, j->layer, j->rule, sig, &err) ||
        zf_net_read_input_grad(net, j->result + per * i0, &err))
        return cli_error("%s", err.msg);
    return 0;
}

static int write_pictures(const deconv_job *j, const char *dir, const char *layer_name,
                          const char *rule_name) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w;
    int zoom = vis_zoom(in.w, 160), gap = 4;
    uint8_t *a = malloc(per),
            *b = malloc(per > (size_t)3 * in.h * in.w ? per : (size_t)3 * in.h * in.w);
    int rc = a && b ? 0 : cli_error("out of memory");
    if (!rc && mkdir(dir, 0755) && errno != EEXIST)
        rc = cli_error("%s: cannot create: %s", dir, strerror(errno));
    for (int i = 0; !rc && i < j->nin; i++) {
        canvas cv;
        if ((rc = canvas_new(&cv, 2 * in.w * zoom + gap, in.h * zoom, 255))) break;
        vis_input_pixels(j->x + per * i, in, &j->prep, a);
        if (!j->prep.mean) vis_minmax(j->x + per * i, in.c, in.h, in.w, a);
        canvas_paste(&cv, a, in.c, in.h, in.w, 0, 0, zoom);
        if (j->gradcam) { /* viridis over the (dimmed, grey) input */
            const float *cam = j->result + (size_t)in.h * in.w * i;
            float m = 0;
            for (int p = 0; p < in.h * in.w; p++) m = fmaxf(m, cam[p]);
            size_t plane = (size_t)in.h * in.w;
            for (size_t p = 0; p < plane; p++) {
                uint8_t rgb[3];
                vis_viridis(m > 0 ? cam[p] / m : 0, rgb);
                int g = in.c == 3 ? (a[p] + a[plane + p] + a[2 * plane + p]) / 3 : a[p];
                for (int c = 0; c < 3; c++) b[c * plane + p] = (uint8_t)((6 * rgb[c] + 4 * g) / 10);
            }
            canvas_paste(&cv, b, 3, in.h, in.w, in.w * zoom + gap, 0, zoom);
        } else {
            vis_signed(j->result + per * i, in.c, in.h, in.w, b);
            canvas_paste(&cv, b, in.c, in.h, in.w, in.w * zoom + gap, 0, zoom);
        }
        char path[4400];
        snprintf(path, sizeof path, "%s/%s-%s-%s.png", dir, j->names[i], layer_name, rule_name);
        rc = canvas_save(&cv, path);
        canvas_free(&cv);
    }
    free(a), free(b);
    return rc;
}

int cmd_deconv(int argc, char **argv) {
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'},
                                         {"model", required_argument, 0, 'm'},
                                         {"input", required_argument, 0, 'i'},
                                         {"layer", required_argument, 0, 'l'},
                                         {"map", required_argument, 0, 'k'},
                                         {"unit", required_argument, 0, 'u'},
                                         {"strongest", no_argument, 0, 'S'},
                                         {"rule", required_argument, 0, 'r'},
                                         {"class", required_argument, 0, 'C'},
                                         {"raw", required_argument, 0, 'R'},
                                         {"output", required_argument, 0, 'o'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *weights = NULL, *model = NULL, *layer = NULL, *raw = NULL, *dir = "zfnet-deconv";
    const char *rule_name = "deconvnet";
    deconv_job j = {.sel = SEL_STRONGEST, .klass = -1, .batch = 16, .rule = ZF_RULE_DECONVNET};
    int threads = 0, have_input = 0, unit[3];
    long v;
    optind = 0;
    int ch;
    char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    int ninputs = 0;
    if (!inputs) return cli_error("out of memory");
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (ch) {
        case 'w':
            weights = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'i':
            inputs[ninputs++] = optarg, have_input = 1;
            break;
        case 'l':
            layer = optarg;
            break;
        case 'k':
            if (cli_parse_int("--map", optarg, 0, 1 << 20, &v)) return free(inputs), 2;
            j.sel = SEL_MAP, j.map = (int)v;
            break;
        case 'u':
            if (sscanf(optarg, "%d,%d,%d", &unit[0], &unit[1], &unit[2]) != 3 || unit[0] < 0 ||
                unit[1] < 0 || unit[2] < 0)
                return free(inputs), cli_error("--unit: '%s' is not K,Y,X", optarg), 2;
            j.sel = SEL_UNIT, j.map = unit[0], j.uy = unit[1], j.ux = unit[2];
            break;
        case 'S':
            j.sel = SEL_STRONGEST;
            break;
        case 'r':
            rule_name = optarg;
            if (!strcmp(optarg, "deconvnet"))
                j.rule = ZF_RULE_DECONVNET;
            else if (!strcmp(optarg, "guided"))
                j.rule = ZF_RULE_GUIDED;
            else if (!strcmp(optarg, "gradient"))
                j.rule = ZF_RULE_GRADIENT;
            else if (!strcmp(optarg, "gradcam"))
                j.gradcam = 1;
            else
                return free(inputs),
                       cli_error("--rule: '%s' is not deconvnet, guided, gradient or gradcam",
                                 optarg),
                       2;
            break;
        case 'C':
            if (cli_parse_int("--class", optarg, 0, 1 << 20, &v)) return free(inputs), 2;
            j.klass = (int)v;
            break;
        case 'R':
            raw = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 4096, &v)) return free(inputs), 2;
            j.batch = (int)v;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &v)) return free(inputs), 2;
            threads = (int)v;
            break;
        case 'h':
            fputs(help, stdout);
            return free(inputs), 0;
        default:
            return free(inputs), cli_usage_error("deconv", "bad option");
        }
    }
    for (int a = optind; have_input && a < argc; a++) inputs[ninputs++] = argv[a];
    if (!have_input && optind < argc) {
        free(inputs);
        return cli_usage_error("deconv", "unexpected argument '%s' (inputs follow --input)",
                               argv[optind]);
    }
    if (!layer || !ninputs || (!weights && !model)) {
        free(inputs);
        return cli_usage_error("deconv", "--layer, --input and --weights (or --model) are needed");
    }
    int rc = 1;
    zf_error err;
    if (weights && !model) {
        if (open_checkpoint(weights, threads, &j.net, &j.prep, 0)) goto done;
        if (!j.prep.scale) j.prep.scale = 1.0f / 255;
    } else {
        zf_net_options no = {.threads = threads};
        if (cli_open_net(model, NULL, &no, &j.net)) goto done;
        if (weights && zf_checkpoint_load(j.net, weights, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        if (weights) data_prep_from_checkpoint(weights, &j.prep);
        if (!j.prep.scale) j.prep.scale = 1.0f / 255;
    }
    j.layer = zf_net_find_layer(j.net, layer);
    if (j.layer < 0) {
        cli_error("no layer '%s' in model '%s'", layer, zf_model_name(zf_net_model(j.net)));
        goto done;
    }
    zf_layer_info li;
    zf_net_layer_info(j.net, j.layer, &li);
    if (j.sel != SEL_STRONGEST && j.map >= li.out.c) {
        cli_error("--map/--unit: layer '%s' has %d maps (0..%d)", layer, li.out.c, li.out.c - 1);
        goto done;
    }
    if (j.sel == SEL_UNIT && (j.uy >= li.out.h || j.ux >= li.out.w)) {
        cli_error("--unit: layer '%s' is %dx%d (y 0..%d, x 0..%d)", layer, li.out.h, li.out.w,
                  li.out.h - 1, li.out.w - 1);
        goto done;
    }
    if (j.gradcam && j.layer + 1 < zf_net_num_layers(j.net)) { /* A after the ReLU, as usual */
        zf_layer_info next;
        zf_net_layer_info(j.net, j.layer + 1, &next);
        if (next.kind == ZF_LAYER_RELU) j.layer++, layer = next.name;
    }
    if (j.gradcam) {
        int last = zf_net_num_layers(j.net) - 1;
        zf_layer_info ll;
        zf_net_layer_info(j.net, last, &ll);
        j.score_layer = ll.kind == ZF_LAYER_SOFTMAX ? last - 1 : last;
        if (j.layer >= j.score_layer || li.out.h * li.out.w < 1) {
            cli_error("--rule gradcam: '%s' must be a layer below the class scores", layer);
            goto done;
        }
        if (j.klass >= zf_net_classes(j.net)) {
            cli_error("--class: the model has %d classes", zf_net_classes(j.net));
            goto done;
        }
    }
    if (load_inputs(&j, inputs, ninputs)) goto done;
    zf_shape in = zf_net_input_shape(j.net);
    size_t per = (size_t)in.c * in.h * in.w, lper = (size_t)li.out.c * li.out.h * li.out.w;
    size_t res = j.gradcam ? (size_t)in.h * in.w : per;
    int b = j.batch < j.nin ? j.batch : j.nin;
    j.result = malloc(sizeof(float) * res * j.nin);
    j.chosen = malloc(sizeof(int) * j.nin), j.value = malloc(sizeof(float) * j.nin);
    float *act = malloc(sizeof(float) * lper * b);
    size_t nsig =
        lper * b > (size_t)zf_net_classes(j.net) * b ? lper * b : (size_t)zf_net_classes(j.net) * b;
    float *sig = malloc(sizeof(float) * nsig);
    if (!j.result || !j.chosen || !j.value || !act || !sig) {
        free(act), free(sig);
        cli_error("out of memory");
        goto done;
    }
    zf_net_set_input_grad(j.net, 1);
    if (zf_net_reserve(j.net, b, &err)) {
        free(act), free(sig);
        cli_error("%s", err.msg);
        goto done;
    }
    int bad = 0;
    for (int i0 = 0; !bad && i0 < j.nin; i0 += b)
        bad = run_batch(&j, i0, j.nin - i0 < b ? j.nin - i0 : b, act, sig);
    free(act), free(sig);
    if (bad) goto done;
    for (int i = 0; i < j.nin; i++) {
        if (j.gradcam)
            printf("%s: Grad-CAM at %s for class %d%s%s (p = %.4f)\n", j.names[i], layer,
                   j.chosen[i], j.prep.names && j.chosen[i] < j.prep.classes ? " " : "",
                   j.prep.names && j.chosen[i] < j.prep.classes ? j.prep.names[j.chosen[i]] : "",
                   j.value[i]);
        else if (j.sel == SEL_UNIT)
            printf("%s: %s unit %d,%d,%d = %.5g, projected (%s)\n", j.names[i], layer, j.map, j.uy,
                   j.ux, j.value[i], rule_name);
        else
            printf("%s: %s map %d (max %.5g), projected (%s)\n", j.names[i], layer, j.chosen[i],
                   j.value[i], rule_name);
    }
    if (raw) {
        zf_st_writer *w = zf_st_writer_new();
        int64_t shape[4] = {j.nin, j.gradcam ? 1 : in.c, in.h, in.w}, cshape[1] = {j.nin};
        int64_t *chosen64 = malloc(sizeof(int64_t) * j.nin);
        for (int i = 0; chosen64 && i < j.nin; i++) chosen64[i] = j.chosen[i];
        if (!w || !chosen64 ||
            zf_st_writer_add(w, j.gradcam ? "gradcam" : "projection", ZF_DTYPE_F32, 4, shape,
                             j.result, &err) ||
            zf_st_writer_add(w, j.gradcam ? "class" : "map", ZF_DTYPE_I64, 1, cshape, chosen64,
                             &err) ||
            zf_st_writer_meta(w, "layer", layer, &err) ||
            zf_st_writer_meta(w, "rule", rule_name, &err) || zf_st_writer_save(w, raw, &err)) {
            cli_error("%s", w && chosen64 ? err.msg : "out of memory");
            zf_st_writer_free(w), free(chosen64);
            goto done;
        }
        zf_st_writer_free(w), free(chosen64);
    }
    if (!raw || strcmp(dir, "zfnet-deconv")) {
        if (write_pictures(&j, dir, layer, rule_name)) goto done;
        printf("pictures in %s/\n", dir);
    }
    rc = 0;
done:
    for (int i = 0; j.names && i < j.nin; i++) free(j.names[i]);
    free(j.names), free(j.x), free(j.result), free(j.chosen), free(j.value), free(inputs);
    data_prep_free(&j.prep);
    zf_net_free(j.net);
    return rc;
}
