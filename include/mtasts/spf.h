/*
 * spf.h - SPF records (RFC 7208), enough for the "is my domain protected"
 * picture: grammar, the terms that cost DNS lookups, the all mechanism.
 *
 * mts_spf_parse() checks one record's grammar (§4.6, §12) and returns its
 * terms in a caller-owned struct (free with mts_spf_clear()). The 10-lookup
 * limit (§4.6.4) spans included records: the engine resolves includes and
 * sums mts_spf_record.lookups. Pure: no I/O.
 */
#ifndef MTASTS_SPF_H
#define MTASTS_SPF_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_SPF_MAX_LOOKUPS 10 /* RFC 7208 §4.6.4 */
#define MTS_SPF_MAX_TERMS 128  /* bound on terms we keep */

enum mts_spf_kind {
	MTS_SPF_ALL, MTS_SPF_INCLUDE, MTS_SPF_A, MTS_SPF_MX, MTS_SPF_PTR, MTS_SPF_IP4,
	MTS_SPF_IP6, MTS_SPF_EXISTS, MTS_SPF_REDIRECT, MTS_SPF_EXP, MTS_SPF_UNKNOWN_MOD,
};

struct mts_spf_term {
	enum mts_spf_kind kind;
	char qualifier;    /* '+', '-', '~', '?' for mechanisms; 0 for modifiers */
	char *value;       /* domain-spec, network, or NULL; owned */
};

struct mts_spf_record {
	size_t count;
	struct mts_spf_term *terms;
	unsigned lookups;   /* DNS-querying terms in this record (not recursing) */
	char all;           /* qualifier of "all", or 0 when absent */
	const char *redirect; /* borrowed from terms, or NULL */
};

bool mts_spf_is_spf(const char *txt, size_t len);
int mts_spf_parse(const char *txt, size_t len, struct mts_spf_record *out,
		  struct mts_findings *findings, struct mts_error *err);
/* Choose the SPF record among a name's TXT records (§4.5: several = permerror). */
int mts_spf_select(const char *const *txts, const size_t *lens, size_t n,
		   struct mts_spf_record *out, struct mts_findings *findings, struct mts_error *err);
void mts_spf_clear(struct mts_spf_record *r);

MTS_END_DECLS

#endif
