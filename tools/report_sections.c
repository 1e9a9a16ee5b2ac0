/* zfnet report: the sections, in the paper's order. Each reads the files its command wrote (a
 * section whose files are missing is left out; one that cannot be read is said on stderr) and
 * writes HTML tables, inline SVG plots and pictures copied into the report's assets. */
#include "report.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small pieces -------------------------------------------------------------------------- */

/* <figure> with a copied picture (PNG or SVG) and its caption; nothing when it is missing */
static int figure(report *r, const char *rel, const char *caption, const char *cls) {
    char url[8400];
    if (!run_has(r, rel)) return 0;
    if (run_asset(r, rel, url, sizeof url)) return 1;
    fprintf(r->f, "<figure><img class='%s' src='", cls);
    h_text(r->f, url);
    fprintf(r->f, "' alt='");
    h_text(r->f, rel);
    fprintf(r->f, "'><figcaption>");
    h_text(r->f, caption);
    fprintf(r->f, "</figcaption></figure>\n");
    return 0;
}

/* "mean ± std" in percent of the members mean and std of o */
static void pct_pm(FILE *f, const json_t *o, const char *mean, const char *std) {
    char a[32], b[32];
    fprintf(f, "<td>%s", h_num(json_object_get(o, mean), 2, 100, a));
    if (json_is_number(json_object_get(o, std)))
        fprintf(f, " &plusmn; %s", h_num(json_object_get(o, std), 2, 100, b));
    fprintf(f, "</td>");
}

static void td_text(FILE *f, const char *s) {
    fprintf(f, "<td class='l'>");
    h_text(f, s ? s : "");
    fprintf(f, "</td>");
}

static void td_num(FILE *f, const json_t *v, int digits, double scale) {
    char b[32];
    fprintf(f, "<td>%s</td>", h_num(v, digits, scale, b));
}

/* ---- the model ----------------------------------------------------------------------------- */

static void model_table(report *r, zf_net *net) {
    FILE *f = r->f;
    fprintf(f, "<table>\n<tr><th class='l'>layer</th><th class='l'>kind</th><th>output</th>"
               "<th>parameters</th><th>MACs</th><th>receptive field</th><th>stride</th></tr>\n");
    unsigned long long params = 0, macs = 0;
    for (int i = 0; i < zf_net_num_layers(net); i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        char a[32], b[32];
        fprintf(f,
                "<tr><td class='l'>%s</td><td class='l'>%s</td><td>%dx%dx%d</td><td>%s</td>"
                "<td>%s</td><td>%d</td><td>%d</td></tr>\n",
                li.name, zf_layer_kind_name(li.kind), li.out.c, li.out.h, li.out.w,
                li.params ? cli_commas(a, li.params) : "-", li.macs ? cli_commas(b, li.macs) : "-",
                li.rf_size, li.rf_stride);
        params += li.params, macs += li.macs;
    }
    char a[32], b[32];
    fprintf(f,
            "<tr><th class='l' colspan='3'>total</th><th>%s</th><th>%s</th>"
            "<th colspan='2'></th></tr>\n</table>\n",
            cli_commas(a, params), cli_commas(b, macs));
    snprintf(r->params, sizeof r->params, "%s", a);
}

int section_model(report *r) {
    const char *rel = run_has(r, "best.safetensors")   ? "best.safetensors"
                      : run_has(r, "last.safetensors") ? "last.safetensors"
                                                       : NULL;
    if (!rel) return 0;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", r->run, rel);
    zf_net *net;
    zf_data_prep prep;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = 1;
    zf_error err;
    if (zf_checkpoint_open(path, &no, &net, &prep, &err)) {
        fprintf(stderr, "zfnet report: note: %s; the model is left out of the report\n", err.msg);
        r->notes++;
        return 0;
    }
    zf_shape in = zf_net_input_shape(net);
    zf_layer_info last;
    zf_net_layer_info(net, zf_net_num_layers(net) - 1, &last);
    section_begin(r, "model", "The model");
    fprintf(r->f, "<p>Input %dx%dx%d, %d classes", in.c, in.h, in.w, last.out.c);
    for (int k = 0; k < prep.classes && k < 40; k++) {
        fprintf(r->f, "%s", k ? ", " : ": ");
        h_text(r->f, zf_data_prep_class_name(&prep, k));
    }
    fprintf(r->f, ". Receptive fields and strides are in input pixels; MACs are multiply-adds "
                  "per image.</p>\n");
    model_table(r, net);
    const char *raw[] = {rel, NULL};
    provenance(r, NULL, raw);
    section_end(r);
    zf_data_prep_free(&prep);
    zf_net_free(net);
    return 0;
}

/* ---- training ------------------------------------------------------------------------------ */

typedef struct curves {
    int n;
    double *x, *loss, *lr, *acc; /* acc: (2, n) top-1 then top-5 in percent */
} curves;

/* a metric in percent, or NaN where it was not measured (-1: no test set) */
static double percent(const json_t *v) {
    return json_is_number(v) && json_number_value(v) >= 0 ? 100 * json_number_value(v) : NAN;
}

/* metrics.jsonl's epochs (lines that are not JSON objects are skipped); c->n 0 when none, or
 * out of memory */
static void read_metrics(report *r, curves *c) {
    char path[8400], line[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->run);
    FILE *f = zf_fopen_read(path, NULL);
    json_t *all = json_array();
    while (f && all && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (json_is_object(o)) json_array_append(all, o);
        json_decref(o);
    }
    if (f) fclose(f);
    size_t n = json_array_size(all);
    c->x = malloc(sizeof(double) * (n + 1)), c->loss = malloc(sizeof(double) * (n + 1));
    c->lr = malloc(sizeof(double) * (n + 1)), c->acc = malloc(sizeof(double) * 2 * (n + 1));
    c->n = c->x && c->loss && c->lr && c->acc ? (int)n : 0;
    for (int i = 0; i < c->n; i++) {
        const json_t *o = json_array_get(all, (size_t)i);
        c->x[i] = json_number_value(json_object_get(o, "epoch"));
        c->loss[i] = json_number_value(json_object_get(o, "train_loss"));
        c->lr[i] = json_number_value(json_object_get(o, "lr"));
        c->acc[i] = percent(json_object_get(o, "test_accuracy"));
        c->acc[c->n + i] = percent(json_object_get(o, "test_top5"));
    }
    json_decref(all);
}

static void curves_free(curves *c) {
    free(c->x), free(c->loss), free(c->acc), free(c->lr);
}

/* the three panels, inline */
static void curves_svg(report *r, const curves *c) {
    FILE *f = r->f;
    fprintf(f, "<figure><svg xmlns='http://www.w3.org/2000/svg' width='1080' height='330' "
               "viewBox='0 0 1080 330' style='font-family:sans-serif;max-width:100%%;height:auto'>"
               "\n<rect width='1080' height='330' fill='white'/>\n");
    svg_panel(f, 60, 40, 280, 230, "training loss", "epoch", c->n, c->x, 1, c->loss);
    svg_panel(f, 420, 40, 280, 230, "test accuracy (%): top-1, top-5", "epoch", c->n, c->x, 2,
              c->acc);
    svg_panel(f, 780, 40, 280, 230, "learning rate", "epoch", c->n, c->x, 1, c->lr);
    fprintf(f, "</svg><figcaption>Per epoch: the mean training loss, the test set's top-1 and "
               "top-5 accuracy (centre crops; blue: top-1, orange: top-5), the learning rate used."
               "</figcaption></figure>\n");
}

/* a recipe value as a reader wants it: names for enums, yes/no for switches, numbers short;
 * NULL: as the JSON writes it */
static const char *recipe_value(const char *key, json_t *v, char *buf, size_t cap) {
    static const char *const switches[] = {"flip", "lr_plateau", "stop_on_bad"};
    if (!strcmp(key, "init")) return zf_init_scheme_name((zf_init_scheme)json_integer_value(v));
    for (size_t k = 0; k < sizeof switches / sizeof *switches; k++)
        if (!strcmp(key, switches[k]))
            return json_is_true(v) || json_integer_value(v) ? "yes" : "no";
    if (!strcmp(key, "renorm") && json_number_value(v) == 0) return "off";
    if (!strcmp(key, "data_size") && json_integer_value(v) == 0) return "as stored";
    if (!strcmp(key, "mean_images") && json_integer_value(v) == 0) return "all";
    if (json_is_real(v)) return snprintf(buf, cap, "%.6g", json_real_value(v)), buf;
    return NULL;
}

static void recipe_table(report *r) {
    char path[8400];
    snprintf(path, sizeof path, "%s/state.safetensors", r->run);
    zf_st_file *st;
    zf_error err;
    if (!run_has(r, "state.safetensors") || zf_st_open(path, &st, &err)) return;
    const char *text = zf_st_meta(st, "train_config");
    json_t *cfg = text ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(cfg)) {
        fprintf(r->f, "<h3>The recipe as run</h3>\n<table>\n");
        const char *key;
        json_t *v;
        json_object_foreach(cfg, key, v) {
            int override = !strcmp(key, "classes") || !strcmp(key, "channels") ||
                           !strcmp(key, "height") || !strcmp(key, "width");
            if (override && json_integer_value(v) == 0) continue; /* the model's own */
            if (!strcmp(key, "init_std") &&
                json_integer_value(json_object_get(cfg, "init")) != ZF_INIT_GAUSSIAN)
                continue; /* only the Gaussian has a std */
            char num[32];
            const char *named = recipe_value(key, v, num, sizeof num);
            char *s =
                named || json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(r->f, "<tr><th class='l'>");
            h_text(r->f, key);
            fprintf(r->f, "</th>");
            td_text(r->f, named ? named : s ? s : json_string_value(v));
            fprintf(r->f, "</tr>\n");
            free(s);
        }
        fprintf(r->f, "</table>\n");
    }
    json_decref(cfg);
    zf_st_free(st);
}

int section_training(report *r) {
    curves c = {0};
    read_metrics(r, &c);
    if (!c.n && !run_has(r, "state.safetensors")) return curves_free(&c), 0;
    section_begin(r, "training", "Training");
    if (c.n) curves_svg(r, &c);
    recipe_table(r);
    const char *raw[] = {"metrics.jsonl", "state.safetensors", "curves.svg", NULL};
    provenance(r, NULL, raw);
    section_end(r);
    curves_free(&c);
    return 0;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

/* the .json files of a folder of the run, sorted; NULL when none */
static char **json_files(report *r, const char *sub, int *n) {
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", r->run, sub);
    struct dirent **list;
    int k = scandir(path, &list, NULL, alphasort);
    char **out = k > 0 ? calloc((size_t)k + 1, sizeof(char *)) : NULL;
    *n = 0;
    for (int i = 0; i < k; i++) {
        size_t len = strlen(list[i]->d_name);
        if (out && len > 5 && !strcmp(list[i]->d_name + len - 5, ".json") &&
            list[i]->d_name[0] != '.') {
            out[*n] = malloc(strlen(sub) + len + 2);
            if (out[*n]) sprintf(out[(*n)++], "%s/%s", sub, list[i]->d_name);
        }
        free(list[i]);
    }
    if (k > 0) free(list);
    return out;
}

static void free_list(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

/* the confusion matrix, each cell shaded by its share of the true class's images */
static void confusion_table(report *r, const json_t *e) {
    const json_t *conf = json_object_get(e, "confusion"),
                 *names = json_object_get(e, "class_names"),
                 *acc = json_object_get(e, "class_accuracy");
    size_t k = json_array_size(conf);
    if (!k || json_array_size(names) != k) return;
    FILE *f = r->f;
    fprintf(f, "<h3>Per class and the confusion matrix</h3>\n<table>\n<tr><th class='l'>true \\ "
               "predicted</th>");
    for (size_t j = 0; j < k; j++) {
        const char *name = json_string_value(json_array_get(names, j));
        fprintf(f, "<th>");
        if (name && *name)
            h_text(f, name);
        else
            fprintf(f, "%zu", j);
        fprintf(f, "</th>");
    }
    fprintf(f, "<th>accuracy (%%)</th></tr>\n");
    for (size_t i = 0; i < k; i++) {
        const json_t *row = json_array_get(conf, i);
        double total = 0;
        for (size_t j = 0; j < k; j++) total += json_number_value(json_array_get(row, j));
        const char *name = json_string_value(json_array_get(names, i));
        fprintf(f, "<tr><th class='l'>");
        if (name && *name)
            h_text(f, name);
        else
            fprintf(f, "%zu", i);
        fprintf(f, "</th>");
        for (size_t j = 0; j < k; j++) {
            double v = json_number_value(json_array_get(row, j)), a = total > 0 ? v / total : 0;
            fprintf(f, "<td style='background:rgba(33,102,172,%.3f)%s'>%.0f</td>", a,
                    a > 0.5 ? ";color:#fff" : "", v);
        }
        td_num(f, json_array_get(acc, i), 2, 100);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

int section_eval(report *r) {
    int n;
    char **files = json_files(r, "eval", &n);
    json_t *docs[64] = {0};
    const char *from[64];
    int m = 0;
    for (int i = 0; i < n && m < 64; i++) {
        docs[m] = run_json(r, files[i]);
        from[m] = files[i];
        if (json_is_number(json_object_get(docs[m], "top1_error")))
            m++;
        else
            json_decref(docs[m]), docs[m] = NULL;
    }
    if (m) {
        section_begin(r, "evaluation", "Evaluation");
        FILE *f = r->f;
        fprintf(f, "<table>\n<tr><th class='l'>crops</th><th>models</th><th class='l'>data</th>"
                   "<th>images</th><th>top-1 error (%%)</th><th>top-5 error (%%)</th></tr>\n");
        for (int i = 0; i < m; i++) {
            fprintf(f, "<tr>");
            td_text(f, json_string_value(json_object_get(docs[i], "crops")));
            fprintf(f, "<td>%zu</td>", json_array_size(json_object_get(docs[i], "models")));
            td_text(f, json_string_value(json_object_get(docs[i], "description")));
            td_num(f, json_object_get(docs[i], "images"), 0, 1);
            td_num(f, json_object_get(docs[i], "top1_error"), 2, 100);
            td_num(f, json_object_get(docs[i], "top5_error"), 2, 100);
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
        for (int i = 0; i < m; i++) {
            const char *raw[] = {from[i], NULL};
            provenance(r, docs[i], raw);
        }
        confusion_table(r, docs[0]);
        section_end(r);
    }
    for (int i = 0; i < m; i++) json_decref(docs[i]);
    free_list(files, n);
    return 0;
}

/* ---- layer-1 filters (Fig. 6) ---------------------------------------------------------------- */

int section_filters(report *r) {
    json_t *d = run_json(r, "filters/filters.json");
    const char *layer = json_string_value(json_object_get(d, "layer"));
    if (!layer) return json_decref(d), 0;
    section_begin(r, "filters", "Layer-1 filters");
    char rel[300], cap[400], b[3][32];
    snprintf(rel, sizeof rel, "filters/%s.png", layer);
    snprintf(cap, sizeof cap, "Every filter of %s, each scaled to its own range (ZF Fig. 6).",
             layer);
    int rc = figure(r, rel, cap, "fig px");
    const json_t *rms = json_object_get(d, "rms"), *band = json_object_get(d, "band_energy"),
                 *peak = json_object_get(d, "peak_band_counts"),
                 *al = json_object_get(d, "aliasing");
    size_t n = json_array_size(rms);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = json_number_value(json_array_get(rms, i));
        lo = v < lo ? v : lo, hi = v > hi ? v : hi;
    }
    FILE *f = r->f;
    fprintf(f, "<table>\n<tr><th class='l'>filters</th><td>%zu</td></tr>\n", n);
    if (n) fprintf(f, "<tr><th class='l'>RMS min / max</th><td>%.4g / %.4g</td></tr>\n", lo, hi);
    fprintf(f,
            "<tr><th class='l'>dead filters (RMS &lt; 10%% of the median)</th><td>%zu</td></tr>\n",
            json_array_size(json_object_get(d, "dead")));
    if (band)
        fprintf(f,
                "<tr><th class='l'>spectral energy: low / mid / high band (%%)</th>"
                "<td>%s / %s / %s</td></tr>\n",
                h_num(json_object_get(band, "low"), 1, 100, b[0]),
                h_num(json_object_get(band, "mid"), 1, 100, b[1]),
                h_num(json_object_get(band, "high"), 1, 100, b[2]));
    if (peak)
        fprintf(f,
                "<tr><th class='l'>filters peaking in the low / mid / high band</th>"
                "<td>%s / %s / %s</td></tr>\n",
                h_num(json_object_get(peak, "low"), 0, 1, b[0]),
                h_num(json_object_get(peak, "mid"), 0, 1, b[1]),
                h_num(json_object_get(peak, "high"), 0, 1, b[2]));
    if (al) {
        fprintf(f, "<tr><th class='l'>aliasing: high-frequency share of ");
        h_text(f, json_string_value(json_object_get(al, "layer")));
        fprintf(f, "'s maps (%%)</th><td>%s</td></tr>\n",
                h_num(json_object_get(al, "high_frequency_share"), 2, 100, b[0]));
    }
    fprintf(f, "</table>\n");
    const char *raw[] = {"filters/filters.json", NULL};
    provenance(r, d, raw);
    section_end(r);
    json_decref(d);
    return rc;
}

/* ---- top-9 activations (Fig. 2) -------------------------------------------------------------- */

/* a name as an HTML id: letters, digits, '_', '.' and '-' kept, anything else '_' */
static void html_id(char *out, size_t cap, const char *name) {
    size_t n = 0;
    for (; *name && n + 1 < cap; name++)
        out[n++] = isalnum((unsigned char)*name) || strchr("_.-", *name) ? *name : '_';
    out[n] = 0;
}

/* a file named in top9.json (relative to top9/) copied as an asset */
static int top9_asset(report *r, const json_t *e, const char *key, char *url, size_t cap) {
    const char *name = json_string_value(json_object_get(e, key));
    char rel[600];
    snprintf(rel, sizeof rel, "top9/%s", name ? name : "");
    return name ? run_asset(r, rel, url, cap) : cli_error("top9.json: an entry has no %s", key);
}

/* an entry's enlarged view (shown when its tile is clicked): the whole input with the
 * receptive-field window marked, the projection in place, the patch */
static int zoom_view(report *r, const char *id, const json_t *e, int H, int W, int P,
                     const char *layer, int map) {
    char in[8400], proj[8400], patch[8400];
    if (top9_asset(r, e, "input_png", in, sizeof in) ||
        top9_asset(r, e, "proj_png", proj, sizeof proj) ||
        top9_asset(r, e, "patch_png", patch, sizeof patch))
        return 1;
    double y = 100.0 * json_integer_value(json_object_get(e, "window_y")) / H,
           x = 100.0 * json_integer_value(json_object_get(e, "window_x")) / W, h = 100.0 * P / H,
           w = 100.0 * P / W;
    FILE *f = r->f;
    fprintf(f, "<div class='zoom' id='%s'><div class='box'><p>", id);
    h_text(f, layer);
    fprintf(f, ", map %d: ", map);
    h_text(f, json_string_value(json_object_get(e, "image")));
    fprintf(f,
            " (label %d), activation %.4g at (%d, %d) &middot; <a href='#top9'>close</a></p>"
            "<div class='panes'>",
            (int)json_integer_value(json_object_get(e, "label")),
            json_number_value(json_object_get(e, "value")),
            (int)json_integer_value(json_object_get(e, "y")),
            (int)json_integer_value(json_object_get(e, "x")));
    const char *box = "style='top:%.2f%%;left:%.2f%%;height:%.2f%%;width:%.2f%%'";
    fprintf(f, "<figure><div class='pane'><img class='px' src='%s' alt='input'><div class='rf' ",
            in);
    fprintf(f, box, y, x, h, w);
    fprintf(f, "></div></div><figcaption>the input, its receptive field marked</figcaption>"
               "</figure><figure><div class='pane'><div class='inplace' ");
    fprintf(f, box, y, x, h, w);
    fprintf(f,
            "><img class='px' src='%s' alt='projection'></div></div><figcaption>the "
            "projection (DeconvNet) in place</figcaption></figure>",
            proj);
    fprintf(f,
            "<figure><div class='pane'><img class='px' src='%s' alt='patch'></div>"
            "<figcaption>the input patch</figcaption></figure></div></div></div>\n",
            patch);
    return 0;
}

/* one map: 3x3 projections beside 3x3 patches, each tile a link to its zoom_view */
static int top9_map(report *r, const char *layer, const json_t *m, int H, int W, int P,
                    FILE *zooms) {
    int map = (int)json_integer_value(json_object_get(m, "map"));
    const json_t *top = json_object_get(m, "top");
    FILE *f = r->f;
    char key[80];
    html_id(key, sizeof key, layer);
    fprintf(f, "<div class='map'><div class='t'>");
    h_text(f, layer);
    fprintf(f, " map %d</div>", map);
    for (int kind = 0; kind < 2; kind++) {
        fprintf(f, "<div class='nine'>");
        for (size_t j = 0; j < json_array_size(top); j++) {
            const json_t *e = json_array_get(top, j);
            char url[8400];
            if (top9_asset(r, e, kind ? "patch_png" : "proj_png", url, sizeof url)) return 1;
            fprintf(f, "<a href='#z-%s-%d-%zu'><img class='px' src='%s' alt='%s %zu'></a>", key,
                    map, j, url, kind ? "patch" : "projection", j + 1);
        }
        fprintf(f, "</div>");
    }
    fprintf(f, "</div>\n");
    FILE *keep = r->f;
    r->f = zooms;
    int rc = 0;
    for (size_t j = 0; !rc && j < json_array_size(top); j++) {
        char id[200];
        snprintf(id, sizeof id, "z-%s-%d-%zu", key, map, j);
        rc = zoom_view(r, id, json_array_get(top, j), H, W, P, layer, map);
    }
    r->f = keep;
    return rc;
}

/* does every entry of the layer have its tiles (top9 since the report) */
static int has_tiles(const report *r, const json_t *l) {
    const char *keys[3] = {"proj_png", "patch_png", "input_png"};
    const json_t *maps = json_object_get(l, "maps"), *m;
    size_t i, j;
    json_array_foreach(maps, i, m) {
        const json_t *e;
        json_array_foreach(json_object_get(m, "top"), j, e) {
            for (int k = 0; k < 3; k++) {
                const char *name = json_string_value(json_object_get(e, keys[k]));
                char rel[600];
                snprintf(rel, sizeof rel, "top9/%s", name ? name : "");
                if (!name || !run_has(r, rel)) return 0;
            }
        }
    }
    return 1;
}

static int top9_layer(report *r, const char *layer, const json_t *l, const json_t *shape,
                      FILE *zooms) {
    int P = (int)json_integer_value(json_object_get(l, "patch"));
    int H = (int)json_integer_value(json_array_get(shape, 1)),
        W = (int)json_integer_value(json_array_get(shape, 2));
    fprintf(r->f, "<h3>");
    h_text(r->f, layer);
    fprintf(r->f, "</h3>\n<p class='how'>receptive field %d px, stride %d px</p>\n",
            (int)json_integer_value(json_object_get(l, "rf_size")),
            (int)json_integer_value(json_object_get(l, "rf_stride")));
    char rel[300];
    snprintf(rel, sizeof rel, "top9/%s.png", layer);
    if (!(H > 0 && W > 0 && P > 0 && has_tiles(r, l)))
        return figure(r, rel, "Per map: the 9 projections beside their input patches.", "fig px");
    fprintf(r->f, "<div class='maps'>\n");
    const json_t *m;
    size_t i;
    int rc = 0;
    json_array_foreach(json_object_get(l, "maps"), i, m) {
        if (!rc) rc = top9_map(r, layer, m, H, W, P, zooms);
    }
    fprintf(r->f, "</div>\n");
    return rc;
}

int section_top9(report *r) {
    json_t *d = run_json(r, "top9/top9.json");
    if (!json_is_object(d)) return json_decref(d), 0;
    section_begin(r, "top9", "Top-9 activations");
    fprintf(r->f, "<p>For each chosen feature map, its 9 strongest activations over the data "
                  "set (one per image), each projected alone to pixels with the DeconvNet rule "
                  "(left block) beside the input patch its unit sees (right block), as in ZF "
                  "Fig. 2. Click a tile for the whole image.</p>\n");
    char *zb = NULL;
    size_t zl = 0;
    FILE *zooms = open_memstream(&zb, &zl);
    int rc = zooms ? 0 : cli_error("out of memory");
    const char *key;
    json_t *l;
    json_object_foreach(d, key, l) {
        if (!rc && json_is_array(json_object_get(l, "maps")))
            rc = top9_layer(r, key, l, json_object_get(d, "input_shape"), zooms);
    }
    if (zooms) fclose(zooms);
    if (zb) fwrite(zb, 1, zl, r->f);
    free(zb);
    const char *raw[] = {"top9/top9.json", NULL};
    provenance(r, d, raw);
    section_end(r);
    json_decref(d);
    return rc;
}

/* ---- feature evolution (Fig. 4) -------------------------------------------------------------- */

int section_evolution(report *r) {
    json_t *d = run_json(r, "evolution/evolution.json");
    json_t *epochs = json_object_get(d, "epochs"), *layers = json_object_get(d, "layers");
    if (!json_is_array(epochs) || !json_is_object(layers)) return json_decref(d), 0;
    section_begin(r, "evolution", "Feature evolution");
    FILE *f = r->f;
    fprintf(f, "<p>Each chosen map's strongest activation at each snapshot (columns: epochs), "
               "projected to pixels (ZF Fig. 4). The table: how many of each map's top-9 images "
               "are also in the last snapshot's top-9 (mean over maps), and the epoch from "
               "which each map's top image no longer changes.</p>\n");
    const char *key;
    json_t *l;
    int rc = 0;
    json_object_foreach(layers, key, l) {
        char rel[300], cap[300];
        snprintf(rel, sizeof rel, "evolution/%s.png", key);
        snprintf(cap, sizeof cap, "%s: one row per map, one column per snapshot", key);
        if (!rc) rc = figure(r, rel, cap, "fig px");
    }
    fprintf(f, "<table>\n<tr><th class='l'>layer</th>");
    size_t i;
    json_t *e;
    json_array_foreach(epochs, i, e) fprintf(f, "<th>epoch %d</th>", (int)json_integer_value(e));
    fprintf(f, "<th>stable from (median)</th><th>(latest)</th></tr>\n");
    json_object_foreach(layers, key, l) {
        fprintf(f, "<tr>");
        td_text(f, key);
        json_array_foreach(json_object_get(l, "mean_top9_overlap_with_last"), i, e)
            td_num(f, e, 2, 1);
        td_num(f, json_object_get(l, "median_stable_from"), 0, 1);
        td_num(f, json_object_get(l, "latest_stable_from"), 0, 1);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    const char *raw[] = {"evolution/evolution.json", NULL};
    provenance(r, d, raw);
    section_end(r);
    json_decref(d);
    return rc;
}

/* ---- occlusion (Fig. 7) -------------------------------------------------------------------- */

int section_occlusion(report *r) {
    json_t *d = run_json(r, "occlusion/occlusion.json");
    const json_t *images = json_object_get(d, "images");
    if (!json_array_size(images)) return json_decref(d), 0;
    section_begin(r, "occlusion", "Occlusion sensitivity");
    FILE *f = r->f;
    fprintf(f, "<p>A square slid over each image (ZF Fig. 7): the strongest feature map's "
               "activation, the probability of the true class and the most probable class, for "
               "each position of the square.</p>\n<table>\n<tr><th class='l'>input</th><th>class"
               "</th><th>p(class)</th><th>predicted</th><th class='l'>strongest map</th>"
               "<th>largest drop of p(class)</th></tr>\n");
    size_t i;
    const json_t *im;
    json_array_foreach(images, i, im) {
        fprintf(f, "<tr>");
        td_text(f, json_string_value(json_object_get(im, "input")));
        td_num(f, json_object_get(im, "class"), 0, 1);
        td_num(f, json_object_get(im, "prob"), 3, 1);
        td_num(f, json_object_get(im, "predicted"), 0, 1);
        fprintf(f, "<td class='l'>");
        h_text(f, json_string_value(json_object_get(im, "layer")));
        fprintf(f, " %d</td>", (int)json_integer_value(json_object_get(im, "map")));
        td_num(f, json_object_get(im, "max_drop"), 3, 1);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    int rc = 0;
    json_array_foreach(images, i, im) {
        const char *input = json_string_value(json_object_get(im, "input"));
        char rel[600];
        if (!input) continue;
        snprintf(rel, sizeof rel, "occlusion/%s-occlusion.svg", input);
        if (!rc) rc = figure(r, rel, input, "fig");
    }
    const char *raw[] = {"occlusion/occlusion.json", "occlusion/occlusion.safetensors", NULL};
    provenance(r, d, raw);
    section_end(r);
    json_decref(d);
    return rc;
}

/* ---- invariance (Fig. 5) ------------------------------------------------------------------- */

int section_invariance(report *r) {
    const char *kinds[] = {"translate", "scale", "rotate"};
    json_t *d[3];
    int any = 0, rc = 0;
    char rel[3][200];
    for (int k = 0; k < 3; k++) {
        snprintf(rel[k], sizeof rel[k], "invariance/invariance-%s.json", kinds[k]);
        d[k] = run_json(r, rel[k]);
        any |= json_is_array(json_object_get(d[k], "layers"));
    }
    if (any) {
        section_begin(r, "invariance", "Invariance");
        FILE *f = r->f;
        fprintf(f, "<p>Images shifted, scaled and rotated (ZF Fig. 5): the distance of each "
                   "layer's features from the untransformed image's, and the true class's "
                   "probability. The table: how linear each distance curve is (R&sup2;) and the "
                   "mean drop of the probability over the range.</p>\n<table>\n<tr><th "
                   "class='l'>transform</th><th class='l'>range</th><th class='l'>R&sup2; per "
                   "layer</th><th>mean p drop at the end</th></tr>\n");
        for (int k = 0; k < 3; k++) {
            if (!json_is_array(json_object_get(d[k], "layers"))) continue;
            char a[32], b[32];
            fprintf(f, "<tr><td class='l'>%s</td><td class='l'>%s to %s</td><td class='l'>",
                    kinds[k], h_num(json_object_get(d[k], "from"), 2, 1, a),
                    h_num(json_object_get(d[k], "to"), 2, 1, b));
            size_t i;
            json_t *l;
            json_array_foreach(json_object_get(d[k], "layers"), i, l) {
                fprintf(f, "%s", i ? ", " : "");
                h_text(f, json_string_value(json_object_get(l, "layer")));
                fprintf(f, " %s", h_num(json_object_get(l, "linearity_r2"), 2, 1, a));
            }
            fprintf(f, "</td>");
            td_num(f, json_object_get(d[k], "mean_prob_drop_at_to"), 3, 1);
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
        for (int k = 0; k < 3 && !rc; k++) {
            char svg[200];
            snprintf(svg, sizeof svg, "invariance/invariance-%s.svg", kinds[k]);
            if (d[k]) rc = figure(r, svg, kinds[k], "fig");
        }
        for (int k = 0; k < 3; k++) {
            char csv[200];
            snprintf(csv, sizeof csv, "invariance/invariance-%s.csv", kinds[k]);
            const char *raw[] = {rel[k], csv, NULL};
            if (d[k]) provenance(r, d[k], raw);
        }
        section_end(r);
    }
    for (int k = 0; k < 3; k++) json_decref(d[k]);
    return rc;
}

/* ---- correspondence (Table 1) -------------------------------------------------------------- */

int section_correspondence(report *r) {
    json_t *d = run_json(r, "correspondence/correspondence.json");
    const json_t *rows = json_object_get(d, "rows");
    if (!json_array_size(rows)) return json_decref(d), 0;
    section_begin(r, "correspondence", "Correspondence");
    FILE *f = r->f;
    fprintf(f,
            "<p>The same part masked in %d images (ZF Table 1): the mean Hamming distance "
            "between the sign vectors of the feature changes, over pairs of images (lower: "
            "the net relates the part across images); random: the same masks at random "
            "places.</p>\n<table>\n<tr><th class='l'>part</th>",
            (int)json_integer_value(json_object_get(d, "images")));
    const json_t *first = json_array_get(rows, json_array_size(rows) - 1);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)first, key, v) {
        if (strcmp(key, "part") && !strstr(key, "_std")) {
            fprintf(f, "<th>");
            h_text(f, key);
            fprintf(f, "</th>");
        }
    }
    fprintf(f, "</tr>\n");
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        fprintf(f, "<tr>");
        td_text(f, json_string_value(json_object_get(row, "part")));
        json_object_foreach((json_t *)first, key, v) {
            if (!strcmp(key, "part") || strstr(key, "_std")) continue;
            char sd[300], a[32], b[32];
            snprintf(sd, sizeof sd, "%s_std", key);
            fprintf(f, "<td>%s", h_num(json_object_get(row, key), 3, 1, a));
            if (json_object_get(row, sd))
                fprintf(f, " &plusmn; %s", h_num(json_object_get(row, sd), 3, 1, b));
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    const char *raw[] = {"correspondence/correspondence.json", "correspondence/correspondence.csv",
                         "correspondence/parts.json", NULL};
    provenance(r, d, raw);
    section_end(r);
    json_decref(d);
    return 0;
}

/* ---- transfer, probes, ablations (Tables 3-7, Fig. 9) -------------------------------------- */

static void transfer_table(report *r, const json_t *d) {
    FILE *f = r->f;
    fprintf(f, "<p>The pretrained net (");
    h_text(f, json_string_value(json_object_get(d, "weights")));
    fprintf(f, ") on ");
    h_text(f, json_string_value(json_object_get(d, "train")));
    fprintf(f, " &rarr; ");
    h_text(f, json_string_value(json_object_get(d, "test")));
    fprintf(f, ": mean per-class accuracy over folds (ZF Tables 4-6).</p>\n<table>\n<tr><th "
               "class='l'>mode</th><th>per class</th><th>folds</th><th>frozen through layer"
               "</th><th>accuracy (%%)</th><th>seconds</th></tr>\n");
    size_t i;
    const json_t *run;
    json_array_foreach(json_object_get(d, "runs"), i, run) {
        fprintf(f, "<tr>");
        td_text(f, json_string_value(json_object_get(run, "mode")));
        td_num(f, json_object_get(run, "per_class"), 0, 1);
        td_num(f, json_object_get(run, "folds"), 0, 1);
        json_t *fz = json_object_get(run, "frozen_through");
        td_num(f, json_integer_value(fz) >= 0 ? fz : NULL, 0, 1);
        pct_pm(f, run, "mean", "std");
        td_num(f, json_object_get(run, "seconds"), 1, 1);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void probe_table(report *r, const json_t *d) {
    FILE *f = r->f;
    size_t i, j;
    const json_t *run, *l;
    json_array_foreach(json_object_get(d, "runs"), i, run) {
        fprintf(f, "<p>Probes (ZF Table 7) on ");
        h_text(f, json_string_value(json_object_get(run, "set")));
        fprintf(f,
                ", %d images per class: a linear classifier on each layer's features "
                "(accuracy in %%).</p>\n<table>\n<tr><th class='l'>layer</th><th>features"
                "</th><th>SVM</th><th>softmax</th></tr>\n",
                (int)json_integer_value(json_object_get(run, "per_class")));
        json_array_foreach(json_object_get(run, "layers"), j, l) {
            fprintf(f, "<tr>");
            td_text(f, json_string_value(json_object_get(l, "layer")));
            td_num(f, json_object_get(l, "features"), 0, 1);
            pct_pm(f, json_object_get(l, "svm"), "mean", "std");
            pct_pm(f, json_object_get(l, "softmax"), "mean", "std");
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
    }
}

static void ablation_table(report *r, const json_t *d) {
    const json_t *rows = json_is_array(d) ? d : json_object_get(d, "rows"), *row;
    FILE *f = r->f;
    fprintf(f, "<p>Variants of the model trained with the same recipe (ZF Table 3; errors in "
               "%%).</p>\n<table>\n<tr><th class='l'>variant</th><th>parameters</th><th>train "
               "top-1</th><th>test top-1</th><th>test top-5</th><th>seconds</th><th>median "
               "epoch (s)</th></tr>\n");
    size_t i;
    json_array_foreach(rows, i, row) {
        fprintf(f, "<tr>");
        td_text(f, json_string_value(json_object_get(row, "variant")));
        td_num(f, json_object_get(row, "params"), 0, 1);
        td_num(f, json_object_get(row, "train_top1_error"), 2, 100);
        td_num(f, json_object_get(row, "test_top1_error"), 2, 100);
        td_num(f, json_object_get(row, "test_top5_error"), 2, 100);
        td_num(f, json_object_get(row, "seconds"), 0, 1);
        td_num(f, json_object_get(row, "median_epoch_seconds"), 1, 1);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

/* the folders that may hold results: the run folder and its own folders (not the report's) */
static char **result_folders(report *r, int *n) {
    struct dirent **list;
    int k = scandir(r->run, &list, NULL, alphasort);
    char **out = calloc((size_t)(k > 0 ? k : 0) + 2, sizeof(char *));
    *n = 0;
    if (out) out[(*n)++] = strdup("");
    for (int i = 0; i < k; i++) {
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", r->run, list[i]->d_name);
        struct stat st, rep;
        int ours = !stat(r->dir, &rep) && !stat(path, &st) && st.st_ino == rep.st_ino &&
                   st.st_dev == rep.st_dev;
        if (out && list[i]->d_name[0] != '.' && !ours && !stat(path, &st) && S_ISDIR(st.st_mode))
            out[(*n)++] = strdup(list[i]->d_name);
        free(list[i]);
    }
    if (k > 0) free(list);
    return out;
}

int section_learning(report *r) {
    const char *files[3] = {"transfer.json", "probe.json", "ablation.json"};
    void (*const tables[3])(report *, const json_t *) = {transfer_table, probe_table,
                                                         ablation_table};
    int n, begun = 0, rc = 0;
    char **dirs = result_folders(r, &n);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < n && !rc; i++) {
            char rel[8400], csv[8400], svg[8400];
            snprintf(rel, sizeof rel, "%s%s%s", dirs[i], *dirs[i] ? "/" : "", files[t]);
            json_t *d = run_json(r, rel);
            const char *need = t == 0 ? "runs" : t == 1 ? "runs" : "rows";
            if (!json_is_array(json_is_array(d) ? d : json_object_get(d, need))) {
                json_decref(d); /* not ours (or a variant's row from before 1.0) */
                continue;
            }
            if (!begun++) section_begin(r, "learning", "Transfer, probes and ablations");
            fprintf(r->f, "<h3>");
            h_text(r->f, rel);
            fprintf(r->f, "</h3>\n");
            tables[t](r, d);
            snprintf(svg, sizeof svg, "%s%scurve.svg", dirs[i], *dirs[i] ? "/" : "");
            if (t == 0) rc = figure(r, svg, "accuracy against images per class", "fig");
            snprintf(csv, sizeof csv, "%.8000s", rel);
            strcpy(csv + strlen(csv) - 4, "csv");
            snprintf(svg + strlen(svg) - 3, 4, "csv"); /* curve.csv */
            const char *raw[] = {rel, csv, t == 0 ? svg : NULL, NULL};
            provenance(r, d, raw);
            json_decref(d);
        }
    if (begun) section_end(r);
    free_list(dirs, n);
    return rc;
}
