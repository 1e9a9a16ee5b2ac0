/* Shards (zfnet pack): one file holding an image folder's images pre-resized to a short side
 * (256 by default), encoded (JPEG, or PNG for lossless), with an index and the class and file
 * names; read through mmap. docs/datasets.md has the layout:
 *   0   "ZFSHARD1"
 *   8   u32 version (1), count, classes, channels, size, 0
 *   32  u64 index offset, names offset, names length, file size
 *   64  encoded images
 *   index: count x (u64 offset, u32 length, u32 label)
 *   names: NUL-terminated, the classes' then the items' (paths relative to the folder)
 * All little-endian. Opening checks every offset and label against the file. */
#include "dataset.h"
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC  "ZFSHARD1"
#define HEADER 64

typedef struct shard {
    const uint8_t *map;
    size_t len;
    const uint8_t *index;
    const char **items;
    char *path;
} shard;

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int zf_shard_sniff(const char *path) {
    FILE *f = fopen(path, "rb");
    char m[8] = {0};
    int ok = f && fread(m, 1, 8, f) == 8 && !memcmp(m, MAGIC, 8);
    if (f) fclose(f);
    return ok;
}

static zf_status shard_read(const zf_dataset *d, int i, uint8_t *dst, zf_error *err) {
    const shard *s = d->impl;
    const uint8_t *e = s->index + 16 * (size_t)i;
    char name[4200];
    snprintf(name, sizeof name, "%s#%d (%s)", s->path, i, s->items[i]);
    return zf_image_load_mem(s->map + get_le(e, 8), (size_t)get_le(e + 8, 4), d->shape.h,
                             d->shape.c, dst, name, err);
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

zf_status zf_dataset_open_shard(zf_dataset **out, const char *path, const zf_dataset_options *o,
                                zf_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return zf_fail(err, ZF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    shard *s = calloc(1, sizeof *s);
    zf_status st = s ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st && (fstat(fd, &sb) || sb.st_size < HEADER))
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
    const uint8_t *h = s && s->map ? s->map : NULL;
    uint32_t count = 0, classes = 0, channels = 0, size = 0;
    uint64_t ioff = 0, noff = 0, nlen = 0;
    if (!st) {
        count = (uint32_t)get_le(h + 12, 4), classes = (uint32_t)get_le(h + 16, 4);
        channels = (uint32_t)get_le(h + 20, 4), size = (uint32_t)get_le(h + 24, 4);
        ioff = get_le(h + 32, 8), noff = get_le(h + 40, 8), nlen = get_le(h + 48, 8);
        if (memcmp(h, MAGIC, 8) || get_le(h + 8, 4) != 1)
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: not a version-1 zfnet shard", path);
        else if (get_le(h + 56, 8) != s->len)
            st = zf_fail(err, ZF_ERR_FORMAT,
                         "%s: truncated or grown: the header says %llu bytes, the file has %zu",
                         path, (unsigned long long)get_le(h + 56, 8), s->len);
        else if (!count || !classes || (channels != 1 && channels != 3) || !size || size > 8192 ||
                 ioff < HEADER || ioff + 16ull * count != noff || noff + nlen != s->len || !nlen ||
                 h[s->len - 1])
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: inconsistent shard header", path);
    }
    for (uint32_t i = 0; !st && i < count; i++) {
        const uint8_t *e = h + ioff + 16ull * i;
        uint64_t off = get_le(e, 8), len = get_le(e + 8, 4), lab = get_le(e + 12, 4);
        if (off < HEADER || off + len > ioff || lab >= classes)
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: index entry %u is out of range", path, i);
    }
    zf_dataset *d = NULL;
    if (!st)
        st = zf_dataset_alloc(&d, (int)count, (zf_shape){(int)channels, (int)size, (int)size}, 0,
                              err);
    if (!st && (!(s->items = malloc(sizeof(char *) * count)) || !(s->path = strdup(path)) ||
                !(d->class_names = calloc(classes, sizeof(char *)))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) { /* names: classes then items, each NUL-terminated, nothing left over */
        const char *p = (const char *)h + noff, *end = p + nlen;
        d->classes = (int)classes;
        for (uint32_t k = 0; !st && k < classes + count; k++) {
            if (p >= end) {
                st = zf_fail(err, ZF_ERR_FORMAT, "%s: %u names missing", path, classes + count - k);
                break;
            }
            if (k < classes) {
                if (!(d->class_names[k] = strdup(p)))
                    st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
            } else
                s->items[k - classes] = p;
            p += strlen(p) + 1;
        }
        if (!st && p != end) st = zf_fail(err, ZF_ERR_FORMAT, "%s: extra names", path);
    }
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
    s->index = h + ioff;
    for (uint32_t i = 0; i < count; i++)
        d->labels[i] = (int32_t)get_le(s->index + 16ull * i + 12, 4);
    d->ops = &shard_ops, d->impl = s;
    snprintf(d->desc, sizeof d->desc, "shard %s", path);
    *out = d;
    return ZF_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct packed {
    uint8_t *data;
    size_t len;
    char msg[1024]; /* the error when data is NULL */
} packed;

static void encode_one(const zf_dataset *src, int i, const zf_pack_options *o, packed *p) {
    char path[4096];
    zf_error e;
    uint8_t *buf;
    size_t len;
    zf_image im = {0};
    zf_dataset_item_name(src, i, path, sizeof path);
    zf_status st = zf_read_file(path, &buf, &len, &e);
    if (!st) {
        st = zf_image_decode(buf, len, 2 * o->size, &im, path, &e);
        free(buf);
    }
    if (!st) st = zf_image_short_side(&im, o->size, &e);
    if (!st) st = zf_image_channels(&im, o->channels, &e); /* the shard holds what it says */
    if (!st)
        st = o->lossless ? zf_png_encode(&im, &p->data, &p->len, &e)
                         : zf_jpeg_encode(&im, o->quality, &p->data, &p->len, &e);
    free(im.px);
    if (st) snprintf(p->msg, sizeof p->msg, "%s", e.msg);
}

zf_status zf_pack(const char *folder_path, const char *out, const zf_pack_options *opt,
                  zf_error *err) {
    zf_pack_options o = *opt;
    if (!o.size) o.size = 256;
    if (!o.channels) o.channels = 3;
    if (!o.quality) o.quality = 90;
    if (o.size < 8 || o.size > 8192 || (o.channels != 1 && o.channels != 3) || o.quality < 1 ||
        o.quality > 100)
        return zf_fail(err, ZF_ERR_RANGE, "pack: bad size %d, channels %d or quality %d", o.size,
                       o.channels, o.quality);
    zf_dataset *src;
    zf_dataset_options dopt = {
        .size = o.size, .channels = o.channels, .stop_on_bad = o.stop_on_bad};
    zf_status st = zf_dataset_open_folder(&src, folder_path, &dopt, err);
    if (st) return st;
    for (int k = 0; k < src->nskipped && o.on_bad; k++) o.on_bad(o.ctx, src->skipped[k]);
    int n = src->count, chunk = 256, kept = 0;
    uint8_t *index = malloc(16 * (size_t)n);
    int *kept_items = malloc(sizeof(int) * (size_t)n);
    packed *batch = calloc((size_t)chunk, sizeof *batch);
    zf_atomic a;
    if (!index || !kept_items || !batch) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_atomic_begin(&a, out, err);
    int open_file = !st;
    uint8_t head[HEADER] = {0};
    uint64_t off = HEADER;
    if (!st) zf_atomic_write(&a, head, HEADER);
    for (int i0 = 0; !st && i0 < n; i0 += chunk) {
        int m = n - i0 < chunk ? n - i0 : chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(o.threads > 0 ? o.threads : 2)
        for (int j = 0; j < m; j++) encode_one(src, i0 + j, &o, &batch[j]);
        for (int j = 0; j < m; j++) {
            packed *p = &batch[j];
            if (!p->data && !st) {
                if (o.stop_on_bad)
                    st = zf_fail(err, ZF_ERR_FORMAT, "%s", p->msg);
                else if (o.on_bad)
                    o.on_bad(o.ctx, p->msg);
            } else if (p->data && !st) {
                uint8_t *e = index + 16 * (size_t)kept;
                put_le(e, off, 8), put_le(e + 8, p->len, 4),
                    put_le(e + 12, (uint64_t)src->labels[i0 + j], 4);
                zf_atomic_write(&a, p->data, p->len);
                off += p->len, kept_items[kept++] = i0 + j;
            }
            free(p->data);
            *p = (packed){0};
        }
        if (o.progress) o.progress(o.ctx, i0 + m, n);
    }
    if (!st && !kept) st = zf_fail(err, ZF_ERR_FORMAT, "%s: no image could be packed", folder_path);
    if (!st) {
        uint64_t ioff = off, noff = ioff + 16ull * kept, nlen = 0;
        zf_atomic_write(&a, index, 16 * (size_t)kept);
        for (int k = 0; k < src->classes; k++) {
            zf_atomic_write(&a, src->class_names[k], strlen(src->class_names[k]) + 1);
            nlen += strlen(src->class_names[k]) + 1;
        }
        size_t rootlen = strlen(folder_path) + 1;
        for (int k = 0; k < kept; k++) {
            char path[4096];
            zf_dataset_item_name(src, kept_items[k], path, sizeof path);
            const char *rel = strlen(path) > rootlen ? path + rootlen : path;
            zf_atomic_write(&a, rel, strlen(rel) + 1);
            nlen += strlen(rel) + 1;
        }
        memcpy(head, MAGIC, 8);
        put_le(head + 8, 1, 4), put_le(head + 12, (uint64_t)kept, 4);
        put_le(head + 16, (uint64_t)src->classes, 4), put_le(head + 20, (uint64_t)o.channels, 4);
        put_le(head + 24, (uint64_t)o.size, 4);
        put_le(head + 32, ioff, 8), put_le(head + 40, noff, 8), put_le(head + 48, nlen, 8);
        put_le(head + 56, noff + nlen, 8);
        if (!a.failed && pwrite(a.fd, head, HEADER, 0) != HEADER) a.failed = errno ? errno : EIO;
        st = zf_atomic_commit(&a, err);
        if (!st && o.packed) *o.packed = kept;
    } else if (open_file)
        zf_atomic_abort(&a);
    free(index), free(kept_items), free(batch);
    zf_dataset_free(src);
    return st;
}
