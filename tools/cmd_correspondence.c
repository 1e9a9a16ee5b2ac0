/* zfnet correspondence: ZF Table 1 for any images (zf_correspondence): the same part masked in
 * each image; how consistently the features change (Delta, lower = more consistent), per
 * part and layer, against random masks of the same size. */
#include "draw.h"
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

static const cli_command corr_cmd = {
    "correspondence",
    "--weights W (--images A B C ... | --data SPEC --items I,J,...) --parts PARTS.json\n"
    "                            [--random N] [--seed S] [--layers conv5,fc7] [--fill F] [-o DIR]",
    "Masks the same part in every image (ZF section 4.1, Fig. 8) and measures how consistently\n"
    "the features change: eps_i = f(x_i) - f(masked x_i) at each layer (its output after its\n"
    "ReLU), Delta = the Hamming distance between sign(eps_i) and sign(eps_j) summed over ordered\n"
    "pairs i != j, divided by n (n - 1) and by the feature vector's length: 0 when every image\n"
    "changes the same way, about 0.5 and above when the signs are unrelated. Lower than random\n"
    "masks means the net relates the part across images.\n"
    "PARTS.json: {\"parts\": {\"left eye\": [[X0,Y0,X1,Y1], ...one per image...], ...}} in input\n"
    "pixels ([X0, X1) x [Y0, Y1)), images in the order given. The random control (N repeats,\n"
    "default 10, seeded) masks each image at its own random place with a rectangle of the\n"
    "parts' mean size. --fill as in 'zfnet occlusion' (default: the data mean). Layers default\n"
    "to the top conv layer and the fc layer before the last (the paper's 5 and 7). Prints\n"
    "Table 1's layout (rows: parts and random, columns: layers; random as mean +- std) and\n"
    "writes correspondence.csv and .json into DIR (zfnet-correspondence).\n",
    0, -1};

typedef struct corr_job {
    zf_net *net;
    zf_data_prep prep;
    cli_inputs in;
    const char *parts_path, *layers, *dir;
    double fill_px;
    int random, nl, layer_idx[64], nparts;
    uint64_t seed;
    char **part_names;
    zf_rect *rects; /* (nparts, n) */
    double *delta;  /* (nparts + 1, nl); the last row: random mean */
    double *rstd;   /* (nl) */
} corr_job;

/* one part's rectangles: an array of n [X0,Y0,X1,Y1] */
static int part_rects(const char *path, const char *name, json_t *a, int n, zf_rect *out) {
    if (!json_is_array(a) || (int)json_array_size(a) != n)
        return cli_error("%s: part '%s' needs %d rectangles (one per image), not %d", path, name, n,
                         json_is_array(a) ? (int)json_array_size(a) : 0);
    for (int i = 0; i < n; i++) {
        json_t *r = json_array_get(a, i);
        int v[4];
        for (int k = 0; k < 4; k++) {
            json_t *e = json_is_array(r) && json_array_size(r) == 4 ? json_array_get(r, k) : NULL;
            if (!json_is_integer(e) || json_integer_value(e) < -65536 ||
                json_integer_value(e) > 65536)
                return cli_error("%s: part '%s', image %d: expected [X0,Y0,X1,Y1] (integers "
                                 "within +-65536)",
                                 path, name, i);
            v[k] = (int)json_integer_value(e);
        }
        out[i] = (zf_rect){v[0], v[1], v[2], v[3]};
    }
    return 0;
}

static int read_parts(corr_job *j) {
    json_error_t je;
    zf_error err;
    FILE *f = zf_fopen_read(j->parts_path, &err);
    if (!f) return cli_error("%s", err.msg);
    json_t *root = json_loadf(f, 0, &je), *parts;
    fclose(f);
    if (!root) return cli_error("%s:%d: %s", j->parts_path, je.line, je.text);
    parts = json_object_get(root, "parts");
    int n = j->in.n, rc = 0;
    if (!json_is_object(parts) || !json_object_size(parts))
        rc = cli_error("%s: expected {\"parts\": {\"NAME\": [[X0,Y0,X1,Y1], ...], ...}}",
                       j->parts_path);
    size_t np = rc ? 0 : json_object_size(parts);
    j->part_names = calloc(np ? np : 1, sizeof(char *));
    j->rects = malloc(sizeof(zf_rect) * (np ? np : 1) * n);
    if (!rc && (!j->part_names || !j->rects)) rc = cli_error("out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(parts, key, val) {
        if (rc) break;
        rc = part_rects(j->parts_path, key, val, n, j->rects + (size_t)n * j->nparts);
        if (!rc && !(j->part_names[j->nparts++] = strdup(key))) rc = cli_error("out of memory");
    }
    json_decref(root);
    return rc;
}

static int choose_layers(corr_job *j) {
    return cli_feature_layers(j->net, "correspondence", j->layers, 1, j->layer_idx, &j->nl);
}

static const char *layer_name(const corr_job *j, int k) {
    zf_layer_info li;
    zf_net_layer_info(j->net, j->layer_idx[k], &li);
    return li.name;
}

static int compute(corr_job *j) {
    zf_shape in = zf_net_input_shape(j->net);
    size_t per = (size_t)in.c * in.h * in.w;
    float *fill = malloc(sizeof(float) * per);
    j->delta = malloc(sizeof(double) * (j->nparts + 1) * j->nl);
    j->rstd = malloc(sizeof(double) * j->nl);
    zf_error err;
    int rc = fill && j->delta && j->rstd ? 0 : cli_error("out of memory");
    if (!rc && zf_occlusion_fill(&j->prep, in, j->fill_px, fill, &err)) rc = cli_fail(&err);
    double mw = 0, mh = 0;
    for (int p = 0; !rc && p < j->nparts; p++) {
        const zf_rect *r = j->rects + (size_t)j->in.n * p;
        for (int i = 0; i < j->in.n; i++)
            mw += (double)(r[i].x1 - r[i].x0) / (j->nparts * j->in.n),
                mh += (double)(r[i].y1 - r[i].y0) / (j->nparts * j->in.n);
        if (zf_correspondence(j->net, j->in.x, j->in.n, r, fill, j->layer_idx, j->nl,
                              j->delta + (size_t)j->nl * p, &err))
            rc = cli_error("%s: part '%s': %s", j->parts_path, j->part_names[p], err.msg);
    }
    if (!rc && zf_correspondence_random(j->net, j->in.x, j->in.n, (int)lround(mw), (int)lround(mh),
                                        fill, j->layer_idx, j->nl, j->random, j->seed,
                                        j->delta + (size_t)j->nl * j->nparts, j->rstd, &err))
        rc = cli_fail(&err);
    if (!rc)
        printf("correspondence: %d images, %d parts, random %dx%d masks x %d\n", j->in.n, j->nparts,
               (int)lround(mw), (int)lround(mh), j->random);
    free(fill);
    return rc;
}

/* Table 1's layout as text, CSV and JSON */
static int report(const corr_job *j) {
    char *buf = NULL, path[4400];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_t *rows = json_array();
    if (!f || !rows) return cli_error("out of memory");
    printf("%-20s", "part");
    fprintf(f, "part");
    for (int k = 0; k < j->nl; k++)
        printf("  %-17s", layer_name(j, k)), fprintf(f, ",%s", layer_name(j, k));
    for (int k = 0; k < j->nl; k++) fprintf(f, ",%s_std", layer_name(j, k));
    fprintf(f, "\n"), printf("\n");
    for (int p = 0; p <= j->nparts; p++) {
        const char *name = p < j->nparts ? j->part_names[p] : "random";
        json_t *row = json_pack("{s:s}", "part", name);
        printf("%-20s", name), fprintf(f, "%s", name);
        for (int k = 0; k < j->nl; k++) {
            double d = j->delta[(size_t)j->nl * p + k];
            if (p < j->nparts)
                printf("  %-17.4f", d);
            else
                printf("  %.4f +- %-7.4f", d, j->rstd[k]);
            fprintf(f, ",%.6f", d);
            json_object_set_new(row, layer_name(j, k), json_real(d));
            if (p == j->nparts) {
                char key[64];
                snprintf(key, sizeof key, "%s_std", layer_name(j, k));
                json_object_set_new(row, key, json_real(j->rstd[k]));
            }
        }
        for (int k = 0; k < j->nl; k++) fprintf(f, p == j->nparts ? ",%.6f" : ",", j->rstd[k]);
        fprintf(f, "\n"), printf("\n");
        json_array_append_new(rows, row);
    }
    int rc = make_dir(j->dir);
    snprintf(path, sizeof path, "%s/correspondence.csv", j->dir);
    rc = rc ? (fclose(f), free(buf), rc) : svg_save(f, &buf, path);
    json_t *o = json_pack("{s:i,s:i,s:I,s:o}", "images", j->in.n, "random_repeats", j->random,
                          "seed", (json_int_t)j->seed, "rows", rows);
    snprintf(path, sizeof path, "%s/correspondence.json", j->dir);
    if (!rc) rc = write_json(path, o);
    json_decref(o);
    if (!rc) printf("correspondence.csv and .json in %s/\n", j->dir);
    return rc;
}

int cmd_correspondence(int argc, char **argv) {
    cli_input_args a = {.input_opt = "--images"};
    corr_job j = {.fill_px = -1, .random = 10, .seed = 1, .dir = "zfnet-correspondence"};
    const cli_opt own[] = {
        CLI_WEIGHTS(&a.weights, "a checkpoint (its model text, weights and data preparation)"),
        {"model", CLI_STR, &a.model, "M", "a preset or model file (with --weights: its weights)"},
        {"images", CLI_STR, &a.input, "A", "image files (more follow), or X.safetensors"},
        {"data", CLI_STR, &a.data, "SPEC", "a dataset (with --items)"},
        {"items", CLI_STR, &a.items, "I,J", "its items (indices)"},
        {"parts", CLI_STR, &j.parts_path, "P", "the parts' rectangles (JSON)", .required = 1},
        {"random", CLI_INT, &j.random, "N", "random-mask repeats (10)", 1, 100000},
        {"seed", CLI_U64, &j.seed, "S", "their seed (1)"},
        {"layers", CLI_STR, &j.layers, "L", "layers (the top conv and the fc before the last)"},
        {"fill", CLI_CALL, &j.fill_px, "F", "mean (default), gray, zero or a grey level",
         .parse = cli_parse_fill, .choices = "mean gray zero"},
        CLI_OUTPUT(&j.dir, "the output folder (zfnet-correspondence)"),
        CLI_THREADS(&a.threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&corr_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    rc = cli_open_inputs("correspondence", &a, argv, npos, &j.net, &j.prep, &j.in);
    if (!rc && j.in.n < 2) rc = cli_error("correspondence: at least 2 images are needed");
    if (!rc) rc = read_parts(&j);
    if (!rc) rc = choose_layers(&j);
    if (!rc) rc = compute(&j);
    if (!rc) rc = report(&j);
    for (int p = 0; p < j.nparts; p++) free(j.part_names[p]);
    free(j.part_names), free(j.rects), free(j.delta), free(j.rstd);
    cli_inputs_free(&j.in);
    zf_data_prep_free(&j.prep);
    zf_net_free(j.net);
    return rc;
}
