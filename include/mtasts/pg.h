/*
 * pg.h - what every PostgreSQL user in libmtasts shares (the report store,
 * the policy cache): connecting with our time limits, one-line error
 * messages that never repeat the URL (it may hold a password), and ordered
 * schema migrations under an advisory lock.
 *
 * A migration list is append-only: migration i brings a component's schema
 * to version i + 1; the component's version table (its own name, so that
 * several components can share a database) records where it stands, and a
 * database migrated by a newer program is refused. Does I/O (libpq).
 */
#ifndef MTASTS_PG_H
#define MTASTS_PG_H

#include <libpq-fe.h>

#include "mtasts/error.h"

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
/* Run one command without parameters; 0 or MTS_ESTORE. */
int mts_pg_command(PGconn *conn, const char *sql, const char *what, struct mts_error *err);
/* Bring the schema up to date: version_table names the component's
 * version table, lock_key (decimal 64-bit) its advisory lock. 0 or
 * MTS_ESTORE. */
int mts_pg_migrate(PGconn *conn, const char *version_table, const char *lock_key,
		   const char *const *migrations, int count, struct mts_error *err);

#endif
