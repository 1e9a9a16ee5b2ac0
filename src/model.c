/* Model files: a strict INI-style format (docs/model-format.md). Unknown sections or keys,
 * missing required keys, duplicates and bad values are errors naming file:line. */
#include "internal.h"
#include "layers/layer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

typedef struct parser {
    const char *file;
    zf_model *m;
    zf_error *err;
    /* the section being read */
    const layer_ops *ops; /* NULL for [net] */
    int section_line;
    layer_def *def;
    int seen_line[16]; /* per key index: line it was set on (0 = not yet); last slot: name */
    int net_seen;
    int net_seen_line[8];
} parser;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 30 || lb > 30) return 99;
    int d[32][32];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* " (did you mean 'x'?)" for the closest candidate within distance 2, else "" */
static void suggest(char *out, size_t cap, const char *word, const char *const *cands, int n) {
    int best = 3, bi = -1;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < best) best = d, bi = i;
    }
    if (bi >= 0)
        snprintf(out, cap, " (did you mean '%s'?)", cands[bi]);
    else
        out[0] = 0;
}

static zf_status parse_int(parser *ps, int line, const char *sec, const char *key, const char *v,
                           long *out) {
    errno = 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno)
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] %s: '%s' is not an integer", ps->file,
                       line, sec, key, v);
    *out = x;
    return ZF_OK;
}

static zf_status parse_double(parser *ps, int line, const char *sec, const char *key, const char *v,
                              double *out) {
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] %s: '%s' is not a number", ps->file,
                       line, sec, key, v);
    *out = x;
    return ZF_OK;
}

static zf_status check_range(parser *ps, int line, const char *sec, const char *key, double x,
                             double lo, double hi) {
    if (x < lo || x > hi)
        return zf_fail(ps->err, ZF_ERR_RANGE, "%s:%d: [%s] %s=%g is out of range [%g, %g]",
                       ps->file, line, sec, key, x, lo, hi);
    return ZF_OK;
}

int zf_name_valid(const char *name) {
    if (!*name || strlen(name) >= ZF_NAME_MAX) return 0;
    for (const char *s = name; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
    return 1;
}

static const char *const net_keys[] = {"name", "channels", "height", "width", "classes"};
enum { NET_NKEYS = 5 };

static zf_status net_key(parser *ps, int line, const char *key, const char *v) {
    zf_model *m = ps->m;
    int idx = -1;
    for (int i = 0; i < NET_NKEYS; i++)
        if (!strcmp(key, net_keys[i])) idx = i;
    if (idx < 0) {
        char hint[64];
        suggest(hint, sizeof hint, key, net_keys, NET_NKEYS);
        return zf_fail(ps->err, ZF_ERR_PARSE,
                       "%s:%d: [net] unknown key '%s'%s; expected name, channels, height, width, "
                       "classes",
                       ps->file, line, key, hint);
    }
    if (ps->net_seen_line[idx])
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [net] duplicate key '%s' (first on line %d)",
                       ps->file, line, key, ps->net_seen_line[idx]);
    ps->net_seen_line[idx] = line;
    if (idx == 0) {
        if (!zf_name_valid(v) || strlen(v) >= sizeof m->name)
            return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [net] name '%s' must be " ZF_NAME_RULE,
                           ps->file, line, v);
        snprintf(m->name, sizeof m->name, "%s", v);
        return ZF_OK;
    }
    long x = 0;
    zf_status st = parse_int(ps, line, "net", key, v, &x);
    if (st) return st;
    st = check_range(ps, line, "net", key, (double)x, idx == 4 ? 0 : 1, idx == 4 ? 1e6 : 65536);
    if (st) return st;
    if (idx == 1) m->input.c = (int)x;
    if (idx == 2) m->input.h = (int)x;
    if (idx == 3) m->input.w = (int)x;
    if (idx == 4) m->classes = (int)x;
    return ZF_OK;
}

static zf_status name_key(parser *ps, int line, const char *v) {
    const char *sec = ps->ops->name;
    int *seen = &ps->seen_line[15];
    if (*seen)
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] duplicate key 'name' (first on line %d)",
                       ps->file, line, sec, *seen);
    *seen = line;
    if (!zf_name_valid(v))
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] name '%s' must be " ZF_NAME_RULE,
                       ps->file, line, sec, v);
    for (int i = 0; i < ps->m->nlayers - 1; i++)
        if (!strcmp(ps->m->layers[i].name, v))
            return zf_fail(ps->err, ZF_ERR_PARSE,
                           "%s:%d: [%s] layer name '%s' is already used on line %d", ps->file, line,
                           sec, v, ps->m->layers[i].line);
    snprintf(ps->def->name, sizeof ps->def->name, "%s", v);
    return ZF_OK;
}

/* "a, b, c" from a NULL-terminated list (or the first n) */
static void join(char *out, size_t cap, const char *const *names, int n) {
    out[0] = 0;
    for (int i = 0; (n < 0 || i < n) && names[i]; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? ", " : "", names[i]);
}

/* The value of a known key into its field. */
static zf_status set_value(parser *ps, int line, const key_spec *k, const char *v) {
    const char *sec = ps->ops->name, *key = k->name;
    layer_def *d = ps->def;
    char *field = (char *)d + k->offset;
    zf_status st;
    if (k->type == KEY_INT) {
        long x = 0;
        if (d->kind == ZF_LAYER_FC && !strcmp(key, "outputs") && !strcmp(v, "classes")) {
            *(int *)field = -1; /* resolved to [net] classes after parsing */
            return ZF_OK;
        }
        if ((st = parse_int(ps, line, sec, key, v, &x)) ||
            (st = check_range(ps, line, sec, key, (double)x, k->min, k->max)))
            return st;
        *(int *)field = (int)x;
    } else if (k->type == KEY_DOUBLE) {
        double x = 0;
        if ((st = parse_double(ps, line, sec, key, v, &x)) ||
            (st = check_range(ps, line, sec, key, x, k->min, k->max)))
            return st;
        *(double *)field = x;
    } else if (k->type == KEY_BOOL) {
        int yes = !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes");
        if (!yes && strcmp(v, "0") && strcmp(v, "false") && strcmp(v, "no"))
            return zf_fail(ps->err, ZF_ERR_PARSE,
                           "%s:%d: [%s] %s: '%s' is not a boolean (use 1/0, true/false)", ps->file,
                           line, sec, key, v);
        *(int *)field = yes;
    } else { /* KEY_ENUM */
        for (int i = 0; k->enums[i]; i++)
            if (!strcmp(v, k->enums[i])) {
                *(int *)field = i;
                return ZF_OK;
            }
        char list[128];
        join(list, sizeof list, k->enums, -1);
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] %s: '%s' is not one of %s", ps->file,
                       line, sec, key, v, list);
    }
    return ZF_OK;
}

static zf_status layer_key(parser *ps, int line, const char *key, const char *v) {
    const char *sec = ps->ops->name;
    if (!strcmp(key, "name")) return name_key(ps, line, v);
    const key_spec *ks = ps->ops->keys;
    int idx = -1, nkeys = 0;
    const char *names[16];
    names[nkeys++] = "name";
    for (int i = 0; ks[i].name; i++) {
        names[nkeys++] = ks[i].name;
        if (!strcmp(ks[i].name, key)) idx = i;
    }
    if (idx < 0) {
        char hint[64], list[256];
        suggest(hint, sizeof hint, key, names, nkeys);
        join(list, sizeof list, names, nkeys);
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] unknown key '%s'%s; expected %s",
                       ps->file, line, sec, key, hint, list);
    }
    if (ps->seen_line[idx])
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] duplicate key '%s' (first on line %d)",
                       ps->file, line, sec, key, ps->seen_line[idx]);
    ps->seen_line[idx] = line;
    return set_value(ps, line, &ks[idx], v);
}

/* Check the section just finished: required keys, name. */
static zf_status end_section(parser *ps) {
    if (!ps->def) return ZF_OK;
    const key_spec *ks = ps->ops->keys;
    const char *sec = ps->ops->name;
    if (!ps->seen_line[15])
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] missing required key 'name'", ps->file,
                       ps->section_line, sec);
    for (int i = 0; ks[i].name; i++)
        if (ks[i].required && !ps->seen_line[i])
            return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: [%s] %s: missing required key '%s'",
                           ps->file, ps->section_line, sec, ps->def->name, ks[i].name);
    return ZF_OK;
}

static zf_status begin_layer(parser *ps, int line, const layer_ops *ops) {
    zf_model *m = ps->m;
    if (m->nlayers >= ZF_MAX_LAYERS)
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: more than %d layers", ps->file, line,
                       ZF_MAX_LAYERS);
    layer_def *d = &m->layers[m->nlayers++];
    memset(d, 0, sizeof *d);
    d->kind = ops->kind;
    d->line = line;
    for (int i = 0; ops->keys[i].name; i++) {
        char *field = (char *)d + ops->keys[i].offset;
        if (ops->keys[i].type == KEY_DOUBLE)
            *(double *)field = ops->keys[i].def;
        else
            *(int *)field = (int)ops->keys[i].def;
    }
    ps->ops = ops;
    ps->def = d;
    ps->section_line = line;
    memset(ps->seen_line, 0, sizeof ps->seen_line);
    return ZF_OK;
}

static void fmt_double(char *out, size_t cap, double x) {
    snprintf(out, cap, "%.15g", x);
    if (strtod(out, NULL) != x) snprintf(out, cap, "%.17g", x);
}

static char *canonical_text(const zf_model *m) {
    size_t cap = 4096 + (size_t)m->nlayers * 256, len = 0;
    char *t = malloc(cap);
    if (!t) return NULL;
#define OUT(...) len += (size_t)snprintf(t + len, cap - len, __VA_ARGS__)
    OUT("[net]\nname=%s\nchannels=%d\nheight=%d\nwidth=%d\nclasses=%d\n", m->name, m->input.c,
        m->input.h, m->input.w, m->classes);
    for (int i = 0; i < m->nlayers; i++) {
        const layer_def *d = &m->layers[i];
        const layer_ops *ops = zf_layer_ops(d->kind);
        OUT("\n[%s]\nname=%s\n", ops->name, d->name);
        for (int j = 0; ops->keys[j].name; j++) {
            const key_spec *k = &ops->keys[j];
            const char *field = (const char *)d + k->offset;
            if (k->quiet && k->type == KEY_INT && *(const int *)field == (int)k->def) continue;
            char num[40];
            switch (k->type) {
            case KEY_DOUBLE:
                fmt_double(num, sizeof num, *(const double *)field);
                OUT("%s=%s\n", k->name, num);
                break;
            case KEY_ENUM:
                OUT("%s=%s\n", k->name, k->enums[*(const int *)field]);
                break;
            default:
                OUT("%s=%d\n", k->name, *(const int *)field);
                break;
            }
        }
    }
#undef OUT
    return t;
}

/* A "[section]" line: ends the section before, starts the next. */
static zf_status section_line(parser *ps, int lineno, char *s, int *in_net) {
    const char *filename = ps->file;
    zf_error *err = ps->err;
    char *e = strchr(s, ']');
    if (!e || trim(e + 1)[0])
        return zf_fail(err, ZF_ERR_PARSE, "%s:%d: malformed section header '%s'", filename, lineno,
                       s);
    *e = 0;
    char *sec = trim(s + 1);
    zf_status st = end_section(ps);
    if (st) return st;
    if (!strcmp(sec, "net")) {
        if (ps->net_seen)
            return zf_fail(err, ZF_ERR_PARSE, "%s:%d: a second [net] section", filename, lineno);
        if (ps->m->nlayers)
            return zf_fail(err, ZF_ERR_PARSE, "%s:%d: [net] must come before the layers", filename,
                           lineno);
        ps->net_seen = lineno;
        ps->def = NULL;
        *in_net = 1;
        return ZF_OK;
    }
    const layer_ops *ops = zf_layer_ops_by_name(sec);
    if (!ops) {
        const char *secs[ZF_LAYER_KIND_COUNT + 1];
        secs[0] = "net";
        for (int k = 0; k < ZF_LAYER_KIND_COUNT; k++)
            secs[k + 1] = zf_layer_ops((zf_layer_kind)k)->name;
        char hint[64];
        suggest(hint, sizeof hint, sec, secs, ZF_LAYER_KIND_COUNT + 1);
        return zf_fail(err, ZF_ERR_PARSE,
                       "%s:%d: unknown section [%s]%s; expected net, conv, relu, maxpool, lrn, "
                       "fc, dropout or softmax",
                       filename, lineno, sec, hint);
    }
    if (!ps->net_seen)
        return zf_fail(err, ZF_ERR_PARSE, "%s:%d: the file must start with a [net] section",
                       filename, lineno);
    *in_net = 0;
    return begin_layer(ps, lineno, ops);
}

/* A "key=value" line of the current section. */
static zf_status key_line(parser *ps, int lineno, char *s, int in_net) {
    char *eq = strchr(s, '=');
    if (!eq)
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: expected 'key=value', got '%s'", ps->file,
                       lineno, s);
    *eq = 0;
    char *key = trim(s), *val = trim(eq + 1);
    if (!*key || !*val)
        return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: expected 'key=value' with both parts",
                       ps->file, lineno);
    if (in_net) return net_key(ps, lineno, key, val);
    if (ps->def) return layer_key(ps, lineno, key, val);
    return zf_fail(ps->err, ZF_ERR_PARSE, "%s:%d: '%s' outside any section", ps->file, lineno, key);
}

/* Every line of buf (modified in place). */
static zf_status parse_lines(parser *ps, char *buf) {
    zf_status st = ZF_OK;
    int lineno = 0, in_net = 0;
    char *save = NULL;
    for (char *raw = buf; raw && !st; raw = save) {
        save = strchr(raw, '\n');
        if (save) *save++ = 0;
        lineno++;
        char *c = strpbrk(raw, "#;");
        if (c) *c = 0;
        char *s = trim(raw);
        if (!*s) continue;
        st = *s == '[' ? section_line(ps, lineno, s, &in_net) : key_line(ps, lineno, s, in_net);
    }
    return st ? st : end_section(ps);
}

/* The whole model after parsing: required [net] keys, overrides, fc outputs=classes, the
 * softmax last, a name. */
static zf_status finish_model(parser *ps, const zf_model_overrides *ov) {
    zf_model *m = ps->m;
    const char *filename = ps->file;
    zf_error *err = ps->err;
    if (!ps->net_seen) return zf_fail(err, ZF_ERR_PARSE, "%s: no [net] section", filename);
    for (int i = 1; i < 4; i++)
        if (!ps->net_seen_line[i])
            return zf_fail(err, ZF_ERR_PARSE, "%s:%d: [net] missing required key '%s'", filename,
                           ps->net_seen, net_keys[i]);
    if (m->nlayers == 0) return zf_fail(err, ZF_ERR_PARSE, "%s: no layers", filename);
    if (ov) {
        if (ov->classes > 0) m->classes = ov->classes;
        if (ov->channels > 0) m->input.c = ov->channels;
        if (ov->height > 0) m->input.h = ov->height;
        if (ov->width > 0) m->input.w = ov->width;
    }
    for (int i = 0; i < m->nlayers; i++) {
        layer_def *d = &m->layers[i];
        if (d->kind == ZF_LAYER_FC && d->p.fc.outputs == -1) {
            if (m->classes < 1)
                return zf_fail(err, ZF_ERR_PARSE,
                               "%s:%d: [fc] %s: outputs=classes but [net] sets no classes",
                               filename, d->line, d->name);
            d->p.fc.outputs = m->classes;
        }
        if (d->kind == ZF_LAYER_SOFTMAX && i != m->nlayers - 1)
            return zf_fail(err, ZF_ERR_PARSE, "%s:%d: [softmax] %s must be the last layer",
                           filename, d->line, d->name);
    }
    if (!m->name[0]) { /* the file's name up to its first '.', made a valid name */
        const char *b = strrchr(filename, '/');
        b = b ? b + 1 : filename;
        size_t n = 0;
        for (; b[n] && b[n] != '.' && n < ZF_NAME_MAX - 1; n++)
            m->name[n] = isalnum((unsigned char)b[n]) || b[n] == '-' ? b[n] : '_';
        m->name[n] = 0;
        if (!n) snprintf(m->name, sizeof m->name, "model");
    }
    return ZF_OK;
}

zf_status zf_model_parse(const char *text, const char *filename, const zf_model_overrides *ov,
                         zf_model **out, zf_error *err) {
    *out = NULL;
    zf_model *m = calloc(1, sizeof *m);
    if (!m) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    m->layers = calloc(ZF_MAX_LAYERS, sizeof *m->layers);
    char *buf = strdup(text);
    if (!m->layers || !buf) {
        free(buf);
        zf_model_free(m);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    snprintf(m->filename, sizeof m->filename, "%s", filename);
    parser ps = {.file = filename, .m = m, .err = err};
    zf_status st = parse_lines(&ps, buf);
    free(buf);
    if (!st) st = finish_model(&ps, ov);
    if (!st && !(m->text = canonical_text(m))) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (st) {
        zf_model_free(m);
        return st;
    }
    *out = m;
    return ZF_OK;
}

zf_status zf_model_load(const char *name, const zf_model_overrides *ov, zf_model **out,
                        zf_error *err) {
    *out = NULL;
    const char *preset = zf_preset_text(name);
    if (preset) {
        char fname[96];
        snprintf(fname, sizeof fname, "%s.cfg", name);
        return zf_model_parse(preset, fname, ov, out, err);
    }
    zf_error oe;
    FILE *f = zf_fopen_read(name, &oe);
    if (!f && oe.status != ZF_ERR_IO) return zf_fail(err, oe.status, "%s", oe.msg);
    if (!f && !access(name, F_OK)) return zf_fail(err, ZF_ERR_IO, "%s", oe.msg);
    if (!f) {
        char list[256] = "";
        for (const char *const *p = zf_model_presets(); *p; p++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     p == zf_model_presets() ? "" : ", ", *p);
        return zf_fail(err, ZF_ERR_IO, "%s: not a preset (%s) and cannot be opened: %s", name, list,
                       strerror(errno));
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = cap > (16u << 20) ? NULL : realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return zf_fail(err, ZF_ERR_IO, "%s: model file too large (over 16 MiB)", name);
            }
            text = t;
        }
        size_t r = fread(text + len, 1, 4096, f);
        len += r;
        if (r < 4096) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        return zf_fail(err, ZF_ERR_IO, "%s: read error", name);
    }
    text[len] = 0;
    if (strlen(text) != len) {
        free(text);
        return zf_fail(err, ZF_ERR_PARSE, "%s: contains NUL bytes: not a model file", name);
    }
    zf_status st = zf_model_parse(text, name, ov, out, err);
    free(text);
    return st;
}

void zf_model_free(zf_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->text);
    free(m);
}

const char *zf_model_text(const zf_model *m) {
    return m->text;
}

const char *zf_model_describe(const zf_model *m, char *buf, size_t cap) {
    char preset[96];
    snprintf(preset, sizeof preset, "%s.cfg", m->name);
    int is_preset = !strcmp(m->filename, preset) && zf_preset_text(m->name);
    if (is_preset || !m->filename[0])
        snprintf(buf, cap, "model '%s'", m->name);
    else
        snprintf(buf, cap, "model '%s' (%s)", m->name, m->filename);
    return buf;
}

const char *zf_model_name(const zf_model *m) {
    return m->name;
}
