/* The strongest activations of chosen feature maps over a dataset, and their projections:
 * the engine behind top9 (ZF Fig. 2) and evolution (Fig. 4). */
#ifndef ZF_TOPK_H
#define ZF_TOPK_H

#include "vis.h"

#include <jansson.h>

typedef struct topk_entry {
    float value;
    int image, y, x; /* dataset index, position in the layer's output */
} topk_entry;

typedef struct topk_layer {
    int layer, nmaps, *maps;
    topk_entry *top;     /* (nmaps, k), strongest first; value -INFINITY when unfilled */
    int patch;           /* side of the receptive-field patch shown (<= the input's side) */
    uint8_t *proj, *pix; /* after topk_project: (nmaps, k, c, patch, patch) each */
} topk_layer;

/* One streaming pass: per map, the k strongest activations, at most one per image (the
 * image's maximum). Memory: the k entries per map and one batch of activations. */
int topk_scan(zf_net *net, const zf_dataset *d, const data_prep *p, topk_layer *ls, int nl, int k,
              int batch, int loaders, const char *label);
/* Project every entry's single activation to pixels (DeconvNet rule) and cut the receptive
 * field's window from the projection and from the input. */
int topk_project(zf_net *net, const zf_dataset *d, const data_prep *p, topk_layer *l, int k,
                 int batch);
void topk_layer_free(topk_layer *l);
/* The centre view of dataset image `img` as the net's input (as the loader makes it). */
void prep_centre(const uint8_t *img, zf_shape ds, const data_prep *p, zf_shape in, float *x);
/* "conv1,conv2" -> layer indices; "all-conv" / NULL -> every conv layer. */
int parse_layers(const zf_net *net, const char *list, int **out, int *n);

/* Maps to show for a layer of `channels` maps: the list given, or nrandom chosen with a
 * seeded shuffle (all when nrandom >= channels), in increasing order. */
int choose_maps(const char *list, int nrandom, uint64_t seed, int layer, int channels, int **out,
                int *n);
/* The layer and map selection shared by top9 and evolution: --layers, --maps, --random, --seed
 * (option codes 'l', 'm', 'r', 's'). */
typedef struct map_choice {
    const char *layers, *maps;
    long nrandom;
    uint64_t seed;
} map_choice;

/* 0 handled, 2 bad value, -1 not a selection option */
int map_choice_option(map_choice *mc, int ch, const char *arg);
/* json as indented text into path, atomically; prints the error */
int write_json(const char *path, json_t *j);

/* zfnet top9, callable from the demo. */
int top9_run(const char *weights, const char *data, const char *layers, const char *maps,
             int nrandom, uint64_t seed, int k, int batch, int threads, const char *dir);

/* zfnet filters, callable from the demo (data may be NULL: no aliasing measure). */
int filters_run(const char *weights, const char *layer, const char *data, const char *maps_layer,
                int images, int threads, const char *dir);

/* zfnet evolution, callable from the demo (run: a run folder; or list: comma-separated). */
int evolution_run(const char *run, const char *list, const char *data, const char *layers,
                  const char *maps, int nrandom, uint64_t seed, int threads, const char *dir);

#endif
