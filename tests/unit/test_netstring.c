/* test_netstring.c - netstrings, socketmap requests and TLS policy keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/error.h"
#include "core/netstring_int.h"

struct ns_case {
	const char *in;
	size_t max;
	int rc;
	const char *payload;
	size_t consumed;
};

static const struct ns_case ns_cases[] = {
	{.in = "12:hello world!,", .max = 100, .rc = 1, .payload = "hello world!", .consumed = 16},
	{.in = "0:,", .max = 100, .rc = 1, .payload = "", .consumed = 3},
	{.in = "3:abc,4:defg,", .max = 100, .rc = 1, .payload = "abc", .consumed = 6},
	{.in = "", .max = 100, .rc = 0},
	{.in = "1", .max = 100, .rc = 0},
	{.in = "12", .max = 100, .rc = 0},
	{.in = "12:hello", .max = 100, .rc = 0},
	{.in = "12:hello world!", .max = 100, .rc = 0},
	{.in = "12:hello world!;", .max = 100, .rc = MTS_EPROTO},
	{.in = "012:hello world!,", .max = 100, .rc = MTS_EPROTO},
	{.in = ":abc,", .max = 100, .rc = MTS_EPROTO},
	{.in = "x3:abc,", .max = 100, .rc = MTS_EPROTO},
	{.in = "3 :abc,", .max = 100, .rc = MTS_EPROTO},
	{.in = "-3:abc,", .max = 100, .rc = MTS_EPROTO},
	{.in = "101:", .max = 100, .rc = MTS_ETOOBIG},
	{.in = "99999999999", .max = 100, .rc = MTS_ETOOBIG},
};

static void test_netstring_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ns_cases) / sizeof(ns_cases[0]); i++) {
		const struct ns_case *c = &ns_cases[i];
		const char *p = NULL;
		size_t pl = 0, used = 0;
		int rc = mts_netstring_parse(c->in, strlen(c->in), c->max, &p, &pl, &used);
		if (rc != c->rc)
			fail_msg("\"%s\": rc %d, want %d", c->in, rc, c->rc);
		if (rc == 1) {
			assert_int_equal(pl, strlen(c->payload));
			assert_memory_equal(p, c->payload, pl);
			assert_int_equal(used, c->consumed);
		}
	}
}

/* Pipelined requests are taken in order, one complete netstring at a time,
 * whatever way the bytes were split on arrival. */
static void test_netstring_pipelined_split(void **state)
{
	(void)state;
	const char *stream = "14:postfix a.test,19:postfix [b.test]:25,0:,";
	size_t total = strlen(stream);
	for (size_t cut = 0; cut <= total; cut++) {
		char buf[128];
		size_t have = 0, off = 0;
		unsigned got = 0;
		const char *want[] = {"postfix a.test", "postfix [b.test]:25", ""};
		for (int phase = 0; phase < 2; phase++) {
			size_t add = phase == 0 ? cut : total - cut;
			memcpy(buf + have, stream + (phase ? cut : 0), add);
			have += add;
			for (;;) {
				const char *p;
				size_t pl, used;
				int rc = mts_netstring_parse(buf + off, have - off, 64, &p, &pl, &used);
				assert_true(rc >= 0);
				if (rc == 0)
					break;
				assert_int_equal(pl, strlen(want[got]));
				assert_memory_equal(p, want[got], pl);
				got++;
				off += used;
			}
		}
		assert_int_equal(got, 3);
		assert_int_equal(off, total);
	}
}

static void test_netstring_format(void **state)
{
	(void)state;
	char out[32];
	long n = mts_netstring_format("OK secure", 9, out, sizeof(out));
	assert_int_equal(n, 12);
	assert_memory_equal(out, "9:OK secure,", 12);
	assert_int_equal(mts_netstring_format("NOTFOUND ", 9, out, 11), MTS_ETOOBIG);
	n = mts_netstring_format("", 0, out, sizeof(out));
	assert_int_equal(n, 3);
	assert_memory_equal(out, "0:,", 3);
}

static void test_socketmap_split(void **state)
{
	(void)state;
	const char *name, *key;
	size_t nl, kl;
	assert_int_equal(mts_socketmap_split("postfix example.com", 19, &name, &nl, &key, &kl), 0);
	assert_int_equal(nl, 7);
	assert_memory_equal(key, "example.com", kl);
	assert_int_equal(mts_socketmap_split("postfix", 7, &name, &nl, &key, &kl), MTS_EPROTO);
	assert_int_equal(mts_socketmap_split("postfix ", 8, &name, &nl, &key, &kl), MTS_EPROTO);
	assert_int_equal(mts_socketmap_split(" x", 2, &name, &nl, &key, &kl), MTS_EPROTO);
}

struct key_case {
	const char *key;
	enum mts_tls_key_kind kind;
	const char *domain;
};

static const struct key_case key_cases[] = {
	{"example.com", MTS_TLS_KEY_DOMAIN, "example.com"},
	{"Example.COM.", MTS_TLS_KEY_DOMAIN, "example.com"},
	{"[example.com]", MTS_TLS_KEY_DOMAIN, "example.com"},
	{"example.com:25", MTS_TLS_KEY_DOMAIN, "example.com"},
	{"[example.com]:587", MTS_TLS_KEY_DOMAIN, "example.com"},
	{"[192.0.2.1]", MTS_TLS_KEY_IP_LITERAL, NULL},
	{"[192.0.2.1]:25", MTS_TLS_KEY_IP_LITERAL, NULL},
	{"192.0.2.1", MTS_TLS_KEY_IP_LITERAL, NULL},
	{"[ipv6:2001:db8::1]", MTS_TLS_KEY_IP_LITERAL, NULL},
	{"2001:db8::1", MTS_TLS_KEY_IP_LITERAL, NULL},
	{".example.com", MTS_TLS_KEY_PARENT, NULL},
	{"", MTS_TLS_KEY_INVALID, NULL},
	{"[example.com", MTS_TLS_KEY_INVALID, NULL},
	{"[example.com]x", MTS_TLS_KEY_INVALID, NULL},
	{"example.com:port", MTS_TLS_KEY_INVALID, NULL},
	{"exa mple.com", MTS_TLS_KEY_INVALID, NULL},
	{"a..b", MTS_TLS_KEY_INVALID, NULL},
};

static void test_tls_policy_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		char out[MTS_DNAME_MAX + 1];
		enum mts_tls_key_kind k =
			mts_tls_policy_key(key_cases[i].key, strlen(key_cases[i].key), out);
		if (k != key_cases[i].kind)
			fail_msg("\"%s\": kind %d, want %d", key_cases[i].key, k, key_cases[i].kind);
		if (key_cases[i].domain)
			assert_string_equal(out, key_cases[i].domain);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netstring_parse),
		cmocka_unit_test(test_netstring_pipelined_split),
		cmocka_unit_test(test_netstring_format),
		cmocka_unit_test(test_socketmap_split),
		cmocka_unit_test(test_tls_policy_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
