/* zfnet occlusion: ZF Fig. 7 for any inputs (zf_occlusion): per position of a grey square,
 * the total activation of a feature map, the probability of the class and the most probable
 * label; the map's projection with the squares that hurt it most; a summary per image (the
 * largest drop and where; the share of the drop on the object). */
#include "draw.h"
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_command occlusion_cmd = {
    "occlusion",
    "--weights W (--input X.safetensors | IMAGE... | --data SPEC --items I,J,...)\n"
    "                       [--size S] [--stride T] [--fill mean|gray|zero|V] [--layer NAME]\n"
    "                       [--map K|strongest] [--class true|pred|K] [--labels L]\n"
    "                       [--box X0,Y0,X1,Y1 | --object-threshold G] [--raw OUT.safetensors]\n"
    "                       [-o DIR] [--plain]",
    "Slides a square (S x S input pixels, every T pixels) over each input and records, per\n"
    "position (ZF Fig. 7): (b) the total activation of one feature map of --layer (default the\n"
    "top conv layer; read after its ReLU), the map holding the unoccluded image's largest\n"
    "activation unless --map K; (d) the probability of the class (--class: true = the input's\n"
    "label (from --data, an input file's 'labels', or --labels), the default when every input\n"
    "has one; pred = the unoccluded prediction; or K); (e) the most probable label. (c) is the\n"
    "map's DeconvNet projection on the unoccluded image, the three squares that lower the map\n"
    "most outlined.\n"
    "The squares lie wholly inside the image on a centred grid: (H - S) / T + 1 positions per\n"
    "side, the (H - S) mod T rows left over split between the borders. --fill is what the square\n"
    "holds: the training data's mean (default; input 0), gray (128), zero (0) or a grey level V.\n"
    "Only what a square changes is computed (each layer's outputs inside the square's footprint,\n"
    "the rest reused from the unoccluded pass); --plain sends every occluded copy through the\n"
    "whole net instead (the same numbers, for checking). --batch bounds the copies in memory.\n"
    "The object (for the share of the probability drop that falls on it): --box in input\n"
    "pixels, or --object-threshold G: the pixels brighter than grey level G (Fashion-MNIST's\n"
    "non-background: 10). Output in DIR (zfnet-occlusion): <input>-occlusion.svg (the five\n"
    "panels with colour bars, over the input), occlusion.json (every number and the summary);\n"
    "--raw writes 'activation', 'prob', 'label_prob' (F32, N x NY x NX) and 'label' (I64).\n",
    0, -1};

typedef struct occ_job {
    zf_net *net;
    zf_data_prep prep;
    cli_inputs in;
    zf_occlusion_options o;
    const char *layer_name, *class_arg, *dir;
    double fill;
    int threshold, box[4], has_box;
    zf_occlusion_result *r;
    zf_occlusion_summary *s;
    float *proj;      /* (n, in) the map's projection */
    uint8_t *pixels;  /* (n, in) the inputs as pixels */
    uint8_t *objects; /* (n, h, w) or NULL */
} occ_job;

static int parse_box(const char *opt, const char *arg, void *target) {
    occ_job *j = target;
    int used = -1, *b = j->box;
    if (sscanf(arg, "%d,%d,%d,%d%n", &b[0], &b[1], &b[2], &b[3], &used) != 4 ||
        used != (int)strlen(arg) || b[0] < 0 || b[1] < 0 || b[2] <= b[0] || b[3] <= b[1])
        return cli_error("%s: '%s' is not X0,Y0,X1,Y1 with X0 < X1, Y0 < Y1", opt, arg), 2;
    j->has_box = 1;
    return 0;
}

static int parse_map_choice(const char *opt, const char *arg, void *target) {
    long v;
    if (!strcmp(arg, "strongest")) return *(int *)target = -1, 0;
    if (cli_parse_int_value(opt, arg, 0, 1 << 20, &v)) return 2;
    *(int *)target = (int)v;
    return 0;
}

/* the inputs as pixels, and the objects (--box or --object-threshold) */
static int objects(occ_job *j) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w, plane = (size_t)in.h * in.w;
    j->pixels = malloc(per * j->in.n);
    if (!j->pixels) return cli_error("out of memory");
    for (int i = 0; i < j->in.n; i++) {
        if (j->prep.mean)
            zf_data_prep_pixels(&j->prep, in, j->in.x + per * i, 0, 0, in.h, in.w,
                                j->pixels + per * i);
        else
            vis_minmax(j->in.x + per * i, in.c, in.h, in.w, j->pixels + per * i);
    }
    if (!j->has_box && j->threshold < 0) return 0;
    if (j->has_box && (j->box[2] > in.w || j->box[3] > in.h))
        return cli_error("--box %d,%d,%d,%d: the input is %dx%d", j->box[0], j->box[1], j->box[2],
                         j->box[3], in.w, in.h);
    if (!(j->objects = calloc(plane * j->in.n, 1))) return cli_error("out of memory");
    for (int i = 0; i < j->in.n; i++)
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++) {
                uint8_t *o = j->objects + plane * i + (size_t)y * in.w + x;
                if (j->has_box)
                    *o = x >= j->box[0] && x < j->box[2] && y >= j->box[1] && y < j->box[3];
                for (int c = 0; !j->has_box && c < in.c; c++)
                    *o |= j->pixels[per * i + plane * c + (size_t)y * in.w + x] > j->threshold;
            }
    return 0;
}

/* (c): each result's map projected from its layer (DeconvNet rule) */
static int projections(occ_job *j) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w;
    if (!(j->proj = malloc(sizeof(float) * per * j->in.n))) return cli_error("out of memory");
    zf_error err;
    for (int i = 0; i < j->in.n; i++) {
        zf_project_options po;
        zf_project_defaults(&po);
        po.select = ZF_SELECT_MAP, po.map = j->r[i].map;
        if (zf_project(j->net, j->r[i].layer, j->in.x + per * i, 1, &po, j->proj + per * i, NULL,
                       NULL, &err))
            return cli_fail(&err);
    }
    return 0;
}

static const char *class_name(const occ_job *j, int k) {
    const char *n = zf_data_prep_class_name(&j->prep, k);
    return n ? n : "";
}

static void print_summary(const occ_job *j, int i) {
    const zf_occlusion_result *r = &j->r[i];
    const zf_occlusion_summary *s = &j->s[i];
    zf_layer_info li;
    zf_net_layer_info(j->net, r->layer, &li);
    printf("%s: class %d %s p = %.4f (predicted %d %s); largest drop %.4f, square centred at "
           "(%d, %d); %s map %d total %.4g",
           j->in.names[i], r->klass, class_name(j, r->klass), r->base_prob, r->base_label,
           class_name(j, r->base_label), s->max_drop, s->max_x, s->max_y, li.name, r->map,
           r->base_activation);
    if (s->has_object)
        printf("; %.0f%% of the drop on the object (it fills %.0f%% of the squares)",
               100 * s->drop_share, 100 * s->area_share);
    printf("\n");
}

/* over every image: what share of the drop falls on the objects */
static json_t *overall(const occ_job *j, int print) {
    double share = 0, area = 0, on = 0, off = 0;
    int n = 0, non = 0, noff = 0;
    for (int i = 0; i < j->in.n; i++) {
        const zf_occlusion_summary *s = &j->s[i];
        if (!s->has_object || isnan(s->drop_share)) continue;
        share += s->drop_share, area += s->area_share, n++;
        if (!isnan(s->drop_on)) on += s->drop_on, non++;
        if (!isnan(s->drop_off)) off += s->drop_off, noff++;
    }
    if (!n) return json_object();
    share /= n, area /= n, on = non ? on / non : NAN, off = noff ? off / noff : NAN;
    if (print)
        printf(
            "over %d images: %.0f%% of the probability drop is on the object, which fills %.0f%% "
            "of the squares; mean drop %.4f with the square's centre on the object, %.4f with "
            "the whole square off it\n",
            n, 100 * share, 100 * area, on, off);
    return json_pack("{s:i,s:o,s:o,s:o,s:o}", "images", n, "drop_share_on_object", json_num(share),
                     "object_share_of_squares", json_num(area), "mean_drop_centre_on_object",
                     json_num(on), "mean_drop_square_off_object", json_num(off));
}

static void print_overall(const occ_job *j) {
    json_decref(overall(j, 1));
}

static json_t *floats(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(round(1e6 * v[i]) / 1e6));
    return a;
}

static json_t *image_json(const occ_job *j, int i) {
    const zf_occlusion_result *r = &j->r[i];
    const zf_occlusion_summary *s = &j->s[i];
    int n = r->ny * r->nx;
    zf_layer_info li;
    zf_net_layer_info(j->net, r->layer, &li);
    json_t *labels = json_array();
    for (int k = 0; k < n; k++) json_array_append_new(labels, json_integer(r->label[k]));
    json_t *o = json_pack("{s:s,s:i,s:s,s:f,s:i,s:s,s:i,s:f,s:f,s:[i,i]}", "input", j->in.names[i],
                          "class", r->klass, "class_name", class_name(j, r->klass), "prob",
                          r->base_prob, "predicted", r->base_label, "layer", li.name, "map", r->map,
                          "activation", r->base_activation, "max_drop", s->max_drop,
                          "max_drop_centre_xy", s->max_x, s->max_y);
    if (s->has_object) {
        json_object_set_new(o, "drop_share_on_object", json_num(s->drop_share));
        json_object_set_new(o, "object_share_of_squares", json_num(s->area_share));
        json_object_set_new(o, "mean_drop_centre_on_object", json_num(s->drop_on));
        json_object_set_new(o, "mean_drop_square_off_object", json_num(s->drop_off));
    }
    json_object_set_new(o, "activation_map", floats(r->activation, n));
    json_object_set_new(o, "prob_map", floats(r->prob, n));
    json_object_set_new(o, "label_map", labels);
    json_object_set_new(o, "label_prob_map", floats(r->label_prob, n));
    return o;
}

static int write_json_summary(const occ_job *j, const char *path) {
    const zf_occlusion_result *r = &j->r[0];
    json_t *imgs = json_array();
    for (int i = 0; i < j->in.n; i++) json_array_append_new(imgs, image_json(j, i));
    json_t *o =
        json_pack("{s:{s:i,s:i,s:i,s:i,s:i,s:i,s:s},s:o,s:o}", "grid", "size", r->size, "stride",
                  r->stride, "ny", r->ny, "nx", r->nx, "y0", r->y0, "x0", r->x0, "square",
                  "(i, j) covers rows y0 + i*stride .. +size, columns x0 + "
                  "j*stride .. +size; maps are row-major (ny, nx)",
                  "summary", overall(j, 0), "images", imgs);
    int rc = write_json(path, o);
    json_decref(o);
    return rc;
}

static int write_raw(const occ_job *j, const char *path) {
    const zf_occlusion_result *r0 = &j->r[0];
    size_t n = (size_t)r0->ny * r0->nx, m = (size_t)j->in.n;
    float *a = malloc(sizeof(float) * n * m * 3);
    int64_t *lab = malloc(sizeof(int64_t) * n * m), shape[3] = {j->in.n, r0->ny, r0->nx};
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    zf_error err;
    int rc = 0;
    for (size_t i = 0; a && lab && i < m; i++) {
        memcpy(a + n * i, j->r[i].activation, sizeof(float) * n);
        memcpy(a + n * (m + i), j->r[i].prob, sizeof(float) * n);
        memcpy(a + n * (2 * m + i), j->r[i].label_prob, sizeof(float) * n);
        for (size_t k = 0; k < n; k++) lab[n * i + k] = j->r[i].label[k];
    }
    char grid[128];
    snprintf(grid, sizeof grid, "{\"size\":%d,\"stride\":%d,\"y0\":%d,\"x0\":%d}", r0->size,
             r0->stride, r0->y0, r0->x0);
    if (!a || !lab || !w || zf_st_writer_add(w, "activation", ZF_DTYPE_F32, 3, shape, a, &err) ||
        zf_st_writer_add(w, "prob", ZF_DTYPE_F32, 3, shape, a + n * m, &err) ||
        zf_st_writer_add(w, "label_prob", ZF_DTYPE_F32, 3, shape, a + 2 * n * m, &err) ||
        zf_st_writer_add(w, "label", ZF_DTYPE_I64, 3, shape, lab, &err) ||
        zf_st_writer_meta(w, "grid", grid, &err) || zf_st_writer_save(w, path, &err))
        rc = cli_error("%s", a && lab && w ? err.msg : "out of memory");
    zf_st_writer_free(w), free(a), free(lab);
    return rc;
}

/* ---- the figure: five panels over the input, colour bars, the labels' legend ------------- */

typedef struct fig {
    FILE *f;
    zf_shape in;
    double d, dh, scale; /* panel width and height, pixels per input pixel */
    const zf_occlusion_result *r;
} fig;

static double panel_x(int k, double d) {
    return 10 + k * (d + 24);
}

/* the grid's values (or labels) as colours, each cell over its square's centre */
static int grid_layer(const fig *g, int k, const float *v, double lo, double hi, const int *lab) {
    const zf_occlusion_result *r = g->r;
    int n = r->ny * r->nx;
    uint8_t *rgb = malloc((size_t)3 * n);
    if (!rgb) return cli_error("out of memory");
    for (int p = 0; p < n; p++) {
        uint8_t c[3];
        if (lab)
            vis_category(lab[p], c);
        else
            vis_viridis(hi > lo ? (v[p] - lo) / (hi - lo) : 0.5, c);
        for (int q = 0; q < 3; q++) rgb[q * n + p] = c[q];
    }
    double s = g->scale, x = r->x0 + r->size / 2.0 - r->stride / 2.0;
    double y = r->y0 + r->size / 2.0 - r->stride / 2.0;
    int rc = svg_image(g->f, rgb, 3, r->ny, r->nx, panel_x(k, g->d) + s * x, 30 + s * y,
                       s * r->stride * r->nx, s * r->stride * r->ny, 0.8);
    free(rgb);
    return rc;
}

static void square_outline(const fig *g, int k, int pos, const char *colour) {
    const zf_occlusion_result *r = g->r;
    double s = g->scale;
    int y = r->y0 + pos / r->nx * r->stride, x = r->x0 + pos % r->nx * r->stride;
    fprintf(g->f,
            "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='%s' "
            "stroke-width='2'/>\n",
            panel_x(k, g->d) + s * x, 30 + s * y, s * r->size, s * r->size, colour);
}

static void title(const fig *g, int k, const char *text) {
    fprintf(g->f, "<text x='%.1f' y='22' font-size='12' text-anchor='middle'>",
            panel_x(k, g->d) + g->d / 2);
    svg_text(g->f, text);
    fprintf(g->f, "</text>\n");
}

/* (e)'s legend: the most frequent labels with their colours */
static void label_legend(const fig *g, const occ_job *j) {
    const zf_occlusion_result *r = g->r;
    int n = r->ny * r->nx, classes = zf_net_classes(j->net);
    int *count = calloc((size_t)classes, sizeof(int));
    for (int p = 0; count && p < n; p++) count[r->label[p]]++;
    for (int row = 0; count && row < 4; row++) {
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (count[c] > count[best]) best = c;
        if (!count[best]) break;
        uint8_t c[3];
        vis_category(best, c);
        double x = panel_x(4, g->d), y = 38 + g->dh + 13 * row;
        fprintf(g->f,
                "<rect x='%.1f' y='%.1f' width='9' height='9' fill='#%02x%02x%02x'/><text "
                "x='%.1f' y='%.1f' font-size='10'>%d ",
                x, y, c[0], c[1], c[2], x + 13, y + 8.5, best);
        svg_text(g->f, class_name(j, best));
        fprintf(g->f, " (%.0f%%)</text>\n", 100.0 * count[best] / n);
        count[best] = 0;
    }
    free(count);
}

/* the three squares that lower the map most */
static void weakest(const zf_occlusion_result *r, int *top) {
    int n = r->ny * r->nx;
    for (int t = 0; t < 3; t++) {
        top[t] = -1;
        for (int p = 0; p < n; p++) {
            if ((t > 0 && p == top[0]) || (t > 1 && p == top[1])) continue;
            if (top[t] < 0 || r->activation[p] < r->activation[top[t]]) top[t] = p;
        }
    }
}

static int draw_panels(const fig *g, const occ_job *j, int i) {
    const zf_occlusion_result *r = g->r;
    zf_shape in = g->in;
    size_t per = (size_t)in.c * in.h * in.w, n = (size_t)r->ny * r->nx;
    uint8_t *proj = malloc(per);
    if (!proj) return cli_error("out of memory");
    vis_signed(j->proj + per * i, in.c, in.h, in.w, proj);
    int rc = 0, top[3], maxpos = 0;
    for (size_t p = 1; p < n; p++)
        if (r->prob[p] < r->prob[maxpos]) maxpos = (int)p;
    float lo = r->activation[0], hi = lo;
    for (size_t p = 0; p < n; p++)
        lo = fminf(lo, r->activation[p]), hi = fmaxf(hi, r->activation[p]);
    for (int k = 0; !rc && k < 5; k++)
        rc = svg_image(g->f, k == 2 ? proj : j->pixels + per * i, in.c, in.h, in.w,
                       panel_x(k, g->d), 30, g->d, g->dh, k == 0 || k == 2 ? 1 : 0.55);
    if (!rc) rc = grid_layer(g, 1, r->activation, lo, hi, NULL);
    if (!rc) rc = grid_layer(g, 3, r->prob, 0, 1, NULL);
    if (!rc) rc = grid_layer(g, 4, NULL, 0, 0, r->label);
    free(proj);
    if (rc) return rc;
    square_outline(g, 0, maxpos, "#d62728");
    weakest(r, top);
    for (int t = 0; t < 3; t++)
        if (top[t] >= 0) square_outline(g, 2, top[t], t ? "#ff9896" : "#d62728");
    svg_colorbar(g->f, 1, panel_x(1, g->d), 36 + g->dh, g->d, 8, lo, hi, "total activation");
    svg_colorbar(g->f, 2, panel_x(3, g->d), 36 + g->dh, g->d, 8, 0, 1, "probability");
    label_legend(g, j);
    return 0;
}

static int write_figure(const occ_job *j, int i, const char *path) {
    zf_shape in = zf_net_input_shape(j->net);
    char *buf = NULL, t[5][160];
    size_t len = 0;
    fig g = {.f = open_memstream(&buf, &len), .in = in, .d = 180, .r = &j->r[i]};
    if (!g.f) return cli_error("out of memory");
    g.scale = g.d / in.w, g.dh = g.scale * in.h;
    zf_layer_info li;
    zf_net_layer_info(j->net, g.r->layer, &li);
    double w = panel_x(5, g.d), h = 30 + g.dh + 66;
    fprintf(g.f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
            "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            w, h);
    snprintf(t[0], sizeof t[0], "(a) %s, largest drop", j->in.names[i]);
    snprintf(t[1], sizeof t[1], "(b) %s map %d, total", li.name, g.r->map);
    snprintf(t[2], sizeof t[2], "(c) its projection, 3 worst squares");
    const char *cn = class_name(j, g.r->klass);
    snprintf(t[3], sizeof t[3], "(d) p(%d%s%s)", g.r->klass, *cn ? " " : "", cn);
    snprintf(t[4], sizeof t[4], "(e) most probable label");
    for (int k = 0; k < 5; k++) title(&g, k, t[k]);
    int rc = draw_panels(&g, j, i);
    fprintf(g.f, "</svg>\n");
    if (!rc) return svg_save(g.f, &buf, path);
    fclose(g.f), free(buf); /* nothing written */
    return rc;
}

static int compute(occ_job *j) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w;
    zf_error err;
    float *fill = malloc(sizeof(float) * per);
    int *classes = malloc(sizeof(int) * j->in.n);
    j->r = calloc((size_t)j->in.n, sizeof *j->r), j->s = calloc((size_t)j->in.n, sizeof *j->s);
    int rc = fill && classes && j->r && j->s ? 0 : cli_error("out of memory");
    if (!rc && j->layer_name && (j->o.layer = zf_net_find_layer(j->net, j->layer_name)) < 0)
        rc = cli_error("no layer '%s' in %s", j->layer_name, cli_model(j->net));
    if (!rc && zf_occlusion_fill(&j->prep, in, j->fill, fill, &err)) rc = cli_fail(&err);
    if (!rc) rc = cli_choose_classes(&j->in, j->class_arg, classes);
    j->o.fill = fill;
    j->o.cb = cli_callbacks(NULL);
    double t0 = cli_now();
    if (!rc && zf_occlusion(j->net, j->in.x, j->in.n, classes, &j->o, j->r, &err))
        rc = cli_fail(&err);
    if (!rc)
        printf("occlusion: %d image%s x %d squares (%dx%d px, stride %d) in %.2f s%s\n", j->in.n,
               j->in.n == 1 ? "" : "s", j->r[0].ny * j->r[0].nx, j->o.size, j->o.size, j->o.stride,
               cli_now() - t0, j->o.plain ? " (plain)" : "");
    free(fill), free(classes);
    if (rc) free(j->r), j->r = NULL;
    return rc;
}

static int run(occ_job *j, const char *raw) {
    zf_shape in = zf_net_input_shape(j->net);
    if (!j->o.size)
        j->o.size = (int)lround(in.w * 50.0 / 224) > 0 ? (int)lround(in.w * 50.0 / 224) : 1;
    if (!j->o.stride) j->o.stride = in.w * 8 / 224 > 0 ? in.w * 8 / 224 : 1;
    int rc = compute(j);
    if (!rc) rc = objects(j);
    if (!rc) rc = projections(j);
    for (int i = 0; !rc && i < j->in.n; i++) {
        zf_occlusion_summarize(&j->r[i], j->objects ? j->objects + (size_t)in.h * in.w * i : NULL,
                               in.h, in.w, &j->s[i]);
        print_summary(j, i);
    }
    if (!rc && j->objects) print_overall(j);
    if (!rc && raw) rc = write_raw(j, raw);
    if (!rc) rc = make_dir(j->dir);
    char path[4400];
    for (int i = 0; !rc && i < j->in.n; i++) {
        snprintf(path, sizeof path, "%s/%s-occlusion.svg", j->dir, j->in.names[i]);
        rc = write_figure(j, i, path);
    }
    snprintf(path, sizeof path, "%s/occlusion.json", j->dir);
    if (!rc) rc = write_json_summary(j, path);
    if (!rc) printf("figures and occlusion.json in %s/\n", j->dir);
    return rc;
}

static void job_free(occ_job *j) {
    for (int i = 0; j->r && i < j->in.n; i++) zf_occlusion_result_free(&j->r[i]);
    free(j->r), free(j->s), free(j->proj), free(j->pixels), free(j->objects);
    cli_inputs_free(&j->in);
    zf_data_prep_free(&j->prep);
    zf_net_free(j->net);
}

int cmd_occlusion(int argc, char **argv) {
    const char *raw = NULL;
    cli_input_args a = {0};
    occ_job j = {.fill = -1, .threshold = -1, .dir = "zfnet-occlusion"};
    zf_occlusion_defaults(&j.o);
    j.o.size = j.o.stride = 0; /* from the input's size */
    const cli_opt own[] = {
        CLI_WEIGHTS(&a.weights, "a checkpoint (its model text, weights and data preparation)"),
        {"model", CLI_STR, &a.model, "M", "a preset or model file (with --weights: its weights)"},
        {"input", CLI_STR, &a.input, "X", "X.safetensors, or image files (more follow)"},
        {"data", CLI_STR, &a.data, "SPEC", "a dataset (with --items)"},
        {"items", CLI_STR, &a.items, "I,J", "its items (indices)"},
        {"size", CLI_INT, &j.o.size, "S", "the square's side (50/224 of the input's width)", 1,
         1 << 16},
        {"stride", CLI_INT, &j.o.stride, "T", "its step (8/224 of the width, at least 1)", 1,
         1 << 16},
        {"fill", CLI_CALL, &j.fill, "F", "mean (default), gray, zero or a grey level",
         .parse = cli_parse_fill, .choices = "mean gray zero"},
        {"layer", CLI_STR, &j.layer_name, "NAME", "panel (b)'s layer (the top conv layer)"},
        {"map", CLI_CALL, &j.o.map, "K", "its map (strongest: the default)",
         .parse = parse_map_choice},
        {"class", CLI_STR, &j.class_arg, "C", "true, pred or a class index"},
        {"labels", CLI_STR, &a.labels, "L", "the inputs' classes (indices or names, one each)"},
        {"box", CLI_CALL, &j, "X0,Y0,X1,Y1", "the object's box (input pixels)", .parse = parse_box},
        {"object-threshold", CLI_INT, &j.threshold, "G", "the object: pixels brighter than G", 0,
         255},
        {"raw", CLI_STR, &raw, "OUT", "the maps as safetensors"},
        {"plain", CLI_FLAG, &j.o.plain, NULL, "every occluded copy through the whole net"},
        CLI_OUTPUT(&j.dir, "the figures' folder (zfnet-occlusion)"),
        CLI_BATCH(&j.o.batch, "occluded copies per pass (32)"),
        CLI_THREADS(&a.threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&occlusion_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    rc = cli_open_inputs("occlusion", &a, argv, npos, &j.net, &j.prep, &j.in);
    if (!rc) rc = run(&j, raw);
    job_free(&j);
    return rc;
}
