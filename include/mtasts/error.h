/*
 * error.h - error codes and the error report filled by library calls.
 *
 * Library functions return 0 (or a pointer) on success and a negative MTS_E*
 * code (or NULL) on failure; when the caller passes a struct mts_error, it is
 * filled with a message naming the input position. Problems in a user's or a
 * peer's data are not errors: they are findings (see findings.h).
 * No I/O; no allocation.
 */
#ifndef MTASTS_ERROR_H
#define MTASTS_ERROR_H

#include <stddef.h>
#include "mtasts/types.h"

MTS_BEGIN_DECLS

enum {
	MTS_OK = 0,
	MTS_ENOMEM = -1,   /* allocation failed */
	MTS_EINVAL = -2,   /* invalid input (see findings for details) */
	MTS_ETOOBIG = -3,  /* input over a size or count limit */
	MTS_EIO = -4,      /* I/O failure (file, socket) */
	MTS_ETIMEOUT = -5, /* a time limit was reached */
	MTS_ENOTFOUND = -6,/* the thing looked up does not exist */
	MTS_EPROTO = -7,   /* a peer broke its protocol */
	MTS_ESTORE = -8,   /* a store or cache backend failed */
	MTS_EUSAGE = -9,   /* the caller used the API wrongly */
	MTS_ETEMP = -10,   /* a transient failure: try again later */
	MTS_EEXIST = -11,  /* the thing to create exists already */
	MTS_ECONFLICT = -12, /* another writer changed it first: read again, retry */
};

#define MTS_ERROR_MSG_MAX 256

struct mts_error {
	int code;
	char message[MTS_ERROR_MSG_MAX];
};

/* Fill err (may be NULL) and return code, so that callers can write
 * `return mts_error_set(err, MTS_EINVAL, "line %u: ...", line);` */
int mts_error_set(struct mts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A short constant description of an MTS_E* code. */
const char *mts_strerror(int code);

MTS_END_DECLS

#endif
