/* Checkpoints: the net's parameters in safetensors with PyTorch's names and layouts, the model
 * text and settings in __metadata__ (docs/checkpoints.md). */
#include "internal.h"

#include <string.h>

#define CHECKPOINT_FORMAT "zfnet-checkpoint-1"

zf_status zf_checkpoint_save(const zf_net *net, const char *path, const char *const *extra,
                             zf_error *err) {
    zf_checkpoint_data d = {.meta = extra};
    return zf_checkpoint_write(net, path, &d, err);
}

zf_status zf_checkpoint_write(const zf_net *cnet, const char *path, const zf_checkpoint_data *d,
                              zf_error *err) {
    zf_net *net = (zf_net *)cnet; /* parameters are only read */
    const char *const *extra = d ? d->meta : NULL;
    zf_st_writer *w = zf_st_writer_new();
    if (!w) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    zf_status st = zf_st_writer_meta(w, "format", CHECKPOINT_FORMAT, err);
    if (!st) st = zf_st_writer_meta(w, "zfnet_version", ZF_VERSION, err);
    if (!st) st = zf_st_writer_meta(w, "model_name", zf_model_name(zf_net_model(net)), err);
    if (!st) st = zf_st_writer_meta(w, "model", zf_model_text(zf_net_model(net)), err);
    for (int i = 0; !st && extra && extra[i] && extra[i + 1]; i += 2)
        st = zf_st_writer_meta(w, extra[i], extra[i + 1], err);
    const float *params = zf_net_params(net);
    for (int i = 0; !st && i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        st = zf_st_writer_add(w, p.name, ZF_DTYPE_F32, p.ndim, p.shape, params + p.offset, err);
    }
    if (!st && d && d->mean) {
        int64_t shape[3] = {d->mean_shape.c, d->mean_shape.h, d->mean_shape.w};
        st = zf_st_writer_add(w, "data.mean", ZF_DTYPE_F32, 3, shape, d->mean, err);
    }
    const float *mom = zf_net_momentum(net);
    for (int i = 0; !st && d && d->momentum && mom && i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        char name[96]; /* the writer copies names */
        snprintf(name, sizeof name, "momentum.%s", p.name);
        st = zf_st_writer_add(w, name, ZF_DTYPE_F32, p.ndim, p.shape, mom + p.offset, err);
    }
    if (!st) st = zf_st_writer_save(w, path, err);
    zf_st_writer_free(w);
    return st;
}

static void shape_str(char *out, size_t cap, int ndim, const int64_t *shape) {
    size_t len = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (len < cap) snprintf(out + len, cap - len, "]");
}

zf_status zf_checkpoint_load(zf_net *net, const char *path, zf_error *err) {
    zf_st_file *f;
    zf_status st = zf_st_open(&f, path, err);
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
        shape_str(want, sizeof want, p.ndim, p.shape);
        if (!t) {
            PROBLEM("missing '%s' %s", p.name, want);
            continue;
        }
        shape_str(got, sizeof got, t->ndim, t->shape);
        if (t->dtype != ZF_DTYPE_F32)
            PROBLEM("'%s' is %s, not F32", p.name, zf_dtype_name(t->dtype));
        else if (t->ndim != p.ndim || memcmp(t->shape, p.shape, sizeof(int64_t) * (size_t)p.ndim))
            PROBLEM("'%s' has shape %s, the model needs %s", p.name, got, want);
    }
    for (int i = 0; i < zf_st_count(f); i++) {
        const zf_st_tensor *t = zf_st_get(f, i);
        if (zf_net_find_param(net, t->name) < 0 && strncmp(t->name, "momentum.", 9) &&
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
        zf_st_close(f);
        return ZF_ERR_SHAPE;
    }
    float *params = zf_net_params(net);
    for (int i = 0; i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        memcpy(params + p.offset, zf_st_find(f, p.name)->data, sizeof(float) * p.count);
    }
    zf_st_close(f);
    return ZF_OK;
}

zf_status zf_checkpoint_load_state(zf_net *net, const char *path, zf_error *err) {
    zf_status st = zf_checkpoint_load(net, path, err);
    if (st) return st;
    zf_st_file *f;
    if ((st = zf_st_open(&f, path, err))) return st;
    float *mom = zf_net_momentum_alloc(net);
    if (!mom) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory for the momentum");
    for (int i = 0; !st && i < zf_net_num_param_tensors(net); i++) {
        zf_param_info p;
        zf_net_param_info(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, "momentum.%s", p.name);
        const zf_st_tensor *t = zf_st_find(f, name);
        if (!t || t->dtype != ZF_DTYPE_F32 || t->nbytes != sizeof(float) * p.count)
            st =
                zf_fail(err, ZF_ERR_SHAPE, "%s: '%s' is missing or has the wrong size", path, name);
        else
            memcpy(mom + p.offset, t->data, t->nbytes);
    }
    zf_st_close(f);
    return st;
}
