/* zfnet invariance: ZF Fig. 5 for any inputs (zf_invariance): feature-vector distances of
 * chosen layers and the class probability as each image is shifted, scaled or rotated; the
 * curves as SVG, every point as CSV and JSON, and per layer how linear the distance grows. */
#include "draw.h"
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_command invariance_cmd = {
    "invariance",
    "--weights W (--input X.safetensors | IMAGE... | --data SPEC --items I,J,...)\n"
    "                        --transform translate|scale|rotate [--range A:B] [--steps N]\n"
    "                        [--layers conv1,fc7] [--class true|pred|K] [--labels L] [-o DIR]\n"
    "                        [--raw OUT]",
    "Transforms each input (as pixels; bilinear; the uncovered part takes the training data's\n"
    "mean) by each of N values evenly spread over A..B, both included, and records (ZF Fig. 5):\n"
    "the Euclidean distance between the feature vectors of the transformed and the original\n"
    "image at each layer (its output after its ReLU; default: the first conv layer and the fc\n"
    "layer before the last, the paper's layers 1 and 7), the probability of the class (--class\n"
    "as in 'zfnet occlusion') and the predicted label.\n"
    "  translate  vertical shift in input pixels, positive down (default range: +-60/224 of\n"
    "             the height)\n"
    "  scale      about the centre (default 1:1.8)\n"
    "  rotate     about the centre, degrees counter-clockwise (default 0:360)\n"
    "N defaults to 17. Per layer it prints how close to linear the distance grows with the\n"
    "distance from the identity (R^2 of a line fit over all images; for rotation the angle to\n"
    "the nearest multiple of 360) and the mean probability drop at both ends of the range.\n"
    "DIR (zfnet-invariance) gets invariance-<transform>.svg (one panel per layer and one for\n"
    "the probability, a line per image), .csv and .json; --raw the transformed inputs\n"
    "('inputs', N x STEPS x C x H x W) and 'distance' (N x LAYERS x STEPS), 'prob' (N x STEPS).\n",
    0, -1};

typedef struct inv_job {
    zf_net *net;
    zf_data_prep prep;
    cli_inputs in;
    zf_invariance_options o;
    const char *layers, *class_arg, *dir, *range, *transform;
    int layer_idx[64];
    zf_invariance_result *r;
    float *inputs;
} inv_job;

/* the layers: --layers, or the first conv layer and the fc layer before the last */
static int choose_layers(inv_job *j) {
    int n;
    if (cli_feature_layers(j->net, "invariance", j->layers, 0, j->layer_idx, &n)) return 1;
    j->o.layers = j->layer_idx, j->o.nlayers = n;
    return 0;
}

static int choose_range(inv_job *j) {
    zf_error err;
    zf_shape in = zf_net_input_shape(j->net);
    if (zf_transform_parse(j->transform, &j->o.transform, &err))
        return cli_usage_error("invariance", "--transform: %s", err.msg);
    if (j->range) {
        char *end, *mid;
        j->o.from = strtod(j->range, &mid);
        j->o.to = mid != j->range && *mid == ':' ? strtod(mid + 1, &end) : NAN;
        if (mid == j->range || *mid != ':' || end == mid + 1 || *end || !isfinite(j->o.to) ||
            !isfinite(j->o.from))
            return cli_usage_error("invariance", "--range '%s' is not A:B", j->range);
        return 0;
    }
    double t = round(60.0 / 224 * in.h);
    double lo[3] = {-t, 1, 0}, hi[3] = {t, 1.8, 360};
    j->o.from = lo[j->o.transform], j->o.to = hi[j->o.transform];
    return 0;
}

static const char *layer_name(const inv_job *j, int k) {
    zf_layer_info li;
    zf_net_layer_info(j->net, j->o.layers[k], &li);
    return li.name;
}

typedef struct inv_summary {
    double r2[64];
    double drop_from, drop_to; /* mean probability drop at the range's ends */
} inv_summary;

static int summarize(const inv_job *j, inv_summary *s) {
    zf_error err;
    if (zf_invariance_summarize(j->r, j->in.n, j->o.transform, s->r2, &s->drop_from, &s->drop_to,
                                &err))
        return cli_fail(&err);
    return 0;
}

static int write_csv(const inv_job *j, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_error("out of memory");
    fprintf(f, "image,transform,value");
    for (int k = 0; k < j->o.nlayers; k++) fprintf(f, ",distance_%s", layer_name(j, k));
    fprintf(f, ",class,prob,predicted\n");
    for (int i = 0; i < j->in.n; i++)
        for (int t = 0; t < j->o.steps; t++) {
            const zf_invariance_result *r = &j->r[i];
            fprintf(f, "%s,%s,%.6g", j->in.names[i], j->transform, r->values[t]);
            for (int k = 0; k < j->o.nlayers; k++)
                fprintf(f, ",%.6g", r->distance[(size_t)k * j->o.steps + t]);
            fprintf(f, ",%d,%.6g,%d\n", r->klass, r->prob[t], r->label[t]);
        }
    return svg_save(f, &buf, path);
}

static int write_json_file(const inv_job *j, const inv_summary *s, const char *path) {
    json_t *layers = json_array(), *imgs = json_array();
    for (int k = 0; k < j->o.nlayers; k++)
        json_array_append_new(
            layers, json_pack("{s:s,s:f}", "layer", layer_name(j, k), "linearity_r2", s->r2[k]));
    for (int i = 0; i < j->in.n; i++) {
        const zf_invariance_result *r = &j->r[i];
        json_t *v = json_array(), *p = json_array(), *l = json_array(), *d = json_object();
        for (int t = 0; t < j->o.steps; t++) {
            json_array_append_new(v, json_real(r->values[t]));
            json_array_append_new(p, json_real(r->prob[t]));
            json_array_append_new(l, json_integer(r->label[t]));
        }
        for (int k = 0; k < j->o.nlayers; k++) {
            json_t *a = json_array();
            for (int t = 0; t < j->o.steps; t++)
                json_array_append_new(a, json_real(r->distance[(size_t)k * j->o.steps + t]));
            json_object_set_new(d, layer_name(j, k), a);
        }
        json_array_append_new(imgs,
                              json_pack("{s:s,s:i,s:f,s:o,s:o,s:o,s:o}", "input", j->in.names[i],
                                        "class", r->klass, "base_prob", r->base_prob, "values", v,
                                        "distance", d, "prob", p, "predicted", l));
    }
    json_t *o =
        json_pack("{s:s,s:f,s:f,s:i,s:o,s:f,s:f,s:o}", "transform", j->transform, "from", j->o.from,
                  "to", j->o.to, "steps", j->o.steps, "layers", layers, "mean_prob_drop_at_from",
                  s->drop_from, "mean_prob_drop_at_to", s->drop_to, "images", imgs);
    int rc = write_json(path, o);
    json_decref(o);
    return rc;
}

static int write_svg(const inv_job *j, const char *path) {
    int n = j->in.n, st = j->o.steps, np = j->o.nlayers + 1;
    char *buf = NULL, title[128];
    size_t len = 0;
    double *y = malloc(sizeof(double) * n * st);
    FILE *f = y ? open_memstream(&buf, &len) : NULL;
    if (!f) return free(y), cli_error("out of memory");
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='330' "
            "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            20 + 300 * np);
    for (int k = 0; k < np; k++) {
        for (int i = 0; i < n; i++)
            for (int t = 0; t < st; t++)
                y[i * st + t] =
                    k < j->o.nlayers ? j->r[i].distance[(size_t)k * st + t] : j->r[i].prob[t];
        if (k < j->o.nlayers)
            snprintf(title, sizeof title, "%s: distance", layer_name(j, k));
        else
            snprintf(title, sizeof title, "p(class)");
        svg_panel(f, 70 + 300 * k, 40, 220, 220, title, j->transform, st, j->r[0].values, n, y);
    }
    for (int i = 0; i < n && i < 10; i++) {
        uint8_t c[3];
        vis_category(n == 1 ? 3 : i, c);
        fprintf(f, "<text x='%d' y='318' font-size='10' fill='#%02x%02x%02x'>", 20 + 90 * i, c[0],
                c[1], c[2]);
        svg_text(f, j->in.names[i]);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    free(y);
    return svg_save(f, &buf, path);
}

static int write_raw(const inv_job *j, const char *path) {
    zf_shape in = zf_net_input_shape(j->net);
    int n = j->in.n, st = j->o.steps, nl = j->o.nlayers;
    int64_t ishape[5] = {n, st, in.c, in.h, in.w}, dshape[3] = {n, nl, st}, pshape[2] = {n, st};
    float *d = malloc(sizeof(float) * n * nl * st), *p = malloc(sizeof(float) * n * st);
    for (int i = 0; d && p && i < n; i++) {
        for (int q = 0; q < nl * st; q++) d[(size_t)i * nl * st + q] = (float)j->r[i].distance[q];
        memcpy(p + (size_t)i * st, j->r[i].prob, sizeof(float) * st);
    }
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    zf_error err;
    int rc = 0;
    if (!d || !p || !w || zf_st_writer_add(w, "inputs", ZF_DTYPE_F32, 5, ishape, j->inputs, &err) ||
        zf_st_writer_add(w, "distance", ZF_DTYPE_F32, 3, dshape, d, &err) ||
        zf_st_writer_add(w, "prob", ZF_DTYPE_F32, 2, pshape, p, &err) ||
        zf_st_writer_save(w, path, &err))
        rc = cli_error("%s", d && p && w ? err.msg : "out of memory");
    zf_st_writer_free(w), free(d), free(p);
    return rc;
}

static int compute(inv_job *j, const char *raw) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w;
    int *classes = malloc(sizeof(int) * j->in.n);
    j->r = calloc((size_t)j->in.n, sizeof *j->r);
    j->inputs = raw ? malloc(sizeof(float) * per * j->o.steps * j->in.n) : NULL;
    int rc = classes && j->r && (j->inputs || !raw) ? 0 : cli_error("out of memory");
    if (!rc) rc = cli_choose_classes(&j->in, j->class_arg, classes);
    zf_error err;
    j->o.cb = cli_callbacks(NULL);
    double t0 = cli_now();
    if (!rc &&
        zf_invariance(j->net, &j->prep, j->in.x, j->in.n, classes, &j->o, j->r, j->inputs, &err))
        rc = cli_fail(&err);
    free(classes);
    if (rc)
        free(j->r), j->r = NULL;
    else
        printf("invariance: %d image%s x %d %s values %g..%g in %.2f s\n", j->in.n,
               j->in.n == 1 ? "" : "s", j->o.steps, j->transform, j->o.from, j->o.to,
               cli_now() - t0);
    return rc;
}

static int invariance_run(inv_job *j, const char *raw) {
    inv_summary s;
    int rc = choose_range(j);
    if (!rc) rc = choose_layers(j);
    if (!rc) rc = compute(j, raw);
    if (rc) return rc;
    if ((rc = summarize(j, &s))) return rc;
    for (int k = 0; k < j->o.nlayers; k++)
        printf("  %-8s distance vs distance from the identity: R^2 = %.3f\n", layer_name(j, k),
               s.r2[k]);
    printf("  p(class): mean drop %.4f at %g, %.4f at %g\n", s.drop_from, j->o.from, s.drop_to,
           j->o.to);
    for (int i = 0; i < j->in.n; i++) {
        double m = 0;
        for (int t = 0; t < j->o.steps; t++) m += j->r[i].prob[t] / j->o.steps;
        const char *name = zf_data_prep_class_name(&j->prep, j->r[i].klass);
        printf("  %s: class %d %s, p %.4f untransformed, %.4f on average over the range\n",
               j->in.names[i], j->r[i].klass, name ? name : "", j->r[i].base_prob, m);
    }
    char path[4400];
    if (raw && (rc = write_raw(j, raw))) return rc;
    if ((rc = make_dir(j->dir))) return rc;
    snprintf(path, sizeof path, "%s/invariance-%s.csv", j->dir, j->transform);
    if ((rc = write_csv(j, path))) return rc;
    snprintf(path, sizeof path, "%s/invariance-%s.json", j->dir, j->transform);
    if ((rc = write_json_file(j, &s, path))) return rc;
    snprintf(path, sizeof path, "%s/invariance-%s.svg", j->dir, j->transform);
    if (!(rc = write_svg(j, path)))
        printf("invariance-%s.svg, .csv, .json in %s/\n", j->transform, j->dir);
    return rc;
}

int cmd_invariance(int argc, char **argv) {
    const char *raw = NULL;
    cli_input_args a = {0};
    inv_job j = {.dir = "zfnet-invariance"};
    zf_invariance_defaults(&j.o);
    const cli_opt own[] = {
        CLI_WEIGHTS(&a.weights, "a checkpoint (its model text, weights and data preparation)"),
        {"model", CLI_STR, &a.model, "M", "a preset or model file (with --weights: its weights)"},
        {"input", CLI_STR, &a.input, "X", "X.safetensors, or image files (more follow)"},
        {"data", CLI_STR, &a.data, "SPEC", "a dataset (with --items)"},
        {"items", CLI_STR, &a.items, "I,J", "its items (indices)"},
        {"transform", CLI_STR, &j.transform, "T", "translate, scale or rotate", .required = 1,
         .choices = "translate scale rotate"},
        {"range", CLI_STR, &j.range, "A:B",
         "the values (by transform: +-60/224 of the height,\n"
         "1:1.8, 0:360)"},
        {"steps", CLI_INT, &j.o.steps, "N", "values in the range (17)", 1, 100000},
        {"layers", CLI_STR, &j.layers, "L",
         "feature layers (the first conv and the fc before "
         "the last)"},
        {"class", CLI_STR, &j.class_arg, "C", "true, pred or a class index"},
        {"labels", CLI_STR, &a.labels, "L", "the inputs' classes (indices or names, one each)"},
        {"raw", CLI_STR, &raw, "OUT", "the transformed inputs and curves as safetensors"},
        CLI_OUTPUT(&j.dir, "the output folder (zfnet-invariance)"),
        CLI_BATCH(&j.o.batch, "inputs per pass (32)"),
        CLI_THREADS(&a.threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&invariance_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    rc = cli_open_inputs("invariance", &a, argv, npos, &j.net, &j.prep, &j.in);
    if (!rc) rc = invariance_run(&j, raw);
    for (int i = 0; j.r && i < j.in.n; i++) zf_invariance_result_free(&j.r[i]);
    free(j.r), free(j.inputs);
    cli_inputs_free(&j.in);
    zf_data_prep_free(&j.prep);
    zf_net_free(j.net);
    return rc;
}
