/* Evaluation: softmax over a dataset (centre or ten crops), top-k error, confusion. */
#include "run.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void data_prep_free(data_prep *p) {
    for (int k = 0; p->names && k < p->classes; k++) free(p->names[k]);
    free(p->names), free(p->mean);
    memset(p, 0, sizeof *p);
}

char *data_prep_names_json(const data_prep *p) {
    json_t *a = json_array();
    for (int k = 0; p->names && k < p->classes; k++)
        json_array_append_new(a, json_string(p->names[k]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int data_prep_from_checkpoint(const char *path, data_prep *p) {
    memset(p, 0, sizeof *p);
    zf_error err;
    zf_st_file *f;
    if (zf_st_open(&f, path, &err)) return cli_error("%s", err.msg);
    const zf_st_tensor *m = zf_st_find(f, "data.mean");
    const char *scale = zf_st_meta(f, "input_scale"), *pad = zf_st_meta(f, "crop_pad");
    const char *names = zf_st_meta(f, "class_names");
    int rc = 0;
    p->scale = scale ? strtof(scale, NULL) : 1.0f / 255;
    p->pad = pad ? atoi(pad) : 0;
    if (m && (m->dtype != ZF_DTYPE_F32 || m->ndim != 3))
        rc = cli_error("%s: data.mean is not an F32 (c, h, w) tensor", path);
    else if (m) {
        p->shape = (zf_shape){(int)m->shape[0], (int)m->shape[1], (int)m->shape[2]};
        if (!(p->mean = malloc(m->nbytes)))
            rc = cli_error("out of memory");
        else
            memcpy(p->mean, m->data, m->nbytes);
    }
    json_t *a = names ? json_loads(names, 0, NULL) : NULL;
    if (json_is_array(a) && json_array_size(a) &&
        (p->names = calloc(json_array_size(a), sizeof(char *)))) {
        p->classes = (int)json_array_size(a);
        for (int k = 0; k < p->classes; k++) {
            const char *s = json_string_value(json_array_get(a, (size_t)k));
            p->names[k] = strdup(s ? s : "?");
        }
    }
    json_decref(a);
    zf_st_close(f);
    if (rc) data_prep_free(p);
    return rc;
}

int eval_accumulate(zf_net *net, const zf_dataset *d, const data_prep *p, zf_crop crop, int batch,
                    int loaders, float *acc, int show) {
    zf_shape in = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    int classes = zf_net_classes(net), views = crop == ZF_CROP_TEN ? 10 : 1;
    int last = zf_net_num_layers(net) - 1;
    if (ds.c != in.c)
        return cli_error("%s has %d channel(s); the model takes %d", zf_dataset_description(d),
                         ds.c, in.c);
    if (p->mean && (p->shape.c != ds.c || p->shape.h != ds.h || p->shape.w != ds.w))
        return cli_error("the checkpoint's data mean is %dx%dx%d but %s holds %dx%dx%d images",
                         p->shape.c, p->shape.h, p->shape.w, zf_dataset_description(d), ds.c, ds.h,
                         ds.w);
    zf_loader_options lo = {.batch = batch,
                            .height = in.h,
                            .width = in.w,
                            .pad = p->pad,
                            .crop = crop,
                            .scale = p->scale,
                            .mean = p->mean,
                            .threads = loaders};
    zf_loader *l;
    zf_error err;
    if (zf_net_reserve(net, batch * views, &err) || zf_loader_create(&l, d, &lo, &err))
        return cli_error("%s", err.msg);
    float *probs = malloc(sizeof(float) * (size_t)batch * views * classes);
    if (!probs) {
        zf_loader_free(l);
        return cli_error("out of memory");
    }
    progress pg = {0};
    if (show) progress_start(&pg);
    zf_loader_start(l, 0, 0);
    int rc = 0, done = 0;
    for (;;) {
        const float *x;
        const int64_t *labels;
        int n;
        if (zf_loader_next(l, &x, &labels, &n, &err) ||
            (n && zf_net_set_input(net, x, n * views, &err)) ||
            (n && zf_net_forward(net, ZF_MODE_INFER, -1, &err)) ||
            (n && zf_net_read_output(net, last, probs, &err))) {
            rc = cli_error("%s", err.msg);
            break;
        }
        if (!n) break;
        for (int i = 0; i < n; i++)
            for (int v = 0; v < views; v++)
                for (int k = 0; k < classes; k++)
                    acc[(size_t)(done + i) * classes + k] +=
                        probs[((size_t)i * views + v) * classes + k] / views;
        done += n;
        if (show) progress_show(&pg, "evaluating", done, zf_dataset_count(d), NULL);
    }
    if (show) progress_end(&pg);
    for (int k = 0; k < zf_loader_num_bad(l); k++) report_bad(zf_loader_bad(l, k));
    free(probs);
    zf_loader_free(l);
    return rc;
}

void eval_score(const float *acc, const zf_dataset *d, int classes, double *top1, double *top5,
                long *confusion) {
    long c1 = 0, c5 = 0;
    int n = zf_dataset_count(d);
    for (int i = 0; i < n; i++) {
        const float *a = acc + (size_t)i * classes;
        int label = zf_dataset_label(d, i), best = 0, above = 0;
        for (int k = 0; k < classes; k++) {
            if (a[k] > a[best]) best = k;
            if (label < classes && (a[k] > a[label] || (a[k] == a[label] && k < label))) above++;
        }
        c1 += best == label;
        c5 += label < classes && above < 5;
        if (confusion && label < classes) confusion[(size_t)label * classes + best]++;
    }
    *top1 = n ? (double)c1 / n : 0;
    *top5 = n ? (double)c5 / n : 0;
}

int open_trained(const char *weights, int threads, zf_net **net, data_prep *prep) {
    return open_checkpoint(weights, threads, net, prep, 1);
}

int open_checkpoint(const char *weights, int threads, zf_net **net, data_prep *prep,
                    int need_prep) {
    zf_error err;
    zf_st_file *f;
    *net = NULL;
    if (zf_st_open(&f, weights, &err)) return cli_error("%s", err.msg);
    const char *text = zf_st_meta(f, "model");
    zf_model *m = NULL;
    int rc = 0;
    if (!text)
        rc = cli_error("%s: no model text in its metadata (not written by zfnet?)", weights);
    else if (zf_model_parse(&m, text, weights, NULL, &err))
        rc = cli_error("%s", err.msg);
    zf_st_close(f);
    zf_net_options no = {.threads = threads};
    if (!rc && zf_net_create(net, m, &no, &err)) rc = cli_error("%s", err.msg);
    zf_model_free(m);
    if (!rc && zf_checkpoint_load(*net, weights, &err)) rc = cli_error("%s", err.msg);
    if (!rc) rc = data_prep_from_checkpoint(weights, prep);
    if (!rc && !prep->mean && need_prep)
        rc = cli_error("%s: no data.mean (weights from 'zfnet init'? evaluate checkpoints "
                       "written by 'zfnet train')",
                       weights);
    if (rc) {
        zf_net_free(*net);
        *net = NULL;
    }
    return rc;
}
