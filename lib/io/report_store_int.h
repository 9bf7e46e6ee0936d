/*
 * report_store_int.h - inside the report store: the backend vtable, the
 * backends (report_store_open.c chooses one by URL), and what the backends
 * share (report_store_json.c). Not installed: programs use report_store.h.
 */
#ifndef MTASTS_REPORT_STORE_INT_H
#define MTASTS_REPORT_STORE_INT_H

#include "mtasts/report_store.h"

/* The operations a backend provides; see the wrappers below. */
struct mts_report_store_ops {
	const char *scheme; /* "sqlite", "postgresql" */
	int (*open)(const char *location, struct mts_report_store **out, struct mts_error *err);
	int (*ingest)(struct mts_report_store *s, const struct mts_report *r, const char *raw,
		      size_t raw_len, const char *source, int64_t now, int64_t *id,
		      struct mts_error *err);
	int (*quarantine)(struct mts_report_store *s, const char *source, const char *reason,
			  const char *raw, size_t raw_len, int64_t now, struct mts_error *err);
	int (*list)(struct mts_report_store *s, const char *domain, struct mts_report_row **rows,
		    size_t *count, struct mts_error *err);
	int (*get)(struct mts_report_store *s, int64_t id, struct mts_report **out,
		   struct mts_error *err);
	/* Optional: NULL walks with list and get (see mts_report_store_each). */
	int (*each)(struct mts_report_store *s, int64_t since, int64_t until,
		    int (*fn)(const struct mts_report *r, void *ctx), void *ctx,
		    struct mts_error *err);
	void (*close)(struct mts_report_store *s);
};

/* Every backend's handle starts with this. */
struct mts_report_store {
	const struct mts_report_store_ops *ops;
};

/* The backends, for tests that need their schema versions. */
extern const struct mts_report_store_ops mts_report_store_sqlite_ops;
extern const struct mts_report_store_ops mts_report_store_pg_ops;
#define MTS_REPORT_STORE_SQLITE_SCHEMA 1
#define MTS_REPORT_STORE_PG_SCHEMA 1

/* For the backends: a string list (policy-string, mx-host) is stored as a
 * JSON array of strings. list_json returns a malloc'd compact array (NULL
 * without memory); list_parse reads one back (NULL or not an array: empty)
 * into malloc'd strings, 0 or MTS_ENOMEM. */
char *mts_report_store_list_json(char **items, size_t n);
int mts_report_store_list_parse(const char *text, char ***items, size_t *n);

#endif
