/* test_audit.c - from measured facts to findings and the verdict of a check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/audit.h"

#define NOW 1795000000LL /* 2026-11-18 */
#define DAY 86400LL

static const char *sts_ok[] = {"v=STSv1; id=20261101"};
static const size_t sts_ok_len[] = {20};
static const char *rpt_ok[] = {"v=TLSRPTv1; rua=mailto:tls@example.test"};
static const size_t rpt_ok_len[] = {39};
static const char *spf_ok[] = {"v=spf1 mx -all"};
static const size_t spf_ok_len[] = {14};
static const char *dmarc_ok[] = {"v=DMARC1; p=reject; rua=mailto:d@example.test"};
static const size_t dmarc_ok_len[] = {46};

static const char enforce_policy[] =
	"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.net\r\n"
	"max_age: 1209600\r\n";
static const char testing_policy[] =
	"version: STSv1\r\nmode: testing\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n";

static struct mts_audit_tls good_tls(void)
{
	return (struct mts_audit_tls){.attempted = true, .connected = true,
				      .starttls_offered = true, .handshake_ok = true,
				      .tls_version = "TLSv1.3", .chain_valid = true,
				      .name_valid = true, .not_before = NOW - 30 * DAY,
				      .not_after = NOW + 60 * DAY};
}

static struct mts_audit_facts base_facts(const char *policy, const struct mts_audit_mx *mx,
					 size_t mx_count)
{
	struct mts_audit_facts f = {
		.domain = "example.test", .now = NOW,
		.sts = {.count = 1, .txts = sts_ok, .lens = sts_ok_len},
		.tlsrpt = {.count = 1, .txts = rpt_ok, .lens = rpt_ok_len},
		.spf = {.count = 1, .txts = spf_ok, .lens = spf_ok_len},
		.dmarc = {.count = 1, .txts = dmarc_ok, .lens = dmarc_ok_len},
		.fetch = MTS_FETCH_OK, .policy_body = policy, .policy_len = strlen(policy),
		.policy_host = good_tls(), .mx_count = mx_count, .mx = mx,
	};
	return f;
}

static struct mts_audit_mx mx_host(const char *host)
{
	return (struct mts_audit_mx){.host = host, .preference = 10, .addresses = 1,
				     .tls_count = 1, .tls = {good_tls()}};
}

static void run(const struct mts_audit_facts *f, struct mts_audit_result *r,
		struct mts_findings *fs)
{
	mts_findings_init(fs);
	assert_int_equal(mts_audit_evaluate(f, r, fs), 0);
}

static void test_protected(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test."), mx_host("a.mx.example.net")};
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 2);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_PROTECTED);
	assert_true(r.ready_to_enforce);
	assert_int_equal(r.mx_passing, 2);
	assert_int_equal(mts_findings_count(&fs, MTS_SEV_WARNING), 0);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_HOST_CERT_DAYS));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_TLS_OK));
	mts_findings_free(&fs);
}

static void test_enforce_uncovered_is_broken(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test"), mx_host("b.a.mx.example.net")};
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 2);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	assert_false(r.ready_to_enforce);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_NOT_COVERED));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_POLICY_MX_STALE)); /* *.mx.example.net unused */
	/* the finding names the host it is about */
	for (size_t i = 0; i < fs.count; i++)
		if (fs.items[i].id == MTS_F_CHECK_MX_NOT_COVERED)
			assert_string_equal(fs.items[i].subject, "b.a.mx.example.net");
	mts_findings_free(&fs);
}

static void test_testing_not_ready(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test"), mx_host("mx2.example.test")};
	mx[1].tls[0].starttls_offered = false;
	mx[1].tls[0].handshake_ok = false;
	struct mts_audit_facts f = base_facts(testing_policy, mx, 2);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_TESTING);
	assert_false(r.ready_to_enforce);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_NOT_COVERED_TESTING));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_STARTTLS));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_NOT_READY));
	assert_true(mts_findings_has(&fs, MTS_F_POLICY_MODE_TESTING));
	mts_findings_free(&fs);
}

static void test_testing_ready(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	struct mts_audit_facts f = base_facts(testing_policy, mx, 1);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_TESTING);
	assert_true(r.ready_to_enforce);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_READY));
	mts_findings_free(&fs);
}

static void test_certificates(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test"), mx_host("a.mx.example.net"),
				    mx_host("b.mx.example.net"), mx_host("c.mx.example.net")};
	mx[0].tls[0].not_after = NOW - 2 * DAY;
	mx[0].tls[0].chain_valid = false;
	mx[1].tls[0].not_after = NOW + 5 * DAY;
	mx[2].tls[0].self_signed = true;
	mx[2].tls[0].chain_valid = false;
	mx[3].tls[0].name_valid = false;
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 4);
	f.policy_host.not_after = NOW + 10 * DAY;
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	assert_int_equal(r.mx_passing, 1); /* only the expiring one still passes */
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_CERT_EXPIRED));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_CERT_EXPIRING));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_CERT_SELF_SIGNED));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_CERT_NAME));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_HOST_CERT_EXPIRING));
	mts_findings_free(&fs);
}

static void test_not_deployed_and_null_mx(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 1);
	f.sts.count = 0;
	f.fetch = MTS_FETCH_NO_RECORD;
	f.policy_body = NULL;
	f.tlsrpt.count = 0;
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_NOT_DEPLOYED);
	assert_true(mts_findings_has(&fs, MTS_F_STS_RECORD_MISSING));
	assert_true(mts_findings_has(&fs, MTS_F_TLSRPT_RECORD_MISSING));
	assert_true(r.ready_to_enforce); /* MX inventory is clean: a policy can follow */
	mts_findings_free(&fs);

	struct mts_audit_mx null_mx[] = {mx_host(".")};
	f = base_facts(enforce_policy, null_mx, 1);
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_NOT_DEPLOYED);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_NULL));
	mts_findings_free(&fs);
}

static void test_broken_fetch_and_dns(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 1);
	f.fetch = MTS_FETCH_WEBPKI;
	f.fetch_reason = "certificate has expired";
	f.policy_body = NULL;
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_FETCH_FAILED));
	assert_false(r.ready_to_enforce);
	mts_findings_free(&fs);

	f = base_facts(enforce_policy, mx, 1);
	f.sts.lookup = MTS_LOOKUP_FAILED;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_DNS_FAILED));
	mts_findings_free(&fs);

	f = base_facts(enforce_policy, mx, 1);
	f.fetch = MTS_FETCH_INVALID;
	f.policy_body = "version: STSv1\r\nmode: enforce\r\n";
	f.policy_len = strlen(f.policy_body);
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	assert_true(mts_findings_has(&fs, MTS_F_POLICY_MX_MISSING));
	mts_findings_free(&fs);
}

static void test_dane(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test"), mx_host("a.mx.example.net")};
	mx[0].tlsa_count = 2;
	mx[0].tlsa_dnssec = MTS_DNSSEC_SECURE;
	mx[1].tlsa_count = 1;
	mx[1].tlsa_dnssec = MTS_DNSSEC_INSECURE;
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 2);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_true(r.dane);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_DANE_PRESENT));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_DANE_UNSIGNED));
	assert_false(mts_findings_has(&fs, MTS_F_CHECK_DANE_MISMATCH));
	mts_findings_free(&fs);

	/* Signed records that match nothing the host presents, or that no SMTP
	 * sender can use; a bogus TLSA answer; a merely failed one says nothing. */
	mx[0].tlsa_match = MTS_TLSA_NO_MATCH;
	mx[1].tlsa_dnssec = MTS_DNSSEC_SECURE;
	mx[1].tlsa_match = MTS_TLSA_UNUSABLE;
	f = base_facts(enforce_policy, mx, 2);
	run(&f, &r, &fs);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_DANE_MISMATCH));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_DANE_UNUSABLE));
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN); /* DANE senders would defer */
	assert_false(r.ready_to_enforce);
	mts_findings_free(&fs);
	mx[0].tlsa_lookup = MTS_LOOKUP_FAILED;
	mx[0].tlsa_dnssec = MTS_DNSSEC_BOGUS;
	mx[1].tlsa_lookup = MTS_LOOKUP_FAILED;
	mx[1].tlsa_dnssec = MTS_DNSSEC_UNKNOWN;
	f = base_facts(enforce_policy, mx, 2);
	run(&f, &r, &fs);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_DANE_BOGUS));
	assert_false(mts_findings_has(&fs, MTS_F_CHECK_DNS_FAILED));
	assert_false(r.dane);
	mts_findings_free(&fs);
}

/* Publish strictly: an mx value with a trailing dot is accepted (the host
 * matches, as senders match it) but the domain is broken until fixed. */
static void test_policy_trailing_dot(void **state)
{
	(void)state;
	static const char dot_policy[] =
		"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test.\r\nmax_age: 1209600\r\n";
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	struct mts_audit_facts f = base_facts(dot_policy, mx, 1);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	assert_false(r.ready_to_enforce);
	assert_true(r.have_policy);
	assert_int_equal(r.mx_passing, 1); /* covered: the pattern matches without its dot */
	assert_true(mts_findings_has(&fs, MTS_F_POLICY_MX_TRAILING_DOT));
	assert_false(mts_findings_has(&fs, MTS_F_CHECK_MX_NOT_COVERED));
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_NOT_READY));
	mts_findings_free(&fs);
	f = base_facts(testing_policy, mx, 1);
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_TESTING); /* the same without the dot */
	mts_findings_free(&fs);
}

/* An MX target that is an alias is a warning, judged as the MX name. */
static void test_mx_cname(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	mx[0].cname = "real.example.test";
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 1);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_PROTECTED);
	bool named = false;
	for (size_t i = 0; i < fs.count; i++)
		if (fs.items[i].id == MTS_F_CHECK_MX_CNAME) {
			assert_string_equal(fs.items[i].subject, "mx1.example.test");
			named = strstr(fs.items[i].message, "real.example.test") != NULL;
		}
	assert_true(named);
	assert_int_equal(mts_finding_info(MTS_F_CHECK_MX_CNAME)->severity, MTS_SEV_WARNING);
	mts_findings_free(&fs);
	mx[0].cname = NULL;
	f = base_facts(enforce_policy, mx, 1);
	run(&f, &r, &fs);
	assert_false(mts_findings_has(&fs, MTS_F_CHECK_MX_CNAME));
	mts_findings_free(&fs);
}

/* A sender may use any address of an MX host: one bad address fails the
 * host, whichever order the addresses come in, and the finding names it. */
static void test_every_address(void **state)
{
	(void)state;
	for (int order = 0; order < 2; order++) {
		struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
		mx[0].addresses = 2;
		mx[0].tls_count = 2;
		struct mts_audit_tls good = good_tls(), bad = good_tls();
		good.address = "192.0.2.10:25";
		bad.address = "192.0.2.14:25";
		bad.self_signed = true;
		bad.chain_valid = false;
		mx[0].tls[order] = good;
		mx[0].tls[1 - order] = bad;
		struct mts_audit_facts f = base_facts(enforce_policy, mx, 1);
		struct mts_audit_result r;
		struct mts_findings fs;
		run(&f, &r, &fs);
		assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
		assert_false(r.ready_to_enforce);
		assert_int_equal(r.mx_passing, 0);
		bool named = false;
		for (size_t i = 0; i < fs.count; i++) {
			if (fs.items[i].id != MTS_F_CHECK_MX_CERT_SELF_SIGNED)
				continue;
			assert_string_equal(fs.items[i].subject, "mx1.example.test");
			assert_non_null(strstr(fs.items[i].message, "192.0.2.14"));
			named = true;
		}
		assert_true(named);
		assert_false(mts_findings_has(&fs, MTS_F_CHECK_MX_ADDRS_UNPROBED));
		mts_findings_free(&fs);

		/* Both good: protected; each address has its own tls.ok. */
		mx[0].tls[1 - order] = good;
		mx[0].tls[1 - order].address = "2001:db8::25";
		run(&f, &r, &fs);
		assert_int_equal(r.verdict, MTS_VERDICT_PROTECTED);
		size_t ok = 0;
		for (size_t i = 0; i < fs.count; i++)
			ok += fs.items[i].id == MTS_F_CHECK_MX_TLS_OK;
		assert_int_equal(ok, 2);
		mts_findings_free(&fs);
	}
	/* More addresses than the cap lets be probed: said so (not when fewer
	 * were probed on purpose, as with --connect-to). */
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	mx[0].addresses = MTS_AUDIT_MAX_ADDRS + 3;
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 1);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_false(mts_findings_has(&fs, MTS_F_CHECK_MX_ADDRS_UNPROBED));
	mts_findings_free(&fs);
	mx[0].tls_count = MTS_AUDIT_MAX_ADDRS;
	for (size_t k = 0; k < MTS_AUDIT_MAX_ADDRS; k++)
		mx[0].tls[k] = good_tls();
	f = base_facts(enforce_policy, mx, 1);
	run(&f, &r, &fs);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_ADDRS_UNPROBED));
	assert_int_equal(r.verdict, MTS_VERDICT_PROTECTED); /* a warning, not a failure */
	mts_findings_free(&fs);
	/* No probe at all (tls_count 0) without --no-smtp is not a pass. */
	mx[0].addresses = 1;
	mx[0].tls_count = 0;
	f = base_facts(enforce_policy, mx, 1);
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN);
	mts_findings_free(&fs);
}

/* Port 25 blocked (--no-smtp): MX TLS unknown, assumed to pass, said so. */
static void test_smtp_skipped(void **state)
{
	(void)state;
	struct mts_audit_mx mx[] = {mx_host("mx1.example.test")};
	mx[0].tls[0] = (struct mts_audit_tls){0}; /* nothing was tried */
	struct mts_audit_facts f = base_facts(enforce_policy, mx, 1);
	struct mts_audit_result r;
	struct mts_findings fs;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_BROKEN); /* unknown TLS is not a pass */
	mts_findings_free(&fs);
	f.smtp_skipped = true;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_PROTECTED);
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_MX_NOT_PROBED));
	assert_false(mts_findings_has(&fs, MTS_F_CHECK_MX_CONNECT));
	mts_findings_free(&fs);
	f = base_facts(testing_policy, mx, 1);
	f.smtp_skipped = true;
	run(&f, &r, &fs);
	assert_int_equal(r.verdict, MTS_VERDICT_TESTING);
	assert_false(r.ready_to_enforce); /* cannot say without TLS */
	assert_true(mts_findings_has(&fs, MTS_F_CHECK_NOT_READY));
	mts_findings_free(&fs);
}

static void test_tlsa_match(void **state)
{
	(void)state;
	struct mts_cert_digests chain[2];
	for (size_t c = 0; c < 2; c++) {
		memset(chain[c].cert256, 0x10 + (int)c, 32);
		memset(chain[c].cert512, 0x20 + (int)c, 64);
		memset(chain[c].spki256, 0x30 + (int)c, 32);
		memset(chain[c].spki512, 0x40 + (int)c, 64);
	}
	unsigned char spki256_leaf[32], cert512_leaf[64], spki256_ca[32], other[32];
	memset(spki256_leaf, 0x30, 32);
	memset(cert512_leaf, 0x20, 64);
	memset(spki256_ca, 0x31, 32);
	memset(other, 0x99, 32);
	struct mts_tlsa_rr ee311 = {3, 1, 1, spki256_leaf, 32}, ee302 = {3, 0, 2, cert512_leaf, 64},
			   ta211 = {2, 1, 1, spki256_ca, 32}, ee311_ca = {3, 1, 1, spki256_ca, 32},
			   ta211_leaf = {2, 1, 1, spki256_leaf, 32}, bad = {3, 1, 1, other, 32},
			   pkix = {1, 1, 1, spki256_leaf, 32}, full = {3, 1, 0, other, 32},
			   shortd = {3, 1, 1, spki256_leaf, 31};
	assert_int_equal(mts_tlsa_match(&ee311, 1, chain, 2), MTS_TLSA_MATCH);
	assert_int_equal(mts_tlsa_match(&ee302, 1, chain, 1), MTS_TLSA_MATCH);
	assert_int_equal(mts_tlsa_match(&ta211, 1, chain, 2), MTS_TLSA_MATCH);
	/* DANE-EE is the leaf only; DANE-TA never the leaf. */
	assert_int_equal(mts_tlsa_match(&ee311_ca, 1, chain, 2), MTS_TLSA_NO_MATCH);
	assert_int_equal(mts_tlsa_match(&ta211_leaf, 1, chain, 2), MTS_TLSA_NO_MATCH);
	assert_int_equal(mts_tlsa_match(&bad, 1, chain, 2), MTS_TLSA_NO_MATCH);
	assert_int_equal(mts_tlsa_match(&shortd, 1, chain, 2), MTS_TLSA_NO_MATCH);
	/* PKIX usages and full data are not usable here. */
	struct mts_tlsa_rr unusable[] = {pkix, full};
	assert_int_equal(mts_tlsa_match(unusable, 2, chain, 2), MTS_TLSA_UNUSABLE);
	/* One matching record among others is enough. */
	struct mts_tlsa_rr mixed[] = {pkix, bad, ee311};
	assert_int_equal(mts_tlsa_match(mixed, 3, chain, 2), MTS_TLSA_MATCH);
	assert_int_equal(mts_tlsa_match(&ee311, 1, chain, 0), MTS_TLSA_UNCHECKED);
	assert_string_equal(mts_tlsa_match_name(MTS_TLSA_NO_MATCH), "no-match");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protected),
		cmocka_unit_test(test_enforce_uncovered_is_broken),
		cmocka_unit_test(test_testing_not_ready),
		cmocka_unit_test(test_testing_ready),
		cmocka_unit_test(test_certificates),
		cmocka_unit_test(test_not_deployed_and_null_mx),
		cmocka_unit_test(test_broken_fetch_and_dns),
		cmocka_unit_test(test_dane),
		cmocka_unit_test(test_tlsa_match),
		cmocka_unit_test(test_smtp_skipped),
		cmocka_unit_test(test_every_address),
		cmocka_unit_test(test_policy_trailing_dot),
		cmocka_unit_test(test_mx_cname),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
