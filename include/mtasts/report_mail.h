/*
 * report_mail.h - the TLS reports inside a mail message (RFC 8460 §5.3):
 * multipart/report; report-type=tlsrpt, with the report in an
 * application/tlsrpt+gzip or application/tlsrpt+json part, usually base64.
 *
 * mts_report_mail_extract() parses the message with GMime and returns the
 * decoded bytes of each part that holds a report (still gzip when it was
 * gzip: the caller sniffs and inflates, see gzip.h), with findings on how
 * the message departs from RFC 8460 §5.3. Like the report parser it trusts
 * the content, not the labels: an application/gzip or application/json
 * part that holds a report is taken, and said so. Subject, filename and
 * TLS-Report-Domain headers are not trusted for anything.
 *
 * The result is owned by the caller: free it with mts_report_mail_free().
 * No I/O beyond memory. GMime is initialised on first use (thread-safe) and
 * left initialised: its tables cannot be set up again after a shutdown.
 */
#ifndef MTASTS_REPORT_MAIL_H
#define MTASTS_REPORT_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_REPORT_MAIL_MAX_BYTES (32u << 20) /* a message: base64 of a 20 MiB gzip fits */
#define MTS_REPORT_MAIL_MAX_PARTS 64	      /* MIME entities walked */
#define MTS_REPORT_MAIL_MAX_NESTING 32	      /* multipart and message/rfc822 levels */
#define MTS_REPORT_MAIL_MAX_REPORTS 16	      /* report parts taken from one message */
#define MTS_REPORT_MAIL_MAX_HEADERS 1000      /* header fields, all parts together */

struct mts_report_mail_part {
	char *content_type; /* "application/tlsrpt+gzip", lowercase */
	char *filename;	    /* as sent, NULL when none; not trusted */
	char *data;	    /* decoded transfer encoding; NUL-terminated */
	size_t len;
	struct mts_findings findings; /* the message's and this part's deviations */
};

struct mts_report_mail {
	char *message_id; /* NULL when absent */
	struct mts_report_mail_part *parts;
	size_t part_count;
};

/* Do the bytes look like a mail message (a header field first, after an
 * mbox "From " line if any)? JSON and gzip never do. */
bool mts_report_mail_is(const char *buf, size_t len);

/* Parse a message and take its report parts. Returns 0 with *out (which
 * may hold no part: the caller decides what a message without a report
 * is), MTS_EINVAL when the bytes are not a message, MTS_ETOOBIG over a
 * limit above, or MTS_ENOMEM; err says why. */
int mts_report_mail_extract(const char *buf, size_t len, struct mts_report_mail **out,
			    struct mts_error *err);
void mts_report_mail_free(struct mts_report_mail *m);

MTS_END_DECLS

#endif
