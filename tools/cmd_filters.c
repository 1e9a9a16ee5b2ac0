/* zfnet filters: the first layer's filters as a picture, and the numbers behind ZF Fig. 6
 * (zf_filter_stats_compute, zf_aliasing) printed and written as JSON. */
#include "draw.h"
#include "output.h"

#include <stdlib.h>
#include <string.h>

static const cli_command filters_cmd = {
    "filters",
    "--weights W [--layer conv1] [--data SPEC [--maps-layer L] [--images N]]\n"
    "                     [-o DIR] [--threads T]",
    "Writes DIR/<layer>.png (zfnet-filters): every filter of the layer (first conv by default),\n"
    "each scaled to its own range, channels as RGB (or grey), and DIR/filters.json; prints:\n"
    "  - per-filter RMS (min, median, max) and the dead filters: RMS below 10% of the median\n"
    "  - the radial frequency profile: each filter zero-padded to 32x32 (or more), its power\n"
    "    spectrum summed over channels and normalised to 1, averaged over filters, in bands of\n"
    "    cycles per sample of the layer's input (input pixels for the first layer): low\n"
    "    [0, 1/8), mid [1/8, 1/4), high [1/4, ...); and how many filters peak in each band\n"
    "  - with --data: the share of spectral energy above 1/4 cycle per unit in the feature maps\n"
    "    of the next conv layer (or --maps-layer) over N (64) images: the aliasing measure\n"
    "    (AlexNet's stride-4 first layer leaves more of it than ZF's stride 2, ZF Fig. 6).\n"};

static void print_stats(const zf_filter_stats *s, const char *name) {
    printf("%s: %d filters of %dx%dx%d, stride %d\n", name, s->filters, s->channels, s->size,
           s->size, s->stride);
    printf("  RMS: min %.4g, median %.4g, max %.4g; dead (RMS < 10%% of median): %d\n", s->rms_min,
           s->rms_median, s->rms_max, s->ndead);
    printf("  frequency energy (cycles/sample): low [0,1/8) %.1f%%, mid [1/8,1/4) %.1f%%, high "
           "[1/4,...) %.1f%%\n",
           100 * s->band[0], 100 * s->band[1], 100 * s->band[2]);
    printf("  filters peaking in low / mid / high: %d / %d / %d\n", s->peaks[0], s->peaks[1],
           s->peaks[2]);
}

static json_t *stats_json(const zf_filter_stats *s, const char *name) {
    json_t *out = json_object(), *jr = json_array(), *jd = json_array(), *jrad = json_array();
    for (int f = 0; f < s->filters; f++) json_array_append_new(jr, json_real(s->rms[f]));
    for (int k = 0; k < s->ndead; k++) json_array_append_new(jd, json_integer(s->dead[k]));
    for (int k = 0; k < 16; k++) json_array_append_new(jrad, json_real(s->radial[k]));
    json_object_set_new(out, "layer", json_string(name));
    json_object_set_new(out, "rms", jr);
    json_object_set_new(out, "dead", jd);
    json_object_set_new(out, "radial_energy_per_0.05_cycles", jrad);
    json_object_set_new(
        out, "band_energy",
        json_pack("{s:f, s:f, s:f}", "low", s->band[0], "mid", s->band[1], "high", s->band[2]));
    json_object_set_new(
        out, "peak_band_counts",
        json_pack("{s:i, s:i, s:i}", "low", s->peaks[0], "mid", s->peaks[1], "high", s->peaks[2]));
    return out;
}

/* every filter, each scaled to its own range, 16 to a row */
static int draw_filters(zf_net *net, const zf_filter_stats *s, const char *path) {
    zf_layer_info li;
    zf_param_info pi;
    char pname[80];
    zf_net_layer_info(net, s->layer, &li);
    snprintf(pname, sizeof pname, "%s.weight", li.name);
    zf_net_param_info(net, zf_net_find_param(net, pname), &pi);
    const float *w = zf_net_params(net) + pi.offset;
    int F = s->filters, C = s->channels, K = s->size;
    size_t per = (size_t)C * K * K;
    int cols = F < 16 ? F : 16, rows = (F + cols - 1) / cols, zoom = vis_zoom(K, 36), gap = 2;
    uint8_t *tile = malloc(per);
    canvas cv;
    if (!tile) return cli_error("out of memory");
    if (canvas_new(&cv, cols * (K * zoom + gap) + gap, rows * (K * zoom + gap) + gap, 255))
        return free(tile), 1;
    for (int f = 0; f < F; f++) {
        vis_minmax(w + f * per, C, K, K, tile);
        canvas_paste(&cv, tile, C == 3 ? 3 : 1, K, K, gap + (f % cols) * (K * zoom + gap),
                     gap + (f / cols) * (K * zoom + gap), zoom);
    }
    int rc = canvas_save(&cv, path);
    canvas_free(&cv);
    free(tile);
    return rc;
}

/* the aliasing measure on `data`, printed and added to out */
static int aliasing(zf_net *net, const zf_data_prep *p, const char *data, int after,
                    const char *maps_layer, int images, json_t *out) {
    int ml = -1, at;
    double share;
    zf_dataset *d = NULL;
    zf_error err;
    zf_layer_info li;
    if (maps_layer && (ml = zf_net_find_layer(net, maps_layer)) < 0)
        return cli_error("%s: no such layer for the aliasing measure", maps_layer);
    if (maps_layer && (zf_net_layer_info(net, ml, &li) || li.kind != ZF_LAYER_CONV))
        return cli_error("--maps-layer %s: not a conv layer (the aliasing measure looks at "
                         "feature maps)",
                         maps_layer);
    if (zf_data_prep_open(p, data, &d, &err) ||
        zf_aliasing(net, p, d, after, ml, images, &at, &share, &err)) {
        zf_dataset_free(d);
        return cli_fail(&err);
    }
    zf_dataset_free(d);
    zf_net_layer_info(net, at, &li);
    printf("  aliasing: %.1f%% of the spectral energy of %s's maps is above 1/4 cycle per unit "
           "(%d images)\n",
           100 * share, li.name, images);
    json_object_set_new(out, "aliasing",
                        json_pack("{s:s, s:f, s:i}", "layer", li.name, "high_frequency_share",
                                  share, "images", images));
    return 0;
}

static int filters_run(const char *weights, const char *layer, const char *data,
                       const char *maps_layer, int images, int threads, const char *dir) {
    zf_net *net;
    zf_data_prep p;
    zf_error err;
    zf_net_options no;
    cli_net_defaults(&no, threads);
    if (zf_checkpoint_open(weights, &no, &net, &p, &err) ||
        (data && zf_data_prep_need_mean(&p, &err)))
        return cli_fail(&err);
    int at = -1, rc = 1;
    zf_filter_stats s = {0};
    json_t *out = NULL;
    if (layer && (at = zf_net_find_layer(net, layer)) < 0) {
        cli_error("%s: not a conv layer of %s", layer, cli_model(net));
        goto done;
    }
    if (zf_filter_stats_compute(net, at, &s, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    zf_layer_info li;
    zf_net_layer_info(net, s.layer, &li);
    print_stats(&s, li.name);
    out = stats_json(&s, li.name);
    if (data && aliasing(net, &p, data, s.layer, maps_layer, images, out)) goto done;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.png", dir, li.name);
    if (make_dir(dir) || draw_filters(net, &s, path)) goto done;
    snprintf(path, sizeof path, "%s/filters.json", dir);
    if (write_json(path, out)) goto done;
    printf("filters: %s/%s.png, %s\n", dir, li.name, path);
    rc = 0;
done:
    json_decref(out);
    zf_filter_stats_free(&s);
    zf_data_prep_free(&p);
    zf_net_free(net);
    return rc;
}

int cmd_filters(int argc, char **argv) {
    const char *weights = NULL, *layer = NULL, *data = NULL, *maps_layer = NULL;
    const char *dir = "zfnet-filters";
    int images = 64, threads = 0;
    const cli_opt own[] = {
        {"weights", CLI_STR, &weights, "W", "a checkpoint", .required = 1},
        {"layer", CLI_STR, &layer, "NAME", "the conv layer (the first)"},
        {"data", CLI_STR, &data, "SPEC", "images for the aliasing measure"},
        {"maps-layer", CLI_STR, &maps_layer, "L", "whose maps it measures (the next conv layer)"},
        {"images", CLI_INT, &images, "N", "images it averages (64)", 1, 1 << 20},
        CLI_OUTPUT(&dir, "the output folder (zfnet-filters)"),
        CLI_THREADS(&threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&filters_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    return filters_run(weights, layer, data, maps_layer, images, threads, dir);
}
