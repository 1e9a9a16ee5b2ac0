/* What the analyses share: reporting through the caller's callbacks, the loader of a net's
 * prepared views. */
#ifndef ZF_ANALYSIS_INTERNAL_H
#define ZF_ANALYSIS_INTERNAL_H

#include "../internal.h"

/* Progress of a step; label NULL ends it. Nothing when the caller gave no callback. */
void zf_progress(const zf_callbacks *cb, const char *label, long done, long total,
                 const char *extra);
/* ZF_ERR_CANCELLED ("what: cancelled") when the caller's cancelled callback says so. */
zf_status zf_check_cancel(const zf_callbacks *cb, const char *what, zf_error *err);
/* A notice, formatted. */
void zf_notice(const zf_callbacks *cb, zf_notice_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The files a dataset left out when it was opened, one ZF_NOTICE_SKIPPED each. */
void zf_notice_skipped(const zf_callbacks *cb, const zf_dataset *d);
/* The loader's replaced files from index *reported on, one ZF_NOTICE_REPLACED each. */
void zf_notice_replaced(const zf_callbacks *cb, const zf_loader *l, int *reported);
/* Open `spec` as p prepares data (folders and shards at its size), the skipped files
 * reported. */
zf_status zf_open_prepared(const zf_data_prep *p, const char *spec, const zf_callbacks *cb,
                           zf_dataset **out, zf_error *err);

/* d can feed the net as p prepares it: the net's channels, and a mean of d's image shape (the
 * loader and the centre view index the mean by it). */
zf_status zf_check_prepared(const zf_net *net, const zf_data_prep *p, const zf_dataset *d,
                            zf_error *err);
/* Loader options for the net's input as p prepares it: `crop` views (centre or ten), in
 * dataset order. */
zf_loader_options zf_views(const zf_net *net, const zf_data_prep *p, zf_crop crop, int batch,
                           int threads);

/* The last layer of the paper's layer n (1-based): the n-th conv or fc layer and the ReLU,
 * pooling, LRN and dropout layers up to the next one; -1 when the net has fewer. */
int zf_net_stage_end(const zf_net *net, int n);
/* A layer by name, or a number n as zf_net_stage_end; fails naming the choices. */
zf_status zf_net_parse_stage(const zf_net *net, const char *what, int *layer, zf_error *err);
/* The mean and the sample standard deviation (n - 1; 0 when n < 2) of v (n). */
void zf_mean_std(const double *v, int n, double *mean, double *std);
/* R^2 of the least-squares line through (u_i, d_i); 1 for fewer than 3 points or constant d. */
double zf_line_r2(const double *u, const double *d, int n);
/* The occluding squares' grid (zf_occlusion_result's ny, nx, y0, x0) for an input `in`. */
zf_status zf_occlusion_grid(zf_shape in, int size, int stride, int *ny, int *nx, int *y0, int *x0,
                            zf_error *err);

/* Where a layer's feature maps are read: the ReLU right after it when there is one. */
int zf_after_relu(const zf_net *net, int layer);
/* The features of n inputs x at layers[k] (after their ReLU), out[k] (n, features): one
 * forward pass per batch of up to `batch`. */
zf_status zf_features(zf_net *net, const float *x, int n, const int *layers, int nl, int batch,
                      float **out, zf_error *err);
/* The last layer's output rows (m, classes) as probabilities: a softmax unless the net ends
 * with one. */
void zf_softmax_rows(const zf_net *net, float *p, int m, int classes);

/* Layers first..last of `parent` as a net on input shape `in` (window: convolutions and
 * pooling without padding, pooling in floor mode), its weights the parent's (borrowed: the
 * parent must outlive it; training it trains the parent's). Not reserved. */
zf_status zf_net_slice(zf_net *parent, int first, int last, zf_shape in, int window, zf_net **out,
                       zf_error *err);

#endif
