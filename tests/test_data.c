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
        assert_int_equal(zf_dataset_open_idx(pairs[k][0], pairs[k][1], &d, &err), ZF_OK);
        assert_int_equal(zf_dataset_count(d), 5);
        zf_shape s = zf_dataset_shape(d);
        assert_true(s.c == 1 && s.h == 3 && s.w == 4);
        assert_int_equal(zf_dataset_classes(d), 4);
        for (int i = 0; i < 5; i++) {
            uint8_t im[12];
            assert_int_equal(zf_dataset_read(d, i, im, &err), ZF_OK);
            assert_int_equal(zf_dataset_label(d, i), lab[i]);
            assert_memory_equal(im, px + 12 * i, 12);
        }
        zf_dataset_free(d);
    }
}

static void expect_error(const char *img, const char *lab_path, const char *want) {
    zf_dataset *d = NULL;
    zf_error err = {0};
    zf_status st = zf_dataset_open_idx(img, lab_path, &d, &err);
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
        zf_dataset_open_idx(img, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", &d,
                            &err),
        ZF_OK);
    assert_int_equal(zf_dataset_count(d), 10000);
    assert_int_equal(zf_dataset_classes(d), 10);
    zf_shape s = zf_dataset_shape(d);
    assert_true(s.c == 1 && s.h == 28 && s.w == 28);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) counts[zf_dataset_label(d, i)]++;
    for (int k = 0; k < 10; k++) assert_int_equal(counts[k], 1000); /* balanced test set */
    zf_dataset_free(d);
}

/* The loader's views against hand values: 5 images of 3x4, pixel values from px. */
static zf_dataset *small(void) {
    zf_dataset *d;
    zf_error err;
    assert_int_equal(zf_dataset_open_idx(DIR_ "/img.idx", DIR_ "/lab.idx", &d, &err), ZF_OK);
    return d;
}

static void test_loader_views(void **state) {
    (void)state;
    zf_dataset *d = small();
    float mean[12];
    zf_error err;
    assert_int_equal(zf_dataset_mean(d, 0, 2, mean, &err), ZF_OK);
    for (int k = 0; k < 12; k++) {
        double m = 0;
        for (int i = 0; i < 5; i++) m += px[12 * i + k];
        assert_float_equal(mean[k], m / 5, 1e-5);
    }
    /* centre: the whole image, (px - mean) * scale, in order */
    zf_loader_options o;
    zf_loader_defaults(&o);
    o.batch = 2;
    o.height = 3;
    o.width = 4;
    o.scale = 0.5f;
    o.mean = mean;
    zf_loader *l;
    assert_int_equal(zf_loader_create(d, &o, &l, &err), ZF_OK);
    assert_int_equal(zf_loader_batches(l), 3);
    zf_loader_start(l, 1, 0);
    const float *x;
    const int64_t *labels;
    int n, seen = 0;
    while (!zf_loader_next(l, &x, &labels, &n, &err) && n) {
        for (int i = 0; i < n; i++, seen++) {
            assert_int_equal(labels[i], lab[seen]);
            for (int k = 0; k < 12; k++)
                assert_float_equal(x[12 * i + k], (px[12 * seen + k] - mean[k]) * 0.5f, 1e-6);
        }
    }
    assert_int_equal(seen, 5);
    zf_loader_free(l);
    /* ten crops of 2x3 from the image padded by 1 (5x6): corners, centre, mirrored */
    zf_loader_defaults(&o);
    o.batch = 5, o.height = 2, o.width = 3, o.pad = 1, o.crop = ZF_CROP_TEN, o.scale = 1;
    assert_int_equal(zf_loader_create(d, &o, &l, &err), ZF_OK);
    zf_loader_start(l, 0, 0);
    assert_int_equal(zf_loader_next(l, &x, &labels, &n, &err), ZF_OK);
    assert_int_equal(n, 5);
    const int at[5][2] = {{0, 0}, {0, 3}, {3, 0}, {3, 3}, {1, 1}};
    for (int i = 0; i < 5; i++)
        for (int v = 0; v < 10; v++)
            for (int y = 0; y < 2; y++)
                for (int c = 0; c < 3; c++) {
                    int sy = at[v % 5][0] + y - 1, sx = at[v % 5][1] + (v >= 5 ? 2 - c : c) - 1;
                    float want =
                        sy < 0 || sy >= 3 || sx < 0 || sx >= 4 ? 0 : px[12 * i + 4 * sy + sx];
                    assert_float_equal(x[(10 * i + v) * 6 + 3 * y + c], want, 0);
                }
    zf_loader_free(l);
    zf_dataset_free(d);
}

/* Random crops and shuffling depend on (seed, epoch, position) only: any thread count, and a
 * start in the middle of an epoch, give the same batches. */
static void test_loader_determinism(void **state) {
    (void)state;
    zf_dataset *d = small();
    zf_error err;
    float out[2][3][2 * 12];
    int64_t labs[2][3][2];
    for (int run = 0; run < 2; run++) {
        zf_loader_options o;
        zf_loader_defaults(&o);
        o.batch = 2;
        o.height = 3;
        o.width = 4;
        o.pad = 2;
        o.crop = ZF_CROP_RANDOM;
        o.flip = 1;
        o.shuffle = 1;
        o.scale = 1;
        o.seed = 7;
        o.threads = run ? 3 : 1;
        zf_loader *l;
        assert_int_equal(zf_loader_create(d, &o, &l, &err), ZF_OK);
        zf_loader_start(l, 4, run); /* the second run starts at batch 1 */
        const float *x;
        const int64_t *labels;
        int n;
        for (int b = run; b < 3; b++) {
            assert_int_equal(zf_loader_next(l, &x, &labels, &n, &err), ZF_OK);
            assert_int_equal(n, b < 2 ? 2 : 1);
            memcpy(out[run][b], x, sizeof(float) * 12 * n);
            memcpy(labs[run][b], labels, sizeof(int64_t) * n);
        }
        assert_int_equal(zf_loader_next(l, &x, &labels, &n, &err), ZF_OK);
        assert_int_equal(n, 0);
        zf_loader_free(l);
    }
    for (int b = 1; b < 3; b++) {
        int n = b < 2 ? 2 : 1;
        assert_memory_equal(out[0][b], out[1][b], sizeof(float) * 12 * n);
        assert_memory_equal(labs[0][b], labs[1][b], sizeof(int64_t) * n);
    }
    zf_dataset_free(d);
}

static void test_loader_errors(void **state) {
    (void)state;
    zf_dataset *d = small();
    zf_error err = {0};
    zf_loader *l = NULL;
    zf_loader_options o;
    zf_loader_defaults(&o);
    o.batch = 2;
    o.height = 8;
    o.width = 8;
    assert_int_equal(zf_loader_create(d, &o, &l, &err), ZF_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "smaller than the net's input (8x8)"));
    assert_null(l);
    zf_dataset_free(d);
}

int main(void) {
    mkdir(DIR_, 0755);
    make_files();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_roundtrip),      cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_fashion_mnist),      cmocka_unit_test(test_loader_views),
        cmocka_unit_test(test_loader_determinism), cmocka_unit_test(test_loader_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
