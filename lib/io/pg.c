/* pg.c - PostgreSQL helpers shared by the report store and the policy
 * cache (see include/mtasts/pg.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "io/pg_int.h"

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
	/* Sends never block: every wait for the server is ours, bounded. */
	if (PQsetnonblocking(conn, 1) != 0) {
		mts_pg_error(conn, err, "connect");
		PQfinish(conn);
		return NULL;
	}
	if (mts_pg_command(conn, limits->statement_ms + MTS_PG_WAIT_MARGIN_MS,
			   "SET client_min_messages = warning", "connect", err) < 0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

double mts_pg_deadline(unsigned wait_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + wait_ms / 1000.0;
}

/* Wait until the socket is ready for events or the deadline passes:
 * 1 ready, 0 timed out, -1 the socket is gone. */
static int wait_socket(PGconn *conn, short events, double deadline)
{
	int fd = PQsocket(conn);
	if (fd < 0)
		return -1;
	for (;;) {
		double left = deadline - mts_pg_deadline(0);
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)(left * 1000.0) + 1);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* The server did not answer in time: give the connection up, so that the
 * owner sees it lost (PQstatus) and reconnects later. libpq's cancel
 * request is not used: it waits for the server, which is not answering. */
int mts_pg_give_up(PGconn *conn, const char *what, unsigned wait_ms, struct mts_error *err)
{
	if (PQstatus(conn) != CONNECTION_OK) /* it was lost, not slow */
		return mts_pg_error(conn, err, what);
	int fd = PQsocket(conn);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	PQconsumeInput(conn); /* reads the end of the stream: CONNECTION_BAD */
	return mts_error_set(err, MTS_ETIMEOUT, "postgresql: %s: no answer from %s:%s within %u ms",
			     what, PQhost(conn), PQport(conn), wait_ms);
}

int mts_pg_flush(PGconn *conn, double deadline)
{
	for (;;) {
		int rc = PQflush(conn);
		if (rc <= 0)
			return rc;
		int ready = wait_socket(conn, POLLIN | POLLOUT, deadline);
		if (ready <= 0)
			return ready == 0 ? 1 : -1;
		if (!PQconsumeInput(conn))
			return -1;
	}
}

int mts_pg_result(PGconn *conn, double deadline, PGresult **out)
{
	*out = NULL;
	while (PQisBusy(conn)) {
		int ready = wait_socket(conn, POLLIN, deadline);
		if (ready == 0)
			return 1;
		if (ready < 0 || !PQconsumeInput(conn))
			break; /* PQgetResult reports the loss */
	}
	*out = PQgetResult(conn);
	return 0;
}

PGresult *mts_pg_collect(PGconn *conn, unsigned wait_ms, const char *what, struct mts_error *err)
{
	double deadline = mts_pg_deadline(wait_ms);
	int flushed = mts_pg_flush(conn, deadline);
	if (flushed) {
		if (flushed > 0)
			mts_pg_give_up(conn, what, wait_ms, err);
		else
			mts_pg_error(conn, err, what);
		return NULL;
	}
	/* Like PQexec: the last result, but the first error wins. */
	PGresult *keep = NULL, *res;
	for (;;) {
		if (mts_pg_result(conn, deadline, &res)) {
			PQclear(keep);
			mts_pg_give_up(conn, what, wait_ms, err);
			return NULL;
		}
		if (!res)
			break;
		ExecStatusType st = PQresultStatus(keep);
		if (keep && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
	if (!keep)
		mts_pg_error(conn, err, what);
	return keep;
}

PGresult *mts_pg_exec(PGconn *conn, unsigned wait_ms, const char *sql, int n,
		      const char *const *values, const int *lengths, const int *formats,
		      const char *what, struct mts_error *err)
{
	/* Without parameters, the simple protocol: several statements may
	 * share the string (migrations). */
	int sent = n > 0 ? PQsendQueryParams(conn, sql, n, NULL, values, lengths, formats, 0)
			 : PQsendQuery(conn, sql);
	if (!sent) {
		mts_pg_error(conn, err, what);
		return NULL;
	}
	return mts_pg_collect(conn, wait_ms, what, err);
}

int mts_pg_command(PGconn *conn, unsigned wait_ms, const char *sql, const char *what,
		   struct mts_error *err)
{
	PGresult *res = mts_pg_exec(conn, wait_ms, sql, 0, NULL, NULL, NULL, what, err);
	if (!res)
		return err && err->code ? err->code : MTS_ESTORE;
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
			 ? 0
			 : mts_pg_error(conn, err, what);
	PQclear(res);
	return rc;
}

int mts_pg_migrate(PGconn *conn, unsigned wait_ms, const char *version_table, const char *lock_key,
		   const char *const *migrations, int count, struct mts_error *err)
{
	char sql[160];
	int rc = mts_pg_command(conn, wait_ms, "BEGIN", "migrate", err);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%s)", lock_key);
	rc = mts_pg_command(conn, wait_ms, sql, "migrate", err);
	if (!rc)
		rc = mts_pg_command(conn, wait_ms, "SET LOCAL client_min_messages = warning", "migrate", err);
	if (!rc) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS %s (version INTEGER NOT NULL)", version_table);
		rc = mts_pg_command(conn, wait_ms, sql, version_table, err);
	}
	int version = 0;
	if (!rc) {
		snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(version), 0) FROM %s",
			 version_table);
		PGresult *res = mts_pg_exec(conn, wait_ms, sql, 0, NULL, NULL, NULL, version_table,
					    err);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
		else
			rc = res ? mts_pg_error(conn, err, version_table) : MTS_ESTORE;
		PQclear(res);
	}
	if (!rc && version > count)
		rc = mts_error_set(err, MTS_ESTORE,
				   "postgresql: %s: schema version %d is newer than this "
				   "program's %d",
				   version_table, version, count);
	for (int v = version; !rc && v < count; v++) {
		/* Several statements in one string: the simple query protocol. */
		rc = mts_pg_command(conn, wait_ms, migrations[v], "migration", err);
		snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (%d)", version_table, v + 1);
		if (!rc)
			rc = mts_pg_command(conn, wait_ms, sql, version_table, err);
	}
	if (rc) {
		if (PQstatus(conn) == CONNECTION_OK)
			mts_pg_command(conn, wait_ms, "ROLLBACK", "migrate", NULL);
		return rc;
	}
	return mts_pg_command(conn, wait_ms, "COMMIT", "migrate", err);
}
