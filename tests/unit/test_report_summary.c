/* test_report_summary.c - per domain and day figures, the enforce verdict,
 * and the decision on a POSTed report body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "mtasts/report_post.h"
#include "mtasts/report_summary.h"

#define DAY 86400
#define NOV1 1793491200 /* 2026-11-01T00:00:00Z */

/* A report of one STS policy for domain, on day (offset from NOV1), from
 * org, listing mx (comma-separated) and with failures given as
 * "type@mx=count;..." (mx may be empty). */
static char *report_json(const char *org, const char *id, const char *domain, int day,
			 const char *ptype, const char *mx, uint64_t ok, const char *fails,
			 uint64_t undetailed)
{
	static char buf[8192];
	char mxs[512] = "", details[4096] = "";
	size_t used = 0;
	uint64_t failed = undetailed;
	if (mx && *mx) {
		char copy[256];
		snprintf(copy, sizeof(copy), "%s", mx);
		for (char *save = NULL, *m = strtok_r(copy, ",", &save); m;
		     m = strtok_r(NULL, ",", &save))
			used += (size_t)snprintf(mxs + used, sizeof(mxs) - used, "%s\"%s\"",
						 used ? "," : "", m);
	}
	used = 0;
	if (fails && *fails) {
		char copy[1024];
		snprintf(copy, sizeof(copy), "%s", fails);
		for (char *save = NULL, *f = strtok_r(copy, ";", &save); f;
		     f = strtok_r(NULL, ";", &save)) {
			char *at = strchr(f, '@'), *eq = strchr(f, '=');
			*at = *eq = '\0';
			uint64_t n = strtoull(eq + 1, NULL, 10);
			failed += n;
			used += (size_t)snprintf(details + used, sizeof(details) - used,
						 "%s{\"result-type\":\"%s\",\"receiving-mx-hostname\":"
						 "\"%s\",\"receiving-ip\":\"192.0.2.1\","
						 "\"failed-session-count\":%llu}",
						 used ? "," : "", f, at + 1, (unsigned long long)n);
		}
	}
	int64_t start = NOV1 + (int64_t)day * DAY;
	char s1[32], s2[32];
	mts_summary_date_format(start, s1, sizeof(s1));
	mts_summary_date_format(start + DAY, s2, sizeof(s2));
	snprintf(buf, sizeof(buf),
		 "{\"organization-name\":\"%s\",\"report-id\":\"%s\",\"date-range\":"
		 "{\"start-datetime\":\"%sT00:00:00Z\",\"end-datetime\":\"%sT00:00:00Z\"},"
		 "\"policies\":[{\"policy\":{\"policy-type\":\"%s\",\"policy-domain\":\"%s\","
		 "\"mx-host\":[%s]},\"summary\":{\"total-successful-session-count\":%llu,"
		 "\"total-failure-session-count\":%llu},\"failure-details\":[%s]}]}",
		 org, id, s1, s2, ptype, domain, mxs, (unsigned long long)ok,
		 (unsigned long long)failed, details);
	return buf;
}

struct in_report {
	const char *org, *domain, *ptype, *mx, *fails;
	int day;
	uint64_t ok, undetailed;
};

struct verdict_case {
	const char *name;
	struct in_report reports[6];
	size_t min_reporters;
	bool ready;
	const char *reasons[4]; /* codes expected, in order */
	const char *fresh[3];	/* failure types new since the previous period */
};

#define R(...) {__VA_ARGS__}
static const struct verdict_case verdict_cases[] = {
	{.name = "two reporters, no failures: ready",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = 3, .ok = 10),
		     R(.org = "B", .mx = "mx1.r.example", .day = 4, .ok = 20)},
	 .min_reporters = 2, .ready = true},
	{.name = "one reporter of two needed",
	 .reports = {R(.org = "A", .mx = "mx1.r.example,mx2.r.example", .day = 3, .ok = 10),
		     R(.org = "A", .mx = "mx1.r.example,mx2.r.example", .day = 4, .ok = 10)},
	 .min_reporters = 2, .ready = false,
	 .reasons = {"summary.mx.few_reporters", "summary.mx.few_reporters"}},
	{.name = "an expired certificate blocks",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = 3, .ok = 10,
		       .fails = "certificate-expired@mx1.r.example=4")},
	 .min_reporters = 1, .ready = false, .reasons = {"summary.failures.blocking"},
	 .fresh = {"certificate-expired"}},
	{.name = "policy fetch errors are noted, not blocking",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = 3, .ok = 10,
		       .fails = "sts-policy-fetch-error@=2")},
	 .min_reporters = 1, .ready = true, .reasons = {"summary.failures.policy"},
	 .fresh = {"sts-policy-fetch-error"}},
	{.name = "DANE failures do not block the STS verdict",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = 3, .ok = 10),
		     R(.org = "B", .ptype = "tlsa", .day = 3, .ok = 1,
		       .fails = "certificate-expired@mx1.r.example=5")},
	 .min_reporters = 1, .ready = true, .reasons = {"summary.failures.other"},
	 .fresh = {"certificate-expired"}},
	{.name = "only TLSA and no-policy-found: nothing to judge",
	 .reports = {R(.org = "A", .ptype = "no-policy-found", .day = 3, .ok = 10)},
	 .min_reporters = 1, .ready = false, .reasons = {"summary.no_sts_policy"}},
	{.name = "a type seen in the previous period is not new",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = -2, .ok = 1,
		       .fails = "validation-failure@mx1.r.example=1"),
		     R(.org = "A", .mx = "mx1.r.example", .day = 2, .ok = 1,
		       .fails = "validation-failure@mx1.r.example=1;starttls-not-supported@mx1.r.example=2")},
	 .min_reporters = 1, .ready = false,
	 .reasons = {"summary.failures.blocking", "summary.failures.blocking"},
	 .fresh = {"starttls-not-supported"}},
	{.name = "failed sessions without details block",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = 1, .ok = 1, .undetailed = 3)},
	 .min_reporters = 1, .ready = false, .reasons = {"summary.failures.undetailed"}},
	{.name = "reports outside the period do not count",
	 .reports = {R(.org = "A", .mx = "mx1.r.example", .day = 9, .ok = 1)},
	 .min_reporters = 1, .ready = false, .reasons = {"summary.no_reports"}},
};

static void test_verdicts(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(verdict_cases) / sizeof(verdict_cases[0]); c++) {
		const struct verdict_case *vc = &verdict_cases[c];
		/* The period: Nov 1 to Nov 5; the previous one Oct 27 to 31. */
		struct mts_summary_options o = {.since = NOV1,
						.until = NOV1 + 4 * DAY,
						.domain = "R.Example.",
						.min_reporters = vc->min_reporters};
		struct mts_summary *s = mts_summary_new(&o);
		assert_non_null(s);
		for (size_t i = 0; i < 6 && vc->reports[i].org; i++) {
			const struct in_report *ir = &vc->reports[i];
			char id[16];
			snprintf(id, sizeof(id), "id%zu", i);
			const char *j = report_json(ir->org, id, ir->domain ? ir->domain : "r.example",
						    ir->day, ir->ptype ? ir->ptype : "sts", ir->mx,
						    ir->ok, ir->fails, ir->undetailed);
			struct mts_error err = {0};
			struct mts_report *r = mts_report_parse(j, strlen(j), &err);
			if (!r)
				fail_msg("%s: %s: %s", vc->name, err.message, j);
			assert_int_equal(mts_summary_add(s, r), 0);
			mts_report_free(r);
		}
		assert_int_equal(mts_summary_finish(s), 0);
		assert_int_equal(s->domain_count, 1);
		const struct mts_summary_domain *d = &s->domains[0];
		assert_string_equal(d->domain, "r.example");
		if (d->ready != vc->ready)
			fail_msg("%s: ready %d, want %d", vc->name, d->ready, vc->ready);
		size_t want = 0;
		while (want < 4 && vc->reasons[want])
			want++;
		if (d->reason_count != want)
			fail_msg("%s: %zu reasons, want %zu (first: %s)", vc->name, d->reason_count,
				 want, d->reason_count ? d->reasons[0].message : "-");
		for (size_t i = 0; i < want; i++)
			assert_string_equal(d->reasons[i].code, vc->reasons[i]);
		size_t nfresh = 0;
		for (size_t i = 0; i < d->type_count; i++)
			if (d->types[i].is_new) {
				assert_true(nfresh < 3 && vc->fresh[nfresh]);
				assert_string_equal(d->types[i].result_type, vc->fresh[nfresh]);
				nfresh++;
			}
		assert_true(nfresh == 3 || !vc->fresh[nfresh]);
		mts_summary_free(s);
	}
}

/* The figures: sums per day, failures merged by type, mx, ip and reporter,
 * the same whatever the order the reports come in. */
static void test_figures_and_order(void **state)
{
	(void)state;
	const struct in_report in[] = {
		{.org = "B", .mx = "mx1.r.example", .day = 0, .ok = 7,
		 .fails = "certificate-expired@MX1.r.example.=3"},
		{.org = "A", .mx = "mx1.r.example", .day = 0, .ok = 5,
		 .fails = "certificate-expired@mx1.r.example=2;validation-failure@mx1.r.example=1"},
		{.org = "A", .mx = "mx1.r.example", .day = 2, .ok = 11,
		 .fails = "certificate-expired@mx1.r.example=4"},
		{.org = "A", .domain = "other.example", .mx = "mx.other.example", .day = 1, .ok = 100},
	};
	char *first = NULL;
	for (int order = 0; order < 2; order++) {
		struct mts_summary_options o = {.since = NOV1, .until = NOV1 + 4 * DAY,
						.min_reporters = 2};
		struct mts_summary *s = mts_summary_new(&o);
		assert_non_null(s);
		for (size_t k = 0; k < 4; k++) {
			size_t i = order ? 3 - k : k;
			char id[16];
			snprintf(id, sizeof(id), "f%zu", i);
			const char *j = report_json(in[i].org, id,
						    in[i].domain ? in[i].domain : "r.example",
						    in[i].day, "sts", in[i].mx, in[i].ok, in[i].fails,
						    0);
			struct mts_report *r = mts_report_parse(j, strlen(j), NULL);
			assert_non_null(r);
			assert_int_equal(mts_summary_add(s, r), 0);
			mts_report_free(r);
		}
		assert_int_equal(mts_summary_finish(s), 0);
		assert_int_equal(s->reports, 4);
		assert_int_equal(s->domain_count, 2);
		assert_string_equal(s->domains[0].domain, "other.example");
		const struct mts_summary_domain *d = &s->domains[1];
		assert_int_equal(d->reports, 3);
		assert_int_equal(d->reporters, 2);
		assert_int_equal(d->successful, 5 + 7 + 11);
		assert_int_equal(d->failed, 3 + 3 + 4);
		assert_int_equal(d->day_count, 2);
		assert_int_equal(d->days[0].day, NOV1);
		assert_int_equal(d->days[0].reports, 2);
		assert_int_equal(d->days[0].successful, 12);
		assert_int_equal(d->days[0].failed, 6);
		assert_int_equal(d->days[0].failure_count, 3);
		/* sorted: type, then mx, ip, reporter; mx names lowercased */
		assert_string_equal(d->days[0].failures[0].reporter, "A");
		assert_int_equal(d->days[0].failures[0].sessions, 2);
		assert_string_equal(d->days[0].failures[1].reporter, "B");
		assert_string_equal(d->days[0].failures[1].mx_host, "mx1.r.example");
		assert_string_equal(d->days[0].failures[2].result_type, "validation-failure");
		assert_int_equal(d->days[1].day, NOV1 + 2 * DAY);
		assert_int_equal(d->type_count, 2);
		assert_string_equal(d->types[0].result_type, "certificate-expired");
		assert_int_equal(d->types[0].sessions, 9);
		assert_true(d->types[0].blocking);
		assert_int_equal(d->types[1].sessions, 1);
		assert_int_equal(d->mx_count, 1);
		assert_int_equal(d->mx[0].reporters, 2);
		assert_false(d->ready);
		assert_false(s->ready);
		assert_true(s->failures);
		/* a fingerprint of everything, to compare the two orders */
		char fp[1024];
		size_t used = 0;
		for (size_t i = 0; i < s->domain_count; i++)
			for (size_t j = 0; j < s->domains[i].day_count; j++)
				for (size_t k = 0; k < s->domains[i].days[j].failure_count; k++) {
					const struct mts_summary_failure *f =
						&s->domains[i].days[j].failures[k];
					used += (size_t)snprintf(fp + used, sizeof(fp) - used,
								 "%s|%s|%s|%s|%llu;",
								 f->result_type, f->mx_host,
								 f->receiving_ip, f->reporter,
								 (unsigned long long)f->sessions);
				}
		if (!first)
			first = strdup(fp);
		else
			assert_string_equal(first, fp);
		mts_summary_free(s);
	}
	free(first);
}

struct date_case {
	const char *in;
	int ok;
	int64_t day;
};

static void test_dates(void **state)
{
	(void)state;
	static const struct date_case cases[] = {
		{"2026-11-01", 0, NOV1},   {"1970-01-01", 0, 0},
		{"2024-02-29", 0, 1709164800}, {"2023-02-29", MTS_EINVAL, 0},
		{"2100-02-29", MTS_EINVAL, 0}, {"2000-02-29", 0, 951782400},
		{"2026-13-01", MTS_EINVAL, 0}, {"2026-04-31", MTS_EINVAL, 0},
		{"1969-12-31", MTS_EINVAL, 0}, {"2026-1-01", MTS_EINVAL, 0},
		{"2026/11/01", MTS_EINVAL, 0}, {"2026-11-01T", MTS_EINVAL, 0},
		{"", MTS_EINVAL, 0},	       {"9999-12-31", 0, 253402214400},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t day = -1;
		int rc = mts_summary_date_parse(cases[i].in, strlen(cases[i].in), &day);
		if (rc != cases[i].ok)
			fail_msg("%s: rc %d", cases[i].in, rc);
		if (rc == 0) {
			assert_int_equal(day, cases[i].day);
			char back[16];
			mts_summary_date_format(day, back, sizeof(back));
			assert_string_equal(back, cases[i].in);
		}
	}
	struct mts_summary_options bad = {.since = NOV1 + 1, .until = NOV1 + DAY};
	assert_null(mts_summary_new(&bad));
	struct mts_summary_options back = {.since = NOV1 + DAY, .until = NOV1};
	assert_null(mts_summary_new(&back));
	struct mts_summary_options one = {.since = NOV1, .until = NOV1};
	assert_int_equal(mts_summary_previous_since(&one), NOV1 - DAY);
}

static char *gz(const char *s, size_t len, size_t *out_len)
{
	uLong cap = compressBound((uLong)len) + 64;
	char *out = malloc(cap);
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)s;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = z.total_out;
	deflateEnd(&z);
	return out;
}

struct post_case {
	const char *name, *content_type, *body;
	bool gzip_body;
	int status;
	const char *reason; /* part of it */
};

static void test_post_decode(void **state)
{
	(void)state;
	const char *good = "{\"organization-name\":\"O\",\"report-id\":\"x\",\"policies\":[]}";
	static char big_zeros[3 << 20];
	const struct post_case cases[] = {
		{"json", "application/tlsrpt+json", good, false, 200, "accepted"},
		{"gzip", "application/tlsrpt+gzip", good, true, 200, "accepted"},
		{"type case and parameters", " Application/TLSRPT+GZIP ; charset=x", good, true, 200,
		 NULL},
		{"gzip body labelled json", "application/tlsrpt+json", good, true, 200, NULL},
		{"json body labelled gzip", "application/tlsrpt+gzip", good, false, 200, NULL},
		{"no content type", NULL, good, false, 415, "Content-Type"},
		{"plain json", "application/json", good, false, 415, NULL},
		{"prefix only", "application/tlsrpt+jsonx", good, false, 415, NULL},
		{"not a report", "application/tlsrpt+json", "{\"a\":1}", false, 400, "not a report"},
		{"empty", "application/tlsrpt+json", "", false, 400, "empty"},
		{"bomb", "application/tlsrpt+gzip", big_zeros, true, 413, "gzip"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct post_case *pc = &cases[i];
		size_t len = pc->body == big_zeros ? sizeof(big_zeros) : strlen(pc->body);
		if (pc->body == big_zeros)
			memset(big_zeros, ' ', sizeof(big_zeros));
		char *body = (char *)pc->body, *z = NULL;
		if (pc->gzip_body)
			body = z = gz(pc->body, len, &len);
		struct mts_report_post p;
		int st = mts_report_post_decode(pc->content_type, body, len, &p);
		if (st != pc->status)
			fail_msg("%s: status %d, want %d (%s)", pc->name, st, pc->status, p.reason);
		assert_int_equal(p.status, st);
		if (pc->reason && !strstr(p.reason, pc->reason))
			fail_msg("%s: reason '%s' lacks '%s'", pc->name, p.reason, pc->reason);
		if (st == 200) {
			assert_non_null(p.report);
			assert_string_equal(p.report->report_id, "x");
			assert_int_equal(p.json_len, strlen(good));
		} else {
			assert_null(p.report);
		}
		mts_report_post_clear(&p);
		free(z);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_figures_and_order),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_post_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
