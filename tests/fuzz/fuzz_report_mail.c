/* fuzz_report_mail.c - report parts taken out of arbitrary bytes read as a
 * mail message (GMime underneath): no crash, no leak, limits hold, and each
 * part is NUL-terminated and carries only known findings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/report_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mts_report_mail *m = NULL;
	struct mts_error err = {0};
	int rc = mts_report_mail_extract((const char *)data, size, &m, &err);
	if (rc < 0) {
		if (m)
			abort();
		return 0;
	}
	if (rc > 0 || !m || m->part_count > MTS_REPORT_MAIL_MAX_REPORTS)
		abort();
	for (size_t i = 0; i < m->part_count; i++) {
		const struct mts_report_mail_part *p = &m->parts[i];
		if (!p->content_type || !p->data || p->data[p->len] != '\0' || p->len > size)
			abort();
		for (size_t j = 0; j < p->findings.count; j++)
			if (!mts_finding_info(p->findings.items[j].id))
				abort();
	}
	mts_report_mail_free(m);
	return 0;
}
