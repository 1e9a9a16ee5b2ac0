/* The demo's share of the paper's experiments (ZF Figs. 5, 7, 8, Table 1) on the model it just
 * trained, through the same code as zfnet occlusion, invariance and correspondence: occlusion
 * on two test images per class (the square black, as Fashion-MNIST's background: a grey or
 * mean square on the black background reads as more garment), invariance curves on one image per
 * class for the three transforms, correspondence on five T-shirts (Fashion-MNIST's images are
 * aligned, so one rectangle is the same part in each). */
#include "draw.h"

#include <stdlib.h>
#include <string.h>

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

/* a command's entry point on an argument list */
static int call(int (*cmd)(int, char **), const char *const *args) {
    char *argv[32];
    int argc = 0;
    for (; args[argc] && argc < 31; argc++) argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    return cmd(argc, argv);
}

static const char *const tshirt_parts =
    "{\"parts\": {\n"
    "  \"left sleeve\": [[1,4,9,10],[1,4,9,10],[1,4,9,10],[1,4,9,10],[1,4,9,10]],\n"
    "  \"right sleeve\": [[19,4,27,10],[19,4,27,10],[19,4,27,10],[19,4,27,10],[19,4,27,10]],\n"
    "  \"collar\": [[10,0,18,6],[10,0,18,6],[10,0,18,6],[10,0,18,6],[10,0,18,6]]\n"
    "}}\n";

int demo_paper(const char *weights, const char *data, int threads, const char *out) {
    zf_dataset *d;
    zf_error err;
    if (zf_dataset_open(&d, data, NULL, &err)) return cli_fail(&err);
    char two[512], one[512], tees[256], dir[4200], parts[4300], th[16];
    snprintf(th, sizeof th, "%d", threads > 0 ? threads : 0);
    const char *t = threads > 0 ? "--threads" : NULL;
    int rc = pick_items(d, 2, -1, two, sizeof two) || pick_items(d, 1, -1, one, sizeof one) ||
             pick_items(d, 5, 0, tees, sizeof tees);
    zf_dataset_free(d);
    printf("\n== occlusion sensitivity: two test images per class\n");
    snprintf(dir, sizeof dir, "%s/occlusion", out);
    const char *occ[] = {
        "occlusion", "--weights", weights, "--data", data, "--items", two, "--object-threshold",
        "10",        "--fill",    "zero",  "-o",     dir,  t,         th,  NULL};
    if (!rc) rc = call(cmd_occlusion, occ);
    const char *kinds[] = {"translate", "scale", "rotate"};
    snprintf(dir, sizeof dir, "%s/invariance", out);
    for (int k = 0; !rc && k < 3; k++) {
        printf("\n== invariance to %s: one test image per class\n", kinds[k]);
        const char *inv[] = {"invariance",  "--weights", weights, "--data", data, "--items", one,
                             "--transform", kinds[k],    "-o",    dir,      t,    th,        NULL};
        rc = call(cmd_invariance, inv);
    }
    printf("\n== correspondence: five T-shirts, sleeves and collar masked\n");
    snprintf(dir, sizeof dir, "%s/correspondence", out);
    snprintf(parts, sizeof parts, "%s/parts.json", dir);
    if (!rc && !(rc = make_dir(dir)) &&
        zf_write_file(parts, tshirt_parts, strlen(tshirt_parts), &err))
        rc = cli_fail(&err);
    const char *corr[] = {"correspondence", "--weights", weights, "--data", data, "--items", tees,
                          "--parts",        parts,       "-o",    dir,      t,    th,        NULL};
    if (!rc) rc = call(cmd_correspondence, corr);
    return rc;
}
