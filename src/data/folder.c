/* Image folders: ROOT/<class>/<files> (sub-folders of a class folder included), classes in
 * name order as torchvision's ImageFolder numbers them. Opening lists the files and checks
 * each one's format and header; files that are not JPEG or PNG images (whatever their name)
 * are reported and left out, or fail the open with stop_on_bad. Pixels are decoded on read. */
#include "dataset.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define PROBE_BYTES (1u << 20)

typedef struct folder {
    char *root;
    char **files; /* (n) paths relative to root */
    int n, size, channels;
} folder;

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static int push(name_list *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, sizeof(char *) * (size_t)cap);
        if (!v) return -1;
        l->v = v, l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : -1;
}

static void free_list(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders from the root down to the one being listed: a folder met again below itself
 * (a symbolic link to an ancestor) is not entered twice. */
typedef struct chain {
    dev_t dev;
    ino_t ino;
    const struct chain *up;
} chain;

static int on_chain(const chain *c, const struct stat *sb) {
    for (; c; c = c->up)
        if (c->dev == sb->st_dev && c->ino == sb->st_ino) return 1;
    return 0;
}

/* Entries of dir (relative names under `prefix`), sorted; dirs_only picks folders, otherwise
 * files are collected recursively (links to folders above are not followed, paths stay under
 * 4096 bytes). Hidden entries are ignored. */
static int list_dir(const char *root, const char *rel, int dirs_only, const chain *up,
                    name_list *out, name_list *odd) {
    char path[4096];
    struct stat self;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel) >= sizeof path) return 0;
    DIR *dir = opendir(path);
    if (!dir) return -1;
    if (fstat(dirfd(dir), &self) || on_chain(up, &self)) {
        closedir(dir);
        return 0;
    }
    chain here_link = {self.st_dev, self.st_ino, up};
    name_list here = {0};
    struct dirent *e;
    int bad = 0;
    while (!bad && (e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
            sizeof sub - strlen(root) - 1)
            continue;
        bad = push(&here, sub);
    }
    closedir(dir);
    if (here.n) qsort(here.v, (size_t)here.n, sizeof(char *), by_name);
    for (int i = 0; !bad && i < here.n; i++) {
        struct stat sb;
        char why[4400];
        snprintf(path, sizeof path, "%s/%s", root, here.v[i]);
        int found = !stat(path, &sb);
        if (!found) { /* a dangling link, a loop of links */
            snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
            bad = push(odd, why);
        } else if (dirs_only) {
            if (S_ISDIR(sb.st_mode)) bad = push(out, here.v[i]);
        } else if (S_ISDIR(sb.st_mode))
            bad = list_dir(root, here.v[i], 0, &here_link, out, odd) < 0 && errno == ENOMEM;
        else if (S_ISREG(sb.st_mode))
            bad = push(out, here.v[i]);
        if (!bad && found && !S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) {
            snprintf(why, sizeof why, "%s: not a regular file", path); /* a FIFO, a device */
            bad = push(odd, why);
        }
    }
    free_list(&here);
    return bad ? -1 : 0;
}

static zf_status probe_file(const char *path, zf_error *err) {
    FILE *f = zf_fopen_read(path, err);
    if (!f) return ZF_ERR_IO;
    uint8_t *b = malloc(PROBE_BYTES);
    size_t n = b ? fread(b, 1, PROBE_BYTES, f) : 0;
    fclose(f);
    zf_status st =
        b ? zf_image_probe(b, n, path, NULL, NULL, err) : zf_fail(err, ZF_ERR_NOMEM, "no memory");
    free(b);
    return st;
}

static zf_status folder_read(const zf_dataset *d, int i, uint8_t *dst, zf_error *err) {
    const folder *f = d->impl;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", f->root, f->files[i]);
    return zf_image_load(path, f->size, f->channels, dst, err);
}

static void folder_item(const zf_dataset *d, int i, char *buf, size_t cap) {
    const folder *f = d->impl;
    snprintf(buf, cap, "%s/%s", f->root, f->files[i]);
}

static void folder_free(void *impl) {
    folder *f = impl;
    if (!f) return;
    free(f->root);
    for (int i = 0; i < f->n; i++) free(f->files[i]);
    free(f->files);
    free(f);
}

static const dataset_ops folder_ops = {folder_read, folder_item, folder_free};

zf_status zf_dataset_open_folder(zf_dataset **out, const char *root, const zf_dataset_options *o,
                                 zf_error *err) {
    *out = NULL;
    int size = o->size ? o->size : 256, channels = o->channels ? o->channels : 3;
    if (size < 1 || size > 8192 || (channels != 1 && channels != 3))
        return zf_fail(err, ZF_ERR_RANGE, "%s: bad image size %d or channel count %d", root, size,
                       channels);
    name_list classes = {0}, files = {0}, odd = {0};
    struct stat rs;
    chain top = {0, 0, NULL}; /* the root: a link up to it from a class folder is not followed */
    if (!stat(root, &rs)) top.dev = rs.st_dev, top.ino = rs.st_ino;
    if (list_dir(root, "", 1, NULL, &classes, &odd))
        return zf_fail(err, ZF_ERR_IO, "%s: cannot read the folder: %s", root, strerror(errno));
    zf_status st = classes.n
                       ? ZF_OK
                       : zf_fail(err, ZF_ERR_FORMAT,
                                 "%s: no class folders (expected %s/<class>/<images>)", root, root);
    int *label_of = NULL, *ok = NULL;
    for (int k = 0; !st && k < classes.n; k++) {
        int before = files.n;
        if (list_dir(root, classes.v[k], 0, &top, &files, &odd))
            st = zf_fail(err, ZF_ERR_IO, "%s/%s: cannot read: %s", root, classes.v[k],
                         strerror(errno));
        int *grown = st ? NULL : realloc(label_of, sizeof(int) * (size_t)(files.n + 1));
        if (!st && !grown) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        if (!st) label_of = grown;
        for (int i = before; !st && i < files.n; i++) label_of[i] = k;
    }
    zf_dataset *d = NULL;
    folder *f = NULL;
    if (!st && !(ok = calloc((size_t)files.n + 1, sizeof(int))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) st = zf_dataset_alloc(&d, 0, (zf_shape){channels, size, size}, 0, err);
    for (int i = 0; !st && i < odd.n; i++)
        st = o->stop_on_bad ? zf_fail(err, ZF_ERR_FORMAT, "%s", odd.v[i])
                            : zf_dataset_add_skipped(d, odd.v[i], err);
    int good = 0;
    for (int i = 0; !st && i < files.n; i++) {
        char path[4096];
        zf_error e;
        snprintf(path, sizeof path, "%s/%s", root, files.v[i]);
        if (!probe_file(path, &e))
            ok[i] = 1, good++;
        else if (o->stop_on_bad)
            st = zf_fail(err, ZF_ERR_FORMAT, "%s", e.msg);
        else
            st = zf_dataset_add_skipped(d, e.msg, err);
    }
    if (!st && !good)
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: no JPEG or PNG images in its class folders", root);
    int32_t *labels = st ? NULL : realloc(d->labels, sizeof(int32_t) * (size_t)good);
    if (!st && !labels) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) d->labels = labels;
    if (!st && (!(f = calloc(1, sizeof *f)) || !(f->root = strdup(root)) ||
                !(f->files = malloc(sizeof(char *) * (size_t)good)) ||
                !(d->class_names = calloc((size_t)classes.n, sizeof(char *)))))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        d->ops = &folder_ops, d->impl = f, f = NULL;
        folder *fd = d->impl;
        fd->size = size, fd->channels = channels;
        for (int i = 0; i < files.n; i++)
            if (ok[i]) {
                fd->files[fd->n++] = files.v[i], files.v[i] = NULL; /* moved */
                d->labels[d->count++] = label_of[i];
            }
        d->classes = classes.n;
        for (int k = 0; k < classes.n; k++) d->class_names[k] = classes.v[k], classes.v[k] = NULL;
        snprintf(d->desc, sizeof d->desc, "image folder %s", root);
        *out = d;
    } else {
        folder_free(f);
        zf_dataset_free(d);
    }
    free_list(&classes), free_list(&files), free_list(&odd), free(label_of), free(ok);
    return st;
}
