/* zfnet filters: the first layer's filters as a picture, and the numbers behind ZF Fig. 6:
 * per-filter RMS, dead filters, the radial frequency profile of the filters, and how much
 * high-frequency (aliasing) energy the second layer's feature maps carry. */
#include "topk.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: zfnet filters --weights W [--layer conv1] [--data SPEC [--maps-layer L] [--images N]]\n"
    "                     [-o DIR] [--threads T]\n\n"
    "Writes DIR/<layer>.png (zfnet-filters): every filter of the layer (first conv by default),\n"
    "each scaled to its own range, channels as RGB (or grey), and DIR/filters.json; prints:\n"
    "  - per-filter RMS (min, median, max) and the dead filters: RMS below 10% of the median\n"
    "  - the radial frequency profile: each filter zero-padded to 32x32 (or more), its power\n"
    "    spectrum summed over channels and normalised to 1, averaged over filters, in bands of\n"
    "    cycles per sample of the layer's input (input pixels for the first layer): low\n"
    "    [0, 1/8), mid [1/8, 1/4), high [1/4, ...); and how many filters peak in each band\n"
    "  - with --data: the share of spectral energy above 1/4 cycle per unit in the feature maps\n"
    "    of the next conv layer (or --maps-layer) over N (64) images: the aliasing measure\n"
    "    (AlexNet's stride-4 first layer leaves more of it than ZF's stride 2, ZF Fig. 6).\n";

/* |DFT|^2 of an n x n real image (separable, naive: n is small) added into pw. */
static void power2d(const double *img, int n, double *pw, double *re, double *im) {
    for (int y = 0; y < n; y++) /* rows */
        for (int u = 0; u < n; u++) {
            double r = 0, i = 0;
            for (int x = 0; x < n; x++) {
                double a = -2 * M_PI * u * x / n;
                r += img[y * n + x] * cos(a), i += img[y * n + x] * sin(a);
            }
            re[y * n + u] = r, im[y * n + u] = i;
        }
    for (int u = 0; u < n; u++) /* columns */
        for (int v = 0; v < n; v++) {
            double r = 0, i = 0;
            for (int y = 0; y < n; y++) {
                double a = -2 * M_PI * v * y / n, c = cos(a), s = sin(a);
                r += re[y * n + u] * c - im[y * n + u] * s;
                i += re[y * n + u] * s + im[y * n + u] * c;
            }
            pw[v * n + u] += r * r + i * i;
        }
}

/* radial frequency (cycles per sample) of bin (v, u) */
static double radius(int v, int u, int n) {
    double fv = (v <= n / 2 ? v : v - n) / (double)n, fu = (u <= n / 2 ? u : u - n) / (double)n;
    return sqrt(fv * fv + fu * fu);
}

static int band(double f) {
    return f < 0.125 ? 0 : f < 0.25 ? 1 : 2;
}

static int pow2_at_least(int v) {
    int n = 1;
    while (n < v) n *= 2;
    return n;
}

/* The high-frequency share of layer `at`'s maps over the first `images` images. */
static int aliasing(zf_net *net, const data_prep *p, const char *data, int at, int images,
                    double *share) {
    zf_dataset *d;
    zf_error err;
    zf_dataset_options o = {.size = p->shape.h, .channels = p->shape.c};
    if (zf_dataset_open(&d, data, &o, &err)) return cli_error("%s", err.msg);
    zf_shape in = zf_net_input_shape(net), ds = zf_dataset_shape(d);
    zf_layer_info li;
    zf_net_layer_info(net, at, &li);
    int n = images < zf_dataset_count(d) ? images : zf_dataset_count(d);
    int N = pow2_at_least(li.out.h > li.out.w ? li.out.h : li.out.w);
    size_t plane = (size_t)li.out.h * li.out.w, per = (size_t)in.c * in.h * in.w;
    float *x = malloc(sizeof(float) * per), *act = malloc(sizeof(float) * plane * li.out.c);
    uint8_t *img = malloc((size_t)ds.c * ds.h * ds.w);
    double *buf = calloc((size_t)N * N * 4, sizeof(double)), hi = 0, all = 0;
    int rc = x && act && img && buf ? 0 : cli_error("out of memory");
    if (!rc && zf_net_reserve(net, 1, &err)) rc = cli_error("%s", err.msg);
    for (int i = 0; !rc && i < n; i++) {
        int k = (int)((int64_t)i * zf_dataset_count(d) / n);
        if (zf_dataset_read(d, k, img, &err) ||
            (prep_centre(img, ds, p, in, x), zf_net_set_input(net, x, 1, &err)) ||
            zf_net_forward(net, ZF_MODE_INFER, at, &err) ||
            zf_net_read_output(net, at, act, &err)) {
            rc = cli_error("%s", err.msg);
            break;
        }
        for (int c = 0; c < li.out.c; c++) {
            double *g = buf, *pw = buf + N * N, *re = buf + 2 * N * N, *im = buf + 3 * N * N;
            double mean = 0;
            for (size_t q = 0; q < plane; q++) mean += act[c * plane + q];
            mean /= (double)plane;
            memset(g, 0, sizeof(double) * N * N * 2);
            for (int y = 0; y < li.out.h; y++) /* the map's variation: its mean removed */
                for (int xx = 0; xx < li.out.w; xx++)
                    g[y * N + xx] = act[c * plane + (size_t)y * li.out.w + xx] - mean;
            power2d(g, N, pw, re, im);
            for (int v = 0; v < N; v++)
                for (int u = 0; u < N; u++) {
                    all += pw[v * N + u];
                    if (radius(v, u, N) >= 0.25) hi += pw[v * N + u];
                }
        }
    }
    *share = all > 0 ? hi / all : 0;
    free(x), free(act), free(img), free(buf);
    zf_dataset_free(d);
    return rc;
}

int cmd_filters(int argc, char **argv) {
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'},
                                         {"layer", required_argument, 0, 'l'},
                                         {"data", required_argument, 0, 'd'},
                                         {"maps-layer", required_argument, 0, 'L'},
                                         {"images", required_argument, 0, 'n'},
                                         {"output", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *weights = NULL, *layer = NULL, *data = NULL, *maps_layer = NULL;
    const char *dir = "zfnet-filters";
    long images = 64, threads = 0;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) switch (ch) {
        case 'w':
            weights = optarg;
            break;
        case 'l':
            layer = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'L':
            maps_layer = optarg;
            break;
        case 'n':
            if (cli_parse_int("--images", optarg, 1, 1 << 20, &images)) return 2;
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
            return cli_usage_error("filters", "bad option");
        }
    if (optind != argc) return cli_usage_error("filters", "unexpected argument '%s'", argv[optind]);
    if (!weights) return cli_usage_error("filters", "--weights is required");
    return filters_run(weights, layer, data, maps_layer, (int)images, (int)threads, dir);
}

int filters_run(const char *weights, const char *layer, const char *data, const char *maps_layer,
                int images, int threads, const char *dir) {
    zf_net *net;
    data_prep p;
    if (open_checkpoint(weights, threads, &net, &p, data != NULL)) return 1;
    int rc = 1, *convs = NULL, nconv = 0, at = -1;
    json_t *out = json_object();
    double *rms = NULL, *buf = NULL;
    uint8_t *tile = NULL;
    if (parse_layers(net, NULL, &convs, &nconv)) goto done;
    at = layer ? zf_net_find_layer(net, layer) : nconv ? convs[0] : -1;
    zf_layer_info li;
    if (at >= 0) zf_net_layer_info(net, at, &li);
    if (at < 0 || li.kind != ZF_LAYER_CONV) {
        cli_error("%s: not a conv layer of model '%s'", layer ? layer : "(first conv)",
                  zf_model_name(zf_net_model(net)));
        goto done;
    }
    zf_param_info pi;
    char pname[80];
    snprintf(pname, sizeof pname, "%s.weight", li.name);
    zf_net_param_info(net, zf_net_find_param(net, pname), &pi);
    int F = (int)pi.shape[0], C = (int)pi.shape[1], K = (int)pi.shape[2];
    int N = pow2_at_least(K < 16 ? 32 : 2 * K);
    const float *w = zf_net_params(net) + pi.offset;
    size_t per = (size_t)C * K * K;
    rms = malloc(sizeof(double) * F);
    buf = calloc((size_t)N * N * 4, sizeof(double));
    tile = malloc(per);
    double prof[3] = {0}, radial[16] = {0};
    int peaks[3] = {0};
    if (!rms || !buf || !tile) {
        cli_error("out of memory");
        goto done;
    }
    for (int f = 0; f < F; f++) {
        double ss = 0;
        for (size_t q = 0; q < per; q++) ss += (double)w[f * per + q] * w[f * per + q];
        rms[f] = sqrt(ss / (double)per);
        double *g = buf, *pw = buf + N * N, *re = buf + 2 * N * N, *im = buf + 3 * N * N;
        memset(pw, 0, sizeof(double) * N * N);
        for (int c = 0; c < C; c++) {
            memset(g, 0, sizeof(double) * N * N);
            for (int y = 0; y < K; y++)
                for (int x = 0; x < K; x++) g[y * N + x] = w[f * per + ((size_t)c * K + y) * K + x];
            power2d(g, N, pw, re, im);
        }
        double total = 0, b[3] = {0}, best = -1;
        int peak = 0;
        for (int v = 0; v < N; v++)
            for (int u = 0; u < N; u++) {
                double r = radius(v, u, N), e = pw[v * N + u];
                total += e, b[band(r)] += e;
                if (e > best) best = e, peak = band(r);
            }
        for (int v = 0; v < N && total > 0; v++)
            for (int u = 0; u < N; u++) {
                int bin = (int)(radius(v, u, N) / 0.05);
                radial[bin < 15 ? bin : 15] += pw[v * N + u] / total / F;
            }
        for (int k = 0; k < 3; k++) prof[k] += total > 0 ? b[k] / total / F : 0;
        peaks[peak]++;
    }
    double *sorted = malloc(sizeof(double) * F);
    if (!sorted) {
        cli_error("out of memory");
        goto done;
    }
    memcpy(sorted, rms, sizeof(double) * F);
    for (int i = 1; i < F; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    double median = sorted[F / 2];
    int dead = 0;
    json_t *jr = json_array(), *jd = json_array(), *jrad = json_array();
    for (int f = 0; f < F; f++) {
        json_array_append_new(jr, json_real(rms[f]));
        if (rms[f] < 0.1 * median) dead++, json_array_append_new(jd, json_integer(f));
    }
    for (int k = 0; k < 11; k++) json_array_append_new(jrad, json_real(radial[k]));
    printf("%s: %d filters of %dx%dx%d, stride %d\n", li.name, F, C, K, K, li.rf_stride);
    printf("  RMS: min %.4g, median %.4g, max %.4g; dead (RMS < 10%% of median): %d\n", sorted[0],
           median, sorted[F - 1], dead);
    printf("  frequency energy (cycles/sample): low [0,1/8) %.1f%%, mid [1/8,1/4) %.1f%%, high "
           "[1/4,...) %.1f%%\n",
           100 * prof[0], 100 * prof[1], 100 * prof[2]);
    printf("  filters peaking in low / mid / high: %d / %d / %d\n", peaks[0], peaks[1], peaks[2]);
    free(sorted);
    json_object_set_new(out, "layer", json_string(li.name));
    json_object_set_new(out, "rms", jr);
    json_object_set_new(out, "dead", jd);
    json_object_set_new(out, "radial_energy_per_0.05_cycles", jrad);
    json_object_set_new(
        out, "band_energy",
        json_pack("{s:f, s:f, s:f}", "low", prof[0], "mid", prof[1], "high", prof[2]));
    json_object_set_new(
        out, "peak_band_counts",
        json_pack("{s:i, s:i, s:i}", "low", peaks[0], "mid", peaks[1], "high", peaks[2]));
    if (data) {
        int ml = -1;
        if (maps_layer)
            ml = zf_net_find_layer(net, maps_layer);
        else
            for (int k = 0; k < nconv; k++)
                if (convs[k] > at) {
                    ml = convs[k];
                    break;
                }
        if (ml < 0) {
            cli_error("%s: no such layer for the aliasing measure",
                      maps_layer ? maps_layer : "next conv");
            goto done;
        }
        double share = 0;
        if (aliasing(net, &p, data, ml, images, &share)) goto done;
        zf_layer_info ml_info;
        zf_net_layer_info(net, ml, &ml_info);
        printf("  aliasing: %.1f%% of the spectral energy of %s's maps is above 1/4 cycle per "
               "unit (%d images)\n",
               100 * share, ml_info.name, images);
        json_object_set_new(out, "aliasing",
                            json_pack("{s:s, s:f, s:i}", "layer", ml_info.name,
                                      "high_frequency_share", share, "images", images));
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        cli_error("%s: cannot create: %s", dir, strerror(errno));
        goto done;
    }
    int cols = F < 16 ? F : 16, rows = (F + cols - 1) / cols, zoom = vis_zoom(K, 36), gap = 2;
    canvas cv;
    if (canvas_new(&cv, cols * (K * zoom + gap) + gap, rows * (K * zoom + gap) + gap, 255))
        goto done;
    for (int f = 0; f < F; f++) {
        vis_minmax(w + f * per, C, K, K, tile);
        canvas_paste(&cv, tile, C == 3 ? 3 : 1, K, K, gap + (f % cols) * (K * zoom + gap),
                     gap + (f / cols) * (K * zoom + gap), zoom);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.png", dir, li.name);
    int bad = canvas_save(&cv, path);
    canvas_free(&cv);
    if (bad) goto done;
    snprintf(path, sizeof path, "%s/filters.json", dir);
    if (write_json(path, out)) goto done;
    printf("filters: %s/%s.png, %s\n", dir, li.name, path);
    rc = 0;
done:
    json_decref(out);
    free(convs), free(rms), free(buf), free(tile);
    data_prep_free(&p);
    zf_net_free(net);
    return rc;
}
