/* report_post.c - decide the answer to a POSTed TLS report (see
 * include/mtasts/report_post.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/gzip_int.h"
#include "mtasts/report_post.h"

bool mts_report_post_media_type(const char *ct, bool *gzip)
{
	*gzip = false;
	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	static const char *const types[] = {"application/tlsrpt+json", "application/tlsrpt+gzip"};
	for (size_t i = 0; i < 2; i++) {
		if (n == strlen(types[i]) && strncasecmp(ct, types[i], n) == 0) {
			*gzip = i == 1;
			/* after the type: nothing, or parameters */
			const char *rest = ct + n;
			while (*rest == ' ' || *rest == '\t')
				rest++;
			return *rest == '\0' || *rest == ';';
		}
	}
	return false;
}

static int answer(struct mts_report_post *p, int status, const char *what, const char *why)
{
	p->status = status;
	snprintf(p->reason, sizeof(p->reason), "%s%s%s", what, why ? ": " : "", why ? why : "");
	return status;
}

int mts_report_post_decode(const char *content_type, const char *body, size_t len,
			   struct mts_report_post *p)
{
	memset(p, 0, sizeof(*p));
	if (!mts_report_post_media_type(content_type, &p->gzip))
		return answer(p, 415,
			      "Content-Type must be application/tlsrpt+gzip or"
			      " application/tlsrpt+json (RFC 8460 section 5.4)",
			      NULL);
	if (len == 0)
		return answer(p, 400, "empty body", NULL);
	if (len > MTS_REPORT_POST_MAX_BYTES)
		return answer(p, 413, "body over the size limit", NULL);
	struct mts_error err = {0};
	p->json = body;
	p->json_len = len;
	if (mts_gzip_is(body, len)) {
		size_t out_len;
		if (mts_gunzip(body, len, NULL, &p->json_owned, &out_len, &err) < 0) {
			if (err.code == MTS_ENOMEM)
				return answer(p, 500, "out of memory", NULL);
			return answer(p, err.code == MTS_ETOOBIG ? 413 : 400, "not a report",
				      err.message);
		}
		p->json = p->json_owned;
		p->json_len = out_len;
	}
	p->report = mts_report_parse(p->json, p->json_len, &err);
	if (!p->report) {
		if (err.code == MTS_ENOMEM)
			return answer(p, 500, "out of memory", NULL);
		return answer(p, err.code == MTS_ETOOBIG ? 413 : 400, "not a report", err.message);
	}
	return answer(p, 200, "report accepted", NULL);
}

void mts_report_post_clear(struct mts_report_post *p)
{
	mts_report_free(p->report);
	free(p->json_owned);
	p->report = NULL;
	p->json_owned = NULL;
	p->json = NULL;
}
