/* What commands write besides pictures: the folders of their outputs (those made here are
 * removed again when the command fails) and JSON files. */
#define _GNU_SOURCE /* nftw */
#include "output.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the folders make_dir created, removed again when the command fails (unmake_dirs) */
static char **made;
static int nmade;

int make_dir(const char *dir) {
    if (!mkdir(dir, 0755)) {
        char **grown = realloc(made, sizeof(char *) * (size_t)(nmade + 1));
        if (grown && (grown[nmade] = strdup(dir))) nmade++;
        if (grown) made = grown;
        return 0;
    }
    if (errno != EEXIST) return cli_error("%s: cannot create: %s", dir, strerror(errno));
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path); /* as much as can go */
    return 0;
}

void remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void unmake_dirs(void) {
    for (int i = nmade - 1; i >= 0; i--) remove_tree(made[i]);
    for (int i = 0; i < nmade; i++) free(made[i]);
    free(made);
    made = NULL, nmade = 0;
}

int make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int bad = mkdir(path, 0755) && errno != EEXIST;
        if (bad) cli_error("%s: cannot create: %s", path, strerror(errno));
        *p = '/';
        if (bad) return 1;
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

json_t *json_num(double v) {
    return v == v ? json_real(v) : json_null();
}

int write_json(const char *path, json_t *j) {
    if (json_is_object(j) && !json_object_get(j, "command") && cli_command_line()[0])
        json_object_set_new(j, "command", json_string(cli_command_line()));
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    zf_error err;
    int rc = !text                                                ? cli_error("out of memory")
             : zf_write_file(path, text, strlen(text), &err) != 0 ? cli_error("%s", err.msg)
                                                                  : 0;
    free(text);
    return rc;
}
