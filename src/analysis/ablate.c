/* Ablations (ZF Table 3): variants of one base model, each trained with the same recipe into
 * its own run folder and scored; a finished variant's row is kept beside its run
 * (NAME/variant.json), so an interrupted table continues where it stopped. */
#include "analysis.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

void zf_variants_free(zf_variant *v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i].edits);
    free(v);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static zf_status parse_line(char *s, const char *file, int line, zf_variant *v, zf_error *err) {
    char *colon = strchr(s, ':');
    if (!colon)
        return zf_fail(err, ZF_ERR_PARSE, "%s:%d: expected 'NAME: EDITS', got '%s'", file, line, s);
    *colon = 0;
    char *name = trim(s);
    size_t len = strlen(name);
    if (!len || len >= sizeof v->name)
        return zf_fail(err, ZF_ERR_PARSE, "%s:%d: a variant needs a name of 1..63 characters", file,
                       line);
    if (name[0] == '.' || !strcmp(name, "ablation.json") || !strcmp(name, "ablation.csv"))
        return zf_fail(err, ZF_ERR_PARSE,
                       "%s:%d: variant name '%s' would be a hidden or reserved file name", file,
                       line, name);
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
            return zf_fail(err, ZF_ERR_PARSE,
                           "%s:%d: variant name '%s': only letters, digits, '-', '_' and '.'", file,
                           line, name);
    memcpy(v->name, name, len + 1);
    v->line = line;
    if (!(v->edits = strdup(trim(colon + 1)))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

zf_status zf_variants_parse(const char *text, const char *filename, zf_variant **out, int *n,
                            zf_error *err) {
    *out = NULL, *n = 0;
    char *buf = strdup(text);
    int cap = 1;
    for (const char *p = text; *p; p++) cap += *p == '\n';
    zf_variant *v = calloc((size_t)cap, sizeof *v);
    zf_status st = buf && v ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    int line = 0;
    for (char *save = NULL, *l = buf; !st && l; l = save) {
        save = strchr(l, '\n');
        if (save) *save++ = 0;
        line++;
        char *hash = strchr(l, '#');
        if (hash) *hash = 0;
        char *s = trim(l);
        if (!*s) continue;
        if ((st = parse_line(s, filename, line, &v[*n], err))) break;
        for (int i = 0; i < *n; i++)
            if (!strcmp(v[i].name, v[*n].name))
                st = zf_fail(err, ZF_ERR_PARSE, "%s:%d: variant '%s' again (first on line %d)",
                             filename, line, v[*n].name, v[i].line);
        (*n)++;
    }
    if (!st && !*n) st = zf_fail(err, ZF_ERR_PARSE, "%s: no variants", filename);
    free(buf);
    if (st) {
        zf_variants_free(v, *n);
        *n = 0;
        return st;
    }
    *out = v;
    return ZF_OK;
}

zf_status zf_variants_load(const char *path, zf_variant **out, int *n, zf_error *err) {
    uint8_t *data;
    size_t len;
    *out = NULL, *n = 0;
    zf_status st = zf_read_file(path, &data, &len, err);
    if (st) return st;
    if (memchr(data, 0, len)) {
        free(data);
        return zf_fail(err, ZF_ERR_FORMAT, "%s: not a text file", path);
    }
    char *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    text[len] = 0;
    st = zf_variants_parse(text, path, out, n, err);
    free(text);
    return st;
}

/* ---- the table ------------------------------------------------------------------------------ */

typedef struct ablation {
    const zf_ablation_options *o;
    zf_model *base;
    zf_model **models; /* (nvariants) */
} ablation;

/* The base model with the training data's channels and classes (and the recipe's overrides). */
static zf_status open_base(ablation *a, zf_error *err) {
    const zf_train_options *c = &a->o->train;
    zf_dataset_options dopt;
    zf_dataset_defaults(&dopt);
    dopt.size = c->data_size;
    dopt.channels = c->overrides.channels;
    zf_dataset *d;
    zf_status st = zf_dataset_open(c->train, &dopt, &d, err);
    if (st) return st;
    zf_model_overrides ov = c->overrides;
    if (!ov.channels) ov.channels = zf_dataset_shape(d).c;
    if (!ov.classes) ov.classes = zf_dataset_classes(d);
    zf_dataset_free(d);
    return zf_model_load(c->model, &ov, &a->base, err);
}

/* Every variant's model built (and planned as a net) before anything trains. */
static zf_status build_models(ablation *a, zf_error *err) {
    const zf_ablation_options *o = a->o;
    if (!(a->models = calloc((size_t)o->nvariants, sizeof *a->models)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < o->nvariants; i++) {
        const zf_variant *v = &o->variants[i];
        zf_error e;
        zf_net *net = NULL;
        zf_status st = zf_model_edit(a->base, v->edits, &a->models[i], &e);
        if (!st) st = zf_net_create(a->models[i], NULL, &net, &e);
        zf_net_free(net);
        if (st) return zf_fail(err, st, "variant '%s' (line %d): %s", v->name, v->line, e.msg);
    }
    return ZF_OK;
}

static zf_status read_row(const char *path, const char *want_model, zf_ablation_row *row,
                          zf_error *err) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    double p = -1;
    const char *model = NULL;
    zf_status st = ZF_OK;
    if (!j ||
        json_unpack(j, "{s:F, s:F, s:F, s:F, s:F, s?s}", "params", &p, "train_top1_error",
                    &row->train_top1, "test_top1_error", &row->test_top1, "test_top5_error",
                    &row->test_top5, "seconds", &row->seconds, "model", &model) ||
        !(p >= 0))
        st = zf_fail(err, ZF_ERR_FORMAT,
                     "%s: not an ablation row (%s); delete it to train the variant again", path,
                     j ? "missing fields" : je.text);
    else if (model && strcmp(model, want_model)) /* rows without it: written by 0.1.0 */
        st = zf_fail(err, ZF_ERR_STATE,
                     "%s: variant '%s' was trained with another model than its line now gives; "
                     "delete its folder to train it again",
                     path, row->name);
    if (!st) row->params = (size_t)p;
    row->reused = 1;
    json_decref(j);
    return st;
}

static zf_status write_row(const char *path, const char *model, const zf_ablation_row *row,
                           zf_error *err) {
    json_t *j = json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:s}", "name", row->name, "params",
                          (json_int_t)row->params, "train_top1_error", row->train_top1,
                          "test_top1_error", row->test_top1, "test_top5_error", row->test_top5,
                          "seconds", row->seconds, "model", model);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    zf_status st = text ? zf_write_file(path, text, strlen(text), err)
                        : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    free(text);
    json_decref(j);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median epoch time and the epochs of DIR/metrics.jsonl (elapsed_s differences). */
static void epoch_times(const char *dir, zf_ablation_row *row) {
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = zf_fopen_read(path, NULL);
    double d[4096], prev = 0;
    int n = 0;
    char line[4096];
    while (f && n < 4096 && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        double e;
        if (j && !json_unpack(j, "{s:F}", "elapsed_s", &e)) d[n++] = e - prev, prev = e;
        json_decref(j);
    }
    if (f) fclose(f);
    qsort(d, (size_t)n, sizeof *d, cmp_double);
    row->epochs = n;
    row->epoch_seconds = !n ? 0 : n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
}

static zf_status make_dir(const char *dir, zf_error *err) {
    if (mkdir(dir, 0777) && errno != EEXIST)
        return zf_fail(err, ZF_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    return ZF_OK;
}

/* top-1 error of a checkpoint on `data` (and top-5 when asked) */
static zf_status score(const zf_train_options *c, const char *ckpt, const char *data, double *top1,
                       double *top5, zf_error *err) {
    zf_eval_options eo;
    zf_eval_defaults(&eo);
    eo.threads = c->threads, eo.precision = c->precision, eo.cb = c->cb;
    zf_eval_result r;
    zf_status st = zf_evaluate(&ckpt, 1, data, &eo, &r, err);
    if (st) return st;
    *top1 = 1 - r.top1;
    if (top5) *top5 = 1 - r.top5;
    zf_eval_result_free(&r);
    return ZF_OK;
}

/* A variant's folder with its model: written, or (a run started) the same as written. */
static zf_status variant_model(const char *dir, const char *text, zf_error *err) {
    char model[4300], state[4300];
    snprintf(model, sizeof model, "%s/model.cfg", dir);
    snprintf(state, sizeof state, "%s/state.safetensors", dir);
    struct stat sb;
    uint8_t *old = NULL;
    size_t len = 0;
    if (!stat(state, &sb) && !zf_read_file(model, &old, &len, NULL)) {
        int same = len == strlen(text) && !memcmp(old, text, len);
        free(old);
        if (!same)
            return zf_fail(err, ZF_ERR_STATE,
                           "%s holds a run of another model than the variant's line now gives; "
                           "delete it to train the variant again",
                           dir);
        return ZF_OK;
    }
    zf_status st = make_dir(dir, err);
    return st ? st : zf_write_file(model, text, strlen(text), err);
}

static zf_status train_variant(ablation *a, int i, zf_ablation_row *row, zf_error *err) {
    const zf_ablation_options *o = a->o;
    char dir[4200], path[4300], model[4300], state[4300], last[4300];
    snprintf(dir, sizeof dir, "%s/%s", o->train.out, o->variants[i].name);
    snprintf(path, sizeof path, "%s/ablation.json", dir); /* its name before zfnet 1.0 */
    struct stat sb;
    if (stat(path, &sb)) snprintf(path, sizeof path, "%s/variant.json", dir);
    snprintf(row->name, sizeof row->name, "%s", o->variants[i].name);
    const char *text = zf_model_text(a->models[i]);
    if (!stat(path, &sb)) {
        zf_status st = read_row(path, text, row, err);
        epoch_times(dir, row);
        return st;
    }
    zf_status st = variant_model(dir, text, err);
    snprintf(model, sizeof model, "%s/model.cfg", dir);
    snprintf(state, sizeof state, "%s/state.safetensors", dir);
    snprintf(last, sizeof last, "%s/last.safetensors", dir);
    zf_train_options c = o->train;
    c.model = model, c.out = dir;
    memset(&c.overrides, 0, sizeof c.overrides); /* the base model has them already */
    c.resume = !stat(state, &sb), c.overwrite = !c.resume;
    zf_train_result res = {0};
    if (!st) st = zf_train(&c, &res, err);
    row->seconds = res.seconds;
    epoch_times(dir, row);
    if (!st) st = score(&c, last, c.train, &row->train_top1, NULL, err);
    if (!st && c.test && strcmp(c.test, "none"))
        st = score(&c, last, c.test, &row->test_top1, &row->test_top5, err);
    zf_net *net = NULL;
    if (!st && !(st = zf_net_create(a->models[i], NULL, &net, err)))
        row->params = zf_net_num_params(net);
    zf_net_free(net);
    return st ? st : write_row(path, text, row, err);
}

void zf_ablation_defaults(zf_ablation_options *o) {
    *o = (zf_ablation_options){0};
    zf_train_defaults(&o->train);
}

zf_status zf_ablate(const zf_ablation_options *o, zf_ablation_row *rows, zf_error *err) {
    if (!o->variants || o->nvariants < 1)
        return zf_fail(err, ZF_ERR_ARG, "ablation needs at least one variant");
    if (!o->train.out || !o->train.model || !o->train.train)
        return zf_fail(err, ZF_ERR_ARG, "ablation needs a base model, a training set and a folder");
    ablation a = {.o = o};
    zf_status st = open_base(&a, err);
    if (!st) st = build_models(&a, err);
    if (!st) st = make_dir(o->train.out, err);
    for (int i = 0; !st && i < o->nvariants; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        rows[i].test_top1 = rows[i].test_top5 = -1;
        st = train_variant(&a, i, &rows[i], err);
        if (!st && o->on_variant && o->on_variant(o->train.ctx, &rows[i], i, o->nvariants))
            st = zf_fail(err, ZF_ERR_CANCELLED, "stopped after variant '%s'", rows[i].name);
    }
    for (int i = 0; a.models && i < o->nvariants; i++) zf_model_free(a.models[i]);
    free(a.models);
    zf_model_free(a.base);
    return st;
}
