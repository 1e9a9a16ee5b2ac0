/* The option parser every command uses (its tables also print --help), the shared option
 * groups and value parsers, and messages. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int cli_fail(const zf_error *err) {
    if (err->status == ZF_ERR_CANCELLED) return 1; /* our callback stopped it and said why */
    return cli_error("%s", err->msg);
}

/* ---- values ---------------------------------------------------------------------------------- */

enum { NUM_INT, NUM_U64, NUM_REAL };
static const char *const number_kinds[] = {"an integer", "a non-negative integer", "a number"};

/* s as a long (NUM_INT), uint64_t (NUM_U64) or double (NUM_REAL) into out; integers and reals
 * within [lo, hi]. Prints why not and returns -1. */
static int parse_number(const char *opt, const char *s, int kind, double lo, double hi, void *out) {
    errno = 0;
    char *end = NULL;
    long i = 0;
    unsigned long long u = 0;
    double x = 0;
    if (kind == NUM_INT)
        x = (double)(i = strtol(s, &end, 10));
    else if (kind == NUM_U64)
        u = strtoull(s, &end, 10);
    else
        x = strtod(s, &end);
    if (!*s || *end || errno || x != x || (kind == NUM_U64 && *s == '-')) {
        cli_error("%s: '%s' is not %s", opt, s, number_kinds[kind]);
        return -1;
    }
    if (kind == NUM_INT && (x < lo || x > hi)) {
        cli_error("%s: %ld is out of range [%ld, %ld]", opt, i, (long)lo, (long)hi);
        return -1;
    }
    if (kind == NUM_REAL && (x < lo || x > hi)) {
        cli_error("%s: %g is out of range [%g, %g]", opt, x, lo, hi);
        return -1;
    }
    if (kind == NUM_INT)
        *(long *)out = i;
    else if (kind == NUM_U64)
        *(uint64_t *)out = u;
    else
        *(double *)out = x;
    return 0;
}

int cli_parse_int_value(const char *opt, const char *s, long lo, long hi, long *out) {
    return parse_number(opt, s, NUM_INT, (double)lo, (double)hi, out);
}

int cli_parse_int_list(const char *opt, const char *arg, long lo, long hi, int *out, int cap,
                       int *n) {
    *n = 0;
    for (const char *t = arg; *t;) {
        char tok[32];
        size_t len = strcspn(t, ",");
        long v;
        snprintf(tok, sizeof tok, "%.*s", (int)(len < 31 ? len : 31), t);
        if (*n == cap) return cli_error("%s: at most %d values", opt, cap), 2;
        if (cli_parse_int_value(opt, tok, lo, hi, &v)) return 2;
        out[(*n)++] = (int)v;
        t += len + (t[len] == ',');
    }
    return 0;
}

int cli_parse_classes(const char *opt, const char *arg, void *target) {
    long v;
    if (cli_parse_int_value(opt, arg, 1, 1000000, &v)) return 2;
    ((zf_model_overrides *)target)->classes = (int)v;
    return 0;
}

int cli_parse_input_size(const char *opt, const char *s, void *target) {
    zf_model_overrides *ov = target;
    int c, h, w, used = -1, len = (int)strlen(s);
    if (sscanf(s, "%dx%dx%d%n", &c, &h, &w, &used) == 3 && used == len && c > 0 && h > 0 && w > 0 &&
        c <= 65536 && h <= 65536 && w <= 65536) {
        ov->channels = c, ov->height = h, ov->width = w;
        return 0;
    }
    used = -1;
    if (sscanf(s, "%dx%d%n", &h, &w, &used) == 2 && used == len && h > 0 && w > 0 && h <= 65536 &&
        w <= 65536) {
        ov->height = h, ov->width = w;
        return 0;
    }
    used = -1;
    if (sscanf(s, "%d%n", &h, &used) == 1 && used == len && h > 0 && h <= 65536) {
        ov->height = ov->width = h;
        return 0;
    }
    cli_error("%s: '%s' is not CxHxW, HxW or N (e.g. 3x32x32)", opt, s);
    return 2;
}

int cli_parse_random(const char *opt, const char *arg, void *target) {
    map_choice *mc = target;
    long v;
    if (cli_parse_int_value(opt, arg, 1, 1 << 16, &v)) return 2;
    mc->maps = NULL, mc->nrandom = (int)v;
    return 0;
}

/* a library name parser's error, prefixed with the option */
static int name_error(const char *opt, zf_status st, const zf_error *err) {
    if (!st) return 0;
    cli_error("%s: %s", opt, err->msg);
    return 2;
}

/* the library's parser of a choice's name into *target; its error prefixed with the option */
#define NAME_PARSER(fn, parse)                                                                     \
    int fn(const char *opt, const char *arg, void *target) {                                       \
        zf_error err;                                                                              \
        return name_error(opt, parse(arg, target, &err), &err);                                    \
    }
NAME_PARSER(cli_parse_backend, zf_backend_parse)

zf_precision cli_precision = ZF_PRECISION_FP32;

int cli_parse_precision(const char *opt, const char *arg, void *target) {
    zf_error err;
    zf_precision *p = target;
    if (name_error(opt, zf_precision_parse(arg, p, &err), &err)) return 2;
    char why[200];
    int has = zf_cpu_has_bf16(why, sizeof why);
    if (*p == ZF_PRECISION_BF16 && !has) {
        cli_error("%s bf16: %s; use fp32 or auto", opt, why);
        return 2;
    }
    if (*p == ZF_PRECISION_AUTO) {
        static int said;
        if (!said++ && has)
            fprintf(stderr, "zfnet: %s auto: bf16 (this CPU has AVX512-BF16)\n", opt);
        else if (said == 1)
            fprintf(stderr, "zfnet: %s auto: fp32 (%s)\n", opt, why);
    }
    return 0;
}

void cli_net_defaults(zf_net_options *no, int threads) {
    zf_net_defaults(no);
    no->threads = threads;
    no->precision = cli_precision;
}
NAME_PARSER(cli_parse_rule, zf_rule_parse)
NAME_PARSER(cli_parse_lrn, zf_lrn_rule_parse)

void cli_group_overrides(cli_opt g[3], zf_model_overrides *ov) {
    static const cli_opt group[3] = {
        {"classes", CLI_CALL, NULL, "N", "override the model's classes (the last fc's outputs)",
         .parse = cli_parse_classes},
        {"input-size", CLI_CALL, NULL, "SIZE",
         "override the model's input: CxHxW, HxW or N (square)", .parse = cli_parse_input_size},
        {0}};
    memcpy(g, group, sizeof group);
    g[0].target = g[1].target = ov;
}

int cli_parse_overrides(const cli_command *cmd, const cli_opt *own, zf_model_overrides *ov,
                        int argc, char **argv, int *npos) {
    cli_opt g[3];
    cli_group_overrides(g, ov);
    return cli_parse(cmd, own, g, argc, argv, npos);
}

int cli_model_command(const cli_command *cmd, const cli_opt *own, int argc, char **argv,
                      zf_net **net) {
    zf_model_overrides ov = {0};
    int npos, rc = cli_parse_overrides(cmd, own, &ov, argc, argv, &npos);
    if (rc >= 0) return rc;
    return cli_open_net(argv[1], &ov, NULL, net) ? 1 : -1;
}

int cli_parse_maps(const cli_command *cmd, const cli_opt *own, map_choice *mc,
                   const char *layers_help, const char *random_help, int argc, char **argv,
                   int *npos) {
    const cli_opt g[5] = {
        {"layers", CLI_STR, &mc->layers, "L1,L2,...", layers_help},
        {"maps", CLI_STR, &mc->maps, "K1,K2,...", "these maps in every chosen layer"},
        {"random", CLI_CALL, mc, "N", random_help, .parse = cli_parse_random},
        {"seed", CLI_U64, &mc->seed, "S", "the shuffle's seed (1)"},
        {0}};
    return cli_parse(cmd, own, g, argc, argv, npos);
}

/* ---- the parser ------------------------------------------------------------------------------ */

static void cli_help(const cli_command *cmd, const cli_opt *const *groups, FILE *out);

static const cli_opt help_opt = {"help", CLI_FLAG, NULL, NULL, "this text", .alias = 'h'};

/* The option called `name` (a long name, or a one-letter alias when alias is set). */
static const cli_opt *find_opt(const cli_opt *const *groups, const char *name, size_t len,
                               int alias) {
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *o = groups[g]; o->kind != CLI_END; o++)
            if (o->kind != CLI_HEADING &&
                (alias ? len == 1 && o->alias == name[0]
                       : strlen(o->name) == len && !strncmp(o->name, name, len)))
                return o;
    if (alias ? len == 1 && name[0] == 'h' : len == 4 && !strncmp(name, "help", 4))
        return &help_opt;
    return NULL;
}

/* Store one option's value; the exit code on a bad one. */
static int take(const cli_opt *o, const char *arg) {
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", o->name);
    long v;
    if (o->given) *o->given = 1;
    switch (o->kind) {
    case CLI_FLAG:
        if (o->parse) return o->parse(opt, NULL, o->target);
        *(int *)o->target = !o->off;
        return 0;
    case CLI_STR:
        *(const char **)o->target = arg;
        return 0;
    case CLI_INT:
        if (cli_parse_int_value(opt, arg, (long)o->lo, (long)o->hi, &v)) return 2;
        *(int *)o->target = (int)v;
        return 0;
    case CLI_U64:
        return parse_number(opt, arg, NUM_U64, 0, 0, o->target) ? 2 : 0;
    case CLI_DOUBLE:
        return parse_number(opt, arg, NUM_REAL, o->lo, o->hi, o->target) ? 2 : 0;
    case CLI_CALL:
        return o->parse(opt, arg, o->target);
    case CLI_HEADING:
    case CLI_END:
        break;
    }
    return 2;
}

/* One option at argv[*i] (advancing past its value) into *found; -1 to go on, else an exit
 * code. */
static int one_option(const cli_command *cmd, const cli_opt *const *groups, int argc, char **argv,
                      int *i, const cli_opt **found) {
    const char *a = argv[*i], *name = a[1] == '-' ? a + 2 : a + 1, *eq = strchr(name, '=');
    int alias = a[1] != '-';
    size_t len = eq && !alias ? (size_t)(eq - name) : strlen(name);
    const cli_opt *o = *found = find_opt(groups, name, len, alias);
    if (!o) return cli_usage_error(cmd->name, "unknown option '%s'", a);
    if (o == &help_opt) {
        cli_help(cmd, groups, stdout);
        return 0;
    }
    const char *value = NULL;
    if (o->kind == CLI_FLAG) {
        if (eq && !alias) return cli_usage_error(cmd->name, "--%s takes no value", o->name);
    } else if (eq && !alias)
        value = eq + 1;
    else if (*i + 1 < argc)
        value = argv[++*i];
    else
        return cli_usage_error(cmd->name, "%s needs a value (%s)", a, o->arg ? o->arg : "");
    int rc = take(o, value);
    return rc ? rc : -1;
}

static int check_required(const cli_command *cmd, const cli_opt *const *groups,
                          const unsigned char *seen) {
    int k = 0;
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *o = groups[g]; o->kind != CLI_END; o++, k++)
            if (o->required && !seen[k])
                return cli_usage_error(cmd->name, "--%s is required", o->name);
    return -1;
}

/* index of o among all options (for the seen flags) */
static int index_of(const cli_opt *const *groups, const cli_opt *o) {
    int k = 0;
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *p = groups[g]; p->kind != CLI_END; p++, k++)
            if (p == o) return k;
    return -1;
}

int cli_parse(const cli_command *cmd, const cli_opt *own, const cli_opt *extra, int argc,
              char **argv, int *npos) {
    const cli_opt *groups[3] = {0};
    int ng = 0;
    if (own) groups[ng++] = own;
    if (extra) groups[ng++] = extra;
    unsigned char seen[256] = {0};
    int rc = -1, options = 1;
    *npos = 0;
    if (cli_doc_active()) return cli_doc_emit(cmd, groups);
    for (int i = 1; rc < 0 && i < argc; i++) {
        const char *a = argv[i];
        if (options && !strcmp(a, "--")) {
            options = 0;
            continue;
        }
        if (!options || a[0] != '-' || !a[1]) { /* positional ("-" alone too) */
            argv[++*npos] = argv[i];
            continue;
        }
        const cli_opt *o;
        rc = one_option(cmd, groups, argc, argv, &i, &o);
        int k = o ? index_of(groups, o) : -1;
        if (k >= 0 && k < 256) seen[k] = 1;
    }
    if (rc >= 0 || (rc = check_required(cmd, groups, seen)) >= 0) return rc;
    if (!cmd->max_args && *npos)
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[1]);
    if (*npos < cmd->min_args || (cmd->max_args >= 0 && *npos > cmd->max_args))
        return cli_usage_error(cmd->name, "%s", cmd->args);
    return -1;
}

/* ---- --help ---------------------------------------------------------------------------------- */

static void help_entry(FILE *out, const cli_opt *o) {
    if (o->kind == CLI_HEADING) {
        fprintf(out, "%s\n", o->help);
        return;
    }
    char left[64];
    if (o->alias)
        snprintf(left, sizeof left, "-%c, --%s%s%s", o->alias, o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
    else
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    const char *h = o->help ? o->help : "";
    int first = 1;
    if (strlen(left) > 22) { /* a long left side gets a line of its own */
        fprintf(out, "  %s\n", left);
        first = 0;
    }
    do {
        size_t n = strcspn(h, "\n");
        fprintf(out, "  %-22s %.*s%s\n", first ? left : "", (int)n, h,
                first && o->required ? " (required)" : "");
        first = 0;
        h += n + (h[n] == '\n');
    } while (*h);
}

static void cli_help(const cli_command *cmd, const cli_opt *const *groups, FILE *out) {
    fprintf(out, "usage: zfnet %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->about);
    if (groups[0] && groups[0]->kind != CLI_HEADING) fprintf(out, "options:\n");
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *o = groups[g]; o->kind != CLI_END; o++) help_entry(out, o);
    help_entry(out, &help_opt);
}

/* ---- nets ------------------------------------------------------------------------------------ */

const char *cli_model(const zf_net *net) {
    static char buf[512];
    return zf_model_describe(zf_net_model(net), buf, sizeof buf);
}

int cli_open_net(const char *model, const zf_model_overrides *ov, const zf_net_options *no,
                 zf_net **out) {
    zf_error err;
    zf_model *m;
    *out = NULL;
    if (zf_model_load(model, ov, &m, &err)) return cli_error("%s", err.msg);
    zf_status st = zf_net_create(m, no, out, &err);
    zf_model_free(m);
    return st ? cli_error("%s", err.msg) : 0;
}

/* ---- the command line being run ------------------------------------------------------------ */

static char line_run[8192];

/* a word as the shell reads it back: bare when it is only safe characters, else in '' */
static void quote_word(FILE *f, const char *w) {
    int bare = *w != 0;
    for (const char *p = w; *p; p++)
        bare &= isalnum((unsigned char)*p) || strchr("-_./:,=+@%", *p) != NULL;
    if (bare) {
        fprintf(f, " %s", w);
        return;
    }
    fputs(" '", f);
    for (const char *p = w; *p; p++)
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    fputc('\'', f);
}

void cli_set_command(int argc, char *const *argv) {
    FILE *f = fmemopen(line_run, sizeof line_run - 1, "w");
    if (!f) return;
    setvbuf(f, NULL, _IONBF, 0);
    fputs("zfnet", f);
    for (int i = 0; i < argc && argv[i]; i++) quote_word(f, argv[i]);
    long n = ftell(f);
    fclose(f);
    line_run[n > 0 && n < (long)sizeof line_run ? n : 0] = 0;
}

const char *cli_command_line(void) {
    return line_run;
}

/* 1234567 -> "1,234,567" */
const char *cli_commas(char *buf, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v), j = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = tmp[i];
    }
    buf[j] = 0;
    return buf;
}

int cli_check_output(const char *path) {
    struct stat sb;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode))
        return cli_error("%s: is a folder (a file name is wanted)", path);
    char dir[4200];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
             slash ? path : ".");
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
        return cli_error("%s: its folder %s does not exist", path, dir);
    if (access(dir, W_OK | X_OK))
        return cli_error("%s: cannot write in %s: %s", path, dir, strerror(errno));
    return 0;
}
