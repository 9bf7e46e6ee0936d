/*
 * cache_pause_int.h - (internal) the pause of a shared cache's client (Redis, PostgreSQL)
 * after its server failed it: for a while every call fails at once instead
 * of waiting on the server again, so that a user with one event loop (the
 * resolver) does not pay a timeout per call. The pause is 5 s, doubled
 * (up to 60 s) when the server fails again soon after a pause, back to 5 s
 * when it worked for a while in between. Private to lib/io; no I/O.
 */
#ifndef MTASTS_CACHE_PAUSE_INT_H
#define MTASTS_CACHE_PAUSE_INT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "mtasts/error.h"

#define CACHE_PAUSE_MIN_S 5
#define CACHE_PAUSE_MAX_S 60

struct cache_pause {
	double until;    /* monotonic s: no call to the server before */
	unsigned last_s; /* the last pause's length, 0 = none yet */
	char why[MTS_ERROR_MSG_MAX];
};

static inline double cache_pause_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The server failed (why): start a pause. */
static inline void cache_pause_start(struct cache_pause *p, const char *why)
{
	double now = cache_pause_now();
	bool again = p->last_s && now - p->until < 2.0 * p->last_s;
	p->last_s = again ? p->last_s * 2 : CACHE_PAUSE_MIN_S;
	if (p->last_s > CACHE_PAUSE_MAX_S)
		p->last_s = CACHE_PAUSE_MAX_S;
	p->until = now + p->last_s;
	snprintf(p->why, sizeof(p->why), "%s", why);
}

/* During a pause: MTS_ESTORE with err saying so ("NAME unavailable, next
 * attempt in N s (why)"); else 0. */
static inline int cache_pause_check(const struct cache_pause *p, const char *name,
				    struct mts_error *err)
{
	double now = cache_pause_now();
	if (p->until <= now)
		return 0;
	return mts_error_set(err, MTS_ESTORE, "%s unavailable, next attempt in %.0f s (%s)", name,
			     p->until - now, p->why);
}

#endif
