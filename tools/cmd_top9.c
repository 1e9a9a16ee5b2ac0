/* zfnet top9: for chosen feature maps, the 9 strongest activations over a dataset, each
 * projected to pixels beside the input patch it sees (ZF Fig. 2): zf_topk_scan and
 * zf_topk_project, drawn as grids, and the entries as JSON. */
#include "draw.h"
#include "output.h"

#include <stdlib.h>
#include <string.h>

static const cli_command top9_cmd = {
    "top9",
    "--weights W [--data SPEC] [--layers L1,L2,...] [--maps K1,K2,... |\n"
    "                  --random N] [--seed S] [--top K] [--batch N] [-o DIR] [--threads T]",
    "One streaming pass over a dataset (default fashion-mnist:test; SPEC as in 'zfnet train\n"
    "--help', prepared as the checkpoint's training data) keeps, for each chosen feature map, the\n"
    "K (9) strongest activations, at most one per image (the image's maximum in that map). Each\n"
    "is then projected alone to pixels with the DeconvNet rule, and the receptive field of its\n"
    "unit (from the layer geometry) is cut from the projection and from the input. Per layer,\n"
    "DIR (zfnet-top9) gets <layer>.png: for each map a 3x3 block of projections (each scaled by\n"
    "the 99.5th percentile of its |values|, zero at mid-grey) beside the 3x3 input patches; and\n"
    "top9.json: per layer and map, each activation's image, position, value and the window's\n"
    "origin in the input (window_y, window_x; its side is the layer's patch), with each tile\n"
    "as a PNG of its own (tiles/<layer>-<map>-<rank>-proj.png and -patch.png) and each image's\n"
    "whole centre view (images/<index>.png), for 'zfnet report'.\n"};

/* one map's k entries as two 3-column blocks: projections, then input patches (black where
 * the set had fewer than k images) */
static void draw_map(canvas *cv, const zf_topk_layer *L, const zf_data_prep *p, zf_shape in, int m,
                     int cx, int cy, int zoom, uint8_t *tile) {
    int P = L->patch, t = P * zoom, gap = 2, side = 3;
    size_t pp = (size_t)in.c * P * P;
    for (int j = 0; j < L->k; j++) {
        int px = cx + (j % side) * (t + gap), py = cy + (j / side) * (t + gap);
        const size_t e = (size_t)m * L->k + j;
        const zf_topk_entry *en = &L->top[e];
        if (en->image >= 0)
            vis_signed(L->proj + pp * e, in.c, P, P, tile);
        else
            memset(tile, 0, pp);
        canvas_paste(cv, tile, in.c, P, P, px, py, zoom);
        if (en->image >= 0) /* the net input's window, back to pixels */
            zf_data_prep_pixels(p, in, L->input + pp * e, en->wy, en->wx, P, P, tile);
        canvas_paste(cv, tile, in.c, P, P, px + side * (t + gap) + gap, py, zoom);
    }
}

static int write_grid(const zf_topk_layer *L, const zf_data_prep *p, zf_shape in,
                      const char *path) {
    int P = L->patch, zoom = vis_zoom(P, 28), t = P * zoom, gap = 2, side = 3;
    int rows_per = (L->k + side - 1) / side, cellw = 2 * side * (t + gap) + 3 * gap;
    int cellh = rows_per * (t + gap) + 3 * gap, cols = L->nmaps < 4 ? L->nmaps : 4;
    int rows = (L->nmaps + cols - 1) / cols;
    canvas cv;
    uint8_t *tile = malloc((size_t)in.c * P * P);
    if (!tile) return cli_error("out of memory");
    if (canvas_new(&cv, cols * cellw + gap, rows * cellh + gap, 255)) return free(tile), 1;
    for (int m = 0; m < L->nmaps; m++)
        draw_map(&cv, L, p, in, m, (m % cols) * cellw + 2 * gap, (m / cols) * cellh + 2 * gap, zoom,
                 tile);
    int rc = canvas_save(&cv, path);
    canvas_free(&cv);
    free(tile);
    return rc;
}

/* one entry's tiles as PNG files under dir (tiles/L-M-J-proj.png, tiles/L-M-J-patch.png) and its
 * image's whole centre view (images/INDEX.png, once per image: `done` marks them) */
static int write_tiles(const char *dir, const char *name, const zf_topk_layer *L, int m, int j,
                       const zf_data_prep *p, const zf_dataset *d, zf_shape in, uint8_t *done,
                       json_t *entry) {
    int P = L->patch;
    zf_shape ds = zf_dataset_shape(d);
    size_t e = (size_t)m * L->k + j, pp = (size_t)in.c * P * P, whole = (size_t)in.c * in.h * in.w;
    const zf_topk_entry *en = &L->top[e];
    char path[4300], rel[300];
    uint8_t *px = malloc(whole), *img = malloc((size_t)ds.c * ds.h * ds.w);
    float *x = malloc(whole * sizeof(float));
    canvas cv = {0};
    zf_error err;
    int rc = !px || !img || !x ? cli_error("out of memory") : 0;
    const char *kind[2] = {"proj", "patch"};
    for (int t = 0; !rc && t < 2; t++) {
        if (t == 0) vis_signed(L->proj + pp * e, in.c, P, P, px);
        if (t == 1) zf_data_prep_pixels(p, in, L->input + pp * e, en->wy, en->wx, P, P, px);
        snprintf(rel, sizeof rel, "tiles/%s-%d-%d-%s.png", name, L->maps[m], j, kind[t]);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (!(rc = canvas_new(&cv, P, P, 0))) {
            canvas_paste(&cv, px, in.c, P, P, 0, 0, 1);
            rc = canvas_save(&cv, path);
            canvas_free(&cv);
        }
        json_object_set_new(entry, t ? "patch_png" : "proj_png", json_string(rel));
    }
    snprintf(rel, sizeof rel, "images/%d.png", en->image);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (!rc && !done[en->image]) {
        if (zf_dataset_read(d, en->image, img, &err) || zf_data_prep_input(p, ds, img, in, x, &err))
            rc = cli_fail(&err);
        else if (!(rc = canvas_new(&cv, in.w, in.h, 0))) {
            zf_data_prep_pixels(p, in, x, 0, 0, in.h, in.w, px);
            canvas_paste(&cv, px, in.c, in.h, in.w, 0, 0, 1);
            rc = canvas_save(&cv, path);
            canvas_free(&cv);
        }
        done[en->image] = 1;
    }
    json_object_set_new(entry, "input_png", json_string(rel));
    free(px), free(img), free(x);
    return rc;
}

static json_t *layer_json(const zf_net *net, const zf_dataset *d, const zf_topk_layer *L) {
    zf_layer_info li;
    zf_net_layer_info(net, L->layer, &li);
    json_t *jl = json_object(), *jm = json_array();
    json_object_set_new(jl, "rf_size", json_integer(li.rf_size));
    json_object_set_new(jl, "rf_stride", json_integer(li.rf_stride));
    json_object_set_new(jl, "rf_offset", json_integer(li.rf_offset));
    json_object_set_new(jl, "patch", json_integer(L->patch));
    for (int m = 0; m < L->nmaps; m++) {
        json_t *top = json_array();
        for (int j = 0; j < L->k; j++) {
            const zf_topk_entry *e = &L->top[(size_t)m * L->k + j];
            if (e->image < 0) continue;
            char name[4200];
            zf_dataset_item_name(d, e->image, name, sizeof name);
            json_array_append_new(top, json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:i, s:i}",
                                                 "image", name, "index", e->image, "label",
                                                 zf_dataset_label(d, e->image), "y", e->y, "x",
                                                 e->x, "value", (double)e->value, "window_y", e->wy,
                                                 "window_x", e->wx));
        }
        json_array_append_new(jm, json_pack("{s:i, s:o}", "map", L->maps[m], "top", top));
    }
    json_object_set_new(jl, "maps", jm);
    return jl;
}

/* the layer's entries in its JSON (layer_json) with their tile files */
static int layer_tiles(const char *dir, const char *name, const zf_topk_layer *L,
                       const zf_data_prep *p, const zf_dataset *d, zf_shape in, uint8_t *done,
                       json_t *jl) {
    json_t *jm = json_object_get(jl, "maps");
    for (int m = 0; m < L->nmaps; m++) {
        json_t *top = json_object_get(json_array_get(jm, (size_t)m), "top");
        for (int j = 0; j < (int)json_array_size(top); j++)
            if (write_tiles(dir, name, L, m, j, p, d, in, done, json_array_get(top, (size_t)j)))
                return 1;
    }
    return 0;
}

/* every layer projected, drawn and indexed */
static int project_all(zf_net *net, const zf_data_prep *p, const zf_dataset *d, zf_topk_layer *ls,
                       int nl, const zf_topk_options *o, const char *dir, json_t *index) {
    zf_error err;
    char path[4200];
    uint8_t *done = calloc((size_t)zf_dataset_count(d) + 1, 1);
    int rc = done ? 0 : cli_error("out of memory");
    snprintf(path, sizeof path, "%s/tiles", dir);
    if (!rc) rc = make_dir(path);
    snprintf(path, sizeof path, "%s/images", dir);
    if (!rc) rc = make_dir(path);
    for (int t = 0; !rc && t < nl; t++) {
        zf_layer_info li;
        zf_net_layer_info(net, ls[t].layer, &li);
        if (zf_topk_project(net, p, d, &ls[t], o, &err)) {
            rc = cli_fail(&err);
            break;
        }
        snprintf(path, sizeof path, "%s/%s.png", dir, li.name);
        if ((rc = write_grid(&ls[t], p, zf_net_input_shape(net), path))) break;
        json_t *jl = layer_json(net, d, &ls[t]);
        json_object_set_new(index, li.name, jl);
        rc = layer_tiles(dir, li.name, &ls[t], p, d, zf_net_input_shape(net), done, jl);
        printf("top9: %s: %d maps -> %s\n", li.name, ls[t].nmaps, path);
    }
    free(done);
    return rc;
}

/* every conv layer but the first (all of them when there is one), by name */
static char *conv_layers_but_first(const zf_net *net) {
    size_t cap = 4096, len = 0;
    char *list = calloc(cap, 1);
    int convs = 0, nconv = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        nconv += li.kind == ZF_LAYER_CONV;
    }
    for (int i = 0; list && i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        if (li.kind == ZF_LAYER_CONV && (convs++ || nconv == 1) && len + strlen(li.name) + 2 < cap)
            len += (size_t)snprintf(list + len, cap - len, "%s%s", len ? "," : "", li.name);
    }
    return list;
}

static int top9_run(const char *weights, const char *data, const map_choice *mc, int k, int batch,
                    int threads, const char *dir) {
    zf_net *net = NULL;
    zf_data_prep p = {0};
    zf_dataset *d = NULL;
    zf_topk_layer *ls = NULL;
    int nl = 0, rc = 1;
    zf_error err;
    zf_net_options no;
    cli_net_defaults(&no, threads);
    zf_topk_options o;
    zf_topk_defaults(&o);
    o.batch = batch;
    o.loader_threads = 2;
    o.label = "top9: scanning";
    o.cb = cli_callbacks(stdout);
    json_t *index = json_object();
    char *layers = NULL; /* the default: every conv layer but the first */
    if (zf_checkpoint_open(weights, &no, &net, &p, &err) || zf_data_prep_need_mean(&p, &err) ||
        zf_data_prep_open(&p, data, &d, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    if (!mc->layers && !(layers = conv_layers_but_first(net))) {
        cli_error("out of memory");
        goto done;
    }
    if (zf_topk_select(net, mc->layers ? mc->layers : layers, mc->maps, mc->nrandom, mc->seed, k,
                       &ls, &nl, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    if (make_dir(dir)) goto done;
    double t0 = cli_now();
    if (zf_topk_scan(net, &p, d, ls, nl, &o, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    double t1 = cli_now();
    printf("top9: %d images scanned in %.1f s\n", zf_dataset_count(d), t1 - t0);
    if (project_all(net, &p, d, ls, nl, &o, dir, index)) goto done;
    char path[4200];
    snprintf(path, sizeof path, "%s/top9.json", dir);
    zf_shape in = zf_net_input_shape(net);
    json_object_set_new(index, "input_shape", json_pack("[i,i,i]", in.c, in.h, in.w));
    if (write_json(path, index)) goto done;
    printf("top9: projections and patches in %.1f s; index %s\n", cli_now() - t1, path);
    rc = 0;
done:
    free(layers);
    zf_topk_free(ls, nl);
    json_decref(index);
    zf_dataset_free(d);
    zf_data_prep_free(&p);
    zf_net_free(net);
    return rc;
}

int cmd_top9(int argc, char **argv) {
    const char *weights = NULL, *data = "fashion-mnist:test", *dir = "zfnet-top9";
    map_choice mc = {.nrandom = 16, .seed = 1};
    int k = 9, batch = 64, threads = 0;
    const cli_opt own[] = {
        {"weights", CLI_STR, &weights, "W", "a checkpoint written by 'zfnet train'", .required = 1},
        {"data", CLI_STR, &data, "SPEC", "the dataset (fashion-mnist:test)"},
        {"top", CLI_INT, &k, "K", "activations kept per map (9)", 1, 100},
        CLI_BATCH(&batch, "images per pass (64)"),
        CLI_OUTPUT(&dir, "the output folder (zfnet-top9)"),
        CLI_THREADS(&threads),
        CLI_PRECISION,
        {0}};
    int npos,
        rc =
            cli_parse_maps(&top9_cmd, own, &mc, "layers to follow (every conv layer but the first)",
                           "N maps per layer, chosen by a seeded shuffle (16)", argc, argv, &npos);
    if (rc >= 0) return rc;
    return top9_run(weights, data, &mc, k, batch, threads, dir);
}
