/* zfnet data: what a dataset holds (counts, classes, files left out), and its decoded images
 * dumped to safetensors for inspection or for checking against another reader; the loader's
 * speed. zfnet pack: an image folder into one shard file (zf_pack). */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const cli_command data_cmd = {
    "data",
    "SPEC [--size S] [--channels 1|3] [--dump OUT.safetensors] [--first N]\n"
    "                  [--speed [--crop N] [--threads T] [--batch B]]",
    "Describes a dataset (SPEC as in 'zfnet train --help'): image count and shape, classes and\n"
    "their names, images per class, files left out and why. --dump decodes images (the first\n"
    "N, default all) exactly as training reads them and writes 'images' (U8, N x C x H x W),\n"
    "'labels' (I64) and the item names (metadata 'items'). --speed times the training loader\n"
    "over the whole set (decoding, random N x N crops (default: 224, or the image size if\n"
    "smaller), mirroring, mean subtraction) with T threads (2) and prints images/s.\n",
    1,
    1,
    "name one dataset"};

static int loader_speed(const zf_dataset *d, int crop, int threads, int batch) {
    zf_shape s = zf_dataset_shape(d);
    if (!crop) crop = s.h < 224 ? s.h : 224;
    zf_loader_options lo;
    zf_loader_defaults(&lo);
    lo.batch = batch;
    lo.height = crop;
    lo.width = crop;
    lo.crop = ZF_CROP_RANDOM;
    lo.flip = 1;
    lo.shuffle = 1;
    lo.scale = 1.0f / 255;
    lo.threads = threads;
    zf_loader *l;
    zf_error err;
    if (zf_loader_create(d, &lo, &l, &err)) return cli_error("%s", err.msg);
    double t0 = cli_now();
    zf_loader_start(l, 1, 0);
    const float *x;
    const int64_t *labels;
    int n, total = 0, rc = 0;
    zf_callbacks cb = cli_callbacks(NULL);
    while (!(rc = zf_loader_next(l, &x, &labels, &n, &err) ? cli_error("%s", err.msg) : 0) && n) {
        total += n;
        cb.progress(cb.ctx, "reading", total, zf_dataset_count(d), NULL);
    }
    cb.progress(cb.ctx, NULL, 0, 0, NULL);
    double el = cli_now() - t0;
    if (!rc)
        printf("loader: %d images (%dx%d crops) in %.2f s with %d thread%s: %.1f images/s\n", total,
               crop, crop, el, threads, threads > 1 ? "s" : "", total / el);
    zf_loader_free(l);
    return rc;
}

/* the decoded images, labels and item names as safetensors */
static int dump(const zf_dataset *d, int first, const char *path) {
    zf_shape s = zf_dataset_shape(d);
    int n = zf_dataset_count(d), m = first >= 0 && first < n ? first : n, bad = 0, rc = 0;
    size_t px = (size_t)s.c * s.h * s.w;
    uint8_t *im = malloc(px * (size_t)(m ? m : 1));
    int64_t *lab = malloc(sizeof(int64_t) * (size_t)(m ? m : 1));
    json_t *items = json_array();
    zf_error err;
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
    if (!rc && m && !kept)
        rc = cli_error("none of the %d images could be read; nothing written", m);
    char *names = json_dumps(items, JSON_COMPACT);
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    int64_t ishape[4] = {kept, s.c, s.h, s.w}, lshape[1] = {kept};
    if (!rc && (!w || !names || zf_st_writer_add(w, "images", ZF_DTYPE_U8, 4, ishape, im, &err) ||
                zf_st_writer_add(w, "labels", ZF_DTYPE_I64, 1, lshape, lab, &err) ||
                zf_st_writer_meta(w, "items", names, &err) || zf_st_writer_save(w, path, &err)))
        rc = cli_error("%s", w ? err.msg : "out of memory");
    if (!rc) printf("%s: %d images written, %d unreadable\n", path, kept, bad);
    zf_st_writer_free(w);
    free(names), free(im), free(lab);
    json_decref(items);
    return rc;
}

static void describe(const zf_dataset *d) {
    zf_shape s = zf_dataset_shape(d);
    int n = zf_dataset_count(d), classes = zf_dataset_classes(d);
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
}

static int parse_channels(const char *opt, const char *arg, void *target) {
    long v;
    if (cli_parse_int_value(opt, arg, 1, 3, &v)) return 2;
    if (v == 2) return cli_error("%s: 1 or 3", opt), 2;
    *(int *)target = (int)v;
    return 0;
}

int cmd_data(int argc, char **argv) {
    zf_dataset_options o;
    zf_dataset_defaults(&o);
    const char *dump_path = NULL;
    int first = -1, crop = 0, threads = 2, batch = 128, speed = 0;
    const cli_opt own[] = {
        {"size", CLI_INT, &o.size, "S", "folders and shards: short side (256)", 8, 8192},
        {"channels", CLI_CALL, &o.channels, "C", "folders and shards: 1 or 3 (3)",
         .parse = parse_channels},
        {"dump", CLI_STR, &dump_path, "OUT", "decode the images into OUT (safetensors)"},
        {"first", CLI_INT, &first, "N", "dump only the first N images", 0, 1 << 30},
        {"speed", CLI_FLAG, &speed, NULL, "time the training loader over the set"},
        {"crop", CLI_INT, &crop, "N", "--speed: N x N crops (224 or the image size)", 1, 8192},
        {"threads", CLI_INT, &threads, "T", "--speed: decoding threads (2)", 1, 256},
        {"batch", CLI_INT, &batch, "B", "--speed: images per batch (128)", 1, 4096},
        {0}};
    int npos, rc = cli_parse(&data_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    zf_dataset *d;
    zf_error err;
    if (zf_dataset_open(argv[1], &o, &d, &err)) return cli_error("%s", err.msg);
    describe(d);
    rc = dump_path ? dump(d, first, dump_path) : 0;
    if (!rc && speed) rc = loader_speed(d, crop, threads, batch);
    zf_dataset_free(d);
    return rc;
}

static const cli_command pack_cmd = {
    "pack",
    "FOLDER -o OUT.zfs [--size S] [--channels 1|3] [--quality Q] [--lossless]\n"
    "                  [--threads T] [--stop-on-bad]",
    "Packs FOLDER/<class>/<JPEG or PNG files> into one shard: every image decoded (the format\n"
    "read from its bytes, not its name), its short side resized to S (256), re-encoded as JPEG\n"
    "at quality Q (90) or PNG (--lossless), with an index of offsets, sizes and labels and the\n"
    "class and file names. Files that are not readable images are reported by name and left\n"
    "out (--stop-on-bad: the first one stops the pack). Train on it with --train OUT.zfs.\n",
    1,
    1,
    "name one image folder"};

static void on_bad(void *ctx, const char *msg) {
    (*(int *)ctx)++;
    zf_callbacks cb = cli_callbacks(NULL);
    cb.notice(cb.ctx, ZF_NOTICE_SKIPPED, msg);
}

static void on_progress(void *ctx, int done, int total) {
    (void)ctx;
    zf_callbacks cb = cli_callbacks(NULL);
    cb.progress(cb.ctx, "packing", done, total, NULL);
}

int cmd_pack(int argc, char **argv) {
    int bad = 0, packed = 0;
    zf_pack_options o;
    zf_pack_defaults(&o);
    o.on_bad = on_bad;
    o.progress = on_progress;
    o.ctx = &bad;
    o.packed = &packed;
    const char *out = NULL;
    const cli_opt own[] = {
        {"output", CLI_STR, &out, "OUT", "the shard to write", .alias = 'o', .required = 1},
        {"size", CLI_INT, &o.size, "S", "short side (256)", 8, 8192},
        {"channels", CLI_CALL, &o.channels, "C", "1 or 3 (3)", .parse = parse_channels},
        {"quality", CLI_INT, &o.quality, "Q", "JPEG quality (90)", 1, 100},
        {"lossless", CLI_FLAG, &o.lossless, NULL, "PNG instead of JPEG"},
        {"threads", CLI_INT, &o.threads, "T", "encoding threads (2)", 1, 1024},
        {"stop-on-bad", CLI_FLAG, &o.stop_on_bad, NULL, "the first unreadable file stops the pack"},
        {0}};
    int npos, rc = cli_parse(&pack_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    zf_error err;
    double t0 = cli_now();
    zf_status st = zf_pack(argv[1], out, &o, &err);
    zf_callbacks cb = cli_callbacks(NULL);
    cb.progress(cb.ctx, NULL, 0, 0, NULL);
    if (st) return cli_error("%s", err.msg);
    printf("%s: %d images packed, %d skipped, %.1f s\n", out, packed, bad, cli_now() - t0);
    return 0;
}
