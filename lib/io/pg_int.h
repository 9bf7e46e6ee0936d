/*
 * pg_int.h - (internal) what every PostgreSQL user in libmtasts shares (the report store,
 * the policy cache): connecting with our time limits, one-line error
 * messages that never repeat the URL (it may hold a password), and ordered
 * schema migrations under an advisory lock.
 *
 * A migration list is append-only: migration i brings a component's schema
 * to version i + 1; the component's version table (its own name, so that
 * several components can share a database) records where it stands, and a
 * database migrated by a newer program is refused.
 *
 * Every wait for the server is bounded on our side too (wait_ms): the
 * server's statement_timeout cannot help when the server itself is stuck
 * (stopped, or a network path that swallows packets). A connection whose
 * server did not answer in time is given up (PQstatus turns
 * CONNECTION_BAD), so that its owner reconnects later. Connections are in
 * libpq's nonblocking mode, so sending never blocks either. Does I/O.
 */
#ifndef MTASTS_PG_INT_H
#define MTASTS_PG_INT_H

#include <libpq-fe.h>

#include "mtasts/error.h"

/* What the client waits beyond the server's statement_timeout. */
#define MTS_PG_WAIT_MARGIN_MS 500

struct mts_pg_limits {
	unsigned connect_s;    /* connect timeout, unless the URL sets one */
	unsigned statement_ms; /* statement_timeout */
	unsigned lock_ms;      /* lock_timeout */
};

/* Connect to a postgresql:// or postgres:// URL (or a conninfo string).
 * NULL with err filled (MTS_ESTORE "postgresql: cannot connect: ..."). */
PGconn *mts_pg_connect(const char *url, const struct mts_pg_limits *limits,
		       struct mts_error *err);
/* Fill err from the connection's last error: "postgresql: WHAT: ...", and
 * say when the connection itself is lost. Returns MTS_ESTORE. */
int mts_pg_error(PGconn *conn, struct mts_error *err, const char *what);
/* Squeeze libpq's multi-line message into one line, in place. */
void mts_pg_one_line(char *msg);
/* PQexecParams (n > 0) or PQexec (n == 0: several statements may share
 * sql), waiting at most wait_ms: the last result, or the first that
 * failed; NULL with err filled when nothing came back in time
 * (MTS_ETIMEOUT, the connection is then given up) or the connection was
 * lost (MTS_ESTORE). */
PGresult *mts_pg_exec(PGconn *conn, unsigned wait_ms, const char *sql, int n,
		      const char *const *values, const int *lengths, const int *formats,
		      const char *what, struct mts_error *err);
/* The results of what was just sent (PQsendQuery, PQsendPrepare...), as
 * mts_pg_exec gives them. */
PGresult *mts_pg_collect(PGconn *conn, unsigned wait_ms, const char *what, struct mts_error *err);
/* Run one command without parameters; 0 or MTS_ESTORE. */
int mts_pg_command(PGconn *conn, unsigned wait_ms, const char *sql, const char *what,
		   struct mts_error *err);
/* For pipelines: a monotonic deadline wait_ms from now; flush what is
 * queued (0 done, 1 timed out, -1 lost); the next result (0, *out NULL when
 * the query's results are done) or 1 when the deadline passed first; give
 * a connection up after a timeout (fills err, returns MTS_ETIMEOUT). */
double mts_pg_deadline(unsigned wait_ms);
int mts_pg_flush(PGconn *conn, double deadline);
int mts_pg_result(PGconn *conn, double deadline, PGresult **out);
int mts_pg_give_up(PGconn *conn, const char *what, unsigned wait_ms, struct mts_error *err);
/* Bring the schema up to date: version_table names the component's
 * version table, lock_key (decimal 64-bit) its advisory lock. 0 or
 * MTS_ESTORE. */
int mts_pg_migrate(PGconn *conn, unsigned wait_ms, const char *version_table, const char *lock_key,
		   const char *const *migrations, int count, struct mts_error *err);

#endif
