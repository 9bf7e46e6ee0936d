/*
 * report.h - the SMTP TLS report (RFC 8460 §4): a JSON document a sending
 * MTA mails or posts once a day, parsed into plain structs.
 *
 * The parser is strict in what it reports and tolerant in what it accepts:
 * real reporters write mx-host as a string, keep "mx: " prefixes, pack TLSA
 * policy strings into one JSON string, omit policy-domain or contact-info,
 * end the day at 23:59:59 or at the next midnight, send totals that disagree
 * with their details. Each such deviation becomes a finding attached to the
 * report (report->findings); only a body that is not a report at all (not
 * UTF-8 JSON, not an object, no policies array, over a limit) is refused.
 *
 * mts_report_parse() returns a report owned by the caller: free it with
 * mts_report_free(). Pure: no I/O, no clock.
 */
#ifndef MTASTS_REPORT_H
#define MTASTS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_REPORT_MAX_BYTES (20u << 20) /* a decompressed report; RFC 8460 sets none */
#define MTS_REPORT_MAX_DEPTH 16		 /* a report nests 5 deep; jansson recurses */
#define MTS_REPORT_MAX_POLICIES 10000	 /* policies[] entries */
#define MTS_REPORT_MAX_FAILURES 100000	 /* failure-details[] entries, whole report */
#define MTS_REPORT_MAX_LIST 1024	 /* policy-string[] and mx-host[] entries */
#define MTS_REPORT_MAX_STRING 2048	 /* bytes of one string field kept */

enum mts_report_policy_type {
	MTS_REPORT_POLICY_OTHER = 0, /* unknown; the sent string is in policy_type */
	MTS_REPORT_POLICY_STS,
	MTS_REPORT_POLICY_TLSA,
	MTS_REPORT_POLICY_NONE, /* "no-policy-found" */
};

struct mts_report_failure {
	char *result_type; /* as sent ("" when missing); see mts_report_result_known() */
	char *sending_mta_ip, *receiving_mx_hostname, *receiving_mx_helo, *receiving_ip;
	char *additional_information, *failure_reason_code; /* each NULL when absent */
	uint64_t failed_session_count;
};

struct mts_report_policy {
	enum mts_report_policy_type type;
	char *policy_type;    /* as sent ("" when missing) */
	char *policy_domain;  /* NULL when absent */
	char **policy_string; /* unpacked when a reporter packed them into one string */
	size_t policy_string_count;
	char **mx_host; /* "mx: " prefixes removed */
	size_t mx_host_count;
	uint64_t total_successful, total_failure;
	struct mts_report_failure *failures;
	size_t failure_count;
};

struct mts_report {
	char *organization_name; /* "" when missing */
	char *contact_info;	 /* NULL when absent or null */
	char *report_id;	 /* when missing: "body-digest:" and a digest of the body */
	char *start_text, *end_text; /* the date-times as sent, NULL when absent */
	int64_t start, end;	     /* Unix seconds, UTC; end exclusive; 0 when invalid */
	bool dates_valid;
	struct mts_report_policy *policies;
	size_t policy_count;
	struct mts_findings findings; /* every deviation found while parsing */
};

/* Parse a report body (JSON, already decompressed). Returns NULL when the
 * body is not a report: err->code MTS_EINVAL (not JSON, not UTF-8, not an
 * object, no policies array), MTS_ETOOBIG (over a byte, depth or count limit)
 * or MTS_ENOMEM, and err->message says why in one line. */
struct mts_report *mts_report_parse(const char *buf, size_t len, struct mts_error *err);
void mts_report_free(struct mts_report *r);

/* An empty report to fill (stores rebuild reports from their tables). */
struct mts_report *mts_report_new(void);

/* Sums over every policy, saturating at UINT64_MAX (counts come from strangers). */
uint64_t mts_report_total_successful(const struct mts_report *r);
uint64_t mts_report_total_failure(const struct mts_report *r);
size_t mts_report_failure_count(const struct mts_report *r);

/* Do a and b say the same thing: organization, report-id, contact, date
 * range, and every policy with its counts and failure details, in order?
 * Compared as parsed, so two copies that differ only in how they were
 * written (whitespace, key order, mx-host as a string or an array, an
 * inclusive end) are the same; findings are not compared. */
bool mts_report_same(const struct mts_report *a, const struct mts_report *b);
/* Is s one of the result types of RFC 8460 §4.3? */
bool mts_report_result_known(const char *s);
enum mts_report_policy_type mts_report_policy_type_parse(const char *s);

/* Parse an RFC 3339 date-time ("2016-04-01T00:00:00Z", fractions, offsets;
 * lowercase t/z and a space separator are accepted). Returns 0 and *out in
 * Unix seconds, with *no_zone set when the zone was missing (then UTC), or
 * MTS_EINVAL. */
int mts_report_datetime_parse(const char *s, size_t len, int64_t *out, bool *no_zone);

MTS_END_DECLS

#endif
