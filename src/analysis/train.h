/* The training run's internals shared by its loop (train.c) and its run folder (run_folder.c). */
#ifndef ZF_ANALYSIS_TRAIN_H
#define ZF_ANALYSIS_TRAIN_H

#include "analysis.h"
#include "../dist/dist.h"

#include <stdio.h>

#define TRAIN_STATE_FORMAT "zfnet-train-state-1"

/* Every epoch so far: for the curves the caller draws. */
typedef struct history {
    int n, cap;
    double *epoch, *loss, *acc;
} history;

/* The counters a resumed run continues from. */
typedef struct run_state {
    int epoch_done, next_batch; /* epochs finished; the next batch of the next epoch */
    double lr;
    double best, plateau_best; /* best test accuracy (for best.safetensors; for the plateau) */
    int plateau_wait, best_epoch;
    double loss_sum; /* over the epoch's batches so far */
    int loss_batches;
    long renorm_fired;
    double elapsed; /* training seconds before this process */
} run_state;

typedef struct trainer {
    zf_train_options c; /* the configuration in force (the saved one when resuming) */
    char *owned[4];     /* copies of the strings in c */
    zf_net *net;
    zf_data_prep prep;
    run_state rs;
    history h;
    zf_dataset *tr, *te;
    zf_loader *loader;
    FILE *metrics;
    float *acc;                          /* (test images, classes) */
    double last_top1;                    /* the last epoch's test accuracy */
    int saved, saved_epoch, saved_batch; /* the state on disk: written, where it stands */
    int lowered;                         /* rate divisions after a divergence */
    int made_out;                        /* this run created c.out */
    char path[4200];
    /* data-parallel: this process is rank `rank` of `ranks`; c.batch is its part of each batch
     * (the global batch is c.batch * ranks); rank 0 alone writes the run folder */
    int rank, ranks;
    dist_reducer *red;
    double step_stop; /* the step's stop requests, summed over the ranks */
} trainer;

/* The ranges `zfnet train` accepts, for options from any source; `where` starts the message
 * ("option ", "DIR/state.safetensors: saved option "). */
zf_status train_check_options(const zf_train_options *c, const char *where, zf_error *err);
/* c's strings copied into t->owned (they may point into a parsed state) */
zf_status trainer_own_strings(trainer *t, zf_error *err);
/* The saved configuration and counters of OUT/state.safetensors into t->c (keeping epochs when
 * > 0, threads, loader threads, out, callbacks and the MPI job) and t->rs; the saved (global)
 * batch is split over t->ranks. */
zf_status train_state_load(trainer *t, zf_error *err);
zf_status train_state_save(trainer *t, zf_error *err);
/* The weights, momentum and counters of OUT/state.safetensors (the configuration stays). */
zf_status train_state_reload(trainer *t, zf_error *err);
/* OUT/NAME: the weights with the data preparation, the epoch and its test accuracy. The
 * writers of the run folder write on rank 0 only (the others keep the bookkeeping). */
zf_status train_save_weights(trainer *t, const char *name, int epoch, double acc, zf_error *err);
/* metrics.jsonl: emptied for a fresh run; for a resumed one, kept up to the saved epoch (read
 * into the history); then opened for appending. */
zf_status train_metrics_open(trainer *t, int resume, zf_error *err);
zf_status train_metrics_add(trainer *t, const zf_epoch_report *r, zf_error *err);
zf_status history_add(history *h, double epoch, double loss, double acc);

#endif
