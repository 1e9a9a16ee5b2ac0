/* safetensors reading/writing and checkpoints: round trips, atomic writes, and a named error
 * for every kind of bad file. Runs in the build's tests folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zfnet/zfnet.h"

#define WORKDIR "st_work"

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_open_error(const char *path, const char *fragment) {
    zf_st_file *f = NULL;
    zf_error err = {0};
    zf_status st = zf_st_open(path, &f, &err);
    if (st == ZF_OK || !strstr(err.msg, fragment) || strncmp(err.msg, path, strlen(path))) {
        print_error("%s: got '%s', want a message starting with the path containing '%s'\n", path,
                    st ? err.msg : "(success)", fragment);
        fail();
    }
    assert_null(f);
}

static int temp_files_left(void) {
    DIR *d = opendir(WORKDIR);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_roundtrip(void **state) {
    (void)state;
    float a[6] = {1, -2, 3.5f, 4, 5, 6};
    int64_t b[3] = {7, -8, 1LL << 40};
    int64_t sa[2] = {2, 3}, sb[1] = {3};
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    zf_error err;
    assert_int_equal(zf_st_writer_add(w, "a", ZF_DTYPE_F32, 2, sa, a, &err), ZF_OK);
    assert_int_equal(zf_st_writer_add(w, "b", ZF_DTYPE_I64, 1, sb, b, &err), ZF_OK);
    assert_int_equal(zf_st_writer_add(w, "empty", ZF_DTYPE_F32, 1, (int64_t[]){0}, a, &err), ZF_OK);
    assert_int_equal(zf_st_writer_add(w, "a", ZF_DTYPE_F32, 2, sa, a, &err), ZF_ERR_ARG);
    assert_int_equal(zf_st_writer_meta(w, "note", "hello", &err), ZF_OK);
    assert_int_equal(zf_st_writer_save(w, WORKDIR "/rt.safetensors", &err), ZF_OK);
    uint8_t *bytes;
    size_t nbytes; /* the same file in memory, byte for byte */
    assert_int_equal(zf_st_writer_bytes(w, &bytes, &nbytes, &err), ZF_OK);
    zf_st_writer_free(w);
    assert_int_equal(temp_files_left(), 0);
    FILE *saved = fopen(WORKDIR "/rt.safetensors", "rb");
    assert_non_null(saved);
    uint8_t *disk = malloc(nbytes + 1);
    assert_int_equal(fread(disk, 1, nbytes + 1, saved), nbytes);
    fclose(saved);
    assert_memory_equal(disk, bytes, nbytes);
    free(disk), zf_free(bytes);

    zf_st_file *f;
    assert_int_equal(zf_st_open(WORKDIR "/rt.safetensors", &f, &err), ZF_OK);
    assert_int_equal(zf_st_count(f), 3);
    const zf_st_tensor *t = zf_st_find(f, "a");
    assert_non_null(t);
    assert_true(t->dtype == ZF_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    assert_memory_equal(t->data, a, sizeof a);
    t = zf_st_find(f, "b");
    assert_memory_equal(t->data, b, sizeof b);
    assert_string_equal(zf_st_meta(f, "note"), "hello");
    zf_st_free(f);
    /* the header is padded to 8 bytes, so the data starts aligned */
    FILE *fp = fopen(WORKDIR "/rt.safetensors", "rb");
    uint64_t hlen;
    assert_int_equal(fread(&hlen, 8, 1, fp), 1);
    fclose(fp);
    assert_int_equal(hlen % 8, 0);
}

static void test_bad_files(void **state) {
    (void)state;
    write_bytes(WORKDIR "/text.safetensors", "hello, this is not a tensor file at all", 39);
    expect_open_error(WORKDIR "/text.safetensors", "not a safetensors file");
    write_bytes(WORKDIR "/tiny.safetensors", "abc", 3);
    expect_open_error(WORKDIR "/tiny.safetensors", "not a safetensors file: only 3 bytes");
    expect_open_error(WORKDIR "/missing.safetensors", "cannot open");
    write_bytes(WORKDIR "/eight.safetensors", "\x10\0\0\0\0\0\0\0", 8);
    expect_open_error(WORKDIR "/eight.safetensors", "not a safetensors file: only 8 bytes");

    /* a header length beyond the end of the file */
    unsigned char big[16] = {0xff, 0x00, 0x00, 0x00, 0, 0, 0, 0, '{', '}'};
    write_bytes(WORKDIR "/hlen.safetensors", big, 10);
    expect_open_error(WORKDIR "/hlen.safetensors", "truncated");

    /* truncate a good file in the middle of its data */
    float v[64] = {0};
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    zf_st_writer_add(w, "v", ZF_DTYPE_F32, 1, (int64_t[]){64}, v, NULL);
    zf_st_writer_save(w, WORKDIR "/trunc.safetensors", NULL);
    zf_st_writer_free(w);
    struct stat sb;
    stat(WORKDIR "/trunc.safetensors", &sb);
    assert_int_equal(truncate(WORKDIR "/trunc.safetensors", sb.st_size - 100), 0);
    expect_open_error(WORKDIR "/trunc.safetensors",
                      "truncated: tensor 'v' ends at byte 256 of the data but the file holds only "
                      "156");

    /* hand-made headers */
    struct {
        const char *json, *want;
    } cases[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
         "'x': 4 bytes of data but its shape and dtype F32 need 8"},
        {"{\"x\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         "'x': unsupported dtype 'Q7'"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         "overlaps the previous one"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         "bad JSON header"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "bad shape entry 0"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", "needs dtype, shape and data_offsets"},
        {"[1,2,3]", "not a safetensors file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char buf[512] = {0};
        size_t n = strlen(cases[i].json);
        buf[0] = (unsigned char)n;
        memcpy(buf + 8, cases[i].json, n);
        write_bytes(WORKDIR "/hand.safetensors", buf, 8 + n + 8);
        expect_open_error(WORKDIR "/hand.safetensors", cases[i].want);
    }
}

static zf_net *mini(int channels) {
    zf_model *m;
    zf_net *net;
    zf_model_overrides ov = {
        .channels = channels, .height = channels == 3 ? 32 : 0, .width = channels == 3 ? 32 : 0};
    assert_int_equal(zf_model_load("zfnet-mini", &ov, &m, NULL), ZF_OK);
    assert_int_equal(zf_net_create(m, NULL, &net, NULL), ZF_OK);
    zf_model_free(m);
    return net;
}

static void test_checkpoints(void **state) {
    (void)state;
    zf_error err;
    zf_net *a = mini(1), *b = mini(1), *rgb = mini(3);
    zf_init_options io;
    zf_init_defaults(&io);
    io.scheme = ZF_INIT_GAUSSIAN;
    io.std = 0.01;
    io.seed = 5;
    zf_net_init_params(a, &io);
    const char *extra[] = {"epoch", "3", NULL};
    zf_checkpoint_data cd = {.meta = extra};
    assert_int_equal(zf_checkpoint_write(a, WORKDIR "/ck.safetensors", &cd, &err), ZF_OK);
    assert_int_equal(zf_checkpoint_load(b, WORKDIR "/ck.safetensors", &err), ZF_OK);
    assert_memory_equal(zf_net_params(a), zf_net_params(b), sizeof(float) * zf_net_num_params(a));
    zf_st_file *f;
    assert_int_equal(zf_st_open(WORKDIR "/ck.safetensors", &f, &err), ZF_OK);
    assert_string_equal(zf_st_meta(f, "epoch"), "3");
    assert_string_equal(zf_st_meta(f, "format"), "zfnet-checkpoint-1");
    assert_non_null(strstr(zf_st_meta(f, "model"), "[conv]\nname=conv1\nfilters=32\n"));
    zf_st_free(f);

    /* same names, other shapes: every mismatch named */
    assert_int_equal(zf_checkpoint_load(rgb, WORKDIR "/ck.safetensors", &err), ZF_ERR_SHAPE);
    assert_string_equal(err.msg, WORKDIR
                        "/ck.safetensors: 2 mismatches with model 'zfnet-mini' (the file was "
                        "written for 'zfnet-mini'): 'conv1.weight' has shape [32,1,5,5], the "
                        "model needs [32,3,5,5]; 'fc6.weight' has shape [256,576], the model "
                        "needs [256,1024]");

    /* a missing tensor, a wrong dtype and a stranger */
    zf_st_writer *w = NULL;
    zf_st_writer_create(&w, NULL);
    for (int i = 0; i < zf_net_num_param_tensors(a); i++) {
        zf_param_info p;
        zf_net_param_info(a, i, &p);
        if (!strcmp(p.name, "fc8.bias")) continue;
        zf_dtype dt = strcmp(p.name, "conv2.bias") ? ZF_DTYPE_F32 : ZF_DTYPE_I32;
        zf_st_writer_add(w, p.name, dt, p.ndim, p.shape, zf_net_params(a) + p.offset, NULL);
    }
    zf_st_writer_add(w, "fc9.weight", ZF_DTYPE_F32, 1, (int64_t[]){2}, zf_net_params(a), NULL);
    assert_int_equal(zf_st_writer_save(w, WORKDIR "/odd.safetensors", &err), ZF_OK);
    zf_st_writer_free(w);
    assert_int_equal(zf_checkpoint_load(b, WORKDIR "/odd.safetensors", &err), ZF_ERR_SHAPE);
    assert_string_equal(err.msg, WORKDIR "/odd.safetensors: 3 mismatches with model 'zfnet-mini': "
                                         "'conv2.bias' is I32, not F32; missing 'fc8.bias' [10]; "
                                         "unexpected tensor 'fc9.weight'");
    /* a failed load leaves the parameters as they were */
    assert_memory_equal(zf_net_params(a), zf_net_params(b), sizeof(float) * zf_net_num_params(a));

    /* atomic: a write that cannot complete leaves the target untouched and no temp file */
    mkdir(WORKDIR "/adir", 0755);
    assert_int_equal(zf_checkpoint_write(a, WORKDIR "/adir", NULL, &err), ZF_ERR_IO);
    assert_non_null(strstr(err.msg, WORKDIR "/adir: write failed"));
    assert_int_equal(zf_checkpoint_write(a, WORKDIR "/nodir/x.safetensors", NULL, &err), ZF_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot create"));
    assert_int_equal(temp_files_left(), 0);
    zf_net_free(a), zf_net_free(b), zf_net_free(rgb);
}

int main(void) {
    mkdir(WORKDIR, 0755);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
