/* zfnet data: what a dataset holds (counts, classes, files left out), and its decoded images
 * dumped to safetensors for inspection or for checking against another reader. */
#include "run.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: zfnet data SPEC [--size S] [--channels 1|3] [--dump OUT.safetensors] [--first N]\n"
    "                  [--speed [--crop N] [--threads T] [--batch B]]\n\n"
    "Describes a dataset (SPEC as in 'zfnet train --help'): image count and shape, classes and\n"
    "their names, images per class, files left out and why. --dump decodes images (the first\n"
    "N, default all) exactly as training reads them and writes 'images' (U8, N x C x H x W),\n"
    "'labels' (I64) and the item names (metadata 'items'). --speed times the training loader\n"
    "over the whole set (decoding, random N x N crops (default: 224, or the image size if\n"
    "smaller), mirroring, mean subtraction) with T threads (2) and prints images/s.\n";

static int loader_speed(const zf_dataset *d, int crop, int threads, int batch) {
    zf_shape s = zf_dataset_shape(d);
    if (!crop) crop = s.h < 224 ? s.h : 224;
    zf_loader_options lo = {.batch = batch,
                            .height = crop,
                            .width = crop,
                            .crop = ZF_CROP_RANDOM,
                            .flip = 1,
                            .shuffle = 1,
                            .scale = 1.0f / 255,
                            .threads = threads};
    zf_loader *l;
    zf_error err;
    if (zf_loader_create(&l, d, &lo, &err)) return cli_error("%s", err.msg);
    double t0 = now_s();
    zf_loader_start(l, 1, 0);
    const float *x;
    const int64_t *labels;
    int n, total = 0, rc = 0;
    progress pg;
    progress_start(&pg);
    while (!(rc = zf_loader_next(l, &x, &labels, &n, &err) ? cli_error("%s", err.msg) : 0) && n) {
        total += n;
        progress_show(&pg, "reading", total, zf_dataset_count(d), NULL);
    }
    progress_end(&pg);
    double el = now_s() - t0;
    if (!rc)
        printf("loader: %d images (%dx%d crops) in %.2f s with %d thread%s: %.1f images/s\n", total,
               crop, crop, el, threads, threads > 1 ? "s" : "", total / el);
    zf_loader_free(l);
    return rc;
}

int cmd_data(int argc, char **argv) {
    static const struct option opts[] = {
        {"size", required_argument, 0, 'S'},    {"channels", required_argument, 0, 'c'},
        {"dump", required_argument, 0, 'd'},    {"first", required_argument, 0, 'n'},
        {"speed", no_argument, 0, 'V'},         {"crop", required_argument, 0, 'C'},
        {"threads", required_argument, 0, 't'}, {"batch", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    zf_dataset_options o = {0};
    const char *dump = NULL;
    long v, first = -1, crop = 0, threads = 2, batch = 128;
    int speed = 0;
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
        case 'V':
            speed = 1;
            break;
        case 'C':
            if (cli_parse_int("--crop", optarg, 1, 8192, &crop)) return 2;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 256, &threads)) return 2;
            break;
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 4096, &batch)) return 2;
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
    if (!rc && speed) rc = loader_speed(d, (int)crop, (int)threads, (int)batch);
    zf_dataset_free(d);
    return rc;
}
