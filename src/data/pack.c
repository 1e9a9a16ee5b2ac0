/* zfnet pack: an image folder into one shard (the layout is in shard.h): each image decoded,
 * resized to the short side, re-encoded, written atomically. */
#include "image.h"
#include "shard.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

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
        st = zf_image_decode(buf, len, 2 * o->size, path, &im, &e);
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

/* The index entries, class names and item names after the images, then the header. */
static zf_status write_tail(zf_atomic *a, const zf_dataset *src, const char *folder_path,
                            const uint8_t *index, const int *kept_items, int kept, uint64_t off,
                            const zf_pack_options *o, zf_error *err) {
    uint64_t ioff = off, noff = ioff + 16ull * kept, nlen = 0;
    zf_atomic_write(a, index, 16 * (size_t)kept);
    for (int k = 0; k < src->classes; k++) {
        zf_atomic_write(a, src->class_names[k], strlen(src->class_names[k]) + 1);
        nlen += strlen(src->class_names[k]) + 1;
    }
    size_t rootlen = strlen(folder_path) + 1;
    for (int k = 0; k < kept; k++) {
        char path[4096];
        zf_dataset_item_name(src, kept_items[k], path, sizeof path);
        const char *rel = strlen(path) > rootlen ? path + rootlen : path;
        zf_atomic_write(a, rel, strlen(rel) + 1);
        nlen += strlen(rel) + 1;
    }
    uint8_t head[SHARD_HEADER] = {0};
    memcpy(head, SHARD_MAGIC, 8);
    put_le(head + 8, 1, 4), put_le(head + 12, (uint64_t)kept, 4);
    put_le(head + 16, (uint64_t)src->classes, 4), put_le(head + 20, (uint64_t)o->channels, 4);
    put_le(head + 24, (uint64_t)o->size, 4);
    put_le(head + 32, ioff, 8), put_le(head + 40, noff, 8), put_le(head + 48, nlen, 8);
    put_le(head + 56, noff + nlen, 8);
    if (!a->failed && pwrite(a->fd, head, SHARD_HEADER, 0) != SHARD_HEADER)
        a->failed = errno ? errno : EIO;
    return zf_atomic_commit(a, err);
}

typedef struct pack_job {
    const zf_dataset *src;
    const zf_pack_options *o;
    zf_atomic a;
    uint8_t *index; /* (count, 16) */
    int *kept_items, kept;
    uint64_t off;
    packed *batch;
} pack_job;

/* Images i0..i0+m-1 encoded in parallel, then appended in order. */
static zf_status pack_chunk(pack_job *j, int i0, int m, zf_error *err) {
    const zf_pack_options *o = j->o;
    zf_status st = ZF_OK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(o->threads)
    for (int k = 0; k < m; k++) encode_one(j->src, i0 + k, o, &j->batch[k]);
    for (int k = 0; k < m; k++) {
        packed *p = &j->batch[k];
        if (!p->data && !st) {
            if (o->stop_on_bad)
                st = zf_fail(err, ZF_ERR_FORMAT, "%s", p->msg);
            else if (o->on_bad)
                o->on_bad(o->ctx, p->msg);
        } else if (p->data && !st) {
            uint8_t *e = j->index + 16 * (size_t)j->kept;
            put_le(e, j->off, 8), put_le(e + 8, p->len, 4),
                put_le(e + 12, (uint64_t)j->src->labels[i0 + k], 4);
            zf_atomic_write(&j->a, p->data, p->len);
            j->off += p->len, j->kept_items[j->kept++] = i0 + k;
        }
        free(p->data);
        *p = (packed){0};
    }
    return st;
}

void zf_pack_defaults(zf_pack_options *o) {
    *o = (zf_pack_options){.size = 256, .channels = 3, .quality = 90, .threads = 2};
}

zf_status zf_pack(const char *folder_path, const char *out, const zf_pack_options *opt,
                  zf_error *err) {
    zf_pack_options o;
    if (opt)
        o = *opt;
    else
        zf_pack_defaults(&o);
    if (o.size < 8 || o.size > 8192 || (o.channels != 1 && o.channels != 3) || o.quality < 1 ||
        o.quality > 100 || o.threads < 1 || o.threads > 1024)
        return zf_fail(err, ZF_ERR_RANGE,
                       "pack: bad size %d, channels %d, quality %d or threads %d", o.size,
                       o.channels, o.quality, o.threads);
    zf_dataset *src;
    zf_dataset_options dopt;
    zf_dataset_defaults(&dopt);
    dopt.size = o.size;
    dopt.channels = o.channels;
    dopt.stop_on_bad = o.stop_on_bad;
    zf_status st = zf_dataset_open_folder(&src, folder_path, &dopt, err);
    if (st) return st;
    for (int k = 0; k < src->nskipped && o.on_bad; k++) o.on_bad(o.ctx, src->skipped[k]);
    int n = src->count, chunk = 256;
    pack_job j = {.src = src, .o = &o, .off = SHARD_HEADER};
    j.index = malloc(16 * (size_t)n), j.kept_items = malloc(sizeof(int) * (size_t)n);
    j.batch = calloc((size_t)chunk, sizeof *j.batch);
    if (!j.index || !j.kept_items || !j.batch) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_atomic_begin(&j.a, out, err);
    int open_file = !st;
    uint8_t head[SHARD_HEADER] = {0}; /* written last, when the offsets are known */
    if (!st) zf_atomic_write(&j.a, head, SHARD_HEADER);
    for (int i0 = 0; !st && i0 < n; i0 += chunk) {
        int m = n - i0 < chunk ? n - i0 : chunk;
        st = pack_chunk(&j, i0, m, err);
        if (o.progress) o.progress(o.ctx, i0 + m, n);
    }
    if (!st && !j.kept)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: no image could be packed", folder_path);
    if (!st) {
        st = write_tail(&j.a, src, folder_path, j.index, j.kept_items, j.kept, j.off, &o, err);
        if (!st && o.packed) *o.packed = j.kept;
    } else if (open_file)
        zf_atomic_abort(&j.a);
    free(j.index), free(j.kept_items), free(j.batch);
    zf_dataset_free(src);
    return st;
}
