/* What commands write besides pictures: the folders of their outputs, removed again when the
 * command fails, and JSON files. */
#ifndef ZF_OUTPUT_H
#define ZF_OUTPUT_H

#include "cli.h"

#include <jansson.h>

/* mkdir DIR unless it exists; prints the error. A folder made here is remembered: */
int make_dir(const char *dir);
/* when the command fails, main removes every folder make_dir made (with what is in it), so
 * that no half-made output is left that looks complete */
void unmake_dirs(void);
/* DIR and everything in it, as much as can go */
void remove_tree(const char *dir);
/* mkdir -p of the folders above the file `path` (changed while it runs); prints the error. */
int make_parents(char *path);

/* A JSON number, or null for NaN (JSON has no NaN). */
json_t *json_num(double v);
/* json as indented text into path, atomically, with the command line that made it ("command",
 * added to an object that has none); prints the error. */
int write_json(const char *path, json_t *j);

#endif
