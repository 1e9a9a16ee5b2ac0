/* JPEG and PNG: decoded from memory (with and without DCT downscaling), loaded as a training
 * image, and read through the image-folder reader as a file in a class folder. */
#include "fuzz.h"
#include "fuzz_datasets.h"

#include "data/image.h"

#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

static char root[64], file[96];

static int remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void remove_root(void) {
    nftw(root, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    zf_error err;
    zf_image im;
    if (!zf_image_decode(data, size, 0, "fuzz", &im, &err)) zf_image_free(&im);
    if (!zf_image_decode(data, size, 24, "fuzz", &im, &err)) zf_image_free(&im);
    uint8_t px[3 * 32 * 32];
    zf_image_load_mem(data, size, 32, 3, px, "fuzz", &err);
    zf_image_load_mem(data, size, 17, 1, px, "fuzz", &err);
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/zfnet-fuzz-XXXXXX");
        if (!mkdtemp(root)) abort();
        snprintf(file, sizeof file, "%s/a", root);
        mkdir(file, 0700);
        snprintf(file, sizeof file, "%s/a/image", root);
        atexit(remove_root);
    }
    FILE *f = fopen(file, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
    zf_dataset *d;
    zf_dataset_options o;
    zf_dataset_defaults(&o);
    o.size = 32;
    o.channels = 3;
    if (!zf_dataset_open(root, &o, &d, &err)) fuzz_read_all(d);
    return 0;
}
