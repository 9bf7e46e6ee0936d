/*
 * fdlimit_int.h - (internal) the process's open-files limit (RLIMIT_NOFILE), for the
 * daemons (`mtasts resolver`, `mtasts report receive`): raise the soft limit
 * at start, count what is open, and check that a few descriptors are free
 * before work that needs them. Does I/O (system calls); owns nothing.
 */
#ifndef MTASTS_FDLIMIT_INT_H
#define MTASTS_FDLIMIT_INT_H

#include <stdbool.h>

#define MTS_FDLIMIT_PROBE_MAX 64 /* descriptors mts_fdlimit_available() checks at most */

/* Raise the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit:
 * as far as the kernel allows). Returns the soft limit in force afterwards,
 * or -1 when it cannot be read. Never lowers it. */
long mts_fdlimit_raise(void);
/* The soft limit in force, or -1 when it cannot be read. */
long mts_fdlimit_current(void);
/* How many descriptors are open now (below limit): /proc/self/fd, else one
 * fcntl(F_GETFD) per descriptor number. */
long mts_fdlimit_open_count(long limit);
/* True when want more descriptors (at most MTS_FDLIMIT_PROBE_MAX) can be
 * opened now; it opens and closes them to know. */
bool mts_fdlimit_available(unsigned want);

#endif
