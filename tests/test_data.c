/* Dataset readers: IDX files written here (raw and gzipped) read back exactly; malformed
 * files get a message naming the file and the problem; Debian's Fashion-MNIST loads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "zfnet/zfnet.h"

#define DIR_ "data_work"

/* an IDX file of unsigned bytes; gz: write it gzipped */
static void write_idx(const char *path, int rank, const uint32_t *dims, const uint8_t *data,
                      size_t n, int gz, size_t cut) {
    unsigned char head[16] = {0, 0, 0x08, (unsigned char)rank};
    for (int k = 0; k < rank; k++)
        for (int b = 0; b < 4; b++) head[4 + 4 * k + b] = (unsigned char)(dims[k] >> (24 - 8 * b));
    size_t hl = 4 + 4 * (size_t)rank;
    unsigned char buf[4096];
    memcpy(buf, head, hl);
    memcpy(buf + hl, data, n);
    size_t total = hl + n - cut;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, buf, (unsigned)total);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, total, f);
        fclose(f);
    }
}

static uint8_t px[5 * 3 * 4], lab[5] = {0, 3, 1, 3, 2};

static void make_files(void) {
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
    uint32_t di[3] = {5, 3, 4}, dl[1] = {5}, dl4[1] = {4};
    write_idx(DIR_ "/img.idx", 3, di, px, sizeof px, 0, 0);
    write_idx(DIR_ "/img.idx.gz", 3, di, px, sizeof px, 1, 0);
    write_idx(DIR_ "/lab.idx", 1, dl, lab, 5, 0, 0);
    write_idx(DIR_ "/lab.idx.gz", 1, dl, lab, 5, 1, 0);
    write_idx(DIR_ "/lab4.idx", 1, dl4, lab, 4, 0, 0);
    write_idx(DIR_ "/short.idx.gz", 3, di, px, sizeof px, 1, 7);
}

static void test_idx_roundtrip(void **state) {
    (void)state;
    const char *pairs[2][2] = {{DIR_ "/img.idx", DIR_ "/lab.idx"},
                               {DIR_ "/img.idx.gz", DIR_ "/lab.idx.gz"}};
    for (int k = 0; k < 2; k++) {
        zf_dataset *d;
        zf_error err;
        assert_int_equal(zf_dataset_open_idx(&d, pairs[k][0], pairs[k][1], &err), ZF_OK);
        assert_int_equal(zf_dataset_count(d), 5);
        zf_shape s = zf_dataset_shape(d);
        assert_true(s.c == 1 && s.h == 3 && s.w == 4);
        assert_int_equal(zf_dataset_classes(d), 4);
        for (int i = 0; i < 5; i++) {
            int l;
            const uint8_t *im = zf_dataset_image(d, i, &l);
            assert_int_equal(l, lab[i]);
            assert_memory_equal(im, px + 12 * i, 12);
        }
        zf_dataset_free(d);
    }
}

static void expect_error(const char *img, const char *lab_path, const char *want) {
    zf_dataset *d = NULL;
    zf_error err = {0};
    zf_status st = zf_dataset_open_idx(&d, img, lab_path, &err);
    if (st == ZF_OK || !strstr(err.msg, want)) {
        print_error("got '%s', want '%s'\n", st ? err.msg : "(success)", want);
        fail();
    }
    assert_null(d);
}

static void test_idx_errors(void **state) {
    (void)state;
    expect_error(DIR_ "/short.idx.gz", DIR_ "/lab.idx",
                 DIR_ "/short.idx.gz: truncated: 53 of 60 data bytes");
    expect_error(DIR_ "/img.idx", DIR_ "/lab4.idx",
                 DIR_ "/lab4.idx holds 4 labels but " DIR_ "/img.idx holds 5 images");
    expect_error(DIR_ "/lab.idx", DIR_ "/lab.idx",
                 DIR_ "/lab.idx: not an IDX file of unsigned bytes with 3 dimensions");
    expect_error(DIR_ "/none.idx", DIR_ "/lab.idx", DIR_ "/none.idx: cannot open");
    FILE *f = fopen(DIR_ "/text.idx", "w");
    fputs("hello\n", f);
    fclose(f);
    expect_error(
        DIR_ "/text.idx", DIR_ "/lab.idx",
        DIR_
        "/text.idx: not an IDX file of unsigned bytes with 3 dimensions (it starts 68 65 6c 6c)");
}

static void test_fashion_mnist(void **state) {
    (void)state;
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    struct stat sb;
    if (stat(img, &sb)) {
        print_message("Debian's dataset-fashion-mnist is not installed\n");
        skip();
    }
    zf_dataset *d;
    zf_error err;
    assert_int_equal(
        zf_dataset_open_idx(&d, img, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                            &err),
        ZF_OK);
    assert_int_equal(zf_dataset_count(d), 10000);
    assert_int_equal(zf_dataset_classes(d), 10);
    zf_shape s = zf_dataset_shape(d);
    assert_true(s.c == 1 && s.h == 28 && s.w == 28);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        int l;
        zf_dataset_image(d, i, &l);
        counts[l]++;
    }
    for (int k = 0; k < 10; k++) assert_int_equal(counts[k], 1000); /* balanced test set */
    zf_dataset_free(d);
}

int main(void) {
    mkdir(DIR_, 0755);
    make_files();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_roundtrip),
        cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
