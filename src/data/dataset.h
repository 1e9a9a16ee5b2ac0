/* The dataset object behind zf_dataset: labels always in memory; pixels either in memory
 * (IDX, CIFAR) or decoded on demand by the kind's read function (folders, shards). */
#ifndef ZF_DATA_DATASET_H
#define ZF_DATA_DATASET_H

#include "../internal.h"

typedef struct dataset_ops {
    /* decode image i into dst (c, h, w); NULL for in-memory sets */
    zf_status (*read)(const zf_dataset *d, int i, uint8_t *dst, zf_error *err);
    void (*item_name)(const zf_dataset *d, int i, char *buf, size_t cap);
    void (*free_impl)(void *impl);
} dataset_ops;

struct zf_dataset {
    const dataset_ops *ops;
    int count, classes;
    zf_shape shape;
    uint8_t *pixels;    /* in-memory sets: (count, c, h, w) */
    int32_t *labels;    /* (count) */
    char **class_names; /* (classes) or NULL */
    char **skipped;     /* files left out at open, "path: reason" */
    int nskipped;
    char desc[512];
    void *impl;
};

/* A new dataset with count labels allocated (and pixels when in_memory). */
zf_status zf_dataset_alloc(zf_dataset **out, int count, zf_shape shape, int in_memory,
                           zf_error *err);
/* classes = 1 + the largest label */
void zf_dataset_count_classes(zf_dataset *d);
zf_status zf_dataset_add_skipped(zf_dataset *d, const char *msg, zf_error *err);

zf_status zf_dataset_open_cifar(zf_dataset **out, const char *files, zf_error *err);
zf_status zf_dataset_open_folder(zf_dataset **out, const char *root, const zf_dataset_options *o,
                                 zf_error *err);
zf_status zf_dataset_open_shard(zf_dataset **out, const char *path, const zf_dataset_options *o,
                                zf_error *err);
int zf_shard_sniff(const char *path);
/* OpenCV's digits sheet (digits.c): the train (left half) or test (right half) split. */
zf_status zf_dataset_open_digits(zf_dataset **out, const char *path, int test, zf_error *err);

#endif
