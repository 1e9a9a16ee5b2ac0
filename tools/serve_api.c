/* zfnet serve's routes that compute, each run on the compute worker (the one thread that uses
 * the net): uploads, the input as the net sees it, predictions, projections, the dataset's
 * items. Each is a call of libzfnet; docs/serve.md says what each answers. */
#include "draw.h"
#include "serve.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- images -------------------------------------------------------------------------------- */

static size_t input_size(const sv_server *s) {
    return (size_t)s->in.c * s->in.h * s->in.w;
}

/* the upload `id`, or NULL */
static sv_image *upload(sv_server *s, const char *id) {
    for (int i = 0; i < SV_IMAGES; i++)
        if (s->images[i].used && !strcmp(s->images[i].id, id)) return &s->images[i];
    return NULL;
}

/* Image `id` as the net's input into x: an upload, or dataset item N ("dN"). 0, or a reply. */
static int image_input(sv_server *s, const char *id, float *x, sv_reply *r) {
    zf_error err;
    if (!*id) return sv_reply_error(r, 400, "image=ID is needed"), -1;
    if (id[0] == 'd') {
        long i = atol(id + 1);
        if (!s->data) return sv_reply_error(r, 404, "no dataset is open (--data)"), -1;
        if (i >= zf_dataset_count(s->data))
            return sv_reply_error(r, 404, "image %s: the dataset holds %d images", id,
                                  zf_dataset_count(s->data)),
                   -1;
        zf_shape ds = zf_dataset_shape(s->data);
        uint8_t *px = malloc((size_t)ds.c * ds.h * ds.w);
        if (!px) return sv_reply_error(r, 500, "out of memory"), -1;
        int bad = zf_dataset_read(s->data, (int)i, px, &err) ||
                  zf_data_prep_input(&s->prep, ds, px, s->in, x, &err);
        free(px);
        if (bad) return sv_reply_error(r, 500, "%s", err.msg), -1;
        return 0;
    }
    sv_image *im = upload(s, id);
    if (!im) return sv_reply_error(r, 404, "no image %s (uploads are kept: %d)", id, SV_IMAGES), -1;
    im->used = ++s->clock;
    memcpy(x, im->x, sizeof(float) * input_size(s));
    return 0;
}

/* a fresh upload id: 'u' and 64 random bits */
static void new_id(char id[24]) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != sizeof v) v ^= (uint64_t)(cli_now() * 1e9);
    snprintf(id, 24, "u%016llx", (unsigned long long)v);
}

/* POST /api/images: the body (the image's bytes, or a multipart form with a file) decoded and
 * prepared as the model's data; {"id": ...} */
static void route_upload(sv_server *s, sv_job *j) {
    const uint8_t *data = j->body;
    size_t len = j->len;
    char boundary[80];
    if (!sv_multipart_boundary(j->content_type, boundary, sizeof boundary) &&
        sv_multipart_file(j->body, j->len, boundary, &data, &len))
        return sv_reply_error(&j->reply, 400, "the multipart body holds no file");
    if (!len) return sv_reply_error(&j->reply, 400, "an empty body: send a JPEG or PNG");
    float *x = malloc(sizeof(float) * input_size(s));
    zf_error err;
    if (!x) return sv_reply_error(&j->reply, 500, "out of memory");
    if (zf_data_prep_image_data(&s->prep, data, len, "upload", s->in, x, &err)) {
        free(x);
        return sv_reply_error(&j->reply, 400, "%s", err.msg);
    }
    sv_image *slot = &s->images[0];
    for (int i = 1; i < SV_IMAGES; i++) /* a free slot, or the least recently used */
        if (s->images[i].used < slot->used) slot = &s->images[i];
    free(slot->x);
    slot->x = x, slot->used = ++s->clock;
    new_id(slot->id);
    sv_reply_json(&j->reply, 201, json_pack("{s:s}", "id", slot->id));
}

/* (c, h, w) bytes as a PNG reply, each pixel `zoom` x `zoom` */
static void png_reply(sv_reply *r, const uint8_t *chw, int c, int h, int w, int zoom) {
    zf_image im = {.w = w * zoom, .h = h * zoom, .c = c};
    im.px = malloc((size_t)im.w * im.h * c);
    if (!im.px) return sv_reply_error(r, 500, "out of memory");
    for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w; x++)
            for (int k = 0; k < c; k++)
                im.px[((size_t)y * im.w + x) * c + k] =
                    chw[((size_t)k * h + y / zoom) * w + x / zoom];
    uint8_t *png;
    size_t len;
    zf_error err;
    zf_status st = zf_png_encode(&im, &png, &len, &err);
    zf_image_free(&im);
    if (st) return sv_reply_error(r, 500, "%s", err.msg);
    *r = (sv_reply){.status = 200, .type = "image/png", .body = (char *)png, .len = len};
}

static int zoom_for(const sv_server *s) {
    return vis_zoom(s->in.w, 192);
}

/* GET /api/input?image=ID: the image as the net sees it (cropped, resized, the mean added back) */
static void route_input(sv_server *s, sv_job *j) {
    size_t n = input_size(s);
    float *x = malloc(sizeof(float) * n);
    uint8_t *px = malloc(n);
    if (x && px && !image_input(s, j->image, x, &j->reply)) {
        if (s->prep.mean)
            zf_data_prep_pixels(&s->prep, s->in, x, 0, 0, s->in.h, s->in.w, px);
        else
            vis_minmax(x, s->in.c, s->in.h, s->in.w, px);
        png_reply(&j->reply, px, s->in.c, s->in.h, s->in.w, zoom_for(s));
    } else if (!x || !px)
        sv_reply_error(&j->reply, 500, "out of memory");
    free(x), free(px);
}

/* ---- predictions and projections ----------------------------------------------------------- */

/* GET /api/predict?image=ID: the top 5 [{"class", "label", "p"}] */
static void route_predict(sv_server *s, sv_job *j) {
    int last = zf_net_num_layers(s->net) - 1, top = s->classes < 5 ? s->classes : 5;
    float *x = malloc(sizeof(float) * input_size(s)), *p = malloc(sizeof(float) * s->classes);
    char *taken = calloc((size_t)s->classes, 1);
    zf_error err;
    if (!x || !p || !taken) {
        free(x), free(p), free(taken);
        return sv_reply_error(&j->reply, 500, "out of memory");
    }
    if (!image_input(s, j->image, x, &j->reply)) {
        if (zf_net_reserve(s->net, 1, &err) || zf_net_set_input(s->net, x, 1, &err) ||
            zf_net_forward(s->net, ZF_MODE_INFER, -1, &err) ||
            zf_net_read_output(s->net, last, p, &err))
            sv_reply_error(&j->reply, 500, "%s", err.msg);
        else {
            json_t *a = json_array();
            for (int i = 0; i < top; i++) { /* the largest left, ties to the lower class */
                int best = -1;
                for (int k = 0; k < s->classes; k++)
                    if (!taken[k] && (best < 0 || p[k] > p[best])) best = k;
                const char *name = zf_data_prep_class_name(&s->prep, best);
                json_array_append_new(a, json_pack("{s:i,s:s?,s:f}", "class", best, "label", name,
                                                   "p", (double)p[best]));
                taken[best] = 1;
            }
            sv_reply_json(&j->reply, 200, a);
        }
    }
    free(x), free(p), free(taken);
}

/* the projection options from the request; 0, or a 400 reply */
static int project_options(sv_server *s, sv_job *j, int *layer, zf_project_options *po) {
    zf_error err;
    zf_project_defaults(po);
    if (!j->layer[0] || (*layer = zf_net_find_layer(s->net, j->layer)) < 0)
        return sv_reply_error(&j->reply, 400, "layer '%s' is not a layer of %s", j->layer,
                              cli_model(s->net)),
               -1;
    zf_rule_parse(j->rule, &po->rule, &err);
    if ((j->y >= 0) != (j->x >= 0) || (j->y >= 0 && j->map < 0))
        return sv_reply_error(&j->reply, 400, "a unit needs map, y and x together"), -1;
    po->select = j->y >= 0 ? ZF_SELECT_UNIT : j->map >= 0 ? ZF_SELECT_MAP : ZF_SELECT_STRONGEST;
    po->map = (int)j->map, po->y = (int)j->y, po->x = (int)j->x;
    return 0;
}

/* the projection as zfnet deconv --raw writes it: projection (1, c, h, w), map (1) */
static void projection_file(sv_server *s, sv_job *j, const zf_project_options *po, float *proj,
                            int map) {
    int64_t shape[4] = {1, s->in.c, s->in.h, s->in.w}, one[1] = {1}, map64 = map;
    zf_st_writer *w = NULL;
    zf_error err;
    uint8_t *bytes = NULL;
    size_t len = 0;
    zf_lrn_rule lrn = zf_lrn_rule_for(po->rule, po->lrn);
    if (zf_st_writer_create(&w, &err) ||
        zf_st_writer_add(w, "projection", ZF_DTYPE_F32, 4, shape, proj, &err) ||
        zf_st_writer_add(w, "map", ZF_DTYPE_I64, 1, one, &map64, &err) ||
        zf_st_writer_meta(w, "layer", j->layer, &err) ||
        zf_st_writer_meta(w, "rule", j->rule, &err) ||
        zf_st_writer_meta(w, "lrn", zf_lrn_rule_name(lrn), &err) ||
        zf_st_writer_bytes(w, &bytes, &len, &err))
        sv_reply_error(&j->reply, 500, "%s", err.msg);
    else
        j->reply = (sv_reply){.status = 200,
                              .type = "application/octet-stream",
                              .body = (char *)bytes,
                              .len = len,
                              .disposition = "projection.safetensors"};
    zf_st_writer_free(w);
}

/* GET /api/project?image=ID&layer=NAME[&map=K[&y=Y&x=X]][&rule=R][&format=safetensors] */
static void route_project(sv_server *s, sv_job *j) {
    int layer, map;
    float value;
    zf_project_options po;
    if (project_options(s, j, &layer, &po)) return;
    size_t n = input_size(s);
    float *x = malloc(sizeof(float) * n), *proj = malloc(sizeof(float) * n);
    uint8_t *px = malloc(n);
    zf_error err;
    if (!x || !proj || !px)
        sv_reply_error(&j->reply, 500, "out of memory");
    else if (!image_input(s, j->image, x, &j->reply)) {
        if (zf_project(s->net, layer, x, 1, &po, proj, &map, &value, &err))
            sv_reply_error(&j->reply, err.status == ZF_ERR_NOMEM ? 500 : 400, "%s", err.msg);
        else if (!strcmp(j->format, "safetensors"))
            projection_file(s, j, &po, proj, map);
        else {
            vis_signed(proj, s->in.c, s->in.h, s->in.w, px);
            png_reply(&j->reply, px, s->in.c, s->in.h, s->in.w, zoom_for(s));
        }
    }
    free(x), free(proj), free(px);
}

/* ---- the dataset --------------------------------------------------------------------------- */

/* GET /api/data/items?class=K&offset=O&limit=L: the dataset's items of class K (all classes
 * without it), O on, at most L (60): {"total", "items": [...]} */
static void route_items(sv_server *s, sv_job *j) {
    if (!s->data) return sv_reply_error(&j->reply, 404, "no dataset is open (--data)");
    long off = j->offset < 0 ? 0 : j->offset, lim = j->limit < 0 ? 60 : j->limit, seen = 0;
    json_t *items = json_array();
    for (int i = 0; i < zf_dataset_count(s->data); i++) {
        if (j->klass >= 0 && zf_dataset_label(s->data, i) != j->klass) continue;
        if (seen >= off && seen < off + lim) {
            char id[24];
            snprintf(id, sizeof id, "d%d", i);
            json_array_append_new(
                items, json_pack("{s:s,s:i}", "id", id, "label", zf_dataset_label(s->data, i)));
        }
        seen++;
    }
    sv_reply_json(&j->reply, 200,
                  json_pack("{s:I,s:o}", "total", (json_int_t)seen, "items", items));
}

void (*sv_route(const char *method, const char *path))(sv_server *s, sv_job *j) {
    static const struct {
        const char *method, *path;
        void (*run)(sv_server *, sv_job *);
    } routes[] = {{"POST", "/api/images", route_upload},
                  {"GET", "/api/input", route_input},
                  {"GET", "/api/predict", route_predict},
                  {"GET", "/api/project", route_project},
                  {"GET", "/api/data/items", route_items}};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (!strcmp(routes[i].method, method) && !strcmp(routes[i].path, path))
            return routes[i].run;
    return NULL;
}

/* ---- the model ----------------------------------------------------------------------------- */

char *sv_model_json(const sv_server *s) {
    json_t *layers = json_array(), *names = json_array();
    for (int i = 0; i < zf_net_num_layers(s->net); i++) {
        zf_layer_info li;
        zf_net_layer_info(s->net, i, &li);
        json_array_append_new(layers,
                              json_pack("{s:s,s:s,s:[i,i,i],s:I,s:i,s:i}", "name", li.name, "kind",
                                        zf_layer_kind_name(li.kind), "out", li.out.c, li.out.h,
                                        li.out.w, "params", (json_int_t)li.params, "rf_size",
                                        li.rf_size, "rf_stride", li.rf_stride));
    }
    for (int k = 0; k < s->classes; k++) {
        const char *name = zf_data_prep_class_name(&s->prep, k);
        json_array_append_new(names, name ? json_string(name) : json_sprintf("class %d", k));
    }
    json_t *data = json_null();
    if (s->data)
        data = json_pack("{s:s,s:i,s:i}", "spec", s->data_spec, "count", zf_dataset_count(s->data),
                         "classes", zf_dataset_classes(s->data));
    json_t *m = json_pack("{s:s,s:s,s:[i,i,i],s:i,s:o,s:o,s:{s:f,s:i,s:b},s:o}", "name",
                          zf_model_name(zf_net_model(s->net)), "weights", s->weights, "input",
                          s->in.c, s->in.h, s->in.w, "classes", s->classes, "class_names", names,
                          "layers", layers, "prep", "scale", (double)s->prep.scale, "pad",
                          s->prep.pad, "mean", s->prep.mean != NULL, "data", data);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return text;
}
