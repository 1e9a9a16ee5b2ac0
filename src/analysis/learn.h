/* Learning from a few examples, shared by transfer (transfer.c) and the linear probes
 * (probe.c): draws per class, images held as bytes, their views, a layer's outputs, SGD over
 * examples and predictions. */
#ifndef ZF_ANALYSIS_LEARN_H
#define ZF_ANALYSIS_LEARN_H

#include "analysis.h"

/* A trained checkpoint (it needs its data mean) and a target set's two splits, opened as it
 * prepares data and checked to fit it; the test split's first test_per_class images of each
 * class (0: all) picked, its labels within the training split's classes. */
typedef struct zf_target {
    zf_net *net;
    zf_data_prep prep;
    zf_dataset *train, *test;
    int classes; /* the training split's */
    int *test_idx, *test_y, ntest;
} zf_target;

zf_status zf_target_open(zf_target *g, const char *checkpoint, const char *train, const char *test,
                         int test_per_class, int threads, zf_precision precision, uint64_t seed,
                         const zf_callbacks *cb, zf_error *err);
void zf_target_close(zf_target *g);

/* Each use of a seed draws from its own stream: zf_mix64(zf_mix64(seed, tag), i). */
enum {
    SEED_DRAW = 0x64726177,    /* the images drawn per class */
    SEED_ORDER = 0x6f726472,   /* SGD's order, per pass */
    SEED_CROP = 0x63726f70,    /* random crops and mirrors, per example */
    SEED_DROPOUT = 0x64726f70, /* dropout masks, per step */
    SEED_INIT = 0x696e6974     /* initial weights */
};
static inline uint64_t zf_stream(uint64_t seed, uint64_t tag, uint64_t i) {
    return zf_mix64(zf_mix64(seed, tag), i);
}

/* Dataset items read into memory: px (n, s.c, s.h, s.w), labels (n). */
typedef struct zf_images {
    int n;
    zf_shape s;
    uint8_t *px;
    int64_t *labels;
} zf_images;

zf_status zf_images_read(const zf_dataset *d, const int *idx, int n, zf_images *out, zf_error *err);
void zf_images_free(zf_images *im);

/* n items per class (0: all), class by class: a seeded random choice (shuffle; a class with
 * fewer fails naming it) or the first ones in dataset order (at most n: a class with fewer
 * gives all it has, as the paper's "up to 50 test images per class"). */
zf_status zf_pick_per_class(const zf_dataset *d, int n, int shuffle, uint64_t seed, int **idx,
                            int *count, zf_error *err);

/* What SGD and predictions run over: cached feature rows (feats: n, dim), or images whose
 * inputs are crops of the mean-padded image (padded by pad) as p prepares it: the centre, or
 * (random) a random one, mirrored half of the time when flip. */
typedef struct zf_examples {
    const float *feats;
    int dim;
    const zf_images *images;
    const zf_data_prep *prep;
    int pad, random, flip;
    const int64_t *labels; /* (n), for training */
    int n;
} zf_examples;

typedef struct zf_sgd {
    int steps, batch;
    double lr, momentum, weight_decay; /* lr / 10 after 50% and again after 75% of the steps */
    uint64_t seed;                     /* the order, the crops and dropout */
} zf_sgd;

/* Examples i0 .. i0 + n - 1 as net inputs x (n, in): centre views or feature rows. */
void zf_examples_inputs(const zf_examples *ex, int i0, int n, zf_shape in, float *x);

zf_sgd zf_sgd_of(const zf_transfer_options *o, uint64_t seed);
/* Train net (ending in a softmax) on the examples: batches from a seeded permutation, one per
 * pass; progress as "training" with the loss. */
zf_status zf_sgd_train(zf_net *net, const zf_examples *ex, const zf_sgd *sg, zf_mode mode,
                       const zf_callbacks *cb, zf_error *err);
/* Layer k's outputs (k < 0: the last layer) for each example's centre view: rows (n, dim). */
zf_status zf_forward_rows(zf_net *net, int k, const zf_examples *ex, float *rows, zf_error *err);
/* The most probable class for each example (centre views). */
zf_status zf_predict(zf_net *net, const zf_examples *ex, int *pred, zf_error *err);
/* The same for dataset items, read a chunk at a time. */
zf_status zf_predict_images(zf_net *net, const zf_data_prep *p, int pad, const zf_dataset *d,
                            const int *idx, int n, int *pred, zf_error *err);
/* Layer k's (k < 0: the last layer's) outputs for the images (centre views of the image padded by
 * pad): *out (n, *dim), malloc'd. */
zf_status zf_images_outputs(zf_net *net, int k, const zf_data_prep *p, int pad, const zf_images *im,
                            float **out, int *dim, zf_error *err);
/* The same for dataset items, read a chunk at a time. */
zf_status zf_layer_outputs(zf_net *net, int k, const zf_data_prep *p, int pad, const zf_dataset *d,
                           const int *idx, int n, float **out, int *dim, zf_error *err);

#endif
