/* test_tlsrpt_record.c - the _smtp._tls TXT record: rua lists, schemes,
 * decoded targets, columns, selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/tlsrpt_record.h"

#define RUA_MAX 3

struct rua_want {
	enum mts_rua_scheme scheme;
	const char *uri;
	const char *target;
};

struct parse_case {
	const char *txt;
	int rc;
	size_t count;
	struct rua_want rua[RUA_MAX];
	enum mts_finding_code code; /* a finding expected, or MTS_F__COUNT */
	unsigned column;
};

static const struct parse_case parse_cases[] = {
	{.txt = "v=TLSRPTv1;rua=mailto:reports@example.com", .count = 1, .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_MAILTO, "mailto:reports@example.com", "reports@example.com"}}},
	{.txt = "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", .count = 1,
	 .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_HTTPS, "https://reporting.example.com/v1/tlsrpt",
		  "https://reporting.example.com/v1/tlsrpt"}}},
	{.txt = "v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x?k=v,\tmailto:b@example.net",
	 .count = 3, .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_MAILTO, "mailto:a@example.com", "a@example.com"},
		 {MTS_RUA_HTTPS, "https://r.example.com/x?k=v", "https://r.example.com/x?k=v"},
		 {MTS_RUA_MAILTO, "mailto:b@example.net", "b@example.net"}}},
	{.txt = "v=TLSRPTv1; rua=mailto:tls%2Dreports%2Bx@example.com", .count = 1,
	 .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_MAILTO, "mailto:tls%2Dreports%2Bx@example.com",
		  "tls-reports+x@example.com"}}},
	/* a decoded ';' or ',' is an address only inside a quoted local part */
	{.txt = "v=TLSRPTv1; rua=mailto:%22tls%3Br%2Cx%22@example.com", .count = 1,
	 .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_MAILTO, "mailto:%22tls%3Br%2Cx%22@example.com",
		  "\"tls;r,x\"@example.com"}}},
	{.txt = "v=TLSRPTv1; rua=mailto:tls%3Bx@example.com", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_RUA_INVALID, .column = 17},
	{.txt = "v=TLSRPTv1; rua=https://[2001:db8::1]:8443/r?to=a@example.com", .count = 1,
	 .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_HTTPS, "https://[2001:db8::1]:8443/r?to=a@example.com",
		  "https://[2001:db8::1]:8443/r?to=a@example.com"}}},
	{.txt = "v=TLSRPTv1; rua=MAILTO:tls@example.com?subject=x", .count = 1,
	 .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_MAILTO, "MAILTO:tls@example.com?subject=x", "tls@example.com"}}},
	{.txt = "v=TLSRPTv1; rua=https://r.example.com/a%2Cb", .count = 1, .code = MTS_F__COUNT,
	 .rua = {{MTS_RUA_HTTPS, "https://r.example.com/a%2Cb", "https://r.example.com/a%2Cb"}}},
	{.txt = "v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com", .count = 1,
	 .code = MTS_F_TLSRPT_RECORD_RUA_DUPLICATE, .column = 38,
	 .rua = {{MTS_RUA_MAILTO, "mailto:a@example.com", "a@example.com"}}},
	{.txt = "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", .count = 1,
	 .code = MTS_F_TLSRPT_RECORD_FIELD_REPEATED, .column = 39,
	 .rua = {{MTS_RUA_MAILTO, "mailto:a@example.com", "a@example.com"}}},
	{.txt = "v=TLSRPTv1; rua=http://r.example.com/", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_RUA_SCHEME, .column = 17},
	{.txt = "v=TLSRPTv1; rua=mailto:a@example.com,ftp://x.example/", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_RUA_SCHEME, .column = 38},
	{.txt = "v=TLSRPTv1; rua=mailto:a%zz@example.com", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_RUA_INVALID, .column = 25},
	{.txt = "v=TLSRPTv1; rua=mailto:a@example.com!10m", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_RUA_INVALID, .column = 37},
	{.txt = "v=TLSRPTv1; rua=https://r.example.com:0/", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_RUA_INVALID, .column = 17},
	{.txt = "v=TLSRPTv1;", .rc = MTS_EINVAL, .code = MTS_F_TLSRPT_RECORD_RUA_MISSING},
	{.txt = "v=TLSRPTv1; rua=mailto:a@example.com; x=a=b", .rc = MTS_EINVAL,
	 .code = MTS_F_TLSRPT_RECORD_SYNTAX, .column = 42},
};

static void test_tlsrpt_record_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct mts_tlsrpt_record r;
		struct mts_findings fs;
		mts_findings_init(&fs);
		int rc = mts_tlsrpt_record_parse(c->txt, strlen(c->txt), &r, &fs, NULL);
		if (rc != c->rc)
			fail_msg("\"%s\": rc %d, want %d", c->txt, rc, c->rc);
		if (rc == 0) {
			assert_int_equal(r.rua_count, c->count);
			for (size_t k = 0; k < c->count; k++) {
				assert_int_equal(r.rua[k].scheme, c->rua[k].scheme);
				assert_string_equal(r.rua[k].uri, c->rua[k].uri);
				assert_string_equal(r.rua[k].target, c->rua[k].target);
			}
		} else {
			assert_int_equal(r.rua_count, 0);
			assert_null(r.rua);
		}
		if (c->code != MTS_F__COUNT) {
			const struct mts_finding *f = NULL;
			for (size_t k = 0; k < fs.count && !f; k++)
				if (fs.items[k].id == c->code)
					f = &fs.items[k];
			if (!f)
				fail_msg("\"%s\": no %s", c->txt, mts_finding_info(c->code)->code);
			if (f->column != c->column)
				fail_msg("\"%s\": column %u, want %u", c->txt, f->column, c->column);
		} else if (fs.count) {
			fail_msg("\"%s\": unexpected %s", c->txt, fs.items[0].message);
		}
		mts_tlsrpt_record_clear(&r);
		mts_findings_free(&fs);
	}
}

static void test_tlsrpt_record_select(void **state)
{
	(void)state;
	struct mts_tlsrpt_record r;
	struct mts_findings fs;
	const char *recs[] = {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com"};
	size_t lens[] = {11, 36};
	mts_findings_init(&fs);
	assert_int_equal(mts_tlsrpt_record_select(recs, lens, 2, &r, &fs, NULL), 0);
	assert_int_equal(r.rua_count, 1);
	assert_string_equal(r.rua[0].target, "a@example.com");
	assert_int_equal(fs.count, 1);
	assert_int_equal(fs.items[0].id, MTS_F_TLSRPT_RECORD_IGNORED);
	mts_tlsrpt_record_clear(&r);
	mts_tlsrpt_record_clear(&r); /* cleared twice is harmless */
	mts_tlsrpt_record_clear(NULL);
	mts_findings_free(&fs);

	const char *two[] = {recs[1], recs[1]};
	size_t two_lens[] = {36, 36};
	mts_findings_init(&fs);
	assert_int_equal(mts_tlsrpt_record_select(two, two_lens, 2, &r, &fs, NULL), MTS_EINVAL);
	assert_true(mts_findings_has(&fs, MTS_F_TLSRPT_RECORD_MULTIPLE));
	assert_int_equal(r.rua_count, 0);
	mts_findings_free(&fs);

	mts_findings_init(&fs);
	assert_int_equal(mts_tlsrpt_record_select(recs, lens, 1, &r, &fs, NULL), MTS_ENOTFOUND);
	assert_true(mts_findings_has(&fs, MTS_F_TLSRPT_RECORD_MISSING));
	mts_findings_free(&fs);

	assert_true(mts_tlsrpt_record_is_tlsrpt("v=TLSRPTv1", 10));
	assert_true(mts_tlsrpt_record_is_tlsrpt("v=TLSRPTv1;rua=x", 16));
	assert_false(mts_tlsrpt_record_is_tlsrpt("v=TLSRPTv10", 11));
	assert_false(mts_tlsrpt_record_is_tlsrpt("v=TLSRPTv1", 9));
}

static void test_tlsrpt_record_limit(void **state)
{
	(void)state;
	char txt[2048] = "v=TLSRPTv1; rua=";
	size_t o = strlen(txt);
	for (int i = 0; i < MTS_TLSRPT_MAX_RUA; i++)
		o += (size_t)snprintf(txt + o, sizeof(txt) - o, "%smailto:r%d@example.com",
				      i ? "," : "", i);
	struct mts_tlsrpt_record r;
	assert_int_equal(mts_tlsrpt_record_parse(txt, o, &r, NULL, NULL), 0);
	assert_int_equal(r.rua_count, MTS_TLSRPT_MAX_RUA);
	assert_string_equal(r.rua[MTS_TLSRPT_MAX_RUA - 1].target, "r31@example.com");
	mts_tlsrpt_record_clear(&r);
	o += (size_t)snprintf(txt + o, sizeof(txt) - o, ",mailto:one.more@example.com");
	assert_int_equal(mts_tlsrpt_record_parse(txt, o, &r, NULL, NULL), MTS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlsrpt_record_parse),
		cmocka_unit_test(test_tlsrpt_record_select),
		cmocka_unit_test(test_tlsrpt_record_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
