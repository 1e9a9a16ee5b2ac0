/* Checkpoints: the net's parameters in safetensors with PyTorch's names and layouts, the model
 * text, the data preparation and settings in __metadata__ (docs/checkpoints.md); opening the
 * net a checkpoint describes. */
#include "internal.h"

#include <jansson.h>
#include <string.h>

#define CHECKPOINT_FORMAT "zfnet-checkpoint-1"

/* The data preparation as metadata (the mean is a tensor). Numbers are written so that they
 * read back exactly (the scale to 9 significant digits: a float's). */
static zf_status write_prep(zf_st_writer *w, const zf_data_prep *p, const char *names,
                            zf_error *err) {
    char scale[32], pad[16], shape[64];
    snprintf(scale, sizeof scale, "%.9g", p->scale);
    snprintf(pad, sizeof pad, "%d", p->pad);
    snprintf(shape, sizeof shape, "%dx%dx%d", p->shape.c, p->shape.h, p->shape.w);
    zf_status st = zf_st_writer_meta(w, ZF_META_INPUT_SCALE, scale, err);
    if (!st) st = zf_st_writer_meta(w, ZF_META_CROP_PAD, pad, err);
    if (!st) st = zf_st_writer_meta(w, ZF_META_DATA_SHAPE, shape, err);
    if (!st) st = zf_st_writer_meta(w, ZF_META_CLASS_NAMES, names, err);
    return st;
}

/* class names as a compact JSON array (malloc'd; "[]" without names) */
static char *names_json(const zf_data_prep *p) {
    json_t *a = json_array();
    for (int k = 0; p && p->class_names && k < p->classes; k++)
        json_array_append_new(a, json_string(p->class_names[k] ? p->class_names[k] : "?"));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static zf_status write_momentum(zf_st_writer *w, const zf_net *net, const float *mom,
                                zf_error *err) {
    zf_status st = ZF_OK;
    for (int i = 0; !st && i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        char name[96]; /* the writer copies names */
        snprintf(name, sizeof name, ZF_TENSOR_MOMENTUM "%s", p.name);
        st = zf_st_writer_add(w, name, ZF_DTYPE_F32, p.ndim, p.shape, mom + p.offset, err);
    }
    return st;
}

zf_status zf_checkpoint_write(const zf_net *cnet, const char *path, const zf_checkpoint_data *d,
                              zf_error *err) {
    zf_net *net = (zf_net *)cnet; /* parameters are only read */
    zf_checkpoint_data none = {0};
    if (!d) d = &none;
    zf_st_writer *w = NULL;
    char *names = names_json(d->prep);
    if (zf_st_writer_create(&w, err) || !names) {
        zf_st_writer_free(w), free(names);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    zf_status st = zf_st_writer_meta(w, ZF_META_FORMAT, CHECKPOINT_FORMAT, err);
    if (!st) st = zf_st_writer_meta(w, ZF_META_VERSION, ZF_VERSION, err);
    if (!st) st = zf_st_writer_meta(w, ZF_META_MODEL_NAME, zf_model_name(zf_net_model(net)), err);
    if (!st) st = zf_st_writer_meta(w, ZF_META_MODEL, zf_model_text(zf_net_model(net)), err);
    if (!st && d->epoch > 0) {
        char ep[32], acc[32];
        snprintf(ep, sizeof ep, "%d", d->epoch);
        snprintf(acc, sizeof acc, "%.6f", d->test_accuracy);
        st = zf_st_writer_meta(w, ZF_META_EPOCH, ep, err);
        if (!st) st = zf_st_writer_meta(w, ZF_META_TEST_ACCURACY, acc, err);
    }
    if (!st && d->prep) st = write_prep(w, d->prep, names, err);
    for (int i = 0; !st && d->meta && d->meta[i] && d->meta[i + 1]; i += 2)
        st = zf_st_writer_meta(w, d->meta[i], d->meta[i + 1], err);
    const float *params = zf_net_params(net);
    for (int i = 0; !st && i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        st = zf_st_writer_add(w, p.name, ZF_DTYPE_F32, p.ndim, p.shape, params + p.offset, err);
    }
    if (!st && d->prep && d->prep->mean) {
        const zf_shape ms = d->prep->shape;
        int64_t dims[3] = {ms.c, ms.h, ms.w};
        st = zf_st_writer_add(w, ZF_TENSOR_DATA_MEAN, ZF_DTYPE_F32, 3, dims, d->prep->mean, err);
    }
    if (!st && d->momentum && zf_net_momentum(net))
        st = write_momentum(w, net, zf_net_momentum(net), err);
    if (!st) st = zf_st_writer_save(w, path, err);
    zf_st_writer_free(w);
    free(names);
    return st;
}

zf_status zf_checkpoint_load(zf_net *net, const char *path, zf_error *err) {
    zf_st_file *f;
    zf_status st = zf_st_open(path, &f, err);
    if (st) return st;
    char problems[900] = "";
    int nproblems = 0;
#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        size_t len_ = strlen(problems);                                                            \
        if (len_ < sizeof problems - 1)                                                            \
            snprintf(problems + len_, sizeof problems - len_, "%s", nproblems ? "; " : "");        \
        len_ = strlen(problems);                                                                   \
        if (len_ < sizeof problems - 1)                                                            \
            snprintf(problems + len_, sizeof problems - len_, __VA_ARGS__);                        \
        nproblems++;                                                                               \
    } while (0)
    for (int i = 0; i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        const zf_st_tensor *t = zf_st_find(f, p.name);
        char want[96], got[96];
        zf_shape_text(want, sizeof want, p.ndim, p.shape, 0);
        if (!t) {
            PROBLEM("missing '%s' %s", p.name, want);
            continue;
        }
        zf_shape_text(got, sizeof got, t->ndim, t->shape, 0);
        if (t->dtype != ZF_DTYPE_F32)
            PROBLEM("'%s' is %s, not F32", p.name, zf_dtype_name(t->dtype));
        else if (t->ndim != p.ndim || memcmp(t->shape, p.shape, sizeof(int64_t) * (size_t)p.ndim))
            PROBLEM("'%s' has shape %s, the model needs %s", p.name, got, want);
    }
    for (int i = 0; i < zf_st_count(f); i++) {
        const zf_st_tensor *t = zf_st_get(f, i);
        if (zf_net_find_param(net, t->name) < 0 &&
            strncmp(t->name, ZF_TENSOR_MOMENTUM, strlen(ZF_TENSOR_MOMENTUM)) &&
            strncmp(t->name, "data.", 5))
            PROBLEM("unexpected tensor '%s'", t->name);
    }
#undef PROBLEM
    if (nproblems) {
        const char *mname = zf_st_meta(f, "model_name");
        zf_fail(err, ZF_ERR_SHAPE, "%s: %d mismatch%s with model '%s'%s%s%s: %s", path, nproblems,
                nproblems > 1 ? "es" : "", zf_model_name(zf_net_model(net)),
                mname ? " (the file was written for '" : "", mname ? mname : "", mname ? "')" : "",
                problems);
        zf_st_free(f);
        return ZF_ERR_SHAPE;
    }
    float *params = zf_net_params(net);
    for (int i = 0; i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        memcpy(params + p.offset, zf_st_find(f, p.name)->data, sizeof(float) * p.count);
    }
    zf_st_free(f);
    int bad = zf_net_first_nonfinite(net, 0);
    if (bad >= 0) {
        zf_param_info p;
        zf_net_param_info(net, bad, &p);
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: '%s' holds a NaN or an Inf (weights of a diverged run?)", path, p.name);
    }
    return ZF_OK;
}

zf_status zf_checkpoint_load_state(zf_net *net, const char *path, zf_error *err) {
    zf_status st = zf_checkpoint_load(net, path, err);
    if (st) return st;
    zf_st_file *f;
    if ((st = zf_st_open(path, &f, err))) return st;
    float *mom = zf_net_momentum_alloc(net);
    if (!mom) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory for the momentum");
    for (int i = 0; !st && i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, ZF_TENSOR_MOMENTUM "%s", p.name);
        const zf_st_tensor *t = zf_st_find(f, name);
        if (!t || t->dtype != ZF_DTYPE_F32 || t->nbytes != sizeof(float) * p.count)
            st =
                zf_fail(err, ZF_ERR_SHAPE, "%s: '%s' is missing or has the wrong size", path, name);
        else
            memcpy(mom + p.offset, t->data, t->nbytes);
    }
    zf_st_free(f);
    return st;
}

/* The recorded data preparation feeds this model: its channels, and images that (padded)
 * cover the model's input. */
zf_status zf_checkpoint_open(const char *path, const zf_net_options *no, zf_net **net,
                             zf_data_prep *prep, zf_error *err) {
    *net = NULL;
    if (prep) memset(prep, 0, sizeof *prep);
    zf_st_file *f;
    zf_status st = zf_st_open(path, &f, err);
    if (st) return st;
    const char *text = zf_st_meta(f, ZF_META_MODEL);
    zf_model *m = NULL;
    if (!text)
        st = zf_fail(err, ZF_ERR_FORMAT,
                     "%s: no model text in its metadata (not written by zfnet?)", path);
    else
        st = zf_model_parse(text, path, NULL, &m, err);
    /* nothing allocated beyond what the file holds: its model may claim any size */
    zf_net_options o;
    if (no)
        o = *no;
    else
        zf_net_defaults(&o);
    uint64_t held = 0;
    for (int i = 0; i < zf_st_count(f); i++) held += zf_st_get(f, i)->nbytes / sizeof(float);
    if (held < o.max_params) o.max_params = held ? held : 1;
    zf_st_free(f);
    if (!st) st = zf_net_create(m, &o, net, err);
    zf_model_free(m);
    if (!st) st = zf_checkpoint_load(*net, path, err);
    if (!st && prep) st = zf_data_prep_load(path, prep, err);
    if (!st && prep && (st = zf_data_prep_check(prep, *net, path, err))) zf_data_prep_free(prep);
    if (st) {
        zf_net_free(*net);
        *net = NULL;
    }
    return st;
}

int zf_checkpoint_epoch(const char *path) {
    zf_st_file *f;
    if (zf_st_open(path, &f, NULL)) return -1;
    const char *e = zf_st_meta(f, ZF_META_EPOCH);
    int v = e ? atoi(e) : -1;
    zf_st_free(f);
    return v;
}
