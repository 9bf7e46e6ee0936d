/* cli.c - helpers shared by every subcommand (see cli.h). */
#define _GNU_SOURCE /* setresuid, getresuid (cli_drop_privileges) */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "mtasts/dname.h"
#include "io/dns_int.h"
#include "io/https_int.h"

static void vreport(const char *cmd, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void vreport(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "mtasts%s%s: ", cmd && *cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	/* One line: the hint stays on it. */
	const char *top = cmd ? cmd : "";
	size_t n = strcspn(top, " ");
	fprintf(stderr, " (see 'mtasts help%s%.*s')\n", n ? " " : "", (int)n, top);
	return CLI_EXIT_USAGE;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *optstring,
	       const struct option *longopts)
{
	opterr = 0;
	int c = getopt_long(argc, argv, optstring, longopts, NULL);
	if (c == '?') {
		if (optopt)
			cli_usage(cmd, "unknown option '-%c'", optopt);
		else
			cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
		return '?';
	}
	if (c == ':') {
		cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
		return '?';
	}
	return c;
}

int cli_print_help(const char *help)
{
	fputs(help, stdout);
	return CLI_EXIT_OK;
}

int cli_read_input(const char *path, size_t max, char **buf, size_t *len, struct mts_error *err)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!fp)
		return mts_error_set(err, MTS_EIO, "%s: %s", path, strerror(errno));
	int rc = cli_read_stream(fp, path, max, buf, len, err);
	if (fp != stdin)
		fclose(fp);
	return rc;
}

int cli_read_stream(FILE *fp, const char *path, size_t max, char **buf, size_t *len,
		    struct mts_error *err)
{
	size_t cap = 4096, used = 0;
	char *data = malloc(cap + 1);
	int rc = 0;
	if (!data) {
		rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		if (used == cap) {
			if (cap > max) {
				rc = mts_error_set(err, MTS_ETOOBIG, "%s: larger than %zu bytes",
						   path, max);
				goto out;
			}
			char *bigger = realloc(data, cap * 2 + 1);
			if (!bigger) {
				rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
				goto out;
			}
			data = bigger;
			cap *= 2;
		}
		size_t got = fread(data + used, 1, cap - used, fp);
		used += got;
		if (got == 0) {
			if (ferror(fp))
				rc = mts_error_set(err, MTS_EIO, "%s: read error", path);
			break;
		}
	}
	if (rc == 0 && used > max)
		rc = mts_error_set(err, MTS_ETOOBIG, "%s: larger than %zu bytes", path, max);
out:
	if (rc) {
		free(data);
		return rc;
	}
	data[used] = '\0';
	*buf = data;
	*len = used;
	return 0;
}

bool cli_use_color(FILE *fp)
{
	const char *no = getenv("NO_COLOR");
	if (no && *no)
		return false;
	return isatty(fileno(fp));
}

const char *cli_color_for(enum mts_severity s, bool color)
{
	if (!color)
		return "";
	switch (s) {
	case MTS_SEV_ERROR: return "\033[1;31m";
	case MTS_SEV_WARNING: return "\033[33m";
	default: return "\033[36m";
	}
}

const char *cli_color_reset(bool color)
{
	return color ? "\033[0m" : "";
}

void cli_print_finding(FILE *fp, const struct mts_finding *it, const char *indent, bool color)
{
	const struct mts_finding_info *info = mts_finding_info(it->id);
	fprintf(fp, "%s%s%-7s%s %s: %s", indent, cli_color_for(it->severity, color),
		mts_severity_name(it->severity), cli_color_reset(color), info->code, it->message);
	if (it->line && it->column)
		fprintf(fp, " (line %u, column %u)", it->line, it->column);
	else if (it->line)
		fprintf(fp, " (line %u)", it->line);
	else if (it->column)
		fprintf(fp, " (column %u)", it->column);
	if (*info->rfc)
		fprintf(fp, " [%s]", info->rfc);
	fputc('\n', fp);
	if (it->severity >= MTS_SEV_WARNING && *info->hint)
		fprintf(fp, "%s        fix: %s\n", indent, info->hint);
}

void cli_print_findings(FILE *fp, const struct mts_findings *f, const char *indent, bool color)
{
	for (size_t i = 0; i < f->count; i++)
		cli_print_finding(fp, &f->items[i], indent, color);
}

int cli_net_init(struct cli_net *n, int argc, unsigned default_timeout)
{
	memset(n, 0, sizeof(*n));
	n->timeout = default_timeout;
	n->connect_to = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*n->connect_to));
	return n->connect_to ? 0 : MTS_ENOMEM;
}

void cli_net_free(struct cli_net *n)
{
	free(n->connect_to);
	n->connect_to = NULL;
}

int cli_net_option(const char *cmd, int opt, const char *arg, struct cli_net *n)
{
	char addr[64];
	unsigned port;
	unsigned long v;
	struct mts_connect_to ct;
	switch (opt) {
	case CLI_OPT_RESOLVER:
		if (mts_dns_resolver_parse(arg, addr, sizeof(addr), &port) < 0)
			return cli_usage(cmd, "--resolver '%s' is not ADDR or ADDR@PORT", arg);
		n->resolver = arg;
		return 1;
	case CLI_OPT_TRUST_ANCHOR: n->trust_anchor = arg; return 1;
	case CLI_OPT_CA_FILE: n->ca_file = arg; return 1;
	case CLI_OPT_CONNECT_TO:
		if (mts_connect_to_parse(arg, strlen(arg), &ct) < 0)
			return cli_usage(cmd, "--connect-to '%s' is not HOST:PORT:ADDR:PORT", arg);
		n->connect_to[n->connect_to_count++] = arg;
		return 1;
	case CLI_OPT_TIMEOUT:
		if (cli_parse_uint(arg, 1, CLI_TIMEOUT_MAX, &v) < 0)
			return cli_usage(cmd, "--timeout must be 1 to %d seconds, not '%s'",
					 CLI_TIMEOUT_MAX, arg);
		n->timeout = (unsigned)v;
		return 1;
	default: return 0;
	}
}

int cli_run_until(const char *cmd, struct event_base *base, const size_t *done, size_t count)
{
	while (*done < count)
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			break;
	if (*done >= count)
		return 0;
	cli_error(cmd, "the event loop stopped early");
	return CLI_EXIT_INCOMPLETE;
}

int cli_parse_domain(const char *arg, char *out)
{
	size_t len = strlen(arg);
	enum mts_dname_status st = mts_dname_normalize(arg, len, false, out, NULL);
	if (st == MTS_DNAME_NON_ASCII) {
		if (mts_dname_to_alabel(arg, len, out) < 0)
			return MTS_EINVAL;
		st = mts_dname_normalize(out, strlen(out), false, out, NULL);
	}
	return st == MTS_DNAME_OK ? 0 : MTS_EINVAL;
}

int cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || v < min || v > max)
		return MTS_EINVAL;
	*out = v;
	return 0;
}

json_t *cli_findings_json(const struct mts_findings *f)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < f->count; i++) {
		const struct mts_finding *it = &f->items[i];
		const struct mts_finding_info *info = mts_finding_info(it->id);
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", info->code, "severity",
				      mts_severity_name(it->severity), "message", it->message,
				      "rfc", info->rfc, "hint", info->hint);
		if (!o)
			continue;
		if (it->line)
			json_object_set_new(o, "line", json_integer(it->line));
		if (it->column)
			json_object_set_new(o, "column", json_integer(it->column));
		if (it->subject)
			json_object_set_new(o, "subject", json_string(it->subject));
		json_array_append_new(arr, o);
	}
	return arr;
}

void cli_print_json(json_t *v)
{
	if (!v) {
		fputs("null\n", stdout);
		return;
	}
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(v);
}

FILE *cli_output_text(struct cli_output *o)
{
	return open_memstream(&o->text, &o->text_len);
}

static struct cli_output *output_at(struct cli_output *first, size_t i, size_t stride)
{
	return (struct cli_output *)((char *)first + i * stride);
}

json_t *cli_outputs_take(struct cli_output *first, size_t count, size_t stride, bool json,
			 const char *sep)
{
	json_t *list = json ? json_array() : NULL;
	bool printed = false;
	if (json && !list)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		struct cli_output *o = output_at(first, i, stride);
		if (json && o->json) {
			json_array_append_new(list, o->json);
			o->json = NULL;
		} else if (!json && o->text) {
			if (printed && sep)
				fputs(sep, stdout);
			fwrite(o->text, 1, o->text_len, stdout);
			printed = true;
		}
	}
	return list;
}

void cli_output_free(struct cli_output *o)
{
	json_decref(o->json);
	free(o->text);
	o->json = NULL;
	o->text = NULL;
}

int cli_drop_privileges(const char *user, char *why, size_t cap)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(why, cap, "user %s: %s", user, errno ? strerror(errno) : "no such user");
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (initgroups(pw->pw_name, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		snprintf(why, cap, "cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	uid_t ru = (uid_t)-1, eu = (uid_t)-1, su = (uid_t)-1;
	gid_t rg = (gid_t)-1, eg = (gid_t)-1, sg = (gid_t)-1;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
		snprintf(why, cap, "became %s only in part (uid %ld %ld %ld, gid %ld %ld %ld)", user,
			 (long)ru, (long)eu, (long)su, (long)rg, (long)eg, (long)sg);
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(why, cap, "root could be regained after becoming %s", user);
		return -1;
	}
	return 0;
}
