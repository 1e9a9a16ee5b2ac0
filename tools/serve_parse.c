/* Request parsing of zfnet serve: values, headers and multipart bodies (serve_parse.h). */
#define _GNU_SOURCE /* strcasestr */
#include "serve_parse.h"

#include <stdio.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

int sv_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    const char *p = s + (*s == '-');
    long v = 0;
    if (!*p || strlen(p) > 9) return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = 10 * v + (*p - '0');
    }
    if (*s == '-') v = -v;
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int name_char(int c) {
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}

int sv_layer_name_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 31) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i])) return 0;
    return 1;
}

int sv_image_id_ok(const char *s) {
    if (!s) return 0;
    size_t n = strlen(s);
    if (s[0] == 'u' && n == 17) {
        for (size_t i = 1; i < n; i++)
            if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
        return 1;
    }
    if (s[0] != 'd' || n < 2 || n > 10) return 0;
    for (size_t i = 1; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* "1.2.3.4:P" or "[v6]:P" with this port: an address, not a name (a name may be rebound) */
static int ip_literal_with_port(const char *host, int port) {
    char addr[300], want[16];
    const char *colon = strrchr(host, ':');
    snprintf(want, sizeof want, ":%d", port);
    if (!colon || strcmp(colon, want) || (size_t)(colon - host) >= sizeof addr) return 0;
    memcpy(addr, host, (size_t)(colon - host));
    addr[colon - host] = 0;
    size_t n = strlen(addr);
    if (n > 2 && addr[0] == '[' && addr[n - 1] == ']') {
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)addr[i]) && addr[i] != ':' && addr[i] != '.') return 0;
        return 1;
    }
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (addr[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)addr[i]))
            return 0;
    }
    return n > 0 && dots == 3;
}

int sv_host_ok(const char *host, const char *bind, int port) {
    if (!host || strlen(host) > 300) return 0;
    if (bind && (!strcmp(bind, "0.0.0.0") || !strcmp(bind, "::")) &&
        ip_literal_with_port(host, port))
        return 1; /* every address: any of the machine's, by number */
    const char *names[] = {"127.0.0.1", "localhost", "[::1]", bind};
    char want[320];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!names[i] || !*names[i]) continue;
        int v6 = strchr(names[i], ':') && names[i][0] != '[';
        snprintf(want, sizeof want, "%s%s%s:%d", v6 ? "[" : "", names[i], v6 ? "]" : "", port);
        if (!strcasecmp(host, want)) return 1;
        if (port == 80) {
            snprintf(want, sizeof want, "%s%s%s", v6 ? "[" : "", names[i], v6 ? "]" : "");
            if (!strcasecmp(host, want)) return 1;
        }
    }
    return 0;
}

int sv_origin_ok(const char *origin, const char *host) {
    return origin && host && !strncmp(origin, "http://", 7) && !strcasecmp(origin + 7, host);
}

int sv_cookie(const char *header, const char *name, char *out, size_t cap) {
    if (!header || !name || !cap) return -1;
    size_t nl = strlen(name);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ';') p++;
        size_t len = strcspn(p, ";");
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl >= cap) return -1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = 0;
            return 0;
        }
        p += len;
    }
    return -1;
}

int sv_auth_token(const char *header, char *out, size_t cap) {
    if (!header || strncasecmp(header, "token ", 6)) return -1;
    const char *v = header + 6;
    while (*v == ' ') v++;
    size_t n = strlen(v);
    while (n && v[n - 1] == ' ') n--;
    if (!n || n >= cap) return -1;
    memcpy(out, v, n);
    out[n] = 0;
    return 0;
}

int sv_token_eq(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = (unsigned)(la ^ lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
    return diff == 0 && lb > 0;
}

int sv_multipart_boundary(const char *ct, char *out, size_t cap) {
    if (!ct || strncasecmp(ct, "multipart/form-data", 19)) return -1;
    const char *b = strcasestr(ct, "boundary=");
    if (!b) return -1;
    b += 9;
    int quoted = *b == '"';
    b += quoted;
    size_t n = strcspn(b, quoted ? "\"" : "; \t");
    if (n < 1 || n > 70 || n >= cap) return -1;
    memcpy(out, b, n);
    out[n] = 0;
    return 0;
}

/* the first occurrence of needle (n bytes) in [p, end), or NULL */
static const uint8_t *find(const uint8_t *p, const uint8_t *end, const char *needle, size_t n) {
    for (; p && (size_t)(end - p) >= n; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) - n + 1);
        if (!p) return NULL;
        if (!memcmp(p, needle, n)) return p;
    }
    return NULL;
}

/* a part's headers [h, he): whether it carries a file */
static int part_is_file(const uint8_t *h, const uint8_t *he) {
    char head[2048];
    size_t n = (size_t)(he - h) < sizeof head - 1 ? (size_t)(he - h) : sizeof head - 1;
    memcpy(head, h, n);
    head[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (!head[i]) head[i] = ' '; /* a NUL inside headers is only more text */
    const char *cd = strcasestr(head, "content-disposition:");
    if (!cd) return 0;
    size_t line = strcspn(cd, "\r\n");
    char disp[2048];
    snprintf(disp, sizeof disp, "%.*s", (int)line, cd);
    return strcasestr(disp, "filename=") != NULL || strcasestr(disp, "name=\"file\"") != NULL;
}

int sv_multipart_file(const uint8_t *body, size_t len, const char *boundary, const uint8_t **data,
                      size_t *dlen) {
    char delim[80];
    int dl = snprintf(delim, sizeof delim, "--%s", boundary ? boundary : "");
    if (!boundary || !*boundary || dl >= (int)sizeof delim) return -1;
    const uint8_t *end = body + len, *p = find(body, end, delim, (size_t)dl);
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return -1; /* the closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return -1;
        const uint8_t *h = p + 2, *he = find(h, end, "\r\n\r\n", 4);
        if (!he) return -1;
        const uint8_t *d = he + 4;
        char next[84];
        int nl = snprintf(next, sizeof next, "\r\n%s", delim);
        const uint8_t *q = find(d, end, next, (size_t)nl);
        if (!q) return -1;
        if (part_is_file(h, he)) {
            *data = d, *dlen = (size_t)(q - d);
            return 0;
        }
        p = q + 2;
    }
    return -1;
}

int sv_path_ok(const char *path) {
    size_t n = path ? strlen(path) : 0;
    if (n < 1 || n > 64 || path[0] != '/') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c != '/' && !name_char(c)) return 0;
        if (c == '/' && path[i + 1] == '/') return 0;
        if (c == '.' && path[i + 1] == '.') return 0;
    }
    return 1;
}
