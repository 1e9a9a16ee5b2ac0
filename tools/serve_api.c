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
int sv_image_input(sv_server *s, const char *id, float *x, sv_reply *r) {
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
    pthread_mutex_lock(&s->mu); /* the task worker reads uploads too */
    sv_image *im = upload(s, id);
    if (im) {
        im->used = ++s->clock;
        memcpy(x, im->x, sizeof(float) * input_size(s));
    }
    pthread_mutex_unlock(&s->mu);
    if (!im) return sv_reply_error(r, 404, "no image %s (uploads are kept: %d)", id, SV_IMAGES), -1;
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
    char id[24];
    new_id(id);
    pthread_mutex_lock(&s->mu);
    sv_image *slot = &s->images[0];
    for (int i = 1; i < SV_IMAGES; i++) /* a free slot, or the least recently used */
        if (s->images[i].used < slot->used) slot = &s->images[i];
    free(slot->x);
    slot->x = x, slot->used = ++s->clock;
    memcpy(slot->id, id, sizeof id);
    pthread_mutex_unlock(&s->mu);
    sv_reply_json(&j->reply, 201, json_pack("{s:s}", "id", id));
}

/* (c, h, w) bytes as a PNG reply, each pixel `zoom` x `zoom` */
void sv_png_reply(sv_reply *r, const uint8_t *chw, int c, int h, int w, int zoom) {
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
    if (x && px && !sv_image_input(s, j->image, x, &j->reply)) {
        if (s->prep.mean)
            zf_data_prep_pixels(&s->prep, s->in, x, 0, 0, s->in.h, s->in.w, px);
        else
            vis_minmax(x, s->in.c, s->in.h, s->in.w, px);
        sv_png_reply(&j->reply, px, s->in.c, s->in.h, s->in.w, zoom_for(s));
    } else if (!x || !px)
        sv_reply_error(&j->reply, 500, "out of memory");
    free(x), free(px);
}

/* ---- weights: the served checkpoint, or one of the run's snapshots ------------------------- */

zf_status sv_use_snapshot(sv_server *s, zf_net *net, int *held, int want, zf_error *err) {
    if (*held == want) return ZF_OK;
    zf_status st = zf_checkpoint_load(net, want < 0 ? s->weights : s->snapshots[want], err);
    *held = st ? -2 : want; /* -2: half loaded, whatever is asked next loads again */
    return st;
}

/* the request's snapshot in the compute worker's net; 0, or -1 with a reply */
static int use_snapshot(sv_server *s, sv_job *j) {
    zf_error err;
    if (j->snapshot >= s->nsnapshots)
        return sv_reply_error(&j->reply, 400, "snapshot %ld: the run has %d", j->snapshot,
                              s->nsnapshots),
               -1;
    int before = s->net_snapshot;
    if (sv_use_snapshot(s, s->net, &s->net_snapshot, (int)j->snapshot, &err))
        return sv_reply_error(&j->reply, 500, "%s", err.msg), -1;
    if (s->net_snapshot != before) s->fwd_upto = -1;
    return 0;
}

/* ---- predictions and projections ----------------------------------------------------------- */

/* image `id` (its input x) forward through layer `upto`, unless the last pass already did */
static zf_status forward(sv_server *s, const char *id, const float *x, int upto, zf_error *err) {
    if (s->fwd_upto >= upto && !strcmp(s->fwd_image, id)) return ZF_OK;
    s->fwd_upto = -1;
    zf_status st = zf_net_reserve(s->net, 1, err);
    if (!st) st = zf_net_set_input(s->net, x, 1, err);
    if (!st) st = zf_net_forward(s->net, ZF_MODE_INFER, upto, err);
    if (!st) snprintf(s->fwd_image, sizeof s->fwd_image, "%s", id), s->fwd_upto = upto;
    return st;
}

/* GET /api/predict?image=ID: the top 5 [{"class", "label", "p"}] */
static void route_predict(sv_server *s, sv_job *j) {
    if (use_snapshot(s, j)) return;
    int last = zf_net_num_layers(s->net) - 1, top = s->classes < 5 ? s->classes : 5;
    float *x = malloc(sizeof(float) * input_size(s)), *p = malloc(sizeof(float) * s->classes);
    char *taken = calloc((size_t)s->classes, 1);
    zf_error err;
    if (!x || !p || !taken) {
        free(x), free(p), free(taken);
        return sv_reply_error(&j->reply, 500, "out of memory");
    }
    if (!sv_image_input(s, j->image, x, &j->reply)) {
        if (forward(s, j->image, x, last, &err) || zf_net_read_output(s->net, last, p, &err))
            sv_reply_error(&j->reply, 500, "%s", err.msg);
        else {
            json_t *a = json_array();
            for (int i = 0; i < top; i++) { /* the largest left, ties to the lower class */
                int best = -1;
                for (int k = 0; k < s->classes; k++)
                    if (!taken[k] && (best < 0 || p[k] > p[best])) best = k;
                const char *name = zf_data_prep_class_name(&s->prep, best);
                char label[32];
                snprintf(label, sizeof label, "class %d", best);
                json_array_append_new(a, json_pack("{s:i,s:s,s:f}", "class", best, "label",
                                                   name ? name : label, "p", (double)p[best]));
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

/* the writer's file as the reply (`name` to save it as), or the error that stopped it */
static void file_reply(sv_reply *r, zf_st_writer *w, zf_status st, zf_error *err,
                       const char *name) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!st) st = zf_st_writer_bytes(w, &bytes, &len, err);
    if (st)
        sv_reply_error(r, 500, "%s", err->msg);
    else
        *r = (sv_reply){.status = 200,
                        .type = "application/octet-stream",
                        .body = (char *)bytes,
                        .len = len,
                        .disposition = name};
    zf_st_writer_free(w);
}

/* the projection as zfnet deconv --raw writes it: projection (1, c, h, w), map (1) */
static void projection_file(sv_server *s, sv_job *j, const zf_project_options *po, float *proj,
                            int map) {
    int64_t shape[4] = {1, s->in.c, s->in.h, s->in.w}, one[1] = {1}, map64 = map;
    zf_st_writer *w = NULL;
    zf_error err;
    zf_lrn_rule lrn = zf_lrn_rule_for(po->rule, po->lrn);
    zf_status st = zf_st_writer_create(&w, &err);
    if (!st && (zf_st_writer_add(w, "projection", ZF_DTYPE_F32, 4, shape, proj, &err) ||
                zf_st_writer_add(w, "map", ZF_DTYPE_I64, 1, one, &map64, &err) ||
                zf_st_writer_meta(w, "layer", j->layer, &err) ||
                zf_st_writer_meta(w, "rule", j->rule, &err) ||
                zf_st_writer_meta(w, "lrn", zf_lrn_rule_name(lrn), &err)))
        st = err.status;
    file_reply(&j->reply, w, st, &err, "projection.safetensors");
}

/* GET /api/project?image=ID&layer=NAME[&map=K[&y=Y&x=X]][&rule=R][&format=safetensors] */
static void route_project(sv_server *s, sv_job *j) {
    if (use_snapshot(s, j)) return;
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
    else if (!sv_image_input(s, j->image, x, &j->reply)) {
        s->fwd_upto = -1; /* the projection's own passes replace the activations */
        if (zf_project(s->net, layer, x, 1, &po, proj, &map, &value, &err))
            sv_reply_error(&j->reply, err.status == ZF_ERR_NOMEM ? 500 : 400, "%s", err.msg);
        else if (!strcmp(j->format, "safetensors"))
            projection_file(s, j, &po, proj, map);
        else {
            vis_signed(proj, s->in.c, s->in.h, s->in.w, px);
            sv_png_reply(&j->reply, px, s->in.c, s->in.h, s->in.w, zoom_for(s));
        }
    }
    free(x), free(proj), free(px);
}

/* the layer named in the request; its index, or -1 with a 400 reply */
static int request_layer(sv_server *s, sv_job *j) {
    int layer = j->layer[0] ? zf_net_find_layer(s->net, j->layer) : -1;
    if (layer < 0)
        sv_reply_error(&j->reply, 400, "layer '%s' is not a layer of %s", j->layer,
                       cli_model(s->net));
    return layer;
}

/* the tiles of a layer's maps: cols x rows of (h, w) tiles at `zoom`, 1 pixel apart */
typedef struct sheet {
    int maps, h, w, cols, rows, zoom, width, height;
} sheet;

static sheet sheet_of(zf_shape o) {
    sheet t = {.maps = o.c, .h = o.h, .w = o.w};
    while (t.cols * t.cols < o.c) t.cols++;
    t.rows = (o.c + t.cols - 1) / t.cols;
    t.zoom = vis_zoom(t.cols * (o.w + 1), 640);
    t.width = t.cols * (o.w * t.zoom + 1) - 1, t.height = t.rows * (o.h * t.zoom + 1) - 1;
    return t;
}

/* the maps (c, h, w) as one grey picture: the layer's range to black .. white */
static void sheet_png(sv_reply *r, const sheet *t, const float *a) {
    size_t plane = (size_t)t->h * t->w, n = plane * t->maps;
    float lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) lo = a[i] < lo ? a[i] : lo, hi = a[i] > hi ? a[i] : hi;
    uint8_t *px = malloc((size_t)t->width * t->height);
    if (!px) return sv_reply_error(r, 500, "out of memory");
    memset(px, 96, (size_t)t->width * t->height);
    for (int m = 0; m < t->maps; m++) {
        int x0 = (m % t->cols) * (t->w * t->zoom + 1), y0 = (m / t->cols) * (t->h * t->zoom + 1);
        for (int y = 0; y < t->h * t->zoom; y++)
            for (int x = 0; x < t->w * t->zoom; x++) {
                float v = a[m * plane + (size_t)(y / t->zoom) * t->w + x / t->zoom];
                px[(size_t)(y0 + y) * t->width + x0 + x] =
                    (uint8_t)(hi > lo ? 255 * (v - lo) / (hi - lo) + 0.5f : 0);
            }
    }
    sv_png_reply(r, px, 1, t->height, t->width, 1);
    free(px);
}

/* each map's largest value, and the sheet's layout, as JSON */
static json_t *maps_json(const zf_layer_info *li, const sheet *t, const float *a) {
    size_t plane = (size_t)li->out.h * li->out.w;
    json_t *mx = json_array();
    for (int m = 0; m < li->out.c; m++) {
        float v = a[m * plane];
        for (size_t i = 1; i < plane; i++) v = a[m * plane + i] > v ? a[m * plane + i] : v;
        json_array_append_new(mx, json_real(v));
    }
    return json_pack("{s:s,s:i,s:i,s:i,s:o,s:{s:i,s:i,s:i,s:i,s:i}}", "layer", li->name, "maps",
                     li->out.c, "h", li->out.h, "w", li->out.w, "max", mx, "sheet", "cols", t->cols,
                     "rows", t->rows, "zoom", t->zoom, "width", t->width, "height", t->height);
}

/* GET /api/activations?image=ID&layer=NAME[&format=png]: the layer's maps for the image; JSON
 * {"layer", "maps", "h", "w", "max": [each map's largest value], "sheet": {"cols", "rows",
 * "zoom", "width", "height"}}, or the maps as one PNG laid out so */
static void route_activations(sv_server *s, sv_job *j) {
    if (use_snapshot(s, j)) return;
    int layer = request_layer(s, j);
    if (layer < 0) return;
    zf_layer_info li;
    zf_net_layer_info(s->net, layer, &li);
    size_t n = (size_t)li.out.c * li.out.h * li.out.w;
    float *x = malloc(sizeof(float) * input_size(s)), *a = malloc(sizeof(float) * n);
    zf_error err;
    sheet t = sheet_of(li.out);
    if (!x || !a)
        sv_reply_error(&j->reply, 500, "out of memory");
    else if (!sv_image_input(s, j->image, x, &j->reply)) {
        if (forward(s, j->image, x, layer, &err) || zf_net_read_output(s->net, layer, a, &err))
            sv_reply_error(&j->reply, 500, "%s", err.msg);
        else if (!strcmp(j->format, "png"))
            sheet_png(&j->reply, &t, a);
        else
            sv_reply_json(&j->reply, 200, maps_json(&li, &t, a));
    }
    free(x), free(a);
}

/* Grad-CAM as zfnet deconv --rule gradcam --raw writes it: gradcam (1, 1, h, w), class (1) */
static void gradcam_file(sv_server *s, sv_job *j, const char *at, const float *cam, int klass) {
    int64_t shape[4] = {1, 1, s->in.h, s->in.w}, one[1] = {1}, k64 = klass;
    zf_st_writer *w = NULL;
    zf_error err;
    zf_status st = zf_st_writer_create(&w, &err);
    if (!st &&
        (zf_st_writer_add(w, "gradcam", ZF_DTYPE_F32, 4, shape, cam, &err) ||
         zf_st_writer_add(w, "class", ZF_DTYPE_I64, 1, one, &k64, &err) ||
         zf_st_writer_meta(w, "layer", at, &err) || zf_st_writer_meta(w, "rule", "gradcam", &err)))
        st = err.status;
    file_reply(&j->reply, w, st, &err, "gradcam.safetensors");
}

/* the Grad-CAM map over the input as the net sees it, as a PNG */
static void gradcam_png(sv_server *s, sv_reply *r, const float *x, const float *cam) {
    size_t n = input_size(s), plane = (size_t)s->in.h * s->in.w;
    uint8_t *px = malloc(n), *rgb = malloc(3 * plane);
    if (!px || !rgb) {
        free(px), free(rgb);
        return sv_reply_error(r, 500, "out of memory");
    }
    if (s->prep.mean)
        zf_data_prep_pixels(&s->prep, s->in, x, 0, 0, s->in.h, s->in.w, px);
    else
        vis_minmax(x, s->in.c, s->in.h, s->in.w, px);
    vis_cam(cam, px, s->in.c, s->in.h, s->in.w, rgb);
    sv_png_reply(r, rgb, 3, s->in.h, s->in.w, zoom_for(s));
    free(px), free(rgb);
}

/* GET /api/gradcam?image=ID&layer=NAME[&class=K][&format=safetensors]: Grad-CAM at the layer
 * (after its ReLU) for class K (default: the prediction), over the input (PNG) or as numbers */
static void route_gradcam(sv_server *s, sv_job *j) {
    if (use_snapshot(s, j)) return;
    int layer = request_layer(s, j), at, klass;
    zf_error err;
    if (layer < 0) return;
    if (zf_gradcam_layer(s->net, layer, &at, &err))
        return sv_reply_error(&j->reply, 400, "%s", err.msg);
    if (j->klass >= s->classes)
        return sv_reply_error(&j->reply, 400, "class %ld: the model has %d", j->klass, s->classes);
    zf_layer_info li;
    zf_net_layer_info(s->net, at, &li);
    float *x = malloc(sizeof(float) * input_size(s));
    float *cam = malloc(sizeof(float) * s->in.h * s->in.w), p;
    if (!x || !cam)
        sv_reply_error(&j->reply, 500, "out of memory");
    else if (!sv_image_input(s, j->image, x, &j->reply)) {
        s->fwd_upto = -1;
        if (zf_gradcam(s->net, layer, (int)j->klass, x, 1, 1, cam, &klass, &p, &err))
            sv_reply_error(&j->reply, 400, "%s", err.msg);
        else if (!strcmp(j->format, "safetensors"))
            gradcam_file(s, j, li.name, cam, klass);
        else
            gradcam_png(s, &j->reply, x, cam);
    }
    free(x), free(cam);
}

/* GET /api/filters[?snapshot=K]: the first conv layer's filters, each scaled to its own range,
 * as a grid (ZF Fig. 6) */
static void route_filters(sv_server *s, sv_job *j) {
    if (use_snapshot(s, j)) return;
    int p = -1;
    zf_param_info pi;
    for (int i = 0; i < zf_net_num_param_tensors(s->net) && p < 0; i++)
        if (!zf_net_param_info(s->net, i, &pi) && pi.ndim == 4) p = i;
    if (p < 0) return sv_reply_error(&j->reply, 404, "%s has no conv layer", cli_model(s->net));
    int n = (int)pi.shape[0], c = (int)pi.shape[1], kh = (int)pi.shape[2], kw = (int)pi.shape[3];
    int cols = 1;
    while (cols * cols < n) cols++;
    int rows = (n + cols - 1) / cols, oc = c == 3 ? 3 : 1, W = cols * (kw + 1) - 1,
        H = rows * (kh + 1) - 1;
    size_t per = (size_t)c * kh * kw;
    uint8_t *px = malloc((size_t)oc * W * H), *f = malloc(per);
    if (!px || !f) {
        free(px), free(f);
        return sv_reply_error(&j->reply, 500, "out of memory");
    }
    memset(px, 255, (size_t)oc * W * H);
    const float *w = zf_net_params(s->net) + pi.offset;
    for (int i = 0; i < n; i++) {
        vis_minmax(w + per * i, c, kh, kw, f); /* more than 3 channels: the first shown */
        for (int ch = 0; ch < oc; ch++)
            for (int y = 0; y < kh; y++)
                memcpy(px + ((size_t)ch * H + (i / cols) * (kh + 1) + y) * W +
                           (i % cols) * (kw + 1),
                       f + ((size_t)ch * kh + y) * kw, (size_t)kw);
    }
    sv_png_reply(&j->reply, px, oc, H, W, vis_zoom(W, 320));
    free(px), free(f);
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
    } routes[] = {
        {"POST", "/api/images", route_upload},          {"GET", "/api/input", route_input},
        {"GET", "/api/predict", route_predict},         {"GET", "/api/project", route_project},
        {"GET", "/api/activations", route_activations}, {"GET", "/api/gradcam", route_gradcam},
        {"GET", "/api/filters", route_filters},         {"GET", "/api/data/items", route_items}};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (!strcmp(routes[i].method, method) && !strcmp(routes[i].path, path))
            return routes[i].run;
    return sv_run_route(method, path);
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
    json_t *snaps = json_array();
    for (int i = 0; i < s->nsnapshots; i++)
        json_array_append_new(snaps,
                              json_pack("{s:i,s:i}", "index", i, "epoch", s->snapshot_epochs[i]));
    json_t *data = json_null();
    if (s->data)
        data = json_pack("{s:s,s:i,s:i}", "spec", s->data_spec, "count", zf_dataset_count(s->data),
                         "classes", zf_dataset_classes(s->data));
    json_t *m = json_pack("{s:s,s:s,s:[i,i,i],s:i,s:o,s:o,s:{s:f,s:i,s:b},s:o}", "name",
                          zf_model_name(zf_net_model(s->net)), "weights", s->weights, "input",
                          s->in.c, s->in.h, s->in.w, "classes", s->classes, "class_names", names,
                          "layers", layers, "prep", "scale", (double)s->prep.scale, "pad",
                          s->prep.pad, "mean", s->prep.mean != NULL, "data", data);
    json_object_set_new(m, "snapshots", snaps);
    json_object_set_new(m, "top9", sv_run_top9_index(s));
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return text;
}
