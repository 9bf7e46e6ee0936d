/* report_mail_none.c - mts_report_mail_extract() in a build without GMime:
 * a message is recognised (report_mail_common.c) and refused with an error
 * that says why, so that ingest quarantines it instead of misreading it. */
#include "io/report_mail_int.h"

int mts_report_mail_extract(const char *buf, size_t len, struct mts_report_mail **out,
			    struct mts_error *err)
{
	*out = NULL;
	return mts_error_set(
		err, MTS_EUSAGE,
		"a mail message: this mtasts was built without GMime, which reads mail");
}
