/* zfnet serve: a run folder, a checkpoint or an ONNX file opened with the data it was trained
 * on, then served to the browser until SIGINT or SIGTERM (serve_http.c, serve_api.c). */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const cli_command serve_cmd = {
    "serve",
    "RUN_DIR | --weights W [--data SPEC] [--port P] [--bind ADDR] [--open] [--quiet]",
    "Serves a local page for looking inside a model: pick an image (from the dataset, or\n"
    "upload one), see its prediction, choose a layer and a feature map or unit and see its\n"
    "projection to pixels (DeconvNet, guided backprop or the gradient). RUN_DIR is a folder\n"
    "written by zfnet train (its best.safetensors, else last.safetensors, and its test set);\n"
    "--weights takes a checkpoint or an ONNX file (zfnet import's kind) instead.\n"
    "\n"
    "It prints one URL with a random token; open it in a browser on this machine (or through\n"
    "SSH port forwarding: docs/serve.md). Every request needs the token; the server answers\n"
    "only to its own address (127.0.0.1 by default), takes uploads up to 16 MiB, and the page\n"
    "uses documented HTTP routes a script can call too (docs/serve.md). Ctrl-C stops it.\n",
    0,
    1,
    "expected at most one RUN_DIR"};

typedef struct serve_args {
    const char *weights, *data, *bind;
    int port, open, quiet, threads;
    double task_idle;
} serve_args;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* RUN_DIR: its best (else last) checkpoint, and its test set unless --data names one */
static int from_run(sv_server *s, const char *run, serve_args *a, char *weights, size_t cap,
                    char **data) {
    struct stat sb;
    if (stat(run, &sb)) return cli_error("%s: %s", run, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cli_error("%s: not a folder (a run folder, or --weights FILE)", run);
    const char *names[] = {"best.safetensors", "last.safetensors"};
    for (int i = 0; i < 2 && !a->weights; i++) {
        snprintf(weights, cap, "%s/%s", run, names[i]);
        if (!stat(weights, &sb)) a->weights = weights;
    }
    if (!a->weights)
        return cli_error("%s holds no best.safetensors or last.safetensors (a folder written by "
                         "zfnet train)",
                         run);
    char state[4200];
    snprintf(state, sizeof state, "%s/state.safetensors", run);
    zf_st_file *f;
    sv_run_open(s, run);
    zf_error err; /* a run without snapshots serves its checkpoint alone */
    if (zf_run_snapshots(run, &s->snapshots, &s->snapshot_epochs, &s->nsnapshots, &err))
        s->nsnapshots = 0;
    if (!a->data && !zf_st_open(state, &f, NULL)) {
        json_t *cfg =
            json_loads(zf_st_meta(f, "train_config") ? zf_st_meta(f, "train_config") : "", 0, NULL);
        const char *test = json_string_value(json_object_get(cfg, "test"));
        if (test && strcmp(test, "none")) *data = strdup(test);
        json_decref(cfg);
        zf_st_free(f);
    }
    return 0;
}

/* the net and its preparation from a checkpoint or an ONNX file; the data to browse */
static int open_model(sv_server *s, const serve_args *a, const char *data) {
    zf_error err;
    zf_net_options no;
    cli_net_defaults(&no, a->threads);
    zf_status st = ends_with(a->weights, ".onnx")
                       ? zf_onnx_import(a->weights, &no, &s->net, &s->prep, &err)
                       : zf_checkpoint_open(a->weights, &no, &s->net, &s->prep, &err);
    if (st) return cli_fail(&err);
    s->in = zf_net_input_shape(s->net), s->classes = zf_net_classes(s->net);
    if (s->classes < 1) return cli_error("%s: the model has no classes to predict", a->weights);
    s->weights = strdup(a->weights);
    if (!data) return 0;
    s->data_spec = strdup(data);
    if (zf_data_prep_open(&s->prep, data, &s->data, &err)) return cli_fail(&err);
    if (zf_dataset_count(s->data) < 1) return cli_error("%s holds no images", data);
    zf_shape ds = zf_dataset_shape(s->data); /* one image through, to fail now, not later */
    uint8_t *px = malloc((size_t)ds.c * ds.h * ds.w);
    float *x = malloc(sizeof(float) * (size_t)s->in.c * s->in.h * s->in.w);
    int rc = !px || !x ? cli_error("out of memory") : 0;
    if (!rc && (zf_dataset_read(s->data, 0, px, &err) ||
                zf_data_prep_input(&s->prep, ds, px, s->in, x, &err)))
        rc = cli_error("%s: %s", data, err.msg);
    free(px), free(x);
    return rc;
}

static void server_free_snapshots(sv_server *s) {
    for (int i = 0; i < s->nsnapshots; i++) zf_free(s->snapshots[i]);
    zf_free(s->snapshots), zf_free(s->snapshot_epochs);
    s->snapshots = NULL, s->snapshot_epochs = NULL, s->nsnapshots = 0;
}

static void server_free(sv_server *s) {
    server_free_snapshots(s);
    json_decref(s->run_top9);
    for (int i = 0; i < SV_IMAGES; i++) free(s->images[i].x);
    zf_net_free(s->net);
    zf_data_prep_free(&s->prep);
    zf_dataset_free(s->data);
    free(s->weights), free(s->data_spec), free(s->model_json);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
}

static int new_token(char token[SV_TOKEN_HEX + 1]) {
    unsigned char b[SV_TOKEN_HEX / 2];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return cli_error("no random bytes for a token: %s", strerror(errno));
    for (size_t i = 0; i < sizeof b; i++) snprintf(token + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* --open: the desktop's browser, when there is one */
/* --open: the desktop's browser, when there is one, given a file only this user can read that
 * redirects to the URL (the token never appears on a command line other users can list) */
static char opened[4200]; /* the file --open gave the browser: removed when the server stops */

static void open_browser(const char *url) {
    if (access("/usr/bin/xdg-open", X_OK) || (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))) {
        fprintf(stderr, "zfnet serve: --open: no desktop here; open the URL by hand\n");
        return;
    }
    const char *dir = getenv("XDG_RUNTIME_DIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/zfnet-serve-XXXXXX.html", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(path, 5); /* mode 0600 */
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) {
        if (fd >= 0) close(fd);
        fprintf(stderr, "zfnet serve: --open: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f,
            "<!DOCTYPE html><meta http-equiv=\"refresh\" content=\"0;url=%s\">"
            "<a href=\"%s\">zfnet serve</a>\n",
            url, url);
    fclose(f);
    snprintf(opened, sizeof opened, "%s", path);
    pid_t pid = fork(); /* the browser's parent exits at once: no zombie of ours */
    if (pid == 0) {
        if (fork() == 0) execl("/usr/bin/xdg-open", "xdg-open", path, (char *)NULL);
        _exit(0);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
}

/* serve until SIGINT or SIGTERM (blocked in every thread, taken here) */
static int run_server(sv_server *s, const serve_args *a, const sigset_t *stop) {
    if (sv_tasks_start(s)) return 1;
    if (sv_http_start(s)) {
        s->stopping = 1;
        sv_tasks_stop(s);
        return 1;
    }
    const char *host = strchr(s->bind, ':') ? "[::1]" : "127.0.0.1";
    if (strcmp(s->bind, "127.0.0.1") && strcmp(s->bind, "::1"))
        fprintf(stderr,
                "zfnet serve: warning: listening on %s, not only this machine's loopback: anyone "
                "who can reach it and learns the token can use the server and its files' "
                "contents (SSH port forwarding is safer: docs/serve.md)\n",
                s->bind);
    else
        host = s->bind[0] == ':' ? "[::1]" : s->bind;
    char url[256];
    snprintf(url, sizeof url, "http://%s:%d/?token=%s", host, s->port, s->token);
    printf("zfnet serve: %s on %s; open %s\n", zf_model_name(zf_net_model(s->net)), s->weights,
           url);
    fflush(stdout);
    if (a->open) open_browser(url);
    int sig = 0;
    sigwait(stop, &sig);
    if (opened[0]) unlink(opened);
    sv_http_stop(s);
    sv_tasks_stop(s);
    printf("zfnet serve: stopped (%s) after %ld requests\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
           s->requests);
    return 0;
}

static pthread_t main_thread;

/* SIGINT or SIGTERM taken by a thread a library started before they were blocked (OpenBLAS
 * starts its pool when it is loaded): handed to the main thread, which waits for it */
static void forward_signal(int sig) {
    pthread_kill(main_thread, sig);
}

int cmd_serve(int argc, char **argv) {
    /* SIGINT and SIGTERM blocked in this thread and every thread started from here on, and
     * taken by run_server's sigwait; elsewhere forwarded there, never the default action */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    main_thread = pthread_self();
    struct sigaction fwd = {.sa_handler = forward_signal};
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &fwd, NULL), sigaction(SIGTERM, &fwd, NULL);
    serve_args a = {.bind = "127.0.0.1", .port = 8765, .task_idle = 15};
    const cli_opt own[] = {
        CLI_WEIGHTS(&a.weights, "a checkpoint or an ONNX file (instead of RUN_DIR)"),
        {"data", CLI_STR, &a.data, "SPEC", "the images to browse (default: the run's test set)"},
        {"port", CLI_INT, &a.port, "P", "the port (8765; 0: a free one)", 0, 65535},
        {"bind", CLI_STR, &a.bind, "ADDR", "the address to listen on (127.0.0.1: this machine)"},
        {"open", CLI_FLAG, &a.open, NULL, "open the page in the desktop's browser"},
        {"quiet", CLI_FLAG, &a.quiet, NULL, "no log line per request"},
        {"task-idle", CLI_DOUBLE, &a.task_idle, "S",
         "a task (top-9, occlusion) nobody asks about for S seconds is cancelled (15)", 0.5, 86400},
        CLI_THREADS(&a.threads),
        CLI_PRECISION,
        {0}};
    int npos, rc = cli_parse(&serve_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (!npos == !a.weights)
        return cli_usage_error("serve", "give a RUN_DIR or --weights (one of them)");
    char weights[4200], *data = NULL;
    sv_server s = {.bind = a.bind,
                   .port = a.port,
                   .quiet = a.quiet,
                   .threads = a.threads,
                   .fwd_upto = -1,
                   .task_idle = a.task_idle,
                   .open_weights = a.weights,
                   .net_snapshot = -1,
                   .task_net_snapshot = -1};
    if (npos && from_run(&s, argv[1], &a, weights, sizeof weights, &data)) {
        server_free_snapshots(&s);
        return 1;
    }
    s.open_weights = a.weights;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.work, NULL);
    rc = new_token(s.token) || open_model(&s, &a, a.data ? a.data : data);
    if (!rc && !(s.model_json = sv_model_json(&s))) rc = cli_error("out of memory");
    if (!rc) rc = run_server(&s, &a, &stop);
    free(data);
    server_free(&s);
    return rc;
}
