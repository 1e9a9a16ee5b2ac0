/* CIFAR-10 / CIFAR-100 binary batches: records of a label byte (CIFAR-100: coarse then fine;
 * the fine label is used) followed by 3072 bytes of 32x32 R, G, B planes. Which of the two a
 * file is follows from its size and its label bytes; class names come from batches.meta.txt
 * (CIFAR-10) or fine_label_names.txt (CIFAR-100) beside the first file when present. */
#include "dataset.h"

#include <string.h>

#define PLANES 3072

static int labels_fit(const uint8_t *b, size_t n, int rec, int off, int max) {
    for (size_t r = 0; r + rec <= n; r += rec)
        if (b[r + off] >= max) return 0;
    return 1;
}

static void load_names(zf_dataset *d, const char *first, int hundred) {
    char path[4096];
    const char *slash = strrchr(first, '/');
    snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - first + 1) : 0, first,
             hundred ? "fine_label_names.txt" : "batches.meta.txt");
    FILE *f = zf_fopen_read(path, NULL);
    if (!f) return;
    char **names = calloc((size_t)d->classes, sizeof(char *)), line[256];
    int k = 0;
    while (names && k < d->classes && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0]) names[k++] = strdup(line);
    }
    fclose(f);
    if (names && k == d->classes) {
        d->class_names = names;
        return;
    }
    for (int j = 0; names && j < k; j++) free(names[j]);
    free(names);
}

zf_status zf_dataset_open_cifar(zf_dataset **out, const char *files, zf_error *err) {
    *out = NULL;
    char *list = strdup(files), *save = NULL;
    uint8_t *all = NULL;
    size_t total = 0;
    int hundred = -1;
    zf_status st = list ? ZF_OK : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (char *p = list ? strtok_r(list, ",", &save) : NULL; p && !st;
         p = strtok_r(NULL, ",", &save)) {
        uint8_t *b;
        size_t n;
        if ((st = zf_read_file(p, &b, &n, err))) break;
        int is10 = n && n % (PLANES + 1) == 0 && labels_fit(b, n, PLANES + 1, 0, 10);
        int is100 = n && n % (PLANES + 2) == 0 && labels_fit(b, n, PLANES + 2, 0, 20) &&
                    labels_fit(b, n, PLANES + 2, 1, 100);
        int kind = is10 ? 0 : is100 ? 1 : -1;
        if (kind < 0)
            st = zf_fail(err, ZF_ERR_FORMAT,
                         "%s: not a CIFAR binary batch (%zu bytes: not whole records of %d or %d "
                         "bytes with valid labels)",
                         p, n, PLANES + 1, PLANES + 2);
        else if (hundred >= 0 && kind != hundred)
            st = zf_fail(err, ZF_ERR_FORMAT, "%s: a CIFAR-%s batch among CIFAR-%s ones", p,
                         kind ? "100" : "10", hundred ? "100" : "10");
        uint8_t *grown = st ? NULL : realloc(all, total + n);
        if (!st && !grown) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        if (!st) {
            memcpy(grown + total, b, n);
            all = grown, total += n, hundred = kind;
        }
        free(b);
    }
    int rec = PLANES + 1 + (hundred > 0), count = total ? (int)(total / (size_t)rec) : 0;
    zf_dataset *d = NULL;
    if (!st && !count) st = zf_fail(err, ZF_ERR_ARG, "%s: no CIFAR files named", files);
    if (!st) st = zf_dataset_alloc(&d, count, (zf_shape){3, 32, 32}, 1, err);
    for (int i = 0; !st && i < count; i++) {
        const uint8_t *r = all + (size_t)i * rec;
        d->labels[i] = r[rec - PLANES - 1];
        memcpy(d->pixels + (size_t)i * PLANES, r + rec - PLANES, PLANES);
    }
    if (!st) {
        zf_dataset_count_classes(d);
        snprintf(d->desc, sizeof d->desc, "CIFAR-%s %s", hundred ? "100" : "10", files);
        load_names(d, list, hundred > 0); /* list: the first name, cut at its comma */
        *out = d;
    } else
        zf_dataset_free(d);
    free(all), free(list);
    return st;
}
