/* zfnet pack: an image folder into one shard file for fast, mmap'd training reads. */
#include "run.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: zfnet pack FOLDER -o OUT.zfs [--size S] [--channels 1|3] [--quality Q] [--lossless]\n"
    "                  [--threads T] [--stop-on-bad]\n\n"
    "Packs FOLDER/<class>/<JPEG or PNG files> into one shard: every image decoded (the format\n"
    "read from its bytes, not its name), its short side resized to S (256), re-encoded as JPEG\n"
    "at quality Q (90) or PNG (--lossless), with an index of offsets, sizes and labels and the\n"
    "class and file names. Files that are not readable images are reported by name and left\n"
    "out (--stop-on-bad: the first one stops the pack). Train on it with --train OUT.zfs.\n";

static void on_bad(void *ctx, const char *msg) {
    (*(int *)ctx)++;
    fprintf(stderr, "%szfnet: skipped: %s\n", isatty(2) ? "\r\033[K" : "", msg);
}

static progress pg;
static void on_progress(void *ctx, int done, int total) {
    (void)ctx;
    progress_show(&pg, "packing", done, total, NULL);
}

int cmd_pack(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"size", required_argument, 0, 'S'},
                                         {"channels", required_argument, 0, 'c'},
                                         {"quality", required_argument, 0, 'q'},
                                         {"lossless", no_argument, 0, 'L'},
                                         {"threads", required_argument, 0, 't'},
                                         {"stop-on-bad", no_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int bad = 0, packed = 0;
    zf_pack_options o = {.on_bad = on_bad, .progress = on_progress, .ctx = &bad, .packed = &packed};
    const char *out = NULL;
    long v;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 'S':
            if (cli_parse_int("--size", optarg, 8, 8192, &v)) return 2;
            o.size = (int)v;
            break;
        case 'c':
            if (cli_parse_int("--channels", optarg, 1, 3, &v) || v == 2)
                return v == 2 ? (cli_error("--channels: 1 or 3"), 2) : 2;
            o.channels = (int)v;
            break;
        case 'q':
            if (cli_parse_int("--quality", optarg, 1, 100, &v)) return 2;
            o.quality = (int)v;
            break;
        case 'L':
            o.lossless = 1;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &v)) return 2;
            o.threads = (int)v;
            break;
        case 'B':
            o.stop_on_bad = 1;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("pack", "bad option");
        }
    if (optind + 1 != argc) return cli_usage_error("pack", "name one image folder");
    if (!out) return cli_usage_error("pack", "-o OUT is required");
    zf_error err;
    progress_start(&pg);
    double t0 = now_s();
    zf_status st = zf_pack(argv[optind], out, &o, &err);
    progress_end(&pg);
    if (st) return cli_error("%s", err.msg);
    printf("%s: %d images packed, %d skipped, %.1f s\n", out, packed, bad, now_s() - t0);
    return 0;
}
