/* zfnet bench: images/s, ms per batch, GFLOP/s, peak memory and a per-layer time table for a
 * model's inference or training step, on random data. */
#include "cli.h"

#include <getopt.h>
#include <immintrin.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *help =
    "usage: zfnet bench --model M [--batch N] [--threads T] [--mode infer|train] [--iters K]\n"
    "                   [--warmup W] [--backend dnnl|ref] [--json] [--classes N]\n"
    "                   [--input-size CxHxW]\n"
    "       zfnet bench --peak [--threads T] [--json]\n\n"
    "Times the model on random data. infer: a forward pass; train: a forward pass in training\n"
    "mode, the backward pass from the loss, and an SGD momentum update. Prints the median\n"
    "images/s and ms per batch over K timed iterations (after W untimed ones), GFLOP/s counted\n"
    "from the model's multiply-adds (2 FLOP each; a training step counts 3x the forward), the\n"
    "peak resident memory, and the mean time per layer.\n\n"
    "  --batch N        images per batch (default 32)\n"
    "  --threads T      compute threads (default: OMP_NUM_THREADS or all cores)\n"
    "  --mode MODE      infer (default) or train\n"
    "  --iters K        timed iterations (default 5)\n"
    "  --warmup W       untimed iterations first (default 2)\n"
    "  --backend B      dnnl (default) or ref (the plain-C oracle)\n"
    "  --json           print one JSON object instead of the table\n"
    "  --peak           measure the FP32 limit instead: an FMA loop on every thread, and\n"
    "                   dnnl_sgemm on a 4096^3 product\n";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the hardware's limit: an FMA loop and a large dnnl_sgemm, same threads ------------ */

/* 16 independent accumulator chains hide the FMA latency on both FMA ports */
__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
    __m512 acc[16], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int k = 0; k < 16; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) acc[k] = _mm512_fmadd_ps(acc[k], b, c);
    __m512 s = acc[0];
    for (int k = 1; k < 16; k++) s = _mm512_add_ps(s, acc[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
    __m256 acc[12], b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int k = 0; k < 12; k++) acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) acc[k] = _mm256_fmadd_ps(acc[k], b, c);
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
    double flop_per_iter = avx512 ? 16 * 16 * 2 : 12 * 8 * 2, t0 = now();
    volatile float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
    (void)sink;
    return flop_per_iter * (double)iters * threads / (now() - t0) / 1e9;
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
        double t0 = now();
        dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

static int peak(int threads, int json) {
    if (threads <= 0) threads = omp_get_max_threads();
    const char *isa;
    double f = fma_peak(threads, &isa), g = sgemm_peak(threads);
    if (json)
        printf("{\"threads\": %d, \"isa\": \"%s\", \"fma_gflops\": %.1f, "
               "\"sgemm_gflops\": %.1f}\n",
               threads, isa, f, g);
    else
        printf("peak FP32 on %d threads: %s FMA loop %.1f GFLOP/s, dnnl_sgemm 4096^3 %.1f "
               "GFLOP/s\n",
               threads, isa, f, g);
    return 0;
}

int cli_parse_backend(const char *s, zf_backend_kind *out) {
    if (!strcmp(s, "dnnl"))
        *out = ZF_BACKEND_DNNL;
    else if (!strcmp(s, "ref"))
        *out = ZF_BACKEND_REF;
    else {
        cli_error("--backend: '%s' is not dnnl or ref", s);
        return -1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"mode", required_argument, 0, 'M'},
                                         {"iters", required_argument, 0, 'i'},
                                         {"warmup", required_argument, 0, 'w'},
                                         {"backend", required_argument, 0, 'B'},
                                         {"json", no_argument, 0, 'j'},
                                         {"peak", no_argument, 0, 'P'},
                                         {"classes", required_argument, 0, 'c'},
                                         {"input-size", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL;
    long batch = 32, threads = 0, iters = 5, warmup = 2;
    int train = 0, json = 0, want_peak = 0;
    zf_model_overrides ov = {0};
    zf_net_options no = {0};
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            model = optarg;
            break;
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 65536, &batch)) return 2;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case 'M':
            if (!strcmp(optarg, "train"))
                train = 1;
            else if (strcmp(optarg, "infer"))
                return cli_usage_error("bench", "--mode: '%s' is not infer or train", optarg);
            break;
        case 'i':
            if (cli_parse_int("--iters", optarg, 1, 100000, &iters)) return 2;
            break;
        case 'w':
            if (cli_parse_int("--warmup", optarg, 0, 100000, &warmup)) return 2;
            break;
        case 'B':
            if (cli_parse_backend(optarg, &no.backend)) return 2;
            break;
        case 'j':
            json = 1;
            break;
        case 'P':
            want_peak = 1;
            break;
        case 'c':
        case 's':
            if (cli_model_option(ch, optarg, &ov)) return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("bench", "bad option");
        }
    }
    if (optind != argc) return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (want_peak) return peak((int)threads, json);
    if (!model) return cli_usage_error("bench", "--model (or --peak) is required");
    no.threads = (int)threads;
    zf_error err;
    zf_net *net;
    if (cli_open_net(model, &ov, &no, &net)) return 1;
    int n = (int)batch, classes = zf_net_classes(net), nl = zf_net_num_layers(net);
    zf_shape is = zf_net_input_shape(net);
    size_t nin = (size_t)n * is.c * is.h * is.w;
    float *x = malloc(sizeof(float) * nin);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    double *times = malloc(sizeof(double) * (size_t)iters);
    int rc = 1;
    if (!x || !labels || !times) {
        cli_error("out of memory");
        goto done;
    }
    if (train && classes < 1) {
        cli_error("model '%s' has no classes to train on", zf_model_name(zf_net_model(net)));
        goto done;
    }
    zf_init_options io = {.scheme = ZF_INIT_HE, .seed = 1};
    zf_net_init_params(net, &io);
    unsigned seed = 1;
    for (size_t i = 0; i < nin; i++) x[i] = (float)rand_r(&seed) / RAND_MAX * 2 - 1;
    for (int i = 0; i < n; i++) labels[i] = rand_r(&seed) % (classes ? classes : 1);
    zf_net_set_input_grad(net, 0);
    zf_net_set_inplace_relu(net, train);
    if (zf_net_reserve(net, n, &err) || zf_net_set_input(net, x, n, &err) ||
        (train && zf_net_set_labels(net, labels, n, &err))) {
        cli_error("%s", err.msg);
        goto done;
    }
    for (long it = 0; it < warmup + iters; it++) {
        if (it == warmup) {
            zf_net_reset_times(net);
            zf_net_set_profiling(net, 1);
        }
        double t0 = now();
        zf_status st = zf_net_forward(net, train ? ZF_MODE_TRAIN : ZF_MODE_INFER, -1, &err);
        if (!st && train) {
            zf_net_zero_grads(net);
            st = zf_net_backward(net, &err);
            if (!st) st = zf_net_sgd_step(net, 1e-4f, 0.9f, 5e-4f, &err);
        }
        if (st) {
            cli_error("%s", err.msg);
            goto done;
        }
        if (it >= warmup) times[it - warmup] = now() - t0;
        if (!json && it < warmup)
            fprintf(stderr, "warm-up %ld/%ld: %.1f ms\n", it + 1, warmup, 1e3 * (now() - t0));
    }
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    double med = iters % 2 ? times[iters / 2] : 0.5 * (times[iters / 2 - 1] + times[iters / 2]);
    uint64_t macs = 0;
    for (int i = 0; i < nl; i++) {
        zf_layer_info li;
        zf_net_layer_info(net, i, &li);
        macs += li.macs;
    }
    double flop = 2.0 * (double)macs * n * (train ? 3 : 1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mib = (double)ru.ru_maxrss / 1024.0;
    const char *mname = zf_model_name(zf_net_model(net));
    if (json) {
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"mode\": \"%s\", \"batch\": %d, "
               "\"threads\": %ld, \"iters\": %ld, \"img_per_s\": %.3f, \"ms_per_batch\": %.3f, "
               "\"ms_min\": %.3f, \"ms_max\": %.3f, \"gflops\": %.2f, \"peak_rss_mib\": %.1f, "
               "\"layers\": [",
               mname, zf_net_backend_name(net), train ? "train" : "infer", n, threads, iters,
               n / med, 1e3 * med, 1e3 * times[0], 1e3 * times[iters - 1], flop / med / 1e9,
               rss_mib);
        for (int i = 0; i < nl; i++) {
            zf_layer_info li;
            double f, b;
            zf_net_layer_info(net, i, &li);
            zf_net_layer_times(net, i, &f, &b);
            printf("%s{\"name\": \"%s\", \"forward_ms\": %.3f, \"backward_ms\": %.3f}",
                   i ? ", " : "", li.name, f / iters, b / iters);
        }
        printf("]}\n");
    } else {
        char th[24];
        snprintf(th, sizeof th, "%ld", threads);
        printf("%s, %s backend, %s, batch %d, %s threads: %.2f images/s, %.1f ms per batch "
               "(median of %ld; min %.1f, max %.1f), %.1f GFLOP/s, peak RSS %.0f MiB\n\n",
               mname, zf_net_backend_name(net), train ? "training step" : "inference", n,
               threads ? th : "default", n / med, 1e3 * med, iters, 1e3 * times[0],
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
            printf("%-8s %-8s %12.2f %12.2f %6.1f%%\n", li.name, zf_layer_kind_name(li.kind),
                   f / iters, b / iters, total > 0 ? 100 * (f + b) / total : 0);
        }
    }
    rc = 0;
done:
    free(x), free(labels), free(times);
    zf_net_free(net);
    return rc;
}
