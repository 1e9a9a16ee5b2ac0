/* Strongest activations over a dataset and their projections (top9, evolution). */
#include "topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void prep_centre(const uint8_t *img, zf_shape ds, const data_prep *p, zf_shape in, float *x) {
    int oy = (ds.h + 2 * p->pad - in.h) / 2 - p->pad, ox = (ds.w + 2 * p->pad - in.w) / 2 - p->pad;
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < in.h; y++)
            for (int xx = 0; xx < in.w; xx++) {
                int sy = y + oy, sx = xx + ox;
                size_t k = ((size_t)c * ds.h + sy) * ds.w + sx;
                x[((size_t)c * in.h + y) * in.w + xx] =
                    sy < 0 || sy >= ds.h || sx < 0 || sx >= ds.w
                        ? 0
                        : ((float)img[k] - (p->mean ? p->mean[k] : 0)) * p->scale;
            }
}

int parse_layers(const zf_net *net, const char *list, int **out, int *n) {
    *n = 0;
    *out = malloc(sizeof(int) * (size_t)zf_net_num_layers(net));
    if (!*out) return cli_error("out of memory");
    if (!list || !strcmp(list, "all-conv")) {
        for (int i = 0; i < zf_net_num_layers(net); i++) {
            zf_layer_info li;
            zf_net_layer_info(net, i, &li);
            if (li.kind == ZF_LAYER_CONV) (*out)[(*n)++] = i;
        }
        return 0;
    }
    char *copy = strdup(list), *save = NULL;
    int rc = copy ? 0 : cli_error("out of memory");
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && !rc;
         t = strtok_r(NULL, ",", &save)) {
        int i = zf_net_find_layer(net, t);
        zf_layer_info li;
        if (i >= 0) zf_net_layer_info(net, i, &li);
        if (i < 0)
            rc = cli_error("no layer '%s' in model '%s'", t, zf_model_name(zf_net_model(net)));
        else if (li.out.h * li.out.w < 1 || li.kind == ZF_LAYER_FC || li.kind == ZF_LAYER_SOFTMAX)
            rc = cli_error("layer '%s' has no feature maps (pick a conv, relu, pool or lrn layer)",
                           t);
        else if (*n < zf_net_num_layers(net))
            (*out)[(*n)++] = i;
    }
    free(copy);
    return rc;
}

void topk_layer_free(topk_layer *l) {
    free(l->maps), free(l->top), free(l->proj), free(l->pix);
    memset(l, 0, sizeof *l);
}

static void insert(topk_entry *top, int k, topk_entry e) {
    if (!(e.value > top[k - 1].value)) return;
    int j = k - 1;
    while (j > 0 && top[j - 1].value < e.value) top[j] = top[j - 1], j--;
    top[j] = e;
}

int topk_scan(zf_net *net, const zf_dataset *d, const data_prep *p, topk_layer *ls, int nl, int k,
              int batch, int loaders, const char *label) {
    zf_shape in = zf_net_input_shape(net);
    int deepest = 0;
    size_t most = 0;
    for (int t = 0; t < nl; t++) {
        zf_layer_info li;
        zf_net_layer_info(net, ls[t].layer, &li);
        size_t per = (size_t)li.out.c * li.out.h * li.out.w;
        if (per > most) most = per;
        if (ls[t].layer > deepest) deepest = ls[t].layer;
        for (int m = 0; m < ls[t].nmaps * k; m++)
            ls[t].top[m] = (topk_entry){.value = -INFINITY, .image = -1};
    }
    zf_loader_options lo = {.batch = batch,
                            .height = in.h,
                            .width = in.w,
                            .pad = p->pad,
                            .scale = p->scale,
                            .mean = p->mean,
                            .threads = loaders};
    zf_loader *l;
    zf_error err;
    float *act = malloc(sizeof(float) * most * (size_t)batch);
    if (!act) return cli_error("out of memory");
    if (zf_net_reserve(net, batch, &err) || zf_loader_create(&l, d, &lo, &err)) {
        free(act);
        return cli_error("%s", err.msg);
    }
    progress pg;
    progress_start(&pg);
    zf_loader_start(l, 0, 0);
    int done = 0, rc = 0;
    for (;;) {
        const float *x;
        const int64_t *labels;
        int n;
        if (zf_loader_next(l, &x, &labels, &n, &err) ||
            (n && (zf_net_set_input(net, x, n, &err) ||
                   zf_net_forward(net, ZF_MODE_INFER, deepest, &err)))) {
            rc = cli_error("%s", err.msg);
            break;
        }
        if (!n) break;
        for (int t = 0; t < nl && !rc; t++) {
            zf_layer_info li;
            zf_net_layer_info(net, ls[t].layer, &li);
            if (zf_net_read_output(net, ls[t].layer, act, &err)) {
                rc = cli_error("%s", err.msg);
                break;
            }
            size_t plane = (size_t)li.out.h * li.out.w, per = plane * li.out.c;
            for (int m = 0; m < ls[t].nmaps; m++)
                for (int i = 0; i < n; i++) {
                    const float *a = act + per * i + plane * ls[t].maps[m];
                    size_t best = 0;
                    for (size_t q = 1; q < plane; q++)
                        if (a[q] > a[best]) best = q;
                    insert(ls[t].top + (size_t)m * k, k,
                           (topk_entry){a[best], done + i, (int)(best / li.out.w),
                                        (int)(best % li.out.w)});
                }
        }
        if (rc) break;
        done += n;
        progress_show(&pg, label, done, zf_dataset_count(d), NULL);
    }
    progress_end(&pg);
    for (int q = 0; q < zf_loader_num_bad(l); q++) report_bad(zf_loader_bad(l, q));
    zf_loader_free(l);
    free(act);
    return rc;
}

int topk_project(zf_net *net, const zf_dataset *d, const data_prep *p, topk_layer *L, int k,
                 int batch) {
    zf_shape in = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    zf_layer_info li;
    zf_net_layer_info(net, L->layer, &li);
    int side = in.h < in.w ? in.h : in.w, P = li.rf_size < side ? li.rf_size : side;
    L->patch = P;
    size_t per = (size_t)in.c * in.h * in.w, lper = (size_t)li.out.c * li.out.h * li.out.w;
    size_t pp = (size_t)in.c * P * P, total = (size_t)L->nmaps * k;
    float *x = malloc(sizeof(float) * per * batch), *sig = malloc(sizeof(float) * lper * batch);
    float *proj = malloc(sizeof(float) * per * batch), *win = malloc(sizeof(float) * pp);
    uint8_t *img = malloc((size_t)ds.c * ds.h * ds.w), *pix = malloc(per);
    L->proj = calloc(total, pp), L->pix = calloc(total, pp);
    zf_error err;
    int rc =
        x && sig && proj && win && img && pix && L->proj && L->pix ? 0 : cli_error("out of memory");
    if (!rc) zf_net_set_input_grad(net, 1);
    if (!rc && zf_net_reserve(net, batch, &err)) rc = cli_error("%s", err.msg);
    for (size_t e0 = 0; !rc && e0 < total; e0 += (size_t)batch) {
        int n = 0;
        size_t ids[4096];
        memset(sig, 0, sizeof(float) * lper * batch);
        for (size_t e = e0; e < total && n < batch; e++) {
            const topk_entry *t = &L->top[e];
            if (t->image < 0) continue; /* fewer images than k */
            if (zf_dataset_read(d, t->image, img, &err)) {
                rc = cli_error("%s", err.msg);
                break;
            }
            prep_centre(img, ds, p, in, x + per * n);
            int map = L->maps[e / (size_t)k];
            sig[lper * n + ((size_t)map * li.out.h + t->y) * li.out.w + t->x] = t->value;
            ids[n++] = e;
        }
        if (rc || !n) continue;
        if (zf_net_set_input(net, x, n, &err) ||
            zf_net_forward(net, ZF_MODE_INFER, L->layer, &err) ||
            zf_net_signal_down(net, L->layer, ZF_RULE_DECONVNET, sig, &err) ||
            zf_net_read_input_grad(net, proj, &err)) {
            rc = cli_error("%s", err.msg);
            break;
        }
        for (int i = 0; i < n; i++) {
            const topk_entry *t = &L->top[ids[i]];
            int y0 = li.rf_offset + t->y * li.rf_stride, x0 = li.rf_offset + t->x * li.rf_stride;
            if (P == li.rf_size) { /* keep the window inside the input when it fits */
                y0 = y0 < 0 ? 0 : y0 > in.h - P ? in.h - P : y0;
                x0 = x0 < 0 ? 0 : x0 > in.w - P ? in.w - P : x0;
            } else
                y0 = (in.h - P) / 2, x0 = (in.w - P) / 2;
            const float *pr = proj + per * i;
            for (int c = 0; c < in.c; c++)
                for (int y = 0; y < P; y++)
                    for (int xx = 0; xx < P; xx++)
                        win[((size_t)c * P + y) * P + xx] =
                            pr[((size_t)c * in.h + y0 + y) * in.w + x0 + xx];
            vis_signed(win, in.c, P, P, L->proj + pp * ids[i]);
            vis_input_pixels(x + per * i, in, p, pix);
            for (int c = 0; c < in.c; c++)
                for (int y = 0; y < P; y++)
                    memcpy(L->pix + pp * ids[i] + ((size_t)c * P + y) * P,
                           pix + ((size_t)c * in.h + y0 + y) * in.w + x0, (size_t)P);
        }
    }
    free(x), free(sig), free(proj), free(win), free(img), free(pix);
    return rc;
}

int map_choice_option(map_choice *mc, int ch, const char *arg) {
    switch (ch) {
    case 'l':
        mc->layers = arg;
        return 0;
    case 'm':
        mc->maps = arg;
        return 0;
    case 'r':
        mc->maps = NULL;
        return cli_parse_int("--random", arg, 1, 1 << 16, &mc->nrandom) ? 2 : 0;
    case 's':
        return cli_parse_u64("--seed", arg, &mc->seed) ? 2 : 0;
    default:
        return -1;
    }
}

int write_json(const char *path, json_t *j) {
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    zf_error err;
    int rc = !text                                                ? cli_error("out of memory")
             : zf_write_file(path, text, strlen(text), &err) != 0 ? cli_error("%s", err.msg)
                                                                  : 0;
    free(text);
    return rc;
}
