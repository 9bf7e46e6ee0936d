/*
 * sqlite_int.h - (internal) what the SQLite stores share: opening a file in
 * WAL mode with synchronous=FULL and a busy timeout (a crash leaves every
 * transaction wholly there or absent; a second writer waits), statements
 * run with one-line errors, and append-only migrations recorded in a
 * version table of the caller's naming, so that several components can
 * share one database file. Does I/O (the file); decides nothing.
 */
#ifndef MTASTS_SQLITE_INT_H
#define MTASTS_SQLITE_INT_H

#include <stddef.h>

#include <sqlite3.h>

#include "mtasts/error.h"

/* Open (creating) path. Returns 0 with *db, or MTS_ESTORE (*db NULL). */
int mts_sqlite_open(const char *path, int busy_ms, sqlite3 **db, struct mts_error *err);
/* Run statements without results. 0 or MTS_ESTORE ("sqlite: what: ..."). */
int mts_sqlite_exec(sqlite3 *db, const char *sql, struct mts_error *err);
/* Bring the schema to the last migration: migrations[i] takes version i to
 * i + 1, recorded in version_table (created when missing), all in one
 * IMMEDIATE transaction. A database newer than the program is refused. */
int mts_sqlite_migrate(sqlite3 *db, const char *version_table, const char *const *migrations,
		       size_t count, struct mts_error *err);
/* The error of the last call on db, as MTS_ESTORE: "sqlite: what: message". */
int mts_sqlite_error(sqlite3 *db, struct mts_error *err, const char *what);

#endif
