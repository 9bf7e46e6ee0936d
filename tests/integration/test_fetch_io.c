/*
 * test_fetch_io.c - the DNS and HTTPS adapters against the rig: every
 * scenario's TXT record and policy host, all at once on one event loop,
 * compared with the scenario's expect_fetch; plus SERVFAIL, a silent
 * resolver (timeout), TXT joining, MX with null MX, and --connect-to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "io/dns_int.h"
#include "io/https_int.h"
#include "rig_env.h"

static struct rig_env env;

#define MAX_SCENARIOS 128

struct scen {
	char name[64];
	char domain[96];
	char expect[40];
	struct mts_https *https;
	struct mts_https_opts *hopts;
	struct mts_dns *dns;
	/* observed */
	bool txt_done, host_done, fetch_done;
	enum mts_dns_status txt_status, host_status;
	size_t txt_count;
	unsigned txt_strings;
	char txt0[256];
	enum mts_fetch_result fetch;
	enum mts_finding_code code;
	char message[256];
	size_t body_len;
	int *outstanding;
	struct event_base *base;
};

static void finish_one(struct scen *s)
{
	if (--*s->outstanding == 0)
		event_base_loopexit(s->base, NULL);
}

static void on_fetch(const struct mts_https_result *r, void *arg)
{
	struct scen *s = arg;
	s->fetch_done = true;
	s->fetch = r->failure;
	s->code = r->code;
	s->body_len = r->body_len;
	snprintf(s->message, sizeof(s->message), "%s", r->message);
	finish_one(s);
}

static void on_host(const struct mts_dns_result *r, void *arg)
{
	struct scen *s = arg;
	s->host_done = true;
	s->host_status = r->status;
	if (r->status == MTS_DNS_OK) {
		if (mts_https_fetch_policy(s->https, s->domain, r->addr[0].text, 443, s->hopts, on_fetch,
					   s, NULL))
			return;
	}
	finish_one(s);
}

static void on_txt(const struct mts_dns_result *r, void *arg)
{
	struct scen *s = arg;
	s->txt_done = true;
	s->txt_status = r->status;
	s->txt_count = r->count;
	for (size_t i = 0; i < r->count; i++) {
		if (strncmp(r->txt[i].text, "v=STSv1", 7) == 0) {
			snprintf(s->txt0, sizeof(s->txt0), "%s", r->txt[i].text);
			s->txt_strings = r->txt[i].strings;
		}
	}
	finish_one(s);
}

static void read_expect(const char *dir, struct scen *s)
{
	char path[512], line[512];
	int n = snprintf(path, sizeof(path), "%s/%s/scenario", dir, s->name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "expect_fetch = %39s", s->expect) == 1)
			break;
	fclose(fp);
}

static void test_every_scenario(void **state)
{
	static struct scen scens[MAX_SCENARIOS];
	const char *list = rig_env_get(&env, "RIG_SCENARIOS");
	const char *dir = rig_env_get(&env, "RIG_SCENARIO_DIR");
	assert_non_null(list);
	assert_non_null(dir);
	struct event_base *base = event_base_new();
	/* Validating with the rig's trust anchors, as expect_fetch assumes
	 * (dnssec-bogus is a DNS error only for a validating resolver). */
	struct mts_dns_opts dopts = {.resolver = rig_env_get(&env, "RIG_RESOLVER"),
				     .trust_anchor_file = rig_env_get(&env, "RIG_TRUST_ANCHOR"),
				     .timeout_ms = 5000};
	struct mts_error err = {0};
	struct mts_dns *dns = mts_dns_new(base, &dopts, &err);
	assert_non_null(dns);
	struct mts_https *https = mts_https_new(base, &err);
	assert_non_null(https);
	/* policy-slow takes ~40 s: a 3 s limit shows the total-time limit works. */
	struct mts_https_opts hopts = {.ca_file = rig_env_get(&env, "RIG_CA_FILE"),
				       .timeout_ms = 3000};
	int outstanding = 0;
	size_t n = 0;
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok && n < MAX_SCENARIOS;
	     tok = strtok_r(NULL, " ", &save)) {
		struct scen *s = &scens[n++];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", tok);
		snprintf(s->domain, sizeof(s->domain), "%s.test", tok);
		read_expect(dir, s);
		s->https = https;
		s->hopts = &hopts;
		s->dns = dns;
		s->base = base;
		s->outstanding = &outstanding;
		char name[160];
		snprintf(name, sizeof(name), "_mta-sts.%s", s->domain);
		outstanding += 2;
		assert_non_null(mts_dns_lookup(dns, name, MTS_DNS_TXT, on_txt, s, &err));
		snprintf(name, sizeof(name), "mta-sts.%s", s->domain);
		assert_non_null(mts_dns_lookup(dns, name, MTS_DNS_A, on_host, s, &err));
	}
	assert_true(n >= 50);
	event_base_dispatch(base);
	assert_int_equal(outstanding, 0);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		struct scen *s = &scens[i];
		bool ok = s->txt_done && s->host_done;
		const char *e = s->expect;
		if (strcmp(e, "dns-error") == 0) {
			ok = ok && s->txt_status == MTS_DNS_SERVFAIL;
		} else if (strcmp(e, "sts-webpki-invalid") == 0) {
			ok = ok && s->fetch_done && s->fetch == MTS_FETCH_WEBPKI;
		} else if (strcmp(e, "sts-policy-fetch-error") == 0) {
			ok = ok && ((s->fetch_done && s->fetch == MTS_FETCH_ERROR) ||
				    s->host_status == MTS_DNS_NXDOMAIN);
		} else if (strcmp(e, "ok") == 0 || strcmp(e, "sts-policy-invalid") == 0) {
			ok = ok && s->txt_status == MTS_DNS_OK && s->txt0[0] && s->fetch_done &&
			     s->fetch == MTS_FETCH_OK;
		}
		if (!ok) {
			bad++;
			fprintf(stderr, "%s: expect %s; txt %s (%zu), host %s, fetch %s %d %s\n",
				s->name, e, mts_dns_status_name(s->txt_status), s->txt_count,
				mts_dns_status_name(s->host_status),
				s->fetch_done ? "done" : "not done", (int)s->fetch, s->message);
		}
		if (!ok)
			continue;
		if (strcmp(s->name, "record-multistring") == 0) {
			assert_string_equal(s->txt0, "v=STSv1; id=20240601T1");
			assert_int_equal(s->txt_strings, 3);
		}
		if (strcmp(s->name, "cert-expired") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_TLS_EXPIRED);
		if (strcmp(s->name, "cert-wrongname") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_TLS_NAME);
		if (strcmp(s->name, "policy-redirect") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_REDIRECT);
		if (strcmp(s->name, "policy-wrong-content-type") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_CONTENT_TYPE);
		if (strcmp(s->name, "policy-oversized") == 0 ||
		    strcmp(s->name, "policy-chunked-oversized") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_TOO_BIG);
		if (strcmp(s->name, "policy-slow") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_TIMEOUT);
		if (strcmp(s->name, "policy-404") == 0)
			assert_int_equal(s->code, MTS_F_FETCH_HTTP_STATUS);
	}
	assert_int_equal(bad, 0);
	mts_https_free(https);
	mts_dns_free(dns);
	event_base_free(base);
}

struct one {
	bool called;
	enum mts_dns_status status;
	bool null_mx;
	size_t count;
	char first[256];
};

static void on_one(const struct mts_dns_result *r, void *arg)
{
	struct one *o = arg;
	o->called = true;
	o->status = r->status;
	o->null_mx = r->null_mx;
	o->count = r->count;
	if (r->count && r->type == MTS_DNS_MX)
		snprintf(o->first, sizeof(o->first), "%s", r->mx[0].host);
}

static struct one lookup_one(const char *resolver, const char *name, enum mts_dns_type type,
			     unsigned timeout_ms)
{
	struct event_base *base = event_base_new();
	struct mts_dns_opts o = {.resolver = resolver, .timeout_ms = timeout_ms};
	struct mts_dns *dns = mts_dns_new(base, &o, NULL);
	assert_non_null(dns);
	struct one res = {0};
	assert_non_null(mts_dns_lookup(dns, name, type, on_one, &res, NULL));
	event_base_dispatch(base);
	mts_dns_free(dns);
	event_base_free(base);
	assert_true(res.called);
	return res;
}

static void test_mx_and_null_mx(void **state)
{
	const char *resolver = rig_env_get(&env, "RIG_RESOLVER");
	struct one r = lookup_one(resolver, "good-enforce.test", MTS_DNS_MX, 5000);
	assert_int_equal(r.status, MTS_DNS_OK);
	assert_string_equal(r.first, "valid.mx.test");
	r = lookup_one(resolver, "null-mx.test", MTS_DNS_MX, 5000);
	assert_int_equal(r.status, MTS_DNS_OK);
	assert_true(r.null_mx);
	r = lookup_one(resolver, "mta-sts.no-policy-host.test", MTS_DNS_A, 5000);
	assert_int_equal(r.status, MTS_DNS_NXDOMAIN);
}

static void test_silent_resolver_times_out(void **state)
{
	/* A loopback UDP port nobody listens on, inside the rig's block. */
	char resolver[64];
	snprintf(resolver, sizeof(resolver), "%s.250@5353", rig_env_get(&env, "RIG_PREFIX"));
	struct one r = lookup_one(resolver, "good-enforce.test", MTS_DNS_TXT, 1500);
	assert_true(r.status == MTS_DNS_TIMEOUT || r.status == MTS_DNS_SERVFAIL);
}

static void on_fetch_one(const struct mts_https_result *r, void *arg)
{
	struct mts_https_result *out = arg;
	*out = *r;
	out->body = NULL;
}

static void test_fetch_refused_port(void **state)
{
	struct event_base *base = event_base_new();
	struct mts_https *h = mts_https_new(base, NULL);
	struct mts_https_opts o = {.ca_file = rig_env_get(&env, "RIG_CA_FILE")};
	struct mts_https_result r = {0};
	char addr[64];
	snprintf(addr, sizeof(addr), "%s.2", rig_env_get(&env, "RIG_PREFIX"));
	assert_non_null(
		mts_https_fetch_policy(h, "good-enforce.test", addr, 9, &o, on_fetch_one, &r, NULL));
	event_base_dispatch(base);
	assert_int_equal(r.failure, MTS_FETCH_ERROR);
	assert_int_equal(r.code, MTS_F_FETCH_CONNECT);
	mts_https_free(h);
	event_base_free(base);
}

int main(void)
{
	if (rig_env_load(&env) < 0) {
		fprintf(stderr, "RIG_ENV not set or unreadable: is the rig up?\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_scenario),
		cmocka_unit_test(test_mx_and_null_mx),
		cmocka_unit_test(test_silent_resolver_times_out),
		cmocka_unit_test(test_fetch_refused_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
