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

/* A backend: every function returns 0 or a negative MTS_E* code. */
struct mts_cache_ops {
	const char *scheme;
	/* MTS_ENOTFOUND when the domain has no entry. */
	int (*get)(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		   struct mts_error *err);
	/* Insert or replace the whole entry, atomically. */
	int (*put)(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err);
	int (*del)(struct mts_cache *c, const char *domain, struct mts_error *err);
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

/* Free the entry's policy copy and zero it. */
void mts_cache_entry_clear(struct mts_cache_entry *e);
/* Deep copy (the policy body is duplicated). 0 or MTS_ENOMEM. */
int mts_cache_entry_copy(struct mts_cache_entry *dst, const struct mts_cache_entry *src);

/* Backends (cache_memory.c, cache_sqlite.c); mts_cache_open() dispatches. */
struct mts_cache *mts_cache_memory_open(size_t max_entries, struct mts_error *err);
struct mts_cache *mts_cache_sqlite_open(const char *path, struct mts_error *err);
struct mts_cache *mts_cache_redis_open(const char *url, struct mts_error *err);
struct mts_cache *mts_cache_pg_open(const char *url, struct mts_error *err);

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
