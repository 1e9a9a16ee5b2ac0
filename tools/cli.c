/* Argument helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("zfnet: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "zfnet %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'zfnet %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    errno = 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno) {
        cli_error("%s: '%s' is not an integer", opt, s);
        return -1;
    }
    if (x < lo || x > hi) {
        cli_error("%s: %ld is out of range [%ld, %ld]", opt, x, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_parse_u64(const char *opt, const char *s, uint64_t *out) {
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-') {
        cli_error("%s: '%s' is not a non-negative integer", opt, s);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    errno = 0;
    char *end;
    double x = strtod(s, &end);
    if (!*s || *end || errno || x != x) {
        cli_error("%s: '%s' is not a number", opt, s);
        return -1;
    }
    if (x < lo || x > hi) {
        cli_error("%s: %g is out of range [%g, %g]", opt, x, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_parse_input_size(const char *s, zf_model_overrides *ov) {
    int c, h, w, used = -1;
    if (sscanf(s, "%dx%dx%d%n", &c, &h, &w, &used) == 3 && used == (int)strlen(s) && c > 0 &&
        h > 0 && w > 0 && c <= 65536 && h <= 65536 && w <= 65536) {
        ov->channels = c, ov->height = h, ov->width = w;
        return 0;
    }
    used = -1;
    if (sscanf(s, "%dx%d%n", &h, &w, &used) == 2 && used == (int)strlen(s) && h > 0 && w > 0 &&
        h <= 65536 && w <= 65536) {
        ov->height = h, ov->width = w;
        return 0;
    }
    used = -1;
    if (sscanf(s, "%d%n", &h, &used) == 1 && used == (int)strlen(s) && h > 0 && h <= 65536) {
        ov->height = ov->width = h;
        return 0;
    }
    cli_error("--input-size: '%s' is not CxHxW, HxW or N (e.g. 3x32x32)", s);
    return -1;
}

int cli_model_option(int ch, const char *arg, zf_model_overrides *ov) {
    long v;
    if (ch == 's') return cli_parse_input_size(arg, ov) ? 2 : 0;
    if (cli_parse_int("--classes", arg, 1, 1000000, &v)) return 2;
    ov->classes = (int)v;
    return 0;
}

int cli_open_net(const char *model, const zf_model_overrides *ov, const zf_net_options *no,
                 zf_net **out) {
    zf_error err;
    zf_model *m;
    *out = NULL;
    if (zf_model_load(&m, model, ov, &err)) return cli_error("%s", err.msg);
    zf_status st = zf_net_create(out, m, no, &err);
    zf_model_free(m);
    return st ? cli_error("%s", err.msg) : 0;
}

/* "[2,3,224,224]"; a first dimension <= 0 is written as N (any batch) */
void cli_shape_text(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++) {
        if (d == 0 && shape[0] <= 0)
            len += (size_t)snprintf(buf + len, cap - len, "N");
        else
            len +=
                (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? "," : "", (long long)shape[d]);
    }
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* Find an F32 tensor of X with the given trailing shape (dims[0] = batch, any). */
const zf_st_tensor *cli_need_tensor(const zf_st_file *f, const char *name, int ndim,
                                    const int64_t *want, int *ok) {
    const zf_st_tensor *t = zf_st_find(f, name);
    char got[128], exp[128];
    *ok = 0;
    if (!t) {
        cli_error("%s: no tensor '%s'", zf_st_path(f), name);
        return NULL;
    }
    if (t->dtype != ZF_DTYPE_F32) {
        cli_error("%s: tensor '%s' is %s, expected F32", zf_st_path(f), name,
                  zf_dtype_name(t->dtype));
        return NULL;
    }
    int same = t->ndim == ndim && t->shape[0] >= 1;
    for (int d = 1; same && d < ndim; d++) same = t->shape[d] == want[d];
    if (want[0] > 0 && same) same = t->shape[0] == want[0];
    if (!same) {
        cli_shape_text(got, sizeof got, t->ndim, t->shape);
        cli_shape_text(exp, sizeof exp, ndim, want);
        cli_error("%s: tensor '%s' has shape %s, expected %s", zf_st_path(f), name, got, exp);
        return NULL;
    }
    *ok = 1;
    return t;
}
