/* Training runs and evaluation shared by train, demo, eval and predict. */
#ifndef ZF_RUN_H
#define ZF_RUN_H

#include "cli.h"

/* How inputs are made from a dataset: what a checkpoint records about its data. */
typedef struct data_prep {
    float *mean;    /* (shape) or NULL */
    zf_shape shape; /* the dataset images the mean belongs to */
    float scale;    /* input = (pixel - mean) * scale */
    int pad;        /* crops come from the image padded by this much */
    char **names;   /* class names (classes) or NULL */
    int classes;
} data_prep;

void data_prep_free(data_prep *p);
/* data.mean, input_scale, crop_pad, class_names and data_shape from a checkpoint. */
int data_prep_from_checkpoint(const char *path, data_prep *p);
/* The checkpoint metadata for p (pairs appended to kv; returns the new count). Strings
 * written into buf. */
char *data_prep_names_json(const data_prep *p);

/* The net a checkpoint written by train describes (its model text), with its weights and
 * data preparation. */
int open_trained(const char *weights, int threads, zf_net **net, data_prep *prep);
/* The same; need_prep = 0 also takes weights without data settings (zfnet init's). */
int open_checkpoint(const char *weights, int threads, zf_net **net, data_prep *prep, int need_prep);

/* Softmax of the net over d (one view, or the ten crops averaged), added into acc (count x
 * classes). */
int eval_accumulate(zf_net *net, const zf_dataset *d, const data_prep *p, zf_crop crop, int batch,
                    int loaders, float *acc, int progress);
/* top-1 / top-5 of acc against d's labels; confusion (classes x classes, [true][predicted])
 * when non-NULL. */
void eval_score(const float *acc, const zf_dataset *d, int classes, double *top1, double *top5,
                long *confusion);

/* "zfnet: skipped (...): MSG" on stderr, once per message per process. */
void report_bad(const char *msg);

/* Progress on a terminal: one line redrawn at most 5 times a second; nothing otherwise. */
typedef struct progress {
    int on;
    double t0, last;
} progress;
void progress_start(progress *p);
void progress_show(progress *p, const char *label, long done, long total, const char *extra);
void progress_end(progress *p);
double now_s(void);

/* Training curves: train loss and test accuracy per epoch as a two-panel SVG. */
int svg_curves(const char *path, const char *title, int n, const double *epoch, const double *loss,
               const double *acc);

#endif
