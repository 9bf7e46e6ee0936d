/*
 * cache_int.h - inside the policy cache: the backend vtable, the backends'
 * open functions (cache_open.c dispatches by URL), what backends share
 * (cache_entry.c), and the redis:// URL parser (pure; tests and fuzzing).
 * Not installed: programs use cache.h.
 */
#ifndef MTASTS_CACHE_INT_H
#define MTASTS_CACHE_INT_H

#include "mtasts/cache.h"

/* A backend: every function returns 0 or a negative MTS_E* code. */
struct mts_cache_ops {
	const char *scheme;
	/* MTS_ENOTFOUND when the domain has no entry. */
	int (*get)(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		   struct mts_error *err);
	/* Insert or replace the whole entry, atomically. */
	int (*put)(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err);
	int (*del)(struct mts_cache *c, const char *domain, struct mts_error *err);
	/* One batch of a walk: about batch entries (memory: and redis: may
	 * examine a few more or return fewer), each decoded and given to fn;
	 * undecodable ones are counted in w->skipped, never an error. Sets
	 * w->done at the end. On MTS_ESTORE w->pos is where it was. */
	int (*each)(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
		    mts_cache_each_fn fn, void *arg, struct mts_error *err);
	void (*close)(struct mts_cache *c);
};

struct mts_cache {
	const struct mts_cache_ops *ops;
};

/* Backends (cache_memory.c, cache_sqlite.c, cache_redis.c, cache_pg.c);
 * mts_cache_open() dispatches. */
struct mts_cache *mts_cache_memory_open(size_t max_entries, struct mts_error *err);
struct mts_cache *mts_cache_sqlite_open(const char *path, struct mts_error *err);
/* As mts_cache_sqlite_open(), for a daemon that must start whatever the
 * file holds: when it is not a usable database (truncated, corrupt, not
 * SQLite; not when it cannot be read or is of a newer schema), it is
 * renamed PATH.corrupt-<now> (its -wal file alike) and a new, empty cache
 * is made. Then moved_to (cap bytes) names where the old file went and
 * why (why_cap bytes) says what was wrong; otherwise moved_to is "". */
struct mts_cache *mts_cache_sqlite_open_recover(const char *path, long long now, char *moved_to,
						size_t cap, char *why, size_t why_cap,
						struct mts_error *err);
struct mts_cache *mts_cache_redis_open(const char *url, struct mts_error *err);
struct mts_cache *mts_cache_pg_open(const char *url, struct mts_error *err);
/* For backends: count an entry a walk skips, remembering why. */
void mts_cache_walk_skip(struct mts_cache_walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For backends: true when domain (len bytes) can be a cache entry's name. */
bool mts_cache_domain_ok(const char *domain, size_t len);

#define MTS_CACHE_PG_KEEP MTS_CACHE_KEEP
#define MTS_CACHE_REDIS_KEEP MTS_CACHE_KEEP

/* A parsed redis:// URL (pure; for the backend, tests and fuzzing). */
struct mts_redis_url {
	char user[64], password[128];
	char host[256];
	unsigned port;	     /* default 6379 */
	unsigned db;	     /* default 0 */
	char prefix[64];     /* key prefix, default "mtasts:" */
	unsigned timeout_ms; /* per call, default 500 */
};
/* 0, or MTS_EUSAGE with err naming the part that is wrong. */
int mts_redis_url_parse(const char *url, struct mts_redis_url *out, struct mts_error *err);

#endif
