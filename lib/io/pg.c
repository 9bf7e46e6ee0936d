/* pg.c - PostgreSQL helpers shared by the report store and the policy
 * cache (see include/mtasts/pg.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/pg.h"

/* libpq's messages span lines; ours are one line. */
void mts_pg_one_line(char *msg)
{
	char *out = msg;
	for (const char *p = msg; *p; p++) {
		char c = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
		if (c == ' ' && (out == msg || out[-1] == ' '))
			continue;
		*out++ = c;
	}
	while (out > msg && out[-1] == ' ')
		out--;
	*out = '\0';
}

int mts_pg_error(PGconn *conn, struct mts_error *err, const char *what)
{
	char msg[MTS_ERROR_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
	mts_pg_one_line(msg);
	if (PQstatus(conn) != CONNECTION_OK)
		return mts_error_set(err, MTS_ESTORE, "postgresql: %s: connection to %s:%s lost: %s",
				     what, PQhost(conn), PQport(conn), msg);
	return mts_error_set(err, MTS_ESTORE, "postgresql: %s: %s", what, msg);
}

PGconn *mts_pg_connect(const char *url, const struct mts_pg_limits *limits,
		       struct mts_error *err)
{
	/* Our defaults come first: what the URL says overrides them. */
	char timeout[16], options[96];
	snprintf(timeout, sizeof(timeout), "%u", limits->connect_s);
	snprintf(options, sizeof(options), "-c statement_timeout=%u -c lock_timeout=%u",
		 limits->statement_ms, limits->lock_ms);
	const char *const keys[] = {"connect_timeout", "application_name", "options", "dbname",
				    NULL};
	const char *const values[] = {timeout, "mtasts", options, url, NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (!conn) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[MTS_ERROR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		mts_pg_one_line(msg);
		/* libpq names the host and port; the URL, which may hold a
		 * password, is not repeated. */
		mts_error_set(err, MTS_ESTORE, "postgresql: cannot connect: %s", msg);
		PQfinish(conn);
		return NULL;
	}
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	return conn;
}

int mts_pg_command(PGconn *conn, const char *sql, const char *what, struct mts_error *err)
{
	PGresult *res = PQexec(conn, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
			 ? 0
			 : mts_pg_error(conn, err, what);
	PQclear(res);
	return rc;
}

int mts_pg_migrate(PGconn *conn, const char *version_table, const char *lock_key,
		   const char *const *migrations, int count, struct mts_error *err)
{
	char sql[160];
	int rc = mts_pg_command(conn, "BEGIN", "migrate", err);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%s)", lock_key);
	rc = mts_pg_command(conn, sql, "migrate", err);
	if (!rc)
		rc = mts_pg_command(conn, "SET LOCAL client_min_messages = warning", "migrate", err);
	if (!rc) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS %s (version INTEGER NOT NULL)", version_table);
		rc = mts_pg_command(conn, sql, version_table, err);
	}
	int version = 0;
	if (!rc) {
		snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(version), 0) FROM %s",
			 version_table);
		PGresult *res = PQexec(conn, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
		else
			rc = mts_pg_error(conn, err, version_table);
		PQclear(res);
	}
	if (!rc && version > count)
		rc = mts_error_set(err, MTS_ESTORE,
				   "postgresql: %s: schema version %d is newer than this "
				   "program's %d",
				   version_table, version, count);
	for (int v = version; !rc && v < count; v++) {
		/* Several statements in one string: the simple query protocol. */
		rc = mts_pg_command(conn, migrations[v], "migration", err);
		snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (%d)", version_table, v + 1);
		if (!rc)
			rc = mts_pg_command(conn, sql, version_table, err);
	}
	if (rc) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return rc;
	}
	return mts_pg_command(conn, "COMMIT", "migrate", err);
}
