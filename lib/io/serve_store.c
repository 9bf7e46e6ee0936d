/* serve_store.c - the state of `mtasts serve` in SQLite (see serve_store_int.h).
 *
 * One row per hosted domain with its update state in columns (so that `serve
 * domain list` and an operator's own queries read it directly), and a
 * revision for compare-and-set; one row per id in policy_history. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "io/serve_store_int.h"
#include "io/sqlite_int.h"

struct mts_serve_store {
	sqlite3 *db;
};

/* Migrations, in order: never edit one that has shipped; append. */
static const char *const migrations[] = {
	"CREATE TABLE serve_domains ("
	" domain TEXT PRIMARY KEY,"
	" mode TEXT NOT NULL, max_age INTEGER NOT NULL,"
	" mx_auto INTEGER NOT NULL, mx TEXT NOT NULL," /* JSON array of the patterns served */
	" policy BLOB NOT NULL,"
	" phase TEXT NOT NULL, removing INTEGER NOT NULL, served_none INTEGER NOT NULL,"
	" served_id TEXT NOT NULL, published_id TEXT NOT NULL, inflight_id TEXT NOT NULL,"
	" served_max_age INTEGER NOT NULL, served_since INTEGER NOT NULL,"
	" held_until INTEGER NOT NULL, cert_not_after INTEGER NOT NULL,"
	" next_try INTEGER NOT NULL, failures INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" rev INTEGER NOT NULL);"
	"CREATE TABLE serve_history ("
	" domain TEXT NOT NULL REFERENCES serve_domains(domain) ON DELETE CASCADE,"
	" id TEXT NOT NULL, policy BLOB NOT NULL,"
	" served_at INTEGER NOT NULL, published_at INTEGER,"
	" PRIMARY KEY (domain, id));",
	"CREATE TABLE serve_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
	"CREATE TABLE serve_certs ("
	" name TEXT PRIMARY KEY, key_pem TEXT NOT NULL, chain_pem TEXT NOT NULL,"
	" not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE TABLE serve_challenges ("
	" token TEXT PRIMARY KEY, key_authorization TEXT NOT NULL, name TEXT NOT NULL,"
	" expires_at INTEGER NOT NULL);",
	"CREATE TABLE serve_acme ("
	" name TEXT PRIMARY KEY, last_try INTEGER NOT NULL, failures INTEGER NOT NULL,"
	" last_error TEXT NOT NULL, claimed_until INTEGER NOT NULL, owner TEXT NOT NULL,"
	" ord BLOB);",
};

#define COLUMNS                                                                                    \
	"domain, mode, max_age, mx_auto, mx, policy, phase, removing, served_none,"                \
	" served_id, published_id, inflight_id, served_max_age, served_since, held_until,"         \
	" cert_not_after, next_try, failures, created_at, updated_at, rev"

int mts_serve_store_open(const char *url, struct mts_serve_store **out, struct mts_error *err)
{
	*out = NULL;
	if (strncmp(url, "sqlite://", 9) != 0)
		return mts_error_set(err, MTS_EUSAGE,
				     "serve store '%.100s': expected sqlite:///path/to/db", url);
	const char *path = url + 9;
	if (path[0] != '/' || path[1] == '\0')
		return mts_error_set(
			err, MTS_EUSAGE,
			"serve store URL needs an absolute path: sqlite:///path/to/db");
	struct mts_serve_store *s = calloc(1, sizeof(*s));
	if (!s)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	int rc = mts_sqlite_open(path, MTS_SERVE_STORE_BUSY_MS, &s->db, err);
	if (!rc)
		rc = mts_sqlite_migrate(s->db, "serve_schema_version", migrations,
					sizeof(migrations) / sizeof(migrations[0]), err);
	if (rc) {
		mts_serve_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void mts_serve_store_close(struct mts_serve_store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s);
}

/* Room for one more element of *arr (count used, *cap allocated, size
 * bytes each): 0, or MTS_ENOMEM with err (the array is left as it was). */
static int grow(void **arr, size_t *cap, size_t count, size_t size, struct mts_error *err)
{
	if (count < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *g = realloc(*arr, ncap * size);
	if (!g)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	*arr = g;
	*cap = ncap;
	return 0;
}

static char *patterns_json(const struct mts_hosted_domain *d)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < d->mx_count; i++)
		json_array_append_new(a, json_string(d->mx[i]));
	char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

static int patterns_parse(struct mts_hosted_domain *d, const char *text)
{
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_array(a)) {
		json_decref(a);
		return MTS_ESTORE;
	}
	size_t n = json_array_size(a);
	d->mx = calloc(n ? n : 1, sizeof(*d->mx));
	int rc = d->mx ? 0 : MTS_ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		const char *v = json_string_value(json_array_get(a, i));
		if (!v)
			rc = MTS_ESTORE;
		else if (!(d->mx[d->mx_count] = strdup(v)))
			rc = MTS_ENOMEM;
		else
			d->mx_count++;
	}
	json_decref(a);
	return rc;
}

static enum mts_hosted_phase phase_parse(const char *name)
{
	for (int p = MTS_HOSTED_NEW; p <= MTS_HOSTED_GONE; p++)
		if (name && strcmp(name, mts_hosted_phase_name((enum mts_hosted_phase)p)) == 0)
			return (enum mts_hosted_phase)p;
	return (enum mts_hosted_phase) - 1;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	size_t n = src ? strlen((const char *)src) : 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? (const char *)src : "", n);
	dst[n] = '\0';
}

/* One row (COLUMNS order) into out. MTS_ESTORE for a row we cannot read. */
static int row_read(sqlite3_stmt *st, struct mts_hosted_domain *out, struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	struct mts_hosted *h = &out->state;
	copy_text(out->name, sizeof(out->name), sqlite3_column_text(st, 0));
	const unsigned char *mode = sqlite3_column_text(st, 1);
	int rc = 0;
	if (!mode || mts_mode_parse((const char *)mode, strlen((const char *)mode), &out->mode) < 0)
		rc = MTS_ESTORE;
	out->max_age = (uint32_t)sqlite3_column_int64(st, 2);
	out->mx_auto = sqlite3_column_int(st, 3) != 0;
	if (!rc)
		rc = patterns_parse(out, (const char *)sqlite3_column_text(st, 4));
	int len = sqlite3_column_bytes(st, 5);
	const void *policy = sqlite3_column_blob(st, 5);
	if (!rc && !(out->policy = malloc((size_t)len + 1)))
		rc = MTS_ENOMEM;
	if (!rc) {
		if (len)
			memcpy(out->policy, policy, (size_t)len);
		out->policy[len] = '\0';
		out->policy_len = (size_t)len;
	}
	h->phase = phase_parse((const char *)sqlite3_column_text(st, 6));
	if ((int)h->phase < 0)
		rc = rc ? rc : MTS_ESTORE;
	h->removing = sqlite3_column_int(st, 7) != 0;
	h->served_none = sqlite3_column_int(st, 8) != 0;
	copy_text(h->served_id, sizeof(h->served_id), sqlite3_column_text(st, 9));
	copy_text(h->published_id, sizeof(h->published_id), sqlite3_column_text(st, 10));
	copy_text(h->inflight_id, sizeof(h->inflight_id), sqlite3_column_text(st, 11));
	h->served_max_age = (uint32_t)sqlite3_column_int64(st, 12);
	h->served_since = sqlite3_column_int64(st, 13);
	h->held_until = sqlite3_column_int64(st, 14);
	h->cert_not_after = sqlite3_column_int64(st, 15);
	h->next_try = sqlite3_column_int64(st, 16);
	h->failures = (unsigned)sqlite3_column_int64(st, 17);
	out->created_at = sqlite3_column_int64(st, 18);
	out->updated_at = sqlite3_column_int64(st, 19);
	out->rev = sqlite3_column_int64(st, 20);
	if (rc) {
		char name[sizeof(out->name)];
		memcpy(name, out->name, sizeof(name));
		mts_hosted_domain_clear(out);
		return mts_error_set(err, rc == MTS_ENOMEM ? MTS_ENOMEM : MTS_ESTORE,
				     rc == MTS_ENOMEM ? "out of memory"
						      : "serve store: the row of %s cannot be read",
				     name);
	}
	return 0;
}

/* Bind the values of d from index first on, in COLUMNS order from mode on
 * (domain and rev are bound by the caller). */
static int bind_domain(sqlite3_stmt *st, int first, const struct mts_hosted_domain *d,
		       const char *mx)
{
	const struct mts_hosted *h = &d->state;
	int i = first;
	sqlite3_bind_text(st, i++, mts_mode_name(d->mode), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, d->max_age);
	sqlite3_bind_int(st, i++, d->mx_auto);
	sqlite3_bind_text(st, i++, mx, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, i++, d->policy ? d->policy : "", (int)d->policy_len, SQLITE_STATIC);
	sqlite3_bind_text(st, i++, mts_hosted_phase_name(h->phase), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, i++, h->removing);
	sqlite3_bind_int(st, i++, h->served_none);
	sqlite3_bind_text(st, i++, h->served_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i++, h->published_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i++, h->inflight_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, h->served_max_age);
	sqlite3_bind_int64(st, i++, h->served_since);
	sqlite3_bind_int64(st, i++, h->held_until);
	sqlite3_bind_int64(st, i++, h->cert_not_after);
	sqlite3_bind_int64(st, i++, h->next_try);
	sqlite3_bind_int64(st, i++, h->failures);
	sqlite3_bind_int64(st, i++, d->created_at);
	sqlite3_bind_int64(st, i++, d->updated_at);
	return i;
}

int mts_serve_store_add(struct mts_serve_store *s, struct mts_hosted_domain *d,
			struct mts_error *err)
{
	char *mx = patterns_json(d);
	if (!mx)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO serve_domains (" COLUMNS ") VALUES"
			       " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = mts_sqlite_error(s->db, err, "add domain");
		goto out;
	}
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	bind_domain(st, 2, d, mx);
	int step = sqlite3_step(st);
	if (step == SQLITE_CONSTRAINT)
		rc = mts_error_set(err, MTS_EEXIST, "%s is hosted already", d->name);
	else if (step != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "add domain");
	else
		d->rev = 1;
out:
	sqlite3_finalize(st);
	free(mx);
	return rc;
}

int mts_serve_store_get(struct mts_serve_store *s, const char *name, struct mts_hosted_domain *out,
			struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT " COLUMNS " FROM serve_domains WHERE domain = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "get domain");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st), rc;
	if (step == SQLITE_ROW)
		rc = row_read(st, out, err);
	else if (step == SQLITE_DONE)
		rc = mts_error_set(err, MTS_ENOTFOUND, "%s is not hosted", name);
	else
		rc = mts_sqlite_error(s->db, err, "get domain");
	sqlite3_finalize(st);
	return rc;
}

int mts_serve_store_put(struct mts_serve_store *s, struct mts_hosted_domain *d,
			struct mts_error *err)
{
	char *mx = patterns_json(d);
	if (!mx)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db,
			       "UPDATE serve_domains SET mode=?, max_age=?, mx_auto=?, mx=?,"
			       " policy=?, phase=?, removing=?, served_none=?, served_id=?,"
			       " published_id=?, inflight_id=?, served_max_age=?, served_since=?,"
			       " held_until=?, cert_not_after=?, next_try=?, failures=?,"
			       " created_at=?, updated_at=?, rev=rev+1"
			       " WHERE domain=? AND rev=?",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = mts_sqlite_error(s->db, err, "put domain");
		goto out;
	}
	int i = bind_domain(st, 1, d, mx);
	sqlite3_bind_text(st, i++, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i, d->rev);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mts_sqlite_error(s->db, err, "put domain");
		goto out;
	}
	if (sqlite3_changes(s->db) == 1) {
		d->rev++;
		goto out;
	}
	/* Nothing written: deleted, or changed by another writer. */
	struct mts_hosted_domain now;
	rc = mts_serve_store_get(s, d->name, &now, err);
	if (rc == 0) {
		rc = mts_error_set(err, MTS_ECONFLICT,
				   "%s was changed by another writer (revision %lld, not %lld)",
				   d->name, now.rev, d->rev);
		mts_hosted_domain_clear(&now);
	}
out:
	sqlite3_finalize(st);
	free(mx);
	return rc;
}

int mts_serve_store_delete(struct mts_serve_store *s, const char *name, struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM serve_domains WHERE domain = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "delete domain");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = 0;
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "delete domain");
	else if (sqlite3_changes(s->db) == 0)
		rc = mts_error_set(err, MTS_ENOTFOUND, "%s is not hosted", name);
	sqlite3_finalize(st);
	return rc;
}

void mts_serve_domains_free(struct mts_hosted_domain *d, size_t count)
{
	for (size_t i = 0; d && i < count; i++)
		mts_hosted_domain_clear(&d[i]);
	free(d);
}

int mts_serve_store_list(struct mts_serve_store *s, struct mts_hosted_domain **out, size_t *count,
			 struct mts_error *err)
{
	*out = NULL;
	*count = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT " COLUMNS " FROM serve_domains ORDER BY domain", -1,
			       &st, NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "list domains");
	size_t cap = 0;
	int rc = 0, step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = grow((void **)out, &cap, *count, sizeof(**out), err)) < 0)
			break;
		rc = row_read(st, &(*out)[*count], err);
		if (!rc)
			(*count)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "list domains");
	sqlite3_finalize(st);
	if (rc) {
		mts_serve_domains_free(*out, *count);
		*out = NULL;
		*count = 0;
	}
	return rc;
}

int mts_serve_store_history_add(struct mts_serve_store *s, const struct mts_hosted_domain *d,
				struct mts_error *err)
{
	int rc = mts_sqlite_exec(s->db, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR IGNORE INTO serve_history (domain, id, policy, served_at)"
			       " VALUES (?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = mts_sqlite_error(s->db, err, "history");
		goto out;
	}
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->state.served_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, d->policy ? d->policy : "", (int)d->policy_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, d->state.served_since);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mts_sqlite_error(s->db, err, "history");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "DELETE FROM serve_history WHERE domain = ?1 AND id NOT IN"
			       " (SELECT id FROM serve_history WHERE domain = ?1"
			       " ORDER BY served_at DESC, rowid DESC LIMIT ?2)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, MTS_SERVE_STORE_HISTORY_MAX) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "history");
out:
	sqlite3_finalize(st);
	if (rc) {
		mts_sqlite_exec(s->db, "ROLLBACK", NULL);
		return rc;
	}
	return mts_sqlite_exec(s->db, "COMMIT", err);
}

int mts_serve_store_history_published(struct mts_serve_store *s, const char *name, const char *id,
				      long long at, struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(
		    s->db,
		    "UPDATE serve_history SET published_at = ? WHERE domain = ? AND id = ?"
		    " AND published_at IS NULL",
		    -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, at) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "history");
	sqlite3_finalize(st);
	return rc;
}

void mts_serve_history_free(struct mts_serve_history *h, size_t count)
{
	for (size_t i = 0; h && i < count; i++)
		free(h[i].policy);
	free(h);
}

int mts_serve_store_history(struct mts_serve_store *s, const char *name,
			    struct mts_serve_history **out, size_t *count, struct mts_error *err)
{
	*out = NULL;
	*count = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, policy, served_at, COALESCE(published_at, 0)"
			       " FROM serve_history WHERE domain = ?"
			       " ORDER BY served_at DESC, rowid DESC",
			       -1, &st, NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "history");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = 0, step;
	size_t cap = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = grow((void **)out, &cap, *count, sizeof(**out), err)) < 0)
			break;
		struct mts_serve_history *h = &(*out)[*count];
		memset(h, 0, sizeof(*h));
		copy_text(h->id, sizeof(h->id), sqlite3_column_text(st, 0));
		int len = sqlite3_column_bytes(st, 1);
		if (!(h->policy = malloc((size_t)len + 1))) {
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
			break;
		}
		if (len)
			memcpy(h->policy, sqlite3_column_blob(st, 1), (size_t)len);
		h->policy[len] = '\0';
		h->policy_len = (size_t)len;
		h->served_at = sqlite3_column_int64(st, 2);
		h->published_at = sqlite3_column_int64(st, 3);
		(*count)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "history");
	sqlite3_finalize(st);
	if (rc) {
		mts_serve_history_free(*out, *count);
		*out = NULL;
		*count = 0;
	}
	return rc;
}

int mts_serve_store_setting_get(struct mts_serve_store *s, const char *key, char *out, size_t cap,
				struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM serve_settings WHERE key = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "settings");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		if (v && strlen((const char *)v) >= cap)
			rc = mts_error_set(err, MTS_ESTORE, "setting %s: too long", key);
		else
			copy_text(out, cap, v);
	} else if (step == SQLITE_DONE) {
		rc = mts_error_set(err, MTS_ENOTFOUND, "setting %s is not set", key);
	} else {
		rc = mts_sqlite_error(s->db, err, "settings");
	}
	sqlite3_finalize(st);
	return rc;
}

int mts_serve_store_setting_set(struct mts_serve_store *s, const char *key, const char *value,
				struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO serve_settings VALUES (?, ?)", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "settings");
	sqlite3_finalize(st);
	return rc;
}

int mts_serve_store_cert_put(struct mts_serve_store *s, const struct mts_serve_cert *c,
			     struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO serve_certs VALUES (?,?,?,?,?,?)", -1,
			       &st, NULL) != SQLITE_OK) {
		rc = mts_sqlite_error(s->db, err, "certificate");
		goto out;
	}
	sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->key_pem, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->chain_pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->not_before);
	sqlite3_bind_int64(st, 5, c->not_after);
	sqlite3_bind_int64(st, 6, c->updated_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "certificate");
out:
	sqlite3_finalize(st);
	return rc;
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return strdup(v ? (const char *)v : "");
}

void mts_serve_certs_free(struct mts_serve_cert *c, size_t count)
{
	for (size_t i = 0; c && i < count; i++) {
		if (c[i].key_pem)
			memset(c[i].key_pem, 0, strlen(c[i].key_pem)); /* a private key */
		free(c[i].key_pem);
		free(c[i].chain_pem);
	}
	free(c);
}

int mts_serve_store_certs(struct mts_serve_store *s, long long changed_since,
			  struct mts_serve_cert **out, size_t *count, struct mts_error *err)
{
	*out = NULL;
	*count = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT name, key_pem, chain_pem, not_before, not_after, updated_at"
			       " FROM serve_certs WHERE updated_at >= ? ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "certificates");
	sqlite3_bind_int64(st, 1, changed_since);
	int rc = 0, step;
	size_t cap = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = grow((void **)out, &cap, *count, sizeof(**out), err)) < 0)
			break;
		struct mts_serve_cert *c = &(*out)[*count];
		memset(c, 0, sizeof(*c));
		copy_text(c->name, sizeof(c->name), sqlite3_column_text(st, 0));
		c->key_pem = column_dup(st, 1);
		c->chain_pem = column_dup(st, 2);
		c->not_before = sqlite3_column_int64(st, 3);
		c->not_after = sqlite3_column_int64(st, 4);
		c->updated_at = sqlite3_column_int64(st, 5);
		(*count)++;
		if (!c->key_pem || !c->chain_pem)
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	if (!rc && step != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "certificates");
	sqlite3_finalize(st);
	if (rc) {
		mts_serve_certs_free(*out, *count);
		*out = NULL;
		*count = 0;
	}
	return rc;
}

int mts_serve_store_challenge_put(struct mts_serve_store *s, const char *token,
				  const char *key_authorization, const char *name,
				  long long expires_at, struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO serve_challenges VALUES (?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, key_authorization, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, expires_at) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "challenge");
	sqlite3_finalize(st);
	return rc;
}

int mts_serve_store_challenge_get(struct mts_serve_store *s, const char *token, long long now,
				  char *out, size_t cap, struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT key_authorization FROM serve_challenges"
			       " WHERE token = ? AND expires_at > ?",
			       -1, &st, NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "challenge");
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		if (!v || strlen((const char *)v) >= cap)
			rc = mts_error_set(err, MTS_ESTORE, "challenge: a bad key authorization");
		else
			copy_text(out, cap, v);
	} else if (step == SQLITE_DONE) {
		rc = MTS_ENOTFOUND;
	} else {
		rc = mts_sqlite_error(s->db, err, "challenge");
	}
	sqlite3_finalize(st);
	return rc;
}

long long mts_serve_store_data_version(struct mts_serve_store *s)
{
	/* data_version moves when another connection commits; total_changes
	 * when this one writes: together, "has anything changed". */
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = (sqlite3_column_int64(st, 0) << 32) + (long long)sqlite3_total_changes(s->db);
	sqlite3_finalize(st);
	return v;
}

int mts_serve_store_acme_get(struct mts_serve_store *s, const char *name,
			     struct mts_serve_acme_state *out, struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT last_try, failures, last_error, claimed_until, owner, ord"
			       " FROM serve_acme WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return mts_sqlite_error(s->db, err, "acme state");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		out->last_try = sqlite3_column_int64(st, 0);
		out->failures = (unsigned)sqlite3_column_int64(st, 1);
		copy_text(out->last_error, sizeof(out->last_error), sqlite3_column_text(st, 2));
		out->claimed_until = sqlite3_column_int64(st, 3);
		copy_text(out->owner, sizeof(out->owner), sqlite3_column_text(st, 4));
		/* An order saved by a build with another layout is not resumed. */
		if (sqlite3_column_bytes(st, 5) == (int)sizeof(out->order)) {
			memcpy(&out->order, sqlite3_column_blob(st, 5), sizeof(out->order));
			out->has_order = true;
		}
	} else if (step != SQLITE_DONE) {
		rc = mts_sqlite_error(s->db, err, "acme state");
	}
	sqlite3_finalize(st);
	return rc;
}

int mts_serve_store_acme_claim(struct mts_serve_store *s, const char *name, const char *owner,
			       long long until, long long now, struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = mts_sqlite_exec(s->db, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO serve_acme VALUES (?1, 0, 0, '', ?2, ?3, NULL)"
			       " ON CONFLICT (name) DO UPDATE SET claimed_until = ?2, owner = ?3"
			       " WHERE claimed_until < ?4 OR owner = ?3",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, until) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "acme claim");
	else if (sqlite3_changes(s->db) == 0)
		rc = MTS_ECONFLICT; /* another replica holds it */
	sqlite3_finalize(st);
	if (rc) {
		mts_sqlite_exec(s->db, "ROLLBACK", NULL);
		return rc;
	}
	return mts_sqlite_exec(s->db, "COMMIT", err);
}

int mts_serve_store_acme_put(struct mts_serve_store *s, const struct mts_serve_acme_state *a,
			     struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO serve_acme VALUES (?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = mts_sqlite_error(s->db, err, "acme state");
		goto out;
	}
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->last_try);
	sqlite3_bind_int64(st, 3, a->failures);
	sqlite3_bind_text(st, 4, a->last_error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, a->claimed_until);
	sqlite3_bind_text(st, 6, a->owner, -1, SQLITE_STATIC);
	if (a->has_order)
		sqlite3_bind_blob(st, 7, &a->order, (int)sizeof(a->order), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mts_sqlite_error(s->db, err, "acme state");
out:
	sqlite3_finalize(st);
	return rc;
}
