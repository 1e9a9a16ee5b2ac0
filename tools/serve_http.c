/* zfnet serve's HTTP side on libmicrohttpd: every request is checked (its path, its Host, the
 * token, a same-origin Origin on POST, the body's size), then answered at once (the page, the
 * model) or handed to the compute worker as a job while its connection is suspended; one log
 * line per request. Connections, their memory and their idle time are bounded by the daemon. */
#define _GNU_SOURCE
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* what the daemon keeps per request */
typedef struct sv_request {
    double t0;
    char method[8], path[72];
    uint8_t *body;
    size_t len, cap;
    int too_big, status;
    int by_query;  /* the token came in the query */
    int want_body; /* an upload: the only body kept */
    size_t sent;
    sv_job *job;
} sv_request;

/* ---- replies ------------------------------------------------------------------------------- */

void sv_reply_text(sv_reply *r, int status, const char *type, const char *text) {
    *r = (sv_reply){.status = status, .type = type};
    r->body = strdup(text ? text : "");
    r->len = r->body ? strlen(r->body) : 0;
    if (!r->body) r->status = 500;
}

void sv_reply_json(sv_reply *r, int status, json_t *j) {
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    *r = (sv_reply){.status = text ? status : 500, .type = "application/json", .body = text};
    r->len = text ? strlen(text) : 0;
}

void sv_reply_error(sv_reply *r, int status, const char *fmt, ...) {
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sv_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result send_reply(struct MHD_Connection *c, sv_request *rq, sv_reply *r) {
    struct MHD_Response *resp =
        r->body ? MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return free(r->body), MHD_NO;
    r->body = NULL;
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' "
                            "blob: mediastream:; style-src 'self' 'unsafe-inline'; script-src "
                            "'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
    if (r->compute_ms > 0) {
        char t[96];
        snprintf(t, sizeof t, "queue;dur=%.2f, compute;dur=%.2f", r->wait_ms, r->compute_ms);
        MHD_add_response_header(resp, "Server-Timing", t);
    }
    if (r->disposition) {
        char d[160];
        snprintf(d, sizeof d, "attachment; filename=\"%s\"", r->disposition);
        MHD_add_response_header(resp, "Content-Disposition", d);
    }
    rq->status = r->status, rq->sent = r->len;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- checks -------------------------------------------------------------------------------- */

/* a query argument: NULL when absent; *bad when it holds a NUL byte */
static const char *arg(struct MHD_Connection *c, const char *name, int *bad) {
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &n) !=
            MHD_YES ||
        !v)
        return NULL;
    if (strlen(v) != n) *bad = 1;
    return v;
}

static const char *header(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The token, from the Authorization header (*by_header), the query or the cookie. 1: good. */
static int token_ok(const sv_server *s, struct MHD_Connection *c, int *by_header, int *by_query) {
    char t[128];
    int bad = 0;
    const char *q = arg(c, "token", &bad);
    *by_header = !sv_auth_token(header(c, "Authorization"), t, sizeof t);
    if (*by_header) return sv_token_eq(t, s->token);
    *by_query = q && !bad;
    if (*by_query) return sv_token_eq(q, s->token);
    char name[32]; /* one cookie per port: two servers on one host keep their own */
    snprintf(name, sizeof name, "zfnet_token_%d", s->port);
    return !sv_cookie(header(c, "Cookie"), name, t, sizeof t) && sv_token_eq(t, s->token);
}

/* the request's refusal (403, 404, 405, 413), or 0 to go on */
static int refuse(const sv_server *s, struct MHD_Connection *c, const sv_request *rq, sv_reply *r,
                  int *by_query) {
    const char *host = header(c, "Host");
    int by_header = 0, post = !strcmp(rq->method, "POST") || !strcmp(rq->method, "DELETE");
    int get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    if (!sv_path_ok(rq->path)) return sv_reply_error(r, 404, "no such path"), 1;
    if (!sv_host_ok(host, s->bind, s->port))
        return sv_reply_error(r, 403,
                              "Host '%.100s' is not this server's address (zfnet serve "
                              "answers only to its own name: DNS rebinding)",
                              host ? host : ""),
               1;
    if (!token_ok(s, c, &by_header, by_query))
        return sv_reply_error(r, 403, "a token is needed: open the URL zfnet serve printed"), 1;
    const char *origin = header(c, "Origin");
    if ((post && !by_header && !sv_origin_ok(origin, host)) ||
        (origin && !sv_origin_ok(origin, host)))
        return sv_reply_error(r, 403, "a cross-origin request ('%.100s') is refused",
                              origin ? origin : "no Origin"),
               1;
    if (!get && !post) return sv_reply_error(r, 405, "method %s is not served", rq->method), 1;
    if (rq->too_big)
        return sv_reply_error(r, 413, "the body is over %u MiB", SV_UPLOAD_MAX >> 20), 1;
    return 0;
}

/* ---- the job queue ------------------------------------------------------------------------- */

static void *worker(void *arg) {
    sv_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->qlen && !s->stopping) pthread_cond_wait(&s->work, &s->mu);
        if (!s->qlen) break;
        sv_job *j = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % SV_QUEUE, s->qlen--;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        double t0 = cli_now();
        if (stopping)
            sv_reply_error(&j->reply, 503, "the server is stopping");
        else
            j->run(s, j);
        j->reply.wait_ms = 1e3 * (t0 - j->queued), j->reply.compute_ms = 1e3 * (cli_now() - t0);
        pthread_mutex_lock(&s->mu);
        j->done = 1;
        MHD_resume_connection(j->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* the job in the queue and the connection suspended; or 503 when the queue is full */
static int enqueue(sv_server *s, struct MHD_Connection *c, sv_job *j, sv_reply *r) {
    pthread_mutex_lock(&s->mu);
    int full = s->qlen == SV_QUEUE || s->stopping;
    if (!full) {
        MHD_suspend_connection(c);
        j->queued = cli_now();
        s->queue[(s->qhead + s->qlen) % SV_QUEUE] = j, s->qlen++;
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
    if (full) sv_reply_error(r, 503, "busy: %d requests are waiting; try again", SV_QUEUE);
    return !full;
}

/* ---- parameters ---------------------------------------------------------------------------- */

/* the job's parameters from the query, each checked; 0 or a 400 reply */
static int job_params(struct MHD_Connection *c, sv_job *j, sv_reply *r) {
    int bad = 0;
    const char *image = arg(c, "image", &bad), *layer = arg(c, "layer", &bad);
    const char *rule = arg(c, "rule", &bad), *format = arg(c, "format", &bad);
    const char *kind = arg(c, "kind", &bad);
    const struct {
        const char *name;
        long *slot, hi;
    } nums[] = {{"map", &j->map, 1 << 20},       {"y", &j->y, 1 << 20},
                {"x", &j->x, 1 << 20},           {"class", &j->klass, 1 << 20},
                {"offset", &j->offset, 1 << 30}, {"limit", &j->limit, 1000},
                {"snapshot", &j->snapshot, 1000}};
    const char *nv[7];
    for (int k = 0; k < 7; k++) nv[k] = arg(c, nums[k].name, &bad);
    if (bad) return sv_reply_error(r, 400, "a parameter holds a NUL byte"), -1;
    if (image && !sv_image_id_ok(image))
        return sv_reply_error(r, 400, "image '%.40s' is not an image id", image), -1;
    if (layer && !sv_layer_name_ok(layer))
        return sv_reply_error(r, 400, "layer '%.40s' is not a layer name", layer), -1;
    if (rule && strcmp(rule, "deconvnet") && strcmp(rule, "guided") && strcmp(rule, "gradient"))
        return sv_reply_error(r, 400, "rule '%.40s': deconvnet, guided or gradient", rule), -1;
    if (kind && strcmp(kind, "top9") && strcmp(kind, "occlusion"))
        return sv_reply_error(r, 400, "kind '%.40s': top9 or occlusion", kind), -1;
    if (format && strcmp(format, "png") && strcmp(format, "safetensors") && strcmp(format, "json"))
        return sv_reply_error(r, 400, "format '%.40s': png, json or safetensors", format), -1;
    for (int k = 0; k < 7; k++) {
        *nums[k].slot = -1;
        if (nv[k] && sv_int(nv[k], 0, nums[k].hi, nums[k].slot))
            return sv_reply_error(r, 400, "%s '%.40s' is not a whole number in [0, %ld]",
                                  nums[k].name, nv[k], nums[k].hi),
                   -1;
    }
    snprintf(j->image, sizeof j->image, "%s", image ? image : "");
    snprintf(j->layer, sizeof j->layer, "%s", layer ? layer : "");
    snprintf(j->rule, sizeof j->rule, "%s", rule ? rule : "deconvnet");
    snprintf(j->format, sizeof j->format, "%s", format ? format : "");
    snprintf(j->kind, sizeof j->kind, "%s", kind ? kind : "");
    return 0;
}

/* ---- the handler --------------------------------------------------------------------------- */

/* the first visit's ?token=: a cookie, and the same page without the token in its address */
static enum MHD_Result welcome(struct MHD_Connection *c, sv_request *rq, const sv_server *s) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    char cookie[128];
    snprintf(cookie, sizeof cookie, "zfnet_token_%d=%s; HttpOnly; SameSite=Strict; Path=/", s->port,
             s->token);
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    MHD_add_response_header(resp, "Location", rq->path);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    rq->status = 303;
    enum MHD_Result ok = MHD_queue_response(c, 303, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* all of the request is here: checked, then answered or queued */
static enum MHD_Result dispatch(sv_server *s, struct MHD_Connection *c, sv_request *rq) {
    sv_reply r = {0};
    int by_query = rq->by_query;
    if (rq->too_big) {
        sv_reply_error(&r, 413, "the body is over %u MiB", SV_UPLOAD_MAX >> 20);
        return send_reply(c, rq, &r);
    }
    int get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    const char *method = !strcmp(rq->method, "HEAD") ? "GET" : rq->method; /* HEAD: GET's head */
    if (get && by_query && !strcmp(rq->path, "/")) return welcome(c, rq, s);
    if (get && !strcmp(rq->path, "/")) {
        sv_reply_text(&r, 200, "text/html; charset=utf-8", sv_page_html);
        return send_reply(c, rq, &r);
    }
    if (get && !strcmp(rq->path, "/api/model")) {
        sv_reply_text(&r, 200, "application/json", s->model_json);
        return send_reply(c, rq, &r);
    }
    sv_job params = {0};
    if (!strncmp(rq->path, "/api/tasks", 10)) { /* answered at once, under the lock */
        if (!job_params(c, &params, &r) && !sv_task_route(s, method, rq->path, &params, &r))
            sv_reply_error(&r, 404, "no route %s %s", rq->method, rq->path);
        return send_reply(c, rq, &r);
    }
    void (*run)(sv_server *, sv_job *) = sv_route(method, rq->path);
    if (!run) { /* a route of another method is 405, an unknown one 404 */
        int other = sv_route(get ? "POST" : "GET", rq->path) != NULL;
        sv_reply_error(&r, other ? 405 : 404, "%s %s %s", other ? "no method" : "no route",
                       rq->method, rq->path);
        return send_reply(c, rq, &r);
    }
    sv_job *j = calloc(1, sizeof *j);
    if (!j) return sv_reply_error(&r, 500, "out of memory"), send_reply(c, rq, &r);
    *j = (sv_job){.run = run,
                  .conn = c,
                  .body = rq->body,
                  .len = rq->len,
                  .content_type = header(c, "Content-Type")};
    if (job_params(c, j, &r) || !enqueue(s, c, j, &r)) {
        free(j);
        return send_reply(c, rq, &r);
    }
    rq->job = j;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    sv_server *s = cls;
    sv_request *rq = *con_cls;
    if (!rq) { /* the headers: a request to follow */
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *con_cls = rq, rq->t0 = cli_now();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        snprintf(rq->path, sizeof rq->path, "%s", url);
        const char *cl = header(c, "Content-Length");
        long n;
        if (cl && (sv_int(cl, 0, SV_UPLOAD_MAX, &n) || n < 0)) rq->too_big = 1;
        /* checked with the headers, before any body is read: a refusal costs no memory */
        sv_reply r = {0};
        if (refuse(s, c, rq, &r, &rq->by_query)) return send_reply(c, rq, &r);
        rq->want_body = !strcmp(method, "POST") && !strcmp(url, "/api/images");
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (!rq->want_body) return MHD_YES; /* a body nothing reads */
        if (rq->too_big || rq->len + n > SV_UPLOAD_MAX) return rq->too_big = 1, MHD_YES;
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 65536;
            while (cap < rq->len + n) cap *= 2;
            uint8_t *b = realloc(rq->body, cap);
            if (!b) return MHD_NO;
            rq->body = b, rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload, n), rq->len += n;
        return MHD_YES;
    }
    if (rq->job) { /* resumed: the worker has finished the job */
        sv_reply r = rq->job->reply;
        rq->job->reply.body = NULL;
        return send_reply(c, rq, &r);
    }
    return dispatch(s, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    (void)c;
    sv_server *s = cls;
    sv_request *rq = *con_cls;
    if (!rq) return;
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
    for (char *p = rq->method; *p; p++) /* the log shows no control characters */
        if (*p < 'A' || *p > 'Z') *p = '?';
    if (!sv_path_ok(rq->path)) snprintf(rq->path, sizeof rq->path, "(a path refused)");
    if (!s->quiet)
        fprintf(stderr, "zfnet serve: %s %s %d %zu B %.1f ms%s\n", rq->method, rq->path,
                rq->status ? rq->status : 499, rq->sent, 1e3 * (cli_now() - rq->t0),
                why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
    if (rq->job) free(rq->job->reply.body), free(rq->job);
    free(rq->body), free(rq);
    *con_cls = NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* No percent-decoding, of the path or the query: nothing the server takes needs it, and so a
 * %2e%2e or a %00 reaches the checks as it was sent (and is refused there). */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strlen(s);
}

/* The listening socket, bound here so that the port (a free one for --port 0) is known before
 * the daemon's threads read it. -1 after printing why. */
static int listen_on(sv_server *s, int *v6) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)s->port)};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    *v6 = inet_pton(AF_INET6, s->bind, &a6.sin6_addr) == 1;
    if (!*v6 && inet_pton(AF_INET, s->bind, &a4.sin_addr) != 1)
        return cli_error("--bind '%s' is not an IPv4 or IPv6 address", s->bind), -1;
    int fd = socket(*v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_storage got;
    socklen_t len = sizeof got;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 ||
        bind(fd, *v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4,
             *v6 ? (socklen_t)sizeof a6 : (socklen_t)sizeof a4) ||
        listen(fd, SOMAXCONN) || getsockname(fd, (struct sockaddr *)&got, &len)) {
        cli_error("cannot listen on %s port %d: %s (try --port 0 for a free one)", s->bind, s->port,
                  strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    s->port = ntohs(*v6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                        : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* the open-file limit raised for the connections (to the hard limit at most); how many fit */
static unsigned connection_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 256;
    rlim_t want = SV_CONNECTIONS + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 128 + 64
               ? (unsigned)(rl.rlim_cur - 64 < SV_CONNECTIONS ? rl.rlim_cur - 64 : SV_CONNECTIONS)
               : 128;
}

int sv_http_start(sv_server *s) {
    int v6, fd = listen_on(s, &v6);
    if (fd < 0) return 1;
    unsigned limit = connection_limit();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     (v6 ? MHD_USE_IPv6 : 0);
    if (pthread_create(&s->worker, NULL, worker, s)) {
        close(fd);
        return cli_error("cannot start a thread");
    }
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT,
                                 limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SV_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
        return cli_error("cannot start the HTTP server on %s port %d", s->bind, s->port);
    }
    return 0;
}

void sv_http_stop(sv_server *s) {
    MHD_socket listening = MHD_quiesce_daemon(s->daemon); /* no new connections */
    pthread_mutex_lock(&s->mu);
    s->stopping = 1; /* what is queued is answered 503, each connection resumed */
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->worker, NULL);
    MHD_stop_daemon(s->daemon);
    if (listening != MHD_INVALID_SOCKET) close(listening); /* only now: its number stays ours */
    s->daemon = NULL;
}
