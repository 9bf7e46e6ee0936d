/* test_policy.c - the policy file: parsed fields, finding positions,
 * canonical serialization and round trips, building, identity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/policy.h"

#define MX_MAX 4

/* Parsed fields of valid policies. */
struct fields_case {
	const char *name;
	const char *body;
	enum mts_mode mode;
	uint32_t max_age;
	size_t mx_count;
	const char *mx[MX_MAX];
};

static const struct fields_case fields_cases[] = {
	{.name = "rfc example",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
		 "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
	 .mode = MTS_MODE_ENFORCE, .max_age = 604800, .mx_count = 3,
	 .mx = {"mail.example.com", "*.example.net", "backupmx.example.com"}},
	{.name = "normalised: case, trailing dot, duplicate dropped",
	 .body = "version: STSv1\nmode: testing\nmx: MX2.Example.COM.\nmx: mx1.example.com\n"
		 "mx: mx2.example.com\nmax_age: 86400\n",
	 .mode = MTS_MODE_TESTING, .max_age = 86400, .mx_count = 2,
	 .mx = {"mx2.example.com", "mx1.example.com"}},
	{.name = "mode none without mx",
	 .body = "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n",
	 .mode = MTS_MODE_NONE, .max_age = 0, .mx_count = 0},
	{.name = "leading zeros, tabs, first value wins",
	 .body = "version:\tSTSv1\r\nmode: enforce\r\nmode: none\r\nmx:\t*.EXAMPLE.org \r\n"
		 "max_age: 0031557600\r\nmax_age: 1\r\n",
	 .mode = MTS_MODE_ENFORCE, .max_age = 31557600, .mx_count = 1, .mx = {"*.example.org"}},
	{.name = "no final terminator",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1209600",
	 .mode = MTS_MODE_ENFORCE, .max_age = 1209600, .mx_count = 1, .mx = {"a.example"}},
};

static void test_policy_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fields_cases) / sizeof(fields_cases[0]); i++) {
		const struct fields_case *c = &fields_cases[i];
		struct mts_error err = {0};
		struct mts_policy *p = mts_policy_parse(c->body, strlen(c->body), NULL, &err);
		if (!p)
			fail_msg("%s: %s", c->name, err.message);
		assert_int_equal(p->mode, c->mode);
		assert_int_equal(p->max_age, c->max_age);
		assert_int_equal(p->mx_count, c->mx_count);
		for (size_t k = 0; k < c->mx_count; k++)
			assert_string_equal(p->mx[k], c->mx[k]);
		assert_int_equal(p->body_len, strlen(c->body));
		assert_memory_equal(p->body, c->body, p->body_len);
		assert_int_equal(p->body[p->body_len], '\0');
		mts_policy_free(p);
	}
}

/* Where a finding points: line and column of its first occurrence. */
struct position_case {
	const char *name;
	const char *body;
	enum mts_finding_code code;
	unsigned line, column;
	bool valid;
};

static const struct position_case position_cases[] = {
	{.name = "bad max_age value column",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx: a.example.com\r\nmax_age: 12x\r\n",
	 .code = MTS_F_POLICY_MAX_AGE_INVALID, .line = 4, .column = 10},
	{.name = "value after tabs",
	 .body = "version: STSv1\nmode:\t\tstrict\nmx: a.example.com\nmax_age: 86400\n",
	 .code = MTS_F_POLICY_MODE_INVALID, .line = 2, .column = 8},
	{.name = "mx on line 3",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx: bad_name.example\r\nmax_age: 86400\r\n",
	 .code = MTS_F_POLICY_MX_INVALID, .line = 3, .column = 5},
	{.name = "whitespace before colon",
	 .body = "version: STSv1\r\nmode : enforce\r\n",
	 .code = MTS_F_POLICY_LINE_SYNTAX, .line = 2, .column = 5},
	{.name = "leading whitespace",
	 .body = "version: STSv1\r\n mode: enforce\r\n",
	 .code = MTS_F_POLICY_LINE_SYNTAX, .line = 2, .column = 1},
	{.name = "bare CR column",
	 .body = "version: STSv1\rmode: enforce\r\n",
	 .code = MTS_F_POLICY_LINE_CR, .line = 1, .column = 15},
	{.name = "control character column",
	 .body = "version: STSv1\r\nmode: en\x01force\r\n",
	 .code = MTS_F_POLICY_LINE_CONTROL, .line = 2, .column = 9},
	{.name = "invalid UTF-8 position",
	 .body = "version: STSv1\nnote: ab\xff\n",
	 .code = MTS_F_POLICY_UTF8, .line = 2, .column = 9},
	{.name = "empty line",
	 .body = "version: STSv1\r\n\r\nmode: enforce\r\nmx: a.example.com\r\nmax_age: 1209600\r\n",
	 .code = MTS_F_POLICY_LINE_EMPTY, .line = 2, .column = 0, .valid = true},
	{.name = "repeated key",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx: a.example.com\r\nmax_age: 1209600\r\n"
		 "mode: none\r\n",
	 .code = MTS_F_POLICY_KEY_REPEATED, .line = 5, .column = 1, .valid = true},
	{.name = "lint at the max_age line",
	 .body = "version: STSv1\r\nmode: enforce\r\nmax_age: 60\r\nmx: a.example.com\r\n",
	 .code = MTS_F_POLICY_MAX_AGE_TOO_LOW, .line = 3, .column = 0, .valid = true},
	{.name = "mode lint at the mode line",
	 .body = "version: STSv1\r\nmx: a.example.com\r\nmode: testing\r\nmax_age: 1209600\r\n",
	 .code = MTS_F_POLICY_MODE_TESTING, .line = 3, .column = 0, .valid = true},
	{.name = "first LF line",
	 .body = "version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 1209600\n",
	 .code = MTS_F_POLICY_LINE_LF, .line = 1, .column = 0, .valid = true},
	{.name = "missing keys have no position",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx: a.example.com\r\n",
	 .code = MTS_F_POLICY_MAX_AGE_MISSING, .line = 0, .column = 0},
	{.name = "trailing dot column",
	 .body = "version: STSv1\r\nmode: enforce\r\nmx:   a.example.com.\r\nmax_age: 1209600\r\n",
	 .code = MTS_F_POLICY_MX_TRAILING_DOT, .line = 3, .column = 7, .valid = true},
	{.name = "BOM",
	 .body = "\xef\xbb\xbfversion: STSv1\r\nmode: none\r\nmax_age: 1209600\r\n",
	 .code = MTS_F_POLICY_BOM, .line = 1, .column = 1},
};

static void test_policy_positions(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(position_cases) / sizeof(position_cases[0]); i++) {
		const struct position_case *c = &position_cases[i];
		struct mts_findings fs;
		mts_findings_init(&fs);
		struct mts_policy *p = mts_policy_parse(c->body, strlen(c->body), &fs, NULL);
		if ((p != NULL) != c->valid)
			fail_msg("%s: valid %d, want %d", c->name, p != NULL, c->valid);
		const struct mts_finding *f = NULL;
		for (size_t k = 0; k < fs.count && !f; k++)
			if (fs.items[k].id == c->code)
				f = &fs.items[k];
		if (!f)
			fail_msg("%s: no %s", c->name, mts_finding_info(c->code)->code);
		if (f->line != c->line || f->column != c->column)
			fail_msg("%s: at %u:%u, want %u:%u", c->name, f->line, f->column, c->line,
				 c->column);
		assert_non_null(f->message);
		assert_null(f->subject);
		if (c->code == MTS_F_POLICY_MX_TRAILING_DOT) {
			/* an error to publish, yet the policy is read and matches */
			assert_int_equal(f->severity, MTS_SEV_ERROR);
			assert_true(mts_policy_matches(p, "a.example.com", 13));
		}
		mts_policy_free(p);
		mts_findings_free(&fs);
	}
}

static void test_policy_errors(void **state)
{
	(void)state;
	struct mts_error err = {0};
	char *big = malloc(MTS_POLICY_MAX_BYTES + 1);
	assert_non_null(big);
	memset(big, 'a', MTS_POLICY_MAX_BYTES + 1);
	assert_null(mts_policy_parse(big, MTS_POLICY_MAX_BYTES + 1, NULL, &err));
	assert_int_equal(err.code, MTS_ETOOBIG);
	free(big);
	assert_null(mts_policy_parse("", 0, NULL, &err));
	assert_int_equal(err.code, MTS_EINVAL);
	assert_null(mts_policy_parse("version: STSv1\r\n", 16, NULL, &err));
	assert_int_equal(err.code, MTS_EINVAL);
	/* the length rules, not a NUL: bytes after len are never read */
	const char *body = "version: STSv1\nmode: none\nmax_age: 86400\ngarbage";
	struct mts_policy *p = mts_policy_parse(body, strlen(body) - 7, NULL, &err);
	assert_non_null(p);
	assert_int_equal(p->body_len, strlen(body) - 7);
	mts_policy_free(p);
	mts_policy_free(NULL);
}

/* Every valid policy within 64 KiB parses, however many mx lines it has:
 * one of exactly MTS_POLICY_MAX_BYTES, all mx lines (thousands, distinct). */
static void test_policy_max_size(void **state)
{
	(void)state;
	size_t cap = MTS_POLICY_MAX_BYTES;
	char *body = malloc(cap + 1);
	assert_non_null(body);
	static const char head[] = "version: STSv1\r\nmode: enforce\r\nmax_age: 1209600\r\n";
	size_t n = sizeof(head) - 1, lines = 0;
	memcpy(body, head, n);
	while (cap - n >= 32) {
		n += (size_t)snprintf(body + n, cap + 1 - n, "mx: m%zu.example.com\r\n", lines++);
	}
	/* an extension line "x: aaa...\r\n" pads to the exact size */
	size_t value = cap - n - 5;
	memcpy(body + n, "x: ", 3);
	memset(body + n + 3, 'a', value);
	memcpy(body + n + 3 + value, "\r\n", 2);
	n = cap;
	body[n] = '\0';
	assert_int_equal(n, cap);
	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_policy *p = mts_policy_parse(body, n, &fs, NULL);
	assert_non_null(p);
	assert_int_equal(p->mx_count, lines);
	assert_true(lines > 2000);
	assert_int_equal(mts_findings_count(&fs, MTS_SEV_ERROR), 0);
	mts_policy_free(p);
	mts_findings_free(&fs);
	free(body);
}

static void test_policy_serialize(void **state)
{
	(void)state;
	const char *body = "mx: MX1.example.com.\nmax_age: 0086400\nmode: testing\n"
			   "foo: bar\nversion: STSv1\nmx: *.Example.net\n";
	const char *canonical = "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\n"
				"mx: *.example.net\r\nmax_age: 86400\r\n";
	struct mts_policy *p = mts_policy_parse(body, strlen(body), NULL, NULL);
	assert_non_null(p);
	char *out = NULL;
	size_t out_len = 0;
	assert_int_equal(mts_policy_serialize(p, &out, &out_len), 0);
	assert_int_equal(out_len, strlen(canonical));
	assert_string_equal(out, canonical);

	/* the canonical form parses without a single finding, to the same fields,
	 * and serializes to itself */
	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_policy *q = mts_policy_parse(out, out_len, &fs, NULL);
	assert_non_null(q);
	assert_int_equal(fs.count, 1); /* only the mode.testing lint */
	assert_int_equal(fs.items[0].id, MTS_F_POLICY_MODE_TESTING);
	assert_int_equal(q->mode, p->mode);
	assert_int_equal(q->max_age, p->max_age);
	assert_int_equal(q->mx_count, p->mx_count);
	for (size_t i = 0; i < p->mx_count; i++)
		assert_string_equal(q->mx[i], p->mx[i]);
	char *again = NULL;
	size_t again_len = 0;
	assert_int_equal(mts_policy_serialize(q, &again, &again_len), 0);
	assert_int_equal(again_len, out_len);
	assert_memory_equal(again, out, out_len);
	assert_false(mts_policy_same(p, q)); /* different bytes */

	free(again);
	free(out);
	mts_findings_free(&fs);
	mts_policy_free(q);
	mts_policy_free(p);
}

static void test_policy_serialize_none(void **state)
{
	(void)state;
	const char *body = "version: STSv1\nmode: none\nmax_age: 0\n";
	struct mts_policy *p = mts_policy_parse(body, strlen(body), NULL, NULL);
	assert_non_null(p);
	char *out;
	size_t len;
	assert_int_equal(mts_policy_serialize(p, &out, &len), 0);
	assert_string_equal(out, "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
	free(out);
	mts_policy_free(p);
}

struct new_case {
	const char *name;
	enum mts_mode mode;
	uint32_t max_age;
	size_t mx_count;
	const char *mx[MX_MAX];
	int rc;              /* 0: built */
	size_t want_count;
	const char *want[MX_MAX];
};

static const struct new_case new_cases[] = {
	{.name = "plain", .mode = MTS_MODE_ENFORCE, .max_age = 1209600, .mx_count = 2,
	 .mx = {"mx1.example.com", "*.example.net"}, .want_count = 2,
	 .want = {"mx1.example.com", "*.example.net"}},
	{.name = "U-labels become A-labels", .mode = MTS_MODE_ENFORCE, .max_age = 604800,
	 .mx_count = 3, .mx = {"mail.bücher.example", "*.münchen.example", "MX.BÜCHER.example."},
	 .want_count = 3,
	 .want = {"mail.xn--bcher-kva.example", "*.xn--mnchen-3ya.example",
		  "mx.xn--bcher-kva.example"}},
	{.name = "case and duplicates", .mode = MTS_MODE_TESTING, .max_age = 86400,
	 .mx_count = 3, .mx = {"MX.example.com", "mx.example.com.", "mx.example.com"},
	 .want_count = 1, .want = {"mx.example.com"}},
	{.name = "mode none without mx", .mode = MTS_MODE_NONE, .max_age = 86400, .mx_count = 0},
	{.name = "enforce without mx", .mode = MTS_MODE_ENFORCE, .max_age = 86400, .mx_count = 0,
	 .rc = MTS_EINVAL},
	{.name = "bad pattern", .mode = MTS_MODE_ENFORCE, .max_age = 86400, .mx_count = 1,
	 .mx = {"a.*.example.com"}, .rc = MTS_EINVAL},
	{.name = "underscore", .mode = MTS_MODE_ENFORCE, .max_age = 86400, .mx_count = 1,
	 .mx = {"mx_1.example.com"}, .rc = MTS_EINVAL},
	{.name = "max_age over the limit", .mode = MTS_MODE_ENFORCE,
	 .max_age = MTS_POLICY_MAX_AGE_MAX + 1, .mx_count = 1, .mx = {"mx.example.com"},
	 .rc = MTS_EINVAL},
};

static void test_policy_new(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(new_cases) / sizeof(new_cases[0]); i++) {
		const struct new_case *c = &new_cases[i];
		struct mts_error err = {0};
		struct mts_policy *p = mts_policy_new(c->mode, c->max_age, c->mx, c->mx_count, NULL,
						      &err);
		if (c->rc) {
			if (p)
				fail_msg("%s: built, want error %d", c->name, c->rc);
			assert_int_equal(err.code, c->rc);
			continue;
		}
		if (!p)
			fail_msg("%s: %s", c->name, err.message);
		assert_int_equal(p->mode, c->mode);
		assert_int_equal(p->max_age, c->max_age);
		assert_int_equal(p->mx_count, c->want_count);
		for (size_t k = 0; k < c->want_count; k++)
			assert_string_equal(p->mx[k], c->want[k]);
		/* a built policy's body is its canonical file */
		char *out;
		size_t len;
		assert_int_equal(mts_policy_serialize(p, &out, &len), 0);
		assert_int_equal(len, p->body_len);
		assert_memory_equal(out, p->body, len);
		free(out);
		mts_policy_free(p);
	}
	/* No count limit beyond the 64 KiB file: 2000 patterns (24 bytes a line)
	 * build, 3000 do not fit. */
	enum { MANY = 3000 };
	static char names[MANY][24];
	const char *many[MANY];
	for (size_t i = 0; i < MANY; i++) {
		snprintf(names[i], sizeof(names[i]), "mx%04zu.example.com", i);
		many[i] = names[i];
	}
	struct mts_error err = {0};
	struct mts_policy *big = mts_policy_new(MTS_MODE_ENFORCE, 86400, many, 2000, NULL, &err);
	assert_non_null(big);
	assert_int_equal(big->mx_count, 2000);
	mts_policy_free(big);
	assert_null(mts_policy_new(MTS_MODE_ENFORCE, 86400, many, MANY, NULL, &err));
	assert_int_equal(err.code, MTS_ETOOBIG);
}

static void test_policy_new_findings(void **state)
{
	(void)state;
	const char *mx[] = {"*.com"};
	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_policy *p = mts_policy_new(MTS_MODE_ENFORCE, 3600, mx, 1, &fs, NULL);
	assert_non_null(p);
	assert_true(mts_findings_has(&fs, MTS_F_POLICY_MX_BROAD));
	assert_true(mts_findings_has(&fs, MTS_F_POLICY_MAX_AGE_TOO_LOW));
	assert_int_equal(fs.count, 2);
	mts_findings_free(&fs);
	mts_policy_free(p);
}

static void test_policy_identity(void **state)
{
	(void)state;
	const char *a = "version: STSv1\r\nmode: enforce\r\nmx: a.example.com\r\nmax_age: 1209600\r\n";
	const char *b = "version: STSv1\r\nmode: enforce\r\nmx: a.example.com\r\nmax_age: 1209601\r\n";
	const char *lf = "version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 1209600\n";
	struct mts_policy *p1 = mts_policy_parse(a, strlen(a), NULL, NULL);
	struct mts_policy *p2 = mts_policy_parse(a, strlen(a), NULL, NULL);
	struct mts_policy *p3 = mts_policy_parse(b, strlen(b), NULL, NULL);
	struct mts_policy *p4 = mts_policy_parse(lf, strlen(lf), NULL, NULL);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_non_null(p4);
	unsigned char d1[32], d2[32], d3[32], d4[32];
	assert_int_equal(mts_policy_digest(p1, d1), 0);
	assert_int_equal(mts_policy_digest(p2, d2), 0);
	assert_int_equal(mts_policy_digest(p3, d3), 0);
	assert_int_equal(mts_policy_digest(p4, d4), 0);
	assert_true(mts_policy_same(p1, p2));
	assert_memory_equal(d1, d2, 32);
	assert_false(mts_policy_same(p1, p3)); /* one byte differs */
	assert_memory_not_equal(d1, d3, 32);
	assert_false(mts_policy_same(p1, p4)); /* same fields, other bytes */
	assert_memory_not_equal(d1, d4, 32);
	/* SHA-256 of the exact bytes: the digest of "" is well known */
	static const unsigned char empty_sha[4] = {0xe3, 0xb0, 0xc4, 0x42};
	struct mts_policy none = {.body = (char *)"", .body_len = 0};
	unsigned char d0[32];
	assert_int_equal(mts_policy_digest(&none, d0), 0);
	assert_memory_equal(d0, empty_sha, 4);
	mts_policy_free(p1);
	mts_policy_free(p2);
	mts_policy_free(p3);
	mts_policy_free(p4);
}

static void test_policy_matches(void **state)
{
	(void)state;
	const char *body = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
			   "mx: *.example.net\nmax_age: 1209600\n";
	struct mts_policy *p = mts_policy_parse(body, strlen(body), NULL, NULL);
	assert_non_null(p);
	assert_true(mts_policy_matches(p, "mail.example.com", 16));
	assert_true(mts_policy_matches(p, "MAIL.EXAMPLE.COM.", 17));
	assert_true(mts_policy_matches(p, "mx1.example.net", 15));
	assert_false(mts_policy_matches(p, "example.net", 11));
	assert_false(mts_policy_matches(p, "a.b.example.net", 15));
	assert_false(mts_policy_matches(p, "xmail.example.com", 17));
	/* host_len is honoured: a longer buffer is cut */
	assert_true(mts_policy_matches(p, "mail.example.comXYZ", 16));
	mts_policy_free(p);
}

static void test_mode_names(void **state)
{
	(void)state;
	enum mts_mode m;
	assert_string_equal(mts_mode_name(MTS_MODE_ENFORCE), "enforce");
	assert_string_equal(mts_mode_name(MTS_MODE_TESTING), "testing");
	assert_string_equal(mts_mode_name(MTS_MODE_NONE), "none");
	assert_int_equal(mts_mode_parse("enforce", 7, &m), 0);
	assert_int_equal(m, MTS_MODE_ENFORCE);
	assert_int_equal(mts_mode_parse("testing", 7, &m), 0);
	assert_int_equal(m, MTS_MODE_TESTING);
	assert_int_equal(mts_mode_parse("none", 4, &m), 0);
	assert_int_equal(m, MTS_MODE_NONE);
	assert_int_equal(mts_mode_parse("Enforce", 7, &m), MTS_EINVAL);
	assert_int_equal(mts_mode_parse("enforce", 6, &m), MTS_EINVAL);
	assert_int_equal(mts_mode_parse("", 0, &m), MTS_EINVAL);
}

static void test_policy_lint_built(void **state)
{
	(void)state;
	struct mts_policy p = {.mode = MTS_MODE_ENFORCE, .max_age = 604800, .body_len = 5000};
	struct mts_findings fs;
	mts_findings_init(&fs);
	mts_policy_lint(&p, &fs);
	assert_int_equal(fs.count, 2);
	assert_int_equal(fs.items[0].id, MTS_F_POLICY_LARGE);
	assert_int_equal(fs.items[1].id, MTS_F_POLICY_MAX_AGE_SHORT_ENFORCE);
	assert_int_equal(fs.items[1].line, 0);
	mts_findings_free(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_fields),
		cmocka_unit_test(test_policy_positions),
		cmocka_unit_test(test_policy_errors),
		cmocka_unit_test(test_policy_max_size),
		cmocka_unit_test(test_policy_serialize),
		cmocka_unit_test(test_policy_serialize_none),
		cmocka_unit_test(test_policy_new),
		cmocka_unit_test(test_policy_new_findings),
		cmocka_unit_test(test_policy_identity),
		cmocka_unit_test(test_policy_matches),
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_policy_lint_built),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
