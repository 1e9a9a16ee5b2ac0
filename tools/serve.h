/* zfnet serve: the local explorer. serve.c opens the model and runs the server, serve_http.c is
 * the HTTP side (libmicrohttpd: security checks, bodies, routing, the request log, the job
 * queue), serve_api.c the routes that compute (each a call of libzfnet on the compute
 * worker), serve_parse.c what the server parses itself. docs/serve.md is the HTTP API. */
#ifndef ZF_SERVE_H
#define ZF_SERVE_H

#include "cli.h"
#include "serve_parse.h"

#include <jansson.h>
#include <pthread.h>

#define SV_IMAGES      64  /* uploads kept (the least recently used goes first) */
#define SV_QUEUE       16  /* jobs waiting for the compute worker; more: 503 */
#define SV_CONNECTIONS 512 /* open connections at most */
#define SV_TIMEOUT_S   30  /* an idle connection is closed after this */

struct MHD_Connection;
struct MHD_Daemon;

/* An uploaded image, prepared as the net's input. */
typedef struct sv_image {
    char id[24];
    float *x;      /* (c, h, w) */
    int w, h;      /* the file's own size */
    uint64_t used; /* when last asked for (0: a free slot) */
} sv_image;

/* A response: status, type and body (malloc'd; freed when sent). */
typedef struct sv_reply {
    int status;
    const char *type;
    char *body;
    size_t len;
    const char *disposition; /* a file name to save as, or NULL */
} sv_reply;

typedef struct sv_server sv_server;

/* Work for the compute worker: a route's handler with the request's parameters; the reply is
 * filled there, then the connection (suspended meanwhile) resumed. */
typedef struct sv_job {
    void (*run)(sv_server *s, struct sv_job *j);
    struct MHD_Connection *conn;
    const uint8_t *body; /* POST: the request body (the request owns it) */
    size_t len;
    const char *content_type;
    char image[24], layer[32], rule[16], format[16];
    long map, y, x;            /* -1: not given */
    long klass, offset, limit; /* -1: not given */
    int done;                  /* under the server's lock */
    sv_reply reply;
} sv_job;

struct sv_server {
    /* what serve was given */
    const char *bind;
    int port, quiet, threads;
    char token[SV_TOKEN_HEX + 1];
    /* the model, its preparation and the data it browses */
    zf_net *net;
    zf_data_prep prep;
    zf_shape in;
    int classes;
    char *weights, *data_spec;
    zf_dataset *data;
    char *model_json; /* GET /api/model, made once */
    /* the worker's last forward pass: its image and how far it went (-1: none to reuse) */
    char fwd_image[24];
    int fwd_upto;
    /* uploads and the job queue, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work;
    sv_image images[SV_IMAGES];
    uint64_t clock;
    sv_job *queue[SV_QUEUE];
    int qhead, qlen, stopping;
    pthread_t worker;
    struct MHD_Daemon *daemon;
    volatile long requests;
};

/* serve_http.c */
/* Start listening (s->port 0: a free one, written back); the worker thread too. */
int sv_http_start(sv_server *s);
/* Stop accepting, finish or refuse what is queued, join the worker, close everything. */
void sv_http_stop(sv_server *s);
/* A reply from text (copied) or JSON (serialised; decref'd). */
void sv_reply_text(sv_reply *r, int status, const char *type, const char *text);
void sv_reply_json(sv_reply *r, int status, json_t *j);
/* {"error": MSG} with a status. */
void sv_reply_error(sv_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* serve_api.c */
/* The route for `method` and `path`, as a job for the worker (NULL: not a compute route). */
void (*sv_route(const char *method, const char *path))(sv_server *s, sv_job *j);
/* GET /api/model's JSON, made once at start. */
char *sv_model_json(const sv_server *s);
/* The page (serve_page.c, generated from tools/serve_page.html). */
extern const char sv_page_html[];

#endif
