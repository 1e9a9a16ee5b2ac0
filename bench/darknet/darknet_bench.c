/* Times darknet (Debian's libdarknet, 2018) on random data: a training step (train_network on
 * one batch) or inference (network_predict). Built and run by bench/run.py:
 *   darknet_bench CFG BATCH ITERS WARMUP infer|train
 * Prints one JSON object. darknet's CPU path is single-threaded. */
#include <darknet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: darknet_bench CFG BATCH ITERS WARMUP infer|train\n");
        return 2;
    }
    int batch = atoi(argv[2]), iters = atoi(argv[3]), warmup = atoi(argv[4]);
    int train = !strcmp(argv[5], "train");
    network *net = parse_network_cfg(argv[1]);
    set_batch_network(net, batch);
    int in = net->inputs, out = net->outputs;
    data d = {0};
    d.X = make_matrix(batch, in);
    d.y = make_matrix(batch, out);
    srand(1);
    for (int i = 0; i < batch; i++) {
        for (int j = 0; j < in; j++) d.X.vals[i][j] = (float)rand() / RAND_MAX * 2 - 1;
        d.y.vals[i][rand() % out] = 1;
    }
    float *x = malloc(sizeof(float) * (size_t)batch * in);
    for (int i = 0; i < batch; i++) memcpy(x + (size_t)i * in, d.X.vals[i], sizeof(float) * in);
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int it = 0; it < warmup + iters; it++) {
        double t0 = now();
        if (train)
            train_network(net, d);
        else
            network_predict(net, x);
        if (it >= warmup) t[it - warmup] = now() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"darknet (Debian 2018)\", \"mode\": \"%s\", \"batch\": %d, \"threads\": 1, "
           "\"img_per_s\": %.3f, \"ms_per_batch\": %.3f, \"peak_rss_mib\": %.1f, "
           "\"outputs\": %d}\n",
           train ? "train" : "infer", batch, batch / med, 1e3 * med, ru.ru_maxrss / 1024.0, out);
    return 0;
}
