/*
 * test_smtp_probe.c - the STARTTLS probe against the rig's Postfix MX
 * listeners (one per certificate kind), plus a refused port and a silent
 * peer for the timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/x509_vfy.h>

#include "io/smtp_probe_int.h"
#include "rig_env.h"

static struct rig_env env;

struct outcome {
	bool called;
	struct mts_smtp_probe_result res;
};

static void on_done(const struct mts_smtp_probe_result *res, void *arg)
{
	struct outcome *o = arg;
	o->called = true;
	o->res = *res;
}

static struct mts_smtp_probe_result probe_addr(const char *host, const struct sockaddr_storage *ss,
					       socklen_t len, unsigned timeout_ms)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};
	struct mts_smtp_probe_opts opts = {.host = host, .addr = *ss, .addr_len = len,
					   .ca_file = rig_env_get(&env, "RIG_CA_FILE"),
					   .timeout_ms = timeout_ms};
	struct mts_error err = {0};
	struct mts_smtp_probe *p = mts_smtp_probe_start(base, &opts, on_done, &o, &err);
	assert_non_null(p);
	event_base_dispatch(base);
	event_base_free(base);
	assert_true(o.called);
	return o.res;
}

static struct mts_smtp_probe_result probe_kind(const char *kind)
{
	char key[64], host[128];
	snprintf(key, sizeof(key), "RIG_MX_%s", kind);
	for (char *c = key; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	snprintf(host, sizeof(host), "%s.mx.test", kind);
	struct sockaddr_storage ss;
	socklen_t len;
	const char *hp = rig_env_get(&env, key);
	if (!hp)
		fail_msg("rig env has no %s", key);
	assert_int_equal(rig_addr(hp, &ss, &len), 0);
	return probe_addr(host, &ss, len, 5000);
}

static void test_valid(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("valid");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_DONE);
	assert_int_equal(r.error, 0);
	assert_true(r.starttls_offered);
	assert_true(r.chain_valid);
	assert_true(r.name_valid);
	assert_false(r.self_signed);
	assert_true(r.not_after > time(NULL));
	assert_true(r.name_count >= 1);
	assert_string_equal(r.names[0], "valid.mx.test");
	assert_true(strncmp(r.tls_version, "TLSv1.", 6) == 0);
	assert_true(strncmp(r.banner, "220", 3) == 0);
}

static void test_expired(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("expired");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_DONE);
	assert_false(r.chain_valid);
	assert_int_equal(r.verify_code, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_true(r.name_valid);
	assert_true(r.not_after < time(NULL));
}

static void test_notyet(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("notyet");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_DONE);
	assert_false(r.chain_valid);
	assert_int_equal(r.verify_code, X509_V_ERR_CERT_NOT_YET_VALID);
	assert_true(r.not_before > time(NULL));
}

static void test_wrongname(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("wrongname");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_DONE);
	assert_true(r.chain_valid);
	assert_false(r.name_valid);
}

static void test_selfsigned(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("selfsigned");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_DONE);
	assert_false(r.chain_valid);
	assert_true(r.self_signed);
	assert_int_equal(r.verify_code, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}

static void test_nochain(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("nochain");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_DONE);
	assert_false(r.chain_valid);
	assert_false(r.self_signed);
	assert_int_equal(r.verify_code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

static void test_nostarttls(void **state)
{
	(void)state;
	struct mts_smtp_probe_result r = probe_kind("nostarttls");
	assert_int_equal(r.reached, MTS_SMTP_STAGE_STARTTLS);
	assert_false(r.starttls_offered);
	assert_int_equal(r.error, MTS_EPROTO);
}

/* A loopback port with a listener that is closed again: refused. */
static void test_refused(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	struct sockaddr_storage ss = {0};
	memcpy(&ss, &sin, sizeof(sin));
	struct mts_smtp_probe_result r = probe_addr("refused.mx.test", &ss, sizeof(sin), 3000);
	assert_int_equal(r.reached, MTS_SMTP_STAGE_CONNECT);
	assert_int_equal(r.error, MTS_EIO);
}

/* A peer that accepts and never speaks: the probe's own timeout ends it. */
static void test_silent_timeout(void **state)
{
	(void)state;
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_storage ss = {0};
	memcpy(&ss, &sin, sizeof(sin));
	struct mts_smtp_probe_result r = probe_addr("silent.mx.test", &ss, sizeof(sin), 700);
	close(fd);
	assert_int_equal(r.reached, MTS_SMTP_STAGE_BANNER);
	assert_int_equal(r.error, MTS_ETIMEOUT);
	assert_true(r.elapsed_ms >= 600 && r.elapsed_ms < 3000);
}

/* Direct TLS (no SMTP): how check looks at the policy host on 443. */
static void test_direct_tls(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(rig_addr(rig_env_get(&env, "RIG_HTTPS"), &ss, &len), 0);
	struct event_base *base = event_base_new();
	struct outcome o = {0};
	struct mts_smtp_probe_opts opts = {.host = "mta-sts.good-enforce.test", .addr = ss,
					   .addr_len = len, .direct_tls = true,
					   .ca_file = rig_env_get(&env, "RIG_CA_FILE"),
					   .timeout_ms = 5000};
	struct mts_error err = {0};
	assert_non_null(mts_smtp_probe_start(base, &opts, on_done, &o, &err));
	event_base_dispatch(base);
	event_base_free(base);
	assert_true(o.called);
	assert_int_equal(o.res.reached, MTS_SMTP_STAGE_DONE);
	assert_true(o.res.chain_valid);
	assert_true(o.res.name_valid);
	assert_false(o.res.starttls_offered);
	assert_string_equal(o.res.banner, "");
	assert_true(o.res.not_after > time(NULL));
}

int main(void)
{
	if (rig_env_load(&env) < 0) {
		fprintf(stderr, "test_smtp_probe: RIG_ENV not readable\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),      cmocka_unit_test(test_expired),
		cmocka_unit_test(test_notyet),     cmocka_unit_test(test_wrongname),
		cmocka_unit_test(test_selfsigned), cmocka_unit_test(test_nochain),
		cmocka_unit_test(test_nostarttls), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_silent_timeout), cmocka_unit_test(test_direct_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
