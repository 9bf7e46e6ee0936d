/* test_spf_dmarc.c - SPF (RFC 7208) and DMARC (RFC 7489) record parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/dmarc.h"
#include "mtasts/spf.h"

struct record_case {
	const char *txt;
	bool valid;
	const char *codes[4]; /* exactly these codes, NULL-terminated */
	unsigned lookups;     /* SPF: DNS-querying terms */
	char all;             /* SPF: qualifier of all */
};

static void assert_codes(const struct mts_findings *fs, const char *const *codes, const char *txt)
{
	size_t want = 0;
	for (; want < 4 && codes[want]; want++) {
		enum mts_finding_code id = mts_finding_lookup(codes[want]);
		if (id == MTS_F__COUNT || !mts_findings_has(fs, id))
			fail_msg("%s: missing %s", txt, codes[want]);
	}
	for (size_t i = 0; i < fs->count; i++) {
		const char *code = mts_finding_info(fs->items[i].id)->code;
		bool listed = false;
		for (size_t k = 0; k < want; k++)
			listed |= strcmp(codes[k], code) == 0;
		if (!listed)
			fail_msg("%s: unexpected %s (%s)", txt, code, fs->items[i].message);
	}
}

static const struct record_case spf_cases[] = {
	{.txt = "v=spf1 -all", .valid = true, .all = '-'},
	{.txt = "v=spf1 mx a ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.net ~all",
	 .valid = true, .lookups = 3, .all = '~'},
	{.txt = "V=SPF1 MX -ALL", .valid = true, .lookups = 1, .all = '-'},
	{.txt = "v=spf1 redirect=_spf.example.com", .valid = true, .lookups = 1},
	{.txt = "v=spf1 +all", .valid = true, .codes = {"spf.all.pass"}, .all = '+'},
	{.txt = "v=spf1 mx ?all", .valid = true, .codes = {"spf.all.neutral"}, .lookups = 1,
	 .all = '?'},
	{.txt = "v=spf1 mx", .valid = true, .codes = {"spf.all.missing"}, .lookups = 1},
	{.txt = "v=spf1 ptr -all", .valid = true, .codes = {"spf.mechanism.ptr"}, .lookups = 1,
	 .all = '-'},
	{.txt = "v=spf1 -all mx", .valid = true, .codes = {"spf.all.not_last"}, .lookups = 1,
	 .all = '-'},
	{.txt = "v=spf1 mx -all redirect=x.example", .valid = true,
	 .codes = {"spf.redirect.ignored"}, .lookups = 2, .all = '-'},
	{.txt = "v=spf1 a/24 mx:mail.example.com/24//64 -all", .valid = true, .lookups = 2,
	 .all = '-'},
	{.txt = "v=spf1 include:a include:b include:c include:d include:e include:f include:g "
		"include:h include:i include:j include:k -all",
	 .valid = true, .codes = {"spf.lookups.too_many"}, .lookups = 11, .all = '-'},
	{.txt = "v=spf1 exp=explain.example foo=bar -all", .valid = true, .all = '-'},
	{.txt = "v=spf1 ip4:192.0.2.300 -all", .valid = false, .codes = {"spf.syntax"}},
	{.txt = "v=spf1 ip4:192.0.2.0/33 -all", .valid = false, .codes = {"spf.syntax"}},
	{.txt = "v=spf1 ip6:zz::1 -all", .valid = false, .codes = {"spf.syntax"}},
	{.txt = "v=spf1 include -all", .valid = false, .codes = {"spf.syntax"}},
	{.txt = "v=spf1 all:x", .valid = false, .codes = {"spf.syntax", "spf.all.missing"}},
	{.txt = "v=spf1 mxx -all", .valid = false, .codes = {"spf.mechanism.unknown"}},
	{.txt = "v=spf1 redirect=a redirect=b", .valid = false,
	 .codes = {"spf.modifier.repeated"}},
	{.txt = "v=spf10 -all", .valid = false, .codes = {"spf.syntax"}},
};

static void test_spf_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(spf_cases) / sizeof(spf_cases[0]); i++) {
		const struct record_case *c = &spf_cases[i];
		struct mts_findings fs;
		struct mts_spf_record r;
		mts_findings_init(&fs);
		int rc = mts_spf_parse(c->txt, strlen(c->txt), &r, &fs, NULL);
		if ((rc == 0) != c->valid)
			fail_msg("%s: rc %d", c->txt, rc);
		assert_codes(&fs, c->codes, c->txt);
		if (c->valid) {
			assert_int_equal(r.lookups, c->lookups);
			assert_int_equal(r.all, c->all);
		}
		mts_spf_clear(&r);
		mts_findings_free(&fs);
	}
}

static void test_spf_select(void **state)
{
	(void)state;
	const char *txts[] = {"google-site-verification=abc", "v=spf1 mx -all", "v=spf1 -all"};
	size_t lens[] = {strlen(txts[0]), strlen(txts[1]), strlen(txts[2])};
	struct mts_findings fs;
	struct mts_spf_record r;
	mts_findings_init(&fs);
	assert_int_equal(mts_spf_select(txts, lens, 2, &r, &fs, NULL), 0);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.terms[0].kind, MTS_SPF_MX);
	assert_int_equal(r.terms[1].qualifier, '-');
	mts_spf_clear(&r);
	assert_int_equal(mts_spf_select(txts, lens, 3, &r, &fs, NULL), MTS_EINVAL);
	assert_true(mts_findings_has(&fs, MTS_F_SPF_MULTIPLE));
	assert_int_equal(mts_spf_select(txts, lens, 1, &r, &fs, NULL), MTS_ENOTFOUND);
	assert_true(mts_findings_has(&fs, MTS_F_SPF_MISSING));
	mts_findings_free(&fs);
}

static const struct record_case dmarc_cases[] = {
	{.txt = "v=DMARC1; p=reject; rua=mailto:d@example.com", .valid = true},
	{.txt = "v=DMARC1;p=quarantine;pct=50;rua=mailto:d@example.com", .valid = true,
	 .codes = {"dmarc.pct.partial"}},
	{.txt = "v=DMARC1; p=none", .valid = true,
	 .codes = {"dmarc.policy.none", "dmarc.rua.missing"}},
	{.txt = "v = DMARC1 ; p = reject ; sp = none ; adkim = s ; aspf = r ; rua = mailto:a@b.c ;",
	 .valid = true},
	{.txt = "v=DMARC1; rua=mailto:d@example.com; p=reject", .valid = true,
	 .codes = {"dmarc.syntax"}},
	{.txt = "v=DMARC1; p=reject; foo=bar; rua=mailto:d@example.com", .valid = true,
	 .codes = {"dmarc.tag.unknown"}},
	{.txt = "v=DMARC1; rua=mailto:d@example.com", .valid = false,
	 .codes = {"dmarc.policy.missing"}},
	{.txt = "v=DMARC1; p=block", .valid = false, .codes = {"dmarc.policy.invalid"}},
	{.txt = "v=DMARC1; p=reject; pct=101", .valid = false, .codes = {"dmarc.value.invalid"}},
	{.txt = "v=DMARC1; p=reject; adkim=x", .valid = false, .codes = {"dmarc.value.invalid"}},
	{.txt = "v=DMARC1; p=reject; rua=https://x.example", .valid = false,
	 .codes = {"dmarc.value.invalid"}},
	{.txt = "v=DMARC1; p=reject; junk", .valid = false, .codes = {"dmarc.syntax"}},
	{.txt = "v=DMARC1; p=reject; rua=mai", .valid = false, .codes = {"dmarc.value.invalid"}},
	{.txt = "v=dmarc1; p=reject", .valid = false, .codes = {"dmarc.syntax"}},
};

static void test_dmarc_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dmarc_cases) / sizeof(dmarc_cases[0]); i++) {
		const struct record_case *c = &dmarc_cases[i];
		struct mts_findings fs;
		struct mts_dmarc_record r;
		mts_findings_init(&fs);
		int rc = mts_dmarc_parse(c->txt, strlen(c->txt), &r, &fs, NULL);
		if ((rc == 0) != c->valid)
			fail_msg("%s: rc %d", c->txt, rc);
		assert_codes(&fs, c->codes, c->txt);
		mts_dmarc_clear(&r);
		mts_findings_free(&fs);
	}
}

static void test_dmarc_fields(void **state)
{
	(void)state;
	const char *txt = "v=DMARC1; p=quarantine; sp=reject; pct=20; adkim=s; "
			  "rua=mailto:a@example.com,mailto:b@example.net";
	struct mts_dmarc_record r;
	assert_int_equal(mts_dmarc_parse(txt, strlen(txt), &r, NULL, NULL), 0);
	assert_int_equal(r.p, MTS_DMARC_QUARANTINE);
	assert_int_equal(r.sp, MTS_DMARC_REJECT);
	assert_int_equal(r.pct, 20);
	assert_true(r.adkim_strict);
	assert_false(r.aspf_strict);
	assert_string_equal(r.rua, "mailto:a@example.com,mailto:b@example.net");
	assert_null(r.ruf);
	mts_dmarc_clear(&r);
	const char *plain = "v=DMARC1; p=reject";
	assert_int_equal(mts_dmarc_parse(plain, strlen(plain), &r, NULL, NULL), 0);
	assert_int_equal(r.sp, MTS_DMARC_REJECT); /* sp defaults to p */
	assert_int_equal(r.pct, 100);
	mts_dmarc_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf_cases),
		cmocka_unit_test(test_spf_select),
		cmocka_unit_test(test_dmarc_cases),
		cmocka_unit_test(test_dmarc_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
