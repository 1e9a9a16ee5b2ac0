/* Reading shards (zfnet pack's format, shard.h) through mmap. Opening checks every offset and
 * label against the file. */
#include "shard.h"
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct shard {
    const uint8_t *map;
    size_t len;
    const uint8_t *index;
    const char **items;
    char *path;
} shard;

int zf_shard_sniff(const char *path) {
    FILE *f = zf_fopen_read(path, NULL);
    char m[8] = {0};
    int ok = f && fread(m, 1, 8, f) == 8 && !memcmp(m, SHARD_MAGIC, 8);
    if (f) fclose(f);
    return ok;
}

static zf_status shard_read(const zf_dataset *d, int i, uint8_t *dst, zf_error *err) {
    const shard *s = d->impl;
    const uint8_t *e = s->index + 16 * (size_t)i;
    char name[4200];
    snprintf(name, sizeof name, "%s#%d (%s)", s->path, i, s->items[i]);
    const uint8_t *buf = s->map + get_le(e, 8);
    size_t len = (size_t)get_le(e + 8, 4);
    /* pack stores every image at the shard's short side: any other size is damage (and a tiny
     * image under a large claimed size would otherwise be blown up at great cost) */
    int w, h, side = d->shape.h;
    zf_status st = zf_image_probe(buf, len, name, &w, &h, err);
    if (!st && (w < h ? w : h) != side)
        st = zf_fail(err, ZF_ERR_FORMAT,
                     "%s: a %dx%d image where the shard holds images of short side %d", name, w, h,
                     side);
    return st ? st : zf_image_load_mem(buf, len, side, d->shape.c, dst, name, err);
}

static void shard_item(const zf_dataset *d, int i, char *buf, size_t cap) {
    const shard *s = d->impl;
    snprintf(buf, cap, "%s", s->items[i]);
}

static void shard_free(void *impl) {
    shard *s = impl;
    if (!s) return;
    if (s->map) munmap((void *)s->map, s->len);
    free(s->items), free(s->path), free(s);
}

static const dataset_ops shard_ops = {shard_read, shard_item, shard_free};

/* The header's fields, checked against the file's length (no sum can wrap: every offset is
 * compared with the length before it is added to). */
typedef struct shard_header {
    uint32_t count, classes, channels, size;
    uint64_t ioff, noff, nlen;
} shard_header;

static zf_status map_file(shard *s, const char *path, zf_error *err) {
    int fd = zf_open_read(path, err);
    if (fd < 0) return ZF_ERR_IO;
    struct stat sb;
    zf_status st = ZF_OK;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size < SHARD_HEADER)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: too short for a shard", path);
    if (!st) {
        s->len = (size_t)sb.st_size;
        void *m = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            st = zf_fail(err, ZF_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        else
            s->map = m;
    }
    close(fd);
    return st;
}

static zf_status read_header(const shard *s, const char *path, shard_header *hd, zf_error *err) {
    const uint8_t *h = s->map;
    hd->count = (uint32_t)get_le(h + 12, 4), hd->classes = (uint32_t)get_le(h + 16, 4);
    hd->channels = (uint32_t)get_le(h + 20, 4), hd->size = (uint32_t)get_le(h + 24, 4);
    hd->ioff = get_le(h + 32, 8), hd->noff = get_le(h + 40, 8), hd->nlen = get_le(h + 48, 8);
    if (memcmp(h, SHARD_MAGIC, 8) || get_le(h + 8, 4) != 1)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: not a version-1 zfnet shard", path);
    if (get_le(h + 56, 8) != s->len)
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: truncated or grown: the header says %llu bytes, the file has %zu", path,
                       (unsigned long long)get_le(h + 56, 8), s->len);
    if (!hd->count || !hd->classes || (hd->channels != 1 && hd->channels != 3) || !hd->size ||
        hd->size > 8192 || hd->ioff < SHARD_HEADER || hd->ioff > s->len ||
        (s->len - hd->ioff) / 16 < hd->count || hd->ioff + 16ull * hd->count != hd->noff ||
        hd->nlen != s->len - hd->noff || !hd->nlen || hd->classes > hd->nlen || s->map[s->len - 1])
        return zf_fail(err, ZF_ERR_FORMAT, "%s: inconsistent shard header", path);
    for (uint32_t i = 0; i < hd->count; i++) {
        const uint8_t *e = h + hd->ioff + 16ull * i;
        uint64_t off = get_le(e, 8), len = get_le(e + 8, 4), lab = get_le(e + 12, 4);
        if (off < SHARD_HEADER || off > hd->ioff || len > hd->ioff - off || lab >= hd->classes)
            return zf_fail(err, ZF_ERR_FORMAT, "%s: index entry %u is out of range", path, i);
    }
    return ZF_OK;
}

/* names: classes then items, each NUL-terminated, nothing left over */
static zf_status read_names(zf_dataset *d, shard *s, const shard_header *hd, const char *path,
                            zf_error *err) {
    const char *p = (const char *)s->map + hd->noff, *end = p + hd->nlen;
    d->classes = (int)hd->classes;
    for (uint32_t k = 0; k < hd->classes + hd->count; k++) {
        if (p >= end)
            return zf_fail(err, ZF_ERR_FORMAT, "%s: %u names missing", path,
                           hd->classes + hd->count - k);
        if (k < hd->classes) {
            if (!(d->class_names[k] = strdup(p)))
                return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        } else
            s->items[k - hd->classes] = p;
        p += strlen(p) + 1;
    }
    return p != end ? zf_fail(err, ZF_ERR_FORMAT, "%s: extra names", path) : ZF_OK;
}

zf_status zf_dataset_open_shard(zf_dataset **out, const char *path, const zf_dataset_options *o,
                                zf_error *err) {
    *out = NULL;
    shard *s = calloc(1, sizeof *s);
    shard_header hd = {0};
    zf_status st = s ? map_file(s, path, err) : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = read_header(s, path, &hd, err);
    uint32_t count = hd.count, classes = hd.classes, channels = hd.channels, size = hd.size;
    zf_dataset *d = NULL;
    if (!st)
        st = zf_dataset_alloc(&d, (int)count, (zf_shape){(int)channels, (int)size, (int)size}, 0,
                              err);
    if (!st && (!(s->items = malloc(sizeof(char *) * count)) || !(s->path = strdup(path)) ||
                !(d->class_names = calloc(classes, sizeof(char *)))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = read_names(d, s, &hd, path, err);
    if (!st && o &&
        ((o->size && o->size != (int)size) || (o->channels && o->channels != (int)channels)))
        st = zf_fail(err, ZF_ERR_SHAPE,
                     "%s: holds %ux%u images with %u channel%s; %dx%d with %d asked for", path,
                     size, size, channels, channels > 1 ? "s" : "", o->size ? o->size : (int)size,
                     o->size ? o->size : (int)size, o->channels ? o->channels : (int)channels);
    if (st) {
        zf_dataset_free(d);
        shard_free(s);
        return st;
    }
    s->index = s->map + hd.ioff;
    for (uint32_t i = 0; i < count; i++)
        d->labels[i] = (int32_t)get_le(s->index + 16ull * i + 12, 4);
    d->ops = &shard_ops, d->impl = s;
    snprintf(d->desc, sizeof d->desc, "shard %s", path);
    *out = d;
    return ZF_OK;
}
