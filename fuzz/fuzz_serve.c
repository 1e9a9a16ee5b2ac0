/* zfnet serve's own request parsing (tools/serve_parse.c): the input is split at NUL bytes into
 * a Host header, a bound address, an Origin, a Cookie header, an Authorization header, a
 * Content-Type, a path, a parameter value and a body, each given to its parser. */
#include "fuzz.h"
#include "serve_parse.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *f[8] = {0};
    char *copy = malloc(size + 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    size_t at = 0;
    for (int k = 0; k < 8; k++) { /* fields up to a NUL; the rest is the body */
        f[k] = copy + at;
        at += strlen(copy + at) + (at < size);
        if (at > size) at = size;
    }
    const uint8_t *body = data + at, *file = NULL;
    size_t blen = size - at, flen = 0;
    char out[128], boundary[80];
    long v;
    unsigned sink = 0;
    sink += (unsigned)sv_host_ok(f[0], f[1], 8765) + (unsigned)sv_origin_ok(f[2], f[0]);
    sink += (unsigned)sv_cookie(f[3], "zfnet_token", out, sizeof out);
    sink += (unsigned)sv_auth_token(f[4], out, sizeof out);
    sink += (unsigned)sv_token_eq(f[4], f[3]);
    sink += (unsigned)sv_path_ok(f[6]) + (unsigned)sv_layer_name_ok(f[7]);
    sink += (unsigned)sv_image_id_ok(f[7]) + (unsigned)sv_int(f[7], -5, 1 << 20, &v);
    if (!sv_multipart_boundary(f[5], boundary, sizeof boundary) &&
        !sv_multipart_file(body, blen, boundary, &file, &flen)) {
        if (file < body || file + flen > body + blen) abort(); /* inside the body */
        for (size_t i = 0; i < flen; i++) sink += file[i];
    }
    fuzz_sink = sink;
    free(copy);
    return 0;
}
