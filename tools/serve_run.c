/* What zfnet serve shows from a run folder's own files: the top-9 that zfnet top9 (or the demo)
 * wrote into RUN/top9/, shown at once instead of scanned. The server reads top9.json at start
 * and keeps it as its index; a request names a layer, a map and a rank, never a file, and the
 * file is the one the index names (inside RUN/top9/, checked). */
#include "serve.h"

#include <stdlib.h>
#include <string.h>

void sv_run_open(sv_server *s, const char *run) {
    char path[4200];
    snprintf(path, sizeof path, "%s/top9/top9.json", run);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        return; /* none, or not readable: the page scans instead */
    }
    s->run_top9 = j;
    snprintf(s->run_top9_dir, sizeof s->run_top9_dir, "%s/top9", run);
}

/* the entries (a JSON array) of layer `layer`, map `map` in the run's top9.json, or NULL */
static json_t *entries(const sv_server *s, const char *layer, long map) {
    json_t *maps = json_object_get(json_object_get(s->run_top9, layer), "maps"), *m;
    size_t i;
    json_array_foreach(maps, i, m) {
        if (json_integer_value(json_object_get(m, "map")) == map) return json_object_get(m, "top");
    }
    return NULL;
}

json_t *sv_run_top9_index(const sv_server *s) {
    json_t *out = json_object();
    if (!s->run_top9) return out;
    const char *layer;
    json_t *l;
    json_object_foreach(s->run_top9, layer, l) {
        json_t *maps = json_object_get(l, "maps"), *m, *list = json_array();
        size_t i;
        json_array_foreach(maps, i, m) {
            json_array_append_new(list,
                                  json_integer(json_integer_value(json_object_get(m, "map"))));
        }
        if (json_array_size(list))
            json_object_set_new(out, layer, list);
        else
            json_decref(list);
    }
    return out;
}

/* a file the index names: a relative path of name characters and '/', inside the folder */
static int index_path(const char *rel) {
    char p[256];
    if (!rel || strlen(rel) > 200) return 0;
    snprintf(p, sizeof p, "/%s", rel);
    return sv_path_ok(p);
}

/* entry `rank`'s picture (`kind`: proj_png or patch_png) decoded */
static int tile(const sv_server *s, json_t *e, const char *kind, zf_image *im, sv_reply *r) {
    const char *rel = json_string_value(json_object_get(e, kind));
    zf_error err;
    if (!index_path(rel))
        return sv_reply_error(r, 500, "the run's top9.json names no %s", kind), -1;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", s->run_top9_dir, rel);
    FILE *f = zf_fopen_read(path, &err);
    uint8_t *buf = NULL;
    long n = -1;
    if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) > 0 && n < (4 << 20) &&
        !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n)
        n = -1;
    if (f) fclose(f);
    int bad = !f || n <= 0 || !buf || zf_image_decode(buf, (size_t)n, 0, path, im, &err);
    free(buf);
    if (bad) return sv_reply_error(r, 500, "%s: cannot be read", rel), -1;
    return 0;
}

/* GET /api/top9?layer=L&map=K[&format=png]: the run folder's top-9 of the map: JSON {"layer",
 * "map", "top": [{"image", "index", "label", "y", "x", "value"}]}, or the projections over their
 * patches as one picture */
static void route_run_top9(sv_server *s, sv_job *j) {
    json_t *top = s->run_top9 ? entries(s, j->layer, j->map) : NULL;
    if (!top)
        return sv_reply_error(&j->reply, 404, "the run folder holds no top-9 of %s map %ld",
                              j->layer, j->map);
    if (strcmp(j->format, "png")) {
        json_t *list = json_array(), *e;
        size_t i;
        json_array_foreach(top, i, e) {
            char id[24];
            snprintf(id, sizeof id, "d%lld", json_integer_value(json_object_get(e, "index")));
            json_array_append_new(
                list, json_pack("{s:s,s:O,s:O,s:O,s:O,s:O}", "image", id, "index",
                                json_object_get(e, "index"), "label", json_object_get(e, "label"),
                                "y", json_object_get(e, "y"), "x", json_object_get(e, "x"), "value",
                                json_object_get(e, "value")));
        }
        return sv_reply_json(&j->reply, 200,
                             json_pack("{s:s,s:i,s:s,s:o}", "layer", j->layer, "map", (int)j->map,
                                       "source", "run folder", "top", list));
    }
    size_t k = json_array_size(top);
    k = k > 64 ? 64 : k; /* the run's file, but a picture of bounded size all the same */
    zf_image first;
    if (!k || tile(s, json_array_get(top, 0), "proj_png", &first, &j->reply)) return;
    int w = first.w, h = first.h, c = first.c, gap = 2, W = (int)k * (w + gap), H = 2 * h + gap;
    zf_image_free(&first);
    uint8_t *sheet = malloc((size_t)c * W * H);
    if (!sheet) return sv_reply_error(&j->reply, 500, "out of memory");
    memset(sheet, 255, (size_t)c * W * H);
    for (size_t e = 0; e < k; e++)
        for (int row = 0; row < 2; row++) {
            zf_image im;
            if (tile(s, json_array_get(top, e), row ? "patch_png" : "proj_png", &im, &j->reply))
                return free(sheet);
            for (int y = 0; y < h && y < im.h; y++)
                for (int x = 0; x < w && x < im.w; x++)
                    for (int ch = 0; ch < c; ch++)
                        sheet[((size_t)ch * H + row * (h + gap) + y) * W + e * (w + gap) + x] =
                            im.px[((size_t)y * im.w + x) * im.c + (im.c >= c ? ch : 0)];
            zf_image_free(&im);
        }
    sv_png_reply(&j->reply, sheet, c, H, W, 1);
    free(sheet);
}

void (*sv_run_route(const char *method, const char *path))(sv_server *s, sv_job *j) {
    return !strcmp(method, "GET") && !strcmp(path, "/api/top9") ? route_run_top9 : NULL;
}
