/* zfnet report: one HTML page for a run folder, built from the files the run and the analyses
 * wrote. The page's pieces (report.c) and its sections (report_sections.c). */
#ifndef ZF_REPORT_H
#define ZF_REPORT_H

#include "draw.h"
#include "output.h"

#include <jansson.h>

typedef struct report {
    const char *run; /* the run folder */
    const char *dir; /* the report's folder: index.html and assets/ */
    char up[4200];   /* the run folder as a link from dir ("../"; "" when the same) */
    FILE *f;         /* the page's body, in memory until it is complete */
    char *buf;
    size_t len;
    int ntoc;
    char toc[40][2][64]; /* (id, title) of each section written */
    int notes;           /* files found but not readable (each said once on stderr) */
    char params[32];     /* the model's parameters, for the headline */
} report;

/* s as HTML text (&, <, >, ", ' escaped) */
void h_text(FILE *f, const char *s);
/* a file of the run folder (path relative to it, no "..") that can be read */
int run_has(const report *r, const char *rel);
/* a JSON file of the run folder; NULL when absent, or (said on stderr) unreadable */
json_t *run_json(report *r, const char *rel);
/* copy the run folder's file rel to dir/assets/rel; url gets "assets/rel". Prints the error. */
int run_asset(report *r, const char *rel, char *url, size_t cap);
/* <section id=...><h2>title</h2>, listed in the table of contents */
void section_begin(report *r, const char *id, const char *title);
void section_end(report *r);
/* How a figure or table was made: the "command" of doc (may be NULL) and links to the run
 * folder's files that exist among the NULL-terminated raw (paths relative to the run folder). */
void provenance(report *r, const json_t *doc, const char *const *raw);
/* a number as text: "%.*f" with `digits`, "-" for a missing or non-number value */
const char *h_num(const json_t *v, int digits, double scale, char buf[32]);

/* the sections, each written only when its files are there; 0, or 1 after printing why */
int section_model(report *r);
int section_training(report *r);
int section_eval(report *r);
int section_filters(report *r);
int section_top9(report *r);
int section_evolution(report *r);
int section_occlusion(report *r);
int section_invariance(report *r);
int section_correspondence(report *r);
int section_learning(report *r);

#endif
