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

#define SV_IMAGES      64   /* uploads kept (the least recently used goes first) */
#define SV_QUEUE       16   /* jobs waiting for the compute worker; more: 503 */
#define SV_CONNECTIONS 4096 /* open connections at most (the file limit is raised for them) */
#define SV_TIMEOUT_S   30   /* an idle connection is closed after this */
#define SV_TASKS       8    /* background tasks kept (queued, running or finished) */

struct MHD_Connection;
struct MHD_Daemon;

/* An uploaded image, prepared as the net's input. */
typedef struct sv_image {
    char id[24];
    float *x;      /* (c, h, w) */
    int w, h;      /* the file's own size */
    uint64_t used; /* when last asked for (0: a free slot) */
} sv_image;

enum {
    SV_TASK_FREE = 0,
    SV_TASK_QUEUED,
    SV_TASK_RUNNING,
    SV_TASK_DONE,
    SV_TASK_FAILED,
    SV_TASK_CANCELLED
};
enum { SV_TASK_TOP9 = 1, SV_TASK_OCCLUSION };

/* A long computation (a top-9 scan over the dataset, an occlusion map) on the task worker,
 * followed by the page through its progress; cancelled on request, or when nobody has asked
 * for it for --task-idle seconds (the page went away). Under the server's lock. */
typedef struct sv_task {
    char id[24];
    int kind, state;
    long done, total;
    char label[48], error[1024];
    int cancel;
    double polled, started;
    char image[24];
    int layer, map, klass, snapshot;
    json_t *result; /* when done */
    uint8_t *png;   /* when done: the picture */
    size_t png_len;
    struct sv_server *server;
} sv_task;

/* A response: status, type and body (malloc'd; freed when sent). */
typedef struct sv_reply {
    int status;
    const char *type;
    char *body;
    size_t len;
    const char *disposition;    /* a file name to save as, or NULL */
    double wait_ms, compute_ms; /* a job's time in the queue and at work (Server-Timing) */
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
    char image[24], layer[32], rule[16], format[16], kind[16];
    long map, y, x;            /* -1: not given */
    long snapshot;             /* the run's snapshot to use (-1: the served weights) */
    double queued;             /* when it was queued */
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
    /* a run folder's snapshots (epoch-N.safetensors, last), and which each net holds now
     * (-1: the served weights) */
    char **snapshots;
    int *snapshot_epochs, nsnapshots, net_snapshot, task_net_snapshot;
    /* a run folder's top9/top9.json (NULL: none) and that folder */
    json_t *run_top9;
    char run_top9_dir[4200];
    /* uploads and the job queue, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work;
    sv_image images[SV_IMAGES];
    uint64_t clock;
    sv_job *queue[SV_QUEUE];
    int qhead, qlen, stopping;
    pthread_t worker;
    /* background tasks: their own net, thread and wake-up, under mu */
    sv_task tasks[SV_TASKS];
    zf_net *task_net;
    pthread_t tasker;
    pthread_cond_t task_work;
    double task_idle;
    const char *open_weights; /* to open task_net alike */
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

/* serve_tasks.c */
int sv_tasks_start(sv_server *s);
void sv_tasks_stop(sv_server *s);
/* The /api/tasks routes (answered at once, under the lock); 0 when `path` is not one. */
int sv_task_route(sv_server *s, const char *method, const char *path, const sv_job *p, sv_reply *r);

/* serve_run.c: a run folder's own files */
/* Read RUN/top9/top9.json as the index of the top-9 pictures the run holds (none: left NULL). */
void sv_run_open(sv_server *s, const char *run);
/* {layer: [maps]} of the run's top-9. */
json_t *sv_run_top9_index(const sv_server *s);
void (*sv_run_route(const char *method, const char *path))(sv_server *s, sv_job *j);

/* serve_api.c */
/* Image `id` as the net's input into x (an upload or a dataset item); 0, or -1 with a reply. */
int sv_image_input(sv_server *s, const char *id, float *x, sv_reply *r);
/* (c, h, w) bytes as a PNG reply, each pixel zoom x zoom. */
void sv_png_reply(sv_reply *r, const uint8_t *chw, int c, int h, int w, int zoom);
/* Give `net` (holding snapshot *held) the weights of snapshot `want` (-1: the served ones). */
zf_status sv_use_snapshot(sv_server *s, zf_net *net, int *held, int want, zf_error *err);
/* The route for `method` and `path`, as a job for the worker (NULL: not a compute route). */
void (*sv_route(const char *method, const char *path))(sv_server *s, sv_job *j);
/* GET /api/model's JSON, made once at start. */
char *sv_model_json(const sv_server *s);
/* The page (serve_page.c, generated from tools/serve_page.html). */
extern const char sv_page_html[];

#endif
