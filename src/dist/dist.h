/* Data-parallel training over MPI (dist.c): the collectives a training run needs, and the
 * reducer that sums gradients in buckets while the backward pass is still running. Without
 * MPI (ZF_HAVE_MPI unset) every call is the one-process identity. */
#ifndef ZF_DIST_H
#define ZF_DIST_H

#include "../internal.h"
#include "zfnet/analysis.h"

/* rank 0's n floats to every rank */
void dist_bcast_floats(const zf_dist *d, float *v, size_t n);
/* element-wise sums over the ranks, in place, on every rank */
void dist_sum_floats(const zf_dist *d, float *v, size_t n);
void dist_sum_doubles(const zf_dist *d, double *v, int n);
/* Whether `mine` is non-zero on any rank (every rank gets the same answer). */
int dist_any(const zf_dist *d, int mine);
/* After a step every rank may have failed at: every rank's status; *first the lowest rank that
 * failed (-1: none). */
void dist_statuses(const zf_dist *d, zf_status mine, int *first);

/* Sums the net's gradients over the ranks in buckets of about bucket_bytes, in reverse layer
 * order; with overlap each bucket starts (MPI_Iallreduce) as soon as the backward pass has
 * finished its lowest layer, and outstanding ones are pushed on between layers. */
typedef struct dist_reducer dist_reducer;
zf_status dist_reducer_new(dist_reducer **r, const zf_dist *d, zf_net *net, size_t bucket_bytes,
                           int overlap, zf_error *err);
void dist_reducer_free(dist_reducer *r);
/* The hook to give zf_net_set_backward_hook (NULL without overlap or without a job). */
zf_backward_hook dist_reducer_hook(dist_reducer *r, void **ctx);
/* Before zf_net_backward: no bucket started yet. */
void dist_reducer_begin(dist_reducer *r);
/* After zf_net_backward: starts what has not started, waits for every bucket. */
void dist_reducer_finish(dist_reducer *r);
/* Over the steps after the first two: seconds of backward passes (with the reductions pushed
 * on between layers) and of waiting in dist_reducer_finish after them (the communication the
 * backward pass did not hide); buckets and bytes per step. */
typedef struct dist_stats {
    double wait_s, backward_s;
    int steps, buckets;
    size_t bytes;
} dist_stats;
void dist_reducer_stats(const dist_reducer *r, dist_stats *s);

#endif
