/* fuzz_report_post.c - what `report receive` and `report summary` do with
 * a stranger's bytes: the Content-Type check, gzip and the report parser
 * behind mts_report_post_decode(), then the summary of the report and the
 * date parser. The first byte picks the Content-Type; the rest is the body.
 * No crash, no leak, an answer from the documented set, and a summary whose
 * figures agree with the report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/report_post.h"
#include "mtasts/report_summary.h"

static const char *const types[] = {
	"application/tlsrpt+json", "application/tlsrpt+gzip", "Application/TLSRPT+Gzip; x=y",
	"application/json", "application/tlsrpt+json ;", NULL, "application/tlsrpt+json x",
	" application/tlsrpt+gzip",
};

static void summarise(const struct mts_report *r)
{
	int64_t rem = r->start % MTS_SUMMARY_DAY;
	int64_t day = r->start - (rem < 0 ? rem + MTS_SUMMARY_DAY : rem);
	struct mts_summary_options o = {.since = day, .until = day, .min_reporters = 2};
	struct mts_summary *s = mts_summary_new(&o);
	if (!s)
		return;
	if (mts_summary_add(s, r) == 0 && mts_summary_finish(s) == 0) {
		uint64_t failed = 0;
		for (size_t i = 0; i < s->domain_count; i++) {
			const struct mts_summary_domain *d = &s->domains[i];
			if (d->ready && d->reason_count && d->reasons[0].blocking)
				abort();
			if (d->day_count > 1 || d->reports != 1)
				abort();
			failed = d->failed > UINT64_MAX - failed ? UINT64_MAX : failed + d->failed;
		}
		if (failed > mts_report_total_failure(r) && mts_report_total_failure(r) != UINT64_MAX &&
		    s->domain_count <= 1)
			abort();
		char out[16];
		mts_summary_date_format(day, out, sizeof(out));
		int64_t back;
		if (mts_summary_date_parse(out, strlen(out), &back) == 0 && back != day)
			abort();
	}
	mts_summary_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int64_t day;
	if (mts_summary_date_parse((const char *)data, size < 10 ? size : 10, &day) == 0 &&
	    (day < 0 || day % MTS_SUMMARY_DAY))
		abort();
	const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	struct mts_report_post p;
	int st = mts_report_post_decode(ct, (const char *)data + 1, size - 1, &p);
	if (st != p.status || (st != 200 && st != 400 && st != 413 && st != 415 && st != 500))
		abort();
	if ((st == 200) != (p.report != NULL))
		abort();
	if (p.report && p.report->dates_valid)
		summarise(p.report);
	mts_report_post_clear(&p);
	return 0;
}
