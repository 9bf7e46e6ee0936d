/* test_dns_update.c - the pure parts of dns_update: the TSIG key string,
 * the checks of a change, its print forms (nsupdate input, zone-file
 * lines), and the judgement of answers built here with ldns and signed with
 * the request's key (no network: the exchange is tested against knot in
 * tests/integration/test_dns_update.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "io/dns_update_int.h"

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=" /* 32 bytes */

struct key_case {
	const char *in;
	int rc;
	enum mts_dns_update_alg alg;
	const char *name;
	size_t secret_len;
	const char *error; /* a part of the message */
};

static const struct key_case key_cases[] = {
    {.in = "hmac-sha256:k1.svc.test:" SECRET,
     .alg = MTS_DNS_UPDATE_HMAC_SHA256,
     .name = "k1.svc.test.",
     .secret_len = 32},
    {.in = "HMAC-SHA512:K1.Svc.Test.:" SECRET,
     .alg = MTS_DNS_UPDATE_HMAC_SHA512,
     .name = "k1.svc.test.",
     .secret_len = 32},
    {.in = "k1:" SECRET, .alg = MTS_DNS_UPDATE_HMAC_SHA256, .name = "k1.", .secret_len = 32},
    {.in = "hmac-sha256:k:YQ==", .name = "k.", .secret_len = 1},
    {.in = "hmac-sha256:k:YWI=", .name = "k.", .secret_len = 2},
    {.in = "", .rc = MTS_EINVAL, .error = "empty"},
    {.in = "justaname", .rc = MTS_EINVAL, .error = "no ':'"},
    {.in = "a:b:c:d", .rc = MTS_EINVAL, .error = "too many ':'"},
    {.in = "hmac-md5:k1:" SECRET, .rc = MTS_EINVAL, .error = "algorithm 'hmac-md5' not supported"},
    {.in = ":k1:" SECRET, .rc = MTS_EINVAL, .error = "algorithm is empty"},
    {.in = "hmac-sha256::" SECRET, .rc = MTS_EINVAL, .error = "key name is empty"},
    {.in = "hmac-sha256:a..b:" SECRET, .rc = MTS_EINVAL, .error = "key name has an empty label"},
    {.in = "hmac-sha256:a b:" SECRET, .rc = MTS_EINVAL, .error = "key name holds a character"},
    {.in = "hmac-sha256:k1:", .rc = MTS_EINVAL, .error = "secret is empty"},
    {.in = "hmac-sha256:k1:not*base64",
     .rc = MTS_EINVAL,
     .error = "bad character at offset 3 of the secret"},
    {.in = "hmac-sha256:k1:YWJj=", .rc = MTS_EINVAL, .error = "not a multiple of 4"},
    {.in = "hmac-sha256:k1:YW=j", .rc = MTS_EINVAL, .error = "bad character at offset 2"},
};

static void test_key_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		struct mts_dns_update_key key;
		struct mts_error err = {0};
		int rc = mts_dns_update_key_parse(c->in, &key, &err);
		if (rc != c->rc)
			fail_msg("'%s': rc %d (%s), want %d", c->in, rc, err.message, c->rc);
		if (rc == 0) {
			assert_int_equal(key.alg, c->alg);
			assert_string_equal(key.name, c->name);
			assert_int_equal(key.secret_len, c->secret_len);
			mts_dns_update_key_clear(&key);
			assert_int_equal(key.secret[0], '\0');
		} else {
			if (!strstr(err.message, c->error))
				fail_msg("'%s': message '%s' lacks '%s'", c->in, err.message,
					 c->error);
			assert_non_null(strstr(err.message, "TSIG key"));
			/* The secret is never quoted back. */
			assert_null(strstr(err.message, SECRET));
		}
	}
}

/* A name of 253 characters (the most that fits in 255 wire bytes) passes,
 * one more does not; a label of 64 bytes does not. */
static void test_key_name_limits(void **state)
{
	(void)state;
	char spec[600], name[300];
	struct mts_dns_update_key key;
	struct mts_error err = {0};
	memset(name, 'a', 253);
	for (size_t i = 63; i < 253; i += 64)
		name[i] = '.';
	name[253] = '\0';
	snprintf(spec, sizeof(spec), "%s:%s", name, SECRET);
	assert_int_equal(mts_dns_update_key_parse(spec, &key, &err), 0);
	snprintf(spec, sizeof(spec), "%sa:%s", name, SECRET);
	assert_int_equal(mts_dns_update_key_parse(spec, &key, &err), MTS_EINVAL);
	assert_non_null(strstr(err.message, "more than 253"));
	memset(name, 'b', 64);
	name[64] = '\0';
	snprintf(spec, sizeof(spec), "%s:%s", name, SECRET);
	assert_int_equal(mts_dns_update_key_parse(spec, &key, &err), MTS_EINVAL);
	assert_non_null(strstr(err.message, "longer than 63"));
}

static const char *const one_value[] = {"v=STSv1; id=20261204T1"};
static const char *const old_value[] = {"v=STSv1; id=20261101T1"};
static const char *const quoted_value[] = {"a \"quoted\" \\ value\x01"};
static const char *const two_values[] = {"v=STSv1; id=1", "other"};

struct render_case {
	const char *label;
	struct mts_dns_update_change change;
	enum mts_dns_update_format fmt;
	const char *want;
};

static const struct render_case render_cases[] = {
    {.label = "set",
     .change = {.zone = "svc.test",
		.name = "_mta-sts.Customer1.svc.test",
		.ttl = 300,
		.values = one_value,
		.value_count = 1},
     .fmt = MTS_DNS_UPDATE_NSUPDATE,
     .want = "zone svc.test.\n"
	     "update delete _mta-sts.customer1.svc.test. IN TXT\n"
	     "update add _mta-sts.customer1.svc.test. 300 IN TXT \"v=STSv1; id=20261204T1\"\n"
	     "send\n"},
    {.label = "set if still old",
     .change = {.zone = "svc.test.",
		.name = "_mta-sts.c1.svc.test.",
		.ttl = 60,
		.values = one_value,
		.value_count = 1,
		.prereq = MTS_DNS_UPDATE_PREREQ_TXT_IS,
		.prereq_values = old_value,
		.prereq_count = 1},
     .fmt = MTS_DNS_UPDATE_NSUPDATE,
     .want = "zone svc.test.\n"
	     "prereq yxrrset _mta-sts.c1.svc.test. IN TXT \"v=STSv1; id=20261101T1\"\n"
	     "update delete _mta-sts.c1.svc.test. IN TXT\n"
	     "update add _mta-sts.c1.svc.test. 60 IN TXT \"v=STSv1; id=20261204T1\"\n"
	     "send\n"},
    {.label = "first publication",
     .change = {.zone = "svc.test",
		.name = "_mta-sts.c1.svc.test",
		.ttl = 300,
		.values = two_values,
		.value_count = 2,
		.prereq = MTS_DNS_UPDATE_PREREQ_TXT_ABSENT},
     .fmt = MTS_DNS_UPDATE_NSUPDATE,
     .want = "zone svc.test.\n"
	     "prereq nxrrset _mta-sts.c1.svc.test. IN TXT\n"
	     "update delete _mta-sts.c1.svc.test. IN TXT\n"
	     "update add _mta-sts.c1.svc.test. 300 IN TXT \"v=STSv1; id=1\"\n"
	     "update add _mta-sts.c1.svc.test. 300 IN TXT \"other\"\n"
	     "send\n"},
    {.label = "delete if present",
     .change = {.zone = "svc.test",
		.name = "_mta-sts.c1.svc.test",
		.action = MTS_DNS_UPDATE_DELETE_TXT,
		.prereq = MTS_DNS_UPDATE_PREREQ_TXT_EXISTS},
     .fmt = MTS_DNS_UPDATE_NSUPDATE,
     .want = "zone svc.test.\n"
	     "prereq yxrrset _mta-sts.c1.svc.test. IN TXT\n"
	     "update delete _mta-sts.c1.svc.test. IN TXT\n"
	     "send\n"},
    {.label = "escapes",
     .change = {.zone = "svc.test",
		.name = "x.svc.test",
		.ttl = 1,
		.values = quoted_value,
		.value_count = 1},
     .fmt = MTS_DNS_UPDATE_ZONEFILE,
     .want = "; zone svc.test.: replace every TXT record of x.svc.test. with these\n"
	     "x.svc.test. 1 IN TXT \"a \\\"quoted\\\" \\\\ value\\001\"\n"},
    {.label = "zone file, conditional",
     .change = {.zone = "svc.test",
		.name = "_mta-sts.c1.svc.test",
		.ttl = 300,
		.values = one_value,
		.value_count = 1,
		.prereq = MTS_DNS_UPDATE_PREREQ_TXT_IS,
		.prereq_values = old_value,
		.prereq_count = 1},
     .fmt = MTS_DNS_UPDATE_ZONEFILE,
     .want = "; zone svc.test.: replace every TXT record of _mta-sts.c1.svc.test. with these\n"
	     "; only if _mta-sts.c1.svc.test. now has exactly: TXT \"v=STSv1; id=20261101T1\"\n"
	     "_mta-sts.c1.svc.test. 300 IN TXT \"v=STSv1; id=20261204T1\"\n"},
    {.label = "zone file, delete",
     .change = {.zone = "svc.test", .name = "svc.test", .action = MTS_DNS_UPDATE_DELETE_TXT},
     .fmt = MTS_DNS_UPDATE_ZONEFILE,
     .want = "; zone svc.test.: remove every TXT record of svc.test.\n"},
};

static void test_render(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
		const struct render_case *c = &render_cases[i];
		char out[2048];
		struct mts_error err = {0};
		int n = mts_dns_update_render(&c->change, c->fmt, out, sizeof(out), &err);
		if (n < 0)
			fail_msg("%s: %d %s", c->label, n, err.message);
		if (strcmp(out, c->want) != 0)
			fail_msg("%s:\n%s\nwant:\n%s", c->label, out, c->want);
		assert_int_equal((size_t)n, strlen(c->want));
		/* Exactly enough room, and one byte less. */
		assert_int_equal(
		    mts_dns_update_render(&c->change, c->fmt, out, (size_t)n + 1, &err), n);
		assert_int_equal(mts_dns_update_render(&c->change, c->fmt, out, (size_t)n, &err),
				 MTS_ETOOBIG);
		assert_string_equal(out, "");
	}
}

/* A value of 300 bytes is two strings, 255 + 45, in both forms. */
static void test_render_long_value(void **state)
{
	(void)state;
	char value[301], out[2048], want[700];
	memset(value, 'x', 300);
	value[300] = '\0';
	const char *values[] = {value};
	struct mts_dns_update_change c = {
	    .zone = "svc.test", .name = "l.svc.test", .ttl = 5, .values = values, .value_count = 1};
	struct mts_error err = {0};
	assert_true(mts_dns_update_render(&c, MTS_DNS_UPDATE_ZONEFILE, out, sizeof(out), &err) > 0);
	snprintf(want, sizeof(want), "l.svc.test. 5 IN TXT \"%.255s\" \"%.45s\"\n", value, value);
	assert_non_null(strstr(out, want));
}

struct bad_change {
	const char *label;
	struct mts_dns_update_change change;
	int rc;
	const char *error;
};

static const char *const empty_value[] = {""};
static const char *const null_value[] = {NULL};

static const struct bad_change bad_changes[] = {
    {"no zone",
     {.name = "a.svc.test", .values = one_value, .value_count = 1},
     MTS_EINVAL,
     "zone: missing"},
    {"no name",
     {.zone = "svc.test", .values = one_value, .value_count = 1},
     MTS_EINVAL,
     "name: missing"},
    {"outside",
     {.zone = "svc.test", .name = "a.other.test", .values = one_value, .value_count = 1},
     MTS_EINVAL,
     "not inside the zone"},
    {"suffix only",
     {.zone = "svc.test", .name = "xsvc.test", .values = one_value, .value_count = 1},
     MTS_EINVAL,
     "not inside the zone"},
    {"bad name",
     {.zone = "svc.test", .name = "a;b.svc.test", .values = one_value, .value_count = 1},
     MTS_EINVAL,
     "name: holds a character"},
    {"no values", {.zone = "svc.test", .name = "a.svc.test"}, MTS_EINVAL, "values: no value"},
    {"null value",
     {.zone = "svc.test", .name = "a.svc.test", .values = null_value, .value_count = 1},
     MTS_EINVAL,
     "value 1 is missing"},
    {"too many",
     {.zone = "svc.test",
      .name = "a.svc.test",
      .values = one_value,
      .value_count = MTS_DNS_UPDATE_VALUES_MAX + 1},
     MTS_ETOOBIG,
     "more than 16"},
    {"ttl",
     {.zone = "svc.test",
      .name = "a.svc.test",
      .values = one_value,
      .value_count = 1,
      .ttl = 0x80000000u},
     MTS_EINVAL,
     "ttl:"},
    {"prereq values",
     {.zone = "svc.test",
      .name = "a.svc.test",
      .values = empty_value,
      .value_count = 1,
      .prereq = MTS_DNS_UPDATE_PREREQ_TXT_IS},
     MTS_EINVAL,
     "prerequisite: no value"},
};

static void test_change_check(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_changes) / sizeof(bad_changes[0]); i++) {
		const struct bad_change *b = &bad_changes[i];
		struct mts_error err = {0};
		char out[256];
		int rc = mts_dns_update_change_check(&b->change, &err);
		if (rc != b->rc || !strstr(err.message, b->error))
			fail_msg("%s: rc %d '%s', want %d '%s'", b->label, rc, err.message, b->rc,
				 b->error);
		assert_int_equal(mts_dns_update_render(&b->change, MTS_DNS_UPDATE_NSUPDATE, out,
						       sizeof(out), &err),
				 b->rc);
	}
	/* An empty value is a valid record of one empty string. */
	struct mts_dns_update_change ok = {
	    .zone = "svc.test", .name = "svc.test", .values = empty_value, .value_count = 1};
	assert_int_equal(mts_dns_update_change_check(&ok, NULL), 0);
}

/* ------------------------------------------------- answers built here */

static struct mts_dns_update_key test_key(const char *spec)
{
	struct mts_dns_update_key key;
	assert_int_equal(mts_dns_update_key_parse(spec, &key, NULL), 0);
	return key;
}

/* The request's MAC, as the server sees it. */
static ldns_rdf *request_mac(const struct mts_dns_update_msg *m)
{
	size_t len;
	const unsigned char *wire = mts_dns_update_msg_wire(m, &len);
	ldns_pkt *req = NULL;
	assert_int_equal(ldns_wire2pkt(&req, wire, len), LDNS_STATUS_OK);
	assert_non_null(ldns_pkt_tsig(req));
	ldns_rdf *mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(req), 3));
	ldns_pkt_free(req);
	return mac;
}

struct answer {
	uint16_t id;
	int opcode;
	int rcode;
	const char *sign_with; /* key spec; NULL = unsigned */
	bool empty_tsig_error; /* an unsigned TSIG with error BADSIG, as RFC 8945 §5.3.2 */
	bool empty_tsig;       /* an unsigned TSIG with error 0 (forged) */
	size_t pad;            /* bytes of TXT data added to the answer section */
	bool sha512;           /* the unsigned TSIG names hmac-sha512 */
	bool extra_after_tsig; /* a record after the TSIG */
};

static unsigned char *make_answer(const struct mts_dns_update_msg *m, const struct answer *a,
				  size_t *len)
{
	ldns_pkt *p = ldns_pkt_new();
	assert_non_null(p);
	ldns_pkt_set_id(p, a->id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, (ldns_pkt_opcode)a->opcode);
	ldns_pkt_set_rcode(p, (uint8_t)a->rcode);
	ldns_rr *q = ldns_rr_new();
	ldns_rr_set_owner(q, ldns_dname_new_frm_str("svc.test."));
	ldns_rr_set_type(q, LDNS_RR_TYPE_SOA);
	ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
	ldns_rr_set_question(q, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	if (a->sign_with) {
		struct mts_dns_update_key k = test_key(a->sign_with);
		ldns_rdf *mac = request_mac(m);
		assert_int_equal(
		    ldns_pkt_tsig_sign(
			p, k.name, k.secret, 300,
			k.alg == MTS_DNS_UPDATE_HMAC_SHA512 ? "hmac-sha512." : "hmac-sha256.", mac),
		    LDNS_STATUS_OK);
		ldns_rdf_deep_free(mac);
	}
	if (a->pad) {
		ldns_rr *big = ldns_rr_new();
		ldns_rr_set_owner(big, ldns_dname_new_frm_str("svc.test."));
		ldns_rr_set_type(big, LDNS_RR_TYPE_TXT);
		ldns_rr_set_class(big, LDNS_RR_CLASS_IN);
		uint8_t chunk[256];
		memset(chunk, 'p', sizeof(chunk));
		for (size_t at = 0; at < a->pad; at += 255) {
			size_t n = a->pad - at > 255 ? 255 : a->pad - at;
			chunk[0] = (uint8_t)n;
			ldns_rr_push_rdf(big, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n + 1, chunk));
		}
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, big);
	}
	if (a->empty_tsig_error || a->empty_tsig) {
		/* k1.svc.test. 0 ANY TSIG hmac-sha256. NOW 300 (empty MAC) ID BADSIG (no other) */
		ldns_rr *t = ldns_rr_new();
		ldns_rr_set_owner(t, ldns_dname_new_frm_str("k1.svc.test."));
		ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
		ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
		ldns_rr_set_ttl(t, 0);
		uint8_t when[6] = {0};
		long long now = (long long)time(NULL);
		for (int i = 5; i >= 0; i--, now >>= 8)
			when[i] = (uint8_t)now;
		uint8_t empty[2] = {0, 0};
		ldns_rr_push_rdf(t, ldns_dname_new_frm_str(a->sha512 ? "hmac-sha512." : "hmac-sha256."));
		ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_TSIGTIME, 6, when));
		ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 300));
		ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, empty));
		ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, a->id));
		ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16,
							  a->empty_tsig_error ? 16 : 0));
		ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, empty));
		ldns_pkt_set_tsig(p, t);
	}
	uint8_t *wire = NULL;
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	if (a->extra_after_tsig) { /* a TXT record after the TSIG */
		/* svc.test. 0 IN TXT "" */
		const uint8_t extra[] = {3,  's', 'v', 'c', 4, 't', 'e', 's', 't', 0, 0,
					 16, 0,	  1,   0,   0, 0,   0,	 0,   1,   0};
		uint8_t *w = realloc(wire, *len + sizeof(extra));
		assert_non_null(w);
		wire = w;
		memcpy(wire + *len, extra, sizeof(extra));
		*len += sizeof(extra);
		unsigned ar = (unsigned)wire[10] << 8 | wire[11];
		ar++;
		wire[10] = (uint8_t)(ar >> 8);
		wire[11] = (uint8_t)ar;
	}
	return wire;
}

struct judge_case {
	const char *label;
	struct answer answer;
	long long skew; /* added to now when judging */
	enum mts_dns_update_status status;
	const char *rcode_name;
	bool verified;
	const char *message;
};

#define K1 "hmac-sha256:k1.svc.test:" SECRET
#define K1_OTHER "hmac-sha256:k1.svc.test:b3RoZXItb3RoZXItb3RoZXItb3RoZXItMTIzNDU2Nzg="
#define K2 "hmac-sha256:k2.svc.test:" SECRET
#define K1_512 "hmac-sha512:k1.svc.test:" SECRET
#define ID 0x4d54

static const struct judge_case judge_cases[] = {
    {"signed NOERROR",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1},
     0,
     MTS_DNS_UPDATE_OK,
     "NOERROR",
     true,
     "applied"},
    {"signed NXRRSET",
     {.id = ID, .opcode = 5, .rcode = 8, .sign_with = K1},
     0,
     MTS_DNS_UPDATE_REJECTED,
     "NXRRSET",
     true,
     "prerequisite"},
    {"signed REFUSED",
     {.id = ID, .opcode = 5, .rcode = 5, .sign_with = K1},
     0,
     MTS_DNS_UPDATE_REJECTED,
     "REFUSED",
     true,
     "refused"},
    {"unsigned NOERROR",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = NULL},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "NOERROR",
     false,
     "not signed"},
    {"unsigned REFUSED",
     {.id = ID, .opcode = 5, .rcode = 5, .sign_with = NULL},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "REFUSED",
     false,
     "not signed"},
    {"wrong secret",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1_OTHER},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "NOERROR",
     false,
     "does not verify"},
    {"other key name",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K2},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "NOERROR",
     false,
     "another key"},
    {"other algorithm",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1_512},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "NOERROR",
     false,
     "another algorithm"},
    {"wrong id",
     {.id = ID + 1, .opcode = 5, .rcode = 0, .sign_with = K1},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "",
     false,
     "ID"},
    {"query opcode",
     {.id = ID, .opcode = 0, .rcode = 0, .sign_with = K1},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "",
     false,
     "opcode is 0"},
    {"clock skew",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1},
     301,
     MTS_DNS_UPDATE_BADRESPONSE,
     "NOERROR",
     false,
     "fudge"},
    {"clock skew, other way",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1},
     -301,
     MTS_DNS_UPDATE_BADRESPONSE,
     "NOERROR",
     false,
     "fudge"},
    {"skew within fudge",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1},
     290,
     MTS_DNS_UPDATE_OK,
     "NOERROR",
     true,
     "applied"},
    {"unsigned BADSIG",
     {.id = ID, .opcode = 5, .rcode = 9, .sign_with = NULL, .empty_tsig_error = true},
     0,
     MTS_DNS_UPDATE_REJECTED,
     "BADSIG",
     false,
     "signature"},
    {"forged empty MAC", {.id = ID, .opcode = 5, .rcode = 0, .empty_tsig = true}, 0,
     MTS_DNS_UPDATE_BADRESPONSE, "NOERROR", false, "does not verify"},
    {"record after TSIG",
     {.id = ID, .opcode = 5, .rcode = 0, .sign_with = K1, .extra_after_tsig = true},
     0,
     MTS_DNS_UPDATE_BADRESPONSE,
     "",
     false,
     "not the last record"},
};

static void test_judge(void **state)
{
	(void)state;
	struct mts_dns_update_key key = test_key(K1);
	struct mts_dns_update_change c = {.zone = "svc.test",
					  .name = "_mta-sts.c1.svc.test",
					  .ttl = 300,
					  .values = one_value,
					  .value_count = 1};
	struct mts_error err = {0};
	struct mts_dns_update_msg *m = mts_dns_update_msg_new(&c, &key, ID, &err);
	if (!m)
		fail_msg("%s", err.message);
	for (size_t i = 0; i < sizeof(judge_cases) / sizeof(judge_cases[0]); i++) {
		const struct judge_case *j = &judge_cases[i];
		size_t len = 0;
		unsigned char *wire = make_answer(m, &j->answer, &len);
		struct mts_dns_update_result res;
		mts_dns_update_msg_check(m, wire, len, (long long)time(NULL) + j->skew, &res);
		if (res.status != j->status || strcmp(res.rcode_name, j->rcode_name) != 0 ||
		    res.verified != j->verified || !strstr(res.message, j->message))
			fail_msg("%s: %s %s verified=%d '%s'", j->label,
				 mts_dns_update_status_name(res.status), res.rcode_name,
				 res.verified, res.message);
		/* Every prefix of a valid answer is refused, never accepted. */
		for (size_t cut = 0; cut < len; cut += 7) {
			struct mts_dns_update_result r2;
			mts_dns_update_msg_check(m, wire, cut, (long long)time(NULL), &r2);
			assert_int_equal(r2.status, MTS_DNS_UPDATE_BADRESPONSE);
		}
		free(wire);
	}
	mts_dns_update_msg_free(m);
	mts_dns_update_key_clear(&key);
}

/* An answer near 64 KiB to a request signed with hmac-sha512: ldns would
 * digest the request's 64-byte MAC and the answer into its 65535-byte
 * buffer and abort on its assertion. Such an answer to an update is refused
 * unread. */
static void test_judge_huge_answer(void **state)
{
	(void)state;
	struct mts_dns_update_key key = test_key(K1_512);
	struct mts_dns_update_change c = {.zone = "svc.test", .name = "_mta-sts.c1.svc.test",
					  .ttl = 300, .values = one_value, .value_count = 1};
	struct mts_dns_update_msg *m = mts_dns_update_msg_new(&c, &key, ID, NULL);
	assert_non_null(m);
	struct answer a = {.id = ID, .opcode = 5, .empty_tsig = true, .sha512 = true,
			   .pad = 65180};
	size_t len = 0;
	unsigned char *wire = make_answer(m, &a, &len);
	assert_true(len > 65500 && len <= 65535);
	struct mts_dns_update_result res;
	mts_dns_update_msg_check(m, wire, len, (long long)time(NULL), &res);
	assert_int_equal(res.status, MTS_DNS_UPDATE_BADRESPONSE);
	assert_non_null(strstr(res.message, "too long"));
	free(wire);
	mts_dns_update_msg_free(m);
}

/* The request itself: opcode UPDATE, RD clear, our ID, the zone, and a set
 * is one delete + one add per value; the 300-byte value two strings. */
static void test_request_shape(void **state)
{
	(void)state;
	struct mts_dns_update_key key = test_key(K1_512);
	char value[301];
	memset(value, 'y', 300);
	value[300] = '\0';
	const char *values[] = {value};
	struct mts_dns_update_change c = {.zone = "SVC.test",
					  .name = "_mta-sts.c1.svc.test",
					  .ttl = 300,
					  .values = values,
					  .value_count = 1,
					  .prereq = MTS_DNS_UPDATE_PREREQ_TXT_IS,
					  .prereq_values = one_value,
					  .prereq_count = 1};
	struct mts_dns_update_msg *m = mts_dns_update_msg_new(&c, &key, 1234, NULL);
	assert_non_null(m);
	size_t len;
	const unsigned char *wire = mts_dns_update_msg_wire(m, &len);
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, wire, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 1234);
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_UPDATE);
	assert_false(ldns_pkt_rd(p));
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p), 1); /* prerequisite */
	assert_int_equal(ldns_pkt_nscount(p), 2); /* delete RRset + add */
	ldns_rr *del = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
	ldns_rr *add = ldns_rr_list_rr(ldns_pkt_authority(p), 1);
	assert_int_equal(ldns_rr_get_class(del), LDNS_RR_CLASS_ANY);
	assert_int_equal(ldns_rr_rd_count(del), 0);
	assert_int_equal(ldns_rr_get_class(add), LDNS_RR_CLASS_IN);
	assert_int_equal(ldns_rr_ttl(add), 300);
	assert_int_equal(ldns_rr_rd_count(add), 2);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(add, 0)), 256);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(add, 1)), 46);
	ldns_rr *pre = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_class(pre), LDNS_RR_CLASS_IN);
	assert_int_equal(ldns_rr_ttl(pre), 0);
	char *alg = ldns_rdf2str(ldns_rr_rdf(ldns_pkt_tsig(p), 0));
	assert_string_equal(alg, "hmac-sha512.");
	free(alg);
	/* The secret appears nowhere in the message. */
	for (size_t i = 0; i + strlen(SECRET) <= len; i++)
		assert_false(memcmp(wire + i, SECRET, strlen(SECRET)) == 0);
	ldns_pkt_free(p);
	mts_dns_update_msg_free(m);
}

/* Values that fit their limits but not, together, one DNS message: refused
 * before signing (ldns's TSIG code digests into a buffer of 65535 bytes). */
static void test_request_too_big(void **state)
{
	(void)state;
	struct mts_dns_update_key key = test_key(K1);
	static char big[MTS_DNS_UPDATE_VALUE_MAX + 1];
	memset(big, 'z', MTS_DNS_UPDATE_VALUE_MAX);
	const char *values[MTS_DNS_UPDATE_VALUES_MAX];
	for (size_t i = 0; i < MTS_DNS_UPDATE_VALUES_MAX; i++)
		values[i] = big;
	struct mts_dns_update_change c = {.zone = "svc.test", .name = "big.svc.test", .ttl = 1,
					  .values = values, .value_count = MTS_DNS_UPDATE_VALUES_MAX};
	struct mts_error err = {0};
	assert_null(mts_dns_update_msg_new(&c, &key, 1, &err));
	assert_int_equal(err.code, MTS_ETOOBIG);
	assert_non_null(strstr(err.message, "more than one DNS message"));
	/* Half of it fits. */
	c.value_count = MTS_DNS_UPDATE_VALUES_MAX / 2;
	struct mts_dns_update_msg *m = mts_dns_update_msg_new(&c, &key, 1, &err);
	assert_non_null(m);
	mts_dns_update_msg_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_name_limits),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_long_value),
		cmocka_unit_test(test_change_check),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_judge_huge_answer),
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_request_too_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
