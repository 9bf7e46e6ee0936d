/* test_sts_record.c - the _mta-sts TXT record: ids, columns, selection,
 * id generation and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/text_int.h"
#include "mtasts/sts_record.h"

struct parse_case {
	const char *txt;
	int rc;
	const char *id;                 /* when rc == 0 */
	enum mts_finding_code code;     /* a finding expected, or MTS_F__COUNT */
	unsigned column;
};

static const struct parse_case parse_cases[] = {
	{.txt = "v=STSv1; id=20160831085700Z;", .id = "20160831085700Z", .code = MTS_F__COUNT},
	{.txt = "v=STSv1;id=1", .id = "1", .code = MTS_F__COUNT},
	{.txt = "v=STSv1 ;\tid=abcDEF123 ; ", .id = "abcDEF123", .code = MTS_F__COUNT},
	{.txt = "v=STSv1; id=12345678901234567890123456789012",
	 .id = "12345678901234567890123456789012", .code = MTS_F__COUNT},
	{.txt = "v=STSv1; id=first; id=second", .id = "first", .code = MTS_F_STS_RECORD_FIELD_REPEATED,
	 .column = 20},
	{.txt = "v=STSv1; foo=bar; id=1", .id = "1", .code = MTS_F_STS_RECORD_FIELD_UNKNOWN, .column = 10},
	{.txt = "v=STSv1; id=1; ID=2", .id = "1", .code = MTS_F_STS_RECORD_FIELD_UNKNOWN, .column = 16},
	{.txt = "v=STSv1; id=123456789012345678901234567890123", .rc = MTS_EINVAL,
	 .code = MTS_F_STS_RECORD_ID_TOO_LONG, .column = 13},
	{.txt = "v=STSv1; id=2024-01", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_ID_INVALID, .column = 17},
	{.txt = "v=STSv1; id=", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_SYNTAX, .column = 12},
	{.txt = "v=STSv1;; id=1", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_SYNTAX, .column = 9},
	{.txt = "v=STSv1; id=a=b", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_SYNTAX, .column = 14},
	{.txt = "v=STSv1; id = 1", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_SYNTAX, .column = 12},
	{.txt = "v=STSv1", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_ID_MISSING, .column = 0},
	{.txt = "v=stsv1; id=1", .rc = MTS_EINVAL, .code = MTS_F_STS_RECORD_VERSION, .column = 1},
};

static void test_sts_record_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct mts_sts_record r;
		struct mts_findings fs;
		mts_findings_init(&fs);
		int rc = mts_sts_record_parse(c->txt, strlen(c->txt), &r, &fs, NULL);
		if (rc != c->rc)
			fail_msg("\"%s\": rc %d, want %d", c->txt, rc, c->rc);
		if (rc == 0)
			assert_string_equal(r.id, c->id);
		if (c->code != MTS_F__COUNT) {
			const struct mts_finding *f = NULL;
			for (size_t k = 0; k < fs.count && !f; k++)
				if (fs.items[k].id == c->code)
					f = &fs.items[k];
			if (!f)
				fail_msg("\"%s\": no %s", c->txt, mts_finding_info(c->code)->code);
			if (f->column != c->column)
				fail_msg("\"%s\": column %u, want %u", c->txt, f->column, c->column);
			assert_int_equal(f->line, 0);
		} else if (fs.count) {
			fail_msg("\"%s\": unexpected %s", c->txt, fs.items[0].message);
		}
		mts_findings_free(&fs);
	}
}

/* The record's own limit is the DNS's: a TXT RDATA of 65535 bytes. */
static void test_sts_record_long(void **state)
{
	(void)state;
	size_t max = MTS_TXT_MAX_BYTES;
	assert_int_equal(max, 65535);
	char *txt = malloc(max + 1);
	assert_non_null(txt);
	static const char head[] = "v=STSv1; id=20261204; x=";
	memcpy(txt, head, sizeof(head) - 1);
	memset(txt + sizeof(head) - 1, 'a', max + 1 - (sizeof(head) - 1));
	struct mts_sts_record r;
	struct mts_findings fs;
	mts_findings_init(&fs);
	assert_int_equal(mts_sts_record_parse(txt, 4097, &r, &fs, NULL), 0);
	assert_int_equal(mts_sts_record_parse(txt, max, &r, &fs, NULL), 0);
	assert_string_equal(r.id, "20261204");
	assert_false(mts_findings_has(&fs, MTS_F_STS_RECORD_SYNTAX));
	assert_int_equal(mts_sts_record_parse(txt, max + 1, &r, &fs, NULL), MTS_ETOOBIG);
	assert_true(mts_findings_has(&fs, MTS_F_STS_RECORD_SYNTAX));
	mts_findings_free(&fs);
	free(txt);
}

static void test_sts_record_is_sts(void **state)
{
	(void)state;
	assert_true(mts_sts_record_is_sts("v=STSv1", 7));
	assert_true(mts_sts_record_is_sts("v=STSv1;id=1", 12));
	assert_true(mts_sts_record_is_sts("v=STSv1 ; id=1", 14));
	assert_false(mts_sts_record_is_sts("v=STSv10", 8));
	assert_false(mts_sts_record_is_sts("v=STSv", 6));
	assert_false(mts_sts_record_is_sts(" v=STSv1", 8));
	assert_false(mts_sts_record_is_sts("", 0));
	/* the length rules: "v=STSv1" cut to 6 bytes is not a version */
	assert_false(mts_sts_record_is_sts("v=STSv1", 6));
}

static void test_sts_record_select(void **state)
{
	(void)state;
	struct mts_sts_record r;
	struct mts_findings fs;
	struct mts_error err;

	const char *one[] = {"v=spf1 -all", "v=STSv1; id=abc"};
	size_t one_lens[] = {11, 15};
	mts_findings_init(&fs);
	assert_int_equal(mts_sts_record_select(one, one_lens, 2, &r, &fs, &err), 0);
	assert_string_equal(r.id, "abc");
	assert_int_equal(fs.count, 1);
	assert_int_equal(fs.items[0].id, MTS_F_STS_RECORD_IGNORED);
	mts_findings_free(&fs);

	const char *two[] = {"v=STSv1; id=1", "v=STSv1; id=2"};
	size_t two_lens[] = {13, 13};
	mts_findings_init(&fs);
	assert_int_equal(mts_sts_record_select(two, two_lens, 2, &r, &fs, &err), MTS_EINVAL);
	assert_int_equal(err.code, MTS_EINVAL);
	assert_true(mts_findings_has(&fs, MTS_F_STS_RECORD_MULTIPLE));
	assert_string_equal(r.id, "");
	mts_findings_free(&fs);

	mts_findings_init(&fs);
	assert_int_equal(mts_sts_record_select(NULL, NULL, 0, &r, &fs, &err), MTS_ENOTFOUND);
	assert_true(mts_findings_has(&fs, MTS_F_STS_RECORD_MISSING));
	mts_findings_free(&fs);

	/* A record clearly meant as the STS record but malformed is a broken
	 * record (MTS_EINVAL), not a missing one; the finding names the mistake. */
	static const struct {
		const char *txt, *says;
	} near[] = {
		{"V=STSv1; id=1", "lowercase \"v\""},
		{"v=stsv1; id=1", "must be written \"STSv1\""},
		{"v=STSv2; id=1", "\"STSv2\" is not \"STSv1\""},
		{"v=STS1; id=1", "misspelt"},
		{" v=STSv1; id=1", "blanks before"},
		{"id=1; v=STSv1", "id field"},
	};
	for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
		const char *txts[] = {"v=spf1 -all", near[i].txt};
		size_t lens[] = {11, strlen(near[i].txt)};
		mts_findings_init(&fs);
		int rc = mts_sts_record_select(txts, lens, 2, &r, &fs, &err);
		if (rc != MTS_EINVAL)
			fail_msg("\"%s\": rc %d, want MTS_EINVAL", near[i].txt, rc);
		assert_false(mts_findings_has(&fs, MTS_F_STS_RECORD_MISSING));
		bool named = false;
		for (size_t k = 0; k < fs.count; k++)
			named |= fs.items[k].id == MTS_F_STS_RECORD_VERSION &&
				 strstr(fs.items[k].message, near[i].says) != NULL;
		if (!named)
			fail_msg("\"%s\": no sts.record.version saying '%s'", near[i].txt, near[i].says);
		mts_findings_free(&fs);
	}
	/* Unrelated records alone: no record at all. */
	const char *unrelated[] = {"v=DKIM1; k=rsa", "sid=1", "site-verification=x"};
	size_t unrelated_lens[] = {14, 5, 19};
	mts_findings_init(&fs);
	assert_int_equal(mts_sts_record_select(unrelated, unrelated_lens, 3, &r, &fs, &err),
			 MTS_ENOTFOUND);
	assert_true(mts_findings_has(&fs, MTS_F_STS_RECORD_MISSING));
	assert_false(mts_findings_has(&fs, MTS_F_STS_RECORD_VERSION));
	mts_findings_free(&fs);

	/* findings may be NULL */
	assert_int_equal(mts_sts_record_select(one, one_lens, 2, &r, NULL, NULL), 0);
	assert_int_equal(mts_sts_record_select(two, two_lens, 2, &r, NULL, NULL), MTS_EINVAL);
}

static bool rfc_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > MTS_STS_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9')))
			return false;
	return true;
}

static void test_sts_id_generate(void **state)
{
	(void)state;
	unsigned char d1[32] = {0xde, 0xad, 0xbe, 0xef}, d2[32] = {0xde, 0xad, 0xbe, 0xee};
	char a[MTS_STS_ID_MAX + 1], b[MTS_STS_ID_MAX + 1], c[MTS_STS_ID_MAX + 1];
	mts_sts_id_generate(1700000000LL, d1, a); /* 2023-11-14 22:13:20 UTC */
	mts_sts_id_generate(1700000000LL, d2, b);
	mts_sts_id_generate(1700000001LL, d1, c);
	assert_string_equal(a, "20231114T221320deadbeef");
	assert_true(rfc_id(a));
	assert_true(rfc_id(b));
	assert_true(rfc_id(c));
	assert_string_not_equal(a, b); /* the digest changed */
	assert_memory_equal(a, b, 15); /* fixed time, fixed prefix */
	assert_string_not_equal(a, c);
	mts_sts_id_generate(0, d1, a);
	assert_string_equal(a, "19700101T000000deadbeef");

	/* years without four digits would put a '-' or too many digits in the
	 * id: the digest alone stands in, still 1-32 alphanumerics */
	static const long long odd_times[] = {
		-62167219201LL,          /* year -1 */
		-100000000000LL,         /* year -1199 */
		253402300800LL,          /* year 10000 */
		67767976233316800LL,     /* past gmtime_r's range */
		-9223372036854775807LL - 1,
	};
	for (size_t i = 0; i < sizeof(odd_times) / sizeof(odd_times[0]); i++) {
		mts_sts_id_generate(odd_times[i], d1, a);
		assert_true(rfc_id(a));
		assert_int_equal(strlen(a), MTS_STS_ID_MAX);
		assert_memory_equal(a, "deadbeef", 8);
	}

	/* a generated id makes a record that parses back to it */
	char rec[64];
	int n = mts_sts_record_format(b, rec, sizeof(rec));
	assert_int_equal(n, (int)strlen(rec));
	struct mts_sts_record r;
	assert_int_equal(mts_sts_record_parse(rec, (size_t)n, &r, NULL, NULL), 0);
	assert_string_equal(r.id, b);
}

static void test_sts_record_format(void **state)
{
	(void)state;
	char out[32];
	assert_int_equal(mts_sts_record_format("abc", out, sizeof(out)), 15);
	assert_string_equal(out, "v=STSv1; id=abc");
	assert_int_equal(mts_sts_record_format("abc", out, 15), MTS_ETOOBIG);
	assert_int_equal(mts_sts_record_format("abc", out, 16), 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sts_record_parse),
		cmocka_unit_test(test_sts_record_is_sts),
		cmocka_unit_test(test_sts_record_long),
		cmocka_unit_test(test_sts_record_select),
		cmocka_unit_test(test_sts_id_generate),
		cmocka_unit_test(test_sts_record_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
