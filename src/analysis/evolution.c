/* Feature evolution (ZF Fig. 4): for chosen feature maps, the strongest activations over a
 * dataset at each of several checkpoints of one run, projected; how much of each map's top-9
 * is already in the last checkpoint's, and the epoch from which its top image stays. */
#include "analysis.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

#define K ZF_EVOLUTION_K

typedef struct ckpt {
    char *path;
    int epoch;
} ckpt;

static int by_epoch(const void *a, const void *b) {
    return ((const ckpt *)a)->epoch - ((const ckpt *)b)->epoch;
}

static zf_status push(ckpt **list, int *n, const char *path, int epoch, zf_error *err) {
    ckpt *g = realloc(*list, sizeof(ckpt) * (size_t)(*n + 1));
    char *copy = strdup(path);
    if (g) *list = g;
    if (!g || !copy) {
        free(copy);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    g[*n].path = copy, g[(*n)++].epoch = epoch;
    return ZF_OK;
}

/* epoch-N.safetensors in dir, and last.safetensors when its epoch has no snapshot */
static zf_status list_run(const char *dir, ckpt **out, int *n, zf_error *err) {
    DIR *d = opendir(dir);
    if (!d) return zf_fail(err, ZF_ERR_IO, "%s: cannot read: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4200];
    zf_status st = ZF_OK;
    while (!st && (e = readdir(d))) {
        int ep;
        char tail[8];
        if (sscanf(e->d_name, "epoch-%d.safetens%7s", &ep, tail) != 2 || strcmp(tail, "ors"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        st = push(out, n, path, ep, err);
    }
    closedir(d);
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    int last_epoch = zf_checkpoint_epoch(path), have = 0;
    for (int i = 0; i < *n; i++) have |= (*out)[i].epoch == last_epoch;
    if (!st && last_epoch > 0 && !have) st = push(out, n, path, last_epoch, err);
    return st;
}

zf_status zf_run_snapshots(const char *dir, char ***paths, int **epochs, int *n, zf_error *err) {
    ckpt *list = NULL;
    int count = 0;
    *paths = NULL, *epochs = NULL, *n = 0;
    zf_status st = list_run(dir, &list, &count, err);
    if (!st && !count)
        st = zf_fail(err, ZF_ERR_STATE,
                     "%s: no epoch-N.safetensors snapshots (train with --snapshot-epochs)", dir);
    if (!st) {
        qsort(list, (size_t)count, sizeof(ckpt), by_epoch);
        *paths = malloc(sizeof(char *) * count), *epochs = malloc(sizeof(int) * count);
        if (!*paths || !*epochs) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; !st && i < count; i++) (*paths)[i] = list[i].path, (*epochs)[i] = list[i].epoch;
    if (st) {
        for (int i = 0; i < count; i++) free(list[i].path);
        free(*paths), free(*epochs);
        *paths = NULL, *epochs = NULL;
    } else
        *n = count;
    free(list);
    return st;
}

void zf_evolution_free(zf_evolution *ev) {
    for (int t = 0; ev->layers && t < ev->nl; t++) {
        zf_evolution_layer *l = &ev->layers[t];
        free(l->maps), free(l->cells), free(l->tops), free(l->overlap), free(l->mean_overlap);
        free(l->stable_from);
    }
    free(ev->layers), free(ev->epochs);
    memset(ev, 0, sizeof *ev);
}

/* The result's layers, maps and buffers, from the selection made on the first net. */
static zf_status alloc_layers(zf_evolution *ev, const zf_net *net, const zf_topk_layer *ls, int nl,
                              zf_error *err) {
    if (!(ev->layers = calloc((size_t)(nl ? nl : 1), sizeof *ev->layers)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    ev->nl = nl;
    for (int t = 0; t < nl; t++) {
        zf_evolution_layer *l = &ev->layers[t];
        size_t cells = (size_t)ls[t].nmaps * ev->nck;
        zf_layer_info li;
        zf_net_layer_info(net, ls[t].layer, &li);
        snprintf(l->name, sizeof l->name, "%s", li.name);
        l->layer = ls[t].layer, l->nmaps = ls[t].nmaps;
        l->maps = malloc(sizeof(int) * (size_t)(l->nmaps ? l->nmaps : 1));
        l->tops = malloc(sizeof(int) * (cells ? cells : 1) * K);
        l->overlap = calloc(cells ? cells : 1, sizeof(double));
        l->mean_overlap = calloc((size_t)ev->nck, sizeof(double));
        l->stable_from = calloc((size_t)(l->nmaps ? l->nmaps : 1), sizeof(int));
        if (!l->maps || !l->tops || !l->overlap || !l->mean_overlap || !l->stable_from)
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        memcpy(l->maps, ls[t].maps, sizeof(int) * (size_t)l->nmaps);
    }
    return ZF_OK;
}

/* Checkpoint c's top-9 per map and its strongest activation's projection window. */
static zf_status keep_checkpoint(zf_evolution *ev, const zf_topk_layer *ls, int c, zf_error *err) {
    for (int t = 0; t < ev->nl; t++) {
        zf_evolution_layer *l = &ev->layers[t];
        size_t pp = (size_t)ev->input.c * ls[t].patch * ls[t].patch;
        if (!l->cells) {
            l->patch = ls[t].patch;
            if (!(l->cells = calloc((size_t)l->nmaps * ev->nck, sizeof(float) * pp)))
                return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        }
        for (int m = 0; m < l->nmaps; m++) {
            memcpy(l->cells + pp * ((size_t)m * ev->nck + c), ls[t].proj + pp * m * K,
                   sizeof(float) * pp);
            for (int j = 0; j < K; j++)
                l->tops[((size_t)m * ev->nck + c) * K + j] = ls[t].top[m * K + j].image;
        }
    }
    return ZF_OK;
}

static int cmp_int(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

/* Overlap with the last snapshot's top-9, and the epoch each map's top image settles. */
static zf_status summarise(zf_evolution *ev, zf_evolution_layer *l, zf_error *err) {
    int nck = ev->nck, *sorted = malloc(sizeof(int) * (size_t)(l->nmaps ? l->nmaps : 1));
    if (!sorted) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int m = 0; m < l->nmaps; m++) {
        const int *tm = l->tops + (size_t)m * nck * K;
        int from = 0; /* the first checkpoint from which the top image stays */
        for (int e = nck - 1; e > 0; e--)
            if (tm[e * K] != tm[(e - 1) * K]) {
                from = e;
                break;
            }
        sorted[m] = l->stable_from[m] = ev->epochs[from];
        for (int e = 0; e < nck; e++) {
            int same = 0, have = 0;
            for (int a = 0; a < K; a++) {
                if (tm[e * K + a] < 0) continue;
                have++;
                for (int b = 0; b < K; b++) same += tm[e * K + a] == tm[(nck - 1) * K + b];
            }
            double o = have ? (double)same / have : 0;
            l->overlap[(size_t)m * nck + e] = o;
            l->mean_overlap[e] += o / l->nmaps;
        }
    }
    qsort(sorted, (size_t)l->nmaps, sizeof(int), cmp_int);
    l->median_stable = l->nmaps ? sorted[l->nmaps / 2] : 0;
    l->latest_stable = l->nmaps ? sorted[l->nmaps - 1] : 0;
    free(sorted);
    return ZF_OK;
}

typedef struct evo_run {
    zf_evolution *ev;
    const zf_evolution_options *o;
    const char *data;
    zf_dataset *d;
    zf_topk_layer *ls;
    int nl;
} evo_run;

/* One checkpoint: scan, project, keep. The first fixes the dataset and the maps. */
static zf_status one_checkpoint(evo_run *r, const char *path, int c, zf_error *err) {
    zf_net *net;
    zf_data_prep p;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = r->o->threads, no.precision = r->o->precision;
    zf_status st = zf_checkpoint_open(path, &no, &net, &p, err);
    if (st) return st;
    st = zf_data_prep_need_mean(&p, err);
    if (!st && !r->d) {
        r->ev->input = zf_net_input_shape(net);
        if (!(st = zf_open_prepared(&p, r->data, &r->o->cb, &r->d, err)) &&
            !(st = zf_topk_select(net, r->o->layers, r->o->maps, r->o->nrandom, r->o->seed, K,
                                  &r->ls, &r->nl, err)))
            st = alloc_layers(r->ev, net, r->ls, r->nl, err);
    }
    char label[64];
    snprintf(label, sizeof label, "epoch %d: scanning", r->ev->epochs[c]);
    zf_topk_options to;
    zf_topk_defaults(&to);
    to.batch = r->o->batch;
    to.loader_threads = r->o->loader_threads;
    to.label = label;
    to.cb = r->o->cb;
    if (!st) st = zf_topk_scan(net, &p, r->d, r->ls, r->nl, &to, err);
    for (int t = 0; !st && t < r->nl; t++) st = zf_topk_project(net, &p, r->d, &r->ls[t], &to, err);
    if (!st) st = keep_checkpoint(r->ev, r->ls, c, err);
    zf_net_free(net);
    zf_data_prep_free(&p);
    return st;
}

void zf_evolution_defaults(zf_evolution_options *o) {
    *o = (zf_evolution_options){.nrandom = 8, .seed = 1, .batch = 64, .loader_threads = 2};
}

zf_status zf_evolution_run(const char *const *checkpoints, const int *epochs, int n,
                           const char *data, const zf_evolution_options *o, zf_evolution *ev,
                           zf_error *err) {
    zf_evolution_options def;
    zf_evolution_defaults(&def);
    if (!o) o = &def;
    memset(ev, 0, sizeof *ev);
    if (n < 1) return zf_fail(err, ZF_ERR_ARG, "no checkpoints");
    if (!(ev->epochs = malloc(sizeof(int) * (size_t)n)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    memcpy(ev->epochs, epochs, sizeof(int) * (size_t)n);
    ev->nck = n;
    evo_run r = {.ev = ev, .o = o, .data = data};
    zf_status st = ZF_OK;
    for (int c = 0; !st && c < n; c++) {
        st = one_checkpoint(&r, checkpoints[c], c, err);
        if (!st) zf_notice(&o->cb, ZF_NOTICE_INFO, "evolution: epoch %d done", epochs[c]);
    }
    for (int t = 0; !st && t < ev->nl; t++) st = summarise(ev, &ev->layers[t], err);
    zf_topk_free(r.ls, r.nl);
    zf_dataset_free(r.d);
    if (st) zf_evolution_free(ev);
    return st;
}
