/* zfnet serve's long computations as tasks: a map's top-9 over the dataset (ZF Fig. 2) and an
 * image's occlusion maps (Fig. 7), each run by the task worker on a net of its own (so the page
 * stays quick meanwhile), followed by the page through its progress, cancellable, and
 * cancelled when nobody has asked for it for --task-idle seconds (the page went away). */
#include "draw.h"
#include "serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const state_names[] = {"free", "queued", "running",
                                          "done", "failed", "cancelled"};

/* a failure of the task's own (not the library's) */
static zf_status fail(zf_error *err, const char *msg) {
    err->status = ZF_ERR_ARG;
    snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : "failed");
    return ZF_ERR_ARG;
}

/* what a task computes, kept aside until it is published */
typedef struct task_out {
    json_t *result;
    uint8_t *png;
    size_t png_len;
} task_out;

static void task_clear(sv_task *t) {
    json_decref(t->result);
    free(t->png);
    *t = (sv_task){0};
}

/* ---- the library's callbacks, under the lock ----------------------------------------------- */

static void on_progress(void *ctx, const char *label, long done, long total, const char *extra) {
    (void)extra;
    sv_task *t = ctx;
    pthread_mutex_lock(&t->server->mu);
    if (label) snprintf(t->label, sizeof t->label, "%s", label), t->done = done, t->total = total;
    pthread_mutex_unlock(&t->server->mu);
}

static int on_cancelled(void *ctx) {
    sv_task *t = ctx;
    pthread_mutex_lock(&t->server->mu);
    if (!t->cancel && cli_now() - t->polled > t->server->task_idle) {
        t->cancel = 1;
        snprintf(t->error, sizeof t->error, "nobody asked for it for %.0f s: the page went away",
                 t->server->task_idle);
    }
    int stop = t->cancel;
    pthread_mutex_unlock(&t->server->mu);
    return stop;
}

/* ---- top-9 ---------------------------------------------------------------------------------- */

/* the 9 projections (top row) over their input patches (bottom row), each patch zoomed */
static void top9_png(sv_server *s, const zf_topk_layer *L, task_out *t) {
    int P = L->patch, c = s->in.c, gap = 2, k = 0;
    for (; k < L->k && L->top[k].image >= 0;) k++;
    int w = k * (P + gap), h = 2 * P + gap;
    size_t per = (size_t)c * P * P;
    uint8_t *sheet = malloc((size_t)c * w * h), *tile = malloc(per);
    if (!sheet || !tile || !k) return free(sheet), free(tile);
    memset(sheet, 255, (size_t)c * w * h);
    for (int e = 0; e < k; e++)
        for (int row = 0; row < 2; row++) {
            const float *v = (row ? L->input : L->proj) + per * e;
            if (row && s->prep.mean)
                zf_data_prep_pixels(&s->prep, s->in, v, L->top[e].wy, L->top[e].wx, P, P, tile);
            else if (row)
                vis_minmax(v, c, P, P, tile);
            else
                vis_signed(v, c, P, P, tile);
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < P; y++)
                    memcpy(sheet + ((size_t)ch * h + row * (P + gap) + y) * w + e * (P + gap),
                           tile + ((size_t)ch * P + y) * P, (size_t)P);
        }
    sv_reply r = {0};
    sv_png_reply(&r, sheet, c, h, w, vis_zoom(P, 64));
    if (r.status == 200)
        t->png = (uint8_t *)r.body, t->png_len = r.len;
    else
        free(r.body);
    free(sheet), free(tile);
}

static zf_status run_top9(sv_server *s, sv_task *t, zf_callbacks cb, task_out *out, zf_error *err) {
    if (!s->data) return fail(err, "no dataset is open (--data)");
    zf_layer_info li;
    zf_net_layer_info(s->task_net, t->layer, &li);
    char map[16];
    snprintf(map, sizeof map, "%d", t->map);
    zf_topk_layer *ls = NULL;
    int n = 0;
    zf_topk_options o;
    zf_topk_defaults(&o);
    o.cb = cb;
    zf_status st = zf_topk_select(s->task_net, li.name, map, 0, 1, 9, &ls, &n, err);
    if (!st) st = zf_topk_scan(s->task_net, &s->prep, s->data, ls, n, &o, err);
    if (!st) st = zf_topk_project(s->task_net, &s->prep, s->data, ls, &o, err);
    if (!st) {
        json_t *top = json_array();
        for (int e = 0; e < ls->k && ls->top[e].image >= 0; e++) {
            const zf_topk_entry *x = &ls->top[e];
            char id[24];
            snprintf(id, sizeof id, "d%d", x->image);
            json_array_append_new(top,
                                  json_pack("{s:s,s:i,s:i,s:i,s:i,s:f}", "image", id, "index",
                                            x->image, "label", zf_dataset_label(s->data, x->image),
                                            "y", x->y, "x", x->x, "value", (double)x->value));
        }
        out->result = json_pack("{s:s,s:i,s:i,s:o}", "layer", li.name, "map", t->map, "patch",
                                ls->patch, "top", top);
        top9_png(s, ls, out);
    }
    zf_topk_free(ls, n);
    return st;
}

/* ---- occlusion ------------------------------------------------------------------------------ */

static json_t *floats(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

/* over the input (x, as the net sees it): how much the class's probability drops when the
 * square is centred at each pixel (the squares' grid read at the nearest centre), in viridis */
static void occlusion_png(sv_server *s, const zf_occlusion_result *r, const float *x, task_out *t) {
    size_t plane = (size_t)s->in.h * s->in.w, n = (size_t)s->in.c * plane;
    float *drop = malloc(sizeof(float) * plane);
    uint8_t *px = malloc(n), *rgb = malloc(3 * plane);
    if (!drop || !px || !rgb) return free(drop), free(px), free(rgb);
    for (int y = 0; y < s->in.h; y++)
        for (int xx = 0; xx < s->in.w; xx++) {
            int i = (y - r->y0 - r->size / 2 + r->stride / 2) / r->stride;
            int j = (xx - r->x0 - r->size / 2 + r->stride / 2) / r->stride;
            i = i < 0 ? 0 : i >= r->ny ? r->ny - 1 : i, j = j < 0 ? 0 : j >= r->nx ? r->nx - 1 : j;
            float d = r->base_prob - r->prob[i * r->nx + j];
            drop[(size_t)y * s->in.w + xx] = d > 0 ? d : 0;
        }
    if (s->prep.mean)
        zf_data_prep_pixels(&s->prep, s->in, x, 0, 0, s->in.h, s->in.w, px);
    else
        vis_minmax(x, s->in.c, s->in.h, s->in.w, px);
    vis_cam(drop, px, s->in.c, s->in.h, s->in.w, rgb);
    sv_reply r2 = {0};
    sv_png_reply(&r2, rgb, 3, s->in.h, s->in.w, vis_zoom(s->in.w, 192));
    if (r2.status == 200)
        t->png = (uint8_t *)r2.body, t->png_len = r2.len;
    else
        free(r2.body);
    free(drop), free(px), free(rgb);
}

static zf_status run_occlusion(sv_server *s, sv_task *t, zf_callbacks cb, task_out *out,
                               zf_error *err) {
    float *x = malloc(sizeof(float) * (size_t)s->in.c * s->in.h * s->in.w);
    sv_reply bad = {0};
    if (!x) return fail(err, "out of memory");
    if (sv_image_input(s, t->image, x, &bad)) {
        free(x);
        json_t *e = json_loads(bad.body ? bad.body : "{}", 0, NULL);
        free(bad.body);
        zf_status st = fail(err, json_string_value(json_object_get(e, "error")));
        json_decref(e);
        return st;
    }
    zf_occlusion_options o; /* the square and step zfnet occlusion takes by default */
    zf_occlusion_defaults(&o);
    o.size = (int)lround(s->in.w * 50.0 / 224) > 0 ? (int)lround(s->in.w * 50.0 / 224) : 1;
    o.stride = s->in.w * 8 / 224 > 0 ? s->in.w * 8 / 224 : 1;
    o.layer = t->layer, o.map = t->map, o.cb = cb;
    zf_occlusion_result r;
    int klass = t->klass;
    zf_status st = zf_occlusion(s->task_net, x, 1, &klass, &o, &r, err);
    if (st) return free(x), st;
    zf_layer_info li;
    zf_net_layer_info(s->task_net, r.layer, &li);
    json_t *labels = json_array();
    for (int i = 0; i < r.ny * r.nx; i++) json_array_append_new(labels, json_integer(r.label[i]));
    out->result = json_pack(
        "{s:{s:i,s:i,s:i,s:i,s:i,s:i},s:s,s:i,s:i,s:f,s:f,s:i,s:o,s:o,s:o,s:o}", "grid", "size",
        r.size, "stride", r.stride, "ny", r.ny, "nx", r.nx, "y0", r.y0, "x0", r.x0, "layer",
        li.name, "map", r.map, "class", r.klass, "prob", (double)r.base_prob, "activation",
        (double)r.base_activation, "predicted", r.base_label, "prob_map",
        floats(r.prob, r.ny * r.nx), "activation_map", floats(r.activation, r.ny * r.nx),
        "label_map", labels, "label_prob_map", floats(r.label_prob, r.ny * r.nx));
    occlusion_png(s, &r, x, out);
    free(x);
    zf_occlusion_result_free(&r);
    return ZF_OK;
}

/* ---- the task worker ------------------------------------------------------------------------ */

/* the task worker's net: opened like the compute worker's, on first use */
static zf_status task_net(sv_server *s, zf_error *err) {
    if (s->task_net) return ZF_OK;
    zf_net_options no;
    cli_net_defaults(&no, s->threads);
    size_t n = strlen(s->open_weights);
    if (n > 5 && !strcmp(s->open_weights + n - 5, ".onnx")) {
        zf_data_prep prep;
        zf_status st = zf_onnx_import(s->open_weights, &no, &s->task_net, &prep, err);
        if (!st) zf_data_prep_free(&prep);
        return st;
    }
    return zf_checkpoint_open(s->open_weights, &no, &s->task_net, NULL, err);
}

static void run_task(sv_server *s, sv_task *t) {
    zf_callbacks cb = {.progress = on_progress, .cancelled = on_cancelled, .ctx = t};
    zf_error err = {0};
    task_out out = {0}; /* published with the state, under the lock */
    zf_status st = task_net(s, &err);
    if (!st) st = sv_use_snapshot(s, s->task_net, &s->task_net_snapshot, t->snapshot, &err);
    if (!st)
        st = t->kind == SV_TASK_TOP9 ? run_top9(s, t, cb, &out, &err)
                                     : run_occlusion(s, t, cb, &out, &err);
    pthread_mutex_lock(&s->mu);
    t->result = out.result, t->png = out.png, t->png_len = out.png_len;
    if (st == ZF_ERR_CANCELLED || t->cancel) {
        t->state = SV_TASK_CANCELLED;
        if (!t->error[0]) snprintf(t->error, sizeof t->error, "cancelled on request");
    } else if (st)
        t->state = SV_TASK_FAILED, snprintf(t->error, sizeof t->error, "%s", err.msg);
    else
        t->state = SV_TASK_DONE;
    pthread_mutex_unlock(&s->mu);
}

static void *tasker(void *arg) {
    sv_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        sv_task *next = NULL;
        for (int i = 0; i < SV_TASKS; i++)
            if (s->tasks[i].state == SV_TASK_QUEUED &&
                (!next || s->tasks[i].started < next->started))
                next = &s->tasks[i];
        if (!next && s->stopping) break;
        if (!next) {
            pthread_cond_wait(&s->task_work, &s->mu);
            continue;
        }
        next->state = SV_TASK_RUNNING;
        pthread_mutex_unlock(&s->mu);
        run_task(s, next);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sv_tasks_start(sv_server *s) {
    pthread_cond_init(&s->task_work, NULL);
    return pthread_create(&s->tasker, NULL, tasker, s) ? cli_error("cannot start a thread") : 0;
}

void sv_tasks_stop(sv_server *s) {
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SV_TASKS; i++) { /* the running one stops at its next batch */
        sv_task *t = &s->tasks[i];
        if (t->state == SV_TASK_QUEUED) t->state = SV_TASK_CANCELLED;
        t->cancel = 1;
    }
    pthread_cond_broadcast(&s->task_work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->tasker, NULL);
    for (int i = 0; i < SV_TASKS; i++) task_clear(&s->tasks[i]);
    zf_net_free(s->task_net);
    pthread_cond_destroy(&s->task_work);
}

/* ---- the routes ------------------------------------------------------------------------------ */

static json_t *task_json(const sv_task *t) {
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "id", t->id, "kind",
                  t->kind == SV_TASK_TOP9 ? "top9" : "occlusion", "state", state_names[t->state],
                  "done", (json_int_t)t->done, "total", (json_int_t)t->total, "label", t->label);
    if (t->error[0]) json_object_set_new(o, "error", json_string(t->error));
    if (t->result) json_object_set(o, "result", t->result);
    return o;
}

/* POST /api/tasks?kind=top9&layer=L&map=K | kind=occlusion&image=ID[&layer=L&map=K][&class=C] */
static void task_new(sv_server *s, const sv_job *p, const char *kind, sv_reply *r) {
    int top9 = kind && !strcmp(kind, "top9"), layer = -1;
    if (!top9 && (!kind || strcmp(kind, "occlusion")))
        return sv_reply_error(r, 400, "kind=top9 or kind=occlusion");
    if (p->layer[0] && (layer = zf_net_find_layer(s->net, p->layer)) < 0)
        return sv_reply_error(r, 400, "layer '%s' is not a layer of %s", p->layer,
                              cli_model(s->net));
    if (top9 && (layer < 0 || p->map < 0))
        return sv_reply_error(r, 400, "top9 needs layer and map");
    if (!top9 && !p->image[0]) return sv_reply_error(r, 400, "occlusion needs image=ID");
    if (top9 && !s->data) return sv_reply_error(r, 404, "no dataset is open (--data)");
    if (p->snapshot >= s->nsnapshots)
        return sv_reply_error(r, 400, "snapshot %ld: the run has %d", p->snapshot, s->nsnapshots);
    sv_task *slot = NULL; /* a free slot, or the oldest finished task's */
    for (int i = 0; i < SV_TASKS; i++) {
        sv_task *t = &s->tasks[i];
        if (t->state == SV_TASK_QUEUED || t->state == SV_TASK_RUNNING) continue;
        if (!slot || t->state == SV_TASK_FREE || (slot->state && t->started < slot->started))
            slot = t;
    }
    if (!slot) return sv_reply_error(r, 503, "%d tasks are queued or running", SV_TASKS);
    task_clear(slot);
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != sizeof v) v ^= (uint64_t)(cli_now() * 1e9);
    snprintf(slot->id, sizeof slot->id, "t%016llx", (unsigned long long)v);
    slot->kind = top9 ? SV_TASK_TOP9 : SV_TASK_OCCLUSION, slot->state = SV_TASK_QUEUED;
    slot->layer = layer, slot->map = (int)p->map, slot->klass = (int)p->klass;
    slot->snapshot = (int)p->snapshot;
    slot->started = slot->polled = cli_now(), slot->server = s;
    snprintf(slot->image, sizeof slot->image, "%s", p->image);
    snprintf(slot->label, sizeof slot->label, "queued");
    pthread_cond_signal(&s->task_work);
    sv_reply_json(r, 202, task_json(slot));
}

int sv_task_route(sv_server *s, const char *method, const char *path, const sv_job *p,
                  sv_reply *r) {
    if (strncmp(path, "/api/tasks", 10) || (path[10] && path[10] != '/')) return 0;
    pthread_mutex_lock(&s->mu);
    if (!path[10]) {
        if (strcmp(method, "POST"))
            sv_reply_error(r, 405, "POST /api/tasks starts a task");
        else
            task_new(s, p, p->kind, r);
        pthread_mutex_unlock(&s->mu);
        return 1;
    }
    const char *id = path + 11, *rest = strchr(id, '/');
    size_t n = rest ? (size_t)(rest - id) : strlen(id);
    sv_task *t = NULL;
    for (int i = 0; i < SV_TASKS && n; i++)
        if (s->tasks[i].state && strlen(s->tasks[i].id) == n && !strncmp(s->tasks[i].id, id, n))
            t = &s->tasks[i];
    if (!t)
        sv_reply_error(r, 404, "no task %.*s", (int)(n < 40 ? n : 40), id);
    else if (rest && !strcmp(rest, "/png") && !strcmp(method, "GET")) {
        if (!t->png)
            sv_reply_error(r, 404, "task %s has no picture (%s)", t->id, state_names[t->state]);
        else if ((r->body = malloc(t->png_len)))
            memcpy(r->body, t->png, t->png_len), r->len = t->png_len, r->status = 200,
                                                 r->type = "image/png";
        else
            sv_reply_error(r, 500, "out of memory");
    } else if (rest)
        sv_reply_error(r, 404, "no route %s %s", method, path);
    else if (!strcmp(method, "DELETE")) {
        if (t->state == SV_TASK_QUEUED) t->state = SV_TASK_CANCELLED;
        t->cancel = 1;
        if (!t->error[0]) snprintf(t->error, sizeof t->error, "cancelled on request");
        sv_reply_json(r, 200, task_json(t));
    } else if (!strcmp(method, "GET")) {
        t->polled = cli_now();
        sv_reply_json(r, 200, task_json(t));
    } else
        sv_reply_error(r, 405, "GET or DELETE /api/tasks/ID");
    pthread_mutex_unlock(&s->mu);
    return 1;
}
