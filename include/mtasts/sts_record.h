/*
 * sts_record.h - the _mta-sts TXT record (RFC 8461 §3.1).
 *
 * A DNS answer may hold several TXT records, each made of several strings;
 * the DNS adapter joins a record's strings without spaces and hands the
 * records here. Records that do not begin with "v=STSv1" are discarded
 * (reported as info), unless they are clearly meant as the STS record
 * (a v field whose value starts with "sts" in any case, or an id field:
 * V=STSv1, v=STSv2, v=STS1, id=1): those are errors, and with no real
 * record they make the record set broken rather than absent. More than one
 * v=STSv1 record means no policy.
 * Results are plain values in caller-owned structs. Pure: no I/O.
 */
#ifndef MTASTS_STS_RECORD_H
#define MTASTS_STS_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_STS_ID_MAX 32 /* RFC 8461 §3.1: 1*32(ALPHA / DIGIT) */

struct mts_sts_record {
	char id[MTS_STS_ID_MAX + 1];
};

/* Does this record claim to be an STS record ("v=STSv1" at its start)? */
bool mts_sts_record_is_sts(const char *txt, size_t len);

/* Parse one record that begins with v=STSv1. Returns 0 when valid, MTS_EINVAL
 * otherwise; every problem is a finding (column = byte offset + 1). */
int mts_sts_record_parse(const char *txt, size_t len, struct mts_sts_record *out,
			 struct mts_findings *findings, struct mts_error *err);

/* Choose the record from all TXT records at _mta-sts.<domain>. Returns 0 with
 * *out filled when exactly one valid v=STSv1 record exists; MTS_ENOTFOUND
 * when there is none and none is meant as one; MTS_EINVAL when there are
 * several, the one is invalid, or none but one clearly meant as one. */
int mts_sts_record_select(const char *const *txts, const size_t *lens, size_t n,
			  struct mts_sts_record *out, struct mts_findings *findings,
			  struct mts_error *err);

/* A fresh, RFC-valid id for a policy published at `now`: the UTC time as
 * YYYYMMDDThhmmss followed by 8 hex digits of the policy's digest, so that
 * the id changes whenever the policy bytes change. out must hold 33 bytes. */
void mts_sts_id_generate(long long now, const unsigned char digest[32],
			 char out[MTS_STS_ID_MAX + 1]);

/* "v=STSv1; id=<id>" into out (size cap); returns length or MTS_ETOOBIG. */
int mts_sts_record_format(const char *id, char *out, size_t cap);

MTS_END_DECLS

#endif
