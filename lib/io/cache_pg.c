/* cache_pg.c - the postgresql:// cache backend (see cache.h): one cache in a
 * PostgreSQL database shared by a fleet of MTAs.
 *
 * One row per policy domain; a put is one INSERT ... ON CONFLICT DO UPDATE
 * (atomic). The schema has its own version table (cache_schema_version), so
 * the cache may share a database with the report store. Entries nobody has
 * used for MTS_CACHE_PG_KEEP seconds beyond their policy's expiry or their
 * last attempt are deleted, a few at a time, by every 256th put.
 *
 * A cache must never hold up its user (the resolver answers Postfix from
 * one event loop): every call is bounded by a statement timeout on the
 * server and the same bound plus a margin on our side (1.5 s), and the
 * connect by 2 s. A connection lost to a restart is re-established at once;
 * a server that did not answer, or could not be reached, is left alone for
 * a while (5 s, doubling up to 60 s), and calls fail at once meanwhile.
 *
 * A walk reads the table in primary-key order, a batch per call from the
 * last domain it visited (keyset paging: no cursor, no transaction held
 * between calls), each batch one bounded call like the others. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "io/cache_int.h"
#include "io/pg_int.h"
#include "core/text_int.h"
#include "io/cache_pause_int.h"

#define PG_CONNECT_S 2 /* libpq's least */
#define PG_STATEMENT_MS 1000
#define PG_LOCK_MS 1000
#define PG_WAIT_MS (PG_STATEMENT_MS + MTS_PG_WAIT_MARGIN_MS)
#define PG_EVICT_EVERY 256
#define PG_EVICT_BATCH 1000
#define PG_LOCK_KEY "7011390251620954114"

struct pg_cache {
	struct mts_cache base;
	char *url;
	PGconn *conn;
	unsigned puts;
	struct cache_pause pause; /* after the server failed us */
};

static const char *const migrations[] = {
	"CREATE TABLE sts_policy_cache ("
	" domain TEXT PRIMARY KEY,"
	" id TEXT NOT NULL DEFAULT '',"
	" policy BYTEA,"
	" fetched_at BIGINT NOT NULL DEFAULT 0,"
	" expires_at BIGINT NOT NULL DEFAULT 0,"
	" last_attempt BIGINT NOT NULL DEFAULT 0,"
	" last_failure BIGINT NOT NULL DEFAULT 0,"
	" failures INTEGER NOT NULL DEFAULT 0,"
	" last_result INTEGER NOT NULL DEFAULT 0,"
	" last_reason TEXT NOT NULL DEFAULT '',"
	" keep_until BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX sts_policy_cache_keep ON sts_policy_cache(keep_until);",
};

static const char get_sql[] =
	"SELECT id, policy, fetched_at, expires_at, last_attempt, last_failure, failures,"
	" last_result, last_reason FROM sts_policy_cache WHERE domain = $1";
static const char put_sql[] =
	"INSERT INTO sts_policy_cache (domain, id, policy, fetched_at, expires_at, last_attempt,"
	" last_failure, failures, last_result, last_reason, keep_until)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
	" ON CONFLICT (domain) DO UPDATE SET id = EXCLUDED.id, policy = EXCLUDED.policy,"
	" fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at,"
	" last_attempt = EXCLUDED.last_attempt, last_failure = EXCLUDED.last_failure,"
	" failures = EXCLUDED.failures, last_result = EXCLUDED.last_result,"
	" last_reason = EXCLUDED.last_reason, keep_until = EXCLUDED.keep_until";
static const char del_sql[] = "DELETE FROM sts_policy_cache WHERE domain = $1";
static const char walk_sql[] =
	"SELECT domain, id, policy, fetched_at, expires_at, last_attempt, last_failure, failures,"
	" last_result, last_reason FROM sts_policy_cache WHERE domain > $1 ORDER BY domain"
	" LIMIT $2";
static const char evict_sql[] =
	"DELETE FROM sts_policy_cache WHERE domain IN (SELECT domain FROM sts_policy_cache"
	" WHERE keep_until < $1 LIMIT 1000)";

/* The server failed us (why is in msg): no attempt for a while. */
static void pg_down(struct pg_cache *c, const char *msg)
{
	PQfinish(c->conn);
	c->conn = NULL;
	cache_pause_start(&c->pause, msg);
}

static int pg_connect(struct pg_cache *c, struct mts_error *err)
{
	if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	PQfinish(c->conn);
	c->conn = NULL;
	if (cache_pause_check(&c->pause, "postgresql cache", err) < 0)
		return MTS_ESTORE;
	const struct mts_pg_limits limits = {.connect_s = PG_CONNECT_S,
					     .statement_ms = PG_STATEMENT_MS,
					     .lock_ms = PG_LOCK_MS};
	struct mts_error e = {0};
	c->conn = mts_pg_connect(c->url, &limits, &e);
	if (c->conn && mts_pg_migrate(c->conn, PG_WAIT_MS, "cache_schema_version", PG_LOCK_KEY,
				      migrations,
				      (int)(sizeof(migrations) / sizeof(migrations[0])), &e) < 0) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	if (!c->conn) {
		pg_down(c, e.message);
		return mts_error_set(err, MTS_ESTORE, "%s", e.message);
	}
	return 0;
}

/* Run a statement. When the connection turns out to be dead (the server
 * restarted since the last call), reconnect and run it once more; when
 * the server did not answer in time, leave it alone for a while. */
static PGresult *exec_params(struct pg_cache *c, const char *sql, int n, const char *const *values,
			     const int *lengths, const int *formats, const char *what,
			     struct mts_error *err)
{
	for (int attempt = 0;; attempt++) {
		struct mts_error e = {0};
		PGresult *res = mts_pg_exec(c->conn, PG_WAIT_MS, sql, n, values, lengths, formats,
					    what, &e);
		if (PQstatus(c->conn) == CONNECTION_OK)
			return res;
		PQclear(res);
		if (e.code == MTS_ETIMEOUT || attempt > 0) {
			pg_down(c, e.message);
			mts_error_set(err, MTS_ESTORE, "%s", e.message);
			return NULL;
		}
		if (pg_connect(c, err) < 0)
			return NULL;
	}
}

static long long number(PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The entry of row from column col on (id, policy, fetched_at, ...,
 * last_reason); out->domain is the caller's. MTS_ESTORE when the id is too
 * long to be one we wrote, MTS_ENOMEM. */
static int row_entry(PGresult *res, int row, int col, struct mts_cache_entry *out,
		     struct mts_error *err)
{
	const char *id = PQgetvalue(res, row, col);
	if (strlen(id) > MTS_STS_ID_MAX)
		return mts_error_set(err, MTS_ESTORE, "postgresql cache: the entry of %s is corrupt",
				     out->domain);
	memcpy(out->id, id, strlen(id) + 1);
	if (!PQgetisnull(res, row, col + 1)) {
		size_t len = 0;
		unsigned char *raw =
			PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col + 1), &len);
		if (!raw)
			return mts_error_set(err, MTS_ENOMEM, "out of memory");
		out->policy = mts_strndup((const char *)raw, len);
		out->policy_len = len;
		PQfreemem(raw);
		if (!out->policy)
			return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	out->fetched_at = number(res, row, col + 2);
	out->expires_at = number(res, row, col + 3);
	out->last_attempt = number(res, row, col + 4);
	out->last_failure = number(res, row, col + 5);
	long long failures = number(res, row, col + 6);
	out->failures = failures > 0 ? (unsigned)failures : 0;
	out->last_result = (int)number(res, row, col + 7);
	const char *reason = PQgetvalue(res, row, col + 8);
	mts_printable(reason, strlen(reason), out->last_reason, sizeof(out->last_reason));
	return 0;
}

static int pg_get(struct mts_cache *base, const char *domain, struct mts_cache_entry *out,
		  struct mts_error *err)
{
	struct pg_cache *c = (struct pg_cache *)base;
	if (pg_connect(c, err) < 0)
		return MTS_ESTORE;
	const char *values[] = {domain};
	PGresult *res = exec_params(c, get_sql, 1, values, NULL, NULL, "cache get", err);
	if (!res)
		return MTS_ESTORE;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return mts_pg_error(c->conn, err, "cache get");
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return MTS_ENOTFOUND;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->domain, sizeof(out->domain), "%s", domain);
	int rc = row_entry(res, 0, 0, out, err);
	PQclear(res);
	if (rc)
		mts_cache_entry_clear(out);
	return rc;
}

static void evict(struct pg_cache *c)
{
	char now[24];
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *values[] = {now};
	PQclear(exec_params(c, evict_sql, 1, values, NULL, NULL, "cache evict", NULL));
}

static int pg_put(struct mts_cache *base, const struct mts_cache_entry *e, struct mts_error *err)
{
	struct pg_cache *c = (struct pg_cache *)base;
	if (pg_connect(c, err) < 0)
		return MTS_ESTORE;
	long long until = e->policy && e->expires_at > e->last_attempt ? e->expires_at
								       : e->last_attempt;
	char nums[8][24];
	snprintf(nums[0], 24, "%lld", e->fetched_at);
	snprintf(nums[1], 24, "%lld", e->expires_at);
	snprintf(nums[2], 24, "%lld", e->last_attempt);
	snprintf(nums[3], 24, "%lld", e->last_failure);
	snprintf(nums[4], 24, "%u", e->failures);
	snprintf(nums[5], 24, "%d", e->last_result);
	snprintf(nums[6], 24, "%lld", until + MTS_CACHE_PG_KEEP);
	const char *values[11] = {e->domain, e->id, e->policy, nums[0], nums[1], nums[2],
				  nums[3], nums[4], nums[5], e->last_reason, nums[6]};
	int lengths[11] = {0, 0, (int)e->policy_len};
	int formats[11] = {0, 0, 1}; /* the policy as binary bytea */
	PGresult *res = exec_params(c, put_sql, 11, values, lengths, formats, "cache put", err);
	if (!res)
		return MTS_ESTORE;
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : mts_pg_error(c->conn, err, "cache put");
	PQclear(res);
	if (!rc && ++c->puts % PG_EVICT_EVERY == 0)
		evict(c);
	return rc;
}

static int pg_del(struct mts_cache *base, const char *domain, struct mts_error *err)
{
	struct pg_cache *c = (struct pg_cache *)base;
	if (pg_connect(c, err) < 0)
		return MTS_ESTORE;
	const char *values[] = {domain};
	PGresult *res = exec_params(c, del_sql, 1, values, NULL, NULL, "cache delete", err);
	if (!res)
		return MTS_ESTORE;
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0
							 : mts_pg_error(c->conn, err, "cache delete");
	PQclear(res);
	return rc;
}

/* One row of a walk: the entry, or a skip when the row is not one we could
 * have written (no usable domain, an id too long). */
static int walk_row(PGresult *res, int row, struct mts_cache_walk *w, mts_cache_each_fn fn,
		    void *arg, struct mts_error *err)
{
	const char *domain = PQgetvalue(res, row, 0);
	size_t dlen = (size_t)PQgetlength(res, row, 0);
	if (!mts_cache_domain_ok(domain, dlen)) {
		mts_cache_walk_skip(w, "postgresql cache: a row without a usable domain");
		return 0;
	}
	struct mts_cache_entry e = {0};
	memcpy(e.domain, domain, dlen);
	struct mts_error why = {0};
	int rc = row_entry(res, row, 1, &e, &why);
	if (rc == MTS_ESTORE) {
		mts_cache_walk_skip(w, "%s", why.message);
		rc = 0;
	} else if (rc < 0) {
		mts_error_set(err, rc, "%s", why.message);
	} else {
		rc = fn(&e, arg);
		if (rc == 0)
			w->visited++;
	}
	mts_cache_entry_clear(&e);
	return rc;
}

static int pg_each(struct mts_cache *base, struct mts_cache_walk *w, size_t batch,
		   mts_cache_each_fn fn, void *arg, struct mts_error *err)
{
	struct pg_cache *c = (struct pg_cache *)base;
	if (pg_connect(c, err) < 0)
		return MTS_ESTORE;
	char limit[24];
	snprintf(limit, sizeof(limit), "%zu", batch);
	char *from = NULL; /* a position that w->pos cannot hold */
	for (;;) {
		const char *values[] = {from ? from : w->pos, limit};
		PGresult *res = exec_params(c, walk_sql, 2, values, NULL, NULL, "cache walk", err);
		free(from);
		from = NULL;
		if (!res)
			return MTS_ESTORE;
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			PQclear(res);
			return mts_pg_error(c->conn, err, "cache walk");
		}
		int rows = PQntuples(res), rc = 0;
		for (int i = 0; rc == 0 && i < rows; i++)
			rc = walk_row(res, i, w, fn, arg, err);
		if (rc < 0 || (size_t)rows < batch) {
			PQclear(res);
			w->done = rc == 0;
			return rc;
		}
		/* Go on from the batch's last domain next time, unless w->pos
		 * cannot hold it (then go on now). */
		const char *last = PQgetvalue(res, rows - 1, 0);
		size_t len = (size_t)PQgetlength(res, rows - 1, 0);
		if (mts_cache_domain_ok(last, len)) {
			memcpy(w->pos, last, len);
			w->pos[len] = '\0';
			PQclear(res);
			return 0;
		}
		from = mts_strndup(last, len);
		PQclear(res);
		if (!from)
			return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
}

static void pg_close(struct mts_cache *base)
{
	struct pg_cache *c = (struct pg_cache *)base;
	PQfinish(c->conn);
	free(c->url);
	free(c);
}

static const struct mts_cache_ops pg_ops = {
	.scheme = "postgresql",
	.get = pg_get,
	.put = pg_put,
	.del = pg_del,
	.each = pg_each,
	.close = pg_close,
};

struct mts_cache *mts_cache_pg_open(const char *url, struct mts_error *err)
{
	struct pg_cache *c = calloc(1, sizeof(*c));
	if (!c || !(c->url = strdup(url))) {
		free(c);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	c->base.ops = &pg_ops;
	if (pg_connect(c, err) < 0) {
		pg_close(&c->base);
		return NULL;
	}
	return &c->base;
}
