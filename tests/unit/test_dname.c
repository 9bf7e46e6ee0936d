/* test_dname.c - host name normalisation, A-labels and RFC 8461 §4.1
 * matching (the vectors hold many more matching cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/dname.h"
#include "mtasts/error.h"

struct norm_case {
	const char *in;
	bool wildcard;
	enum mts_dname_status status;
	const char *out;
	bool dot;
};

static const struct norm_case norm_cases[] = {
	{.in = "Mail.Example.COM", .out = "mail.example.com"},
	{.in = "mail.example.com.", .out = "mail.example.com", .dot = true},
	{.in = "*.Example.com", .wildcard = true, .out = "*.example.com"},
	{.in = "*.example.com.", .wildcard = true, .out = "*.example.com", .dot = true},
	{.in = "*.example.com", .status = MTS_DNAME_BAD_WILDCARD},
	{.in = "*.*.example.com", .wildcard = true, .status = MTS_DNAME_BAD_WILDCARD},
	{.in = "a.*.example.com", .wildcard = true, .status = MTS_DNAME_BAD_WILDCARD},
	{.in = "*", .wildcard = true, .status = MTS_DNAME_BAD_WILDCARD},
	{.in = "", .status = MTS_DNAME_EMPTY},
	{.in = ".", .status = MTS_DNAME_EMPTY},
	{.in = "a..b", .status = MTS_DNAME_LABEL_EMPTY},
	{.in = ".a", .status = MTS_DNAME_LABEL_EMPTY},
	{.in = "a.b..", .status = MTS_DNAME_LABEL_EMPTY},
	{.in = "-a.b", .status = MTS_DNAME_HYPHEN},
	{.in = "a-.b", .status = MTS_DNAME_HYPHEN},
	{.in = "a.b-", .status = MTS_DNAME_HYPHEN},
	{.in = "a-b.c-d", .out = "a-b.c-d"},
	{.in = "a_b.c", .status = MTS_DNAME_BAD_CHAR},
	{.in = "a b.c", .status = MTS_DNAME_BAD_CHAR},
	{.in = "a.b:25", .status = MTS_DNAME_BAD_CHAR},
	{.in = "b\xc3\xbc" "cher.example", .status = MTS_DNAME_NON_ASCII},
	{.in = "xn--bcher-kva.example", .out = "xn--bcher-kva.example"},
	{.in = "localhost", .out = "localhost"},
	{.in = "123.example", .out = "123.example"},
};

static void test_dname_normalize(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
		const struct norm_case *c = &norm_cases[i];
		char out[MTS_DNAME_MAX + 1];
		bool dot = !c->dot;
		enum mts_dname_status st =
			mts_dname_normalize(c->in, strlen(c->in), c->wildcard, out, &dot);
		if (st != c->status)
			fail_msg("\"%s\": %s, want %s", c->in, mts_dname_status_text(st),
				 mts_dname_status_text(c->status));
		if (st == MTS_DNAME_OK) {
			assert_string_equal(out, c->out);
			assert_int_equal(dot, c->dot);
		}
		assert_non_null(mts_dname_status_text(st));
	}
}

static void test_dname_lengths(void **state)
{
	(void)state;
	char name[300], out[MTS_DNAME_MAX + 1];
	/* labels: 63 ok, 64 too long */
	memset(name, 'a', 63);
	memcpy(name + 63, ".example", 9);
	assert_int_equal(mts_dname_normalize(name, strlen(name), false, out, NULL), MTS_DNAME_OK);
	memset(name, 'a', 64);
	memcpy(name + 64, ".example", 9);
	assert_int_equal(mts_dname_normalize(name, strlen(name), false, out, NULL),
			 MTS_DNAME_LABEL_TOO_LONG);
	/* names: 253 ok (and with its root dot), 254 too long */
	for (size_t i = 0; i < 253; i++)
		name[i] = (i % 50 == 49) ? '.' : 'a';
	assert_int_equal(mts_dname_normalize(name, 253, false, out, NULL), MTS_DNAME_OK);
	assert_int_equal(strlen(out), 253);
	name[253] = '.';
	assert_int_equal(mts_dname_normalize(name, 254, false, out, NULL), MTS_DNAME_OK);
	name[253] = 'a';
	assert_int_equal(mts_dname_normalize(name, 254, false, out, NULL), MTS_DNAME_TOO_LONG);
	/* the length rules: bytes after len are not read */
	assert_int_equal(mts_dname_normalize("mail.example.com_junk", 16, false, out, NULL),
			 MTS_DNAME_OK);
	assert_string_equal(out, "mail.example.com");
}

struct alabel_case {
	const char *in;
	int rc;
	const char *out;
};

static const struct alabel_case alabel_cases[] = {
	{.in = "b\xc3\xbc" "cher.example", .out = "xn--bcher-kva.example"},
	{.in = "B\xc3\x9c" "CHER.example", .out = "xn--bcher-kva.example"},
	{.in = "mail.m\xc3\xbcnchen.example", .out = "mail.xn--mnchen-3ya.example"},
	{.in = "mail.example.com", .out = "mail.example.com"},
	{.in = "\xff\xfe.example", .rc = MTS_EINVAL},
};

static void test_dname_to_alabel(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(alabel_cases) / sizeof(alabel_cases[0]); i++) {
		const struct alabel_case *c = &alabel_cases[i];
		char out[MTS_DNAME_MAX + 1];
		int rc = mts_dname_to_alabel(c->in, strlen(c->in), out);
		if (rc != c->rc)
			fail_msg("\"%s\": rc %d, want %d", c->in, rc, c->rc);
		if (rc == 0)
			assert_string_equal(out, c->out);
	}
}

struct match_case {
	const char *pattern, *host;
	bool match;
};

static const struct match_case match_cases[] = {
	{"mail.example.com", "mail.example.com", true},
	{"MAIL.example.com.", "mail.EXAMPLE.com", true},
	{"*.example.com", "mx.example.com", true},
	{"*.example.com", "example.com", false},
	{"*.example.com", "a.b.example.com", false},
	{"mail.example.com", "xmail.example.com", false},
	{"*.example.com", "*.example.com", false},
	{"a.*.example.com", "a.b.example.com", false},
	{"", "", false},
	{"*.", "a.", false},
};

static void test_mx_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		bool m = mts_mx_match(c->pattern, strlen(c->pattern), c->host, strlen(c->host));
		if (m != c->match)
			fail_msg("%s vs %s: %d", c->pattern, c->host, m);
		assert_int_equal(mts_mx_match_idna(c->pattern, c->host), c->match);
	}
	/* lengths rule, not NULs */
	assert_true(mts_mx_match("*.example.comXX", 13, "mx.example.com", 14));
	assert_false(mts_mx_match("*.example.com", 13, "mx.example.com", 13));
	/* U-labels only through the idna variant */
	assert_false(mts_mx_match("*.b\xc3\xbc" "cher.example", 16, "mx.xn--bcher-kva.example", 24));
	assert_true(mts_mx_match_idna("*.b\xc3\xbc" "cher.example", "mx.xn--bcher-kva.example"));
	assert_true(mts_mx_match_idna("mx.xn--bcher-kva.example", "MX.B\xc3\x9c" "CHER.example"));
	assert_false(mts_mx_match_idna("*.\xff.example", "a.\xff.example"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dname_normalize),
		cmocka_unit_test(test_dname_lengths),
		cmocka_unit_test(test_dname_to_alabel),
		cmocka_unit_test(test_mx_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
