/* zfnet bench: images/s, ms per batch, GFLOP/s, peak memory and a per-layer time table for a
 * model's inference or training step, on random data. */
#include "cli.h"

#include <immintrin.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#else
static void omp_set_num_threads(int n) {
    (void)n;
}
static int omp_get_max_threads(void) {
    return 1;
}
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const cli_command bench_cmd = {
    "bench",
    "--model M [--batch N] [--threads T] [--precision P] [--mode infer|train] [--iters K]\n"
    "                   [--warmup W] [--backend dnnl|ref] [--json] [--classes N]\n"
    "                   [--input-size CxHxW]\n"
    "       zfnet bench --peak [--threads T] [--json]",
    "Times the model on random data. infer: a forward pass; train: a forward pass in training\n"
    "mode, the backward pass from the loss, and an SGD momentum update. Prints the median\n"
    "images/s and ms per batch over K timed iterations (after W untimed ones), GFLOP/s counted\n"
    "from the model's multiply-adds (2 FLOP each; a training step counts 3x the forward), the\n"
    "peak resident memory, and the mean time per layer.\n"};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the hardware's limit: an FMA loop and a large dnnl_sgemm, same threads ------------ */

/* acc[k] = acc[k] * b + c on `chains` independent vectors: enough chains hide the FMA latency
 * on both FMA ports */
#define FMA_CHAINS(set1, fmadd, chains, unroll)                                                    \
    for (int k = 0; k < chains; k++) acc[k] = set1((float)k);                                      \
    for (long i = 0; i < iters; i++) {                                                             \
        _Pragma(unroll) for (int k = 0; k < chains; k++) acc[k] =                                  \
            fmadd(acc[k], set1(0.999999f), set1(1e-6f));                                           \
    }

__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
    __m512 acc[16];
    FMA_CHAINS(_mm512_set1_ps, _mm512_fmadd_ps, 16, "GCC unroll 16")
    for (int k = 1; k < 16; k++) acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
    __m256 acc[12];
    FMA_CHAINS(_mm256_set1_ps, _mm256_fmadd_ps, 12, "GCC unroll 12")
    float out[8], s = 0;
    for (int k = 1; k < 12; k++) acc[0] = _mm256_add_ps(acc[0], acc[k]);
    _mm256_storeu_ps(out, acc[0]);
    for (int k = 0; k < 8; k++) s += out[k];
    return s;
}

/* GFLOP/s of the FMA loop on every thread at once */
static double fma_peak(int threads, const char **isa) {
    int avx512 = __builtin_cpu_supports("avx512f");
    *isa = avx512 ? "AVX-512" : "AVX2";
    long iters = 20000000;
    double flop_per_iter = avx512 ? 16 * 16 * 2 : 12 * 8 * 2, t0 = cli_now();
    volatile float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
    (void)sink;
    return flop_per_iter * (double)iters * threads / (cli_now() - t0) / 1e9;
}

static double sgemm_peak(int threads) {
    const int n = 4096;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = c[i] = 1e-3f;
    omp_set_num_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = cli_now();
        dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = cli_now() - t0;
        if (t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

/* bfloat16: VDPBF16PS adds two products of bf16 pairs into each float lane (64 FLOP per
 * instruction on 512 bits); 16 chains as above */
__attribute__((target("avx512f,avx512bf16"))) static float dpbf16_loop(long iters) {
    __m512 acc[16];
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
    for (int k = 0; k < 16; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
    }
    for (int k = 1; k < 16; k++) acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

static double dpbf16_peak(int threads) {
    long iters = 10000000;
    double t0 = cli_now();
    volatile float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += dpbf16_loop(iters);
    (void)sink;
    return 16.0 * 64 * (double)iters * threads / (cli_now() - t0) / 1e9;
}

/* oneDNN's bf16 matmul (bf16 inputs, float32 sums and output), n^3, best of 3 */
static double bf16_matmul_peak(int threads) {
    const int n = 2048;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) return 0;
    dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t d = {n, n};
    dnnl_memory_desc_init_by_tag(&a, 2, d, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, d, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c, 2, d, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
    double best = 0;
    if (dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) == dnnl_success &&
        dnnl_primitive_create(&p, pd) == dnnl_success &&
        dnnl_memory_create(&ma, &a, eng, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
        dnnl_memory_create(&mb, &b, eng, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
        dnnl_memory_create(&mc, &c, eng, DNNL_MEMORY_ALLOCATE) == dnnl_success) {
        void *pa, *pb;
        dnnl_memory_get_data_handle(ma, &pa), dnnl_memory_get_data_handle(mb, &pb);
        for (size_t i = 0; i < (size_t)n * n; i++) /* 1e-3 as bf16 */
            ((uint16_t *)pa)[i] = ((uint16_t *)pb)[i] = 0x3a83;
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        omp_set_num_threads(threads);
        double t = 1e30;
        for (int r = 0; r < 4; r++) { /* the first creates the kernel's state */
            double t0 = cli_now();
            dnnl_primitive_execute(p, stream, 3, args);
            dnnl_stream_wait(stream);
            if (r && cli_now() - t0 < t) t = cli_now() - t0;
        }
        best = 2.0 * n * n * (double)n / t / 1e9;
    }
    dnnl_memory_destroy(ma), dnnl_memory_destroy(mb), dnnl_memory_destroy(mc);
    if (p) dnnl_primitive_destroy(p);
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
    return best;
}

static int peak(int threads, int json) {
    if (threads <= 0) threads = omp_get_max_threads();
    const char *isa;
    double f = fma_peak(threads, &isa), g = sgemm_peak(threads);
    char why[200];
    int bf = zf_cpu_has_bf16(why, sizeof why);
    double dp = bf ? dpbf16_peak(threads) : 0, mm = bf ? bf16_matmul_peak(threads) : 0;
    if (json) {
        printf("{\"threads\": %d, \"isa\": \"%s\", \"fma_gflops\": %.1f, "
               "\"sgemm_gflops\": %.1f, ",
               threads, isa, f, g);
        if (bf)
            printf("\"bf16_dp_gflops\": %.1f, \"bf16_matmul_gflops\": %.1f}\n", dp, mm);
        else
            printf("\"bf16_dp_gflops\": null, \"bf16_matmul_gflops\": null}\n");
        return 0;
    }
    printf("peak FP32 on %d threads: %s FMA loop %.1f GFLOP/s, dnnl_sgemm 4096^3 %.1f "
           "GFLOP/s\n",
           threads, isa, f, g);
    if (bf)
        printf("peak BF16 on %d threads: VDPBF16PS loop %.1f GFLOP/s, oneDNN bf16 matmul 2048^3 "
               "%.1f GFLOP/s\n",
               threads, dp, mm);
    else
        printf("peak BF16: not measured: %s\n", why);
    return 0;
}

typedef struct bench_args {
    const char *model;
    int batch, threads, train, iters, warmup, json, peak;
    zf_model_overrides ov;
    zf_backend_kind backend;
} bench_args;

static int parse_mode(const char *opt, const char *arg, void *target) {
    if (!strcmp(arg, "train") || !strcmp(arg, "infer")) {
        *(int *)target = !strcmp(arg, "train");
        return 0;
    }
    cli_error("%s: '%s' is not infer or train", opt, arg);
    return 2;
}

/* Random inputs and labels, He weights; the net reserved and its input set. */
static int prepare(zf_net *net, const bench_args *a) {
    int n = a->batch, classes = zf_net_classes(net);
    zf_shape is = zf_net_input_shape(net);
    size_t nin = (size_t)n * is.c * is.h * is.w;
    zf_error err;
    zf_net_set_input_grad(net, 0);
    zf_net_set_inplace_relu(net, a->train);
    if (zf_net_reserve(net, n, &err)) return cli_error("%s", err.msg); /* before the input */
    float *x = malloc(sizeof(float) * nin);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    int rc = 0;
    if (!x || !labels)
        rc = cli_error("out of memory");
    else if (a->train && classes < 1)
        rc = cli_error("%s has no classes to train on", cli_model(net));
    if (!rc) {
        zf_init_options io;
        zf_init_defaults(&io);
        io.scheme = ZF_INIT_HE;
        io.seed = 1;
        zf_net_init_params(net, &io);
        unsigned seed = 1;
        for (size_t i = 0; i < nin; i++) x[i] = (float)(rand_r(&seed) / (double)RAND_MAX * 2 - 1);
        for (int i = 0; i < n; i++) labels[i] = rand_r(&seed) % (classes ? classes : 1);
        if (zf_net_set_input(net, x, n, &err) ||
            (a->train && zf_net_set_labels(net, labels, n, &err)))
            rc = cli_error("%s", err.msg);
    }
    free(x), free(labels);
    return rc;
}

/* warm-up, then the timed iterations into times (sorted) */
static int time_steps(zf_net *net, const bench_args *a, double *times) {
    zf_error err;
    for (int it = 0; it < a->warmup + a->iters; it++) {
        if (it == a->warmup) {
            zf_net_reset_times(net);
            zf_net_set_profiling(net, 1);
        }
        double t0 = cli_now();
        zf_status st = zf_net_forward(net, a->train ? ZF_MODE_TRAIN : ZF_MODE_INFER, -1, &err);
        if (!st && a->train) {
            zf_net_zero_grads(net);
            st = zf_net_backward(net, &err);
            if (!st) st = zf_net_sgd_step(net, 1e-4f, 0.9f, 5e-4f, &err);
        }
        if (st) return cli_error("%s", err.msg);
        if (it >= a->warmup) times[it - a->warmup] = cli_now() - t0;
        if (!a->json && it < a->warmup)
            fprintf(stderr, "warm-up %d/%d: %.1f ms\n", it + 1, a->warmup, 1e3 * (cli_now() - t0));
    }
    qsort(times, (size_t)a->iters, sizeof *times, cmp_double);
    return 0;
}

static void print_json(const zf_net *net, const bench_args *a, const double *times, double med,
                       double flop, double rss_mib) {
    int n = a->batch, nl = zf_net_num_layers(net), iters = a->iters;
    printf("{\"model\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"mode\": \"%s\", "
           "\"batch\": %d, \"threads\": %d, \"iters\": %d, \"img_per_s\": %.3f, \"ms_per_batch\": "
           "%.3f, "
           "\"ms_min\": %.3f, \"ms_max\": %.3f, \"gflops\": %.2f, \"peak_rss_mib\": %.1f, "
           "\"layers\": [",
           zf_model_name(zf_net_model(net)), zf_net_backend_name(net),
           zf_precision_name(zf_net_precision(net)), a->train ? "train" : "infer", n, a->threads,
           iters, n / med, 1e3 * med, 1e3 * times[0], 1e3 * times[iters - 1], flop / med / 1e9,
           rss_mib);
    for (int i = 0; i < nl; i++) {
        zf_layer_info li;
        double f, b;
        zf_net_layer_info(net, i, &li);
        zf_net_layer_times(net, i, &f, &b);
        printf("%s{\"name\": \"%s\", \"forward_ms\": %.3f, \"backward_ms\": %.3f}", i ? ", " : "",
               li.name, f / iters, b / iters);
    }
    printf("]}\n");
}

static void print_table(const zf_net *net, const bench_args *a, const double *times, double med,
                        double flop, double rss_mib) {
    int n = a->batch, nl = zf_net_num_layers(net), iters = a->iters;
    char th[24];
    snprintf(th, sizeof th, "%d", a->threads);
    printf("%s, %s backend, %s, %s, batch %d, %s threads: %.2f images/s, %.1f ms per batch "
           "(median of %d; min %.1f, max %.1f), %.1f GFLOP/s, peak RSS %.0f MiB\n\n",
           zf_model_name(zf_net_model(net)), zf_net_backend_name(net),
           zf_precision_name(zf_net_precision(net)), a->train ? "training step" : "inference", n,
           a->threads ? th : "default", n / med, 1e3 * med, iters, 1e3 * times[0],
           1e3 * times[iters - 1], flop / med / 1e9, rss_mib);
    double total = 0;
    for (int i = 0; i < nl; i++) {
        double f, b;
        zf_net_layer_times(net, i, &f, &b);
        total += f + b;
    }
    printf("%-8s %-8s %12s %12s %7s\n", "layer", "kind", "forward ms", "backward ms", "share");
    for (int i = 0; i < nl; i++) {
        zf_layer_info li;
        double f, b;
        zf_net_layer_info(net, i, &li);
        zf_net_layer_times(net, i, &f, &b);
        printf("%-8s %-8s %12.2f %12.2f %6.1f%%\n", li.name, zf_layer_kind_name(li.kind), f / iters,
               b / iters, total > 0 ? 100 * (f + b) / total : 0);
    }
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.batch = 32, .iters = 5, .warmup = 2};
    const cli_opt own[] = {
        {"model", CLI_STR, &a.model, "M", "preset or model file (required unless --peak)"},
        {"batch", CLI_INT, &a.batch, "N", "images per batch (32)", 1, 65536},
        CLI_THREADS(&a.threads),
        CLI_PRECISION,
        {"mode", CLI_CALL, &a.train, "MODE", "infer (default) or train", .parse = parse_mode,
         .choices = "infer train"},
        {"iters", CLI_INT, &a.iters, "K", "timed iterations (5)", 1, 100000},
        {"warmup", CLI_INT, &a.warmup, "W", "untimed iterations first (2)", 0, 100000},
        {"backend", CLI_CALL, &a.backend, "B", "dnnl (default) or ref (the plain-C oracle)",
         .parse = cli_parse_backend, .choices = "dnnl ref"},
        {"json", CLI_FLAG, &a.json, NULL, "print one JSON object instead of the table"},
        {"peak", CLI_FLAG, &a.peak, NULL,
         "measure the machine's limits instead: FP32 (an FMA loop on every\n"
         "thread, dnnl_sgemm on a 4096^3 product) and, with AVX512-BF16,\n"
         "BF16 (a VDPBF16PS loop, oneDNN's bf16 matmul on 2048^3)"},
        {0}};
    int npos, rc = cli_parse_overrides(&bench_cmd, own, &a.ov, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (a.peak) return peak(a.threads, a.json);
    if (!a.model) return cli_usage_error("bench", "--model (or --peak) is required");
    zf_net_options no;
    cli_net_defaults(&no, a.threads);
    no.backend = a.backend;
    zf_net *net;
    if (cli_open_net(a.model, &a.ov, &no, &net)) return 1;
    double *times = malloc(sizeof(double) * (size_t)a.iters);
    rc = !times ? cli_error("out of memory") : prepare(net, &a) || time_steps(net, &a, times);
    if (!rc) {
        int it = a.iters;
        double med = it % 2 ? times[it / 2] : 0.5 * (times[it / 2 - 1] + times[it / 2]);
        uint64_t macs = 0;
        for (int i = 0; i < zf_net_num_layers(net); i++) {
            zf_layer_info li;
            zf_net_layer_info(net, i, &li);
            macs += li.macs;
        }
        double flop = 2.0 * (double)macs * a.batch * (a.train ? 3 : 1);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double rss_mib = (double)ru.ru_maxrss / 1024.0;
        (a.json ? print_json : print_table)(net, &a, times, med, flop, rss_mib);
    }
    free(times);
    zf_net_free(net);
    return rc;
}
