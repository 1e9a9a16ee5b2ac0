/* Opening a dataset by what its name points at: the dispatcher above the readers (IDX, CIFAR,
 * image folders, shards). */
#include "dataset.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

#define FMNIST "/usr/share/datasets/fashion-mnist/"
/* where Debian's opencv-doc puts OpenCV's digits sheet (scripts/install-deps.sh --digits takes
 * only this file from the package) */
#define DIGITS_PNG "/usr/share/doc/opencv-doc/examples/data/digits.png"

static const char *fmnist_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static zf_status set_names(zf_dataset *d, const char *const *names, int n, zf_error *err) {
    if (d->classes > n) return ZF_OK;
    if (!(d->class_names = calloc((size_t)d->classes, sizeof(char *))))
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < d->classes; k++)
        if (!(d->class_names[k] = strdup(names[k])))
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return ZF_OK;
}

/* An IDX images file: gzip or raw, starting 00 00 08 03 once inflated. */
static int is_idx_images(const char *path) {
    int fd = zf_open_read(path, NULL);
    gzFile f = fd < 0 ? NULL : gzdopen(fd, "rb");
    if (fd >= 0 && !f) close(fd);
    unsigned char h[4];
    int ok = f && gzread(f, h, 4) == 4 && !h[0] && !h[1] && h[2] == 8 && h[3] == 3;
    if (f) gzclose(f);
    return ok;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static zf_status open_idx_spec(zf_dataset **out, const char *spec, zf_error *err) {
    char images[4096], labels[4096];
    const char *comma = strchr(spec, ',');
    if (comma) {
        snprintf(images, sizeof images, "%.*s", (int)(comma - spec), spec);
        snprintf(labels, sizeof labels, "%s", comma + 1);
    } else {
        snprintf(images, sizeof images, "%s", spec);
        char *at = strstr(images, "images-idx3");
        if (!at)
            return zf_fail(err, ZF_ERR_ARG,
                           "%s: cannot tell where its labels are; name them: IMAGES,LABELS", spec);
        snprintf(labels, sizeof labels, "%.*slabels-idx1%s", (int)(at - images), images,
                 at + strlen("images-idx3"));
    }
    zf_status st = zf_dataset_open_idx(images, labels, out, err);
    if (!st && strstr(images, "fashion-mnist")) st = set_names(*out, fmnist_names, 10, err);
    if (st) {
        zf_dataset_free(*out);
        *out = NULL;
    }
    return st;
}

void zf_dataset_defaults(zf_dataset_options *o) {
    *o = (zf_dataset_options){.size = 0, .channels = 0, .stop_on_bad = 0};
}

zf_status zf_dataset_open(const char *spec, const zf_dataset_options *o, zf_dataset **out,
                          zf_error *err) {
    *out = NULL;
    zf_dataset_options def;
    zf_dataset_defaults(&def);
    if (!o) o = &def;
    if (!strcmp(spec, "fashion-mnist") || !strcmp(spec, "fashion-mnist:train"))
        return open_idx_spec(out, FMNIST "train-images-idx3-ubyte.gz", err);
    if (!strcmp(spec, "fashion-mnist:test"))
        return open_idx_spec(out, FMNIST "t10k-images-idx3-ubyte.gz", err);
    if (!strcmp(spec, "digits") || !strcmp(spec, "digits:train") || !strcmp(spec, "digits:test")) {
        const char *path = getenv("ZFNET_DIGITS");
        if (!path || !*path) path = DIGITS_PNG;
        struct stat sb;
        if (stat(path, &sb))
            return zf_fail(err, ZF_ERR_IO,
                           "%s: %s: %s (scripts/install-deps.sh --digits takes it from Debian's "
                           "opencv-doc; ZFNET_DIGITS may name another copy)",
                           spec, path, strerror(errno));
        return zf_dataset_open_digits(out, path, !strcmp(spec, "digits:test"), err);
    }
    char first[4096];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(spec, ","), spec);
    if (ends_with(first, ".bin")) return zf_dataset_open_cifar(out, spec, err);
    struct stat sb;
    if (stat(first, &sb))
        return zf_fail(
            err, ZF_ERR_IO, "%s: %s%s", first, strerror(errno),
            strchr(spec, ':') || !strchr(spec, '/')
                ? " (a dataset is fashion-mnist[:test], digits[:test], an IDX or CIFAR file, an "
                  "image folder or a shard)"
                : "");
    if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
        return zf_fail(err, ZF_ERR_IO, "%s: not a regular file", first);
    if (S_ISDIR(sb.st_mode)) {
        if (strchr(spec, ','))
            return zf_fail(err, ZF_ERR_ARG, "%s: an image folder is one directory", spec);
        return zf_dataset_open_folder(out, spec, o, err);
    }
    if (zf_shard_sniff(first)) return zf_dataset_open_shard(out, first, o, err);
    if (is_idx_images(first)) return open_idx_spec(out, spec, err);
    return zf_fail(err, ZF_ERR_FORMAT,
                   "%s: not a dataset zfnet reads (IDX images, CIFAR .bin, a zfnet shard or an "
                   "image folder)",
                   first);
}
