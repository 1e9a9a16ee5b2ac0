/* IDX files (MNIST, Fashion-MNIST): a 4-byte magic (0, 0, type 0x08 = unsigned byte, rank),
 * big-endian 32-bit dimensions, then the data. Read through zlib, so gzipped and raw files
 * both work; every size is checked against the header and the other file. */
#include "dataset.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Read an IDX file of unsigned bytes with the given rank into a new buffer. */
static zf_status read_idx(const char *path, int rank, uint32_t *dims, uint8_t **data,
                          zf_error *err) {
    *data = NULL;
    int fd = zf_open_read(path, err);
    gzFile f = fd < 0 ? NULL : gzdopen(fd, "rb");
    if (fd >= 0 && !f) close(fd), zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!f) return fd < 0 ? ZF_ERR_IO : ZF_ERR_NOMEM;
    unsigned char head[4 + 4 * 3] = {0};
    int got = gzread(f, head, 4);
    zf_status st = ZF_OK;
    if (got != 4 || head[0] || head[1] || head[2] != 0x08 || head[3] != rank)
        st =
            zf_fail(err, ZF_ERR_FORMAT,
                    "%s: not an IDX file of unsigned bytes with %d dimensions (it starts %02x %02x "
                    "%02x %02x)",
                    path, rank, head[0], head[1], head[2], head[3]);
    if (!st && gzread(f, head + 4, 4u * (unsigned)rank) != 4 * rank)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: truncated IDX header", path);
    uint64_t total = 1;
    for (int k = 0; !st && k < rank; k++) {
        const unsigned char *b = head + 4 + 4 * k;
        dims[k] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        total *= dims[k];
        if (dims[k] == 0 || total > (1ull << 34))
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: bad dimension %u", path, dims[k]);
    }
    if (!st && rank == 3 && (dims[1] > 8192 || dims[2] > 8192))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: %ux%u images (at most 8192x8192)", path, dims[1],
                     dims[2]);
    /* the buffer grows with the data read, never ahead of it: a header's counts are claims */
    uint64_t cap = 0;
    for (uint64_t off = 0; !st && off < total;) {
        if (off == cap) {
            cap = total - cap > (cap ? cap : 1u << 20) ? cap + (cap ? cap : 1u << 20) : total;
            uint8_t *grown = realloc(*data, cap);
            if (!grown) {
                st = zf_fail(err, ZF_ERR_NOMEM, "%s: out of memory for %llu bytes", path,
                             (unsigned long long)cap);
                break;
            }
            *data = grown;
        }
        unsigned chunk = cap - off > (1u << 30) ? (1u << 30) : (unsigned)(cap - off);
        int r = gzread(f, *data + off, chunk);
        if (r <= 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            char why[160] = "";
            if (zerr < 0) snprintf(why, sizeof why, " (%s)", msg);
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: truncated: %llu of %llu data bytes%s", path,
                         (unsigned long long)off, (unsigned long long)total, why);
        }
        off += r > 0 ? (uint64_t)r : 0;
    }
    unsigned char extra;
    if (!st && gzread(f, &extra, 1) == 1)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: more data than its header's %llu bytes", path,
                     (unsigned long long)total);
    gzclose(f);
    if (st) {
        free(*data);
        *data = NULL;
    }
    return st;
}

zf_status zf_dataset_open_idx(const char *images, const char *labels, zf_dataset **out,
                              zf_error *err) {
    *out = NULL;
    uint32_t idims[3], ldims[1];
    uint8_t *px = NULL, *lb = NULL;
    zf_status st = read_idx(images, 3, idims, &px, err);
    if (!st) st = read_idx(labels, 1, ldims, &lb, err);
    if (!st && ldims[0] != idims[0])
        st = zf_fail(err, ZF_ERR_SHAPE, "%s holds %u labels but %s holds %u images", labels,
                     ldims[0], images, idims[0]);
    zf_dataset *d = NULL;
    if (!st)
        st = zf_dataset_alloc(&d, (int)idims[0], (zf_shape){1, (int)idims[1], (int)idims[2]}, 0,
                              err);
    if (st) {
        free(px), free(lb);
        return st;
    }
    d->pixels = px;
    for (int i = 0; i < d->count; i++) d->labels[i] = lb[i];
    free(lb);
    zf_dataset_count_classes(d);
    snprintf(d->desc, sizeof d->desc, "IDX %s", images);
    *out = d;
    return ZF_OK;
}
