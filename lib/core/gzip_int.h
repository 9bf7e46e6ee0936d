/*
 * gzip_int.h - (internal) in-memory gzip decompression with limits, for report bodies
 * (RFC 8460 §5.3: application/tlsrpt+gzip) that come from strangers.
 *
 * Three caps stand between a hostile input and our memory: the compressed
 * size, the decompressed size, and the ratio of the two (a gzip bomb inflates
 * about 1000:1; JSON reports rarely beyond 30:1). The output is malloc'd and
 * owned by the caller. Pure: no I/O.
 */
#ifndef MTASTS_GZIP_INT_H
#define MTASTS_GZIP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"

#define MTS_GZIP_MAX_IN (20u << 20)  /* compressed bytes accepted */
#define MTS_GZIP_MAX_OUT (20u << 20) /* decompressed bytes produced */
#define MTS_GZIP_MAX_RATIO 200u	     /* output / input, checked once past the floor */
#define MTS_GZIP_RATIO_FLOOR (1u << 20) /* small outputs are never bombs */

struct mts_gzip_limits {
	size_t max_in, max_out;
	size_t max_ratio; /* 0: no ratio check */
	size_t ratio_floor;
};

/* The defaults above. */
void mts_gzip_limits_default(struct mts_gzip_limits *l);

/* Do the bytes start with the gzip magic (1f 8b)? */
bool mts_gzip_is(const void *buf, size_t len);

/* Decompress one gzip stream (or several concatenated members). limits may
 * be NULL for the defaults. Returns 0 with *out (NUL-terminated, malloc'd)
 * and *out_len; MTS_ETOOBIG over a limit; MTS_EINVAL when the data is not
 * gzip, is corrupt, truncated or followed by garbage; MTS_ENOMEM. */
int mts_gunzip(const void *buf, size_t len, const struct mts_gzip_limits *limits, char **out,
	       size_t *out_len, struct mts_error *err);

#endif
