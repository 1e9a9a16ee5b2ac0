/* zfnet report: the page's pieces (escaping, the run folder's files, assets copied beside the
 * page, sections and their provenance) and the command: the page is built in memory and
 * written at once, after its assets, so a report folder never holds a half-made index.html. */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void h_text(FILE *f, const char *s) {
    for (; s && *s; s++) switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
}

/* s percent-encoded for a relative URL: bytes other than letters, digits, '-', '.', '_', '~'
 * and '/' as %XX */
static void url_encode(char *out, size_t cap, const char *s) {
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-._~/", c))
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
    }
    out[n] = 0;
}

const char *h_num(const json_t *v, int digits, double scale, char buf[32]) {
    if (!json_is_number(v)) return "-";
    snprintf(buf, 32, "%.*f", digits, scale * json_number_value(v));
    return buf;
}

/* a path inside the run folder: relative, no ".." */
static int inside(const char *rel) {
    if (rel[0] == '/') return 0;
    for (const char *p = rel; (p = strstr(p, "..")); p += 2)
        if ((p == rel || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return 0;
    return 1;
}

int run_has(const report *r, const char *rel) {
    char path[8400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", r->run, rel);
    return inside(rel) && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

json_t *run_json(report *r, const char *rel) {
    if (!run_has(r, rel)) return NULL;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", r->run, rel);
    json_error_t e;
    zf_error oe;
    FILE *in = zf_fopen_read(path, &oe);
    json_t *j = in ? json_loadf(in, JSON_DECODE_ANY, &e) : NULL;
    if (in) fclose(in);
    if (!j) {
        if (in)
            fprintf(stderr, "zfnet report: note: %s:%d: %s; left out of the report\n", path, e.line,
                    e.text);
        else
            fprintf(stderr, "zfnet report: note: %s; left out of the report\n", oe.msg);
        r->notes++;
    }
    return j;
}

int run_asset(report *r, const char *rel, char *url, size_t cap) {
    char src[8400], dst[8400];
    if (!inside(rel)) return cli_error("%s: '%s' is outside the run folder", r->run, rel);
    snprintf(src, sizeof src, "%s/%s", r->run, rel);
    snprintf(dst, sizeof dst, "%s/assets/%s", r->dir, rel);
    char enc[8400];
    url_encode(enc, sizeof enc, rel);
    snprintf(url, cap, "assets/%s", enc);
    zf_error err;
    FILE *f = zf_fopen_read(src, &err);
    if (!f) return cli_error("%s", err.msg);
    char *buf = NULL;
    size_t len = 0, got;
    FILE *m = open_memstream(&buf, &len);
    char chunk[65536];
    while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, got, m);
    int bad = ferror(f);
    fclose(f);
    if (m) fclose(m);
    int rc = !m || bad                            ? cli_error("%s: cannot read", src)
             : make_parents(dst)                  ? 1
             : zf_write_file(dst, buf, len, &err) ? cli_error("%s", err.msg)
                                                  : 0;
    free(buf);
    return rc;
}

void section_begin(report *r, const char *id, const char *title) {
    if (r->ntoc < 40) {
        snprintf(r->toc[r->ntoc][0], 64, "%s", id);
        snprintf(r->toc[r->ntoc][1], 64, "%s", title);
        r->ntoc++;
    }
    fprintf(r->f, "<section id='%s'>\n<h2>", id);
    h_text(r->f, title);
    fprintf(r->f, "</h2>\n");
}

void section_end(report *r) {
    fprintf(r->f, "</section>\n");
}

void provenance(report *r, const json_t *doc, const char *const *raw) {
    const char *cmd = json_string_value(json_object_get(doc, "command"));
    fprintf(r->f, "<p class='how'>");
    if (cmd) {
        fprintf(r->f, "made by <code>");
        h_text(r->f, cmd);
        fprintf(r->f, "</code>");
    }
    int n = 0;
    for (; raw && *raw; raw++) {
        if (!run_has(r, *raw)) continue;
        char link[8400], enc[8400];
        snprintf(link, sizeof link, "%s%s", r->up, *raw);
        url_encode(enc, sizeof enc, link);
        fprintf(r->f, "%s<a href='%s",
                n++   ? ", "
                : cmd ? " &middot; raw numbers: "
                      : "raw numbers: ",
                enc);
        fprintf(r->f, "'>");
        h_text(r->f, *raw);
        fprintf(r->f, "</a>");
    }
    fprintf(r->f, "</p>\n");
}

/* ---- the page ------------------------------------------------------------------------------ */

static const char *const style =
    "body{font-family:system-ui,sans-serif;max-width:1180px;margin:0 auto;padding:0 1.2em 3em;"
    "color:#222;line-height:1.4}\n"
    "header{border-bottom:2px solid #345;margin-bottom:1em}h1{margin:.6em 0 .2em}"
    "h2{border-bottom:1px solid #ccc;margin-top:1.6em}h3{margin:1em 0 .3em}\n"
    ".headline{display:flex;flex-wrap:wrap;gap:.6em 2.2em;margin:.6em 0 1em}"
    ".headline div{font-size:.9em;color:#555}.headline "
    "b{display:block;font-size:1.5em;color:#123}\n"
    "nav{font-size:.92em;margin:.6em 0}nav a{margin-right:.9em;white-space:nowrap}\n"
    "table{border-collapse:collapse;margin:.4em 0 1em;font-size:.88em}"
    "th,td{border:1px solid #ccc;padding:2px 7px;text-align:right}"
    "th{background:#eef1f5}td.l,th.l{text-align:left}\n"
    "p.how{font-size:.8em;color:#555;word-break:break-all}p.how code{background:#f3f3f3}\n"
    "figure{margin:.6em 0 1.2em;display:inline-block;vertical-align:top}"
    "figcaption{font-size:.85em;color:#444;max-width:60em}\n"
    "img.px{image-rendering:pixelated}img.fig{max-width:100%;height:auto}\n"
    ".maps{display:flex;flex-wrap:wrap;gap:10px}.map{border:1px solid #ddd;padding:4px}"
    ".map .t{font-size:.78em;color:#555}.nine{display:grid;grid-template-columns:repeat(3,40px);"
    "gap:2px;float:left;margin-right:6px}.nine img{width:40px;height:40px;display:block}\n"
    ".zoom{display:none;position:fixed;inset:0;background:rgba(0,0,0,.72);z-index:9;"
    "align-items:center;justify-content:center}.zoom:target{display:flex}"
    ".zoom .box{background:#fff;padding:1em;border-radius:6px;max-width:95vw}"
    ".zoom .panes{display:flex;gap:14px;flex-wrap:wrap}.pane{position:relative;width:224px;"
    "height:224px;background:#777;overflow:hidden}.pane img{width:100%;height:100%;display:block}"
    ".rf{position:absolute;border:2px solid #f33;box-sizing:border-box}"
    ".inplace{position:absolute}.inplace img{width:100%;height:100%}\n"
    "@media print{nav,.zoom{display:none!important}section{break-before:auto}"
    "h2,h3{break-after:avoid}"
    "figure,table,.map{break-inside:avoid}body{max-width:none}a{color:inherit}}\n";

/* the run folder as a link from the report's folder: both resolved, then "../" for each folder
 * of dir below their common part */
static int link_up(report *r) {
    char run[PATH_MAX], dir[PATH_MAX];
    if (!realpath(r->run, run) || !realpath(r->dir, dir))
        return cli_error("%s: %s", r->dir, strerror(errno));
    size_t common = 0;
    for (size_t i = 0;; i++) {
        int end_r = run[i] == 0 || run[i] == '/', end_d = dir[i] == 0 || dir[i] == '/';
        if (end_r && end_d) common = i;
        if (run[i] != dir[i] || !run[i]) break;
    }
    size_t n = 0;
    r->up[0] = 0;
    for (const char *p = dir + common; *p && n + 4 < sizeof r->up; p++)
        if (*p == '/') n += (size_t)snprintf(r->up + n, sizeof r->up - n, "../");
    if (run[common])
        snprintf(r->up + n, sizeof r->up - n, "%s/", run + common + (run[common] == '/'));
    return 0;
}

/* the page around the sections: head, headline numbers, contents, then the body */
static int write_page(report *r, const char *headline) {
    char *page = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&page, &len);
    if (!f) return cli_error("out of memory");
    time_t now = time(NULL);
    char when[64], up[8400];
    url_encode(up, sizeof up, r->up[0] ? r->up : "./");
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    fprintf(f, "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
               "<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>");
    fprintf(f, "zfnet report: ");
    h_text(f, r->run);
    fprintf(f,
            "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>zfnet report: ", style);
    h_text(f, r->run);
    fprintf(f, "</h1>\n%s<nav>", headline);
    for (int i = 0; i < r->ntoc; i++) {
        fprintf(f, "<a href='#%s'>", r->toc[i][0]);
        h_text(f, r->toc[i][1]);
        fprintf(f, "</a>");
    }
    fprintf(f, "</nav>\n</header>\n<main>\n");
    fwrite(r->buf, 1, r->len, f);
    fprintf(f,
            "</main>\n<footer><p class='how'>written by zfnet %s on %s from the files in "
            "<a href='%s'>the run folder</a>; the report computes nothing of its own.</p>"
            "</footer>\n</body>\n</html>\n",
            ZF_VERSION, when, up);
    fclose(f);
    char path[8400];
    snprintf(path, sizeof path, "%s/index.html", r->dir);
    zf_error err;
    int rc = zf_write_file(path, page, len, &err) ? cli_error("%s", err.msg) : 0;
    free(page);
    return rc;
}

/* the numbers a reader looks for first, from the training state and the metrics */
static char *headline(report *r);

static int build(report *r) {
    int (*const sections[])(report *) = {
        section_model,          section_training,  section_eval,      section_filters,
        section_top9,           section_evolution, section_occlusion, section_invariance,
        section_correspondence, section_learning};
    r->f = open_memstream(&r->buf, &r->len);
    if (!r->f) return cli_error("out of memory");
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof sections / sizeof *sections; i++) rc = sections[i](r);
    fclose(r->f);
    if (rc) return rc;
    if (!r->ntoc)
        return cli_error("%s: nothing to report: no checkpoint, metrics.jsonl or analysis "
                         "outputs (filters/, top9/, eval/, ...) in it",
                         r->run);
    char *head = headline(r);
    rc = head ? write_page(r, head) : cli_error("out of memory");
    free(head);
    return rc;
}

static char *headline(report *r) {
    char *buf = NULL, num[32];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fprintf(f, "<div class='headline'>");
    zf_st_file *st = NULL;
    char path[8400];
    zf_error err;
    snprintf(path, sizeof path, "%s/state.safetensors", r->run);
    if (run_has(r, "state.safetensors") && zf_st_open(path, &st, &err) == ZF_OK) {
        json_t *cfg = json_loads(
            zf_st_meta(st, "train_config") ? zf_st_meta(st, "train_config") : "", 0, NULL);
        const char *model = json_string_value(json_object_get(cfg, "model")),
                   *train = json_string_value(json_object_get(cfg, "train"));
        if (model && train) {
            fprintf(f, "<div><b>");
            h_text(f, model);
            fprintf(f, "</b>trained on ");
            h_text(f, train);
            fprintf(f, "</div>");
        }
        json_decref(cfg);
        const char *best = zf_st_meta(st, "best"), *be = zf_st_meta(st, "best_epoch"),
                   *done = zf_st_meta(st, "epoch_done"), *el = zf_st_meta(st, "elapsed");
        if (best && atof(best) > 0)
            fprintf(f, "<div><b>%.2f%%</b>best test accuracy (epoch %d)</div>", 100 * atof(best),
                    be ? atoi(be) : 0);
        if (done) fprintf(f, "<div><b>%d</b>epochs trained</div>", atoi(done));
        if (el) fprintf(f, "<div><b>%.0f s</b>training time</div>", atof(el));
        zf_st_free(st);
    }
    if (r->params[0]) fprintf(f, "<div><b>%s</b>parameters</div>", r->params);
    char ten[8400];
    snprintf(ten, sizeof ten, "%s/eval/ten-crop.json", r->run);
    FILE *in = zf_fopen_read(ten, NULL);
    json_t *c = in ? json_loadf(in, 0, NULL) : NULL; /* a bad one is said by its section */
    if (in) fclose(in);
    if (c) {
        fprintf(f, "<div><b>%s%%</b>ten-crop top-1 error</div>",
                h_num(json_object_get(c, "top1_error"), 2, 100, num));
        json_decref(c);
    }
    fprintf(f, "</div>\n");
    fclose(f);
    return buf;
}

static const cli_command report_cmd = {
    "report",
    "RUN_DIR [-o DIR] [--compute] [--threads T]",
    "Writes DIR/index.html (RUN_DIR/report by default) and its assets/: one page with what the\n"
    "run folder holds, each section present when its files are: the model (layers, shapes,\n"
    "parameters, MACs, receptive fields), training (loss, accuracy and learning-rate curves, the\n"
    "recipe as run), evaluation (eval/*.json: centre, ten crops, per class, the confusion\n"
    "matrix), layer-1 filters, top-9 activations (click a tile for the whole image with the\n"
    "receptive field marked and its projection), feature evolution, occlusion, invariance,\n"
    "correspondence, transfer, probes and ablations (any transfer.json, probe.json or\n"
    "ablation.json in RUN_DIR or a folder of it). Each figure and table says the command that\n"
    "made it and links to its raw numbers in the run folder. The page opens from disk: nothing\n"
    "outside DIR is loaded (the raw-number links point into RUN_DIR). Nothing is recomputed,\n"
    "unless --compute: then the analyses the demo runs that are missing (eval, filters, top9,\n"
    "evolution, occlusion, invariance) are run first on the run's best checkpoint.\n",
    1,
    1,
    "expected one RUN_DIR"};

/* --compute: the demo's views that are missing, on the run's best (or last) checkpoint and its
 * test set (else its training set), as recorded in the run's state */
static int compute(const char *run, int threads) {
    char path[8400], best[8400];
    snprintf(best, sizeof best, "%s/best.safetensors", run);
    if (access(best, R_OK)) snprintf(best, sizeof best, "%s/last.safetensors", run);
    if (access(best, R_OK))
        return cli_error("%s: --compute needs best.safetensors or last.safetensors", run);
    snprintf(path, sizeof path, "%s/state.safetensors", run);
    zf_st_file *st;
    zf_error err;
    if (zf_st_open(path, &st, &err)) return cli_fail(&err);
    json_t *cfg =
        json_loads(zf_st_meta(st, "train_config") ? zf_st_meta(st, "train_config") : "", 0, NULL);
    zf_st_free(st);
    const char *test = json_string_value(json_object_get(cfg, "test")),
               *train = json_string_value(json_object_get(cfg, "train")),
               *seed = json_string_value(json_object_get(cfg, "seed"));
    const char *data = test && strcmp(test, "none") ? test : train;
    int rc = !data ? cli_error("%s: its training configuration names no dataset", path)
                   : demo_views(run, best, data, seed ? strtoull(seed, NULL, 10) : 1, threads, 1,
                                !strncmp(data, "fashion-mnist", 13));
    json_decref(cfg);
    return rc;
}

int cmd_report(int argc, char **argv) {
    const char *dir = NULL;
    int do_compute = 0, threads = 0, npos;
    const cli_opt own[] = {
        CLI_OUTPUT(&dir, "the report's folder (RUN_DIR/report)"),
        {"compute", CLI_FLAG, &do_compute, NULL, "run the missing analyses first"},
        CLI_THREADS(&threads),
        CLI_PRECISION,
        {0}};
    int rc = cli_parse(&report_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    report r = {.run = argv[1]};
    struct stat st;
    if (stat(r.run, &st) || !S_ISDIR(st.st_mode) || access(r.run, R_OK | X_OK))
        return cli_error("%s: %s", r.run,
                         stat(r.run, &st)      ? strerror(errno)
                         : S_ISDIR(st.st_mode) ? "cannot read the folder"
                                               : "not a folder (give a run folder)");
    char def[8400];
    snprintf(def, sizeof def, "%s/report", r.run);
    r.dir = dir ? dir : def;
    if (do_compute && (rc = compute(r.run, threads))) return rc;
    int existed = stat(r.dir, &st) == 0;
    rc = make_dir(r.dir) || link_up(&r) || build(&r);
    free(r.buf);
    if (rc && !existed) /* a folder made here, and only what was copied into it */
        remove_tree(r.dir);
    if (rc) return 1;
    printf("report: %s/index.html (%d sections)\n", r.dir, r.ntoc);
    return 0;
}
