/* Status names, error messages and the always-on assertion. */
#include "internal.h"

#include <stdio.h>

zf_status zf_fail(zf_error *err, zf_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

_Noreturn void zf_assert_fail(const char *what, const char *file, int line) {
    fprintf(stderr, "zfnet: internal error: %s:%d: assertion '%s' failed\n", file, line, what);
    abort();
}

const char *zf_version(void) {
    return ZF_VERSION;
}

void zf_free(void *p) {
    free(p);
}

const char *zf_status_name(zf_status s) {
    switch (s) {
    case ZF_OK:
        return "ok";
    case ZF_ERR_IO:
        return "i/o error";
    case ZF_ERR_PARSE:
        return "parse error";
    case ZF_ERR_FORMAT:
        return "format error";
    case ZF_ERR_SHAPE:
        return "shape mismatch";
    case ZF_ERR_RANGE:
        return "out of range";
    case ZF_ERR_ARG:
        return "bad argument";
    case ZF_ERR_NOMEM:
        return "out of memory";
    case ZF_ERR_STATE:
        return "bad state";
    case ZF_ERR_CANCELLED:
        return "cancelled";
    case ZF_ERR_DIVERGED:
        return "diverged";
    }
    return "unknown status";
}
