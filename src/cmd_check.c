/* cmd_check.c - `mtasts check`: the live audit of domains' mail transport
 * security (MTA-STS records and policy, the policy host's certificate, every
 * MX host's STARTTLS and certificate, DANE, TLS-RPT, SPF, DMARC) with a
 * verdict. Output as text (verdict first, findings by layer), --json (see
 * docs/check-json.md) or --format nagios. Domains run concurrently; output
 * keeps the order given. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cli.h"
#include "commands.h"
#include "mtasts/check.h"
#include "mtasts/dname.h"
#include "mtasts/policy.h"
#include "core/text_int.h"

#define CHECK_TIMEOUT_DEFAULT 10   /* seconds, per DNS query, fetch and probe */
#define CHECK_CONCURRENCY_DEFAULT 32
#define CHECK_CONCURRENCY_MAX 1024

const char cmd_check_help[] =
	"Usage: mtasts check DOMAIN... [--json | --format text|json|nagios]\n"
	"                    [--resolver ADDR@PORT] [--trust-anchor FILE] [--ca-file FILE]\n"
	"                    [--connect-to HOST:PORT:ADDR:PORT]... [--timeout SECONDS]\n"
	"                    [--smtp-port PORT] [--helo NAME] [--concurrency N] [--no-smtp]\n"
	"\n"
	"Audit each domain live, as a sending MTA and an attacker would see it: the\n"
	"_mta-sts record, the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt and\n"
	"its host's certificate (days left), every MX host (addresses, STARTTLS, TLS\n"
	"version, certificate chain, name and expiry, coverage by the policy, policy\n"
	"patterns no MX uses), TLSA records (DANE) with their DNSSEC status, TLS-RPT,\n"
	"SPF (with the 10-lookup limit across includes) and DMARC. Prints a verdict:\n"
	"protected, testing, not deployed or broken, and whether enforce is safe.\n"
	"\n"
	"Options:\n"
	"      --json               machine-readable output (see docs/check-json.md)\n"
	"      --format FORMAT      text (default), json, or nagios (monitoring-plugin\n"
	"                           output; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)\n"
	"      --resolver ADDR@PORT DNS resolver to forward to (default: the system's)\n"
	"      --trust-anchor FILE  validate DNSSEC with this trust anchor file (needed\n"
	"                           to report DANE as valid)\n"
	"      --ca-file FILE       trust these CA certificates for HTTPS and SMTP\n"
	"                           (default: the system store)\n"
	"      --connect-to HOST:PORT:ADDR:PORT\n"
	"                           connect to ADDR:PORT instead of HOST:PORT (policy\n"
	"                           host on 443 or MX host on the SMTP port), keeping the\n"
	"                           name for SNI and the certificate check (repeatable)\n"
	"      --timeout SECONDS    limit of each DNS query, the policy fetch and each\n"
	"                           SMTP probe (default 10)\n"
	"      --smtp-port PORT     probe MX hosts on this port (default 25)\n"
	"      --helo NAME          name sent in EHLO (default mtasts.invalid)\n"
	"      --concurrency N      domains checked at once (default 32)\n"
	"      --no-smtp            do not connect to MX hosts (where port 25 is blocked,\n"
	"                           as on many cloud and home networks); their TLS is\n"
	"                           then unknown and the verdict assumes it passes\n"
	"  -h, --help               show this help\n"
	"\n"
	"Exit codes: 0 no errors found, 1 errors found, 2 usage error, 3 could not\n"
	"complete. With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n";

enum { OPT_JSON = 256, OPT_FORMAT, OPT_SMTP_PORT, OPT_HELO, OPT_CONCURRENCY, OPT_NO_SMTP };

static const struct option check_options[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"format", required_argument, NULL, OPT_FORMAT},
	CLI_NET_LONG_OPTIONS,
	{"smtp-port", required_argument, NULL, OPT_SMTP_PORT},
	{"helo", required_argument, NULL, OPT_HELO},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"no-smtp", no_argument, NULL, OPT_NO_SMTP},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

enum format { FORMAT_TEXT, FORMAT_JSON, FORMAT_NAGIOS };

struct job {
	char name[MTS_DNAME_MAX + 1];
	bool done;
	enum mts_verdict verdict;
	size_t errors, warnings;
	struct cli_output out; /* --json, or text and nagios detail */
	long long cert_days_min; /* nagios perfdata: fewest days left of any certificate */
	bool have_cert_days;
	struct check_run *run;
};

struct check_run {
	struct event_base *base;
	struct mts_check *check;
	enum format format;
	bool color;
	size_t concurrency;
	struct job *jobs;
	size_t count, next, done;
	int exit_code;
};

/* ------------------------------------------------------------ layers */

enum layer { L_RECORD, L_POLICY, L_MX, L_DANE, L_TLSRPT, L_SPF, L_DMARC, L_VERDICT, L__COUNT };

static const char *const layer_names[L__COUNT] = {
	"MTA-STS record", "Policy and policy host", "MX hosts and TLS", "DANE",
	"TLS reporting", "SPF", "DMARC", "Rollout",
};
static const char *const layer_keys[L__COUNT] = {
	"record", "policy", "mx", "dane", "tlsrpt", "spf", "dmarc", "rollout",
};

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static enum layer layer_of(const struct mts_finding *it)
{
	const char *code = mts_finding_info(it->id)->code;
	if (starts(code, "check.dns.") || starts(code, "dns.")) {
		/* A failed (or DNSSEC-bogus) lookup belongs to the name it concerns;
		 * at the domain itself the audit says "the TXT ..." (SPF) or
		 * "the MX ...". */
		const char *s = it->subject ? it->subject : "";
		if (starts(s, "_smtp._tls."))
			return L_TLSRPT;
		if (starts(s, "_dmarc."))
			return L_DMARC;
		if (starts(s, "mta-sts."))
			return L_POLICY;
		if (starts(s, "_mta-sts."))
			return L_RECORD;
		return strstr(it->message, "TXT") ? L_SPF : L_MX;
	}
	if (starts(code, "sts.record.") || starts(code, "check.sts."))
		return L_RECORD;
	if (starts(code, "sts.") || starts(code, "check.policy"))
		return L_POLICY;
	if (starts(code, "check.mx."))
		return L_MX;
	if (starts(code, "check.dane."))
		return L_DANE;
	if (starts(code, "tlsrpt."))
		return L_TLSRPT;
	if (starts(code, "spf."))
		return L_SPF;
	if (starts(code, "dmarc."))
		return L_DMARC;
	return L_VERDICT;
}

/* ------------------------------------------------------------- facts */

static void utc(long long t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t || !gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "?");
}

static const char *verdict_key(enum mts_verdict v)
{
	switch (v) {
	case MTS_VERDICT_PROTECTED: return "protected";
	case MTS_VERDICT_TESTING: return "testing";
	case MTS_VERDICT_NOT_DEPLOYED: return "not-deployed";
	default: return "broken";
	}
}

static json_t *txt_json(const struct mts_check_txt *t)
{
	json_t *list = json_array();
	for (size_t i = 0; i < t->count; i++)
		json_array_append_new(list, json_pack("{s:s%, s:I}", "text", t->txts[i], t->lens[i],
						      "strings", (json_int_t)t->strings[i]));
	return json_pack("{s:s, s:s, s:s, s:o}", "status", mts_dns_status_name(t->status), "dnssec",
			 mts_dnssec_name(t->dnssec), "message", t->message, "records", list);
}

static json_t *time_json(long long t)
{
	char buf[32];
	if (!t)
		return json_null();
	utc(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *tls_json(const struct mts_check_tls *t, bool smtp, long long now)
{
	if (!t->attempted)
		return json_null();
	const struct mts_smtp_probe_result *p = &t->probe;
	bool tls = p->reached == MTS_SMTP_STAGE_DONE;
	json_t *names = json_array();
	for (size_t i = 0; i < p->name_count; i++)
		json_array_append_new(names, json_string(p->names[i]));
	json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "address", t->address, "stage",
			      mts_smtp_stage_name(p->reached), "tls", tls, "error", p->message,
			      "tls_version", p->tls_version, "cipher", p->cipher);
	if (smtp) {
		json_object_set_new(o, "banner", json_string(p->banner));
		json_object_set_new(o, "starttls", json_boolean(p->starttls_offered));
	}
	if (tls) {
		json_t *cert = json_pack(
			"{s:b, s:s, s:b, s:b, s:s, s:s, s:o, s:o, s:I, s:o}", "chain_valid",
			p->chain_valid, "verify_error", p->chain_valid ? "" : p->verify_error,
			"name_valid", p->name_valid, "self_signed", p->self_signed, "subject",
			p->subject, "issuer", p->issuer, "not_before", time_json(p->not_before),
			"not_after", time_json(p->not_after), "days_left",
			(json_int_t)mts_audit_days_left(p->not_after, now), "names", names);
		json_object_set_new(o, "certificate", cert);
	} else {
		json_decref(names);
		json_object_set_new(o, "certificate", json_null());
	}
	json_object_set_new(o, "elapsed_ms", json_integer(p->elapsed_ms));
	return o;
}

static json_t *policy_json(const struct mts_check_result *r, const struct mts_policy *p)
{
	json_t *o = json_pack("{s:s, s:b, s:s, s:s, s:I, s:s, s:I}", "url", "", "fetched",
			      r->fetch_attempted, "result", mts_fetch_result_name(r->fetch),
			      "message", r->fetch == MTS_FETCH_OK ? "" : r->fetch_message,
			      "http_status", (json_int_t)r->http_status, "content_type",
			      r->content_type, "elapsed_ms", (json_int_t)r->fetch_ms);
	char url[MTS_DNAME_MAX + 64];
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", r->domain);
	json_object_set_new(o, "url", json_string(url));
	json_object_set_new(o, "body", r->policy_body ? json_stringn(r->policy_body, r->policy_len)
						      : json_null());
	if (p) {
		json_t *mx = json_array();
		for (size_t i = 0; i < p->mx_count; i++)
			json_array_append_new(mx, json_string(p->mx[i]));
		json_object_set_new(o, "mode", json_string(mts_mode_name(p->mode)));
		json_object_set_new(o, "max_age", json_integer(p->max_age));
		json_object_set_new(o, "mx", mx);
	} else {
		json_object_set_new(o, "mode", json_null());
		json_object_set_new(o, "max_age", json_null());
		json_object_set_new(o, "mx", json_null());
	}
	json_object_set_new(o, "host", tls_json(&r->policy_host, false, r->now));
	return o;
}

/* Would an enforcing sender accept this connection? (audit.c decides the
 * verdict; this only picks the probe the "tls" field shows.) */
static bool probe_passes(const struct mts_check_tls *t, long long now)
{
	const struct mts_smtp_probe_result *p = &t->probe;
	return p->reached == MTS_SMTP_STAGE_DONE && p->chain_valid && p->name_valid &&
	       !p->self_signed && !(p->not_after && p->not_after < now) &&
	       !(p->not_before && p->not_before > now);
}

/* The host's "tls": its first failing probe, else its first; null if none. */
static const struct mts_check_tls *shown_probe(const struct mts_check_mx *m, long long now)
{
	for (size_t k = 0; k < m->tls_count; k++)
		if (!probe_passes(&m->tls[k], now))
			return &m->tls[k];
	return m->tls_count ? &m->tls[0] : NULL;
}

static json_t *mx_json(const struct mts_check_result *r, const struct mts_policy *p)
{
	json_t *hosts = json_array();
	for (size_t i = 0; i < r->mx_count; i++) {
		const struct mts_check_mx *m = &r->mx[i];
		json_t *addrs = json_array();
		for (size_t k = 0; k < m->addr_count; k++)
			json_array_append_new(addrs, json_string(m->addrs[k].text));
		json_t *tlsa = json_array();
		for (size_t k = 0; k < m->tlsa_count; k++)
			json_array_append_new(tlsa, json_pack("{s:i, s:i, s:i, s:s}", "usage",
							      m->tlsa[k].usage, "selector",
							      m->tlsa[k].selector, "matching_type",
							      m->tlsa[k].matching_type, "data",
							      m->tlsa[k].data));
		json_t *probes = json_array();
		for (size_t k = 0; k < m->tls_count; k++)
			json_array_append_new(probes, tls_json(&m->tls[k], true, r->now));
		const struct mts_check_tls *shown = shown_probe(m, r->now);
		json_t *covered = p && p->mode != MTS_MODE_NONE
					  ? json_boolean(mts_policy_matches(p, m->host,
									    strlen(m->host)))
					  : json_null();
		json_array_append_new(
			hosts, json_pack("{s:s, s:i, s:o, s:I, s:o, s:o, s:{s:s, s:s, s:s, s:o}, s:o, "
					 "s:o}",
					 "host",
					 m->host, "preference", (int)m->preference, "addresses",
					 addrs, "addresses_published", (json_int_t)m->addr_published,
					 "cname", m->cname[0] ? json_string(m->cname) : json_null(),
					 "covered", covered, "tlsa", "status",
					 mts_dns_status_name(m->tlsa_status), "dnssec",
					 mts_dnssec_name(m->tlsa_dnssec), "match",
					 mts_tlsa_match_name(m->tlsa_match), "records", tlsa, "tls",
					 shown ? tls_json(shown, true, r->now) : json_null(),
					 "probes", probes));
	}
	return json_pack("{s:s, s:s, s:s, s:b, s:I, s:o}", "status",
			 mts_dns_status_name(r->mx_status), "dnssec", mts_dnssec_name(r->mx_dnssec),
			 "message", r->mx_message, "null_mx", r->null_mx,
			 "published", (json_int_t)r->mx_published, "hosts", hosts);
}

static json_t *result_json(const struct mts_check_result *r, const struct mts_policy *p)
{
	const struct mts_audit_result *a = &r->audit;
	json_t *findings = cli_findings_json(r->findings);
	for (size_t i = 0; i < r->findings->count; i++)
		json_object_set_new(json_array_get(findings, i), "layer",
				    json_string(layer_keys[layer_of(&r->findings->items[i])]));
	return json_pack(
		"{s:s, s:s, s:b, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:{s:o, s:o, s:o, s:o}, "
		"s:{s:I, s:I}, s:o, s:o, s:o}",
		"domain", r->domain, "verdict", verdict_key(a->verdict), "ready_to_enforce",
		a->ready_to_enforce, "mode", a->have_policy ? json_string(mts_mode_name(a->mode))
							     : json_null(),
		"dane", a->dane, "mx_passing", (json_int_t)a->mx_passing, "mx_total",
		(json_int_t)a->mx_total, "errors",
		(json_int_t)mts_findings_count(r->findings, MTS_SEV_ERROR), "warnings",
		(json_int_t)(mts_findings_count(r->findings, MTS_SEV_WARNING) -
			     mts_findings_count(r->findings, MTS_SEV_ERROR)),
		"elapsed_ms", (json_int_t)r->elapsed_ms, "records", "mta_sts", txt_json(&r->sts),
		"tlsrpt", txt_json(&r->tlsrpt), "spf", txt_json(&r->spf), "dmarc",
		txt_json(&r->dmarc), "spf", "lookups", (json_int_t)r->spf_lookups, "records",
		(json_int_t)r->spf_records, "policy", policy_json(r, p), "mx", mx_json(r, p),
		"findings", findings);
}

/* -------------------------------------------------------------- text */

static const char *verdict_color(enum mts_verdict v, bool color)
{
	if (!color)
		return "";
	switch (v) {
	case MTS_VERDICT_PROTECTED: return "\033[1;32m";
	case MTS_VERDICT_TESTING: return "\033[1;33m";
	case MTS_VERDICT_NOT_DEPLOYED: return "\033[1m";
	default: return "\033[1;31m";
	}
}

static void text_records(FILE *fp, const char *label, const struct mts_check_txt *t,
			 const char *must_start)
{
	size_t shown = 0;
	for (size_t i = 0; i < t->count; i++) {
		if (must_start && strncasecmp(t->txts[i], must_start, strlen(must_start)) != 0)
			continue;
		char buf[MTS_PRINTABLE_BUF];
		fprintf(fp, "  %-12s \"%s\"%s\n", shown ? "" : label,
			mts_printable(t->txts[i], t->lens[i], buf, sizeof(buf)),
			t->dnssec == MTS_DNSSEC_SECURE ? " (DNSSEC)" : "");
		shown++;
	}
	if (!shown && t->dnssec == MTS_DNSSEC_BOGUS)
		fprintf(fp, "  %-12s DNSSEC bogus (%s)\n", label, t->message);
	else if (!shown)
		fprintf(fp, "  %-12s none (%s)\n", label, mts_dns_status_name(t->status));
}

static void text_cert(FILE *fp, const struct mts_check_tls *t, long long now)
{
	const struct mts_smtp_probe_result *p = &t->probe;
	if (p->reached != MTS_SMTP_STAGE_DONE) {
		fprintf(fp, "failed at %s: %s", mts_smtp_stage_name(p->reached), p->message);
		return;
	}
	char until[32];
	utc(p->not_after, until, sizeof(until));
	until[10] = '\0';
	long long left = mts_audit_days_left(p->not_after, now);
	fprintf(fp, "%s, ", p->tls_version);
	if (p->not_after && p->not_after < now)
		fprintf(fp, "certificate EXPIRED on %s (%lld day%s ago)", until, -left,
			left == -1 ? "" : "s");
	else if (p->not_before && p->not_before > now)
		fprintf(fp, "certificate NOT YET VALID");
	else if (p->self_signed)
		fprintf(fp, "certificate SELF-SIGNED");
	else if (!p->chain_valid)
		fprintf(fp, "certificate UNTRUSTED (%s)", p->verify_error);
	else if (!p->name_valid)
		fprintf(fp, "certificate for the WRONG NAME");
	else
		fprintf(fp, "certificate valid until %s (%lld day%s)", until, left,
			left == 1 ? "" : "s");
}

/* The first lines: verdict, counts, whether enforce is safe, DANE. */
static void text_verdict(FILE *fp, const struct mts_check_result *r, bool color)
{
	const struct mts_audit_result *a = &r->audit;
	char verdict[32];
	snprintf(verdict, sizeof(verdict), "%s", mts_verdict_name(a->verdict));
	for (char *s = verdict; *s; s++)
		*s = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
	size_t errors = mts_findings_count(r->findings, MTS_SEV_ERROR);
	size_t warnings = mts_findings_count(r->findings, MTS_SEV_WARNING) - errors;
	fprintf(fp, "%s: %s%s%s", r->domain, verdict_color(a->verdict, color), verdict,
		cli_color_reset(color));
	if (a->have_policy)
		fprintf(fp, " (mode %s", mts_mode_name(a->mode));
	else
		fprintf(fp, " (no policy");
	if (a->mx_total)
		fprintf(fp, "; %zu of %zu MX pass", a->mx_passing, a->mx_total);
	fprintf(fp, "; %zu error%s, %zu warning%s)\n", errors, errors == 1 ? "" : "s", warnings,
		warnings == 1 ? "" : "s");
	if (a->verdict == MTS_VERDICT_PROTECTED)
		fprintf(fp, "  enforce:     in force, every MX passes\n");
	else if (!r->null_mx)
		fprintf(fp, "  enforce:     %s\n",
			!a->ready_to_enforce ? "not ready (see the findings)"
			: a->have_policy     ? "ready: every MX is covered and passes TLS"
					     : "ready: every MX passes TLS; publish a policy, testing first");
	if (a->dane)
		fprintf(fp, "  DANE:        DNSSEC-signed TLSA records; DANE takes precedence\n");
}

/* The record, the policy and its host. */
static void text_policy(FILE *fp, const struct mts_check_result *r, const struct mts_policy *p)
{
	text_records(fp, "_mta-sts", &r->sts, NULL);
	/* Without a record, a policy host that is not there is no news. */
	bool record = false;
	for (size_t i = 0; i < r->sts.count; i++)
		record |= strncasecmp(r->sts.txts[i], "v=STSv1", 7) == 0;
	if (r->fetch_attempted && (record || r->policy_body)) {
		fprintf(fp, "  %-12s ", "policy");
		if (p) {
			fprintf(fp, "mode %s, max_age %u, mx", mts_mode_name(p->mode), p->max_age);
			for (size_t i = 0; i < p->mx_count; i++)
				fprintf(fp, " %s", p->mx[i]);
		} else {
			fprintf(fp, "%s: %s", mts_fetch_result_name(r->fetch), r->fetch_message);
		}
		fputc('\n', fp);
	}
	if (r->policy_host.attempted) {
		fprintf(fp, "  %-12s mta-sts.%s %s: ", "policy host", r->domain,
			r->policy_host.address);
		text_cert(fp, &r->policy_host, r->now);
		fputc('\n', fp);
	}
}

static void text_mx_tls(FILE *fp, const struct mts_check_tls *t, long long now)
{
	if (t->probe.reached >= MTS_SMTP_STAGE_STARTTLS && !t->probe.starttls_offered)
		fprintf(fp, "no STARTTLS");
	else
		text_cert(fp, t, now);
}

/* One line per MX host: preference, name, addresses, coverage, TLS, TLSA;
 * a host probed at several addresses gets one more line per address. */
static void text_mx(FILE *fp, const struct mts_check_result *r, const struct mts_policy *p)
{
	if (r->null_mx)
		fprintf(fp, "  %-12s null MX (accepts no mail)\n", "MX");
	else if (!r->mx_count)
		fprintf(fp, "  %-12s none (%s)\n", "MX", mts_dns_status_name(r->mx_status));
	for (size_t i = 0; i < r->mx_count; i++) {
		const struct mts_check_mx *m = &r->mx[i];
		bool per_address = m->tls_count > 1;
		fprintf(fp, "  %-12s %u %s", i ? "" : "MX", m->preference, m->host);
		if (m->cname[0])
			fprintf(fp, " (CNAME to %s)", m->cname);
		if (!m->addr_count)
			fprintf(fp, " (no address)");
		for (size_t k = 0; !per_address && k < m->addr_count; k++)
			fprintf(fp, " %s", m->addrs[k].text);
		if (p && p->mode != MTS_MODE_NONE)
			fprintf(fp, ", %s", mts_policy_matches(p, m->host, strlen(m->host))
						    ? "in policy"
						    : "NOT in policy");
		if (!m->tls_count && m->addr_count) {
			fprintf(fp, ": TLS not checked");
		} else if (!per_address && m->tls_count) {
			fprintf(fp, ": ");
			text_mx_tls(fp, &m->tls[0], r->now);
		}
		if (m->tlsa_count)
			fprintf(fp, "; %zu TLSA (DNSSEC %s, %s)", m->tlsa_count,
				mts_dnssec_name(m->tlsa_dnssec), mts_tlsa_match_name(m->tlsa_match));
		fputc('\n', fp);
		for (size_t k = 0; per_address && k < m->tls_count; k++) {
			fprintf(fp, "  %-12s   %s: ", "", m->tls[k].address);
			text_mx_tls(fp, &m->tls[k], r->now);
			fputc('\n', fp);
		}
	}
}

/* The findings, grouped by layer. */
static void text_findings(FILE *fp, const struct mts_findings *fs, bool color)
{
	for (int l = 0; l < L__COUNT; l++) {
		bool header = false;
		for (size_t i = 0; i < fs->count; i++) {
			const struct mts_finding *it = &fs->items[i];
			if (layer_of(it) != (enum layer)l)
				continue;
			if (!header) {
				fprintf(fp, "  %s\n", layer_names[l]);
				header = true;
			}
			cli_print_finding(fp, it, "    ", color);
		}
	}
}

static void result_text(FILE *fp, const struct mts_check_result *r, const struct mts_policy *p,
			bool color)
{
	text_verdict(fp, r, color);
	text_policy(fp, r, p);
	text_mx(fp, r, p);
	text_records(fp, "TLS-RPT", &r->tlsrpt, "v=TLSRPTv1");
	text_records(fp, "SPF", &r->spf, "v=spf1");
	if (r->spf_lookups)
		fprintf(fp, "  %-12s %u DNS-querying term%s across %zu record%s (limit 10)\n", "",
			r->spf_lookups, r->spf_lookups == 1 ? "" : "s", r->spf_records,
			r->spf_records == 1 ? "" : "s");
	text_records(fp, "DMARC", &r->dmarc, "v=DMARC1");
	text_findings(fp, r->findings, color);
}

/* ------------------------------------------------------------ nagios */

static void cert_days(struct job *job, const struct mts_check_tls *t, long long now)
{
	if (!t->attempted || t->probe.reached != MTS_SMTP_STAGE_DONE || !t->probe.not_after)
		return;
	long long d = mts_audit_days_left(t->probe.not_after, now);
	if (!job->have_cert_days || d < job->cert_days_min)
		job->cert_days_min = d;
	job->have_cert_days = true;
}

static void nagios_text(FILE *fp, const struct mts_check_result *r)
{
	fprintf(fp, "%s: %s", r->domain, mts_verdict_name(r->audit.verdict));
	for (size_t i = 0; i < r->findings->count; i++) {
		const struct mts_finding *it = &r->findings->items[i];
		if (it->severity < MTS_SEV_WARNING)
			continue;
		fprintf(fp, "; %s %s", mts_finding_info(it->id)->code, it->message);
	}
	fputc('\n', fp);
}

/* ------------------------------------------------------------- driver */

static void start_next(struct check_run *run);

static void on_result(const struct mts_check_result *r, void *arg)
{
	struct job *job = arg;
	struct check_run *run = job->run;
	job->done = true;
	job->verdict = r->audit.verdict;
	job->errors = mts_findings_count(r->findings, MTS_SEV_ERROR);
	job->warnings = mts_findings_count(r->findings, MTS_SEV_WARNING) - job->errors;
	cert_days(job, &r->policy_host, r->now);
	for (size_t i = 0; i < r->mx_count; i++)
		for (size_t k = 0; k < r->mx[i].tls_count; k++)
			cert_days(job, &r->mx[i].tls[k], r->now);
	struct mts_policy *p = NULL;
	if (r->policy_body && r->fetch == MTS_FETCH_OK)
		p = mts_policy_parse(r->policy_body, r->policy_len, NULL, NULL);
	if (run->format == FORMAT_JSON) {
		job->out.json = result_json(r, p);
	} else {
		FILE *fp = cli_output_text(&job->out);
		if (fp) {
			if (run->format == FORMAT_NAGIOS)
				nagios_text(fp, r);
			else
				result_text(fp, r, p, run->color);
			fclose(fp);
		}
	}
	mts_policy_free(p);
	run->done++;
	start_next(run);
}

static void start_next(struct check_run *run)
{
	while (run->next < run->count && mts_check_pending(run->check) < run->concurrency) {
		struct job *job = &run->jobs[run->next++];
		struct mts_error err = {0};
		if (mts_check_start(run->check, job->name, on_result, job, &err) < 0) {
			cli_error("check", "%s: %s", job->name, err.message);
			run->exit_code = CLI_EXIT_INCOMPLETE;
			job->done = true;
			run->done++;
		}
	}
}

static int nagios_output(struct check_run *run)
{
	size_t broken = 0, warn = 0, errors = 0, missing = 0;
	long long days = 0;
	bool have_days = false;
	for (size_t i = 0; i < run->count; i++) {
		struct job *j = &run->jobs[i];
		if (!j->out.text) {
			missing++;
			continue;
		}
		errors += j->errors;
		broken += j->verdict == MTS_VERDICT_BROKEN || j->errors;
		warn += j->warnings > 0 || j->verdict == MTS_VERDICT_TESTING ||
			j->verdict == MTS_VERDICT_NOT_DEPLOYED;
		if (j->have_cert_days && (!have_days || j->cert_days_min < days)) {
			days = j->cert_days_min;
			have_days = true;
		}
	}
	int rc = missing ? 3 : broken ? 2 : warn ? 1 : 0;
	static const char *const status[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
	printf("MTA-STS %s - %zu domain%s: %zu critical, %zu warning", status[rc], run->count,
	       run->count == 1 ? "" : "s", broken, warn > broken ? warn - broken : 0);
	if (run->count == 1 && run->jobs[0].out.text)
		printf(", %s", mts_verdict_name(run->jobs[0].verdict));
	printf(" | errors=%zu", errors);
	if (have_days)
		printf(" cert_days_min=%lld;%d;0", days, MTS_AUDIT_CERT_WARN_DAYS);
	printf("\n");
	cli_outputs_take(&run->jobs[0].out, run->count, sizeof(run->jobs[0]), false, NULL);
	return rc;
}

struct check_args {
	enum format format;
	struct cli_net net;
	unsigned smtp_port;
	const char *helo;
	unsigned concurrency;
	bool no_smtp;
};

static int run_check(struct check_args *a, int nargs, char **args)
{
	struct check_run run = {.format = a->format, .concurrency = a->concurrency};
	run.color = a->format == FORMAT_TEXT && cli_use_color(stdout);
	run.jobs = calloc((size_t)nargs, sizeof(*run.jobs));
	if (!run.jobs) {
		cli_error("check", "out of memory");
		return a->format == FORMAT_NAGIOS ? 3 : CLI_EXIT_INCOMPLETE;
	}
	run.count = (size_t)nargs;
	for (int i = 0; i < nargs; i++) {
		run.jobs[i].run = &run;
		if (cli_parse_domain(args[i], run.jobs[i].name) < 0) {
			free(run.jobs);
			int usage = cli_usage("check", "'%s' is not a valid domain name", args[i]);
			return a->format == FORMAT_NAGIOS ? 3 : usage;
		}
	}
	int rc = CLI_EXIT_INCOMPLETE;
	struct mts_error err = {0};
	run.base = event_base_new();
	if (!run.base) {
		cli_error("check", "cannot create the event loop");
		goto out;
	}
	struct mts_check_opts opts = {
		.resolver = a->net.resolver,
		.trust_anchor_file = a->net.trust_anchor,
		.ca_file = a->net.ca_file,
		.connect_to = a->net.connect_to,
		.connect_to_count = a->net.connect_to_count,
		.timeout_ms = a->net.timeout * 1000u,
		.smtp_port = a->smtp_port,
		.helo_name = a->helo,
		.no_smtp = a->no_smtp,
	};
	run.check = mts_check_new(run.base, &opts, &err);
	if (!run.check) {
		cli_error("check", "%s", err.message);
		goto out;
	}
	run.exit_code = CLI_EXIT_OK;
	start_next(&run);
	if (cli_run_until("check", run.base, &run.done, run.count))
		run.exit_code = CLI_EXIT_INCOMPLETE;
	if (run.format == FORMAT_NAGIOS) {
		rc = nagios_output(&run);
		goto out;
	}
	size_t errors = 0, counts[4] = {0};
	for (size_t i = 0; i < run.count; i++) {
		if (!run.jobs[i].done || (!run.jobs[i].out.json && !run.jobs[i].out.text))
			continue;
		errors += run.jobs[i].errors;
		counts[run.jobs[i].verdict]++;
	}
	json_t *list = cli_outputs_take(&run.jobs[0].out, run.count, sizeof(run.jobs[0]),
					run.format == FORMAT_JSON, "\n");
	if (run.format == FORMAT_JSON)
		cli_print_json(json_pack(
			"{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "domains", list, "summary",
			"domains", (json_int_t)run.count, "protected",
			(json_int_t)counts[MTS_VERDICT_PROTECTED], "testing",
			(json_int_t)counts[MTS_VERDICT_TESTING], "not_deployed",
			(json_int_t)counts[MTS_VERDICT_NOT_DEPLOYED], "broken",
			(json_int_t)counts[MTS_VERDICT_BROKEN], "errors", (json_int_t)errors));
	rc = run.exit_code;
	if (rc == CLI_EXIT_OK && errors)
		rc = CLI_EXIT_PROBLEM;
out:
	mts_check_free(run.check);
	if (run.base)
		event_base_free(run.base);
	for (size_t i = 0; i < run.count; i++)
		cli_output_free(&run.jobs[i].out);
	free(run.jobs);
	return rc;
}

int cmd_check(int argc, char **argv)
{
	struct check_args a = {.concurrency = CHECK_CONCURRENCY_DEFAULT};
	if (cli_net_init(&a.net, argc, CHECK_TIMEOUT_DEFAULT) < 0) {
		cli_error("check", "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	int c, rc = CLI_EXIT_USAGE;
	unsigned long v;
	optind = 1;
	while ((c = cli_getopt("check", argc, argv, ":h", check_options)) != -1) {
		int net = cli_net_option("check", c, optarg, &a.net);
		if (net == 1)
			continue;
		if (net == CLI_EXIT_USAGE)
			goto out;
		switch (c) {
		case 'h': rc = cli_print_help(cmd_check_help); goto out;
		case OPT_JSON: a.format = FORMAT_JSON; break;
		case OPT_NO_SMTP: a.no_smtp = true; break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0) {
				a.format = FORMAT_TEXT;
			} else if (strcmp(optarg, "json") == 0) {
				a.format = FORMAT_JSON;
			} else if (strcmp(optarg, "nagios") == 0) {
				a.format = FORMAT_NAGIOS;
			} else {
				rc = cli_usage("check", "--format must be text, json or nagios, not '%s'",
					       optarg);
				goto out;
			}
			break;
		case OPT_SMTP_PORT:
			if (cli_parse_uint(optarg, 1, 65535, &v) < 0) {
				rc = cli_usage("check", "--smtp-port must be 1 to 65535, not '%s'",
					       optarg);
				goto out;
			}
			a.smtp_port = (unsigned)v;
			break;
		case OPT_HELO:
			if (cli_parse_domain(optarg, (char[MTS_DNAME_MAX + 1]){0}) < 0) {
				rc = cli_usage("check", "--helo '%s' is not a host name", optarg);
				goto out;
			}
			a.helo = optarg;
			break;
		case OPT_CONCURRENCY:
			if (cli_parse_uint(optarg, 1, CHECK_CONCURRENCY_MAX, &v) < 0) {
				rc = cli_usage("check", "--concurrency must be 1 to %d, not '%s'",
					       CHECK_CONCURRENCY_MAX, optarg);
				goto out;
			}
			a.concurrency = (unsigned)v;
			break;
		default: goto out;
		}
	}
	if (argc - optind < 1) {
		rc = cli_usage("check", "needs at least one DOMAIN");
		goto out;
	}
	rc = run_check(&a, argc - optind, argv + optind);
	cli_net_free(&a.net);
	return rc;
out:
	cli_net_free(&a.net);
	/* Monitoring systems read 3 as UNKNOWN: a usage error is one. */
	if (a.format == FORMAT_NAGIOS && rc == CLI_EXIT_USAGE)
		rc = 3;
	return rc;
}
