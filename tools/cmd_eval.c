/* zfnet eval: top-1 / top-5 error of one model or an ensemble (zf_evaluate), per-class accuracy
 * and the confusion matrix as CSV. zfnet predict: top-5 classes of image files. */
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_command eval_cmd = {
    "eval",
    "--weights W [--ensemble W2,W3,...] [--data SPEC] [--ten-crop] [--per-class]\n"
    "                  [--confusion FILE.csv] [--json FILE.json] [--batch N] [--threads T]",
    "Top-1 and top-5 error of checkpoints written by 'zfnet train' (their model, data mean and\n"
    "crop settings come from the file). --ten-crop averages the softmax over the 4 corner and\n"
    "centre crops and their mirrors (ZF 5.1); --ensemble averages it over several models too\n"
    "(the paper's Table 2 protocol). SPEC as in 'zfnet train --help' (fashion-mnist:test).\n"
    "--json writes the errors, the per-class accuracy and the confusion matrix with the\n"
    "command that made them (what 'zfnet report' shows).\n"};

/* everything measured, as JSON */
static int write_eval_json(const char *path, const zf_eval_result *r, const char *const *paths,
                           int n, const char *data, int ten) {
    json_t *models = json_array(), *names = json_array(), *acc = json_array(), *conf = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(models, json_string(paths[i]));
    for (int t = 0; t < r->classes; t++) {
        const char *name = zf_data_prep_class_name(&r->prep, t);
        json_t *row = json_array();
        long long total = 0;
        for (int k = 0; k < r->classes; k++) {
            long long c = (long long)r->confusion[(size_t)t * r->classes + k];
            json_array_append_new(row, json_integer(c));
            total += c;
        }
        json_array_append_new(conf, row);
        json_array_append_new(names, json_string(name ? name : ""));
        json_array_append_new(
            acc, json_num(total ? (double)r->confusion[(size_t)t * r->classes + t] / (double)total
                                : NAN));
    }
    json_t *o =
        json_pack("{s:o, s:s, s:s?, s:s, s:i, s:f, s:f, s:o, s:o, s:o}", "models", models, "data",
                  data, "description", r->description, "crops", ten ? "ten" : "centre", "images",
                  r->images, "top1_error", 1 - r->top1, "top5_error", 1 - r->top5, "class_names",
                  names, "class_accuracy", acc, "confusion", conf);
    if (!o) return cli_error("%s: the results could not be put into JSON", path);
    int rc = write_json(path, o);
    json_decref(o);
    return rc;
}

static int write_confusion(const char *path, const zf_eval_result *r) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_error("out of memory");
    int classes = r->classes;
    fprintf(f, "true\\predicted");
    for (int k = 0; k < classes; k++) {
        const char *name = zf_data_prep_class_name(&r->prep, k);
        fprintf(f, ",%s", name ? name : "");
    }
    fputc('\n', f);
    for (int t = 0; t < classes; t++) {
        const char *name = zf_data_prep_class_name(&r->prep, t);
        if (name)
            fprintf(f, "%s", name);
        else
            fprintf(f, "%d", t);
        for (int k = 0; k < classes; k++)
            fprintf(f, ",%lld", (long long)r->confusion[(size_t)t * classes + k]);
        fputc('\n', f);
    }
    fclose(f);
    zf_error err;
    int rc = zf_write_file(path, buf, len, &err) ? cli_error("%s", err.msg) : 0;
    free(buf);
    return rc;
}

static void print_per_class(const zf_eval_result *r) {
    int classes = r->classes;
    printf("%-4s %-16s %8s %8s\n", "k", "class", "images", "accuracy");
    for (int k = 0; k < classes; k++) {
        long total = 0;
        for (int j = 0; j < classes; j++) total += (long)r->confusion[(size_t)k * classes + j];
        if (!total) continue;
        const char *name = zf_data_prep_class_name(&r->prep, k);
        printf("%-4d %-16s %8ld %7.2f%%\n", k, name ? name : "", total,
               100.0 * (double)r->confusion[(size_t)k * classes + k] / (double)total);
    }
}

/* "A" and "B,C" -> {A, B, C} (pointers into list, which is modified) */
static int split_list(char *list, const char **out, int cap) {
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < cap;
         t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

int cmd_eval(int argc, char **argv) {
    const char *weights = NULL, *ensemble = NULL, *data = "fashion-mnist:test", *conf_path = NULL,
               *json_path = NULL;
    int ten = 0, per_class = 0;
    zf_eval_options o;
    zf_eval_defaults(&o);
    const cli_opt own[] = {
        {"weights", CLI_STR, &weights, "W", "a checkpoint written by 'zfnet train'", .required = 1},
        {"ensemble", CLI_STR, &ensemble, "W2,W3,...", "more checkpoints, averaged with W"},
        {"data", CLI_STR, &data, "SPEC", "the dataset (fashion-mnist:test)"},
        {"ten-crop", CLI_FLAG, &ten, NULL, "the paper's ten crops (4 corners, centre, mirrored)"},
        {"per-class", CLI_FLAG, &per_class, NULL, "accuracy per class"},
        {"confusion", CLI_STR, &conf_path, "FILE.csv", "the confusion matrix as CSV"},
        {"json", CLI_STR, &json_path, "FILE.json", "all of the results as JSON"},
        CLI_BATCH(&o.batch, "images per forward pass (64)"),
        CLI_THREADS(&o.threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&eval_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    o.crop = ten ? ZF_CROP_TEN : ZF_CROP_CENTER;
    o.precision = cli_precision;
    o.cb = cli_callbacks(stdout);
    if (ensemble && (!*ensemble || strstr(ensemble, ",,") || *ensemble == ',' ||
                     ensemble[strlen(ensemble) - 1] == ','))
        return cli_usage_error("eval", "--ensemble '%s': an empty checkpoint name", ensemble);
    if ((conf_path && cli_check_output(conf_path)) || (json_path && cli_check_output(json_path)))
        return 1; /* found before the evaluation, not after it */
    size_t cap = strlen(weights) + (ensemble ? strlen(ensemble) : 0) + 2;
    char *list = malloc(cap);
    const char **paths = malloc(sizeof(char *) * cap);
    if (!list || !paths) return free(list), free(paths), cli_error("out of memory");
    snprintf(list, cap, "%s%s%s", weights, ensemble ? "," : "", ensemble ? ensemble : "");
    int n = split_list(list, paths, (int)cap);
    zf_eval_result r;
    zf_error err;
    if (zf_evaluate(paths, n, data, &o, &r, &err)) {
        free(list), free(paths);
        return cli_fail(&err);
    }
    printf("%s: %d images, %d model%s, %s\n", r.description, r.images, r.models,
           r.models > 1 ? "s" : "", ten ? "10 crops" : "centre crop");
    printf("top-1 error: %.2f%%  top-5 error: %.2f%%\n", 100 * (1 - r.top1), 100 * (1 - r.top5));
    printf("test accuracy: %.2f%%\n", 100 * r.top1);
    if (per_class) print_per_class(&r);
    rc = conf_path ? write_confusion(conf_path, &r) : 0;
    if (!rc && json_path) rc = write_eval_json(json_path, &r, paths, n, data, ten);
    zf_eval_result_free(&r);
    free(list), free(paths);
    return rc;
}

static const cli_command predict_cmd = {
    "predict",
    "--weights W [--top K] IMAGE...",
    "Top-K (5) classes with probabilities for JPEG or PNG files: each image is resized to the\n"
    "training data's size (short side), centre-cropped to the model's input and prepared as in\n"
    "training (the checkpoint's data mean and scale).\n",
    1,
    -1,
    "no image files named"};

/* "FILE:  name p  name p ..." for the top classes of prob */
static void print_top(const char *file, const float *prob, int classes, int top,
                      const zf_data_prep *p, int *idx) {
    for (int k = 0; k < classes; k++) idx[k] = k;
    for (int i = 0; i < top; i++) /* partial selection sort: top is small */
        for (int j = i + 1; j < classes; j++)
            if (prob[idx[j]] > prob[idx[i]]) {
                int t = idx[i];
                idx[i] = idx[j], idx[j] = t;
            }
    printf("%s:", file);
    for (int i = 0; i < top; i++) {
        const char *name = zf_data_prep_class_name(p, idx[i]);
        if (name)
            printf("  %s %.4f", name, prob[idx[i]]);
        else
            printf("  class %d %.4f", idx[i], prob[idx[i]]);
    }
    printf("\n");
}

int cmd_predict(int argc, char **argv) {
    const char *weights = NULL;
    int top = 5, threads = 0;
    const cli_opt own[] = {
        {"weights", CLI_STR, &weights, "W", "a checkpoint written by 'zfnet train'", .required = 1},
        {"top", CLI_INT, &top, "K", "classes to show (5)", 1, 1000},
        CLI_THREADS(&threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&predict_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    zf_net *net;
    zf_data_prep p;
    zf_error err;
    zf_net_options no;
    cli_net_defaults(&no, threads);
    if (zf_checkpoint_open(weights, &no, &net, &p, &err)) return cli_fail(&err);
    if (zf_data_prep_need_mean(&p, &err)) {
        zf_net_free(net), zf_data_prep_free(&p);
        return cli_fail(&err);
    }
    zf_shape in = zf_net_input_shape(net);
    int classes = zf_net_classes(net), failed = 0, last = zf_net_num_layers(net) - 1;
    float *x = malloc(sizeof(float) * (size_t)in.c * in.h * in.w);
    float *prob = malloc(sizeof(float) * (size_t)classes);
    int *idx = malloc(sizeof(int) * (size_t)classes);
    if (!x || !prob || !idx || zf_net_reserve(net, 1, &err)) rc = cli_error("out of memory");
    if (top > classes) top = classes;
    for (int a = 1; rc < 0 && a <= npos; a++) {
        if (zf_data_prep_image(&p, argv[a], in, x, &err)) { /* report, go on with the rest */
            cli_error("%s", err.msg);
            failed++;
            continue;
        }
        if (zf_net_set_input(net, x, 1, &err) || zf_net_forward(net, ZF_MODE_INFER, -1, &err) ||
            zf_net_read_output(net, last, prob, &err))
            rc = cli_error("%s", err.msg);
        else
            print_top(argv[a], prob, classes, top, &p, idx);
    }
    if (rc < 0) rc = failed ? 1 : 0;
    free(x), free(prob), free(idx);
    zf_data_prep_free(&p);
    zf_net_free(net);
    return rc;
}
