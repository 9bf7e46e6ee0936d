/* report_store_sqlite.c - the SQLite report store (see include/mtasts/report_store.h).
 *
 * WAL with synchronous=FULL, one IMMEDIATE transaction per report: a crash
 * or kill leaves each report wholly stored or absent, and a concurrent
 * ingest waits for the other writer instead of failing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "io/report_store_int.h"

struct sqlite_store {
	struct mts_report_store base;
	sqlite3 *db;
};

/* Migrations, in order: migration i brings the schema to version i + 1.
 * Never edit one that has shipped; append. */
static const char *const migrations[] = {
	"CREATE TABLE reports ("
	" id INTEGER PRIMARY KEY,"
	" organization TEXT NOT NULL,"
	" report_id TEXT NOT NULL,"
	" contact_info TEXT,"
	" start_text TEXT, end_text TEXT,"
	" start_time INTEGER, end_time INTEGER," /* Unix seconds, end exclusive; NULL if invalid */
	" received_at INTEGER NOT NULL,"
	" source TEXT,"
	" raw BLOB NOT NULL,"
	" UNIQUE (organization, report_id));"
	"CREATE INDEX reports_start ON reports(start_time);"
	"CREATE TABLE policies ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL,"
	" policy_type TEXT NOT NULL,"
	" policy_domain TEXT,"
	" policy_string TEXT NOT NULL," /* JSON array of strings */
	" mx_host TEXT NOT NULL,"	/* JSON array of strings */
	" successful INTEGER NOT NULL,"
	" failed INTEGER NOT NULL);"
	"CREATE INDEX policies_report ON policies(report);"
	"CREATE INDEX policies_domain ON policies(policy_domain);"
	"CREATE TABLE failure_details ("
	" id INTEGER PRIMARY KEY,"
	" policy INTEGER NOT NULL REFERENCES policies(id) ON DELETE CASCADE,"
	" result_type TEXT NOT NULL,"
	" sending_mta_ip TEXT, receiving_mx_hostname TEXT, receiving_mx_helo TEXT,"
	" receiving_ip TEXT, additional_information TEXT, failure_reason_code TEXT,"
	" failed_session_count INTEGER NOT NULL);"
	"CREATE INDEX failure_details_policy ON failure_details(policy);"
	"CREATE TABLE findings ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,"
	" code TEXT NOT NULL, severity INTEGER NOT NULL, message TEXT NOT NULL, subject TEXT);"
	"CREATE INDEX findings_report ON findings(report);"
	"CREATE TABLE quarantine ("
	" id INTEGER PRIMARY KEY,"
	" received_at INTEGER NOT NULL,"
	" source TEXT,"
	" reason TEXT NOT NULL,"
	" raw BLOB);",
};

static int db_error(struct sqlite_store *s, struct mts_error *err, const char *what)
{
	return mts_error_set(err, MTS_ESTORE, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(struct sqlite_store *s, const char *sql, struct mts_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = mts_error_set(err, MTS_ESTORE, "sqlite: %s", msg ? msg : "exec failed");
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

static int migrate(struct sqlite_store *s, struct mts_error *err)
{
	int rc = exec(s, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	rc = exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err);
	sqlite3_stmt *st = NULL;
	int version = 0;
	if (!rc && sqlite3_prepare_v2(s->db, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
				      -1, &st, NULL) != SQLITE_OK)
		rc = db_error(s, err, "schema_version");
	if (!rc && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (!rc && version > latest)
		rc = mts_error_set(err, MTS_ESTORE,
				   "sqlite: schema version %d is newer than this program's %d",
				   version, latest);
	for (int v = version; !rc && v < latest; v++) {
		rc = exec(s, migrations[v], err);
		char sql[80];
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d)", v + 1);
		if (!rc)
			rc = exec(s, sql, err);
	}
	if (rc) {
		exec(s, "ROLLBACK", NULL);
		return rc;
	}
	return exec(s, "COMMIT", err);
}

static void sqlite_close(struct mts_report_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_close(s->db);
	free(s);
}

static int sqlite_open(const char *location, struct mts_report_store **out,
		       struct mts_error *err)
{
	if (!*location)
		return mts_error_set(err, MTS_EUSAGE, "sqlite:// needs a path");
	struct sqlite_store *s = calloc(1, sizeof(*s));
	if (!s)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	s->base.ops = &mts_report_store_sqlite_ops;
	int rc = 0;
	if (sqlite3_open_v2(location, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		rc = mts_error_set(err, MTS_ESTORE, "sqlite: %.200s: %s", location,
				   s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, MTS_REPORT_STORE_BUSY_MS);
	rc = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
		  err);
	if (!rc)
		rc = migrate(s, err);
	if (rc)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	sqlite_close(&s->base);
	return rc;
}

/* Bind a string that may be NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int insert_policy(struct sqlite_store *s, int64_t report, size_t idx,
			 const struct mts_report_policy *p, struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	char *ps = mts_report_store_list_json(p->policy_string, p->policy_string_count);
	char *mx = mts_report_store_list_json(p->mx_host, p->mx_host_count);
	int rc = 0;
	if (!ps || !mx) {
		rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO policies (report, idx, policy_type, policy_domain,"
			       " policy_string, mx_host, successful, failed)"
			       " VALUES (?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(s, err, "insert policy");
		goto out;
	}
	sqlite3_bind_int64(st, 1, report);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
	bind_text(st, 3, p->policy_type ? p->policy_type : "");
	bind_text(st, 4, p->policy_domain);
	bind_text(st, 5, ps);
	bind_text(st, 6, mx);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)p->total_successful);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)p->total_failure);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_error(s, err, "insert policy");
		goto out;
	}
	int64_t policy = sqlite3_last_insert_rowid(s->db);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO failure_details (policy, result_type, sending_mta_ip,"
			       " receiving_mx_hostname, receiving_mx_helo, receiving_ip,"
			       " additional_information, failure_reason_code, failed_session_count)"
			       " VALUES (?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(s, err, "insert failure");
		goto out;
	}
	for (size_t i = 0; i < p->failure_count; i++) {
		const struct mts_report_failure *f = &p->failures[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, policy);
		bind_text(st, 2, f->result_type ? f->result_type : "");
		bind_text(st, 3, f->sending_mta_ip);
		bind_text(st, 4, f->receiving_mx_hostname);
		bind_text(st, 5, f->receiving_mx_helo);
		bind_text(st, 6, f->receiving_ip);
		bind_text(st, 7, f->additional_information);
		bind_text(st, 8, f->failure_reason_code);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)f->failed_session_count);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = db_error(s, err, "insert failure");
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	free(ps);
	free(mx);
	return rc;
}

static int insert_findings(struct sqlite_store *s, int64_t report, const struct mts_findings *fs,
			   struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO findings (report, code, severity, message, subject)"
			       " VALUES (?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "insert finding");
	int rc = 0;
	for (size_t i = 0; !rc && i < fs->count; i++) {
		const struct mts_finding *f = &fs->items[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, report);
		bind_text(st, 2, mts_finding_info(f->id)->code);
		sqlite3_bind_int(st, 3, (int)f->severity);
		bind_text(st, 4, f->message);
		bind_text(st, 5, f->subject);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_error(s, err, "insert finding");
	}
	sqlite3_finalize(st);
	return rc;
}

static int sqlite_ingest(struct mts_report_store *base, const struct mts_report *r,
			 const char *raw, size_t raw_len, const char *source, int64_t now,
			 int64_t *id, struct mts_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (raw_len > (size_t)1 << 30)
		return mts_error_set(err, MTS_ETOOBIG, "report body over 1 GiB");
	int rc = exec(s, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t found = 0;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id FROM reports WHERE organization = ? AND report_id = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(s, err, "find duplicate");
		goto out;
	}
	bind_text(st, 1, r->organization_name);
	bind_text(st, 2, r->report_id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		found = sqlite3_column_int64(st, 0);
	else if (step != SQLITE_DONE)
		rc = db_error(s, err, "find duplicate");
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	if (found) {
		if (id)
			*id = found;
		exec(s, "ROLLBACK", NULL);
		return MTS_INGEST_DUPLICATE;
	}
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO reports (organization, report_id, contact_info,"
			       " start_text, end_text, start_time, end_time, received_at, source, raw)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(s, err, "insert report");
		goto out;
	}
	bind_text(st, 1, r->organization_name);
	bind_text(st, 2, r->report_id);
	bind_text(st, 3, r->contact_info);
	bind_text(st, 4, r->start_text);
	bind_text(st, 5, r->end_text);
	if (r->dates_valid) {
		sqlite3_bind_int64(st, 6, r->start);
		sqlite3_bind_int64(st, 7, r->end);
	} else {
		sqlite3_bind_null(st, 6);
		sqlite3_bind_null(st, 7);
	}
	sqlite3_bind_int64(st, 8, now);
	bind_text(st, 9, source);
	sqlite3_bind_blob(st, 10, raw ? raw : "", (int)raw_len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_error(s, err, "insert report");
		goto out;
	}
	int64_t report = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; !rc && i < r->policy_count; i++)
		rc = insert_policy(s, report, i, &r->policies[i], err);
	if (!rc)
		rc = insert_findings(s, report, &r->findings, err);
	if (!rc)
		rc = exec(s, "COMMIT", err);
	if (!rc && id)
		*id = report;
out:
	sqlite3_finalize(st);
	if (rc) {
		exec(s, "ROLLBACK", NULL);
		return rc;
	}
	return MTS_INGEST_STORED;
}

static int sqlite_quarantine(struct mts_report_store *base, const char *source,
			     const char *reason, const char *raw, size_t raw_len, int64_t now,
			     struct mts_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = NULL;
	if (raw_len > (size_t)1 << 30)
		raw = NULL;
	/* One statement, so that the cap holds against a concurrent writer. */
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO quarantine (received_at, source, reason, raw)"
			       " SELECT ?1, ?2, ?3 || CASE WHEN kept THEN '' ELSE ?6 END,"
			       " CASE WHEN kept THEN ?4 END FROM (SELECT ?4 IS NULL OR"
			       " (SELECT COALESCE(SUM(length(raw)), 0) FROM quarantine) + ?5 <= ?7"
			       " AS kept)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "quarantine");
	sqlite3_bind_int64(st, 1, now);
	bind_text(st, 2, source);
	bind_text(st, 3, reason);
	if (raw)
		sqlite3_bind_blob(st, 4, raw, (int)raw_len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)raw_len);
	bind_text(st, 6, MTS_REPORT_STORE_QUARANTINE_FULL);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)MTS_REPORT_STORE_QUARANTINE_MAX_BYTES);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, err, "quarantine");
	sqlite3_finalize(st);
	return rc;
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return v ? strdup((const char *)v) : NULL;
}

static int sqlite_list(struct mts_report_store *base, const char *domain,
		       struct mts_report_row **rows, size_t *count, struct mts_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	*rows = NULL;
	*count = 0;
	sqlite3_stmt *st = NULL;
	const char *sql =
		"SELECT r.id, r.organization, r.report_id, COALESCE(r.start_time, 0),"
		" COALESCE(r.end_time, 0), r.received_at,"
		" (SELECT group_concat(d, ',') FROM (SELECT DISTINCT policy_domain AS d"
		"   FROM policies WHERE report = r.id AND policy_domain IS NOT NULL ORDER BY d)),"
		/* TOTAL() is a float and CAST saturates: a hostile report's huge
		 * counts must not make SUM() overflow and fail every listing. */
		" (SELECT CAST(TOTAL(successful) AS INTEGER) FROM policies WHERE report = r.id),"
		" (SELECT CAST(TOTAL(failed) AS INTEGER) FROM policies WHERE report = r.id),"
		" (SELECT COUNT(*) FROM findings WHERE report = r.id)"
		" FROM reports r"
		" WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id"
		"   AND p.policy_domain = ?1)"
		" ORDER BY r.start_time DESC, r.id DESC";
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "list");
	bind_text(st, 1, domain);
	int rc = 0, step;
	size_t cap = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct mts_report_row *grown = realloc(*rows, ncap * sizeof(*grown));
			if (!grown) {
				rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
				break;
			}
			*rows = grown;
			cap = ncap;
		}
		struct mts_report_row *row = &(*rows)[*count];
		memset(row, 0, sizeof(*row));
		(*count)++;
		row->id = sqlite3_column_int64(st, 0);
		row->organization_name = column_dup(st, 1);
		row->report_id = column_dup(st, 2);
		row->start = sqlite3_column_int64(st, 3);
		row->end = sqlite3_column_int64(st, 4);
		row->received_at = sqlite3_column_int64(st, 5);
		row->domains = column_dup(st, 6);
		if (!row->domains)
			row->domains = strdup("");
		row->successful = (uint64_t)sqlite3_column_int64(st, 7);
		row->failed = (uint64_t)sqlite3_column_int64(st, 8);
		row->finding_count = (size_t)sqlite3_column_int64(st, 9);
		if (!row->organization_name || !row->report_id || !row->domains) {
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
			break;
		}
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, err, "list");
	sqlite3_finalize(st);
	if (rc) {
		mts_report_rows_free(*rows, *count);
		*rows = NULL;
		*count = 0;
	}
	return rc;
}

static int get_policies(struct sqlite_store *s, struct mts_report *r, int64_t id,
			struct mts_error *err)
{
	sqlite3_stmt *st = NULL, *fst = NULL;
	int rc = 0, step;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, policy_type, policy_domain, policy_string, mx_host,"
			       " successful, failed, (SELECT COUNT(*) FROM failure_details f"
			       " WHERE f.policy = policies.id)"
			       " FROM policies WHERE report = ? ORDER BY idx",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT result_type, sending_mta_ip, receiving_mx_hostname,"
			       " receiving_mx_helo, receiving_ip, additional_information,"
			       " failure_reason_code, failed_session_count"
			       " FROM failure_details WHERE policy = ? ORDER BY id",
			       -1, &fst, NULL) != SQLITE_OK) {
		rc = db_error(s, err, "get policies");
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	size_t cap = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->policy_count == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct mts_report_policy *g = realloc(r->policies, ncap * sizeof(*g));
			if (!g) {
				rc = MTS_ENOMEM;
				goto out;
			}
			r->policies = g;
			cap = ncap;
		}
		struct mts_report_policy *p = &r->policies[r->policy_count++];
		memset(p, 0, sizeof(*p));
		p->policy_type = column_dup(st, 1);
		p->policy_domain = column_dup(st, 2);
		p->total_successful = (uint64_t)sqlite3_column_int64(st, 5);
		p->total_failure = (uint64_t)sqlite3_column_int64(st, 6);
		if (!p->policy_type ||
		    mts_report_store_list_parse((const char *)sqlite3_column_text(st, 3), &p->policy_string,
				   &p->policy_string_count) ||
		    mts_report_store_list_parse((const char *)sqlite3_column_text(st, 4), &p->mx_host,
				   &p->mx_host_count)) {
			rc = MTS_ENOMEM;
			goto out;
		}
		p->type = mts_report_policy_type_parse(p->policy_type);
		size_t nf = (size_t)sqlite3_column_int64(st, 7);
		if (!nf)
			continue;
		p->failures = calloc(nf, sizeof(*p->failures));
		if (!p->failures) {
			rc = MTS_ENOMEM;
			goto out;
		}
		sqlite3_reset(fst);
		sqlite3_bind_int64(fst, 1, sqlite3_column_int64(st, 0));
		while (p->failure_count < nf && sqlite3_step(fst) == SQLITE_ROW) {
			struct mts_report_failure *f = &p->failures[p->failure_count++];
			f->result_type = column_dup(fst, 0);
			f->sending_mta_ip = column_dup(fst, 1);
			f->receiving_mx_hostname = column_dup(fst, 2);
			f->receiving_mx_helo = column_dup(fst, 3);
			f->receiving_ip = column_dup(fst, 4);
			f->additional_information = column_dup(fst, 5);
			f->failure_reason_code = column_dup(fst, 6);
			f->failed_session_count = (uint64_t)sqlite3_column_int64(fst, 7);
			if (!f->result_type) {
				rc = MTS_ENOMEM;
				goto out;
			}
		}
	}
	if (step != SQLITE_DONE)
		rc = db_error(s, err, "get policies");
out:
	if (rc == MTS_ENOMEM)
		mts_error_set(err, MTS_ENOMEM, "out of memory");
	sqlite3_finalize(st);
	sqlite3_finalize(fst);
	return rc;
}

static int get_findings(struct sqlite_store *s, struct mts_report *r, int64_t id,
			struct mts_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT code, message, subject FROM findings WHERE report = ?"
			       " ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "get findings");
	sqlite3_bind_int64(st, 1, id);
	int rc = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *code = (const char *)sqlite3_column_text(st, 0);
		enum mts_finding_code fid = mts_finding_lookup(code ? code : "");
		if (fid == MTS_F__COUNT)
			continue; /* a code from a newer program: nothing to render it with */
		r->findings.subject = (const char *)sqlite3_column_text(st, 2);
		const char *msg = (const char *)sqlite3_column_text(st, 1);
		if (mts_findings_add(&r->findings, fid, 0, 0, "%s", msg ? msg : "") < 0) {
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
			break;
		}
	}
	r->findings.subject = NULL;
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, err, "get findings");
	sqlite3_finalize(st);
	return rc;
}

static int sqlite_get(struct mts_report_store *base, int64_t id, struct mts_report **out,
		      struct mts_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	*out = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT organization, report_id, contact_info, start_text, end_text,"
			       " start_time, end_time FROM reports WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "get report");
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (step == SQLITE_DONE)
			return mts_error_set(err, MTS_ENOTFOUND, "no report with id %lld",
					     (long long)id);
		return db_error(s, err, "get report");
	}
	struct mts_report *r = mts_report_new();
	int rc = 0;
	if (!r) {
		sqlite3_finalize(st);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	r->organization_name = column_dup(st, 0);
	r->report_id = column_dup(st, 1);
	r->contact_info = column_dup(st, 2);
	r->start_text = column_dup(st, 3);
	r->end_text = column_dup(st, 4);
	r->dates_valid = sqlite3_column_type(st, 5) != SQLITE_NULL;
	r->start = sqlite3_column_int64(st, 5);
	r->end = sqlite3_column_int64(st, 6);
	sqlite3_finalize(st);
	if (!r->organization_name || !r->report_id)
		rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	if (!rc)
		rc = get_policies(s, r, id, err);
	if (!rc)
		rc = get_findings(s, r, id, err);
	if (rc) {
		mts_report_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const struct mts_report_store_ops mts_report_store_sqlite_ops = {
	.scheme = "sqlite",
	.open = sqlite_open,
	.ingest = sqlite_ingest,
	.quarantine = sqlite_quarantine,
	.list = sqlite_list,
	.get = sqlite_get,
	.close = sqlite_close,
};
