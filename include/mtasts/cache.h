/*
 * cache.h - the sender's policy cache (RFC 8461 §5.1): per policy domain, the
 * last good policy body with its TXT id, when it was fetched and when it
 * expires (fetched_at + max_age), and the last attempt and failure so that
 * the engine can back off and answer negatively for a short while.
 *
 * One interface, several backends chosen by URL:
 *   memory:               bounded LRU in this process (memory:?max=N entries)
 *   sqlite:///path/to/db  one SQLite file, WAL mode, shared by processes;
 *                         unused rows deleted after MTS_CACHE_KEEP
 *   redis://[[USER:]PASSWORD@]HOST[:PORT][/DB][?prefix=P&timeout_ms=N]
 *                         one Redis shared by a fleet of MTAs; entries expire
 *                         by TTL (policy expiry + MTS_CACHE_REDIS_KEEP)
 *   postgresql://... (or postgres://)  one table in a PostgreSQL database
 *                         shared by a fleet; old rows deleted after
 *                         MTS_CACHE_PG_KEEP
 *
 * Calls are synchronous: the memory and SQLite backends answer in
 * microseconds. A network backend must bound its own calls by a timeout.
 * An entry read with mts_cache_get() owns its policy copy: release it with
 * mts_cache_entry_clear(). Backends do I/O (SQLite); they decide nothing.
 *
 * mts_cache_each() walks every entry a batch per call, so that a caller on
 * an event loop reads a bounded amount between two turns of its loop.
 */
#ifndef MTASTS_CACHE_H
#define MTASTS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/dname.h"
#include "mtasts/error.h"
#include "mtasts/sts_record.h"

#define MTS_CACHE_MEMORY_DEFAULT_MAX 10000 /* entries kept by memory: */
#define MTS_CACHE_REASON_MAX 160           /* bytes of the last failure's reason */

struct mts_cache_entry {
	char domain[MTS_DNAME_MAX + 1]; /* the policy domain, lowercase */
	char id[MTS_STS_ID_MAX + 1];    /* TXT id of the stored policy; "" when none */
	char *policy;                   /* owned policy body, or NULL (negative entry) */
	size_t policy_len;
	long long fetched_at;           /* last successful fetch (UTC seconds), 0 = never */
	long long expires_at;           /* fetched_at + max_age; 0 when no policy */
	long long last_attempt;         /* last discovery that went to the network */
	long long last_failure;         /* last discovery that failed, 0 = none since success */
	unsigned failures;              /* consecutive failures since the last success */
	int last_result;                /* the engine's outcome of the last attempt */
	char last_reason[MTS_CACHE_REASON_MAX]; /* printable reason of the last failure */
};

struct mts_cache;

#define MTS_CACHE_WALK_BATCH 100      /* entries per mts_cache_each() call by default */
#define MTS_CACHE_WALK_BATCH_MAX 10000
#define MTS_CACHE_WALK_POS_MAX 512    /* bytes of a walk's position, NUL included */

/* Where a walk over a cache stands (mts_cache_each). Zero it to start; each
 * call goes on from pos. pos is the backend's and printable: a bucket number
 * (memory:), the last domain visited (sqlite, postgresql: domain order), a
 * SCAN cursor (redis). Every entry present for the whole walk is visited;
 * one put or deleted meanwhile may be visited or not, and Redis may visit an
 * entry twice (SCAN's guarantee). */
struct mts_cache_walk {
	char pos[MTS_CACHE_WALK_POS_MAX];
	bool done;                  /* every entry has been visited */
	size_t visited;             /* entries given to the callback, all calls */
	size_t skipped;             /* stored entries that could not be decoded */
	char skip_reason[MTS_ERROR_MSG_MAX]; /* why the last one was skipped */
};

/* One entry of a walk, borrowed for the call. Return 0 to go on; a negative
 * MTS_E* code stops and is returned by mts_cache_each(). It must not put or
 * delete in the cache being walked: collect, and act after the call. */
typedef int (*mts_cache_each_fn)(const struct mts_cache_entry *e, void *arg);

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

/* Open a cache by URL. NULL on failure (err says why: MTS_EUSAGE for an
 * unknown scheme or a bad URL, MTS_ESTORE when the backend cannot open). */
struct mts_cache *mts_cache_open(const char *url, struct mts_error *err);
void mts_cache_close(struct mts_cache *c);

int mts_cache_get(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		  struct mts_error *err);
int mts_cache_put(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err);
int mts_cache_delete(struct mts_cache *c, const char *domain, struct mts_error *err);
/* The next batch of a walk (batch 0: MTS_CACHE_WALK_BATCH; at most
 * MTS_CACHE_WALK_BATCH_MAX). 0 with w->done telling whether entries remain,
 * fn's code, or MTS_ESTORE when the backend failed (call again to retry the
 * same batch). A walk that is done returns 0 at once. */
int mts_cache_each(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
		   mts_cache_each_fn fn, void *arg, struct mts_error *err);

/* Free the entry's policy copy and zero it. */
void mts_cache_entry_clear(struct mts_cache_entry *e);
/* Deep copy (the policy body is duplicated). 0 or MTS_ENOMEM. */
int mts_cache_entry_copy(struct mts_cache_entry *dst, const struct mts_cache_entry *src);

/* Backends (cache_memory.c, cache_sqlite.c); mts_cache_open() dispatches. */
struct mts_cache *mts_cache_memory_open(size_t max_entries, struct mts_error *err);
struct mts_cache *mts_cache_sqlite_open(const char *path, struct mts_error *err);
/* As mts_cache_sqlite_open(), for a daemon that must start whatever the
 * file holds: when it is not a usable database (truncated, corrupt, not
 * SQLite; not when it cannot be read or is of a newer schema), it is
 * renamed PATH.corrupt-<now> (its -wal file alike) and a new, empty cache
 * is made. Then moved_to (cap bytes) names where the old file went and
 * why (cap bytes) says what was wrong; otherwise moved_to is "". */
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

/* s an entry outlives its policy's expiry or its last attempt before the
 * Redis, PostgreSQL and SQLite backends drop it as unused (memory: is an LRU) */
#define MTS_CACHE_KEEP 86400
#define MTS_CACHE_REDIS_KEEP MTS_CACHE_KEEP

/* A parsed redis:// URL (pure; exported for tests and fuzzing). */
struct mts_redis_url {
	char user[64], password[128];
	char host[256];
	unsigned port;       /* default 6379 */
	unsigned db;         /* default 0 */
	char prefix[64];     /* key prefix, default "mtasts:" */
	unsigned timeout_ms; /* per call, default 500 */
};
/* 0, or MTS_EUSAGE with err naming the part that is wrong. */
int mts_redis_url_parse(const char *url, struct mts_redis_url *out, struct mts_error *err);

#endif
