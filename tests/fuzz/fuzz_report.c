/* fuzz_report.c - the TLS-RPT report parser on arbitrary bytes: no crash, no
 * leak, and a parsed report is consistent (counts within limits, every
 * finding a known code, every string NUL-terminated within its cap). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mts_error err = {0};
	struct mts_report *r = mts_report_parse((const char *)data, size, &err);
	if (!r) {
		if (err.code >= 0)
			abort();
		return 0;
	}
	if (r->policy_count > MTS_REPORT_MAX_POLICIES ||
	    mts_report_failure_count(r) > MTS_REPORT_MAX_FAILURES || !r->report_id ||
	    !r->organization_name || strlen(r->report_id) > MTS_REPORT_MAX_STRING + 32)
		abort();
	for (size_t i = 0; i < r->policy_count; i++) {
		const struct mts_report_policy *p = &r->policies[i];
		if (!p->policy_type || p->policy_string_count > MTS_REPORT_MAX_LIST ||
		    p->mx_host_count > MTS_REPORT_MAX_LIST)
			abort();
		for (size_t j = 0; j < p->mx_host_count; j++)
			if (strlen(p->mx_host[j]) > MTS_REPORT_MAX_STRING)
				abort();
		for (size_t j = 0; j < p->failure_count; j++)
			if (!p->failures[j].result_type)
				abort();
	}
	for (size_t i = 0; i < r->findings.count; i++)
		if (!mts_finding_info(r->findings.items[i].id) || !r->findings.items[i].message)
			abort();
	mts_report_free(r);
	return 0;
}
