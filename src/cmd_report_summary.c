/* cmd_report_summary.c - `mtasts report summary`: per domain and day, and
 * the verdict on moving a policy from testing to enforce. The figures come
 * from lib/core/report_summary.c; this file reads the store and prints. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "report_cmd.h"
#include "mtasts/report_store.h"
#include "mtasts/report_summary.h"

#define SUMMARY_DEFAULT_DAYS 14
#define SUMMARY_DEFAULT_MIN_REPORTERS 2

enum { OPT_STORE = 256, OPT_DOMAIN, OPT_JSON, OPT_CSV, OPT_SINCE, OPT_UNTIL, OPT_DAYS, OPT_MIN };

static const struct option summary_options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"json", no_argument, NULL, OPT_JSON},
	{"csv", no_argument, NULL, OPT_CSV},
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"days", required_argument, NULL, OPT_DAYS},
	{"min-reporters", required_argument, NULL, OPT_MIN},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static json_t *count_json(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *summary_json(const struct mts_summary *s)
{
	char since[16], until[16], psince[16], puntil[16];
	mts_summary_date_format(s->options.since, since, sizeof(since));
	mts_summary_date_format(s->options.until, until, sizeof(until));
	mts_summary_date_format(mts_summary_previous_since(&s->options), psince, sizeof(psince));
	mts_summary_date_format(s->options.since - MTS_SUMMARY_DAY, puntil, sizeof(puntil));
	json_t *doms = json_array();
	for (size_t i = 0; i < s->domain_count; i++) {
		const struct mts_summary_domain *d = &s->domains[i];
		json_t *days = json_array(), *types = json_array(), *fresh = json_array();
		json_t *mx = json_array(), *reasons = json_array();
		for (size_t j = 0; j < d->day_count; j++) {
			const struct mts_summary_day *day = &d->days[j];
			char date[16];
			mts_summary_date_format(day->day, date, sizeof(date));
			json_t *fails = json_array();
			for (size_t k = 0; k < day->failure_count; k++) {
				const struct mts_summary_failure *f = &day->failures[k];
				json_array_append_new(
					fails, json_pack("{s:s, s:s, s:s, s:s, s:o}", "result-type",
							 f->result_type, "receiving-mx-hostname",
							 f->mx_host, "receiving-ip", f->receiving_ip,
							 "reporter", f->reporter, "failed-sessions",
							 count_json(f->sessions)));
			}
			json_array_append_new(
				days, json_pack("{s:s, s:I, s:o, s:o, s:o}", "date", date, "reports",
						(json_int_t)day->reports, "successful-sessions",
						count_json(day->successful), "failed-sessions",
						count_json(day->failed), "failures", fails));
		}
		for (size_t j = 0; j < d->type_count; j++) {
			const struct mts_summary_type *t = &d->types[j];
			json_array_append_new(types,
					      json_pack("{s:s, s:o, s:b, s:b}", "result-type",
							t->result_type, "failed-sessions",
							count_json(t->sessions), "blocking",
							t->blocking, "new", t->is_new));
			if (t->is_new)
				json_array_append_new(fresh, json_string(t->result_type));
		}
		for (size_t j = 0; j < d->mx_count; j++)
			json_array_append_new(mx, json_pack("{s:s, s:I}", "mx-host", d->mx[j].mx_host,
							    "reporters",
							    (json_int_t)d->mx[j].reporters));
		for (size_t j = 0; j < d->reason_count; j++)
			json_array_append_new(reasons, json_pack("{s:s, s:b, s:s}", "code",
								 d->reasons[j].code, "blocking",
								 d->reasons[j].blocking, "message",
								 d->reasons[j].message));
		json_array_append_new(
			doms, json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
					"domain", d->domain, "reports", (json_int_t)d->reports,
					"reporters", (json_int_t)d->reporters,
					"successful-sessions", count_json(d->successful),
					"failed-sessions", count_json(d->failed), "days", days,
					"failure-types", types, "new-failure-types", fresh,
					"mx-hosts", mx, "ready", d->ready, "reasons", reasons));
	}
	return json_pack("{s:{s:s, s:s, s:I}, s:{s:s, s:s}, s:I, s:I, s:b, s:o}", "period",
			 "since", since, "until", until, "days",
			 (json_int_t)((s->options.until - s->options.since) / MTS_SUMMARY_DAY + 1),
			 "previous-period", "since", psince, "until", puntil, "min-reporters",
			 (json_int_t)s->options.min_reporters, "reports", (json_int_t)s->reports,
			 "ready", s->ready && s->domain_count > 0, "domains", doms);
}

/* Foreign text: control bytes escaped, UTF-8 kept, nothing cut (each
 * string is bounded by the report parser's MTS_REPORT_MAX_STRING). */
static void put_escaped(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* RFC 4180: quote a field that holds a separator, a quote or a line end
 * (line ends are escaped anyway: one record per line). */
static void csv_field(const char *v, bool last)
{
	if (strpbrk(v, ",\"")) {
		putchar('"');
		for (const char *p = v; *p; p++) {
			if (*p == '"')
				putchar('"');
			char one[2] = {*p, '\0'};
			put_escaped(one);
		}
		putchar('"');
	} else {
		put_escaped(v);
	}
	putchar(last ? '\n' : ',');
}

enum { CSV_OK = 1, CSV_FAILED = 2 }; /* which counts a row has */

static void csv_row(const char *domain, const char *date, const char *kind, const char *reports,
		    uint64_t ok, uint64_t failed, unsigned counts, const char *type,
		    const char *mx, const char *ip, const char *reporter, const char *note)
{
	char a[24] = "", b[24] = "";
	if (counts & CSV_OK)
		snprintf(a, sizeof(a), "%" PRIu64, ok);
	if (counts & CSV_FAILED)
		snprintf(b, sizeof(b), "%" PRIu64, failed);
	csv_field(domain, false);
	csv_field(date, false);
	csv_field(kind, false);
	csv_field(reports, false);
	csv_field(a, false);
	csv_field(b, false);
	csv_field(type, false);
	csv_field(mx, false);
	csv_field(ip, false);
	csv_field(reporter, false);
	csv_field(note, true);
}

static void summary_csv(const struct mts_summary *s)
{
	printf("domain,date,kind,reports,successful_sessions,failed_sessions,result_type,"
	       "receiving_mx_hostname,receiving_ip,reporter,note\n");
	for (size_t i = 0; i < s->domain_count; i++) {
		const struct mts_summary_domain *d = &s->domains[i];
		for (size_t j = 0; j < d->day_count; j++) {
			const struct mts_summary_day *day = &d->days[j];
			char date[16], n[24];
			mts_summary_date_format(day->day, date, sizeof(date));
			snprintf(n, sizeof(n), "%zu", day->reports);
			csv_row(d->domain, date, "day", n, day->successful, day->failed,
				CSV_OK | CSV_FAILED, "",
				"", "", "", "");
			for (size_t k = 0; k < day->failure_count; k++) {
				const struct mts_summary_failure *f = &day->failures[k];
				csv_row(d->domain, date, "failure", "", 0, f->sessions, CSV_FAILED,
					f->result_type, f->mx_host, f->receiving_ip, f->reporter, "");
			}
		}
		for (size_t j = 0; j < d->type_count; j++)
			if (d->types[j].is_new)
				csv_row(d->domain, "", "new-failure-type", "", 0, d->types[j].sessions,
					CSV_FAILED, d->types[j].result_type, "", "", "", "");
		for (size_t j = 0; j < d->reason_count; j++)
			csv_row(d->domain, "", "reason", "", 0, 0, 0, d->reasons[j].code, "", "", "",
				d->reasons[j].message);
		char n[24];
		snprintf(n, sizeof(n), "%zu", d->reports);
		csv_row(d->domain, "", "verdict", n, d->successful, d->failed, CSV_OK | CSV_FAILED, "",
			"", "", "",
			d->ready ? "ready" : "not-ready");
	}
}

static void put_name(const char *s)
{
	if (*s)
		put_escaped(s);
	else
		putchar('-');
}

static void summary_text(const struct mts_summary *s)
{
	bool color = cli_use_color(stdout);
	const char *green = color ? "\033[1;32m" : "", *red = color ? "\033[1;31m" : "";
	const char *reset = cli_color_reset(color);
	char since[16], until[16];
	mts_summary_date_format(s->options.since, since, sizeof(since));
	mts_summary_date_format(s->options.until, until, sizeof(until));
	printf("Period %s to %s (%lld days): %zu report%s\n", since, until,
	       (long long)((s->options.until - s->options.since) / MTS_SUMMARY_DAY + 1), s->reports,
	       s->reports == 1 ? "" : "s");
	if (s->domain_count == 0)
		printf("no reports in the period\n");
	for (size_t i = 0; i < s->domain_count; i++) {
		const struct mts_summary_domain *d = &s->domains[i];
		printf("\n");
		put_name(d->domain);
		printf(": %s%s%s for enforce (%zu report%s from %zu organization%s; %" PRIu64
		       " successful, %" PRIu64 " failed sessions)\n",
		       d->ready ? green : red, d->ready ? "ready" : "NOT ready", reset, d->reports,
		       d->reports == 1 ? "" : "s", d->reporters, d->reporters == 1 ? "" : "s",
		       d->successful, d->failed);
		if (d->day_count)
			printf("  %-10s %8s %12s %8s\n", "day", "reports", "successful", "failed");
		for (size_t j = 0; j < d->day_count; j++) {
			const struct mts_summary_day *day = &d->days[j];
			char date[16];
			mts_summary_date_format(day->day, date, sizeof(date));
			printf("  %-10s %8zu %12" PRIu64 " %8" PRIu64 "\n", date, day->reports,
			       day->successful, day->failed);
			for (size_t k = 0; k < day->failure_count; k++) {
				const struct mts_summary_failure *f = &day->failures[k];
				printf("    %8" PRIu64 " ", f->sessions);
				put_name(f->result_type);
				printf(" at mx ");
				put_name(f->mx_host);
				printf(" ip ");
				put_name(f->receiving_ip);
				printf(", reported by ");
				put_name(f->reporter);
				printf("\n");
			}
		}
		if (d->type_count) {
			printf("  failure types:\n");
			for (size_t j = 0; j < d->type_count; j++) {
				const struct mts_summary_type *t = &d->types[j];
				printf("    %8" PRIu64 " ", t->sessions);
				put_name(t->result_type);
				if (t->blocking || t->is_new)
					printf(" (%s%s%s)", t->blocking ? "blocks enforce" : "",
					       t->blocking && t->is_new ? ", " : "",
					       t->is_new ? "new since the previous period" : "");
				printf("\n");
			}
		}
		if (d->mx_count) {
			printf("  mx hosts:\n");
			for (size_t j = 0; j < d->mx_count; j++) {
				printf("    ");
				put_name(d->mx[j].mx_host);
				printf(": %zu reporter%s\n", d->mx[j].reporters,
				       d->mx[j].reporters == 1 ? "" : "s");
			}
		}
		for (size_t j = 0; j < d->reason_count; j++) {
			const struct mts_summary_reason *r = &d->reasons[j];
			printf("  %s%-7s%s %s: ", r->blocking ? red : "",
			       r->blocking ? "blocks" : "note", reset, r->code);
			put_name(r->message);
			printf("\n");
		}
	}
}

static int parse_count(const char *cmd, const char *opt, const char *v, long max, long *out)
{
	unsigned long n;
	if (cli_parse_uint(v, 1, (unsigned long)max, &n) < 0)
		return cli_usage(cmd, "%s needs a whole number from 1 to %ld", opt, max);
	*out = (long)n;
	return 0;
}

static int parse_day(const char *cmd, const char *opt, const char *v, int64_t *out)
{
	if (mts_summary_date_parse(v, strlen(v), out) < 0)
		return cli_usage(cmd, "%s needs a date YYYY-MM-DD, not '%s'", opt, v);
	return 0;
}

struct walk {
	struct mts_summary *summary;
	int rc;
};

static int add_one(const struct mts_report *r, void *ctx)
{
	struct walk *w = ctx;
	w->rc = mts_summary_add(w->summary, r);
	return w->rc;
}

int report_summary_main(const char *cmd, int argc, char **argv)
{
	const char *store = NULL, *domain = NULL, *since_arg = NULL, *until_arg = NULL;
	bool json = false, csv = false;
	long days = SUMMARY_DEFAULT_DAYS, min_reporters = SUMMARY_DEFAULT_MIN_REPORTERS;
	bool days_set = false;
	int c, rc;
	optind = 1;
	while ((c = cli_getopt(cmd, argc, argv, ":h", summary_options)) != -1) {
		switch (c) {
		case 'h': return cli_print_help(cmd_report_help);
		case OPT_STORE: store = optarg; break;
		case OPT_DOMAIN: domain = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_CSV: csv = true; break;
		case OPT_SINCE: since_arg = optarg; break;
		case OPT_UNTIL: until_arg = optarg; break;
		case OPT_DAYS:
			if ((rc = parse_count(cmd, "--days", optarg, MTS_SUMMARY_MAX_DAYS, &days)))
				return rc;
			days_set = true;
			break;
		case OPT_MIN:
			if ((rc = parse_count(cmd, "--min-reporters", optarg, 1000, &min_reporters)))
				return rc;
			break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage(cmd, "summary takes no operands ('%s')", argv[optind]);
	if (json && csv)
		return cli_usage(cmd, "--json and --csv exclude each other");
	if (since_arg && days_set)
		return cli_usage(cmd, "--since and --days exclude each other");
	if (domain && (!*domain || strlen(domain) > 253))
		return cli_usage(cmd, "--domain needs a domain name");
	struct mts_summary_options o = {.domain = domain, .min_reporters = (size_t)min_reporters};
	if (since_arg && (rc = parse_day(cmd, "--since", since_arg, &o.since)))
		return rc;
	if (until_arg && (rc = parse_day(cmd, "--until", until_arg, &o.until)))
		return rc;

	struct mts_report_store *s;
	if ((rc = report_open_store(cmd, store, &s)))
		return rc;
	struct mts_error err = {0};
	if (!until_arg) {
		/* Reports arrive a day or more late: the period ends with the
		 * newest report, or today when there is none. */
		if (mts_report_store_last_day(s, &o.until, &err) < 0) {
			cli_error(cmd, "%s", err.message);
			mts_report_store_close(s);
			return CLI_EXIT_INCOMPLETE;
		}
		if (o.until == 0) {
			int64_t now = (int64_t)time(NULL);
			o.until = now - now % MTS_SUMMARY_DAY;
		}
		if (since_arg && o.since > o.until)
			o.until = o.since;
	}
	if (!since_arg)
		o.since = o.until - (int64_t)(days - 1) * MTS_SUMMARY_DAY;
	if (o.since > o.until || (o.until - o.since) / MTS_SUMMARY_DAY >= MTS_SUMMARY_MAX_DAYS) {
		mts_report_store_close(s);
		return cli_usage(cmd, "--since must not be after --until, nor %d days before it",
				 MTS_SUMMARY_MAX_DAYS);
	}
	struct walk w = {.summary = mts_summary_new(&o)};
	if (!w.summary) {
		mts_report_store_close(s);
		cli_error(cmd, "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	rc = mts_report_store_each(s, mts_summary_previous_since(&o), o.until + MTS_SUMMARY_DAY,
				   add_one, &w, &err);
	mts_report_store_close(s);
	if (rc == 0)
		rc = mts_summary_finish(w.summary);
	if (rc < 0) {
		cli_error(cmd, "%s", w.rc || rc == MTS_ENOMEM ? "out of memory" : err.message);
		mts_summary_free(w.summary);
		return CLI_EXIT_INCOMPLETE;
	}
	if (json)
		cli_print_json(summary_json(w.summary));
	else if (csv)
		summary_csv(w.summary);
	else
		summary_text(w.summary);
	bool ok = w.summary->ready && !w.summary->failures && w.summary->domain_count > 0;
	mts_summary_free(w.summary);
	return ok ? CLI_EXIT_OK : CLI_EXIT_PROBLEM;
}
