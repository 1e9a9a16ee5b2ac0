/* Data-parallel training over MPI: joining the job mpirun started, the collectives a training
 * run needs, and the gradient reducer (buckets in reverse layer order, each summed with
 * MPI_Iallreduce as soon as the backward pass has finished its layers, as PyTorch's DDP does).
 * Every rank calls MPI from its main thread only (MPI_THREAD_FUNNELED); the compute and
 * loader threads never do. */
#include "dist.h"

#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#ifdef ZF_HAVE_MPI
#include <mpi.h>
#endif

struct zf_dist {
    int rank, size;
};

int zf_dist_built(void) {
#ifdef ZF_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

/* The size mpirun (Open MPI, or a PMI launcher) gave this process, 0 when none did. */
static int launched_size(void) {
    const char *keys[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(keys[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

zf_status zf_dist_init(zf_dist **out, zf_error *err) {
    *out = NULL;
    int n = launched_size();
    if (n == 0) return ZF_OK;
#ifdef ZF_HAVE_MPI
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return zf_fail(err, ZF_ERR_IO, "MPI: cannot join the job mpirun started");
    if (provided < MPI_THREAD_FUNNELED) { /* our compute and loader threads need it */
        MPI_Abort(MPI_COMM_WORLD, 1);
        return zf_fail(err, ZF_ERR_IO, "MPI: this MPI does not allow threads (FUNNELED)");
    }
    zf_dist *d = calloc(1, sizeof *d);
    if (!d) {
        MPI_Abort(MPI_COMM_WORLD, 1);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    /* Open MPI's non-blocking allreduce allocates a temporary the size of each bucket, every
     * step; from mmap, its pages are faulted in afresh each time, which cost more than the
     * overlap hid (zfnet, 2 processes: 42 img/s, 53 with this). Blocks up to 32 MB (glibc's
     * largest threshold) are kept in the heap for reuse instead. */
    if (d->size > 1) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
    *out = d;
    return ZF_OK;
#else
    if (n > 1)
        return zf_fail(err, ZF_ERR_ARG,
                       "this zfnet was built without MPI, so the %d processes mpirun started would "
                       "each train alone: install libopenmpi-dev and build again",
                       n);
    return ZF_OK;
#endif
}

int zf_dist_rank(const zf_dist *d) {
    return d ? d->rank : 0;
}

int zf_dist_size(const zf_dist *d) {
    return d ? d->size : 1;
}

void zf_dist_finish(zf_dist *d, int failed) {
    if (!d) return;
#ifdef ZF_HAVE_MPI
    if (failed) /* the others may be waiting in a collective: end them all now */
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
#else
    (void)failed;
#endif
    free(d);
}

#ifdef ZF_HAVE_MPI
/* MPI counts are ints: long vectors go in pieces */
enum { CHUNK = 1 << 28 };

void dist_bcast_floats(const zf_dist *d, float *v, size_t n) {
    for (size_t i = 0; d && d->size > 1 && i < n; i += CHUNK)
        MPI_Bcast(v + i, (int)(n - i < CHUNK ? n - i : CHUNK), MPI_FLOAT, 0, MPI_COMM_WORLD);
}

void dist_sum_floats(const zf_dist *d, float *v, size_t n) {
    for (size_t i = 0; d && d->size > 1 && i < n; i += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, v + i, (int)(n - i < CHUNK ? n - i : CHUNK), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
}

void dist_sum_doubles(const zf_dist *d, double *v, int n) {
    if (d && d->size > 1) MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int dist_any(const zf_dist *d, int mine) {
    int any = mine != 0;
    if (d && d->size > 1) MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

void dist_statuses(const zf_dist *d, zf_status mine, int *first) {
    int me = mine ? zf_dist_rank(d) : INT_MAX;
    if (d && d->size > 1) MPI_Allreduce(MPI_IN_PLACE, &me, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    *first = me == INT_MAX ? -1 : me;
}
#else
void dist_bcast_floats(const zf_dist *d, float *v, size_t n) {
    (void)d, (void)v, (void)n;
}
void dist_sum_floats(const zf_dist *d, float *v, size_t n) {
    (void)d, (void)v, (void)n;
}
void dist_sum_doubles(const zf_dist *d, double *v, int n) {
    (void)d, (void)v, (void)n;
}
int dist_any(const zf_dist *d, int mine) {
    (void)d;
    return mine != 0;
}
void dist_statuses(const zf_dist *d, zf_status mine, int *first) {
    (void)d;
    *first = mine ? 0 : -1;
}
#endif

/* ---- the gradient reducer ----------------------------------------------------------------- */

typedef struct bucket {
    size_t offset, count; /* floats of the flat gradient block */
    int lowest;           /* the lowest layer with a tensor in it: ready once it is done */
    int started;
#ifdef ZF_HAVE_MPI
    MPI_Request req;
#endif
} bucket;

struct dist_reducer {
    const zf_dist *d;
    float *grads;
    int nb, overlap, active;
    bucket *b;
    double t_begin, wait_s, backward_s;
    int steps, seen;
};

enum { WARMUP_STEPS = 2 }; /* left out of the statistics */

/* The flat gradient block from the top down in buckets of bucket_bytes (a large tensor spans
 * several: one reduction of hundreds of MB is many times slower than its 25 MB pieces, as
 * Open MPI allocates and faults in a temporary of the message's size); a bucket is one
 * contiguous range (the block keeps tensors in layer order) and is ready when the backward
 * pass has finished the lowest layer with a part in it. */
zf_status dist_reducer_new(dist_reducer **out, const zf_dist *d, zf_net *net, size_t bucket_bytes,
                           int overlap, zf_error *err) {
    int nt = zf_net_num_param_tensors(net);
    size_t cap = bucket_bytes / sizeof(float), most = (size_t)nt + 1;
    cap = cap ? cap : 1;
    for (int t = 0; t < nt; t++) {
        zf_param_info p;
        zf_net_param_info(net, t, &p);
        most += p.count / cap + 1;
    }
    dist_reducer *r = calloc(1, sizeof *r);
    if (!r || !(r->b = calloc(most, sizeof(bucket)))) {
        free(r);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    r->d = d, r->grads = zf_net_grads(net), r->overlap = overlap;
    bucket *cur = NULL;
    for (int t = nt - 1; t >= 0; t--) {
        zf_param_info p;
        zf_net_param_info(net, t, &p);
        if (cur && cur->offset != p.offset + p.count) cur = NULL; /* not contiguous */
        for (size_t left = p.count; left > 0;) {
            if (!cur || cur->count == cap) {
                size_t top = cur ? cur->offset : p.offset + left;
                cur = &r->b[r->nb++], cur->offset = top;
            }
            size_t take = cap - cur->count < left ? cap - cur->count : left;
            cur->offset -= take, cur->count += take, cur->lowest = p.layer, left -= take;
        }
    }
    *out = r;
    return ZF_OK;
}

void dist_reducer_free(dist_reducer *r) {
    if (r) free(r->b);
    free(r);
}

#ifdef ZF_HAVE_MPI
static void start(dist_reducer *r, bucket *b) {
    float *v = r->grads + b->offset;
    if (b->count <= (size_t)INT_MAX)
        MPI_Iallreduce(MPI_IN_PLACE, v, (int)b->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &b->req);
    else { /* beyond an int count: a blocking sum in pieces */
        dist_sum_floats(r->d, v, b->count);
        b->req = MPI_REQUEST_NULL;
    }
    b->started = 1;
}

/* after layer `layer`'s backward: start the buckets it completes, push the others on */
static void on_layer(void *ctx, int layer) {
    dist_reducer *r = ctx;
    for (int k = 0; k < r->nb; k++) {
        bucket *b = &r->b[k];
        if (!b->started && b->lowest >= layer) start(r, b);
        if (b->started && b->req != MPI_REQUEST_NULL) {
            int done;
            MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        }
    }
}
#endif

void dist_reducer_begin(dist_reducer *r) {
    for (int k = 0; k < r->nb; k++) r->b[k].started = 0;
    r->t_begin = zf_now();
}

zf_backward_hook dist_reducer_hook(dist_reducer *r, void **ctx) {
    *ctx = r;
#ifdef ZF_HAVE_MPI
    return r->overlap && r->d && r->d->size > 1 ? on_layer : NULL;
#else
    return NULL;
#endif
}

void dist_reducer_finish(dist_reducer *r) {
    double t0 = zf_now(), backward = t0 - r->t_begin;
#ifdef ZF_HAVE_MPI
    if (r->d && r->d->size > 1)
        for (int k = 0; k < r->nb; k++) {
            if (!r->b[k].started) start(r, &r->b[k]);
            MPI_Wait(&r->b[k].req, MPI_STATUS_IGNORE);
        }
#endif
    if (++r->seen > WARMUP_STEPS) /* the first steps fault in MPI's and the net's buffers */
        r->backward_s += backward, r->wait_s += zf_now() - t0, r->steps++;
}

void dist_reducer_stats(const dist_reducer *r, dist_stats *s) {
    size_t bytes = 0;
    for (int k = 0; k < r->nb; k++) bytes += 4 * r->b[k].count;
    *s = (dist_stats){.wait_s = r->wait_s,
                      .backward_s = r->backward_s,
                      .steps = r->steps,
                      .buckets = r->nb,
                      .bytes = bytes};
}
