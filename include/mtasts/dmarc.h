/*
 * dmarc.h - DMARC records (RFC 7489 §6.3, §6.4): tags, policy, reporting.
 * Pure: no I/O. A parsed record owns its strings; free with mts_dmarc_clear().
 */
#ifndef MTASTS_DMARC_H
#define MTASTS_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

enum mts_dmarc_policy { MTS_DMARC_NONE, MTS_DMARC_QUARANTINE, MTS_DMARC_REJECT };

struct mts_dmarc_record {
	enum mts_dmarc_policy p;
	enum mts_dmarc_policy sp;  /* = p when absent */
	unsigned pct;              /* 0..100, default 100 */
	bool adkim_strict, aspf_strict;
	char *rua;                 /* as written, or NULL */
	char *ruf;
};

bool mts_dmarc_is_dmarc(const char *txt, size_t len);
int mts_dmarc_parse(const char *txt, size_t len, struct mts_dmarc_record *out,
		    struct mts_findings *findings, struct mts_error *err);
int mts_dmarc_select(const char *const *txts, const size_t *lens, size_t n,
		     struct mts_dmarc_record *out, struct mts_findings *findings,
		     struct mts_error *err);
void mts_dmarc_clear(struct mts_dmarc_record *r);
const char *mts_dmarc_policy_name(enum mts_dmarc_policy p);

MTS_END_DECLS

#endif
