/* Batches for training and evaluation, prepared by loader threads ahead of the consumer:
 * decode (for folders and shards), crop from the mean-padded image, mirror, subtract the
 * per-pixel mean and scale. What each image gets (its place in the epoch's permutation, its
 * crop and mirror) is drawn from a generator seeded by (seed, epoch, position) alone, so a
 * run resumed at batch k sees exactly the batches an uninterrupted run sees, whatever the
 * thread count. */
#include "dataset.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct slot {
    float *x;
    int64_t *labels;
    int n, batch; /* batch index it holds, -1 when empty */
    int i0;       /* the epoch position of its first image */
    int ready;
    zf_status st;
    char msg[1024];
} slot;

struct zf_loader {
    const zf_dataset *d;
    zf_loader_options o;
    int views, nbatches, nslots, nthreads;
    size_t per_in, per_src;
    int epoch, *order;
    slot *slots;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    int next_fill, next_take, held, busy, pausing, quit;
    double wait_s;
    char **bad;
    int nbad;
    uint8_t *is_bad; /* (count) */
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One view of one source image into x (c, H, W). */
static void make_view(const zf_loader *l, const uint8_t *src, int oy, int ox, int flip, float *x) {
    zf_shape s = l->d->shape;
    int H = l->o.height, W = l->o.width, p = l->o.pad;
    const float *mean = l->o.mean;
    float scale = l->o.scale;
    for (int c = 0; c < s.c; c++)
        for (int y = 0; y < H; y++) {
            int sy = oy + y - p;
            float *row = x + ((size_t)c * H + y) * W;
            if (sy < 0 || sy >= s.h) {
                memset(row, 0, sizeof(float) * (size_t)W);
                continue;
            }
            size_t base = ((size_t)c * s.h + sy) * s.w;
            for (int xx = 0; xx < W; xx++) {
                int sx = ox + (flip ? W - 1 - xx : xx) - p;
                if (sx < 0 || sx >= s.w) {
                    row[xx] = 0;
                    continue;
                }
                float m = mean ? mean[base + sx] : 0;
                row[xx] = ((float)src[base + sx] - m) * scale;
            }
        }
}

/* Read the image at epoch position pos into buf; a failing file is recorded and replaced by
 * the next readable one in the epoch's order (or fails the batch with stop_on_bad). */
static zf_status read_at(zf_loader *l, int pos, uint8_t *buf, int *label, zf_error *err) {
    int n = l->d->count;
    for (int t = 0; t < n; t++) {
        int i = l->order[(pos + t) % n];
        pthread_mutex_lock(&l->mu);
        int known_bad = l->is_bad[i];
        pthread_mutex_unlock(&l->mu);
        if (known_bad) continue;
        zf_error e;
        if (!zf_dataset_read(l->d, i, buf, &e)) {
            *label = l->d->labels[i];
            return ZF_OK;
        }
        if (l->o.stop_on_bad) return zf_fail(err, e.status, "%s", e.msg);
        pthread_mutex_lock(&l->mu);
        if (!l->is_bad[i]) {
            char **b = realloc(l->bad, sizeof(char *) * (size_t)(l->nbad + 1));
            if (b) {
                l->bad = b;
                if ((b[l->nbad] = strdup(e.msg))) l->nbad++;
            }
            l->is_bad[i] = 1;
        }
        pthread_mutex_unlock(&l->mu);
    }
    return zf_fail(err, ZF_ERR_FORMAT, "%s: no readable image left", l->d->desc);
}

static void fill(zf_loader *l, slot *sl, int b, uint8_t *buf) {
    const zf_loader_options *o = &l->o;
    int count = l->d->count, i0 = (b * o->parts + o->part) * o->batch;
    int n = count - i0 < o->batch ? count - i0 : o->batch;
    if (n < 0) n = 0; /* this part of a last, short global batch is empty */
    zf_shape s = l->d->shape;
    int rh = s.h + 2 * o->pad - o->height, rw = s.w + 2 * o->pad - o->width;
    zf_error e;
    sl->st = ZF_OK;
    for (int j = 0; j < n && !sl->st; j++) {
        int label = 0;
        if ((sl->st = read_at(l, i0 + j, buf, &label, &e))) {
            snprintf(sl->msg, sizeof sl->msg, "%s", e.msg);
            break;
        }
        sl->labels[j] = label;
        float *x = sl->x + l->per_in * l->views * j;
        if (o->crop == ZF_CROP_RANDOM) {
            zf_rng r;
            zf_rng_seed(&r, zf_mix64(zf_mix64(o->seed, (uint64_t)l->epoch), (uint64_t)(i0 + j)));
            int oy = (int)(zf_rng_next(&r) % (uint64_t)(rh + 1));
            int ox = (int)(zf_rng_next(&r) % (uint64_t)(rw + 1));
            int flip = o->flip && (zf_rng_next(&r) >> 63);
            make_view(l, buf, oy, ox, flip, x);
        } else if (o->crop == ZF_CROP_TEN) {
            const int at[5][2] = {{0, 0}, {0, rw}, {rh, 0}, {rh, rw}, {rh / 2, rw / 2}};
            for (int v = 0; v < 10; v++)
                make_view(l, buf, at[v % 5][0], at[v % 5][1], v >= 5, x + l->per_in * v);
        } else
            make_view(l, buf, rh / 2, rw / 2, 0, x);
    }
    sl->n = n, sl->i0 = i0;
}

static void *worker(void *arg) {
    zf_loader *l = arg;
    uint8_t *buf = malloc(l->per_src);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && (l->pausing || l->next_fill >= l->nbatches ||
                            l->next_fill >= l->next_take + l->nslots))
            pthread_cond_wait(&l->changed, &l->mu);
        if (l->quit) break;
        int b = l->next_fill++;
        slot *sl = &l->slots[b % l->nslots];
        l->busy++;
        pthread_mutex_unlock(&l->mu);
        if (buf)
            fill(l, sl, b, buf);
        else
            sl->st = ZF_ERR_NOMEM, snprintf(sl->msg, sizeof sl->msg, "loader: out of memory");
        pthread_mutex_lock(&l->mu);
        sl->batch = b, sl->ready = 1, l->busy--;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->mu);
    free(buf);
    return NULL;
}

void zf_loader_free(zf_loader *l) {
    if (!l) return;
    if (l->threads) {
        pthread_mutex_lock(&l->mu);
        l->quit = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->mu);
        for (int t = 0; t < l->nthreads; t++) pthread_join(l->threads[t], NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->changed);
    }
    for (int k = 0; l->slots && k < l->nslots; k++) free(l->slots[k].x), free(l->slots[k].labels);
    for (int k = 0; k < l->nbad; k++) free(l->bad[k]);
    free(l->bad), free(l->is_bad), free(l->slots), free(l->threads), free(l->order), free(l);
}

void zf_loader_defaults(zf_loader_options *o) {
    *o = (zf_loader_options){.batch = 64,
                             .crop = ZF_CROP_CENTER,
                             .scale = 1,
                             .seed = 1,
                             .threads = 2,
                             .parts = 1,
                             .part = 0};
}

zf_status zf_loader_create(const zf_dataset *d, const zf_loader_options *opt, zf_loader **out,
                           zf_error *err) {
    *out = NULL;
    zf_loader_options o;
    if (opt)
        o = *opt;
    else
        zf_loader_defaults(&o);
    zf_shape s = d->shape;
    if (o.batch < 1 || o.height < 1 || o.width < 1 || o.pad < 0 || o.threads < 1 ||
        o.threads > 1024 || o.parts < 1 || o.part < 0 || o.part >= o.parts ||
        (int64_t)o.batch * o.parts > INT32_MAX / 16)
        return zf_fail(err, ZF_ERR_ARG,
                       "loader: bad batch %d, input %dx%d, pad %d, threads %d or part %d of %d",
                       o.batch, o.height, o.width, o.pad, o.threads, o.part, o.parts);
    if (s.h + 2 * o.pad < o.height || s.w + 2 * o.pad < o.width)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "%s: its images (%dx%d) are smaller than the net's input (%dx%d)", d->desc,
                       s.h, s.w, o.height, o.width);
    if (!(o.scale > 0) || !isfinite(o.scale))
        return zf_fail(err, ZF_ERR_ARG, "loader: the input scale %g is not a positive number",
                       (double)o.scale);
    zf_loader *l = calloc(1, sizeof *l);
    if (!l) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    l->d = d, l->o = o, l->views = o.crop == ZF_CROP_TEN ? 10 : 1;
    l->per_in = (size_t)s.c * o.height * o.width, l->per_src = (size_t)s.c * s.h * s.w;
    int global = o.batch * o.parts;
    l->nbatches = o.drop_last ? d->count / global : (d->count + global - 1) / global;
    l->nslots = o.threads + 2, l->nthreads = o.threads, l->held = -1;
    l->order = malloc(sizeof(int) * (size_t)(d->count ? d->count : 1));
    l->is_bad = calloc((size_t)d->count + 1, 1);
    l->slots = calloc((size_t)l->nslots, sizeof(slot));
    l->threads = calloc((size_t)o.threads, sizeof(pthread_t));
    int bad = !l->order || !l->is_bad || !l->slots || !l->threads;
    for (int k = 0; !bad && k < l->nslots; k++) {
        l->slots[k].x = malloc(sizeof(float) * l->per_in * l->views * (size_t)o.batch);
        l->slots[k].labels = malloc(sizeof(int64_t) * (size_t)o.batch);
        l->slots[k].batch = -1;
        bad = !l->slots[k].x || !l->slots[k].labels;
    }
    if (bad) {
        free(l->threads), l->threads = NULL;
        zf_loader_free(l);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for the loader's batches");
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->changed, NULL);
    l->pausing = 1; /* nothing to do until zf_loader_start */
    for (int t = 0; t < o.threads; t++)
        if (pthread_create(&l->threads[t], NULL, worker, l)) {
            l->nthreads = t;
            zf_loader_free(l);
            return zf_fail(err, ZF_ERR_NOMEM, "loader: cannot start a thread");
        }
    *out = l;
    return ZF_OK;
}

int zf_loader_batches(const zf_loader *l) {
    return l->nbatches;
}

void zf_loader_start(zf_loader *l, int epoch, int first) {
    pthread_mutex_lock(&l->mu);
    l->pausing = 1;
    while (l->busy) pthread_cond_wait(&l->changed, &l->mu);
    int n = l->d->count;
    for (int i = 0; i < n; i++) l->order[i] = i;
    if (l->o.shuffle) { /* Fisher-Yates from (seed, epoch) */
        zf_rng r;
        zf_rng_seed(&r, zf_mix64(l->o.seed ^ 0x5eed, (uint64_t)epoch));
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(zf_rng_next(&r) % (uint64_t)(i + 1)), t = l->order[i];
            l->order[i] = l->order[j], l->order[j] = t;
        }
    }
    l->epoch = epoch;
    l->next_fill = l->next_take = first < 0 ? 0 : first;
    l->held = -1;
    for (int k = 0; k < l->nslots; k++) l->slots[k].ready = 0, l->slots[k].batch = -1;
    l->pausing = 0;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
}

zf_status zf_loader_next(zf_loader *l, const float **x, const int64_t **labels, int *n,
                         zf_error *err) {
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) { /* the caller is done with the previous batch */
        l->slots[l->held % l->nslots].ready = 0;
        l->next_take = l->held + 1, l->held = -1;
        pthread_cond_broadcast(&l->changed);
    }
    *n = 0;
    if (l->next_take >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return ZF_OK;
    }
    slot *sl = &l->slots[l->next_take % l->nslots];
    double t0 = now();
    while (!(sl->ready && sl->batch == l->next_take)) pthread_cond_wait(&l->changed, &l->mu);
    l->wait_s += now() - t0;
    l->held = l->next_take;
    pthread_mutex_unlock(&l->mu);
    if (sl->st) return zf_fail(err, sl->st, "%s", sl->msg);
    *x = sl->x, *labels = sl->labels, *n = sl->n;
    return ZF_OK;
}

int zf_loader_position(const zf_loader *cl) {
    zf_loader *l = (zf_loader *)cl; /* the lock only */
    pthread_mutex_lock(&l->mu);
    int i0 = l->held >= 0 ? l->slots[l->held % l->nslots].i0 : -1;
    pthread_mutex_unlock(&l->mu);
    return i0;
}

double zf_loader_wait_seconds(const zf_loader *l) {
    return l->wait_s;
}

int zf_loader_num_bad(const zf_loader *cl) {
    zf_loader *l = (zf_loader *)cl; /* the lock only */
    pthread_mutex_lock(&l->mu);
    int n = l->nbad;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* Entries are never changed once added; the lock covers the array growing. */
const char *zf_loader_bad(const zf_loader *cl, int i) {
    zf_loader *l = (zf_loader *)cl;
    pthread_mutex_lock(&l->mu);
    const char *s = i >= 0 && i < l->nbad ? l->bad[i] : NULL;
    pthread_mutex_unlock(&l->mu);
    return s;
}
