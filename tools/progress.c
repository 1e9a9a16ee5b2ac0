/* How the command line shows the library's progress and notices: a progress line on a terminal
 * (stderr), skipped and replaced files on stderr, informational lines where the command says. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One progress line at a time (per process): redrawn at most 5 times a second. */
static struct {
    int on;
    char label[96];
    long last_done;
    double t0, last;
} bar;

static void fmt_time(char *out, size_t cap, double s) {
    if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

static void on_progress(void *ctx, const char *label, long done, long total, const char *extra) {
    (void)ctx;
    if (!label) { /* the step ended */
        if (bar.on) fputs("\r\033[K", stderr), fflush(stderr);
        bar.on = 0, bar.label[0] = 0;
        return;
    }
    double t = cli_now();
    if (strcmp(label, bar.label) || done < bar.last_done) { /* a new step */
        snprintf(bar.label, sizeof bar.label, "%s", label);
        bar.on = isatty(2), bar.t0 = t, bar.last = 0;
    }
    bar.last_done = done;
    if (!bar.on || (t - bar.last < 0.2 && done < total)) return;
    bar.last = t;
    int width = 24, fill = total ? (int)(width * done / total) : 0;
    char line[32], eta[32] = "";
    for (int i = 0; i < width; i++) line[i] = i < fill ? '#' : '.';
    line[width] = 0;
    double el = t - bar.t0;
    if (done > 0 && done < total) fmt_time(eta, sizeof eta, el * (double)(total - done) / done);
    fprintf(stderr, "\r%s [%s] %3d%% %s%s%s  \033[K", label, line,
            total ? (int)(100 * done / total) : 0, extra ? extra : "", eta[0] ? "  ETA " : "", eta);
    fflush(stderr);
}

/* a file the loader replaced: once per message per process */
static void report_replaced(const char *msg) {
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

static void on_notice(void *ctx, zf_notice_kind kind, const char *msg) {
    FILE *info = ctx;
    switch (kind) {
    case ZF_NOTICE_SKIPPED:
        fprintf(stderr, "%szfnet: skipped: %s\n", isatty(2) ? "\r\033[K" : "", msg);
        break;
    case ZF_NOTICE_REPLACED:
        report_replaced(msg);
        break;
    case ZF_NOTICE_INFO:
        if (info) fprintf(info, "%s\n", msg), fflush(info);
        break;
    case ZF_NOTICE_WARNING:
        fprintf(stderr, "%szfnet: warning: %s\n", isatty(2) ? "\r\033[K" : "", msg);
        break;
    }
}

zf_callbacks cli_callbacks(FILE *info) {
    return (zf_callbacks){.progress = on_progress, .notice = on_notice, .ctx = info};
}
