/* What zfnet serve reads from a request itself (libmicrohttpd splits the request line, headers
 * and query string): parameter values, the Host, Origin, Cookie and Authorization headers, and
 * multipart/form-data bodies. Pure functions on bytes, so the fuzz target (fuzz/fuzz_serve.c)
 * can feed them anything. */
#ifndef ZF_SERVE_PARSE_H
#define ZF_SERVE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SV_TOKEN_HEX  32 /* a token: 128 random bits as hex */
#define SV_UPLOAD_MAX (16u << 20)

/* A whole decimal integer in [lo, hi] (no sign but '-', no spaces, no leading '+'): 0 and *out,
 * else -1. */
int sv_int(const char *s, long lo, long hi, long *out);
/* A layer name as model files allow it (letters, digits, '_', '-', '.', 1..31 bytes). */
int sv_layer_name_ok(const char *s);
/* An image id: 'u' and 16 hex digits (an upload) or 'd' and a dataset index (1..9 digits). */
int sv_image_id_ok(const char *s);
/* The Host header names this server: 127.0.0.1, localhost, [::1] or the bound address, with
 * the port (the port may be left out only for port 80). */
int sv_host_ok(const char *host, const char *bind, int port);
/* The Origin header is this server's own: "http://" + the (already checked) Host. */
int sv_origin_ok(const char *origin, const char *host);
/* The value of cookie `name` in a Cookie header into out (cap bytes): 0, or -1 when absent or
 * too long. */
int sv_cookie(const char *header, const char *name, char *out, size_t cap);
/* The token of an "Authorization: token XXX" header: 0, or -1. */
int sv_auth_token(const char *header, char *out, size_t cap);
/* Tokens compared in time independent of where they differ; 1 when equal. */
int sv_token_eq(const char *a, const char *b);
/* The boundary of a "multipart/form-data; boundary=..." Content-Type into out: 0, or -1. */
int sv_multipart_boundary(const char *content_type, char *out, size_t cap);
/* The first part of a multipart/form-data body that carries a file (a filename in its
 * Content-Disposition, or the field name "file"): its bytes (into the body) and length. 0, or
 * -1 when the body is not well formed or holds no file. */
int sv_multipart_file(const uint8_t *body, size_t len, const char *boundary, const uint8_t **data,
                      size_t *dlen);
/* Whether `path` is a request path the server answers at all ('/' and letters, digits, '_',
 * '-', '.'; no "..", no "//", at most 64 bytes). The *_ok functions return 1 or 0. */
int sv_path_ok(const char *path);

#endif
