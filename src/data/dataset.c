/* Opening a dataset by what its name points at, and what every kind of set shares. */
#include "dataset.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static const char *fmnist_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

zf_status zf_dataset_alloc(zf_dataset **out, int count, zf_shape shape, int in_memory,
                           zf_error *err) {
    zf_dataset *d = calloc(1, sizeof *d);
    size_t px = (size_t)count * shape.c * shape.h * shape.w;
    if (d) d->labels = malloc(sizeof(int32_t) * (size_t)(count ? count : 1));
    if (d && in_memory) d->pixels = malloc(px ? px : 1);
    if (!d || !d->labels || (in_memory && !d->pixels)) {
        zf_dataset_free(d);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for a dataset of %d images", count);
    }
    d->count = count, d->shape = shape;
    *out = d;
    return ZF_OK;
}

void zf_dataset_count_classes(zf_dataset *d) {
    d->classes = 0;
    for (int i = 0; i < d->count; i++)
        if (d->labels[i] + 1 > d->classes) d->classes = d->labels[i] + 1;
}

zf_status zf_dataset_add_skipped(zf_dataset *d, const char *msg, zf_error *err) {
    char **s = realloc(d->skipped, sizeof(char *) * (size_t)(d->nskipped + 1));
    if (!s) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    d->skipped = s;
    if (!(s[d->nskipped] = strdup(msg))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    d->nskipped++;
    return ZF_OK;
}

void zf_dataset_free(zf_dataset *d) {
    if (!d) return;
    if (d->ops && d->ops->free_impl) d->ops->free_impl(d->impl);
    for (int k = 0; d->class_names && k < d->classes; k++) free(d->class_names[k]);
    for (int k = 0; k < d->nskipped; k++) free(d->skipped[k]);
    free(d->class_names), free(d->skipped), free(d->pixels), free(d->labels), free(d);
}

int zf_dataset_count(const zf_dataset *d) {
    return d->count;
}
zf_shape zf_dataset_shape(const zf_dataset *d) {
    return d->shape;
}
int zf_dataset_classes(const zf_dataset *d) {
    return d->classes;
}
const char *zf_dataset_class_name(const zf_dataset *d, int k) {
    return d->class_names && k >= 0 && k < d->classes ? d->class_names[k] : NULL;
}
int zf_dataset_label(const zf_dataset *d, int i) {
    ZF_ASSERT(i >= 0 && i < d->count);
    return d->labels[i];
}
int zf_dataset_num_skipped(const zf_dataset *d) {
    return d->nskipped;
}
const char *zf_dataset_skipped(const zf_dataset *d, int i) {
    return i >= 0 && i < d->nskipped ? d->skipped[i] : NULL;
}
const char *zf_dataset_description(const zf_dataset *d) {
    return d->desc;
}

zf_status zf_dataset_read(const zf_dataset *d, int i, uint8_t *dst, zf_error *err) {
    ZF_ASSERT(i >= 0 && i < d->count);
    if (d->pixels) {
        size_t per = (size_t)d->shape.c * d->shape.h * d->shape.w;
        memcpy(dst, d->pixels + per * i, per);
        return ZF_OK;
    }
    return d->ops->read(d, i, dst, err);
}

void zf_dataset_item_name(const zf_dataset *d, int i, char *buf, size_t cap) {
    if (d->ops && d->ops->item_name)
        d->ops->item_name(d, i, buf, cap);
    else
        snprintf(buf, cap, "%s#%d", d->desc, i);
}

static zf_status set_names(zf_dataset *d, const char *const *names, int n, zf_error *err) {
    if (d->classes > n) return ZF_OK;
    if (!(d->class_names = calloc((size_t)d->classes, sizeof(char *))))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < d->classes; k++)
        if (!(d->class_names[k] = strdup(names[k])))
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

/* An IDX images file: gzip or raw, starting 00 00 08 03 once inflated. */
static int is_idx_images(const char *path) {
    gzFile f = gzopen(path, "rb");
    unsigned char h[4];
    int ok = f && gzread(f, h, 4) == 4 && !h[0] && !h[1] && h[2] == 8 && h[3] == 3;
    if (f) gzclose(f);
    return ok;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static zf_status open_idx_spec(zf_dataset **out, const char *spec, zf_error *err) {
    char images[4096], labels[4096];
    const char *comma = strchr(spec, ',');
    if (comma) {
        snprintf(images, sizeof images, "%.*s", (int)(comma - spec), spec);
        snprintf(labels, sizeof labels, "%s", comma + 1);
    } else {
        snprintf(images, sizeof images, "%s", spec);
        char *at = strstr(images, "images-idx3");
        if (!at)
            return zf_fail(err, ZF_ERR_ARG,
                           "%s: cannot tell where its labels are; name them: IMAGES,LABELS", spec);
        snprintf(labels, sizeof labels, "%.*slabels-idx1%s", (int)(at - images), images,
                 at + strlen("images-idx3"));
    }
    zf_status st = zf_dataset_open_idx(out, images, labels, err);
    if (!st && strstr(images, "fashion-mnist")) st = set_names(*out, fmnist_names, 10, err);
    if (st) {
        zf_dataset_free(*out);
        *out = NULL;
    }
    return st;
}

zf_status zf_dataset_open(zf_dataset **out, const char *spec, const zf_dataset_options *o,
                          zf_error *err) {
    *out = NULL;
    zf_dataset_options def = {0};
    if (!o) o = &def;
    if (!strcmp(spec, "fashion-mnist") || !strcmp(spec, "fashion-mnist:train"))
        return open_idx_spec(out, FMNIST "train-images-idx3-ubyte.gz", err);
    if (!strcmp(spec, "fashion-mnist:test"))
        return open_idx_spec(out, FMNIST "t10k-images-idx3-ubyte.gz", err);
    char first[4096];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(spec, ","), spec);
    if (ends_with(first, ".bin")) return zf_dataset_open_cifar(out, spec, err);
    struct stat sb;
    if (stat(first, &sb))
        return zf_fail(err, ZF_ERR_IO, "%s: %s%s", first, strerror(errno),
                       strchr(spec, ':') || !strchr(spec, '/')
                           ? " (a dataset is fashion-mnist[:test], an IDX or CIFAR file, an "
                             "image folder or a shard)"
                           : "");
    if (S_ISDIR(sb.st_mode)) {
        if (strchr(spec, ','))
            return zf_fail(err, ZF_ERR_ARG, "%s: an image folder is one directory", spec);
        return zf_dataset_open_folder(out, spec, o, err);
    }
    if (zf_shard_sniff(first)) return zf_dataset_open_shard(out, first, o, err);
    if (is_idx_images(first)) return open_idx_spec(out, spec, err);
    return zf_fail(err, ZF_ERR_FORMAT,
                   "%s: not a dataset zfnet reads (IDX images, CIFAR .bin, a zfnet shard or an "
                   "image folder)",
                   first);
}

/* Files that fail to decode are left out of the mean (the loader reports them). */
zf_status zf_dataset_mean(const zf_dataset *d, int limit, int threads, float *mean, zf_error *err) {
    size_t per = (size_t)d->shape.c * d->shape.h * d->shape.w;
    int n = limit > 0 && limit < d->count ? limit : d->count, used = 0, oom = 0;
    double *acc = calloc(per, sizeof *acc);
    if (!acc) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
#pragma omp parallel num_threads(threads > 0 ? threads : 2) reduction(+ : used, oom)
    {
        double *mine = calloc(per, sizeof *mine);
        uint8_t *im = malloc(per);
        oom += !mine || !im;
#pragma omp for schedule(dynamic, 16)
        for (int k = 0; k < n; k++) {
            int i = (int)((int64_t)k * d->count / n); /* an even spread over the set */
            if (!mine || !im || zf_dataset_read(d, i, im, NULL)) continue;
            for (size_t j = 0; j < per; j++) mine[j] += im[j];
            used++;
        }
#pragma omp critical
        for (size_t j = 0; mine && j < per; j++) acc[j] += mine[j];
        free(mine), free(im);
    }
    for (size_t j = 0; j < per; j++) mean[j] = used ? (float)(acc[j] / used) : 0;
    free(acc);
    if (oom) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!used) return zf_fail(err, ZF_ERR_FORMAT, "%s: no readable images to average", d->desc);
    return ZF_OK;
}
