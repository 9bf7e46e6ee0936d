/* cmd_serve.c - `mtasts serve`: hosted MTA-STS for many domains. The domain
 * commands (init, domain add|list|show|set|remove) keep the serve store;
 * every replica of the service reads the same store. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "commands.h"
#include "core/hosted_int.h"
#include "engine/serve_host_int.h"
#include "engine/serve_acme_int.h"
#include "engine/serve_ids_int.h"
#include "io/dns_int.h"
#include "io/serve_store_int.h"
#include "mtasts/sts_record.h"
#include "mtasts/tlsrpt_record.h"
#include "mtasts/version.h"

const char cmd_serve_help[] =
	"Usage: mtasts serve init --zone ZONE --service NAME [--rua URI] [--propagation SECONDS]\n"
	"                         [--store URL]\n"
	"       mtasts serve domain add DOMAIN [--mx auto|PATTERN]... [--mode MODE]\n"
	"                               [--max-age SECONDS] [--resolver ADDR@PORT] [--json]\n"
	"       mtasts serve domain set DOMAIN [--mx auto|PATTERN]... [--mode MODE]\n"
	"                               [--max-age SECONDS] [--resolver ADDR@PORT] [--json]\n"
	"       mtasts serve domain list [--json]\n"
	"       mtasts serve domain show DOMAIN [--json]\n"
	"       mtasts serve domain verify DOMAIN [--resolver ADDR@PORT] [--json]\n"
	"       mtasts serve domain remove DOMAIN [--json]\n"
	"       mtasts serve cert import NAME --key FILE --chain FILE [--json]\n"
	"       mtasts serve run [--listen ADDR:PORT] [--http ADDR:PORT|none] [--user USER]\n"
	"                        [--refresh SECONDS] [--store URL] [--max-connections N]\n"
	"                        [--max-time SECONDS] [--metrics ADDR:PORT]\n"
	"                        [--dns-server ADDR@PORT --tsig-key-file FILE]\n"
	"                        [--resolver ADDR@PORT]\n"
	"                        [--ttl SECONDS] [--acme-directory URL [--acme-ca-file FILE]\n"
	"                        [--acme-email ADDRESS]]\n"
	"\n"
	"Hosted MTA-STS: one service serves the policies of many domains, publishes\n"
	"their _mta-sts records in its own zone and keeps the two in step. A customer\n"
	"domain points two names at the service:\n"
	"  mta-sts.DOMAIN   CNAME  the service's name (the policy host)\n"
	"  _mta-sts.DOMAIN  CNAME  _mta-sts.DOMAIN.ZONE (where the service publishes the id)\n"
	"'domain add' prints exactly the records to publish.\n"
	"\n"
	"  init          set the service's zone, name, report address and propagation\n"
	"  domain add    host DOMAIN: its policy from its live MX records (--mx auto, the\n"
	"                default) or the given patterns; mode testing unless --mode\n"
	"  domain set    change DOMAIN's patterns, mode or max_age; a new id when the\n"
	"                served bytes change (served first, announced after)\n"
	"  domain list   every hosted domain with its mode and update state\n"
	"  domain show   one domain: its policy, ids, state and records\n"
	"  domain verify check the customer's records live: which is in place, which is\n"
	"                missing or points elsewhere\n"
	"  domain remove stop hosting DOMAIN the safe way: mode none is served under a\n"
	"                new id until every sender's cached policy has expired, then the\n"
	"                record goes (RFC 8461 §8.3)\n"
	"  cert import   give NAME (mta-sts.DOMAIN) a certificate of your own: the PEM\n"
	"                key and chain (leaf first); every replica serves it\n"
	"  run           the policy host: HTTPS for every hosted domain (SNI selects the\n"
	"                certificate, Host the domain), ACME http-01 on the HTTP port; and\n"
	"                the ids: each served policy's id is published in the service zone\n"
	"                by RFC 2136 updates signed with TSIG (--dns-server), or printed for\n"
	"                you to publish and looked up until it is there (without it); and,\n"
	"                with --acme-directory, a certificate by ACME for every policy host\n"
	"                that points at the service, renewed with a third of it left\n"
	"\n"
	"Options:\n"
	"      --store URL        the serve store (default $MTASTS_SERVE_STORE, else\n"
	"                         " MTS_SERVE_STORE_DEFAULT ")\n"
	"      --zone ZONE        init: the zone where the service publishes TXT records\n"
	"      --service NAME     init: the policy host's name the customers CNAME to\n"
	"      --rua URI          init: where hosted domains' TLS reports go (mailto: or\n"
	"                         https:)\n"
	"      --mx auto|PATTERN  the policy's mx patterns: auto (the domain's MX hosts,\n"
	"                         looked up now) or patterns (repeatable, comma-separated)\n"
	"      --mode MODE        testing (add's default), enforce or none\n"
	"      --max-age SECONDS  max_age (default 604800, a week)\n"
	"      --resolver ADDR@PORT  the DNS resolver for --mx auto (default: the system's)\n"
	"      --timeout SECONDS  for each DNS question (default 10)\n"
	"      --key FILE         cert import: the private key (PEM)\n"
	"      --chain FILE       cert import: the certificate chain (PEM, leaf first)\n"
	"      --listen ADDR:PORT run: the HTTPS listener (default 0.0.0.0:443)\n"
	"      --http ADDR:PORT   run: the plain-HTTP listener for ACME, or none\n"
	"                         (default 0.0.0.0:80)\n"
	"      --user USER        run: the user to become once the ports are bound\n"
	"      --refresh SECONDS  run: how often the store is read again (default 5)\n"
	"      --max-connections N  run: TLS connections at once (default: what the\n"
	"                         descriptor limit allows, raised to the hard limit)\n"
	"      --max-time SECONDS run: how long a TLS connection may live (default 60)\n"
	"      --metrics ADDR:PORT  run: serve Prometheus metrics at /metrics there\n"
	"      --dns-server ADDR@PORT  run: the service zone's primary, for updates\n"
	"      --tsig-key-file FILE    run: its TSIG key, one line ALG:NAME:SECRET\n"
	"      --propagation SECONDS  init: how long every replica takes to serve a change:\n"
	"                         an id is announced only after it (default 30; longer\n"
	"                         than every replica's --refresh)\n"
	"      --ttl SECONDS      run: TTL of the published TXT records (default 300)\n"
	"      --acme-directory URL  run: the ACME CA's directory (RFC 8555), for certificates\n"
	"      --acme-ca-file FILE   run: the trust for the CA's own HTTPS (default: system's)\n"
	"      --acme-email ADDRESS  run: the account's contact\n"
	"      --json             machine-readable output (docs/serve-json.md)\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit codes: 0 done, 1 refused (not hosted, hosted already, changed meanwhile),\n"
	"2 usage error, 3 could not complete (store or DNS failed).\n";

#define SERVE_MAX_AGE_DEFAULT 604800u
#define SERVE_TIMEOUT_DEFAULT 10
#define SERVE_MX_ARGS_MAX 64

enum {
	OPT_STORE = 256,
	OPT_ZONE,
	OPT_SERVICE,
	OPT_RUA,
	OPT_MX,
	OPT_MODE,
	OPT_MAX_AGE,
	OPT_JSON,
	OPT_KEY,
	OPT_CHAIN,
	OPT_LISTEN,
	OPT_HTTP,
	OPT_USER,
	OPT_REFRESH,
	OPT_DNS_SERVER,
	OPT_TSIG_KEY_FILE,
	OPT_PROPAGATION,
	OPT_TTL,
	OPT_ACME_DIRECTORY,
	OPT_ACME_CA_FILE,
	OPT_ACME_EMAIL,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_TIME,
	OPT_METRICS,
};

static const struct option serve_options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"zone", required_argument, NULL, OPT_ZONE},
	{"service", required_argument, NULL, OPT_SERVICE},
	{"rua", required_argument, NULL, OPT_RUA},
	{"mx", required_argument, NULL, OPT_MX},
	{"mode", required_argument, NULL, OPT_MODE},
	{"max-age", required_argument, NULL, OPT_MAX_AGE},
	{"json", no_argument, NULL, OPT_JSON},
	{"key", required_argument, NULL, OPT_KEY},
	{"chain", required_argument, NULL, OPT_CHAIN},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"http", required_argument, NULL, OPT_HTTP},
	{"user", required_argument, NULL, OPT_USER},
	{"refresh", required_argument, NULL, OPT_REFRESH},
	{"dns-server", required_argument, NULL, OPT_DNS_SERVER},
	{"tsig-key-file", required_argument, NULL, OPT_TSIG_KEY_FILE},
	{"propagation", required_argument, NULL, OPT_PROPAGATION},
	{"ttl", required_argument, NULL, OPT_TTL},
	{"acme-directory", required_argument, NULL, OPT_ACME_DIRECTORY},
	{"acme-ca-file", required_argument, NULL, OPT_ACME_CA_FILE},
	{"acme-email", required_argument, NULL, OPT_ACME_EMAIL},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
	{"max-time", required_argument, NULL, OPT_MAX_TIME},
	{"metrics", required_argument, NULL, OPT_METRICS},
	CLI_NET_LONG_OPTIONS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct serve_args {
	const char *cmd;
	const char *store_url, *zone, *service, *rua, *mode, *max_age;
	const char *key, *chain, *listen, *http, *user, *refresh;
	const char *dns_server, *tsig_key_file, *propagation, *ttl;
	const char *acme_directory, *acme_ca_file, *acme_email, *max_connections, *max_time,
		*metrics;
	const char *mx[SERVE_MX_ARGS_MAX]; /* as given, each maybe comma-separated */
	size_t mx_count;
	bool json;
	struct cli_net net;
	struct mts_serve_store *store;
};

static long long now_utc(void)
{
	return (long long)time(NULL);
}

static int open_store(struct serve_args *a)
{
	const char *url = a->store_url;
	if (!url) {
		const char *env = getenv(MTS_SERVE_STORE_ENV);
		url = env && *env ? env : MTS_SERVE_STORE_DEFAULT;
	}
	struct mts_error err = {0};
	int rc = mts_serve_store_open(url, &a->store, &err);
	if (rc == MTS_EUSAGE)
		return cli_usage(a->cmd, "%s", err.message);
	if (rc < 0) {
		cli_error(a->cmd, "%s", err.message);
		return CLI_EXIT_INCOMPLETE;
	}
	return 0;
}

/* A store or model error as an exit code, after saying it. */
static int fail(const struct serve_args *a, const struct mts_error *err)
{
	cli_error(a->cmd, "%s", err->message);
	switch (err->code) {
	case MTS_EEXIST:
	case MTS_ENOTFOUND:
	case MTS_ECONFLICT:
	case MTS_EINVAL:
	case MTS_ETOOBIG: return CLI_EXIT_PROBLEM;
	case MTS_EUSAGE: return CLI_EXIT_USAGE;
	default: return CLI_EXIT_INCOMPLETE;
	}
}

/* The service's settings; the zone and service are required. */
struct serve_settings {
	char zone[MTS_DNAME_MAX + 1], service[MTS_DNAME_MAX + 1], rua[1024];
	struct mts_hosted_rules rules; /* propagation: the service's, from the store */
};

static int read_settings(const struct serve_args *a, struct serve_settings *s)
{
	struct mts_error err = {0};
	memset(s, 0, sizeof(*s));
	int rc = mts_serve_store_setting_get(a->store, MTS_SERVE_SETTING_ZONE, s->zone,
					     sizeof(s->zone), &err);
	if (!rc)
		rc = mts_serve_store_setting_get(a->store, MTS_SERVE_SETTING_SERVICE, s->service,
						 sizeof(s->service), &err);
	if (rc == MTS_ENOTFOUND) {
		cli_error(a->cmd, "the service is not set up: run 'mtasts serve init --zone ZONE "
				  "--service NAME' first");
		return CLI_EXIT_PROBLEM;
	}
	if (rc < 0)
		return fail(a, &err);
	rc = mts_serve_store_setting_get(a->store, MTS_SERVE_SETTING_RUA, s->rua, sizeof(s->rua),
					 &err);
	if (rc < 0 && rc != MTS_ENOTFOUND)
		return fail(a, &err);
	char prop[16] = "";
	rc = mts_serve_store_setting_get(a->store, MTS_SERVE_SETTING_PROPAGATION, prop,
					 sizeof(prop), &err);
	if (rc < 0 && rc != MTS_ENOTFOUND)
		return fail(a, &err);
	unsigned long v = MTS_HOSTED_PROPAGATION_DEFAULT;
	if (rc == 0 && cli_parse_uint(prop, 1, 86400, &v) < 0) {
		cli_error(a->cmd, "the store's propagation setting '%s' is not 1 to 86400", prop);
		return CLI_EXIT_INCOMPLETE;
	}
	s->rules.propagation = (unsigned)v;
	return 0;
}

/* --mx auto: the domain's MX hosts, looked up now. */
struct mx_lookup {
	size_t done;
	enum mts_dns_status status;
	bool null_mx;
	char message[160];
	char hosts[SERVE_MX_ARGS_MAX][256];
	size_t count;
};

static void mx_done(const struct mts_dns_result *r, void *arg)
{
	struct mx_lookup *l = arg;
	l->status = r->status;
	l->null_mx = r->null_mx;
	snprintf(l->message, sizeof(l->message), "%s", r->message);
	for (size_t i = 0; i < r->count && l->count < SERVE_MX_ARGS_MAX; i++) {
		bool seen = false;
		for (size_t j = 0; j < l->count && !seen; j++)
			seen = strcmp(l->hosts[j], r->mx[i].host) == 0;
		if (!seen && r->mx[i].host[0])
			snprintf(l->hosts[l->count++], sizeof(l->hosts[0]), "%s", r->mx[i].host);
	}
	l->done = 1;
}

static int by_name(const void *x, const void *y)
{
	return strcmp(x, y);
}

static int lookup_mx(struct serve_args *a, const char *domain, struct mx_lookup *l)
{
	memset(l, 0, sizeof(*l));
	struct event_base *base = event_base_new();
	struct mts_error err = {0};
	struct mts_dns_opts o = {.resolver = a->net.resolver,
				 .trust_anchor_file = a->net.trust_anchor,
				 .timeout_ms = a->net.timeout * 1000};
	struct mts_dns *dns = base ? mts_dns_new(base, &o, &err) : NULL;
	int rc = 0;
	if (!dns) {
		cli_error(a->cmd, "DNS: %s", base ? err.message : "out of memory");
		rc = CLI_EXIT_INCOMPLETE;
	} else if (!mts_dns_lookup(dns, domain, MTS_DNS_MX, mx_done, l, &err)) {
		cli_error(a->cmd, "DNS: %s", err.message);
		rc = CLI_EXIT_INCOMPLETE;
	} else {
		rc = cli_run_until(a->cmd, base, &l->done, 1);
	}
	mts_dns_free(dns);
	if (base)
		event_base_free(base);
	if (rc)
		return rc;
	if (l->status == MTS_DNS_OK && l->null_mx) {
		cli_error(a->cmd,
			  "%s: a null MX (RFC 7505): the domain receives no mail, so it "
			  "needs no policy",
			  domain);
		return CLI_EXIT_PROBLEM;
	}
	if (l->status == MTS_DNS_NODATA || l->status == MTS_DNS_NXDOMAIN ||
	    (l->status == MTS_DNS_OK && l->count == 0)) {
		cli_error(a->cmd, "%s has no MX records (%s): give the patterns with --mx", domain,
			  mts_dns_status_name(l->status));
		return CLI_EXIT_PROBLEM;
	}
	if (l->status != MTS_DNS_OK) {
		cli_error(a->cmd, "%s: the MX lookup failed: %s%s%s", domain,
			  mts_dns_status_name(l->status), l->message[0] ? ": " : "", l->message);
		return CLI_EXIT_INCOMPLETE;
	}
	qsort(l->hosts, l->count, sizeof(l->hosts[0]), by_name);
	return 0;
}

/* The patterns to serve: --mx values split at commas, or the live MX hosts
 * when none is given or "auto" is. patterns point into buf or l. */
static int patterns_for(struct serve_args *a, const char *domain, bool default_auto, char *buf,
			size_t cap, const char **patterns, size_t *count, bool *mx_auto,
			struct mx_lookup *l)
{
	*count = 0;
	*mx_auto = a->mx_count == 0 ? default_auto : false;
	size_t used = 0;
	for (size_t i = 0; i < a->mx_count; i++) {
		const char *v = a->mx[i];
		if (strcmp(v, "auto") == 0) {
			*mx_auto = true;
			continue;
		}
		while (*v) {
			size_t n = strcspn(v, ",");
			if (n && *count < SERVE_MX_ARGS_MAX && used + n + 1 <= cap) {
				memcpy(buf + used, v, n);
				buf[used + n] = '\0';
				patterns[(*count)++] = buf + used;
				used += n + 1;
			} else if (n) {
				return cli_usage(a->cmd, "--mx: more than %d patterns",
						 SERVE_MX_ARGS_MAX);
			}
			v += n + (v[n] == ',');
		}
	}
	if (*mx_auto && *count)
		return cli_usage(a->cmd, "--mx auto and patterns cannot be mixed");
	if (!*mx_auto)
		return 0;
	int rc = lookup_mx(a, domain, l);
	if (rc)
		return rc;
	for (size_t i = 0; i < l->count; i++)
		patterns[(*count)++] = l->hosts[i];
	return 0;
}

static int parse_mode_age(const struct serve_args *a, enum mts_mode *mode, uint32_t *max_age)
{
	if (a->mode && mts_mode_parse(a->mode, strlen(a->mode), mode) < 0)
		return cli_usage(a->cmd, "--mode '%s': testing, enforce or none", a->mode);
	unsigned long v;
	if (a->max_age) {
		if (cli_parse_uint(a->max_age, 0, MTS_POLICY_MAX_AGE_MAX, &v) < 0)
			return cli_usage(a->cmd, "--max-age '%s': 0 to %u seconds", a->max_age,
					 MTS_POLICY_MAX_AGE_MAX);
		*max_age = (uint32_t)v;
	}
	return 0;
}

/* The records: what the customer publishes, and what the service does. */
static json_t *records_json(const struct mts_hosted_domain *d, const struct serve_settings *s,
			    const struct mts_hosted_names *n)
{
	char sts[MTS_STS_ID_MAX + 32], tlsrpt[1100], target[MTS_DNAME_MAX + 2],
		svc[MTS_DNAME_MAX + 2];
	snprintf(target, sizeof(target), "%s.", n->sts_target);
	snprintf(svc, sizeof(svc), "%s.", s->service);
	json_t *customer =
		json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "name", n->policy_host, "type", "CNAME",
			  "value", svc, "name", n->sts_name, "type", "CNAME", "value", target);
	if (customer && s->rua[0]) {
		snprintf(tlsrpt, sizeof(tlsrpt), "v=TLSRPTv1; rua=%s", s->rua);
		json_array_append_new(customer, json_pack("{s:s,s:s,s:s}", "name", n->tlsrpt_name,
							  "type", "TXT", "value", tlsrpt));
	}
	json_t *service = json_array();
	const char *id = d->state.published_id[0] ? d->state.published_id : d->state.served_id;
	if (service && id[0] && mts_sts_record_format(id, sts, sizeof(sts)) > 0)
		json_array_append_new(service, json_pack("{s:s,s:s,s:s,s:b}", "name", n->sts_target,
							 "type", "TXT", "value", sts, "published",
							 d->state.published_id[0] != 0));
	return json_pack("{s:o*,s:o*}", "customer", customer, "service", service);
}

static json_t *domain_json(const struct mts_hosted_domain *d, const struct serve_settings *s,
			   long long now)
{
	struct mts_hosted_names n;
	struct mts_error err = {0};
	if (mts_hosted_names(d->name, s->zone, &n, &err) < 0)
		return NULL;
	struct mts_hosted_action act;
	mts_hosted_next(&d->state, now, &s->rules, &act);
	json_t *mx = json_array();
	for (size_t i = 0; mx && i < d->mx_count; i++)
		json_array_append_new(mx, json_string(d->mx[i]));
	json_t *next = json_pack("{s:s,s:s}", "action", mts_hosted_do_name(act.what), "why",
				 act.why ? act.why : "");
	if (next && act.what == MTS_HOSTED_DO_PUBLISH)
		json_object_set_new(next, "id", json_string(act.id));
	if (next && act.wake_at)
		json_object_set_new(next, "at", json_integer(act.wake_at));
	return json_pack("{s:s,s:s,s:I,s:b,s:o*,s:s%,s:s,s:s,s:s,s:b,s:o*,s:o*,s:I,s:I,s:I}",
			 "domain", d->name, "mode", mts_mode_name(d->mode), "max_age",
			 (json_int_t)d->max_age, "mx_auto", d->mx_auto, "mx", mx, "policy",
			 d->policy ? d->policy : "", d->policy_len, "id", d->state.served_id,
			 "published_id", d->state.published_id, "phase",
			 mts_hosted_phase_name(d->state.phase), "removing", d->state.removing,
			 "next", next, "records", records_json(d, s, &n), "created_at",
			 (json_int_t)d->created_at, "updated_at", (json_int_t)d->updated_at,
			 "revision", (json_int_t)d->rev);
}

static void print_domain_text(const struct mts_hosted_domain *d, const struct serve_settings *s,
			      long long now, bool records)
{
	json_t *j = domain_json(d, s, now);
	if (!j)
		return;
	json_t *next = json_object_get(j, "next");
	printf("%s: %s, mode %s, max_age %u, %s%s\n", d->name,
	       mts_hosted_phase_name(d->state.phase), mts_mode_name(d->mode), d->max_age,
	       d->mx_auto ? "mx auto" : "mx given", d->state.removing ? ", being removed" : "");
	printf("  id          %s (published: %s)\n", d->state.served_id,
	       d->state.published_id[0] ? d->state.published_id : "none yet");
	printf("  next        %s: %s\n", json_string_value(json_object_get(next, "action")),
	       json_string_value(json_object_get(next, "why")));
	printf("  policy      https://mta-sts.%s/.well-known/mta-sts.txt\n", d->name);
	for (const char *p = d->policy, *e; p && *p; p = e + (*e != '\0')) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		int n = (int)(e - p);
		if (n && p[n - 1] == '\r')
			n--;
		printf("              %.*s\n", n, p);
	}
	if (records) {
		json_t *r = json_object_get(j, "records");
		size_t i;
		json_t *v;
		printf("  publish in %s's zone:\n", d->name);
		json_array_foreach(json_object_get(r, "customer"), i, v)
		{
			const char *type = json_string_value(json_object_get(v, "type"));
			const char *val = json_string_value(json_object_get(v, "value"));
			printf(strcmp(type, "TXT") == 0 ? "    %s. %s \"%s\"\n" : "    %s. %s %s\n",
			       json_string_value(json_object_get(v, "name")), type, val);
		}
		printf("  the service publishes:\n");
		json_array_foreach(json_object_get(r, "service"), i, v)
		{
			printf("    %s. TXT \"%s\"%s\n",
			       json_string_value(json_object_get(v, "name")),
			       json_string_value(json_object_get(v, "value")),
			       json_is_true(json_object_get(v, "published"))
				       ? ""
				       : " (once the policy host has a certificate)");
		}
	}
	json_decref(j);
}

static int show(const struct serve_args *a, const struct mts_hosted_domain *d, bool records)
{
	struct serve_settings s;
	int rc = read_settings(a, &s);
	if (rc)
		return rc;
	if (a->json) {
		json_t *j = domain_json(d, &s, now_utc());
		if (!j) {
			cli_error(a->cmd, "%s: cannot render (a name is too long or no memory)",
				  d->name);
			return CLI_EXIT_INCOMPLETE;
		}
		cli_print_json(j);
	} else {
		print_domain_text(d, &s, now_utc(), records);
	}
	return CLI_EXIT_OK;
}

static int serve_init(struct serve_args *a, int argc, char **argv)
{
	if (argc > 0)
		return cli_usage(a->cmd, "init takes options only");
	if (!a->zone || !a->service)
		return cli_usage(a->cmd, "init needs --zone ZONE and --service NAME");
	char zone[MTS_DNAME_MAX + 1], service[MTS_DNAME_MAX + 1];
	if (cli_parse_domain(a->zone, zone) < 0)
		return cli_usage(a->cmd, "--zone '%s' is not a domain name", a->zone);
	if (cli_parse_domain(a->service, service) < 0)
		return cli_usage(a->cmd, "--service '%s' is not a domain name", a->service);
	if (a->rua) {
		char txt[1100];
		struct mts_tlsrpt_record rec;
		struct mts_error err = {0};
		snprintf(txt, sizeof(txt), "v=TLSRPTv1; rua=%s", a->rua);
		if (mts_tlsrpt_record_parse(txt, strlen(txt), &rec, NULL, &err) < 0)
			return cli_usage(a->cmd, "--rua '%s' is not a mailto: or https: URI",
					 a->rua);
		mts_tlsrpt_record_clear(&rec);
	}
	int rc = open_store(a);
	if (rc)
		return rc;
	struct mts_error err = {0};
	unsigned long prop = MTS_HOSTED_PROPAGATION_DEFAULT;
	if (a->propagation && cli_parse_uint(a->propagation, 1, 86400, &prop) < 0)
		return cli_usage(a->cmd, "--propagation '%s': 1 to 86400 seconds", a->propagation);
	char prop_text[16];
	snprintf(prop_text, sizeof(prop_text), "%lu", prop);
	if (mts_serve_store_setting_set(a->store, MTS_SERVE_SETTING_PROPAGATION, prop_text, &err) <
		    0 ||
	    mts_serve_store_setting_set(a->store, MTS_SERVE_SETTING_ZONE, zone, &err) < 0 ||
	    mts_serve_store_setting_set(a->store, MTS_SERVE_SETTING_SERVICE, service, &err) < 0 ||
	    (a->rua &&
	     mts_serve_store_setting_set(a->store, MTS_SERVE_SETTING_RUA, a->rua, &err) < 0))
		return fail(a, &err);
	if (a->json)
		cli_print_json(json_pack("{s:s,s:s,s:s?,s:I}", "zone", zone, "service", service,
					 "rua", a->rua, "propagation", (json_int_t)prop));
	else
		printf("serve: zone %s, service %s%s%s, propagation %lu s\n", zone, service,
		       a->rua ? ", reports to " : "", a->rua ? a->rua : "", prop);
	return CLI_EXIT_OK;
}

/* add and set: build the policy and write it. */
static int add_or_set(struct serve_args *a, int argc, char **argv, bool add)
{
	if (argc != 1)
		return cli_usage(a->cmd, "domain %s takes one DOMAIN", add ? "add" : "set");
	char name[MTS_DNAME_MAX + 1];
	if (cli_parse_domain(argv[0], name) < 0)
		return cli_usage(a->cmd, "'%s' is not a domain name", argv[0]);
	int rc = open_store(a);
	if (rc)
		return rc;
	struct serve_settings s;
	if ((rc = read_settings(a, &s)))
		return rc;
	struct mts_hosted_domain d;
	struct mts_error err = {0};
	long long now = now_utc();
	if (add) {
		memset(&d, 0, sizeof(d));
		memcpy(d.name, name, sizeof(d.name));
		mts_hosted_init(&d.state);
		d.mode = MTS_MODE_TESTING;
		d.max_age = SERVE_MAX_AGE_DEFAULT;
		d.created_at = now;
	} else if (mts_serve_store_get(a->store, name, &d, &err) < 0) {
		return fail(a, &err);
	}
	enum mts_mode mode = d.mode;
	uint32_t max_age = d.max_age;
	const char *patterns[SERVE_MX_ARGS_MAX];
	char buf[8192];
	size_t count = 0;
	bool mx_auto = d.mx_auto;
	struct mx_lookup *l = calloc(1, sizeof(*l));
	if (!l) {
		mts_hosted_domain_clear(&d);
		cli_error(a->cmd, "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	rc = parse_mode_age(a, &mode, &max_age);
	if (!rc && (add || a->mx_count))
		rc = patterns_for(a, name, true, buf, sizeof(buf), patterns, &count, &mx_auto, l);
	else if (!rc) /* set without --mx: keep the patterns served */
		for (size_t i = 0; i < d.mx_count && i < SERVE_MX_ARGS_MAX; i++)
			patterns[count++] = d.mx[i];
	struct mts_findings fs;
	mts_findings_init(&fs);
	int changed = 0;
	if (!rc) {
		changed = mts_hosted_domain_set_policy(&d, mode, max_age, patterns, count, now,
						       &s.rules, &fs, &err);
		d.mx_auto = mx_auto;
		if (changed < 0) {
			cli_print_findings(stderr, &fs, "  ", cli_use_color(stderr));
			rc = fail(a, &err);
		}
	}
	if (!rc)
		rc = add ? mts_serve_store_add(a->store, &d, &err)
			 : mts_serve_store_put(a->store, &d, &err);
	if (rc < 0)
		rc = fail(a, &err);
	if (!rc && changed > 0 && mts_serve_store_history_add(a->store, &d, &err) < 0)
		rc = fail(a, &err);
	if (!rc) {
		if (!a->json && !add)
			printf("%s\n", changed > 0
					       ? "changed: the new policy is served now; its id "
						 "is announced once every replica serves it"
					       : "unchanged: the same policy bytes and id");
		rc = show(a, &d, add);
	}
	mts_findings_free(&fs);
	free(l);
	mts_hosted_domain_clear(&d);
	return rc;
}

static int read_domain(struct serve_args *a, int argc, char **argv, const char *what,
		       struct mts_hosted_domain *d);

/* ---- domain verify: the customer's records, live ---------------------- */

#define VERIFY_TXT_MAX 4
#define VERIFY_ADDR_MAX 8

/* What one DNS question found, copied out of its callback. */
struct answer {
	size_t *done;
	enum mts_dns_status status;
	char canon[256];
	size_t naddr, ntxt;
	char addr[VERIFY_ADDR_MAX][48];
	char txt[VERIFY_TXT_MAX][512];
};

static void on_answer(const struct mts_dns_result *r, void *arg)
{
	struct answer *x = arg;
	x->status = r->status;
	snprintf(x->canon, sizeof(x->canon), "%s", r->canonname);
	/* The result's record pointers share one array: only the one of the
	 * query's type is meaningful. */
	bool addr = r->type == MTS_DNS_A || r->type == MTS_DNS_AAAA;
	for (size_t i = 0; r->status == MTS_DNS_OK && i < r->count; i++) {
		if (addr && x->naddr < VERIFY_ADDR_MAX)
			snprintf(x->addr[x->naddr++], sizeof(x->addr[0]), "%s", r->addr[i].text);
		else if (r->type == MTS_DNS_TXT && x->ntxt < VERIFY_TXT_MAX)
			snprintf(x->txt[x->ntxt++], sizeof(x->txt[0]), "%.*s",
				 (int)(r->txt[i].len < 511 ? r->txt[i].len : 511), r->txt[i].text);
	}
	(*x->done)++;
}

static bool addrs_meet(const struct answer *x, const struct answer *y)
{
	for (size_t i = 0; i < x->naddr; i++)
		for (size_t j = 0; j < y->naddr; j++)
			if (strcmp(x->addr[i], y->addr[j]) == 0)
				return true;
	return false;
}

static bool has_txt(const struct answer *x, const char *prefix, const char *part)
{
	for (size_t i = 0; i < x->ntxt; i++)
		if (strncmp(x->txt[i], prefix, strlen(prefix)) == 0 &&
		    (!part || strstr(x->txt[i], part)))
			return true;
	return false;
}

/* One record's verdict, as text and JSON. */
static void verdict(json_t *list, bool *ready, const char *name, const char *type, const char *want,
		    const char *status, const char *found, const char *message)
{
	if (strcmp(status, "ok") != 0 && strcmp(status, "pending") != 0)
		*ready = false;
	json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", name, "type",
					      type, "want", want, "status", status, "found", found,
					      "message", message));
}

static int domain_verify(struct serve_args *a, int argc, char **argv)
{
	struct mts_hosted_domain d;
	int rc = read_domain(a, argc, argv, "verify", &d);
	if (rc)
		return rc;
	struct serve_settings s;
	struct mts_hosted_names n;
	struct mts_error err = {0};
	if ((rc = read_settings(a, &s)) || mts_hosted_names(d.name, s.zone, &n, &err) < 0) {
		mts_hosted_domain_clear(&d);
		return rc ? rc : fail(a, &err);
	}
	size_t done = 0, want = 0;
	struct answer host = {.done = &done}, service = {.done = &done}, sts = {.done = &done},
		      tlsrpt = {.done = &done};
	struct event_base *base = event_base_new();
	struct mts_dns_opts o = {.resolver = a->net.resolver,
				 .trust_anchor_file = a->net.trust_anchor,
				 .timeout_ms = a->net.timeout * 1000};
	struct mts_dns *dns = base ? mts_dns_new(base, &o, &err) : NULL;
	const struct {
		const char *name;
		enum mts_dns_type type;
		struct answer *x;
	} q[] = {{n.policy_host, MTS_DNS_A, &host},
		 {s.service, MTS_DNS_A, &service},
		 {n.sts_name, MTS_DNS_TXT, &sts},
		 {n.tlsrpt_name, MTS_DNS_TXT, &tlsrpt}};
	for (size_t i = 0; dns && i < sizeof(q) / sizeof(q[0]); i++)
		want += mts_dns_lookup(dns, q[i].name, q[i].type, on_answer, q[i].x, &err) != NULL;
	rc = dns && want == 4 ? cli_run_until(a->cmd, base, &done, want) : CLI_EXIT_INCOMPLETE;
	if (!dns || want != 4)
		cli_error(a->cmd, "DNS: %s", err.message[0] ? err.message : "out of memory");
	mts_dns_free(dns);
	if (base)
		event_base_free(base);
	if (rc) {
		mts_hosted_domain_clear(&d);
		return rc;
	}
	json_t *list = json_array();
	bool ready = true;
	char want_v[MTS_DNAME_MAX + 2], msg[1100], found[1100];

	/* mta-sts.DOMAIN: a CNAME to the service, or at least its addresses. */
	snprintf(want_v, sizeof(want_v), "%s.", s.service);
	snprintf(found, sizeof(found), "%s%s%s", host.canon[0] ? "CNAME " : "",
		 host.canon[0] ? host.canon : (host.naddr ? host.addr[0] : ""),
		 host.status == MTS_DNS_OK ? "" : mts_dns_status_name(host.status));
	if (strcmp(host.canon, s.service) == 0)
		verdict(list, &ready, n.policy_host, "CNAME", want_v, "ok", found,
			"points at the service");
	else if (host.status == MTS_DNS_OK && addrs_meet(&host, &service))
		verdict(list, &ready, n.policy_host, "CNAME", want_v, "ok", found,
			"its addresses are the service's (a CNAME keeps them so when they change)");
	else if (host.status == MTS_DNS_OK)
		verdict(list, &ready, n.policy_host, "CNAME", want_v, "wrong", found,
			"points elsewhere: make it a CNAME to the service");
	else
		verdict(list, &ready, n.policy_host, "CNAME", want_v, "missing", found,
			"publish the CNAME");

	/* _mta-sts.DOMAIN: a CNAME into the service zone, which holds the id. */
	snprintf(want_v, sizeof(want_v), "%s.", n.sts_target);
	char id_txt[MTS_STS_ID_MAX + 16];
	const char *id = d.state.published_id[0] ? d.state.published_id : d.state.served_id;
	snprintf(id_txt, sizeof(id_txt), "v=STSv1; id=%s", id);
	snprintf(found, sizeof(found), "%s%s%s%s", sts.canon[0] ? "CNAME " : "", sts.canon,
		 sts.ntxt ? (sts.canon[0] ? ", TXT " : "TXT ") : "", sts.ntxt ? sts.txt[0] : "");
	if (strcmp(sts.canon, n.sts_target) == 0 && has_txt(&sts, id_txt, NULL))
		verdict(list, &ready, n.sts_name, "CNAME", want_v, "ok", found,
			"in place, with the current id");
	else if (strcmp(sts.canon, n.sts_target) == 0)
		verdict(list, &ready, n.sts_name, "CNAME", want_v, "pending", found,
			"in place; the service has not published the current id yet");
	else if (has_txt(&sts, "v=STSv1", NULL))
		verdict(list, &ready, n.sts_name, "CNAME", want_v, "wrong", found,
			"a record of its own: replace it with the CNAME, or its id never follows "
			"the policy");
	else
		verdict(list, &ready, n.sts_name, "CNAME", want_v, "missing",
			sts.status == MTS_DNS_OK ? found : mts_dns_status_name(sts.status),
			"publish the CNAME");

	/* _smtp._tls.DOMAIN: reports to the service, when it takes them. */
	if (s.rua[0]) {
		snprintf(msg, sizeof(msg), "v=TLSRPTv1; rua=%s", s.rua);
		snprintf(found, sizeof(found), "%s", tlsrpt.ntxt ? tlsrpt.txt[0] : "");
		if (has_txt(&tlsrpt, "v=TLSRPTv1", s.rua))
			verdict(list, &ready, n.tlsrpt_name, "TXT", msg, "ok", found,
				"reports come to the service");
		else if (has_txt(&tlsrpt, "v=TLSRPTv1", NULL))
			verdict(list, &ready, n.tlsrpt_name, "TXT", msg, "wrong", found,
				"reports go elsewhere: add the service's rua");
		else
			verdict(list, &ready, n.tlsrpt_name, "TXT", msg, "missing",
				tlsrpt.status == MTS_DNS_OK ? found
							    : mts_dns_status_name(tlsrpt.status),
				"publish the record");
	}
	if (a->json) {
		cli_print_json(json_pack("{s:s,s:b,s:o}", "domain", d.name, "ready", ready,
					 "records", list));
	} else {
		printf("%s: %s\n", d.name,
		       ready ? "the records are in place" : "records are missing or wrong");
		size_t i;
		json_t *v;
		json_array_foreach(list, i, v)
		{
			printf("  %-8s %s %s %s\n", json_string_value(json_object_get(v, "status")),
			       json_string_value(json_object_get(v, "name")),
			       json_string_value(json_object_get(v, "type")),
			       json_string_value(json_object_get(v, "want")));
			printf("           %s%s%s\n",
			       json_string_value(json_object_get(v, "message")),
			       *json_string_value(json_object_get(v, "found")) ? "; found: " : "",
			       json_string_value(json_object_get(v, "found")));
		}
		json_decref(list);
	}
	mts_hosted_domain_clear(&d);
	return ready ? CLI_EXIT_OK : CLI_EXIT_PROBLEM;
}

static int domain_list(struct serve_args *a, int argc)
{
	if (argc)
		return cli_usage(a->cmd, "domain list takes no DOMAIN");
	int rc = open_store(a);
	if (rc)
		return rc;
	struct serve_settings s;
	if ((rc = read_settings(a, &s)))
		return rc;
	struct mts_hosted_domain *all;
	size_t n;
	struct mts_error err = {0};
	if (mts_serve_store_list(a->store, &all, &n, &err) < 0)
		return fail(a, &err);
	long long now = now_utc();
	if (a->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, domain_json(&all[i], &s, now));
		cli_print_json(arr);
	} else {
		printf("%-32s %-8s %-10s %-34s %s\n", "DOMAIN", "MODE", "STATE", "ID", "NEXT");
		for (size_t i = 0; i < n; i++) {
			struct mts_hosted_action act;
			mts_hosted_next(&all[i].state, now, &s.rules, &act);
			printf("%-32s %-8s %-10s %-34s %s\n", all[i].name,
			       mts_mode_name(all[i].mode),
			       mts_hosted_phase_name(all[i].state.phase), all[i].state.served_id,
			       mts_hosted_do_name(act.what));
		}
		printf("%zu domain%s\n", n, n == 1 ? "" : "s");
	}
	mts_serve_domains_free(all, n);
	return CLI_EXIT_OK;
}

/* The one DOMAIN argument of `domain what`, read from the store into d;
 * 0, or the exit code after saying why. */
static int read_domain(struct serve_args *a, int argc, char **argv, const char *what,
		       struct mts_hosted_domain *d)
{
	if (argc != 1)
		return cli_usage(a->cmd, "domain %s takes one DOMAIN", what);
	char name[MTS_DNAME_MAX + 1];
	if (cli_parse_domain(argv[0], name) < 0)
		return cli_usage(a->cmd, "'%s' is not a domain name", argv[0]);
	int rc = open_store(a);
	if (rc)
		return rc;
	struct mts_error err = {0};
	if (mts_serve_store_get(a->store, name, d, &err) < 0)
		return fail(a, &err);
	return 0;
}

static int domain_show(struct serve_args *a, int argc, char **argv)
{
	struct mts_hosted_domain d;
	int rc = read_domain(a, argc, argv, "show", &d);
	if (rc)
		return rc;
	rc = show(a, &d, true);
	mts_hosted_domain_clear(&d);
	return rc;
}

static int domain_remove(struct serve_args *a, int argc, char **argv)
{
	struct mts_hosted_domain d;
	int rc = read_domain(a, argc, argv, "remove", &d);
	if (rc)
		return rc;
	struct serve_settings s;
	if ((rc = read_settings(a, &s))) {
		mts_hosted_domain_clear(&d);
		return rc;
	}
	const char *name = d.name;
	struct mts_error err = {0};
	long long now = now_utc();
	struct mts_hosted_event ev = {.type = MTS_HOSTED_EV_REMOVE};
	if (mts_hosted_apply(&d.state, &ev, now, &s.rules) < 0) {
		mts_hosted_domain_clear(&d);
		cli_error(a->cmd, "%s is removed already", name);
		return CLI_EXIT_PROBLEM;
	}
	struct mts_hosted_action act;
	mts_hosted_next(&d.state, now, &s.rules, &act);
	int changed = 0;
	if (act.what == MTS_HOSTED_DO_SERVE_NONE) {
		/* Serve mode none now, with the patterns as they are. */
		changed = mts_hosted_domain_set_policy(&d, MTS_MODE_NONE, 86400,
						       (const char *const *)d.mx, d.mx_count, now,
						       &s.rules, NULL, &err);
		if (changed < 0)
			rc = fail(a, &err);
	}
	bool forget = act.what == MTS_HOSTED_DO_FORGET;
	if (!rc)
		rc = forget ? mts_serve_store_delete(a->store, name, &err)
			    : mts_serve_store_put(a->store, &d, &err);
	if (rc < 0)
		rc = fail(a, &err);
	if (!rc && changed > 0 && mts_serve_store_history_add(a->store, &d, &err) < 0)
		rc = fail(a, &err);
	if (!rc && forget) {
		if (a->json)
			cli_print_json(json_pack("{s:s,s:s}", "domain", name, "phase", "gone"));
		else
			printf("%s: removed (its record was never published)\n", name);
	} else if (!rc) {
		if (!a->json)
			printf("%s: being removed: mode none is served; the record goes once every "
			       "sender's cached policy has expired\n",
			       name);
		rc = show(a, &d, false);
	}
	mts_hosted_domain_clear(&d);
	return rc;
}

#define SERVE_PEM_MAX (256 * 1024)

/* The dates of a PEM chain's leaf, and whether it is valid for name. */
static int leaf_facts(const char *cmd, const char *chain, const char *name, long long *nb,
		      long long *na)
{
	BIO *b = BIO_new_mem_buf(chain, -1);
	X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!leaf) {
		cli_error(cmd, "--chain: no PEM certificate");
		return CLI_EXIT_USAGE;
	}
	int rc = 0;
	struct tm tm;
	if (X509_check_host(leaf, name, 0, 0, NULL) != 1) {
		cli_error(cmd, "--chain: the certificate is not valid for %s", name);
		rc = CLI_EXIT_PROBLEM;
	} else if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) != 1) {
		rc = CLI_EXIT_USAGE;
	} else {
		*nb = (long long)timegm(&tm);
		if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1)
			rc = CLI_EXIT_USAGE;
		*na = (long long)timegm(&tm);
	}
	X509_free(leaf);
	return rc;
}

static int cert_import(struct serve_args *a, int argc, char **argv)
{
	if (argc != 1 || !a->key || !a->chain)
		return cli_usage(a->cmd, "cert import takes NAME, --key FILE and --chain FILE");
	struct mts_serve_cert c = {0};
	if (cli_parse_domain(argv[0], c.name) < 0)
		return cli_usage(a->cmd, "'%s' is not a host name", argv[0]);
	size_t len;
	struct mts_error err = {0};
	int rc = 0;
	if (cli_read_input(a->key, SERVE_PEM_MAX, &c.key_pem, &len, &err) < 0 ||
	    cli_read_input(a->chain, SERVE_PEM_MAX, &c.chain_pem, &len, &err) < 0) {
		cli_error(a->cmd, "%s", err.message);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if ((rc = leaf_facts(a->cmd, c.chain_pem, c.name, &c.not_before, &c.not_after)))
		goto out;
	BIO *kb = BIO_new_mem_buf(c.key_pem, -1);
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	BIO *cb = BIO_new_mem_buf(c.chain_pem, -1);
	X509 *leaf = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	bool match = k && leaf && X509_check_private_key(leaf, k) == 1;
	EVP_PKEY_free(k);
	X509_free(leaf);
	BIO_free(kb);
	BIO_free(cb);
	if (!match) {
		cli_error(a->cmd, "--key: %s",
			  k ? "the key does not match the certificate" : "no PEM private key");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	c.updated_at = now_utc();
	if ((rc = open_store(a)))
		goto out;
	if (mts_serve_store_cert_put(a->store, &c, &err) < 0) {
		rc = fail(a, &err);
		goto out;
	}
	if (a->json)
		cli_print_json(json_pack("{s:s,s:I,s:I}", "name", c.name, "not_before",
					 (json_int_t)c.not_before, "not_after",
					 (json_int_t)c.not_after));
	else
		printf("%s: certificate imported, valid until %lld (%lld days)\n", c.name,
		       c.not_after, (c.not_after - now_utc()) / 86400);
out:
	if (c.key_pem)
		memset(c.key_pem, 0, strlen(c.key_pem));
	free(c.key_pem);
	free(c.chain_pem);
	return rc;
}

/* ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6) to a listening socket. */
static int listen_on(const char *cmd, const char *spec, int *fd)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &len) < 0 ||
	    ((struct sockaddr_in *)&ss)->sin_port == 0)
		return cli_usage(cmd, "'%s' is not ADDR:PORT", spec);
	*fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int on = 1;
	/* TCP_NODELAY is inherited by accepted sockets (Linux): without it a
	 * keep-alive client waits its delayed ACK (40 ms) for every answer
	 * that leaves in two TLS records (bench/run-serve.sh: 355 req/s). */
	if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0 ||
	    bind(*fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || listen(*fd, 1024) < 0) {
		cli_error(cmd, "%s: %s", spec, strerror(errno));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return CLI_EXIT_INCOMPLETE;
	}
	return 0;
}

static void log_line(int prio, const char *message, void *arg)
{
	(void)arg;
	fprintf(stderr, "mtasts serve: %s%s\n", prio <= LOG_ERR ? "error: " : "", message);
}

/* ---- metrics (Prometheus text format) -------------------------------- */

struct running {
	struct mts_serve_host *host;
	struct mts_serve_ids *ids;
	struct mts_serve_acme *acme;
};

static void metric(struct evbuffer *b, const char *name, const char *help, const char *type,
		   const char *labels, unsigned long long v)
{
	if (help)
		evbuffer_add_printf(b, "# HELP mtasts_serve_%s %s\n# TYPE mtasts_serve_%s %s\n",
				    name, help, name, type);
	evbuffer_add_printf(b, "mtasts_serve_%s%s %llu\n", name, labels, v);
}

/* Every counter with a fixed, small set of labels: no per-domain label. */
static void metrics_text(const struct running *run, struct evbuffer *b)
{
	struct mts_serve_host_stats h;
	mts_serve_host_stats(run->host, &h);
	const char *req = "policy host requests by result";
	metric(b, "requests_total", req, "counter", "{result=\"policy\"}", h.policy_ok);
	metric(b, "requests_total", NULL, NULL, "{result=\"unknown_domain\"}", h.policy_unknown);
	metric(b, "requests_total", NULL, NULL, "{result=\"not_found\"}", h.not_found);
	metric(b, "requests_total", NULL, NULL, "{result=\"bad_method\"}", h.bad_method);
	metric(b, "requests_total", NULL, NULL, "{result=\"bad_request\"}", h.bad_request);
	metric(b, "requests_total", NULL, NULL, "{result=\"acme\"}", h.acme_ok);
	metric(b, "requests_total", NULL, NULL, "{result=\"acme_unknown\"}", h.acme_unknown);
	metric(b, "tls_handshakes_total",
	       "TLS handshakes by whether the SNI name has a certificate", "counter",
	       "{result=\"ok\"}", h.sni_ok);
	metric(b, "tls_handshakes_total", NULL, NULL, "{result=\"unknown_name\"}", h.sni_unknown);
	metric(b, "connections", "TLS connections open", "gauge", "", h.connections);
	metric(b, "connections_max", "the cap of TLS connections", "gauge", "", h.max_connections);
	metric(b, "connections_cut_total", "TLS connections closed at --max-time", "counter", "",
	       h.cut_off);
	metric(b, "tenants", "hosted domains served", "gauge", "", h.tenants);
	const char *certs = "policy host certificates by days left";
	metric(b, "certificates", certs, "gauge", "{days_left=\"expired\"}", h.certs_expired);
	metric(b, "certificates", NULL, NULL, "{days_left=\"7\"}", h.certs_7d);
	metric(b, "certificates", NULL, NULL, "{days_left=\"21\"}", h.certs_21d);
	metric(b, "certificates", NULL, NULL, "{days_left=\"more\"}", h.certs_later);
	metric(b, "store_refresh_failures_total", "reads of the store that failed", "counter", "",
	       h.refresh_failures);
	if (run->ids) {
		struct mts_serve_ids_stats i;
		mts_serve_ids_stats(run->ids, &i);
		metric(b, "dns_updates_total", "DNS updates by result", "counter",
		       "{result=\"ok\"}", i.updates_ok);
		metric(b, "dns_updates_total", NULL, NULL, "{result=\"failed\"}", i.updates_failed);
		metric(b, "ids_published_total", "ids confirmed in DNS", "counter", "",
		       i.published);
		metric(b, "store_conflicts_total", "steps another writer took first", "counter", "",
		       i.conflicts);
	}
	if (run->acme) {
		struct mts_serve_acme_stats a;
		mts_serve_acme_stats(run->acme, &a);
		metric(b, "acme_orders_total", "ACME orders by result", "counter",
		       "{result=\"ok\"}", a.orders_ok);
		metric(b, "acme_orders_total", NULL, NULL, "{result=\"failed\"}", a.orders_failed);
		metric(b, "acme_not_pointing_total",
		       "names not ordered: they do not point at the service", "counter", "",
		       a.not_pointing);
	}
	evbuffer_add_printf(b,
			    "# HELP mtasts_serve_build_info the build\n"
			    "# TYPE mtasts_serve_build_info gauge\n"
			    "mtasts_serve_build_info{version=\"%s\",backends=\"%s\"} 1\n",
			    mts_version(), mts_version_features());
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *b = evbuffer_new();
	if (!b)
		return evhttp_send_error(req, 500, "Internal Server Error");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || !path ||
	    strcmp(path, "/metrics") != 0) {
		evbuffer_add_printf(b, "not found\n");
		evhttp_send_reply(req, 404, "Not Found", b);
	} else {
		metrics_text(arg, b);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  "text/plain; version=0.0.4");
		evhttp_send_reply(req, 200, "OK", b);
	}
	evbuffer_free(b);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct mts_error err = {0};
	if (mts_serve_host_refresh(arg, &err) < 0)
		log_line(LOG_WARNING, err.message, NULL);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	log_line(LOG_INFO, "event=stopping", NULL);
	event_base_loopexit(arg, NULL);
}

static int serve_run(struct serve_args *a, int argc)
{
	if (argc)
		return cli_usage(a->cmd, "run takes options only");
	unsigned long refresh = MTS_SERVE_HOST_REFRESH_DEFAULT, ttl = MTS_SERVE_IDS_TTL_DEFAULT;
	if (a->refresh && cli_parse_uint(a->refresh, 1, 3600, &refresh) < 0)
		return cli_usage(a->cmd, "--refresh '%s': 1 to 3600 seconds", a->refresh);
	unsigned long max_conns = 0, max_time = MTS_SERVE_HOST_MAX_TIME_DEFAULT;
	if (a->max_connections && cli_parse_uint(a->max_connections, 1, 1000000, &max_conns) < 0)
		return cli_usage(a->cmd, "--max-connections '%s': 1 to 1000000",
				 a->max_connections);
	if (a->max_time && cli_parse_uint(a->max_time, 1, 86400, &max_time) < 0)
		return cli_usage(a->cmd, "--max-time '%s': 1 to 86400 seconds", a->max_time);
	if (a->ttl && cli_parse_uint(a->ttl, 1, 86400, &ttl) < 0)
		return cli_usage(a->cmd, "--ttl '%s': 1 to 86400 seconds", a->ttl);
	if (!a->dns_server != !a->tsig_key_file)
		return cli_usage(a->cmd, "--dns-server and --tsig-key-file go together");
	struct mts_dns_update_key key = {0};
	if (a->tsig_key_file) {
		char *text = NULL;
		size_t len;
		struct mts_error kerr = {0};
		int krc = cli_read_input(a->tsig_key_file, 4096, &text, &len, &kerr);
		if (krc == 0) {
			text[strcspn(text, "\r\n")] = '\0';
			krc = mts_dns_update_key_parse(text, &key, &kerr);
			memset(text, 0, len);
		}
		free(text);
		if (krc < 0)
			return cli_usage(a->cmd, "--tsig-key-file %s: %s", a->tsig_key_file,
					 kerr.message);
	}
	int https_fd = -1, http_fd = -1, metrics_fd = -1, rc;
	if ((rc = listen_on(a->cmd, a->listen ? a->listen : "0.0.0.0:443", &https_fd)))
		return rc;
	const char *http = a->http ? a->http : "0.0.0.0:80";
	if ((strcmp(http, "none") != 0 && (rc = listen_on(a->cmd, http, &http_fd))) ||
	    (a->metrics && (rc = listen_on(a->cmd, a->metrics, &metrics_fd)))) {
		close(https_fd);
		if (http_fd >= 0)
			close(http_fd);
		return rc;
	}
	char why[200];
	if (a->user && cli_drop_privileges(a->user, why, sizeof(why)) < 0) {
		cli_error(a->cmd, "%s", why);
		rc = CLI_EXIT_INCOMPLETE;
		goto out;
	}
	if ((rc = open_store(a)))
		goto out;
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cli_error(a->cmd, "cannot initialise libcurl");
		rc = CLI_EXIT_INCOMPLETE;
		goto out;
	}
	struct event_base *base = event_base_new();
	struct mts_error err = {0};
	struct mts_serve_host_opts o = {.https_fd = https_fd,
					.http_fd = http_fd,
					.refresh = (unsigned)refresh,
					.max_time = (unsigned)max_time,
					.max_connections = (size_t)max_conns,
					.log = log_line};
	struct mts_serve_host *h = base ? mts_serve_host_new(base, a->store, &o, &err) : NULL;
	struct serve_settings settings;
	struct mts_serve_ids *ids = NULL;
	if (h && (rc = read_settings(a, &settings)) == 0 && settings.rules.propagation <= refresh) {
		cli_error(a->cmd,
			  "the service's propagation (%u s, serve init --propagation) must be "
			  "longer than --refresh (%lu s): an id is announced only once every "
			  "replica serves its policy",
			  settings.rules.propagation, refresh);
		rc = CLI_EXIT_USAGE;
	}
	if (h && rc == 0) {
		struct mts_serve_ids_opts io = {
			.zone = settings.zone,
			.print = !a->dns_server,
			.server = a->dns_server,
			.key = a->dns_server ? &key : NULL,
			.resolver = a->net.resolver,
			.interval = (unsigned)refresh,
			.ttl = (uint32_t)ttl,
			.rules = settings.rules,
			.log = log_line,
		};
		if (!(ids = mts_serve_ids_new(base, a->store, &io, &err))) {
			mts_serve_host_free(h);
			h = NULL;
		}
	}
	mts_dns_update_key_clear(&key);
	struct mts_serve_acme *acme = NULL;
	if (h && rc == 0 && a->acme_directory) {
		char owner[64], host[40] = "";
		gethostname(host, sizeof(host) - 1);
		snprintf(owner, sizeof(owner), "%s:%ld", host, (long)getpid());
		const char *url = a->store_url;
		if (!url) {
			const char *env = getenv(MTS_SERVE_STORE_ENV);
			url = env && *env ? env : MTS_SERVE_STORE_DEFAULT;
		}
		struct mts_serve_acme_opts ao = {.store_url = url,
						 .directory_url = a->acme_directory,
						 .ca_file = a->acme_ca_file,
						 .contact_email = a->acme_email,
						 .service = settings.service,
						 .resolver = a->net.resolver,
						 .owner = owner,
						 .interval = (unsigned)refresh,
						 .log = log_line};
		if (!(acme = mts_serve_acme_start(&ao, &err))) {
			mts_serve_ids_free(ids);
			ids = NULL;
			rc = CLI_EXIT_INCOMPLETE;
			cli_error(a->cmd, "%s", err.message);
		}
	}
	if (!h || rc) {
		mts_serve_host_free(h);
		h = NULL;
		if (!rc) {
			cli_error(a->cmd, "%s", base ? err.message : "out of memory");
			rc = CLI_EXIT_INCOMPLETE;
		}
	} else {
		https_fd = http_fd = -1; /* the host's now */
		struct running run = {.host = h, .ids = ids, .acme = acme};
		struct evhttp *metrics_http = metrics_fd >= 0 ? evhttp_new(base) : NULL;
		if (metrics_http) {
			evhttp_set_max_headers_size(metrics_http, 8192);
			evhttp_set_timeout(metrics_http, 10);
			evhttp_set_gencb(metrics_http, on_metrics, &run);
			if (evhttp_accept_socket_with_handle(metrics_http, metrics_fd))
				metrics_fd = -1; /* the metrics server's now */
		}
		struct event *sigs[3] = {
			evsignal_new(base, SIGTERM, on_stop, base),
			evsignal_new(base, SIGINT, on_stop, base),
			evsignal_new(base, SIGHUP, on_hup, h),
		};
		for (int i = 0; i < 3; i++)
			if (sigs[i])
				event_add(sigs[i], NULL);
		signal(SIGPIPE, SIG_IGN);
		mts_serve_ids_round(ids);
		event_base_dispatch(base);
		for (int i = 0; i < 3; i++)
			if (sigs[i])
				event_free(sigs[i]);
		if (metrics_http)
			evhttp_free(metrics_http);
		log_line(LOG_INFO, "event=stopped", NULL);
	}
	mts_serve_acme_stop(acme);
	mts_serve_ids_free(ids);
	mts_serve_host_free(h);
	if (base)
		event_base_free(base);
out:
	if (https_fd >= 0)
		close(https_fd);
	if (http_fd >= 0)
		close(http_fd);
	if (metrics_fd >= 0)
		close(metrics_fd);
	return rc;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_args a = {.cmd = "serve"};
	if (cli_net_init(&a.net, argc, SERVE_TIMEOUT_DEFAULT) < 0) {
		cli_error(a.cmd, "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	int c, rc = CLI_EXIT_OK;
	optind = 1;
	while ((c = cli_getopt(a.cmd, argc, argv, ":h", serve_options)) != -1) {
		int net = cli_net_option(a.cmd, c, optarg, &a.net);
		if (net == CLI_EXIT_USAGE) {
			rc = net;
			goto out;
		}
		if (net)
			continue;
		switch (c) {
		case OPT_STORE: a.store_url = optarg; break;
		case OPT_ZONE: a.zone = optarg; break;
		case OPT_SERVICE: a.service = optarg; break;
		case OPT_RUA: a.rua = optarg; break;
		case OPT_MODE: a.mode = optarg; break;
		case OPT_MAX_AGE: a.max_age = optarg; break;
		case OPT_JSON: a.json = true; break;
		case OPT_KEY: a.key = optarg; break;
		case OPT_CHAIN: a.chain = optarg; break;
		case OPT_LISTEN: a.listen = optarg; break;
		case OPT_HTTP: a.http = optarg; break;
		case OPT_USER: a.user = optarg; break;
		case OPT_REFRESH: a.refresh = optarg; break;
		case OPT_DNS_SERVER: a.dns_server = optarg; break;
		case OPT_TSIG_KEY_FILE: a.tsig_key_file = optarg; break;
		case OPT_PROPAGATION: a.propagation = optarg; break;
		case OPT_TTL: a.ttl = optarg; break;
		case OPT_ACME_DIRECTORY: a.acme_directory = optarg; break;
		case OPT_ACME_CA_FILE: a.acme_ca_file = optarg; break;
		case OPT_ACME_EMAIL: a.acme_email = optarg; break;
		case OPT_MAX_CONNECTIONS: a.max_connections = optarg; break;
		case OPT_MAX_TIME: a.max_time = optarg; break;
		case OPT_METRICS: a.metrics = optarg; break;
		case OPT_MX:
			if (a.mx_count == SERVE_MX_ARGS_MAX) {
				rc = cli_usage(a.cmd, "--mx: at most %d", SERVE_MX_ARGS_MAX);
				goto out;
			}
			a.mx[a.mx_count++] = optarg;
			break;
		case 'h': rc = cli_print_help(cmd_serve_help); goto out;
		default: rc = CLI_EXIT_USAGE; goto out;
		}
	}
	int nargs = argc - optind;
	char **args = argv + optind;
	if (nargs < 1) {
		rc = cli_usage(a.cmd, "which command? init or domain (see 'mtasts help serve')");
	} else if (strcmp(args[0], "init") == 0) {
		rc = serve_init(&a, nargs - 1, args + 1);
	} else if (strcmp(args[0], "domain") == 0) {
		const char *sub = nargs > 1 ? args[1] : "";
		int n = nargs - 2;
		char **rest = args + 2;
		if (strcmp(sub, "add") == 0)
			rc = add_or_set(&a, n, rest, true);
		else if (strcmp(sub, "set") == 0)
			rc = add_or_set(&a, n, rest, false);
		else if (strcmp(sub, "list") == 0)
			rc = domain_list(&a, n);
		else if (strcmp(sub, "show") == 0)
			rc = domain_show(&a, n, rest);
		else if (strcmp(sub, "verify") == 0)
			rc = domain_verify(&a, n, rest);
		else if (strcmp(sub, "remove") == 0)
			rc = domain_remove(&a, n, rest);
		else
			rc = cli_usage(a.cmd, "domain %s: add, set, list, show, verify or remove",
				       *sub ? sub : "needs a command:");
	} else if (strcmp(args[0], "cert") == 0) {
		if (nargs > 1 && strcmp(args[1], "import") == 0)
			rc = cert_import(&a, nargs - 2, args + 2);
		else
			rc = cli_usage(a.cmd, "cert: import NAME --key FILE --chain FILE");
	} else if (strcmp(args[0], "run") == 0) {
		rc = serve_run(&a, nargs - 1);
	} else {
		rc = cli_usage(a.cmd, "unknown command '%s' (init, domain, cert or run)", args[0]);
	}
out:
	mts_serve_store_close(a.store);
	cli_net_free(&a.net);
	return rc;
}
