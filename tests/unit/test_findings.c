/* test_findings.c - the findings list, the code table, and docs/FINDINGS.md
 * listing every code (read from ${MTASTS_SOURCE_DIR}). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"

static void test_findings_add(void **state)
{
	(void)state;
	struct mts_findings fs;
	mts_findings_init(&fs);
	assert_int_equal(fs.count, 0);
	assert_false(fs.enomem);
	assert_int_equal(mts_findings_add(&fs, MTS_F_POLICY_MX_INVALID, 3, 5, "mx \"%s\"", "a_b"), 0);
	assert_int_equal(mts_findings_add(&fs, MTS_F_POLICY_LINE_LF, 1, 0, "lf"), 0);
	assert_int_equal(mts_findings_add(&fs, MTS_F_STS_RECORD_IGNORED, 0, 0, "%d", 42), 0);
	assert_int_equal(fs.count, 3);
	const struct mts_finding *f = &fs.items[0];
	assert_int_equal(f->id, MTS_F_POLICY_MX_INVALID);
	assert_int_equal(f->severity, MTS_SEV_ERROR);
	assert_int_equal(f->line, 3);
	assert_int_equal(f->column, 5);
	assert_string_equal(f->message, "mx \"a_b\"");
	assert_null(f->subject);
	assert_string_equal(fs.items[2].message, "42");
	assert_int_equal(fs.items[1].severity, MTS_SEV_WARNING);
	assert_int_equal(fs.items[2].severity, MTS_SEV_INFO);

	assert_int_equal(mts_findings_count(&fs, MTS_SEV_INFO), 3);
	assert_int_equal(mts_findings_count(&fs, MTS_SEV_WARNING), 2);
	assert_int_equal(mts_findings_count(&fs, MTS_SEV_ERROR), 1);
	assert_true(mts_findings_has(&fs, MTS_F_POLICY_LINE_LF));
	assert_false(mts_findings_has(&fs, MTS_F_POLICY_LINE_CR));

	/* a long message is cut, not refused */
	char big[2000];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(mts_findings_add(&fs, MTS_F_POLICY_LARGE, 0, 0, "%s", big), 0);
	assert_true(strlen(fs.items[3].message) < sizeof(big) - 1);
	assert_true(strlen(fs.items[3].message) > 0);

	/* an unknown id is a usage error and records nothing */
	assert_int_equal(mts_findings_add(&fs, MTS_F__COUNT, 0, 0, "x"), MTS_EUSAGE);
	assert_int_equal(fs.count, 4);
	/* a NULL list records nothing and succeeds */
	assert_int_equal(mts_findings_add(NULL, MTS_F_POLICY_LARGE, 0, 0, "x"), 0);

	mts_findings_free(&fs);
	assert_int_equal(fs.count, 0);
	assert_null(fs.items);
	mts_findings_free(&fs); /* twice is harmless */
	mts_findings_free(NULL);
}

static void test_findings_subject(void **state)
{
	(void)state;
	struct mts_findings fs;
	mts_findings_init(&fs);
	char domain[32] = "example.com";
	fs.subject = domain;
	mts_findings_add(&fs, MTS_F_STS_RECORD_MISSING, 0, 0, "none");
	snprintf(domain, sizeof(domain), "example.net"); /* the list keeps its own copy */
	mts_findings_add(&fs, MTS_F_STS_RECORD_MISSING, 0, 0, "none");
	fs.subject = NULL;
	mts_findings_add(&fs, MTS_F_STS_RECORD_MISSING, 0, 0, "none");
	assert_string_equal(fs.items[0].subject, "example.com");
	assert_string_equal(fs.items[1].subject, "example.net");
	assert_ptr_not_equal(fs.items[1].subject, domain);
	assert_null(fs.items[2].subject);
	mts_findings_free(&fs);
}

static void test_findings_append(void **state)
{
	(void)state;
	struct mts_findings dst, src, empty;
	mts_findings_init(&dst);
	mts_findings_init(&src);
	mts_findings_init(&empty);
	mts_findings_add(&dst, MTS_F_POLICY_LINE_LF, 1, 0, "first");
	mts_findings_add(&src, MTS_F_POLICY_MX_DUPLICATE, 2, 3, "second");
	src.subject = "mx.example.com";
	mts_findings_add(&src, MTS_F_POLICY_MX_BROAD, 4, 5, "third");
	assert_int_equal(mts_findings_append(&dst, &src), 0);
	assert_int_equal(dst.count, 3);
	assert_int_equal(src.count, 0);
	assert_null(src.items);
	assert_string_equal(dst.items[0].message, "first");
	assert_string_equal(dst.items[1].message, "second");
	assert_string_equal(dst.items[2].message, "third");
	assert_string_equal(dst.items[2].subject, "mx.example.com");
	assert_int_equal(dst.items[2].line, 4);
	assert_int_equal(mts_findings_append(&dst, &empty), 0);
	assert_int_equal(dst.count, 3);

	/* a lost finding in src stays known in dst */
	mts_findings_add(&src, MTS_F_POLICY_LARGE, 0, 0, "x");
	src.enomem = true;
	assert_int_equal(mts_findings_append(&dst, &src), 0);
	assert_true(dst.enomem);
	assert_int_equal(dst.count, 4);
	mts_findings_free(&dst);
	mts_findings_free(&src);
}

static void test_findings_cap(void **state)
{
	(void)state;
	struct mts_findings fs;
	mts_findings_init(&fs);
	for (int i = 0; i < 10050; i++)
		assert_int_equal(mts_findings_add(&fs, MTS_F_POLICY_LINE_EMPTY, (unsigned)i, 0, "e"), 0);
	assert_int_equal(fs.count, 10000); /* a hostile input cannot grow it forever */
	assert_false(fs.enomem);
	mts_findings_free(&fs);
}

static void test_finding_table(void **state)
{
	(void)state;
	assert_int_equal(mts_finding_lookup("sts.policy.mx.invalid"), MTS_F_POLICY_MX_INVALID);
	assert_int_equal(mts_finding_lookup("sts.record.id.too_long"), MTS_F_STS_RECORD_ID_TOO_LONG);
	assert_int_equal(mts_finding_lookup("tlsrpt.record.rua.scheme"),
			 MTS_F_TLSRPT_RECORD_RUA_SCHEME);
	assert_int_equal(mts_finding_lookup("sts.policy"), MTS_F__COUNT);
	assert_int_equal(mts_finding_lookup(""), MTS_F__COUNT);
	assert_int_equal(mts_finding_lookup("STS.POLICY.MX.INVALID"), MTS_F__COUNT);
	assert_null(mts_finding_info(MTS_F__COUNT));
	for (unsigned i = 0; i < MTS_F__COUNT; i++) {
		const struct mts_finding_info *info = mts_finding_info((enum mts_finding_code)i);
		assert_non_null(info);
		assert_non_null(info->code);
		assert_non_null(info->rfc);
		assert_non_null(info->hint);
		assert_true(info->severity <= MTS_SEV_ERROR);
		/* codes are dotted lowercase names, unique, and found by lookup */
		assert_int_equal(mts_finding_lookup(info->code), i);
		assert_non_null(strchr(info->code, '.'));
		for (const char *c = info->code; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' ||
			      *c == '_'))
				fail_msg("code \"%s\" has '%c'", info->code, *c);
	}
	assert_string_equal(mts_severity_name(MTS_SEV_ERROR), "error");
	assert_string_equal(mts_severity_name(MTS_SEV_WARNING), "warning");
	assert_string_equal(mts_severity_name(MTS_SEV_INFO), "info");
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	size_t cap = 1 << 20, used = 0;
	char *buf = malloc(cap + 1);
	if (buf) {
		used = fread(buf, 1, cap, fp);
		buf[used] = '\0';
	}
	fclose(fp);
	return buf;
}

static const char *severity_word(enum mts_severity s)
{
	return s == MTS_SEV_ERROR ? "error" : s == MTS_SEV_WARNING ? "warning" : "info";
}

/* Every code has a table row "| `code` | severity | ..." in docs/FINDINGS.md,
 * with the severity the code declares; every row names a known code. */
static void test_findings_documented(void **state)
{
	(void)state;
	const char *src = getenv("MTASTS_SOURCE_DIR");
	if (!src)
		src = ".";
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/FINDINGS.md", src);
	char *doc = slurp(path);
	if (!doc)
		fail_msg("cannot read %s (set MTASTS_SOURCE_DIR)", path);
	unsigned missing = 0;
	for (unsigned i = 0; i < MTS_F__COUNT; i++) {
		const struct mts_finding_info *info = mts_finding_info((enum mts_finding_code)i);
		char row[200];
		snprintf(row, sizeof(row), "| `%s` | %s |", info->code, severity_word(info->severity));
		if (!strstr(doc, row)) {
			print_error("docs/FINDINGS.md lacks the row \"%s\"\n", row);
			missing++;
		}
	}
	unsigned unknown = 0;
	for (const char *p = strstr(doc, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
		const char *start = p + 4, *end = strchr(start, '`');
		if (!end || end - start >= 100)
			continue;
		char code[100];
		memcpy(code, start, (size_t)(end - start));
		code[end - start] = '\0';
		if (mts_finding_lookup(code) == MTS_F__COUNT) {
			print_error("docs/FINDINGS.md lists an unknown code \"%s\"\n", code);
			unknown++;
		}
	}
	free(doc);
	assert_int_equal(missing, 0);
	assert_int_equal(unknown, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_findings_add),
		cmocka_unit_test(test_findings_subject),
		cmocka_unit_test(test_findings_append),
		cmocka_unit_test(test_findings_cap),
		cmocka_unit_test(test_finding_table),
		cmocka_unit_test(test_findings_documented),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
