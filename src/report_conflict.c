/* report_conflict.c - the quarantine reason of a report whose organization
 * and report-id are stored with other content, shared by `report ingest`
 * and `report receive` (report_cmd.h). */
#include <stdio.h>
#include <string.h>

#include "core/text_int.h"
#include "mtasts/findings.h"
#include "report_cmd.h"

void report_conflict_reason(const struct mts_report *r, int64_t stored, char *out, size_t cap)
{
	char org[MTS_PRINTABLE_BUF], rid[MTS_PRINTABLE_BUF];
	mts_printable(r->organization_name, strlen(r->organization_name), org, sizeof(org));
	mts_printable(r->report_id, strlen(r->report_id), rid, sizeof(rid));
	snprintf(out, cap, "%s: %.60s report-id %.60s is stored as report %lld with other content",
		 mts_finding_info(MTS_F_REPORT_REPORT_ID_CONFLICT)->code, org, rid,
		 (long long)stored);
}
