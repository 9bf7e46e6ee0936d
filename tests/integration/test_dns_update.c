/*
 * test_dns_update.c - RFC 2136 + TSIG updates against a real knotd
 * (tests/rig/dnsupdate, started by the ctest fixture; env file in
 * $DNSUPDATE_ENV). Every change is read back with the project's own
 * resolver (io/dns_int.h, libunbound pointed at the fixture's knot, a new
 * context per lookup so nothing is cached): set, replace (never both values,
 * never none), a 300-byte value as two strings, delete, the keys knot
 * refuses, prerequisites that do not hold (nothing changes), hmac-sha512,
 * a silent server (timeout within the bound), a refused or closed
 * connection, cancel in flight, and the print mode fed to knsupdate(1).
 *
 * With MTS_DNS_UPDATE_CAPTURE=DIR, the answers knot gives to a few requests
 * (built with ID 0x4d54) are written to DIR: the seed corpus of
 * tests/fuzz/fuzz_dns_update.c comes from there.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/dns_int.h"
#include "io/dns_update_int.h"
#include "rig_env.h"

static struct rig_env env;
static struct mts_dns_update_key key, key512;
static const char *server, *zone;
static struct event_base *base;

/* ------------------------------------------------------------ helpers */

struct outcome {
	int calls;
	struct mts_dns_update_result res;
};

static void on_done(const struct mts_dns_update_result *res, void *arg)
{
	struct outcome *o = arg;
	o->calls++;
	o->res = *res;
}

static struct mts_dns_update_result run_with(const struct mts_dns_update_change *c,
					     const struct mts_dns_update_key *k, const char *srv,
					     unsigned timeout_ms)
{
	struct outcome o = {0};
	struct mts_error err = {0};
	struct mts_dns_update_opts opts = {.server = srv, .key = k, .timeout_ms = timeout_ms};
	struct mts_dns_update *u = mts_dns_update_start(base, &opts, c, on_done, &o, &err);
	if (!u)
		fail_msg("start: %s", err.message);
	assert_int_equal(o.calls, 0); /* never called back from inside start */
	event_base_dispatch(base);
	assert_int_equal(o.calls, 1);
	return o.res;
}

static struct mts_dns_update_result run(const struct mts_dns_update_change *c)
{
	return run_with(c, &key, server, 5000);
}

struct txt_answer {
	enum mts_dns_status status;
	size_t count;
	char text[4][4200];
	unsigned strings[4];
};

static void on_txt(const struct mts_dns_result *r, void *arg)
{
	struct txt_answer *a = arg;
	a->status = r->status;
	a->count = r->count;
	for (size_t i = 0; i < r->count && i < 4; i++) {
		snprintf(a->text[i], sizeof(a->text[i]), "%s", r->txt[i].text);
		a->strings[i] = r->txt[i].strings;
	}
}

/* Start a TXT lookup on a fresh resolver (nothing cached); the loop runs it. */
static struct mts_dns *lookup_start(const char *name, struct txt_answer *a)
{
	struct mts_error err = {0};
	struct mts_dns_opts o = {.resolver = server, .timeout_ms = 3000};
	struct mts_dns *dns = mts_dns_new(base, &o, &err);
	if (!dns)
		fail_msg("resolver: %s", err.message);
	memset(a, 0, sizeof(*a));
	a->status = MTS_DNS_FAILED;
	if (!mts_dns_lookup(dns, name, MTS_DNS_TXT, on_txt, a, &err))
		fail_msg("lookup: %s", err.message);
	return dns;
}

static struct txt_answer lookup(const char *name)
{
	struct txt_answer a;
	struct mts_dns *dns = lookup_start(name, &a);
	event_base_dispatch(base);
	mts_dns_free(dns);
	return a;
}

static void expect_ok(const struct mts_dns_update_result *r)
{
	if (r->status != MTS_DNS_UPDATE_OK || !r->verified || strcmp(r->rcode_name, "NOERROR"))
		fail_msg("update: %s %s verified=%d: %s", mts_dns_update_status_name(r->status),
			 r->rcode_name, r->verified, r->message);
}

static void expect_txt(const char *name, const char *value)
{
	struct txt_answer a = lookup(name);
	if (a.status != MTS_DNS_OK || a.count != 1 || strcmp(a.text[0], value) != 0)
		fail_msg("%s: status %s, %zu records, first '%s'; want '%s'", name,
			 mts_dns_status_name(a.status), a.count, a.count ? a.text[0] : "", value);
}

static void set_txt(const char *name, const char *value)
{
	const char *values[] = {value};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = name, .ttl = 300, .values = values, .value_count = 1};
	struct mts_dns_update_result r = run(&c);
	expect_ok(&r);
}

static int setup(void **state)
{
	(void)state;
	struct mts_error err = {0};
	if (rig_env_load_from(&env, "DNSUPDATE_ENV") < 0)
		fail_msg("no fixture env ($DNSUPDATE_ENV)");
	server = rig_env_get(&env, "DNSUPDATE_SERVER");
	zone = rig_env_get(&env, "DNSUPDATE_ZONE");
	assert_non_null(server);
	assert_non_null(zone);
	if (mts_dns_update_key_parse(rig_env_get(&env, "DNSUPDATE_KEY"), &key, &err) < 0 ||
	    mts_dns_update_key_parse(rig_env_get(&env, "DNSUPDATE_KEY512"), &key512, &err) < 0)
		fail_msg("fixture key: %s", err.message);
	base = event_base_new();
	assert_non_null(base);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	event_base_free(base);
	mts_dns_update_key_clear(&key);
	mts_dns_update_key_clear(&key512);
	return 0;
}

/* --------------------------------------------------------------- tests */

static void test_set_and_read_back(void **state)
{
	(void)state;
	const char *name = "_mta-sts.customer1.svc.test";
	set_txt(name, "v=STSv1; id=20261204T1");
	expect_txt(name, "v=STSv1; id=20261204T1");
	struct txt_answer a = lookup(name);
	assert_int_equal(a.strings[0], 1);
}

/* Replacing is one message: every lookup made while updates run sees
 * exactly one record, the old value or the new one. */
static void test_replace_never_both(void **state)
{
	(void)state;
	const char *name = "_mta-sts.customer2.svc.test";
	set_txt(name, "v=STSv1; id=0");
	char prev[64], next[64];
	for (int i = 1; i <= 20; i++) {
		snprintf(prev, sizeof(prev), "v=STSv1; id=%d", i - 1);
		snprintf(next, sizeof(next), "v=STSv1; id=%d", i);
		const char *values[] = {next};
		struct mts_dns_update_change c = {
		    .zone = zone, .name = name, .ttl = 300, .values = values, .value_count = 1};
		struct outcome o = {0};
		struct mts_dns_update_opts opts = {.server = server, .key = &key};
		struct txt_answer during;
		struct mts_dns *dns = lookup_start(name, &during);
		assert_non_null(mts_dns_update_start(base, &opts, &c, on_done, &o, NULL));
		event_base_dispatch(base);
		mts_dns_free(dns);
		assert_int_equal(o.calls, 1);
		expect_ok(&o.res);
		if (during.status != MTS_DNS_OK || during.count != 1 ||
		    (strcmp(during.text[0], prev) != 0 && strcmp(during.text[0], next) != 0))
			fail_msg("round %d: %zu records (%s) during the update", i, during.count,
				 mts_dns_status_name(during.status));
		expect_txt(name, next);
	}
}

/* 300 bytes go out as two character-strings and come back joined. */
static void test_long_value(void **state)
{
	(void)state;
	char value[301];
	for (int i = 0; i < 300; i++)
		value[i] = (char)('a' + i % 26);
	value[300] = '\0';
	const char *name = "_mta-sts.long.svc.test";
	set_txt(name, value);
	struct txt_answer a = lookup(name);
	assert_int_equal(a.status, MTS_DNS_OK);
	assert_int_equal(a.count, 1);
	assert_int_equal(a.strings[0], 2);
	assert_string_equal(a.text[0], value);
}

/* Several values make an RRset of several records. */
static void test_several_values(void **state)
{
	(void)state;
	const char *name = "multi.svc.test";
	const char *values[] = {"one", "two", "three"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = name, .ttl = 60, .values = values, .value_count = 3};
	struct mts_dns_update_result r = run(&c);
	expect_ok(&r);
	struct txt_answer a = lookup(name);
	assert_int_equal(a.count, 3);
	int seen = 0;
	for (size_t i = 0; i < 3; i++)
		for (int v = 0; v < 3; v++)
			if (strcmp(a.text[i], values[v]) == 0)
				seen |= 1 << v;
	assert_int_equal(seen, 7);
}

static void test_delete(void **state)
{
	(void)state;
	const char *name = "_mta-sts.gone.svc.test";
	set_txt(name, "v=STSv1; id=1");
	expect_txt(name, "v=STSv1; id=1");
	struct mts_dns_update_change c = {
	    .zone = zone, .name = name, .action = MTS_DNS_UPDATE_DELETE_TXT};
	struct mts_dns_update_result r = run(&c);
	expect_ok(&r);
	struct txt_answer a = lookup(name);
	assert_true(a.status == MTS_DNS_NXDOMAIN || a.status == MTS_DNS_NODATA);
	/* Deleting what is not there is no error (RFC 2136 §3.4.2.3). */
	r = run(&c);
	expect_ok(&r);
}

static void expect_rejected(const struct mts_dns_update_key *k, const char *const *names,
			    size_t n_names)
{
	const char *name = "_mta-sts.keys.svc.test";
	set_txt(name, "v=STSv1; id=before");
	const char *values[] = {"v=STSv1; id=after"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = name, .ttl = 300, .values = values, .value_count = 1};
	struct mts_dns_update_result r = run_with(&c, k, server, 5000);
	bool named = false;
	for (size_t i = 0; i < n_names; i++)
		named |= strcmp(r.rcode_name, names[i]) == 0;
	if (r.status != MTS_DNS_UPDATE_REJECTED || !named || r.verified)
		fail_msg("%s: %s %s verified=%d: %s", k->name, mts_dns_update_status_name(r.status),
			 r.rcode_name, r.verified, r.message);
	/* The secret is not in the message. */
	assert_null(strstr(r.message, k->secret));
	expect_txt(name, "v=STSv1; id=before");
}

static void test_wrong_secret(void **state)
{
	(void)state;
	struct mts_dns_update_key wrong = key;
	/* Same name and algorithm, another 32-byte secret. */
	snprintf(wrong.secret, sizeof(wrong.secret), "%s",
		 "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc0NTY=");
	const char *names[] = {"BADSIG", "NOTAUTH"};
	expect_rejected(&wrong, names, 2);
}

static void test_unknown_key(void **state)
{
	(void)state;
	struct mts_dns_update_key unknown;
	char spec[300];
	snprintf(spec, sizeof(spec), "hmac-sha256:nobody.svc.test:%s", key.secret);
	assert_int_equal(mts_dns_update_key_parse(spec, &unknown, NULL), 0);
	const char *names[] = {"BADKEY", "NOTAUTH"};
	expect_rejected(&unknown, names, 2);
	mts_dns_update_key_clear(&unknown);
}

/* A key knot knows, but whose ACL does not allow updates. */
static void test_key_without_right(void **state)
{
	(void)state;
	struct mts_dns_update_key ro;
	assert_int_equal(mts_dns_update_key_parse(rig_env_get(&env, "DNSUPDATE_KEY_RO"), &ro, NULL),
			 0);
	const char *names[] = {"BADKEY", "NOTAUTH", "REFUSED"};
	expect_rejected(&ro, names, 3);
	mts_dns_update_key_clear(&ro);
}

static void test_sha512(void **state)
{
	(void)state;
	const char *name = "_mta-sts.sha512.svc.test";
	const char *values[] = {"v=STSv1; id=512"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = name, .ttl = 300, .values = values, .value_count = 1};
	struct mts_dns_update_result r = run_with(&c, &key512, server, 5000);
	expect_ok(&r);
	expect_txt(name, "v=STSv1; id=512");
}

struct prereq_case {
	const char *label;
	enum mts_dns_update_action action;
	enum mts_dns_update_prereq prereq;
	const char *expect; /* TXT_IS value */
	bool start_absent;
	const char *rcode; /* "NOERROR" = applied */
};

static const struct prereq_case prereq_cases[] = {
    {"is old, still old", MTS_DNS_UPDATE_SET_TXT, MTS_DNS_UPDATE_PREREQ_TXT_IS, "v=STSv1; id=OLD",
     false, "NOERROR"},
    {"is old, but other", MTS_DNS_UPDATE_SET_TXT, MTS_DNS_UPDATE_PREREQ_TXT_IS, "v=STSv1; id=OTHER",
     false, "NXRRSET"},
    {"is old, but absent", MTS_DNS_UPDATE_SET_TXT, MTS_DNS_UPDATE_PREREQ_TXT_IS, "v=STSv1; id=OLD",
     true, "NXRRSET"},
    {"absent, but present", MTS_DNS_UPDATE_SET_TXT, MTS_DNS_UPDATE_PREREQ_TXT_ABSENT, NULL, false,
     "YXRRSET"},
    {"absent, absent", MTS_DNS_UPDATE_SET_TXT, MTS_DNS_UPDATE_PREREQ_TXT_ABSENT, NULL, true,
     "NOERROR"},
    {"exists, absent", MTS_DNS_UPDATE_DELETE_TXT, MTS_DNS_UPDATE_PREREQ_TXT_EXISTS, NULL, true,
     "NXRRSET"},
    {"delete if old, other", MTS_DNS_UPDATE_DELETE_TXT, MTS_DNS_UPDATE_PREREQ_TXT_IS,
     "v=STSv1; id=OTHER", false, "NXRRSET"},
    {"delete if old, old", MTS_DNS_UPDATE_DELETE_TXT, MTS_DNS_UPDATE_PREREQ_TXT_IS,
     "v=STSv1; id=OLD", false, "NOERROR"},
};

static void test_prerequisites(void **state)
{
	(void)state;
	const char *name = "_mta-sts.prereq.svc.test";
	for (size_t i = 0; i < sizeof(prereq_cases) / sizeof(prereq_cases[0]); i++) {
		const struct prereq_case *p = &prereq_cases[i];
		struct mts_dns_update_change del = {
		    .zone = zone, .name = name, .action = MTS_DNS_UPDATE_DELETE_TXT};
		struct mts_dns_update_result r = run(&del);
		expect_ok(&r);
		if (!p->start_absent)
			set_txt(name, "v=STSv1; id=OLD");
		const char *values[] = {"v=STSv1; id=NEW"};
		const char *expect[] = {p->expect};
		struct mts_dns_update_change c = {.zone = zone,
						  .name = name,
						  .action = p->action,
						  .ttl = 300,
						  .values = values,
						  .value_count = 1,
						  .prereq = p->prereq,
						  .prereq_values = expect,
						  .prereq_count = p->expect ? 1 : 0};
		r = run(&c);
		bool applied = strcmp(p->rcode, "NOERROR") == 0;
		if (r.status != (applied ? MTS_DNS_UPDATE_OK : MTS_DNS_UPDATE_REJECTED) ||
		    strcmp(r.rcode_name, p->rcode) != 0 || !r.verified)
			fail_msg("%s: %s %s verified=%d: %s", p->label,
				 mts_dns_update_status_name(r.status), r.rcode_name, r.verified,
				 r.message);
		struct txt_answer a = lookup(name);
		const char *now_value = a.status == MTS_DNS_OK && a.count == 1 ? a.text[0] : NULL;
		const char *want =
		    applied ? (p->action == MTS_DNS_UPDATE_SET_TXT ? "v=STSv1; id=NEW" : NULL)
			    : (p->start_absent ? NULL : "v=STSv1; id=OLD");
		if ((want == NULL) != (now_value == NULL) ||
		    (want && strcmp(want, now_value) != 0) || (!want && a.count != 0))
			fail_msg("%s: the TXT is now '%s' (%zu records), want '%s'", p->label,
				 now_value ? now_value : "(none)", a.count, want ? want : "(none)");
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A listener that accepts (in the kernel) and never answers. */
static void test_timeout(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	char srv[64];
	snprintf(srv, sizeof(srv), "127.0.0.1@%u", port);
	const char *values[] = {"v=STSv1; id=1"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = "t.svc.test", .ttl = 300, .values = values, .value_count = 1};
	long long t0 = now_ms();
	struct mts_dns_update_result r = run_with(&c, &key, srv, 600);
	long long took = now_ms() - t0;
	close(fd);
	assert_int_equal(r.status, MTS_DNS_UPDATE_TIMEOUT);
	assert_int_equal(r.rcode, -1);
	assert_string_equal(r.rcode_name, "");
	assert_non_null(strstr(r.message, "no complete answer"));
	if (took < 550 || took > 1500)
		fail_msg("timeout of 600 ms took %lld ms", took);
}

/* knot stopped with SIGSTOP: the connection is accepted, nothing answers. */
static void test_timeout_stopped_server(void **state)
{
	(void)state;
	pid_t pid = (pid_t)strtol(rig_env_get(&env, "DNSUPDATE_PID"), NULL, 10);
	assert_true(pid > 1);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	const char *values[] = {"v=STSv1; id=stopped"};
	struct mts_dns_update_change c = {.zone = zone,
					  .name = "_mta-sts.stopped.svc.test",
					  .ttl = 300,
					  .values = values,
					  .value_count = 1};
	long long t0 = now_ms();
	struct mts_dns_update_result r = run_with(&c, &key, server, 500);
	long long took = now_ms() - t0;
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_int_equal(r.status, MTS_DNS_UPDATE_TIMEOUT);
	if (took < 450 || took > 1500)
		fail_msg("timeout of 500 ms took %lld ms", took);
}

static void test_refused(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	close(fd); /* nothing listens there now */
	char srv[64];
	snprintf(srv, sizeof(srv), "127.0.0.1@%u", port);
	const char *values[] = {"x"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = "r.svc.test", .ttl = 300, .values = values, .value_count = 1};
	struct mts_dns_update_result r = run_with(&c, &key, srv, 3000);
	assert_int_equal(r.status, MTS_DNS_UPDATE_NETWORK);
	assert_true(r.elapsed_ms < 1000);
	assert_non_null(strstr(r.message, "refused"));
}

static void on_accept_close(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	int c = accept(fd, NULL, NULL);
	if (c >= 0)
		close(c);
}

static void test_closed_early(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, on_accept_close, NULL);
	event_add(ev, NULL);
	char srv[64];
	snprintf(srv, sizeof(srv), "127.0.0.1@%u", port);
	const char *values[] = {"x"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = "c.svc.test", .ttl = 300, .values = values, .value_count = 1};
	struct outcome o = {0};
	struct mts_dns_update_opts opts = {.server = srv, .key = &key, .timeout_ms = 3000};
	assert_non_null(mts_dns_update_start(base, &opts, &c, on_done, &o, NULL));
	while (o.calls == 0)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	close(fd);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.res.status, MTS_DNS_UPDATE_NETWORK);
	assert_non_null(strstr(o.res.message, "closed the connection"));
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void run_for(int ms)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = ms * 1000};
	struct event *t = evtimer_new(base, on_stop, base);
	evtimer_add(t, &tv);
	event_base_dispatch(base);
	event_free(t);
}

/* Cancel at once, and after the connection is up (silent server and knot
 * itself): no callback ever, nothing leaked (ASan, valgrind). */
static void test_cancel_in_flight(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	char silent[64];
	snprintf(silent, sizeof(silent), "127.0.0.1@%u", port);
	const char *values[] = {"v=STSv1; id=cancelled"};
	struct mts_dns_update_change c = {.zone = zone,
					  .name = "_mta-sts.cancel.svc.test",
					  .ttl = 300,
					  .values = values,
					  .value_count = 1};
	const char *servers[] = {silent, server};
	for (int s = 0; s < 2; s++)
		for (int wait = 0; wait <= 1; wait++) {
			struct outcome o = {0};
			struct mts_dns_update_opts opts = {
			    .server = servers[s], .key = &key, .timeout_ms = 200};
			struct mts_dns_update *u =
			    mts_dns_update_start(base, &opts, &c, on_done, &o, NULL);
			assert_non_null(u);
			if (wait)
				event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			if (o.calls == 0)
				mts_dns_update_cancel(u);
			run_for(300); /* past the timeout: it must not fire */
			assert_true(o.calls <= 1);
			if (s == 0)
				assert_int_equal(o.calls, 0);
		}
	close(fd);
	mts_dns_update_cancel(NULL);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct outcome o = {0};
	const char *values[] = {"x"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = "a.svc.test", .ttl = 300, .values = values, .value_count = 1};
	struct mts_dns_update_opts opts = {.server = "not-an-address", .key = &key};
	assert_null(mts_dns_update_start(base, &opts, &c, on_done, &o, &err));
	assert_non_null(strstr(err.message, "not ADDR or ADDR@PORT"));
	opts.server = server;
	c.name = "a.elsewhere.test";
	assert_null(mts_dns_update_start(base, &opts, &c, on_done, &o, &err));
	assert_non_null(strstr(err.message, "not inside the zone"));
	opts.key = NULL;
	c.name = "a.svc.test";
	assert_null(mts_dns_update_start(base, &opts, &c, on_done, &o, &err));
	assert_int_equal(o.calls, 0);
}

/* The print mode is what an operator would type: knsupdate(1) applies it. */
static void test_print_mode_applies(void **state)
{
	(void)state;
	const char *name = "_mta-sts.byhand.svc.test";
	set_txt(name, "v=STSv1; id=HAND1");
	char long_value[301];
	memset(long_value, 'q', 300);
	long_value[300] = '\0';
	memcpy(long_value, "v=STSv1; id=HAND2; \"x\\", 22);
	const char *values[] = {long_value};
	const char *expect[] = {"v=STSv1; id=HAND1"};
	struct mts_dns_update_change c = {.zone = zone,
					  .name = name,
					  .ttl = 120,
					  .values = values,
					  .value_count = 1,
					  .prereq = MTS_DNS_UPDATE_PREREQ_TXT_IS,
					  .prereq_values = expect,
					  .prereq_count = 1};
	char text[4096];
	struct mts_error err = {0};
	assert_true(mts_dns_update_render(&c, MTS_DNS_UPDATE_NSUPDATE, text, sizeof(text), &err) >
		    0);
	char path[] = "/tmp/mts-nsupdate-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fprintf(fp, "server %s %s\n%s", rig_env_get(&env, "DNSUPDATE_ADDR"),
		rig_env_get(&env, "DNSUPDATE_PORT"), text);
	fclose(fp);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "knsupdate -y '%s' %s >/dev/null 2>&1",
		 rig_env_get(&env, "DNSUPDATE_KEY"), path);
	int rc = system(cmd);
	unlink(path);
	assert_int_equal(rc, 0);
	expect_txt(name, long_value);
	struct txt_answer a = lookup(name);
	assert_int_equal(a.strings[0], 2);
}

/* The message API over a blocking socket: what the exchange does, step by
 * step; also writes the capture for the fuzz corpus when asked. */
static void exchange_raw(const struct mts_dns_update_change *c, const struct mts_dns_update_key *k,
			 const char *capture_name, enum mts_dns_update_status want)
{
	struct mts_error err = {0};
	struct mts_dns_update_msg *m = mts_dns_update_msg_new(c, k, 0x4d54, &err);
	if (!m)
		fail_msg("%s", err.message);
	char hostport[96];
	snprintf(hostport, sizeof(hostport), "%s:%s", rig_env_get(&env, "DNSUPDATE_ADDR"),
		 rig_env_get(&env, "DNSUPDATE_PORT"));
	struct sockaddr_storage ss;
	socklen_t sl;
	assert_int_equal(rig_addr(hostport, &ss, &sl), 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	size_t len;
	const unsigned char *wire = mts_dns_update_msg_wire(m, &len);
	unsigned char prefix[2] = {(unsigned char)(len >> 8), (unsigned char)len};
	assert_int_equal(write(fd, prefix, 2), 2);
	assert_int_equal(write(fd, wire, len), (ssize_t)len);
	static unsigned char resp[2 + MTS_DNS_UPDATE_RESPONSE_MAX];
	size_t got = 0, need = 2;
	while (got < need) {
		ssize_t n = read(fd, resp + got, need - got);
		assert_true(n > 0);
		got += (size_t)n;
		if (got == 2)
			need = 2 + ((size_t)resp[0] << 8 | resp[1]);
	}
	close(fd);
	struct mts_dns_update_result r;
	mts_dns_update_msg_check(m, resp + 2, got - 2, (long long)time(NULL), &r);
	if (r.status != want)
		fail_msg("%s: %s %s: %s", capture_name, mts_dns_update_status_name(r.status),
			 r.rcode_name, r.message);
	const char *dir = getenv("MTS_DNS_UPDATE_CAPTURE");
	if (dir && *dir) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, capture_name);
		FILE *fp = fopen(path, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(resp + 2, 1, got - 2, fp), got - 2);
		fclose(fp);
	}
	mts_dns_update_msg_free(m);
}

static void test_message_api(void **state)
{
	(void)state;
	const char *name = "_mta-sts.raw.svc.test";
	const char *values[] = {"v=STSv1; id=RAW"};
	const char *other[] = {"v=STSv1; id=NOPE"};
	struct mts_dns_update_change c = {
	    .zone = zone, .name = name, .ttl = 300, .values = values, .value_count = 1};
	exchange_raw(&c, &key, "knot-noerror", MTS_DNS_UPDATE_OK);
	exchange_raw(&c, &key512, "knot-noerror-sha512", MTS_DNS_UPDATE_OK);
	struct mts_dns_update_change pre = c;
	pre.prereq = MTS_DNS_UPDATE_PREREQ_TXT_IS;
	pre.prereq_values = other;
	pre.prereq_count = 1;
	exchange_raw(&pre, &key, "knot-nxrrset", MTS_DNS_UPDATE_REJECTED);
	pre.prereq = MTS_DNS_UPDATE_PREREQ_TXT_ABSENT;
	exchange_raw(&pre, &key, "knot-yxrrset", MTS_DNS_UPDATE_REJECTED);
	struct mts_dns_update_change outside = c;
	outside.zone = "other.test";
	outside.name = "x.other.test";
	/* knot does not sign its NOTAUTH for a zone it does not serve: refused. */
	exchange_raw(&outside, &key, "knot-notauth-unsigned", MTS_DNS_UPDATE_BADRESPONSE);
	struct mts_dns_update_key wrong = key;
	snprintf(wrong.secret, sizeof(wrong.secret), "%s", "YWJjZGVmZ2hpamtsbW5vcA==");
	exchange_raw(&c, &wrong, "knot-badsig", MTS_DNS_UPDATE_REJECTED);
	struct mts_dns_update_key unknown = key;
	snprintf(unknown.name, sizeof(unknown.name), "%s", "nobody.svc.test.");
	exchange_raw(&c, &unknown, "knot-badkey", MTS_DNS_UPDATE_REJECTED);
	expect_txt(name, "v=STSv1; id=RAW");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_and_read_back),
	    cmocka_unit_test(test_replace_never_both),
	    cmocka_unit_test(test_long_value),
	    cmocka_unit_test(test_several_values),
	    cmocka_unit_test(test_delete),
	    cmocka_unit_test(test_wrong_secret),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_key_without_right),
	    cmocka_unit_test(test_sha512),
	    cmocka_unit_test(test_prerequisites),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_timeout_stopped_server),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_closed_early),
	    cmocka_unit_test(test_cancel_in_flight),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_print_mode_applies),
	    cmocka_unit_test(test_message_api),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
