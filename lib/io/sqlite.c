/* sqlite.c - what the SQLite stores share (see sqlite_int.h). */
#include <stdio.h>

#include "io/sqlite_int.h"

int mts_sqlite_error(sqlite3 *db, struct mts_error *err, const char *what)
{
	return mts_error_set(err, MTS_ESTORE, "sqlite: %s: %s", what,
			     db ? sqlite3_errmsg(db) : "no database");
}

int mts_sqlite_exec(sqlite3 *db, const char *sql, struct mts_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = mts_error_set(err, MTS_ESTORE, "sqlite: %s", msg ? msg : "exec failed");
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int mts_sqlite_open(const char *path, int busy_ms, sqlite3 **db, struct mts_error *err)
{
	*db = NULL;
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		int rc = mts_error_set(err, MTS_ESTORE, "sqlite: %.200s: %s", path,
				       *db ? sqlite3_errmsg(*db) : "cannot open");
		sqlite3_close(*db);
		*db = NULL;
		return rc;
	}
	sqlite3_busy_timeout(*db, busy_ms);
	int rc = mts_sqlite_exec(
		*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
		err);
	if (rc) {
		sqlite3_close(*db);
		*db = NULL;
	}
	return rc;
}

int mts_sqlite_migrate(sqlite3 *db, const char *version_table, const char *const *migrations,
		       size_t count, struct mts_error *err)
{
	char sql[160];
	int rc = mts_sqlite_exec(db, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s (version INTEGER NOT NULL)",
		 version_table);
	rc = mts_sqlite_exec(db, sql, err);
	sqlite3_stmt *st = NULL;
	long long version = 0;
	snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(version), 0) FROM %s", version_table);
	if (!rc && sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		rc = mts_sqlite_error(db, err, version_table);
	if (!rc && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (!rc && version > (long long)count)
		rc = mts_error_set(err, MTS_ESTORE,
				   "sqlite: schema version %lld is newer than this program's %zu",
				   version, count);
	for (size_t v = (size_t)version; !rc && v < count; v++) {
		rc = mts_sqlite_exec(db, migrations[v], err);
		snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (%zu)", version_table, v + 1);
		if (!rc)
			rc = mts_sqlite_exec(db, sql, err);
	}
	if (rc) {
		mts_sqlite_exec(db, "ROLLBACK", NULL);
		return rc;
	}
	return mts_sqlite_exec(db, "COMMIT", err);
}
