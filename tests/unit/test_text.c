/* test_text.c - printable copies of foreign text and UTF-8 validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/text_int.h"

struct printable_case {
	const char *in;
	size_t len;
	size_t cap;
	const char *out;
};

static const struct printable_case printable_cases[] = {
	{.in = "plain text", .len = 10, .cap = MTS_PRINTABLE_BUF, .out = "plain text"},
	{.in = "a\r\nb\tc\\d", .len = 8, .cap = MTS_PRINTABLE_BUF, .out = "a\\r\\nb\\tc\\\\d"},
	{.in = "nul\0x\x7f\x01", .len = 7, .cap = MTS_PRINTABLE_BUF, .out = "nul\\x00x\\x7f\\x01"},
	{.in = "caf\xc3\xa9", .len = 5, .cap = MTS_PRINTABLE_BUF, .out = "caf\\xc3\\xa9"},
	{.in = "", .len = 0, .cap = 8, .out = ""},
	{.in = "cut by len", .len = 3, .cap = MTS_PRINTABLE_BUF, .out = "cut"},
	/* a small buffer cuts, marks the cut, and stays terminated */
	{.in = "abcdefghij", .len = 10, .cap = 8, .out = "abcd..."},
	{.in = "\xff\xff\xff", .len = 3, .cap = 8, .out = "\\xff..."},
	{.in = "ab\xff", .len = 3, .cap = 10, .out = "ab\\xff"},
	{.in = "abc\xff", .len = 4, .cap = 10, .out = "abc..."},
};

static void test_printable(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(printable_cases) / sizeof(printable_cases[0]); i++) {
		const struct printable_case *c = &printable_cases[i];
		char out[MTS_PRINTABLE_BUF];
		memset(out, 'Z', sizeof(out));
		assert_ptr_equal(mts_printable(c->in, c->len, out, c->cap), out);
		assert_string_equal(out, c->out);
		assert_true(strlen(out) < c->cap);
	}
}

static void test_printable_truncation(void **state)
{
	(void)state;
	char in[200], out[MTS_PRINTABLE_BUF];
	memset(in, 'x', sizeof(in));
	mts_printable(in, sizeof(in), out, sizeof(out));
	assert_int_equal(strlen(out), MTS_PRINTABLE_MAX + 3);
	assert_memory_equal(out + MTS_PRINTABLE_MAX, "...", 4);
	/* exactly the maximum is not cut */
	mts_printable(in, MTS_PRINTABLE_MAX, out, sizeof(out));
	assert_int_equal(strlen(out), MTS_PRINTABLE_MAX);
	/* the worst case, every byte escaped, fits MTS_PRINTABLE_BUF */
	memset(in, 0xff, sizeof(in));
	mts_printable(in, sizeof(in), out, sizeof(out));
	assert_int_equal(strlen(out), MTS_PRINTABLE_MAX * 4 + 3);
	assert_true(strlen(out) < MTS_PRINTABLE_BUF);
}

struct utf8_case {
	const char *name;
	const char *in;
	size_t len;
	bool valid;
	size_t bad;
};

#define U(name, s, v, b) {name, s, sizeof(s) - 1, v, b}
static const struct utf8_case utf8_cases[] = {
	U("empty", "", true, 0),
	U("ascii", "version: STSv1\r\n", true, 0),
	U("nul is ascii", "a\0b", true, 0),
	U("2-byte", "caf\xc3\xa9", true, 0),
	U("3-byte", "\xe2\x82\xac", true, 0),
	U("4-byte", "\xf0\x9f\x94\x92", true, 0),
	U("U+07FF", "\xdf\xbf", true, 0),
	U("U+FFFF", "\xef\xbf\xbf", true, 0),
	U("U+10FFFF", "\xf4\x8f\xbf\xbf", true, 0),
	U("U+D7FF before surrogates", "\xed\x9f\xbf", true, 0),
	U("U+E000 after surrogates", "\xee\x80\x80", true, 0),
	U("overlong 2-byte '/'", "a\xc0\xaf", false, 1),
	U("overlong 2-byte C1", "\xc1\xbf", false, 0),
	U("overlong 3-byte", "ab\xe0\x80\xaf", false, 2),
	U("overlong 3-byte U+07FF", "\xe0\x9f\xbf", false, 0),
	U("overlong 4-byte", "\xf0\x80\x80\xaf", false, 0),
	U("overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf", false, 0),
	U("high surrogate", "x\xed\xa0\x80", false, 1),
	U("low surrogate", "\xed\xbf\xbf", false, 0),
	U("above U+10FFFF", "\xf4\x90\x80\x80", false, 0),
	U("5-byte lead", "\xf8\x88\x80\x80\x80", false, 0),
	U("0xff", "ok\xff", false, 2),
	U("0xfe", "\xfe", false, 0),
	U("lone continuation", "a\x80", false, 1),
	U("truncated 2-byte", "abc\xc3", false, 3),
	U("truncated 3-byte", "\xe2\x82", false, 0),
	U("truncated 4-byte", "xy\xf0\x9f\x94", false, 2),
	U("bad continuation", "\xe2\x28\xa1", false, 0),
	U("ascii after lead", "\xc3" "a", false, 0),
};

static void test_utf8_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		size_t bad = 12345;
		bool v = mts_utf8_valid(c->in, c->len, &bad);
		if (v != c->valid)
			fail_msg("%s: valid %d, want %d", c->name, v, c->valid);
		if (!v && bad != c->bad)
			fail_msg("%s: bad at %zu, want %zu", c->name, bad, c->bad);
		assert_int_equal(mts_utf8_valid(c->in, c->len, NULL), c->valid);
	}
	/* the length rules: a sequence cut by len is truncated */
	assert_false(mts_utf8_valid("\xc3\xa9", 1, NULL));
	assert_true(mts_utf8_valid("a\xff", 1, NULL));
}

static void test_redact_url(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"},
		{"redis://user:secret@host/1", "redis://user:***@host/1"},
		{"postgresql://mtasts:p%40ss@db.example:5432/cache?sslmode=require",
		 "postgresql://mtasts:***@db.example:5432/cache?sslmode=require"},
		{"postgresql://mtasts@db/cache", "postgresql://mtasts@db/cache"},
		{"postgresql://db/cache?user=u&password=pw&sslmode=require",
		 "postgresql://db/cache?user=u&password=***&sslmode=require"},
		{"host=db user=u password=pw dbname=x", "host=db user=u password=*** dbname=x"},
		{"host=db password='a b\\'c' dbname=x", "host=db password=*** dbname=x"},
		{"sqlite:///var/lib/mtasts/cache.db", "sqlite:///var/lib/mtasts/cache.db"},
		{"memory:?max=10000", "memory:?max=10000"},
		{"redis://host/0?mypassword=x", "redis://host/0?mypassword=x"},
		{"postgresql://u:pw@h/db#password=frag", "postgresql://u:***@h/db#password=frag"},
	};
	char out[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(mts_redact_url(cases[i][0], out, sizeof(out)), cases[i][1]);
	/* bounded */
	char small[12];
	assert_string_equal(mts_redact_url("redis://:secret@h", small, sizeof(small)), "redis://:**");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_printable_truncation),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_redact_url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
