/* zfnet data: what a dataset holds (counts, classes, files left out), and its decoded images
 * dumped to safetensors for inspection or for checking against another reader. */
#include "run.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: zfnet data SPEC [--size S] [--channels 1|3] [--dump OUT.safetensors] [--first N]\n\n"
    "Describes a dataset (SPEC as in 'zfnet train --help'): image count and shape, classes and\n"
    "their names, images per class, files left out and why. --dump decodes images (the first\n"
    "N, default all) exactly as training reads them and writes 'images' (U8, N x C x H x W),\n"
    "'labels' (I64) and the item names (metadata 'items').\n";

int cmd_data(int argc, char **argv) {
    static const struct option opts[] = {
        {"size", required_argument, 0, 'S'}, {"channels", required_argument, 0, 'c'},
        {"dump", required_argument, 0, 'd'}, {"first", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    zf_dataset_options o = {0};
    const char *dump = NULL;
    long v, first = -1;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) switch (ch) {
        case 'S':
            if (cli_parse_int("--size", optarg, 8, 8192, &v)) return 2;
            o.size = (int)v;
            break;
        case 'c':
            if (cli_parse_int("--channels", optarg, 1, 3, &v)) return 2;
            if (v == 2) return cli_error("--channels: 1 or 3"), 2;
            o.channels = (int)v;
            break;
        case 'd':
            dump = optarg;
            break;
        case 'n':
            if (cli_parse_int("--first", optarg, 0, 1 << 30, &first)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("data", "bad option");
        }
    if (optind + 1 != argc) return cli_usage_error("data", "name one dataset");
    zf_dataset *d;
    zf_error err;
    if (zf_dataset_open(&d, argv[optind], &o, &err)) return cli_error("%s", err.msg);
    zf_shape s = zf_dataset_shape(d);
    int n = zf_dataset_count(d), classes = zf_dataset_classes(d), rc = 0;
    printf("%s: %d images of %dx%dx%d, %d classes\n", zf_dataset_description(d), n, s.c, s.h, s.w,
           classes);
    long *per = calloc((size_t)classes + 1, sizeof(long));
    for (int i = 0; per && i < n; i++) per[zf_dataset_label(d, i)]++;
    for (int k = 0; per && k < classes; k++)
        printf("  %3d %-24s %ld\n", k,
               zf_dataset_class_name(d, k) ? zf_dataset_class_name(d, k) : "", per[k]);
    free(per);
    for (int k = 0; k < zf_dataset_num_skipped(d); k++)
        printf("skipped: %s\n", zf_dataset_skipped(d, k));
    if (dump) {
        int m = first >= 0 && first < n ? (int)first : n, bad = 0;
        size_t px = (size_t)s.c * s.h * s.w;
        uint8_t *im = malloc(px * (size_t)(m ? m : 1));
        int64_t *lab = malloc(sizeof(int64_t) * (size_t)(m ? m : 1));
        json_t *items = json_array();
        if (!im || !lab) rc = cli_error("out of memory");
        for (int i = 0, j = 0; !rc && i < m; i++) {
            char name[4200];
            zf_dataset_item_name(d, i, name, sizeof name);
            if (zf_dataset_read(d, i, im + px * j, &err)) { /* reported; left out of the dump */
                printf("unreadable: %s\n", err.msg);
                bad++;
                continue;
            }
            lab[j++] = zf_dataset_label(d, i);
            json_array_append_new(items, json_string(name));
        }
        int kept = m - bad;
        char *names = json_dumps(items, JSON_COMPACT);
        zf_st_writer *w = zf_st_writer_new();
        int64_t ishape[4] = {kept, s.c, s.h, s.w}, lshape[1] = {kept};
        if (!rc &&
            (!w || !names || zf_st_writer_add(w, "images", ZF_DTYPE_U8, 4, ishape, im, &err) ||
             zf_st_writer_add(w, "labels", ZF_DTYPE_I64, 1, lshape, lab, &err) ||
             zf_st_writer_meta(w, "items", names, &err) || zf_st_writer_save(w, dump, &err)))
            rc = cli_error("%s", w ? err.msg : "out of memory");
        if (!rc) printf("%s: %d images written, %d unreadable\n", dump, kept, bad);
        zf_st_writer_free(w);
        free(names), free(im), free(lab);
        json_decref(items);
    }
    zf_dataset_free(d);
    return rc;
}
