/* A progress line on a terminal (stderr), and two-panel SVG training curves. */
#include "run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void report_bad(const char *msg) {
    static char **seen;
    static int n;
    for (int i = 0; i < n; i++)
        if (!strcmp(seen[i], msg)) return;
    char **grown = realloc(seen, sizeof(char *) * (size_t)(n + 1));
    if (grown && (grown[n] = strdup(msg)))
        seen = grown, n++;
    else if (grown)
        seen = grown;
    fprintf(stderr, "%szfnet: skipped (replaced by another image): %s\n",
            isatty(2) ? "\r\033[K" : "", msg);
}

void progress_start(progress *p) {
    p->on = isatty(2);
    p->t0 = now_s(), p->last = 0;
}

static void fmt_time(char *out, size_t cap, double s) {
    if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

void progress_show(progress *p, const char *label, long done, long total, const char *extra) {
    double t = now_s();
    if (!p->on || (t - p->last < 0.2 && done < total)) return;
    p->last = t;
    int width = 24, fill = total ? (int)(width * done / total) : 0;
    char bar[32], eta[32] = "";
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = t - p->t0;
    if (done > 0 && done < total) fmt_time(eta, sizeof eta, el * (double)(total - done) / done);
    fprintf(stderr, "\r%s [%s] %3d%% %s%s%s  \033[K", label, bar,
            total ? (int)(100 * done / total) : 0, extra ? extra : "", eta[0] ? "  ETA " : "", eta);
    fflush(stderr);
}

void progress_end(progress *p) {
    if (p->on) fputs("\r\033[K", stderr), fflush(stderr);
}

/* One panel: a polyline over [x0, x1] x [y0, y1] into the box at (left, top). */
static void panel(FILE *f, double left, double top, double w, double h, const char *title, int n,
                  const double *x, const double *y, const char *colour) {
    double x0 = x[0], x1 = x[n - 1], y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) y0 = fmin(y0, y[i]), y1 = fmax(y1, y[i]);
    if (!(y1 > y0)) y0 -= 0.5, y1 += 0.5;
    double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
    if (x1 <= x0) x1 = x0 + 1;
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n",
            left, top, w, h);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='13' text-anchor='middle'>%s</text>\n",
            left + w / 2, top - 8, title);
    for (int t = 0; t <= 4; t++) { /* y ticks */
        double v = y0 + (y1 - y0) * t / 4, py = top + h - h * t / 4;
        fprintf(f,
                "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='#ddd'/>"
                "<text x='%.1f' y='%.1f' font-size='10' text-anchor='end'>%.4g</text>\n",
                left, left + w, py, py, left - 4, py + 3, v);
    }
    for (int t = 0; t <= 4; t++) { /* x ticks */
        double v = x0 + (x1 - x0) * t / 4, px = left + w * t / 4;
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>%.3g</text>\n", px,
                top + h + 14, v);
    }
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>epoch</text>\n",
            left + w / 2, top + h + 30);
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colour);
    for (int i = 0; i < n; i++)
        if (isfinite(y[i]))
            fprintf(f, "%.1f,%.1f ", left + w * (x[i] - x0) / (x1 - x0),
                    top + h - h * (y[i] - y0) / (y1 - y0));
    fprintf(f, "'/>\n");
}

int svg_curves(const char *path, const char *title, int n, const double *epoch, const double *loss,
               const double *acc) {
    if (n < 1) return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_error("out of memory");
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='840' height='360' "
               "font-family='sans-serif'>\n<rect width='840' height='360' fill='white'/>\n");
    fprintf(f, "<text x='420' y='20' font-size='15' text-anchor='middle'>%s</text>\n", title);
    panel(f, 70, 60, 320, 240, "training loss", n, epoch, loss, "#d62728");
    panel(f, 490, 60, 320, 240, "test accuracy (%)", n, epoch, acc, "#1f77b4");
    fprintf(f, "</svg>\n");
    fclose(f);
    zf_error err;
    int rc = zf_write_file(path, buf, len, &err) ? cli_error("%s", err.msg) : 0;
    free(buf);
    return rc;
}
