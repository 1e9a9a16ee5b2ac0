/* safetensors I/O: 8-byte little-endian header length, a JSON header, raw little-endian data
 * (huggingface/safetensors). Reading maps the file and validates every offset; writing is
 * atomic (temporary file in the same folder, fsync, rename). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    size_t size;
} dtypes[ZF_DTYPE_COUNT] = {
    [ZF_DTYPE_F32] = {"F32", 4},   [ZF_DTYPE_F64] = {"F64", 8}, [ZF_DTYPE_F16] = {"F16", 2},
    [ZF_DTYPE_BF16] = {"BF16", 2}, [ZF_DTYPE_I64] = {"I64", 8}, [ZF_DTYPE_I32] = {"I32", 4},
    [ZF_DTYPE_I16] = {"I16", 2},   [ZF_DTYPE_I8] = {"I8", 1},   [ZF_DTYPE_U8] = {"U8", 1},
    [ZF_DTYPE_BOOL] = {"BOOL", 1},
};

const char *zf_dtype_name(zf_dtype t) {
    return t >= 0 && t < ZF_DTYPE_COUNT ? dtypes[t].name : "?";
}

size_t zf_dtype_size(zf_dtype t) {
    return t >= 0 && t < ZF_DTYPE_COUNT ? dtypes[t].size : 0;
}

struct zf_st_file {
    char *path;
    void *map;
    size_t size;
    int count;
    zf_st_tensor *tensors;
    int nmeta;
    char **meta;  /* key, value, key, value, ... */
    void **owned; /* (count) aligned copies of tensors whose bytes sit at an odd address */
};

void zf_st_free(zf_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->count; i++) free(f->tensors[i].name);
    for (int i = 0; f->owned && i < f->count; i++) free(f->owned[i]);
    free(f->owned);
    for (int i = 0; i < 2 * f->nmeta; i++) free(f->meta[i]);
    free(f->tensors);
    free(f->meta);
    free(f->path);
    free(f);
}

static int by_offset(const void *a, const void *b) {
    const zf_st_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

static zf_status read_meta(zf_st_file *f, json_t *val, zf_error *err) {
    if (!json_is_object(val))
        return zf_fail(err, ZF_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
    if (!(f->meta = calloc(2 * json_object_size(val) + 1, sizeof *f->meta)))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    const char *mk;
    json_t *mv;
    json_object_foreach(val, mk, mv) {
        if (!json_is_string(mv))
            return zf_fail(err, ZF_ERR_FORMAT, "%s: metadata '%s' is not a string", f->path, mk);
        f->meta[2 * f->nmeta] = strdup(mk);
        f->meta[2 * f->nmeta + 1] = strdup(json_string_value(mv));
        f->nmeta++;
    }
    return ZF_OK;
}

/* dtype and shape of a header entry; *numel its element count */
static zf_status read_type(zf_st_tensor *t, const char *path, const char *key, json_t *dt,
                           json_t *shape, unsigned __int128 *numel, zf_error *err) {
    t->dtype = ZF_DTYPE_COUNT;
    for (int d = 0; d < ZF_DTYPE_COUNT; d++)
        if (!strcmp(json_string_value(dt), dtypes[d].name)) t->dtype = (zf_dtype)d;
    if (t->dtype == ZF_DTYPE_COUNT)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%s'", path, key,
                       json_string_value(dt));
    if (json_array_size(shape) > ZF_ST_MAX_DIMS)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: tensor '%s': more than %d dimensions", path, key,
                       ZF_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    *numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return zf_fail(err, ZF_ERR_FORMAT, "%s: tensor '%s': bad shape entry %d", path, key, d);
        t->shape[d] = json_integer_value(v);
        *numel *= (unsigned __int128)t->shape[d];
        if (*numel > ((unsigned __int128)1 << 62))
            return zf_fail(err, ZF_ERR_FORMAT, "%s: tensor '%s': absurd shape", path, key);
    }
    return ZF_OK;
}

/* One tensor's header entry: dtype, shape, offsets within the data (dlen bytes). */
static zf_status read_tensor(zf_st_tensor *t, const char *path, const char *key, json_t *val,
                             const char *data, size_t dlen, zf_error *err) {
    json_t *dt = json_object_get(val, "dtype"), *shape = json_object_get(val, "shape");
    json_t *offs = json_object_get(val, "data_offsets");
    if (!json_is_object(val) || !json_is_string(dt) || !json_is_array(shape) ||
        !json_is_array(offs) || json_array_size(offs) != 2)
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: tensor '%s': header entry needs dtype, shape and data_offsets", path,
                       key);
    unsigned __int128 numel = 0;
    zf_status st = read_type(t, path, key, dt, shape, &numel, err);
    if (st) return st;
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return zf_fail(err, ZF_ERR_FORMAT, "%s: tensor '%s': bad data_offsets", path, key);
    size_t begin = (size_t)json_integer_value(b), end = (size_t)json_integer_value(e);
    t->nbytes = end - begin;
    if ((unsigned __int128)t->nbytes != numel * dtypes[t->dtype].size)
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: tensor '%s': %zu bytes of data but its shape and dtype %s need %llu",
                       path, key, t->nbytes, dtypes[t->dtype].name,
                       (unsigned long long)(numel * dtypes[t->dtype].size));
    if (end > dlen)
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: truncated: tensor '%s' ends at byte %zu of the data but the file "
                       "holds only %zu",
                       path, key, end, dlen);
    t->data = data + begin;
    if (!(t->name = strdup(key))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

/* The data must be covered exactly: no holes, no overlaps, nothing after the last tensor. */
static zf_status check_cover(const zf_st_file *f, const char *data, size_t dlen, zf_error *err) {
    zf_st_tensor *sorted = malloc(sizeof *sorted * (size_t)(f->count ? f->count : 1));
    if (!sorted) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    memcpy(sorted, f->tensors, sizeof *sorted * (size_t)f->count);
    qsort(sorted, (size_t)f->count, sizeof *sorted, by_offset);
    const char *pos = data;
    zf_status st = ZF_OK;
    for (int i = 0; i < f->count && !st; i++) {
        if ((const char *)sorted[i].data != pos)
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: tensor '%s' %s the previous one", f->path,
                         sorted[i].name,
                         (const char *)sorted[i].data < pos ? "overlaps" : "leaves a gap after");
        pos = (const char *)sorted[i].data + sorted[i].nbytes;
    }
    if (!st && pos != data + dlen)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: %zu bytes after the last tensor", f->path,
                     (size_t)(data + dlen - pos));
    free(sorted);
    return st;
}

static zf_status parse_header(zf_st_file *f, const char *hdr, size_t hlen, const char *data,
                              size_t dlen, zf_error *err) {
    const char *path = f->path;
    json_error_t jerr;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: not a safetensors file: bad JSON header (%s)", path,
                       jerr.text);
    zf_status st = ZF_OK;
    if (!json_is_object(root))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: not a safetensors file: header is not an object",
                     path);
    size_t n = json_object_size(root);
    if (!st && !(f->tensors = calloc(n ? n : 1, sizeof *f->tensors)))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (st) break;
        if (!strcmp(key, "__metadata__"))
            st = read_meta(f, val, err);
        else if (!(st = read_tensor(&f->tensors[f->count], path, key, val, data, dlen, err)))
            f->count++;
    }
    json_decref(root);
    return st ? st : check_cover(f, data, dlen, err);
}

/* The format does not align tensors (the header's length, an odd-sized tensor before): a
 * tensor at an address that is not a multiple of its element size is copied, so that every
 * reader may use its data as an array of that type. */
static zf_status align_tensors(zf_st_file *f, zf_error *err) {
    for (int i = 0; i < f->count; i++) {
        zf_st_tensor *t = &f->tensors[i];
        if (!t->nbytes || (uintptr_t)t->data % zf_dtype_size(t->dtype) == 0) continue;
        if (!f->owned && !(f->owned = calloc((size_t)f->count, sizeof *f->owned)))
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        if (!(f->owned[i] = malloc(t->nbytes))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        memcpy(f->owned[i], t->data, t->nbytes);
        t->data = f->owned[i];
    }
    return ZF_OK;
}

zf_status zf_st_open(const char *path, zf_st_file **out, zf_error *err) {
    *out = NULL;
    int fd = zf_open_read(path, err);
    if (fd < 0) return err ? err->status : ZF_ERR_IO;
    struct stat sb;
    if (fstat(fd, &sb)) {
        close(fd);
        return zf_fail(err, ZF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    zf_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        close(fd);
        free(f);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    f->size = (size_t)sb.st_size;
    if (f->size <= 8) {
        close(fd);
        zf_st_free(f);
        return zf_fail(err, ZF_ERR_FORMAT, "%s: not a safetensors file: only %zu bytes", path,
                       (size_t)sb.st_size);
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    zf_status st = ZF_OK;
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st = zf_fail(err, ZF_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    const unsigned char *b = f->map;
    uint64_t hlen = 0;
    for (int i = 7; !st && i >= 0; i--) hlen = hlen << 8 | b[i];
    if (!st && (hlen == 0 || hlen > MAX_HEADER || b[8] != '{'))
        st = zf_fail(err, ZF_ERR_FORMAT,
                     "%s: not a safetensors file (no JSON header after the 8-byte length)", path);
    if (!st && hlen > f->size - 8)
        st = zf_fail(err, ZF_ERR_FORMAT,
                     "%s: truncated: the header says %llu bytes but the file has %zu after the "
                     "length",
                     path, (unsigned long long)hlen, f->size - 8);
    if (!st)
        st = parse_header(f, (const char *)b + 8, (size_t)hlen, (const char *)b + 8 + hlen,
                          f->size - 8 - (size_t)hlen, err);
    if (!st) st = align_tensors(f, err);
    if (st) {
        zf_st_free(f);
        return st;
    }
    *out = f;
    return ZF_OK;
}

const char *zf_st_path(const zf_st_file *f) {
    return f->path;
}

int zf_st_count(const zf_st_file *f) {
    return f->count;
}

const zf_st_tensor *zf_st_get(const zf_st_file *f, int i) {
    return i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

const zf_st_tensor *zf_st_find(const zf_st_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *zf_st_meta(const zf_st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

struct zf_st_writer {
    int count, cap;
    zf_st_tensor *t;
    json_t *meta;
};

zf_status zf_st_writer_create(zf_st_writer **out, zf_error *err) {
    zf_st_writer *w = *out = calloc(1, sizeof *w);
    if (w && !(w->meta = json_object())) {
        free(w);
        *out = NULL;
    }
    return *out ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory for a safetensors writer");
}

void zf_st_writer_free(zf_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) free(w->t[i].name);
    free(w->t);
    json_decref(w->meta);
    free(w);
}

zf_status zf_st_writer_add(zf_st_writer *w, const char *name, zf_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, zf_error *err) {
    if (ndim < 0 || ndim > ZF_ST_MAX_DIMS || dtype < 0 || dtype >= ZF_DTYPE_COUNT ||
        !strcmp(name, "__metadata__"))
        return zf_fail(err, ZF_ERR_ARG, "tensor '%s': bad dtype, rank or name", name);
    for (int i = 0; i < w->count; i++)
        if (!strcmp(w->t[i].name, name))
            return zf_fail(err, ZF_ERR_ARG, "tensor '%s' added twice", name);
    if (w->count == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        zf_st_tensor *t = realloc(w->t, sizeof *t * (size_t)cap);
        if (!t) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        w->t = t, w->cap = cap;
    }
    zf_st_tensor *t = &w->t[w->count];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d], numel *= (size_t)shape[d];
    t->nbytes = numel * dtypes[dtype].size;
    t->data = data;
    w->count++;
    return ZF_OK;
}

zf_status zf_st_writer_meta(zf_st_writer *w, const char *key, const char *value, zf_error *err) {
    if (json_object_set_new(w->meta, key, json_string(value)))
        return zf_fail(err, ZF_ERR_ARG, "metadata '%s' is not valid UTF-8", key);
    return ZF_OK;
}

/* The header: its JSON (malloc'd) and the length it is padded to (a multiple of 8 with the
 * 8-byte length before it). */
static char *writer_header(const zf_st_writer *w, size_t *padded) {
    json_t *root = json_object();
    if (!root) return NULL;
    if (json_object_size(w->meta)) json_object_set(root, "__metadata__", w->meta);
    size_t off = 0;
    for (int i = 0; i < w->count; i++) {
        zf_st_tensor *t = &w->t[i];
        json_t *e = json_object(), *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(e, "dtype", json_string(dtypes[t->dtype].name));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets",
                            json_pack("[I, I]", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        json_object_set_new(root, t->name, e);
        off += t->nbytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (hdr) *padded = (strlen(hdr) + 8 + 7) / 8 * 8 - 8;
    return hdr;
}

zf_status zf_st_writer_save(zf_st_writer *w, const char *path, zf_error *err) {
    size_t padded;
    char *hdr = writer_header(w, &padded);
    if (!hdr) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    size_t hlen = strlen(hdr);
    zf_atomic a;
    zf_status st = zf_atomic_begin(&a, path, err);
    if (st) {
        free(hdr);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    zf_atomic_write(&a, len8, 8);
    zf_atomic_write(&a, hdr, hlen);
    for (size_t i = hlen; i < padded; i++) zf_atomic_write(&a, " ", 1);
    for (int i = 0; i < w->count; i++) zf_atomic_write(&a, w->t[i].data, w->t[i].nbytes);
    free(hdr);
    return zf_atomic_commit(&a, err);
}

zf_status zf_st_writer_bytes(zf_st_writer *w, uint8_t **out, size_t *len, zf_error *err) {
    *out = NULL, *len = 0;
    size_t padded, total;
    char *hdr = writer_header(w, &padded);
    if (!hdr) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    total = 8 + padded;
    for (int i = 0; i < w->count; i++) total += w->t[i].nbytes;
    uint8_t *b = malloc(total);
    if (!b) {
        free(hdr);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory for %zu bytes of safetensors", total);
    }
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    size_t hlen = strlen(hdr), at = 8 + padded;
    memcpy(b + 8, hdr, hlen);
    memset(b + 8 + hlen, ' ', padded - hlen);
    for (int i = 0; i < w->count; i++) {
        if (w->t[i].nbytes) memcpy(b + at, w->t[i].data, w->t[i].nbytes);
        at += w->t[i].nbytes;
    }
    free(hdr);
    *out = b, *len = total;
    return ZF_OK;
}

void zf_shape_text(char *buf, size_t cap, int ndim, const int64_t *shape, int any_first) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++) {
        if (d == 0 && any_first && shape[0] <= 0)
            len += (size_t)snprintf(buf + len, cap - len, "N");
        else
            len +=
                (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? "," : "", (long long)shape[d]);
    }
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

const zf_st_tensor *zf_st_need_f32(const zf_st_file *f, const char *name, int ndim,
                                   const int64_t *want, zf_error *err) {
    const zf_st_tensor *t = zf_st_find(f, name);
    char got[128], exp[128];
    if (!t) {
        zf_fail(err, ZF_ERR_SHAPE, "%s: no tensor '%s'", f->path, name);
        return NULL;
    }
    if (t->dtype != ZF_DTYPE_F32) {
        zf_fail(err, ZF_ERR_SHAPE, "%s: tensor '%s' is %s, expected F32", f->path, name,
                zf_dtype_name(t->dtype));
        return NULL;
    }
    int same = t->ndim == ndim && t->shape[0] >= 1;
    for (int d = 1; same && d < ndim; d++) same = t->shape[d] == want[d];
    if (want[0] > 0 && same) same = t->shape[0] == want[0];
    if (!same) {
        zf_shape_text(got, sizeof got, t->ndim, t->shape, 0);
        zf_shape_text(exp, sizeof exp, ndim, want, 1);
        zf_fail(err, ZF_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path, name, got,
                exp);
        return NULL;
    }
    return t;
}
