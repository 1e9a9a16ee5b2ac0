/* The strongest activations of chosen feature maps over a dataset, and their projections: the
 * engine behind top-9 (ZF Fig. 2) and feature evolution (Fig. 4). */
#include "analysis.h"

#include <math.h>
#include <string.h>

void zf_topk_free(zf_topk_layer *ls, int n) {
    for (int t = 0; ls && t < n; t++)
        free(ls[t].maps), free(ls[t].top), free(ls[t].proj), free(ls[t].input);
    free(ls);
}

/* "3,17,40" -> maps, each in [0, channels) */
static zf_status parse_maps(const char *list, int channels, const char *layer, int *out, int *n,
                            zf_error *err) {
    *n = 0;
    for (const char *t = list; *t;) {
        char *end;
        long v = strtol(t, &end, 10);
        if (end == t || (*end && *end != ','))
            return zf_fail(err, ZF_ERR_ARG, "maps: '%s' is not a list of map numbers", list);
        if (v < 0 || v >= channels)
            return zf_fail(err, ZF_ERR_RANGE, "maps: %ld is out of range [0, %d] for layer '%s'", v,
                           channels - 1, layer);
        if (*n == channels)
            return zf_fail(err, ZF_ERR_ARG, "maps: more than the layer's %d", channels);
        out[(*n)++] = (int)v;
        t = *end ? end + 1 : end;
    }
    return ZF_OK;
}

/* nrandom maps of `channels` by a shuffle seeded with (seed, layer), in increasing order */
static void random_maps(int nrandom, uint64_t seed, int layer, int channels, int *out, int *n) {
    for (int i = 0; i < channels; i++) out[i] = i;
    uint64_t s = seed * 1000003u + (uint64_t)layer;
    for (int i = channels - 1; i > 0; i--) { /* keep the first nrandom */
        int j = (int)(zf_splitmix64(&s) % (uint64_t)(i + 1)), t = out[i];
        out[i] = out[j], out[j] = t;
    }
    *n = nrandom < channels ? nrandom : channels;
    for (int i = 1; i < *n; i++) /* in order, for reading the grids */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1], out[j - 1] = t;
        }
}

zf_status zf_topk_select(const zf_net *net, const char *layers, const char *maps, int nrandom,
                         uint64_t seed, int k, zf_topk_layer **out, int *n, zf_error *err) {
    *out = NULL, *n = 0;
    if (k < 1) return zf_fail(err, ZF_ERR_ARG, "k = %d: keep at least one activation", k);
    int *idx = malloc(sizeof(int) * (size_t)zf_net_num_layers(net)), nl = 0;
    if (!idx) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    zf_status st = zf_net_parse_layers(net, layers, 1, idx, &nl, err);
    zf_topk_layer *ls = st ? NULL : calloc((size_t)(nl ? nl : 1), sizeof *ls);
    if (!st && !ls) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int t = 0; !st && t < nl; t++) {
        zf_layer_info li;
        zf_net_layer_info(net, idx[t], &li);
        ls[t].layer = idx[t], ls[t].k = k;
        ls[t].maps = malloc(sizeof(int) * (size_t)li.out.c);
        if (!ls[t].maps) {
            st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
            break;
        }
        if (maps)
            st = parse_maps(maps, li.out.c, li.name, ls[t].maps, &ls[t].nmaps, err);
        else
            random_maps(nrandom, seed, idx[t], li.out.c, ls[t].maps, &ls[t].nmaps);
        if (!st && !(ls[t].top = malloc(sizeof(zf_topk_entry) * (size_t)ls[t].nmaps * k)))
            st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    free(idx);
    if (st) {
        zf_topk_free(ls, nl);
        return st;
    }
    *out = ls, *n = nl;
    return ZF_OK;
}

static void insert(zf_topk_entry *top, int k, zf_topk_entry e) {
    if (!(e.value > top[k - 1].value)) return;
    int j = k - 1;
    while (j > 0 && top[j - 1].value < e.value) top[j] = top[j - 1], j--;
    top[j] = e;
}

/* Each image's maximum in each chosen map of layer l goes into its map's top k. */
static void keep_strongest(zf_topk_layer *l, const zf_layer_info *li, const float *act, int n,
                           int first) {
    size_t plane = (size_t)li->out.h * li->out.w, per = plane * li->out.c;
    for (int m = 0; m < l->nmaps; m++)
        for (int i = 0; i < n; i++) {
            const float *a = act + per * i + plane * l->maps[m];
            size_t best = 0;
            for (size_t q = 1; q < plane; q++)
                if (a[q] > a[best]) best = q;
            insert(l->top + (size_t)m * l->k, l->k,
                   (zf_topk_entry){a[best], first + i, (int)(best / li->out.w),
                                   (int)(best % li->out.w), 0, 0});
        }
}

/* the largest output of the chosen layers (floats per image), and the deepest layer */
static size_t scan_sizes(const zf_net *net, zf_topk_layer *ls, int nl, int *deepest) {
    size_t most = 0;
    *deepest = 0;
    for (int t = 0; t < nl; t++) {
        zf_layer_info li;
        zf_net_layer_info(net, ls[t].layer, &li);
        size_t per = (size_t)li.out.c * li.out.h * li.out.w;
        if (per > most) most = per;
        if (ls[t].layer > *deepest) *deepest = ls[t].layer;
        for (int m = 0; m < ls[t].nmaps * ls[t].k; m++)
            ls[t].top[m] = (zf_topk_entry){.value = -INFINITY, .image = -1};
    }
    return most;
}

static zf_status scan_batches(zf_net *net, const zf_dataset *d, zf_loader *l, zf_topk_layer *ls,
                              int nl, int deepest, float *act, const zf_topk_options *o,
                              zf_error *err) {
    int done = 0;
    zf_status st = ZF_OK;
    for (;;) {
        const float *x;
        const int64_t *labels;
        int n;
        if ((st = zf_check_cancel(&o->cb, o->label ? o->label : "scanning", err))) break;
        if ((st = zf_loader_next(l, &x, &labels, &n, err)) || !n) break;
        if ((st = zf_net_set_input(net, x, n, err)) ||
            (st = zf_net_forward(net, ZF_MODE_INFER, deepest, err)))
            break;
        for (int t = 0; !st && t < nl; t++) {
            zf_layer_info li;
            zf_net_layer_info(net, ls[t].layer, &li);
            if (!(st = zf_net_read_output(net, ls[t].layer, act, err)))
                keep_strongest(&ls[t], &li, act, n, done);
        }
        if (st) break;
        done += n;
        zf_progress(&o->cb, o->label ? o->label : "scanning", done, zf_dataset_count(d), NULL);
    }
    zf_progress(&o->cb, NULL, 0, 0, NULL);
    return st;
}

void zf_topk_defaults(zf_topk_options *o) {
    *o = (zf_topk_options){.batch = 64, .loader_threads = 2, .label = "scanning"};
}

zf_status zf_topk_scan(zf_net *net, const zf_data_prep *p, const zf_dataset *d, zf_topk_layer *ls,
                       int nl, const zf_topk_options *o, zf_error *err) {
    zf_topk_options def;
    zf_topk_defaults(&def);
    if (!o) o = &def;
    if (o->batch < 1 || o->batch > 4096)
        return zf_fail(err, ZF_ERR_RANGE, "top-k batch %d: must be 1..4096", o->batch);
    int deepest, batch = o->batch, reported = 0;
    size_t most = scan_sizes(net, ls, nl, &deepest);
    zf_loader_options lo = zf_views(net, p, ZF_CROP_CENTER, batch, o->loader_threads);
    zf_loader *l = NULL;
    zf_status st = zf_check_prepared(net, p, d, err);
    if (st) return st;
    float *act = malloc(sizeof(float) * most * (size_t)batch);
    if (!act) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    st = zf_net_reserve(net, batch, err);
    if (!st) st = zf_loader_create(d, &lo, &l, err);
    if (!st) {
        zf_loader_start(l, 0, 0);
        st = scan_batches(net, d, l, ls, nl, deepest, act, o, err);
        zf_notice_replaced(&o->cb, l, &reported);
    }
    zf_loader_free(l);
    free(act);
    return st;
}

/* The window of the receptive field of entry e (side P) in the input: inside it when it fits,
 * else centred. */
static void window_of(zf_topk_entry *e, const zf_layer_info *li, zf_shape in, int P) {
    int y0 = li->rf_offset + e->y * li->rf_stride, x0 = li->rf_offset + e->x * li->rf_stride;
    if (P == li->rf_size) {
        y0 = y0 < 0 ? 0 : y0 > in.h - P ? in.h - P : y0;
        x0 = x0 < 0 ? 0 : x0 > in.w - P ? in.w - P : x0;
    } else
        y0 = (in.h - P) / 2, x0 = (in.w - P) / 2;
    e->wy = y0, e->wx = x0;
}

static void cut(float *dst, const float *src, zf_shape in, int y0, int x0, int P) {
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < P; y++)
            memcpy(dst + ((size_t)c * P + y) * P, src + ((size_t)c * in.h + y0 + y) * in.w + x0,
                   sizeof(float) * (size_t)P);
}

typedef struct project_bufs {
    float *x, *sig, *proj;
    uint8_t *img;
    size_t ids[4096];
} project_bufs;

/* Entries e0.. (up to batch): their inputs and single-activation signals. */
static zf_status gather(const zf_data_prep *p, const zf_dataset *d, zf_topk_layer *L,
                        const zf_layer_info *li, zf_shape in, size_t e0, int batch, project_bufs *b,
                        int *n, zf_error *err) {
    size_t per = (size_t)in.c * in.h * in.w, lper = (size_t)li->out.c * li->out.h * li->out.w;
    size_t total = (size_t)L->nmaps * L->k;
    memset(b->sig, 0, sizeof(float) * lper * batch);
    *n = 0;
    for (size_t e = e0; e < total && *n < batch; e++) {
        const zf_topk_entry *t = &L->top[e];
        if (t->image < 0) continue; /* fewer images than k */
        zf_status st = zf_dataset_read(d, t->image, b->img, err);
        if (!st) st = zf_data_prep_input(p, zf_dataset_shape(d), b->img, in, b->x + per * *n, err);
        if (st) return st;
        int map = L->maps[e / (size_t)L->k];
        b->sig[lper * *n + ((size_t)map * li->out.h + t->y) * li->out.w + t->x] = t->value;
        b->ids[(*n)++] = e;
    }
    return ZF_OK;
}

zf_status zf_topk_project(zf_net *net, const zf_data_prep *p, const zf_dataset *d, zf_topk_layer *L,
                          const zf_topk_options *o, zf_error *err) {
    zf_topk_options def;
    zf_topk_defaults(&def);
    if (!o) o = &def;
    zf_net *scan = net;
    zf_status st = zf_net_fp32(net, &net, err); /* the picks are the scan's; projections float */
    if (!st) st = zf_check_prepared(net, p, d, err);
    if (st) return st;
    zf_shape in = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    zf_layer_info li;
    zf_net_layer_info(net, L->layer, &li);
    int side = in.h < in.w ? in.h : in.w, P = li.rf_size < side ? li.rf_size : side;
    int batch = o->batch > 0 && o->batch <= 4096 ? o->batch : 64;
    if (net != scan && batch > 16) /* a float32 twin: its arena beside the scan's, kept small */
        batch = 16;
    size_t per = (size_t)in.c * in.h * in.w, lper = (size_t)li.out.c * li.out.h * li.out.w;
    size_t pp = (size_t)in.c * P * P, total = (size_t)L->nmaps * L->k;
    project_bufs *b = calloc(1, sizeof *b);
    free(L->proj), free(L->input);
    L->patch = P;
    L->proj = calloc(total ? total : 1, sizeof(float) * pp);
    L->input = calloc(total ? total : 1, sizeof(float) * pp);
    if (b) {
        b->x = malloc(sizeof(float) * per * batch), b->sig = malloc(sizeof(float) * lper * batch);
        b->proj = malloc(sizeof(float) * per * batch), b->img = malloc((size_t)ds.c * ds.h * ds.w);
    }
    if (!b || !b->x || !b->sig || !b->proj || !b->img || !L->proj || !L->input)
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) zf_net_set_input_grad(net, 1);
    if (!st) st = zf_net_reserve(net, batch, err);
    for (size_t e0 = 0; !st && e0 < total; e0 += (size_t)batch) {
        int n;
        if ((st = zf_check_cancel(&o->cb, "projecting", err)) ||
            (st = gather(p, d, L, &li, in, e0, batch, b, &n, err)) || !n)
            continue;
        if ((st = zf_net_set_input(net, b->x, n, err)) ||
            (st = zf_net_forward(net, ZF_MODE_INFER, L->layer, err)) ||
            (st = zf_net_signal_down(net, L->layer, ZF_RULE_DECONVNET, ZF_LRN_DEFAULT, b->sig,
                                     err)) ||
            (st = zf_net_read_input_grad(net, b->proj, err)))
            break;
        for (int i = 0; i < n; i++) {
            zf_topk_entry *t = &L->top[b->ids[i]];
            window_of(t, &li, in, P);
            cut(L->proj + pp * b->ids[i], b->proj + per * i, in, t->wy, t->wx, P);
            cut(L->input + pp * b->ids[i], b->x + per * i, in, t->wy, t->wx, P);
        }
    }
    if (b) free(b->x), free(b->sig), free(b->proj), free(b->img);
    free(b);
    return st;
}
