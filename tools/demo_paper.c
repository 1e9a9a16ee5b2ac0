/* What the demo (and 'zfnet report --compute') runs on a trained model, each step as the
 * command a user would type (recorded in its files): the evaluation, the layer-1 filters, the
 * top-9 and their evolution (ZF Figs. 2, 4, 6), and the paper's experiments (Figs. 5, 7, 8,
 * Table 1): occlusion on two test images per class (the square black, as Fashion-MNIST's
 * background: a grey or mean square on the black background reads as more garment),
 * invariance curves on one image per class for the three transforms, correspondence on five
 * T-shirts (Fashion-MNIST's images are aligned, so one rectangle is the same part in each). */
#include "output.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the first `per` items of each class (as "3,17,..."), at most `classes` classes; for one class
 * only when only >= 0 */
static int pick_items(const zf_dataset *d, int per, int only, char *list, size_t cap) {
    int classes = zf_dataset_classes(d), *got = calloc((size_t)classes, sizeof(int)), n = 0;
    if (!got) return cli_error("out of memory");
    list[0] = 0;
    for (int i = 0; i < zf_dataset_count(d); i++) {
        int k = zf_dataset_label(d, i);
        if ((only >= 0 && k != only) || got[k] >= per) continue;
        got[k]++;
        size_t len = strlen(list);
        snprintf(list + len, cap - len, "%s%d", n++ ? "," : "", i);
    }
    free(got);
    return n ? 0 : cli_error("no test images to look at");
}

/* a command's entry point on an argument list (NULL-terminated; a NULL among the options ends
 * it early, which drops an unset --threads), recorded as the command line being run */
static int call(int (*cmd)(int, char **), const char *const *args) {
    char *argv[40];
    int argc = 0;
    for (; args[argc] && argc < 39; argc++) argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    cli_set_command(argc, argv);
    return cmd(argc, argv);
}

static const char *const tshirt_parts =
    "{\"parts\": {\n"
    "  \"left sleeve\": [[1,4,9,10],[1,4,9,10],[1,4,9,10],[1,4,9,10],[1,4,9,10]],\n"
    "  \"right sleeve\": [[19,4,27,10],[19,4,27,10],[19,4,27,10],[19,4,27,10],[19,4,27,10]],\n"
    "  \"collar\": [[10,0,18,6],[10,0,18,6],[10,0,18,6],[10,0,18,6],[10,0,18,6]]\n"
    "}}\n";

/* One step: cmd on args, announced by its title; skipped after a failed step (rc, returned) and,
 * with `missing`, when its file out/done is there already. */
static int step(int rc, const char *out, const char *done, int missing, const char *title,
                int (*cmd)(int, char **), const char *const *args) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", out, done);
    if (rc || (missing && access(path, F_OK) == 0)) return rc;
    printf("\n== %s\n", title);
    return call(cmd, args);
}

/* the evaluation (centre and ten crops, per class, the confusion matrix), the layer-1 filters,
 * the top-9 of 8 random maps per conv layer and their evolution over the snapshots */
static int views(const char *out, const char *best, const char *data, const char *seed,
                 const char *t, const char *th, int missing) {
    char ev[4200], c[4300], x[4300], fi[4200], t9[4200], evo[4200];
    snprintf(ev, sizeof ev, "%s/eval", out);
    snprintf(c, sizeof c, "%s/centre.json", ev);
    snprintf(x, sizeof x, "%s/ten-crop.json", ev);
    snprintf(fi, sizeof fi, "%s/filters", out);
    snprintf(t9, sizeof t9, "%s/top9", out);
    snprintf(evo, sizeof evo, "%s/evolution", out);
    const char *centre[] = {"eval", "--weights", best, "--data", data, "--json", c, t, th, NULL};
    const char *ten[] = {"eval", "--weights",  best, "--data", data, "--json",
                         x,      "--ten-crop", t,    th,       NULL};
    const char *filters[] = {"filters", "--weights", best, "--data", data, "-o", fi, t, th, NULL};
    const char *top9[] = {"top9",     "--weights", best, "--data", data, "--layers",
                          "all-conv", "--random",  "8",  "--seed", seed, "-o",
                          t9,         t,           th,   NULL};
    const char *evolution[] = {"evolution", "--run",    out, "--data", data, "--layers",
                               "all-conv",  "--random", "8", "--seed", seed, "-o",
                               evo,         t,          th,  NULL};
    int rc = make_dir(ev);
    rc = step(rc, out, "eval/centre.json", missing, "evaluation, centre crop", cmd_eval, centre);
    rc = step(rc, out, "eval/ten-crop.json", missing, "evaluation, ten crops", cmd_eval, ten);
    rc = step(rc, out, "filters/filters.json", missing, "layer-1 filters", cmd_filters, filters);
    rc = step(rc, out, "top9/top9.json", missing,
              "top-9 activations of 8 random maps per conv layer", cmd_top9, top9);
    return step(rc, out, "evolution/evolution.json", missing,
                "feature evolution over the snapshots", cmd_evolution, evolution);
}

/* occlusion of two test images per class, invariance of one per class to each transform */
static int experiments(const char *out, const char *best, const char *data, const char *two,
                       const char *one, const char *t, const char *th, int missing) {
    char occ[4200], inv[4200], done[64], title[80];
    snprintf(occ, sizeof occ, "%s/occlusion", out);
    snprintf(inv, sizeof inv, "%s/invariance", out);
    const char *oa[] = {
        "occlusion", "--weights", best,   "--data", data, "--items", two, "--object-threshold",
        "10",        "--fill",    "zero", "-o",     occ,  t,         th,  NULL};
    int rc = step(0, out, "occlusion/occlusion.json", missing,
                  "occlusion sensitivity: two test images per class", cmd_occlusion, oa);
    const char *kinds[] = {"translate", "scale", "rotate"};
    for (int k = 0; k < 3; k++) {
        snprintf(done, sizeof done, "invariance/invariance-%s.json", kinds[k]);
        snprintf(title, sizeof title, "invariance to %s: one test image per class", kinds[k]);
        const char *ia[] = {"invariance",  "--weights", best, "--data", data, "--items", one,
                            "--transform", kinds[k],    "-o", inv,      t,    th,        NULL};
        rc = step(rc, out, done, missing, title, cmd_invariance, ia);
    }
    return rc;
}

int demo_views(const char *out, const char *best, const char *data, uint64_t seed_value,
               int threads, int missing, int correspondence) {
    zf_dataset *d;
    zf_error err;
    if (zf_dataset_open(data, NULL, &d, &err)) return cli_fail(&err);
    char two[512], one[512], tees[256], dir[4200], parts[4300], th[16], seed[32];
    snprintf(th, sizeof th, "%d", threads > 0 ? threads : 0);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)seed_value);
    const char *t = threads > 0 ? "--threads" : NULL;
    int rc = pick_items(d, 2, -1, two, sizeof two) || pick_items(d, 1, -1, one, sizeof one);
    if (!rc && correspondence) rc = pick_items(d, 5, 0, tees, sizeof tees);
    zf_dataset_free(d);
    if (!rc) rc = views(out, best, data, seed, t, th, missing);
    if (!rc) rc = experiments(out, best, data, two, one, t, th, missing);
    snprintf(dir, sizeof dir, "%s/correspondence", out);
    snprintf(parts, sizeof parts, "%s/parts.json", dir);
    const char *corr[] = {"correspondence", "--weights", best, "--data", data, "--items", tees,
                          "--parts",        parts,       "-o", dir,      t,    th,        NULL};
    char done[4300];
    snprintf(done, sizeof done, "%s/correspondence.json", dir);
    if (rc || !correspondence || (missing && access(done, F_OK) == 0)) return rc;
    if ((rc = make_dir(dir))) return rc;
    if (zf_write_file(parts, tshirt_parts, strlen(tshirt_parts), &err)) return cli_fail(&err);
    return step(0, out, "correspondence/correspondence.json", 0,
                "correspondence: five T-shirts, sleeves and collar masked", cmd_correspondence,
                corr);
}

int demo_report(const char *out, int threads) {
    char th[16];
    snprintf(th, sizeof th, "%d", threads > 0 ? threads : 0);
    const char *rep[] = {"report", out, threads > 0 ? "--threads" : NULL, th, NULL};
    return call(cmd_report, rep);
}
