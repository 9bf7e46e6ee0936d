/*
 * report_summary.h - what a set of TLS reports says about each policy
 * domain, day by day, and whether it is ready to move from testing to
 * enforce (RFC 8461 §5, RFC 8460 §4.3).
 *
 * Feed reports one by one (mts_summary_add), then mts_summary_finish()
 * sorts everything bytewise and decides the verdicts: the result depends
 * only on the reports, never on their order or on the store they came from.
 * A report counts on the UTC day its date range starts; reports with
 * invalid dates and policies without a domain are not counted. Domains
 * and MX names are compared lowercase, without a final dot.
 *
 * The verdict for a domain is "ready" when over the period:
 *  - it has reports;
 *  - some reporter applied an MTA-STS policy for it (policy-type sts);
 *  - no session failed in a way enforce turns into mail not delivered:
 *    starttls-not-supported, certificate-host-mismatch,
 *    certificate-expired, certificate-not-trusted, validation-failure
 *    (failures under a TLSA policy are DANE's, whatever the STS mode);
 *  - every MX host of the reported STS policies was reported by at least
 *    min_reporters distinct organizations.
 * Policy fetch failures (sts-policy-*), DANE and unknown result types are
 * noted with reasons that do not block.
 *
 * The summary owns everything in it: free it with mts_summary_free().
 * Pure: no I/O, no clock.
 */
#ifndef MTASTS_REPORT_SUMMARY_H
#define MTASTS_REPORT_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts/error.h"
#include "mtasts/report.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_SUMMARY_DAY 86400
#define MTS_SUMMARY_MAX_DAYS 3660 /* a period of ten years at most */

struct mts_summary_options {
	int64_t since, until; /* first and last day of the period, 00:00 UTC, inclusive */
	const char *domain;   /* only this policy domain; NULL for all */
	size_t min_reporters; /* for the verdict; 0 is taken as 1 */
};

struct mts_summary_failure {
	char *result_type;
	char *mx_host;	    /* receiving-mx-hostname, "" when not reported */
	char *receiving_ip; /* "" when not reported */
	char *reporter;	    /* organization-name */
	uint64_t sessions;
};

struct mts_summary_day {
	int64_t day; /* 00:00 UTC */
	size_t reports;
	uint64_t successful, failed;
	struct mts_summary_failure *failures; /* by type, mx, ip, reporter */
	size_t failure_count;
};

struct mts_summary_type {
	char *result_type;
	uint64_t sessions;
	bool blocking; /* enforce would not deliver these */
	bool is_new;   /* not reported for this domain in the previous period */
};

struct mts_summary_mx {
	char *mx_host; /* as in the policies' mx-host (a pattern: "*.example.com") */
	size_t reporters;
};

struct mts_summary_reason {
	const char *code; /* "summary.failures.blocking", ... */
	bool blocking;
	char *message;
};

struct mts_summary_domain {
	char *domain;
	size_t reports, reporters;
	uint64_t successful, failed;
	struct mts_summary_day *days; /* days with reports, oldest first */
	size_t day_count;
	struct mts_summary_type *types; /* failure types over the period, by name */
	size_t type_count;
	struct mts_summary_mx *mx; /* by name */
	size_t mx_count;
	bool ready;
	struct mts_summary_reason *reasons;
	size_t reason_count;
};

struct mts_summary {
	struct mts_summary_options options;
	char *domain_filter; /* normalised copy of options.domain */
	size_t reports;	     /* reports counted in the period */
	struct mts_summary_domain *domains; /* by name, after finish */
	size_t domain_count;
	bool ready;	   /* every domain ready */
	bool failures;	   /* some session failed in the period */
	struct mts_summary_facts *facts; /* gathered before finish */
};

/* Returns NULL on allocation failure or when the period is not whole days
 * (since <= until, both multiples of MTS_SUMMARY_DAY, at most
 * MTS_SUMMARY_MAX_DAYS long). */
struct mts_summary *mts_summary_new(const struct mts_summary_options *o);
/* Count a report: its days in the period, its failure types in the period
 * of the same length just before (for "new"); other reports are ignored.
 * Returns 0 or MTS_ENOMEM. */
int mts_summary_add(struct mts_summary *s, const struct mts_report *r);
/* Sort, merge and decide. Returns 0 or MTS_ENOMEM. Call once. */
int mts_summary_finish(struct mts_summary *s);
void mts_summary_free(struct mts_summary *s);

/* The first day of the previous period. */
int64_t mts_summary_previous_since(const struct mts_summary_options *o);

/* Is this result type one that enforce turns into mail not delivered? */
bool mts_summary_result_blocking(const char *result_type);

/* Parse a day "YYYY-MM-DD" (a real date, 1970 to 9999) into Unix seconds
 * at 00:00 UTC. Returns 0 or MTS_EINVAL. */
int mts_summary_date_parse(const char *s, size_t len, int64_t *day);
/* Format a day as "YYYY-MM-DD" into out (at least 11 bytes). */
void mts_summary_date_format(int64_t day, char *out, size_t cap);

MTS_END_DECLS

#endif
