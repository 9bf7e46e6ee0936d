/*
 * report_post.h - a TLS report POSTed to the HTTPS endpoint of RFC 8460
 * §5.4: what its Content-Type says, and the report its body holds.
 *
 * mts_report_post_decode() decides the HTTP answer for a body: 415 when
 * the media type is not application/tlsrpt+gzip or application/tlsrpt+json,
 * 413 when the body inflates past the gzip caps (gzip.h) or the report
 * limits (report.h), 400 when it is not a report, and 200 with the parsed
 * report otherwise. Like the other readers it trusts the bytes over the
 * label: a gzip body labelled +json is inflated, a JSON body labelled +gzip
 * is read as JSON. Parameters of the media type are ignored.
 *
 * The decoded report and JSON belong to the struct: mts_report_post_clear()
 * frees them. Pure: no I/O.
 */
#ifndef MTASTS_REPORT_POST_H
#define MTASTS_REPORT_POST_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/report.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_REPORT_POST_MAX_BYTES (20u << 20) /* a request body, compressed or not */

struct mts_report_post {
	int status;	  /* 200, 400, 413, 415, or 500 when out of memory */
	char reason[MTS_ERROR_MSG_MAX + 64]; /* one line for the client (and the quarantine) */
	bool gzip;	  /* the label said +gzip */
	const char *json; /* the report's JSON: the body, or json_owned */
	size_t json_len;
	char *json_owned;	   /* the inflated body, when it was gzip */
	struct mts_report *report; /* when status is 200 */
};

/* Is the Content-Type (may be NULL) one of RFC 8460's? Sets *gzip. */
bool mts_report_post_media_type(const char *content_type, bool *gzip);

/* Decode a body of len bytes (at most MTS_REPORT_POST_MAX_BYTES: the server
 * caps what it reads). Always fills *p; returns p->status. */
int mts_report_post_decode(const char *content_type, const char *body, size_t len,
			   struct mts_report_post *p);
void mts_report_post_clear(struct mts_report_post *p);

MTS_END_DECLS

#endif
