/* zfnet top9: for chosen feature maps, the 9 strongest activations over a dataset, each
 * projected to pixels beside the input patch it sees (ZF Fig. 2). */
#include "topk.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: zfnet top9 --weights W [--data SPEC] [--layers L1,L2,...] [--maps K1,K2,... |\n"
    "                  --random N] [--seed S] [--top K] [--batch N] [-o DIR] [--threads T]\n\n"
    "One streaming pass over a dataset (default fashion-mnist:test; SPEC as in 'zfnet train\n"
    "--help', prepared as the checkpoint's training data) keeps, for each chosen feature map, the\n"
    "K (9) strongest activations, at most one per image (the image's maximum in that map). Each\n"
    "is then projected alone to pixels with the DeconvNet rule, and the receptive field of its\n"
    "unit (from the layer geometry) is cut from the projection and from the input. Per layer,\n"
    "DIR (zfnet-top9) gets <layer>.png: for each map a 3x3 block of projections (each scaled by\n"
    "its largest absolute value, zero at mid-grey) beside the 3x3 input patches; and top9.json:\n"
    "per layer and map, each activation's image, position, value and window.\n\n"
    "  --layers    default: every conv layer but the first (conv2..conv5 in ZFNet)\n"
    "  --maps      these maps in every chosen layer; --random N: N maps per layer, seeded (16)\n";

static int write_grid(const topk_layer *L, int k, int c, const char *path) {
    int P = L->patch, zoom = vis_zoom(P, 28), t = P * zoom, gap = 2, side = 3;
    int rows_per = (k + side - 1) / side, cellw = 2 * side * (t + gap) + 3 * gap;
    int cellh = rows_per * (t + gap) + 3 * gap, cols = L->nmaps < 4 ? L->nmaps : 4;
    int rows = (L->nmaps + cols - 1) / cols;
    canvas cv;
    if (canvas_new(&cv, cols * cellw + gap, rows * cellh + gap, 255)) return 1;
    size_t pp = (size_t)c * P * P;
    for (int m = 0; m < L->nmaps; m++) {
        int cx = (m % cols) * cellw + 2 * gap, cy = (m / cols) * cellh + 2 * gap;
        for (int j = 0; j < k; j++) {
            int px = cx + (j % side) * (t + gap), py = cy + (j / side) * (t + gap);
            const size_t e = (size_t)m * k + j;
            canvas_paste(&cv, L->proj + pp * e, c, P, P, px, py, zoom);
            canvas_paste(&cv, L->pix + pp * e, c, P, P, px + side * (t + gap) + gap, py, zoom);
        }
    }
    int rc = canvas_save(&cv, path);
    canvas_free(&cv);
    return rc;
}

int choose_maps(const char *list, int nrandom, uint64_t seed, int layer, int channels, int **out,
                int *n) {
    *out = malloc(sizeof(int) * (size_t)channels);
    *n = 0;
    if (!*out) return cli_error("out of memory");
    if (list) {
        char *copy = strdup(list), *save = NULL;
        long v;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
             t = strtok_r(NULL, ",", &save)) {
            if (cli_parse_int("--maps", t, 0, channels - 1, &v) || *n == channels) {
                free(copy);
                return 2;
            }
            (*out)[(*n)++] = (int)v;
        }
        free(copy);
        return 0;
    }
    for (int i = 0; i < channels; i++) (*out)[i] = i;
    uint64_t s = seed * 1000003u + (uint64_t)layer;
    for (int i = channels - 1; i > 0; i--) { /* seeded shuffle, keep the first nrandom */
        int j = (int)(zf_splitmix64(&s) % (uint64_t)(i + 1)), t = (*out)[i];
        (*out)[i] = (*out)[j], (*out)[j] = t;
    }
    *n = nrandom < channels ? nrandom : channels;
    for (int i = 1; i < *n; i++) /* in order, for reading the grids */
        for (int j = i; j > 0 && (*out)[j - 1] > (*out)[j]; j--) {
            int t = (*out)[j];
            (*out)[j] = (*out)[j - 1], (*out)[j - 1] = t;
        }
    return 0;
}

int top9_run(const char *weights, const char *data, const char *layers, const char *maps,
             int nrandom, uint64_t seed, int k, int batch, int threads, const char *dir) {
    zf_net *net = NULL;
    data_prep p;
    zf_dataset *d = NULL;
    topk_layer *ls = NULL;
    int *idx = NULL, nl = 0, rc = 1;
    if (open_trained(weights, threads, &net, &p)) return 1;
    json_t *index = json_object();
    zf_dataset_options o = {.size = p.shape.h, .channels = p.shape.c};
    zf_error err;
    if (zf_dataset_open(&d, data, &o, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (layers) {
        if (parse_layers(net, layers, &idx, &nl)) goto done;
    } else { /* every conv layer but the first */
        if (parse_layers(net, NULL, &idx, &nl)) goto done;
        if (nl > 1) memmove(idx, idx + 1, sizeof(int) * (size_t)--nl);
    }
    if (!(ls = calloc((size_t)nl, sizeof *ls))) {
        cli_error("out of memory");
        goto done;
    }
    for (int t = 0; t < nl; t++) {
        zf_layer_info li;
        zf_net_layer_info(net, idx[t], &li);
        ls[t].layer = idx[t];
        if (choose_maps(maps, nrandom, seed, idx[t], li.out.c, &ls[t].maps, &ls[t].nmaps))
            goto done;
        if (!(ls[t].top = malloc(sizeof(topk_entry) * (size_t)ls[t].nmaps * k))) {
            cli_error("out of memory");
            goto done;
        }
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        cli_error("%s: cannot create: %s", dir, strerror(errno));
        goto done;
    }
    double t0 = now_s();
    if (topk_scan(net, d, &p, ls, nl, k, batch, 2, "top9: scanning")) goto done;
    double t1 = now_s();
    printf("top9: %d images scanned in %.1f s\n", zf_dataset_count(d), t1 - t0);
    for (int t = 0; t < nl; t++) {
        zf_layer_info li;
        zf_net_layer_info(net, ls[t].layer, &li);
        if (topk_project(net, d, &p, &ls[t], k, batch)) goto done;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.png", dir, li.name);
        if (write_grid(&ls[t], k, zf_net_input_shape(net).c, path)) goto done;
        json_t *jl = json_object(), *jm = json_array();
        json_object_set_new(jl, "rf_size", json_integer(li.rf_size));
        json_object_set_new(jl, "rf_stride", json_integer(li.rf_stride));
        json_object_set_new(jl, "rf_offset", json_integer(li.rf_offset));
        json_object_set_new(jl, "patch", json_integer(ls[t].patch));
        for (int m = 0; m < ls[t].nmaps; m++) {
            json_t *top = json_array();
            for (int j = 0; j < k; j++) {
                const topk_entry *e = &ls[t].top[(size_t)m * k + j];
                if (e->image < 0) continue;
                char name[4200];
                zf_dataset_item_name(d, e->image, name, sizeof name);
                json_array_append_new(top, json_pack("{s:s, s:i, s:i, s:i, s:i, s:f}", "image",
                                                     name, "index", e->image, "label",
                                                     zf_dataset_label(d, e->image), "y", e->y, "x",
                                                     e->x, "value", (double)e->value));
            }
            json_array_append_new(jm, json_pack("{s:i, s:o}", "map", ls[t].maps[m], "top", top));
        }
        json_object_set_new(jl, "maps", jm);
        json_object_set_new(index, li.name, jl);
        printf("top9: %s: %d maps -> %s\n", li.name, ls[t].nmaps, path);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/top9.json", dir);
    if (write_json(path, index)) goto done;
    printf("top9: projections and patches in %.1f s; index %s\n", now_s() - t1, path);
    rc = 0;
done:
    for (int t = 0; ls && t < nl; t++) topk_layer_free(&ls[t]);
    free(ls), free(idx);
    json_decref(index);
    zf_dataset_free(d);
    data_prep_free(&p);
    zf_net_free(net);
    return rc;
}

int cmd_top9(int argc, char **argv) {
    static const struct option opts[] = {
        {"weights", required_argument, 0, 'w'}, {"data", required_argument, 0, 'd'},
        {"layers", required_argument, 0, 'l'},  {"maps", required_argument, 0, 'm'},
        {"random", required_argument, 0, 'r'},  {"seed", required_argument, 0, 's'},
        {"top", required_argument, 0, 'k'},     {"batch", required_argument, 0, 'b'},
        {"output", required_argument, 0, 'o'},  {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *weights = NULL, *data = "fashion-mnist:test", *dir = "zfnet-top9";
    map_choice mc = {.nrandom = 16, .seed = 1};
    long k = 9, batch = 64, threads = 0;
    optind = 0;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) switch (ch) {
        case 'w':
            weights = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'k':
            if (cli_parse_int("--top", optarg, 1, 100, &k)) return 2;
            break;
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 4096, &batch)) return 2;
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
            return cli_usage_error("top9", "bad option");
        }
    if (optind != argc) return cli_usage_error("top9", "unexpected argument '%s'", argv[optind]);
    if (!weights) return cli_usage_error("top9", "--weights is required");
    return top9_run(weights, data, mc.layers, mc.maps, (int)mc.nrandom, mc.seed, (int)k, (int)batch,
                    (int)threads, dir);
}
