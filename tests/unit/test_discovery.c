/* test_discovery.c - the discovery engine with a fake clock and a fake
 * transport: fetch on a new or changed id, no fetch on an unchanged one,
 * cached policy kept on failure, expiry, proactive refresh, coalescing,
 * negative caching and its backoff. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "mtasts/discovery.h"

#define POLICY_A "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 800\r\n"
#define POLICY_B "version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 800\r\n"

/* What the fake network answers now. */
struct fake {
	struct event_base *base;
	enum mts_lookup txt_lookup;
	enum mts_finding_code txt_failure;
	const char *txt;               /* the one TXT record, or NULL for none */
	unsigned txt_strings;          /* its character-strings; 0 = 1 */
	enum mts_fetch_result fetch_result;
	const char *body;
	unsigned txt_calls, fetch_calls;
	long long now;
};

struct fake_req {
	struct fake *f;
	struct event *ev;
	bool is_txt;
	mts_discovery_txt_done txt_done;
	mts_discovery_fetch_done fetch_done;
	void *op;
};

static void fake_fire(evutil_socket_t fd, short what, void *arg)
{
	struct fake_req *r = arg;
	struct fake *f = r->f;
	event_free(r->ev);
	if (r->is_txt) {
		const char *txts[1] = {f->txt};
		size_t lens[1] = {f->txt ? strlen(f->txt) : 0};
		unsigned strings[1] = {f->txt_strings ? f->txt_strings : 1};
		struct mts_discovery_txt_answer a = {.lookup = f->txt_lookup,
						     .failure = f->txt_failure,
						     .message = "fake failure",
						     .count = f->txt ? 1 : 0,
						     .txts = txts,
						     .lens = lens,
						     .strings = strings};
		mts_discovery_txt_done done = r->txt_done;
		void *op = r->op;
		free(r);
		done(&a, op);
	} else {
		struct mts_discovery_fetch_answer a = {
			.result = f->fetch_result,
			.code = MTS_F_FETCH_HTTP_STATUS,
			.message = "HTTP status 404, not 200",
			.http_status = f->fetch_result == MTS_FETCH_OK ? 200 : 404,
			.connected_to = "192.0.2.1:443",
			.body = f->body,
			.body_len = f->body ? strlen(f->body) : 0,
		};
		mts_discovery_fetch_done done = r->fetch_done;
		void *op = r->op;
		free(r);
		done(&a, op);
	}
}

static struct fake_req *fake_req(struct fake *f, bool is_txt, void *op)
{
	struct fake_req *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->f = f;
	r->is_txt = is_txt;
	r->op = op;
	r->ev = evtimer_new(f->base, fake_fire, r);
	struct timeval zero = {0, 0};
	evtimer_add(r->ev, &zero);
	return r;
}

static void *fake_txt(void *tctx, const char *domain, mts_discovery_txt_done done, void *op)
{
	struct fake *f = tctx;
	f->txt_calls++;
	struct fake_req *r = fake_req(f, true, op);
	r->txt_done = done;
	return r;
}

static void *fake_fetch(void *tctx, const char *domain, mts_discovery_fetch_done done, void *op)
{
	struct fake *f = tctx;
	f->fetch_calls++;
	struct fake_req *r = fake_req(f, false, op);
	r->fetch_done = done;
	return r;
}

static void fake_cancel(void *tctx, void *handle)
{
	struct fake_req *r = handle;
	event_free(r->ev);
	free(r);
}

static const struct mts_discovery_transport fake_transport = {
	.txt = fake_txt, .fetch = fake_fetch, .cancel = fake_cancel};

static long long fake_clock(void *arg)
{
	return ((struct fake *)arg)->now;
}

/* What a callback saw, copied out. */
struct seen {
	unsigned calls;
	enum mts_discovery_outcome outcome;
	enum mts_policy_source source;
	bool has_policy, fetched;
	enum mts_mode mode;
	char policy_id[40];
	long long fetched_at, expires_at;
	bool cached_finding, expired_finding, id_changed_finding, dns_finding, split_finding;
};

static void on_result(const struct mts_discovery_result *r, void *arg)
{
	struct seen *s = arg;
	s->calls++;
	s->outcome = r->outcome;
	s->source = r->source;
	s->has_policy = r->policy != NULL;
	s->mode = r->policy ? r->policy->mode : MTS_MODE_NONE;
	s->fetched = r->fetched;
	snprintf(s->policy_id, sizeof(s->policy_id), "%s", r->policy_id);
	s->fetched_at = r->fetched_at;
	s->expires_at = r->expires_at;
	s->cached_finding = mts_findings_has(r->findings, MTS_F_FETCH_CACHED);
	s->expired_finding = mts_findings_has(r->findings, MTS_F_FETCH_CACHE_EXPIRED);
	s->id_changed_finding = mts_findings_has(r->findings, MTS_F_FETCH_ID_CHANGED);
	s->dns_finding = mts_findings_has(r->findings, MTS_F_DNS_SERVFAIL);
	s->split_finding = mts_findings_has(r->findings, MTS_F_STS_RECORD_SPLIT);
}

struct world {
	struct fake fake;
	struct mts_cache *cache;
	struct mts_discovery *d;
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	w->fake.base = event_base_new();
	w->fake.now = 1000000;
	w->fake.txt_lookup = MTS_LOOKUP_OK;
	w->fake.txt = "v=STSv1; id=A1";
	w->fake.fetch_result = MTS_FETCH_OK;
	w->fake.body = POLICY_A;
	w->cache = mts_cache_open("memory:", NULL);
	struct mts_discovery_opts opts = {.clock = fake_clock, .clock_arg = &w->fake,
					  .negative_ttl = 60, .negative_ttl_max = 240};
	w->d = mts_discovery_new(w->fake.base, w->cache, &fake_transport, &w->fake, &opts, NULL);
	assert_non_null(w->d);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	mts_discovery_free(w->d);
	mts_cache_close(w->cache);
	event_base_free(w->fake.base);
	free(w);
	return 0;
}

static void lookup(struct world *w, const char *domain, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(mts_discovery_lookup(w->d, domain, on_result, s, NULL), 0);
	assert_int_equal(s->calls, 0); /* never called back from inside lookup */
	event_base_loop(w->fake.base, 0); /* runs until nothing is pending */
	assert_int_equal(s->calls, 1);
	assert_int_equal(mts_discovery_pending(w->d), 0);
}

static void test_fetch_then_cached(void **state)
{
	struct world *w = *state;
	struct seen s;
	lookup(w, "Example.COM.", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_OK);
	assert_int_equal(s.source, MTS_SOURCE_NETWORK);
	assert_true(s.fetched);
	assert_string_equal(s.policy_id, "A1");
	assert_int_equal(s.fetched_at, 1000000);
	assert_int_equal(s.expires_at, 1000000 + 800);
	assert_false(s.split_finding);

	/* Same id later: TXT is asked, the policy is not fetched again. */
	w->fake.now += 100;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.txt_calls, 2);
	assert_int_equal(w->fake.fetch_calls, 1);
	assert_int_equal(s.source, MTS_SOURCE_CACHE);
	assert_int_equal(s.outcome, MTS_OUTCOME_OK);
	assert_int_equal(s.fetched_at, 1000000);
	assert_false(s.fetched);
}

static void test_id_change_refetches(void **state)
{
	struct world *w = *state;
	struct seen s;
	lookup(w, "example.com", &s);
	w->fake.now += 10;
	w->fake.txt = "v=STSv1; id=B2";
	w->fake.body = POLICY_B;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 2);
	assert_int_equal(s.source, MTS_SOURCE_NETWORK);
	assert_true(s.id_changed_finding);
	assert_string_equal(s.policy_id, "B2");
	assert_int_equal(s.mode, MTS_MODE_TESTING);
	assert_int_equal(s.fetched_at, 1000010);
}

static void test_failure_keeps_cached_policy(void **state)
{
	struct world *w = *state;
	struct seen s;
	lookup(w, "example.com", &s);
	/* The id changes but the new policy cannot be fetched. */
	w->fake.now += 10;
	w->fake.txt = "v=STSv1; id=B2";
	w->fake.fetch_result = MTS_FETCH_ERROR;
	w->fake.body = NULL;
	lookup(w, "example.com", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_FETCH_ERROR);
	assert_int_equal(s.source, MTS_SOURCE_CACHE);
	assert_true(s.has_policy);
	assert_true(s.cached_finding);
	assert_string_equal(s.policy_id, "A1");
	assert_int_equal(s.mode, MTS_MODE_ENFORCE);

	/* DNS failure during the backoff: no network at all, cached policy. */
	unsigned txt_before = w->fake.txt_calls;
	w->fake.now += 30;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.txt_calls, txt_before);
	assert_int_equal(s.source, MTS_SOURCE_CACHE);
	assert_true(s.has_policy);

	/* After the backoff (60 s), a DNS failure: still the cached policy. */
	w->fake.now += 60;
	w->fake.txt_lookup = MTS_LOOKUP_FAILED;
	w->fake.txt_failure = MTS_F_DNS_SERVFAIL;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.txt_calls, txt_before + 1);
	assert_int_equal(s.outcome, MTS_OUTCOME_DNS_ERROR);
	assert_int_equal(s.source, MTS_SOURCE_CACHE);
	assert_true(s.dns_finding);
	assert_true(s.has_policy);
}

static void test_expiry(void **state)
{
	struct world *w = *state;
	struct seen s;
	lookup(w, "example.com", &s);
	/* Past max_age with DNS failing: the expired policy no longer applies. */
	w->fake.now += 801;
	w->fake.txt_lookup = MTS_LOOKUP_FAILED;
	w->fake.txt_failure = MTS_F_DNS_SERVFAIL;
	lookup(w, "example.com", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_DNS_ERROR);
	assert_int_equal(s.source, MTS_SOURCE_NONE);
	assert_false(s.has_policy);
	assert_true(s.expired_finding);
}

static void test_record_gone_keeps_cached_policy(void **state)
{
	struct world *w = *state;
	struct seen s;
	lookup(w, "example.com", &s);
	w->fake.now += 5;
	w->fake.txt_lookup = MTS_LOOKUP_NXDOMAIN;
	w->fake.txt = NULL;
	lookup(w, "example.com", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_NO_POLICY);
	assert_int_equal(s.source, MTS_SOURCE_CACHE); /* RFC 8461 §5.1 */
	assert_true(s.has_policy);
}

static void test_proactive_refresh(void **state)
{
	struct world *w = *state;
	struct seen s;
	lookup(w, "example.com", &s);
	/* max_age 800: the last 100 s (1/8) are the refresh window. */
	w->fake.now += 650;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 1);
	w->fake.now += 60; /* 710 s old: 90 s left */
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 2);
	assert_int_equal(s.source, MTS_SOURCE_NETWORK);
	assert_int_equal(s.expires_at, w->fake.now + 800);
}

/* RFC 8461 §10.2: a long-lived policy is fetched again about daily (with a
 * per-domain jitter of up to 3 hours) even when the id never changes. */
static void test_daily_refetch(void **state)
{
	struct world *w = *state;
	struct seen s;
	w->fake.body = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 604800\r\n";
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 1);
	w->fake.now += 21 * 3600; /* before the earliest refetch (24 h - 3 h) */
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 1);
	assert_int_equal(s.source, MTS_SOURCE_CACHE);
	w->fake.now += 3 * 3600; /* a day old: fetched again, id unchanged */
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 2);
	assert_int_equal(s.source, MTS_SOURCE_NETWORK);
	assert_int_equal(s.fetched_at, w->fake.now);
	w->fake.now += 100;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 2);
	/* A day later the refetch fails: the cached policy stays in force. */
	w->fake.now += 86400;
	w->fake.fetch_result = MTS_FETCH_ERROR;
	w->fake.body = NULL;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.fetch_calls, 3);
	assert_int_equal(s.source, MTS_SOURCE_CACHE);
	assert_true(s.has_policy);
}

static void test_coalescing(void **state)
{
	struct world *w = *state;
	struct seen s[5];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 5; i++)
		assert_int_equal(mts_discovery_lookup(w->d, i % 2 ? "example.com" : "EXAMPLE.com",
						      on_result, &s[i], NULL), 0);
	assert_int_equal(mts_discovery_pending(w->d), 1);
	event_base_loop(w->fake.base, 0);
	assert_int_equal(w->fake.txt_calls, 1);
	assert_int_equal(w->fake.fetch_calls, 1);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(s[i].calls, 1);
		assert_int_equal(s[i].source, MTS_SOURCE_NETWORK);
	}
	/* Another domain is its own discovery. */
	struct seen other;
	lookup(w, "example.org", &other);
	assert_int_equal(w->fake.txt_calls, 2);
}

static void test_cancel_waiter(void **state)
{
	struct world *w = *state;
	struct seen a = {0}, b = {0}, c = {0};
	assert_int_equal(mts_discovery_lookup(w->d, "example.com", on_result, &a, NULL), 0);
	assert_int_equal(mts_discovery_lookup(w->d, "example.com", on_result, &b, NULL), 0);
	assert_int_equal(mts_discovery_cancel(w->d, "example.com", on_result, &b), 0);
	assert_int_equal(mts_discovery_cancel(w->d, "example.com", on_result, &b), MTS_ENOTFOUND);
	assert_int_equal(mts_discovery_cancel(w->d, "example.org", on_result, &a), MTS_ENOTFOUND);
	/* A waiter added after a cancel still queues at the end. */
	assert_int_equal(mts_discovery_lookup(w->d, "example.com", on_result, &c, NULL), 0);
	event_base_loop(w->fake.base, 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 1);
	/* With every waiter gone the discovery still completes and caches. */
	struct seen d = {0};
	w->fake.txt = "v=STSv1; id=B2";
	w->fake.body = POLICY_B;
	assert_int_equal(mts_discovery_lookup(w->d, "example.com", on_result, &d, NULL), 0);
	assert_int_equal(mts_discovery_cancel(w->d, "example.com", on_result, &d), 0);
	event_base_loop(w->fake.base, 0);
	assert_int_equal(d.calls, 0);
	struct mts_cache_entry e;
	assert_int_equal(mts_cache_get(w->cache, "example.com", &e, NULL), 0);
	assert_string_equal(e.id, "B2");
	mts_cache_entry_clear(&e);
}

static void test_negative_cache_and_backoff(void **state)
{
	struct world *w = *state;
	struct seen s;
	w->fake.txt = "v=spf1 -all"; /* not an STS record */
	lookup(w, "example.com", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_NO_POLICY);
	assert_int_equal(s.source, MTS_SOURCE_NONE);
	assert_int_equal(w->fake.txt_calls, 1);
	/* Within 60 s: remembered, no network. */
	w->fake.now += 59;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.txt_calls, 1);
	assert_int_equal(s.outcome, MTS_OUTCOME_NO_POLICY);
	assert_int_equal(s.source, MTS_SOURCE_NEGATIVE);
	/* After 60 s: asked again; still failing, the backoff doubles. */
	w->fake.now += 1;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.txt_calls, 2);
	w->fake.now += 119;
	lookup(w, "example.com", &s);
	assert_int_equal(w->fake.txt_calls, 2);
	/* Bounded by negative_ttl_max (240 s) however many failures. */
	for (int i = 0; i < 6; i++) {
		w->fake.now += 240;
		lookup(w, "example.com", &s);
	}
	assert_int_equal(w->fake.txt_calls, 8);
	/* Once the record appears and the backoff ends, the policy is fetched. */
	w->fake.txt = "v=STSv1; id=A1";
	w->fake.now += 240;
	lookup(w, "example.com", &s);
	assert_int_equal(s.source, MTS_SOURCE_NETWORK);
	assert_int_equal(s.outcome, MTS_OUTCOME_OK);
}

static void test_split_record_reported(void **state)
{
	struct world *w = *state;
	struct seen s;
	w->fake.txt_strings = 3;
	lookup(w, "example.com", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_OK);
	assert_true(s.split_finding);
}

static void test_invalid_policy(void **state)
{
	struct world *w = *state;
	struct seen s;
	w->fake.body = "version: STSv1\r\nmode: strict\r\n";
	lookup(w, "example.com", &s);
	assert_int_equal(s.outcome, MTS_OUTCOME_INVALID);
	assert_false(s.has_policy);
	assert_true(s.fetched);
}

static void test_bad_domain_and_free_in_flight(void **state)
{
	struct world *w = *state;
	struct seen s = {0};
	struct mts_error err = {0};
	assert_int_equal(mts_discovery_lookup(w->d, "bad..name", on_result, &s, &err), MTS_EINVAL);
	assert_int_equal(mts_discovery_lookup(w->d, "example.com", on_result, &s, NULL), 0);
	assert_int_equal(mts_discovery_pending(w->d), 1);
	/* teardown frees the engine with the lookup in flight: no callback, no leak. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fetch_then_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_change_refetches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daily_refetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_keeps_cached_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_gone_keeps_cached_policy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_proactive_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_cache_and_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_record_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_domain_and_free_in_flight, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
