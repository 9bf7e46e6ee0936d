/* test_report.c - TLS-RPT report parser, gunzip and the SQLite report store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zlib.h>

#include "core/gzip_int.h"
#include "mtasts/report.h"
#include "io/report_store_int.h"

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

/* The real reports of tests/data/tlsrpt and what each must yield. */
struct real_case {
	const char *file;
	size_t policies, failures;
	uint64_t successful, failed;
	size_t findings;
	const char *codes[3]; /* findings that must be there */
	const char *org, *report_id;
	int64_t start, end;
};

static const struct real_case real_cases[] = {
	{.file = "parsedmarc-mail.ru.json", .policies = 1, .failures = 2, .successful = 0,
	 .failed = 1, .findings = 2,
	 .codes = {"report.totals.mismatch", "report.policy_string.missing"}, .org = "Mail.ru",
	 .report_id = "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru", .start = 1708560000,
	 .end = 1708646400},
	{.file = "parsedmarc-rfc8460.json", .policies = 1, .failures = 3, .successful = 5326,
	 .failed = 303, .findings = 2, .codes = {"report.mx_host.string", "report.date.end_inclusive"},
	 .org = "Company-X", .report_id = "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
	 .start = 1459468800, .end = 1459555200},
	{.file = "parsedmarc-smtp_tls.json", .policies = 1, .failures = 2, .successful = 0,
	 .failed = 3, .findings = 1, .codes = {"report.date.end_inclusive"}},
	{.file = "reportviewer-google.json", .policies = 1, .failures = 0, .successful = 1,
	 .failed = 0, .findings = 1, .codes = {"report.date.end_inclusive"}},
	{.file = "reportviewer-microsoft.json", .policies = 2, .failures = 0, .successful = 4,
	 .failed = 0, .findings = 2, .codes = {"report.policy_string.packed"}},
	{.file = "reportviewer-no-contact.json", .policies = 1, .failures = 0, .successful = 1,
	 .failed = 0, .findings = 2,
	 .codes = {"report.contact_info.missing", "report.mx_host.prefix"}},
	{.file = "reportviewer-no-policy.json", .policies = 1, .failures = 0, .successful = 1,
	 .failed = 0, .findings = 1},
	{.file = "reportviewer-no_ip_and_mx.json", .policies = 1, .failures = 1, .successful = 0,
	 .failed = 3, .findings = 2, .codes = {"report.policy_string.missing"}},
	{.file = "reportviewer-rfc-example.json", .policies = 1, .failures = 3,
	 .successful = 5326, .failed = 303, .findings = 1},
};

static void test_real_reports(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(real_cases) / sizeof(real_cases[0]); i++) {
		const struct real_case *c = &real_cases[i];
		size_t len;
		char *buf = slurp(c->file, &len);
		struct mts_error err = {0};
		struct mts_report *r = mts_report_parse(buf, len, &err);
		if (!r)
			fail_msg("%s: rejected: %s", c->file, err.message);
		if (r->policy_count != c->policies || mts_report_failure_count(r) != c->failures ||
		    mts_report_total_successful(r) != c->successful ||
		    mts_report_total_failure(r) != c->failed || r->findings.count != c->findings)
			fail_msg("%s: %zu policies, %zu failures, %llu ok, %llu failed, %zu findings",
				 c->file, r->policy_count, mts_report_failure_count(r),
				 (unsigned long long)mts_report_total_successful(r),
				 (unsigned long long)mts_report_total_failure(r), r->findings.count);
		for (size_t k = 0; k < 3 && c->codes[k]; k++)
			if (!mts_findings_has(&r->findings, mts_finding_lookup(c->codes[k])))
				fail_msg("%s: no %s", c->file, c->codes[k]);
		if (c->org)
			assert_string_equal(r->organization_name, c->org);
		if (c->report_id)
			assert_string_equal(r->report_id, c->report_id);
		if (c->start) {
			assert_true(r->dates_valid);
			assert_int_equal(r->start, c->start);
			assert_int_equal(r->end, c->end);
		}
		mts_report_free(r);
		free(buf);
	}
}

static void test_real_details(void **state)
{
	(void)state;
	size_t len;
	char *buf = slurp("reportviewer-microsoft.json", &len);
	struct mts_report *r = mts_report_parse(buf, len, NULL);
	assert_non_null(r);
	assert_int_equal(r->policies[1].type, MTS_REPORT_POLICY_TLSA);
	assert_int_equal(r->policies[1].policy_string_count, 2);
	assert_string_equal(r->policies[1].policy_string[0],
			    "3 1 1 6007EEE553E85D8DF007A845D19EC343283D4E416E9A33F9EF3040C8B7C285BC");
	mts_report_free(r);
	free(buf);

	buf = slurp("reportviewer-no-contact.json", &len);
	r = mts_report_parse(buf, len, NULL);
	assert_non_null(r);
	assert_null(r->contact_info);
	assert_int_equal(r->policies[0].mx_host_count, 1);
	assert_string_equal(r->policies[0].mx_host[0], "mx.server.com");
	mts_report_free(r);
	free(buf);

	buf = slurp("parsedmarc-rfc8460.json", &len);
	r = mts_report_parse(buf, len, NULL);
	assert_non_null(r);
	struct mts_report_failure *f = &r->policies[0].failures[2];
	assert_string_equal(f->result_type, "validation-failure");
	assert_string_equal(f->failure_reason_code, "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
	assert_string_equal(f->receiving_ip, "203.0.113.58");
	assert_null(f->receiving_mx_helo);
	assert_int_equal(f->failed_session_count, 3);
	assert_string_equal(r->policies[0].mx_host[0], "*.mail.company-y.example");
	mts_report_free(r);
	free(buf);
}

struct quirk_case {
	const char *json;
	const char *code; /* a finding that must be there, or NULL */
	int rc;		  /* 0: parsed; else the error code */
};

#define BASE_HEAD                                                                              \
	"{\"organization-name\":\"O\",\"report-id\":\"x\",\"contact-info\":\"c\","          \
	"\"date-range\":{\"start-datetime\":\"2024-01-01T00:00:00Z\","                     \
	"\"end-datetime\":\"2024-01-02T00:00:00Z\"},"
#define POLICY(body) "\"policies\":[" body "]}"

static const struct quirk_case quirk_cases[] = {
	{.json = "{\"organization-name\":\"O\",\"report-id\":\"x\",\"date-range\":{"
		 "\"start-datetime\":\"2024-01-01T00:00:00\",\"end-datetime\":"
		 "\"2024-01-02T00:00:00\"},\"policies\":[]}",
	 .code = "report.date.no_zone"},
	{.json = "{\"policies\":[]}", .code = "report.report_id.missing"},
	{.json = "{\"policies\":[]}", .code = "report.field.missing"},
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"a\","
				  "\"policy-string\":[\"version: STSv1\"]},"
				  "\"summary\":{\"total-successful-session-count\":1,"
				  "\"total-failure-session-count\":1},\"failure-details\":[{"
				  "\"result-type\":\"new-thing\",\"failed-session-count\":1}]}"),
	 .code = "report.result_type.unknown"},
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"dane\",\"policy-domain\":\"a\"},"
				  "\"summary\":{\"total-successful-session-count\":1,"
				  "\"total-failure-session-count\":0}}"),
	 .code = "report.policy.type.unknown"},
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"no-policy-found\"},"
				  "\"summary\":{\"total-successful-session-count\":1,"
				  "\"total-failure-session-count\":0}}"),
	 .code = "report.policy_domain.missing"},
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"no-policy-found\","
				  "\"policy-domain\":\"a\"}}"),
	 .code = "report.summary.missing"},
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"no-policy-found\","
				  "\"policy-domain\":\"a\"},\"summary\":{"
				  "\"total-successful-session-count\":-1,"
				  "\"total-failure-session-count\":0}}"),
	 .code = "report.count.invalid"},
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"no-policy-found\","
				  "\"policy-domain\":\"a\"},\"summary\":{"
				  "\"total-successful-session-count\":\"7\","
				  "\"total-failure-session-count\":2}}"),
	 .code = "report.failure_details.missing"},
	{.json = "{\"organization-name\":\"O\",\"report-id\":\"x\",\"date-range\":{"
		 "\"start-datetime\":\"2024-01-02T00:00:00Z\",\"end-datetime\":"
		 "\"2024-01-01T00:00:00Z\"},\"policies\":[]}",
	 .code = "report.date.order"},
	{.json = "{\"organization-name\":\"O\",\"report-id\":\"x\",\"date-range\":{"
		 "\"start-datetime\":\"yesterday\",\"end-datetime\":"
		 "\"2024-01-01T00:00:00Z\"},\"policies\":[]}",
	 .code = "report.date.invalid"},
	{.json = "{\"organization-name\":7,\"report-id\":\"x\",\"policies\":[]}",
	 .code = "report.field.type"},
	{.json = "{\"policies\":[],\"report-id\":\"a\",\"report-id\":\"b\"}",
	 .code = "report.json.duplicate_key"},
	{.json = "[1,2]", .rc = MTS_EINVAL},
	{.json = "{\"policies\":{}}", .rc = MTS_EINVAL},
	{.json = "{\"organization-name\":\"O\"}", .rc = MTS_EINVAL},
	{.json = "{\"policies\":[", .rc = MTS_EINVAL},
	{.json = "", .rc = MTS_EINVAL},
	{.json = "{\"policies\":[],\"x\":\"\xff\"}", .rc = MTS_EINVAL},
	{.json = "{\"policies\":[],\"x\":\"a\\u0000b\"}", .rc = MTS_EINVAL},
	{.json = "{\"policies\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}", .rc = MTS_ETOOBIG},
	/* A packed policy-string nested deeper than a list stays one string. */
	{.json = BASE_HEAD POLICY("{\"policy\":{\"policy-type\":\"tlsa\",\"policy-domain\":\"a\","
				  "\"policy-string\":\"[[[[[[[[[[[[[[[[[[[[\\\"x\\\"]]]]]]]]]]]]]]]]]]]]\"},"
				  "\"summary\":{\"total-successful-session-count\":1,"
				  "\"total-failure-session-count\":0}}"),
	 .code = "report.field.type"},
	/* Brackets inside strings are not nesting. */
	{.json = "{\"policies\":[],\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
	 .code = "report.report_id.missing"},
};

static void test_quirks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(quirk_cases) / sizeof(quirk_cases[0]); i++) {
		const struct quirk_case *c = &quirk_cases[i];
		struct mts_error err = {0};
		struct mts_report *r = mts_report_parse(c->json, strlen(c->json), &err);
		if (c->rc) {
			if (r || err.code != c->rc)
				fail_msg("case %zu: want error %d, got %d (%s)", i, c->rc, err.code,
					 err.message);
			continue;
		}
		if (!r)
			fail_msg("case %zu: rejected: %s", i, err.message);
		if (c->code && !mts_findings_has(&r->findings, mts_finding_lookup(c->code)))
			fail_msg("case %zu: no %s", i, c->code);
		mts_report_free(r);
	}
}

static void test_totals_saturate(void **state)
{
	(void)state;
	const char *pol = "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"a\"},"
			  "\"summary\":{\"total-successful-session-count\":9000000000000000000,"
			  "\"total-failure-session-count\":9000000000000000000}}";
	char json[1024];
	snprintf(json, sizeof(json), "{\"report-id\":\"x\",\"policies\":[%s,%s,%s]}", pol, pol, pol);
	struct mts_report *r = mts_report_parse(json, strlen(json), NULL);
	assert_non_null(r);
	assert_true(mts_report_total_successful(r) == UINT64_MAX);
	assert_true(mts_report_total_failure(r) == UINT64_MAX);
	mts_report_free(r);
}

static void test_long_string(void **state)
{
	(void)state;
	size_t n = MTS_REPORT_MAX_STRING * 2;
	char *json = malloc(n + 64);
	assert_non_null(json);
	int head = snprintf(json, 64, "{\"policies\":[],\"report-id\":\"");
	memset(json + head, 'a', n);
	memcpy(json + head + n, "\"}", 3);
	struct mts_report *r = mts_report_parse(json, strlen(json), NULL);
	assert_non_null(r);
	assert_int_equal(strlen(r->report_id), MTS_REPORT_MAX_STRING);
	assert_true(mts_findings_has(&r->findings, MTS_F_REPORT_STRING_TRUNCATED));
	mts_report_free(r);
	free(json);
}

struct dt_case {
	const char *in;
	int rc;
	int64_t out;
	bool no_zone;
};

static const struct dt_case dt_cases[] = {
	{"2016-04-01T00:00:00Z", 0, 1459468800, false},
	{"2016-04-01t00:00:00z", 0, 1459468800, false},
	{"2016-04-01 00:00:00Z", 0, 1459468800, false},
	{"2016-04-01T00:00:00.123Z", 0, 1459468800, false},
	{"2016-04-01T02:00:00+02:00", 0, 1459468800, false},
	{"2016-03-31T19:00:00-05:00", 0, 1459468800, false},
	{"2016-04-01T00:00:00", 0, 1459468800, true},
	{"2024-02-29T00:00:00Z", 0, 1709164800, false},
	{"2023-02-29T00:00:00Z", MTS_EINVAL, 0, false},
	{"2016-13-01T00:00:00Z", MTS_EINVAL, 0, false},
	{"2016-04-01", MTS_EINVAL, 0, false},
	{"2016-04-01T00:00:00ZZ", MTS_EINVAL, 0, false},
	{"2016-04-01T24:00:00Z", MTS_EINVAL, 0, false},
	{"2016-04-01T00:00:00.Z", MTS_EINVAL, 0, false},
	{"", MTS_EINVAL, 0, false},
};

static void test_datetime(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dt_cases) / sizeof(dt_cases[0]); i++) {
		const struct dt_case *c = &dt_cases[i];
		int64_t out = 0;
		bool nz = false;
		int rc = mts_report_datetime_parse(c->in, strlen(c->in), &out, &nz);
		if (rc != c->rc || (rc == 0 && (out != c->out || nz != c->no_zone)))
			fail_msg("\"%s\": rc %d out %lld nz %d", c->in, rc, (long long)out, nz);
	}
}

/* gzip bytes of in, made here with zlib. */
static unsigned char *gz(const void *in, size_t len, size_t *out_len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
			 Z_OK);
	size_t cap = deflateBound(&zs, len) + 64;
	unsigned char *out = malloc(cap);
	assert_non_null(out);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = cap - zs.avail_out;
	deflateEnd(&zs);
	return out;
}

static void test_gzip(void **state)
{
	(void)state;
	const char text[] = "{\"policies\":[]}";
	size_t zlen;
	unsigned char *z = gz(text, sizeof(text) - 1, &zlen);
	assert_true(mts_gzip_is(z, zlen));
	assert_false(mts_gzip_is(text, sizeof(text) - 1));
	char *out;
	size_t out_len;
	struct mts_error err = {0};
	assert_int_equal(mts_gunzip(z, zlen, NULL, &out, &out_len, &err), 0);
	assert_int_equal(out_len, sizeof(text) - 1);
	assert_memory_equal(out, text, out_len);
	free(out);

	/* Two members concatenated are one stream. */
	unsigned char *two = malloc(zlen * 2);
	assert_non_null(two);
	memcpy(two, z, zlen);
	memcpy(two + zlen, z, zlen);
	assert_int_equal(mts_gunzip(two, zlen * 2, NULL, &out, &out_len, &err), 0);
	assert_int_equal(out_len, 2 * (sizeof(text) - 1));
	free(out);
	/* Garbage after the stream. */
	two[zlen] = 'x';
	assert_int_equal(mts_gunzip(two, zlen * 2, NULL, &out, &out_len, &err), MTS_EINVAL);
	free(two);

	/* Truncated at every length. */
	for (size_t cut = 0; cut < zlen; cut++)
		if (mts_gunzip(z, cut, NULL, &out, &out_len, &err) != MTS_EINVAL)
			fail_msg("truncated at %zu accepted", cut);
	/* Corrupt. */
	z[12] ^= 0xff;
	assert_int_equal(mts_gunzip(z, zlen, NULL, &out, &out_len, &err), MTS_EINVAL);
	free(z);

	/* A bomb: 30 MiB of zeros in about 30 KiB. */
	size_t big = 30u << 20;
	char *zeros = calloc(1, big);
	assert_non_null(zeros);
	z = gz(zeros, big, &zlen);
	free(zeros);
	assert_int_equal(mts_gunzip(z, zlen, NULL, &out, &out_len, &err), MTS_ETOOBIG);
	assert_non_null(strstr(err.message, "gzip bomb"));
	/* Without the ratio cap, the size cap still holds. */
	struct mts_gzip_limits l;
	mts_gzip_limits_default(&l);
	l.max_ratio = 0;
	assert_int_equal(mts_gunzip(z, zlen, &l, &out, &out_len, &err), MTS_ETOOBIG);
	assert_non_null(strstr(err.message, "decompressed"));
	l.max_in = 100;
	assert_int_equal(mts_gunzip(z, zlen, &l, &out, &out_len, &err), MTS_ETOOBIG);
	free(z);
}

/* mts_report_same(): one change per case to the RFC's example, or none. */
static const struct same_case {
	const char *name, *from, *to; /* replace the first from by to; NULL: as is */
	bool same;
} same_cases[] = {
	{.name = "itself", .same = true},
	{.name = "reindented", .from = "{", .to = "{\n   ", .same = true},
	{.name = "mx-host as an array", .from = "\"mx-host\": \"*.mail.company-y.example\"",
	 .to = "\"mx-host\": [\"*.mail.company-y.example\"]", .same = true},
	{.name = "inclusive end", .from = "2016-04-01T23:59:59Z", .to = "2016-04-02T00:00:00Z",
	 .same = true},
	{.name = "another contact", .from = "sts-reporting@company-x.example",
	 .to = "evil@attacker.example", .same = false},
	{.name = "another count", .from = "\"total-successful-session-count\": 5326",
	 .to = "\"total-successful-session-count\": 5327", .same = false},
	{.name = "another failure ip", .from = "2001:db8:abcd:0012::1", .to = "2001:db8::2",
	 .same = false},
	{.name = "another start", .from = "2016-04-01T00:00:00Z", .to = "2016-03-31T00:00:00Z",
	 .same = false},
};

static void test_same(void **state)
{
	(void)state;
	size_t len;
	char *base = slurp("parsedmarc-rfc8460.json", &len);
	struct mts_error err = {0};
	struct mts_report *a = mts_report_parse(base, len, &err);
	assert_non_null(a);
	for (size_t i = 0; i < sizeof(same_cases) / sizeof(same_cases[0]); i++) {
		const struct same_case *c = &same_cases[i];
		char body[16384];
		size_t n = len;
		if (c->from) {
			const char *at = strstr(base, c->from);
			if (!at)
				fail_msg("%s: '%s' not in the example", c->name, c->from);
			size_t head = (size_t)(at - base), fl = strlen(c->from), tl = strlen(c->to);
			assert_true(len - fl + tl < sizeof(body));
			memcpy(body, base, head);
			memcpy(body + head, c->to, tl);
			memcpy(body + head + tl, at + fl, len - head - fl);
			n = len - fl + tl;
		} else {
			assert_true(len < sizeof(body));
			memcpy(body, base, len);
		}
		struct mts_report *b = mts_report_parse(body, n, &err);
		if (!b)
			fail_msg("%s: %s", c->name, err.message);
		if (mts_report_same(a, b) != c->same || mts_report_same(b, a) != c->same)
			fail_msg("%s: want %s", c->name, c->same ? "same" : "different");
		mts_report_free(b);
	}
	mts_report_free(a);
	free(base);
}

static void test_store(void **state)
{
	(void)state;
	char dir[] = "/tmp/mtasts-test-store-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char url[320], path[256];
	snprintf(path, sizeof(path), "%s/r.db", dir);
	snprintf(url, sizeof(url), "sqlite://%s", path);
	struct mts_error err = {0};
	struct mts_report_store *s;
	assert_int_equal(mts_report_store_open("redis://x", &s, &err), MTS_EUSAGE);
	assert_int_equal(mts_report_store_open("nowhere", &s, &err), MTS_EUSAGE);
	if (mts_report_store_open(url, &s, &err) != 0)
		fail_msg("open: %s", err.message);

	size_t n_ingested = 0, n_dup = 0;
	for (size_t i = 0; i < sizeof(real_cases) / sizeof(real_cases[0]); i++) {
		size_t len;
		char *buf = slurp(real_cases[i].file, &len);
		struct mts_report *r = mts_report_parse(buf, len, &err);
		assert_non_null(r);
		int64_t id = 0;
		int rc = mts_report_store_ingest(s, r, buf, len, real_cases[i].file, 1000, &id,
						 &err);
		if (rc < 0)
			fail_msg("ingest %s: %s", real_cases[i].file, err.message);
		assert_true(id > 0);
		n_ingested += rc == MTS_INGEST_STORED;
		n_dup += rc == MTS_INGEST_DUPLICATE;
		/* A second copy is always a duplicate of the same id. */
		int64_t id2 = 0;
		assert_int_equal(mts_report_store_ingest(s, r, buf, len, "again", 1001, &id2, &err),
				 MTS_INGEST_DUPLICATE);
		assert_int_equal(id, id2);
		mts_report_free(r);
		free(buf);
	}
	/* The two copies of the RFC's example share organization and report-id. */
	assert_int_equal(n_ingested, 8);
	assert_int_equal(n_dup, 1);
	assert_int_equal(mts_report_store_quarantine(s, "bad.json", "not JSON", "x", 1, 1000, &err),
			 0);

	struct mts_report_row *rows;
	size_t count;
	assert_int_equal(mts_report_store_list(s, NULL, &rows, &count, &err), 0);
	assert_int_equal(count, 8);
	mts_report_rows_free(rows, count);
	assert_int_equal(mts_report_store_list(s, "foo-bar.io", &rows, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(rows[0].domains, "foo-bar.io");
	int64_t some = rows[0].id;
	mts_report_rows_free(rows, count);
	assert_int_equal(mts_report_store_list(s, "random.net", &rows, &count, &err), 0);
	assert_int_equal(count, 1);
	assert_int_equal(rows[0].successful, 4);
	assert_int_equal(rows[0].finding_count, 2);
	int64_t ms = rows[0].id;
	mts_report_rows_free(rows, count);

	/* A report read back equals the parsed one in what matters. */
	struct mts_report *back;
	assert_int_equal(mts_report_store_get(s, ms, &back, &err), 0);
	assert_string_equal(back->organization_name, "Microsoft Corporation");
	assert_int_equal(back->policy_count, 2);
	assert_int_equal(back->policies[1].type, MTS_REPORT_POLICY_TLSA);
	assert_int_equal(back->policies[1].policy_string_count, 2);
	assert_int_equal(back->findings.count, 2);
	assert_true(mts_findings_has(&back->findings, MTS_F_REPORT_POLICY_STRING_PACKED));
	mts_report_free(back);
	assert_int_equal(mts_report_store_get(s, some, &back, &err), 0);
	assert_true(back->dates_valid);
	mts_report_free(back);
	assert_int_equal(mts_report_store_get(s, 9999, &back, &err), MTS_ENOTFOUND);
	mts_report_store_close(s);

	/* Reopening migrates nothing and keeps everything. */
	assert_int_equal(mts_report_store_open(url, &s, &err), 0);
	assert_int_equal(mts_report_store_list(s, NULL, &rows, &count, &err), 0);
	assert_int_equal(count, 8);
	mts_report_rows_free(rows, count);
	mts_report_store_close(s);

	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT (SELECT MAX(version) FROM schema_version),"
					    " (SELECT COUNT(*) FROM schema_version),"
					    " (SELECT COUNT(*) FROM failure_details),"
					    " (SELECT COUNT(*) FROM policies),"
					    " (SELECT COUNT(*) FROM quarantine)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), MTS_REPORT_STORE_SQLITE_SCHEMA);
	assert_int_equal(sqlite3_column_int(st, 1), 1);
	assert_int_equal(sqlite3_column_int(st, 2), 2 + 3 + 2 + 1); /* rfc example stored once */
	assert_int_equal(sqlite3_column_int(st, 3), 9);
	assert_int_equal(sqlite3_column_int(st, 4), 1);
	sqlite3_finalize(st);
	/* A schema newer than the program is refused, not clobbered. */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mts_report_store_open(url, &s, &err), MTS_ESTORE);
	assert_non_null(strstr(err.message, "newer"));

	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_reports), cmocka_unit_test(test_real_details),
		cmocka_unit_test(test_quirks), cmocka_unit_test(test_totals_saturate),	     cmocka_unit_test(test_long_string),
		cmocka_unit_test(test_datetime),     cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
