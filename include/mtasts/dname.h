/*
 * dname.h - host names and MX patterns (RFC 8461 §3.2, §4.1; RFC 5321 Domain).
 *
 * Pure functions over (buf, len); outputs go to caller buffers of
 * MTS_DNAME_MAX + 1 bytes (MTS_MX_PATTERN_MAX + 1 for patterns). No I/O.
 */
#ifndef MTASTS_DNAME_H
#define MTASTS_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_DNAME_MAX 253 /* presentation form without the trailing dot */
#define MTS_LABEL_MAX 63
#define MTS_MX_PATTERN_MAX (MTS_DNAME_MAX + 2) /* "*." + a Domain (RFC 8461 §3.2) */

enum mts_dname_status {
	MTS_DNAME_OK = 0,
	MTS_DNAME_EMPTY,
	MTS_DNAME_TOO_LONG,
	MTS_DNAME_LABEL_EMPTY,
	MTS_DNAME_LABEL_TOO_LONG,
	MTS_DNAME_BAD_CHAR,
	MTS_DNAME_HYPHEN,      /* label starts or ends with '-' */
	MTS_DNAME_NON_ASCII,   /* a U-label: convert with mts_dname_to_alabel */
	MTS_DNAME_BAD_WILDCARD,/* '*' anywhere but as the whole leftmost label */
};

/* Validate and normalise an LDH host name: lowercase, one trailing dot
 * removed. When allow_wildcard, "*." + name is accepted, name up to
 * MTS_DNAME_MAX characters (the policy grammar's "*." Domain; such a pattern
 * over MTS_DNAME_MAX in all can match no legal host name, but it is valid),
 * and out must hold MTS_MX_PATTERN_MAX + 1 bytes; otherwise MTS_DNAME_MAX + 1.
 * *had_trailing_dot (may be NULL) tells whether a dot was removed. Returns
 * the status; on OK, out holds the normal form. */
enum mts_dname_status mts_dname_normalize(const char *name, size_t len, bool allow_wildcard,
					  char *out, bool *had_trailing_dot);
const char *mts_dname_status_text(enum mts_dname_status s);

/* U-label input to A-labels (libidn2, IDNA2008 with transitional mapping off). */
int mts_dname_to_alabel(const char *name, size_t len, char out[MTS_DNAME_MAX + 1]);

/* RFC 8461 §4.1: case-insensitive; trailing dots ignored; a pattern "*.rest"
 * matches exactly one extra label in front of "rest"; "*" nowhere else.
 * Both inputs are taken as A-labels (see mts_mx_match_idna for U-labels). */
bool mts_mx_match(const char *pattern, size_t plen, const char *host, size_t hlen);
/* The same after converting either side from U-labels where needed. */
bool mts_mx_match_idna(const char *pattern, const char *host);

MTS_END_DECLS

#endif
