/* What every kind of dataset shares: the object, its getters, reading an image, the mean. */
#include "dataset.h"

#include <string.h>

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
