/* report_store_pg.c - the PostgreSQL report store (see include/mtasts/report_store.h).
 *
 * The same normalised tables as the SQLite store, for several machines that
 * share one server. Each report is one transaction: the INSERT of its row
 * with ON CONFLICT DO NOTHING decides, atomically even against a concurrent
 * writer, whether it is new or a duplicate (the first copy is kept), and
 * the caller hears "stored" only once COMMIT has succeeded. Migrations run
 * under an advisory lock so that two programs opening a fresh database do
 * not both create it. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "io/pg_int.h"
#include "io/report_store_int.h"

struct pg_store {
	struct mts_report_store base;
	PGconn *conn;
};

/* Migrations, in order: migration i brings the schema to version i + 1.
 * Never edit one that has shipped; append. Column for column the SQLite
 * schema, so that both stores hold (and summarise) the same data. */
static const char *const migrations[] = {
	"CREATE TABLE reports ("
	" id BIGSERIAL PRIMARY KEY,"
	" organization TEXT NOT NULL,"
	" report_id TEXT NOT NULL,"
	" contact_info TEXT,"
	" start_text TEXT, end_text TEXT,"
	" start_time BIGINT, end_time BIGINT," /* Unix seconds, end exclusive; NULL if invalid */
	" received_at BIGINT NOT NULL,"
	" source TEXT,"
	" raw BYTEA NOT NULL,"
	" UNIQUE (organization, report_id));"
	"CREATE INDEX reports_start ON reports(start_time);"
	"CREATE TABLE policies ("
	" id BIGSERIAL PRIMARY KEY,"
	" report BIGINT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL,"
	" policy_type TEXT NOT NULL,"
	" policy_domain TEXT,"
	" policy_string TEXT NOT NULL," /* JSON array of strings */
	" mx_host TEXT NOT NULL,"	/* JSON array of strings */
	" successful BIGINT NOT NULL,"
	" failed BIGINT NOT NULL);"
	"CREATE INDEX policies_report ON policies(report);"
	"CREATE INDEX policies_domain ON policies(policy_domain);"
	"CREATE TABLE failure_details ("
	" id BIGSERIAL PRIMARY KEY,"
	" policy BIGINT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,"
	" result_type TEXT NOT NULL,"
	" sending_mta_ip TEXT, receiving_mx_hostname TEXT, receiving_mx_helo TEXT,"
	" receiving_ip TEXT, additional_information TEXT, failure_reason_code TEXT,"
	" failed_session_count BIGINT NOT NULL);"
	"CREATE INDEX failure_details_policy ON failure_details(policy);"
	"CREATE TABLE findings ("
	" id BIGSERIAL PRIMARY KEY,"
	" report BIGINT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,"
	" code TEXT NOT NULL, severity INTEGER NOT NULL, message TEXT NOT NULL, subject TEXT);"
	"CREATE INDEX findings_report ON findings(report);"
	"CREATE TABLE quarantine ("
	" id BIGSERIAL PRIMARY KEY,"
	" received_at BIGINT NOT NULL,"
	" source TEXT,"
	" reason TEXT NOT NULL,"
	" raw BYTEA);",
};

/* What we wait for the server: its own statement limit, plus a margin. */
#define WAIT_MS (MTS_REPORT_STORE_PG_STATEMENT_MS + MTS_PG_WAIT_MARGIN_MS)

/* Any 64-bit constant of ours: serialises migrations between programs. */
#define MIGRATION_LOCK "7011390251620954113"

static int pg_error(struct pg_store *s, struct mts_error *err, const char *what)
{
	return mts_pg_error(s->conn, err, what);
}

/* Run sql with text parameters (NULL is SQL NULL); binary says which are
 * bytea given with lengths. Returns the result when its status is want,
 * else NULL with err filled. */
static PGresult *run(struct pg_store *s, const char *sql, int n, const char *const *values,
		     const int *lengths, const int *binary, ExecStatusType want, const char *what,
		     struct mts_error *err)
{
	PGresult *res = mts_pg_exec(s->conn, WAIT_MS, sql, n, values, lengths, binary, what, err);
	if (!res)
		return NULL;
	if (PQresultStatus(res) == want)
		return res;
	PQclear(res);
	pg_error(s, err, what);
	return NULL;
}

static int migrate(struct pg_store *s, struct mts_error *err)
{
	return mts_pg_migrate(s->conn, WAIT_MS, "schema_version", MIGRATION_LOCK, migrations,
			      (int)(sizeof(migrations) / sizeof(migrations[0])), err);
}

static int prepare(struct pg_store *s, struct mts_error *err);

static void pg_close(struct mts_report_store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	PQfinish(s->conn);
	free(s);
}

static int pg_open_url(const char *url, const struct mts_report_store_ops *ops,
		       struct mts_report_store **out, struct mts_error *err)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	s->base.ops = ops;
	const struct mts_pg_limits limits = {.connect_s = MTS_REPORT_STORE_PG_CONNECT_S,
					     .statement_ms = MTS_REPORT_STORE_PG_STATEMENT_MS,
					     .lock_ms = MTS_REPORT_STORE_BUSY_MS};
	int rc = 0;
	s->conn = mts_pg_connect(url, &limits, err);
	if (!s->conn) {
		rc = err && err->code ? err->code : MTS_ESTORE;
		goto fail;
	}
	rc = migrate(s, err);
	if (!rc)
		rc = prepare(s, err);
	if (rc)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	pg_close(&s->base);
	return rc;
}

static int pg_open(const char *location, struct mts_report_store **out, struct mts_error *err)
{
	size_t n = strlen(location);
	char *url = malloc(n + sizeof("postgresql://"));
	if (!url)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	memcpy(url, "postgresql://", sizeof("postgresql://") - 1);
	memcpy(url + sizeof("postgresql://") - 1, location, n + 1);
	int rc = pg_open_url(url, &mts_report_store_pg_ops, out, err);
	free(url);
	return rc;
}

/* Counts are kept as the SQLite store keeps them: the 64 bits as a signed
 * BIGINT, so that both give back the same numbers. */
static json_t *count_json(uint64_t v)
{
	return json_integer((json_int_t)(int64_t)v);
}

/* Set key to a string or null; false when out of memory or not UTF-8
 * (PostgreSQL's text would refuse it too). */
static bool set_text(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, v ? json_string(v) : json_null()) == 0;
}

static char *failures_json(const struct mts_report_policy *p)
{
	json_t *a = json_array();
	bool ok = a != NULL;
	for (size_t i = 0; ok && i < p->failure_count; i++) {
		const struct mts_report_failure *f = &p->failures[i];
		json_t *o = json_object();
		ok = o && set_text(o, "result_type", f->result_type ? f->result_type : "") &&
		     set_text(o, "sending_mta_ip", f->sending_mta_ip) &&
		     set_text(o, "receiving_mx_hostname", f->receiving_mx_hostname) &&
		     set_text(o, "receiving_mx_helo", f->receiving_mx_helo) &&
		     set_text(o, "receiving_ip", f->receiving_ip) &&
		     set_text(o, "additional_information", f->additional_information) &&
		     set_text(o, "failure_reason_code", f->failure_reason_code) &&
		     json_object_set_new(o, "failed_session_count",
					 count_json(f->failed_session_count)) == 0;
		ok = json_array_append_new(a, o) == 0 && ok;
	}
	char *text = ok ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

static char *findings_json(const struct mts_findings *fs)
{
	json_t *a = json_array();
	bool ok = a != NULL;
	for (size_t i = 0; ok && i < fs->count; i++) {
		const struct mts_finding *f = &fs->items[i];
		json_t *o = json_object();
		ok = o && set_text(o, "code", mts_finding_info(f->id)->code) &&
		     json_object_set_new(o, "severity", json_integer((int)f->severity)) == 0 &&
		     set_text(o, "message", f->message) && set_text(o, "subject", f->subject);
		ok = json_array_append_new(a, o) == 0 && ok;
	}
	char *text = ok ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

/* A policy and its failure details in one statement, details in order. */
static const char insert_policy_sql[] =
	"WITH p AS (INSERT INTO policies (report, idx, policy_type, policy_domain,"
	" policy_string, mx_host, successful, failed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
	" RETURNING id)"
	" INSERT INTO failure_details (policy, result_type, sending_mta_ip,"
	" receiving_mx_hostname, receiving_mx_helo, receiving_ip, additional_information,"
	" failure_reason_code, failed_session_count)"
	" SELECT p.id, f.result_type, f.sending_mta_ip, f.receiving_mx_hostname,"
	" f.receiving_mx_helo, f.receiving_ip, f.additional_information, f.failure_reason_code,"
	" f.failed_session_count FROM p, ROWS FROM (json_to_recordset($9::json) AS ("
	" result_type text, sending_mta_ip text, receiving_mx_hostname text,"
	" receiving_mx_helo text, receiving_ip text, additional_information text,"
	" failure_reason_code text, failed_session_count bigint)) WITH ORDINALITY"
	" AS f(result_type, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo,"
	" receiving_ip, additional_information, failure_reason_code, failed_session_count, n)"
	" ORDER BY f.n";

static const char insert_findings_sql[] =
	"INSERT INTO findings (report, code, severity, message, subject)"
	" SELECT $1, f.code, f.severity, f.message, f.subject"
	" FROM ROWS FROM (json_to_recordset($2::json) AS (code text, severity integer,"
	" message text, subject text)) WITH ORDINALITY AS f(code, severity, message, subject, n)"
	" ORDER BY f.n";

static const char insert_report_sql[] =
	"INSERT INTO reports (organization, report_id, contact_info, start_text,"
	" end_text, start_time, end_time, received_at, source, raw)"
	" VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
	" ON CONFLICT (organization, report_id) DO NOTHING RETURNING id";

/* The ingest statements, prepared once per connection: parsing and
 * planning them for every report cost more than running them. */
enum { STMT_BEGIN, STMT_REPORT, STMT_POLICY, STMT_FINDINGS, STMT_COMMIT, STMT__COUNT };
static const struct {
	const char *name, *sql;
	int params;
} statements[STMT__COUNT] = {
	[STMT_BEGIN] = {"mts_begin", "BEGIN", 0},
	[STMT_REPORT] = {"mts_report", insert_report_sql, 10},
	[STMT_POLICY] = {"mts_policy", insert_policy_sql, 9},
	[STMT_FINDINGS] = {"mts_findings", insert_findings_sql, 2},
	[STMT_COMMIT] = {"mts_commit", "COMMIT", 0},
};

static int prepare(struct pg_store *s, struct mts_error *err)
{
	for (int i = 0; i < STMT__COUNT; i++) {
		PGresult *res = NULL;
		if (PQsendPrepare(s->conn, statements[i].name, statements[i].sql,
				  statements[i].params, NULL))
			res = mts_pg_collect(s->conn, WAIT_MS, "prepare", err);
		else
			pg_error(s, err, "prepare");
		if (!res)
			return MTS_ESTORE;
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (!ok)
			return pg_error(s, err, "prepare");
	}
	return 0;
}

/* Queue one prepared statement in the pipeline. */
static int queue(struct pg_store *s, int stmt, int n, const char *const *values,
		 const int *lengths, const int *binary, struct mts_error *err)
{
	if (!PQsendQueryPrepared(s->conn, statements[stmt].name, n, values, lengths, binary, 0))
		return pg_error(s, err, "send");
	return 0;
}

/* Sync, then read the results of the count statements queued before it;
 * the tuples of statement keep (-1: none) are left in *kept. The first
 * failure is reported; the statements after it did not run. */
static int drain(struct pg_store *s, int count, int keep, PGresult **kept, const char *what,
		 struct mts_error *err)
{
	int rc = 0;
	double deadline = mts_pg_deadline(WAIT_MS);
	if (!PQpipelineSync(s->conn))
		return pg_error(s, err, what);
	int flushed = mts_pg_flush(s->conn, deadline);
	if (flushed)
		return flushed > 0 ? mts_pg_give_up(s->conn, what, WAIT_MS, err)
				   : pg_error(s, err, what);
	PGresult *res;
	for (int i = 0; i < count; i++) {
		for (;;) {
			if (mts_pg_result(s->conn, deadline, &res)) {
				rc = mts_pg_give_up(s->conn, what, WAIT_MS, err);
				goto out;
			}
			if (!res)
				break;
			ExecStatusType st = PQresultStatus(res);
			if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !rc) {
				char msg[MTS_ERROR_MSG_MAX];
				snprintf(msg, sizeof(msg), "%s",
					 st == PGRES_PIPELINE_ABORTED ? "aborted"
								      : PQresultErrorMessage(res));
				mts_pg_one_line(msg);
				rc = mts_error_set(err, MTS_ESTORE, "postgresql: %s: %s", what, msg);
			}
			if (i == keep && kept && !*kept && st == PGRES_TUPLES_OK)
				*kept = res;
			else
				PQclear(res);
		}
		if (PQstatus(s->conn) != CONNECTION_OK) {
			if (!rc)
				rc = pg_error(s, err, what);
			goto out;
		}
	}
	if (mts_pg_result(s->conn, deadline, &res)) {
		rc = mts_pg_give_up(s->conn, what, WAIT_MS, err);
		goto out;
	}
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && !rc)
		rc = pg_error(s, err, what);
	PQclear(res);
out:
	if (rc && kept) {
		PQclear(*kept);
		*kept = NULL;
	}
	return rc;
}

/* Roll back what a failed ingest left open, unless the connection is
 * gone (then the server has rolled it back). */
static void rollback(struct pg_store *s)
{
	if (PQstatus(s->conn) == CONNECTION_OK)
		mts_pg_command(s->conn, WAIT_MS, "ROLLBACK", "rollback", NULL);
}

static void pipeline_off(struct pg_store *s)
{
	if (PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF)
		PQexitPipelineMode(s->conn);
}

/* Round trip 1: BEGIN and the report's row. report receives the new row's
 * id as text, or stays empty when a report with the same (organization,
 * report-id) is already stored (ON CONFLICT DO NOTHING returned no row). */
static int insert_report_row(struct pg_store *s, const struct mts_report *r, const char *raw,
			     size_t raw_len, const char *source, int64_t now, char report[24],
			     struct mts_error *err)
{
	char start[24], end[24], received[24];
	snprintf(start, sizeof(start), "%" PRId64, r->start);
	snprintf(end, sizeof(end), "%" PRId64, r->end);
	snprintf(received, sizeof(received), "%" PRId64, now);
	const char *v[] = {r->organization_name,
			   r->report_id,
			   r->contact_info,
			   r->start_text,
			   r->end_text,
			   r->dates_valid ? start : NULL,
			   r->dates_valid ? end : NULL,
			   received,
			   source,
			   raw ? raw : ""};
	int lengths[10] = {[9] = (int)raw_len};
	int binary[10] = {[9] = 1};
	PGresult *ins = NULL;
	report[0] = '\0';
	int rc = queue(s, STMT_BEGIN, 0, NULL, NULL, NULL, err);
	if (!rc)
		rc = queue(s, STMT_REPORT, 10, v, lengths, binary, err);
	if (!rc)
		rc = drain(s, 2, 1, &ins, "insert report", err);
	if (!rc && ins && PQntuples(ins) > 0)
		snprintf(report, 24, "%s", PQgetvalue(ins, 0, 0));
	PQclear(ins);
	return rc;
}

/* The id of the report stored first under r's (organization, report-id),
 * maybe a moment ago by another program; outside the pipeline. */
static int find_stored(struct pg_store *s, const struct mts_report *r, int64_t *id,
		       struct mts_error *err)
{
	const char *k[] = {r->organization_name, r->report_id};
	PGresult *res = run(s, "SELECT id FROM reports WHERE organization = $1 AND report_id = $2",
			    2, k, NULL, NULL, PGRES_TUPLES_OK, "find duplicate", err);
	if (!res)
		return MTS_ESTORE;
	if (id)
		*id = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return 0;
}

/* Queue one policy of report (row id as text) with its failure details;
 * the three JSON texts it needs are left in texts for the caller to free. */
static int queue_policy(struct pg_store *s, const char *report, size_t idx,
			const struct mts_report_policy *p, char *texts[3], struct mts_error *err)
{
	char *ps = texts[0] = mts_report_store_list_json(p->policy_string, p->policy_string_count);
	char *mx = texts[1] = mts_report_store_list_json(p->mx_host, p->mx_host_count);
	char *fj = texts[2] = failures_json(p);
	if (!ps || !mx || !fj)
		return mts_error_set(err, MTS_ENOMEM, "out of memory (or text not UTF-8)");
	char idx_text[24], ok[24], failed[24];
	snprintf(idx_text, sizeof(idx_text), "%zu", idx);
	snprintf(ok, sizeof(ok), "%" PRId64, (int64_t)p->total_successful);
	snprintf(failed, sizeof(failed), "%" PRId64, (int64_t)p->total_failure);
	const char *pv[] = {report, idx_text, p->policy_type ? p->policy_type : "",
			    p->policy_domain, ps, mx, ok, failed, fj};
	return queue(s, STMT_POLICY, 9, pv, NULL, NULL, err);
}

/* Round trip 2: the policies with their failure details, the findings and
 * COMMIT, pipelined. On failure the transaction is still open. */
static int insert_report_details(struct pg_store *s, const struct mts_report *r,
				 const char *report, struct mts_error *err)
{
	/* policy_string, mx_host and failures of each policy, then findings */
	size_t ntexts = r->policy_count * 3 + 1;
	char **texts = calloc(ntexts, sizeof(*texts));
	if (!texts)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	int rc = 0, queued = 0;
	for (size_t i = 0; !rc && i < r->policy_count; i++) {
		rc = queue_policy(s, report, i, &r->policies[i], texts + 3 * i, err);
		queued++;
	}
	if (!rc && r->findings.count) {
		char *fj = texts[ntexts - 1] = findings_json(&r->findings);
		const char *fv[] = {report, fj};
		rc = fj ? queue(s, STMT_FINDINGS, 2, fv, NULL, NULL, err)
			: mts_error_set(err, MTS_ENOMEM, "out of memory (or text not UTF-8)");
		queued++;
	}
	if (!rc) {
		rc = queue(s, STMT_COMMIT, 0, NULL, NULL, NULL, err);
		queued++;
	}
	if (rc) /* something was not queued: run what was (the caller rolls it back) */
		drain(s, queued, -1, NULL, "insert policies", NULL);
	else
		rc = drain(s, queued, -1, NULL, "insert policies", err);
	for (size_t i = 0; i < ntexts; i++)
		free(texts[i]);
	free(texts);
	return rc;
}

/* Two round trips per report: the report's row (which says whether it is
 * new), then everything under it; see insert_report_row() and
 * insert_report_details(). */
static int pg_ingest(struct mts_report_store *base, const struct mts_report *r, const char *raw,
		     size_t raw_len, const char *source, int64_t now, int64_t *id,
		     struct mts_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	if (raw_len > (size_t)1 << 30)
		return mts_error_set(err, MTS_ETOOBIG, "report body over 1 GiB");
	if (PQenterPipelineMode(s->conn) != 1)
		return pg_error(s, err, "pipeline");
	char report[24];
	int rc = insert_report_row(s, r, raw, raw_len, source, now, report, err);
	if (!rc && !*report) {
		/* Someone stored it first: the first copy stays. */
		pipeline_off(s);
		rc = find_stored(s, r, id, err);
		rollback(s);
		return rc ? rc : MTS_INGEST_DUPLICATE;
	}
	if (!rc)
		rc = insert_report_details(s, r, report, err);
	pipeline_off(s);
	if (rc) {
		rollback(s);
		return rc;
	}
	if (id)
		*id = strtoll(report, NULL, 10);
	return MTS_INGEST_STORED;
}

static int pg_quarantine(struct mts_report_store *base, const char *source, const char *reason,
			 const char *raw, size_t raw_len, int64_t now, struct mts_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	if (raw_len > (size_t)1 << 30)
		raw = NULL;
	char received[24], len_text[24], cap_text[24];
	snprintf(received, sizeof(received), "%" PRId64, now);
	snprintf(len_text, sizeof(len_text), "%zu", raw ? raw_len : 0);
	snprintf(cap_text, sizeof(cap_text), "%llu",
		 (unsigned long long)MTS_REPORT_STORE_QUARANTINE_MAX_BYTES);
	const char *v[] = {received, source, reason, raw, len_text,
			   MTS_REPORT_STORE_QUARANTINE_FULL, cap_text};
	int lengths[7] = {[3] = raw ? (int)raw_len : 0};
	int binary[7] = {[3] = 1};
	/* One statement: the cap is checked where the row is written. Two
	 * writers at once may pass it by a body each, no more. */
	PGresult *res = run(s,
			    "INSERT INTO quarantine (received_at, source, reason, raw)"
			    " SELECT $1::bigint, $2::text, $3::text || CASE WHEN kept THEN '' ELSE $6::text END,"
			    " CASE WHEN kept THEN $4::bytea END FROM (SELECT $4::bytea IS NULL OR"
			    " (SELECT COALESCE(SUM(octet_length(raw)), 0) FROM quarantine) + $5::bigint"
			    " <= $7::bigint AS kept) AS k",
			    7, v, lengths, binary, PGRES_COMMAND_OK, "quarantine", err);
	PQclear(res);
	return res ? 0 : MTS_ESTORE;
}

static char *value_dup(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

static int64_t value_int(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int pg_list(struct mts_report_store *base, const char *domain,
		   struct mts_report_row **rows, size_t *count, struct mts_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	*rows = NULL;
	*count = 0;
	/* As the SQLite store lists: sums saturate (a stranger's counts must
	 * not make every listing fail), domains sorted bytewise. */
	const char *sql =
		"SELECT r.id, r.organization, r.report_id, COALESCE(r.start_time, 0),"
		" COALESCE(r.end_time, 0), r.received_at,"
		" (SELECT string_agg(DISTINCT policy_domain, ',' ORDER BY policy_domain)"
		"   FROM policies WHERE report = r.id AND policy_domain IS NOT NULL),"
		" (SELECT LEAST(COALESCE(SUM(successful), 0), 9223372036854775807)::bigint"
		"   FROM policies WHERE report = r.id),"
		" (SELECT LEAST(COALESCE(SUM(failed), 0), 9223372036854775807)::bigint"
		"   FROM policies WHERE report = r.id),"
		" (SELECT COUNT(*) FROM findings WHERE report = r.id)"
		" FROM reports r"
		" WHERE $1::text IS NULL OR EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id"
		"   AND p.policy_domain = $1::text)"
		" ORDER BY r.start_time DESC NULLS LAST, r.id DESC";
	const char *v[] = {domain};
	/* COLLATE "C" would have to be on the column; a C-collated database
	 * and the DISTINCT's byte order agree, and domains are ASCII. */
	PGresult *res = run(s, sql, 1, v, NULL, NULL, PGRES_TUPLES_OK, "list", err);
	if (!res)
		return MTS_ESTORE;
	int n = PQntuples(res), rc = 0;
	if (n > 0) {
		*rows = calloc((size_t)n, sizeof(**rows));
		if (!*rows)
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	for (int i = 0; !rc && i < n; i++) {
		struct mts_report_row *row = &(*rows)[i];
		(*count)++;
		row->id = value_int(res, i, 0);
		row->organization_name = value_dup(res, i, 1);
		row->report_id = value_dup(res, i, 2);
		row->start = value_int(res, i, 3);
		row->end = value_int(res, i, 4);
		row->received_at = value_int(res, i, 5);
		row->domains = PQgetisnull(res, i, 6) ? strdup("") : value_dup(res, i, 6);
		row->successful = (uint64_t)value_int(res, i, 7);
		row->failed = (uint64_t)value_int(res, i, 8);
		row->finding_count = (size_t)value_int(res, i, 9);
		if (!row->organization_name || !row->report_id || !row->domains)
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	PQclear(res);
	if (rc) {
		mts_report_rows_free(*rows, *count);
		*rows = NULL;
		*count = 0;
	}
	return rc;
}

/* Reports are rebuilt in batches: their rows, then the policies, failure
 * details and findings of all of them in one query each, every result
 * sorted by report so that one pass over each builds them in order. */
#define BATCH 500
#define MTS_STR_(x) #x
#define MTS_STRINGIFY(x) MTS_STR_(x)

/* In the order of the ids given, which is the order of the batch. */
static const char batch_policies_sql[] =
	"SELECT p.report, p.id, p.policy_type, p.policy_domain, p.policy_string, p.mx_host,"
	" p.successful, p.failed FROM unnest($1::bigint[]) WITH ORDINALITY AS b(id, n)"
	" JOIN policies p ON p.report = b.id ORDER BY b.n, p.idx";
static const char batch_failures_sql[] =
	"SELECT p.report, f.policy, f.result_type, f.sending_mta_ip, f.receiving_mx_hostname,"
	" f.receiving_mx_helo, f.receiving_ip, f.additional_information, f.failure_reason_code,"
	" f.failed_session_count FROM unnest($1::bigint[]) WITH ORDINALITY AS b(id, n)"
	" JOIN policies p ON p.report = b.id JOIN failure_details f ON f.policy = p.id"
	" ORDER BY b.n, p.idx, f.id";
static const char batch_findings_sql[] =
	"SELECT d.report, d.code, d.message, d.subject"
	" FROM unnest($1::bigint[]) WITH ORDINALITY AS b(id, n)"
	" JOIN findings d ON d.report = b.id ORDER BY b.n, d.id";
#define REPORT_COLUMNS                                                                          \
	"id, organization, report_id, contact_info, start_text, end_text, start_time, end_time"

struct batch {
	PGresult *reports, *policies, *failures, *findings;
	int prow, frow, drow; /* cursors in policies, failures, findings */
};

static void batch_clear(struct batch *b)
{
	PQclear(b->reports);
	PQclear(b->policies);
	PQclear(b->failures);
	PQclear(b->findings);
	memset(b, 0, sizeof(*b));
}

/* Given b->reports (columns REPORT_COLUMNS), fetch the rest. */
static int batch_fetch(struct pg_store *s, struct batch *b, struct mts_error *err)
{
	int n = PQntuples(b->reports);
	size_t cap = (size_t)n * 21 + 3;
	char *ids = malloc(cap);
	if (!ids)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	size_t used = 0;
	ids[used++] = '{';
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(ids + used, cap - used, "%s%s", i ? "," : "",
					 PQgetvalue(b->reports, i, 0));
	snprintf(ids + used, cap - used, "}");
	const char *v[] = {ids};
	b->policies = run(s, batch_policies_sql, 1, v, NULL, NULL, PGRES_TUPLES_OK,
			  "get policies", err);
	if (b->policies)
		b->failures = run(s, batch_failures_sql, 1, v, NULL, NULL, PGRES_TUPLES_OK,
				  "get failures", err);
	if (b->failures)
		b->findings = run(s, batch_findings_sql, 1, v, NULL, NULL, PGRES_TUPLES_OK,
				  "get findings", err);
	free(ids);
	return b->findings ? 0 : MTS_ESTORE;
}

/* Does row of res have column 0 equal to id? */
static bool of_report(PGresult *res, int row, const char *id)
{
	return row < PQntuples(res) && strcmp(PQgetvalue(res, row, 0), id) == 0;
}

static int fill_policies(struct batch *b, struct mts_report *r, const char *id)
{
	int first = b->prow;
	while (of_report(b->policies, b->prow, id))
		b->prow++;
	int np = b->prow - first;
	if (np > 0 && !(r->policies = calloc((size_t)np, sizeof(*r->policies))))
		return MTS_ENOMEM;
	for (int i = first; i < b->prow; i++) {
		PGresult *res = b->policies;
		struct mts_report_policy *p = &r->policies[r->policy_count++];
		p->policy_type = value_dup(res, i, 2);
		p->policy_domain = value_dup(res, i, 3);
		p->total_successful = (uint64_t)value_int(res, i, 6);
		p->total_failure = (uint64_t)value_int(res, i, 7);
		if (!p->policy_type ||
		    mts_report_store_list_parse(PQgetvalue(res, i, 4), &p->policy_string,
				   &p->policy_string_count) ||
		    mts_report_store_list_parse(PQgetvalue(res, i, 5), &p->mx_host, &p->mx_host_count))
			return MTS_ENOMEM;
		p->type = mts_report_policy_type_parse(p->policy_type);
		/* its failures: the next rows of the same report and policy */
		const char *pid = PQgetvalue(res, i, 1);
		int f0 = b->frow;
		while (of_report(b->failures, b->frow, id) &&
		       strcmp(PQgetvalue(b->failures, b->frow, 1), pid) == 0)
			b->frow++;
		if (b->frow == f0)
			continue;
		p->failures = calloc((size_t)(b->frow - f0), sizeof(*p->failures));
		if (!p->failures)
			return MTS_ENOMEM;
		for (int j = f0; j < b->frow; j++) {
			PGresult *fr = b->failures;
			struct mts_report_failure *f = &p->failures[p->failure_count++];
			f->result_type = value_dup(fr, j, 2);
			f->sending_mta_ip = value_dup(fr, j, 3);
			f->receiving_mx_hostname = value_dup(fr, j, 4);
			f->receiving_mx_helo = value_dup(fr, j, 5);
			f->receiving_ip = value_dup(fr, j, 6);
			f->additional_information = value_dup(fr, j, 7);
			f->failure_reason_code = value_dup(fr, j, 8);
			f->failed_session_count = (uint64_t)value_int(fr, j, 9);
			if (!f->result_type)
				return MTS_ENOMEM;
		}
	}
	return 0;
}

static int fill_findings(struct batch *b, struct mts_report *r, const char *id)
{
	int rc = 0;
	for (; of_report(b->findings, b->drow, id); b->drow++) {
		PGresult *res = b->findings;
		enum mts_finding_code fid = mts_finding_lookup(PQgetvalue(res, b->drow, 1));
		if (fid == MTS_F__COUNT || rc)
			continue; /* a code from a newer program: nothing to render it with */
		r->findings.subject =
			PQgetisnull(res, b->drow, 3) ? NULL : PQgetvalue(res, b->drow, 3);
		if (mts_findings_add(&r->findings, fid, 0, 0, "%s", PQgetvalue(res, b->drow, 2)) <
		    0)
			rc = MTS_ENOMEM;
	}
	r->findings.subject = NULL;
	return rc;
}

/* Report row i of the batch, rebuilt whole. */
static int batch_report(struct batch *b, int i, struct mts_report **out, struct mts_error *err)
{
	PGresult *res = b->reports;
	const char *id = PQgetvalue(res, i, 0);
	struct mts_report *r = mts_report_new();
	if (!r)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	r->organization_name = value_dup(res, i, 1);
	r->report_id = value_dup(res, i, 2);
	r->contact_info = value_dup(res, i, 3);
	r->start_text = value_dup(res, i, 4);
	r->end_text = value_dup(res, i, 5);
	r->dates_valid = !PQgetisnull(res, i, 6);
	r->start = value_int(res, i, 6);
	r->end = value_int(res, i, 7);
	/* The cursors must pass this report's rows even when it fails. */
	int rc = fill_policies(b, r, id);
	while (of_report(b->policies, b->prow, id))
		b->prow++;
	while (of_report(b->failures, b->frow, id))
		b->frow++;
	if (!rc)
		rc = fill_findings(b, r, id);
	while (of_report(b->findings, b->drow, id))
		b->drow++;
	if (!rc && (!r->organization_name || !r->report_id))
		rc = MTS_ENOMEM;
	if (rc) {
		mts_report_free(r);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

static int pg_get(struct mts_report_store *base, int64_t id, struct mts_report **out,
		  struct mts_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	*out = NULL;
	char id_text[24];
	snprintf(id_text, sizeof(id_text), "%" PRId64, id);
	const char *v[] = {id_text};
	struct batch b = {0};
	b.reports = run(s, "SELECT " REPORT_COLUMNS " FROM reports WHERE id = $1", 1, v, NULL,
			NULL, PGRES_TUPLES_OK, "get report", err);
	if (!b.reports)
		return MTS_ESTORE;
	int rc = 0;
	if (PQntuples(b.reports) == 0)
		rc = mts_error_set(err, MTS_ENOTFOUND, "no report with id %lld", (long long)id);
	if (!rc)
		rc = batch_fetch(s, &b, err);
	if (!rc)
		rc = batch_report(&b, 0, out, err);
	batch_clear(&b);
	return rc;
}

/* mts_report_store_each() in batches of BATCH reports, by (start, id). */
static int pg_each(struct mts_report_store *base, int64_t since, int64_t until,
		   int (*fn)(const struct mts_report *r, void *ctx), void *ctx,
		   struct mts_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	char lo[24], hi[24], last_start[24], last_id[24] = "0";
	snprintf(lo, sizeof(lo), "%" PRId64, since);
	snprintf(hi, sizeof(hi), "%" PRId64, until);
	snprintf(last_start, sizeof(last_start), "%" PRId64, since);
	int rc = 0;
	for (;;) {
		struct batch b = {0};
		const char *v[] = {lo, hi, last_start, last_id};
		b.reports = run(s,
				"SELECT " REPORT_COLUMNS " FROM reports"
				" WHERE start_time >= $1 AND start_time < $2"
				" AND (start_time, id) > ($3, $4)"
				" ORDER BY start_time, id LIMIT " MTS_STRINGIFY(BATCH),
				4, v, NULL, NULL, PGRES_TUPLES_OK, "each", err);
		if (!b.reports)
			return MTS_ESTORE;
		int n = PQntuples(b.reports);
		if (n > 0)
			rc = batch_fetch(s, &b, err);
		for (int i = 0; !rc && i < n; i++) {
			struct mts_report *r;
			rc = batch_report(&b, i, &r, err);
			if (!rc) {
				rc = fn(r, ctx);
				mts_report_free(r);
			}
		}
		if (n > 0) {
			snprintf(last_start, sizeof(last_start), "%s",
				 PQgetvalue(b.reports, n - 1, 6));
			snprintf(last_id, sizeof(last_id), "%s", PQgetvalue(b.reports, n - 1, 0));
		}
		batch_clear(&b);
		if (rc || n < BATCH)
			return rc;
	}
}

const struct mts_report_store_ops mts_report_store_pg_ops = {
	.scheme = "postgresql",
	.open = pg_open,
	.ingest = pg_ingest,
	.quarantine = pg_quarantine,
	.list = pg_list,
	.get = pg_get,
	.each = pg_each,
	.close = pg_close,
};
