/* zfnet eval: top-1 / top-5 error of one model or an ensemble on a dataset, centre crop or the
 * paper's ten crops, per-class accuracy and the confusion matrix. zfnet predict: top-5
 * classes of image files. */
#include "topk.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char eval_help[] =
    "usage: zfnet eval --weights W [--ensemble W2,W3,...] [--data SPEC] [--ten-crop]\n"
    "                  [--per-class] [--confusion FILE.csv] [--batch N] [--threads T]\n\n"
    "Top-1 and top-5 error of checkpoints written by 'zfnet train' (their model, data mean and\n"
    "crop settings come from the file). --ten-crop averages the softmax over the 4 corner and\n"
    "centre crops and their mirrors (ZF 5.1); --ensemble averages it over several models too\n"
    "(the paper's Table 2 protocol). SPEC as in 'zfnet train --help' (fashion-mnist:test).\n";

static int write_confusion(const char *path, const long *conf, int classes, const data_prep *p) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_error("out of memory");
    fprintf(f, "true\\predicted");
    for (int k = 0; k < classes; k++)
        fprintf(f, ",%s", p->names && k < p->classes ? p->names[k] : "");
    fputc('\n', f);
    for (int t = 0; t < classes; t++) {
        if (p->names && t < p->classes)
            fprintf(f, "%s", p->names[t]);
        else
            fprintf(f, "%d", t);
        for (int k = 0; k < classes; k++) fprintf(f, ",%ld", conf[(size_t)t * classes + k]);
        fputc('\n', f);
    }
    fclose(f);
    zf_error err;
    int rc = zf_write_file(path, buf, len, &err) ? cli_error("%s", err.msg) : 0;
    free(buf);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"weights", required_argument, 0, 'w'}, {"ensemble", required_argument, 0, 'E'},
        {"data", required_argument, 0, 'd'},    {"ten-crop", no_argument, 0, 'T'},
        {"per-class", no_argument, 0, 'P'},     {"confusion", required_argument, 0, 'C'},
        {"batch", required_argument, 0, 'b'},   {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *weights = NULL, *ensemble = NULL, *data = "fashion-mnist:test", *conf_path = NULL;
    int ten = 0, per_class = 0, batch = 64, threads = 0;
    long v;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) switch (ch) {
        case 'w':
            weights = optarg;
            break;
        case 'E':
            ensemble = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'T':
            ten = 1;
            break;
        case 'P':
            per_class = 1;
            break;
        case 'C':
            conf_path = optarg;
            break;
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 4096, &v)) return 2;
            batch = (int)v;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &v)) return 2;
            threads = (int)v;
            break;
        case 'h':
            fputs(eval_help, stdout);
            return 0;
        default:
            return cli_usage_error("eval", "bad option");
        }
    if (optind != argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (!weights) return cli_usage_error("eval", "--weights is required");
    char *list = malloc(strlen(weights) + (ensemble ? strlen(ensemble) : 0) + 2), *save = NULL;
    if (!list) return cli_error("out of memory");
    sprintf(list, "%s%s%s", weights, ensemble ? "," : "", ensemble ? ensemble : "");
    zf_dataset *d = NULL;
    float *acc = NULL;
    long *conf = NULL;
    data_prep first = {0};
    int rc = 1, models = 0, classes = 0;
    for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        zf_net *net;
        data_prep p;
        if (open_trained(w, threads, &net, &p)) goto done;
        if (!d) {
            zf_dataset_options o = {.size = p.shape.h, .channels = p.shape.c};
            zf_error err;
            if (zf_dataset_open(&d, data, &o, &err)) {
                cli_error("%s", err.msg);
                zf_net_free(net), data_prep_free(&p);
                goto done;
            }
            for (int k = 0; k < zf_dataset_num_skipped(d); k++)
                fprintf(stderr, "zfnet: skipped: %s\n", zf_dataset_skipped(d, k));
            classes = zf_net_classes(net);
            acc = calloc((size_t)zf_dataset_count(d) * classes, sizeof(float));
            conf = calloc((size_t)classes * classes, sizeof(long));
            if (!acc || !conf) {
                cli_error("out of memory");
                zf_net_free(net), data_prep_free(&p);
                goto done;
            }
        }
        if (zf_net_classes(net) != classes) {
            cli_error("%s has %d classes, %s has %d: not one ensemble", w, zf_net_classes(net),
                      weights, classes);
            zf_net_free(net), data_prep_free(&p);
            goto done;
        }
        if (zf_dataset_classes(d) > classes) {
            cli_error("%s has labels up to %d; the model knows %d classes",
                      zf_dataset_description(d), zf_dataset_classes(d) - 1, classes);
            zf_net_free(net), data_prep_free(&p);
            goto done;
        }
        double t0 = now_s();
        int bad = eval_accumulate(net, d, &p, ten ? ZF_CROP_TEN : ZF_CROP_CENTER, batch, 2, acc, 1);
        if (!bad) {
            double t1, t5;
            eval_score(acc, d, classes, &t1, &t5, NULL); /* running figure for the log */
            fprintf(stderr, "%s: %.1f s\n", w, now_s() - t0);
        }
        zf_net_free(net);
        if (!models)
            first = p;
        else
            data_prep_free(&p);
        models++;
        if (bad) goto done;
    }
    double top1, top5;
    eval_score(acc, d, classes, &top1, &top5, conf);
    printf("%s: %d images, %d model%s, %s\n", zf_dataset_description(d), zf_dataset_count(d),
           models, models > 1 ? "s" : "", ten ? "10 crops" : "centre crop");
    printf("top-1 error: %.2f%%  top-5 error: %.2f%%\n", 100 * (1 - top1), 100 * (1 - top5));
    printf("test accuracy: %.2f%%\n", 100 * top1);
    if (per_class) {
        printf("%-4s %-16s %8s %8s\n", "k", "class", "images", "accuracy");
        for (int k = 0; k < classes; k++) {
            long total = 0;
            for (int j = 0; j < classes; j++) total += conf[(size_t)k * classes + j];
            if (!total) continue;
            printf("%-4d %-16s %8ld %7.2f%%\n", k,
                   first.names && k < first.classes ? first.names[k] : "", total,
                   100.0 * conf[(size_t)k * classes + k] / total);
        }
    }
    if (conf_path && write_confusion(conf_path, conf, classes, &first)) goto done;
    rc = 0;
done:
    data_prep_free(&first);
    free(list), free(acc), free(conf);
    zf_dataset_free(d);
    return rc;
}

static const char predict_help[] =
    "usage: zfnet predict --weights W [--top K] IMAGE...\n\n"
    "Top-K (5) classes with probabilities for JPEG or PNG files: each image is resized to the\n"
    "training data's size (short side), centre-cropped to the model's input and prepared as in\n"
    "training (the checkpoint's data mean and scale).\n";

int cmd_predict(int argc, char **argv) {
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'},
                                         {"top", required_argument, 0, 'k'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *weights = NULL;
    int top = 5, threads = 0;
    long v;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) switch (ch) {
        case 'w':
            weights = optarg;
            break;
        case 'k':
            if (cli_parse_int("--top", optarg, 1, 1000, &v)) return 2;
            top = (int)v;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &v)) return 2;
            threads = (int)v;
            break;
        case 'h':
            fputs(predict_help, stdout);
            return 0;
        default:
            return cli_usage_error("predict", "bad option");
        }
    if (!weights) return cli_usage_error("predict", "--weights is required");
    if (optind == argc) return cli_usage_error("predict", "no image files named");
    zf_net *net;
    data_prep p;
    if (open_trained(weights, threads, &net, &p)) return 1;
    zf_shape in = zf_net_input_shape(net), s = p.shape;
    int classes = zf_net_classes(net), rc = 0, failed = 0, last = zf_net_num_layers(net) - 1;
    uint8_t *im = malloc((size_t)s.c * s.h * s.w);
    float *x = malloc(sizeof(float) * (size_t)in.c * in.h * in.w);
    float *prob = malloc(sizeof(float) * (size_t)classes);
    int *idx = malloc(sizeof(int) * (size_t)classes);
    zf_error err;
    if (!im || !x || !prob || !idx || zf_net_reserve(net, 1, &err)) rc = cli_error("out of memory");
    if (top > classes) top = classes;
    for (int a = optind; !rc && a < argc; a++) {
        if (zf_image_load(argv[a], s.h, s.c, im, &err)) { /* report, go on with the rest */
            cli_error("%s", err.msg);
            failed++;
            continue;
        }
        prep_centre(im, s, &p, in, x);
        if (zf_net_set_input(net, x, 1, &err) || zf_net_forward(net, ZF_MODE_INFER, -1, &err) ||
            zf_net_read_output(net, last, prob, &err)) {
            rc = cli_error("%s", err.msg);
            break;
        }
        for (int k = 0; k < classes; k++) idx[k] = k;
        for (int i = 0; i < top; i++) /* partial selection sort: top is small */
            for (int j = i + 1; j < classes; j++)
                if (prob[idx[j]] > prob[idx[i]]) {
                    int t = idx[i];
                    idx[i] = idx[j], idx[j] = t;
                }
        printf("%s:", argv[a]);
        for (int i = 0; i < top; i++) {
            if (p.names && idx[i] < p.classes)
                printf("  %s %.4f", p.names[idx[i]], prob[idx[i]]);
            else
                printf("  class %d %.4f", idx[i], prob[idx[i]]);
        }
        printf("\n");
    }
    if (!rc && failed) rc = 1;
    free(im), free(x), free(prob), free(idx);
    data_prep_free(&p);
    zf_net_free(net);
    return rc;
}
