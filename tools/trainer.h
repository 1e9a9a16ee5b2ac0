/* A training run: configuration, the loop, and its run folder (train, demo). */
#ifndef ZF_TRAINER_H
#define ZF_TRAINER_H

#include "run.h"

#include <getopt.h>

typedef struct train_cfg {
    char model[4096], train[4096], test[4096], out[4096];
    zf_model_overrides ov;
    int epochs, batch, pad, flip, nsteps, steps[32], nsnap, snap[64];
    int plateau, patience; /* ZF: /10 when test error stops improving */
    double lr, momentum, wd, renorm, scale, state_every;
    int init; /* zf_init_scheme */
    double init_std;
    uint64_t seed;
    int threads, loaders, data_size, mean_images, stop_on_bad;
} train_cfg;

void train_defaults(train_cfg *c);
/* Parse one training option (long-option code ch); 0 handled, 2 bad value, -1 not ours. */
int train_option(train_cfg *c, int ch, const char *arg);
/* Options for getopt_long, shared by train and demo (terminated by a zero entry). */
extern const struct option train_options[];
extern const char train_options_help[];

/* Train (fresh: the folder must not hold a run unless overwrite; resume: continue the
 * run saved in c->out). Prints per-epoch lines and "test accuracy: NN.NN%". */
int train_run(train_cfg *c, int resume, int overwrite, double *final_acc);

#endif
