/*
 * fdlimit.h - the process's descriptor limit, for daemons that size their
 * connection caps by it (report receive; the resolver may share it).
 *
 * Linux starts services with a soft RLIMIT_NOFILE of 1024 below a much
 * higher hard limit; a daemon that accepts connections raises the soft one
 * at start so that its cap, not accept() failing with EMFILE, decides how
 * many clients it serves. System calls only; no printing.
 */
#ifndef MTASTS_FDLIMIT_H
#define MTASTS_FDLIMIT_H

/* Raise the soft RLIMIT_NOFILE to the hard limit (to the kernel's
 * fs.nr_open when the hard limit is unlimited). Returns the soft limit in
 * force afterwards (unchanged when it could not be raised), or 0 when it
 * cannot be read. */
unsigned long mts_fdlimit_raise(void);

#endif
