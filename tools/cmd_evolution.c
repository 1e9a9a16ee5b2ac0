/* zfnet evolution: chosen feature maps across the snapshots of one run (zf_evolution_run), one
 * column per epoch (ZF Fig. 4), the top-9 overlap table and evolution.json. */
#include "draw.h"
#include "output.h"

#include <stdlib.h>
#include <string.h>

static const cli_command evolution_cmd = {
    "evolution",
    "(--run DIR | --checkpoints A,B,...) [--data SPEC] [--layers L,...]\n"
    "                       [--maps K,... | --random N] [--seed S] [-o OUT] [--threads T]",
    "For every checkpoint (--run: DIR's epoch-N.safetensors snapshots, in epoch order, and\n"
    "last.safetensors when it is later), one pass over the dataset (default\n"
    "fashion-mnist:test) finds, for each chosen map, the strongest activation; it is projected\n"
    "to pixels (DeconvNet rule) and its receptive-field window kept. OUT (zfnet-evolution) gets\n"
    "<layer>.png: one row per map, one column per epoch; and evolution.json. The summary prints,\n"
    "per layer and epoch, how many of each map's top-9 images are also in the last epoch's\n"
    "top-9 (mean over maps), and the epoch from which each map's top image no longer changes\n"
    "(median and latest over the maps): lower layers settle first (ZF 4.3).\n"};

#define K ZF_EVOLUTION_K

/* one row per map, one column per snapshot */
static int draw_layer(const zf_evolution *ev, const zf_evolution_layer *l, const char *path) {
    int P = l->patch, zoom = vis_zoom(P, 40), gap = 2, c = ev->input.c, nck = ev->nck;
    size_t pp = (size_t)c * P * P;
    uint8_t *tile = malloc(pp);
    canvas cv;
    if (!tile) return cli_error("out of memory");
    if (canvas_new(&cv, nck * (P * zoom + gap) + gap, l->nmaps * (P * zoom + gap) + gap, 255))
        return free(tile), 1;
    for (int m = 0; m < l->nmaps; m++)
        for (int e = 0; e < nck; e++) {
            if (l->tops[((size_t)m * nck + e) * K] >= 0)
                vis_signed(l->cells + pp * ((size_t)m * nck + e), c, P, P, tile);
            else
                memset(tile, 0, pp);
            canvas_paste(&cv, tile, c, P, P, gap + e * (P * zoom + gap), gap + m * (P * zoom + gap),
                         zoom);
        }
    int rc = canvas_save(&cv, path);
    canvas_free(&cv);
    free(tile);
    return rc;
}

static json_t *layer_json(const zf_evolution *ev, const zf_evolution_layer *l) {
    json_t *jm = json_array(), *jo = json_array();
    for (int m = 0; m < l->nmaps; m++) {
        json_t *ti = json_array(), *ov = json_array();
        for (int e = 0; e < ev->nck; e++) {
            json_array_append_new(ti, json_integer(l->tops[((size_t)m * ev->nck + e) * K]));
            json_array_append_new(ov, json_real(l->overlap[(size_t)m * ev->nck + e]));
        }
        json_array_append_new(jm, json_pack("{s:i, s:o, s:o, s:i}", "map", l->maps[m], "top_image",
                                            ti, "top9_overlap_with_last", ov, "stable_from_epoch",
                                            l->stable_from[m]));
    }
    for (int e = 0; e < ev->nck; e++) json_array_append_new(jo, json_real(l->mean_overlap[e]));
    return json_pack("{s:o, s:o, s:i, s:i}", "maps", jm, "mean_top9_overlap_with_last", jo,
                     "median_stable_from", l->median_stable, "latest_stable_from",
                     l->latest_stable);
}

/* the table, the pictures and the JSON */
static int write_results(const zf_evolution *ev, const char *dir, json_t *out) {
    printf("each map's top-9 images: share also in the last epoch's top-9 (mean over maps)\n");
    printf("%-8s %5s", "layer", "maps");
    for (int e = 0; e < ev->nck; e++) printf("  e%-4d", ev->epochs[e]);
    printf("  %s\n", "top-1 image fixed from epoch (median, latest)");
    json_t *jl = json_object(), *je = json_array();
    int rc = 0;
    for (int t = 0; !rc && t < ev->nl; t++) {
        const zf_evolution_layer *l = &ev->layers[t];
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.png", dir, l->name);
        rc = draw_layer(ev, l, path);
        printf("%-8s %5d", l->name, l->nmaps);
        for (int e = 0; e < ev->nck; e++) printf("  %4.0f%%", 100 * l->mean_overlap[e]);
        printf("  %d, %d\n", l->median_stable, l->latest_stable);
        json_object_set_new(jl, l->name, layer_json(ev, l));
    }
    for (int e = 0; e < ev->nck; e++) json_array_append_new(je, json_integer(ev->epochs[e]));
    json_object_set_new(out, "epochs", je);
    json_object_set_new(out, "layers", jl);
    return rc;
}

/* --checkpoints A,B,...: each with its recorded epoch, or its position */
static int list_checkpoints(const char *list, char ***paths, int **epochs, int *n) {
    int cap = 1;
    for (const char *c = list; *c; c++) cap += *c == ',';
    *paths = calloc((size_t)cap, sizeof(char *)), *epochs = calloc((size_t)cap, sizeof(int));
    if (!*paths || !*epochs) return cli_error("out of memory");
    *n = 0;
    for (const char *t = list; *t;) {
        size_t len = strcspn(t, ",");
        if (len && ((*paths)[*n] = strndup(t, len))) {
            int e = zf_checkpoint_epoch((*paths)[*n]);
            (*epochs)[*n] = e >= 0 ? e : *n + 1;
            (*n)++;
        }
        t += len + (t[len] == ',');
    }
    return *n ? 0 : cli_error("no checkpoints");
}

static int evolution_run(const char *run, const char *list, const char *data, const map_choice *mc,
                         int threads, const char *dir) {
    char **paths = NULL;
    int *epochs = NULL, n = 0, rc = 1;
    zf_error err;
    zf_evolution ev = {0};
    zf_evolution_options o;
    zf_evolution_defaults(&o);
    o.layers = mc->layers;
    o.maps = mc->maps;
    o.nrandom = mc->nrandom;
    o.seed = mc->seed;
    o.batch = 64;
    o.loader_threads = 2;
    o.threads = threads;
    o.precision = cli_precision;
    o.cb = cli_callbacks(stdout);
    json_t *out = json_object();
    if (run ? zf_run_snapshots(run, &paths, &epochs, &n, &err) && cli_fail(&err)
            : list_checkpoints(list, &paths, &epochs, &n))
        goto done;
    if (make_dir(dir)) goto done;
    if (zf_evolution_run((const char *const *)paths, epochs, n, data, &o, &ev, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/evolution.json", dir);
    if (write_results(&ev, dir, out) || write_json(path, out)) goto done;
    printf("evolution: %d checkpoints; pictures and %s\n", n, path);
    rc = 0;
done:
    for (int i = 0; i < n; i++) zf_free(paths[i]);
    zf_free(paths), zf_free(epochs);
    zf_evolution_free(&ev);
    json_decref(out);
    return rc;
}

int cmd_evolution(int argc, char **argv) {
    const char *run = NULL, *list = NULL, *data = "fashion-mnist:test", *dir = "zfnet-evolution";
    map_choice mc = {.nrandom = 8, .seed = 1};
    int threads = 0;
    const cli_opt own[] = {
        {"run", CLI_STR, &run, "DIR", "a run folder: its snapshots"},
        {"checkpoints", CLI_STR, &list, "A,B,...", "or these checkpoints, in this order"},
        {"data", CLI_STR, &data, "SPEC", "the dataset (fashion-mnist:test)"},
        CLI_OUTPUT(&dir, "the output folder (zfnet-evolution)"),
        CLI_THREADS(&threads),
        CLI_PRECISION,
        {0}};
    int npos,
        rc = cli_parse_maps(&evolution_cmd, own, &mc, "layers to follow (every conv layer)",
                            "N maps per layer, chosen by a seeded shuffle (8)", argc, argv, &npos);
    if (rc >= 0) return rc;
    if (!run == !list)
        return cli_usage_error("evolution", "give --run DIR or --checkpoints A,B,...");
    return evolution_run(run, list, data, &mc, threads, dir);
}
