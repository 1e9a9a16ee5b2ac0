/* zfnet probe: ZF Table 7 for any checkpoint (zf_probe): a linear SVM (liblinear) and a softmax
 * on each layer's frozen features, per dataset and images per class, mean +- std over folds. */
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_command probe_cmd = {
    "probe",
    "--weights W [--sets NAME,NAME | --train SPEC --test SPEC] [--per-class N[,N...]]\n"
    "                   [--folds K] [--layers conv1,...] [--classifiers svm,softmax]\n"
    "                   [--pool max|avg|none] [--grid G] [-o DIR]",
    "How well a linear classifier separates another set's classes with each layer's features\n"
    "(ZF Table 7). For each fold (5) N images per class (30) are drawn from the training split;\n"
    "each chosen layer's output (after its ReLU; default: every conv and fc layer below the\n"
    "last) is computed for them and for the test split; conv maps are pooled per channel to a\n"
    "G x G grid (max, 4: cell i spans rows floor(i h/G)..ceil((i+1) h/G), as PyTorch's adaptive\n"
    "pooling), fc outputs taken whole; features are standardised with the training rows' mean\n"
    "and deviation. Classifiers:\n"
    "  svm      liblinear's L2-regularised squared-hinge SVM, one against the rest (what\n"
    "           scikit-learn's LinearSVC runs), C chosen from 1e-4..1\n"
    "  softmax  multinomial logistic regression trained by SGD, weight decay chosen from\n"
    "           1e-5..1e-1\n"
    "each choice made on a held-out 20% of the fold's training images (--holdout), then\n"
    "trained on all of them. The score is the mean per-class accuracy on the test split (or\n"
    "up to its first M per class). --sets takes built-in names (fashion-mnist, digits:\n"
    "their train and test splits); --train/--test any one set. DIR (zfnet-probe) gets\n"
    "probe.csv and probe.json (every fold's accuracy and chosen regularisation).\n"};

typedef struct probe_job {
    zf_probe_options o;
    const char *sets, *per_class, *classifiers, *pool, *dir, *train, *test;
    int nsets, nper, per[16];
    const char *train_of[16], *test_of[16];
    char names[16][64];
} probe_job;

static int parse_classifiers(probe_job *j) {
    j->o.svm = j->o.softmax = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", j->classifiers);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        zf_classifier c;
        zf_error err;
        if (zf_classifier_parse(t, &c, &err))
            return cli_usage_error("probe", "--classifiers: %s", err.msg);
        *(c == ZF_CLASSIFIER_SVM ? &j->o.svm : &j->o.softmax) = 1;
    }
    return j->o.svm || j->o.softmax ? -1 : cli_usage_error("probe", "--classifiers names none");
}

static int parse_sets(probe_job *j) {
    if (j->train || j->test) {
        if (!j->train || !j->test || j->sets)
            return cli_usage_error("probe", "--train and --test go together, without --sets");
        j->train_of[0] = j->train, j->test_of[0] = j->test, j->nsets = 1;
        snprintf(j->names[0], sizeof j->names[0], "%.63s", j->train);
        return -1;
    }
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s", j->sets ? j->sets : "digits");
    static char tests[16][80];
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "fashion-mnist") && strcmp(t, "digits"))
            return cli_usage_error("probe",
                                   "--sets: '%s' is not fashion-mnist or digits (use "
                                   "--train and --test for other sets)",
                                   t);
        if (j->nsets == 16) return cli_usage_error("probe", "--sets: at most 16");
        snprintf(tests[j->nsets], sizeof tests[0], "%s:test", t);
        snprintf(j->names[j->nsets], sizeof j->names[0], "%s", t);
        j->train_of[j->nsets] = t, j->test_of[j->nsets] = tests[j->nsets];
        j->nsets++;
    }
    return j->nsets ? -1 : cli_usage_error("probe", "--sets names none");
}

static int parse(probe_job *j, int argc, char **argv) {
    zf_probe_options *o = &j->o;
    const cli_opt own[] = {
        {"weights", CLI_STR, &o->checkpoint, "W", "the trained checkpoint", .required = 1},
        {"sets", CLI_STR, &j->sets, "A,B", "built-in sets (digits)"},
        {"train", CLI_STR, &j->train, "SPEC", "one set's training split"},
        {"test", CLI_STR, &j->test, "SPEC", "... and its test split"},
        {"per-class", CLI_STR, &j->per_class, "N,...", "training images per class (30)"},
        {"folds", CLI_INT, &o->folds, "K", "draws (5)", 1, 1000},
        {"test-per-class", CLI_INT, &o->test_per_class, "M", "first M test images (0: all)", 0,
         1 << 24},
        {"layers", CLI_STR, &o->layers, "L,...", "layers to probe (conv and fc below the last)"},
        {"classifiers", CLI_STR, &j->classifiers, "C,...", "svm, softmax (both)"},
        {"pool", CLI_STR, &j->pool, "P", "conv maps: max, avg or none (max)",
         .choices = "max avg none"},
        {"grid", CLI_INT, &o->grid, "G", "pooled to G x G per channel (4)", 1, 64},
        {"holdout", CLI_DOUBLE, &o->holdout, "F",
         "share held out to choose C and weight decay (0.2)", 0, 0.9},
        CLI_OUTPUT(&j->dir, "where probe.csv and probe.json go (zfnet-probe)"),
        {"seed", CLI_U64, &o->seed, "S", "the draws (1)"},
        CLI_THREADS(&o->threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&probe_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    zf_error err;
    if (zf_pool_parse(j->pool, &o->pool, &err))
        return cli_usage_error("probe", "--pool: %s", err.msg);
    if ((rc = parse_classifiers(j)) >= 0 || (rc = parse_sets(j)) >= 0) return rc;
    if (cli_parse_int_list("--per-class", j->per_class, 0, 1 << 24, j->per, 16, &j->nper)) return 2;
    return j->nper ? -1 : cli_usage_error("probe", "--per-class names none");
}

static const char *layer_name(const char *weights, const zf_probe_result *r, int k, zf_net *net) {
    (void)weights, (void)r;
    zf_layer_info li;
    zf_net_layer_info(net, r->layers[k], &li);
    return li.name;
}

/* Table 7's layout: rows classifier (layer), columns set / N per class. */
static int print_table(const probe_job *j, zf_probe_result *r, zf_net *net, FILE *csv) {
    int cols = j->nsets * j->nper;
    printf("\n%-22s", "");
    fprintf(csv, "classifier,layer,features");
    for (int c = 0; c < cols; c++) {
        char h[96];
        snprintf(h, sizeof h, "%s %d/class", j->names[c / j->nper], j->per[c % j->nper]);
        printf(" %18s", h);
        fprintf(csv, ",%s mean,%s std", h, h);
    }
    printf("\n");
    fprintf(csv, "\n");
    for (int kind = 0; kind < 2; kind++)
        for (int k = 0; k < r[0].nlayers; k++) {
            if (!(kind ? j->o.svm : j->o.softmax)) continue;
            char row[96];
            const char *ln = layer_name(j->o.checkpoint, &r[0], k, net);
            snprintf(row, sizeof row, "%s (%s, %d)", kind ? "SVM" : "Softmax", ln, r[0].dims[k]);
            printf("%-22s", row);
            fprintf(csv, "%s,%s,%d", kind ? "svm" : "softmax", ln, r[0].dims[k]);
            for (int c = 0; c < cols; c++) {
                double m = r[c].mean[kind * r[c].nlayers + k],
                       s = r[c].std[kind * r[c].nlayers + k];
                printf(" %10.2f +- %4.2f", 100 * m, 100 * s);
                fprintf(csv, ",%.4f,%.4f", 100 * m, 100 * s);
            }
            printf("\n");
            fprintf(csv, "\n");
        }
    return 0;
}

static json_t *result_json(const probe_job *j, int c, const zf_probe_result *r, zf_net *net) {
    json_t *layers = json_array();
    for (int k = 0; k < r->nlayers; k++) {
        json_t *l =
            json_pack("{s:s, s:i}", "layer", layer_name(NULL, r, k, net), "features", r->dims[k]);
        for (int kind = 0; kind < 2; kind++) {
            size_t at = ((size_t)kind * r->nlayers + k) * r->folds;
            if (!(kind ? j->o.svm : j->o.softmax)) continue;
            json_t *acc = json_array(), *reg = json_array();
            for (int f = 0; f < r->folds; f++) {
                json_array_append_new(acc, json_num(r->accuracy[at + f]));
                json_array_append_new(reg, json_real(r->reg[at + f]));
            }
            json_object_set_new(l, kind ? "svm" : "softmax",
                                json_pack("{s:o, s:o, s:o, s:o}", "mean",
                                          json_num(r->mean[kind * r->nlayers + k]), "std",
                                          json_num(r->std[kind * r->nlayers + k]), "folds", acc,
                                          kind ? "C" : "weight_decay", reg));
        }
        json_array_append_new(layers, l);
    }
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:o}", "set", j->names[c / j->nper],
                     "train", j->train_of[c / j->nper], "test", j->test_of[c / j->nper],
                     "per_class", j->per[c % j->nper], "train_images", r->train_images,
                     "test_images", r->test_images, "seconds", r->seconds, "layers", layers);
}

static int write_outputs(const probe_job *j, zf_probe_result *r) {
    zf_net *net;
    zf_error err;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = 1;
    if (zf_checkpoint_open(j->o.checkpoint, &no, &net, NULL, &err)) return cli_fail(&err);
    char *buf = NULL, path[4200];
    size_t len = 0;
    FILE *csv = open_memstream(&buf, &len);
    if (!csv) return zf_net_free(net), cli_error("out of memory");
    print_table(j, r, net, csv);
    fclose(csv);
    snprintf(path, sizeof path, "%s/probe.csv", j->dir);
    int rc = zf_write_file(path, buf, len, &err) ? cli_error("%s", err.msg) : 0;
    free(buf);
    json_t *runs = json_array();
    for (int c = 0; c < j->nsets * j->nper; c++)
        json_array_append_new(runs, result_json(j, c, &r[c], net));
    json_t *doc = json_pack("{s:s, s:s, s:i, s:i, s:f, s:o}", "weights", j->o.checkpoint, "pool",
                            zf_pool_name(j->o.pool), "grid", j->o.grid, "folds", j->o.folds,
                            "holdout", j->o.holdout, "runs", runs);
    snprintf(path, sizeof path, "%s/probe.json", j->dir);
    if (!rc) rc = write_json(path, doc);
    json_decref(doc);
    zf_net_free(net);
    if (!rc) printf("wrote %s/probe.csv and probe.json\n", j->dir);
    return rc;
}

int cmd_probe(int argc, char **argv) {
    probe_job j = {
        .per_class = "30", .classifiers = "svm,softmax", .pool = "max", .dir = "zfnet-probe"};
    zf_probe_defaults(&j.o);
    int rc = parse(&j, argc, argv);
    if (rc >= 0) return rc;
    j.o.precision = cli_precision;
    j.o.cb = cli_callbacks(NULL);
    if (make_dir(j.dir)) return 1;
    int cols = j.nsets * j.nper;
    zf_probe_result *r = calloc((size_t)cols, sizeof *r);
    rc = r ? 0 : cli_error("out of memory");
    for (int c = 0; !rc && c < cols; c++) {
        zf_probe_options o = j.o;
        o.train = j.train_of[c / j.nper], o.test = j.test_of[c / j.nper];
        o.per_class = j.per[c % j.nper];
        zf_error err;
        if (zf_probe(&o, &r[c], &err)) {
            rc = cli_fail(&err);
            break;
        }
        printf("%s, %d per class: %d layers, %d folds in %.1f s (features %.1f s)\n",
               j.names[c / j.nper], o.per_class, r[c].nlayers, r[c].folds, r[c].seconds,
               r[c].feature_seconds);
    }
    if (!rc) rc = write_outputs(&j, r);
    for (int c = 0; r && c < cols; c++) zf_probe_result_free(&r[c]);
    free(r);
    return rc;
}
