/*
 * cli.h - what every subcommand shares: usage errors, option parsing
 * messages, reading inputs with limits, and rendering findings as text
 * (colour only on a TTY) or JSON.
 */
#ifndef MTASTS_CLI_H
#define MTASTS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"

/* Exit codes shared by every command. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_PROBLEM = 1,  /* the data examined has errors / does not match */
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_INCOMPLETE = 3, /* the command could not complete */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *help; /* full usage text, shown by --help and `mtasts help NAME` */
};

/* The commands, defined in mtasts.c; each cmd_<name>.c provides run and help. */
extern const struct cli_command cli_commands[];
extern const size_t cli_command_count;

/* Print "mtasts CMD: message" and a hint to stderr; returns CLI_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "mtasts CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long with our messages: returns the option, -1 at the end, or '?'
 * after printing a one-line error (caller returns CLI_EXIT_USAGE). The
 * optstring must start with ':' and '+' is added by the caller if wanted. */
int cli_getopt(const char *cmd, int argc, char **argv, const char *optstring,
	       const struct option *longopts);
/* When a command's --help is asked: print its help to stdout. */
int cli_print_help(const char *name);

/* Read a whole file ("-" = stdin) of at most max bytes. *buf is malloc'd,
 * NUL-terminated; returns 0, MTS_ETOOBIG or MTS_EIO (err says why). */
int cli_read_input(const char *path, size_t max, char **buf, size_t *len, struct mts_error *err);

/* Colour on a TTY only, and never when NO_COLOR is set. */
bool cli_use_color(FILE *fp);

/* Render findings: one line each, "  severity code: message (line L, col C) [RFC]"
 * and a fix hint line under errors and warnings. */
void cli_print_findings(FILE *fp, const struct mts_findings *f, const char *indent, bool color);
/* JSON array of finding objects (code, severity, message, rfc, hint, line,
 * column, subject). New reference. */
json_t *cli_findings_json(const struct mts_findings *f);
/* Print a JSON value to stdout, indented, with a final newline; steals ref. */
void cli_print_json(json_t *v);

const char *cli_color_for(enum mts_severity s, bool color);
const char *cli_color_reset(bool color);

#endif
