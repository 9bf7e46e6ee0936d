/* test_report_mail.c - TLS reports taken out of mail messages (GMime). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/gzip_int.h"
#include "mtasts/report.h"
#include "mtasts/report_mail.h"

static char *slurp(const char *name, size_t *len)
{
	const char *src = getenv("MTASTS_SOURCE_DIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/data/tlsrpt/%s", src ? src : ".", name);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s", path);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, fp);
	fclose(fp);
	return buf;
}

static void test_real_message(void **state)
{
	(void)state;
	size_t len;
	char *buf = slurp("parsedmarc-google.com_smtp_tls_report.eml", &len);
	assert_true(mts_report_mail_is(buf, len));
	struct mts_report_mail *m;
	struct mts_error err = {0};
	assert_int_equal(mts_report_mail_extract(buf, len, &m, &err), 0);
	assert_int_equal(m->part_count, 1);
	assert_string_equal(m->parts[0].content_type, "application/tlsrpt+gzip");
	assert_int_equal(m->parts[0].findings.count, 0);
	assert_non_null(m->message_id);
	assert_true(mts_gzip_is(m->parts[0].data, m->parts[0].len));
	char *json;
	size_t json_len;
	assert_int_equal(
	    mts_gunzip(m->parts[0].data, m->parts[0].len, NULL, &json, &json_len, &err), 0);
	struct mts_report *r = mts_report_parse(json, json_len, &err);
	assert_non_null(r);
	assert_string_equal(r->organization_name, "Google Inc.");
	assert_string_equal(r->report_id, "2024-09-03T00:00:00Z_cardinalhealth.ca");
	assert_int_equal(r->policy_count, 1);
	assert_string_equal(r->policies[0].policy_domain, "cardinalhealth.ca");
	assert_int_equal(mts_report_total_successful(r), 48);
	mts_report_free(r);
	free(json);
	mts_report_mail_free(m);
	free(buf);
}

#define REPORT_JSON "{\"organization-name\":\"O\",\"report-id\":\"r1\",\"policies\":[]}"
/* base64 of REPORT_JSON */
#define REPORT_B64 "eyJvcmdhbml6YXRpb24tbmFtZSI6Ik8iLCJyZXBvcnQtaWQiOiJyMSIsInBvbGljaWVzIjpbXX0="

#define HEAD(ct)                                                                                   \
	"From: reporter@example.net\r\nTo: tlsrpt@example.com\r\nSubject: Report\r\n"              \
	"Message-ID: <m1@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: " ct "\r\n\r\n"
#define TLSRPT "multipart/report; report-type=tlsrpt; boundary=\"B\""
#define TEXT_PART "--B\r\nContent-Type: text/plain\r\n\r\nThis is a TLS report.\r\n"
#define PART(ct, cte, body)                                                                        \
	"--B\r\nContent-Type: " ct "\r\nContent-Transfer-Encoding: " cte "\r\n\r\n" body "\r\n"
#define END "--B--\r\n"

struct mail_case {
	const char *name;
	const char *msg;
	int rc;
	size_t parts;
	const char *code; /* a finding on the first part, or NULL for none */
};

static const struct mail_case mail_cases[] = {
    {"tlsrpt+json base64",
     HEAD(TLSRPT) TEXT_PART PART("application/tlsrpt+json", "base64", REPORT_B64) END, 0, 1, NULL},
    {"tlsrpt+json 7bit", HEAD(TLSRPT) PART("application/tlsrpt+json", "7bit", REPORT_JSON) END, 0,
     1, NULL},
    {"type case", HEAD(TLSRPT) PART("Application/TLSRPT+JSON", "7bit", REPORT_JSON) END, 0, 1,
     NULL},
    {"application/json", HEAD(TLSRPT) PART("application/json", "base64", REPORT_B64) END, 0, 1,
     "report.mail.content_type"},
    {"gzip label on JSON", HEAD(TLSRPT) PART("application/tlsrpt+gzip", "base64", REPORT_B64) END,
     0, 1, "report.mail.label_mismatch"},
    {"multipart/mixed",
     HEAD("multipart/mixed; boundary=\"B\"") PART("application/tlsrpt+json", "base64", REPORT_B64)
	 END,
     0, 1, "report.mail.not_tlsrpt"},
    {"single part", HEAD("application/tlsrpt+json") REPORT_JSON "\r\n", 0, 1,
     "report.mail.not_tlsrpt"},
    {"two reports",
     HEAD(TLSRPT) PART("application/tlsrpt+json", "base64", REPORT_B64)
	 PART("application/tlsrpt+json", "7bit", REPORT_JSON) END,
     0, 2, NULL},
    {"no report part", HEAD(TLSRPT) TEXT_PART PART("application/pdf", "base64", "JVBERi0=") END, 0,
     0, NULL},
    {"plain text", HEAD("text/plain") "hello\r\n", 0, 0, NULL},
    {"mbox From_ line",
     "From reporter@example.net Mon Sep  2 00:00:00 2024\n" HEAD(TLSRPT)
	 PART("application/tlsrpt+json", "base64", REPORT_B64) END,
     0, 1, NULL},
    {"not a message", "{\"policies\":[]}", MTS_EINVAL, 0, NULL},
    {"empty", "", MTS_EINVAL, 0, NULL},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct mts_report_mail *m = NULL;
		struct mts_error err = {0};
		int rc = mts_report_mail_extract(c->msg, strlen(c->msg), &m, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, err.message);
		if (rc) {
			assert_null(m);
			continue;
		}
		if (m->part_count != c->parts)
			fail_msg("%s: %zu parts, want %zu", c->name, m->part_count, c->parts);
		if (c->parts) {
			const struct mts_findings *f = &m->parts[0].findings;
			if (!c->code && f->count)
				fail_msg("%s: unexpected finding %s", c->name,
					 mts_finding_info(f->items[0].id)->code);
			if (c->code && !mts_findings_has(f, mts_finding_lookup(c->code)))
				fail_msg("%s: no %s", c->name, c->code);
			/* Every case's report decodes to the same JSON. */
			struct mts_report *r =
			    mts_report_parse(m->parts[0].data, m->parts[0].len, &err);
			if (!r)
				fail_msg("%s: part is not the report: %s", c->name, err.message);
			assert_string_equal(r->report_id, "r1");
			mts_report_free(r);
		}
		mts_report_mail_free(m);
	}
}

/* A message that nests multiparts 40 deep is refused before GMime recurses. */
static void test_deep(void **state)
{
	(void)state;
	size_t cap = 1 << 16, o = 0;
	char *msg = malloc(cap);
	assert_non_null(msg);
	o += (size_t)snprintf(msg + o, cap - o,
			      "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
			      "boundary=\"b0\"\r\n\r\n");
	for (int i = 1; i <= 40; i++)
		o += (size_t)snprintf(
		    msg + o, cap - o,
		    "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i - 1, i);
	o += (size_t)snprintf(msg + o, cap - o,
			      "--b40\r\nContent-Type: application/tlsrpt+json\r\n\r\n"
			      "%s\r\n",
			      REPORT_JSON);
	struct mts_report_mail *m = NULL;
	struct mts_error err = {0};
	assert_int_equal(mts_report_mail_extract(msg, o, &m, &err), MTS_ETOOBIG);
	assert_null(m);
	free(msg);
}

static void test_is(void **state)
{
	(void)state;
	assert_true(mts_report_mail_is("Received: x\r\n", 13));
	assert_true(mts_report_mail_is("X-Foo-1: y", 10));
	assert_false(mts_report_mail_is("{\"a\":1}", 7));
	assert_false(mts_report_mail_is("\x1f\x8b\x08", 3));
	assert_false(mts_report_mail_is("Subject", 7));
	assert_false(mts_report_mail_is("", 0));
	assert_true(mts_report_mail_is("From a@b Mon\nTo: c\n", 19));
	assert_false(mts_report_mail_is("From a@b Mon\n{}", 15));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_message),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_deep),
	    cmocka_unit_test(test_is),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
