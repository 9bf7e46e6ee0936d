/*
 * tlsrpt_record.h - the _smtp._tls TXT record (RFC 8460 §3).
 *
 * Same selection rules as sts_record.h with v=TLSRPTv1. A parsed record owns
 * its rua URIs; free with mts_tlsrpt_record_clear(). Pure: no I/O.
 */
#ifndef MTASTS_TLSRPT_RECORD_H
#define MTASTS_TLSRPT_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_TLSRPT_MAX_RUA 32

enum mts_rua_scheme { MTS_RUA_MAILTO, MTS_RUA_HTTPS };

struct mts_rua {
	enum mts_rua_scheme scheme;
	char *uri;      /* as written (percent-encoding kept) */
	char *target;   /* mailto: the decoded address; https: the URI */
};

struct mts_tlsrpt_record {
	size_t rua_count;
	struct mts_rua *rua;
};

bool mts_tlsrpt_record_is_tlsrpt(const char *txt, size_t len);
int mts_tlsrpt_record_parse(const char *txt, size_t len, struct mts_tlsrpt_record *out,
			    struct mts_findings *findings, struct mts_error *err);
int mts_tlsrpt_record_select(const char *const *txts, const size_t *lens, size_t n,
			     struct mts_tlsrpt_record *out, struct mts_findings *findings,
			     struct mts_error *err);
void mts_tlsrpt_record_clear(struct mts_tlsrpt_record *r);

MTS_END_DECLS

#endif
