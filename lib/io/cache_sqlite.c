/* cache_sqlite.c - the sqlite:///path cache backend (see cache.h).
 *
 * One table keyed by domain; every put is one INSERT ... ON CONFLICT DO
 * UPDATE statement, hence atomic. Journal mode WAL lets readers in other
 * processes (a fleet of resolver workers on one host) run beside the writer.
 *
 * synchronous=NORMAL, not FULL: in WAL mode NORMAL still never corrupts the
 * database and never loses a committed transaction when the process dies
 * (kill -9, crash); only a power loss or kernel crash may roll back the
 * last transactions. For a cache that is an acceptable loss (the policy is
 * fetched again), and NORMAL saves an fsync per put, which matters when a
 * resolver refreshes thousands of policies.
 *
 * Another process holding the write lock is waited for at most 250 ms per
 * call: a cache user (the resolver's single event loop) must not stall on
 * it, and a failed get or put costs only a fetch.
 *
 * A walk reads the table in domain order, a batch per call, from the last
 * domain it visited (the primary key's order: no sort, no long read
 * transaction between calls). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "io/cache_int.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 250

struct sqlite_cache {
	struct mts_cache base;
	sqlite3 *db;
	sqlite3_stmt *get, *put, *del, *evict, *walk;
	unsigned puts;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS sts_policy ("
	" domain TEXT PRIMARY KEY NOT NULL,"
	" id TEXT NOT NULL DEFAULT '',"
	" policy BLOB,"
	" fetched_at INTEGER NOT NULL DEFAULT 0,"
	" expires_at INTEGER NOT NULL DEFAULT 0,"
	" last_attempt INTEGER NOT NULL DEFAULT 0,"
	" last_failure INTEGER NOT NULL DEFAULT 0,"
	" failures INTEGER NOT NULL DEFAULT 0,"
	" last_result INTEGER NOT NULL DEFAULT 0,"
	" last_reason TEXT NOT NULL DEFAULT ''"
	") WITHOUT ROWID;";

static const char get_sql[] =
	"SELECT id, policy, fetched_at, expires_at, last_attempt, last_failure, failures,"
	" last_result, last_reason FROM sts_policy WHERE domain = ?1;";
static const char put_sql[] =
	"INSERT INTO sts_policy (domain, id, policy, fetched_at, expires_at, last_attempt,"
	" last_failure, failures, last_result, last_reason)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
	" ON CONFLICT(domain) DO UPDATE SET id = excluded.id, policy = excluded.policy,"
	" fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,"
	" last_attempt = excluded.last_attempt, last_failure = excluded.last_failure,"
	" failures = excluded.failures, last_result = excluded.last_result,"
	" last_reason = excluded.last_reason;";
static const char del_sql[] = "DELETE FROM sts_policy WHERE domain = ?1;";
static const char walk_sql[] =
	"SELECT domain, id, policy, fetched_at, expires_at, last_attempt, last_failure, failures,"
	" last_result, last_reason FROM sts_policy WHERE domain > ?1 ORDER BY domain LIMIT ?2;";
/* Rows nobody has used for MTS_CACHE_KEEP past their policy's expiry or
 * their last attempt, a batch at a time, every EVICT_EVERY puts. */
static const char evict_sql[] =
	"DELETE FROM sts_policy WHERE domain IN (SELECT domain FROM sts_policy"
	" WHERE MAX(expires_at, last_attempt) < ?1 LIMIT 1000);";
#define EVICT_EVERY 256

static int db_error(struct sqlite_cache *s, struct mts_error *err, const char *what)
{
	return mts_error_set(err, MTS_ESTORE, "sqlite cache: %s: %s", what,
			     s->db ? sqlite3_errmsg(s->db) : "no database");
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* The entry columns (id, policy, fetched_at, ..., last_reason) from column
 * col on; the domain is the caller's. */
static int row_entry(sqlite3_stmt *st, int col, struct mts_cache_entry *out,
		     struct mts_error *err)
{
	copy_text(out->id, sizeof(out->id), sqlite3_column_text(st, col));
	if (sqlite3_column_type(st, col + 1) != SQLITE_NULL) {
		const void *blob = sqlite3_column_blob(st, col + 1);
		int n = sqlite3_column_bytes(st, col + 1);
		out->policy = malloc((size_t)n + 1);
		if (!out->policy)
			return mts_error_set(err, MTS_ENOMEM, "sqlite cache: out of memory");
		if (n > 0)
			memcpy(out->policy, blob, (size_t)n);
		out->policy[n] = '\0';
		out->policy_len = (size_t)n;
	}
	out->fetched_at = sqlite3_column_int64(st, col + 2);
	out->expires_at = sqlite3_column_int64(st, col + 3);
	out->last_attempt = sqlite3_column_int64(st, col + 4);
	out->last_failure = sqlite3_column_int64(st, col + 5);
	out->failures = (unsigned)sqlite3_column_int64(st, col + 6);
	out->last_result = sqlite3_column_int(st, col + 7);
	copy_text(out->last_reason, sizeof(out->last_reason), sqlite3_column_text(st, col + 8));
	return 0;
}

static int sqlite_get(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		      struct mts_error *err)
{
	struct sqlite_cache *s = (struct sqlite_cache *)c;
	sqlite3_stmt *st = s->get;
	int rc = MTS_ENOTFOUND;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		snprintf(out->domain, sizeof(out->domain), "%s", domain);
		rc = row_entry(st, 0, out, err);
	} else if (step != SQLITE_DONE) {
		rc = db_error(s, err, "get");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc < 0 && rc != MTS_ENOTFOUND)
		mts_cache_entry_clear(out);
	return rc;
}

static int sqlite_put(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err)
{
	struct sqlite_cache *s = (struct sqlite_cache *)c;
	sqlite3_stmt *st = s->put;
	sqlite3_bind_text(st, 1, e->domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->id, -1, SQLITE_STATIC);
	if (e->policy)
		sqlite3_bind_blob(st, 3, e->policy, (int)e->policy_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, e->fetched_at);
	sqlite3_bind_int64(st, 5, e->expires_at);
	sqlite3_bind_int64(st, 6, e->last_attempt);
	sqlite3_bind_int64(st, 7, e->last_failure);
	sqlite3_bind_int64(st, 8, e->failures);
	sqlite3_bind_int(st, 9, e->last_result);
	sqlite3_bind_text(st, 10, e->last_reason, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, err, "put");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == 0 && ++s->puts % EVICT_EVERY == 0) {
		sqlite3_bind_int64(s->evict, 1, (long long)time(NULL) - MTS_CACHE_KEEP);
		(void)sqlite3_step(s->evict); /* best effort: a busy database waits for the next round */
		sqlite3_reset(s->evict);
	}
	return rc;
}

static int sqlite_del(struct mts_cache *c, const char *domain, struct mts_error *err)
{
	struct sqlite_cache *s = (struct sqlite_cache *)c;
	sqlite3_bind_text(s->del, 1, domain, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s->del) == SQLITE_DONE ? 0 : db_error(s, err, "delete");
	sqlite3_reset(s->del);
	sqlite3_clear_bindings(s->del);
	return rc;
}

/* One row of a walk: the entry, or a skip when the row is not one we
 * could have written (a domain that is not TEXT or not a name, an id too
 * long, a policy that is neither text nor bytes). */
static int walk_row(sqlite3_stmt *st, struct mts_cache_walk *w, mts_cache_each_fn fn, void *arg,
		    struct mts_error *err)
{
	/* The types first: reading a column as text converts it. */
	int dtype = sqlite3_column_type(st, 0), ptype = sqlite3_column_type(st, 2);
	const char *domain = (const char *)sqlite3_column_text(st, 0);
	size_t dlen = (size_t)sqlite3_column_bytes(st, 0);
	if (dtype != SQLITE_TEXT || !domain || !mts_cache_domain_ok(domain, dlen)) {
		mts_cache_walk_skip(w, "sqlite cache: a row without a usable domain");
		return 0;
	}
	if (sqlite3_column_bytes(st, 1) > MTS_STS_ID_MAX ||
	    (ptype != SQLITE_NULL && ptype != SQLITE_BLOB && ptype != SQLITE_TEXT)) {
		mts_cache_walk_skip(w, "sqlite cache: the entry of %s is corrupt", domain);
		return 0;
	}
	struct mts_cache_entry e = {0};
	memcpy(e.domain, domain, dlen);
	int rc = row_entry(st, 1, &e, err);
	if (rc == 0)
		rc = fn(&e, arg);
	mts_cache_entry_clear(&e);
	if (rc == 0)
		w->visited++;
	return rc;
}

static int sqlite_each(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
		       mts_cache_each_fn fn, void *arg, struct mts_error *err)
{
	struct sqlite_cache *s = (struct sqlite_cache *)c;
	sqlite3_stmt *st = s->walk;
	sqlite3_value *from = NULL; /* a position that w->pos cannot hold */
	int rc = 0;
	for (;;) {
		if (from)
			sqlite3_bind_value(st, 1, from);
		else
			sqlite3_bind_text(st, 1, w->pos, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)batch);
		size_t rows = 0;
		sqlite3_value *last = NULL;
		int step = SQLITE_DONE;
		while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
			rows++;
			sqlite3_value_free(last);
			last = sqlite3_value_dup(sqlite3_column_value(st, 0));
			if (!last)
				rc = mts_error_set(err, MTS_ENOMEM, "sqlite cache: out of memory");
			else
				rc = walk_row(st, w, fn, arg, err);
		}
		if (rc == 0 && step != SQLITE_DONE)
			rc = db_error(s, err, "walk");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_value_free(from);
		from = NULL;
		if (rc < 0 || rows < batch) {
			sqlite3_value_free(last);
			w->done = rc == 0;
			return rc;
		}
		/* The batch ended: go on from its last domain next time, unless
		 * that domain is unusable as a position (then go on now). */
		bool is_text = sqlite3_value_type(last) == SQLITE_TEXT;
		const char *text = is_text ? (const char *)sqlite3_value_text(last) : NULL;
		size_t len = is_text ? (size_t)sqlite3_value_bytes(last) : 0;
		if (text && mts_cache_domain_ok(text, len)) {
			memcpy(w->pos, text, len);
			w->pos[len] = '\0';
			sqlite3_value_free(last);
			return 0;
		}
		from = last;
	}
}

static void sqlite_close(struct mts_cache *c)
{
	struct sqlite_cache *s = (struct sqlite_cache *)c;
	sqlite3_finalize(s->walk);
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->evict);
	sqlite3_close(s->db);
	free(s);
}

static const struct mts_cache_ops sqlite_ops = {
	.scheme = "sqlite",
	.get = sqlite_get,
	.put = sqlite_put,
	.del = sqlite_del,
	.each = sqlite_each,
	.close = sqlite_close,
};

/* Create or check the schema; user_version says which one the file holds. */
static int migrate(struct sqlite_cache *s, struct mts_error *err)
{
	sqlite3_stmt *st;
	int version = -1;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version;", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "read schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION)
		return mts_error_set(err, MTS_ESTORE,
				     "sqlite cache: schema version %d is newer than this program's %d",
				     version, SCHEMA_VERSION);
	if (version == SCHEMA_VERSION)
		return 0;
	char *msg = NULL;
	char sql[sizeof(schema_sql) + 64];
	snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
		 schema_sql, SCHEMA_VERSION);
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = mts_error_set(err, MTS_ESTORE, "sqlite cache: create schema: %s",
				       msg ? msg : "failed");
		sqlite3_free(msg);
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

/* SQLite's word for a file that is not a sound database. */
static bool is_damage(struct sqlite_cache *s)
{
	int code = s->db ? sqlite3_errcode(s->db) & 0xff : SQLITE_OK;
	return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

/* PRAGMA quick_check: a truncated file has a sound first page (header,
 * schema, user_version) and fails only when a missing page is read. */
static int check_pages(struct sqlite_cache *s, bool *damaged, struct mts_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1);", -1, &st, NULL) != SQLITE_OK) {
		*damaged = is_damage(s);
		return db_error(s, err, "check");
	}
	int step = sqlite3_step(st);
	const unsigned char *result = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	int rc = 0;
	if (step != SQLITE_ROW) {
		*damaged = is_damage(s);
		rc = db_error(s, err, "check");
	} else if (!result || strcmp((const char *)result, "ok") != 0) {
		*damaged = true;
		rc = mts_error_set(err, MTS_ESTORE, "sqlite cache: check: %.200s",
				   result ? (const char *)result : "no result");
	}
	sqlite3_finalize(st);
	return rc;
}

static struct mts_cache *open_db(const char *path, bool *damaged, struct mts_error *err)
{
	*damaged = false;
	struct sqlite_cache *s = calloc(1, sizeof(*s));
	if (!s) {
		mts_error_set(err, MTS_ENOMEM, "sqlite cache: out of memory");
		return NULL;
	}
	s->base.ops = &sqlite_ops;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		*damaged = is_damage(s);
		mts_error_set(err, MTS_ESTORE, "sqlite cache: open %.200s: %s", path,
			      s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	char *msg = NULL;
	if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL,
			 NULL, &msg) != SQLITE_OK) {
		*damaged = is_damage(s);
		mts_error_set(err, MTS_ESTORE, "sqlite cache: %.200s: %s", path,
			      msg ? msg : "cannot set WAL mode");
		sqlite3_free(msg);
		goto fail;
	}
	if (migrate(s, err) < 0) {
		*damaged = is_damage(s);
		goto fail;
	}
	if (check_pages(s, damaged, err) < 0)
		goto fail;
	if (sqlite3_prepare_v2(s->db, get_sql, -1, &s->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, put_sql, -1, &s->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, del_sql, -1, &s->del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, evict_sql, -1, &s->evict, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, walk_sql, -1, &s->walk, NULL) != SQLITE_OK) {
		*damaged = is_damage(s);
		db_error(s, err, "prepare");
		goto fail;
	}
	return &s->base;
fail:
	sqlite_close(&s->base);
	return NULL;
}

struct mts_cache *mts_cache_sqlite_open(const char *path, struct mts_error *err)
{
	bool damaged;
	return open_db(path, &damaged, err);
}

struct mts_cache *mts_cache_sqlite_open_recover(const char *path, long long now, char *moved_to,
						size_t cap, char *why, size_t why_cap,
						struct mts_error *err)
{
	bool damaged;
	struct mts_error first = {0};
	if (cap)
		moved_to[0] = '\0';
	if (why_cap)
		why[0] = '\0';
	struct mts_cache *c = open_db(path, &damaged, &first);
	if (c || !damaged) {
		if (!c && err)
			*err = first;
		return c;
	}
	char aside[4096], from[4096], to[4096 + 8];
	if ((size_t)snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, now) >= sizeof(aside)) {
		mts_error_set(err, MTS_ESTORE, "%s: path too long", first.message);
		return NULL;
	}
	if (rename(path, aside) < 0) {
		mts_error_set(err, MTS_ESTORE, "%s; moving it aside: %s", first.message,
			      strerror(errno));
		return NULL;
	}
	/* Its write-ahead log belongs to it, not to the new file. */
	snprintf(from, sizeof(from), "%s-wal", path);
	snprintf(to, sizeof(to), "%s-wal", aside);
	if (rename(from, to) < 0 && errno != ENOENT)
		unlink(from);
	snprintf(from, sizeof(from), "%s-shm", path);
	unlink(from);
	snprintf(moved_to, cap, "%s", aside);
	snprintf(why, why_cap, "%s", first.message);
	return open_db(path, &damaged, err);
}
