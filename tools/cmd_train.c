/* zfnet train: SGD on an IDX dataset (Fashion-MNIST by default), evaluated on its test set
 * after every epoch; checkpoints and metrics written under the run folder. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* from src/train.c */
void zf_dataset_mean(const zf_dataset *d, float *mean);
void zf_preprocess(float *x, const uint8_t *im, const float *mean, zf_shape s, float scale, int dy,
                   int dx, int flip);
int zf_net_renormalize_filters(zf_net *net, double radius);

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static const char *help =
    "usage: zfnet train [--model zfnet-mini] [--epochs N] [--batch N] [--lr X] [--momentum X]\n"
    "                   [--weight-decay X] [--lr-steps E1,E2,...] [--renorm R] [--crop-pad P]\n"
    "                   [--no-flip] [--seed S] [--threads T] [-o DIR]\n"
    "                   [--train-images F --train-labels F --test-images F --test-labels F]\n\n"
    "Trains on an IDX dataset (default: Debian's Fashion-MNIST) with SGD, momentum and weight\n"
    "decay; the learning rate is divided by 10 at each of --lr-steps epochs. Inputs are\n"
    "(pixel - per-pixel mean) / 255; training images are randomly shifted by up to --crop-pad\n"
    "pixels and mirrored. After each update, conv filters whose RMS exceeds --renorm are\n"
    "rescaled to it (ZF section 3; 0 turns it off). Each epoch ends with the test accuracy;\n"
    "DIR gets last.safetensors, best.safetensors and metrics.jsonl.\n\n"
    "defaults: --epochs 12 --batch 128 --lr 0.02 --momentum 0.9 --weight-decay 5e-4\n"
    "          --lr-steps 8,11 --renorm 0.1 --crop-pad 2 --seed 1 -o zfnet-run\n";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct train_cfg {
    const char *model, *out, *tr_img, *tr_lab, *te_img, *te_lab;
    int epochs, batch, crop_pad, flip, nsteps, steps[16];
    double lr, momentum, wd, renorm;
    uint64_t seed;
    int threads;
} train_cfg;

/* top-1 accuracy of the net on a dataset (centre view) */
static double evaluate(zf_net *net, const zf_dataset *d, const float *mean, int batch, float *x,
                       float *probs) {
    zf_shape s = zf_dataset_shape(d);
    size_t per = (size_t)s.c * s.h * s.w;
    int classes = zf_net_classes(net), correct = 0, last = zf_net_num_layers(net) - 1;
    for (int i0 = 0; i0 < zf_dataset_count(d); i0 += batch) {
        int n = zf_dataset_count(d) - i0 < batch ? zf_dataset_count(d) - i0 : batch;
        int labels[4096];
        for (int i = 0; i < n; i++)
            zf_preprocess(x + per * i, zf_dataset_image(d, i0 + i, &labels[i]), mean, s, 1.0f / 255,
                          0, 0, 0);
        zf_net_set_input(net, x, n, NULL);
        zf_net_forward(net, ZF_MODE_INFER, -1, NULL);
        zf_net_read_output(net, last, probs, NULL);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < classes; k++)
                if (probs[i * classes + k] > probs[i * classes + best]) best = k;
            correct += best == labels[i];
        }
    }
    return (double)correct / zf_dataset_count(d);
}

static int run_training(const train_cfg *c) {
    zf_error err;
    zf_dataset *tr = NULL, *te = NULL;
    if (zf_dataset_open_idx(&tr, c->tr_img, c->tr_lab, &err) ||
        zf_dataset_open_idx(&te, c->te_img, c->te_lab, &err)) {
        zf_dataset_free(tr);
        return cli_error("%s", err.msg);
    }
    zf_shape s = zf_dataset_shape(tr);
    zf_model_overrides ov = {
        .channels = s.c, .height = s.h, .width = s.w, .classes = zf_dataset_classes(tr)};
    zf_model *m;
    zf_net *net = NULL;
    int rc = 1;
    size_t per = (size_t)s.c * s.h * s.w;
    float *mean = malloc(sizeof(float) * per), *x = malloc(sizeof(float) * per * c->batch);
    float *probs = malloc(sizeof(float) * (size_t)c->batch * ov.classes);
    int *order = malloc(sizeof(int) * (size_t)zf_dataset_count(tr));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)c->batch);
    FILE *metrics = NULL;
    char path[4096];
    if (!mean || !x || !probs || !order || !labels) {
        cli_error("out of memory");
        goto done;
    }
    if (zf_model_load(&m, c->model, &ov, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    zf_net_options no = {.threads = c->threads, .seed = c->seed};
    zf_status st = zf_net_create(&net, m, &no, &err);
    zf_model_free(m);
    if (!st) zf_net_set_inplace_relu(net, 1); /* only the last layer is ever read */
    if (st || zf_net_reserve(net, c->batch, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (mkdir(c->out, 0755) && errno != EEXIST) {
        cli_error("%s: cannot create: %s", c->out, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", c->out);
    if (!(metrics = fopen(path, "w"))) {
        cli_error("%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    zf_init_options io = {.scheme = ZF_INIT_HE, .seed = c->seed};
    zf_net_init_params(net, &io);
    zf_net_set_input_grad(net, 0);
    zf_dataset_mean(tr, mean);
    unsigned rs = (unsigned)c->seed;
    int ntr = zf_dataset_count(tr);
    for (int i = 0; i < ntr; i++) order[i] = i;
    double best = -1, lr = c->lr, t_start = now();
    long renorm_fired = 0;
    for (int epoch = 1; epoch <= c->epochs; epoch++) {
        for (int k = 0; k < c->nsteps; k++)
            if (c->steps[k] == epoch - 1 && epoch > 1) lr /= 10;
        for (int i = ntr - 1; i > 0; i--) { /* Fisher-Yates, seeded */
            int j = rand_r(&rs) % (i + 1), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        double loss_sum = 0, t0 = now();
        int batches = 0;
        for (int i0 = 0; i0 + c->batch <= ntr; i0 += c->batch) {
            for (int i = 0; i < c->batch; i++) {
                int l, p = c->crop_pad;
                const uint8_t *im = zf_dataset_image(tr, order[i0 + i], &l);
                int dy = p ? rand_r(&rs) % (2 * p + 1) - p : 0;
                int dx = p ? rand_r(&rs) % (2 * p + 1) - p : 0;
                int flip = c->flip && (rand_r(&rs) & 1);
                zf_preprocess(x + per * i, im, mean, s, 1.0f / 255, dy, dx, flip);
                labels[i] = l;
            }
            double loss;
            if (zf_net_set_input(net, x, c->batch, &err) ||
                zf_net_set_labels(net, labels, c->batch, &err) ||
                zf_net_forward(net, ZF_MODE_TRAIN, -1, &err) || zf_net_loss(net, &loss, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
            zf_net_zero_grads(net);
            if (zf_net_backward(net, &err) ||
                zf_net_sgd_step(net, (float)lr, (float)c->momentum, (float)c->wd, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
            if (c->renorm > 0) renorm_fired += zf_net_renormalize_filters(net, c->renorm);
            loss_sum += loss, batches++;
        }
        double train_s = now() - t0;
        double acc = evaluate(net, te, mean, c->batch, x, probs);
        printf("epoch %2d/%d  lr %.4g  loss %.4f  test accuracy %.2f%%  %.0f img/s  "
               "renorm fired %ld  %.0f s\n",
               epoch, c->epochs, lr, loss_sum / batches, 100 * acc, batches * c->batch / train_s,
               renorm_fired, now() - t_start);
        fflush(stdout);
        fprintf(metrics,
                "{\"epoch\": %d, \"lr\": %g, \"train_loss\": %.6f, \"test_accuracy\": %.6f, "
                "\"img_per_s\": %.1f, \"renorm_fired\": %ld, \"elapsed_s\": %.1f}\n",
                epoch, lr, loss_sum / batches, acc, batches * c->batch / train_s, renorm_fired,
                now() - t_start);
        fflush(metrics);
        char ep[16];
        snprintf(ep, sizeof ep, "%d", epoch);
        const char *extra[] = {"epoch", ep, NULL};
        snprintf(path, sizeof path, "%s/last.safetensors", c->out);
        if (zf_checkpoint_save(net, path, extra, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        if (acc > best) {
            best = acc;
            snprintf(path, sizeof path, "%s/best.safetensors", c->out);
            if (zf_checkpoint_save(net, path, extra, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
        if (epoch == c->epochs) printf("test accuracy: %.2f%%\n", 100 * acc);
    }
    rc = 0;
done:
    if (metrics) fclose(metrics);
    free(mean), free(x), free(probs), free(order), free(labels);
    zf_net_free(net);
    zf_dataset_free(tr), zf_dataset_free(te);
    return rc;
}

int cmd_train(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"epochs", required_argument, 0, 'e'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"lr", required_argument, 0, 'l'},
                                         {"momentum", required_argument, 0, 'M'},
                                         {"weight-decay", required_argument, 0, 'w'},
                                         {"lr-steps", required_argument, 0, 'S'},
                                         {"renorm", required_argument, 0, 'r'},
                                         {"crop-pad", required_argument, 0, 'p'},
                                         {"no-flip", no_argument, 0, 'F'},
                                         {"seed", required_argument, 0, 's'},
                                         {"threads", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'},
                                         {"train-images", required_argument, 0, 1},
                                         {"train-labels", required_argument, 0, 2},
                                         {"test-images", required_argument, 0, 3},
                                         {"test-labels", required_argument, 0, 4},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    train_cfg c = {.model = "zfnet-mini",
                   .out = "zfnet-run",
                   .tr_img = FMNIST "train-images-idx3-ubyte.gz",
                   .tr_lab = FMNIST "train-labels-idx1-ubyte.gz",
                   .te_img = FMNIST "t10k-images-idx3-ubyte.gz",
                   .te_lab = FMNIST "t10k-labels-idx1-ubyte.gz",
                   .epochs = 12,
                   .batch = 128,
                   .crop_pad = 2,
                   .flip = 1,
                   .nsteps = 2,
                   .steps = {8, 11},
                   .lr = 0.02,
                   .momentum = 0.9,
                   .wd = 5e-4,
                   .renorm = 0.1,
                   .seed = 1};
    long v;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            c.model = optarg;
            break;
        case 'e':
            if (cli_parse_int("--epochs", optarg, 1, 100000, &v)) return 2;
            c.epochs = (int)v;
            break;
        case 'b':
            if (cli_parse_int("--batch", optarg, 1, 4096, &v)) return 2;
            c.batch = (int)v;
            break;
        case 'l':
            if (cli_parse_double("--lr", optarg, 0, 10, &c.lr)) return 2;
            break;
        case 'M':
            if (cli_parse_double("--momentum", optarg, 0, 0.9999, &c.momentum)) return 2;
            break;
        case 'w':
            if (cli_parse_double("--weight-decay", optarg, 0, 1, &c.wd)) return 2;
            break;
        case 'S': {
            c.nsteps = 0;
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (c.nsteps == 16 || cli_parse_int("--lr-steps", t, 1, 100000, &v)) {
                    free(list);
                    return 2;
                }
                c.steps[c.nsteps++] = (int)v;
            }
            free(list);
            break;
        }
        case 'r':
            if (cli_parse_double("--renorm", optarg, 0, 1e6, &c.renorm)) return 2;
            break;
        case 'p':
            if (cli_parse_int("--crop-pad", optarg, 0, 64, &v)) return 2;
            c.crop_pad = (int)v;
            break;
        case 'F':
            c.flip = 0;
            break;
        case 's':
            if (cli_parse_u64("--seed", optarg, &c.seed)) return 2;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &v)) return 2;
            c.threads = (int)v;
            break;
        case 'o':
            c.out = optarg;
            break;
        case 1:
            c.tr_img = optarg;
            break;
        case 2:
            c.tr_lab = optarg;
            break;
        case 3:
            c.te_img = optarg;
            break;
        case 4:
            c.te_lab = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_usage_error("train", "bad option");
        }
    }
    if (optind != argc) return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    return run_training(&c);
}
