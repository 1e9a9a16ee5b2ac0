/* Model variants: edits applied to a model's canonical text, which is then parsed (and so
 * checked) like any model file. The text is "[kind]\nname=N\nkey=value\n..." per section, so
 * an edit is a change to a section's lines. */
#include "internal.h"

#include <ctype.h>
#include <string.h>

#define MAX_SECTIONS 512

typedef struct section {
    char *text; /* "[kind]\nname=...\n...": its lines, each ending in '\n' */
    char kind[16], name[32];
    int removed;
} section;

typedef struct edit_doc {
    section s[MAX_SECTIONS];
    int n;
} edit_doc;

static void doc_free(edit_doc *d) {
    for (int i = 0; i < d->n; i++) free(d->s[i].text);
}

static zf_status doc_split(edit_doc *d, const char *text, zf_error *err) {
    const char *p = text;
    while (*p) {
        const char *next = strstr(p + 1, "\n[");
        size_t len = next ? (size_t)(next + 1 - p) : strlen(p);
        if (d->n == MAX_SECTIONS || !(d->s[d->n].text = strndup(p, len)))
            return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
        section *s = &d->s[d->n++];
        sscanf(s->text, "[%15[^]]]", s->kind);
        const char *nm = strstr(s->text, "\nname=");
        if (nm) sscanf(nm + 6, "%31[^\n]", s->name);
        p += len;
        while (*p == '\n') p++;
    }
    return ZF_OK;
}

static section *doc_find(edit_doc *d, const char *name) {
    for (int i = 1; i < d->n; i++)
        if (!d->s[i].removed && !strcmp(d->s[i].name, name)) return &d->s[i];
    return NULL;
}

static int pointwise(const section *s) {
    return !strcmp(s->kind, "relu") || !strcmp(s->kind, "lrn") || !strcmp(s->kind, "dropout");
}

/* "remove A,B": each layer and the ReLU, LRN and dropout layers right after it */
static zf_status doc_remove(edit_doc *d, char *list, const char *model, zf_error *err) {
    for (char *save, *nm = strtok_r(list, ", \t", &save); nm; nm = strtok_r(NULL, ", \t", &save)) {
        section *s = doc_find(d, nm);
        if (!s) return zf_fail(err, ZF_ERR_ARG, "%s has no layer '%s' to remove", model, nm);
        s->removed = 1;
        for (section *t = s + 1; t < d->s + d->n && (t->removed || pointwise(t)); t++)
            t->removed = 1;
    }
    return ZF_OK;
}

static char *trim_edit(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* "LAYER.KEY=VALUE": the key's line replaced, or added */
static zf_status doc_set(edit_doc *d, char *e, const char *model, zf_error *err) {
    char *dot = strchr(e, '.'), *eq = strchr(e, '=');
    if (!dot || !eq || dot > eq || dot == e || eq == dot + 1 || !eq[1])
        return zf_fail(err, ZF_ERR_PARSE,
                       "edit '%s': expected 'remove LAYER[,LAYER...]' or 'LAYER.KEY=VALUE'", e);
    *dot = 0, *eq = 0;
    const char *key = trim_edit(dot + 1), *value = trim_edit(eq + 1);
    e = trim_edit(e);
    section *s = !strcmp(e, "net") ? &d->s[0] : doc_find(d, e);
    if (!s) return zf_fail(err, ZF_ERR_ARG, "%s has no layer '%s'", model, e);
    if (!strcmp(key, "name") && s != &d->s[0])
        return zf_fail(err, ZF_ERR_ARG, "edit '%s.name': layers keep their names", e);
    size_t kl = strlen(key);
    char *line = s->text;
    while ((line = strchr(line, '\n')) && *++line)
        if (!strncmp(line, key, kl) && line[kl] == '=') break;
    size_t cap = strlen(s->text) + kl + strlen(value) + 4;
    char *t = malloc(cap);
    if (!t) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (line && *line) {
        const char *end = strchr(line, '\n');
        snprintf(t, cap, "%.*s%s=%s%s", (int)(line - s->text), s->text, key, value,
                 end ? end : "\n");
    } else {
        snprintf(t, cap, "%s%s=%s\n", s->text, key, value);
    }
    free(s->text);
    s->text = t;
    return ZF_OK;
}

static zf_status doc_apply(edit_doc *d, char *edits, const char *model, zf_error *err) {
    zf_status st = ZF_OK;
    for (char *save, *e = strtok_r(edits, ";\n", &save); !st && e;
         e = strtok_r(NULL, ";\n", &save)) {
        e = trim_edit(e);
        if (!*e) continue;
        if (!strncmp(e, "remove", 6) && isspace((unsigned char)e[6]))
            st = doc_remove(d, e + 7, model, err);
        else
            st = doc_set(d, e, model, err);
    }
    return st;
}

static char *doc_join(const edit_doc *d) {
    size_t len = 1;
    for (int i = 0; i < d->n; i++) len += strlen(d->s[i].text) + 1;
    char *t = malloc(len), *p = t;
    for (int i = 0; t && i < d->n; i++)
        if (!d->s[i].removed) p += sprintf(p, "%s\n", d->s[i].text);
    if (t) *p = 0;
    return t;
}

zf_status zf_model_edit(const zf_model *m, const char *edits, zf_model **out, zf_error *err) {
    *out = NULL;
    edit_doc *d = calloc(1, sizeof *d);
    char *e = strdup(edits ? edits : "");
    zf_status st =
        d && e ? doc_split(d, m->text, err) : zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    char desc[512];
    if (!st) st = doc_apply(d, e, zf_model_describe(m, desc, sizeof desc), err);
    char *text = st ? NULL : doc_join(d);
    if (!st && !text) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) {
        char fname[256];
        snprintf(fname, sizeof fname, "%.63s edited by '%.170s'", m->name, edits);
        st = zf_model_parse(text, fname, NULL, out, err);
    }
    free(text);
    free(e);
    if (d) doc_free(d);
    free(d);
    return st;
}
