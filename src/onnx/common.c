/* What ONNX export and import share: an allocation arena for the messages being built, base64
 * for the data mean in the metadata, float attributes read as the decimals they were, and
 * reading a file into a ModelProto. */
#include "onnx.h"

#include <stdlib.h>
#include <string.h>

void *onnx_alloc(onnx_arena *a, size_t bytes) {
    if (a->failed) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        void **p = realloc(a->p, cap * sizeof *p);
        if (!p) return a->failed = 1, NULL;
        a->p = p, a->cap = cap;
    }
    void *m = calloc(1, bytes ? bytes : 1);
    if (!m) return a->failed = 1, NULL;
    return a->p[a->n++] = m;
}

char *onnx_strdup(onnx_arena *a, const char *s) {
    char *d = onnx_alloc(a, strlen(s) + 1);
    if (d) memcpy(d, s, strlen(s) + 1);
    return d;
}

void onnx_arena_free(onnx_arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    free(a->p);
    *a = (onnx_arena){0};
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *onnx_base64(const void *data, size_t n) {
    const uint8_t *d = data;
    char *s = malloc((n + 2) / 3 * 4 + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *o++ = b64[v >> 18 & 63], *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = 0;
    return s;
}

uint8_t *onnx_unbase64(const char *s, size_t *n) {
    size_t len = strlen(s);
    if (len % 4) return NULL;
    uint8_t *d = malloc(len / 4 * 3 + 1);
    if (!d) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = s[i + j] ? strchr(b64, s[i + j]) : NULL;
            if (s[i + j] == '=' && i + 4 == len && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad) return free(d), NULL;
            v = v << 6 | (uint32_t)(p - b64);
        }
        d[o++] = (uint8_t)(v >> 16);
        if (pad < 2) d[o++] = (uint8_t)(v >> 8);
        if (pad < 1) d[o++] = (uint8_t)v;
    }
    *n = o;
    return d;
}

double onnx_float_value(float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

Onnx__ModelProto *onnx_read(const char *path, zf_error *err) {
    uint8_t *data = NULL;
    size_t len = 0;
    if (zf_read_file(path, &data, &len, err)) return NULL;
    Onnx__ModelProto *m = len ? onnx__model_proto__unpack(NULL, len, data) : NULL;
    free(data);
    if (!m)
        zf_fail(err, ZF_ERR_FORMAT, "%s: not an ONNX model (%s)", path,
                len ? "the bytes do not parse as an ONNX ModelProto" : "the file is empty");
    return m;
}
