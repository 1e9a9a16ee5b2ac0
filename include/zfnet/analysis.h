/* zfnet's analysis floor: what a user comes for, as library calls above the net. Evaluation
 * (top-1/top-5, ten crops, ensembles, confusion), the training run (resumable, schedules,
 * snapshots, metrics), projections (DeconvNet, guided backprop, gradient) and Grad-CAM, the
 * strongest activations of feature maps over a dataset (top-9, ZF Fig. 2), first-layer filter
 * statistics (Fig. 6), feature evolution across snapshots (Fig. 4) and layer-wise gradient
 * checks.
 *
 * None of them prints, exits or draws: results come back as numbers and floats, progress and
 * notices through callbacks, failures as zf_status + zf_error. The zfnet command line calls
 * exactly these functions, then draws pictures and writes files. Included by zfnet/zfnet.h. */
#ifndef ZFNET_ANALYSIS_H
#define ZFNET_ANALYSIS_H

#include "zfnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- callbacks shared by the long-running calls ------------------------------------------- */

typedef enum zf_notice_kind {
    ZF_NOTICE_INFO = 0, /* a step finished: what it was and how long it took */
    ZF_NOTICE_SKIPPED,  /* a file left out of a dataset when it was opened: "path: reason" */
    ZF_NOTICE_REPLACED, /* a file that failed to decode during a pass; another image took its
                           place (each file once per pass) */
    ZF_NOTICE_WARNING   /* something went wrong and was dealt with (a diverged step undone) */
} zf_notice_kind;

/* Any member may be NULL. */
typedef struct zf_callbacks {
    /* A long step's progress: `label` says what is being done, `done` of `total` units;
     * `extra` is a short status ("loss 0.4123  2310 img/s") or NULL. When the step ends,
     * progress is called once with label NULL. */
    void (*progress)(void *ctx, const char *label, long done, long total, const char *extra);
    /* Something worth telling that does not stop the work. */
    void (*notice)(void *ctx, zf_notice_kind kind, const char *msg);
    void *ctx;
    /* Asked between batches by the long calls (evaluation, top-k scans and projections,
     * occlusion): non-zero stops the call with ZF_ERR_CANCELLED ("WHAT: cancelled"). */
    int (*cancelled)(void *ctx);
} zf_callbacks;

/* ---- evaluation ------------------------------------------------------------------------ */

typedef struct zf_eval_options {
    zf_crop crop;           /* ZF_CROP_CENTER or ZF_CROP_TEN (4 corners + centre, mirrored) */
    int batch;              /* images per forward pass (64); ten crops make 10x the inputs */
    int loader_threads;     /* (2) */
    int threads;            /* compute threads, 0: all cores (0) */
    zf_precision precision; /* the nets' (ZF_PRECISION_FP32) */
    zf_callbacks cb;
    int parts, part; /* data-parallel: this process's part of each batch (1, 0: the whole) */
} zf_eval_options;

/* The defaults above (crop ZF_CROP_CENTER). */
ZF_API void zf_eval_defaults(zf_eval_options *o);

/* The net's softmax over every image of d (the view's average for ten crops), added into
 * probs (count, classes); with parts, only this part's rows of each batch (the parts' probs
 * summed are the whole's). */
ZF_API zf_status zf_eval_accumulate(zf_net *net, const zf_data_prep *p, const zf_dataset *d,
                                    const zf_eval_options *o, float *probs, zf_error *err);
/* Top-1 and top-5 accuracy (0..1) of probs (count, classes) against d's labels; ties go to
 * the lower class. confusion (classes, classes), [true][predicted], is added to when given. */
ZF_API void zf_eval_score(const float *probs, const zf_dataset *d, int classes, double *top1,
                          double *top5, int64_t *confusion);

typedef struct zf_eval_result {
    int images, classes, models;
    double top1, top5;  /* accuracy, 0..1 */
    float *probs;       /* (images, classes): softmax averaged over crops and models */
    int64_t *confusion; /* (classes, classes): [true][predicted] counts */
    zf_data_prep prep;  /* the first checkpoint's (class names) */
    char *description;  /* the dataset */
} zf_eval_result;

/* One model or an ensemble (the paper's Table 2 protocol: softmax averaged over models and
 * crops) on the dataset `data`, opened as the first checkpoint's training data. Each model's
 * time is a ZF_NOTICE_INFO ("PATH: 1.2 s"). */
ZF_API zf_status zf_evaluate(const char *const *checkpoints, int n, const char *data,
                             const zf_eval_options *o, zf_eval_result *r, zf_error *err);
ZF_API void zf_eval_result_free(zf_eval_result *r);

/* ---- data-parallel training over MPI ---------------------------------------------------- */

/* A process's place in the MPI job mpirun started (docs/distributed.md). */
typedef struct zf_dist zf_dist;
/* Whether this library was built with MPI. */
ZF_API int zf_dist_built(void);
/* Join the job when mpirun started this process (MPI_Init_thread); *d stays NULL, with ZF_OK,
 * when nothing did (one process). Built without MPI, a launch of more than one process fails. */
ZF_API zf_status zf_dist_init(zf_dist **d, zf_error *err);
ZF_API int zf_dist_rank(const zf_dist *d); /* 0 for NULL */
ZF_API int zf_dist_size(const zf_dist *d); /* 1 for NULL */
/* Leave the job (MPI_Finalize); failed: end every rank now (MPI_Abort), as one whose failure the
 * others do not know of must (they would wait for it). Frees d. */
ZF_API void zf_dist_finish(zf_dist *d, int failed);

/* ---- the training run --------------------------------------------------------------------- */

/* What a run is about to do (zf_train_options.on_start). */
typedef struct zf_train_info {
    const char *model_name;
    zf_shape input;
    int classes;
    size_t params;
    const char *train_description;
    int train_images, test_images; /* test_images -1: no test set */
    int resumed;                   /* continuing a saved state ... */
    int epoch_done, next_batch;    /* ... from after this epoch, at this batch */
    const char *out;
    const char *train_spec; /* the training set as named in the configuration in force */
    zf_precision precision; /* what the run computes in (fp32 or bf16: auto resolved) */
} zf_train_info;

/* One epoch's results (zf_train_options.on_epoch), after its checkpoints were written. */
typedef struct zf_epoch_report {
    int epoch, epochs;
    double lr, loss;   /* the rate used, the mean training loss */
    int has_test;      /* the two below are set */
    double top1, top5; /* on the test set, 0..1 */
    double img_per_s, data_wait_s, elapsed_s;
    int renorm; /* renormalisation is on; renorm_fired counts every rescale */
    long renorm_fired;
    int lr_dropped; /* the plateau schedule divided the rate by 10 after this epoch */
    double next_lr;
    int patience;
    /* every epoch of the run so far (for curves): n entries each; acc in percent, NAN
     * without a test set */
    int n;
    const double *hist_epoch, *hist_loss, *hist_acc;
} zf_epoch_report;

typedef struct zf_train_options {
    const char *model;            /* preset or model file (zfnet-mini) */
    const char *train;            /* training set spec (fashion-mnist) */
    const char *test;             /* evaluated after every epoch; NULL or "none": no test set */
    const char *out;              /* the run folder (zfnet-run) */
    zf_model_overrides overrides; /* zero: channels and classes from the data */
    int epochs, batch;            /* 30, 128 */
    double lr, momentum, weight_decay; /* 0.05, 0.9, 5e-4 */
    int lr_steps[32], nlr_steps;       /* divide the rate by 10 after these epochs (20, 26) */
    int lr_plateau, patience;      /* instead /10 when test accuracy stalls `patience` epochs (2) */
    double renorm;                 /* ZF §3 filter-RMS radius, 0 = off (0) */
    int crop_pad, flip;            /* random crops from the image padded by crop_pad (2); mirror */
    double input_scale;            /* input = (pixel - mean) * input_scale (1/255) */
    zf_init_scheme init;           /* (ZF_INIT_HE) */
    double init_std;               /* ZF_INIT_GAUSSIAN's std */
    uint64_t seed;                 /* (1) */
    int threads;                   /* compute threads (0: all) */
    zf_precision precision;        /* (ZF_PRECISION_FP32); taken from here on resume */
    int loader_threads;            /* (2) */
    int data_size;                 /* folders and shards: short side (256) */
    int mean_images;               /* images averaged for the mean (0: all) */
    int stop_on_bad;               /* an unreadable image stops the run */
    int snapshots[64], nsnapshots; /* keep epoch-E.safetensors for these epochs */
    double state_every; /* save the resumable state mid-epoch this often, seconds (300) */
    /* resume: continue the run saved in `out` with its saved configuration (epochs > 0
     * changes the length; threads and loader_threads are taken from here). overwrite: start
     * again even if `out` holds a run. Neither: `out` must not hold a run. */
    int resume, overwrite;
    /* A NaN or an Inf in the loss, a gradient or the weights stops the run at that step
     * (ZF_ERR_DIVERGED, naming the step, the tensor and the last good state); with
     * lower_on_diverge the last state is reloaded, the rate divided by 10, and the run goes
     * on (at most 3 times). Taken from here on resume. */
    int lower_on_diverge;
    /* When *stop becomes non-zero (a signal handler may set it), the state is saved after
     * the current step and the run ends with ZF_ERR_CANCELLED. Taken from here on resume. */
    volatile int *stop;
    zf_callbacks cb;
    /* Before the first epoch, with ctx. */
    void (*on_start)(void *ctx, const zf_train_info *info);
    /* After each epoch, with ctx; a non-zero return stops the run (ZF_ERR_CANCELLED), its
     * state saved. */
    int (*on_epoch)(void *ctx, const zf_epoch_report *r);
    void *ctx;
    /* Data-parallel over MPI (zf_dist_init; NULL: one process): every rank calls zf_train with
     * the same options; batch is each rank's part (the global batch is batch x ranks, and the
     * run is the one process's run with that batch); rank 0 alone writes `out` and calls cb,
     * on_start and on_epoch. Gradients are summed in buckets of bucket_mb (25) MB, each started
     * while the backward pass goes on below it unless no_overlap. */
    zf_dist *dist;
    int no_overlap;
    double bucket_mb;
} zf_train_options;

/* The demo-scale defaults above. */
ZF_API void zf_train_defaults(zf_train_options *o);

typedef struct zf_train_result {
    int epochs; /* the run's length */
    int epochs_done;
    int trained; /* epochs trained by this call (0: the run had already finished) */
    int has_test;
    double test_accuracy; /* after the last epoch (0..1) */
    double best_accuracy; /* the best epoch's, written as best.safetensors */
    int best_epoch;
    double seconds; /* the run's training time (with its per-epoch evaluation), over resumes */
    /* data-parallel: the lowest rank that failed (-1: none; the others' errors follow from
     * it: only its message is worth showing); steps this call trained, the seconds of their
     * backward passes and this rank's wait for the gradient sums after them; the buckets */
    int error_rank;
    int steps;
    double backward_s, allreduce_wait_s;
    int buckets;
    double grad_bytes;
} zf_train_result;

/* Train (SGD with momentum and weight decay, step or plateau schedule, the paper's filter
 * renormalisation) into the run folder: last / best / epoch-E.safetensors, state.safetensors
 * (resumable exactly: weights, momentum, counters, configuration), metrics.jsonl. A run whose
 * epochs are all done is only evaluated. */
ZF_API zf_status zf_train(const zf_train_options *o, zf_train_result *res, zf_error *err);

/* ---- projections and Grad-CAM ------------------------------------------------------------ */

typedef enum zf_select {
    ZF_SELECT_STRONGEST = 0, /* the map holding the image's largest activation */
    ZF_SELECT_MAP,           /* one feature map */
    ZF_SELECT_UNIT           /* one activation */
} zf_select;

typedef struct zf_project_options {
    zf_rule rule;     /* (ZF_RULE_DECONVNET) */
    zf_lrn_rule lrn;  /* (ZF_LRN_DEFAULT: the rule's own) */
    zf_select select; /* what is kept of the layer's output; everything else is zeroed */
    int map, y, x;    /* the map (SELECT_MAP, SELECT_UNIT) and position (SELECT_UNIT) */
    int batch;        /* inputs per pass (16) */
} zf_project_options;

/* The defaults above (select ZF_SELECT_STRONGEST). */
ZF_API void zf_project_defaults(zf_project_options *o);

/* Project n inputs x (n, c, h, w) from layer `layer` down to the pixels: proj (n, c, h, w);
 * maps (n) the map used and values (n) its largest activation (the unit's for SELECT_UNIT);
 * maps and values may be NULL. The net is reserved for min(batch, n) inputs. A bf16 net
 * projects in float32 on a twin of itself over the same weights (made at the first call, freed
 * with the net) and its own state (reserved batch, outputs, input gradient) is left as it was. */
ZF_API zf_status zf_project(zf_net *net, int layer, const float *x, int n,
                            const zf_project_options *o, float *proj, int *maps, float *values,
                            zf_error *err);

/* Where Grad-CAM takes its activations for `layer`: the ReLU right after it when there is one
 * (A after the nonlinearity, as usual), else the layer. Fails when that is not a layer with
 * maps below the class scores. */
ZF_API zf_status zf_gradcam_layer(const zf_net *net, int layer, int *at, zf_error *err);
/* Grad-CAM at zf_gradcam_layer(layer) for class `klass` (< 0: each input's prediction):
 * ReLU(sum_k mean(dScore/dA_k) A_k), bilinearly upsampled to the input (align_corners
 * false): cam (n, 1, h, w); classes (n) the class used, probs (n) its probability (either may
 * be NULL). A bf16 net computes it in float32, on the twin zf_project uses. */
ZF_API zf_status zf_gradcam(zf_net *net, int layer, int klass, const float *x, int n, int batch,
                            float *cam, int *classes, float *probs, zf_error *err);

/* ---- the strongest activations of feature maps (top-9) -------------------------------- */

typedef struct zf_topk_entry {
    float value;
    int image;  /* dataset index; -1 when the set has fewer images than k */
    int y, x;   /* position in the layer's output */
    int wy, wx; /* after projection: the window's top-left corner in the input */
} zf_topk_entry;

/* One layer's chosen maps and, after a scan, their strongest activations. */
typedef struct zf_topk_layer {
    int layer;
    int nmaps, *maps;   /* the chosen maps, in increasing order */
    int k;              /* entries kept per map */
    zf_topk_entry *top; /* (nmaps, k), strongest first, at most one per image */
    int patch;          /* after zf_topk_project: the window side (the receptive field, or the
                           input's side when smaller) */
    float *proj;        /* (nmaps, k, c, patch, patch): each activation alone projected
                           (DeconvNet rule), cut to its receptive-field window */
    float *input;       /* (nmaps, k, c, patch, patch): the same window of the net input */
} zf_topk_layer;

/* The layers (names as zf_net_parse_layers; NULL: every conv layer) and maps (a list "3,17";
 * or NULL: nrandom of them chosen by a seeded shuffle per layer, all when nrandom >= the
 * layer's maps) to follow, k entries each. Free with zf_topk_free. */
ZF_API zf_status zf_topk_select(const zf_net *net, const char *layers, const char *maps,
                                int nrandom, uint64_t seed, int k, zf_topk_layer **out, int *n,
                                zf_error *err);
ZF_API void zf_topk_free(zf_topk_layer *ls, int n);

typedef struct zf_topk_options {
    int batch;          /* (64) */
    int loader_threads; /* (2) */
    const char *label;  /* for progress ("scanning") */
    zf_callbacks cb;
} zf_topk_options;

/* The defaults above. */
ZF_API void zf_topk_defaults(zf_topk_options *o);

/* One streaming pass over d (centre views, as p prepares them): per chosen map, the k
 * strongest activations, at most one per image (the image's maximum in that map). Memory: the
 * entries and one batch of activations. */
ZF_API zf_status zf_topk_scan(zf_net *net, const zf_data_prep *p, const zf_dataset *d,
                              zf_topk_layer *ls, int nl, const zf_topk_options *o, zf_error *err);
/* Project every entry of l alone to pixels (DeconvNet rule) and cut the receptive field's
 * window from the projection and from the input (proj, input, patch, wy/wx). */
ZF_API zf_status zf_topk_project(zf_net *net, const zf_data_prep *p, const zf_dataset *d,
                                 zf_topk_layer *l, const zf_topk_options *o, zf_error *err);

/* ---- first-layer filters (ZF Fig. 6 as numbers) -------------------------------------------- */

typedef struct zf_filter_stats {
    int layer; /* a conv layer */
    int filters, channels, size;
    int stride;  /* input pixels between neighbouring outputs (rf_stride) */
    double *rms; /* (filters) */
    double rms_min, rms_median, rms_max;
    int ndead, *dead;  /* filters with RMS below 10% of the median */
    double band[3];    /* spectral energy share: low [0,1/8), mid [1/8,1/4), high
                          [1/4,...) cycles per sample, averaged over filters */
    int peaks[3];      /* filters whose strongest frequency is in each band */
    double radial[16]; /* energy share per 0.05 cycles/sample of radius */
} zf_filter_stats;

/* Statistics of a conv layer's filters (layer < 0: the first conv layer): each filter
 * zero-padded to 32x32 (or the next power of two >= 2k), its power spectrum summed over
 * channels and normalised to 1. Free with zf_filter_stats_free. */
ZF_API zf_status zf_filter_stats_compute(const zf_net *net, int layer, zf_filter_stats *s,
                                         zf_error *err);
ZF_API void zf_filter_stats_free(zf_filter_stats *s);
/* The aliasing measure: the share of the spectral energy above 1/4 cycle per unit in the
 * (mean-removed) feature maps of layer `maps_layer` over `images` images spread evenly over d
 * (maps_layer < 0: the conv layer after `after`). *at gets the layer used. */
ZF_API zf_status zf_aliasing(zf_net *net, const zf_data_prep *p, const zf_dataset *d, int after,
                             int maps_layer, int images, int *at, double *share, zf_error *err);

/* ---- feature evolution across training snapshots (ZF Fig. 4) ------------------------------ */

/* The snapshots of a run folder: epoch-N.safetensors in epoch order, and last.safetensors when
 * it is later: *paths (n strings) and *epochs (n); free each path, then both arrays, with
 * zf_free. */
ZF_API zf_status zf_run_snapshots(const char *dir, char ***paths, int **epochs, int *n,
                                  zf_error *err);
/* The "epoch" a checkpoint records, or -1. */
ZF_API int zf_checkpoint_epoch(const char *path);

#define ZF_EVOLUTION_K 9 /* each map's top-9 is followed; its overlap is the robust measure */

typedef struct zf_evolution_layer {
    char name[32]; /* the layer's */
    int layer, nmaps, *maps;
    int patch;
    float *cells;         /* (nmaps, nck, c, patch, patch): each snapshot's strongest activation,
                             projected (DeconvNet rule), its receptive-field window */
    int *tops;            /* (nmaps, nck, 9): each snapshot's top-9 images, strongest first */
    double *overlap;      /* (nmaps, nck): share of the top-9 also in the last snapshot's */
    double *mean_overlap; /* (nck) over maps */
    int *stable_from;     /* (nmaps): the epoch from which the top image no longer changes */
    int median_stable, latest_stable;
} zf_evolution_layer;

typedef struct zf_evolution {
    int nck, *epochs;
    zf_shape input;
    int nl;
    zf_evolution_layer *layers;
} zf_evolution;

typedef struct zf_evolution_options {
    const char *layers, *maps; /* as zf_topk_select (NULL: every conv layer / nrandom maps) */
    int nrandom;               /* (8) */
    uint64_t seed;             /* (1) */
    int batch, loader_threads, threads; /* (64, 2, 0: all cores) */
    zf_precision precision;             /* (ZF_PRECISION_FP32) */
    zf_callbacks cb;                    /* ZF_NOTICE_INFO "evolution: epoch N done" each */
} zf_evolution_options;

/* The defaults above. */
ZF_API void zf_evolution_defaults(zf_evolution_options *o);

/* For every checkpoint (with its epoch), one pass over the dataset `data` (opened as the first
 * checkpoint's training data) follows the chosen maps. Free with zf_evolution_free. */
ZF_API zf_status zf_evolution_run(const char *const *checkpoints, const int *epochs, int n,
                                  const char *data, const zf_evolution_options *o, zf_evolution *ev,
                                  zf_error *err);
ZF_API void zf_evolution_free(zf_evolution *ev);

/* ---- occlusion sensitivity (ZF Fig. 7) ------------------------------------------------------ */

/* What the square holds, as net input (c, h, w): grey level `pixel` (0..255) prepared as p
 * prepares images (mean subtracted, scaled); pixel < 0: the data mean itself (input 0). */
ZF_API zf_status zf_occlusion_fill(const zf_data_prep *p, zf_shape in, double pixel, float *fill,
                                   zf_error *err);

typedef struct zf_occlusion_options {
    int size, stride;  /* the square's side and step in input pixels */
    const float *fill; /* (c, h, w) input values under the square; NULL: 0 (the data mean) */
    int layer;         /* panel (b)'s layer (< 0: the top conv layer); its maps are read after
                          the ReLU that follows it, when one does */
    int map;           /* its map (< 0: the one holding the unoccluded image's largest
                          activation) */
    int batch;         /* occluded copies per pass (32): memory grows with it */
    int plain;         /* every occluded copy through the whole net (the reference); default:
                          only what the square changes is computed */
    zf_callbacks cb;
} zf_occlusion_options;

/* The defaults above (fill NULL, plain 0). */
ZF_API void zf_occlusion_defaults(zf_occlusion_options *o);

/* One image's maps over the grid, (ny, nx) each: ZF Fig. 7 (b), (d), (e). The squares' grid:
 * a size x size square at every `stride` pixels, wholly inside the image, the grid centred
 * (the (h - size) mod stride rows left over are split between the top and the bottom, the
 * same for columns): square (i, j) covers rows y0 + i * stride .. + size and columns
 * x0 + j * stride .. + size, i < ny, j < nx. */
typedef struct zf_occlusion_result {
    int ny, nx, y0, x0, size, stride; /* the grid, as zf_occlusion_grid */
    int layer;                        /* where the maps were read (the ReLU after o->layer) */
    int map, klass;                   /* the map followed, the class whose probability is */
    float base_activation, base_prob; /* without the square: the map's total, klass's p */
    int base_label;                   /* and the prediction */
    float *activation;                /* (b) the map's total activation (summed over space) */
    float *prob;                      /* (d) klass's probability */
    int *label;                       /* (e) the most probable class ... */
    float *label_prob;                /* ... and its probability */
} zf_occlusion_result;

/* Occlusion maps of n inputs x (n, c, h, w); classes (n): each input's class for (d), or NULL
 * (entries < 0 too): its prediction. r: n results (free each with zf_occlusion_result_free).
 * Progress counts squares. Both ways give the same numbers (to float rounding). */
ZF_API zf_status zf_occlusion(zf_net *net, const float *x, int n, const int *classes,
                              const zf_occlusion_options *o, zf_occlusion_result *r, zf_error *err);
ZF_API void zf_occlusion_result_free(zf_occlusion_result *r);

/* The numbers behind a result. Drops are base_prob - prob, counted where positive. */
typedef struct zf_occlusion_summary {
    float max_drop;    /* the largest probability drop ... */
    int max_y, max_x;  /* ... with its square's centre (input pixels) */
    int has_object;    /* the rest need an object mask */
    double drop_share; /* share of the summed drops on the object (each square's drop
                          weighted by the part of it that covers the object) */
    double area_share; /* that share if drops were even: the squares' mean cover */
    double drop_on;    /* mean drop with the square's centre on the object */
    double drop_off;   /* ... and with the whole square off it (NAN when no square is) */
} zf_occlusion_summary;

/* object: (h, w) non-zero on the object (the input's size), or NULL. */
ZF_API void zf_occlusion_summarize(const zf_occlusion_result *r, const uint8_t *object, int h,
                                   int w, zf_occlusion_summary *s);

/* ---- invariance (ZF Fig. 5) -------------------------------------------------------------- */

typedef enum zf_transform {
    ZF_TRANSFORM_TRANSLATE = 0, /* vertical shift, input pixels (positive: down) */
    ZF_TRANSFORM_SCALE,         /* about the centre (1: identity) */
    ZF_TRANSFORM_ROTATE         /* about the centre, degrees (positive: counter-clockwise) */
} zf_transform;

/* "translate", "scale", "rotate" <-> the transform. */
ZF_API zf_status zf_transform_parse(const char *name, zf_transform *out, zf_error *err);
ZF_API const char *zf_transform_name(zf_transform t);
/* dst (c, h, w) = src transformed by value v: each output pixel centre mapped back into src
 * (about the centre (w/2, h/2) in pixel-edge coordinates), sampled bilinearly; a point
 * outside the pixel centres' hull takes `fill` (c, h, w) there (NULL: 0). */
ZF_API void zf_transform_image(zf_transform t, double v, zf_shape s, const float *src,
                               const float *fill, float *dst);

typedef struct zf_invariance_options {
    zf_transform transform; /* (ZF_TRANSFORM_ROTATE) */
    double from, to;        /* the range of values ... (0, 360) */
    int steps;              /* ... in this many even steps, both ends included (17) */
    const int *layers;      /* (nlayers) feature vectors: these layers' outputs, after their ReLU
                               when one follows (no default: set them) */
    int nlayers;
    int batch; /* (32) */
    zf_callbacks cb;
} zf_invariance_options;

/* The defaults above. */
ZF_API void zf_invariance_defaults(zf_invariance_options *o);

/* One image's curves. */
typedef struct zf_invariance_result {
    int steps, nlayers, klass;
    double *values;   /* (steps) */
    double *distance; /* (nlayers, steps): Euclidean distance of the feature vectors of the
                         transformed and the original image */
    float *prob;      /* (steps) the class's probability */
    int *label;       /* (steps) the prediction */
    float base_prob;  /* without a transform */
} zf_invariance_result;

/* The transform applied to each input as pixels (x / scale + mean, as p prepares them), the
 * uncovered pixels the mean, prepared again: curves for n inputs x; classes (n) or NULL (the
 * untransformed prediction). inputs, when not NULL, gets the transformed inputs (n, steps,
 * c, h, w). Free each result with zf_invariance_result_free. */
ZF_API zf_status zf_invariance(zf_net *net, const zf_data_prep *p, const float *x, int n,
                               const int *classes, const zf_invariance_options *o,
                               zf_invariance_result *r, float *inputs, zf_error *err);
ZF_API void zf_invariance_result_free(zf_invariance_result *r);
/* Summary of n results of one call: per layer (r2: nlayers) the R^2 of a line through every
 * (distance from the identity, feature distance) point, the distance from the identity being
 * |v| (translate), |v - 1| (scale) or the angle to the nearest multiple of 360 (rotate); the
 * mean probability drop base_prob - prob at the first and the last value. */
ZF_API zf_status zf_invariance_summarize(const zf_invariance_result *r, int n, zf_transform t,
                                         double *r2, double *drop_from, double *drop_to,
                                         zf_error *err);

/* ---- correspondence (ZF Fig. 8, Table 1) ------------------------------------------------- */

typedef struct zf_rect {
    int x0, y0, x1, y1; /* input pixels, [x0, x1) x [y0, y1) */
} zf_rect;

/* Delta_l for n images, each with its rectangle masked by fill (c, h, w, NULL: 0, the mean):
 * eps_i = f_l(x_i) - f_l(masked x_i) at each of the nl layers (after their ReLU when one
 * follows), Delta_l = sum over ordered pairs i != j of the Hamming distance between
 * sign(eps_i) and sign(eps_j) (signs -1, 0, +1), divided by n (n - 1) and by the feature
 * vector's length: 0 when every image changes the same way, 1 when no sign agrees.
 * delta: (nl). */
ZF_API zf_status zf_correspondence(zf_net *net, const float *x, int n, const zf_rect *rects,
                                   const float *fill, const int *layers, int nl, double *delta,
                                   zf_error *err);
/* The control: `repeats` times, every image masked by a w x h rectangle at its own random
 * place (seeded); the mean and standard deviation of Delta_l over the repeats (nl each). */
ZF_API zf_status zf_correspondence_random(zf_net *net, const float *x, int n, int w, int h,
                                          const float *fill, const int *layers, int nl, int repeats,
                                          uint64_t seed, double *mean, double *std, zf_error *err);

/* ---- what the features are worth: transfer, few-shot learning, linear probes (ZF §5) ------ */

/* n training examples per class drawn at random (seeded) from d's labels, class by class (0:
 * every example): *idx (*count entries; free with zf_free). A class holding fewer than n
 * fails naming it. */
ZF_API zf_status zf_draw_per_class(const zf_dataset *d, int n, uint64_t seed, int **idx, int *count,
                                   zf_error *err);
/* The paper's measure (Tables 4-7): the mean over classes of each class's accuracy, classes
 * with no example left out; per_class (classes, NAN for those) may be NULL. */
ZF_API double zf_per_class_accuracy(const int *pred, const int *labels, int n, int classes,
                                    double *per_class);

typedef enum zf_transfer_mode {
    ZF_TRANSFER_FROZEN = 0, /* layers up to `freeze` kept as trained, the rest trained on, with
                               a new classifier (the paper's layers 1-7 frozen + new softmax) */
    ZF_TRANSFER_FINETUNE,   /* every layer trained from the checkpoint, a new classifier; the
                               pretrained layers at base_lr_scale times the rate */
    ZF_TRANSFER_SCRATCH     /* the same net re-initialised (He) and trained on the target set
                               alone (the paper's "non-pretrained" rows) */
} zf_transfer_mode;

typedef struct zf_transfer_options {
    const char *checkpoint;   /* the pretrained net; its data mean and scale prepare the target
                                 images (opened at its image size and channels) */
    const char *train, *test; /* the target set's training and test splits (dataset specs) */
    zf_transfer_mode mode;
    const char *freeze; /* FROZEN: the last frozen layer: a name, or a number n: the paper's
                           layer n (the n-th conv or fc layer with the ReLU, pooling, LRN and
                           dropout layers up to the next one); NULL: the layer below the last
                           fc */
    int per_class;      /* training images drawn per class for each fold (0: all of them) */
    int folds;          /* draws (5): fold f uses seed mix(seed, f) */
    int test_per_class; /* up to the first M test images of each class (0: all) */
    int steps, batch;   /* SGD steps (500) of this many examples (64, fewer if the fold has) */
    double lr, momentum, weight_decay; /* (0.01, 0.9, 5e-4); lr / 10 after 50% and 75% */
    double base_lr_scale;              /* FINETUNE: the pretrained layers' factor (0.1) */
    int crop_pad;  /* FINETUNE, SCRATCH: random crops from the image padded by this (< 0: the
                      checkpoint's); FROZEN trains on centre views */
    int flip;      /* FINETUNE, SCRATCH: mirror half of the crops (0: digits are not symmetric) */
    int cache;     /* FROZEN: layer `freeze`'s outputs computed once per image and the rest
                      trained on them, dropout on (1); 0: every step through the whole net in
                      inference mode (no dropout anywhere) with the frozen layers' rate 0: the
                      reference, equal when the trained layers hold no dropout (the default
                      freeze) */
    uint64_t seed; /* (1) */
    int threads;   /* (0: all) */
    zf_precision precision; /* (ZF_PRECISION_FP32) */
    const char *save;       /* the first fold's trained net written here as a checkpoint, or NULL */
    zf_callbacks cb;
} zf_transfer_options;

/* The defaults above. */
ZF_API void zf_transfer_defaults(zf_transfer_options *o);

typedef struct zf_transfer_result {
    int folds, classes;
    int freeze;                    /* FROZEN: the last frozen layer */
    int train_images, test_images; /* per fold */
    double *accuracy;              /* (folds) mean per-class accuracy on the test images, 0..1 */
    double *class_accuracy;        /* (folds, classes) */
    double mean, std;              /* over the folds (std with n - 1; 0 for one fold) */
    double seconds;                /* the whole call ... */
    double feature_seconds;        /* ... of which computing cached features */
} zf_transfer_result;

/* Train on the target set `folds` times, each on its own draw of per_class images per class,
 * and score each fold's net on the test images. Free with zf_transfer_result_free. */
ZF_API zf_status zf_transfer(const zf_transfer_options *o, zf_transfer_result *r, zf_error *err);
ZF_API void zf_transfer_result_free(zf_transfer_result *r);

/* Linear classifiers on feature rows (the probes' and anyone's). Rows are standardised with
 * the training rows' per-feature mean and standard deviation; constant features (standard
 * deviation at most 1e-6 max(1, |mean|): float rounding) become 0. */
typedef enum zf_classifier {
    ZF_CLASSIFIER_SOFTMAX = 0, /* multinomial logistic regression: an fc + softmax trained by
                                  SGD (500 steps of 64, rate 0.01, momentum 0.9, /10 after 50%
                                  and 75%); reg is the weight decay */
    ZF_CLASSIFIER_SVM          /* liblinear's L2-regularised squared-hinge SVM, one against the
                                  rest, dual coordinate descent, tolerance 1e-4, a bias feature
                                  of 1: scikit-learn's LinearSVC; reg is C */
} zf_classifier;

/* "softmax", "svm" <-> the classifier. */
ZF_API zf_status zf_classifier_parse(const char *name, zf_classifier *out, zf_error *err);
ZF_API const char *zf_classifier_name(zf_classifier c);

typedef struct zf_linear zf_linear;
/* Train on x (n, dim) with labels y (n) in [0, classes); seed: SGD's order and start, or
 * (SVM) srand's seed for liblinear's order of examples (C's rand() is reseeded); threads: the
 * softmax's compute threads (0: all). */
ZF_API zf_status zf_linear_train(zf_classifier kind, const float *x, const int *y, int n, int dim,
                                 int classes, double reg, uint64_t seed, int threads,
                                 zf_linear **out, zf_error *err);
/* The predicted class of each row of x (n, dim). */
ZF_API zf_status zf_linear_predict(const zf_linear *m, const float *x, int n, int *pred,
                                   zf_error *err);
ZF_API void zf_linear_free(zf_linear *m);

typedef enum zf_pool { ZF_POOL_NONE = 0, ZF_POOL_MAX, ZF_POOL_AVG } zf_pool;
/* "none", "max", "avg" <-> the pooling. */
ZF_API zf_status zf_pool_parse(const char *name, zf_pool *out, zf_error *err);
ZF_API const char *zf_pool_name(zf_pool p);
/* Maps x (n, s) pooled to grid x grid cells per channel as PyTorch's adaptive pooling: cell i
 * covers rows floor(i h / grid) .. ceil((i + 1) h / grid), the same for columns. out (n, s.c,
 * grid, grid); NONE copies (n, s). */
ZF_API void zf_pool_maps(const float *x, int n, zf_shape s, zf_pool pool, int grid, float *out);

typedef struct zf_probe_options {
    const char *checkpoint;   /* the trained net; its data mean and scale prepare the images */
    const char *train, *test; /* the probed set's splits */
    const char *layers;       /* "conv1,fc7" (read after their ReLU); NULL: every conv and fc
                                 layer below the last */
    int svm, softmax;         /* which classifiers (both 1 by default) */
    zf_pool pool;             /* conv layers' maps pooled (MAX) ... */
    int grid;                 /* ... to grid x grid cells per channel (4); fc layers as they are */
    int per_class, folds, test_per_class; /* as zf_transfer_options (30, 5, 0) */
    double holdout; /* the share of each class's training images (at least one) held out to
                       choose reg from the grid below, then trained on with all (0.2); with one
                       image per class the middle value is used */
    const double *svm_c, *softmax_wd; /* the grids (NULL: 1e-4 .. 1 by 10x; 1e-5 .. 1e-1) */
    int nsvm_c, nsoftmax_wd;
    uint64_t seed;
    int threads;
    zf_precision precision; /* (ZF_PRECISION_FP32) */
    zf_callbacks cb;
} zf_probe_options;

/* The defaults above. */
ZF_API void zf_probe_defaults(zf_probe_options *o);

typedef struct zf_probe_result {
    int nlayers, folds, classes, train_images, test_images;
    int *layers;        /* (nlayers) the layers probed (read after their ReLU) */
    int *dims;          /* (nlayers) feature length after pooling */
    double *accuracy;   /* (2, nlayers, folds) mean per-class accuracy, [zf_classifier]; NAN for a
                           classifier not run */
    double *reg;        /* (2, nlayers, folds) the regularisation chosen */
    double *mean, *std; /* (2, nlayers) over the folds */
    double seconds, feature_seconds;
} zf_probe_result;

/* Per fold (its own draw), every chosen layer's features of the drawn training images and of
 * the test images, one classifier of each kind trained on them and scored by mean per-class
 * accuracy. Free with zf_probe_result_free. */
ZF_API zf_status zf_probe(const zf_probe_options *o, zf_probe_result *r, zf_error *err);
ZF_API void zf_probe_result_free(zf_probe_result *r);

/* ---- ablations (ZF Table 3) ---------------------------------------------------------------- */

/* One variant of a base model: a name and zf_model_edit's edits ("" for the base itself). */
typedef struct zf_variant {
    char name[64];
    char *edits;
    int line; /* in the variants file */
} zf_variant;

/* A variants file: one variant per line, "NAME: EDITS" (EDITS as zf_model_edit, ';' between
 * them; nothing after the colon: the base model unchanged); '#' starts a comment. NAME is
 * letters, digits, '-', '_' and '.', unique. Errors name the file and line. Free with
 * zf_variants_free. */
ZF_API zf_status zf_variants_parse(const char *text, const char *filename, zf_variant **out, int *n,
                                   zf_error *err);
ZF_API zf_status zf_variants_load(const char *path, zf_variant **out, int *n, zf_error *err);
ZF_API void zf_variants_free(zf_variant *v, int n);

/* Table 3's row for one variant. */
typedef struct zf_ablation_row {
    char name[64];
    size_t params;
    double train_top1; /* error on the training set (centre crops), 0..1 */
    double test_top1, test_top5;
    double seconds;       /* the variant's training (with its per-epoch evaluation), over resumes */
    double epoch_seconds; /* the median epoch's (from its metrics.jsonl): on a shared machine
                             steadier than the total; epochs x this estimates an unloaded run */
    int epochs;
    int reused; /* finished before this call: read back from its folder */
} zf_ablation_row;

typedef struct zf_ablation_options {
    zf_train_options train; /* the recipe: model (the base), data, seeds; out holds one run
                               folder per variant (OUT/NAME) */
    const zf_variant *variants;
    int nvariants;
    /* After each variant, with train.ctx; a non-zero return stops (ZF_ERR_CANCELLED). */
    int (*on_variant)(void *ctx, const zf_ablation_row *row, int i, int n);
} zf_ablation_options;

/* zf_train_defaults' recipe, no variants. */
ZF_API void zf_ablation_defaults(zf_ablation_options *o);

/* Every variant trained with the same recipe, data and seed into OUT/NAME (its model as
 * OUT/NAME/model.cfg) and scored with its last checkpoint: the training set's top-1 error and
 * the test set's top-1 and top-5. A variant whose OUT/NAME/variant.json exists is not trained
 * again; one interrupted is resumed. The base model is opened with the data's channels and
 * classes before the edits. rows: nvariants. */
ZF_API zf_status zf_ablate(const zf_ablation_options *o, zf_ablation_row *rows, zf_error *err);

/* ---- gradient checks ---------------------------------------------------------------------- */

/* The whole net, He-initialised with `seed`, on a random batch of n (inputs and labels drawn
 * from *state, which advances): the loss and the time of one forward pass and of the backward
 * pass from the loss. The net is reserved for n. */
ZF_API zf_status zf_check_net(zf_net *net, int n, uint64_t seed, unsigned *state, double *loss,
                              double *forward_ms, double *backward_ms, zf_error *err);
/* Layer i of `net` built alone, He-initialised (bias 0.1), on a random batch of n: its
 * backward pass against central differences of <dy, f(x)> along a random direction, in the
 * input (rel[0]) and in the parameters (rel[1]; 0 when it has none). ReLU inputs are drawn
 * away from 0 and pooling inputs without near-ties. `state` seeds and advances the draws. */
ZF_API zf_status zf_check_layer(const zf_net *net, int i, int n, unsigned *state, double rel[2],
                                zf_error *err);

#ifdef __cplusplus
}
#endif
#endif
