/* zfnet evolution: for chosen feature maps, the strongest activation over a dataset at each
 * of several checkpoints of one run, projected to pixels, one column per epoch (ZF Fig. 4),
 * and for each layer the epoch after which its top images stop changing. */
#include "topk.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: zfnet evolution (--run DIR | --checkpoints A,B,...) [--data SPEC] [--layers L,...]\n"
    "                       [--maps K,... | --random N] [--seed S] [-o OUT] [--threads T]\n\n"
    "For every checkpoint (--run: DIR's epoch-N.safetensors snapshots, in epoch order, and\n"
    "last.safetensors when it is later), one pass over the dataset (default\n"
    "fashion-mnist:test) finds, for each chosen map, the strongest activation; it is projected\n"
    "to pixels (DeconvNet rule) and its receptive-field window kept. OUT (zfnet-evolution) gets\n"
    "<layer>.png: one row per map, one column per epoch; and evolution.json. The summary prints,\n"
    "per layer and epoch, how many of each map's top-9 images are also in the last epoch's\n"
    "top-9 (mean over maps), and the epoch from which each map's top image no longer changes\n"
    "(median and latest over the maps): lower layers settle first (ZF 4.3).\n"
    "  --layers  default: every conv layer;  --random N maps per layer, seeded (default 8)\n";

#define K 9 /* the top-9 of every map is kept; its overlap across epochs is the robust measure */

typedef struct ckpt {
    char *path;
    int epoch;
} ckpt;

static int by_epoch(const void *a, const void *b) {
    return ((const ckpt *)a)->epoch - ((const ckpt *)b)->epoch;
}

static int epoch_of(const char *path) {
    zf_st_file *f;
    zf_error err;
    if (zf_st_open(&f, path, &err)) return -1;
    const char *e = zf_st_meta(f, "epoch");
    int v = e ? atoi(e) : -1;
    zf_st_close(f);
    return v;
}

static int list_run(const char *dir, ckpt **out, int *n) {
    DIR *d = opendir(dir);
    if (!d) return cli_error("%s: cannot read: %s", dir, strerror(errno));
    struct dirent *e;
    int cap = 0, last_epoch = -1;
    *n = 0, *out = NULL;
    while ((e = readdir(d))) {
        int ep;
        char tail[8];
        if (sscanf(e->d_name, "epoch-%d.safetens%7s", &ep, tail) != 2 || strcmp(tail, "ors"))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            ckpt *g = realloc(*out, sizeof(ckpt) * cap);
            if (!g) break;
            *out = g;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        (*out)[*n].path = strdup(path), (*out)[(*n)++].epoch = ep;
    }
    closedir(d);
    char path[4200];
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    last_epoch = epoch_of(path);
    int have = 0;
    for (int i = 0; i < *n; i++) have |= (*out)[i].epoch == last_epoch;
    if (last_epoch > 0 && !have) {
        ckpt *g = realloc(*out, sizeof(ckpt) * (*n + 1));
        if (g) *out = g, g[*n].path = strdup(path), g[(*n)++].epoch = last_epoch;
    }
    if (*n) qsort(*out, (size_t)*n, sizeof(ckpt), by_epoch);
    return *n >= 1 ? 0
                   : cli_error("%s: no epoch-N.safetensors snapshots (train with "
                               "--snapshot-epochs)",
                               dir);
}

int evolution_run(const char *run, const char *list, const char *data, const char *layers,
                  const char *maps, int nrandom, uint64_t seed, int threads, const char *dir) {
    ckpt *cks = NULL;
    int nck = 0, rc = 1, nl = 0, *idx = NULL;
    topk_layer *ls = NULL;
    uint8_t **cells = NULL; /* per layer: (nmaps, nck, c, P, P) */
    int **tops = NULL;      /* per layer: (nmaps, nck, K) image indices, strongest first */
    zf_dataset *d = NULL;
    json_t *out = json_object();
    if (run) {
        if (list_run(run, &cks, &nck)) goto done;
    } else {
        char *copy = strdup(list), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
             t = strtok_r(NULL, ",", &save)) {
            ckpt *g = realloc(cks, sizeof(ckpt) * (nck + 1));
            if (!g) break;
            cks = g, cks[nck].path = strdup(t), cks[nck].epoch = epoch_of(t);
            if (cks[nck++].epoch < 0) cks[nck - 1].epoch = nck;
        }
        free(copy);
    }
    if (!nck) {
        cli_error("no checkpoints");
        goto done;
    }
    mkdir(dir, 0755);
    for (int c = 0; c < nck; c++) {
        zf_net *net;
        data_prep p;
        if (open_trained(cks[c].path, threads, &net, &p)) goto done;
        zf_shape in = zf_net_input_shape(net);
        if (!d) {
            zf_dataset_options o = {.size = p.shape.h, .channels = p.shape.c};
            zf_error err;
            if (zf_dataset_open(&d, data, &o, &err) || parse_layers(net, layers, &idx, &nl) ||
                !(ls = calloc((size_t)nl, sizeof *ls)) ||
                !(cells = calloc((size_t)nl, sizeof *cells)) ||
                !(tops = calloc((size_t)nl, sizeof *tops))) {
                if (!d) cli_error("%s", err.msg);
                zf_net_free(net), data_prep_free(&p);
                goto done;
            }
            for (int t = 0; t < nl; t++) {
                zf_layer_info li;
                zf_net_layer_info(net, idx[t], &li);
                ls[t].layer = idx[t];
                if (choose_maps(maps, nrandom, seed, idx[t], li.out.c, &ls[t].maps, &ls[t].nmaps) ||
                    !(ls[t].top = malloc(sizeof(topk_entry) * ls[t].nmaps * K)) ||
                    !(tops[t] = malloc(sizeof(int) * ls[t].nmaps * nck * K))) {
                    zf_net_free(net), data_prep_free(&p);
                    goto done;
                }
            }
        }
        char label[64];
        snprintf(label, sizeof label, "epoch %d: scanning", cks[c].epoch);
        int bad = topk_scan(net, d, &p, ls, nl, K, 64, 2, label);
        for (int t = 0; !bad && t < nl; t++) {
            free(ls[t].proj), free(ls[t].pix);
            ls[t].proj = ls[t].pix = NULL;
            bad = topk_project(net, d, &p, &ls[t], K, 64);
            size_t pp = (size_t)in.c * ls[t].patch * ls[t].patch;
            if (!bad && !cells[t] && !(cells[t] = calloc((size_t)ls[t].nmaps * nck, pp)))
                bad = cli_error("out of memory");
            for (int m = 0; !bad && m < ls[t].nmaps; m++) {
                memcpy(cells[t] + pp * ((size_t)m * nck + c), ls[t].proj + pp * m * K, pp);
                for (int j = 0; j < K; j++)
                    tops[t][(m * nck + c) * K + j] = ls[t].top[m * K + j].image;
            }
        }
        printf("evolution: epoch %d done\n", cks[c].epoch);
        if (c == nck - 1 && !bad) { /* pictures and the summary, with the last net's geometry */
            printf(
                "each map's top-9 images: share also in the last epoch's top-9 (mean over maps)\n");
            printf("%-8s %5s", "layer", "maps");
            for (int e = 0; e < nck; e++) printf("  e%-4d", cks[e].epoch);
            printf("  %s\n", "top-1 image fixed from epoch (median, latest)");
            json_t *jl = json_object();
            for (int t = 0; t < nl && !bad; t++) {
                zf_layer_info li;
                zf_net_layer_info(net, ls[t].layer, &li);
                int P = ls[t].patch, zoom = vis_zoom(P, 40), gap = 2;
                int *settle = malloc(sizeof(int) * ls[t].nmaps);
                double *overlap = calloc((size_t)nck, sizeof(double));
                canvas cv;
                if (!settle || !overlap ||
                    canvas_new(&cv, nck * (P * zoom + gap) + gap,
                               ls[t].nmaps * (P * zoom + gap) + gap, 255)) {
                    free(settle), free(overlap);
                    bad = 1;
                    break;
                }
                size_t pp = (size_t)in.c * P * P;
                json_t *jm = json_array();
                for (int m = 0; m < ls[t].nmaps; m++) {
                    const int *tm = tops[t] + (size_t)m * nck * K;
                    for (int e = 0; e < nck; e++)
                        canvas_paste(&cv, cells[t] + pp * ((size_t)m * nck + e), in.c, P, P,
                                     gap + e * (P * zoom + gap), gap + m * (P * zoom + gap), zoom);
                    int from = 0; /* the first checkpoint from which the top image stays */
                    for (int e = nck - 1; e > 0; e--)
                        if (tm[e * K] != tm[(e - 1) * K]) {
                            from = e;
                            break;
                        }
                    settle[m] = cks[from].epoch;
                    json_t *ti = json_array(), *ov = json_array();
                    for (int e = 0; e < nck; e++) {
                        int same = 0, have = 0;
                        for (int a = 0; a < K; a++) {
                            if (tm[e * K + a] < 0) continue;
                            have++;
                            for (int b = 0; b < K; b++)
                                same += tm[e * K + a] == tm[(nck - 1) * K + b];
                        }
                        double o = have ? (double)same / have : 0;
                        overlap[e] += o / ls[t].nmaps;
                        json_array_append_new(ti, json_integer(tm[e * K]));
                        json_array_append_new(ov, json_real(o));
                    }
                    json_array_append_new(jm,
                                          json_pack("{s:i, s:o, s:o, s:i}", "map", ls[t].maps[m],
                                                    "top_image", ti, "top9_overlap_with_last", ov,
                                                    "stable_from_epoch", settle[m]));
                }
                char path[4200];
                snprintf(path, sizeof path, "%s/%s.png", dir, li.name);
                bad = canvas_save(&cv, path);
                canvas_free(&cv);
                for (int i = 1; i < ls[t].nmaps; i++)
                    for (int j = i; j > 0 && settle[j - 1] > settle[j]; j--) {
                        int tmp = settle[j];
                        settle[j] = settle[j - 1], settle[j - 1] = tmp;
                    }
                printf("%-8s %5d", li.name, ls[t].nmaps);
                json_t *jo = json_array();
                for (int e = 0; e < nck; e++) {
                    printf("  %4.0f%%", 100 * overlap[e]);
                    json_array_append_new(jo, json_real(overlap[e]));
                }
                printf("  %d, %d\n", settle[ls[t].nmaps / 2], settle[ls[t].nmaps - 1]);
                json_object_set_new(jl, li.name,
                                    json_pack("{s:o, s:o, s:i, s:i}", "maps", jm,
                                              "mean_top9_overlap_with_last", jo,
                                              "median_stable_from", settle[ls[t].nmaps / 2],
                                              "latest_stable_from", settle[ls[t].nmaps - 1]));
                free(settle), free(overlap);
            }
            json_t *je = json_array();
            for (int e = 0; e < nck; e++) json_array_append_new(je, json_integer(cks[e].epoch));
            json_object_set_new(out, "epochs", je);
            json_object_set_new(out, "layers", jl);
        }
        zf_net_free(net), data_prep_free(&p);
        if (bad) goto done;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/evolution.json", dir);
    if (write_json(path, out)) goto done;
    printf("evolution: %d checkpoints; pictures and %s\n", nck, path);
    rc = 0;
done:
    for (int t = 0; ls && t < nl; t++) {
        topk_layer_free(&ls[t]);
        if (cells) free(cells[t]);
        if (tops) free(tops[t]);
    }
    for (int c = 0; c < nck; c++) free(cks[c].path);
    free(cks), free(ls), free(cells), free(tops), free(idx);
    zf_dataset_free(d);
    json_decref(out);
    return rc;
}

int cmd_evolution(int argc, char **argv) {
    static const struct option opts[] = {{"run", required_argument, 0, 'R'},
                                         {"checkpoints", required_argument, 0, 'c'},
                                         {"data", required_argument, 0, 'd'},
                                         {"layers", required_argument, 0, 'l'},
                                         {"maps", required_argument, 0, 'm'},
                                         {"random", required_argument, 0, 'r'},
                                         {"seed", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *run = NULL, *list = NULL, *data = "fashion-mnist:test", *dir = "zfnet-evolution";
    map_choice mc = {.nrandom = 8, .seed = 1};
    long threads = 0;
    optind = 0;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) switch (ch) {
        case 'R':
            run = optarg;
            break;
        case 'c':
            list = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            if ((rc = map_choice_option(&mc, ch, optarg)) >= 0) {
                if (rc) return rc;
                break;
            }
            return cli_usage_error("evolution", "bad option");
        }
    if (optind != argc)
        return cli_usage_error("evolution", "unexpected argument '%s'", argv[optind]);
    if (!run == !list)
        return cli_usage_error("evolution", "give --run DIR or --checkpoints A,B,...");
    return evolution_run(run, list, data, mc.layers, mc.maps, (int)mc.nrandom, mc.seed,
                         (int)threads, dir);
}
