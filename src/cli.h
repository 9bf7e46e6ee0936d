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

/* Print "mtasts CMD: message" and a hint to stderr; returns CLI_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "mtasts CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long with our messages: returns the option, -1 at the end, or '?'
 * after printing a one-line error (caller returns CLI_EXIT_USAGE). The
 * optstring must start with ':' and '+' is added by the caller if wanted. */
int cli_getopt(const char *cmd, int argc, char **argv, const char *optstring,
	       const struct option *longopts);
/* When a command's --help is asked: print its help text (cmd_<name>_help,
 * commands.h) to stdout; returns CLI_EXIT_OK. */
int cli_print_help(const char *help);

/* Read a whole file ("-" = stdin) of at most max bytes. *buf is malloc'd,
 * NUL-terminated; returns 0, MTS_ETOOBIG or MTS_EIO (err says why). */
int cli_read_input(const char *path, size_t max, char **buf, size_t *len, struct mts_error *err);
/* The same from an open stream (left open); path names it in messages. */
int cli_read_stream(FILE *fp, const char *path, size_t max, char **buf, size_t *len,
		    struct mts_error *err);

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

/* One finding in the format of cli_print_findings(). */
void cli_print_finding(FILE *fp, const struct mts_finding *it, const char *indent, bool color);

/* The network options that fetch and check share (--resolver,
 * --trust-anchor, --ca-file, --connect-to, --timeout). */
enum {
	CLI_OPT_RESOLVER = 1000,
	CLI_OPT_TRUST_ANCHOR,
	CLI_OPT_CA_FILE,
	CLI_OPT_CONNECT_TO,
	CLI_OPT_TIMEOUT,
};
#define CLI_NET_LONG_OPTIONS                                                         \
	{"resolver", required_argument, NULL, CLI_OPT_RESOLVER},                     \
	{"trust-anchor", required_argument, NULL, CLI_OPT_TRUST_ANCHOR},             \
	{"ca-file", required_argument, NULL, CLI_OPT_CA_FILE},                       \
	{"connect-to", required_argument, NULL, CLI_OPT_CONNECT_TO},                 \
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT}
#define CLI_TIMEOUT_MAX 300 /* seconds */

struct cli_net {
	const char *resolver, *trust_anchor, *ca_file;
	const char **connect_to;   /* owned array of borrowed argv strings */
	size_t connect_to_count;
	unsigned timeout;          /* seconds */
};
/* Prepare for at most argc --connect-to values. Returns 0 or MTS_ENOMEM. */
int cli_net_init(struct cli_net *n, int argc, unsigned default_timeout);
void cli_net_free(struct cli_net *n);
/* Handle one of the network options. Returns 1 when opt was one (and valid),
 * 0 when it is not a network option, CLI_EXIT_USAGE (after a message) when
 * its value is wrong. */
int cli_net_option(const char *cmd, int opt, const char *arg, struct cli_net *n);
/* Run base until *done reaches count (callbacks count up). Returns 0, or
 * CLI_EXIT_INCOMPLETE after a message when the loop stopped early. */
struct event_base;
int cli_run_until(const char *cmd, struct event_base *base, const size_t *done, size_t count);
/* A domain argument to an A-label without trailing dot. 0 or MTS_EINVAL. */
/* One domain's output in a many-domain command (check, fetch), made when
 * its result arrives and printed in argument order at the end: a JSON
 * object (--json) or text. cli_output_text opens a stream that fills the
 * text (NULL when out of memory; fclose it). cli_outputs_take goes
 * through count outputs stride bytes apart (each a member of a per-domain
 * job): with json, it moves their JSON into a new array and returns it
 * (NULL when out of memory); else it writes their texts to stdout,
 * separated by sep (may be NULL), and returns NULL. cli_output_free frees
 * one. */
struct cli_output {
	json_t *json;
	char *text;
	size_t text_len;
};
FILE *cli_output_text(struct cli_output *o);
json_t *cli_outputs_take(struct cli_output *first, size_t count, size_t stride, bool json,
			 const char *sep);
void cli_output_free(struct cli_output *o);

int cli_parse_domain(const char *arg, char *out /* MTS_DNAME_MAX + 1 */);
/* A whole number min..max (decimal, no sign). 0 or MTS_EINVAL. */
int cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Become user for good, after binding: its groups, then its gid and uid,
 * real, effective and saved alike, checked, so that nothing in the process
 * can regain root. 0, or -1 with why. */
int cli_drop_privileges(const char *user, char *why, size_t cap);

const char *cli_color_for(enum mts_severity s, bool color);
const char *cli_color_reset(bool color);

#endif
