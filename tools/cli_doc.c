/* Man pages and bash completion from the same option tables as --help: when a documentation
 * mode is set, cli_parse hands the command's tables here instead of parsing, so the pages and
 * the completion script cannot drift from what the commands accept. */
#include "cli.h"

#include <string.h>

static struct {
    cli_doc_mode mode;
    FILE *out;
    const char *summary;
} doc;

void cli_doc_set(cli_doc_mode mode, FILE *out, const char *summary) {
    doc.mode = mode, doc.out = out, doc.summary = summary;
}

int cli_doc_active(void) {
    return doc.mode != CLI_DOC_NONE;
}

/* ---- roff ------------------------------------------------------------------------------------ */

/* s (len bytes) as roff text: backslashes escaped, dashes as \- where they are option dashes */
static void roff_text(FILE *f, const char *s, size_t len, int dashes) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\')
            fputs("\\e", f);
        else if (s[i] == '-' && dashes)
            fputs("\\-", f);
        else
            fputc(s[i], f);
    }
}

/* one line of running text; a line that would start a roff request is protected */
static void roff_line(FILE *f, const char *s, size_t len) {
    while (len && *s == ' ') s++, len--;
    if (len && (*s == '.' || *s == '\'')) fputs("\\&", f);
    roff_text(f, s, len, 0);
    fputc('\n', f);
}

/* text with '\n' between lines: paragraphs (blank lines) as .PP, indented lines verbatim */
void cli_roff_paragraphs(FILE *f, const char *text) {
    int verbatim = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        int indented = n > 1 && p[0] == ' ' && p[1] == ' ';
        if (indented != verbatim) fputs(indented ? ".nf\n" : ".fi\n", f), verbatim = indented;
        if (!n)
            fputs(".PP\n", f);
        else if (verbatim) {
            fputs("\\&", f);
            roff_text(f, p, n, 0);
            fputc('\n', f);
        } else
            roff_line(f, p, n);
        p += n + (p[n] == '\n');
    }
    if (verbatim) fputs(".fi\n", f);
}

static void man_option(FILE *f, const cli_opt *o) {
    if (o->kind == CLI_HEADING) {
        size_t n = strlen(o->help);
        fputs(".SS ", f);
        roff_text(f, o->help, n && o->help[n - 1] == ':' ? n - 1 : n, 0);
        fputc('\n', f);
        return;
    }
    fputs(".TP\n", f);
    if (o->alias) fprintf(f, "\\fB\\-%c\\fR, ", o->alias);
    fputs("\\fB\\-\\-", f);
    roff_text(f, o->name, strlen(o->name), 1);
    fputs("\\fR", f);
    if (o->arg) {
        fputs(" \\fI", f);
        roff_text(f, o->arg, strlen(o->arg), 0);
        fputs("\\fR", f);
    }
    fputc('\n', f);
    for (const char *h = o->help ? o->help : ""; *h;) {
        size_t n = strcspn(h, "\n");
        roff_line(f, h, n);
        h += n + (h[n] == '\n');
    }
    if (o->required) fputs("(required)\n", f);
    if (o->choices) {
        fputs("One of: ", f);
        roff_text(f, o->choices, strlen(o->choices), 0);
        fputs(".\n", f);
    }
}

void cli_man_header(FILE *f, const char *page, const char *summary) {
    char upper[64];
    size_t i = 0;
    for (; page[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(page[i] >= 'a' && page[i] <= 'z' ? page[i] - 32 : page[i]);
    upper[i] = 0;
    fprintf(f, ".TH %s 1 \"\" \"zfnet %s\" \"zfnet manual\"\n.SH NAME\n", upper, ZF_VERSION);
    roff_text(f, page, strlen(page), 1);
    fputs(" \\- ", f);
    roff_line(f, summary, strlen(summary));
}

static void man_page(const cli_command *cmd, const cli_opt *const *groups) {
    FILE *f = doc.out;
    char page[64];
    snprintf(page, sizeof page, "zfnet-%s", cmd->name);
    cli_man_header(f, page, doc.summary ? doc.summary : cmd->name);
    fprintf(f, ".SH SYNOPSIS\n.B zfnet %s\n", cmd->name);
    char usage[1024];
    size_t n = 0;
    for (const char *u = cmd->usage; *u && n < sizeof usage - 1; u++) /* one line, filled */
        if (!(u[0] == ' ' || u[0] == '\n') || !(u[1] == ' ' || u[1] == '\n'))
            usage[n++] = *u == '\n' ? ' ' : *u;
    roff_line(f, usage, n);
    fputs(".SH DESCRIPTION\n", f);
    cli_roff_paragraphs(f, cmd->about);
    fputs(".SH OPTIONS\n", f);
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *o = groups[g]; o->kind != CLI_END; o++) man_option(f, o);
    fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nthe options and what they do\n", f);
    fputs(".SH EXIT STATUS\n0 on success; 1 when the work failed (a bad file, a library error: "
          "one line on standard error names it); 2 for a usage error (an unknown option, a "
          "missing or extra argument, a value out of range).\n",
          f);
    fprintf(f, ".SH SEE ALSO\n.BR zfnet (1)\n");
}

/* ---- bash completion ------------------------------------------------------------------------- */

/* one command's entries of the completion script: its options, and what each value is */
static void completion_entries(const cli_command *cmd, const cli_opt *const *groups) {
    FILE *f = doc.out;
    fprintf(f, "    %s)\n        opts='--help", cmd->name);
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *o = groups[g]; o->kind != CLI_END; o++)
            if (o->kind != CLI_HEADING) fprintf(f, " --%s", o->name);
    fputs("'\n        case $prev in\n", f);
    for (int g = 0; groups[g]; g++)
        for (const cli_opt *o = groups[g]; o->kind != CLI_END; o++) {
            if (o->kind == CLI_HEADING || o->kind == CLI_FLAG) continue;
            const char *what = o->choices                                  ? o->choices
                               : !strcmp(o->name, "model")                 ? "@model"
                               : o->kind == CLI_STR || o->kind == CLI_CALL ? "@file"
                                                                           : "@number";
            if (o->alias)
                fprintf(f, "            --%s|-%c) values='%s' ;;\n", o->name, o->alias, what);
            else
                fprintf(f, "            --%s) values='%s' ;;\n", o->name, what);
        }
    fputs("        esac ;;\n", f);
}

int cli_doc_emit(const cli_command *cmd, const cli_opt *const *groups) {
    if (doc.mode == CLI_DOC_MAN)
        man_page(cmd, groups);
    else
        completion_entries(cmd, groups);
    return 0;
}
