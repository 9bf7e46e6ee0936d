/* cmd_fetch.c - `mtasts fetch`: discover the MTA-STS policy of domains as a
 * sending MTA would (RFC 8461 §3.3, §5), with a cache, on one event loop.
 *
 * --json prints one object (documented in docs/fetch-json.md):
 *   {"domains": [{
 *      "domain": "example.com",
 *      "outcome": "ok" | "no-policy" | "sts-policy-fetch-error" | "sts-webpki-invalid"
 *                 | "sts-policy-invalid" | "dns-error",
 *      "valid": true,                 a valid policy applies (fetched or cached)
 *      "source": "network" | "cache" | "negative-cache" | "none",
 *      "reason": "",                  why the outcome is not ok
 *      "record": {"id": "20240601T000000" | null, "dnssec": "unknown",
 *                 "txt": [{"text": "v=STSv1; id=...", "strings": 1}]},
 *      "fetch": {"done": true, "http_status": 200, "connected_to": "192.0.2.1:443"},
 *      "policy": null | {"id": "...", "mode": "enforce", "max_age": 604800,
 *                 "mx": ["mx1.example.com"], "fetched_at": 1700000000,
 *                 "expires_at": 1700604800, "age": 0, "expires_in": 604800,
 *                 "body": "version: STSv1\r\n..."},
 *      "findings": [ {code, severity, message, rfc, hint, line, column, subject} ]
 *   }], "summary": {"domains": 1, "valid": 1, "without_policy": 0}}
 * Domains appear in the order given. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cli.h"
#include "commands.h"
#include "mtasts/cache.h"
#include "mtasts/dname.h"
#include "mtasts/discovery.h"
#include "io/dns_int.h"
#include "io/https_int.h"
#include "mtasts/policy.h"
#include "core/text_int.h"

#define FETCH_TIMEOUT_DEFAULT 10   /* seconds, per DNS query and per HTTPS transfer */
#define FETCH_MAX_INFLIGHT 256     /* domains discovered at once */

const char cmd_fetch_help[] =
	"Usage: mtasts fetch DOMAIN... [--json] [--cache URL] [--resolver ADDR@PORT]\n"
	"                    [--trust-anchor FILE] [--ca-file FILE]\n"
	"                    [--connect-to HOST:PORT:ADDR:PORT]... [--timeout SECONDS]\n"
	"\n"
	"Discover each domain's MTA-STS policy as a sending MTA does (RFC 8461): look up\n"
	"_mta-sts TXT, fetch https://mta-sts.DOMAIN/.well-known/mta-sts.txt when the id\n"
	"is new or changed, and fall back to an unexpired cached policy when DNS or the\n"
	"fetch fails. Shows the record, the policy, where it came from (network or\n"
	"cache, age, expiry) and every finding. Domains are discovered concurrently.\n"
	"\n"
	"Options:\n"
	"      --json               machine-readable output (see docs/fetch-json.md)\n"
	"      --cache URL          policy cache: memory: (default, this run only),\n"
	"                           sqlite:///path/to/cache.db (kept between runs) or\n"
	"                           redis://HOST[:PORT][/DB] or postgresql://HOST/DB\n"
	"                           (shared by a fleet);\n"
	"                           failures are remembered for a short backoff\n"
	"      --resolver ADDR@PORT DNS resolver to forward to (default: the system's)\n"
	"      --trust-anchor FILE  validate DNSSEC with this root key file\n"
	"      --ca-file FILE       trust these CA certificates for HTTPS (default: the\n"
	"                           system store)\n"
	"      --connect-to HOST:PORT:ADDR:PORT\n"
	"                           connect to ADDR:PORT instead of HOST:PORT, keeping the\n"
	"                           name for SNI and the certificate check (repeatable)\n"
	"      --timeout SECONDS    limit of each DNS query and of the HTTPS transfer\n"
	"                           (default 10)\n"
	"  -h, --help               show this help\n"
	"\n"
	"Exit codes: 0 every domain has a valid policy, 1 some domain has none or an\n"
	"invalid one, 2 usage error, 3 could not complete.\n";

enum { OPT_JSON = 256, OPT_CACHE };

static const struct option fetch_options[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"cache", required_argument, NULL, OPT_CACHE},
	CLI_NET_LONG_OPTIONS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct domain_job {
	struct fetch_run *run;
	char name[MTS_DNAME_MAX + 1];
	bool done, valid;
	struct cli_output out; /* --json, or text */
};

struct fetch_run {
	struct event_base *base;
	struct mts_discovery *discovery;
	bool json, color;
	struct domain_job *jobs;
	size_t count, next, done;
	int exit_code;
	char cache_error[MTS_ERROR_MSG_MAX];
};

static json_t *record_json(const struct mts_discovery_result *r)
{
	json_t *txt = json_array();
	for (size_t i = 0; i < r->txt_count; i++)
		json_array_append_new(txt, json_pack("{s:s%, s:I}", "text", r->txts[i],
						     r->txt_lens[i], "strings",
						     (json_int_t)r->txt_strings[i]));
	return json_pack("{s:o, s:s, s:o}", "id",
			 r->txt_id[0] ? json_string(r->txt_id) : json_null(), "dnssec",
			 mts_dnssec_name(r->txt_dnssec), "txt", txt);
}

static json_t *policy_json(const struct mts_discovery_result *r)
{
	const struct mts_policy *p = r->policy;
	if (!p)
		return json_null();
	json_t *mx = json_array();
	for (size_t i = 0; i < p->mx_count; i++)
		json_array_append_new(mx, json_string(p->mx[i]));
	return json_pack("{s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:I, s:s%}", "id", r->policy_id,
			 "mode", mts_mode_name(p->mode), "max_age", (json_int_t)p->max_age, "mx",
			 mx, "fetched_at", (json_int_t)r->fetched_at, "expires_at",
			 (json_int_t)r->expires_at, "age", (json_int_t)(r->now - r->fetched_at),
			 "expires_in", (json_int_t)(r->expires_at - r->now), "body", p->body,
			 p->body_len);
}

static json_t *result_json(const struct mts_discovery_result *r)
{
	return json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:{s:b, s:I, s:s}, s:o, s:o}", "domain",
			 r->domain, "outcome", mts_discovery_outcome_name(r->outcome), "valid",
			 r->policy != NULL, "source", mts_policy_source_name(r->source), "reason",
			 r->reason, "record", record_json(r), "fetch", "done", r->fetched,
			 "http_status", (json_int_t)r->http_status, "connected_to",
			 r->connected_to, "policy", policy_json(r), "findings",
			 cli_findings_json(r->findings));
}

static void print_duration(FILE *fp, long long seconds)
{
	if (seconds < 0)
		fprintf(fp, "%lld s ago", -seconds);
	else if (seconds >= 2 * 86400)
		fprintf(fp, "%lld days", seconds / 86400);
	else if (seconds >= 2 * 3600)
		fprintf(fp, "%lld hours", seconds / 3600);
	else
		fprintf(fp, "%lld s", seconds);
}

static void utc(long long t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "%lld", t);
}

static void result_text(FILE *fp, const struct mts_discovery_result *r, bool color)
{
	bool valid = r->policy != NULL;
	fprintf(fp, "%s: %s%s%s", r->domain,
		cli_color_for(valid ? MTS_SEV_INFO : MTS_SEV_ERROR, color),
		valid ? "policy" : "no policy", cli_color_reset(color));
	if (valid)
		fprintf(fp, " (%s, from the %s)", mts_mode_name(r->policy->mode),
			r->source == MTS_SOURCE_NETWORK ? "network" : "cache");
	if (r->outcome != MTS_OUTCOME_OK)
		fprintf(fp, " [%s]", mts_discovery_outcome_name(r->outcome));
	fputc('\n', fp);
	if (r->reason[0])
		fprintf(fp, "  reason   %s\n", r->reason);
	for (size_t i = 0; i < r->txt_count; i++) {
		char shown[MTS_PRINTABLE_BUF];
		fprintf(fp, "  record   \"%s\"", mts_printable(r->txts[i], r->txt_lens[i], shown,
							    sizeof(shown)));
		if (r->txt_strings[i] > 1)
			fprintf(fp, " (%u strings joined)", r->txt_strings[i]);
		fputc('\n', fp);
	}
	if (r->txt_id[0])
		fprintf(fp, "  id       %s (DNSSEC %s)\n", r->txt_id, mts_dnssec_name(r->txt_dnssec));
	if (r->fetched) {
		fprintf(fp, "  fetch    https://mta-sts.%s/.well-known/mta-sts.txt", r->domain);
		if (r->connected_to[0])
			fprintf(fp, " via %s", r->connected_to);
		if (r->http_status)
			fprintf(fp, ", HTTP %ld", r->http_status);
		fputc('\n', fp);
	}
	if (valid) {
		const struct mts_policy *p = r->policy;
		char when[32];
		fprintf(fp, "  policy   mode %s, max_age %u, mx", mts_mode_name(p->mode), p->max_age);
		for (size_t i = 0; i < p->mx_count; i++)
			fprintf(fp, " %s", p->mx[i]);
		fputc('\n', fp);
		utc(r->fetched_at, when, sizeof(when));
		fprintf(fp, "  cached   id %s, fetched %s (age ", r->policy_id, when);
		print_duration(fp, r->now - r->fetched_at);
		utc(r->expires_at, when, sizeof(when));
		fprintf(fp, "), expires %s (in ", when);
		print_duration(fp, r->expires_at - r->now);
		fprintf(fp, ")\n");
	}
	cli_print_findings(fp, r->findings, "  ", color);
}

static void start_next(struct fetch_run *run);

static void on_result(const struct mts_discovery_result *r, void *arg)
{
	struct domain_job *job = arg;
	struct fetch_run *run = job->run;
	job->done = true;
	job->valid = r->policy != NULL;
	if (r->cache_error[0] && !run->cache_error[0])
		snprintf(run->cache_error, sizeof(run->cache_error), "%s", r->cache_error);
	if (run->json) {
		job->out.json = result_json(r);
	} else {
		FILE *fp = cli_output_text(&job->out);
		if (fp) {
			result_text(fp, r, run->color);
			fclose(fp);
		}
	}
	run->done++;
	start_next(run);
}

static void start_next(struct fetch_run *run)
{
	while (run->next < run->count &&
	       mts_discovery_pending(run->discovery) < FETCH_MAX_INFLIGHT) {
		struct domain_job *job = &run->jobs[run->next++];
		struct mts_error err = {0};
		if (mts_discovery_lookup(run->discovery, job->name, on_result, job, &err) < 0) {
			cli_error("fetch", "%s: %s", job->name, err.message);
			run->exit_code = CLI_EXIT_INCOMPLETE;
			job->done = true;
			run->done++;
		}
	}
}

struct fetch_args {
	bool json;
	const char *cache_url;
	struct cli_net net;
};

static int run_fetch(struct fetch_args *a, int nargs, char **args)
{
	struct fetch_run run = {.json = a->json, .color = !a->json && cli_use_color(stdout)};
	run.jobs = calloc((size_t)nargs, sizeof(*run.jobs));
	if (!run.jobs) {
		cli_error("fetch", "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	run.count = (size_t)nargs;
	for (int i = 0; i < nargs; i++) {
		run.jobs[i].run = &run;
		if (cli_parse_domain(args[i], run.jobs[i].name) < 0) {
			free(run.jobs);
			return cli_usage("fetch", "'%s' is not a valid domain name", args[i]);
		}
	}
	struct mts_error err = {0};
	int rc = CLI_EXIT_INCOMPLETE;
	struct mts_cache *cache = NULL;
	struct mts_discovery_net *net = NULL;
	run.base = event_base_new();
	if (!run.base) {
		cli_error("fetch", "cannot create the event loop");
		goto out;
	}
	cache = mts_cache_open(a->cache_url ? a->cache_url : "memory:", &err);
	if (!cache) {
		if (err.code == MTS_EUSAGE) {
			rc = cli_usage("fetch", "--cache: %s", err.message);
		} else {
			cli_error("fetch", "%s", err.message);
		}
		goto out;
	}
	struct mts_discovery_net_opts nopts = {
		.resolver = a->net.resolver,
		.trust_anchor_file = a->net.trust_anchor,
		.ca_file = a->net.ca_file,
		.connect_to = a->net.connect_to,
		.connect_to_count = a->net.connect_to_count,
		.timeout_ms = a->net.timeout * 1000u,
	};
	net = mts_discovery_net_new(run.base, &nopts, &err);
	if (!net) {
		cli_error("fetch", "%s", err.message);
		goto out;
	}
	run.discovery = mts_discovery_new(run.base, cache, &mts_discovery_net_transport, net, NULL,
					  &err);
	if (!run.discovery) {
		cli_error("fetch", "%s", err.message);
		goto out;
	}
	run.exit_code = CLI_EXIT_OK;
	start_next(&run);
	if (cli_run_until("fetch", run.base, &run.done, run.count))
		run.exit_code = CLI_EXIT_INCOMPLETE;
	size_t valid = 0;
	for (size_t i = 0; i < run.count; i++)
		valid += run.jobs[i].valid;
	json_t *list = cli_outputs_take(&run.jobs[0].out, run.count, sizeof(run.jobs[0]), run.json,
					NULL);
	if (run.json)
		cli_print_json(json_pack("{s:o, s:{s:I, s:I, s:I}}", "domains", list, "summary",
					 "domains", (json_int_t)run.count, "valid",
					 (json_int_t)valid, "without_policy",
					 (json_int_t)(run.count - valid)));
	if (run.cache_error[0]) {
		cli_error("fetch", "cache: %s", run.cache_error);
		run.exit_code = CLI_EXIT_INCOMPLETE;
	}
	rc = run.exit_code;
	if (rc == CLI_EXIT_OK && valid < run.count)
		rc = CLI_EXIT_PROBLEM;
out:
	mts_discovery_free(run.discovery);
	mts_discovery_net_free(net);
	mts_cache_close(cache);
	if (run.base)
		event_base_free(run.base);
	for (size_t i = 0; i < run.count; i++)
		cli_output_free(&run.jobs[i].out);
	free(run.jobs);
	return rc;
}

int cmd_fetch(int argc, char **argv)
{
	struct fetch_args a = {0};
	if (cli_net_init(&a.net, argc, FETCH_TIMEOUT_DEFAULT) < 0) {
		cli_error("fetch", "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	int c, rc = CLI_EXIT_OK;
	optind = 1;
	while ((c = cli_getopt("fetch", argc, argv, ":h", fetch_options)) != -1) {
		int net = cli_net_option("fetch", c, optarg, &a.net);
		if (net == 1)
			continue;
		if (net == CLI_EXIT_USAGE) {
			cli_net_free(&a.net);
			return CLI_EXIT_USAGE;
		}
		switch (c) {
		case 'h': cli_net_free(&a.net); return cli_print_help(cmd_fetch_help);
		case OPT_JSON: a.json = true; break;
		case OPT_CACHE: a.cache_url = optarg; break;
		default: cli_net_free(&a.net); return CLI_EXIT_USAGE;
		}
	}
	int nargs = argc - optind;
	if (nargs < 1) {
		cli_net_free(&a.net);
		return cli_usage("fetch", "needs at least one DOMAIN");
	}
	rc = run_fetch(&a, nargs, argv + optind);
	cli_net_free(&a.net);
	return rc;
}
