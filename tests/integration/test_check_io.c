/*
 * test_check_io.c - the check engine (lib/engine/check.c) against the rig:
 * a full check through the API, a silent MX that must time out, a dead
 * resolver, and freeing the engine with checks in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "mtasts/check.h"
#include "rig_env.h"

static struct rig_env env;

struct outcome {
	int calls;
	enum mts_verdict verdict;
	bool ready;
	size_t mx_count, mx_passing, errors;
	unsigned spf_lookups;
	bool host_probed, host_tls;
	long http_status;
	enum mts_smtp_stage mx0_stage;
	int mx0_error;
	char mx0_host[256];
	enum mts_dns_status mx_status;
	bool has_dns_failed;
};

static void on_done(const struct mts_check_result *r, void *arg)
{
	struct outcome *o = arg;
	o->calls++;
	o->verdict = r->audit.verdict;
	o->ready = r->audit.ready_to_enforce;
	o->mx_count = r->mx_count;
	o->mx_passing = r->audit.mx_passing;
	o->errors = mts_findings_count(r->findings, MTS_SEV_ERROR);
	o->spf_lookups = r->spf_lookups;
	o->host_probed = r->policy_host.attempted;
	o->host_tls = r->policy_host.probe.reached == MTS_SMTP_STAGE_DONE;
	o->http_status = r->http_status;
	o->mx_status = r->mx_status;
	o->has_dns_failed = mts_findings_has(r->findings, MTS_F_CHECK_DNS_FAILED);
	if (r->mx_count) {
		if (r->mx[0].tls_count) {
			o->mx0_stage = r->mx[0].tls[0].probe.reached;
			o->mx0_error = r->mx[0].tls[0].probe.error;
		}
		snprintf(o->mx0_host, sizeof(o->mx0_host), "%s", r->mx[0].host);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run one check to the end; returns its wall time in seconds. */
static double run_one(const char *domain, struct mts_check_opts *opts, struct outcome *o)
{
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct mts_error err = {0};
	struct mts_check *c = mts_check_new(base, opts, &err);
	if (!c)
		fail_msg("mts_check_new: %s", err.message);
	double t0 = now_s();
	assert_int_equal(mts_check_start(c, domain, on_done, o, &err), 0);
	assert_int_equal(mts_check_pending(c), 1);
	event_base_dispatch(base);
	double took = now_s() - t0;
	assert_int_equal(mts_check_pending(c), 0);
	mts_check_free(c);
	event_base_free(base);
	return took;
}

static struct mts_check_opts rig_opts(void)
{
	struct mts_check_opts o = {
		.resolver = rig_env_get(&env, "RIG_RESOLVER"),
		.ca_file = rig_env_get(&env, "RIG_CA_FILE"),
		.timeout_ms = 5000,
	};
	return o;
}

/* Options that send valid.mx.test's probe to a silent peer at port; spec
 * is the caller's buffer for the connect-to entry. */
static struct mts_check_opts silent_mx_opts(unsigned port, unsigned timeout_ms, char *spec,
					    size_t cap, const char **ct)
{
	snprintf(spec, cap, "valid.mx.test:%u:127.0.0.1:%u", port, port);
	ct[0] = spec;
	struct mts_check_opts opts = rig_opts();
	opts.timeout_ms = timeout_ms;
	opts.smtp_port = port;
	opts.connect_to = ct;
	opts.connect_to_count = 1;
	return opts;
}

static void test_full_check(void **state)
{
	(void)state;
	struct mts_check_opts opts = rig_opts();
	struct outcome o = {0};
	run_one("good-multi-mx.test", &opts, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.verdict, MTS_VERDICT_PROTECTED);
	assert_int_equal(o.mx_count, 2);
	assert_int_equal(o.mx_passing, 2);
	assert_int_equal(o.errors, 0);
	assert_int_equal(o.spf_lookups, 1);
	assert_true(o.host_probed);
	assert_true(o.host_tls);
	assert_int_equal(o.http_status, 200);
	assert_string_equal(o.mx0_host, "valid.mx.test");
	assert_int_equal(o.mx0_stage, MTS_SMTP_STAGE_DONE);
}

static void test_silent_mx_times_out(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	char spec[128];
	const char *ct[1];
	struct mts_check_opts opts = silent_mx_opts(port, 700, spec, sizeof(spec), ct);
	struct outcome o = {0};
	double took = run_one("good-enforce.test", &opts, &o);
	close(fd);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.mx0_stage, MTS_SMTP_STAGE_BANNER);
	assert_int_equal(o.mx0_error, MTS_ETIMEOUT);
	assert_int_equal(o.verdict, MTS_VERDICT_BROKEN);
	assert_true(took >= 0.6 && took < 3.0);
}

/* Two domains with the same MX host in one run: one probe serves both. */
static void test_shared_mx_probe(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	char spec[128];
	const char *ct[1];
	struct mts_check_opts opts = silent_mx_opts(port, 500, spec, sizeof(spec), ct);
	struct event_base *base = event_base_new();
	struct mts_error err = {0};
	struct mts_check *c = mts_check_new(base, &opts, &err);
	assert_non_null(c);
	struct outcome a = {0}, b = {0};
	assert_int_equal(mts_check_start(c, "good-enforce.test", on_done, &a, &err), 0);
	assert_int_equal(mts_check_start(c, "demo-healthy.test", on_done, &b, &err), 0);
	event_base_dispatch(base);
	mts_check_free(c);
	event_base_free(base);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.mx0_error, MTS_ETIMEOUT);
	assert_int_equal(b.mx0_error, MTS_ETIMEOUT);
	/* Count the connections the listener got. */
	int n = 0;
	struct timeval tv = {0, 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int s; (s = accept(fd, NULL, NULL)) >= 0; n++)
		close(s);
	close(fd);
	assert_int_equal(n, 1);
}

static void test_dead_resolver(void **state)
{
	(void)state;
	/* A UDP port nobody answers on: every question times out. */
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_DGRAM, &port);
	assert_true(fd >= 0);
	char resolver[64];
	snprintf(resolver, sizeof(resolver), "127.0.0.1@%u", port);
	struct mts_check_opts opts = rig_opts();
	opts.resolver = resolver;
	opts.timeout_ms = 600;
	struct outcome o = {0};
	double took = run_one("good-enforce.test", &opts, &o);
	close(fd);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.verdict, MTS_VERDICT_BROKEN);
	assert_true(o.has_dns_failed);
	assert_int_equal(o.mx_status, MTS_DNS_TIMEOUT);
	assert_int_equal(o.mx_count, 0);
	assert_true(took < 3.0);
}

static void test_free_in_flight(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct mts_check_opts opts = rig_opts();
	struct mts_error err = {0};
	struct mts_check *c = mts_check_new(base, &opts, &err);
	assert_non_null(c);
	struct outcome o = {0};
	const char *domains[] = {"good-enforce.test", "mx-mixed.test", "servfail.test"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(mts_check_start(c, domains[i], on_done, &o, &err), 0);
	assert_int_equal(mts_check_pending(c), 3);
	/* Let some answers arrive, so that probes and fetches are in flight too. */
	for (int i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	usleep(2000);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	mts_check_free(c); /* cancels everything: no callback, nothing leaked */
	event_base_free(base);
	assert_true(o.calls < 3);
}

static void test_bad_options(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	const char *ct[] = {"not a connect-to"};
	struct mts_check_opts opts = {.connect_to = ct, .connect_to_count = 1};
	struct mts_error err = {0};
	assert_null(mts_check_new(base, &opts, &err));
	assert_int_equal(err.code, MTS_EINVAL);
	struct mts_check_opts ok = rig_opts();
	struct mts_check *c = mts_check_new(base, &ok, &err);
	assert_non_null(c);
	assert_int_equal(mts_check_start(c, "", on_done, NULL, &err), MTS_EINVAL);
	mts_check_free(c);
	event_base_free(base);
}

int main(void)
{
	if (rig_env_load(&env) < 0) {
		fprintf(stderr, "test_check_io: RIG_ENV not readable\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_check),       cmocka_unit_test(test_silent_mx_times_out),
		cmocka_unit_test(test_dead_resolver),    cmocka_unit_test(test_free_in_flight),
		cmocka_unit_test(test_shared_mx_probe),
		cmocka_unit_test(test_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
